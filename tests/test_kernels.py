"""The compiled clustering loops against plain numpy statements of the same bookkeeping."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.directprobe.kernels import ball_candidates, merge_distances


def numpy_merge(D: np.ndarray, nn: np.ndarray, nd: np.ndarray, a: int, b: int, na: int, nb: int) -> None:
    """Lance-Williams for centroids, then nearest partners: vectorised, one label, slots = local."""
    nc = na + nb
    row = np.maximum((na * D[a] + nb * D[b]) / nc - (na * nb * D[a, b]) / (nc * nc), 0.0)
    row[a] = row[b] = np.inf
    D[a, :] = D[:, a] = row
    D[b, :] = D[:, b] = np.inf
    nd[b] = np.inf
    live = np.isfinite(nd) | np.isfinite(row)
    orphans = np.flatnonzero(((nn == a) | (nn == b)) & live)
    orphans = orphans[orphans != a]
    nn[orphans] = D[orphans].argmin(1)
    nd[orphans] = D[orphans, nn[orphans]]
    closer = (row < nd) | ((row == nd) & (a < nn) & np.isfinite(row))
    closer[orphans] = False
    nn[closer] = a
    nd[closer] = row[closer]
    nn[a] = row.argmin()
    nd[a] = row[nn[a]]
    nd[b] = np.inf


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40), merges=st.integers(1, 30), grid=st.booleans())
def test_merge_distances_match_numpy(seed: int, n: int, merges: int, grid: bool) -> None:
    """Including ties (points on a grid), pinned points (rows of +inf) and rejected pairs."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, 2)).astype(float) if grid else rng.normal(size=(n, 3))
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    pinned = rng.random(n) < 0.1
    D[pinned, :] = D[:, pinned] = np.inf
    D[rng.integers(0, n, 3), rng.integers(0, n, 3)] = np.inf
    nn = D.argmin(1)
    nd = D[np.arange(n), nn]
    sizes = np.ones(n, dtype=np.int64)
    mine = (D.copy(), nn.copy(), nd.copy())
    for _ in range(merges):
        a = int(np.argmin(nd))
        if not np.isfinite(nd[a]):
            break
        b = int(nn[a])
        numpy_merge(D, nn, nd, a, b, int(sizes[a]), int(sizes[b]))
        merge_distances(*mine, np.arange(n), a, b, int(sizes[a]), int(sizes[b]))
        sizes[a] += sizes[b]
        assert mine[0].tobytes() == D.tobytes()
        assert (mine[1] == nn).all() and mine[2].tobytes() == nd.tobytes()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(0, 200), dims=st.integers(1, 6), radius=st.floats(0, 3))
def test_ball_candidates_match_numpy(seed: int, k: int, dims: int, radius: float) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, k)
    apart = rng.integers(-1, 2, 5).astype(np.int8)
    radii = rng.random(k)
    proj = rng.normal(size=(k, dims)) * 3
    centre = rng.normal(size=dims)
    found, n_apart, n_live = ball_candidates(labels, apart, 2, radius, radii, 1e-9, proj[:, 0].copy(), proj, centre)
    other = labels != 2
    live = other & (apart[labels] != 1)
    reach = radius + radii + 1e-9
    near = live & (((proj - centre) ** 2).sum(1) <= reach ** 2)
    assert n_apart == int((other & (apart[labels] == 1)).sum()) and n_live == int(live.sum())
    assert found.tolist() == np.flatnonzero(near).tolist()
