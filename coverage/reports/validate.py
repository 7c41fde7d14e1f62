"""The rules a report must meet, and the address it names as the release knew it.

Every problem is collected (field, why) so a form can show them all at once. Text is checked for what
would break storage or readers: lone surrogates (a JSON ``"\\ud800"`` escape), control characters
(PostgreSQL refuses NUL), and length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from coverage.errors import InvalidRequestError, NetkortError, NotFoundError
from coverage.types import FIXED_TECHNOLOGIES, MAX_SPEED_MBIT

KINDS = ("fixed_speed", "mobile_coverage", "address")
"""What a report can be about: a fixed technology's speed, mobile coverage, the address itself."""
STATUSES = ("new", "under_review", "accepted", "rejected")
"""Review states, in the order a report usually moves through them."""
OPEN_STATUSES = ("new", "under_review")
"""States in which a lookup shows the address as "reported, under review"."""
REPORTERS = ("citizen", "municipality")
"""Who reports: a citizen (the default) or a municipality's planner."""
ADDRESS_PROBLEMS = (
    "does_not_exist",
    "wrong_position",
    "wrong_text",
    "missing_from_mapping",
    "other",
)
"""What can be wrong with the address itself."""
MAX_MESSAGE = 2000
"""Longest free text (characters), for the report's message and a rejection's reason."""
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
"""A time given without an offset is Danish wall-clock time (a form's datetime-local field)."""
_CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run a little ahead of the server's
_OLDEST_TEST = datetime(2000, 1, 1, tzinfo=UTC)
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
_PHONE = re.compile(r"\+?[0-9 ()-]{6,30}")
# Control characters other than tab and newlines: PostgreSQL refuses NUL in text, and none of them
# belongs in a report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ReportValidationError(InvalidRequestError):
    """A report (or a status change) breaks one or more rules; ``problems`` lists ``(field, why)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {why}" for f, why in problems))


@dataclass(frozen=True)
class AddressSnapshot:
    """The reported address as the release knew it when the report came in."""

    id: str
    text: str
    kommunekode: str | None
    kommunenavn: str | None
    postnr: str | None
    east: float | None
    north: float | None
    listed: Mapping[str, float | None]
    """Speeds in the release's mapping row: ``fiber_down``, ..., ``mobile_up`` (None: no row)."""
    release_id: str


def check_text(raw: Mapping[str, Any], name: str, limit: int, problems: list) -> str | None:
    """``raw[name]`` as stripped text of at most ``limit`` characters (None when empty); a problem
    is appended to ``problems`` instead of raising."""
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append((name, "must be text"))
        return None
    value = value.strip()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON "\ud800" escape
        problems.append((name, "is not valid Unicode text"))
        return None
    if _CONTROL.search(value):
        problems.append((name, "contains control characters"))
        return None
    if len(value) > limit:
        problems.append((name, f"has {len(value)} characters, at most {limit} are allowed"))
        return None
    return value or None


def _choice(
    raw: Mapping[str, Any], name: str, allowed: tuple[str, ...], problems: list
) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        problems.append((name, f"{str(value)[:40]!r} is not one of {', '.join(allowed)}"))
        return None
    return str(value)


def _speed(raw: Mapping[str, Any], name: str, problems: list) -> float | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append((name, "must be a number of Mbit/s"))
        return None
    try:
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except ValueError:
        problems.append((name, f"{str(value)[:40]!r} is not a number of Mbit/s"))
        return None
    if not math.isfinite(number) or not 0 <= number <= MAX_SPEED_MBIT:
        problems.append((name, f"must be between 0 and {MAX_SPEED_MBIT:g} Mbit/s"))
        return None
    return round(number, 3)


def _when(raw: Mapping[str, Any], name: str, now: datetime, problems: list) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            problems.append((name, "must be a date and time such as 2026-05-01T18:30:00+02:00"))
            return None
    if not isinstance(value, datetime):
        problems.append((name, "must be a date and time"))
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    value = value.astimezone(UTC)
    if value > now + _CLOCK_SKEW:
        problems.append((name, "is in the future"))
    elif value < _OLDEST_TEST:
        problems.append((name, "is before the year 2000"))
    return value


def validate_report(
    raw: Mapping[str, Any],
    resolve: Callable[[Any], AddressSnapshot],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Check a submitted report and return the row to store (without id and times).

    ``resolve`` turns ``raw["address_id"]`` into the address as the release knows it (e.g.
    ``lambda i: snapshot(index, i, release_id)``); its :class:`ReportValidationError` joins the
    other problems, its :class:`NotFoundError` (no such address) passes through. Every problem is
    collected, so a form can show them all at once; raises :class:`ReportValidationError`.
    """
    now = now or datetime.now(UTC)
    p: list[tuple[str, str]] = []
    address: AddressSnapshot | None = None
    try:
        address = resolve(raw.get("address_id"))
    except ReportValidationError as exc:
        p += exc.problems
    kind = _choice(raw, "kind", KINDS, p)
    if raw.get("kind") in (None, ""):
        p.append(("kind", f"is required: one of {', '.join(KINDS)}"))
    row: dict[str, Any] = {
        "reporter": _choice(raw, "reporter", REPORTERS, p) or "citizen",
        "kind": kind,
        "technology": _choice(raw, "technology", (*FIXED_TECHNOLOGIES, "mobile"), p),
        "operator": check_text(raw, "operator", 60, p),
        "address_problem": _choice(raw, "address_problem", ADDRESS_PROBLEMS, p),
        "claimed_down": _speed(raw, "claimed_down", p),
        "claimed_up": _speed(raw, "claimed_up", p),
        "claimed_text": check_text(raw, "claimed_text", 200, p),
        "speedtest_down": _speed(raw, "speedtest_down", p),
        "speedtest_up": _speed(raw, "speedtest_up", p),
        "speedtest_at": _when(raw, "speedtest_at", now, p),
        "speedtest_device": check_text(raw, "speedtest_device", 100, p),
        "message": check_text(raw, "message", MAX_MESSAGE, p),
        "contact_name": check_text(raw, "contact_name", 100, p),
        "contact_email": check_text(raw, "contact_email", 254, p),
        "contact_phone": check_text(raw, "contact_phone", 30, p),
    }
    speeds = ("claimed_down", "claimed_up")
    if kind == "fixed_speed":
        if row["technology"] in (None, "mobile") and "technology" not in dict(p):
            p.append(
                ("technology", f"is required for a fixed speed: {', '.join(FIXED_TECHNOLOGIES)}")
            )
        if row["claimed_down"] is None and raw.get("claimed_down") in (None, ""):
            p.append(("claimed_down", "is required: the download speed you can actually get"))
    elif kind == "mobile_coverage":
        if row["technology"] not in (None, "mobile"):
            p.append(("technology", "must be empty or 'mobile' for mobile coverage"))
        row["technology"] = "mobile"
        if row["claimed_down"] is None and raw.get("claimed_down") in (None, ""):
            p.append(("claimed_down", "is required: the mobile download you get (0 = no coverage)"))
    elif kind == "address":
        for name in ("technology", *speeds):
            if row[name] is not None:
                p.append((name, "does not apply to a report about the address itself"))
        if row["address_problem"] is None and "address_problem" not in dict(p):
            p.append(("address_problem", f"is required: one of {', '.join(ADDRESS_PROBLEMS)}"))
        if row["address_problem"] == "other" and not row["message"]:
            p.append(("message", "is required when the problem is 'other': describe it"))
    if kind != "address" and row["address_problem"] is not None:
        p.append(("address_problem", "only applies to a report about the address itself"))
    tested = row["speedtest_down"] is not None or row["speedtest_up"] is not None
    if tested and row["speedtest_at"] is None and "speedtest_at" not in dict(p):
        p.append(("speedtest_at", "is required with a speed test result: when was it taken?"))
    if row["speedtest_at"] is not None and not tested:
        p.append(("speedtest_down", "is required with a speed test time: what did it measure?"))
    if row["contact_email"] and not _EMAIL.fullmatch(row["contact_email"]):
        p.append(("contact_email", "is not an e-mail address"))
    if row["contact_phone"] and not _PHONE.fullmatch(row["contact_phone"]):
        p.append(("contact_phone", "is not a phone number"))
    if p:
        raise ReportValidationError(p)
    assert address is not None
    prefix = "mobile" if kind == "mobile_coverage" else row["technology"]
    row |= {
        "listed_down": address.listed.get(f"{prefix}_down") if prefix else None,
        "listed_up": address.listed.get(f"{prefix}_up") if prefix else None,
        "address_id": address.id,
        "address_text": address.text,
        "kommunekode": address.kommunekode,
        "kommunenavn": address.kommunenavn,
        "postnr": address.postnr,
        "east": address.east,
        "north": address.north,
        "release_id": address.release_id,
    }
    return row


def snapshot(index: Any, address_id: Any, release_id: str) -> AddressSnapshot:
    """The address a report names, from a release's :class:`coverage.lookup.AddressIndex`.

    Accepts a register UUID or a mapping-row id (a mapping row that matched no address has no
    position but can still be reported). Raises :class:`ReportValidationError` on a malformed
    ``address_id`` and :class:`NotFoundError` when the release has no such address.
    """
    if not isinstance(address_id, str) or not address_id.strip():
        raise ReportValidationError([("address_id", "is required: the id of the address")])
    try:
        entry = index.by_id(address_id)
    except NotFoundError:
        raise  # well formed, but the release has no such address: a 404, not a form mistake
    except NetkortError as exc:
        raise ReportValidationError([("address_id", str(exc))]) from None
    addr_row, avail_row = int(index.addr_row[entry]), int(index.avail_row[entry])
    row = index.table.iloc[addr_row] if addr_row >= 0 else None
    avail = index.availability.iloc[avail_row] if avail_row >= 0 else None
    listed: dict[str, float | None] = {}
    for tech in (*FIXED_TECHNOLOGIES, "mobile"):
        for way in ("down", "up"):
            value = avail.get(f"{tech}_{way}") if avail is not None else None
            listed[f"{tech}_{way}"] = None if value is None or pd.isna(value) else float(value)
    source = row if row is not None else avail
    _, _, postnr, _ = index.parts(entry)
    east, north = float(index.east[entry]), float(index.north[entry])
    return AddressSnapshot(
        id=str(index.ids[entry]),
        text=index.text(entry),
        kommunekode=_opt(row.get("kommunekode")) if row is not None else None,
        kommunenavn=_opt(source.get("kommunenavn")) if source is not None else None,
        postnr=postnr or None,
        east=None if math.isnan(east) else east,
        north=None if math.isnan(north) else north,
        listed=listed,
        release_id=release_id,
    )


def _opt(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)


__all__ = [
    "ADDRESS_PROBLEMS",
    "KINDS",
    "LOCAL_TZ",
    "MAX_MESSAGE",
    "OPEN_STATUSES",
    "REPORTERS",
    "STATUSES",
    "AddressSnapshot",
    "ReportValidationError",
    "check_text",
    "snapshot",
    "validate_report",
]
