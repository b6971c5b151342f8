"""The content-addressed store: round trip, atomic writes, concurrent writers, clear errors."""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from analysis.cli import main
from analysis.store import Store, StoreError, make_key

SPEC = {"model": "abc", "task": "pos", "split": "train"}


def test_round_trip_memory_maps_arrays(store):
    with store.create("embed", SPEC) as w:
        big = w.new_array("layer_00", (100, 8), np.float32)
        big[:] = np.arange(800, dtype=np.float32).reshape(100, 8)
        w.save_array("labels", np.arange(100))
        w.save_json("targets", {"sentences": [["a", "b"]]})
        w.summary["task"] = "pos"
    entry = store[make_key("embed", SPEC)]
    arr = entry.array("layer_00")
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    assert arr[99, 7] == 799
    assert entry.array("labels", mmap=False).tolist() == list(range(100))
    assert entry.json("targets") == {"sentences": [["a", "b"]]}
    assert entry.summary == {"task": "pos"} and entry.spec == SPEC
    assert [e.key for e in store.ls()] == [entry.key] == [e.key for e in store.find("embed", task="pos")]
    assert store.find("embed", task="dep") == []


def test_key_depends_on_every_spec_field_but_not_order():
    assert make_key("embed", {"a": 1, "b": 2}) == make_key("embed", {"b": 2, "a": 1})
    assert make_key("embed", {"a": 1, "b": 2}) != make_key("embed", {"a": 1, "b": 3})
    assert make_key("embed", SPEC) != make_key("directprobe", SPEC)


def test_exception_mid_write_stores_nothing(store):
    with pytest.raises(RuntimeError):
        with store.create("embed", SPEC) as w:
            w.save_array("layer_00", np.ones(3))
            raise RuntimeError("boom")
    assert store.get(make_key("embed", SPEC)) is None
    assert list(store.tmp.iterdir()) == []


def test_killed_writer_leaves_no_entry_and_leftovers_are_cleaned(store):
    code = textwrap.dedent(f"""
        import os, numpy as np
        from analysis.store import Store
        with Store({str(store.root)!r}).create("embed", {SPEC!r}) as w:
            a = w.new_array("layer_00", (1000, 10), np.float32)
            a[:500] = 1.0
            os._exit(9)  # simulated crash: no cleanup code runs
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert store.get(make_key("embed", SPEC)) is None and store.ls() == []
    assert len(list(store.tmp.iterdir())) == 1
    assert store.clean_tmp() == 1
    assert list(store.tmp.iterdir()) == []


def _write_same_key(root: str, value: float) -> None:
    with Store(root).create("embed", SPEC) as w:
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
    arr = store[make_key("embed", SPEC)].array("layer_00")
    assert arr.shape == (20000, 16) and np.unique(arr).size == 1
    assert list(store.tmp.iterdir()) == []


def test_delete_and_unreadable_entries_are_reported(store):
    with store.create("embed", SPEC):
        pass
    key = make_key("embed", SPEC)
    (store.entries / key / "meta.json").write_text("{not json")
    with pytest.raises(StoreError, match="meta.json"):
        store.get(key)
    assert store.ls() == [] and store.broken() == [store.entries / key]
    store.delete(key)
    assert not (store.entries / key).exists()
    with pytest.raises(StoreError, match="no entry"):
        store.delete(key)


def test_unreadable_array_names_the_file(store):
    with store.create("embed", SPEC) as w:
        w.save_array("labels", np.arange(4))
    entry = store[make_key("embed", SPEC)]
    entry.file("labels.npy").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="labels.npy"):
        entry.array("labels")


def test_row_file_writes_rows_in_any_order(store):
    with store.create("embed", SPEC) as w:
        rows = w.new_rows("layer_00", (5, 3), np.float16)
        rows[np.array([4, 0])] = np.array([[4, 4, 4], [0, 0, 0]])
        rows[np.array([2, 1, 3])] = np.arange(9).reshape(3, 3)
    arr = store[make_key("embed", SPEC)].array("layer_00")
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
    with store.create("embed", SPEC) as w:
        w.save_array("labels", np.arange(3))
    landed = store.generation()
    assert landed != before
    store.delete(make_key("embed", SPEC))
    assert store.generation() not in (before, landed)
