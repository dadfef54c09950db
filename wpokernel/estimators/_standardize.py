r"""The standardized coordinates every estimator works in.

Every estimator fits, samples and evaluates in the coordinates

.. math::

    u = (x - \mu) / \rho, \qquad
    \mu = \frac{\sum_i w_i x_i}{\sum_i w_i}, \qquad
    \rho = \Big(\frac1d \sum_{k=1}^d \frac{\sum_i w_i (x_{ik} - \mu_k)^2}{\sum_i w_i}\Big)^{1/2},

the weighted mean and the root-mean-square standard deviation of the features (one number,
so that isotropic kernels stay isotropic and the relative scales of the features are the
caller's). Every hyper-parameter with a unit (a bandwidth, a noise level, a covariance floor,
a prior scale) is therefore a multiple of the data's spread, and fitting :math:`a + c X`
gives :math:`a + c` times the samples of :math:`X` and densities
:math:`p_{a + cX}(a + c x) = c^{-d} p_X(x)`: results do not depend on the units of the data.
Frequency weights enter as repeated rows would.
"""

import numpy as np

__all__ = ["standardization"]


def standardization(X, sample_weight=None, name="X", *, constant_scale=None):
    r"""Weighted mean :math:`\mu` and root-mean-square spread :math:`\rho` of the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite data.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative frequency weights with a positive sum.
    name : str, default="X"
        Name of the data in error messages.
    constant_scale : float or None, default=None
        Scale returned when every row is the same point; ``None`` raises instead.

    Returns
    -------
    mean : ndarray of shape (n_features,)
    scale : float
        :math:`\rho > 0`.

    Raises
    ------
    ValueError
        Every row (of positive weight) is the same point: the data has no scale to be
        relative to.

    Examples
    --------
    >>> standardization(np.array([[0.0, 0.0], [2.0, 4.0]]))
    (array([1., 2.]), 1.5811388300841898)
    """
    weight = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    weight = weight / weight.sum()
    mean = weight @ X
    centered = X - mean  # (n, d)
    # Divided by the largest deviation first, so that squares of huge values do not overflow.
    largest = float(np.max(np.abs(centered[weight > 0]))) if X.size else 0.0
    if not largest > 0 and constant_scale is not None:
        return mean, float(constant_scale)
    if not largest > 0:
        raise ValueError(f"Expected {name} with a positive spread, got {int(np.sum(weight > 0))} "
                         "rows that are all the same point; there is no scale to fit a "
                         "density to.")
    variance = weight @ (centered / largest) ** 2  # (d,)
    return mean, largest * float(np.sqrt(variance.mean()))
