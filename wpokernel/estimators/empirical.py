r"""The empirical (memorizing) kernel score model.

Terminal condition: the empirical measure of the training points, optionally smoothed by an
isotropic Gaussian kernel of bandwidth :math:`h`,

.. math::

    \pi = \frac{1}{\sum_i w_i} \sum_i w_i\, N(x_i, h^2 I), \qquad
    \eta(\cdot, t) = \frac{1}{\sum_i w_i} \sum_i w_i\, N(x_i, (h^2 + \beta^2 t) I),

    \nabla \log \eta(x, t) = -\frac{x - \sum_i \omega_i(x, t)\, x_i}{h^2 + \beta^2 t}, \qquad
    \omega(x, t) = \operatorname{softmax}_i\Big(\log w_i - \frac{\lVert x - x_i\rVert^2}{2 (h^2 + \beta^2 t)}\Big),

in the standardized coordinates of :mod:`~wpokernel.estimators._standardize` (:math:`h` is in
units of the data's spread). With :math:`h = 0` the reverse heat flow run to :math:`t \to 0`
lands on training points (memorization); stopping where the noise left is
:math:`\sigma_{\min} = \beta\sqrt{t_{\text{stop}}}` samples a Gaussian KDE of bandwidth
:math:`\sigma_{\min}`.
"""

import numpy as np

from .._validation import nonnegative_real, real_or_option
from ..mixture import GaussianMixtureField
from ..reductions import Isotropic
from ._base import BaseMixtureScore

__all__ = ["EmpiricalScore", "bandwidth_rule", "kernel_density_field"]

_BANDWIDTH_RULES = ("scott", "silverman")


def bandwidth_rule(X, rule, sample_weight=None):
    r"""Isotropic rule-of-thumb bandwidth.

    .. math::

        h_{\text{scott}} = \bar\sigma\, n^{-1/(d+4)}, \qquad
        h_{\text{silverman}} = \bar\sigma \Big(\frac{n (d + 2)}{4}\Big)^{-1/(d+4)},

    with :math:`n = \sum_i w_i` (frequency weights) and :math:`\bar\sigma^2` the mean over
    features of the unbiased weighted variances.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    rule : {"scott", "silverman"}
    sample_weight : ndarray of shape (n_samples,), default=None

    Returns
    -------
    float
    """
    weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    n = weight.sum()
    if n < 2:
        raise ValueError(f"Expected at least 2 samples for bandwidth={rule!r}, got {n:g}.")
    d = X.shape[1]
    mean = weight @ X / n
    variance = weight @ (X - mean) ** 2 / (n - 1)
    sigma = float(np.sqrt(variance.mean()))
    if rule == "scott":
        return sigma * n ** (-1.0 / (d + 4))
    if rule == "silverman":
        return sigma * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    raise ValueError(f"Expected bandwidth rule in {_BANDWIDTH_RULES}, got {rule!r}.")


class EmpiricalScore(BaseMixtureScore):
    r"""Empirical kernel score model: closed-form score of the (smoothed) empirical measure.

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman"}, default=0.0
        Smoothing :math:`h \ge 0` of the terminal measure, in units of the data's spread
        (``scale_``); ``0`` is the pure empirical measure.
    beta : float, default=1.0
        Diffusion coefficient of the heat flow.
    T : float, default=1.0
        Time where the samplers start.
    sigma_min : float, default=1e-3
        Noise left where the samplers stop (standard deviation, in units of ``scale_``); the
        model density is :math:`\eta(\cdot, t_{\text{stop}})`, a Gaussian KDE of bandwidth
        :math:`\sqrt{h^2 + \sigma_{\min}^2}` times ``scale_``.
    n_steps : int, default=500
        Steps of the SDE / ODE samplers on the geometric time grid.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.
    device : {"cpu", "cuda"}, default="cpu"
        Where the fitted state lives and the samplers run.
    progress : bool, default=True
        Progress bar while integrating.

    Attributes
    ----------
    bandwidth_ : float
        Resolved bandwidth :math:`h` (units of ``scale_``).
    field_ : GaussianMixtureField
        Terminal mixture :math:`\pi` in standardized coordinates (centers: the standardized
        training points of positive weight).
    mean_ : ndarray of shape (n_features,)
        Weighted mean of the training data.
    scale_ : float
        Root-mean-square spread of the training data: the unit of every length.
    backend_ : str
        Backend that ``"auto"`` resolves to for a training-set-sized problem on ``device``.
    device_ : str
        Where the fitted state lives.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel import EmpiricalScore
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> model = EmpiricalScore(bandwidth="scott").fit(X)
    >>> model.sample(5, random_state=0).shape
    (5, 2)
    """

    _parameter_constraints = {
        **BaseMixtureScore._parameter_constraints,
        "bandwidth": real_or_option(nonnegative_real, *_BANDWIDTH_RULES),
    }

    def __init__(self, *, bandwidth=0.0, beta=1.0, T=1.0, sigma_min=1e-3, n_steps=500,
                 backend="auto", working_memory=256, device="cpu", progress=True):
        self.bandwidth = bandwidth
        self.beta = beta
        self.T = T
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.progress = progress

    def _check_params(self):
        super()._check_params()
        if self.bandwidth == 0 and self.sigma_min == 0:
            raise ValueError("Expected sigma_min > 0 with bandwidth=0: the empirical measure "
                             "has no density to stop at, got sigma_min=0; give a bandwidth or "
                             "a noise floor sigma_min > 0.")

    def _fit_field(self, X, sample_weight):
        if isinstance(self.bandwidth, str):
            self.bandwidth_ = bandwidth_rule(X, self.bandwidth, sample_weight)
        else:
            self.bandwidth_ = float(self.bandwidth)
        return kernel_density_field(X, self.bandwidth_, sample_weight, backend=self.backend,
                                    working_memory=self.working_memory, beta=self.beta)


def kernel_density_field(X, bandwidth, sample_weight, *, backend, working_memory, beta=1.0):
    r"""The weighted Gaussian KDE :math:`\frac{1}{\sum_i w_i}\sum_i w_i N(x_i, h^2 I)` as a field.

    Rows of zero weight are dropped (a zero weight would be a log-weight of :math:`-\infty`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    bandwidth : float
        :math:`h \ge 0`.
    sample_weight : ndarray of shape (n_samples,)
    backend, working_memory
        Reduction settings of the field.
    beta : float, default=1.0
        Speed of its heat flow.

    Returns
    -------
    GaussianMixtureField
    """
    keep = sample_weight > 0
    return GaussianMixtureField(X[keep], Isotropic(bandwidth**2), np.log(sample_weight[keep]),
                                beta=beta, backend=backend, working_memory=working_memory)
