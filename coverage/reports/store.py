"""Reports in SQLite or PostgreSQL through SQLAlchemy Core, with versioned schema migrations.

SQLite is the embedded default (``NETKORT_HOME/reports.sqlite``) in WAL mode with
``synchronous=FULL``: a committed report survives a crash of the process or the machine. PostgreSQL is
used when ``NETKORT_DATABASE_URL`` is set (psycopg 3). :data:`MIGRATIONS` is an ordered list of
functions, each recorded in ``schema_migrations`` once applied, all run in one transaction under a
lock, so two processes starting together cannot both apply one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from coverage.errors import ConfigError, NetkortError, NotFoundError
from coverage.reports.validate import (
    KINDS,
    LOCAL_TZ,
    MAX_MESSAGE,
    OPEN_STATUSES,
    STATUSES,
    ReportValidationError,
    check_text,
)

log = logging.getLogger(__name__)

SQLITE_FILE = "reports.sqlite"
"""The SQLite database's file name inside ``NETKORT_HOME``."""
_PG_LOCK_KEY = 0x6E6B7270  # "nkrp": serialises migrations across processes on PostgreSQL


class ReportStoreError(NetkortError):
    """The report database cannot be reached or written (disk full, server down, newer schema).

    The message is generic on purpose: a driver's message may quote SQL and the values in it.
    """


@dataclass(frozen=True)
class Report:
    """One stored report. Contact fields are for planners only (see :meth:`public`)."""

    id: str
    created_at: datetime
    updated_at: datetime
    status: str
    status_reason: str | None
    reporter: str
    kind: str
    technology: str | None
    operator: str | None
    address_problem: str | None
    claimed_down: float | None
    claimed_up: float | None
    claimed_text: str | None
    listed_down: float | None
    listed_up: float | None
    speedtest_down: float | None
    speedtest_up: float | None
    speedtest_at: datetime | None
    speedtest_device: str | None
    message: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    address_id: str
    address_text: str | None
    kommunekode: str | None
    kommunenavn: str | None
    postnr: str | None
    east: float | None
    north: float | None
    release_id: str | None

    CONTACT = ("contact_name", "contact_email", "contact_phone")

    def public(self) -> dict[str, Any]:
        """The report as plain values without contact details (for exports and public answers)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.CONTACT}

    def full(self) -> dict[str, Any]:
        """Every field, contact details included (for authenticated planners only)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# -- schema and migrations -----------------------------------------------------------------------
#
# Each migration builds the tables it creates from its own definition, frozen at that version: the
# tables the store queries (``reports_table``, ``events_table``) are the schema as it is now. A later
# change is a new migration (e.g. ``ALTER TABLE``) plus an edit of the current definition; the old
# migrations keep creating exactly what they always created.


def _reports_v1(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "reports",
        meta,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("reporter", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("technology", sa.String(10)),
        sa.Column("operator", sa.String(60)),
        sa.Column("address_problem", sa.String(30)),
        *(sa.Column(n, sa.Float) for n in ("claimed_down", "claimed_up")),
        sa.Column("claimed_text", sa.String(200)),
        *(sa.Column(n, sa.Float) for n in ("listed_down", "listed_up")),
        *(sa.Column(n, sa.Float) for n in ("speedtest_down", "speedtest_up")),
        sa.Column("speedtest_at", sa.DateTime(timezone=True)),
        sa.Column("speedtest_device", sa.String(100)),
        sa.Column("message", sa.Text),
        sa.Column("contact_name", sa.String(100)),
        sa.Column("contact_email", sa.String(254)),
        sa.Column("contact_phone", sa.String(30)),
        sa.Column("address_id", sa.String(120), nullable=False),
        sa.Column("address_text", sa.String(300)),
        sa.Column("kommunekode", sa.String(4)),
        sa.Column("kommunenavn", sa.String(60)),
        sa.Column("postnr", sa.String(4)),
        sa.Column("east", sa.Float),
        sa.Column("north", sa.Float),
        sa.Column("release_id", sa.String(80)),
        sa.Index("reports_address", "address_id", "status"),
        sa.Index("reports_status_created", "status", "created_at"),
        sa.Index("reports_kommune", "kommunekode"),
    )


def _events_v2(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "report_events",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_from", sa.String(20)),
        sa.Column("status_to", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(60)),
        sa.Index("report_events_report", "report_id", "at"),
    )


_meta = sa.MetaData()
_migrations = sa.Table(
    "schema_migrations",
    _meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)
reports_table = _reports_v1(_meta)
"""The ``reports`` table as the store reads and writes it now."""
events_table = _events_v2(_meta)
"""The ``report_events`` table (status history) as the store reads and writes it now."""


def _m1_reports(conn: Connection) -> None:
    _reports_v1(sa.MetaData()).create(conn)


def _m2_events(conn: Connection) -> None:
    meta = sa.MetaData()
    reports, events = _reports_v1(meta), _events_v2(meta)
    events.create(conn)
    # Reports stored before the history existed get their creation as the first event.
    conn.execute(
        events.insert().from_select(
            ["report_id", "at", "status_to"],
            sa.select(reports.c.id, reports.c.created_at, sa.literal("new")),
        )
    )


#: Ordered schema migrations: (version, name, function). Append; never edit an applied one.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "reports", _m1_reports),
    (2, "report status history", _m2_events),
]


# -- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    """Which reports to list or export; empty tuples mean "any"."""

    status: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    kommunekode: tuple[str, ...] = ()
    address_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = 100
    offset: int = 0

    def checked(self) -> ReportFilter:
        """The filter with its values checked; raises :class:`ReportValidationError`."""
        p: list[tuple[str, str]] = []
        for name, allowed in (("status", STATUSES), ("kind", KINDS)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                p.append((name, f"{bad[0][:40]!r} is not one of {', '.join(allowed)}"))
        if any(not (len(k) == 4 and k.isdigit()) for k in self.kommunekode):
            p.append(("kommunekode", "municipality codes have 4 digits, e.g. 0741"))
        if self.limit is not None and not 1 <= self.limit <= 1000:
            p.append(("limit", "must be between 1 and 1000"))
        if self.offset < 0:
            p.append(("offset", "must not be negative"))
        if p:
            raise ReportValidationError(p)
        return replace(
            self,
            since=_aware(self.since) if self.since else None,
            until=_aware(self.until) if self.until else None,
        )


def _aware(value: datetime) -> datetime:
    return (value.replace(tzinfo=LOCAL_TZ) if value.tzinfo is None else value).astimezone(UTC)


def database_url(home: Path, url: str | None = None) -> str:
    """The SQLAlchemy URL: ``url`` when set (``postgresql://`` runs on psycopg 3), else SQLite in
    ``home``. Raises :class:`ConfigError` for any other kind of database."""
    if not url:
        return f"sqlite+pysqlite:///{Path(home) / SQLITE_FILE}"
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if scheme.startswith("sqlite"):
        return url
    raise ConfigError(
        f"NETKORT_DATABASE_URL: {scheme!r} is not supported; use postgresql://user@host:port/db "
        "or leave it unset for SQLite in NETKORT_HOME"
    )


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(
        url, hide_parameters=True, connect_args={"timeout": 30, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own would be deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so an acknowledged report survives power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the lock up front: a deferred transaction that later upgrades to a write
        # fails with "database is locked" instead of waiting for the busy timeout.
        write = conn.get_execution_options().get("netkort_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class ReportStore:
    """Reports in SQLite or PostgreSQL. Thread-safe: each call takes a pooled connection."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def open(cls, home: Path, url: str | None = None, *, migrate: bool = True) -> ReportStore:
        """Open (and by default migrate) the store at ``url``, or SQLite in ``home``."""
        target = database_url(home, url)
        if target.startswith("sqlite"):
            Path(home).mkdir(parents=True, exist_ok=True)
            engine = _sqlite_engine(target)
        else:
            engine = sa.create_engine(
                target,
                hide_parameters=True,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10},
            )
        store = cls(engine)
        if migrate:
            try:
                store.migrate()
            except BaseException:
                engine.dispose()
                raise
        return store

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(netkort_write=write)
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as exc:
            log.error("report store (%s) failed: %s", self.backend, exc)
            raise ReportStoreError(
                "the report store cannot be used right now (database unreachable or disk full); "
                "nothing was changed, try again later"
            ) from exc

    def migrate(self) -> int:
        """Apply the migrations not yet applied, in order, under a lock; return the version."""
        with self._tx(write=True) as conn:
            if self.backend == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            _migrations.create(conn, checkfirst=True)
            applied = set(conn.execute(sa.select(_migrations.c.version)).scalars())
            for version, name, migration in MIGRATIONS:
                if version not in applied:
                    migration(conn)
                    conn.execute(
                        _migrations.insert().values(
                            version=version, name=name, applied_at=self.clock()
                        )
                    )
                    log.info("report store: applied migration %d (%s)", version, name)
        newer = max(applied, default=0)
        if newer > MIGRATIONS[-1][0]:
            raise ReportStoreError(
                f"the report database has schema version {newer}, newer than this netkort knows "
                f"({MIGRATIONS[-1][0]}): upgrade netkort"
            )
        return max(newer, MIGRATIONS[-1][0])

    def version(self) -> int:
        """The schema version the database is at (0: not migrated)."""
        with self._tx() as conn:
            if not sa.inspect(conn).has_table("schema_migrations"):
                return 0
            return int(conn.execute(sa.select(sa.func.max(_migrations.c.version))).scalar() or 0)

    # -- writing ------------------------------------------------------------------------------

    def add(self, row: Mapping[str, Any]) -> Report:
        """Store a validated report (:func:`validate_report`) as ``new``; committed on return."""
        now = self.clock()
        values = {**row, "id": str(uuid.uuid4()), "created_at": now, "updated_at": now}
        values |= {"status": "new", "status_reason": None}
        with self._tx(write=True) as conn:
            conn.execute(reports_table.insert().values(values))
            conn.execute(
                events_table.insert().values(report_id=values["id"], at=now, status_to="new")
            )
        return self._report(values)

    def set_status(
        self, report_id: str, status: str, reason: str | None = None, actor: str | None = None
    ) -> Report:
        """Move a report to ``status``; a rejection needs a ``reason``. Recorded in the history."""
        p: list[tuple[str, str]] = []
        raw = {"reason": reason, "actor": actor}
        reason, actor = check_text(raw, "reason", MAX_MESSAGE, p), check_text(raw, "actor", 60, p)
        if status not in STATUSES:
            p.append(("status", f"{str(status)[:40]!r} is not one of {', '.join(STATUSES)}"))
        elif status == "rejected" and not reason:
            p.append(("reason", "is required to reject a report: say why, the reporter sees it"))
        if p:
            raise ReportValidationError(p)
        now = self.clock()
        with self._tx(write=True) as conn:
            old = conn.execute(
                sa.select(reports_table.c.status).where(reports_table.c.id == report_id)
            ).scalar()
            if old is None:
                raise NotFoundError(f"no report with id {report_id[:40]!r}")
            conn.execute(
                reports_table.update()
                .where(reports_table.c.id == report_id)
                .values(status=status, status_reason=reason, updated_at=now)
            )
            conn.execute(
                events_table.insert().values(
                    report_id=report_id, at=now, status_from=old, status_to=status,
                    reason=reason, actor=actor,
                )
            )  # fmt: skip
        return self.get(report_id)

    # -- reading ------------------------------------------------------------------------------

    def get(self, report_id: str) -> Report:
        """One report by id; :class:`NotFoundError` when there is none."""
        with self._tx() as conn:
            row = (
                conn.execute(sa.select(reports_table).where(reports_table.c.id == report_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(f"no report with id {report_id[:40]!r}")
        return self._report(row)

    def history(self, report_id: str) -> list[dict[str, Any]]:
        """The status changes of a report, oldest first."""
        self.get(report_id)
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(events_table)
                .where(events_table.c.report_id == report_id)
                .order_by(events_table.c.at, events_table.c.id)
            ).mappings()
            return [{**r, "at": _utc(r["at"])} for r in rows]

    def _where(self, f: ReportFilter) -> list[Any]:
        c = reports_table.c
        conds: list[Any] = []
        if f.status:
            conds.append(c.status.in_(f.status))
        if f.kind:
            conds.append(c.kind.in_(f.kind))
        if f.kommunekode:
            conds.append(c.kommunekode.in_(f.kommunekode))
        if f.address_id:
            conds.append(c.address_id == f.address_id.strip().lower())
        if f.since:
            conds.append(c.created_at >= f.since)
        if f.until:
            conds.append(c.created_at < f.until)
        return conds

    def list(self, filter: ReportFilter | None = None) -> tuple[list[Report], int]:
        """Reports matching ``filter``, newest first, and how many match in all."""
        f = (filter or ReportFilter()).checked()
        conds = self._where(f)
        query = (
            sa.select(reports_table)
            .where(*conds)
            .order_by(reports_table.c.created_at.desc(), reports_table.c.id)
            .offset(f.offset)
        )
        if f.limit is not None:
            query = query.limit(f.limit)
        with self._tx() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(reports_table).where(*conds)
            ).scalar_one()
            rows = conn.execute(query).mappings().all()
        return [self._report(r) for r in rows], int(total)

    def count(self, status: str | None = None) -> int:
        """How many reports are stored (with ``status``, when given)."""
        return self.list(ReportFilter(status=(status,) if status else (), limit=1))[1]

    def summary(self, address_id: str) -> dict[str, int]:
        """Reports on one address by status (only statuses that occur), for the lookup answer."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(reports_table.c.status, sa.func.count())
                .where(reports_table.c.address_id == address_id)
                .group_by(reports_table.c.status)
            ).all()
        return {str(s): int(n) for s, n in rows}

    @staticmethod
    def _report(row: Mapping[str, Any] | sa.RowMapping) -> Report:
        values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(Report)}
        for name in ("created_at", "updated_at", "speedtest_at"):
            values[name] = _utc(values[name])
        return Report(**values)


def lookup_summary(counts: Mapping[str, int]) -> dict[str, Any] | None:
    """What a lookup answer says about reports on an address (None when there are none)."""
    if not counts:
        return None
    open_ = sum(counts.get(s, 0) for s in OPEN_STATUSES)
    return {
        "under_review": open_ > 0,
        "open": open_,
        "accepted": counts.get("accepted", 0),
        "rejected": counts.get("rejected", 0),
        "label": {"da": "Rapporteret, under behandling", "en": "Reported, under review"}
        if open_
        else None,
    }


def reports_for_lookup(home: Path, url: str | None, address_id: str) -> dict[str, Any] | None:
    """The report summary for one address, read without creating a database that does not exist.

    Used by ``netkort lookup`` so the command prints the same answer as ``GET /api/lookup``.
    """
    if not url and not (Path(home) / SQLITE_FILE).exists():
        return None
    store = ReportStore.open(home, url, migrate=False)
    try:
        return lookup_summary(store.summary(address_id))
    except NetkortError:
        return None
    finally:
        store.close()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = [
    "MIGRATIONS",
    "SQLITE_FILE",
    "Report",
    "ReportFilter",
    "ReportStore",
    "ReportStoreError",
    "database_url",
    "lookup_summary",
    "reports_for_lookup",
]
