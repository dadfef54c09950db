r"""Stochastic interpolants from a Gaussian base to the data, with learned velocity and denoiser.

The neural form of :class:`~wpokernel.estimators.StochasticInterpolant` [ABV2023]_: the same
interpolant between :math:`x_0 \sim N(0, I)` and a data point :math:`x_1` (in standardized
coordinates),

.. math::

    x_t = \alpha(t)\, x_0 + \beta(t)\, x_1 + \gamma(t)\, z = \beta(t)\, x_1 + \sigma_t\,
    \varepsilon, \qquad \sigma_t^2 = \alpha^2 + \gamma^2, \quad \varepsilon \sim N(0, I),

with the coefficients of :mod:`wpokernel.interpolant_coefficients`, but the velocity
:math:`b(x, t) = \mathbb E[\dot x_t \mid x_t = x]` and the denoiser
:math:`\eta(x, t) = \mathbb E[\varepsilon \mid x_t = x]` are two networks of the same kind
(:mod:`wpokernel.neural`), learned with the interpolant's quadratic losses at times
:math:`t \sim U(0, t_{\text{end}})`,

.. math::

    L_b = \mathbb E\, \lVert b(x_t, t) - \dot\beta x_1 - \tfrac{\alpha\dot\alpha +
    \gamma\dot\gamma}{\sigma_t}\, \varepsilon\rVert^2, \qquad
    L_\eta = \mathbb E\, \lVert \eta(x_t, t) - \varepsilon\rVert^2 .

The first is the regression of :math:`\dot x_t = \dot\alpha x_0 + \dot\beta x_1 + \dot\gamma z`
with its noise part replaced by its regression on :math:`\sigma_t \varepsilon = \alpha x_0 +
\gamma z` (the remainder is independent of :math:`x_t`, so the minimizer is the same
:math:`b`, and the target stays finite where :math:`\dot\gamma` is not); both are minimized by
the conditional expectations, as in [ABV2023]_. The score is :math:`s = -\eta / \sigma_t`
(Tweedie). Generative dynamics, from :math:`N(0, I)` at :math:`t = 0`, as for the kernel
form:

* ODE :math:`dx = b\, dt` (Heun);
* SDE :math:`dx = (b + \varepsilon(t) s)\, dt + \sqrt{2 \varepsilon(t)}\, dW`
  (Euler–Maruyama) with :math:`\varepsilon(t) = \varepsilon \sigma_t^2`, so the drift is
  :math:`b - \varepsilon \sigma_t \eta`, finite to :math:`t = 1`;

and the ODE log-likelihood :math:`\log p(x) = \log N(x(0); 0, I) - \int_0^{t_{\text{end}}}
\nabla\cdot b\, dt` with the exact divergence up to 16 features and a Hutchinson estimate
above. The training (minibatch Adam, EMA, early stopping on the held-out sum of the two
losses) is that of :mod:`~wpokernel.estimators._neural`.

References
----------
.. [ABV2023] M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic interpolants: a
   unifying framework for flows and diffusions", arXiv:2303.08797, 2023.
"""

import math

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._validation import (
    boolean,
    nonnegative_real,
    positive_int,
    real_or_option,
)
from ..dynamics import exact_divergence, gap_grid, squared_grid
from ..interpolant_coefficients import InterpolantCoefficients
from ..neural.denoising import network_dtype
from ._base import BaseGenerativeModel, LogDensityMixin
from ._neural import (
    NeuralTrainingMixin,
    build_network,
    check_image_shape,
    check_network_output,
    network_constraint,
)
from .interpolant import INTERPOLANT_CONSTRAINTS, _end_time

__all__ = ["NeuralInterpolant"]

_NETWORKS = ("auto", "mlp", "unet")


class _Pair(torch.nn.Module):
    """The velocity and the denoiser network, trained together: ``(b(x, t), eta(x, t))``."""

    def __init__(self, velocity, denoiser):
        super().__init__()
        self.velocity, self.denoiser = velocity, denoiser

    def forward(self, x, t):
        return self.velocity(x, t), self.denoiser(x, t)


def _interpolant_loss(pair, y, t, beta, beta_dot, sigma, rate, noise):
    r""":math:`L_b + L_\eta` of a batch (module docstring), per feature."""
    x_t = beta[:, None] * y + sigma[:, None] * noise
    velocity, denoised = pair(x_t, t)
    target = beta_dot[:, None] * y + (rate / sigma)[:, None] * noise
    return (velocity.to(y.dtype) - target).pow(2).mean() + (denoised.to(y.dtype) - noise).pow(2).mean()


class NeuralInterpolant(NeuralTrainingMixin, LogDensityMixin, BaseGenerativeModel):
    r"""Stochastic interpolant from :math:`N(0, I)` to the data with a velocity and a denoiser network.

    The neural form of :class:`~wpokernel.estimators.StochasticInterpolant`: the same
    interpolants, samplers and stop (``sigma_min``), with :math:`b` and :math:`\eta` learned
    (module docstring). Everything runs in standardized coordinates.

    Parameters
    ----------
    interpolant : {"linear", "trigonometric", "sbdm"}, default="linear"
        Family of :math:`(\alpha, \beta)`.
    gamma : {"zero", "sqrt", "quadratic"}, default="zero"
        Latent noise :math:`\gamma`: none, :math:`\sqrt{a t(1-t)}` or :math:`\sqrt{a}\,t(1-t)`.
    gamma_scale : float, default=1.0
        The scale :math:`a > 0` of ``gamma``.
    diffusion : float, default=1.0
        :math:`\varepsilon \ge 0` of the SDE sampler, whose diffusion is
        :math:`\varepsilon(t) = \varepsilon\,(\alpha^2 + \gamma^2)`.
    sigma_min : float or "auto", default="auto"
        Noise :math:`\sigma_t` left where the dynamics stop, in :math:`[0, 1)`; ``"auto"`` is
        0 (run to :math:`t = 1`).
    n_steps : int, default=100
        Steps of the samplers and of the likelihood ODE, on the grid of the kernel form.
    network : {"auto", "mlp", "unet"} or torch.nn.Module, default="auto"
        Kind of both networks (``"auto"``: the U-Net with ``image_shape``, else the MLP); a
        module ``module(x, t)`` (``x`` of shape ``(B, n_features)``, ``t`` of shape ``(B,)``)
        is copied twice, one copy for each.
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(height, width, channels)``, as for
        :class:`~wpokernel.estimators.NeuralScore`.
    width, depth : int or "auto", default="auto"
        Size of each network, as for :class:`~wpokernel.estimators.NeuralScore`.
    learning_rate, batch_size, max_steps, ema_decay, max_grad_norm, validation_fraction, \
validation_interval, patience, precision, random_state
        Training, as for :class:`~wpokernel.estimators.NeuralScore` (defaults 2e-3, 128,
        3000, 0.999, 1.0, 0.1, 200, 5, "auto", None).
    device : {"cpu", "cuda"}, default="cpu"
        Where the networks train and the samplers run.
    backend, working_memory
        Reduction settings shared by every estimator (no reduction runs here).
    progress : bool, default=True
        Progress bars while training and integrating.

    Attributes
    ----------
    velocity_network_, denoiser_network_ : torch.nn.Module
        The trained networks of :math:`b` and :math:`\eta` (moving averages), frozen.
    coefficients_ : InterpolantCoefficients
        :math:`\alpha, \beta, \gamma` and their derivatives.
    t_end_ : float
        Resolved end time.
    n_train_steps_ : int
        Optimizer steps run.
    best_step_ : int
        Step of the kept weights.
    best_validation_loss_ : float
        Their held-out loss :math:`L_b + L_\eta` (NaN without validation).
    history_ : dict
        ``"loss"`` per step, ``"validation_score"`` per measurement, ``"validation_step"``.
    mean_, scale_ : ndarray of shape (n_features,), float
        The standardization of the data.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel import NeuralInterpolant
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> model = NeuralInterpolant(width=32, depth=1, max_steps=50, n_steps=8, progress=False,
    ...                           random_state=0).fit(X)
    >>> model.sample(3, random_state=0).shape
    (3, 2)
    """

    _parameter_constraints = {
        **BaseGenerativeModel._parameter_constraints,
        **NeuralTrainingMixin._neural_constraints,
        **INTERPOLANT_CONSTRAINTS,
        "network": network_constraint(_NETWORKS),
        "width": real_or_option(positive_int, "auto"),
        "depth": real_or_option(positive_int, "auto"),
    }
    _sample_methods = ("ode", "sde")
    _torch_state = True

    def __init__(self, *, interpolant="linear", gamma="zero", gamma_scale=1.0, diffusion=1.0,
                 sigma_min="auto", n_steps=100, network="auto", image_shape=None, width="auto",
                 depth="auto", learning_rate=2e-3, batch_size=128, max_steps=3000,
                 ema_decay=0.999, max_grad_norm=1.0, validation_fraction=0.1,
                 validation_interval=200, patience=5, precision="auto", device="cpu",
                 random_state=None, backend="auto", working_memory=256, progress=True):
        self.interpolant = interpolant
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.diffusion = diffusion
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.network = network
        self.image_shape = image_shape
        self.width = width
        self.depth = depth
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
        self.backend = backend
        self.working_memory = working_memory
        self.progress = progress

    # ---------------------------------------------------------------- fit
    def _check_params(self):
        if self.sigma_min != "auto" and self.sigma_min >= 1:
            raise ValueError(f"Expected sigma_min < 1, the noise of the Gaussian base at t = 0, "
                             f"got sigma_min={self.sigma_min}.")

    def _fit(self, X, sample_weight):
        del sample_weight  # all ones: this fit takes no weights
        self.coefficients_ = InterpolantCoefficients(self.interpolant, self.gamma, self.gamma_scale)
        self.t_end_ = _end_time(self.coefficients_, 0.0 if self.sigma_min == "auto"
                                else self.sigma_min)
        rng = check_random_state(self.random_state)
        image = check_image_shape(self.image_shape, X.shape[1])
        X_fit, X_val = self._split_data(X, rng)
        networks = [self._seeded_network(lambda: build_network(
            self.network, X.shape[1], image, self.width, self.depth), rng) for _ in range(2)]
        pair = _Pair(*networks)
        self._check_network(pair, X.shape[1])
        pair = self._train_network(pair, X_fit, X_val, rng, self._draw, _interpolant_loss,
                                   "NeuralInterpolant")
        self.velocity_network_, self.denoiser_network_ = pair.velocity, pair.denoiser

    def _draw(self, n, generator, dtype):
        """Times :math:`t \\sim U(0, t_{\\text{end}})`, their coefficients and the noise."""
        t = torch.rand(n, generator=generator, dtype=torch.float64) * self.t_end_
        values = self.coefficients_(t.numpy())
        sigma = np.sqrt(values.noise_variance)
        coefficients = [torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype) for a in (
            values.beta, values.beta_dot, sigma, values.noise_variance_rate)]
        noise = torch.randn(n, self.n_features_in_, generator=generator, dtype=dtype)
        return (t.to(dtype), *coefficients, noise)

    def _network_call(self, network, x):
        return network(x, torch.full((len(x),), 0.5, dtype=x.dtype, device=x.device))

    def _check_network(self, network, n_features):
        if isinstance(network, _Pair):
            return sum(check_network_output(net, n_features, self._network_call)
                       for net in (network.velocity, network.denoiser))
        return check_network_output(network, n_features, self._network_call)

    # ---------------------------------------------------------------- fields
    def _evaluate(self, network, x, t):
        times = torch.full((len(x),), t, dtype=network_dtype(network), device=x.device)
        return network(x.to(times.dtype), times).to(x.dtype)

    def _noise(self, t):
        return math.sqrt(float(self.coefficients_(t).noise_variance))

    def _velocity(self, x, t):
        return self._evaluate(self.velocity_network_, x, t)

    def _drift(self, x, t):
        return self._velocity(x, t) - (self.diffusion * self._noise(t)) * self._evaluate(
            self.denoiser_network_, x, t)

    def _diffusion(self, t):
        return math.sqrt(2 * self.diffusion) * self._noise(t)

    def _time_grid(self, n_steps):
        if self.t_end_ == 1:
            return squared_grid(n_steps)
        return gap_grid(0.0, 1.0 - self.t_end_, n_steps)

    def _initial_state(self, n_samples, random):
        return random.normal((n_samples, self.n_features_in_))

    def _base_log_density(self, x):
        return -0.5 * ((x * x).sum(1) + x.shape[1] * math.log(2 * math.pi))

    def _pair(self):
        return _Pair(self.velocity_network_, self.denoiser_network_)

    def _integrate(self, method, x, random, n_steps, progress):
        with self._threads(self._pair(), len(x)):
            return super()._integrate(method, x, random, n_steps, progress)

    def _log_density(self, U):
        with self._threads(self._pair(), len(U)):
            return super()._log_density(U)

    # ---------------------------------------------------------------- evaluation
    def _time(self, t):
        if t is None:
            return self.t_end_
        nonnegative_real("t", t)
        if t > 1:
            raise ValueError(f"Expected a time t in [0, 1], got {t}.")
        return float(t)

    def velocity(self, X, t=None, *, return_divergence=False):
        r"""Learned velocity :math:`b(x, t)`, in the caller's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float, default=None
            Time in :math:`[0, 1]`; ``None`` means ``t_end_``.
        return_divergence : bool, default=False
            Also return :math:`\nabla\cdot b(x, t)` (the trace of its Jacobian by autograd;
            the same in every unit of :math:`x`).

        Returns
        -------
        velocity : ndarray of shape (n_samples, n_features)
        divergence : ndarray of shape (n_samples,)
            Only with ``return_divergence=True``.
        """
        t = self._time(t)
        boolean("return_divergence", return_divergence)
        velocity = self._field_in_data_units(self._velocity, X, t, 1)
        if not return_divergence:
            return velocity
        divergence = self._field_in_data_units(
            lambda u, t: exact_divergence(self._velocity)(u, t)[1], X, t, 0)
        return velocity, divergence

    def score_function(self, X, t=None):
        r"""Learned score :math:`\nabla_x \log p_t(x) = -\eta(x, t) / \sigma_t`, in the caller's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float, default=None
            Time in :math:`[0, 1]` with :math:`\sigma_t > 0`; ``None`` means ``t_end_``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        t = self._time(t)
        sigma = self._noise(t)
        if sigma == 0:
            raise ValueError(f"Expected a time t with noise sigma_t > 0, where the score is "
                             f"finite, got t={t}; pass an earlier time.")
        return self._field_in_data_units(
            lambda u, t: -self._evaluate(self.denoiser_network_, u, t) / sigma, X, t, -1)
