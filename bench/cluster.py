"""Benchmark studies on Dask: speed-up of local workers, scheduling overhead, and the paper's grid projected.

1. ``--study``: the same small study (a tiny random BERT on PS-role, two seeds) in this process
   and on a LocalCluster of ``--workers`` workers, each in a fresh store; the speed-up against
   the ideal, the summed step time (from the in-process run) over the workers.
2. ``--noop N`` (default 10,000): N no-op tasks with their own keys through a LocalCluster of
   ``--workers`` single-threaded workers, submitted and awaited as the study runner does; the
   scheduling overhead per task.
3. The paper's grid (5 models x 5 tasks x 5 seeds, the ``paper`` preset) planned, not run: its
   step count per kind and its wall time projected on 8, 64 and 512 workers from the step costs
   in :data:`STEP_SECONDS` and the overhead measured in 2.

    python bench/cluster.py [--study] [--workers 2] [--noop 10000] [--data-dir ../shared/data]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.config import data_dir as default_data_dir  # noqa: E402

TASKS = ("pos", "dep", "ps-fxn", "ps-role", "trec-50")
EPOCHS = 10
"""The default fine-tuning length; the paper preset snapshots every epoch end."""

MODELS = {  # name: (representation layers incl. embeddings, fine-tuning time relative to MiniLM-L6)
    "all-MiniLM-L6-v2": (7, 1.0),
    "all-MiniLM-L12-v2": (13, 2.0),
    "bert-base-uncased": (13, 5.0),
    "roberta-base": (13, 5.0),
    "bert-large-uncased": (25, 15.0),
}
"""An assumed grid of five models; the 5x of BERT-base over MiniLM-L6 per update is the figure
quoted in the issue, the others scale with depth and width."""

STEP_SECONDS = {  # task: (MiniLM-L6 fine-tuning run, one DirectProbe step, one MLP-probe step), 1 CPU thread
    "pos": (11 * 60, 84.0, 60.0),
    "dep": (12 * 60, 84.0, 60.0),
    "ps-fxn": (2 * 60, 0.5, 5.0),
    "ps-role": (2 * 60, 0.5, 5.0),
    "trec-50": (13 * 60, 3.0, 10.0),
}
"""Fine-tuning: bench/RESULTS.md, "10 epochs, background".  DirectProbe on POS/DEP: the paper
preset on all 43,504 POS targets, 154 DirectProbe steps plus probes in 107 min on two workers
(about 84 s of a worker per step); PS and TREC: the DirectProbe engine's timings in
bench/RESULTS.md.  MLP probes: assumed (not measured here)."""


def grid_steps() -> list[tuple[str, str, str, float]]:
    """Every step of the paper grid as (model, task, kind, seconds), shared steps counted once.

    Per model: the original model's snapshots (update 0) are shared by every seed and study, so
    DirectProbe runs on all their layers once per task and split, and one MLP probe per task.
    Per run: DirectProbe on every layer at each of the 10 epoch ends (train and test), on the last
    layer of the 4 other tasks' train and test at the end, and an MLP probe per task at the end.
    """
    steps = []
    for model, (layers, scale) in MODELS.items():
        for task in TASKS:
            tune, dp, probe = STEP_SECONDS[task]
            steps += [(model, task, "directprobe", dp)] * (2 * layers)
            steps += [(model, task, "probe", probe)]
            for _seed in range(5):
                steps.append((model, task, "finetune", tune * scale))
                steps += [(model, task, "directprobe", dp)] * (EPOCHS * 2 * layers)
                for other in TASKS:
                    if other != task:
                        steps += [(model, other, "directprobe", STEP_SECONDS[other][1])] * 2
                    steps.append((model, other, "probe", STEP_SECONDS[other][2]))
    return steps


def project(overhead: float) -> None:
    """Print the grid's step counts and projected wall time on 8, 64 and 512 workers."""
    steps = grid_steps()
    kinds: dict[str, list[float]] = {}
    for _, _, kind, seconds in steps:
        kinds.setdefault(kind, []).append(seconds)
    work = sum(s for _, _, _, s in steps)
    print(f"\npaper grid, planned: {len(MODELS)} models x {len(TASKS)} tasks x 5 seeds = {len(steps):,} steps")
    for kind, seconds in kinds.items():
        print(f"  {kind:12s} {len(seconds):7,} steps, {sum(seconds) / 3600:8.1f} worker-hours")
    # The critical path: one run's fine-tuning, then its longest analysis step.
    longest = max(STEP_SECONDS[t][0] * MODELS[m][1] + STEP_SECONDS[t][1] for m in MODELS for t in TASKS)
    print(f"  work {work / 3600:.0f} worker-hours; critical path (longest run + one DirectProbe step) "
          f"{longest / 3600:.1f} h; scheduling {overhead * 1e3:.2f} ms per step")
    print("  workers   ideal (work/N)   projected wall   scheduling overhead, % of the work's wall time")
    for n in (8, 64, 512):
        ideal = work / n
        scheduling = len(steps) * overhead  # the scheduler handles steps one after another
        wall = max(ideal, longest) + scheduling
        print(f"  {n:7d}   {ideal / 3600:10.1f} h   {wall / 3600:12.1f} h   {100 * scheduling / wall:10.3f} %")


def noop(key: int) -> int:
    """A step that does nothing (the scheduling overhead benchmark's task)."""
    return key


def bench_noop(n: int, workers: int) -> float:
    """Seconds of scheduling per task: ``n`` no-op tasks through a LocalCluster, as the runner sends them."""
    from distributed import wait

    from analysis.study.cluster import connect

    with connect(None, workers) as client:
        client.submit(noop, -1, key="noop-warm").result()
        start = time.perf_counter()
        futures = [client.submit(noop, i, key=f"noop-{i}") for i in range(n)]
        submitted = time.perf_counter() - start
        with client.as_current():
            wait(futures)
        total = time.perf_counter() - start
    print(f"{n:,} no-op tasks on {workers} workers: submitted in {submitted:.1f} s, all done in {total:.1f} s: "
          f"{1e3 * total / n:.2f} ms per task")
    return total / n


def bench_study(workers: int, data: Path) -> None:
    """The same study in this process and on ``workers`` local workers, against the ideal speed-up."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import build_tiny_bert

    from analysis.finetune import SnapshotOptions, TrainOptions
    from analysis.store import Store
    from analysis.study import ProbeConfig, StudySpec, run_study

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_bert(Path(tmp) / "model")
        spec = StudySpec(task="ps-role", model=str(model), seeds=(1, 2), data_dir=str(data),
                         train=TrainOptions(steps=12, batch_size=32, lr=1e-3),
                         snapshots=SnapshotOptions(every=4, epochs=0),
                         probes=ProbeConfig(hidden_sizes=(32, 64), seeds=(0, 1), max_epochs=10))
        times = {}
        step_seconds = 0.0
        for n in (1, workers):
            messages: list[str] = []
            torch.set_num_threads(1)  # as on a single-threaded worker
            start = time.perf_counter()
            run_study(spec, Store(Path(tmp) / f"store{n}"), workers=n, report=lambda m, p: messages.append(m))
            times[n] = time.perf_counter() - start
            if n == 1:
                step_seconds = sum(float(m.rsplit("(", 1)[1].split(" s")[0]) for m in messages
                                   if m.startswith("done: "))
        ideal = step_seconds / workers
        print(f"study, tiny BERT on PS-role, 2 seeds: 1 worker (in process) {times[1]:.1f} s "
              f"(steps {step_seconds:.1f} s); {workers} workers {times[workers]:.1f} s: speed-up "
              f"{times[1] / times[workers]:.2f}x; ideal {ideal:.1f} s ({step_seconds / ideal:.0f}x), "
              f"reached {100 * ideal / times[workers]:.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", action="store_true", help="also time the small study on 1 and N workers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noop", type=int, default=10_000, help="no-op tasks for the overhead (0: skip)")
    parser.add_argument("--overhead-ms", type=float, default=None,
                        help="scheduling overhead per step for the projection, instead of measuring it")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.study:
        bench_study(args.workers, Path(args.data_dir) if args.data_dir else default_data_dir())
    overhead = args.overhead_ms / 1e3 if args.overhead_ms is not None else None
    if overhead is None and args.noop:
        overhead = bench_noop(args.noop, args.workers)
    project(overhead or 0.0)


if __name__ == "__main__":
    main()
