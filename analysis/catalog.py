"""Tables describing what the store holds (studies, runs, snapshots, targets), for the CLI and the dashboard.

What the dashboard shows of them is in :mod:`analysis.views`.
"""
from __future__ import annotations

from html import escape

import pandas as pd

from .finetune import list_runs, run_metrics, run_snapshots
from .store import Entry, Store

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
    if run.get("under_trained") is True:
        label += " · under-trained"
    return label if run["status"] == "done" else f"{label} · {run['status']}"


def recipe_label(run: pd.Series) -> str:
    """What a run's training did, seed aside: optimizer, re-initialised layers, length, sample size."""
    parts = [str(run["optimizer"])]
    if run.get("reinit_layers"):
        parts.append(f"re-init {int(run['reinit_layers'])}")
    length = (int(run["steps"]), "update") if pd.notna(run.get("steps")) else (int(run["epochs"]), "epoch")
    parts.append(f"{length[0]} {length[1]}{'s' if length[0] != 1 else ''}")
    if pd.notna(run.get("train_size")):
        parts.append(f"n={int(run['train_size'])}")  # float when other runs have none
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
