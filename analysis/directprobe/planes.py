"""Separating planes remembered between pairs of clusters, kept valid as clusters grow.

A cluster that absorbs another keeps its id, so its planes stay where they are: :meth:`Planes.absorb`
checks the newcomers against all of them at once and drops those they cross.  Every operation is a
few array operations over one cluster's planes, never a Python loop over them.
"""
from __future__ import annotations

import numpy as np

from .buffers import Rows


COMPACT_MIN = 4096
"""Dead planes are forgotten when they outnumber the live ones and there are at least this many."""


class Planes:
    """Plane p separates cluster ``low[p]`` (every point · W[p] <= ``top[p]``) from cluster
    ``high[p]`` (every point · W[p] >= ``bottom[p]``), with ``top[p] < bottom[p] - tol``."""

    def __init__(self, d: int, n_ids: int, tol: float):
        self.tol = tol
        self.W = Rows(np.zeros((0, d)))
        self.top = Rows(np.zeros(0))
        self.bottom = Rows(np.zeros(0))
        self.low = Rows(np.zeros(0, dtype=np.int64))
        self.high = Rows(np.zeros(0, dtype=np.int64))
        self.alive = Rows(np.zeros(0, dtype=bool))
        self.books: dict[int, Rows] = {}
        """Cluster id -> ids of the planes it is on (dead ones included until compacted)."""
        self.scratch = np.full(n_ids, -1, dtype=np.int64)
        self.compact_at = COMPACT_MIN

    def _compact(self) -> None:
        """Forget dead planes once they are the majority, renumbering the live ones."""
        keep = np.flatnonzero(self.alive.view)
        if 2 * len(keep) < self.alive.n:
            renumber = np.full(self.alive.n, -1, dtype=np.int64)
            renumber[keep] = np.arange(len(keep))
            for name in ("W", "top", "bottom", "low", "high", "alive"):
                setattr(self, name, Rows(getattr(self, name).view[keep]))
            for uid in list(self.books):
                ids = renumber[self.books[uid].view]
                ids = ids[ids >= 0]
                if len(ids):
                    self.books[uid] = Rows(ids)
                else:
                    del self.books[uid]
        self.compact_at = 2 * len(keep) + COMPACT_MIN

    def _live(self, uid: int) -> np.ndarray:
        """Ids of the live planes on cluster ``uid``, compacting its book when half is dead."""
        book = self.books.get(uid)
        if book is None:
            return np.zeros(0, dtype=np.int64)
        ids = book.view
        live = ids[self.alive.view[ids]]
        if 2 * len(live) < len(ids):
            self.books[uid] = Rows(live)
        return live

    def find(self, uid: int, others: np.ndarray) -> np.ndarray:
        """The live plane between ``uid`` and each of ``others`` (-1 where there is none)."""
        live = self._live(uid)
        partner = np.where(self.low.view[live] == uid, self.high.view[live], self.low.view[live])
        self.scratch[partner] = live
        found = self.scratch[others]
        self.scratch[partner] = -1
        return found

    def facing(self, uid: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Planes ``ids`` (all on ``uid``) turned so that ``uid`` is below: (normals, top over
        ``uid``'s points, bottom over the other's)."""
        below = self.low.view[ids] == uid
        sign = np.where(below, 1.0, -1.0)
        top = np.where(below, self.top.view[ids], -self.bottom.view[ids])
        bottom = np.where(below, self.bottom.view[ids], -self.top.view[ids])
        return self.W.view[ids] * sign[:, None], top, bottom

    def add(self, low: int, high: int, w: np.ndarray, top: float, bottom: float) -> None:
        """Remember a plane between ``low`` and ``high``, replacing the one they had."""
        old = self.find(low, np.array([high]))[0]
        if old >= 0:
            self.alive.view[old] = False
        if self.alive.n >= self.compact_at:
            self._compact()
        pid = self.alive.n
        self.W.extend(w[None, :])
        self.top.extend(np.array([top]))
        self.bottom.extend(np.array([bottom]))
        self.low.extend(np.array([low]))
        self.high.extend(np.array([high]))
        self.alive.extend(np.array([True]))
        for uid in (low, high):
            self.books.setdefault(uid, Rows(np.zeros(0, dtype=np.int64))).extend(np.array([pid]))

    def absorb(self, uid: int, points: np.ndarray) -> None:
        """Cluster ``uid`` gains ``points``: widen its side of each of its planes to them and drop the
        planes they cross."""
        live = self._live(uid)
        if not len(live):
            return
        proj = points @ self.W.view[live].T
        below = self.low.view[live] == uid
        top, bottom = self.top.view, self.bottom.view
        top[live[below]] = np.maximum(top[live[below]], proj[:, below].max(0))
        bottom[live[~below]] = np.minimum(bottom[live[~below]], proj[:, ~below].min(0))
        self.alive.view[live] = top[live] < bottom[live] - self.tol

    def drop(self, uid: int) -> None:
        """Cluster ``uid`` is gone: so are its planes."""
        book = self.books.pop(uid, None)
        if book is not None:
            self.alive.view[book.view] = False
