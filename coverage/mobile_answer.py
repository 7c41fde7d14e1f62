"""The mobile part of a lookup answer: what measurements and the model say beside the declared value.

The declared speed comes from the broadband mapping; measured (grid aggregates) and modelled (raster)
values come from the release's ``mobile_fusion`` table and ``mobile/`` rasters, each with its source,
date and confidence, so a citizen sees them side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coverage.mobile.model import RasterLayer
from coverage.mobile.raster import sample
from coverage.release import Release


def _value(value: Any) -> Any:
    """JSON-ready scalar: NaN / NA become None, numpy scalars plain Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@dataclass
class MobileContext:
    """The release's fused mobile table (aligned to the address table) and its raster layers."""

    fusion: pd.DataFrame | None
    layers: list[RasterLayer]
    created: str | None

    @classmethod
    def from_release(cls, release: Release, address_ids: pd.Series) -> MobileContext:
        """Read ``mobile_fusion`` aligned row for row with the address table; [] without one."""
        fusion = None
        if release.has_table("mobile_fusion"):
            frame = pd.DataFrame(release.read("mobile_fusion").drop(columns="geometry"))
            fusion = frame.set_index("id").reindex(address_ids.astype(str).to_numpy())
            fusion = fusion.reset_index(drop=True)
        summary = release.manifest.get("mobile") or {}
        layers = [RasterLayer.from_dict(entry, release.path) for entry in summary.get("layers", [])]
        return cls(fusion, layers, release.manifest.get("created"))

    def observations(self, addr_row: int) -> list[dict[str, Any]]:
        """Measured and modelled entries for one address (none without a position or a model)."""
        if self.fusion is None or addr_row < 0:
            return []
        row = self.fusion.iloc[addr_row]
        out: list[dict[str, Any]] = []
        samples = _value(row.get("measured_samples"))
        if samples:
            out.append(
                {
                    "kind": "measured",
                    "down": _value(row["measured_down_median"]),
                    "down_p10": _value(row["measured_down_p10"]),
                    "down_p90": _value(row["measured_down_p90"]),
                    "up": _value(row["measured_up_median"]),
                    "rsrp_dbm": _value(row["measured_rsrp_median"]),
                    "samples": samples,
                    "devices": _value(row["measured_devices"]),
                    "operator": _value(row["measured_operator"]),
                    "technology": _value(row["measured_technology"]),
                    "cell": _value(row["measured_cell"]),
                    "class": _value(row["measured_class"]),
                    "date": _value(row["measured_newest"]),
                    "source": _value(row["measured_source"]),
                    "confidence": _value(row["measured_confidence"]),
                }
            )
        if _value(row.get("modelled_layer")) is not None:
            out.append(
                {
                    "kind": "modelled",
                    "down": _value(row["modelled_down"]),
                    "rsrp_outdoor_dbm": _value(row["modelled_rsrp_outdoor"]),
                    "rsrp_indoor_dbm": _value(row["modelled_rsrp_indoor"]),
                    "class": _value(row["modelled_class"]),
                    "operator": _value(row["modelled_operator"]),
                    "technology": _value(row["modelled_technology"]),
                    "layer": _value(row["modelled_layer"]),
                    "date": self.created,
                    "source": _value(row["modelled_source"]),
                    "confidence": _value(row["modelled_confidence"]),
                }
            )
        return out

    def gap(self, addr_row: int) -> dict[str, Any] | None:
        """The declared-vs-observed gap flag and its reason, when the release has fusion data."""
        if self.fusion is None or addr_row < 0:
            return None
        row = self.fusion.iloc[addr_row]
        return {
            "declared_vs_observed_gap": bool(_value(row["declared_vs_observed_gap"]) or False),
            "reason": _value(row["gap_reason"]),
        }

    def at_point(self, east: float, north: float) -> list[dict[str, Any]]:
        """Modelled RSRP of every layer at a position itself (EPSG:25832)."""
        out = []
        for layer in self.layers:
            value = float(sample(layer.path, np.array([east]), np.array([north]))[0])
            out.append(
                {
                    "layer": layer.name,
                    "operator": layer.operator,
                    "technology": layer.technology,
                    "environment": layer.environment,
                    "rsrp_dbm": None if math.isnan(value) else value,
                    "units": layer.units,
                    "generated": layer.generated,
                }
            )
        return out
