"""The torch training loop: Adam steps, validation with early stopping and restore-best, the
progress bar at an early stop, non-finite losses, gradient clipping, the moving average of the
weights, autocast, minibatches, distillation, threads."""

import math

import numpy as np
import pytest
import torch

from wpokernel.neural import ExponentialMovingAverage, Minibatches, distill, torch_threads, train


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


# ------------------------------------------------------------------ moving average, minibatches

def test_the_moving_average_follows_its_warm_up_recursion():
    # a_k = d_k a_{k-1} + (1 - d_k) w_k, d_k = min(0.9, (1 + k) / (10 + k)), a_0 = w_0.
    model = _model(0.0)
    average = ExponentialMovingAverage(model, 0.9)
    expected = 0.0
    for k in range(1, 31):
        with torch.no_grad():
            model.weight.fill_(float(k**2))
        average.update(model)
        decay = min(0.9, (1 + k) / (10 + k))
        expected = decay * expected + (1 - decay) * k**2
    with average.applied(model):
        assert model.weight.item() == pytest.approx(expected, rel=1e-12)
    assert model.weight.item() == 900.0  # the trained weight is back
    average.copy_to(model)
    assert model.weight.item() == pytest.approx(expected, rel=1e-12)


def test_without_validation_training_ends_with_the_average():
    model = _model()
    weights = []

    def step_loss(step):
        weights.append(model.weight.item())
        return 0.1 * model.weight[0, 0]

    train(model, step_loss, max_steps=30, learning_rate=0.1, ema_decay=0.9)
    # The trained weights fall step by step; their average lags behind them.
    assert np.all(np.diff(weights) < 0) and model.weight.item() > weights[-1]


def test_the_moving_average_is_what_is_validated_and_restored():
    model = _model()
    seen = []

    def validate():
        seen.append(model.weight.item())
        return -model.weight.item()  # smaller is better: the trained weights keep falling

    result = train(model, lambda step: 0.1 * model.weight[0, 0], max_steps=40, learning_rate=0.1,
                   validate=validate, validation_interval=10, patience=5, ema_decay=0.99)
    # Trained weights at step 40: 3 - 4 = -1; the averages lag behind them.
    assert all(w > 3.0 - 0.1 * step for w, step in zip(seen[1:], (10, 20, 30, 40)))
    assert result.best_step == 40 and model.weight.item() == seen[-1]


def test_the_loss_is_computed_under_autocast():
    model = _model()
    dtypes = []

    def step_loss(step):
        product = model(torch.ones(1, 1))
        dtypes.append(product.dtype)
        return product.float().pow(2).sum()

    model = model.float()
    train(model, step_loss, max_steps=2, learning_rate=0.1, autocast_dtype=torch.bfloat16)
    train(model, step_loss, max_steps=1, learning_rate=0.1)
    assert dtypes == [torch.bfloat16, torch.bfloat16, torch.float32]


def test_minibatches_run_through_seeded_permutations():
    batches = Minibatches(10, 4, torch.Generator().manual_seed(0))
    drawn = [batches.next() for _ in range(6)]
    assert all(len(b) == 4 and len(set(b.tolist())) == 4 for b in drawn)
    # The two first batches of an epoch never repeat a row (an epoch is a permutation).
    assert not set(drawn[0].tolist()) & set(drawn[1].tolist())
    again = Minibatches(10, 4, torch.Generator().manual_seed(0))
    assert all(torch.equal(b, again.next()) for b in drawn)
    assert len(Minibatches(3, 8, torch.Generator()).next()) == 3


def test_early_stopping_keeps_the_parameters_not_the_fixed_buffers():
    # At image scale the local factors of LocalScales are gigabytes: the best state holds
    # the parameters only, and restoring it leaves the buffers as they are.
    from wpokernel.neural import EarlyStopping, LocalScales
    factors = torch.randn(6, 4, 2, dtype=torch.float64)
    model = LocalScales(6, 4, 2, 8, 1, np.zeros(4), 1.0, 1e-3, 4.0, 0.3, factors=factors)
    stopping = EarlyStopping(model, 0.0, patience=2)
    assert set(stopping.best_state) == {name for name, _ in model.named_parameters()}
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    stopping.restore(model)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert model.factors is factors
