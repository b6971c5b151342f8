"""The DirectProbe clustering loop (Zhou & Srikumar, NAACL 2021), exact and filter-accelerated.

Every point starts as its own cluster.  The same-label pair of clusters with the closest centres
(ties: smaller first-point index, then the other's) is merged unless the merged hull overlaps the
hull of a current cluster of another label; a rejected pair is never proposed again.  Overlap
decisions are exact (see :mod:`.hulls`); the filters in front of them are sound shortcuts.

A label whose points are separable, both ways, from every other label's as wholes is settled
before the loop: every merge it would propose succeeds and none of its clusters can block another
label's, so it ends as one cluster whatever the order, and leaving it out of the loop changes no
other label's proposals or their outcomes.

Planes handed in from an earlier run on similar points (the previous snapshot of the same layer)
are tried first for those label pairs, each checked on every point here: one that still holds
proves the pair apart as a search would, so results are identical and only the search is saved.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .buffers import Rows
from .hulls import check_direction, data_tolerance, separate
from .kernels import ball_candidates, merge_distances
from .planes import Planes

PCA_DIMS = 32
"""Dimensions of the projection used for the cheap lower bound on centre distances."""


@dataclass
class Cluster:
    """An active cluster: its points, their indices, and a ball that contains them."""

    uid: int
    slot: int
    label: int
    points: Rows
    members: Rows
    total: np.ndarray
    radius: float
    exact_at: int

    @property
    def size(self) -> int:
        return self.points.n

    @property
    def centre(self) -> np.ndarray:
        return self.total / self.points.n


@dataclass
class Counters:
    """What the run did, for the progress display and the result's ``stats``.

    ``proposals`` = ``merges`` + ``rejections``; ``settled`` counts the merges made without
    proposals, in the ``free_labels`` separable from all others (see the module docstring).  Every
    other-label cluster a proposal is weighed against is decided by exactly one of
    ``by_label_pair`` (the two labels are separable as wholes), ``by_ball`` (bounding balls apart),
    ``by_plane`` (a remembered plane still separates), ``by_quick`` / ``by_nearest`` (a new plane,
    verified), ``by_lp`` (HiGHS), or ends the proposal as an overlap (``overlaps_lp`` proven by an
    infeasible LP, ``unresolved`` hulls touching to within the tolerance, about float32
    resolution, or an LP left undecided).  ``checks`` counts the full separability decisions,
    ``lp_calls`` the LPs solved; ``label_pairs_reused`` the label pairs shown apart by a plane handed in
    from an earlier run (checked on every point here), ``label_pair_tests`` those that needed a search.
    """

    proposals: int = 0
    merges: int = 0
    settled: int = 0
    free_labels: int = 0
    rejections: int = 0
    checks: int = 0
    by_label_pair: int = 0
    by_ball: int = 0
    by_plane: int = 0
    by_quick: int = 0
    by_nearest: int = 0
    by_lp: int = 0
    label_pair_tests: int = 0
    label_pairs_reused: int = 0
    overlaps_lp: int = 0
    unresolved: int = 0
    lp_calls: int = 0
    conflict_points: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Progress:
    """Adapts a callback (given a stats dict) or a tqdm-like bar (``update``/``set_postfix``)."""

    def __init__(self, target: Any, total: int, every: float = 0.25):
        self.target = target
        self.total = total
        self.every = every
        self.done = 0
        self.last = 0.0
        if target is not None and hasattr(target, "update") and getattr(target, "total", 0) is None:
            target.total = total

    def __call__(self, counters: Counters, force: bool = False) -> None:
        if self.target is None:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.every:
            return
        self.last = now
        stats = counters.as_dict()
        if hasattr(self.target, "update"):
            done = counters.merges + counters.settled
            self.target.update(done - self.done)
            self.done = done
            self.target.set_postfix(pairs=counters.label_pair_tests, lp=counters.lp_calls,
                                    labels=counters.by_label_pair, ball=counters.by_ball,
                                    plane=counters.by_plane, quick=counters.by_quick, nearest=counters.by_nearest,
                                    rejected=counters.rejections, refresh=False)
        else:
            self.target({"done": counters.merges + counters.settled, "total": self.total, **stats})


def find_conflicts(X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Groups of identical points that carry more than one label (sorted point indices)."""
    _, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    groups = []
    for group in np.split(order, bounds):
        if len(group) > 1 and len(np.unique(y[group])) > 1:
            groups.append(np.sort(group))
    groups.sort(key=lambda g: int(g[0]))
    return groups


class Supports:
    """The points that carried weight in each pair's last nearest-point solve (keyed by cluster
    ids), as (ids on the first cluster's side, ids on the second's), stored once per pair and read
    from either side: the warm start for the next decision between the two (or what they grew into)."""

    def __init__(self) -> None:
        self.table: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.partners: dict[int, set[int]] = {}

    def get(self, u: int, v: int) -> tuple[np.ndarray, np.ndarray] | None:
        if (u, v) in self.table:
            return self.table[(u, v)]
        entry = self.table.get((v, u))
        return None if entry is None else (entry[1], entry[0])

    def put(self, u: int, v: int, entry: tuple[np.ndarray, np.ndarray]) -> None:
        self.table.pop((v, u), None)
        self.table[(u, v)] = entry
        self.partners.setdefault(u, set()).add(v)
        self.partners.setdefault(v, set()).add(u)

    def forget(self, uid: int) -> None:
        for other in self.partners.pop(uid, ()):
            self.table.pop((uid, other), None)
            self.table.pop((other, uid), None)
            self.partners.get(other, set()).discard(uid)


class Engine:
    """State of one DirectProbe run; :meth:`run` performs it."""

    def __init__(self, X: np.ndarray, y: np.ndarray, progress: Any = None,
                 label_planes: dict[tuple[int, int], np.ndarray] | None = None):
        X = np.ascontiguousarray(X, dtype=np.float64)
        self.hints = label_planes or {}
        """Candidate planes between labels (a, b), a's points above, e.g. from the previous snapshot."""
        self.label_planes: dict[tuple[int, int], np.ndarray] = {}
        """The planes that showed label pairs apart here (a, b): a's mergeable points above all of b's."""
        self.X = X - X.mean(0)
        self.y = np.asarray(y, dtype=np.int64)
        self.n, self.d = self.X.shape
        self.tol = data_tolerance(self.X)
        self.counters = Counters()
        self.labels = np.unique(self.y)
        self.conflicts = find_conflicts(self.X, self.y)
        self.pinned = np.zeros(self.n, dtype=bool)
        for group in self.conflicts:
            self.pinned[group] = True
        self.counters.conflict_points = int(self.pinned.sum())
        self.planes = Planes(self.d, self.n, self.tol)
        self.supports = Supports()
        self.scratch = np.full(self.n, -1, dtype=np.int64)
        n_slots = int(self.y.max()) + 1 if self.n else 0
        self.twinned = np.zeros(n_slots, dtype=bool)
        """Labels with a point in a conflict (not mergeable): their pair tests are not symmetric."""
        self.twinned[self.y[self.pinned]] = True
        self.label_sep = np.zeros((n_slots, n_slots), dtype=np.int8)
        """[a, b] = 1: a's unpinned points are separable from all of b's (verified), -1: not shown
        separable (overlapping, or left undecided), 0: not yet tried."""
        self.progress = Progress(progress, total=max(self.n - len(self.labels), 0))
        self.free = self._free_labels()
        self.counters.free_labels = len(self.free)
        self._init_projection()
        self._init_clusters()
        self._init_distances()

    # -- set-up -------------------------------------------------------------------------------
    def _free_labels(self) -> set[int]:
        """Labels separable, both ways, from every other label as wholes (settled before the loop).
        A pair is tested only while it can still show one of its labels free; progress reports each test."""
        labels = self.labels.tolist()
        entangled: set[int] = set()
        for a in labels:
            for b in labels:
                if a == b or (a in entangled and b in entangled):
                    continue
                if not self._labels_apart(a, b):
                    entangled.update((a, b))
                self.progress(self.counters)
        return set(labels) - entangled

    def _init_projection(self) -> None:
        """Top principal directions: distances there are lower bounds of true distances."""
        k = min(PCA_DIMS, self.d)
        cov = self.X.T @ self.X
        _, vecs = np.linalg.eigh(cov)
        self.basis = np.ascontiguousarray(vecs[:, ::-1][:, :k])
        self.proj = self.X @ self.basis

    def _init_clusters(self) -> None:
        self.clusters: dict[int, Cluster] = {}
        for i in range(self.n):
            self.clusters[i] = Cluster(i, i, int(self.y[i]), Rows(self.X[i:i + 1]),
                                       Rows(np.array([i])), self.X[i].copy(), 0.0, 1)
        self.uid_at = np.arange(self.n)
        """The id of the cluster at each slot (a cluster keeps its id as it absorbs others)."""
        # Compact arrays over active clusters, for vectorised ball tests.
        self.act_slot = np.arange(self.n)
        self.act_pos = np.arange(self.n)
        self.act_label = self.y.copy()
        self.act_proj = self.proj.copy()
        self.act_lead = self.proj[:, 0].copy()
        """The first principal coordinate on its own (contiguous): a one-dimensional ball test
        first, so the 32-dimensional one only gathers the clusters that pass it."""
        self.act_radius = np.zeros(self.n)
        self.n_active = self.n
        self.centres = self.X.copy()
        for label in sorted(self.free):
            self._settle(np.flatnonzero((self.y == label) & ~self.pinned))

    def _settle(self, members: np.ndarray) -> None:
        """Merge a free label's unpinned points (ascending) into one cluster at the first one's slot."""
        if len(members) < 2:
            return
        slot = int(members[0])
        points = self.X[members]
        total = points.sum(0)
        diff = points - total / len(members)
        radius = float(np.sqrt(np.einsum("ij,ij->i", diff, diff).max()))
        merged = Cluster(slot, slot, int(self.y[slot]), Rows(points), Rows(members), total, radius, len(members))
        for other in members[1:].tolist():
            del self.clusters[other]
            self._deactivate(other)
        self._place(slot, merged)
        self.counters.settled += len(members) - 1

    def _init_distances(self) -> None:
        """Squared centre distances per label (updated by Lance-Williams) and nearest-partner pointers."""
        self.local = np.empty(self.n, dtype=np.int64)
        self.slots: dict[int, np.ndarray] = {}
        self.dist: dict[int, np.ndarray] = {}
        self.nn: dict[int, np.ndarray] = {}
        self.nd = np.full(self.n, np.inf)
        for label in self.labels.tolist():
            if label in self.free:
                continue
            slots = np.flatnonzero(self.y == label)
            self.slots[label] = slots
            self.local[slots] = np.arange(len(slots))
            P = self.X[slots]
            D = P @ P.T
            sq = np.diag(D).copy()
            D *= -2.0
            for start in range(0, len(slots), 1024):
                D[start:start + 1024] += sq[start:start + 1024, None] + sq[None, :]
            np.maximum(D, 0.0, out=D)
            np.fill_diagonal(D, np.inf)
            pinned = self.pinned[slots]
            D[pinned, :] = np.inf
            D[:, pinned] = np.inf
            self.dist[label] = D
            nn = D.argmin(1) if len(slots) else np.zeros(0, dtype=np.int64)
            self.nn[label] = nn
            self.nd[slots] = D[np.arange(len(slots)), nn] if len(slots) else 0.0

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> dict[int, Cluster]:
        start = time.perf_counter()
        c = self.counters
        while True:
            s = int(np.argmin(self.nd))
            if not np.isfinite(self.nd[s]):
                break
            label = int(self.y[s])
            t = int(self.slots[label][self.nn[label][self.local[s]]])
            c.proposals += 1
            if self._acceptable(self.clusters[s], self.clusters[t]):
                self._merge(s, t)
                c.merges += 1
            else:
                self._reject(s, t)
                c.rejections += 1
            c.seconds = time.perf_counter() - start
            self.progress(c)
        c.seconds = time.perf_counter() - start
        self.progress(c, force=True)
        return self.clusters

    def _reject(self, s: int, t: int) -> None:
        label = int(self.y[s])
        D, nn = self.dist[label], self.nn[label]
        a, b = self.local[s], self.local[t]
        D[a, b] = D[b, a] = np.inf
        for i in (a, b):
            nn[i] = D[i].argmin()
            self.nd[self.slots[label][i]] = D[i, nn[i]]

    def _merge(self, s: int, t: int) -> None:
        A, B = self.clusters[s], self.clusters[t]
        label = A.label
        merge_distances(self.dist[label], self.nn[label], self.nd, self.slots[label], self.local[s], self.local[t],
                        A.size, B.size)
        big, small = (A, B) if A.size >= B.size else (B, A)
        # The merged cluster is ``big`` grown: it keeps big's id, planes and remembered supports.
        self.planes.drop(small.uid)
        self.planes.absorb(big.uid, small.points.view)
        for other, w, top, bottom in self._pending:
            self.planes.add(big.uid, other, w, top, bottom)
        self.supports.forget(small.uid)
        merged = self._combine(A, B)
        self.uid_at[s] = merged.uid
        del self.clusters[t]
        self._deactivate(t)
        self._place(s, merged)

    def _place(self, slot: int, cluster: Cluster) -> None:
        """Put a grown cluster at its (active) slot: its centre, projection and radius."""
        self.clusters[slot] = cluster
        pos = self.act_pos[slot]
        self.centres[slot] = cluster.centre
        self.act_proj[pos] = self.centres[slot] @ self.basis
        self.act_lead[pos] = self.act_proj[pos, 0]
        self.act_radius[pos] = cluster.radius

    def _combine(self, A: Cluster, B: Cluster) -> Cluster:
        big, small = (A, B) if A.size >= B.size else (B, A)
        total = A.total + B.total
        size = A.size + B.size
        centre = total / size
        radius = max(A.radius + float(np.linalg.norm(A.centre - centre)),
                     B.radius + float(np.linalg.norm(B.centre - centre)))
        big.points.extend(small.points.view)
        big.members.extend(small.members.view)
        exact_at = big.exact_at
        if size >= 2 * exact_at or size <= 64:
            diff = big.points.view - centre
            radius = float(np.sqrt(np.einsum("ij,ij->i", diff, diff).max()))
            exact_at = size
        return Cluster(big.uid, min(A.slot, B.slot), A.label, big.points, big.members, total, radius, exact_at)

    def _deactivate(self, slot: int) -> None:
        pos = self.act_pos[slot]
        last = self.n_active - 1
        moved = self.act_slot[last]
        for arr in (self.act_slot, self.act_label, self.act_radius):
            arr[pos] = arr[last]
        self.act_proj[pos] = self.act_proj[last]
        self.act_lead[pos] = self.act_lead[last]
        self.act_pos[moved] = pos
        self.n_active = last

    # -- the overlap decision -------------------------------------------------------------------
    def _labels_apart(self, a: int, b: int) -> bool:
        """Whether label a's mergeable points are separable from all of label b's points (verified);
        if so no merged cluster of a can overlap any cluster of b.  Tried once per ordered pair (before
        the loop, or when their clusters first meet), and once for both orders when a separating plane
        is found and neither label has a conflicting point (then both orders compare the same sets).
        No LP fall-back: this is only a filter, and on near-duplicate points of two labels (layer 0)
        HiGHS on whole labels can take minutes to say what the cluster checks find anyway."""
        if self.label_sep[a, b] == 0:
            mergeable = (self.y == a) & ~self.pinned
            if not mergeable.any():  # a label of conflicting twins only: it never merges
                self.label_sep[a, b] = 1
                return True
            A, B = self.X[mergeable], self.X[self.y == b]
            hint = self._hint(a, b)
            if hint is not None and check_direction(A, B, hint, self.tol)[0]:
                self.counters.label_pairs_reused += 1
                separable, plane = True, hint
            else:
                self.counters.label_pair_tests += 1
                sep = separate(A, B, tol=self.tol, max_rounds=0)
                self.counters.lp_calls += sep.lp_calls
                separable, plane = sep.separable, sep.w
            self.label_sep[a, b] = 1 if separable else -1
            if separable:
                self.label_planes[(a, b)] = plane
                if not (self.twinned[a] or self.twinned[b]):
                    self.label_sep[b, a] = 1  # the same two point sets, so b is apart from a as well
        return self.label_sep[a, b] == 1

    def _hint(self, a: int, b: int) -> np.ndarray | None:
        """A handed-in plane for (a, b), or (b, a)'s turned over; None if there is neither."""
        if (a, b) in self.hints:
            return self.hints[(a, b)]
        return None if (b, a) not in self.hints else -self.hints[(b, a)]

    def _start(self, uid: int, members: np.ndarray, D: Cluster) -> tuple[np.ndarray, np.ndarray] | None:
        """The remembered support between cluster ``uid`` and D, as row indices into the merged
        cluster's points (``members``) and D's points; None if nothing is remembered."""
        entry = self.supports.get(uid, D.uid)
        if entry is None:
            return None
        rows = []
        for ids, own in zip(entry, (members, D.members.view)):
            self.scratch[own] = np.arange(len(own))
            local = self.scratch[ids]
            self.scratch[own] = -1
            rows.append(local[local >= 0])
        return rows[0], rows[1]

    def _acceptable(self, A: Cluster, B: Cluster) -> bool:
        """Whether A ∪ B overlaps no current cluster of another label (exact)."""
        c = self.counters
        self._pending: list[tuple[int, np.ndarray, float, float]] = []
        """New planes (other cluster's id, normal, top over A ∪ B, bottom over the other), A ∪ B below."""
        size = A.size + B.size
        centre = (A.total + B.total) / size
        radius = max(A.radius + float(np.linalg.norm(A.centre - centre)),
                     B.radius + float(np.linalg.norm(B.centre - centre)))
        k = self.n_active
        projected = centre @ self.basis
        cand, n_apart, n_live = ball_candidates(self.act_label[:k], self.label_sep[A.label], A.label, radius,
                                                self.act_radius[:k], self.tol, self.act_lead[:k], self.act_proj[:k],
                                                projected)
        c.by_label_pair += n_apart
        c.by_ball += n_live - len(cand)
        if not len(cand):
            return True
        reach = radius + self.act_radius[cand] + self.tol
        slots = self.act_slot[cand]
        diff = self.centres[slots] - centre
        gaps = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        near = gaps <= reach
        c.by_ball += int(len(cand) - near.sum())
        slots, gaps = slots[near], gaps[near]
        if not len(slots):
            return True
        order = np.argsort(gaps, kind="stable")
        slots = slots[order]
        big, small = (A, B) if A.size >= B.size else (B, A)
        # A plane remembered between big and D still separates A ∪ B from D if small's points are below it.
        pids = self.planes.find(big.uid, self.uid_at[slots])
        known = np.flatnonzero(pids >= 0)
        held = np.zeros(len(slots), dtype=bool)
        hints: dict[int, np.ndarray] = {}
        if len(known):
            W, top, bottom = self.planes.facing(big.uid, pids[known])
            top = np.maximum(top, (small.points.view @ W.T).max(0))
            held[known] = top < bottom - self.tol
            c.by_plane += int(held.sum())
            hints = {int(k): W[i] for i, k in enumerate(known.tolist()) if not held[k]}
        unresolved = [(self.clusters[int(slots[k])], hints.get(k)) for k in np.flatnonzero(~held).tolist()]
        if not unresolved:
            return True
        M = big.points.with_rows(small.points.view)
        members = np.concatenate([big.members.view, small.members.view])
        for D, hint in unresolved:
            if self._labels_apart(A.label, D.label):
                c.by_label_pair += 1
                continue
            c.checks += 1
            start = self._start(big.uid, members, D)
            sep = separate(M, D.points.view, tol=self.tol, hint=None if hint is None else -hint, start=start)
            c.lp_calls += sep.lp_calls
            if sep.support is not None:
                self.supports.put(big.uid, D.uid, (members[sep.support[0]], D.members.view[sep.support[1]]))
            if not sep.separable:
                if sep.method in ("lp-unresolved", "touching"):
                    c.unresolved += 1
                else:
                    c.overlaps_lp += 1
                return False
            if sep.method == "lp":
                c.by_lp += 1
            elif sep.method == "nearest":
                c.by_nearest += 1
            else:
                c.by_quick += 1
            # The merged cluster is on the high side of sep.w; store the plane with it below.
            self._pending.append((D.uid, -sep.w, -sep.high, -sep.low))
        return True
