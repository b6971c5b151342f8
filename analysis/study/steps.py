"""The actions a study step can take; each reads and writes only the store, so any process can run it.

Every action is a plain function of JSON-ready parameters (plus the store), returns the key of
what it stored, and returns at once when the store already holds it.
"""
from __future__ import annotations

from typing import Any, Callable

from ..finetune import SnapshotOptions, TrainOptions, finetune
from ..finetune.train import stored_run
from ..models import ModelError, resolve_device
from ..results import compute_directprobe, compute_probe
from ..store import Store

GPU_ACTIONS = ("finetune",)
"""The actions that ask a worker for the resource ``GPU=1`` when the study trains on a GPU."""


def _options(params: dict[str, Any]) -> dict[str, Any]:
    snapshots = dict(params["snapshots"])
    snapshots["probe_tasks"] = tuple(snapshots["probe_tasks"])
    return {"seed": params["seed"], "options": TrainOptions(**params["train"]),
            "snapshots": SnapshotOptions(**snapshots), "data_dir": params["data_dir"],
            "task_options": params["task_options"]}


def finetune_run(store: Store, params: dict[str, Any], progress: Callable | None = None) -> str:
    """One seed of a study's fine-tuning (resumes from its checkpoint, a hit when done)."""
    record = finetune(params["task"], params["model"], store=store, progress=progress, device=params["device"],
                      **_options(params))
    return record["run"]


def finetune_state(store: Store, params: dict[str, Any], *, here: bool) -> tuple[str, bool] | None:
    """The run key of a fine-tuning step and whether the store holds the whole run, when known
    before it runs: always when it runs ``here`` (on this machine: in this process or on a local
    worker), else when its device is named
    (``auto`` on a worker depends on that worker) and this process finds the model and the corpus;
    None otherwise."""
    device = params["device"]
    if device is None or device.strip().lower() == "auto":
        if not here:
            return None
        kind = resolve_device(device).type
    else:
        kind = device.strip().lower().split(":")[0]
    try:
        return stored_run(params["task"], params["model"], store=store, device=kind, **_options(params))
    except (ModelError, OSError, ValueError):
        if here:
            raise
        return None  # the model or corpus may exist only where the workers run: they will say


ACTIONS: dict[str, Callable[..., str]] = {
    "finetune": lambda store, p, progress=None: finetune_run(store, p, progress),
    "directprobe": lambda store, p, progress=None: compute_directprobe(store, p["entry"], p["layer"],
                                                                       previous=p.get("previous")),
    "probe": lambda store, p, progress=None: compute_probe(store, p["train"], p["test"], p["layer"], p["config"]),
}
