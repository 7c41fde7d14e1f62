"""The citizen page and the planner in headless Chromium against the app served by uvicorn.

Each test opens pages through ``tests.browser.guarded_page``: every request that would leave
127.0.0.1 is blocked and counted, and ``guard.assert_clean()`` fails on any, or on a JS error.
Values on the pages are compared with what the JSON API answers for the same question.
Screenshots (desktop and a 375 px phone) go to ``tests/artifacts/``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pyogrio
import pytest
from PIL import Image

from service.routes.pages import strings
from service.settings import ServiceSettings
from tests.browser import chromium, drawn_pixels, guarded_page, screenshot, serve

SAMSOE = "0741"
MAP_BACKGROUND = (0xDF, 0xE8, 0xEF)  # .map background in netkort.css
BOUNDARY = (0x33, 0x33, 0x33)  # maps.style.BOUNDARY_COLOUR
DA, EN = strings()["da"], strings()["en"]


@pytest.fixture(scope="module")
def base(bundle_settings, bundle_release) -> Iterator[str]:
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with serve(settings) as url:
        yield url


@pytest.fixture(scope="module")
def api(base) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def speed_text(value: float | None, lang: str) -> str:
    """How the page writes a speed: not reported / not offered / '1.000 Mbit/s' (da)."""
    texts = DA if lang == "da" else EN
    if value is None:
        return texts["not_reported"]
    if value == 0:
        return texts["not_offered"]
    number = f"{value:,.1f}".removesuffix(".0")
    if lang == "da":
        number = number.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{number} Mbit/s"


def field(page, name: str, within: str = "#result") -> str:
    return page.locator(f'{within} [data-field="{name}"]').first.inner_text().strip()


def wait_for_result(page, address_id: str | None = None) -> None:
    page.wait_for_selector("#result:not([hidden])")
    if address_id:
        page.wait_for_selector(f'#map[data-ready="{address_id}"]')
    else:
        page.wait_for_selector('#map[data-ready]:not([data-ready=""])')


def check_card_against_api(page, answer: dict, rules: dict, lang: str) -> None:
    """Every value the card shows equals the API's answer, in the page's language."""
    texts = DA if lang == "da" else EN
    assert field(page, "address.text") == answer["address"]["text"]
    for tech, speed in answer["fixed"]["technologies"].items():
        for direction in ("down", "up"):
            cell = page.locator(f'#fixed-table [data-field="fixed.{tech}.{direction}"]')
            assert cell.inner_text().strip() == speed_text(speed[direction], lang), (
                tech,
                direction,
            )
            raw = cell.get_attribute("data-value")
            assert raw == ("null" if speed[direction] is None else f"{speed[direction]:g}")
    best = answer["fixed"]["best"]
    assert field(page, "fixed.best.down") == speed_text(best["down"], lang)
    assert field(page, "fixed.best.up") == speed_text(best["up"], lang)
    assert field(page, "fixed.best.technology") == texts[f"tech_{best['technology']}"]
    declared = answer["mobile"]["declared"]
    assert field(page, "mobile.declared.down") == speed_text(declared["down"], lang)
    assert field(page, "mobile.declared.up") == speed_text(declared["up"], lang)
    assert "Digitaliseringsstyrelsen" in field(page, "mobile.declared.source")
    # measured and modelled mobile service, when the release has it, with source and date
    rows = page.locator("#mobile-table tr[data-observation]")
    assert rows.count() == len(answer["mobile"]["observations"])
    for i, obs in enumerate(answer["mobile"]["observations"]):
        down = field(page, f"mobile.observations.{i}.down")
        assert down == (speed_text(obs["down"], lang) if obs.get("down") is not None else "–")
        if obs.get("source"):
            assert (
                obs["source"] in rows.nth(i).locator("xpath=following-sibling::tr[1]").inner_text()
            )
    # the pool under the newest rules, its reason sentence in the page's language
    newest = rules["default"]
    verdict = answer["pool"][newest]
    block = page.locator(f'#pool-newest [data-rules="{newest}"]')
    klass = block.locator('[data-field="pool.class"]')
    assert klass.get_attribute("data-value") == verdict["class"]
    assert klass.inner_text().strip() == texts[f"class_{verdict['class']}"]
    assert (
        block.locator('[data-field="pool.reason"]').inner_text().strip()
        == (verdict[f"reason_{lang}"])
    )
    assert (
        block.locator('[data-field="pool.title"]').inner_text().strip() == (verdict["title"][lang])
    )
    # the other rule sets, folded away
    others = page.locator("#pool-others .pool-other")
    assert others.count() == len(answer["pool"]) - 1
    for rid, other in answer["pool"].items():
        if rid == newest:
            continue
        shown = page.locator(f'#pool-others [data-rules="{rid}"] [data-field="pool.class"]')
        assert shown.get_attribute("data-value") == other["class"], rid
    assert field(page, "release.id") == answer["release"]["id"]
    for line in answer["sources"]["attribution"]:
        assert line in page.locator("#result .sources").inner_text()
    report = page.locator("#report-link")
    assert report.get_attribute("href") == f"/report?id={answer['address']['id']}"
    assert report.inner_text().strip() == texts["report_error"]


def test_typing_strandvejen_52_and_choosing_samsoe_shows_what_the_api_answers(browser, base, api):
    rules = api.get("/api/rules").json()
    suggestions = api.get("/api/autocomplete", params={"q": "Strandvejen 52"}).json()["results"]
    samsoe = next(s for s in suggestions if "Samsø" in s["text"])
    answer = api.get("/api/lookup", params={"id": samsoe["id"]}).json()
    assert answer["pool"][rules["default"]]["class"] == "eligible_if_zone"  # the bundle's truth

    with guarded_page(browser) as (page, guard):
        page.goto(f"{base}/")  # the browser's Accept header gets the page, not the OGC JSON
        assert page.locator("html").get_attribute("lang") == "da"
        box = page.get_by_role("combobox", name=DA["search_label"])
        box.press_sequentially("Strandvejen 52", delay=25)
        option = page.get_by_role("option", name=re.compile("Samsø"))
        option.first.wait_for()
        assert box.get_attribute("aria-expanded") == "true"
        started = time.perf_counter()
        option.first.click()
        wait_for_result(page, samsoe["id"])
        elapsed = time.perf_counter() - started
        assert page.locator("#result").get_attribute("data-address-id") == samsoe["id"]
        assert box.get_attribute("aria-expanded") == "false"
        check_card_against_api(page, answer, rules, "da")
        assert elapsed < 1.0, f"result card and map took {elapsed:.2f} s"
        screenshot(page, "citizen-desktop", full_page=True)

        # English by the toggle, remembered across a reload
        page.get_by_role("button", name=DA["lang_toggle_label"]).click()
        assert page.locator("html").get_attribute("lang") == "en"
        check_card_against_api(page, answer, rules, "en")
        page.reload()
        wait_for_result(page, samsoe["id"])  # ?id= in the address bar brings the card back
        assert page.locator("html").get_attribute("lang") == "en"
        assert (
            page.get_by_role("combobox", name=EN["search_label"]).input_value()
            == (answer["address"]["text"])
        )
        check_card_against_api(page, answer, rules, "en")
        page.get_by_role("button", name=EN["lang_toggle_label"]).click()
        assert page.locator("html").get_attribute("lang") == "da"
        guard.assert_clean()


def test_map_draws_the_address_marker_and_the_municipality_boundary(browser, base, api):
    answer = api.get("/api/lookup", params={"q": "Strandvejen 52, 8305 Samsø"}).json()
    address = answer["address"]
    with guarded_page(browser) as (page, guard):
        page.goto(f"{base}/?id={address['id']}")
        wait_for_result(page, address["id"])
        page.wait_for_timeout(300)  # let Leaflet finish placing the SVG
        the_map = page.locator("#map")
        png = the_map.screenshot()
        (Path(__file__).parent / "artifacts").mkdir(exist_ok=True)
        (Path(__file__).parent / "artifacts" / "citizen-map.png").write_bytes(png)
        assert drawn_pixels(png, MAP_BACKGROUND) > 20_000
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        boundary = (np.abs(pixels - np.array(BOUNDARY)).sum(axis=2) < 40).sum()
        assert boundary > 300, "the municipality boundary is not drawn"
        assert page.locator("path.netkort-boundary").count() >= 1
        assert page.locator("path.netkort-region").count() >= 19  # the region's outlines
        # the zones of the newest rules around the address (Strandvejen 52 lies in one)
        assert answer["pool"]["2024-2025"]["zone_ids"]
        assert page.locator("path.netkort-zone").count() >= 1
        # the marker sits where the map is centred: at the address
        marker = page.locator(".leaflet-marker-icon")
        assert marker.count() == 1
        assert marker.get_attribute("title") == address["text"]
        mbox, box = marker.bounding_box(), the_map.bounding_box()
        tip = (mbox["x"] + mbox["width"] / 2, mbox["y"] + mbox["height"])
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert abs(tip[0] - centre[0]) < 3 and abs(tip[1] - centre[1]) < 3
        assert page.locator(".leaflet-tile").count() == 0  # no base map unless configured
        assert (
            page.get_by_text(DA["mobile_layers_missing"]).is_visible()
            or page.locator("#mobile-control").is_visible()
        )
        guard.assert_clean()


def test_keyboard_only_search_with_the_combobox(browser, base, api):
    expected = api.get("/api/autocomplete", params={"q": "Strandvejen 5", "limit": 8}).json()
    texts = [r["text"] for r in expected["results"]]
    assert len(texts) >= 3
    with guarded_page(browser) as (page, guard):
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(f"{base}/")
        for _ in range(12):  # skip link, brand, navigation, language, then the search field
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "q":
                break
        assert page.evaluate("document.activeElement.id") == "q"
        box = page.get_by_role("combobox", name=DA["search_label"])
        listbox = page.get_by_role("listbox", name=DA["search_label"])
        page.keyboard.type("Strandvejen 5", delay=25)
        listbox.wait_for()
        assert box.get_attribute("aria-expanded") == "true"
        options = listbox.get_by_role("option")
        assert options.all_inner_texts() == texts  # the API's order, shown as is

        page.keyboard.press("ArrowDown")
        assert box.get_attribute("aria-activedescendant") == "q-option-0"
        assert options.nth(0).get_attribute("aria-selected") == "true"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        assert box.get_attribute("aria-activedescendant") == "q-option-2"
        page.keyboard.press("ArrowUp")
        assert box.get_attribute("aria-activedescendant") == "q-option-1"
        assert options.nth(0).get_attribute("aria-selected") == "false"
        page.keyboard.press("Escape")
        assert box.get_attribute("aria-expanded") == "false"
        assert not listbox.is_visible()
        assert box.get_attribute("aria-activedescendant") is None
        assert box.input_value() == "Strandvejen 5"  # Escape closes first, clears only next
        page.keyboard.press("ArrowDown")  # reopens on the first option
        assert box.get_attribute("aria-expanded") == "true"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        chosen = expected["results"][1]
        wait_for_result(page, chosen["id"])
        assert field(page, "address.text") == chosen["text"]
        assert page.evaluate("document.activeElement.id") == "q"

        # Enter without a highlighted suggestion searches the typed text
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
        assert box.input_value() == ""
        page.keyboard.type("strandvejen 52 samsoe", delay=10)
        page.keyboard.press("Enter")
        wait_for_result(
            page, api.get("/api/lookup", params={"q": "Strandvejen 52"}).json()["address"]["id"]
        )
        assert field(page, "address.text") == "Strandvejen 52, 8305 Samsø"

        # a text that matches nothing: the page says so and offers the API's suggestions
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
        page.keyboard.type("Strandvejen 53, 8305 Samsø", delay=5)
        page.keyboard.press("Enter")
        status = page.locator("#status")
        status.get_by_text(DA["not_found"]).wait_for()
        missing = api.get("/api/lookup", params={"q": "Strandvejen 53, 8305 Samsø"}).json()
        offered = status.get_by_role("button").all_inner_texts()
        assert offered == [s["text"] for s in missing["suggestions"]]
        # Chromium logs the lookup's 404 as a console error; it must be the only failed request
        assert [urlsplit(u).path for u in failed] == ["/api/lookup"]
        guard.assert_clean(allow_console=("status of 404",))


@pytest.mark.parametrize("path", ["/", "/planner"])
def test_every_control_has_an_accessible_name(browser, base, path):
    with guarded_page(browser) as (page, guard):
        page.goto(f"{base}{path}")
        if path == "/planner":
            page.wait_for_selector('#map[data-ready]:not([data-ready=""])')
            for label, ident in [
                (DA["municipality"], "municipality"),
                (DA["rule_set"], "rules"),
                (DA["export_what"], "export-what"),
            ]:
                assert page.get_by_label(label, exact=True).get_attribute("id") == ident
            page.get_by_role("link", name=DA["format_gpkg"]).wait_for()
        else:
            page.get_by_label(DA["search_label"], exact=True).first.wait_for()
            assert (
                page.get_by_label(DA["search_label"], exact=True).first.get_attribute("id") == "q"
            )
            page.get_by_role("button", name=DA["search_button"]).wait_for()
        nameless = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
                .map((el) => el.outerHTML.slice(0, 80))"""
        )
        assert nameless == []
        guard.assert_clean()


def wider(page, width: int = 375) -> list[str]:
    """Elements reaching beyond the viewport (for the failure message)."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > width + 1)
            .filter((e) => !e.closest('.leaflet-container'))
            .slice(0, 10)
            .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""",
        width,
    )


def test_phone_width_search_and_pages_fit(browser, base, api):
    answer = api.get("/api/lookup", params={"q": "Strandvejen 52, 8305 Samsø"}).json()
    with guarded_page(browser, viewport=(375, 812), is_mobile=True, has_touch=True) as (
        page,
        guard,
    ):
        page.goto(f"{base}/")
        box = page.get_by_role("combobox", name=DA["search_label"])
        box.tap()
        box.press_sequentially("Strandvejen 52", delay=25)
        option = page.get_by_role("option", name=re.compile("Samsø")).first
        option.wait_for()
        listed = page.locator("#q-list").bounding_box()
        assert listed["x"] >= 0 and listed["x"] + listed["width"] <= 375
        option.tap()
        wait_for_result(page, answer["address"]["id"])
        assert field(page, "address.text") == answer["address"]["text"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, wider(page)
        screenshot(page, "citizen-phone", full_page=True)

        page.goto(f"{base}/planner")
        page.wait_for_selector('#map[data-ready]:not([data-ready=""])')
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, wider(page)
        screenshot(page, "planner-phone", full_page=True)
        guard.assert_clean()


def csv_rows(path: Path) -> int:
    """Data rows of a CSV download (the export zips a CSV with its metadata beside it)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as bundle:
            (name,) = [n for n in bundle.namelist() if n.endswith(".csv")]
            text = bundle.read(name).decode("utf-8-sig")
    else:
        text = path.read_text("utf-8-sig")
    return len(list(csv.DictReader(io.StringIO(text))))


def expected_eligible_ids(api: httpx.Client, code: str, rules: str) -> set[str]:
    items = api.get(
        "/collections/eligible-addresses/items", params={"rules": rules, "limit": 10_000}
    ).json()
    return {f["id"] for f in items["features"] if f["properties"]["kommunekode"] == code}


def test_planner_choosing_samsoe_and_exporting_a_geopackage(browser, base, api, tmp_path):
    rules = api.get("/api/rules").json()["default"]
    ids = expected_eligible_ids(api, SAMSOE, rules)
    stats = next(r for r in api.get("/api/stats").json()["rows"] if r["kommunekode"] == SAMSOE)
    counted = sum(stats[f"{k}_{rules}"] for k in ("eligible", "eligible_blue", "eligible_if_zone"))
    assert len(ids) == counted == 2  # Strandvejen 52 and Nørreskiftevej 6 (DOMAIN.md)

    with guarded_page(browser, accept_downloads=True) as (page, guard):
        page.goto(f"{base}/planner")
        page.wait_for_selector('#map[data-ready]:not([data-ready=""])')
        picker = page.get_by_label(DA["municipality"], exact=True)
        picker.select_option("0751")  # Aarhus first, then Samsø: the choice is what counts
        page.wait_for_selector('#map[data-ready^="0751|"]')
        assert "municipality=0751" in page.get_by_role(
            "link", name=DA["format_gpkg"]
        ).get_attribute("href")
        picker.select_option(label=f"Samsø ({SAMSOE})")
        page.wait_for_selector(f'#map[data-ready="{SAMSOE}|{rules}"]')
        assert page.locator("#map").get_attribute("data-eligible") == str(len(ids))
        assert page.locator("#stats-table tbody tr.chosen").get_attribute("data-code") == SAMSOE
        screenshot(page, "planner-desktop", full_page=True)

        with page.expect_download() as info:
            page.get_by_role("link", name=DA["format_gpkg"]).click()
        download = info.value
        assert f"municipality={SAMSOE}" in download.url and f"rules={rules}" in download.url
        assert download.suggested_filename.endswith(".gpkg")
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        layers = [name for name, _ in pyogrio.list_layers(path)]
        assert "eligible_addresses" in layers
        frame = pyogrio.read_dataframe(path, layer="eligible_addresses")
        assert len(frame) == len(ids)
        assert set(frame["id"]) == ids
        assert set(frame["kommunekode"]) == {SAMSOE}
        assert frame.crs.to_epsg() == 25832

        # the other formats are real files too
        for name, check in [
            (DA["format_csv"], lambda p: csv_rows(p) == len(ids)),
            (DA["format_geojson"], lambda p: len(json.loads(p.read_text())["features"]) == 2),
            (DA["format_shp"], lambda p: p.read_bytes()[:2] == b"PK"),
        ]:
            with page.expect_download() as info:
                page.get_by_role("link", name=name).click()
            target = tmp_path / info.value.suggested_filename
            info.value.save_as(target)
            assert check(target), name
        guard.assert_clean()


def test_planner_table_sorts_by_click_and_by_keyboard(browser, base, api):
    rows = api.get("/api/stats").json()["rows"]
    region = next(r for r in rows if r["level"] == "region")
    with guarded_page(browser) as (page, guard):
        page.goto(f"{base}/planner")
        page.wait_for_selector('#map[data-ready]:not([data-ready=""])')
        table = page.locator("#stats-table")
        assert table.locator("tbody tr").count() == 19
        names = table.locator("tbody th").all_inner_texts()
        assert names == sorted(names, key=lambda n: n.replace("Aa", "Å"))  # Danish: Aarhus last
        header = table.locator('thead th[data-column="addresses"]')
        header.get_by_role("button").click()
        assert header.get_attribute("aria-sort") == "ascending"
        values = [
            int(v)
            for v in table.locator('tbody td[data-column="addresses"]').evaluate_all(
                "cells => cells.map((c) => c.dataset.value)"
            )
        ]
        assert values == sorted(values)
        header.get_by_role("button").focus()
        page.keyboard.press("Enter")
        assert header.get_attribute("aria-sort") == "descending"
        assert table.locator("tbody tr").first.get_attribute("data-code") == SAMSOE
        first = table.locator('tbody tr:first-child td[data-column="addresses"]')
        assert first.get_attribute("data-value") == str(region["addresses"]) == "4591"
        assert (
            table.locator('thead th[data-column="kommunenavn"]').get_attribute("aria-sort") is None
        )
        total = table.locator('tfoot td[data-column="addresses"]')
        assert total.inner_text().strip() == "4.591"
        # choosing a municipality from the table moves the map
        table.get_by_role("button", name=DA["show_on_map"].format(name="Samsø")).press("Enter")
        page.wait_for_selector(f'#map[data-ready^="{SAMSOE}|"]')
        guard.assert_clean()


def test_planner_layers_legends_and_print_view(browser, base, api):
    rule_sets = [r["id"] for r in api.get("/api/rules").json()["rule_sets"] if r["assessed"]]
    zones_2022 = api.get(
        "/collections/zones/items", params={"rules": "2022-2023", "limit": 1000}
    ).json()["numberMatched"]
    assert zones_2022 >= 1
    with guarded_page(browser) as (page, guard):
        page.goto(f"{base}/planner?municipality={SAMSOE}")
        page.wait_for_selector(f'#map[data-ready^="{SAMSOE}|"]')
        # one zones switch per assessed rule set; the newest is on
        for rid in rule_sets:
            page.get_by_label(f"{DA['layer_zones']} {rid}", exact=True).wait_for()
        assert page.get_by_label(f"{DA['layer_zones']} 2024-2025", exact=True).is_checked()
        assert page.locator("path.zone-2022-2023").count() == 0
        page.get_by_label(f"{DA['layer_zones']} 2022-2023", exact=True).check()
        page.wait_for_selector("path.zone-2022-2023")
        assert page.locator("path.zone-2022-2023").count() == zones_2022
        legend = page.locator("#legend-body")
        assert f"{DA['layer_zones']} 2022-2023" in legend.inner_text()

        before = page.locator("#map").screenshot()
        page.get_by_label(DA["layer_grid"]).check()
        legend.get_by_text(DA["layer_grid"]).wait_for()
        page.wait_for_timeout(300)
        after = page.locator("#map").screenshot()
        # the 1 km cells cover the island: far more drawn pixels than boundary and zones alone
        assert drawn_pixels(after, MAP_BACKGROUND) > drawn_pixels(before, MAP_BACKGROUND) + 5_000
        assert legend.locator(".legend-item").count() >= 6

        tiles = api.get("/tiles")
        rasters = (
            [la for la in tiles.json()["layers"] if la["kind"] == "raster"]
            if tiles.status_code == 200
            else []
        )
        radios = page.locator('#mobile-options input[type="radio"]')
        if rasters:
            assert radios.count() == len(rasters) + 1
        else:  # no raster layers: no switch, a note instead
            assert radios.count() == 0
            assert page.get_by_text(DA["mobile_layers_missing"]).is_visible()

        page.get_by_role("link", name=DA["print_view"]).click()
        page.wait_for_url(re.compile(r"/planner/print\?"))
        page.wait_for_selector(f'#map[data-ready="{SAMSOE}|2024-2025"]')
        assert "Samsø (0741)" in page.locator("h1").inner_text()
        rows = page.locator("#stats-table tbody tr")
        assert rows.count() == 1 and rows.first.get_attribute("data-code") == SAMSOE
        assert page.locator("#stats-table tfoot tr").count() == 1
        assert page.locator("path.netkort-boundary").count() >= 1
        assert page.locator("path.netkort-zone").count() >= 1
        screenshot(page, "planner-print", full_page=True)
        page.emulate_media(media="print")
        assert not page.locator(".site-header").is_visible()
        assert not page.get_by_role("button", name=DA["print_button"]).is_visible()
        assert page.locator("#map").is_visible()
        assert page.locator("#stats-table").is_visible()
        guard.assert_clean()


# ---------------------------------------------------------------- mobile raster layers


@pytest.fixture(scope="module")
def raster_base(bundle_settings, bundle_release) -> Iterator[str]:
    """The bundle release served as built: it carries the propagation model's RSRP rasters."""
    assert bundle_release.manifest.get("mobile"), "the bundle build should model mobile coverage"
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with serve(settings) as url:
        yield url


def test_mobile_raster_layers_switch_on_with_their_legend(browser, raster_base):
    with httpx.Client(base_url=raster_base, timeout=30, trust_env=False) as api:
        listing = api.get("/tiles")
        if listing.status_code == 404:
            pytest.fail("the service has no /tiles routes (service/routes/tiles.py)")
        rasters = [la for la in listing.json()["layers"] if la["kind"] == "raster"]
        # The model writes outdoor and indoor RSRP per operator x technology (4G and 5G on Samsø).
        assert {la["id"] for la in rasters} >= {
            "rsrp_unknown_4g_outdoor",
            "rsrp_unknown_5g_outdoor",
        }
        layer = next(la for la in rasters if la["id"] == "rsrp_unknown_4g_outdoor")
        legend = api.get(f"/tiles/{layer['id']}/legend").json()["entries"]
    title = layer["title"]
    with guarded_page(browser) as (page, guard):
        page.goto(f"{raster_base}/planner?municipality={SAMSOE}")
        page.wait_for_selector(f'#map[data-ready^="{SAMSOE}|"]')
        page.get_by_label(title).wait_for()
        assert not page.get_by_text(DA["mobile_layers_missing"]).is_visible()
        before = page.locator("#map").screenshot()
        page.get_by_label(title).check()
        page.wait_for_selector("img.leaflet-tile-loaded")
        page.locator("#legend-body").get_by_text(legend[0]["label_da"]).wait_for()
        page.wait_for_timeout(300)
        after = page.locator("#map").screenshot()
        screenshot(page, "planner-mobile-layer")
        # The model covers the island around its 8 towers: thousands of newly coloured pixels.
        assert drawn_pixels(after, MAP_BACKGROUND) > drawn_pixels(before, MAP_BACKGROUND) + 10_000
        tiles = [u for u in guard.requests if re.search(rf"/tiles/{layer['id']}/\d+/", u)]
        assert tiles and all(u.startswith(raster_base) and ".png?" in u for u in tiles)

        page.goto(f"{raster_base}/?q=Strandvejen 52, 8305 Samsø")
        wait_for_result(page)
        page.get_by_label(DA["layer_mobile"]).select_option(label=title)
        page.wait_for_selector("img.leaflet-tile-loaded")
        page.locator("#map-legend").get_by_text(legend[-1]["label_da"]).wait_for()
        guard.assert_clean()


def test_a_reported_address_says_so_on_its_card(browser, raster_base):
    """A report posted through the API (to this module's own release home) shows on the card."""
    with httpx.Client(base_url=raster_base, timeout=30, trust_env=False) as api:
        answer = api.get("/api/lookup", params={"q": "Nørreskiftevej 6, 8305 Samsø"}).json()
        address_id = answer["address"]["id"]
        assert not (answer.get("reports") or {}).get("under_review")
        posted = api.post(
            "/api/reports",
            json={
                "kind": "fixed_speed",
                "address_id": address_id,
                "technology": "fiber",
                "claimed_down": 0,
                "message": "Ingen fiber her.",
            },
        )
        assert posted.status_code == 201, posted.text
        summary = api.get("/api/lookup", params={"id": address_id}).json()["reports"]
        assert summary["under_review"] is True
    with guarded_page(browser) as (page, guard):
        page.goto(f"{raster_base}/?id={address_id}")
        wait_for_result(page, address_id)
        assert field(page, "reports") == summary["label"]["da"]
        page.get_by_role("button", name=DA["lang_toggle_label"]).click()
        assert field(page, "reports") == summary["label"]["en"]
        guard.assert_clean()


def test_base_map_setting_draws_tiles_from_where_it_points(
    browser, bundle_settings, bundle_release
):
    """With ``base_map_url`` set the pages ask that tile server (here: the app itself serving a
    vendored PNG as every tile); without it they ask no tile server at all (tests above)."""
    settings = ServiceSettings(
        data=bundle_settings.data,
        home=bundle_settings.home,
        reload_interval=3600,
        base_map_url="/static/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}",
    )
    with serve(settings) as url, guarded_page(browser) as (page, guard):
        page.goto(f"{url}/planner?municipality={SAMSOE}")
        page.wait_for_selector(f'#map[data-ready^="{SAMSOE}|"]')
        page.wait_for_selector("img.leaflet-tile-loaded")
        assert any("layers.png?z=" in u for u in guard.requests)
        guard.assert_clean()
