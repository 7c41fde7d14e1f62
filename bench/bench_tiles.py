"""B4 + B5: map tiles against their peers, on the region release (850,000 generated addresses).

    python -m bench.bench_tiles                  # both, region release with mobile rasters
    python -m bench.bench_tiles raster --per-zoom 40
    python -m bench.bench_tiles vector --home /srv/netkort --per-zoom 20

The region release is built once (cached) from ``netkort synth``'s region data plus generated
mobile sites for three operators (``coverage.mobile.generate_sites``, seed 1), so ``netkort build``
models region-wide RSRP rasters (50 m COGs with overviews) beside the addresses, zones and grid.

**B4, raster tiles** (``raster-tiles-region``): netkort's ``/tiles/{layer}/{z}/{x}/{y}.png`` against
TiTiler (``titiler.core`` 2.4.0, ``TilerFactory``) serving the SAME COG with the SAME colour map: the
layer's RSRP bands are passed as TiTiler's interval ``colormap`` parameter, with nearest resampling
and reprojection as netkort draws them. Both run under uvicorn (one worker each) on 127.0.0.1 and
are asked for the same tiles, z8-z14 around randomly drawn addresses, alternately tile by tile so
both see the same background load. p50 / p99 per zoom from a sequential keep-alive client. A sample
of tiles is decoded on both sides and compared pixel by pixel (the share of equal RGBA pixels is
stored; the two pick overviews differently, so a few edge pixels may differ).

**B5, vector tiles** (``vector-tiles-region``): netkort's zones and addresses layers (newest rule
set) against PostGIS ``ST_AsMVT`` over the same features. A private PostgreSQL 15 + PostGIS 3.3
cluster is started by the benchmark on 127.0.0.1 (``scripts/pg-test-cluster.sh`` with a folder and
port of its own) and stopped at the end, whatever happens. The zones, address points and the
DDKN cells netkort gathers addresses on below zoom 14 (10 km, 1 km, 100 m) are loaded with COPY,
in EPSG:25832 with a GiST index, and queried the canonical way::

    SELECT ST_AsMVT(t, 'zones', 4096, 'geom') FROM (
      SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(z, x, y), 4096, 64) AS geom, ...
      FROM zones WHERE geom && ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 25832)
    ) t

(the filter is on the stored geometry, so the GiST index serves it). Measured three ways on the
same tiles z8-z16: netkort's ``VectorTiler.tile`` in-process (library level), PostGIS from psycopg
(database level, a loopback round trip per tile), and over HTTP: netkort's ``/tiles/...mvt`` and a
minimal FastAPI route that runs the PostGIS query (what tipg or martin would do). Feature counts per
tile are decoded on both sides and compared.

Targets: B4 p50 at or below TiTiler's at every zoom; B5 p99 ≤ 50 ms at every zoom z8-z16.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from bench.bench_analysis import SCRATCH, netkort
from bench.bench_build import DEFAULT_SIZE, SEED, _prepare
from bench.bench_http import (
    Served,
    get,
    percentiles,
    sequential,
    serve,
    start_netkort,
    uvicorn_argv,
)
from bench.common import HOST, Case, StageClock, compare, write_result
from bench.peers_tiles import (
    load_postgis,
    postgis_available,
    postgis_cluster,
    postgis_sql,
    postgis_tile,
    titiler_available,
    titiler_colormap,
)

SITE_SEED = 1
RASTER_ZOOMS = tuple(range(8, 15))
VECTOR_ZOOMS = tuple(range(8, 17))
VECTOR_TARGET_P99_MS = 50.0
REPO = Path(__file__).resolve().parent.parent


# -- the release ----------------------------------------------------------------------------------


def region_tiles_home(scratch: Path = SCRATCH, addresses: int = DEFAULT_SIZE["region"]) -> Path:
    """A release home with the region's generated addresses AND generated mobile sites, so the
    release carries region-wide model rasters (built once, then reused while its inputs stand)."""
    from coverage.synth_files import ManifestEntry, append_manifest_entries

    scratch.mkdir(parents=True, exist_ok=True)
    data = _prepare(scratch, addresses, "region")
    folder = scratch / f"region-{addresses}-mobile-sources"
    home = scratch / f"region-{addresses}-mobile-home"
    wanted = json.dumps(
        {
            "synth": json.loads((data / "bench-stamp.json").read_text(encoding="utf-8")),
            "sites": {"seed": SITE_SEED, "operators": 3},
        }
    )
    stamp = home / "bench-stamp.json"
    if (
        stamp.exists()
        and stamp.read_text(encoding="utf-8") == wanted
        and (home / "current").exists()
    ):
        return home
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    folder.mkdir(parents=True)
    sites = folder / "sites.csv"
    _write_sites(sites)
    manifest = folder / "sources.toml"
    shutil.copyfile(data / "sources.toml", manifest)
    append_manifest_entries(
        manifest,
        [
            ManifestEntry(
                "sites",
                sites,
                attribution=f"GENERERET af netkort (generate_sites, seed {SITE_SEED}): ikke "
                "virkelige master",
                generated=True,
            )
        ],
    )
    print(f"building the region release with mobile rasters into {home}", file=sys.stderr)
    started = time.perf_counter()
    netkort("build", "--sources", str(manifest), "--home", str(home), "--region", "1082", "--quiet")
    print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    stamp.write_text(wanted, encoding="utf-8")
    return home


def _write_sites(path: Path) -> None:
    """Generated sites for three operators over the region, in the generic site CSV profile."""
    from coverage.boundaries import load_region
    from coverage.mobile import generate_sites
    from coverage.settings import Settings

    dagi = Settings().data / "dagi"
    region = load_region(
        dagi / "kommuner.geojson", dagi / "regioner.geojson", dagi / "postnumre.geojson", "1082"
    )
    sites = generate_sites(region.municipalities, seed=SITE_SEED)
    out = sites[["site_id", "operator", "technologies", "height_m", "azimuth", "power", "kind"]]
    out = out.assign(x=sites["east"].round(2), y=sites["north"].round(2))
    out.to_csv(path, index=False)


# -- tiles to ask for -----------------------------------------------------------------------------


def tiles_around(
    east: np.ndarray, north: np.ndarray, zooms: Sequence[int], per_zoom: int, seed: int = SEED
) -> list[tuple[int, int, int]]:
    """``per_zoom`` web-mercator tiles per zoom, each holding one of randomly drawn points
    (EPSG:25832), in random order: tiles a map user around those places would ask for.

    Tiles are distinct where the points span enough of them; at low zooms a region covers only a
    handful (six z8 tiles hold region 1082), which are then asked for again in turn, so every
    zoom's percentiles rest on the same number of requests."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(east))[: per_zoom * 30]
    lon, lat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(
        np.asarray(east)[pick], np.asarray(north)[pick]
    )
    out: list[tuple[int, int, int]] = []
    for z in zooms:
        n = 1 << z
        x = np.floor((np.asarray(lon) + 180.0) / 360.0 * n).astype("int64")
        y = np.floor(
            (1.0 - np.arcsinh(np.tan(np.radians(np.asarray(lat)))) / np.pi) / 2.0 * n
        ).astype("int64")
        _, first = np.unique(x * n + y, return_index=True)
        keep = np.sort(first)[:per_zoom]  # first appearances, in the random order drawn
        keep = np.resize(keep, per_zoom) if keep.size else keep
        out += [(z, int(x[i]), int(y[i])) for i in keep]
    return out


def _address_points(home: Path) -> tuple[np.ndarray, np.ndarray]:
    from coverage.release import ReleaseStore

    table = pd.read_parquet(
        ReleaseStore(home).current().table_path("addresses"), columns=["east", "north"]
    )
    ok = table["east"].notna() & table["north"].notna()
    return table["east"].to_numpy(float)[ok], table["north"].to_numpy(float)[ok]


def _by_zoom(samples: dict[int, list[float]]) -> dict[str, dict[str, float]]:
    return {str(z): percentiles(np.asarray(s)) for z, s in sorted(samples.items()) if s}


class Samples:
    """Seconds per (kind, layer, zoom), summarised as percentiles."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, dict[int, list[float]]]] = {}

    def add(self, kind: str, layer: str, z: int, seconds: float) -> None:
        """One measurement."""
        self.seconds.setdefault(kind, {}).setdefault(layer, {}).setdefault(z, []).append(seconds)

    def summary(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """``{kind: {layer: {zoom: percentiles}}}``."""
        return {
            kind: {layer: _by_zoom(by_z) for layer, by_z in by_layer.items()}
            for kind, by_layer in self.seconds.items()
        }


def _timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return time.perf_counter() - started, response.status, body


# -- B4: raster tiles against TiTiler -------------------------------------------------------------


def _png_rgba(status: int, body: bytes) -> np.ndarray:
    """A tile as a (4, 256, 256) RGBA array; 204 / empty is fully transparent."""
    if status != 200 or not body:
        return np.zeros((4, 256, 256), dtype=np.uint8)
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    with warnings.catch_warnings():  # a PNG tile has no georeferencing, and needs none
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(body) as mem, mem.open() as src:
            data = src.read()
    if data.shape[0] == 3:
        data = np.concatenate([data, np.full((1, *data.shape[1:]), 255, np.uint8)])
    return data


def run_raster(
    home: str, per_zoom: int = 100, layer: str | None = None, netkort: Served | None = None
) -> dict[str, Any]:
    """B4: the same COG and colour map through netkort and TiTiler, tile by tile, over HTTP.

    A running ``netkort`` server (from :func:`~bench.bench_http.start_netkort`) is used and left
    running; by default one is started (and stopped)."""
    from coverage.release import ReleaseStore
    from coverage.tiles.raster import raster_layers

    clock = StageClock()
    release = ReleaseStore(Path(home)).current()
    sources, _ = raster_layers(release)
    if not sources:
        raise SystemExit(f"the release in {home} has no raster layer to serve")
    source = next((s for s in sources if s.name == layer), sources[0]) if layer else sources[0]
    east, north = _address_points(Path(home))
    tiles = tiles_around(east, north, RASTER_ZOOMS, per_zoom)
    warm = tiles_around(east, north, RASTER_ZOOMS, min(per_zoom, 10), seed=SEED + 1)
    query = urlencode(
        {
            "url": str(source.path),
            "colormap": titiler_colormap(source.scale),
            "resampling": "nearest",
            "reproject": "nearest",
        }
    )
    scratch = Path(tempfile.mkdtemp(prefix="netkort-raster-"))
    ours = netkort or start_netkort(Path(home), scratch)
    theirs = serve("TiTiler", uvicorn_argv("bench.peers_tiles:create_titiler_app"))
    try:
        with clock.step("Start netkort serve and TiTiler"):
            ours.wait_ready()
            theirs.wait_ready()
            get(ours.port, "/tiles")  # builds the tile set, as a map page's first request does
            ours.wait_idle()  # ... and warms the vector layers in the background: let it finish

        def path_ours(z: int, x: int, y: int) -> str:
            return f"/tiles/{source.name}/{z}/{x}/{y}.png"

        def path_theirs(z: int, x: int, y: int) -> str:
            return f"/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?{query}"

        with clock.step("Warm-up: up to 10 other tiles per zoom on both"):
            sequential(ours.port, [path_ours(*t) for t in warm])
            sequential(theirs.port, [path_theirs(*t) for t in warm])
        samples = Samples()
        statuses: dict[str, dict[str, int]] = {"netkort": {}, "titiler": {}}
        sizes: dict[str, list[int]] = {"netkort": [], "titiler": []}
        equal = compared = 0
        with clock.step(f"Every tile once on each, alternating ({len(tiles)} tiles)"):
            sides = [
                ("netkort", http.client.HTTPConnection(HOST, ours.port, timeout=60), path_ours),
                ("titiler", http.client.HTTPConnection(HOST, theirs.port, timeout=60), path_theirs),
            ]
            for i, (z, x, y) in enumerate(tiles):
                got = {}
                for side, conn, path in sides if i % 2 == 0 else sides[::-1]:
                    seconds, status, body = _timed_get(conn, path(z, x, y))
                    samples.add(side, source.name, z, seconds)
                    statuses[side][str(status)] = statuses[side].get(str(status), 0) + 1
                    sizes[side].append(len(body))
                    got[side] = (status, body)
                if i % 5 == 0:  # a fifth of the tiles decoded and compared pixel by pixel
                    pa, pb = _png_rgba(*got["netkort"]), _png_rgba(*got["titiler"])
                    drawn = (pa[3] > 0) | (pb[3] > 0)
                    equal += int(np.all(pa == pb, axis=0)[drawn].sum())
                    compared += int(drawn.sum())
            for _, conn, _ in sides:
                conn.close()
        rss = {"netkort": ours.peak_rss_mb(), "titiler": theirs.peak_rss_mb()}
    finally:
        if netkort is None:
            ours.stop()
        theirs.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    summary = samples.summary()
    extra = {
        "layer": source.name,
        "cog": str(source.path.relative_to(release.path)),
        "colour_map": source.scale.id,
        "tiles": len(tiles),
        "latency_ms": {side: by_layer[source.name] for side, by_layer in summary.items()},
        "overall_ms": {
            side: percentiles(
                np.concatenate([np.asarray(v) for v in by_layer[source.name].values()])
            )
            for side, by_layer in samples.seconds.items()
        },
        "statuses": statuses,
        "bytes_mean": {side: round(float(np.mean(v)), 0) for side, v in sizes.items()},
        "pixels_compared": compared,
        "pixels_equal_share": round(equal / compared, 5) if compared else None,
        "server_peak_rss_mb": rss,
        "servers": "netkort serve and uvicorn --factory bench.peers_tiles:create_titiler_app, "
        "1 worker each",
        "titiler_query": "url=<the same COG>&colormap=<the RSRP bands as intervals>"
        "&resampling=nearest&reproject=nearest",
    }
    return {"stages": clock.stages, "extra": extra}


# -- B5: vector tiles against PostGIS ST_AsMVT ----------------------------------------------------


def _features(data: bytes | None) -> int:
    """Features in a decoded MVT (all layers)."""
    if not data:
        return 0
    import mapbox_vector_tile

    return sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(data).values())


Tiles = dict[str, list[tuple[int, int, int]]]


def _library_pass(
    tiler: Any,
    ids: dict[str, str],
    conn: Any,
    sql: Any,
    tiles: Tiles,
    warm: Tiles,
    samples: Samples,
) -> dict[str, Any]:
    """Each tile from ``VectorTiler.tile`` and (with a connection) from PostGIS, one after the
    other; feature counts decoded on both sides."""
    features = {layer: {"netkort": 0, "postgis": 0} for layer in tiles}
    same = {layer: [0, 0] for layer in tiles}
    for layer, asked in tiles.items():
        for z, x, y in warm[layer]:
            tiler.tile(ids[layer], z, x, y)
            if conn is not None:
                postgis_tile(conn, sql, layer, z, x, y)
        for z, x, y in asked:
            started = time.perf_counter()
            ours = tiler.tile(ids[layer], z, x, y)
            samples.add("netkort library", layer, z, time.perf_counter() - started)
            features[layer]["netkort"] += (n_ours := _features(ours))
            if conn is None:
                continue
            started = time.perf_counter()
            theirs = postgis_tile(conn, sql, layer, z, x, y)
            samples.add("postgis database", layer, z, time.perf_counter() - started)
            features[layer]["postgis"] += (n_theirs := _features(theirs))
            same[layer][0] += int(n_ours == n_theirs)
            same[layer][1] += 1
    return {
        "features": features,
        "same_feature_count": {layer: f"{a}/{n}" for layer, (a, n) in same.items() if n},
    }


def _http_pass(
    servers: list[tuple[str, Served, Any]], tiles: Tiles, warm: Tiles, samples: Samples
) -> None:
    """Each tile from every server over its own keep-alive connection, alternating which server
    goes first; anything but 200 / 204 fails the run."""
    conns = {kind: http.client.HTTPConnection(HOST, s.port, timeout=60) for kind, s, _ in servers}
    try:
        for layer, asked in tiles.items():
            for _, server, path in servers:
                sequential(server.port, [path(layer, *t) for t in warm[layer]])
            for i, (z, x, y) in enumerate(asked):
                for kind, _, path in servers if i % 2 == 0 else servers[::-1]:
                    seconds, status, _ = _timed_get(conns[kind], path(layer, z, x, y))
                    if status not in (200, 204):
                        raise RuntimeError(f"{kind}: tile {layer} {z}/{x}/{y} answered {status}")
                    samples.add(kind, layer, z, seconds)
    finally:
        for conn in conns.values():
            conn.close()


def run_vector(
    home: str, per_zoom: int = 40, over_http: bool = True, netkort: Served | None = None
) -> dict[str, Any]:
    """B5: netkort's zones and addresses tiles in-process and over HTTP, against PostGIS ST_AsMVT
    from psycopg and over HTTP, on the same tiles z8-z16 (PostGIS parts skipped when absent).

    ``over_http=False`` leaves the HTTP parts out; a running ``netkort`` server is used and left
    running, by default one is started (and stopped)."""
    import shapely

    from coverage.release import ReleaseStore
    from coverage.tiles import VectorTiler

    clock = StageClock()
    samples = Samples()
    scratch = Path(tempfile.mkdtemp(prefix="netkort-vector-"))
    # The server loads while the tiler is built and PostGIS is filled.
    ours = (netkort or start_netkort(Path(home), scratch)) if over_http else None
    pg_reason = postgis_available()
    extra: dict[str, Any] = {"postgis": pg_reason or "PostgreSQL 15 + PostGIS 3 on 127.0.0.1"}
    try:
        with clock.step("netkort: VectorTiler.from_release + warm (newest rule set)"):
            tiler = VectorTiler.from_release(ReleaseStore(Path(home)).current())
            tiler.warm()
        rid = tiler.default_rules
        ids = {"zones": f"zones-{rid}", "addresses": f"addresses-{rid}"}
        east, north = _address_points(Path(home))
        centres = shapely.get_coordinates(shapely.point_on_surface(tiler.zones[rid].geometry.array))
        points = {"zones": (centres[:, 0], centres[:, 1]), "addresses": (east, north)}
        tiles = {k: tiles_around(*p, VECTOR_ZOOMS, per_zoom) for k, p in points.items()}
        warm = {k: tiles_around(*p, VECTOR_ZOOMS, 3, seed=SEED + 1) for k, p in points.items()}
        extra.update(
            {"rule_set": rid, "layers": ids, "tiles": {k: len(v) for k, v in tiles.items()}}
        )
        with ExitStack() as stack:
            conn = sql = peer = None
            if pg_reason is None:
                import psycopg

                with clock.step("PostGIS: start, load zones / addresses / cells, GiST, ANALYZE"):
                    url = stack.enter_context(postgis_cluster())
                    extra["postgis_rows"] = load_postgis(url, tiler, rid)
                conn = stack.enter_context(psycopg.connect(url, autocommit=True))
                sql = postgis_sql(conn)
                if ours is not None:
                    peer = serve(
                        "PostGIS ST_AsMVT over FastAPI",
                        uvicorn_argv("bench.peers_tiles:create_postgis_app"),
                        {"NETKORT_BENCH_PG_URL": url},
                    )
                    stack.callback(peer.stop)  # before the cluster stops (last in, first out)
            with clock.step("Library and database level: every tile once each, alternating"):
                extra.update(_library_pass(tiler, ids, conn, sql, tiles, warm, samples))
            if ours is not None:
                with clock.step("HTTP: netkort serve ready, tile layers built"):
                    ours.wait_ready()
                    get(ours.port, "/tiles")
                    ours.wait_idle()  # the service warms its layers in the background
                servers: list[tuple[str, Served, Any]] = [
                    ("netkort http", ours, lambda la, z, x, y: f"/tiles/{ids[la]}/{z}/{x}/{y}.mvt")
                ]
                if peer is not None:
                    peer.wait_ready()
                    servers.append(
                        ("postgis http", peer, lambda la, z, x, y: f"/tiles/{la}/{z}/{x}/{y}.mvt")
                    )
                with clock.step("HTTP: every tile once on each server, alternating"):
                    _http_pass(servers, tiles, warm, samples)
                extra["server_peak_rss_mb"] = {k: s.peak_rss_mb() for k, s, _ in servers}
    finally:
        if ours is not None and netkort is None:
            ours.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    extra["latency_ms"] = samples.summary()
    return {"stages": clock.stages, "extra": extra}


# -- the benchmarks -------------------------------------------------------------------------------


def _size(home: Path) -> tuple[int, str]:
    from coverage.release import ReleaseStore

    n = int(ReleaseStore(home).current().manifest["counts"]["addresses"]["accepted"])
    return n, (f"region-{n // 1000}k" if n >= 100_000 else f"{n}")


def summarise_raster(result: dict[str, Any]) -> dict[str, Any]:
    """Per-zoom table, the target (p50 at or below TiTiler's at every zoom) and the p50 ratio."""
    e = result["subject"]["extra"]
    ours, theirs = e["latency_ms"]["netkort"], e["latency_ms"]["titiler"]
    rows = [
        [int(z), ours[z]["p50"], ours[z]["p99"], theirs[z]["p50"], theirs[z]["p99"],
         round(ours[z]["p50"] / theirs[z]["p50"], 3)]
        for z in ours if z in theirs
    ]  # fmt: skip
    result["targets"] = {"p50_vs_titiler": 1.0}
    result["meets_targets"] = {"p50_vs_titiler": all(r[5] <= 1.0 for r in rows)}
    result["ratio"] = round(
        e["overall_ms"]["netkort"]["p50"] / e["overall_ms"]["titiler"]["p50"], 3
    )
    result["ratio_of"] = "p50 latency over all tiles, netkort ÷ TiTiler"
    result["details"] = {
        "columns": ["zoom", "netkort p50 ms", "netkort p99 ms", "TiTiler p50 ms", "TiTiler p99 ms",
                    "÷ TiTiler (p50)"],
        "rows": rows,
    }  # fmt: skip
    return result


def summarise_vector(result: dict[str, Any]) -> dict[str, Any]:
    """Per layer and zoom: library, database and HTTP percentiles; the p99 target; ratios."""
    e = result["subject"]["extra"]
    lat = e["latency_ms"]
    kinds = ("netkort library", "postgis database", "netkort http", "postgis http")
    rows = []
    for layer in ("zones", "addresses"):
        for z in (str(z) for z in VECTOR_ZOOMS):
            row: list[Any] = [layer, int(z)]
            for kind in kinds:
                got = lat.get(kind, {}).get(layer, {}).get(z)
                row += [got["p50"], got["p99"]] if got else [None, None]
            rows.append(row)
    worst = {
        kind: max((r[2 + 2 * i + 1] for r in rows if r[2 + 2 * i + 1] is not None), default=None)
        for i, kind in enumerate(kinds)
    }
    result["targets"] = {"p99_ms": VECTOR_TARGET_P99_MS}
    result["meets_targets"] = {
        f"{kind} p99_ms": worst[kind] <= VECTOR_TARGET_P99_MS
        for kind in ("netkort library", "netkort http")
        if worst[kind] is not None
    }
    result["worst_p99_ms"] = worst

    def overall(kind: str) -> float | None:
        p50s = [v["p50"] for by_z in lat.get(kind, {}).values() for v in by_z.values()]
        return float(np.median(p50s)) if p50s else None

    ratios = {}
    for ours, theirs in (("netkort library", "postgis database"), ("netkort http", "postgis http")):
        a, b = overall(ours), overall(theirs)
        if a is not None and b:
            ratios[f"{ours} ÷ {theirs}"] = round(a / b, 3)
    result["ratios"] = ratios
    if "netkort http ÷ postgis http" in ratios:
        result["ratio"] = ratios["netkort http ÷ postgis http"]
        result["ratio_of"] = (
            "median over layers and zooms of the per-zoom p50, HTTP, netkort ÷ PostGIS"
        )
    result["details"] = {
        "columns": ["layer", "zoom", *(f"{k} {p}" for k in kinds for p in ("p50 ms", "p99 ms"))],
        "rows": rows,
    }
    return result


def bench_raster(home: Path, per_zoom: int, repeat: int) -> dict[str, Any]:
    """B4 at full size: write ``results/raster-tiles-<size>.json``."""
    reason = titiler_available()
    if reason:
        raise SystemExit(f"B4 needs TiTiler: {reason}")
    n, size = _size(home)
    name = f"raster-tiles-{size}"
    result = compare(
        name,
        "B4: PNG tiles of the same RSRP COG and colour map, netkort vs TiTiler 2.4, over HTTP",
        Case("netkort /tiles and TiTiler /cog/tiles, alternating", "bench.bench_tiles:run_raster",
             {"home": str(home), "per_zoom": per_zoom}),
        None,
        repeat=repeat,
        size={"addresses": n, "tiles_per_zoom": per_zoom, "zooms": list(RASTER_ZOOMS),
              "scale": "region" if n >= 100_000 else "bundle"},
        notes=(
            "One process runs both servers (uvicorn, 1 worker each) and asks each tile of both, "
            "alternating which goes first. Wall time covers start-up and every phase; compare the "
            "per-zoom percentiles. netkort writes PNGs at zlib level 1, TiTiler at GDAL's default "
            "(6): larger tiles, less CPU."
        ),
    )  # fmt: skip
    summarise_raster(result)
    write_result(name, result)
    return result


def bench_vector(home: Path, per_zoom: int, repeat: int) -> dict[str, Any]:
    """B5 at full size: write ``results/vector-tiles-<size>.json``."""
    n, size = _size(home)
    name = f"vector-tiles-{size}"
    result = compare(
        name,
        "B5: MVT of zones and addresses, netkort vs PostGIS ST_AsMVT, library / database and HTTP",
        Case("netkort VectorTiler and /tiles; PostGIS ST_AsMVT via psycopg and FastAPI",
             "bench.bench_tiles:run_vector", {"home": str(home), "per_zoom": per_zoom}),
        None,
        repeat=repeat,
        size={"addresses": n, "tiles_per_zoom": per_zoom, "zooms": list(VECTOR_ZOOMS),
              "scale": "region" if n >= 100_000 else "bundle"},
        notes=(
            "Peak RSS includes the PostgreSQL cluster's children only as far as getrusage sees "
            "them; server RSS is stored per server. Feature counts differ by design where netkort "
            "leaves out zones under a pixel and where PostGIS keeps points on the buffer's edge."
        ),
    )  # fmt: skip
    summarise_vector(result)
    write_result(name, result)
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run B4 and / or B5 on the region release (or ``--home``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", choices=("raster", "vector", "both"), default="both")
    parser.add_argument("--home", type=Path, default=None, help="release home (default: region)")
    parser.add_argument("--per-zoom", type=int, default=None, help="tiles per zoom level")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    args = parser.parse_args(argv)
    home = (args.home or region_tiles_home(args.scratch.resolve())).resolve()
    results = []
    if args.which in ("raster", "both"):
        results.append(bench_raster(home, args.per_zoom or 100, args.repeat))
    if args.which in ("vector", "both"):
        results.append(bench_vector(home, args.per_zoom or 60, args.repeat))
    for r in results:
        print(f"{r['name']}: ratio {r.get('ratio')} ({r.get('ratio_of')})", file=sys.stderr)
        for row in r["details"]["rows"]:
            print("  " + "  ".join(str(x) for x in row), file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
