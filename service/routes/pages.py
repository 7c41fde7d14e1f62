"""The web pages: the citizen page (``/``), the planner (``/planner``) and its print view.

The pages are HTML shells rendered with Jinja2; their scripts (``service/static/app``) ask the JSON
API for everything they show, so a result card can never disagree with ``/api/lookup``. What a page
needs before its first request (language strings, the optional base map, the release and whether it
is generated, the shared map palette) travels in a ``<script type="application/json">`` block: no
inline script or style, so a Content-Security-Policy of ``'self'`` holds. ``/static`` serves the
vendored libraries and the app files; nothing is loaded from another host.

``/`` belongs to the OGC landing page too: :func:`wants_html` decides by ``?f=`` and the ``Accept``
header (browsers get the page, QGIS and other API clients the JSON), as tipg does.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.routing import Match

from coverage import __version__
from coverage.errors import InvalidRequestError, NotFoundError
from coverage.release import ReleaseStore
from maps import style
from service.settings import ServiceSettings
from service.state import ServiceState

SERVICE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = SERVICE_DIR / "static"
TEMPLATE_DIR = SERVICE_DIR / "templates"
I18N_FILE = STATIC_DIR / "app" / "i18n.json"

#: Languages of the pages; the first is the default.
LANGUAGES = ("da", "en")
Language = Literal["da", "en"]

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

_LANG = Query(description="Page language: da (default) or en.")


@lru_cache(maxsize=1)
def strings() -> dict[str, dict[str, str]]:
    """The page texts by language (``service/static/app/i18n.json``, shared with the scripts)."""
    loaded: dict[str, dict[str, str]] = json.loads(I18N_FILE.read_text(encoding="utf-8"))
    return loaded


def _accept_weights(header: str) -> list[tuple[str, float]]:
    """``(media range, q)`` pairs of an Accept header; unparsable q values count as 0."""
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            out.append((media, q))
    return out


def _quality(weights: list[tuple[str, float]], media: str) -> float:
    """How much a client wants ``media``: the q of the most specific range that covers it."""
    kind = media.split("/")[0]
    best, specificity = 0.0, -1
    for rng, q in weights:
        level = 2 if rng == media else 1 if rng == f"{kind}/*" else 0 if rng == "*/*" else -1
        if level > specificity:
            best, specificity = q, level
    return best


def wants_html(request: Request, f: str | None = None) -> bool:
    """Whether ``/`` should answer with the citizen page rather than the OGC landing JSON.

    ``?f=html`` / ``?f=json`` decide outright. Otherwise the Accept header does, and HTML must be
    strictly preferred: ``*/*`` (curl, httpx, scripts) and ``application/json`` (QGIS) get JSON,
    a browser's ``text/html,...,*/*;q=0.8`` gets the page.
    """
    if f is not None:
        return f == "html"
    weights = _accept_weights(request.headers.get("accept", ""))
    if not weights:
        return False
    html = _quality(weights, "text/html")
    json_q = max(_quality(weights, "application/json"), _quality(weights, "application/geo+json"))
    return html > json_q


def _state(request: Request) -> ServiceState | None:
    """The loaded state without raising: pages render (with a notice) before any release."""
    watcher = request.app.state.watcher
    watcher.check()  # a page load may be the first request after `current` moved
    state: ServiceState | None = watcher.state
    return state


def serves(app: Any, path: str) -> bool:
    """Whether the app has a GET route for ``path`` (e.g. ``/tiles`` once the tiles module is
    there): the scripts then ask it, and never request what would only answer 404."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def _palette() -> dict[str, Any]:
    """The colours and class breaks the folium pages use, so both show a value alike."""
    return {
        "boundary": style.BOUNDARY_COLOUR,
        "zone": style.ZONE_COLOUR,
        "no_data": style.NO_DATA_COLOUR,
        "share_breaks": list(style.SHARE_BREAKS),
        "share_colours": list(style.SHARE_COLOURS),
        "eligible": {k: colour for k, (_, colour) in style.ELIGIBLE_STYLE.items()},
        "mobile_breaks": list(style.MOBILE_BREAKS),
        "mobile_colours": list(style.MOBILE_COLOURS),
    }


def page_config(request: Request, page: str, **extra: Any) -> dict[str, Any]:
    """What a page's script needs before its first API call."""
    settings: ServiceSettings = request.app.state.settings
    state = _state(request)
    release = None
    region: dict[str, Any] = {}
    if state is not None:
        manifest = state.release.manifest
        region = manifest.get("region") or {}
        years = sorted(
            {
                int(i["year"])
                for i in manifest.get("inputs", [])
                if i.get("kind") == "mapping" and i.get("year")
            }
        )
        release = {
            "id": state.release.id,
            "created": manifest.get("created"),
            "generated": bool(state.release.generated),
            "mapping_years": years,
            "attribution": list(manifest.get("attribution", [])),
            # The planner's changes panel compares with this one; None: nothing to compare with.
            "previous": ReleaseStore(settings.home).previous_id(state.release.id),
        }
    return {
        "page": page,
        "version": __version__,
        "strings": strings(),
        "languages": list(LANGUAGES),
        "base_map": settings.base_map_url,
        "release": release,
        "problem": request.app.state.watcher.problem if state is None else None,
        "region": {"code": region.get("code"), "name": region.get("name")},
        "default_rules": state.default_rules if state is not None else None,
        "palette": _palette(),
        "tiles": serves(request.app, "/tiles"),
        **extra,
    }


def _config_json(config: dict[str, Any]) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(template: str, config: dict[str, Any], lang: str, **context: Any) -> HTMLResponse:
    """A page from its template, in ``lang``, with its config block."""
    texts = strings()[lang]
    body = _ENV.get_template(template).render(
        t=texts,
        lang=lang,
        config_json=_config_json({**config, "lang": lang}),
        release=config.get("release"),
        version=__version__,
        **context,
    )
    return HTMLResponse(body, headers={"Vary": "Accept", "Cache-Control": "no-cache"})


def citizen_page(request: Request, lang: str | None = None) -> HTMLResponse:
    """The citizen page: address search, result card and map (also served at ``/`` to browsers,
    in the language of ``?lang=`` when it names one)."""
    asked = lang or request.query_params.get("lang")
    return render(
        "citizen.html", page_config(request, "citizen"), asked if asked in LANGUAGES else "da"
    )


@router.get("/index.html", response_class=HTMLResponse)
def citizen(request: Request, lang: Annotated[Language, _LANG] = "da") -> HTMLResponse:
    """The citizen page under a name that never negotiates (for links and bookmarks)."""
    return citizen_page(request, lang)


@router.get("/planner", response_class=HTMLResponse)
def planner(request: Request, lang: Annotated[Language, _LANG] = "da") -> HTMLResponse:
    """The planner: municipality, layers, legends, statistics table, exports."""
    return render("planner.html", page_config(request, "planner"), lang)


@router.get("/report", response_class=HTMLResponse)
def report(request: Request, lang: Annotated[Language, _LANG] = "da") -> HTMLResponse:
    """The "report an error" form; its script reads the address id from the URL (``/report?id=``)
    and posts to ``/api/reports``."""
    return render("report.html", page_config(request, "report"), lang)


@router.get("/planner/print", response_class=HTMLResponse)
def planner_print(
    request: Request,
    municipality: Annotated[
        str, Query(description="Municipality code, e.g. 0741.", max_length=60)
    ] = "",
    rules: Annotated[str | None, Query(description="Rule set id or year.", max_length=20)] = None,
    lang: Annotated[Language, _LANG] = "da",
) -> HTMLResponse:
    """A print view for reports: the municipality's map with its layers, legend and statistics."""
    state = _state(request)
    chosen: dict[str, str] | None = None
    rule_set: str | None = None
    if state is not None:
        munis = state.features["municipalities"][""].frame
        codes = [str(c) for c in munis["kommunekode"]]
        names = [str(n) for n in munis["kommunenavn"]]
        key = municipality.strip()
        if not key:
            raise InvalidRequestError(
                "the print view needs a municipality: /planner/print?municipality=0741"
            )
        if key not in codes:
            folded = [n.casefold() for n in names]
            if key.casefold() in folded:
                key = codes[folded.index(key.casefold())]
            elif key.isdigit() and key.zfill(4) in codes:
                key = key.zfill(4)
            else:
                raise NotFoundError(
                    f"no municipality {municipality!r} for the print view; give a 4-digit code "
                    "such as 0741",
                    [
                        {"id": c, "text": f"{c} {n}"}
                        for c, n in list(zip(codes, names, strict=True))[:5]
                    ],
                )
        chosen = {"kommunekode": key, "kommunenavn": names[codes.index(key)]}
        if state.context.assessments:
            rule_set = state.rule_set_id(rules)
    config = page_config(request, "print", municipality=chosen, rules=rule_set)
    return render("print.html", config, lang, municipality=chosen, rules=rule_set)


__all__ = [
    "LANGUAGES",
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "citizen_page",
    "page_config",
    "render",
    "router",
    "serves",
    "strings",
    "wants_html",
]


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """The OpenAPI documentation, rendered by the vendored Swagger UI (works offline)."""
    page = _ENV.get_template("docs.html").render(
        title=request.app.title,
        version=__version__,
        openapi_url=request.app.openapi_url or "/openapi.json",
    )
    return HTMLResponse(page)
