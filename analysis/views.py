"""What the dashboard's analysis pages show, as tidy tables, and the computations they offer.

Each view of a fine-tuning run reads the table of a stored study that holds the run where that
table covers the request (the study's task, its train split, the layers it analyses) and otherwise
computes it from stored representations and DirectProbe results with the same functions the study
tables are made with (:mod:`analysis.study.tables`), so a view never differs by where it came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .catalog import snapshot_steps, studies, study_runs
from .geometry import FINE_TUNED, ORIGINAL, cross_task_table, linearity_table
from .results import PROBE_DEFAULTS, compute_directprobe, compute_probe, find_directprobe, find_probe, load_directprobe
from .store import Entry, Store, make_key
from .study import ProbeConfig, study_table
from .study import tables as study_tables

Series = list[tuple[int, str]]
"""One run's snapshots of one task and split: (step, entry) by step."""


# ---------------------------------------------------------------- stored studies

@dataclass(frozen=True)
class RunStudy:
    """The stored study a run belongs to, and the run's seed in it."""

    entry: Entry
    seed: int

    @property
    def task(self) -> str:
        return self.entry.summary["task"]

    @property
    def last_layer(self) -> int:
        return int(self.entry.summary["n_layers"]) - 1

    def rows(self, name: str, **match: object) -> pd.DataFrame | None:
        """The run's rows of one of the study's tables (those equal to ``match``), ``None`` if it has none."""
        table = self.entry.table(name)
        if table.empty:
            return None
        keep = table["seed"] == self.seed
        for column, value in match.items():
            keep &= table[column] == value
        rows = table[keep].drop(columns=["seed", *match]).reset_index(drop=True)
        return rows if len(rows) else None

    @property
    def probe_settings(self) -> dict[str, Any]:
        """The settings the study probed with (:meth:`analysis.study.ProbeConfig.settings`)."""
        return ProbeConfig(**self.entry.spec["study"]["probes"]).settings()


def run_study(store: Store, run: str) -> RunStudy | None:
    """The newest stored study that holds ``run`` (``None`` for a run outside any study)."""
    for entry in reversed(store.ls("study")):
        if run in entry.summary.get("runs", []):
            runs = study_table(store, entry.key, "runs")
            return RunStudy(entry, int(runs.loc[runs["run"] == run, "seed"].iloc[0]))
    return None


def _covering(store: Store, run: str | None, task: str, split: str) -> RunStudy | None:
    """The run's study if it analysed ``task`` on ``split`` (a study analyses its own task's train split)."""
    found = None if run is None else run_study(store, run)
    return found if found is not None and found.task == task and split == "train" else None


def series(steps: pd.DataFrame) -> Series:
    """``steps`` (step, entry columns, as :func:`analysis.catalog.snapshot_steps` gives) as a series."""
    return [(int(s), str(e)) for s, e in zip(steps["step"], steps["entry"])]


# ---------------------------------------------------------------- views of a run

def linearity(store: Store, original: str, fine_tuned: str | None, run: str | None = None, task: str = "",
              split: str = "") -> pd.DataFrame:
    """Per layer: #labels present, #clusters and linearity of ``original`` and ``fine_tuned`` (DirectProbe).

    From the run's study where it covers ``task``/``split``, else from the stored DirectProbe results.
    """
    study = _covering(store, run, task, split)
    if study is not None and fine_tuned is not None:
        rows = study.rows("linearity", task=task)
        if rows is not None:
            return rows
    records = []
    for state, entry in ((ORIGINAL, original), (FINE_TUNED, fine_tuned)):
        for layer in range(int(store[entry].summary["n_layers"])) if entry else []:
            result = load_directprobe(store, entry, layer)
            if result is not None:
                records.append({"layer": layer, "model_state": state, "n_clusters": result.n_clusters,
                                "n_labels": int(np.unique(result.cluster_labels).size),
                                "is_linear": result.is_linear})
    return linearity_table(records) if records else pd.DataFrame()


def distance_dynamics(store: Store, steps: pd.DataFrame, layer: int, run: str | None = None, task: str = "",
                      split: str = "") -> pd.DataFrame | None:
    """``step, label, min_distance`` of one layer over a run's snapshots (``None`` without DirectProbe results)."""
    study = _covering(store, run, task, split)
    if study is not None and layer == study.last_layer:
        rows = study.rows("dynamics", layer=layer)
        if rows is not None:
            return rows
    return study_tables.distance_dynamics(store, series(steps), layer)


@dataclass(frozen=True)
class Paths:
    """Label centroids over snapshots in one PCA: ``points`` (step, label, pc1, pc2) and the variance
    shares of the two components (``None`` when read from a study, which does not store them)."""

    points: pd.DataFrame
    variance: tuple[float, float] | None


def centroid_paths(store: Store, steps: pd.DataFrame, layer: int, run: str | None = None, task: str = "",
                   split: str = "") -> Paths:
    """Each label's centroid of one layer at every snapshot of a run, in one shared PCA."""
    study = _covering(store, run, task, split)
    if study is not None and layer == study.last_layer:
        rows = study.rows("trajectories", layer=layer)
        if rows is not None:
            return Paths(rows, None)
    proj = study_tables.centroid_paths(store, series(steps), layer)
    return Paths(proj.points, (float(proj.explained_variance_ratio[0]), float(proj.explained_variance_ratio[1])))


def centroid_shift(store: Store, steps: pd.DataFrame, upto: int, layer: int, run: str | None = None,
                   task: str = "", split: str = "") -> pd.DataFrame:
    """``label, pc1, pc2, shift_norm``: PCA of each label's centroid movement from the first snapshot to ``upto``."""
    study = _covering(store, run, task, split)
    if study is not None and layer == study.last_layer and upto == int(steps["step"].iloc[-1]):
        rows = study.rows("shift", layer=layer)
        if rows is not None:
            return rows
    after = steps.loc[steps["step"] == upto, "entry"].iloc[0]
    return study_tables.centroid_shift(store, steps["entry"].iloc[0], after, layer).points


LAYERS_VERSION = "layers-2"
"""Bump when the layer-similarity computation changes (part of the stored table's key)."""


def _layers_spec(store: Store, run: str, task: str, split: str) -> dict:
    """What determines a run's layer-similarity table: the snapshot entries compared, and the code."""
    entries = list(snapshot_steps(store, run, task, split)["entry"])
    return {"run": run, "task": task, "split": split, "entries": entries, "version": LAYERS_VERSION}


def layer_similarity(store: Store, run: str, task: str, split: str) -> pd.DataFrame | None:
    """``step, layer, metric, value`` of a run: its study's table, else the stored one; ``None`` if neither."""
    study = _covering(store, run, task, split)
    rows = None if study is None else study.rows("layers")
    if rows is not None:
        return rows
    entry = store.get(make_key("layers", _layers_spec(store, run, task, split)))
    return None if entry is None else entry.table("layers")


def compute_layer_similarity(store: Store, run: str, task: str, split: str) -> str:
    """Every layer at every snapshot against the same layer at the first (linear CKA, centroid RSA, and
    spatial similarity where DirectProbe results are stored); stored; returns the entry key."""
    spec = _layers_spec(store, run, task, split)
    key = make_key("layers", spec)
    if store.has(key):
        return key
    steps = snapshot_steps(store, run, task, split)
    table = study_tables.layer_similarity(store, series(steps))
    with store.lock(key), store.create("layers", spec) as writer:
        writer.save_table("layers", table.astype({"value": float}))
        writer.summary.update({"run": run, "task": task, "split": split, "n_snapshots": len(steps),
                               "n_layers": int(table["layer"].max()) + 1})
    return key


def probe_settings(store: Store, run: str | None) -> dict[str, Any]:
    """The probe settings for a run's views: its study's (one table never mixes settings), else the defaults."""
    study = None if run is None else run_study(store, run)
    return PROBE_DEFAULTS if study is None else study.probe_settings


def probe_table(store: Store, states: dict[str, tuple[str, str]], n_layers: int,
                config: dict[str, Any]) -> pd.DataFrame:
    """``layer, model_state, mean, std, majority_accuracy`` of the MLP probes stored with ``config``
    (:func:`probe_settings`: a study's own probes, often the last layer only, and the layers probed
    later with the same settings); ``states``: name → (train, test). Pairs not probed are left out.
    """
    records = []
    for state, (train, test) in states.items():
        for layer in range(n_layers):
            found = find_probe(store, train, test, layer, config)
            if found is not None:
                s = found.summary
                records.append({"layer": layer, "model_state": state, "mean": s["mean"], "std": s["std"],
                                "majority_accuracy": s["majority_accuracy"]})
    return pd.DataFrame(records, columns=["layer", "model_state", "mean", "std", "majority_accuracy"])


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


def cross_task(store: Store, pairs: pd.DataFrame, layer: int) -> pd.DataFrame:
    """The task × task table (:func:`analysis.geometry.cross_task_table`) at one layer, from stored DirectProbe;
    ``pairs`` as :func:`analysis.catalog.cross_task_pairs` gives them."""
    records = [{"fine_tuned_on": p.fine_tuned_on, "analysed_task": p.analysed_task,
                "min_before": load_directprobe(store, p.before, layer).min_label_distance,
                "min_after": load_directprobe(store, p.after, layer).min_label_distance}
               for p in pairs.itertuples()]
    return cross_task_table(records)


# ---------------------------------------------------------------- the Overview's summary

def study_summary(store: Store) -> pd.DataFrame:
    """Table-7-style summary per (model, task), at the last layer: #clusters (train split where the run has
    one) and probe accuracy before → after fine-tuning, from the finished run with the most results (a
    study's run first; named in ``run``), and what is computed ("—" where not computed yet)."""
    table = studies(store)
    in_studies = {r for e in store.ls("study") for r in e.summary.get("runs", [])}
    rows = []
    for study in table.itertuples():
        runs = study_runs(store, study.model, study.task)
        done = runs[runs["status"] == "done"]
        last = int(study.n_layers) - 1
        candidates = [_run_summary(store, run, study.task, last)
                      for run in sorted(done["run"], key=lambda r: r not in in_studies)]
        row = max(candidates, key=lambda c: sum(v is not None for v in c.values()), default={})
        row = {"run": None, "clusters": None, "probe accuracy": None} | row
        if len(done):
            with_table = sum(layer_similarity(store, r, study.task, "train") is not None
                             or layer_similarity(store, r, study.task, "test") is not None for r in done["run"])
            row["layer similarity"] = f"{with_table}/{len(done)} runs"
        row["DirectProbe"] = sum(1 for e in store.ls("directprobe")
                                 if (e.summary.get("model"), e.summary.get("task")) == (study.model, study.task))
        rows.append(row)
    columns = ["run", "clusters", "probe accuracy", "layer similarity", "DirectProbe"]
    return pd.concat([table, pd.DataFrame(rows, index=table.index, columns=columns).fillna("—")], axis=1)


def _run_summary(store: Store, run: str, task: str, last: int) -> dict[str, Any]:
    """One finished run's #clusters and probe accuracy at the last layer, before → after (None: not stored)."""
    row: dict[str, Any] = {"run": run, "clusters": None, "probe accuracy": None}
    train = snapshot_steps(store, run, task, "train")
    test = snapshot_steps(store, run, task, "test")
    split, steps = ("train", train) if len(train) else ("test", test)
    if not len(steps):
        return row
    lin = linearity(store, steps["entry"].iloc[0], steps["entry"].iloc[-1], run, task, split)
    lin = lin[lin["layer"] == last] if len(lin) else lin
    if len(lin) and lin[["n_clusters_original", "n_clusters_fine_tuned"]].notna().all(axis=None):
        row["clusters"] = f"{lin['n_clusters_original'].iloc[0]:.0f} → {lin['n_clusters_fine_tuned'].iloc[0]:.0f}"
    if len(train) and len(test):
        states = {ORIGINAL: (train["entry"].iloc[0], test["entry"].iloc[0]),
                  FINE_TUNED: (train["entry"].iloc[-1], test["entry"].iloc[-1])}
        probes = probe_table(store, states, last + 1, probe_settings(store, run))
        probes = probes[probes["layer"] == last].set_index("model_state")["mean"]
        if set(probes.index) == set(states):
            row["probe accuracy"] = f"{probes[ORIGINAL]:.3f} → {probes[FINE_TUNED]:.3f}"
    return row


# ---------------------------------------------------------------- background computations the pages offer

def directprobe_layers(store: Store, entries: list[str], layers: list[int]) -> list[str]:
    """DirectProbe on every (entry, layer) not stored yet (:func:`analysis.results.compute_directprobe`).

    One degenerate layer does not stop the others; failures are listed at the end. Prints progress.
    """
    from tqdm.auto import tqdm

    keys, failed = [], []
    for entry, layer in tqdm([(e, int(l)) for e in entries for l in layers], desc="DirectProbe", unit="layer"):
        try:
            keys.append(compute_directprobe(store, entry, layer, waiting=lambda m: print(m, flush=True)))
        except (ValueError, ArithmeticError) as exc:
            failed.append(f"{entry} layer {layer}: {type(exc).__name__}: {exc}")
            print(f"DirectProbe failed on {failed[-1]}", flush=True)
    if failed:
        raise RuntimeError(f"DirectProbe failed on {len(failed)} layer(s): " + "; ".join(failed))
    return keys


def missing_directprobe(store: Store, entries: list[str], layers: list[int]) -> list[tuple[str, int]]:
    """The (entry, layer) pairs without a stored DirectProbe result."""
    return [(e, l) for e in entries for l in layers if find_directprobe(store, e, l) is None]


def probe_layers(store: Store, pairs: list[list[str]], layers: list[int],
                 config: dict[str, Any] | None = None) -> list[str]:
    """The paper's MLP probe (``config``: its settings, default :data:`PROBE_DEFAULTS`) on every (train, test)
    pair and layer not stored yet; prints progress."""
    from tqdm.auto import tqdm

    return [compute_probe(store, train, test, int(layer), config)
            for (train, test), layer in tqdm([(p, l) for p in pairs for l in layers], desc="probes", unit="probe")]
