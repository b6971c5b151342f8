"""Compiled inner loops of the clustering: one pass each where numpy needs a dozen over every
active cluster or every cluster of a label (tens of thousands at layer 0).

No ``fastmath``: the distances come out bit-for-bit as numpy's, so results do not depend on
which of the two computed them.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _first_min(values: np.ndarray) -> int:
    """Index of the first smallest entry (``np.argmin``'s choice)."""
    best = 0
    for j in range(1, len(values)):
        if values[j] < values[best]:
            best = j
    return best


@njit(cache=True, nogil=True)
def merge_distances(D: np.ndarray, nn: np.ndarray, nd: np.ndarray, slots: np.ndarray, a: int, b: int,
                    na: int, nb: int) -> None:
    """Cluster a absorbs cluster b (local indices within one label): row and column a of the squared
    centre distances D become the merged cluster's (Lance-Williams), b's become +inf, and every
    cluster's nearest partner (``nn``, local) and its distance (``nd`` at ``slots``) follow."""
    n = D.shape[0]
    nc = na + nb
    shift = (na * nb * D[a, b]) / (nc * nc)
    row = np.empty(n)
    for j in range(n):
        value = (na * D[a, j] + nb * D[b, j]) / nc - shift
        row[j] = value if value > 0.0 else 0.0
    row[a] = np.inf
    row[b] = np.inf
    for j in range(n):
        D[a, j] = row[j]
        D[j, a] = row[j]
        D[b, j] = np.inf
        D[j, b] = np.inf
    nd[slots[b]] = np.inf
    for j in range(n):
        if j == a or j == b:
            continue
        current = nd[slots[j]]
        if (nn[j] == a or nn[j] == b) and (current < np.inf or row[j] < np.inf):
            # Its partner was one of the two: look again.
            nn[j] = _first_min(D[j])
            nd[slots[j]] = D[j, nn[j]]
        elif row[j] < current or (row[j] == current and a < nn[j] and row[j] < np.inf):
            nn[j] = a
            nd[slots[j]] = row[j]
    nn[a] = _first_min(row)
    nd[slots[a]] = row[nn[a]]


@njit(cache=True, nogil=True)
def ball_candidates(labels: np.ndarray, apart: np.ndarray, own: int, radius: float, radii: np.ndarray,
                    tol: float, lead: np.ndarray, proj: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Active clusters of another label whose bounding ball may meet the ball (``centre``,
    ``radius``) in the projection ``proj`` (tested first on its leading coordinate alone, kept
    contiguous in ``lead``); also how many were skipped because their label is known to be apart
    (``apart[label] == 1``) and how many were not."""
    found = np.empty(len(labels), dtype=np.int64)
    n_found = 0
    n_apart = 0
    n_live = 0
    dims = proj.shape[1]
    for i in range(len(labels)):
        label = labels[i]
        if label == own:
            continue
        if apart[label] == 1:
            n_apart += 1
            continue
        n_live += 1
        reach = radius + radii[i] + tol
        if abs(lead[i] - centre[0]) > reach:
            continue
        total = 0.0
        for c in range(dims):
            gap = proj[i, c] - centre[c]
            total += gap * gap
        if total <= reach * reach:
            found[n_found] = i
            n_found += 1
    return found[:n_found], n_apart, n_live
