"""The Dask engine: the heavy stages on a cluster, with the same results as the local engine.

Workers read their own pieces of the release's GeoParquet tables (nothing big is sent from the
client), Dask moves rows between them with hash shuffles, and every partition is handed to the
**same** library function the local engine calls on the whole table:

========================  ========================================================================
stage                     how it is split
========================  ========================================================================
mapping join, assessment  addresses are read one municipality per partition (row groups whose
                          ``kommunekode`` statistics exclude it are skipped), the mapping rows one
                          row group per partition; a join on the register id (a broadcast of a
                          one-partition mapping table, else a hash shuffle) puts each address
                          beside its row; :func:`coverage.assess.assess_many` per partition
zones                     the selected addresses (eligible, or under a threshold) are shuffled by
                          municipality and :func:`coverage.zones.underserved_zones` runs per
                          partition: zones never cross a municipality border, so nothing is cut
measurement aggregation   each file is validated on a worker by
                          :func:`~coverage.mobile.measurements.read_measurements`, samples are
                          shuffled by DDKN cell so every cell × operator × technology group lives
                          in one partition, then :func:`~coverage.mobile.aggregate.aggregate` runs
                          per partition (medians and percentiles are not decomposable: a group is
                          never split)
========================  ========================================================================

Identical means identical: each row carries its position in the release table, and the client puts
the pieces back in that order, with the categories of every categorical column in the order the
local engine gives them (fixed lists stay fixed, text categories in order of first appearance).
"""

from __future__ import annotations

import copyreg
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import dask_geopandas  # noqa: F401  (registers GeoDataFrame partitions with dask.dataframe)
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.delayed import delayed
from distributed import Client, LocalCluster
from distributed.comm import parse_address
from distributed.comm.addressing import parse_host_port

from coverage.assess import assess, assess_many
from coverage.engine import (
    MAPPING_ROW,
    ROW,
    Piece,
    concat_like,
    municipality_codes,
    municipality_pieces,
    read_piece,
    row_group_pieces,
    schema_only,
)
from coverage.errors import ConfigError, ManifestError, NotFoundError, SourceError
from coverage.mobile.aggregate import CellAggregates, aggregate
from coverage.mobile.measurements import read_measurements
from coverage.planning import read_zone_layer
from coverage.quarantine import Quarantine
from coverage.release import Release
from coverage.rules import RuleSet
from coverage.zones import eligible_mask, threshold_label, threshold_mask, underserved_zones

_MAPPING_GENERATED = "_mapping_generated"
_SPEEDS = [f"{t}_{d}" for t in ("fiber", "coax", "xdsl", "fwa", "mobile") for d in ("down", "up")]
#: Address columns the assessment reads; zones also read the name and the point.
_ASSESS_COLUMNS = ["id", "kommunekode", "zone", "generated"]
_ZONE_COLUMNS = [*_ASSESS_COLUMNS, "kommunenavn", "geometry"]
#: Assessment columns the zones read, carried beside the selected addresses.
_ZONE_ASSESSMENT = ["class", "best_down", "mobile_down", "zone", "generated"]
#: Measurement columns :func:`coverage.mobile.aggregate.aggregate` reads; only these are shuffled.
_MEASURED = ["east", "north", "operator", "technology", "device", "time", "rsrp", "down", "up"]
_CELL = "_cell"

# Strings keep pandas' own dtypes (as a local read gives them; Dask would turn them into Arrow
# strings). The task-based shuffle is ample for a region's million rows; Dask's p2p shuffle is
# the one to try for tens of millions (results do not depend on the method).
_CONFIG = {"dataframe.convert-string": False, "dataframe.shuffle.method": "tasks"}


def _reduce_source_error(exc: SourceError) -> tuple[Any, tuple[str, str]]:
    return type(exc), (exc.path, exc.problem)


def _reduce_not_found(exc: NotFoundError) -> tuple[Any, tuple[str, list[dict[str, str]]]]:
    return type(exc), (str(exc), exc.suggestions)


# A worker's exception travels to the client pickled; these two take two arguments, which the
# default pickling of exceptions (one message) would lose, so the client would get a TypeError.
for _cls in (SourceError, ManifestError):
    copyreg.pickle(_cls, _reduce_source_error)
copyreg.pickle(NotFoundError, _reduce_not_found)


def _from_pieces(pieces: list[Piece], label: str) -> dd.DataFrame:
    meta = read_piece(schema_only(pieces[0]))
    return dd.from_map(read_piece, pieces, meta=meta, label=label, enforce_metadata=False)


# --------------------------------------------------------------------------------------------------
# The engine


class DaskEngine:
    """Runs the heavy stages on a Dask cluster: a scheduler's address, or a LocalCluster.

    Use as a context manager, or call :meth:`close`; a LocalCluster it started is shut down too.
    ``partitions`` is how many partitions a shuffle makes (default: twice the workers).
    """

    name = "dask"

    def __init__(self, client: Client, *, cluster: LocalCluster | None = None,
                 partitions: int | None = None) -> None:  # fmt: skip
        self.client = client
        self.cluster = cluster
        workers = max(len(client.nthreads()), 1)
        self.partitions = partitions or 2 * workers

    @classmethod
    def connect(
        cls,
        scheduler: str | None = None,
        *,
        workers: int | None = None,
        processes: bool = True,
        partitions: int | None = None,
        timeout: float = 10.0,
    ) -> DaskEngine:
        """Connect to ``scheduler`` (``tcp://host:8786`` or a scheduler JSON file) or start a
        LocalCluster on 127.0.0.1 with ``workers`` single-threaded workers (default 2).

        Raises :class:`~coverage.errors.ConfigError` when the scheduler cannot be reached or its
        workers do not run the same netkort and library versions as this process.
        """
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers {workers}: need at least 1 worker")
        cluster = None
        try:
            if scheduler:
                if scheduler.endswith(".json") and Path(scheduler).is_file():
                    client = Client(scheduler_file=scheduler, timeout=timeout, set_as_default=False)
                else:
                    _check_address(scheduler)
                    client = Client(scheduler, timeout=timeout, set_as_default=False)
            else:
                # Worker processes talk over loopback only; threads need no network at all.
                where = {"host": "127.0.0.1"} if processes else {}
                cluster = LocalCluster(
                    n_workers=workers or 2,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.CRITICAL,  # a user mistake is one line, not a log
                    **where,
                )
                client = Client(cluster, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            raise ConfigError(
                f"--scheduler {scheduler!r}: cannot reach a Dask scheduler ({exc}); start one with "
                "`dask scheduler`, or leave --scheduler out to run a local cluster"
            ) from None
        engine = cls(client, cluster=cluster, partitions=partitions)
        try:
            engine.check_workers()
        except BaseException:
            engine.close()
            raise
        return engine

    def check_workers(self, expected: dict[str, str] | None = None) -> None:
        """Every worker must import netkort and run the libraries this process runs.

        Geometry results depend on GEOS, and text on pandas / pyarrow: a mixed cluster could give
        results that differ from the local engine's, so it is refused. ``expected`` defaults to
        this process's :func:`library_versions`.
        """
        mine = expected or library_versions()
        try:
            theirs = self.client.run(library_versions)
        except Exception as exc:  # a worker without netkort fails to unpickle the function
            raise ConfigError(
                f"the Dask workers cannot run netkort ({type(exc).__name__}: {exc}); install the "
                "same netkort and requirements.lock on every worker"
            ) from None
        for worker, versions in theirs.items():
            differ = {k: (v, versions.get(k)) for k, v in mine.items() if versions.get(k) != v}
            if differ:
                listed = ", ".join(f"{k} {a} here, {b} there" for k, (a, b) in differ.items())
                raise ConfigError(
                    f"Dask worker {worker} runs other versions ({listed}); install the same "
                    "requirements.lock on every worker"
                )

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster if this engine started it."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _compute(self, tasks: list[Any]) -> list[Any]:
        with dask.config.set(_CONFIG):
            return list(self.client.gather(self.client.compute(tasks)))

    # -- mapping join and assessment --------------------------------------------------------------

    def _joined(self, release: Release, codes: list[str], columns: list[str]) -> dd.DataFrame:
        """Addresses (one municipality per partition) left-joined to their mapping row by id."""
        addresses = _from_pieces(
            municipality_pieces(_absolute(release.table_path("addresses")), columns, codes),
            "netkort-addresses",
        )
        mapping_path = _absolute(release.table_path("availability"))
        present = set(pq.read_schema(mapping_path).names)
        mapping = _from_pieces(
            row_group_pieces(
                mapping_path,
                ["address_id", *(s for s in _SPEEDS if s in present), "generated"],
                row_column=MAPPING_ROW,
                drop_null="address_id",
                rename=(("generated", _MAPPING_GENERATED),),
            ),
            "netkort-mapping",
        )
        return addresses.merge(
            mapping,
            how="left",
            left_on="id",
            right_on="address_id",
            npartitions=max(addresses.npartitions, self.partitions),
        )

    def assess(
        self,
        release: Release,
        rule_sets: Sequence[RuleSet],
        *,
        municipalities: list[str] | None = None,
        zone_layer: Path | None = None,
        zone_field: str | None = None,
    ) -> dict[str, pd.DataFrame]:
        """As :meth:`coverage.engine.LocalEngine.assess`, one partition per municipality."""
        rule_sets = list(rule_sets)
        codes = municipality_codes(release, municipalities)
        with dask.config.set(_CONFIG):
            columns = [*_ASSESS_COLUMNS, *(["geometry"] if zone_layer else [])]
            joined = self._joined(release, codes, columns)
            # The zone layer is read once, by a worker, and handed to the others.
            layer = (
                delayed(read_zone_layer, pure=True)(str(_absolute(zone_layer)), zone_field)
                if zone_layer
                else None
            )
            parts = [
                delayed(_assess_partition)(part, rule_sets, layer) for part in joined.to_delayed()
            ]
            template = _assess_partition(joined._meta, rule_sets, None)[1]
        results = self._compute(parts)
        rows = np.concatenate([r for r, _ in results]) if results else np.empty(0, "int64")
        order = np.argsort(rows, kind="stable")
        return {
            key: concat_like(template[key], [frames[key] for _, frames in results], order)
            for key in template
        }

    # -- zones ------------------------------------------------------------------------------------

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
        """As :meth:`coverage.engine.LocalEngine.zones`: zones per municipality partition."""
        codes = municipality_codes(release, municipalities)
        thresholds = fixed_below is not None or mobile_below is not None
        label = threshold_label(fixed_below, mobile_below) if thresholds else str(rules.id)
        with dask.config.set(_CONFIG):
            joined = self._joined(release, codes, _ZONE_COLUMNS)
            meta = _select_partition(joined._meta, rules, fixed_below, mobile_below)
            # Every argument is checked here, on empty input, before any task is sent.
            template = _zones_partition(meta, None, label, join_distance)
            selected = joined.map_partitions(
                _select_partition, rules, fixed_below, mobile_below, meta=meta
            )
            by_municipality = selected.shuffle(
                on="kommunekode", npartitions=max(1, min(len(codes), self.partitions))
            )
            municipalities = delayed(_read_municipalities, pure=True)(
                str(_absolute(release.table_path("municipalities"))), codes
            )
            parts = [
                delayed(_zones_partition)(part, municipalities, label, join_distance)
                for part in by_municipality.to_delayed()
            ]
        found = [z for z in self._compute(parts) if len(z)]
        if not found:
            return template
        zones = pd.concat(found, ignore_index=True)
        # The local order: by municipality, then the anchor cell's row and column.
        anchor = zones["anchor_cell"].str.split("_", expand=True)
        key = pd.DataFrame(
            {
                "k": zones["kommunekode"],
                "r": anchor[1].astype("int64"),
                "c": anchor[2].astype("int64"),
            }
        )
        order = key.sort_values(["k", "r", "c"], kind="stable").index.to_numpy()
        result = zones.take(order).reset_index(drop=True)
        result.attrs["geometry_type"] = "MultiPolygon"
        return result

    # -- measurement aggregation ------------------------------------------------------------------

    def aggregate(
        self, files: Sequence[Path], *, size: int = 100, threshold_rsrp: float = -110.0
    ) -> CellAggregates:
        """As :meth:`coverage.engine.LocalEngine.aggregate`: one partition per file, then a
        shuffle by cell so no group is split."""
        aggregate(_measurement_meta(), size, threshold_rsrp)  # checks the size before any task
        with dask.config.set(_CONFIG):
            samples = dd.from_map(
                _read_measurement_partition,
                [str(_absolute(f)) for f in files],
                size=size,
                meta=_measurement_meta(with_cell=True),
                label="netkort-measurements",
                enforce_metadata=False,
            )
            by_cell = samples.shuffle(on=_CELL, npartitions=self.partitions)
            parts = [
                delayed(_aggregate_partition)(part, size, threshold_rsrp)
                for part in by_cell.to_delayed()
            ]
        results = self._compute(parts)
        frames = [cells.cells for rows, cells in results if rows]
        if not frames:
            return results[0][1]
        cells = pd.concat(frames, ignore_index=True)
        cells = cells.sort_values(["row", "col", "operator", "technology"], kind="stable")
        return CellAggregates(
            cells.reset_index(drop=True),
            size,
            threshold_rsrp,
            sum(c.withheld for _, c in results),
            sum(c.withheld_samples for _, c in results),
        )


# --------------------------------------------------------------------------------------------------
# What runs in a partition (module-level functions: workers import them by name)


def _first_match(joined: pd.DataFrame) -> pd.DataFrame:
    """One row per address, with its first mapping row (the local lookup's rule), in table order."""
    joined = joined.sort_values([ROW, MAPPING_ROW], kind="stable", na_position="last")
    return joined[~joined[ROW].duplicated()]


def _split(joined: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The addresses and their mapping rows, as the assessment takes them."""
    addresses = joined[[c for c in columns if c in joined.columns]].reset_index(drop=True)
    found = joined["address_id"].notna().to_numpy()
    mapping = joined.loc[found, ["address_id", *(s for s in _SPEEDS if s in joined.columns)]]
    mapping = pd.DataFrame(mapping).reset_index(drop=True)
    mapping["generated"] = joined.loc[found, _MAPPING_GENERATED].astype(bool).to_numpy()
    return addresses, mapping


def _assess_partition(
    joined: pd.DataFrame, rule_sets: list[RuleSet], layer: gpd.GeoDataFrame | None
) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    joined = _first_match(joined)
    addresses, mapping = _split(joined, [*_ASSESS_COLUMNS, "geometry"])
    return joined[ROW].to_numpy(dtype="int64"), assess_many(addresses, mapping, rule_sets, layer)


def _select_partition(
    joined: pd.DataFrame, rules: RuleSet, fixed_below: str | None, mobile_below: float | None
) -> gpd.GeoDataFrame:
    """The addresses the zones are built from, with the assessment values the zones read."""
    joined = _first_match(joined)
    addresses, mapping = _split(joined, _ZONE_COLUMNS)
    assessment = assess(addresses, mapping, rules)
    if fixed_below is not None or mobile_below is not None:
        mask = threshold_mask(assessment, fixed_below, mobile_below)
    else:
        mask = eligible_mask(assessment)
    out = addresses.loc[mask].reset_index(drop=True)
    out[ROW] = joined[ROW].to_numpy(dtype="int64")[mask]
    for column in _ZONE_ASSESSMENT:
        values = assessment[column].to_numpy()[mask]
        if isinstance(assessment[column].dtype, pd.CategoricalDtype):
            values = pd.array(values, dtype="string")  # categories differ between partitions
        out[f"_a_{column}"] = values
    return out


def _zones_partition(
    selected: gpd.GeoDataFrame,
    municipalities: gpd.GeoDataFrame | None,
    label: str,
    join_distance: float | None,
) -> gpd.GeoDataFrame:
    selected = selected.sort_values(ROW, kind="stable").reset_index(drop=True)
    addresses = gpd.GeoDataFrame(selected[_ZONE_COLUMNS[:-1]], geometry=selected.geometry)
    assessment = pd.DataFrame({"address_id": selected["id"]})
    for column in _ZONE_ASSESSMENT:
        assessment[column] = selected[f"_a_{column}"]
    if municipalities is None:
        municipalities = gpd.GeoDataFrame({"kommunekode": [], "kommunenavn": []}, geometry=[])
    return underserved_zones(
        addresses,
        np.ones(len(addresses), dtype=bool),
        municipalities,
        assessment=assessment,
        join_distance=join_distance,
        label=label,
    )


def _read_municipalities(path: str, codes: list[str]) -> gpd.GeoDataFrame:
    munis = gpd.read_parquet(path)
    return munis[munis["kommunekode"].isin(codes)].reset_index(drop=True)


def _read_measurement_partition(path: str, size: int) -> pd.DataFrame:
    """One measurement file, validated as the local engine validates it, keyed by DDKN cell."""
    samples = read_measurements(path, Quarantine())
    columns = [*_MEASURED, *(["generated"] if "generated" in samples.columns else [])]
    frame = pd.DataFrame(samples[columns])
    rows = np.floor_divide(frame["north"].to_numpy(dtype="float64"), size).astype("int64")
    cols = np.floor_divide(frame["east"].to_numpy(dtype="float64"), size).astype("int64")
    frame[_CELL] = rows * 10_000_000 + cols  # DDKN columns stay far below 10^7 at any size
    return frame


def _measurement_meta(*, with_cell: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "east": pd.Series(dtype="float64"),
            "north": pd.Series(dtype="float64"),
            "operator": pd.Series(dtype="string"),
            "technology": pd.Series(dtype="string"),
            "device": pd.Series(dtype="string"),
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "rsrp": pd.Series(dtype="float32"),
            "down": pd.Series(dtype="float32"),
            "up": pd.Series(dtype="float32"),
            "generated": pd.Series(dtype="bool"),
        }
    )
    if with_cell:
        frame[_CELL] = pd.Series(dtype="int64")
    return frame


def _aggregate_partition(
    samples: pd.DataFrame, size: int, threshold_rsrp: float
) -> tuple[int, CellAggregates]:
    return len(samples), aggregate(samples.drop(columns=_CELL), size, threshold_rsrp)


def _check_address(address: str) -> None:
    """Refuse a malformed address before a Client is made (a failed one leaves noise behind)."""
    scheme, location = parse_address(address)
    if scheme in ("tcp", "tls", "ws", "wss"):
        try:
            parse_host_port(location)
        except ValueError as exc:
            raise ConfigError(
                f"--scheduler {address!r}: {exc}; expected tcp://HOST:PORT (e.g. "
                "tcp://scheduler-host:8786) or a scheduler file (scheduler.json)"
            ) from None


def _absolute(path: Path | str) -> Path:
    # Workers run elsewhere, from another folder: a relative path would mean something else there.
    return Path(path).absolute()


def library_versions() -> dict[str, str]:
    """Versions that decide results: netkort, Python, pandas, numpy, pyarrow, shapely, GEOS, ..."""
    import platform

    import pyproj
    import shapely

    import coverage

    return {
        "netkort": coverage.__version__,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "geos": shapely.geos_version_string,
        "pyproj": pyproj.__version__,
        "dask": dask.__version__,
    }


__all__ = ["DaskEngine", "library_versions"]
