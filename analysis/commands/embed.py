"""``python -m analysis embed``: every layer's representation of a task's targets, into the store."""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..embed import BATCH_TOKENS, embed
from ..store import Store
from .common import Bar, add_device_argument, add_model_task_arguments, task_options


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("embed", parents=[parent], help="extract and store every layer's target vectors")
    add_model_task_arguments(p)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS, help="padded tokens per batch (memory bound; default %(default)s)")
    add_device_argument(p, "the model")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    start = time.perf_counter()
    bar = Bar(f"embed {args.task}/{args.split}", quiet=args.json)
    try:
        entry = embed(args.task, args.split, args.model, store=store, data_dir=args.data_dir,
                      task_options=task_options(args), dtype=args.dtype, batch_tokens=args.batch_tokens,
                      progress=bar, device=args.device)
    finally:
        bar.close()
    s = entry.summary
    result = {
        "key": entry.key, "hit": not bar.called, "seconds": round(time.perf_counter() - start, 3),
        "model": s["model"], "task": s["task"], "split": s["split"], "n_targets": s["n_targets"],
        "n_layers": s["n_layers"], "dim": s["dim"], "dtype": s["dtype"], "label_names": s["label_names"],
        "n_skipped": s["n_skipped"], "n_windowed": s["n_windowed"], "path": str(entry.path),
    }
    result["text"] = (f"{'stored (hit)' if result['hit'] else 'computed'} {entry.key}: {s['model']} {s['task']}/"
                      f"{s['split']}, {s['n_targets']} targets, {s['n_layers']} layers x {s['dim']} dims, "
                      f"{len(s['label_names'])} labels, {s['n_skipped']} skipped")
    return result
