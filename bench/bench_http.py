"""B2: HTTP lookup latency and throughput, netkort against a naive pandas service, same run.

    python -m bench.bench_http                              # region release, 20 s per wrk run
    python -m bench.bench_http --duration 10 --queries 1000
    python -m bench.bench_http --home /srv/netkort          # any release home

Both servers run on 127.0.0.1 on a free port, one at a time, against the same release:

* **netkort**: ``netkort serve`` (uvicorn, ONE worker process, uvloop and httptools). The lookup
  route is ``async``: a lookup by text or id runs on the event loop (no threadpool hand-off), a
  position lookup (it samples mobile rasters) in the threadpool, and the answer is serialised with
  orjson. It loads the release, builds the address index and assesses every address under every
  rule set before it answers.
* **peer**: what one writes without an index (:func:`create_naive_app`): a FastAPI app under the
  same uvicorn settings that, at start, joins addresses, their mapping row and the class and reasons
  under every rule set into one wide pandas table (``assess_many``, as netkort does), and answers a
  lookup with a boolean filter over that table (``id ==`` for an id; ``vejnavn == & husnr == &
  postnr ==`` for text parsed with a regular expression). No fuzzy matching, no suggestions, no
  zones, no mobile observations, no reports, no response validation: it does less per answer.

The queries are real lookups drawn from the release's addresses (seed 1082): half by register id
(``/api/lookup?id=...``), half by display text (``/api/lookup?q=Strandvejen%2052,%208305%20Samsø``).
Each server is then measured the same way:

1. a warm-up over a tenth of the queries (set aside), then every other query once from a
   sequential keep-alive client (``http.client``): single-request latency p50 / p99, and every
   answer decoded and checked (``address.id`` must be the address the query was drawn from);
2. ``wrk`` with a Lua script that cycles through the queries (each thread from its own offset), for
   ``--duration`` seconds at 1 connection and at 16 connections (2 threads: the machine's cores);
3. the server's resident memory (``VmRSS``) when ready, after the warm-up and after the load, and its
   peak (``VmHWM``); and the server's CPU time per request during each wrk run, which depends far
   less than requests per second on what else the machine runs at the time.

Bounded by design: only 127.0.0.1 is contacted, every wrk run stops after ``--duration`` seconds
(at most 120), and the servers are stopped at the end, whatever happens.

Targets (issue 4): single lookup p50 < 2 ms and p99 < 10 ms; at least 1,500 lookups/s at 16
connections; server memory under 1 GB with a region-size release loaded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import numpy as np
import pandas as pd

from bench.common import HOST, REPO, Case, StageClock, compare, free_port, process_mb, write_result

SEED = 1082
MAX_DURATION = 120.0
CONNECTIONS = (1, 16)
TARGETS = {"p50_ms": 2.0, "p99_ms": 10.0, "rps_16": 1500.0, "rss_mb": 1024.0}

WRK_SCRIPT = """
-- The request paths in NETKORT_WRK_PATHS: cycled through, each thread from its own offset, or
-- picked at random per request when NETKORT_WRK_ORDER is "random".
local paths = {}
for line in io.lines(os.getenv("NETKORT_WRK_PATHS")) do paths[#paths + 1] = line end
local n = #paths
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads)
end
local random = os.getenv("NETKORT_WRK_ORDER") == "random"
local i = 0
function init(args)
  i = ((offset or 1) - 1) * 7919
  if random then math.randomseed(os.time() + i) end
end
function request()
  if random then return wrk.format("GET", paths[math.random(n)]) end
  i = i + 1
  return wrk.format("GET", paths[(i % n) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'NETKORT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, '
    .. '"p999_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


# -- servers on loopback --------------------------------------------------------------------------


@dataclass
class Served:
    """A server process we started on 127.0.0.1, in its own process group."""

    label: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, path: str = "/healthz", timeout: float = 600.0) -> float:
        """Poll ``path`` until it answers 200; the seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                status, _ = get(self.port, path, timeout=5)
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer {path} within {timeout:.0f} s")

    def rss_mb(self) -> float:
        """Resident memory now (``VmRSS``), MB."""
        return process_mb(self.process.pid, "VmRSS")

    def peak_rss_mb(self) -> float:
        """Peak resident memory so far (``VmHWM``), MB."""
        return process_mb(self.process.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        """CPU time the server used so far (all threads), seconds."""
        after_name = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, share: float = 0.05, window: float = 0.5, timeout: float = 300.0) -> float:
        """Wait until the server uses less than ``share`` of a core over ``window`` seconds (work
        it started in the background, like warming tile layers, is done); the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - before < share * window:
                break
        return round(time.monotonic() - started, 1)

    def tail(self, chars: int = 3000) -> str:
        """The end of the server's log."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process group we started (TERM, then KILL after 30 s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.unlink(missing_ok=True)


def serve(label: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Served:
    """Start a server command; ``{port}`` in ``argv`` becomes a free loopback port."""
    port = free_port()
    fd, log = tempfile.mkstemp(prefix="netkort-bench-", suffix=".log")
    with os.fdopen(fd, "wb") as handle:
        process = subprocess.Popen(
            [a.replace("{port}", str(port)) for a in argv],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Served(label, process, port, Path(log))


def uvicorn_argv(factory: str) -> list[str]:
    """uvicorn with an app factory on loopback, one worker, no access log."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--host", HOST, "--port", "{port}",
        "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def start_netkort(home: Path, scratch: Path) -> Served:
    """``netkort serve`` (uvicorn, one worker) on a free loopback port; reports go to a throw-away
    SQLite file so the cached release home is never written to."""
    exe = Path(sys.executable).with_name("netkort")
    command = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from coverage.cli import main; main()"]
    )
    argv = [
        *command, "serve", "--host", HOST, "--port", "{port}", "--home", str(home),
        "--reload-interval", "3600", "--log-level", "warning",
    ]  # fmt: skip
    env = {"NETKORT_DATABASE_URL": f"sqlite+pysqlite:///{scratch / 'reports.sqlite'}"}
    return serve("netkort serve", argv, env)


def start_naive(home: Path) -> Served:
    """The naive pandas lookup service (:func:`create_naive_app`) under uvicorn, one worker."""
    return serve(
        "naive pandas FastAPI",
        uvicorn_argv("bench.bench_http:create_naive_app"),
        {"NETKORT_HOME": str(home)},
    )


# -- clients --------------------------------------------------------------------------------------


def get(port: int, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """One GET on a fresh connection: status and body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def sequential(
    port: int, paths: Sequence[str], *, keep_bodies: bool = False
) -> tuple[np.ndarray, list[int], list[bytes]]:
    """Ask every path once, one after the other, on one keep-alive connection.

    Returns the seconds each took (request sent → body read), the statuses and (when asked) the
    bodies. ``http.client`` adds about 0.1 ms per request, far less than an async client would.
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    seconds = np.empty(len(paths))
    statuses: list[int] = []
    bodies: list[bytes] = []
    try:
        for i, path in enumerate(paths):
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            seconds[i] = time.perf_counter() - started
            statuses.append(response.status)
            if keep_bodies:
                bodies.append(body)
    finally:
        conn.close()
    return seconds, statuses, bodies


def percentiles(seconds: np.ndarray) -> dict[str, float]:
    """n, p50 / p90 / p99 / max / mean in milliseconds."""
    ms = np.asarray(seconds, dtype=float) * 1000
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p90": round(float(np.percentile(ms, 90)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
    }


def run_wrk(
    port: int,
    paths: Sequence[str],
    duration: float,
    connections: int,
    *,
    order: Literal["cycle", "random"] = "cycle",
    max_duration: float = MAX_DURATION,
) -> dict[str, Any]:
    """``wrk`` asking for ``paths`` (in turn, or at random) for ``duration`` seconds over
    ``connections`` connections (as many threads as connections, at most the usable cores)."""
    duration = min(max(duration, 1.0), max_duration)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, min(connections, cores or 1))
    folder = Path(tempfile.mkdtemp(prefix="netkort-wrk-"))
    try:
        (folder / "paths.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")
        (folder / "cycle.lua").write_text(WRK_SCRIPT, encoding="utf-8")
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(duration)}s",
             "--timeout", "10s", "-s", str(folder / "cycle.lua"), f"http://{HOST}:{port}"],
            capture_output=True, text=True, timeout=duration + 60, check=True,
            env={**os.environ, "NETKORT_WRK_PATHS": str(folder / "paths.txt"), "NETKORT_WRK_ORDER": order},
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("NETKORT "))
    raw = json.loads(line.removeprefix("NETKORT "))
    seconds = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return {
        "connections": connections,
        "threads": threads,
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "latency_ms": {
            k: round(raw[f"{k}_ms"], 3) for k in ("p50", "p90", "p99", "p999", "max", "mean")
        },
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


# -- the queries ----------------------------------------------------------------------------------


def make_queries(home: Path, out: Path, n: int, seed: int = SEED) -> Path:
    """``n`` lookups of randomly drawn register addresses, half by id and half by display text,
    as ``[{"path", "id"}]`` in a JSON file."""
    from coverage.addresstext import address_text
    from coverage.release import ReleaseStore

    columns = ["id", "vejnavn", "husnr", "postnr", "postnrnavn"]
    table = pd.read_parquet(ReleaseStore(home).current().table_path("addresses"), columns=columns)
    rng = np.random.default_rng(seed)
    rows = table.iloc[rng.choice(len(table), size=min(n, len(table)), replace=False)]
    queries = []
    for i, r in enumerate(rows.itertuples(index=False)):
        if i % 2 == 0:
            path = f"/api/lookup?id={r.id}"
        else:
            text = address_text(str(r.vejnavn), str(r.husnr), str(r.postnr), str(r.postnrnavn))
            path = f"/api/lookup?q={quote(text)}"
        queries.append({"path": path, "id": str(r.id)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    return out


def _answered_id(body: bytes) -> str | None:
    try:
        return str(json.loads(body)["address"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


# -- one side of the comparison -------------------------------------------------------------------


def measure_lookups(
    server: Served,
    queries: list[dict[str, str]],
    *,
    duration: float,
    connections: Sequence[int] = CONNECTIONS,
    clock: StageClock | None = None,
) -> dict[str, Any]:
    """Latency, correctness, throughput and memory of a ready server answering ``queries``.

    The first tenth of the queries (at most 200) warm the server up, twice, and are not measured.
    """
    clock = clock or StageClock()
    split = min(200, len(queries) // 10)
    warm, queries = queries[:split], queries[split:]
    paths = [q["path"] for q in queries]
    out: dict[str, Any] = {"rss_mb": {"ready": server.rss_mb()}}
    with clock.step(f"Warm-up: {split} other queries, twice"):
        for _ in range(2):
            sequential(server.port, [q["path"] for q in warm])
    out["rss_mb"]["warm"] = server.rss_mb()
    with clock.step("Sequential client: every query once"):
        seconds, statuses, bodies = sequential(server.port, paths, keep_bodies=True)
    answered = [_answered_id(b) for b in bodies]
    correct = [a == q["id"] for a, q in zip(answered, queries, strict=True)]
    codes: dict[str, int] = {}
    for s in statuses:
        codes[str(s)] = codes.get(str(s), 0) + 1
    out["sequential"] = {
        "latency_ms": percentiles(seconds),
        "correct": int(sum(correct)),
        "statuses": codes,
        "bytes_mean": round(float(np.mean([len(b) for b in bodies])), 0) if bodies else 0,
    }
    # wrk cycles through the queries that were answered right, so every request it counts is a
    # real lookup (one that 404s would be much cheaper and flatter the throughput).
    good = [p for p, ok in zip(paths, correct, strict=True) if ok]
    out["wrk"] = {}
    if not good:
        out["wrk_skipped"] = "no query was answered correctly"
    elif shutil.which("wrk") is None:
        out["wrk_skipped"] = "wrk is not installed (apt-get install wrk)"
    else:
        for c in connections:
            with clock.step(f"wrk: {c} connection(s), {int(duration)} s"):
                cpu = server.cpu_seconds()
                run = run_wrk(server.port, good, duration, c)
                cpu = server.cpu_seconds() - cpu
                run["server_cpu_ms_per_request"] = round(cpu / max(run["requests"], 1) * 1000, 3)
                out["wrk"][str(c)] = run
    out["rss_mb"]["after"] = server.rss_mb()
    out["rss_mb"]["peak"] = server.peak_rss_mb()
    return out


def _run(
    kind: str,
    home: str,
    queries: str,
    duration: float,
    connections: list[int],
    server: Served | None = None,
) -> dict[str, Any]:
    clock = StageClock()
    asked = json.loads(Path(queries).read_text(encoding="utf-8"))
    scratch = Path(tempfile.mkdtemp(prefix="netkort-http-"))
    own = server is None
    if server is None:
        server = (
            start_netkort(Path(home), scratch) if kind == "netkort" else start_naive(Path(home))
        )
    try:
        with clock.step("Start the server and load the release"):
            ready_s = server.wait_ready()
        extra = measure_lookups(
            server, asked, duration=duration, connections=connections, clock=clock
        )
        extra["server"] = (
            "netkort serve: uvicorn (uvloop, httptools), 1 worker process, async lookup route"
            if kind == "netkort"
            else "uvicorn --factory bench.bench_http:create_naive_app, 1 worker process"
        )
        extra["ready_s"] = round(ready_s, 2)
    finally:
        if own:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"stages": clock.stages, "extra": extra}


def run_netkort(
    home: str,
    queries: str,
    duration: float = 20.0,
    connections: list[int] | None = None,
    server: Served | None = None,
) -> dict[str, Any]:
    """netkort serve, measured with :func:`measure_lookups` (a ``bench.common`` case). A running
    ``server`` (from :func:`start_netkort`) is used and left running; by default one is started."""
    chosen = list(CONNECTIONS if connections is None else connections)
    return _run("netkort", home, queries, duration, chosen, server)


def run_naive(
    home: str, queries: str, duration: float = 20.0, connections: list[int] | None = None
) -> dict[str, Any]:
    """The naive pandas service, measured the same way (a ``bench.common`` case)."""
    chosen = list(CONNECTIONS if connections is None else connections)
    return _run("naive", home, queries, duration, chosen)


# -- the peer: a lookup service without an index --------------------------------------------------

_TEXT = re.compile(r"^\s*(?P<street>.+?)\s+(?P<number>\d+[A-Za-z]?)\s*,\s*(?P<postcode>\d{4})\b")
_TECHS = ("fiber", "coax", "xdsl", "fwa")
_ADDRESS_KEYS = (
    "id", "vejnavn", "husnr", "postnr", "postnrnavn", "supplerendebynavn", "kommunekode",
    "kommunenavn", "zone", "east", "north", "lon", "lat", "ddkn_m100",
)  # fmt: skip


def naive_table(home: Path) -> Any:
    """Addresses with their first mapping row and their class and reasons under every rule set,
    in one wide pandas table: what the peer filters on every request."""
    from pyproj import Transformer

    from coverage.assess import assess_many
    from coverage.release import ReleaseStore
    from coverage.rules import load_rule_sets

    release = ReleaseStore(home).current()
    addresses = pd.read_parquet(release.table_path("addresses")).drop(columns="geometry")
    availability = pd.read_parquet(release.table_path("availability"))
    assessed = assess_many(addresses, availability, load_rule_sets())
    speeds = [f"{t}_{d}" for t in (*_TECHS, "mobile") for d in ("down", "up")]
    first = availability.dropna(subset=["address_id"]).drop_duplicates("address_id")
    table = addresses.merge(
        first[["address_id", *speeds, "year"]], left_on="id", right_on="address_id", how="left"
    )
    for rid, frame in assessed.items():
        keep = frame[["address_id", "class", "reason_da", "reason_en"]].drop_duplicates(
            "address_id"
        )
        keep = keep.rename(columns={c: f"{rid}:{c}" for c in ("class", "reason_da", "reason_en")})
        table = table.merge(keep, on="address_id", how="left")
    lon, lat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(
        table["east"].to_numpy(), table["north"].to_numpy()
    )
    table["lon"], table["lat"] = lon, lat
    table.attrs["rule_sets"] = list(assessed)
    table.attrs["release_id"] = release.id
    return table


def _value(v: Any) -> Any:
    """A JSON-ready scalar: None for NaN / <NA>, Python numbers for numpy ones."""
    if v is None or pd.isna(v):
        return None
    if isinstance(v, float | np.floating):
        return round(float(v), 3)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def naive_answer(table: Any, row: int) -> dict[str, Any]:
    """The peer's answer: address, offers per technology, mobile, the pool under each rule set."""
    r = table.iloc[row]
    v = {k: _value(r[k]) for k in r.index}
    return {
        "address": {k: v.get(k) for k in _ADDRESS_KEYS},
        "fixed": {t: {"down": v[f"{t}_down"], "up": v[f"{t}_up"]} for t in _TECHS},
        "mobile": {"down": v["mobile_down"], "up": v["mobile_up"], "year": v["year"]},
        "pool": {
            rid: {
                "class": v[f"{rid}:class"],
                "reason_da": v[f"{rid}:reason_da"],
                "reason_en": v[f"{rid}:reason_en"],
            }
            for rid in table.attrs["rule_sets"]
        },
        "release": table.attrs["release_id"],
    }


def create_naive_app() -> Any:
    """The peer: FastAPI answering ``/api/lookup?id=`` or ``?q=`` by a boolean filter over
    :func:`naive_table` (release home from ``NETKORT_HOME``)."""
    from fastapi import FastAPI, HTTPException
    from starlette.concurrency import run_in_threadpool

    home = Path(os.environ["NETKORT_HOME"])
    held: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        held["table"] = await run_in_threadpool(naive_table, home)
        yield

    app = FastAPI(title="naive lookup", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "rows": len(held["table"])}

    @app.get("/api/lookup")
    def lookup(q: str | None = None, id: str | None = None) -> dict[str, Any]:
        table = held["table"]
        if id is not None:
            mask = table["id"] == id.strip().lower()
        elif q is not None and (m := _TEXT.match(q)):
            mask = (
                (table["vejnavn"] == m["street"])
                & (table["husnr"] == m["number"].upper())
                & (table["postnr"] == m["postcode"])
            )
        else:
            raise HTTPException(400, "give id, or q as 'street number, postcode town'")
        rows = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        if rows.size == 0:
            raise HTTPException(404, "no such address")
        return naive_answer(table, int(rows[0]))

    return app


# -- the benchmark --------------------------------------------------------------------------------


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Targets, the ratio to the peer and a per-measure table, added to a ``compare`` result."""
    ours, theirs = result["subject"]["extra"], result.get("peer", {}).get("extra")
    seq = ours["sequential"]["latency_ms"]
    wrk16 = ours["wrk"].get("16", {})
    wrk1 = ours["wrk"].get("1", {})
    rss = max(ours["rss_mb"]["after"], ours["rss_mb"]["peak"])
    result["targets"] = TARGETS
    result["meets_targets"] = {
        "p50_ms": seq["p50"] < TARGETS["p50_ms"],
        "p99_ms": seq["p99"] < TARGETS["p99_ms"],
        "rps_16": wrk16.get("rps", 0.0) >= TARGETS["rps_16"],
        "rss_mb": rss < TARGETS["rss_mb"],
    }
    rows = []

    def row(label: str, a: float | None, b: float | None, target: str = "") -> None:
        ratio = round(a / b, 3) if a is not None and b else None
        rows.append([label, a, b, ratio, target])

    p_seq = theirs["sequential"]["latency_ms"] if theirs else {}
    row("sequential p50 ms", seq["p50"], p_seq.get("p50"), f"< {TARGETS['p50_ms']:g}")
    row("sequential p99 ms", seq["p99"], p_seq.get("p99"), f"< {TARGETS['p99_ms']:g}")
    for c, w in ours["wrk"].items():
        pw = (theirs or {}).get("wrk", {}).get(c, {})
        row(f"wrk {c} conn: lookups/s", w["rps"], pw.get("rps"), "≥ 1500" if c == "16" else "")
        row(f"wrk {c} conn: p50 ms", w["latency_ms"]["p50"], pw.get("latency_ms", {}).get("p50"))
        row(f"wrk {c} conn: p99 ms", w["latency_ms"]["p99"], pw.get("latency_ms", {}).get("p99"))
        row(
            f"wrk {c} conn: server CPU ms per lookup",
            w.get("server_cpu_ms_per_request"),
            pw.get("server_cpu_ms_per_request"),
        )
    for k in ("ready", "warm", "after", "peak"):
        row(f"server RSS {k} MB", ours["rss_mb"][k], (theirs or {}).get("rss_mb", {}).get(k),
            "< 1024" if k in ("after", "peak") else "")  # fmt: skip
    result["details"] = {
        "columns": ["measure", "netkort", "naive pandas", "netkort ÷ peer", "target"],
        "rows": rows,
    }
    if theirs and p_seq.get("p50"):
        # The wall time of both sides is fixed by the wrk durations: the ratio that means something
        # is the single-lookup latency.
        result["ratio"] = round(seq["p50"] / p_seq["p50"], 3)
        result["ratio_of"] = "sequential p50 latency, netkort ÷ peer"
    if wrk1:
        result["single_connection_rps"] = wrk1["rps"]
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run B2 and write ``results/http-lookup-<size>.json``."""
    from bench.bench_tiles import region_tiles_home

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="release home (default: region)")
    parser.add_argument("--queries", type=int, default=2000, help="distinct lookups")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()) / "netkort-bench"
    )
    args = parser.parse_args(argv)
    home = (args.home or region_tiles_home(args.scratch.resolve())).resolve()
    queries = make_queries(home, args.scratch / "http-queries.json", args.queries)
    from coverage.release import ReleaseStore

    n = int(ReleaseStore(home).current().manifest["counts"]["addresses"]["accepted"])
    name = f"http-lookup-{n // 1000}k" if n >= 100_000 else f"http-lookup-{n}"
    kwargs = {"home": str(home), "queries": str(queries), "duration": args.duration}
    result = compare(
        name,
        f"B2: /api/lookup over HTTP, {n:,} addresses, uvicorn 1 worker, wrk on loopback",
        Case("netkort serve (index)", "bench.bench_http:run_netkort", kwargs),
        None if args.no_peer else Case(
            "naive pandas boolean filter (FastAPI)", "bench.bench_http:run_naive", kwargs
        ),
        repeat=args.repeat,
        size={"addresses": n, "queries": args.queries, "duration_s": args.duration,
              "connections": list(CONNECTIONS), "scale": "region" if n >= 100_000 else "bundle"},
        notes=(
            "Wall time is fixed by the wrk durations and not a speed measure; the ratio is the "
            "sequential single-lookup p50, netkort ÷ peer. Peak RSS of a side is the larger of the "
            "benchmark process and the server it started (getrusage of children). The peer "
            "answers less (no fuzzy text, suggestions, zones, mobile observations or reports). "
            "Neither side validates its answer against a response model on the way out (netkort's "
            "tests check its answers against the declared LookupAnswer schema instead). Server "
            "CPU ms per lookup is the server's CPU time during a wrk run over the requests it "
            "answered: with 2 cores shared by wrk and the server, lookups/s is capped near "
            "1000 ÷ that figure."
        ),
    )  # fmt: skip
    summarise(result)
    write_result(name, result)
    for r in result["details"]["rows"]:
        print("  ".join(str(x) for x in r), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
