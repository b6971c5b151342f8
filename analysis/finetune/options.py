"""The options of a fine-tuning run: what determines its training, and what it records."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..limits import check_seed_count

Optimizer = Literal["adamw", "bertadam"]
Batching = Literal["random", "length"]

OPTIMIZERS: tuple[str, ...] = ("adamw", "bertadam")
BATCHINGS: tuple[str, ...] = ("random", "length")


@dataclass(frozen=True)
class TrainOptions:
    """Everything that determines the training trajectory of one seed (part of the run key).

    ``steps`` (total updates) overrides ``epochs`` when given, cycling through the data for as
    long as needed.  ``train_size`` down-samples the training targets with ``sample_seed``, so
    every training seed sees the same subset; the train split of every task recorded alongside
    (cross-task) is down-sampled the same way, so that its analyses stay as small.  ``dropout``
    ``None`` keeps the model's own.
    """

    epochs: int = 10
    steps: int | None = None
    batch_size: int = 32
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_grad_norm: float | None = 1.0
    dropout: float | None = None
    optimizer: Optimizer = "adamw"
    reinit_layers: int = 0
    train_size: int | None = None
    sample_seed: int = 0
    batching: Batching = "length"

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"steps must be at least 1, not {self.steps}"),
            (self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}"),
            (self.lr > 0, f"learning rate must be positive, not {self.lr}"),
            (self.weight_decay >= 0, f"weight decay must be >= 0, not {self.weight_decay}"),
            (0 <= self.warmup < 1, f"warm-up is a fraction of the updates in [0, 1), not {self.warmup}"),
            (self.max_grad_norm is None or self.max_grad_norm > 0,
             f"max grad norm must be positive, not {self.max_grad_norm}"),
            (self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1), not {self.dropout}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"),
            (self.reinit_layers >= 0, f"reinit layers must be >= 0, not {self.reinit_layers}"),
            (self.train_size is None or self.train_size >= 1, f"train size must be at least 1, not {self.train_size}"),
            (self.batching in BATCHINGS, f"batching must be one of {', '.join(BATCHINGS)}, not {self.batching!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The options that determine the trajectory: as :meth:`as_dict`, but ``epochs`` is ``None``
        when ``steps`` overrides it, so runs that train identically share a run key."""
        return {**self.as_dict(), "epochs": None} if self.steps is not None else self.as_dict()


PROBE_STEPS: tuple[str, ...] = ("all", "ends")


@dataclass(frozen=True)
class SnapshotOptions:
    """What a run records (not part of the run key: the trajectory does not depend on it).

    Snapshots are taken at update 0, at the last update, every ``every`` updates (0: never)
    and at the end of every ``epochs``-th epoch (default 1: every epoch end, as the paper's
    analyses ask; 0: never; ``"auto"``: as many evenly spaced epoch ends as keep the estimated
    inline snapshot cost within 10% of training, see
    :func:`analysis.finetune.train.auto_snapshot_epochs`).  The probe tasks are recorded at
    every snapshot (``probe_steps="all"``) or only at update 0 and the last update
    (``"ends"``: all that cross-task comparisons of the original and final model read).
    """

    every: int = 0
    epochs: int | Literal["auto"] = 1
    probe_tasks: tuple[str, ...] = field(default_factory=tuple)
    probe_steps: str = "all"
    dtype: str = "float32"
    keep_weights: bool = False
    batch_tokens: int = 8192

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ValueError(f"snapshot interval must be >= 0 updates, not {self.every}")
        if self.epochs != "auto" and not (isinstance(self.epochs, int) and self.epochs >= 0):
            raise ValueError(f"snapshot epoch interval must be an integer >= 0 or 'auto', not {self.epochs!r}")
        if self.probe_steps not in PROBE_STEPS:
            raise ValueError(f"probe steps must be one of {', '.join(PROBE_STEPS)}, not {self.probe_steps!r}")
        if self.batch_tokens < 1:
            raise ValueError(f"batch tokens must be at least 1, not {self.batch_tokens}")
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"snapshot dtype must be float32 or float16, not {self.dtype!r}")


MAX_SEED = 2**32 - 1
"""The largest training seed (NumPy's seeding limit)."""


def parse_seeds(text: str) -> list[int]:
    """``"1-20"``, ``"3"`` or ``"1,4,7-9"`` as a sorted list of distinct seeds.

    More seeds than the cap (:func:`analysis.limits.check_seed_count`) are refused before any list is built.
    """
    ranges = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d{1,19})(?:-(\d{1,19}))?", part)
        if not match:
            raise ValueError(f"seeds are like 1-20 or 1,3,5-7; cannot read {part[:40]!r}")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"seed range {part!r} runs backwards")
        if high > MAX_SEED:
            raise ValueError(f"seeds must be at most {MAX_SEED}, not {high}")
        ranges.append((low, high))
    count, reach = 0, -1
    for low, high in sorted(ranges):
        count += max(0, high - max(low, reach + 1) + 1)
        reach = max(reach, high)
    check_seed_count(count)
    return sorted({seed for low, high in ranges for seed in range(low, high + 1)})
