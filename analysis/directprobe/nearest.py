"""Nearest points of two convex hulls: a primal active-set method (Lawson-Hanson) compiled with numba.

It minimises ``|sum_i lam_i a_i - sum_j mu_j b_j|`` over convex weights and can resume from the
support of a similar earlier problem, which is what DirectProbe asks again and again: a cluster
grown by a few points against the same neighbour.  From that support only the few points that
enter or leave cost work (a rank-one update of a Cholesky factor each), where a fresh NNLS rebuilds
the whole support one point at a time.  The "weights sum to one" constraints are met exactly
(a 2 x 2 Schur complement), not through penalty rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

VIOLATION = 1e-11
"""A point joins the support when it lies beyond the current nearest point by more than this many
RMS radii of the data along the current direction: far below the engine's float32 tolerance (1e-7
of the radius), so the distance comes out exact to about this much."""

DEPENDENT = 1e-12
"""A point whose Gram column adds less than this fraction of its own norm to the factor is linearly
dependent on the support and is left out (it cannot lower the distance)."""


@njit(cache=True)
def _append(L: np.ndarray, k: int, g: np.ndarray, gjj: float) -> bool:
    """Extend the Cholesky factor L (k x k) by one row for a column with cross products g and
    diagonal gjj; False (and L unchanged) when the column is linearly dependent."""
    for r in range(k):
        s = g[r]
        for c in range(r):
            s -= L[r, c] * L[k, c]
        L[k, r] = s / L[r, r]
    dd = gjj
    for c in range(k):
        dd -= L[k, c] * L[k, c]
    if dd <= DEPENDENT * gjj:
        L[k, :k] = 0.0
        return False
    L[k, k] = np.sqrt(dd)
    return True


@njit(cache=True)
def _remove(L: np.ndarray, k: int, p: int) -> None:
    """Drop row and column p from the factored matrix: shift the rows up, then Givens rotations on
    column pairs restore the lower triangle."""
    for r in range(p, k - 1):
        L[r, :k] = L[r + 1, :k]
    L[k - 1, :k] = 0.0
    for i in range(p, k - 1):
        a = L[i, i]
        b = L[i, i + 1]
        rho = np.hypot(a, b)
        cs = a / rho
        sn = b / rho
        for r in range(i, k - 1):
            x = L[r, i]
            y = L[r, i + 1]
            L[r, i] = cs * x + sn * y
            L[r, i + 1] = -sn * x + cs * y
        L[i, i + 1] = 0.0


@njit(cache=True)
def _forward(L: np.ndarray, Y: np.ndarray, on_a: np.ndarray, first: int, k: int) -> None:
    """Rows first..k-1 of Y = L^-1 E^T, E the two "weights sum to one" rows."""
    for r in range(first, k):
        ea = 1.0 if on_a[r] else 0.0
        eb = 1.0 - ea
        for c in range(r):
            ea -= L[r, c] * Y[c, 0]
            eb -= L[r, c] * Y[c, 1]
        Y[r, 0] = ea / L[r, r]
        Y[r, 1] = eb / L[r, r]


@njit(cache=True)
def _equality_solve(L: np.ndarray, Y: np.ndarray, k: int, x: np.ndarray) -> None:
    """Minimiser on the support of the quadratic with "weights sum to one" on each side, into x."""
    s00 = s01 = s11 = 0.0
    for r in range(k):
        s00 += Y[r, 0] * Y[r, 0]
        s01 += Y[r, 0] * Y[r, 1]
        s11 += Y[r, 1] * Y[r, 1]
    det = s00 * s11 - s01 * s01
    ta = (s11 - s01) / det
    tb = (s00 - s01) / det
    for r in range(k):
        x[r] = Y[r, 0] * ta + Y[r, 1] * tb
    for r in range(k - 1, -1, -1):
        x[r] /= L[r, r]
        xr = x[r]
        for c in range(r):
            x[c] -= L[r, c] * xr


@njit(cache=True)
def _active_set(Z: np.ndarray, side: np.ndarray, start: np.ndarray, L0: np.ndarray, touching: float,
                max_iter: int) -> tuple[np.ndarray, int]:
    """Convex weights per side over the rows of Z (A's points, then B's negated) minimising the norm
    of their weighted sum.  Starts from the support ``start`` (both sides present), whose Cholesky
    factor in the lifted space is ``L0`` when that is given (non-empty), and stops early when the
    norm falls to ``touching``.  Returns the weights and the iterations used."""
    m, d = Z.shape
    cap = min(m, d + 2)
    L = np.zeros((cap + 1, cap + 1))
    ZP = np.empty((cap + 1, d))
    P = np.empty(cap + 1, dtype=np.int64)
    on_a = np.empty(cap + 1, dtype=np.bool_)
    in_p = np.zeros(m, dtype=np.bool_)
    barred = np.zeros(m, dtype=np.bool_)
    u = np.zeros(m)
    g = np.empty(cap + 1)
    Y = np.empty((cap + 1, 2))
    x = np.empty(cap + 1)
    k = 0
    if len(L0):
        k = len(start)
        L[:k, :k] = L0
        for t in range(k):
            j = start[t]
            P[t] = j
            on_a[t] = side[j] == 0
            in_p[j] = True
            ZP[t] = Z[j]
    else:
        for j in start:
            if k == cap or in_p[j]:
                continue
            g[:k] = ZP[:k] @ Z[j]
            for t in range(k):
                if on_a[t] == (side[j] == 0):
                    g[t] += 1.0
            if _append(L, k, g, np.dot(Z[j], Z[j]) + 1.0):
                P[k] = j
                on_a[k] = side[j] == 0
                in_p[j] = True
                ZP[k] = Z[j]
                k += 1
    _forward(L, Y, on_a, 0, k)
    n_a = 0
    for t in range(k):
        n_a += on_a[t]
    for t in range(k):
        u[P[t]] = 1.0 / n_a if on_a[t] else 1.0 / (k - n_a)
    added = -1
    it = 0
    while it < max_iter:
        it += 1
        _equality_solve(L, Y, k, x)
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
            # Step towards the solution until a weight reaches zero, and drop that point.
            if P[block] == added:
                barred[added] = True
            for t in range(k):
                u[P[t]] += alpha * (x[t] - u[P[t]])
            first = k
            for t in range(k - 1, -1, -1):
                if t == block or u[P[t]] <= 0.0:
                    u[P[t]] = 0.0
                    in_p[P[t]] = False
                    _remove(L, k, t)
                    for r in range(t, k - 1):
                        P[r] = P[r + 1]
                        on_a[r] = on_a[r + 1]
                        ZP[r] = ZP[r + 1]
                    k -= 1
                    first = t
            _forward(L, Y, on_a, first, k)
            added = -1
            continue
        for t in range(k):
            u[P[t]] = x[t]
        v = x[:k] @ ZP[:k]
        norm = np.sqrt(np.dot(v, v))
        if norm <= touching:
            break
        h = Z @ v
        level_a = level_b = 0.0
        for t in range(k):
            if on_a[t]:
                level_a += x[t] * h[P[t]]
            else:
                level_b += x[t] * h[P[t]]
        worst = VIOLATION * norm
        added = -1
        for j in range(m):
            if in_p[j] or barred[j]:
                continue
            gap = (level_a if side[j] == 0 else level_b) - h[j]
            if gap > worst:
                worst = gap
                added = j
        if added < 0 or k == cap:
            break
        g[:k] = ZP[:k] @ Z[added]
        for t in range(k):
            if on_a[t] == (side[added] == 0):
                g[t] += 1.0
        if not _append(L, k, g, np.dot(Z[added], Z[added]) + 1.0):
            barred[added] = True
            added = -1
            continue
        P[k] = added
        on_a[k] = side[added] == 0
        in_p[added] = True
        ZP[k] = Z[added]
        k += 1
        _forward(L, Y, on_a, k - 1, k)
    return u, it


def _factor(Z: np.ndarray, side: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cholesky factor of the lifted Gram matrix of ``rows`` (LAPACK, much faster than growing it a
    row at a time); empty when they are linearly dependent, for the solver to grow it instead."""
    if len(rows) > Z.shape[1] + 2:
        return np.zeros((0, 0))
    ZP = Z[rows]
    G = ZP @ ZP.T + (side[rows][:, None] == side[rows][None, :])
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return np.zeros((0, 0))
    return L if (np.diag(L) ** 2 > DEPENDENT * np.diag(G)).all() else np.zeros((0, 0))


def nearest_weights(A: np.ndarray, B: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None,
                    touching: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Convex weights over A and over B of the nearest points of conv(A) and conv(B).

    ``start`` (indices into A and B) is a support to resume from, by default the two points
    extreme along the line between the centres.  The solve stops early once the nearest points are
    within ``touching`` of each other.
    """
    na = len(A)
    Z = np.vstack([A, B])
    Z -= Z.mean(0)
    scale = float(np.sqrt((Z * Z).sum(1).mean()))
    if scale == 0:
        return np.full(na, 1.0 / na), np.full(len(B), 1.0 / len(B))
    Z /= scale
    Z[na:] *= -1
    side = np.r_[np.zeros(na, np.int8), np.ones(len(B), np.int8)]
    if start is None or not (len(start[0]) and len(start[1])):
        w = Z[:na].mean(0) + Z[na:].mean(0)
        h = Z @ w
        first = np.array([int(np.argmin(h[:na])), na + int(np.argmin(h[na:]))])
    else:
        a, b = np.asarray(start[0], np.int64), na + np.asarray(start[1], np.int64)
        # One point of each side first: when the start does not fit the space, both sides still do.
        first = np.r_[a[:1], b[:1], a[1:], b[1:]]
    u, _ = _active_set(Z, side, first, _factor(Z, side, first), touching / scale, 20 * len(Z) + 100)
    lam, mu = u[:na], u[na:]
    return lam / lam.sum(), mu / mu.sum()
