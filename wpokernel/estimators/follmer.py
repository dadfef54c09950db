r"""The Föllmer bridge: a unit-time diffusion from a point mass at 0 to a target mixture.

The Föllmer process [Föl1985]_ is the Schrödinger bridge from :math:`\delta_0` at
:math:`t = 0` to a target law :math:`\mu` at :math:`t = 1` with Brownian motion as the
reference process [HJKLLL2021]_:

.. math::

    dZ_t = b(Z_t, t)\,dt + dW_t, \quad Z_0 = 0, \qquad
    b(z, t) = \frac{\mathbb E[Y \mid Z_t = z] - z}{1 - t}, \quad Y \sim \mu.
    \tag{F1}

Given :math:`Y = y` a path is the Brownian bridge from 0 to :math:`y`, so
:math:`Z_t = tY + \sqrt{t(1 - t)}\,\xi` with :math:`\xi \sim N(0, I)`. For a target mixture
:math:`\mu = \sum_j w_j N(y_j, C_j)` the marginal is again a mixture,

.. math::

    p_t = \sum_j w_j\, N\big(t y_j,\; t^2 C_j + t(1 - t) I\big),
    \tag{F2}

and Tweedie's formula :math:`\mathbb E[tY \mid Z_t = z] = z + t(1 - t)\nabla\log p_t(z)`
turns (F1) into a closed-form softmax reduction over the components:

.. math::

    b(z, t) = \frac{z}{t} + \nabla \log p_t(z).
    \tag{F3}

For the empirical measure (:math:`C_j = 0`) this is the kernel drift of [Hua2024b]_,
:math:`b = \big(\sum_j \omega_j y_j - z\big)/(1 - t)` with
:math:`\omega = \operatorname{softmax}_j\big(\log w_j - \lVert z - t y_j\rVert^2 / (2t(1 - t))\big)`:
every path is pinned to a training point (memorization). A smoothed target (a KDE, or the
model density of a fitted ``WPOKernelScore``) ends in a density instead.

Sampling integrates (F1), in the standardized coordinates of
:mod:`~wpokernel.estimators._standardize` (the point mass is at the data's mean), by
Euler–Maruyama on the grid :math:`t_k = 1 - \cos^4\big(\tfrac{\pi k}{2n}\big)`,
:math:`k = 0, \dots, n` (:func:`~wpokernel.dynamics.cosine_grid`), dense at both ends: near 0, where :math:`Z_t = O(\sqrt t)` sets the weights
(:math:`t_1 \approx \pi^2 / 2n^2`), and near 1, where the bridge pins
(:math:`1 - t_{n-1} = \sin^4(\pi / 2n)`). At :math:`t_0 = 0` the state is exactly 0 and the
drift is its limit :math:`b(0, 0) = \mathbb E[Y]`. The drift is never evaluated at
:math:`t = 1`, where the empirical target has no density; the last step lands on
:math:`\mathbb E[Y \mid Z_{t_{n-1}}]` plus noise of standard deviation
:math:`\sin^2(\pi / 2n)` (:math:`2.5 \cdot 10^{-4}` for :math:`n = 100`), far below the
spacing of training points, so the empirical target's samples land on them.

References
----------
.. [Föl1985] H. Föllmer, "An entropy approach to the time reversal of diffusion processes",
   Stochastic Differential Systems, Lecture Notes in Control and Information Sciences 69,
   156-163, Springer, 1985.
.. [HJKLLL2021] J. Huang, Y. Jiao, L. Kang, X. Liao, J. Liu, Y. Liu, "Schrödinger-Föllmer
   sampler: sampling without ergodicity", arXiv:2106.10880, 2021.
.. [Hua2024b] H. Huang, "One-step data-driven generative model via Schrödinger bridge",
   arXiv:2405.12453, 2024.
"""

from .._validation import open_fraction
from ..dynamics import cosine_grid, euler_maruyama
from ..mixture import GaussianMixtureField
from ._target import BaseTargetSampler

__all__ = ["FollmerBridge", "follmer_drift", "follmer_marginal", "follmer_sde"]


# ----------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------


def follmer_marginal(field, t):
    r"""The law :math:`p_t` of :math:`Z_t` (F2) for the target mixture ``field``.

    Parameters
    ----------
    field : GaussianMixtureField
        Target :math:`\mu = \sum_j w_j N(y_j, C_j)` (its covariance at time 0).
    t : float
        Time in (0, 1).

    Returns
    -------
    GaussianMixtureField
        Centers :math:`t y_j`, covariances :math:`t^2 C_j + t(1 - t) I`.
    """
    covariance = field.covariance.scaled(t**2).with_added_variance(t * (1.0 - t))
    return GaussianMixtureField(t * field.centers, covariance, field.log_weights,
                                backend=field.backend, working_memory=field.working_memory)


def follmer_drift(field, z, t):
    r"""Föllmer drift (F3) :math:`b(z, t) = z / t + \nabla \log p_t(z)` toward ``field``.

    Parameters
    ----------
    field : GaussianMixtureField
        Target mixture.
    z : array of shape (n_queries, n_features)
        States :math:`Z_t`.
    t : float
        Time in (0, 1).

    Returns
    -------
    array of shape (n_queries, n_features)
    """
    return z / t + follmer_marginal(field, t).score(z)


def follmer_sde(drift, initial_drift, n_steps, random_state=None, progress=False,
                desc="Föllmer SDE"):
    r"""Integrate a bridge :math:`dZ_t = b(Z_t, t)\,dt + dW_t` from :math:`Z_0 = 0` to :math:`Z_1`.

    Euler–Maruyama on :func:`~wpokernel.dynamics.cosine_grid`. At :math:`t_0 = 0` the state
    is exactly 0, where the drift (F1) is its limit :math:`\mathbb E[Y]`; the drift is never
    evaluated at :math:`t = 1`.

    Parameters
    ----------
    drift : callable
        ``drift(z, t)`` for :math:`t \in (0, 1)`, of the shape of ``z``.
    initial_drift : array of shape (n_samples, n_features)
        :math:`b(0, 0) = \mathbb E[Y]` for each path; it sets the shape, library and device
        of the state.
    n_steps : int
        Steps of the grid.
    random_state : int, RandomState, RandomSource or None, default=None
        Seed of the Brownian increments.
    progress : bool, default=False
        Show a progress bar labelled ``desc``.

    Returns
    -------
    array of shape (n_samples, n_features)
        :math:`Z_1`.

    Examples
    --------
    >>> import numpy as np
    >>> # The bridge to a point mass at y has drift (y - z) / (1 - t) and ends on y.
    >>> y = np.full((2, 1), 3.0)
    >>> follmer_sde(lambda z, t: (y - z) / (1 - t), y, 100, random_state=0).round(2)
    array([[3.],
           [3.]])
    """

    def bridge_drift(z, t):
        return initial_drift if t == 0.0 else drift(z, t)

    return euler_maruyama(bridge_drift, 0.0 * initial_drift, cosine_grid(n_steps), 1.0,
                          random_state, progress, desc, direction=1)


# ----------------------------------------------------------------------------------------
# Estimator
# ----------------------------------------------------------------------------------------


class FollmerBridge(BaseTargetSampler):
    r"""Föllmer bridge from a point mass at the data's mean to the target measure of the data.

    The drift (F3) toward the target mixture is closed form; ``sample`` integrates the
    bridge SDE (F1) from :math:`Z_0 = 0` to :math:`t = 1` (see the module docstring).

    Parameters
    ----------
    target : None, float, {"scott", "silverman"} or mixture score model, default=None
        Target measure of the data (:func:`~wpokernel.estimators._target.fit_target`):
        ``None`` is the empirical measure (samples copy training points), a bandwidth
        :math:`h` (in units of the data's spread) or a rule the Gaussian KDE, an estimator
        such as ``WPOKernelScore()`` its fitted model density.
    n_steps : int, default=100
        Euler–Maruyama steps on the grid of :func:`~wpokernel.dynamics.cosine_grid`.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.
    device : {"cpu", "cuda"}, default="cpu"
        Where the fitted target lives and the SDE runs.
    progress : bool, default=True
        Progress bar while integrating.

    Attributes
    ----------
    target_field_ : GaussianMixtureField
        Target mixture :math:`\mu`, in standardized coordinates.
    target_estimator_ : BaseMixtureScore or None
        Fitted clone of ``target`` when it is an estimator.
    mean_, scale_ : ndarray of shape (n_features,), float
        The standardization of the data.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.follmer import FollmerBridge
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> model = FollmerBridge(target="scott", n_steps=20, progress=False).fit(X)
    >>> model.sample(5, random_state=0).shape
    (5, 2)
    """

    _sample_methods = ("sde",)

    def __init__(self, *, target=None, n_steps=100, backend="auto", working_memory=256,
                 device="cpu", progress=True):
        self.target = target
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.progress = progress

    def drift(self, X, t):
        r"""Drift :math:`b(x, t)` (F3) of the bridge at states ``X`` and time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            States, in the caller's units (the bridge starts at the data's mean).
        t : float
            Time in (0, 1).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        open_fraction("t", t)
        return self._field_in_data_units(self._drift, X, float(t), 1)

    # ---------------------------------------------------------------- dynamics hooks
    def _time_grid(self, n_steps):
        return cosine_grid(n_steps)

    def _initial_state(self, n_samples, random):
        return random.ns.zeros((n_samples, self.n_features_in_), like=random.like)

    def _drift(self, x, t):
        if t == 0.0:  # the state is exactly 0, where the drift (F1) is E[Y]
            return 0.0 * x + self.target_field_.mean()
        return follmer_drift(self.target_field_, x, t)

    def _diffusion(self, t):
        return 1.0
