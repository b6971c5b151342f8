"""What a study will store, estimated before it starts, so that one that cannot fit is refused."""
from __future__ import annotations

import json

import numpy as np

from ..limits import ensure_space, representation_bytes
from ..models import model_folder
from ..store import Store
from ..tasks import load_task, task_kind, task_splits
from .spec import StudySpec


def study_bytes(spec: StudySpec) -> int:
    """A lower estimate of a study's store size: every layer of every split's targets under the
    original model and at the end of each seed's run (snapshots in between only add to it)."""
    _, folder = model_folder(spec.model)
    config = json.loads((folder / "config.json").read_text())
    layers = int(config["num_hidden_layers"]) + 1
    hidden = int(config["hidden_size"]) * (2 if task_kind(spec.task, spec.task_options) == "pair" else 1)
    n_targets = sum(load_task(spec.task, split, data_dir=spec.data_dir, options=spec.task_options).n_targets
                    for split in task_splits(spec.task, spec.task_options))
    itemsize = np.dtype(spec.snapshots.dtype).itemsize
    return (1 + len(spec.seeds)) * representation_bytes(n_targets, layers, hidden, itemsize)


def ensure_study_fits(specs: list[StudySpec], store: Store) -> None:
    """Refuse the studies (a :class:`analysis.limits.LimitError`) if their estimate does not fit the store's disk."""
    needed = sum(study_bytes(spec) for spec in specs)
    ensure_space(store.root, needed, f"the stud{'ies' if len(specs) > 1 else 'y'} of {', '.join(s.task for s in specs)}")
