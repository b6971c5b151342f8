"""Linearity: DirectProbe #clusters per layer, original vs fine-tuned, the linear line marked."""
import streamlit as st

import ui

ui.ensure_app()


sel = ui.need_study(ui.selection())
st.title("Linearity", anchor=False)
ui.offer_computation(f"DirectProbe clusters for every layer of {sel.model} on {sel.task}/{sel.split}.", ["directprobe", "--model", sel.model, "--task", sel.task, "--split", sel.split], "compute-linearity")
