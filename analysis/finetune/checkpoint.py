"""Resumable training state on disk: safetensors for tensors, JSON for the rest, never pickle.

A checkpoint folder holds the model (``model.safetensors``), the optimiser moments and the
torch RNG states as uint8 tensors (``optimizer.safetensors``: the CPU's, and the training GPU's
when there is one), and the optimiser's hyper-parameters, the schedule, the Python and NumPy
RNG states and the loop's counters (``state.json``).  It is written in a temporary folder and
renamed into place, so a folder with the final name is always complete.  Tensors are saved from
the CPU and loaded onto the model's and the optimiser's device.  Training and snapshots run
under :func:`deterministic`.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..store import remove_if_writer_dead, writer_of, writing_name

MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "state.json"


def save_weights(model: nn.Module, path: Path) -> None:
    """The model's state dict as safetensors (from the CPU, wherever the model is)."""
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path))


def load_weights(model: nn.Module, path: Path) -> None:
    """Copy the weights in ``path`` into ``model``, on whichever device it is."""
    model.load_state_dict(load_file(str(path)))


def temporary(path: Path) -> Path:
    """Where this process writes ``path`` before renaming it into place (named by :func:`writing_name`)."""
    return path.with_name(writing_name(f"{path.name}.tmp"))


def clean_checkpoint_leftovers(work: Path) -> int:
    """Remove the half-written checkpoints and snapshot weights that dead writers on this host left
    in a run's folder or its subfolders (a writer killed outright leaves them behind); returns how
    many.  Another host's are left alone (whether they still run cannot be told from here)."""
    if not work.is_dir():
        return 0
    folders = [work, *(p for p in work.iterdir() if p.is_dir() and writer_of(p.name) is None)]
    return sum(remove_if_writer_dead(path) for folder in folders for path in list(folder.iterdir()))


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, counters: dict[str, Any]) -> None:
    """Write everything needed to continue training bit-identically into ``folder`` (atomically)."""
    tmp = temporary(folder)
    tmp.mkdir(parents=True)
    try:
        save_weights(model, tmp / MODEL)
        opt = optimizer.state_dict()
        tensors = {f"state.{index}.{name}": value.cpu().contiguous()
                   for index, slots in opt["state"].items() for name, value in slots.items()}
        tensors["rng.torch"] = torch.get_rng_state()
        device = next(model.parameters()).device
        if device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
        save_file(tensors, str(tmp / OPTIMIZER))
        py_version, py_state, py_gauss = random.getstate()
        np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
        state = {
            "param_groups": opt["param_groups"],
            "scheduler": scheduler.state_dict(),
            "rng": {"python": [py_version, list(py_state), py_gauss],
                    "numpy": [np_name, np_keys.tolist(), np_pos, np_has_gauss, np_gauss]},
            "counters": counters,
        }
        (tmp / STATE).write_text(json.dumps(state))
        for p in tmp.iterdir():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def deterministic(threads: int | None = None) -> Iterator[None]:
    """Deterministic algorithms (and ``threads`` torch threads, if given) for the duration of the block.

    With the checkpoints' RNG states this makes a resumed run bit-identical to an uninterrupted
    one on the CPU; on CUDA it is attempted (deterministic kernels, with the cuBLAS workspace
    setting of :func:`analysis.models.resolve_device`), not guaranteed across GPUs or versions.
    """
    was, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(was_threads)


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    """Restore model, optimiser, schedule and every RNG from ``folder``; returns the loop's counters."""
    load_weights(model, folder / MODEL)
    tensors = load_file(str(folder / OPTIMIZER))
    state = json.loads((folder / STATE).read_text())
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("state."):
            _, index, slot = name.split(".", 2)
            slots.setdefault(int(index), {})[slot] = value
    groups = [{**g, "betas": tuple(g["betas"])} for g in state["param_groups"]]
    optimizer.load_state_dict({"state": slots, "param_groups": groups})
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], next(model.parameters()).device)
    py_version, py_state, py_gauss = state["rng"]["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["rng"]["numpy"]
    np.random.set_state((np_name, np.asarray(np_keys, dtype=np.uint32), np_pos, np_has_gauss, np_gauss))
    return state["counters"]
