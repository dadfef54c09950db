r"""Divergences of velocity fields for the ODE log-likelihood: Hutchinson estimates.

The instantaneous change of variables needs :math:`\nabla\cdot v(x, t) = \operatorname{tr}
\partial v / \partial x`. Closed-form fields give it exactly; for any other field (a network,
say) Hutchinson's identity [Hut1989]_ gives an unbiased estimate from Jacobian-vector products
with probes :math:`\epsilon` of zero mean and identity covariance (Rademacher signs here):

.. math::

    \nabla\cdot v(x) = \mathbb E_\epsilon\big[\epsilon^\top \tfrac{\partial v}{\partial x}\,
    \epsilon\big] \approx \frac1K \sum_{k=1}^{K} \epsilon_k^\top \tfrac{\partial v}{\partial x}
    \epsilon_k .

For torch states the products :math:`\epsilon^\top J` are exact, by reverse-mode autograd
[GCBSD2019]_; for NumPy and CuPy states they are central differences along the probe,
:math:`\epsilon^\top (v(x + h\epsilon) - v(x - h\epsilon)) / 2h`, whose error is
:math:`O(h^2)` with :math:`h` a small fraction of the state's root-mean-square size. The
probes are drawn once and kept along a trajectory, so that the estimate of the integral
:math:`\int \nabla\cdot v\, dt` is smooth in time and still unbiased.

:func:`exact_divergence` sums the same products over the basis vectors :math:`e_k` instead,
:math:`\sum_k e_k^\top J e_k = \operatorname{tr} J`: exact (up to the differences' :math:`O(h^2)`
for NumPy), and cheaper than :math:`K` probes when :math:`d \le K`.
:func:`autograd_divergence` is that trace for one torch evaluation, for tests.

References
----------
.. [Hut1989] M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix
   for Laplacian smoothing splines", Communications in Statistics - Simulation and Computation
   18(3), 1059-1076, 1989.
.. [GCBSD2019] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud,
   "FFJORD: Free-form continuous dynamics for scalable reversible generative models", ICLR 2019.
"""

import numpy as np

from .._validation import positive_int
from ..reductions import RandomSource, get_namespace

__all__ = ["autograd_divergence", "exact_divergence", "hutchinson_divergence"]

# Central-difference step relative to the state's root-mean-square size: the truncation error
# (h^2) and the rounding error (machine epsilon / h) balance near 1e-5 in float64.
_RELATIVE_STEP = 1e-5


def _torch_jacobian_products(velocity, x, t, probes):
    """``v(x, t)`` and :math:`\\epsilon_k^\\top J \\epsilon_k` for each probe, by autograd."""
    torch = get_namespace(x).xp
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = velocity(x, t)
        products = [(torch.autograd.grad(v, x, probe, retain_graph=k + 1 < len(probes))[0]
                     * probe).sum(1) for k, probe in enumerate(probes)]
    return v.detach(), products


def _difference_jacobian_products(velocity, x, t, probes):
    """``v(x, t)`` and central-difference :math:`\\epsilon_k^\\top J \\epsilon_k`."""
    ns = get_namespace(x)
    size = float((x * x).mean() ** 0.5) if x.shape[0] else 0.0
    h = _RELATIVE_STEP * (size if size > 0 else 1.0)
    products = [(probe * (velocity(x + h * probe, t) - velocity(x - h * probe, t))).sum(1) / (2 * h)
                for probe in probes]
    return velocity(x, t), products


def hutchinson_divergence(velocity, n_probes=1, random_state=0):
    r"""Turn a velocity field into ``(v, div)`` with a Hutchinson estimate of the divergence.

    Parameters
    ----------
    velocity : callable
        ``velocity(x, t)`` of the shape of ``x`` (differentiable by torch for torch states).
    n_probes : int, default=1
        Rademacher probes :math:`K` averaged at each evaluation.
    random_state : int, RandomState or None, default=0
        Seed of the probes, drawn at the first call in the state's library and kept.

    Returns
    -------
    callable
        ``velocity_divergence(x, t)`` returning :math:`v(x, t)` and the estimate of
        :math:`\nabla\cdot v(x, t)`, shape ``(n_samples,)``.

    Examples
    --------
    >>> import numpy as np
    >>> field = hutchinson_divergence(lambda x, t: 3.0 * x, n_probes=4)
    >>> v, div = field(np.ones((2, 5)), 0.0)  # J = 3 I: every probe gives the exact trace
    >>> div.round(6)
    array([15., 15.])
    """
    positive_int("n_probes", n_probes)
    probes = []

    def velocity_divergence(x, t):
        if not probes:
            random = RandomSource(random_state, x)
            probes.extend(random.rademacher(x.shape) for _ in range(n_probes))
        v, products = _products(velocity, x, t, probes)
        return v, sum(products) / n_probes

    return velocity_divergence


def _products(velocity, x, t, probes):
    if get_namespace(x).name == "torch":
        return _torch_jacobian_products(velocity, x, t, probes)
    return _difference_jacobian_products(velocity, x, t, probes)


def exact_divergence(velocity):
    r"""Turn a velocity field into ``(v, div)`` with :math:`\nabla\cdot v = \sum_k e_k^\top J e_k`.

    :math:`d` Jacobian-vector products a call (autograd for torch states, central differences
    otherwise): for small dimensions.

    Parameters
    ----------
    velocity : callable
        ``velocity(x, t)`` of the shape of ``x``.

    Returns
    -------
    callable
        ``velocity_divergence(x, t)``.

    Examples
    --------
    >>> import numpy as np
    >>> v, div = exact_divergence(lambda x, t: x**2)(np.array([[1.0, 2.0]]), 0.0)
    >>> div.round(8)  # 2 x_1 + 2 x_2
    array([6.])
    """
    def velocity_divergence(x, t):
        ns = get_namespace(x)
        eye = ns.asarray(np.eye(x.shape[1]), like=x)
        basis = [eye[k] * ns.ones(x.shape, like=x) for k in range(x.shape[1])]
        v, products = _products(velocity, x, t, basis)
        return v, sum(products)

    return velocity_divergence


def autograd_divergence(velocity, x, t):
    r"""Exact :math:`\nabla\cdot v(x, t) = \sum_k \partial v_k / \partial x_k` of a torch field.

    One reverse pass per dimension: for small :math:`d` and for checking estimates.

    Parameters
    ----------
    velocity : callable
        Differentiable ``velocity(x, t)``.
    x : torch.Tensor of shape (n_samples, n_features)
    t : float

    Returns
    -------
    torch.Tensor of shape (n_samples,)
    """
    eye = get_namespace(x).xp.eye(x.shape[1], dtype=x.dtype, device=x.device)
    _, products = _torch_jacobian_products(velocity, x, t,
                                           [eye[k].expand_as(x) for k in range(x.shape[1])])
    return sum(products)
