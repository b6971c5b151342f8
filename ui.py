"""Streamlit glue shared by every page: the store, the URL-synced sidebar, presentation mode, figure display.

Pages stay thin: they read a :class:`Selection`, call ``analysis`` through the cached wrappers
here and hand the resulting figures to :func:`show_figure`.
"""
from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analysis import access as rights
from analysis import catalog, figures, jobs, paper, views
from analysis.colors import label_colors
from analysis.config import PROJECT_ROOT, data_dir, store_dir
from analysis.store import Entry, Store

PRESENT = "present"
EXPORT = "export"
REPORT = "report_items"
NO_RUN = "pre-trained"
TOKEN = "operator_token"
OWNER = "_owner"


# ---------------------------------------------------------------- store access (cached)

def store() -> Store:
    """The store the dashboard reads ($FTGEO_STORE or cache/)."""
    return _store(str(store_dir()))


@st.cache_resource
def _store(root: str) -> Store:
    return Store(root)


_generations: dict[str, tuple[int, int]] = {}


def refresh_listings() -> None:
    """Drop the cached store listings as soon as an entry lands or leaves, so a finished job shows at once.

    The listings also expire after a few seconds, which covers what changes outside the entries folder
    (a run's record during training).
    """
    current = store()
    generation = current.generation()
    if _generations.get(str(current.root)) != generation:
        _generations[str(current.root)] = generation
        for listing in LISTINGS:
            listing.clear()


@st.cache_data(ttl=3, show_spinner=False)
def studies(root: str) -> pd.DataFrame:
    """The (model, task) pairs the store holds; refreshed every few seconds so finished jobs show up."""
    return catalog.studies(Store(root))


@st.cache_data(ttl=3, show_spinner=False)
def study_summary(root: str) -> pd.DataFrame:
    return views.study_summary(Store(root))


@st.cache_data(ttl=3, show_spinner=False)
def entry_table(root: str) -> pd.DataFrame:
    return catalog.store_table(Store(root))


@st.cache_data(ttl=3, show_spinner=False)
def stored_studies(root: str) -> pd.DataFrame:
    from analysis.study import list_studies

    return list_studies(Store(root))


@st.cache_data(show_spinner="Checking the paper's findings…", max_entries=16)
def study_findings(root: str, key: str) -> pd.DataFrame:
    """The paper's findings against one stored study (entries never change: cached for good)."""
    from analysis.findings import study_findings

    return study_findings(Store(root), key)


@st.cache_data(ttl=3, show_spinner=False)
def study_runs(root: str, model: str, task: str) -> pd.DataFrame:
    runs = catalog.study_runs(Store(root), model, task)
    return runs.assign(label=[catalog.run_label(r) for _, r in runs.iterrows()])


@st.cache_data(ttl=3, show_spinner=False)
def finished_runs(root: str) -> pd.DataFrame:
    """Model and task of every finished fine-tuning run (the sidebar opens on one of them)."""
    from analysis.finetune import list_runs

    runs = list_runs(Store(root))
    return runs[runs["status"] == "done"][["model", "task"]]


@st.cache_data(ttl=3, show_spinner=False)
def snapshot_splits(root: str, run: str, task: str) -> list[str]:
    from analysis.finetune import run_snapshots

    snaps = run_snapshots(Store(root), run)
    return sorted(set(snaps[snaps["task"] == task]["split"])) or ["test"]


@st.cache_data(ttl=3, show_spinner=False)
def snapshot_steps(root: str, run: str, task: str, split: str) -> pd.DataFrame:
    return catalog.snapshot_steps(Store(root), run, task, split)


@st.cache_data(show_spinner="Reading targets…", max_entries=8)
def targets(root: str, key: str) -> pd.DataFrame:
    """Label, word and sentence of every target of an embed entry (entries never change: cached for good)."""
    return catalog.targets_table(Store(root)[key])


@st.cache_data(show_spinner="Projecting…", max_entries=16)
def projection(root: str, key: str, layer: int, method: str, dims: int) -> pd.DataFrame:
    """x, y[, z] of every target of one layer, from the memory-mapped store array."""
    from analysis.embed import representation

    X, _ = representation(Store(root)[key], layer)
    coords = figures.project(X, method, dims)
    return pd.DataFrame(coords, columns=["x", "y", "z"][: coords.shape[1]])


# ---------------------------------------------------------------- selection in the sidebar, synced with the URL

@dataclass(frozen=True)
class Selection:
    """What the sidebar picked: a study (model, task, split), a run and snapshot, a layer, and the entry they name."""

    model: str
    task: str
    split: str
    layer: int
    entry: Entry
    run: str = NO_RUN
    step: int | None = None
    steps: pd.DataFrame | None = None

    @property
    def label_names(self) -> list[str]:
        return list(self.entry.summary.get("label_names", []))

    @property
    def colors(self) -> dict[str, str]:
        return label_colors(self.label_names)

    @property
    def model_short(self) -> str:
        return short_name(self.model)

    @property
    def slug(self) -> str:
        """A short name for files: model-task-split[-step]-layer."""
        step = f"-s{self.step}" if self.step is not None else ""
        return f"{self.model_short}-{self.task}-{self.split}{step}-L{self.layer:02d}"

    @property
    def where(self) -> str:
        """A caption-ready description of the view."""
        state = f", update {self.step}" if self.step is not None else ", pre-trained"
        return f"{self.model_short} · {self.task}/{self.split}{state}"


def short_name(model: str) -> str:
    """A model's name for display: a hub id or a local folder's last part."""
    return model.rstrip("/").split("/")[-1]


def synced(widget: Callable[..., Any], label: str, key: str, options: Sequence[Any], default: Any = None,
           **kwargs: Any) -> Any:
    """A selection widget whose value starts from the URL (``?key=value``) and is written back to it.

    Without a valid URL value it starts at ``default`` (else the first option), and follows the default
    as the store changes (a run finishing, a first study landing) until the user picks a value.
    """
    options = list(options)
    as_text = [str(o) for o in options]
    fallback = default if default in options else options[0]
    current, following = st.session_state.get(key), st.session_state.get(_FOLLOWING.format(key), False)
    if current not in options or (following and current != fallback):
        wanted = st.query_params.get(key)
        chosen = current not in options and wanted in as_text and not following
        st.session_state[key] = options[as_text.index(wanted)] if chosen else fallback
        st.session_state[_FOLLOWING.format(key)] = not chosen
    value = widget(label, options, key=key, on_change=_picked, args=(key,), **kwargs)
    st.query_params[key] = str(value)
    return value


_FOLLOWING = "_follows_default_{}"


def _picked(key: str) -> None:
    """The user changed widget ``key``: it keeps their choice from now on."""
    st.session_state[_FOLLOWING.format(key)] = False


def synced_flag(label: str, key: str, **kwargs: Any) -> bool:
    """A toggle whose state is ``?key=1`` in the URL."""
    if key not in st.session_state:
        st.session_state[key] = st.query_params.get(key) == "1"
    value = st.toggle(label, key=key, **kwargs)
    if value:
        st.query_params[key] = "1"
    elif key in st.query_params:
        del st.query_params[key]
    return value


def sidebar_selection() -> Selection | None:
    """The study pickers (only what the store holds is offered); ``None`` when the store has no study.

    Without choices in the URL, the first view is a finished run's last snapshot at the last layer: what
    fine-tuning made, not the pre-trained model's embedding layer.
    """
    root = str(store().root)
    table = studies(root)
    if table.empty:
        return None
    with st.sidebar:
        st.markdown("##### Study")
        tuned = finished_runs(root)
        models = sorted(table["model"].unique())
        tuned_models = set(tuned["model"])
        model = synced(st.selectbox, "Model", "model", models, format_func=short_name,
                       default=next((m for m in models if m in tuned_models), None),
                       help="Models with stored representations (a local folder shows as its last part).")
        tasks = table[table["model"] == model]
        task_names = sorted(tasks["task"].unique())
        tuned_tasks = set(tuned[tuned["model"] == model]["task"])
        task = synced(st.selectbox, "Task", "task", task_names,
                      default=next((t for t in task_names if t in tuned_tasks), None))
        runs = study_runs(root, model, task)
        labels = {NO_RUN: "pre-trained (no fine-tuning)"} | dict(zip(runs["run"], runs["label"]))
        first = runs.sort_values("status", key=lambda s: s != "done", kind="stable")["run"]  # finished runs first
        run = synced(st.selectbox, "Fine-tuning run", "run", list(labels), format_func=labels.get,
                     default=first.iloc[0] if len(first) else NO_RUN,
                     help="Runs of this model on this task in the store; start more from Runs.")
        if run != NO_RUN:
            status = runs.set_index("run").loc[run]
            if status.get("under_trained") is True:
                st.caption(f":material/warning: Under-trained: its test accuracy ({status['test_accuracy']:.3f}) stays "
                           f"below an MLP probe on the original model's last layer ({status['probe_baseline']:.3f}), "
                           "so its geometry says little about fine-tuning.")
            if status["status"] != "done":
                st.caption(f":material/hourglass_top: This run is {status['status']} (update {status['step']} of {status['total_steps']}); "
                           "its snapshots appear as they are stored.")
        if run == NO_RUN:
            splits = tasks[tasks["task"] == task]["splits"].iloc[0].split(", ")
        else:
            splits = snapshot_splits(root, run, task)
        split = synced(st.selectbox, "Split", "split", _ordered_splits(splits))
        steps = None if run == NO_RUN else snapshot_steps(root, run, task, split)
        found = catalog.find_embed(store(), model, task, split) if steps is None else None
        step = None
        if steps is not None and len(steps):
            choices = [int(x) for x in steps["step"]]
            step = int(synced(st.select_slider, "Snapshot (update)", "step", choices, default=choices[-1],
                              help="Training update of the snapshot; 0 is the model before fine-tuning."))
            found = store()[steps.set_index("step").loc[step, "entry"]]
        if found is None:
            st.warning("Nothing stored for this choice yet.")
            return None
        n_layers = int(found.summary["n_layers"])
        layer = synced(st.select_slider, "Layer", "layer", list(range(n_layers)), default=n_layers - 1,
                       help="0 = embedding layer")
    return Selection(model=model, task=task, split=split, layer=int(layer), entry=found, run=run, step=step,
                     steps=steps)


def selection() -> Selection | None:
    """The sidebar's selection for this run (set by ``app.py`` before the page runs)."""
    return st.session_state.get("_selection")


def _ordered_splits(splits: Sequence[str]) -> list[str]:
    rank = {"train": 0, "dev": 1, "test": 2}
    return sorted(splits, key=lambda s: (rank.get(s, 9), s))


# ---------------------------------------------------------------- presentation mode and chrome

PRESENTATION_CSS = """
<style>
div[data-testid="stToolbar"], div[data-testid="stDecoration"], div[data-testid="stStatusWidget"],
span[data-testid="stMainMenu"], footer { display: none !important; }
.block-container { padding-top: 1.5rem !important; }
.stMarkdown p, .stMarkdown li, .stCaption, label p { font-size: 1.25rem !important; }
h1 { font-size: 2.6rem !important; } h2 { font-size: 2rem !important; } h3 { font-size: 1.6rem !important; }
.present-hide { display: none; }
</style>
"""

BASE_CSS = """
<style>
.block-container { padding-top: 2.2rem; max-width: 1500px; }
div[data-testid="stSidebarHeader"] { padding-bottom: 0; }
</style>
"""


def presentation() -> bool:
    return bool(st.session_state.get(PRESENT))


# ---------------------------------------------------------------- who may do what (decided by analysis.access)

def server_address() -> str | None:
    """The address the server listens on (``server.address``; unset: every interface)."""
    return st.get_option("server.address")


def access() -> rights.Access:
    """This session's rights: viewer (read-only), user (its own jobs) or operator."""
    return rights.decide(server_address(), rights.viewer_flag(sys.argv[1:], os.environ),
                         os.environ.get(rights.TOKEN_ENV), st.session_state.get(TOKEN))


def can_start() -> bool:
    """Whether this browser session may start work (every Start and "Compute it" control asks)."""
    return access().can_start


def visible(text: str) -> str:
    """``text`` as the current browser session may read it: a viewer does not see the server's folders
    (:func:`analysis.access.hide_paths`; the store, the project, the data folder and the home folder
    go by name)."""
    if can_start():
        return text
    named = {str(store().root): "<store>", str(PROJECT_ROOT): "<project>", str(Path.home()): "~"}
    if (data := data_dir()) is not None:
        named[str(data)] = "<data>"
    return rights.hide_paths(text, named)


def session_owner() -> str:
    """A random token naming this browser session as the owner of the jobs it starts."""
    return st.session_state.setdefault(OWNER, uuid.uuid4().hex)


def access_controls() -> None:
    """The operator-token field (when a token is configured) and a note in viewer mode, in the sidebar."""
    explicit_viewer = rights.viewer_flag(sys.argv[1:], os.environ)
    if os.environ.get(rights.TOKEN_ENV) and not explicit_viewer:
        st.text_input("Operator token", type="password", key=TOKEN,
                      help="Operators may start and cancel work; without the token this browser session only views.")
    mode = access()
    if mode.token_accepted:
        st.caption(":material/admin_panel_settings: Operator")
    elif not mode.can_start:
        st.caption(":material/visibility: Viewer mode: browse, export and build reports; nothing can be started, "
                   "cancelled or deleted from here.")


def chrome_controls() -> None:
    """Presentation toggle, export format and access controls in the sidebar; the page CSS to match."""
    with st.sidebar:
        st.divider()
        access_controls()
        synced_flag("Presentation mode", PRESENT, help="Large type, no debugging chrome, for projecting.")
        if not presentation():
            synced(st.radio, "Figure download format", EXPORT, ["png", "svg"], horizontal=True,
                   help="What the camera icon above each figure saves (Plotly's own export).")
    st.markdown(PRESENTATION_CSS if presentation() else BASE_CSS, unsafe_allow_html=True)


# ---------------------------------------------------------------- figures

def show_figure(fig: go.Figure, name: str, data: pd.DataFrame | None = None, caption: str = "",
                height: int | None = None) -> None:
    """Draw a figure with PNG/SVG export in its modebar, its data as CSV and an "Add to report" button."""
    figures.style(fig, presentation(), height)
    fmt = st.session_state.get(EXPORT, "png")
    st.plotly_chart(fig, config=figures.export_config(name, fmt), key=f"fig-{name}")
    if caption:
        st.caption(caption)
    if presentation():
        return
    row = st.container(horizontal=True)
    if data is not None:
        row.download_button("Data (CSV)", data=lambda: data.to_csv(index=False), file_name=f"{name}.csv",
                             mime="text/csv", on_click="ignore", key=f"csv-{name}", icon=":material/download:")
    row.button("Add to report", key=f"report-{name}", icon=":material/note_add:", on_click=add_to_report,
               args=(fig, fig.layout.title.text or name, caption))


def add_to_report(fig: go.Figure, title: str, caption: str) -> None:
    """Serialise the figure into the session's report (only when clicked, never on every rerun)."""
    items = st.session_state.setdefault(REPORT, [])
    items.append({"id": uuid.uuid4().hex[:8], "title": title, "caption": caption, "figure": fig.to_json()})
    st.toast(f"Added “{title}” to the report ({len(items)} figures)", icon=":material/note_add:")


# ---------------------------------------------------------------- jobs and missing inputs

def start_job(args: list[str], name: str) -> jobs.Job | None:
    """Start ``python -m analysis <args>`` as this browser session's job (nothing in viewer mode)."""
    job = _launch(lambda: jobs.start(store(), args, name, owner=session_owner()))
    if job is not None:
        st.toast(f"Started: {name}", icon=":material/play_arrow:")
    return job


def call_job(target: str, kwargs: dict[str, Any], name: str) -> jobs.Job | None:
    """Run an analysis function as this browser session's background job (nothing in viewer mode)."""
    return _launch(lambda: jobs.call(store(), target, kwargs, name, owner=session_owner()))


def _launch(start: Callable[[], jobs.Job]) -> jobs.Job | None:
    """Start a job unless this browser session is a viewer or the job is refused; say why not."""
    if not can_start():
        st.error("Viewer mode: nothing can be started from this browser session.", icon=":material/visibility:")
        return None
    try:
        return start()
    except jobs.JobError as exc:
        st.error(f"Not started: {exc}", icon=":material/block:")
        return None


def cancel_job(job_id: str) -> None:
    """Cancel a job if this browser session may: its own, or any for an operator."""
    mode = access()
    try:
        job = jobs.get(store(), job_id)
        if not mode.can_cancel(job.owner, session_owner()):
            raise jobs.JobError("only the session that started this job, or an operator, may cancel it")
        jobs.cancel(store(), job_id, owner=None if mode.role == rights.OPERATOR else session_owner())
    except jobs.JobError as exc:
        st.toast(f"Not cancelled: {exc}", icon=":material/block:")


def unreadable_jobs_warning(broken: list[Path]) -> None:
    """A warning per job folder whose records cannot be read (:attr:`jobs.JobListing.broken`; they
    are skipped everywhere else)."""
    for folder in broken:
        st.warning(visible(f"Unreadable job record `{folder}`: it is corrupt or not this project's and is ignored."),
                   icon=":material/warning:")


def read_only_note() -> None:
    st.caption(":material/visibility: Viewer mode: an operator can compute this (from **Runs** or this page).")


def offer_computation(what: str, args: list[str], key: str) -> None:
    """The "not computed yet" state: what is missing and a one-click background computation."""
    st.info(f"**Not computed yet:** {what}", icon=":material/hourglass_empty:")
    name = " ".join(args)
    mine = [j for j in jobs.list_jobs(store()) if j.name == name]
    running = [j for j in mine if j.active]
    if mine and mine[0].state == jobs.FAILED:
        st.error(f"The last attempt failed: {last_line(mine[0])}", icon=":material/error:")
    if running:
        st.caption(f"Running now (job {running[0].id}); see **Runs** for progress.")
    elif args[0] not in cli_commands():
        st.caption(f"`python -m analysis {args[0]}` is not available in this version yet.")
    elif not can_start():
        read_only_note()
    elif st.button(f"Compute it: `python -m analysis {' '.join(args)}`", key=key, icon=":material/play_arrow:"):
        if start_job(args, name):
            st.rerun()


def need_study(selection: Selection | None) -> Selection:
    """Stop the page with a pointer to the Overview when no study is stored yet."""
    if selection is None and st.session_state.get("_sidebar_failed"):
        st.info("The study pickers could not read the store (see the sidebar); the **Overview** lists what is "
                "unreadable.", icon=":material/info:")
        st.stop()
    if selection is None:
        st.info("Nothing is stored yet. Open **Overview** to compute a first study.", icon=":material/info:")
        st.stop()
    return selection


@st.cache_resource
def cli_commands() -> frozenset[str]:
    """The sub-commands ``python -m analysis`` offers in this version (the Runs page starts only those)."""
    from analysis.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return frozenset(sub.choices)


def need_run(sel: Selection, what: str) -> None:
    """Stop the page with a one-click fine-tuning run when no run is selected (or none exists)."""
    if sel.run != NO_RUN and sel.steps is not None and len(sel.steps):
        return
    runs = study_runs(str(store().root), sel.model, sel.task)
    if len(runs):
        st.info(f"Pick a fine-tuning run in the sidebar to see {what}.", icon=":material/arrow_back:")
    else:
        offer_computation(f"{what} needs a fine-tuning run of {sel.model_short} on {sel.task} with snapshots.",
                          ["finetune", "--model", sel.model, "--task", sel.task, "--snapshot-every", "50"],
                          "compute-finetune")
    st.stop()


@st.cache_data(show_spinner="Computing centroid paths…", max_entries=32)
def centroid_paths(root: str, run: str, task: str, split: str, steps: pd.DataFrame,
                   layer: int) -> views.Paths:
    return views.centroid_paths(Store(root), steps, layer, run, task, split)


@st.cache_data(show_spinner="Computing centroid shifts…", max_entries=32)
def centroid_shift(root: str, run: str, task: str, split: str, steps: pd.DataFrame, upto: int,
                   layer: int) -> pd.DataFrame:
    return views.centroid_shift(Store(root), steps, upto, layer, run, task, split)


def distance_dynamics(root: str, run: str, task: str, split: str, steps: pd.DataFrame,
                      layer: int) -> pd.DataFrame | None:
    """Minimum distances over a run's snapshots, read once for each set of stored DirectProbe results."""
    missing = missing_directprobe(root, tuple(steps["entry"]), (int(layer),))
    return _distance_dynamics(root, run, task, split, steps, layer, tuple(missing))


@st.cache_data(show_spinner="Reading distances…", max_entries=32)
def _distance_dynamics(root: str, run: str, task: str, split: str, steps: pd.DataFrame, layer: int,
                       missing: tuple[tuple[str, int], ...]) -> pd.DataFrame | None:
    return views.distance_dynamics(Store(root), steps, layer, run, task, split)


@st.cache_data(show_spinner=False, max_entries=32)
def label_distances(root: str, entry: str, layer: int) -> np.ndarray:
    return views.label_distances(Store(root), entry, layer)


@st.cache_data(ttl=3, show_spinner=False)
def layer_similarity(root: str, run: str, task: str, split: str) -> pd.DataFrame | None:
    return views.layer_similarity(Store(root), run, task, split)


def paper_beside(task: str, model: str, measures: Sequence[str]) -> None:
    """The paper's Table-7 values of ``measures`` for this task, one row per paper model (last layer), in an
    expander beside our figure; nothing for a task the paper does not report."""
    parts = [paper.published(task, m).set_index("model").add_prefix(f"{paper.MEASURES[m]}, ") for m in measures]
    if parts[0].empty:
        return
    table = pd.concat(parts, axis=1).reset_index()
    ours = paper.paper_model(model)
    with st.expander(f"The paper's values: {paper.PAPER_TASKS[task]}, last layer (Table 7)"):
        st.dataframe(table, hide_index=True, width="stretch")
        st.caption(f"{paper.CITATION}, Table 7; probe accuracy as a fraction. "
                   + (f"This study's model is the paper's **{ours}**." if ours else
                      f"The paper did not run {short_name(model)}: compare trends, not values."))


def last_line(job: jobs.Job) -> str:
    """The last line a job printed (its error message when it failed)."""
    lines = job.log_tail(2000).strip().splitlines()
    return visible(lines[-1]) if lines else "(no output)"


def job_name(target: str, kwargs: dict[str, Any]) -> str:
    """The name a background analysis job is listed under (also how a page finds its own job)."""
    return f"{target.split(':')[-1]} {' '.join(str(v) for v in kwargs.values())}"[:160]


def offer_job(what: str, target: str, kwargs: dict[str, Any], key: str) -> None:
    """The "not computed yet" state for an analysis function run as a background job."""
    st.info(f"**Not computed yet:** {what}", icon=":material/hourglass_empty:")
    name = job_name(target, kwargs)
    mine = [j for j in jobs.list_jobs(store()) if j.name == name]
    running = [j for j in mine if j.active]
    failed = [j for j in mine if j.state == jobs.FAILED]
    if failed and not running:
        st.error(f"The last attempt failed: {last_line(failed[0])}", icon=":material/error:")
    if running:
        st.fragment(_poll_job, run_every=2)(running[0].id)
    elif not can_start():
        read_only_note()
    elif st.button("Compute it in the background", key=key, icon=":material/play_arrow:"):
        if call_job(target, kwargs, name):
            st.rerun()


@st.cache_data(ttl=3, show_spinner=False)
def clusters(root: str, entry: str, layer: int) -> tuple[list[str], list[str], list[str]] | None:
    return views.clusters(Store(root), entry, layer)


@st.cache_data(ttl=3, show_spinner=False)
def missing_directprobe(root: str, entries: tuple[str, ...], layers: tuple[int, ...]) -> list[tuple[str, int]]:
    return views.missing_directprobe(Store(root), list(entries), list(layers))


def need_directprobe(what: str, entries: Sequence[str], layers: Sequence[int], key: str, stop: bool = True) -> None:
    """Offer the DirectProbe runs a page needs in the background, unless all are stored; and stop the page
    there (unless ``stop`` is false: the page draws what it has)."""
    root = str(store().root)
    missing = missing_directprobe(root, tuple(entries), tuple(int(l) for l in layers))
    if not missing:
        return
    todo_entries = sorted({e for e, _ in missing}, key=list(entries).index)
    todo_layers = sorted({l for _, l in missing})
    target, kwargs = "analysis.views:directprobe_layers", {"entries": todo_entries, "layers": todo_layers}
    failed = [j for j in jobs.list_jobs(store()) if j.name == job_name(target, kwargs) and j.state == jobs.FAILED]
    if failed and len(missing) < len(entries) * len(layers):
        st.warning(f"DirectProbe could not be computed for layer(s) {', '.join(map(str, todo_layers))}; they are "
                   f"left out below. Last message: {last_line(failed[0])}", icon=":material/warning:")
        return
    offer_job(f"{what} needs DirectProbe on {len(missing)} representation/layer pair(s) (layers "
              f"{', '.join(map(str, todo_layers))}); each takes seconds to minutes depending on its size.",
              target, kwargs, key)
    if stop:
        st.stop()


def follow_job(job: jobs.Job) -> None:
    """Live progress of a running job; the whole page reruns as each of its results lands, and when it ends."""
    st.fragment(_poll_job, run_every=2)(job.id, True)


def _poll_job(job_id: str, follow_results: bool = False) -> None:
    """Live progress of a job this page waits for; the whole page reruns when it ends (and, when following
    results, whenever an entry has landed since the page was drawn)."""
    job = jobs.get(store(), job_id)
    landed = follow_results and store().generation() != _generations.get(str(store().root))
    if not job.active or landed:
        st.rerun()
    fraction = job.progress()
    st.progress(fraction or 0.0, text=f"{visible(job.name)}: {fraction or 0:.0%} (job {job.id}; see **Runs**)")


def ensure_app() -> None:
    """Make sure this page runs inside ``app.py`` (navigation, sidebar); every page calls it first.

    Streamlit decides once per server process, when the first session starts, whether the app is
    an old-style multipage app: it is if a ``pages/`` folder sits beside the main script, until
    some run calls ``st.navigation``. Every session whose first run begins before that runs in
    the old mode, where a URL such as ``/linearity`` executes ``pages/linearity.py`` on its own,
    under a navigation of every file in ``pages/`` (plus ``app`` itself). So the check is per run:
    if ``app.py`` is among the registered pages, ``st.navigation`` has not run in this run; switch
    the old mode off and rerun, which goes through ``app.py`` to the same page and query string.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    main = Path(ctx.pages_manager.main_script_path).resolve()
    if any(p.get("script_path") and Path(p["script_path"]).resolve() == main
           for p in ctx.pages_manager.get_pages().values()):
        PagesManager.uses_pages_directory = False
        st.rerun()


LISTINGS = (studies, stored_studies, finished_runs, study_summary, entry_table, study_runs, snapshot_splits, snapshot_steps, layer_similarity,
            clusters, missing_directprobe)
"""The cached store listings that :func:`refresh_listings` drops when an entry lands."""
