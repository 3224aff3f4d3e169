"""The input's low band: a restoration takes part of its coarse intensities (a Gaussian's low band) from its input.

On the development sets the default's restorations lose PSNR after their best epoch in the low band (2-pixel
Gaussian), while their fine structure holds (``benchmarks/decline.py``): G redraws coarse intensities, which the input
shows well once smoothed enough that its noise is gone. So the restoration ``y`` of input ``x`` keeps its own high
band and takes ``weight`` of its low band from the input's, mapped by the scale and offset that fit it best (least
squares) onto ``y``'s own low band::

    y' = y - weight * (low(y) - (a * low(x) + b))

The low-pass loss of training (:func:`c2gan_tf.losses.lowpass_loss`) asks the same of G's smoothed output; this
enforces part of it on each image. The fit makes the input's units irrelevant (``x`` raw or normalised gives the same
``y'``), keeps ``y``'s units, and the whole image (a stack, a volume in blocks) shares one ``a, b`` per channel, so
that blocks and tiles agree with the whole image. Chosen on development data (``benchmarks/lowband.py``;
``Config.output_lowpass_weight``, ``output_lowpass_sigma``)."""

import numpy as np
from scipy import ndimage

#: Reach of the Gaussian in sigmas (SciPy's default ``truncate``).
TRUNCATE = 4.0


def reach(sigma):
    """Pixels on each side that the Gaussian of ``sigma`` reads (SciPy's kernel radius)."""
    return int(TRUNCATE * float(sigma) + 0.5)


def sigmas(axes, spatial, sigma):
    """Per-axis sigmas of an image of ``axes``: ``sigma`` along the ``spatial`` axes (letters), 0 along the others."""
    return tuple(float(sigma) if a in spatial else 0.0 for a in axes)


def low_band(img, sigmas):
    """The image smoothed by a Gaussian with per-axis ``sigmas`` (0: not along that axis), in float64."""
    return ndimage.gaussian_filter(np.asarray(img, np.float64), sigmas, truncate=TRUNCATE)


def moments(low_x, low_y, channel=None):
    """Sums ``(n, sx, sy, sxx, sxy)`` of two low bands over every axis but ``channel`` (an index or None): what the
    least-squares fit (:func:`affine_of`) needs, and what blocks add up."""
    axis = tuple(i for i in range(np.ndim(low_x)) if i != channel)
    n = np.full(1 if channel is None else low_x.shape[channel], np.prod([low_x.shape[i] for i in axis]), np.float64)
    return (n, low_x.sum(axis=axis), low_y.sum(axis=axis), (low_x * low_x).sum(axis=axis),
            (low_x * low_y).sum(axis=axis))


def moments_array(low_x, low_y, channel=None):
    """:func:`moments` as one array of 5 rows, one column per channel (one without a channel axis): the form that
    planes or blocks add up, and that :func:`affine_of` takes unpacked."""
    return np.stack([np.ravel(v) for v in moments(low_x, low_y, channel)])


def affine_of(n, sx, sy, sxx, sxy, eps=1e-12):
    """``(a, b)`` (per channel) of the least-squares fit ``low_y ~ a * low_x + b`` from :func:`moments`; ``a = 0``
    where the input's low band is constant (it then has no coarse structure to give)."""
    n, sx, sy, sxx, sxy = (np.asarray(v, np.float64) for v in (n, sx, sy, sxx, sxy))
    var = sxx / n - (sx / n) ** 2
    cov = sxy / n - sx * sy / n ** 2
    a = np.where(var > eps * np.maximum(sxx / n, eps), cov / np.where(var > 0, var, 1), 0.0)
    return a, sy / n - a * sx / n


def with_input_low_band(y, low_x, low_y, a, b, weight, channel=None):
    """``y - weight * (low_y - (a * low_x + b))`` in ``y``'s data type (``a``, ``b`` per channel along ``channel``;
    NumPy or Dask arrays)."""
    shape = [1] * np.ndim(y)
    if channel is not None:
        shape[channel] = -1
    a, b = (np.reshape(np.asarray(v, np.float64), shape) for v in (a, b))
    return (y - weight * (low_y - (a * low_x + b))).astype(y.dtype, copy=False)


def input_low_band(x, y, axes, spatial, sigma, weight):
    """The restoration ``y`` of ``x`` (same shape, ``axes``) with ``weight`` of its low band (Gaussian ``sigma``
    pixels along the ``spatial`` axes) taken from ``x``'s, fitted per channel over the whole image.

    A stack is done plane by plane (the Gaussian does not smooth across its planes): the low bands are kept in
    ``y``'s precision (at least float32) and no float64 copy of the whole stack is made (a prediction of a stack of
    512 x 512 planes peaked at 30 bytes per voxel, against 49 with the whole stack's low bands in float64).

    Parameters
    ----------
    x, y : numpy.ndarray
        Input (any units) and restoration.
    axes : str
        Axes of both, e.g. ``'YX'``, ``'TYXC'``.
    spatial : str
        The axes the Gaussian smooths along (the network's spatial axes, e.g. ``'YX'``): a stack of planes is
        smoothed plane by plane.
    sigma, weight : float
        Gaussian sigma (pixels) and the fraction of the low band replaced (0: ``y`` unchanged, 1: all of it).
    """
    if np.shape(x) != np.shape(y):
        raise ValueError('input and restoration differ in shape: %s and %s' % (np.shape(x), np.shape(y)))
    if weight == 0:
        return y
    s = sigmas(axes, spatial, sigma)
    channel = axes.index('C') if 'C' in axes else None
    # the stack's axes first (views): one plane, with its channels, at a time
    lead = [i for i, v in enumerate(s) if v == 0 and i != channel]
    order = lead + [i for i in range(len(s)) if i not in lead]
    xs, ys = (np.moveaxis(np.asarray(v), order, range(len(s))) for v in (x, y))
    plane = tuple(s[i] for i in order[len(lead):])
    pc = None if channel is None else order[len(lead):].index(channel)
    low_x, low_y = (np.empty(ys.shape, np.result_type(ys.dtype, np.float32)) for _ in range(2))
    sums = 0
    for i in np.ndindex(*ys.shape[:len(lead)]):
        lx, ly = low_band(xs[i], plane), low_band(ys[i], plane)  # float64
        sums = sums + moments_array(lx, ly, pc)
        low_x[i], low_y[i] = lx, ly
    a, b = affine_of(*sums)
    out = np.empty_like(ys)
    for i in np.ndindex(*ys.shape[:len(lead)]):
        out[i] = with_input_low_band(ys[i], low_x[i], low_y[i], a, b, weight, pc)
    return np.moveaxis(out, range(len(s)), order)
