"""The closed-form ISM loss and likelihood against autograd on a dense torch density."""

import numpy as np
import pytest
import torch

from wpokernel.objectives import implicit_score_matching, negative_log_likelihood
from wpokernel.reductions import Diagonal, Full, LowRank


def _random_structure(kind, n_centers, d, generator):
    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    if kind == "full":
        A = randn(n_centers, d, d)
        return Full((A @ A.transpose(1, 2) / d + 0.3 * torch.eye(d)).requires_grad_())
    if kind == "diagonal":
        return Diagonal((0.2 + randn(n_centers, d).abs()).requires_grad_())
    return LowRank((0.2 + randn(n_centers).abs()).requires_grad_(), randn(n_centers, d, 2).requires_grad_())


def _dense(covariance, d):
    if isinstance(covariance, Full):
        return covariance.covariances
    if isinstance(covariance, Diagonal):
        return torch.diag_embed(covariance.variances)
    U = covariance.factors
    return U @ U.transpose(1, 2) + covariance.variance[:, None, None] * torch.eye(d)


def _log_density(x_d, centers, C_kdd):
    components = torch.distributions.MultivariateNormal(centers, covariance_matrix=C_kdd)
    return torch.logsumexp(components.log_prob(x_d[None, :]), 0) - np.log(len(centers))


def _ism_by_autograd(x, centers, C_kdd):
    """Mean of 1/2 |grad log pi|^2 + trace(Hessian log pi), by autograd per point."""
    values = []
    for x_d in x:
        x_d = x_d.clone().requires_grad_()
        (grad,) = torch.autograd.grad(_log_density(x_d, centers, C_kdd), x_d, create_graph=True)
        laplacian = sum(
            torch.autograd.grad(grad[k], x_d, create_graph=True)[0][k] for k in range(len(x_d))
        )
        values.append(0.5 * grad.pow(2).sum() + laplacian)
    return torch.stack(values).mean()


@pytest.mark.parametrize("kind", ["full", "diagonal", "lowrank"])
def test_ism_and_its_gradient_match_autograd(kind):
    generator = torch.Generator().manual_seed(0)
    d, n_centers = 3, 4
    centers = torch.randn(n_centers, d, generator=generator, dtype=torch.float64)
    x = torch.randn(5, d, generator=generator, dtype=torch.float64)
    covariance = _random_structure(kind, n_centers, d, generator)
    parameters = [getattr(covariance, name) for name in covariance._params]

    closed_form = implicit_score_matching(x, centers, covariance)
    reference = _ism_by_autograd(x, centers, _dense(covariance, d))
    torch.testing.assert_close(closed_form, reference, rtol=1e-10, atol=1e-10)
    grads = torch.autograd.grad(closed_form, parameters)
    reference_grads = torch.autograd.grad(reference, parameters)
    for grad, expected in zip(grads, reference_grads):
        torch.testing.assert_close(grad, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", ["full", "diagonal", "lowrank"])
def test_negative_log_likelihood_matches_dense_density(kind):
    generator = torch.Generator().manual_seed(1)
    d, n_centers = 4, 6
    centers = torch.randn(n_centers, d, generator=generator, dtype=torch.float64)
    x = torch.randn(7, d, generator=generator, dtype=torch.float64)
    covariance = _random_structure(kind, n_centers, d, generator)
    expected = -torch.stack([_log_density(x_d, centers, _dense(covariance, d)) for x_d in x]).mean()
    torch.testing.assert_close(negative_log_likelihood(x, centers, covariance), expected,
                               rtol=1e-12, atol=1e-12)


def test_ism_of_a_gaussian_is_its_fisher_divergence_up_to_a_constant():
    # For pi = N(0, c I) scored on data from N(0, I) in d dims, the ISM loss is
    # E[|x|^2 / 2c^2] - d / c = d / (2 c^2) - d / c, minimized at c = 1 (the data law).
    # Per point the loss has standard deviation sqrt(2 d) / (2 c^2); allow 5 standard errors.
    generator = torch.Generator().manual_seed(2)
    d, n = 2, 200000
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    for c in (0.5, 1.0, 2.0):
        loss = implicit_score_matching(x, torch.zeros(1, d, dtype=torch.float64),
                                       Diagonal(torch.full((1, d), c, dtype=torch.float64)))
        standard_error = np.sqrt(2 * d) / (2 * c**2) / np.sqrt(n)
        assert abs(loss.item() - (d / (2 * c**2) - d / c)) < 5 * standard_error
