"""Every layer's representation of every labelled target, computed once and kept in the store.

A word target is the mean of its subword vectors (over all words of a multi-word target), a
pair target the concatenation [head; dependent], a sentence target the first token (``[CLS]``)
of each layer.  Layer 0 is the embedding output.  Sentences longer than the model's window
are split into overlapping windows and each subword takes its vector from the window where it
is farthest from an edge, so no word is dropped or misaligned.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .limits import ensure_space, representation_bytes
from .models import ModelRef, load_model, resolve_device, resolve_model
from .store import Entry, EntryWriter, Store, make_key, sha256_file
from .tasks import load_task, task_files
from .tasks.base import TaskData

EMBED_VERSION = "embed-1"
"""Bump when the way representations are computed changes (it is part of every key)."""

DTYPES = {"float32": np.float32, "float16": np.float16}

BATCH_TOKENS = 2048
"""Default cap on padded tokens per batch (see :func:`batches`)."""

Progress = Callable[[int, int], None]
"""A progress callback: ``(targets_done, targets_total)``."""


def layer_name(layer: int) -> str:
    return f"layer_{layer:02d}"


@dataclass
class Sequence:
    """One model input: a sentence, or one window of a long sentence."""

    sentence: int
    ids: list[int]


@dataclass
class Plan:
    """Model inputs and, per target part, the (sequence, position) of each of its subwords."""

    sequences: list[Sequence]
    parts: list[list[tuple[int, int]]]
    parts_per_target: int
    n_windowed: int
    n_unknown_words: int


def plan_inputs(tokenizer: Any, data: TaskData, max_len: int) -> Plan:
    """Tokenise the sentences that hold targets and map every target to its subword positions."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ValueError("the tokenizer needs a CLS and a SEP token (BERT-family encoders)")
    limit = max_len - 2
    needed = sorted(set(data.target_sentence.tolist()))
    words_by_sentence = [data.sentences[i] for i in needed]
    enc = tokenizer(words_by_sentence, is_split_into_words=True, add_special_tokens=False)
    unk = 0
    seq_of: dict[int, list[tuple[int, int]]] = {}  # sentence -> per subword: (sequence, position)
    first_seq: dict[int, int] = {}
    word_spans: dict[int, list[list[int]]] = {}
    sequences: list[Sequence] = []
    n_windowed = 0
    for row, sent in enumerate(needed):
        ids = list(enc["input_ids"][row])
        word_ids = enc.word_ids(row)
        spans: list[list[int]] = [[] for _ in data.sentences[sent]]
        for pos, w in enumerate(word_ids):
            if w is not None:
                spans[w].append(pos)
        for w, span in enumerate(spans):  # words the tokenizer drops (e.g. control characters)
            if not span:
                unk += 1
        if any(not s for s in spans):
            ids, spans = _with_unknowns(tokenizer, data.sentences[sent])
        word_spans[sent] = spans
        starts = _window_starts(len(ids), limit)
        n_windowed += len(starts) > 1
        first_seq[sent] = len(sequences)
        for start in starts:
            sequences.append(Sequence(sent, [cls_id, *ids[start:start + limit], sep_id]))
        seq_of[sent] = [_best_window(pos, starts, limit, first_seq[sent]) for pos in range(len(ids))]

    parts: list[list[tuple[int, int]]] = []
    parts_per_target = {"word": 1, "pair": 2, "sentence": 1}[data.kind]
    for sent, words in zip(data.target_sentence.tolist(), data.target_words):
        if data.kind == "sentence":
            parts.append([(first_seq[sent], 0)])
            continue
        groups = [words] if data.kind == "word" else [(words[0],), (words[1],)]
        for group in groups:
            parts.append([seq_of[sent][p] for w in group for p in word_spans[sent][w]])
    return Plan(sequences, parts, parts_per_target, n_windowed, unk)


def _with_unknowns(tokenizer: Any, words: list[str]) -> tuple[list[int], list[list[int]]]:
    """Re-tokenise a sentence word by word, giving a word with no subwords the unknown token."""
    ids: list[int] = []
    spans: list[list[int]] = []
    for word in words:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id]
        spans.append(list(range(len(ids), len(ids) + len(pieces))))
        ids.extend(pieces)
    return ids, spans


def _window_starts(n: int, limit: int) -> list[int]:
    """Start offsets of overlapping windows (half-window stride) covering ``n`` subwords."""
    if n <= limit:
        return [0]
    stride = max(1, limit // 2)
    starts = list(range(0, n - limit, stride))
    return starts + [n - limit]


def _best_window(pos: int, starts: list[int], limit: int, base: int) -> tuple[int, int]:
    """The window where subword ``pos`` is farthest from an edge, and its position there (+1 for CLS)."""
    best = max(range(len(starts)), key=lambda k: (min(pos - starts[k], starts[k] + limit - 1 - pos)
                                                  if starts[k] <= pos < starts[k] + limit else -1, -k))
    return base + best, pos - starts[best] + 1


def batches(plan: Plan, batch_tokens: int, max_padding: float = 0.1) -> list[list[int]]:
    """Sentences grouped, by length, into batches of at most ``batch_tokens`` padded tokens.

    A batch is also closed before its padding would exceed ``max_padding`` of its real tokens.
    All windows of one sentence go in the same batch, so every target is complete in one batch.
    """
    by_sentence: dict[int, list[int]] = {}
    for i, seq in enumerate(plan.sequences):
        by_sentence.setdefault(seq.sentence, []).append(i)
    lengths = [len(s.ids) for s in plan.sequences]
    groups = sorted(by_sentence.values(), key=lambda g: (max(lengths[i] for i in g), g[0]))
    out: list[list[int]] = []
    current: list[int] = []
    real = 0
    for group in groups:
        longest = max(lengths[i] for i in group)
        group_real = sum(lengths[i] for i in group)
        padded = (len(current) + len(group)) * longest
        if current and (padded > batch_tokens or padded > (1 + max_padding) * (real + group_real)):
            out.append(current)
            current, real = [], 0
        current.extend(group)
        real += group_real
    if current:
        out.append(current)
    return out


def batch_tensors(plan: Plan, seqs: list[int], pad_id: int) -> tuple[Any, Any]:
    """Padded ``input_ids`` and ``attention_mask`` tensors for the given plan sequences."""
    import torch

    width = max(len(plan.sequences[i].ids) for i in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, i in enumerate(seqs):
        seq = plan.sequences[i].ids
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    return ids, mask


def extract(model: Any, tokenizer: Any, data: TaskData, outputs: list[np.ndarray], *,
            batch_tokens: int = BATCH_TOKENS, workers: int | None = None,
            progress: Progress | None = None) -> dict[str, int]:
    """Run the encoder over ``data`` and write each layer's target vectors into ``outputs[layer]``.

    ``outputs`` are (n_targets × dim) arrays or store row files that accept ``out[rows] = values``;
    with row files memory stays bounded by ``workers`` batches whatever the corpus size.

    On CPU, ``workers`` threads (default: torch's thread count, i.e. all cores) each run whole
    batches with one intra-op thread, instead of all threads splitting every operation of one
    batch.  MiniLM-sized operations are too small to split well: each split op ends in a barrier,
    and on a busy machine one preempted thread stalls the other for a whole time slice (an
    element-wise op on 2 threads then takes 10 ms instead of 0.03 ms).  Whole batches per thread
    need no barriers, and every batch's result is the same whichever thread computes it.
    (Concurrent forward passes are safe: transformers collects hidden states per thread.)
    """
    import torch

    max_len = min(int(getattr(model.config, "max_position_embeddings", 512)), 512)
    plan = plan_inputs(tokenizer, data, max_len)
    parts_of_seq = _targets_by_sequence(plan)
    pad_id = tokenizer.pad_token_id or 0
    device = next(model.parameters()).device
    if workers is None:
        workers = torch.get_num_threads() if device.type == "cpu" else 1

    def run(batch: list[int]) -> int:
        """Encode one batch and write its targets' rows; the number of targets written."""
        ids, mask = batch_tensors(plan, batch, pad_id)
        with torch.inference_mode():  # grad mode is per thread
            hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           output_hidden_states=True).hidden_states
            targets = sorted({t for i in batch for t in parts_of_seq.get(i, ())})
            pooling = Pooling.build(plan, batch, ids.shape[1], targets, device)
            rows = np.asarray(targets, dtype=np.int64)
            for layer, out in enumerate(outputs):  # one layer at a time: no stacked copy of all layers
                pooled = pooling(hidden[layer].flatten(0, 1).float())
                out[rows] = pooled.cpu().numpy().astype(out.dtype, copy=False)
        return len(targets)

    done = 0
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="embed")
    try:
        if workers > 1:
            torch.set_num_threads(1)
        for n in pool.map(run, batches(plan, batch_tokens)):
            done += n
            release_free_memory()
            if progress:
                progress(done, data.n_targets)
    finally:
        pool.shutdown(cancel_futures=True)
        torch.set_num_threads(threads)
        model.train(was_training)
    return {"n_sequences": len(plan.sequences), "n_windowed": plan.n_windowed,
            "n_unknown_words": plan.n_unknown_words}


def release_free_memory() -> None:
    """Give the C heap's free pages back to the operating system (glibc's ``malloc_trim``).

    Torch allocates CPU tensors with ``malloc``.  After the first large buffer is freed, glibc
    raises its mmap threshold (up to 32 MB), so later activations are carved from the heap, one
    heap per thread; batches of varying shapes fragment those heaps and the resident size creeps
    up with the number of batches, i.e. with the corpus.  Trimming after each batch keeps it at
    what one batch needs.  Elsewhere than glibc this does nothing.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    libc = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None


def _targets_by_sequence(plan: Plan) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for part_index, tokens in enumerate(plan.parts):
        for seq, _ in tokens:
            out.setdefault(seq, set()).add(part_index // plan.parts_per_target)
    return out


@dataclass
class Pooling:
    """How one batch's token vectors become its targets' vectors: weighted sums of gathered rows.

    Row ``flat[i]`` of the flattened (batch·width × dim) hidden states, times ``weight[i]``
    (1 / the part's number of subwords), is added into part ``slot[i]``; parts of a target are
    then laid side by side.
    """

    flat: Any
    slot: Any
    weight: Any
    n_targets: int
    parts_per_target: int

    @classmethod
    def build(cls, plan: Plan, batch: list[int], width: int, targets: list[int], device: Any) -> Pooling:
        """The pooling of ``targets`` (sorted plan target indices) from the batch's sequences ``batch``."""
        import torch

        row_of_seq = {seq: row for row, seq in enumerate(batch)}
        flat, slot, weight = [], [], []
        k = plan.parts_per_target
        for t_index, t in enumerate(targets):
            for part in range(k):
                tokens = plan.parts[t * k + part]
                for seq, pos in tokens:
                    flat.append(row_of_seq[seq] * width + pos)
                    slot.append(t_index * k + part)
                    weight.append(1.0 / len(tokens))
        return cls(torch.tensor(flat, dtype=torch.long, device=device),
                   torch.tensor(slot, dtype=torch.long, device=device),
                   torch.tensor(weight, dtype=torch.float32, device=device), len(targets), k)

    def __call__(self, hidden: Any) -> Any:
        """(n_targets, parts·dim) target vectors from one layer's (batch·width, dim) hidden states."""
        import torch

        gathered = hidden.index_select(0, self.flat) * self.weight.to(hidden.dtype)[:, None]
        k, dim = self.parts_per_target, hidden.shape[1]
        pooled = torch.zeros((self.n_targets * k, dim), dtype=hidden.dtype, device=hidden.device)
        pooled.index_add_(0, self.slot, gathered)
        return pooled.reshape(self.n_targets, k * dim)


def _pool(stacked: Any, plan: Plan, batch: list[int], width: int, targets: list[int]) -> Any:
    """Mean over each target part's subwords, parts concatenated: (layers, len(targets), dim*parts)."""
    import torch

    pooling = Pooling.build(plan, batch, width, targets, stacked.device)
    return torch.stack([pooling(layer) for layer in stacked])


def write_representations(writer: EntryWriter, model: Any, tokenizer: Any, data: TaskData, *,
                          dtype: str = "float32", batch_tokens: int = BATCH_TOKENS,
                          progress: Progress | None = None) -> None:
    """Fill a store entry with every layer's target vectors plus the targets needed to read them."""
    n_layers = int(model.config.num_hidden_layers) + 1
    dim = int(model.config.hidden_size) * (2 if data.kind == "pair" else 1)
    needed = representation_bytes(data.n_targets, n_layers, dim, np.dtype(DTYPES[dtype]).itemsize)
    ensure_space(writer.path, needed, f"{data.task} {data.split} ({data.n_targets} targets × {n_layers} layers × {dim})")
    outputs = [writer.new_rows(layer_name(l), (data.n_targets, dim), DTYPES[dtype]) for l in range(n_layers)]
    start = time.perf_counter()
    stats = extract(model, tokenizer, data, outputs, batch_tokens=batch_tokens, progress=progress)
    seconds = time.perf_counter() - start
    writer.save_array("labels", data.labels)
    writer.save_array("target_sentence", data.target_sentence)
    writer.save_json("targets", {"sentences": data.sentences, "target_words": [list(w) for w in data.target_words]})
    writer.save_json("skipped", [s.__dict__ for s in data.skipped])
    writer.summary.update({
        "task": data.task, "split": data.split, "kind": data.kind, "n_targets": data.n_targets,
        "device": next(model.parameters()).device.type,
        "n_sentences": len(data.sentences), "n_words": data.n_words, "n_layers": n_layers, "dim": dim,
        "dtype": dtype, "label_names": data.label_names, "label_counts": data.label_counts(),
        "n_skipped": len(data.skipped), "seconds": round(seconds, 3), **stats,
    })


def embed_spec(ref: ModelRef, task: str, split: str, *, data_dir: Any = None, task_options: dict | None = None,
               dtype: str = "float32", store: Store | None = None) -> dict[str, Any]:
    """Everything that determines a representation: weights, data files' checksums, options, code.

    Not the device: a GPU's float32 representations differ from the CPU's only in rounding (the
    last bits), so both stand for the same entry, and a snapshot's key follows this one.
    """
    files = task_files(task, split, data_dir=data_dir, options=task_options, store=store)
    return {
        "model": ref.fingerprint,
        "task": task,
        "split": split,
        "data": sorted(sha256_file(f) for f in files),
        "task_options": task_options or {},
        "dtype": dtype,
        "version": EMBED_VERSION,
    }


def embed(task: str, split: str, model: str | None = None, *, store: Store | None = None,
          data_dir: Any = None, task_options: dict | None = None, dtype: str = "float32",
          batch_tokens: int = BATCH_TOKENS, progress: Progress | None = None, device: str | None = None) -> Entry:
    """The stored representations of ``task``/``split`` under ``model``, computing them if absent.

    A store hit reads no model and parses no corpus.  ``device`` is where the model runs
    (:func:`analysis.models.resolve_device`; default: the GPU when there is one); it is not part
    of the key (see :func:`embed_spec`).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    target = resolve_device(device)
    store = store or Store()
    ref = resolve_model(model, store)
    spec = embed_spec(ref, task, split, data_dir=data_dir, task_options=task_options, dtype=dtype, store=store)
    key = make_key("embed", spec)
    if (hit := store.get(key)) is not None:
        return hit
    with store.lock(key):
        if (hit := store.get(key)) is not None:
            return hit
        data = load_task(task, split, data_dir=data_dir, options=task_options, store=store)
        tokenizer, encoder = load_model(ref)
        encoder.to(target)
        with store.create("embed", spec) as writer:
            write_representations(writer, encoder, tokenizer, data, dtype=dtype,
                                  batch_tokens=batch_tokens, progress=progress)
            writer.summary.update({"model": ref.name, "model_path": str(ref.path)})
    return store[key]


def representation(entry: Entry, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """One layer's (targets × dim) array, memory-mapped, and the integer labels."""
    n_layers = entry.summary["n_layers"]
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} out of range: {entry.summary.get('model')} has layers 0..{n_layers - 1}")
    return entry.array(layer_name(layer)), entry.array("labels")
