"""Exact decisions about the convex hulls of two point sets: do they overlap, and how far apart are they.

"Separable" is only ever returned with a hyperplane whose gap was checked on every point in float64
with a safety margin; "overlapping" only with a linear program (HiGHS) that is infeasible on a subset
of the points, since a superset of an overlapping pair overlaps too.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, nnls
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

REL_TOL = 1e-9
"""Gaps narrower than this fraction of the data's radius count as touching (below float64 resolution)."""

PAIR_CAP = 4096
"""Largest |A|·|B| solved directly by the exact pair-difference least-distance program."""


@dataclass(frozen=True)
class Separation:
    """The outcome of :func:`separate`: a verified hyperplane or an LP-proven overlap."""

    separable: bool
    w: np.ndarray | None
    """Unit normal with A on the high side (``min A·w = high > low = max B·w``); None if overlapping."""
    high: float
    low: float
    witness: tuple[np.ndarray, np.ndarray] | None
    """Indices into A and B of subsets whose hulls already overlap (the infeasible LP's rows)."""
    lp_calls: int
    method: str
    """What decided: "quick" (a cheap candidate plane, verified), "lp" or "lp-unresolved"."""


@dataclass(frozen=True)
class HullDistance:
    """Certified bounds on the distance between two hulls: ``lower <= true distance <= upper``."""

    lower: float
    upper: float
    w: np.ndarray | None
    """Unit normal of the best separating slab found (A on the high side); None when they touch."""

    @property
    def value(self) -> float:
        """The distance reported: the upper bound, realised by two explicit points of the hulls."""
        return self.upper


def data_tolerance(*arrays: np.ndarray) -> float:
    """The absolute gap below which two hulls count as touching, for points of these sizes."""
    radius = max((float(np.sqrt((a * a).sum(1).max())) for a in arrays if len(a)), default=0.0)
    return REL_TOL * max(radius, 1e-300)


def check_direction(A: np.ndarray, B: np.ndarray, w: np.ndarray, tol: float) -> tuple[bool, float, float]:
    """Whether unit normal ``w`` puts every point of A above every point of B by more than ``tol``."""
    high = float((A @ w).min())
    low = float((B @ w).max())
    return high - low > tol, high, low


@dataclass
class _FrankWolfe:
    """Pairwise Frank-Wolfe (an MDM-type nearest-point method) on conv(A) - conv(B)."""

    A: np.ndarray
    B: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    p: np.ndarray
    q: np.ndarray
    best_lower: float = 0.0
    best_w: np.ndarray | None = None
    iters: int = 0

    @classmethod
    def start(cls, A: np.ndarray, B: np.ndarray, direction: np.ndarray) -> _FrankWolfe:
        i = int(np.argmin(A @ direction))
        j = int(np.argmax(B @ direction))
        lam = np.zeros(len(A))
        mu = np.zeros(len(B))
        lam[i] = mu[j] = 1.0
        return cls(A, B, lam, mu, A[i].copy(), B[j].copy())

    def run(self, max_iter: int, tol: float) -> bool:
        """Iterate until a slab wider than ``tol`` is found; returns whether one was."""
        A, B, lam, mu = self.A, self.B, self.lam, self.mu
        for _ in range(max_iter):
            self.iters += 1
            x = self.p - self.q
            xx = float(x @ x)
            if xx <= tol * tol:
                return False
            norm = np.sqrt(xx)
            sA = A @ x
            sB = B @ x
            i = int(np.argmin(sA))
            j = int(np.argmax(sB))
            width = float(sA[i] - sB[j])
            if width / norm > self.best_lower:
                self.best_lower = width / norm
                self.best_w = x / norm
            if width > tol * norm:
                return True
            k = int(np.argmax(np.where(lam > 0, sA, -np.inf)))
            step = A[i] - A[k]
            dd = float(step @ step)
            if k != i and dd > 0:
                gamma = min(float(sA[k] - sA[i]) / dd, lam[k])
                lam[k] -= gamma
                lam[i] += gamma
                self.p += gamma * step
            x = self.p - self.q
            l_ = int(np.argmin(np.where(mu > 0, sB, np.inf)))
            step = B[j] - B[l_]
            dd = float(step @ step)
            if l_ != j and dd > 0:
                gamma = min(max(float(x @ step) / dd, 0.0), mu[l_])
                mu[l_] -= gamma
                mu[j] += gamma
                self.q += gamma * step
        return False


def _reduced(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Coordinates of points in an orthonormal basis of their affine hull, centred and scaled to unit RMS."""
    centre = points.mean(0)
    dev = points - centre
    _, s, vt = np.linalg.svd(dev, full_matrices=False)
    rank = int((s > s[0] * 1e-12).sum()) if len(s) and s[0] > 0 else 0
    basis = vt[:rank].T
    coords = dev @ basis
    scale = float(np.sqrt((coords * coords).sum(1).mean())) or 1.0
    return coords / scale, basis, centre, scale


def lp_separable(A: np.ndarray, B: np.ndarray) -> tuple[int, np.ndarray | None]:
    """HiGHS on ``w·a + b >= 1, w·b' + b <= -1``: (status, unit normal in the original space).

    Status 0 feasible, 2 infeasible (the hulls overlap), anything else undecided.
    """
    coords, basis, _, _ = _reduced(np.vstack([A, B]))
    r = coords.shape[1]
    rows = np.hstack([coords, np.ones((len(coords), 1))])
    rows[: len(A)] *= -1
    res = linprog(np.zeros(r + 1), A_ub=rows, b_ub=-np.ones(len(rows)), bounds=(None, None), method="highs")
    if res.status != 0:
        return res.status, None
    w = basis @ res.x[:r]
    norm = np.linalg.norm(w)
    return (0, w / norm) if norm > 0 else (4, None)


def svm_direction(A: np.ndarray, B: np.ndarray, C: float = 100.0, max_iter: int = 2000) -> np.ndarray | None:
    """A unit normal from a linear SVM (liblinear) with A on the high side; only a candidate to verify."""
    X = np.vstack([A, B])
    X = X - X.mean(0)
    scale = float(np.sqrt((X * X).sum(1).mean())) or 1.0
    labels = np.r_[np.ones(len(A)), -np.ones(len(B))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LinearSVC(C=C, loss="hinge", dual=True, tol=1e-4, max_iter=max_iter, random_state=0)
        clf.fit(X / scale, labels)
    w = clf.coef_[0]
    norm = float(np.linalg.norm(w))
    return w / norm if norm > 0 else None


def quick_separator(A: np.ndarray, B: np.ndarray, tol: float, hint: np.ndarray | None = None,
                    fw_iters: int = 30) -> tuple[np.ndarray | None, np.ndarray, set[int], set[int]]:
    """Try the cheap methods (hint, Frank-Wolfe, linear SVM) for a plane that holds on every point.

    Returns the verified unit normal or None, the last candidate normal, and the points of A and B
    that Frank-Wolfe found nearest to each other (a starting working set for an LP).
    """
    if hint is not None and check_direction(A, B, hint, tol)[0]:
        return hint, hint, set(), set()
    fw = _FrankWolfe.start(A, B, A.mean(0) - B.mean(0) if hint is None else hint)
    near = set(np.flatnonzero(fw.lam > 0).tolist()), set(np.flatnonzero(fw.mu > 0).tolist())
    if fw.run(fw_iters, tol) and check_direction(A, B, fw.best_w, tol)[0]:
        return fw.best_w, fw.best_w, *near
    near = set(np.flatnonzero(fw.lam > 0).tolist()), set(np.flatnonzero(fw.mu > 0).tolist())
    w = svm_direction(A, B)
    if w is not None and check_direction(A, B, w, tol)[0]:
        return w, w, *near
    if w is None:
        w = fw.best_w if fw.best_w is not None else fw.p - fw.q
    return None, w, *near


def separate(A: np.ndarray, B: np.ndarray, *, tol: float, hint: np.ndarray | None = None,
             lp_batch: int = 64, max_rounds: int = 50) -> Separation:
    """Decide exactly whether conv(A) and conv(B) are disjoint.

    The cheap methods of :func:`quick_separator` come first; if none yields a plane that holds on
    every point, HiGHS runs on a working set of the points the last candidate plane got most wrong:
    infeasible proves the overlap, otherwise its plane is checked on every point and the working set
    grows by the worst violators.
    """
    verified, w, work_a, work_b = quick_separator(A, B, tol, hint)
    if verified is not None:
        _, high, low = check_direction(A, B, verified, tol)
        return Separation(True, verified, high, low, None, 0, "quick")
    calls = 0
    for _ in range(max_rounds):
        work_a.update(np.argsort(A @ w, kind="stable")[:lp_batch].tolist())
        work_b.update(np.argsort(-(B @ w), kind="stable")[:lp_batch].tolist())
        ia = np.array(sorted(work_a))
        ib = np.array(sorted(work_b))
        status, w_new = lp_separable(A[ia], B[ib])
        calls += 1
        if status == 2:
            return Separation(False, None, np.nan, np.nan, (ia, ib), calls, "lp")
        if status != 0:
            return Separation(False, None, np.nan, np.nan, None, calls, "lp-unresolved")
        ok, high, low = check_direction(A, B, w_new, tol)
        if ok:
            return Separation(True, w_new, high, low, None, calls, "lp")
        w = w_new
        if len(ia) == len(A) and len(ib) == len(B):
            # The LP on all points was feasible yet its plane fails the margin: the hulls touch.
            return Separation(False, None, np.nan, np.nan, None, calls, "lp-unresolved")
    return Separation(False, None, np.nan, np.nan, None, calls, "lp-unresolved")


def _ldp_distance(A: np.ndarray, B: np.ndarray, tol: float) -> HullDistance:
    """Exact hull distance through the least-distance program ``min |w| s.t. (a - b)·w >= 1`` over all
    pairs, solved as a non-negative least-squares problem (Lawson & Hanson, ch. 23)."""
    coords, basis, _, scale = _reduced(np.vstack([A, B]))
    if coords.shape[1] == 0:
        return HullDistance(0.0, 0.0, None)
    ca, cb = coords[: len(A)], coords[len(A):]
    diffs = (ca[:, None, :] - cb[None, :, :]).reshape(-1, coords.shape[1])
    E = np.vstack([diffs.T, np.ones((1, len(diffs)))])
    f = np.zeros(len(E))
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    total = u.sum()
    z = diffs.T @ u / total if total > 0 else np.zeros(coords.shape[1])
    upper = float(np.linalg.norm(z)) * scale
    if upper <= tol:
        return HullDistance(0.0, upper, None)
    w = basis @ (z / np.linalg.norm(z))
    _, high, low = check_direction(A, B, w, 0.0)
    return HullDistance(max(high - low, 0.0), upper, w)


def hull_distance(A: np.ndarray, B: np.ndarray, *, tol: float | None = None, gap_tol: float = 1e-9,
                  batch: int = 16, max_pairs: int = 16384) -> HullDistance:
    """Distance between conv(A) and conv(B), the width of their hard-margin separator.

    Solved exactly on working sets: the least-distance program is solved on all pairs of the
    working points, its normal checked on every point, and the points most in violation added,
    until none is (then the two bounds agree to float64 rounding) or the pair count would pass
    ``max_pairs``.  ``lower`` comes from a slab verified on every point and ``upper`` from two
    explicit hull points, so the truth always lies between them.
    """
    tol = data_tolerance(A, B) if tol is None else tol
    if len(A) * len(B) <= PAIR_CAP:
        return _ldp_distance(A, B, tol)
    w = A.mean(0) - B.mean(0)
    w /= np.linalg.norm(w) or 1.0
    work_a: list[int] = []
    work_b: list[int] = []
    lower, upper, best_w = 0.0, np.inf, None
    while True:
        ha, hb = A @ w, B @ w
        new_a = [i for i in np.argsort(ha, kind="stable")[:batch].tolist() if i not in work_a]
        new_b = [j for j in np.argsort(-hb, kind="stable")[:batch].tolist() if j not in work_b]
        if not new_a and not new_b:
            break
        if (len(work_a) + len(new_a)) * (len(work_b) + len(new_b)) > max_pairs:
            break
        work_a += new_a
        work_b += new_b
        sub = _ldp_distance(A[np.array(work_a)], B[np.array(work_b)], tol)
        upper = min(upper, sub.upper)
        if sub.w is None:
            break
        w = sub.w
        _, high, low = check_direction(A, B, w, 0.0)
        if high - low > lower:
            lower, best_w = high - low, w
        if upper - lower <= gap_tol * upper:
            break
    if upper <= tol:
        return HullDistance(0.0, upper, None)
    return HullDistance(max(lower, 0.0), max(upper, lower), best_w)
