"""One exception tree for the library.

Everything a user can cause (a bad file, an unknown address, a rule file that does not parse) raises
a subclass of :class:`NetkortError`. The CLI turns these into one line and exit code 2; the service maps
them to HTTP status codes in a single table. Anything else is a bug and is allowed to surface.
"""

from __future__ import annotations

from pathlib import Path


class NetkortError(Exception):
    """Base class for every error a user's input or request can cause."""


class SourceError(NetkortError):
    """An input file cannot be used at all (missing, empty, wrong columns, wrong CRS).

    The message always names the file, so a planner knows which one to fix.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Rebuild from (path, problem): errors raised on Dask workers travel back pickled.
        return (type(self), (self.path, self.problem))


class ManifestError(SourceError):
    """The source manifest or a column profile is malformed."""


class ConfigError(NetkortError):
    """A setting (environment variable, ``.env`` or command-line option) has an invalid value."""


class ReleaseError(NetkortError):
    """A release is missing, incomplete or fails verification."""


class NoReleaseError(ReleaseError):
    """No release has been built yet under NETKORT_HOME."""


class BuildError(NetkortError):
    """A build could not be completed; nothing was published."""


class RuleSetError(NetkortError):
    """A rule file is malformed, or an unknown rule set was asked for."""


class NotFoundError(NetkortError):
    """A requested object (address, municipality, layer, tile) does not exist."""

    def __init__(self, message: str, suggestions: list[dict[str, str]] | None = None) -> None:
        self.suggestions = suggestions or []
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[str, list[dict[str, str]]]]:
        return (type(self), (str(self), self.suggestions))


class InvalidRequestError(NetkortError):
    """A request's parameters are well-formed but cannot be answered (e.g. bad bbox)."""
