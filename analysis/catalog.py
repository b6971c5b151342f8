"""Tables describing what the store holds, for the CLI and the dashboard."""
from __future__ import annotations

from html import escape

import pandas as pd

from .store import Entry, Store

COLUMNS = ["key", "kind", "model", "task", "split", "n_targets", "n_layers", "dim", "megabytes", "created"]


def store_table(store: Store, kind: str | None = None) -> pd.DataFrame:
    """One row per stored entry: what it is (model, task, split, size) and when it was made."""
    rows = []
    for e in store.ls(kind):
        s = e.summary
        rows.append({"key": e.key, "kind": e.kind, "model": s.get("model"), "task": s.get("task"),
                     "split": s.get("split"), "n_targets": s.get("n_targets"), "n_layers": s.get("n_layers"),
                     "dim": s.get("dim"), "megabytes": round(e.size_bytes() / 2**20, 2),
                     "created": e.meta.get("created")})
    return pd.DataFrame(rows, columns=COLUMNS)


STUDY_COLUMNS = ["model", "task", "splits", "n_labels", "n_targets", "n_layers", "dim"]


def embed_entries(store: Store) -> list[Entry]:
    """Every stored representation (kind ``embed``), oldest first."""
    return store.ls("embed")


def studies(store: Store) -> pd.DataFrame:
    """One row per (model, task) the store holds representations of, with the splits and sizes."""
    rows: dict[tuple[str, str], dict] = {}
    for e in embed_entries(store):
        s = e.summary
        row = rows.setdefault((s.get("model"), s.get("task")), {
            "model": s.get("model"), "task": s.get("task"), "splits": [], "n_labels": len(s.get("label_names", [])),
            "n_targets": 0, "n_layers": s.get("n_layers"), "dim": s.get("dim")})
        row["splits"].append(s.get("split"))
        row["n_targets"] += int(s.get("n_targets") or 0)
    table = pd.DataFrame(list(rows.values()), columns=STUDY_COLUMNS)
    table["splits"] = table["splits"].map(lambda v: ", ".join(sorted(set(v))))
    return table.sort_values(["model", "task"], ignore_index=True)


def find_embed(store: Store, model: str, task: str, split: str) -> Entry | None:
    """The newest stored representation of ``task``/``split`` under ``model``, if any."""
    found = [e for e in embed_entries(store) if (e.summary.get("model"), e.summary.get("task"),
                                                   e.summary.get("split")) == (model, task, split)]
    return found[-1] if found else None


def targets_table(entry: Entry, context: int = 12) -> pd.DataFrame:
    """One row per target: label name, target text and its sentence (±``context`` words, target in bold)."""
    targets = entry.json("targets")
    names = entry.summary["label_names"]
    labels = entry.array("labels", mmap=False)
    sentence_of = entry.array("target_sentence", mmap=False)
    sentences, words_of = targets["sentences"], targets["target_words"]
    words, contexts = [], []
    for sent, idx in zip(sentence_of.tolist(), words_of):
        tokens = sentences[sent]
        words.append(" ".join(tokens[i] for i in idx) if idx else "[sentence]")
        contexts.append(_in_context(tokens, idx, context))
    return pd.DataFrame({"label": [names[i] for i in labels.tolist()], "word": words, "context": contexts})


def _in_context(tokens: list[str], idx: list[int], context: int) -> str:
    """The sentence around the target with the target words in bold (HTML, for hover text)."""
    if not idx:
        lo, hi = 0, min(len(tokens), 2 * context)
    else:
        lo, hi = max(0, min(idx) - context), min(len(tokens), max(idx) + context + 1)
    marked = set(idx)
    text = " ".join(f"<b>{escape(tokens[i])}</b>" if i in marked else escape(tokens[i]) for i in range(lo, hi))
    return ("… " if lo > 0 else "") + text + (" …" if hi < len(tokens) else "")
