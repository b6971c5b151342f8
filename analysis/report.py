"""A self-contained HTML report: chosen figures with captions, Plotly's JavaScript inlined so it opens offline."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any, Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.8rem; margin-bottom: .2rem; } .meta { color: #666; margin-bottom: 2rem; }
figure { margin: 0 0 2.5rem 0; page-break-inside: avoid; }
figcaption { color: #333; margin-top: .4rem; } figcaption b { color: #000; }
"""


@dataclass(frozen=True)
class ReportItem:
    """One figure of a report: a title, a caption and the Plotly figure (object or its JSON dict)."""

    title: str
    caption: str
    figure: go.Figure | dict[str, Any]


def _figure_html(item: ReportItem, number: int) -> str:
    fig = item.figure if isinstance(item.figure, go.Figure) else go.Figure(item.figure)
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False, default_width="100%",
                      config={"displaylogo": False, "toImageButtonOptions": {"format": "svg", "filename": f"figure-{number}"}})
    caption = "".join(f"<p>{html.escape(p)}</p>" for p in item.caption.split("\n\n") if p.strip())
    return (f'<figure id="figure-{number}">{div}<figcaption><b>Figure {number}. {html.escape(item.title)}</b>'
            f"{caption}</figcaption></figure>")


def build_report(items: Sequence[ReportItem], title: str = "Fine-tuning geometry", subtitle: str = "") -> str:
    """The whole report as one HTML document with no external resources."""
    meta = html.escape(subtitle or f"Generated {time.strftime('%Y-%m-%d %H:%M')}")
    body = "\n".join(_figure_html(item, i) for i, item in enumerate(items, 1))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head>'
            f'<body><h1>{html.escape(title)}</h1><div class="meta">{meta}</div>\n{body}\n</body></html>\n')
