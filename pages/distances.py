"""Distances: each label's minimum distance to the others over updates, top/bottom-k by change, label × label heatmap."""
import pandas as pd
import streamlit as st

import ui
from analysis.figures import distance_heatmap, min_distance_figure
from analysis.geometry import min_distance_extremes

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title(f"Distances · layer {sel.layer}", anchor=False)
ui.need_run(sel, "distance dynamics")
store = ui.store()
ui.need_directprobe("Minimum-distance dynamics", list(sel.steps["entry"]), [sel.layer], "compute-distances")
dynamics = ui.distance_dynamics(str(store.root), sel.run, sel.task, sel.split, sel.steps, sel.layer)
left, right = st.columns([1, 2])
with left:
    k = ui.synced(st.select_slider, "Labels shown (k most and k least changed)", "k",
                  list(range(1, max(2, len(sel.label_names) // 2) + 1)), default=min(5, len(sel.label_names) // 2))
extremes = min_distance_extremes(dynamics, int(k))
with right:
    group = ui.synced(st.radio, "Which", "group", ["both", "most", "least"], horizontal=True,
                      format_func={"both": "both", "most": "grew most", "least": "grew least"}.get)
chosen = extremes if group == "both" else extremes[extremes["group"] == group]
labels = list(dict.fromkeys(chosen["label"]))
where = sel.where.split(",")[0]
ui.show_figure(min_distance_figure(dynamics, sel.colors, labels, f"{where} · layer {sel.layer}: minimum distance "
                                   "to another label"), f"distances-{sel.slug}", data=dynamics,
               caption="DirectProbe's distance between a label's clusters and the nearest other label's, at every "
                       "snapshot; fine-tuning tends to push labels apart (Zhou & Srikumar, Figure 6).")
st.dataframe(chosen, hide_index=True, width="stretch")
D = ui.label_distances(str(store.root), sel.entry.key, sel.layer)
ui.show_figure(distance_heatmap(D, sel.label_names, f"Label × label distances at update {sel.step}, layer {sel.layer}"),
               f"distances-heatmap-{sel.slug}", height=640,
               data=pd.DataFrame(D, index=sel.label_names, columns=sel.label_names).reset_index())
