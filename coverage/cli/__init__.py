"""The ``netkort`` command line: one group, shared options, ``--json`` for machines, exit 2 for bad input.

Each command group lives in its own module and registers itself on the shared ``app``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from coverage import __version__

# Each module registers its commands on the shared app when imported.
from coverage.cli import (  # noqa: F401
    analysis,
    diff,
    export,
    maps,
    mobile,
    points,
    release,
    scale,
    serve,
    synth,
)
from coverage.cli.common import app, err, out
from coverage.errors import NetkortError

__all__ = ["app", "main"]


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"netkort {__version__}")
        raise typer.Exit()


def main() -> None:
    """Console entry point: a user's mistake is one line on stderr and exit code 2.

    Usage errors are handled by click itself (also exit code 2); library errors arrive here.
    """
    try:
        app()
    except NetkortError as exc:
        err.print(f"netkort: error: {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
