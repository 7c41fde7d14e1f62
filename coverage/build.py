"""``netkort build``: sources → validated tables → an immutable release.

The stages run in order and hand tables forward; nothing reaches back. Publishing is the release
store's job (write to staging, verify, rename, swap ``current``), so a failure anywhere here leaves the
published state untouched.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd

from coverage import __version__
from coverage.addresses import SOURCE as ADDRESS_SOURCE
from coverage.addresses import address_row_groups, read_addresses
from coverage.availability import SOURCE as MAPPING_SOURCE
from coverage.availability import (
    availability_row_groups,
    join_to_addresses,
    load_profile,
    read_mapping,
)
from coverage.boundaries import RegionBoundaries, load_region
from coverage.errors import BuildError, SourceError
from coverage.memory import release_memory
from coverage.mobile_stage import MobileStage, build_mobile
from coverage.parquetio import concat_frames
from coverage.quarantine import Quarantine
from coverage.release import Release, ReleaseStore
from coverage.settings import Settings
from coverage.sources import SourceFile, SourceManifest
from coverage.types import WORK_CRS
from coverage.validate import duplicated_first_line


class StepReporter(Protocol):
    """Progress reporting for long stages; the CLI supplies a rich one, tests a silent one."""

    def step(self, label: str) -> Any:
        """Context manager around one stage."""


class SilentSteps:
    """A reporter that reports nothing."""

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Run the stage silently."""
        yield


@dataclass
class BuildResult:
    """What a build did: the release it published (or found identical) and its counts."""

    release: Release
    identical: bool
    counts: dict[str, Any] = field(default_factory=dict)


#: Libraries whose versions are recorded in each manifest.
_RECORDED_PACKAGES = ("geopandas", "shapely", "pyogrio", "pyproj", "pyarrow", "pandas", "numpy")


def build_release(
    settings: Settings,
    manifest: SourceManifest,
    *,
    reporter: StepReporter | None = None,
    force: bool = False,
) -> BuildResult:
    """Build and publish a release from the manifest's sources.

    When the inputs are byte-identical to the current release's (same software version and region),
    nothing is built and the current release is returned with ``identical=True``, unless ``force``.
    """
    steps = reporter or SilentSteps()
    store = ReleaseStore(settings.home)

    with steps.step("Checking inputs"):
        inputs = [f.describe() for f in _existing(manifest.all_files())]
        digest = _inputs_digest(inputs, settings.region)
    current_id = store.current_id()
    if current_id and not force:
        current = store.open(current_id)
        if current.manifest.get("inputs_digest") == digest:
            return BuildResult(current, identical=True, counts=current.manifest.get("counts", {}))

    quarantine = Quarantine()
    with steps.step("Boundaries: municipalities, region, postcodes"):
        region = load_region(
            manifest.boundaries.municipalities,
            manifest.boundaries.regions,
            manifest.boundaries.postcodes,
            settings.region,
        )
    with steps.step("Address register"):
        addresses, address_counts = _addresses(manifest.of("addresses"), region, quarantine)
    release_memory()
    with steps.step("Broadband mapping: read and join to addresses"):
        availability, unmatched, mapping_counts = _mapping(
            manifest.of("mapping"), addresses, quarantine
        )
    release_memory()

    mobile = None
    if manifest.of("sites"):
        with steps.step("Mobile: sites, measurements, propagation model, fusion"):
            mobile = _mobile(manifest, region, addresses, availability, quarantine, settings, steps)

    generated = bool(addresses["generated"].any()) or bool(availability["generated"].any())
    if mobile is not None:
        generated = generated or mobile.generated
    counts = {
        "municipalities": len(region.municipalities),
        "addresses": address_counts,
        "mapping": mapping_counts,
        "generated_addresses": int(addresses["generated"].sum()),
        "generated_mapping_rows": int(availability["generated"].sum()),
    }
    if mobile is not None:
        counts["mobile"] = mobile.counts
    release_id = _new_release_id(store, digest)
    with steps.step(f"Writing and verifying release {release_id}"), store.writer(release_id) as w:
        w.write_table("municipalities", region.municipalities)
        w.write_table(
            "region",
            gpd.GeoDataFrame(
                {"regionskode": [region.region], "regionsnavn": [region.region_name]},
                geometry=[region.outline],
                crs=WORK_CRS,
            ),
        )
        w.write_table("postcodes", region.postcodes)
        w.write_table("addresses", address_row_groups(addresses))
        w.write_table("availability", availability_row_groups(availability))
        if mobile is not None:
            mobile.write(w)
        w.write_csv("quarantine", quarantine.frame())
        w.write_csv("unmatched", unmatched)
        w.manifest.update(
            {
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "region": {"code": region.region, "name": region.region_name},
                "municipalities": [
                    {"kode": k, "navn": n}
                    for k, n in zip(
                        region.municipalities["kommunekode"],
                        region.municipalities["kommunenavn"],
                        strict=False,
                    )
                ],
                "crs": WORK_CRS,
                "inputs": inputs,
                "inputs_digest": digest,
                "counts": counts,
                "generated": generated,
                "software": _software(),
                "attribution": sorted({i["attribution"] for i in inputs if i["attribution"]}),
                "mobile": mobile.summary() if mobile is not None else None,
            }
        )
    if mobile is not None:
        mobile.cleanup()
    return BuildResult(store.open(release_id), identical=False, counts=counts)


def _mobile(
    manifest: SourceManifest,
    region: RegionBoundaries,
    addresses: pd.DataFrame,
    availability: pd.DataFrame,
    quarantine: Quarantine,
    settings: Settings,
    steps: StepReporter,
) -> MobileStage:
    return build_mobile(
        sites=manifest.of("sites"),
        measurements=manifest.of("measurements"),
        osm=manifest.of("osm"),
        region=region,
        # Points only for this stage: the build itself carries coordinates, not shapely objects.
        addresses=gpd.GeoDataFrame(
            addresses,
            geometry=gpd.points_from_xy(addresses["east"], addresses["north"]),
            crs=WORK_CRS,
        ),
        availability=availability,
        quarantine=quarantine,
        scratch=settings.home,
        reporter=steps,
    )


def _existing(files: list[SourceFile]) -> list[SourceFile]:
    """Every input must exist; a missing one stops the build before anything is read."""
    for f in files:
        if not f.path.exists():
            raise SourceError(f.path, f"{f.kind} source not found")
    return files


def _addresses(
    files: list[SourceFile], region: RegionBoundaries, quarantine: Quarantine
) -> tuple[pd.DataFrame, dict[str, int]]:
    if not files:
        raise BuildError("the manifest lists no address register ([[addresses]])")
    names = dict(
        zip(region.municipalities["kommunekode"], region.municipalities["kommunenavn"], strict=True)
    )
    parts, read = [], 0
    for f in files:
        result = read_addresses(f.path, names, quarantine, generated=f.generated)
        parts.append(result.addresses)
        read += result.rows_read
    addresses = concat_frames(parts)
    del parts
    if len(files) > 1:  # the same id in two files: keep the first file's row
        dup, _first = duplicated_first_line(addresses["id"], addresses["source_line"].to_numpy())
        if dup.any():
            rows = addresses.loc[dup]
            for file_name, part in rows.groupby("source_file", sort=False):
                quarantine.add(
                    ADDRESS_SOURCE,
                    file_name,
                    part["source_line"].to_numpy(),
                    "id",
                    part["id"].to_numpy(),
                    "duplicate id, already read from an earlier file",
                )
            addresses = addresses.loc[~dup].reset_index(drop=True)
    # kommunekode is a categorical with sorted categories: it sorts like the text it stands for.
    addresses = addresses.sort_values(["kommunekode", "postnr", "vejnavn", "husnr"], kind="stable")
    addresses = addresses.reset_index(drop=True)
    counts = {
        "files": len(files),
        "read": read,
        "accepted": len(addresses),
        "quarantined": quarantine.rejected_lines(ADDRESS_SOURCE),
    }
    return addresses, counts


def _mapping(
    files: list[SourceFile], addresses: pd.DataFrame, quarantine: Quarantine
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    if not files:
        raise BuildError("the manifest lists no broadband mapping ([[mapping]])")
    parts, read = [], 0
    for f in files:
        profile = load_profile(f.profile or "bbk-bundle")
        result = read_mapping(f.path, profile, quarantine, generated=f.generated, year=f.year)
        parts.append(result.rows)
        read += result.rows_read
    rows = concat_frames(parts)
    del parts
    joined = join_to_addresses(rows, addresses, quarantine)
    del rows
    counts = {
        "files": len(files),
        "read": read,
        "accepted": joined.counts["rows"],
        "quarantined": quarantine.rejected_lines(MAPPING_SOURCE),
        "matched": joined.counts["matched"],
        "matched_by_id": joined.counts["matched_by_id"],
        "matched_by_key": joined.counts["matched_by_key"],
        "unmatched": joined.counts["unmatched"],
    }
    return joined.availability, joined.unmatched, counts


def _inputs_digest(inputs: list[dict[str, Any]], region: str) -> str:
    """One hash over the inputs' bytes, profiles, region and software version."""
    payload = {
        "region": region,
        "version": __version__,
        "inputs": sorted(
            (i["kind"], i["sha256"], i.get("profile") or "", i.get("year") or 0, i["generated"])
            for i in inputs
        ),
        "profiles": sorted(
            Path(load_profile(i["profile"]).path).read_text(encoding="utf-8")
            for i in inputs
            if i.get("profile")
        ),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _new_release_id(store: ReleaseStore, digest: str) -> str:
    # Milliseconds keep two builds in the same second in creation order (ids sort by name).
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    base = f"{stamp}-{digest[:8]}"
    rid, n = base, 1
    while (store.releases_dir / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def _software() -> dict[str, str]:
    out = {
        "netkort": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for name in _RECORDED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def summarize(release: Release) -> dict[str, Any]:
    """What ``netkort info`` shows: id, region, municipalities, counts, sources."""
    m = release.manifest
    return {
        "release_id": release.id,
        "created": m.get("created"),
        "region": m.get("region"),
        "generated": m.get("generated", False),
        "municipalities": m.get("municipalities", []),
        "counts": m.get("counts", {}),
        "inputs": [
            {k: i[k] for k in ("kind", "path", "size", "sha256", "generated")}
            for i in m.get("inputs", [])
        ],
        "attribution": m.get("attribution", []),
        "software": m.get("software", {}),
        "tables": {k: v["rows"] for k, v in m.get("tables", {}).items()},
    }


__all__ = ["BuildResult", "SilentSteps", "StepReporter", "build_release", "summarize"]
