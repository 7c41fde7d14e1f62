"""The loaded release and everything built from it, swapped whole when ``current`` changes.

A :class:`ServiceState` is immutable once built: the address index, assessments, zones, OGC feature
sources and statistics of one release. The :class:`ReleaseWatcher` holds the one in use. When the
``current`` symlink names another release (checked with one ``os.readlink`` at most every
``reload_interval`` seconds, on requests), it builds the new state in a background thread and then
swaps the reference; a request in flight keeps the state object it started with. A release that fails
to load or verify is refused (logged, counted) and the old state keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from coverage.answer import ELIGIBLE_CLASSES, LookupContext, assess_addresses
from coverage.errors import NoReleaseError, NotFoundError, RuleSetError
from coverage.lookup import AddressIndex
from coverage.memory import release_memory
from coverage.ogc import FeatureSource
from coverage.release import Release, ReleaseStore
from coverage.rules import get_rule_set
from coverage.stats import municipality_stats
from coverage.types import WORK_CRS
from service.errors import UnavailableError
from service.settings import ServiceSettings

log = logging.getLogger("netkort.service")

#: Assessment columns shown on each eligible address (OGC collection and exports).
_ELIGIBLE_COLUMNS = [
    "class",
    "best_down",
    "best_up",
    "best_tech",
    "mobile_down",
    "mobile_up",
    "zone_source",
    "reason_da",
    "reason_en",
    "rule_set",
]
_ADDRESS_COLUMNS = [
    "id",
    "vejnavn",
    "husnr",
    "postnr",
    "postnrnavn",
    "kommunekode",
    "kommunenavn",
    "zone",
    "generated",
]


@dataclass
class ServiceState:
    """One release, loaded and indexed for answering requests."""

    release: Release
    index: AddressIndex
    context: LookupContext
    features: dict[str, dict[str, FeatureSource]]
    stats: pd.DataFrame | None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def load(cls, release: Release) -> ServiceState:
        """Read, assess and index a release; every index is complete before the state is used."""
        # Steps in the order that keeps the peak low: each step's passing memory (the statistics'
        # is ~300 MB at 850,000 addresses) comes while as little as possible is held, and freed
        # pages go back to the system in between. index.table has no point geometry
        # (index.addresses would build it): nothing here needs it.
        index = AddressIndex.from_release(release)
        release_memory()
        assessments = assess_addresses(index.table, index.availability)
        release_memory()
        stats = _statistics(release, index, assessments)
        release_memory()
        context = LookupContext.from_release(
            release, index.table, index.availability, assessments=assessments
        )
        # Mapping rows are joined to their addresses by now (index.avail_row, the assessments):
        # their address ids (35 MB of text at 850,000 rows) are not read again.
        index.availability = index.availability.drop(columns="address_id")
        munis = context.municipalities
        assert munis is not None
        features: dict[str, dict[str, FeatureSource]] = {
            "municipalities": {
                "": FeatureSource.from_frame(
                    "municipalities",
                    "Municipalities / Kommuner",
                    f"The {len(munis)} municipalities of region {release.manifest.get('region', {}).get('code', '')}"
                    " (DAGI 1:500.000).",
                    munis[["kommunekode", "kommunenavn", "area_km2", "geometry"]],
                    "kommunekode",
                )
            }
        }
        if context.assessments:
            features["eligible-addresses"] = {
                rid: FeatureSource.from_frame(
                    "eligible-addresses",
                    "Eligible addresses / Berettigede adresser",
                    f"Addresses that can get help from the broadband pool under the {rid} rules "
                    "(class eligible, eligible_blue or eligible_if_zone). Query parameter rules "
                    "selects another rule set.",
                    _eligible(index.table, frame),
                    "id",
                )
                for rid, frame in context.assessments.items()
            }
        if context.zones:
            features["zones"] = {
                rid: FeatureSource.from_frame(
                    "zones",
                    "Underserved zones / Underforsynede områder",
                    f"Eligible addresses under the {rid} rules merged into zones on the 100 m DDKN "
                    "grid. Query parameter rules selects another rule set.",
                    zones,
                    "zone_id",
                )
                for rid, zones in context.zones.items()
            }
        state = cls(release, index, context, features, stats)
        release_memory()  # indexing leaves freed pages behind; the service lives long
        return state

    @property
    def default_rules(self) -> str | None:
        """The newest assessed rule set id, or None without assessments."""
        return list(self.context.assessments)[-1] if self.context.assessments else None

    def rule_set_id(self, key: str | None) -> str:
        """The assessed rule set a key names (``2025``, ``2024-2025``, None for the newest)."""
        if not self.context.assessments:
            raise UnavailableError(
                "the pool assessment is not available in this version of netkort (no rules)"
            )
        if key is None or key.strip() == "":
            return str(self.default_rules)
        rid = get_rule_set(key).id
        if rid not in self.context.assessments:
            known = ", ".join(self.context.assessments)
            raise RuleSetError(f"rule set {key!r} is not assessed in this release; known: {known}")
        return rid

    def feature_source(self, collection: str, rules: str | None) -> FeatureSource:
        """The features of a collection (for a rule set where the collection has several)."""
        variants = self.features.get(collection)
        if variants is None:
            raise NotFoundError(
                f"no collection {collection!r}",
                [{"id": c, "text": c} for c in self.features],
            )
        if "" in variants:
            return variants[""]
        return variants[self.rule_set_id(rules)]

    def collections(self) -> list[FeatureSource]:
        """One source per collection: the newest rule set's where there are several."""
        out = []
        for variants in self.features.values():
            key = "" if "" in variants else str(self.default_rules)
            out.append(variants[key])
        return out


def _eligible(addresses: pd.DataFrame, assessment: pd.DataFrame) -> gpd.GeoDataFrame:
    """Eligible addresses as points with their class, speeds and reasons (points from the table's
    geometry, or from ``east`` / ``north`` for the eligible rows only when it has none)."""
    mask = assessment["class"].isin(ELIGIBLE_CLASSES).to_numpy(dtype=bool)
    cols = [c for c in _ELIGIBLE_COLUMNS if c in assessment.columns]
    frame = addresses.loc[mask, _ADDRESS_COLUMNS].reset_index(drop=True)
    if isinstance(addresses, gpd.GeoDataFrame):
        geometry = addresses.geometry.array[mask]
        crs = addresses.crs
    else:
        rows = addresses.loc[mask]
        geometry = shapely.points(rows["east"].to_numpy(float), rows["north"].to_numpy(float))
        crs = WORK_CRS
    # Class, reasons and rule set stay categories: the features repeat a few dozen texts, and
    # GeoJSON output reads them as their plain values.
    extra = assessment.loc[mask, cols].reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat([frame, extra], axis=1), geometry=geometry, crs=crs)


def _statistics(
    release: Release, index: AddressIndex, assessments: dict[str, pd.DataFrame]
) -> pd.DataFrame | None:
    """Per-municipality statistics (:func:`coverage.stats.municipality_stats`)."""
    if not assessments:
        return None
    munis = pd.read_parquet(
        release.table_path("municipalities"), columns=["kommunekode", "kommunenavn"]
    )
    region = release.manifest.get("region") or {}
    return municipality_stats(
        index.table,
        assessments,
        index.availability,
        pd.DataFrame(munis[["kommunekode", "kommunenavn"]]),
        region_name=region.get("name"),
    )


class Metrics:
    """Prometheus counters and a latency histogram, kept in memory and rendered as text."""

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[float]] = {}  # route → bucket counts, then sum, then count
        self.reloads = 0
        self.reload_failures = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its duration."""
        with self._lock:
            key = (route, method, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            h = self.latency.setdefault(route, [0.0] * (len(self.BUCKETS) + 2))
            for i, bound in enumerate(self.BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def render(self, release_id: str | None) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        esc = _label
        lines = [
            "# HELP netkort_release_info The release the service answers from.",
            "# TYPE netkort_release_info gauge",
            f'netkort_release_info{{release="{esc(release_id or "none")}"}} 1',
            "# HELP netkort_reloads_total Releases loaded after start (hot reloads).",
            "# TYPE netkort_reloads_total counter",
            f"netkort_reloads_total {self.reloads}",
            "# HELP netkort_reload_failures_total Releases refused because they failed to load.",
            "# TYPE netkort_reload_failures_total counter",
            f"netkort_reload_failures_total {self.reload_failures}",
            "# HELP netkort_requests_total HTTP requests by route, method and status.",
            "# TYPE netkort_requests_total counter",
        ]
        with self._lock:
            for (route, method, status), n in sorted(self.requests.items()):
                lines.append(
                    f'netkort_requests_total{{route="{esc(route)}",method="{method}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP netkort_request_duration_seconds Request latency by route.",
                "# TYPE netkort_request_duration_seconds histogram",
            ]
            for route, h in sorted(self.latency.items()):
                r = esc(route)
                for bound, count in zip(self.BUCKETS, h, strict=False):
                    lines.append(
                        f'netkort_request_duration_seconds_bucket{{route="{r}",le="{bound}"}} {int(count)}'
                    )
                lines.append(
                    f'netkort_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} {int(h[-1])}'
                )
                lines.append(f'netkort_request_duration_seconds_sum{{route="{r}"}} {h[-2]:.6f}')
                lines.append(f'netkort_request_duration_seconds_count{{route="{r}"}} {int(h[-1])}')
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ReleaseWatcher:
    """Holds the state in use and replaces it when ``current`` points at another release."""

    def __init__(
        self,
        settings: ServiceSettings,
        metrics: Metrics,
        loader: Callable[[Release], ServiceState] = ServiceState.load,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.store = ReleaseStore(settings.home)
        self._loader = loader
        self._state: ServiceState | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._loading: threading.Thread | None = None
        self._refused: str | None = None
        self.problem: str | None = None

    @property
    def state(self) -> ServiceState | None:
        """The state in use, without checking for a new release."""
        return self._state

    def start(self) -> None:
        """Load the current release now (at start-up); without one the service answers 503."""
        self._checked = time.monotonic()
        target = self.store.current_id()
        if target is None:
            self.problem = f"no release under {self.store.home}: run `netkort build` first"
            log.warning(self.problem)
            return
        self._load(target, initial=True)

    def get(self) -> ServiceState:
        """The state to answer a request with; may start a background reload."""
        self.check()
        state = self._state
        if state is None:
            raise NoReleaseError(self.problem or "no release is loaded yet")
        return state

    def check(self) -> None:
        """Start loading the release ``current`` names if it changed (at most every interval)."""
        now = time.monotonic()
        if now - self._checked < self.settings.reload_interval:
            return
        with self._lock:
            if now - self._checked < self.settings.reload_interval:
                return
            self._checked = now
            if self._loading is not None and self._loading.is_alive():
                return
            target = self.store.current_id()  # one readlink
            state = self._state
            if target is None or target == self._refused:
                return
            if state is not None and target == state.release.id:
                return
            self._loading = threading.Thread(
                target=self._load, args=(target,), name=f"netkort-load-{target}", daemon=True
            )
            self._loading.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background load in progress (for orderly shutdown and tests)."""
        thread = self._loading
        if thread is not None:
            thread.join(timeout)

    def _load(self, release_id: str, *, initial: bool = False) -> None:
        started = time.perf_counter()
        try:
            state = self._loader(self.store.open(release_id))  # open() verifies the tables
        except Exception as exc:  # any failure refuses the release; the old state keeps serving
            self._refused = release_id
            self.metrics.reload_failures += 1
            self.problem = f"release {release_id} refused: {exc}"
            log.error("refused release %s, still serving %s: %s", release_id, self._serving(), exc)
            return
        self._state = state  # one reference assignment: requests see the old or the new state
        self._refused = None
        self.problem = None
        if not initial:
            self.metrics.reloads += 1
        log.info("serving release %s (loaded in %.1f s)", release_id, time.perf_counter() - started)

    def _serving(self) -> str:
        return self._state.release.id if self._state is not None else "nothing"


def describe_stats(stats: pd.DataFrame) -> list[dict[str, Any]]:
    """Statistics rows as JSON-ready records (NaN → null)."""
    return [
        {k: (None if _missing(v) else v) for k, v in row.items()}
        for row in stats.astype(object).to_dict(orient="records")
    ]


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


__all__ = ["Metrics", "ReleaseWatcher", "ServiceState", "describe_stats"]
