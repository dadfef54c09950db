r"""Toy data sets for score-based and flow generative models.

The eight 2-D toys of :func:`make_toy` re-implement the reference definitions of the FFJORD
toy data [GCB2019]_, with two changes: every generator draws from the ``random_state`` it is
given (the reference mixes in NumPy's global generator), and every generator returns exactly
``n_samples`` points (the reference rounds down for "pinwheel" and "2spirals").

:func:`make_swissroll6d` embeds the 2-D swiss roll in six dimensions with three noisy linear
features and one pure-noise feature, a small test of whether a model finds a low-dimensional
structure.

References
----------
.. [GCB2019] W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud,
   "FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models",
   ICLR 2019.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.datasets import make_circles, make_moons, make_swiss_roll
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

__all__ = ["TOY_NAMES", "make_toy", "make_swissroll6d", "train_test_split_data"]

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
    if name not in _TOY_GENERATORS:
        raise ValueError(
            f"Expected name to be one of {', '.join(map(repr, TOY_NAMES))}, got {name!r}."
        )
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
