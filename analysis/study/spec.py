"""What a study is: model × task × fine-tuning configuration × seeds, and what it analyses."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Collection

from ..finetune import SnapshotOptions, TrainOptions
from ..paper import paper_model


@dataclass(frozen=True)
class ProbeConfig:
    """The MLP classifier probes: which layers, the hidden-size grid and the seeds (Table 7).

    ``layers`` is ``"last"`` or ``"all"``; ``cross_task`` also probes the other tasks recorded by
    the run (Table 5's accuracy column).  ``hidden_sizes`` is searched for both hidden layers.
    """

    layers: str = "last"
    hidden_sizes: tuple[int, ...] = (32, 64, 128, 256)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    max_epochs: int = 100
    cross_task: bool = True

    def __post_init__(self) -> None:
        if self.layers not in ("last", "all", "none"):
            raise ValueError(f"probe layers must be 'last', 'all' or 'none', not {self.layers!r}")

    def settings(self) -> dict[str, Any]:
        """What determines each probe's result (its store key's ``config``): grid, seeds, epochs."""
        return {"hidden_sizes": list(self.hidden_sizes), "seeds": list(self.seeds), "max_epochs": self.max_epochs}


@dataclass(frozen=True)
class StudySpec:
    """One study: a task fine-tuned from one model with one configuration over several seeds.

    DirectProbe runs (by default) on every layer of the original and the final model, the last
    layer at every snapshot and every layer at every snapshot that ends an epoch; other tasks in
    ``snapshots.probe_tasks`` are analysed at the last layer (cross-task).  ``device`` is where
    fine-tuning and its snapshots run (:func:`analysis.models.resolve_device`; default: the GPU
    when there is one).
    """

    task: str
    model: str | None = None
    seeds: tuple[int, ...] = (1,)
    train: TrainOptions = field(default_factory=TrainOptions)
    snapshots: SnapshotOptions = field(default_factory=SnapshotOptions)
    probes: ProbeConfig = field(default_factory=ProbeConfig)
    task_options: dict[str, Any] | None = None
    data_dir: str | None = None
    device: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (the data folder and the device are left out: data enter keys by
        checksum, and a GPU's runs by their run keys, which name the device)."""
        out = dataclasses.asdict(self)
        out.pop("data_dir")
        out.pop("device")
        out["seeds"] = list(self.seeds)
        return out


PRESETS = ("default", "paper", "quick", "first")

PAPER_LR = 3e-4
"""The paper's learning rate (Zhou & Srikumar 2022, Appendix A), used by the ``paper`` and ``first`` presets.
With the default model on PS-role, 10 epochs at the usual 2e-5 end at 0.25 test accuracy, below an MLP probe
on the frozen model (0.40); 3e-4 reaches 0.59 (bench/training_grid.py, docs/results.md)."""


def preset_specs(preset: str, tasks: list[str], *, model: str | None, seeds: tuple[int, ...],
                 train: TrainOptions, data_dir: str | None, device: str | None = None,
                 chosen: Collection[str] = ()) -> list[StudySpec]:
    """The studies of a preset; ``chosen`` names the training options the user set (``lr``,
    ``epochs``), which the preset then leaves as given.

    ``default``: the given task(s) with the given training options, probes on the last layer.
    ``paper``: every listed task fine-tuned, each recording all the others at update 0 and the end
    (cross-task, Table 5, compares only those two); the paper's learning rate (:data:`PAPER_LR`)
    and BERT-base for 3 epochs, as the paper did (its other models, and models it did not run,
    for the given length: 10 epochs by default).
    ``quick``: a smoke test — 20 updates, 2 snapshots, a 2 × 2 probe grid with 2 seeds.
    ``first``: the dashboard's welcome study, 3.7 minutes on a 2-core CPU with MiniLM-L6 — the first task fine-tuned
    at the paper's learning rate with a snapshot at every epoch end, the others recorded at update 0 and the end, a one-size probe
    grid with 2 seeds.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    if preset == "quick":
        train = dataclasses.replace(train, steps=20, epochs=1)
        probes = ProbeConfig(hidden_sizes=(32, 64), seeds=(0, 1), max_epochs=20)
        snaps = SnapshotOptions(every=10, epochs=0)
        return [StudySpec(t, model, seeds, train, snaps, probes, data_dir=data_dir, device=device) for t in tasks]
    if preset in ("first", "paper") and "lr" not in chosen:
        train = dataclasses.replace(train, lr=PAPER_LR)
    if preset == "first":
        snaps = SnapshotOptions(probe_tasks=tuple(tasks[1:]), probe_steps="ends")
        probes = ProbeConfig(hidden_sizes=(64,), seeds=(0, 1), max_epochs=50)
        return [StudySpec(tasks[0], model, seeds, train, snaps, probes, data_dir=data_dir, device=device)]
    if preset == "paper" and paper_model(model or "") == "bert-base" and train.steps is None and "epochs" not in chosen:
        train = dataclasses.replace(train, epochs=3)
    specs = []
    for task in tasks:
        others = tuple(t for t in tasks if t != task) if preset == "paper" else ()
        snaps = SnapshotOptions(probe_tasks=others, probe_steps="ends")
        specs.append(StudySpec(task, model, seeds, train, snaps, ProbeConfig(), data_dir=data_dir, device=device))
    return specs
