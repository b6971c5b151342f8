"""Training inputs: the extraction plan grouped by sentence, each epoch's batches, down-sampling.

Training tokenises, windows and pools targets with the same plan as representation
extraction (:func:`analysis.embed.plan_inputs`), so a trained head sees a target exactly as
a snapshot stores it.  A batch is ``batch_size`` sentences with all their targets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..embed import Plan, plan_inputs
from ..tasks.base import TaskData


@dataclass
class Inputs:
    """A split ready for training: per sentence (in plan order) its sequences, targets and tokens."""

    data: TaskData
    plan: Plan
    sequences: list[list[int]]
    targets: list[list[int]]
    tokens: list[int]

    @property
    def n_sentences(self) -> int:
        return len(self.sequences)


def prepare(tokenizer: Any, data: TaskData, max_len: int) -> Inputs:
    """Plan ``data``'s model inputs and group sequences and targets by sentence."""
    plan = plan_inputs(tokenizer, data, max_len)
    row: dict[int, int] = {}
    sequences: list[list[int]] = []
    for index, seq in enumerate(plan.sequences):
        if seq.sentence not in row:
            row[seq.sentence] = len(sequences)
            sequences.append([])
        sequences[row[seq.sentence]].append(index)
    targets: list[list[int]] = [[] for _ in sequences]
    for target, sentence in enumerate(data.target_sentence.tolist()):
        targets[row[sentence]].append(target)
    tokens = [sum(len(plan.sequences[i].ids) for i in seqs) for seqs in sequences]
    return Inputs(data, plan, sequences, targets, tokens)


def epoch_batches(inputs: Inputs, batch_size: int, seed: int, epoch: int, batching: str) -> list[list[int]]:
    """The sentence batches of one epoch, a pure function of (seed, epoch) so a resumed run replays them.

    ``random``: a shuffled order cut into batches.  ``length``: the shuffled order cut into
    groups of 50 batches, each group sorted by length before cutting (less padding, as in
    Hugging Face's ``group_by_length``), then the batches shuffled.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(inputs.n_sentences, generator=generator).tolist()
    if batching == "random":
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    group = 50 * batch_size
    out: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda s: -inputs.tokens[s])
        out.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(out), generator=generator).tolist()
    return [out[i] for i in shuffle]


def updates_per_epoch(inputs: Inputs, batch_size: int) -> int:
    return -(-inputs.n_sentences // batch_size)


def downsample(data: TaskData, size: int, seed: int) -> tuple[TaskData, np.ndarray]:
    """``size`` targets drawn without replacement with ``seed`` (the same draw for the same seed).

    Returns the subset, its sentences re-indexed, and the chosen target indices (sorted).
    """
    if size > data.n_targets:
        raise ValueError(f"--train-size {size} exceeds the {data.n_targets} training targets of "
                         f"{data.task}/{data.split}")
    chosen = np.sort(np.random.default_rng(seed).choice(data.n_targets, size=size, replace=False))
    return subset(data, chosen), chosen


def subset(data: TaskData, indices: np.ndarray) -> TaskData:
    """The targets ``indices`` of ``data`` with only their sentences kept."""
    sentences = data.target_sentence[indices]
    kept = np.unique(sentences)
    new_index = {int(old): new for new, old in enumerate(kept)}
    return TaskData(
        task=data.task, split=data.split, kind=data.kind,
        sentences=[data.sentences[i] for i in kept],
        target_sentence=[new_index[int(s)] for s in sentences],
        target_words=[data.target_words[i] for i in indices],
        labels=data.labels[indices], label_names=data.label_names, files=data.files,
        options=data.options, skipped=data.skipped,
    )


def eval_batches(inputs: Inputs, batch_tokens: int) -> list[list[int]]:
    """Sentences sorted by length and grouped into batches of at most ``batch_tokens`` padded tokens."""
    order = sorted(range(inputs.n_sentences), key=lambda s: (inputs.tokens[s], s))
    out: list[list[int]] = []
    current: list[int] = []
    widest = 0
    for s in order:
        width = max(len(inputs.plan.sequences[q].ids) for q in inputs.sequences[s])
        rows = sum(len(inputs.sequences[t]) for t in current) + len(inputs.sequences[s])
        if current and rows * max(widest, width) > batch_tokens:
            out.append(current)
            current, widest = [], 0
        current.append(s)
        widest = max(widest, width)
    if current:
        out.append(current)
    return out


def gather(inputs: Inputs, sentences: list[int]) -> tuple[list[int], list[int]]:
    """The plan sequences and the (sorted) targets of the given sentences."""
    seqs = [q for s in sentences for q in inputs.sequences[s]]
    targets = sorted(t for s in sentences for t in inputs.targets[s])
    return seqs, targets
