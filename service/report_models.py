"""Request and answer bodies of the report endpoints (:mod:`service.routes.reports`).

Text fields refuse control characters (PostgreSQL refuses NUL, and none belongs in a report);
speeds are bounded by :data:`coverage.types.MAX_SPEED_MBIT`; times are ISO 8601. The library
(:func:`coverage.reports.validate_report`) checks the same fields again for callers that are not
HTTP, so these models only shape the OpenAPI schema and the 422 answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from coverage.reports import Report, ReportFilter
from coverage.types import MAX_SPEED_MBIT

# Text a person types: no control characters (PostgreSQL refuses NUL; none belongs in a report).
_PLAIN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# At least one visible character (a rejection's reason cannot be blank).
_SAID = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_ADDRESS_ID = (
    r"^\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[Mm][Aa][Pp][Pp][Ii][Nn][Gg]:[0-9]{4}:[A-Za-z0-9-]+:[0-9]{1,3}[A-Za-z]?)\s*$"
)
_EMAIL = r"^\s*[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]{2,}\s*$"
_PHONE = r"^\s*\+?[0-9 ()-]{6,30}\s*$"

Text = Annotated[str, Field(pattern=_PLAIN)]
Mbit = Annotated[float, Field(ge=0, le=MAX_SPEED_MBIT, allow_inf_nan=False)]


def _iso_time(value: object) -> object:
    """Only ISO 8601 text is a time here (pydantic would also take 0.5 as seconds since 1970)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value[:4].isdigit() or "-" not in value:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-05-01T18:30:00+02:00")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_time)]


class SpeedTest(BaseModel):
    """A speed test the reporter ran: result, when, on what device."""

    model_config = ConfigDict(extra="forbid")
    down: Mbit = Field(description="Measured download, Mbit/s.")
    up: Mbit | None = Field(None, description="Measured upload, Mbit/s.")
    at: IsoTime = Field(
        description="When it was taken (not in the future); no offset = Danish time."
    )
    device: Annotated[Text, Field(max_length=100)] | None = Field(
        None, description="Device and connection, e.g. 'laptop, cable'."
    )


class Contact(BaseModel):
    """How a planner may reach the reporter; never published or exported."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(max_length=100)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=_EMAIL)] | None = None
    phone: Annotated[str, Field(max_length=30, pattern=_PHONE)] | None = None


class _ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address_id: str = Field(
        max_length=120,
        pattern=_ADDRESS_ID,
        description="Register UUID, or a mapping id (mapping:POSTNR:street:NUMBER) from lookup.",
    )
    reporter: Literal["citizen", "municipality"] = "citizen"
    speedtest: SpeedTest | None = None
    message: Annotated[Text, Field(max_length=2000)] | None = Field(
        None, description="What is wrong, in the reporter's words (at most 2,000 characters)."
    )
    contact: Contact | None = None


class FixedSpeedReport(_ReportIn):
    """A fixed technology's offered speed is wrong at the address."""

    kind: Literal["fixed_speed"]
    technology: Literal["fiber", "coax", "xdsl", "fwa"]
    claimed_down: Mbit = Field(description="The download speed actually available, Mbit/s.")
    claimed_up: Mbit | None = Field(None, description="The upload actually available, Mbit/s.")


class MobileReport(_ReportIn):
    """Mobile coverage is wrong at the address (0 = no coverage)."""

    kind: Literal["mobile_coverage"]
    operator: Annotated[Text, Field(max_length=60)] | None = None
    claimed_down: Mbit = Field(description="Mobile download actually available, Mbit/s.")
    claimed_up: Mbit | None = None


class AddressReport(_ReportIn):
    """The address itself is wrong: missing, misplaced, misspelt, or not in the mapping."""

    kind: Literal["address"]
    address_problem: Literal[
        "does_not_exist", "wrong_position", "wrong_text", "missing_from_mapping", "other"
    ]
    claimed_text: Annotated[Text, Field(max_length=200)] | None = Field(
        None, description="The address as it should be."
    )


ReportIn = Annotated[FixedSpeedReport | MobileReport | AddressReport, Field(discriminator="kind")]


class ReportedAddress(BaseModel):
    """The reported address as the release knew it."""

    id: str
    text: str | None


class Receipt(BaseModel):
    """What the reporter gets back: the report's id and state (no contact details)."""

    id: str
    status: str
    kind: str
    created_at: datetime
    address: ReportedAddress
    message_da: str
    message_en: str


class ReportEvent(BaseModel):
    """One status change."""

    at: datetime
    status_from: str | None
    status_to: str
    reason: str | None
    actor: str | None


class ReportList(BaseModel):
    """A page of reports, newest first (planners only: contact details included)."""

    total: int
    limit: int
    offset: int
    items: list[Report]


class ReportDetail(BaseModel):
    """One report with its status history (planners only)."""

    report: Report
    history: list[ReportEvent]


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: Annotated[Text, Field(max_length=60)] | None = Field(
        None, description="Who decided (shown in the history)."
    )


class Review(_Decision):
    """Back to new, under review, or accepted; a reason is optional."""

    status: Literal["new", "under_review", "accepted"]
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class Rejection(_Decision):
    """Rejected: the reason is required (the reporter may be told it)."""

    status: Literal["rejected"]
    reason: Annotated[str, Field(max_length=2000, pattern=_SAID)]


StatusChange = Annotated[Review | Rejection, Field(discriminator="status")]


class ReportSummary(BaseModel):
    """Reports on an address, shown in the lookup answer (counts only, nothing personal)."""

    under_review: bool = Field(description="True while a report is new or under review.")
    open: int
    accepted: int
    rejected: int
    label: dict[str, str] | None = Field(description="'Reported, under review' in da and en.")


@dataclass
class ReportQuery:
    """Filters of the planner list and export."""

    status: Annotated[
        list[Literal["new", "under_review", "accepted", "rejected"]] | None,
        Query(description="Only these statuses; repeat for several."),
    ] = None
    kind: Annotated[
        list[Literal["fixed_speed", "mobile_coverage", "address"]] | None,
        Query(description="Only these kinds."),
    ] = None
    municipality: Annotated[
        list[Annotated[str, Field(pattern=r"^\d{4}$")]] | None,
        Query(description="Municipality codes, e.g. 0741."),
    ] = None
    address_id: Annotated[str | None, Query(max_length=120)] = None
    since: Annotated[IsoTime | None, Query(description="Created at or after.")] = None
    until: Annotated[IsoTime | None, Query(description="Created before.")] = None

    def filter(self, limit: int | None = None, offset: int = 0) -> ReportFilter:
        """As the library's filter."""
        return ReportFilter(
            status=tuple(self.status or ()),
            kind=tuple(self.kind or ()),
            kommunekode=tuple(self.municipality or ()),
            address_id=self.address_id,
            since=self.since,
            until=self.until,
            limit=limit,
            offset=offset,
        )
