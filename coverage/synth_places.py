"""Where generated addresses go: real DAGI postcode areas, cut by municipality, with towns and zones.

Every generated address lies inside a *piece*: the intersection of one real postcode polygon with one
real municipality polygon, so its postcode and kommunekode are right by construction. Addresses are
denser in small (town) postcodes, gather around a few town centres per piece, and get a planning
zone from where they fell: Byzone in towns, Landzone in the open land, Sommerhusområde in holiday
clusters near the coast. Placement is vectorised rejection sampling with :func:`shapely.contains_xy`
against an array of prepared piece polygons, one candidate per address per round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from coverage.boundaries import dissolve_parts, read_dagi
from coverage.errors import SourceError

#: Zone codes used while generating; the CSV gets the register's spelling.
BYZONE, LANDZONE, SOMMERHUS = 0, 1, 2
ZONE_NAMES = ("Byzone", "Landzone", "Sommerhusområde")

#: Addresses per postcode hardly depend on its area (count ∝ area^-0.1, times noise): a 3 km² city
#: postcode holds about as many as a 200 km² rural one, so it is far denser, as in the register.
_AREA_EXPONENT = -0.1
#: Postcodes smaller than this are treated as wholly urban: no separate towns, all Byzone.
_URBAN_KM2 = 12.0
#: Share of a rural piece's addresses that live in its towns (the rest is open land).
_TOWN_SHARE = 0.8
#: One town per this many km² of piece, at most _MAX_TOWNS; sizes follow Zipf's law.
_KM2_PER_TOWN = 40.0
_MAX_TOWNS = 6
_ZIPF = 1.1
#: Danish towns of detached houses hold roughly 1,500 access addresses per km².
_TOWN_DENSITY_PER_KM2 = 1500.0
_MIN_SIGMA_M = 120.0
#: A town point further than this many sigmas from its centre is on the fringe: Landzone.
_BYZONE_SIGMAS = 2.2
#: A town centre within this distance of the sea may be a summer-house area instead of a town.
_COAST_M = 3000.0
_SUMMER_SHARE = 0.8
_SUMMER_SPREAD = 1.6
#: Pieces smaller than this (km², or share of their postcode) are slivers of the generalised
#: 1:500.000 outlines, not places where people live.
_SLIVER_KM2 = 0.3
_SLIVER_SHARE = 0.03
#: Rejection sampling rounds before a town point falls back to the open land of its piece.
_TOWN_ROUNDS = 25
_MAX_ROUNDS = 400


@dataclass
class Geography:
    """The real boundaries generation is grounded on, all in EPSG:25832.

    ``municipalities`` and ``postcodes`` are plain tables (codes, names, areas; a postcode area that
    DAGI gives as a range, "1000-1499", keeps its ``first`` and ``last`` code); ``pieces`` holds one
    row per (postcode, municipality) intersection with its prepared polygon; ``land`` indexes every
    Danish municipality (not only the chosen region's) so the coast is the real coast.
    """

    municipalities: pd.DataFrame
    postcodes: pd.DataFrame
    pieces: pd.DataFrame
    piece_geometry: np.ndarray
    land: shapely.STRtree


@dataclass
class Towns:
    """Town centres, one row per town, flat over all pieces."""

    piece: np.ndarray
    rank: np.ndarray
    east: np.ndarray
    north: np.ndarray
    sigma: np.ndarray
    summer: np.ndarray


@dataclass
class Places:
    """Generated address positions with the piece, town (-1 = open land) and zone of each."""

    east: np.ndarray
    north: np.ndarray
    piece: np.ndarray
    town: np.ndarray
    zone: np.ndarray
    towns: Towns


def load_geography(
    municipalities: Path, regions: Path, postcodes: Path, region: str | None
) -> Geography:
    """Read the DAGI layers and cut postcode areas by municipality.

    ``region`` is a 4-digit region code, or None for the whole country. Each municipality's region
    is the one holding most of its area (the generalised outlines overlap a little at borders).
    """
    kommuner = read_dagi(municipalities, ("KOMKODE", "KOMNAVN"), "municipality layer")
    kommuner["KOMKODE"] = kommuner["KOMKODE"].astype(str).str.strip().str.zfill(4)
    munis = dissolve_parts(kommuner, "KOMKODE", "KOMNAVN").sort_values("KOMKODE")
    munis = munis.reset_index(drop=True)
    regioner = read_dagi(regions, ("REGIONKODE", "REGIONNAVN"), "region layer")
    regioner["REGIONKODE"] = regioner["REGIONKODE"].astype(str).str.strip().str.zfill(4)
    regs = dissolve_parts(regioner, "REGIONKODE", "REGIONNAVN").reset_index(drop=True)
    posts = dissolve_parts(
        read_dagi(postcodes, ("POSTNR_TXT", "POSTBYNAVN"), "postcode layer"),
        "POSTNR_TXT",
        "POSTBYNAVN",
    )
    posts = posts.sort_values("POSTNR_TXT").reset_index(drop=True)

    muni_geoms = np.asarray(munis.geometry.array)
    reg_geoms = np.asarray(regs.geometry.array)
    m_idx, r_idx = shapely.STRtree(reg_geoms).query(muni_geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(muni_geoms[m_idx], reg_geoms[r_idx]))
    best = pd.DataFrame({"m": m_idx, "r": r_idx, "a": overlap}).sort_values(["m", "a"])
    best = best.drop_duplicates("m", keep="last").set_index("m")["r"]
    region_of = best.reindex(np.arange(len(munis))).to_numpy()
    if np.isnan(region_of.astype("float64")).any():
        lost = munis["KOMKODE"].to_numpy()[pd.isna(region_of)][0]
        raise SourceError(regions, f"municipality {lost} lies in no region of the layer")
    region_of = region_of.astype("int64")
    table = pd.DataFrame(
        {
            "kommunekode": munis["KOMKODE"].to_numpy(),
            "kommunenavn": munis["KOMNAVN"].astype(str).to_numpy(),
            "regionskode": regs["REGIONKODE"].to_numpy()[region_of],
            "regionsnavn": regs["REGIONNAVN"].astype(str).to_numpy()[region_of],
        }
    )
    chosen = np.ones(len(table), dtype=bool)
    if region is not None:
        chosen = (table["regionskode"] == region).to_numpy()
        if not chosen.any():
            known = ", ".join(sorted(table["regionskode"].unique()))
            raise SourceError(regions, f"region {region} is not in the layer; it has {known}")

    post_geoms = np.asarray(posts.geometry.array)
    p_idx, m_idx = shapely.STRtree(muni_geoms[chosen]).query(post_geoms, predicate="intersects")
    m_idx = np.flatnonzero(chosen)[m_idx]
    cut = _polygonal(shapely.intersection(post_geoms[p_idx], muni_geoms[m_idx]))
    area = shapely.area(cut) / 1e6
    post_area = shapely.area(post_geoms) / 1e6
    keep = (area >= _SLIVER_KM2) & (area >= _SLIVER_SHARE * post_area[p_idx])
    # ...but every municipality keeps its largest piece: Christiansø (0.4 km²) has addresses too.
    by_size = np.lexsort((area, m_idx))
    largest = by_size[np.r_[m_idx[by_size][1:] != m_idx[by_size][:-1], True]]
    keep[largest[area[largest] > 0]] = True
    # Sorted by postcode: streets, names and numbers are handed out per postcode in one pass.
    order = np.lexsort((m_idx, p_idx))
    order = order[keep[order]]
    pieces = pd.DataFrame(
        {
            "postcode": p_idx[order],
            "municipality": m_idx[order],
            "area_km2": area[order],
            "urban": post_area[p_idx[order]] < _URBAN_KM2,
        }
    )
    geometry = cut[order]
    shapely.prepare(geometry)
    # Central Copenhagen comes as ranges ("1000-1499"): one polygon for many street postcodes.
    label = posts["POSTNR_TXT"].astype(str).str.strip()
    bounds = label.str.extract(r"^(\d{3,4})(?:\s*-\s*(\d{3,4}))?$")
    if bounds[0].isna().any():
        bad = label[bounds[0].isna()].iloc[0]
        raise SourceError(postcodes, f"POSTNR_TXT {bad!r} is not a postcode or a range of them")
    first = bounds[0].astype(int).to_numpy()
    postcode_table = pd.DataFrame(
        {
            "postnr": label.str.zfill(4).to_numpy(),
            "postbynavn": posts["POSTBYNAVN"].astype(str).to_numpy(),
            "area_km2": post_area,
            "first": first,
            "last": bounds[1].fillna(bounds[0]).astype(int).to_numpy(),
        }
    )
    land = shapely.STRtree(muni_geoms)
    return Geography(table, postcode_table, pieces, geometry, land)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of intersections (drop stray lines and points at borders)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    polygons = shapely.get_type_id(parts) == 3
    out = np.full(len(geoms), shapely.Polygon(), dtype=object)
    return shapely.multipolygons(parts[polygons], indices=index[polygons], out=out)


def place_addresses(geo: Geography, n: int, rng: np.random.Generator) -> Places:
    """Place ``n`` addresses in the geography's pieces, sorted by piece.

    Postcode density carries a little log-normal noise so no two postcodes look alike.
    """
    pieces = geo.pieces
    post_area = geo.postcodes["area_km2"].to_numpy()
    noise = rng.lognormal(0.0, 0.35, size=len(post_area))
    density = post_area ** (_AREA_EXPONENT - 1.0) * noise
    weight = pieces["area_km2"].to_numpy() * density[pieces["postcode"].to_numpy()]
    counts = rng.multinomial(n, weight / weight.sum())
    piece = np.repeat(np.arange(len(pieces)), counts)

    area = pieces["area_km2"].to_numpy()
    n_towns = np.where(
        pieces["urban"].to_numpy(), 0, np.clip(1 + area // _KM2_PER_TOWN, 1, _MAX_TOWNS)
    ).astype("int64")
    town_offset = np.concatenate([[0], np.cumsum(n_towns)[:-1]])
    town_piece = np.repeat(np.arange(len(pieces)), n_towns)
    town_rank = np.arange(len(town_piece)) - town_offset[town_piece]

    # Which town each point belongs to: a categorical draw whose weights depend only on the number
    # of towns in its piece, so one cumulative Zipf table serves every piece.
    ranks = np.arange(_MAX_TOWNS)
    zipf = np.where(
        ranks[None, :] < np.arange(_MAX_TOWNS + 1)[:, None], (ranks + 1.0) ** -_ZIPF, 0.0
    )
    cum = np.cumsum(zipf, axis=1) / np.maximum(zipf.sum(axis=1, keepdims=True), 1e-12)
    k = n_towns[piece]
    in_town = (k > 0) & (rng.random(n) < _TOWN_SHARE)
    pick = (cum[k] < rng.random(n)[:, None]).sum(axis=1)
    town = np.where(in_town, town_offset[piece] + np.minimum(pick, np.maximum(k - 1, 0)), -1)

    geoms = geo.piece_geometry
    bounds = shapely.bounds(geoms)
    nan = np.full(len(town_piece), np.nan)
    tx, ty = _sample(geoms, bounds, town_piece, nan, nan, nan, rng)
    coastal = _near_coast(geo.land, tx, ty)
    summer = (town_rank > 0) & coastal & (rng.random(len(town_piece)) < _SUMMER_SHARE)
    size = np.bincount(town[in_town], minlength=len(town_piece)).astype("float64")
    sigma = np.maximum(1000.0 * np.sqrt(size / (np.pi * _TOWN_DENSITY_PER_KM2)) / 1.4, _MIN_SIGMA_M)
    sigma = np.where(summer, sigma * _SUMMER_SPREAD, sigma)
    towns = Towns(town_piece, town_rank, tx, ty, sigma, summer)

    cx = np.where(in_town, tx[np.maximum(town, 0)], np.nan)
    cy = np.where(in_town, ty[np.maximum(town, 0)], np.nan)
    sd = np.where(in_town, sigma[np.maximum(town, 0)], np.nan)
    east, north = _sample(geoms, bounds, piece, cx, cy, sd, rng)

    zone = np.full(n, LANDZONE, dtype="int8")
    zone[pieces["urban"].to_numpy()[piece]] = BYZONE
    t = np.maximum(town, 0)
    near = np.hypot(east - tx[t], north - ty[t]) <= _BYZONE_SIGMAS * sigma[t]
    zone[in_town & near & ~summer[t]] = BYZONE
    zone[in_town & summer[t]] = SOMMERHUS
    return Places(east, north, piece, town, zone, towns)


def _sample(
    geoms: np.ndarray,
    bounds: np.ndarray,
    piece: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rejection-sample one point per row inside its piece.

    Rows with a centre draw from a normal around it; rows without (NaN) draw uniformly from the
    piece's bounding box. Each round tests all open rows in one ``contains_xy`` call against their
    own prepared polygons. A town row that keeps missing (a centre at a narrow spit) falls back to
    the open land after a few rounds; a row that still misses at the end takes the piece's
    representative point, so the loop always ends.
    """
    n = len(piece)
    east = np.empty(n)
    north = np.empty(n)
    cx, cy, sigma = cx.copy(), cy.copy(), sigma.copy()
    todo = np.arange(n)
    for round_ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        if round_ == _TOWN_ROUNDS:
            cx[todo] = np.nan
        p = piece[todo]
        uniform = np.isnan(cx[todo])
        b = bounds[p]
        u = rng.random((todo.size, 2))
        g = rng.standard_normal((todo.size, 2))
        x = np.where(
            uniform, b[:, 0] + u[:, 0] * (b[:, 2] - b[:, 0]), cx[todo] + g[:, 0] * sigma[todo]
        )
        y = np.where(
            uniform, b[:, 1] + u[:, 1] * (b[:, 3] - b[:, 1]), cy[todo] + g[:, 1] * sigma[todo]
        )
        hit = shapely.contains_xy(geoms[p], x, y)
        east[todo[hit]] = x[hit]
        north[todo[hit]] = y[hit]
        todo = todo[~hit]
    if todo.size:
        fallback = shapely.point_on_surface(geoms[piece[todo]])
        east[todo] = shapely.get_x(fallback)
        north[todo] = shapely.get_y(fallback)
    return east, north


def _near_coast(land: shapely.STRtree, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """Whether the sea is within ``_COAST_M`` of each point: one of 8 probes around it is off land."""
    angles = np.arange(8) * (np.pi / 4)
    px = (east[:, None] + _COAST_M * np.cos(angles)[None, :]).ravel()
    py = (north[:, None] + _COAST_M * np.sin(angles)[None, :]).ravel()
    hits, _ = land.query(shapely.points(px, py), predicate="intersects")
    on_land = np.zeros(px.size, dtype=bool)
    on_land[hits] = True
    return np.asarray(~on_land.reshape(-1, 8).all(axis=1))
