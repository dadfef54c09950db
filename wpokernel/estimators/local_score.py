r"""Closed-form local score machines for images: the LS and ELS machines [KG2025]_.

The best score of the heat flow under two constraints that convolutional denoisers obey —
each output pixel sees only a patch of the noisy image (locality), and the same patch gives
the same output wherever it sits (translation equivariance) — is closed form. At noise
:math:`\sigma` (heat-flow time :math:`t`, :math:`\sigma^2 = \beta^2 t`), with training images
:math:`z^{(n)}` of frequency weights :math:`\omega_n` and the patches :math:`x_{\Omega_i}` of
size :math:`P(\sigma)` of :mod:`wpokernel.patches` (zero padding), the denoised pixel
:math:`i` is the posterior mean of a patch's centre pixel,

.. math::

    D(x)_i = \sum_{n}\sum_{j \in J(i)} w_{nj}(x)\, z^{(n)}_j, \qquad
    w_{nj}(x) = \operatorname{softmax}_{n, j}\Big(\log \omega_n
        - \frac{\lVert x_{\Omega_i} - z^{(n)}_{\Omega_j}\rVert^2}{2 \sigma^2}\Big),
    \qquad (1)

    \nabla \log \eta(x, t) \approx \frac{D(x) - x}{\sigma^2}, \qquad (2)

(2) being Tweedie's formula. :math:`J(i)` is the set of pixels the patch at :math:`i` is
compared with:

* the **LS machine** (local, ``translation_radius=0``): :math:`J(i) = \{i\}`, the patches of
  the training images at the same place;
* the **ELS machine** (equivariant and local, ``translation_radius=None``): every pixel of
  the image, so that a shifted input gives the shifted output away from the borders;
* in between, ``translation_radius=r``: :math:`J(i) = \{j : \lVert j - i\rVert_\infty \le r\}`,
  a local form of equivariance that costs :math:`(2r + 1)^2` times the LS machine.

With :math:`P \ge 2\max(H, W) - 1` every patch holds the whole image and the LS machine is
the empirical (memorizing) score; with :math:`P = 1` it is the score of independent pixels,
each with the empirical law of its training values smoothed by :math:`N(0, \sigma^2)`. Each
:math:`D(x)_i` is one softmax-weighted reduction (:func:`~wpokernel.reductions.mixture_moments`
with :class:`~wpokernel.reductions.Isotropic` variance :math:`\sigma^2`): the queries are the
patches of the noisy images, the centers the training patches, in dimension :math:`P^2 C`.

**Coordinates and padding.** The machines compare patches in the coordinates
:math:`v = (x - m)/\rho`, with :math:`\rho` = ``scale_`` and :math:`m` the mean pixel value of
each channel (``pixel_mean_``): one affine map of the pixel values, so patches and shifts are
untouched and the results do not depend on the units of the data. A patch that leaves the
image is padded with :math:`v = 0`, the mean pixel value, as a convolution on centred images
pads with zeros (the LS machine does not depend on the padding: it only compares patches of
one place, padded alike).

**The patch-size schedule** :math:`P(\sigma)` is piecewise constant on noise levels
:math:`\sigma_1 < \dots < \sigma_K` (``patch_schedule_``): :math:`P(\sigma) = P_k` with
:math:`k = \arg\min_k |\log \sigma - \log \sigma_k|`. ``patch_size="calibrate"`` chooses it
without a network: images are set aside (``validation_fraction``), and at each of
``calibration_levels`` noise levels, geometric from ``sigma_min`` to :math:`\beta\sqrt T`,

.. math::

    P_k = \arg\min_{P} \frac{1}{\sum_m \omega_m} \sum_m \omega_m\, \frac{1}{|S_k| C}
        \sum_{i \in S_k} \big\lVert D_P(y_m + \sigma_k \varepsilon_m)_i - y_{m, i}\big\rVert^2,
    \qquad \varepsilon_m \sim N(0, I), \qquad (3)

the held-out denoising error of the machine built on the other images, over the candidate
sizes (``calibration_sizes``), at a random set :math:`S_k` of at most 64 pixels (the same for
every size and image), made non-decreasing in :math:`\sigma` by a running maximum
(``calibration_errors_`` keeps every error).
At low noise a held-out image is nearly known from its own pixels, and (3) picks
:math:`P = 1`; sampled with such a schedule the images keep isolated bright pixels, and a
schedule whose sizes are raised to a floor (on MNIST, :math:`P \ge 9`) gives cleaner images
that are still new (``docs/benchmarks/local_score.md``).

**Cost.** Per sampler step the LS machine runs one reduction per distinct patch block
(:math:`M` queries, :math:`N` centers, at most :math:`P^2 C` dimensions); the ELS machine with
a radius :math:`r` one per pixel with :math:`(2r + 1)^2 N` centers, and with full translation
one reduction of :math:`M H W` patches against :math:`N H W`: on MNIST the CPU's work for a
radius of 1 or 2, and a GPU's (KeOps) for full translation.

References
----------
.. [KG2025] M. Kamb, S. Ganguli, "An analytic theory of creativity in convolutional diffusion
   models", ICML 2025, arXiv:2412.20292.
"""

import math

import numpy as np
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from .._validation import (
    nonnegative_int,
    open_fraction,
    optional,
    positive_int,
    seed,
)
from ..patches import (
    check_image_shape,
    check_patch_size,
    largest_patch_size,
    patch_view,
    pixel_locations,
    window,
)
from ..reductions import Isotropic, get_namespace, mixture_moments
from ._base import BaseScoreModel

__all__ = ["LocalScoreMachine"]

# Pixels per held-out image where the calibration measures the denoising error: the mean
# over 64 random pixels estimates the mean over all of them without bias, at a twelfth of
# the cost on MNIST's 784; smaller images are measured at every pixel.
_CALIBRATION_PIXELS = 64


# ---------------------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------------------


def _check_image_shape_form(name, value):
    """``image_shape``: None or two or three positive ints (their product is checked in fit)."""
    del name
    check_image_shape(value)


def _check_schedule_form(name, value):
    """``patch_size``: "calibrate", an odd int or rows (sigma, size) (sizes checked in fit)."""
    if isinstance(value, str):
        if value != "calibrate":
            raise ValueError(f"Expected {name}='calibrate', an odd integer or an array of "
                             f"(sigma, size) rows, got {value!r}.")
        return
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return
    _schedule_rows(name, value)


def _schedule_rows(name, value):
    """A user's schedule as a float array of shape (n_levels, 2), checked."""
    try:
        rows = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        rows = np.zeros(0)
    if rows.ndim != 2 or rows.shape[1] != 2 or rows.shape[0] == 0:
        raise ValueError(f"Expected {name}='calibrate', an odd integer or an array of "
                         f"(sigma, size) rows of shape (n_levels, 2), got {value!r}.")
    sigma, size = rows[:, 0], rows[:, 1]
    if not (np.all(np.isfinite(sigma)) and np.all(sigma > 0) and np.all(np.diff(sigma) > 0)):
        raise ValueError(f"Expected the noise levels of {name} (first column) to be positive "
                         f"and strictly increasing, got {sigma.tolist()}.")
    if np.any(np.diff(size) < 0):
        raise ValueError(f"Expected the patch sizes of {name} (second column) to be "
                         f"non-decreasing in sigma, as patches grow with the noise, got "
                         f"{size.tolist()} at sigma {sigma.tolist()}.")
    return rows


def _check_sizes_form(name, value):
    """``calibration_sizes``: None or a non-empty sequence of candidate sizes."""
    if value is None:
        return
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError(f"Expected {name} to be None or a non-empty list of odd patch sizes, "
                         f"got {value!r}.")


# ---------------------------------------------------------------------------------------
# The machine: equation (1)
# ---------------------------------------------------------------------------------------


def _local_reductions(images, train, log_weights, size, locations):
    """The LS machine's reductions: ``(pixels, x_i, z_j, a_j, v_j)`` per distinct patch block.

    It compares the patches of one place, padded alike, so the padding adds nothing to their
    distance: the patches are cropped to the image, and the pixels whose cropped patches are
    the same block share one reduction with their centre pixels as values (every pixel, the
    empirical score, once :math:`P \\ge 2 \\max(H, W) - 1`).
    """
    blocks = {}
    for location in locations:
        blocks.setdefault(window(location, size // 2, images.shape[1:]), []).append(location)
    for (r0, r1, c0, c1), pixels in blocks.items():
        rows, columns = zip(*pixels)
        x_i = images[:, r0:r1, c0:c1, :].reshape(images.shape[0], -1)  # (M, d)
        z_j = train[:, r0:r1, c0:c1, :].reshape(train.shape[0], -1)  # (N, d)
        v_j = train[:, list(rows), list(columns), :].reshape(train.shape[0], -1)  # (N, L C)
        yield pixels, x_i, z_j, log_weights, v_j


def _equivariant_reductions(images, train, log_weights, size, locations, radius):
    """The ELS machine's reductions: ``(pixels, x_i, z_j, a_j, v_j)`` per block of compared pixels.

    The centers are the zero-padded training patches at the compared pixels :math:`J(i)`;
    when :math:`J(i)` is the whole image for every pixel (``radius`` None or at least
    :math:`\\max(H, W) - 1`) one reduction serves every query pixel.
    """
    image_shape = images.shape[1:]
    if radius is None or radius >= max(image_shape[:2]) - 1:
        groups = [(locations, (0, image_shape[0], 0, image_shape[1]))]
    else:
        groups = [([location], window(location, radius, image_shape)) for location in locations]
    queries, centers = patch_view(images, size), patch_view(train, size)
    ns = get_namespace(images)
    d = size * size * image_shape[2]
    for pixels, (r0, r1, c0, c1) in groups:
        rows, columns = zip(*pixels)
        x_i = queries[:, list(rows), list(columns)].reshape(-1, d)  # (M Lq, d)
        z_j = centers[:, r0:r1, c0:c1].reshape(-1, d)  # (N Lc, d)
        v_j = train[:, r0:r1, c0:c1, :].reshape(-1, image_shape[2])  # (N Lc, C)
        a_j = log_weights[:, None] + ns.zeros((1, (r1 - r0) * (c1 - c0)), like=log_weights)
        yield pixels, x_i, z_j, a_j.reshape(-1), v_j


def denoise(images, train, log_weights, sigma, size, locations, *, radius, backend,
            working_memory):
    r"""The denoised pixels :math:`D(x)_i` of equation (1) at ``locations``.

    Parameters
    ----------
    images : array of shape (M, H, W, C)
        Noisy images :math:`x`, centred coordinates.
    train : array of shape (N, H, W, C)
        Training images :math:`z^{(n)}`, same library.
    log_weights : array of shape (N,)
        :math:`\log \omega_n`.
    sigma : float
        Noise :math:`\sigma > 0`.
    size : int
        Odd patch size :math:`P`.
    locations : sequence of (row, column)
        Distinct pixels :math:`i`.
    radius : int or None
        Translation radius (0: LS, None: ELS).
    backend, working_memory
        Reduction settings.

    Returns
    -------
    array of shape (M, len(locations), C)
    """
    if radius == 0:
        reductions = _local_reductions(images, train, log_weights, size, locations)
    else:
        reductions = _equivariant_reductions(images, train, log_weights, size, locations, radius)
    pixels, denoised = [], []
    for query_pixels, x_i, z_j, a_j, v_j in reductions:
        moments = mixture_moments(x_i, z_j, Isotropic(sigma**2), a_j, v_j, backend=backend,
                                  working_memory=working_memory)
        denoised.append(moments.values.reshape(images.shape[0], len(query_pixels), -1))
        pixels.extend(query_pixels)
    position = {pixel: k for k, pixel in enumerate(pixels)}
    return get_namespace(images).concat(denoised, axis=1)[:, [position[p] for p in locations]]


def patch_size_at(schedule, sigma):
    r""":math:`P_k` of the level :math:`\sigma_k` nearest to :math:`\sigma` in log scale."""
    k = int(np.argmin(np.abs(np.log(schedule[:, 0]) - math.log(sigma))))
    return int(schedule[k, 1])


# ---------------------------------------------------------------------------------------
# Calibration: equation (3)
# ---------------------------------------------------------------------------------------


def _split(n_images, validation_fraction, rng):
    """(fit rows, held-out rows): at least one of each (``fit`` has two distinct images)."""
    n_held_out = min(max(1, int(round(validation_fraction * n_images))), n_images - 1)
    order = rng.permutation(n_images)
    return np.sort(order[n_held_out:]), np.sort(order[:n_held_out])


def held_out_errors(denoiser, clean, weight, levels, sizes, rng, progress=False):
    r"""The held-out denoising errors of equation (3), for every level and candidate size.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(noisy, sigma, size, locations)`` -> array of shape (M, L, C).
    clean : ndarray of shape (M, H, W, C)
        Held-out images :math:`y_m`.
    weight : ndarray of shape (M,)
        Their weights :math:`\omega_m`.
    levels : ndarray of shape (K,)
        Noise levels :math:`\sigma_k`.
    sizes : sequence of int
        Candidate patch sizes.
    rng : numpy.random.RandomState
        Draws the noise :math:`\varepsilon_m` and the pixels :math:`S_k`.
    progress : bool, default=False
        Progress bar over (level, size) pairs.

    Returns
    -------
    ndarray of shape (K, len(sizes))
        Mean squared error per pixel value, in units of the data's variance.
    """
    image_shape = clean.shape[1:]
    every_pixel = pixel_locations(image_shape)
    errors = np.empty((len(levels), len(sizes)))
    bar = tqdm(total=errors.size, disable=not progress, desc="patch-size calibration",
               leave=False)
    for k, sigma in enumerate(levels):
        noisy = clean + sigma * rng.standard_normal(clean.shape)
        n_pixels = min(_CALIBRATION_PIXELS, len(every_pixel))
        chosen = np.sort(rng.choice(len(every_pixel), n_pixels, replace=False))
        locations = [every_pixel[p] for p in chosen]
        rows, columns = zip(*locations)
        target = clean[:, list(rows), list(columns), :]  # (M, L, C)
        for s, size in enumerate(sizes):
            squared = (denoiser(noisy, float(sigma), int(size), locations) - target) ** 2
            errors[k, s] = weight @ squared.mean(axis=(1, 2)) / weight.sum()
            bar.update()
    bar.close()
    return errors


# ---------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------


class LocalScoreMachine(BaseScoreModel):
    r"""The LS and ELS machines: closed-form local (and equivariant) scores of images.

    The score of equations (1)-(2) of the module docstring, on the shared samplers of the
    heat flow (reverse SDE, probability-flow ODE, ODE log-likelihood). No network is
    trained: ``fit`` keeps the images (and calibrates the patch sizes).

    Parameters
    ----------
    image_shape : tuple of int or None, default=None
        ``(height, width)`` or ``(height, width, channels)`` of the images that the rows of
        ``X`` hold (row-major, channels last); ``None`` is one row of pixels
        ``(1, n_features)``. Give ``(28, 28)`` for MNIST.
    translation_radius : int or None, default=0
        The pixels :math:`J(i)` a patch is compared with: ``0`` is the LS machine, ``None``
        the ELS machine (every pixel), ``r`` the pixels within :math:`r` in each direction.
    patch_size : "calibrate", int or array-like of shape (n_levels, 2), default="calibrate"
        The schedule :math:`P(\sigma)`: calibrated on held-out images (equation (3)), one odd
        size at every noise level, or rows :math:`(\sigma_k, P_k)` with :math:`\sigma_k`
        (units of ``scale_``) strictly increasing and :math:`P_k` odd and non-decreasing.
    calibration_sizes : list of int or None, default=None
        Candidate sizes of the calibration (``None``: every odd size up to
        :math:`2\max(H, W) - 1`).
    calibration_levels : int, default=8
        Noise levels of the calibration, geometric from ``sigma_min`` to :math:`\beta\sqrt T`.
    validation_fraction : float, default=0.1
        Share of the images set aside for the calibration (at least one).
    random_state : int, RandomState instance or None, default=None
        Seeds the held-out split, its noise and its pixels.
    beta : float, default=1.0
        Diffusion coefficient of the heat flow.
    T : float, default=100.0
        Time where the samplers start: noise :math:`\beta\sqrt T = 10` times the data's
        spread, where the Gaussian start is close to :math:`\eta(\cdot, T)` for images.
    sigma_min : float, default=0.01
        Noise left where the samplers stop (units of ``scale_``); positive, as (2) has no
        limit at :math:`\sigma = 0`.
    n_steps : int, default=100
        Steps of the samplers on the geometric time grid.
    backend, working_memory, device, progress
        As in :class:`~wpokernel.EmpiricalScore`: the reduction backend (``"auto"``), its
        memory budget in MiB (256), where the images live and the samplers run (``"cpu"``),
        and progress bars while calibrating and integrating (``True``).

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(height, width, channels)``.
    training_images_ : ndarray of shape (n_images, height, width, channels)
        The training images of positive weight in the centred coordinates :math:`v`.
    log_weights_ : ndarray of shape (n_images,)
        :math:`\log \omega_n`.
    pixel_mean_ : ndarray of shape (channels,)
        Mean pixel value :math:`m` of each channel (caller's units): the padding value.
    patch_schedule_ : ndarray of shape (n_levels, 2)
        Rows :math:`(\sigma_k, P_k)` of the schedule used (``patch_size=`` accepts it).
    calibration_sizes_ : ndarray of shape (n_sizes,) or None
        Candidate sizes of the calibration (``None`` without one).
    calibration_errors_ : ndarray of shape (n_levels, n_sizes) or None
        Held-out denoising errors (3) per level and candidate, in units of the data's
        variance ``scale_**2``.
    mean_, scale_, backend_, device_, n_features_in_ : ndarray, float, str, str, int
        As in :class:`~wpokernel.EmpiricalScore`: the weighted mean and the root-mean-square
        spread of the training data (the unit of every length), the backend ``"auto"``
        resolves to, where the fitted state lives, and the number of features.

    Examples
    --------
    >>> from wpokernel import LocalScoreMachine
    >>> from wpokernel.datasets import load_digits_continuous
    >>> X = load_digits_continuous(random_state=0)[:200]
    >>> model = LocalScoreMachine(image_shape=(8, 8), patch_size=[[0.1, 3], [1.0, 7]],
    ...                           n_steps=20, progress=False).fit(X)
    >>> model.sample(2, random_state=0).shape
    (2, 64)
    """

    _parameter_constraints = {
        **BaseScoreModel._parameter_constraints,
        "image_shape": _check_image_shape_form,
        "translation_radius": optional(nonnegative_int),
        "patch_size": _check_schedule_form,
        "calibration_sizes": _check_sizes_form,
        "calibration_levels": positive_int,
        "validation_fraction": open_fraction,
        "random_state": seed,
    }

    def __init__(self, *, image_shape=None, translation_radius=0, patch_size="calibrate",
                 calibration_sizes=None, calibration_levels=8, validation_fraction=0.1,
                 random_state=None, beta=1.0, T=100.0, sigma_min=0.01, n_steps=100,
                 backend="auto", working_memory=256, device="cpu", progress=True):
        self.image_shape = image_shape
        self.translation_radius = translation_radius
        self.patch_size = patch_size
        self.calibration_sizes = calibration_sizes
        self.calibration_levels = calibration_levels
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.beta = beta
        self.T = T
        self.sigma_min = sigma_min
        self.n_steps = n_steps
        self.backend = backend
        self.working_memory = working_memory
        self.device = device
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        if self.sigma_min == 0:
            raise ValueError("Expected sigma_min > 0: the score (D(x) - x) / sigma^2 has no "
                             "limit at sigma = 0, got sigma_min=0.")

    def _fit(self, X, sample_weight):
        shape = check_image_shape(self.image_shape, X.shape[1])
        keep = sample_weight > 0
        channel_mean = self.mean_.reshape(shape).mean(axis=(0, 1))  # (C,)
        self.image_shape_, self.pixel_mean_ = shape, channel_mean
        images = (X[keep] + self._offset()).reshape(-1, *shape)
        weight = sample_weight[keep]
        self.calibration_sizes_, self.calibration_errors_ = None, None
        if isinstance(self.patch_size, str):
            self.patch_schedule_ = self._calibrate(images, weight)
        else:
            self.patch_schedule_ = self._given_schedule(shape)
        self.training_images_, self.log_weights_ = images, np.log(weight)

    def _given_schedule(self, shape):
        """``patch_size`` (an int or rows) as checked rows (sigma_k, P_k)."""
        if isinstance(self.patch_size, (int, np.integer)):
            rows = np.array([[self.beta * math.sqrt(self.T), self.patch_size]], dtype=float)
        else:
            rows = _schedule_rows("patch_size", self.patch_size)
        for size in rows[:, 1]:
            # A whole number read as a float is a size; any other float is refused as one.
            check_patch_size("patch_size", int(size) if size.is_integer() else float(size), shape)
        return rows

    def _calibrate(self, images, weight):
        """Rows (sigma_k, P_k) of equation (3); sets the calibration attributes."""
        shape = self.image_shape_
        sizes = (list(range(1, largest_patch_size(shape) + 1, 2))
                 if self.calibration_sizes is None else list(self.calibration_sizes))
        for size in sizes:
            check_patch_size("calibration_sizes", size, shape)
        rng = check_random_state(self.random_state)
        fit_rows, held_out = _split(len(images), self.validation_fraction, rng)
        train, log_weights = images[fit_rows], np.log(weight[fit_rows])

        def denoiser(noisy, sigma, size, locations):
            return denoise(noisy, train, log_weights, sigma, size, locations,
                           radius=self.translation_radius, backend=self.backend,
                           working_memory=self.working_memory)

        levels = np.geomspace(self.sigma_min, self.beta * math.sqrt(self.T),
                              self.calibration_levels)
        errors = held_out_errors(denoiser, images[held_out], weight[held_out], levels, sizes,
                                 rng, self.progress)
        self.calibration_sizes_, self.calibration_errors_ = np.array(sizes), errors
        best = np.maximum.accumulate(np.array(sizes)[np.argmin(errors, axis=1)])
        return np.column_stack([levels, best]).astype(float)

    def _device_state(self):
        return ("training_images_", "log_weights_")

    # ------------------------------------------------------------------ the score
    def _offset(self):
        r""":math:`(\mu - m)/\rho` per feature: from standardized to centred coordinates."""
        pixel_mean = np.broadcast_to(self.pixel_mean_, self.image_shape_).reshape(-1)
        return (self.mean_ - pixel_mean) / self.scale_

    def _score(self, x, t):
        if not t > 0:
            raise ValueError(f"Expected t > 0: the score (D(x) - x) / sigma^2 has no limit at "
                             f"sigma = 0, got t={t}.")
        sigma = self.beta * math.sqrt(t)
        v = x + get_namespace(x).asarray(self._offset(), like=x)
        images = v.reshape(-1, *self.image_shape_)
        denoised = denoise(images, self.training_images_, self.log_weights_, sigma,
                           patch_size_at(self.patch_schedule_, sigma),
                           pixel_locations(self.image_shape_), radius=self.translation_radius,
                           backend=self.backend, working_memory=self.working_memory)
        return (denoised.reshape(v.shape) - v) / sigma**2
