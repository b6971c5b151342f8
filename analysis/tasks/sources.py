"""Where a corpus file is read from: the data folder, else the store's downloads, else the network.

Corpus files are named by their path in the shared-data layout (e.g. ``trec/TREC_10.label``).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import DATA_DIR_ENV, data_dir as configured_data_dir
from ..store import Store
from .base import DataError
from .download import REMOTES, Unreachable, fetch

DataDir = str | os.PathLike | None


def find(relpath: str, data_dir: DataDir, store: Store | None) -> Path | None:
    """The local copy of ``relpath`` (data folder first, then downloads), or ``None``."""
    root = configured_data_dir(data_dir)
    if root is not None and (root / relpath).is_file():
        return root / relpath
    downloaded = (store or Store()).downloads / relpath
    return downloaded if downloaded.is_file() else None


def locate(relpath: str, data_dir: DataDir, store: Store | None) -> Path:
    """The local copy of ``relpath``, downloading the pinned release if there is none."""
    if (local := find(relpath, data_dir, store)) is not None:
        return local
    store = store or Store()
    root = configured_data_dir(data_dir)
    wanted = root / relpath if root is not None else store.downloads / relpath
    looked = f"the data folder {root}" if root is not None else "any data folder (none is set)"
    hint = f"set --data-dir or ${DATA_DIR_ENV} to a folder holding {relpath}"
    remote = REMOTES.get(relpath)
    if remote is None:
        raise DataError(wanted, None, f"not found in {looked} nor in {store.downloads}, and there "
                                      f"is no pinned release to download; {hint}")
    try:
        return fetch(remote, store.downloads / relpath)
    except Unreachable as exc:
        raise DataError(wanted, None, f"not found in {looked} nor in {store.downloads}, and {exc}; "
                                      f"{hint}") from exc
