"""Corrections from citizens and municipalities: validated, stored durably, reviewed and exported.

A report says what is wrong at one address of a release: a fixed technology's speed, mobile coverage,
or the address itself, with the value the reporter claims, an optional speed test (result, time,
device), optional contact details and up to 2,000 characters of text. Planners move it through
``new → under_review → accepted | rejected`` (a rejection needs a reason); every change is kept in
``report_events``.

* :mod:`coverage.reports.validate`: the rules a report must meet (:func:`validate_report`) and the
  address as the release knew it (:func:`snapshot`).
* :mod:`coverage.reports.store`: :class:`ReportStore`, SQLAlchemy Core over SQLite (the embedded
  default, ``NETKORT_HOME/reports.sqlite``, WAL with ``synchronous=FULL``) or PostgreSQL
  (``NETKORT_DATABASE_URL``, psycopg 3), with versioned schema migrations.
* :mod:`coverage.reports.export`: CSV and GeoPackage for the operators, without contact details.
"""

from coverage.reports.export import export_reports, reports_frame
from coverage.reports.store import (
    MIGRATIONS,
    Report,
    ReportFilter,
    ReportStore,
    ReportStoreError,
    database_url,
    lookup_summary,
    reports_for_lookup,
)
from coverage.reports.validate import (
    ADDRESS_PROBLEMS,
    KINDS,
    MAX_MESSAGE,
    OPEN_STATUSES,
    REPORTERS,
    STATUSES,
    AddressSnapshot,
    ReportValidationError,
    snapshot,
    validate_report,
)

__all__ = [
    "ADDRESS_PROBLEMS",
    "KINDS",
    "MAX_MESSAGE",
    "MIGRATIONS",
    "OPEN_STATUSES",
    "REPORTERS",
    "STATUSES",
    "AddressSnapshot",
    "Report",
    "ReportFilter",
    "ReportStore",
    "ReportStoreError",
    "ReportValidationError",
    "database_url",
    "export_reports",
    "lookup_summary",
    "reports_for_lookup",
    "reports_frame",
    "snapshot",
    "validate_report",
]
