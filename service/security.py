"""What every response and request goes through: body size limit, report rate limit, security
headers, and no stack trace ever reaching a client.

One pure ASGI middleware (:class:`SecurityMiddleware`, installed by :func:`add_security`):

* **Body size**: a declared ``Content-Length`` above ``max_body_bytes`` is refused with 413 before
  a byte is read; a chunked body is counted as it streams and refused the moment it passes the limit.
* **Rate limit**: ``POST /api/reports`` is limited per client address by a token bucket
  (``report_rate``, e.g. ``10/minute``); over it, 429 with ``Retry-After``. The client address is
  the socket's peer: ``X-Forwarded-For`` is not trusted, since anyone can write it.
* **Headers** on every response: a Content-Security-Policy allowing only the service itself (plus
  the configured base map's origin for images), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy``, ``X-Frame-Options: DENY`` / ``frame-ancestors 'none'``.
* **Unhandled errors** become a JSON 500 without details (the traceback goes to the log).

CORS stays where it was (``ServiceSettings.cors_origins``, off by default).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ErrorBody
from service.settings import ServiceSettings

log = logging.getLogger("netkort.service")

#: The route the rate limit guards (method, path).
RATE_LIMITED = ("POST", "/api/reports")
_UNITS = {"": 1.0, "s": 1.0, "second": 1.0, "m": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]*)\s*$")


def parse_rate(text: str) -> tuple[int, float]:
    """``"10/minute"`` → (10, 60.0); ``"3/30s"`` → (3, 30.0); ``"5/60"`` → (5, 60.0) seconds."""
    m = _RATE.match(text.lower())
    if not m or m.group(3) not in _UNITS or int(m.group(1)) < 1 or m.group(2) in ("0", "00"):
        raise ValueError(f"rate {text!r}: expected N/period, e.g. 10/minute, 3/30s, 100/hour")
    period = float(m.group(2) or 1) * _UNITS[m.group(3)]
    return int(m.group(1)), period


class RateLimiter:
    """Token buckets per client: ``count`` requests at once, refilled evenly over ``period`` s.

    Memory is bounded: at most ``max_clients`` buckets are kept, idle (full) ones are dropped first,
    then the least recently seen, so a flood of spoofed sources cannot grow the table.
    """

    def __init__(self, count: int, period: float, max_clients: int = 50_000) -> None:
        self.capacity = float(count)
        self.rate = count / period
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, seen = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - seen) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._prune(now)
            return wait

    def _prune(self, now: float) -> None:
        full = self.capacity / self.rate  # seconds after which an idle bucket is full again
        for key in [k for k, (_, seen) in self._buckets.items() if now - seen >= full]:
            del self._buckets[key]
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


def content_security_policy(settings: ServiceSettings) -> str:
    """Only the service itself; images may also come from the base map's origin when one is set.

    ``data:`` images are allowed because Bootstrap's and Leaflet's stylesheets embed small SVG icons
    that way; no script, style, frame or connection may come from anywhere else.
    """
    images = ["'self'", "data:"]
    if settings.base_map_url:
        parts = urlsplit(settings.base_map_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.netloc:
            # {s} sub-domains (a.tile..., b.tile...) need a wildcard on the parent domain.
            host = (
                parts.netloc.replace("a.", "*.", 1)
                if "{s}" in settings.base_map_url
                else parts.netloc
            )
            images.append(f"{parts.scheme}://{host}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: ServiceSettings) -> list[tuple[bytes, bytes]]:
    """The headers added to every response."""
    return [
        (b"content-security-policy", content_security_policy(settings).encode("latin-1")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An HTTPException, because
    FastAPI passes those on from body reading (anything else there becomes a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit} bytes")


class SecurityMiddleware:
    """Body limit, rate limit, security headers and a JSON 500 for anything unhandled."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.headers = security_headers(settings)
        self.limiter = RateLimiter(*parse_rate(settings.report_rate))
        self._documented: list[tuple[re.Pattern[str], bytes]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on, adding headers to whatever answer comes back."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if message["status"] == 405 and (allow := self._allow(scope)) is not None:
                    headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
                    headers.append((b"allow", allow))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await self._refuse(send_secured, 413, self._too_large())
            return
        if (scope["method"], scope["path"].rstrip("/")) == RATE_LIMITED:
            client = scope.get("client")
            wait = self.limiter.acquire(client[0] if client else "unknown")
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                detail = f"too many reports from your address: try again in {retry} s"
                await self._refuse(send_secured, 429, detail, [(b"retry-after", retry.encode())])
                return

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        try:
            await self.app(scope, receive_limited, send_secured)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send_secured, 413, self._too_large())
        except Exception:
            # The traceback is for the log only; the client learns nothing about the internals.
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await self._refuse(send_secured, 500, "internal error: the service logged it")
            else:
                raise

    def _allow(self, scope: Scope) -> bytes | None:
        """Every method the OpenAPI document lists for the asked path. Starlette's 405 names only
        the methods of the first route whose path matched (``POST`` for ``/api/reports`` when
        ``GET`` is another route), which misleads a client about what the path supports."""
        if self._documented is None:
            app = scope.get("app")
            openapi = getattr(app, "openapi", None)
            paths: dict[str, Any] = openapi().get("paths", {}) if openapi is not None else {}
            # Literal paths before templated ones: /api/reports/export, then /api/reports/{id}.
            table: list[tuple[re.Pattern[str], bytes]] = []
            for template in sorted(paths, key=lambda p: (p.count("{"), p)):
                regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                methods = sorted(m.upper() for m in paths[template] if m.upper() in _METHODS)
                table.append((re.compile(f"^{regex}$"), ", ".join(methods).encode()))
            self._documented = table
        for compiled, allowed in self._documented:
            if compiled.match(scope["path"]):
                return allowed
        return None

    def _too_large(self) -> str:
        return f"request body too large: at most {self.max_body} bytes"

    @staticmethod
    async def _refuse(
        send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        body = json.dumps(ErrorBody(detail=detail).model_dump(mode="json")).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def add_security(app: FastAPI, settings: ServiceSettings) -> None:
    """Install :class:`SecurityMiddleware` on the app (call before the CORS and metrics layers,
    so those see the 413 and 429 answers too)."""
    app.add_middleware(SecurityMiddleware, settings=settings)


__all__ = [
    "RATE_LIMITED",
    "RateLimiter",
    "SecurityMiddleware",
    "add_security",
    "content_security_policy",
    "parse_rate",
    "security_headers",
]
