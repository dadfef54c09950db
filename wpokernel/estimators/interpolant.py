r"""Stochastic interpolants from a Gaussian base to a Gaussian-mixture target, in closed form.

The interpolant [ABV2023]_ joins a standard Gaussian base to the target measure :math:`\pi` of
the data (:mod:`wpokernel.estimators._target`),

.. math::

    x_t = \alpha(t)\, x_0 + \beta(t)\, x_1 + \gamma(t)\, z, \qquad
    x_0, z \sim N(0, I), \quad x_1 \sim \pi = \sum_j w_j N(\mu_j, C_j),

with the coefficients of :mod:`wpokernel.interpolant_coefficients`. Given the component
:math:`j` of :math:`x_1`, :math:`x_t` is Gaussian, so its law is the mixture

.. math::

    p_t = \sum_j w_j\, N\big(\beta \mu_j,\; \beta^2 C_j + \sigma_t^2 I\big), \qquad
    \sigma_t^2 = \alpha^2 + \gamma^2,

whose score :math:`s = \nabla \log p_t` and Laplacian :math:`\Delta \log p_t` the reduction
engine computes. The noise :math:`n = \alpha x_0 + \gamma z` is independent of :math:`x_1` and
:math:`x_t = \beta x_1 + n`, so Tweedie's formula :math:`\mathbb E[n \mid x_t = x] = -\sigma_t^2
s(x)` and the regression of :math:`x_0` and :math:`z` on :math:`n` give
:math:`\mathbb E[x_0 \mid x] = -\alpha s`, :math:`\mathbb E[z \mid x] = -\gamma s`. The
velocity :math:`b = \mathbb E[\dot\alpha x_0 + \dot\beta x_1 + \dot\gamma z \mid x_t = x]` is then

.. math::

    b(x, t) = \dot\beta\, m(x, t) - (\alpha\dot\alpha + \gamma\dot\gamma)\, s(x, t), \qquad
    m = \mathbb E[x_1 \mid x_t = x] = \frac{x + \sigma_t^2 s}{\beta},

i.e. :math:`b = \frac{\dot\beta}{\beta} x + \big(\frac{\dot\beta}{\beta}\sigma_t^2 - \alpha\dot\alpha
- \gamma\dot\gamma\big) s`, a softmax-weighted average over the target components. Its exact
divergence is

.. math::

    \nabla\cdot b = \dot\beta\, \frac{d + \sigma_t^2\, \Delta \log p_t}{\beta}
        - (\alpha\dot\alpha + \gamma\dot\gamma)\, \Delta \log p_t .

At :math:`t = 0` (:math:`\beta = 0`) :math:`x_t` is independent of :math:`x_1`, so
:math:`m = \sum_j w_j \mu_j` and :math:`\nabla\cdot m = 0`: the limits of the formulas above.
Only the products :math:`\alpha\dot\alpha`, :math:`\gamma\dot\gamma` appear, finite on
:math:`[0, 1]` for every family.

Generative dynamics, from :math:`x_0 \sim p_0 = N(0, I)` at :math:`t = 0` to :math:`t_{\text{end}}`:

* ODE :math:`dx = b\, dt` (Heun);
* SDE :math:`dx = (b + \varepsilon(t)\, s)\, dt + \sqrt{2 \varepsilon(t)}\, dW` (Euler–Maruyama),
  with :math:`\varepsilon(t) = \varepsilon\, \sigma_t^2`.

Both keep the marginals :math:`p_t` for any :math:`\varepsilon(t) \ge 0`, since
:math:`\varepsilon \Delta p = \nabla\cdot(\varepsilon\, p\, s)` in the Fokker–Planck equation.
Every component of :math:`p_t` has variance at least :math:`\sigma_t^2`, so the Langevin part
relaxes at a rate of at most :math:`\varepsilon(t) / \sigma_t^2 = \varepsilon`: an Euler step
stays stable for :math:`\varepsilon \Delta t < 1` even where :math:`\sigma_t \to 0` near
:math:`t = 1`, while a constant :math:`\varepsilon` would need steps shorter than
:math:`\sigma_t^2 / \varepsilon`.

The log-likelihood of a point follows the ODE backwards (instantaneous change of variables):

.. math::

    \log p_{t_{\text{end}}}(x) = \log N\big(x(0); 0, I\big)
        - \int_0^{t_{\text{end}}} \nabla\cdot b\big(x(t), t\big)\, dt,
    \qquad x(t_{\text{end}}) = x .

The dynamics stop at the time :math:`t_{\text{end}}` where the noise left,
:math:`\sigma_t = \sqrt{\alpha^2 + \gamma^2}`, falls to ``sigma_min`` (the last such time; in
units of the data's spread, since everything runs in the standardized coordinates of
:mod:`~wpokernel.estimators._standardize`). The empirical target (``target=None``,
:math:`C_j = 0`) has no density at :math:`t = 1`, where :math:`b` is singular; by default it
stops where :math:`\sigma_t = 10^{-3}`: :math:`p_{t_{\text{end}}}` is a kernel density of that
bandwidth around the points :math:`\beta(t_{\text{end}}) x_i \approx x_i`, and the samples are
near-copies of the data (memorization). Smoothed targets (a bandwidth, or a fitted
``WPOKernelScore``) have :math:`C_j > 0` and by default run to :math:`t_{\text{end}} = 1`
(``sigma_min = 0``), where :math:`p_1 = \pi`.

References
----------
.. [ABV2023] M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic interpolants: a
   unifying framework for flows and diffusions", arXiv:2303.08797, 2023.
"""

import math
import numbers

import numpy as np
from scipy.optimize import brentq

from .._validation import boolean, nonnegative_real, one_of, positive_real, real_or_option
from ..dynamics import gap_grid, squared_grid
from ..interpolant_coefficients import FAMILIES, GAMMAS, InterpolantCoefficients, check_times
from ..mixture import GaussianMixtureField
from ._base import LogDensityMixin
from ._target import BaseTargetSampler

__all__ = ["StochasticInterpolant"]

# Noise level sigma_t where the dynamics of the empirical target stop by default: p_t is then a
# kernel density of bandwidth 1e-3 (of the data's spread) around the points beta(t) x_i (with
# beta(t) within 1e-3 of 1), far below the spacing of any realistic training set, so the
# samples are copies.
_EMPIRICAL_SIGMA_MIN = 1e-3
# The end time is found to machine precision: 1 - t_end can be as small as 1e-6 / a.
_ROOT_TOLERANCE = 1e-15
# Times scanned for the last crossing of sigma_t = sigma_min (sigma_t need not be monotone).
_SCAN = np.linspace(0.0, 1.0, 1025)


def _is_empirical(target):
    """Whether ``target`` is the unsmoothed empirical measure (no density at t = 1)."""
    return target is None or (isinstance(target, numbers.Real) and target == 0)


def _end_time(coefficients, sigma_min):
    r"""The last time :math:`t` with :math:`\sigma_t = \sigma_{\min}` (1 for 0)."""
    if sigma_min == 0:
        return 1.0
    gap = np.sqrt(coefficients(_SCAN).noise_variance) - sigma_min
    last = int(np.flatnonzero(gap > 0)[-1])  # sigma_0 = 1 > sigma_min and sigma_1 = 0
    return brentq(lambda t: math.sqrt(coefficients(t).noise_variance) - sigma_min,
                  _SCAN[last], _SCAN[last + 1], xtol=_ROOT_TOLERANCE)


# The interpolant's own parameters, with the same meanings in its neural form.
INTERPOLANT_CONSTRAINTS = {
    "interpolant": one_of(*FAMILIES),
    "gamma": one_of(*GAMMAS),
    "gamma_scale": positive_real,
    "diffusion": nonnegative_real,
    "sigma_min": real_or_option(nonnegative_real, "auto"),
}


class StochasticInterpolant(LogDensityMixin, BaseTargetSampler):
    r"""Stochastic interpolant from :math:`N(0, I)` to the target measure of the data.

    Velocity, score and their divergences are closed form (module docstring,
    [ABV2023]_): :math:`p_t` is a Gaussian mixture with centers :math:`\beta(t)\mu_j` and
    covariances :math:`\beta^2 C_j + (\alpha^2 + \gamma^2) I`, and

    .. math::

        b(x, t) = \frac{\dot\beta}{\beta}\,x + \Big(\frac{\dot\beta}{\beta}(\alpha^2 + \gamma^2)
            - \alpha\dot\alpha - \gamma\dot\gamma\Big) \nabla \log p_t(x).

    Everything runs in standardized coordinates, so the base :math:`N(0, I)` is the Gaussian
    of the data's mean and spread in the caller's units.

    Parameters
    ----------
    target : None, float, {"scott", "silverman"} or mixture score model, default=None
        Target measure :math:`\pi` of the data: ``None`` the empirical measure (memorizes), a
        bandwidth (in units of the data's spread) or rule a Gaussian KDE,
        ``WPOKernelScore()`` (or any mixture score model) its fitted model density.
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
        Noise :math:`\sigma_t = \sqrt{\alpha^2 + \gamma^2}` left where the dynamics stop, in
        :math:`[0, 1)`; the model density is :math:`p_{t_{\text{end}}}`. ``"auto"`` is 0 (run
        to :math:`t = 1`), except for the empirical target (``None`` or ``0``), which has no
        density at 1: there it is :math:`10^{-3}`.
    n_steps : int, default=100
        Steps of the samplers and of the likelihood ODE, on a grid refined toward
        :math:`t_{\text{end}}`: :math:`t_k = 1 - (1 - k/n)^2` when :math:`t_{\text{end}} = 1`,
        else :math:`1 - t_k` geometric from 1 to :math:`1 - t_{\text{end}}`.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.
    device : {"cpu", "cuda"}, default="cpu"
        Where the fitted target lives and the dynamics run.
    progress : bool, default=True
        Progress bars while integrating.

    Attributes
    ----------
    target_field_ : GaussianMixtureField
        The target mixture :math:`\pi`, in standardized coordinates.
    target_estimator_ : BaseMixtureScore or None
        The fitted clone of an estimator ``target``.
    coefficients_ : InterpolantCoefficients
        :math:`\alpha, \beta, \gamma` and their derivatives.
    t_end_ : float
        Resolved end time.
    mean_, scale_ : ndarray of shape (n_features,), float
        The standardization of the data.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.interpolant import StochasticInterpolant
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> model = StochasticInterpolant(target="scott", n_steps=20, progress=False).fit(X)
    >>> model.sample(3, random_state=0).shape
    (3, 2)
    """

    _parameter_constraints = {
        **BaseTargetSampler._parameter_constraints,
        **INTERPOLANT_CONSTRAINTS,
    }
    _sample_methods = ("ode", "sde", "exact")

    def __init__(self, *, target=None, interpolant="linear", gamma="zero", gamma_scale=1.0,
                 diffusion=1.0, sigma_min="auto", n_steps=100, backend="auto", working_memory=256,
                 device="cpu", progress=True):
        self.target = target
        self.interpolant = interpolant
        self.gamma = gamma
        self.gamma_scale = gamma_scale
        self.diffusion = diffusion
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.progress = progress

    # ---------------------------------------------------------------- fit hooks
    def _check_params(self):
        if self.sigma_min == "auto":
            return
        if self.sigma_min >= 1:
            raise ValueError(f"Expected sigma_min < 1, the noise of the Gaussian base at t = 0, "
                             f"got sigma_min={self.sigma_min}.")
        if _is_empirical(self.target) and self.sigma_min == 0:
            raise ValueError("Expected sigma_min > 0 for the empirical target (target=None or "
                             "0), whose law at t = 1 has no density, got sigma_min=0; use a "
                             "smoothed target.")

    def _prepare(self, X, weight):
        del X, weight
        self.coefficients_ = InterpolantCoefficients(self.interpolant, self.gamma, self.gamma_scale)
        sigma_min = self.sigma_min
        if sigma_min == "auto":
            sigma_min = _EMPIRICAL_SIGMA_MIN if _is_empirical(self.target) else 0.0
        self.t_end_ = _end_time(self.coefficients_, sigma_min)

    # ---------------------------------------------------------------- closed forms
    def _marginal(self, values):
        """The mixture :math:`p_t` at the coefficient ``values`` of a time (module docstring)."""
        field = self.target_field_
        beta = float(values.beta)
        covariance = field.covariance.scaled(beta**2).with_added_variance(float(values.noise_variance))
        return GaussianMixtureField(field.centers * beta, covariance, field.log_weights,
                                    backend=self.backend, working_memory=self.working_memory)

    def _velocity_terms(self, x, t, divergence=False):
        """Velocity, its divergence (``None`` unless asked) and the score of :math:`p_t` at ``x``."""
        values = self.coefficients_(t)
        beta, beta_dot = float(values.beta), float(values.beta_dot)
        variance, rate = float(values.noise_variance), float(values.noise_variance_rate)
        moments = self._marginal(values).moments(x, score=True, laplacian=divergence)
        score = -moments.displacement
        if beta > 0:
            posterior_mean = (x + variance * score) / beta
        else:
            posterior_mean = 0.0 * x + self.target_field_.mean()
        velocity = beta_dot * posterior_mean - rate * score
        if not divergence:
            return velocity, None, score
        laplacian = moments.laplacian_term - (score * score).sum(1)
        mean_divergence = (x.shape[1] + variance * laplacian) / beta if beta > 0 else 0.0
        return velocity, beta_dot * mean_divergence - rate * laplacian, score

    # ---------------------------------------------------------------- dynamics hooks
    def _time_grid(self, n_steps):
        if self.t_end_ == 1:
            return squared_grid(n_steps)
        return gap_grid(0.0, 1.0 - self.t_end_, n_steps)

    def _initial_state(self, n_samples, random):
        return self._marginal(self.coefficients_(0.0)).sample(n_samples, random_state=random)

    def _sample_exact(self, n_samples, random):
        return self._marginal(self.coefficients_(self.t_end_)).sample(n_samples, random_state=random)

    def _velocity(self, x, t):
        return self._velocity_terms(x, t)[0]

    def _drift(self, x, t):
        velocity, _, score = self._velocity_terms(x, t)
        return velocity + self.diffusion * float(self.coefficients_(t).noise_variance) * score

    def _diffusion(self, t):
        return math.sqrt(2 * self.diffusion * float(self.coefficients_(t).noise_variance))

    def _divergence_field(self):
        return lambda x, t: self._velocity_terms(x, t, divergence=True)[:2]

    def _base_log_density(self, x):
        return self._marginal(self.coefficients_(0.0)).log_density(x)

    # ---------------------------------------------------------------- evaluation
    def _time(self, t):
        if t is None:
            return self.t_end_
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise TypeError(f"Expected a real time t in [0, 1], got {type(t).__name__} {t!r}.")
        return float(check_times(t))

    def velocity(self, X, t=None, *, return_divergence=False):
        r"""Velocity :math:`b(x, t) = \mathbb E[\dot x_t \mid x_t = x]` (module docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float, default=None
            Time in :math:`[0, 1]`; ``None`` means ``t_end_``.
        return_divergence : bool, default=False
            Also return the exact divergence :math:`\nabla\cdot b(x, t)` (the same in every
            unit of :math:`x`).

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
            lambda u, t: self._velocity_terms(u, t, divergence=True)[1], X, t, 0)
        return velocity, divergence

    def score_function(self, X, t=None):
        r"""Score :math:`\nabla_x \log p_t(x)` of the interpolant's law at time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float, default=None
            Time in :math:`[0, 1]`; ``None`` means ``t_end_``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        t = self._time(t)
        return self._field_in_data_units(
            lambda u, t: self._marginal(self.coefficients_(t)).score(u), X, t, -1)
