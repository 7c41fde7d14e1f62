"""The broadband pool's (bredbåndspuljen's) eligibility rules, one TOML file per round.

The rules change almost every year, so they are data: ``data/rules/<first>-<last>.toml`` holds a
round's speed ceilings, its mobile rule, its zone rule, the official sources and a written
interpretation in Danish and English. Next year's rules are a new file; no code changes.

A rule file is validated when it is loaded; a bad one raises :class:`~coverage.errors.RuleSetError`
naming the file, the key and what was expected. Pydantic checks the shape here, at the file's edge.
"""

from __future__ import annotations

import re
import tomllib
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from coverage.errors import RuleSetError
from coverage.planning import ZONE_NAMES, canonical_zone
from coverage.settings import PACKAGE_DATA, PROJECT_ROOT

#: Where the rule files live in the repository.
RULES_DIR = PACKAGE_DATA / "rules"

Comparison = Literal["le", "lt"]
"""``le``: value ≤ threshold meets the ceiling ("at most"); ``lt``: value < threshold ("below")."""

_ID = re.compile(r"^(\d{4})(?:-(\d{4}))?$")


def _zone_name(value: str) -> str:
    zone = canonical_zone(value)
    if zone is None:
        raise ValueError(f"unknown zone {value!r}; expected one of {', '.join(ZONE_NAMES)}")
    return zone


ZoneName = Annotated[str, AfterValidator(_zone_name)]
Speed = Annotated[float, Field(gt=0, le=10_000)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Text(_Model):
    """A text in Danish and English."""

    da: NonEmpty
    en: NonEmpty


class FixedRule(_Model):
    """The fixed-network ceiling: best fixed download (and upload) must meet it."""

    down: Speed
    up: Speed | None = None
    comparison: Comparison
    combine: Literal["or", "and"] | None = None
    """How the down and up tests combine when both are given: ``or`` means either falling short
    of the ceiling is enough (DOMAIN.md's reading of "at most 10/2")."""

    @model_validator(mode="after")
    def _combine_with_up(self) -> FixedRule:
        if self.up is not None and self.combine is None:
            raise ValueError("'combine' (\"or\" or \"and\") is required when 'up' is given")
        if self.up is None and self.combine is not None:
            raise ValueError("'combine' only applies when 'up' is given")
        return self


class MobileRule(_Model):
    """How mobile coverage counts: as a second ceiling, or only in the project points."""

    role: Literal["ceiling", "points"]
    down: Speed | None = None
    comparison: Comparison | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _ceiling_needs_threshold(self) -> MobileRule:
        if self.role == "ceiling" and (self.down is None or self.comparison is None):
            raise ValueError("role \"ceiling\" needs 'down' and 'comparison'")
        if self.role == "points" and self.down is not None:
            raise ValueError("role \"points\" takes no 'down' threshold (it is not a ceiling)")
        return self

    @property
    def is_ceiling(self) -> bool:
        """Whether mobile download is part of the eligibility test."""
        return self.role == "ceiling"


class BlueBand(_Model):
    """Addresses just above the ceiling that may join a project in a limited share (2021)."""

    above: Speed
    down_max: Speed
    max_project_share: Annotated[float, Field(gt=0, lt=1)]

    @model_validator(mode="after")
    def _band(self) -> BlueBand:
        if self.down_max <= self.above:
            raise ValueError("'down_max' must be above 'above'")
        return self


class ConditionalZone(_Model):
    """A zone that counts only under a condition the data cannot check (e.g. town size)."""

    zone: ZoneName
    condition: Text


class ZoneRule(_Model):
    """Zones where an address may be eligible."""

    allowed: Annotated[list[ZoneName], Field(min_length=1)]
    conditional: list[ConditionalZone] = []

    @model_validator(mode="after")
    def _disjoint(self) -> ZoneRule:
        both = {c.zone for c in self.conditional} & set(self.allowed)
        if both:
            raise ValueError(f"zone {sorted(both)[0]} is both allowed and conditional")
        return self

    @property
    def conditional_zones(self) -> tuple[str, ...]:
        """Names of the conditional zones."""
        return tuple(c.zone for c in self.conditional)


class Source(_Model):
    """An official document (or a report of one) the rule set rests on."""

    title: NonEmpty
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    publisher: str = ""
    date: str = ""
    note: str = ""


class RuleSet(_Model):
    """One pool round's rules, as loaded from its TOML file."""

    id: Annotated[str, Field(pattern=r"^\d{4}(-\d{4})?$")]
    first_year: Annotated[int, Field(ge=2000, le=2100)]
    last_year: Annotated[int, Field(ge=2000, le=2100)]
    title: Text
    fixed: FixedRule
    mobile: MobileRule | None = None
    blue: BlueBand | None = None
    zone: ZoneRule
    sources: Annotated[list[Source], Field(min_length=1)]
    interpretation: Text

    _path: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _years(self) -> RuleSet:
        if self.last_year < self.first_year:
            raise ValueError("'last_year' is before 'first_year'")
        expected = (
            str(self.first_year)
            if self.first_year == self.last_year
            else f"{self.first_year}-{self.last_year}"
        )
        if self.id != expected:
            raise ValueError(
                f"id {self.id!r} does not match the years {self.first_year}-{self.last_year}; "
                f"expected {expected!r}"
            )
        return self

    @property
    def path(self) -> str:
        """The file the rule set was loaded from."""
        return self._path

    @property
    def mobile_ceiling(self) -> MobileRule | None:
        """The mobile rule when it is a ceiling (part of the test), else None."""
        return self.mobile if self.mobile is not None and self.mobile.is_ceiling else None

    def covers(self, year: int) -> bool:
        """Whether the round's rules apply to the year."""
        return self.first_year <= year <= self.last_year

    def summary(self) -> dict[str, Any]:
        """The thresholds as plain values, for tables and JSON."""
        return {
            "id": self.id,
            "years": [self.first_year, self.last_year],
            "title": self.title.model_dump(),
            "fixed": self.fixed.model_dump(exclude_none=True),
            "mobile": self.mobile.model_dump(exclude_none=True) if self.mobile else None,
            "blue": self.blue.model_dump() if self.blue else None,
            "zone": {
                "allowed": list(self.zone.allowed),
                "conditional": [c.model_dump() for c in self.zone.conditional],
            },
            "sources": [s.model_dump() for s in self.sources],
            "interpretation": self.interpretation.model_dump(),
            "path": _shown_path(self.path),
        }


def _shown_path(path: str) -> str:
    """A rule file's path relative to the project when it lies inside it (no local paths leak)."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return path


def load_rule_set(path: str | Path) -> RuleSet:
    """Load and validate one rule file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleSetError(f"{path}: cannot read rule file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuleSetError(f"{path}: not valid TOML: {exc}") from None
    try:
        rules = RuleSet.model_validate(raw)
    except ValidationError as exc:
        raise RuleSetError(f"{path}: {_describe(exc)}") from None
    rules._path = str(path)
    return rules


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors as 'key: what was expected (got value)', one per problem."""
    parts = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(p) for p in error["loc"]) or "(file)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            parts.append(f"key {key!r} is missing")
        elif error["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            got = error.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            parts.append(f"key {key!r}: {message}{shown}")
    return "; ".join(parts)


def load_rule_sets(dir: str | Path | None = None) -> list[RuleSet]:
    """Every rule file in ``dir`` (default ``data/rules``), oldest round first.

    Two files covering the same year, or two with the same id, are refused: a year must have one
    answer.
    """
    folder = Path(dir) if dir is not None else RULES_DIR
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise RuleSetError(f"{folder}: no rule files (*.toml)")
    sets = sorted((load_rule_set(f) for f in files), key=lambda r: r.first_year)
    for earlier, later in pairwise(sets):
        if later.first_year <= earlier.last_year:
            raise RuleSetError(
                f"{later.path}: years {later.first_year}-{later.last_year} overlap "
                f"{earlier.path} ({earlier.first_year}-{earlier.last_year})"
            )
    return sets


def get_rule_set(key: str | int | None = None, dir: str | Path | None = None) -> RuleSet:
    """The rule set for a key: an id (``2024-2025``), a year (``2025``) or a span of years.

    ``None``, ``""``, ``latest`` and ``newest`` give the newest round. A year no round covers is an
    error, not the nearest round: rules are never applied to a year they were not written for.
    """
    sets = load_rule_sets(dir)
    text = "" if key is None else str(key).strip()
    if text.lower() in ("", "latest", "newest"):
        return sets[-1]
    for rules in sets:
        if rules.id == text:
            return rules
    known = ", ".join(r.id for r in sets)
    match = _ID.match(text)
    if match is None:
        raise RuleSetError(
            f"rule set {text!r} is not a year or a rule set id; known rule sets: {known}"
        )
    first = int(match.group(1))
    last = int(match.group(2) or first)
    for rules in sets:
        if rules.covers(first) and rules.covers(last):
            return rules
    raise RuleSetError(f"no rule set covers {text}; known rule sets: {known}")


def resolve_rule_sets(
    keys: list[str] | None = None, dir: str | Path | None = None
) -> list[RuleSet]:
    """Rule sets for several keys (each as :func:`get_rule_set`), without repeats; all when None."""
    if not keys:
        return load_rule_sets(dir)
    out: dict[str, RuleSet] = {}
    for key in keys:
        rules = get_rule_set(key, dir)
        out.setdefault(rules.id, rules)
    return list(out.values())


__all__ = [
    "RULES_DIR",
    "BlueBand",
    "Comparison",
    "ConditionalZone",
    "FixedRule",
    "MobileRule",
    "RuleSet",
    "Source",
    "Text",
    "ZoneRule",
    "get_rule_set",
    "load_rule_set",
    "load_rule_sets",
    "resolve_rule_sets",
]
