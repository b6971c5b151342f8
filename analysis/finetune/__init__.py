"""Fine-tuning with geometry snapshots, and the few-sample recipes of Zhang et al. (ICLR 2021).

Write: :func:`finetune` (one seed; call it once per seed), configured by
:class:`TrainOptions` (what determines training; part of the run key) and
:class:`SnapshotOptions` (what is recorded).  Read: :func:`list_runs`, :func:`run_snapshots`,
:func:`run_metrics` and :func:`seed_spread` (columns documented in :mod:`.runs`).  A snapshot
entry reads like any representation: ``analysis.embed.representation(store[entry], layer)``.
"""
from .options import SnapshotOptions, TrainOptions, parse_seeds
from .runs import broken_records, list_runs, run_metrics, run_snapshots, seed_spread
from .train import finetune

__all__ = ["SnapshotOptions", "TrainOptions", "broken_records", "finetune", "list_runs", "parse_seeds",
           "run_metrics", "run_snapshots", "seed_spread"]
