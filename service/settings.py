"""Service settings: the library's settings plus how the HTTP service runs (prefix ``NETKORT_``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from coverage.settings import Settings


class ServiceSettings(Settings):
    """Where releases live (inherited) and how the service listens, reloads and caches."""

    model_config = SettingsConfigDict(env_prefix="NETKORT_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    """Interface to listen on (``NETKORT_HOST``); loopback unless deliberately opened."""

    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    """TCP port (``NETKORT_PORT``)."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed by CORS (``NETKORT_CORS_ORIGINS``, comma separated); empty = CORS off."""

    reload_interval: Annotated[float, Field(ge=0)] = 5.0
    """Seconds between checks whether ``current`` points at a new release (0 = every request)."""

    trim_interval: Annotated[float, Field(ge=0)] = 60.0
    """Seconds between handing freed memory back to the system (0 = never): requests on many
    worker threads leave freed pages in glibc's per-thread arenas, ~30 MB over ten minutes of
    mixed load on the region release."""

    base_map_url: str | None = Field(
        default=None, validation_alias=AliasChoices("base_map_url", "NETKORT_BASEMAP_URL")
    )
    """Tile URL template of a base map for the web pages (``NETKORT_BASEMAP_URL``, the same
    variable the folium pages of ``netkort map`` read); none by default, so no page reaches the
    internet unless an operator says so."""

    tile_max_age: Annotated[int, Field(ge=0)] = 3600
    """``Cache-Control: max-age`` of tiles, seconds (a release is immutable; its id is in the URL)."""

    title: str = "netkort"
    """Name shown in the OpenAPI document and the OGC landing page."""

    admin_token: SecretStr | None = None
    """Bearer token of the planner endpoints (``NETKORT_ADMIN_TOKEN``); unset = they answer 403."""

    max_body_bytes: Annotated[int, Field(ge=1024, le=100_000_000)] = 1_048_576
    """Largest request body accepted (``NETKORT_MAX_BODY_BYTES``); larger ones get 413. One MiB
    fits ``POST /api/points`` with its 10,000 points; a report is a few kilobytes."""

    report_rate: Annotated[
        str,
        Field(pattern=r"^\s*[1-9]\d{0,5}\s*/\s*([1-9]\d{0,5})?\s*(s|second|m|minute|h|hour)?\s*$"),
    ] = "10/minute"
    """Reports accepted per client address (``NETKORT_REPORT_RATE``: ``10/minute``, ``3/30s``,
    ``100/hour``); more get 429 with ``Retry-After``."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


__all__ = ["ServiceSettings"]
