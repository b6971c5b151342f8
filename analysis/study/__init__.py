"""One command per study: fine-tune, snapshot, DirectProbe, probe and analyse, all through the store.

``run_study(spec)`` runs (or resumes) everything a :class:`StudySpec` needs and stores its
tables as a ``study`` entry (Parquet, one file per table in :data:`TABLES`); ``list_studies``
and ``study_table`` read them back for the CLI and the dashboard.
"""
from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from ..store import Entry, Store, StoreError, make_key
from .plan import Step, analysis_steps, finetune_steps, snapshot_table
from .run import Report, StudyProgress, execute
from .spec import PRESETS, ProbeConfig, StudySpec, preset_specs
from .tables import TABLES, study_tables

__all__ = ["PRESETS", "TABLES", "ProbeConfig", "Step", "StudyProgress", "StudySpec", "list_studies",
           "preset_specs", "run_study", "study_table"]

STUDY_VERSION = "study-1"


def run_study(spec: StudySpec, store: Store | None = None, *, workers: int = 1, report: Report | None = None,
              step_progress: Callable | None = None) -> Entry:
    """Run or resume ``spec``; every step already stored is skipped; returns the ``study`` entry."""
    store = store or Store()
    start = time.perf_counter()
    tuning = finetune_steps(spec)
    progress = StudyProgress()
    progress.add(tuning)
    runs = list(execute(tuning, store, progress, report=report, step_progress=step_progress).values())
    snaps = snapshot_table(store, runs)
    analyses = analysis_steps(spec, store, runs)
    progress.add(analyses)
    outputs = execute(analyses, store, progress, workers=workers, report=report)
    inputs = sorted({*runs, *outputs.values(), *snaps["entry"]})
    study_spec = {"study": spec.as_dict(), "inputs": inputs, "version": STUDY_VERSION}
    key = make_key("study", study_spec)
    if store.has(key):
        return store[key]
    if report:
        report("assembling tables", progress)
    tables = study_tables(store, spec, runs, snaps)
    first = store[snaps["entry"].iloc[0]].summary
    with store.lock(key):
        if store.has(key):
            return store[key]
        with store.create("study", study_spec) as writer:
            for name, table in tables.items():
                writer.save_table(name, table)
            writer.save_table("snapshots", snaps)
            writer.summary.update({
                "model": first["model"], "task": spec.task, "seeds": list(spec.seeds), "runs": runs,
                "n_layers": first["n_layers"], "label_names": first["label_names"],
                "n_steps": len(tuning) + len(analyses), "optimizer": spec.train.optimizer,
                "reinit_layers": spec.train.reinit_layers, "probe_tasks": list(spec.snapshots.probe_tasks),
                "seconds": round(time.perf_counter() - start, 1),
            })
    return store[key]


def list_studies(store: Store) -> pd.DataFrame:
    """One row per stored study: key, model, task, seeds, recipe, layers, created."""
    rows = [{"key": e.key, "model": e.summary.get("model"), "task": e.summary.get("task"),
             "seeds": e.summary.get("seeds"), "optimizer": e.summary.get("optimizer"),
             "reinit_layers": e.summary.get("reinit_layers"), "n_layers": e.summary.get("n_layers"),
             "created": e.meta.get("created")} for e in store.ls("study")]
    return pd.DataFrame(rows, columns=["key", "model", "task", "seeds", "optimizer", "reinit_layers", "n_layers",
                                       "created"])


def study_table(store: Store, key: str, name: str) -> pd.DataFrame:
    """One table of a stored study (see :data:`TABLES`, plus ``snapshots``)."""
    if name not in (*TABLES, "snapshots"):
        raise ValueError(f"unknown study table {name!r}; tables are {', '.join(TABLES)}, snapshots")
    entry = store.get(key)
    if entry is None:
        raise StoreError(f"no study {key!r} in store {store.root}")
    return entry.table(name)
