"""Security, item by item (issue 8, point 6): no file path from request input, a body size limit,
a rate limit on reports, admin endpoints closed without the token, security headers (CSP 'self'),
CORS off by default, and no stack trace in any response."""

from __future__ import annotations

import inspect
import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from service.errors import ErrorBody
from service.main import create_app
from service.routes import reports as report_routes
from service.security import RateLimiter, content_security_policy, parse_rate
from service.settings import ServiceSettings

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"
TOKEN = "planner-token-for-tests"
REPORT = {"address_id": STRANDVEJEN_52, "kind": "mobile_coverage", "claimed_down": 0}
CSP_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
}


@pytest.fixture
def settings(bundle_settings, bundle_release, tmp_path):
    return ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600,
        database_url=f"sqlite+pysqlite:///{tmp_path / 'reports.sqlite'}",
        admin_token=TOKEN, report_rate="3/minute", max_body_bytes=4096,
    )  # fmt: skip


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def error(response, status):
    assert response.status_code == status, response.text
    return ErrorBody.model_validate(response.json())


def csp(response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


def assert_secure_headers(response):
    for directive, sources in CSP_DIRECTIVES.items():
        assert csp(response)[directive] == sources, response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


# -- 1. no file path from request input ------------------------------------------------------------

TRAVERSALS = ["../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "....//....//etc/passwd",
              "C:\\Windows\\win.ini", "%00", "eligible-addresses/../../../etc/passwd"]  # fmt: skip


@pytest.mark.parametrize("evil", TRAVERSALS)
def test_no_file_path_is_built_from_request_input(client, evil):
    seg = quote(evil, safe="")
    asks = [
        ("/api/export", {"what": evil}), ("/api/export", {"format": evil}),
        ("/api/export", {"municipality": evil}), ("/api/export", {"rules": evil}),
        ("/api/reports/export", {"format": evil}),
        (f"/collections/{seg}/items", {}), (f"/collections/{seg}", {}),
        (f"/collections/municipalities/items/{seg}", {}), (f"/api/municipalities/{seg}", {}),
        (f"/static/{seg}", {}), (f"/static/app/{seg}", {}), (f"/static/../{seg}", {}),
        (f"/tiles/{seg}/0/0/0.png", {}), (f"/report/{seg}", {}),
    ]  # fmt: skip
    for path, params in asks:
        response = client.get(path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code in (400, 404, 405, 422), (path, params, response.status_code)
        assert b"root:" not in response.content and b"[fonts]" not in response.content
    # The one path-like answer that does exist: /report ignores its id server-side (the page's
    # script asks the API for it), so the page is the same whatever the id.
    page = client.get("/report", params={"id": evil})
    assert page.status_code == 200 and evil not in page.text


def test_exports_only_name_what_exists(client):
    got = error(client.get("/api/export", params={"what": "zones", "municipality": "9999"}), 404)
    assert "9999" in got.detail
    assert error(client.get("/api/export", params={"what": "passwd"}), 422).errors[0].loc == [
        "query",
        "what",
    ]


# -- 2. body size limit ----------------------------------------------------------------------------


def test_bodies_over_the_limit_get_413(client):
    big = {**REPORT, "message": "x" * 5000}
    declared = client.post("/api/reports", json=big)
    assert "at most 4096 bytes" in error(declared, 413).detail
    assert_secure_headers(declared)

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"address_id": "' + b"a" * 3000
        yield b"b" * 3000 + b'"}'

    streamed = client.post(
        "/api/reports", content=chunks(), headers={"Content-Type": "application/json"}
    )
    error(streamed, 413)
    # The same limit holds on any route, even one that takes no body.
    error(client.request("GET", "/api/rules", content=b"x" * 5000), 413)
    small = client.post("/api/reports", json=REPORT)
    assert small.status_code == 201, small.text


# -- 3. rate limit on POST /api/reports ------------------------------------------------------------


def test_reports_are_rate_limited_per_client(settings):
    app = create_app(settings)
    with TestClient(app) as first, TestClient(app, client=("192.0.2.7", 40000)) as second:
        codes = [first.post("/api/reports", json=REPORT).status_code for _ in range(3)]
        assert codes == [201, 201, 201]
        # Neither a bad body nor a forged X-Forwarded-For gets round the limit.
        limited = first.post(
            "/api/reports", json=REPORT, headers={"X-Forwarded-For": "198.51.100.1"}
        )
        body = error(limited, 429)
        assert "too many reports" in body.detail
        assert 1 <= int(limited.headers["retry-after"]) <= 20  # 3 per minute: one every 20 s
        assert_secure_headers(limited)
        error(first.post("/api/reports", content=b"not json"), 429)
        # Another client is not affected; reading is never limited.
        assert second.post("/api/reports", json=REPORT).status_code == 201
        assert all(first.get("/api/rules").status_code == 200 for _ in range(10))
        listing = first.get("/api/reports", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert listing["total"] == 4


def test_rate_limiter_refills_and_stays_bounded():
    limiter = RateLimiter(2, 10.0, max_clients=100)
    assert [limiter.acquire("a", now=0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(5.0)]
    assert limiter.acquire("a", now=5.0) == 0.0  # one token back after period / count
    for i in range(1000):  # a flood of sources cannot grow the table past its bound
        limiter.acquire(f"10.0.{i // 256}.{i % 256}", now=100.0 + i * 0.001)
    assert len(limiter._buckets) <= 100
    assert parse_rate("10/minute") == (10, 60.0)
    assert parse_rate("3/30s") == (3, 30.0)
    assert parse_rate("100 / hour") == (100, 3600.0)
    for bad in ("ten/minute", "0/minute", "5/0", "5/fortnight"):
        with pytest.raises(ValueError, match="expected N/period"):
            parse_rate(bad)


# -- 4. admin endpoints ----------------------------------------------------------------------------


def test_admin_endpoints_answer_401_or_403_without_the_token(client, settings):
    for path in ("/api/reports", "/api/reports/export", f"/api/reports/{STRANDVEJEN_52}"):
        error(client.get(path), 401)
        error(client.get(path, headers={"Authorization": "Bearer "}), 401)
        error(client.get(path, headers={"Authorization": f"Bearer {TOKEN[:-1]}"}), 401)
        error(
            client.get(path, headers={"Authorization": f"Bearer {TOKEN}æ".encode("latin-1")}), 401
        )
    error(client.patch(f"/api/reports/{STRANDVEJEN_52}", json={"status": "accepted"}), 401)
    assert (
        client.get("/api/reports", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )
    with TestClient(create_app(settings.model_copy(update={"admin_token": None}))) as off:
        got = error(off.get("/api/reports", headers={"Authorization": f"Bearer {TOKEN}"}), 403)
        assert "NETKORT_ADMIN_TOKEN" in got.detail
    # The token is compared in constant time, and never echoed or shown in the settings' repr.
    assert "hmac.compare_digest" in inspect.getsource(report_routes.require_planner)
    assert TOKEN not in repr(settings)


# -- 5. security headers ---------------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(client):
    answers = [
        client.get("/api/rules"), client.get("/conformance"), client.get("/report"),
        client.get("/no/such/page"), client.get("/api/lookup", params={"q": "Strandvejen 9999"}),
        client.get("/static/app/report.js"), client.post("/api/reports", json={}),
    ]  # fmt: skip
    for response in answers:
        assert_secure_headers(response)


def test_the_policy_admits_the_configured_base_map_for_images_only(settings):
    with_map = settings.model_copy(
        update={"base_map_url": "https://{s}.tile.example.org/{z}/{x}/{y}.png"}
    )
    policy = content_security_policy(with_map)
    assert "img-src 'self' data: https://*.tile.example.org" in policy
    assert "script-src 'self';" in policy and "tile.example.org" not in policy.split("img-src")[0]


@pytest.mark.parametrize("path", ["/report", "/?f=html", "/planner"])
def test_pages_need_nothing_inline_so_the_policy_holds(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    if response.status_code == 404 or "text/html" not in response.headers.get("content-type", ""):
        pytest.skip(f"{path} is not served as a page in this checkout")
    html = response.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    for attrs, content in scripts:
        executable = "application/json" not in attrs
        assert not (executable and content.strip()), f"inline script on {path}: {content[:80]}"
    assert "<style" not in html and not re.search(r"\sstyle=", html), f"inline style on {path}"
    assert not re.search(r"\son[a-z]+=", html), f"inline event handler on {path}"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), (
        f"a resource from another host on {path}"
    )


# -- 6. CORS configurable, off by default ----------------------------------------------------------


def test_cors_is_off_by_default_and_configurable(client, settings):
    plain = client.get("/api/rules", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers
    pre = client.options("/api/reports", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "access-control-allow-origin" not in pre.headers
    opened = settings.model_copy(update={"cors_origins": ["https://kommune.example.dk"]})
    with TestClient(create_app(opened)) as c:
        ok = c.get("/api/rules", headers={"Origin": "https://kommune.example.dk"})
        assert ok.headers["access-control-allow-origin"] == "https://kommune.example.dk"
        other = c.get("/api/rules", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- 7. no stack trace in any response -------------------------------------------------------------


def test_no_stack_trace_reaches_a_client(settings, caplog):
    app = create_app(settings)

    def explode() -> dict:
        raise RuntimeError("secret internals /srv/netkort/var at line 42")

    app.add_api_route("/boom", explode)
    with TestClient(app) as c:
        boom = c.get("/boom")
        body = error(boom, 500)
        assert body.detail == "internal error: the service logged it"
        assert "secret" not in boom.text and "Traceback" not in boom.text
        assert_secure_headers(boom)
        assert "secret internals" in caplog.text  # the log keeps what the client does not see
        junk = [
            c.post("/api/reports", content=b"{" * 2000, headers={"Content-Type": "application/json"}),
            c.post("/api/reports", content="[" * 1000 + "]" * 1000, headers={"Content-Type": "application/json"}),
            c.post("/api/reports", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"}),
            c.post("/api/reports", content=b'{"address_id": "\\ud800", "kind": "address", '
                   b'"address_problem": "other", "message": "\\udfff"}',
                   headers={"Content-Type": "application/json"}),
            c.get("/api/lookup", params={"id": "\x00"}),
            c.get("/api/reports/" + "a" * 3000, headers={"Authorization": f"Bearer {TOKEN}"}),
        ]  # fmt: skip
        for response in junk:
            assert 400 <= response.status_code < 500, response.text
            assert "Traceback" not in response.text and 'File "' not in response.text
            ErrorBody.model_validate(response.json())
