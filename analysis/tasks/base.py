"""The common shape of every task: sentences as word lists, targets, integer labels, inventory."""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..config import DATA_DIR_ENV, DATA_ROOTS_ENV, STORE_ENV, given_roots, within_roots

TargetKind = Literal["word", "pair", "sentence"]


class DataError(ValueError):
    """Bad input data: the message names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


def shown(path: str | Path, text: object, limit: int = 60) -> str:
    """``text`` quoted for an error message about ``path``: only a file within the data roots has
    its content quoted, so that no message repeats an arbitrary file's content."""
    settings = (*(os.environ.get(env) for env in (DATA_ROOTS_ENV, DATA_DIR_ENV, STORE_ENV)), *map(str, given_roots()))
    if _quotable(str(path), settings):
        quoted = repr(text[:limit] if isinstance(text, str) else text)
        return quoted if len(quoted) <= limit + 2 else quoted[:limit] + "..."
    return f"(not shown: the file is outside the data roots, see ${DATA_ROOTS_ENV})"


@functools.lru_cache(maxsize=64)
def _quotable(path: str, settings: tuple[str | None, ...]) -> bool:
    """:func:`within_roots`, once per file and setting of the roots (a bad file may have many defects)."""
    return within_roots(path)


@dataclass(frozen=True)
class Skipped:
    """One target (or line) left out of a task, and why."""

    path: str
    line: int
    reason: str


@dataclass
class TaskData:
    """One split of one task.

    ``target_words[i]`` are word indices (0-based) in sentence ``target_sentence[i]``:
    a word target lists one or more words (a multi-word expression is the mean over all their
    subwords), a pair target is ``(head, dependent)``, a sentence target is ``()``.
    """

    task: str
    split: str
    kind: TargetKind
    sentences: list[list[str]]
    target_sentence: np.ndarray
    target_words: list[tuple[int, ...]]
    labels: np.ndarray
    label_names: list[str]
    files: list[Path]
    options: dict = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.target_sentence = np.asarray(self.target_sentence, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if not (len(self.target_sentence) == len(self.target_words) == len(self.labels)):
            raise ValueError("target_sentence, target_words and labels must have the same length")

    @property
    def n_targets(self) -> int:
        return len(self.labels)

    @property
    def n_words(self) -> int:
        return sum(len(s) for s in self.sentences)

    def label_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def target_text(self, i: int) -> str:
        """The target word(s) of target ``i`` (for hover text and reports)."""
        words = self.sentences[self.target_sentence[i]]
        idx = self.target_words[i]
        return " ".join(words[j] for j in idx) if idx else " ".join(words)

    def fingerprint(self) -> str:
        """A hash of the parsed content (sentences, targets, labels, inventory)."""
        h = hashlib.sha256()
        for s in self.sentences:
            h.update("\x1f".join(s).encode())
            h.update(b"\x1e")
        h.update(self.target_sentence.tobytes())
        h.update(repr(self.target_words).encode())
        h.update(self.labels.tobytes())
        h.update("\x1f".join(self.label_names).encode())
        return h.hexdigest()
