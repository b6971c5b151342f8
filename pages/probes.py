"""Probes: MLP probe accuracy per layer with error bars over seeds, original vs fine-tuned (Table 7)."""
import streamlit as st

import ui
from analysis import catalog, views
from analysis.figures import probe_figure

ui.ensure_app()

sel = ui.need_study(ui.selection())
st.title("Probes", anchor=False)
store = ui.store()
n_layers = int(sel.entry.summary["n_layers"])
if sel.run != ui.NO_RUN:
    splits = {split: catalog.snapshot_steps(store, sel.run, sel.task, split)["entry"] for split in ("train", "test")}
    if any(len(s) == 0 for s in splits.values()):
        st.info("Probes need snapshots of both the train and the test split of this run.")
        st.stop()
    states = {"original": (splits["train"].iloc[0], splits["test"].iloc[0]),
              "fine-tuned": (splits["train"].iloc[-1], splits["test"].iloc[-1])}
else:
    train, test = (catalog.find_embed(store, sel.model, sel.task, s) for s in ("train", "test"))
    if train is None or test is None:
        ui.offer_computation(f"probes need {sel.model_short}'s representations of both {sel.task} train and test.",
                             ["embed", "--model", sel.model, "--task", sel.task,
                              "--split", "train" if train is None else "test"], "compute-probe-embed")
        st.stop()
    states = {"original": (train.key, test.key)}
config = views.probe_settings(store, sel.run)
table = views.probe_table(store, states, n_layers, config)
grid = f"hidden sizes {{{', '.join(map(str, config['hidden_sizes']))}}}², {len(config['seeds'])} seeds"
complete = {int(l) for l, n in table["layer"].value_counts().items() if n == len(states)}
if missing := sorted(set(range(n_layers)) - complete):
    stored = f"; the {len(table)} stored are drawn below" if len(table) else ""
    ui.offer_job(f"MLP probes ({grid}) on {len(states)} model state(s) at layer(s) {', '.join(map(str, missing))}"
                 f"{stored}. Minutes for a small task, longer for a large one.", "analysis.views:probe_layers",
                 {"pairs": [list(p) for p in states.values()], "layers": missing, "config": config}, "compute-probes")
if table.empty:
    st.stop()
where = sel.where.split(",")[0]
ui.show_figure(probe_figure(table, f"{where}: probe accuracy per layer"), f"probes-{sel.model_short}-{sel.task}",
               data=table, caption=f"Mean test accuracy of a two-hidden-layer MLP probe ({grid}; error bars: "
                                   "standard deviation over seeds); size chosen on a dev split carved from train.")
ui.paper_beside(sel.task, sel.model, ["probe_accuracy"])
