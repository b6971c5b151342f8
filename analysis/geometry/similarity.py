"""Similarity of two representations: spatial (label-distance Pearson), linear CKA and centroid RSA.

Spatial similarity follows Zhou & Srikumar (2022) on DirectProbe's label × label distances; CKA
(Kornblith et al., 2019) and RSA are defined for every representation, linear or not.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from .centroids import label_centroids


def pearson_over_shared_pairs(Da: np.ndarray, Db: np.ndarray) -> float:
    """Pearson correlation of two label × label distance matrices over the pairs both define.

    Uses the upper triangle (i < j); NaN entries (absent labels) drop that pair.  NaN when
    fewer than two pairs remain or either vector is constant.
    """
    Da, Db = np.asarray(Da, dtype=float), np.asarray(Db, dtype=float)
    if Da.shape != Db.shape or Da.ndim != 2 or Da.shape[0] != Da.shape[1]:
        raise ValueError(f"need two square matrices of one shape, got {Da.shape} and {Db.shape}")
    iu = np.triu_indices(Da.shape[0], k=1)
    a, b = Da[iu], Db[iu]
    shared = np.isfinite(a) & np.isfinite(b)
    a, b = a[shared], b[shared]
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(pearsonr(a, b).statistic)


def spatial_similarity_if_linear(
    Da: np.ndarray, Db: np.ndarray, linear_a: bool, linear_b: bool
) -> float:
    """Spatial similarity of two DirectProbe results; NaN (the paper's "-") unless both are linear."""
    return pearson_over_shared_pairs(Da, Db) if (linear_a and linear_b) else float("nan")


def _centred_cross_products(
    X: np.ndarray, Y: np.ndarray, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Xcᵀ Yc, Xcᵀ Xc and Ycᵀ Yc of the column-centred matrices, accumulated over row blocks."""
    mx = np.asarray(X.mean(axis=0, dtype=np.float64))
    my = np.asarray(Y.mean(axis=0, dtype=np.float64))
    xy = np.zeros((X.shape[1], Y.shape[1]))
    xx = np.zeros((X.shape[1], X.shape[1]))
    yy = np.zeros((Y.shape[1], Y.shape[1]))
    for start in range(0, X.shape[0], chunk):
        xb = np.asarray(X[start : start + chunk], dtype=np.float64) - mx
        yb = np.asarray(Y[start : start + chunk], dtype=np.float64) - my
        xy += xb.T @ yb
        xx += xb.T @ xb
        yy += yb.T @ yb
    return xy, xx, yy


def linear_cka(X: np.ndarray, Y: np.ndarray, chunk: int = 4096) -> float:
    """Linear CKA of two representations of the same n targets (rows), in the d × d feature form.

    ‖XcᵀYc‖²_F / (‖XcᵀXc‖_F ‖YcᵀYc‖_F) with column-centred Xc, Yc.  Memory is O(d² + chunk·d),
    so memory-mapped n = 43k × 768 arrays are fine.  NaN when either representation is constant.
    """
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"need two 2-D arrays with the same rows, got {X.shape} and {Y.shape}")
    xy, xx, yy = _centred_cross_products(X, Y, chunk)
    denominator = np.linalg.norm(xx) * np.linalg.norm(yy)
    if denominator == 0:
        return float("nan")
    return float(np.sum(xy * xy) / denominator)


def centroid_rsa(X: np.ndarray, Y: np.ndarray, y: np.ndarray) -> float:
    """RSA over label centroids: Spearman correlation of the two centroid distance matrices.

    Centroids are the per-label means of the same targets in X and Y; distances are Euclidean over
    every pair of labels present.  Spearman (ranks) makes it invariant to any monotone rescaling
    of distances and robust to one far-away label dominating.  NaN with fewer than three labels.
    """
    if X.shape[0] != Y.shape[0] or len(y) != X.shape[0]:
        raise ValueError("X, Y and y must describe the same targets")
    present = np.unique(y)
    if present.size < 3:
        return float("nan")
    n_labels = int(present.max()) + 1
    da = pdist(label_centroids(X, y, n_labels)[present])
    db = pdist(label_centroids(Y, y, n_labels)[present])
    if np.ptp(da) == 0 or np.ptp(db) == 0:
        return float("nan")
    return float(spearmanr(da, db).statistic)
