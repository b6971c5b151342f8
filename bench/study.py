"""A/B of a study's analysis phase: this commit's engine against a baseline commit's, same stored runs.

1. Fine-tunes the ``paper`` preset's runs of ``--task`` once (this commit's code) into a source store.
2. For each engine (the baseline from a git worktree of ``--baseline``, then this checkout), on its
   own hard-linked copy of that store: plans the analysis steps of the stored runs and runs them one
   by one in a fresh process, timing each (worker time by step kind), then builds the study's tables
   (timed); peak RSS per process.
3. Checks the results: DirectProbe assignments and distance tables identical (``np.array_equal``),
   probe accuracies within the seed spread (difference of means below the larger standard
   deviation), the tables that do not come from probes equal to 1e-9.

Each engine's process first warms up untimed (numba compiles the DirectProbe kernels on first use,
and a baseline's fresh worktree has no compiled cache), then runs with one BLAS and torch thread, as
a Dask worker of the study does; the
wall time on N workers is the measured step times list-scheduled on N workers, in the order the
study sends them (as Dask starts them) and longest first (the best order), plus the tables.  Both engines are measured in the same run, on the same machine.

    python bench/study.py --task pos [--train-size 8000] [--epochs 3] [--baseline HEAD~1]
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_FROM_PROBES = ("linearity", "divergence", "dynamics", "dynamics_extremes", "trajectories", "shift", "layers")


def spec(args: argparse.Namespace):
    from analysis.finetune import TrainOptions
    from analysis.study.spec import preset_specs

    train = TrainOptions(epochs=args.epochs, train_size=args.train_size)
    return preset_specs("paper", [args.task], model=None, seeds=(1,), train=train, data_dir=args.data_dir)[0]


def prepare(args: argparse.Namespace, store_dir: Path) -> None:
    """Fine-tune the study's runs into ``store_dir`` (this commit's code)."""
    from analysis.store import Store
    from analysis.study.plan import finetune_steps
    from analysis.study.steps import ACTIONS

    store = Store(store_dir)
    for step in finetune_steps(spec(args)):
        ACTIONS[step.action](store, step.params)


def side(args: argparse.Namespace) -> None:
    """Run in a fresh process with one engine on the path: every analysis step, timed, then the tables."""
    from analysis.finetune import list_runs
    from analysis.store import Store
    from analysis.study.plan import analysis_steps, snapshot_table
    from analysis.study.steps import ACTIONS
    from analysis.study.tables import study_tables

    store, study = Store(args.store), spec(args)
    runs = list_runs(store)
    runs = runs[runs["task"] == args.task].sort_values("seed")["run"].tolist()
    steps = analysis_steps(study, store, runs)
    warm = warm_up(store, steps)
    timings = []
    for step in steps:
        start = time.perf_counter()
        ACTIONS[step.action](store, step.params)
        timings.append({"action": step.action, "label": step.label, "key": step.key,
                        "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    tables = study_tables(store, study, runs, snapshot_table(store, runs))
    tables_seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in NOT_FROM_PROBES + ("probes",):
        if name in tables and not tables[name].empty:
            tables[name].to_json(out / f"{name}.json", orient="split", double_precision=15, default_handler=str)
    status = Path("/proc/self/status").read_text().splitlines()  # VmHWM: this process's own peak (not its parent's)
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    (out / "timings.json").write_text(json.dumps({"steps": timings, "tables_seconds": tables_seconds,
                                                  "peak_rss_mb": peak, "warm_up_seconds": warm}))


def warm_up(store, steps) -> float:
    """Compile and load what the steps use before any is timed (numba compiles the DirectProbe kernels
    on first use, into a cache a fresh worktree lacks; torch initialises): DirectProbe on the smallest
    step's points, and one short probe, neither stored.  Returns its seconds."""
    import numpy as np

    from analysis.directprobe import directprobe
    from analysis.embed import representation
    from analysis.probes import mlp_probe

    start = time.perf_counter()
    small = min((s for s in steps if s.action == "directprobe"), key=lambda s: s.cost)
    X, y = representation(store[small.params["entry"]], small.params["layer"])
    directprobe(np.asarray(X, dtype=np.float64), y, n_labels=len(store[small.params["entry"]].summary["label_names"]))
    probe = next((s for s in steps if s.action == "probe"), None)
    if probe is not None:
        X, y = representation(store[probe.params["train"]], probe.params["layer"])
        mlp_probe(X[:400], y[:400], X[:100], y[:100], hidden_sizes=(32,), seeds=(0,), max_epochs=2)
    return time.perf_counter() - start


def makespan(seconds: list[float], workers: int, longest_first: bool = False) -> float:
    """List scheduling of independent steps: each goes to the first free worker, in the order given
    (the order a study sends them, which Dask keeps) or longest first; the last finish."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True) if longest_first else seconds:
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def run_side(name: str, engine: Path, args: argparse.Namespace, store_dir: Path, out: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--side", "--engine", str(engine), "--task", args.task,
               "--epochs", str(args.epochs), "--store", str(store_dir), "--out", str(out)]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    start = time.perf_counter()
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run(command, check=True, env={**os.environ, **one_thread, "PYTHONPATH": str(engine)})
    result = json.loads((out / "timings.json").read_text())
    result["wall"] = time.perf_counter() - start
    print(f"{name}: {len(result['steps'])} steps and the tables in {result['wall'] - result['warm_up_seconds']:.0f} s, "
          f"after {result['warm_up_seconds']:.0f} s of warm-up (compiling kernels); peak RSS "
          f"{result['peak_rss_mb']:.0f} MB")
    return result


def compare(a_store: Path, b_store: Path, a_out: Path, b_out: Path, steps: list[dict]) -> None:
    """The identity checks of the module docstring."""
    import numpy as np
    import pandas as pd

    from analysis.directprobe.result import ARRAYS
    from analysis.store import Store

    A, B = Store(a_store), Store(b_store)
    dp = [s["key"] for s in steps if s["action"] == "directprobe"]
    same = 0
    for key in dp:
        a, b = A[key], B[key]
        same += all(np.array_equal(np.asarray(a.array(n)), np.asarray(b.array(n)), equal_nan=True) for n in ARRAYS)
    print(f"DirectProbe results identical (assignments, cluster labels and distance tables, np.array_equal): "
          f"{same} of {len(dp)}")
    for name in NOT_FROM_PROBES:
        if not (a_out / f"{name}.json").exists():
            continue
        ta = pd.read_json(a_out / f"{name}.json", orient="split")
        tb = pd.read_json(b_out / f"{name}.json", orient="split")
        numeric = ta.select_dtypes("number").columns
        close = ta.shape == tb.shape and np.allclose(ta[numeric].to_numpy(float), tb[numeric].to_numpy(float),
                                                     rtol=0, atol=1e-9, equal_nan=True)
        print(f"table {name}: {'equal to 1e-9' if close else 'DIFFERS'}")
    if (a_out / "probes.json").exists():
        pa = pd.read_json(a_out / "probes.json", orient="split")
        pb = pd.read_json(b_out / "probes.json", orient="split")
        for (i, ra), (_, rb) in zip(pa.iterrows(), pb.iterrows()):
            spread = max(ra["std"], rb["std"])
            print(f"probe {ra['task']} layer {ra['layer']} {ra['model_state']}: {ra['mean']:.4f} ± {ra['std']:.4f} "
                  f"→ {rb['mean']:.4f} ± {rb['std']:.4f} ({'within' if abs(ra['mean'] - rb['mean']) < spread else 'OUTSIDE'}"
                  f" the seed spread)")


def report(a: dict, b: dict) -> None:
    kinds = sorted({s["action"] for s in a["steps"]} | {s["action"] for s in b["steps"]})
    print("| | baseline | this commit | ratio |\n| --- | ---: | ---: | ---: |")
    for kind in kinds:
        ta = sum(s["seconds"] for s in a["steps"] if s["action"] == kind)
        tb = sum(s["seconds"] for s in b["steps"] if s["action"] == kind)
        print(f"| {kind} worker time | {ta:.0f} s | {tb:.0f} s | {ta / tb:.2f}× |")
    print(f"| tables | {a['tables_seconds']:.1f} s | {b['tables_seconds']:.1f} s | "
          f"{a['tables_seconds'] / b['tables_seconds']:.2f}× |")
    for workers, longest_first in ((2, True), (2, False), (8, False), (8, True), (16, False), (16, True)):
        wa, wb = (makespan([s["seconds"] for s in side["steps"]], workers, longest_first) + side["tables_seconds"]
                  for side in (a, b))
        order = "longest first" if longest_first else "in the order sent"
        print(f"| {workers}-worker wall, steps {order} | {wa:.1f} s | {wb:.1f} s | {wa / wb:.2f}× |")
    print(f"| peak RSS | {a['peak_rss_mb']:.0f} MB | {b['peak_rss_mb']:.0f} MB | |")
    slow = defaultdict(float)
    for s in b["steps"]:
        slow[s["label"]] += s["seconds"]
    print("slowest steps now:", ", ".join(f"{k} {v:.0f} s" for k, v in sorted(slow.items(), key=lambda kv: -kv[1])[:5]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="pos")
    parser.add_argument("--train-size", type=int, default=None, help="training examples (default: all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--baseline", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--keep", default=None, help="folder for the stores (default: a temporary one, removed)")
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, args.engine)
    if args.side:
        side(args)
        return
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-study-"))
    source = work / "source"
    start = time.perf_counter()
    prepare(args, source)
    print(f"fine-tuning ready in {time.perf_counter() - start:.0f} s ({args.task}, train size "
          f"{args.train_size or 'all'}, {args.epochs} epochs)")
    baseline = work / "baseline-engine"
    if not baseline.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                       check=True, capture_output=True)
    results = {}
    for name, engine in (("baseline", baseline), ("this commit", ROOT)):
        store = work / f"store-{name.replace(' ', '-')}"
        if not store.exists():
            shutil.copytree(source, store, copy_function=os.link)  # entries are immutable: hard links suffice
        results[name] = (store, work / f"out-{name.replace(' ', '-')}")
        results[name] += (run_side(name, engine, args, *results[name]),)
    (a_store, a_out, a), (b_store, b_out, b) = results["baseline"], results["this commit"]
    report(a, b)
    compare(a_store, b_store, a_out, b_out, b["steps"])
    if not args.keep:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
