"""Snapshots: every layer's representations at one training step, as ordinary store entries.

A snapshot of one (task, split) at one step is a store entry written by
:func:`analysis.embed.write_representations`, so it reads like any representation
(``analysis.embed.representation(entry, layer)``).  Its kind and spec say whose weights it holds:

* the original model (step 0 without re-initialised layers) on a full split: the very ``embed``
  entry that ``python -m analysis embed`` makes, shared with every run and seed;
* the original model on a down-sampled training split: a ``snapshot`` entry with
  ``weights = {"step": 0}`` and the ``subset`` that defines the sample, shared across seeds;
* anything else: a ``snapshot`` entry with ``weights = {"run": <run key>, "step": <step>}``.

No key names the device that computed a snapshot (see :func:`analysis.embed.embed_spec`): a GPU
run's own snapshots differ from a CPU run's by the run key, and the original model's are shared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..embed import embed, embed_spec, write_representations
from ..models import ModelRef
from ..store import Store, make_key
from ..tasks import load_task
from ..tasks.base import TaskData
from .examples import downsample

SNAPSHOT = "snapshot"


@dataclass
class Target:
    """One (task, split) recorded at every snapshot; ``data`` is loaded only when something is computed."""

    task: str
    split: str
    base: dict[str, Any]
    subset: dict[str, Any] | None
    task_options: dict | None
    data: TaskData | None = None

    def as_json(self) -> dict[str, Any]:
        """Everything but the data, for a background snapshot worker (which loads the data itself)."""
        return {"task": self.task, "split": self.split, "base": self.base, "subset": self.subset,
                "task_options": self.task_options}

    def load(self, store: Store, data_dir: Any, keep: bool = True) -> TaskData:
        """The target's data: the split, down-sampled as ``subset`` says (the same draw as training's;
        a recorded task with fewer targets is kept whole); kept for later calls unless ``keep`` is False."""
        if self.data is not None:
            return self.data
        data = load_task(self.task, self.split, data_dir=data_dir, options=self.task_options, store=store)
        if self.subset is not None:
            size = min(self.subset["train_size"], data.n_targets)
            data, _ = downsample(data, size, self.subset["sample_seed"])
        if keep:
            self.data = data
        return data


def make_target(ref: ModelRef, task: str, split: str, *, data_dir: Any, task_options: dict | None,
                dtype: str, subset: dict[str, Any] | None = None, data: TaskData | None = None) -> Target:
    """A snapshot target keyed like :func:`analysis.embed.embed` (weights, data checksums, options, code)."""
    base = embed_spec(ref, task, split, data_dir=data_dir, task_options=task_options, dtype=dtype)
    return Target(task, split, base, subset, task_options, data)


def entry_kind_spec(target: Target, run_key: str, step: int, original: bool) -> tuple[str, dict[str, Any]]:
    """The store kind and spec of ``target``'s snapshot at ``step`` (``original``: the weights are the model's own)."""
    if original and target.subset is None:
        return "embed", target.base
    weights = {"step": 0} if original else {"run": run_key, "step": step}
    return SNAPSHOT, {**target.base, "weights": weights, "subset": target.subset}


def entry_key(target: Target, run_key: str, step: int, original: bool) -> str:
    return make_key(*entry_kind_spec(target, run_key, step, original))


def write_snapshot(store: Store, target: Target, *, ref: ModelRef, encoder: Any, tokenizer: Any, run_key: str,
                   step: int, epoch: float, seed: int, original: bool, data_dir: Any, batch_tokens: int,
                   progress: Callable[[int, int], None] | None = None) -> str:
    """Store ``target``'s representations at ``step`` unless the store holds them; returns the entry key."""
    kind, spec = entry_kind_spec(target, run_key, step, original)
    key = make_key(kind, spec)
    if store.has(key):
        return key
    if kind == "embed":  # on the encoder's device, like every other snapshot
        return embed(target.task, target.split, ref.name, store=store, data_dir=data_dir,
                     task_options=target.task_options, dtype=spec["dtype"], batch_tokens=batch_tokens,
                     progress=progress, device=str(next(encoder.parameters()).device)).key
    data = target.load(store, data_dir)
    with store.lock(key):
        if store.has(key):
            return key
        with store.create(kind, spec) as writer:
            write_representations(writer, encoder, tokenizer, data, dtype=spec["dtype"],
                                  batch_tokens=batch_tokens, progress=progress)
            writer.summary.update({"model": ref.name, "model_path": str(ref.path), "step": step,
                                   "epoch": epoch, "seed": seed if not original else None,
                                   "run": run_key if not original else None, "subset": target.subset})
    return key
