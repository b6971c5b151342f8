"""Stability: results across seeds for BERTAdam vs AdamW, re-initialised layers, longer training."""
import streamlit as st

import ui

sel = ui.need_study(ui.selection())
st.title("Stability", anchor=False)
ui.offer_computation(f"Fine-tuning runs over several seeds and recipes of {sel.model} on {sel.task}.", ["study", "--model", sel.model, "--task", sel.task], "compute-stability")
