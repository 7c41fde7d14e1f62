"""The broadband mapping (bredbåndskortlægningen): offered speeds per address and technology.

Files are read through a column profile (``data/profiles/*.toml``) because the official export and
other copies name their columns differently. Rows are joined to the register by register id where the
file carries one, else on (street, house number, postcode) with Danish-aware folding. A row that
matches no address is kept with an empty ``address_id`` and reported: it still answers a lookup by
text, it just has no position.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from coverage import arrowtext
from coverage.addresstext import house_number_key, postcode_key, street_key
from coverage.csvio import read_text_csv
from coverage.errors import ManifestError
from coverage.parquetio import RowGroups, row_groups, schema_of
from coverage.quarantine import Quarantine
from coverage.settings import PACKAGE_DATA
from coverage.types import FIXED_TECHNOLOGIES, MAX_SPEED_MBIT
from coverage.validate import UUID_PATTERN, duplicated_first_line, parse_numbers

SOURCE = "mapping"
SPEED_FIELDS = [f"{t}_{d}" for t in (*FIXED_TECHNOLOGIES, "mobile") for d in ("down", "up")]
TEXT_FIELDS = ["address_id", "vejnavn", "husnr", "postnr", "kommunenavn"]
PROFILE_FIELDS = set(SPEED_FIELDS) | set(TEXT_FIELDS)
PROFILES_DIR = PACKAGE_DATA / "profiles"

#: Columns of the availability table in a release, in order.
AVAILABILITY_COLUMNS = [
    "row_id",
    "address_id",
    "match",
    "vejnavn",
    "husnr",
    "postnr",
    "kommunenavn",
    *SPEED_FIELDS,
    "year",
    "generated",
    "source_file",
    "source_line",
]


@dataclass(frozen=True)
class ColumnProfile:
    """How one family of mapping files names its columns."""

    name: str
    columns: dict[str, str]
    year: int | None = None
    source: str = ""
    description: str = ""
    path: str = ""

    @property
    def has_id(self) -> bool:
        """Whether the file carries the register id of each address."""
        return "address_id" in self.columns

    def required(self) -> list[str]:
        """The file columns the profile cannot do without."""
        if self.has_id:
            return [self.columns["address_id"]]
        return [self.columns[k] for k in ("vejnavn", "husnr", "postnr")]


def load_profile(name_or_path: str | Path) -> ColumnProfile:
    """Load a column profile by name (``bbk-bundle``) or path, validating it."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix == ".toml" else PROFILES_DIR / f"{name_or_path}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ManifestError(path, f"column profile not found; known profiles: {known}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, f"column profile is not valid TOML: {exc}") from None
    columns = raw.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ManifestError(path, "column profile needs a [columns] table")
    unknown = sorted(set(columns) - PROFILE_FIELDS)
    if unknown:
        raise ManifestError(
            path,
            f"unknown field(s) {', '.join(unknown)} in [columns]; "
            f"expected some of {', '.join(sorted(PROFILE_FIELDS))}",
        )
    if not all(isinstance(v, str) and v for v in columns.values()):
        raise ManifestError(path, "every [columns] value must be a non-empty column name")
    if "address_id" not in columns and not {"vejnavn", "husnr", "postnr"} <= set(columns):
        raise ManifestError(path, "profile must map address_id, or vejnavn, husnr and postnr")
    if not set(columns) & set(SPEED_FIELDS):
        raise ManifestError(path, "profile maps no speed column")
    year = raw.get("year")
    if year is not None and not isinstance(year, int):
        raise ManifestError(path, f"year must be a whole number, got {year!r}")
    return ColumnProfile(
        name=str(raw.get("name", path.stem)),
        columns=dict(columns),
        year=year,
        source=str(raw.get("source", "")),
        description=str(raw.get("description", "")),
        path=str(path),
    )


@dataclass
class MappingRead:
    """Accepted mapping rows of one file (not yet joined) and how many lines were read."""

    rows: pd.DataFrame
    rows_read: int


def read_mapping(
    path: str | Path,
    profile: ColumnProfile,
    quarantine: Quarantine,
    *,
    generated: bool = False,
    year: int | None = None,
) -> MappingRead:
    """Read one mapping CSV through its profile; quarantine rows with bad values."""
    table = read_text_csv(
        path,
        required=profile.required(),
        columns=[*profile.columns.values(), "generated"],
        what="broadband mapping",
    )
    frame, lines, path = table.frame, table.lines, table.path
    for line, reason in table.bad_lines:
        quarantine.add(SOURCE, path, [line], "(row)", [""], reason)
    bad = np.zeros(len(frame), dtype=bool)
    out = pd.DataFrame(index=frame.index)

    def col(name: str) -> pd.Series:
        source_col = profile.columns.get(name)
        if source_col is None or source_col not in frame.columns:
            return pd.Series("", index=frame.index, dtype="string")
        return frame[source_col]

    def reject(mask: np.ndarray, name: str, reason: str) -> None:
        nonlocal bad
        if mask.any():
            quarantine.add(
                SOURCE,
                path,
                lines[mask],
                profile.columns.get(name, name),
                col(name).to_numpy()[mask],
                reason,
            )
            bad |= mask

    ids = col("address_id").str.lower()
    id_given = (ids != "").to_numpy()
    if profile.has_id:
        not_uuid = id_given & ~ids.str.fullmatch(UUID_PATTERN).fillna(False).to_numpy()
        reject(not_uuid, "address_id", "not a register UUID (expected 8-4-4-4-12 hex digits)")
    husnr = house_number_key(col("husnr"))
    postnr = postcode_key(col("postnr"))
    if not profile.has_id or (~id_given).any():
        need_text = ~id_given
        reject(need_text & (col("vejnavn") == "").to_numpy(), "vejnavn", "street name is empty")
        reject(
            need_text & husnr.isna().to_numpy(),
            "husnr",
            "not a house number (expected 1-999 with an optional letter, e.g. 10A)",
        )
        reject(need_text & postnr.isna().to_numpy(), "postnr", "not a 4-digit postcode")

    for name in SPEED_FIELDS:
        if name not in profile.columns:
            out[name] = np.float32(np.nan)
            continue
        if profile.columns[name] not in frame.columns:
            out[name] = np.float32(np.nan)
            continue
        values, not_number = parse_numbers(col(name))
        reject(not_number, name, "not a number (expected Mbit/s, 0 = not offered)")
        negative = ~not_number & (values < 0)
        reject(negative, name, "negative speed (expected 0 to 10000 Mbit/s)")
        too_big = ~not_number & (values > MAX_SPEED_MBIT)
        reject(too_big, name, "speed above 10000 Mbit/s (expected 0 to 10000 Mbit/s)")
        out[name] = values.astype("float32")

    out["address_id"] = ids.where(ids != "", pd.NA).astype("string")
    out["vejnavn"] = col("vejnavn").astype("string")
    out["husnr"] = husnr.fillna(col("husnr")).astype("string")
    out["postnr"] = postnr.fillna(col("postnr")).astype("string")
    out["kommunenavn"] = col("kommunenavn").astype("string")
    out["year"] = pd.array([year or profile.year] * len(frame), dtype="Int16")
    out["generated"] = _generated_flags(frame, generated)
    # One file name for millions of rows: a categorical holds it once (written as text).
    out["source_file"] = pd.Categorical.from_codes(
        np.zeros(len(frame), dtype="int8"), categories=[str(path)]
    )
    out["source_line"] = lines
    return MappingRead(out.loc[~bad].reset_index(drop=True), len(frame) + len(table.bad_lines))


def _generated_flags(frame: pd.DataFrame, generated: bool) -> np.ndarray:
    if generated:
        return np.ones(len(frame), dtype=bool)
    if "generated" in frame.columns:
        return frame["generated"].str.lower().isin(["1", "true", "ja", "yes"]).to_numpy()
    return np.zeros(len(frame), dtype=bool)


@dataclass
class JoinResult:
    """Mapping rows with their register id where one was found, and the report of the rest."""

    availability: pd.DataFrame
    unmatched: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def join_to_addresses(
    rows: pd.DataFrame, addresses: pd.DataFrame, quarantine: Quarantine
) -> JoinResult:
    """Attach register ids: by id where given and known, else by (street, number, postcode).

    Two rows for the same address are a conflict: the first is kept, the later one quarantined with a
    pointer to the first, so no address silently gets two answers.
    """
    rows = rows.copy(deep=False)  # copy-on-write: the caller's frame is never changed
    n = len(addresses)
    addr_ids = pa.chunked_array([pa.array(addresses["id"].astype("string[pyarrow]"))])
    # Positions of the first address with an equal id / key (-1: none), found by hashing inside
    # Arrow. Keys are integers (shared codes of the folded street, house number and postcode), so
    # no string key is built per row on either side.
    row_ids = arrowtext.to_arrow_nullable(rows["address_id"])
    id_pos = np.full(len(rows), -1, dtype="int64")
    if row_ids.null_count < len(row_ids):
        found = pc.index_in(row_ids, value_set=addr_ids.cast(pa.string()))
        id_pos = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), "int64")
    addr_key, row_key = _key_codes(addresses, rows)
    key_pos = _first_positions(row_key, addr_key)
    id_np = id_pos >= 0
    key_np = ~id_np & (key_pos >= 0)
    position = np.where(id_np, id_pos, key_pos)
    matched = pc.take(addr_ids, pa.array(position, mask=position < 0))
    rows["address_id"] = arrowtext.from_arrow(matched, rows.index)
    rows["match"] = pd.Categorical.from_codes(
        np.select([id_np, key_np], [0, 1], 2), categories=["id", "key", "none"]
    )

    # The same address twice: keep the first row, quarantine the rest. A matched row is the
    # address at its position (ids are unique in the register); unmatched rows are compared on
    # their text key (all rows without a key count as one), numbered after the addresses.
    ident = np.where(position >= 0, position, n + 1 + row_key)
    dup, first = duplicated_first_line(ident, rows["source_line"].to_numpy())
    del ident, position, id_pos, key_pos, addr_key, row_key, matched
    if dup.any():
        for file_name, part in rows.loc[dup].groupby("source_file", sort=False, observed=True):
            idx = part.index.to_numpy()
            pos = np.searchsorted(np.flatnonzero(dup), idx)
            quarantine.add(
                SOURCE,
                file_name,
                part["source_line"].to_numpy(),
                "(row)",
                (part["vejnavn"] + " " + part["husnr"]).to_numpy(),
                pd.Series(
                    [f"another row for the same address, first on line {n}" for n in first[pos]]
                ),
            )
        rows = rows.loc[~dup].reset_index(drop=True)

    rows.insert(0, "row_id", np.arange(len(rows), dtype="int64"))
    unmatched = _unmatched_report(rows[rows["match"] == "none"], addresses)
    counts = {
        "rows": len(rows),
        "matched": int((rows["match"] != "none").sum()),
        "matched_by_id": int((rows["match"] == "id").sum()),
        "matched_by_key": int((rows["match"] == "key").sum()),
        "unmatched": int((rows["match"] == "none").sum()),
        "duplicates": int(dup.sum()),
    }
    return JoinResult(rows[AVAILABILITY_COLUMNS], unmatched, counts)


def availability_row_groups(availability: pd.DataFrame) -> RowGroups:
    """The release's ``availability`` table, written one row group at a time.

    ``source_file`` is a categorical while building (one file name, millions of rows) and text in
    the release, as readers have always seen it; it is decoded per row group.
    """
    sample = availability.iloc[:1].copy()
    sample["source_file"] = sample["source_file"].astype("str")
    return row_groups(availability, schema_of(sample))


def _key_codes(addresses: pd.DataFrame, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The (street, house number, postcode) key of every address and row as one integer.

    -1 where :func:`coverage.addresstext.address_key` would give <NA> (an invalid number or
    postcode). Equal integers on the two sides mean equal text keys: each part is a code in a
    space shared by both sides, and the parts are combined without overlap.
    """
    addr_key = np.zeros(len(addresses), dtype="int64")
    row_key = np.zeros(len(rows), dtype="int64")
    addr_bad = np.zeros(len(addresses), dtype=bool)
    row_bad = np.zeros(len(rows), dtype=bool)
    span = 1  # number of distinct combined keys possible so far
    for column, canonical in (
        ("vejnavn", street_key),
        ("husnr", house_number_key),
        ("postnr", postcode_key),
    ):
        a, r = arrowtext.shared_codes(addresses[column], rows[column], canonical)
        size = int(max(a.max(initial=-1), r.max(initial=-1))) + 1
        span *= max(size, 1)
        # Streets x 999 numbers and letters x 10,000 postcodes: far below 2**62 for any register.
        if span >= 2**62:
            raise OverflowError("address keys do not fit in 64 bits")
        addr_key = addr_key * size + a
        row_key = row_key * size + r
        addr_bad |= a < 0
        row_bad |= r < 0
    addr_key[addr_bad] = -1
    row_key[row_bad] = -1
    return addr_key, row_key


def _first_positions(keys: np.ndarray, value_set: np.ndarray) -> np.ndarray:
    """For every key, the position of its first occurrence in ``value_set`` (-1: absent or -1)."""
    found = pc.index_in(
        pa.array(keys, mask=keys < 0),
        value_set=pa.array(value_set, mask=value_set < 0),
        skip_nulls=True,
    )
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), "int64")


def _unmatched_report(rows: pd.DataFrame, addresses: pd.DataFrame) -> pd.DataFrame:
    """Unmatched rows with the register's closest street in the same postcode, as a hint."""
    report = rows[["source_file", "source_line", "vejnavn", "husnr", "postnr"]].copy()
    report["closest_register_street"] = ""
    report["similarity"] = np.nan
    if report.empty:
        return report.reset_index(drop=True)
    # Distinct (postcode, street) pairs of the register in first-seen order, found on integer
    # codes: a drop_duplicates over millions of text pairs would hash every string.
    postnr_code, _ = arrowtext.dictionary(addresses["postnr"])
    street_code, streets_seen = arrowtext.dictionary(addresses["vejnavn"])
    pair = postnr_code.astype("int64") * (len(streets_seen) + 1) + street_code
    first = np.sort(np.unique(pair, return_index=True)[1])
    streets = pd.DataFrame(
        {
            "postnr": addresses["postnr"].iloc[first].reset_index(drop=True),
            "vejnavn": addresses["vejnavn"].iloc[first].reset_index(drop=True),
        }
    ).assign(key=lambda d: street_key(d["vejnavn"]))
    # Not dict(groupby): a GroupBy has a ``keys`` attribute, which dict() would try to call.
    groups = {p: g for p, g in streets.groupby("postnr", sort=False)}  # noqa: C416
    pairs = report[["postnr", "vejnavn"]].drop_duplicates().reset_index(drop=True)
    pair_keys = street_key(pairs["vejnavn"]).tolist()  # fold every name once, not per pair
    hints: dict[tuple[str, str], tuple[str, float]] = {}
    for (postnr, vejnavn), key in zip(pairs.itertuples(index=False), pair_keys, strict=True):
        candidates = groups.get(postnr)
        if candidates is None:
            continue
        best = process.extractOne(key, candidates["key"].tolist(), scorer=fuzz.ratio)
        if best is not None:
            hints[(postnr, vejnavn)] = (str(candidates["vejnavn"].iloc[best[2]]), float(best[1]))
    found = [
        hints.get((p, v), ("", np.nan))
        for p, v in zip(report["postnr"], report["vejnavn"], strict=False)
    ]
    report["closest_register_street"] = [h[0] for h in found]
    report["similarity"] = [round(h[1], 1) for h in found]
    return report.reset_index(drop=True)
