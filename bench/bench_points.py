"""B1: batch coordinate → coverage lookups over the region, netkort vs geopandas and DuckDB spatial.

    python -m bench.bench_points                       # 1 M and 5 M points
    python -m bench.bench_points --points 1000000 --repeat 1

The points are drawn uniformly inside the region's 19 municipalities (seed 1082) and given as
lon/lat (EPSG:4326), as a planner's list or a map click comes; every side transforms them to
EPSG:25832 itself. Each side answers the same question for every point: the municipality, the
DDKN 100 m cell with its coverage summary (addresses, median best fixed download, share ≥ 100
Mbit/s, eligible counts under the 2024-2025 rules), and the nearest address within 50 m.

* **netkort**: :class:`coverage.points.PointIndex` (municipality raster with exact border tests,
  cells as a direct-address table, nearest by neighbouring cells).
* **geopandas**: ``points_from_xy`` + ``to_crs``, then ``sjoin`` with the municipality polygons,
  ``sjoin`` with the 100 m cell polygons carrying their statistics (``grid_cell_stats``), and
  ``sjoin_nearest`` with the addresses (``max_distance=50``).
* **DuckDB spatial** 1.5.5: ``ST_Transform`` (``always_xy``), then ``SPATIAL_JOIN`` on
  ``ST_Intersects`` with the same two polygon tables and on ``ST_DWithin`` with the addresses,
  ``arg_min`` for the nearest. DuckDB uses both cores; netkort and geopandas use one.

Every side prepares its layers from the same release (read, assess under the rule set; the peers
also build the 100 m cell polygons); that is timed as its own stage. "Answer" stages are what a
point costs; points/s is computed from them. The answers are compared on a sample of 20,000 points
(municipality, cell, cell counts, nearest address and distance); any disagreement fails the run.

Targets: at least 0.5 million points/s, and at least 10× geopandas.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_analysis import SCRATCH, region_home
from bench.common import Case, StageClock, compare, write_result

RULES = "2024-2025"
SEED = 1082
SIZES = (1_000_000, 5_000_000)
SAMPLE = 20_000
DISTANCE = 50.0
TARGET_POINTS_PER_S = 500_000
TARGET_SPEEDUP = 10.0
_ANSWER = "Answer: "


def make_points(scratch: Path, home: Path, n: int) -> Path:
    """``n`` random lon/lat points inside the region's municipalities (cached per size)."""
    path = scratch / f"points-region-{n}-seed{SEED}.parquet"
    if path.exists():
        return path
    import pandas as pd
    import shapely
    from pyproj import Transformer

    from coverage.release import ReleaseStore

    munis = ReleaseStore(home).current().read("municipalities")
    region = shapely.union_all(np.asarray(munis.geometry.array))
    shapely.prepare(region)
    xmin, ymin, xmax, ymax = region.bounds
    rng = np.random.default_rng(SEED)
    xs, ys, have = [], [], 0
    while have < n:
        x = rng.uniform(xmin, xmax, 2_000_000)
        y = rng.uniform(ymin, ymax, 2_000_000)
        inside = shapely.contains_xy(region, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        have += int(inside.sum())
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    lon, lat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(x, y)
    tmp = path.with_suffix(".tmp")
    pd.DataFrame({"lon": lon, "lat": lat}).to_parquet(tmp)
    tmp.replace(path)
    return path


def _save_sample(frame: Any, out: str) -> None:
    """The first rows of a side's answer, for the parent to compare."""
    frame.head(SAMPLE).reset_index(drop=True).to_parquet(out)


def _extra(clock: StageClock, n: int, **more: Any) -> dict[str, Any]:
    answer = sum(v["s"] for k, v in clock.stages.items() if k.startswith(_ANSWER))
    return {"points": n, "answer_s": round(answer, 3), "points_per_s": round(n / answer), **more}


def run_netkort(home: str, points: str, sample: str) -> dict[str, Any]:
    """netkort: PointIndex from the release, then one vectorised query."""
    import pandas as pd

    from coverage.points import PointIndex, work_coordinates
    from coverage.release import ReleaseStore

    clock = StageClock()
    with clock.step("Read points"):
        frame = pd.read_parquet(points)
    with clock.step("Prepare: read, assess, index (raster, cells, addresses)"):
        index = PointIndex.from_release(ReleaseStore(Path(home)).current(), [RULES])
    with clock.step(f"{_ANSWER}lon/lat → EPSG:25832"):
        east, north = work_coordinates(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    with clock.step(f"{_ANSWER}municipality, cell, summary, nearest"):
        answer = index.query(east, north, rules=RULES, max_distance=DISTANCE)
    polygon = answer["kommune_source"] == "polygon"
    _save_sample(
        pd.DataFrame(
            {
                "kommunekode": answer["kommunekode"].astype("string").where(polygon),
                "cell": answer["ddkn_m100"].where(answer["cell_addresses"] > 0),
                "addresses": answer["cell_addresses"],
                "eligible": answer["cell_eligible"],
                "median_down": answer["cell_median_down"],
                "nearest_id": answer["nearest_id"],
                "distance": answer["nearest_distance_m"],
            }
        ),
        sample,
    )
    return {
        "stages": clock.stages,
        "extra": _extra(
            clock,
            len(frame),
            in_municipality=int(answer["kommunekode"].notna().sum()),
            with_nearest=int(answer["nearest_id"].notna().sum()),
        ),
    }


def _layers(home: str) -> tuple[Any, Any, Any]:
    """What both peers join against: municipalities, 100 m cells with statistics, addresses."""
    import geopandas as gpd

    from coverage.assess import assess_many
    from coverage.gridstats import grid_cell_stats
    from coverage.release import ReleaseStore
    from coverage.rules import resolve_rule_sets
    from coverage.stats import read_release_tables

    release = ReleaseStore(Path(home)).current()
    tables = read_release_tables(release, geometry=True)
    assessment = assess_many(tables.addresses, tables.availability, resolve_rule_sets([RULES]))[
        RULES
    ]
    cells = grid_cell_stats(tables.addresses, assessment, size=100)
    munis = release.read("municipalities")[["kommunekode", "geometry"]]
    addresses = gpd.GeoDataFrame(
        {"id": tables.addresses["id"].to_numpy(), "row": np.arange(len(tables.addresses))},
        geometry=tables.addresses.geometry.array,
        crs=tables.addresses.crs,
    )
    return munis, cells, addresses


def run_geopandas(home: str, points: str, sample: str) -> dict[str, Any]:
    """The geopandas peer: three spatial joins."""
    import geopandas as gpd
    import pandas as pd

    clock = StageClock()
    with clock.step("Read points"):
        frame = pd.read_parquet(points)
    with clock.step("Prepare: read, assess, 100 m cell polygons with statistics"):
        munis, cells, addresses = _layers(home)
    with clock.step(f"{_ANSWER}points_from_xy + to_crs(25832)"):
        pts = gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
        ).to_crs("EPSG:25832")
    with clock.step(f"{_ANSWER}sjoin municipalities"):
        m = gpd.sjoin(pts, munis, how="left", predicate="intersects")
        m = m[~m.index.duplicated()]
    with clock.step(f"{_ANSWER}sjoin 100 m cells with statistics"):
        columns = ["cell", "addresses", "eligible", "median_best_down", "geometry"]
        c = gpd.sjoin(pts, cells[columns], how="left", predicate="intersects")
        c = c[~c.index.duplicated()]
    with clock.step(f"{_ANSWER}sjoin_nearest addresses within 50 m"):
        near = gpd.sjoin_nearest(
            pts, addresses, how="left", max_distance=DISTANCE, distance_col="distance"
        )
        # Equidistant addresses all come back: keep the first in release order, as netkort does.
        near = near.sort_values("row", kind="stable")
        near = near[~near.index.duplicated()].sort_index()
    _save_sample(
        pd.DataFrame(
            {
                "kommunekode": m["kommunekode"].astype("string"),
                "cell": c["cell"].astype("string"),
                "addresses": c["addresses"].fillna(0).astype("int64"),
                "eligible": c["eligible"].fillna(0).astype("int64"),
                "median_down": c["median_best_down"],
                "nearest_id": near["id"].astype("string"),
                "distance": near["distance"],
            }
        ),
        sample,
    )
    return {
        "stages": clock.stages,
        "extra": _extra(clock, len(frame), with_nearest=int(near["id"].notna().sum())),
    }


def _spatial_extension() -> str:
    """The spatial extension file shipped in the duckdb-extension-spatial wheel (no download)."""
    import duckdb_extension_spatial

    folder = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    found = glob.glob(str(folder / "v1.5.5" / "**" / "spatial.duckdb_extension"), recursive=True)
    if not found:
        raise SystemExit(f"no spatial.duckdb_extension under {folder}")
    return found[0]


def run_duckdb(home: str, points: str, sample: str) -> dict[str, Any]:
    """The DuckDB spatial peer: ST_Transform, two ST_Intersects joins, one ST_DWithin join."""
    import duckdb
    import pandas as pd
    import shapely

    clock = StageClock()
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD '{_spatial_extension()}'")
    with clock.step("Read points"):
        con.execute(
            "CREATE TABLE raw AS SELECT file_row_number AS i, lon, lat "
            f"FROM read_parquet('{points}', file_row_number := true)"
        )
    with clock.step("Prepare: read, assess, 100 m cell polygons with statistics"):
        munis, cells, addresses = _layers(home)
        m_df = pd.DataFrame(
            {"k": munis["kommunekode"].astype(str), "wkb": shapely.to_wkb(munis.geometry.array)}
        )
        c_df = pd.DataFrame(
            {
                "cell": cells["cell"].astype(str),
                "n": cells["addresses"].to_numpy(),
                "eligible": cells["eligible"].to_numpy(),
                "median_down": cells["median_best_down"].to_numpy(),
                "wkb": shapely.to_wkb(cells.geometry.array),
            }
        )
        a_df = pd.DataFrame(
            {
                "id": addresses["id"].astype(str),
                "r": addresses["row"].to_numpy(),
                "x": addresses.geometry.x.to_numpy(),
                "y": addresses.geometry.y.to_numpy(),
            }
        )
        for table, df in (("m_df", m_df), ("c_df", c_df), ("a_df", a_df)):
            con.register(table, df)
        con.execute("CREATE TABLE munis AS SELECT k, ST_GeomFromWKB(wkb) AS geom FROM m_df")
        con.execute(
            "CREATE TABLE cells AS SELECT cell, n, eligible, median_down, "
            "ST_GeomFromWKB(wkb) AS geom FROM c_df"
        )
        con.execute("CREATE TABLE addr AS SELECT id, r, ST_Point(x, y) AS geom FROM a_df")
    with clock.step(f"{_ANSWER}ST_Transform(always_xy)"):
        con.execute(
            "CREATE TABLE pts AS SELECT i, ST_Transform(ST_Point(lon, lat), 'EPSG:4326', "
            "'EPSG:25832', always_xy := true) AS geom FROM raw"
        )
    with clock.step(f"{_ANSWER}join municipalities (ST_Intersects)"):
        con.execute(
            "CREATE TABLE pm AS SELECT p.i, min(m.k) AS k FROM pts p "
            "JOIN munis m ON ST_Intersects(m.geom, p.geom) GROUP BY p.i"
        )
    with clock.step(f"{_ANSWER}join 100 m cells (ST_Intersects)"):
        con.execute(
            "CREATE TABLE pc AS SELECT p.i, min(c.cell) AS cell, first(c.n) AS n, "
            "first(c.eligible) AS eligible, first(c.median_down) AS median_down FROM pts p "
            "JOIN cells c ON ST_Intersects(c.geom, p.geom) GROUP BY p.i"
        )
    with clock.step(f"{_ANSWER}nearest address (ST_DWithin + arg_min)"):
        con.execute(
            "CREATE TABLE pn AS SELECT p.i, arg_min(a.id, (ST_Distance(p.geom, a.geom), a.r)) "
            "AS id, min(ST_Distance(p.geom, a.geom)) AS d FROM pts p "
            f"JOIN addr a ON ST_DWithin(p.geom, a.geom, {DISTANCE}) GROUP BY p.i"
        )
    with clock.step(f"{_ANSWER}assemble one row per point"):
        answer = con.execute(
            "SELECT pts.i, pm.k AS kommunekode, pc.cell, coalesce(pc.n, 0) AS addresses, "
            "coalesce(pc.eligible, 0) AS eligible, pc.median_down, pn.id AS nearest_id, "
            "pn.d AS distance FROM pts LEFT JOIN pm USING (i) LEFT JOIN pc USING (i) "
            "LEFT JOIN pn USING (i) ORDER BY pts.i"
        ).df()
    _save_sample(answer.drop(columns="i"), sample)
    return {
        "stages": clock.stages,
        "extra": _extra(clock, len(answer), with_nearest=int(answer["nearest_id"].notna().sum())),
    }


def agreement(subject: Path, peer: Path) -> dict[str, int]:
    """Points of the sample on which two sides' answers differ, per field."""
    import pandas as pd

    a, b = pd.read_parquet(subject), pd.read_parquet(peer)
    out = {}
    for column in ("kommunekode", "cell", "nearest_id"):
        left = a[column].astype("string").fillna("-")
        right = b[column].astype("string").fillna("-")
        out[column] = int((left != right).sum())
    for column in ("addresses", "eligible"):
        out[column] = int((a[column].astype("int64") != b[column].astype("int64")).sum())
    for column, tolerance in (("median_down", 1e-3), ("distance", 1e-3)):
        x, y = a[column].to_numpy(float), b[column].to_numpy(float)
        same = np.isclose(x, y, atol=tolerance, rtol=0) | (np.isnan(x) & np.isnan(y))
        out[column] = int((~same).sum())
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run B1 at each size against both peers; one result file per size and peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, action="append", help="default 1 M and 5 M")
    parser.add_argument("--peer", choices=["geopandas", "duckdb"], action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    args = parser.parse_args(argv)
    scratch = args.scratch.resolve()
    home = region_home(scratch)
    results = []
    for n in args.points or SIZES:
        started = time.perf_counter()
        points = make_points(scratch, home, n)
        print(f"{n:,} points ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for peer in args.peer or ("geopandas", "duckdb"):
            results.append(_one(scratch, home, points, n, peer, args.repeat))
    return results


def _one(scratch: Path, home: Path, points: Path, n: int, peer: str, repeat: int) -> dict:
    name = f"points-{n // 1000}k-{peer}"
    samples = {side: scratch / f"points-sample-{side}-{n}.parquet" for side in ("netkort", peer)}
    label = {
        "geopandas": "geopandas sjoin ×2 + sjoin_nearest",
        "duckdb": "DuckDB 1.5.5 spatial joins",
    }[peer]

    def case(side: str, title: str) -> Case:
        kwargs = {"home": str(home), "points": str(points), "sample": str(samples[side])}
        return Case(title, f"bench.bench_points:run_{side}", kwargs)

    result = compare(
        name,
        f"B1: {n:,} lon/lat points over the region → municipality, 100 m cell coverage, "
        f"nearest address (vs {peer})",
        case("netkort", "netkort PointIndex.query"),
        case(peer, label),
        repeat=repeat,
        size={"points": n, "addresses": 850_000, "scale": "region", "seed": SEED},
        notes=(
            "Wall time includes reading the release, assessing it and building each side's index "
            "or layers ('Prepare'); points/s counts only the 'Answer' stages. "
            + ("DuckDB runs on both cores. " if peer == "duckdb" else "")
            + f"Answers compared on the first {SAMPLE:,} points."
        ),
    )
    ours, theirs = result["subject"]["extra"], result["peer"]["extra"]
    speedup = theirs["answer_s"] / ours["answer_s"]
    result["throughput"] = {
        "netkort_points_per_s": ours["points_per_s"],
        f"{peer}_points_per_s": theirs["points_per_s"],
        "answer_speedup": round(speedup, 1),
    }
    result["targets"] = {"points_per_s": TARGET_POINTS_PER_S, "answer_speedup": TARGET_SPEEDUP}
    result["meets_targets"] = {
        "points_per_s": ours["points_per_s"] >= TARGET_POINTS_PER_S,
        "answer_speedup": speedup >= TARGET_SPEEDUP if peer == "geopandas" else None,
    }
    result["disagreements_on_sample"] = agreement(samples["netkort"], samples[peer])
    result["details"] = {
        "columns": ["side", "answer s", "points/s", "prepare s", "wall s", "peak RSS MB"],
        "rows": [
            [
                side["label"],
                side["extra"]["answer_s"],
                f"{side['extra']['points_per_s']:,}",
                next((v["s"] for k, v in side["stages"].items() if k.startswith("Prepare")), None),
                side["wall_s"]["best"],
                side["peak_rss_mb"],
            ]
            for side in (result["subject"], result["peer"])
        ],
    }
    write_result(name, result)
    for path in samples.values():
        path.unlink(missing_ok=True)
    bad = {k: v for k, v in result["disagreements_on_sample"].items() if v}
    if bad:
        raise SystemExit(f"{name}: answers differ from {peer} on the sample: {bad}")
    print(
        f"{name}: netkort {ours['points_per_s']:,} points/s, {peer} {theirs['points_per_s']:,}; "
        f"answer speedup {speedup:.1f}×",
        file=sys.stderr,
    )
    return result


if __name__ == "__main__":
    main()
