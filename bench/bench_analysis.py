"""Analysis benchmark (issue 3): assessment under every rule set + zones + statistics, 850 k addresses.

    python -m bench.bench_analysis                   # region release (850,000 addresses)
    python -m bench.bench_analysis --repeat 1

The release is built once from ``netkort synth``'s region data into a cache folder
(:func:`region_home`, shared by the other region benchmarks) and reused.

* **netkort**: ``read_release_tables`` → ``assess_many`` under the four rule sets (classes, reasons
  in Danish and English) → ``underserved_zones`` per rule set (DDKN 100 m cells, edge neighbours and
  the 200 m join, clipped to the municipality) → ``municipality_stats``.
* **peer**: what a planner writes without netkort: a per-address Python loop for the assessment (the
  same rules, read from the same rule files, but no reasons), a plain ``shapely.unary_union``
  dissolve of the selected cells per municipality for the zones (no clipping, no join distance,
  corner-touching cells merge), and a pandas ``groupby`` for the statistics.

Both sides must agree on every address's class under every rule set; the count of disagreements is
stored with the result (and the run fails if there is one).

Targets: under 30 s and under 2 GB peak for netkort.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_build import DEFAULT_SIZE, _prepare
from bench.common import Case, StageClock, compare, write_result

TARGETS = {"wall_s": 30.0, "peak_rss_mb": 2048.0}
SCRATCH = Path(tempfile.gettempdir()) / "netkort-bench"
_TECHS = ("fiber", "coax", "xdsl", "fwa")


def region_home(scratch: Path = SCRATCH, addresses: int = DEFAULT_SIZE["region"]) -> Path:
    """A release home holding the region release built from the cached synth data (built once).

    The home is rebuilt when the synth data changed (its stamp) or the home is incomplete. The
    build runs on the command line so this process stays small.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    data = _prepare(scratch, addresses, "region")
    home = scratch / f"region-{addresses}-home"
    stamp = home / "bench-stamp.json"
    wanted = (data / "bench-stamp.json").read_text(encoding="utf-8")
    if (
        stamp.exists()
        and stamp.read_text(encoding="utf-8") == wanted
        and (home / "current").exists()
    ):
        return home
    shutil.rmtree(home, ignore_errors=True)
    print(f"building the region release into {home}", file=sys.stderr)
    started = time.perf_counter()
    netkort(
        "build", "--sources", str(data / "sources.toml"), "--home", str(home),
        "--region", "1082", "--quiet",
    )  # fmt: skip
    print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    stamp.write_text(wanted, encoding="utf-8")
    return home


def netkort(*args: str, stdout: Any = None) -> subprocess.CompletedProcess[str]:
    """Run the ``netkort`` command line (the venv's entry point, or the module)."""
    exe = Path(sys.executable).with_name("netkort")
    command = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from coverage.cli import main; main()"]
    )
    return subprocess.run([*command, *args], check=True, text=True, stdout=stdout)


def run_netkort(home: str) -> dict[str, Any]:
    """Assessment under every rule set, zones per rule set, statistics; each stage timed."""
    from coverage.assess import assess_many
    from coverage.release import ReleaseStore
    from coverage.rules import load_rule_sets
    from coverage.stats import municipality_stats, read_release_tables
    from coverage.zones import eligible_mask, underserved_zones

    release = ReleaseStore(Path(home)).current()
    clock = StageClock()
    with clock.step("Read tables"):
        tables = read_release_tables(release, geometry=True)
        munis = release.read("municipalities")
    with clock.step("Assess under 4 rule sets (classes + reasons da/en)"):
        assessments = assess_many(tables.addresses, tables.availability, load_rule_sets())
    zones = {}
    with clock.step("Zones per rule set (DDKN 100 m, 200 m join, clipped)"):
        for rid, assessment in assessments.items():
            zones[rid] = underserved_zones(
                tables.addresses, eligible_mask(assessment), munis, assessment=assessment, label=rid
            )
    with clock.step("Statistics per municipality"):
        stats = municipality_stats(
            tables.addresses, assessments, tables.availability, tables.municipalities
        )
    _save_classes(home, "netkort", {k: a["class"] for k, a in assessments.items()})
    return {
        "stages": clock.stages,
        "extra": {
            "addresses": len(tables.addresses),
            "eligible": {k: int(eligible_mask(a).sum()) for k, a in assessments.items()},
            "zones": {k: len(z) for k, z in zones.items()},
            "stats_rows": len(stats),
        },
    }


def run_naive(home: str) -> dict[str, Any]:
    """The peer: a Python loop per address and rule set, a unary_union dissolve, a groupby."""
    import pandas as pd
    import shapely

    from coverage.release import ReleaseStore
    from coverage.rules import load_rule_sets
    from coverage.stats import read_release_tables

    release = ReleaseStore(Path(home)).current()
    clock = StageClock()
    with clock.step("Read tables"):
        tables = read_release_tables(release, geometry=True)
    rule_sets = load_rule_sets()
    a, m = tables.addresses, tables.availability
    with clock.step("Assess under 4 rule sets (Python loop per address)"):
        speeds = [f"{t}_{d}" for t in (*_TECHS, "mobile") for d in ("down", "up")]
        by_id = {
            row[0]: row[1:]
            for row in m.loc[m["address_id"].notna(), ["address_id", *speeds]].itertuples(
                index=False
            )
        }
        ids = a["id"].tolist()
        zones = a["zone"].astype(object).where(a["zone"].notna(), None).tolist()
        classes = {
            rules.id: [
                _naive_class(by_id.get(i), z, rules) for i, z in zip(ids, zones, strict=True)
            ]
            for rules in rule_sets
        }
    counts = {}
    with clock.step("Zones per rule set (unary_union of cells per municipality)"):
        x, y = a.geometry.x.to_numpy(), a.geometry.y.to_numpy()
        kode = a["kommunekode"].astype(str).to_numpy()
        for rid, labels in classes.items():
            chosen = np.isin(np.asarray(labels), ("eligible", "eligible_blue", "eligible_if_zone"))
            cells = pd.DataFrame(
                {"k": kode[chosen], "r": y[chosen] // 100, "c": x[chosen] // 100}
            ).drop_duplicates()
            parts = 0
            for _, group in cells.groupby("k"):
                boxes = shapely.box(
                    group["c"] * 100,
                    group["r"] * 100,
                    group["c"] * 100 + 100,
                    group["r"] * 100 + 100,
                )
                parts += len(shapely.get_parts(shapely.unary_union(boxes)))
            counts[rid] = parts
    with clock.step("Statistics per municipality (groupby)"):
        frame = pd.DataFrame({"k": kode, **classes})
        stats = [frame.groupby("k")[rid].value_counts().unstack(fill_value=0) for rid in classes]
    _save_classes(home, "naive", classes)
    return {
        "stages": clock.stages,
        "extra": {"addresses": len(a), "zones": counts, "stats_rows": len(stats[0])},
    }


def _naive_class(speeds: tuple | None, zone: str | None, rules: Any) -> str:
    """One address under one rule set, the obvious way (three-valued: None is "not known")."""
    if speeds is None:
        return "no_data"
    down = [speeds[2 * k] for k in range(4)]
    up = [speeds[2 * k + 1] for k in range(4)]
    best, best_up = None, None
    for d, u in zip(down, up, strict=True):
        if d != d:  # NaN: the file had no such column
            continue
        u_known = u if u == u else None
        if best is None or d > best or (d == best and (u_known or -1) > (best_up or -1)):
            best, best_up = d, u_known
    if best == 0:
        best_up = 0.0

    def test(value: float | None, limit: float, how: str) -> bool | None:
        if value is None:
            return None
        return value <= limit if how == "le" else value < limit

    fixed = rules.fixed
    outcomes = [test(best, fixed.down, fixed.comparison)]
    if fixed.up is not None:
        outcomes.append(test(best_up, fixed.up, fixed.comparison))
    if fixed.combine == "or":
        speed = True if True in outcomes else (False if all(o is False for o in outcomes) else None)
    else:
        speed = False if False in outcomes else (True if all(outcomes) else None)
    blue: bool | None = False
    if rules.blue is not None:
        blue = None if best is None else rules.blue.above < best <= rules.blue.down_max
    mobile = rules.mobile_ceiling
    if mobile is not None:
        value = speeds[8] if speeds[8] == speeds[8] else None
        ok = test(value, mobile.down, mobile.comparison)
        speed = False if False in (speed, ok) else (True if speed and ok else None)
        blue = False if False in (blue, ok) else (True if blue and ok else None)
    as_blue = speed is not True and blue is True
    if speed is not True and not as_blue:
        return "not_eligible"
    if zone is None or zone in rules.zone.conditional_zones:
        return "eligible_if_zone"
    if zone not in rules.zone.allowed:
        return "not_eligible"
    return "eligible_blue" if as_blue else "eligible"


def _save_classes(home: str, side: str, classes: dict[str, Any]) -> None:
    """Each side's classes, for the parent to compare (small: category codes)."""
    import pandas as pd

    from coverage.assess import CLASSES

    frame = pd.DataFrame(
        {k: pd.Categorical(v, categories=CLASSES).codes for k, v in classes.items()}
    )
    frame.to_parquet(Path(home).parent / f"analysis-classes-{side}.parquet")


def _agreement(home: Path) -> dict[str, int]:
    """Addresses whose class differs between netkort and the peer, per rule set."""
    import pandas as pd

    ours = pd.read_parquet(home.parent / "analysis-classes-netkort.parquet")
    theirs = pd.read_parquet(home.parent / "analysis-classes-naive.parquet")
    return {k: int((ours[k] != theirs[k]).sum()) for k in ours.columns}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the analysis benchmark and write ``results/analysis-region-850k.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args(argv)
    home = region_home(args.scratch.resolve())
    n = DEFAULT_SIZE["region"]
    name = f"analysis-region-{n // 1000}k"
    result = compare(
        name,
        f"Assessment under 4 rule sets + zones + statistics for {n:,} generated addresses",
        Case("netkort assess_many + underserved_zones + municipality_stats",
             "bench.bench_analysis:run_netkort", {"home": str(home)}),
        None if args.no_peer else Case(
            "per-address Python loop + unary_union dissolve + groupby",
            "bench.bench_analysis:run_naive", {"home": str(home)},
        ),
        repeat=args.repeat,
        size={"addresses": n, "rule_sets": 4, "scale": "region", "seed": 1082},
        targets=TARGETS,
        notes=(
            "Both sides read the same release. netkort also writes a reason in Danish and English "
            "per address and rule set, joins zone cells within 200 m and clips zones to the "
            "municipality; the peer does none of that. Zone counts differ by design (the peer "
            "merges corner-touching cells and never joins across a field)."
        ),
    )  # fmt: skip
    if not args.no_peer:
        result["class_disagreements"] = _agreement(home)
        write_result(name, result)
        if any(result["class_disagreements"].values()):
            raise SystemExit(f"classes differ: {json.dumps(result['class_disagreements'])}")
    return result


if __name__ == "__main__":
    main()
