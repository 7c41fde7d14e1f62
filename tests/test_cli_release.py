"""``netkort build``, ``releases`` and ``info`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from coverage.cli import app

NETKORT = Path(sys.executable).with_name("netkort")
runner = CliRunner()


def test_info_json_describes_the_current_release(bundle_settings, bundle_release):
    result = runner.invoke(app, ["info", "--json", "--home", str(bundle_settings.home)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["release_id"] == bundle_release.id
    assert len(info["municipalities"]) == 19
    assert {"kode": "0741", "navn": "Samsø"} in info["municipalities"]
    assert info["counts"]["mapping"]["unmatched"] == 105
    assert info["generated"] is False


def test_info_table_and_releases_list(bundle_settings, bundle_release):
    result = runner.invoke(app, ["info", "--home", str(bundle_settings.home)])
    assert result.exit_code == 0
    assert "Ringkøbing-Skjern" in result.output and "4591" in result.output
    listed = runner.invoke(app, ["releases", "--json", "--home", str(bundle_settings.home)])
    rows = json.loads(listed.output)
    assert rows == [
        {
            "release_id": bundle_release.id,
            "created": bundle_release.manifest["created"],
            "current": True,
            "generated": False,
            "addresses": 4591,
        }
    ]


def test_build_json_then_identical_rebuild(tmp_path, data_dir):
    home = tmp_path / "home"
    env_args = ["--home", str(home), "--data", str(data_dir)]
    first = subprocess.run(
        [str(NETKORT), "build", "--json", *env_args], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    built = json.loads(first.stdout)
    assert built["identical"] is False and built["counts"]["addresses"]["accepted"] == 4591
    second = subprocess.run(
        [str(NETKORT), "build", "--json", *env_args], capture_output=True, text=True, timeout=120
    )
    again = json.loads(second.stdout)
    assert again == {**built, "identical": True}


def test_info_without_a_release_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [str(NETKORT), "info", "--home", str(tmp_path / "empty")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "run `netkort build` first" in result.stderr
    assert "Traceback" not in result.stderr
