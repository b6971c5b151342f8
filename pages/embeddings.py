"""Embeddings: a 2-D or 3-D projection of one layer, every target drawn (WebGL), hover = the word in its sentence."""
import streamlit as st

import ui
from analysis.colors import cluster_colors
from analysis.figures import FlatError, embedding_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
root = str(ui.store().root)
st.title(f"Embeddings · layer {sel.layer}", anchor=False)
clusters = ui.clusters(root, sel.entry.key, sel.layer)
c1, c2, c3 = st.columns(3)
with c1:
    method = ui.synced(st.radio, "Projection", "proj", ["pca", "umap"], horizontal=True,
                       format_func=str.upper, help="UMAP is slower the first time (cached afterwards).")
with c2:
    dims = ui.synced(st.radio, "Dimensions", "dims", [2, 3], horizontal=True, format_func=lambda d: f"{d}-D")
with c3:
    color_by = ui.synced(st.radio, "Colour by", "color", ["label", "cluster"] if clusters else ["label"],
                         horizontal=True, format_func={"label": "label", "cluster": "DirectProbe cluster"}.get)
    if clusters is None and not ui.presentation() and ui.can_start():
        if st.button("Compute DirectProbe clusters", key="compute-clusters", icon=":material/play_arrow:",
                     help="Runs DirectProbe on this layer in the background (see Runs)."):
            if ui.call_job("analysis.views:directprobe_layers", {"entries": [sel.entry.key], "layers": [sel.layer]},
                           f"DirectProbe {sel.slug}"):
                st.toast("DirectProbe started; the cluster colouring appears when it is done.")

try:
    points = ui.projection(root, sel.entry.key, sel.layer, method, dims).join(ui.targets(root, sel.entry.key))
except FlatError as exc:
    st.info(f"**Nothing to draw at layer {sel.layer}:** {ui.visible(str(exc))}. Pick a higher layer or a fine-tuning snapshot.",
            icon=":material/blur_off:")
    st.stop()
colors = sel.colors
if color_by == "cluster" and clusters:
    assigned, names, labels = clusters
    points = points.assign(cluster=assigned)
    colors = cluster_colors(names, labels, sel.colors)
title = f"{sel.where} · layer {sel.layer} · {method.upper()}"
ui.show_figure(embedding_figure(points, colors, color_by, title), f"embeddings-{sel.slug}-{method}{dims}d",
               data=points, caption=f"All {len(points):,} targets drawn; hover shows each word in its sentence.",
               height=760 if dims == 3 else None)
