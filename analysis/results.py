"""Stored DirectProbe and classifier-probe results of one layer of a stored representation.

One way to compute, key and read each: the study steps, the CLI and the dashboard's
one-click computations all go through these functions, so the same result is stored once.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

import numpy as np

from .directprobe import VERSION as DIRECTPROBE_VERSION
from .directprobe import DirectProbeResult, directprobe
from .embed import representation
from .probes import mlp_probe
from .store import Entry, Store, StoreError, make_key

PROBE_VERSION = "probe-2"
PROBE_DEFAULTS: dict[str, Any] = {"hidden_sizes": [32, 64, 128, 256], "seeds": [0, 1, 2, 3, 4], "max_epochs": 100}
"""The paper's probe: both hidden sizes searched over {32, 64, 128, 256}, 5 seeds."""


def directprobe_spec(entry: str, layer: int) -> dict[str, Any]:
    """What determines a DirectProbe result: the representation entry, the layer and the engine version."""
    return {"entry": entry, "layer": int(layer), "version": DIRECTPROBE_VERSION}


def directprobe_key(entry: str, layer: int) -> str:
    return make_key("directprobe", directprobe_spec(entry, layer))


def find_directprobe(store: Store, entry: str, layer: int) -> Entry | None:
    """The stored DirectProbe entry of one layer of a representation, or ``None``."""
    return store.get(directprobe_key(entry, layer))


_READ: ContextVar[dict[tuple[str, str, int], DirectProbeResult] | None] = ContextVar("_READ", default=None)


@contextmanager
def reading_once() -> Iterator[None]:
    """Within the block, :func:`load_directprobe` reads each stored result once and hands out that
    copy again (results are immutable once stored): a study's tables read each one once."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def load_directprobe(store: Store, entry: str, layer: int) -> DirectProbeResult | None:
    """The stored DirectProbe result of one layer of a representation, or ``None``."""
    memo = _READ.get()
    key = (str(store.root), entry, int(layer))
    if memo is not None and key in memo:
        return memo[key]
    found = find_directprobe(store, entry, layer)
    result = None if found is None else DirectProbeResult.load(found)
    if memo is not None and result is not None:
        memo[key] = result
    return result


def input_digest(X: np.ndarray, y: np.ndarray, n_labels: int) -> str:
    """A hash of everything a DirectProbe run reads: the points (their stored bytes, dtype and shape),
    the labels and the number of labels."""
    h = hashlib.blake2b(digest_size=16)
    X, y = np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64)
    h.update(f"{X.dtype.str}{X.shape}{n_labels}".encode())
    h.update(memoryview(X).cast("B"))
    h.update(memoryview(y).cast("B"))
    return h.hexdigest()


def input_key(digest: str) -> str:
    """Key of the small entry naming the stored result for one input digest."""
    return make_key("dpinput", {"digest": digest, "version": DIRECTPROBE_VERSION})


def compute_directprobe(store: Store, entry: str, layer: int, progress: Callable | None = None,
                        previous: str | None = None, waiting: Callable[[str], None] | None = None) -> str:
    """DirectProbe on one layer of a stored representation, stored unless already there; returns its key.

    A layer whose points and labels are bit-identical to one already clustered (say the layers below
    the re-initialised ones at update 0, the same for every seed) is not clustered again: the stored
    result is copied (the engine is deterministic, so it is the result a run would give).  A lock on
    the digest makes a process wait for another clustering the same points on this machine.

    ``previous``: a representation of similar points (the previous snapshot of the same run and
    split) whose stored result at this layer lends its label planes as certificates to check first;
    the result is the same with or without it.
    ``waiting``: told in a sentence when another process holds this result's lock or is clustering the
    same points, before this one waits for it (up to a DirectProbe run's time).
    """
    spec = directprobe_spec(entry, layer)
    key = make_key("directprobe", spec)
    if store.has(key):
        return key
    source = store[entry]
    X, y = representation(source, layer)
    names = source.summary["label_names"]
    digest = input_digest(X, y, len(names))
    what = f"{source.summary.get('model')} {source.summary.get('task')}/{source.summary.get('split')} layer {layer}"

    def told(message: str) -> Callable[[], None] | None:
        return None if waiting is None else lambda: waiting(message)

    # The two locks are always taken in this order, so two processes cannot deadlock.
    with (store.lock(key, told(f"waiting for another process running DirectProbe on {what}")),
          store.lock(input_key(digest), told(f"waiting for another process clustering the same points as {what}, "
                                             "to copy its result"))):
        if store.has(key):
            return key
        result, copied_from = _stored_twin(store, digest)
        if result is None:
            before = None if previous is None else find_directprobe(store, previous, layer)
            planes = None if before is None else DirectProbeResult.load_label_planes(before)
            result = directprobe(np.asarray(X, dtype=np.float64), y, n_labels=len(names), progress=progress,
                                 label_planes=planes)
        with store.create("directprobe", spec) as writer:
            result.save(writer)
            writer.summary.update({k: source.summary.get(k) for k in ("model", "task", "split")})
            writer.summary.update({"entry": entry, "layer": int(layer), "label_names": names,
                                   "input_digest": digest, "copied_from": copied_from})
            if copied_from is not None:
                writer.summary["seconds"] = None  # nothing was clustered for this entry
        if copied_from is None:
            _name_result(store, digest, key)
    return key


def _name_result(store: Store, digest: str, key: str) -> None:
    """Make the ``dpinput`` entry of ``digest`` name ``key``, replacing one whose result is gone or
    unreadable (entries are immutable: the old one is deleted first)."""
    alias = input_key(digest)
    if store.has(alias):
        try:
            store.delete(alias)
        except StoreError:
            pass  # another process removed it first
    with store.create("dpinput", {"digest": digest, "version": DIRECTPROBE_VERSION}) as writer:
        writer.summary["result"] = key


def _stored_twin(store: Store, digest: str) -> tuple[DirectProbeResult | None, str | None]:
    """The stored result of a run on the same input digest, with its key, or (None, None) when there is
    none or it cannot be read (then the layer is clustered afresh)."""
    try:
        alias = store.get(input_key(digest))
        twin = None if alias is None else store.get(str(alias.summary.get("result")))
        if twin is None or twin.summary.get("input_digest") != digest:
            return None, None
        result = DirectProbeResult.load(twin)
        result.label_planes = DirectProbeResult.load_label_planes(twin) or None
    except (StoreError, OSError, ValueError, KeyError, TypeError):
        return None, None
    return result, twin.key


def probe_spec(train: str, test: str, layer: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """What determines a probe result: train and test representations, layer, grid and seeds, code."""
    return {"train": train, "test": test, "layer": int(layer), "config": config or PROBE_DEFAULTS,
            "version": PROBE_VERSION}


def find_probe(store: Store, train: str, test: str, layer: int, config: dict[str, Any] | None = None) -> Entry | None:
    return store.get(make_key("probe", probe_spec(train, test, layer, config)))


def compute_probe(store: Store, train: str, test: str, layer: int, config: dict[str, Any] | None = None) -> str:
    """The MLP probe on one layer, trained on ``train`` and tested on ``test``; stored; returns its key."""
    spec = probe_spec(train, test, layer, config)
    key = make_key("probe", spec)
    if store.has(key):
        return key
    X_train, y_train = representation(store[train], layer)
    X_test, y_test = representation(store[test], layer)
    config = spec["config"]
    with store.lock(key):
        if store.has(key):
            return key
        result = mlp_probe(X_train, y_train, X_test, y_test, hidden_sizes=tuple(config["hidden_sizes"]),
                           seeds=tuple(config["seeds"]), max_epochs=config["max_epochs"])
        with store.create("probe", spec) as writer:
            writer.save_table("grid", result.grid)
            writer.save_table("runs", result.runs)
            writer.summary.update({"layer": int(layer), "best_size": list(result.best_size), "mean": result.mean,
                                   "std": result.std, "majority_accuracy": result.majority_accuracy,
                                   "task": store[test].summary.get("task"), "model": store[test].summary.get("model")})
    return key
