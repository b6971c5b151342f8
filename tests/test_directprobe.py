"""DirectProbe engine: known answers, exactness against independent LPs and QPs, and the result object."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from analysis.directprobe import DirectProbeResult, directprobe, spatial_similarity
from analysis.directprobe.hulls import data_tolerance, hull_distance, lp_widest, separate
from analysis.directprobe.planes import Planes
from analysis.directprobe.plain import plain_directprobe
from analysis.directprobe.result import ARRAYS, distance_tables


def overlap_lp(A: np.ndarray, B: np.ndarray) -> bool:
    """Independent check: the LP 'w·a + b >= 1, w·b' + b <= -1' in the original coordinates is infeasible."""
    d = A.shape[1]
    rows = np.vstack([-np.hstack([A, np.ones((len(A), 1))]), np.hstack([B, np.ones((len(B), 1))])])
    res = linprog(np.zeros(d + 1), A_ub=rows, b_ub=-np.ones(len(rows)), bounds=(None, None), method="highs")
    assert res.status in (0, 2)
    return res.status == 2


def exact_hull_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Hull distance by enumerating every pair of faces (vertex subsets), certified by a separating plane.

    The closest points of two hulls are affine combinations of a vertex subset S of A and T of B whose
    equality-constrained least-squares problem has a unique solution, so |S| + |T| <= d + 2. Every subset pair
    is solved exactly through its KKT system; a solution with non-negative weights is a feasible pair of
    points, so its distance bounds the answer from above, and the least of them is the answer. The plane
    through the closest points must separate the hulls at that distance (a dual bound), which certifies it.
    """
    from itertools import combinations

    d = A.shape[1]
    best, pair = np.inf, None
    for k in range(1, min(len(A), d + 1) + 1):
        for S in combinations(range(len(A)), k):
            for m in range(1, min(len(B), d + 2 - k) + 1):
                for T in combinations(range(len(B)), m):
                    P = np.vstack([A[list(S)], -B[list(T)]])
                    C = np.zeros((2, k + m))
                    C[0, :k] = C[1, k:] = 1
                    kkt = np.block([[2 * P @ P.T, C.T], [C, np.zeros((2, 2))]])
                    z = np.linalg.lstsq(kkt, np.r_[np.zeros(k + m), 1.0, 1.0], rcond=None)[0][: k + m]
                    if z.min() < -1e-12 or not np.allclose(C @ z, 1.0, atol=1e-12, rtol=0):
                        continue
                    z = np.clip(z, 0, None)
                    a, b = z[:k] @ A[list(S)] / z[:k].sum(), z[k:] @ B[list(T)] / z[k:].sum()
                    dist = float(np.linalg.norm(a - b))
                    if dist < best:
                        best, pair = dist, (a, b)
    a, b = pair
    if best > 1e-9:
        w = (a - b) / best
        assert best - ((A @ w).min() - (B @ w).max()) <= 1e-9 * max(1.0, best), "reference not certified"
    return best


def clusters_of(result: DirectProbeResult, X: np.ndarray) -> list[np.ndarray]:
    return [X[result.assignment == i] for i in range(result.n_clusters)]


def assert_exact_partition(result: DirectProbeResult, X: np.ndarray, y: np.ndarray) -> None:
    """Label-pure clusters, no cross-label overlap, and every same-label pair really blocked."""
    parts = clusters_of(result, X)
    labels = result.cluster_labels
    twins = {int(result.assignment[p]) for group in result.conflicts for p in group["points"]}
    for i in range(len(parts)):
        assert (y[result.assignment == i] == labels[i]).all()
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            if labels[i] != labels[j]:
                assert (i in twins and j in twins) or not overlap_lp(parts[i], parts[j]), (i, j)
            else:
                merged = np.vstack([parts[i], parts[j]])
                blocked = any(overlap_lp(merged, parts[k]) for k in range(len(parts)) if labels[k] != labels[i])
                assert blocked, f"clusters {i} and {j} could still merge"


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * np.pi
    arm = np.c_[t * np.cos(t), t * np.sin(t)] / 10
    X = np.vstack([arm, -arm]) + rng.normal(0, 0.02, (2 * n, 2))
    return X, np.repeat([0, 1], n)


def test_separable_blobs_give_one_cluster_per_label() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 6)) + 8 * k for k in range(3)])
    y = np.repeat([0, 1, 2], 40)
    result = directprobe(X, y)
    assert result.n_clusters == 3 and result.is_linear
    assert (result.cluster_labels == [0, 1, 2]).all()
    assert np.isnan(np.diag(result.label_distances)).all()
    assert (result.label_distances[~np.eye(3, dtype=bool)] > 5).all()
    assert np.allclose(result.min_label_distance, np.nanmin(result.label_distances, axis=1))


def test_xor_needs_four_clusters() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (200, 2))
    X = X[np.abs(X).min(1) > 0.05]
    y = (np.sign(X[:, 0]) == np.sign(X[:, 1])).astype(int)
    result = directprobe(X, y)
    assert result.n_clusters == 4 and not result.is_linear
    assert_exact_partition(result, X, y)


def test_interleaved_spirals_need_many_clusters() -> None:
    X, y = spirals(80, np.random.default_rng(2))
    result = directprobe(X, y)
    assert result.n_clusters >= 8
    assert_exact_partition(result, X, y)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(4, 40), d=st.integers(1, 4), labels=st.integers(2, 4))
def test_random_inputs_give_exact_partitions(seed: int, n: int, d: int, labels: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, labels, n)
    result = directprobe(X, y)
    assert_exact_partition(result, X, y)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_engine_matches_plain_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 3, 30)
    plain = plain_directprobe(X, y)
    assert (directprobe(X, y).assignment == plain.assignment).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_labels_apart_from_all_others_are_settled_as_the_loop_would(seed: int) -> None:
    """Two interleaved labels, two far blobs, and one outlying point that the blobs share with a
    third label that has no other (a conflict): those three labels are free, settled without
    proposals, and the clustering is the plain implementation's."""
    rng = np.random.default_rng(seed)
    mixed = rng.normal(size=(30, 3))
    shared = np.array([[0.0, -9.0, 0.0]])
    far = np.vstack([rng.normal(size=(12, 3)) + [9.0, 0.0, 0.0], shared])
    other = np.vstack([rng.normal(size=(10, 3)) + [0.0, 0.0, 9.0], shared])
    X = np.vstack([mixed, far, other, shared])
    y = np.r_[rng.integers(0, 2, 30), np.full(13, 2), np.full(11, 3), 4]
    result = directprobe(X, y)
    assert result.stats["free_labels"] == 3 and result.stats["settled"] == 11 + 9
    # each blob: one cluster; the shared point: one singleton per label
    assert result.conflicts == [{"points": [42, 53, 54], "labels": [2, 3, 4]}]
    assert result.n_clusters == 30 - result.stats["merges"] + 2 + 3
    assert (result.assignment == plain_directprobe(X, y).assignment).all()
    assert_exact_partition(result, X, y)


def test_label_pairs_without_conflicts_are_tested_one_way_only() -> None:
    """Two labels with no conflicting points compare the same two point sets either way round, so a
    separating plane found one way settles the other; a label with a conflict is tested both ways."""
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(8, 5)) + 10 * centre for centre in np.eye(5)])
    y = np.repeat(np.arange(5), 8)
    result = directprobe(X, y)
    assert result.stats["free_labels"] == 5 and result.stats["label_pair_tests"] == 10
    twin = np.array([[0.0, 0.0, 0.0, 0.0, -10.0]])
    X, y = np.vstack([X, twin, twin]), np.r_[y, 0, 1]  # one point carrying labels 0 and 1
    result = directprobe(X, y)
    # 0 and 1 both ways with each other and with 2, 3, 4 (2 + 6 + 6); 2, 3, 4 among themselves once (3)
    assert result.stats["free_labels"] == 5 and result.stats["label_pair_tests"] == 17
    assert (result.assignment == plain_directprobe(X, y).assignment).all()
    assert_exact_partition(result, X, y)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), na=st.integers(1, 7), nb=st.integers(1, 7), d=st.integers(1, 5),
       shift=st.floats(0, 4))
def test_hull_distance_matches_exact_face_enumeration(seed: int, na: int, nb: int, d: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(na, d))
    B = rng.normal(size=(nb, d)) + shift
    dist = hull_distance(A, B)
    assert dist.lower <= dist.upper + 1e-12
    assert dist.upper == pytest.approx(exact_hull_distance(A, B), abs=1e-8)
    assert (dist.upper > 1e-9) == (not overlap_lp(A, B))


def test_distance_tables_cover_every_pair_of_singletons_and_clusters() -> None:
    rng = np.random.default_rng(11)
    clusters = [rng.normal(size=(n, 3)) + 4 * rng.normal(size=3) for n in (1, 1, 5, 1, 8, 1, 4)]
    clusters.append(clusters[1].copy())  # two labels at one point (a conflict), measured once
    labels = np.array([0, 1, 0, 2, 1, 1, 2, 0])
    upper, lower, by_label, minimum = distance_tables(clusters, labels, 4, tol=1e-9, gap_tol=1e-8)
    for i in range(len(clusters)):
        for j in range(len(clusters)):
            if labels[i] == labels[j]:
                assert np.isnan(upper[i, j]) and np.isnan(lower[i, j])
            else:
                assert upper[i, j] == pytest.approx(exact_hull_distance(clusters[i], clusters[j]), abs=1e-9)
                assert lower[i, j] <= upper[i, j] == upper[j, i]
    assert by_label[0, 1] == np.nanmin(upper[np.ix_(labels == 0, labels == 1)]) == upper[1, 7] == 0.0
    assert minimum[2] == np.nanmin(by_label[2]) and np.isnan(minimum[3])


def test_large_hull_distance_is_certified() -> None:
    rng = np.random.default_rng(3)
    A = rng.normal(size=(300, 20))
    B = rng.normal(size=(200, 20)) + np.r_[8.0, np.zeros(19)]
    dist = hull_distance(A, B)
    assert dist.upper - dist.lower <= 1e-8 * dist.upper
    w = dist.w
    assert (A @ w).min() - (B @ w).max() == pytest.approx(dist.lower)


def test_separate_proves_overlap_with_a_witness() -> None:
    rng = np.random.default_rng(4)
    A = rng.normal(size=(60, 5))
    B = rng.normal(size=(50, 5))
    sep = separate(A, B, tol=1e-9)
    assert not sep.separable and sep.method in ("touching", "lp")
    ia, ib = sep.witness
    assert overlap_lp(A[ia], B[ib])
    sep = separate(A + 10, B, tol=1e-9)
    assert sep.separable and ((A + 10) @ sep.w).min() > (B @ sep.w).max()


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 120), shift=st.floats(0, 2))
def test_widest_lp_plane_separates_or_its_lp_proves_overlap(seed: int, n: int, shift: float) -> None:
    """Near the capacity of the space (up to 8 times more points than dimensions): the LP
    fall-back's widest plane separates the two sets exactly when an independent LP says it can."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, 30))
    B = rng.normal(size=(n, 30)) + np.r_[shift, np.zeros(29)]
    status, w = lp_widest(A, B)
    assert status in (0, 2)
    assert (status == 2) == overlap_lp(A, B)
    if status == 0:
        assert (A @ w).min() > (B @ w).max()


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), shift=st.floats(0, 3), keep=st.integers(1, 60))
def test_warm_started_separate_agrees_with_an_independent_lp(seed: int, shift: float, keep: int) -> None:
    """Any start (a support remembered from another problem) changes the work, never the answer;
    with one, the exact solve runs at once (no Frank-Wolfe plane)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(160, 25))
    B = rng.normal(size=(140, 25)) + np.r_[shift, np.zeros(24)]
    start = (rng.choice(160, keep, replace=False), rng.choice(140, keep, replace=False))
    cold = separate(A, B, tol=1e-9)
    warm = separate(A, B, tol=1e-9, start=start)
    assert cold.separable == warm.separable == (not overlap_lp(A, B))
    assert warm.method != "quick"
    if warm.separable:
        assert (A @ warm.w).min() - (B @ warm.w).max() > 1e-9
    elif warm.witness is not None:
        assert overlap_lp(A[warm.witness[0]], B[warm.witness[1]])


@pytest.mark.parametrize("seed", [0, 1])
def test_gap_a_few_hundred_tolerances_wide_is_certified(seed: int) -> None:
    """Two hulls with flat faces 300 tolerances apart: the gap is found and certified from below,
    which NNLS alone (sum-to-one met only to ~1e-10) cannot do."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(400, 60)) * 3, rng.normal(size=(400, 60)) * 3
    A[:, 0], B[:, 0] = np.abs(A[:, 0]), -np.abs(B[:, 0])
    A[:150, 0] = B[:150, 0] = 0.0
    tol = data_tolerance(A, B)
    A[:, 0] += 300 * tol
    sep = separate(A, B, tol=tol)
    assert sep.separable and (A @ sep.w).min() - (B @ sep.w).max() > tol
    dist = hull_distance(A, B, tol=tol)
    assert 0.95 * 300 * tol < dist.lower <= dist.upper <= 300 * tol * (1 + 1e-6)


def test_gap_below_float32_resolution_counts_as_touching() -> None:
    """Flat faces a tenth of a tolerance (1e-8 of the radius) apart: separable in exact arithmetic,
    but below the precision of float32 representations, so the pair is not separable; at three
    tolerances it is, with a plane verified on every point."""
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(300, 40)) * 3, rng.normal(size=(300, 40)) * 3
    A[:, 0], B[:, 0] = np.abs(A[:, 0]), -np.abs(B[:, 0])
    A[:100, 0] = B[:100, 0] = 0.0
    tol = data_tolerance(A, B)
    assert tol == pytest.approx(1e-7 * np.sqrt((np.vstack([A, B]) ** 2).sum(1).max()))
    near = A.copy()
    near[:, 0] += 0.1 * tol
    assert not separate(near, B, tol=tol).separable
    far = A.copy()
    far[:, 0] += 3 * tol
    sep = separate(far, B, tol=tol)
    assert sep.separable and (far @ sep.w).min() - (B @ sep.w).max() > tol


def test_identical_points_with_different_labels_are_reported() -> None:
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 6])
    y = np.repeat([0, 1], 20)
    X = np.vstack([X, X[3], X[25]])
    y = np.r_[y, 1, 1]
    result = directprobe(X, y)
    assert result.conflicts == [{"points": [3, 40], "labels": [0, 1]}]
    assert not result.is_linear
    for p in (3, 40):
        assert (result.assignment == result.assignment[p]).sum() == 1
    a, b = result.assignment[3], result.assignment[40]
    assert result.cluster_distances[a, b] == 0.0
    assert_exact_partition(result, X, y)


def test_runs_are_bit_for_bit_deterministic() -> None:
    X, y = spirals(50, np.random.default_rng(6))
    first, second = directprobe(X, y), directprobe(X, y)
    assert (first.assignment == second.assignment).all()
    assert first.cluster_distances.tobytes() == second.cluster_distances.tobytes()


def test_predict_uses_nearest_hull() -> None:
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 5])
    y = np.repeat([0, 1], 30)
    result = directprobe(X, y)
    assert result.accuracy(X, y) == 1.0
    tests = np.array([[0.0] * 4, [5.0] * 4, [2.4] * 4])
    dist = result.hull_distances(tests)
    assert dist[0, 0] == pytest.approx(0.0, abs=1e-9) and dist[1, 1] == pytest.approx(0.0, abs=1e-9)
    assert result.predict(tests)[:2].tolist() == [0, 1]


def test_spatial_similarity_of_rotated_scaled_copy_is_one() -> None:
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(size=(15, 5)) + 6 * rng.normal(size=5) for _ in range(4)])
    y = np.repeat(np.arange(4), 15)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = directprobe(X, y), directprobe(3.0 * X @ q + 1.0, y)
    assert a.is_linear and b.is_linear
    assert spatial_similarity(a, b) == pytest.approx(1.0)
    assert spatial_similarity(a.label_distances, b.label_distances) == pytest.approx(1.0)


def test_spatial_similarity_undefined_for_nonlinear() -> None:
    X, y = spirals(30, np.random.default_rng(9))
    result = directprobe(X, y)
    assert spatial_similarity(result, result) is None
    assert spatial_similarity(np.full((3, 3), np.nan), np.full((3, 3), np.nan)) is None


def test_label_matrix_size_and_absent_labels() -> None:
    rng = np.random.default_rng(10)
    X = np.vstack([rng.normal(size=(10, 3)), rng.normal(size=(10, 3)) + 7])
    y = np.repeat([0, 2], 10)
    result = directprobe(X, y, n_labels=4)
    assert result.label_distances.shape == (4, 4)
    assert np.isnan(result.label_distances[1]).all() and np.isnan(result.label_distances[3]).all()
    assert np.isfinite(result.label_distances[0, 2]) and np.isnan(result.min_label_distance[1])
    with pytest.raises(ValueError):
        directprobe(X, y, n_labels=2)


def test_save_and_load_round_trip(store) -> None:
    X, y = spirals(20, np.random.default_rng(11))
    result = directprobe(X, y)
    with store.create("directprobe", {"test": 1}) as writer:
        result.save(writer)
    entry = store.find("directprobe", test=1)[0]
    back = DirectProbeResult.load(entry, points=X)
    assert (back.assignment == result.assignment).all()
    assert np.array_equal(back.cluster_distances, result.cluster_distances, equal_nan=True)
    assert back.stats == result.stats and back.conflicts == result.conflicts
    assert entry.summary["n_clusters"] == result.n_clusters
    assert (back.predict(X[:5]) == result.predict(X[:5])).all()


def test_progress_reports_to_callback_and_bar() -> None:
    X, y = spirals(20, np.random.default_rng(12))
    seen: list[dict] = []
    directprobe(X, y, progress=seen.append)
    assert seen and seen[-1]["done"] > 0 and "lp_calls" in seen[-1]
    first = seen[0]  # the label-pair tests before the merge loop report too
    assert first["proposals"] == 0 and first["label_pair_tests"] >= 1 and first["done"] == 0

    class Bar:
        total = None
        n = 0
        postfix: dict = {}

        def update(self, k: int) -> None:
            self.n += k

        def set_postfix(self, **kw) -> None:
            self.postfix = kw

    bar = Bar()
    result = directprobe(X, y, progress=bar)
    assert bar.n == result.stats["merges"] + result.stats["settled"] and "lp" in bar.postfix
    assert bar.postfix["pairs"] == result.stats["label_pair_tests"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        directprobe(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError):
        directprobe(np.array([[0.0, np.nan]]), np.array([0]))


@pytest.mark.slow
def test_engine_matches_plain_on_larger_inputs() -> None:
    rng = np.random.default_rng(13)
    X = rng.normal(size=(120, 5))
    y = rng.integers(0, 4, 120)
    plain = plain_directprobe(X, y)
    result = directprobe(X, y)
    assert (result.assignment == plain.assignment).all()
    assert result.stats["lp_calls"] < plain.lp_calls


@pytest.mark.slow
def test_cli_stores_a_result(tmp_path, shared_data) -> None:
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "analysis", "directprobe", "--task", "ps-role", "--split", "dev", "--layer", "6",
           "--json", "--store", str(tmp_path / "store"), "--data-dir", str(shared_data), "--device", "cpu"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["n_points"] > 400 and out["n_clusters"] >= out["n_labels"] and not out["hit"]
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert again["hit"] and again["key"] == out["key"] and again["n_clusters"] == out["n_clusters"]


def test_planes_follow_clusters_as_they_grow() -> None:
    """A remembered plane is read from either side, widened as a cluster absorbs points below it,
    dropped when absorbed points cross it, replaced by a newer plane, and gone with its cluster."""
    planes = Planes(d=2, n_ids=4, tol=1e-9)
    planes.add(0, 1, np.array([1.0, 0.0]), top=0.0, bottom=1.0)  # 0 has x <= 0, 1 has x >= 1
    found = planes.find(1, np.array([0, 2]))
    assert found[0] >= 0 and found[1] == -1
    W, top, bottom = planes.facing(1, found[:1])
    assert W[0].tolist() == [-1.0, 0.0] and top[0] == -1.0 and bottom[0] == 0.0
    planes.absorb(0, np.array([[0.5, 3.0]]))
    W, top, bottom = planes.facing(0, planes.find(0, np.array([1])))
    assert top[0] == 0.5 and bottom[0] == 1.0
    planes.absorb(1, np.array([[0.2, -1.0]]))
    assert planes.find(0, np.array([1]))[0] == -1
    planes.add(2, 1, np.array([0.0, 1.0]), top=0.0, bottom=2.0)
    planes.add(2, 1, np.array([0.0, 1.0]), top=0.5, bottom=2.0)
    assert (planes.alive.view[planes.books[2].view]).sum() == 1
    planes.drop(1)
    assert planes.find(2, np.array([1]))[0] == -1


def test_planes_forget_dead_ones_and_keep_the_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("analysis.directprobe.planes.COMPACT_MIN", 8)
    planes = Planes(d=3, n_ids=50, tol=1e-9)
    rng = np.random.default_rng(0)
    expected = {}
    for k in range(40):
        u, v = sorted(rng.choice(4, 2, replace=False).tolist())
        w = rng.normal(size=3)
        planes.add(u, v, w, top=-1.0 - k, bottom=1.0 + k)
        expected[(u, v)] = (w, -1.0 - k)
    assert planes.alive.n < 40  # replaced planes were forgotten
    for (u, v), (w, top) in expected.items():
        W, tops, _ = planes.facing(u, planes.find(u, np.array([v])))
        assert np.array_equal(W[0], w) and tops[0] == top


def snapshot_pair(seed: int, drift: float, labels: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blobs of ``labels`` labels (two of them interleaved, one sharing a point with another: a
    conflict) and the same points moved by up to ``drift``: two snapshots of one layer."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels, 4)) * 4
    y = rng.integers(0, labels, 80)
    y[:6] = [0, 1, 0, 1, 0, 1]
    X = centres[y] + rng.normal(size=(80, 4))
    X[:6] = rng.normal(size=(6, 4)) * 0.5 + centres[0]  # labels 0 and 1 interleave
    X[-1] = X[-2]
    y[-1] = (y[-2] + 1) % labels
    return X, X + drift * rng.uniform(-1, 1, size=X.shape), y


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), drift=st.floats(0, 3))
def test_label_planes_from_an_earlier_snapshot_leave_the_result_unchanged(seed: int, drift: float) -> None:
    before, after, y = snapshot_pair(seed, drift)
    planes = directprobe(before, y).label_planes
    cold, warm = directprobe(after, y), directprobe(after, y, label_planes=planes)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(cold, name), getattr(warm, name), err_msg=name)
    assert cold.conflicts == warm.conflicts
    assert warm.stats["label_pairs_reused"] + warm.stats["label_pair_tests"] >= cold.stats["label_pair_tests"] > 0


def test_label_planes_that_still_hold_replace_the_search_and_survive_the_store(tmp_path) -> None:
    from analysis.store import Store

    before, after, y = snapshot_pair(0, 0.05)
    first = directprobe(before, y)
    assert first.label_planes
    store = Store(tmp_path)
    with store.create("directprobe", {"test": 1}) as writer:
        first.save(writer)
    planes = DirectProbeResult.load_label_planes(store.ls("directprobe")[0])
    assert planes.keys() == first.label_planes.keys()
    warm = directprobe(after, y, label_planes=planes)
    cold = directprobe(after, y)
    assert warm.stats["label_pairs_reused"] > 0
    assert warm.stats["label_pair_tests"] < cold.stats["label_pair_tests"]  # only pairs not apart before are searched
    assert (cold.assignment == warm.assignment).all() and cold.n_clusters == warm.n_clusters
