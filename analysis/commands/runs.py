"""``python -m analysis runs ls|show``: fine-tuning runs, their status, metrics and snapshots."""
from __future__ import annotations

import argparse
from typing import Any

from ..finetune import list_runs, run_metrics, run_snapshots, seed_spread
from ..finetune.runs import read_record
from ..store import Store, StoreError
from .common import unset_unless_given
from .finetune import plain, run_summary, spread_text

LS_COLUMNS = ["run", "task", "model", "seed", "status", "device", "step", "total_steps", "test_accuracy", "failed",
              "probe_baseline", "under_trained", "n_snapshots", "optimizer", "reinit_layers", "train_size"]


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    """``runs ls|show``; ``--json`` and ``--store`` go before or after the action."""
    p = sub.add_parser("runs", parents=[parent], help="list fine-tuning runs or show one")
    again = unset_unless_given()
    actions = p.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("ls", parents=[again], help="every run: status, progress, final metric, options")
    ls.add_argument("--task", default=None, help="only runs on this task")
    ls.set_defaults(handler=run_ls)
    show = actions.add_parser("show", parents=[again], help="one run's metrics and snapshots")
    show.add_argument("run", help="a run key (from runs ls)")
    show.set_defaults(handler=run_show)


def run_ls(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    table = list_runs(store)
    if args.task:
        table = table[table["task"] == args.task]
    spread = plain(seed_spread(table).to_dict("records"))
    lines = [f"{len(table)} fine-tuning runs in {store.root}"]
    if len(table):
        shown = table[LS_COLUMNS].assign(model=table["model"].map(lambda m: str(m).rstrip("/").split("/")[-1]))
        lines.append(shown.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    lines += [spread_text(row) for row in spread if row["n_seeds"] > 1]
    if under := int((table["under_trained"] == True).sum()):  # noqa: E712 (None where no probe is stored)
        lines.append(f"{under} run(s) under-trained: final test accuracy below an MLP probe on the original "
                     "model's last layer (probe_baseline)")
    return {"store": str(store.root), "runs": plain(table.to_dict("records")), "spread": spread,
            "text": "\n".join(lines)}


def run_show(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    record = read_record(store, args.run)
    if record is None:
        raise StoreError(f"no fine-tuning run {args.run!r} in store {store.root} (see `python -m analysis runs ls`)")
    metrics, snapshots = run_metrics(store, args.run), run_snapshots(store, args.run)
    summary = run_summary(record)
    lines = [f"{args.run}: {record['task']} on {record['model']}, seed {record['seed']}, {summary['status']}, "
             f"update {record['step']} of {record['total_steps']}", metrics.to_string(index=False)]
    steps = sorted(snapshots["step"].unique().tolist())
    lines.append(f"{len(snapshots)} snapshot entries at steps {steps}")
    return {**summary, "options": record["options"], "metrics": plain(metrics.to_dict("records")),
            "snapshots": plain(snapshots.to_dict("records")), "text": "\n".join(lines)}
