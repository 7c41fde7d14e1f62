"""Mobile coverage: measurements, sites, a propagation model as rasters, fusion and gap zones.

The stages take tables and paths and return tables and files; none of them writes a release.
``netkort build`` (or the ``netkort mobile`` commands) chains them:

    sites = read_sites(path, quarantine)
    measurements = read_measurements(path, quarantine)    # or, for millions of rows:
    measurements = scan_measurements([(path, False)], quarantine)   # compact columns, in batches
    cells = aggregate(measurements, size=100)
    layers = model_rasters(sites, region_outline, out_dir, clutter=osm_path, measurements=...)
    fused = fuse(addresses, availability, layers, [cells])
    zones = gap_zones(layers, municipalities, threshold=-110)
"""

from coverage.mobile.aggregate import CellAggregates, aggregate, wilson_interval
from coverage.mobile.batches import scan_measurements
from coverage.mobile.calibrate import Calibration, ErrorStats
from coverage.mobile.clutter import ClutterSource, read_osm_clutter
from coverage.mobile.colours import ColourMap, colour_map
from coverage.mobile.fusion import agreement, confusion_matrix, fuse, gap_flag_layer
from coverage.mobile.gaps import gap_zones
from coverage.mobile.measurements import read_measurements, write_measurements
from coverage.mobile.model import RasterLayer, load_layers, model_rasters
from coverage.mobile.propagation import TECHNOLOGY_PROFILES, TechProfile, expected_down_mbit
from coverage.mobile.sites import read_sites
from coverage.mobile.synth import generate_sites, read_roads, synth_measurements

__all__ = [
    "TECHNOLOGY_PROFILES",
    "Calibration",
    "CellAggregates",
    "ClutterSource",
    "ColourMap",
    "ErrorStats",
    "RasterLayer",
    "TechProfile",
    "aggregate",
    "agreement",
    "colour_map",
    "confusion_matrix",
    "expected_down_mbit",
    "fuse",
    "gap_flag_layer",
    "gap_zones",
    "generate_sites",
    "load_layers",
    "model_rasters",
    "read_measurements",
    "read_osm_clutter",
    "read_roads",
    "read_sites",
    "scan_measurements",
    "synth_measurements",
    "wilson_interval",
    "write_measurements",
]
