"""Classifier probes over frozen representations: a two-hidden-layer MLP with a grid-searched size.

Follows DirectProbe / Zhou & Srikumar (Table 7): hidden sizes from {32, 64, 128, 256}², chosen
on a development split carved from train, then test accuracy over several seeds at that size.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
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


class _Trained(NamedTuple):
    model: MLPClassifier
    dev_accuracy: float
    epochs: int


def _train(
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_dev: np.ndarray,
    y_dev: np.ndarray,
    size: tuple[int, int],
    seed: int,
    classes: np.ndarray,
    max_epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
) -> _Trained:
    """An MLP trained epoch by epoch, early-stopped on dev accuracy, best weights restored."""
    model = MLPClassifier(
        hidden_layer_sizes=size,
        batch_size=min(batch_size, len(y_fit)),
        learning_rate_init=learning_rate,
        random_state=np.random.RandomState(seed),
    )
    best_accuracy, best_epoch, best_weights = -1.0, 0, None
    for epoch in range(1, max_epochs + 1):
        model.partial_fit(X_fit, y_fit, classes=classes)
        accuracy = model.score(X_dev, y_dev)
        if accuracy > best_accuracy:
            best_accuracy, best_epoch = accuracy, epoch
            best_weights = ([w.copy() for w in model.coefs_], [b.copy() for b in model.intercepts_])
        elif epoch - best_epoch >= patience:
            break
    model.coefs_, model.intercepts_ = best_weights
    return _Trained(model, best_accuracy, best_epoch)


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
) -> ProbeResult:
    """Grid-search both hidden sizes on dev (with ``seeds[0]``), then test every seed at the best.

    Inputs are standardised with the fit split's statistics (float32); each network trains on
    the fit split with Adam and early stopping on dev accuracy.  Ties in dev accuracy go to
    the size met first in (hidden1, hidden2) ascending order.  Deterministic for fixed seeds.
    """
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if not seeds:
        raise ValueError("need at least one seed")
    classes = np.arange(int(max(y_train.max(), y_test.max())) + 1)
    fit, dev = dev_split(y_train, dev_fraction, split_seed)
    X_fit = np.asarray(X_train[fit], dtype=np.float32)
    scaler = StandardScaler(copy=False).fit(X_fit)
    X_fit = scaler.transform(X_fit)
    X_dev = scaler.transform(np.asarray(X_train[dev], dtype=np.float32))
    X_eval = scaler.transform(np.asarray(X_test, dtype=np.float32))
    data = (X_fit, y_train[fit], X_dev, y_train[dev])
    settings = (classes, max_epochs, patience, batch_size, learning_rate)

    grid_rows, best_size, best = [], None, None
    for size in itertools.product(sorted(hidden_sizes), repeat=2):
        trained = _train(*data, size, seeds[0], *settings)
        grid_rows.append(
            {"hidden1": size[0], "hidden2": size[1], "dev_accuracy": trained.dev_accuracy,
             "epochs": trained.epochs}
        )
        if best is None or trained.dev_accuracy > best.dev_accuracy:
            best_size, best = (int(size[0]), int(size[1])), trained

    run_rows = []
    for seed in seeds:
        trained = best if seed == seeds[0] else _train(*data, best_size, seed, *settings)
        run_rows.append(
            {"seed": seed, "dev_accuracy": trained.dev_accuracy,
             "test_accuracy": trained.model.score(X_eval, y_test), "epochs": trained.epochs}
        )
    runs = pd.DataFrame(run_rows)
    majority = np.bincount(y_train).argmax()
    test_accuracy = runs["test_accuracy"]
    return ProbeResult(
        best_size=best_size,
        grid=pd.DataFrame(grid_rows),
        runs=runs,
        mean=float(test_accuracy.mean()),
        std=float(test_accuracy.std(ddof=1)) if len(runs) > 1 else float("nan"),
        majority_accuracy=float(np.mean(y_test == majority)),
    )
