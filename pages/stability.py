"""Stability: results across seeds per recipe (BERTAdam vs AdamW, re-initialised layers, longer training)."""
import streamlit as st

import ui
from analysis import catalog
from analysis.figures import curves_figure, seed_points_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
store = ui.store()
st.title("Stability across seeds", anchor=False)
table = catalog.seed_table(store, sel.model, sel.task)
if table.empty:
    ui.offer_computation(f"fine-tuning runs of {sel.model_short} on {sel.task} over several seeds.",
                         ["finetune", "--model", sel.model, "--task", sel.task, "--seeds", "1-5"], "compute-seeds")
    st.stop()
summary = table.groupby("recipe").agg(seeds=("seed", "count"), mean=("test_accuracy", "mean"),
                                      std=("test_accuracy", "std"), failed=("failed", "sum")).reset_index()
st.dataframe(summary, hide_index=True, width="stretch",
             column_config={"mean": st.column_config.NumberColumn(format="%.3f"),
                            "std": st.column_config.NumberColumn(format="%.3f")})
where = f"{sel.model_short} · {sel.task}"
ui.show_figure(seed_points_figure(table, f"{where}: final test accuracy per seed"), f"stability-seeds-{sel.model_short}-{sel.task}",
               data=table, caption="Each dot is one seed; a run fails when it ends at or below the majority-class "
                                   "baseline (Zhang et al., 2021).")
curves = catalog.training_curves(store, sel.model, sel.task)
value = ui.synced(st.radio, "Curve", "curve", ["test_accuracy", "train_loss"], horizontal=True,
                  format_func=lambda v: v.replace("_", " "))
ui.show_figure(curves_figure(curves, value, f"{where}: {value.replace('_', ' ')} during fine-tuning"),
               f"stability-curves-{value}-{sel.model_short}-{sel.task}", data=curves)
