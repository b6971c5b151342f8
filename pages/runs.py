"""Runs: start extraction, DirectProbe, fine-tuning or a whole study in the background; live progress, logs, cancel."""
import shlex
import time

import streamlit as st

import ui
from analysis import catalog, jobs
from analysis.access import check_model, model_roots
from analysis.config import dashboard_model, scheduler_address
from analysis.limits import max_workers
from analysis.tasks import TASKS, task_splits

ui.ensure_app()

store = ui.store()
st.title("Runs", anchor=False)
st.caption("Jobs run as separate processes: they keep going when this page is closed, and never block other "
           "sessions. Results land in the store and appear on the other pages when done.")

available = ui.cli_commands()
known_models = sorted({dashboard_model(), *ui.studies(str(store.root))["model"]})
mode = ui.access()


def study_fields(prefix: str) -> tuple[str | None, str]:
    """Model and task pickers; the model is ``None`` (with the reason shown) unless the browser may name it."""
    left, right = st.columns(2)
    typed_before = st.session_state.get(f"{prefix}-model")  # a typed name stays among the options
    options = known_models + [typed_before] if typed_before and typed_before not in known_models else known_models
    typed = left.selectbox("Model (name, local folder or hub id)", options, key=f"{prefix}-model",
                           accept_new_options=True,
                           help="A local folder must lie under the data folder, the store or $FTGEO_MODEL_ROOTS.")
    task = right.selectbox("Task", [t for t in TASKS if t != "custom"], key=f"{prefix}-task")
    try:
        model = check_model(typed or "", model_roots(store.root), known=known_models)
    except ValueError as exc:
        left.error(str(exc), icon=":material/block:")
        model = None
    return model, task


def start_button(command: str, args: list[str] | None, name: str, key: str) -> None:
    """The command line to be run and its Start button (``args`` is ``None`` while a field is invalid)."""
    if command not in available:
        st.caption(f"`python -m analysis {command}` is not available in this version yet.")
        return
    if args is None:
        return
    st.code(f"python -m analysis {shlex.join(args)}", language="bash")
    if st.button("Start", key=key, type="primary", icon=":material/play_arrow:"):
        ui.start_job(args, name)


if not mode.can_start:
    st.info("Viewer mode: jobs are listed below; starting or cancelling work needs an operator.",
            icon=":material/visibility:")
else:
    tabs = st.tabs(["Representations", "DirectProbe", "Fine-tuning", "Whole study"])
    with tabs[0]:
        model, task = study_fields("embed")
        split = st.radio("Split", task_splits(task), horizontal=True, key="embed-split")
        start_button("embed", model and ["embed", "--model", model, "--task", task, "--split", split],
                     f"embed {model} {task}/{split}", "start-embed")
    with tabs[1]:
        stored = ui.studies(str(store.root))
        if stored.empty:
            st.caption("DirectProbe runs on stored representations; compute some first.")
        else:
            left, right = st.columns(2)
            study = left.selectbox("Stored study", [f"{m} · {t}" for m, t in zip(stored["model"], stored["task"])],
                                   key="dp-study")
            model, task = study.split(" · ")
            runs = ui.study_runs(str(store.root), model, task)
            labels = {ui.NO_RUN: "pre-trained representations"} | {r: f"every snapshot of {lab}" for r, lab in
                                                                    zip(runs["run"], runs["label"])}
            source = right.selectbox("Of", list(labels), format_func=labels.get, key="dp-source")
            split = st.radio("Split", ["test", "train", "dev"], horizontal=True, key="dp-split")
            if source == ui.NO_RUN:
                found = catalog.find_embed(store, model, task, split)
                entries = [found.key] if found else []
            else:
                entries = list(ui.snapshot_steps(str(store.root), source, task, split)["entry"])
            if not entries:
                st.caption(f"No stored {split} representations for this choice.")
            else:
                n_layers = int(store[entries[0]].summary["n_layers"])
                st.caption(f"{len(entries)} representation(s) × {n_layers} layers; stored results are skipped.")
                if st.button("Start", key="start-dp", type="primary", icon=":material/play_arrow:"):
                    if ui.call_job("analysis.views:directprobe_layers",
                                   {"entries": entries, "layers": list(range(n_layers))},
                                   f"DirectProbe {model} {task}/{split}"):
                        st.toast("Started: DirectProbe", icon=":material/play_arrow:")
    with tabs[2]:
        model, task = study_fields("ft")
        left, right = st.columns(2)
        seed = left.number_input("Seed", 0, 2**32 - 1, 1, key="ft-seed", help="as --seed (default 1, as the CLI's)")
        lr = right.number_input("Learning rate", 1e-7, 1.0, 2e-5, step=1e-5, format="%.0e", key="ft-lr",
                                help="peak learning rate: 2e-5 is BERT's usual rate; 3e-4 is the paper's (and the "
                                     "paper and first presets'), which small tasks such as PS-role need with the "
                                     "default model")
        start_button("finetune", model and ["finetune", "--model", model, "--task", task, "--seed", str(int(seed)),
                                            "--lr", f"{lr:g}"],
                     f"finetune {model} {task} seed {seed} lr {lr:g}", "start-ft")
    with tabs[3]:
        model, task = study_fields("study")
        left, right = st.columns(2)
        preset = left.radio("Preset", ["default", "first", "quick", "paper"], horizontal=True, key="study-preset",
                            help="first: the welcome study (minutes); quick: a smoke test of a few updates; "
                                 "paper: every table and figure of the paper")
        seeds = right.text_input("Seeds", "1", key="study-seeds", help="e.g. 1-5 or 1,3,5").strip()
        scheduler = scheduler_address()
        places = {"local": "this machine"} | ({"cluster": f"the Dask scheduler at {scheduler}"} if scheduler else {})
        where = left.radio("Run on", list(places), format_func=places.get, horizontal=True, key="study-where",
                           help="The scheduler is the server's $FTGEO_SCHEDULER; its workers must see this store.")
        if where == "cluster":
            placement = ["--scheduler", scheduler]
        else:
            placement = ["--workers", str(right.number_input("Local workers", 1, max_workers(), 1, key="study-workers",
                                                             help="Dask worker processes on this machine"))]
        start_button("study", model and ["study", "--model", model, "--task", task, "--preset", preset,
                                         f"--seeds={seeds}", *placement],
                     f"study {model} {task} ({preset}, seeds {seeds}, {places[where]})", "start-study")


def show_job(job: jobs.Job) -> None:
    icon = {"running": ":material/hourglass_top:", "done": ":green[:material/check_circle:]",
            "failed": ":red[:material/error:]", "cancelled": ":material/stop_circle:",
            "lost": ":orange[:material/warning:]"}[job.state]
    with st.container(border=True):
        head, button = st.columns([6, 1])
        started = time.strftime("%H:%M:%S", time.localtime(job.created))
        head.markdown(f"{icon} **{ui.visible(job.name)}** · {job.state} · started {started} · {job.seconds():.0f} s")
        if job.active:
            fraction = job.progress()
            st.progress(fraction or 0.0, text=f"{fraction:.0%}" if fraction is not None else "working…")
            if mode.can_cancel(job.owner, ui.session_owner()):
                button.button("Cancel", key=f"cancel-{job.id}", on_click=ui.cancel_job, args=(job.id,),
                              icon=":material/stop:")
        elif job.state == "lost":
            st.caption("The process ended without recording how (killed, or the machine restarted).")
        with st.expander("Log", expanded=job.active or job.state == "failed"):
            st.code(ui.visible(job.log_tail()) or "(no output yet)", language=None)


def job_list(polling: bool) -> None:
    all_jobs = jobs.list_jobs(store)
    if polling and not any(j.active for j in all_jobs):
        st.rerun()  # the last job ended: redraw the whole page (and stop polling)
    if not all_jobs:
        st.caption("No jobs yet.")
    for job in all_jobs[:20]:
        show_job(job)


st.subheader("Jobs")
listing = jobs.scan(store)
ui.unreadable_jobs_warning(listing.broken)
active = any(j.active for j in listing.jobs)
st.fragment(job_list, run_every=2 if active else None)(active)
