"""Where the heavy stages run: ``local`` (this process) or ``dask`` (a cluster), same results.

The heavy stages are the mapping join with the assessment, the underserved zones, and the
aggregation of mobile measurements. An :class:`Engine` runs them; both engines give identical
tables (same rows, order, values, dtypes and category order), which ``tests/test_dask.py`` checks
on the real Samsø release and on a crafted multi-municipality one.

* :class:`LocalEngine` calls the library functions on whole tables, as ``netkort assess``,
  ``netkort zones`` and ``netkort mobile aggregate`` do.
* :class:`~coverage.distributed.DaskEngine` (``coverage.distributed``) reads pieces of the
  release's GeoParquet tables on the workers and calls the same functions per partition. It is
  imported only when asked for, so the command line does not pay for importing Dask.

The engine-neutral building blocks of partitioned work live here too: a :class:`Piece` of a
GeoParquet table (some row groups, one municipality) read with each row's position in the table,
and :func:`concat_like`, which puts partition results back in table order with the local dtypes.

    with open_engine("dask", scheduler="tcp://scheduler-host:8786") as engine:
        assessments = engine.assess(release, [get_rule_set("2025")])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from coverage.assess import assess_many
from coverage.errors import ConfigError, InvalidRequestError, SourceError
from coverage.export import build_layers, resolve_municipalities
from coverage.mobile.aggregate import CellAggregates, aggregate
from coverage.mobile.measurements import read_measurements
from coverage.planning import read_zone_layer
from coverage.quarantine import Quarantine
from coverage.release import Release
from coverage.rules import RuleSet
from coverage.stats import read_release_tables

#: The engines a user can choose.
ENGINES = ("local", "dask")

#: Suffixes of measurement files in a folder.
MEASUREMENT_SUFFIXES = (".parquet", ".geoparquet", ".pq", ".csv")


class Engine(Protocol):
    """The heavy stages. Every engine gives the :class:`LocalEngine`'s results exactly."""

    name: str

    def assess(
        self,
        release: Release,
        rule_sets: Sequence[RuleSet],
        *,
        municipalities: list[str] | None = None,
        zone_layer: Path | None = None,
        zone_field: str | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Assessments keyed by rule set id, one row per address of the release (of the
        ``municipalities`` given as codes or names, when given) in the release's order."""
        ...

    def zones(
        self,
        release: Release,
        rules: RuleSet,
        *,
        municipalities: list[str] | None = None,
        fixed_below: str | None = None,
        mobile_below: float | None = None,
        join_distance: float | None = 200.0,
    ) -> gpd.GeoDataFrame:
        """Underserved zones (:func:`coverage.zones.underserved_zones`) of the addresses that are
        eligible under ``rules``, or under the thresholds when given."""
        ...

    def aggregate(
        self, files: Sequence[Path], *, size: int = 100, threshold_rsrp: float = -110.0
    ) -> CellAggregates:
        """Measurement aggregates per DDKN cell × operator × technology over all ``files``."""
        ...

    def close(self) -> None:
        """Release what the engine holds (a cluster, a connection)."""
        ...


class LocalEngine:
    """The heavy stages in this process, on whole tables: the reference results."""

    name = "local"

    def assess(
        self,
        release: Release,
        rule_sets: Sequence[RuleSet],
        *,
        municipalities: list[str] | None = None,
        zone_layer: Path | None = None,
        zone_field: str | None = None,
    ) -> dict[str, pd.DataFrame]:
        """:func:`coverage.assess.assess_many` over the release's addresses (as ``netkort assess``)."""
        layer = read_zone_layer(zone_layer, zone_field) if zone_layer is not None else None
        tables = read_release_tables(release, geometry=layer is not None)
        addresses = tables.addresses
        codes = resolve_municipalities(tables.municipalities, municipalities)
        if codes is not None:
            addresses = addresses[addresses["kommunekode"].isin(codes)].reset_index(drop=True)
        return assess_many(addresses, tables.availability, list(rule_sets), layer)

    def zones(
        self,
        release: Release,
        rules: RuleSet,
        *,
        municipalities: list[str] | None = None,
        fixed_below: str | None = None,
        mobile_below: float | None = None,
        join_distance: float | None = 200.0,
    ) -> gpd.GeoDataFrame:
        """The ``zones`` layer of :func:`coverage.export.build_layers` (as ``netkort zones``)."""
        layers = build_layers(
            release,
            "zones",
            rules,
            municipalities,
            fixed_below,
            mobile_below,
            join_distance=join_distance,
        )
        zones = layers["zones"]
        assert isinstance(zones, gpd.GeoDataFrame)
        return zones

    def aggregate(
        self, files: Sequence[Path], *, size: int = 100, threshold_rsrp: float = -110.0
    ) -> CellAggregates:
        """:func:`coverage.mobile.aggregate.aggregate` over every file, each validated on reading."""
        frames = [read_measurements(f, Quarantine()) for f in files]
        samples = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return aggregate(samples, size, threshold_rsrp)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def open_engine(
    name: str,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    partitions: int | None = None,
    processes: bool = True,
) -> Iterator[Engine]:
    """An engine by name, closed (with any LocalCluster it started) when the block ends.

    ``scheduler``, ``workers``, ``partitions`` and ``processes`` are for ``dask`` (see
    :meth:`~coverage.distributed.DaskEngine.connect`); giving them to ``local`` is a mistake.
    """
    if name not in ENGINES:
        raise InvalidRequestError(f"--engine {name!r}: expected one of {', '.join(ENGINES)}")
    if name == "local":
        given = [o for o, v in (("--scheduler", scheduler), ("--workers", workers),
                                ("--partitions", partitions)) if v is not None]  # fmt: skip
        if given:
            raise ConfigError(
                f"{', '.join(given)}: only for --engine dask (this is --engine local)"
            )
        yield LocalEngine()
        return
    try:
        from coverage.distributed import DaskEngine
    except ImportError as exc:  # pragma: no cover - dask is in requirements.lock
        raise ConfigError(
            f"--engine dask needs dask, distributed and dask-geopandas: {exc}"
        ) from None
    engine = DaskEngine.connect(
        scheduler, workers=workers, partitions=partitions, processes=processes
    )
    try:
        yield engine
    finally:
        engine.close()


def municipality_codes(release: Release, wanted: list[str] | None = None) -> list[str]:
    """Codes of the municipalities to work on: those asked for (codes or names), else every code
    the release's addresses carry; an unknown name raises :class:`~coverage.errors.NotFoundError`.
    """
    munis = pd.read_parquet(
        release.table_path("municipalities"), columns=["kommunekode", "kommunenavn"]
    )
    chosen = resolve_municipalities(munis, wanted)
    if chosen is not None:
        return chosen
    # One dictionary-encoded column: cheap even for the whole country.
    codes = pd.read_parquet(release.table_path("addresses"), columns=["kommunekode"])
    return sorted(codes["kommunekode"].dropna().astype(str).unique().tolist())


def measurement_files(path: Path) -> list[Path]:
    """A measurement file, or every measurement file in a folder (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.lower().endswith(MEASUREMENT_SUFFIXES))
        if not files:
            raise SourceError(
                path,
                f"no measurement files in this folder (expected {', '.join(MEASUREMENT_SUFFIXES)})",
            )
        return files
    if not path.exists():
        raise SourceError(path, "measurement file not found")
    return [path]


#: Column holding a row's position in its release table (addresses) / in the mapping table.
ROW, MAPPING_ROW = "_row", "_mapping_row"


# --------------------------------------------------------------------------------------------------
# Pieces of a GeoParquet table, read by the worker that runs the task


@dataclass(frozen=True)
class Piece:
    """Rows of one Parquet file a task reads: some row groups, optionally one municipality."""

    path: str
    row_groups: tuple[int, ...]
    offsets: tuple[int, ...]
    """Position in the whole table of each row group's first row."""
    columns: tuple[str, ...]
    kommunekode: str | None = None
    """Keep only this municipality's rows (None: every row)."""
    row_column: str = ROW
    drop_null: str | None = None
    """Drop rows where this column is null (mapping rows that matched no address)."""
    rename: tuple[tuple[str, str], ...] = ()


def read_piece(piece: Piece) -> pd.DataFrame:
    """Read a piece: a GeoDataFrame when it has a geometry column, with its rows' positions.

    Columns come back with the dtypes :func:`geopandas.read_parquet` / :func:`pandas.read_parquet`
    give (the file's pandas metadata is kept); only the selected rows' geometries are decoded.
    """
    try:
        if piece.row_groups:
            parquet = pq.ParquetFile(piece.path)
            tables, rows = [], []
            for group, offset in zip(piece.row_groups, piece.offsets, strict=True):
                table = parquet.read_row_group(group, columns=list(piece.columns))
                keep = np.ones(table.num_rows, dtype=bool)
                if piece.kommunekode is not None:
                    same = pc.equal(table["kommunekode"], pa.scalar(piece.kommunekode))
                    keep &= pc.fill_null(same, False).to_numpy(zero_copy_only=False)
                if piece.drop_null is not None:
                    keep &= table[piece.drop_null].is_valid().to_numpy(zero_copy_only=False)
                tables.append(table.filter(pa.array(keep)))
                rows.append(offset + np.flatnonzero(keep))
            table = pa.concat_tables(tables)
            positions = np.concatenate(rows).astype("int64")
        else:  # no rows: the schema alone (the partitions' template)
            table = pq.read_schema(piece.path).empty_table().select(list(piece.columns))
            positions = np.empty(0, dtype="int64")
    except OSError as exc:
        # On a cluster this is nearly always storage a worker cannot see.
        raise ConfigError(
            f"{piece.path}: cannot be read here ({exc}); every worker must see NETKORT_HOME at "
            "the same path (shared storage)"
        ) from None
    frame = _to_pandas(table)
    frame[piece.row_column] = positions
    return frame.rename(columns=dict(piece.rename)) if piece.rename else frame


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    geo = table.schema.metadata and b"geo" in table.schema.metadata
    if geo and "geometry" in table.column_names:
        return gpd.GeoDataFrame.from_arrow(table)
    return table.to_pandas()


def municipality_pieces(path: Path, columns: Sequence[str], codes: Sequence[str]) -> list[Piece]:
    """One piece per municipality code, each listing only the row groups that can hold it.

    A file written sorted by municipality in row groups of ~100,000 rows lets each task read only
    its own; with one row group (small releases) every task reads it and keeps its rows.
    """
    meta = pq.ParquetFile(path).metadata
    offsets = np.concatenate(
        [[0], np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])]
    )
    # The Parquet column (not the Arrow field: nested columns such as the bbox covering count
    # once per leaf) whose statistics tell which codes a row group holds.
    paths = [meta.schema.column(j).path for j in range(meta.num_columns)]
    at = paths.index("kommunekode")
    pieces = []
    for code in codes:
        groups = [
            i for i in range(meta.num_row_groups) if _may_hold(meta.row_group(i).column(at), code)
        ]
        pieces.append(
            Piece(
                str(path),
                tuple(groups),
                tuple(int(offsets[i]) for i in groups),
                tuple(columns),
                kommunekode=code,
            )
        )
    return pieces


def _may_hold(column: pq.ColumnChunkMetaData, code: str) -> bool:
    stats = column.statistics
    if stats is None or not stats.has_min_max:
        return True
    low, high = stats.min, stats.max
    low = low.decode() if isinstance(low, bytes) else low
    high = high.decode() if isinstance(high, bytes) else high
    return bool(low <= code <= high)


def row_group_pieces(path: Path, columns: Sequence[str], **options: Any) -> list[Piece]:
    """One piece per row group of a file (``options`` as :class:`Piece` takes them)."""
    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [
        Piece(str(path), (i,), (int(offsets[i]),), tuple(columns), **options)
        for i in range(meta.num_row_groups)
    ] or [Piece(str(path), (), (), tuple(columns), **options)]


def schema_only(piece: Piece) -> Piece:
    """The piece without rows: reading it gives an empty frame with the piece's columns and dtypes
    (the template Dask needs for a collection of such pieces)."""
    return replace(piece, row_groups=(), offsets=())


# --------------------------------------------------------------------------------------------------
# Putting the pieces back together on the client


def concat_like(
    template: pd.DataFrame, frames: list[pd.DataFrame], order: np.ndarray
) -> pd.DataFrame:
    """Concatenate partition results, put rows in ``order``, and give every column the dtype and
    the category order of the local result (``template`` is the assessment of no addresses)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return template
    columns: dict[str, Any] = {}
    for name in template.columns:
        dtype = template[name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            joined = union_categoricals([f[name] for f in frames], sort_categories=False)
            joined = joined.take(order)
            if len(dtype.categories):  # a fixed list (classes, zones, outcomes): as the local one
                columns[name] = joined.set_categories(dtype.categories)
            else:  # text: categories in order of first appearance, as Arrow's dictionary encoder
                codes = joined.codes
                used = pd.unique(codes[codes >= 0])
                remap = np.full(len(joined.categories) + 1, -1, dtype=codes.dtype)
                remap[used] = np.arange(len(used), dtype=codes.dtype)
                columns[name] = pd.Categorical.from_codes(
                    remap[codes], categories=joined.categories[used]
                )
        else:
            values = pd.concat([f[name] for f in frames], ignore_index=True)
            columns[name] = values.take(order).reset_index(drop=True)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(order)))


__all__ = [
    "ENGINES",
    "MAPPING_ROW",
    "ROW",
    "Engine",
    "LocalEngine",
    "Piece",
    "concat_like",
    "measurement_files",
    "municipality_codes",
    "municipality_pieces",
    "open_engine",
    "read_piece",
    "row_group_pieces",
    "schema_only",
]
