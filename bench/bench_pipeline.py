"""B6 + B7: the whole region pipeline, stage by stage, and the service's memory under load.

    python -m bench.bench_pipeline                   # 850,000 addresses, region 1082
    python -m bench.bench_pipeline --load-seconds 10

Stages, each in its own process (so each peak is its own), on the command line a planner uses:

1. ``netkort synth`` data (cached in the scratch folder; its own timing is ``synth-region-*``);
2. mobile sites: ``coverage.mobile.generate_sites`` for three operators, written as a site CSV and
   added to a copy of the manifest (``append_manifest_entries``), so the build models coverage;
3. ``netkort build`` (ingest, validation, matching, the mobile model's COG rasters, fusion);
4. ``netkort stats`` (assessment under every rule set + statistics);
5. ``netkort zones`` (underserved zones, newest rules);
6. ``netkort export --what all`` to GeoPackage;
7. ``netkort map`` (offline pages and figures).

Then B7's service part: ``netkort serve`` on 127.0.0.1 (a free port) with that release; its
resident memory is read from ``/proc/<pid>/status`` once loaded, then every half second while
eight client threads send lookups (by id, by position), autocomplete prefixes and 100-point
``POST /api/points`` batches for ``--load-seconds``; the server is stopped at the end.

Targets: under 3 minutes end to end (stages 2-7); the service under 1 GB with the region loaded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_analysis import SCRATCH, netkort
from bench.bench_build import DEFAULT_SIZE, _prepare
from bench.common import (
    HOST,
    RESULTS_DIR,
    Case,
    free_port,
    machine,
    process_mb,
    run_once,
    write_result,
)

TARGET_WALL_S = 180.0
TARGET_SERVICE_MB = 1024.0
SEED = 1082


def run_sites(data: str, work: str) -> dict[str, Any]:
    """Mobile sites for the region's municipalities, and a manifest that includes them."""
    import tomllib

    import pandas as pd

    from coverage.boundaries import load_region
    from coverage.mobile import generate_sites
    from coverage.synth import ManifestEntry, append_manifest_entries

    folder = Path(work)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "sources.toml"
    shutil.copy(Path(data) / "sources.toml", manifest)
    dagi = tomllib.loads(manifest.read_text(encoding="utf-8"))["boundaries"]
    region = load_region(dagi["municipalities"], dagi["regions"], dagi["postcodes"], "1082")
    sites = generate_sites(region.municipalities, seed=SEED)
    table = pd.DataFrame(sites.drop(columns="geometry")).rename(columns={"east": "x", "north": "y"})
    path = folder / "sites.csv"
    table[
        ["site_id", "operator", "technologies", "height_m", "azimuth", "power", "kind", "x", "y"]
    ].to_csv(path, index=False)
    append_manifest_entries(
        manifest,
        [
            ManifestEntry(
                "sites",
                path,
                attribution=f"GENERERET af netkort (generate_sites, seed {SEED}): ikke virkelige master",
                generated=True,
            )
        ],
    )
    return {"extra": {"sites": len(sites)}}


def run_cli(args: list[str]) -> dict[str, Any]:
    """One ``netkort`` command, output discarded (its peak memory is read as the child's)."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        netkort(*args, stdout=sink)
    return {}


def _stages(data: Path, work: Path) -> list[Case]:
    home, out = str(work / "home"), work / "out"
    return [
        Case("Mobile sites: generate_sites + manifest", "bench.bench_pipeline:run_sites",
             {"data": str(data), "work": str(work)}),
        Case("netkort build (ingest, match, mobile model, fusion)", "bench.bench_pipeline:run_cli",
             {"args": ["build", "--sources", str(work / "sources.toml"), "--home", home,
                       "--region", "1082", "--force", "--quiet"]}),
        Case("netkort stats (assessment under 4 rule sets + statistics)",
             "bench.bench_pipeline:run_cli", {"args": ["stats", "--json", "--home", home]}),
        Case("netkort zones (newest rules)", "bench.bench_pipeline:run_cli",
             {"args": ["zones", "--json", "--home", home]}),
        Case("netkort export --what all (GeoPackage)", "bench.bench_pipeline:run_cli",
             {"args": ["export", "-o", str(out / "region.gpkg"), "--what", "all", "--home", home,
                       "--quiet"]}),
        Case("netkort map (pages + figures)", "bench.bench_pipeline:run_cli",
             {"args": ["map", "-o", str(out / "map"), "--home", home, "--quiet"]}),
    ]  # fmt: skip


def _requests(home: Path, n: int) -> dict[str, list[Any]]:
    """Lookups by id and position, autocomplete prefixes and point batches from the release."""
    import pandas as pd
    from pyproj import Transformer

    from coverage.release import ReleaseStore

    table = pd.read_parquet(
        ReleaseStore(home).current().table_path("addresses"),
        columns=["id", "vejnavn", "husnr", "east", "north"],
    )
    rows = table.sample(n, random_state=SEED)
    lon, lat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True).transform(
        rows["east"].to_numpy(), rows["north"].to_numpy()
    )
    texts = (rows["vejnavn"] + " " + rows["husnr"]).tolist()
    rng = random.Random(SEED)
    return {
        "ids": rows["id"].tolist(),
        "positions": [(round(x, 6), round(y, 6)) for x, y in zip(lon, lat, strict=True)],
        "prefixes": [t[: rng.randint(3, len(t))] for t in texts],
    }


def _tile_paths(positions: list[tuple[float, float]], layers: list[tuple[str, str]]) -> list[str]:
    """Tile URLs of every layer at z8-z16 around the asked positions (vector and raster)."""
    paths = []
    for k, (lon, lat) in enumerate(positions[:400]):
        layer, suffix = layers[k % len(layers)]
        z = 8 + k % 9
        n = 1 << z
        x = int((lon + 180.0) / 360.0 * n)
        y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
        paths.append(f"/tiles/{layer}/{z}/{x}/{y}.{suffix}")
    return paths


def service_memory(home: Path, seconds: float, threads: int = 8) -> dict[str, Any]:
    """Start ``netkort serve``, read its memory once loaded and under a mixed load (lookups by id
    and position, autocomplete, vector and raster tiles of every layer, batch points), stop it."""
    import httpx

    port = free_port()
    exe = Path(sys.executable).with_name("netkort")
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(exe), "serve", "--home", str(home), "--host", HOST, "--port", str(port),
         "--reload-interval", "3600", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://{HOST}:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"netkort serve stopped: {server.stderr.read()[-2000:]}")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 300:
                    raise SystemExit("netkort serve did not come up within 300 s")
                time.sleep(0.5)
        load_s = time.perf_counter() - started
        loaded = {k: process_mb(server.pid, k) for k in ("VmRSS", "VmHWM")}
        asked = _requests(home, 2000)
        with httpx.Client(base_url=base, timeout=30) as client:
            layers = [
                (la["id"], "png" if la["kind"] == "raster" else "mvt")
                for la in client.get("/tiles").json()["layers"]
            ]
        tiles = _tile_paths(asked["positions"], layers)
        counts = {"requests": 0, "errors": 0}
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def worker(k: int) -> None:
            rng = random.Random(SEED + k)
            with httpx.Client(base_url=base, timeout=30) as client:
                while time.perf_counter() < stop:
                    pick = rng.random()
                    i = rng.randrange(len(asked["ids"]))
                    if pick < 0.30:
                        r = client.get("/api/lookup", params={"id": asked["ids"][i]})
                    elif pick < 0.45:
                        lon, lat = asked["positions"][i]
                        r = client.get("/api/lookup", params={"lon": lon, "lat": lat})
                    elif pick < 0.75:
                        r = client.get("/api/autocomplete", params={"q": asked["prefixes"][i]})
                    elif pick < 0.95:
                        r = client.get(tiles[rng.randrange(len(tiles))])
                    else:
                        batch = rng.sample(asked["positions"], 100)
                        r = client.post("/api/points", json={"points": batch})
                    with lock:
                        counts["requests"] += 1
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        # 404: a position with no address within 50 m; 204: an empty tile.
                        counts["errors"] += r.status_code not in (200, 204, 404)

        pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        samples = []
        while any(t.is_alive() for t in pool):
            samples.append(process_mb(server.pid, "VmRSS"))
            time.sleep(0.5)
        final = {k: process_mb(server.pid, k) for k in ("VmRSS", "VmHWM")}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {
        "load_s": round(load_s, 1),
        "rss_after_load_mb": round(loaded["VmRSS"], 1),
        "rss_under_load_max_mb": round(max(samples), 1),
        "rss_end_mb": round(final["VmRSS"], 1),
        # resident memory at each quarter of the load: flat once every layer is built
        "rss_quarters_mb": [
            round(samples[min(len(samples) - 1, len(samples) * q // 4)], 1) for q in (1, 2, 3, 4)
        ],
        "peak_rss_mb": round(final["VmHWM"], 1),
        "load_seconds": seconds,
        "threads": threads,
        "requests": counts["requests"],
        "requests_per_s": round(counts["requests"] / seconds, 1),
        "errors": counts["errors"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the pipeline stage by stage, then the service; write two result files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, default=SCRATCH)
    parser.add_argument("--load-seconds", type=float, default=120.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole pipeline")
    args = parser.parse_args(argv)
    scratch = args.scratch.resolve()
    n = DEFAULT_SIZE["region"]
    data = _prepare(scratch, n, "region")
    work = scratch / "pipeline-region"
    created = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()

    runs: list[dict[str, dict[str, float]]] = []
    for k in range(args.repeat):
        shutil.rmtree(work, ignore_errors=True)
        stages: dict[str, dict[str, float]] = {}
        for case in _stages(data, work):
            print(f"pipeline run {k + 1}/{args.repeat}: {case.label}", file=sys.stderr)
            run = run_once(case)
            stages[case.label] = {"s": round(run["wall_s"], 3), "peak_rss_mb": run["peak_rss_mb"]}
            print(f"  {run['wall_s']:.1f} s, peak {run['peak_rss_mb']:.0f} MB", file=sys.stderr)
        runs.append(stages)
    totals = [round(sum(s["s"] for s in stages.values()), 3) for stages in runs]
    total = min(totals)
    stages = runs[totals.index(total)]
    manifest = json.loads(
        next((work / "home" / "releases").iterdir()).joinpath("manifest.json").read_text()
    )
    synth = RESULTS_DIR / f"synth-region-{n // 1000}k.json"
    info = machine()
    info["load_average_before"] = [round(x, 2) for x in load_before]
    pipeline = {
        "name": f"pipeline-region-{n // 1000}k",
        "title": f"B6/B7: the region pipeline for {n:,} generated addresses, stage by stage",
        "created": created,
        "size": {"addresses": n, "scale": "region", "seed": SEED},
        "repeat": args.repeat,
        "subject": {
            "label": "netkort",
            "wall_s": {"best": total, "median": statistics.median(totals), "runs": totals},
            "peak_rss_mb": max(s["peak_rss_mb"] for stages in runs for s in stages.values()),
            "stages": stages,
            "extra": {
                "mobile": (manifest.get("counts") or {}).get("mobile"),
                "synth_s_cached": json.loads(synth.read_text())["subject"]["wall_s"]["best"]
                if synth.exists()
                else None,
            },
        },
        "slowest_stage": max(stages, key=lambda k: stages[k]["s"]),
        "targets": {"wall_s": TARGET_WALL_S},
        "meets_targets": {"wall_s": total <= TARGET_WALL_S},
        "notes": (
            "Each stage runs in its own process: its wall time includes interpreter start-up and "
            "imports, and 'peak RSS' is that stage's own peak (not a running maximum). synth is "
            "cached and not counted (see synth-region-850k)."
        ),
        "machine": info,
    }
    write_result(pipeline["name"], pipeline)

    print(f"service: netkort serve with the region release, {args.load_seconds:.0f} s of load",
          file=sys.stderr)  # fmt: skip
    load_before = os.getloadavg()
    service = service_memory(work / "home", args.load_seconds)
    info = machine()
    info["load_average_before"] = [round(x, 2) for x in load_before]
    result = {
        "name": f"service-memory-region-{n // 1000}k",
        "title": "B7: netkort serve with the region release loaded, then under load",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": {"addresses": n, "scale": "region"},
        "repeat": 1,
        "subject": {
            "label": "netkort serve",
            "wall_s": {"best": service["load_s"], "median": service["load_s"], "runs": [service["load_s"]]},
            "peak_rss_mb": service["peak_rss_mb"],
            "stages": {},
            "extra": service,
        },
        "details": {
            "columns": ["measure", "value"],
            "rows": [[k, v] for k, v in service.items() if k != "statuses"]
            + [["statuses", json.dumps(service["statuses"])]],
        },
        "targets": {"peak_rss_mb": TARGET_SERVICE_MB},
        "meets_targets": {"wall_s": True, "peak_rss_mb": service["peak_rss_mb"] <= TARGET_SERVICE_MB},
        "notes": (
            "Wall time is the start-up: process start, reading, assessing (4 rule sets), zoning "
            "and indexing the release. Peak RSS is the server's VmHWM over start-up and the "
            "load: 8 clients mixing lookups by id and position, autocomplete, vector tiles of "
            "every layer of every rule set, the raster layers' PNG tiles and batch points, so "
            "every index built on first use (tile layers, point index) is in it."
        ),
        "machine": info,
    }  # fmt: skip
    write_result(result["name"], result)
    print(
        f"pipeline {total:.0f} s (target {TARGET_WALL_S:.0f}); service peak "
        f"{service['peak_rss_mb']:.0f} MB (target {TARGET_SERVICE_MB:.0f})",
        file=sys.stderr,
    )
    return pipeline


if __name__ == "__main__":
    main()
