"""Caps on what one command may ask of the machine, each set by an environment variable.

``FTGEO_MAX_SEEDS`` (default 1000): training seeds in one command.
``FTGEO_MAX_WORKERS`` (default 4 per CPU core): worker processes or threads one command starts.
``FTGEO_MAX_RUN_GB`` (default 200): what one run may add to the store, as estimated beforehand.
``FTGEO_DISK_RESERVE_MB`` (default 1024): free disk space a run must leave behind.
``FTGEO_MAX_DOWNLOAD_MB`` (default 512): the size of one corpus download.
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

MAX_SEEDS_ENV = "FTGEO_MAX_SEEDS"
MAX_WORKERS_ENV = "FTGEO_MAX_WORKERS"
MAX_RUN_ENV = "FTGEO_MAX_RUN_GB"
DISK_RESERVE_ENV = "FTGEO_DISK_RESERVE_MB"
MAX_DOWNLOAD_ENV = "FTGEO_MAX_DOWNLOAD_MB"

MB = 1 << 20
GB = 1 << 30


class LimitError(ValueError):
    """A request beyond one of the caps, or a run that would not fit on the disk."""


def cap(env: str, default: int) -> int:
    """The cap set by ``env`` (a positive whole number), else ``default``."""
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise LimitError(f"${env} must be a positive whole number, not {text!r}")
    return value


def max_seeds() -> int:
    return cap(MAX_SEEDS_ENV, 1000)


def max_workers() -> int:
    return cap(MAX_WORKERS_ENV, 4 * (os.cpu_count() or 1))


def max_download_bytes() -> int:
    return cap(MAX_DOWNLOAD_ENV, 512) * MB


def check_seed_count(n: int) -> None:
    """Refuse more than :func:`max_seeds` seeds."""
    if n > (limit := max_seeds()):
        raise LimitError(f"{n} seeds asked for, more than the cap of {limit} per command "
                         f"(set ${MAX_SEEDS_ENV} to raise it)")


def workers(text: str) -> int:
    """An argparse ``type``: a worker count from 0 up to :func:`max_workers`."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers, not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"the number of workers cannot be negative ({n})")
    if n > (limit := max_workers()):
        raise argparse.ArgumentTypeError(f"{n} workers is more than the cap of {limit} (set ${MAX_WORKERS_ENV} "
                                         f"to raise it)")
    return n


def representation_bytes(n_targets: int, layers: int, hidden: int, itemsize: int = 4) -> int:
    """The size of ``layers`` stored arrays of ``n_targets`` × ``hidden`` values."""
    return n_targets * layers * hidden * itemsize


def ensure_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Refuse ``what`` if its estimated ``needed`` bytes exceed the per-run cap or the free disk
    space of ``folder`` (less the reserve)."""
    if needed > (run_cap := cap(MAX_RUN_ENV, 200) * GB):
        raise LimitError(f"{what} would store about {_size(needed)}, more than the cap of {_size(run_cap)} "
                         f"per run (set ${MAX_RUN_ENV} to raise it)")
    free = shutil.disk_usage(_existing(Path(folder))).free
    reserve = cap(DISK_RESERVE_ENV, 1024) * MB
    if needed + reserve > free:
        raise LimitError(f"{what} would store about {_size(needed)}, but {folder} has {_size(free)} free and "
                         f"{_size(reserve)} must stay free (${DISK_RESERVE_ENV}); free some space first")


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the disk a new folder would be on)."""
    path = path.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    return f"{n / GB:.1f} GB" if n >= 10 * GB else f"{n / MB:.0f} MB"
