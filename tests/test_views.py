"""The dashboard's views read a stored study's tables where they cover a request and otherwise compute the
same thing with the study's own functions: both ways agree, on the dashboard store's real PS-role study."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import catalog, views
from analysis.finetune import list_runs
from analysis.store import Store


@pytest.fixture(scope="module")
def study_run(dashboard_store: Store) -> tuple[Store, str, pd.DataFrame]:
    runs = list_runs(dashboard_store)
    run = runs[runs["task"] == "ps-role"]["run"].iloc[0]
    return dashboard_store, run, catalog.snapshot_steps(dashboard_store, run, "ps-role", "train")


def test_a_run_finds_its_study_and_seed(study_run):
    store, run, _ = study_run
    found = views.run_study(store, run)
    assert found is not None and found.task == "ps-role" and found.seed == 1 and found.last_layer == 2
    trec = list_runs(store).query("task == 'trec-6'")["run"].iloc[0]
    assert views.run_study(store, trec) is None


def test_study_tables_and_computed_views_agree(study_run):
    store, run, steps = study_run
    where = (run, "ps-role", "train")
    first, last = steps["entry"].iloc[0], steps["entry"].iloc[-1]

    from_study = views.linearity(store, first, last, *where)
    computed = views.linearity(store, first, last)
    pd.testing.assert_frame_equal(from_study, computed[from_study.columns], check_dtype=False)
    assert (from_study["n_labels"] < len(store[first].summary["label_names"])).all()  # labels present only

    pd.testing.assert_frame_equal(views.distance_dynamics(store, steps, 2, *where),
                                  views.distance_dynamics(store, steps, 2), check_dtype=False)

    paths = views.centroid_paths(store, steps, 2, *where)
    assert paths.variance is None  # read from the study
    computed_paths = views.centroid_paths(store, steps, 2)
    assert computed_paths.variance is not None and sum(computed_paths.variance) <= 1
    np.testing.assert_allclose(paths.points[["pc1", "pc2"]].abs(), computed_paths.points[["pc1", "pc2"]].abs())

    final = int(steps["step"].iloc[-1])
    np.testing.assert_allclose(views.centroid_shift(store, steps, final, 2, *where)["shift_norm"],
                               views.centroid_shift(store, steps, final, 2)["shift_norm"])

    layers = views.layer_similarity(store, *where)
    assert set(layers["metric"]) >= {"cka", "rsa", "spatial"} and set(layers["layer"]) == {0, 1, 2}
    assert views.layer_similarity(store, run, "ps-role", "test") is None  # the study analysed train only


def test_layer_similarity_outside_a_study_is_computed_the_same_way_and_stored_once(study_run):
    store, run, _ = study_run
    key = views.compute_layer_similarity(store, run, "ps-role", "train")  # as if no study held the run
    try:
        assert views.compute_layer_similarity(store, run, "ps-role", "train") == key
        computed = store[key].table("layers")
        pd.testing.assert_frame_equal(computed, views.layer_similarity(store, run, "ps-role", "train"),
                                      check_dtype=False)
    finally:
        store.delete(key)


def test_summary_takes_the_run_with_results_not_the_first_one(dashboard_store, tiny_bert, shared_data, tmp_path):
    """A second PS-role run with nothing analysed must not hide the study run's clusters and probe accuracy."""
    import shutil

    from analysis.finetune import SnapshotOptions, TrainOptions, finetune

    store = Store(tmp_path / "store")
    shutil.copytree(dashboard_store.root, store.root)
    finetune("ps-role", str(tiny_bert), seed=7, store=store, data_dir=shared_data,
             options=TrainOptions(steps=2, batch_size=32, lr=1e-3), snapshots=SnapshotOptions(epochs=0))
    runs = list_runs(store).query("task == 'ps-role' and status == 'done'")
    assert len(runs) == 2
    row = views.study_summary(store).query("task == 'ps-role'").iloc[0]
    (study_run,) = [r for r in runs["run"] if views.run_study(store, r) is not None]
    assert row["run"] == study_run
    assert "→" in row["clusters"] and "→" in row["probe accuracy"]
    assert row["layer similarity"] == "1/2 runs"


def test_a_run_below_the_original_models_probe_is_flagged_under_trained(study_run, capsys):
    from analysis.cli import main
    from analysis.results import find_probe

    store, run, steps = study_run
    test_steps = catalog.snapshot_steps(store, run, "ps-role", "test")
    config = views.run_study(store, run).probe_settings
    original = find_probe(store, steps["entry"].iloc[0], test_steps["entry"].iloc[0], 2, config).summary["mean"]
    row = list_runs(store).set_index("run").loc[run]
    assert row["probe_baseline"] == pytest.approx(original)
    assert row["under_trained"] == (row["test_accuracy"] < original)
    trec = list_runs(store).query("task == 'trec-6'")
    assert trec["under_trained"].isna().all()  # no probe stored for those runs: no verdict
    assert main(["runs", "ls", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "under_trained" in out and (("1 run(s) under-trained" in out) == bool(row["under_trained"]))
