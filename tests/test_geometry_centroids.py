"""Label centroids, their trajectories under one shared PCA, and the PCA of centroid shifts."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from analysis.geometry import centroid_shift_pca, centroid_trajectories, label_centroids

LABELS = ["NOUN", "VERB", "ADJ", "ADV"]


def planar_snapshot(seed: int, centres: np.ndarray, per_label: int = 5):
    """Targets in 6-D whose label centroids are exactly ``centres`` (embedded in a 2-D plane)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(centres)), per_label)
    noise = rng.normal(size=(len(y), 6))
    noise -= np.stack([noise[y == k].mean(axis=0) for k in range(len(centres))])[y]
    plane = np.zeros((len(centres), 6))
    plane[:, 1], plane[:, 4] = centres[:, 0], centres[:, 1]
    return plane[y] + noise, y


def test_label_centroids_are_per_label_means_with_nan_for_absent_labels():
    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 0, 2, 2, 2, 0])
    C = label_centroids(X, y, 3)
    np.testing.assert_allclose(C[0], X[[0, 1, 5]].mean(axis=0))
    np.testing.assert_allclose(C[2], X[[2, 3, 4]].mean(axis=0))
    assert np.isnan(C[1]).all()
    with pytest.raises(ValueError):
        label_centroids(X, y, 2)


def test_trajectories_have_one_row_per_step_and_label_and_start_at_the_original():
    start = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    snapshots = [(step, *planar_snapshot(step, start * (1 + step / 100))) for step in (0, 50, 100)]
    result = centroid_trajectories(snapshots, LABELS)
    points = result.points
    assert list(points.columns) == ["step", "label", "pc1", "pc2"]
    assert len(points) == 3 * len(LABELS)
    assert points["step"].tolist() == [0] * 4 + [50] * 4 + [100] * 4
    assert points["label"].tolist() == LABELS * 3
    # Centroids span a plane, so the 2-D projection is an isometry: step 0 reproduces the
    # original label geometry exactly.
    first = points[points["step"] == 0][["pc1", "pc2"]].to_numpy()
    np.testing.assert_allclose(pdist(first), pdist(start), atol=1e-9)
    assert result.explained_variance_ratio.sum() == pytest.approx(1)
    assert result.explained_variance_ratio[0] >= result.explained_variance_ratio[1]


def test_one_pca_for_all_steps_so_a_global_shift_moves_every_label_alike():
    start = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    X, y = planar_snapshot(0, start)
    shift = np.zeros(6)
    shift[1], shift[4] = 2.0, -1.0
    points = centroid_trajectories([(0, X, y), (10, X + shift, y)], LABELS).points
    moves = points[points["step"] == 10][["pc1", "pc2"]].to_numpy() - points[points["step"] == 0][
        ["pc1", "pc2"]
    ].to_numpy()
    np.testing.assert_allclose(moves, np.repeat(moves[:1], 4, axis=0), atol=1e-9)
    assert np.linalg.norm(moves[0]) == pytest.approx(np.hypot(2, 1))


def test_a_label_absent_at_a_step_gets_nan_coordinates():
    start = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    X, y = planar_snapshot(1, start)
    keep = y != 2
    points = centroid_trajectories([(0, X, y), (1, X[keep], y[keep])], LABELS).points
    missing = points[(points["step"] == 1) & (points["label"] == "ADJ")]
    assert missing[["pc1", "pc2"]].isna().all(axis=None)
    assert points.drop(missing.index)[["pc1", "pc2"]].notna().all(axis=None)


def test_shift_pca_recovers_the_length_and_geometry_of_planar_shifts():
    start = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    shifts = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 1.0], [0.5, 0.5]])
    X, y = planar_snapshot(2, start)
    X_ft, y_ft = planar_snapshot(3, start + shifts, per_label=7)
    result = centroid_shift_pca(X, y, X_ft, y_ft, LABELS)
    points = result.points
    assert list(points.columns) == ["label", "pc1", "pc2", "shift_norm"]
    assert points["label"].tolist() == LABELS
    np.testing.assert_allclose(points["shift_norm"], np.linalg.norm(shifts, axis=1), atol=1e-9)
    np.testing.assert_allclose(pdist(points[["pc1", "pc2"]].to_numpy()), pdist(shifts), atol=1e-9)
    assert result.explained_variance_ratio.sum() == pytest.approx(1)


def test_wide_trajectories_are_the_exact_pca_every_time():
    """Tables as wide as DEP's (37 labels × 16 snapshots of 768-wide pairs) get the exact SVD, not a
    randomised one that varies from run to run in the last digits."""
    rng = np.random.default_rng(0)
    names = [f"L{k}" for k in range(37)]
    y = np.repeat(np.arange(37), 3)
    snapshots = [(step, rng.normal(size=(len(y), 768)) + rng.normal(size=(37, 768))[y], y) for step in range(16)]
    first, again = (centroid_trajectories(snapshots, names) for _ in range(2))
    assert first.points[["pc1", "pc2"]].to_numpy().tobytes() == again.points[["pc1", "pc2"]].to_numpy().tobytes()
    centroids = np.concatenate([label_centroids(X, labels, 37) for _, X, labels in snapshots])
    centred = centroids - centroids.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    exact = np.abs(centred @ vt[:2].T)  # the sign of a component is a convention
    np.testing.assert_allclose(np.abs(first.points[["pc1", "pc2"]].to_numpy()), exact, rtol=0, atol=1e-10)
