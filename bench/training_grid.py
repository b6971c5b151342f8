"""Which learning rate and training length train the default model properly on a small task.

Fine-tunes the offline default model (MiniLM-L6) on each task over a small grid of learning
rates and lengths, a few seeds each, snapshots only at the start and the end, in a scratch
store; prints the final test accuracy per cell (mean ± std over seeds) beside the majority
baseline, and each run's training seconds.

    python bench/training_grid.py [--tasks ps-role,trec-6] [--lrs 2e-5,1e-4] [--epochs 10,40]
                                  [--seeds 1,2] [--train-size N] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.finetune import SnapshotOptions, TrainOptions, finetune, list_runs  # noqa: E402
from analysis.store import Store  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="ps-role,trec-6")
    parser.add_argument("--lrs", type=floats, default=floats("2e-5,1e-4"))
    parser.add_argument("--epochs", type=ints, default=ints("10,40"))
    parser.add_argument("--seeds", type=ints, default=ints("1,2"))
    parser.add_argument("--train-size", type=int, default=None, help="down-sample each task's train split")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--store", default=None, help="scratch store (default: a temporary folder)")
    args = parser.parse_args()
    store = Store(args.store or tempfile.mkdtemp(prefix="grid-"))
    print(f"store {store.root}", flush=True)
    for task in args.tasks.split(","):
        for lr in args.lrs:
            for epochs in args.epochs:
                for seed in args.seeds:
                    record = finetune(task, seed=seed, store=store, data_dir=args.data_dir, threads=args.threads,
                                      options=TrainOptions(lr=lr, epochs=epochs, train_size=args.train_size),
                                      snapshots=SnapshotOptions(epochs=0))
                    print(f"{task} lr={lr:g} epochs={epochs} seed={seed}: test accuracy "
                          f"{record['final']['test_accuracy']:.3f} in {record['train_seconds']:.0f} s", flush=True)
    runs = list_runs(store)
    runs = runs[runs["status"] == "done"]
    table = runs.groupby(["task", "lr", "epochs"]).agg(
        accuracy=("test_accuracy", "mean"), std=("test_accuracy", "std"), seeds=("seed", "count"),
        majority=("majority_baseline", "first"), seconds=("train_seconds", "mean")).reset_index()
    print(table.to_string(index=False, formatters={"lr": "{:g}".format}, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
