r"""A score-based generative model whose score is a network, on the package's heat flow.

The forward process is the heat flow of every score model here: at time :math:`t` the data
carries Gaussian noise of standard deviation :math:`\sigma = \beta \sqrt t` (in the
standardized coordinates of :mod:`~wpokernel.estimators._standardize`), and the model learns
the denoiser :math:`D_\theta(x, \sigma) \approx \mathbb E[y \mid y + \sigma n = x]` by denoising
score matching [Vin2011]_, which gives the score by Tweedie's formula,

.. math::

    s_\theta(x, t) = \nabla \log \eta(x, t) \approx \frac{D_\theta(x, \sigma) - x}{\sigma^2},
    \qquad \sigma = \beta \sqrt t .

The training follows Karras et al. [KAAL2022]_ (:mod:`wpokernel.neural.denoising`): their
preconditioning of the network, log-normal noise levels and loss weighting, with
:math:`\sigma_{\text{data}} = 1`; minibatch Adam with an exponential moving average of the
weights and early stopping on the held-out denoising loss
(:mod:`~wpokernel.estimators._neural`).

Samplers, from :math:`N(0, (1 + \beta^2 T) I)` at :math:`\sigma_{\max} = \beta \sqrt T` down to
``sigma_min``:

* ``"ode"`` (default): Heun's method on the probability-flow ODE in the noise level,
  :math:`dx/d\sigma = (x - D_\theta(x, \sigma))/\sigma` — the same ODE as
  :math:`dx/dt = -\tfrac12 \beta^2 s_\theta` — over the noise levels of
  :func:`~wpokernel.neural.karras_sigmas` (:math:`\rho = 7`): their deterministic sampler;
* ``"sde"``: Euler–Maruyama on the reverse heat-flow SDE, over the same levels as times
  :math:`t_i = \sigma_i^2 / \beta^2`.

``score_samples`` integrates the instantaneous change of variables along the same ODE in
:math:`\sigma`, with the exact divergence (the trace over the basis, by autograd) up to 16
features and a Hutchinson estimate with 16 Rademacher probes above
(:mod:`wpokernel.dynamics.divergence`), from the data to :math:`\sigma_{\max}`, where the
Gaussian above is the base density.

References
----------
.. [Vin2011] P. Vincent, "A connection between score matching and denoising autoencoders",
   Neural Computation 23(7), 1661-1674, 2011.
.. [KAAL2022] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of
   diffusion-based generative models", NeurIPS 2022.
"""

import math

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._validation import positive_int, real_or_option
from ..dynamics import exact_divergence, heun, hutchinson_divergence, ode_log_likelihood
from ..neural import KernelAttention, denoise, denoising_loss, karras_sigmas, sample_noise_levels
from ._base import _DIVERGENCE_PROBES, BaseScoreModel
from ._neural import (
    _AUTO_SIZE,
    NeuralTrainingMixin,
    build_network,
    check_image_shape,
    network_constraint,
)

__all__ = ["NeuralScore"]

_NETWORKS = ("auto", "mlp", "unet", "kernel-attention")
# The kernel-attention network: its covariance floor relative to the data's variance (as
# WPOKernelScore's default), and the rank of its covariances by default.
_COVARIANCE_FLOOR = 1e-6
_DEFAULT_RANK = 10


def _top_variance(X):
    """Largest eigenvalue of the covariance of the rows of ``X``."""
    centered = X - X.mean(axis=0)
    return float(np.linalg.eigvalsh(centered.T @ centered / len(X))[-1])


def _nearest_key_variance(keys):
    """Median over keys of the squared distance to the nearest other key, per feature."""
    if len(keys) < 2:
        return 1.0
    distances = torch.cdist(torch.as_tensor(keys), torch.as_tensor(keys))
    distances.fill_diagonal_(math.inf)
    return float(distances.min(1).values.median() ** 2 / keys.shape[1])


class NeuralScore(NeuralTrainingMixin, BaseScoreModel):
    r"""Score-based generative model with a denoising network, trained by denoising score matching.

    See the module docstring for the model, the training and the samplers. Every length is
    in units of the data's spread ``scale_``.

    Parameters
    ----------
    network : {"auto", "mlp", "unet", "kernel-attention"} or torch.nn.Module, default="auto"
        The network (:mod:`wpokernel.neural`): ``"auto"`` is the U-Net with ``image_shape``,
        else the MLP; ``"kernel-attention"`` the WPO kernel-attention network, whose score
        is a learned Gaussian mixture's. A module is used as given (a copy is trained):
        ``module(x, c)`` maps ``x`` of shape ``(B, n_features)`` and ``c`` of shape ``(B,)``
        to the shape of ``x`` and is read with the preconditioning
        (:mod:`wpokernel.neural.denoising`), or, if its class sets ``preconditioned = True``,
        ``module(x, sigma)`` is the denoiser itself.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(height, width, channels)`` of images flattened in C order,
        channels last; their product must be ``n_features``.
    width, depth : int or "auto", default="auto"
        The network's size: hidden units and residual blocks of the MLP (256, 3), channels
        of the first level and levels of the U-Net (32, 3), hidden units and layers of the
        kernel-attention network's factor and residual networks (64, 2).
    n_centers : int, default=512
        Keys of the kernel-attention network (at most the fitting rows), initialized at
        training rows drawn at random.
    rank : int or "auto", default="auto"
        Rank of its covariances; ``"auto"`` is ``min(10, n_features)``.
    learning_rate : float, default=2e-3
        Adam step size.
    batch_size : int, default=128
        Rows per optimizer step (the global minibatch across processes).
    max_steps : int, default=3000
        Largest number of optimizer steps.
    ema_decay : float or None, default=0.999
        Largest decay of the moving average of the weights (with warm-up); ``None`` keeps the
        trained weights.
    max_grad_norm : float or None, default=1.0
        Clip the gradient's global norm.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping (at most 1,024 rows); 0 trains for
        ``max_steps`` without validation.
    validation_interval : int, default=200
        Optimizer steps between two validation measurements.
    patience : int, default=5
        Measurements without improvement before training stops.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Autocast dtype of the training's forward passes; ``"auto"`` is bfloat16 on a CUDA
        device that supports it, float32 elsewhere. The weights are float32 either way.
    device : {"cpu", "cuda"}, default="cpu"
        Where the network trains and the samplers run.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the network, the minibatches and their noise: an int gives the same
        model on the CPU.
    beta : float, default=1.0
        Heat-flow speed :math:`\beta`: noise :math:`\beta\sqrt t` at time :math:`t`.
    T : float, default=6400.0
        Time where sampling starts (:math:`\sigma_{\max} = \beta\sqrt T = 80`).
    sigma_min : float, default=0.002
        Noise left where sampling stops (positive).
    n_steps : int, default=64
        Steps of the samplers and of the likelihood ODE.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend of the base; the kernel-attention network always runs the
        differentiable torch backend.
    working_memory : float, default=256
        Memory budget in MiB of the reductions.
    progress : bool, default=True
        Progress bars while training and integrating.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (the moving average of its weights), on ``device``, frozen.
    n_train_steps_ : int
        Optimizer steps run.
    best_step_ : int
        Step of the kept weights.
    best_validation_loss_ : float
        Their held-out denoising loss (NaN without validation).
    history_ : dict
        ``"loss"`` per step, ``"validation_score"`` (minus the held-out loss) per measurement
        and ``"validation_step"``.
    mean_, scale_ : ndarray of shape (n_features,), float
        The standardization of the data.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel import NeuralScore
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> model = NeuralScore(width=32, depth=1, max_steps=50, n_steps=8, progress=False,
    ...                     random_state=0).fit(X)
    >>> model.sample(3, random_state=0).shape
    (3, 2)
    """

    _parameter_constraints = {
        **BaseScoreModel._parameter_constraints,
        **NeuralTrainingMixin._neural_constraints,
        "network": network_constraint(_NETWORKS),
        "width": real_or_option(positive_int, "auto"),
        "depth": real_or_option(positive_int, "auto"),
        "n_centers": positive_int,
        "rank": real_or_option(positive_int, "auto"),
    }
    _sample_methods = ("ode", "sde")
    _torch_state = True

    def __init__(self, *, network="auto", image_shape=None, width="auto", depth="auto",
                 n_centers=512, rank="auto", learning_rate=2e-3, batch_size=128, max_steps=3000,
                 ema_decay=0.999, max_grad_norm=1.0, validation_fraction=0.1,
                 validation_interval=200, patience=5, precision="auto", device="cpu",
                 random_state=None, beta=1.0, T=6400.0, sigma_min=0.002, n_steps=64,
                 backend="auto", working_memory=256, progress=True):
        self.network = network
        self.image_shape = image_shape
        self.width = width
        self.depth = depth
        self.n_centers = n_centers
        self.rank = rank
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.ema_decay = ema_decay
        self.max_grad_norm = max_grad_norm
        self.validation_fraction = validation_fraction
        self.validation_interval = validation_interval
        self.patience = patience
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.beta = beta
        self.T = T
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.progress = progress

    # ---------------------------------------------------------------- fit
    def _check_params(self):
        super()._check_params()
        if self.sigma_min <= 0:
            raise ValueError(f"Expected sigma_min > 0: the learned score is defined at positive "
                             f"noise levels only, got sigma_min={self.sigma_min}.")

    def _fit(self, X, sample_weight):
        del sample_weight  # all ones: this fit takes no weights
        rng = check_random_state(self.random_state)
        image = check_image_shape(self.image_shape, X.shape[1])
        X_fit, X_val = self._split_data(X, rng)
        network = self._seeded_network(lambda: self._new_network(X_fit, image, rng), rng)
        self._check_network(network, X.shape[1])
        groups = getattr(network, "noise_groups", None)
        n_features = X.shape[1]

        def draw(n, generator, dtype):
            return (sample_noise_levels(n, generator, groups, dtype),
                    torch.randn(n, n_features, generator=generator, dtype=dtype))

        self.network_ = self._train_network(network, X_fit, X_val, rng, draw, denoising_loss,
                                            "NeuralScore")

    def _new_network(self, X_fit, image, rng):
        if self.network != "kernel-attention":
            return build_network(self.network, X_fit.shape[1], image, self.width, self.depth)
        default_width, default_depth = _AUTO_SIZE["kernel-attention"]
        n_keys = min(self.n_centers, len(X_fit))
        keys = X_fit[np.sort(rng.choice(len(X_fit), n_keys, replace=False))]
        d = X_fit.shape[1]
        ceiling = _top_variance(X_fit)
        network = KernelAttention(
            d, n_keys, min(d, _DEFAULT_RANK if self.rank == "auto" else self.rank),
            default_width if self.width == "auto" else self.width,
            default_depth if self.depth == "auto" else self.depth, _COVARIANCE_FLOOR, ceiling,
            min(_nearest_key_variance(keys), ceiling))
        with torch.no_grad():
            network.keys.copy_(torch.as_tensor(keys))
        return network

    # ---------------------------------------------------------------- fields
    def _network_call(self, network, x):
        # At sigma = 1 (or its conditioning c = 1): the network's own output, before any
        # preconditioning combines it with x.
        return network(x, torch.ones(len(x), dtype=x.dtype, device=x.device))

    def _denoise(self, x, sigma):
        """:math:`D_\\theta(x, \\sigma)` at one noise level for every row, in the dtype of ``x``."""
        return denoise(self.network_, x, torch.full((len(x),), sigma, dtype=x.dtype,
                                                     device=x.device))

    def _score(self, x, t):
        sigma = self._schedule.noise_of(t)
        if sigma <= 0:
            raise ValueError(f"Expected t > 0: the learned score is defined at positive noise "
                             f"levels only, got t={t}.")
        return (self._denoise(x, sigma) - x) / sigma**2

    def _noise_velocity(self, x, sigma):
        """:math:`dx/d\\sigma = (x - D_\\theta(x, \\sigma))/\\sigma` of the probability-flow ODE."""
        return (x - self._denoise(x, sigma)) / sigma

    def _sigmas(self, n_steps):
        return karras_sigmas(self._schedule.noise_of(self.T), self.sigma_min, n_steps)

    def _time_grid(self, n_steps):
        return self._sigmas(n_steps) ** 2 / self.beta**2

    def _integrate(self, method, x, random, n_steps, progress):
        with self._threads(self.network_, len(x)):
            if method == "sde":
                return super()._integrate(method, x, random, n_steps, progress)
            return heun(self._noise_velocity, x, self._sigmas(n_steps), progress,
                        "NeuralScore ode")

    def _log_density(self, U):
        velocity = self._noise_velocity
        field = (exact_divergence(velocity) if U.shape[1] <= _DIVERGENCE_PROBES
                 else hutchinson_divergence(velocity, _DIVERGENCE_PROBES, 0))
        with self._threads(self.network_, len(U)):
            base, integral = ode_log_likelihood(field, U, self._sigmas(self.n_steps)[::-1],
                                                self.progress, "NeuralScore likelihood")
        return self._base_log_density(base) + integral
