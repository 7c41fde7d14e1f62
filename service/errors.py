"""HTTP status codes for the library's exceptions, in one table, and the handlers that use it.

Every 4xx/5xx body has the :class:`ErrorBody` shape, including FastAPI's own validation errors and
Starlette's 404/405, so a client (and the OpenAPI document) sees one error schema.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from coverage.errors import (
    BuildError,
    InvalidRequestError,
    ManifestError,
    NetkortError,
    NoReleaseError,
    NotFoundError,
    ReleaseError,
    RuleSetError,
    SourceError,
)

log = logging.getLogger("netkort.service")


class UnavailableError(NetkortError):
    """A feature this service cannot offer right now (its module or layer is not present)."""


#: Library exception → HTTP status. The most specific class listed wins (looked up along the MRO).
DEFAULT_STATUS_CODES: dict[type[Exception], int] = {
    NotFoundError: 404,
    InvalidRequestError: 400,
    RuleSetError: 404,  # a well-formed rule set id or year that no rule file covers
    NoReleaseError: 503,
    ReleaseError: 503,
    UnavailableError: 503,
    ManifestError: 500,
    SourceError: 500,
    BuildError: 500,
    NetkortError: 400,
}


class Suggestion(BaseModel):
    """Something the client may have meant: an id to ask for and a text to show."""

    id: str
    text: str


class FieldError(BaseModel):
    """One invalid request parameter."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: str = Field(description="What went wrong, naming the parameter or value.")
    suggestions: list[Suggestion] = Field(
        default_factory=list,
        description="What does exist and may have been meant (not-found answers; at most five "
        "for address lookups).",
    )
    errors: list[FieldError] = Field(
        default_factory=list, description="Each invalid parameter (for 422 answers)."
    )


#: Declared on every route so the OpenAPI document lists the error answers.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "The request cannot be answered as asked."},
    404: {"model": ErrorBody, "description": "Nothing matches; suggestions when there are some."},
    422: {"model": ErrorBody, "description": "A parameter has the wrong type or range."},
    503: {"model": ErrorBody, "description": "No release is loaded, or a layer is unavailable."},
}
#: :data:`ERROR_RESPONSES` for routes whose answers are not JSON (GeoJSON features): FastAPI
#: documents a response ``model`` under the route's own media type, but errors are sent as
#: ``application/json``, so these name it.
JSON_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {
        "description": entry["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for code, entry in ERROR_RESPONSES.items()
}


def status_for(exc: Exception) -> int:
    """The HTTP status for a library exception (500 for anything not in the table)."""
    for cls in type(exc).__mro__:
        if cls in DEFAULT_STATUS_CODES:
            return DEFAULT_STATUS_CODES[cls]
    return 500


def error_response(status: int, detail: str, **extra: object) -> JSONResponse:
    """A JSON error answer in the :class:`ErrorBody` shape."""
    body = ErrorBody(detail=detail, **extra)  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _suggestion(value: object) -> Suggestion:
    """A suggestion as ``{id, text}`` whatever shape the library gave it (e.g. a municipality's
    ``{kommunekode, kommunenavn}``): the id is the first value, the text all values."""
    if isinstance(value, dict) and value:
        values = [str(v) for v in value.values() if v is not None]
        ident = str(value.get("id", values[0] if values else ""))
        return Suggestion(id=ident, text=str(value.get("text", " ".join(values))))
    return Suggestion(id=str(value), text=str(value))


def add_exception_handlers(app: FastAPI) -> None:
    """Install the handlers: library errors by the table, validation and routing errors reshaped."""

    async def netkort_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        suggestions = [_suggestion(s) for s in getattr(exc, "suggestions", [])]
        return error_response(status, str(exc), suggestions=suggestions)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            FieldError(
                loc=[p for p in e.get("loc", ()) if isinstance(p, str | int)],
                msg=str(e.get("msg", "")),
                type=str(e.get("type", "")),
            )
            for e in jsonable_encoder(exc.errors())
        ]
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.loc[1:] or e.loc)}: {e.msg}" for e in errors
        )
        return error_response(422, detail or "invalid request", errors=errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = error_response(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    app.add_exception_handler(NetkortError, netkort_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = [
    "DEFAULT_STATUS_CODES",
    "ERROR_RESPONSES",
    "JSON_ERROR_RESPONSES",
    "ErrorBody",
    "Suggestion",
    "UnavailableError",
    "add_exception_handlers",
    "error_response",
    "status_for",
]
