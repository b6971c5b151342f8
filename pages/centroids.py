"""Centroid paths: each label's centroid over fine-tuning updates in one PCA, and the difference vectors."""
import streamlit as st

import ui
from analysis.figures import centroid_paths_figure, shift_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title(f"Centroid paths · layer {sel.layer}", anchor=False)
ui.need_run(sel, "centroid paths")
root = str(ui.store().root)
paths = ui.centroid_paths(root, sel.run, sel.task, sel.split, sel.steps, sel.layer)
points = paths.points
steps = [int(s) for s in sel.steps["step"]]
drawn = set(points.dropna(subset=["pc1"])["label"])
present = [x for x in sel.label_names if x in drawn]
left, right = st.columns([2, 1])
with left:
    if "labels" not in st.session_state:
        wanted = st.query_params.get("labels")
        st.session_state["labels"] = [x for x in wanted.split(",") if x in present] if wanted else present[:8]
    labels = st.multiselect("Labels", present, key="labels",
                            help="Labels with targets in this split; the first eight are shown at first.")
    st.query_params["labels"] = ",".join(labels)
with right:
    upto = ui.synced(st.select_slider, "Show updates up to", "upto", steps, default=steps[-1],
                     help="Slide to replay the paths snapshot by snapshot.") if len(steps) > 1 else steps[0]
shown = points[points["label"].isin(labels)]
title = f"{sel.where.split(',')[0]} · layer {sel.layer}: label centroids over fine-tuning"
share = "" if paths.variance is None else f" (PC1 {paths.variance[0]:.0%}, PC2 {paths.variance[1]:.0%} of variance)"
caption = (f"One PCA fitted on all centroids of all {len(steps)} snapshots{share}; a white circle marks each "
           f"label's start (update {steps[0]}).")
ui.show_figure(centroid_paths_figure(shown, sel.colors, int(upto), title), f"centroid-paths-{sel.slug}",
               data=shown, caption=caption, height=620)

st.subheader("Difference vectors", anchor=False)
shifts = ui.centroid_shift(root, sel.run, sel.task, sel.split, sel.steps, int(upto), sel.layer)
shifts = shifts[shifts["label"].isin(labels)]
ui.show_figure(shift_figure(shifts, sel.colors, f"Centroid shift, update {steps[0]} → {upto} (PCA of the shifts)"),
               f"centroid-shift-{sel.slug}", data=shifts,
               caption="Each arrow is a label's centroid movement (fine-tuned − original) projected by PCA; "
                       "hover for its length in the full space.")
