"""The mobile stage of ``netkort build``: sites (+ measurements) → model rasters → fusion per address.

It chains the functions of :mod:`coverage.mobile` and hands the release writer finished files and
tables; it never writes into a release itself. Measurements are read in batches into compact
columns (:func:`~coverage.mobile.batches.scan_measurements`), so tens of millions of samples are
aggregated and calibrated without a point object each. The rasters are modelled into a scratch folder under
``NETKORT_HOME`` and copied into the release as ``mobile/`` (with its ``layers.json``).
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd

from coverage.boundaries import RegionBoundaries
from coverage.memory import release_memory
from coverage.mobile import (
    CellAggregates,
    RasterLayer,
    aggregate,
    fuse,
    model_rasters,
    read_sites,
)
from coverage.mobile.batches import scan_measurements
from coverage.quarantine import Quarantine
from coverage.release import ReleaseWriter
from coverage.sources import SourceFile
from coverage.types import WORK_CRS


class _Steps(Protocol):
    def step(self, label: str) -> AbstractContextManager[Any]: ...


#: Grid sizes of the published measurement aggregates (metres).
AGGREGATE_SIZES = (100, 1000)


@dataclass
class MobileStage:
    """What the mobile stage produced, ready for the release writer."""

    folder: Path
    layers: list[RasterLayer]
    sites: gpd.GeoDataFrame
    fusion: gpd.GeoDataFrame
    aggregates: list[CellAggregates] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        """Whether any site, measurement or layer is generated."""
        return bool(self.sites["generated"].any()) or any(la.generated for la in self.layers)

    def write(self, writer: ReleaseWriter) -> None:
        """Tables and rasters into the release."""
        writer.write_table("sites", self.sites)
        writer.write_table("mobile_fusion", self.fusion)
        for size, cells in zip(AGGREGATE_SIZES, self.aggregates, strict=False):
            writer.write_table(f"mobile_cells_{size}m", cells.geodataframe())
        writer.write_tree("mobile", self.folder)

    def summary(self) -> dict[str, Any]:
        """Manifest entry: the layers (paths relative to the release) and the counts."""
        layers = []
        for layer in self.layers:
            entry = layer.to_dict()
            entry["path"] = f"mobile/{Path(layer.path).name}"
            layers.append(entry)
        return {"layers": layers, "counts": self.counts, "generated": self.generated}

    def cleanup(self) -> None:
        """Remove the scratch folder (the release holds its own copy)."""
        shutil.rmtree(self.folder.parent, ignore_errors=True)


def build_mobile(
    *,
    sites: list[SourceFile],
    measurements: list[SourceFile],
    osm: list[SourceFile],
    region: RegionBoundaries,
    addresses: gpd.GeoDataFrame,
    availability: pd.DataFrame,
    quarantine: Quarantine,
    scratch: Path,
    reporter: _Steps | None = None,
) -> MobileStage:
    """Read sites and measurements, model the rasters over the region, fuse per address.

    ``reporter`` (optional) times the sub-stages: reading, each layer of the model, aggregation
    and fusion.
    """

    def step(label: str) -> AbstractContextManager[Any]:
        return reporter.step(label) if reporter is not None else nullcontext()

    with step("Mobile: read sites"):
        site_frames = [read_sites(f.path, quarantine, generated=f.generated) for f in sites]
        all_sites = gpd.GeoDataFrame(pd.concat(site_frames, ignore_index=True), crs=WORK_CRS)
    measured = None
    if measurements:
        with step("Mobile: read measurements in batches"):
            # Compact columns, not a GeoDataFrame: 20 M shapely points would not fit.
            files = [(f.path, f.generated) for f in measurements]
            measured = scan_measurements(files, quarantine)
        release_memory()
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".mobile-", dir=scratch)) / "mobile"
    try:
        layers = model_rasters(
            all_sites,
            region.outline,
            folder,
            clutter=osm[0].path if osm else None,
            measurements=measured,
            attribution=tuple(sorted({f.attribution for f in [*sites, *osm] if f.attribution})),
            reporter=reporter,
        )
        cells = []
        if measured is not None:
            for size in AGGREGATE_SIZES:
                with step(f"Mobile: aggregate measurements per {size} m cell"):
                    cells.append(aggregate(measured, size=size))
        n_measured = 0 if measured is None else len(measured)
        del measured  # the aggregates hold what fusion needs
        release_memory()
        with step("Mobile: fusion per address"):
            fusion = fuse(addresses, availability, layers, cells)
    except BaseException:
        shutil.rmtree(folder.parent, ignore_errors=True)
        raise
    counts = {
        "sites": len(all_sites),
        "mobile_sites": int(all_sites["mobile"].sum()),
        "measurements": n_measured,
        "layers": len(layers),
        "withheld_cells": sum(c.withheld for c in cells),
    }
    return MobileStage(folder, layers, all_sites, fusion, cells, counts)
