"""The HTTP and tile benchmarks (B2, B4, B5) at a tiny size on the Samsø bundle, so they cannot rot.

Each benchmark function runs end to end exactly as ``python -m bench.bench_http`` and
``python -m bench.bench_tiles`` run it on the region (servers on 127.0.0.1, wrk, TiTiler, a private
PostGIS cluster), only with a few queries and tiles; the tests check the decoded answers, not the
speed. The TiTiler and PostGIS parts are skipped, saying why, where their packages or binaries are
absent; wrk's part is left out of the results (and not asserted) where wrk is not installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import bench_http, bench_tiles
from coverage.settings import Settings

HAVE_WRK = shutil.which("wrk") is not None


@pytest.fixture(scope="module")
def home(bundle_settings: Settings, bundle_release: object) -> Path:
    """The release home holding the bundle release (Samsø: 4,591 addresses, 4 RSRP rasters)."""
    return Path(bundle_settings.home)


@pytest.fixture(scope="module")
def netkort(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[bench_http.Served]:
    """One ``netkort serve`` for the module's benchmarks (each would start its own otherwise)."""
    server = bench_http.start_netkort(home, tmp_path_factory.mktemp("serve"))
    try:
        server.wait_ready(timeout=120)
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None


def test_http_lookup_benchmark(home: Path, netkort: bench_http.Served, tmp_path: Path) -> None:
    # 2 of the 22 queries warm the servers up; the other 20 are measured.
    queries = bench_http.make_queries(home, tmp_path / "queries.json", 22)
    kwargs = {"home": str(home), "queries": str(queries), "duration": 1.0}
    ours = bench_http.run_netkort(**kwargs, connections=[4], server=netkort)
    peer = bench_http.run_naive(**kwargs, connections=[])  # wrk's part is the same code
    for side in (ours, peer):
        e = side["extra"]
        # Every lookup was answered with the address it was drawn from (ids and display texts).
        assert e["sequential"]["statuses"] == {"200": 20}
        assert e["sequential"]["correct"] == 20
        latency = e["sequential"]["latency_ms"]
        assert latency["n"] == 20
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
        assert e["rss_mb"]["ready"] > 50
        assert e["rss_mb"]["peak"] >= e["rss_mb"]["ready"]
    if HAVE_WRK:
        run = ours["extra"]["wrk"]["4"]
        assert run["requests"] > 0
        assert run["errors"] == 0
        assert run["rps"] > 0
        assert peer["extra"]["wrk"] == {}
    else:
        assert "wrk" in ours["extra"]["wrk_skipped"]
    assert "1 worker" in ours["extra"]["server"]
    result = bench_http.summarise({"subject": ours, "peer": peer})
    rows = {r[0]: r for r in result["details"]["rows"]}
    assert rows["sequential p50 ms"][1] == ours["extra"]["sequential"]["latency_ms"]["p50"]
    assert rows["sequential p50 ms"][2] == peer["extra"]["sequential"]["latency_ms"]["p50"]
    assert result["ratio"] > 0
    assert set(result["meets_targets"]) == {"p50_ms", "p99_ms", "rps_16", "rss_mb"}


def test_naive_peer_answers_like_netkort(home: Path, netkort: bench_http.Served) -> None:
    """The peer's answer carries the same address, speeds and pool classes as netkort's."""
    import json

    table = bench_http.naive_table(home)
    for row in (0, 1234, len(table) - 1):
        peer = bench_http.naive_answer(table, row)
        status, body = bench_http.get(netkort.port, f"/api/lookup?id={peer['address']['id']}")
        assert status == 200
        ours = json.loads(body)
        assert ours["address"]["id"] == peer["address"]["id"]
        assert ours["address"]["husnr"] == peer["address"]["husnr"]
        for tech, speeds in peer["fixed"].items():
            assert ours["fixed"]["technologies"][tech] == speeds
        assert ours["mobile"]["declared"]["down"] == peer["mobile"]["down"]
        assert {k: v["class"] for k, v in ours["pool"].items()} == {
            k: v["class"] for k, v in peer["pool"].items()
        }


@pytest.mark.skipif(bench_tiles.titiler_available() is not None, reason="TiTiler is not installed")
def test_raster_tile_benchmark(home: Path, netkort: bench_http.Served) -> None:
    result = bench_tiles.run_raster(str(home), per_zoom=2, netkort=netkort)
    e = result["extra"]
    assert e["colour_map"] == "rsrp"
    assert e["cog"].startswith("mobile/") and e["cog"].endswith(".tif")
    assert e["statuses"]["netkort"] == {"200": e["tiles"]}
    assert e["statuses"]["titiler"] == {"200": e["tiles"]}
    # Same COG, same colour map, same resampling: the decoded tiles agree pixel for pixel.
    assert e["pixels_compared"] > 10_000
    assert e["pixels_equal_share"] > 0.99
    assert set(e["latency_ms"]["netkort"]) == {str(z) for z in bench_tiles.RASTER_ZOOMS}
    summary = bench_tiles.summarise_raster({"subject": result})
    assert [r[0] for r in summary["details"]["rows"]] == list(bench_tiles.RASTER_ZOOMS)
    assert summary["ratio"] > 0


def test_vector_tile_benchmark(home: Path, netkort: bench_http.Served) -> None:
    result = bench_tiles.run_vector(str(home), per_zoom=2, netkort=netkort)
    e = result["extra"]
    lat = e["latency_ms"]
    for kind in ("netkort library", "netkort http"):
        assert set(lat[kind]) == {"zones", "addresses"}
        assert set(lat[kind]["addresses"]) == {str(z) for z in bench_tiles.VECTOR_ZOOMS}
    assert e["features"]["addresses"]["netkort"] > 0
    summary = bench_tiles.summarise_vector({"subject": result})
    assert len(summary["details"]["rows"]) == 2 * len(bench_tiles.VECTOR_ZOOMS)
    reason = bench_tiles.postgis_available()
    if reason is not None:
        pytest.skip(f"PostGIS part not run: {reason}")
    # PostGIS got the same features: the 2 Samsø zones and every located address.
    assert e["postgis_rows"]["zones"] == 2
    assert e["postgis_rows"]["addresses"] == 4591
    assert set(lat["postgis database"]) == {"zones", "addresses"}
    assert set(lat["postgis http"]) == {"zones", "addresses"}
    counted = e["features"]["addresses"]
    assert counted["postgis"] == pytest.approx(counted["netkort"], rel=0.02)
    same, asked = (int(v) for v in e["same_feature_count"]["addresses"].split("/"))
    assert same >= 0.7 * asked
    assert "netkort http ÷ postgis http" in summary["ratios"]
