"""The web pages over HTTP: content negotiation at ``/``, local assets only, a CSP-ready markup,
the config each page's script starts from, texts in both languages, and the print view's errors."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from service.errors import ErrorBody
from service.main import create_app
from service.routes.pages import STATIC_DIR, TEMPLATE_DIR, strings, wants_html
from service.settings import ServiceSettings

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
APP_DIR = STATIC_DIR / "app"
#: The files of these pages (other pages, e.g. the report form, keep their own files beside them).
APP_FILES = [APP_DIR / n for n in ("common.js", "citizen.js", "planner.js", "netkort.css")]
TEMPLATES = [TEMPLATE_DIR / n for n in ("base.html", "citizen.html", "planner.html", "print.html")]
DYNAMIC_KEYS = {
    *(f"tech_{t}" for t in ("fiber", "coax", "xdsl", "fwa")),
    *(f"class_{c}" for c in ("eligible", "eligible_blue", "eligible_if_zone", "not_eligible")),
    "class_no_data",
    *(f"confidence_{c}" for c in ("low", "medium", "high")),
}


class Page(HTMLParser):
    """What a page loads and declares: scripts, styles, inline code, labels, the config block."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[str] = []
        self.inline_styles: list[str] = []
        self.handlers: list[str] = []
        self.style_blocks = 0
        self.ids: dict[str, dict[str, str | None]] = {}
        self.labels_for: set[str] = set()
        self.i18n: set[str] = set()
        self.html_lang: str | None = None
        self._in_config = False
        self.config_text = ""
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "script":
            self.scripts.append(a)
            self._in_config = a.get("id") == "netkort-config"
        if tag == "link" and a.get("rel") == "stylesheet":
            self.styles.append(str(a.get("href")))
        if tag == "style":
            self.style_blocks += 1
        if "style" in a:
            self.inline_styles.append(tag)
        self.handlers += [k for k in a if k.startswith("on")]
        if a.get("id"):
            self.ids[str(a["id"])] = a | {"tag": tag}
        if tag == "label" and a.get("for"):
            self.labels_for.add(str(a["for"]))
        for key in ("data-i18n", "data-i18n-placeholder", "data-i18n-aria-label"):
            if a.get(key):
                self.i18n.add(str(a[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_config = False

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config_text += data
        elif self.scripts and self.lasttag == "script" and data.strip():
            self._script_text.append(data)

    @property
    def config(self) -> dict:
        return json.loads(self.config_text)

    @property
    def inline_scripts(self) -> list[str]:
        return self._script_text


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def client(bundle_settings, bundle_release):
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600
    )
    with TestClient(create_app(settings)) as c:
        yield c


def html(client: TestClient, path: str, **params) -> Page:
    # (httpx replaces a URL's own query with params, even an empty dict)
    response = client.get(path, params=params or None, headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text)


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("accept", "f", "expected"),
    [
        (BROWSER_ACCEPT, None, True),  # Chromium, Firefox
        ("text/html", None, True),
        ("application/json", None, False),  # QGIS
        ("*/*", None, False),  # curl, httpx, requests
        (None, None, False),
        ("", None, False),
        ("text/html;q=0.5, application/json", None, False),
        ("application/json;q=0.1, text/html", None, True),
        ("text/*", None, True),
        ("application/geo+json", None, False),
        ("text/html;q=0", None, False),
        ("text/html;q=abc, application/json;q=0.2", None, False),  # unparsable q counts as 0
        (BROWSER_ACCEPT, "json", False),
        ("application/json", "html", True),
    ],
)
def test_wants_html_by_f_then_accept(accept, f, expected):
    assert wants_html(_request(accept), f) is expected


def test_root_serves_the_page_to_browsers_and_json_to_api_clients(client):
    page = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    assert parse(page.text).ids["q"]["role"] == "combobox"

    for headers, params in [
        ({"Accept": "application/json"}, {}),
        ({}, {}),  # httpx sends */*
        ({"Accept": BROWSER_ACCEPT}, {"f": "json"}),
    ]:
        landing = client.get("/", headers=headers, params=params)
        assert landing.status_code == 200
        assert landing.headers["content-type"].startswith("application/json")
        assert "Accept" in landing.headers["vary"]
        rels = {link["rel"] for link in landing.json()["links"]}
        assert {"self", "conformance", "data"} <= rels

    english = client.get("/", params={"lang": "en"}, headers={"Accept": BROWSER_ACCEPT})
    assert parse(english.text).html_lang == "en"
    forced = client.get("/", params={"f": "html"}, headers={"Accept": "application/json"})
    assert forced.headers["content-type"].startswith("text/html")
    bad = client.get("/", params={"f": "xml"})
    assert bad.status_code == 422
    assert ErrorBody.model_validate(bad.json()).errors[0].loc[-1] == "f"


@pytest.mark.parametrize(
    "path", ["/", "/index.html", "/planner", "/planner/print?municipality=0741"]
)
def test_pages_load_only_local_files_that_exist(client, path):
    page = html(client, path)
    sources = [str(s["src"]) for s in page.scripts if s.get("src")] + page.styles
    assert len(sources) >= 4
    for src in sources:
        assert src.startswith("/static/"), src  # same origin: no CDN, no other host
        response = client.get(src)
        assert response.status_code == 200, src
        kind = "text/css" if ".css" in src else "javascript"
        assert kind in response.headers["content-type"]
    # Leaflet's stylesheet names its marker and control images: they are served too
    css = client.get("/static/vendor/leaflet/leaflet.css").text
    for image in set(re.findall(r"url\((images/[^)]+)\)", css)):
        assert client.get(f"/static/vendor/leaflet/{image}").status_code == 200, image


def test_app_files_name_no_other_host():
    for path in [*APP_FILES, APP_DIR / "i18n.json"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
    for path in TEMPLATES:
        assert "http://" not in path.read_text() and "https://" not in path.read_text(), path


@pytest.mark.parametrize("path", ["/", "/planner", "/planner/print?municipality=0741"])
def test_markup_is_ready_for_a_self_only_content_security_policy(client, path):
    page = html(client, path)
    # the only script without src is the JSON config, which a browser never executes
    inline = [s for s in page.scripts if not s.get("src")]
    assert [s.get("type") for s in inline] == ["application/json"]
    assert page.inline_scripts == []
    assert page.style_blocks == 0
    assert page.inline_styles == []
    assert page.handlers == []


@pytest.mark.parametrize("path", ["/", "/planner", "/planner/print?municipality=0741"])
def test_every_form_control_has_a_label(client, path):
    page = html(client, path)
    controls = {
        i: a
        for i, a in page.ids.items()
        if a["tag"] in ("input", "select", "textarea") and a.get("type") != "hidden"
    }
    unlabelled = [
        i
        for i, a in controls.items()
        if i not in page.labels_for and not a.get("aria-label") and not a.get("aria-labelledby")
    ]
    assert unlabelled == []
    if path == "/":
        q = page.ids["q"]
        assert q["role"] == "combobox"
        assert q["aria-expanded"] == "false"
        assert page.ids[q["aria-controls"]]["role"] == "listbox"
        assert page.ids["q-list"]["aria-labelledby"] == "q-label"


def test_config_carries_release_rules_palette_and_no_base_map(client, bundle_release):
    page = html(client, "/")
    config = page.config
    assert page.html_lang == "da" and config["lang"] == "da"
    assert config["page"] == "citizen"
    assert config["base_map"] is None  # no page reaches the internet unless an operator says so
    assert config["release"]["id"] == bundle_release.id
    assert config["release"]["generated"] is False
    assert config["release"]["mapping_years"] == [2026]
    assert config["default_rules"] == client.get("/api/rules").json()["default"] == "2024-2025"
    assert config["region"] == {"code": "1082", "name": "Region Midtjylland"}
    assert config["palette"]["share_colours"][0].startswith("#")
    # the scripts ask /tiles only when the service has it (a 404 would be a console error)
    has_tiles = client.get("/tiles").status_code == 200
    assert config["tiles"] is has_tiles
    assert "hidden" in page.ids["generated-notice"]
    assert "hidden" in page.ids["no-release"]
    english = html(client, "/planner", lang="en")
    assert english.html_lang == "en" and english.config["lang"] == "en"


def test_both_languages_have_every_text_the_pages_and_scripts_use(client):
    texts = strings()
    assert set(texts) == {"da", "en"}
    assert set(texts["da"]) == set(texts["en"])
    used: set[str] = set()
    for path in ["/", "/planner", "/planner/print?municipality=0741"]:
        used |= html(client, path).i18n
    for path in APP_FILES:
        used |= set(re.findall(r"\bt\(\s*\"([a-z0-9_-]+)\"", path.read_text(encoding="utf-8")))
    used |= DYNAMIC_KEYS  # built in the scripts from API values (technology, pool class)
    missing = sorted(k for k in used if k not in texts["da"])
    assert missing == []
    assert len(used) > 60


def test_base_map_is_a_setting(bundle_settings, bundle_release):
    url = "http://127.0.0.1:9/basemap/{z}/{x}/{y}.png"
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, base_map_url=url
    )
    with TestClient(create_app(settings)) as c:
        assert html(c, "/planner").config["base_map"] == url


def test_print_view_names_the_municipality_and_refuses_unknown_ones(client):
    page = html(client, "/planner/print", municipality="0741", rules="2025")
    assert page.config["municipality"] == {"kommunekode": "0741", "kommunenavn": "Samsø"}
    assert page.config["rules"] == "2024-2025"
    assert page.config["page"] == "print"
    by_name = html(client, "/planner/print", municipality="samsø")
    assert by_name.config["municipality"]["kommunekode"] == "0741"
    assert by_name.config["rules"] == "2024-2025"  # newest by default
    assert html(client, "/planner/print", municipality="741").config["municipality"][
        "kommunekode"
    ] == ("0741")

    missing = client.get("/planner/print", params={"municipality": "9999"})
    assert missing.status_code == 404
    body = ErrorBody.model_validate(missing.json())
    assert "9999" in body.detail and "0741" in body.detail
    assert body.suggestions
    empty = client.get("/planner/print")
    assert empty.status_code == 400
    assert "municipality" in ErrorBody.model_validate(empty.json()).detail
    rules = client.get("/planner/print", params={"municipality": "0741", "rules": "1999"})
    assert rules.status_code == 404
    assert "1999" in ErrorBody.model_validate(rules.json()).detail


def test_pages_render_before_any_release(tmp_path, data_dir):
    settings = ServiceSettings(data=data_dir, home=tmp_path / "empty-home")
    with TestClient(create_app(settings)) as c:
        for path in ["/", "/planner"]:
            page = html(c, path)
            assert page.config["release"] is None
            assert "netkort build" in page.config["problem"]
            assert "hidden" not in page.ids["no-release"]
        assert c.get("/", headers={"Accept": "application/json"}).status_code == 200
        assert c.get("/planner/print", params={"municipality": "0741"}).status_code == 200


def test_generated_release_shows_the_notice(tmp_path, bundle_settings, bundle_release):
    """A copy of the bundle release marked generated: the page says so before any search."""
    home = tmp_path / "home"
    target = home / "releases" / bundle_release.id
    shutil.copytree(bundle_release.path, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["generated"] = True
    (target / "manifest.json").write_text(json.dumps(manifest))
    (home / "current").symlink_to(Path("releases") / bundle_release.id)
    settings = ServiceSettings(data=bundle_settings.data, home=home, reload_interval=3600)
    with TestClient(create_app(settings)) as c:
        page = html(c, "/planner")
        assert page.config["release"]["generated"] is True
        assert "hidden" not in page.ids["generated-notice"]


def test_api_docs_are_served_from_vendored_swagger_ui(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "<script>" not in html  # no inline script: the CSP allows only 'self'
    assert "cdn" not in html.lower() and "https://" not in html
    for asset in (
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/app/docs.js",
    ):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404
