"""Shared fixtures: settings pointing at temporary homes, and a release built from the real bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from coverage.build import build_release
from coverage.release import Release
from coverage.settings import Settings
from coverage.sources import load_manifest

DATA = Settings().data
SAMSOE = "0741"


def pytest_report_header(config: pytest.Config) -> str:
    return f"netkort data bundle: {DATA}"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data bundle (NETKORT_DATA); the suite needs it."""
    if not (DATA / "dagi" / "kommuner.geojson").exists():
        pytest.exit(f"the data bundle is missing at {DATA}: set NETKORT_DATA", returncode=2)
    return DATA


@pytest.fixture
def settings(tmp_path: Path, data_dir: Path) -> Settings:
    """Settings with a fresh, empty release home."""
    return Settings(data=data_dir, home=tmp_path / "home")


@pytest.fixture(scope="session")
def bundle_settings(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Settings:
    """Settings whose home holds one release built from the real bundle (built once per run)."""
    return Settings(data=data_dir, home=tmp_path_factory.mktemp("bundle-home"))


@pytest.fixture(scope="session")
def bundle_release(bundle_settings: Settings) -> Release:
    """The release built from the real bundle with the default manifest; read-only for tests."""
    manifest = load_manifest(None, bundle_settings.data)
    return build_release(bundle_settings, manifest).release
