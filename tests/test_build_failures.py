"""A build that fails or is killed never changes what is published."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coverage.build import build_release
from coverage.errors import ReleaseError
from coverage.release import ReleaseStore, ReleaseWriter
from coverage.sources import load_manifest

NETKORT = Path(sys.executable).with_name("netkort")


def _snapshot(home: Path) -> dict[str, str]:
    """Every file under home with its sha256, plus where current points."""
    out = {"current": os.readlink(home / "current")}
    for path in sorted((home / "releases").rglob("*")):
        if path.is_file():
            out[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def published(settings):
    """A home with one published release from the real bundle."""
    release = build_release(settings, load_manifest(None, settings.data)).release
    return settings, release


def test_failure_half_way_leaves_current_untouched(published, monkeypatch):
    settings, release = published
    before = _snapshot(settings.home)
    original = ReleaseWriter.write_table

    def fail_on_availability(self, name, frame):
        if name == "availability":
            raise RuntimeError("forced failure half-way through writing")
        return original(self, name, frame)

    monkeypatch.setattr(ReleaseWriter, "write_table", fail_on_availability)
    with pytest.raises(RuntimeError, match="forced failure"):
        build_release(settings, load_manifest(None, settings.data), force=True)
    assert _snapshot(settings.home) == before
    assert not list((settings.home / "releases").glob(".building-*"))
    assert ReleaseStore(settings.home).current().id == release.id


def test_disk_full_gives_a_clear_error_and_publishes_nothing(published, monkeypatch):
    settings, _ = published
    before = _snapshot(settings.home)

    def disk_full(self, name, frame):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path / f"{name}.parquet"))

    monkeypatch.setattr(ReleaseWriter, "write_table", disk_full)
    with pytest.raises(ReleaseError, match=r"No space left on device.*nothing was published"):
        build_release(settings, load_manifest(None, settings.data), force=True)
    assert _snapshot(settings.home) == before


def test_sigkill_mid_build_leaves_previous_release_current(published):
    settings, release = published
    before = _snapshot(settings.home)
    env = {**os.environ, "NETKORT_HOME": str(settings.home), "NETKORT_DATA": str(settings.data)}
    proc = subprocess.Popen(
        [str(NETKORT), "build", "--force", "--quiet"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        # Kill as soon as the staging folder exists: the build is mid-way through writing.
        while time.monotonic() < deadline and proc.poll() is None:
            if list((settings.home / "releases").glob(".building-*")):
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    store = ReleaseStore(settings.home)
    assert store.current().id == release.id
    store.current().verify(checksums=True)
    assert [r.id for r in store.list()] == [release.id]
    after = {k: v for k, v in _snapshot(settings.home).items() if ".building-" not in k}
    assert after == before
    # The next build sweeps the abandoned staging folder and publishes normally.
    result = build_release(settings, load_manifest(None, settings.data), force=True)
    assert store.current().id == result.release.id != release.id
    assert not list((settings.home / "releases").glob(".building-*"))


def test_identical_inputs_are_reported_not_rebuilt(published):
    settings, release = published
    again = build_release(settings, load_manifest(None, settings.data))
    assert again.identical and again.release.id == release.id
    assert len(ReleaseStore(settings.home).list()) == 1


def test_damaged_release_is_refused(published):
    settings, release = published
    table = release.table_path("addresses")
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])  # truncated Parquet
    with pytest.raises(ReleaseError, match="addresses"):
        ReleaseStore(settings.home).current()
