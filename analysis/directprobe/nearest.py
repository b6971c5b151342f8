"""Nearest points of two convex hulls: a primal active-set method (Lawson-Hanson) compiled with numba.

It minimises ``|sum_i lam_i a_i - sum_j mu_j b_j|`` over convex weights and can resume from the
support of a similar earlier problem, which is what DirectProbe asks again and again: a cluster
grown by a few points against the same neighbour.  From that support only the few points that
enter or leave cost work (a rank-one update of a Cholesky factor each), where a fresh NNLS rebuilds
the whole support one point at a time.  The "weights sum to one" constraints are met exactly
(a 2 x 2 Schur complement), not through penalty rows.  Large sets are solved on working sets
that grow by the points lying beyond their optimum, all inside the compiled loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

VIOLATION = 1e-11
"""A point joins the support when it lies beyond the current nearest point by more than this many
RMS radii of the data along the current direction: far below the engine's float32 tolerance (1e-7
of the radius), so the distance comes out exact to about this much."""

STALL_ROUNDS = 3
"""Rounds in a row in which :func:`nearest_to_points` may fail to lower a point's distance before it
stops on that point: near the float resolution of the data, points that lie beyond the optimum by
rounding alone cannot enter the factor (they are dependent on the support) and would be priced again
and again."""

CANCELLATION = 1e-12
"""Below this fraction of a Gram column's diagonal, the residual the factor computes for the column
(diagonal minus a sum of squares of about the same size) is lost to float64 cancellation, so
:func:`_append` measures it again from the points themselves."""

DEPENDENT = 1e-16
"""A point whose lifted vector lies closer than this fraction of its squared norm to the span of the
support's is linearly dependent on them and is left out (it cannot lower the distance).  Points on
a hyperplane up to float32 rounding, as LayerNorm leaves them at layer 0, lie about 1e-14 of it off
the span of a support that fills the hyperplane: they must be let in, or near-touching pairs stay
undecided (the LP fall-back took 94 of 278 s on all of POS at layer 0 before this limit was lowered
from 1e-12, with the residual measured directly)."""


@njit(cache=True, fastmath={"reassoc", "contract"})
def _append(R: np.ndarray, k: int, g: np.ndarray, gjj: float, on_a: bool, ya: np.ndarray, yb: np.ndarray,
            ZP: np.ndarray, side: np.ndarray, z: np.ndarray) -> bool:
    """Extend the Cholesky factor R (upper, k x k, Gram = R^T R) by a column with cross products g
    (overwritten) and diagonal gjj, and ya, yb (R^-T times the indicators of the two sides) by their
    new entries; False, with R unchanged, when the column is linearly dependent on the others.

    The new point is z (lifted by a unit coordinate for its side, ``on_a``); ZP and side hold the k
    active points and their sides, from which a small residual is measured directly.
    """
    for t in range(k):
        rt = g[t] / R[t, t]
        g[t] = rt
        for c in range(t + 1, k):
            g[c] -= rt * R[t, c]
    dd = gjj - np.dot(g[:k], g[:k])
    if dd <= CANCELLATION * gjj:
        # The residual of z after its least-squares fit by the active points: coefficients R^-1 g.
        coef = np.empty(k)
        for r in range(k - 1, -1, -1):
            acc = g[r]
            for c in range(r + 1, k):
                acc -= R[r, c] * coef[c]
            coef[r] = acc / R[r, r]
        resid = z - coef @ ZP[:k]
        own = 1.0
        other = 0.0
        for t in range(k):
            if side[t] == on_a:
                own -= coef[t]
            else:
                other -= coef[t]
        dd = np.dot(resid, resid) + own * own + other * other
    if dd <= DEPENDENT * gjj:
        return False
    diag = np.sqrt(dd)
    R[:k, k] = g[:k]
    R[k, k] = diag
    ya[k] = ((1.0 if on_a else 0.0) - np.dot(g[:k], ya[:k])) / diag
    yb[k] = ((0.0 if on_a else 1.0) - np.dot(g[:k], yb[:k])) / diag
    return True


@njit(cache=True, fastmath={"reassoc", "contract"})
def _remove(R: np.ndarray, k: int, p: int, ya: np.ndarray, yb: np.ndarray) -> None:
    """Drop column p of the factor: shift the later columns left, then Givens rotations on row
    pairs (applied to ya and yb too) restore the upper triangle."""
    for r in range(k):
        for c in range(p, k - 1):
            R[r, c] = R[r, c + 1]
        R[r, k - 1] = 0.0
    for i in range(p, k - 1):
        a = R[i, i]
        b = R[i + 1, i]
        rho = np.hypot(a, b)
        cs = a / rho
        sn = b / rho
        for c in range(i, k - 1):
            x = R[i, c]
            y = R[i + 1, c]
            R[i, c] = cs * x + sn * y
            R[i + 1, c] = -sn * x + cs * y
        R[i + 1, i] = 0.0
        for vec in (ya, yb):
            x = vec[i]
            vec[i] = cs * x + sn * vec[i + 1]
            vec[i + 1] = -sn * x + cs * vec[i + 1]
    R[k - 1, :k] = 0.0


@njit(cache=True, fastmath={"reassoc", "contract"})
def _indicators(R: np.ndarray, k: int, on_a: np.ndarray, ya: np.ndarray, yb: np.ndarray) -> None:
    """ya, yb = R^-T times the indicator vectors of the two sides (forward substitution)."""
    for t in range(k):
        ya[t] = 1.0 if on_a[t] else 0.0
        yb[t] = 1.0 - ya[t]
    for t in range(k):
        ya[t] /= R[t, t]
        yb[t] /= R[t, t]
        at, bt = ya[t], yb[t]
        for c in range(t + 1, k):
            ya[c] -= at * R[t, c]
            yb[c] -= bt * R[t, c]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _equality_solve(R: np.ndarray, k: int, ya: np.ndarray, yb: np.ndarray, x: np.ndarray) -> None:
    """Minimiser on the support of the quadratic with "weights sum to one" on each side, into x."""
    s00 = np.dot(ya[:k], ya[:k])
    s01 = np.dot(ya[:k], yb[:k])
    s11 = np.dot(yb[:k], yb[:k])
    det = s00 * s11 - s01 * s01
    ta = (s11 - s01) / det
    tb = (s00 - s01) / det
    for r in range(k):
        x[r] = ya[r] * ta + yb[r] * tb
    for r in range(k - 1, -1, -1):
        acc = x[r]
        for c in range(r + 1, k):
            acc -= R[r, c] * x[c]
        x[r] = acc / R[r, r]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _enter(R: np.ndarray, k: int, ZP: np.ndarray, P: np.ndarray, on_a: np.ndarray, in_p: np.ndarray, j: int,
           z: np.ndarray, is_a: bool, g: np.ndarray, ya: np.ndarray, yb: np.ndarray) -> bool:
    """Make point j (row z) the (k+1)-th active point: its lifted Gram column against the others
    goes into the factor; False, with nothing changed, if it is linearly dependent on them."""
    g[:k] = ZP[:k] @ z
    for r in range(k):
        if on_a[r] == is_a:
            g[r] += 1.0
    if not _append(R, k, g, np.dot(z, z) + 1.0, is_a, ya, yb, ZP, on_a, z):
        return False
    P[k] = j
    on_a[k] = is_a
    ZP[k] = z
    in_p[j] = True
    return True


@njit(cache=True, fastmath={"reassoc", "contract"})
def _row(A: np.ndarray, B: np.ndarray, centre: np.ndarray, scale: float, j: int, out: np.ndarray) -> None:
    """Point j (A's first, then B's) centred, scaled, and negated on B's side."""
    na = A.shape[0]
    if j < na:
        out[:] = (A[j] - centre) / scale
    else:
        out[:] = (centre - B[j - na]) / scale


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _rounds(A: np.ndarray, B: np.ndarray, centre: np.ndarray, scale: float, pool0: np.ndarray, start: np.ndarray,
            L0: np.ndarray, touching: float, separated: float, gap_tol: float, batch: int, max_rounds: int,
            max_iter: int) -> tuple[np.ndarray, float, float, np.ndarray, int, int]:
    """Nearest points of conv(A) and conv(B) on a pool of points that grows by the worst violators.

    Points are numbered A's first, then B's.  The active set starts as ``start`` (both sides
    present; ``L0`` its Cholesky factor in the lifted space, or empty), the pool as ``pool0``.
    Each round solves on the pool, then prices every point against the pool's optimum (one
    product with A and one with B): the round's slab is a certified lower bound, and up to
    ``batch`` points per side that lie beyond it join the pool, which otherwise keeps only the
    active set.  Stops when no point lies beyond, the bounds meet within ``gap_tol``, the
    distance falls to ``touching``, or the slab is wider than ``separated``.  Returns the weights,
    the upper and lower bounds, the unit normal of the widest slab (zero if none), the rounds and
    the active-set iterations.
    """
    na, d = A.shape
    m = na + B.shape[0]
    cap = min(m, d + 2)
    R = np.zeros((cap + 1, cap + 1))
    ZP = np.empty((cap + 1, d))
    P = np.empty(cap + 1, dtype=np.int64)
    on_a = np.empty(cap + 1, dtype=np.bool_)
    qcap = len(pool0) + len(start) + cap + 2 * batch + 2
    ZQ = np.empty((qcap, d))
    Q = np.empty(qcap, dtype=np.int64)
    in_p = np.zeros(m, dtype=np.bool_)
    in_q = np.zeros(m, dtype=np.bool_)
    q_at = np.empty(m, dtype=np.int64)
    barred = np.zeros(m, dtype=np.bool_)
    u = np.zeros(m)
    g = np.empty(cap + 1)
    ya = np.empty(cap + 1)
    yb = np.empty(cap + 1)
    x = np.empty(cap + 1)
    z = np.empty(d)
    nq = 0
    for j in pool0:
        if not in_q[j]:
            _row(A, B, centre, scale, j, ZQ[nq])
            Q[nq] = j
            q_at[j] = nq
            in_q[j] = True
            nq += 1
    k = 0
    if len(L0):
        R[:len(start), :len(start)] = L0.T
    for j in start:
        if in_p[j] or k == cap:
            continue
        _row(A, B, centre, scale, j, z)
        if len(L0):
            P[k] = j
            on_a[k] = j < na
            ZP[k] = z
            in_p[j] = True
        elif not _enter(R, k, ZP, P, on_a, in_p, j, z, j < na, g, ya, yb):
            continue
        k += 1
        if not in_q[j]:
            ZQ[nq] = z
            Q[nq] = j
            q_at[j] = nq
            in_q[j] = True
            nq += 1
    if len(L0):
        _indicators(R, k, on_a, ya, yb)
    n_a = 0
    for t in range(k):
        n_a += on_a[t]
    for t in range(k):
        u[P[t]] = 1.0 / n_a if on_a[t] else 1.0 / (k - n_a)
    upper = np.inf
    lower = 0.0
    w_best = np.zeros(d)
    rounds = 0
    it = 0
    added = -1
    while True:
        # Solve on the pool (Lawson-Hanson: enter the worst violator, step back to feasibility).
        norm = 0.0
        v = np.zeros(d)
        while it < max_iter:
            it += 1
            _equality_solve(R, k, ya, yb, x)
            block = -1
            alpha = 1.0
            for t in range(k):
                if x[t] <= 0.0:
                    ut = u[P[t]]
                    step = ut / (ut - x[t]) if ut > 0.0 else 0.0
                    if block < 0 or step < alpha:
                        alpha = step
                        block = t
            if block >= 0:
                if P[block] == added:
                    barred[added] = True
                for t in range(k):
                    u[P[t]] += alpha * (x[t] - u[P[t]])
                for t in range(k - 1, -1, -1):
                    if t == block or u[P[t]] <= 0.0:
                        u[P[t]] = 0.0
                        in_p[P[t]] = False
                        _remove(R, k, t, ya, yb)
                        for r in range(t, k - 1):
                            P[r] = P[r + 1]
                            on_a[r] = on_a[r + 1]
                            ZP[r] = ZP[r + 1]
                        k -= 1
                added = -1
                continue
            for t in range(k):
                u[P[t]] = x[t]
            v = x[:k] @ ZP[:k]
            norm = np.sqrt(np.dot(v, v))
            added = -1
            if norm <= touching or k == cap:
                break
            h = ZQ[:nq] @ v
            level_a = level_b = 0.0
            for t in range(k):
                if on_a[t]:
                    level_a += x[t] * h[q_at[P[t]]]
                else:
                    level_b += x[t] * h[q_at[P[t]]]
            worst = VIOLATION * norm
            for t in range(nq):
                j = Q[t]
                if in_p[j] or barred[j]:
                    continue
                gap = (level_a if j < na else level_b) - h[t]
                if gap > worst:
                    worst = gap
                    added = j
            if added < 0:
                break
            _row(A, B, centre, scale, added, z)
            if not _enter(R, k, ZP, P, on_a, in_p, added, z, added < na, g, ya, yb):
                barred[added] = True
                added = -1
                continue
            k += 1
        # Price every point against the pool's optimum.
        rounds += 1
        upper = min(upper, norm * scale)
        if norm <= touching or norm == 0.0:
            break
        w = v / norm
        ha = A @ w
        hb = B @ w
        slab = ha.min() - hb.max()
        if slab > lower:
            lower = slab
            w_best[:] = w
        if lower > separated or upper - lower <= gap_tol * upper or rounds >= max_rounds or it >= max_iter:
            break
        # In units of w: the active set's points of A lie at level_a, B's at level_b, up to rounding.
        level_a = level_b = 0.0
        for t in range(k):
            if on_a[t]:
                level_a += u[P[t]] * ha[P[t]]
            else:
                level_b += u[P[t]] * hb[P[t] - na]
        limit = VIOLATION * scale
        nq = 0
        for t in range(k):
            ZQ[nq] = ZP[t]
            Q[nq] = P[t]
            q_at[P[t]] = nq
            nq += 1
        in_q[:] = False
        for t in range(k):
            in_q[P[t]] = True
        gaps_a = level_a - ha
        gaps_b = hb - level_b
        fresh = 0
        for side in range(2):
            gaps = gaps_a if side == 0 else gaps_b
            offset = 0 if side == 0 else na
            order = np.argsort(-gaps)
            taken = 0
            for r in order:
                if taken == batch or gaps[r] <= limit:
                    break
                j = r + offset
                if in_p[j] or barred[j]:
                    continue
                _row(A, B, centre, scale, j, ZQ[nq])
                Q[nq] = j
                q_at[j] = nq
                in_q[j] = True
                nq += 1
                taken += 1
            fresh += taken
        if fresh == 0:
            break
    return u, upper, lower, w_best, rounds, it


@dataclass(frozen=True)
class Nearest:
    """What :func:`nearest` found: bounds on the hull distance, certified on every point."""

    lam: np.ndarray
    mu: np.ndarray
    """Convex weights over A and B; ``lam @ A - mu @ B`` realises ``upper``."""
    upper: float
    lower: float
    """Width of the widest slab found, checked on every point (0 if none)."""
    w: np.ndarray | None
    """That slab's unit normal, A on the high side; None if no slab of positive width was found."""
    rounds: int
    """Times every point was priced against the working sets' optimum."""
    iterations: int
    """Active-set steps: a point entering, or a step back to feasibility that drops points."""

    @property
    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices into A and B of the points with weight: a warm start for a similar problem."""
        return np.flatnonzero(self.lam > 0), np.flatnonzero(self.mu > 0)


def nearest(A: np.ndarray, B: np.ndarray, *, direction: np.ndarray | None = None,
            start: tuple[np.ndarray, np.ndarray] | None = None, touching: float = 0.0,
            separated: float = np.inf, gap_tol: float = 0.0, batch: int = 64, max_rounds: int = 80) -> Nearest:
    """Nearest points of conv(A) and conv(B), solved on working sets of the points that lie beyond.

    The first working sets are ``start`` (indices into A and B, say the support of a similar
    earlier problem, whose optimum it nearly is) and up to ``batch`` points per side beyond it
    along ``direction`` (default: between the centres).  Stops early once the distance is at most
    ``touching``, a slab wider than ``separated`` is found, or the bounds meet within ``gap_tol``
    (relative); otherwise when no point lies beyond the working sets' optimum, which is then exact.
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    na = len(A)
    if start is not None and not (len(start[0]) and len(start[1])):
        start = None
    if direction is None:
        direction = A.mean(0) - B.mean(0)
    ha, hb = A @ direction, B @ direction
    if start is None:
        sa = sb = np.zeros(0, np.int64)
        edge_a, edge_b = np.inf, -np.inf
    else:
        sa, sb = np.asarray(start[0], np.int64), np.asarray(start[1], np.int64)
        edge_a, edge_b = ha[sa].min(), hb[sb].max()
    beyond_a = np.argsort(ha, kind="stable")[: batch + len(sa)]
    beyond_b = np.argsort(-hb, kind="stable")[: batch + len(sb)]
    beyond_a = beyond_a[ha[beyond_a] < edge_a][:batch]
    beyond_b = beyond_b[hb[beyond_b] > edge_b][:batch]
    if start is None:
        sa, sb = beyond_a[:1], beyond_b[:1]
    # One point of each side first: when the start does not fit the space, both sides still do.
    first = np.r_[sa[:1], na + sb[:1], sa[1:], na + sb[1:]]
    pool = np.r_[beyond_a, na + beyond_b]
    rows = np.vstack([A[first[first < na]], B[first[first >= na] - na], A[beyond_a], B[beyond_b]])
    centre = rows.mean(0)
    scale = float(np.sqrt(((rows - centre) ** 2).sum(1).mean()))
    if scale == 0:
        lam, mu = np.zeros(na), np.zeros(len(B))
        lam[first[0]] = mu[first[1] - na] = 1.0
        return Nearest(lam, mu, 0.0, 0.0, None, 0, 0)
    factor = _factor(A, B, centre, scale, first)
    u, upper, lower, w, rounds, iterations = _rounds(A, B, centre, scale, pool, first, factor, touching / scale,
                                                     separated, gap_tol, batch, max_rounds, 40 * (na + len(B)) + 1000)
    lam, mu = u[:na], u[na:]
    return Nearest(lam / lam.sum(), mu / mu.sum(), upper, lower, w if lower > 0 else None, rounds, iterations)


def _factor(A: np.ndarray, B: np.ndarray, centre: np.ndarray, scale: float, first: np.ndarray) -> np.ndarray:
    """Cholesky factor of the lifted Gram matrix of the start (LAPACK, much faster than growing it
    a row at a time); empty when a diagonal falls under the cancellation limit, for the solver to
    grow it a point at a time, measuring small residuals directly (:func:`_append`)."""
    na = len(A)
    if len(first) > A.shape[1] + 2:
        return np.zeros((0, 0))
    on_a = first < na
    Z = np.where(on_a[:, None], A[np.minimum(first, na - 1)] - centre, centre - B[np.maximum(first - na, 0)]) / scale
    G = Z @ Z.T + (on_a[:, None] == on_a[None, :])
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return np.zeros((0, 0))
    return L if (np.diag(L) ** 2 > CANCELLATION * np.diag(G)).all() else np.zeros((0, 0))


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _pool_solves(A: np.ndarray, Q: np.ndarray, pool: np.ndarray, ptr: np.ndarray, n_start: np.ndarray,
                 touching: float, weights: np.ndarray, dist: np.ndarray, V: np.ndarray, scales: np.ndarray) -> None:
    """For each query t, the nearest point of conv(A[pool_t]) to Q[t], exact on that pool, starting
    from its first ``n_start[t]`` points: convex weights over the pool (into ``weights``), the
    distance, the unit direction from the query to that point, and the scale of the subproblem."""
    d = A.shape[1]
    empty = np.zeros((0, 0))
    for t in range(len(Q)):
        lo, hi = ptr[t], ptr[t + 1]
        n = hi - lo
        Ap = np.empty((n, d))
        centre = Q[t].copy()
        for r in range(n):
            Ap[r] = A[pool[lo + r]]
            centre += Ap[r]
        centre /= n + 1
        diff = Q[t] - centre
        total = np.dot(diff, diff)
        for r in range(n):
            diff = Ap[r] - centre
            total += np.dot(diff, diff)
        scale = np.sqrt(total / (n + 1))
        scales[t] = scale
        if scale == 0.0:
            weights[lo:hi] = 0.0
            weights[lo] = 1.0
            dist[t] = 0.0
            V[t] = 0.0
            continue
        start = np.empty(n_start[t] + 1, dtype=np.int64)
        start[0] = 0
        start[1] = n
        for r in range(1, n_start[t]):
            start[r + 1] = r
        u, _, _, _, _, _ = _rounds(Ap, Q[t:t + 1], centre, scale, np.arange(n + 1), start, empty,
                                       touching / scale, np.inf, 0.0, n + 1, 1, 40 * (n + 1) + 1000)
        lam = u[:n] / u[:n].sum()
        weights[lo:hi] = lam
        v = lam @ Ap - Q[t]
        norm = np.sqrt(np.dot(v, v))
        dist[t] = norm
        V[t] = 0.0
        if norm > 0.0:
            V[t] = v / norm


def nearest_to_points(A: np.ndarray, Q: np.ndarray, *, touching: float = 0.0, gap_tol: float = 0.0,
                      batch: int = 64, max_rounds: int = 80, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Certified bounds (upper, lower) on the distance from each row of Q to conv(A).

    The same working-set method as :func:`nearest`, run for many queries in lockstep: each round
    solves every query exactly on its working set (compiled), then prices all of A against all their
    directions in one matrix product, so A is read once per round for a block of queries instead of
    once per query (the point-to-hull distances of a large cluster are bound by memory otherwise).
    ``upper`` is realised by an explicit hull point; ``lower`` is the widest slab checked on every
    point of A.  Stops per query as :func:`nearest` does, or after ``STALL_ROUNDS`` rounds that do
    not lower its distance.
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    Q = np.ascontiguousarray(np.atleast_2d(Q), dtype=np.float64)
    upper = np.full(len(Q), np.inf)
    lower = np.zeros(len(Q))
    for first in range(0, len(Q), block):
        rows = slice(first, first + block)
        upper[rows], lower[rows] = _block_to_points(A, Q[rows], touching, gap_tol, batch, max_rounds)
    return upper, lower


def _block_to_points(A: np.ndarray, Q: np.ndarray, touching: float, gap_tol: float, batch: int,
                     max_rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_to_points` on one block of queries."""
    m, p = len(A), len(Q)
    upper = np.full(p, np.inf)
    lower = np.zeros(p)
    stalled = np.zeros(p, dtype=np.int64)
    # First working sets: the points of A lowest along the direction from each query to A's centre.
    H = A @ (A.mean(0) - Q).T
    take = min(batch, m)
    pick = np.argpartition(H, take - 1, axis=0)[:take] if take < m else np.broadcast_to(np.arange(m)[:, None], (m, p))
    order = np.argsort(np.take_along_axis(H, pick, 0), axis=0, kind="stable")
    pools = [np.take_along_axis(pick, order, 0)[:, t].copy() for t in range(p)]
    n_start = np.ones(p, dtype=np.int64)
    live = np.arange(p)
    for _ in range(max_rounds):
        sizes = np.array([len(pools[t]) for t in live.tolist()])
        ptr = np.r_[0, np.cumsum(sizes)]
        flat = np.concatenate([pools[t] for t in live.tolist()])
        weights = np.empty(len(flat))
        dist, scales = np.empty(len(live)), np.empty(len(live))
        V = np.empty((len(live), A.shape[1]))
        _pool_solves(A, Q[live], flat, ptr, n_start[live], touching, weights, dist, V, scales)
        stalled[live] = np.where(dist >= upper[live], stalled[live] + 1, 0)
        upper[live] = np.minimum(upper[live], dist)
        H = A @ V.T
        heights = np.einsum("ij,ij->i", Q[live], V)
        lower[live] = np.maximum(lower[live], np.where(dist > 0, H.min(0) - heights, 0.0))
        # Points below the nearest point's level (beyond it, seen from the query) by more than rounding.
        beyond = (heights + dist - VIOLATION * scales)[None, :] - H
        keep = []
        for c, t in enumerate(live.tolist()):
            if (upper[t] <= touching or upper[t] - lower[t] <= gap_tol * upper[t]
                    or stalled[t] == STALL_ROUNDS):
                continue
            support = flat[ptr[c]:ptr[c + 1]][weights[ptr[c]:ptr[c + 1]] > 0]
            gaps = beyond[:, c]
            gaps[support] = 0.0
            new = np.flatnonzero(gaps > 0)
            if not len(new):
                continue
            if len(new) > batch:
                new = new[np.argsort(-gaps[new], kind="stable")[:batch]]
            pools[t] = np.r_[support, new]
            n_start[t] = len(support)
            keep.append(t)
        live = np.array(keep, dtype=np.int64)
        if not len(live):
            break
    return upper, lower
