"""PS-fxn and PS-role: SNACS supersenses of STREUSLE preposition and possessive targets.

Targets are the single- and multiword expressions (``swes``, ``smwes`` in STREUSLE's JSON)
whose lexical category is adpositional or that carry a ``p.*`` label.  PS-role predicts the
scene role (``ss``), PS-fxn the function (``ss2``).  A target whose label is not a SNACS
supersense (``??``, ``\\`$``, a missing label) is skipped and reported.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .base import DataError, shown
from .builder import Builder
from .textfile import read_bytes

SNACS_TREE: dict = {
    "p.Circumstance": {
        "p.Temporal": {"p.Time": {"p.StartTime": {}, "p.EndTime": {}},
                       "p.Frequency": {}, "p.Duration": {}, "p.Interval": {}},
        "p.Locus": {"p.Source": {}, "p.Goal": {}},
        "p.Path": {"p.Direction": {}, "p.Extent": {}},
        "p.Means": {}, "p.Manner": {}, "p.Explanation": {"p.Purpose": {}}},
    "p.Participant": {
        "p.Causer": {}, "p.Force": {"p.Agent": {}}, "p.Theme": {"p.Topic": {}, "p.Content": {}},
        "p.Ancillary": {}, "p.Stimulus": {}, "p.Experiencer": {}, "p.Originator": {},
        "p.Recipient": {}, "p.Cost": {}, "p.Beneficiary": {}, "p.Instrument": {}},
    "p.Configuration": {
        "p.Identity": {}, "p.Species": {},
        "p.Gestalt": {"p.Possessor": {}, "p.Whole": {}, "p.Org": {}, "p.QuantityItem": {}},
        "p.Characteristic": {"p.Possession": {}, "p.PartPortion": {"p.Stuff": {}},
                             "p.OrgMember": {}, "p.QuantityValue": {"p.Approximator": {}}},
        "p.Ensemble": {}, "p.ComparisonRef": {}, "p.SetIteration": {}, "p.SocialRel": {}},
}
"""The SNACS v2.6 hierarchy (the version STREUSLE 4.5+ is annotated with), as in STREUSLE's
supersenses.py."""


def _preorder(tree: dict) -> list[str]:
    return [name for label, sub in tree.items() for name in [label, *_preorder(sub)]]


SNACS = _preorder(SNACS_TREE)
"""All 52 SNACS v2.6 supersenses in hierarchy order: PS-fxn's and PS-role's fixed inventory."""

ADPOSITIONAL_LEXCATS = {"P", "PP", "INF.P", "POSS", "PRON.POSS"}
"""STREUSLE lexical categories that take SNACS labels."""

FIELDS = {"ps-role": "ss", "ps-fxn": "ss2"}
"""The JSON field each task predicts."""

_SENT_ID = re.compile(r'(?:^|[{,])\s*"sent_id"\s*:')


def build(path: Path, builder: Builder, field: str) -> None:
    """Add every SNACS-labelled target of one STREUSLE JSON file, labelled from ``field``."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, data[:exc.start].count(b"\n") + 1, "not UTF-8 text") from exc
    try:
        sentences = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    except RecursionError as exc:
        raise DataError(path, None, "invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise DataError(path, None, "invalid JSON: a value cannot be read") from exc
    if not isinstance(sentences, list):
        raise DataError(path, 1, "expected a JSON list of STREUSLE sentences")
    starts = [n for n, line in enumerate(text.split("\n"), start=1)
              for _ in _SENT_ID.finditer(line)]
    for i, sent in enumerate(sentences):
        line = starts[i] if i < len(starts) else 1
        if problem := _malformed(sent):
            builder.defect(path, line, f"malformed STREUSLE sentence #{i + 1}: {problem} (sentence skipped)")
        else:
            _sentence(sent, path, line, builder, field)


def _malformed(sent: object) -> str | None:
    """What makes ``sent`` unusable as a STREUSLE sentence (``None`` if nothing)."""
    if not isinstance(sent, dict):
        return "not a JSON object"
    toks = sent.get("toks")
    if not (isinstance(toks, list) and toks and all(isinstance(t, dict) for t in toks)):
        return "'toks' must be a non-empty list of token objects"
    if not all(isinstance(t.get("word"), str) and t["word"] for t in toks):
        return "every token needs a non-empty 'word'"
    if [t.get("#") for t in toks] != list(range(1, len(toks) + 1)):
        return "token numbers ('#') do not run 1, 2, 3, ..."
    for key in ("swes", "smwes"):
        table = sent.get(key)
        if not (isinstance(table, dict) and all(isinstance(e, dict) for e in table.values())):
            return f"'{key}' must be an object of expressions"
        for e in table.values():
            nums = e.get("toknums")
            if not (isinstance(nums, list) and nums and all(type(t) is int for t in nums)):
                return "an expression's 'toknums' must be a non-empty list of token numbers"
            if any(not 1 <= t <= len(toks) for t in nums) or len(set(nums)) != len(nums):
                return "an expression's token numbers are repeated or outside the sentence"
    return None


def _sentence(sent: dict, path: Path, line: int, builder: Builder, field: str) -> None:
    words = [tok["word"] for tok in sent["toks"]]
    expressions = [*sent["swes"].values(), *sent["smwes"].values()]
    s = builder.sentence(words)
    for e in sorted(expressions, key=lambda e: e["toknums"][0]):
        labels = (e.get("ss"), e.get("ss2"))
        lexcat = e.get("lexcat")
        if not (isinstance(lexcat, str) and lexcat in ADPOSITIONAL_LEXCATS) and not any(_snacs_like(x) for x in labels):
            continue
        label = e.get(field)
        where = f"sentence {shown(path, sent.get('sent_id'))} token {e['toknums'][0]}"
        if not _snacs_like(label):
            builder.skip(path, line, f"{where}: {field} is {shown(path, label)}, not a SNACS supersense")
        else:
            builder.target(s, tuple(t - 1 for t in e["toknums"]), label, path, line)


def _snacs_like(label: object) -> bool:
    return isinstance(label, str) and label.startswith("p.")
