"""Plotly figures of the dashboard, built from the tables the analyses return; no Streamlit here.

Every builder takes a tidy DataFrame (plus the label → colour map of :mod:`analysis.colors`) and
returns a ``go.Figure``; :func:`style` sizes any of them for the screen or for a projector.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .colors import STATE_COLORS, nth_color

FONT = "Inter, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
HOVER = "<b>%{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]}<extra></extra>"
WHITE = "plotly_white"
pio.templates.default = WHITE
"""Figures start white: a new figure takes the default template once, where setting it on each
figure copies and validates the whole template again (half of :func:`style`'s time). Importing
Streamlit's chart module sets its own default, so :func:`style` checks."""


def style(fig: go.Figure, presentation: bool = False, height: int | None = None) -> go.Figure:
    """A clean white look; larger type and lines in presentation mode."""
    size = 20 if presentation else 13
    fig.update_layout(
        **({} if pio.templates.default == WHITE else {"template": WHITE}), font={"family": FONT, "size": size},
        title={"font": {"size": size + 4}, "x": 0, "xanchor": "left"},
        legend={"font": {"size": size - 1}}, hoverlabel={"font": {"size": size}},
        margin={"l": 10, "r": 10, "t": 60 if fig.layout.title.text else 20, "b": 10},
        height=height or (640 if presentation else 480),
    )
    return fig


def export_config(filename: str, fmt: Literal["png", "svg"] = "png", scale: int = 3) -> dict:
    """Plotly's own export (the modebar camera) as PNG or SVG under a meaningful file name."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": scale}}


class FlatError(ValueError):
    """The points do not spread: a projection would draw only rounding noise."""


RESOLUTION = 1e-5
"""Spreads below this share of the values' magnitude are float32 rounding, not geometry."""


def check_spread(X: np.ndarray) -> None:
    """Raise :class:`FlatError`, in words, when every point coincides or their spread is below float32 resolution
    (e.g. the ``[CLS]`` vectors of layer 0, which do not depend on the sentence)."""
    X = np.asarray(X)
    spread = float(np.ptp(X, axis=0).max()) if X.size else 0.0
    if spread == 0.0:
        raise FlatError(f"all {len(X):,} points coincide, so there is no geometry to draw")
    scale = float(np.abs(X).max())
    if spread <= RESOLUTION * scale:
        raise FlatError(f"the {len(X):,} points differ by at most {spread:.1e} at values up to {scale:.2g}: "
                        "below float32 resolution, so a projection would draw rounding noise")


def project(X: np.ndarray, method: Literal["pca", "umap"] = "pca", dims: int = 2, seed: int = 0) -> np.ndarray:
    """Every row of X in ``dims`` dimensions (PCA, or UMAP when installed); float32, no sampling.

    Raises :class:`FlatError` when the points do not spread (:func:`check_spread`).
    """
    X = np.asarray(X, dtype=np.float32)
    check_spread(X)
    dims = min(dims, *X.shape)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=dims, random_state=seed).fit_transform(X).astype(np.float32)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=dims, random_state=seed).fit_transform(X).astype(np.float32)
    raise ValueError(f"unknown projection {method!r}; use 'pca' or 'umap'")


def _marker_size(n: int) -> int:
    return 7 if n < 2_000 else 4 if n < 20_000 else 3


def embedding_figure(points: pd.DataFrame, colors: dict[str, str], color_by: str = "label",
                     title: str = "") -> go.Figure:
    """Scatter of projected targets (WebGL), one trace per label or cluster, hover = word in its sentence.

    ``points`` has x, y[, z], label, word, context and optionally cluster; every row is drawn.
    """
    three_d = "z" in points
    fig = go.Figure()
    size = _marker_size(len(points))
    custom = points[["word", "label", "context"]].to_numpy(dtype=object)  # once, not per trace
    coords = {axis: points[axis].to_numpy() for axis in ("x", "y", "z") if axis in points}
    codes, names = pd.factorize(points[color_by]) if color_by in points else (np.zeros(len(points), int), ["all"])
    order = {name: i for i, name in enumerate(colors)}
    for code, name in sorted(enumerate(names), key=lambda g: (order.get(g[1], len(order)), str(g[1]))):
        rows = np.flatnonzero(codes == code)
        color = colors.get(name) or nth_color(int(name) if str(name).isdigit() else len(order))
        marker = {"size": size if not three_d else max(2, size - 2), "color": color, "opacity": 0.75}
        common = {"name": str(name), "mode": "markers", "marker": marker, "customdata": custom[rows],
                  "hovertemplate": HOVER, **{axis: values[rows] for axis, values in coords.items()}}
        fig.add_trace(go.Scatter3d(**common) if three_d else go.Scattergl(**common))
    fig.update_layout(title=title, legend={"itemsizing": "constant", "title": color_by})
    if not three_d:
        fig.update_xaxes(title="component 1", zeroline=False)
        fig.update_yaxes(title="component 2", zeroline=False)
    return fig


def shared_ranges(figures: Sequence[go.Figure], points: Sequence[pd.DataFrame], pad: float = 0.04) -> None:
    """Give side-by-side scatter figures the same x/y ranges, computed from all their points."""
    both = pd.concat([p[["x", "y"]] for p in points])
    for axis in ("x", "y"):
        lo, hi = float(both[axis].min()), float(both[axis].max())
        margin = (hi - lo) * pad or 1.0
        for fig in figures:
            fig.update_layout({f"{axis}axis": {"range": [lo - margin, hi + margin]}})


def state_style(state: str) -> dict:
    """Line and marker of a model state: the original wide and hollow, drawn first, so that the fine-tuned
    line on top of it stays distinguishable where the two coincide."""
    if state == "original":
        return {"line": {"color": STATE_COLORS.get(state), "width": 7}, "opacity": 0.55,
                "marker": {"size": 14, "symbol": "circle-open", "line": {"width": 3}}}
    return {"line": {"color": STATE_COLORS.get(state), "width": 2.5}, "marker": {"size": 8}}


def linearity_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """#clusters per layer, original vs fine-tuned; the #labels line marks linear separability.

    ``table`` has layer, n_labels, n_clusters_original and/or n_clusters_fine_tuned.
    """
    fig = go.Figure()
    for state, column in (("original", "n_clusters_original"), ("fine-tuned", "n_clusters_fine_tuned")):
        if column in table and table[column].notna().any():
            fig.add_trace(go.Scatter(x=table["layer"], y=table[column].astype(float), name=state,
                                     mode="lines+markers", **state_style(state)))
    n_labels = float(table["n_labels"].dropna().iloc[0]) if table["n_labels"].notna().any() else None
    if n_labels is not None:
        fig.add_hline(y=n_labels, line={"dash": "dash", "color": "#2ca02c"},
                      annotation_text=f"linear: #clusters = #labels ({n_labels:.0f})",
                      annotation_position="top left")
    fig.update_layout(title=title, xaxis_title="layer", yaxis_title="#clusters (DirectProbe)")
    fig.update_xaxes(dtick=1)
    return fig


def min_distance_figure(dynamics: pd.DataFrame, colors: dict[str, str], labels: Sequence[str] | None = None,
                        title: str = "") -> go.Figure:
    """Each label's minimum distance to the other labels over fine-tuning updates (step, label, min_distance)."""
    fig = go.Figure()
    chosen = list(labels) if labels is not None else list(dict.fromkeys(dynamics["label"]))
    for label in chosen:
        part = dynamics[dynamics["label"] == label].sort_values("step")
        fig.add_trace(go.Scatter(x=part["step"], y=part["min_distance"], name=label, mode="lines+markers",
                                 line={"color": colors.get(label), "width": 2.5}, marker={"size": 6}))
    fig.update_layout(title=title, xaxis_title="fine-tuning update", yaxis_title="minimum distance to another label")
    return fig


def distance_heatmap(D: np.ndarray, label_names: Sequence[str], title: str = "",
                     zmax: float | None = None) -> go.Figure:
    """Label × label distance matrix (DirectProbe's minimum distances between label clusters)."""
    fig = go.Figure(go.Heatmap(z=np.asarray(D, dtype=float), x=list(label_names), y=list(label_names),
                               colorscale="Viridis", zmin=0, zmax=zmax, colorbar={"title": "distance"},
                               hovertemplate="%{y} ↔ %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title)
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return fig


def centroid_paths_figure(points: pd.DataFrame, colors: dict[str, str], upto: int | None = None,
                          title: str = "") -> go.Figure:
    """PCA paths of label centroids over updates (step, label, pc1, pc2), a circle at each start.

    With ``upto``, paths stop at that step (a slider over snapshots); axes keep the full extent.
    """
    fig = go.Figure()
    shown = points if upto is None else points[points["step"] <= upto]
    for label, part in shown.groupby("label", sort=False):
        part = part.sort_values("step")
        color = colors.get(label)
        fig.add_trace(go.Scatter(x=part["pc1"], y=part["pc2"], mode="lines+markers", name=str(label),
                                 line={"color": color, "width": 2}, marker={"size": 5, "color": color},
                                 customdata=part[["step"]].to_numpy(),
                                 hovertemplate=f"{label}<br>step %{{customdata[0]}}<extra></extra>"))
        start = part.iloc[:1]
        fig.add_trace(go.Scatter(x=start["pc1"], y=start["pc2"], mode="markers", showlegend=False,
                                 marker={"size": 13, "color": "white", "line": {"color": color, "width": 3}},
                                 hovertemplate=f"{label}: start<extra></extra>"))
    _fix_ranges(fig, points["pc1"], points["pc2"])
    fig.update_layout(title=title, xaxis_title="PC 1", yaxis_title="PC 2")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def _fix_ranges(fig: go.Figure, x: pd.Series, y: pd.Series, pad: float = 0.06) -> None:
    for axis, values in (("x", x), ("y", y)):
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        margin = (hi - lo) * pad or 1.0
        fig.update_layout({f"{axis}axis": {"range": [lo - margin, hi + margin]}})


def shift_figure(points: pd.DataFrame, colors: dict[str, str], title: str = "") -> go.Figure:
    """Difference vectors (fine-tuned − original centroid) in PCA space, as arrows from the origin."""
    fig = go.Figure()
    for row in points.dropna(subset=["pc1", "pc2"]).itertuples():
        color = colors.get(row.label)
        fig.add_trace(go.Scatter(x=[0, row.pc1], y=[0, row.pc2], mode="lines+markers+text", name=row.label,
                                 text=["", row.label], textposition="top center",
                                 line={"color": color, "width": 2}, marker={"size": [0, 9], "color": color},
                                 hovertemplate=f"{row.label}: |shift| = {row.shift_norm:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="PC 1 of centroid shifts", yaxis_title="PC 2", showlegend=False)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


METRIC_NAMES = {"spatial": "spatial similarity", "cka": "linear CKA", "rsa": "centroid RSA"}


def layer_heatmap(table: pd.DataFrame, metric: str, title: str = "") -> go.Figure:
    """Layer × update similarity to the original layer (step, layer, metric, value), one metric."""
    wide = table[table["metric"] == metric].pivot(index="layer", columns="step", values="value").sort_index()
    fig = go.Figure(go.Heatmap(z=wide.to_numpy(dtype=float), x=[str(c) for c in wide.columns], y=wide.index,
                               colorscale="RdBu", zmin=-1 if metric == "spatial" else 0, zmax=1,
                               colorbar={"title": METRIC_NAMES.get(metric, metric)},
                               hovertemplate="layer %{y}, step %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="fine-tuning update", yaxis_title="layer")
    fig.update_yaxes(dtick=1)
    return fig


def layer_lines(table: pd.DataFrame, metric: str, title: str = "") -> go.Figure:
    """One line per layer: similarity to the original layer over updates."""
    fig = go.Figure()
    part = table[table["metric"] == metric]
    layers = sorted(part["layer"].unique())
    for i, layer in enumerate(layers):
        rows = part[part["layer"] == layer].sort_values("step")
        shade = 0.15 + 0.85 * i / max(1, len(layers) - 1)
        fig.add_trace(go.Scatter(x=rows["step"], y=rows["value"], name=f"layer {layer}", mode="lines",
                                 line={"color": f"rgba(31, 119, 180, {shade:.2f})", "width": 2.5}))
    fig.update_layout(title=title, xaxis_title="fine-tuning update",
                      yaxis_title=f"{METRIC_NAMES.get(metric, metric)} to the original layer")
    return fig


def probe_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Probe accuracy per layer with error bars, original vs fine-tuned (layer, model_state, mean, std)."""
    fig = go.Figure()
    for state, part in table.groupby("model_state", sort=False):
        part = part.sort_values("layer")
        fig.add_trace(go.Scatter(x=part["layer"], y=part["mean"], name=state, mode="lines+markers",
                                 error_y={"type": "data", "array": part["std"].fillna(0), "visible": True},
                                 **state_style(state)))
    if "majority_accuracy" in table and table["majority_accuracy"].notna().any():
        fig.add_hline(y=float(table["majority_accuracy"].max()), line={"dash": "dot", "color": "#999"},
                      annotation_text="majority class", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="layer", yaxis_title="probe accuracy (test)")
    fig.update_xaxes(dtick=1)
    return fig


def cross_task_figure(table: pd.DataFrame, value: str = "mean_change", title: str = "") -> go.Figure:
    """Task × task matrix: rows = task fine-tuned on, columns = task analysed."""
    wide = table.pivot(index="fine_tuned_on", columns="analysed_task", values=value)
    z = wide.to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=list(wide.columns), y=list(wide.index), colorscale="RdBu", zmid=0,
                               zmin=-bound, zmax=bound, text=np.round(z, 3), texttemplate="%{text}",
                               colorbar={"title": value.replace("_", " ")},
                               hovertemplate="fine-tuned on %{y}, analysed %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="analysed task", yaxis_title="fine-tuned on")
    fig.update_yaxes(autorange="reversed")
    return fig


def seeds_figure(table: pd.DataFrame, group: str, title: str = "", y_title: str = "") -> go.Figure:
    """Mean with a bootstrap interval per group (``group``, mean, ci_low, ci_high), e.g. per recipe."""
    table = table.sort_values(group)
    fig = go.Figure(go.Scatter(
        x=table[group].astype(str), y=table["mean"], mode="markers",
        marker={"size": 14, "color": [nth_color(i) for i in range(len(table))]},
        error_y={"type": "data", "symmetric": False, "array": table["ci_high"] - table["mean"],
                 "arrayminus": table["mean"] - table["ci_low"], "thickness": 2, "width": 8}))
    fig.update_layout(title=title, xaxis_title=group.replace("_", " "), yaxis_title=y_title, showlegend=False)
    return fig


def seed_points_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """Final test accuracy of every seed per recipe (recipe, seed, test_accuracy, majority_baseline, failed)."""
    fig = go.Figure()
    recipes = sorted(table["recipe"].unique())
    for i, recipe in enumerate(recipes):
        part = table[table["recipe"] == recipe]
        fig.add_trace(go.Box(y=part["test_accuracy"], name=recipe, boxpoints="all", pointpos=0, jitter=0.4,
                             marker={"color": nth_color(i), "size": 9}, line={"color": nth_color(i)},
                             customdata=part[["seed"]].to_numpy(), fillcolor="rgba(0,0,0,0)",
                             hovertemplate="seed %{customdata[0]}: %{y:.3f}<extra>%{x}</extra>"))
    if len(table):
        fig.add_hline(y=float(table["majority_baseline"].max()), line={"dash": "dot", "color": "#999"},
                      annotation_text="majority class (failed run at or below)", annotation_position="bottom right")
    fig.update_layout(title=title, yaxis_title="final test accuracy", showlegend=False)
    return fig


def curves_figure(table: pd.DataFrame, value: str = "test_accuracy", title: str = "") -> go.Figure:
    """One line per run over updates, coloured by recipe (recipe, seed, step, ``value``)."""
    fig = go.Figure()
    recipes = sorted(table["recipe"].unique())
    for i, recipe in enumerate(recipes):
        for j, (seed, part) in enumerate(table[table["recipe"] == recipe].groupby("seed")):
            part = part.dropna(subset=[value]).sort_values("step")
            fig.add_trace(go.Scatter(x=part["step"], y=part[value], mode="lines", name=recipe, legendgroup=recipe,
                                     showlegend=j == 0, line={"color": nth_color(i), "width": 2},
                                     hovertemplate=f"{recipe}, seed {seed}<br>update %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="fine-tuning update", yaxis_title=value.replace("_", " "))
    return fig
