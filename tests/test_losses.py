"""Lesson 04's loss maths on the margin (carcourse.losses), which the loss-shapes widget shows."""
import math

import pytest
import torch

from carcourse.losses import margin_curves, margin_losses


def test_l2_push_vanishes_when_confidently_wrong_while_cross_entropy_keeps_pushing():
    wrong = margin_losses(-8.0)
    assert wrong.cross_entropy_push == pytest.approx(1 - 1 / (1 + math.exp(8)), rel=1e-9)  # 1 − p_true
    assert wrong.mse_push < 0.002 < 0.99 < wrong.cross_entropy_push
    assert margin_losses(0.0).cross_entropy == pytest.approx(math.log(2))


def test_mse_on_the_margin_equals_the_two_class_training_loss():
    m = 1.3
    p = torch.softmax(torch.tensor([[0.0, m]], dtype=torch.float64), 1)  # true class 1
    summed = float(((p - torch.tensor([[0.0, 1.0]], dtype=torch.float64)) ** 2).sum())
    assert margin_losses(m).mse == pytest.approx(summed)


def test_curves_agree_with_single_points_and_reject_an_empty_range():
    curves = margin_curves(-4, 4, 9)
    point = margin_losses(-4.0)
    assert float(curves["cross_entropy"][0]) == pytest.approx(point.cross_entropy)
    assert float(curves["mse_push"][0]) == pytest.approx(point.mse_push)
    with pytest.raises(ValueError, match="m_min < m_max"):
        margin_curves(2, 1)
