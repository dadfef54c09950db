r"""The score-difference (SD) flow: particles pushed along the difference of two smoothed scores.

The SD flow [Web2023]_ moves source particles along :math:`\nabla \log p - \nabla \log q`,
the direction that decreases :math:`\mathrm{KL}(q \,\|\, p)` fastest, from the particles' law
:math:`q` to the target :math:`p`. Both scores are taken on the proxies smoothed by
:math:`N(0, \sigma^2 I)`, which are aligned if and only if the original laws are:

.. math::

    p_\sigma = p * N(0, \sigma^2 I), \qquad
    q_\sigma(x) = \frac1n \sum_{k=1}^{n} N(x;\, x_k, \sigma^2 I),

with :math:`q_\sigma` the kernel density estimate of the current particles
:math:`x_1, \dots, x_n`. For a target mixture :math:`p = \sum_j w_j N(z_j, C_j)`
(:func:`~wpokernel.estimators._target.fit_target`: the empirical measure, a KDE or a fitted
mixture score model) :math:`p_\sigma` is the mixture with covariances
:math:`C_j + \sigma^2 I`, so both scores are softmax reductions:

.. math::

    \nabla \log p_\sigma(x) = -\sum_j \omega_j(x) (C_j + \sigma^2 I)^{-1} (x - z_j), \qquad
    \nabla \log q_\sigma(x) = \frac{\sum_k \nu_k(x)\, x_k - x}{\sigma^2},

with :math:`\omega` the responsibilities of :math:`p_\sigma` and
:math:`\nu = \operatorname{softmax}_k(-\lVert x - x_k\rVert^2 / 2\sigma^2)`. For the empirical
target (:math:`C_j = 0`) the score difference times :math:`\sigma^2` is the difference of two
mean-shift vectors, :math:`\sum_j \omega_j z_j - \sum_k \nu_k x_k`, a displacement. The
kernel-based particle update of [Web2023]_ is the explicit Euler step

.. math::

    x_k \leftarrow x_k + \eta\, \sigma_t^2 \big(\nabla \log p_{\sigma_t}(x_k)
        - \nabla \log q_{\sigma_t}(x_k)\big), \qquad t = 0, \dots, T - 1,

with step size :math:`\eta` and :math:`\sigma_t` geometric from :math:`\sigma_{\max}` down to
:math:`\sigma_{\min}`. Since :math:`q_\sigma` is built from all particles, they interact: the
flow of a batch of particles depends on the batch size.

The particle density :math:`q_\sigma` estimates the particles' law only down to their own
resolution: for :math:`\sigma` well below the spacing of the particles each one's own kernel
dominates, :math:`\nabla \log q_\sigma(x_k) \to 0`, and the update becomes a mean shift on
:math:`p_\sigma` that contracts the particles towards its modes (in 6-D with a few thousand
particles this visibly shrinks the sample). The default :math:`\sigma_{\min}` is therefore
Scott's bandwidth of the data, the usual resolution of a kernel estimate from that many points.
With the empirical target and :math:`\sigma_{\min} \to 0` each particle ends on a training
point (the update tends to :math:`x_k \leftarrow x_k + \eta(z_{\mathrm{nearest}} - x_k)`):
the memorizing case. A smoothed target (KDE, ``WPOKernelScore``) has :math:`C_j \succ 0`, so
its pull fades as :math:`\sigma \to 0` and the particles keep the spread of its components.

References
----------
.. [Web2023] R. M. Weber, "The score-difference flow for implicit generative modeling",
   Transactions on Machine Learning Research, 2023. arXiv:2304.12906.
"""

import numpy as np

from .._validation import optional, positive_real
from ..dynamics import counter_grid, euler
from ..mixture import GaussianMixtureField
from ..reductions import DEFAULT_WORKING_MEMORY, Isotropic
from ._base import TransportMixin
from ._target import BaseTargetSampler
from .empirical import bandwidth_rule

__all__ = ["ScoreDifferenceFlow", "score_difference"]

# Default sigma_max as a multiple of the data's scale (root mean square deviation of a
# coordinate): there the smoothed moment-matched source and the target are nearly alike, so
# the flow starts gently.
_SIGMA_MAX_FRACTION = 1.0


# ----------------------------------------------------------------------------------------
# The score difference
# ----------------------------------------------------------------------------------------


def score_difference(target, X, sigma, *, backend="auto", working_memory=DEFAULT_WORKING_MEMORY):
    r"""Score difference of the smoothed target and the smoothed particles, at the particles.

    .. math::

        \delta(x_i) = \nabla \log p_\sigma(x_i) - \nabla \log q_\sigma(x_i), \qquad
        p_\sigma = p * N(0, \sigma^2 I), \quad
        q_\sigma = \frac1n \sum_{k=1}^{n} N(x_k, \sigma^2 I),

    with :math:`p` the target mixture (its heat flow at noise :math:`\sigma^2 / \beta^2`) and
    :math:`q_\sigma` the kernel density estimate of the rows of ``X`` themselves.

    Parameters
    ----------
    target : GaussianMixtureField
        The target mixture :math:`p`.
    X : ndarray of shape (n_particles, n_features)
        The particles, both where :math:`\delta` is evaluated and the centers of :math:`q_\sigma`.
    sigma : float
        Smoothing scale :math:`\sigma > 0`.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend of the particle density.
    working_memory : float, default=256
        Budget in MiB of the blocked reductions.

    Returns
    -------
    ndarray of shape (n_particles, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel import GaussianMixtureField
    >>> from wpokernel.reductions import Isotropic
    >>> target = GaussianMixtureField(np.zeros((1, 1)), Isotropic(1.0))
    >>> score_difference(target, np.array([[2.0]]), sigma=1.0)  # one particle: q has zero score
    array([[-1.]])
    """
    positive_real("sigma", sigma)
    particles = GaussianMixtureField(X, Isotropic(sigma**2), backend=backend,
                                     working_memory=working_memory)
    return target.score(X, t=sigma**2 / target.beta**2) - particles.score(X)


def _moments(X, weight):
    """Weighted mean and (maximum-likelihood) covariance of the rows of ``X``."""
    weight = weight / weight.sum()
    mean = weight @ X
    centered = X - mean  # (n, d)
    return mean, centered.T @ (weight[:, None] * centered)


def _square_root(covariance):
    """Symmetric square root :math:`C^{1/2}`; unlike a Cholesky factor it exists for singular data."""
    eigenvalues, vectors = np.linalg.eigh(covariance)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


# ----------------------------------------------------------------------------------------
# Estimator
# ----------------------------------------------------------------------------------------


class ScoreDifferenceFlow(TransportMixin, BaseTargetSampler):
    r"""Score-difference flow from a Gaussian source to a target measure of the data [Web2023]_.

    Source particles, drawn from the Gaussian with the data's mean and covariance, move by

    .. math::

        x_k \leftarrow x_k + \eta\, \sigma_t^2 \big(\nabla \log p_{\sigma_t}(x_k)
            - \nabla \log q_{\sigma_t}(x_k)\big)

    on a geometric schedule :math:`\sigma_0 = \sigma_{\max} > \dots > \sigma_{T-1} =
    \sigma_{\min}` (formulas in the module docstring), where :math:`q_\sigma` is the kernel
    density estimate of the current particles: the particles interact, so a sample of ``n``
    points is not ``n`` independent draws, and its law depends on ``n``. ``sample`` draws the
    source with its ``random_state`` and flows it deterministically (:meth:`transport`); draw
    all the points needed in one call (with one particle :math:`q_\sigma` has zero score at it
    and the flow is an annealed mean shift on :math:`p`). Everything runs in the standardized
    coordinates of :mod:`~wpokernel.estimators._standardize`.

    Parameters
    ----------
    target : None, float, {"scott", "silverman"} or mixture score model, default=None
        Target measure :math:`p` of the data: ``None`` the empirical measure (its samples end on
        training points when ``sigma_min`` is small), a bandwidth or rule a Gaussian KDE, an
        estimator such as ``WPOKernelScore()`` its fitted model density.
    sigma_max : float, default=None
        Largest smoothing scale, in units of the data's spread ``scale_``; ``None`` means 1.
    sigma_min : float, default=None
        Smallest smoothing scale, where the flow stops, in units of ``scale_``; ``None`` means
        Scott's bandwidth of the data (see the module docstring). Small values let the
        empirical target copy training points.
    step_size : float, default=1.0
        Step :math:`\eta` of the update; :math:`\eta \le 1` keeps it a fraction of the
        mean-shift displacement.
    n_steps : int, default=100
        Number of updates :math:`T`, one per noise level.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Budget in MiB of the blocked reductions.
    device : {"cpu", "cuda"}, default="cpu"
        Where the fitted target lives and the particles flow.
    progress : bool, default=True
        Progress bar while the particles flow.

    Attributes
    ----------
    target_field_ : GaussianMixtureField
        The target mixture :math:`p`, standardized.
    target_estimator_ : BaseMixtureScore or None
        The fitted clone when ``target`` is an estimator.
    mean_ : ndarray of shape (n_features,)
        Mean of the source Gaussian: the weighted mean of the data.
    covariance_ : ndarray of shape (n_features, n_features)
        Covariance of the source Gaussian: the weighted covariance of the data.
    scale_ : float
        Data scale :math:`\sqrt{\operatorname{tr} \Sigma / d}`, the unit of ``sigma_max_`` and
        ``sigma_min_``.
    sigma_max_, sigma_min_ : float
        Resolved ends of the noise schedule, in units of ``scale_``.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.score_difference import ScoreDifferenceFlow
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> flow = ScoreDifferenceFlow(target="scott", n_steps=10, progress=False).fit(X)
    >>> flow.sample(5, random_state=0).shape
    (5, 2)
    """

    _parameter_constraints = {
        **BaseTargetSampler._parameter_constraints,
        "sigma_max": optional(positive_real),
        "sigma_min": optional(positive_real),
        "step_size": positive_real,
    }
    _sample_methods = ("ode",)
    _transport_methods = ("ode",)

    def __init__(self, *, target=None, sigma_max=None, sigma_min=None, step_size=1.0, n_steps=100,
                 backend="auto", working_memory=DEFAULT_WORKING_MEMORY, device="cpu",
                 progress=True):
        self.target = target
        self.sigma_max = sigma_max
        self.sigma_min = sigma_min
        self.step_size = step_size
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.progress = progress

    def _prepare(self, X, weight):
        _, covariance_u = _moments(X, weight)
        self.covariance_ = covariance_u * self.scale_**2
        self.sigma_max_ = _SIGMA_MAX_FRACTION if self.sigma_max is None else float(self.sigma_max)
        self.sigma_min_ = (bandwidth_rule(X, "scott", weight) if self.sigma_min is None
                           else float(self.sigma_min))
        if self.sigma_min_ > self.sigma_max_:
            raise ValueError(f"Expected sigma_min <= sigma_max, got sigma_min={self.sigma_min_:g} "
                             f"and sigma_max={self.sigma_max_:g} (None resolves to the data scale "
                             f"1 and to Scott's bandwidth).")

    def _initial_state(self, n_samples, random):
        root = _square_root(self.covariance_ / self.scale_**2)  # of the standardized source
        noise = random.normal((n_samples, self.n_features_in_))  # (n, d)
        return noise @ random.ns.asarray(root, like=random.like)

    def _integrate(self, method, x, random, n_steps, progress):
        del method, random  # one deterministic flow
        # sigma_t = sigma_max (sigma_min / sigma_max)^(t / (T - 1)); only sigma_max when T = 1.
        sigmas = np.geomspace(self.sigma_max_, self.sigma_min_, n_steps)

        def displacement(x, t):
            sigma = float(sigmas[int(t)])
            return self.step_size * sigma**2 * score_difference(
                self.target_field_, x, sigma, backend=self.backend, working_memory=self.working_memory)

        # The time is the update counter (unit steps), so an Euler step is one particle update.
        return euler(displacement, x, counter_grid(n_steps), progress, "SD flow", direction=1)
