"""Benchmark dashboard page renders with AppTest on a generated store the size of a BERT-base study.

Generates one fine-tuning run of 20 snapshots × 13 layers × 768 dims (plus the pre-trained entry)
over ``--targets`` labelled targets, in the store's real layout (embed/snapshot entries and a run
record), then renders every page twice with Streamlit's AppTest: cold (Streamlit caches cleared;
the OS page cache still holds the freshly written arrays) and warm (same session, second run).
DirectProbe results are generated in their stored layout (real ones would take hours here);
the layer-similarity table is really computed, as the dashboard's background job does.
Prints seconds per page; the goal is < 3 s cold and < 1 s warm.

    python bench/dashboard.py [--targets 5000] [--snapshots 20] [--layers 13] [--dim 768] [--store DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.embed import layer_name  # noqa: E402
from analysis.finetune.options import TrainOptions  # noqa: E402
from analysis.finetune.runs import write_record  # noqa: E402
from analysis.store import Store, make_key  # noqa: E402

PAGES = ["overview", "embeddings", "linearity", "distances", "centroids", "layers", "probes", "compare",
         "cross_task", "stability", "runs", "report"]
LABELS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
          "SCONJ", "SYM", "VERB", "X"]
MODEL, TASK = "bench-bert-base", "pos"


def write_entry(store: Store, kind: str, spec: dict, X0: np.ndarray, drift: np.ndarray, t: float,
                labels: np.ndarray, sentences: list[list[str]], summary: dict) -> str:
    """One entry with every layer's (targets × dim) array, moved ``t`` of the way along ``drift``."""
    with store.create(kind, spec) as w:
        for layer in range(X0.shape[0]):
            w.save_array(layer_name(layer), (X0[layer] + t * (layer + 1) / X0.shape[0] * drift[layer])
                         .astype(np.float32))
        w.save_array("labels", labels)
        w.save_array("target_sentence", np.arange(len(labels)) // 20)
        w.save_json("targets", {"sentences": sentences, "target_words": [[i % 20] for i in range(len(labels))]})
        w.summary.update(summary)
    return make_key(kind, spec)


def generate(store: Store, n: int, n_layers: int, n_snapshots: int, dim: int, seed: int = 0) -> str:
    """Write the pre-trained entry, the snapshots and the run record; returns the run key."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(LABELS), n)
    centres = rng.normal(size=(n_layers, len(LABELS), dim)).astype(np.float32)
    X0 = centres[:, labels] + rng.normal(scale=2.0, size=(n_layers, n, dim)).astype(np.float32)
    drift = 3 * centres[:, labels]
    sentences = [[f"w{s}_{i}" for i in range(20)] for s in range((n + 19) // 20)]
    summary = {"model": MODEL, "task": TASK, "split": "test", "kind": "word", "n_targets": n,
               "n_layers": n_layers, "dim": dim, "dtype": "float32", "label_names": LABELS,
               "label_counts": {name: int(c) for name, c in zip(LABELS, np.bincount(labels, minlength=len(LABELS)))}}
    base = {"model": "bench", "task": TASK, "split": "test", "n": n, "dim": dim}
    run = make_key("run", base)
    steps = [int(s) for s in np.linspace(0, 2000, n_snapshots)]
    snapshots = []
    for step in steps:
        kind, spec = ("embed", base) if step == 0 else ("snapshot", base | {"weights": {"run": run, "step": step}})
        key = write_entry(store, kind, spec, X0, drift, step / steps[-1], labels, sentences,
                          summary | ({"step": step, "run": run} if step else {}))
        snapshots.append({"step": step, "epoch": step / 200, "task": TASK, "split": "test", "entry": key})
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    metrics = [{"step": s, "epoch": s / 200, "epoch_end": s % 200 == 0, "train_loss": 1 / (1 + s / 100),
                "epoch_loss": None, "test_accuracy": 0.5 + 0.4 * s / steps[-1], "test_loss": 1.0, "lr": 2e-5}
               for s in steps]
    write_record(store, {
        "run": run, "group": make_key("rungroup", base), "spec": base, "model": MODEL, "model_path": "",
        "task": TASK, "seed": 1, "options": TrainOptions().as_dict(), "task_options": {}, "status": "done",
        "error": None, "step": steps[-1], "total_steps": steps[-1], "updates_per_epoch": 200, "n_train": n,
        "label_names": LABELS, "majority_baseline": 0.1, "checkpoint": None, "metrics": metrics,
        "snapshots": snapshots, "final": {"test_accuracy": 0.9, "failed": False}, "train_seconds": 0.0,
        "snapshot_seconds": 0.0, "eval_seconds": 0.0, "created": now, "updated": now})
    return run


def fake_directprobe(store: Store, entries: list[str], n_layers: int, seed: int = 0) -> None:
    """Store DirectProbe-shaped results (2 clusters per label, shrinking distances) for every entry and layer.

    Real DirectProbe on a BERT-base study takes hours; the pages only read these arrays.
    """
    from analysis.results import directprobe_spec
    from analysis.directprobe import DirectProbeResult

    rng = np.random.default_rng(seed)
    L = len(LABELS)
    for i, key in enumerate(entries):
        labels = np.asarray(store[key].array("labels", mmap=False))
        for layer in range(n_layers):
            assignment = labels * 2 + rng.integers(0, 2, len(labels))
            D = np.abs(rng.normal(1 + i / 5, 0.3, (L, L)))
            D = (D + D.T) / 2
            np.fill_diagonal(D, np.nan)
            C = np.full((2 * L, 2 * L), np.nan)
            result = DirectProbeResult(assignment=assignment, cluster_labels=np.repeat(np.arange(L), 2),
                                       cluster_distances=C, cluster_distance_lower=C, label_distances=D,
                                       min_label_distance=np.nanmin(D, axis=1), conflicts=[], stats={})
            with store.create("directprobe", directprobe_spec(key, layer)) as writer:
                result.save(writer)


def render_times(run: str, n_layers: int) -> list[tuple[str, float, float]]:
    """(page, cold seconds, warm seconds) for every page."""
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # AppTest forgets st.navigation between runs (see tests/test_app.py)
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    params = {"model": MODEL, "task": TASK, "run": run, "split": "test", "layer": str(n_layers - 1)}
    out = []
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params.update(params)
        start = time.perf_counter()
        at.run()  # the home page (Overview)
        cold = time.perf_counter() - start
        if page != "overview":
            st.cache_data.clear()  # the sidebar's tables too
            at.switch_page(f"pages/{page}.py")
            start = time.perf_counter()
            at.run()
            cold = time.perf_counter() - start
        start = time.perf_counter()
        at.run()
        warm = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].message}")
        out.append((page, cold, warm))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--store", default=None, help="where to generate the store (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        store = Store(args.store or tmp)
        start = time.perf_counter()
        run = generate(store, args.targets, args.layers, args.snapshots, args.dim)
        size = sum(f.stat().st_size for f in store.entries.rglob("*.npy")) / 2**30
        print(f"generated {args.snapshots} snapshots × {args.layers} layers × {args.targets} targets × {args.dim} "
              f"dims ({size:.1f} GiB) in {time.perf_counter() - start:.0f} s")
        from analysis.catalog import snapshot_steps
        from analysis.views import compute_layer_similarity

        start = time.perf_counter()
        compute_layer_similarity(store, run, TASK, "test")
        print(f"layer similarity (CKA, RSA; a background job in the dashboard): {time.perf_counter() - start:.0f} s")
        fake_directprobe(store, list(snapshot_steps(store, run, TASK, "test")["entry"]), args.layers)
        os.environ["FTGEO_STORE"] = str(store.root)
        print(f"{'page':<12} {'cold s':>8} {'warm s':>8}")
        for page, cold, warm in render_times(run, args.layers):
            print(f"{page:<12} {cold:>8.2f} {warm:>8.2f}")


if __name__ == "__main__":
    main()
