r"""Conditional sampling with the Föllmer bridge, and the Nadaraya–Watson baseline.

From pairs :math:`(x_i, y_i)`, :math:`x_i \in \mathbb R^p`, :math:`y_i \in \mathbb R^q`,
the kernel estimate of the conditional law of :math:`Y` given :math:`X = x` is

.. math::

    \hat\mu_x = \sum_i \omega_i(x)\, N(\mu_i(x), h^2 I_q), \qquad
    \omega_i(x) = \frac{K_H(x - x_i)}{\sum_k K_H(x - x_k)},
    \tag{C1}

with the Gaussian kernel :math:`K_H` of bandwidth :math:`H`, an optional smoothing
:math:`h \ge 0` of the responses, and component means :math:`\mu_i(x) = c(x) + u_i` of one
of two kinds:

* the responses, :math:`u_i = y_i`, :math:`c = 0` (the default, as in [Hua2024]_): the mean
  and variance of (C1) are the Nadaraya–Watson estimates [Nad1964]_, [Wat1964]_

  .. math::

      m(x) = \sum_i \omega_i(x)\, y_i, \qquad
      v(x) = \sum_i \omega_i(x)\, (y_i - m(x))^2 + h^2;
      \tag{C2}

* the residuals (``residuals=True``), :math:`u_i = r_i = y_i - m_{-k(i)}(x_i)` with the
  out-of-fold mean of :func:`out_of_fold_means`, and :math:`c = m`: the two-step estimate of
  [Han2004]_. Its mean :math:`m(x) + \sum_i \omega_i(x) r_i` adds the smoothed residuals
  back ("twicing", [Tuk1977]_), and its spread is that of the residuals [FY1998]_, not of the
  responses, which the variation of the mean across the kernel window inflates.

The conditional Schrödinger bridge [Hua2024]_ is the Föllmer process
(:mod:`~wpokernel.estimators.follmer`) from :math:`\delta_0` to :math:`\hat\mu_x`,
:math:`dZ_t = b(Z_t, t \mid x)\,dt + dW_t`, with
:math:`b = (\mathbb E[Y \mid Z_t = z, X = x] - z)/(1 - t)`. Given component :math:`i`,
:math:`Z_t \sim N(t \mu_i(x), \sigma_t^2 I)`, :math:`\sigma_t^2 = t^2 h^2 + t(1 - t)`, so
the posterior weights

.. math::

    \omega_i(x, z, t) \propto K_H(x - x_i)\, N(z - t c(x);\; t u_i, \sigma_t^2 I)
    \tag{C3}

are the responsibilities of ONE Gaussian mixture in the joint variable
:math:`(x, z - t c(x))`, with centers :math:`(x_i, t u_i)` and diagonal covariance
:math:`\operatorname{diag}(H^2 I_p, \sigma_t^2 I_q)`: the reduction engine gives
:math:`V = c(x) + \sum_i \omega_i(x, z, t)\, u_i`, and Tweedie's formula the drift

.. math::

    b(z, t \mid x) = \frac{z}{t} + \nabla_z \log \sum_i \omega_i(x) N(z; t\mu_i(x), \sigma_t^2 I)
    = \frac{V - (1 - h^2)\, z}{1 - t + t h^2}.
    \tag{C4}

``sample`` integrates it by Euler–Maruyama on the grid of
:func:`~wpokernel.dynamics.cosine_grid`, from :math:`Z_0 = 0` where the drift is
the mean of (C1). The terminal law is (C1), so the bridge is a sampler of the kernel
conditional law: the mean and standard deviation of its samples estimate those of (C1), and
``predict`` returns that mean in closed form.

The bandwidth :math:`H` is a number, Scott's or Silverman's rule on ``X``
(:func:`~wpokernel.estimators.empirical.bandwidth_rule`), or ``"cv"``: the multiple of
Scott's rule in :data:`CV_FACTORS` with the least 5-fold cross-validated squared error of
the Nadaraya–Watson mean, the criterion of [HM1985]_. Held-out folds, not leave-one-out,
keep every prediction inside the engine's stable softmax, with no self-term to subtract.
:math:`H` is isotropic. Everything runs in standardized coordinates (covariates by their mean
and root-mean-square spread, responses by theirs; :mod:`~wpokernel.estimators._standardize`),
so :math:`H` and :math:`h` are in units of those spreads and the results do not depend on the
units of the data; features of different units should still be standardized first, since
one spread serves them all.

References
----------
.. [Hua2024] H. Huang, "Schrödinger bridge based deep conditional generative learning",
   arXiv:2409.17294, 2024.
.. [Nad1964] E. A. Nadaraya, "On estimating regression", Theory of Probability and its
   Applications 9(1), 141-142, 1964.
.. [Wat1964] G. S. Watson, "Smooth regression analysis", Sankhyā A 26(4), 359-372, 1964.
.. [HM1985] W. Härdle, J. S. Marron, "Optimal bandwidth selection in nonparametric
   regression function estimation", The Annals of Statistics 13(4), 1465-1481, 1985.
.. [Han2004] B. E. Hansen, "Nonparametric conditional density estimation", working paper,
   University of Wisconsin, 2004.
.. [FY1998] J. Fan, Q. Yao, "Efficient estimation of conditional variance functions in
   stochastic regression", Biometrika 85(3), 645-660, 1998.
.. [Tuk1977] J. W. Tukey, "Exploratory Data Analysis", Addison-Wesley, 1977.
"""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import validate_data

from .._validation import (
    boolean,
    nonnegative_real,
    open_fraction,
    positive_int,
    positive_real,
    real_or_option,
    seed,
    validate_params,
)
from ..reductions import Diagonal, Isotropic, mixture_moments
from ._base import BaseKernelEstimator
from ._standardize import standardization
from .empirical import bandwidth_rule
from .follmer import follmer_sde

__all__ = [
    "ConditionalSchrodingerBridge",
    "NadarayaWatson",
    "cv_bandwidth",
    "nadaraya_watson",
    "out_of_fold_means",
]

_BANDWIDTH_OPTIONS = ("scott", "silverman", "cv")
#: Multiples of Scott's rule tried by ``bandwidth="cv"``: steps of sqrt(2) from 1/8 to 2.
CV_FACTORS = np.geomspace(0.125, 2.0, 9)
# Interleaved folds (row i in fold i % 5), so that sorted data still mix.
_CV_FOLDS = 5


# ----------------------------------------------------------------------------------------
# Nadaraya–Watson and its bandwidth
# ----------------------------------------------------------------------------------------


def nadaraya_watson(X, Y, X_new, bandwidth, *, backend="auto", working_memory=256):
    r"""Nadaraya–Watson conditional mean and variance (C2) with :math:`h = 0`.

    .. math::

        m(x) = \sum_i \omega_i(x)\, y_i, \qquad v(x) = \sum_i \omega_i(x)\,(y_i - m(x))^2,
        \qquad \omega(x) = \operatorname{softmax}_i\Big(-\frac{\lVert x - x_i\rVert^2}{2H^2}\Big).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training covariates :math:`x_i`.
    Y : ndarray of shape (n_samples, n_targets)
        Training responses :math:`y_i`.
    X_new : ndarray of shape (n_queries, n_features)
        Query covariates.
    bandwidth : float
        :math:`H > 0`.
    backend, working_memory
        Reduction settings.

    Returns
    -------
    mean, variance : ndarray of shape (n_queries, n_targets)

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    >>> mean, variance = nadaraya_watson(X, Y, np.array([[0.5]]), 1.0)
    >>> mean, variance
    (array([[1.]]), array([[1.]]))
    """
    # Centring keeps E[y^2] - m^2 from cancelling when the mean is large against the spread.
    shift = Y.mean(0)
    Y_c = Y - shift  # (N, q)
    n_targets = Y.shape[1]
    values = mixture_moments(X_new, X, Isotropic(bandwidth**2), None, np.hstack([Y_c, Y_c**2]),
                             backend=backend, working_memory=working_memory).values  # (M, 2q)
    mean = values[:, :n_targets]
    return mean + shift, np.maximum(values[:, n_targets:] - mean**2, 0.0)


def _rule_bandwidth(X, rule):
    bandwidth = bandwidth_rule(X, rule)
    if bandwidth <= 0:
        raise ValueError(f"Expected X with non-constant features for bandwidth={rule!r}, got zero "
                         "variance; pass a bandwidth > 0 instead.")
    return bandwidth


def out_of_fold_means(X, Y, bandwidth, *, backend="auto", working_memory=256):
    r"""Nadaraya–Watson mean :math:`m_{-k}(x_i)` of each row from the rows outside its fold.

    The folds are :math:`F_k = \{i : i \equiv k \bmod 5\}` (fewer for fewer than 5 rows).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), n_samples >= 2
    Y : ndarray of shape (n_samples, n_targets)
    bandwidth : float
        :math:`H > 0`.
    backend, working_memory
        Reduction settings.

    Returns
    -------
    ndarray of shape (n_samples, n_targets)
    """
    folds = np.arange(len(X)) % min(_CV_FOLDS, len(X))
    means = np.empty(Y.shape)
    for k in np.unique(folds):
        held_out = folds == k
        means[held_out] = nadaraya_watson(X[~held_out], Y[~held_out], X[held_out], bandwidth,
                                          backend=backend, working_memory=working_memory)[0]
    return means


def cv_bandwidth(X, Y, *, backend="auto", working_memory=256):
    r"""Bandwidth of least 5-fold cross-validated Nadaraya–Watson squared error.

    .. math::

        \hat H = \operatorname*{arg\,min}_{H \in H_{\text{scott}} \cdot \text{CV\_FACTORS}}
        \sum_i \lVert y_i - m_{-k(i)}(x_i; H) \rVert^2,

    with :math:`m_{-k(i)}` the estimate (C2) from the rows outside the fold of row :math:`i`
    (:func:`out_of_fold_means`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), n_samples >= 2
    Y : ndarray of shape (n_samples, n_targets)
    backend, working_memory
        Reduction settings.

    Returns
    -------
    float
    """
    candidates = _rule_bandwidth(X, "scott") * CV_FACTORS
    errors = [np.sum((Y - out_of_fold_means(X, Y, h, backend=backend,
                                            working_memory=working_memory)) ** 2)
              for h in candidates]
    return float(candidates[np.argmin(errors)])


# ----------------------------------------------------------------------------------------
# Estimators
# ----------------------------------------------------------------------------------------


class _KernelConditional(RegressorMixin, BaseKernelEstimator):
    """Shared fit and closed-form mean of the kernel conditional law (C1)."""

    _parameter_constraints = {
        **BaseKernelEstimator._parameter_constraints,
        "bandwidth": real_or_option(positive_real, *_BANDWIDTH_OPTIONS),
    }

    def fit(self, X, y):
        """Store the training pairs, resolve the bandwidth and fit the conditional law.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        validate_params(self)
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True,
                             ensure_min_samples=self._min_samples())
        self.outputs_2d_ = y.ndim == 2
        Y = y.reshape(len(X), -1).astype(np.float64)
        self.mean_, self.scale_ = standardization(X)
        # Constant responses have no spread: their conditional law is a point mass anyway.
        self.y_mean_, self.y_scale_ = standardization(Y, name="y", constant_scale=1.0)
        X, Y = (X - self.mean_) / self.scale_, (Y - self.y_mean_) / self.y_scale_
        if self.bandwidth == "cv":
            self.bandwidth_ = cv_bandwidth(X, Y, backend=self.backend,
                                           working_memory=self.working_memory)
        elif isinstance(self.bandwidth, str):
            self.bandwidth_ = _rule_bandwidth(X, self.bandwidth)
        else:
            self.bandwidth_ = float(self.bandwidth)
        self.X_fit_, self.Y_fit_ = X, Y
        self._fit_law()
        return self

    # ---------------------------------------------------------------- hooks
    def _min_samples(self):
        return 2

    def _fit_law(self):
        """Fit what the conditional law needs beyond ``X_fit_``, ``Y_fit_`` and ``bandwidth_``."""

    def _as_output(self, a):
        """Drop the trailing target axis when ``fit`` saw a 1-D ``y``."""
        return a if self.outputs_2d_ else a[..., 0]

    def _standardize(self, X):
        """Checked covariates in standardized coordinates."""
        return (self._check_X(X) - self.mean_) / self.scale_

    def _smooth(self, values, X):
        """Nadaraya–Watson mean and variance of per-row ``values`` at ``X``."""
        return nadaraya_watson(self.X_fit_, values, X, self.bandwidth_, backend=self.backend,
                               working_memory=self.working_memory)

    def _moments(self, X):
        """Mean and variance of the conditional law at ``X``, each (n_queries, n_targets)."""
        return self._smooth(self.Y_fit_, X)

    def predict(self, X):
        r"""Mean of the kernel conditional law (C1) at each row of ``X``, in closed form.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
            The shape of ``y`` in ``fit``.
        """
        mean = self._moments(self._standardize(X))[0]
        return self._as_output(self.y_mean_ + self.y_scale_ * mean)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NadarayaWatson(_KernelConditional):
    r"""Nadaraya–Watson regression with its conditional standard deviation (C2), :math:`h = 0`.

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman", "cv"}, default="cv"
        Kernel bandwidth :math:`H > 0` on ``X`` (in units of the covariates' spread
        ``scale_``), a rule, or 5-fold cross-validation (:func:`cv_bandwidth`).
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.

    Attributes
    ----------
    bandwidth_ : float
        Resolved bandwidth :math:`H` (units of ``scale_``).
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training covariates, standardized.
    Y_fit_ : ndarray of shape (n_samples, n_targets)
        Training responses (2-D), standardized.
    mean_, scale_ : ndarray of shape (n_features,), float
        Mean and root-mean-square spread of the covariates.
    y_mean_, y_scale_ : ndarray of shape (n_targets,), float
        Mean and spread of the responses (spread 1 for constant responses).
    outputs_2d_ : bool
        Whether ``y`` in ``fit`` was 2-D.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.conditional import NadarayaWatson
    >>> X = np.linspace(-1, 1, 50)[:, None]
    >>> model = NadarayaWatson(bandwidth=0.1).fit(X, 2 * X[:, 0])  # H = 0.1 scale_
    >>> model.predict([[0.0]]).round(6), model.predict_std([[0.0]]).round(2)  # about 2 H
    (array([0.]), array([0.12]))
    """

    def __init__(self, *, bandwidth="cv", backend="auto", working_memory=256):
        self.bandwidth = bandwidth
        self.backend = backend
        self.working_memory = working_memory

    def predict_std(self, X):
        r"""Conditional standard deviation :math:`\sqrt{v(x)}` (C2) in closed form.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        variance = self._moments(self._standardize(X))[1]
        return self._as_output(self.y_scale_ * np.sqrt(variance))


class ConditionalSchrodingerBridge(_KernelConditional):
    r"""Conditional Schrödinger (Föllmer) bridge to the kernel conditional law (C1).

    ``sample`` draws from the conditional law of :math:`Y` given each row of ``X`` by the
    bridge SDE with the closed-form drift (C4); ``predict_mean`` and ``predict_std`` are the
    mean and standard deviation of such samples, and ``predict`` is their exact limit, the
    mean of (C1), computed in closed form so that it is deterministic, as a scikit-learn
    regressor's ``predict`` must be.

    Parameters
    ----------
    bandwidth : float or {"scott", "silverman", "cv"}, default="cv"
        Kernel bandwidth :math:`H > 0` on ``X`` (in units of the covariates' spread
        ``scale_``), a rule, or 5-fold cross-validation (:func:`cv_bandwidth`).
    y_bandwidth : float, default=0.0
        Smoothing :math:`h \ge 0` of the responses, in units of their spread ``y_scale_``;
        ``0`` samples the weighted training responses (or residuals) themselves.
    residuals : bool, default=False
        Center the components on :math:`m(x) + r_i`, with the out-of-fold residuals
        :math:`r_i`, instead of on :math:`y_i` (the two kinds of (C1)).
    n_steps : int, default=100
        Euler–Maruyama steps.
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend.
    working_memory : float, default=256
        Memory budget in MiB of the blocked reductions.
    progress : bool, default=True
        Progress bar while integrating.

    Attributes
    ----------
    bandwidth_ : float
        Resolved bandwidth :math:`H` (units of ``scale_``).
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training covariates, standardized.
    Y_fit_ : ndarray of shape (n_samples, n_targets)
        Training responses (2-D), standardized.
    mean_, scale_ : ndarray of shape (n_features,), float
        Mean and root-mean-square spread of the covariates.
    y_mean_, y_scale_ : ndarray of shape (n_targets,), float
        Mean and spread of the responses (spread 1 for constant responses).
    responses_ : ndarray of shape (n_samples, n_targets)
        Component offsets :math:`u_i` (standardized): ``Y_fit_``, or the residuals :math:`r_i`.
    outputs_2d_ : bool
        Whether ``y`` in ``fit`` was 2-D.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.estimators.conditional import ConditionalSchrodingerBridge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 1))
    >>> y = 2 * X[:, 0] + 0.5 * rng.normal(size=200)
    >>> model = ConditionalSchrodingerBridge(n_steps=20, progress=False).fit(X, y)
    >>> model.sample([[0.0], [1.0]], n_samples=3, random_state=0).shape
    (2, 3, 1)
    """

    _parameter_constraints = {
        **_KernelConditional._parameter_constraints,
        "n_steps": positive_int,
        "progress": boolean,
        "y_bandwidth": nonnegative_real,
        "residuals": boolean,
    }

    def __init__(self, *, bandwidth="cv", y_bandwidth=0.0, residuals=False, n_steps=100,
                 backend="auto", working_memory=256, progress=True):
        self.bandwidth = bandwidth
        self.y_bandwidth = y_bandwidth
        self.residuals = residuals
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.progress = progress

    def _fit_law(self):
        self.responses_ = self.Y_fit_
        if self.residuals:
            self.responses_ = self.Y_fit_ - out_of_fold_means(
                self.X_fit_, self.Y_fit_, self.bandwidth_, backend=self.backend,
                working_memory=self.working_memory)

    def _offset(self, X):
        """:math:`c(x)` of (C1): the Nadaraya–Watson mean with residuals, else 0."""
        if self.residuals:
            return self._smooth(self.Y_fit_, X)[0]
        return np.zeros((len(X), self.Y_fit_.shape[1]))

    def _moments(self, X):
        mean, variance = self._smooth(self.responses_, X)
        return mean + self._offset(X), variance + self.y_bandwidth**2

    def _drift(self, x, z, t, offset):
        """Drift (C4) at covariates ``x`` (M, p), states ``z`` (M, q) and offsets c(x) (M, q)."""
        X, U = self.X_fit_, self.responses_
        n_features = X.shape[1]
        h2 = self.y_bandwidth**2
        variances = np.empty((len(X), n_features + U.shape[1]))  # (N, p + q)
        variances[:, :n_features] = self.bandwidth_**2
        variances[:, n_features:] = t**2 * h2 + t * (1.0 - t)
        V = offset + mixture_moments(
            np.hstack([x, z - t * offset]), np.hstack([X, t * U]), Diagonal(variances), None, U,
            backend=self.backend, working_memory=self.working_memory).values  # (M, q)
        return (V - (1.0 - h2) * z) / (1.0 - t + t * h2)

    def drift(self, X, Z, t):
        r"""Drift :math:`b(z, t \mid x)` (C4) at covariates ``X`` and states ``Z``.

        In the caller's units the bridge is :math:`z = t\,\bar y + s\, z_u` with
        :math:`z_u` the standardized bridge (``y_mean_`` :math:`\bar y`, ``y_scale_``
        :math:`s`), so its drift is :math:`\bar y + s\, b(z_u, t \mid x)`.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        Z : array-like of shape (n_queries, n_targets)
        t : float
            Time in (0, 1).

        Returns
        -------
        ndarray of shape (n_queries, n_targets)
        """
        X = self._standardize(X)
        Z = np.asarray(Z, dtype=np.float64)
        if Z.shape != (len(X), self.Y_fit_.shape[1]):
            raise ValueError(f"Expected Z of shape {(len(X), self.Y_fit_.shape[1])}, got {Z.shape}.")
        open_fraction("t", t)
        Z_u = (Z - t * self.y_mean_) / self.y_scale_  # the bridge runs from 0 to the responses
        return self.y_mean_ + self.y_scale_ * self._drift(X, Z_u, float(t), self._offset(X))

    def sample(self, X, n_samples=1, random_state=None, *, n_steps=None, progress=None):
        """Draw from the conditional law of :math:`Y` given each row of ``X`` with the bridge.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Covariates to condition on.
        n_samples : int, default=1
            Samples per row of ``X``.
        random_state : int, RandomState instance or None, default=None
            Seed of the Brownian increments; an int gives reproducible samples.
        n_steps : int, default=None
            Euler–Maruyama steps (``None``: the estimator's ``n_steps``).
        progress : bool, default=None
            Progress bar (``None``: the estimator's ``progress``).

        Returns
        -------
        Y : ndarray of shape (n_queries, n_samples, n_targets)
            The trailing axis is kept also for a 1-D ``y`` in ``fit``.
        """
        X = self._standardize(X)
        positive_int("n_samples", n_samples)
        self._check_output_size(len(X) * n_samples, self.Y_fit_.shape[1])
        seed("random_state", random_state)
        n_steps, progress = self._run_settings(n_steps, progress)
        x = np.repeat(X, n_samples, axis=0)  # (M n_samples, p)
        offset = np.repeat(self._offset(X), n_samples, axis=0)  # (M n_samples, q)
        start = np.repeat(self._moments(X)[0], n_samples, axis=0)  # b(0, 0 | x): the mean
        Z = follmer_sde(lambda z, t: self._drift(x, z, t, offset), start, n_steps, random_state,
                        progress, "conditional Föllmer SDE")
        return (self.y_mean_ + self.y_scale_ * Z).reshape(len(X), n_samples, -1)

    def predict_mean(self, X, n_samples=100, random_state=None, *, n_steps=None, progress=None):
        """Mean of ``n_samples`` bridge samples per row of ``X`` (parameters of :meth:`sample`).

        Returns an ndarray of shape (n_queries,) or (n_queries, n_targets), as ``predict``.
        """
        samples = self.sample(X, n_samples, random_state, n_steps=n_steps, progress=progress)
        return self._as_output(samples.mean(1))

    def predict_std(self, X, n_samples=100, random_state=None, *, n_steps=None, progress=None):
        """Standard deviation (``ddof=1``) of ``n_samples >= 2`` bridge samples per row of ``X``.

        Parameters are those of :meth:`sample`; the same ``random_state`` gives the samples
        of :meth:`predict_mean`. Returns an ndarray of shape (n_queries,) or
        (n_queries, n_targets).
        """
        if isinstance(n_samples, int) and not isinstance(n_samples, bool) and n_samples < 2:
            raise ValueError(f"Expected n_samples >= 2 for a standard deviation, got {n_samples}.")
        samples = self.sample(X, n_samples, random_state, n_steps=n_steps, progress=progress)
        return self._as_output(samples.std(1, ddof=1))
