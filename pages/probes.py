"""Probes: probe accuracy per layer with error bars, original vs fine-tuned."""
import streamlit as st

import ui

ui.ensure_app()


sel = ui.need_study(ui.selection())
st.title("Probes", anchor=False)
ui.offer_computation(f"MLP probe accuracies for every layer of {sel.model} on {sel.task}.", ["probe", "--model", sel.model, "--task", sel.task], "compute-probes")
