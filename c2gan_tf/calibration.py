"""The output calibration: one affine map that brings a generator's normalised outputs into the target domain's
range, fitted without ground truth.

Every training image is normalised by its own ``pmin``/``pmax`` percentiles, so each image of either domain spans
about 0..1, and domain B's typical range maps 0..1 into B's units (:func:`c2gan_tf.prepare.target_range`). A
restoration should span the same 0..1, but a generator may make its outputs brighter or of more contrast than that
(on some sample types c2GAN's restorations reach 1.3 where B's images reach 1; on others they stay at 0.7). The
calibration maps the pooled ``pmin``/``pmax`` percentiles of G's outputs of a sample of A's training patches onto
those of the same patches, G's inputs: a restoration keeps its input's normalised range. (Mapped onto B's patches'
percentiles instead, the calibration went astray where random patches miss the bright structures of one domain's
images more than of the other's: patches do not sample an image's brightest pixels evenly, but G's inputs and
outputs share their patches.) G's outputs are measured after every epoch (:class:`c2gan_tf.run.OutputPercentiles`),
so the map of any kept weights is known (``Config.output_calibration='percentiles'``). The same rule measured on
the image being restored (:func:`image_calibration`, ``'per_image'``, the default) maps its output's own percentiles
onto its input's, which are 0 and 1 after normalisation, so it holds for each image, not on average over A's
patches. Being affine, either changes no structure (normalised PSNR and SSIM are the same), only the units; chosen
on development data (``benchmarks/calibration.py``; ``benchmarks/README.md``).
"""

import numpy as np

from .sampling import draw_patches

#: Largest number of patches (and of pixels or voxels, all together) whose percentiles are taken.
MAX_PATCHES, MAX_VALUES = 256, 2 ** 22


def patch_sample(patches, seed=0):
    """At most :data:`MAX_PATCHES` patches (and :data:`MAX_VALUES` values) drawn at random, in their order, so that
    memory-mapped patches are not read whole."""
    n = max(1, min(MAX_PATCHES, MAX_VALUES // max(1, int(np.prod(patches.shape[1:])))))
    return np.asarray(draw_patches(patches, n, seed), np.float32)


def pooled_percentiles(values, pmin, pmax):
    """``[low, high]``: the ``pmin`` and ``pmax`` percentiles of all ``values`` together (patches ``(n, ...,
    channels)``, channels averaged)."""
    values = np.asarray(values, np.float32)
    return [float(p) for p in np.percentile(values.mean(axis=-1), [pmin, pmax])]


def calibration(output_percentiles, target_percentiles, min_width=1e-3):
    """``(scale, offset)`` of the affine map that takes the outputs' percentiles ``(low, high)`` onto the target's
    (G's inputs');
    ``(1, 0)`` (no change) when the outputs' are nearer than ``min_width`` (a constant output has no contrast to
    calibrate)."""
    (low, high), (to_low, to_high) = output_percentiles, target_percentiles
    if high - low < min_width:
        return 1.0, 0.0
    scale = (to_high - to_low) / (high - low)
    return float(scale), float(to_low - scale * low)


def image_calibration(values, pmin, pmax):
    """``(scale, offset)`` of the per-image calibration: the map that takes the ``pmin`` and ``pmax`` percentiles of
    all of one restoration's normalised ``values`` together (channels too) onto 0 and 1, those of its normalised
    input; ``(1, 0)`` for an output without contrast (:func:`calibration`)."""
    return calibration(np.percentile(np.asarray(values, np.float32), [pmin, pmax]), (0.0, 1.0))


def calibrated_range(low, high, scale, offset):
    """The range ``(low', high')`` with ``low' + v * (high' - low') == low + (scale * v + offset) * (high - low)``:
    a domain's typical range with the calibration folded in, so that every way of mapping outputs into units
    (in-memory prediction, blocks, the exports) applies it alike."""
    width = high - low
    new_low = low + offset * width
    return new_low, new_low + scale * width
