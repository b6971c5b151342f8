"""Benchmark fine-tuning: MiniLM-L6 on UD English ParTUT train (POS), batch 32.

Measures, in one run: this machine's fp32 matmul rate; training updates/s and words/s on a
sample of one epoch's batches, as a fraction of the FLOP bound (forward + backward = 3x the
forward FLOPs of the real, unpadded tokens); the time of one snapshot (every layer of the
train and test targets into a scratch store) and of one test evaluation; and from these the
projected overhead of inline snapshots over a default 10-epoch run.  With ``--tasks`` it also
times a few updates on every task and projects the time of a default 10-epoch run of each.
With ``--overlap`` it runs two real default POS runs (every epoch end snapshotted) on one
thread, one after the other: snapshots inline, then in background workers on the idle cores,
and reports each one's snapshot overhead as a percentage of training time.

    python bench/finetune.py [--data-dir ../shared/data] [--updates 10] [--tasks] [--threads 1]
                             [--overlap [--overlap-epochs 10]]

``--threads N`` runs everything, the matmul rate included, on N threads (extraction runs one
batch per torch thread, so it uses N as well).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.embed import write_representations  # noqa: E402
from analysis.finetune.examples import epoch_batches, gather  # noqa: E402
from analysis.finetune import finetune  # noqa: E402
from analysis.finetune.options import SnapshotOptions, TrainOptions  # noqa: E402
from analysis.finetune.train import _Training, auto_snapshot_epochs, deterministic, snapshot_steps  # noqa: E402
from analysis.models import resolve_model  # noqa: E402
from analysis.store import Store  # noqa: E402

TASKS = ("pos", "dep", "ps-fxn", "ps-role", "trec-50", "trec-6")


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """Sustained fp32 FLOP/s of a large square matmul with all threads (best of three)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start))
    return best


def forward_flops(lengths: list[int], hidden: int, layers: int, ffn: int) -> float:
    """Forward FLOPs of a BERT encoder on sequences of the given (unpadded) lengths."""
    return sum(layers * (2 * t * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * t * t * hidden) for t in lengths)


def batch_flops(training: _Training, batch: list[int]) -> tuple[float, int, int, int]:
    """Forward FLOPs, real tokens, padded tokens and target words of one training batch."""
    cfg = training.model.encoder.config
    seqs, targets = gather(training.train_inputs, batch)
    lengths = [len(training.train_inputs.plan.sequences[q].ids) for q in seqs]
    flops = forward_flops(lengths, cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size)
    return flops, sum(lengths), max(lengths) * len(lengths), len(targets)


def setup(store: Store, task: str, data_dir: str | None, batching: str) -> _Training:
    training = _Training(store, resolve_model(None, store), task, "run-bench", {}, 1, TrainOptions(batching=batching),
                         SnapshotOptions(), data_dir, None, None, [], None)
    training.setup()
    return training


def time_updates(training: _Training, n: int, warmup: int = 2) -> dict[str, float]:
    """Time ``n`` updates on epoch 0's (shuffled) batches after ``warmup`` untimed ones; project the epoch."""
    batches = epoch_batches(training.train_inputs, training.options.batch_size, 1, 0, training.options.batching)
    for batch in batches[:warmup]:
        training.update(batch)
    timed = batches[warmup:warmup + n]
    start = time.perf_counter()
    for batch in timed:
        training.update(batch)
    seconds = time.perf_counter() - start
    sample = [batch_flops(training, b) for b in timed]
    epoch = [batch_flops(training, b) for b in batches]
    flops = sum(s[0] for s in sample)
    return {
        "updates": len(timed), "seconds": seconds, "updates_per_s": len(timed) / seconds,
        "words_per_s": sum(s[3] for s in sample) / seconds, "tokens_per_s": sum(s[1] for s in sample) / seconds,
        "padding": sum(s[2] for s in sample) / sum(s[1] for s in sample),
        "train_flops_per_s": 3 * flops / seconds,
        "epoch_updates": len(batches), "epoch_forward_flops": sum(s[0] for s in epoch),
        "epoch_seconds": len(batches) * seconds / len(timed),
    }


def update_parts(training: _Training, n: int) -> dict[str, float]:
    """Mean seconds of forward, backward and optimiser step over ``n`` updates (what limits the rate)."""
    import torch.nn.functional as F

    batches = epoch_batches(training.train_inputs, training.options.batch_size, 1, 1, training.options.batching)
    parts = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for batch in batches[:n]:
        seqs, targets = gather(training.train_inputs, batch)
        t0 = time.perf_counter()
        logits = training.model(training.train_inputs.plan, seqs, targets, training.pad_id)
        loss = F.cross_entropy(logits, training.train_labels[targets])
        t1 = time.perf_counter()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(training.model.parameters(), 1.0)
        t2 = time.perf_counter()
        training.optimizer.step()
        training.scheduler.step()
        training.optimizer.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key] += seconds / n
    return parts


def time_snapshot(training: _Training, store: Store) -> dict[str, float]:
    """One snapshot (train and test, every layer, float32) and one test evaluation."""
    out = {}
    for target in training.own_targets:
        start = time.perf_counter()
        with store.create("benchsnapshot", {"split": target.split, "t": time.time()}) as writer:
            write_representations(writer, training.model.encoder, training.tokenizer, target.data)
        out[f"snapshot_{target.split}_seconds"] = time.perf_counter() - start
    out["snapshot_seconds"] = sum(v for k, v in out.items() if k.startswith("snapshot_"))
    start = time.perf_counter()
    training.evaluate(training.test_inputs, training.test_labels)
    out["eval_seconds"] = time.perf_counter() - start
    return out


def overlap_runs(data_dir: str | None, epochs: int) -> dict[str, dict[str, float]]:
    """Two real POS runs with the default snapshots on one thread: inline, then in background workers.

    Overhead = the extra time snapshots cost training, as a share of the inline run's training
    time: inline, the time spent snapshotting; overlapped, the time training spent handing
    snapshots over, waiting for workers and taking the last snapshot, plus how much slower its
    updates ran beside a busy worker (a comparison across the two runs, so load-sensitive).
    """
    out: dict[str, dict[str, float]] = {}
    workers = max(1, (os.cpu_count() or 1) - 1)
    for name, n in (("inline", 0), ("overlapped", workers)):
        with tempfile.TemporaryDirectory() as tmp:
            load, start = os.getloadavg(), time.perf_counter()
            record = finetune("pos", seed=1, options=TrainOptions(epochs=epochs), store=Store(tmp), data_dir=data_dir,
                              threads=1, snapshot_workers=n)
            out[name] = {"snapshot_workers": n, "wall_seconds": time.perf_counter() - start,
                         "train_seconds": record["train_seconds"], "snapshot_seconds": record["snapshot_seconds"],
                         "eval_seconds": record["eval_seconds"],
                         "snapshots": len({s["step"] for s in record["snapshots"]}),
                         "load_before": load, "load_after": os.getloadavg()}
    inline, overlapped = out["inline"], out["overlapped"]
    inline["overhead"] = inline["snapshot_seconds"] / inline["train_seconds"]
    overlapped["training_slowdown"] = overlapped["train_seconds"] / inline["train_seconds"] - 1
    overlapped["overhead_in_training_process"] = overlapped["snapshot_seconds"] / inline["train_seconds"]
    overlapped["overhead"] = (overlapped["snapshot_seconds"] + overlapped["train_seconds"]
                              - inline["train_seconds"]) / inline["train_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--updates", type=int, default=10, help="timed POS updates per batching")
    parser.add_argument("--task-updates", type=int, default=4, help="timed updates per task with --tasks")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--tasks", action="store_true", help="also project a 10-epoch run of every task")
    parser.add_argument("--overlap", action="store_true",
                        help="also run POS with default snapshots twice, inline and in background workers")
    parser.add_argument("--overlap-epochs", type=int, default=TrainOptions().epochs,
                        help="epochs of the --overlap runs (default %(default)s)")
    parser.add_argument("--only-overlap", action="store_true", help="run only the --overlap comparison")
    args = parser.parse_args()
    if args.only_overlap:
        print(json.dumps({"pos_overlap": overlap_runs(args.data_dir, args.overlap_epochs)}, indent=1))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"threads": torch.get_num_threads(), "load_before": os.getloadavg()}
    result["matmul_gflops"] = matmul_flops() / 1e9
    with tempfile.TemporaryDirectory() as tmp, deterministic():
        store = Store(tmp)
        for batching in ("random", "length"):
            training = setup(store, "pos", args.data_dir, batching)
            timing = time_updates(training, args.updates)
            timing["fraction_of_flop_bound"] = timing["train_flops_per_s"] / (result["matmul_gflops"] * 1e9)
            result[f"pos_{batching}"] = timing
        result["pos_update_parts"] = update_parts(training, 5)
        result["pos_snapshot"] = time_snapshot(training, store)
        snap, pos = result["pos_snapshot"], result["pos_length"]
        per_epoch, epochs = pos["epoch_updates"], TrainOptions().epochs
        train_seconds = epochs * pos["epoch_seconds"]
        result["pos_projection"] = {"train_seconds": train_seconds}
        auto = auto_snapshot_epochs(epochs * per_epoch, per_epoch, sum(training.train_inputs.tokens),
                                    sum(training.test_inputs.tokens))
        for name, every_epochs in (("default", 1), ("every_2nd", 2), ("every_5th", 5), ("auto", auto)):
            n = len(snapshot_steps(epochs * per_epoch, per_epoch, 0, every_epochs))
            result["pos_projection"][name] = {
                "snapshot_epochs": every_epochs, "snapshots": n,
                "inline_overhead": n * snap["snapshot_seconds"] / train_seconds,
                "eval_overhead": (epochs + 1) * snap["eval_seconds"] / train_seconds}
        if args.tasks:
            for task in TASKS:
                training = setup(store, task, args.data_dir, "length")
                timing = time_updates(training, args.task_updates, warmup=1)
                snap = time_snapshot(training, store)
                n = epochs + 1  # the default: update 0 and every epoch end
                train, evals = epochs * timing["epoch_seconds"], (epochs + 1) * snap["eval_seconds"]
                result[f"task_{task}"] = {
                    "updates_per_epoch": timing["epoch_updates"], "updates_per_s": timing["updates_per_s"],
                    "targets_per_s": timing["words_per_s"], "epoch_seconds": timing["epoch_seconds"],
                    "snapshot_seconds": snap["snapshot_seconds"], "eval_seconds": snap["eval_seconds"],
                    "run_minutes_inline": (train + n * snap["snapshot_seconds"] + evals) / 60,
                    # a worker keeps up when a snapshot takes less than an epoch; only the last one is waited for
                    "worker_keeps_up": snap["snapshot_seconds"] < timing["epoch_seconds"],
                    "run_minutes_overlapped": (train + snap["snapshot_seconds"] + evals) / 60}
    if args.overlap:
        result["pos_overlap"] = overlap_runs(args.data_dir, args.overlap_epochs)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
