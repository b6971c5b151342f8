"""Classifier probes over frozen representations: a two-hidden-layer MLP with a grid-searched size.

Follows DirectProbe / Zhou & Srikumar (Table 7): hidden sizes from {32, 64, 128, 256}², chosen
on a development split carved from train, then test accuracy over several seeds at that size.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class ProbeResult:
    """Grid dev accuracies, the chosen size, per-seed test accuracies and their summary.

    ``grid``: hidden1, hidden2, dev_accuracy, epochs.  ``runs``: seed, dev_accuracy,
    test_accuracy, epochs.  ``std`` is the sample standard deviation (NaN for one seed);
    ``majority_accuracy`` is the test accuracy of always answering the commonest train label.
    """

    best_size: tuple[int, int]
    grid: pd.DataFrame
    runs: pd.DataFrame
    mean: float
    std: float
    majority_accuracy: float


def dev_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, dev) with about ``fraction`` of the rows in dev, stratified where possible.

    Labels seen once stay in fit; the rest are stratified when dev and fit can each hold every
    such label, otherwise the split is plain random.  Fixed by ``seed``.
    """
    y = np.asarray(y)
    n_dev = int(round(fraction * len(y)))
    if not 0 < n_dev < len(y):
        raise ValueError(f"a dev fraction of {fraction} leaves no fit or no dev rows of {len(y)}")
    values, counts = np.unique(y, return_counts=True)
    pool = np.flatnonzero(np.isin(y, values[counts > 1]))
    n_strata = int(np.sum(counts > 1))
    if n_dev > len(pool):
        pool, stratify = np.arange(len(y)), None
    else:
        stratify = y[pool] if n_strata <= n_dev <= len(pool) - n_strata else None
    fit, dev = train_test_split(pool, test_size=n_dev, random_state=seed, stratify=stratify)
    fit = np.union1d(fit, np.setdiff1d(np.arange(len(y)), pool))
    return fit, np.sort(dev)


L2 = 1e-4
"""The L2 penalty on weights (not biases), divided by the batch size: scikit-learn's MLP ``alpha``."""


SMALL_PRODUCT = 2 ** 22
"""Below this many multiply-adds in a batch's first layer (all sizes together), one thread is faster."""


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """``threads`` torch threads (if given) for the duration of the block."""
    was = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(was)


class _Trained(NamedTuple):
    weights: list[torch.Tensor]
    dev_accuracy: float
    epochs: int


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1).mul_(bound)


def _init(size: tuple[int, int], n_in: int, n_out: int, seed: int) -> list[torch.Tensor]:
    """Glorot-uniform weights and biases (bound sqrt(6 / (fan_in + fan_out))), as scikit-learn's MLP."""
    generator = torch.Generator().manual_seed(seed)
    dims = [n_in, *size, n_out]
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        params += [_uniform((fan_in, fan_out), bound, generator), _uniform((fan_out,), bound, generator)]
    return params


def _logits(weights: list[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    W1, b1, W2, b2, W3, b3 = weights
    return torch.addmm(b3, torch.relu(torch.addmm(b2, torch.relu(torch.addmm(b1, X, W1)), W2)), W3)


def _accuracy(weights: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((_logits(weights, X).argmax(1) == y).float().mean())


class _Stack:
    """MLPs trained together on the same mini-batches: their first layers form one matrix, so one
    product serves all; each keeps its own weights and Adam state, and leaves the stack when it
    stops.  Training one this way is the same as training it alone (up to float rounding)."""

    def __init__(self, models: list[list[torch.Tensor]], learning_rate: float, batch_size: int):
        self.learning_rate, self.batch_size = learning_rate, batch_size
        self.ids = list(range(len(models)))
        self._build(models, states=None)

    def _build(self, models: list[list[torch.Tensor]], states: list[list[dict]] | None) -> None:
        """(Re)make the stacked leaves and their optimiser from per-model weights (and Adam states)."""
        self.widths = [m[0].shape[1] for m in models]
        first = [torch.cat([m[k] for m in models], dim=-1).requires_grad_() for k in (0, 1)]
        rest = [w.detach().clone().requires_grad_() for m in models for w in m[2:]]
        self.params = first + rest
        weights, biases = [self.params[0], *rest[0::2]], [self.params[1], *rest[1::2]]
        self.optimizer = torch.optim.Adam([{"params": weights, "weight_decay": L2 / self.batch_size},
                                           {"params": biases, "weight_decay": 0.0}],
                                          lr=self.learning_rate, eps=1e-8, fused=True)
        if states is not None:
            for k in (0, 1):
                self.optimizer.state[first[k]] = {
                    "step": states[0][k]["step"].clone(),
                    **{name: torch.cat([s[k][name] for s in states], dim=-1) for name in ("exp_avg", "exp_avg_sq")}}
            for p, state in zip(rest, (s for per_model in states for s in per_model[2:])):
                self.optimizer.state[p] = state

    def _columns(self, i: int) -> slice:
        """The i-th model's columns of the stacked first layer."""
        start = sum(self.widths[:i])
        return slice(start, start + self.widths[i])

    def model(self, i: int) -> list[torch.Tensor]:
        """The i-th model's six tensors (views into the stack)."""
        cols = self._columns(i)
        return [self.params[0][:, cols], self.params[1][cols], *self.params[2 + 4 * i:6 + 4 * i]]

    def _state(self, i: int) -> list[dict]:
        """The i-th model's Adam state, one dict per tensor of :meth:`model`."""
        cols = self._columns(i)
        states = []
        for k, p in enumerate([self.params[0], self.params[1], *self.params[2 + 4 * i:6 + 4 * i]]):
            s = self.optimizer.state.get(p)
            if k < 2 and s:
                s = {"step": s["step"], "exp_avg": s["exp_avg"][..., cols], "exp_avg_sq": s["exp_avg_sq"][..., cols]}
            states.append(s)
        return states

    def step(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """One Adam update of every model on one mini-batch (the sum of their mean cross-entropies)."""
        hidden = torch.relu(torch.addmm(self.params[1], X, self.params[0])).split(self.widths, dim=1)
        loss = sum(F.cross_entropy(self._head(i, h), y) for i, h in enumerate(hidden))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def _head(self, i: int, hidden: torch.Tensor) -> torch.Tensor:
        W2, b2, W3, b3 = self.params[2 + 4 * i:6 + 4 * i]
        return torch.addmm(b3, torch.relu(torch.addmm(b2, hidden, W2)), W3)

    def accuracies(self, X: torch.Tensor, y: torch.Tensor) -> list[float]:
        with torch.no_grad():
            hidden = torch.relu(torch.addmm(self.params[1], X, self.params[0])).split(self.widths, dim=1)
            return [float((self._head(i, h).argmax(1) == y).float().mean()) for i, h in enumerate(hidden)]

    def keep(self, positions: list[int]) -> None:
        """Go on with the models at these positions only."""
        models = [[w.detach().clone() for w in self.model(i)] for i in positions]
        states = [self._state(i) for i in positions] if self.optimizer.state else None
        self.ids = [self.ids[i] for i in positions]
        self._build(models, states)


def _train(
    X_fit: torch.Tensor,
    y_fit: torch.Tensor,
    X_dev: torch.Tensor,
    y_dev: torch.Tensor,
    sizes: list[tuple[int, int]],
    seed: int,
    n_classes: int,
    max_epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
) -> list[_Trained]:
    """MLPs of the given sizes (ReLU, softmax, Adam), initialised and shuffled from ``seed``, trained
    together epoch by epoch, each early-stopped on dev accuracy with its best weights restored."""
    stack = _Stack([_init(size, X_fit.shape[1], n_classes, seed) for size in sizes], learning_rate, batch_size)
    generator = torch.Generator().manual_seed(seed)
    n = len(y_fit)
    best: list[_Trained | None] = [None] * len(sizes)
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            stack.step(X_fit[rows], y_fit[rows])
        going = []
        for position, (i, accuracy) in enumerate(zip(stack.ids, stack.accuracies(X_dev, y_dev))):
            if best[i] is None or accuracy > best[i].dev_accuracy:
                best[i] = _Trained([w.detach().clone() for w in stack.model(position)], accuracy, epoch)
            if epoch - best[i].epochs < patience and epoch < max_epochs:
                going.append(position)
        if not going:
            break
        if len(going) < len(stack.ids):
            stack.keep(going)
    return best


def mlp_probe(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    hidden_sizes: Sequence[int] = (32, 64, 128, 256),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    dev_fraction: float = 0.1,
    split_seed: int = 0,
    max_epochs: int = 100,
    patience: int = 5,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    threads: int | None = None,
) -> ProbeResult:
    """Grid-search both hidden sizes on dev (with ``seeds[0]``), then test every seed at the best.

    Inputs are standardised with the fit split's statistics (float32); each network trains on
    the fit split with Adam and early stopping on dev accuracy, the whole grid at once (one
    :class:`_Stack`).  Ties in dev accuracy go to the size met first in (hidden1, hidden2)
    ascending order.  Deterministic for fixed seeds and ``threads`` (torch threads; default: one
    for small problems, whose products are too small to split, else torch's own).
    """
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if not seeds:
        raise ValueError("need at least one seed")
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    fit, dev = dev_split(y_train, dev_fraction, split_seed)
    X_fit = np.asarray(X_train[fit], dtype=np.float32)
    scaler = StandardScaler().fit(X_fit)  # copies: the caller's arrays stay as they are

    def tensors(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))

    data = (*tensors(scaler.transform(X_fit), y_train[fit]),
            *tensors(scaler.transform(np.asarray(X_train[dev], dtype=np.float32)), y_train[dev]))
    X_eval, y_eval = tensors(scaler.transform(np.asarray(X_test, dtype=np.float32)), y_test)
    settings = (n_classes, max_epochs, patience, batch_size, learning_rate)
    if threads is None and batch_size * X_fit.shape[1] * len(hidden_sizes) * sum(hidden_sizes) < SMALL_PRODUCT:
        threads = 1
    with _threads(threads):
        return _probe(data, (X_eval, y_eval), hidden_sizes, seeds, settings, np.bincount(y_train).argmax(), y_test)


def _probe(data: tuple[torch.Tensor, ...], test: tuple[torch.Tensor, torch.Tensor], hidden_sizes: Sequence[int],
           seeds: Sequence[int], settings: tuple, majority: int, y_test: np.ndarray) -> ProbeResult:
    """The grid on dev, then every seed at the best size, tested (see :func:`mlp_probe`)."""
    X_eval, y_eval = test
    grid_rows, best_size, best = [], None, None
    sizes = list(itertools.product(sorted(hidden_sizes), repeat=2))
    for size, trained in zip(sizes, _train(*data, sizes, seeds[0], *settings)):
        grid_rows.append(
            {"hidden1": size[0], "hidden2": size[1], "dev_accuracy": trained.dev_accuracy,
             "epochs": trained.epochs}
        )
        if best is None or trained.dev_accuracy > best.dev_accuracy:
            best_size, best = (int(size[0]), int(size[1])), trained

    run_rows = []
    for seed in seeds:
        trained = best if seed == seeds[0] else _train(*data, [best_size], seed, *settings)[0]
        run_rows.append(
            {"seed": seed, "dev_accuracy": trained.dev_accuracy,
             "test_accuracy": _accuracy(trained.weights, X_eval, y_eval), "epochs": trained.epochs}
        )
    runs = pd.DataFrame(run_rows)
    test_accuracy = runs["test_accuracy"]
    return ProbeResult(
        best_size=best_size,
        grid=pd.DataFrame(grid_rows),
        runs=runs,
        mean=float(test_accuracy.mean()),
        std=float(test_accuracy.std(ddof=1)) if len(runs) > 1 else float("nan"),
        majority_accuracy=float(np.mean(y_test == majority)),
    )
