"""The probing tasks: every corpus loaded into one shape, :class:`TaskData` (see docs/tasks.md).

``load_task(name, split)`` reads a split; ``task_files`` names the files it reads (to key stored
results by their checksums); ``label_inventory`` and ``task_kind`` describe a task without
reading its data (except a custom task that infers them from its train file).  Files named in
the ``files`` and ``labels`` options must lie within :func:`analysis.config.data_roots`.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import DATA_ROOTS_ENV, data_roots, within_roots
from ..store import Store
from . import custom, streusle, trec, ud
from .base import DataError, TargetKind, TaskData
from .builder import Builder
from .sources import DataDir, find, locate

TASKS: tuple[str, ...] = ("pos", "dep", "ps-fxn", "ps-role", "trec-50", "trec-6", "custom")
SPLITS: tuple[str, ...] = ("train", "dev", "test")

_KINDS: dict[str, TargetKind] = {"pos": "word", "dep": "pair", "ps-fxn": "word", "ps-role": "word",
                                 "trec-50": "sentence", "trec-6": "sentence"}
_OPTIONS = {"pos": {"treebank", "files", "strict"},
            "dep": {"treebank", "files", "subtypes", "strict"},
            "ps-fxn": {"files", "strict"}, "ps-role": {"files", "strict"},
            "trec-50": {"files", "strict"}, "trec-6": {"files", "strict"},
            "custom": {"files", "format", "kind", "labels", "strict"}}
_STREUSLE = "streusle/streusle.ud_{split}.json"
_TREC = {"train": "trec/train_5500.label", "test": "trec/TREC_10.label"}


def task_splits(name: str, options: dict | None = None) -> list[str]:
    """The splits ``name`` has under ``options`` (``train``, ``dev``, ``test``, in that order)."""
    opts = _normalise(name, options)
    if "files" in opts:
        return [s for s in SPLITS if s in opts["files"]]
    return ["train", "test"] if name.startswith("trec") else list(SPLITS)


def task_kind(name: str, options: dict | None = None) -> TargetKind:
    """``word``, ``pair`` or ``sentence``: what a target of ``name`` is."""
    opts = _normalise(name, options)
    return _custom_schema(opts)[0] if name == "custom" else _KINDS[name]


def label_inventory(name: str, options: dict | None = None) -> list[str]:
    """The fixed label names of ``name`` (label id ``i`` is ``label_inventory(...)[i]``)."""
    opts = _normalise(name, options)
    if name == "pos":
        return list(ud.UPOS)
    if name == "dep":
        return ud.dep_labels(opts["subtypes"])
    if name in streusle.FIELDS:
        return list(streusle.SNACS)
    if name.startswith("trec"):
        return list(trec.FINE if name == "trec-50" else trec.COARSE)
    return _custom_schema(opts)[1]


def task_files(name: str, split: str, *, data_dir: DataDir = None, options: dict | None = None,
               store: Store | None = None) -> list[Path]:
    """The files that determine ``load_task(name, split, ...)``, fetching pinned releases if absent.

    The first file is the one the split's targets come from.
    """
    opts = _normalise(name, options)
    if split not in task_splits(name, opts):
        raise ValueError(f"task {name!r} has splits {', '.join(task_splits(name, opts))}; "
                         f"got {split!r}")
    if "files" in opts:
        files = [Path(opts["files"][split])]
        if name == "custom":
            files += [p for p in _custom_sources(opts) if p not in files]
        for path in files:
            if not path.is_file():
                raise DataError(path, None, "no such file" if not path.exists() else "not a file")
        return files
    if name in ("pos", "dep"):
        return [locate(ud.TREEBANKS[opts["treebank"]].format(split=split), data_dir, store)]
    if name.startswith("trec"):
        return [locate(_TREC[split], data_dir, store)]
    if split == "train" and find(_STREUSLE.format(split="train"), data_dir, store) is None:
        split = "dev"
    return [locate(_STREUSLE.format(split=split), data_dir, store)]


def load_task(name: str, split: str, *, data_dir: DataDir = None, options: dict | None = None,
              store: Store | None = None) -> TaskData:
    """One split of one task, validated; what was left out is in ``TaskData.skipped``."""
    opts = _normalise(name, options)
    files = task_files(name, split, data_dir=data_dir, options=opts, store=store)
    if name == "custom":
        opts["kind"], labels = _custom_schema(opts)
    else:
        labels = label_inventory(name, opts)
    kind = opts["kind"] if name == "custom" else _KINDS[name]
    builder = Builder(name, split, kind, labels, strict=opts["strict"])
    path = files[0]
    if name == "pos":
        ud.build_pos(path, builder)
    elif name == "dep":
        ud.build_dep(path, builder, opts["subtypes"])
    elif name in streusle.FIELDS:
        streusle.build(path, builder, streusle.FIELDS[name])
    elif name.startswith("trec"):
        trec.build(path, builder, fine=name == "trec-50")
    else:
        custom.build(path, custom.file_format(path, opts["format"]), kind, builder)
    return builder.finish(files, opts)


def _normalise(name: str, options: dict | None) -> dict:
    """Checked options with defaults filled in: what ``TaskData.options`` records."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks are {', '.join(TASKS)}")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"task options must be a mapping of option names to values, not {type(options).__name__}")
    options = dict(options or {})
    if unknown := sorted(set(options) - _OPTIONS[name]):
        raise ValueError(f"task {name!r} has no option(s) {', '.join(unknown)}; "
                         f"its options are {', '.join(sorted(_OPTIONS[name]))}")
    opts: dict = {"strict": _flag(options, "strict")}
    if "files" in options:
        opts["files"] = _files(options["files"])
    elif name == "custom":
        raise ValueError("task 'custom' needs options['files'] = {split: path, ...}")
    if name in ("pos", "dep") and "files" not in opts:
        opts["treebank"] = options.get("treebank", "partut")
        if not isinstance(opts["treebank"], str) or opts["treebank"] not in ud.TREEBANKS:
            raise ValueError(f"treebank must be one of {', '.join(ud.TREEBANKS)}, "
                             f"not {opts['treebank']!r}")
    elif "treebank" in options:
        raise ValueError("give either options['treebank'] or options['files'], not both")
    if name == "dep":
        opts["subtypes"] = _flag(options, "subtypes")
    if name == "custom":
        opts["format"] = options.get("format")
        opts["kind"] = options.get("kind")
        opts["labels"] = options.get("labels")
        if not isinstance(opts["format"], (str, type(None))) or opts["format"] not in (None, "csv", "jsonl"):
            raise ValueError(f"format must be 'csv' or 'jsonl', not {opts['format']!r}")
        if not isinstance(opts["kind"], (str, type(None))) or opts["kind"] not in (None, *custom.KINDS):
            raise ValueError(f"kind must be one of {', '.join(custom.KINDS)}, not {opts['kind']!r}")
        opts["labels"] = _labels_option(opts["labels"])
        if opts["labels"] is None and "train" not in opts["files"]:
            raise ValueError("task 'custom' needs options['labels'] or a 'train' file to take "
                             "the label inventory from")
    return opts


def _flag(options: dict, key: str) -> bool:
    value = options.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"option {key!r} must be true or false, not {value!r}")
    return value


def _files(files: object) -> dict[str, str]:
    if not isinstance(files, dict) or not files:
        raise ValueError("options['files'] must map split names to file paths")
    if bad := sorted(set(map(str, files)) - set(SPLITS)):
        raise ValueError(f"split names must be {', '.join(SPLITS)}; got {', '.join(bad)}")
    return {split: _allowed_path(path, f"options['files'][{split!r}]") for split, path in files.items()}


def _labels_option(labels: object) -> list[str] | str | None:
    if labels is None:
        return None
    if isinstance(labels, (list, tuple)):
        if not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in labels):
            raise ValueError("options['labels'] must list label names (strings)")
        names = [str(x).strip() for x in labels]
        if not names or not all(names) or len(set(names)) != len(names):
            raise ValueError("options['labels'] must list distinct, non-empty label names")
        return names
    return _allowed_path(labels, "options['labels']")


def _allowed_path(path: object, option: str) -> str:
    """``path`` made absolute, if it is a path within the data roots (see :func:`data_roots`)."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        raise ValueError(f"{option} must be a file path (a non-empty string), not {path!r}")
    try:
        resolved = Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # an unknown ~user, a loop of links
        raise ValueError(f"{option} = {path!r} cannot be resolved to a file ({exc})") from exc
    if not within_roots(resolved):
        roots = ", ".join(map(str, data_roots()))
        raise ValueError(f"{option} = {resolved} lies outside the data roots ({roots}); move the file "
                         f"into one of them or add its folder to ${DATA_ROOTS_ENV} "
                         f"({os.pathsep}-separated)")
    return str(resolved)


def _custom_reference(opts: dict) -> Path:
    """The custom task's train file (else its first split's): where the kind is inferred from."""
    files = opts["files"]
    return Path(files["train"] if "train" in files else files[next(s for s in SPLITS if s in files)])


def _custom_sources(opts: dict) -> list[Path]:
    """The files besides a split's own that its kind and labels come from."""
    sources = []
    if opts["kind"] is None or opts["labels"] is None:
        sources.append(_custom_reference(opts))
    if isinstance(opts["labels"], str):
        sources.append(Path(opts["labels"]))
    return sources


def _custom_schema(opts: dict) -> tuple[TargetKind, list[str]]:
    """A custom task's kind and label inventory: declared, else inferred from its train file."""
    kind, labels = opts["kind"], opts["labels"]
    if isinstance(labels, str):
        labels = custom.read_labels(Path(labels))
    if kind is None or labels is None:
        reference = _custom_reference(opts)
        report = _raise if opts["strict"] else _ignore
        records = custom.read(reference, custom.file_format(reference, opts["format"]), report)
        kind = kind or custom.infer_kind(reference, records)
        if labels is None:
            labels = custom.infer_labels(records)
    if not labels:
        raise DataError(_custom_reference(opts), None, "no labels to build the inventory from")
    return kind, list(labels)


def _raise(path: Path, line: int, problem: str) -> None:
    raise DataError(path, line, problem)


def _ignore(path: Path, line: int, problem: str) -> None:
    """Defects met while inferring a schema are reported when their own split is loaded."""
