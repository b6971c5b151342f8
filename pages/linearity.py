"""Linearity: DirectProbe #clusters per layer, original vs fine-tuned, the linear line marked (Tables 3, 7)."""
import streamlit as st

import ui
from analysis import views
from analysis.figures import linearity_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title("Linearity", anchor=False)
store = ui.store()
if sel.steps is not None and len(sel.steps):
    original, fine_tuned = sel.steps["entry"].iloc[0], sel.steps["entry"].iloc[-1]
    states = f"update {sel.steps['step'].iloc[0]} vs update {sel.steps['step'].iloc[-1]}"
else:
    original, fine_tuned, states = sel.entry.key, None, "pre-trained only (pick a run to compare)"
n_layers = int(sel.entry.summary["n_layers"])
ui.need_directprobe("The number of clusters", [e for e in (original, fine_tuned) if e], range(n_layers),
                    "compute-linearity")
table = views.linearity(store, original, fine_tuned, sel.run, sel.task, sel.split)
where = sel.where.split(",")[0]
ui.show_figure(linearity_figure(table, f"{where}: DirectProbe clusters per layer ({states})"),
               f"linearity-{sel.model_short}-{sel.task}-{sel.split}", data=table,
               caption="A representation is linearly separable for the task when DirectProbe needs exactly one "
                       "cluster per label (the dashed line); more clusters mean a more complex geometry.")
st.dataframe(table, hide_index=True, width="stretch")
ui.paper_beside(sel.task, sel.model, ["n_clusters", "is_linear", "train_test_similarity"])
