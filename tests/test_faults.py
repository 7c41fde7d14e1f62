"""The service killed with SIGKILL while reports are being posted loses no acknowledged report.

uvicorn runs in a subprocess on 127.0.0.1; threads post reports and note every id answered with
201; the server is killed mid-stream, restarted on the same database, and every acknowledged id
must be there (at most one unacknowledged report per thread may have been committed just before the
kill). Runs on SQLite (WAL, synchronous=FULL) and on PostgreSQL when ``NETKORT_TEST_DATABASE_URL``
is set.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from coverage.reports import database_url

STRANDVEJEN_52 = "0a3f5095-3dfc-32b8-e044-0003ba298018"
TOKEN = "fault-test-token"
PG_URL = os.environ.get("NETKORT_TEST_DATABASE_URL")
THREADS = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """The report database URL handed to the server: a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'reports.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("NETKORT_TEST_DATABASE_URL is not set (scripts/pg-test-cluster.sh start)")
    schema = f"f_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url(tmp_path, PG_URL))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving ``create_app`` from the environment, in its own process."""

    def __init__(self, home: Path, data: Path, database: str, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "NETKORT_HOME": str(home), "NETKORT_DATA": str(data), "NETKORT_DATABASE_URL": database,
            "NETKORT_ADMIN_TOKEN": TOKEN, "NETKORT_REPORT_RATE": "100000/minute",
            "NETKORT_RELOAD_INTERVAL": "3600",
        }  # fmt: skip
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed by the process."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if not self.log.closed:
            self.log.close()


def _stored_ids(base: str) -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:
        page = httpx.get(
            f"{base}/api/reports",
            params={"limit": 1000, "offset": offset},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ).json()
        ids |= {item["id"] for item in page["items"]}
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return ids


def test_sigkill_while_posting_loses_no_acknowledged_report(
    bundle_settings, bundle_release, database, tmp_path
):
    log = tmp_path / "server.log"
    server = Server(bundle_settings.home, bundle_settings.data, database, log)
    acked: list[str] = []
    attempts = [0] * THREADS
    lock = threading.Lock()
    stop = threading.Event()

    def post(worker: int) -> None:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            while not stop.is_set():
                body = {"address_id": STRANDVEJEN_52, "kind": "fixed_speed", "technology": "xdsl",
                        "claimed_down": 8, "message": f"fault test {worker}-{attempts[worker]}",
                        "contact": {"email": f"w{worker}@example.dk"}}  # fmt: skip
                attempts[worker] += 1
                try:
                    response = http.post("/api/reports", json=body)
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code == 201:
                    with lock:
                        acked.append(response.json()["id"])

    try:
        server.wait_ready()
        workers = [threading.Thread(target=post, args=(w,)) for w in range(THREADS)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 30
        while len(acked) < 150 and time.monotonic() < deadline:  # kill mid-stream, not before
            time.sleep(0.05)
        server.kill()
        stop.set()
        for w in workers:
            w.join(timeout=30)
        killed_with = len(acked)
        assert killed_with >= 50, "too few reports were acknowledged before the kill"

        if database.startswith("sqlite"):
            path = database.removeprefix("sqlite+pysqlite:///")
            with sqlite3.connect(path) as raw:
                assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)

        server = Server(bundle_settings.home, bundle_settings.data, database, log)
        server.wait_ready()
        stored = _stored_ids(server.base)
        lost = set(acked) - stored
        assert not lost, f"{len(lost)} acknowledged reports lost after SIGKILL"
        # Committed but not yet acknowledged when the process died: at most one per thread.
        assert len(stored) - len(set(acked)) <= THREADS
        assert len(set(acked)) == killed_with  # no id was acknowledged twice
        # The restarted service takes reports again.
        again = httpx.post(f"{server.base}/api/reports", json={
            "address_id": STRANDVEJEN_52, "kind": "mobile_coverage", "claimed_down": 0}, timeout=10)  # fmt: skip
        assert again.status_code == 201
    finally:
        stop.set()
        server.stop()
