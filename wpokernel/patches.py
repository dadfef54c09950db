r"""Images stored as rows, and the patches that the local score machines compare.

An image of shape :math:`(H, W, C)` is a row of :math:`HWC` features in row-major order
(height, then width, then channels last), as ``X.reshape(n, H, W, C)`` reads it. The patch of
odd size :math:`P = 2h + 1` at pixel :math:`i = (r, c)` is the :math:`P \times P \times C`
block

.. math::

    x_{\Omega_i} = \big(\bar x_{r + a,\, c + b,\, k}\big)_{-h \le a, b \le h,\ 0 \le k < C},
    \qquad
    \bar x_{r', c', k} = \begin{cases} x_{r', c', k} & 0 \le r' < H,\ 0 \le c' < W \\
    0 & \text{otherwise,} \end{cases}

of the image padded with zeros: what a ``"same"``-size convolution with zero padding sees at
that pixel. The largest size accepted, :math:`2 \max(H, W) - 1`, is the smallest patch that
contains the whole image from every pixel.

The functions run in the array library of their input (NumPy, or torch on the CPU or a GPU).
"""

import numbers

import numpy as np

from .reductions import get_namespace

__all__ = [
    "check_image_shape",
    "check_patch_size",
    "largest_patch_size",
    "patch_view",
    "pixel_locations",
    "window",
]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_image_shape(image_shape, n_features=None):
    """``(height, width, channels)`` of the images stored as rows of ``n_features`` values.

    Parameters
    ----------
    image_shape : tuple of int or None
        ``(height, width)`` or ``(height, width, channels)``; ``None`` is one row of
        ``n_features`` pixels, ``(1, n_features)``.
    n_features : int or None, default=None
        Values per row; ``None`` checks the form of ``image_shape`` only.

    Returns
    -------
    tuple of int
        ``(height, width, channels)`` with ``height * width * channels == n_features``.

    Examples
    --------
    >>> check_image_shape((8, 8), 64), check_image_shape(None, 5)
    ((8, 8, 1), (1, 5, 1))
    """
    if image_shape is None:
        return None if n_features is None else (1, int(n_features), 1)
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else ()
    if len(shape) not in (2, 3) or not all(_is_int(n) and n > 0 for n in shape):
        raise ValueError("Expected image_shape to be None, (height, width) or (height, width, "
                         f"channels) of positive integers, got {image_shape!r}.")
    shape = tuple(int(n) for n in shape) + ((1,) if len(shape) == 2 else ())
    if n_features is not None and int(np.prod(shape)) != n_features:
        raise ValueError(f"Expected image_shape with height * width * channels = n_features = "
                         f"{n_features}, got {image_shape!r} with {int(np.prod(shape))} values; "
                         "give the shape of the images that X's rows hold.")
    return shape


def largest_patch_size(image_shape):
    """:math:`2 \\max(H, W) - 1`, the smallest patch holding the whole image from every pixel."""
    return 2 * max(image_shape[:2]) - 1


def check_patch_size(name, size, image_shape):
    """Refuse a patch size that is not an odd integer in :math:`[1, 2 \\max(H, W) - 1]`."""
    largest = largest_patch_size(image_shape)
    if not _is_int(size) or size < 1 or size % 2 == 0:
        raise ValueError(f"Expected odd positive patch sizes in {name} (a patch has a centre "
                         f"pixel), got {size!r}.")
    if size > largest:
        raise ValueError(f"Expected patch sizes in {name} of at most 2 * max(height, width) - 1 "
                         f"= {largest} for images of shape {tuple(image_shape[:2])}, the patch "
                         f"that already sees the whole image from every pixel, got {size}.")


def patch_view(images, size):
    """Every patch of size ``size`` of the images, as a view of the zero-padded images.

    Parameters
    ----------
    images : array of shape (M, H, W, C)
        NumPy array or torch tensor.
    size : int
        Odd patch size :math:`P = 2h + 1`.

    Returns
    -------
    array of shape (M, H, W, C, P, P)
        ``view[m, r, c]`` is the patch :math:`x_{\\Omega_{(r, c)}}` of image ``m``, its values
        in (channel, row, column) order; only the padded images are stored.
    """
    h = size // 2
    n, height, width, channels = images.shape
    ns = get_namespace(images)
    padded = ns.zeros((n, height + 2 * h, width + 2 * h, channels), like=images)
    padded[:, h:h + height, h:h + width, :] = images
    if ns.name == "torch":
        return padded.unfold(1, size, 1).unfold(2, size, 1)
    return ns.xp.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))


def pixel_locations(image_shape):
    """Every pixel ``(row, column)`` of the image, in row-major order."""
    return [(r, c) for r in range(image_shape[0]) for c in range(image_shape[1])]


def window(location, radius, image_shape):
    """The pixels :math:`j` of the image with :math:`\\lVert j - i\\rVert_\\infty \\le r`, a block.

    Parameters
    ----------
    location : tuple of int
        The pixel :math:`i = (\\text{row}, \\text{column})`.
    radius : int
        :math:`r \\ge 0`.
    image_shape : tuple of int
        ``(height, width[, channels])``.

    Returns
    -------
    tuple of int
        ``(r0, r1, c0, c1)``: the rows ``r0 <= r < r1`` and columns ``c0 <= c < c1``.

    Examples
    --------
    >>> window((0, 3), 1, (3, 5))
    (0, 2, 2, 5)
    """
    r, c = location
    return (max(0, r - radius), min(image_shape[0], r + radius + 1),
            max(0, c - radius), min(image_shape[1], c + radius + 1))
