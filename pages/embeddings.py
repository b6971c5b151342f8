"""Embeddings: a 2-D or 3-D projection of one layer, every target drawn (WebGL), hover = the word in its sentence."""
import streamlit as st

import ui
from analysis.figures import embedding_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title(f"Embeddings · layer {sel.layer}", anchor=False)
c1, c2, c3 = st.columns(3)
with c1:
    method = ui.synced(st.radio, "Projection", "proj", ["pca", "umap"], horizontal=True,
                       format_func=str.upper, help="UMAP is slower the first time (cached afterwards).")
with c2:
    dims = ui.synced(st.radio, "Dimensions", "dims", [2, 3], horizontal=True, format_func=lambda d: f"{d}-D")
with c3:
    color_by = ui.synced(st.radio, "Colour by", "color", ["label"], horizontal=True,
                         help="DirectProbe clusters become available once DirectProbe has run on this layer.")

root = str(ui.store().root)
points = ui.projection(root, sel.entry.key, sel.layer, method, dims).join(ui.targets(root, sel.entry.key))
title = f"{sel.where} · layer {sel.layer} · {method.upper()}"
ui.show_figure(embedding_figure(points, sel.colors, color_by, title), f"embeddings-{sel.slug}-{method}{dims}d",
               data=points, caption=f"All {len(points):,} targets drawn; hover shows each word in its sentence.",
               height=760 if dims == 3 else None)
