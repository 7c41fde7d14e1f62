"""The bad-input corpus: every crafted file gives its expected message or quarantine rows.

Cases live in ``tests/badinput/expected.toml`` so adding one is a data change.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coverage.addresses import read_addresses
from coverage.availability import join_to_addresses, load_profile, read_mapping
from coverage.boundaries import load_region
from coverage.build import build_release
from coverage.errors import NetkortError
from coverage.mobile.measurements import read_measurements
from coverage.mobile.sites import read_sites
from coverage.planning import read_zone_layer
from coverage.quarantine import Quarantine
from coverage.rules import load_rule_set
from coverage.sources import load_manifest

CORPUS = Path(__file__).parent / "badinput"
CASES = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))["case"]
SAMSOE = {"0741": "Samsø"}
NETKORT = Path(sys.executable).with_name("netkort")
#: "Now" for measurement files, so a case's future and past stay what they are.
MEASURED_NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _good_addresses():
    return read_addresses(CORPUS / "addresses" / "utf8_bom.csv", SAMSOE, Quarantine()).addresses


def _run(case: dict, settings) -> tuple[int, Quarantine, dict]:
    path = CORPUS / case["file"]
    q = Quarantine()
    extra: dict = {}
    reader = case["reader"]
    if reader == "addresses":
        frame = read_addresses(path, SAMSOE, q).addresses
        extra["streets"] = list(frame["vejnavn"])
        return len(frame), q, extra
    if reader == "mapping":
        rows = read_mapping(path, load_profile("bbk-bundle"), q).rows
        joined = join_to_addresses(rows, _good_addresses(), q)
        extra["matched"] = joined.counts["matched"]
        extra["streets"] = list(joined.availability["vejnavn"])
        return len(joined.availability), q, extra
    if reader == "measurements":
        return len(read_measurements(path, q, now=MEASURED_NOW)), q, extra
    if reader == "sites":
        return len(read_sites(path, q)), q, extra
    if reader == "rules":
        load_rule_set(path)
    elif reader == "zones":
        read_zone_layer(path)
    elif reader == "boundaries":
        load_region(path, None, None, "all")
    elif reader == "manifest":
        load_manifest(path, settings.data)
    elif reader == "build":
        build_release(settings, load_manifest(path, settings.data))
    raise AssertionError(f"{case['file']}: expected an error")


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_bad_input_case(case, settings):
    if "error" in case:
        with pytest.raises(NetkortError) as info:
            _run(case, settings)
        message = str(info.value)
        assert case["error"] in message
        if case["reader"] != "build":
            assert Path(case["file"]).name in message  # the message names the file
        return
    kept, q, extra = _run(case, settings)
    assert kept == case["kept"]
    got = q.frame()
    assert len(got) == len(case["quarantine"]), got.to_string()
    for want, (_, row) in zip(case["quarantine"], got.iterrows(), strict=True):
        assert row["line"] == want["line"]
        assert row["field"] == want["field"]
        assert want["reason"] in row["reason"]
        assert row["file"].endswith(case["file"])
    if "matched" in case:
        assert extra["matched"] == case["matched"]
    if "streets" in case:
        assert extra["streets"] == case["streets"]


def test_corpus_covers_every_reader():
    readers = {c["reader"] for c in CASES}
    assert {"addresses", "mapping", "boundaries", "manifest", "build", "measurements", "sites",
            "rules", "zones"} <= readers  # fmt: skip
    assert len(CASES) >= 40
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.is_file()}
    assert files - {"expected.toml"} == {c["file"] for c in CASES}  # every file has its case
    for case in CASES:
        assert (CORPUS / case["file"]).exists(), case["file"]


def test_build_quarantines_bad_rows_and_keeps_good_ones(tmp_path, data_dir):
    """Through the command line: bad rows land in the release's quarantine.csv, good rows are kept."""
    home = tmp_path / "home"
    result = subprocess.run(
        [
            str(NETKORT), "build", "--home", str(home), "--quiet",
            "--addresses", str(CORPUS / "addresses" / "bad_uuid.csv"),
            "--addresses", str(CORPUS / "addresses" / "duplicate_id.csv"),
            "--mapping", str(CORPUS / "mapping" / "non_numeric_speed.csv"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    release = next((home / "releases").iterdir())
    import csv

    with (release / "quarantine.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    reasons = {(Path(r["file"]).name, r["line"], r["field"]) for r in rows}
    assert ("bad_uuid.csv", "3", "id") in reasons
    assert ("duplicate_id.csv", "4", "id") in reasons
    assert ("non_numeric_speed.csv", "3", "xdsl_ned") in reasons
    # duplicate_id.csv repeats bad_uuid.csv's good ids: refused as already read from an earlier file
    assert any("earlier file" in r["reason"] for r in rows)
    assert all(r["value"] is not None and r["reason"] for r in rows)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--addresses", str(CORPUS / "addresses" / "empty.csv")], "empty.csv: address register is empty"),
        (["--addresses", "/nonexistent/adresser.csv"], "/nonexistent/adresser.csv: addresses source not found"),
        (["--mapping", str(CORPUS / "mapping" / "missing_column.csv")], "lacks required column(s) husnr"),
        (["--boundaries", str(CORPUS / "boundaries" / "metres_declared_as_lonlat.geojson")], "wrong CRS?"),
        (["--sources", str(CORPUS / "manifests" / "not_toml.toml")], "not valid TOML"),
        (["--region", "12"], "region code has 4 digits"),
    ],
)  # fmt: skip
def test_unusable_input_exits_2_with_one_line(tmp_path, args, needle):
    home = tmp_path / "home"
    result = subprocess.run(
        [str(NETKORT), "build", "--home", str(home), "--quiet", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in " ".join(result.stderr.split())
    assert not (home / "current").exists()
