"""Run benchmarks by name and refresh the tables in bench/README.md.

python -m bench.run                      # all of them
python -m bench.run build-region         # one
python -m bench.run build-national --repeat 1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bench import bench_build, render

#: name -> function taking extra command-line arguments.
BENCHMARKS: dict[str, Callable[[list[str]], object]] = {
    "synth-region": lambda extra: bench_build.bench_synth(["--scale", "region", *extra]),
    "synth-national": lambda extra: bench_build.bench_synth(["--scale", "national", *extra]),
    "build-region": lambda extra: bench_build.main(["--scale", "region", *extra]),
    "build-national": lambda extra: bench_build.main(["--scale", "national", *extra]),
}
README = Path(__file__).resolve().parent / "README.md"


def main(argv: list[str] | None = None) -> None:
    """Run the chosen benchmarks (default all), then re-render bench/README.md."""
    parser = argparse.ArgumentParser(description="Run netkort's benchmarks.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (best / median)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    extra = ["--repeat", str(args.repeat)] if args.repeat else []
    for name in args.names or list(BENCHMARKS):
        BENCHMARKS[name](extra)
    render.main(["--write", str(README)])


if __name__ == "__main__":
    main()
