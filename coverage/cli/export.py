"""``netkort`` commands: zones and export (underserved zones, export files)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
