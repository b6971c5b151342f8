"""Spatial similarity, linear CKA and centroid RSA: invariances and known answers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.stats import ortho_group

from analysis.geometry import (
    centroid_rsa,
    linear_cka,
    pearson_over_shared_pairs,
    spatial_similarity_if_linear,
)


def labelled_cloud(seed: int, n: int = 240, d: int = 12, n_labels: int = 6):
    """Points around label-specific centres, offset far from the origin."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_labels
    X = 4 * rng.normal(size=(n_labels, d))[y] + rng.normal(size=(n, d)) + 10
    return X, y


def similar_copy(X: np.ndarray, seed: int, scale: float, shift: float) -> np.ndarray:
    """X rotated by a random orthogonal matrix, uniformly scaled and translated."""
    Q = ortho_group.rvs(X.shape[1], random_state=seed)
    return scale * X @ Q + shift * np.random.default_rng(seed).normal(size=X.shape[1])


def min_point_distances(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A DirectProbe-like label × label matrix: closest pair of points, NaN on the diagonal."""
    labels = np.unique(y)
    D = np.full((len(labels), len(labels)), np.nan)
    for i in labels:
        for j in labels:
            if i != j:
                D[i, j] = cdist(X[y == i], X[y == j]).min()
    return D


def gram_form_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA through the n × n centred Gram matrices (the textbook HSIC form)."""
    H = np.eye(len(X)) - 1 / len(X)
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    return float(np.sum(K * L) / (np.linalg.norm(K) * np.linalg.norm(L)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100), shift=st.floats(-50, 50))
def test_similarities_are_one_for_a_rotated_scaled_translated_copy(seed, scale, shift):
    X, y = labelled_cloud(seed)
    Z = similar_copy(X, seed, scale, shift)
    assert pearson_over_shared_pairs(min_point_distances(X, y), min_point_distances(Z, y)) == pytest.approx(1, abs=1e-6)
    assert linear_cka(X, Z) == pytest.approx(1, abs=1e-6)
    assert centroid_rsa(X, Z, y) == pytest.approx(1, abs=1e-6)


def test_similarities_fall_below_one_for_a_different_geometry():
    X, y = labelled_cloud(0)
    Z, _ = labelled_cloud(1)
    assert pearson_over_shared_pairs(min_point_distances(X, y), min_point_distances(Z, y)) < 0.9
    assert linear_cka(X, Z) < 0.9
    assert centroid_rsa(X, Z, y) < 0.9


def test_pearson_uses_only_pairs_both_matrices_define():
    rng = np.random.default_rng(0)
    A = rng.uniform(1, 5, size=(5, 5))
    A = A + A.T
    B = 2 * A + 3
    B[1, 3] = B[3, 1] = 1000.0  # would spoil the correlation if used
    A[1, 3] = A[3, 1] = np.nan
    A[np.diag_indices(5)] = B[np.diag_indices(5)] = np.nan
    assert pearson_over_shared_pairs(A, B) == pytest.approx(1)
    assert pearson_over_shared_pairs(A, -B) == pytest.approx(-1)
    B[1, 3] = B[3, 1] = np.nan
    A[0, 2] = A[2, 0] = 50.0
    assert pearson_over_shared_pairs(A, B) < 0.99


def test_pearson_reads_the_upper_triangle_only():
    A = np.array([[np.nan, 1, 2], [9, np.nan, 3], [7, 8, np.nan]])
    B = np.array([[np.nan, 2, 4], [0, np.nan, 6], [0, 0, np.nan]])
    assert pearson_over_shared_pairs(A, B) == pytest.approx(1)


def test_pearson_is_undefined_without_two_shared_pairs_or_with_constant_distances():
    A = np.full((3, 3), np.nan)
    A[0, 1] = A[1, 0] = 1.0
    assert np.isnan(pearson_over_shared_pairs(A, A))
    C = np.ones((4, 4))
    assert np.isnan(pearson_over_shared_pairs(C, C))
    with pytest.raises(ValueError):
        pearson_over_shared_pairs(np.ones((3, 3)), np.ones((4, 4)))


def test_spatial_similarity_is_undefined_unless_both_are_linear():
    X, y = labelled_cloud(2)
    D = min_point_distances(X, y)
    assert spatial_similarity_if_linear(D, 3 * D, True, True) == pytest.approx(1)
    assert np.isnan(spatial_similarity_if_linear(D, D, True, False))
    assert np.isnan(spatial_similarity_if_linear(D, D, False, True))


def test_feature_space_cka_matches_the_gram_form_for_any_chunking():
    X, _ = labelled_cloud(3, n=50, d=7)
    Y = np.tanh(X @ np.random.default_rng(3).normal(size=(7, 4)))
    expected = gram_form_cka(X, Y)
    assert 0.05 < expected < 0.95
    for chunk in (1, 7, 50, 4096):
        assert linear_cka(X, Y, chunk=chunk) == pytest.approx(expected, abs=1e-10)
    assert linear_cka(Y, X) == pytest.approx(expected, abs=1e-10)


def test_cka_reads_float32_memory_maps_in_chunks(tmp_path):
    X, _ = labelled_cloud(4, n=1000, d=16)
    path = tmp_path / "x.npy"
    np.save(path, X.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    assert linear_cka(mapped, X, chunk=128) == pytest.approx(1, abs=1e-6)


def test_cka_of_independent_data_is_near_zero_and_shrinks_with_n():
    rng = np.random.default_rng(5)
    values = [
        linear_cka(rng.normal(size=(n, 8)) + 7, rng.normal(size=(n, 6)) - 3) for n in (100, 1000, 20_000)
    ]
    assert values[0] > values[1] > values[2]
    assert values[2] < 0.01


def test_cka_of_a_constant_representation_is_undefined():
    X, _ = labelled_cloud(6)
    assert np.isnan(linear_cka(X, np.ones_like(X)))
    with pytest.raises(ValueError):
        linear_cka(X, X[:-1])


def test_rsa_ranks_distances_so_a_monotone_distortion_keeps_it_at_one():
    # Centroids on a line, then bent onto a circle: chord = 2R·sin(arc / 2R) is monotone in the
    # arc, so ranks agree (RSA 1) while the distances are not linearly related (Pearson < 1).
    positions = np.array([0.0, 1.0, 4.0, 9.0, 11.0])  # all pairwise gaps differ
    y = np.repeat(np.arange(5), 2)
    jitter = np.tile([-0.01, 0.01], 5)[:, None]
    line = np.c_[positions[y], np.zeros(len(y))] + jitter
    angle = positions[y] / 3.6  # the arc stays below half a turn
    circle = 3.6 * np.c_[np.cos(angle), np.sin(angle)] + jitter
    shuffled = np.c_[positions[[4, 0, 3, 1, 2]][y], np.zeros(len(y))] + jitter
    assert centroid_rsa(line, circle, y) == pytest.approx(1)
    assert pearson_over_shared_pairs(*(min_point_distances(Z, y) for Z in (line, circle))) < 0.99
    assert centroid_rsa(line, shuffled, y) < 0.5
    assert np.isnan(centroid_rsa(line[:4], circle[:4], y[:4]))  # two labels: one distance
