"""Studies on Dask: a LocalCluster and a real scheduler with worker processes on 127.0.0.1, a worker
killed mid-step, GPU routing, the shared-store check and writers racing on one key."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import PROJECT_ROOT
from analysis.finetune import SnapshotOptions, TrainOptions
from analysis.store import Store, make_key
from analysis.study import TABLES, ClusterError, ProbeConfig, StepFailed, StudySpec, run_study, study_table
from analysis.study.cluster import check_store, connect

distributed = pytest.importorskip("distributed")


def spec_for(model: str, shared_data: Path, seeds=(1, 2)) -> StudySpec:
    return StudySpec(task="ps-role", model=model, seeds=seeds, data_dir=str(shared_data),
                     train=TrainOptions(steps=6, batch_size=32, lr=1e-3),
                     snapshots=SnapshotOptions(every=3, epochs=0),
                     probes=ProbeConfig(hidden_sizes=(32,), seeds=(0,), max_epochs=3))


CLOCK = re.compile(r"seconds|updated|created")
"""Columns of wall-clock times, which no two runs share."""


def tables(store: Store, key: str) -> dict[str, pd.DataFrame]:
    """Every table of a study, less its wall-clock columns."""
    out = {}
    for name in (*TABLES, "snapshots"):
        table = study_table(store, key, name)
        out[name] = table.drop(columns=[c for c in table.columns if CLOCK.search(c)])
    return out


def assert_same_tables(store: Store, key: str, reference: tuple[Store, str]) -> None:
    ref_store, ref_key = reference
    assert key == ref_key, "the same runs and analyses give the same study key"
    expected = tables(ref_store, ref_key)
    for name, table in tables(store, key).items():
        pd.testing.assert_frame_equal(table, expected[name], check_exact=True, obj=name)


def workers_of(messages: list[str], label: str) -> set[str]:
    """The workers the ``done:`` messages of steps whose label starts with ``label`` name."""
    return {m.rsplit(" on ", 1)[1].rstrip(")") for m in messages if m.startswith(f"done: {label}") and " on " in m}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_bert, shared_data):
    """The study run in this process with one torch thread, as on a single-threaded Dask worker (on
    the CPU, floating-point sums, hence the last bits of every result, depend on the thread count)."""
    import torch

    store = Store(tmp_path_factory.mktemp("in_process") / "store")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return store, run_study(spec_for(str(tiny_bert), shared_data), store).key
    finally:
        torch.set_num_threads(threads)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started from this checkout."""

    def __init__(self, folder: Path):
        self.folder, self.procs = folder, []
        self.env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.start(["scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                    "--no-dashboard"], "scheduler")

    def start(self, args: list[str], name: str, prefix: list[str] = ()) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        proc = subprocess.Popen([*prefix, sys.executable, "-m", "dask", *args], cwd=PROJECT_ROOT, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *extra: str, prefix: list[str] = ()) -> subprocess.Popen:
        local = self.folder / f"local-{name}"
        local.mkdir(exist_ok=True)
        return self.start(["worker", self.address, "--nthreads", "1", "--name", name, "--no-dashboard",
                           "--host", "127.0.0.1", "--local-directory", str(local), *extra], name, prefix)

    def client(self, n_workers: int):
        client = distributed.Client(self.address, timeout=60, set_as_default=False)
        client.wait_for_workers(n_workers, timeout=120)
        return client

    def address_of(self, client, name: str) -> str:
        return next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["name"] == name)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory):
    """A scheduler, one CPU worker and one worker offering a (fake) GPU resource."""
    cluster = DaskProcesses(tmp_path_factory.mktemp("dask"))
    try:
        cluster.worker("cpu")
        cluster.worker("gpu", "--resources", "GPU=1")
        client = cluster.client(2)
        cluster.cpu, cluster.gpu = cluster.address_of(client, "cpu"), cluster.address_of(client, "gpu")
        client.close()
        yield cluster
    finally:
        cluster.close()


def test_local_cluster_of_two_workers_gives_the_in_process_tables(reference, tmp_path, tiny_bert, shared_data):
    store = Store(tmp_path / "store")
    messages, threads, seen = [], set(), {}

    def report(message, progress):
        messages.append(message)
        threads.add(progress.workers)
        seen["progress"] = progress
        if message.startswith("done: DirectProbe") and "during" not in seen:
            seen["during"] = progress.kinds()

    entry = run_study(spec_for(str(tiny_bert), shared_data), store, workers=2, report=report)
    assert_same_tables(store, entry.key, reference)
    assert threads == {2}
    kinds = seen["progress"].kinds()
    assert set(kinds) == {"finetune", "directprobe", "probe"}
    assert all(running == queued == 0 and done > 0 for done, running, queued in kinds.values())
    assert kinds["finetune"][0] == 2 and entry.summary["n_steps"] == sum(done for done, _, _ in kinds.values())
    assert sum(running for _, running, _ in seen["during"].values()) <= 2
    assert len(workers_of(messages, "")) == 2, "both workers ran steps"
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers_of(messages, ""))
    assert any(m.startswith("Dask dashboard: ") for m in messages)
    # A second run sends nothing out: every step is stored.
    again: list[str] = []
    assert run_study(spec_for(str(tiny_bert), shared_data), store, workers=2,
                     report=lambda m, p: again.append(m)).key == entry.key
    assert not [m for m in again if m.startswith("done: ")]


def test_real_scheduler_sends_fine_tuning_only_to_the_gpu_worker(reference, dask_processes, tmp_path, tiny_bert,
                                                                 shared_data):
    store = Store(tmp_path / "store")
    messages: list[str] = []
    entry = run_study(spec_for(str(tiny_bert), shared_data), store, scheduler=dask_processes.address, gpu=True,
                      report=lambda m, p: messages.append(m))
    assert_same_tables(store, entry.key, reference)
    assert workers_of(messages, "fine-tune") == {dask_processes.gpu}
    assert len([m for m in messages if m.startswith("done: fine-tune")]) == 2
    assert workers_of(messages, "") <= {dask_processes.cpu, dask_processes.gpu}


def test_a_worker_killed_mid_step_does_not_fail_the_study(reference, dask_processes, tmp_path, tiny_bert,
                                                          shared_data):
    store = Store(tmp_path / "store")
    result: dict = {}

    def study():
        try:
            result["entry"] = run_study(spec_for(str(tiny_bert), shared_data), store,
                                        scheduler=dask_processes.address, retries=2)
        except BaseException as exc:  # reported by the assertions below
            result["error"] = exc

    thread = threading.Thread(target=study)
    thread.start()
    watcher = dask_processes.client(2)
    killed = None
    try:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and thread.is_alive():
            for worker, keys in watcher.processing().items():
                if any(k.startswith(("run-", "finetune-")) for k in keys):  # a fine-tuning step's task
                    time.sleep(1.0)  # well inside the fine-tuning step
                    pid = watcher.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed = (worker, pid)
                    break
            time.sleep(0.2)
        thread.join(timeout=600)
        assert killed is not None, "no fine-tuning step was seen running"
        assert not thread.is_alive()
        assert "error" not in result, result.get("error")
        assert_same_tables(store, result["entry"].key, reference)
        with pytest.raises(ProcessLookupError):
            os.kill(killed[1], 0)
        watcher.wait_for_workers(2, timeout=60)  # the nanny brought the worker back for the next tests
    finally:
        watcher.close()


def test_a_failing_step_names_the_step_and_the_worker(dask_processes, tmp_path, shared_data):
    store = Store(tmp_path / "store")
    missing = str(tmp_path / "no-such-model")
    for device in (None, "cpu"):  # with a named device the client looks for the run first, and cannot either
        spec = dataclasses.replace(spec_for(missing, shared_data, seeds=(1,)), device=device)
        with pytest.raises(StepFailed, match=r"fine-tune ps-role, seed 1 failed on worker "
                                             r"tcp://127\.0\.0\.1:\d+: ModelError"):
            run_study(spec, store, scheduler=dask_processes.address, retries=0)


def test_the_store_check_names_a_worker_that_sees_another_folder(tmp_path, shared_data):
    """A worker in its own mount namespace, where the store's folder is another (empty) folder: the
    same path on the same host names different directories, as an unmounted share would."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-Urm", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine cannot start a process in its own mount namespace (unshare -Urm)")
    shared, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    shared.mkdir()
    elsewhere.mkdir()
    store = Store(shared / "store")
    cluster = DaskProcesses(tmp_path)
    try:
        cluster.worker("sees")
        cluster.worker("blind", prefix=["unshare", "-Urm", "sh", "-c",
                                        f'mount --bind "{elsewhere}" "{shared}" && exec "$0" "$@"'])
        client = cluster.client(2)
        with pytest.raises(ClusterError) as error:
            check_store(client, store)
        message = str(error.value)
        assert f"worker {cluster.address_of(client, 'blind')} does not see the store {store.root}" in message
        assert cluster.address_of(client, "sees") not in message
        assert list(store.work_dir("cluster").iterdir()) == [], "the check leaves no token behind"
        client.close()
    finally:
        cluster.close()


def test_an_unreachable_scheduler_stops_at_once_naming_it(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {re.escape(address)} within 2 s"):
        with connect(address, 1, timeout=2):
            pass
    assert time.monotonic() - start < 30


def test_cli_names_an_unreachable_scheduler_from_the_environment(tmp_path, monkeypatch, capsys, shared_data):
    from analysis.cli import main

    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("FTGEO_SCHEDULER", address)
    assert main(["study", "--task", "ps-role", "--preset", "quick", "--store", str(tmp_path),
                 "--data-dir", str(shared_data)]) == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err


def test_without_a_gpu_worker_the_study_says_so(tmp_path, tiny_bert, shared_data):
    from analysis.study.plan import finetune_steps
    from analysis.study.run import StudyProgress, execute

    store = Store(tmp_path / "store")
    steps = finetune_steps(spec_for(str(tiny_bert), shared_data, seeds=(1,)))
    with connect(None, 2) as client:
        start = time.monotonic()
        with pytest.raises(ClusterError, match="none of the 2 workers .* offers the resource GPU=1"):
            execute(steps, store, StudyProgress(), client=client, gpu=True, worker_wait=2)
        assert time.monotonic() - start < 30
    assert store.ls() == []


def test_local_workers_with_a_card_offer_gpu_and_see_only_their_card():
    from analysis.study.cluster import worker_resources

    with connect(None, 2, gpus=1) as client:
        resources = worker_resources(client)
        visible = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    [gpu] = [address for address, r in resources.items() if r.get("GPU") == 1]
    [cpu] = set(resources) - {gpu}
    assert visible[gpu] == "0" and resources[cpu] == {}
    assert visible[cpu] == os.environ.get("CUDA_VISIBLE_DEVICES"), "a worker without a card keeps the default"


def test_two_writers_racing_on_one_key_without_locks_leave_one_complete_entry(tmp_path):
    """Two processes build the same entry, then rename it into place at the same moment, five times."""
    spec = {"race": True}
    code = textwrap.dedent("""
        import os, sys, time, numpy as np
        from pathlib import Path
        from analysis.store import Store
        root, go = sys.argv[1], Path(sys.argv[2])
        with Store(root).create("race", {"race": True}) as w:
            w.new_array("values", (50000, 8), np.float32)[:] = 7.0
            w.save_json("doc", {"n": 50000})
            w.summary["n"] = 50000
            go.with_name(f"ready.{os.getpid()}").touch()
            while not go.exists():
                time.sleep(0.001)
    """)
    for round_ in range(5):
        store = Store(tmp_path / f"store{round_}")
        go = tmp_path / f"round{round_}" / "go"
        go.parent.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", code, str(store.root), str(go)], cwd=PROJECT_ROOT)
                 for _ in range(2)]
        deadline = time.monotonic() + 60
        while len(list(go.parent.glob("ready.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
        entry = store[make_key("race", spec)]
        assert [e.key for e in store.ls()] == [entry.key]
        assert entry.summary == {"n": 50000} and entry.json("doc") == {"n": 50000}
        values = entry.array("values")
        assert values.shape == (50000, 8) and np.all(values == 7.0)
        assert list(store.tmp.iterdir()) == [], "the loser's copy is discarded"
        assert not store.locks.exists() or list(store.locks.iterdir()) == [], "no lock was taken"


def test_a_lost_scheduler_stops_the_study_clearly_and_a_rerun_continues(tmp_path, tiny_bert, shared_data):
    store = Store(tmp_path / "store")
    cluster = DaskProcesses(tmp_path)
    result: dict = {}
    try:
        cluster.worker("one")
        cluster.client(1).close()

        def study():
            try:
                run_study(spec_for(str(tiny_bert), shared_data), store, scheduler=cluster.address)
            except BaseException as exc:  # checked below
                result["error"] = exc

        thread = threading.Thread(target=study)
        thread.start()
        deadline = time.monotonic() + 120
        while not list(store.work.glob("run-*")) and time.monotonic() < deadline:
            time.sleep(0.2)  # until fine-tuning has begun
        os.killpg(cluster.procs[0].pid, signal.SIGKILL)
        lost = time.monotonic()
        thread.join(timeout=300)
        assert not thread.is_alive(), "the study must not hang without its scheduler"
        assert isinstance(result.get("error"), ClusterError), result
        assert f"lost the Dask scheduler at {cluster.address}" in str(result["error"])
        assert time.monotonic() - lost < 120
    finally:
        cluster.close()
    messages: list[str] = []
    entry = run_study(spec_for(str(tiny_bert), shared_data), store, report=lambda m, p: messages.append(m))
    assert entry.kind == "study"


def test_cli_runs_a_grid_of_models_as_one_graph(tmp_path, tiny_bert, shared_data, capsys):
    """Two model folders holding the same weights, in one command: two studies that share one
    fine-tuning run and its analyses, computed once."""
    import json

    from analysis.cli import main
    from analysis.finetune import list_runs

    other = tmp_path / "copy"
    shutil.copytree(tiny_bert, other)
    store = tmp_path / "store"
    assert main(["study", "--task", "ps-role", "--models", f"{tiny_bert},{other}", "--steps", "4",
                 "--batch-size", "32", "--snapshot-epochs", "0", "--probe-layers", "none",
                 "--store", str(store), "--data-dir", str(shared_data), "--json"]) == 0
    studies = json.loads(capsys.readouterr().out)["studies"]
    assert len(studies) == 2 and studies[0]["key"] != studies[1]["key"]
    assert studies[0]["runs"] == studies[1]["runs"] and len(list_runs(Store(store))) == 1
    assert main(["study", "--task", "ps-role", "--model", "a", "--models", "b", "--store", str(store)]) == 2
    assert "give --model or --models, not both" in capsys.readouterr().err
