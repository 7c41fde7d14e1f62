"""``netkort`` commands: map (folium pages and report figures)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
