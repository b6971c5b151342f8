"""The outcome of a DirectProbe run: clusters, hull distances, prediction, and spatial similarity."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from .hulls import data_tolerance, hull_distance, point_distances

ARRAYS = ("assignment", "cluster_labels", "cluster_distances", "cluster_distance_lower",
          "label_distances", "min_label_distance")
PLANE_PAIRS, PLANE_NORMALS = "label_plane_pairs", "label_plane_normals"
"""The certificate arrays saved beside the result (see :attr:`DirectProbeResult.label_planes`)."""


@dataclass
class DirectProbeResult:
    """Label-pure clusters whose hulls do not overlap across labels, and the distances between them.

    ``cluster_distances[i, j]`` is the distance between the hulls of clusters i and j (the width of
    their hard-margin separator), realised by two explicit hull points; ``cluster_distance_lower``
    holds a certified lower bound from a slab checked on every point, so the exact value lies
    between the two (their gap is ``stats["max_distance_gap"]``).  Same-label pairs are NaN.
    """

    assignment: np.ndarray
    cluster_labels: np.ndarray
    cluster_distances: np.ndarray
    cluster_distance_lower: np.ndarray
    label_distances: np.ndarray
    min_label_distance: np.ndarray
    conflicts: list[dict[str, list[int]]]
    """Groups of identical points with different labels: ``{"points": [...], "labels": [...]}``.
    Such points can never share a cluster with anything (their hull would contain a point of another
    label), so each stays a singleton cluster at distance 0 from its twins."""
    stats: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    points: np.ndarray | None = None
    """The clustered points, needed by :meth:`predict`; not saved with the result."""
    label_planes: dict[tuple[int, int], np.ndarray] | None = None
    """Planes that showed label pairs apart, (a, b) → unit normal with a's points above b's: saved
    (float32) as a certificate for the next snapshot's run (see :func:`.directprobe`), not loaded."""

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_labels)

    @property
    def n_labels(self) -> int:
        return len(self.label_distances)

    @property
    def is_linear(self) -> bool:
        """One cluster per label present: every pair of labels is linearly separable."""
        return self.n_clusters == len(np.unique(self.cluster_labels))

    def cluster_points(self, i: int) -> np.ndarray:
        if self.points is None:
            raise ValueError("this result has no points; pass them to DirectProbeResult.load")
        return np.asarray(self.points[self.assignment == i], dtype=np.float64)

    def hull_distances(self, X_test: np.ndarray) -> np.ndarray:
        """Distance from each test point to each cluster's hull (0 inside), exact up to float64.

        Clusters that cannot be nearest (ball lower bound above the distance to another cluster's
        nearest point) are left at +inf; each cluster's candidates are solved together.
        """
        X_test = np.atleast_2d(np.asarray(X_test, dtype=np.float64))
        members = [self.cluster_points(i) for i in range(self.n_clusters)]
        centres = np.stack([m.mean(0) for m in members])
        radii = np.array([np.sqrt(((m - c) ** 2).sum(1).max()) for m, c in zip(members, centres)])
        tol = data_tolerance(np.asarray(self.points, dtype=np.float64), X_test)
        nearest_point = np.full(len(X_test), np.inf)
        for m in members:
            for first in range(0, len(X_test), 1024):
                rows = slice(first, first + 1024)
                nearest_point[rows] = np.minimum(nearest_point[rows], cdist(X_test[rows], m).min(1))
        lower = np.maximum(cdist(X_test, centres) - radii, 0.0)
        out = np.full((len(X_test), self.n_clusters), np.inf)
        for i, m in enumerate(members):
            candidates = np.flatnonzero(lower[:, i] <= nearest_point + tol)
            if len(candidates):
                out[candidates, i] = point_distances(m, X_test[candidates], tol=tol)[1]
        return out

    def predict(self, X_test: np.ndarray) -> np.ndarray:
        """The label of the nearest cluster hull for each test point (ties: lower cluster id)."""
        dist = self.hull_distances(X_test)
        return self.cluster_labels[np.argmin(dist, axis=1)]

    def accuracy(self, X_test: np.ndarray, y_test: np.ndarray) -> float:
        """Fraction of test points whose nearest hull carries their label."""
        return float(np.mean(self.predict(X_test) == np.asarray(y_test)))

    def save(self, writer: Any) -> None:
        """Write into a store entry: arrays as .npy, the rest as ``directprobe.json``."""
        for name in ARRAYS:
            writer.save_array(name, getattr(self, name))
        if self.label_planes:
            pairs = sorted(self.label_planes)
            writer.save_array(PLANE_PAIRS, np.array(pairs, dtype=np.int64))
            writer.save_array(PLANE_NORMALS, np.array([self.label_planes[p] for p in pairs], dtype=np.float32))
        writer.save_json("directprobe", {"conflicts": self.conflicts, "stats": self.stats,
                                         "options": self.options})
        writer.summary.update({"n_points": int(len(self.assignment)), "n_clusters": self.n_clusters,
                               "is_linear": self.is_linear, "n_conflicts": len(self.conflicts),
                               "seconds": self.stats.get("seconds")})

    @staticmethod
    def load_label_planes(entry: Any) -> dict[tuple[int, int], np.ndarray]:
        """The label planes saved with a stored result (empty for results saved without them)."""
        if f"{PLANE_PAIRS}.npy" not in entry.files():
            return {}
        pairs = np.asarray(entry.array(PLANE_PAIRS, mmap=False))
        normals = np.asarray(entry.array(PLANE_NORMALS, mmap=False), dtype=np.float64)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)  # unit again after float32, as the engine's planes
        return {(int(a), int(b)): w for (a, b), w in zip(pairs, normals)}

    @classmethod
    def load(cls, entry: Any, points: np.ndarray | None = None) -> DirectProbeResult:
        """Read a result back from a store entry (``points`` enables :meth:`predict`)."""
        meta = entry.json("directprobe")
        arrays = {name: np.asarray(entry.array(name, mmap=False)) for name in ARRAYS}
        return cls(**arrays, conflicts=meta["conflicts"], stats=meta["stats"], options=meta["options"],
                   points=points)


def _cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def distance_tables(clusters: list[np.ndarray], labels: np.ndarray, n_labels: int,
                    tol: float, gap_tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hull distances for every pair of clusters with different labels, and their label-level minima
    (on every core: at layer 0 there are millions of pairs)."""
    k = len(clusters)
    upper = np.full((k, k), np.nan)
    lower = np.full((k, k), np.nan)
    differ = labels[:, None] != labels[None, :]
    single = np.array([len(c) == 1 for c in clusters], dtype=bool)
    # Pairs of single points (most clusters at layer 0) in one go: their distance is exact.
    s = np.flatnonzero(single)
    if len(s):
        points = np.vstack([clusters[i] for i in s])
        both = np.ix_(s, s)
        upper[both] = lower[both] = np.where(differ[both], cdist(points, points), np.nan)
        # Single points that coincide (points of different labels at one position) are measured once.
        places, place_of = np.unique(points, axis=0, return_inverse=True)
        place_of = place_of.reshape(-1)

    def row(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cluster i (not a single point) against every single point and every later cluster."""
        others = np.flatnonzero(differ[i] & ~single & (np.arange(k) > i))
        pairs = [hull_distance(clusters[i], clusters[j], tol=tol, gap_tol=gap_tol) for j in others.tolist()]
        low, up = np.array([p.lower for p in pairs]), np.array([p.upper for p in pairs])
        if len(s):
            apart = differ[i, s]
            needed = np.unique(place_of[apart])
            place_low, place_up = point_distances(clusters[i], places[needed], tol=tol, gap_tol=gap_tol)
            at = np.searchsorted(needed, place_of[apart])
            others = np.r_[others, s[apart]]
            low, up = np.r_[low, place_low[at]], np.r_[up, place_up[at]]
        return others, low, up

    # The solver releases the GIL, so threads share the cores; each pair's result is its own.
    grown = np.flatnonzero(~single)
    with ThreadPoolExecutor(max_workers=_cores()) as pool:
        for i, (others, low, up) in zip(grown, pool.map(row, grown)):
            upper[i, others] = upper[others, i] = up
            lower[i, others] = lower[others, i] = low
    by_label = np.full((n_labels, n_labels), np.nan)
    for a in np.unique(labels).tolist():
        for b in np.unique(labels).tolist():
            if a != b:
                by_label[a, b] = np.nanmin(upper[np.ix_(labels == a, labels == b)])
    with np.errstate(all="ignore"):
        present = ~np.all(np.isnan(by_label), axis=1)
        minimum = np.full(n_labels, np.nan)
        minimum[present] = np.nanmin(by_label[present], axis=1)
    return upper, lower, by_label, minimum


def spatial_similarity(a: DirectProbeResult | np.ndarray, b: DirectProbeResult | np.ndarray) -> float | None:
    """Pearson correlation of two label-distance vectors over the label pairs both define.

    Results must both be linear (one cluster per label); otherwise, or with fewer than two shared
    pairs or a constant vector, the similarity is undefined and None is returned (the paper's "-").
    """
    mats = []
    for item in (a, b):
        if isinstance(item, DirectProbeResult):
            if not item.is_linear:
                return None
            item = item.label_distances
        mats.append(np.asarray(item, dtype=np.float64))
    L = min(len(mats[0]), len(mats[1]))
    iu = np.triu_indices(L, 1)
    va, vb = mats[0][:L, :L][iu], mats[1][:L, :L][iu]
    shared = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[shared], vb[shared]
    if len(va) < 2 or va.std() == 0 or vb.std() == 0:
        return None
    return float(np.corrcoef(va, vb)[0, 1])
