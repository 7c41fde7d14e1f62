"""Reports: validation, the store on SQLite and PostgreSQL alike, migrations, the HTTP endpoints,
the lookup's "reported, under review", exports without contact details, and the form page.

The PostgreSQL cases use ``NETKORT_TEST_DATABASE_URL`` (``.ci/run`` starts a private cluster with
``scripts/pg-test-cluster.sh``) and are skipped only when it is unset. Each test gets its own schema.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyogrio
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from coverage.errors import ConfigError, NotFoundError
from coverage.lookup import AddressIndex
from coverage.reports import (
    MIGRATIONS,
    AddressSnapshot,
    ReportFilter,
    ReportStore,
    ReportStoreError,
    ReportValidationError,
    database_url,
    export_reports,
    snapshot,
    validate_report,
)
from coverage.reports.store import SQLITE_FILE
from service.errors import ErrorBody
from service.main import create_app
from service.settings import ServiceSettings

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"
BRYGGERBAKKEN_5 = "mapping:8305:bryggerbakken:5"
TOKEN = "s3cret-planner-token"
PG_URL = os.environ.get("NETKORT_TEST_DATABASE_URL")
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SNAP = AddressSnapshot(
    id=STRANDVEJEN_52,
    text="Strandvejen 52, 8305 Samsø",
    kommunekode="0741",
    kommunenavn="Samsø",
    postnr="8305",
    east=602551.91,
    north=6186812.07,
    listed={"xdsl_down": 30.0, "xdsl_up": None, "mobile_down": 150.0, "mobile_up": 20.0},
    release_id="r1",
)
LOOSE = AddressSnapshot(BRYGGERBAKKEN_5, "Bryggerbakken 5, 8305 Samsø", None, "Samsø", "8305",
                        None, None, {"fiber_down": 1000.0}, "r1")  # fmt: skip


def _resolve(address_id):
    known = {SNAP.id: SNAP, LOOSE.id: LOOSE}
    if address_id not in known:
        raise ReportValidationError([("address_id", f"no address with id {address_id}")])
    return known[address_id]


def fixed(**extra):
    return {"address_id": STRANDVEJEN_52, "kind": "fixed_speed", "technology": "xdsl",
            "claimed_down": 8, "claimed_up": 1, **extra}  # fmt: skip


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL per backend: SQLite in a temp folder, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None  # the store's default: NETKORT_HOME/reports.sqlite
        return
    if not PG_URL:
        pytest.skip("NETKORT_TEST_DATABASE_URL is not set (scripts/pg-test-cluster.sh start)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url(tmp_path, PG_URL))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def store(db_url, tmp_path):
    s = ReportStore.open(tmp_path / "home", db_url)
    yield s
    s.close()


# -- validation -----------------------------------------------------------------------------------

FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    "raw, field, needle",
    [
        ({**fixed(), "address_id": "nope"}, "address_id", "no address with id nope"),
        ({**fixed(), "kind": "speed"}, "kind", "not one of fixed_speed, mobile_coverage, address"),
        ({k: v for k, v in fixed().items() if k != "kind"}, "kind", "is required"),
        (fixed(technology=None), "technology", "is required for a fixed speed"),
        (fixed(technology="5g"), "technology", "not one of"),
        (fixed(claimed_down=None), "claimed_down", "is required"),
        (fixed(claimed_down=-1), "claimed_down", "between 0 and 10000"),
        (fixed(claimed_down=10_001), "claimed_down", "between 0 and 10000"),
        (fixed(claimed_down=float("nan")), "claimed_down", "between 0 and 10000"),
        (fixed(claimed_up="fast"), "claimed_up", "not a number"),
        (fixed(speedtest_down=5), "speedtest_at", "is required with a speed test result"),
        (fixed(speedtest_at="2026-01-01T10:00"), "speedtest_down", "is required with a speed test time"),
        (fixed(speedtest_down=5, speedtest_at=FUTURE), "speedtest_at", "is in the future"),
        (fixed(speedtest_down=5, speedtest_at="1999-12-31T23:00:00+00:00"), "speedtest_at", "before the year 2000"),
        (fixed(speedtest_down=5, speedtest_at="yesterday"), "speedtest_at", "must be a date and time"),
        (fixed(message="x" * 2001), "message", "has 2001 characters, at most 2000"),
        (fixed(message="null\x00byte"), "message", "control characters"),
        (fixed(message="half \ud800 surrogate"), "message", "not valid Unicode"),
        (fixed(contact_email="not-an-address"), "contact_email", "not an e-mail address"),
        (fixed(contact_phone="call me"), "contact_phone", "not a phone number"),
        (fixed(address_problem="other"), "address_problem", "only applies to a report about the address"),
        ({"address_id": STRANDVEJEN_52, "kind": "address"}, "address_problem", "is required"),
        ({"address_id": STRANDVEJEN_52, "kind": "address", "address_problem": "other"}, "message", "describe it"),
        ({"address_id": STRANDVEJEN_52, "kind": "address", "address_problem": "wrong_text", "claimed_down": 3},
         "claimed_down", "does not apply"),
        ({"address_id": STRANDVEJEN_52, "kind": "mobile_coverage", "technology": "fiber", "claimed_down": 3},
         "technology", "must be empty or 'mobile'"),
    ],
)  # fmt: skip
def test_validation_names_the_field_and_the_rule(raw, field, needle):
    with pytest.raises(ReportValidationError) as info:
        validate_report(raw, _resolve)
    problems = dict(info.value.problems)
    assert field in problems, info.value.problems
    assert needle in problems[field]
    assert f"{field}: " in str(info.value)


def test_validation_collects_every_problem_at_once():
    raw = {"address_id": "x", "kind": "fixed_speed", "claimed_down": 1e9, "message": "\x07"}
    with pytest.raises(ReportValidationError) as info:
        validate_report(raw, _resolve)
    assert {f for f, _ in info.value.problems} == {
        "address_id",
        "technology",
        "claimed_down",
        "message",
    }


def test_valid_reports_carry_the_release_values_and_danish_time():
    row = validate_report(
        fixed(
            claimed_down="7,5",
            speedtest_down=6.9,
            speedtest_at="2026-06-01T18:30",
            message="  Langsomt  ",
        ),
        _resolve,
    )
    assert row["claimed_down"] == 7.5  # a Danish decimal comma is a decimal
    assert (row["listed_down"], row["listed_up"]) == (30.0, None)  # the xdsl offer in the release
    assert row["speedtest_at"] == datetime(2026, 6, 1, 16, 30, tzinfo=UTC)  # CEST → UTC
    assert row["message"] == "Langsomt" and row["reporter"] == "citizen"
    assert row["kommunekode"] == "0741" and row["release_id"] == "r1"
    mobile = validate_report(
        {"address_id": STRANDVEJEN_52, "kind": "mobile_coverage", "claimed_down": 0}, _resolve
    )
    assert mobile["technology"] == "mobile" and mobile["listed_down"] == 150.0
    loose = validate_report(
        {**fixed(), "address_id": BRYGGERBAKKEN_5, "technology": "fiber"}, _resolve
    )
    assert loose["east"] is None and loose["listed_down"] == 1000.0


def test_snapshot_from_the_bundle_release(bundle_release):
    index = AddressIndex.from_release(bundle_release)
    snap = snapshot(index, STRANDVEJEN_52.upper(), bundle_release.id)
    assert snap.text == "Strandvejen 52, 8305 Samsø" and snap.kommunekode == "0741"
    assert snap.listed["xdsl_down"] == 30.0 and snap.east is not None
    loose = snapshot(index, "Mapping:8305:Bryggerbakken:5", bundle_release.id)
    assert (
        loose.id == BRYGGERBAKKEN_5 and loose.east is None and loose.listed["fiber_down"] == 1000.0
    )
    with pytest.raises(ReportValidationError, match="is not an address id"):
        snapshot(index, "../../etc/passwd", bundle_release.id)
    with pytest.raises(NotFoundError, match="no address with id"):  # well formed, not there: 404
        snapshot(index, str(uuid.uuid4()), bundle_release.id)


def test_database_url():
    home = Path("/srv/netkort")
    assert database_url(home) == f"sqlite+pysqlite:///{home / SQLITE_FILE}"
    assert database_url(home, "postgresql://u@h:5/db").startswith("postgresql+psycopg://u@h:5/db")
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        database_url(home, "mysql://u@h/db")


# -- the store, on both backends ------------------------------------------------------------------


def test_store_round_trip_review_and_history(store):
    row = validate_report(
        fixed(message="Kun 8 Mbit/s på Ærøvej", contact_email="borger@example.dk"), _resolve
    )
    report = store.add(row)
    assert report.status == "new" and report.created_at.tzinfo is not None
    again = store.get(report.id)
    assert again == report and again.message == "Kun 8 Mbit/s på Ærøvej"
    assert (
        "contact_email" not in again.public()
        and again.full()["contact_email"] == "borger@example.dk"
    )

    store.set_status(report.id, "under_review", actor="planner")
    with pytest.raises(ReportValidationError, match="reason: is required to reject"):
        store.set_status(report.id, "rejected")
    with pytest.raises(ReportValidationError, match="status: 'done' is not one of"):
        store.set_status(report.id, "done")
    done = store.set_status(report.id, "rejected", "Operatøren har målt 30 Mbit/s", "Anna")
    assert done.status == "rejected" and done.status_reason.startswith("Operatøren")
    steps = [(e["status_from"], e["status_to"], e["actor"]) for e in store.history(report.id)]
    assert steps == [
        (None, "new", None),
        ("new", "under_review", "planner"),
        ("under_review", "rejected", "Anna"),
    ]
    with pytest.raises(NotFoundError):
        store.get(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        store.set_status("no-such-report", "accepted")


def test_store_lists_filters_counts_and_summaries(store):
    mobile = {"address_id": STRANDVEJEN_52, "kind": "mobile_coverage", "claimed_down": 2}
    ids = [
        store.add(validate_report(r, _resolve)).id
        for r in (fixed(), mobile, fixed(address_id=BRYGGERBAKKEN_5, technology="fiber"))
    ]
    store.set_status(ids[0], "accepted")
    items, total = store.list()
    assert total == 3 and [r.id for r in items] == ids[::-1]  # newest first
    assert store.list(ReportFilter(status=("accepted",)))[1] == 1
    assert store.list(ReportFilter(kind=("mobile_coverage",)))[0][0].id == ids[1]
    assert store.list(ReportFilter(kommunekode=("0741",)))[1] == 2  # the mapping row has no code
    assert store.list(ReportFilter(address_id=BRYGGERBAKKEN_5.upper()))[1] == 1
    page, total = store.list(ReportFilter(limit=1, offset=1))
    assert total == 3 and [r.id for r in page] == [ids[1]]
    assert store.list(ReportFilter(since=datetime.now(UTC) + timedelta(hours=1)))[1] == 0
    assert store.count() == 3 and store.count("new") == 2
    assert store.summary(STRANDVEJEN_52) == {"accepted": 1, "new": 1}
    assert store.summary("nobody") == {}
    with pytest.raises(ReportValidationError, match="status: 'open' is not one of"):
        store.list(ReportFilter(status=("open",)))
    with pytest.raises(ReportValidationError, match="kommunekode"):
        store.list(ReportFilter(kommunekode=("741'; DROP TABLE reports; --",)))


def test_concurrent_writers_lose_nothing(store):
    def post(n):
        for _ in range(n):
            store.add(validate_report(fixed(), _resolve))

    threads = [threading.Thread(target=post, args=(15,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 90
    assert len({r.id for r in store.list(ReportFilter(limit=1000))[0]}) == 90


def test_migrations_are_versioned_idempotent_and_upgrade_old_data(db_url, tmp_path):
    home = tmp_path / "home"
    old = ReportStore.open(home, db_url, migrate=False)
    assert old.version() == 0
    # A database made by an older netkort: only migration 1 applied, one report in it.
    original = list(MIGRATIONS)
    MIGRATIONS[:] = original[:1]
    try:
        assert old.migrate() == 1
    finally:
        MIGRATIONS[:] = original
    now = datetime.now(UTC)
    from coverage.reports.store import reports_table

    row = {**validate_report(fixed(), _resolve), "id": "old-1", "created_at": now, "updated_at": now,
           "status": "new", "status_reason": None}  # fmt: skip
    with old.engine.begin() as conn:
        conn.execute(reports_table.insert().values(row))
    assert old.migrate() == 2 and old.version() == 2  # the history table appears, backfilled
    assert [e["status_to"] for e in old.history("old-1")] == ["new"]
    assert old.migrate() == 2  # nothing left to do
    with old.engine.begin() as conn:
        versions = conn.exec_driver_sql(
            "SELECT version FROM schema_migrations ORDER BY 1"
        ).scalars()
        assert list(versions) == [1, 2]
        conn.exec_driver_sql(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', CURRENT_TIMESTAMP)"
        )
    with pytest.raises(ReportStoreError, match="schema version 99, newer than this netkort"):
        old.migrate()
    old.close()


def test_sqlite_is_wal_with_full_sync(tmp_path):
    store = ReportStore.open(tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.add(validate_report(fixed(), _resolve))
    store.close()
    # Committed means on disk: a plain sqlite3 connection (another process, say) sees it.
    with sqlite3.connect(tmp_path / SQLITE_FILE) as raw:
        assert raw.execute("SELECT count(*) FROM reports").fetchone() == (1,)


def test_a_database_that_cannot_be_written_is_a_clear_error(tmp_path):
    store = ReportStore.open(tmp_path)
    with store.engine.begin() as conn:  # simulate a broken database: the table is gone
        conn.exec_driver_sql("DROP TABLE report_events")
    with pytest.raises(ReportStoreError, match="nothing was changed") as info:
        store.add(validate_report(fixed(contact_email="secret@example.dk"), _resolve))
    assert "secret@example.dk" not in str(info.value) and "INSERT" not in str(info.value)
    assert store.count() == 0  # the report row was rolled back with the failed history row
    store.close()


def test_export_has_no_contact_details(store, tmp_path):
    store.add(validate_report(fixed(contact_name="Hemmelig Person", contact_email="hemmelig@example.dk",
                                    contact_phone="+45 12 34 56 78", message="Æble"), _resolve))  # fmt: skip
    store.add(validate_report(fixed(address_id=BRYGGERBAKKEN_5, technology="fiber"), _resolve))
    gpkg = export_reports(store, "gpkg", tmp_path / "out" / "reports.gpkg")[0]
    frame = pyogrio.read_dataframe(gpkg, layer="reports")
    assert len(frame) == 2 and frame.crs.to_epsg() == 25832
    assert not any(c.startswith("contact") for c in frame.columns)
    positioned = frame[frame["address_id"] == STRANDVEJEN_52].iloc[0]
    assert positioned.geometry.x == pytest.approx(602551.91) and positioned["message"] == "Æble"
    assert frame[frame["address_id"] == BRYGGERBAKKEN_5].geometry.iloc[0] is None
    files = export_reports(
        store, "csv", tmp_path / "out" / "reports.csv", ReportFilter(kind=("fixed_speed",))
    )
    text = files[0].read_text(encoding="utf-8-sig")
    assert "hemmelig" not in text.lower() and "12 34" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["address_id"] for r in rows} == {STRANDVEJEN_52, BRYGGERBAKKEN_5}
    with pytest.raises(ReportValidationError.__mro__[1], match="csv or gpkg"):
        export_reports(store, "shp", tmp_path / "x.shp")


# -- the HTTP service -----------------------------------------------------------------------------


@pytest.fixture
def app_settings(bundle_settings, bundle_release, db_url, tmp_path):
    url = db_url or f"sqlite+pysqlite:///{tmp_path / SQLITE_FILE}"
    return ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600,
        database_url=url, admin_token=TOKEN, report_rate="1000/minute",
    )  # fmt: skip


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings)) as c:
        yield c


def error(response, status):
    assert response.status_code == status, response.text
    return ErrorBody.model_validate(response.json())


REPORT = {
    "address_id": STRANDVEJEN_52, "kind": "fixed_speed", "technology": "xdsl", "claimed_down": 8,
    "speedtest": {"down": 7.4, "up": 0.9, "at": "2026-05-01T18:30:00+02:00", "device": "laptop, kabel"},
    "message": "Kun 8 Mbit/s, ikke 30.",
    "contact": {"name": "Test Borger", "email": "borger@example.dk", "phone": "+45 11 22 33 44"},
}  # fmt: skip


def test_post_review_and_lookup_show_the_report(client):
    before = client.get("/api/lookup", params={"id": STRANDVEJEN_52}).json()
    assert before["reports"] is None

    posted = client.post("/api/reports", json=REPORT)
    assert posted.status_code == 201, posted.text
    receipt = posted.json()
    assert posted.headers["location"] == f"/api/reports/{receipt['id']}"
    assert receipt["address"] == {"id": STRANDVEJEN_52, "text": "Strandvejen 52, 8305 Samsø"}
    assert "borger@example.dk" not in posted.text and "Test Borger" not in posted.text

    lookup = client.get("/api/lookup", params={"q": "Strandvejen 52, 8305 Samsø"})
    reports = lookup.json()["reports"]
    assert reports["under_review"] is True and reports["open"] == 1
    assert reports["label"]["en"] == "Reported, under review"
    assert "borger@example.dk" not in lookup.text

    listing = client.get("/api/reports", headers=AUTH, params={"status": "new"}).json()
    assert listing["total"] == 1
    item = listing["items"][0]
    assert item["contact_email"] == "borger@example.dk"  # planners may contact the reporter
    assert item["listed_down"] == 30.0 and item["speedtest_down"] == 7.4
    assert item["speedtest_at"].startswith("2026-05-01T16:30:00")

    changed = client.patch(f"/api/reports/{receipt['id']}", headers=AUTH,
                           json={"status": "accepted", "reviewer": "Planlægger"})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["status"] == "accepted"
    detail = client.get(f"/api/reports/{receipt['id']}", headers=AUTH).json()
    assert [h["status_to"] for h in detail["history"]] == ["new", "accepted"]
    accepted = client.get("/api/lookup", params={"id": STRANDVEJEN_52}).json()["reports"]
    assert accepted == {
        "under_review": False,
        "open": 0,
        "accepted": 1,
        "rejected": 0,
        "label": None,
    }

    for body in ({"status": "rejected"}, {"status": "rejected", "reason": "   "}):
        refused = client.patch(f"/api/reports/{receipt['id']}", headers=AUTH, json=body)
        assert "reason" in error(refused, 422).detail
    rejected = client.patch(f"/api/reports/{receipt['id']}", headers=AUTH,
                            json={"status": "rejected", "reason": "Operatøren målte 30 Mbit/s"})  # fmt: skip
    assert rejected.json()["status_reason"] == "Operatøren målte 30 Mbit/s"
    after = client.get("/api/lookup", params={"id": STRANDVEJEN_52}).json()["reports"]
    assert after == {"under_review": False, "open": 0, "accepted": 0, "rejected": 1, "label": None}
    error(client.patch(f"/api/reports/{uuid.uuid4()}", headers=AUTH, json={"status": "new"}), 404)
    listing = client.get("/api/reports", headers=AUTH, params={"until": "0.5"})
    assert error(listing, 422).errors[0].loc == ["query", "until"]


def test_an_unknown_address_is_404(client):
    missing = error(
        client.post("/api/reports", json={**REPORT, "address_id": str(uuid.uuid4())}), 404
    )
    assert "no address with id" in missing.detail
    assert client.get("/api/reports", headers=AUTH).json()["total"] == 0


def test_a_mapping_row_without_position_can_be_reported(client):
    body = {"address_id": BRYGGERBAKKEN_5, "kind": "address", "address_problem": "wrong_position",
            "claimed_text": "Bryggerbakken 5, 8305 Samsø"}  # fmt: skip
    assert client.post("/api/reports", json=body).status_code == 201
    answer = client.get("/api/lookup", params={"q": "Bryggerbakken 5, 8305"}).json()
    assert answer["address"]["position_known"] is False and answer["reports"]["open"] == 1


@pytest.mark.parametrize(
    "change, loc, needle",
    [
        ({"address_id": "../../etc/passwd"}, ["body", "fixed_speed", "address_id"], "pattern"),
        ({"kind": "speed"}, ["body"], "kind"),
        ({"technology": None}, ["body", "fixed_speed", "technology"], ""),
        ({"claimed_down": 10_001}, ["body", "fixed_speed", "claimed_down"], "10000"),
        ({"speedtest": {"down": 5, "at": FUTURE}}, ["body", "speedtest_at"], "is in the future"),
        ({"speedtest": {"down": 5}}, ["body", "fixed_speed", "speedtest", "at"], "required"),
        ({"message": "x" * 2001}, ["body", "fixed_speed", "message"], "2000"),
        ({"message": "nul \u0000"}, ["body", "fixed_speed", "message"], "pattern"),
        ({"contact": {"email": "nope"}}, ["body", "fixed_speed", "contact", "email"], "pattern"),
        ({"surprise": 1}, ["body", "fixed_speed", "surprise"], "Extra inputs"),
    ],
)
def test_invalid_reports_get_422_naming_the_field(client, change, loc, needle):
    body = {**REPORT, **change}
    got = error(client.post("/api/reports", json=body), 422)
    locs = [e.loc for e in got.errors]
    assert any(item[: len(loc)] == loc for item in locs), locs
    assert needle.lower() in got.detail.lower()
    assert client.get("/api/reports", headers=AUTH).json()["total"] == 0


def test_planner_endpoints_need_the_token(client, app_settings):
    for method, path in [("get", "/api/reports"), ("get", "/api/reports/export"),
                         ("get", f"/api/reports/{uuid.uuid4()}"), ("patch", f"/api/reports/{uuid.uuid4()}")]:  # fmt: skip
        kwargs = {"json": {"status": "accepted"}} if method == "patch" else {}
        none = getattr(client, method)(path, **kwargs)
        assert error(none, 401).detail.startswith("a planner token is needed")
        assert none.headers["www-authenticate"] == "Bearer"
        wrong = getattr(client, method)(
            path, headers={"Authorization": f"Bearer {TOKEN}x"}, **kwargs
        )
        error(wrong, 401)
        basic = getattr(client, method)(path, headers={"Authorization": f"Basic {TOKEN}"}, **kwargs)
        error(basic, 401)
    disabled = app_settings.model_copy(update={"admin_token": None})
    with TestClient(create_app(disabled)) as c:
        assert "disabled" in error(c.get("/api/reports", headers=AUTH), 403).detail


def test_export_endpoint_files_have_no_contact_details(client, tmp_path):
    assert client.post("/api/reports", json=REPORT).status_code == 201
    got = client.get("/api/reports/export", headers=AUTH, params={"format": "csv"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    text = got.content.decode("utf-8-sig")
    assert STRANDVEJEN_52 in text and "borger@example.dk" not in text and "Test Borger" not in text
    gpkg = client.get(
        "/api/reports/export", headers=AUTH, params={"format": "gpkg", "status": "new"}
    )
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "reports.gpkg"
    path.write_bytes(gpkg.content)
    frame = pyogrio.read_dataframe(path, layer="reports")
    assert list(frame["address_id"]) == [STRANDVEJEN_52]
    assert not [c for c in frame.columns if "contact" in c]
    meta = pyogrio.read_dataframe(path, layer="metadata")
    assert "reports" in " ".join(meta["value"].astype(str))
    error(client.get("/api/reports/export", headers=AUTH, params={"format": "../../x"}), 422)


def test_an_unreachable_database_gives_503_and_lookups_still_answer(app_settings):
    down = app_settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/none"})
    with TestClient(create_app(down)) as c:
        got = error(c.post("/api/reports", json=REPORT), 503)
        assert "reports are unavailable" in got.detail and "nobody" not in got.detail
        answer = c.get("/api/lookup", params={"id": STRANDVEJEN_52})
        assert answer.status_code == 200 and answer.json()["reports"] is None


def test_the_report_form_page(client):
    page = client.get("/report", params={"id": STRANDVEJEN_52})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<script src="/static/app/report.js"' in html and "<style" not in html
    assert " style=" not in html and "onclick" not in html  # nothing inline: CSP 'self' holds
    for field in ("claimed_down", "technology", "speedtest_at", "message", "contact_email"):
        assert f'<label for="{field}"' in html and f'id="{field}-error"' in html
    script = client.get("/static/app/report.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/reports" in script.text and "aria-invalid" in script.text


# -- the form in a real browser -------------------------------------------------------------------


def test_the_form_in_a_browser_validates_posts_and_speaks_both_languages(
    bundle_settings, bundle_release, tmp_path
):
    from tests.browser import chromium, guarded_page, screenshot, serve

    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600,
        database_url=f"sqlite+pysqlite:///{tmp_path / SQLITE_FILE}", admin_token=TOKEN,
    )  # fmt: skip
    with (
        serve(settings) as base,
        chromium() as browser,
        guarded_page(browser, timezone_id="Europe/Copenhagen", locale="da-DK") as (page, guard),
    ):
        api = httpx.Client(base_url=base, timeout=30, trust_env=False)
        page.goto(f"{base}/report?id={STRANDVEJEN_52}&lang=da")
        page.locator(
            "#address-text", has_text="Strandvejen 52"
        ).wait_for()  # CSP: no eval, so no wait_for_function
        assert "30/– Mbit/s" in page.locator("#address-listed").inner_text()  # xdsl 30 down, no up

        # Nothing filled in: the browser says what is missing, beside each field and in a summary.
        page.get_by_role("button", name="Send rapporten").click()
        summary = page.locator("#error-summary")
        summary.wait_for(state="visible")
        assert page.get_by_label("Teknologi").get_attribute("aria-invalid") == "true"
        assert page.locator("#technology-error").inner_text() == "Vælg en mulighed."
        assert page.locator("#claimed_down-error").inner_text() == "Skal udfyldes."
        assert summary.locator("li").count() == 2
        assert api.get("/api/reports", headers=AUTH).json()["total"] == 0  # nothing was sent

        page.get_by_label("Teknologi").select_option("xdsl")
        page.get_by_label("Download (Mbit/s, 0 = intet)").fill("8")
        page.get_by_label("Målt download (Mbit/s)").fill("7,4")  # a Danish decimal comma
        page.get_by_label("Tidspunkt for målingen").fill("2099-05-01T18:30")
        page.get_by_role("button", name="Send rapporten").click()
        assert page.locator("#speedtest_at-error").inner_text() == "Tidspunktet ligger i fremtiden."

        # A rule only the server knows (no speed test before 2000) comes back beside its field.
        page.get_by_label("Tidspunkt for målingen").fill("1999-05-01T18:30")
        page.get_by_role("button", name="Send rapporten").click()
        page.locator("#speedtest_at-error").wait_for(state="visible")
        assert (
            page.locator("#speedtest_at-error").inner_text()
            == "Tidspunktet skal være efter år 2000."
        )
        screenshot(page, "report-form-errors")

        page.get_by_label("Tidspunkt for målingen").fill("2026-05-01T18:30")
        page.get_by_label("Beskrivelse (højst 2.000 tegn)").fill("Kun 8 Mbit/s om aftenen.")
        page.get_by_label("E-mail").fill("borger@example.dk")
        page.get_by_role("button", name="Send rapporten").click()
        receipt = page.locator("#receipt")
        receipt.wait_for(state="visible")
        report_id = page.locator("#receipt-id").inner_text()
        stored = api.get(f"/api/reports/{report_id}", headers=AUTH).json()["report"]
        assert (stored["technology"], stored["claimed_down"], stored["speedtest_down"]) == (
            "xdsl",
            8.0,
            7.4,
        )
        assert stored["speedtest_at"].startswith("2026-05-01T16:30")  # Danish summer time → UTC
        assert stored["contact_email"] == "borger@example.dk"
        assert api.get("/api/lookup", params={"id": STRANDVEJEN_52}).json()["reports"][
            "under_review"
        ]
        screenshot(page, "report-form-receipt")

        # English by the toggle, remembered for the next page.
        page.goto(f"{base}/report?id={BRYGGERBAKKEN_5}")
        page.get_by_role("button", name="English").click()
        assert page.get_by_label("Technology").is_visible()
        page.get_by_label("The address itself").check()
        assert page.get_by_label("What is wrong with the address?").is_visible()
        assert not page.get_by_label("Technology").is_visible()
        page.reload()
        assert page.locator("html").get_attribute("lang") == "en"
        page.set_viewport_size({"width": 375, "height": 800})
        screenshot(page, "report-form-phone-en", full_page=True)
        api.close()
        # No request left 127.0.0.1, no CSP violation, no script error (the 422 above is expected).
        guard.assert_clean(allow_console=("status of 422",))
