"""A small Playwright helper for browser tests: Debian's Chromium, no network, screenshots.

Playwright cannot download its own browser here, so tests drive Debian's ``/usr/bin/chromium``
(``apt-get install chromium``; ``NETKORT_CHROMIUM`` points elsewhere). Every page runs inside a
:class:`Guard`: a route handler that lets through only loopback (127.0.0.1, localhost, [::1]) and
``file://`` / ``data:`` / ``blob:`` URLs, aborts and records everything else, and records console
errors and uncaught exceptions. Chromium also gets a host-resolver rule that fails every name
except loopback, so a request that slipped past the route handler could not leave the machine
either. Tests end with ``guard.assert_clean()``.

Usage::

    with chromium() as browser, guarded_page(browser) as (page, guard):
        page.goto(path.as_uri())
        ...
        screenshot(page, "region-page")
        guard.assert_clean()
"""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from service.main import create_app
from service.settings import ServiceSettings

CHROMIUM = Path(os.environ.get("NETKORT_CHROMIUM", "/usr/bin/chromium"))

#: Screenshots and other test outputs (git-ignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about", "chrome-error"})

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--no-pings",
    # Every host name but loopback fails to resolve: a second wall behind the route handler.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def is_local(url: str) -> bool:
    """Whether a URL stays on this machine: loopback hosts or a local scheme."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    if parts.scheme in {"http", "https", "ws", "wss"}:
        host = (parts.hostname or "").lower()
        return host in LOOPBACK_HOSTS or host.startswith("127.")
    return False


@dataclass
class Guard:
    """What a page tried to do: requests seen, requests blocked, console errors, page errors."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_clean(self, *, allow_console: tuple[str, ...] = ()) -> None:
        """Fail when anything non-local was requested, or on a JS error (unless allowed)."""
        assert self.blocked == [], f"{len(self.blocked)} non-local request(s): {self.blocked[:5]}"
        errors = [e for e in self.console_errors if not any(a in e for a in allow_console)]
        assert errors == [], f"console errors: {errors[:5]}"
        assert self.page_errors == [], f"uncaught page errors: {self.page_errors[:5]}"


def require_chromium() -> Path:
    """The Chromium binary, or a test failure saying how to install it (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium (or set NETKORT_CHROMIUM)",
            pytrace=False,
        )
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def guarded_page(
    browser: Any,
    *,
    viewport: tuple[int, int] = (1280, 900),
    accept_downloads: bool = False,
    **context_options: Any,
) -> Iterator[tuple[Any, Guard]]:
    """A fresh browser context and page whose non-local requests are blocked and counted."""
    guard = Guard()
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        accept_downloads=accept_downloads,
        service_workers="block",  # a service worker's fetches would bypass the route handler
        **context_options,
    )

    def route(route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            guard.blocked.append(url)
            route.abort("blockedbyclient")

    def websocket(ws: Any) -> None:
        if is_local(ws.url):
            ws.connect_to_server()
        else:
            guard.blocked.append(ws.url)
            ws.close()

    context.route(re.compile(r".*"), route)
    context.route_web_socket(re.compile(r".*"), websocket)
    context.on("request", lambda request: guard.requests.append(request.url))
    page = context.new_page()
    page.on(
        "console",
        lambda msg: guard.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: guard.page_errors.append(str(exc)))
    try:
        yield page, guard
    finally:
        context.close()


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page under ``tests/artifacts/`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def drawn_pixels(png: bytes, background: tuple[int, int, int] | None = None) -> int:
    """Pixels of a PNG that differ from its background (the top-left pixel unless given)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype("int16")
    ref = np.array(background if background is not None else pixels[0, 0], dtype="int16")
    return int((np.abs(pixels - ref).sum(axis=2) > 24).sum())


@contextmanager
def serve(settings: ServiceSettings) -> Iterator[str]:
    """The app on a free loopback port in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Guard",
    "chromium",
    "drawn_pixels",
    "guarded_page",
    "is_local",
    "require_chromium",
    "screenshot",
    "serve",
]
