"""Reading delimited text the way official Danish exports come: any encoding, any separator.

Every column is read as text; the readers that call this decide what a valid value is, so a bad
number becomes a quarantined row with its line number instead of a failed file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from coverage.errors import SourceError

#: Bytes sampled to guess the encoding and the separator.
_SNIFF_BYTES = 1 << 20


@dataclass
class CsvTable:
    """A delimited file read as text, with the physical line of every kept row."""

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str
    delimiter: str
    bad_lines: list[tuple[int, str]]
    """Lines that could not be split into the header's columns: (line number, reason)."""


def _header_encoding(sample: bytes) -> str:
    """Encoding guess from the first bytes: BOM → UTF-8-sig; the header line decides UTF-8 vs 1252.

    The whole file is not decoded here: Arrow validates UTF-8 while parsing and the reader retries
    as Windows-1252 when it finds an invalid byte (an æ far down a Latin-1 file is enough).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    first_line = sample.split(b"\n", 1)[0]
    try:
        first_line.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def detect_delimiter(header: str) -> str:
    """The separator used by the header line: ``;``, tab or ``,``."""
    counts = {d: header.count(d) for d in (";", "\t", ",", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_text_csv(
    path: str | Path,
    *,
    required: list[str] | None = None,
    columns: list[str] | None = None,
    what: str = "file",
) -> CsvTable:
    """Read a CSV as text columns, detecting encoding and separator.

    ``columns`` limits what is parsed to the columns a reader uses (absent ones are simply left
    out); the rest of each line is skipped by Arrow, which saves time and memory on big registers.
    Raises :class:`SourceError` when the file is missing, empty, has no header or lacks a required
    column. Rows with the wrong number of fields (a truncated last line, a stray separator) are not
    fatal: they are returned in ``bad_lines`` for the quarantine.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(path, f"{what} not found")
    if path.is_dir():
        raise SourceError(path, f"{what} is a folder, expected a CSV file")
    with path.open("rb") as handle:
        sample = handle.read(_SNIFF_BYTES)
    if not sample.strip(b" \t\r\n\xef\xbb\xbf"):
        raise SourceError(path, f"{what} is empty: expected a header line and rows")
    encoding = _header_encoding(sample)
    first_line = sample.split(b"\n", 1)[0].decode(
        "utf-8-sig" if encoding.startswith("utf-8") else encoding, errors="replace"
    )
    delimiter = detect_delimiter(first_line)
    header = [h.strip().strip('"').strip() for h in first_line.split(delimiter)]
    if not any(header):
        raise SourceError(path, f"{what} has no header line")
    missing = [c for c in (required or []) if c not in header]
    if missing:
        raise SourceError(
            path,
            f"{what} lacks required column(s) {', '.join(missing)}; "
            f"found {', '.join(h for h in header if h) or 'none'} (separator {delimiter!r})",
        )
    wanted = header if columns is None else [c for c in header if c in set(columns)]
    # Arrow needs unique names; a repeated header name is renamed by position and never "wanted".
    names = [h if header.index(h) == i else f"{h}#{i}" for i, h in enumerate(header)]

    try:
        table, bad_lines = _parse(path, names, wanted, delimiter, encoding)
    except pa.ArrowInvalid as exc:
        if encoding.startswith("utf-8"):
            # A BOM or a UTF-8 header does not prove the rest: retry as an older 1252 export.
            # (Arrow reports an invalid byte either as a UTF8 error or, on a line with the wrong
            # field count, as a parse error raised before the row handler can be called.)
            encoding = "cp1252"  # valid header, an invalid byte further down: an older export
            try:
                table, bad_lines = _parse(path, names, wanted, delimiter, encoding)
            except pa.ArrowInvalid as again:
                raise SourceError(path, f"{what} cannot be read as CSV: {again}") from None
        else:
            raise SourceError(path, f"{what} cannot be read as CSV: {exc}") from None

    # Trim in Arrow, then hand pandas Arrow-backed strings: no Python string objects are made.
    # Column by column, dropping each raw column as soon as its trimmed copy exists, so a big
    # register never holds two full copies of its text.
    n_rows = table.num_rows
    raw = list(table.columns)
    del table
    blank = np.ones(n_rows, dtype=bool)
    arrays = {}
    for name in wanted:
        col = pc.utf8_trim_whitespace(raw.pop(0))
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        # Blank lines come through as all-empty rows: they are not data.
        blank &= pc.equal(col, "").to_numpy(zero_copy_only=False)
        arrays[name] = pd.arrays.ArrowStringArray(col)
    frame = pd.DataFrame(arrays)
    del arrays
    # Physical line of each kept row: header is line 1, rows follow; skipped lines keep their slot.
    skipped = sorted(n for n, _ in bad_lines if n > 0)
    total = len(frame) + len(bad_lines)
    all_lines = np.arange(2, total + 2, dtype="int64")
    lines = np.setdiff1d(all_lines, np.asarray(skipped, dtype="int64"), assume_unique=True)
    if len(lines) != len(frame):  # pyarrow could not number a skipped row: fall back honestly
        lines = np.arange(2, len(frame) + 2, dtype="int64")
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    reported = [(n, reason) for n, reason in bad_lines if reason]
    return CsvTable(path, frame, lines, encoding, delimiter, reported)


def _parse(
    path: Path, names: list[str], wanted: list[str], delimiter: str, encoding: str
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """One Arrow parse of the file; lines with the wrong field count are collected, not fatal."""
    bad_lines: list[tuple[int, str]] = []
    width = len(names)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        # Blank lines are not data; they still count for line numbers. A line whose bytes do not
        # decode in the assumed encoding still counts as a present (non-blank) line.
        try:
            text_row = (row.text or "").strip()
        except UnicodeDecodeError:
            text_row = "?"
        number = int(row.number) if row.number is not None else -1
        if text_row:
            bad_lines.append(
                (
                    number,
                    f"line has {row.actual_columns} fields, the header has {width}"
                    + (" (truncated line?)" if row.actual_columns < width else ""),
                )
            )
        else:
            bad_lines.append((number, ""))
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding="utf8" if encoding.startswith("utf-8") else encoding,
            # Line numbers of rejected rows are only known when parsing is sequential.
            use_threads=False,
            column_names=names,
            skip_rows=1,
            block_size=16 << 20,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            invalid_row_handler=on_invalid,
            ignore_empty_lines=False,
            newlines_in_values=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(wanted, pa.string()),
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad_lines
