"""Output data types: converting restorations to integer types without losing them (clip, or map into the range)."""

from dataclasses import dataclass

import numpy as np

#: Output data types offered to users (``same``: the input's).
OUTPUT_DTYPES = ('float32', 'uint16', 'uint8', 'same')

#: Fraction of pixels that may be clipped when an image is converted to an integer type; where more would be,
#: :func:`convert_dtype` with ``rescale=True`` maps the image into the type's range instead.
CLIP_TOLERANCE = 1e-4


@dataclass
class Clipping:
    """How an image was converted to a data type: values clipped, and the linear mapping if it was rescaled.

    A rescaled image holds ``pixel = round((value - offset) / scale)``: the values are ``pixel * scale + offset``.
    """

    dtype: np.dtype
    n_below: int = 0
    n_above: int = 0
    n: int = 1
    scale: float = 1.0
    offset: float = 0.0

    @property
    def fraction(self):
        """Fraction of all pixels clipped."""
        return (self.n_below + self.n_above) / max(self.n, 1)

    @property
    def rescaled(self):
        return self.scale != 1.0 or self.offset != 0.0

    def __str__(self):
        if not np.issubdtype(self.dtype, np.integer):
            return '%s, not clipped' % np.dtype(self.dtype).name
        info = np.iinfo(self.dtype)
        if self.rescaled:
            return ('%s, mapped into its range (the values did not fit): value = pixel * %.6g + %.6g, stored in the '
                    'metadata' % (info.dtype.name, self.scale, self.offset))
        return ('%s, %.4f %% of pixels clipped (%.4f %% below %d, %.4f %% above %d)'
                % (info.dtype.name, 100 * self.fraction, 100 * self.n_below / max(self.n, 1), info.min,
                   100 * self.n_above / max(self.n, 1), info.max))


def output_dtype(dtype, like=None):
    """The NumPy type that an output ``dtype`` names (``'same'``: the type of ``like``, the input's)."""
    if isinstance(dtype, str) and dtype == 'same':
        if like is None:
            raise ValueError("dtype 'same' needs the input's data type")
        dtype = like
    try:
        return np.dtype(dtype)
    except TypeError:
        raise ValueError('unknown data type %r (use one of %s)' % (dtype, ', '.join(OUTPUT_DTYPES))) from None


def plan_conversion(dtype, n, n_below, n_above, extremes, rescale=False, tolerance=CLIP_TOLERANCE):
    """How values become ``dtype``: the :class:`Clipping` record from the counts of the rounded values outside an
    integer type's range.

    ``n_below`` and ``n_above`` count the rounded values outside the range; with ``rescale`` and more than
    ``tolerance`` of ``n`` outside, the record maps the values linearly into the range (zero stays zero unless there
    are negative values), from their extremes: ``extremes()`` returns ``(min, max)`` and is called only then. Apply
    the record with :func:`apply_conversion` (to a whole image, or block by block).
    """
    clipping = Clipping(dtype, n=n)
    if not np.issubdtype(dtype, np.integer):
        return clipping
    info = np.iinfo(dtype)
    clipping.n_below, clipping.n_above = int(n_below), int(n_above)
    if rescale and clipping.fraction > tolerance:
        vmin, vmax = extremes()
        low = min(float(vmin), 0.0) if info.min == 0 else float(vmin)
        span = max(float(vmax) - low, 1e-30)
        clipping.scale, clipping.offset = span / (info.max - info.min), low - info.min * span / (info.max - info.min)
        clipping.n_below = clipping.n_above = 0
    return clipping


def apply_conversion(img, clipping, rounded=None):
    """``img`` in ``clipping.dtype`` as :func:`plan_conversion` planned it: rounded (and mapped) into an integer
    type's range, clipped there, never wrapped (``rounded``: ``img`` already rounded, when the caller has it)."""
    dtype = np.dtype(clipping.dtype)
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(img).astype(dtype, copy=False)
    info = np.iinfo(dtype)
    if clipping.rescaled:
        values = np.rint((np.asarray(img, np.float64) - clipping.offset) / clipping.scale)
    else:
        values = rounded if rounded is not None else _rounded(img)
    return np.clip(values, info.min, info.max).astype(dtype)


def convert_dtype(img, dtype, like=None, rescale=False, tolerance=CLIP_TOLERANCE):
    """An image in another data type; integer types get rounded values, clipped to the type's range, never wrapped.

    Parameters
    ----------
    img : numpy.ndarray
    dtype : str or numpy.dtype
        ``'float32'``, ``'uint16'``, ``'uint8'``, any NumPy type, or ``'same'`` (the type of ``like``).
    like : numpy.dtype or None
        The input's data type, for ``'same'``.
    rescale : bool
        When more than ``tolerance`` of the pixels would be clipped to an integer type's range, map the image
        linearly into the range instead (zero stays zero unless there are negative values), so that nothing is lost
        but precision; the mapping is in the returned record.
    tolerance : float

    Returns
    -------
    (numpy.ndarray, Clipping)
        The converted image and how many of its values were clipped below and above the type's range (or how it
        was mapped into it).
    """
    dtype = output_dtype(dtype, like)
    img = np.asarray(img)
    if not np.issubdtype(dtype, np.integer):
        return img.astype(dtype, copy=False), Clipping(dtype, n=img.size)
    info = np.iinfo(dtype)
    values = _rounded(img)
    clipping = plan_conversion(dtype, img.size, np.sum(values < info.min), np.sum(values > info.max),
                               lambda: (np.min(img), np.max(img)), rescale, tolerance)
    return apply_conversion(img, clipping, rounded=values), clipping


def _rounded(img):
    return np.rint(img) if not np.issubdtype(img.dtype, np.integer) else img
