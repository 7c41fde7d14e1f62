"""Files of a generated data set: plain register-style CSV and the source manifest.

The manifest writer is shared with other generators (mobile sites, measurements): they pass their own
:class:`ManifestEntry` objects to :func:`coverage.synth.synthesize` (``extra_entries``) or add them to
an existing ``sources.toml`` with :func:`append_manifest_entries`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from coverage.errors import SourceError
from coverage.sources import Boundaries, SourceFile, toml_string


@dataclass(frozen=True)
class ManifestEntry(SourceFile):
    """A ``[[kind]]`` entry the generator writes into a manifest: generated unless said otherwise."""

    generated: bool = True


def write_csv(table: pa.Table, path: Path) -> None:
    """Write a table the way the register exports it: a plain header, no quotes, UTF-8.

    Arrow always quotes the header, so the header is written by hand; ``quoting_style="none"``
    makes Arrow refuse any value that would need quotes instead of writing a broken file.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(
            table,
            handle,
            pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16),
        )
    os.replace(tmp, path)


def write_manifest(
    path: Path, boundaries: Boundaries, entries: Sequence[ManifestEntry], header: str = ""
) -> Path:
    """Write a source manifest that :func:`coverage.sources.load_manifest` reads.

    Paths are written as given; pass absolute ones, since relative paths resolve against the data
    bundle, not against the manifest's folder.
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [
        "",
        "[boundaries]",
        f"municipalities = {toml_string(str(boundaries.municipalities))}",
    ]
    if boundaries.regions is not None:
        lines.append(f"regions = {toml_string(str(boundaries.regions))}")
    if boundaries.postcodes is not None:
        lines.append(f"postcodes = {toml_string(str(boundaries.postcodes))}")
    if boundaries.attribution:
        lines.append(f"attribution = {toml_string(boundaries.attribution)}")
    if boundaries.licence:
        lines.append(f"licence = {toml_string(boundaries.licence)}")
    text = "\n".join(lines) + "\n" + "".join("\n" + e.toml() for e in entries)
    atomic_write(path, text)
    return path


def append_manifest_entries(path: Path, entries: Sequence[ManifestEntry]) -> None:
    """Add entries to an existing manifest (TOML allows ``[[kind]]`` blocks in any order)."""
    if not path.exists():
        raise SourceError(path, "source manifest not found; run netkort synth first")
    text = path.read_text(encoding="utf-8")
    atomic_write(path, text + "".join("\n" + e.toml() for e in entries))


def generation_date() -> str:
    """Today's date (UTC), or ``SOURCE_DATE_EPOCH``'s, for byte-reproducible runs across days."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).date().isoformat()
    return date.today().isoformat()


def atomic_write(path: Path, text: str) -> None:
    """Write text through a temporary file and a rename: readers see the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


__all__ = [
    "ManifestEntry",
    "append_manifest_entries",
    "atomic_write",
    "generation_date",
    "write_csv",
    "write_manifest",
]
