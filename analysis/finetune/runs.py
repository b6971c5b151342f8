"""Fine-tuning runs on record, and the read API for analyses and the dashboard.

A run is one seed of one training configuration.  Its key, ``run-<hash>``, covers the model's
weights, the task's data checksums and options, every :class:`TrainOptions` field, the seed,
the code version and, for a GPU run, the device type; its ``group`` key covers the same minus
the seed (the runs whose spread :func:`seed_spread` reports).  The record
``<store>/work/<run key>/run.json`` is replaced atomically after every snapshot; it holds the
status (``running``, ``interrupted``, ``failed``, ``done``), the training process (pid, host,
start time), its device (``device``: ``cpu`` or ``cuda``; ``device_name``: the GPU's name),
progress, metrics and the snapshot list.  Snapshots themselves are store entries (see
:mod:`analysis.finetune.snapshots`).  A ``running`` run whose process is gone (killed without a
chance to say so) reads as ``interrupted`` (:func:`live_status`); a ``done`` run that a later
command extends with more snapshots stays ``done``.

* ``list_runs(store) -> DataFrame``: one row per run, columns ``run, group, task, model, seed,
  status, device, step, total_steps, test_accuracy, majority_baseline, failed, n_snapshots,
  train_seconds, snapshot_seconds, updated`` plus one column per training option
  (``test_accuracy`` and ``failed`` only for ``done`` runs; ``epochs`` is empty when ``steps``
  sets the length).
* ``run_snapshots(store, run) -> DataFrame``: ``step, epoch, task, split, entry`` (a store key,
  read with ``store[entry]`` and ``analysis.embed.representation``), sorted by step.
* ``run_metrics(store, run) -> DataFrame``: ``step, epoch, epoch_end, train_loss`` (mean since
  the previous row), ``epoch_loss`` (mean over the epoch, at epoch ends), ``test_accuracy,
  test_loss, lr``.
* ``seed_spread(runs) -> DataFrame``: per group of finished runs, ``n_seeds, mean, std, min,
  max, majority_baseline, n_failed, failed_seeds`` (a run fails when its final test accuracy is
  not above the majority-class baseline, as in Zhang et al. 2021).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..processes import ProcessId
from ..store import KEY, Store, StoreError, check_key, writing_name
from .options import TrainOptions

RECORD = "run.json"
OPTION_COLUMNS = list(TrainOptions().as_dict())
_NUMBER = (int, float)
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "run": str, "group": str, "task": str, "model": str, "seed": int, "status": str, "step": int,
    "total_steps": int, "majority_baseline": (*_NUMBER, type(None)), "snapshots": list, "metrics": list,
    "train_seconds": _NUMBER, "snapshot_seconds": _NUMBER, "created": str, "updated": str, "options": dict}
"""What every run record holds, with its type (the readers below rely on each)."""
OPTIONAL: dict[str, type | tuple[type, ...]] = {"final": (dict, type(None)), "process": (dict, type(None)),
                                                "device": str}
"""Fields a record may lack, and their type when present."""


def record_path(store: Store, run: str) -> Path:
    return store.work / check_key(run) / RECORD


def read_record(store: Store, run: str) -> dict[str, Any] | None:
    """The record of ``run``, or ``None`` if it never started."""
    path = record_path(store, run)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable run record ({exc})") from exc
    problem = _record_problem(record, run)
    if problem:
        raise StoreError(f"{path}: unreadable run record ({problem})")
    return record


def _record_problem(record: Any, run: str) -> str | None:
    """What makes a parsed ``run.json`` unusable as the record of ``run``, or ``None``."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return f"lacks {', '.join(missing)}"
    wrong = [k for k, t in (*REQUIRED.items(), *OPTIONAL.items())
             if k in record and (not isinstance(record[k], t) or isinstance(record[k], bool) and t is not bool)]
    if wrong:
        return f"holds the wrong type of value in {', '.join(wrong)}"
    process = record.get("process")
    if process and not (isinstance(process.get("pid"), int) and isinstance(process.get("host"), str)
                        and isinstance(process.get("started"), _NUMBER)):
        return "its process is malformed"
    final = record.get("final")
    if final and not (isinstance(final.get("test_accuracy"), _NUMBER) and not isinstance(final["test_accuracy"], bool)):
        return "its final metrics are malformed"
    if not all(isinstance(m, dict) and isinstance(m.get("step"), int) for m in record["metrics"]):
        return "its metrics are malformed"
    if record["run"] != run:
        return f"names another run ({record['run']!r})"
    if any(k not in record["options"] for k in OPTION_COLUMNS):
        return "its training options are incomplete"
    if not all(
            isinstance(s, dict) and {"step", "epoch", "task", "split", "entry"} <= s.keys()
            and isinstance(s["step"], int) and isinstance(s["entry"], str) and KEY.fullmatch(s["entry"])
            for s in record["snapshots"]):
        return "its snapshot list is malformed"
    return None


def write_record(store: Store, record: dict[str, Any]) -> None:
    """Replace the record atomically (a reader sees the old or the new one, never half of one)."""
    path = record_path(store, record["run"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(writing_name(RECORD))  # a dead writer's is cleaned when the run resumes
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def process_info() -> dict[str, Any]:
    """This process as a run record names it: pid, host and start time in seconds (a pid alone can be reused)."""
    me = ProcessId.current()
    return {"pid": me.pid, "host": me.host, "started": me.started / 100}


def live_status(record: dict[str, Any]) -> str:
    """The record's status, except that a ``running`` run whose process no longer exists is ``interrupted``.

    A run recorded by another host cannot be checked and keeps its status.
    """
    if record["status"] != "running":
        return record["status"]
    process = record.get("process") or {}
    try:
        recorded = ProcessId(process["pid"], process["host"], round(process["started"] * 100))
    except KeyError:
        return "interrupted"
    return "interrupted" if recorded.alive() is False else "running"


def broken_records(store: Store) -> list[Path]:
    """Run records that cannot be read (listed by the dashboard and skipped everywhere else)."""
    if not store.work.is_dir():
        return []
    bad = []
    for folder in sorted(store.work.iterdir()):
        if folder.name.startswith("run-") and (folder / RECORD).is_file():
            try:
                read_record(store, folder.name)
            except StoreError:
                bad.append(folder / RECORD)
    return bad


def records(store: Store) -> list[dict[str, Any]]:
    """Every readable run record, oldest first."""
    if not store.work.is_dir():
        return []
    out = []
    for folder in store.work.iterdir():
        if folder.name.startswith("run-") and (folder / RECORD).is_file():
            try:
                out.append(read_record(store, folder.name))
            except StoreError:
                continue
    return sorted(out, key=lambda r: (r["created"], r["run"]))


def probe_baselines(store: Store) -> dict[tuple[str, str, int], float]:
    """The best stored MLP probe accuracy per (train entry, test entry, layer), whatever its grid."""
    best: dict[tuple[str, str, int], float] = {}
    for entry in store.ls("probe"):
        where = (entry.spec["train"], entry.spec["test"], int(entry.spec["layer"]))
        best[where] = max(best.get(where, 0.0), float(entry.summary["mean"]))
    return best


def original_probe(store: Store, record: dict[str, Any], baselines: dict[tuple[str, str, int], float]) -> float | None:
    """The best stored probe accuracy on the original model's last layer for the run's task (its update-0
    snapshots), or None when no such probe is stored."""
    start = {s["split"]: s["entry"] for s in record["snapshots"] if s["step"] == 0 and s["task"] == record["task"]}
    train = store.get(start["train"]) if {"train", "test"} <= start.keys() else None
    if train is None:
        return None
    return baselines.get((start["train"], start["test"], int(train.summary["n_layers"]) - 1))


def list_runs(store: Store) -> pd.DataFrame:
    """One row per run: identity, status, progress, final metric and training options.

    ``under_trained`` flags a finished run whose test accuracy stays below an MLP probe on the original
    model's last layer (``probe_baseline``): fine-tuning then taught the model less than a probe reads
    from it untouched, and its geometry says little about fine-tuning. Empty where no such probe is stored.
    """
    rows = []
    baselines: dict[tuple[str, str, int], float] | None = None  # read once, when a finished run needs them
    for r in records(store):
        status = live_status(r)
        final = (r.get("final") or {}) if status == "done" else {}
        if final and baselines is None:
            baselines = probe_baselines(store)
        baseline = original_probe(store, r, baselines) if final else None
        rows.append({
            "run": r["run"], "group": r["group"], "task": r["task"], "model": r["model"], "seed": r["seed"],
            "status": status, "device": r.get("device", "cpu"), "step": r["step"], "total_steps": r["total_steps"],
            "test_accuracy": final.get("test_accuracy"), "majority_baseline": r["majority_baseline"],
            "failed": final.get("failed"), "probe_baseline": baseline,
            "under_trained": None if baseline is None else bool(final["test_accuracy"] < baseline),
            "n_snapshots": len({s["step"] for s in r["snapshots"]}),
            "train_seconds": r["train_seconds"], "snapshot_seconds": r["snapshot_seconds"],
            "updated": r["updated"], **{k: r["options"][k] for k in OPTION_COLUMNS},
        })
    columns = ["run", "group", "task", "model", "seed", "status", "device", "step", "total_steps", "test_accuracy",
               "majority_baseline", "failed", "probe_baseline", "under_trained", "n_snapshots", "train_seconds", "snapshot_seconds", "updated",
               *OPTION_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def _record(store: Store, run: str) -> dict[str, Any]:
    record = read_record(store, run)
    if record is None:
        raise StoreError(f"no fine-tuning run {run!r} in store {store.root} (see `python -m analysis runs ls`)")
    return record


def run_snapshots(store: Store, run: str) -> pd.DataFrame:
    """The stored snapshots of ``run``: ``step, epoch, task, split, entry``, sorted by step."""
    rows = [s for s in _record(store, run)["snapshots"] if store.has(s["entry"])]
    table = pd.DataFrame(rows, columns=["step", "epoch", "task", "split", "entry"])
    return table.sort_values(["step", "task", "split"], kind="stable").reset_index(drop=True)


def run_metrics(store: Store, run: str) -> pd.DataFrame:
    """Training loss and test metrics of ``run`` at every epoch end and snapshot, sorted by step."""
    columns = ["step", "epoch", "epoch_end", "train_loss", "epoch_loss", "test_accuracy", "test_loss", "lr"]
    table = pd.DataFrame(_record(store, run)["metrics"], columns=columns)
    return table.sort_values("step", kind="stable").reset_index(drop=True)


def seed_spread(runs: pd.DataFrame) -> pd.DataFrame:
    """Across-seed summary of the final test accuracy per group of finished runs (``runs``: :func:`list_runs`)."""
    done = runs[runs["status"] == "done"]
    rows = []
    for group, sub in done.groupby("group", sort=False):
        first = sub.iloc[0]
        acc = sub["test_accuracy"].astype(float)
        failed = sorted(int(s) for s in sub.loc[sub["failed"].astype(bool), "seed"])
        rows.append({
            "group": group, "task": first["task"], "model": first["model"],
            **{k: first[k] for k in OPTION_COLUMNS},
            "n_seeds": len(sub), "seeds": sorted(int(s) for s in sub["seed"]),
            "mean": acc.mean(), "std": acc.std(ddof=1) if len(sub) > 1 else float("nan"),
            "min": acc.min(), "max": acc.max(), "majority_baseline": float(first["majority_baseline"]),
            "n_failed": len(failed), "failed_seeds": failed,
        })
    columns = ["group", "task", "model", *OPTION_COLUMNS, "n_seeds", "seeds", "mean", "std", "min", "max",
               "majority_baseline", "n_failed", "failed_seeds"]
    return pd.DataFrame(rows, columns=columns)
