"""Fine-tune an encoder on a task, recording snapshots, resumably: :func:`finetune` (one seed).

At update 0, at the last update, every ``--snapshot-every`` updates and at the end of every
``--snapshot-epochs``-th epoch (by default every epoch), every layer's representations of the
task's train and test targets (and of the probe tasks') are stored.  At these steps and at
every epoch end, the training loss and test accuracy are recorded and the full training state
is checkpointed.  When training leaves cores idle, every snapshot but the last is stored by
background worker processes while training goes on (:mod:`.background`).  A run killed at
any point resumes from its last checkpoint when called again and reaches bit-identical
weights on CPU: the data order of an epoch is a function of (seed, epoch), and the model,
optimiser, schedule and RNG states are restored exactly.  Training runs on the GPU when
there is one (``device``); there a resume is as exact as CUDA's deterministic algorithms make it.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..embed import EMBED_VERSION
from ..limits import ensure_space, representation_bytes
from ..models import ModelRef, load_model, resolve_device, resolve_model
from ..store import Store, make_key, sha256_file
from ..tasks import load_task, task_files, task_splits
from .background import PENDING, SnapshotWorkers, job_stored, pending_weights, run_job, write_pending
from .checkpoint import clean_checkpoint_leftovers, deterministic, load_checkpoint, save_checkpoint, save_weights
from .examples import Inputs, downsample, epoch_batches, eval_batches, gather, prepare, updates_per_epoch
from .heads import TargetClassifier, model_dropout, set_dropout
from .optim import make_optimizer, make_schedule
from .options import SnapshotOptions, TrainOptions
from .reinit import reinit_top_layers
from .runs import process_info, read_record, write_record
from .snapshots import Target, entry_key, make_target, write_snapshot

FINETUNE_VERSION = "finetune-1"
"""Bump when training changes in a way that changes its results (it is part of every run key)."""

SPLITS = ("train", "test")

Progress = Callable[[str, int, int], None]
"""A progress callback ``(stage, done, total)``: stage ``train`` counts updates, stages
``snapshot <task>/<split> @<step>`` count targets."""


def run_spec(ref: ModelRef, task: str, *, seed: int, options: TrainOptions, data_dir: Any = None,
             task_options: dict | None = None, store: Store | None = None, device: str = "cpu") -> dict[str, Any]:
    """Everything that determines a run's trajectory: weights, data checksums, options, seed, code,
    and the device type (``device``, e.g. ``"cuda"``) unless it is the CPU, so CPU run keys stay
    as they were before runs could train on a GPU."""
    available = task_splits(task, task_options)
    if missing := [s for s in SPLITS if s not in available]:
        raise ValueError(f"fine-tuning needs a train and a test split; task {task!r} has no "
                         f"{' or '.join(missing)} split (it has {', '.join(available)})")
    data = {split: sorted(sha256_file(f) for f in task_files(task, split, data_dir=data_dir, options=task_options,
                                                            store=store)) for split in SPLITS}
    spec = {"model": ref.fingerprint, "task": task, "data": data, "task_options": task_options or {},
            "options": options.identity(), "seed": seed, "version": FINETUNE_VERSION, "embed_version": EMBED_VERSION}
    return spec if device == "cpu" else {**spec, "device": device}


SNAPSHOT_BUDGET = 0.10
"""The share of training time that ``--snapshot-epochs auto`` lets inline snapshots cost (:func:`auto_snapshot_epochs`)."""


def auto_snapshot_epochs(total: int, per_epoch: int, train_tokens: int, test_tokens: int) -> int:
    """The ``auto`` epoch interval: as many evenly spaced epoch-end snapshots as fit the budget (0: none).

    A snapshot costs one forward pass over the train and test tokens, an epoch three (forward
    and backward) over the train tokens; update 0 and the end take two snapshots of the budget.
    """
    epochs = total / per_epoch
    affordable = int(SNAPSHOT_BUDGET * 3 * train_tokens * epochs / (train_tokens + test_tokens))
    if affordable <= 2:
        return 0
    return max(1, math.ceil(math.ceil(epochs) / (affordable - 1)))


def epoch_interval(snapshots: SnapshotOptions, auto: int) -> int:
    """The epoch interval of the snapshot schedule (``auto``: the run's :func:`auto_snapshot_epochs`)."""
    return auto if snapshots.epochs == "auto" else int(snapshots.epochs)


def targets_at(step: int, total: int, own: list[Target], probes: list[Target], probe_steps: str) -> list[Target]:
    """The targets snapshotted at ``step``: the task's own always, the probe tasks' at every
    snapshot (``probe_steps="all"``) or at update 0 and the last update only (``"ends"``)."""
    return own + probes if probe_steps == "all" or step in (0, total) else own


def snapshot_steps(total: int, per_epoch: int, every: int, epochs: int) -> list[int]:
    """Update 0, the last update, every ``every`` updates and every ``epochs``-th epoch end (0: never)."""
    steps = {0, total}
    if every:
        steps.update(range(every, total + 1, every))
    if epochs:
        steps.update(range(per_epoch * epochs, total + 1, per_epoch * epochs))
    return sorted(steps)


def finetune(task: str, model: str | None = None, *, seed: int = 1, options: TrainOptions | None = None,
             snapshots: SnapshotOptions | None = None, store: Store | None = None, data_dir: Any = None,
             task_options: dict | None = None, progress: Progress | None = None,
             threads: int | None = None, snapshot_workers: int | None = None,
             device: str | None = None) -> dict[str, Any]:
    """Fine-tune ``model`` on ``task`` with one seed; returns the run record (see :mod:`.runs`) plus ``hit``.

    A finished run whose requested snapshots are all stored is a hit: no model is loaded.  An
    unfinished one resumes from its last checkpoint; a finished one asked for snapshots it does
    not hold (new probe tasks, a finer interval) trains again from the start, deterministically,
    storing only what is missing, and stays ``done`` meanwhile.  ``threads`` sets torch's
    thread count for training (default: torch's own); on a machine shared with other busy
    processes, 1 thread can be several times faster than 2 (see bench/RESULTS.md).
    ``snapshot_workers`` background processes store the snapshots before the last one while
    training goes on, on the CPU (default: one per core that ``threads`` leaves idle; none when
    ``threads`` is not given or training runs on a GPU, where inline snapshots are fast).
    ``device``: where training and inline snapshots run (:func:`analysis.models.resolve_device`;
    default: the GPU when there is one); a GPU run has a run key of its own.
    """
    options = options or TrainOptions()
    snapshots = snapshots or SnapshotOptions()
    store = store or Store()
    target = resolve_device(device)
    if snapshot_workers is None:
        snapshot_workers = max(0, (os.cpu_count() or 1) - threads) if threads and target.type == "cpu" else 0
    if snapshot_workers < 0:
        raise ValueError(f"snapshot workers must be >= 0, not {snapshot_workers}")
    ref = resolve_model(model, store)
    spec = run_spec(ref, task, seed=seed, options=options, data_dir=data_dir, task_options=task_options, store=store,
                    device=target.type)
    key = make_key("run", spec)
    subset = _subset(options)
    probes = _probes(task, snapshots)
    with store.lock(key):
        record = read_record(store, key)
        if _complete(store, record, ref, task, key, options, snapshots, data_dir, task_options, probes):
            return {**record, "hit": True}
        training = _Training(store, ref, task, key, spec, seed, options, snapshots, data_dir, task_options,
                             subset, probes, progress, threads, snapshot_workers, target)
        return {**training.run(record), "hit": False}


def stored_run(task: str, model: str | None = None, *, seed: int = 1, options: TrainOptions | None = None,
               snapshots: SnapshotOptions | None = None, store: Store | None = None, data_dir: Any = None,
               task_options: dict | None = None, device: str = "cpu") -> tuple[str, bool]:
    """The run key :func:`finetune` would use on a ``device`` of that type (``cpu``, ``cuda``) and
    whether the store already holds the whole run (a hit), found without loading the model or
    needing that device: a study skips such runs instead of sending them out."""
    options = options or TrainOptions()
    snapshots = snapshots or SnapshotOptions()
    store = store or Store()
    ref = resolve_model(model, store)
    spec = run_spec(ref, task, seed=seed, options=options, data_dir=data_dir, task_options=task_options, store=store,
                    device=device)
    key = make_key("run", spec)
    complete = _complete(store, read_record(store, key), ref, task, key, options, snapshots, data_dir, task_options,
                         _probes(task, snapshots))
    return key, complete


def _subset(options: TrainOptions) -> dict | None:
    return None if options.train_size is None else {"train_size": options.train_size,
                                                    "sample_seed": options.sample_seed}


def _probes(task: str, snapshots: SnapshotOptions) -> list[tuple[str, str]]:
    return [(t, s) for t in snapshots.probe_tasks if t != task for s in SPLITS if s in task_splits(t)]


def _complete(store: Store, record: dict | None, ref: ModelRef, task: str, key: str, options: TrainOptions,
              snapshots: SnapshotOptions, data_dir: Any, task_options: dict | None,
              probes: list[tuple[str, str]]) -> bool:
    """Whether run ``key`` is done and every snapshot ``snapshots`` asks for is stored."""
    if record is None or record["status"] != "done":
        return False
    subset = _subset(options)
    own = [make_target(ref, task, "train", data_dir=data_dir, task_options=task_options, dtype=snapshots.dtype,
                       subset=subset),
           make_target(ref, task, "test", data_dir=data_dir, task_options=task_options, dtype=snapshots.dtype)]
    others = [make_target(ref, t, s, data_dir=data_dir, task_options=None, dtype=snapshots.dtype,
                          subset=subset if s == "train" else None) for t, s in probes]
    total = record["total_steps"]
    steps = snapshot_steps(total, record["updates_per_epoch"], snapshots.every,
                           epoch_interval(snapshots, record["auto_snapshot_epochs"]))
    original = options.reinit_layers == 0
    return all(store.has(entry_key(t, key, s, original and s == 0))
               for s in steps for t in targets_at(s, total, own, others, snapshots.probe_steps))


class _Training:
    """One seed's training: model, data, optimiser and the bookkeeping of its record."""

    def __init__(self, store: Store, ref: ModelRef, task: str, key: str, spec: dict[str, Any], seed: int,
                 options: TrainOptions, snapshots: SnapshotOptions, data_dir: Any, task_options: dict | None,
                 subset: dict | None, probes: list[tuple[str, str]], progress: Progress | None,
                 threads: int | None = None, snapshot_workers: int = 0, device: torch.device = torch.device("cpu")):
        self.store, self.ref, self.task, self.key, self.spec, self.seed = store, ref, task, key, spec, seed
        self.options, self.snap, self.data_dir, self.task_options = options, snapshots, data_dir, task_options
        self.subset, self.probes, self.progress, self.threads = subset, probes, progress, threads
        self.n_workers = snapshot_workers
        self.device = device
        self.workers: SnapshotWorkers | None = None
        self.work = store.work_dir(key)

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        o = self.options
        train = load_task(self.task, "train", data_dir=self.data_dir, options=self.task_options, store=self.store)
        test = load_task(self.task, "test", data_dir=self.data_dir, options=self.task_options, store=self.store)
        if o.train_size is not None:
            train, _ = downsample(train, o.train_size, o.sample_seed)
        self.tokenizer, encoder = load_model(self.ref)
        self.pad_id = self.tokenizer.pad_token_id or 0
        max_len = min(int(getattr(encoder.config, "max_position_embeddings", 512)), 512)
        self.train_inputs = prepare(self.tokenizer, train, max_len)
        self.test_inputs = prepare(self.tokenizer, test, max_len)
        self.train_labels = torch.from_numpy(train.labels).to(self.device)
        self.test_labels = torch.from_numpy(test.labels).to(self.device)
        self.per_epoch = updates_per_epoch(self.train_inputs, o.batch_size)
        self.total = o.steps or o.epochs * self.per_epoch
        from transformers import set_seed

        set_seed(self.seed)
        reinit_top_layers(encoder, o.reinit_layers)
        self.model = TargetClassifier(encoder, train.kind, len(train.label_names),
                                      model_dropout(encoder) if o.dropout is None else o.dropout)
        if o.dropout is not None:
            set_dropout(self.model, o.dropout)
        self.model.to(self.device)  # built on the CPU first: a seed initialises the head alike on every device
        self.model.train()
        self.optimizer = make_optimizer(self.model, o.optimizer, o.lr, o.weight_decay)
        self.scheduler = make_schedule(self.optimizer, self.total, o.warmup)
        majority = int(np.bincount(train.labels, minlength=len(train.label_names)).argmax())
        self.majority_baseline = float(np.mean(test.labels == majority))
        dtype = self.snap.dtype
        self.own_targets: list[Target] = [
            make_target(self.ref, self.task, "train", data_dir=self.data_dir, task_options=self.task_options,
                        dtype=dtype, subset=self.subset, data=train),
            make_target(self.ref, self.task, "test", data_dir=self.data_dir, task_options=self.task_options,
                        dtype=dtype, data=test),
        ]
        self.probe_targets: list[Target] = [make_target(self.ref, t, s, data_dir=self.data_dir, task_options=None,
                                                        dtype=dtype, subset=self.subset if s == "train" else None)
                                            for t, s in self.probes]
        self.auto_epochs = auto_snapshot_epochs(self.total, self.per_epoch, sum(self.train_inputs.tokens),
                                                sum(self.test_inputs.tokens))
        self.snap_steps = snapshot_steps(self.total, self.per_epoch, self.snap.every,
                                         epoch_interval(self.snap, self.auto_epochs))
        self.record_steps = set(self.snap_steps) | set(range(self.per_epoch, self.total + 1, self.per_epoch))

    def new_record(self) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        train = self.train_inputs.data
        return {
            "run": self.key, "group": make_key("rungroup", {k: v for k, v in self.spec.items() if k != "seed"}),
            "spec": self.spec, "model": self.ref.name, "model_path": str(self.ref.path), "task": self.task,
            "seed": self.seed, "options": self.options.identity(), "task_options": self.task_options or {},
            "status": "running", "error": None, "step": 0, "total_steps": self.total,
            "updates_per_epoch": self.per_epoch, "auto_snapshot_epochs": self.auto_epochs, "n_train": train.n_targets,
            "n_train_sentences": self.train_inputs.n_sentences, "n_test": self.test_inputs.data.n_targets,
            "label_names": train.label_names, "majority_baseline": self.majority_baseline,
            "checkpoint": None, "metrics": [], "snapshots": [], "final": None,
            "train_seconds": 0.0, "snapshot_seconds": 0.0, "eval_seconds": 0.0, "created": now, "updated": now,
        }

    def original(self, step: int) -> bool:
        return step == 0 and self.options.reinit_layers == 0

    def targets_at(self, step: int) -> list[Target]:
        return targets_at(step, self.total, self.own_targets, self.probe_targets, self.snap.probe_steps)

    def ensure_room(self, missing: list[int]) -> None:
        """Refuse the run before it trains when what it has still to store (its missing snapshots, a
        checkpoint, the kept weights) exceeds the per-run cap or the free disk (:func:`ensure_space`)."""
        config = self.model.encoder.config
        layers, hidden = int(config.num_hidden_layers) + 1, int(config.hidden_size)
        itemsize = np.dtype(self.snap.dtype).itemsize
        needed = 0
        sizes: dict[int, int] = {}  # one snapshot's bytes per target
        for step in missing:
            for target in self.targets_at(step):
                if not self.store.has(entry_key(target, self.key, step, self.original(step))):
                    if id(target) not in sizes:
                        # kept only when every snapshot is written here: background workers load their
                        # own copies (the last snapshot, written here, then loads it again)
                        data = target.load(self.store, self.data_dir, keep=not self.n_workers)
                        width = hidden * (2 if data.kind == "pair" else 1)
                        sizes[id(target)] = representation_bytes(data.n_targets, layers, width, itemsize)
                    needed += sizes[id(target)]
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        encoder = sum(p.numel() * p.element_size() for p in self.model.encoder.parameters())
        needed += (6 * weights  # two checkpoints at once (a new one is written before the old goes), Adam's two moments each
                   + self.n_workers * encoder  # encoder weights waiting for the snapshot workers
                   + (len(missing) * encoder if self.snap.keep_weights else 0))
        ensure_space(self.store.root, needed, f"fine-tuning run {self.key} ({len(missing)} snapshots to store)")

    def missing_steps(self) -> list[int]:
        return [s for s in self.snap_steps
                if any(not self.store.has(entry_key(t, self.key, s, self.original(s))) for t in self.targets_at(s))]

    # -- the loop -------------------------------------------------------------------------------
    def run(self, record: dict[str, Any] | None) -> dict[str, Any]:
        with deterministic(self.threads):
            self.setup()
            self.record = record or self.new_record()
            done = self.record["status"] == "done"
            missing = self.missing_steps()
            self.ensure_room(missing)
            self.collect([s for s in self.snap_steps if s not in missing])  # stored after the record was saved
            self.stop = max(missing, default=0) if done else self.total
            start, redo = 0, []
            checkpoint = self.record["checkpoint"]
            clean_checkpoint_leftovers(self.work)
            if not done and checkpoint and (self.work / checkpoint).is_dir():
                counters = load_checkpoint(self.work / checkpoint, self.model, self.optimizer, self.scheduler)
                redo = [s for s in missing if s <= counters["step"]]
                if all(pending_weights(self.work, s).is_file() for s in redo):
                    self.counters, start = counters, counters["step"]
                else:  # a snapshot before the checkpoint is missing and has no weights to redo it from
                    self.setup()
                    redo = []
            if start == 0:
                self.counters = {"step": 0, "window_loss": 0.0, "window_n": 0, "epoch_loss": 0.0, "epoch_n": 0}
            self.record.update(error=None, process=process_info(), device=self.device.type,
                               device_name=(torch.cuda.get_device_name(self.device)
                                            if self.device.type == "cuda" else None))
            if not done:  # a finished run that only adds snapshots stays done
                self.record["status"] = "running"
            self.workers = SnapshotWorkers(self.n_workers, self.work / PENDING) if self.n_workers else None
            try:
                for step in redo:
                    self.redo_snapshot(step)
                if start == 0:
                    self.record_point(0)
                self.loop(start, self.stop)
            except KeyboardInterrupt:
                self.record["status"] = "done" if done else "interrupted"
                self.save_record()
                raise
            except Exception as exc:
                self.record.update(status="done" if done else "failed", error=f"{type(exc).__name__}: {exc}")
                self.save_record()
                raise
            finally:
                if self.workers:
                    self.workers.close()
            if done:
                self.record["checkpoint"] = None
                self.save_record()
                self.remove_checkpoints(keep=None)
            return self.record

    def loop(self, start: int, stop: int) -> None:
        o, batches = self.options, None
        for step in range(start + 1, stop + 1):
            epoch, position = divmod(step - 1, self.per_epoch)
            if batches is None or position == 0:
                batches = epoch_batches(self.train_inputs, o.batch_size, self.seed, epoch, o.batching)
            began = time.perf_counter()
            loss = self.update(batches[position])
            self.record["train_seconds"] += time.perf_counter() - began
            c = self.counters
            c["step"] = step
            c["window_loss"] += loss
            c["window_n"] += 1
            c["epoch_loss"] += loss
            c["epoch_n"] += 1
            if self.progress:
                self.progress("train", step, self.total)
            if step in self.record_steps:
                self.record_point(step)

    def update(self, sentences: list[int]) -> float:
        """One optimiser update on a batch of sentences; returns the batch's mean loss."""
        seqs, targets = gather(self.train_inputs, sentences)
        logits = self.model(self.train_inputs.plan, seqs, targets, self.pad_id)
        loss = F.cross_entropy(logits, self.train_labels[targets])
        loss.backward()
        if self.options.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.item())

    # -- record points --------------------------------------------------------------------------
    def evaluate(self, inputs: Inputs, labels: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean loss of the current model on ``inputs`` (eval mode, no dropout)."""
        self.model.eval()
        correct, total_loss = 0, 0.0
        with torch.inference_mode():
            for sentences in eval_batches(inputs, self.snap.batch_tokens):
                seqs, targets = gather(inputs, sentences)
                logits = self.model(inputs.plan, seqs, targets, self.pad_id)
                y = labels[targets]
                total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
        self.model.train()
        n = inputs.data.n_targets
        return correct / n, total_loss / n

    def record_point(self, step: int) -> None:
        """Metrics and a checkpoint at ``step``; at snapshot steps also snapshots and kept weights.

        A snapshot before the last goes to a background worker when there are workers; at the
        last, training waits for them and takes the snapshot itself on every core.
        """
        c, r = self.counters, self.record
        epoch_end = step > 0 and (step % self.per_epoch == 0 or step == self.total)
        began = time.perf_counter()
        accuracy, test_loss = self.evaluate(self.test_inputs, self.test_labels)
        r["eval_seconds"] += time.perf_counter() - began
        row = {"step": step, "epoch": step / self.per_epoch, "epoch_end": epoch_end,
               "train_loss": c["window_loss"] / c["window_n"] if c["window_n"] else None,
               "epoch_loss": c["epoch_loss"] / c["epoch_n"] if epoch_end and c["epoch_n"] else None,
               "test_accuracy": accuracy, "test_loss": test_loss, "lr": self.scheduler.get_last_lr()[0]}
        r["metrics"] = [m for m in r["metrics"] if m["step"] != step] + [row]
        c.update(window_loss=0.0, window_n=0)
        if epoch_end:
            c.update(epoch_loss=0.0, epoch_n=0)
        if step in self.snap_steps:
            began = time.perf_counter()
            if self.workers and step != self.stop:
                self.workers.submit(self.job(step, write_pending(self.model.encoder, self.work, step)))
            else:
                if self.workers:
                    self.collect(self.workers.wait())
                self.snapshot(step, torch.get_num_threads() + self.n_workers)
            r["snapshot_seconds"] += time.perf_counter() - began
            if self.snap.keep_weights:
                (self.work / "weights").mkdir(exist_ok=True)
                save_weights(self.model, self.work / "weights" / f"step-{step:06d}.safetensors")
        if self.workers:
            self.collect(self.workers.finished())
        if 0 < step < self.total:
            self.checkpoint(step)
        r["step"] = max(r["step"], step)
        if step == self.total:
            r["final"] = {"test_accuracy": accuracy, "failed": accuracy <= self.majority_baseline}
            r["status"] = "done"
            r["checkpoint"] = None
            self.save_record()
            self.remove_checkpoints(keep=None)
        else:
            self.save_record()

    def snapshot(self, step: int, threads: int) -> None:
        """Store the snapshot at ``step`` in this process, extracting on ``threads`` threads."""
        original = self.original(step)
        was = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for target in self.targets_at(step):
                stage = f"snapshot {target.task}/{target.split} @{step}"
                report = ((lambda done, total, stage=stage: self.progress(stage, done, total))
                          if self.progress else None)
                write_snapshot(self.store, target, ref=self.ref, encoder=self.model.encoder,
                               tokenizer=self.tokenizer, run_key=self.key, step=step, epoch=step / self.per_epoch,
                               seed=self.seed, original=original, data_dir=self.data_dir,
                               batch_tokens=self.snap.batch_tokens, progress=report)
        finally:
            torch.set_num_threads(was)
        self.collect([step])

    def job(self, step: int, weights: Path) -> dict[str, Any]:
        """The background job that stores the snapshot at ``step`` from the weights file ``weights``."""
        return {"store": str(self.store.root), "weights": str(weights), "run": self.key, "step": step,
                "ref": {"name": self.ref.name, "path": str(self.ref.path), "fingerprint": self.ref.fingerprint},
                "epoch": step / self.per_epoch, "seed": self.seed, "original": self.original(step),
                "data_dir": None if self.data_dir is None else str(self.data_dir),
                "batch_tokens": self.snap.batch_tokens, "threads": torch.get_num_threads(),
                "targets": [t.as_json() for t in self.targets_at(step)]}

    def redo_snapshot(self, step: int) -> None:
        """Store a snapshot whose worker did not finish before the run stopped, from its weights file."""
        job = self.job(step, pending_weights(self.work, step))
        if self.workers:
            self.workers.submit(job)
        else:
            run_job(job, {})
            self.collect([step])

    def collect(self, steps: list[int]) -> None:
        """List the stored snapshots of ``steps`` in the record and drop their weights files."""
        for step in steps:
            job = self.job(step, pending_weights(self.work, step))
            if not job_stored(self.store, job):
                raise RuntimeError(f"the snapshot at update {step} was reported stored but is not in the store")
            for target in self.targets_at(step):
                row = {"step": step, "epoch": step / self.per_epoch, "task": target.task, "split": target.split,
                       "entry": entry_key(target, self.key, step, self.original(step))}
                self.record["snapshots"] = [s for s in self.record["snapshots"]
                                            if (s["step"], s["task"], s["split"]) != (step, target.task, target.split)]
                self.record["snapshots"].append(row)
            pending_weights(self.work, step).unlink(missing_ok=True)

    def checkpoint(self, step: int) -> None:
        name = f"checkpoint-{step:06d}"
        if not (self.work / name).is_dir():
            save_checkpoint(self.work / name, self.model, self.optimizer, self.scheduler, dict(self.counters))
        self.record["checkpoint"] = name
        self.save_record()
        self.remove_checkpoints(keep=name)

    def remove_checkpoints(self, keep: str | None) -> None:
        """Delete every checkpoint but ``keep`` (and leftovers of interrupted writes); with ``keep``
        ``None`` (the run is finished, every snapshot stored) also the snapshot workers' folder."""
        for folder in self.work.glob("checkpoint-*"):
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)
        if keep is None:
            shutil.rmtree(self.work / PENDING, ignore_errors=True)

    def save_record(self) -> None:
        self.record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_record(self.store, self.record)
