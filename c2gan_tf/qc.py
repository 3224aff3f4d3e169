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

#: Cycle residual (normalised units of the input) that counts as a full change in the map.
RESIDUAL_SCALE = 0.2
#: Map values above this count as changed in the summary.
CHANGED = 0.5
#: Quantiles of domain B's normalised training intensities kept with a model (for ``distance_to_b``).
N_QUANTILES = 101


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


def summary(qmap, residual, y, b_quantiles=None):
    """Per-image summary: ``changed_fraction``, ``cycle_residual`` (mean) and ``distance_to_b``."""
    return dict(changed_fraction=float(np.mean(qmap > CHANGED)), cycle_residual=float(np.mean(residual)),
                distance_to_b=None if b_quantiles is None else distance_to_quantiles(y, b_quantiles))


def quality_control(x, y, cycle, saliency_a, saliency_b, spatial, b_quantiles=None, return_residual=False):
    """Map and summary of one restoration, from normalised input ``x``, restoration ``y`` and cycle ``F(y)``, all
    without channel axis (channels averaged); ``spatial``: the indices of the network's spatial axes.

    Returns
    -------
    (numpy.ndarray, dict) or (numpy.ndarray, dict, numpy.ndarray)
        The map, the summary and, with ``return_residual``, the cycle residual per pixel (the map's other half;
        block prediction sums it over blocks).
    """
    change = structure_change(x, y, saliency_a, saliency_b, spatial)
    residual = cycle_residual(x, cycle, saliency_a['sigma'], spatial)
    qmap = qc_map(change, residual)
    result = qmap, summary(qmap, residual, y, b_quantiles)
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
        ``changed_fraction``, ``cycle_residual``, ``distance_to_b`` (:func:`summary`).
    residual : numpy.ndarray or None
        The smoothed cycle residual per pixel (:func:`cycle_residual`, the map's axes), one of the map's two parts.
    """

    map: np.ndarray
    axes: str
    summary: dict = field(default_factory=dict)
    residual: np.ndarray = None


def domain_quantiles(patches, n=N_QUANTILES, max_patches=1000, seed=0):
    """``n`` equally spaced quantiles of a domain's normalised training intensities (channels averaged), kept with a
    model for :func:`distance_to_quantiles`."""
    if len(patches) > max_patches:
        patches = patches[np.sort(np.random.default_rng(seed).choice(len(patches), max_patches, replace=False))]
    values = np.asarray(patches, np.float32).mean(axis=-1)
    return [float(q) for q in np.quantile(values, np.linspace(0, 1, n))]


def checkpoint_score(summaries):
    """The no-ground-truth score of a checkpoint from the QC summaries of its restorations (lower is better): the
    mean fraction of area changed plus the mean distance of the outputs' intensities to domain B's."""
    return float(np.mean([s['changed_fraction'] for s in summaries])
                 + np.mean([s['distance_to_b'] or 0.0 for s in summaries]))
