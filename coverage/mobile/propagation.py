"""The propagation model: 3GPP TR 38.901 path loss, a sector antenna, and RSRP → expected speed.

Everything here is a formula on numpy arrays of distances or signal levels; :mod:`coverage.mobile.model`
lays them on a raster. The formulas and the default parameters are written out in
``docs/mobile.md``; the short version:

* **Path loss**: 3GPP TR 38.901 v17, table 7.4.1-1. Rural macro (RMa) everywhere, urban macro (UMa)
  where the receiver stands in dense built-up land. Each is the expectation over the line-of-sight
  state *in dB*: ``PL = P_LOS PL_LOS + (1 − P_LOS) PL_NLOS`` with the LOS probability of table
  7.4.2-1: the loss at a typical point whose LOS state is unknown. (The expected *power* would let a
  2 % chance of line of sight, 30 dB stronger, decide the answer: 10-15 dB optimistic.) Distances
  are clamped to the model's 10 m minimum and the formulas extrapolated beyond 5 / 10 km.
* **Antenna**: omnidirectional when a site has no azimuth, else the 3GPP horizontal sector pattern
  ``A(φ) = -min(12 (φ/65°)², 30 dB)``.
* **RSRP** = reference-signal EIRP per resource element − path loss − clutter loss + antenna pattern.
* **Speed**: SINR = RSRP − noise per resource element − an interference margin; spectral efficiency
  by the attenuated Shannon bound of 3GPP TR 36.942 annex A.2 (α = 0.6, 0 below −10 dB, capped);
  speed = efficiency × bandwidth × MIMO layers × (1 − overhead) × the share a user gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Speed of light, m/s.
C = 299_792_458.0

#: Shadow-fading standard deviations of TR 38.901 (dB), used by the generator.
SHADOW_SIGMA_DB = {"RMa": 8.0, "UMa": 6.0}


@dataclass(frozen=True)
class TechProfile:
    """Radio parameters of one modelled technology (the carrier that decides coverage)."""

    name: str
    frequency_ghz: float
    """Carrier frequency of the coverage layer."""
    eirp_re_dbm: float
    """Reference-signal EIRP per resource element (power per RE + antenna gain − feeder loss)."""
    subcarrier_khz: float
    """Subcarrier spacing: the bandwidth of one resource element, for the noise floor."""
    bandwidth_mhz: float
    """Spectrum a user is scheduled on (aggregated carriers)."""
    mimo_layers: int
    max_efficiency: float
    """Highest spectral efficiency per layer, bit/s/Hz (64-QAM ≈ 4.4, 256-QAM ≈ 5.5)."""
    indoor_loss_db: float
    """Default building penetration loss for the indoor layer."""
    max_radius_m: float
    """Farthest a site is computed; beyond, its signal is below any useful level."""
    noise_figure_db: float = 7.0
    interference_margin_db: float = 6.0
    """Interference over thermal noise from neighbouring cells at busy hour."""
    overhead: float = 0.25
    """Share of resources for control and reference signals."""
    user_share: float = 0.5
    """Share of the cell's capacity one user gets at busy hour (the mapping's "expected" speed)."""

    @property
    def noise_re_dbm(self) -> float:
        """Thermal noise in one resource element plus the receiver's noise figure."""
        return -174.0 + 10.0 * np.log10(self.subcarrier_khz * 1e3) + self.noise_figure_db


#: The two modelled technologies: LTE on its 800 MHz coverage layer with three aggregated
#: carriers, and NR on 3.5 GHz (n78) with 100 MHz and 4-layer MIMO.
TECHNOLOGY_PROFILES: dict[str, TechProfile] = {
    "4G": TechProfile(
        name="4G",
        frequency_ghz=0.8,
        eirp_re_dbm=31.0,
        subcarrier_khz=15.0,
        bandwidth_mhz=50.0,
        mimo_layers=2,
        max_efficiency=4.4,
        indoor_loss_db=15.0,
        max_radius_m=12_000.0,
    ),
    "5G": TechProfile(
        name="5G",
        frequency_ghz=3.5,
        eirp_re_dbm=36.0,
        subcarrier_khz=30.0,
        bandwidth_mhz=100.0,
        mimo_layers=4,
        max_efficiency=5.5,
        indoor_loss_db=22.0,
        max_radius_m=8_000.0,
    ),
}


@dataclass(frozen=True)
class Scenario:
    """Geometry of TR 38.901's scenarios: receiver height, and RMa's buildings and streets."""

    ue_height_m: float = 1.5
    building_height_m: float = 5.0
    street_width_m: float = 20.0
    min_distance_m: float = 10.0


DEFAULT_SCENARIO = Scenario()


def _clamp_height(h_bs: float | np.ndarray) -> np.ndarray:
    # RMa is specified for base stations of 10-150 m; outside that the formula misbehaves.
    return np.clip(np.asarray(h_bs, dtype="float64"), 10.0, 150.0)


def rma_path_loss(
    d2d: np.ndarray, h_bs: float, f_ghz: float, scenario: Scenario = DEFAULT_SCENARIO
) -> np.ndarray:
    """Rural macro path loss (dB), LOS / NLOS mixed by the LOS probability (TR 38.901 7.4.1, 7.4.2).

    LOS: ``PL1 = 20 log10(40π d3D fc/3) + min(0.03h^1.72, 10) log10(d3D) − min(0.044h^1.72, 14.77)
    + 0.002 log10(h) d3D`` up to the break point ``dBP = 2π hBS hUT fc/c``, then
    ``PL1(dBP) + 40 log10(d3D/dBP)``. NLOS: ``max(PL_LOS, 161.04 − 7.1 log10 W + 7.5 log10 h −
    (24.37 − 3.7 (h/hBS)²) log10 hBS + (43.42 − 3.1 log10 hBS)(log10 d3D − 3) + 20 log10 fc −
    (3.2 (log10 11.75 hUT)² − 4.97))``. LOS probability ``exp(−(d2D − 10)/1000)``.
    """
    s = scenario
    hbs = float(_clamp_height(h_bs))
    hut, h, w = s.ue_height_m, s.building_height_m, s.street_width_m
    d2 = np.maximum(np.asarray(d2d, dtype="float64"), s.min_distance_m)
    dz2 = (hbs - hut) ** 2
    d3 = np.sqrt(d2 * d2 + dz2)
    d_bp = 2.0 * np.pi * hbs * hut * f_ghz * 1e9 / C
    a = min(0.03 * h**1.72, 10.0)
    b = min(0.044 * h**1.72, 14.77)

    def pl1(dist: np.ndarray | float) -> np.ndarray:
        return (
            20.0 * np.log10(40.0 * np.pi * np.asarray(dist) * f_ghz / 3.0)
            + a * np.log10(dist)
            - b
            + 0.002 * np.log10(h) * np.asarray(dist)
        )

    d3_bp = np.sqrt(d_bp * d_bp + dz2)
    los = np.where(d2 <= d_bp, pl1(d3), pl1(d3_bp) + 40.0 * np.log10(d3 / d3_bp))
    nlos_prime = (
        161.04
        - 7.1 * np.log10(w)
        + 7.5 * np.log10(h)
        - (24.37 - 3.7 * (h / hbs) ** 2) * np.log10(hbs)
        + (43.42 - 3.1 * np.log10(hbs)) * (np.log10(d3) - 3.0)
        + 20.0 * np.log10(f_ghz)
        - (3.2 * np.log10(11.75 * hut) ** 2 - 4.97)
    )
    nlos = np.maximum(los, nlos_prime)
    p_los = np.where(d2 <= 10.0, 1.0, np.exp(-(d2 - 10.0) / 1000.0))
    return _mix(los, nlos, p_los)


def uma_path_loss(
    d2d: np.ndarray, h_bs: float, f_ghz: float, scenario: Scenario = DEFAULT_SCENARIO
) -> np.ndarray:
    """Urban macro path loss (dB), LOS / NLOS mixed by the LOS probability (TR 38.901 7.4.1, 7.4.2).

    LOS: ``28.0 + 22 log10 d3D + 20 log10 fc`` up to ``d'BP = 4 h'BS h'UT fc/c`` (heights less
    1 m), then ``28.0 + 40 log10 d3D + 20 log10 fc − 9 log10(d'BP² + (hBS − hUT)²)``. NLOS:
    ``max(PL_LOS, 13.54 + 39.08 log10 d3D + 20 log10 fc − 0.6 (hUT − 1.5))``. LOS probability
    ``18/d2D + exp(−d2D/63)(1 − 18/d2D)`` beyond 18 m (receiver below 13 m).
    """
    s = scenario
    hbs = float(_clamp_height(h_bs))
    hut = s.ue_height_m
    d2 = np.maximum(np.asarray(d2d, dtype="float64"), s.min_distance_m)
    d3 = np.sqrt(d2 * d2 + (hbs - hut) ** 2)
    d_bp = 4.0 * (hbs - 1.0) * (hut - 1.0) * f_ghz * 1e9 / C
    lf = 20.0 * np.log10(f_ghz)
    los1 = 28.0 + 22.0 * np.log10(d3) + lf
    los2 = 28.0 + 40.0 * np.log10(d3) + lf - 9.0 * np.log10(d_bp**2 + (hbs - hut) ** 2)
    los = np.where(d2 <= d_bp, los1, los2)
    nlos = np.maximum(los, 13.54 + 39.08 * np.log10(d3) + lf - 0.6 * (hut - 1.5))
    p_los = np.where(d2 <= 18.0, 1.0, 18.0 / d2 + np.exp(-d2 / 63.0) * (1.0 - 18.0 / d2))
    return _mix(los, nlos, p_los)


def _mix(los: np.ndarray, nlos: np.ndarray, p_los: np.ndarray) -> np.ndarray:
    """Expected path loss in dB over the LOS / NLOS states."""
    return p_los * los + (1.0 - p_los) * nlos


def sector_pattern_db(bearing_deg: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """Horizontal gain of a 65° sector antenna relative to boresight (3GPP TR 36.814 / 38.901).

    ``bearing_deg`` is the direction from the site to each point, degrees clockwise from north.
    """
    off = (np.asarray(bearing_deg) - azimuth_deg + 180.0) % 360.0 - 180.0
    return -np.minimum(12.0 * (off / 65.0) ** 2, 30.0)


def expected_down_mbit(rsrp_dbm: np.ndarray, profile: TechProfile) -> np.ndarray:
    """Expected download speed (Mbit/s) at a signal level, by the attenuated Shannon bound.

    SINR = RSRP − noise per RE − interference margin; efficiency = 0.6 log2(1 + SINR), 0 below
    −10 dB, capped at the profile's maximum (3GPP TR 36.942 A.2); speed = efficiency × bandwidth ×
    layers × (1 − overhead) × user share. NaN signal gives NaN.
    """
    rsrp = np.asarray(rsrp_dbm, dtype="float64")
    sinr_db = rsrp - profile.noise_re_dbm - profile.interference_margin_db
    eff = 0.6 * np.log2(1.0 + np.power(10.0, sinr_db / 10.0))
    eff = np.where(sinr_db < -10.0, 0.0, np.minimum(eff, profile.max_efficiency))
    cap = profile.bandwidth_mhz * profile.mimo_layers * (1.0 - profile.overhead)
    return eff * cap * profile.user_share


def sinr_db(rsrp_dbm: np.ndarray, profile: TechProfile) -> np.ndarray:
    """The SINR (dB) the speed model assumes at a signal level."""
    return (
        np.asarray(rsrp_dbm, dtype="float64")
        - profile.noise_re_dbm
        - (profile.interference_margin_db)
    )


def rsrp_for_speed(down_mbit: float, profile: TechProfile) -> float:
    """The weakest RSRP (dBm) at which the profile reaches a download speed; +inf if never."""
    cap = profile.bandwidth_mhz * profile.mimo_layers * (1.0 - profile.overhead)
    eff = down_mbit / (cap * profile.user_share)
    if eff > profile.max_efficiency:
        return float("inf")
    sinr = 10.0 * np.log10(2.0 ** (eff / 0.6) - 1.0) if eff > 0 else -10.0
    return float(max(sinr, -10.0) + profile.noise_re_dbm + profile.interference_margin_db)


__all__ = [
    "DEFAULT_SCENARIO",
    "SHADOW_SIGMA_DB",
    "TECHNOLOGY_PROFILES",
    "Scenario",
    "TechProfile",
    "expected_down_mbit",
    "rma_path_loss",
    "rsrp_for_speed",
    "sector_pattern_db",
    "sinr_db",
    "uma_path_loss",
]
