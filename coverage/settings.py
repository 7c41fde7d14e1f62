"""Library settings, read from the environment with the ``NETKORT_`` prefix or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coverage.errors import ConfigError

#: The project checkout: ``coverage/`` sits directly below it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Files kept in the repository: manifests, column profiles, rule sets.
PACKAGE_DATA = PROJECT_ROOT / "data"


class Settings(BaseSettings):
    """Where data comes from, where releases go, and which region is mapped."""

    model_config = SettingsConfigDict(env_prefix="NETKORT_", env_file=".env", extra="ignore")

    data: Path = PROJECT_ROOT.parent / "shared" / "data"
    """The data bundle (``NETKORT_DATA``); manifest paths are relative to it."""

    home: Path = PROJECT_ROOT / "var"
    """Where releases live (``NETKORT_HOME``)."""

    database_url: str | None = None
    """Report database (``NETKORT_DATABASE_URL``, ``postgresql://user@host:port/db``); unset =
    SQLite at ``NETKORT_HOME/reports.sqlite``."""

    region: str = "1082"
    """Region code (``NETKORT_REGION``): 1082 is Region Midtjylland; ``all`` maps the whole country."""

    @field_validator("region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "all":
            return "all"
        if not (value.isdigit() and len(value) == 4):
            raise ValueError("a region code has 4 digits, e.g. 1082, or is 'all'")
        return value

    @property
    def releases_dir(self) -> Path:
        """Folder holding one sub-folder per release."""
        return self.home / "releases"

    @property
    def current_link(self) -> Path:
        """Symlink naming the release the service and the CLI use."""
        return self.home / "current"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with overrides; a bad value is a :class:`ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"NETKORT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
