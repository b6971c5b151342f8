"""Overview: every stored study with its summary, what is computed and what is missing; a welcome when empty."""
import streamlit as st

import ui
from analysis.config import DEFAULT_MODEL
from analysis.finetune import broken_records
from analysis.jobs import list_jobs

ui.ensure_app()

FIRST_STUDY = ["embed", "--task", "trec-6", "--split", "test"]

store = ui.store()
st.title("How fine-tuning changes BERT's representation geometry", anchor=False)
table = ui.studies(str(store.root))
running = [j for j in list_jobs(store) if j.active]
if running:
    st.info(f"{len(running)} job(s) running: {', '.join(j.name for j in running)} — see **Runs**.",
            icon=":material/hourglass_top:")

if table.empty:
    st.subheader("Welcome", anchor=False)
    st.markdown(
        "This dashboard shows how fine-tuning moves the labels of a probing task apart inside a BERT-family "
        "encoder, layer by layer and update by update (Zhou & Srikumar, ACL 2022, built on DirectProbe).\n\n"
        f"The store at `{store.root}` is empty. Start with a first study using the offline default model "
        f"**{DEFAULT_MODEL}** on the TREC-6 question classification test set — it runs in the background and "
        "takes about a minute on a laptop CPU; results appear here when it is done.")
    if not ui.can_start():
        ui.read_only_note()
    elif st.button("Compute a first study", type="primary", icon=":material/rocket_launch:", disabled=bool(running)):
        if ui.start_job(FIRST_STUDY, f"first study: {DEFAULT_MODEL} trec-6/test"):
            st.rerun()
    st.markdown("Or from a terminal: `python -m analysis embed --task trec-6 --split test`. "
                "Other models, tasks and fine-tuning runs can be started from **Runs**.")
else:
    st.subheader(f"Stored studies ({len(table)})", anchor=False)
    summary = ui.study_summary(str(store.root))
    summary = summary.assign(model=summary["model"].map(ui.short_name))
    st.dataframe(summary, hide_index=True, width="stretch", column_config={
        "n_labels": st.column_config.NumberColumn("labels"), "n_targets": st.column_config.NumberColumn("targets"),
        "n_layers": st.column_config.NumberColumn("layers"), "dim": st.column_config.NumberColumn("dim"),
        "clusters": st.column_config.TextColumn("#clusters, last layer", help="DirectProbe clusters before → after "
                                                "fine-tuning (first finished run); empty: not computed yet"),
        "probe accuracy": st.column_config.TextColumn("probe accuracy, last layer", help="before → after"),
        "DirectProbe": st.column_config.NumberColumn("DirectProbe results", help="stored (entry, layer) results"),
    })
    st.caption("Empty cells are not computed yet: open the page that needs them (Linearity, Probes, Layers) "
               "for a one-click computation, or start work from **Runs**.")
    with st.expander("Every store entry"):
        st.dataframe(ui.entry_table(str(store.root)), hide_index=True, width="stretch")

for path in store.broken():
    st.warning(f"Unreadable store entry `{path.name}` (`{path}`): its metadata is missing, corrupt or not this "
               "project's. It is ignored; remove it with `python -m analysis store rm` if it is an entry, or by "
               "hand.", icon=":material/warning:")
for path in broken_records(store):
    st.warning(f"Unreadable fine-tuning run record `{path}`: it is corrupt or incomplete and is ignored.",
               icon=":material/warning:")
