"""Compare: two views side by side (two layers, splits, models or tasks) with shared axes and scales."""
import streamlit as st

import ui
from analysis import catalog
from analysis.colors import label_colors
from analysis.figures import embedding_figure, shared_ranges

sel = ui.need_study(ui.selection())
store = ui.store()
root = str(store.root)
st.title("Compare", anchor=False)
table = ui.studies(root)
alternatives = {
    "layer": list(range(int(sel.entry.summary["n_layers"]))),
    "split": [s for s in table[(table.model == sel.model) & (table.task == sel.task)]["splits"].iloc[0].split(", ")],
    "model": sorted(table[table.task == sel.task]["model"].unique()),
    "task": sorted(table[table.model == sel.model]["task"].unique()),
}
choices = [k for k, v in alternatives.items() if len(v) > 1]
if not choices:
    st.info("Only one layer is stored for this study; store another model, task or split to compare.")
    st.stop()
c1, c2, c3 = st.columns(3)
with c1:
    vary = ui.synced(st.radio, "Compare two", "vary", choices, horizontal=True)
with c2:
    others = [v for v in alternatives[vary] if v != getattr(sel, vary)] or alternatives[vary]
    other = ui.synced(st.selectbox, f"Other {vary}", f"other_{vary}", others)
with c3:
    method = ui.synced(st.radio, "Projection", "proj", ["pca", "umap"], horizontal=True, format_func=str.upper)

right = {"model": sel.model, "task": sel.task, "split": sel.split, "layer": sel.layer} | {vary: other}
right_entry = catalog.find_embed(store, right["model"], right["task"], right["split"])
if right_entry is None:
    st.warning(f"{right['model']} has no stored {right['task']}/{right['split']} representations.")
    st.stop()
if not 0 <= int(right["layer"]) < int(right_entry.summary["n_layers"]):
    right["layer"] = int(right_entry.summary["n_layers"]) - 1

views = [(sel.entry, sel.layer, sel.colors), (right_entry, int(right["layer"]),
                                              label_colors(right_entry.summary["label_names"]))]
points = [ui.projection(root, e.key, layer, method, 2).join(ui.targets(root, e.key)) for e, layer, _ in views]
figs = [embedding_figure(p, colors, "label", f"{e.summary['model']} · {e.summary['task']}/{e.summary['split']} · "
                         f"layer {layer}") for p, (e, layer, colors) in zip(points, views)]
shared_ranges(figs, points)
for column, fig, p, (e, layer, _) in zip(st.columns(2), figs, points, views):
    with column:
        slug = f"{e.summary['model'].split('/')[-1]}-{e.summary['task']}-{e.summary['split']}-L{layer:02d}"
        ui.show_figure(fig, f"compare-{slug}-{method}", data=p, height=620)
