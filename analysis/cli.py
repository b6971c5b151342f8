"""The command-line interface: ``python -m analysis <command> [--json]``.

Every command returns a JSON-serialisable dict; with ``--json`` it is printed as one JSON
object, otherwise as readable text.  Bad input (``ValueError`` and its subclass ``DataError``, store and
model errors) ends with a one-line message and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from .commands import directprobe as directprobe_cmd
from .commands import embed as embed_cmd
from .commands import finetune as finetune_cmd
from .commands import runs as runs_cmd
from .commands import store as store_cmd
from .commands import study as study_cmd
from .config import given_data_roots
from .models import ModelError
from .store import StoreError
from .study.cluster import ClusterError

COMMAND_MODULES = [embed_cmd, store_cmd, finetune_cmd, runs_cmd, study_cmd, directprobe_cmd]


def common_options() -> argparse.ArgumentParser:
    """Options every sub-command accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parent.add_argument("--store", default=None, help="store folder (default: $FTGEO_STORE or cache/)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parent = common_options()
    for module in COMMAND_MODULES:
        module.register(sub, parent)
    return parser


def print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
        return
    text = result.get("text")
    if text is not None:
        print(text)
        return
    for key, value in result.items():
        print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], dict[str, Any]] = args.handler
    try:
        with given_data_roots(getattr(args, "data_dir", None), getattr(args, "store", None)):
            result = handler(args)
    except (ValueError, StoreError, ModelError, ClusterError, FileNotFoundError, argparse.ArgumentTypeError) as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; what was stored so far is kept", file=sys.stderr)
        return 130
    print_result(result, args.json)
    return 0
