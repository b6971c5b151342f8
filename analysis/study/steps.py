"""The actions a study step can take; each reads and writes only the store, so any process can run it.

Every action is a plain function of JSON-ready parameters (plus the store), returns the key of
what it stored, and returns at once when the store already holds it.
"""
from __future__ import annotations

from typing import Any, Callable

from ..finetune import SnapshotOptions, TrainOptions, finetune
from ..results import compute_directprobe, compute_probe
from ..store import Store


def finetune_run(store: Store, params: dict[str, Any], progress: Callable | None = None) -> str:
    """One seed of a study's fine-tuning (resumes from its checkpoint, a hit when done)."""
    snapshots = dict(params["snapshots"])
    snapshots["probe_tasks"] = tuple(snapshots["probe_tasks"])
    record = finetune(params["task"], params["model"], seed=params["seed"], options=TrainOptions(**params["train"]),
                      snapshots=SnapshotOptions(**snapshots), store=store, data_dir=params["data_dir"],
                      task_options=params["task_options"], progress=progress, device=params["device"])
    return record["run"]


ACTIONS: dict[str, Callable[..., str]] = {
    "finetune": lambda store, p, progress=None: finetune_run(store, p, progress),
    "directprobe": lambda store, p, progress=None: compute_directprobe(store, p["entry"], p["layer"]),
    "probe": lambda store, p, progress=None: compute_probe(store, p["train"], p["test"], p["layer"], p["config"]),
}
