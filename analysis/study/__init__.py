"""One command per study: fine-tune, snapshot, DirectProbe, probe and analyse, all through the store.

``run_study(spec)`` runs (or resumes) everything a :class:`StudySpec` needs and stores its
tables as a ``study`` entry (Parquet, one file per table in :data:`TABLES`); ``run_studies``
runs a grid of them as one graph of Dask tasks; ``list_studies`` and ``study_table`` read them
back for the CLI and the dashboard.
"""
from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from ..config import scheduler_address
from ..store import Entry, Store, StoreError, make_key
from .cluster import ClusterError, StepFailed, check_store, connect, dashboard
from .plan import Step, analysis_steps, finetune_steps, snapshot_table
from .run import Report, StudyProgress, execute
from .spec import PRESETS, ProbeConfig, StudySpec, preset_specs
from .tables import TABLES, study_tables

__all__ = ["PRESETS", "TABLES", "ClusterError", "ProbeConfig", "Step", "StepFailed", "StudyProgress", "StudySpec",
           "list_studies", "preset_specs", "run_studies", "run_study", "study_table"]

STUDY_VERSION = "study-2"


def run_study(spec: StudySpec, store: Store | None = None, **kwargs) -> Entry:
    """Run or resume ``spec``; every step already stored is skipped; returns the ``study`` entry
    (keyword arguments as :func:`run_studies`)."""
    return run_studies([spec], store, **kwargs)[0]


def run_studies(specs: list[StudySpec], store: Store | None = None, *, workers: int = 1,
                scheduler: str | None = None, retries: int = 2, gpu: bool | None = None,
                report: Report | None = None, step_progress: Callable | None = None) -> list[Entry]:
    """Run or resume several studies as one graph; returns their ``study`` entries.

    Steps run on the Dask scheduler at ``scheduler`` (default ``$FTGEO_SCHEDULER``), else on a
    LocalCluster of ``workers`` processes, else (one worker) in this process.  Each seed's
    analyses are sent out as soon as its fine-tuning ends.  ``retries``: how often a step that
    fails or loses its worker is tried again; ``gpu``: fine-tuning asks for a worker with the
    resource ``GPU=1`` (default: when the study's device is ``cuda``).
    """
    store = store or Store()
    start = time.perf_counter()
    report = report or (lambda message, p: None)
    tuning = [finetune_steps(spec) for spec in specs]
    owners: dict[str, list[int]] = {}
    for i, steps in enumerate(tuning):
        for step in steps:
            owners.setdefault(step.key, []).append(i)
    runs: list[dict[int, str]] = [{} for _ in specs]

    def analyses(step: Step, run: str) -> list[Step]:
        if step.action != "finetune":
            return []
        follow = []
        for i in owners[step.key]:
            runs[i][step.params["seed"]] = run
            follow.extend(analysis_steps(specs[i], store, [run]))
        return follow

    address = scheduler_address(scheduler)
    route = any(_on_gpu(spec.device) for spec in specs) if gpu is None else gpu
    progress = StudyProgress()
    gpus = _local_gpus() if route and not address and workers > 1 else 0
    if route and not address and workers > 1 and not gpus:
        raise ClusterError("the study asks for a GPU (--device cuda) but this machine has none for its local "
                           "workers; give --scheduler with GPU workers, or --device cpu")
    with connect(address, workers, gpus=gpus, retries=retries) as client:
        if client is not None:
            check_store(client, store)
            progress.workers = max(1, sum(client.nthreads().values()))
            progress.dashboard = dashboard(client)
            report(f"Dask dashboard: {progress.dashboard or 'none (the scheduler serves none without bokeh)'}",
                   progress)
        execute([s for steps in tuning for s in steps], store, progress, client=client, retries=retries, gpu=gpu,
                report=report, step_progress=step_progress, then=analyses, local=not address)
    return [_assemble(spec, store, [runs[i][seed] for seed in spec.seeds], len(tuning[i]), start, report, progress)
            for i, spec in enumerate(specs)]


def _on_gpu(device: str | None) -> bool:
    return bool(device) and device.strip().lower().startswith("cuda")


def _local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _assemble(spec: StudySpec, store: Store, runs: list[str], n_tuning: int, start: float, report: Report,
              progress: StudyProgress) -> Entry:
    """The study's entry from its stored runs and analyses (made once, then served from the store)."""
    snaps = snapshot_table(store, runs)
    analyses = analysis_steps(spec, store, runs)
    inputs = sorted({*runs, *(s.key for s in analyses), *snaps["entry"]})
    study_spec = {"study": spec.as_dict(), "inputs": inputs, "version": STUDY_VERSION}
    key = make_key("study", study_spec)
    if store.has(key):
        return store[key]
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
                "n_steps": n_tuning + len(analyses), "optimizer": spec.train.optimizer,
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
