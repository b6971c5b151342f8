"""Distances: minimum-distance curves per label over updates, top-k/bottom-k by change, label × label heatmap."""
import streamlit as st

import ui

ui.ensure_app()


sel = ui.need_study(ui.selection())
st.title("Distances", anchor=False)
ui.offer_computation(f"DirectProbe label distances at every snapshot of a fine-tuning run of {sel.model} on {sel.task}.", ["finetune", "--model", sel.model, "--task", sel.task], "compute-distances")
