"""``python -m analysis study``: run (or resume) whole studies and print their summary."""
from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from tqdm.auto import tqdm

from ..finetune import parse_seeds
from ..limits import workers
from ..store import Store
from ..study import PRESETS, StudyProgress, StudySpec, preset_specs, run_studies, study_table
from ..study.size import ensure_study_fits
from ..tasks import TASKS
from .common import add_device_argument, add_task_option_argument, task_options
from .finetune import add_snapshot_epochs_argument, add_training_arguments, train_options


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("study", parents=[parent], help="fine-tune, DirectProbe, probe and analyse: a whole study")
    p.add_argument("--task", choices=TASKS, help="one task")
    p.add_argument("--tasks", default=None, help="several tasks, comma-separated (with --preset paper: cross-task)")
    p.add_argument("--model", default=None, help="Hugging Face name or local folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--models", default=None, help="several models, comma-separated: a grid of models x tasks, "
                   "run as one graph")
    p.add_argument("--preset", choices=PRESETS, default="default", help="default, paper (every table and figure "
                   "of the paper over --tasks), quick (a smoke test of a few updates) or first (the "
                   "dashboard's welcome study: the first of --tasks fine-tuned, the others recorded)")
    p.add_argument("--seeds", default="1", help="training seeds, e.g. 1-5 (default 1)")
    p.add_argument("--data-dir", default=None, help="folder with the corpora")
    add_task_option_argument(p, "option of the --task fine-tuned (files={...} for custom)")
    add_training_arguments(p, preset=True)
    p.add_argument("--snapshot-every", type=int, default=0, help="also snapshot every N updates (default: none)")
    add_snapshot_epochs_argument(p)
    p.add_argument("--probe-layers", choices=["last", "all", "none"], default="last",
                   help="layers the MLP probes are trained on (default: last)")
    p.add_argument("--workers", type=workers, default=1, help="without --scheduler: a local Dask cluster of this many "
                   "single-threaded worker processes (default 1: run every step in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run the steps on the Dask scheduler at "
                   "ADDRESS, e.g. tcp://host:8786 (default: $FTGEO_SCHEDULER); --store must be a folder every "
                   "worker sees")
    p.add_argument("--retries", type=int, default=2, help="times a step that fails or loses its worker is tried "
                   "again (default 2)")
    add_device_argument(p, "fine-tuning (and its snapshots)")
    p.set_defaults(handler=run)


class StudyBar:
    """One tqdm bar over the studies' estimated work: the latest step as its description, the steps
    done, running and queued per kind and the time left after it; the Dask dashboard's address
    is printed once."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None
        self.left = ""
        self.dashboard_shown = False

    def inner(self, stage: str, done: int, total: int) -> None:
        """A fine-tuning step's own progress, shown after the study's."""
        if self.bar is not None and not self.quiet:
            self.bar.set_postfix_str(f"{stage} {done}/{total}{self.left}")

    def __call__(self, message: str, progress: StudyProgress) -> None:
        if self.quiet:
            return
        if self.bar is None:
            self.bar = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}{postfix}]")
        if message.startswith("Dask dashboard") and not self.dashboard_shown:
            self.bar.write(message)
            self.dashboard_shown = True
        elif message:
            self.bar.set_description(message[:60])
        left = progress.seconds_left()
        self.left = "" if left is None else f", ~{left / 60:.0f} min left"
        self.bar.set_postfix_str(f"{progress.describe()}{self.left}")
        self.bar.update(100 * progress.fraction - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def study_specs(args: argparse.Namespace) -> list[StudySpec]:
    """The studies the command line asks for: each model × the preset's studies of the tasks."""
    if args.task and args.tasks:
        raise ValueError("give --task or --tasks, not both")
    tasks = [t for t in (args.tasks or args.task or "").split(",") if t]
    if not tasks:
        raise ValueError("give --task or --tasks")
    options = task_options(args)
    if options and len(tasks) > 1:
        raise ValueError("--task-option is for one task: give it with --task")
    if unknown := [t for t in tasks if t not in TASKS]:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; tasks are {', '.join(TASKS)}")
    train = train_options(args)
    if args.model and args.models:
        raise ValueError("give --model or --models, not both")
    models = [m for m in args.models.split(",") if m] if args.models else [args.model]
    specs = [spec for model in models
             for spec in preset_specs(args.preset, tasks, model=model, seeds=tuple(parse_seeds(args.seeds)),
                                      train=train, data_dir=args.data_dir, device=args.device,
                                      chosen={name for name in ("lr", "epochs") if getattr(args, name) is not None})]
    specs = [dataclasses.replace(s, probes=dataclasses.replace(s.probes, layers=args.probe_layers),
                                 task_options=options) for s in specs]
    if args.preset != "quick":
        specs = [dataclasses.replace(s, snapshots=dataclasses.replace(s.snapshots, every=args.snapshot_every,
                                                                      epochs=args.snapshot_epochs)) for s in specs]
    return specs


def run(args: argparse.Namespace) -> dict[str, Any]:
    specs = study_specs(args)
    store = Store(args.store)
    ensure_study_fits(specs, store)
    bar = StudyBar(args.json)
    start = time.perf_counter()
    try:
        entries = run_studies(specs, store, workers=args.workers, scheduler=args.scheduler, retries=args.retries,
                              report=bar, step_progress=bar.inner)
    finally:
        bar.close()
    seconds = round(time.perf_counter() - start, 1)
    studies = []
    for spec, entry in zip(specs, entries):
        linearity = study_table(store, entry.key, "linearity")
        spread = study_table(store, entry.key, "seed_spread")
        studies.append({"key": entry.key, "task": spec.task, "model": entry.summary["model"],
                        "seeds": list(spec.seeds), "lr": spec.train.lr, "epochs": spec.train.epochs,
                        "steps": spec.train.steps, "seconds": seconds, "runs": entry.summary["runs"],
                        "test_accuracy": spread[["mean", "std", "min", "max", "n_failed"]].to_dict("records"),
                        "linearity": linearity.to_dict("records")})
    lines = []
    for s in studies:
        acc = s["test_accuracy"][0] if s["test_accuracy"] else {}
        length = f"{s['steps']} updates" if s["steps"] else f"{s['epochs']} epochs"
        lines.append(f"study {s['key']}: {s['model']} on {s['task']}, seeds {s['seeds']}, lr {s['lr']:g}, {length}, "
                     f"test accuracy {acc.get('mean', float('nan')):.3f} ({s['seconds']} s)")
    return {"studies": studies, "text": "\n".join(lines)}
