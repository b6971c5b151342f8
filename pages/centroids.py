"""Centroid paths: PCA paths of label centroids over updates and the difference-vector view."""
import streamlit as st

import ui

sel = ui.need_study(ui.selection())
st.title("Centroid paths", anchor=False)
ui.offer_computation(f"Representations at every snapshot of a fine-tuning run of {sel.model} on {sel.task}.", ["finetune", "--model", sel.model, "--task", sel.task], "compute-centroids")
