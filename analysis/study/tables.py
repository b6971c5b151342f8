"""The paper's tables and figure data for one study, assembled from stored results.

Each table is a tidy DataFrame with a ``seed`` column where results differ by seed; the
original model (update 0) is shared by all seeds and repeated under each.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..embed import representation
from ..finetune import list_runs, run_metrics, seed_spread
from ..geometry import (FINE_TUNED, ORIGINAL, LayerSnapshot, Projection, centroid_shift_pca, centroid_trajectories,
                        cross_task_table, layer_behaviour, linearity_table, min_distance_dynamics,
                        min_distance_extremes, seed_intervals, train_test_divergence)
from ..results import find_probe, load_directprobe, reading_once
from ..store import Store
from .spec import StudySpec

TABLES = ("runs", "seed_spread", "metrics", "directprobe", "linearity", "divergence", "dynamics",
          "dynamics_extremes", "trajectories", "shift", "layers", "cross_task", "probes", "seed_intervals")


def directprobe_table(store: Store, snaps: pd.DataFrame) -> pd.DataFrame:
    """Every stored DirectProbe result of the study's snapshots: cluster counts and linearity."""
    rows = []
    for _, s in snaps.iterrows():
        for layer in range(int(s["n_layers"])):
            result = load_directprobe(store, s["entry"], layer)
            if result is None:
                continue
            rows.append({"seed": s["seed"], "step": s["step"], "epoch": s["epoch"], "task": s["task"],
                         "split": s["split"], "layer": layer, "n_clusters": result.n_clusters,
                         "n_labels": int(np.unique(result.cluster_labels).size), "is_linear": result.is_linear,
                         "min_distance_mean": float(np.nanmean(result.min_label_distance))
                         if np.isfinite(result.min_label_distance).any() else np.nan,
                         "entry": s["entry"]})
    return pd.DataFrame(rows, columns=["seed", "step", "epoch", "task", "split", "layer", "n_clusters", "n_labels",
                                       "is_linear", "min_distance_mean", "entry"])


def _state(step: int, final: bool) -> str | None:
    return ORIGINAL if step == 0 else FINE_TUNED if final else None


def _main(snaps: pd.DataFrame, task: str, split: str = "train") -> pd.DataFrame:
    return snaps[(snaps["task"] == task) & (snaps["split"] == split)]


def study_tables(store: Store, spec: StudySpec, runs: list[str], snaps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every analysis of the study as a DataFrame, keyed by the names in :data:`TABLES` (each stored
    DirectProbe result is read once)."""
    with reading_once():
        return _tables(store, spec, runs, snaps)


def _tables(store: Store, spec: StudySpec, runs: list[str], snaps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    task = spec.task
    dp = directprobe_table(store, snaps)
    all_runs = list_runs(store)
    ordered = all_runs.set_index("run").loc[runs].reset_index()  # in seed order, however the runs finished
    out: dict[str, pd.DataFrame] = {"runs": ordered[all_runs.columns]}
    out["seed_spread"] = seed_spread(out["runs"])
    out["metrics"] = pd.concat([run_metrics(store, r).assign(seed=out["runs"].set_index("run").loc[r, "seed"])
                                for r in runs], ignore_index=True)
    out["directprobe"] = dp
    finals = snaps.groupby("seed")["step"].max()
    state = [_state(step, step == finals[seed]) for seed, step in zip(dp["seed"], dp["step"])]
    ends = dp.assign(model_state=state).dropna(subset=["model_state"])

    main = ends[(ends["task"] == task) & (ends["split"] == "train")]
    out["linearity"] = linearity_table(main[["task", "seed", "layer", "model_state", "n_clusters", "n_labels",
                                             "is_linear"]]) if len(main) else pd.DataFrame()
    out["divergence"] = _divergence(store, ends[ends["task"] == task])
    out["dynamics"], out["dynamics_extremes"] = _dynamics(store, snaps, task)
    out["trajectories"], out["shift"] = _centroids(store, snaps, task)
    out["layers"] = _layers(store, snaps, task)
    out["cross_task"] = _cross_task(store, spec, snaps)
    out["probes"] = _probes(store, spec, snaps)
    out["seed_intervals"] = _seed_intervals(out)
    return out


def _divergence(store: Store, ends: pd.DataFrame) -> pd.DataFrame:
    records = []
    for (seed, state, layer), group in ends.groupby(["seed", "model_state", "layer"]):
        entries = dict(zip(group["split"], group["entry"]))
        if {"train", "test"} - entries.keys():
            continue
        a = load_directprobe(store, entries["train"], layer)
        b = load_directprobe(store, entries["test"], layer)
        records.append({"seed": seed, "layer": layer, "model_state": state, "train_distances": a.label_distances,
                        "test_distances": b.label_distances, "train_linear": a.is_linear,
                        "test_linear": b.is_linear})
    return train_test_divergence(records) if records else pd.DataFrame()


def _last_layer_series(store: Store, snaps: pd.DataFrame, task: str) -> Iterator[tuple[int, pd.DataFrame, int]]:
    """Per seed: its train snapshots of the main task (sorted by step) and the last layer index."""
    main = _main(snaps, task)
    for seed, group in main.groupby("seed"):
        yield int(seed), group.sort_values("step"), int(group["n_layers"].iloc[0]) - 1


def _dynamics(store: Store, snaps: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, extremes = [], []
    for seed, group, last in _last_layer_series(store, snaps, task):
        table = distance_dynamics(store, list(zip(group["step"], group["entry"])), last)
        if table is None:
            continue
        frames.append(table.assign(seed=seed, layer=last))
        extremes.append(min_distance_extremes(table, k=5).assign(seed=seed))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
            pd.concat(extremes, ignore_index=True) if extremes else pd.DataFrame())


def _centroids(store: Store, snaps: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths, shifts = [], []
    for seed, group, last in _last_layer_series(store, snaps, task):
        series = list(zip(group["step"], group["entry"]))
        paths.append(centroid_paths(store, series, last).points.assign(seed=seed, layer=last))
        shifts.append(centroid_shift(store, series[0][1], series[-1][1], last).points.assign(seed=seed, layer=last))
    return (pd.concat(paths, ignore_index=True) if paths else pd.DataFrame(),
            pd.concat(shifts, ignore_index=True) if shifts else pd.DataFrame())


def _layers(store: Store, snaps: pd.DataFrame, task: str) -> pd.DataFrame:
    frames = [layer_similarity(store, list(zip(group["step"], group["entry"]))).assign(seed=seed)
              for seed, group, _ in _last_layer_series(store, snaps, task)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# The analyses behind the tables above for one run's snapshots of one task and split, given as
# ``series`` = [(step, entry), ...] by step; the dashboard uses them for any layer and split.

def distance_dynamics(store: Store, series: Sequence[tuple[int, str]], layer: int) -> pd.DataFrame | None:
    """``step, label, min_distance`` of one layer over the snapshots with a stored DirectProbe result."""
    results = [(int(s), load_directprobe(store, e, layer)) for s, e in series]
    results = [(s, r) for s, r in results if r is not None]
    if not results:
        return None
    names = store[series[0][1]].summary["label_names"]
    return min_distance_dynamics([s for s, _ in results], [r.label_distances for _, r in results], names)


def centroid_paths(store: Store, series: Sequence[tuple[int, str]], layer: int) -> Projection:
    """Every label's centroid of one layer at every snapshot, in one PCA fitted on all of them."""
    names = store[series[0][1]].summary["label_names"]
    return centroid_trajectories([(int(s), *representation(store[e], layer)) for s, e in series], names)


def centroid_shift(store: Store, before: str, after: str, layer: int) -> Projection:
    """PCA of each label's centroid difference vector (``after`` − ``before``) of one layer."""
    names = store[before].summary["label_names"]
    return centroid_shift_pca(*representation(store[before], layer), *representation(store[after], layer), names)


def layer_similarity(store: Store, series: Sequence[tuple[int, str]]) -> pd.DataFrame:
    """``step, layer, metric, value``: every layer at every snapshot against the same layer at the first
    (linear CKA, centroid RSA, and spatial similarity where DirectProbe results are stored)."""
    first = series[0][1]
    y = np.asarray(store[first].array("labels"))

    def snapshot(entry: str, step: int, layer: int) -> LayerSnapshot:
        X, _ = representation(store[entry], layer)
        result = load_directprobe(store, entry, layer)
        return LayerSnapshot(step, layer, X, None if result is None else result.label_distances,
                             False if result is None else result.is_linear)

    layers = range(int(store[first].summary["n_layers"]))
    original = {layer: snapshot(first, 0, layer) for layer in layers}
    later = (snapshot(e, int(s), layer) for s, e in series for layer in layers)
    return layer_behaviour(later, original, y)


def _cross_task(store: Store, spec: StudySpec, snaps: pd.DataFrame) -> pd.DataFrame:
    records = []
    others = snaps[(snaps["task"] != spec.task) & (snaps["split"] == "train")]
    for (seed, other), group in others.groupby(["seed", "task"]):
        group = group.sort_values("step")
        first, final = group.iloc[0], group.iloc[-1]
        last = int(first["n_layers"]) - 1
        before = load_directprobe(store, first["entry"], last)
        after = load_directprobe(store, final["entry"], last)
        if before is None or after is None or first["step"] != 0 or not final["final"]:
            continue
        record = {"fine_tuned_on": spec.task, "analysed_task": other, "seed": seed,
                  "min_before": before.min_label_distance, "min_after": after.min_label_distance}
        test = snaps[(snaps["seed"] == seed) & (snaps["task"] == other) & (snaps["split"] == "test")
                     & (snaps["step"] == final["step"])]
        probe = None if test.empty else find_probe(store, final["entry"], test["entry"].iloc[0], last,
                                                    _probe_config(spec))
        if probe is not None:
            record["probe_accuracy"] = probe.summary["mean"]
        records.append(record)
    frames = []
    for seed in sorted({r["seed"] for r in records}):
        table = cross_task_table([{k: v for k, v in r.items() if k != "seed"} for r in records if r["seed"] == seed])
        table.insert(2, "seed", seed)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _probe_config(spec: StudySpec) -> dict:
    return {"hidden_sizes": list(spec.probes.hidden_sizes), "seeds": list(spec.probes.seeds),
            "max_epochs": spec.probes.max_epochs}


def _probes(store: Store, spec: StudySpec, snaps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    config = _probe_config(spec)
    finals = snaps.groupby("seed")["step"].max()
    for (seed, step, task), group in snaps.groupby(["seed", "step", "task"]):
        state = _state(int(step), step == finals[seed])
        entries = dict(zip(group["split"], group["entry"]))
        if state is None or {"train", "test"} - entries.keys():
            continue
        for layer in range(int(group["n_layers"].iloc[0])):
            entry = find_probe(store, entries["train"], entries["test"], layer, config)
            if entry is None:
                continue
            s = entry.summary
            rows.append({"seed": seed, "task": task, "layer": layer, "model_state": state, "mean": s["mean"],
                         "std": s["std"], "majority_accuracy": s["majority_accuracy"],
                         "best_size": f"{s['best_size'][0]}x{s['best_size'][1]}"})
    return pd.DataFrame(rows, columns=["seed", "task", "layer", "model_state", "mean", "std", "majority_accuracy",
                                       "best_size"])


def _seed_intervals(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and bootstrap 95% interval across seeds of the headline metrics."""
    frames = []
    sources = [("runs", "test_accuracy", None), ("probes", "mean", ["task", "layer", "model_state"]),
               ("linearity", "n_clusters_fine_tuned", ["layer"]), ("divergence", "similarity_fine_tuned", ["layer"]),
               ("dynamics", "min_distance", ["step", "label"])]
    for name, value, by in sources:
        table = tables.get(name)
        if table is None or table.empty or value not in table:
            continue
        numeric = table.assign(**{value: pd.to_numeric(table[value], errors="coerce").astype(float)})
        frames.append(seed_intervals(numeric, value, by=by).assign(table=name, metric=value))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
