"""Generated mobile data for ``netkort synth``: sites of three operators and millions of measurements.

Sites are laid out by :func:`~coverage.mobile.synth.generate_sites` at the density of the real masts
in the data bundle (the communication towers on Samsø per km² of the municipalities they stand in,
taken as each operator's rural density, since Danish operators share towers) and written in the
bundle's mast format (``osm_id, kind, operator, height_m, lon, lat, etrs89_east, etrs89_north``), so
the normal site reader takes them. Measurements are drawn from a model of those very sites
(:func:`~coverage.mobile.model.model_rasters` at :data:`MODEL_RESOLUTION` into a scratch folder that
is removed afterwards) with :func:`~coverage.mobile.synth.draw_measurements`: crowd tests at the
homes of testing devices (indoors mostly) and outdoor tests spread over the land. They are drawn and
written in chunks of :data:`CHUNK_ROWS` with seeds derived from the run's seed, one Parquet row
group each, so 20 million never sit in memory at once. Same seed and options, same bytes.

Every record says it is generated: a ``generated`` column on every row, ``generated = true`` in the
manifest, site ids and devices starting ``synt-``, and the README.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Transformer

from coverage.boundaries import RegionBoundaries, load_region
from coverage.build import SilentSteps, StepReporter
from coverage.errors import InvalidRequestError
from coverage.mobile.model import RasterLayer, model_rasters
from coverage.mobile.sites import read_sites
from coverage.mobile.synth import DEFAULT_OPERATORS, RURAL_SITE_DENSITY, draw_measurements
from coverage.mobile.synth import generate_sites as lay_out_sites
from coverage.parquetio import point_wkb
from coverage.quarantine import Quarantine
from coverage.sources import SourceManifest
from coverage.synth_files import ManifestEntry, write_csv
from coverage.types import WEB_CRS, WORK_CRS

SITES_FILE = "mobile_sites.csv"
MEASUREMENTS_FILE = "measurements.parquet"

#: The bundle's mast file columns (``masts/samsoe_masts_osm.csv``), plus ``generated``.
SITE_CSV_COLUMNS = (
    "osm_id", "kind", "operator", "height_m", "lon", "lat", "etrs89_east", "etrs89_north",
    "generated",
)  # fmt: skip

#: Measurements per address when ``--measurements`` is not given: 20 million at national scale.
MEASUREMENTS_PER_ADDRESS = 20_000_000 / 3_800_000
#: Samples drawn and written at a time (one Parquet row group).
CHUNK_ROWS = 1_000_000
#: Resolution of the scratch model the samples are drawn from (the build models at 50 m).
MODEL_RESOLUTION = 100.0
#: Share of crowd tests at home; the rest are outdoor tests spread over the land.
CROWD_SHARE = 0.7
#: Tests per crowd device on average (one phone, several speed tests over the period).
TESTS_PER_DEVICE = 10
#: Days the measurements span, ending on the generation date.
DAYS = 90

_TO_WGS84 = Transformer.from_crs(WORK_CRS, WEB_CRS, always_xy=True)


@dataclass(frozen=True)
class MobileOptions:
    """What mobile data to generate. Invalid values raise :class:`InvalidRequestError`."""

    sites: int | None = None
    """Number of sites over all operators; None = the bundle's mast density; 0 = no mobile data."""
    measurements: int | None = None
    """Number of measurements; None = :data:`MEASUREMENTS_PER_ADDRESS` per address; 0 = none."""
    chunk_rows: int = CHUNK_ROWS

    def __post_init__(self) -> None:
        if self.sites is not None and not 0 <= self.sites <= 1_000_000:
            raise InvalidRequestError(f"--sites {self.sites}: expected 'auto' or 0 to 1,000,000")
        if self.measurements is not None and not 0 <= self.measurements <= 500_000_000:
            raise InvalidRequestError(
                f"--measurements {self.measurements}: expected 0 to 500,000,000"
            )
        if self.sites == 0 and self.measurements:
            raise InvalidRequestError(
                f"--measurements {self.measurements} with --sites 0: measurements are drawn from "
                "a model of the generated sites; give --sites N or auto"
            )
        if self.chunk_rows < 1:
            raise InvalidRequestError(f"chunk size {self.chunk_rows}: expected at least 1")

    def n_measurements(self, addresses: int) -> int:
        """Measurements to draw for a register of ``addresses``."""
        if self.sites == 0:
            return 0
        if self.measurements is not None:
            return self.measurements
        return round(addresses * MEASUREMENTS_PER_ADDRESS)


@dataclass
class MobileOutput:
    """What the mobile generator wrote: manifest entries, files and counts."""

    entries: list[ManifestEntry] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: str, path: Path, stamp: str, what: str) -> None:
        """A written file and its manifest entry, attributed as generated ``what``."""
        self.files[kind] = path
        self.entries.append(
            ManifestEntry(
                kind,
                path.resolve(),
                attribution=f"GENERERET af netkort synth ({stamp}): ikke virkelige {what}",
            )
        )


def synthesize_mobile(
    out: Path,
    bundle: SourceManifest,
    region_code: str,
    homes: tuple[np.ndarray, np.ndarray],
    options: MobileOptions,
    *,
    seed: int,
    stamp: str,
    end: datetime,
    reporter: StepReporter | None = None,
) -> MobileOutput:
    """Write the sites CSV and the measurement GeoParquet into ``out``; nothing when sites is 0.

    ``bundle`` is the data bundle's manifest (its boundaries, and its masts for the auto density);
    ``region_code`` the region (or ``all``) whose outline the build will model; ``homes`` the
    generated addresses' east / north (crowd tests are taken there); ``end`` is when the newest
    measurement may be taken; ``stamp`` goes into the attribution lines.
    """
    if options.sites == 0:
        return MobileOutput()
    steps = reporter or SilentSteps()
    b = bundle.boundaries
    region = load_region(b.municipalities, b.regions, b.postcodes, region_code)
    site_seed, draw_seed = np.random.SeedSequence(seed).spawn(5)[3:]
    result = MobileOutput()
    sites_path = out / SITES_FILE
    with steps.step("Mobile sites for three operators"):
        density = auto_density(bundle, region) / RURAL_SITE_DENSITY
        sites = generate_sites(region, options.sites, density, _seed_of(site_seed))
        write_csv(_site_table(sites), sites_path)
    result.add("sites", sites_path, stamp, "master")
    per_operator = sites["operator"].value_counts().sort_index()
    result.counts["mobile_sites"] = len(sites)
    result.counts.update({f"sites_{k}": int(v) for k, v in per_operator.items()})

    n = options.n_measurements(len(homes[0]))
    if n == 0:
        return result
    path = out / MEASUREMENTS_FILE
    scratch = Path(tempfile.mkdtemp(prefix=".mobile-model-", dir=out))
    try:
        with steps.step(f"Mobile model of the generated sites at {MODEL_RESOLUTION:g} m"):
            # The sites as the build will read them (the mast format assumes 4G and 5G).
            read_back = read_sites(sites_path, Quarantine(), generated=True)
            layers = model_rasters(read_back, region.outline, scratch, MODEL_RESOLUTION)
        with steps.step(f"Drawing {n:,} measurements in chunks of {options.chunk_rows:,}"):
            written, devices = write_measurements_chunked(
                path, layers, region.outline, homes, n, draw_seed, end, options.chunk_rows
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.add("measurements", path, stamp, "målinger")
    result.counts["measurements"] = written
    result.counts["measurement_devices"] = devices
    return result


def auto_density(bundle: SourceManifest, region: RegionBoundaries) -> float:
    """Mobile towers per km² per operator, from the bundle's masts (else the lattice default).

    The towers' own municipalities are the area: the bundle's masts cover Samsø only. Each tower
    is counted for every operator, as Danish operators share masts.
    """
    files = [f for f in bundle.of("sites") if f.path.exists()]
    if not files:
        return RURAL_SITE_DENSITY
    sites = pd.concat([read_sites(f.path, Quarantine()) for f in files], ignore_index=True)
    mobile = sites[sites["mobile"].to_numpy(dtype=bool)]
    towers = shapely.points(mobile["east"].to_numpy(), mobile["north"].to_numpy())
    munis = np.asarray(region.municipalities.geometry.array)
    _, hit = shapely.STRtree(munis).query(towers, predicate="intersects")
    if len(hit) == 0:
        return RURAL_SITE_DENSITY
    area_km2 = float(shapely.area(munis[np.unique(hit)]).sum()) / 1e6
    return len(mobile) / area_km2


def generate_sites(
    region: RegionBoundaries, count: int | None, density: float, seed: int
) -> pd.DataFrame:
    """Sites for three operators at ``density`` × the lattice default, or exactly ``count`` of them.

    For a count, the density is scaled until the lattice holds enough, then a seeded subset kept.
    """
    sites = lay_out_sites(region.municipalities, seed, DEFAULT_OPERATORS, density)
    if count is None:
        return sites
    for _ in range(8):
        if len(sites) >= count:
            break
        density *= 1.25 * count / max(len(sites), 1)
        sites = lay_out_sites(region.municipalities, seed, DEFAULT_OPERATORS, density)
    # An equal share per operator (the first ones get the remainder), each a seeded subset.
    rng = np.random.default_rng(seed)
    operator = sites["operator"].to_numpy(dtype=str)
    keep = []
    for i, name in enumerate(DEFAULT_OPERATORS):
        rows = np.flatnonzero(operator == name)
        quota = count // len(DEFAULT_OPERATORS) + (i < count % len(DEFAULT_OPERATORS))
        keep.append(rng.choice(rows, size=min(quota, len(rows)), replace=False))
    return sites.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def _site_table(sites: pd.DataFrame) -> pa.Table:
    """The sites in the bundle's mast columns: every one a communication tower of its operator."""
    east = np.round(sites["east"].to_numpy(dtype="float64"), 2)
    north = np.round(sites["north"].to_numpy(dtype="float64"), 2)
    lon, lat = _TO_WGS84.transform(east, north)
    ids = np.char.add("synt-", sites["site_id"].to_numpy(dtype=str))
    columns = {
        "osm_id": pa.array(ids, pa.string()),
        "kind": pa.array(np.full(len(sites), "communication_tower"), pa.string()),
        "operator": pa.array(sites["operator"].to_numpy(dtype=str), pa.string()),
        "height_m": pa.array(sites["height_m"].to_numpy(dtype="float64")),
        "lon": pa.array(np.round(lon, 7)),
        "lat": pa.array(np.round(lat, 7)),
        "etrs89_east": pa.array(east),
        "etrs89_north": pa.array(north),
        "generated": pa.array(np.ones(len(sites), dtype=bool)),
    }
    return pa.table([columns[c] for c in SITE_CSV_COLUMNS], names=list(SITE_CSV_COLUMNS))


def write_measurements_chunked(
    path: Path,
    layers: list[RasterLayer],
    area: shapely.Geometry,
    homes: tuple[np.ndarray, np.ndarray],
    n: int,
    seed: np.random.SeedSequence,
    end: datetime,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[int, int]:
    """Draw ``n`` measurements chunk by chunk into one GeoParquet file; rows and devices written.

    Chunk ``i`` draws with the ``i``-th seed spawned from ``seed``: for the same layers and homes,
    the same seed and chunk size give the same bytes. Crowd devices live at fixed homes (drawn once): a phone tests several
    times from the same house, which the privacy rule's device count must see.
    """
    rng = np.random.default_rng(seed.spawn(1)[0])
    n_homes = len(homes[0])
    crowd_devices = max(round(n * CROWD_SHARE / TESTS_PER_DEVICE), 3) if n_homes else 0
    home_of = rng.integers(0, max(n_homes, 1), crowd_devices)
    chunks = -(-n // chunk_rows)
    bands: dict[Path, Any] = {}
    written = 0
    outdoor_devices = 0
    tmp = path.with_name(f".{path.name}.tmp")
    schema = _measurement_schema()
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for i, chunk_seed in enumerate(seed.spawn(chunks)):
            k = min(chunk_rows, n - i * chunk_rows)
            chunk_rng = np.random.default_rng(chunk_seed)
            points, pool = _positions(chunk_rng, k, homes, home_of, area, end, i)
            outdoor_devices += pool
            drawn = draw_measurements(
                points, layers, int(chunk_rng.integers(2**31)), geometry=False, bands=bands
            )
            drawn = drawn.iloc[:k]  # positions are oversampled a little: a few fall off the model
            writer.write_batch(_record_batch(drawn, schema))
            written += len(drawn)
    tmp.replace(path)
    return written, crowd_devices + outdoor_devices


def _positions(
    rng: np.random.Generator,
    k: int,
    homes: tuple[np.ndarray, np.ndarray],
    home_of: np.ndarray,
    area: shapely.Geometry,
    end: datetime,
    chunk: int,
) -> tuple[pd.DataFrame, int]:
    """Sample positions, times, devices and environments of one chunk; and its outdoor devices."""
    k_draw = k + k // 100 + 10
    n_crowd = int(rng.binomial(k_draw, CROWD_SHARE)) if len(home_of) else 0
    n_out = k_draw - n_crowd
    device = rng.integers(0, max(len(home_of), 1), n_crowd)
    home = home_of[device] if n_crowd else np.zeros(0, dtype="int64")
    east = homes[0][home] + rng.normal(0.0, 10.0, n_crowd)
    north = homes[1][home] + rng.normal(0.0, 10.0, n_crowd)
    # Outdoor tests: a chunk's own device pool (new phones each chunk, as in a real feed).
    pool = max(n_out // TESTS_PER_DEVICE, 3)
    x, y = _uniform(rng, area, n_out)
    names = np.concatenate(
        [
            np.char.add("synt-app-", device.astype(str)),
            np.char.add(f"synt-out-{chunk}-", rng.integers(0, pool, n_out).astype(str)),
        ]
    )
    indoor = rng.random(n_crowd) < 0.7
    environment = np.concatenate([np.where(indoor, "indoor", "outdoor"), np.full(n_out, "outdoor")])
    source = np.concatenate([np.full(n_crowd, "crowd"), np.full(n_out, "app")])
    stop = pd.Timestamp(end)
    stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop.tz_convert("UTC")
    times = stop - pd.to_timedelta(rng.integers(0, DAYS * 86_400, k_draw), unit="s")
    frame = pd.DataFrame(
        {
            "east": np.concatenate([east, x]),
            "north": np.concatenate([north, y]),
            "time": times,
            "device": names,
            "environment": pd.Categorical(environment),
            "source": pd.Categorical(source),
        }
    )
    return frame, pool


def _uniform(
    rng: np.random.Generator, area: shapely.Geometry, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniformly over the area (rejection sampling in its bounding box)."""
    xmin, ymin, xmax, ymax = shapely.bounds(area)
    shapely.prepare(area)
    share = max(shapely.area(area) / ((xmax - xmin) * (ymax - ymin)), 0.05)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) / share * 1.1) + 16
        x = rng.uniform(xmin, xmax, m)
        y = rng.uniform(ymin, ymax, m)
        inside = shapely.contains_xy(area, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        have += int(inside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _measurement_schema() -> pa.Schema:
    """GeoParquet 1.0 schema: text as dictionaries, a WKB point geometry in EPSG:25832."""
    text = pa.dictionary(pa.int32(), pa.string())
    fields = [
        ("time", pa.timestamp("ms", tz="UTC")),
        ("operator", text),
        ("technology", text),
        ("rsrp", pa.float32()),
        ("rsrq", pa.float32()),
        ("sinr", pa.float32()),
        ("down", pa.float32()),
        ("up", pa.float32()),
        ("latency", pa.float32()),
        ("environment", text),
        ("source", text),
        ("device", text),
        ("generated", pa.bool_()),
        ("geometry", pa.binary()),
    ]
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Point"],
                "crs": CRS.from_user_input(WORK_CRS).to_json_dict(),
            }
        },
    }
    return pa.schema(fields, metadata={"geo": json.dumps(geo, sort_keys=True)})


def _record_batch(frame: pd.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    """One chunk in the file's schema; dictionaries are encoded per chunk (Parquet allows it)."""
    columns: list[pa.Array] = []
    for name in schema.names:
        if name == "geometry":
            columns.append(point_wkb(frame["east"].to_numpy(), frame["north"].to_numpy()))
        elif name == "time":
            columns.append(pa.array(frame["time"], schema.field(name).type))
        elif pa.types.is_dictionary(schema.field(name).type):
            values = pa.array(frame[name].astype("string").to_numpy(dtype=object), pa.string())
            columns.append(pc.dictionary_encode(values).cast(schema.field(name).type))
        else:
            columns.append(pa.array(frame[name].to_numpy(), schema.field(name).type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def readme_lines(output: MobileOutput) -> Iterator[str]:
    """Lines for the README's file list (same layout as the register's)."""
    c = output.counts
    if "sites" in output.files:
        per_op = ", ".join(
            f"{c[f'sites_{o}']:,} {o}" for o in DEFAULT_OPERATORS if f"sites_{o}" in c
        )
        yield f"  {SITES_FILE:<22} {c['mobile_sites']:,} mobile sites ({per_op}) in the mast"
        yield f"  {'':<22} format of the bundle's OpenStreetMap extract"
    if "measurements" in output.files:
        yield f"  {MEASUREMENTS_FILE:<22} {c['measurements']:,} measurements (GeoParquet, EPSG:25832) from"
        yield f"  {'':<22} {c['measurement_devices']:,} devices, drawn from a model of those sites"


def _seed_of(sequence: np.random.SeedSequence) -> int:
    """A plain integer seed from a spawned sequence (for generators that take an int)."""
    return int(sequence.generate_state(1)[0])


__all__ = [
    "CHUNK_ROWS",
    "MEASUREMENTS_FILE",
    "MEASUREMENTS_PER_ADDRESS",
    "SITES_FILE",
    "SITE_CSV_COLUMNS",
    "MobileOptions",
    "MobileOutput",
    "auto_density",
    "generate_sites",
    "readme_lines",
    "synthesize_mobile",
    "write_measurements_chunked",
]
