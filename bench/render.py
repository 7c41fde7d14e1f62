"""Render the stored benchmark results as Markdown.

python -m bench.render                      # print the tables
python -m bench.render --write README.md    # replace the block between the bench markers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def load_results(directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every result file, by name."""
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]
    # The load script writes its own shape (no peer, no stages): it is quoted separately.
    return [r for r in results if isinstance(r, dict) and "subject" in r]


def _seconds(side: dict[str, Any] | None) -> str:
    if not side:
        return "–"
    w = side["wall_s"]
    return f"{w['best']:.1f} ({w['median']:.1f})"


def _size(size: dict[str, Any]) -> str:
    n = size.get("addresses")
    return f"{n:,} addresses" + (f", {size['scale']}" if "scale" in size else "") if n else ""


def _target(result: dict[str, Any]) -> str:
    targets, met = result.get("targets"), result.get("meets_targets")
    if not targets or not met:
        return ""
    parts = []
    if "wall_s" in targets:
        parts.append(f"{'✓' if met['wall_s'] else '✗'} < {targets['wall_s']:.0f} s")
    if "peak_rss_mb" in targets:
        gb = targets["peak_rss_mb"] / 1024
        parts.append(f"{'✓' if met['peak_rss_mb'] else '✗'} < {gb:.0f} GB")
    return ", ".join(parts)


def render(results: list[dict[str, Any]]) -> str:
    """A summary table, then each benchmark's stages, then the machines measured on."""
    lines = [
        "| benchmark | size | netkort s, best (median) | peer s, best (median) | ÷ peer "
        "| peak RSS MB netkort / peer | slowest stage | target | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        subject, peer = r["subject"], r.get("peer")
        peak = f"{subject['peak_rss_mb']:,.0f}" + (f" / {peer['peak_rss_mb']:,.0f}" if peer else "")
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "–"
        stage = r.get("slowest_stage", "")
        if stage:
            stage = f"{stage} ({subject['stages'][stage]['s']:.1f} s)"
        lines.append(
            f"| {r['name']} | {_size(r.get('size', {}))} | {_seconds(subject)} | {_seconds(peer)} "
            f"| {ratio} | {peak} | {stage} | {_target(r)} | {r['machine'].get('commit', '')} |"
        )
    for r in results:
        sides = [s for s in (r["subject"], r.get("peer")) if s and s.get("stages")]
        if not sides:
            continue
        lines += ["", f"**{r['name']}**: {r.get('title', '')}", ""]
        lines += ["| side | stage | s | peak RSS MB after |", "|---|---|---|---|"]
        for side in sides:
            for label, stage in side["stages"].items():
                lines.append(
                    f"| {side['label']} | {label} | {stage['s']:.1f} | {stage['peak_rss_mb']:,.0f} |"
                )
    machines = {json.dumps(_machine_line(r["machine"])): r["machine"] for r in results}
    if machines:
        lines.append("")
        for line in machines:
            lines.append(f"Machine: {json.loads(line)}")
    return "\n".join(lines) + "\n"


def _machine_line(m: dict[str, Any]) -> str:
    cpu = m.get("cpu", {}).get("Model name", "unknown CPU")
    libs = ", ".join(f"{k} {v}" for k, v in m.get("libraries", {}).items() if v)
    return (
        f"{cpu}, {m.get('cores_usable') or m.get('cores')} cores, {m.get('memory_gb')} GB; "
        f"Python {m.get('python')}; {libs}"
    )


def replace_block(text: str, block: str) -> str:
    """Put ``block`` between the markers (appending markers and block if there are none)."""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        return f"{head}{START}\n{block}{END}{tail}"
    return f"{text.rstrip()}\n\n{START}\n{block}{END}\n"


def main(argv: list[str] | None = None) -> None:
    """Print the tables, or write them into a Markdown file between the markers."""
    parser = argparse.ArgumentParser(description="Render benchmark results as Markdown.")
    parser.add_argument("--write", type=Path, help="Markdown file whose bench block to replace")
    args = parser.parse_args(argv)
    block = render(load_results())
    if args.write is None:
        sys.stdout.write(block)
        return
    text = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
    args.write.write_text(replace_block(text, block), encoding="utf-8")
    print(f"wrote the benchmark tables into {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
