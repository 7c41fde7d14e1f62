"""Which addresses a selection takes: eligible under a rule set, or under a speed threshold.

Zones (:mod:`coverage.zones`), exports and the planner's map all select addresses the same way,
from an assessment's class or its best fixed and mobile speeds, so the rule lives here once.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from coverage.errors import InvalidRequestError

#: Assessment classes that count as "can get help from the pool" for selections and exports.
ELIGIBLE_CLASSES = ("eligible", "eligible_blue", "eligible_if_zone")

_THRESHOLD = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:/\s*(\d+(?:[.,]\d+)?)\s*)?$")


def eligible_mask(assessment: pd.DataFrame) -> np.ndarray:
    """Addresses whose class is one of :data:`ELIGIBLE_CLASSES` (eligible, blue, if the zone holds)."""
    return assessment["class"].isin(ELIGIBLE_CLASSES).fillna(False).to_numpy(dtype=bool)


def parse_speed_threshold(text: str) -> tuple[float, float | None]:
    """Parse ``"100/30"`` (down/up) or ``"100"`` (down only) into Mbit/s values.

    A decimal comma is accepted (``"0,5/0,1"``). Raises :class:`InvalidRequestError` naming the text.
    """
    match = _THRESHOLD.match(str(text))
    if match is None:
        raise InvalidRequestError(
            f"fixed-below {text!r} is not a speed threshold: expected DOWN/UP in Mbit/s like "
            "'100/30', or DOWN alone like '100'"
        )
    down = float(match.group(1).replace(",", "."))
    up = float(match.group(2).replace(",", ".")) if match.group(2) else None
    if down <= 0 or (up is not None and up <= 0):
        raise InvalidRequestError(
            f"fixed-below {text!r}: thresholds must be above 0 Mbit/s (nothing is below 0)"
        )
    return down, up


def threshold_label(fixed_below: str | None, mobile_below: float | None) -> str:
    """A short human label for a threshold selection, e.g. ``fixed<100/30 mobile<600``."""
    parts = []
    if fixed_below is not None:
        down, up = parse_speed_threshold(fixed_below)
        parts.append(f"fixed<{_num(down)}" + (f"/{_num(up)}" if up is not None else ""))
    if mobile_below is not None:
        parts.append(f"mobile<{_num(float(mobile_below))}")
    return " ".join(parts)


def threshold_mask(
    assessment: pd.DataFrame, fixed_below: str | None, mobile_below: float | None
) -> np.ndarray:
    """Addresses under a speed threshold, from an assessment's best fixed and mobile speeds.

    ``fixed_below`` is ``"DOWN/UP"`` (an address counts when its best fixed download is below DOWN
    **or** its best upload below UP: either falls short of the product) or ``"DOWN"`` (download only).
    ``mobile_below`` selects mobile download below the value. Both given: both must hold, as in the
    2024–2025 pool rule (fixed below 100 and mobile below 600). An address with no mapping data
    (NaN speed) is never selected: a gap must be shown by data, not by its absence.
    """
    if fixed_below is None and mobile_below is None:
        raise InvalidRequestError(
            "give a fixed-below threshold (e.g. '100/30'), mobile-below, or both"
        )
    selected = np.ones(len(assessment), dtype=bool)
    if fixed_below is not None:
        down, up = parse_speed_threshold(fixed_below)
        best_down = assessment["best_down"].to_numpy(dtype="float64", na_value=np.nan)
        fixed = best_down < down
        if up is not None:
            best_up = assessment["best_up"].to_numpy(dtype="float64", na_value=np.nan)
            fixed |= best_up < up
        selected &= fixed
    if mobile_below is not None:
        limit = float(mobile_below)
        if not np.isfinite(limit) or limit <= 0:
            raise InvalidRequestError(
                f"mobile-below {mobile_below!r} must be a positive number of Mbit/s, e.g. 600"
            )
        mobile = assessment["mobile_down"].to_numpy(dtype="float64", na_value=np.nan)
        selected &= mobile < limit
    return selected


def _num(value: float) -> str:
    return f"{value:g}"


__all__ = [
    "ELIGIBLE_CLASSES",
    "eligible_mask",
    "parse_speed_threshold",
    "threshold_label",
    "threshold_mask",
]
