"""Compare: two views side by side (two layers, snapshots, splits, models or tasks) with shared axes and scales."""
import streamlit as st

import ui
from analysis import catalog
from analysis.colors import label_colors
from analysis.figures import FlatError, embedding_figure, shared_ranges

ui.ensure_app()

sel = ui.need_study(ui.selection())
store = ui.store()
root = str(store.root)
st.title("Compare", anchor=False)
table = ui.studies(root)
alternatives = {
    "layer": list(range(int(sel.entry.summary["n_layers"]))),
    "snapshot": [] if sel.steps is None else [int(s) for s in sel.steps["step"]],
    "model": sorted(table[table.task == sel.task]["model"].unique()) if sel.step is None else [],
    "task": sorted(table[table.model == sel.model]["task"].unique()) if sel.step is None else [],
}
choices = [k for k, v in alternatives.items() if len(v) > 1]
if not choices:
    st.info("Only one layer is stored for this study; store another model, task or run to compare.")
    st.stop()
c1, c2, c3 = st.columns(3)
with c1:
    vary = ui.synced(st.radio, "Compare two", "vary", choices, horizontal=True)
current = {"layer": sel.layer, "snapshot": sel.step, "model": sel.model, "task": sel.task}[vary]
with c2:
    others = [v for v in alternatives[vary] if v != current]
    other = ui.synced(st.selectbox, f"Other {vary}", f"other_{vary}", others, default=others[-1])
with c3:
    method = ui.synced(st.radio, "Projection", "proj", ["pca", "umap"], horizontal=True, format_func=str.upper)

layer = other if vary == "layer" else sel.layer
if vary == "snapshot":
    right_entry = store[sel.steps.set_index("step").loc[other, "entry"]]
elif vary in ("model", "task"):
    pick = {"model": sel.model, "task": sel.task} | {vary: other}
    right_entry = catalog.find_embed(store, pick["model"], pick["task"], sel.split)
else:
    right_entry = sel.entry
if right_entry is None:
    st.warning(f"No stored {sel.split} representations for {vary} {other}.")
    st.stop()
layer = min(layer, int(right_entry.summary["n_layers"]) - 1)


def describe(entry, layer: int) -> str:
    s = entry.summary
    step = f" · update {s['step']}" if s.get("step") is not None else ""
    return f"{s['model'].rstrip('/').split('/')[-1]} · {s['task']}/{s['split']}{step} · layer {layer}"


views = [(sel.entry, sel.layer), (right_entry, layer)]
try:
    points = [ui.projection(root, e.key, lay, method, 2).join(ui.targets(root, e.key)) for e, lay in views]
except FlatError as exc:
    st.info(f"**Nothing to compare:** {ui.visible(str(exc))}. Pick another layer or snapshot.", icon=":material/blur_off:")
    st.stop()
figs = [embedding_figure(p, label_colors(e.summary["label_names"]), "label", describe(e, lay))
        for p, (e, lay) in zip(points, views)]
shared_ranges(figs, points)
for column, fig, p, (e, lay) in zip(st.columns(2), figs, points, views):
    with column:
        name = describe(e, lay).replace(" · ", "-").replace("/", "-").replace(" ", "")
        ui.show_figure(fig, f"compare-{name}-{method}", data=p, height=620)
