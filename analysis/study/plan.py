"""A study as a graph of independent steps that read and write only the store.

Each seed is fine-tuned by one step (each run also stores the original model's representations at
update 0).  A run's analyses are planned from its snapshot list as soon as it ends: DirectProbe
on the layers the analyses need and the classifier probes (steps shared by seeds, such as the
original model's, are planned once), in snapshot order, each DirectProbe step naming the previous
snapshot of its layer for its certificates.  Steps depend on nothing but the store, so they can run in
any order, in any process, on any Dask worker that sees the store; a step whose output key is
stored is skipped.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..finetune import run_snapshots
from ..finetune.runs import read_record
from ..results import directprobe_key, probe_spec
from ..store import Store, make_key
from .spec import StudySpec


@dataclass(frozen=True)
class Step:
    """One unit of work: an action, its JSON-ready parameters, the key it stores and a cost estimate."""

    action: str
    params: dict[str, Any]
    key: str
    cost: float
    label: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def finetune_steps(spec: StudySpec) -> list[Step]:
    """One fine-tuning step per seed; its key hashes its parameters (the run key it stores also
    depends on the model's weights, the data and the device it trains on)."""
    steps = []
    for seed in spec.seeds:
        params = {"task": spec.task, "model": spec.model, "seed": seed, "train": spec.train.as_dict(),
                  "snapshots": dataclasses.asdict(spec.snapshots), "data_dir": spec.data_dir,
                  "task_options": spec.task_options, "device": spec.device}
        params["snapshots"]["probe_tasks"] = list(spec.snapshots.probe_tasks)
        steps.append(Step("finetune", params, make_key("finetune", params), 100.0 * spec.train.epochs,
                          f"fine-tune {spec.task}, seed {seed}"))
    return steps


def snapshot_table(store: Store, runs: list[str]) -> pd.DataFrame:
    """Every stored snapshot of the runs: run, seed, step, epoch, epoch_end, task, split, entry, n_layers."""
    frames = []
    for run in runs:
        record = read_record(store, run)
        table = run_snapshots(store, run)
        per_epoch = record["updates_per_epoch"]
        table.insert(0, "run", run)
        table.insert(1, "seed", record["seed"])
        table["epoch_end"] = (table["step"] % per_epoch == 0) | (table["step"] == record["total_steps"])
        table["final"] = table["step"] == record["total_steps"]
        table["n_layers"] = [store[e].summary["n_layers"] for e in table["entry"]]
        table["n_targets"] = [store[e].summary["n_targets"] for e in table["entry"]]
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def analysis_steps(spec: StudySpec, store: Store, runs: list[str]) -> list[Step]:
    """DirectProbe and probe steps for the runs' snapshots (deduplicated across seeds)."""
    snaps = snapshot_table(store, runs)
    if snaps.empty:
        return []
    # By step: a layer's earlier snapshot is planned, and so run, before the next, which checks the
    # earlier one's label planes first (``previous``; results do not depend on it).
    snaps = snaps.sort_values(["step", "run", "task", "split"], kind="stable")
    steps: dict[str, Step] = {}
    latest: dict[tuple[str, str, str, int], str] = {}

    def add_directprobe(row: pd.Series, layers: list[int]) -> None:
        for layer in layers:
            key = directprobe_key(row["entry"], layer)
            chain = (row["run"], row["task"], row["split"], layer)
            params = {"entry": row["entry"], "layer": layer, "previous": latest.get(chain)}
            latest[chain] = row["entry"]
            steps.setdefault(key, Step("directprobe", params, key, row["n_targets"] / 1000,
                                       f"DirectProbe {row['task']}/{row['split']} step {row['step']} layer {layer}"))

    for _, row in snaps.iterrows():
        last = int(row["n_layers"]) - 1
        ends = row["step"] == 0 or row["epoch_end"]
        if row["task"] == spec.task:
            add_directprobe(row, list(range(last + 1)) if ends else [last])
        elif row["step"] == 0 or row["final"]:
            add_directprobe(row, [last])

    config = spec.probes.settings()
    if spec.probes.layers != "none":
        ends = snaps[(snaps["step"] == 0) | snaps["final"]]
        for (run, step, task), group in ends.groupby(["run", "step", "task"], sort=True):
            if task != spec.task and not spec.probes.cross_task:
                continue
            by_split = dict(zip(group["split"], group["entry"]))
            if "train" not in by_split or "test" not in by_split:
                continue
            last = int(group["n_layers"].iloc[0]) - 1
            layers = list(range(last + 1)) if spec.probes.layers == "all" and task == spec.task else [last]
            for layer in layers:
                key = make_key("probe", probe_spec(by_split["train"], by_split["test"], layer, config))
                n = int(group["n_targets"].max())
                steps.setdefault(key, Step("probe", {"train": by_split["train"], "test": by_split["test"],
                                                     "layer": layer, "config": config}, key,
                                           n * len(config["hidden_sizes"]) ** 2 / 2000,
                                           f"probe {task} step {step} layer {layer}"))
    return list(steps.values())
