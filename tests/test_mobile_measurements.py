"""Measurement ingest: good files in every accepted shape, bad files and rows with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.errors import SourceError
from coverage.mobile.measurements import read_measurements, write_measurements
from coverage.quarantine import Quarantine

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HEADER = "time,x,y,operator,technology,rsrp,down,up,latency,environment,source,device"
GOOD = "2026-05-01T10:00:00Z,602551.9,6186812.1,TDC,4G,-95,120.5,10.2,22,outdoor,app,dev-a"


def write(tmp_path, lines, name="m.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def read(path, **kw):
    q = Quarantine()
    return read_measurements(path, q, now=NOW, **kw), q.frame()


def test_good_csv_row_is_read_with_types(tmp_path):
    frame, refused = read(write(tmp_path, [HEADER, GOOD]))
    assert refused.empty
    row = frame.iloc[0]
    assert row["time"] == pd.Timestamp("2026-05-01T10:00:00Z")
    assert (row["east"], row["north"]) == (602551.9, 6186812.1)
    assert (row["operator"], row["technology"]) == ("TDC", "4G")
    assert row["rsrp"] == -95 and row["down"] == pytest.approx(120.5)
    assert (row["environment"], row["source"], row["device"]) == ("outdoor", "app", "dev-a")
    assert not row["generated"] and row["source_line"] == 2
    assert frame.crs.to_epsg() == 25832
    assert row.geometry.equals(shapely.Point(602551.9, 6186812.1))


def test_spellings_lonlat_semicolon_and_decimal_comma(tmp_path):
    lines = [
        "Timestamp;Longitude;Latitude;MNO;RAT;RSRP_dBm;Download;Device_ID;Env",
        "2026-05-01 10:00:00+02:00;10,6366230;55,8159920;238-02;LTE;-101;55,5;d1;In car",
        "2026-05-01T10:00:00;10.6366230;55.8159920;telia;nr nsa;-90;300;d2;udendørs",
    ]
    frame, refused = read(write(tmp_path, lines, encoding="cp1252"))
    assert refused.empty
    assert list(frame["operator"]) == ["Telenor", "Telia"]
    assert list(frame["technology"]) == ["4G", "5G NSA"]
    assert list(frame["environment"]) == ["in vehicle", "outdoor"]
    # +02:00 is 08:00 UTC; a time without offset is read as UTC.
    assert list(frame["time"]) == [
        pd.Timestamp("2026-05-01T08:00:00Z"),
        pd.Timestamp("2026-05-01T10:00:00Z"),
    ]
    # The register's own coordinates for this point (Aavej 10, Samsø), to the centimetre.
    assert frame["east"].iloc[0] == pytest.approx(602551.91, abs=0.05)
    assert frame["north"].iloc[0] == pytest.approx(6186812.07, abs=0.05)
    assert frame["down"].iloc[0] == pytest.approx(55.5)
    assert np.isnan(frame["up"].iloc[0])


def test_bad_rows_are_quarantined_with_reasons(tmp_path):
    rows = [
        HEADER,
        GOOD,  # line 2: fine
        GOOD.replace(",-95,", ",-150,"),  # 3: RSRP below range
        GOOD.replace(",-95,", ",-30,"),  # 4: RSRP above range
        GOOD.replace("2026-05-01T10:00:00Z", "2026-07-01T10:00:00Z"),  # 5: future
        GOOD.replace("602551.9,6186812.1", "10.63,55.81"),  # 6: degrees in metre columns
        GOOD.replace("602551.9,6186812.1", "302551.9,6186812.1"),  # 7: outside Denmark
        GOOD.replace("TDC", "Vodafone"),  # 8: unknown operator
        GOOD.replace(",4G,", ",6G,"),  # 9: unknown technology
        GOOD.replace(",4G,", ",5G,"),  # 10: 5G without NSA / SA
        GOOD.replace("2026-05-01T10:00:00Z", "yesterday"),  # 11: not a time
        GOOD.replace(",120.5,", ",12000,"),  # 12: speed above 10000
        GOOD.replace(",dev-a", ","),  # 13: no device
        GOOD.replace(",outdoor,", ",underwater,"),  # 14: unknown environment
        GOOD.replace(",-95,120.5,", ",,,"),  # 15: nothing measured
        GOOD + ",extra",  # 16: too many fields
    ]
    frame, refused = read(write(tmp_path, rows))
    assert list(frame["source_line"]) == [2]
    by_line = {int(r.line): (r.field, r.reason) for r in refused.itertuples()}
    assert by_line[3] == ("rsrp", "rsrp out of range (expected -140 to -44 dBm)")
    assert by_line[4] == ("rsrp", "rsrp out of range (expected -140 to -44 dBm)")
    assert by_line[5][0] == "time" and by_line[5][1].startswith("time is in the future")
    assert by_line[6] == (
        "x",
        "looks like lon/lat degrees, expected EPSG:25832 metres (wrong CRS?)",
    )
    assert by_line[7][0] == "x" and by_line[7][1].startswith("outside Denmark")
    assert by_line[8][0] == "operator" and "expected one of TDC, Telenor, Telia, 3" in by_line[8][1]
    assert by_line[9][0] == "technology" and "2G, 3G, 4G, 5G NSA, 5G SA" in by_line[9][1]
    assert by_line[10] == ("technology", "5G must say NSA or SA (expected 5G NSA or 5G SA)")
    assert by_line[11][0] == "time" and "ISO 8601" in by_line[11][1]
    assert by_line[12] == ("down", "down out of range (expected 0 to 10000 Mbit/s)")
    assert by_line[13][0] == "device"
    assert by_line[14][0] == "environment"
    assert by_line[15] == ("rsrp", "no RSRP and no down speed")
    assert by_line[16][0] == "(row)" and "line has 13 fields" in by_line[16][1]
    values = dict(zip(refused["line"], refused["value"], strict=True))
    assert values[3] == "-150" and values[8] == "Vodafone"
    assert set(refused["source"]) == {"measurements"}


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = write(tmp_path, [HEADER.replace(",device", ""), GOOD.rsplit(",", 1)[0]])
    with pytest.raises(SourceError) as err:
        read(path)
    assert str(path) in str(err.value)
    assert "lacks required column(s) device" in str(err.value)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], "is empty"),
        (
            ["time,operator,technology,device,rsrp", "2026-05-01T10:00:00Z,TDC,4G,d,-90"],
            "no position",
        ),
        (["time,x,y,operator,technology,device", "x"], "neither an rsrp nor a down column"),
    ],
)
def test_unusable_files(tmp_path, lines, expected):
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError, match=expected):
        read(path)


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        read(tmp_path / "nope.csv")


def test_geoparquet_in_lonlat_with_native_types(tmp_path):
    frame = gpd.GeoDataFrame(
        {
            "time": pd.to_datetime(["2026-05-01T10:00:00Z", "2027-01-01T00:00:00Z"], utc=True),
            "operator": ["3", "TDC"],
            "technology": ["5G SA", "4G"],
            "rsrp": [-100.0, -200.0],
            "down": [50.0, 10.0],
            "device": ["a", "b"],
        },
        geometry=[shapely.Point(10.6366230, 55.8159920), shapely.Point(10.6, 55.8)],
        crs="EPSG:4326",
    )
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    out, refused = read(path)
    assert len(out) == 1 and out["operator"].iloc[0] == "3"
    assert out["east"].iloc[0] == pytest.approx(602551.91, abs=0.05)
    # Parquet rows are numbered from 1; the second row fails twice (future, RSRP).
    assert set(zip(refused["line"], refused["field"], strict=True)) == {(2, "time"), (2, "rsrp")}


def test_geoparquet_without_crs_is_refused(tmp_path):
    frame = gpd.GeoDataFrame(
        {"time": ["2026-05-01T10:00:00Z"], "operator": ["TDC"], "technology": ["4G"],
         "rsrp": [-90.0], "device": ["a"]},
        geometry=[shapely.Point(602551.9, 6186812.1)],
    )  # fmt: skip
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    with pytest.raises(SourceError, match="no CRS"):
        read(path)


def test_write_and_read_back_keeps_everything(tmp_path):
    frame, _ = read(write(tmp_path, [HEADER, GOOD, GOOD.replace("dev-a", "dev-b")]))
    for name in ("again.parquet", "again.csv"):
        path = write_measurements(frame, tmp_path / name)
        back, refused = read(path)
        assert refused.empty
        cols = ["time", "east", "north", "operator", "technology", "rsrp", "down", "device"]
        pd.testing.assert_frame_equal(
            pd.DataFrame(back[cols]), pd.DataFrame(frame[cols]), check_dtype=False
        )


def test_generated_flag_from_column_or_argument(tmp_path):
    path = write(tmp_path, [HEADER + ",generated", GOOD + ",true", GOOD + ",false"])
    frame, _ = read(path)
    assert list(frame["generated"]) == [True, False]
    frame, _ = read(path, generated=True)
    assert list(frame["generated"]) == [True, True]
