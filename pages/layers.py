"""Layers: every layer at every update against the same layer before fine-tuning (spatial, CKA, RSA)."""
import streamlit as st

import ui
from analysis.figures import METRIC_NAMES, layer_heatmap, layer_lines

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title("Layers", anchor=False)
ui.need_run(sel, "layer behaviour")
table = ui.layer_similarity(str(ui.store().root), sel.run, sel.task, sel.split)
if table is None:
    ui.offer_job(f"linear CKA, centroid RSA and spatial similarity of every layer at all {len(sel.steps)} "
                 "snapshots against the original layer (about a minute for a BERT-base study).",
                 "analysis.views:compute_layer_similarity", {"run": sel.run, "task": sel.task, "split": sel.split},
                 "compute-layers")
    st.stop()
available = [m for m in METRIC_NAMES if table.loc[table["metric"] == m, "value"].notna().any()]
ordered = available + [m for m in METRIC_NAMES if m not in available]
metric = ui.synced(st.radio, "Similarity to the original layer", "metric", ordered, horizontal=True,
                   format_func=METRIC_NAMES.get)
if metric not in available:
    st.info("Spatial similarity compares DirectProbe label distances and is defined only where both the layer "
            "and its original are linear; DirectProbe results for these snapshots are not stored yet.",
            icon=":material/hourglass_empty:")
    st.stop()
where = sel.where.split(",")[0]
ui.show_figure(layer_heatmap(table, metric, f"{where}: {METRIC_NAMES[metric]} to the original layer"),
               f"layers-heatmap-{metric}-{sel.slug}", data=table[table["metric"] == metric],
               caption="1 = the layer is unchanged by fine-tuning; lower = it moved further from the original.")
ui.show_figure(layer_lines(table, metric, f"{where}: per layer over updates"), f"layers-lines-{metric}-{sel.slug}",
               data=table[table["metric"] == metric], caption="Darker lines are higher layers.")
