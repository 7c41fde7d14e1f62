"""The source manifest: which files a build reads, with their kind, profile and attribution."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coverage.errors import ManifestError
from coverage.settings import PACKAGE_DATA

DEFAULT_MANIFEST = PACKAGE_DATA / "sources.toml"

#: Kinds of source a manifest may list; each is a list of files except ``boundaries``.
FILE_KINDS = ("addresses", "mapping", "sites", "measurements", "zones", "osm")
_FILE_KEYS = {"path", "profile", "year", "attribution", "licence", "generated", "operator"}
_BOUNDARY_KEYS = {"municipalities", "regions", "postcodes", "attribution", "licence"}


@dataclass(frozen=True)
class SourceFile:
    """One input file and what is known about it."""

    kind: str
    path: Path
    profile: str | None = None
    year: int | None = None
    attribution: str = ""
    licence: str = ""
    generated: bool = False

    def toml(self) -> str:
        """The entry as a manifest's TOML array-of-tables block (what :func:`load_manifest` reads)."""
        lines = [f"[[{self.kind}]]", f"path = {toml_string(str(self.path))}"]
        if self.profile:
            lines.append(f"profile = {toml_string(self.profile)}")
        if self.year is not None:
            lines.append(f"year = {int(self.year)}")
        if self.attribution:
            lines.append(f"attribution = {toml_string(self.attribution)}")
        if self.licence:
            lines.append(f"licence = {toml_string(self.licence)}")
        lines.append(f"generated = {'true' if self.generated else 'false'}")
        return "\n".join(lines) + "\n"

    def describe(self) -> dict[str, Any]:
        """Manifest entry for the release: path, size and sha256 of the bytes read."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "size": self.path.stat().st_size,
            "sha256": sha256_file(self.path),
            "profile": self.profile,
            "year": self.year,
            "attribution": self.attribution,
            "licence": self.licence,
            "generated": self.generated,
        }


@dataclass(frozen=True)
class Boundaries:
    """DAGI layers: municipalities are required; regions to select a region; postcodes optional."""

    municipalities: Path
    regions: Path | None = None
    postcodes: Path | None = None
    attribution: str = ""
    licence: str = ""

    def files(self) -> list[SourceFile]:
        """The boundary layers as source files."""
        out = [SourceFile("municipalities", self.municipalities, attribution=self.attribution)]
        for kind, path in (("regions", self.regions), ("postcodes", self.postcodes)):
            if path is not None:
                out.append(SourceFile(kind, path, attribution=self.attribution))
        return out


@dataclass(frozen=True)
class SourceManifest:
    """Everything one build reads."""

    path: Path
    boundaries: Boundaries
    files: dict[str, list[SourceFile]] = field(default_factory=dict)

    def of(self, kind: str) -> list[SourceFile]:
        """The files of one kind (possibly none)."""
        return self.files.get(kind, [])

    def all_files(self) -> list[SourceFile]:
        """Every input, boundaries first."""
        return self.boundaries.files() + [f for k in FILE_KINDS for f in self.of(k)]

    def with_files(self, kind: str, files: list[SourceFile]) -> SourceManifest:
        """A copy where the files of one kind are replaced (command-line overrides)."""
        return replace(self, files={**self.files, kind: files})

    def with_boundaries(self, municipalities: Path) -> SourceManifest:
        """A copy with another municipality layer."""
        return replace(self, boundaries=replace(self.boundaries, municipalities=municipalities))


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, and æ, ø, å stay readable."""
    return json.dumps(value, ensure_ascii=False)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(path: str | Path | None, data_dir: Path) -> SourceManifest:
    """Read and check a source manifest; relative paths are resolved against ``data_dir``."""
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    if not path.exists():
        raise ManifestError(path, "source manifest not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, f"source manifest is not valid TOML: {exc}") from None

    unknown = sorted(set(raw) - {"boundaries", *FILE_KINDS})
    if unknown:
        raise ManifestError(
            path,
            f"unknown section(s) {', '.join(unknown)}; expected boundaries, {', '.join(FILE_KINDS)}",
        )
    b = raw.get("boundaries")
    if not isinstance(b, dict) or "municipalities" not in b:
        raise ManifestError(path, "[boundaries] with a 'municipalities' path is required")
    bad_keys = sorted(set(b) - _BOUNDARY_KEYS)
    if bad_keys:
        raise ManifestError(path, f"[boundaries] has unknown key(s) {', '.join(bad_keys)}")

    def resolve(value: object, where: str) -> Path:
        if not isinstance(value, str) or not value:
            raise ManifestError(path, f"{where}: expected a file path, got {value!r}")
        p = Path(value)
        return p if p.is_absolute() else data_dir / p

    boundaries = Boundaries(
        municipalities=resolve(b["municipalities"], "boundaries.municipalities"),
        regions=resolve(b["regions"], "boundaries.regions") if "regions" in b else None,
        postcodes=resolve(b["postcodes"], "boundaries.postcodes") if "postcodes" in b else None,
        attribution=str(b.get("attribution", "")),
        licence=str(b.get("licence", "")),
    )
    files: dict[str, list[SourceFile]] = {}
    for kind in FILE_KINDS:
        entries = raw.get(kind, [])
        if not isinstance(entries, list):
            raise ManifestError(path, f"{kind} must be a list of tables: write [[{kind}]]")
        out = []
        for i, entry in enumerate(entries, start=1):
            where = f"[[{kind}]] entry {i}"
            if not isinstance(entry, dict):
                raise ManifestError(path, f"{where}: expected a table")
            extra = sorted(set(entry) - _FILE_KEYS)
            if extra:
                raise ManifestError(path, f"{where}: unknown key(s) {', '.join(extra)}")
            year = entry.get("year")
            if year is not None and not isinstance(year, int):
                raise ManifestError(path, f"{where}: year must be a whole number, got {year!r}")
            out.append(
                SourceFile(
                    kind=kind,
                    path=resolve(entry.get("path"), f"{where}.path"),
                    profile=entry.get("profile"),
                    year=year,
                    attribution=str(entry.get("attribution", "")),
                    licence=str(entry.get("licence", "")),
                    generated=bool(entry.get("generated", False)),
                )
            )
        files[kind] = out
    return SourceManifest(path=path, boundaries=boundaries, files=files)
