"""The textbook DirectProbe loop with no filters: one HiGHS LP per other-label cluster per proposal.

It is the yardstick for the engine: the benchmark times it and the tests compare clusterings with it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform

from .hulls import lp_separable


@dataclass(frozen=True)
class PlainResult:
    """Cluster id per point (clusters ordered by first point index) and the work done."""

    assignment: np.ndarray
    n_clusters: int
    lp_calls: int
    proposals: int
    seconds: float


def plain_directprobe(X: np.ndarray, y: np.ndarray, deadline: float | None = None) -> PlainResult | None:
    """Run the unfiltered algorithm; None if ``deadline`` (seconds) passes first."""
    start = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(0)
    y = np.asarray(y, dtype=np.int64)
    clusters: dict[int, list[int]] = {i: [i] for i in range(len(y))}
    rejected: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    lp_calls = proposals = 0
    while True:
        best = None
        for label in np.unique(y).tolist():
            slots = sorted(s for s in clusters if y[s] == label)
            if len(slots) < 2:
                continue
            centres = np.stack([X[clusters[s]].mean(0) for s in slots])
            dist = squareform(pdist(centres, "sqeuclidean"))
            for i, j in zip(*np.triu_indices(len(slots), 1)):
                a, b = slots[i], slots[j]
                if (tuple(clusters[a]), tuple(clusters[b])) in rejected:
                    continue
                key = (dist[i, j], a, b)
                if best is None or key < best:
                    best = key
        if best is None:
            break
        _, a, b = best
        proposals += 1
        merged = sorted(clusters[a] + clusters[b])
        ok = True
        for s, members in clusters.items():
            if y[s] == y[a]:
                continue
            lp_calls += 1
            status, _ = lp_separable(X[merged], X[members])
            if status != 0:
                ok = False
                break
        if ok:
            clusters[a] = merged
            del clusters[b]
        else:
            rejected.add((tuple(clusters[a]), tuple(clusters[b])))
        if deadline is not None and time.perf_counter() - start > deadline:
            return None
    assignment = np.empty(len(y), dtype=np.int64)
    for i, s in enumerate(sorted(clusters)):
        assignment[clusters[s]] = i
    return PlainResult(assignment, len(clusters), lp_calls, proposals, time.perf_counter() - start)
