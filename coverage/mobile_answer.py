"""The mobile part of a lookup answer: what measurements and the model say beside the declared value.

The declared speed comes from the broadband mapping; measured (grid aggregates) and modelled (raster)
values come from the release's ``mobile_fusion`` table and ``mobile/`` rasters, each with its source,
date and confidence, so a citizen sees them side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from coverage.assess import lookup_positions
from coverage.columns import RowReader
from coverage.mobile.model import RasterLayer
from coverage.mobile.raster import sample
from coverage.release import Release

#: Fusion columns an answer reads: measured ones (shown when there are samples), modelled ones
#: (shown when a layer answered) and the gap flag. The rest of the table is never read.
_MEASURED = (
    "measured_samples",
    "measured_down_median",
    "measured_down_p10",
    "measured_down_p90",
    "measured_up_median",
    "measured_rsrp_median",
    "measured_devices",
    "measured_operator",
    "measured_technology",
    "measured_cell",
    "measured_class",
    "measured_newest",
    "measured_source",
    "measured_confidence",
)
_MODELLED = (
    "modelled_layer",
    "modelled_down",
    "modelled_rsrp_outdoor",
    "modelled_rsrp_indoor",
    "modelled_class",
    "modelled_operator",
    "modelled_technology",
    "modelled_source",
    "modelled_confidence",
)
_GAP = ("declared_vs_observed_gap", "gap_reason")


@dataclass
class MobileContext:
    """The release's fused mobile values for each address row, and its raster layers.

    ``fusion`` reads the columns an answer shows, row for row with the address table (None without
    a ``mobile_fusion`` table). Only those columns are read, as codes and numbers: the whole table
    as a DataFrame was ~400 MB for a region.
    """

    fusion: RowReader | None
    layers: list[RasterLayer]
    created: str | None

    @classmethod
    def from_release(cls, release: Release, address_ids: pd.Series) -> MobileContext:
        """Read ``mobile_fusion`` aligned row for row with the address table; [] without one."""
        fusion = None
        if release.has_table("mobile_fusion"):
            fusion = _fusion_reader(release.table_path("mobile_fusion"), address_ids)
        summary = release.manifest.get("mobile") or {}
        layers = [RasterLayer.from_dict(entry, release.path) for entry in summary.get("layers", [])]
        return cls(fusion, layers, release.manifest.get("created"))

    def observations(self, addr_row: int) -> list[dict[str, Any]]:
        """Measured and modelled entries for one address (none without a position or a model)."""
        if self.fusion is None or addr_row < 0:
            return []
        get = self.fusion.get
        out: list[dict[str, Any]] = []
        samples = get("measured_samples", addr_row)
        if samples:
            row = self.fusion.row(addr_row)
            out.append(
                {
                    "kind": "measured",
                    "down": row["measured_down_median"],
                    "down_p10": row["measured_down_p10"],
                    "down_p90": row["measured_down_p90"],
                    "up": row["measured_up_median"],
                    "rsrp_dbm": row["measured_rsrp_median"],
                    "samples": samples,
                    "devices": row["measured_devices"],
                    "operator": row["measured_operator"],
                    "technology": row["measured_technology"],
                    "cell": row["measured_cell"],
                    "class": row["measured_class"],
                    "date": row["measured_newest"],
                    "source": row["measured_source"],
                    "confidence": row["measured_confidence"],
                }
            )
        if get("modelled_layer", addr_row) is not None:
            out.append(
                {
                    "kind": "modelled",
                    "down": get("modelled_down", addr_row),
                    "rsrp_outdoor_dbm": get("modelled_rsrp_outdoor", addr_row),
                    "rsrp_indoor_dbm": get("modelled_rsrp_indoor", addr_row),
                    "class": get("modelled_class", addr_row),
                    "operator": get("modelled_operator", addr_row),
                    "technology": get("modelled_technology", addr_row),
                    "layer": get("modelled_layer", addr_row),
                    "date": self.created,
                    "source": get("modelled_source", addr_row),
                    "confidence": get("modelled_confidence", addr_row),
                }
            )
        return out

    def gap(self, addr_row: int) -> dict[str, Any] | None:
        """The declared-vs-observed gap flag and its reason, when the release has fusion data."""
        if self.fusion is None or addr_row < 0:
            return None
        return {
            "declared_vs_observed_gap": bool(
                self.fusion.get("declared_vs_observed_gap", addr_row) or False
            ),
            "reason": self.fusion.get("gap_reason", addr_row),
        }

    def at_point(self, east: float, north: float) -> list[dict[str, Any]]:
        """Modelled RSRP of every layer at a position itself (EPSG:25832)."""
        out = []
        for layer in self.layers:
            value = float(sample(layer.path, np.array([east]), np.array([north]))[0])
            out.append(
                {
                    "layer": layer.name,
                    "operator": layer.operator,
                    "technology": layer.technology,
                    "environment": layer.environment,
                    "rsrp_dbm": None if math.isnan(value) else value,
                    "units": layer.units,
                    "generated": layer.generated,
                }
            )
        return out


def _fusion_reader(path: Path, address_ids: pd.Series) -> RowReader:
    """The fusion columns an answer reads, row for row with ``address_ids``, read one column at a
    time (texts as dictionaries): the whole table at once passed ~300 MB at 850,000 addresses."""
    schema = pq.read_schema(path)
    texts = [f.name for f in schema if f.name != "id" and _is_text(f.type)]
    table = pq.ParquetFile(path, read_dictionary=texts)
    ids = table.read(columns=["id"]).column("id").cast(pa.large_string())
    wanted = pa.chunked_array(pa.array(address_ids)).cast(pa.large_string())
    positions = None if ids.equals(wanted) else lookup_positions(address_ids, pd.Series(ids))
    del ids, wanted

    def columns() -> Iterator[tuple[str, pd.Series | None]]:
        for name in (*_MEASURED, *_MODELLED, *_GAP):
            if name not in schema.names:
                yield name, None
                continue
            series = table.read(columns=[name]).column(name).to_pandas()
            if positions is not None:  # -1: an address the table lacks reads as missing
                series = series.reindex(positions).reset_index(drop=True)
            yield name, series

    return RowReader.from_series(len(address_ids), columns())


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))
