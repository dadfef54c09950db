r"""The torch training loop of the package's networks: Adam, validation, early stopping.

:func:`train` minimizes a loss by Adam, one step at a time: a caller supplies the loss of a
step (its minibatch is the caller's business; :class:`Minibatches` draws them) and, optionally,
a validation score (larger is better) measured every ``validation_interval`` steps. Training
stops after ``patience`` measurements without improvement, and the network of the best score —
the state before the first step included — is restored. Options:

* an exponential moving average of the weights (``ema_decay``), with the warm-up
  :math:`\bar\theta_k = \delta_k \bar\theta_{k-1} + (1 - \delta_k) \theta_k`,
  :math:`\delta_k = \min(\delta, (1 + k) / (10 + k))` after step :math:`k`, so that early on
  the average forgets the initial network within a few steps instead of keeping
  :math:`\delta^k` of it; the average is what is validated, restored and returned;
* mixed precision (``autocast_dtype``): the loss is computed under :func:`torch.autocast`;
* data parallelism (``distributed``): each process of the default ``torch.distributed`` group
  computes the loss of its shard of a minibatch through a
  :class:`~torch.nn.parallel.DistributedDataParallel` wrapper, which averages the gradients;
  the loss recorded and checked is the mean over the processes, so every process takes the
  same decisions (:mod:`wpokernel.neural.distributed`).

:func:`distill` fits a network to per-item targets by minibatches of items until a window of
steps stops improving. :func:`torch_threads` sets the number of intra-op threads for a block.
Torch only: no scikit-learn here.
"""

import math
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["EarlyStopping", "ExponentialMovingAverage", "Minibatches", "TrainingResult", "distill",
           "torch_threads", "train"]

# Steps of the EMA warm-up: the decay after step k is at most (1 + k) / (_EMA_WARMUP + k).
_EMA_WARMUP = 10


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
    """Best validation score, the parameters that reached it, and the patience count.

    Only the parameters are kept and restored: training changes nothing else, and the
    buffers of the package's networks are fixed (means, floor profiles, and the local
    factors of :class:`~wpokernel.neural.LocalScales`, gigabytes at image scale).

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
        self.best_state = _parameters(model)
        self.patience, self.bad_rounds = patience, 0

    def update(self, model, score, step):
        """Record a validation score; return True when training should stop."""
        if score > self.best_score:
            self.best_score, self.best_step = score, step
            self.best_state = _parameters(model)
            self.bad_rounds = 0
        else:
            self.bad_rounds += 1
        return self.bad_rounds >= self.patience

    def restore(self, model):
        """Load the best parameters into ``model``."""
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.copy_(self.best_state[name])


def _parameters(model):
    """A copy of every parameter of ``model``, by name."""
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


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


class ExponentialMovingAverage:
    """Moving average of a module's parameters, with warm-up (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
    decay : float
        Largest decay :math:`\\delta` in [0, 1).
    """

    def __init__(self, model, decay):
        self.decay, self.n_updates = decay, 0
        self.average = [p.detach().clone() for p in model.parameters()]

    def update(self, model):
        """Fold the current parameters of ``model`` into the average."""
        self.n_updates += 1
        decay = min(self.decay, (1 + self.n_updates) / (_EMA_WARMUP + self.n_updates))
        with torch.no_grad():
            for average, parameter in zip(self.average, model.parameters()):
                average.lerp_(parameter.detach(), 1.0 - decay)

    @contextmanager
    def applied(self, model):
        """Run the block with the averaged weights in ``model``, then put the trained ones back."""
        self._swap(model)
        try:
            yield
        finally:
            self._swap(model)

    def _swap(self, model):
        # Swapping the tensors behind the parameters copies nothing, and the optimizer, which
        # holds the parameter objects, still steps the trained weights afterwards.
        for k, parameter in enumerate(model.parameters()):
            parameter.data, self.average[k] = self.average[k], parameter.data

    def copy_to(self, model):
        """Load the averaged weights into ``model``."""
        with torch.no_grad():
            for average, parameter in zip(self.average, model.parameters()):
                parameter.copy_(average)


class Minibatches:
    """Rows of minibatches: epochs of seeded random permutations of ``n_items`` items.

    Parameters
    ----------
    n_items : int
    batch_size : int
        Rows per minibatch (at most ``n_items``).
    generator : torch.Generator
        CPU generator of the permutations.
    """

    def __init__(self, n_items, batch_size, generator):
        self.n_items, self.batch_size = n_items, min(batch_size, n_items)
        self.generator = generator
        self._queue = torch.zeros(0, dtype=torch.long)

    def next(self):
        """The next minibatch, a long tensor of ``batch_size`` distinct rows."""
        if len(self._queue) < self.batch_size:
            self._queue = torch.randperm(self.n_items, generator=self.generator)
        batch, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size :]
        return batch


def _check_loss(loss, step, history, distributed):
    value = loss.detach().double()
    if distributed:
        value = value.clone()
        torch.distributed.all_reduce(value)
        value = value / torch.distributed.get_world_size()
    value = float(value)
    if not math.isfinite(value):
        last = next((v for v in reversed(history["loss"]) if math.isfinite(v)), None)
        raise ValueError(f"Expected a finite training loss, got {value} at step {step} (last "
                         f"finite loss {last}); the best weights so far are kept. Lower the "
                         "learning rate or check the data.")
    return value


def _autocast(model, dtype):
    """:func:`torch.autocast` to ``dtype`` on the device of ``model`` (nothing for ``None``)."""
    if dtype is None:
        return nullcontext()
    parameter = next(model.parameters())
    return torch.autocast(parameter.device.type, dtype=dtype)


def _measure(model, validate, stopping, ema, step, history):
    """Validate (the averaged weights, with an EMA) and record; True when training should stop."""
    with ema.applied(model) if ema is not None else nullcontext():
        score = validate()
        history["validation_score"].append(score)
        history["validation_step"].append(step)
        return stopping.update(model, score, step)


def _optimizer_step(model, optimizer, step_loss, step, history, options):
    max_grad_norm, autocast_dtype, distributed = options
    optimizer.zero_grad()
    with _autocast(model, autocast_dtype):
        loss = step_loss(step)
    history["loss"].append(_check_loss(loss, step, history, distributed))
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()


def train(model, step_loss, *, max_steps, learning_rate, validate=None, validation_interval=25,
          patience=8, max_grad_norm=None, ema_decay=None, autocast_dtype=None, distributed=False,
          progress=False, desc="train"):
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
    ema_decay : float or None, default=None
        Keep a moving average of the weights with this largest decay (module docstring); it
        is what is validated and restored, or, without validation, loaded at the end.
    autocast_dtype : torch.dtype or None, default=None
        Compute the loss under :func:`torch.autocast` to this dtype.
    distributed : bool, default=False
        ``step_loss`` computes each process's shard through a DistributedDataParallel
        wrapper: the loss recorded and checked is averaged over the processes.
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
    ema = ExponentialMovingAverage(model, ema_decay) if ema_decay is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    bar = tqdm(total=max_steps, disable=not progress, desc=desc)
    step, stopped = 0, False
    try:
        for step in range(1, max_steps + 1):
            _optimizer_step(model, optimizer, step_loss, step, history,
                            (max_grad_norm, autocast_dtype, distributed))
            if ema is not None:
                ema.update(model)
            bar.update()
            if validate is not None and step % validation_interval == 0 \
                    and _measure(model, validate, stopping, ema, step, history):
                stopped = True
                break
    except ValueError:
        if validate is not None:
            stopping.restore(model)
        raise
    finally:
        _close(bar, step, stopped)
    if validate is None:
        if ema is not None:
            ema.copy_to(model)
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
