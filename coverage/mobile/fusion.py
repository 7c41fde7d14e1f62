"""Mobile coverage per address: declared, measured and modelled side by side.

* **declared**: the broadband mapping's mobile download / upload for the address (what operators
  report); confidence ``medium``: authoritative for the mapping, but unverified.
* **measured**: the address's published aggregate cell (100 m first, else 1 km), the best operator ×
  technology there by median download. Confidence ``high`` for a 100 m cell with ≥ 30 samples from
  ≥ 5 devices, ``medium`` for any other published 100 m cell or a 1 km cell that large, else ``low``.
* **modelled**: the model's outdoor RSRP at the address for every operator × technology, turned into
  an expected speed by the speed model, best layer kept; with the indoor value of the same layer.
  Confidence ``medium`` when the layer was calibrated on measurements with a held-out RMSE of at most
  8 dB, else ``low``.

The **declared vs observed gap** flag is raised where the declared class is above the class of the
measured *90th percentile*: even the best tenth of the samples did not reach what was declared. Only
measured evidence of ``medium`` or ``high`` confidence can raise it. Flagged addresses form a layer
(:func:`gap_flag_layer`), the starting point of an objection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.mobile.aggregate import CellAggregates
from coverage.mobile.model import RasterLayer
from coverage.mobile.propagation import TECHNOLOGY_PROFILES, TechProfile, expected_down_mbit
from coverage.mobile.raster import sample
from coverage.mobile.vocab import SPEED_CLASS_LABELS, speed_class
from coverage.types import WORK_CRS

#: Held-out RMSE (dB) up to which a calibrated layer counts as ``medium`` confidence.
CALIBRATED_RMSE_DB = 8.0
#: A measured cell this large is ``high`` confidence (at 100 m) or ``medium`` (at 1 km).
SOLID_SAMPLES = 30
SOLID_DEVICES = 5

CONFIDENCE = ("none", "low", "medium", "high")

FUSION_COLUMNS = [
    "id",
    "vejnavn",
    "husnr",
    "postnr",
    "kommunekode",
    "declared_down",
    "declared_up",
    "declared_class",
    "declared_source",
    "declared_confidence",
    "measured_down_median",
    "measured_down_p10",
    "measured_down_p90",
    "measured_up_median",
    "measured_rsrp_median",
    "measured_samples",
    "measured_devices",
    "measured_operator",
    "measured_technology",
    "measured_cell",
    "measured_newest",
    "measured_class",
    "measured_source",
    "measured_confidence",
    "modelled_rsrp_outdoor",
    "modelled_rsrp_indoor",
    "modelled_down",
    "modelled_class",
    "modelled_operator",
    "modelled_technology",
    "modelled_layer",
    "modelled_source",
    "modelled_confidence",
    "declared_vs_observed_gap",
    "gap_reason",
    "generated",
]


def fuse(
    addresses: gpd.GeoDataFrame,
    availability: pd.DataFrame,
    rasters: Sequence[RasterLayer],
    aggregates: Sequence[CellAggregates] = (),
    *,
    profiles: Mapping[str, TechProfile] | None = None,
) -> gpd.GeoDataFrame:
    """One row per address: declared, measured and modelled mobile coverage, and the gap flag.

    ``availability`` is the release's table (rows without an ``address_id`` have no position and
    are left out); ``rasters`` the model's layers; ``aggregates`` any cell sizes, finest used first.
    """
    profiles = dict(profiles or TECHNOLOGY_PROFILES)
    out = pd.DataFrame(
        {c: addresses[c].to_numpy() for c in ("id", "vejnavn", "husnr", "postnr", "kommunekode")}
    )
    east = addresses["east"].to_numpy(dtype="float64")
    north = addresses["north"].to_numpy(dtype="float64")
    _declared(out, availability)
    _measured(out, east, north, aggregates)
    _modelled(out, east, north, rasters, profiles)
    _gap_flag(out)
    generated = addresses["generated"].to_numpy(dtype=bool) if "generated" in addresses else False
    out["generated"] = (
        generated | out.pop("_declared_generated").to_numpy(dtype=bool) | out.pop("_measured_gen")
    )
    return gpd.GeoDataFrame(
        out[FUSION_COLUMNS], geometry=addresses.geometry.to_numpy(), crs=addresses.crs or WORK_CRS
    )


def _declared(out: pd.DataFrame, availability: pd.DataFrame) -> None:
    rows = availability[availability["address_id"].notna()].drop_duplicates("address_id")
    rows = rows.set_index("address_id").reindex(out["id"].to_numpy())
    down = rows["mobile_down"].to_numpy(dtype="float64", na_value=np.nan)
    out["declared_down"] = down.astype("float32")
    out["declared_up"] = rows["mobile_up"].to_numpy(dtype="float32", na_value=np.nan)
    out["declared_class"] = speed_class(down)
    year = rows["year"].astype("Int64").astype("string").fillna("?").to_numpy(dtype=object)
    gen = rows["generated"].fillna(False).to_numpy(dtype=bool)
    has = ~np.isnan(down)
    source = np.char.add("Bredbåndskortlægning ", year.astype(str))
    source = np.where(gen, np.char.add(source, " (generated)"), source)
    out["declared_source"] = pd.array(np.where(has, source, ""), dtype="string")
    out["declared_confidence"] = np.where(has, "medium", "none")
    out["_declared_generated"] = gen & has


def _measured(
    out: pd.DataFrame, east: np.ndarray, north: np.ndarray, aggregates: Sequence[CellAggregates]
) -> None:
    n = len(out)
    fields = {
        "measured_down_median": ("down_median", np.nan),
        "measured_down_p10": ("down_p10", np.nan),
        "measured_down_p90": ("down_p90", np.nan),
        "measured_up_median": ("up_median", np.nan),
        "measured_rsrp_median": ("rsrp_median", np.nan),
        "measured_samples": ("samples", 0),
        "measured_devices": ("devices", 0),
    }
    for target, (_, empty) in fields.items():
        out[target] = np.full(n, empty, dtype="float64")
    text = {k: np.full(n, "", dtype=object) for k in ("operator", "technology", "cell")}
    newest = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    confidence = np.full(n, "none", dtype=object)
    generated = np.zeros(n, dtype=bool)
    size_of = np.zeros(n, dtype="int64")
    done = np.zeros(n, dtype=bool)
    labels = np.full(n, "", dtype=object)
    for agg in sorted(aggregates, key=lambda a: a.size):
        if agg.cells.empty:
            continue
        best = _best_per_cell(agg.cells)
        key = pd.MultiIndex.from_arrays(
            [np.floor_divide(north, agg.size).astype("int64"),
             np.floor_divide(east, agg.size).astype("int64")]
        )  # fmt: skip
        pos = pd.MultiIndex.from_arrays([best["row"], best["col"]]).get_indexer(key)
        hit = (pos >= 0) & ~done
        if not hit.any():
            continue
        chosen = best.iloc[pos[hit]]
        for target, (source, _) in fields.items():
            out.loc[hit, target] = chosen[source].to_numpy(dtype="float64", na_value=np.nan)
        # Text is built once per cell, not per address: millions of addresses share the cells.
        cells_hit, inverse = np.unique(pos[hit], return_inverse=True)
        picked = best.iloc[cells_hit]
        for k in text:
            text[k][hit] = picked[k].astype(str).to_numpy()[inverse]
        labels[hit] = _source_labels(picked).to_numpy(dtype=object)[inverse]
        newest[hit] = chosen["newest"].to_numpy()
        generated[hit] = chosen["generated"].to_numpy(dtype=bool)
        size_of[hit] = agg.size
        solid = (chosen["samples"].to_numpy() >= SOLID_SAMPLES) & (
            chosen["devices"].to_numpy() >= SOLID_DEVICES
        )
        if agg.size <= 100:
            confidence[hit] = np.where(solid, "high", "medium")
        else:
            confidence[hit] = np.where(solid, "medium", "low")
        done |= hit
    for k in ("measured_samples", "measured_devices"):
        out[k] = out[k].astype("int64")
    out["measured_operator"] = pd.array(text["operator"], dtype="string")
    out["measured_technology"] = pd.array(text["technology"], dtype="string")
    out["measured_cell"] = pd.array(text["cell"], dtype="string")
    out["measured_newest"] = newest.to_numpy()
    out["measured_class"] = speed_class(out["measured_down_median"].to_numpy())

    source = pd.Series(labels, index=out.index, dtype="string").where(done, "")
    out["measured_source"] = pd.array(source, dtype="string")
    out["measured_confidence"] = confidence
    out["_measured_gen"] = generated


def _source_labels(cells: pd.DataFrame) -> pd.Series:
    """The measured source line of each cell row: cell, samples, devices, best, newest."""

    def text_of(values: object) -> pd.Series:
        return pd.Series(values, index=cells.index).astype("string")

    generated = cells["generated"].to_numpy(dtype=bool)
    return (
        "measurements, "
        + text_of(cells["cell"].astype(str).to_numpy())
        + ": "
        + text_of(cells["samples"].to_numpy(dtype="int64"))
        + " samples from "
        + text_of(cells["devices"].to_numpy(dtype="int64"))
        + " devices, best "
        + text_of(cells["operator"].astype(str).to_numpy())
        + " "
        + text_of(cells["technology"].astype(str).to_numpy())
        + ", newest "
        + text_of(cells["newest"].dt.strftime("%Y-%m-%d").to_numpy())
        + text_of(np.where(generated, " (generated)", ""))
    )


def _best_per_cell(cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the operator × technology with the highest median download (then RSRP)."""
    ranked = cells.sort_values(
        ["row", "col", "down_median", "rsrp_median"],
        ascending=[True, True, False, False],
        na_position="last",
        kind="stable",
    )
    return ranked.drop_duplicates(["row", "col"], keep="first").reset_index(drop=True)


def _modelled(
    out: pd.DataFrame,
    east: np.ndarray,
    north: np.ndarray,
    rasters: Sequence[RasterLayer],
    profiles: Mapping[str, TechProfile],
) -> None:
    n = len(out)
    best_down = np.full(n, -1.0)
    best_rsrp = np.full(n, np.nan)
    best_index = np.full(n, -1, dtype="int64")
    outdoor = [la for la in rasters if la.environment == "outdoor" and la.technology in profiles]
    for i, layer in enumerate(outdoor):
        rsrp = sample(layer.path, east, north).astype("float64")
        down = expected_down_mbit(rsrp, profiles[layer.technology])
        better = ~np.isnan(down) & (
            (down > best_down) | ((down == best_down) & (rsrp > np.nan_to_num(best_rsrp, nan=-999)))
        )
        best_down[better] = down[better]
        best_rsrp[better] = rsrp[better]
        best_index[better] = i
    has = best_index >= 0
    indoor = np.full(n, np.nan)
    for i, layer in enumerate(outdoor):
        twin = next(
            (
                la
                for la in rasters
                if la.environment == "indoor"
                and la.operator == layer.operator
                and la.technology == layer.technology
            ),
            None,
        )
        sel = best_index == i
        if twin is not None and sel.any():
            indoor[sel] = sample(twin.path, east[sel], north[sel])
    out["modelled_rsrp_outdoor"] = best_rsrp.astype("float32")
    out["modelled_rsrp_indoor"] = indoor.astype("float32")
    out["modelled_down"] = np.where(has, np.round(best_down, 1), np.nan).astype("float32")
    out["modelled_class"] = speed_class(out["modelled_down"].to_numpy())
    names = np.array([la.name for la in outdoor] + [""], dtype=object)
    ops = np.array([la.operator for la in outdoor] + [""], dtype=object)
    techs = np.array([la.technology for la in outdoor] + [""], dtype=object)
    sources = np.array([_layer_source(la) for la in outdoor] + [""], dtype=object)
    conf = np.array([_layer_confidence(la) for la in outdoor] + ["none"], dtype=object)
    out["modelled_operator"] = pd.array(ops[best_index], dtype="string")
    out["modelled_technology"] = pd.array(techs[best_index], dtype="string")
    out["modelled_layer"] = pd.array(names[best_index], dtype="string")
    out["modelled_source"] = pd.array(sources[best_index], dtype="string")
    out["modelled_confidence"] = conf[best_index]


def _layer_source(layer: RasterLayer) -> str:
    cal = layer.calibration
    calibrated = (
        f"calibrated {cal.offset_db:+.1f} dB on {cal.samples_calibration} samples, held-out RMSE "
        f"{cal.before.rmse:.1f} → {cal.after.rmse:.1f} dB"
        if cal
        else "uncalibrated"
    )
    generated = ", generated sites" if layer.generated else ""
    return f"model ({layer.model}), {layer.name}, {layer.sites} sites{generated}, {calibrated}"


def _layer_confidence(layer: RasterLayer) -> str:
    cal = layer.calibration
    if cal is not None and cal.after.rmse <= CALIBRATED_RMSE_DB:
        return "medium"
    return "low"


def _gap_flag(out: pd.DataFrame) -> None:
    declared = out["declared_class"].cat.codes.to_numpy()
    p90_class = speed_class(out["measured_down_p90"].to_numpy()).codes
    evidence = np.isin(out["measured_confidence"].to_numpy(), ("medium", "high"))
    flag = evidence & (declared >= 0) & (p90_class >= 0) & (declared > p90_class)
    out["declared_vs_observed_gap"] = flag
    labels = np.array(SPEED_CLASS_LABELS, dtype=object)

    def text_of(values: object) -> pd.Series:
        return pd.Series(values, index=out.index).astype("string")

    reason = (
        "declared "
        + text_of(labels[np.clip(declared, 0, None)])
        + " ("
        + out["declared_down"].round(0).astype("Int64").astype("string")
        + " Mbit/s) but 90 % of "
        + text_of(out["measured_samples"].to_numpy())
        + " samples in "
        + out["measured_cell"].astype("string")
        + " are below that (p90 "
        + out["measured_down_p90"].round(0).astype("Int64").astype("string")
        + " Mbit/s)"
    )
    reason = reason.where(flag, "")
    out["gap_reason"] = pd.array(reason, dtype="string")


def gap_flag_layer(fused: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The flagged addresses as a point layer: declared vs measured evidence and the reason."""
    columns = [
        "id",
        "vejnavn",
        "husnr",
        "postnr",
        "kommunekode",
        "declared_down",
        "declared_class",
        "measured_down_median",
        "measured_down_p90",
        "measured_samples",
        "measured_devices",
        "measured_cell",
        "measured_confidence",
        "gap_reason",
        "generated",
        "geometry",
    ]
    flagged = fused.loc[fused["declared_vs_observed_gap"].to_numpy(dtype=bool), columns]
    return gpd.GeoDataFrame(flagged.reset_index(drop=True), crs=fused.crs)


def confusion_matrix(fused: pd.DataFrame, observed: str = "modelled") -> pd.DataFrame:
    """Declared class (rows) against the ``modelled`` or ``measured`` class (columns), counts.

    Only addresses with both classes are counted. The diagonal share is :func:`agreement`.
    """
    both = fused[fused["declared_class"].notna() & fused[f"{observed}_class"].notna()]
    matrix = pd.crosstab(both["declared_class"], both[f"{observed}_class"], dropna=False)
    labels = list(SPEED_CLASS_LABELS)
    matrix = matrix.reindex(index=labels, columns=labels, fill_value=0)
    matrix.index.name = "declared"
    matrix.columns.name = observed
    return matrix.astype("int64")


def agreement(matrix: pd.DataFrame) -> float:
    """Share of addresses on the diagonal of a confusion matrix (0-1; NaN if empty)."""
    total = matrix.to_numpy().sum()
    return float(np.trace(matrix.to_numpy()) / total) if total else float("nan")


__all__ = [
    "CONFIDENCE",
    "FUSION_COLUMNS",
    "agreement",
    "confusion_matrix",
    "fuse",
    "gap_flag_layer",
]
