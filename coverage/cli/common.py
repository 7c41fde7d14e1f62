"""Shared pieces of the ``netkort`` command line: the app, consoles, options, progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from coverage.settings import Settings, load_settings

app = typer.Typer(
    name="netkort",
    help="Broadband and mobile coverage for Region Midtjylland: build releases, assess, export, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output (for scripts).")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
Home = Annotated[
    Path | None, typer.Option("--home", help="Release folder (default NETKORT_HOME or ./var).")
]
ReleaseArg = Annotated[str, typer.Option("--release", help="Release id (default: current).")]


def settings_from(home: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with command-line overrides on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = home
    return load_settings(**values)


class RichSteps:
    """Progress for long stages: a spinner while a stage runs, a tick and its time after."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Show a spinner on stderr while the stage runs."""
        if self.quiet:
            yield
            return
        import time

        started = time.perf_counter()
        with err.status(label):
            yield
        err.print(f"[green]✓[/green] {label} [dim]({time.perf_counter() - started:.1f} s)[/dim]")
