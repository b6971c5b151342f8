"""Tables describing what the store holds, for the CLI and the dashboard."""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from .finetune import list_runs, run_metrics, run_snapshots
from .geometry import (LayerSnapshot, Projection, centroid_shift_pca, centroid_trajectories, cross_task_table,
                       layer_behaviour, linearity_table, min_distance_dynamics)
from .results import compute_directprobe, compute_probe, find_directprobe, find_probe
from .store import Entry, Store, make_key

COLUMNS = ["key", "kind", "model", "task", "split", "n_targets", "n_layers", "dim", "megabytes", "created"]


def store_table(store: Store, kind: str | None = None) -> pd.DataFrame:
    """One row per stored entry: what it is (model, task, split, size) and when it was made."""
    rows = []
    for e in store.ls(kind):
        s = e.summary
        rows.append({"key": e.key, "kind": e.kind, "model": s.get("model"), "task": s.get("task"),
                     "split": s.get("split"), "n_targets": s.get("n_targets"), "n_layers": s.get("n_layers"),
                     "dim": s.get("dim"), "megabytes": round(e.size_bytes() / 2**20, 2),
                     "created": e.meta.get("created")})
    return pd.DataFrame(rows, columns=COLUMNS)


STUDY_COLUMNS = ["model", "task", "splits", "n_labels", "n_targets", "n_layers", "dim", "runs", "seeds",
                 "snapshots"]


def embed_entries(store: Store) -> list[Entry]:
    """Every stored representation (kind ``embed``), oldest first."""
    return store.ls("embed")


def studies(store: Store) -> pd.DataFrame:
    """One row per (model, task) the store holds: splits and sizes, and its fine-tuning runs."""
    rows: dict[tuple[str, str], dict] = {}
    for e in embed_entries(store):
        s = e.summary
        row = rows.setdefault((s.get("model"), s.get("task")), {
            "model": s.get("model"), "task": s.get("task"), "splits": [], "n_labels": len(s.get("label_names", [])),
            "n_targets": 0, "n_layers": s.get("n_layers"), "dim": s.get("dim")})
        row["splits"].append(s.get("split"))
        row["n_targets"] += int(s.get("n_targets") or 0)
    runs = list_runs(store)
    for row in rows.values():
        mine = runs[(runs["model"] == row["model"]) & (runs["task"] == row["task"])]
        row |= {"runs": len(mine), "seeds": len(set(mine["seed"])), "snapshots": int(mine["n_snapshots"].sum())}
    table = pd.DataFrame(list(rows.values()), columns=STUDY_COLUMNS)
    table["splits"] = table["splits"].map(lambda v: ", ".join(sorted(set(v))))
    return table.sort_values(["model", "task"], ignore_index=True)


def study_runs(store: Store, model: str, task: str) -> pd.DataFrame:
    """The fine-tuning runs of ``model`` on ``task`` (rows of :func:`analysis.finetune.list_runs`).

    Ordered by seed, then recipe, then run id, so menus list them the same way on every machine
    (creation times tie when runs start together).
    """
    runs = list_runs(store)
    mine = runs[(runs["model"] == model) & (runs["task"] == task)]
    order = mine.assign(_recipe=[recipe_label(r) for _, r in mine.iterrows()])
    order = order.sort_values(["seed", "_recipe", "run"], kind="stable")
    return mine.loc[order.index].reset_index(drop=True)


def run_label(run: pd.Series) -> str:
    """A short human name for a run: seed, then its recipe (and status unless done)."""
    label = f"seed {run['seed']} · {recipe_label(run)}"
    return label if run["status"] == "done" else f"{label} · {run['status']}"


def recipe_label(run: pd.Series) -> str:
    """What a run's training did, seed aside: optimizer, re-initialised layers, length, sample size."""
    parts = [str(run["optimizer"])]
    if run.get("reinit_layers"):
        parts.append(f"re-init {run['reinit_layers']}")
    length = (int(run["steps"]), "update") if pd.notna(run.get("steps")) else (int(run["epochs"]), "epoch")
    parts.append(f"{length[0]} {length[1]}{'s' if length[0] != 1 else ''}")
    if pd.notna(run.get("train_size")):
        parts.append(f"n={run['train_size']}")
    return " · ".join(parts)


def seed_table(store: Store, model: str, task: str) -> pd.DataFrame:
    """``recipe, seed, test_accuracy, majority_baseline, failed`` for every finished run of a study."""
    runs = study_runs(store, model, task)
    runs = runs[runs["status"] == "done"]
    return pd.DataFrame({"recipe": [recipe_label(r) for _, r in runs.iterrows()], "seed": runs["seed"],
                         "test_accuracy": runs["test_accuracy"].astype(float),
                         "majority_baseline": runs["majority_baseline"].astype(float),
                         "failed": runs["failed"].astype(bool), "run": runs["run"]}).reset_index(drop=True)


def training_curves(store: Store, model: str, task: str) -> pd.DataFrame:
    """``recipe, seed, run, step, test_accuracy, train_loss`` of every run of a study, for learning curves."""
    frames = []
    for _, r in study_runs(store, model, task).iterrows():
        metrics = run_metrics(store, r["run"])[["step", "test_accuracy", "train_loss"]]
        frames.append(metrics.assign(recipe=recipe_label(r), seed=r["seed"], run=r["run"]))
    columns = ["recipe", "seed", "run", "step", "test_accuracy", "train_loss"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def snapshot_steps(store: Store, run: str, task: str, split: str) -> pd.DataFrame:
    """``step, epoch, entry`` of ``run``'s stored snapshots of ``task`` (its own or a probe task) on ``split``."""
    snaps = run_snapshots(store, run)
    own = snaps[(snaps["split"] == split) & (snaps["task"] == task)]
    return own[["step", "epoch", "entry"]].reset_index(drop=True)


def find_embed(store: Store, model: str, task: str, split: str) -> Entry | None:
    """The newest stored representation of ``task``/``split`` under ``model``, if any."""
    found = [e for e in embed_entries(store) if (e.summary.get("model"), e.summary.get("task"),
                                                   e.summary.get("split")) == (model, task, split)]
    return found[-1] if found else None


def targets_table(entry: Entry, context: int = 12) -> pd.DataFrame:
    """One row per target: label name, target text and its sentence (±``context`` words, target in bold)."""
    targets = entry.json("targets")
    names = entry.summary["label_names"]
    labels = entry.array("labels", mmap=False)
    sentence_of = entry.array("target_sentence", mmap=False)
    sentences, words_of = targets["sentences"], targets["target_words"]
    words, contexts = [], []
    for sent, idx in zip(sentence_of.tolist(), words_of):
        tokens = sentences[sent]
        words.append(" ".join(tokens[i] for i in idx) if idx else "[sentence]")
        contexts.append(_in_context(tokens, idx, context))
    return pd.DataFrame({"label": [names[i] for i in labels.tolist()], "word": words, "context": contexts})


def _in_context(tokens: list[str], idx: list[int], context: int) -> str:
    """The sentence around the target with the target words in bold (HTML, for hover text)."""
    if not idx:
        lo, hi = 0, min(len(tokens), 2 * context)
    else:
        lo, hi = max(0, min(idx) - context), min(len(tokens), max(idx) + context + 1)
    marked = set(idx)
    text = " ".join(f"<b>{escape(tokens[i])}</b>" if i in marked else escape(tokens[i]) for i in range(lo, hi))
    return ("… " if lo > 0 else "") + text + (" …" if hi < len(tokens) else "")


def _layer(store: Store, key: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
    from .embed import representation

    return representation(store[key], layer)


def centroid_paths(store: Store, steps: pd.DataFrame, layer: int) -> Projection:
    """Label centroids of one layer at every snapshot (``steps``: step, entry), in one shared PCA."""
    entries = list(zip(steps["step"], steps["entry"]))
    names = store[entries[0][1]].summary["label_names"]
    return centroid_trajectories([(step, *_layer(store, key, layer)) for step, key in entries], names)


def centroid_shift(store: Store, before: str, after: str, layer: int) -> Projection:
    """PCA of each label's centroid difference vector between two snapshots of one layer."""
    names = store[before].summary["label_names"]
    X0, y0 = _layer(store, before, layer)
    X1, y1 = _layer(store, after, layer)
    return centroid_shift_pca(X0, y0, X1, y1, names)


LAYERS_VERSION = "layers-1"
"""Bump when the layer-similarity computation changes (part of the stored table's key)."""


def layer_similarity_spec(store: Store, run: str, task: str, split: str) -> dict:
    """What determines a run's layer-similarity table: the snapshot entries compared, and the code."""
    steps = snapshot_steps(store, run, task, split)
    return {"run": run, "task": task, "split": split, "entries": list(steps["entry"]), "version": LAYERS_VERSION}


def stored_layer_similarity(store: Store, run: str, task: str, split: str) -> pd.DataFrame | None:
    """The stored ``step, layer, metric, value`` table of a run, or ``None`` if not computed yet."""
    entry = store.get(make_key("layers", layer_similarity_spec(store, run, task, split)))
    return None if entry is None else pd.DataFrame(entry.json("layers"))


def compute_layer_similarity(store: Store, run: str, task: str, split: str) -> str:
    """Compare every layer at every snapshot with the same layer at the first one; store the table.

    Linear CKA and centroid RSA (spatial similarity needs DirectProbe distances and stays NaN).
    Prints a progress bar; returns the entry key.
    """
    from tqdm.auto import tqdm

    spec = layer_similarity_spec(store, run, task, split)
    key = make_key("layers", spec)
    if store.has(key):
        return key
    first = spec["entries"][0]
    n_layers = int(store[first].summary["n_layers"])
    steps = snapshot_steps(store, run, task, split)
    y = store[first].array("labels", mmap=False)
    original = {layer: LayerSnapshot(int(steps["step"].iloc[0]), layer, _layer(store, first, layer)[0])
                for layer in range(n_layers)}
    pairs = [(int(step), entry, layer) for step, entry in zip(steps["step"], steps["entry"])
             for layer in range(n_layers)]
    snapshots = (LayerSnapshot(step, layer, _layer(store, entry, layer)[0])
                 for step, entry, layer in tqdm(pairs, desc="layer similarity", unit="layer"))
    table = layer_behaviour(snapshots, original, y)
    with store.lock(key), store.create("layers", spec) as writer:
        writer.save_json("layers", table.astype({"value": float}).to_dict(orient="list"))
        writer.summary.update({"run": run, "task": task, "split": split, "n_snapshots": len(steps),
                               "n_layers": n_layers})
    return key


def directprobe_layers(store: Store, entries: list[str], layers: list[int]) -> list[str]:
    """DirectProbe on every (entry, layer) not stored yet (:func:`analysis.results.compute_directprobe`).

    One degenerate layer does not stop the others; failures are listed at the end. Prints progress.
    """
    from tqdm.auto import tqdm

    keys, failed = [], []
    for entry, layer in tqdm([(e, int(l)) for e in entries for l in layers], desc="DirectProbe", unit="layer"):
        try:
            keys.append(compute_directprobe(store, entry, layer))
        except (ValueError, ArithmeticError) as exc:
            failed.append(f"{entry} layer {layer}: {type(exc).__name__}: {exc}")
            print(f"DirectProbe failed on {failed[-1]}", flush=True)
    if failed:
        raise RuntimeError(f"DirectProbe failed on {len(failed)} layer(s): " + "; ".join(failed))
    return keys


def missing_directprobe(store: Store, entries: list[str], layers: list[int]) -> list[tuple[str, int]]:
    """The (entry, layer) pairs without a stored DirectProbe result."""
    return [(e, l) for e in entries for l in layers if find_directprobe(store, e, l) is None]


def linearity(store: Store, original: str, fine_tuned: str | None) -> pd.DataFrame:
    """Per layer: #labels, #clusters and linearity before and after fine-tuning (from stored DirectProbe)."""
    records = []
    for state, entry in (("original", original), ("fine-tuned", fine_tuned)):
        if entry is None:
            continue
        for layer in range(int(store[entry].summary["n_layers"])):
            found = find_directprobe(store, entry, layer)
            if found is not None:
                s = found.summary
                records.append({"layer": layer, "model_state": state, "n_clusters": s["n_clusters"],
                                "n_labels": len(store[entry].summary["label_names"]), "is_linear": s["is_linear"]})
    return linearity_table(records) if records else pd.DataFrame()


def distance_dynamics(store: Store, steps: pd.DataFrame, layer: int) -> pd.DataFrame:
    """``step, label, min_distance`` over the snapshots of one layer (stored DirectProbe results)."""
    names = store[steps["entry"].iloc[0]].summary["label_names"]
    matrices = [np.asarray(find_directprobe(store, e, layer).array("label_distances")) for e in steps["entry"]]
    return min_distance_dynamics(list(steps["step"]), matrices, names)


def label_distances(store: Store, entry: str, layer: int) -> np.ndarray:
    """DirectProbe's label × label distance matrix of one layer of one entry."""
    return np.asarray(find_directprobe(store, entry, layer).array("label_distances"))


def clusters(store: Store, entry: str, layer: int) -> tuple[list[str], list[str], list[str]] | None:
    """DirectProbe clusters of one layer: each target's cluster name ("LABEL·k"), then every cluster's name
    and label in label order; ``None`` if not computed."""
    found = find_directprobe(store, entry, layer)
    if found is None:
        return None
    names = store[entry].summary["label_names"]
    cluster_labels = [names[i] for i in np.asarray(found.array("cluster_labels"))]
    counts: dict[str, int] = {}
    cluster_names = []
    for label in cluster_labels:
        counts[label] = counts.get(label, 0) + 1
        cluster_names.append(f"{label}·{counts[label]}")
    assignment = np.asarray(found.array("assignment"))
    order = sorted(range(len(cluster_names)), key=lambda i: (names.index(cluster_labels[i]), cluster_names[i]))
    return ([cluster_names[i] for i in assignment.tolist()], [cluster_names[i] for i in order],
            [cluster_labels[i] for i in order])


def probe_layers(store: Store, pairs: list[list[str]], layers: list[int]) -> list[str]:
    """The paper's MLP probe on every (train, test) pair and layer not stored yet; prints progress."""
    from tqdm.auto import tqdm

    return [compute_probe(store, train, test, int(layer))
            for (train, test), layer in tqdm([(p, l) for p in pairs for l in layers], desc="probes", unit="probe")]


def probe_table(store: Store, states: dict[str, tuple[str, str]], n_layers: int) -> pd.DataFrame:
    """``layer, model_state, mean, std, majority_accuracy`` from stored probes; ``states``: name → (train, test)."""
    rows = []
    for state, (train, test) in states.items():
        for layer in range(n_layers):
            found = find_probe(store, train, test, layer)
            if found is not None:
                s = found.summary
                rows.append({"layer": layer, "model_state": state, "mean": s["mean"], "std": s["std"],
                             "majority_accuracy": s["majority_accuracy"]})
    return pd.DataFrame(rows, columns=["layer", "model_state", "mean", "std", "majority_accuracy"])


def cross_task_pairs(store: Store, model: str) -> pd.DataFrame:
    """``fine_tuned_on, analysed_task, run, before, after``: for each finished run of ``model`` and each task
    its snapshots hold (its own and its probe tasks), the first and last test-split snapshot entries."""
    rows = []
    runs = list_runs(store)
    for _, run in runs[(runs["model"] == model) & (runs["status"] == "done")].iterrows():
        snaps = run_snapshots(store, run["run"])
        for task, part in snaps.groupby("task"):
            split = "test" if (part["split"] == "test").any() else part["split"].iloc[0]
            part = part[part["split"] == split].sort_values("step")
            if len(part) >= 2:
                rows.append({"fine_tuned_on": run["task"], "analysed_task": task, "run": run["run"],
                             "before": part["entry"].iloc[0], "after": part["entry"].iloc[-1]})
    table = pd.DataFrame(rows, columns=["fine_tuned_on", "analysed_task", "run", "before", "after"])
    return table.drop_duplicates(["fine_tuned_on", "analysed_task"]).reset_index(drop=True)


def cross_task(store: Store, pairs: pd.DataFrame, layer: int) -> pd.DataFrame:
    """The task × task table (:func:`analysis.geometry.cross_task_table`) at one layer, from stored DirectProbe."""
    records = [{"fine_tuned_on": p.fine_tuned_on, "analysed_task": p.analysed_task,
                "min_before": np.asarray(find_directprobe(store, p.before, layer).array("min_label_distance")),
                "min_after": np.asarray(find_directprobe(store, p.after, layer).array("min_label_distance"))}
               for p in pairs.itertuples()]
    return cross_task_table(records)


def study_summary(store: Store) -> pd.DataFrame:
    """Table-7-style summary per study, at the last layer of its first finished run: #clusters and probe
    accuracy before → after fine-tuning, and what is computed (``None`` where not computed yet)."""
    table = studies(store)
    rows = []
    for study in table.itertuples():
        row = {"clusters": None, "probe accuracy": None, "DirectProbe": 0, "layer similarity": "–"}
        runs = study_runs(store, study.model, study.task)
        done = runs[runs["status"] == "done"]
        last = int(study.n_layers) - 1
        if len(done):
            run = done["run"].iloc[0]
            test = snapshot_steps(store, run, study.task, "test")["entry"]
            train = snapshot_steps(store, run, study.task, "train")["entry"]
            found = [find_directprobe(store, e, last) for e in (test.iloc[0], test.iloc[-1])]
            if all(found):
                row["clusters"] = " → ".join(str(f.summary["n_clusters"]) for f in found)
            if len(train):
                ends = ((train.iloc[0], test.iloc[0]), (train.iloc[-1], test.iloc[-1]))
                probes = [find_probe(store, tr, te, last) for tr, te in ends]
                if all(probes):
                    row["probe accuracy"] = " → ".join(f"{p.summary['mean']:.3f}" for p in probes)
            with_table = sum(stored_layer_similarity(store, r, study.task, "test") is not None for r in done["run"])
            row["layer similarity"] = f"{with_table}/{len(done)} runs"
        row["DirectProbe"] = sum(1 for e in store.ls("directprobe")
                                 if (e.summary.get("model"), e.summary.get("task")) == (study.model, study.task))
        rows.append(row)
    return pd.concat([table, pd.DataFrame(rows, index=table.index).fillna("—")], axis=1)
