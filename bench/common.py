"""Benchmark plumbing: run a case and its peer in fresh processes, time them, read peak memory.

Every repetition runs in a new Python process (``python -m bench.common TARGET KWARGS OUT``), so its
peak resident set size is its own: the child reads ``VmHWM`` from ``/proc/self/status`` and
``getrusage`` for itself and for any process it started (``netkort`` on the command line), and writes
one JSON line. The parent keeps best-of-N and median wall time, the largest peak, the stages of the
best run, the machine, library versions and git commit, and writes ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LIBRARIES = ("numpy", "pandas", "pyarrow", "shapely", "geopandas", "pyogrio", "pyproj")


@dataclass
class Case:
    """One side of a comparison: a function ``module:name`` called with keyword arguments.

    The function returns a dict with optional ``stages`` ({label: seconds}) and ``extra`` (counts);
    wall time and memory are measured around it by the child process.
    """

    label: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class StageClock:
    """A build reporter (``step(label)``) that records each stage's seconds and the peak so far."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Time one stage; labels that name a release id are shortened so runs compare."""
        started = time.perf_counter()
        yield
        label = re.sub(r"release \S+$", "release", label)
        self.stages[label] = {
            "s": round(time.perf_counter() - started, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB (VmHWM; getrusage where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: The only host a benchmark contacts.
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def process_mb(pid: int, key: str = "VmRSS") -> float:
    """A memory figure of another process from ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), MB;
    NaN once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def run_once(case: Case) -> dict[str, Any]:
    """Run a case in a fresh process and return its measurement."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.common", case.target, json.dumps(case.kwargs), str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{case.label} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)


def measure(case: Case, repeat: int) -> dict[str, Any]:
    """Best and median wall time over ``repeat`` fresh-process runs, the largest peak memory."""
    runs = []
    for i in range(repeat):
        run = run_once(case)
        runs.append(run)
        print(
            f"  {case.label}: run {i + 1}/{repeat} {run['wall_s']:.2f} s, "
            f"peak {run['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
    walls = [r["wall_s"] for r in runs]
    best = runs[walls.index(min(walls))]
    return {
        "label": case.label,
        "wall_s": {
            "best": round(min(walls), 3),
            "median": round(statistics.median(walls), 3),
            "runs": [round(w, 3) for w in walls],
        },
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "stages": best.get("stages", {}),
        "extra": best.get("extra", {}),
    }


def compare(
    name: str,
    title: str,
    subject: Case,
    peer: Case | None,
    *,
    repeat: int,
    size: dict[str, Any],
    targets: dict[str, float] | None = None,
    notes: str = "",
) -> dict[str, Any]:
    """Measure a subject and its peer in the same run and write ``results/<name>.json``."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    print(f"{name}: {subject.label}", file=sys.stderr)
    result: dict[str, Any] = {
        "name": name,
        "title": title,
        "created": started,
        "size": size,
        "repeat": repeat,
        "subject": measure(subject, repeat),
    }
    if peer is not None:
        print(f"{name}: peer {peer.label}", file=sys.stderr)
        result["peer"] = measure(peer, repeat)
        result["ratio"] = round(
            result["subject"]["wall_s"]["best"] / result["peer"]["wall_s"]["best"], 2
        )
    stages = result["subject"]["stages"]
    if stages:
        slowest = max(stages, key=lambda k: stages[k]["s"] if isinstance(stages[k], dict) else 0)
        result["slowest_stage"] = slowest
    if targets:
        result["targets"] = targets
        result["meets_targets"] = {
            "wall_s": result["subject"]["wall_s"]["best"] <= targets.get("wall_s", float("inf")),
            "peak_rss_mb": result["subject"]["peak_rss_mb"]
            <= targets.get("peak_rss_mb", float("inf")),
        }
    result["notes"] = notes
    result["machine"] = machine()
    result["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    write_result(name, result)
    return result


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and library versions, and the git commit measured."""
    info: dict[str, Any] = {
        "cpu": _lscpu(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": {},
        "commit": _git_commit(),
    }
    for lib in LIBRARIES:
        try:
            info["libraries"][lib] = version(lib)
        except PackageNotFoundError:
            info["libraries"][lib] = None
    return info


def _lscpu() -> dict[str, str]:
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "CPU max MHz", "L3")
    try:
        text = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, env={"LC_ALL": "C"}
        ).stdout
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keep or key.strip().startswith("L3"):
            out[key.strip()] = value.strip()
    return out


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write one result file (small, stable key order, so diffs stay readable)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _child(target: str, kwargs_json: str, out: str) -> None:
    """Run ``module:function(**kwargs)`` once and write wall time, peak memory and its result."""
    module_name, _, func_name = target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    kwargs = json.loads(kwargs_json)
    started = time.perf_counter()
    returned = func(**kwargs) or {}
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    payload = {
        "wall_s": wall,
        "peak_rss_mb": round(max(peak_rss_mb(), children), 1),
        "stages": returned.get("stages", {}),
        "extra": returned.get("extra", {}),
    }
    Path(out).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    _child(*sys.argv[1:4])
