"""Release diff benchmark (issue 9): two region-size releases compared under a rule set.

    python -m bench.bench_diff
    python -m bench.bench_diff --repeat 1

Release A is built from ``netkort synth``'s region data; release B from a copy of the same data
whose mapping was edited the way a yearly mapping changes: 3 % of rows get fibre 1000/1000
(a rollout), 2 % lose half their mobile speed, 0.5 % of rows are dropped. Both go into one cached
home (built once).

* **netkort**: ``diff_releases(A, B, rule_set="2024-2025")``: per address added / removed / got or
  lost 100 Mbit/s / speed / technology / class changes, counts per municipality, zone changes.
* **peer**: pandas: read both availability tables and the addresses' municipality, outer ``merge``
  on the address id, compare the ten speed columns, ``groupby`` municipality. Speeds only: no
  classes, no zones.

Target: under 20 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_analysis import SCRATCH, netkort
from bench.bench_build import DEFAULT_SIZE, _prepare
from bench.common import Case, StageClock, compare

RULES = "2024-2025"
TARGETS = {"wall_s": 20.0}
SEED = 1082
_SPEEDS = [f"{t}_{d}" for t in ("fiber", "coax", "xdsl", "fwa", "mobile") for d in ("down", "up")]


def diff_home(scratch: Path = SCRATCH) -> Path:
    """A home with release A (synth region data) and release B (edited mapping), built once."""
    data = _prepare(scratch, DEFAULT_SIZE["region"], "region")
    home = scratch / "diff-region-home"
    stamp = home / "bench-stamp.json"
    wanted = (data / "bench-stamp.json").read_text(encoding="utf-8")
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return home
    shutil.rmtree(home, ignore_errors=True)
    edited = scratch / "diff-region-edited"
    shutil.rmtree(edited, ignore_errors=True)
    edited.mkdir(parents=True)
    mapping = edited / "bbk_udbudt.csv"
    _edit_mapping(data / "bbk_udbudt.csv", mapping)
    manifest = (data / "sources.toml").read_text(encoding="utf-8")
    old = json.dumps(str(data / "bbk_udbudt.csv"), ensure_ascii=False)
    (edited / "sources.toml").write_text(
        manifest.replace(old, json.dumps(str(mapping), ensure_ascii=False)), encoding="utf-8"
    )
    for sources in (data / "sources.toml", edited / "sources.toml"):
        print(f"building a release from {sources}", file=sys.stderr)
        netkort(
            "build", "--sources", str(sources), "--home", str(home), "--region", "1082", "--quiet"
        )
    stamp.write_text(wanted, encoding="utf-8")
    return home


def _edit_mapping(source: Path, target: Path) -> None:
    """A year's changes: fibre rollout on 3 %, mobile halved on 2 %, 0.5 % of rows gone."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from coverage.synth_files import write_csv

    table = pacsv.read_csv(
        source,
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(pacsv.read_csv(source).column_names, pa.string())
        ),
    )
    rng = np.random.default_rng(SEED)
    n = table.num_rows
    roll = pa.array(rng.random(n) < 0.03)
    halve = pa.array(rng.random(n) < 0.02)
    for column in ("fiber_ned", "fiber_op"):
        table = table.set_column(
            table.column_names.index(column), column, pc.if_else(roll, "1000", table[column])
        )
    for column in ("mobil_ned", "mobil_op"):
        value = pc.cast(table[column], pa.float64())
        halved = pc.cast(pc.round(pc.divide(value, 2.0)), pa.int64())
        table = table.set_column(
            table.column_names.index(column),
            column,
            pc.if_else(halve, pc.cast(halved, pa.string()), table[column]),
        )
    write_csv(table.filter(pa.array(rng.random(n) >= 0.005)), target)


def _releases(home: str) -> tuple[Any, Any]:
    from coverage.release import ReleaseStore

    found = ReleaseStore(Path(home)).list()
    return found[-2], found[-1]


def run_netkort(home: str) -> dict[str, Any]:
    """``diff_releases`` under the 2024-2025 rules."""
    from coverage.diff import diff_releases

    a, b = _releases(home)
    clock = StageClock()
    with clock.step("diff_releases (addresses, classes, zones, counts)"):
        diff = diff_releases(a, b, rule_set=RULES)
    return {
        "stages": clock.stages,
        "extra": {"totals": diff.totals(), "zone_totals": diff.zone_totals()},
    }


def run_pandas(home: str) -> dict[str, Any]:
    """The peer: merge the two availability tables on the address id and compare speeds."""
    import pandas as pd

    a, b = _releases(home)
    clock = StageClock()
    with clock.step("read both releases"):
        columns = ["address_id", *_SPEEDS]
        left = pd.read_parquet(a.table_path("availability"), columns=columns)
        right = pd.read_parquet(b.table_path("availability"), columns=columns)
        where = pd.read_parquet(b.table_path("addresses"), columns=["id", "kommunekode"])
    with clock.step("outer merge on address id, compare speeds, count per municipality"):
        left, right = left.dropna(subset="address_id"), right.dropna(subset="address_id")
        both = left.merge(
            right, on="address_id", how="outer", suffixes=("_a", "_b"), indicator=True
        )
        changed = both["_merge"] != "both"
        for column in _SPEEDS:
            x, y = both[f"{column}_a"], both[f"{column}_b"]
            changed |= ~((x == y) | (x.isna() & y.isna())).fillna(False)
        per = both.loc[changed, ["address_id"]].merge(where, left_on="address_id", right_on="id")
        counts = per.groupby("kommunekode").size()
    return {
        "stages": clock.stages,
        "extra": {"changed": int(changed.sum()), "municipalities": len(counts)},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the diff benchmark and write ``results/diff-region-850k.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    args = parser.parse_args(argv)
    home = diff_home(args.scratch.resolve())
    name = "diff-region-850k"
    result = compare(
        name,
        "Diff of two region-size releases (850,000 addresses) under the 2024-2025 rules",
        Case("netkort diff_releases", "bench.bench_diff:run_netkort", {"home": str(home)}),
        Case("pandas merge on address id, speeds only", "bench.bench_diff:run_pandas",
             {"home": str(home)}),
        repeat=args.repeat,
        size={"addresses": DEFAULT_SIZE["region"], "releases": 2, "scale": "region", "seed": SEED},
        targets=TARGETS,
        notes=(
            "Release B: fibre 1000/1000 on 3 % of mapping rows, mobile halved on 2 %, 0.5 % of rows "
            "dropped. netkort also compares classes and zones under the rule set (it assesses "
            "both releases); the peer compares speeds only."
        ),
    )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
