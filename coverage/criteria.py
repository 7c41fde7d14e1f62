"""A rule set evaluated on the distinct combinations of what decides it, with its reasons.

:mod:`coverage.assess` factorises addresses into the few distinct combinations of (has data, best
technology, best down, zone, and best up or mobile down where the rule set reads them); this module
takes those combinations, evaluates every criterion with three-valued outcomes (pass, fail, unknown),
picks the class, and writes the machine-readable ``reasons`` (JSON) and one sentence in Danish and in
English per combination. Text is built with Arrow kernels on whole columns, never per row in Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coverage.planning import ZONE_NAMES
from coverage.rules import RuleSet

#: Assessment classes, in order of how much help the address can get.
CLASSES = ("eligible", "eligible_blue", "eligible_if_zone", "not_eligible", "no_data")
#: Outcome of one criterion.
OUTCOMES = ("pass", "fail", "unknown")
PASS, FAIL, UNKNOWN = 0, 1, 2
(ELIGIBLE, ELIGIBLE_BLUE, ELIGIBLE_IF_ZONE, NOT_ELIGIBLE, NO_DATA) = range(5)


def combinations(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
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
class Combinations:
    """One row per distinct combination of the values a rule set reads (codes as in assess)."""

    has_data: np.ndarray
    tech: np.ndarray
    down: np.ndarray
    up: np.ndarray
    mobile: np.ndarray
    zone: np.ndarray


@dataclass
class Evaluation:
    """Class, outcomes, reasons and sentences per combination."""

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


def evaluate(u: Combinations, rules: RuleSet) -> Evaluation:
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
    return Evaluation(classes, speed, zone, _reasons_json(criteria, u.zone, rules), da, en)


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
    u: Combinations,
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
    "CLASSES",
    "ELIGIBLE",
    "ELIGIBLE_BLUE",
    "ELIGIBLE_IF_ZONE",
    "FAIL",
    "NOT_ELIGIBLE",
    "NO_DATA",
    "OUTCOMES",
    "PASS",
    "UNKNOWN",
    "Combinations",
    "Evaluation",
    "combinations",
    "evaluate",
]
