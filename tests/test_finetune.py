"""Fine-tuning: loss goes down, BERTAdam vs AdamW, re-initialisation, resume, snapshots, sampling."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from analysis.embed import embed, representation
from analysis.finetune import (SnapshotOptions, TrainOptions, finetune, list_runs, parse_seeds, run_metrics,
                               run_snapshots, seed_spread)
from analysis.finetune.examples import downsample
from analysis.finetune.optim import BETAS, EPS, make_optimizer
from analysis.finetune.reinit import reinit_top_layers
from analysis.finetune.runs import live_status, process_info, read_record
from analysis.finetune.train import auto_snapshot_epochs, run_spec, snapshot_steps
from analysis.models import load_model, resolve_device, resolve_model
from analysis.store import make_key
from analysis.tasks import load_task

# A small real task: 48 TREC questions, batches of 16 (3 updates an epoch), a high learning rate.
SMALL = dict(train_size=48, batch_size=16, lr=2e-3, warmup=0.0)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One thread: the tiny models gain nothing from more, and a shared machine loses a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    yield
    torch.set_num_threads(threads)


def test_training_reduces_the_loss_on_a_real_task(store, tiny_bert, shared_data):
    options = TrainOptions(epochs=10, train_size=48, batch_size=8, lr=1e-2, warmup=0.0)
    record = finetune("trec-6", str(tiny_bert), seed=1, options=options, snapshots=SnapshotOptions(epochs=0),
                      store=store, data_dir=shared_data)
    metrics = run_metrics(store, record["run"])
    epochs = metrics[metrics["epoch_end"]]
    assert epochs["epoch"].tolist() == list(range(1, 11))
    assert epochs["epoch_loss"].iloc[-1] < 0.6 * epochs["epoch_loss"].iloc[0]
    assert record["status"] == "done" and record["total_steps"] == 60 and record["n_train"] == 48
    assert record["final"]["test_accuracy"] == metrics["test_accuracy"].iloc[-1] and record["n_test"] == 499
    sample = downsample(load_task("trec-6", "train", data_dir=shared_data), 48, 0)[0]
    test = load_task("trec-6", "test", data_dir=shared_data)
    assert record["majority_baseline"] == pytest.approx(np.mean(test.labels == np.bincount(sample.labels).argmax()))


def test_bertadam_differs_from_adamw_exactly_by_bias_correction():
    """Both optimisers as training builds them (``make_optimizer``: fused AdamW, BertAdam) against the formula."""
    lr, decay = 0.01, 0.1
    start = torch.tensor([[1.0, -2.0, 0.5]])
    grads = [torch.tensor([[0.3, -0.1, 2.0]]), torch.tensor([[-0.5, 0.2, 1.0]]), torch.tensor([[0.1, 0.1, -3.0]])]
    results = {}
    for name in ("adamw", "bertadam"):
        layer = torch.nn.Linear(3, 1, bias=False)  # one weight matrix: in the decayed group
        with torch.no_grad():
            layer.weight.copy_(start)
        opt = make_optimizer(layer, name, lr, decay)
        assert opt.defaults.get("fused") is (True if name == "adamw" else None)
        for g in grads:
            layer.weight.grad = g.clone()
            opt.step()
        results[name] = layer.weight.detach().double()
    b1, b2 = BETAS
    expected = {"adamw": start.double(), "bertadam": start.double()}
    m = v = torch.zeros(1, 3, dtype=torch.float64)
    for t, g in enumerate(grads, start=1):
        g = g.double()
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        for name, (mhat, denom) in {"adamw": (m / c1, (v / c2).sqrt() + EPS), "bertadam": (m, v.sqrt() + EPS)}.items():
            p = expected[name]
            expected[name] = p - lr * decay * p - lr * mhat / denom
    for name in results:
        torch.testing.assert_close(results[name], expected[name], rtol=0, atol=1e-6)
    assert not torch.allclose(results["adamw"], results["bertadam"])


def test_weight_decay_spares_biases_and_layer_norms(tiny_bert):
    _, encoder = load_model(resolve_model(str(tiny_bert)))
    decayed, exempt = make_optimizer(encoder, "bertadam", 1e-3, 0.01).param_groups
    names = {id(p): n for n, p in encoder.named_parameters()}
    assert all(not names[id(p)].endswith("bias") and "LayerNorm" not in names[id(p)] for p in decayed["params"])
    assert {names[id(p)] for p in exempt["params"]} >= {"embeddings.LayerNorm.weight", "pooler.dense.bias"}
    assert exempt["weight_decay"] == 0.0 and decayed["weight_decay"] == 0.01


def test_reinit_changes_exactly_the_top_layers_and_the_pooler(tmp_path):
    from conftest import build_tiny_bert

    _, encoder = load_model(resolve_model(str(build_tiny_bert(tmp_path / "bert4", layers=4))))
    with torch.no_grad():  # make every weight differ from a fresh initialisation, as pre-training does
        for p in encoder.parameters():
            p.add_(torch.randn_like(p))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    torch.manual_seed(0)
    assert reinit_top_layers(encoder, 2) == ["encoder.layer.2", "encoder.layer.3", "pooler"]
    after = encoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    top = {k for k in before if k.startswith(("encoder.layer.2.", "encoder.layer.3.", "pooler."))}
    assert changed == top
    std = encoder.config.initializer_range
    assert abs(float(after["encoder.layer.3.intermediate.dense.weight"].std()) - std) < 0.1 * std
    assert torch.all(after["encoder.layer.2.attention.output.dense.bias"] == 0)
    assert torch.all(after["encoder.layer.3.output.LayerNorm.weight"] == 1)
    assert torch.all(after["pooler.dense.bias"] == 0)
    with pytest.raises(ValueError, match="the model has 4"):
        reinit_top_layers(encoder, 5)


class Interrupt:
    """A progress callback that interrupts training, like Ctrl-C, after update ``at``."""

    def __init__(self, at: int | None = None):
        self.at, self.steps = at, []

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "train":
            self.steps.append(done)
            if done == self.at:
                raise KeyboardInterrupt


def test_kill_and_resume_gives_bit_identical_weights_and_the_expected_snapshots(tmp_path, tiny_bert, shared_data,
                                                                                monkeypatch):
    from analysis.store import Store

    options = TrainOptions(epochs=4, reinit_layers=1, **SMALL)
    snaps = SnapshotOptions(every=5, epochs=1, probe_tasks=("ps-fxn",), keep_weights=True)
    kwargs = dict(seed=3, options=options, snapshots=snaps, data_dir=shared_data)
    whole = Store(tmp_path / "whole")
    uninterrupted = finetune("trec-6", str(tiny_bert), store=whole, **kwargs)

    store = Store(tmp_path / "resumed")
    first = Interrupt(at=7)
    with pytest.raises(KeyboardInterrupt):
        finetune("trec-6", str(tiny_bert), store=store, progress=first, **kwargs)
    run = uninterrupted["run"]
    assert list_runs(store).set_index("run").loc[run, "status"] == "interrupted"
    assert sorted((store.work / run).glob("checkpoint-*"))[-1].name == "checkpoint-000006"
    second = Interrupt()
    resumed = finetune("trec-6", str(tiny_bert), store=store, progress=second, **kwargs)
    assert second.steps[0] == 7, "training resumes after the last checkpoint (update 6)"
    assert resumed["run"] == run and resumed["status"] == "done"

    final = f"weights/step-{resumed['total_steps']:06d}.safetensors"
    a, b = load_file(whole.work / run / final), load_file(store.work / run / final)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert run_metrics(whole, run).equals(run_metrics(store, run))
    assert not list((store.work / run).glob("checkpoint-*")), "a finished run keeps no optimiser state"

    # snapshots at update 0, every 5 updates, every epoch end (3 updates) and the last update
    snapshots = run_snapshots(store, run)
    expected = [0, 3, 5, 6, 9, 10, 12]
    for task, split in [("trec-6", "train"), ("trec-6", "test"), ("ps-fxn", "train"), ("ps-fxn", "test")]:
        rows = snapshots[(snapshots["task"] == task) & (snapshots["split"] == split)]
        assert rows["step"].tolist() == expected, (task, split)
    test_data = load_task("trec-6", "test", data_dir=shared_data)
    by_step = {}
    for row in snapshots[(snapshots["task"] == "trec-6") & (snapshots["split"] == "test")].itertuples():
        entry = store[row.entry]
        X, y = representation(entry, 2)
        assert X.shape == (499, 32) and entry.summary["n_layers"] == 3
        np.testing.assert_array_equal(y, test_data.labels)
        by_step[row.step] = np.array(X)
        assert entry.kind == "snapshot" and entry.spec["weights"] == {"run": run, "step": row.step}
    assert not np.allclose(by_step[0], by_step[12]), "fine-tuning moves the last layer"
    # re-initialising a layer makes update 0 differ from the original model, but not below it
    original = embed("trec-6", "test", str(tiny_bert), store=store, data_dir=shared_data)
    np.testing.assert_array_equal(representation(original, 1)[0], representation(store[
        snapshots[(snapshots["step"] == 0) & (snapshots["task"] == "trec-6") & (snapshots["split"] == "test")]
        ["entry"].item()], 1)[0])
    assert not np.allclose(representation(original, 2)[0], by_step[0])
    train0 = store[snapshots[(snapshots["step"] == 12) & (snapshots["split"] == "train") &
                             (snapshots["task"] == "trec-6")]["entry"].item()]
    assert train0.summary["n_targets"] == 48 and train0.spec["subset"] == {"train_size": 48, "sample_seed": 0}
    # the task recorded alongside is down-sampled the same way on train, and kept whole on test
    for split, n in (("train", 48), ("test", len(load_task("ps-fxn", "test", data_dir=shared_data).labels))):
        entry = store[snapshots[(snapshots["step"] == 12) & (snapshots["split"] == split) &
                                (snapshots["task"] == "ps-fxn")]["entry"].item()]
        assert entry.summary["n_targets"] == n
        assert entry.spec["subset"] == ({"train_size": 48, "sample_seed": 0} if split == "train" else None)

    # the same command again is a store hit: no model, no corpus
    monkeypatch.setattr("analysis.finetune.train.load_model", lambda *_: pytest.fail("a hit loads no model"))
    assert finetune("trec-6", str(tiny_bert), store=store, **kwargs)["hit"] is True


def test_new_probe_task_on_a_finished_run_adds_only_what_is_missing(store, tiny_bert, shared_data):
    kwargs = dict(seed=1, options=TrainOptions(epochs=2, **SMALL), store=store, data_dir=shared_data)
    first = finetune("trec-6", str(tiny_bert), snapshots=SnapshotOptions(), **kwargs)
    before = run_snapshots(store, first["run"])
    assert sorted(before["step"].unique()) == [0, 3, 6], "by default every epoch end is snapshotted"
    created = {key: store[key].meta["created"] for key in before["entry"]}
    statuses = []
    status_now = (lambda stage, done, total:
                  statuses.append(list_runs(store).set_index("run").loc[first["run"], "status"]))
    again = finetune("trec-6", str(tiny_bert), snapshots=SnapshotOptions(probe_tasks=("trec-50",), probe_steps="ends"),
                     progress=status_now, **kwargs)
    assert again["run"] == first["run"] and again["hit"] is False and again["status"] == "done"
    assert statuses and set(statuses) == {"done"}, "a finished run stays done while it gains snapshots"
    after = run_snapshots(store, first["run"])
    assert sorted(after[after["task"] == "trec-50"]["step"].unique()) == [0, 6]
    assert all(store[key].meta["created"] == stamp for key, stamp in created.items())
    assert again["final"] == first["final"]
    # update 0 of an unchanged model on a full split is the ordinary embed entry, shared
    zero = after[(after["step"] == 0) & (after["task"] == "trec-50") & (after["split"] == "test")]["entry"].item()
    assert zero == embed("trec-50", "test", str(tiny_bert), store=store, data_dir=shared_data).key
    third = finetune("trec-6", str(tiny_bert), snapshots=SnapshotOptions(probe_tasks=("trec-50",)), **kwargs)
    everywhere = run_snapshots(store, third["run"])
    assert sorted(everywhere[everywhere["task"] == "trec-50"]["step"].unique()) == [0, 3, 6]


def test_downsampling_is_the_same_for_the_same_seed(shared_data):
    data = load_task("ps-role", "train", data_dir=shared_data)
    a, ia = downsample(data, 100, seed=7)
    b, ib = downsample(data, 100, seed=7)
    _, ic = downsample(data, 100, seed=8)
    np.testing.assert_array_equal(ia, ib)
    assert not np.array_equal(ia, ic)
    assert a.n_targets == 100 and a.sentences == b.sentences and len(a.sentences) < len(data.sentences)
    assert [a.target_text(i) for i in range(100)] == [data.target_text(int(j)) for j in ia]
    np.testing.assert_array_equal(a.labels, data.labels[ia])
    with pytest.raises(ValueError, match="exceeds the 462 training targets"):
        downsample(data, 1000, seed=0)


def test_snapshot_schedules():
    # by default every epoch end; "auto" takes as many as fit a tenth of the training time inline
    assert SnapshotOptions().epochs == 1
    assert snapshot_steps(10, 4, every=0, epochs=SnapshotOptions().epochs) == [0, 4, 8, 10]
    # 10 epochs of POS (test tokens ~7% of train): only update 0 and the end fit
    assert auto_snapshot_epochs(560, 56, 50_658, 3_700) == 0
    # 3200 updates on 267 STREUSLE sentences (test about as large): every 7th of 356 epochs
    epochs = auto_snapshot_epochs(3200, 9, 8_000, 8_000)
    steps = snapshot_steps(3200, 9, 0, epochs)
    assert epochs == 7 and len(steps) <= 0.10 * 3 * 3200 / 9 / 2
    assert snapshot_steps(10, 4, every=3, epochs=0) == [0, 3, 6, 9, 10]
    for bad in (-1, "sometimes", None):
        with pytest.raises(ValueError, match="snapshot epoch interval"):
            SnapshotOptions(epochs=bad)


def test_parse_seeds_and_option_errors():
    assert parse_seeds("1-3,7") == [1, 2, 3, 7] and parse_seeds("5") == [5]
    for bad in ("3-1", "a", "1-"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="optimizer must be one of adamw, bertadam"):
        TrainOptions(optimizer="sgd")
    with pytest.raises(ValueError, match="warm-up"):
        TrainOptions(warmup=1.5)


def test_cli_seeds_runs_ls_and_spread(store, tiny_bert, shared_data, capsys):
    from analysis.cli import main

    args = ["finetune", "--task", "trec-6", "--model", str(tiny_bert), "--store", str(store.root),
            "--data-dir", str(shared_data), "--train-size", "32", "--batch-size", "16", "--steps", "4",
            "--lr", "2e-3", "--optimizer", "bertadam", "--snapshot-epochs", "0", "--device", "cpu", "--seeds", "1-2",
            "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in out["runs"]] == [1, 2] and all(r["status"] == "done" for r in out["runs"])
    spread = out["spread"][0]
    accuracies = [r["test_accuracy"] for r in out["runs"]]
    assert spread["n_seeds"] == 2 and spread["mean"] == pytest.approx(np.mean(accuracies))
    assert spread["min"] == min(accuracies) and spread["max"] == max(accuracies)
    baseline = spread["majority_baseline"]
    assert spread["failed_seeds"] == [r["seed"] for r in out["runs"] if r["test_accuracy"] <= baseline]

    # the same runs asked for with another --epochs: --steps sets the length, so the same runs (hits)
    assert main([*args, "--epochs", "7"]) == 0
    assert all(r["hit"] for r in json.loads(capsys.readouterr().out)["runs"])

    assert main(["runs", "--json", "--store", str(store.root), "ls"]) == 0  # options before the action
    assert json.loads(capsys.readouterr().out)["store"] == str(store.root)
    assert main(["runs", "ls", "--store", str(store.root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["seed"] for r in listed["runs"]} == {1, 2} and all(r["optimizer"] == "bertadam" for r in listed["runs"])
    assert {r["device"] for r in listed["runs"]} == {"cpu"} and "device" in listed["text"]
    table = list_runs(store)
    assert seed_spread(table)["n_seeds"].tolist() == [2]

    # update 0 of an unchanged model is shared by the seeds: the same sample, the same weights
    zero = [run_snapshots(store, r["run"]).query("step == 0").set_index("split")["entry"] for r in out["runs"]]
    assert zero[0].to_dict() == zero[1].to_dict() and zero[0]["train"].startswith("snapshot-")

    assert main(["runs", "show", out["runs"][0]["run"], "--store", str(store.root), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [m["step"] for m in shown["metrics"]] == [0, 2, 4] and {s["step"] for s in shown["snapshots"]} == {0, 4}

    for bad, message in [(["--seeds", "2-1"], "runs backwards"), (["--probe-tasks", "nope"], "unknown task"),
                         (["--train-size", "99999"], "exceeds"), (["--device", "gpu"], "device must be")]:
        assert main([*args[:-3], *bad]) == 2
        assert message in capsys.readouterr().err


def snapshot_arrays(store, run: str) -> dict[tuple[int, str, str, int], np.ndarray]:
    """Every layer (and the labels, as layer -1) of every stored snapshot of ``run``."""
    out = {}
    for row in run_snapshots(store, run).itertuples():
        entry = store[row.entry]
        for layer in range(entry.summary["n_layers"]):
            X, y = representation(entry, layer)
            out[row.step, row.task, row.split, layer] = np.array(X)
        out[row.step, row.task, row.split, -1] = np.array(y)
    return out


def test_background_snapshots_equal_inline_ones_and_an_unfinished_one_is_redone(tmp_path, tiny_bert, shared_data):
    from analysis.finetune.background import pending_weights
    from analysis.store import Store

    snaps = SnapshotOptions(probe_tasks=("ps-fxn",), probe_steps="ends", keep_weights=True)
    kwargs = dict(seed=2, options=TrainOptions(epochs=2, **SMALL), snapshots=snaps, data_dir=shared_data, threads=1,
                  device="cpu")  # the workers' device, so that inline snapshots are bit-identical to theirs
    inline = Store(tmp_path / "inline")
    reference = finetune("trec-6", str(tiny_bert), store=inline, snapshot_workers=0, **kwargs)
    run = reference["run"]

    # a worker takes update 0 (training waits for it at update 3, all workers being busy) and update 3;
    # the interruption one update later stops the worker long before it can store update 3
    store = Store(tmp_path / "background")
    with pytest.raises(KeyboardInterrupt):
        finetune("trec-6", str(tiny_bert), store=store, snapshot_workers=1, progress=Interrupt(at=4), **kwargs)
    assert set(run_snapshots(store, run)["step"]) == {0}
    assert pending_weights(store.work / run, 3).is_file(), "the unfinished snapshot's weights are kept"
    resumed_from = Interrupt()
    resumed = finetune("trec-6", str(tiny_bert), store=store, snapshot_workers=1, progress=resumed_from, **kwargs)
    assert resumed_from.steps[0] == 4, "training resumes after its checkpoint; the worker redoes update 3"
    assert resumed["status"] == "done" and not (store.work / run / "pending").exists()

    a, b = snapshot_arrays(inline, run), snapshot_arrays(store, run)
    assert sorted({k[:3] for k in a}) == sorted(
        [(s, "trec-6", split) for s in (0, 3, 6) for split in ("train", "test")]
        + [(s, "ps-fxn", split) for s in (0, 6) for split in ("train", "test")])
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), "bit-identical to inline"
    final = f"weights/step-{resumed['total_steps']:06d}.safetensors"
    x, y = load_file(inline.work / run / final), load_file(store.work / run / final)
    assert all(torch.equal(x[k], y[k]) for k in x)


def test_a_killed_cli_run_reads_as_interrupted_and_resumes_to_the_same_weights(tmp_path, tiny_bert, shared_data):
    from analysis.store import Store

    args = ["--task", "trec-6", "--model", str(tiny_bert), "--data-dir", str(shared_data), "--train-size", "48",
            "--batch-size", "16", "--lr", "2e-3", "--warmup", "0", "--epochs", "5", "--seed", "4",
            "--snapshot-epochs", "0", "--keep-weights", "--threads", "1", "--snapshot-workers", "0"]
    store = Store(tmp_path / "killed")
    command = [sys.executable, "-m", "analysis", "finetune", *args, "--store", str(store.root), "--json"]
    env = {**os.environ, "FTGEO_DATA_DIR": str(shared_data)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(store.work.glob("run-*/checkpoint-*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint appeared: {proc.communicate()[1].decode()[-2000:]}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (row,) = list_runs(store).to_dict("records")
    assert row["status"] == "interrupted" and row["test_accuracy"] is None, "a dead process is not running"
    assert read_record(store, row["run"])["status"] == "running", "the killed process had no chance to say so"

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["runs"][0]["status"] == "done"
    whole = Store(tmp_path / "whole")
    options = TrainOptions(epochs=5, train_size=48, batch_size=16, lr=2e-3, warmup=0.0)
    reference = finetune("trec-6", str(tiny_bert), seed=4, options=options, store=whole, data_dir=shared_data,
                         snapshots=SnapshotOptions(epochs=0, keep_weights=True), threads=1, snapshot_workers=0)
    assert reference["run"] == row["run"]
    final = f"weights/step-{reference['total_steps']:06d}.safetensors"
    a, b = load_file(whole.work / row["run"] / final), load_file(store.work / row["run"] / final)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_live_status_tells_a_dead_process_from_a_running_one():
    record = {"status": "running", "process": process_info()}
    assert live_status(record) == "running"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert live_status({**record, "process": {**record["process"], "pid": gone.pid}}) == "interrupted"
    assert live_status({**record, "process": {**record["process"], "started": 0.0}}) == "interrupted"
    elsewhere = {**record["process"], "host": socket.gethostname() + "-elsewhere", "pid": gone.pid}
    assert live_status({**record, "process": elsewhere}) == "running", "another host's run cannot be checked"
    assert live_status({**record, "status": "done", "process": {**record["process"], "pid": gone.pid}}) == "done"


def test_dep_fine_tuning_classifies_word_pairs(store, tiny_bert, shared_data):
    options = TrainOptions(train_size=64, batch_size=16, lr=2e-3, warmup=0.0, steps=4)
    record = finetune("dep", str(tiny_bert), seed=1, options=options, store=store, data_dir=shared_data)
    assert record["status"] == "done" and record["n_train"] == 64
    assert 0 <= record["final"]["test_accuracy"] <= 1
    dep = load_task("dep", "test", data_dir=shared_data)
    assert record["n_test"] == dep.n_targets and record["label_names"] == dep.label_names
    losses = run_metrics(store, record["run"])["train_loss"].dropna()
    assert len(losses) and np.isfinite(losses).all()
    snapshots = run_snapshots(store, record["run"])
    final = snapshots[(snapshots["step"] == 4) & (snapshots["split"] == "train")]["entry"].item()
    X, y = representation(store[final], 2)
    assert X.shape == (64, 2 * 32), "a pair target is [head; dependent]"
    assert store[final].summary["kind"] == "pair"


def test_resolve_device_and_its_errors(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == resolve_device("auto").type == expected
    assert resolve_device(" CPU ") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cuda:-1", "mps", ""):
        with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
            resolve_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    assert resolve_device(None) == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=f"device '{name}': CUDA is not available"):
            resolve_device(name)


def test_the_device_enters_only_a_gpu_run_key(store, trec_bert, shared_data):
    ref = resolve_model(str(trec_bert), store)
    kwargs = dict(seed=1, options=TrainOptions(**SMALL), data_dir=shared_data, store=store)
    cpu = run_spec(ref, "trec-6", **kwargs)
    assert set(cpu) == {"model", "task", "data", "task_options", "options", "seed", "version", "embed_version"}
    assert run_spec(ref, "trec-6", device="cpu", **kwargs) == cpu, "stored CPU runs keep their keys"
    assert run_spec(ref, "trec-6", device="cuda", **kwargs) == {**cpu, "device": "cuda"}


@CUDA
def test_fine_tuning_on_cuda_trains_snapshots_resumes_and_has_its_own_run_key(tmp_path, trec_bert, shared_data,
                                                                               monkeypatch):
    from analysis.store import Store

    model = str(trec_bert)
    options = TrainOptions(epochs=4, **SMALL)
    snaps = SnapshotOptions(every=5, epochs=1, keep_weights=True)
    kwargs = dict(seed=3, options=options, snapshots=snaps, data_dir=shared_data, threads=1, device="cuda")
    # with idle cores a CPU run would store its snapshots in background workers; a GPU run takes them inline
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    monkeypatch.setattr("analysis.finetune.train.SnapshotWorkers",
                        lambda *_: pytest.fail("a GPU run starts no snapshot workers unless asked to"))
    whole = Store(tmp_path / "whole")
    reference = finetune("trec-6", model, store=whole, **kwargs)
    run = reference["run"]
    assert reference["status"] == "done" and reference["device"] == "cuda"
    assert reference["device_name"] == torch.cuda.get_device_name()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"], "set for deterministic cuBLAS"
    losses = run_metrics(whole, run).query("epoch_end")["epoch_loss"].tolist()
    assert len(losses) == 4 and losses[-1] < losses[0], "training reduces the loss"
    assert list_runs(whole).set_index("run").loc[run, "device"] == "cuda"

    # a GPU run has a key of its own, whatever the GPU's number; the same run asked for again is a hit
    ref = resolve_model(model, whole)
    spec = dict(seed=3, options=options, data_dir=shared_data, store=whole)
    assert run == make_key("run", run_spec(ref, "trec-6", device="cuda", **spec))
    assert run != make_key("run", run_spec(ref, "trec-6", **spec))
    assert finetune("trec-6", model, store=whole, **{**kwargs, "device": "cuda:0"})["hit"] is True

    # snapshots at update 0, every 5 updates, every epoch end (3 updates) and the last update, readable
    snapshots = run_snapshots(whole, run)
    for split, n in (("train", 48), ("test", 499)):
        rows = snapshots[snapshots["split"] == split]
        assert rows["step"].tolist() == [0, 3, 5, 6, 9, 10, 12]
        for entry in rows["entry"]:
            X, y = representation(whole[entry], 2)
            assert X.shape == (n, 32) and len(y) == n and np.isfinite(X).all()
            assert whole[entry].summary["device"] == "cuda"
    first, last = (representation(whole[rows["entry"].iloc[i]], 2)[0] for i in (0, -1))
    assert not np.allclose(first, last), "fine-tuning moves the last layer"

    # interrupted after update 7, the run resumes from its checkpoint at update 6 (CUDA RNG state included)
    store = Store(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        finetune("trec-6", model, store=store, progress=Interrupt(at=7), **kwargs)
    checkpoint = sorted((store.work / run).glob("checkpoint-*"))[-1]
    assert checkpoint.name == "checkpoint-000006"
    saved = load_file(checkpoint / "optimizer.safetensors")
    assert saved["rng.cuda"].dtype == torch.uint8 and saved["rng.torch"].dtype == torch.uint8
    resumed_from = Interrupt()
    resumed = finetune("trec-6", model, store=store, progress=resumed_from, **kwargs)
    assert resumed_from.steps[0] == 7 and resumed["run"] == run and resumed["status"] == "done"
    assert set(run_snapshots(store, run)["step"]) == {0, 3, 5, 6, 9, 10, 12}
    final = f"weights/step-{resumed['total_steps']:06d}.safetensors"
    a, b = load_file(whole.work / run / final), load_file(store.work / run / final)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "deterministic kernels: the uninterrupted run's weights"


@pytest.mark.parametrize("damage, problem", [
    (lambda r: [r], "JSON list, not an object"),
    (lambda r: {k: v for k, v in r.items() if k != "task"}, "lacks task"),
    (lambda r: {k: v for k, v in r.items() if k not in ("seed", "options")}, "lacks seed, options"),
    (lambda r: r | {"run": "run-" + "0" * 24}, "names another run"),
    (lambda r: r | {"options": {"lr": 1e-3}}, "training options are incomplete"),
    (lambda r: r | {"snapshots": [{"step": 0}]}, "snapshot list is malformed"),
    (lambda r: r | {"snapshots": [s | {"entry": "../../etc"} for s in r["snapshots"]]}, "snapshot list is malformed"),
    (lambda r: r | {"seed": "1"}, "wrong type of value in seed"),
    (lambda r: r | {"status": "running", "process": "x"}, "wrong type of value in process"),
    (lambda r: r | {"status": "running", "process": {"pid": "1", "host": "h", "started": 0}}, "process is malformed"),
    (lambda r: r | {"final": []}, "wrong type of value in final"),
    (lambda r: r | {"final": {"test_accuracy": "high"}}, "final metrics are malformed"),
    (lambda r: r | {"final": {"test_accuracy": None}}, "final metrics are malformed"),
    (lambda r: r | {"metrics": [1]}, "its metrics are malformed"),
])
def test_a_damaged_run_record_is_unreadable_and_skipped(dashboard_store, tmp_path, damage, problem):
    import shutil

    from analysis.finetune import broken_records
    from analysis.store import Store, StoreError

    store = Store(tmp_path / "store")
    shutil.copytree(dashboard_store.root, store.root)
    runs = list_runs(store)
    path = store.work / runs["run"].iloc[0] / "run.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    with pytest.raises(StoreError, match=problem):
        read_record(store, runs["run"].iloc[0])
    assert broken_records(store) == [path]
    assert list_runs(store)["run"].tolist() == runs["run"].iloc[1:].tolist()


def test_run_names_must_be_run_keys(store):
    from analysis.store import StoreError

    for bad in ("", "..", "../jobs", "run-" + "0" * 24 + "/.."):
        with pytest.raises(StoreError, match="not a store key"):
            read_record(store, bad)


def test_half_written_checkpoints_of_dead_writers_on_this_host_are_removed(tmp_path):
    import socket
    import subprocess
    import sys

    from analysis.finetune.checkpoint import clean_checkpoint_leftovers
    from analysis.finetune.checkpoint import temporary
    from analysis.processes import ProcessId, start_time

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = ProcessId(child.pid, socket.gethostname(), start_time(child.pid))
    child.wait()
    alive = temporary(tmp_path / "checkpoint-8").name
    host = alive.rsplit("@", 1)[1]
    names = {"dead": f"checkpoint-8.tmp.{dead.pid}.{dead.started}.0123abcd@{host}",
             "alive": alive,
             "elsewhere": f"checkpoint-8.tmp.{dead.pid}.{dead.started}.0123abcd@another-host",
             "checkpoint": "checkpoint-4"}
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"x")
    pending = tmp_path / "pending"
    pending.mkdir()
    (pending / f"step-000008.safetensors.tmp.{dead.pid}.{dead.started}.0123abcd@{host}").write_bytes(b"x")
    (pending / "step-000004.safetensors").write_bytes(b"x")
    (tmp_path / f"run.json.{dead.pid}.{dead.started}.0123abcd@{host}").write_text("{}")  # a half-written record
    assert clean_checkpoint_leftovers(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(v for k, v in names.items() if k != "dead"),
                                                                 "pending"])
    assert [p.name for p in pending.iterdir()] == ["step-000004.safetensors"]


def test_a_custom_task_under_the_given_data_folder_fine_tunes_with_background_snapshots(tmp_path, tiny_bert,
                                                                                      monkeypatch, capsys):
    """``--data-dir`` makes its folder a data root in the CLI process and in the snapshot workers."""
    import json

    from analysis.cli import main
    from analysis.config import DATA_ROOTS_ENV

    monkeypatch.setenv(DATA_ROOTS_ENV, str(tmp_path / "elsewhere"))
    data = tmp_path / "corpus"
    data.mkdir()
    words = ["the", "cat", "sat", "on", "a", "mat"]
    for split, n in (("train", 40), ("test", 12)):
        rows = [{"words": words, "targets": [{"words": [i % 6], "label": "N" if i % 6 in (1, 5) else "O"}]}
                for i in range(n)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = json.dumps({split: str(data / f"{split}.jsonl") for split in ("train", "test")})
    code = main(["finetune", "--task", "custom", "-o", f"files={files}", "--model", str(tiny_bert),
                 "--data-dir", str(data), "--store", str(tmp_path / "store"), "--steps", "4", "--batch-size", "8",
                 "--threads", "1", "--snapshot-workers", "1", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["runs"][0]["n_snapshots"] > 0
