"""Measurements summarised per DDKN grid cell × operator × technology, with privacy withholding.

Per group: sample count, distinct devices, median and p10 / p90 of download and upload, median RSRP,
the share of RSRP samples at or above a threshold with its Wilson 95 % interval, and the newest
sample time. Quantiles interpolate linearly between order statistics (numpy's default), so the
median of an even count is the mean of the two middle values.

**Privacy**: a group with fewer than 5 samples or fewer than 3 distinct devices could point at a
household. It is withheld from every output: counted (groups and samples), never shown.

Everything is sort- and bincount-based over integer group codes, with no Python loop over groups:
10 million samples aggregate in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.grid import CELL_PREFIX, cell_boxes
from coverage.types import WORK_CRS

#: The privacy rule: fewest samples and distinct devices a published group must have.
MIN_SAMPLES = 5
MIN_DEVICES = 3

#: z for a two-sided 95 % interval.
Z95 = 1.959963984540054

AGGREGATE_COLUMNS = [
    "cell",
    "size",
    "row",
    "col",
    "operator",
    "technology",
    "samples",
    "devices",
    "down_median",
    "down_p10",
    "down_p90",
    "up_median",
    "up_p10",
    "up_p90",
    "rsrp_median",
    "rsrp_samples",
    "rsrp_share",
    "rsrp_share_low",
    "rsrp_share_high",
    "newest",
    "generated",
]


@dataclass
class CellAggregates:
    """Published groups of one cell size, and what was withheld for privacy."""

    cells: pd.DataFrame
    """One row per published cell × operator × technology (:data:`AGGREGATE_COLUMNS`)."""
    size: int
    threshold_rsrp: float
    withheld: int
    """Groups withheld (fewer than 5 samples or 3 devices)."""
    withheld_samples: int
    """Samples in the withheld groups."""

    def geodataframe(self) -> gpd.GeoDataFrame:
        """The published groups with their cell squares, EPSG:25832."""
        boxes = cell_boxes(self.cells["row"].to_numpy(), self.cells["col"].to_numpy(), self.size)
        return gpd.GeoDataFrame(self.cells.copy(), geometry=boxes, crs=WORK_CRS)


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for proportions ``successes / n`` (NaN where n = 0)."""
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(n, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def group_quantiles(
    groups: np.ndarray, values: np.ndarray, n_groups: int, qs: tuple[float, ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-group count of non-NaN values and their linear-interpolated quantiles.

    Values are taken as float32 (the table's precision). Each (group, value) pair is packed into
    one uint64 whose order is group, then value (the float's bits made order-preserving), so a
    single ``np.sort`` (no argsort, no lexsort: 5-10× faster on 10 M rows) puts each group's values
    in order. Quantile ``q`` of a group of ``n`` then sits at position ``start + q (n − 1)``.
    """
    values = np.asarray(values, dtype="float32")
    ok = ~np.isnan(values)
    g = np.asarray(groups)[ok].astype("uint64")
    counts = np.bincount(g.astype("int64"), minlength=n_groups)
    if g.size == 0:
        return counts, [np.full(n_groups, np.nan) for _ in qs]
    packed = np.sort((g << np.uint64(32)) | _sortable_bits(values[ok]).astype("uint64"))
    ordered = _float_from_bits((packed & np.uint64(0xFFFFFFFF)).astype("uint32")).astype("float64")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    last = len(ordered) - 1
    out: list[np.ndarray] = []
    for q in qs:
        pos = starts + q * np.maximum(counts - 1, 0)
        lo = np.minimum(np.floor(pos).astype("int64"), last)
        hi = np.minimum(np.ceil(pos).astype("int64"), last)
        frac = pos - np.floor(pos)
        result = ordered[lo] + (ordered[hi] - ordered[lo]) * frac
        out.append(np.where(has, result, np.nan))
    return counts, out


def _sortable_bits(values: np.ndarray) -> np.ndarray:
    """float32 → uint32 whose unsigned order is the floats' order (negatives flipped)."""
    bits = values.view("uint32")
    negative = (bits & np.uint32(0x80000000)) != 0
    return np.where(negative, ~bits, bits | np.uint32(0x80000000))


def _float_from_bits(bits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_sortable_bits`."""
    positive = (bits & np.uint32(0x80000000)) != 0
    return np.where(positive, bits & np.uint32(0x7FFFFFFF), ~bits).astype("uint32").view("float32")


def aggregate(
    measurements: pd.DataFrame,
    size: int = 100,
    threshold_rsrp: float = -110.0,
    *,
    min_samples: int = MIN_SAMPLES,
    min_devices: int = MIN_DEVICES,
) -> CellAggregates:
    """Aggregate measurements per DDKN cell (100 m or 1 km) × operator × technology.

    ``measurements`` needs ``east, north, operator, technology, device, time, rsrp, down, up``
    (as :func:`~coverage.mobile.measurements.read_measurements` returns; a plain DataFrame will do)
    and may carry ``generated``. Groups below the privacy rule are withheld and only counted.
    """
    if size not in CELL_PREFIX:
        raise ValueError(f"cell size must be one of {sorted(CELL_PREFIX)} m, got {size}")
    m = measurements
    n = len(m)
    if n == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in AGGREGATE_COLUMNS})
        return CellAggregates(empty, size, threshold_rsrp, 0, 0)
    # Temporaries of 10 M rows are 40-80 MB each: build the group key in place, drop as we go.
    key = np.floor_divide(m["north"].to_numpy(dtype="float64"), size).astype("int64")
    r0 = int(key.min())
    key -= r0
    cols = np.floor_divide(m["east"].to_numpy(dtype="float64"), size).astype("int64")
    c0 = int(cols.min())
    cols -= c0
    width = int(cols.max() + 1)
    key *= width
    key += cols
    del cols
    op_codes, op_names = pd.factorize(m["operator"], sort=True)
    tech_codes, tech_names = pd.factorize(m["technology"], sort=True)
    n_ops, n_tech = max(len(op_names), 1), max(len(tech_names), 1)
    key *= n_ops * n_tech
    key += op_codes * n_tech + tech_codes
    del op_codes, tech_codes
    groups, keys = pd.factorize(key, sort=True)
    del key
    groups = groups.astype("int64")
    n_groups = len(keys)

    samples = np.bincount(groups, minlength=n_groups)
    dev_codes, dev_names = pd.factorize(m["device"])
    n_dev = max(len(dev_names), 1)
    # Distinct (group, device) pairs by sort + diff: numpy 2's hash-based np.unique is far slower.
    pairs = groups * n_dev
    pairs += dev_codes
    del dev_codes
    pairs.sort()
    first = np.empty(len(pairs), dtype=bool)
    first[:1] = True
    first[1:] = pairs[1:] != pairs[:-1]
    devices = np.bincount(pairs[first] // n_dev, minlength=n_groups)
    del pairs, first

    published = (samples >= min_samples) & (devices >= min_devices)
    withheld = int((~published).sum())
    withheld_samples = int(samples[~published].sum())
    # Everything below runs on the published groups only, renumbered 0..n_pub-1: at 100 m most
    # groups of a sparse set are withheld, and per-group arrays over them all would dominate.
    sel = np.flatnonzero(published)
    n_pub = len(sel)
    compact = np.full(n_groups, -1, dtype="int64")
    compact[sel] = np.arange(n_pub)
    keep_sample = published[groups]
    g_pub = compact[groups[keep_sample]]
    stats: dict[str, np.ndarray] = {}
    for name in ("down", "up"):
        values = m[name].to_numpy(dtype="float32", na_value=np.nan)[keep_sample]
        _, (p10, med, p90) = group_quantiles(g_pub, values, n_pub, (0.1, 0.5, 0.9))
        stats[f"{name}_median"], stats[f"{name}_p10"], stats[f"{name}_p90"] = med, p10, p90
    rsrp = m["rsrp"].to_numpy(dtype="float32", na_value=np.nan)[keep_sample]
    rsrp_n, (rsrp_median,) = group_quantiles(g_pub, rsrp, n_pub, (0.5,))
    good = np.bincount(g_pub, weights=(rsrp >= threshold_rsrp) & ~np.isnan(rsrp), minlength=n_pub)
    share_low, share_high = wilson_interval(good, rsrp_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rsrp_n > 0, good / rsrp_n, np.nan)

    time_ns = m["time"].to_numpy(dtype="datetime64[ns]").astype("int64")[keep_sample]
    newest = np.full(n_pub, np.iinfo("int64").min, dtype="int64")
    np.maximum.at(newest, g_pub, time_ns)
    if "generated" in m.columns:
        gen = m["generated"].to_numpy(dtype=bool)[keep_sample]
        generated = np.bincount(g_pub, weights=gen, minlength=n_pub) > 0
    else:
        generated = np.zeros(n_pub, dtype=bool)

    keys = np.asarray(keys, dtype="int64")[sel]
    cell_index = keys // (n_ops * n_tech)
    combo = keys % (n_ops * n_tech)
    out_rows = cell_index // width + r0
    out_cols = cell_index % width + c0
    prefix = CELL_PREFIX[size]
    cells = pd.DataFrame(
        {
            "cell": _cell_names(prefix, out_rows, out_cols),
            "size": size,
            "row": out_rows,
            "col": out_cols,
            "operator": pd.array(np.asarray(op_names, dtype=object)[combo // n_tech], "string"),
            "technology": pd.array(np.asarray(tech_names, dtype=object)[combo % n_tech], "string"),
            "samples": samples[sel],
            "devices": devices[sel],
            **{k: v.astype("float32") for k, v in stats.items()},
            "rsrp_median": rsrp_median.astype("float32"),
            "rsrp_samples": rsrp_n,
            "rsrp_share": share,
            "rsrp_share_low": share_low,
            "rsrp_share_high": share_high,
            "newest": pd.to_datetime(newest, utc=True),
            "generated": generated,
        }
    )
    return CellAggregates(
        cells[AGGREGATE_COLUMNS], size, threshold_rsrp, withheld, withheld_samples
    )


def _cell_names(prefix: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """DDKN names (``100m_61868_6025``) from row / column arrays, without a Python loop."""
    head = np.char.add(f"{prefix}_", rows.astype(str))
    return np.char.add(np.char.add(head, "_"), cols.astype(str)).astype(object)


__all__ = [
    "AGGREGATE_COLUMNS",
    "MIN_DEVICES",
    "MIN_SAMPLES",
    "CellAggregates",
    "aggregate",
    "group_quantiles",
    "wilson_interval",
]
