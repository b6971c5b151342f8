"""Cross-task: the task × task matrix of how fine-tuning on one task moves another task's labels."""
import streamlit as st

import ui

ui.ensure_app()


sel = ui.need_study(ui.selection())
st.title("Cross-task", anchor=False)
ui.offer_computation(f"Fine-tuning runs on several tasks of {sel.model}.", ["study", "--model", sel.model, "--task", sel.task], "compute-cross_task")
