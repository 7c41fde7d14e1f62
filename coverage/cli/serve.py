"""``netkort`` commands: serve and lookup (the HTTP service, address lookup from the command line)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
