"""Build benchmark: a release from a national-size generated register and mapping.

    python -m bench.bench_build                      # 3.8 M addresses and rows, all of Denmark
    python -m bench.bench_build --scale region       # 850 k addresses in region 1082, quicker
    python -m bench.bench_build --addresses 200000 --repeat 1

Data comes from ``netkort synth`` (on the command line; ``python -m bench.run synth-national`` times
it) into a scratch folder outside the repository; the same seed gives the same files, so a second
run reuses them. The subject is ``coverage.build.build_release`` with a reporter that times each
stage; the peer, in the same run and on the same files, is what a GIS analyst would write without
validation: ``pandas.read_csv`` + ``geopandas.points_from_xy`` + ``merge`` on the raw text keys +
``to_parquet``. The difference is what validation, quarantine, Danish-aware matching and verified
publishing cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from bench.common import Case, StageClock, compare

SEED = 1082
TARGETS = {"wall_s": 60.0, "peak_rss_mb": 3072.0}
DEFAULT_SIZE = {"national": 3_800_000, "region": 850_000}


def run_synth(out: str, addresses: int, scale: str, seed: int) -> dict[str, Any]:
    """``netkort synth`` on the command line (its peak memory is read as a child's)."""
    netkort = Path(sys.executable).with_name("netkort")
    command = (
        [str(netkort)]
        if netkort.exists()
        else [sys.executable, "-c", "from coverage.cli import main; main()"]
    )
    subprocess.run(
        [
            *command,
            "synth",
            "-o",
            out,
            "--scale",
            scale,
            "--addresses",
            str(addresses),
            "--seed",
            str(seed),
            "--sites",
            "0",  # addresses and mapping only: the mobile build is bench_national's
            "--quiet",
        ],
        check=True,
    )
    return {"extra": {"bytes": sum(p.stat().st_size for p in Path(out).iterdir())}}


def run_netkort(sources: str, home: str, region: str) -> dict[str, Any]:
    """``build_release`` into a fresh home, every stage timed."""
    from coverage.build import build_release
    from coverage.settings import Settings
    from coverage.sources import load_manifest

    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=Path(home), region=region)
    clock = StageClock()
    result = build_release(settings, load_manifest(sources, settings.data), reporter=clock)
    return {"stages": clock.stages, "extra": result.counts}


def run_naive(addresses: str, mapping: str, municipalities: str, out: str) -> dict[str, Any]:
    """The peer: read, make points, merge on raw text, write Parquet; no validation at all."""
    import geopandas as gpd
    import pandas as pd

    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    clock = StageClock()
    with clock.step("Boundaries: read, reproject, dissolve"):
        kommuner = gpd.read_file(municipalities).to_crs("EPSG:25832").dissolve("KOMKODE")
        kommuner.to_parquet(Path(out) / "municipalities.parquet")
    # The one fix an analyst is forced into: with default dtypes "10A" beside 10 makes husnr a mixed
    # column that to_parquet refuses, and kommunekode "0751" would silently become 751.
    text = {"husnr": str, "postnr": str, "kommunekode": str, "supplerendebynavn": str}
    with clock.step("Address register: read_csv, points_from_xy, to_parquet"):
        a = pd.read_csv(addresses, dtype=text)
        points = gpd.points_from_xy(a["etrs89koordinat_øst"], a["etrs89koordinat_nord"])
        gpd.GeoDataFrame(a, geometry=points, crs="EPSG:25832").to_parquet(
            Path(out) / "addresses.parquet"
        )
    with clock.step("Broadband mapping: read_csv, merge, to_parquet"):
        m = pd.read_csv(mapping, dtype={"husnr": str, "postnr": str})
        joined = m.merge(
            a[["id", "vejnavn", "husnr", "postnr"]], on=["vejnavn", "husnr", "postnr"], how="left"
        )
        joined.to_parquet(Path(out) / "availability.parquet")
    return {
        "stages": clock.stages,
        "extra": {
            "addresses": len(a),
            "mapping": len(m),
            "matched": int(joined["id"].notna().sum()),
        },
    }


def _prepare(scratch: Path, addresses: int, scale: str) -> Path:
    """Generate the inputs once per (size, scale, seed); later runs reuse them."""
    data = scratch / f"synth-{scale}-{addresses}-seed{SEED}"
    stamp = data / "bench-stamp.json"
    wanted = {"addresses": addresses, "scale": scale, "seed": SEED}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        print(f"reusing {data}", file=sys.stderr)
        return data
    shutil.rmtree(data, ignore_errors=True)
    print(f"generating {addresses:,} addresses into {data}", file=sys.stderr)
    run_synth(str(data), addresses, scale, SEED)
    stamp.write_text(json.dumps(wanted))
    return data


def bench_synth(argv: list[str] | None = None) -> dict[str, Any]:
    """Time ``netkort synth`` itself (no peer: nothing else writes these files)."""
    args = _arguments(argv)
    n = args.addresses or DEFAULT_SIZE[args.scale]
    out = args.scratch.resolve() / f"synth-timing-{args.scale}-{n}"
    name = f"synth-{args.scale}-{n // 1000}k"
    try:
        return compare(
            name,
            f"netkort synth: {n:,} addresses and {n:,} mapping rows written as CSV ({args.scale})",
            Case(
                "netkort synth",
                "bench.bench_build:run_synth",
                {"out": str(out), "addresses": n, "scale": args.scale, "seed": SEED},
            ),
            None,
            repeat=args.repeat,
            size={"addresses": n, "mapping_rows": n, "scale": args.scale, "seed": SEED},
            notes="netkort synth run on the command line: interpreter start-up and imports included.",
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["national", "region"], default="national")
    parser.add_argument("--addresses", type=int, default=None, help="default 3.8 M / 850 k")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(tempfile.gettempdir()) / "netkort-bench",
        help="where generated inputs and releases go (outside the repository)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the naive pandas peer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the build benchmark and write its result file(s)."""
    args = _arguments(argv)
    n = args.addresses or DEFAULT_SIZE[args.scale]
    scratch = args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    name = f"build-{args.scale}-{n // 1000}k"

    started = time.perf_counter()
    data = _prepare(scratch, n, args.scale)
    # synth writes absolute boundary paths; the peer reads the same municipality layer.
    dagi = tomllib.loads((data / "sources.toml").read_text(encoding="utf-8"))["boundaries"]
    result = compare(
        name,
        f"Build a release from {n:,} generated addresses and mapping rows ({args.scale})",
        Case(
            "netkort build",
            "bench.bench_build:run_netkort",
            {
                "sources": str(data / "sources.toml"),
                "home": str(scratch / "home"),
                "region": "all" if args.scale == "national" else "1082",
            },
        ),
        None
        if args.no_peer
        else Case(
            "naive pandas + geopandas",
            "bench.bench_build:run_naive",
            {
                "addresses": str(data / "adgangsadresser.csv"),
                "mapping": str(data / "bbk_udbudt.csv"),
                "municipalities": dagi["municipalities"],
                "out": str(scratch / "naive"),
            },
        ),
        repeat=args.repeat,
        size={"addresses": n, "mapping_rows": n, "scale": args.scale, "seed": SEED},
        targets=TARGETS if args.scale == "national" else None,
        notes=(
            "Wall time excludes interpreter start-up and imports; peak memory is the process's "
            "VmHWM, imports included. Inputs are CSV from netkort synth on the same machine."
        ),
    )
    print(f"{name}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
