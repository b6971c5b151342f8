"""Across-seed summaries: bootstrap intervals and Zhang et al.'s recipe statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.geometry import recipe_summary, seed_intervals


def seed_table(n_seeds: int, tasks=("pos", "dep"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            {"task": task, "layer": 12, "seed": s, "value": 0.8 + 0.05 * rng.normal()}
            for task in tasks
            for s in range(n_seeds)
        ]
    )


def test_intervals_are_per_group_and_contain_the_mean():
    table = seed_table(5)
    out = seed_intervals(table, "value")
    assert list(out.columns) == ["task", "layer", "n_seeds", "mean", "ci_low", "ci_high"]
    assert out["task"].tolist() == ["dep", "pos"]
    for _, row in out.iterrows():
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        assert row["mean"] == pytest.approx(table[table["task"] == row["task"]]["value"].mean())
        assert row["n_seeds"] == 5


def test_intervals_shrink_with_more_seeds():
    # Evenly spaced normal quantiles: the same spread at every n, so only n changes.
    widths = []
    for n in (4, 16, 64):
        values = 0.8 + 0.05 * norm.ppf((np.arange(n) + 0.5) / n)
        table = pd.DataFrame({"task": "pos", "seed": np.arange(n), "value": values})
        row = seed_intervals(table, "value").iloc[0]
        widths.append(row["ci_high"] - row["ci_low"])
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[1] / widths[2] == pytest.approx(2, rel=0.25)  # width ∝ 1/√n


def test_intervals_are_reproducible_and_skip_undefined_values():
    table = seed_table(6)
    table.loc[0, "value"] = np.nan
    first, again = seed_intervals(table, "value"), seed_intervals(table, "value")
    pd.testing.assert_frame_equal(first, again)
    assert first.set_index("task").loc["pos", "n_seeds"] == 5
    single = seed_intervals(seed_table(1), "value", by=["task"])
    assert list(single.columns) == ["task", "n_seeds", "mean", "ci_low", "ci_high"]
    assert single[["ci_low", "ci_high"]].isna().all(axis=None)


def test_recipe_summary_counts_runs_not_above_the_majority_baseline_as_failed():
    table = pd.DataFrame(
        {
            "task": ["rte"] * 5 + ["mrpc"] * 3,
            "seed": [0, 1, 2, 3, 4, 0, 1, 2],
            "accuracy": [0.70, 0.527, 0.50, 0.68, np.nan, 0.85, 0.86, 0.60],
            "majority": [0.527] * 5 + [0.684] * 3,
        }
    )
    out = recipe_summary(table, "accuracy", baseline="majority").set_index("task")
    assert list(out.columns) == ["n_runs", "mean", "std", "min", "max", "n_failed"]
    rte = out.loc["rte"]
    assert rte["n_runs"] == 5
    assert rte["n_failed"] == 3  # equal to, below, and missing
    assert rte["mean"] == pytest.approx(np.mean([0.70, 0.527, 0.50, 0.68]))
    assert rte["std"] == pytest.approx(np.std([0.70, 0.527, 0.50, 0.68], ddof=1))
    assert (rte["min"], rte["max"]) == (0.50, 0.70)
    assert out.loc["mrpc", "n_failed"] == 1
    fixed = recipe_summary(table, "accuracy", baseline=0.65, by=["task"]).set_index("task")
    assert fixed.loc["mrpc", "n_failed"] == 1
    assert fixed.loc["rte", "n_failed"] == 3
