"""Overview: every stored study with its summary, what is computed and what is missing; a welcome when empty."""
import streamlit as st

import ui
from analysis import jobs
from analysis.config import dashboard_model
from analysis.finetune import broken_records

ui.ensure_app()

FIRST_TASKS = ("ps-role", "ps-fxn")
"""The welcome study fine-tunes PS-role (STREUSLE, a few hundred targets) and records PS-fxn alongside."""

VERDICT_ICONS = {"reproduced": "✅ reproduced", "not reproduced": "❌ not reproduced",
                 "not computed": "⏳ not computed", "n/a": "➖ not applicable"}


LOOK_AT = (("pages/distances.py", "Distances", ":material/straighten:"),
           ("pages/linearity.py", "Linearity", ":material/stacked_line_chart:"),
           ("pages/layers.py", "Layers", ":material/layers:"),
           ("pages/centroids.py", "Centroid paths", ":material/timeline:"))
"""The pages that show a study's evidence, linked above its findings."""


def findings_panel() -> None:
    """The paper's five findings against one stored study: whether it reproduces each, and the evidence."""
    stored = ui.stored_studies(str(store.root))
    if stored.empty:
        return
    st.subheader("The paper's findings", anchor=False)
    links = st.container(horizontal=True)
    for path, title, icon in LOOK_AT:
        links.page_link(path, label=title, icon=icon)
    names = {r.key: f"{ui.short_name(r.model)} · {r.task} · seeds {r.seeds} · {r.optimizer}" for r in
             stored.iloc[::-1].itertuples()}
    key = st.selectbox("Study", list(names), format_func=names.get, key="findings-study")
    table = ui.study_findings(str(store.root), key)
    st.dataframe(table.assign(verdict=table["verdict"].map(VERDICT_ICONS)), hide_index=True, width="stretch",
                 column_config={"number": st.column_config.NumberColumn("#", width="small"),
                                "claim": st.column_config.TextColumn("the paper's finding", width="large"),
                                "evidence": st.column_config.TextColumn("this study", width="large")})
    st.caption("Findings of Zhou & Srikumar (2022), in the paper's order, judged on the study's tables: "
               "train–test divergence (last linear layer), clusters of non-linear layers, the last layer's "
               "minimum distances, the tasks recorded alongside, and every layer's spatial similarity to the "
               "original at the last snapshot.")


store = ui.store()
st.title("How fine-tuning changes BERT's representation geometry", anchor=False)
table = ui.studies(str(store.root))
listing = jobs.scan(store)
running = [j for j in listing.jobs if j.active]
for job in running:
    ui.follow_job(job)

if table.empty:
    st.subheader("Welcome", anchor=False)
    model = dashboard_model()
    st.markdown(
        "This dashboard shows how fine-tuning moves the labels of a probing task apart inside a BERT-family "
        "encoder, layer by layer and update by update (Zhou & Srikumar, ACL 2022, built on DirectProbe).\n\n"
        f"{ui.visible(f'The store at `{store.root}`')} is empty. Start with a first study: **{ui.short_name(model)}** fine-tuned on "
        "PS-role (STREUSLE's preposition scene roles) with a snapshot at every epoch end, PS-fxn recorded "
        "alongside, then DirectProbe clusters and distances, layer similarity and probes. It runs in the "
        "background, takes about four minutes on a 2-core CPU with the default model, and the pages fill in "
        "as results land.")
    args = ["study", "--preset", "first", "--tasks", ",".join(FIRST_TASKS), "--model", model]
    if not ui.can_start():
        ui.read_only_note()
    elif st.button("Compute a first study", type="primary", icon=":material/rocket_launch:", disabled=bool(running)):
        if ui.start_job(args, f"first study: {ui.short_name(model)} {FIRST_TASKS[0]}"):
            st.rerun()
    st.markdown(f"Or from a terminal: `python -m analysis {' '.join(args)}`. "
                "Other models, tasks and fine-tuning runs can be started from **Runs**.")
else:
    st.subheader(f"Stored studies ({len(table)})", anchor=False)
    summary = ui.study_summary(str(store.root))
    summary = summary.assign(model=summary["model"].map(ui.short_name))
    st.dataframe(summary, hide_index=True, width="stretch", column_config={
        "n_labels": st.column_config.NumberColumn("labels"), "n_targets": st.column_config.NumberColumn("targets"),
        "n_layers": st.column_config.NumberColumn("layers"), "dim": st.column_config.NumberColumn("dim"),
        "run": st.column_config.TextColumn("from run", help="the finished run the numbers come from: the one with "
                                           "the most results, a study's run first"),
        "clusters": st.column_config.TextColumn("#clusters, last layer", help="DirectProbe clusters before → after "
                                                "fine-tuning; empty: not computed yet"),
        "probe accuracy": st.column_config.TextColumn("probe accuracy, last layer", help="before → after"),
        "DirectProbe": st.column_config.NumberColumn("DirectProbe results", help="stored (entry, layer) results"),
    })
    st.caption("Empty cells are not computed yet: open the page that needs them (Linearity, Probes, Layers) "
               "for a one-click computation, or start work from **Runs**.")
    findings_panel()
    with st.expander("Every store entry"):
        entries = ui.entry_table(str(store.root))
        entries["model"] = entries["model"].map(lambda model: ui.visible(model) if isinstance(model, str) else model)
        st.dataframe(entries, hide_index=True, width="stretch")

for path in store.broken():
    st.warning(ui.visible(f"Unreadable store entry `{path.name}` (`{path}`): its metadata is missing, corrupt or not "
                          "this project's. It is ignored; remove it with `python -m analysis store rm` if it is an "
                          "entry, or by hand."), icon=":material/warning:")
for path in broken_records(store):
    st.warning(ui.visible(f"Unreadable fine-tuning run record `{path}`: it is corrupt or incomplete and is ignored."),
               icon=":material/warning:")
ui.unreadable_jobs_warning(listing.broken)
