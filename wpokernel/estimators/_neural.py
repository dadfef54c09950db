r"""What the neural estimators share: networks by name, their checks, and the training driver.

:class:`NeuralTrainingMixin` gives :class:`~wpokernel.estimators.NeuralScore` and
:class:`~wpokernel.estimators.NeuralInterpolant` one fit of their networks on standardized
data:

1. a random share ``validation_fraction`` of the rows is held out (at most
   :data:`MAX_VALIDATION_ROWS`), with the random draws of its loss (noise levels or times,
   noise) drawn once, so that the validation loss is a deterministic function of the weights;
2. minibatch Adam (:func:`wpokernel.neural.train`) on ``batch_size`` rows a step, drawn by
   epochs of random permutations, with fresh draws every step, gradient clipping at
   ``max_grad_norm``, an exponential moving average of the weights (``ema_decay``, with
   warm-up), bfloat16 autocast where ``precision`` asks for it (by default on CUDA);
3. every ``validation_interval`` steps the held-out loss of the averaged weights; training
   stops after ``patience`` measurements without improvement and keeps the best average.

Every random draw comes from generators seeded by ``random_state`` on the CPU, so a fit is
reproducible there and a CUDA fit sees the same draws. Under ``torchrun`` each process takes
its shard of every minibatch (:mod:`wpokernel.neural.distributed`).

:func:`bits_per_dimension` turns a model's log-density of dequantized data into bits per
dimension of the discrete data.
"""

import copy
import math
import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._validation import (
    nonnegative_int,
    nonnegative_real,
    one_of,
    optional,
    positive_int,
    positive_real,
    seed,
)
from ..neural import (
    MLP,
    Minibatches,
    UNet,
    data_parallel,
    process_shard,
    torch_threads,
    train,
    world,
)
from ..neural.denoising import network_dtype
from ._base import UnweightedFitMixin

__all__ = ["MAX_VALIDATION_ROWS", "NeuralTrainingMixin", "bits_per_dimension", "check_image_shape"]

# Below this many multiply-adds per optimizer step, torch's intra-op threads cost more in
# synchronization than they save on a busy two-core machine: a 5,000-parameter MLP took 70 s
# for 200 steps with two threads and 1 s with one, while a 1M-parameter U-Net on MNIST ran
# 3.8 steps/s with two and 1.8 with one.
_MIN_WORK_FOR_THREADS = 10**9
#: Held-out rows at most: a validation costs a few minibatches' forward passes.
MAX_VALIDATION_ROWS = 1024
_SEED_BOUND = 2**31 - 1
# Default widths and depths of the networks by name: sized so that the default U-Net trains to
# legible MNIST digits on two CPU cores within 15 minutes (docs/benchmarks/neural.md).
_AUTO_SIZE = {"mlp": (256, 3), "unet": (32, 3), "kernel-attention": (64, 2)}


# ---------------------------------------------------------------------------- checks
def unit_interval(name, value):
    """Constraint: a real number in [0, 1)."""
    nonnegative_real(name, value)
    if value >= 1:
        raise ValueError(f"Expected {name} in [0, 1), got {value}.")


def image_shape_constraint(name, value):
    """Constraint: ``None`` or a tuple of 2 or 3 positive integers ``(height, width[, channels])``."""
    if value is None:
        return
    if not isinstance(value, (tuple, list)) or len(value) not in (2, 3) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"Expected {name} to be None or (height, width) or (height, width, "
                         f"channels) of positive integers, got {value!r}.")


def network_constraint(names):
    """Constraint: one of ``names`` or a :class:`torch.nn.Module`."""
    def check(name, value):
        if not isinstance(value, torch.nn.Module) and not (isinstance(value, str) and value in names):
            raise ValueError(f"Expected {name} in {names} or a torch.nn.Module, got {value!r}.")

    return check


def check_image_shape(image_shape, n_features):
    """``(height, width, channels)`` of ``image_shape`` for ``n_features`` pixel values."""
    if image_shape is None:
        return None
    shape = (*image_shape, 1) if len(image_shape) == 2 else tuple(image_shape)
    if math.prod(shape) != n_features:
        raise ValueError(f"Expected image_shape with prod(image_shape) == n_features = "
                         f"{n_features}, got image_shape={tuple(image_shape)} "
                         f"({math.prod(shape)} values); flatten images in C order, channels last.")
    return shape


def check_network_output(network, n_features, call):
    """Run ``call(network, x)`` on two rows and refuse an output that is not ``(2, d)``.

    Returns the multiply-adds per row of that call: each layer with a ``weight`` counts its
    size times the positions it was applied at (rows, pixels), and a module may add the
    cost of what it computes without weights as ``reduction_multiply_adds`` per row.
    """
    x = torch.zeros(2, n_features, dtype=network_dtype(network),
                    device=next(network.parameters()).device)
    counts = []

    def count(module, inputs, output):
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and isinstance(output, torch.Tensor) and output.ndim > 1:
            counts.append(weight.numel() * output.numel() / output.shape[1])

    hooks = [module.register_forward_hook(count) for module in network.modules()]
    try:
        with torch.no_grad():
            out = call(network, x)
    finally:
        for hook in hooks:
            hook.remove()
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_features):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"Expected the network to return a tensor of shape (2, {n_features}) "
                         f"for an input of shape (2, {n_features}), got {got}.")
    return sum(counts) / 2 + getattr(network, "reduction_multiply_adds", 0)


def bits_per_dimension(log_density, n_features, bin_width=1 / 256):
    r"""Bits per dimension of discrete data from the log-density of its dequantized form.

    For data whose values sit on a grid of spacing :math:`w`, dequantized by uniform noise
    over each cell (:func:`wpokernel.datasets.load_mnist`), a density :math:`q` bounds the
    log-probability of a cell from below by :math:`\log q(x) + d \log w` (Jensen), so

    .. math::

        \text{bits/dim} = -\frac{\operatorname{mean}_i \log q(x_i) + d \log w}{d \log 2},

    which for MNIST (:math:`w = 1/256`) is :math:`8 - \operatorname{mean}\log q / (784 \log 2)`.

    Parameters
    ----------
    log_density : array-like of shape (n_samples,)
        :math:`\log q(x_i)` in nats, e.g. ``model.score_samples(X)``.
    n_features : int
    bin_width : float, default=1/256
        Grid spacing :math:`w` of the data.

    Returns
    -------
    float

    Examples
    --------
    >>> round(bits_per_dimension([0.0, 0.0], 784), 6)  # log q = 0: a uniform law on [0, 1)^784
    8.0
    """
    log_density = np.asarray(log_density, dtype=float)
    return float(-(log_density.mean() + n_features * math.log(bin_width))
                 / (n_features * math.log(2.0)))


def build_network(name, n_features, image, width, depth):
    """The MLP or U-Net ``name`` (``"auto"``: a U-Net for images) in float32."""
    if name == "auto":
        name = "unet" if image is not None else "mlp"
    default_width, default_depth = _AUTO_SIZE[name]
    width = default_width if width == "auto" else width
    depth = default_depth if depth == "auto" else depth
    if name == "mlp":
        return MLP(n_features, width, depth)
    if image is None:
        raise ValueError("Expected image_shape (height, width[, channels]) with network='unet', "
                         "got image_shape=None.")
    return UNet(*image, width, depth)


def _split(n_samples, validation_fraction, rng):
    """(fit rows, validation rows): a random share, at most MAX_VALIDATION_ROWS, at least one
    row left to fit."""
    order = rng.permutation(n_samples)
    n_validation = min(int(round(validation_fraction * n_samples)), MAX_VALIDATION_ROWS,
                       n_samples - 1)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def _chunks(n_rows, size):
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


# ---------------------------------------------------------------------------- training
class NeuralTrainingMixin(UnweightedFitMixin):
    """The training driver of the neural estimators (module docstring).

    The estimator supplies the loss of a batch, ``loss(network, y, *draws)``, and the random
    draws of ``n`` rows, ``draw(n, generator, dtype)`` (a tuple of CPU tensors).
    """

    _neural_constraints = {
        "image_shape": image_shape_constraint,
        "learning_rate": positive_real,
        "batch_size": positive_int,
        "max_steps": nonnegative_int,
        "ema_decay": optional(unit_interval),
        "max_grad_norm": optional(positive_real),
        "validation_fraction": unit_interval,
        "validation_interval": positive_int,
        "patience": positive_int,
        "precision": one_of("auto", "float32", "bfloat16"),
        "random_state": seed,
    }

    def _autocast_dtype(self):
        """bfloat16 where ``precision`` asks for it ("auto": on a CUDA device that has it)."""
        if self.precision == "bfloat16" or (self.precision == "auto" and self.device == "cuda"
                                            and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return None

    def _seeded_network(self, build, rng):
        """``build()`` under a torch seed drawn from ``rng``, moved to the training device."""
        if isinstance(self.network, torch.nn.Module):
            network = copy.deepcopy(self.network)  # the caller's module is never trained
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.randint(_SEED_BOUND)))
                network = build()
        return network.to(torch.device(self.device))

    def _split_data(self, X, rng):
        """(fitting rows, validation rows) of the standardized data ``X``."""
        fit_rows, validation_rows = _split(len(X), self.validation_fraction, rng)
        return X[fit_rows], X[validation_rows]

    def _network_call(self, network, x):
        """One evaluation of ``network`` at the states ``x``, as the estimator reads it."""
        raise NotImplementedError

    def _check_network(self, network, n_features):
        """Refuse a network of the wrong output shape; its multiply-adds per row."""
        return check_network_output(network, n_features, self._network_call)

    def _threads(self, network, n_rows):
        """:func:`~wpokernel.neural.torch_threads` for ``n_rows`` rows through ``network``:
        one thread below :data:`_MIN_WORK_FOR_THREADS` multiply-adds, else torch's setting."""
        work = self._check_network(network, self.n_features_in_) * n_rows
        return torch_threads(1 if work < _MIN_WORK_FOR_THREADS else torch.get_num_threads())

    def _train_network(self, network, X_fit, X_val, rng, draw, loss, desc):
        """Fit ``network`` (module docstring); set the training attributes; return it, frozen."""
        with self._threads(network, min(self.batch_size, len(X_fit))):
            return self._train_network_here(network, X_fit, X_val, rng, draw, loss, desc)

    def _train_network_here(self, network, X_fit, X_val, rng, draw, loss, desc):
        dtype, device = network_dtype(network), next(network.parameters()).device
        as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        rank, world_size = world()
        process_shard(torch.arange(min(self.batch_size, len(X_fit))), rank, world_size)
        seeds = rng.randint(_SEED_BOUND, size=2)
        step_loss = self._step_loss(network, as_tensor(X_fit), draw, loss, seeds[0])
        validate = (self._validation(network, as_tensor(X_val), draw, loss, seeds[1])
                    if len(X_val) else None)
        result = train(network, step_loss, max_steps=self.max_steps,
                       learning_rate=self.learning_rate, validate=validate,
                       validation_interval=self.validation_interval, patience=self.patience,
                       max_grad_norm=self.max_grad_norm, ema_decay=self.ema_decay,
                       autocast_dtype=self._autocast_dtype(), distributed=world_size > 1,
                       progress=self.progress and rank == 0, desc=desc)
        self.history_ = result.history
        self.n_train_steps_, self.best_step_ = result.n_steps, result.best_step
        self.best_validation_loss_ = -result.best_score
        return network.eval().requires_grad_(False)

    def _step_loss(self, network, X_fit, draw, loss, seed):
        """``step_loss(step)``: this process's shard of a fresh minibatch and its draws."""
        generator = torch.Generator().manual_seed(int(seed))
        batches = Minibatches(len(X_fit), self.batch_size, generator)
        rank, world_size = world()
        wrapped = data_parallel(network)

        def step_loss(step):
            del step
            rows = batches.next()
            draws = draw(len(rows), generator, X_fit.dtype)
            tensors = (X_fit[rows.to(X_fit.device)], *(a.to(X_fit.device) for a in draws))
            return loss(wrapped, *(process_shard(a, rank, world_size) for a in tensors))

        return step_loss

    def _validation(self, network, X_val, draw, loss, seed):
        """``validate()``: minus the held-out loss, its draws fixed once."""
        generator = torch.Generator().manual_seed(int(seed))
        draws = [a.to(X_val.device) for a in draw(len(X_val), generator, X_val.dtype)]

        def validate():
            total = 0.0
            with torch.no_grad():
                for rows in _chunks(len(X_val), self.batch_size):
                    value = loss(network, X_val[rows], *(a[rows] for a in draws))
                    total += float(value) * (rows.stop - rows.start)
            return -total / len(X_val)

        return validate

    def bits_per_dimension(self, X, *, bin_width=1 / 256):
        r"""Bits per dimension of discrete data ``X`` dequantized on a grid of spacing ``bin_width``.

        :math:`-(\operatorname{mean}_i \log q(x_i) + d \log w) / (d \log 2)` with
        :math:`\log q` = :meth:`score_samples` (:func:`bits_per_dimension`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dequantized data in the units of the grid (MNIST from ``load_mnist``: [0, 1)).
        bin_width : float, default=1/256
            Grid spacing :math:`w`.

        Returns
        -------
        float
        """
        positive_real("bin_width", bin_width)
        log_density = self.score_samples(X)
        return bits_per_dimension(log_density, self.n_features_in_, bin_width)
