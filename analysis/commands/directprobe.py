"""``python -m analysis directprobe``: DirectProbe on one layer of a stored representation, into the store."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..embed import embed
from ..results import compute_directprobe, load_directprobe
from ..store import Store
from .common import add_device_argument, add_model_task_arguments, task_options


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("directprobe", parents=[parent],
                       help="cluster one layer's representations into non-overlapping label hulls")
    add_model_task_arguments(p)
    p.add_argument("--layer", type=int, required=True, help="layer index (0 = embeddings)")
    add_device_argument(p, "extraction (of representations not stored yet)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    start = time.perf_counter()
    source = embed(args.task, args.split, args.model, store=store, data_dir=args.data_dir,
                   task_options=task_options(args), device=args.device)
    n_layers = int(source.summary["n_layers"])
    if not 0 <= args.layer < n_layers:
        raise ValueError(f"--layer {args.layer} out of range: {source.summary['model']} has layers 0..{n_layers - 1}")
    bar = None if args.json else tqdm(desc=f"DirectProbe {args.task} layer {args.layer}", unit="merge")
    hit = load_directprobe(store, source.key, args.layer) is not None
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if bar is None else bar.write
    try:
        key = compute_directprobe(store, source.key, args.layer, progress=bar, waiting=say)
    finally:
        if bar is not None:
            bar.close()
    result = load_directprobe(store, source.key, args.layer)
    copied_from = store[key].summary.get("copied_from")
    names = list(source.summary["label_names"])
    present = sorted(set(result.cluster_labels.tolist()))
    per_label = {names[i]: (None if np.isnan(result.min_label_distance[i]) else float(result.min_label_distance[i]))
                 for i in present}
    out = {
        "key": key, "hit": hit, "seconds": round(time.perf_counter() - start, 3), "source": source.key,
        "model": source.summary["model"], "task": args.task, "split": args.split, "layer": args.layer,
        "n_points": int(len(result.assignment)), "n_labels": len(present), "n_clusters": result.n_clusters,
        "is_linear": result.is_linear, "n_conflicts": len(result.conflicts),
        "min_label_distance": per_label, "stats": result.stats, "copied_from": copied_from,
    }
    s = result.stats
    lines = [
        f"{'stored (hit)' if hit else 'computed'} {key}: {out['model']} {args.task}/{args.split} layer {args.layer}",
        *([f"  a copy of {copied_from}, clustered on the same points and labels (timings are that run's)"]
          if copied_from else []),
        f"  {out['n_points']} points, {len(present)} labels -> {result.n_clusters} clusters "
        f"({'linear' if result.is_linear else 'not linear'}), {len(result.conflicts)} identical-point conflicts",
        f"  {s['merges']} merges, {s['rejections']} rejected, {s['settled']} more merges in the "
        f"{s['free_labels']} labels apart from all others, {s['lp_calls']} LP calls, "
        f"{s['seconds']:.1f} s clustering, "
        f"{s['distance_seconds']:.1f} s hull distances (max gap {s['max_distance_gap']:.1e})",
        "  minimum distance to another label:",
    ]
    lines += [f"    {name:<24} {'-' if d is None else f'{d:.4f}'}" for name, d in per_label.items()]
    out["text"] = "\n".join(lines)
    return out
