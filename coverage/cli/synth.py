"""``netkort`` commands: synth (seeded generator of region- and national-size data)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
