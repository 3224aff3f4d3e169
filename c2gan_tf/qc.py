"""Where to trust a restoration, without ground truth: a per-pixel map of content change, and a summary.

A GAN may invent or remove structure. c2GAN has what it takes to show where, without ground truth:

- **structure change** ``|S_A(x) - S_B(G(x))|``: the saliency masks of the input (with domain A's settings) and of
  the restoration (with domain B's), as the structural loss compares them, smoothed as there; 0 where both agree
  (background in both, or structure in both), 1 where structure is in one only;
- **cycle residual** ``|g * (F(G(x)) - x)|``: what the reverse generator cannot bring back from the restoration,
  smoothed first (``g``, the masks' Gaussian), so that noise, which no generator brings back, averages out; in
  units of the input's normalised range (its 1-99.8 % percentiles span 1).

The **map** joins them as a probability-like score, ``1 - (1 - change) * (1 - min(residual / RESIDUAL_SCALE, 1))``:
0 where the output keeps the input's structure and the cycle closes, 1 where structure appeared or vanished or a
residual of ``RESIDUAL_SCALE`` (a fifth of the input's range) is left. The scale is the same from image to image:
masks and residuals are taken on normalised intensities with the model's fixed settings.

The **summary** of an image: the fraction of its area where the map exceeds 0.5 (``changed_fraction``), the mean
cycle residual, and how far the restoration's intensity distribution is from domain B's training data (the
1-Wasserstein distance between their quantiles, in B's normalised units; ``None`` for models trained before B's
quantiles were stored).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .sampling import draw_patches

#: Cycle residual (normalised units of the input) that counts as a full change in the map.
RESIDUAL_SCALE = 0.2
#: Map values above this count as changed in the summary.
CHANGED = 0.5
#: Quantiles of domain B's normalised training intensities kept with a model (for ``distance_to_b``).
N_QUANTILES = 101
#: Radial frequency bins of the power spectra (for ``spectrum_distance``), from 0 to the Nyquist frequency.
N_BINS = 16
#: Segments (of the training patch shape) whose periodograms are averaged, at most.
MAX_SEGMENTS = 256


def _smooth(v, sigma, spatial):
    """Gaussian smoothing along the ``spatial`` axes only (mirrored borders, as the structural loss smooths)."""
    if not sigma:
        return v
    return ndimage.gaussian_filter(v, [sigma if i in spatial else 0 for i in range(v.ndim)], mode='reflect',
                                   truncate=3.0)


def mask(v, saliency, spatial):
    """Soft saliency mask (:func:`c2gan_tf.losses.saliency_mask`) of an image without channel axis, smoothed along
    its ``spatial`` axes."""
    s = saliency
    g = _smooth(np.asarray(v, np.float32), s['sigma'], spatial)
    return 1 / (1 + np.exp(-np.clip(s['steepness'] * s['polarity'] * (g - s['threshold']), -60, 60)))


def structure_change(x, y, saliency_a, saliency_b, spatial):
    """``|S_A(x) - S_B(y)|`` per pixel: 1 where structure is in the input or the output only."""
    return np.abs(mask(x, saliency_a, spatial) - mask(y, saliency_b, spatial)).astype(np.float32)


def cycle_residual(x, cycle, sigma, spatial):
    """``|g * (F(G(x)) - x)|`` per pixel, in the input's normalised units (noise averages out in the smoothing)."""
    return np.abs(_smooth(np.asarray(cycle, np.float32) - np.asarray(x, np.float32), sigma, spatial))


def qc_map(change, residual, scale=RESIDUAL_SCALE):
    """The map: ``1 - (1 - change) * (1 - min(residual / scale, 1))``, 0 (kept) to 1 (changed)."""
    return (1 - (1 - change) * (1 - np.clip(residual / scale, 0, 1))).astype(np.float32)


def distance_to_quantiles(y, quantiles):
    """1-Wasserstein distance between the values of ``y`` and a distribution given by equally spaced quantiles."""
    q = np.quantile(np.asarray(y, np.float64), np.linspace(0, 1, len(quantiles)))
    return float(np.mean(np.abs(q - np.asarray(quantiles, np.float64))))


def segments(v, shape, spatial, max_segments=MAX_SEGMENTS):
    """Non-overlapping segments of ``shape`` along the ``spatial`` axes of ``v`` (other axes: more segments; the
    remainder at the far borders left out), at most ``max_segments`` of them, evenly spaced; an axis shorter than
    ``shape`` gives its whole length. Returns an array ``(n, *shape)``."""
    v = np.asarray(v, np.float32)
    other = [i for i in range(v.ndim) if i not in spatial]
    v = np.transpose(v, other + list(spatial)).reshape((-1,) + tuple(v.shape[i] for i in spatial))
    shape = [min(int(s), n) for s, n in zip(shape, v.shape[1:])]
    counts = [n // s for s, n in zip(shape, v.shape[1:])]
    v = v[(slice(None),) + tuple(slice(0, c * s) for c, s in zip(counts, shape))]
    split = [v.shape[0]] + [k for c, s in zip(counts, shape) for k in (c, s)]
    order = [0] + [1 + 2 * i for i in range(len(shape))] + [2 + 2 * i for i in range(len(shape))]
    v = v.reshape(split).transpose(order).reshape([-1] + shape)
    if len(v) > max_segments:
        v = v[np.linspace(0, len(v) - 1, max_segments).round().astype(int)]
    return v


def power_spectrum(segs, n_bins=N_BINS):
    """Radially averaged power spectrum (log10) of segments ``(n, *shape)``, Welch-style: the mean periodogram of
    the segments (each with its mean removed and a Hann window), averaged over rings of equal normalised frequency
    (``n_bins`` from 0 to the Nyquist frequency, the zero frequency left out), so that segments of different
    shapes compare; a ring that holds no frequency of the segments' grid (small segments) is NaN."""
    segs = np.asarray(segs, np.float64)
    shape = segs.shape[1:]
    window = np.ones(shape)
    for i, n in enumerate(shape):
        window = window * np.hanning(n + 2)[1:-1].reshape([-1 if j == i else 1 for j in range(len(shape))])
    axes = tuple(range(1, segs.ndim))
    segs = (segs - segs.mean(axis=axes, keepdims=True)) * window
    power = (np.abs(np.fft.fftn(segs, axes=axes)) ** 2).mean(axis=0) / np.sum(window ** 2)
    radius = np.sqrt(sum(f ** 2 for f in np.meshgrid(*[np.fft.fftfreq(n) / 0.5 for n in shape], indexing='ij')))
    bins = np.ceil(radius * n_bins).astype(int).ravel() - 1  # rings (k / n, (k + 1) / n] of the Nyquist frequency
    keep = (bins >= 0) & (bins < n_bins)
    total = np.bincount(bins[keep], power.ravel()[keep], n_bins)
    count = np.bincount(bins[keep], minlength=n_bins)
    filled = count > 0
    ring = np.full(n_bins, np.nan)
    ring[filled] = total[filled] / count[filled]
    return np.log10(np.maximum(ring, 1e-12))


def spectrum_distance(spectrum, reference):
    """Mean absolute difference of two :func:`power_spectrum` results over the rings both have (log10 units: 1 is
    a factor 10 in power), ``None`` without a reference."""
    if reference is None:
        return None
    d = np.abs(np.asarray(spectrum, np.float64) - np.asarray(reference, np.float64))  # None: NaN
    return float(np.nanmean(d)) if np.isfinite(d).any() else None


def summary(qmap, residual, y, b_quantiles=None, b_spectrum=None, segment=None, spatial=None):
    """Per-image summary: ``changed_fraction``, ``cycle_residual`` (mean), ``distance_to_b`` and
    ``spectrum_distance`` (of ``y``'s power spectrum, in segments of the training patch shape ``segment``, to domain
    B's training patches'; ``None`` without ``b_spectrum``)."""
    spectrum = None if b_spectrum is None else power_spectrum(segments(y, segment, spatial), len(b_spectrum))
    return dict(changed_fraction=float(np.mean(qmap > CHANGED)), cycle_residual=float(np.mean(residual)),
                distance_to_b=None if b_quantiles is None else distance_to_quantiles(y, b_quantiles),
                spectrum_distance=spectrum_distance(spectrum, b_spectrum))


def quality_control(x, y, cycle, saliency_a, saliency_b, spatial, b_quantiles=None, return_residual=False,
                    b_spectrum=None, segment=None, crop=None):
    """Map and summary of one restoration, from normalised input ``x``, restoration ``y`` and cycle ``F(y)``, all
    without channel axis (channels averaged); ``spatial``: the indices of the network's spatial axes;
    ``b_quantiles`` and ``b_spectrum``: domain B's (:func:`domain_quantiles`, :func:`domain_spectrum`), with
    ``segment`` the shape of the patches that gave its spectrum; ``crop``: where the arrays are the image padded
    by a margin (:class:`c2gan_tf.prepare.MarginResizer`), the function that crops an array of theirs back to the
    image: the smoothing sees the margin, the map, the residual and the summary are the image's.

    Returns
    -------
    (numpy.ndarray, dict) or (numpy.ndarray, dict, numpy.ndarray)
        The map, the summary and, with ``return_residual``, the cycle residual per pixel (the map's other half;
        block prediction sums it over blocks).
    """
    change = structure_change(x, y, saliency_a, saliency_b, spatial)
    residual = cycle_residual(x, cycle, saliency_a['sigma'], spatial)
    qmap = qc_map(change, residual)
    if crop is not None:
        qmap, residual, y = crop(qmap), crop(residual), crop(y)
    result = qmap, summary(qmap, residual, y, b_quantiles, b_spectrum, segment, spatial)
    return result + (residual,) if return_residual else result


@dataclass
class QC:
    """What :meth:`c2gan_tf.C2GAN.predict` returns with ``return_qc=True`` beside the restoration.

    Attributes
    ----------
    map : numpy.ndarray
        The map (float32, 0 kept to 1 changed), with the image's axes but its channel axis.
    axes : str
        The map's axes.
    summary : dict
        ``changed_fraction``, ``cycle_residual``, ``distance_to_b``, ``spectrum_distance`` (:func:`summary`).
    residual : numpy.ndarray or None
        The smoothed cycle residual per pixel (:func:`cycle_residual`, the map's axes), one of the map's two parts.
    """

    map: np.ndarray
    axes: str
    summary: dict = field(default_factory=dict)
    residual: np.ndarray = None


def domain_quantiles(patches, n=N_QUANTILES, max_patches=1000, seed=0, sigma=0.0):
    """``n`` equally spaced quantiles of a domain's normalised training intensities (channels averaged), kept with a
    model for :func:`distance_to_quantiles`; with ``sigma``, of the patches smoothed by a Gaussian of ``sigma``
    pixels first (for :func:`c2gan_tf.losses.lowpass_loss`)."""
    patches = draw_patches(patches, max_patches, seed)
    values = _smooth(np.asarray(patches, np.float32).mean(axis=-1), sigma, spatial=range(1, np.ndim(patches) - 1))
    return [float(q) for q in np.quantile(values, np.linspace(0, 1, n))]


def domain_spectrum(patches, max_patches=1000, seed=0):
    """:func:`power_spectrum` of a domain's normalised training patches ``(n, *spatial, channels)`` (channels
    averaged), kept with a model for ``spectrum_distance`` (``None`` for a ring without frequencies)."""
    patches = draw_patches(patches, max_patches, seed)
    return [float(v) if np.isfinite(v) else None for v in power_spectrum(np.asarray(patches, np.float32).mean(-1))]


def checkpoint_terms(summaries):
    """:func:`checkpoint_score` of QC summaries (``score``) beside the means of its terms and of the cycle residual
    (``changed_fraction``, ``distance_to_b``, ``spectrum_distance``, ``cycle_residual``; a missing term counts 0)."""
    terms = {k: float(np.mean([s.get(k) or 0.0 for s in summaries]))
             for k in ('changed_fraction', 'distance_to_b', 'spectrum_distance', 'cycle_residual')}
    return dict(score=checkpoint_score(summaries), **terms)


def patches_score(x, y, cycle, saliency_a, saliency_b, b_quantiles=None, b_spectrum=None):
    """The :func:`checkpoint_score` of a generator on normalised patches ``x`` ``(n, *spatial, channels)`` of domain
    A (its outputs ``y``, their cycle ``F(y)``): no ground truth needed. Each patch is a segment of the spectrum."""
    x, y, cycle = (np.asarray(v, np.float32).mean(axis=-1) for v in (x, y, cycle))
    spatial = tuple(range(1, x.ndim))
    _, s = quality_control(x, y, cycle, saliency_a, saliency_b, spatial, b_quantiles, b_spectrum=b_spectrum,
                           segment=x.shape[1:])
    return checkpoint_score([s])


def checkpoint_score(summaries):
    """The no-ground-truth score of a checkpoint from the QC summaries of its restorations (lower is better): the
    mean fraction of area changed, plus the mean distance of the outputs' intensities to domain B's, plus the mean
    distance of their power spectra to B's (where the model keeps B's spectrum; it tells an output that kept the
    input's noise, or smoothed too much, from one with B's texture)."""
    return float(sum(np.mean([s.get(k) or 0.0 for s in summaries])
                     for k in ('changed_fraction', 'distance_to_b', 'spectrum_distance')))
