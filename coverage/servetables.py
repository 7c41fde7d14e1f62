"""A release's address and mapping tables as a service holds them: only the columns something reads,
few-valued texts as categories, no point geometry.

A region's 850,000 addresses and their mapping rows read whole were ~650 MB resident (175 MB of it
shapely points, ~150 MB strings that repeat: streets, towns, municipalities); read this way ~160 MB.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from coverage.addresses import ADDRESS_COLUMNS as RELEASE_ADDRESS_COLUMNS
from coverage.errors import ReleaseError
from coverage.release import Release

#: The address columns a service keeps (tiles, features, statistics and the answer read them); the
#: release's source file and line columns, its point geometry and the 100 m cell names (derived from
#: east / north when an answer shows one: 20 MB of text at region size) are not read.
ADDRESS_COLUMNS = [
    c for c in RELEASE_ADDRESS_COLUMNS if c not in ("source_file", "source_line", "ddkn_m100")
]
#: Mapping columns no lookup, tile, statistic or report reads (row numbers of the build's input).
_MAPPING_UNUSED = frozenset({"row_id", "source_line"})
#: Text columns with few distinct values, read as categories (codes plus each text once): a region's
#: streets, house numbers, towns and municipalities as Arrow strings were ~150 MB, as codes ~20 MB.
_DICTIONARY_COLUMNS = frozenset(
    {
        "vejnavn",
        "husnr",
        "supplerendebynavn",
        "postnr",
        "postnrnavn",
        "kommunekode",
        "kommunenavn",
        "zone",
        "ddkn_km1",
        "ddkn_km10",
        "source_file",
    }
)


def read_columns(
    release: Release,
    name: str,
    columns: list[str] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """The ``columns`` (default: all but ``exclude``) of a release table that it has, few-valued
    texts as categories."""
    path = release.table_path(name)
    try:
        present = pq.read_schema(path).names
        wanted = [c for c in (columns or present) if c in present and c not in exclude]
        table = pq.read_table(
            path, columns=wanted, read_dictionary=[c for c in wanted if c in _DICTIONARY_COLUMNS]
        )
        return table.to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ReleaseError(f"release {release.id}: table {name} cannot be read: {exc}") from None


def read_tables(release: Release) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The release's addresses (:data:`ADDRESS_COLUMNS`) and mapping rows (all but row numbers)."""
    return (
        read_columns(release, "addresses", ADDRESS_COLUMNS),
        read_columns(release, "availability", exclude=_MAPPING_UNUSED),
    )


__all__ = ["ADDRESS_COLUMNS", "read_columns", "read_tables"]
