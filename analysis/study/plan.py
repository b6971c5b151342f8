"""A study as a graph of independent steps that read and write only the store.

Each seed is fine-tuned by one step (each run also stores the original model's representations at
update 0).  A run's analyses are planned from its snapshot list as soon as it ends: the classifier
probes (few and long, so first), then DirectProbe on the layers the analyses need in snapshot
order, each step naming the previous snapshot of its layer for its certificates (steps shared by
seeds, such as the original model's, are planned once).  Steps depend on nothing but the store, so they can run in
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
    """Rough seconds on one worker thread, so that kinds not yet timed can borrow another kind's rate."""
    label: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def directprobe_seconds(n_points: int) -> float:
    """Rough seconds of one DirectProbe step on one thread: reading and storing, then a run that grows
    about as n² (under a second on 3,000 POS targets, about two minutes on all 43,504; non-linear
    layers take longer)."""
    return 0.3 + 0.063 * (n_points / 1000) ** 2


def probe_seconds(n_points: int, config: dict[str, Any]) -> float:
    """Rough seconds of one probe step on one thread: a second to start, then linear in the points,
    the networks of the grid (both hidden layers' sizes) and the seeds (about two minutes for the
    default grid on 43,504 points)."""
    return 1.0 + 3.3e-5 * n_points * len(config["hidden_sizes"]) ** 2 * len(config["seeds"])


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
            steps.setdefault(key, Step("directprobe", params, key, directprobe_seconds(row["n_targets"]),
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
                                           probe_seconds(n, config),
                                           f"probe {task} step {step} layer {layer}"))
    # Probes first: they are few and long, and Dask starts steps in the order they are sent, so on many
    # workers they would otherwise start last and finish well after the many short DirectProbe steps.
    return sorted(steps.values(), key=lambda step: step.action != "probe")
