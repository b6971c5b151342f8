"""One colour per label, the same on every page: a label's colour follows its place in the task's inventory."""
from __future__ import annotations

from typing import Sequence

import colorcet

PALETTE: tuple[str, ...] = tuple(colorcet.palette["glasbey_category10"])
"""Glasbey's 256 maximally distinct colours, extending D3's ten (small inventories look familiar): the first 50,
enough for TREC-50 and PS-role, are at least 16 CIELAB units apart."""

STATE_COLORS = {"original": "#7f7f7f", "fine-tuned": "#d62728"}
"""Colours of the two model states, used by every before/after figure."""


def nth_color(i: int) -> str:
    """The ``i``-th colour of the palette (it repeats only past 256 labels)."""
    return PALETTE[i % len(PALETTE)]


def label_colors(label_names: Sequence[str]) -> dict[str, str]:
    """Label name → colour, by the label's index in the task's inventory (stable across pages and runs)."""
    return {name: nth_color(i) for i, name in enumerate(label_names)}


def shade(color: str, amount: float) -> str:
    """``color`` (``#rrggbb``) mixed with white by ``amount`` in [0, 1]."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in (r, g, b))


def cluster_colors(cluster_names: Sequence[str], cluster_labels: Sequence[str],
                   colors: dict[str, str]) -> dict[str, str]:
    """Cluster name → colour: its label's colour, lighter for each further cluster of the same label."""
    seen: dict[str, int] = {}
    out = {}
    for name, label in zip(cluster_names, cluster_labels):
        k = seen[label] = seen.get(label, -1) + 1
        out[name] = shade(colors.get(label, nth_color(len(colors))), min(0.7, 0.22 * k))
    return out
