"""Run a study's steps: skip what is stored, run the rest in local processes, report progress."""
from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable

from ..store import Store
from .plan import Step
from .steps import ACTIONS


@dataclass
class StudyProgress:
    """Where a study stands: the share of the estimated work done, and the time left."""

    total_cost: float = 0.0
    done_cost: float = 0.0
    left: dict[str, float] = field(default_factory=dict)
    """Estimated cost not yet done, per kind of step (its action)."""
    measured: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(cost, seconds) of the steps of each kind actually computed."""
    workers: int = 1
    """Steps running at once (set by :func:`execute`): the time left is their summed time over this."""

    def add(self, steps: list[Step]) -> None:
        for step in steps:
            self.total_cost += step.cost
            self.left[step.action] = self.left.get(step.action, 0.0) + step.cost

    def finish(self, step: Step, seconds: float | None) -> None:
        """Count ``step`` done; ``seconds`` is None when it came from the store."""
        self.done_cost += step.cost
        self.left[step.action] -= step.cost
        if seconds is not None:
            cost, spent = self.measured.get(step.action, (0.0, 0.0))
            self.measured[step.action] = (cost + step.cost, spent + seconds)

    @property
    def fraction(self) -> float:
        return self.done_cost / self.total_cost if self.total_cost else 1.0

    def seconds_left(self) -> float | None:
        """Wall-clock seconds left: each kind of step at the rate measured on it, kinds not yet timed
        at the rate of those that took a second or more (a fine-tuning run found finished in the
        store says nothing of DirectProbe's speed), shared by the workers; None until one has."""
        timed = [(c, t) for c, t in self.measured.values() if t >= 1.0]
        if not timed:
            return None
        fallback = sum(t for _, t in timed) / sum(c for c, _ in timed)
        left = 0.0
        for action, todo in self.left.items():
            c, t = self.measured.get(action, (0.0, 0.0))
            left += todo * (t / c if t >= 1.0 else fallback)
        return max(left, 0.0) / self.workers


Report = Callable[[str, StudyProgress], None]
"""A callback ``(message, progress)`` called before and after each step."""


def run_step(store_root: str, step_json: str, progress: Callable | None = None) -> tuple[str, float]:
    """Run one step in this process; returns its output key and its seconds (process-pool entry point)."""
    step = json.loads(step_json)
    start = time.perf_counter()
    key = ACTIONS[step["action"]](Store(store_root), step["params"], progress)
    return key, time.perf_counter() - start


def execute(steps: list[Step], store: Store, progress: StudyProgress, *, workers: int = 1,
            report: Report | None = None, step_progress: Callable | None = None) -> dict[str, str]:
    """Run ``steps`` (skipping stored ones), ``workers`` local processes at a time; returns step → key.

    With one worker, steps run in this process and ``step_progress`` follows each one's own progress.
    """
    report = report or (lambda message, p: None)
    out: dict[str, str] = {}
    todo = []
    for step in steps:
        if step.action != "finetune" and store.has(step.key):
            out[step.key] = step.key
            progress.finish(step, None)
        else:
            todo.append(step)
    progress.workers = max(1, min(workers, len(todo)))
    report(f"{len(steps) - len(todo)} of {len(steps)} steps already stored", progress)

    def finished(step: Step, key: str, seconds: float) -> None:
        out[step.key] = key
        progress.finish(step, seconds)
        report(f"done: {step.label} ({seconds:.1f} s)", progress)

    if workers <= 1 or len(todo) <= 1:
        for step in todo:
            report(f"running: {step.label}", progress)
            key, seconds = run_step(str(store.root), json.dumps(step.as_dict()), step_progress)
            finished(step, key, seconds)
        return out
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_step, str(store.root), json.dumps(s.as_dict())): s for s in todo}
        report(f"running {len(todo)} steps in {workers} processes", progress)
        for future in as_completed(futures):
            key, seconds = future.result()
            finished(futures[future], key, seconds)
    return out
