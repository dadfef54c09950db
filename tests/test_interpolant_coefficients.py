"""Interpolant coefficients: boundary values, derivatives against finite differences, the
finite products at the singular end points, and bad input."""

import itertools

import numpy as np
import pytest

from wpokernel.interpolant_coefficients import FAMILIES, GAMMAS, InterpolantCoefficients

COMBINATIONS = list(itertools.product(FAMILIES, GAMMAS))
INTERIOR = np.linspace(0.05, 0.95, 7)


@pytest.mark.parametrize("family, gamma", COMBINATIONS)
def test_boundary_values(family, gamma):
    c = InterpolantCoefficients(family, gamma, gamma_scale=2.5)
    start, end = c(0.0), c(1.0)
    np.testing.assert_allclose([start.alpha, start.beta, start.gamma], [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose([end.alpha, end.beta, end.gamma], [0, 1, 0], atol=1e-15)
    assert np.all(c(INTERIOR).gamma > 0) == (gamma != "zero")


@pytest.mark.parametrize("family, gamma", COMBINATIONS)
def test_derivatives_are_central_differences(family, gamma):
    c, h = InterpolantCoefficients(family, gamma, gamma_scale=0.7), 1e-6
    now, up, down = c(INTERIOR), c(INTERIOR + h), c(INTERIOR - h)
    for name in ("alpha", "beta", "gamma"):
        difference = (getattr(up, name) - getattr(down, name)) / (2 * h)
        np.testing.assert_allclose(getattr(now, f"{name}_dot"), difference, rtol=1e-7, atol=1e-9)
    # The products are half the derivatives of the squares, and the noise variance rate that of
    # alpha^2 + gamma^2.
    for name in ("alpha", "gamma"):
        difference = (getattr(up, name) ** 2 - getattr(down, name) ** 2) / (4 * h)
        np.testing.assert_allclose(getattr(now, f"{name}_{name}_dot"), difference, rtol=1e-7, atol=1e-9)
    rate = (up.noise_variance - down.noise_variance) / (4 * h)
    np.testing.assert_allclose(now.noise_variance_rate, rate, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(now.noise_variance, now.alpha**2 + now.gamma**2, rtol=1e-15)


@pytest.mark.parametrize("family, gamma", COMBINATIONS)
def test_products_are_finite_one_sided_differences_at_the_end_points(family, gamma):
    # Where a derivative is infinite, the product with its vanishing factor is the one-sided
    # derivative of the half square, which is finite (second-order one-sided stencil).
    c, h = InterpolantCoefficients(family, gamma, gamma_scale=1.3), 1e-5
    for t, sign in ((0.0, 1.0), (1.0, -1.0)):
        points = [c(t + sign * k * h) for k in range(3)]
        for name in ("alpha", "gamma"):
            half = [0.5 * getattr(p, name) ** 2 for p in points]
            one_sided = sign * (-3 * half[0] + 4 * half[1] - half[2]) / (2 * h)
            np.testing.assert_allclose(getattr(c(t), f"{name}_{name}_dot"), one_sided, atol=1e-8)


def test_closed_forms_of_the_families():
    t = INTERIOR
    trig = InterpolantCoefficients("trigonometric")(t)
    np.testing.assert_allclose(trig.alpha**2 + trig.beta**2, 1.0, rtol=1e-15)
    sbdm = InterpolantCoefficients("sbdm")(t)
    np.testing.assert_allclose(sbdm.alpha**2 + sbdm.beta**2, 1.0, rtol=1e-15)
    sqrt = InterpolantCoefficients("linear", "sqrt", gamma_scale=3.0)(t)
    np.testing.assert_allclose(sqrt.gamma**2, 3.0 * t * (1 - t), rtol=1e-14)
    quadratic = InterpolantCoefficients("linear", "quadratic", gamma_scale=4.0)(t)
    np.testing.assert_allclose(quadratic.gamma, 2.0 * t * (1 - t), rtol=1e-14)


def test_singular_derivatives_are_infinite_where_their_products_are_not():
    sqrt = InterpolantCoefficients("linear", "sqrt", gamma_scale=2.0)(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(sqrt.gamma_dot, [np.inf, -np.inf])
    np.testing.assert_allclose(sqrt.gamma_gamma_dot, [1.0, -1.0])
    sbdm = InterpolantCoefficients("sbdm")(1.0)
    assert sbdm.alpha_dot == -np.inf and sbdm.alpha_alpha_dot == -1.0


def test_scalar_times_give_zero_dimensional_values():
    values = InterpolantCoefficients()(0.25)
    assert np.ndim(values.alpha) == 0 and float(values.beta) == 0.25
    assert "family='linear'" in repr(InterpolantCoefficients())


@pytest.mark.parametrize("kwargs, error, match", [
    ({"family": "cosine"}, ValueError, "Expected family in"),
    ({"gamma": "cubic"}, ValueError, "Expected gamma in"),
    ({"gamma_scale": 0.0}, ValueError, "Expected gamma_scale > 0"),
    ({"gamma_scale": "1"}, TypeError, "real number for gamma_scale"),
])
def test_invalid_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        InterpolantCoefficients(**kwargs)


@pytest.mark.parametrize("t, error", [(1.5, ValueError), (-0.1, ValueError), (np.nan, ValueError),
                                      (np.array([0.5, 2.0]), ValueError), ("0.5", TypeError),
                                      (True, TypeError)])
def test_invalid_times(t, error):
    with pytest.raises(error, match="Expected .*t"):
        InterpolantCoefficients()(t)
