r"""Training objectives of a Gaussian-mixture terminal density, in closed form.

For :math:`\pi(x) = \sum_j w_j N(x; z_j, C_j)` with responsibilities :math:`r_j(x)` and
precisions :math:`P_j = C_j^{-1}`, the reduction engine returns
:math:`D(x) = \sum_j r_j P_j (x - z_j)` and
:math:`L(x) = \sum_j r_j (|P_j (x - z_j)|^2 - \operatorname{tr} P_j)`, from which

.. math::

    \nabla \log \pi = -D, \qquad \Delta \log \pi = L - |D|^2 .

Implicit score matching [Hyv2005]_ minimizes the Fisher divergence to the data law up to a
constant, :math:`J(\pi) = \mathbb E_x[\tfrac12 |\nabla \log \pi|^2 + \Delta \log \pi]`, which
per point is

.. math::

    \tfrac12 |D|^2 + L - |D|^2 = L - \tfrac12 |D|^2 .

Both objectives must be evaluated at points that are not centers of the mixture they score:
a point scored against a component centered on itself rewards shrinking that component to a
point mass, which rebuilds the memorizing empirical score [ZLLKO2024]_.

References
----------
.. [Hyv2005] A. Hyvärinen, "Estimation of Non-Normalized Statistical Models by Score
   Matching", Journal of Machine Learning Research 6, 695-709, 2005.
.. [ZLLKO2024] B. J. Zhang, S. Liu, W. Li, M. A. Katsoulakis, S. J. Osher, "Wasserstein
   proximal operators describe score-based generative models and resolve memorization",
   arXiv:2402.06162, 2024.
"""

from .reductions import mixture_moments

__all__ = ["OBJECTIVES", "implicit_score_matching", "negative_log_likelihood"]


def implicit_score_matching(x, centers, covariance, *, backend="torch"):
    r"""Mean implicit score-matching loss :math:`\frac1M \sum_i (L_i - \tfrac12 |D_i|^2)`.

    Parameters
    ----------
    x : tensor of shape (M, d)
        Evaluation points, none of them a center.
    centers : tensor of shape (N, d)
        Component means, equally weighted.
    covariance : CovarianceStructure
        Component covariances (torch parameters to differentiate through).
    backend : str, default="torch"
        Reduction backend; the torch engine is differentiable.

    Returns
    -------
    loss : 0-d tensor
    """
    moments = mixture_moments(x, centers, covariance, score=True, laplacian=True, backend=backend)
    D = moments.displacement
    return (moments.laplacian_term - 0.5 * (D * D).sum(-1)).mean()


def negative_log_likelihood(x, centers, covariance, *, backend="torch"):
    r"""Mean negative log-likelihood :math:`-\frac1M \sum_i \log \pi(x_i)` (same arguments)."""
    return -mixture_moments(x, centers, covariance, backend=backend).log_density.mean()


#: Objective name of :class:`~wpokernel.WPOKernelScore` -> loss function.
OBJECTIVES = {"ism": implicit_score_matching, "loo_likelihood": negative_log_likelihood}
