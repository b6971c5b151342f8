"""``python -m analysis store ls|rm|clean``: inspect and manage the store."""
from __future__ import annotations

import argparse
from typing import Any

from ..store import Store, check_key
from .common import unset_unless_given


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    """``store ls|rm|clean``; ``--json`` and ``--store`` go before or after the action."""
    p = sub.add_parser("store", parents=[parent], help="list, delete or clean store entries")
    again = unset_unless_given()
    actions = p.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("ls", parents=[again], help="list stored entries with sizes")
    ls.add_argument("--kind", default=None, help="only entries of this kind (e.g. embed, directprobe)")
    ls.set_defaults(handler=run_ls)
    rm = actions.add_parser("rm", parents=[again], help="delete entries by key")
    rm.add_argument("keys", nargs="+")
    rm.set_defaults(handler=run_rm)
    clean = actions.add_parser("clean", parents=[again],
                               help="remove leftovers of killed writes on this host (never another host's)")
    clean.set_defaults(handler=run_clean)


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def run_ls(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    rows = []
    for e in store.ls(args.kind):
        rows.append({"key": e.key, "kind": e.kind, "bytes": e.size_bytes(), "created": e.meta.get("created"),
                     "summary": e.summary})
    broken = [str(p) for p in store.broken()]
    lines = [f"store {store.root}: {len(rows)} entries, {human_size(sum(r['bytes'] for r in rows))}"]
    for r in rows:
        s = r["summary"]
        what = " ".join(f"{k}={s[k]}" for k in ("model", "task", "split", "n_targets", "layer", "copied_from",
                                                 "result") if s.get(k) is not None)
        lines.append(f"  {r['key']:<40} {human_size(r['bytes']):>10}  {what}")
    lines += [f"  unreadable: {p}" for p in broken]
    return {"store": str(store.root), "entries": rows, "broken": broken, "text": "\n".join(lines)}


def run_rm(args: argparse.Namespace) -> dict[str, Any]:
    store = Store(args.store)
    for key in args.keys:  # every key checked before anything is deleted
        check_key(key)
    for key in args.keys:
        store.delete(key)
    return {"deleted": args.keys, "text": f"deleted {len(args.keys)} entries"}


def run_clean(args: argparse.Namespace) -> dict[str, Any]:
    n = Store(args.store).clean_tmp()
    return {"removed": n, "text": f"removed {n} leftover temporary folders (of writers on this host that no longer run)"}
