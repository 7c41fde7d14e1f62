"""What coverage is at these coordinates: one vectorised answer for a batch of points.

A planner's list of businesses, a citizen's click, or five million random points: for each point
the municipality (exact, also at borders), its DDKN 100 m cell, that cell's coverage summary from
the release (addresses, median best fixed download, share ≥ 100 Mbit/s, eligible counts under a
rule set) and the nearest address within ``max_distance`` metres with its class.

The trick that makes millions of points a fraction of a second is that the 100 m DDKN grid *is* the
index. :class:`PointIndex` lays a raster of 100 m cells over the region (EPSG:25832, aligned with
the grid, so raster cells are DDKN cells) and precomputes per cell:

* **municipality**: the code whose polygon holds the whole cell, or "outside" when no polygon
  reaches it, or "border". Polygons are burnt at cell centres (rasterio), their boundaries with
  ``all_touched`` and then grown by one cell, and cells claimed by two polygons are border too; so a
  cell not marked border lies wholly inside one municipality or wholly outside all of them. Only
  points in border cells (a few per cent) get an exact test, ``shapely.intersects_xy`` (the
  predicate ``geopandas.sjoin`` uses) against the prepared polygons each border cell lists as
  candidates (a bit mask per cell), lowest code first, so a point on a shared edge goes to the
  lower code. The loop runs over the municipalities, never over points;
* **addresses**: sorted by cell, with ``start[c]:start[c + 1]`` their slice (a direct-address
  table on the integer cell key: an O(1) lookup with no hashing), and per occupied cell the
  summary. A point's cell is two floor divisions; its summary is one gather;
* **nearest address**: a mask of cells with an address within reach drops most points with one
  gather; for the rest, the point's cell and its neighbours within ``max_distance`` are read from
  the same slices, distances are taken on the candidate pairs and reduced per point with
  ``np.minimum.reduceat``. A point in a town meets a few hundred candidates; the pair arrays are
  processed in bounded chunks.

No geometry object is made per point. Where a point lies in no polygon (the 1:500,000 coastline
cuts off a few real addresses) the municipality falls back to the nearest address's own
``kommunekode``, and ``kommune_source`` says so. The same index answers the CLI (``netkort
points``) and the service (``POST /api/points``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numpy.typing import ArrayLike
from pyproj import Transformer

from coverage.assess import CLASSES, assess_many
from coverage.errors import InvalidRequestError
from coverage.grid import cell_name_array
from coverage.pointraster import (
    BORDER,
    CELL,
    OUTSIDE,
    Grid,
    cell_medians,
    grid_for,
    grow,
    municipality_raster,
    positions,
)
from coverage.release import Release
from coverage.rules import get_rule_set, resolve_rule_sets
from coverage.stats import read_release_tables
from coverage.types import DENMARK_BOUNDS_25832, DENMARK_BOUNDS_LONLAT, WEB_CRS, WORK_CRS

#: Default and largest radius of the nearest-address search, metres.
DEFAULT_DISTANCE = 50.0
MAX_DISTANCE = 500.0
#: CRSs a batch may come in.
POINT_CRSS = (WEB_CRS, WORK_CRS)
#: Where a point's municipality came from.
KOMMUNE_SOURCES = ("polygon", "nearest_address")

#: Columns of an answer, in order.
POINT_COLUMNS = [
    "east", "north", "kommunekode", "kommunenavn", "kommune_source", "ddkn_m100",
    "cell_addresses", "cell_median_down", "cell_share_100", "cell_eligible",
    "cell_eligible_if_zone", "nearest_id", "nearest_distance_m", "nearest_class", "rule_set",
    "generated",
]  # fmt: skip

#: Candidate (point, address) pairs held at once by the nearest search: bounds memory in towns.
_PAIRS = 4_000_000
_ELIGIBLE, _IF_ZONE = CLASSES.index("eligible"), CLASSES.index("eligible_if_zone")
_local = threading.local()


@dataclass
class RuleCells:
    """Per rule set: class of every indexed address and eligible counts of every occupied cell."""

    address_class: np.ndarray
    eligible: np.ndarray
    eligible_if_zone: np.ndarray


@dataclass
class PointIndex:
    """A release's municipalities, addresses and cell summaries, indexed on the 100 m grid.

    Address arrays are sorted by cell; ``row`` points back into the release's ``addresses`` table.
    Per-cell arrays are indexed by occupied-cell number (``occupied[flat cell]``, -1 when empty).
    """

    grid: Grid
    municipality: np.ndarray
    """Flat int32 raster: municipality number of a cell wholly inside it, -1 outside every
    polygon, ``-2 - b`` for border cell number ``b``."""
    candidates: np.ndarray
    """Per border cell, bit ``k`` of word ``k // 64`` set when polygon ``k`` may reach it."""
    polygons: np.ndarray
    """Prepared polygon per municipality number (None for a code no polygon has)."""
    codes: np.ndarray
    names: np.ndarray
    start: np.ndarray
    occupied: np.ndarray
    east: np.ndarray
    north: np.ndarray
    row: np.ndarray
    ids: pa.Array | pa.ChunkedArray
    """Register ids in the table's order (``ids[row[i]]`` is sorted address ``i``'s)."""
    address_kommune: np.ndarray
    address_generated: np.ndarray
    median_down: np.ndarray
    share_100: np.ndarray
    cell_generated: np.ndarray
    rules: dict[str, RuleCells] = field(default_factory=dict)
    _near: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_release(cls, release: Release, rule_set_keys: list[str] | None = None) -> PointIndex:
        """Read, assess (under the given rule sets, default all) and index a release."""
        tables = read_release_tables(release, address_columns=["east", "north"])
        assessments = assess_many(
            tables.addresses, tables.availability, resolve_rule_sets(rule_set_keys)
        )
        return cls.from_tables(tables.addresses, release.read("municipalities"), assessments)

    @classmethod
    def from_tables(
        cls,
        addresses: pd.DataFrame,
        municipalities: gpd.GeoDataFrame,
        assessments: Mapping[str, pd.DataFrame],
    ) -> PointIndex:
        """Index release-shaped tables: ``addresses`` (``id, kommunekode, east, north``, optional
        ``generated``), the municipality polygons, and one assessment per rule set id, each row for
        row with ``addresses`` (``class``, ``best_down``)."""
        if not assessments:
            raise InvalidRequestError("no assessment to index: give at least one rule set")
        munis = (
            municipalities.to_crs(WORK_CRS) if municipalities.crs != WORK_CRS else municipalities
        )
        if not munis["kommunekode"].is_unique:  # DAGI ships one row per polygon part
            munis = munis.dissolve("kommunekode", as_index=False, aggfunc="first")
        east = addresses["east"].to_numpy(np.float64, na_value=np.nan)
        north = addresses["north"].to_numpy(np.float64, na_value=np.nan)
        keep = np.flatnonzero(np.isfinite(east) & np.isfinite(north))
        muni_codes = munis["kommunekode"].astype(str).to_numpy()
        # Municipality codes as small integer codes into their few distinct texts: no Python
        # string per address (850,000 of them cost ~100 MB while the index is built).
        kommune = pd.Categorical(addresses["kommunekode"].astype("string"))
        present = np.unique(kommune.codes[keep])
        present_codes = np.asarray(kommune.categories, dtype=str)[present[present >= 0]]
        codes = np.unique(np.concatenate([muni_codes, present_codes]).astype(str))
        codes = codes[codes != ""]
        names = pd.Series(munis["kommunenavn"].astype(str).to_numpy(), index=muni_codes)
        from_addresses = addresses.drop_duplicates("kommunekode").set_index("kommunekode")
        names = names.combine_first(from_addresses.get("kommunenavn", pd.Series(dtype=str)))

        grid = grid_for(munis.total_bounds, east[keep], north[keep], MAX_DISTANCE)
        geoms = munis.set_index(muni_codes).geometry.reindex(codes).to_numpy()
        raster, candidates = municipality_raster(grid, geoms)
        shapely.prepare(geoms[~pd.isna(geoms)])

        rows, cols = np.floor_divide(north[keep], CELL), np.floor_divide(east[keep], CELL)
        flat, _ = grid.flat(rows.astype(np.int64), cols.astype(np.int64))
        order = keep[np.argsort(flat, kind="stable")]  # by cell, then release order
        flat = np.sort(flat, kind="stable")
        counts = np.bincount(flat, minlength=grid.nrows * grid.ncols).astype(np.int32)
        # int32 throughout: the cell arrays span the whole region raster (millions of cells).
        start = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(counts, out=start[1:])
        occ_cells = np.flatnonzero(counts)
        occupied = np.full(len(counts), -1, dtype=np.int32)
        occupied[occ_cells] = np.arange(len(occ_cells), dtype=np.int32)
        cell = occupied[flat]  # occupied-cell number of every sorted address

        first = next(iter(assessments.values()))
        down = first["best_down"].to_numpy(np.float64, na_value=np.nan)[order]
        generated = (
            addresses["generated"].fillna(False).to_numpy(dtype=bool)[order]
            if "generated" in addresses.columns
            else np.zeros(len(order), dtype=bool)
        )
        n_occ = len(occ_cells)
        rules = {}
        for rid, assessment in assessments.items():
            klass = pd.Categorical(assessment["class"], categories=CLASSES).codes[order]
            rules[rid] = RuleCells(
                address_class=klass.astype(np.int8),
                eligible=np.bincount(cell, weights=klass == _ELIGIBLE, minlength=n_occ).astype(
                    np.int32
                ),
                eligible_if_zone=np.bincount(
                    cell, weights=klass == _IF_ZONE, minlength=n_occ
                ).astype(np.int32),
            )
        served = np.bincount(cell, weights=down >= 100, minlength=n_occ)
        # The table's own id text (its buffers, not a copy sorted by cell: 37 MB at 850,000
        # addresses); an answer takes the few ids it returns through ``row``.
        ids = pa.array(addresses["id"], pa.string(), from_pandas=True)
        return cls(
            grid=grid,
            municipality=raster,
            candidates=candidates,
            polygons=geoms,
            codes=codes.astype(object),
            # A code without a name shows the code: categories must be unique.
            names=names.reindex(codes).fillna(pd.Series(codes, index=codes)).to_numpy(dtype=object),
            start=start,
            occupied=occupied,
            east=east[order],
            north=north[order],
            row=order.astype(np.int32),
            ids=ids,
            address_kommune=_kommune_numbers(kommune, codes)[order],
            address_generated=generated,
            median_down=cell_medians(cell, down, n_occ),
            share_100=(served / counts[occ_cells]).astype(np.float32),
            cell_generated=np.bincount(cell, weights=generated, minlength=n_occ) > 0,
            rules=rules,
        )

    @property
    def default_rules(self) -> str:
        """The newest indexed rule set id (assessments come oldest first)."""
        return list(self.rules)[-1]

    def rule_set_id(self, key: str | None) -> str:
        """The indexed rule set a key names (an id, a year, or None for the newest)."""
        if key is None or str(key).strip() == "":
            return self.default_rules
        rid = get_rule_set(key).id
        if rid not in self.rules:
            known = ", ".join(self.rules)
            raise InvalidRequestError(f"rule set {key!r} is not indexed here; indexed: {known}")
        return rid

    def query(
        self,
        east: np.ndarray,
        north: np.ndarray,
        *,
        rules: str | None = None,
        max_distance: float = DEFAULT_DISTANCE,
    ) -> pd.DataFrame:
        """The answer for points in EPSG:25832: one row per point, :data:`POINT_COLUMNS`.

        A point off the region gets no municipality and an empty cell (``cell_addresses`` 0);
        ``nearest_*`` is null where no address lies within ``max_distance`` metres.
        """
        if not (0 <= max_distance <= MAX_DISTANCE):
            raise InvalidRequestError(
                f"max distance {max_distance!r} m: expected 0 to {MAX_DISTANCE:g} metres"
            )
        rid = self.rule_set_id(rules)
        east = np.asarray(east, dtype=np.float64)
        north = np.asarray(north, dtype=np.float64)
        finite = np.isfinite(east) & np.isfinite(north)
        e, n = np.where(finite, east, -1e9), np.where(finite, north, -1e9)
        rows = np.floor_divide(n, CELL).astype(np.int64)
        cols = np.floor_divide(e, CELL).astype(np.int64)
        flat, inside = self.grid.flat(rows, cols)

        muni = np.where(inside, self.municipality[flat], OUTSIDE)
        border = np.flatnonzero(muni <= BORDER)
        if len(border):
            muni[border] = self._exact(e[border], n[border], BORDER - muni[border])
        nearest, distance = self._nearest(e, n, rows, cols, flat, inside, max_distance)
        source = np.where(muni >= 0, 0, -1).astype(np.int8)
        fallback = np.flatnonzero((muni < 0) & (nearest >= 0))
        muni[fallback] = self.address_kommune[nearest[fallback]]
        source[fallback[muni[fallback] >= 0]] = 1

        occ = np.where(inside, self.occupied[flat], -1)
        has_cell = occ >= 0
        at = np.where(has_cell, occ, 0)
        cells = self.rules[rid]
        count = np.where(inside, self.start[flat + 1] - self.start[flat], 0).astype(np.int32)
        has_near = nearest >= 0
        near_at = np.where(has_near, nearest, 0)
        klass = np.where(has_near, cells.address_class[near_at], -1)
        names = cell_name_array(e, n, CELL)
        return pd.DataFrame(
            {
                "east": np.where(finite, east, np.nan),
                "north": np.where(finite, north, np.nan),
                "kommunekode": pd.Categorical.from_codes(muni, categories=self.codes),
                "kommunenavn": pd.Categorical.from_codes(muni, categories=self.names),
                "kommune_source": pd.Categorical.from_codes(source, categories=KOMMUNE_SOURCES),
                "ddkn_m100": pd.arrays.ArrowStringArray(
                    pc.if_else(pa.array(finite), names, pa.scalar(None, pa.string()))
                ),
                "cell_addresses": count,
                "cell_median_down": np.where(has_cell, self.median_down[at], np.nan),
                "cell_share_100": np.where(has_cell, self.share_100[at], np.nan),
                "cell_eligible": np.where(has_cell, cells.eligible[at], 0).astype(np.int32),
                "cell_eligible_if_zone": np.where(has_cell, cells.eligible_if_zone[at], 0).astype(
                    np.int32
                ),
                "nearest_id": self._ids(nearest),
                "nearest_distance_m": np.where(has_near, distance, np.nan),
                "nearest_class": pd.Categorical.from_codes(klass, categories=CLASSES),
                "rule_set": pd.Categorical.from_codes(np.zeros(len(e), np.int8), [rid]),
                "generated": (has_cell & self.cell_generated[at])
                | (has_near & self.address_generated[near_at]),
            },
            copy=False,  # one block per column: consolidating a million rows costs a copy
        )

    def _ids(self, nearest: np.ndarray) -> pd.Categorical:
        """Register ids of the nearest addresses as a categorical: only the addresses found are
        turned into strings, however many points there are."""
        found = np.flatnonzero(nearest >= 0)
        chosen, codes = np.unique(nearest[found], return_inverse=True)
        all_codes = np.full(len(nearest), -1, dtype=np.int32)
        all_codes[found] = codes
        taken = self.ids.take(pa.array(self.row[chosen]))
        categories = pd.Index(pd.arrays.ArrowStringArray(taken))
        return pd.Categorical.from_codes(all_codes, categories=categories)

    def _exact(self, east: np.ndarray, north: np.ndarray, border: np.ndarray) -> np.ndarray:
        """Municipality of points in border cells: the first polygon (lowest code) each point
        intersects, testing only the polygons its cell's candidate bits name."""
        found = np.full(len(east), OUTSIDE, dtype=np.int32)
        words = self.candidates[border]
        for k, polygon in enumerate(self.polygons):
            if polygon is None:
                continue
            bit = (words[:, k // 64] >> np.uint64(k % 64)) & np.uint64(1)
            ask = np.flatnonzero((bit == 1) & (found == OUTSIDE))
            if len(ask):
                found[ask[shapely.intersects_xy(polygon, east[ask], north[ask])]] = k
        return found

    def _nearest(
        self,
        east: np.ndarray,
        north: np.ndarray,
        rows: np.ndarray,
        cols: np.ndarray,
        flat: np.ndarray,
        inside: np.ndarray,
        limit: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted-address position of each point's nearest address within ``limit`` m (-1: none),
        and the distance; equidistant addresses go to the first in release order."""
        rings = math.ceil(limit / CELL)
        # Only points with an address within ``rings`` cells are searched: most random points
        # have none, and are dropped with one gather.
        ask = np.flatnonzero(inside & self._near_mask(rings)[flat])
        best_all = np.full(len(east), -1, dtype=np.int64)
        dist_all = np.full(len(east), np.nan)
        east, north, rows, cols = east[ask], north[ask], rows[ask], cols[ask]
        best = np.full(len(ask), -1, dtype=np.int64)
        best_d2 = np.full(len(ask), np.inf)
        for dr in range(-rings, rings + 1):
            for dc in range(-rings, rings + 1):
                # The closest a point can be to a cell this far off; farther cells are skipped.
                gap = math.hypot(max(abs(dr) - 1, 0), max(abs(dc) - 1, 0)) * CELL
                if gap > limit:
                    continue
                flat, ok = self.grid.flat(rows + dr, cols + dc)
                lo = self.start[flat]
                count = np.where(ok, self.start[flat + 1] - lo, 0)
                points = np.flatnonzero(count)
                if len(points):
                    self._closest_in(points, lo[points], count[points], east, north, best, best_d2)
        reached = best_d2 <= limit * limit
        best_all[ask[reached]] = best[reached]
        dist_all[ask[reached]] = np.sqrt(best_d2[reached])
        return best_all, dist_all

    def _near_mask(self, rings: int) -> np.ndarray:
        """Cells with an address within ``rings`` cells (flat, bool); kept per ring count."""
        mask = self._near.get(rings)
        if mask is None:
            grid = self.grid
            occupied = (self.start[1:] != self.start[:-1]).reshape(grid.nrows, grid.ncols)
            mask = grow(occupied, rings).ravel()
            self._near[rings] = mask  # a race only computes the same mask twice
        return mask

    def _closest_in(
        self,
        points: np.ndarray,
        lo: np.ndarray,
        count: np.ndarray,
        east: np.ndarray,
        north: np.ndarray,
        best: np.ndarray,
        best_d2: np.ndarray,
    ) -> None:
        """Update ``best`` with the closest address of one neighbour cell of each point."""
        ends = np.cumsum(count)
        cuts = np.searchsorted(ends, np.arange(_PAIRS, ends[-1], _PAIRS), side="right")
        for part in np.split(np.arange(len(points)), cuts):
            if len(part) == 0:
                continue
            p, c = points[part], count[part]
            total = int(c.sum())
            seg = np.cumsum(c) - c
            pos = np.repeat(lo[part] - seg, c) + np.arange(total)
            pid = np.repeat(p, c)
            d2 = (self.east[pos] - east[pid]) ** 2 + (self.north[pos] - north[pid]) ** 2
            low = np.minimum.reduceat(d2, seg)
            # The first pair reaching the minimum: addresses within a cell are in release order.
            first = np.minimum.reduceat(
                np.where(d2 == np.repeat(low, c), np.arange(total), total), seg
            )
            cand = pos[first]
            current = best[p]
            better = (low < best_d2[p]) | (
                (low == best_d2[p]) & (self.row[cand] < self.row[np.maximum(current, 0)])
            )
            best_d2[p[better]] = low[better]
            best[p[better]] = cand[better]


def _kommune_numbers(kommune: pd.Categorical, codes: np.ndarray) -> np.ndarray:
    """Each address's position in the sorted ``codes`` (-1 for none), via its category."""
    per_category = positions(codes, np.asarray(kommune.categories, dtype=str))
    number = np.append(per_category, np.int32(-1))  # code -1 (missing) picks the last: -1
    return number[kommune.codes].astype(np.int32)


def _transformer(crs: str) -> Transformer:
    """One transformer per thread and CRS: a PROJ context must not be shared by threads."""
    cache = getattr(_local, "transformers", None)
    if cache is None:
        cache = _local.transformers = {}
    if crs not in cache:
        cache[crs] = Transformer.from_crs(crs, WORK_CRS, always_xy=True)
    return cache[crs]


def work_coordinates(
    x: ArrayLike,
    y: ArrayLike,
    crs: str = WEB_CRS,
    *,
    labels: np.ndarray | None = None,
    label: str = "point {}",
) -> tuple[np.ndarray, np.ndarray]:
    """Points in ``crs`` (EPSG:4326 lon/lat or EPSG:25832) as EPSG:25832 east / north arrays.

    Every point must be a number inside Denmark's envelope in that CRS; otherwise
    :class:`InvalidRequestError` names how many are not, and the first few with their values,
    each as ``label`` filled with its entry of ``labels`` (line numbers, say; default the 0-based
    position): ``"points.csv line {}"``, ``"points[{}]"``.
    """
    crs = _crs_name(crs)
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    xmin, ymin, xmax, ymax = DENMARK_BOUNDS_LONLAT if crs == WEB_CRS else DENMARK_BOUNDS_25832
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~((xs >= xmin) & (xs <= xmax) & (ys >= ymin) & (ys <= ymax)))
    if len(bad):
        names, unit = (("lon", "lat"), "degrees, WGS84") if crs == WEB_CRS else (("x", "y"), "m")
        at = labels if labels is not None else np.arange(len(xs))
        shown = "; ".join(
            f"{label.format(at[i])}: {names[0]}={xs[i]:g}, {names[1]}={ys[i]:g}" for i in bad[:3]
        )
        hint = " (are lon and lat swapped?)" if crs == WEB_CRS else ""
        raise InvalidRequestError(
            f"{len(bad)} of {len(xs)} points are not positions in Denmark in {crs}, e.g. {shown}; "
            f"expected {names[0]} {xmin:g} to {xmax:g} and {names[1]} {ymin:g} to {ymax:g} "
            f"({unit}){hint}"
        )
    if crs == WORK_CRS:
        return xs, ys
    east, north = _transformer(crs).transform(xs, ys)
    return np.asarray(east), np.asarray(north)


def _crs_name(crs: str) -> str:
    text = str(crs).strip().upper().replace("URN:OGC:DEF:CRS:OGC:1.3:", "")
    if text in ("EPSG:4326", "4326", "CRS84", "WGS84", "OGC:CRS84"):
        return WEB_CRS
    if text in ("EPSG:25832", "25832", "ETRS89 / UTM ZONE 32N"):
        return WORK_CRS
    raise InvalidRequestError(
        f"CRS {crs!r} is not supported: give points in EPSG:4326 (lon/lat) or EPSG:25832 (metres)"
    )


__all__ = [
    "CELL",
    "DEFAULT_DISTANCE",
    "KOMMUNE_SOURCES",
    "MAX_DISTANCE",
    "POINT_COLUMNS",
    "POINT_CRSS",
    "Grid",
    "PointIndex",
    "RuleCells",
    "work_coordinates",
]
