"""netkort: broadband and mobile coverage for Region Midtjylland, from sources to releases."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("netkort")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
