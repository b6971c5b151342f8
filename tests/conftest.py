"""Shared fixtures: the real corpora in ../shared/data and a throw-away store per test."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import PROJECT_ROOT
from analysis.store import Store

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared corpora are expected at {SHARED_DATA}")
    return SHARED_DATA


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
