"""Per-address assessment against a pool rule set, with machine and plain-language reasons.

Every address gets a class (:data:`CLASSES`), the values that decided it, and one sentence in Danish
and in English naming those values. The logic is written once, on arrays:

* the mapping row of each address is found with one hash lookup, and the best fixed technology per
  row with array reductions;
* the outcome of a rule set depends only on (has data, best technology, best down, zone, and best
  up or mobile down where the rule set reads them), and real data holds few distinct combinations
  of these (operators sell speed tiers), so the combinations are factorised first and classified
  and phrased once each, on arrays (Arrow kernels for the text); the results are broadcast back to
  all addresses. 850,000 addresses become a few hundred rows.

:func:`assess_row` (an unmatched mapping row, which has no address) runs the same code on one row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage.errors import InvalidRequestError
from coverage.planning import ZONE_NAMES, ZONE_SOURCES, canonical_zone, resolve_zone_codes
from coverage.rules import RuleSet
from coverage.types import FIXED_TECHNOLOGIES

#: Assessment classes, in order of how much help the address can get.
CLASSES = ("eligible", "eligible_blue", "eligible_if_zone", "not_eligible", "no_data")
#: Outcome of one criterion.
OUTCOMES = ("pass", "fail", "unknown")
PASS, FAIL, UNKNOWN = 0, 1, 2
(ELIGIBLE, ELIGIBLE_BLUE, ELIGIBLE_IF_ZONE, NOT_ELIGIBLE, NO_DATA) = range(5)

#: Columns of an assessment, in order.
ASSESSMENT_COLUMNS = [
    "address_id",
    "kommunekode",
    "best_down",
    "best_up",
    "best_tech",
    "mobile_down",
    "mobile_up",
    "zone",
    "zone_source",
    "class",
    "reasons",
    "reason_da",
    "reason_en",
    "rule_set",
    "generated",
    "speed_outcome",
    "zone_outcome",
]

_SPEED_COLUMNS = [f"{t}_{d}" for t in (*FIXED_TECHNOLOGIES, "mobile") for d in ("down", "up")]


def best_fixed(availability: pd.DataFrame) -> pd.DataFrame:
    """Best fixed technology per mapping row: ``best_down``, ``best_up``, ``best_tech``.

    The best is the highest download among fiber, coax, xDSL and FWA; ties go to the higher upload,
    then to the order fiber, coax, xdsl, fwa. Upload comes from the same technology (NaN when the
    file had no upload column for it). Where nothing is offered (all 0) ``best_tech`` is <NA> and
    both speeds are 0; where the file had no fixed column at all, the speeds are NaN.
    """
    down, up = fixed_matrices(availability)
    best_down, best_up, tech = _best_of(down, up)
    return pd.DataFrame(
        {
            "best_down": best_down,
            "best_up": best_up,
            "best_tech": _tech_labels(tech),
        },
        index=availability.index,
    )


def fixed_matrices(availability: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Down and up speeds as (rows x technologies) float32 matrices, NaN for a missing column."""
    n = len(availability)

    def column(name: str) -> np.ndarray:
        if name not in availability.columns:
            return np.full(n, np.nan, dtype=np.float32)
        return availability[name].to_numpy(dtype=np.float32, na_value=np.nan)

    # column_stack (not reshape(n, -1)): shape (n, technologies) holds for n == 0 too.
    down = np.column_stack([column(f"{t}_down") for t in FIXED_TECHNOLOGIES])
    up = np.column_stack([column(f"{t}_up") for t in FIXED_TECHNOLOGIES])
    return down, up


def _best_of(down: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise best technology: (best down, its up, technology code; -1 = none offered)."""
    n = down.shape[0]
    d = np.where(np.isnan(down), -np.inf, down)
    u = np.where(np.isnan(up), -np.inf, up)
    top = d.max(axis=1) if n else np.empty(0)
    candidate = d == top[:, None]
    u_candidates = np.where(candidate, u, -np.inf)
    top_up = u_candidates.max(axis=1) if n else np.empty(0)
    # argmax returns the first True: the earliest technology in FIXED_TECHNOLOGIES order.
    tech = (candidate & (u_candidates == top_up[:, None])).argmax(axis=1).astype(np.int8)
    rows = np.arange(n)
    best_down = np.where(np.isneginf(top), np.nan, top).astype(np.float32)
    best_up = up[rows, tech].astype(np.float32)
    none_offered = best_down == 0  # 0 means "not offered": no technology, nothing up either
    best_up[none_offered] = 0
    tech[none_offered | np.isnan(best_down)] = -1
    return best_down, best_up, tech


def _tech_labels(tech: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(tech.astype(np.int8), categories=list(FIXED_TECHNOLOGIES))


def lookup_positions(values: pd.Series | pd.Index, value_set: pd.Series | pd.Index) -> np.ndarray:
    """Position of each value's first occurrence in ``value_set``; -1 where absent or null.

    Arrow's hash lookup on the string buffers: no Python objects are made, which matters for a
    million register ids.
    """
    options = pc.SetLookupOptions(_arrow_text(value_set), skip_nulls=True)
    return pc.index_in(_arrow_text(values), options=options).fill_null(-1).to_numpy()


def _arrow_text(values: pd.Series | pd.Index | list[str]) -> pa.Array:
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def availability_positions(address_ids: pd.Series, availability: pd.DataFrame) -> np.ndarray:
    """For each address id, the position of its mapping row in ``availability`` (-1 for none).

    The join keeps one row per address; should a frame hold two, the first wins.
    """
    return lookup_positions(address_ids, availability["address_id"])


def take_rows(values: np.ndarray, positions: np.ndarray, missing: Any) -> np.ndarray:
    """``values`` at ``positions`` (from :func:`availability_positions`), ``missing`` at -1."""
    found = positions >= 0
    if not len(values):
        return np.full(len(positions), missing, dtype=values.dtype)
    return np.where(found, values[np.where(found, positions, 0)], missing).astype(values.dtype)


@dataclass
class Prepared:
    """Inputs of a classification, aligned one row per address (or per lone mapping row)."""

    index: pd.Index
    address_id: pd.Series
    kommunekode: pd.Series
    best_down: np.ndarray
    best_up: np.ndarray
    tech: np.ndarray
    mobile_down: np.ndarray
    mobile_up: np.ndarray
    has_data: np.ndarray
    zone: np.ndarray
    """Codes into :data:`~coverage.planning.ZONE_NAMES`, -1 for unknown."""
    zone_source: np.ndarray
    """Codes into :data:`~coverage.planning.ZONE_SOURCES`."""
    generated: np.ndarray


def prepare(
    addresses: pd.DataFrame,
    availability: pd.DataFrame,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> Prepared:
    """Align each address with its mapping row, best fixed technology and zone (done once)."""
    pos = availability_positions(addresses["id"], availability)
    has = pos >= 0
    down, up = fixed_matrices(availability)
    best_down, best_up, tech = _best_of(down, up)

    def gather(values: np.ndarray, missing: Any) -> np.ndarray:
        return take_rows(values, pos, missing)

    def speed(name: str) -> np.ndarray:
        if name not in availability.columns:
            return np.full(len(pos), np.nan, dtype=np.float32)
        return gather(availability[name].to_numpy(dtype=np.float32, na_value=np.nan), np.nan)

    zone, source = resolve_zone_codes(addresses, zone_layer)
    address_generated = (
        addresses["generated"].to_numpy(dtype=bool)
        if "generated" in addresses.columns
        else np.zeros(len(addresses), dtype=bool)
    )
    mapping_generated = (
        gather(availability["generated"].to_numpy(dtype=bool), False)
        if "generated" in availability.columns
        else np.zeros(len(addresses), dtype=bool)
    )
    return Prepared(
        index=addresses.index,
        address_id=addresses["id"],
        kommunekode=addresses["kommunekode"],
        best_down=gather(best_down, np.nan),
        best_up=gather(best_up, np.nan),
        tech=gather(tech, -1),
        mobile_down=speed("mobile_down"),
        mobile_up=speed("mobile_up"),
        has_data=has,
        zone=zone,
        zone_source=source,
        generated=address_generated | mapping_generated,
    )


def assess(
    addresses: gpd.GeoDataFrame | pd.DataFrame,
    availability: pd.DataFrame,
    rules: RuleSet,
    zone_layer: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Assess every address under one rule set: one row per address, in the same order and index.

    ``addresses`` needs ``id`` and ``kommunekode`` (``zone`` and ``generated`` are used when
    present; point geometry only with a ``zone_layer``); ``availability`` is the release's table.
    Columns are :data:`ASSESSMENT_COLUMNS`: labels and sentences are pandas Categoricals (few
    distinct values), speeds float32 Mbit/s, ``reasons`` is JSON text: a list of
    ``{criterion, value, threshold, comparison, outcome}``.
    """
    return classify(prepare(addresses, availability, zone_layer), rules)


def assess_many(
    addresses: gpd.GeoDataFrame | pd.DataFrame,
    availability: pd.DataFrame,
    rule_sets: Iterable[RuleSet],
    zone_layer: gpd.GeoDataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Assess under several rule sets, aligning the inputs only once; keyed by rule set id."""
    prepared = prepare(addresses, availability, zone_layer)
    return {rules.id: classify(prepared, rules) for rules in rule_sets}


def assess_row(
    availability_row: Mapping[str, Any],
    zone: str | None,
    rules: RuleSet,
    *,
    zone_source: str | None = None,
) -> dict[str, Any]:
    """Assess one mapping row without an address (a lookup of an unmatched row).

    Gives the fields of :func:`assess` as plain Python values (None for missing). ``zone`` may be
    any spelling :func:`~coverage.planning.canonical_zone` accepts; its source defaults to
    ``layer`` when a zone is given (a lone row has no register entry) and ``unknown`` otherwise.
    """
    speeds = {}
    for name in _SPEED_COLUMNS:
        value = availability_row.get(name)
        try:
            speeds[name] = [np.nan if value is None or value is pd.NA else float(value)]
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"{name}: {value!r} is not a speed (expected Mbit/s, 0 = not offered)"
            ) from None
    zone_name = canonical_zone(zone) if zone not in (None, "") else None
    if zone not in (None, "") and zone_name is None:
        raise InvalidRequestError(
            f"zone {zone!r} is not a planning zone; expected one of {', '.join(ZONE_NAMES)}"
        )
    source = zone_source or ("layer" if zone_name else "unknown")
    if source not in ZONE_SOURCES:
        raise InvalidRequestError(f"zone_source {source!r}; expected one of {ZONE_SOURCES}")
    frame = pd.DataFrame(speeds, dtype=np.float32)
    best_down, best_up, tech = _best_of(*fixed_matrices(frame))
    prepared = Prepared(
        index=pd.RangeIndex(1),
        address_id=pd.Series([availability_row.get("address_id")], dtype="string"),
        kommunekode=pd.Series([availability_row.get("kommunekode")], dtype="string"),
        best_down=best_down,
        best_up=best_up,
        tech=tech,
        mobile_down=frame["mobile_down"].to_numpy(),
        mobile_up=frame["mobile_up"].to_numpy(),
        has_data=np.ones(1, dtype=bool),
        zone=np.array([ZONE_NAMES.index(zone_name) if zone_name else -1], dtype=np.int8),
        zone_source=np.array([ZONE_SOURCES.index(source)], dtype=np.int8),
        generated=np.array([bool(availability_row.get("generated") or False)]),
    )
    row = classify(prepared, rules).iloc[0]
    return {k: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for k, v in row.items()}


# --- classification ---------------------------------------------------------------------------


def classify(prepared: Prepared, rules: RuleSet) -> pd.DataFrame:
    """Classify prepared addresses under a rule set (see :func:`assess` for the columns)."""
    zone_code = prepared.zone
    # Only what the rule set reads separates combinations: upload matters only with an upload
    # ceiling, mobile only with a mobile ceiling (values it does not read are never looked at).
    keys = [prepared.has_data, prepared.tech, prepared.best_down, zone_code]
    if rules.fixed.up is not None:
        keys.append(prepared.best_up)
    if rules.mobile_ceiling is not None:
        keys.append(prepared.mobile_down)
    combo, first = _combinations(keys)
    u = _Unique(
        has_data=prepared.has_data[first],
        tech=prepared.tech[first],
        down=prepared.best_down[first],
        up=prepared.best_up[first],
        mobile=prepared.mobile_down[first],
        zone=zone_code[first],
    )
    result = _evaluate(u, rules)

    def spread(values: np.ndarray, categories: Iterable[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(values[combo], categories=list(categories))

    def texts(values: pa.Array) -> pd.Categorical:
        encoded = pc.dictionary_encode(values)
        categories = pd.Index(pd.array(encoded.dictionary, dtype="str"))
        return pd.Categorical.from_codes(encoded.indices.to_numpy()[combo], categories=categories)

    n = len(prepared.index)
    return pd.DataFrame(
        {
            "address_id": prepared.address_id.array,
            "kommunekode": prepared.kommunekode.array,
            "best_down": prepared.best_down,
            "best_up": prepared.best_up,
            "best_tech": _tech_labels(prepared.tech),
            "mobile_down": prepared.mobile_down,
            "mobile_up": prepared.mobile_up,
            "zone": pd.Categorical.from_codes(zone_code, categories=ZONE_NAMES),
            "zone_source": pd.Categorical.from_codes(prepared.zone_source, categories=ZONE_SOURCES),
            "class": spread(result.classes, CLASSES),
            "reasons": texts(result.reasons),
            "reason_da": texts(result.reason_da),
            "reason_en": texts(result.reason_en),
            "rule_set": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [rules.id]),
            "generated": prepared.generated,
            "speed_outcome": spread(result.speed, OUTCOMES),
            "zone_outcome": spread(result.zone, OUTCOMES),
        },
        index=prepared.index,
    )


def _combinations(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Factorise rows of several columns: (code per row, first row of each code)."""
    n = len(keys[0])
    combo = np.zeros(n, dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(key, use_na_sentinel=True)  # NaN -> -1
        # Re-factorising after each column keeps the combined code below n: no overflow.
        combo, _ = pd.factorize(combo * (len(uniques) + 1) + (codes + 1))
    # factorize numbers codes in order of first appearance, so a first occurrence is where the
    # code exceeds every code before it.
    running = np.maximum.accumulate(combo) if n else combo
    first = np.flatnonzero(np.r_[True, running[1:] > running[:-1]]) if n else combo
    return combo, first


@dataclass
class _Unique:
    has_data: np.ndarray
    tech: np.ndarray
    down: np.ndarray
    up: np.ndarray
    mobile: np.ndarray
    zone: np.ndarray


@dataclass
class _Result:
    classes: np.ndarray
    speed: np.ndarray
    zone: np.ndarray
    reasons: pa.Array
    reason_da: pa.Array
    reason_en: pa.Array


def _compare(values: np.ndarray, threshold: float, comparison: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        ok = values <= threshold if comparison == "le" else values < threshold
    return np.where(np.isnan(values), UNKNOWN, np.where(ok, PASS, FAIL)).astype(np.int8)


def _combine(outcomes: list[np.ndarray], how: str) -> np.ndarray:
    """Three-valued or / and: unknown only where the known outcomes do not settle it."""
    stack = np.vstack(outcomes)
    if how == "or":
        return np.where(
            (stack == PASS).any(0), PASS, np.where((stack == FAIL).all(0), FAIL, UNKNOWN)
        ).astype(np.int8)
    return np.where(
        (stack == FAIL).any(0), FAIL, np.where((stack == PASS).all(0), PASS, UNKNOWN)
    ).astype(np.int8)


def _evaluate(u: _Unique, rules: RuleSet) -> _Result:
    """Criteria, class, reasons and sentences for each distinct combination."""
    fixed, mobile, blue = rules.fixed, rules.mobile_ceiling, rules.blue
    members = [_Criterion("fixed_down", u.down, fixed.down, fixed.comparison)]
    if fixed.up is not None:
        members.append(_Criterion("fixed_up", u.up, fixed.up, fixed.comparison))
    fixed_outcome = _combine([c.outcome for c in members], fixed.combine or "and")
    criteria = list(members)
    speed = fixed_outcome
    blue_speed = np.full(len(u.down), FAIL, dtype=np.int8)
    if blue is not None:
        band = _band(u.down, blue.above, blue.down_max)
        criteria.append(_Criterion("blue_band", u.down, blue.down_max, "band", band, blue))
        blue_speed = band
    if mobile is not None and mobile.down is not None and mobile.comparison is not None:
        ceiling = _Criterion("mobile_down", u.mobile, mobile.down, mobile.comparison)
        criteria.append(ceiling)
        speed = _combine([speed, ceiling.outcome], "and")
        blue_speed = _combine([blue_speed, ceiling.outcome], "and")
    regular = speed == PASS
    # A blue address is one that misses the ceiling but lies in the blue band (2021).
    as_blue = ~regular & (blue_speed == PASS)
    qualifies = regular | as_blue
    speed = np.where(
        qualifies, PASS, np.where((speed == UNKNOWN) | (blue_speed == UNKNOWN), UNKNOWN, FAIL)
    ).astype(np.int8)
    zone = _zone_outcome(u.zone, rules)
    classes = np.select(
        [~u.has_data, ~qualifies, zone == FAIL, zone == UNKNOWN, as_blue],
        [NO_DATA, NOT_ELIGIBLE, NOT_ELIGIBLE, ELIGIBLE_IF_ZONE, ELIGIBLE_BLUE],
        ELIGIBLE,
    ).astype(np.int8)

    # What a sentence names: for an "or" ceiling that is met, the values that met it; otherwise
    # every value, since all of them decide.
    shown = {c.name: np.ones(len(u.down), dtype=bool) for c in criteria}
    if len(members) > 1 and fixed.combine == "or":
        for member in members:
            shown[member.name] = (fixed_outcome != PASS) | (member.outcome == PASS)
    da, en = (
        _sentences(lang, rules, criteria, shown, u, classes, speed, as_blue)
        for lang in ("da", "en")
    )
    return _Result(classes, speed, zone, _reasons_json(criteria, u.zone, rules), da, en)


def _band(values: np.ndarray, above: float, at_most: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        inside = (values > above) & (values <= at_most)
    return np.where(np.isnan(values), UNKNOWN, np.where(inside, PASS, FAIL)).astype(np.int8)


# --- phrasing ---------------------------------------------------------------------------------

_OP = {"le": "≤", "lt": "<"}
_NOT_OP = {"le": ">", "lt": "≥"}
_LABEL = {
    "da": {"fixed_down": "fast net", "fixed_up": "upload", "mobile_down": "mobil"},
    "en": {"fixed_down": "fixed", "fixed_up": "upload", "mobile_down": "mobile"},
}
# Indexed by technology code; -1 (nothing offered) picks the last entry.
_TECH = {
    "da": ("fiber", "kabel-tv", "xDSL", "fast trådløst", "intet fast net udbudt"),
    "en": ("fibre", "cable", "xDSL", "fixed wireless", "no fixed network offered"),
}
# Indexed by zone code (ZONE_NAMES order); -1 (unknown) picks the last entry.
_ZONE = {
    "da": ("byzone", "landzone", "sommerhusområde", ""),
    "en": ("byzone", "landzone", "a summer-house area", ""),
}
_PHRASES = {
    "da": {
        "down": " ned",
        "unknown": "{label} er ikke oplyst (grænse {op} {t} Mbit/s)",
        "blue": ", men i det blå bånd over {a} og højst {b} Mbit/s",
        "and": " og ",
        "or": " eller ",
        "eligible": "; adressen ligger i {zone} og er berettiget.",
        "eligible_blue": "; adressen ligger i {zone} og kan være med som blå adresse "
        "(højst {share} % af et projekt).",
        "zone_unknown": "; zonen er ukendt, så adressen er kun berettiget hvis den ligger i "
        "{allowed}.",
        "zone_conditional": "; adressen ligger i {zone}, som kun er omfattet {condition}.",
        "zone_fail": "; adressen ligger i {zone}, som ikke er omfattet (kun {allowed}), så den er "
        "ikke berettiget.",
        "speed_fail": ", så adressen er over loftet og ikke berettiget.",
        "speed_unknown": ", så det kan ikke afgøres om adressen er under loftet, og den regnes "
        "ikke som berettiget.",
        "no_data": "Adressen findes ikke i bredbåndskortlægningen, så den kan ikke vurderes.",
    },
    "en": {
        "down": " down",
        "unknown": "{label} not reported (limit {op} {t} Mbit/s)",
        "blue": ", but in the blue band above {a} and at most {b} Mbit/s",
        "and": " and ",
        "or": " or ",
        "eligible": "; the address lies in {zone} and is eligible.",
        "eligible_blue": "; the address lies in {zone} and may join as a blue address "
        "(at most {share} % of a project).",
        "zone_unknown": "; the zone is unknown, so the address is eligible only if it lies in "
        "{allowed}.",
        "zone_conditional": "; the address lies in {zone}, which counts only {condition}.",
        "zone_fail": "; the address lies in {zone}, which is not covered (only {allowed}), so it "
        "is not eligible.",
        "speed_fail": ", so the address is above the ceiling and not eligible.",
        "speed_unknown": ", so it cannot be shown that the address is under the ceiling; it is "
        "not counted as eligible.",
        "no_data": "The address is not in the broadband mapping, so it cannot be assessed.",
    },
}


@dataclass
class _Criterion:
    """One criterion evaluated on the distinct combinations."""

    name: str
    values: np.ndarray
    threshold: float
    comparison: str
    outcome: np.ndarray = None  # type: ignore[assignment]  # set in __post_init__
    band: Any = None

    def __post_init__(self) -> None:
        if self.outcome is None:
            self.outcome = _compare(self.values, self.threshold, self.comparison)

    def json(self) -> pa.Array:
        """One ``{criterion, value, threshold, comparison, outcome}`` object per row, as text."""
        if self.band is not None:
            threshold = f"[{_number(self.band.above)},{_number(self.band.down_max)}]"
            comparison = "between"  # above the first, at most the second
        else:
            threshold, comparison = _number(self.threshold), self.comparison
        return _cat(
            f'{{"criterion":"{self.name}","value":',
            _numbers(self.values, null="null"),
            f',"threshold":{threshold},"comparison":"{comparison}","outcome":"',
            _pick(OUTCOMES, self.outcome),
            '"}',
        )

    def phrase(self, lang: str, suffix: str, tech: np.ndarray | None) -> pa.Array:
        """``fast net 30 < 100 Mbit/s (xDSL)``, ``upload 1000 > 5 Mbit/s``, ``... not reported``."""
        label = _LABEL[lang][self.name]
        threshold = _number(self.threshold, lang)
        op = _pick([_OP[self.comparison], _NOT_OP[self.comparison]], self.outcome != PASS)
        known = _cat(
            f"{label} ", _numbers(self.values, lang), " ", op, f" {threshold} Mbit/s{suffix}"
        )
        if tech is not None:
            known = _cat(known, " (", _pick(_TECH[lang], tech), ")")
        unknown = _PHRASES[lang]["unknown"].format(
            label=label, op=_OP[self.comparison], t=threshold
        )
        return _choose(self.outcome == UNKNOWN, unknown, known)


# Text is built with Arrow kernels on whole columns: a worst case of one distinct combination per
# address (continuous speeds) stays a few seconds instead of minutes of Python string work.


def _text(part: pa.Array | str) -> pa.Array | pa.Scalar:
    return pa.scalar(part, pa.string()) if isinstance(part, str) else part


def _cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and constants."""
    return pc.binary_join_element_wise(*(_text(p) for p in parts), "")


def _choose(condition: np.ndarray, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    out = pc.if_else(pa.array(condition, pa.bool_()), _text(yes), _text(no))
    if isinstance(out, pa.Scalar):  # both constants: broadcast
        return pc.take(pa.array([out.as_py()], pa.string()), np.zeros(len(condition), np.int32))
    return out


def _pick(variants: Iterable[str], codes: np.ndarray) -> pa.Array:
    """``variants[code]`` per row; a negative code counts from the end (-1: the last variant)."""
    options = pa.array(list(variants), pa.string())
    return pc.take(options, pa.array(np.asarray(codes, dtype=np.int64) % len(options)))


def _numbers(values: np.ndarray, lang: str = "en", null: str = "?") -> pa.Array:
    """Shortest text of each float (``30``, ``2.5``; ``2,5`` in Danish), formatted by Arrow."""
    text = pc.cast(pa.array(values), pa.string())
    if lang == "da":
        text = pc.replace_substring(text, ".", ",")
    return _choose(np.isnan(values), null, text)


def _number(value: float, lang: str = "en") -> str:
    return str(_numbers(np.array([value], dtype=np.float64), lang)[0])


def _zone_outcome(zone: np.ndarray, rules: RuleSet) -> np.ndarray:
    allowed = np.isin(zone, [ZONE_NAMES.index(z) for z in rules.zone.allowed])
    conditional = np.isin(zone, [ZONE_NAMES.index(z) for z in rules.zone.conditional_zones])
    return np.where((zone < 0) | conditional, UNKNOWN, np.where(allowed, PASS, FAIL)).astype(
        np.int8
    )


def _reasons_json(criteria: list[_Criterion], zone: np.ndarray, rules: RuleSet) -> pa.Array:
    """The ``reasons`` column: a JSON list with every criterion of the rule set, zone last."""
    zone_threshold = json.dumps(
        {"allowed": list(rules.zone.allowed), "conditional": list(rules.zone.conditional_zones)},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    parts: list[pa.Array | str] = ["["]
    for criterion in criteria:
        parts += [criterion.json(), ","]
    return _cat(
        *parts,
        '{"criterion":"zone","value":',
        _pick([*(f'"{z}"' for z in ZONE_NAMES), "null"], zone),
        f',"threshold":{zone_threshold},"comparison":"in","outcome":"',
        _pick(OUTCOMES, _zone_outcome(zone, rules)),
        '"}]',
    )


# The endings of a sentence, in the order _sentences selects them.
_ENDINGS = (
    "eligible",
    "eligible_blue",
    "zone_unknown",
    "zone_conditional",
    "speed_fail",
    "speed_unknown",
    "zone_fail",
)


def _sentences(
    lang: str,
    rules: RuleSet,
    criteria: list[_Criterion],
    shown: dict[str, np.ndarray],
    u: _Unique,
    classes: np.ndarray,
    speed: np.ndarray,
    as_blue: np.ndarray,
) -> pa.Array:
    """One sentence per row in ``lang``, naming the values that decided the class."""
    words = _PHRASES[lang]
    n = len(classes)
    suffix = words["down"] if rules.fixed.up is not None else ""
    clause = _choose(np.zeros(n, dtype=bool), "", "")
    earlier = np.zeros(n, dtype=bool)
    for c in criteria:
        if c.name == "blue_band":
            continue
        down = c.name == "fixed_down"
        phrase = c.phrase(lang, suffix if down else "", u.tech if down else None)
        show = shown[c.name]
        clause = _choose(show, _cat(clause, _choose(earlier, words["and"], ""), phrase), clause)
        earlier |= show
    if rules.blue is not None:
        blue = words["blue"].format(
            a=_number(rules.blue.above, lang), b=_number(rules.blue.down_max, lang)
        )
        clause = _choose(as_blue, _cat(clause, blue), clause)
    clause = _cat(
        pc.utf8_upper(pc.utf8_slice_codeunits(clause, 0, 1)), pc.utf8_slice_codeunits(clause, 1)
    )

    # Every ending exists in one variant per zone code (three zones, then unknown); a row picks
    # its variant with one take, so nothing is formatted per row.
    conditions = ["", "", "", ""]
    for cz in rules.zone.conditional:
        conditions[ZONE_NAMES.index(cz.zone)] = getattr(cz.condition, lang)
    items = [_ZONE[lang][ZONE_NAMES.index(z)] for z in rules.zone.allowed] + [
        f"{_ZONE[lang][ZONE_NAMES.index(cz.zone)]} {getattr(cz.condition, lang)}"
        for cz in rules.zone.conditional
    ]
    allowed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + words["or"] + items[-1]
    share = _number(rules.blue.max_project_share * 100, lang) if rules.blue else ""
    variants = [
        words[key].format(
            zone=_ZONE[lang][k], condition=conditions[k], allowed=allowed, share=share
        )
        for key in _ENDINGS
        for k in range(4)
    ] + ["", "", "", ""]
    zone = _zone_outcome(u.zone, rules)
    which = np.select(
        [
            classes == ELIGIBLE,
            classes == ELIGIBLE_BLUE,
            (classes == ELIGIBLE_IF_ZONE) & (u.zone < 0),
            classes == ELIGIBLE_IF_ZONE,
            (classes == NOT_ELIGIBLE) & (speed == FAIL),
            (classes == NOT_ELIGIBLE) & (speed == UNKNOWN),
            (classes == NOT_ELIGIBLE) & (zone == FAIL),
        ],
        range(len(_ENDINGS)),
        len(_ENDINGS),
    )
    endings = _pick(variants, which * 4 + u.zone % 4)
    return _choose(classes == NO_DATA, words["no_data"], _cat(clause, endings))


__all__ = [
    "ASSESSMENT_COLUMNS",
    "CLASSES",
    "OUTCOMES",
    "Prepared",
    "assess",
    "assess_many",
    "assess_row",
    "availability_positions",
    "best_fixed",
    "classify",
    "fixed_matrices",
    "lookup_positions",
    "prepare",
    "take_rows",
]
