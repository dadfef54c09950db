r"""The Schrödinger bridge between a source and the data, in closed form ("Sinkhorn bridge").

Reference process: Brownian motion of variance :math:`\varepsilon` per unit time,
:math:`dX_t = \sqrt{\varepsilon}\, dW_t` on :math:`t \in [0, 1]`. The Schrödinger bridge from a
source :math:`\mu` to a target :math:`\nu` is the path law closest to it in relative entropy
with these end laws; its end-point coupling is the entropic optimal transport plan for the
cost :math:`\tfrac12\lVert x - y\rVert^2` and regularization :math:`\varepsilon`, and given its
ends it is a Brownian bridge [Leo2014]_. With a source sample :math:`x_1, \dots, x_m`
(weights :math:`\mu_i`: a seeded draw of the prior :math:`N(0, \sigma^2 I)`, or a second data
set) and the data :math:`y_j` (weights :math:`\nu_j`), :func:`~wpokernel.sinkhorn.sinkhorn`
gives the plan :math:`\pi_{ij} \propto \mu_i \nu_j e^{(f_i + g_j - \frac12\lVert x_i - y_j\rVert^2)/\varepsilon}`.

**Drift** (the plug-in estimator of [PNW2024]_, [Str2023]_). Given its ends the bridge is a
Brownian bridge, so :math:`(x_i, y_j, X_t)` has density :math:`\pi_{ij}\, N(x; x_i, \varepsilon t I)
N(y_j; x, \varepsilon(1 - t) I) / N(y_j; x_i, \varepsilon I)`; the Gaussian kernel in
:math:`\pi_{ij}` cancels the denominator and the density factorizes as
:math:`\mu_i e^{f_i/\varepsilon} N(x; x_i, \varepsilon t I) \cdot \nu_j e^{g_j/\varepsilon}
N(y_j; x, \varepsilon(1 - t) I)`. Given :math:`X_t = x` the bridge therefore ends at
:math:`y_j` with probability :math:`\propto \nu_j e^{g_j/\varepsilon} N(y_j; x, \varepsilon(1 - t) I)`.
So the bridge is the Doob :math:`h`-transform of the reference by

.. math::

    \varphi(x, t) = \sum_j \nu_j\, e^{g_j/\varepsilon}\, N(x; y_j, \varepsilon (1 - t) I),
    \qquad \partial_t \varphi + \tfrac{\varepsilon}{2} \Delta \varphi = 0,

with drift (eq. 1)

.. math::

    b(x, t) = \varepsilon \nabla \log \varphi(x, t)
    = \frac{\sum_j w_j(x, t)\, y_j - x}{1 - t}, \qquad
    w_j(x, t) = \operatorname{softmax}_j\Big(\log \nu_j + \frac{g_j}{\varepsilon}
        - \frac{\lVert x - y_j\rVert^2}{2 \varepsilon (1 - t)}\Big),

the softmax reduction with the Sinkhorn potential as logit bias. It needs only :math:`g`,
so it moves *new* source points: :math:`dX_t = b\, dt + \sqrt{\varepsilon}\, dW_t` from
:math:`X_0 = x` ends at :math:`y_j` with probability :math:`w_j(x, 0)`, the plan's
conditional law extended off the sample, and :math:`E[X_1 \mid X_0 = x] = x + b(x, 0)` is the
entropic transport map.

**Mixture targets.** A target :math:`\sum_j \nu_j N(y_j, C_j)` (a KDE or a fitted mixture
model, see :mod:`wpokernel.estimators._target`) with one potential per component, i.e. the
terminal function :math:`\sum_j \nu_j e^{g_j/\varepsilon} N(y; y_j, C_j)`, gives (eq. 2)

.. math::

    \varphi(x, t) = \sum_j \nu_j\, e^{g_j/\varepsilon}\, N(x; y_j, C_j + \varepsilon (1 - t) I),
    \qquad b = -\varepsilon \sum_j w_j(x, t)\, (C_j + \varepsilon (1 - t) I)^{-1} (x - y_j),

and the bridge from :math:`x_i` picks component :math:`j` with probability
:math:`\nu_j e^{g_j/\varepsilon} N(x_i; y_j, C_j + \varepsilon I) / \varphi(x_i, 0)`. When the
components share an isotropic covariance :math:`C_j = c I` (KDE targets), these are the
Sinkhorn conditions at regularization :math:`\varepsilon + c` between the source and the
centers, so the potentials are solved there, :math:`g_j/\varepsilon := g'_j/(\varepsilon + c)`,
and every component receives exactly its mass :math:`\nu_j`. For other structures (the local
covariances of ``WPOKernelScore``) the potentials are those between the source and the centers
at :math:`\varepsilon`, an approximation whose component masses are off by
:math:`O(\lVert C_j\rVert / \varepsilon)`. Either way a component's time-1 law is
:math:`N(y_j, C_j)` tilted by the smooth factor :math:`\hat\varphi(\cdot, 1)` below, so the
end law approximates the target mixture without copying its centers.

**Marginals and likelihood.** With the forward factor of the source sample

.. math::

    \hat\varphi(x, t) = \sum_i \frac{\mu_i}{\varphi(x_i, 0)}\, N(x; x_i, \varepsilon t I),
    \qquad \partial_t \hat\varphi = \tfrac{\varepsilon}{2} \Delta \hat\varphi,

the bridge started from the source sample has the normalized marginals
:math:`p_t = \varphi(\cdot, t)\, \hat\varphi(\cdot, t)` (eq. 3) for any potentials, both factors
mixtures that the reduction engine evaluates with their scores and Laplacians. The
probability-flow ODE of the bridge (the likelihood identity of [CLT2022]_) has velocity and
divergence (eq. 4)

.. math::

    v = b - \tfrac{\varepsilon}{2} \nabla \log p_t
      = \tfrac{\varepsilon}{2}\big(\nabla \log \varphi - \nabla \log \hat\varphi\big), \qquad
    \nabla \cdot v = \tfrac{\varepsilon}{2}\big(\Delta \log \varphi - \Delta \log \hat\varphi\big).

The model density is :math:`p_{t_1}` at :math:`t_1 = 1 - \delta`, where the sampler stops:
with the empirical target :math:`p_1` is a sum of point masses, as the heat flow's is at zero
noise. The gap :math:`\delta` is where the bridge's own noise, of variance
:math:`\varepsilon t (1 - t)` given both ends, falls to ``sigma_min``:
:math:`\varepsilon \delta (1 - \delta) = \sigma_{\min}^2`. Everything runs in the standardized
coordinates of :mod:`~wpokernel.estimators._standardize`, so :math:`\varepsilon`, the prior
scale and ``sigma_min`` are in units of the data's spread (squared for :math:`\varepsilon`). ``score_samples`` evaluates eq. 3;
``log_likelihood`` integrates eq. 4 from :math:`t_1` down to a base time and adds
:math:`\log p` there, the same number up to the ODE's discretization error. The likelihood
with a Gaussian prior as base cannot be made closed form: the forward factor of
:math:`N(0, \sigma^2 I)` is :math:`N(0, \sigma^2 I)/\varphi(\cdot, 0)` heat-flowed, not a mixture;
eq. 3 is its Monte Carlo estimate from the source sample, so the density is that of the bridge
started from the sample, which the sampler's law (started from fresh prior draws) approaches as
``n_prior_samples`` grows.

References
----------
.. [CLT2022] T. Chen, G.-H. Liu, E. A. Theodorou, "Likelihood training of Schrödinger bridge
   using forward-backward SDEs theory", ICLR 2022.
.. [Leo2014] C. Léonard, "A survey of the Schrödinger problem and some of its connections with
   optimal transport", Discrete Contin. Dyn. Syst. A 34(4), 2014.
.. [PNW2024] A.-A. Pooladian, J. Niles-Weed, "Plug-in estimation of Schrödinger bridges",
   arXiv:2408.11686, 2024.
.. [Str2023] A. Stromme, "Sampling from a Schrödinger bridge", AISTATS 2023.
"""

import math

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from .._validation import nonnegative_real, positive_int, positive_real, seed
from ..dynamics import gap_grid, ode_log_likelihood
from ..mixture import GaussianMixtureField
from ..reductions import Isotropic
from ..sinkhorn import sinkhorn
from ._base import LogDensityMixin, TransportMixin
from ._target import BaseTargetSampler

__all__ = ["SchrodingerBridge", "SchrodingerFactors"]

_TRANSPORT_METHODS = ("sde", "mean")


# ----------------------------------------------------------------------------------------
# Schrödinger factors
# ----------------------------------------------------------------------------------------


def _shared_isotropic_variance(covariance):
    """The common variance :math:`c` of a structure with :math:`C_j = c I` for all j, else 0."""
    if isinstance(covariance, Isotropic) and np.ndim(covariance.variance) == 0:
        return float(covariance.variance) + covariance.added_variance
    return 0.0


class SchrodingerFactors:
    r"""The two Schrödinger factors :math:`\varphi` and :math:`\hat\varphi` of a bridge.

    Both are heat flows of mixtures at speed :math:`\sqrt{\varepsilon}`: :math:`\varphi(\cdot, t)`
    is ``backward`` at heat-flow time :math:`1 - t` (eq. 2 of the module docstring) and
    :math:`\hat\varphi(\cdot, t)` is ``forward`` at time :math:`t` (eq. 3), each normalized,
    so that :math:`\log p_t = \log \varphi + \log \hat\varphi + ` ``log_scale``.
    :meth:`from_potentials` builds them.

    Parameters
    ----------
    backward, forward : GaussianMixtureField
        The normalized factors, with ``beta`` :math:`= \sqrt{\varepsilon}`.
    log_scale : float
        :math:`\log` of the product of the two normalizing constants.
    epsilon : float
        Reference variance :math:`\varepsilon`.
    """

    def __init__(self, backward, forward, log_scale, epsilon):
        self.backward = backward
        self.forward = forward
        self.log_scale = log_scale
        self.epsilon = epsilon

    @classmethod
    def from_potentials(cls, target, logit_biases, source, epsilon):
        r"""Factors of the bridge from ``source`` (uniform weights) to ``target``.

        Parameters
        ----------
        target : GaussianMixtureField
            Target mixture :math:`\sum_j \nu_j N(y_j, C_j)`.
        logit_biases : ndarray of shape (n_centers,)
            :math:`g_j / \varepsilon`.
        source : ndarray of shape (n_sources, n_features)
            Source sample :math:`x_i`.
        epsilon : float
            Reference variance :math:`\varepsilon`.

        Returns
        -------
        SchrodingerFactors
        """
        beta = math.sqrt(epsilon)
        settings = {"beta": beta, "backend": target.backend, "working_memory": target.working_memory}
        backward = GaussianMixtureField(target.centers, target.covariance,
                                        target.log_weights + logit_biases, **settings)
        # mu_i / phi(x_i, 0) up to the normalizations of both fields, which log_scale restores.
        log_weights = -backward.log_density(source, t=1.0) - math.log(len(source))
        forward = GaussianMixtureField(source, Isotropic(0.0), log_weights, **settings)
        return cls(backward, forward, float(logsumexp(log_weights)), float(epsilon))

    def drift(self, x, t):
        r""":math:`b(x, t) = \varepsilon \nabla \log \varphi(x, t)` (eq. 1-2)."""
        return self.epsilon * self.backward.score(x, t=1.0 - t)

    def log_marginal(self, x, t):
        r""":math:`\log p_t(x) = \log \varphi(x, t) + \log \hat\varphi(x, t)` (eq. 3)."""
        return (self.backward.log_density(x, t=1.0 - t) + self.forward.log_density(x, t=t)
                + self.log_scale)

    def velocity_divergence(self, x, t):
        r"""Probability-flow velocity :math:`v` and its exact divergence (eq. 4)."""
        score, laplacian = self.backward.score_laplacian(x, 1.0 - t)
        score_hat, laplacian_hat = self.forward.score_laplacian(x, t)
        half = 0.5 * self.epsilon
        return half * (score - score_hat), half * (laplacian - laplacian_hat)


# ----------------------------------------------------------------------------------------
# Estimator
# ----------------------------------------------------------------------------------------


def _check_time(t, name="t"):
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)) \
            or not 0 <= t <= 1:
        raise ValueError(f"Expected {name} in [0, 1], got {t!r}.")
    return float(t)


def _end_gap(epsilon, sigma_min):
    r"""The gap :math:`\delta \le 1/2` with :math:`\varepsilon \delta (1 - \delta) = \sigma_{\min}^2`."""
    ratio = sigma_min**2 / epsilon
    return 2.0 * ratio / (1.0 + math.sqrt(1.0 - 4.0 * ratio))  # the smaller root, without cancelling


class SchrodingerBridge(TransportMixin, LogDensityMixin, BaseTargetSampler):
    r"""Schrödinger bridge from a Gaussian prior (or a source data set) to the data.

    See the module docstring for the model: Sinkhorn potentials between a source sample and
    the target's centers, the closed-form drift (eq. 1-2), marginals (eq. 3) and
    probability-flow likelihood (eq. 4). ``sample`` starts from new draws of
    :math:`N(0, \sigma^2 I)` (in standardized coordinates: centred on the data's mean), or of
    the source data (with replacement) for a data-to-data bridge, and carries them along the
    bridge SDE as :meth:`transport` does.

    Parameters
    ----------
    epsilon : float, default=1.0
        Variance per unit time :math:`\varepsilon` of the reference Brownian motion (in units
        of the data's variance ``scale_**2``), the entropic regularization of the static
        problem. Large: nearly independent coupling; small: close to the optimal transport map
        (and slower Sinkhorn iterations).
    target : None, float, {"scott", "silverman"} or mixture score model, default=None
        Target measure of the data (:func:`~wpokernel.estimators._target.fit_target`):
        ``None`` is the empirical measure, whose bridge copies training points; a bandwidth
        or a fitted model such as ``WPOKernelScore()`` smooths it.
    prior_scale : float, default=1.0
        Standard deviation :math:`\sigma` of the prior :math:`N(0, \sigma^2 I)`.
    n_prior_samples : int, default=1000
        Size :math:`m` of the prior sample the potentials are solved against (unused with
        ``X_source``).
    tol : float, default=1e-9
        Marginal-error tolerance of the Sinkhorn iterations.
    max_iter : int, default=1000
        Largest number of Sinkhorn iterations.
    n_steps : int, default=100
        Steps of the samplers and of the likelihood ODE, on a grid geometric in :math:`1 - t`.
    sigma_min : float, default=1e-3
        Noise of the bridge left where the samplers stop (module docstring), below
        :math:`\sqrt{\varepsilon} / 2`; it sets the end time :math:`t_1 = 1 - \delta`, where
        the model density is evaluated.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend of the Sinkhorn half-steps and of every field evaluation.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.
    device : {"cpu", "cuda"}, default="cpu"
        Where the fitted factors live and the SDE runs.
    random_state : int, RandomState instance or None, default=None
        Seeds the prior sample (a target model keeps its own ``random_state``).
    progress : bool, default=True
        Progress bars of the Sinkhorn iterations and the integrators.

    Attributes
    ----------
    source_ : ndarray of shape (n_sources, n_features)
        The source sample, standardized: the prior draw, or ``X_source``.
    gaussian_source_ : bool
        Whether the source is the Gaussian prior (else ``X_source``).
    target_field_ : GaussianMixtureField
        Target mixture :math:`\sum_j \nu_j N(y_j, C_j)`, standardized.
    target_estimator_ : BaseMixtureScore or None
        The fitted clone when ``target`` is an estimator.
    end_gap_ : float
        :math:`\delta`: the samplers stop at :math:`t_1 = 1 - \delta`.
    sinkhorn_epsilon_ : float
        Regularization the potentials were solved at: :math:`\varepsilon + c` for a shared
        isotropic component variance :math:`c`, else :math:`\varepsilon`.
    f_, g_ : ndarray of shape (n_sources,) and (n_centers,)
        Sinkhorn potentials at ``sinkhorn_epsilon_``; the logit biases are
        ``g_ / sinkhorn_epsilon_``.
    n_iter_ : int
        Sinkhorn iterations.
    marginal_error_ : float
        :math:`\ell_1` marginal error of the Sinkhorn plan.
    backward_field_, forward_field_ : GaussianMixtureField
        The normalized factors :math:`\varphi` (target side) and :math:`\hat\varphi` (source
        side), heat-flowed at speed :math:`\sqrt{\varepsilon}`.
    log_scale_ : float
        Log of the product of their normalizing constants.
    factors_ : SchrodingerFactors
        View of the three above, with the drift, marginal and probability-flow formulas.
    mean_, scale_ : ndarray of shape (n_features,), float
        The standardization of the data.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.schrodinger import SchrodingerBridge
    >>> X = np.random.default_rng(0).normal(size=(100, 2)) + 3.0
    >>> model = SchrodingerBridge(target="scott", n_prior_samples=100, random_state=0,
    ...                           progress=False).fit(X)
    >>> model.sample(4, random_state=0, n_steps=20).shape
    (4, 2)
    """

    _parameter_constraints = {
        **BaseTargetSampler._parameter_constraints,
        "epsilon": positive_real,
        "prior_scale": positive_real,
        "n_prior_samples": positive_int,
        "tol": positive_real,
        "max_iter": positive_int,
        "sigma_min": positive_real,
        "random_state": seed,
    }
    _sample_methods = ("sde",)
    _transport_methods = ("sde", "mean")

    def __init__(self, *, epsilon=1.0, target=None, prior_scale=1.0, n_prior_samples=1000,
                 tol=1e-9, max_iter=1000, n_steps=100, sigma_min=1e-3, backend="auto",
                 working_memory=256, device="cpu", random_state=None, progress=True):
        self.epsilon = epsilon
        self.target = target
        self.prior_scale = prior_scale
        self.n_prior_samples = n_prior_samples
        self.tol = tol
        self.max_iter = max_iter
        self.n_steps = n_steps
        self.sigma_min = sigma_min
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, *, X_source=None, sample_weight=None):
        r"""Solve the static problem between the source and the target measure of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data: the target end of the bridge.
        y : None
            Ignored (scikit-learn passes labels to every estimator in some checks, so the
            source is a keyword).
        X_source : array-like of shape (n_sources, n_features), default=None
            Source data for a data-to-data bridge (standardized with the data's ``mean_`` and
            ``scale_``); ``None`` draws ``n_prior_samples`` points of :math:`N(0, \sigma^2 I)`.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights of ``X`` (only unit weights with a target model whose ``fit``
            takes none, such as ``WPOKernelScore``).

        Returns
        -------
        self : object
        """
        del y
        return self._fit_skeleton(X, sample_weight, X_source=X_source)

    def _check_params(self):
        limit = 0.5 * math.sqrt(self.epsilon)
        if self.sigma_min >= limit:
            raise ValueError(f"Expected sigma_min < sqrt(epsilon) / 2 = {limit:g}, the largest "
                             f"noise of the bridge, got sigma_min={self.sigma_min}.")

    def _prepare(self, X, weight, X_source=None):
        del weight
        self.source_ = self._source(X_source, X.shape[1])
        self.gaussian_source_ = X_source is None
        self.end_gap_ = _end_gap(self.epsilon, self.sigma_min)

    def _fit_hook(self, X, weight):
        del X, weight
        field = self.target_field_
        self.sinkhorn_epsilon_ = self.epsilon + _shared_isotropic_variance(field.covariance)
        result = sinkhorn(self.source_, field.centers, self.sinkhorn_epsilon_,
                          b=np.exp(field.log_weights), tol=self.tol, max_iter=self.max_iter,
                          backend=self.backend, working_memory=self.working_memory,
                          progress=self.progress)
        self.f_, self.g_, self.n_iter_, self.marginal_error_ = result
        factors = SchrodingerFactors.from_potentials(field, self.g_ / self.sinkhorn_epsilon_,
                                                     self.source_, self.epsilon)
        # Stored as fields and a number, which model files hold (wpokernel.persistence).
        self.backward_field_, self.forward_field_ = factors.backward, factors.forward
        self.log_scale_ = factors.log_scale

    def _device_state(self):
        return ("target_field_", "backward_field_", "forward_field_", "source_")

    @property
    def factors_(self):
        """:class:`SchrodingerFactors` view of the fitted fields."""
        return SchrodingerFactors(self.backward_field_, self.forward_field_, self.log_scale_,
                                  self.backward_field_.beta**2)

    def _source(self, X_source, n_features):
        if X_source is None:
            rng = check_random_state(self.random_state)
            return self.prior_scale * rng.standard_normal((self.n_prior_samples, n_features))
        X_source = check_array(X_source, dtype=np.float64, copy=True, input_name="X_source")
        if X_source.shape[1] != n_features:
            raise ValueError(f"Expected X_source with {n_features} features like X, "
                             f"got {X_source.shape[1]}.")
        return (X_source - self.mean_) / self.scale_

    # ---------------------------------------------------------------- dynamics hooks
    def _time_grid(self, n_steps):
        return gap_grid(0.0, self.end_gap_, n_steps)

    def _initial_state(self, n_samples, random):
        if self.gaussian_source_:
            return self.prior_scale * random.normal((n_samples, self.n_features_in_))
        return self.source_[random.integers(len(self.source_), n_samples)]

    def _drift(self, x, t):
        return self.factors_.drift(x, t)

    def _diffusion(self, t):
        return math.sqrt(self.epsilon)

    def _integrate(self, method, x, random, n_steps, progress):
        if method == "mean":  # the entropic map E[X_1 | X_0 = x] = x + b(x, 0)
            return x + self.factors_.drift(x, 0.0)
        return super()._integrate(method, x, random, n_steps, progress)

    def _log_density(self, U):
        return self.factors_.log_marginal(U, 1.0 - self.end_gap_)

    # ---------------------------------------------------------------- fields
    def drift(self, X, t):
        r"""Bridge drift :math:`b(x, t) = \varepsilon \nabla \log \varphi(x, t)` (eq. 1-2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float in [0, 1]
            Time; ``t = 1`` needs a target with positive covariances.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self._field_in_data_units(self._drift, X, _check_time(t), 1)

    def marginal_log_density(self, X, t):
        r"""Log-density :math:`\log p_t(x)` of the bridge from the source sample (eq. 3).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float in (0, 1]
            Time (at ``t = 0`` the marginal is the source sample's point masses).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        t = _check_time(t)
        log_density = self._field_in_data_units(self.factors_.log_marginal, X, t, 0)
        return log_density - self.n_features_in_ * math.log(self.scale_)

    def log_likelihood(self, X, *, base_time=0.5, n_steps=None, progress=None):
        r"""Log-density at :math:`t_1 = 1 - \delta` through the probability-flow ODE (eq. 4).

        .. math::

            \log p_{t_1}(x) = \log p_{t_0}(x_{t_0}) + \int_{t_1}^{t_0} \nabla\cdot v(x_t, t)\, dt,

        Heun steps on a grid geometric in :math:`1 - t` from :math:`t_1` to the base time
        :math:`t_0`, where :math:`\log p_{t_0}` is closed form; :meth:`score_samples` is the
        same number up to the ODE's discretization error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        base_time : float in (0, 1 - end_gap_), default=0.5
            :math:`t_0`; the exact value does not depend on it.
        n_steps : int, default=None
            ODE steps (``None``: the estimator's ``n_steps``).
        progress : bool, default=None
            Progress bar (``None``: the estimator's ``progress``).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        t_end = 1.0 - self.end_gap_
        base_time = _check_time(base_time, "base_time")
        if not 0 < base_time < t_end:
            raise ValueError(f"Expected 0 < base_time < 1 - end_gap_ = {t_end:g}, got {base_time!r}.")
        n_steps, progress = self._run_settings(n_steps, progress)
        times = gap_grid(base_time, self.end_gap_, n_steps)[::-1]

        def log_likelihood(U, t):
            del t
            base, integral = ode_log_likelihood(self.factors_.velocity_divergence, U, times,
                                                progress, "bridge likelihood ODE")
            return self.factors_.log_marginal(base, base_time) + integral

        log_density = self._field_in_data_units(log_likelihood, X, base_time, 0)
        return log_density - self.n_features_in_ * math.log(self.scale_)
