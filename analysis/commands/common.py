"""Arguments shared by the commands that read a task with a model."""
from __future__ import annotations

import argparse
import json
from typing import Any

from tqdm.auto import tqdm

from ..tasks import TASKS


def add_model_task_arguments(p: argparse.ArgumentParser, *, split: bool = True) -> None:
    """``--model``, ``--task``, ``--split``, ``--data-dir`` and ``--task-option``."""
    p.add_argument("--model", default=None,
                   help="Hugging Face name or local folder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--task", required=True, choices=TASKS, help="the probing task")
    if split:
        p.add_argument("--split", default="train", help="train, dev or test (default: train)")
    p.add_argument("--data-dir", default=None, help="folder with the corpora (default: $FTGEO_DATA_DIR or ../shared/data)")
    add_task_option_argument(p, "task option")


def add_task_option_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``-o/--task-option KEY=VALUE`` (read by :func:`task_options`), described as ``what``."""
    p.add_argument("-o", "--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help=f"{what}, value parsed as JSON when possible (e.g. subtypes=true); repeatable")


def add_device_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``--device`` (see :func:`analysis.models.resolve_device`)."""
    p.add_argument("--device", default=None, metavar="auto|cpu|cuda|cuda:N",
                   help=f"where {what} runs (default auto: the GPU when there is one)")


def task_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``--task-option KEY=VALUE`` pairs as a dict (values parsed as JSON when they parse)."""
    out: dict[str, Any] = {}
    for item in args.task_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--task-option expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out or None


class Bar:
    """A tqdm progress callback ``(done, total)`` for the CLI, on stderr; silent with ``--json``."""

    def __init__(self, desc: str, quiet: bool = False):
        self.desc, self.quiet, self.bar = desc, quiet, None
        self.called = False

    def __call__(self, done: int, total: int) -> None:
        self.called = True
        if self.quiet:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="target")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def unset_unless_given() -> argparse.ArgumentParser:
    """``--json`` and ``--store`` again for the actions, setting nothing unless given there, so that
    they do not overwrite a value given before the action (``runs --json ls``, ``store --json ls``)."""
    again = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    again.add_argument("--json", action="store_true", help="print the result as one JSON object")
    again.add_argument("--store", help="store folder (default: $FTGEO_STORE or cache/)")
    return again
