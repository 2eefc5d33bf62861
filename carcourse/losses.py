"""Two-class losses as functions of the margin m = z_true − z_other (lesson 04).

With two classes softmax gives P(true) = σ(m), so cross-entropy is −log σ(m) and the L2 loss on
the softmax output (summed over both classes, as `TrainConfig(loss="mse")` trains) is
2(1 − σ(m))². The push is −dL/dm: how hard a gradient step moves the margin towards the true
class. Confidently wrong (m ≪ 0) cross-entropy still pushes with about 1, L2 with almost 0."""
from __future__ import annotations

from dataclasses import dataclass

import torch

NAMES = ("cross_entropy", "mse")  # the TrainConfig.loss names of the two curves


@dataclass(frozen=True)
class MarginLosses:
    """Both losses and their push at one margin (floats, float64 precision)."""

    margin: float
    p_true: float
    cross_entropy: float
    mse: float
    cross_entropy_push: float
    mse_push: float


def margin_losses(margin: float) -> MarginLosses:
    """Cross-entropy and L2-on-softmax, and −d/dm of each, at `margin`."""
    m = torch.tensor(float(margin), dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(m)
    ce = -torch.nn.functional.logsigmoid(m)
    l2 = 2 * (1 - p) ** 2
    ce_grad, = torch.autograd.grad(ce, m)
    l2_grad, = torch.autograd.grad(l2, m)
    return MarginLosses(float(margin), p.item(), ce.item(), l2.item(), float(-ce_grad), float(-l2_grad))


def margin_curves(m_min: float = -10.0, m_max: float = 10.0, points: int = 401) -> dict[str, torch.Tensor]:
    """The curves over a range of margins, computed in one pass: `margin`, `cross_entropy`,
    `mse`, `cross_entropy_push`, `mse_push` (float64 tensors)."""
    if not m_min < m_max or points < 2:
        raise ValueError(f"margin range needs m_min < m_max and points >= 2, got {m_min}, {m_max}, {points}")
    m = torch.linspace(m_min, m_max, points, dtype=torch.float64, requires_grad=True)
    ce = -torch.nn.functional.logsigmoid(m)
    l2 = 2 * (1 - torch.sigmoid(m)) ** 2
    ce_grad, = torch.autograd.grad(ce.sum(), m)
    l2_grad, = torch.autograd.grad(l2.sum(), m)
    return {"margin": m.detach(), "cross_entropy": ce.detach(), "mse": l2.detach(),
            "cross_entropy_push": -ce_grad, "mse_push": -l2_grad}
