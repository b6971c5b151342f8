"""Variation across seeds: bootstrap intervals of a metric, recipe summaries (Zhang et al., 2021)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import bootstrap


def _group_keys(table: pd.DataFrame, exclude: Sequence[str], by: Sequence[str] | None) -> list[str]:
    """``by`` if given, else every column not excluded."""
    return list(by) if by is not None else [c for c in table.columns if c not in exclude]


def _groups(table: pd.DataFrame, keys: list[str]):
    """(key values, sub-table) pairs, the whole table as one group when there are no keys."""
    return table.groupby(keys, sort=True, dropna=False) if keys else [((), table)]


def seed_intervals(
    table: pd.DataFrame,
    value: str,
    by: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    random_state: int = 0,
) -> pd.DataFrame:
    """Mean and percentile-bootstrap interval of ``value`` across the seeds of each group.

    Groups by ``by`` (default: every column but ``seed`` and ``value``); NaN values are left
    out.  Columns: the keys, n_seeds, mean, ci_low, ci_high (NaN interval with < 2 seeds).
    Every group resamples with a generator seeded by ``random_state``, so results are
    reproducible and independent of the other groups.
    """
    keys = _group_keys(table, ["seed", value], by)
    rows = []
    for key, group in _groups(table, keys):
        values = group[value].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        low = high = float("nan")
        if values.size >= 2:
            interval = bootstrap(
                (values,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=np.random.default_rng(random_state),
            ).confidence_interval
            low, high = float(interval.low), float(interval.high)
        mean = float(values.mean()) if values.size else float("nan")
        summary = {"n_seeds": values.size, "mean": mean, "ci_low": low, "ci_high": high}
        rows.append(dict(zip(keys, key)) | summary)
    return pd.DataFrame(rows, columns=[*keys, "n_seeds", "mean", "ci_low", "ci_high"])


def recipe_summary(
    table: pd.DataFrame, value: str, baseline: float | str, by: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per group of runs: n_runs, mean, std (sample), min, max and n_failed.

    A run failed when its ``value`` is not above the majority-class baseline (a number, or the
    name of a column holding it per run) or is NaN; the statistics use the non-NaN runs.
    Groups by ``by`` (default: every column but ``seed``, ``value`` and a baseline column).
    """
    exclude = ["seed", value] + ([baseline] if isinstance(baseline, str) else [])
    keys = _group_keys(table, exclude, by)
    rows = []
    for key, group in _groups(table, keys):
        values = group[value].to_numpy(dtype=float)
        floor = group[baseline].to_numpy(dtype=float) if isinstance(baseline, str) else baseline
        finite = values[np.isfinite(values)]
        stats = (
            {
                "mean": finite.mean(),
                "std": finite.std(ddof=1) if finite.size > 1 else np.nan,
                "min": finite.min(),
                "max": finite.max(),
            }
            if finite.size
            else dict.fromkeys(["mean", "std", "min", "max"], np.nan)
        )
        failed = ~(values > floor)
        rows.append(
            dict(zip(keys, key)) | {"n_runs": values.size, **stats, "n_failed": int(failed.sum())}
        )
    return pd.DataFrame(rows, columns=[*keys, "n_runs", "mean", "std", "min", "max", "n_failed"])
