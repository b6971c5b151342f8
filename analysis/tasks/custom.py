"""User-supplied word-, pair- or sentence-level tasks in JSONL or CSV (format: docs/tasks.md).

JSONL: one sentence per line, ``{"words": [...], "targets": [{"words": [i, ...], "label": "X"}]}``.
CSV: one target per row with columns ``sentence`` (an id), ``words`` (space-separated),
``target`` (space-separated 0-based word indices, empty for the whole sentence) and ``label``.
The kind and the label inventory are taken from the options or inferred from the train file.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .base import DataError, TargetKind, shown
from .builder import Builder
from .textfile import read_lines

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
CSV_COLUMNS = ("sentence", "words", "target", "label")
KINDS: tuple[TargetKind, ...] = ("word", "pair", "sentence")

Report = Callable[[Path, int, str], None]


@dataclass
class Target:
    words: tuple[int, ...]
    label: str
    line: int


@dataclass
class Record:
    """One sentence and its targets as read from a file."""

    words: list[str]
    targets: list[Target]
    line: int


def file_format(path: Path, declared: str | None) -> str:
    """``csv`` or ``jsonl``: the declared format, else the one the file name's suffix implies."""
    if declared is not None:
        return declared
    if (fmt := FORMATS.get(path.suffix.lower())) is None:
        raise ValueError(f"custom task: cannot tell the format of {path} from its suffix; "
                         f"give options['format'] = 'csv' or 'jsonl'")
    return fmt


def read(path: Path, fmt: str, report: Report) -> list[Record]:
    """The sentences of a custom-task file; bad lines and targets go to ``report``."""
    return _read_csv(path, report) if fmt == "csv" else _read_jsonl(path, report)


def _read_jsonl(path: Path, report: Report) -> list[Record]:
    records = []
    for n, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report(path, n, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            report(path, n, "invalid JSON: nested too deeply")
            continue
        except ValueError:  # e.g. an integer beyond Python's digit limit
            report(path, n, "invalid JSON: a value cannot be read")
            continue
        words = obj.get("words") if isinstance(obj, dict) else None
        targets = obj.get("targets") if isinstance(obj, dict) else None
        if not (isinstance(words, list) and words and all(isinstance(w, str) and w for w in words)):
            report(path, n, "'words' must be a non-empty list of non-empty strings")
            continue
        if not isinstance(targets, list):
            report(path, n, "'targets' must be a list")
            continue
        record = Record(words, [], n)
        for t in targets:
            ok = (isinstance(t, dict) and isinstance(t.get("words"), list)
                  and all(type(i) is int for i in t["words"])
                  and isinstance(t.get("label"), str) and t["label"].strip())
            if not ok:
                report(path, n, f"malformed target {shown(path, t)}: needs 'words' (a list of 0-based word "
                                f"indices) and 'label' (a non-empty string)")
                continue
            record.targets.append(Target(tuple(t["words"]), t["label"].strip(), n))
        records.append(record)
    return records


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str], str | None]]:
    """The CSV file's rows, each with the line it starts on and what is wrong with it (or ``None``).

    A quote left open swallows the lines after it into one value, so such a row names the line
    its quote opened on: as a :class:`DataError` if the quote is never closed.
    """
    lines = read_lines(path)
    reader = csv.reader(line + "\n" for line in lines)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(path, start, f"unreadable CSV: {exc}") from exc
        end = reader.line_num
        if end > start or any("\n" in value or "\r" in value for value in row):
            problem = (f"a quoted value opened on line {start} runs on to line {end}; values may not "
                       f"contain line breaks (an unclosed quote?)")
            if sum(line.count('"') for line in lines[start - 1:end]) % 2:  # never closed
                raise DataError(path, start, f"{problem}; it swallows the rest of the file")
            yield start, row, problem
        elif row:
            yield start, row, None


def _read_csv(path: Path, report: Report) -> list[Record]:
    rows = _csv_rows(path)
    n, header, problem = next(rows, (1, [], None))
    if problem:
        raise DataError(path, n, problem)
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise DataError(path, n, f"the CSV header lacks column(s) {', '.join(missing)}; "
                                 f"it needs {', '.join(CSV_COLUMNS)}")
    column = {name: header.index(name) for name in CSV_COLUMNS}
    by_id: dict[str, Record] = {}
    for n, values, problem in rows:
        if problem:
            report(path, n, problem)
            continue
        if len(values) > len(header):
            report(path, n, "more values than header columns")
            continue
        row = {name: values[i].strip() if i < len(values) else "" for name, i in column.items()}
        sentence, words, label = row["sentence"], row["words"].split(), row["label"]
        if not (sentence and words and label):
            report(path, n, "empty sentence id, words or label")
            continue
        try:
            target = tuple(int(i) for i in row["target"].split())
        except ValueError:
            report(path, n, f"target {shown(path, row['target'])} must be 0-based word indices "
                            f"separated by spaces")
            continue
        record = by_id.setdefault(sentence, Record(words, [], n))
        if record.words != words:
            report(path, n, f"sentence {shown(path, sentence)} has other words than on line {record.line}")
            continue
        record.targets.append(Target(target, label, n))
    return list(by_id.values())


def infer_kind(path: Path, records: list[Record]) -> TargetKind:
    """``sentence`` if no target names words, ``word`` if all do; pairs must be declared."""
    targets = [t for r in records for t in r.targets]
    if not targets:
        raise DataError(path, None, "no targets to infer the task kind from")
    whole = [t for t in targets if not t.words]
    if whole and len(whole) < len(targets):
        odd = next(t for t in targets if bool(t.words) != bool(targets[0].words))
        raise DataError(path, odd.line, "mixes whole-sentence targets (no word indices) with word "
                                        "targets; declare options['kind']")
    return "sentence" if whole else "word"


def infer_labels(records: list[Record]) -> list[str]:
    """The sorted set of labels in the (training) records."""
    return sorted({t.label for r in records for t in r.targets})


def read_labels(path: Path) -> list[str]:
    """A labels file: one label per line, blank lines ignored, no duplicates."""
    labels: list[str] = []
    for n, line in enumerate(read_lines(path), start=1):
        if not (label := line.strip()):
            continue
        if label in labels:
            raise DataError(path, n, f"duplicate label {shown(path, label)}")
        labels.append(label)
    return labels


def build(path: Path, fmt: str, kind: TargetKind, builder: Builder) -> None:
    """Add every sentence of a custom-task file and its well-formed targets."""
    for record in read(path, fmt, builder.defect):
        s = builder.sentence(record.words)
        for t in record.targets:
            if problem := _problem(t.words, kind, len(record.words)):
                builder.defect(path, t.line, problem)
            else:
                builder.target(s, t.words, t.label, path, t.line)


def _problem(words: tuple[int, ...], kind: TargetKind, n: int) -> str | None:
    if any(not 0 <= i < n for i in words):
        return f"word index out of range in {list(words)} (the sentence has words 0-{n - 1})"
    if len(set(words)) != len(words):
        return f"repeated word index in {list(words)}"
    if kind == "sentence" and words:
        return f"a sentence task's target names no words, got {list(words)}"
    if kind == "word" and not words:
        return "a word task's target needs at least one word index"
    if kind == "pair" and len(words) != 2:
        return f"a pair task's target is (head, dependent), got {list(words)}"
    return None
