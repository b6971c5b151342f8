"""Run a study's steps as Dask tasks (or, with no cluster, in this process): skip what is stored,
plan each step's follow-ups as soon as it ends, and report progress.

Each task's key is its step's store key (a fine-tuning step's: its run key, when known before it
runs), so a scheduler never runs one step twice at once, and a step whose output is stored is
never sent out.  A step runs on a worker as :func:`run_step`, reading and writing only the store.
"""
from __future__ import annotations

import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..config import given_data_roots
from ..store import Store
from .cluster import WORKER_WAIT, ClusterError, StepFailed, wait_for_workers, worker_resources
from .plan import Step
from .steps import ACTIONS, GPU_ACTIONS, finetune_state

if TYPE_CHECKING:
    from distributed import Client, Future

POLL = 1.0
"""Seconds between looks at the scheduler (its health, the steps running) while steps run."""


@dataclass
class StudyProgress:
    """Where a study stands: the share of the estimated work done, the time left, and the steps
    done, running and queued per kind."""

    total_cost: float = 0.0
    done_cost: float = 0.0
    left: dict[str, float] = field(default_factory=dict)
    """Estimated cost not yet done, per kind of step (its action)."""
    measured: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(cost, seconds) of the steps of each kind actually computed."""
    workers: int = 1
    """Steps running at once (set by :func:`execute`): the time left is their summed time over this."""
    planned: Counter = field(default_factory=Counter)
    """Steps planned so far, per kind."""
    done: Counter = field(default_factory=Counter)
    """Steps finished (computed or found stored), per kind."""
    running: Counter = field(default_factory=Counter)
    """Steps running now, per kind (as the scheduler last said)."""
    dashboard: str | None = None
    """The Dask dashboard's address, when the steps run on a cluster that serves one."""

    def add(self, steps: list[Step]) -> None:
        for step in steps:
            self.total_cost += step.cost
            self.left[step.action] = self.left.get(step.action, 0.0) + step.cost
            self.planned[step.action] += 1

    def finish(self, step: Step, seconds: float | None) -> None:
        """Count ``step`` done; ``seconds`` is None when it came from the store."""
        self.done_cost += step.cost
        self.left[step.action] -= step.cost
        self.done[step.action] += 1
        if seconds is not None:
            cost, spent = self.measured.get(step.action, (0.0, 0.0))
            self.measured[step.action] = (cost + step.cost, spent + seconds)

    def kinds(self) -> dict[str, tuple[int, int, int]]:
        """(done, running, queued) steps per kind, in the order the kinds were planned."""
        out = {}
        for action, n in self.planned.items():
            running = min(self.running.get(action, 0), n - self.done[action])
            out[action] = (self.done[action], running, n - self.done[action] - running)
        return out

    def describe(self) -> str:
        """One line: per kind, steps done of planned, and how many run and wait."""
        parts = []
        for action, (done, running, queued) in self.kinds().items():
            extra = ", ".join(f"{n} {what}" for n, what in ((running, "running"), (queued, "queued")) if n)
            parts.append(f"{action} {done}/{done + running + queued}" + (f" ({extra})" if extra else ""))
        return "; ".join(parts)

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

FollowUps = Callable[[Step, str], list[Step]]
"""Given a finished step and the key it stored, the steps it makes possible."""


def run_step(store_root: str, step_json: str, progress: Callable | None = None) -> tuple[str, float, str]:
    """Run one step in this process; returns its output key, its seconds and where it ran (the Dask
    worker's address, or ``"here"``).  On a worker, a failure names the step and the worker."""
    step = json.loads(step_json)
    where = _worker_address()
    start = time.perf_counter()
    try:
        with given_data_roots(step["params"].get("data_dir"), store_root):  # on a worker as in the CLI
            key = ACTIONS[step["action"]](Store(store_root), step["params"], progress)
    except Exception as exc:
        if where == "here":
            raise
        raise StepFailed(f"{step['label']} failed on worker {where}: {type(exc).__name__}: {exc}") from None
    return key, time.perf_counter() - start, where


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "here"


def execute(steps: list[Step], store: Store, progress: StudyProgress, *, client: "Client | None" = None,
            retries: int = 2, gpu: bool | None = None, report: Report | None = None,
            step_progress: Callable | None = None, then: FollowUps | None = None,
            worker_wait: float = WORKER_WAIT, local: bool = False) -> dict[str, str]:
    """Run ``steps`` and, as each ends, the follow-ups ``then`` plans from it; returns step key → stored key.

    Stored steps are skipped.  With a ``client`` every step is a Dask task (retried ``retries``
    times when it raises); ``gpu`` makes fine-tuning ask for ``GPU=1`` (None: when its device is
    ``cuda``); ``local``: the workers run on this machine (a LocalCluster), so the device of a
    fine-tuning step left to ``auto`` is known here.  Without a client, steps run here one by one
    and ``step_progress`` follows each one's own progress.
    """
    run = _Run(store, progress, client, report or (lambda message, p: None), then or (lambda step, key: []),
               local=local or client is None)
    run.plan(steps)
    if client is None:
        run.here(step_progress)
    else:
        run.on_cluster(client, retries, gpu, worker_wait)
    return run.out


class _Run:
    """The steps of one :func:`execute`: planned, stored, waiting and sent out."""

    def __init__(self, store: Store, progress: StudyProgress, client: "Client | None", report: Report,
                 then: FollowUps, local: bool):
        self.store, self.progress, self.client, self.report, self.then = store, progress, client, report, then
        self.local = local
        self.out: dict[str, str] = {}
        self.groups: dict[str, list[Step]] = {}
        """Task key → the planned steps it computes (several when studies share a step)."""
        self.todo: deque[str] = deque()
        self.gpu_tasks: set[str] = set()
        """Tasks sent out that ask for ``GPU=1`` and have not finished."""
        self.n_planned = self.n_stored = 0

    def plan(self, steps: list[Step]) -> None:
        """Add ``steps``: those stored are done at once (and their follow-ups planned), the rest wait."""
        queue = deque(steps)
        while queue:
            step = queue.popleft()
            if step.key in self.out:
                continue
            task, stored = self.triage(step)
            if task in self.groups:
                self.groups[task].append(step)
                continue
            self.n_planned += 1
            self.progress.add([step])
            if stored is None:
                self.groups[task] = [step]
                self.todo.append(task)
                continue
            self.n_stored += 1
            self.out[step.key] = stored
            self.progress.finish(step, None)
            queue.extend(self.then(step, stored))
        self.report(f"{self.n_stored} of {self.n_planned} steps already stored", self.progress)

    def triage(self, step: Step) -> tuple[str, str | None]:
        """The step's task key and, when the store holds its output, that output's key."""
        if step.action != "finetune":
            return step.key, step.key if self.store.has(step.key) else None
        state = finetune_state(self.store, step.params, here=self.local)
        if state is None:
            return step.key, None
        run, complete = state
        return run, run if complete else None

    def finished(self, task: str, output: str, seconds: float, where: str) -> None:
        """Record a task's output for every step it computes, then plan their follow-ups."""
        follow = []
        group = self.groups.pop(task)
        # A DirectProbe result copied from an identical layer's says nothing of the rate, like a stored one.
        copied = group[0].action == "directprobe" and self.store[output].summary.get("copied_from")
        self.progress.finish(group[0], None if copied else seconds)  # the group's others: the same step
        for step in group:
            self.out[step.key] = output
            follow.extend(self.then(step, output))
        on = "" if where == "here" else f" on {where}"
        how = ", copied from an identical layer's result" if copied else ""
        self.report(f"done: {group[0].label} ({seconds:.1f} s{on}{how})", self.progress)
        if follow:
            self.plan(follow)

    def here(self, step_progress: Callable | None) -> None:
        self.progress.workers = 1
        while self.todo:
            task = self.todo.popleft()
            step = self.groups[task][0]
            self.progress.running = Counter({step.action: 1})
            self.report(f"running: {step.label}", self.progress)
            output, seconds, where = run_step(str(self.store.root), json.dumps(step.as_dict()), step_progress)
            self.progress.running = Counter()
            self.finished(task, output, seconds, where)

    def on_cluster(self, client: "Client", retries: int, gpu: bool | None, worker_wait: float) -> None:
        address = client.scheduler.address
        futures: dict["Future", str] = {}
        nthreads = sum(client.nthreads().values())
        self.progress.workers = max(1, nthreads)
        try:
            self.submit(client, futures, retries, gpu, worker_wait)
            self.report(f"running {len(futures)} steps on {nthreads} Dask worker threads", self.progress)
            lost, checked = None, 0.0
            while futures:
                if _alive(client):
                    done = _some_done(client, futures)
                else:
                    done = set()
                    time.sleep(POLL)
                if time.monotonic() - checked >= POLL:
                    lost, checked = self.check(client, address, lost, worker_wait, futures), time.monotonic()
                for future in done:
                    task = futures.pop(future)
                    if future.status != "finished":
                        raise self.failure(future, task, address, len(futures) + 1, _alive(client))
                    output, seconds, where = future.result()
                    future.release()
                    self.gpu_tasks.discard(task)
                    self.finished(task, output, seconds, where)
                self.submit(client, futures, retries, gpu, worker_wait)
        finally:
            if futures and _alive(client):
                client.cancel(list(futures))

    def submit(self, client: "Client", futures: dict, retries: int, gpu: bool | None, worker_wait: float) -> None:
        """Send every waiting step to the scheduler, fine-tuning first asking for a GPU when it trains on one."""
        if not self.todo:
            return
        new = [self.todo.popleft() for _ in range(len(self.todo))]
        wanted = {task for task in new if _needs_gpu(self.groups[task][0], gpu)}
        if wanted and not self.gpu_tasks:
            wait_for_workers(client, client.scheduler.address, gpu=True, timeout=worker_wait)
        root = str(self.store.root)
        for task in new:
            step = self.groups[task][0]
            future = client.submit(run_step, root, json.dumps(step.as_dict()), key=task, retries=retries,
                                   resources={"GPU": 1} if task in wanted else None)
            futures[future] = task
        self.gpu_tasks |= wanted

    def check(self, client: "Client", address: str, lost: float | None, worker_wait: float,
              futures: dict) -> float | None:
        """Stop when the scheduler has been unreachable, or without a (GPU) worker, for ``worker_wait``
        seconds; otherwise note which steps run.  Returns since when the cluster looks lost (or None)."""
        now = time.monotonic()
        if not _alive(client):
            if client.status in ("closing", "closed") or (lost is not None and now - lost > worker_wait):
                raise _lost(address, len(futures))
            return lost if lost is not None else now
        try:
            resources = worker_resources(client)
            processing = client.processing()
        except (OSError, TimeoutError):
            return lost if lost is not None else now
        healthy = bool(resources) and (not self.gpu_tasks or any(r.get("GPU", 0) >= 1 for r in resources.values()))
        if healthy:
            lost = None
        elif lost is None:
            lost = now
        elif now - lost > worker_wait:
            wait_for_workers(client, address, gpu=bool(self.gpu_tasks), timeout=0)
        kinds = {task: steps[0].action for task, steps in self.groups.items()}
        running = [kinds[key] for keys in processing.values() for key in keys if key in kinds]
        self.progress.running = Counter(running[:self.progress.workers])  # beyond the threads, tasks wait
        self.report("", self.progress)
        return lost

    def failure(self, future: "Future", task: str, address: str, unfinished: int, alive: bool) -> Exception:
        """The error to stop with when a task did not finish: the step's own, or one naming the step."""
        step = self.groups[task][0]
        if future.status == "cancelled":
            if not alive:
                return _lost(address, unfinished)
            return ClusterError(f"{step.label}: the scheduler at {address} cancelled the step (was it restarted?); "
                                f"running the study again continues from the store")
        exc = future.exception()
        if isinstance(exc, StepFailed):
            return exc
        return StepFailed(f"{step.label} failed on the cluster at {address}: {type(exc).__name__}: {exc}")


def _some_done(client: "Client", futures: dict) -> set:
    """The futures done once at least one is, or after :data:`POLL` seconds."""
    from distributed import wait
    from distributed.client import FuturesCancelledError

    try:
        with client.as_current():
            wait(list(futures), timeout=POLL, return_when="FIRST_COMPLETED")
    except (TimeoutError, FuturesCancelledError):
        pass
    return {future for future in futures if future.done()}


def _lost(address: str, unfinished: int) -> ClusterError:
    return ClusterError(f"lost the Dask scheduler at {address} with {unfinished} steps unfinished; what finished "
                        f"is stored, so running the study again continues from there")


def _alive(client: "Client") -> bool:
    return client.status == "running"


def _needs_gpu(step: Step, gpu: bool | None) -> bool:
    if step.action not in GPU_ACTIONS:
        return False
    if gpu is not None:
        return gpu
    return str(step.params.get("device") or "").strip().lower().startswith("cuda")
