"""``netkort synth``: seeded, generated data at region or national scale, grounded on the real parts.

Only Samsø has real addresses and coverage. The generator writes an address register and a broadband
mapping in the real files' CSV columns, plus a source manifest, so that ``netkort build --sources
DIR/sources.toml`` reads them through the normal ingest, validation and join. Generated data says so
everywhere: a ``generated`` column set to ``true`` on every row, ``generated = true`` in the manifest
(hence in every release built from it), ``Synt.`` in front of every street and town name, and a
README beside the files.

What is real: addresses lie inside the real DAGI postcode polygons, cut by the real municipality
polygons (so postnr and kommunekode are right), and offered speeds are drawn from the real 2026
mapping of Samsø. Everything else comes from ``np.random.default_rng`` streams spawned from one seed:
same seed and options, same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pyproj import Transformer

from coverage import __version__
from coverage.build import SilentSteps, StepReporter
from coverage.errors import InvalidRequestError, SourceError
from coverage.sources import Boundaries, load_manifest
from coverage.synth_files import (
    ManifestEntry,
    append_manifest_entries,
    atomic_write,
    generation_date,
    write_csv,
    write_manifest,
)
from coverage.synth_mobile import MobileOptions, readme_lines, synthesize_mobile
from coverage.synth_places import (
    BYZONE,
    LANDZONE,
    ZONE_NAMES,
    Geography,
    Places,
    load_geography,
    place_addresses,
)
from coverage.synth_speeds import (
    MAPPING_COLUMNS,
    SPEED_COLUMNS,
    SpeedProfiles,
    draw_speeds,
    load_profiles,
    pick_underserved,
)
from coverage.synth_text import (
    NameKeys,
    ddkn_names,
    house_numbers,
    lay_out_streets,
    postcode_numbers,
    street_names,
    town_names,
    uuids,
)
from coverage.types import WEB_CRS, WORK_CRS

Scale = Literal["region", "national"]

#: Addresses generated when ``--addresses`` is not given: about the register's size at each scale.
DEFAULT_ADDRESSES: dict[str, int] = {"region": 850_000, "national": 3_800_000}

ADDRESSES_FILE = "adgangsadresser.csv"
MAPPING_FILE = "bbk_udbudt.csv"
MANIFEST_FILE = "sources.toml"
README_FILE = "README.txt"

#: The register's CSV columns (as in the bundle's Samsø extract), plus ``generated``.
ADDRESS_CSV_COLUMNS = (
    "id", "vejnavn", "husnr", "supplerendebynavn", "postnr", "postnrnavn", "kommunekode",
    "kommunenavn", "etrs89koordinat_øst", "etrs89koordinat_nord", "wgs84koordinat_bredde",
    "wgs84koordinat_længde", "ddkn_m100", "ddkn_km1", "ddkn_km10", "regionskode", "regionsnavn",
    "zone", "generated",
)  # fmt: skip
MAPPING_CSV_COLUMNS = (*MAPPING_COLUMNS, "generated")

#: Share of mapping rows on streets the register does not know yet (Samsø 2026: 105 of 4,549).
DEFAULT_UNMATCHED = 0.023
#: Addresses per new street in the unmatched rows.
_NEW_STREET_MEAN = 15

_TO_WGS84 = Transformer.from_crs(WORK_CRS, WEB_CRS, always_xy=True)


@dataclass(frozen=True)
class SynthOptions:
    """What to generate. Invalid values raise :class:`InvalidRequestError` naming the option."""

    scale: Scale = "region"
    addresses: int | None = None
    """Number of addresses; default :data:`DEFAULT_ADDRESSES` for the scale."""
    seed: int = 2026
    underserved: float = 0.02
    """Share of matched mapping rows whose best fixed download is below 100 Mbit/s."""
    unmatched: float = DEFAULT_UNMATCHED
    """Share of mapping rows on new streets that match no address."""
    region: str = "1082"
    """Region code for ``scale="region"``."""
    mobile: MobileOptions = field(default_factory=MobileOptions)
    """Mobile sites and measurements (default: the bundle's mast density, 20 M nationally)."""

    def __post_init__(self) -> None:
        if self.scale not in DEFAULT_ADDRESSES:
            raise InvalidRequestError(f"scale {self.scale!r}: expected 'region' or 'national'")
        if self.addresses is not None and not 1 <= self.addresses <= 50_000_000:
            raise InvalidRequestError(
                f"--addresses {self.addresses}: expected a number from 1 to 50,000,000"
            )
        if not 0.0 <= self.underserved <= 0.5:
            raise InvalidRequestError(
                f"--underserved {self.underserved}: expected a share from 0 to 0.5 (e.g. 0.02)"
            )
        if not 0.0 <= self.unmatched <= 0.5:
            raise InvalidRequestError(f"unmatched share {self.unmatched}: expected 0 to 0.5")
        if not (self.region.isdigit() and len(self.region) == 4):
            raise InvalidRequestError(f"region {self.region!r}: expected a 4-digit region code")
        if self.seed < 0:
            raise InvalidRequestError(f"--seed {self.seed}: expected a whole number >= 0")

    @property
    def n_addresses(self) -> int:
        """The number of addresses to generate."""
        return self.addresses if self.addresses is not None else DEFAULT_ADDRESSES[self.scale]


@dataclass
class SynthResult:
    """What a run wrote and counted."""

    out_dir: Path
    files: dict[str, Path]
    counts: dict[str, Any]
    options: SynthOptions
    date: str
    build_command: str = ""
    zones: dict[str, int] = field(default_factory=dict)


def synthesize(
    out_dir: str | Path,
    data_dir: Path,
    options: SynthOptions | None = None,
    *,
    reporter: StepReporter | None = None,
    extra_entries: Sequence[ManifestEntry] = (),
) -> SynthResult:
    """Generate the register, the mapping, ``sources.toml`` and ``README.txt`` into ``out_dir``.

    ``data_dir`` is the data bundle: its default manifest names the DAGI layers and the real mapping
    the speeds are drawn from. ``extra_entries`` are added to ``sources.toml`` as they are (other
    generators' files, e.g. mobile sites and measurements).
    """
    options = options or SynthOptions()
    steps = reporter or SilentSteps()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidRequestError(f"{out}: exists and is not a folder; give a folder for -o")
    bundle = load_manifest(None, data_dir)
    b = bundle.boundaries
    if b.regions is None or b.postcodes is None:
        raise SourceError(bundle.path, "[boundaries] needs regions and postcodes for netkort synth")
    if not bundle.of("mapping"):
        raise SourceError(bundle.path, "no [[mapping]] to draw speed profiles from")
    real_mapping = bundle.of("mapping")[0]

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(options.seed).spawn(3)]
    place_rng, text_rng, map_rng = streams
    n = options.n_addresses
    national = options.scale == "national"

    with steps.step("Boundaries: postcode areas cut by municipality"):
        geo = load_geography(
            b.municipalities, b.regions, b.postcodes, None if national else options.region
        )
        profiles = load_profiles(real_mapping.path, real_mapping.profile or "bbk-bundle")
    with steps.step(f"Placing {n:,} addresses"):
        places = place_addresses(geo, n, place_rng)
    with steps.step("Streets, house numbers and register ids"):
        table, register = _address_table(geo, places, text_rng)
    with steps.step("Broadband mapping rows"):
        mapping, mapping_counts = _mapping_table(register, profiles, options, map_rng)

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "addresses": out / ADDRESSES_FILE,
        "mapping": out / MAPPING_FILE,
        "manifest": out / MANIFEST_FILE,
        "readme": out / README_FILE,
    }
    zone_codes = register.zone
    zones = {name: int((zone_codes == i).sum()) for i, name in enumerate(ZONE_NAMES)}
    counts: dict[str, Any] = {
        "addresses": n,
        "municipalities": len(np.unique(register.municipality)),
        "postcodes": len(np.unique(register.postcode)),
        "streets": register.streets,
        "towns": len(places.towns.piece),
        **mapping_counts,
    }
    today = generation_date()
    with steps.step(f"Writing {ADDRESSES_FILE} and {MAPPING_FILE}"):
        write_csv(table, files["addresses"])
        write_csv(mapping, files["mapping"])
    del table, mapping
    stamp = f"seed {options.seed}, {options.scale} scale, {today}"
    mobile = synthesize_mobile(
        out,
        bundle,
        "all" if national else options.region,
        (register.east, register.north),
        options.mobile,
        seed=options.seed,
        stamp=stamp,
        end=datetime.fromisoformat(today).replace(tzinfo=UTC),
        reporter=steps,
    )
    files.update(mobile.files)
    counts.update(mobile.counts)
    entries = [
        ManifestEntry(
            "addresses",
            files["addresses"].resolve(),
            attribution=f"GENERERET af netkort synth ({stamp}): ikke virkelige adresser",
        ),
        ManifestEntry(
            "mapping",
            files["mapping"].resolve(),
            profile="bbk-bundle",
            year=2026,
            attribution=(
                f"GENERERET af netkort synth ({stamp}): ikke virkelige hastigheder; profiler fra "
                "Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026 (Samsø)"
            ),
        ),
        *mobile.entries,
        *extra_entries,
    ]
    build_command = f"netkort build --sources {files['manifest'].resolve()}" + (
        " --region all" if national else ""
    )
    write_manifest(
        files["manifest"],
        Boundaries(
            municipalities=b.municipalities.resolve(),
            regions=b.regions.resolve(),
            postcodes=b.postcodes.resolve(),
            attribution=b.attribution,
            licence=b.licence,
        ),
        entries,
        header=(
            f"Source manifest written by netkort synth ({stamp}).\n"
            "The address, mapping and mobile files are GENERATED, not real; the boundaries are "
            "real DAGI.\n"
            f"Build: {build_command}"
        ),
    )
    result = SynthResult(out, files, counts, options, today, build_command, zones)
    atomic_write(files["readme"], _readme(result, profiles, "\n".join(readme_lines(mobile))))
    return result


@dataclass
class _Register:
    """What the mapping needs from the generated register, in register order."""

    text: dict[str, pa.Array]
    """vejnavn, husnr, postnr, kommunenavn as written to the register."""
    postcode: np.ndarray
    municipality: np.ndarray
    zone: np.ndarray
    east: np.ndarray
    north: np.ndarray
    streets_per_postcode: np.ndarray
    streets: int
    name_keys: NameKeys
    postcode_first: np.ndarray
    postcode_last: np.ndarray
    municipality_names: np.ndarray


def _address_table(
    geo: Geography, places: Places, rng: np.random.Generator
) -> tuple[pa.Table, _Register]:
    """The register CSV's columns, in street order, and what the mapping needs from them."""
    pieces = geo.pieces
    postcode_of_piece = pieces["postcode"].to_numpy()
    n_postcodes = len(geo.postcodes)
    layout = lay_out_streets(
        places.piece, postcode_of_piece, places.east, places.north, n_postcodes, rng
    )
    o = layout.order
    posts = geo.postcodes
    piece = places.piece[o]
    postcode = postcode_of_piece[piece]
    municipality = pieces["municipality"].to_numpy()[piece]
    town = places.town[o]
    zone = places.zone[o]
    # The register gives centimetres; DDKN cells come from the rounded values, as a reader sees them.
    east = np.round(places.east[o], 2)
    north = np.round(places.north[o], 2)
    lon, lat = _TO_WGS84.transform(east, north)

    keys = NameKeys.draw(n_postcodes, rng)
    ids = uuids(len(o), rng)
    # One postcode per street: a range area ("1000-1499") gives each street one code of the range.
    street_postcode = postcode[np.flatnonzero(np.r_[True, np.diff(layout.street) != 0])]
    postnr = postcode_numbers(
        posts["first"].to_numpy()[street_postcode], posts["last"].to_numpy()[street_postcode], rng
    ).take(pa.array(layout.street))
    streets = street_names(postcode, layout.ordinal, keys)
    husnr = house_numbers(layout.number, layout.letter)
    towns = places.towns
    names = np.concatenate([town_names(len(towns.piece), rng), np.array([""], dtype=object)])
    # Villages other than a piece's main town name their addresses (supplerende bynavn).
    named = (town >= 0) & (towns.rank[np.maximum(town, 0)] > 0)
    suppl = np.where(named, town, len(towns.piece))
    munis = geo.municipalities

    def text(values: np.ndarray, index: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.string()).take(pa.array(index))

    columns = {
        "id": ids,
        "vejnavn": streets,
        "husnr": husnr,
        "supplerendebynavn": text(names, suppl),
        "postnr": postnr,
        "postnrnavn": text(posts["postbynavn"].to_numpy(), postcode),
        "kommunekode": text(munis["kommunekode"].to_numpy(), municipality),
        "kommunenavn": text(munis["kommunenavn"].to_numpy(), municipality),
        "etrs89koordinat_øst": pa.array(east),
        "etrs89koordinat_nord": pa.array(north),
        "wgs84koordinat_bredde": pa.array(np.round(lat, 7)),
        "wgs84koordinat_længde": pa.array(np.round(lon, 7)),
        "ddkn_m100": ddkn_names(east, north, 100),
        "ddkn_km1": ddkn_names(east, north, 1000),
        "ddkn_km10": ddkn_names(east, north, 10000),
        "regionskode": text(munis["regionskode"].to_numpy(), municipality),
        "regionsnavn": text(munis["regionsnavn"].to_numpy(), municipality),
        "zone": text(np.array(ZONE_NAMES, dtype=object), zone),
        "generated": pa.array(np.ones(len(o), dtype=bool)),
    }
    table = pa.table([columns[c] for c in ADDRESS_CSV_COLUMNS], names=list(ADDRESS_CSV_COLUMNS))
    register = _Register(
        text={c: columns[c] for c in MAPPING_COLUMNS[:4]},
        postcode=postcode,
        municipality=municipality,
        zone=zone,
        east=east,
        north=north,
        streets_per_postcode=layout.streets_per_postcode,
        streets=int(layout.street[-1] + 1) if len(o) else 0,
        name_keys=keys,
        postcode_first=posts["first"].to_numpy(),
        postcode_last=posts["last"].to_numpy(),
        municipality_names=munis["kommunenavn"].to_numpy(),
    )
    return table, register


def _mapping_table(
    a: _Register, profiles: SpeedProfiles, options: SynthOptions, rng: np.random.Generator
) -> tuple[pa.Table, dict[str, int]]:
    """Mapping rows: one per address except a few, plus rows on new streets the register lacks.

    Rows total the number of addresses, as in the real file (4,549 rows for 4,591 addresses).
    """
    n = len(a.postcode)
    n_new = int(np.rint(options.unmatched * n))
    has_row = np.ones(n, dtype=bool)
    has_row[rng.choice(n, size=min(n_new, n), replace=False)] = False
    target = int(np.rint(options.underserved * has_row.sum()))
    zone = a.zone
    underserved = pick_underserved(
        a.east,
        a.north,
        [has_row & (zone == LANDZONE), has_row & (zone != BYZONE), has_row],
        target,
        rng,
    )
    rows = np.flatnonzero(has_row)
    speeds = draw_speeds(profiles, underserved[rows], rng)
    take = pa.array(rows)
    text = {c: values.take(take) for c, values in a.text.items()}

    new_text, new_speeds = _new_street_rows(a, profiles, n_new, rng)
    columns: dict[str, pa.Array] = {}
    for c in MAPPING_COLUMNS[:4]:
        columns[c] = pa.concat_arrays([text[c], new_text[c]])
    all_speeds = np.concatenate([speeds, new_speeds])
    for i, c in enumerate(SPEED_COLUMNS):
        columns[c] = pa.array(all_speeds[:, i])
    columns["generated"] = pa.array(np.ones(len(all_speeds), dtype=bool))
    table = pa.table([columns[c] for c in MAPPING_CSV_COLUMNS], names=list(MAPPING_CSV_COLUMNS))
    counts = {
        "mapping_rows": len(all_speeds),
        "matched_rows": len(rows),
        "unmatched_rows": len(new_speeds),
        "addresses_without_row": int(n - len(rows)),
        "underserved_rows": int(underserved.sum()),
    }
    return table, counts


def _new_street_rows(
    a: _Register, profiles: SpeedProfiles, n_new: int, rng: np.random.Generator
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Rows on streets built after the register extract: names the postcode has not used yet."""
    if n_new == 0 or len(a.postcode) == 0:
        empty = pa.array([], type=pa.string())
        return dict.fromkeys(MAPPING_COLUMNS[:4], empty), np.zeros((0, len(SPEED_COLUMNS)), "int32")
    n_streets = max(1, -(-n_new // _NEW_STREET_MEAN))
    host = np.sort(rng.integers(0, len(a.postcode), size=n_streets))
    postcode = a.postcode[host]
    municipality = a.municipality[host]
    first = np.r_[True, postcode[1:] != postcode[:-1]]
    index = np.arange(n_streets)
    rank = index - np.maximum.accumulate(np.where(first, index, 0))
    ordinal = a.streets_per_postcode[postcode] + rank  # past every street the register has
    lengths = 1 + rng.multinomial(n_new - n_streets, np.full(n_streets, 1.0 / n_streets))
    street = np.repeat(np.arange(n_streets), lengths)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    number = np.arange(n_new) - starts[street] + 1
    names = street_names(postcode, ordinal, a.name_keys).take(pa.array(street))
    text = {
        "vejnavn": names,
        "husnr": house_numbers(number, np.zeros(n_new, dtype="int64")),
        "postnr": postcode_numbers(a.postcode_first[postcode], a.postcode_last[postcode], rng).take(
            pa.array(street)
        ),
        "kommunenavn": pa.array(a.municipality_names, type=pa.string()).take(
            pa.array(municipality[street])
        ),
    }
    speeds = draw_speeds(profiles, np.zeros(n_new, dtype=bool), rng)
    return text, speeds


def _readme(result: SynthResult, profiles: SpeedProfiles, mobile: str) -> str:
    o, c = result.options, result.counts
    scale = "all of Denmark" if o.scale == "national" else f"region {o.region}"
    command = (
        f"netkort synth -o DIR --scale {o.scale} --addresses {o.n_addresses} --seed {o.seed} "
        f"--underserved {o.underserved}"
        + (f" --sites {o.mobile.sites}" if o.mobile.sites is not None else "")
        + (f" --measurements {o.mobile.measurements}" if o.mobile.measurements is not None else "")
    )
    zones = ", ".join(f"{v:,} {k}" for k, v in result.zones.items())
    share = c["underserved_rows"] / max(c["matched_rows"], 1)
    return f"""GENERATED DATA - NOT REAL ADDRESSES, NOT REAL COVERAGE
=======================================================

These files were generated by netkort synth {__version__} on {result.date}
(seed {o.seed}, {o.scale} scale: {scale}). They are random records for testing and benchmarking
at realistic size. No address, street, house number, register id or offered speed in them is real.

  {ADDRESSES_FILE:<22} {c["addresses"]:,} access addresses in {c["municipalities"]} municipalities,
  {"":<22} {c["postcodes"]} postcodes, {c["streets"]:,} streets ({zones})
  {MAPPING_FILE:<22} {c["mapping_rows"]:,} broadband mapping rows: {c["matched_rows"]:,} for addresses,
  {"":<22} {c["unmatched_rows"]:,} on new streets that match no address; {c["underserved_rows"]:,}
  {"":<22} underserved (best fixed download below 100 Mbit/s, {share:.2%} of the matched rows)
{mobile + chr(10) if mobile else ""}  {MANIFEST_FILE:<22} source manifest: real DAGI boundaries + these files, generated = true
  {README_FILE:<22} this file

How to recognise them: every row has generated=true, every street and town name, site id and
device starts with "Synt."/"synt-", and sources.toml marks every file generated = true, so every
release, map and export built from them says it contains generated records.

What is real: the municipality, region and postcode polygons the addresses are placed in
(Indeholder data fra Styrelsen for Dataforsyning og Infrastruktur, DAGI 1:500.000, februar 2014),
and the speed profiles, drawn from the {profiles.rows:,} rows of the 2026 broadband mapping of Samsø
(Kilde: Digitaliseringsstyrelsen, Bredbåndskortlægning 2026). Underserved rows are built from that
file's xDSL and mobile offers and placed in rural clusters.

Same options, same bytes:  {command}
Build a release from them: netkort build --sources DIR/{MANIFEST_FILE}{" --region all" if o.scale == "national" else ""}
"""


__all__ = [
    "ADDRESSES_FILE",
    "ADDRESS_CSV_COLUMNS",
    "DEFAULT_ADDRESSES",
    "MANIFEST_FILE",
    "MAPPING_CSV_COLUMNS",
    "MAPPING_FILE",
    "README_FILE",
    "ManifestEntry",
    "Scale",
    "SynthOptions",
    "SynthResult",
    "append_manifest_entries",
    "synthesize",
    "write_csv",
    "write_manifest",
]
