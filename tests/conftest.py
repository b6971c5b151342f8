"""Shared fixtures: the real corpora in ../shared/data, a throw-away store per test, tiny BERTs, the dashboard's store."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import PROJECT_ROOT
from analysis.store import Store

SHARED_DATA = (PROJECT_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared corpora are expected at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def temporary_files_are_data(tmp_path_factory: pytest.TempPathFactory):
    """Task files written by tests (under pytest's temporary folder) lie within the data roots."""
    import os

    from analysis.config import DATA_ROOTS_ENV

    before = os.environ.get(DATA_ROOTS_ENV)
    os.environ[DATA_ROOTS_ENV] = str(tmp_path_factory.getbasetemp())
    yield
    if before is None:
        os.environ.pop(DATA_ROOTS_ENV, None)
    else:
        os.environ[DATA_ROOTS_ENV] = before


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: corpus downloads can only open ``file://`` URLs."""
    import urllib.request
    from urllib.error import URLError

    from analysis.tasks import download

    def local_only(url: str, timeout: float | None = None):
        if not url.startswith("file:"):
            raise URLError("network disabled in tests")
        return urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(download, "urlopen", local_only)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def build_tiny_bert(folder: Path, *, layers: int = 2, hidden: int = 32, max_positions: int = 64, seed: int = 0) -> Path:
    """Save a tiny randomly initialised BERT with the bundled MiniLM vocabulary into ``folder``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from analysis.models import default_model_path

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=max_positions)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim random BERT with a 64-position window (so long sentences get windowed)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def build_own_vocab_bert(folder: Path, words: set[str], *, seed: int = 0) -> Path:
    """Save a tiny random BERT (as :func:`build_tiny_bert`) whose word-level vocabulary is ``words``
    (lower-cased), so that it needs no bundled model: for machines that carry only the code."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate([*special, *sorted({w.lower() for w in words} - set(special))])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                             special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def trec_bert(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A tiny random BERT whose vocabulary is the words of TREC's training questions."""
    from analysis.tasks import load_task

    words = {w for sentence in load_task("trec-6", "train", data_dir=shared_data).sentences for w in sentence}
    return build_own_vocab_bert(tmp_path_factory.mktemp("trec_bert"), words)


def build_dashboard_store(root: Path, model: Path, data: Path) -> Store:
    """The dashboard's test store, made by the real pipeline with the tiny BERT.

    TREC-6 questions and POS words embedded; two short TREC-6 fine-tuning runs (AdamW, BERTAdam;
    one epoch on 64 questions, snapshots every 2 updates) with nothing analysed, for the pages'
    "not computed yet" states; and a whole PS-role study (one seed, 6 updates, PS-fxn recorded
    alongside: fine-tuning with snapshots, DirectProbe on every layer it needs, MLP probes on every
    layer, its tables), so that every page has real results to draw.
    """
    from analysis.embed import embed
    from analysis.finetune import SnapshotOptions, TrainOptions, finetune
    from analysis.study import ProbeConfig, StudySpec, run_study

    store = Store(root)
    for task in ("trec-6", "pos"):
        embed(task, "test", str(model), store=store, data_dir=data)
    for optimizer in ("adamw", "bertadam"):
        finetune("trec-6", str(model), seed=1, store=store, data_dir=data, snapshots=SnapshotOptions(every=2),
                 options=TrainOptions(epochs=1, train_size=64, batch_size=16, lr=1e-3, optimizer=optimizer))
    run_study(StudySpec("ps-role", str(model), seeds=(1,), data_dir=str(data),
                        train=TrainOptions(steps=6, batch_size=32, lr=1e-3),
                        snapshots=SnapshotOptions(every=3, epochs=0, probe_tasks=("ps-fxn",)),
                        probes=ProbeConfig(layers="all", hidden_sizes=(32,), seeds=(0, 1), max_epochs=3)), store)
    return store


@pytest.fixture(scope="session")
def dashboard_store(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, shared_data: Path) -> Store:
    """The dashboard's test store (:func:`build_dashboard_store`), built once per test session."""
    return build_dashboard_store(tmp_path_factory.mktemp("dashboard") / "store", tiny_bert, shared_data)
