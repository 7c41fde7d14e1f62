"""Calibrating the model's offset on measurements, with the error reported on held-out devices.

A propagation model's biggest error is a constant: the real EIRP, feeder losses and local clutter
are unknown. Where measurements exist, the offset ``median(measured − modelled)`` is estimated on
part of them and applied to the whole layer. The error before and after is reported on the *other*
part, split by device, never by sample: consecutive samples of one drive are strongly correlated, so
a sample-wise split would let the calibration see the answers it is scored on.

Only outdoor and in-vehicle samples are used; in-vehicle RSRP is raised by the car's penetration
loss (TR 38.901 7.4.3.2: 9 dB mean) to compare with the outdoor model. Indoor samples and those with
no environment are left out, because the building they were taken in is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from coverage.mobile.vocab import UNKNOWN_OPERATOR, model_technology

#: Mean penetration loss of a car body, dB (3GPP TR 38.901 7.4.3.2).
VEHICLE_LOSS_DB = 9.0

#: Most samples a layer is calibrated on; a seeded subset is taken beyond it.
MAX_SAMPLES = 500_000

#: Fewest usable samples (and devices on each side of the split) to calibrate a layer.
MIN_SAMPLES = 20
MIN_DEVICES = 2


@dataclass(frozen=True)
class ErrorStats:
    """Measured minus modelled RSRP over a set of samples: count, mean (bias), MAE, RMSE (dB)."""

    n: int
    bias: float
    mae: float
    rmse: float

    @classmethod
    def of(cls, errors: np.ndarray) -> ErrorStats:
        """Statistics of an array of errors (dB)."""
        e = np.asarray(errors, dtype="float64")
        if e.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        return cls(
            int(e.size),
            round(float(e.mean()), 2),
            round(float(np.abs(e).mean()), 2),
            round(float(np.sqrt((e * e).mean())), 2),
        )


@dataclass(frozen=True)
class Calibration:
    """The offset added to a layer, and the held-out error before and after adding it."""

    offset_db: float
    samples_calibration: int
    samples_holdout: int
    devices_calibration: int
    devices_holdout: int
    before: ErrorStats
    after: ErrorStats

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **data,
                "before": ErrorStats(**data["before"]),
                "after": ErrorStats(**data["after"]),
            }
        )


def calibration_samples(
    measurements: pd.DataFrame,
    operator: str,
    technology: str,
    *,
    vehicle_loss_db: float = VEHICLE_LOSS_DB,
    limit: int | None = MAX_SAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Samples that can calibrate a layer: east, north, outdoor-equivalent RSRP, device.

    A layer of the ``unknown`` operator takes every operator's samples: it stands for whichever
    network the masts carry. Beyond ``limit`` usable samples a seeded random subset of that size
    is taken (the median offset of half a million samples is as good as of twenty million).
    """
    m = measurements
    use = _matches(m["technology"], lambda t: model_technology(t) == technology)
    rsrp_all = m["rsrp"].to_numpy(dtype="float64", na_value=np.nan)
    use &= ~np.isnan(rsrp_all)
    if operator != UNKNOWN_OPERATOR:
        use &= _matches(m["operator"], lambda o: o == operator)
    outdoor = _matches(m["environment"], lambda e: e == "outdoor")
    vehicle = _matches(m["environment"], lambda e: e == "in vehicle")
    use &= outdoor | vehicle
    rows = np.flatnonzero(use)
    if limit is not None and len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    rsrp = rsrp_all[rows] + np.where(vehicle[rows], vehicle_loss_db, 0.0)
    return pd.DataFrame(
        {
            "east": m["east"].to_numpy()[rows],
            "north": m["north"].to_numpy()[rows],
            "rsrp": rsrp,
            "device": _text(m["device"], rows),
        }
    )


def _matches(values: pd.Series, test: Callable[[str], bool]) -> np.ndarray:
    """Rows whose text passes ``test`` (missing never does); a categorical is tested per category."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        passing = np.array([test(str(c)) for c in values.cat.categories] + [False], dtype=bool)
        return passing[values.cat.codes.to_numpy()]  # code -1 (missing) takes the last False
    text = values.astype("string")
    return text.map(test, na_action="ignore").fillna(False).to_numpy(dtype=bool)


def _text(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The chosen rows' values as an object array of text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array[rows].astype("string").to_numpy(dtype=object)
    return values.astype("string").to_numpy()[rows]


def calibrate_offset(
    modelled: np.ndarray,
    measured: np.ndarray,
    devices: np.ndarray,
    *,
    holdout: float = 0.3,
    seed: int = 0,
) -> Calibration | None:
    """Offset = median(measured − modelled) on the calibration devices; errors on the held-out ones.

    ``holdout`` is the share of devices held out (at least one). Returns None when there are too
    few samples or devices for an honest split (the layer is then left uncalibrated).
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be between 0 and 1, got {holdout}")
    modelled = np.asarray(modelled, dtype="float64")
    measured = np.asarray(measured, dtype="float64")
    ok = np.isfinite(modelled) & np.isfinite(measured)
    modelled, measured = modelled[ok], measured[ok]
    devices = np.asarray(devices, dtype=object)[ok]
    unique = np.unique(devices.astype(str))
    if len(modelled) < MIN_SAMPLES or len(unique) < 2 * MIN_DEVICES:
        return None
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(unique)
    n_hold = min(max(MIN_DEVICES, round(holdout * len(unique))), len(unique) - MIN_DEVICES)
    held = np.isin(devices.astype(str), shuffled[:n_hold])
    if held.sum() == 0 or (~held).sum() == 0:
        return None
    errors = measured - modelled
    offset = float(np.median(errors[~held]))
    return Calibration(
        offset_db=round(offset, 2),
        samples_calibration=int((~held).sum()),
        samples_holdout=int(held.sum()),
        devices_calibration=len(unique) - n_hold,
        devices_holdout=n_hold,
        before=ErrorStats.of(errors[held]),
        after=ErrorStats.of(errors[held] - offset),
    )


__all__ = [
    "MAX_SAMPLES",
    "VEHICLE_LOSS_DB",
    "Calibration",
    "ErrorStats",
    "calibrate_offset",
    "calibration_samples",
]
