"""The release store: immutable, verified folders of GeoParquet tables under ``NETKORT_HOME``.

Layout::

    NETKORT_HOME/
      releases/<release id>/manifest.json, *.parquet, quarantine.csv, unmatched.csv
      releases/.building-<release id>/     (a build in progress; never read)
      current -> releases/<release id>     (a symlink, swapped atomically)

A build writes into a hidden folder, reads every table back to verify it, renames the folder into
place and only then swaps ``current`` with an atomic ``rename``. A build that fails or is killed at
any point leaves ``current`` and every published release untouched.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from coverage.errors import NoReleaseError, ReleaseError
from coverage.parquetio import RowGroups
from coverage.sources import sha256_file

MANIFEST = "manifest.json"
_BUILDING_PREFIX = ".building-"


@dataclass(frozen=True)
class Release:
    """A published release: its folder and its manifest."""

    id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def generated(self) -> bool:
        """Whether any record in the release comes from the synthetic generator."""
        return bool(self.manifest.get("generated", False))

    def has_table(self, name: str) -> bool:
        """Whether the release holds a table of this name."""
        return name in self.manifest.get("tables", {})

    def table_path(self, name: str) -> Path:
        """The file of a table, checked to be listed in the manifest."""
        info = self.manifest.get("tables", {}).get(name)
        if info is None:
            raise ReleaseError(f"release {self.id} has no table {name!r}")
        return self.path / info["file"]

    def read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a table; GeoParquet tables come back as GeoDataFrames."""
        path = self.table_path(name)
        info = self.manifest["tables"][name]
        try:
            if path.suffix == ".csv":
                return pd.read_csv(path, dtype=str, keep_default_na=False)
            if info.get("geo"):
                return gpd.read_parquet(path, columns=columns)
            return pd.read_parquet(path, columns=columns)
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"release {self.id}: table {name} cannot be read: {exc}") from None

    def verify(self, *, checksums: bool = False) -> None:
        """Check every table exists with the rows the manifest lists (and sha256 if asked)."""
        for name, info in self.manifest.get("tables", {}).items():
            path = self.path / info["file"]
            if not path.exists():
                raise ReleaseError(f"release {self.id}: table {name} is missing ({path.name})")
            if path.stat().st_size != info["size"]:
                raise ReleaseError(
                    f"release {self.id}: table {name} has {path.stat().st_size} bytes, "
                    f"the manifest says {info['size']}"
                )
            if checksums and sha256_file(path) != info["sha256"]:
                raise ReleaseError(f"release {self.id}: table {name} fails its checksum")
            if path.suffix == ".parquet":
                try:
                    rows = pq.read_metadata(path).num_rows
                except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on damage
                    raise ReleaseError(
                        f"release {self.id}: table {name} is damaged: {exc}"
                    ) from None
                if rows != info["rows"]:
                    raise ReleaseError(
                        f"release {self.id}: table {name} has {rows} rows, manifest says "
                        f"{info['rows']}"
                    )


class ReleaseStore:
    """Releases under one home folder."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.releases_dir = self.home / "releases"
        self.current_link = self.home / "current"

    def list(self) -> list[Release]:
        """Published releases, oldest first (ids sort by creation time)."""
        if not self.releases_dir.exists():
            return []
        out = []
        for child in sorted(self.releases_dir.iterdir()):
            if child.name.startswith(".") or not (child / MANIFEST).exists():
                continue
            try:
                out.append(self._load(child))
            except ReleaseError:
                continue
        return out

    def ids(self) -> builtins.list[str]:  # ``list`` is a method of this class
        """Ids of the published releases, oldest first, without reading their tables."""
        if not self.releases_dir.exists():
            return []
        return sorted(
            c.name
            for c in self.releases_dir.iterdir()
            if not c.name.startswith(".") and (c / MANIFEST).exists()
        )

    def previous_id(self, release_id: str) -> str | None:
        """The id of the release published before the given one, if any (nothing is opened)."""
        ids = self.ids()
        if release_id not in ids:
            return None
        i = ids.index(release_id)
        return ids[i - 1] if i > 0 else None

    def current_id(self) -> str | None:
        """The id ``current`` points at, or None before the first build."""
        if not self.current_link.is_symlink():
            return None
        return Path(os.readlink(self.current_link)).name

    def current(self) -> Release:
        """The current release, verified."""
        rid = self.current_id()
        if rid is None:
            raise NoReleaseError(
                f"no release under {self.home}: run `netkort build` first (NETKORT_HOME={self.home})"
            )
        return self.open(rid)

    def open(self, release_id: str) -> Release:
        """A published release by id (or ``current``), verified."""
        if release_id == "current":
            return self.current()
        path = self.releases_dir / release_id
        if release_id.startswith(".") or "/" in release_id or not (path / MANIFEST).exists():
            known = ", ".join(r.id for r in self.list()) or "none"
            raise NoReleaseError(f"no release {release_id!r}; releases: {known}")
        release = self._load(path)
        release.verify()
        return release

    def previous(self, release_id: str) -> Release | None:
        """The release published before the given one, if any."""
        ids = [r.id for r in self.list()]
        if release_id not in ids:
            return None
        i = ids.index(release_id)
        return self.open(ids[i - 1]) if i > 0 else None

    @staticmethod
    def _load(path: Path) -> Release:
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"release {path.name}: manifest unreadable: {exc}") from None
        return Release(path.name, path, manifest)

    @contextmanager
    def writer(self, release_id: str) -> Iterator[ReleaseWriter]:
        """Write a new release; it is published only if the block completes and verifies."""
        self.releases_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_abandoned()
        final = self.releases_dir / release_id
        if final.exists():
            raise ReleaseError(f"release {release_id} already exists")
        staging = self.releases_dir / f"{_BUILDING_PREFIX}{release_id}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        writer = ReleaseWriter(release_id, staging)
        try:
            yield writer
            writer.seal()
            Release(release_id, staging, writer.manifest).verify(checksums=True)
            os.rename(staging, final)
            _fsync_dir(self.releases_dir)
            self._point_current_at(final)
        except OSError as exc:
            # Disk full, permissions, a vanished folder: the user's environment, not a bug.
            shutil.rmtree(staging, ignore_errors=True)
            reason = exc.strerror or str(exc)
            where = f" ({exc.filename})" if exc.filename else ""
            raise ReleaseError(
                f"could not write release {release_id}: {reason}{where}; nothing was published"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _point_current_at(self, target: Path) -> None:
        tmp = self.home / f".current-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path("releases") / target.name, tmp)
        os.replace(tmp, self.current_link)  # atomic on POSIX: readers see old or new, never none
        _fsync_dir(self.home)

    def _sweep_abandoned(self) -> None:
        """Remove staging folders left by killed builds (never a published release)."""
        for child in self.releases_dir.glob(f"{_BUILDING_PREFIX}*"):
            pid_file = child / ".pid"
            try:
                pid = int(pid_file.read_text())
                os.kill(pid, 0)
                continue  # a build in progress in another process
            except (OSError, ValueError):
                shutil.rmtree(child, ignore_errors=True)


class ReleaseWriter:
    """Writes tables into a staging folder and records them for the manifest."""

    def __init__(self, release_id: str, path: Path) -> None:
        self.release_id = release_id
        self.path = path
        self.tables: dict[str, dict[str, Any]] = {}
        self.manifest: dict[str, Any] = {"release_id": release_id}
        (path / ".pid").write_text(str(os.getpid()))

    def write_table(self, name: str, frame: pd.DataFrame | RowGroups) -> None:
        """Write one table: GeoParquet for GeoDataFrames, Parquet otherwise.

        A :class:`~coverage.parquetio.RowGroups` (a big table whose in-memory form is leaner than
        the stored one) is written one row group at a time, so only one is ever expanded; its
        schema's ``geo`` metadata makes it a GeoParquet table.
        """
        target = self.path / f"{name}.parquet"
        if isinstance(frame, RowGroups):
            rows = 0
            with pq.ParquetWriter(target, frame.schema, compression="zstd") as out:
                for piece in frame.pieces:
                    out.write_table(piece, row_group_size=len(piece) or None)
                    rows += len(piece)
            self._record(name, target, rows=rows, geo=frame.geo)
            return
        geo = isinstance(frame, gpd.GeoDataFrame)
        if geo:
            frame.to_parquet(target, compression="zstd", write_covering_bbox=True, index=False)
        else:
            frame.to_parquet(target, compression="zstd", index=False)
        self._record(name, target, rows=len(frame), geo=geo)

    def write_csv(self, name: str, frame: pd.DataFrame) -> None:
        """Write a table as CSV (UTF-8 with BOM so spreadsheets show æøå)."""
        target = self.path / f"{name}.csv"
        frame.to_csv(target, index=False, encoding="utf-8-sig")
        self._record(name, target, rows=len(frame), geo=False)

    def write_file(self, name: str, source: Path) -> None:
        """Copy a finished file (e.g. a raster) into the release."""
        target = self.path / source.name
        shutil.copyfile(source, target)
        self._record(name, target, rows=0, geo=False)

    def write_tree(self, name: str, source: Path) -> None:
        """Copy a finished folder (e.g. the mobile rasters) into the release as ``<name>/``.

        Every file is recorded (as ``<name>/<file>``) so it is checksummed and verified like a table.
        """
        target = self.path / name
        shutil.copytree(source, target)
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            self._record(str(path.relative_to(self.path)), path, rows=0, geo=False)

    def _record(self, name: str, target: Path, *, rows: int, geo: bool) -> None:
        self.tables[name] = {
            "file": str(target.relative_to(self.path)),
            "rows": rows,
            "geo": geo,
            "size": target.stat().st_size,
            "sha256": sha256_file(target),
        }

    def seal(self) -> None:
        """Write manifest.json last: a folder without it is never a release."""
        self.manifest["tables"] = self.tables
        self.manifest.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        tmp = self.path / f"{MANIFEST}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(self.manifest, handle, ensure_ascii=False, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / MANIFEST)
        (self.path / ".pid").unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
