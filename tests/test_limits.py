"""Caps on seeds, workers, run size, free disk and downloads: each refused with a clear error, nothing stored."""
from __future__ import annotations

import hashlib
import shutil
import tracemalloc
from collections import namedtuple

import pytest

from analysis import limits
from analysis.cli import main
from analysis.embed import embed
from analysis.finetune import parse_seeds
from analysis.limits import LimitError, ensure_space, representation_bytes
from analysis.study import StudySpec
from analysis.study.size import study_bytes
from analysis.tasks import load_task
from analysis.tasks.base import DataError
from analysis.tasks.download import Remote, fetch

MB = 1 << 20
Usage = namedtuple("Usage", "total used free")


def fake_free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(free * 2, free, free))


def test_seed_ranges_are_counted_before_any_list_is_built(monkeypatch):
    assert parse_seeds("1-5,3-8,10") == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    tracemalloc.start()
    with pytest.raises(LimitError, match=r"4000000000 seeds asked for, more than the cap of 1000 .*FTGEO_MAX_SEEDS"):
        parse_seeds("1-4000000000")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < MB
    with pytest.raises(ValueError, match="seeds must be at most 4294967295, not 10000000000"):
        parse_seeds("1-10000000000")
    with pytest.raises(ValueError, match="cannot read"):
        parse_seeds("1-" + "9" * 5000)
    monkeypatch.setenv("FTGEO_MAX_SEEDS", "5")
    assert parse_seeds("1-5,2-4,5") == [1, 2, 3, 4, 5]  # overlaps count once
    with pytest.raises(LimitError, match="6 seeds asked for"):
        parse_seeds("1-5,9")
    monkeypatch.setenv("FTGEO_MAX_SEEDS", "many")
    with pytest.raises(LimitError, match=r"\$FTGEO_MAX_SEEDS must be a positive whole number, not 'many'"):
        parse_seeds("1")


def test_the_commands_refuse_too_many_seeds_and_workers(store, monkeypatch, capsys):
    args = ["study", "--task", "trec-6", "--store", str(store.root)]
    assert main([*args, "--seeds", "1-10000000000"]) == 2
    assert "seeds must be at most" in capsys.readouterr().err
    assert main(["finetune", "--task", "trec-6", "--store", str(store.root), "--seeds", "1-2000"]) == 2
    assert "2000 seeds asked for" in capsys.readouterr().err
    monkeypatch.setenv("FTGEO_MAX_WORKERS", "8")
    for argv in ([*args, "--workers", "9"], ["finetune", "--task", "trec-6", "--snapshot-workers", "9"],
                 ["finetune", "--task", "trec-6", "--threads", "100"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "is more than the cap of 8 (set $FTGEO_MAX_WORKERS" in capsys.readouterr().err
    assert not store.entries.exists() or not any(store.entries.iterdir())


def test_ensure_space_compares_the_estimate_with_free_disk(tmp_path, monkeypatch):
    needed = representation_bytes(499, 7, 384, 4)
    assert needed == 499 * 7 * 384 * 4
    fake_free(monkeypatch, needed + 1024 * MB)
    ensure_space(tmp_path / "not" / "yet", needed, "this")  # exactly fits with the 1 GB reserve
    fake_free(monkeypatch, needed + 1024 * MB - 1)
    with pytest.raises(LimitError, match=r"this would store about 5 MB, but .* has 1029 MB free and 1024 MB must "
                                         r"stay free \(\$FTGEO_DISK_RESERVE_MB\)"):
        ensure_space(tmp_path, needed, "this")
    monkeypatch.setenv("FTGEO_DISK_RESERVE_MB", "1")
    ensure_space(tmp_path, needed, "this")
    monkeypatch.setenv("FTGEO_MAX_RUN_GB", "1")
    fake_free(monkeypatch, 1 << 50)
    with pytest.raises(LimitError, match=r"about 2048 MB, more than the cap of 1024 MB per run \(set \$FTGEO_MAX_RUN_GB"):
        ensure_space(tmp_path, 2 << 30, "that")


def test_an_extraction_that_does_not_fit_is_refused_and_leaves_nothing(store, tiny_bert, monkeypatch):
    n = load_task("trec-6", "test").n_targets
    needed = representation_bytes(n, 3, 32, 4)  # the tiny BERT: 2 layers + embeddings, 32 wide
    fake_free(monkeypatch, needed + 1024 * MB - 1)
    with pytest.raises(LimitError, match=rf"trec-6 test \({n} targets × 3 layers × 32\) would store about"):
        embed("trec-6", "test", str(tiny_bert), store=store, device="cpu")
    assert not any(store.entries.iterdir()) and not any(store.tmp.iterdir())
    fake_free(monkeypatch, needed + 1024 * MB)
    assert embed("trec-6", "test", str(tiny_bert), store=store, device="cpu").summary["n_targets"] == n


def test_a_study_that_does_not_fit_is_refused_before_it_starts(store, tiny_bert, monkeypatch, capsys):
    spec = StudySpec("trec-6", str(tiny_bert), seeds=(1, 2, 3))
    targets = load_task("trec-6", "train").n_targets + load_task("trec-6", "test").n_targets
    assert study_bytes(spec) == 4 * targets * 3 * 32 * 4
    fake_free(monkeypatch, 1024 * MB)
    assert main(["study", "--task", "trec-6", "--model", str(tiny_bert), "--seeds", "1-3", "--preset", "quick",
                 "--store", str(store.root)]) == 2
    assert "the study of trec-6 would store about 9 MB, but" in capsys.readouterr().err
    assert not store.entries.exists() or not any(store.entries.iterdir())


def test_downloads_are_capped(shared_data, tmp_path, monkeypatch):
    source = shared_data / "trec" / "TREC_10.label"
    data = source.read_bytes()
    pinned = Remote(source.as_uri(), hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setenv("FTGEO_MAX_DOWNLOAD_MB", "1")
    big = Remote(source.as_uri(), pinned.sha256, 2 * MB)
    with pytest.raises(LimitError, match=r"more than the download cap of 1048576 bytes \(set \$FTGEO_MAX_DOWNLOAD_MB"):
        fetch(big, tmp_path / "big" / "TREC_10.label")
    assert not (tmp_path / "big").exists()
    short = Remote(source.as_uri(), pinned.sha256, len(data) - 1000)  # the server sends more than was pinned
    with pytest.raises(DataError, match="runs past its pinned size"):
        fetch(short, tmp_path / "short" / "TREC_10.label")
    assert list((tmp_path / "short").iterdir()) == []
    fake_free(monkeypatch, 10 * MB)
    with pytest.raises(LimitError, match="downloading .* would store about 0 MB"):
        fetch(pinned, tmp_path / "full" / "TREC_10.label")
    fake_free(monkeypatch, 2048 * MB)
    assert fetch(pinned, tmp_path / "ok" / "TREC_10.label").read_bytes() == data


def test_caps_have_defaults(monkeypatch):
    for env in ("FTGEO_MAX_SEEDS", "FTGEO_MAX_WORKERS", "FTGEO_MAX_DOWNLOAD_MB"):
        monkeypatch.delenv(env, raising=False)
    assert limits.max_seeds() == 1000 and limits.max_download_bytes() == 512 * MB
    assert limits.max_workers() >= 4


def test_a_fine_tuning_run_whose_snapshots_do_not_fit_is_refused_before_training(store, tiny_bert, monkeypatch):
    from analysis.finetune import SnapshotOptions, TrainOptions, finetune, list_runs

    options = dict(store=store, seed=1, device="cpu", snapshots=SnapshotOptions(every=2),
                   options=TrainOptions(steps=4, train_size=64, batch_size=16, lr=1e-3))
    # 3 snapshots (updates 0, 2, 4) of 64 train and all test questions, 3 layers × 32 wide; plus the
    # weights and Adam's two moments, for the checkpoint
    n = 64 + load_task("trec-6", "test").n_targets
    snapshots = 3 * representation_bytes(n, 3, 32, 4)
    fake_free(monkeypatch, 1024 * MB + snapshots)  # room for the snapshots alone
    with pytest.raises(LimitError, match=r"fine-tuning run run-[0-9a-f]{24} \(3 snapshots to store\) would store "
                                         r"about \d+ MB, but"):
        finetune("trec-6", str(tiny_bert), **options)
    assert not store.entries.exists() or not any(store.entries.iterdir())
    assert list_runs(store).empty or (list_runs(store)["step"] == 0).all()
    fake_free(monkeypatch, 1 << 50)
    assert finetune("trec-6", str(tiny_bert), **options)["status"] == "done"
    assert len(store.ls()) == 6
