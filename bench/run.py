"""Run benchmarks by name and refresh the tables in bench/README.md.

python -m bench.run                      # all of them
python -m bench.run build-region         # one
python -m bench.run build-national --repeat 1
python -m bench.run points analysis-region autocomplete-region
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    bench_analysis,
    bench_autocomplete,
    bench_build,
    bench_diff,
    bench_http,
    bench_mobile,
    bench_national,
    bench_pipeline,
    bench_points,
    bench_tiles,
    render,
)

#: name -> function taking extra command-line arguments.
BENCHMARKS: dict[str, Callable[[list[str]], object]] = {
    "synth-region": lambda extra: bench_build.bench_synth(["--scale", "region", *extra]),
    "synth-national": lambda extra: bench_build.bench_synth(["--scale", "national", *extra]),
    "build-region": lambda extra: bench_build.main(["--scale", "region", *extra]),
    "build-national": lambda extra: bench_build.main(["--scale", "national", *extra]),
    "points": bench_points.main,
    "analysis-region": bench_analysis.main,
    "autocomplete-region": bench_autocomplete.main,
    "diff-region": bench_diff.main,
    "pipeline-region": bench_pipeline.main,
    "mobile-model": lambda extra: bench_mobile.main(["model", *extra]),
    "mobile-aggregate": lambda extra: bench_mobile.main(["aggregate", *extra]),
    "build-national-mobile": bench_national.main,
    "http-lookup": bench_http.main,
    "raster-tiles": lambda extra: bench_tiles.main(["raster", *extra]),
    "vector-tiles": lambda extra: bench_tiles.main(["vector", *extra]),
}
README = Path(__file__).resolve().parent / "README.md"
DETAILS_START, DETAILS_END = "<!-- bench:details:start -->", "<!-- bench:details:end -->"


def details(results: list[dict[str, Any]]) -> str:
    """Each result's own table (``details``: columns and rows) with its targets and checks."""
    lines: list[str] = []
    for r in results:
        table = r.get("details")
        if not table:
            continue
        lines += ["", f"**{r['name']}**: {r.get('title', '')}", ""]
        lines.append("| " + " | ".join(table["columns"]) + " |")
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table["rows"]]
        checks = {
            "targets": r.get("targets"),
            "met": r.get("meets_targets"),
            "throughput": r.get("throughput"),
            "disagreements": r.get("disagreements_on_sample") or r.get("class_disagreements"),
        }
        shown = {k: v for k, v in checks.items() if v}
        if shown:
            lines += ["", "`" + json.dumps(shown, ensure_ascii=False) + "`"]
        load = r.get("machine", {}).get("load_average_before")
        if load:
            lines += ["", f"Load average before the run: {', '.join(map(str, load))}."]
    return "\n".join(lines).lstrip("\n") + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def write_details(path: Path = README) -> None:
    """Replace the details block of ``path`` (appended when it has no markers)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = details([r for r in render.load_results() if "subject" in r])
    if DETAILS_START in text and DETAILS_END in text:
        head, rest = text.split(DETAILS_START, 1)
        _, tail = rest.split(DETAILS_END, 1)
        text = f"{head}{DETAILS_START}\n{block}{DETAILS_END}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{DETAILS_START}\n{block}{DETAILS_END}\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Run the chosen benchmarks (default all), then re-render bench/README.md."""
    parser = argparse.ArgumentParser(description="Run netkort's benchmarks.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (best / median)")
    parser.add_argument(
        "--render-only", action="store_true", help="only re-render README.md from the results"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    extra = ["--repeat", str(args.repeat)] if args.repeat else []
    if not args.render_only:
        for name in args.names or list(BENCHMARKS):
            BENCHMARKS[name](extra)
    write_tables(README)
    write_details(README)


def write_tables(path: Path = README) -> None:
    """The summary and stage tables (``bench.render``) between the bench markers of ``path``.

    Only results in the shape ``bench.common.compare`` writes (with a ``subject``) are rendered;
    others in ``results/`` (e.g. the load test's) are skipped instead of failing the whole table.
    """
    results = [r for r in render.load_results() if "subject" in r]
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(render.replace_block(text, render.render(results)), encoding="utf-8")


if __name__ == "__main__":
    main()
