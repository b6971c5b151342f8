"""Assembles one split of a task: sentences, targets and label ids, with every skip recorded.

Loaders report two kinds of leave-outs: ``skip`` for targets left out by design (a root has no
head word, a STREUSLE target labelled ``??``) and ``defect`` for bad data (a malformed line, an
unknown label), which raises :class:`DataError` when the task runs with ``strict=True``.
"""
from __future__ import annotations

from pathlib import Path

from .base import DataError, Skipped, TargetKind, TaskData, shown


class Builder:
    """Collects sentences and targets of one split and turns them into a :class:`TaskData`."""

    def __init__(self, task: str, split: str, kind: TargetKind, label_names: list[str], *,
                 strict: bool = False):
        self.task, self.split, self.kind, self.strict = task, split, kind, strict
        self.label_names = list(label_names)
        self._ids = {name: i for i, name in enumerate(self.label_names)}
        self.sentences: list[list[str]] = []
        self._sent: list[int] = []
        self._words: list[tuple[int, ...]] = []
        self._labels: list[int] = []
        self.skipped: list[Skipped] = []

    def sentence(self, words: list[str]) -> int:
        """Add a sentence; returns its index for :meth:`target`."""
        self.sentences.append(list(words))
        return len(self.sentences) - 1

    def target(self, sentence: int, words: tuple[int, ...], label: str, path: str | Path,
               line: int) -> None:
        """Add a target, or record a defect if ``label`` is not in the task's inventory."""
        label_id = self._ids.get(label)
        if label_id is None:
            self.defect(path, line, f"unknown label {shown(path, label)} (not in the {self.task} label inventory)")
            return
        self._sent.append(sentence)
        self._words.append(tuple(words))
        self._labels.append(label_id)

    def skip(self, path: str | Path, line: int, reason: str) -> None:
        """Record a target left out by design."""
        self.skipped.append(Skipped(str(path), line, reason))

    def defect(self, path: str | Path, line: int, problem: str) -> None:
        """Record bad data (skipped), or raise it as a :class:`DataError` in strict mode."""
        if self.strict:
            raise DataError(path, line, problem)
        self.skipped.append(Skipped(str(path), line, problem))

    def finish(self, files: list[Path], options: dict) -> TaskData:
        """The split, keeping only sentences that have at least one target."""
        if not self._labels:
            first = f"; first skipped: {self.skipped[0].reason}" if self.skipped else ""
            raise DataError(files[0], None, f"no usable {self.task} targets "
                                            f"({len(self.skipped)} skipped{first})")
        kept = sorted(set(self._sent))
        new_index = {old: new for new, old in enumerate(kept)}
        return TaskData(
            task=self.task, split=self.split, kind=self.kind,
            sentences=[self.sentences[i] for i in kept],
            target_sentence=[new_index[i] for i in self._sent],
            target_words=self._words, labels=self._labels, label_names=self.label_names,
            files=list(files), options=options, skipped=self.skipped,
        )
