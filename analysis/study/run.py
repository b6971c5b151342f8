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
    """Where a study stands: the current step, the share of the estimated work done, time left."""

    total_cost: float
    done_cost: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    computed_cost: float = 0.0
    computed_seconds: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done_cost / self.total_cost if self.total_cost else 1.0

    def seconds_left(self) -> float | None:
        """Time left at the rate measured on the steps actually computed (None before the first)."""
        if not self.computed_cost:
            return None
        return (self.total_cost - self.done_cost) * self.computed_seconds / self.computed_cost


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
            progress.done_cost += step.cost
        else:
            todo.append(step)
    report(f"{len(steps) - len(todo)} of {len(steps)} steps already stored", progress)

    def finished(step: Step, key: str, seconds: float) -> None:
        out[step.key] = key
        progress.done_cost += step.cost
        progress.computed_cost += step.cost
        progress.computed_seconds += seconds
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
