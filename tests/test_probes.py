"""The MLP probe: dev split, grid search, seeds; on synthetic blobs and on real UPOS tags."""
from __future__ import annotations

import itertools
import zlib

import conllu
import numpy as np
import pytest
import torch
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from analysis.probes import _threads, _train, dev_split, mlp_probe

SMALL = dict(hidden_sizes=(8, 32), seeds=(0, 1), max_epochs=30, batch_size=32)


def blobs(n: int, seed: int, n_labels: int = 4, d: int = 10):
    """Gaussian clusters with unbalanced labels, far from standardised."""
    rng = np.random.default_rng(seed)
    y = rng.choice(n_labels, size=n, p=[0.4, 0.3, 0.2, 0.1][:n_labels])
    centres = np.random.default_rng(99).normal(size=(n_labels, d)) * 2
    X = (centres[y] + rng.normal(size=(n, d))) * np.linspace(0.01, 100, d) + 50
    return X, y


def test_dev_split_is_stratified_disjoint_and_keeps_single_examples_for_fitting():
    y = np.array([0] * 60 + [1] * 30 + [2] * 9 + [3])
    fit, dev = dev_split(y, 0.1, seed=0)
    assert len(dev) == 10
    assert np.intersect1d(fit, dev).size == 0
    assert np.union1d(fit, dev).tolist() == list(range(100))
    assert np.bincount(y[dev], minlength=4).tolist() == [6, 3, 1, 0]
    assert 99 in fit
    again = dev_split(y, 0.1, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((fit, dev), again))
    assert not np.array_equal(dev, dev_split(y, 0.1, seed=1)[1])


def test_dev_split_falls_back_to_random_when_labels_outnumber_dev_rows():
    y = np.repeat(np.arange(20), 3)
    fit, dev = dev_split(y, 0.1, seed=0)
    assert len(dev) == 6 and len(fit) == 54
    with pytest.raises(ValueError):
        dev_split(y, 0.0, seed=0)


def test_probe_beats_the_majority_baseline_and_picks_a_size_from_the_grid():
    X, y = blobs(600, seed=0)
    X_test, y_test = blobs(300, seed=1)
    result = mlp_probe(X, y, X_test, y_test, **SMALL)
    assert result.best_size in {(8, 8), (8, 32), (32, 8), (32, 32)}
    assert list(result.grid.columns) == ["hidden1", "hidden2", "dev_accuracy", "epochs"]
    assert len(result.grid) == 4
    best_row = result.grid.set_index(["hidden1", "hidden2"]).loc[result.best_size]
    assert best_row["dev_accuracy"] == result.grid["dev_accuracy"].max()
    assert list(result.runs.columns) == ["seed", "dev_accuracy", "test_accuracy", "epochs"]
    assert result.runs["seed"].tolist() == [0, 1]
    assert result.majority_accuracy == pytest.approx(np.mean(y_test == 0))
    assert result.mean > result.majority_accuracy + 0.3
    assert result.mean == pytest.approx(result.runs["test_accuracy"].mean())
    assert result.std == pytest.approx(result.runs["test_accuracy"].std(ddof=1))
    assert (result.runs["epochs"] <= 30).all()


def test_probe_is_deterministic_for_fixed_seeds():
    X, y = blobs(300, seed=2)
    X_test, y_test = blobs(100, seed=3)
    settings = dict(hidden_sizes=(8,), seeds=(3, 4), max_epochs=10, patience=2, batch_size=32)
    first, again = mlp_probe(X, y, X_test, y_test, **settings), mlp_probe(X, y, X_test, y_test, **settings)
    assert first.runs.equals(again.runs)
    assert first.grid.equals(again.grid)


def suffix_features(path, start: int, stop: int):
    """UPOS tags of sentences [start, stop) and a 64-dim hashed one-hot of each word's suffixes."""
    with open(path, encoding="utf-8") as f:
        sentences = conllu.parse(f.read())[start:stop]
    tokens = [t for s in sentences for t in s if isinstance(t["id"], int)]
    X = np.zeros((len(tokens), 64), dtype=np.float32)
    for i, token in enumerate(tokens):
        word = token["form"].lower()
        for suffix in (word[-1:], word[-2:], word[-3:], word):
            X[i, zlib.crc32(suffix.encode()) % 64] = 1
    return X, [t["upos"] for t in tokens]


def real_tags(shared_data):
    """Suffix features and UPOS tags: ParTUT dev's first 110 sentences to train on, the other 46 to test."""
    path = shared_data / "ud_partut" / "en_partut-ud-dev.conllu"
    X_train, tags_train = suffix_features(path, 0, 110)
    X_test, tags_test = suffix_features(path, 110, 156)
    names = sorted(set(tags_train) | set(tags_test))
    return (X_train, np.array([names.index(t) for t in tags_train]),
            X_test, np.array([names.index(t) for t in tags_test]))


def test_probe_tags_real_words_from_their_suffixes(shared_data):
    X_train, y_train, X_test, y_test = real_tags(shared_data)
    result = mlp_probe(
        X_train, y_train, X_test, y_test, hidden_sizes=(32, 64), seeds=(0, 1), max_epochs=40, batch_size=32
    )
    assert result.best_size in {(32, 32), (32, 64), (64, 32), (64, 64)}
    assert result.majority_accuracy < 0.3
    assert result.mean > result.majority_accuracy + 0.25


def sklearn_probe(X_train, y_train, X_test, y_test, *, hidden_sizes, seeds, max_epochs, batch_size, patience=5):
    """The probe as it was before torch (probe-1): scikit-learn MLPs trained one by one, epoch by
    epoch, early-stopped on dev accuracy; the reference for parity."""
    fit, dev = dev_split(y_train, 0.1, 0)
    scaler = StandardScaler().fit(X_train[fit])
    X_fit, X_dev, X_eval = (scaler.transform(X).astype(np.float32) for X in (X_train[fit], X_train[dev], X_test))
    classes = np.arange(max(y_train.max(), y_test.max()) + 1)

    def train(size, seed):
        model = MLPClassifier(hidden_layer_sizes=size, batch_size=batch_size, random_state=np.random.RandomState(seed))
        best = (-1.0, 0, None)
        for epoch in range(1, max_epochs + 1):
            model.partial_fit(X_fit, y_train[fit], classes=classes)
            accuracy = model.score(X_dev, y_train[dev])
            if accuracy > best[0]:
                best = (accuracy, epoch, ([w.copy() for w in model.coefs_], [b.copy() for b in model.intercepts_]))
            elif epoch - best[1] >= patience:
                break
        model.coefs_, model.intercepts_ = best[2]
        return best[0], model

    grid = {size: train(size, seeds[0]) for size in itertools.product(sorted(hidden_sizes), repeat=2)}
    size = max(grid, key=lambda s: grid[s][0])
    accuracies = [(grid[size] if seed == seeds[0] else train(size, seed))[1].score(X_eval, y_test) for seed in seeds]
    return np.mean(accuracies), np.std(accuracies, ddof=1)


def test_probe_matches_the_scikit_learn_probe_within_the_seed_spread_on_real_tags(shared_data):
    X_train, y_train, X_test, y_test = real_tags(shared_data)
    settings = dict(hidden_sizes=(32, 64), seeds=(0, 1, 2, 3), max_epochs=40, batch_size=32)
    inputs = [X_train.copy(), X_test.copy()]
    ours = mlp_probe(X_train, y_train, X_test, y_test, **settings)
    assert all(np.array_equal(a, b) for a, b in zip(inputs, (X_train, X_test)))  # inputs left as they were
    mean, std = sklearn_probe(X_train, y_train, X_test, y_test, **settings)
    assert abs(ours.mean - mean) < max(ours.std, std)


def test_a_stacked_network_trains_as_it_would_alone():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(1200, 12)).astype(np.float32))
    y = ((X[:, 0] * 2 + X[:, 1] ** 2 > 1).long() + (X[:, 2] > 0.5).long())
    sizes = [(8, 8), (8, 16), (16, 8), (16, 16)]
    with _threads(1):
        together = _train(X[200:], y[200:], X[:200], y[:200], sizes, 3, 3, 25, 2, 64, 1e-3)
    assert len({m.epochs for m in together}) > 1  # some leave the stack before others
    for size, stacked in zip(sizes, together):
        with _threads(1):
            alone = _train(X[200:], y[200:], X[:200], y[:200], [size], 3, 3, 25, 2, 64, 1e-3)[0]
        assert (alone.epochs, alone.dev_accuracy) == (stacked.epochs, stacked.dev_accuracy)
        for a, b in zip(alone.weights, stacked.weights):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
