"""B3: autocomplete latency by prefix length over the region release (850,000 addresses).

    python -m bench.bench_autocomplete
    python -m bench.bench_autocomplete --per-length 200 --peer-per-length 5 --repeat 1

Prefixes are the first 1 to 12 characters of the display texts of randomly drawn addresses
("Synt. Gl. Bækvænget 12, 8654 Bryrup" → "S", "Sy", ... "Synt. Gl. Bæ"), as a citizen types them.

* **netkort**: ``AddressIndex.autocomplete(prefix, 10)`` plus the dicts the HTTP route returns,
  timed call by call after a warm-up: server-side latency, without HTTP (B2 measures HTTP).
* **peer**: ``rapidfuzz.process.extract(prefix, texts, scorer=fuzz.partial_ratio, limit=10)`` over
  all 850,000 display texts: the fuzzy search one writes without an index. It is slow, so it runs
  on fewer prefixes per length (``--peer-per-length``).

Target: p99 under 20 ms at every prefix length (issue 4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_analysis import SCRATCH, region_home
from bench.common import Case, StageClock, compare, write_result

LENGTHS = tuple(range(1, 13))
TARGET_P99_MS = 20.0
SEED = 1082


def make_queries(home: Path, out: Path, per_length: int) -> Path:
    """``per_length`` prefixes of each length, from randomly drawn addresses' display texts."""
    import pandas as pd

    from coverage.addresstext import address_text
    from coverage.release import ReleaseStore

    columns = ["vejnavn", "husnr", "postnr", "postnrnavn"]
    table = pd.read_parquet(ReleaseStore(home).current().table_path("addresses"), columns=columns)
    rng = np.random.default_rng(SEED)
    queries = {}
    for length in LENGTHS:
        rows = table.iloc[rng.integers(0, len(table), per_length)]
        texts = [address_text(*(str(v) for v in r)) for r in rows.itertuples(index=False)]
        queries[str(length)] = [t[:length] for t in texts]
    out.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {
        "n": len(ms),
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p90": round(float(np.percentile(ms, 90)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
        "max": round(float(ms.max()), 3),
    }


def run_netkort(home: str, queries: str) -> dict[str, Any]:
    """Latency of each autocomplete call, per prefix length."""
    from coverage.lookup import AddressIndex
    from coverage.release import ReleaseStore

    asked = json.loads(Path(queries).read_text(encoding="utf-8"))
    clock = StageClock()
    with clock.step("Prepare: AddressIndex.from_release"):
        index = AddressIndex.from_release(ReleaseStore(Path(home)).current())
    with clock.step("Warm-up (60 prefixes)"):
        for length in LENGTHS:
            for q in asked[str(length)][:5]:
                index.autocomplete(q, 10)
    latency, found = {}, 0
    with clock.step("Answer every prefix"):
        for length in LENGTHS:
            samples = []
            for q in asked[str(length)]:
                started = time.perf_counter()
                hits = index.autocomplete(q, 10)
                results = [
                    {
                        "id": h.id,
                        "text": h.text,
                        "position_known": h.position_known,
                        "match": h.quality,
                    }
                    for h in hits
                ]
                samples.append(time.perf_counter() - started)
                found += bool(results)
            latency[str(length)] = _percentiles(samples)
    return {"stages": clock.stages, "extra": {"latency_ms": latency, "answered": found}}


def run_rapidfuzz(home: str, queries: str, per_length: int) -> dict[str, Any]:
    """The peer: rapidfuzz over every display text, no index."""
    import pandas as pd
    from rapidfuzz import fuzz, process, utils

    from coverage.release import ReleaseStore

    asked = json.loads(Path(queries).read_text(encoding="utf-8"))
    clock = StageClock()
    with clock.step("Prepare: display texts of every address"):
        columns = ["vejnavn", "husnr", "postnr", "postnrnavn"]
        a = pd.read_parquet(
            ReleaseStore(Path(home)).current().table_path("addresses"), columns=columns
        )
        texts = (
            a["vejnavn"] + " " + a["husnr"] + ", " + a["postnr"] + " " + a["postnrnavn"]
        ).tolist()
        processed = [utils.default_process(t) for t in texts]
    latency, found = {}, 0
    with clock.step("Answer every prefix"):
        for length in LENGTHS:
            samples = []
            for q in asked[str(length)][:per_length]:
                started = time.perf_counter()
                hits = process.extract(
                    utils.default_process(q), processed, scorer=fuzz.partial_ratio, limit=10
                )
                results = [{"text": texts[k], "score": s} for _, s, k in hits]
                samples.append(time.perf_counter() - started)
                found += bool(results)
            latency[str(length)] = _percentiles(samples)
    return {"stages": clock.stages, "extra": {"latency_ms": latency, "answered": found}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run B3 and write ``results/autocomplete-region-850k.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-length", type=int, default=500, help="netkort prefixes per length")
    parser.add_argument("--peer-per-length", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    args = parser.parse_args(argv)
    scratch = args.scratch.resolve()
    home = region_home(scratch)
    queries = make_queries(home, scratch / "autocomplete-queries.json", args.per_length)
    name = "autocomplete-region-850k"
    result = compare(
        name,
        "B3: autocomplete latency by prefix length, 850,000 addresses, server-side",
        Case("netkort AddressIndex.autocomplete", "bench.bench_autocomplete:run_netkort",
             {"home": str(home), "queries": str(queries)}),
        Case("rapidfuzz partial_ratio over all texts", "bench.bench_autocomplete:run_rapidfuzz",
             {"home": str(home), "queries": str(queries), "per_length": args.peer_per_length}),
        repeat=args.repeat,
        size={"addresses": 850_000, "prefixes_per_length": args.per_length,
              "peer_prefixes_per_length": args.peer_per_length, "scale": "region"},
        notes=(
            "Latency per call in the benchmark process (no HTTP). Wall time is the whole run "
            "(index build and all prefixes) and not comparable between the sides: the peer "
            "answers fewer prefixes. Compare the per-length percentiles."
        ),
    )  # fmt: skip
    ours = result["subject"]["extra"]["latency_ms"]
    theirs = result["peer"]["extra"]["latency_ms"]
    worst = max(v["p99"] for v in ours.values())
    result["targets"] = {"p99_ms": TARGET_P99_MS}
    result["meets_targets"] = {"p99_ms": worst < TARGET_P99_MS}
    result["worst_p99_ms"] = worst
    result["details"] = {
        "columns": ["prefix length", "netkort p50 ms", "netkort p99 ms", "netkort max ms",
                    "rapidfuzz p50 ms", "rapidfuzz p99 ms", "rapidfuzz ÷ netkort (p50)"],
        "rows": [
            [int(k), ours[k]["p50"], ours[k]["p99"], ours[k]["max"], theirs[k]["p50"],
             theirs[k]["p99"], round(theirs[k]["p50"] / ours[k]["p50"])]
            for k in ours
        ],
    }  # fmt: skip
    write_result(name, result)
    return result


if __name__ == "__main__":
    main()
