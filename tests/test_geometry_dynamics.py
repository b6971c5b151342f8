"""Minimum-distance dynamics (Figure 6) and cross-task counts (Table 5)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analysis.geometry import (
    cross_task_table,
    min_distance_change,
    min_distance_dynamics,
    min_distance_extremes,
    min_distances,
)

LABELS = ["a", "b", "c", "d"]


def distances(points: np.ndarray, absent: tuple[int, ...] = ()) -> np.ndarray:
    """Label × label distances of 1-D label positions, NaN on the diagonal and for absent labels."""
    D = np.abs(points[:, None] - points[None, :]).astype(float)
    D[np.diag_indices(len(points))] = np.nan
    D[list(absent), :] = D[:, list(absent)] = np.nan
    return D


def test_min_distances_ignore_the_diagonal_and_leave_absent_labels_undefined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = min_distances(distances(np.array([0.0, 1.0, 5.0, 7.0]), absent=(3,)))
    np.testing.assert_allclose(out, [1.0, 1.0, 4.0, np.nan])


def test_dynamics_table_is_long_with_one_row_per_step_and_label():
    snapshots = [distances(np.array([0.0, 1.0, 5.0, 7.0]) * (1 + s)) for s in range(3)]
    table = min_distance_dynamics([0, 10, 20], snapshots, LABELS)
    assert list(table.columns) == ["step", "label", "min_distance"]
    assert len(table) == 12
    at_20 = table[table["step"] == 20].set_index("label")["min_distance"]
    np.testing.assert_allclose(at_20.loc[LABELS], [3.0, 3.0, 6.0, 6.0])
    with pytest.raises(ValueError):
        min_distance_dynamics([0], snapshots, LABELS)


def test_extremes_pick_the_labels_that_moved_apart_most_and_least():
    first = distances(np.array([0.0, 1.0, 3.0, 6.0]))  # minima 1, 1, 2, 3
    last = distances(np.array([0.0, 4.0, 6.0, 7.0]))  # minima 4, 2, 1, 1
    table = min_distance_dynamics([0, 5, 9], [first, first, last], LABELS)
    extremes = min_distance_extremes(table, k=2)
    assert list(extremes.columns) == [
        "label", "min_distance_first", "min_distance_last", "change", "group"
    ]
    most = extremes[extremes["group"] == "most"]
    least = extremes[extremes["group"] == "least"]
    assert most["label"].tolist() == ["a", "b"]
    assert most["change"].tolist() == [3.0, 1.0]
    assert least["label"].tolist() == ["d", "c"]
    assert least["change"].tolist() == [-2.0, -1.0]


def test_extremes_leave_out_labels_undefined_at_either_end():
    first = distances(np.array([0.0, 1.0, 3.0, 6.0]), absent=(2,))
    last = distances(np.array([0.0, 4.0, 6.0, 7.0]))
    extremes = min_distance_extremes(min_distance_dynamics([0, 1], [first, last], LABELS), k=4)
    assert "c" not in set(extremes["label"])
    assert len(extremes) == 6


def test_cross_task_counts_ties_and_undefined_labels_separately():
    counts = min_distance_change(
        np.array([1.0, 2.0, 3.0, 4.0, np.nan]), np.array([1.5, 2.0, 2.0, 4.05, 1.0]), tolerance=0.1
    )
    assert counts == {
        "n_labels": 5,
        "n_increased": 1,
        "n_decreased": 1,
        "n_unchanged": 2,
        "n_undefined": 1,
        "mean_change": pytest.approx((0.5 + 0 - 1 + 0.05) / 4),
    }


@settings(max_examples=50, deadline=None)
@given(
    pair=st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            *[arrays(float, n, elements=st.sampled_from([np.nan, 0.0, 0.5, 1.0, 2.0]))] * 2
        )
    ),
    tolerance=st.sampled_from([0.0, 0.5]),
)
def test_cross_task_counts_add_up_to_the_label_count(pair, tolerance):
    counts = min_distance_change(*pair, tolerance=tolerance)
    parts = ("n_increased", "n_decreased", "n_unchanged", "n_undefined")
    assert sum(counts[k] for k in parts) == counts["n_labels"] == len(pair[0])


def test_cross_task_table_is_long_with_probe_accuracy_when_given():
    records = [
        {"fine_tuned_on": "pos", "analysed_task": "dep", "min_before": [1.0, 2.0], "min_after": [2.0, 1.0]},
        {"fine_tuned_on": "dep", "analysed_task": "pos", "min_before": [1.0, 2.0, 3.0], "min_after": [2.0, 3.0, 4.0]},
    ]
    table = cross_task_table(records)
    assert list(table.columns) == [
        "fine_tuned_on", "analysed_task", "n_labels", "n_increased", "n_decreased",
        "n_unchanged", "n_undefined", "mean_change",
    ]
    assert table["n_increased"].tolist() == [1, 3]
    grid = table.pivot(index="fine_tuned_on", columns="analysed_task", values="mean_change")
    assert grid.loc["dep", "pos"] == pytest.approx(1.0)
    with_probe = cross_task_table([r | {"probe_accuracy": 0.9} for r in records])
    assert with_probe["probe_accuracy"].tolist() == [0.9, 0.9]
    with pytest.raises(ValueError):
        cross_task_table(records + records[:1])
