"""Snapshots in background processes, on the cores that training leaves idle.

A snapshot is one inference pass over the train and test targets: 38% of a POS epoch's
training time with one thread (bench/RESULTS.md), during which an inline snapshot stalls
training.  When training runs on fewer threads than the machine has cores,
:class:`SnapshotWorkers` hands the snapshot to a worker process instead: the encoder's weights
at that update are written to ``pending/step-NNNNNN.safetensors`` in the run's work folder (a
copy of its own, which later updates cannot overwrite) and the worker stores the snapshot
entries from it with the inline path's own code (:func:`.snapshots.write_snapshot`) while
training goes on.  Training waits for a worker only when every worker is busy, and at the end.

A weights copy is deleted once every entry of its step is stored, so a run killed before then
finds it on resume and redoes that snapshot from it: whether a snapshot happened is decided by
the store alone.  A job is a JSON object (see :func:`run_job`); workers read jobs as JSON lines
on stdin and answer one JSON line per job on stdout (``python -m analysis.finetune.worker``).
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ..config import DATA_ROOTS_ENV, given_roots
from ..models import ModelRef, load_model
from ..store import Store
from .checkpoint import deterministic, load_weights, save_weights, temporary
from .snapshots import Target, entry_key, write_snapshot

PENDING = "pending"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``analysis`` package, put on a worker's ``PYTHONPATH``."""


def pending_weights(work: Path, step: int) -> Path:
    """Where the weights of the snapshot at ``step`` wait for their worker."""
    return work / PENDING / f"step-{step:06d}.safetensors"


def write_pending(encoder: Any, work: Path, step: int) -> Path:
    """Write the encoder's weights for the snapshot at ``step`` (atomically: a file with the final name is whole)."""
    path = pending_weights(work, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    save_weights(encoder, tmp)
    os.replace(tmp, path)
    return path


def job_targets(job: dict[str, Any]) -> list[Target]:
    return [Target(**t) for t in job["targets"]]


def job_stored(store: Store, job: dict[str, Any]) -> bool:
    """Whether every snapshot entry of ``job`` is in the store."""
    return all(store.has(entry_key(t, job["run"], job["step"], job["original"])) for t in job_targets(job))


def run_job(job: dict[str, Any], cache: dict[str, Any]) -> None:
    """Store the snapshot entries a job describes, from its weights file, unless they are stored.

    ``job``: ``store``, ``ref`` (name, path, fingerprint), ``weights`` (file), ``run``, ``step``,
    ``epoch``, ``seed``, ``original``, ``data_dir``, ``batch_tokens``, ``threads`` and
    ``targets`` (:meth:`Target.as_json`).  ``cache`` keeps the loaded model and the targets'
    data between the jobs of one worker.
    """
    store = Store(job["store"])
    if job_stored(store, job):
        return
    ref = ModelRef(job["ref"]["name"], Path(job["ref"]["path"]), job["ref"]["fingerprint"])
    if cache.get("model_key") != ref.fingerprint:
        cache.update(model_key=ref.fingerprint, model=load_model(ref), targets={})
    tokenizer, encoder = cache["model"]
    load_weights(encoder, Path(job["weights"]))
    with deterministic(job["threads"]):
        for spec in job["targets"]:
            target = cache["targets"].setdefault(json.dumps(spec, sort_keys=True), Target(**spec))
            write_snapshot(store, target, ref=ref, encoder=encoder, tokenizer=tokenizer, run_key=job["run"],
                           step=job["step"], epoch=job["epoch"], seed=job["seed"], original=job["original"],
                           data_dir=job["data_dir"], batch_tokens=job["batch_tokens"])


class SnapshotWorkers:
    """Up to ``n`` worker processes of one thread each, one job each at a time, started on first use.

    ``submit`` gives a job to an idle worker (waiting for one if all are busy); ``finished`` and
    ``wait`` return the steps whose jobs have completed (without blocking, and after all
    outstanding jobs, respectively).  A job that failed, or a
    worker that died, raises ``RuntimeError`` naming the worker's log.
    """

    def __init__(self, n: int, log_dir: Path):
        self.n, self.log_dir = n, log_dir
        self.procs: list[subprocess.Popen] = []
        self.busy: dict[int, int] = {}  # worker index -> step of its job
        self.done: list[int] = []  # completed steps not yet returned
        self.replies: queue.Queue[tuple[int, str | None]] = queue.Queue()

    def _start(self) -> int:
        index = len(self.procs)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p),
               # a data folder or store given on the command line is a data root in the workers too
               DATA_ROOTS_ENV: os.pathsep.join(p for p in (os.environ.get(DATA_ROOTS_ENV), *map(str, given_roots()))
                                               if p)}
        with open(self.log(index), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "analysis.finetune.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        threading.Thread(target=self._read, args=(index, proc.stdout), daemon=True).start()
        self.procs.append(proc)
        return index

    def _read(self, index: int, stream: IO[str]) -> None:
        for line in stream:
            self.replies.put((index, line))
        self.replies.put((index, None))

    def log(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def submit(self, job: dict[str, Any]) -> None:
        idle = [i for i in range(len(self.procs)) if i not in self.busy]
        if not idle and len(self.procs) < self.n:
            idle = [self._start()]
        while not idle:
            idle = [self._take(block=True)]
        self.busy[idle[0]] = job["step"]
        stdin = self.procs[idle[0]].stdin
        stdin.write(json.dumps({**job, "threads": 1}) + "\n")
        stdin.flush()

    def _take(self, block: bool) -> int:
        """Record one completed job's step in ``done``; returns its worker's index.

        Raises ``queue.Empty`` when not blocking and no job has completed.
        """
        index, line = self.replies.get(block=block)
        step = self.busy.pop(index, None)
        if line is None:
            code = self.procs[index].wait()
            during = f" during the snapshot at update {step}" if step is not None else ""
            raise RuntimeError(f"snapshot worker {index} exited with code {code}{during}; see {self.log(index)}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"background snapshot at update {reply['step']} failed: {reply['error']} "
                               f"(see {self.log(index)})")
        self.done.append(reply["step"])
        return index

    def finished(self) -> list[int]:
        with contextlib.suppress(queue.Empty):
            while True:
                self._take(block=False)
        steps, self.done = self.done, []
        return steps

    def wait(self) -> list[int]:
        while self.busy:
            self._take(block=True)
        return self.finished()

    def close(self) -> None:
        """End every worker: let idle ones exit, stop busy ones (their jobs are redone on resume)."""
        for index, proc in enumerate(self.procs):
            if index in self.busy:
                proc.terminate()
            try:
                proc.stdin.close()
            except OSError:  # the worker has already gone
                pass
        for proc in self.procs:
            proc.wait()
        self.procs, self.busy = [], {}
