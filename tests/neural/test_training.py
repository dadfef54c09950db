"""The torch training loop: Adam steps, validation with early stopping and restore-best, the
progress bar at an early stop, non-finite losses, gradient clipping, distillation, threads."""

import math

import numpy as np
import pytest
import torch

from wpokernel.neural import distill, torch_threads, train


def _model(value=3.0):
    model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


def _quadratic(model):
    """Loss (w - 1)^2, minimized at w = 1."""
    return lambda step: (model.weight[0, 0] - 1.0) ** 2


def test_adam_minimizes_the_loss_and_records_every_step():
    model = _model()
    result = train(model, _quadratic(model), max_steps=300, learning_rate=0.05)
    assert result.n_steps == result.best_step == 300 and not result.stopped_early
    assert math.isnan(result.best_score)
    assert len(result.history["loss"]) == 300
    assert result.history["loss"][-1] < 1e-3 * result.history["loss"][0]
    assert abs(model.weight.item() - 1.0) < 0.05


def test_early_stopping_restores_the_best_state():
    # The validation score is -(w - 2)^2: it improves while w falls from 3 to 2, then worsens.
    model = _model()
    snapshots = {}

    def validate():
        w = model.weight.item()
        snapshots[len(snapshots)] = w
        return -(w - 2.0) ** 2

    result = train(model, _quadratic(model), max_steps=5000, learning_rate=0.01,
                   validate=validate, validation_interval=10, patience=3)
    assert result.stopped_early and result.n_steps < 5000
    scores = result.history["validation_score"]
    assert result.history["validation_step"][0] == 0 and len(scores) == len(snapshots)
    best = int(np.argmax(scores))
    assert result.best_step == result.history["validation_step"][best]
    assert result.best_score == scores[best]
    # Stopped after `patience` measurements without improvement, with the best weights back.
    assert len(scores) - 1 - best == 3
    assert model.weight.item() == snapshots[best]


def test_the_progress_bar_closes_at_the_step_reached_and_says_why(capsys):
    model = _model()
    result = train(model, _quadratic(model), max_steps=5000, learning_rate=0.01,
                   validate=lambda: -abs(model.weight.item() - 2.5), validation_interval=5,
                   patience=2, progress=True, desc="fit")
    err = capsys.readouterr().err
    assert f"{result.n_steps}/{result.n_steps}" in err and "/5000" not in err.split("\r")[-1]
    assert "early stopping" in err.split("\r")[-1]


def test_a_non_finite_loss_names_the_step_and_keeps_the_best_weights():
    model = _model()

    def step_loss(step):
        loss = _quadratic(model)(step)
        return loss * (math.inf if step == 7 else 1.0)

    with pytest.raises(ValueError, match=r"Expected a finite training loss, got inf at step 7 "
                                         r"\(last finite loss [0-9.e-]+\); the best weights"):
        train(model, step_loss, max_steps=20, learning_rate=0.05,
              validate=lambda: -model.weight.item() ** 2, validation_interval=100)
    assert model.weight.item() == 3.0  # the state before training scored best


def test_gradient_clipping_bounds_the_gradient_norm():
    model = _model(100.0)
    train(model, lambda step: 1e6 * (model.weight[0, 0] - 1.0) ** 2, max_steps=3,
          learning_rate=0.1, max_grad_norm=0.5)
    assert float(model.weight.grad.norm()) == pytest.approx(0.5, rel=1e-12)


def test_distillation_stops_once_a_window_no_longer_improves():
    targets = torch.linspace(-1.0, 1.0, 40, dtype=torch.float64)
    model = torch.nn.Linear(1, 40, bias=False, dtype=torch.float64)

    def item_loss(index):
        return ((model.weight[index, 0] - targets[index]) ** 2).mean()

    everything = torch.arange(40)
    before = item_loss(everything).item()
    steps = distill(model, item_loss, 40, np.random.RandomState(0), max_steps=2000,
                    batch_size=10, learning_rate=0.05, window=25, tolerance=0.02)
    # Stopped by the window rule, at a window's end, long before the step limit.
    assert steps % 25 == 0 and steps < 2000
    assert item_loss(everything).item() < 0.01 * before


def test_threads_are_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
