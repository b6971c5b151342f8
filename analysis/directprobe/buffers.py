"""Growable row buffers, so a cluster that absorbs small ones grows in amortised O(rows added)."""
from __future__ import annotations

import numpy as np


class Rows:
    """An array that grows along its first axis by doubling its capacity."""

    __slots__ = ("buf", "n")

    def __init__(self, first: np.ndarray):
        self.buf = np.array(first, copy=True)
        self.n = len(first)

    @property
    def view(self) -> np.ndarray:
        return self.buf[: self.n]

    def with_rows(self, rows: np.ndarray) -> np.ndarray:
        """A view of the current rows followed by ``rows``, written after them without keeping them."""
        need = self.n + len(rows)
        if need > len(self.buf):
            grown = np.empty((max(need, 2 * len(self.buf)),) + self.buf.shape[1:], dtype=self.buf.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n:need] = rows
        return self.buf[:need]

    def extend(self, rows: np.ndarray) -> None:
        self.with_rows(rows)
        self.n += len(rows)
