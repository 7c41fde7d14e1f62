"""Mobile benchmarks: the propagation model over the region, and aggregating 10 M measurements.

    python -m bench.bench_mobile                      # both
    python -m bench.bench_mobile model --repeat 1
    python -m bench.bench_mobile aggregate --measurements 2000000

* **mobile-model-region**: ``generate_sites`` for three operators over the region's 19
  municipalities, then ``model_rasters`` at 50 m: six COGs (3 operators × 4G/5G), outdoor and
  indoor. No peer (nothing else here models propagation); target under 2 minutes.
* **mobile-aggregate-10m**: 10 million generated measurements (drawn from the model, cached as
  Parquet) read and aggregated per DDKN cell × operator × technology at 100 m and 1 km, with the
  privacy rule. Peer: a pandas ``groupby`` with ``nunique`` / ``median`` / ``quantile`` and the same
  privacy filter. Targets: under 60 s and under 4 GB.

These are the measurements ``tests/test_mobile_bench.py`` made (with ``NETKORT_BENCH=1``), moved
here so they run in fresh processes and store their results with the others.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_analysis import SCRATCH
from bench.common import Case, StageClock, compare, run_once

SITE_SEED = 1
DRAW_SEED = 3
MEASUREMENTS = 10_000_000
MODEL_TARGETS = {"wall_s": 120.0}
AGGREGATE_TARGETS = {"wall_s": 60.0, "peak_rss_mb": 4096.0}
_COLUMNS = ["time", "east", "north", "operator", "technology", "device", "rsrp", "down", "up",
            "generated"]  # fmt: skip


def _region() -> Any:
    """Region 1082's boundaries from the data bundle's DAGI layers."""
    from coverage.boundaries import load_region
    from coverage.settings import Settings

    dagi = Settings().data / "dagi"
    return load_region(
        dagi / "kommuner.geojson", dagi / "regioner.geojson", dagi / "postnumre.geojson", "1082"
    )


def run_model(out: str) -> dict[str, Any]:
    """Sites, then the model rasters for the whole region at 50 m."""
    from coverage.mobile import generate_sites, model_rasters

    shutil.rmtree(out, ignore_errors=True)
    clock = StageClock()
    with clock.step("Region boundaries"):
        region = _region()
    with clock.step("generate_sites (3 operators)"):
        sites = generate_sites(region.municipalities, seed=SITE_SEED)
    with clock.step("model_rasters at 50 m (6 layers, outdoor + indoor COGs)"):
        layers = model_rasters(sites, region.outline, out, 50)
    return {"stages": clock.stages, "extra": {"sites": len(sites), "layers": len(layers)}}


def make_measurements(layers: str, out: str, n: int) -> dict[str, Any]:
    """``n`` generated measurements drawn from the modelled layers, uniform over the region."""
    from coverage.mobile import load_layers
    from coverage.mobile.synth import draw_measurements, uniform_points

    region = _region()
    points = uniform_points(region.outline, DRAW_SEED, n, end=datetime(2026, 10, 1, tzinfo=UTC))
    frame = draw_measurements(points, load_layers(layers), DRAW_SEED, geometry=False)
    tmp = Path(out).with_suffix(".tmp")
    frame.to_parquet(tmp)
    tmp.replace(out)
    return {"extra": {"rows": len(frame)}}


def run_aggregate(path: str) -> dict[str, Any]:
    """netkort: read the columns an aggregation uses, aggregate at 100 m and 1 km."""
    import pandas as pd

    from coverage.mobile import aggregate

    clock = StageClock()
    with clock.step("Read measurements (Parquet)"):
        frame = pd.read_parquet(path, columns=_COLUMNS)
    extra: dict[str, Any] = {"rows": len(frame)}
    for size in (100, 1000):
        with clock.step(f"aggregate at {size} m"):
            result = aggregate(frame, size)
        extra[f"published_{size}m"] = len(result.cells)
        extra[f"withheld_{size}m"] = result.withheld
    return {"stages": clock.stages, "extra": extra}


def run_pandas(path: str) -> dict[str, Any]:
    """Peer: pandas groupby per cell × operator × technology, then the privacy filter."""
    import numpy as np
    import pandas as pd

    clock = StageClock()
    with clock.step("Read measurements (Parquet)"):
        frame = pd.read_parquet(path, columns=_COLUMNS)
    extra: dict[str, Any] = {"rows": len(frame)}
    for size in (100, 1000):
        with clock.step(f"groupby at {size} m"):
            keyed = frame.assign(
                row=np.floor_divide(frame["north"], size).astype("int64"),
                col=np.floor_divide(frame["east"], size).astype("int64"),
                covered=frame["rsrp"] >= -110.0,
            )
            groups = keyed.groupby(["row", "col", "operator", "technology"], observed=True)
            table = groups.agg(
                samples=("down", "size"),
                devices=("device", "nunique"),
                down_median=("down", "median"),
                up_median=("up", "median"),
                rsrp_median=("rsrp", "median"),
                rsrp_share=("covered", "mean"),
                newest=("time", "max"),
            )
            quantiles = groups[["down", "up"]].quantile([0.1, 0.9]).unstack()
            quantiles.columns = [f"{c}_p{round(q * 100)}" for c, q in quantiles.columns]
            table = table.join(quantiles)
            published = table[(table["samples"] >= 5) & (table["devices"] >= 3)]
        extra[f"published_{size}m"] = len(published)
    return {"stages": clock.stages, "extra": extra}


def bench_model(repeat: int, scratch: Path) -> dict[str, Any]:
    """The model benchmark (no peer)."""
    return compare(
        "mobile-model-region",
        "Mobile model: 3 operators × 4G/5G over region 1082 at 50 m (COGs, outdoor + indoor)",
        Case("netkort generate_sites + model_rasters", "bench.bench_mobile:run_model",
             {"out": str(scratch / "mobile-model-timing")}),
        None,
        repeat=repeat,
        size={"resolution_m": 50, "operators": 3, "technologies": 2, "scale": "region"},
        targets=MODEL_TARGETS,
        notes="No peer: nothing else installed here models radio propagation.",
    )  # fmt: skip


def bench_aggregate(repeat: int, scratch: Path, n: int) -> dict[str, Any]:
    """The aggregation benchmark against pandas groupby, on cached generated measurements."""
    path = scratch / f"measurements-{n}-seed{DRAW_SEED}.parquet"
    if not path.exists():
        layers = scratch / "mobile-layers-cache"
        if not (layers / "layers.json").exists():
            print(f"modelling layers into {layers}", file=sys.stderr)
            run_once(Case("model", "bench.bench_mobile:run_model", {"out": str(layers)}))
        print(f"drawing {n:,} measurements into {path}", file=sys.stderr)
        run_once(
            Case(
                "measurements",
                "bench.bench_mobile:make_measurements",
                {"layers": str(layers), "out": str(path), "n": n},
            )
        )
    return compare(
        f"mobile-aggregate-{n / 1e6:g}m",
        f"Aggregate {n:,} measurements per DDKN cell × operator × technology at 100 m and 1 km",
        Case("netkort aggregate", "bench.bench_mobile:run_aggregate", {"path": str(path)}),
        Case("pandas groupby (nunique, median, quantile)", "bench.bench_mobile:run_pandas",
             {"path": str(path)}),
        repeat=repeat,
        size={"measurements": n, "scale": "region", "seed": DRAW_SEED},
        targets=AGGREGATE_TARGETS,
        notes=(
            "Both sides read the same 10 columns from Parquet. netkort also computes p10/p90, the "
            "Wilson interval of the coverage share and counts what the privacy rule withholds."
        ),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the chosen mobile benchmarks (default both)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help="model, aggregate (default both)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measurements", type=int, default=MEASUREMENTS)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.which) - {"model", "aggregate"})
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose model or aggregate")
    scratch = args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    out = []
    for which in args.which or ["model", "aggregate"]:
        if which == "model":
            out.append(bench_model(args.repeat, scratch))
        else:
            out.append(bench_aggregate(args.repeat, scratch, args.measurements))
    return out


if __name__ == "__main__":
    main()
