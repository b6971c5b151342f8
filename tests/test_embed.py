"""Representation extraction: subword means, pair and sentence shapes, long sentences, store hits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.embed import extract, plan_inputs
from analysis.models import load_model, resolve_device, resolve_model
from analysis.tasks.base import TaskData

SENTENCES = [
    ["Unbelievably", ",", "the", "tokenizer", "splits", "antidisestablishmentarianism", "."],
    ["Short", "one"],
]


def reference_hidden(model, tokenizer, words):
    """All layers of one sentence, computed independently of the extraction code."""
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    return [h[0].numpy() for h in hidden], enc.word_ids(0)


def run(model, tokenizer, data, batch_tokens=8192, **options):
    n_layers = model.config.num_hidden_layers + 1
    dim = model.config.hidden_size * (2 if data.kind == "pair" else 1)
    outputs = [np.zeros((data.n_targets, dim), np.float32) for _ in range(n_layers)]
    stats = extract(model, tokenizer, data, outputs, batch_tokens=batch_tokens, **options)
    return outputs, stats


def make(kind, targets, sentences=SENTENCES):
    return TaskData(task="t", split="train", kind=kind, sentences=sentences,
                    target_sentence=[s for s, _ in targets], target_words=[w for _, w in targets],
                    labels=[0] * len(targets), label_names=["X"], files=[])


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return load_model(resolve_model(str(tiny_bert)))


def test_word_vector_is_mean_of_its_subwords(tiny):
    tokenizer, model = tiny
    data = make("word", [(0, (0,)), (0, (5,)), (1, (1,)), (0, (3, 4))])
    outputs, _ = run(model, tokenizer, data, batch_tokens=16)
    hidden, word_ids = reference_hidden(model, tokenizer, SENTENCES[0])
    assert sum(w == 5 for w in word_ids) > 1, "the test word must split into several subwords"
    for layer, h in enumerate(hidden):
        for row, words in [(0, (0,)), (1, (5,)), (3, (3, 4))]:
            positions = [p for p, w in enumerate(word_ids) if w in words]
            np.testing.assert_allclose(outputs[layer][row], h[positions].mean(0), atol=1e-5)
    short, ids = reference_hidden(model, tokenizer, SENTENCES[1])
    np.testing.assert_allclose(outputs[-1][2], short[-1][[p for p, w in enumerate(ids) if w == 1]].mean(0), atol=1e-5)


def test_batches_on_parallel_workers_give_the_same_vectors(tiny):
    tokenizer, model = tiny
    data = make("word", [(0, (w,)) for w in range(7)] + [(1, (0,)), (1, (1,))])
    threads = torch.get_num_threads()
    seen = []
    one, _ = run(model, tokenizer, data, batch_tokens=16, workers=1)
    two, _ = run(model, tokenizer, data, batch_tokens=16, workers=2, progress=lambda done, total: seen.append(done))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    assert seen == sorted(seen) and seen[-1] == data.n_targets and len(seen) > 1
    assert torch.get_num_threads() == threads, "the caller's thread setting is restored"


def test_pair_is_head_then_dependent_and_sentence_is_cls(tiny):
    tokenizer, model = tiny
    pairs, _ = run(model, tokenizer, make("pair", [(0, (4, 3)), (1, (0, 1))]))
    single, _ = run(model, tokenizer, make("word", [(0, (4,)), (0, (3,)), (1, (0,)), (1, (1,))]))
    d = model.config.hidden_size
    assert pairs[0].shape == (2, 2 * d)
    for layer in range(len(pairs)):
        np.testing.assert_allclose(pairs[layer][0], np.concatenate([single[layer][0], single[layer][1]]), atol=1e-6)
        np.testing.assert_allclose(pairs[layer][1], np.concatenate([single[layer][2], single[layer][3]]), atol=1e-6)
    cls, _ = run(model, tokenizer, make("sentence", [(0, ()), (1, ())]))
    hidden, _ = reference_hidden(model, tokenizer, SENTENCES[1])
    np.testing.assert_allclose(cls[-1][1], hidden[-1][0], atol=1e-5)


def test_long_sentence_is_windowed_not_truncated(tiny):
    tokenizer, model = tiny
    long = [f"word{i}" for i in range(60)]  # far more subwords than the 64-position window
    data = make("word", [(0, (i,)) for i in range(60)], sentences=[long])
    plan = plan_inputs(tokenizer, data, model.config.max_position_embeddings)
    assert plan.n_windowed == 1 and len(plan.sequences) > 1
    assert all(len(s.ids) <= model.config.max_position_embeddings for s in plan.sequences)
    outputs, stats = run(model, tokenizer, data)
    assert stats["n_windowed"] == 1
    assert np.all(np.abs(outputs[-1]).sum(1) > 0), "every word gets a vector"
    # a word near the start of the first window matches a forward pass over that window alone
    first = plan.sequences[0].ids
    with torch.no_grad():
        h = model(input_ids=torch.tensor([first]), output_hidden_states=True).hidden_states[-1][0].numpy()
    positions = [pos for seq, pos in plan.parts[0] if seq == 0]
    np.testing.assert_allclose(outputs[-1][0], h[positions].mean(0), atol=1e-5)


def test_words_without_subwords_get_the_unknown_token(tiny):
    tokenizer, model = tiny
    data = make("word", [(0, (1,)), (0, (2,))], sentences=[["a", "\u200b", "b"]])
    outputs, stats = run(model, tokenizer, data)
    assert stats["n_unknown_words"] == 1
    assert np.abs(outputs[-1]).sum() > 0


def test_embed_stores_every_layer_and_a_second_call_loads_no_model(store, tiny_bert, shared_data, monkeypatch):
    from analysis import embed as embed_module
    from analysis.tasks import load_task

    entry = embed_module.embed("pos", "dev", str(tiny_bert), store=store, data_dir=shared_data)
    data = load_task("pos", "dev", data_dir=shared_data)
    s = entry.summary
    assert (s["n_targets"], s["n_layers"], s["dim"]) == (data.n_targets, 3, 32)
    assert entry.array("layer_02").shape == (data.n_targets, 32)
    np.testing.assert_array_equal(entry.array("labels"), data.labels)
    assert s["label_names"] == data.label_names and s["model"] == str(tiny_bert)
    assert s["device"] == resolve_device(None).type, "by default on the GPU when there is one"

    def no_model(*_):
        raise AssertionError("a store hit must not load a model")

    monkeypatch.setattr(embed_module, "load_model", no_model)
    monkeypatch.setattr(embed_module, "load_task", no_model)
    assert embed_module.embed("pos", "dev", str(tiny_bert), store=store, data_dir=shared_data).key == entry.key


def test_pair_task_doubles_the_width(store, tiny_bert, shared_data):
    from analysis.embed import embed, representation

    entry = embed("dep", "test", str(tiny_bert), store=store, data_dir=shared_data, dtype="float16")
    X, y = representation(entry, 2)
    assert X.shape == (3255, 64) and X.dtype == np.float16 and len(y) == 3255
    with pytest.raises(ValueError, match="layers 0..2"):
        representation(entry, 3)


def test_model_identity_is_the_weights_not_the_folder(tmp_path, store):
    import shutil

    from conftest import build_tiny_bert

    a = build_tiny_bert(tmp_path / "a", seed=1)
    b = shutil.copytree(a, tmp_path / "b")
    c = build_tiny_bert(tmp_path / "c", seed=2)
    fa, fb, fc = (resolve_model(str(p), store).fingerprint for p in (a, b, c))
    assert fa == fb != fc


def test_cli_embed_json_and_clear_errors(store, tiny_bert, shared_data, capsys):
    import json

    from analysis.cli import main

    args = ["embed", "--task", "trec-6", "--split", "test", "--model", str(tiny_bert), "--store", str(store.root),
            "--data-dir", str(shared_data), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["hit"] is False and first["n_targets"] == 499 and first["n_layers"] == 3
    assert first["label_names"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["hit"] is True and second["key"] == first["key"]
    assert main([*args, "--device", "cpu"]) == 0, "the device is not part of the key"
    assert json.loads(capsys.readouterr().out)["key"] == first["key"]
    assert main([*args, "--device", "gpu"]) == 2
    assert "device must be auto, cpu, cuda or cuda:N" in capsys.readouterr().err

    assert main(["embed", "--task", "pos", "--store", str(store.root), "--data-dir", str(store.root / "none")]) == 2
    assert "FTGEO_DATA_DIR" in capsys.readouterr().err
    assert main(["embed", "--task", "pos", "--model", str(store.root / "missing"), "--store", str(store.root)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_representations_on_cuda_match_the_cpu_ones_under_the_same_key(tmp_path, trec_bert, shared_data):
    from analysis.embed import embed, representation
    from analysis.store import Store

    cpu, gpu = (embed("trec-6", "test", str(trec_bert), store=Store(tmp_path / device), data_dir=shared_data,
                      device=device) for device in ("cpu", "cuda"))
    assert gpu.key == cpu.key, "representations are keyed without the device"
    assert (cpu.summary["device"], gpu.summary["device"]) == ("cpu", "cuda")
    for layer in range(cpu.summary["n_layers"]):
        (a, y), (b, z) = representation(cpu, layer), representation(gpu, layer)
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(y, z)
