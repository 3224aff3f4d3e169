"""Images on their way into and out of a network: axes, finiteness, intensity units.

Shared by prediction (``prediction``, ``blocks``, ``export``) and by training data (``data``): plain functions of
arrays and axis strings, and CSBDeep normalisers into and out of a domain's units (:class:`DomainNormalizer`, and
:class:`FixedNormalizer` for blocks of a volume); no Keras.
"""

import numpy as np
from csbdeep.data import Normalizer, PadAndCropResizer, PercentileNormalizer
from csbdeep.utils import axes_check_and_normalize, move_image_axes, normalize_mi_ma

from .calibration import calibrated_range, image_calibration


def to_network_axes(img, axes, config_axes):
    """Move an image's axes to the network's (e.g. ``'YXC'``), adding a channel axis if it has none."""
    axes = axes_check_and_normalize(axes, img.ndim)
    if 'C' not in axes:
        img, axes = img[..., np.newaxis], axes + 'C'
    return move_image_axes(img, axes, config_axes)


def check_finite(img, what='image', chunk=256):
    """Raise ValueError if an image (or array of patches) holds NaN or infinite values.

    Checked ``chunk`` entries of the first axis at a time, so memory-mapped arrays need not fit in memory.
    """
    img = np.asarray(img) if not isinstance(img, np.ndarray) else img
    if img.ndim == 0:
        img = img[np.newaxis]
    for i in range(0, len(img), chunk):
        if not np.all(np.isfinite(img[i:i + chunk])):
            raise ValueError('%s contains NaN or infinite values' % what)


def to_domain_units(v, low, high):
    """Normalised intensities in a domain's units: ``low + v * (high - low)`` (0 becomes ``low``, 1 ``high``)."""
    return low + v * (high - low)


def stack_axes(axes, ndim, network_axes):
    """The axes of an image that a network does not have: its planes are restored one by one (``'T'``, or ``'Z'``
    for a 2D network: ``'TZ'`` of a TZYX movie); empty when the network takes the image whole."""
    axes = axes_check_and_normalize(axes, ndim)
    return ''.join(a for a in axes if a not in network_axes)


def channels_last_axes(axes):
    """Network axes of images with ``axes``: spatial axes in their order, channel last (``'CZYX'`` -> ``'ZYXC'``)."""
    axes = axes_check_and_normalize(axes)
    return axes.replace('C', '') + 'C'


def fitting_axes(shape, network_axes, n_channel, min_side=8):
    """Axes that an image of ``shape`` could have for a network with ``network_axes`` (e.g. ``'YXC'``) and
    ``n_channel`` channels: the network's spatial axes, a channel axis of size ``n_channel`` (before them, or last)
    when the model has several channels, and the rest restored plane by plane (``Z``, then ``T``); spatial sides
    of fewer than ``min_side`` pixels are not taken for image sides. Empty when none fits (e.g. an RGB image for a
    one-channel model)."""
    spatial = network_axes.replace('C', '')
    stack = ''.join(a for a in 'TZ' if a not in spatial)  # restored plane by plane, outermost first
    n_lead = len(shape) - len(spatial)
    if n_channel == 1:
        channel_positions = [None]
    else:
        channel_positions = [c for c in range(len(shape)) if shape[c] == n_channel and (c < n_lead or c == len(shape) - 1)]
    out = []
    for c in channel_positions:
        n_stack = n_lead - (c is not None)
        if not 0 <= n_stack <= len(stack):
            continue
        lead = list(stack[len(stack) - n_stack:])
        sides = shape[n_lead - (c == len(shape) - 1):len(shape) - (c == len(shape) - 1)]
        if min(sides) < min_side:
            continue
        if c is None:
            out.append(''.join(lead) + spatial)
        elif c == len(shape) - 1:
            out.append(''.join(lead) + spatial + 'C')
        else:
            lead.insert(c, 'C')
            out.append(''.join(lead) + spatial)
    return out


def check_axes(shape, axes, network_axes, n_channel):
    """Raise ValueError with one line when ``axes`` do not fit an image of ``shape`` for the network: the line
    gives the image's shape, what is wrong and the axes that would fit (:func:`fitting_axes`)."""
    shape = tuple(int(s) for s in shape)
    fits = fitting_axes(shape, network_axes, n_channel)
    hint = ('; axes that fit: %s' % ', '.join(fits)) if fits else (
        '; no axes fit this model: convert the image to %d channel%s first' % (n_channel, 's' if n_channel > 1 else ''))
    axes = (axes or '').upper()
    if 'S' in axes:
        raise ValueError('axes %r: S (RGB samples) is a channel axis here, write it C (image shape %s)%s'
                         % (axes, shape, hint))
    if len(axes) != len(shape):
        raise ValueError('axes %r do not fit the image of shape %s (%d axes for %d dimensions)%s'
                         % (axes, shape, len(axes), len(shape), hint))
    try:
        axes = axes_check_and_normalize(axes, len(shape))
    except ValueError as e:
        raise ValueError('axes %r: %s (image shape %s)%s' % (axes, e, shape, hint)) from None
    missing = [a for a in network_axes.replace('C', '') if a not in axes]
    if missing:
        raise ValueError('axes %r lack %s, which the model needs (image shape %s)%s'
                         % (axes, ''.join(missing), shape, hint))
    channels = shape[axes.index('C')] if 'C' in axes else 1
    if channels != n_channel:
        raise ValueError('the image has %d channel%s (axes %r, shape %s), the model takes %d%s'
                         % (channels, '' if channels == 1 else 's', axes, shape, n_channel, hint))
    return axes


def target_range(domain_stats, direction='AtoB', calibration=None):
    """The intensity range ``(low, high)`` of the domain a prediction goes into (B for ``'AtoB'``), from a model's
    domain statistics, with an output calibration ``(scale, offset)`` folded in when one is given
    (:func:`c2gan_tf.calibration.calibrated_range`); ``None`` when the model has none (outputs then go back into
    the input's own range).

    The one rule of which units an output comes in, for in-memory prediction, blocks and the exports (through
    :meth:`c2gan_tf.C2GAN.output_range`).
    """
    stats = domain_stats.get('B' if direction == 'AtoB' else 'A', {})
    if 'low' not in stats or 'high' not in stats:
        return None
    low, high = float(stats['low']), float(stats['high'])
    return (low, high) if calibration is None else calibrated_range(low, high, *calibration)


class DomainNormalizer(PercentileNormalizer):
    """Percentile normalisation of the input; the output is mapped into a domain's stored intensity range.

    ``before`` is CSBDeep's :class:`~csbdeep.data.PercentileNormalizer`; ``after`` maps normalised intensity
    ``v`` to ``low + v * (high - low)``, with ``low`` and ``high`` the typical percentiles of the target domain's
    training images. So an image restored from domain A comes out in domain B's units.

    Parameters
    ----------
    low, high : float
        Target domain's intensities of normalised 0 and 1.
    pmin, pmax : float
        Percentiles normalising the input.
    per_image : bool
        First map the output's own ``pmin``/``pmax`` percentiles onto 0 and 1, as the input's are
        (:func:`c2gan_tf.calibration.image_calibration`; ``Config.output_calibration='per_image'``).
    """

    def __init__(self, low, high, pmin=1.0, pmax=99.8, per_image=False):
        super().__init__(pmin, pmax, do_after=True)
        self.low, self.high, self.per_image = float(low), float(high), bool(per_image)

    def after(self, mean, scale, axes):
        low, high = self.low, self.high
        if self.per_image:
            low, high = calibrated_range(low, high, *image_calibration(mean, self.pmin, self.pmax))
        return (to_domain_units(mean, low, high).astype(self.dtype, copy=False),
                None if scale is None else ((high - low) * scale).astype(self.dtype, copy=False))


def per_channel(v, axes):
    """Per-channel values ``v`` (one value without a channel axis) shaped to broadcast over an image of ``axes``."""
    v = np.asarray(v, np.float32)
    shape = [1] * len(axes)
    if 'C' in axes and v.size > 1:
        shape[axes.index('C')] = v.size
    return v.reshape(shape)


class FixedNormalizer(Normalizer):
    """Normalisation with intensities fixed in advance (percentiles of a whole volume), the same for every block.

    ``mi`` and ``ma`` (per channel) become 0 and 1; the output stays in normalised units (the blocks map the whole
    restoration into units at the end: :func:`c2gan_tf.blocks.output_units`).
    """

    def __init__(self, mi, ma):
        self.mi, self.ma = np.asarray(mi, np.float32), np.asarray(ma, np.float32)

    @property
    def do_after(self):
        return False

    def before(self, x, axes):
        mi, ma = (per_channel(v, axes) for v in (self.mi, self.ma))
        return normalize_mi_ma(x, mi, ma)

    def after(self, mean, scale, axes):
        return mean, scale  # normalised units (do_after is False)


def margin_padding(shape, axes, div_by, margin):
    """Padding ``(before, after)`` per axis: ``margin[a]`` pixels at both ends of each axis ``a`` that ``margin``
    names, then what makes the axis a multiple of its divisibility ``div_by`` (split as CSBDeep's
    ``PadAndCropResizer`` splits it). The margin shrinks where an axis is too short to reflect it (a reflection pads
    at most the axis' length - 1 at each end)."""
    pad = []
    for a, n, d in zip(axes, shape, div_by):
        m = max(0, min(int(margin.get(a, 0)), n - 1))
        extra = (-(n + 2 * m)) % d
        while m > 0 and m + extra - extra // 2 > n - 1:
            m -= 1
            extra = (-(n + 2 * m)) % d
        pad.append((m + extra // 2, m + extra - extra // 2))
    return tuple(pad)


class MarginResizer(PadAndCropResizer):
    """CSBDeep's ``PadAndCropResizer`` with a margin: the image reflected by ``margin[a]`` pixels at both ends of each
    axis ``a`` (the network's receptive field) before it is padded to the network's divisibility; ``after`` crops
    both off.

    Without a margin, the network's zero padding at the image's edges shows in a restoration: pixels near an edge
    are restored from a field of view that runs out, which tiles of CSBDeep's tiled prediction never see (they
    overlap by the receptive field). It matters most along a short axis, e.g. Z of a thin volume.

    Parameters
    ----------
    margin : dict
        Pixels per axis letter; axes not named get none.
    """

    def __init__(self, margin):
        super().__init__(mode='reflect')
        self.margin = dict(margin)

    def before(self, x, axes, axes_div_by):
        axes = axes_check_and_normalize(axes, x.ndim)
        self.pad = dict(zip(axes, margin_padding(x.shape, axes, axes_div_by, self.margin)))
        return np.pad(x, tuple(self.pad[a] for a in axes), mode=self.mode)
