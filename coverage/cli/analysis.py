"""``netkort`` commands: assess and stats (pool rules, per-address assessment, statistics)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
