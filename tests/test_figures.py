"""Figure builders, label colours and the offline HTML report (no Streamlit involved)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis import figures
from analysis.colors import PALETTE, label_colors, nth_color
from analysis.report import ReportItem, build_report


def cielab(hexes: list[str]) -> np.ndarray:
    """sRGB hex colours in CIELAB (D65), for perceptual distances."""
    rgb = np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in hexes])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.c_[116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])]


def min_color_distance(hexes: list[str]) -> float:
    lab = cielab(hexes)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def test_label_colours_are_stable_and_distinct():
    names = [f"L{i}" for i in range(256)]
    colors = label_colors(names)
    assert colors == label_colors(names)
    assert len(set(colors.values())) == len(names)
    assert label_colors(names[:5]) == {n: colors[n] for n in names[:5]}
    assert nth_color(0) == PALETTE[0]
    assert min_color_distance(list(colors.values())[:50]) > 15  # ADJ and VERB were both blue (ΔE 5) before


def test_every_label_figure_keeps_fifty_labels_apart():
    """Every figure that colours by label (Embeddings, Distances, Centroid paths and their shifts) draws 50
    labels in 50 perceptually distinct colours, each label in its inventory colour."""
    names = [f"label-{i}" for i in range(50)]
    colors = label_colors(names)
    rng = np.random.default_rng(0)
    steps = pd.DataFrame([(s, n) for n in names for s in (0, 10)], columns=["step", "label"])
    figs = {
        "embedding": figures.embedding_figure(pd.DataFrame(rng.normal(size=(500, 2)), columns=["x", "y"]).assign(
            label=np.repeat(names, 10), word="w", context="c"), colors),
        "distances": figures.min_distance_figure(steps.assign(min_distance=rng.random(len(steps))), colors),
        "centroids": figures.centroid_paths_figure(steps.assign(pc1=rng.normal(size=len(steps)),
                                                                pc2=rng.normal(size=len(steps))), colors),
        "shifts": figures.shift_figure(pd.DataFrame({"label": names, "pc1": rng.normal(size=50),
                                                     "pc2": rng.normal(size=50), "shift_norm": 1.0}), colors),
    }
    for page, fig in figs.items():
        drawn = {}
        for trace in fig.data:
            if trace.name in colors:
                drawn[trace.name] = trace.marker.color if trace.type == "scattergl" else trace.line.color
        assert drawn == colors, page
        assert min_color_distance(list(drawn.values())) > 15, page


def points(n: int, dims: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(n, dims)), columns=["x", "y", "z"][:dims])
    return df.assign(label=np.where(np.arange(n) % 3 == 0, "NOUN", "VERB"), word="w", context="a <b>w</b> b")


def test_embedding_figure_draws_every_point_with_webgl_and_label_colours():
    df = points(50_000)
    colors = label_colors(["VERB", "NOUN"])
    fig = figures.embedding_figure(df, colors)
    assert [t.type for t in fig.data] == ["scattergl", "scattergl"]
    assert [t.name for t in fig.data] == ["VERB", "NOUN"]
    assert sum(len(t.x) for t in fig.data) == 50_000
    assert fig.data[0].marker.color == colors["VERB"]
    assert "customdata[2]" in fig.data[0].hovertemplate
    noun = df.assign(word=[f"w{i}" for i in range(len(df))])[df["label"] == "NOUN"]
    fig = figures.embedding_figure(noun.assign(label="NOUN"), colors)
    assert np.array_equal(fig.data[0].x, noun["x"]) and np.array_equal(fig.data[0].y, noun["y"])
    assert fig.data[0].customdata[:, 0].tolist() == noun["word"].tolist(), "each point hovers its own word"


def test_figures_are_white():
    import plotly.graph_objects as go

    assert figures.style(go.Figure()).layout.template.layout.plot_bgcolor == "white"


def test_embedding_figure_in_3d_uses_scatter3d():
    fig = figures.embedding_figure(points(100, 3), label_colors(["NOUN", "VERB"]))
    assert {t.type for t in fig.data} == {"scatter3d"}


def test_project_pca_keeps_every_row():
    X = np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32)
    assert figures.project(X, "pca", 3).shape == (300, 3)
    with pytest.raises(ValueError):
        figures.project(X, "tsne")


def test_style_scales_fonts_for_presentation():
    fig = figures.embedding_figure(points(10), {})
    assert figures.style(fig, presentation=True).layout.font.size > figures.style(fig).layout.font.size


def test_export_config_names_the_file_and_format():
    config = figures.export_config("embeddings-x", "svg")
    assert config["toImageButtonOptions"] == {"format": "svg", "filename": "embeddings-x", "scale": 3}


def test_shared_ranges_are_identical():
    a, b = points(20), points(20) * 1
    b["x"] = b["x"] * 10
    figs = [figures.embedding_figure(a, {}), figures.embedding_figure(b, {})]
    figures.shared_ranges(figs, [a, b])
    assert figs[0].layout.xaxis.range == figs[1].layout.xaxis.range
    assert figs[0].layout.xaxis.range[1] >= b["x"].max()


def test_analysis_figures_from_tidy_tables():
    colors = label_colors(["A", "B"])
    dyn = pd.DataFrame({"step": [0, 0, 10, 10], "label": ["A", "B", "A", "B"], "min_distance": [1, 2, 3, 2.5]})
    assert len(figures.min_distance_figure(dyn, colors).data) == 2
    lin = pd.DataFrame({"layer": [0, 1], "n_labels": [2, 2], "n_clusters_original": [5, 2],
                        "n_clusters_fine_tuned": [2, 2]})
    assert len(figures.linearity_figure(lin).data) == 2
    paths = dyn.rename(columns={"min_distance": "pc1"}).assign(pc2=[0.0, 1.0, 0.5, 1.5])
    assert len(figures.centroid_paths_figure(paths, colors, upto=0).data) == 4  # a path and a start per label
    layers = pd.DataFrame({"step": [0, 10, 0, 10], "layer": [0, 0, 1, 1], "metric": "cka", "value": [1, .9, 1, .5]})
    assert figures.layer_heatmap(layers, "cka").data[0].z.shape == (2, 2)
    assert len(figures.layer_lines(layers, "cka").data) == 2
    cross = pd.DataFrame({"fine_tuned_on": ["pos", "dep"], "analysed_task": ["dep", "pos"], "mean_change": [.1, -.2]})
    assert figures.cross_task_figure(cross).data[0].z.shape == (2, 2)
    heat = figures.distance_heatmap(np.array([[0, 1.0], [1.0, 0]]), ["A", "B"])
    assert list(heat.data[0].x) == ["A", "B"]


def test_report_is_one_self_contained_html_file():
    fig = figures.embedding_figure(points(30), label_colors(["NOUN", "VERB"]))
    html = build_report([ReportItem("Layer 3 <PCA>", "First paragraph.\n\nSecond & last.", fig),
                         ReportItem("Again", "", fig.to_plotly_json())], title="Group meeting")
    assert html.startswith("<!DOCTYPE html>")
    assert re.search(r"<(script|link|img)[^>]+(src|href)=", html) is None  # nothing fetched from outside
    assert html.count("Plotly.newPlot") == 2
    assert "Figure 1. Layer 3 &lt;PCA&gt;" in html and "<p>Second &amp; last.</p>" in html
    assert len(html) > 3_000_000  # plotly.js itself is inlined


def test_points_that_do_not_spread_are_refused_in_words():
    rng = np.random.default_rng(0)
    same = np.tile(rng.normal(size=(1, 384)).astype(np.float32), (499, 1))
    with pytest.raises(figures.FlatError, match="all 499 points coincide"):
        figures.project(same)
    noise = same + rng.normal(scale=1e-7, size=same.shape).astype(np.float32)  # rounding-size differences
    with pytest.raises(figures.FlatError, match="below float32 resolution"):
        figures.project(noise)
    spread = same + rng.normal(scale=1e-2, size=same.shape).astype(np.float32)
    assert figures.project(spread).shape == (499, 2)
