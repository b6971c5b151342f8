"""Cross-task effects: fine-tune on task A, then see how task B's labels move apart (Table 5)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

KEYS = ("fine_tuned_on", "analysed_task")
COUNTS = ("n_labels", "n_increased", "n_decreased", "n_unchanged", "n_undefined", "mean_change")


def min_distance_change(
    before: np.ndarray, after: np.ndarray, tolerance: float = 0.0
) -> dict[str, float | int]:
    """How many labels' minimum distance rose, fell or stayed (|Δ| ≤ tolerance); the mean Δ.

    Labels undefined (NaN) on either side are counted as n_undefined, so the four counts add up
    to n_labels; mean_change averages the defined labels.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape or before.ndim != 1:
        raise ValueError(f"need two vectors of one length, got {before.shape} and {after.shape}")
    change = after - before
    defined = np.isfinite(change)
    delta = change[defined]
    return {
        "n_labels": int(before.size),
        "n_increased": int(np.sum(delta > tolerance)),
        "n_decreased": int(np.sum(delta < -tolerance)),
        "n_unchanged": int(np.sum(np.abs(delta) <= tolerance)),
        "n_undefined": int(np.sum(~defined)),
        "mean_change": float(delta.mean()) if delta.size else float("nan"),
    }


def cross_task_table(records: Iterable[Mapping[str, Any]], tolerance: float = 0.0) -> pd.DataFrame:
    """The task × task table in long form, one row per (fine_tuned_on, analysed_task).

    Each record has ``fine_tuned_on``, ``analysed_task``, ``min_before`` and ``min_after`` (the
    analysed task's per-label minimum distances at the last layer) and optionally
    ``probe_accuracy``.  Columns: fine_tuned_on, analysed_task, n_labels, n_increased,
    n_decreased, n_unchanged, n_undefined, mean_change[, probe_accuracy].  ``.pivot(index=
    "fine_tuned_on", columns="analysed_task", values=...)`` gives the paper's grid.
    """
    rows = []
    for r in records:
        row = {k: r[k] for k in KEYS}
        row |= min_distance_change(r["min_before"], r["min_after"], tolerance)
        if "probe_accuracy" in r:
            row["probe_accuracy"] = float(r["probe_accuracy"])
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else [*KEYS, *COUNTS])
    if table.duplicated(list(KEYS)).any():
        raise ValueError("more than one record per (fine_tuned_on, analysed_task)")
    return table
