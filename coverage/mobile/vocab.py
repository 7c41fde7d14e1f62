"""The words mobile data is written in: operators, technologies, environments, sources, classes.

Every reader folds what a file says onto one spelling here, so a measurement from an app that writes
``LTE`` and a drive test that writes ``4G`` land in the same aggregate. A value that folds to nothing
known is a quarantined row whose reason lists what was expected.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Danish mobile network operators, as netkort spells them. Telenor and Telia share one radio
#: network (TT-Netværket) but still report and are measured as two operators.
OPERATORS = ("TDC", "Telenor", "Telia", "3")

#: The operator of a site whose operator a source does not say (e.g. OpenStreetMap masts).
UNKNOWN_OPERATOR = "unknown"

#: Radio technologies a measurement may report.
TECHNOLOGIES = ("2G", "3G", "4G", "5G NSA", "5G SA")

#: Technologies the propagation model predicts (5G NSA and SA share the same NR carrier).
MODEL_TECHNOLOGIES = ("4G", "5G")

ENVIRONMENTS = ("outdoor", "indoor", "in vehicle")
MEASUREMENT_SOURCES = ("drive test", "crowd", "app")

#: The mobile download classes of the 2026 mapping and the pool's 2024-25 rule, lower bounds in
#: Mbit/s. The labels are what every table and legend shows.
SPEED_CLASSES = (("below 100", 0.0), ("100–599", 100.0), ("600+", 600.0))
SPEED_CLASS_LABELS = tuple(label for label, _ in SPEED_CLASSES)

_OPERATOR_ALIASES = {
    "tdc": "TDC",
    "tdc net": "TDC",
    "tdcnet": "TDC",
    "nuuday": "TDC",
    "yousee": "TDC",
    "23801": "TDC",
    "telenor": "Telenor",
    "23802": "Telenor",
    "telia": "Telia",
    "23820": "Telia",
    "3": "3",
    "three": "3",
    "hi3g": "3",
    "3 danmark": "3",
    "23806": "3",
}

_TECHNOLOGY_ALIASES = {
    "2g": "2G",
    "gsm": "2G",
    "gprs": "2G",
    "edge": "2G",
    "3g": "3G",
    "umts": "3G",
    "wcdma": "3G",
    "hspa": "3G",
    "hspa+": "3G",
    "4g": "4G",
    "lte": "4G",
    "lte a": "4G",
    "lte advanced": "4G",
    "4g+": "4G",
    "5g nsa": "5G NSA",
    "nr nsa": "5G NSA",
    "5gnsa": "5G NSA",
    "en dc": "5G NSA",
    "endc": "5G NSA",
    "5g sa": "5G SA",
    "nr sa": "5G SA",
    "5gsa": "5G SA",
}

_ENVIRONMENT_ALIASES = {
    "outdoor": "outdoor",
    "outdoors": "outdoor",
    "udendørs": "outdoor",
    "indoor": "indoor",
    "indoors": "indoor",
    "indendørs": "indoor",
    "in vehicle": "in vehicle",
    "vehicle": "in vehicle",
    "in car": "in vehicle",
    "car": "in vehicle",
    "i bil": "in vehicle",
}

_SOURCE_ALIASES = {
    "drive test": "drive test",
    "drivetest": "drive test",
    "drive": "drive test",
    "crowd": "crowd",
    "crowdsourced": "crowd",
    "crowd sourced": "crowd",
    "app": "app",
}

_SEPARATORS = re.compile(r"[\s_\-/]+")


def _folded(values: pd.Series) -> pd.Series:
    """Lower case, separators (space, ``_``, ``-``, ``/``) as one space, trimmed."""
    text = values.astype("string").fillna("").str.strip().str.casefold()
    return text.str.replace(_SEPARATORS.pattern, " ", regex=True).str.strip()


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes of each row (-1 = missing) and the distinct values as text."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype="string")


def _fold_distinct(distinct: pd.Series, aliases: dict[str, str]) -> pd.Series:
    folded = _folded(distinct)
    # The PLMN code (238-01) and its spaced forms fold to the same digits.
    squeezed = folded.str.replace(" ", "", regex=False)
    return folded.map(aliases).fillna(squeezed.map(aliases)).astype("string")


def _normalise(values: pd.Series, aliases: dict[str, str]) -> pd.Series:
    # A file repeats a handful of spellings millions of times: fold each distinct one once.
    codes, distinct = _distinct(values)
    mapped = _fold_distinct(distinct, aliases)
    table = np.append(mapped.to_numpy(dtype=object, na_value=pd.NA), pd.NA)  # code -1 is NA
    return pd.Series(table[codes], index=values.index, dtype="string")


def normalise_categorical(values: pd.Series, field: str) -> pd.Categorical:
    """Like ``normalise_<field>``, as a categorical over the sorted vocabulary (NA = unknown).

    ``field`` is ``operator``, ``technology``, ``environment`` or ``source``. No string is built
    per row, which matters at millions of rows; the categories' order is the text order, so
    grouping on the codes orders groups as grouping on the text would.
    """
    aliases, allowed = _VOCABULARIES[field]
    categories = sorted(allowed)
    codes, distinct = _distinct(values)
    mapped = _fold_distinct(distinct, aliases)
    lookup = pd.Index(categories).get_indexer(mapped.fillna("").to_numpy(dtype=object))
    lookup = np.append(lookup, -1).astype("int8")
    return pd.Categorical.from_codes(lookup[codes], categories=categories)


def normalise_operator(values: pd.Series) -> pd.Series:
    """Operator names folded to :data:`OPERATORS` (also PLMN codes like 238-01); else <NA>."""
    return _normalise(values, _OPERATOR_ALIASES)


def normalise_technology(values: pd.Series) -> pd.Series:
    """Technology names folded to :data:`TECHNOLOGIES` (LTE is 4G, NR NSA is 5G NSA); else <NA>.

    A bare ``5G`` is refused for measurements: NSA and SA are different networks to a planner.
    """
    return _normalise(values, _TECHNOLOGY_ALIASES)


def normalise_environment(values: pd.Series) -> pd.Series:
    """Environments folded to :data:`ENVIRONMENTS`; else <NA>."""
    return _normalise(values, _ENVIRONMENT_ALIASES)


def normalise_source(values: pd.Series) -> pd.Series:
    """Measurement sources folded to :data:`MEASUREMENT_SOURCES`; else <NA>."""
    return _normalise(values, _SOURCE_ALIASES)


_VOCABULARIES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "operator": (_OPERATOR_ALIASES, OPERATORS),
    "technology": (_TECHNOLOGY_ALIASES, TECHNOLOGIES),
    "environment": (_ENVIRONMENT_ALIASES, ENVIRONMENTS),
    "source": (_SOURCE_ALIASES, MEASUREMENT_SOURCES),
}


def model_technology(technology: str) -> str | None:
    """The modelled technology a reported one belongs to: 4G → 4G, 5G NSA / SA → 5G, else None."""
    if technology == "4G":
        return "4G"
    if technology in ("5G", "5G NSA", "5G SA"):
        return "5G"
    return None


def speed_class(down: np.ndarray | pd.Series) -> pd.Categorical:
    """The mapping's mobile class of download speeds (Mbit/s): below 100, 100–599, 600+.

    NaN (no value) stays missing. The bounds are those of the 2026 mapping and the 2024-25 pool
    rule (below 100 down fixed and below 600 down via mobile).
    """
    values = np.asarray(down, dtype="float64")
    codes = np.full(values.shape, -1, dtype="int8")
    for code, (_, lower) in enumerate(SPEED_CLASSES):
        codes[values >= lower] = code
    codes[np.isnan(values)] = -1
    return pd.Categorical.from_codes(codes, categories=list(SPEED_CLASS_LABELS), ordered=True)


def slug(text: str) -> str:
    """Lower-case ASCII token for layer and file names: ``5G NSA`` → ``5g_nsa``."""
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "x"
