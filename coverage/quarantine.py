"""Rejected rows, kept aside with the reason, never silently dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

QUARANTINE_COLUMNS = ["source", "file", "line", "field", "value", "reason"]


@dataclass
class Quarantine:
    """Collects rejected rows from every reader of one build.

    Each entry names the source kind, the file, the physical line (1 = header), the field, the value
    as read, and why it was refused. A row can be refused for several fields; each gets an entry.
    """

    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(
        self,
        source: str,
        path: str | Path,
        lines: np.ndarray | pd.Series | list[int],
        field_name: str,
        values: pd.Series | np.ndarray | list[str],
        reason: str | pd.Series,
    ) -> None:
        """Record rejected rows: one entry per line, all for the same field."""
        lines_arr = np.asarray(lines, dtype="int64")
        if lines_arr.size == 0:
            return
        values_arr = pd.Series(np.asarray(values, dtype=object)).astype("string").fillna("")
        reasons = reason.to_numpy() if isinstance(reason, pd.Series) else reason
        self.parts.append(
            pd.DataFrame(
                {
                    "source": source,
                    "file": str(path),
                    "line": lines_arr,
                    "field": field_name,
                    "value": values_arr.to_numpy(),
                    "reason": reasons,
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        """All entries, ordered by file and line."""
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        return out.sort_values(["source", "file", "line"], kind="stable").reset_index(drop=True)

    def rejected_lines(self, source: str) -> int:
        """How many distinct lines of one source kind were refused."""
        if not self.parts:
            return 0
        out = self.frame()
        return int(out.loc[out["source"] == source, ["file", "line"]].drop_duplicates().shape[0])
