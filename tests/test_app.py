"""The dashboard through Streamlit's AppTest, on a store made by the real pipeline (tiny random BERT)."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from analysis import catalog, jobs, views
from analysis.results import find_probe
from analysis.config import PROJECT_ROOT
from analysis.finetune import SnapshotOptions, TrainOptions, finetune, list_runs
from analysis.store import Store

import ui

PAGES = ["overview", "embeddings", "linearity", "distances", "centroids", "layers", "probes", "compare",
         "cross_task", "stability", "runs", "report"]


RUN = TrainOptions(epochs=1, train_size=64, batch_size=16, lr=1e-3)
"""The options of the dashboard store's TREC-6 runs (see ``conftest.build_dashboard_store``)."""


@pytest.fixture(autouse=True)
def run_app_py_on_every_rerun(monkeypatch):
    """Work around AppTest (Streamlit 1.67): before each run it forgets that st.navigation is in use, so
    with a ``pages/`` folder every run starts in the old pages-folder mode and ``ui.ensure_app`` must
    rerun through app.py, which drops button clicks.  Keep the flag where st.navigation sets it.
    (The browser test covers ``ui.ensure_app`` on a fresh server.)"""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def a_loopback_server(monkeypatch):
    """AppTest has no server, and reads ``.streamlit/config.toml`` only from the working folder: the tests act
    as the local user of the configured loopback server (tests/test_access.py checks the configuration)."""
    monkeypatch.setattr(ui, "server_address", lambda: "127.0.0.1")


def open_app(root: Path, monkeypatch, page: str = "overview", **params: str) -> AppTest:
    """Run the app on ``root`` with the given URL query parameters, then open ``page``."""
    monkeypatch.setenv("FTGEO_STORE", str(root))
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params)
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def wait_for_job(store: Store, name: str) -> None:
    """Wait for the one background job whose name starts with ``name`` (what a page's button started)."""
    (job,) = [j for j in jobs.list_jobs(store) if j.name.startswith(name)]
    deadline = time.time() + 120
    while jobs.get(store, job.id).active and time.time() < deadline:
        time.sleep(0.2)
    assert jobs.get(store, job.id).state == jobs.DONE, jobs.get(store, job.id).log_tail()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(array) -> list:
    """A trace's coordinates, decoding Plotly's typed-array form ({dtype, bdata})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_from_a_real_store(dashboard_store, monkeypatch, page):
    at = open_app(dashboard_store.root, monkeypatch, page)
    assert_clean(at)
    assert at.title, f"{page} shows no title"


def test_sidebar_offers_only_what_is_stored(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch)
    assert at.sidebar.selectbox(key="task").options == ["pos", "ps-fxn", "ps-role", "trec-6"]
    assert at.sidebar.selectbox(key="task").value == "ps-role"  # the first task with a finished run
    assert at.sidebar.selectbox(key="run").value == a_run(dashboard_store, task="ps-role")
    at.sidebar.selectbox(key="task").set_value("pos").run()
    assert at.sidebar.selectbox(key="run").options == ["pre-trained (no fine-tuning)"]
    assert at.sidebar.selectbox(key="split").options == ["test"]
    assert at.sidebar.select_slider(key="layer").options == ["0", "1", "2"]
    assert not [w for w in at.sidebar.select_slider if w.key == "step"]
    at.sidebar.selectbox(key="task").set_value("trec-6").run()
    assert at.sidebar.selectbox(key="run").options == ["pre-trained (no fine-tuning)",
                                                       "seed 1 · adamw · 1 epoch · n=64",
                                                       "seed 1 · bertadam · 1 epoch · n=64"]


def a_run(store: Store, optimizer: str = "adamw", task: str = "trec-6") -> str:
    runs = list_runs(store)
    return runs[(runs["optimizer"] == optimizer) & (runs["task"] == task)]["run"].iloc[0]


def test_a_run_offers_its_snapshots_and_they_change_the_view(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6", run=a_run(dashboard_store),
                  split="test", layer="2")
    assert_clean(at)
    assert at.sidebar.selectbox(key="split").options == ["train", "test"]
    assert at.sidebar.select_slider(key="step").options == ["0", "2", "4"]
    assert at.query_params["step"] == "4"  # the last snapshot first
    before = values(charts(at)[0]["data"][0]["x"])
    at.sidebar.select_slider(key="step").set_value(0).run()
    assert at.query_params["step"] == "0"
    assert "update 0" in charts(at)[0]["layout"]["title"]["text"]
    assert values(charts(at)[0]["data"][0]["x"]) != before


def test_centroid_paths_replay_over_snapshots(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "centroids", task="trec-6", run=a_run(dashboard_store),
                  split="test", layer="2")
    assert_clean(at)
    paths, shifts = charts(at)
    named = [t for t in paths["data"] if t.get("name")]
    assert [t["name"] for t in named] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert len(values(named[0]["x"])) == 3  # updates 0, 2, 4
    at.select_slider(key="upto").set_value(2).run()
    assert len(values([t for t in charts(at)[0]["data"] if t.get("name")][0]["x"])) == 2
    at.multiselect(key="labels").set_value(["HUM", "LOC"]).run()
    assert [t["name"] for t in charts(at)[0]["data"] if t.get("name")] == ["HUM", "LOC"]
    assert at.query_params["labels"] == "HUM,LOC"


def test_layers_page_switches_metric(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "layers", task="ps-role", run=a_run(dashboard_store, task="ps-role"),
                  split="train")
    assert_clean(at)
    assert at.radio(key="metric").value == "spatial"  # the study stored DirectProbe on every layer
    heat = charts(at)[0]
    assert heat["data"][0]["type"] == "heatmap" and "spatial" in heat["layout"]["title"]["text"].lower()
    at.radio(key="metric").set_value("cka").run()
    assert "CKA" in charts(at)[0]["layout"]["title"]["text"]
    at.radio(key="metric").set_value("rsa").run()
    assert "RSA" in charts(at)[0]["layout"]["title"]["text"]


def test_layers_not_computed_are_computed_in_the_background(dashboard_store, monkeypatch):
    run = a_run(dashboard_store, "bertadam")
    at = open_app(dashboard_store.root, monkeypatch, "layers", task="trec-6", run=run, split="test")
    assert "Not computed yet" in at.info[0].value and not charts(at)
    at.button(key="compute-layers").click().run()
    wait_for_job(dashboard_store, "compute_layer_similarity")
    at.run()
    assert_clean(at)
    assert charts(at)[0]["data"][0]["type"] == "heatmap"
    at.radio(key="metric").set_value("spatial").run()  # no DirectProbe results for this run
    assert "DirectProbe" in at.info[0].value


def test_study_results_drive_every_analysis_page(dashboard_store, monkeypatch):
    run = a_run(dashboard_store, task="ps-role")
    params = {"task": "ps-role", "run": run, "split": "train", "layer": "2"}
    expected = {"linearity": 1, "distances": 2, "centroids": 2, "probes": 1, "cross_task": 1}
    for page, n in expected.items():
        at = open_app(dashboard_store.root, monkeypatch, page, **params)
        assert_clean(at)
        assert len(charts(at)) == n, page
    at = open_app(dashboard_store.root, monkeypatch, "probes", **params)
    assert sorted({t["name"] for t in charts(at)[0]["data"]}) == ["fine-tuned", "original"]
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", color="cluster", **params)
    assert all("·" in t["name"] for t in charts(at)[0]["data"])


def test_stability_compares_recipes(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "stability", task="trec-6")
    assert_clean(at)
    seeds, curves = charts(at)
    assert sorted(t["name"] for t in seeds["data"]) == ["adamw · 1 epoch · n=64", "bertadam · 1 epoch · n=64"]
    at.radio(key="curve").set_value("train_loss").run()
    assert "train loss" in charts(at)[1]["layout"]["title"]["text"]


def test_embeddings_widgets_change_the_view(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings")
    at.sidebar.selectbox(key="task").set_value("trec-6").run()
    at.sidebar.selectbox(key="split").set_value("test").run()
    first = charts(at)[0]
    assert {t["type"] for t in first["data"]} == {"scattergl"}
    assert sum(len(values(t["x"])) for t in first["data"]) == 499  # every target, no sampling
    assert [t["name"] for t in first["data"]][:2] == ["ABBR", "DESC"]

    assert at.title[0].value == "Embeddings · layer 2"  # the last layer first
    at.sidebar.select_slider(key="layer").set_value(1).run()
    assert at.title[0].value == "Embeddings · layer 1"
    assert values(charts(at)[0]["data"][0]["x"]) != values(first["data"][0]["x"])

    at.radio(key="dims").set_value(3).run()
    assert_clean(at)
    assert {t["type"] for t in charts(at)[0]["data"]} == {"scatter3d"}
    assert at.query_params["task"] == "trec-6" and at.query_params["layer"] == "1" and at.query_params["dims"] == "3"


def test_url_parameters_restore_a_view(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6", layer="1", dims="3")
    assert_clean(at)
    assert at.sidebar.selectbox(key="task").value == "trec-6"
    assert at.sidebar.select_slider(key="layer").value == 1
    assert at.title[0].value == "Embeddings · layer 1"
    assert {t["type"] for t in charts(at)[0]["data"]} == {"scatter3d"}


def test_a_label_keeps_its_colour_across_pages(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="pos")
    colors = {t["name"]: t["marker"]["color"] for t in charts(at)[0]["data"]}
    at.switch_page("pages/compare.py").run()
    for chart in charts(at):
        assert {t["name"]: t["marker"]["color"] for t in chart["data"]} == colors


def test_compare_two_tasks_side_by_side_with_shared_axes(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "compare", vary="task", split="test")
    assert_clean(at)
    left, right = charts(at)
    assert left["layout"]["xaxis"]["range"] == right["layout"]["xaxis"]["range"]
    assert left["layout"]["title"]["text"] != right["layout"]["title"]["text"]


def test_presentation_mode_hides_the_chrome_and_enlarges_type(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", present="1")
    assert_clean(at)
    assert not at.get("download_button") and not [b for b in at.button if b.label == "Add to report"]
    assert charts(at)[0]["layout"]["font"]["size"] == 20
    at.sidebar.toggle(key="present").set_value(False).run()
    assert "present" not in at.query_params and at.get("download_button")
    assert charts(at)[0]["layout"]["font"]["size"] == 13


def test_figures_collect_into_the_report(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings")
    button(at, "Add to report").click().run()
    at.switch_page("pages/report.py").run()
    assert_clean(at)
    titles = [t.value for t in at.text_input if t.key.startswith("title-")]
    assert len(titles) == 1 and titles[0].endswith("layer 2 · PCA")
    assert at.get("download_button")


def test_a_figure_is_serialised_for_the_report_only_when_added_and_distances_are_read_once(dashboard_store,
                                                                                           monkeypatch):
    import plotly.graph_objects as go

    from analysis import views

    calls = {"to_json": 0, "distance_dynamics": 0}
    to_json, distance_dynamics = go.Figure.to_json, views.distance_dynamics

    def counting_to_json(fig, *args, **kwargs):
        calls["to_json"] += 1
        return to_json(fig, *args, **kwargs)

    def counting_distance_dynamics(*args, **kwargs):
        calls["distance_dynamics"] += 1
        return distance_dynamics(*args, **kwargs)

    monkeypatch.setattr(go.Figure, "to_json", counting_to_json)
    monkeypatch.setattr(views, "distance_dynamics", counting_distance_dynamics)
    st.cache_data.clear()
    run = a_run(dashboard_store, task="ps-role")
    at = open_app(dashboard_store.root, monkeypatch, "distances", task="ps-role", run=run, split="train", layer="2")
    assert_clean(at)
    assert calls == {"to_json": 0, "distance_dynamics": 1}
    at.radio(key="group").set_value("most").run()
    at.run()
    assert calls == {"to_json": 0, "distance_dynamics": 1}, "reruns read the cached distances, add nothing"
    button(at, "Add to report").click().run()
    assert calls["to_json"] == 1


def test_empty_store_welcomes_and_offers_a_first_study(tmp_path, monkeypatch):
    store = Store(tmp_path / "empty")
    at = open_app(store.root, monkeypatch)
    assert_clean(at)
    assert any("Welcome" in h.value for h in at.subheader)
    button(at, "Compute a first study").click().run()
    started = jobs.list_jobs(store)
    assert len(started) == 1 and started[0].argv[3:8] == ["study", "--preset", "first", "--tasks", "ps-role,ps-fxn"]
    jobs.cancel(store, started[0].id, grace=10)
    at.switch_page("pages/embeddings.py").run()
    assert_clean(at)
    assert "Nothing is stored yet" in at.info[0].value


def test_an_unreadable_entry_gets_a_clear_message(tmp_path, monkeypatch):
    store = Store(tmp_path / "broken")
    bad = store.entries / "embed-000000000000000000000000"
    bad.mkdir(parents=True)
    (bad / "meta.json").write_text("{not json")
    at = open_app(store.root, monkeypatch)
    assert_clean(at)
    assert "Unreadable store entry" in at.warning[0].value and bad.name in at.warning[0].value


def type_model(at: AppTest, key: str, typed: str) -> None:
    """Type a new option into a selectbox that accepts them (AppTest only selects listed options)."""
    box = at.selectbox(key=key)
    box.options.append(typed)
    box.set_value(typed).run()


def test_runs_page_starts_a_background_job_and_shows_its_log(tmp_path, tiny_bert, shared_data, monkeypatch):
    store = Store(tmp_path / "runs")
    monkeypatch.setenv("FTGEO_MODEL_ROOTS", str(tiny_bert.parent))
    monkeypatch.setenv("FTGEO_DATA_DIR", str(shared_data))
    at = open_app(store.root, monkeypatch, "runs")
    assert [t.label for t in at.tabs] == ["Representations", "DirectProbe", "Fine-tuning", "Whole study"]
    type_model(at, "embed-model", str(tiny_bert))
    at.selectbox(key="embed-task").set_value("trec-6").run()
    at.radio(key="embed-split").set_value("test").run()
    at.button(key="start-embed").click().run()
    (job,) = jobs.list_jobs(store)
    assert job.argv[3:9] == ["embed", "--model", str(tiny_bert), "--task", "trec-6", "--split"]
    deadline = time.time() + 120
    while jobs.get(store, job.id).active and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    assert_clean(at)
    assert any("embed" in m.value and "done" in m.value for m in at.markdown)
    assert catalog.find_embed(store, str(tiny_bert), "trec-6", "test") is not None


def test_runs_page_refuses_a_model_folder_outside_the_allowed_roots(tmp_path, tiny_bert, monkeypatch):
    monkeypatch.delenv("FTGEO_MODEL_ROOTS", raising=False)
    at = open_app(tmp_path / "store", monkeypatch, "runs")
    for typed in (str(tiny_bert), "/etc", "../../"):
        type_model(at, "embed-model", typed)
        assert any("neither a hub name" in e.value for e in at.error)
        assert not [b for b in at.button if b.key == "start-embed"]
    assert jobs.list_jobs(Store(tmp_path / "store")) == []


def test_missing_analyses_offer_a_computation(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "linearity", task="trec-6", run=a_run(dashboard_store))
    assert "Not computed yet" in at.info[0].value


def test_directprobe_pages_offer_the_computation(dashboard_store, monkeypatch):
    run = a_run(dashboard_store)
    for page in ("linearity", "distances"):
        at = open_app(dashboard_store.root, monkeypatch, page, task="trec-6", run=run, split="test")
        assert_clean(at)
        assert "needs DirectProbe" in at.info[0].value
        assert [b for b in at.button if b.key == f"compute-{page}"]
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6")
    assert at.radio(key="color").options == ["label"] and at.button(key="compute-clusters")


def test_cross_task_page_draws_the_pairs_with_results_and_offers_the_rest(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "cross_task", task="trec-6", layer="2")
    assert_clean(at)
    (matrix,) = charts(at)
    assert list(matrix["data"][0]["x"]) == ["ps-fxn", "ps-role"] and list(matrix["data"][0]["y"]) == ["ps-role"]
    assert "needs DirectProbe" in at.info[0].value and at.button(key="compute-cross-dp")  # the TREC-6 runs


@pytest.mark.slow
def test_cross_task_page_finds_probe_task_snapshots(dashboard_store, tiny_bert, shared_data, tmp_path, monkeypatch):
    store = Store(tmp_path / "copy")
    shutil.copytree(dashboard_store.root, store.root)
    finetune("trec-6", str(tiny_bert), seed=2, options=RUN, snapshots=SnapshotOptions(every=2, probe_tasks=("pos",)),
             store=store, data_dir=shared_data)
    pairs = catalog.cross_task_pairs(store, list_runs(store)["model"].iloc[0])
    trec = pairs[pairs["fine_tuned_on"] == "trec-6"]
    assert sorted(zip(trec["fine_tuned_on"], trec["analysed_task"])) == [("trec-6", "pos"), ("trec-6", "trec-6")]
    at = open_app(store.root, monkeypatch, "cross_task", task="trec-6", layer="2")
    assert_clean(at)
    assert "needs DirectProbe" in at.info[0].value


def test_probes_page_offers_the_computation(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "probes", task="trec-6", run=a_run(dashboard_store))
    assert_clean(at)
    assert "MLP probes" in at.info[0].value and at.button(key="compute-probes")


def test_probes_page_draws_the_stored_layers_and_offers_the_rest_with_the_studys_settings(dashboard_store, tmp_path,
                                                                                          monkeypatch):
    store = Store(tmp_path / "copy")
    shutil.copytree(dashboard_store.root, store.root)
    run = a_run(store, task="ps-role")
    config = views.probe_settings(store, run)
    assert config == {"hidden_sizes": [32], "seeds": [0, 1], "max_epochs": 3}  # the study's, not the defaults
    splits = [catalog.snapshot_steps(store, run, "ps-role", s)["entry"] for s in ("train", "test")]
    for train, test in [(splits[0].iloc[0], splits[1].iloc[0]), (splits[0].iloc[-1], splits[1].iloc[-1])]:
        for layer in (0, 1):  # as if the study had probed the last layer only (the paper preset does)
            store.delete(find_probe(store, train, test, layer, config).key)
    at = open_app(store.root, monkeypatch, "probes", task="ps-role", run=run)
    assert_clean(at)
    (chart,) = charts(at)
    assert sorted(t["name"] for t in chart["data"]) == ["fine-tuned", "original"]
    assert all(values(t["x"]) == [2] for t in chart["data"])
    offer = at.info[0].value
    assert "layer(s) 0, 1;" in offer and "hidden sizes {32}², 2 seeds" in offer
    at.button(key="compute-probes").click().run()
    wait_for_job(store, "probe_layers")
    at.run()
    assert_clean(at)
    assert not at.info and all(values(charts(at)[0]["data"][i]["x"]) == [0, 1, 2] for i in (0, 1))
    assert find_probe(store, splits[0].iloc[0], splits[1].iloc[0], 0, config) is not None  # with the study's settings


@pytest.mark.slow
def test_directprobe_results_drive_linearity_distances_and_clusters(dashboard_store, monkeypatch):
    run = a_run(dashboard_store)
    steps = catalog.snapshot_steps(dashboard_store, run, "trec-6", "test")
    views.directprobe_layers(dashboard_store, list(steps["entry"]), [2])
    views.directprobe_layers(dashboard_store, [steps["entry"].iloc[0], steps["entry"].iloc[-1]], [1])
    at = open_app(dashboard_store.root, monkeypatch, "distances", task="trec-6", run=run, split="test", layer="2")
    assert_clean(at)
    lines, heat = charts(at)
    assert len(lines["data"]) == 6 and heat["data"][0]["type"] == "heatmap"
    at.radio(key="group").set_value("most").run()
    assert len(charts(at)[0]["data"]) == 3
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6", run=run, split="test", layer="2",
                  step="4", color="cluster")
    assert_clean(at)
    assert all("·" in t["name"] for t in charts(at)[0]["data"])
    at = open_app(dashboard_store.root, monkeypatch, "linearity", task="trec-6", run=run, split="test")
    assert_clean(at)  # layer 0 (a constant [CLS] vector) is missing: a warning or an offer, never an error


def test_a_failed_computation_says_why(tmp_path, monkeypatch):
    store = Store(tmp_path / "nodata")
    missing = tmp_path / "missing" / "TREC_10.label"
    job = jobs.start(store, ["embed", "--task", "trec-6", "--split", "test", "-o", f'files={{"test": "{missing}"}}'],
                     "embed a missing data set")
    deadline = time.time() + 60
    while jobs.get(store, job.id).active and time.time() < deadline:
        time.sleep(0.2)
    at = open_app(store.root, monkeypatch, "runs")
    assert_clean(at)
    assert any("failed" in m.value for m in at.markdown)
    assert any(f"error: {missing}: no such file" in c.value for c in at.code)


@pytest.mark.slow
def test_umap_projection(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6", proj="umap", layer="2")
    assert_clean(at)
    assert sum(len(values(t["x"])) for t in charts(at)[0]["data"]) == 499


@pytest.mark.slow
def test_probes_page_with_stored_probes(dashboard_store, tmp_path, monkeypatch):
    run = a_run(dashboard_store)
    train = catalog.snapshot_steps(dashboard_store, run, "trec-6", "train")["entry"]
    test = catalog.snapshot_steps(dashboard_store, run, "trec-6", "test")["entry"]
    views.probe_layers(dashboard_store, [[train.iloc[0], test.iloc[0]], [train.iloc[-1], test.iloc[-1]]],
                           [0, 1, 2])
    at = open_app(dashboard_store.root, monkeypatch, "probes", task="trec-6", run=run)
    assert_clean(at)
    assert sorted(t["name"] for t in charts(at)[0]["data"]) == ["fine-tuned", "original"]


def frame_with(at: AppTest, column: str):
    (table,) = [d.value for d in at.dataframe if column in d.value.columns]
    return table


def test_paper_values_shown_equal_the_published_csv(dashboard_store, monkeypatch, shared_data):
    import pandas as pd

    published = pd.read_csv(shared_data.parent / "paper" / "zhou2022_table7.csv")
    published = published[published["task"] == "PS-role"].set_index(["model", "state"])
    params = {"task": "ps-role", "run": a_run(dashboard_store, task="ps-role"), "split": "train"}
    at = open_app(dashboard_store.root, monkeypatch, "probes", **params)
    assert_clean(at)
    shown = frame_with(at, "MLP probe accuracy, original").set_index("model")
    assert list(shown.index) == ["bert-tiny", "bert-mini", "bert-small", "bert-medium", "bert-base"]
    for model, row in shown.iterrows():
        for state in ("original", "fine-tuned"):
            assert row[f"MLP probe accuracy, {state}"] * 100 == pytest.approx(published.loc[(model, state),
                                                                                           "probe_accuracy"])
    at = open_app(dashboard_store.root, monkeypatch, "linearity", **params)
    shown = frame_with(at, "DirectProbe clusters, original").set_index("model")
    for model, row in shown.iterrows():
        for state in ("original", "fine-tuned"):
            expected = published.loc[(model, state)]
            assert row[f"DirectProbe clusters, {state}"] == expected["n_clusters"]
            assert row[f"linear, {state}"] == (expected["is_linear"] == "Y")
            similarity = row[f"train–test spatial similarity, {state}"]
            assert similarity == expected["train_test_similarity"] or (np.isnan(similarity) and
                                                                       np.isnan(expected["train_test_similarity"]))


def test_overview_judges_the_papers_findings_on_a_study(dashboard_store, monkeypatch):
    from analysis.study import list_studies, study_table

    at = open_app(dashboard_store.root, monkeypatch)
    assert_clean(at)
    findings = frame_with(at, "claim")
    assert findings["number"].tolist() == [1, 2, 3, 4, 5]
    # finding 3 from the study's own minimum-distance table: the mean over labels, first vs last snapshot
    dynamics = study_table(dashboard_store, list_studies(dashboard_store)["key"].iloc[0], "dynamics")
    per_step = dynamics.groupby("step")["min_distance"].mean()
    third = findings.iloc[2]
    assert f"{per_step.iloc[0]:.3f} → {per_step.iloc[-1]:.3f}" in third["evidence"]
    assert third["verdict"] == ("❌ not reproduced" if per_step.iloc[-1] <= per_step.iloc[0] else "✅ reproduced")
    assert findings.iloc[3]["evidence"].startswith("ps-role → ps-fxn")


def test_a_layer_whose_points_coincide_is_described_not_drawn(dashboard_store, monkeypatch):
    at = open_app(dashboard_store.root, monkeypatch, "embeddings", task="trec-6", split="test", layer="0")
    assert_clean(at)
    assert not charts(at)
    assert "Nothing to draw at layer 0" in at.info[0].value and "coincide" in at.info[0].value


def tree_digest(root: Path) -> str:
    """A hash of every path, file content and modification time under ``root`` (to tell that nothing changed)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes() + str(path.stat().st_mtime_ns).encode())
    return h.hexdigest()


WORK_CONTROLS = ("Start", "Cancel", "Compute", "Delete", "Stop")


def work_controls(at: AppTest) -> list[str]:
    """Labels of every button that could start, cancel or delete something."""
    return [b.label for b in at.button if any(word in b.label for word in WORK_CONTROLS)]


def visit_every_page(root: Path, monkeypatch, views: list[dict[str, str]]) -> dict[str, list[str]]:
    """Open every page under every sidebar choice in ``views``; the work controls each showed."""
    seen = {}
    for params in views:
        for page in PAGES:
            at = open_app(root, monkeypatch, page, **params)
            assert not at.exception, (page, params, [e.message for e in at.exception])
            assert at.title, f"{page} shows no title"
            seen[f"{page} {params}"] = work_controls(at) + [t.label for t in at.tabs]
    return seen


@pytest.mark.parametrize("switch", ["environment", "argument", "network address"])
def test_viewer_mode_offers_no_work_anywhere_and_leaves_the_store_unchanged(dashboard_store, tmp_path, monkeypatch,
                                                                          switch):
    root = tmp_path / "store"
    shutil.copytree(dashboard_store.root, root)
    store = Store(root)
    busy = jobs.launch(store, [sys.executable, "-c", "import time; time.sleep(300)"], "someone's long job")
    wait_for = time.time() + 30
    while jobs.get(store, busy.id).process is None and time.time() < wait_for:
        time.sleep(0.1)
    if switch == "environment":
        monkeypatch.setenv("FTGEO_VIEWER", "1")
    elif switch == "argument":
        monkeypatch.setattr(sys, "argv", ["app.py", "--viewer"])
    else:
        monkeypatch.setattr(ui, "server_address", lambda: "0.0.0.0")
    before = tree_digest(root)
    try:
        run = a_run(store)
        seen = visit_every_page(root, monkeypatch, [{}, {"task": "trec-6", "run": run, "split": "test"}])
        assert not any(seen.values()), {k: v for k, v in seen.items() if v}
        at = open_app(root, monkeypatch, "embeddings", present="1")  # presentation mode works for viewers
        assert not at.exception and charts(at)
        at = open_app(root, monkeypatch, "runs")
        assert any("someone's long job" in m.value for m in at.markdown)
        assert tree_digest(root) == before
    finally:
        jobs.cancel(store, busy.id, grace=10)


def test_an_operator_token_turns_a_network_viewer_into_an_operator(dashboard_store, monkeypatch):
    monkeypatch.setattr(ui, "server_address", lambda: "0.0.0.0")
    monkeypatch.setenv("FTGEO_TOKEN", "correct horse")
    at = open_app(dashboard_store.root, monkeypatch, "runs")
    assert not at.tabs and "Viewer mode" in at.info[0].value
    at.sidebar.text_input(key="operator_token").input("wrong").run()
    assert not at.tabs
    at.sidebar.text_input(key="operator_token").input("correct horse").run()
    assert [t.label for t in at.tabs][0] == "Representations"
    assert any("Operator" in c.value for c in at.sidebar.caption)


def test_a_corrupt_or_foreign_record_is_listed_and_breaks_no_other_page(dashboard_store, tmp_path, monkeypatch):
    root = tmp_path / "store"
    shutil.copytree(dashboard_store.root, root)
    store = Store(root)
    pos = catalog.find_embed(store, next(iter(catalog.studies(store)["model"])), "pos", "test")
    (pos.path / "meta.json").write_text("[1, 2, 3]")  # valid JSON, not an object
    record = root / "work" / a_run(store, "bertadam") / "run.json"
    record.write_text(json.dumps({k: v for k, v in json.loads(record.read_text()).items() if k != "task"}))
    trec = catalog.find_embed(store, pos.summary["model"], "trec-6", "test")
    (trec.path / "labels.npy").write_bytes(b"")  # a zero-byte array
    job = root / "work" / "jobs" / "20261206-120000-abcdef"  # a job record that is JSON but not an object
    job.mkdir(parents=True)
    (job / "job.json").write_text("[1]")
    assert list_runs(store)["optimizer"].tolist() == ["adamw", "adamw"]  # the trec-6 and the ps-role run
    at = open_app(root, monkeypatch)
    assert_clean(at)
    warnings = " ".join(w.value for w in at.warning)
    assert str(pos.path) in warnings and str(record) in warnings and str(job) in warnings
    for page in PAGES:
        for params in ({}, {"task": "trec-6", "run": a_run(store), "split": "test"}):
            at = open_app(root, monkeypatch, page, **params)
            assert not at.exception, (page, [e.message for e in at.exception])
            for error in at.error:  # only a view of the emptied array fails, and says which file
                assert "StoreError" in error.value and "labels.npy" in error.value, (page, error.value)
    at = open_app(root, monkeypatch, "embeddings", task="trec-6", run="pre-trained")
    assert "the file is empty" in at.error[0].value


def test_a_session_cancels_only_its_own_jobs_unless_operator(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    monkeypatch.setenv("FTGEO_TOKEN", "correct horse")  # on loopback: sessions without it are users
    sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
    theirs = jobs.launch(store, sleep, "their job", owner="another-session")
    mine = jobs.launch(store, sleep, "my job", owner="this-session")
    try:
        for job in (theirs, mine):
            deadline = time.time() + 30
            while jobs.get(store, job.id).process is None and time.time() < deadline:
                time.sleep(0.1)
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
        monkeypatch.setenv("FTGEO_STORE", str(store.root))
        at.session_state["_owner"] = "this-session"
        at.run()
        at.switch_page("pages/runs.py").run()
        assert [b.key for b in at.button if b.label == "Cancel"] == [f"cancel-{mine.id}"]
        at.button(key=f"cancel-{mine.id}").click().run()
        assert jobs.get(store, mine.id).state == jobs.CANCELLED and jobs.get(store, theirs.id).active
        at.sidebar.text_input(key="operator_token").input("correct horse").run()
        assert [b.key for b in at.button if b.label == "Cancel"] == [f"cancel-{theirs.id}"]
    finally:
        for job in (theirs, mine):
            jobs.cancel(store, job.id, grace=10)


def test_a_record_lacking_what_readers_need_is_listed_and_other_studies_still_show(dashboard_store, tmp_path,
                                                                                     monkeypatch):
    root = tmp_path / "store"
    shutil.copytree(dashboard_store.root, root)
    store = Store(root)
    pos = catalog.find_embed(store, next(iter(catalog.studies(store)["model"])), "pos", "test")
    meta = json.loads((pos.path / "meta.json").read_text())
    del meta["summary"]["n_layers"]  # well-formed JSON, but not what this version writes
    (pos.path / "meta.json").write_text(json.dumps(meta))
    at = open_app(root, monkeypatch)
    assert_clean(at)
    assert any(str(pos.path) in w.value for w in at.warning)
    assert "pos" not in at.sidebar.selectbox(key="task").options
    for page in PAGES:
        assert not open_app(root, monkeypatch, page).exception, page


def test_a_failing_sidebar_leaves_every_page_working(dashboard_store, monkeypatch):
    def broken_sidebar():
        raise KeyError("n_layers")

    monkeypatch.setattr(ui, "sidebar_selection", broken_sidebar)
    for page in PAGES:
        at = open_app(dashboard_store.root, monkeypatch, page)
        assert not at.exception, page
        assert "could not be drawn" in at.sidebar.error[0].value and "n_layers" in at.sidebar.error[0].value
    assert open_app(dashboard_store.root, monkeypatch).title  # the Overview draws its table
    assert "could not read the store" in open_app(dashboard_store.root, monkeypatch, "embeddings").info[0].value


def test_runs_page_sends_a_study_to_the_configured_scheduler(tmp_path, tiny_bert, shared_data, monkeypatch):
    from distributed import LocalCluster

    from analysis.study import list_studies

    store = Store(tmp_path / "store")
    monkeypatch.setenv("FTGEO_MODEL_ROOTS", str(tiny_bert.parent))
    monkeypatch.setenv("FTGEO_DATA_DIR", str(shared_data))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        monkeypatch.setenv("FTGEO_SCHEDULER", cluster.scheduler_address)
        at = open_app(store.root, monkeypatch, "runs")
        type_model(at, "study-model", str(tiny_bert))
        at.selectbox(key="study-task").set_value("ps-role").run()
        at.radio(key="study-preset").set_value("quick").run()
        assert at.radio(key="study-where").options == ["this machine", f"the Dask scheduler at {cluster.scheduler_address}"]
        at.radio(key="study-where").set_value("cluster").run()
        at.button(key="start-study").click().run()
        (job,) = jobs.list_jobs(store)
        assert job.argv[-4:-2] == ["--scheduler", cluster.scheduler_address]
        deadline = time.time() + 300
        while jobs.get(store, job.id).active and time.time() < deadline:
            time.sleep(0.5)
        assert jobs.get(store, job.id).state == jobs.DONE, jobs.get(store, job.id).log_tail()
        assert cluster.scheduler_address in jobs.get(store, job.id).log_tail(20_000)
    assert list_studies(store)["task"].tolist() == ["ps-role"]


def test_a_viewer_reads_messages_without_the_servers_folders(dashboard_store, tmp_path, monkeypatch):
    """Errors, warnings and the store's table name entries and models, but a viewer sees the store's
    folder as ``<store>`` and no other server path; the operator on loopback sees the full paths."""
    root = tmp_path / "store"
    shutil.copytree(dashboard_store.root, root)

    def models(at: AppTest) -> list[str]:  # the model column of the Overview's tables
        return [str(m) for frame in at.dataframe if "model" in frame.value for m in frame.value["model"]]

    assert any(m.startswith("/tmp") for m in models(open_app(root, monkeypatch)))  # a local model folder
    bad = root / "entries" / "embed-000000000000000000000000"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    for array in root.glob("entries/*/layer_*.npy"):
        array.unlink()  # no layer can be read: the Embeddings page cannot draw
    at = open_app(root, monkeypatch, "embeddings")
    assert str(root) in at.error[0].value  # the operator's message
    monkeypatch.setenv("FTGEO_VIEWER", "1")
    for page, messages in (("overview", "warning"), ("embeddings", "error")):
        shown = [m.value for m in getattr(open_app(root, monkeypatch, page), messages)]
        assert shown and all("/tmp" not in m and str(tmp_path) not in m for m in shown), shown
        assert any("<store>/entries/" in m for m in shown), shown
    intact = tmp_path / "intact"  # where the Overview draws its tables
    shutil.copytree(dashboard_store.root, intact)
    seen = models(open_app(intact, monkeypatch))
    assert seen and not any("/tmp" in m for m in seen), seen


def test_the_fine_tuning_tab_starts_from_the_clis_seed_and_takes_a_learning_rate(tmp_path, tiny_bert, monkeypatch):
    monkeypatch.setenv("FTGEO_MODEL_ROOTS", str(tiny_bert.parent))
    at = open_app(tmp_path / "store", monkeypatch, "runs")
    type_model(at, "ft-model", str(tiny_bert))
    at.selectbox(key="ft-task").set_value("ps-role").run()
    assert any(c.value.endswith("--task ps-role --seed 1 --lr 2e-05") for c in at.code)
    at.number_input(key="ft-lr").set_value(3e-4).run()
    at.number_input(key="ft-seed").set_value(123456789).run()
    assert any(c.value.endswith("--task ps-role --seed 123456789 --lr 0.0003") for c in at.code)
