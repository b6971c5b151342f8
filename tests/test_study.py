"""A whole study of a tiny random BERT on real STREUSLE data: end to end, served from the store, resumable."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.finetune import SnapshotOptions, TrainOptions
from analysis.study import ProbeConfig, StudySpec, list_studies, run_study, study_table

STEPS = 6


def spec_for(model: str, shared_data, seeds=(1, 2), probe_tasks=("ps-fxn",)) -> StudySpec:
    return StudySpec(task="ps-role", model=model, seeds=seeds, data_dir=str(shared_data),
                     train=TrainOptions(steps=STEPS, batch_size=32, lr=1e-3),
                     snapshots=SnapshotOptions(every=3, epochs=0, probe_tasks=probe_tasks),
                     probes=ProbeConfig(hidden_sizes=(32,), seeds=(0, 1), max_epochs=3))


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_bert, shared_data):
    from analysis.store import Store

    store = Store(tmp_path_factory.mktemp("study") / "store")
    messages: list[str] = []
    entry = run_study(spec_for(str(tiny_bert), shared_data), store, report=lambda m, p: messages.append(m))
    return store, entry, messages


def test_study_tables_cover_every_layer_snapshot_and_seed(study):
    store, entry, _ = study
    n_layers = entry.summary["n_layers"]
    assert n_layers == 3 and entry.summary["task"] == "ps-role"
    assert list_studies(store)["key"].tolist() == [entry.key]

    linearity = study_table(store, entry.key, "linearity")
    assert sorted(linearity["layer"].unique()) == list(range(n_layers))
    assert set(linearity["seed"]) == {1, 2}
    assert (linearity["n_clusters_original"] >= linearity["n_labels"]).all()
    # the original model is shared by both seeds: identical cluster counts
    by_seed = linearity.pivot(index="layer", columns="seed", values="n_clusters_original")
    assert (by_seed[1] == by_seed[2]).all()

    dynamics = study_table(store, entry.key, "dynamics")
    assert sorted(dynamics["step"].unique()) == [0, 3, STEPS]
    assert dynamics["min_distance"].notna().any()

    paths = study_table(store, entry.key, "trajectories")
    start = paths[paths["step"] == 0].set_index(["seed", "label"])[["pc1", "pc2"]]
    assert len(start) > 0 and paths["step"].nunique() == 3

    layers = study_table(store, entry.key, "layers")
    at_start = layers[(layers["step"] == 0) & layers["metric"].isin(["cka", "rsa"])]
    np.testing.assert_allclose(at_start["value"], 1.0, atol=1e-6)
    assert set(layers["layer"]) == set(range(n_layers))

    cross = study_table(store, entry.key, "cross_task")
    assert set(cross["analysed_task"]) == {"ps-fxn"}
    counts = cross[["n_increased", "n_decreased", "n_unchanged", "n_undefined"]].sum(axis=1)
    assert (counts == cross["n_labels"]).all()

    probes = study_table(store, entry.key, "probes")
    main = probes[probes["task"] == "ps-role"]
    assert set(main["model_state"]) == {"original", "fine-tuned"}
    assert main["mean"].between(0, 1).all()

    spread = study_table(store, entry.key, "seed_spread")
    assert spread["n_seeds"].tolist() == [2]


def test_the_tables_read_each_stored_directprobe_result_once(study, monkeypatch):
    from analysis.directprobe import DirectProbeResult
    from analysis.finetune import list_runs
    from analysis.study import snapshot_table, study_tables

    store, entry, _ = study
    runs = list_runs(store)
    runs = runs[runs["task"] == "ps-role"].sort_values("seed")["run"].tolist()
    read: list[str] = []
    load = DirectProbeResult.load.__func__
    monkeypatch.setattr(DirectProbeResult, "load", classmethod(lambda cls, found, *a, **k: (read.append(found.key),
                                                                                           load(cls, found, *a, **k))[1]))
    tables = study_tables(store, spec_for("unused", None), runs, snapshot_table(store, runs))
    assert len(read) == len(set(read)) == len(tables["directprobe"][["entry", "layer"]].drop_duplicates()) > 0
    assert tables["linearity"].equals(study_table(store, entry.key, "linearity"))


def test_directprobe_steps_checked_against_the_previous_snapshot_match_a_run_from_scratch(study):
    from analysis.directprobe import directprobe
    from analysis.directprobe.result import ARRAYS
    from analysis.embed import representation

    store, _, _ = study
    reused = 0
    for found in store.ls("directprobe"):
        stats = found.json("directprobe")["stats"]
        reused += stats["label_pairs_reused"]
        X, y = representation(store[found.summary["entry"]], found.summary["layer"])
        cold = directprobe(np.asarray(X, dtype=np.float64), y, n_labels=len(found.summary["label_names"]))
        for name in ARRAYS:
            np.testing.assert_array_equal(np.asarray(found.array(name)), getattr(cold, name), err_msg=name)
    assert reused > 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30), d=st.integers(1, 8), labels=st.integers(2, 5))
def test_the_input_digest_tells_apart_exactly_the_inputs_that_cluster_differently(seed, n, d, labels):
    from analysis.results import input_digest

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, labels, size=n)
    digest = input_digest(X, y, labels)
    # The same points however they are held: another memory order, labels of another integer type.
    assert input_digest(np.asfortranarray(X), y.astype(np.int32), labels) == digest
    nudged = X.copy()
    i, j = rng.integers(n), rng.integers(d)
    nudged[i, j] = np.nextafter(X[i, j], np.float32(np.inf))
    relabelled = y.copy()
    relabelled[0] = (y[0] + 1) % labels
    different = [
        (nudged, y, labels),  # one coordinate one float step off
        (X, relabelled, labels),
        (X, y, labels + 1),  # one more label name
        (X.astype(np.float16), y, labels),  # stored at another precision
        (X.view(np.int32), y, labels),  # the same bytes read as another type
        (X.reshape(d, n), y, labels) if n != d else None,  # the same bytes as other points
    ]
    for args in filter(None, different):
        assert input_digest(*args) != digest


def test_layers_identical_to_one_already_clustered_are_copied_and_equal_a_run_from_scratch(tmp_path, tiny_bert,
                                                                                            shared_data, monkeypatch):
    """Re-initialising the top layer leaves the layers below it at update 0 bit-identical for every
    seed: each is clustered once, the other seeds' results are copies equal to a fresh run."""
    import dataclasses
    import json
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    from analysis.directprobe import directprobe
    from analysis.directprobe.result import ARRAYS
    from analysis.embed import representation
    from analysis.results import input_key, compute_directprobe, directprobe_key
    from analysis.store import Store

    store = Store(tmp_path / "store")
    spec = dataclasses.replace(spec_for(str(tiny_bert), shared_data, probe_tasks=()),
                               train=TrainOptions(steps=3, batch_size=32, lr=1e-3, reinit_layers=1),
                               probes=ProbeConfig(layers="none"))
    messages: list[str] = []
    run_study(spec, store, report=lambda message, progress: messages.append(message))
    found = store.ls("directprobe")
    copies = [e for e in found if e.summary["copied_from"]]
    assert sum("copied from an identical layer" in m for m in messages) == len(copies)
    layers = {e.summary["layer"] for e in copies}
    assert copies and layers <= {0, 1} and 0 in layers  # the re-initialised layer 2 differs by seed
    for copy in copies:
        twin = store[copy.summary["copied_from"]]
        assert twin.summary["copied_from"] is None and twin.key != copy.key
        assert twin.summary["input_digest"] == copy.summary["input_digest"]
        X, y = representation(store[copy.summary["entry"]], copy.summary["layer"])
        cold = directprobe(np.asarray(X, dtype=np.float64), y, n_labels=len(copy.summary["label_names"]))
        for name in ARRAYS:
            np.testing.assert_array_equal(np.asarray(copy.array(name)), getattr(cold, name), err_msg=name)

    # The original model's own representations (an embed entry, not a snapshot) are the same points too.
    cmd = [sys.executable, "-m", "analysis", "directprobe", "--model", str(tiny_bert), "--task", "ps-role",
           "--split", "train", "--layer", "0", "--json", "--store", str(store.root), "--data-dir", str(shared_data),
           "--device", "cpu"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert out["copied_from"] in {e.key for e in found if e.summary["layer"] == 0} and not out["hit"]
    assert "a copy of" in subprocess.run(cmd[:cmd.index("--json")] + cmd[cmd.index("--json") + 1:],
                                         capture_output=True, text=True, check=True).stdout

    # A copy whose original has gone is clustered afresh, to the same result.
    copy = copies[0]
    twin = store[copy.summary["copied_from"]]
    entry, layer, digest = copy.summary["entry"], copy.summary["layer"], copy.summary["input_digest"]
    copied = {name: np.asarray(copy.array(name, mmap=False)) for name in ARRAYS}
    store.delete(twin.key)
    store.delete(copy.key)
    key = compute_directprobe(store, entry, layer)
    assert key == directprobe_key(entry, layer) and store[key].summary["copied_from"] is None
    for name in ARRAYS:
        np.testing.assert_array_equal(np.asarray(store[key].array(name)), copied[name], err_msg=name)
    # ... and becomes the result its points are found by, which the store listing shows.
    assert store[input_key(digest)].summary["result"] == key
    listing = subprocess.run([sys.executable, "-m", "analysis", "store", "ls", "--store", str(store.root)],
                             capture_output=True, text=True, check=True).stdout
    assert f"{input_key(digest)}" in listing and f"result={key}" in listing
    still = [e for e in store.ls("directprobe") if e.summary["copied_from"]]
    assert still and all(f"copied_from={e.summary['copied_from']}" in listing for e in still)

    # Two processes on the same points at once: one clusters them, the other waits and copies.
    import analysis.results

    real = analysis.results.directprobe

    def slow(*args, **kwargs):
        time.sleep(0.5)  # long enough for the other to reach the digest
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis.results, "directprobe", slow)
    store.delete(key)
    pairs = [(entry, layer), (twin.summary["entry"], layer)]
    told: dict[str, list[str]] = {entry: [] for entry, _ in pairs}
    with ThreadPoolExecutor(2) as pool:
        keys = list(pool.map(lambda pair: compute_directprobe(store, *pair, waiting=told[pair[0]].append), pairs))
    copied = [bool(store[k].summary["copied_from"]) for k in keys]
    assert sorted(copied) == [False, True]
    # The one that copies said so before waiting; the other had nothing to wait for.
    copier, clusterer = pairs[copied.index(True)][0], pairs[copied.index(False)][0]
    assert len(told[copier]) == 1 and told[copier][0].startswith("waiting for another process clustering the same")
    assert told[copier][0].endswith(f"layer {layer}, to copy its result") and told[clusterer] == []


def test_second_run_is_served_from_the_store(study, tiny_bert, shared_data, monkeypatch):
    import transformers

    store, entry, _ = study

    def no_model(*args, **kwargs):
        raise AssertionError("a stored study must not load a model")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", no_model)
    again = run_study(spec_for(str(tiny_bert), shared_data), store)
    assert again.key == entry.key


def test_interrupted_study_resumes_without_redoing_stored_steps(tmp_path, tiny_bert, shared_data):
    from analysis.store import Store

    store = Store(tmp_path / "store")
    spec = spec_for(str(tiny_bert), shared_data, seeds=(1,), probe_tasks=())

    class Stop(Exception):
        pass

    done = []

    def interrupt(message, progress):
        if message.startswith("done: DirectProbe"):
            done.append(message)
            if len(done) == 3:
                raise Stop

    with pytest.raises(Stop):
        run_study(spec, store, report=interrupt)
    assert store.ls("study") == []
    messages: list[str] = []
    entry = run_study(spec, store, report=lambda m, p: messages.append(m))
    skipped = [m for m in messages if m.endswith("steps already stored")]
    assert int(skipped[-1].split()[0]) >= 3, skipped
    assert not any(m in messages for m in done), "stored steps are not run again"
    assert entry.kind == "study"


def test_study_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    from analysis.cli import main

    assert main(["study", "--store", str(tmp_path)]) == 2
    assert "give --task or --tasks" in capsys.readouterr().err
    assert main(["study", "--tasks", "pos,nope", "--store", str(tmp_path)]) == 2
    assert "unknown task(s) nope" in capsys.readouterr().err


def test_time_left_uses_each_kind_of_step_at_its_own_rate():
    """A fine-tuning run found finished (cost 1,000, no time) must not make DirectProbe look free."""
    from analysis.study import Step, StudyProgress

    tune = Step("finetune", {}, "finetune", 1000.0, "fine-tune")
    probes = [Step("directprobe", {}, f"dp{i}", 2.0, "DirectProbe") for i in range(5)]
    mlp = Step("probe", {}, "mlp", 4.0, "MLP probe")
    progress = StudyProgress()
    progress.add([tune, *probes, mlp])
    progress.finish(tune, 0.03)
    assert progress.seconds_left() is None, "no step has been timed yet"
    progress.finish(probes[0], 6.0)
    progress.finish(probes[1], None)
    # 3 DirectProbe steps left at 3 s per unit of cost, the MLP probe at the only measured rate.
    assert progress.seconds_left() == pytest.approx(3 * 2.0 * 3.0 + 4.0 * 3.0)
    progress.workers = 2  # steps timed while two ran at once: the wall clock halves
    assert progress.seconds_left() == pytest.approx((3 * 2.0 * 3.0 + 4.0 * 3.0) / 2)
    assert progress.fraction == pytest.approx(1004 / 1014)


def test_time_left_is_never_negative():
    """Costs that do not add up exactly in floating point still end at zero, not '-0 min left'."""
    from analysis.study import Step, StudyProgress

    steps = [Step("directprobe", {}, f"dp{i}", cost, "DirectProbe") for i, cost in enumerate((0.1, 0.2, 2.3))]
    progress = StudyProgress()
    progress.add(steps)
    for step in steps:
        progress.finish(step, 5.0)
    assert progress.left["directprobe"] < 0, "the rounding this test is about"
    assert progress.seconds_left() == 0.0


def test_the_paper_preset_follows_the_papers_learning_rate_and_bert_base_length():
    from analysis.finetune import TrainOptions
    from analysis.study import preset_specs

    def epochs(model: str, train: TrainOptions = TrainOptions()) -> list[int]:
        specs = preset_specs("paper", ["pos", "dep"], model=model, seeds=(1,), train=train, data_dir=None)
        return [s.train.epochs for s in specs]

    assert epochs("bert-base-uncased") == [3, 3]
    lrs = {s.train.lr for s in preset_specs("paper", ["pos", "dep"], model=None, seeds=(1,), train=TrainOptions(),
                                              data_dir=None)}
    assert lrs == {3e-4}  # the paper's Appendix A
    assert epochs("google/bert_uncased_L-2_H-128_A-2") == [10, 10]  # the paper's smaller models: 10
    assert epochs("all-MiniLM-L6-v2") == [10, 10]
    fixed = preset_specs("paper", ["pos"], model="bert-base-uncased", seeds=(1,), data_dir=None,
                         train=TrainOptions(steps=500))
    assert fixed[0].train.steps == 500 and fixed[0].train.epochs == 10  # a length in updates is the user's
    first = preset_specs("first", ["ps-role", "ps-fxn"], model=None, seeds=(1,), train=TrainOptions(),
                         data_dir=None)
    assert [s.task for s in first] == ["ps-role"] and first[0].snapshots.probe_tasks == ("ps-fxn",)
    assert first[0].train.lr == 3e-4 and first[0].train.epochs == 10


def test_probes_are_planned_first_and_each_layer_in_snapshot_order(study, tiny_bert, shared_data):
    """Dask starts steps in the order they are sent: the few long probe steps go first, and each
    DirectProbe step comes after the one whose label planes it checks first."""
    from analysis.finetune import list_runs
    from analysis.results import directprobe_key
    from analysis.study.plan import analysis_steps

    store, _, _ = study
    steps = analysis_steps(spec_for(str(tiny_bert), shared_data), store, list_runs(store)["run"].tolist())
    actions = [step.action for step in steps]
    assert set(actions) == {"probe", "directprobe"}
    assert actions == sorted(actions, key=lambda action: action != "probe")
    planned: set[str] = set()
    for step in steps[actions.count("probe"):]:
        previous = step.params["previous"]
        assert previous is None or directprobe_key(previous, step.params["layer"]) in planned, step.label
        planned.add(step.key)
    assert sum(step.params["previous"] is not None for step in steps if step.action == "directprobe") > 0


def test_the_study_command_keeps_a_given_learning_rate_and_length_over_the_presets():
    from analysis.cli import build_parser
    from analysis.commands.study import study_specs

    def specs(*argv: str):
        return study_specs(build_parser().parse_args(["study", *argv]))

    assert {s.train.lr for s in specs("--preset", "paper", "--tasks", "pos,dep")} == {3e-4}
    assert {s.train.lr for s in specs("--preset", "paper", "--tasks", "pos,dep", "--lr", "2e-5")} == {2e-5}
    assert specs("--preset", "first", "--tasks", "ps-role,ps-fxn", "--lr", "1e-4")[0].train.lr == 1e-4
    bert = ("--preset", "paper", "--task", "pos", "--model", "bert-base-uncased")
    assert specs(*bert)[0].train.epochs == 3 and specs(*bert, "--epochs", "10")[0].train.epochs == 10
    plain = specs("--task", "pos")[0].train
    assert (plain.lr, plain.epochs) == (2e-5, 10)
    assert specs("--task", "dep", "-o", "subtypes=true")[0].task_options == {"subtypes": True}
    with pytest.raises(ValueError, match="not both"):
        specs("--task", "pos", "--tasks", "dep")
    with pytest.raises(ValueError, match="one task"):
        specs("--tasks", "pos,dep", "-o", "subtypes=true")
