"""``netkort mobile`` end to end on the bundle release: model, synth, aggregate, fuse, gaps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import pyogrio
import pytest
from typer.testing import CliRunner

from coverage.cli import app
from coverage.errors import NetkortError

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=True)
    return result


@pytest.fixture(scope="module")
def layers_dir(bundle_settings, bundle_release, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "layers"
    result = invoke(
        "mobile", "model", "--municipality", "0741", "--out", str(out),
        "--home", str(bundle_settings.home), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_model_writes_layers(layers_dir):
    index = json.loads((layers_dir / "layers.json").read_text("utf-8"))
    assert {e["name"] for e in index["layers"]} == {
        "rsrp_unknown_4g_outdoor", "rsrp_unknown_4g_indoor",
        "rsrp_unknown_5g_outdoor", "rsrp_unknown_5g_indoor",
    }  # fmt: skip
    assert all((layers_dir / e["path"]).exists() for e in index["layers"])


def test_synth_aggregate_fuse_gaps(bundle_settings, layers_dir, tmp_path):
    home = str(bundle_settings.home)
    measurements = tmp_path / "m.parquet"
    result = invoke("mobile", "synth", "--layers", str(layers_dir), "--out", str(measurements),
                    "--seed", "2", "--drives", "2", "--crowd", "500", "--home", home, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["generated"] is True

    result = invoke("mobile", "measurements", str(measurements), "--json")
    summary = json.loads(result.stdout)
    assert summary["refused_lines"] == 0 and summary["accepted"] == summary["generated"] > 500

    cells = tmp_path / "cells.gpkg"
    result = invoke("mobile", "aggregate", str(measurements), "--size", "1000", "-o", str(cells),
                    "--json")  # fmt: skip
    summary = json.loads(result.stdout)
    frame = pyogrio.read_dataframe(cells)
    assert len(frame) == summary["published"] > 0
    assert (frame["samples"] >= 5).all() and (frame["devices"] >= 3).all()

    fused, flags = tmp_path / "fused.gpkg", tmp_path / "flags.geojson"
    result = invoke("mobile", "fuse", "--layers", str(layers_dir), "--measurements",
                    str(measurements), "-o", str(fused), "--flags", str(flags), "--home", home,
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    matrix = summary["confusion_modelled"]
    assert sum(sum(row.values()) for row in matrix.values()) == 4444
    assert 0 < summary["agreement_modelled"] < 1
    assert len(pyogrio.read_dataframe(fused)) == 4591
    flagged = gpd.read_file(flags)
    assert len(flagged) == summary["flagged"]
    assert flagged.crs.to_epsg() == 4326

    zones = tmp_path / "zones.gpkg"
    result = invoke("mobile", "gaps", "--layers", str(layers_dir), "--measurements",
                    str(measurements), "-o", str(zones), "--home", home, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pyogrio.read_dataframe(zones)
    assert "model" in set(frame["basis"])
    assert set(frame["kommunekode"]) == {"0741"}


def test_user_mistakes_are_library_errors(bundle_settings, layers_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,x,y\n2026-01-01T00:00:00Z,1,2\n", encoding="utf-8")
    result = invoke("mobile", "measurements", str(bad))
    assert isinstance(result.exception, NetkortError)
    assert "lacks required column(s) operator, technology, device" in str(result.exception)
    result = invoke("mobile", "model", "--municipality", "9999", "--home",
                    str(bundle_settings.home), "--out", str(tmp_path / "x"))  # fmt: skip
    assert isinstance(result.exception, NetkortError)
    assert "no municipality 9999" in str(result.exception)
    result = invoke("mobile", "aggregate", str(bad), "--size", "250")
    assert isinstance(result.exception, NetkortError)


def test_console_exit_code_2_and_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-c", "from coverage.cli import main; main()", "mobile",
         "measurements", str(bad)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().startswith("netkort: error:")
    assert "is empty" in run.stderr and "Traceback" not in run.stderr
