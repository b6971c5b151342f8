"""The compiled nearest-point solver: optimal by its own KKT conditions, the same from any warm start."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.directprobe.nearest import nearest_weights


def assert_optimal(A: np.ndarray, B: np.ndarray, lam: np.ndarray, mu: np.ndarray, slack: float) -> float:
    """Convex weights whose points p, q are nearest: no point of A lies below p along v = p - q and
    none of B above q (the optimality conditions of the problem); returns |v|."""
    assert (lam >= 0).all() and (mu >= 0).all()
    assert lam.sum() == pytest.approx(1.0, abs=1e-12) and mu.sum() == pytest.approx(1.0, abs=1e-12)
    p, q = lam @ A, mu @ B
    v = p - q
    assert (A @ v).min() >= p @ v - slack
    assert (B @ v).max() <= q @ v + slack
    return float(np.linalg.norm(v))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), na=st.integers(1, 60), nb=st.integers(1, 60), d=st.integers(1, 12),
       shift=st.floats(0, 6), fraction=st.floats(0.05, 1.0))
def test_any_warm_start_reaches_the_optimum(seed: int, na: int, nb: int, d: int, shift: float,
                                            fraction: float) -> None:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(na, d))
    B = rng.normal(size=(nb, d)) + shift / np.sqrt(d)
    cold = assert_optimal(A, B, *nearest_weights(A, B), slack=1e-9)
    start = (rng.permutation(na)[: max(1, int(fraction * na))], rng.permutation(nb)[: max(1, int(fraction * nb))])
    warm = assert_optimal(A, B, *nearest_weights(A, B, start=start), slack=1e-9)
    assert warm == pytest.approx(cold, rel=1e-9, abs=1e-9)


def test_dependent_and_repeated_start_points_are_handled() -> None:
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 3))
    A[10:20] = A[:10]
    B = rng.normal(size=(25, 3)) + 2.0
    start = (np.r_[np.arange(20), np.arange(5)], np.arange(25))
    warm = assert_optimal(A, B, *nearest_weights(A, B, start=start), slack=1e-9)
    assert warm == pytest.approx(assert_optimal(A, B, *nearest_weights(A, B), slack=1e-9), rel=1e-9)


def test_high_dimensional_supports_match_the_cold_solve() -> None:
    """Hundreds of points in as many dimensions, as at BERT layers: the support fills the space."""
    rng = np.random.default_rng(2)
    A = rng.normal(size=(220, 120))
    B = rng.normal(size=(200, 120)) + 0.35
    lam, mu = nearest_weights(A, B)
    cold = assert_optimal(A, B, lam, mu, slack=1e-9)
    assert (lam > 0).sum() + (mu > 0).sum() > 60
    grown = np.vstack([A, rng.normal(size=(5, 120)) - 0.2])
    start = (np.flatnonzero(lam > 0), np.flatnonzero(mu > 0))
    warm = assert_optimal(grown, B, *nearest_weights(grown, B, start=start), slack=1e-9)
    assert warm == pytest.approx(assert_optimal(grown, B, *nearest_weights(grown, B), slack=1e-9), rel=1e-9)
    assert warm <= cold


def test_overlapping_hulls_stop_at_the_touching_distance() -> None:
    rng = np.random.default_rng(3)
    A = rng.normal(size=(80, 10))
    B = rng.normal(size=(80, 10))
    lam, mu = nearest_weights(A, B, touching=1e-6)
    assert np.linalg.norm(lam @ A - mu @ B) <= 1e-6
    lam, mu = nearest_weights(A, B)
    assert np.linalg.norm(lam @ A - mu @ B) <= 1e-10
