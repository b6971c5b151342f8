"""``python -m analysis finetune``: fine-tune with geometry snapshots, one seed or many, resumably."""
from __future__ import annotations

import argparse
import math
from typing import Any

from tqdm.auto import tqdm

from ..finetune import SnapshotOptions, TrainOptions, finetune, list_runs, parse_seeds, seed_spread
from ..finetune.options import BATCHINGS, OPTIMIZERS, PROBE_STEPS
from ..finetune.runs import live_status
from ..limits import workers
from ..store import Store
from .common import add_device_argument, add_model_task_arguments, task_options

DEFAULTS = TrainOptions()
SNAPSHOT_DEFAULTS = SnapshotOptions()


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("finetune", parents=[parent], help="fine-tune a model on a task, storing snapshots")
    add_model_task_arguments(p, split=False)
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="one training seed (default 1)")
    seeds.add_argument("--seeds", default=None, help="many seeds, e.g. 1-20 or 1,3,5-7 (run one after another)")
    add_training_arguments(p)
    s = p.add_argument_group("snapshots (what a run records)")
    s.add_argument("--snapshot-every", type=int, default=SNAPSHOT_DEFAULTS.every,
                   help="also snapshot every N updates, 0 for none (default %(default)s)")
    add_snapshot_epochs_argument(s)
    s.add_argument("--probe-tasks", default="",
                   help="other tasks whose targets each snapshot also stores, e.g. dep,trec-50")
    s.add_argument("--probe-steps", choices=PROBE_STEPS, default=SNAPSHOT_DEFAULTS.probe_steps,
                   help="all: probe tasks at every snapshot; ends: at update 0 and the end only "
                        "(default %(default)s)")
    s.add_argument("--dtype", choices=["float32", "float16"], default=SNAPSHOT_DEFAULTS.dtype)
    s.add_argument("--keep-weights", action="store_true", help="keep the model weights of every snapshot")
    s.add_argument("--batch-tokens", type=int, default=SNAPSHOT_DEFAULTS.batch_tokens,
                   help="padded tokens per extraction batch (memory bound; default %(default)s)")
    p.add_argument("--threads", type=workers, default=None,
                   help="torch threads for training (default: torch's own; 1 is faster on a busy shared machine)")
    p.add_argument("--snapshot-workers", type=workers, default=None,
                   help="background processes that store snapshots while training goes on (default: one per "
                        "core --threads leaves idle, none without --threads or on a GPU)")
    add_device_argument(p, "training (and its snapshots)")
    p.set_defaults(handler=run)


def snapshot_epochs(text: str) -> int | str:
    """``--snapshot-epochs``: a whole number of epochs or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of epochs or auto, not {text!r}") from None


def add_snapshot_epochs_argument(p: Any) -> None:
    """``--snapshot-epochs`` (shared by ``finetune`` and ``study``)."""
    p.add_argument("--snapshot-epochs", type=snapshot_epochs, default=SNAPSHOT_DEFAULTS.epochs, metavar="K|auto",
                   help="snapshot at the end of every K-th epoch, 0 for none, auto for as many as keep inline "
                        "snapshots within 10%% of the training time (default %(default)s: every epoch end; "
                        "update 0 and the end are always snapshotted)")


def add_training_arguments(p: argparse.ArgumentParser, preset: bool = False) -> None:
    """The training options (everything :class:`TrainOptions` holds), shared by ``finetune`` and ``study``;
    with ``preset``, ``--epochs`` and ``--lr`` default to None (the preset's value) so a given one is kept."""
    t = p.add_argument_group("training (part of a run's identity)")
    by_preset = ", or the preset's" if preset else ""
    t.add_argument("--epochs", type=int, default=None if preset else DEFAULTS.epochs,
                   help=f"epochs (default {DEFAULTS.epochs}{by_preset})")
    t.add_argument("--steps", type=int, default=None, help="total updates, overriding --epochs (train longer)")
    t.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                   help="sentences per update (default %(default)s)")
    t.add_argument("--lr", type=float, default=None if preset else DEFAULTS.lr,
                   help=f"peak learning rate (default {DEFAULTS.lr}{by_preset})")
    t.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay, help="default %(default)s")
    t.add_argument("--warmup", type=float, default=DEFAULTS.warmup,
                   help="fraction of updates with linear warm-up, then linear decay (default %(default)s)")
    t.add_argument("--max-grad-norm", type=float, default=DEFAULTS.max_grad_norm,
                   help="gradient clipping norm, 0 for none (default %(default)s)")
    t.add_argument("--dropout", type=float, default=None, help="dropout everywhere (default: the model's own)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer,
                   help="adamw (bias-corrected) or bertadam (no bias correction, as in the original BERT)")
    t.add_argument("--reinit-layers", type=int, default=0, help="re-initialise the top L layers and the pooler")
    t.add_argument("--train-size", type=int, default=None,
                   help="down-sample the training targets to N (and the train split of every task recorded alongside)")
    t.add_argument("--sample-seed", type=int, default=DEFAULTS.sample_seed,
                   help="seed of the down-sampling, fixed across training seeds (default %(default)s)")
    t.add_argument("--batching", choices=BATCHINGS, default=DEFAULTS.batching,
                   help="length: shuffled batches of similar-length sentences (less padding), or random "
                        "(default %(default)s)")


def train_options(args: argparse.Namespace) -> TrainOptions:
    """The training options given on the command line (bad values raise ``ValueError``)."""
    return TrainOptions(
        epochs=DEFAULTS.epochs if args.epochs is None else args.epochs, steps=args.steps, batch_size=args.batch_size,
        lr=DEFAULTS.lr if args.lr is None else args.lr,
        weight_decay=args.weight_decay, warmup=args.warmup, max_grad_norm=args.max_grad_norm or None,
        dropout=args.dropout, optimizer=args.optimizer, reinit_layers=args.reinit_layers,
        train_size=args.train_size, sample_seed=args.sample_seed, batching=args.batching)


class TrainBar:
    """tqdm bars for the CLI: one over updates, a transient one per snapshot; silent with ``--json``."""

    def __init__(self, desc: str, quiet: bool):
        self.desc, self.quiet = desc, quiet
        self.train: Any = None
        self.stage, self.snapshot = "", None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage == "train":
            if self.snapshot is not None:
                self.snapshot.close()
                self.stage, self.snapshot = "", None
            if self.train is None:  # a resumed run starts counting after its checkpoint
                self.train = tqdm(total=total, initial=done - 1, desc=self.desc, unit="update")
            self.train.update(done - self.train.n)
            return
        if stage != self.stage:
            if self.snapshot is not None:
                self.snapshot.close()
            self.stage, self.snapshot = stage, tqdm(total=total, desc=stage, unit="target", leave=False)
        self.snapshot.update(done - self.snapshot.n)

    def close(self) -> None:
        for bar in (self.snapshot, self.train):
            if bar is not None:
                bar.close()


def options_from(args: argparse.Namespace) -> tuple[TrainOptions, SnapshotOptions, list[int]]:
    """The command line as options and seeds; bad values raise ``ArgumentTypeError``."""
    try:
        seeds = parse_seeds(args.seeds) if args.seeds else [1 if args.seed is None else args.seed]
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, not {args.threads}")
        if args.snapshot_workers is not None and args.snapshot_workers < 0:
            raise ValueError(f"--snapshot-workers must be at least 0, not {args.snapshot_workers}")
        train = train_options(args)
        probes = tuple(t.strip() for t in args.probe_tasks.split(",") if t.strip())
        snaps = SnapshotOptions(every=args.snapshot_every, epochs=args.snapshot_epochs, probe_tasks=probes,
                                probe_steps=args.probe_steps, dtype=args.dtype, keep_weights=args.keep_weights, batch_tokens=args.batch_tokens)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return train, snaps, seeds


def run_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The short form of a run record that the command prints (the final metric only for a done run)."""
    status = live_status(record)
    final = (record.get("final") or {}) if status == "done" else {}
    return {
        "run": record["run"], "seed": record["seed"], "status": status, "hit": record.get("hit", False),
        "device": record.get("device", "cpu"),
        "test_accuracy": final.get("test_accuracy"), "majority_baseline": record["majority_baseline"],
        "failed": final.get("failed"), "step": record["step"], "total_steps": record["total_steps"],
        "updates_per_epoch": record["updates_per_epoch"], "n_train": record["n_train"], "n_test": record["n_test"],
        "n_snapshots": len({s["step"] for s in record["snapshots"]}),
        "train_seconds": round(record["train_seconds"], 3), "snapshot_seconds": round(record["snapshot_seconds"], 3),
        "eval_seconds": round(record["eval_seconds"], 3),
    }


def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NaN as null and NumPy scalars as Python ones, for JSON."""
    out = []
    for row in rows:
        clean = {}
        for k, v in row.items():
            v = v.item() if hasattr(v, "item") else v
            clean[k] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(clean)
    return out


def spread_rows(store: Store, runs: list[str]) -> list[dict[str, Any]]:
    """:func:`seed_spread` over the given runs, as JSON-ready rows."""
    table = list_runs(store)
    return plain(seed_spread(table[table["run"].isin(runs)]).to_dict("records"))


def spread_text(row: dict[str, Any]) -> str:
    std = "n/a" if row["std"] is None else f"{row['std']:.4f}"
    failed = ", ".join(map(str, row["failed_seeds"])) or "none"
    return (f"{row['task']} over {row['n_seeds']} seeds: test accuracy mean {row['mean']:.4f}, std {std}, "
            f"min {row['min']:.4f}, max {row['max']:.4f}; majority baseline {row['majority_baseline']:.4f}; "
            f"failed seeds: {failed}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    train, snaps, seeds = options_from(args)
    summaries = []
    for seed in seeds:
        bar = TrainBar(f"finetune {args.task} seed {seed}", quiet=args.json)
        try:
            record = finetune(args.task, args.model, seed=seed, options=train, snapshots=snaps, store=store,
                              data_dir=args.data_dir, task_options=task_options(args), progress=bar,
                              threads=args.threads, snapshot_workers=args.snapshot_workers, device=args.device)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        finally:
            bar.close()
        summaries.append({**run_summary(record), "path": str(store.work / record["run"])})
    spread = spread_rows(store, [s["run"] for s in summaries])
    lines = []
    for s in summaries:
        acc = "n/a" if s["test_accuracy"] is None else f"{s['test_accuracy']:.4f}"
        lines.append(f"{'stored (hit)' if s['hit'] else s['status']} {s['run']} seed {s['seed']}: "
                     f"{s['total_steps']} updates, test accuracy {acc} (majority {s['majority_baseline']:.4f})"
                     f"{' FAILED' if s['failed'] else ''}, {s['n_snapshots']} snapshots")
    lines += [spread_text(row) for row in spread if row["n_seeds"] > 1]
    return {"task": args.task, "runs": summaries, "spread": spread, "text": "\n".join(lines)}
