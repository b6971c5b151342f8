"""Cross-task: how fine-tuning on one task moves the labels of another apart (task × task, Table 5)."""
import streamlit as st

import ui
from analysis import catalog, paper, views
from analysis.figures import cross_task_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title(f"Cross-task · layer {sel.layer}", anchor=False)
store = ui.store()
pairs = catalog.cross_task_pairs(store, sel.model)
others = sorted(set(pairs["analysed_task"]) - set(pairs["fine_tuned_on"]))
if pairs.empty or not others:
    ui.offer_computation(f"fine-tuning runs of {sel.model_short} whose snapshots also store other tasks' targets.",
                         ["finetune", "--model", sel.model, "--task", sel.task, "--probe-tasks",
                          ",".join(t for t in ("pos", "trec-6") if t != sel.task)], "compute-cross")
    st.stop()
entries = list(dict.fromkeys([*pairs["before"], *pairs["after"]]))
missing = {e for e, _ in ui.missing_directprobe(str(store.root), tuple(entries), (sel.layer,))}
ready = pairs[~pairs["before"].isin(missing) & ~pairs["after"].isin(missing)]
if ready.empty:
    ui.need_directprobe("The cross-task matrix", entries, [sel.layer], "compute-cross-dp")
elif missing:
    with st.expander(f"{len(pairs) - len(ready)} task pair(s) left out: no DirectProbe results at layer {sel.layer}"):
        ui.need_directprobe("The rest of the matrix", [e for e in entries if e in missing], [sel.layer],
                            "compute-cross-dp", stop=False)
table = views.cross_task(store, ready, sel.layer)
labels = {"mean_change": "mean change of the minimum distance", "n_increased": "labels moved apart",
          "n_decreased": "labels moved closer"}
value = ui.synced(st.radio, "Cell value", "cell", list(labels), horizontal=True, format_func=labels.get)
ui.show_figure(cross_task_figure(table, value, f"{sel.model_short} · layer {sel.layer}: {labels[value]}"),
               f"cross-task-{value}-{sel.model_short}-L{sel.layer:02d}", data=table,
               caption="Rows: the task fine-tuned on; columns: the task whose labels are measured (DirectProbe minimum "
                       "distances, first vs last snapshot).")
st.dataframe(table, hide_index=True, width="stretch")
if "ps-fxn" in set(table["analysed_task"]):
    with st.expander("The paper's values: BERT-base fine-tuned on each task, PS-fxn measured (Table 5)"):
        st.dataframe(paper.table5(), hide_index=True, width="stretch")
        st.caption(f"{paper.CITATION}, Table 5, last layer; an empty fine_tuned_on is the original model.")
