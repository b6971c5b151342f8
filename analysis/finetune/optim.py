"""Optimisers and learning-rate schedule: AdamW, or BERTAdam (Adam without bias correction).

Zhang et al. (ICLR 2021) show that the original BERT optimiser, which skips Adam's bias
correction, makes few-sample fine-tuning unstable.  Both optimisers here use the same
decoupled weight decay and epsilon (1e-6, BERT's), so their updates differ exactly by the
bias-correction factors ``1 - beta1**t`` and ``sqrt(1 - beta2**t)``.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

EPS = 1e-6
BETAS = (0.9, 0.999)


class BertAdam(torch.optim.Optimizer):
    """Adam with decoupled weight decay and no bias correction, as in the original BERT code.

    ``p -= lr * (m / (sqrt(v) + eps) + weight_decay * p)``, with ``m`` and ``v`` the raw moving
    averages; the state (``step``, ``exp_avg``, ``exp_avg_sq``) has AdamW's layout.
    """

    def __init__(self, params: Iterable[Any], lr: float, betas: tuple[float, float] = BETAS,
                 eps: float = EPS, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                state["exp_avg"].lerp_(p.grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                if decay:
                    p.mul_(1 - lr * decay)
                p.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(eps), value=-lr)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: biases, LayerNorm and embeddings' norms are exempt (as in BERT)."""
    decay, exempt = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (exempt if name == "bias" or isinstance(module, nn.LayerNorm) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``adamw`` (torch's fused kernel, on the CPU or the GPU, bias-corrected) or ``bertadam``."""
    groups = parameter_groups(model, weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS, fused=True)
    if name == "bertadam":
        return BertAdam(groups, lr=lr, betas=BETAS, eps=EPS)
    raise ValueError(f"unknown optimizer {name!r}; choose adamw or bertadam")


def make_schedule(optimizer: torch.optim.Optimizer, total: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` of the ``total`` updates, then linear decay to zero."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, int(round(warmup * total)), total)
