"""Re-initialise the top encoder layers and the pooler, as in Zhang et al. (ICLR 2021)."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def bert_init(module: nn.Module, std: float) -> None:
    """BERT's initialisation: linear weights ~ N(0, std), zero biases, LayerNorm to identity."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
        if isinstance(m, nn.LayerNorm):
            m.weight.fill_(1.0)
            m.bias.zero_()


def reinit_top_layers(encoder: nn.Module, n: int) -> list[str]:
    """Re-initialise the top ``n`` layers and the pooler (if any) of a BERT-family encoder; returns their names."""
    if n == 0:
        return []
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError(f"{type(encoder).__name__} has no encoder.layer list: cannot re-initialise its top layers")
    if not 0 <= n <= len(layers):
        raise ValueError(f"cannot re-initialise {n} layers: the model has {len(layers)}")
    std = float(encoder.config.initializer_range)
    names = []
    for index in range(len(layers) - n, len(layers)):
        bert_init(layers[index], std)
        names.append(f"encoder.layer.{index}")
    pooler = getattr(encoder, "pooler", None)
    if pooler is not None:
        bert_init(pooler, std)
        names.append("pooler")
    return names
