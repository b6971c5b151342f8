"""The one on-disk store: content-addressed entries written atomically, read memory-mapped.

An entry is a folder ``entries/<key>/`` holding ``meta.json`` plus arrays (``.npy``, one file
per array so a reader can map just one layer) and JSON documents.  The key hashes everything
that determines the result (the ``spec``).  Entries are built in ``tmp/`` and renamed into
place in one step, so a reader never sees a half-written entry and a crash leaves nothing that
looks complete.  No pickle: ``np.load`` is always called with ``allow_pickle=False``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from .config import store_dir
from .processes import ProcessId

META = "meta.json"
KEY = re.compile(r"[a-z]+-[0-9a-f]{24}")
KIND = re.compile(r"[a-z]+")
WRITING = re.compile(r"(?P<name>.+)\.(?P<pid>\d+)\.(?P<started>\d+)\.[0-9a-f]{8}@(?P<host>.+)")
"""Something being written: ``<name>.<pid>.<start time>.<random>@<host>`` (see :func:`writing_name`)."""
DELETED = "deleted."
REPRESENTATION_SUMMARY = {"model": str, "task": str, "split": str, "n_targets": int, "n_layers": int, "dim": int,
                          "label_names": list}
"""What the summary of a representation (kinds ``embed`` and ``snapshot``) holds; every reader relies on it."""

class StoreError(RuntimeError):
    """A store entry is missing, unreadable or malformed."""


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) used for hashing specs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def make_key(kind: str, spec: dict[str, Any]) -> str:
    """The content address of a result: its kind plus a hash of everything that determines it."""
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise StoreError(f"not a store kind: {kind!r} (lower-case letters only)")
    digest = hashlib.sha256(canonical_json({"kind": kind, "spec": spec}).encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


def check_key(key: Any) -> str:
    """``key`` itself if it is a store key (``<kind>-<24 hex digits>``); a clear error otherwise.

    Every store call that takes a key checks it, so no name ('', '.', '..', a path) can reach
    outside the one entry folder it names.
    """
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise StoreError(f"not a store key: {key!r} (a key is <kind>-<24 hex digits>, e.g. from `store ls`)")
    return key


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A complete, read-only store entry."""

    key: str
    path: Path
    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def spec(self) -> dict[str, Any]:
        return self.meta["spec"]

    @property
    def summary(self) -> dict[str, Any]:
        return self.meta.get("summary", {})

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.name != META)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir())

    def array(self, name: str, mmap: bool = True) -> np.ndarray:
        """Load ``<name>.npy``, memory-mapped read-only by default."""
        file = self.path / f"{name}.npy"
        try:
            return np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
        except EOFError:
            raise StoreError(f"{file}: cannot read array (the file is empty or cut short)") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{file}: cannot read array ({exc})") from exc

    def json(self, name: str) -> Any:
        """Load ``<name>.json``."""
        file = self.path / f"{name}.json"
        try:
            return json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{file}: cannot read JSON ({exc})") from exc

    def table(self, name: str) -> "pd.DataFrame":
        """Load ``<name>.parquet`` as a DataFrame."""
        import pandas as pd

        file = self.path / f"{name}.parquet"
        try:
            return pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise StoreError(f"{file}: cannot read table ({exc})") from exc

    def file(self, name: str) -> Path:
        """Path of any other file in the entry (e.g. safetensors)."""
        return self.path / name


class EntryWriter:
    """Builds an entry in a private temporary folder; see :meth:`Store.create`."""

    def __init__(self, tmp: Path, kind: str, key: str, spec: dict[str, Any]):
        self.path = tmp
        self.kind = kind
        self.key = key
        self.spec = spec
        self.summary: dict[str, Any] = {}
        self._maps: list[np.memmap] = []
        self._rows: list[RowFile] = []

    def new_array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.memmap:
        """A writable memory-mapped ``.npy`` to fill in place (bounded memory for large arrays)."""
        arr = np.lib.format.open_memmap(self.path / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        self._maps.append(arr)
        return arr

    def new_rows(self, name: str, shape: tuple[int, int], dtype: Any) -> "RowFile":
        """A ``.npy`` filled by rows with positioned writes: written rows do not stay in this process's memory."""
        rows = RowFile(self.path / f"{name}.npy", shape, dtype)
        self._rows.append(rows)
        return rows

    def save_array(self, name: str, array: np.ndarray) -> None:
        np.save(self.path / f"{name}.npy", np.asarray(array), allow_pickle=False)

    def save_json(self, name: str, obj: Any) -> None:
        (self.path / f"{name}.json").write_text(json.dumps(obj, indent=1, default=_json_default))

    def save_table(self, name: str, table: "pd.DataFrame") -> None:
        """Write a DataFrame as ``<name>.parquet``."""
        table.to_parquet(self.path / f"{name}.parquet", index=False)

    def file(self, name: str) -> Path:
        """Path inside the entry for any other file (e.g. safetensors written by a library)."""
        return self.path / name

    def _finish(self) -> None:
        for arr in self._maps:
            arr.flush()
        self._maps.clear()
        for rows in self._rows:
            rows.close()
        self._rows.clear()
        meta = {
            "key": self.key,
            "kind": self.kind,
            "spec": self.spec,
            "summary": self.summary,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (self.path / META).write_text(json.dumps(meta, indent=1, default=_json_default))
        for p in self.path.iterdir():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


class RowFile:
    """A 2-D ``.npy`` file written row by row (``f[rows] = values``) with ``os.pwrite``.

    Unlike a writable memory map, rows already written are not counted in the writer's resident
    memory, so extracting a large corpus needs memory for one batch only.
    """

    def __init__(self, path: Path, shape: tuple[int, int], dtype: Any):
        self.shape, self.dtype = shape, np.dtype(dtype)
        header = np.lib.format.open_memmap(path, mode="w+", dtype=self.dtype, shape=shape)
        self.offset = header.offset
        del header
        self.row_bytes = shape[1] * self.dtype.itemsize
        self.fd = os.open(path, os.O_WRONLY)

    def __setitem__(self, rows: np.ndarray, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        for row, value in zip(np.asarray(rows).tolist(), values):
            os.pwrite(self.fd, value.tobytes(), self.offset + row * self.row_bytes)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class Store:
    """The content-addressed store rooted at ``root`` (default: :func:`analysis.config.store_dir`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = store_dir(root)
        self.entries = self.root / "entries"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"
        self.work = self.root / "work"
        self.downloads = self.root / "downloads"
        self._cleaned = False

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def _ensure(self) -> None:
        for d in (self.entries, self.tmp, self.locks):
            d.mkdir(parents=True, exist_ok=True)

    def generation(self) -> tuple[int, int]:
        """Changes whenever an entry lands or leaves (the entries folder's mtime and link count, one ``stat``):
        lets readers drop stale listings."""
        try:
            info = self.entries.stat()
        except FileNotFoundError:
            return (0, 0)
        return (info.st_mtime_ns, info.st_nlink)

    def has(self, key: str) -> bool:
        return (self.entries / check_key(key) / META).is_file()

    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or ``None`` if there is none; a malformed one is a :class:`StoreError`."""
        path = self.entries / check_key(key)
        if not (path / META).is_file():
            return None
        try:
            meta = json.loads((path / META).read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path / META}: unreadable store entry ({exc})") from exc
        problem = _meta_problem(meta, key)
        if problem:
            raise StoreError(f"{path / META}: unreadable store entry ({problem})")
        return Entry(key=key, path=path, meta=meta)

    def __getitem__(self, key: str) -> Entry:
        entry = self.get(key)
        if entry is None:
            raise StoreError(f"no entry {key!r} in store {self.root}")
        return entry

    def ls(self, kind: str | None = None) -> list[Entry]:
        """Every readable entry (optionally of one kind), oldest first; unreadable ones are skipped."""
        if not self.entries.is_dir():
            return []
        out = []
        for path in self.entries.iterdir():
            if kind is not None and not path.name.startswith(f"{kind}-"):
                continue
            try:
                entry = self.get(path.name)
            except StoreError:
                continue
            if entry is not None:
                out.append(entry)
        return sorted(out, key=lambda e: (e.meta.get("created", ""), e.key))

    def broken(self) -> list[Path]:
        """Entry folders whose metadata cannot be read."""
        if not self.entries.is_dir():
            return []
        bad = []
        for path in self.entries.iterdir():
            try:
                self.get(path.name)
            except StoreError:
                bad.append(path)
        return sorted(bad)

    def find(self, kind: str, **match: Any) -> list[Entry]:
        """Entries of ``kind`` whose spec has all the given key/value pairs."""
        return [e for e in self.ls(kind) if all(e.spec.get(k) == v for k, v in match.items())]

    @contextlib.contextmanager
    def create(self, kind: str, spec: dict[str, Any]) -> Iterator[EntryWriter]:
        """Write a new entry atomically.

        Yields an :class:`EntryWriter` on a private temporary folder.  On normal exit the
        metadata is written last and the folder is renamed to ``entries/<key>`` in one step; if
        another process finished the same key first, its entry is kept and ours discarded.  On
        an exception (SIGTERM included, where the entry point turns it into one) the temporary
        folder is removed and nothing is stored.  The folder's name says which process on which
        host writes it (:func:`writer_of`); the first entry a :class:`Store` creates first
        removes the leftovers of this host's dead writers (:meth:`clean_tmp`).
        """
        self._ensure()
        key = make_key(kind, spec)
        if not self._cleaned:
            self._cleaned = True
            self.clean_tmp()
        tmp = self.tmp / writing_name(key)
        tmp.mkdir()
        writer = EntryWriter(tmp, kind, key, spec)
        try:
            yield writer
            writer._finish()
            try:
                os.rename(tmp, self.entries / key)
            except OSError:
                if not self.has(key):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def delete(self, key: str) -> None:
        """Remove an entry; readers never see it half-deleted (it is renamed away first)."""
        path = self.entries / check_key(key)
        if not path.exists():
            raise StoreError(f"no entry {key!r} in store {self.root}")
        self._ensure()
        doomed = self.tmp / f"{DELETED}{key}.{uuid.uuid4().hex[:8]}"
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """An exclusive inter-process lock, so two processes do not compute the same thing at once.

        ``on_wait`` is called once, before blocking, when another holder has the lock, so a caller can
        say why it stands still.  The lock only saves duplicate work: where the filesystem cannot lock
        (``flock`` fails, as on some network filesystems, or locks only within one host), two writers
        of one key still leave one complete entry, because entries are renamed into place whole.
        """
        self._ensure()
        with open(self.locks / f"{name}.lock", "w") as f:
            locked = _flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if locked is None:  # held elsewhere
                if on_wait is not None:
                    on_wait()
                locked = bool(_flock(f, fcntl.LOCK_EX))
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def clean_tmp(self) -> int:
        """Remove what dead writers on this host left in ``tmp/`` (entry folders, small files such as the
        fingerprint memo's), and remains of deletions; returns how many.

        A folder written on another host (a shared store) or named in a form this version does not
        know is left alone: whether its writer still runs cannot be told from here.
        """
        if not self.tmp.is_dir():
            return 0
        removed = 0
        for path in self.tmp.iterdir():
            if path.name.startswith(DELETED):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            else:
                removed += remove_if_writer_dead(path)
        return removed

    def work_dir(self, name: str) -> Path:
        """A mutable scratch folder for resumable work (e.g. training checkpoints)."""
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def _flock(f: Any, operation: int) -> bool | None:
    """``flock(f, operation)``: True when taken, None when another holder has it (``LOCK_NB``), False
    when this filesystem cannot lock."""
    try:
        fcntl.flock(f, operation)
    except BlockingIOError:
        return None
    except OSError:
        return False
    return True


def _meta_problem(meta: Any, key: str) -> str | None:
    """What makes ``meta`` (a parsed ``meta.json``) unusable for entry ``key``, or ``None``."""
    if not isinstance(meta, dict):
        return f"metadata is a JSON {type(meta).__name__}, not an object"
    if not isinstance(meta.get("kind"), str) or not isinstance(meta.get("spec"), dict):
        return "metadata lacks its kind or spec"
    if not isinstance(meta.get("summary", {}), dict):
        return "its summary is not an object"
    if meta["kind"] in ("embed", "snapshot"):
        wrong = [k for k, t in REPRESENTATION_SUMMARY.items() if not isinstance(meta.get("summary", {}).get(k), t)]
        if wrong:
            return f"its summary lacks {', '.join(wrong)} (or holds the wrong type)"
    if meta.get("key", key) != key or not key.startswith(f"{meta['kind']}-"):
        return f"metadata names another entry ({meta.get('key')!r}, kind {meta['kind']!r})"
    return None


def _safe_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", host)


def writing_name(name: str) -> str:
    """A unique name under which this process writes ``name`` before renaming it into place; it
    says which process on which host writes (:func:`writer_of`), so leftovers can be told apart."""
    me = ProcessId.current()
    return f"{name}.{me.pid}.{me.started}.{uuid.uuid4().hex[:8]}@{_safe_host(me.host)}"


def writer_of(name: str) -> ProcessId | None:
    """The process writing under ``name`` (made by :func:`writing_name`), or ``None`` if the name does not say."""
    match = WRITING.fullmatch(name)
    if match is None:
        return None
    host = socket.gethostname() if match["host"] == _safe_host(socket.gethostname()) else match["host"]
    return ProcessId(int(match["pid"]), host, int(match["started"]))


def remove_if_writer_dead(path: Path) -> bool:
    """Remove ``path`` (a file or folder named by :func:`writing_name`) if its writer ran on this host
    and no longer runs; whether it was removed.  Another host's, or a name that does not say, stays."""
    writer = writer_of(path.name)
    if writer is None or writer.alive() is not False:
        return False
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return True


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
