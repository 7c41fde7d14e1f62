"""Offered speeds for generated mapping rows, drawn from the real 2026 mapping of Samsø.

A served row is a whole real row's speed columns, drawn at random, so the joint distribution of
fibre, coax, xDSL, FWA and mobile (fibre 1000/1000 with mobile 200/10, say) is the real one.
Underserved rows (best fixed download below 100 Mbit/s) are rare in the real file (4 of 4,549), too
few to sample from: they get no fibre, coax or FWA, an xDSL speed drawn from the real xDSL offers
below 100 Mbit/s (or none at all), and a mobile pair drawn jointly from the real rows. They are
placed in rural clusters (the k nearest open-land addresses of random seeds), because what is left
unserved in Denmark is rural and comes in patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from coverage.availability import load_profile, read_mapping
from coverage.errors import SourceError
from coverage.quarantine import Quarantine

#: The bundle's mapping columns, in the bundle file's order (the ``bbk-bundle`` profile reads them).
MAPPING_COLUMNS = (
    "vejnavn", "husnr", "postnr", "kommunenavn", "fiber_ned", "fiber_op", "coax_ned", "coax_op",
    "xdsl_ned", "mobil_ned", "mobil_op", "fwa_ned",
)  # fmt: skip
SPEED_COLUMNS = MAPPING_COLUMNS[4:]
_FIXED_DOWN = ("fiber_ned", "coax_ned", "xdsl_ned", "fwa_ned")
_MOBILE = ("mobil_ned", "mobil_op")
#: The speed ceiling that makes an address underserved (best fixed download, Mbit/s).
UNDERSERVED_BELOW = 100.0
#: Share of underserved rows that have some xDSL at all (the rest have no fixed offer).
_XDSL_SHARE = 0.75
#: Addresses per underserved cluster: a gap the size of a few farms to a hamlet.
_CLUSTER_MIN, _CLUSTER_MAX = 10, 50
_FIRST_RADIUS_M = 500.0
_MAX_RADIUS_M = 1e6


@dataclass(frozen=True)
class SpeedProfiles:
    """Speed columns of the real rows (in :data:`SPEED_COLUMNS` order), split for sampling."""

    served: np.ndarray
    """Real rows whose best fixed download is at least 100 Mbit/s, whole rows."""
    mobile: np.ndarray
    """(down, up) mobile pairs of every real row."""
    slow_xdsl: np.ndarray
    """Real xDSL downloads above 0 and below 100 Mbit/s."""
    source: Path
    rows: int


def load_profiles(path: Path, profile: str = "bbk-bundle") -> SpeedProfiles:
    """Read the real mapping through its column profile (the same reader a build uses)."""
    prof = load_profile(profile)
    rows = read_mapping(path, prof, Quarantine()).rows
    to_field = {column: field for field, column in prof.columns.items()}
    missing = [c for c in SPEED_COLUMNS if c not in to_field]
    if missing:
        raise SourceError(path, f"profile {prof.name} maps no column {', '.join(missing)}")
    speeds = np.column_stack(
        [np.nan_to_num(rows[to_field[c]].to_numpy(dtype="float64")) for c in SPEED_COLUMNS]
    )
    col = {c: i for i, c in enumerate(SPEED_COLUMNS)}
    best = speeds[:, [col[c] for c in _FIXED_DOWN]].max(axis=1)
    served = speeds[best >= UNDERSERVED_BELOW]
    xdsl = speeds[:, col["xdsl_ned"]]
    slow = xdsl[(xdsl > 0) & (xdsl < UNDERSERVED_BELOW)]
    if len(served) == 0 or len(slow) == 0:
        raise SourceError(
            path,
            "cannot ground generated speeds: expected rows with fixed download >= 100 and rows "
            "with xDSL below 100 Mbit/s",
        )
    return SpeedProfiles(
        served=served.round().astype("int32"),
        mobile=speeds[:, [col[c] for c in _MOBILE]].round().astype("int32"),
        slow_xdsl=slow.round().astype("int32"),
        source=Path(path),
        rows=len(speeds),
    )


def draw_speeds(
    profiles: SpeedProfiles, underserved: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Speed columns for each row: a real served row, or an underserved row built as described."""
    n = len(underserved)
    out = profiles.served[rng.integers(0, len(profiles.served), size=n)]
    slow = np.flatnonzero(underserved)
    if slow.size:
        col = {c: i for i, c in enumerate(SPEED_COLUMNS)}
        out[slow] = 0
        xdsl = profiles.slow_xdsl[rng.integers(0, len(profiles.slow_xdsl), size=slow.size)]
        out[slow, col["xdsl_ned"]] = np.where(rng.random(slow.size) < _XDSL_SHARE, xdsl, 0)
        mobile = profiles.mobile[rng.integers(0, len(profiles.mobile), size=slow.size)]
        out[slow, col["mobil_ned"]] = mobile[:, 0]
        out[slow, col["mobil_op"]] = mobile[:, 1]
    return out


def pick_underserved(
    east: np.ndarray,
    north: np.ndarray,
    pools: list[np.ndarray],
    target: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mask of ``target`` addresses chosen in spatial clusters.

    ``pools`` are candidate masks from most to least preferred (open land first); the first pool
    large enough is clustered, so a tiny run still gets exactly ``target`` addresses.
    """
    n = len(east)
    chosen = np.zeros(n, dtype=bool)
    if target <= 0:
        return chosen
    pool = next((p for p in pools if p.sum() >= target), pools[-1])
    candidates = np.flatnonzero(pool)
    if candidates.size <= target:
        chosen[candidates] = True
        return chosen
    picked = _clusters(east[candidates], north[candidates], target, rng)
    chosen[candidates[picked]] = True
    return chosen


def _clusters(x: np.ndarray, y: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``target`` points: the k nearest neighbours of random seeds, seed by seed.

    k-nearest is a radius query (STRtree ``dwithin``, all seeds in one call) whose radius doubles for
    the seeds that found fewer than k points, then a sort by (seed, distance).
    """
    n = len(x)
    mean = (_CLUSTER_MIN + _CLUSTER_MAX) / 2
    n_seeds = min(n, int(np.ceil(2 * target / mean)) + 1)  # clusters overlap: provision twice
    seeds = rng.choice(n, size=n_seeds, replace=False)
    k = rng.integers(_CLUSTER_MIN, _CLUSTER_MAX + 1, size=n_seeds)
    points = shapely.points(x, y)
    tree = shapely.STRtree(points)
    radius = np.full(n_seeds, _FIRST_RADIUS_M)
    open_ = np.arange(n_seeds)
    seed_parts, point_parts = [], []
    while open_.size:
        s, p = tree.query(points[seeds[open_]], predicate="dwithin", distance=radius[open_])
        found = np.bincount(s, minlength=open_.size)
        done = (found >= k[open_]) | (radius[open_] >= _MAX_RADIUS_M)
        take = done[s]
        seed_parts.append(open_[s[take]])
        point_parts.append(p[take])
        open_ = open_[~done]
        radius[open_] *= 2
    seed_of = np.concatenate(seed_parts)
    point = np.concatenate(point_parts)
    dist = np.hypot(x[point] - x[seeds[seed_of]], y[point] - y[seeds[seed_of]])
    order = np.lexsort((point, dist, seed_of))
    seed_of, point = seed_of[order], point[order]
    first = np.r_[True, seed_of[1:] != seed_of[:-1]]
    index = np.arange(len(seed_of))
    rank = index - np.maximum.accumulate(np.where(first, index, 0))
    ranked = point[rank < k[seed_of]]
    _, first_seen = np.unique(ranked, return_index=True)
    picked = ranked[np.sort(first_seen)][:target]
    if picked.size < target:  # the clusters overlapped more than provisioned: top up at random
        rest = np.setdiff1d(np.arange(n), picked)
        picked = np.concatenate([picked, rng.choice(rest, target - picked.size, replace=False)])
    return picked
