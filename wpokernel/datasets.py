r"""Toy data sets for score-based and flow generative models.

The eight 2-D toys of :func:`make_toy` re-implement the reference definitions of the FFJORD
toy data [GCB2019]_, with two changes: every generator draws from the ``random_state`` it is
given (the reference mixes in NumPy's global generator), and every generator returns exactly
``n_samples`` points (the reference rounds down for "pinwheel" and "2spirals").

:func:`make_swissroll6d` embeds the 2-D swiss roll in six dimensions with three noisy linear
features and one pure-noise feature, a small test of whether a model finds a low-dimensional
structure.

:func:`make_manifold` draws from a surface of known intrinsic dimension
(:data:`MANIFOLD_INTRINSIC_DIMS`) in :math:`\mathbb R^3`, one of :data:`MANIFOLD_NAMES`,
and embeds it in :math:`\mathbb R^D` by a Haar-random rotation [Mez2007]_ plus isotropic
noise:

.. math::

    X_i = Q \begin{pmatrix} M_i \\ 0_{D-3} \end{pmatrix} + \sigma \varepsilon_i,
    \qquad Q \sim \mathrm{Haar}(O(D)), \quad \varepsilon_i \sim \mathcal N(0, I_D).

The sphere is drawn as normalised Gaussians [Mul1959]_ and the torus uniformly in area by
rejection sampling [DHS2013]_.

:func:`load_digits_continuous` turns scikit-learn's 8x8 digits [AK1998]_, pixels
:math:`P \in \{0, \dots, 16\}^{64}`, into a continuous density on :math:`[0, 1)^{64}` by
uniform dequantisation [TOB2016]_, :math:`X = (P + U) / 17` with
:math:`U \sim \mathcal U[0, 1)^{64}`; :data:`DIGITS_IMAGE_SHAPE` reshapes a row into its
image.

:func:`load_mnist` reads the MNIST images [LBBH1998]_ from the four original IDX files in a
folder the caller names (or :data:`DATA_ENV_VAR`), dequantised the same way with 256 grey
levels; nothing is downloaded.

:func:`make_conditional` draws regression data with a known conditional law of :math:`Y`
given :math:`X`, the simulation models of the conditional-generation literature
[ZJLH2023]_, [Hua2024]_, for conditional samplers and their Nadaraya–Watson baseline.

References
----------
.. [GCB2019] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud,
   "FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models",
   ICLR 2019.
.. [Mez2007] F. Mezzadri, "How to generate random matrices from the classical compact
   groups", Notices of the AMS 54(5), 592-604, 2007.
.. [Mul1959] M. E. Muller, "A note on a method for generating points uniformly on
   n-dimensional spheres", Communications of the ACM 2(4), 19-20, 1959.
.. [DHS2013] P. Diaconis, S. Holmes, M. Shahshahani, "Sampling from a manifold", in Advances
   in Modern Statistical Theory and Applications, IMS Collections 10, 102-125, 2013.
.. [AK1998] E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
   Learning Repository, 1998.
.. [LBBH1998] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied
   to document recognition", Proceedings of the IEEE 86(11), 2278-2324, 1998.
.. [TOB2016] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative
   models", ICLR 2016.
.. [ZJLH2023] X. Zhou, Y. Jiao, J. Liu, J. Huang, "A Deep Generative Approach to
   Conditional Sampling", Journal of the American Statistical Association, 1837-1848, 2023.
.. [Hua2024] H. Huang, "Schrödinger bridge based deep conditional generative learning",
   arXiv:2409.17294, 2024.
"""

import gzip
import os
import zlib
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp
from scipy.stats import ortho_group
from sklearn.datasets import (
    load_digits,
    make_circles,
    make_moons,
    make_s_curve,
    make_swiss_roll,
)
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

__all__ = [
    "TOY_NAMES",
    "MANIFOLD_NAMES",
    "MANIFOLD_INTRINSIC_DIMS",
    "DIGITS_IMAGE_SHAPE",
    "make_toy",
    "make_swissroll6d",
    "swissroll6d_log_density",
    "make_manifold",
    "load_digits_continuous",
    "MNIST_IMAGE_SHAPE",
    "MNIST_SPLITS",
    "DATA_ENV_VAR",
    "load_mnist",
    "train_test_split_data",
    "CONDITIONAL_NAMES",
    "ConditionalData",
    "make_conditional",
]

# Noise levels and scales of the reference definitions [GCB2019].
_SWISSROLL_NOISE = 1.0
_SWISSROLL_SCALE = 1.0 / 5.0
_CIRCLES_NOISE = 0.08
_CIRCLES_SCALE = 3.0
_MOONS_NOISE = 0.1
_RINGS_RADII = (1.0, 0.75, 0.5, 0.25)
_RINGS_SCALE = 3.0
_RINGS_NOISE = 0.08
_EIGHT_GAUSSIANS_RADIUS = 4.0
_EIGHT_GAUSSIANS_STD = 0.5
# The reference divides by 1.414 rather than sqrt(2); kept so the data match published figures.
_EIGHT_GAUSSIANS_DIVISOR = 1.414
_PINWHEEL_RADIAL_STD = 0.3
_PINWHEEL_TANGENTIAL_STD = 0.1
_PINWHEEL_N_ARMS = 5
_PINWHEEL_RATE = 0.25
_SPIRAL_MAX_ANGLE = 3.0 * np.pi
_SPIRAL_JITTER = 0.5
_SPIRAL_SCALE = 1.0 / 3.0
_SPIRAL_NOISE = 0.1
_SWISSROLL6D_FEATURE_NOISE = 0.1
# Every manifold of make_manifold is drawn in R^3 before it is rotated into R^D.
_MANIFOLD_SPACE_DIM = 3
# The standard ring torus: tube radius 1 around a circle of radius 2.
_TORUS_MAJOR_RADIUS = 2.0
_TORUS_MINOR_RADIUS = 1.0
# The digits' pixels take the 17 values 0, ..., 16.
_DIGITS_N_LEVELS = 17

#: Shape of one image of :func:`load_digits_continuous`; a row ``x`` is ``x.reshape(8, 8)``.
DIGITS_IMAGE_SHAPE = (8, 8)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, Integral):
        raise TypeError(
            f"Expected n_samples to be a positive int, got {type(n_samples).__name__} "
            f"{n_samples!r}."
        )
    if n_samples < 1:
        raise ValueError(f"Expected n_samples to be a positive int, got {n_samples}.")
    return int(n_samples)


def _check_name(name, valid_names, parameter="name"):
    if name not in valid_names:
        raise ValueError(
            f"Expected {parameter} to be one of {', '.join(map(repr, valid_names))}, "
            f"got {name!r}."
        )
    return name


def _check_ambient_dim(ambient_dim):
    if isinstance(ambient_dim, bool) or not isinstance(ambient_dim, Integral):
        raise TypeError(
            f"Expected ambient_dim to be an int >= {_MANIFOLD_SPACE_DIM}, got "
            f"{type(ambient_dim).__name__} {ambient_dim!r}."
        )
    if ambient_dim < _MANIFOLD_SPACE_DIM:
        raise ValueError(
            f"Expected ambient_dim to be an int >= {_MANIFOLD_SPACE_DIM}, got {ambient_dim}; "
            f"the manifolds are drawn in R^{_MANIFOLD_SPACE_DIM} before they are embedded."
        )
    return int(ambient_dim)


def _check_noise(noise):
    if isinstance(noise, bool) or not isinstance(noise, Real):
        raise TypeError(f"Expected noise to be a real number, got {noise!r}.")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"Expected a finite noise >= 0, got {noise}.")
    return float(noise)


# ---------------------------------------------------------------------------------------------
# The 2-D toys; each takes (n_samples, rng) and returns a float64 array (n_samples, 2)
# ---------------------------------------------------------------------------------------------


def _swissroll(n_samples, rng):
    X, _ = make_swiss_roll(n_samples=n_samples, noise=_SWISSROLL_NOISE, random_state=rng)
    return X[:, [0, 2]] * _SWISSROLL_SCALE  # (n, 2)


def _circles(n_samples, rng):
    X, _ = make_circles(
        n_samples=n_samples, factor=0.5, noise=_CIRCLES_NOISE, random_state=rng
    )
    return X * _CIRCLES_SCALE


def _rings(n_samples, rng):
    # The three outer rings get n // 4 points each; the innermost takes the remainder.
    n_outer = n_samples // 4
    sizes = (n_outer, n_outer, n_outer, n_samples - 3 * n_outer)
    # endpoint=False so that no ring holds the same point twice (angle 0 and 2 pi).
    angles = np.concatenate([np.linspace(0, 2 * np.pi, m, endpoint=False) for m in sizes])
    radii = np.repeat(_RINGS_RADII, sizes)
    X = _RINGS_SCALE * radii[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    X = X[rng.permutation(n_samples)]
    return X + rng.normal(scale=_RINGS_NOISE, size=X.shape)


def _moons(n_samples, rng):
    X, _ = make_moons(n_samples=n_samples, noise=_MOONS_NOISE, random_state=rng)
    return 2.0 * X + np.array([-1.0, -0.2])


def _eight_gaussians(n_samples, rng):
    angles = np.arange(8) * (np.pi / 4)
    centers = _EIGHT_GAUSSIANS_RADIUS * np.column_stack([np.cos(angles), np.sin(angles)])
    X = centers[rng.randint(8, size=n_samples)]  # (n, 2)
    X = X + _EIGHT_GAUSSIANS_STD * rng.randn(n_samples, 2)
    return X / _EIGHT_GAUSSIANS_DIVISOR


def _pinwheel(n_samples, rng):
    # Arms are assigned round-robin so that they stay balanced for any n_samples.
    arm = np.arange(n_samples) % _PINWHEEL_N_ARMS
    features = rng.randn(n_samples, 2) * [_PINWHEEL_RADIAL_STD, _PINWHEEL_TANGENTIAL_STD]
    features[:, 0] += 1.0
    # Points further out along an arm are rotated more, which bends the arm.
    angles = 2 * np.pi * arm / _PINWHEEL_N_ARMS + _PINWHEEL_RATE * np.exp(features[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    rotated = np.column_stack(
        [features[:, 0] * cos + features[:, 1] * sin, -features[:, 0] * sin + features[:, 1] * cos]
    )
    return 2.0 * rotated[rng.permutation(n_samples)]


def _two_spirals(n_samples, rng):
    # sqrt makes the points uniform in arc area rather than in angle.
    angle = np.sqrt(rng.rand(n_samples, 1)) * _SPIRAL_MAX_ANGLE  # (n, 1)
    arm = np.column_stack([-np.cos(angle) * angle, np.sin(angle) * angle])
    arm = arm + _SPIRAL_JITTER * rng.rand(n_samples, 2)
    # The second spiral is the first one reflected through the origin.
    sign = np.where(np.arange(n_samples) < n_samples // 2, 1.0, -1.0)[rng.permutation(n_samples)]
    X = sign[:, None] * arm * _SPIRAL_SCALE
    return X + _SPIRAL_NOISE * rng.randn(n_samples, 2)


def _checkerboard(n_samples, rng):
    x1 = 4 * rng.rand(n_samples) - 2
    # Lower or upper row of the board, shifted by one square on every other column.
    x2 = rng.rand(n_samples) - 2 * rng.randint(0, 2, size=n_samples) + np.floor(x1) % 2
    return 2.0 * np.column_stack([x1, x2])


_TOY_GENERATORS = {
    "swissroll": _swissroll,
    "circles": _circles,
    "rings": _rings,
    "moons": _moons,
    "8gaussians": _eight_gaussians,
    "pinwheel": _pinwheel,
    "2spirals": _two_spirals,
    "checkerboard": _checkerboard,
}

#: Names accepted by :func:`make_toy`.
TOY_NAMES = tuple(_TOY_GENERATORS)


# ---------------------------------------------------------------------------------------------
# The manifolds; each takes (n_samples, rng) and returns a float64 array (n_samples, 3)
# ---------------------------------------------------------------------------------------------


def _sphere(n_samples, rng):
    # The standard Gaussian is rotation invariant, so its direction is uniform [Mul1959].
    gaussian = rng.randn(n_samples, _MANIFOLD_SPACE_DIM)  # (n, 3)
    return gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)


def _s_curve(n_samples, rng):
    X, _ = make_s_curve(n_samples=n_samples, noise=0.0, random_state=rng)
    return X  # (n, 3)


def _torus_tube_angles(n_samples, rng):
    # Rejection from the uniform law on [0, 2 pi): keeping theta with probability
    # (R + r cos theta) / (R + r) leaves exactly the density proportional to R + r cos theta.
    # A proposal is kept with probability R / (R + r) = 2/3, so a few rounds suffice.
    R, r = _TORUS_MAJOR_RADIUS, _TORUS_MINOR_RADIUS
    angles = np.empty(0)
    while angles.size < n_samples:
        proposals = 2 * np.pi * rng.rand(n_samples)
        keep = (R + r) * rng.rand(n_samples) < R + r * np.cos(proposals)
        angles = np.concatenate([angles, proposals[keep]])
    return angles[:n_samples]


def _torus(n_samples, rng):
    R, r = _TORUS_MAJOR_RADIUS, _TORUS_MINOR_RADIUS
    theta = _torus_tube_angles(n_samples, rng)
    phi = 2 * np.pi * rng.rand(n_samples)
    distance_to_axis = R + r * np.cos(theta)
    return np.column_stack(
        [distance_to_axis * np.cos(phi), distance_to_axis * np.sin(phi), r * np.sin(theta)]
    )  # (n, 3)


_MANIFOLD_GENERATORS = {"sphere": _sphere, "s_curve": _s_curve, "torus": _torus}

#: Names accepted by :func:`make_manifold`.
MANIFOLD_NAMES = tuple(_MANIFOLD_GENERATORS)

#: Intrinsic dimension of each manifold of :func:`make_manifold`: all three are surfaces.
MANIFOLD_INTRINSIC_DIMS = {"sphere": 2, "s_curve": 2, "torus": 2}


def _embed(points, ambient_dim, rng):
    # Row points times the first three rows of Q are the points padded with zeros to R^D and
    # rotated by Q^T, itself Haar; this skips the products with the zero columns.
    rotation = ortho_group.rvs(ambient_dim, random_state=rng)  # (D, D)
    return points @ rotation[:_MANIFOLD_SPACE_DIM]  # (n, D)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def make_toy(name, n_samples=1000, *, noise=0.0, random_state=None):
    r"""Draw points from one of the standard 2-D toy distributions.

    Each toy follows the FFJORD reference definition [GCB2019]_, then optional isotropic
    Gaussian noise is added:

    .. math::

        X_i = T_i + \sigma \varepsilon_i, \qquad
        T_i \sim p_{\mathrm{name}}, \quad \varepsilon_i \sim \mathcal N(0, I_2),

    with :math:`\sigma` = ``noise``. For example, "8gaussians" is
    :math:`T = (4 (\cos \theta_k, \sin \theta_k) + 0.5 \xi) / 1.414` with
    :math:`\theta_k = k\pi/4`, :math:`k` uniform on :math:`\{0, \dots, 7\}` and
    :math:`\xi \sim \mathcal N(0, I_2)`.

    Parameters
    ----------
    name : str
        Which toy distribution to draw from, one of :data:`TOY_NAMES`: "swissroll",
        "circles", "rings", "moons", "8gaussians", "pinwheel", "2spirals", "checkerboard".
    n_samples : int, default=1000
        Number of points, a positive int.
    noise : float, default=0.0
        Standard deviation :math:`\sigma` of the extra Gaussian noise, on top of the noise
        built into the reference definition.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, passed to :func:`sklearn.utils.check_random_state`.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The points, in random order.

    Raises
    ------
    ValueError
        If ``name`` is unknown, ``n_samples < 1``, or ``noise`` is negative or not finite.
    TypeError
        If ``n_samples`` is not an int or ``noise`` is not a real number.

    Examples
    --------
    >>> from wpokernel.datasets import make_toy
    >>> make_toy("2spirals", 500, random_state=0).shape
    (500, 2)
    """
    name = _check_name(name, TOY_NAMES)
    n_samples = _check_n_samples(n_samples)
    noise = _check_noise(noise)
    rng = check_random_state(random_state)
    X = np.asarray(_TOY_GENERATORS[name](n_samples, rng), dtype=np.float64)
    if noise > 0:
        X = X + noise * rng.randn(n_samples, 2)
    return X


def make_swissroll6d(n_samples=1000, *, random_state=None):
    r"""Draw a 2-D swiss roll embedded in six dimensions.

    With :math:`(x, y)` drawn from ``make_toy("swissroll")`` (the :math:`x` and :math:`z`
    coordinates of :func:`sklearn.datasets.make_swiss_roll` with noise 1, scaled by 1/5):

    .. math::

        X = \bigl(x,\; y,\; 2x + \epsilon_1,\; x + y + \epsilon_2,\;
        x - 2y + \epsilon_3,\; \epsilon_4\bigr),
        \qquad \epsilon_{1,2,3} \sim \mathcal N(0, 0.1^2), \quad
        \epsilon_4 \sim \mathcal N(0, 1),

    all noises independent. Columns 3 to 5 are noisy linear features of the roll; column 6
    carries no information.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points, a positive int.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, passed to :func:`sklearn.utils.check_random_state`.

    Returns
    -------
    X : ndarray of shape (n_samples, 6), dtype float64
        The points.

    Examples
    --------
    >>> from wpokernel.datasets import make_swissroll6d
    >>> make_swissroll6d(100, random_state=0).shape
    (100, 6)
    """
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    x, y = _swissroll(n_samples, rng).T
    linear = np.column_stack([2 * x, x + y, x - 2 * y])  # (n, 3)
    linear = linear + _SWISSROLL6D_FEATURE_NOISE * rng.randn(n_samples, 3)
    return np.column_stack([x, y, linear, rng.randn(n_samples)])


# ---------------------------------------------------------------------------------------------
# The exact density of swissroll6d
# ---------------------------------------------------------------------------------------------

# make_swiss_roll draws the roll parameter t = 1.5 pi (1 + 2 u), u ~ U[0, 1).
_ROLL_T_MIN, _ROLL_T_MAX = 1.5 * np.pi, 4.5 * np.pi
# Composite Gauss-Legendre rule over t. Given t a point of the roll is a Gaussian of std 1/5
# around a curve of speed |m'(t)| = sqrt(1 + t^2) / 5 >= 0.96, so the integrand is a bump of
# width at most 0.21 in t; panels of 3 pi / 400 = 0.024 resolve it to rounding error.
_ROLL_N_PANELS = 400
_ROLL_NODES_PER_PANEL = 8
# Columns 3 to 5 of swissroll6d are these combinations of the first two, plus noise.
_SWISSROLL6D_LINEAR = np.array([[2.0, 0.0], [1.0, 1.0], [1.0, -2.0]])
_SWISSROLL6D_N_FEATURES = 6
# Rows of points per block of the (rows, nodes) quadrature array: about 20 MB.
_DENSITY_BLOCK_ROWS = 1024


def _normal_log_pdf(residual, std):
    return -0.5 * (residual / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def _roll_quadrature():
    """Nodes t_j and weights w_j of the rule for the mean over t ~ U[t_min, t_max]."""
    nodes, weights = np.polynomial.legendre.leggauss(_ROLL_NODES_PER_PANEL)
    edges = np.linspace(_ROLL_T_MIN, _ROLL_T_MAX, _ROLL_N_PANELS + 1)
    half_widths, midpoints = np.diff(edges) / 2, (edges[:-1] + edges[1:]) / 2
    t_j = (midpoints[:, None] + half_widths[:, None] * nodes).ravel()
    w_j = (half_widths[:, None] * weights).ravel() / (_ROLL_T_MAX - _ROLL_T_MIN)
    return t_j, w_j


def _swissroll_log_density(points):
    """Log-density of make_toy("swissroll") at points of shape (n, 2), by quadrature over t."""
    t_j, w_j = _roll_quadrature()
    means_j = _SWISSROLL_SCALE * np.column_stack([t_j * np.cos(t_j), t_j * np.sin(t_j)])
    std = _SWISSROLL_NOISE * _SWISSROLL_SCALE
    log_weights_j = np.log(w_j) - 2 * np.log(std) - np.log(2 * np.pi)
    log_density = np.empty(len(points))
    for start in range(0, len(points), _DENSITY_BLOCK_ROWS):
        rows = slice(start, start + _DENSITY_BLOCK_ROWS)
        diff_ijd = points[rows, None, :] - means_j[None]  # (b, J, 2)
        logits_ij = log_weights_j - np.einsum("ijd,ijd->ij", diff_ijd, diff_ijd) / (2 * std**2)
        log_density[rows] = logsumexp(logits_ij, axis=1)
    return log_density


def swissroll6d_log_density(X):
    r"""Exact log-density of :func:`make_swissroll6d`, by quadrature over the roll parameter.

    With :math:`m(t) = (t \cos t, t \sin t) / 5` and :math:`t \sim \mathcal U[a, b]`,
    :math:`a = 3\pi/2`, :math:`b = 9\pi/2` (as :func:`sklearn.datasets.make_swiss_roll`
    draws it), the first two columns are :math:`\mathcal N(m(t), 5^{-2} I_2)` given
    :math:`t`, and the other four are Gaussian given them:

    .. math::

        \log p(X) = \log \frac{1}{b - a} \int_a^b
        \mathcal N\bigl((X_1, X_2);\, m(t),\, 5^{-2} I_2\bigr)\, dt
        + \sum_{j=3}^{5} \log \mathcal N\bigl(X_j;\, c_j^\top (X_1, X_2),\, 0.1^2\bigr)
        + \log \mathcal N(X_6;\, 0, 1),

    with :math:`c_3 = (2, 0)`, :math:`c_4 = (1, 1)`, :math:`c_5 = (1, -2)`. The integral
    is a composite Gauss–Legendre rule of 400 panels of 8 nodes, summed as a log-sum-exp:
    the integrand is a bump at least 0.07 wide in :math:`t` and each panel is 0.024 wide,
    so the rule is exact to rounding. Its mean over held-out points is the ceiling any
    model of this data set can reach in expected held-out log-likelihood.

    Parameters
    ----------
    X : array-like of shape (n_samples, 6)
        Points.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        :math:`\log p(X_i)` in nats.

    Raises
    ------
    ValueError
        If ``X`` is not a finite numeric 2-D array with six columns.

    Examples
    --------
    >>> from wpokernel.datasets import make_swissroll6d, swissroll6d_log_density
    >>> X = make_swissroll6d(1000, random_state=0)
    >>> swissroll6d_log_density(X).shape
    (1000,)
    """
    X = _check_swissroll6d_points(X)
    residuals = X[:, 2:5] - X[:, :2] @ _SWISSROLL6D_LINEAR.T  # (n, 3)
    log_gaussian = _normal_log_pdf(residuals, _SWISSROLL6D_FEATURE_NOISE).sum(axis=1)
    log_gaussian += _normal_log_pdf(X[:, 5], 1.0)
    return _swissroll_log_density(X[:, :2]) + log_gaussian


def _check_swissroll6d_points(X):
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Expected X to be a numeric array-like, got {exc}.") from None
    if X.ndim != 2 or X.shape[1] != _SWISSROLL6D_N_FEATURES:
        raise ValueError(
            f"Expected X of shape (n_samples, {_SWISSROLL6D_N_FEATURES}), got shape {X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("Expected finite values in X, got NaN or inf.")
    return X


def make_manifold(name, n_samples=1000, *, ambient_dim=10, noise=0.01, random_state=None):
    r"""Draw points from a surface in 3-D, randomly rotated into :math:`\mathbb R^D`.

    Points :math:`M_i` of a 2-D manifold in :math:`\mathbb R^3` are padded with zeros to the
    ambient dimension :math:`D`, rotated by one Haar-distributed orthogonal matrix [Mez2007]_
    and blurred by isotropic Gaussian noise:

    .. math::

        X_i = Q \begin{pmatrix} M_i \\ 0_{D-3} \end{pmatrix} + \sigma \varepsilon_i,
        \qquad M_i \sim p_{\mathrm{name}}, \quad Q \sim \mathrm{Haar}(O(D)), \quad
        \varepsilon_i \sim \mathcal N(0, I_D),

    with :math:`\sigma` = ``noise``. Without noise the data span a 3-D linear subspace and
    lie on a surface of intrinsic dimension 2 (:data:`MANIFOLD_INTRINSIC_DIMS`):

    - "sphere": :math:`M = G / \lVert G \rVert` with :math:`G \sim \mathcal N(0, I_3)`,
      uniform on the unit sphere [Mul1959]_.
    - "s_curve": :func:`sklearn.datasets.make_s_curve` without noise,
      :math:`M = (\sin t,\, h,\, \operatorname{sign}(t)(\cos t - 1))` with
      :math:`t \sim \mathcal U(-3\pi/2, 3\pi/2)` and :math:`h \sim \mathcal U(0, 2)`;
      the profile curve has unit speed, so this is uniform in area.
    - "torus": the ring torus with radii :math:`R = 2`, :math:`r = 1`,
      :math:`M = ((R + r\cos\theta)\cos\varphi,\, (R + r\cos\theta)\sin\varphi,\,
      r\sin\theta)`, uniform in area. The area element is
      :math:`r (R + r\cos\theta)\, d\theta\, d\varphi`, so
      :math:`\varphi \sim \mathcal U[0, 2\pi)` and :math:`\theta` has density
      :math:`(R + r\cos\theta) / (2\pi R)`. :math:`\theta` is drawn by rejection from
      :math:`\mathcal U[0, 2\pi)`, kept with probability
      :math:`(R + r\cos\theta) / (R + r)` [DHS2013]_: the draw is exact and keeps 2/3 of
      the proposals. The inverse-CDF method would have to solve
      :math:`R\theta + r\sin\theta = 2\pi R u`, a Kepler equation with no closed form,
      with an iterative solver and a tolerance.

    The manifold points are drawn first, then :math:`Q`, then the noise, all from one
    generator: with the same seed, ``noise=0`` gives the noiseless points of a noisy draw.

    Parameters
    ----------
    name : str
        Which manifold to draw from, one of :data:`MANIFOLD_NAMES`: "sphere", "s_curve",
        "torus".
    n_samples : int, default=1000
        Number of points, a positive int.
    ambient_dim : int, default=10
        Dimension :math:`D \geq 3` of the space the manifold is embedded in.
    noise : float, default=0.01
        Standard deviation :math:`\sigma` of the ambient Gaussian noise.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, passed to :func:`sklearn.utils.check_random_state`.

    Returns
    -------
    X : ndarray of shape (n_samples, ambient_dim), dtype float64
        The points.

    Raises
    ------
    ValueError
        If ``name`` is unknown, ``n_samples < 1``, ``ambient_dim < 3``, or ``noise`` is
        negative or not finite.
    TypeError
        If ``n_samples`` or ``ambient_dim`` is not an int or ``noise`` is not a real number.

    Examples
    --------
    >>> from wpokernel.datasets import make_manifold
    >>> make_manifold("torus", 500, ambient_dim=8, random_state=0).shape
    (500, 8)
    """
    name = _check_name(name, MANIFOLD_NAMES)
    n_samples = _check_n_samples(n_samples)
    ambient_dim = _check_ambient_dim(ambient_dim)
    noise = _check_noise(noise)
    rng = check_random_state(random_state)
    X = _embed(_MANIFOLD_GENERATORS[name](n_samples, rng), ambient_dim, rng)  # (n, D)
    if noise > 0:
        X = X + noise * rng.randn(n_samples, ambient_dim)
    return X


def load_digits_continuous(*, random_state=None, return_y=False):
    r"""Load scikit-learn's 8x8 digits as continuous data on :math:`[0, 1)^{64}`.

    The 1797 images of :func:`sklearn.datasets.load_digits` [AK1998]_ have integer pixels
    :math:`P_{ik} \in \{0, \dots, 16\}`. Uniform dequantisation [TOB2016]_ spreads each
    value over its own interval of width 1/17:

    .. math::

        X_{ik} = \frac{P_{ik} + U_{ik}}{17}, \qquad U_{ik} \sim \mathcal U[0, 1)
        \text{ independent},

    so :math:`\lfloor 17 X_{ik} \rfloor = P_{ik}`. A density :math:`q` fitted to
    :math:`X` then defines the discrete model
    :math:`\Pr(p) = 17^{-64} \int_{[0, 1)^{64}} q((p + u) / 17)\, du`, and by Jensen's
    inequality :math:`\mathbb E \log q(X) - 64 \log 17` is a lower bound on its mean
    log-likelihood of the pixels [TOB2016]_.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seed or generator of the dequantisation noise, passed to
        :func:`sklearn.utils.check_random_state`.
    return_y : bool, default=False
        If True, also return the digit labels.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float64
        The dequantised images, one flattened image of shape :data:`DIGITS_IMAGE_SHAPE` a
        row, in the order of :func:`sklearn.datasets.load_digits`.
    y : ndarray of shape (1797,)
        The digit of each image, 0 to 9; only if ``return_y`` is True.

    Examples
    --------
    >>> from wpokernel.datasets import load_digits_continuous
    >>> X, y = load_digits_continuous(random_state=0, return_y=True)
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    """
    rng = check_random_state(random_state)
    digits = load_digits()
    pixels = digits.data  # (1797, 64), integers stored as float64
    X = (pixels + rng.rand(*pixels.shape)) / _DIGITS_N_LEVELS
    if return_y:
        return X, digits.target
    return X


# ---------------------------------------------------------------------------------------------
# MNIST from its original IDX files
# ---------------------------------------------------------------------------------------------

#: Shape of one image of :func:`load_mnist`; a row ``x`` is ``x.reshape(28, 28)``.
MNIST_IMAGE_SHAPE = (28, 28)

#: Environment variable that names the data folder :func:`load_mnist` reads when no path is
#: given.
DATA_ENV_VAR = "WPOKERNEL_DATA"

#: The splits of :func:`load_mnist`.
MNIST_SPLITS = ("train", "test")

# File stems of each split: the images (IDX with 3 dimensions), then the labels (1 dimension).
_MNIST_STEMS = {"train": ("train-images", "train-labels"), "test": ("t10k-images", "t10k-labels")}
# The IDX magic number is 0x0000 0x08 (unsigned bytes) followed by the number of dimensions.
_IDX_UBYTE_TYPE = 0x08
_IDX_IMAGES_NDIM, _IDX_LABELS_NDIM = 3, 1
_IDX_INT_BYTES = 4
_MNIST_N_LEVELS = 256
_MNIST_N_CLASSES = 10
# A folder holds the files itself or in a subfolder of this name.
_MNIST_SUBFOLDER = "mnist"


def _idx_file_names(stem, ndim):
    """The spellings of one IDX file: the original dash, a dot, each gzipped or not."""
    names = []
    for separator in ("-", "."):
        plain = f"{stem}{separator}idx{ndim}-ubyte"
        names += [plain, f"{plain}.gz"]
    return names


def _mnist_folders(path):
    """The folders to look in, in order: the named folder, then its ``mnist/`` subfolder."""
    if path is None:
        path = os.environ.get(DATA_ENV_VAR)
        if not path:
            raise ValueError(
                f"Expected the folder of the MNIST files as path= or in the environment "
                f"variable {DATA_ENV_VAR}, got neither. Nothing is downloaded: put the four "
                f"IDX files (gzipped or not) in a folder and pass its path."
            )
        source = f"{DATA_ENV_VAR}={path!r}"
    else:
        source = f"path={str(path)!r}"
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(
            f"Expected an existing folder holding the MNIST files, got {source}, which is "
            f"not a folder."
        )
    return [folder, folder / _MNIST_SUBFOLDER]


def _find_idx_file(folders, stem, ndim):
    """Return the first spelling of the file found in the folders, or raise listing them all."""
    tried = [folder / name for folder in folders for name in _idx_file_names(stem, ndim)]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise ValueError(
        f"Expected the MNIST file {stem} in one of the folders {', '.join(map(str, folders))}, "
        f"got none of: {', '.join(map(str, tried))}."
    )


def _read_idx(path, ndim):
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions; return a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"Could not read the IDX file {path}: {exc}.") from exc
    magic = _IDX_UBYTE_TYPE << 8 | ndim
    header_bytes = _IDX_INT_BYTES * (1 + ndim)
    if len(data) < header_bytes:
        raise ValueError(
            f"Expected an IDX header of {header_bytes} bytes in {path}, got a file of "
            f"{len(data)} bytes: it is truncated."
        )
    found = int.from_bytes(data[:_IDX_INT_BYTES], "big")
    if found != magic:
        raise ValueError(
            f"Expected the IDX magic number {magic} (unsigned bytes, {ndim} dimensions) in "
            f"{path}, got {found}."
        )
    shape = tuple(
        int.from_bytes(data[start : start + _IDX_INT_BYTES], "big")
        for start in range(_IDX_INT_BYTES, header_bytes, _IDX_INT_BYTES)
    )
    n_expected, n_found = int(np.prod(shape)), len(data) - header_bytes
    if n_found != n_expected:
        raise ValueError(
            f"Expected {n_expected} data bytes after the header of {path} (dimensions "
            f"{shape}), got {n_found}: the file is {'truncated' if n_found < n_expected else 'too long'}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(shape)


def _read_mnist_split(path, split):
    """Return the pixels (n, 28, 28) and labels (n,) of one split, checked against each other."""
    folders = _mnist_folders(path)
    images_stem, labels_stem = _MNIST_STEMS[split]
    images_path = _find_idx_file(folders, images_stem, _IDX_IMAGES_NDIM)
    labels_path = _find_idx_file(folders, labels_stem, _IDX_LABELS_NDIM)
    images = _read_idx(images_path, _IDX_IMAGES_NDIM)
    if images.shape[1:] != MNIST_IMAGE_SHAPE:
        raise ValueError(
            f"Expected images of {MNIST_IMAGE_SHAPE[0]} x {MNIST_IMAGE_SHAPE[1]} pixels in "
            f"{images_path}, got {images.shape[1]} x {images.shape[2]}."
        )
    labels = _read_idx(labels_path, _IDX_LABELS_NDIM)
    if len(labels) != len(images):
        raise ValueError(
            f"Expected as many labels in {labels_path} as images in {images_path} "
            f"({len(images)}), got {len(labels)}."
        )
    if labels.size and labels.max() >= _MNIST_N_CLASSES:
        raise ValueError(
            f"Expected labels 0 to {_MNIST_N_CLASSES - 1} in {labels_path}, got {labels.max()}."
        )
    return images, labels


def _check_subset_size(n_samples, n_available, split):
    if n_samples is None:
        return n_available
    n_samples = _check_n_samples(n_samples)
    if n_samples > n_available:
        raise ValueError(
            f"Expected n_samples <= {n_available}, the number of {split} images, got "
            f"{n_samples}."
        )
    return n_samples


def load_mnist(
    path=None, *, split="train", n_samples=None, dequantize=True, random_state=None,
    return_y=False,
):
    r"""Load MNIST [LBBH1998]_ from its four original IDX files, as float64 rows in [0, 1).

    The grey levels :math:`P_{ik} \in \{0, \dots, 255\}` are scaled by 1/256 and, with
    ``dequantize=True``, spread uniformly over their own cell as for
    :func:`load_digits_continuous` [TOB2016]_:

    .. math::

        X_{ik} = \frac{P_{ik} + U_{ik}}{256}, \qquad U_{ik} \sim \mathcal U[0, 1)
        \text{ independent}, \qquad \text{or } X_{ik} = \frac{P_{ik}}{256}
        \text{ without dequantization},

    so :math:`\lfloor 256 X_{ik} \rfloor = P_{ik}` either way, and for a density :math:`q`
    fitted to dequantized images, :math:`\mathbb E \log q(X) - 784 \log 256` bounds the
    mean log-likelihood of the discrete pixels from below; in bits per dimension,
    :math:`8 - \mathbb E \log q(X) / (784 \log 2)`.

    Where the files are looked for: the folder ``path``, or, when ``path`` is None, the
    folder named by the environment variable ``WPOKERNEL_DATA`` (:data:`DATA_ENV_VAR`); in
    that folder itself first, then in its subfolder ``mnist/``. A split needs two files,
    ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (``t10k-...`` for the test
    split), each with its original name, with ``.`` in place of the dash before ``idx``, or
    either gzipped (``.gz``). Nothing is downloaded.

    Parameters
    ----------
    path : str, path-like or None, default=None
        Folder of the IDX files (or of a ``mnist/`` subfolder holding them); None reads the
        folder named by ``WPOKERNEL_DATA``.
    split : {"train", "test"}, default="train"
        The 60,000 training or the 10,000 test images.
    n_samples : int or None, default=None
        Number of images, drawn without replacement from ``random_state`` and kept in file
        order; None keeps every image of the split.
    dequantize : bool, default=True
        Add the uniform noise :math:`U`; otherwise return :math:`P / 256`.
    random_state : int, RandomState instance or None, default=None
        Seed or generator of the subset (drawn first) and of the dequantization noise, passed
        to :func:`sklearn.utils.check_random_state`.
    return_y : bool, default=False
        If True, also return the digit labels.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float64
        One flattened image of shape :data:`MNIST_IMAGE_SHAPE` a row, in [0, 1).
    y : ndarray of shape (n_samples,), dtype int64
        The digit of each image, 0 to 9; only if ``return_y`` is True.

    Raises
    ------
    ValueError
        If no folder is given, the folder does not exist, a file is in none of the places
        looked in (the message lists them), or a file is not a valid MNIST IDX file: wrong
        magic number, truncated or too long, images not 28 x 28, labels not 0 to 9, or a
        label count that differs from the image count (the message names the file); also if
        ``split`` is unknown or ``n_samples`` is not between 1 and the size of the split.

    Examples
    --------
    >>> from wpokernel.datasets import load_mnist
    >>> X, y = load_mnist("data", split="test", n_samples=500, random_state=0,
    ...                   return_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((500, 784), (500,))
    """
    split = _check_name(split, MNIST_SPLITS, parameter="split")
    images, labels = _read_mnist_split(path, split)
    n_samples = _check_subset_size(n_samples, len(images), split)
    rng = check_random_state(random_state)
    if n_samples < len(images):
        rows = np.sort(rng.choice(len(images), size=n_samples, replace=False))
        images, labels = images[rows], labels[rows]
    pixels = images.reshape(n_samples, -1).astype(np.float64)  # (n, 784)
    if dequantize:
        pixels += rng.rand(*pixels.shape)
    X = pixels / _MNIST_N_LEVELS
    if return_y:
        return X, labels.astype(np.int64)
    return X


def train_test_split_data(X, test_size=0.2, random_state=None):
    r"""Split a data matrix into shuffled training and test parts.

    A thin wrapper of :func:`sklearn.model_selection.train_test_split` for unlabelled data:
    with :math:`n` rows and ``test_size`` :math:`q`, the test part holds
    :math:`\lceil q n \rceil` rows when :math:`q` is a fraction, or :math:`q` rows when it
    is an int.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data.
    test_size : float or int, default=0.2
        Fraction of the rows (float in (0, 1)) or number of rows (int) in the test part.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the shuffle.

    Returns
    -------
    X_train : ndarray of shape (n_samples - n_test, n_features)
        Training rows.
    X_test : ndarray of shape (n_test, n_features)
        Test rows.
    """
    X_train, X_test = train_test_split(
        np.asarray(X), test_size=test_size, random_state=random_state
    )
    return X_train, X_test


# ---------------------------------------------------------------------------------------------
# Regression data with a known conditional law
# ---------------------------------------------------------------------------------------------

# Both simulation models draw five independent standard normal covariates.
_CONDITIONAL_N_FEATURES = 5


class ConditionalData(NamedTuple):
    r"""Draws of :func:`make_conditional` with the true conditional moments at the drawn ``X``.

    Attributes
    ----------
    X : ndarray of shape (n_samples, 5)
        Covariates.
    y : ndarray of shape (n_samples,)
        Responses.
    mean : ndarray of shape (n_samples,)
        True conditional mean :math:`\mathbb E[Y \mid X]` at each row of ``X``.
    std : ndarray of shape (n_samples,)
        True conditional standard deviation of :math:`Y` given :math:`X` at each row.
    """

    X: np.ndarray
    y: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def _additive_moments(X):
    mean = X[:, 0] ** 2 + np.exp(X[:, 1] + X[:, 2] / 4) + np.cos(X[:, 3] + X[:, 4])
    return mean, np.ones(len(X))


def _heteroscedastic_moments(X):
    mean = X[:, 0] ** 2 + np.exp(X[:, 1] + X[:, 2] / 4) + X[:, 3] - X[:, 4]
    return mean, 0.5 + X[:, 1] ** 2 / 2


_CONDITIONAL_MODELS = {
    "additive": _additive_moments,
    "heteroscedastic": _heteroscedastic_moments,
}
CONDITIONAL_NAMES = tuple(_CONDITIONAL_MODELS)


def make_conditional(name, n_samples=1000, *, random_state=None):
    r"""Draw regression data from a simulation model with a known conditional law.

    With :math:`X \sim \mathcal N(0, I_5)` and :math:`\varepsilon \sim \mathcal N(0, 1)`
    independent, the models of [ZJLH2023]_ and [Hua2024]_ (with the constants of this
    package's issue 5) are

    .. math::

        \text{additive:}\quad
        Y = X_1^2 + e^{X_2 + X_3/4} + \cos(X_4 + X_5) + \varepsilon,

        \text{heteroscedastic:}\quad
        Y = X_1^2 + e^{X_2 + X_3/4} + X_4 - X_5 + \big(\tfrac12 + \tfrac12 X_2^2\big)\,
        \varepsilon,

    so :math:`Y \mid X` is Gaussian with the mean of the deterministic part and standard
    deviation :math:`1`, respectively :math:`\frac12 + \frac12 X_2^2`.

    Parameters
    ----------
    name : {"additive", "heteroscedastic"}
        The model, one of :data:`CONDITIONAL_NAMES`.
    n_samples : int, default=1000
        Number of draws, a positive int.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, passed to :func:`sklearn.utils.check_random_state`.

    Returns
    -------
    ConditionalData
        Named tuple ``(X, y, mean, std)``: covariates of shape (n_samples, 5), responses of
        shape (n_samples,), and the true conditional mean and standard deviation of
        :math:`Y` at each drawn row, each of shape (n_samples,).

    Examples
    --------
    >>> from wpokernel.datasets import make_conditional
    >>> X, y, mean, std = make_conditional("heteroscedastic", 100, random_state=0)
    >>> X.shape, y.shape, bool((std >= 0.5).all())
    ((100, 5), (100,), True)
    """
    name = _check_name(name, CONDITIONAL_NAMES)
    n_samples = _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    X = rng.randn(n_samples, _CONDITIONAL_N_FEATURES)
    mean, std = _CONDITIONAL_MODELS[name](X)
    return ConditionalData(X, mean + std * rng.randn(n_samples), mean, std)
