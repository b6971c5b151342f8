"""The content-addressed store: round trip, atomic writes, concurrent writers, clear errors."""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.cli import main
from analysis.processes import ProcessId
from analysis.store import Store, StoreError, make_key, writer_of

SPEC = {"model": "abc", "task": "pos", "split": "train"}


def test_round_trip_memory_maps_arrays(store):
    with store.create("demo", SPEC) as w:
        big = w.new_array("layer_00", (100, 8), np.float32)
        big[:] = np.arange(800, dtype=np.float32).reshape(100, 8)
        w.save_array("labels", np.arange(100))
        w.save_json("targets", {"sentences": [["a", "b"]]})
        w.summary["task"] = "pos"
    entry = store[make_key("demo", SPEC)]
    arr = entry.array("layer_00")
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    assert arr[99, 7] == 799
    assert entry.array("labels", mmap=False).tolist() == list(range(100))
    assert entry.json("targets") == {"sentences": [["a", "b"]]}
    assert entry.summary == {"task": "pos"} and entry.spec == SPEC
    assert [e.key for e in store.ls()] == [entry.key] == [e.key for e in store.find("demo", task="pos")]
    assert store.find("demo", task="dep") == []


def test_key_depends_on_every_spec_field_but_not_order():
    assert make_key("demo", {"a": 1, "b": 2}) == make_key("demo", {"b": 2, "a": 1})
    assert make_key("demo", {"a": 1, "b": 2}) != make_key("demo", {"a": 1, "b": 3})
    assert make_key("demo", SPEC) != make_key("directprobe", SPEC)


def test_exception_mid_write_stores_nothing(store):
    with pytest.raises(RuntimeError):
        with store.create("demo", SPEC) as w:
            w.save_array("layer_00", np.ones(3))
            raise RuntimeError("boom")
    assert store.get(make_key("demo", SPEC)) is None
    assert list(store.tmp.iterdir()) == []


def test_killed_writer_leaves_no_entry_and_leftovers_are_cleaned(store):
    code = textwrap.dedent(f"""
        import os, numpy as np
        from analysis.store import Store
        with Store({str(store.root)!r}).create("demo", {SPEC!r}) as w:
            a = w.new_array("layer_00", (1000, 10), np.float32)
            a[:500] = 1.0
            os._exit(9)  # simulated crash: no cleanup code runs
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert store.get(make_key("demo", SPEC)) is None and store.ls() == []
    assert len(list(store.tmp.iterdir())) == 1
    assert store.clean_tmp() == 1
    assert list(store.tmp.iterdir()) == []


def _write_same_key(root: str, value: float) -> None:
    with Store(root).create("demo", SPEC) as w:
        a = w.new_array("layer_00", (20000, 16), np.float32)
        a[:] = value


def test_two_processes_writing_the_same_key_leave_one_complete_entry(store):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_same_key, args=(str(store.root), float(v))) for v in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    arr = store[make_key("demo", SPEC)].array("layer_00")
    assert arr.shape == (20000, 16) and np.unique(arr).size == 1
    assert list(store.tmp.iterdir()) == []


def test_delete_and_unreadable_entries_are_reported(store):
    with store.create("demo", SPEC):
        pass
    key = make_key("demo", SPEC)
    (store.entries / key / "meta.json").write_text("{not json")
    with pytest.raises(StoreError, match="meta.json"):
        store.get(key)
    assert store.ls() == [] and store.broken() == [store.entries / key]
    store.delete(key)
    assert not (store.entries / key).exists()
    with pytest.raises(StoreError, match="no entry"):
        store.delete(key)


def test_unreadable_array_names_the_file(store):
    with store.create("demo", SPEC) as w:
        w.save_array("labels", np.arange(4))
    entry = store[make_key("demo", SPEC)]
    entry.file("labels.npy").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="labels.npy"):
        entry.array("labels")


def test_row_file_writes_rows_in_any_order(store):
    with store.create("demo", SPEC) as w:
        rows = w.new_rows("layer_00", (5, 3), np.float16)
        rows[np.array([4, 0])] = np.array([[4, 4, 4], [0, 0, 0]])
        rows[np.array([2, 1, 3])] = np.arange(9).reshape(3, 3)
    arr = store[make_key("demo", SPEC)].array("layer_00")
    assert arr.dtype == np.float16
    np.testing.assert_array_equal(arr, [[0, 0, 0], [3, 4, 5], [0, 1, 2], [6, 7, 8], [4, 4, 4]])


def test_cli_lists_entries_with_options_before_or_after_the_action(store, capsys):
    with store.create("demo", SPEC) as w:
        w.save_array("x", np.arange(3))
    for argv in (["store", "--json", "--store", str(store.root), "ls"], ["store", "ls", "--store", str(store.root), "--json"]):
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert [e["kind"] for e in out["entries"]] == ["demo"]


def test_generation_changes_when_an_entry_lands_or_leaves(store):
    before = store.generation()
    with store.create("demo", SPEC) as w:
        w.save_array("labels", np.arange(3))
    landed = store.generation()
    assert landed != before
    store.delete(make_key("demo", SPEC))
    assert store.generation() not in (before, landed)


def tree_digest(root: Path) -> str:
    """A hash of every path and file content under ``root`` (to tell that nothing changed)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


NOT_KEYS = ["", ".", "..", "../..", "/", "/etc/passwd", "entries", "embed-" + "0" * 23, "embed-" + "0" * 24 + "/..",
            "EMBED-" + "0" * 24, "embed-" + "g" * 24, "embed-" + "0" * 24 + "\n", "x/embed-" + "0" * 24]


def test_every_call_taking_a_key_refuses_anything_else(store):
    with store.create("demo", SPEC) as w:
        w.save_array("x", np.arange(3))
    before = tree_digest(store.root)
    for bad in NOT_KEYS + [None, 3]:
        for call in (store.has, store.get, store.__getitem__, store.delete):
            with pytest.raises(StoreError, match="not a store key"):
                call(bad)
    assert tree_digest(store.root) == before
    assert store.has(make_key("demo", SPEC))


def test_cli_store_rm_refuses_non_keys_and_leaves_the_store_intact(store, capsys):
    with store.create("demo", SPEC) as w:
        w.save_array("x", np.arange(3))
    key = make_key("demo", SPEC)
    before = tree_digest(store.root)
    for bad in ["", ".", "..", str(store.entries), str(store.root), f"../entries/{key}"]:
        assert main(["store", "rm", "--store", str(store.root), bad]) == 2
        assert "not a store key" in capsys.readouterr().err
        assert main(["store", "rm", "--store", str(store.root), key, bad]) == 2  # nothing deleted, not even the key
        capsys.readouterr()
    assert tree_digest(store.root) == before
    assert main(["store", "rm", "--store", str(store.root), key]) == 0
    assert not store.has(key)


def test_kinds_are_plain_words():
    with pytest.raises(StoreError, match="not a store kind"):
        make_key("../x", SPEC)


@pytest.mark.parametrize("meta, problem", [
    ("[1, 2]", "JSON list, not an object"),
    ('"text"', "JSON str, not an object"),
    ("{}", "lacks its kind or spec"),
    ('{"kind": "demo", "spec": [], "summary": {}}', "lacks its kind or spec"),
    ('{"kind": "demo", "spec": {}, "summary": 3}', "summary is not an object"),
    ('{"kind": "probe", "spec": {}}', "names another entry"),
    ('{"kind": "embed", "spec": {}, "summary": {"model": "m", "task": "pos", "split": "test", "n_targets": 3, '
     '"n_layers": "2", "dim": 8, "label_names": []}}', "summary lacks n_layers"),
])
def test_a_foreign_record_is_listed_as_unreadable(store, meta, problem):
    with store.create("demo", {"good": 1}):
        pass
    bad = store.entries / make_key("embed", SPEC)
    bad.mkdir()
    (bad / "meta.json").write_text(meta)
    with pytest.raises(StoreError, match=problem) as err:
        store.get(bad.name)
    assert str(bad / "meta.json") in str(err.value)
    assert [e.key for e in store.ls()] == [make_key("demo", {"good": 1})]
    assert store.broken() == [bad]


def test_a_folder_not_named_as_a_key_is_unreadable(store):
    (store.entries / "stray").mkdir(parents=True)
    assert store.ls() == [] and store.broken() == [store.entries / "stray"]


def test_an_empty_array_file_is_a_store_error_naming_it(store):
    with store.create("demo", SPEC) as w:
        w.save_array("labels", np.arange(4))
    entry = store[make_key("demo", SPEC)]
    entry.file("labels.npy").write_bytes(b"")
    for mmap in (True, False):
        with pytest.raises(StoreError, match="labels.npy.*empty"):
            entry.array("labels", mmap=mmap)


def test_sigterm_removes_the_unfinished_entry(store):
    code = textwrap.dedent(f"""
        import time, numpy as np
        from analysis.processes import exit_on_sigterm
        from analysis.store import Store
        exit_on_sigterm()
        with Store({str(store.root)!r}).create("demo", {SPEC!r}) as w:
            w.new_array("layer_00", (1000, 10), np.float32)[:] = 1.0
            print("writing", flush=True)
            time.sleep(60)
    """)
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    assert len(list(store.tmp.iterdir())) == 1
    writer.send_signal(signal.SIGTERM)
    assert writer.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(store.tmp.iterdir()) == [] and store.ls() == []


def _leftover(store: Store, pid: int, started: int, host: str) -> Path:
    path = store.tmp / f"{make_key('demo', {'pid': pid, 'host': host})}.{pid}.{started}.0123abcd@{host}"
    path.mkdir(parents=True)
    (path / "layer_00.npy").write_bytes(b"partial")
    return path


def test_cleaning_removes_only_dead_writers_of_this_host(store):
    me, here = ProcessId.current(), socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = _leftover(store, me.pid, me.started, here)
    reused = _leftover(store, me.pid, me.started - 500, here)  # this pid, but an older process
    gone = _leftover(store, dead.pid, me.started, here)
    other_host = _leftover(store, dead.pid, me.started, "another-node.cluster")
    unknown = store.tmp / "embed-0123.456.abcd"
    unknown.mkdir()
    deleted = store.tmp / f"deleted.{make_key('demo', SPEC)}.0123abcd"
    deleted.mkdir()
    memo = store.tmp / f"fingerprints.json.{dead.pid}.{me.started}.0123abcd@{here}"  # a small file, not a folder
    memo.write_text("{}")
    assert writer_of(live.name) == me and writer_of(other_host.name).alive() is None
    assert store.clean_tmp() == 4
    assert sorted(store.tmp.iterdir()) == sorted([live, other_host, unknown])


def test_the_first_entry_a_store_creates_removes_dead_leftovers(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = _leftover(store, dead.pid, ProcessId.current().started, socket.gethostname())
    with Store(store.root).create("demo", SPEC):
        pass
    assert not gone.exists() and list(store.tmp.iterdir()) == []


def test_a_lock_taken_elsewhere_is_announced_before_waiting_for_it(store):
    """``on_wait`` runs only when another holder has the lock, and before this one blocks on it."""
    import threading

    events: list[str] = []
    with store.lock("free", on_wait=lambda: events.append("waited on a free lock")):
        pass
    assert events == []

    with store.lock("busy"):
        def take() -> None:
            with store.lock("busy", on_wait=lambda: events.append("waiting")):
                events.append("taken")

        other = threading.Thread(target=take)
        other.start()
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert events == ["waiting"] and other.is_alive()  # told, and still blocked
    other.join(10)
    assert events == ["waiting", "taken"]
