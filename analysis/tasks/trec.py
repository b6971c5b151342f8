"""TREC question classification (Li & Roth 2002): one sentence target per question.

Each line is ``COARSE:fine question tokens``.  TREC-50 predicts the fine label, TREC-6 the
coarse one; both check the full fine label against the 50-label taxonomy, so they keep the
same questions.  The release is ASCII text, so a question with other characters is reported as
corrupted (the canonical training file has one stray byte, the shared copy three Devanagari
substitutions).
"""
from __future__ import annotations

from pathlib import Path

from .base import shown
from .builder import Builder
from .textfile import read_lines

TAXONOMY: dict[str, list[str]] = {
    "ABBR": ["abb", "exp"],
    "DESC": ["def", "desc", "manner", "reason"],
    "ENTY": ["animal", "body", "color", "cremat", "currency", "dismed", "event", "food", "instru",
             "lang", "letter", "other", "plant", "product", "religion", "sport", "substance",
             "symbol", "techmeth", "termeq", "veh", "word"],
    "HUM": ["desc", "gr", "ind", "title"],
    "LOC": ["city", "country", "mount", "other", "state"],
    "NUM": ["code", "count", "date", "dist", "money", "ord", "other", "perc", "period", "speed",
            "temp", "volsize", "weight"],
}
"""The question-type taxonomy: 6 coarse classes, 50 fine ones."""

COARSE = list(TAXONOMY)
FINE = [f"{coarse}:{fine}" for coarse, fines in TAXONOMY.items() for fine in fines]


def build(path: Path, builder: Builder, fine: bool) -> None:
    """Add one question per line, labelled with its fine (TREC-50) or coarse (TREC-6) class."""
    for n, line in enumerate(read_lines(path, fallback="latin-1"), start=1):
        if not line.strip():
            continue
        label, _, question = line.partition(" ")
        coarse, colon, rest = label.partition(":")
        if not (colon and coarse and rest and question.split()):
            builder.defect(path, n, f"malformed line {shown(path, line)}: expected 'COARSE:fine "
                                    f"question tokens'")
        elif label not in FINE:
            builder.defect(path, n, f"unknown label {shown(path, label)} (not in the 50-label TREC taxonomy)")
        elif not question.isascii():
            odd = "".join(sorted({c for c in question if not c.isascii()}))
            builder.defect(path, n, f"non-ASCII characters {shown(path, odd)} in the question (the release "
                                    f"is ASCII; the text is corrupted)")
        else:
            s = builder.sentence(question.split())
            builder.target(s, (), label if fine else coarse, path, n)
