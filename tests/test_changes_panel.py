"""The planner's "changes" panel in headless Chromium: counts per kind of change since the previous
release, a map layer of the changed addresses coloured by kind, and the note when there is no
earlier release. Values on the page are compared with what ``/api/changes`` answers.

Two homes: the session's bundle home (one release) and a home here with two releases, the second
built from a copy of the mapping where Strandvejen 52 gets fibre 1000/1000 and Nørreskiftevej 8
loses its fibre for xDSL 10 (the pattern of tests/test_diff.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest

from coverage.build import build_release
from coverage.settings import Settings
from coverage.sources import SourceFile, load_manifest
from service.routes.pages import strings
from service.settings import ServiceSettings
from tests.browser import chromium, guarded_page, screenshot, serve

SAMSOE = "0741"
RULES = "2024-2025"
MAPPING = "bbk/bbk26_udbudt_8305_samsoe.csv"
DA, EN = strings()["da"], strings()["en"]
#: planner.js colours by primary kind (got_fast green, lost_fast red).
GREEN, RED = "#1a9850", "#d7301f"


def _set(frame: pd.DataFrame, street: str, number: str, **values: str) -> None:
    rows = (frame["vejnavn"] == street) & (frame["husnr"] == number)
    assert rows.sum() == 1, (street, number)
    for column, value in values.items():
        frame.loc[rows, column] = value


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> SimpleNamespace:
    """A home with the bundle's release and one built from a modified copy of the mapping."""
    tmp = tmp_path_factory.mktemp("changes-panel")
    settings = Settings(data=data_dir, home=tmp / "home")
    manifest = load_manifest(None, data_dir)
    a = build_release(settings, manifest).release
    mapping = pd.read_csv(data_dir / MAPPING, dtype=str, keep_default_na=False)
    _set(mapping, "Strandvejen", "52", fiber_ned="1000", fiber_op="1000", xdsl_ned="0")
    _set(mapping, "Nørreskiftevej", "8", fiber_ned="0", fiber_op="0", xdsl_ned="10")
    path = tmp / "mapping.csv"
    mapping.to_csv(path, index=False)
    modified = manifest.with_files(
        "mapping", [SourceFile("mapping", path, profile="bbk-bundle", year=2026)]
    )
    b = build_release(settings, modified).release
    return SimpleNamespace(settings=settings, a=a, b=b)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _base(settings: Settings) -> Iterator[str]:
    service = ServiceSettings(data=settings.data, home=settings.home, reload_interval=3600)
    with serve(service) as url:
        yield url


@pytest.fixture(scope="module")
def two_base(two) -> Iterator[str]:
    yield from _base(two.settings)


@pytest.fixture(scope="module")
def one_base(bundle_settings, bundle_release) -> Iterator[str]:
    yield from _base(bundle_settings)


def _config(page) -> dict:
    return json.loads(page.locator("#netkort-config").text_content())


def test_panel_counts_and_map_layer_match_the_api(browser, two, two_base):
    with httpx.Client(base_url=two_base, timeout=60, trust_env=False) as api:
        answer = api.get(
            "/api/changes", params={"municipality": SAMSOE, "rules": RULES, "limit": 2000}
        ).json()
    assert (answer["from"], answer["to"]) == (two.a.id, two.b.id)
    row = next(c for c in answer["counts"] if c["kommunekode"] == SAMSOE)
    expected = {k: n for k, n in row["kinds"].items() if n > 0}
    # the two edits: one address got fast fibre, one lost it
    assert expected["got_fast"] == 1 and expected["lost_fast"] == 1
    placed = [f for f in answer["changes"]["features"] if f["geometry"] is not None]
    assert len(placed) == answer["matched"] == row["changed"] == 2

    with guarded_page(browser) as (page, guard):
        page.goto(f"{two_base}/planner?municipality={SAMSOE}&rules={RULES}")
        page.wait_for_selector(f'#map[data-ready="{SAMSOE}|{RULES}"]')
        # the closed panel asks nothing: a diff is work, and the map need not wait for it
        assert not [u for u in guard.requests if "/api/changes" in u]
        page.locator("#changes-panel summary").click()
        page.wait_for_selector(f'#changes-panel[data-ready="{SAMSOE}|{RULES}"]')
        assert page.locator("#changes-none").is_hidden()
        rows = page.locator("#changes-table tbody tr")
        shown = {
            rows.nth(i).get_attribute("data-kind"): int(
                rows.nth(i).locator("td").get_attribute("data-value")
            )
            for i in range(rows.count())
        }
        assert shown == expected
        for kind, n in expected.items():
            kind_row = page.locator(f'#changes-table tbody tr[data-kind="{kind}"]')
            assert DA[f"change_{kind}"] in kind_row.inner_text()
            assert kind_row.locator("td").inner_text().strip() == str(n)
        total = page.locator('#changes-table tfoot [data-kind="changed"] td')
        assert total.get_attribute("data-value") == str(row["changed"])
        releases = page.locator("#changes-releases").inner_text()
        assert two.a.id in releases and two.b.id in releases

        # the layer is off until asked for, then one marker per changed address, by kind
        assert page.locator("path.netkort-change").count() == 0
        page.get_by_label(DA["layer_changes"]).check()
        page.wait_for_selector("path.netkort-change")
        assert page.locator("path.netkort-change").count() == len(placed)
        kinds = sorted(f["properties"]["kind"] for f in placed)
        assert kinds == ["got_fast", "lost_fast"]
        assert page.locator("path.change-got_fast").get_attribute("fill") == GREEN
        assert page.locator("path.change-lost_fast").get_attribute("fill") == RED
        legend = page.locator("#legend-body").inner_text()
        assert DA["changes_heading"] in legend and DA["change_lost_fast"] in legend
        screenshot(page, "planner-changes")
        page.get_by_label(DA["layer_changes"]).uncheck()
        assert page.locator("path.netkort-change").count() == 0

        # the kind names follow the language toggle
        page.locator("#lang-toggle").click()
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert EN["change_got_fast"] in page.locator("#changes-table tbody").inner_text()
        assert page.locator("#changes-panel summary").inner_text() == EN["changes_heading"]
        guard.assert_clean()


def test_a_single_release_says_there_is_nothing_to_compare_with(browser, one_base):
    with httpx.Client(base_url=one_base, timeout=60, trust_env=False) as api:
        assert api.get("/api/changes", params={"municipality": SAMSOE}).status_code == 404
    with guarded_page(browser) as (page, guard):
        page.goto(f"{one_base}/planner?municipality={SAMSOE}")
        page.wait_for_selector(f'#map[data-ready^="{SAMSOE}|"]')
        page.locator("#changes-panel summary").click()
        page.wait_for_selector('#changes-panel[data-ready="none"]')
        assert page.locator("#changes-none").inner_text() == DA["changes_no_previous"]
        assert page.locator("#changes-none").is_visible()
        assert page.locator("#changes-content").is_hidden()
        assert page.locator("path.netkort-change").count() == 0
        asked = [u for u in guard.requests if re.search(r"/api/changes\b", u)]
        if "previous" in (_config(page)["release"] or {}):
            # the page config says there is no earlier release: the panel asks nothing
            assert asked == []
            guard.assert_clean()
        else:
            # without that hint the panel asks once and reads the 404; Chromium logs the status
            assert len(asked) == 1
            guard.assert_clean(allow_console=("status of 404",))
