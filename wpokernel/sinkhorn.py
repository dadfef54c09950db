r"""Log-domain Sinkhorn for entropic optimal transport between two weighted samples.

For samples :math:`x_1, \dots, x_m` and :math:`y_1, \dots, y_n` with probability weights
:math:`a_i` and :math:`b_j`, the cost :math:`c(x, y) = \tfrac12 \lVert x - y\rVert^2` and the
regularization :math:`\varepsilon > 0`, the entropic plan is [Cut2013]_ [PC2019]_

.. math::

    \pi_{ij} = a_i b_j \exp\Big(\frac{f_i + g_j - \tfrac12 \lVert x_i - y_j\rVert^2}{\varepsilon}\Big),
    \qquad \sum_j \pi_{ij} = a_i, \quad \sum_i \pi_{ij} = b_j,

the minimizer of :math:`\langle \pi, c\rangle + \varepsilon \operatorname{KL}(\pi \,\|\, a \otimes b)`;
it is the static Schrödinger bridge of the Brownian motion of variance :math:`\varepsilon` per
unit time. Sinkhorn alternates the two marginal conditions in the log domain:

.. math::

    f_i \leftarrow -\varepsilon \log \sum_j b_j\, e^{(g_j - \frac12 \lVert x_i - y_j\rVert^2)/\varepsilon}, \qquad
    g_j \leftarrow -\varepsilon \log \sum_i a_i\, e^{(f_i - \frac12 \lVert x_i - y_j\rVert^2)/\varepsilon}.

Each half-step is the log-density of an isotropic Gaussian mixture with logit biases,

.. math::

    \log \sum_j b_j\, e^{(g_j - \frac12 \lVert x_i - y_j\rVert^2)/\varepsilon}
    = \log \sum_j e^{\log b_j + g_j/\varepsilon}\, N(x_i; y_j, \varepsilon I)
      + \tfrac d2 \log(2\pi\varepsilon),

which is what :func:`~wpokernel.reductions.mixture_moments` computes (it does not renormalize
the biases) on every backend, KeOps included for large samples: no pair loop is written here.
After a :math:`g` update the column sums are exact, and the row sums are
:math:`a_i e^{(f_i - f_i^{\text{new}})/\varepsilon}` with :math:`f^{\text{new}}` the next
:math:`f` update, so the stopping criterion, the :math:`\ell_1` marginal error
:math:`\sum_i a_i \lvert e^{(f_i - f_i^{\text{new}})/\varepsilon} - 1\rvert`, costs nothing extra.

With ``scaling`` (:math:`\varepsilon`-scaling [Sch2019]_), one update is made at each of
:math:`\varepsilon_k = \varepsilon_0 q^k > \varepsilon` from :math:`\varepsilon_0` half the
squared diameter of the two samples, as a warm start for the iterations at :math:`\varepsilon`.

References
----------
.. [Cut2013] M. Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport",
   NeurIPS 2013.
.. [PC2019] G. Peyré, M. Cuturi, "Computational optimal transport", Foundations and Trends in
   Machine Learning 11(5-6), 2019, section 4.4 (log-domain iterations).
.. [Sch2019] B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized
   transport problems", SIAM J. Sci. Comput. 41(3), 2019.
"""

import math
import warnings
from typing import NamedTuple

from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from ._validation import one_of, optional, open_fraction, positive_int, positive_real
from .reductions import DEFAULT_WORKING_MEMORY, Isotropic, get_namespace, mixture_moments

__all__ = ["SinkhornResult", "sinkhorn", "soft_min"]

_VALID_BACKENDS = ("auto", "numpy", "torch", "keops", "cupy")


class SinkhornResult(NamedTuple):
    """Results of :func:`sinkhorn`.

    Attributes
    ----------
    f : array of shape (n_source,)
        Potential :math:`f_i` of the source points.
    g : array of shape (n_target,)
        Potential :math:`g_j` of the target points.
    n_iter : int
        Number of :math:`(g, f)` updates made, the :math:`\\varepsilon`-scaling ones included.
    marginal_error : float
        :math:`\\ell_1` error of the source marginal of the returned plan (the target marginal
        is exact).
    """

    f: object
    g: object
    n_iter: int
    marginal_error: float


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------


def _points(ns, a, name):
    """``a`` as a finite floating 2-D array with at least one row."""
    a = ns.asarray(a)
    if not str(a.dtype).replace("torch.", "").startswith("float"):
        a = ns.asarray(a, dtype=ns.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"Expected a 2-D array with at least one row for {name}, got shape {tuple(a.shape)}.")
    if not bool(ns.isfinite(a).all()):
        raise ValueError(f"Expected finite values in {name}, got NaN or inf.")
    return a


def _log_probabilities(ns, weights, n, name, like):
    """Log of ``weights`` normalized to sum to one; ``None`` means uniform."""
    if weights is None:
        return ns.zeros((n,), like=like) - math.log(n)
    weights = ns.asarray(weights, like=like)
    if tuple(weights.shape) != (n,):
        raise ValueError(f"Expected {name} of shape ({n},), got {tuple(weights.shape)}.")
    if not bool(ns.isfinite(weights).all()) or not bool((weights > 0).all()):
        raise ValueError(f"Expected finite positive weights in {name}, got a zero, negative, NaN or "
                         "inf entry; drop the points of zero weight.")
    return ns.log(weights) - math.log(float(ns.sum(weights, 0)))


def _check_settings(epsilon, tol, max_iter, scaling, backend):
    positive_real("epsilon", epsilon)
    positive_real("tol", tol)
    positive_int("max_iter", max_iter)
    optional(open_fraction)("scaling", scaling)
    one_of(*_VALID_BACKENDS)("backend", backend)


# ----------------------------------------------------------------------------------------
# Half-steps
# ----------------------------------------------------------------------------------------


def soft_min(x, y, log_weights, epsilon, *, backend="auto", working_memory=DEFAULT_WORKING_MEMORY):
    r"""Soft minimum of the cost over ``y``: the Sinkhorn half-step.

    .. math::

        -\varepsilon \log \sum_j e^{\ell_j - \frac12 \lVert x_i - y_j\rVert^2/\varepsilon}
        = -\varepsilon\Big(\log \sum_j e^{\ell_j}\, N(x_i; y_j, \varepsilon I)
          + \tfrac d2 \log(2\pi\varepsilon)\Big).

    Parameters
    ----------
    x : array-like of shape (n_queries, n_features)
    y : array-like of shape (n_points, n_features)
    log_weights : array-like of shape (n_points,)
        Logit biases :math:`\ell_j` (not normalized).
    epsilon : float
        Regularization :math:`\varepsilon > 0`.
    backend, working_memory
        See :func:`~wpokernel.reductions.mixture_moments`.

    Returns
    -------
    array of shape (n_queries,)
        In the library of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.sinkhorn import soft_min
    >>> float(soft_min(np.zeros((1, 1)), np.array([[2.0]]), np.zeros(1), 0.5)[0])
    2.0
    """
    out = mixture_moments(x, y, Isotropic(epsilon), log_weights, backend=backend,
                          working_memory=working_memory)
    return -epsilon * (out.log_density + 0.5 * x.shape[1] * math.log(2.0 * math.pi * epsilon))


def _initial_epsilon(ns, x, y):
    """Half the squared diameter of the bounding box of both samples: the largest cost."""
    both = ns.concat([x, y], 0)
    extent = ns.amax(both, 0) + ns.amax(-both, 0)  # (d,): max - min per feature
    return 0.5 * float(ns.sum(extent * extent, 0))


# ----------------------------------------------------------------------------------------
# Solver
# ----------------------------------------------------------------------------------------


def sinkhorn(x, y, epsilon, a=None, b=None, *, tol=1e-9, max_iter=1000, scaling=None,
             backend="auto", working_memory=DEFAULT_WORKING_MEMORY, progress=False):
    r"""Entropic optimal transport potentials by log-domain Sinkhorn iterations.

    Solves for the plan
    :math:`\pi_{ij} = a_i b_j e^{(f_i + g_j - \frac12 \lVert x_i - y_j\rVert^2)/\varepsilon}`
    with marginals :math:`a` and :math:`b` (module docstring, [PC2019]_ eq. 4.43).

    Parameters
    ----------
    x : array-like of shape (n_source, n_features)
        Source points (NumPy, torch or CuPy; the potentials come back in that library).
    y : array-like of shape (n_target, n_features)
        Target points.
    epsilon : float
        Regularization :math:`\varepsilon > 0`, the variance per unit time of the reference
        Brownian motion.
    a, b : array-like of shape (n_source,) and (n_target,), default=None
        Positive weights, normalized here; ``None`` means uniform.
    tol : float, default=1e-9
        Stop when the :math:`\ell_1` marginal error falls below ``tol``.
    max_iter : int, default=1000
        Largest number of updates; reaching it gives a ``ConvergenceWarning``.
    scaling : float in (0, 1) or None, default=None
        Ratio :math:`q` of the :math:`\varepsilon`-scaling warm start; ``None`` starts at
        :math:`\varepsilon` (enough when :math:`\varepsilon` is not small against the squared
        spread of the samples).
    backend : {"auto", "numpy", "torch", "keops", "cupy"}, default="auto"
        Reduction backend of the half-steps.
    working_memory : float, default=256
        Budget in MiB of the blocked engine.
    progress : bool, default=False
        Progress bar over the iterations.

    Returns
    -------
    SinkhornResult
        ``(f, g, n_iter, marginal_error)``.

    Examples
    --------
    >>> import numpy as np
    >>> from wpokernel.sinkhorn import sinkhorn
    >>> rng = np.random.default_rng(0)
    >>> result = sinkhorn(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) + 1.0, 0.5)
    >>> result.marginal_error < 1e-9
    True
    """
    _check_settings(epsilon, tol, max_iter, scaling, backend)
    ns = get_namespace(x, y, a, b)
    x, y = _points(ns, x, "x"), _points(ns, y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Expected x and y with the same number of features, got {x.shape[1]} and {y.shape[1]}.")
    log_a = _log_probabilities(ns, a, x.shape[0], "a", x)
    log_b = _log_probabilities(ns, b, y.shape[0], "b", x)
    settings = {"backend": backend, "working_memory": working_memory}
    schedule = _epsilon_schedule(ns, x, y, float(epsilon), scaling)
    g = ns.zeros((y.shape[0],), like=x)
    f = soft_min(x, y, log_b + g / schedule[0], schedule[0], **settings)
    for eps_k in schedule[1:]:
        g = soft_min(y, x, log_a + f / eps_k, eps_k, **settings)
        f = soft_min(x, y, log_b + g / eps_k, eps_k, **settings)
    eps = float(epsilon)
    error = math.inf
    bar = tqdm(total=max_iter, disable=not progress, desc="Sinkhorn", leave=False)
    n_iter = len(schedule) - 1
    while n_iter < max_iter:
        g = soft_min(y, x, log_a + f / eps, eps, **settings)
        f_next = soft_min(x, y, log_b + g / eps, eps, **settings)
        error = float(ns.sum(ns.exp(log_a) * ns.abs(ns.exp((f - f_next) / eps) - 1.0), 0))
        n_iter += 1
        bar.update(1)
        if error < tol:
            break
        f = f_next
    bar.close()
    if error >= tol:
        warnings.warn(
            f"Sinkhorn did not reach tol={tol:g} in max_iter={max_iter} iterations (marginal "
            f"error {error:.3g}); increase max_iter or epsilon, or pass scaling.",
            ConvergenceWarning, stacklevel=2)
    return SinkhornResult(f, g, n_iter, error)


def _epsilon_schedule(ns, x, y, epsilon, scaling):
    """``[eps_0, eps_0 q, ..., eps]``: the warm-start regularizations, then ``epsilon``."""
    if scaling is None:
        return [epsilon]
    start = _initial_epsilon(ns, x, y)
    if start <= epsilon:
        return [epsilon]
    n_stages = int(math.ceil(math.log(epsilon / start) / math.log(scaling)))
    return [start * scaling**k for k in range(n_stages)] + [epsilon]
