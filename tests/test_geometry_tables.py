"""Before/after tables: linearity (Tables 3, 7), train–test divergence (Table 2), layers (Figure 4)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.geometry import LayerSnapshot, layer_behaviour, linearity_table, train_test_divergence


def record(task, layer, state, n_clusters, n_labels=5):
    return {"task": task, "layer": layer, "model_state": state, "n_clusters": n_clusters,
            "n_labels": n_labels, "is_linear": n_clusters == n_labels}


def test_linearity_table_puts_original_and_fine_tuned_side_by_side():
    table = linearity_table(
        [
            record("pos", 12, "original", 9),
            record("pos", 12, "fine-tuned", 5),
            record("dep", 12, "fine-tuned", 7, n_labels=7),
            record("dep", 12, "original", 7, n_labels=7),
            record("sst", 12, "original", 2, n_labels=2),
        ]
    )
    assert list(table.columns) == [
        "task", "layer", "n_labels", "n_clusters_original", "n_clusters_fine_tuned",
        "is_linear_original", "is_linear_fine_tuned",
    ]
    rows = table.set_index("task")
    assert rows.loc["pos", "n_clusters_original"] == 9
    assert rows.loc["pos", "n_clusters_fine_tuned"] == 5
    assert not rows.loc["pos", "is_linear_original"]
    assert rows.loc["pos", "is_linear_fine_tuned"]
    assert rows.loc["dep", "n_labels"] == 7
    assert pd.isna(rows.loc["sst", "n_clusters_fine_tuned"])
    assert pd.isna(rows.loc["sst", "is_linear_fine_tuned"])


def test_linearity_table_rejects_inconsistent_records():
    with pytest.raises(ValueError, match="n_labels"):
        linearity_table([record("pos", 1, "original", 5), record("pos", 1, "fine-tuned", 5, n_labels=6)])
    with pytest.raises(ValueError, match="model_state"):
        linearity_table([record("pos", 1, "halfway", 5)])
    with pytest.raises(ValueError, match="more than one"):
        linearity_table([record("pos", 1, "original", 5), record("pos", 1, "original", 6)])
    with pytest.raises(ValueError, match="lack"):
        linearity_table([{"task": "pos", "model_state": "original"}])


def label_distances(seed: int, n_labels: int = 5) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(n_labels, 3))
    D = np.linalg.norm(points[:, None] - points[None], axis=-1)
    D[np.diag_indices(n_labels)] = np.nan
    return D


def test_train_test_divergence_is_similarity_before_and_after_with_nan_when_not_linear():
    D = label_distances(0)
    other = label_distances(1)
    table = train_test_divergence(
        [
            {"task": "pos", "model_state": "original", "train_distances": D, "test_distances": other,
             "train_linear": True, "test_linear": True},
            {"task": "pos", "model_state": "fine-tuned", "train_distances": D, "test_distances": 2 * D,
             "train_linear": True, "test_linear": True},
            {"task": "dep", "model_state": "original", "train_distances": D, "test_distances": D,
             "train_linear": False, "test_linear": True},
            {"task": "dep", "model_state": "fine-tuned", "train_distances": D, "test_distances": D,
             "train_linear": True, "test_linear": True},
        ]
    )
    assert list(table.columns) == ["task", "similarity_original", "similarity_fine_tuned"]
    rows = table.set_index("task")
    assert rows.loc["pos", "similarity_fine_tuned"] == pytest.approx(1)
    assert rows.loc["pos", "similarity_original"] < 0.99
    assert np.isnan(rows.loc["dep", "similarity_original"])
    assert rows.loc["dep", "similarity_fine_tuned"] == pytest.approx(1)


def drifting_layers(y: np.ndarray, layers=(0, 1), steps=(0, 100, 200)):
    """Original layers and snapshots that drift further from them with each step (a generator)."""
    rng = np.random.default_rng(0)
    base = {layer: 3 * rng.normal(size=(5, 8))[y] + rng.normal(size=(len(y), 8)) for layer in layers}
    D = label_distances(2)
    original = {layer: LayerSnapshot(0, layer, base[layer], D, True) for layer in layers}

    def snapshots():
        for step in steps:
            for layer in layers:
                noise = np.random.default_rng(step + layer).normal(size=base[layer].shape)
                D_step = D + step / 100 * label_distances(3 + step)
                yield LayerSnapshot(step, layer, base[layer] + step / 50 * noise, D_step, layer == 1)

    return original, snapshots()


def test_layer_behaviour_compares_each_snapshot_to_the_same_original_layer():
    y = np.arange(200) % 5
    original, snapshots = drifting_layers(y)
    table = layer_behaviour(snapshots, original, y)
    assert list(table.columns) == ["step", "layer", "metric", "value"]
    assert len(table) == 3 * 2 * 3
    values = table.set_index(["metric", "layer", "step"])["value"]
    for metric in ("cka", "rsa"):
        assert values.loc[(metric, 0, 0)] == pytest.approx(1)
        assert values.loc[(metric, 1, 0)] == pytest.approx(1)
        assert values.loc[(metric, 1, 0)] > values.loc[(metric, 1, 200)]
    assert values.loc[("cka", 1, 0)] > values.loc[("cka", 1, 100)] > values.loc[("cka", 1, 200)]
    assert values.loc[("spatial", 1, 0)] == pytest.approx(1)
    assert values.loc[("spatial", 1, 200)] < 1
    assert values.loc["spatial"].loc[0].isna().all()  # layer 0 snapshots are not linear


def test_layer_behaviour_needs_the_original_of_every_layer():
    y = np.arange(50) % 5
    original, snapshots = drifting_layers(y, layers=(0, 1))
    with pytest.raises(KeyError):
        layer_behaviour(snapshots, {0: original[0]}, y)
