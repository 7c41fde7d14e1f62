"""The ``netkort`` command line: one group, shared options, ``--json`` for machines, exit 2 for bad input.

Each command group lives in its own module and registers itself on the shared ``app``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

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
        _exit(2)
    except SystemExit as done:
        _exit(done.code)


def _exit(code: str | int | None) -> NoReturn:
    """Exit with ``code``; after a Dask LocalCluster ran in this process, without finalizers.

    Once a LocalCluster has run here, the interpreter's shutdown sometimes aborts in native code
    (``terminate called without an active exception``, exit -6) after all work is written: Arrow's
    background threads racing static destructors (apache/arrow#34314). Everything the command
    produced is flushed and closed by then, so the process leaves with its own code instead.
    """
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if scale.cluster_ran():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(code)
