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
* **addresses**: sorted by cell, each cell's slice found from the integer cell key (a
  direct-address table: an O(1) lookup with no hashing), and per occupied cell the summary,
  numbered by the cell's rank in a bitmap of occupied cells. A point's cell is two floor
  divisions; its summary a few gathers;
* **nearest address**: a bitmap of cells with an address within reach drops most points; for the
  rest, the point's cell and its neighbours within ``max_distance`` are read from the same
  slices, distances are taken on the candidate pairs and reduced per point with
  ``np.minimum.reduceat``. A point in a town meets a few hundred candidates; the pair arrays are
  processed in bounded chunks.

The raster spans ~3 million cells at region size, so nothing is kept as a dense int32 per cell:
bitmaps, small integer types and a two-level slice table (:mod:`coverage.pointraster`), and one
byte per address for its classes under every rule set. At 850,000 addresses the index holds
~34 MB (it held ~75 MB) and its build passes ~44 MB (it passed ~165 MB).

No geometry object is made per point. Where a point lies in no polygon (the 1:500,000 coastline
cuts off a few real addresses) the municipality falls back to the nearest address's own
``kommunekode``, and ``kommune_source`` says so. The same index answers the CLI (``netkort
points``) and the service (``POST /api/points``).
"""

from __future__ import annotations

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

from coverage import arrowtext
from coverage.assess import CLASSES, assess_many
from coverage.errors import InvalidRequestError
from coverage.grid import cell_name_array
from coverage.pointraster import (
    BORDER,
    CELL,
    OUTSIDE,
    AddressCells,
    CellSet,
    Grid,
    Starts,
    cell_medians,
    cell_runs,
    cell_sums,
    gather,
    grid_for,
    municipality_raster,
    positions,
    smallest_int,
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

_ELIGIBLE, _IF_ZONE = CLASSES.index("eligible"), CLASSES.index("eligible_if_zone")
_local = threading.local()


@dataclass
class RuleCells:
    """Per rule set: the class of each class combination (see :attr:`PointIndex.address_classes`)
    and eligible counts of every occupied cell (in the smallest unsigned type that holds the
    fullest cell's address count)."""

    classes: np.ndarray
    eligible: np.ndarray
    eligible_if_zone: np.ndarray


@dataclass
class PointIndex:
    """A release's municipalities, addresses and cell summaries, indexed on the 100 m grid.

    Per-address arrays are in :attr:`addresses`' order (by cell). Per-cell arrays are indexed by
    occupied-cell number (``addresses.occupied.rank(flat cell)``).
    """

    grid: Grid
    municipality: np.ndarray
    """Flat raster in the smallest signed type: municipality number of a cell wholly inside it,
    -1 outside every polygon, -2 on a border (``border.rank(cell)`` is its border number)."""
    border: CellSet
    candidates: np.ndarray
    """Per border cell, bit ``k`` of word ``k // 64`` set when polygon ``k`` may reach it."""
    polygons: np.ndarray
    """Prepared polygon per municipality number (None for a code no polygon has)."""
    codes: np.ndarray
    names: np.ndarray
    addresses: AddressCells
    ids: pa.Array | pa.ChunkedArray
    """Register ids in the table's order (``ids[addresses.row[i]]`` is sorted address ``i``'s)."""
    address_kommune: np.ndarray
    """Municipality number of each address's own code (-1: none), in the raster's type."""
    address_classes: np.ndarray
    """Each address's combination of classes under the indexed rule sets, a row of a small
    table whose columns are the rule sets' :attr:`RuleCells.classes`: rule sets mostly agree, so
    one byte per address serves them all."""
    address_generated: CellSet
    median_down: np.ndarray
    share_100: np.ndarray
    cell_generated: CellSet
    rules: dict[str, RuleCells] = field(default_factory=dict)

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
        keep = np.flatnonzero(np.isfinite(east) & np.isfinite(north)).astype(np.int32)
        muni_codes = munis["kommunekode"].astype(str).to_numpy()
        # Municipality codes as small integer codes into their few distinct texts: no Python
        # string per address, and no pass over the whole table (850,000 rows in a region).
        kommune, texts = _category_codes(addresses["kommunekode"])
        seen = np.zeros(len(texts) + 1, dtype=bool)
        seen[kommune[keep] + 1] = True
        codes = np.unique(np.concatenate([muni_codes, texts[seen[1:]]]).astype(str))
        codes = codes[codes != ""]
        names = _names(codes, muni_codes, munis["kommunenavn"], addresses, kommune, texts)

        # A margin of twice the search radius: a searched point is within reach of an address, so
        # its neighbour cells (within reach of the point) all lie on the raster, and the nearest
        # search finds them with one addition each, no bounds checks.
        reach = MAX_DISTANCE
        grid = grid_for(munis.total_bounds, east[keep], north[keep], 2 * reach)
        geoms = munis.set_index(muni_codes).geometry.reindex(codes).to_numpy()
        # The raster first, while no address array is held: its temporaries (a few rasters of
        # the whole region) then come on top of little.
        raster, border, candidates = municipality_raster(grid, geoms)
        shapely.prepare(geoms[~pd.isna(geoms)])

        # Addresses by cell, then release order. Steps in the order that keeps the peak low: the
        # temporaries of each come while as little of the index as possible is held.
        flat = grid.cells_of(east, north, keep)
        by_cell = np.argsort(flat, kind="stable")
        order, flat = keep[by_cell], flat[by_cell]
        del by_cell, keep
        occ_cells, sizes = cell_runs(flat)
        del flat
        starts = Starts.from_counts(occ_cells, sizes, grid.nrows * grid.ncols)
        occupied = CellSet.from_indices(occ_cells, grid.nrows * grid.ncols)
        del occ_cells
        counts = np.min_scalar_type(int(sizes.max(initial=0)))  # the fullest cell's

        first = next(iter(assessments.values()))
        down = gather(first["best_down"].to_numpy(np.float64, na_value=np.nan), order)
        median_down = cell_medians(down, sizes)
        share_100 = (cell_sums(down >= 100, sizes, np.int32) / sizes).astype(np.float32)
        del down
        eligible = {}
        combination, table = np.zeros(len(order), dtype=np.int32), np.zeros((1, 0), np.int8)
        for rid, assessment in assessments.items():
            klass = gather(pd.Categorical(assessment["class"], categories=CLASSES).codes, order)
            eligible[rid] = (
                cell_sums(klass == _ELIGIBLE, sizes, counts),
                cell_sums(klass == _IF_ZONE, sizes, counts),
            )
            combination, table = _combine(combination, table, klass)
        rules = {
            rid: RuleCells(np.ascontiguousarray(table[:, i]), *eligible[rid])
            for i, rid in enumerate(assessments)
        }
        address_classes = combination.astype(np.min_scalar_type(len(table) - 1))
        del combination
        generated = (
            gather(addresses["generated"].fillna(False).to_numpy(dtype=bool), order)
            if "generated" in addresses.columns
            else np.zeros(len(order), dtype=bool)
        )
        # The table's own id text (its buffers: no copy sorted by cell, 37 MB at 850,000
        # addresses, nor a cast of its offsets); an answer takes the ids it returns via ``row``.
        ids = pa.array(addresses["id"], from_pandas=True)
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
            ids = ids.cast(pa.string())
        return cls(
            grid=grid,
            municipality=raster,
            border=border,
            candidates=candidates,
            polygons=geoms,
            codes=codes.astype(object),
            names=names,
            addresses=AddressCells(
                grid, starts, occupied, gather(east, order), gather(north, order), order, reach
            ),
            ids=ids,
            address_kommune=gather(_kommune_numbers(texts, codes), gather(kommune, order)),
            address_classes=address_classes,
            address_generated=CellSet.from_mask(generated),
            median_down=median_down,
            share_100=share_100,
            cell_generated=CellSet.from_mask(cell_sums(generated, sizes, np.int32) > 0),
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
        border = np.flatnonzero(muni == BORDER)
        if len(border):
            numbers = self.border.rank(flat[border])
            muni[border] = self._exact(e[border], n[border], numbers)
        nearest, distance = self.addresses.nearest(e, n, flat, inside, max_distance)
        source = np.where(muni >= 0, 0, -1).astype(np.int8)
        fallback = np.flatnonzero((muni < 0) & (nearest >= 0))
        muni[fallback] = self.address_kommune[nearest[fallback]]
        source[fallback[muni[fallback] >= 0]] = 1

        count = self.addresses.count(flat, inside)
        has_cell = count > 0
        in_cell = np.flatnonzero(has_cell)
        at = np.zeros(len(e), dtype=np.int32)
        at[in_cell] = self.addresses.occupied.rank(flat[in_cell])
        cells = self.rules[rid]
        has_near = nearest >= 0
        found = np.flatnonzero(has_near)
        # Gathered for the points that have a cell or an address only: an index without any
        # address has empty per-cell and per-address arrays, and nothing to gather.

        def per_cell(values: np.ndarray, fill: float, dtype: type) -> np.ndarray:
            out: np.ndarray = np.full(len(e), fill, dtype=dtype)
            out[in_cell] = values[at[in_cell]]
            return out

        klass = np.full(len(e), -1, dtype=np.int8)
        klass[found] = cells.classes[self.address_classes[nearest[found]]]
        generated = np.zeros(len(e), dtype=bool)
        generated[in_cell] = self.cell_generated.contains(at[in_cell])
        generated[found] |= self.address_generated.contains(nearest[found])
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
                "cell_median_down": per_cell(self.median_down, np.nan, np.float64),
                "cell_share_100": per_cell(self.share_100, np.nan, np.float64),
                "cell_eligible": per_cell(cells.eligible, 0, np.int32),
                "cell_eligible_if_zone": per_cell(cells.eligible_if_zone, 0, np.int32),
                "nearest_id": self._ids(nearest),
                "nearest_distance_m": np.where(has_near, distance, np.nan),
                "nearest_class": pd.Categorical.from_codes(klass, categories=CLASSES),
                "rule_set": pd.Categorical.from_codes(np.zeros(len(e), np.int8), [rid]),
                "generated": generated,
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
        taken = arrowtext.take(self.ids, self.addresses.row[chosen])  # not ChunkedArray.take
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


def _combine(
    combination: np.ndarray, table: np.ndarray, klass: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The combinations (numbers into rows of ``table``) extended by one more rule set's class
    codes (-1 none): only combinations that occur get a number, so they stay few."""
    kinds = len(CLASSES) + 1
    key = combination * kinds + (klass + 1)
    used = np.zeros(len(table) * kinds, dtype=bool)
    used[key] = True
    rows = np.flatnonzero(used)
    number = np.cumsum(used, dtype=np.int32) - 1
    return number[key], np.column_stack([table[rows // kinds], rows % kinds - 1]).astype(np.int8)


def _category_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1: missing) into distinct texts: a categorical's own codes, no copy."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values)
        codes = codes.astype(smallest_int(len(uniques)))  # int64 from pandas: 8 bytes per row
    return codes, np.asarray(pd.Index(uniques).astype(str), dtype=str)


def _names(
    codes: np.ndarray,
    muni_codes: np.ndarray,
    muni_names: pd.Series,
    addresses: pd.DataFrame,
    kommune: np.ndarray,
    texts: np.ndarray,
) -> np.ndarray:
    """Name of each code: its polygon's, else its first address's, else the code itself."""
    known = dict(zip(muni_codes, muni_names.astype(str).to_numpy(), strict=True))
    out = np.empty(len(codes), dtype=object)
    for i, code in enumerate(codes):  # a few dozen codes
        name = known.get(code)
        if name is None and "kommunenavn" in addresses:  # no polygon: none in a release
            has = np.isin(kommune, np.flatnonzero(texts == code))
            name = addresses["kommunenavn"].iloc[has.argmax()] if has.any() else None
        out[i] = str(code) if name is None or pd.isna(name) else str(name)
    return out


def _kommune_numbers(texts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per text and then -1 (so that code -1, missing, picks -1): its position in the sorted
    ``codes`` (-1 for none), in the raster's type (codes are few)."""
    number = np.append(positions(codes, texts), np.int32(-1))
    return number.astype(smallest_int(len(codes)))


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
