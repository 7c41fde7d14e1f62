"""Vector tiles (MVT) of a release: municipalities, zones, addresses and grid cells.

A :class:`VectorTiler` is built once per release from the tables the service already holds. Each
layer becomes a :class:`~coverage.tiles.cutting.FeatureLayer` (EPSG:3857 geometries, STRtree,
factorised properties) the first time a tile needs it, and is kept. What does not depend on the
rule set (address points, cell positions, grid polygons, property columns that come out equal) is
built once and shared by every rule set's layers; address ids and texts are read from the table
itself for the features a tile shows.

Rule-dependent layers (zones, addresses, grid) exist once per assessed rule set, with ids like
``zones-2024-2025``; the bare family name (``zones``) plus a rule key (``2025``) names the same layer.
Addresses are single points from zoom :data:`ADDRESS_POINT_ZOOM`; below it they are gathered on DDKN
cells (10 km, 1 km, 100 m as the zoom grows), so a tile never carries more points than it has
pixels. The grid layer shows 1 km cell statistics, on 10 km cells below zoom :data:`GRID_KM1_ZOOM`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.errors import InvalidRequestError, NotFoundError, RuleSetError
from coverage.grid import CellKeys, cell_boxes, cell_indices, cell_names
from coverage.memory import HEAVY_BUILD
from coverage.release import Release
from coverage.tiles.addresstexts import address_column, id_column
from coverage.tiles.common import LayerInfo, check_tile, lonlat_bounds
from coverage.tiles.cutting import FeatureLayer, PointLayer, PolygonLayer, to_tile_crs
from coverage.tiles.mvt import Column, PropertyTable
from coverage.types import WORK_CRS

#: Zoom levels every vector layer serves; clients over-zoom the last one.
MINZOOM, MAXZOOM = 0, 16
#: From this zoom addresses are single points; below it they are gathered on cells.
ADDRESS_POINT_ZOOM = 14
#: Address cell size (metres, DDKN) below a zoom: z < 10 → 10 km, z < 12 → 1 km, z < 14 → 100 m.
ADDRESS_CELLS = ((10, 10_000), (12, 1_000), (ADDRESS_POINT_ZOOM, 100))
#: Grid statistics on 10 km cells below this zoom, on 1 km cells from it.
GRID_KM1_ZOOM = 10
#: Layer families that exist once per rule set.
RULE_LAYERS = ("zones", "addresses", "grid")
#: The class a cell of addresses shows: the first present in this order. A cell with one eligible
#: address among a hundred served ones must still show the gap, and unknown beats served.
CLASS_PRIORITY = ("eligible", "eligible_blue", "eligible_if_zone", "no_data", "not_eligible")

_ELIGIBLE = CLASS_PRIORITY[:3]

_MUNICIPALITY_FIELDS = {
    "kommunekode": "String: municipality code, e.g. 0741",
    "kommunenavn": "String: municipality name",
    "area_km2": "Number: area in km² (EPSG:25832)",
}
_ZONE_FIELDS = {
    "zone_id": "String: zone id (municipality, lowest-left DDKN cell, rule set)",
    "kommunekode": "String: municipality code",
    "kommunenavn": "String: municipality name",
    "rule_set": "String: pool rule set",
    "addresses": "Number: selected addresses in the zone",
    "eligible": "Number: addresses of class eligible",
    "eligible_blue": "Number: addresses of class eligible_blue",
    "eligible_if_zone": "Number: addresses eligible if the zone rule holds",
    "unknown_zone": "Number: addresses whose planning zone is unknown",
    "min_fixed_down": "Number: lowest best fixed download, Mbit/s",
    "median_fixed_down": "Number: median best fixed download, Mbit/s",
    "median_mobile_down": "Number: median mobile download, Mbit/s",
    "area_km2": "Number: zone area, km²",
    "generated": "Boolean: holds generated (synthetic) data",
}
_ADDRESS_FIELDS = {
    "count": "Number: addresses the feature stands for (1 for an address, more for a cell)",
    "class": "String: pool class (eligible, eligible_blue, eligible_if_zone, not_eligible, "
    "no_data); for a cell the first present in that order, no_data before not_eligible",
    "best_down": "Number: best fixed download, Mbit/s; for a cell the lowest of its addresses",
    "best_up": "Number: best fixed upload, Mbit/s; for a cell the lowest of its addresses",
    "mobile_down": "Number: mobile download, Mbit/s; for a cell the lowest of its addresses",
    "generated": "Boolean: generated (synthetic) data",
    "id": "String: address register UUID (addresses only, zoom 14 and above)",
    "address": "String: street, number, postcode and town (addresses only)",
    "kommunekode": "String: municipality code (addresses only)",
    "best_tech": "String: technology of the best fixed offer (addresses only)",
    "cell": "String: DDKN cell name (cells only, below zoom 14)",
    "eligible": "Number: addresses of an eligible class in the cell (cells only)",
    "no_data": "Number: addresses without mapping data in the cell (cells only)",
}
_GRID_FIELDS = {
    "cell": "String: DDKN cell name (10 km below zoom 10, 1 km from it)",
    "kommunekode": "String: municipality holding most of the cell's addresses",
    "addresses": "Number: addresses in the cell",
    "eligible": "Number: addresses of class eligible",
    "eligible_if_zone": "Number: addresses eligible if the zone rule holds",
    "no_data": "Number: addresses without mapping data",
    "share_100": "Number: share of all addresses with ≥ 100 Mbit/s fixed download",
    "median_best_down": "Number: median best fixed download, Mbit/s",
    "generated": "Boolean: holds generated (synthetic) data",
}


_FIELDS = {
    "municipalities": _MUNICIPALITY_FIELDS,
    "zones": _ZONE_FIELDS,
    "addresses": _ADDRESS_FIELDS,
    "grid": _GRID_FIELDS,
}
#: Rule-dependent layer families: title and description.
_FAMILIES = {
    "zones": (
        "Underserved zones / Underforsynede områder",
        "Eligible addresses merged into zones on the 100 m DDKN grid; zones under a pixel are "
        "left out of a tile",
    ),
    "addresses": (
        "Addresses / Adresser",
        "Addresses with their pool class and best speeds; gathered on DDKN cells (10 km, 1 km, "
        f"100 m) below zoom {ADDRESS_POINT_ZOOM}",
    ),
    "grid": (
        "Grid statistics / Kvadratnetsstatistik",
        f"Statistics per 1 km DDKN cell (10 km cells below zoom {GRID_KM1_ZOOM})",
    ),
}


class VectorTiler:
    """Vector tiles of one release's municipalities, zones, addresses and grid cells.

    Built from release-shaped frames: ``addresses`` (EPSG:25832 points, or ``east`` / ``north``
    columns), ``assessments`` (one frame per rule set id, row for row the addresses', as
    ``coverage.assess`` makes them), ``zones`` (one zones layer per rule set id,
    ``coverage.zones``) and ``municipalities``. Per-rule-set work
    (address properties, cell aggregates, grid statistics, zones) is done on the first tile that
    needs it and kept; the tiler is safe to use from many threads. ``unique_ids`` says the
    addresses' ids are known to be unique and present (a release's are: the build quarantines a
    repeated id), which spares the address layer a hash of every id (~100 MB passing at 850,000).
    """

    def __init__(
        self,
        municipalities: gpd.GeoDataFrame,
        addresses: pd.DataFrame,
        assessments: Mapping[str, pd.DataFrame],
        zones: Mapping[str, gpd.GeoDataFrame],
        *,
        attribution: tuple[str, ...] = (),
        rule_key: Callable[[str], str] | None = None,
        unique_ids: bool = False,
    ) -> None:
        # A GeoDataFrame in another CRS is reprojected; a plain frame has EPSG:25832 east / north.
        reproject = isinstance(addresses, gpd.GeoDataFrame) and addresses.crs != WORK_CRS
        self.addresses = addresses.to_crs(WORK_CRS) if reproject else addresses
        self.assessments = dict(assessments)
        self.zones = dict(zones)
        self.default_rules = list(self.assessments)[-1] if self.assessments else None
        self._rule_key = rule_key or _rule_set_id
        self._unique_ids = unique_ids
        self._rule_ids: dict[str, str | None] = {k: k for k in self.assessments}
        self._build_lock = HEAVY_BUILD  # one region-size build at a time in the process
        self._cache: dict[tuple[str, ...], FeatureLayer] = {}
        # Property columns equal under several rule sets (speeds, counts, cell names): one each.
        self._columns: dict[tuple[str, str], list[Column]] = {}
        self._cache[("municipalities",)] = PolygonLayer.from_frame(
            municipalities[[*_MUNICIPALITY_FIELDS, municipalities.geometry.name]],
            simplify="coverage",
        )
        bounds = lonlat_bounds(municipalities.to_crs(WORK_CRS).total_bounds, WORK_CRS)
        generated = bool(self.addresses["generated"].fillna(False).any())

        def info(layer_id: str, base: str, title: str, text: str, **extra: Any) -> LayerInfo:
            return LayerInfo(
                layer_id, "vector", title, text, MINZOOM, MAXZOOM, bounds, base=base,
                fields={base: _FIELDS[base]}, attribution=attribution, **extra,
            )  # fmt: skip

        infos = [
            info(
                "municipalities",
                "municipalities",
                "Municipalities / Kommuner",
                f"The {len(municipalities)} municipalities (DAGI 1:500.000).",
            )
        ]
        for rid in self.assessments:
            gen = generated or bool(self.assessments[rid].get("generated", pd.Series()).any())
            note = " Contains generated (synthetic) data." if gen else ""
            for base, (title, text) in _FAMILIES.items():
                if base == "zones" and rid not in self.zones:
                    continue
                text = f"{text}, under the {rid} pool rules.{note}"
                infos.append(info(f"{base}-{rid}", base, title, text, rule_set=rid, generated=gen))
        self.infos = {i.id: i for i in infos}

    @classmethod
    def from_release(cls, release: Release) -> VectorTiler:
        """Read, assess and zone a release, then build its tiler (for scripts and benchmarks; the
        service builds it from the tables it already holds)."""
        from coverage.answer import LookupContext

        addresses = release.read("addresses")
        availability = release.read("availability")
        context = LookupContext.from_release(release, addresses, availability)
        assert context.municipalities is not None
        return cls(
            context.municipalities,
            addresses,
            context.assessments,
            context.zones,
            attribution=tuple(release.manifest.get("attribution", [])),
        )

    # ----------------------------------------------------------------------------------------------
    # Layers

    def layers(self) -> list[LayerInfo]:
        """Every layer, municipalities first, then per rule set zones, addresses and grid."""
        return list(self.infos.values())

    def aliases(self) -> dict[str, str]:
        """Family names and the layer they stand for under the newest rule set."""
        if self.default_rules is None:
            return {}
        return {
            base: f"{base}-{self.default_rules}"
            for base in RULE_LAYERS
            if f"{base}-{self.default_rules}" in self.infos
        }

    def layer(self, name: str, rules: str | None = None) -> LayerInfo:
        """The layer a name (and rule key) names: ``zones-2024-2025``, or ``zones`` with ``rules``
        ``2025`` or ``2024-2025`` (default the newest rule set).

        An unknown layer, or a rule set that is not assessed, is a :class:`NotFoundError` with
        suggestions; a name and ``rules`` naming two rule sets an :class:`InvalidRequestError`.
        """
        base, _, suffix = name.partition("-")
        if name in self.infos and not (rules and base in RULE_LAYERS):
            return self.infos[name]
        if base not in RULE_LAYERS or self.default_rules is None:
            raise NotFoundError(f"no tile layer {name!r}")
        known = ", ".join(self.assessments)
        by_name = by_param = None
        if suffix:
            by_name = self._rule_id(suffix)
            if by_name is None:
                raise NotFoundError(
                    f"no tile layer {name!r}: rule set {suffix!r} is not assessed in this release; "
                    f"known: {known}",
                    [{"id": i, "text": i} for i in self.infos if i.startswith(f"{base}-")],
                )
        if rules and rules.strip():
            by_param = self._rule_id(rules.strip())
            if by_param is None:  # the layer asked for does not exist: 404, like zones-1999
                raise NotFoundError(
                    f"no tile layer {base!r} for rule set {rules!r}: it is not assessed in this "
                    f"release; known: {known}",
                    [{"id": i, "text": i} for i in self.infos if i.startswith(f"{base}-")],
                )
        if by_name and by_param and by_name != by_param:
            raise InvalidRequestError(
                f"layer {name!r} is for rule set {by_name}, but rules={rules!r} asks for {by_param}"
            )
        layer_id = f"{base}-{by_name or by_param or self.default_rules}"
        if layer_id not in self.infos:
            raise NotFoundError(f"no tile layer {layer_id!r} in this release")
        return self.infos[layer_id]

    def _rule_id(self, key: str) -> str | None:
        """The assessed rule set a key (an id or a year) names, or None."""
        if key in self._rule_ids:
            return self._rule_ids[key]
        try:
            rid: str | None = self._rule_key(key)
        except RuleSetError:
            rid = None
        if rid not in self.assessments:
            rid = None
        if len(self._rule_ids) < 256:  # the rule files are read once per key, not per tile
            self._rule_ids[key] = rid
        return rid

    # ----------------------------------------------------------------------------------------------
    # Tiles

    def tile(self, name: str, z: int, x: int, y: int, rules: str | None = None) -> bytes | None:
        """The MVT bytes of one tile, or None when no feature falls in it.

        A tile outside the layer's zoom range or the tile matrix is a :class:`NotFoundError`.
        """
        info = self.layer(name, rules)
        tile = check_tile(info, z, x, y)
        features, mvt_name = self._features(info, z)
        return features.tile(tile, mvt_name)

    def _features(self, info: LayerInfo, z: int) -> tuple[FeatureLayer, str]:
        rid = info.rule_set
        if info.base == "municipalities":
            return self._cache[("municipalities",)], "municipalities"
        assert rid is not None
        if info.base == "zones":
            return self._cached(("zones", rid), lambda: self._zones(rid)), "zones"
        if info.base == "grid":
            size = 10_000 if z < GRID_KM1_ZOOM else 1_000
            return self._cached(("grid", rid, str(size)), lambda: self._grid(rid, size)), "grid"
        if z >= ADDRESS_POINT_ZOOM:
            return self._cached(("addresses", rid), lambda: self._points(rid)), "addresses"
        size = next(s for limit, s in ADDRESS_CELLS if z < limit)
        key = ("cells", rid, str(size))
        return self._cached(key, lambda: self._cells(rid, size)), "addresses"

    def _cached(self, key: tuple[str, ...], build: Callable[[], FeatureLayer]) -> FeatureLayer:
        found = self._cache.get(key)
        if found is None:
            # One layer is built at a time: each build holds several region-size temporary
            # arrays, and builds running side by side (every rule set asked for at once) stacked
            # them to ~1.5 GB. Tiles of layers already built never wait.
            with self._build_lock:
                found = self._cache.get(key)
                if found is None:
                    found = build()
                    self._cache[key] = found
        return found

    def warm(self, rules: str | None = None) -> None:
        """Build every layer of a rule set (default the newest) and its per-zoom simplifications
        now rather than on first use, so the first tiles of a session are as fast as the rest."""
        infos = [self.infos["municipalities"]]
        if self.default_rules is not None:
            infos += [self.layer(base, rules) for base in RULE_LAYERS]
        for info in infos:
            for z in range(MINZOOM, MAXZOOM + 1):
                layer, _ = self._features(info, z)
                if isinstance(layer, PolygonLayer):
                    layer.at_zoom(z)

    def _zones(self, rid: str) -> FeatureLayer:
        frame = self.zones[rid].rename(columns={"label": "rule_set"})
        keep = [c for c in _ZONE_FIELDS if c in frame.columns]
        return PolygonLayer.from_frame(frame[[*keep, frame.geometry.name]], simplify="each")

    def _shared(self, family: str, column: Column) -> Column:
        """``column``, or the equal one a layer of another rule set already holds: speeds, counts
        and cell names are the same under every rule set, and one object serves them all."""
        held = self._columns.setdefault((family, column.name), [])
        for other in held:
            if column.same_as(other):
                return other
        held.append(column)
        return column

    def _grid_cells(self, size: int) -> FeatureLayer:
        """The DDKN cells of a size that hold addresses, as polygons without properties: the
        cells depend on the positions only, so every rule set's grid layer shares them."""
        _, x, y = self._located()
        cells = np.unique(np.column_stack(cell_indices(x, y, size)), axis=0)  # by row, then col
        boxes = cell_boxes(cells[:, 0], cells[:, 1], size)  # as coverage.gridstats.grid_cell_stats
        return PolygonLayer.from_frame(gpd.GeoDataFrame(geometry=boxes, crs=WORK_CRS))

    def _grid(self, rid: str, size: int) -> FeatureLayer:
        from coverage.gridstats import grid_cell_stats

        cells = self._cached(("grid-cells", str(size)), lambda: self._grid_cells(size))
        assert isinstance(cells, PolygonLayer)
        stats = grid_cell_stats(self.addresses, self.assessments[rid], size)
        assert len(stats) == len(cells.geoms)  # both are the cells of the same positions
        family = f"grid-{size}"
        columns = [self._shared(family, Column.from_series(c, stats[c])) for c in _GRID_FIELDS]
        return cells.with_props(PropertyTable(columns))

    def _located(self) -> tuple[np.ndarray | slice, np.ndarray, np.ndarray]:
        """Addresses with a position: their rows and EPSG:25832 coordinates. When every address
        has one (a release's register always), the rows are ``slice(None)`` and the coordinates
        the table's own columns: each layer build would otherwise copy them (~35 MB at region
        size, on top of what the build itself passes)."""
        from coverage.zones import address_xy

        x, y = address_xy(self.addresses)
        found = np.isfinite(x) & np.isfinite(y)
        if found.all():
            return slice(None), x, y
        rows = np.flatnonzero(found)
        return rows, x[rows], y[rows]

    def _address_base(self) -> FeatureLayer:
        """Address points and the properties every rule set shares, built once for all of them.

        ``id`` and ``address`` have a value per address: their codes are table rows, their
        values the table's own id column and texts made from its street, number and postcode
        codes for the rows a tile shows, so no copy of either is held.
        """
        rows, x, y = self._located()
        table_rows = np.arange(len(x), dtype=np.int32)[rows] if isinstance(rows, slice) else rows
        table_rows = table_rows.astype(np.int32, copy=False)
        columns = [
            id_column(self.addresses["id"], table_rows, unique=self._unique_ids),
            address_column(self.addresses, table_rows),
            Column.from_series("kommunekode", self.addresses["kommunekode"].iloc[rows]),
        ]
        return PointLayer.build(*to_tile_crs(x, y, WORK_CRS), PropertyTable(columns))

    def _points(self, rid: str) -> FeatureLayer:
        base = self._cached(("address-base",), self._address_base)
        assert isinstance(base, PointLayer)
        rows, x, _ = self._located()
        assessment = self.assessments[rid]
        s = assessment[["class", "best_down", "best_up", "mobile_down", "best_tech"]].iloc[rows]
        own = pd.DataFrame(
            {
                "count": np.ones(len(x), dtype="int64"),
                "class": s["class"].array,
                "best_down": s["best_down"].to_numpy(),
                "best_up": s["best_up"].to_numpy(),
                "mobile_down": s["mobile_down"].to_numpy(),
                "generated": _generated(self.addresses, assessment)[rows],
                "best_tech": s["best_tech"].array,
            }
        )
        columns = [self._shared("addresses", Column.from_series(str(c), own[c])) for c in own]
        return base.with_props(PropertyTable(columns + base.props.columns))

    def _cell_base(self, size: int) -> FeatureLayer:
        """Addresses gathered on DDKN cells: one point per cell at its addresses' mean position,
        with the properties no rule set changes (``count``, ``cell``)."""
        _, x, y = self._located()
        cells = CellKeys.of(x, y, size)
        g = (
            pd.DataFrame({"x": x, "y": y})
            .groupby(cells.key, sort=True)
            .agg(count=("x", "size"), x=("x", "mean"), y=("y", "mean"))
        )
        r, c = cells.row_col(g.index.to_numpy())
        names = pd.Series(cell_names(c * float(size), r * float(size), size))
        props = [Column.from_series("count", g["count"]), Column.from_series("cell", names)]
        x, y = to_tile_crs(g["x"].to_numpy(), g["y"].to_numpy(), WORK_CRS)
        return PointLayer.build(x, y, PropertyTable(props))

    def _cells(self, rid: str, size: int) -> FeatureLayer:
        """The cells of :meth:`_cell_base` with a rule set's class and speed aggregates.

        Reduced on the addresses sorted by cell with numpy (minimum, sum, NaN-skipping minimum,
        any: exact, so the same values as a groupby), passing a few region-size arrays at a time
        instead of a frame of nine columns and a groupby (850k addresses: ~135 MB -> ~45 MB)."""
        base = self._cached(("cells-base", str(size)), lambda: self._cell_base(size))
        assert isinstance(base, PointLayer)
        rows, x, y = self._located()
        order, starts = CellKeys.of(x, y, size).groups()
        assert len(starts) == len(base.x)  # both are the cells of the same positions
        s = self.assessments[rid][["class", "best_down", "best_up", "mobile_down"]].iloc[rows]
        rank = pd.Categorical(s["class"], categories=CLASS_PRIORITY).codes[order]
        rank = np.where(rank < 0, len(CLASS_PRIORITY) - 1, rank)

        def lowest_speed(column: str) -> np.ndarray:
            values = s[column].to_numpy("float64", na_value=np.nan)[order]
            return np.fmin.reduceat(values, starts)  # NaN only where every address has none

        generated = _generated(self.addresses, self.assessments[rid])[rows][order]
        g = pd.DataFrame(
            {
                "eligible": np.add.reduceat((rank < len(_ELIGIBLE)).astype(np.int64), starts),
                "no_data": np.add.reduceat(
                    (rank == CLASS_PRIORITY.index("no_data")).astype(np.int64), starts
                ),
                "best_down": lowest_speed("best_down"),
                "best_up": lowest_speed("best_up"),
                "mobile_down": lowest_speed("mobile_down"),
                "generated": np.logical_or.reduceat(generated, starts),
                "class": np.asarray(CLASS_PRIORITY, dtype=object)[
                    np.minimum.reduceat(rank, starts)
                ],
            }
        )
        family = f"cells-{size}"
        own = [self._shared(family, Column.from_series(str(c), g[c])) for c in g.columns]
        count, cell = base.props.columns
        return base.with_props(PropertyTable([count, *own, cell]))


def _generated(addresses: pd.DataFrame, assessment: pd.DataFrame) -> np.ndarray:
    out = addresses["generated"].fillna(False).to_numpy(dtype=bool).copy()
    if "generated" in assessment.columns:
        out |= assessment["generated"].fillna(False).to_numpy(dtype=bool)
    return out


def _rule_set_id(key: str) -> str:
    from coverage.rules import get_rule_set

    return get_rule_set(key).id


__all__ = [
    "ADDRESS_CELLS",
    "ADDRESS_POINT_ZOOM",
    "CLASS_PRIORITY",
    "GRID_KM1_ZOOM",
    "MAXZOOM",
    "MINZOOM",
    "RULE_LAYERS",
    "VectorTiler",
]
