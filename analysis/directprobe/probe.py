"""``directprobe(X, y)``: run the clustering and measure the hulls it leaves."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .engine import Engine
from .hulls import REL_TOL
from .result import DirectProbeResult, distance_tables

VERSION = "10"
"""Engine version: part of every stored result's spec, bumped whenever results could change."""


def directprobe(X: np.ndarray, y: np.ndarray, *, n_labels: int | None = None, progress: Any = None,
                gap_tol: float = 1e-8, label_planes: dict[tuple[int, int], np.ndarray] | None = None
                ) -> DirectProbeResult:
    """Cluster ``X`` (n × d) with labels ``y`` the DirectProbe way and measure the hulls.

    Overlap decisions are exact: separable only with a plane checked on every point, overlapping
    only with an infeasible HiGHS LP on a subset; hulls closer than ``REL_TOL`` times the data's
    radius (float32 resolution, the precision of stored representations) count as touching and
    so as overlapping.

    ``progress`` is a callback given a dict of counters, or a tqdm-like bar.  Hull distances are
    solved exactly on working sets and certified by bounds whose relative gap is at most ``gap_tol``
    unless a pair needs more working points than the solver allows (``stats["max_distance_gap"]``).
    BLAS runs single-threaded, which keeps results bit-identical from run to run.

    ``label_planes`` (an earlier result's :attr:`~DirectProbeResult.label_planes`, e.g. the previous
    snapshot's of the same layer) are candidate planes between labels, checked on every point before
    any search: the result is the same with or without them, only faster when they still hold.
    """
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be n × d and y have n entries; got {X.shape} and {y.shape}")
    if len(y) and y.min() < 0:
        raise ValueError("labels must be non-negative integers")
    if not np.isfinite(X).all():
        raise ValueError("X has NaN or infinite values")
    L = int(y.max()) + 1 if len(y) else 0
    n_labels = L if n_labels is None else n_labels
    if n_labels < L:
        raise ValueError(f"n_labels={n_labels} but labels go up to {L - 1}")
    with threadpool_limits(limits=1, user_api="blas"):
        return _run(X, y, n_labels, progress, gap_tol, label_planes)


def _run(X: np.ndarray, y: np.ndarray, n_labels: int, progress: Any, gap_tol: float,
         label_planes: dict[tuple[int, int], np.ndarray] | None) -> DirectProbeResult:
    engine = Engine(X, y, progress=progress, label_planes=label_planes)
    clusters = sorted(engine.run().values(), key=lambda c: c.slot)
    assignment = np.empty(len(y), dtype=np.int64)
    for i, cluster in enumerate(clusters):
        assignment[cluster.members.view] = i
    labels = np.array([c.label for c in clusters], dtype=np.int64)
    start = time.perf_counter()
    upper, lower, by_label, minimum = distance_tables([c.points.view for c in clusters], labels, n_labels,
                                                      engine.tol, gap_tol)
    gaps = upper - lower
    stats = engine.counters.as_dict()
    stats.update({"distance_seconds": time.perf_counter() - start,
                  "max_distance_gap": float(np.nanmax(gaps)) if np.isfinite(gaps).any() else 0.0,
                  "n_points": int(len(y)), "dim": int(X.shape[1]) if X.ndim == 2 else 0})
    conflicts = [{"points": g.tolist(), "labels": y[g].tolist()} for g in engine.conflicts]
    options = {"version": VERSION, "n_labels": n_labels, "gap_tol": gap_tol, "rel_tol": REL_TOL}
    return DirectProbeResult(assignment, labels, upper, lower, by_label, minimum, conflicts, stats, options,
                             points=X, label_planes=engine.label_planes)
