"""The fine-tuned model: the encoder plus one linear head on its last layer's target vectors.

A word target is classified from the mean of its subword vectors, a pair from
``[head; dependent]``, a sentence from ``[CLS]`` -- pooled by the extraction code's own
:func:`analysis.embed._pool`, so training and snapshots see targets identically.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..embed import Plan, _pool, batch_tensors


class TargetClassifier(nn.Module):
    """``encoder`` fine-tuned jointly with a dropout + linear head over pooled target vectors."""

    def __init__(self, encoder: nn.Module, kind: str, n_labels: int, dropout: float):
        super().__init__()
        parts = 2 if kind == "pair" else 1
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(parts * int(encoder.config.hidden_size), n_labels)
        with torch.no_grad():
            self.head.weight.normal_(0.0, float(encoder.config.initializer_range))
            self.head.bias.zero_()

    def forward(self, plan: Plan, seqs: list[int], targets: list[int], pad_id: int) -> torch.Tensor:
        """Logits of ``targets`` (sorted plan target indices) from the plan sequences ``seqs`` that hold them."""
        ids, mask = batch_tensors(plan, seqs, pad_id)
        device = self.head.weight.device
        hidden = self.encoder(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        pooled = _pool(hidden.flatten(0, 1)[None], plan, seqs, ids.shape[1], targets)[0]
        return self.head(self.dropout(pooled))


def set_dropout(model: nn.Module, p: float) -> None:
    """Set every dropout probability (hidden, attention, head) to ``p``."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p


def model_dropout(encoder: Any) -> float:
    """The encoder's own hidden dropout probability (the head's default)."""
    return float(getattr(encoder.config, "hidden_dropout_prob", 0.1))
