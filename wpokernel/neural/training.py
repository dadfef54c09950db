r"""The torch training loop of the package's networks: Adam, validation, early stopping.

:func:`train` minimizes a loss by Adam, one step at a time: a caller supplies the loss of a
step (its minibatch is the caller's business) and, optionally, a validation score (larger is
better) measured every ``validation_interval`` steps. Training stops after ``patience``
measurements without improvement, and the network of the best score — the state before the
first step included — is restored. :func:`distill` fits a network to per-item targets by
minibatches of items until a window of steps stops improving. :func:`torch_threads` sets the
number of intra-op threads for a block. Torch only: no scikit-learn here.
"""

import copy
import math
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["EarlyStopping", "TrainingResult", "distill", "torch_threads", "train"]


@contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch intra-op threads, then restore the setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class EarlyStopping:
    """Best validation score, the model state that reached it, and the patience count.

    Parameters
    ----------
    model : torch.nn.Module
    score : float
        Score of the state before training (step 0); ``-inf`` when there is none.
    patience : int
        Measurements without improvement before :meth:`update` says stop.
    """

    def __init__(self, model, score, patience):
        self.best_score, self.best_step = score, 0
        self.best_state = copy.deepcopy(model.state_dict())
        self.patience, self.bad_rounds = patience, 0

    def update(self, model, score, step):
        """Record a validation score; return True when training should stop."""
        if score > self.best_score:
            self.best_score, self.best_step = score, step
            self.best_state = copy.deepcopy(model.state_dict())
            self.bad_rounds = 0
        else:
            self.bad_rounds += 1
        return self.bad_rounds >= self.patience

    def restore(self, model):
        """Load the best state into ``model``."""
        model.load_state_dict(self.best_state)


class TrainingResult(NamedTuple):
    """What :func:`train` reports.

    Attributes
    ----------
    n_steps : int
        Steps run.
    best_step : int
        Step of the restored state (0: the state before training).
    best_score : float
        Its validation score (NaN without validation).
    history : dict
        ``"loss"`` per step, ``"validation_score"`` per measurement and ``"validation_step"``.
    stopped_early : bool
        Whether early stopping ended training before ``max_steps``.
    """

    n_steps: int
    best_step: int
    best_score: float
    history: dict
    stopped_early: bool


def _check_loss(loss, step, history):
    value = float(loss.detach())
    if not math.isfinite(value):
        last = next((v for v in reversed(history["loss"]) if math.isfinite(v)), None)
        raise ValueError(f"Expected a finite training loss, got {value} at step {step} (last "
                         f"finite loss {last}); the best weights so far are kept. Lower the "
                         "learning rate or check the data.")
    return value


def train(model, step_loss, *, max_steps, learning_rate, validate=None, validation_interval=25,
          patience=8, max_grad_norm=None, progress=False, desc="train"):
    """Adam on ``step_loss`` with validation, early stopping and restore-best.

    Parameters
    ----------
    model : torch.nn.Module
        Its parameters are optimized in place; on return it holds the best state.
    step_loss : callable
        ``step_loss(step)`` returning the 0-d loss tensor of step ``step`` (1, 2, ...).
    max_steps : int
        Largest number of steps (0 runs none).
    learning_rate : float
        Adam step size.
    validate : callable or None, default=None
        ``validate()`` returning a float score, larger is better; ``None``: no early stopping,
        the last state is kept.
    validation_interval, patience : int
        Steps between measurements; measurements without improvement before stopping.
    max_grad_norm : float or None, default=None
        Clip the global gradient norm to this value.
    progress : bool, default=False
        Progress bar labelled ``desc``; when early stopping ends training the bar is closed at
        the step reached and says so.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        A non-finite loss: the step and the last finite loss are named, and the best state so
        far is restored before raising.
    """
    history = {"loss": [], "validation_score": [], "validation_step": []}
    score = validate() if validate is not None else -math.inf
    if validate is not None:
        history["validation_score"].append(score)
        history["validation_step"].append(0)
    stopping = EarlyStopping(model, score, patience)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    bar = tqdm(total=max_steps, disable=not progress, desc=desc)
    step, stopped = 0, False
    try:
        for step in range(1, max_steps + 1):
            optimizer.zero_grad()
            loss = step_loss(step)
            history["loss"].append(_check_loss(loss, step, history))
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            bar.update()
            if validate is not None and step % validation_interval == 0:
                score = validate()
                history["validation_score"].append(score)
                history["validation_step"].append(step)
                if stopping.update(model, score, step):
                    stopped = True
                    break
    except ValueError:
        if validate is not None:
            stopping.restore(model)
        raise
    finally:
        _close(bar, step, stopped)
    if validate is None:
        return TrainingResult(step, step, math.nan, history, False)
    stopping.restore(model)
    return TrainingResult(step, stopping.best_step, stopping.best_score, history, stopped)


def _close(bar, step, stopped):
    """Close the bar at the step reached, so an early stop does not look like a crash."""
    if stopped:
        bar.total = step
        bar.set_postfix_str("early stopping: no better validation score")
        bar.refresh()
    bar.close()


def distill(model, item_loss, n_items, rng, *, max_steps=300, batch_size=256,
            learning_rate=1e-2, window=25, tolerance=0.02, progress=False, desc="distill"):
    """Adam on a per-item loss over random minibatches of items until it stops improving.

    Stops when the mean loss of a window of steps improves on the previous window's by less
    than ``tolerance`` (relative), or after ``max_steps``.

    Parameters
    ----------
    model : torch.nn.Module
    item_loss : callable
        ``item_loss(index)`` returning the mean loss over the items ``index`` (a long tensor).
    n_items : int
    rng : numpy.random.RandomState
        Draws the minibatches (index tensors go to the device of the model's parameters).

    Returns
    -------
    int
        Steps run.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    device = next(model.parameters()).device
    losses, previous, step = [], np.inf, 0
    for step in tqdm(range(1, max_steps + 1), disable=not progress, desc=desc, leave=False):
        index = torch.as_tensor(rng.choice(n_items, min(n_items, batch_size), replace=False),
                                device=device)
        optimizer.zero_grad()
        loss = item_loss(index)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % window == 0:
            current = float(np.mean(losses[-window:]))
            if previous - current < tolerance * abs(previous):
                break
            previous = current
    return step
