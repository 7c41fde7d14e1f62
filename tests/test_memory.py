"""The long-running service hands freed memory back on a timer, and stops doing so on shutdown."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from coverage.memory import Trimmer
from service.main import create_app
from service.settings import ServiceSettings


def _wait_for(condition, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_trimmer_runs_on_its_interval_and_stops():
    trimmer = Trimmer(0.02)
    trimmer.start()
    assert _wait_for(lambda: trimmer.runs >= 3)
    trimmer.stop()
    runs = trimmer.runs
    time.sleep(0.1)
    assert trimmer.runs == runs  # stopped: no more trims


def test_interval_zero_never_starts_a_thread():
    trimmer = Trimmer(0)
    trimmer.start()
    time.sleep(0.05)
    assert trimmer.runs == 0
    trimmer.stop()


def test_the_service_trims_while_it_runs(bundle_settings, bundle_release):
    settings = ServiceSettings(
        data=bundle_settings.data, home=bundle_settings.home, reload_interval=3600,
        trim_interval=0.02,
    )  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert _wait_for(lambda: app.state.trimmer.runs >= 2)
    runs = app.state.trimmer.runs
    time.sleep(0.1)
    assert app.state.trimmer.runs == runs  # the lifespan stopped it
