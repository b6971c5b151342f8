"""POS and DEP from Universal Dependencies CoNLL-U files, read with the ``conllu`` library.

Only integer ids are words: multiword-token lines (``3-4``) and empty nodes (``5.1``) are read
and passed over.  A sentence with a malformed line is skipped whole (its word indices would be
unreliable) and reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELDS, parse_line

from .base import shown
from .builder import Builder
from .textfile import read_lines

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"]
"""The 17 universal part-of-speech tags of UD v2."""

UNIVERSAL_RELATIONS = [
    "acl", "advcl", "advmod", "amod", "appos", "aux", "case", "cc", "ccomp", "clf", "compound",
    "conj", "cop", "csubj", "dep", "det", "discourse", "dislocated", "expl", "fixed", "flat",
    "goeswith", "iobj", "list", "mark", "nmod", "nsubj", "nummod", "obj", "obl", "orphan",
    "parataxis", "punct", "reparandum", "root", "vocative", "xcomp"]
"""The 37 universal dependency relations of UD v2."""

ENGLISH_SUBTYPES = [
    "acl:relcl", "advcl:relcl", "aux:pass", "cc:preconj", "compound:prt", "csubj:outer",
    "csubj:pass", "det:predet", "flat:foreign", "flat:name", "nmod:desc", "nmod:npmod",
    "nmod:poss", "nmod:tmod", "nmod:unmarked", "nsubj:outer", "nsubj:pass", "obl:agent",
    "obl:npmod", "obl:tmod", "obl:unmarked"]
"""Relation subtypes used by the UD v2 English treebanks (kept with ``subtypes=True``)."""

TREEBANKS = {"partut": "ud_partut/en_partut-ud-{split}.conllu",
             "ewt": "ud_ewt/en_ewt-ud-{split}.conllu"}
"""UD English treebanks by option value, as paths in the data layout."""


def dep_labels(subtypes: bool) -> list[str]:
    """DEP's inventory: relations other than ``root`` (roots are never targets), sorted."""
    names = [r for r in UNIVERSAL_RELATIONS if r != "root"]
    return sorted(names + ENGLISH_SUBTYPES) if subtypes else names


@dataclass
class Word:
    """One syntactic word (integer id) of a CoNLL-U sentence."""

    form: str
    upos: str | None
    head: int | None
    deprel: str | None
    line: int


def read_conllu(path: Path, builder: Builder) -> list[list[Word]]:
    """The well-formed sentences of a CoNLL-U file; malformed ones are reported as defects."""
    sentences: list[list[Word]] = []
    block: list[tuple[int, str]] = []
    for n, text in enumerate(read_lines(path) + [""], start=1):
        if text.strip():
            block.append((n, text))
            continue
        if block and (words := _sentence(path, block, builder)):
            sentences.append(words)
        block = []
    return sentences


def _sentence(path: Path, block: list[tuple[int, str]], builder: Builder) -> list[Word] | None:
    words: list[Word] = []
    for n, text in block:
        if text.startswith("#"):
            continue
        columns = text.count("\t") + 1
        if columns != 10:
            builder.defect(path, n, f"malformed line: {columns} tab-separated columns where "
                                    f"CoNLL-U has 10 (sentence skipped)")
            return None
        try:
            token = parse_line(text, DEFAULT_FIELDS)
        except ParseException as exc:
            builder.defect(path, n, f"malformed line: {shown(path, str(exc), 120)} (sentence skipped)")
            return None
        except ValueError:  # an integer beyond Python's digit limit
            builder.defect(path, n, "malformed line: a number too long to read (sentence skipped)")
            return None
        if not isinstance(token["id"], int):
            continue
        if token["id"] != len(words) + 1:
            builder.defect(path, n, f"word id {token['id']} out of sequence, expected "
                                    f"{len(words) + 1} (sentence skipped)")
            return None
        words.append(Word(token["form"] or "", token["upos"], token["head"], token["deprel"], n))
    return words


def build_pos(path: Path, builder: Builder) -> None:
    """One target per word, labelled with its UPOS tag."""
    for words in read_conllu(path, builder):
        s = builder.sentence([w.form for w in words])
        for i, w in enumerate(words):
            builder.target(s, (i,), w.upos or "_", path, w.line)


def build_dep(path: Path, builder: Builder, subtypes: bool) -> None:
    """One (head, dependent) target per non-root word, labelled with its relation."""
    for words in read_conllu(path, builder):
        s = builder.sentence([w.form for w in words])
        for i, w in enumerate(words):
            if w.head is None or not w.deprel:
                builder.defect(path, w.line, "missing head or relation")
            elif w.head == 0 and w.deprel == "root":
                builder.skip(path, w.line, "root: no head word, so no (head, dependent) pair")
            elif w.head == 0 or w.deprel == "root":
                builder.defect(path, w.line, f"head {w.head} with relation {shown(path, w.deprel)}: only the "
                                             f"root has head 0")
            elif not 1 <= w.head <= len(words) or w.head == i + 1:
                builder.defect(path, w.line, f"head {w.head} of word {i + 1} is itself or outside "
                                             f"the sentence (words 1-{len(words)})")
            elif (universal := w.deprel.split(":")[0]) not in UNIVERSAL_RELATIONS:
                builder.defect(path, w.line, f"unknown relation {shown(path, w.deprel)} (not one of the 37 "
                                             f"UD v2 universal relations)")
            else:
                builder.target(s, (w.head - 1, i), w.deprel if subtypes else universal, path, w.line)
