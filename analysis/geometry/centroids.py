"""Label centroids and their movement during fine-tuning, projected to 2-D by PCA (Figures 3 and 5)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA


@dataclass(frozen=True)
class Projection:
    """2-D PCA coordinates in ``points`` and the share of variance each component explains."""

    points: pd.DataFrame
    explained_variance_ratio: np.ndarray


def label_centroids(X: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """The mean row of X per label (n_labels × d, float64); NaN rows for labels with no target."""
    y = np.asarray(y)
    if len(y) != X.shape[0]:
        raise ValueError(f"{len(y)} labels for {X.shape[0]} rows")
    if y.size and (y.min() < 0 or y.max() >= n_labels):
        raise ValueError(f"labels must lie in 0..{n_labels - 1}")
    centroids = np.full((n_labels, X.shape[1]), np.nan)
    for label in np.unique(y):
        centroids[label] = np.mean(X[y == label], axis=0, dtype=np.float64)
    return centroids


def _fit_pca(points: np.ndarray) -> PCA:
    """A two-component PCA on the finite rows of ``points``, by an exact SVD: scikit-learn's default
    picks a randomised solver for wider tables (e.g. DEP's 768-wide pairs), whose result varies from
    run to run in the last digits."""
    finite = points[np.isfinite(points).all(axis=1)]
    if finite.shape[0] < 2:
        raise ValueError("need at least two defined centroids to fit a PCA")
    return PCA(n_components=min(2, *finite.shape), svd_solver="full").fit(finite)


def _project(pca: PCA, points: np.ndarray) -> np.ndarray:
    """PCA coordinates (n × 2) of ``points``; NaN for undefined rows or a missing component."""
    out = np.full((points.shape[0], 2), np.nan)
    finite = np.isfinite(points).all(axis=1)
    if finite.any():
        coords = pca.transform(points[finite])
        out[np.flatnonzero(finite)[:, None], np.arange(coords.shape[1])] = coords
    return out


def centroid_trajectories(
    snapshots: Sequence[tuple[int, np.ndarray, np.ndarray]], label_names: Sequence[str]
) -> Projection:
    """Each label's centroid at each (step, X, y) snapshot, projected by ONE PCA fitted on them all.

    Returns points with columns step, label, pc1, pc2 (one row per step × label, NaN where a
    label has no target at that step), ordered by step as given, then label.
    """
    n_labels = len(label_names)
    steps = [int(step) for step, _, _ in snapshots]
    centroids = np.concatenate([label_centroids(X, y, n_labels) for _, X, y in snapshots])
    pca = _fit_pca(centroids)
    coords = _project(pca, centroids)
    points = pd.DataFrame(
        {
            "step": np.repeat(steps, n_labels),
            "label": np.tile(np.asarray(label_names, dtype=object), len(steps)),
            "pc1": coords[:, 0],
            "pc2": coords[:, 1],
        }
    )
    return Projection(points, np.pad(pca.explained_variance_ratio_, (0, 2 - pca.n_components_)))


def centroid_shift_pca(
    X_original: np.ndarray,
    y_original: np.ndarray,
    X_fine_tuned: np.ndarray,
    y_fine_tuned: np.ndarray,
    label_names: Sequence[str],
) -> Projection:
    """PCA of each label's centroid difference vector (fine-tuned − original), Figure 5.

    Returns points with columns label, pc1, pc2, shift_norm (the length of the difference
    vector); labels missing from either side get NaN.
    """
    n_labels = len(label_names)
    shifts = label_centroids(X_fine_tuned, y_fine_tuned, n_labels) - label_centroids(
        X_original, y_original, n_labels
    )
    pca = _fit_pca(shifts)
    coords = _project(pca, shifts)
    points = pd.DataFrame(
        {
            "label": np.asarray(label_names, dtype=object),
            "pc1": coords[:, 0],
            "pc2": coords[:, 1],
            "shift_norm": np.linalg.norm(shifts, axis=1),
        }
    )
    return Projection(points, np.pad(pca.explained_variance_ratio_, (0, 2 - pca.n_components_)))
