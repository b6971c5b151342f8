"""One colour per label, the same on every page: a label's colour follows its place in the task's inventory."""
from __future__ import annotations

import colorsys
from typing import Sequence

from plotly.colors import qualitative

KELLY = ("#875692", "#f3c300", "#a1caf1", "#008856", "#e68fac", "#0067a5", "#882d17", "#8db600", "#604e97",
         "#c2b280", "#f99379", "#2b3d26", "#dcd300", "#654522", "#b3446c", "#e25822")
"""Kelly's colours of maximum contrast, minus white, black and those close to D3's."""

PALETTE: tuple[str, ...] = tuple(dict.fromkeys([*qualitative.D3, *KELLY, *qualitative.Alphabet]))
"""D3's ten colours first (small inventories look familiar), then Kelly's, then Plotly's Alphabet;
labels beyond these get golden-angle hues."""

STATE_COLORS = {"original": "#7f7f7f", "fine-tuned": "#d62728"}
"""Colours of the two model states, used by every before/after figure."""


def nth_color(i: int) -> str:
    """The ``i``-th colour: the palette first, then evenly spread hues that never repeat."""
    if i < len(PALETTE):
        return PALETTE[i]
    hue = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.45, 0.65)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


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
