"""``netkort`` commands: mobile (measurements, propagation model, mobile layers)."""

from __future__ import annotations

from coverage.cli.common import app

__all__ = ["app"]
