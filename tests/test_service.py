"""The HTTP service on the real bundle: lookups, errors, municipalities, export, hot reload, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pyogrio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from coverage.build import build_release
from coverage.cli import app as cli_app
from coverage.settings import Settings
from coverage.sources import load_manifest
from service.errors import ErrorBody
from service.main import create_app
from service.settings import ServiceSettings

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"
NETKORT = Path(sys.executable).with_name("netkort")


@pytest.fixture(scope="module")
def client(bundle_settings, bundle_release):
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with TestClient(create_app(settings)) as c:
        yield c


def error(response, status: int) -> ErrorBody:
    """The response has the status and a body in the declared error schema."""
    assert response.status_code == status, response.text
    return ErrorBody.model_validate(response.json())


@pytest.mark.parametrize(
    "q",
    ["Strandvejen 52, 8305 Samsø", "strandvejen 52 samsoe", "STRANDVEJEN 52", "Strandvejen52 8305"],
)
def test_lookup_by_text_finds_strandvejen_52(client, q):
    answer = client.get("/api/lookup", params={"q": q}).json()
    assert answer["address"]["id"] == STRANDVEJEN_52
    assert answer["address"]["text"] == "Strandvejen 52, 8305 Samsø"
    assert answer["fixed"]["best"] == {"down": 30.0, "up": None, "technology": "xdsl"}
    assert answer["pool"]["2024-2025"]["class"] == "eligible_if_zone"
    assert answer["pool"]["2016-2020"]["class"] == "not_eligible"


def test_lookup_by_position_on_samsoe_and_in_the_sea(client):
    answer = client.get("/api/lookup", params={"lon": 10.63327, "lat": 55.82262}).json()
    assert answer["address"]["id"] == STRANDVEJEN_52
    assert answer["query"]["match"] == "nearest"
    assert 0 < answer["point"]["distance_m"] < 50
    assert answer["point"]["kommunekode"] == "0741"
    assert answer["point"]["zone_ids"]["2024-2025"] == answer["pool"]["2024-2025"]["zone_ids"]
    sea = error(client.get("/api/lookup", params={"lon": 10.9, "lat": 55.9}), 404)
    assert "50 m" in sea.detail
    abroad = error(client.get("/api/lookup", params={"lon": 2.35, "lat": 48.85}), 400)
    assert "Denmark" in abroad.detail


def test_unknown_text_and_unmatched_mapping_row(client):
    missing = error(client.get("/api/lookup", params={"q": "Strandvejen 53, 8305 Samsø"}), 404)
    assert 1 <= len(missing.suggestions) <= 5
    assert missing.suggestions[0].text.startswith("Strandvejen 5")
    # the suggestion's id answers
    again = client.get("/api/lookup", params={"id": missing.suggestions[0].id}).json()
    assert again["address"]["text"] == missing.suggestions[0].text

    row = client.get("/api/lookup", params={"q": "Bryggerbakken 5, 8305"}).json()
    assert row["address"]["position_known"] is False
    assert row["address"]["in_register"] is False
    assert row["fixed"]["best"]["down"] == 1000.0
    assert row["pool"]["2024-2025"]["class"] == "not_eligible"
    assert any("position is unknown" in n for n in row["notes"])


def test_lookup_needs_exactly_one_question(client):
    assert "exactly one" in error(client.get("/api/lookup"), 400).detail
    both = client.get("/api/lookup", params={"q": "Strandvejen 52", "id": STRANDVEJEN_52})
    error(both, 400)
    assert "together" in error(client.get("/api/lookup", params={"lon": 10.6}), 400).detail
    bad = error(client.get("/api/lookup", params={"lat": "abc", "lon": "10"}), 422)
    assert bad.errors[0].loc == ["query", "lat"]
    assert "lat" in bad.detail


def test_autocomplete(client):
    doc = client.get("/api/autocomplete", params={"q": "strandvejen 5", "limit": 4}).json()
    texts = [r["text"] for r in doc["results"]]
    assert texts[0] == "Strandvejen 5, 8305 Samsø" and len(texts) == 4
    assert all(t.startswith("Strandvejen 5") for t in texts)
    assert client.get("/api/autocomplete", params={"q": "x", "limit": 51}).status_code == 422
    assert client.get("/api/autocomplete", params={"q": ""}).status_code == 422


def test_municipalities_and_stats(client):
    doc = client.get("/api/municipalities").json()
    assert len(doc["municipalities"]) == 19
    samsoe = next(m for m in doc["municipalities"] if m["kommunekode"] == "0741")
    assert samsoe["addresses"] == 4591 and samsoe["kommunenavn"] == "Samsø"
    detail = client.get("/api/municipalities/0741").json()
    assert detail["stats"]["addresses"] == 4591
    assert client.get("/api/municipalities/Samsø").json()["kommunekode"] == "0741"
    unknown = error(client.get("/api/municipalities/Samsoo"), 404)
    assert unknown.suggestions[0].id == "0741"
    stats = client.get("/api/stats", params={"municipality": "0741"}).json()["rows"]
    assert [r["kommunekode"] for r in stats] == ["0741", None]  # the municipality and the total
    assert stats[0]["eligible_if_zone_2024-2025"] == 2
    error(client.get("/api/stats", params={"municipality": "9999"}), 404)


def test_export_streams_a_file_and_cleans_up(client, tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("netkort-export-*"))
    response = client.get(
        "/api/export", params={"what": "eligible-addresses", "format": "gpkg", "rules": "2025"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    target = tmp_path / "out.gpkg"
    target.write_bytes(response.content)
    layer = pyogrio.read_dataframe(target, layer="eligible_addresses")
    assert len(layer) == 2 and STRANDVEJEN_52 in set(layer["id"])
    assert set(Path(tempfile.gettempdir()).glob("netkort-export-*")) == before
    unknown = client.get("/api/export", params={"municipality": "9999"})
    assert unknown.status_code == 404
    assert client.get("/api/export", params={"format": "xls"}).status_code == 422


def test_health_metrics_and_openapi(client, bundle_release):
    health = client.get("/healthz").json()
    assert health["release_id"] == bundle_release.id and health["status"] == "ok"
    assert "2024-2025" in health["layers"]["assessment"]
    client.get("/api/lookup", params={"q": "nowhere 1"})
    text = client.get("/metrics").text
    assert f'netkort_release_info{{release="{bundle_release.id}"}} 1' in text
    assert 'netkort_requests_total{route="/api/lookup",method="GET",status="404"}' in text
    assert 'netkort_request_duration_seconds_bucket{route="/api/lookup",le="+Inf"}' in text
    assert "netkort_reload_failures_total 0" in text
    spec = client.get("/openapi.json").json()
    lookup = spec["paths"]["/api/lookup"]["get"]["responses"]
    for status in ("200", "400", "404", "422"):
        assert status in lookup
    assert lookup["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


JUNK = [
    "", " ", "\x00", "%", "💥", "a" * 199, "1", "8305", ",,,", "-", "'; drop table x; --",
    "Strandvejen 0", "Strandvejen 999Z", "strandvejen 52 a b c d e f", "ø" * 50, "../../etc",
    "0a3f5095-3dfc-32b8-e044-0003ba298018", "mapping:", "mapping:8305:x:1", "NaN", "1e999",
]  # fmt: skip


def test_no_input_gives_a_500(client):
    paths = []
    for value in JUNK:
        segment = quote(value, safe="")
        paths += [
            ("/api/lookup", {"q": value}),
            ("/api/lookup", {"id": value}),
            ("/api/lookup", {"lon": value, "lat": value}),
            ("/api/autocomplete", {"q": value, "limit": value}),
            ("/api/autocomplete", {"q": value}),
            ("/collections/eligible-addresses/items", {"bbox": value, "rules": value}),
            ("/collections/municipalities/items", {"limit": value, "offset": value}),
            (f"/collections/{segment}/items", {}),
            (f"/collections/municipalities/items/{segment}", {}),
            (f"/api/municipalities/{segment}", {}),
            ("/api/stats", {"municipality": value}),
            ("/api/export", {"rules": value, "municipality": value}),
        ]
    for lon, lat in [("nan", "nan"), ("inf", "1"), ("-0", "0"), ("10.6", "55.8e0"), ("1e3", "5")]:
        paths.append(("/api/lookup", {"lon": lon, "lat": lat}))
    for path, params in paths:
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)
        if response.status_code >= 400:
            ErrorBody.model_validate(response.json())


def test_cli_lookup_prints_the_api_answer(client, bundle_settings):
    api = client.get("/api/lookup", params={"q": "Strandvejen 52, 8305 Samsø"}).json()
    result = CliRunner().invoke(
        cli_app,
        ["lookup", "Strandvejen 52, 8305 Samsø", "--json", "--home", str(bundle_settings.home)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == api
    human = CliRunner().invoke(
        cli_app, ["lookup", "--id", STRANDVEJEN_52, "--home", str(bundle_settings.home), "-q"]
    )
    assert "Strandvejen 52, 8305 Samsø" in human.output and "eligible_if_zone" in human.output
    missing = subprocess.run(
        [str(NETKORT), "lookup", "Strandvejen 53, 8305", "--home", str(bundle_settings.home)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2
    assert "did you mean: Strandvejen 5" in missing.stderr
    assert missing.stderr.strip().endswith("no address matches 'Strandvejen 53, 8305'")


# -- hot reload ---------------------------------------------------------------------------------


def _point_current_at(home: Path, release_id: str) -> None:
    tmp = home / ".current-test"
    os.symlink(Path("releases") / release_id, tmp)
    os.replace(tmp, home / "current")


def _served(client: TestClient, want: str, timeout: float = 60.0) -> str:
    """Ask until the service answers from ``want`` (a reload runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        served = client.get("/healthz").json()["release_id"]
        if served == want or time.monotonic() > deadline:
            return served
        time.sleep(0.05)


def test_hot_reload_swaps_in_a_new_release_and_refuses_a_damaged_one(
    tmp_path, bundle_settings, bundle_release
):
    home = tmp_path / "home"
    shutil.copytree(bundle_settings.home, home, symlinks=True)
    settings = ServiceSettings(data=bundle_settings.data, home=home, reload_interval=0)
    with TestClient(create_app(settings)) as client:
        watcher = client.app.state.watcher
        old_state = watcher.state
        assert client.get("/healthz").json()["release_id"] == bundle_release.id

        new = build_release(
            Settings(data=bundle_settings.data, home=home),
            load_manifest(None, bundle_settings.data),
            force=True,
        ).release
        assert new.id != bundle_release.id
        assert _served(client, new.id) == new.id
        answer = client.get("/api/lookup", params={"q": "Strandvejen 52, 8305"}).json()
        assert answer["release"]["id"] == new.id
        # a request that took the old state keeps a complete, unchanged state object
        assert old_state.release.id == bundle_release.id
        assert old_state.index.resolve("Strandvejen 52, 8305").id == STRANDVEJEN_52

        damaged = f"{new.id}-damaged"
        shutil.copytree(new.path, home / "releases" / damaged)
        table = home / "releases" / damaged / "availability.parquet"
        table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
        _point_current_at(home, damaged)
        client.get("/healthz")  # notices the change and starts loading in the background
        watcher.wait(timeout=60)
        health = client.get("/healthz").json()
        assert health["release_id"] == new.id  # the good release keeps serving
        assert health["reload_failures"] == 1 and damaged in health["problem"]
        assert "netkort_reload_failures_total 1" in client.get("/metrics").text
        again = client.get("/api/lookup", params={"q": "Strandvejen 52, 8305"})
        assert again.status_code == 200 and again.json()["release"]["id"] == new.id

        _point_current_at(home, bundle_release.id)  # a rollback is a reload too
        assert _served(client, bundle_release.id) == bundle_release.id


def test_without_a_release_the_service_answers_503(tmp_path, data_dir):
    settings = ServiceSettings(data=data_dir, home=tmp_path / "empty", reload_interval=0)
    with TestClient(create_app(settings)) as client:
        body = error(client.get("/api/lookup", params={"q": "Strandvejen 52"}), 503)
        assert "netkort build" in body.detail
        error(client.get("/healthz"), 503)
        assert 'release="none"' in client.get("/metrics").text


def test_cors_is_off_by_default_and_set_from_the_environment(monkeypatch, bundle_settings):
    assert ServiceSettings().cors_origins == []
    monkeypatch.setenv("NETKORT_CORS_ORIGINS", "https://kort.example.dk, http://localhost:3000")
    settings = ServiceSettings(home=bundle_settings.home, data=bundle_settings.data)
    assert settings.cors_origins == ["https://kort.example.dk", "http://localhost:3000"]
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/conformance", headers={"Origin": "https://kort.example.dk"})
        assert allowed.headers["access-control-allow-origin"] == "https://kort.example.dk"
        other = client.get("/conformance", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
