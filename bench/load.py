"""A bounded load test of the service on loopback: lookups, autocomplete and tiles.

    python -m bench.load                       # 60 s, 64 connections, wrk if installed
    python -m bench.load --duration 20 --connections 16 --tool httpx
    python -m bench.load --home /srv/netkort   # serve that release home (default: build one)

The script starts ``uvicorn --factory service.main:create_app`` on 127.0.0.1 (a free port) against a
release home (by default a release built from the data bundle into a scratch folder), warms it up,
then drives a fixed mix of requests for ``--duration`` seconds over ``--connections`` connections:

* lookups, 50 %: by text (``Strandvejen 52, 8305 Samsø``), by register id, and by position;
* autocomplete, 30 %: prefixes of real addresses as they are typed;
* tiles, 20 %: vector and raster tiles of every layer ``/tiles`` lists, at zoom 8-14 over its bounds
  (when the service has no tiles, their share goes to lookups).

The requests come from the release's own addresses, so every one should answer 200; anything else
(other statuses, timeouts, connection errors) counts as an error. The server's resident memory is read
from ``/proc/<pid>/status`` after the warm-up, every second during the run, and at the end, so a leak
shows as growth from start to end. Results (p50 / p90 / p99 / max latency, requests per second,
errors, memory) go to ``bench/results/load.json``.

Bounded by design: only 127.0.0.1 is ever contacted, the run stops after ``--duration`` seconds (at
most 600) or ``--max-requests`` requests, and the server is stopped at the end. ``wrk`` (Debian's
``wrk`` package) is used when installed, else an asyncio httpx client.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import numpy as np

from bench.bench_http import run_wrk
from bench.common import HOST, free_port, machine, process_mb, write_result

MAX_DURATION = 600.0
MIX = {"lookup": 0.5, "autocomplete": 0.3, "tiles": 0.2}
# -- the server -----------------------------------------------------------------------------------


def ensure_release(home: Path | None) -> Path:
    """A release home to serve: the one given, or a release built from the bundle (reused)."""
    if home is not None:
        if not (home / "current").exists():
            raise SystemExit(f"{home} has no current release: run `netkort build --home {home}`")
        return home
    from coverage.build import build_release
    from coverage.settings import Settings
    from coverage.sources import load_manifest

    scratch = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "netkort-bench" / "load-home"
    if not (scratch / "current").exists():
        print(f"building a release from the bundle into {scratch} ...", file=sys.stderr)
        settings = Settings(home=scratch)
        build_release(settings, load_manifest(None, settings.data))
    return scratch


class Server:
    """uvicorn with the app factory, on loopback, in its own process group."""

    def __init__(self, home: Path, reports: Path) -> None:
        self.base = f"http://{HOST}:{free_port()}"
        env = {
            **os.environ,
            "NETKORT_HOME": str(home),
            "NETKORT_DATABASE_URL": f"sqlite+pysqlite:///{reports}",
            "NETKORT_RELOAD_INTERVAL": "3600",
        }
        port = urlsplit(self.base).port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
             "--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log"],
            env=env, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the server did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


# -- the request mix ------------------------------------------------------------------------------


def _tile_range(bounds: list[float], z: int) -> tuple[int, int, int, int]:
    """Web-mercator tile columns and rows covering a lon/lat box at zoom z."""
    west, south, east, north = bounds

    def xy(lon: float, lat: float) -> tuple[int, int]:
        lat = max(min(lat, 85.0511), -85.0511)
        n = 2**z
        x = int((lon + 180.0) / 360.0 * n)
        y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    x0, y0 = xy(west, north)
    x1, y1 = xy(east, south)
    return x0, x1, y0, y1


def build_paths(
    base: str, home: Path, count: int, seed: int = 8305
) -> tuple[list[str], dict[str, int]]:
    """``count`` request paths in the mix, drawn from the release's addresses and tile layers."""
    from coverage.lookup import AddressIndex
    from coverage.release import ReleaseStore

    rng = random.Random(seed)
    release = ReleaseStore(home).current()
    addresses = release.read(
        "addresses", columns=["id", "vejnavn", "husnr", "postnr", "postnrnavn", "geometry"]
    ).to_crs("EPSG:4326")
    lon, lat = addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()
    texts = (
        addresses["vejnavn"].astype(str) + " " + addresses["husnr"].astype(str) + ", "
        + addresses["postnr"].astype(str) + " " + addresses["postnrnavn"].astype(str)
    ).tolist()  # fmt: skip
    ids = addresses["id"].astype(str).tolist()
    index = AddressIndex.from_release(release)

    tiles: list[str] = []
    listing = httpx.get(f"{base}/tiles", timeout=30, trust_env=False)
    if listing.status_code == 200:
        for layer in listing.json().get("layers", []):
            template = urlsplit(layer["tiles"])
            path = template.path + (f"?{template.query}" if template.query else "")
            for z in range(max(8, layer["minzoom"]), min(14, layer["maxzoom"]) + 1):
                x0, x1, y0, y1 = _tile_range(layer["bounds"], z)
                for _ in range(min(20, (x1 - x0 + 1) * (y1 - y0 + 1))):
                    x, y = rng.randint(x0, x1), rng.randint(y0, y1)
                    tiles.append(
                        path.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
                    )
    mix = dict(MIX)
    if not tiles:
        mix["lookup"] += mix.pop("tiles")

    paths: list[str] = []
    counts = dict.fromkeys(mix, 0)
    kinds, weights = zip(*mix.items(), strict=True)
    for kind in rng.choices(kinds, weights, k=count):
        counts[kind] += 1
        i = rng.randrange(len(ids))
        if kind == "tiles":
            paths.append(rng.choice(tiles))
        elif kind == "autocomplete":
            text = texts[i]
            cut = rng.randint(3, max(3, len(text) - 1))
            paths.append(f"/api/autocomplete?q={quote(text[:cut])}&limit=10")
        else:
            how = rng.random()
            if how < 0.5 and _unambiguous(index, texts[i], ids[i]):
                paths.append(f"/api/lookup?q={quote(texts[i])}")
            elif how < 0.8:
                paths.append(f"/api/lookup?id={ids[i]}")
            else:
                paths.append(f"/api/lookup?lon={lon[i]:.6f}&lat={lat[i]:.6f}")
    return paths, counts


def _unambiguous(index: Any, text: str, address_id: str) -> bool:
    """Whether the address's own text finds it. A few do not by design: "M.B. Jensensvej 5" is
    also an unmatched mapping row spelt "M.B. Jensens Vej 5", and the lookup asks which one is
    meant (404 with both as suggestions). Those are asked for by id instead."""
    from coverage.errors import NetkortError

    try:
        return bool(index.resolve(text).id == address_id)
    except NetkortError:
        return False


# -- the drivers ----------------------------------------------------------------------------------


async def _httpx_run(
    base: str, paths: list[str], duration: float, connections: int, max_requests: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration
    sent = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=10, trust_env=False
    ) as client:

        async def worker(seed: int) -> None:
            nonlocal sent
            rng = random.Random(seed)
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                started = time.perf_counter()
                try:
                    response = await client.get(rng.choice(paths))
                    await response.aread()
                    if response.status_code != 200:
                        errors[f"status_{response.status_code}"] = (
                            errors.get(f"status_{response.status_code}", 0) + 1
                        )
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "rps": round(len(latencies) / seconds, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 2),
            "p90": round(float(np.percentile(ms, 90)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2),
            "max": round(float(ms.max()), 2),
            "mean": round(float(ms.mean()), 2),
        },
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def check_answers(base: str, paths: list[str]) -> dict[str, int]:
    """Ask a sample of the mix once, sequentially: every path should answer 200."""
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        for path in paths:
            code = str(client.get(path).status_code)
            statuses[code] = statuses.get(code, 0) + 1
    return statuses


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the load test and write ``bench/results/load.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (at most 600)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--home", type=Path, default=None, help="release home to serve")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="stop after this many")
    parser.add_argument("--paths", type=int, default=20_000, help="distinct requests in the mix")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--output", default="load", help="result name in bench/results/")
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 1.0), MAX_DURATION)
    connections = min(max(args.connections, 1), 1024)
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    home = ensure_release(args.home)
    reports = Path(tempfile.mkdtemp(prefix="netkort-load-reports-")) / "reports.sqlite"
    server = Server(home, reports)
    assert urlsplit(server.base).hostname == HOST  # loopback only, whatever the arguments
    samples: list[float] = []
    stop = threading.Event()
    try:
        server.wait_ready()
        paths, counts = build_paths(server.base, home, args.paths)
        statuses = check_answers(server.base, random.Random(1).sample(paths, min(300, len(paths))))
        # Warm-up: caches and lazily built tiles fill before the memory baseline is taken.
        warm = min(args.warmup, duration)
        asyncio.run(_httpx_run(server.base, paths, warm, connections, args.max_requests))
        rss_start = process_mb(server.process.pid)

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(process_mb(server.process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        if tool == "wrk":
            result = run_wrk(
                urlsplit(server.base).port or 0, paths, duration, connections, order="random"
            )
        else:
            result = asyncio.run(
                _httpx_run(server.base, paths, duration, connections, args.max_requests)
            )
        stop.set()
        sampler.join(timeout=5)
        rss_end = process_mb(server.process.pid)
        health = httpx.get(f"{server.base}/healthz", timeout=10, trust_env=False).json()
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(reports.parent, ignore_errors=True)

    out = {
        "benchmark": "load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": tool,
        "target": f"{HOST} (loopback), one uvicorn worker",
        "duration_s": duration,
        "connections": connections,
        "mix": {k: round(v / sum(counts.values()), 3) for k, v in counts.items()},
        "distinct_paths": len(paths),
        "sample_statuses": statuses,
        **result,
        "memory_mb": {
            "start": rss_start,
            "end": rss_end,
            "max": max([rss_start, rss_end, *samples]),
            "growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
            # Growth over the second half: a leak keeps growing, filling caches levels off.
            "second_half_growth_mb": round(samples[-1] - samples[len(samples) // 2], 1)
            if len(samples) >= 4
            else None,
            "samples_1s": samples,
        },
        "release": {
            "id": health["release_id"],
            "generated": health["generated"],
            "addresses": health["addresses"],
        },
        "machine": machine(),
    }
    path = write_result(args.output, out)
    lat = out["latency_ms"]
    print(
        f"{out['requests']} requests in {out['seconds']} s ({out['rps']}/s) over {connections} "
        f"connections with {tool}: p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms, "
        f"{out['errors']} errors; server RSS {rss_start} → {rss_end} MB "
        f"(max {out['memory_mb']['max']}); written to {path}"
    )
    return out


if __name__ == "__main__":
    main()
