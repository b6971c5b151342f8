"""Layers: layer × update similarity to the original layer (spatial, CKA, RSA)."""
import streamlit as st

import ui

sel = ui.need_study(ui.selection())
st.title("Layers", anchor=False)
ui.offer_computation(f"Representations at every snapshot of a fine-tuning run of {sel.model} on {sel.task}.", ["finetune", "--model", sel.model, "--task", sel.task], "compute-layers")
