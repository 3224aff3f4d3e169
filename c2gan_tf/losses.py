"""Losses of c2GAN as plain functions (docs/method.md).

Images are channels-last tensors ``(batch, [Z,] Y, X, C)`` of normalised intensities. Every function works on
numpy arrays and on TensorFlow tensors (in graph mode too) and returns a scalar.
"""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import numpy as np
from keras import ops

from .config import DOMAINS


def lsgan_discriminator_loss(d_real, d_fake):
    """Least-squares GAN loss of a discriminator: ``((D(real) - 1)^2 + D(fake)^2) / 2``, averaged."""
    return 0.5 * (ops.mean(ops.square(d_real - 1.0)) + ops.mean(ops.square(d_fake)))


def lsgan_generator_loss(d_fake):
    """Least-squares GAN loss of a generator: ``(D(G(x)) - 1)^2``, averaged."""
    return ops.mean(ops.square(d_fake - 1.0))


def l1(a, b):
    """Mean absolute difference."""
    return ops.mean(ops.abs(a - b))


def cycle_loss(real_a, rec_a, real_b, rec_b):
    """Cycle consistency ``|F(G(x)) - x|_1 + |G(F(y)) - y|_1`` (unweighted)."""
    return l1(rec_a, real_a) + l1(rec_b, real_b)


def identity_loss(real_a, same_a, real_b, same_b):
    """Identity loss ``|G(y) - y|_1 + |F(x) - x|_1`` (unweighted); ``same_b = G(y)``, ``same_a = F(x)``."""
    return l1(same_b, real_b) + l1(same_a, real_a)


def quantile_map(v, q_from, q_to):
    """Monotone intensity transfer: ``v`` mapped piecewise linearly from the quantiles ``q_from`` to ``q_to``.

    The same as ``numpy.interp(v, q_from, q_to)`` (values outside ``q_from`` clip to the ends of ``q_to``), made of
    Keras operations, repeated quantiles (a plateau, such as a background of zeros) included.
    """
    q_from, q_to = ops.convert_to_tensor(q_from, 'float32'), ops.convert_to_tensor(q_to, 'float32')
    n = q_from.shape[0]
    flat = ops.reshape(v, (-1,))
    hi = ops.clip(ops.searchsorted(q_from, flat, side='right'), 1, n - 1)
    x0, x1 = ops.take(q_from, hi - 1), ops.take(q_from, hi)
    y0, y1 = ops.take(q_to, hi - 1), ops.take(q_to, hi)
    w = ops.clip((flat - x0) / ops.maximum(x1 - x0, 1e-12), 0.0, 1.0)
    return ops.reshape(y0 + w * (y1 - y0), ops.shape(v))


def lowpass_loss(real_a, fake_b, real_b, fake_a, sigma, transfer):
    """Low-frequency fidelity: ``mean|g(G(x)) - T_AB(g(x))| + mean|g(F(y)) - T_BA(g(y))|``.

    ``g`` is a Gaussian of ``sigma`` pixels (over the channel mean) and ``T_AB`` a map of domain A's smoothed
    intensities onto domain B's: a restoration may remove noise and sharpen, which leave the low frequencies as
    they are, but not move intensities of whole regions (brighten a nucleus, add a blob to the background).

    Parameters
    ----------
    transfer : dict, str, callable or None
        ``{'A': [...], 'B': [...]}``: equally spaced quantiles of each domain's smoothed training patches, ``T_AB``
        the monotone transfer between them (:func:`quantile_map`; ``T_BA`` its inverse); ``'affine'``: ``T`` the
        affine map of each image's smoothed input that fits its smoothed output best (:func:`affine_fit`), so
        brightness and contrast may change but not the shape of the tone curve; ``'affine-batch'``: one such map
        for the whole batch (an image may not be brightened apart from the others); a callable
        ``transfer(source, output, domain)``: the target of the smoothed ``output`` in ``domain`` ('B' for G's,
        'A' for F's), from the smoothed ``source`` (such as an affine map fitted over many batches,
        :class:`c2gan_tf.train.RunningAffine`); ``None``: ``T`` the identity (for domains whose normalised
        intensities already agree).
    """
    def smooth(img):
        return gaussian_smooth(ops.mean(img, axis=-1), sigma)
    lo_a, lo_b, lo_fake_b, lo_fake_a = smooth(real_a), smooth(real_b), smooth(fake_b), smooth(fake_a)
    if isinstance(transfer, str):
        if transfer not in ('affine', 'affine-batch'):
            raise ValueError("transfer=%r (quantiles, 'affine', 'affine-batch', a callable or None)" % transfer)
        per_image = transfer == 'affine'
        target_b, target_a = affine_fit(lo_a, lo_fake_b, per_image), affine_fit(lo_b, lo_fake_a, per_image)
    elif callable(transfer):
        target_b, target_a = transfer(lo_a, lo_fake_b, 'B'), transfer(lo_b, lo_fake_a, 'A')
    elif transfer is not None:
        target_b = quantile_map(lo_a, transfer['A'], transfer['B'])
        target_a = quantile_map(lo_b, transfer['B'], transfer['A'])
    else:
        target_b, target_a = lo_a, lo_b
    return l1(lo_fake_b, ops.stop_gradient(target_b)) + l1(lo_fake_a, ops.stop_gradient(target_a))


def affine_fit(source, target, per_image=True, eps=1e-6):
    """``a * source + b``, with ``a, b`` of least squares to ``target``: per image (first axis) or one pair for all.

    ``a = cov(source, target) / (var(source) + eps)``: on a flat ``source`` the fit tends to ``target``'s mean.
    """
    return affine_map(source, affine_moments(source, target, per_image), eps)


def affine_moments(source, target, per_image=False):
    """The moments an affine fit of ``target`` on ``source`` needs: means of ``s``, ``t``, ``s * s``, ``s * t``.

    Stacked on a new first axis; each is one number (``per_image=False``) or one per image (the first axis of
    ``source``, kept with the other axes as length one). Means of moments over batches are the moments of all.
    """
    axes = tuple(range(1 if per_image else 0, len(source.shape)))

    def mean(v):
        return ops.mean(v, axis=axes, keepdims=per_image)
    return ops.stack([mean(source), mean(target), mean(source * source), mean(source * target)])


def affine_map(source, moments, eps=1e-6):
    """``a * (source - mean_s) + mean_t``: the least-squares affine fit that ``moments`` (:func:`affine_moments`)
    describe, applied to ``source`` (``a = cov / (var + eps)``)."""
    ms, mt, mss, mst = moments[0], moments[1], moments[2], moments[3]
    a = (mst - ms * mt) / (ops.maximum(mss - ms * ms, 0.0) + eps)
    return a * (source - ms) + mt


def gaussian_kernel(sigma, truncate=3.0):
    """Normalised 1D Gaussian kernel of standard deviation ``sigma`` and radius ``round(truncate * sigma)``."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_smooth(v, sigma):
    """Gaussian smoothing of ``v`` (axes: batch, then spatial) along every spatial axis, borders mirrored.

    The same as ``scipy.ndimage.gaussian_filter(v, (0,) + (sigma,) * n, mode='reflect', truncate=3)`` (up to
    float32 rounding), but made of Keras operations, so gradients flow through it. ``sigma=0`` returns ``v``.
    """
    if not sigma:
        return v
    k = gaussian_kernel(sigma)
    n = len(v.shape) - 1
    x = ops.expand_dims(v, -1)
    for axis in range(n):
        size = x.shape[axis + 1]
        r = len(k) // 2 if size is None else min(len(k) // 2, size - 1)  # a mirror cannot be wider than the image
        kernel = k[len(k) // 2 - r:len(k) // 2 + r + 1]
        kernel = kernel / kernel.sum()
        pad = [(0, 0)] * (n + 2)
        pad[axis + 1] = (r, r)
        shape = [1] * n + [1, 1]
        shape[axis] = len(kernel)
        x = ops.conv(ops.pad(x, pad, mode='symmetric'), kernel.reshape(shape), padding='valid')
    return x[..., 0]


def saliency_mask(img, threshold, polarity, steepness, sigma=0.0):
    """Soft foreground mask ``sigmoid(k * s * (g(v) - t))`` of the smoothed channel mean ``g(v)`` of an image.

    Smoothing (a Gaussian of ``sigma`` pixels) first makes the mask describe structure rather than noise: on a
    noisy image, per-pixel masks follow the noise, and a generator that keeps the noise scores best.

    Parameters
    ----------
    img : tensor
        Channels-last image(s) of normalised intensities, with a batch axis.
    threshold, polarity, steepness : float
        The threshold ``t``, polarity ``s`` (+1: bright foreground) and steepness ``k`` of the image's domain.
    sigma : float
        Standard deviation of the Gaussian smoothing in pixels (0: none).

    Returns
    -------
    tensor
        The mask, shaped like ``img`` without its channel axis, values in (0, 1).
    """
    v = gaussian_smooth(ops.mean(img, axis=-1), sigma)
    return ops.sigmoid(steepness * polarity * (v - threshold))


def fixed_saliency(threshold=0.5, polarity=1, steepness=20.0, sigma=0.0):
    """The same saliency settings for both domains (to drive a trainer directly, without data to estimate them)."""
    return {d: dict(threshold=float(threshold), polarity=int(polarity), steepness=float(steepness),
                    sigma=float(sigma)) for d in DOMAINS}


def structural_loss(real_a, fake_b, real_b, fake_a, saliency_a, saliency_b):
    """Structural (saliency) loss ``mean|S_A(x) - S_B(G(x))| + mean|S_B(y) - S_A(F(y))|``.

    Each image is masked with the settings of the domain it belongs to: the real ``x`` and the generated
    ``F(y)`` with domain A's, the real ``y`` and the generated ``G(x)`` with domain B's.

    Parameters
    ----------
    real_a, fake_b : tensor
        ``x`` from domain A and ``G(x)``.
    real_b, fake_a : tensor
        ``y`` from domain B and ``F(y)``.
    saliency_a, saliency_b : dict
        ``threshold``, ``polarity``, ``steepness`` and (optionally) ``sigma`` of domain A and of domain B.
    """
    def mask_a(img):
        return saliency_mask(img, **saliency_a)

    def mask_b(img):
        return saliency_mask(img, **saliency_b)

    return l1(mask_a(real_a), mask_b(fake_b)) + l1(mask_b(real_b), mask_a(fake_a))


def _wasserstein(a, b):
    """1-Wasserstein distance of the values of two equally sized tensors (mean difference of their sorted values)."""
    return l1(ops.sort(ops.reshape(a, (-1,))), ops.sort(ops.reshape(b, (-1,))))


def distribution_distance(a, b):
    """How unlike two equally sized batches of images look, without pairing them: checkpoint selection.

    The 1-Wasserstein distance of their intensities plus, averaged over the spatial axes, that of the magnitudes of
    their finite differences (texture: noise, or its absence). For ``a = G(x)`` and ``b`` real domain-B patches
    this needs no ground truth; :func:`selection_score` adds the structural loss to it.
    """
    n = len(a.shape) - 2
    texture = [_wasserstein(ops.abs(ops.diff(a, axis=i)), ops.abs(ops.diff(b, axis=i))) for i in range(1, n + 1)]
    return _wasserstein(a, b) + sum(texture) / n


def selection_score(struct, dist):
    """Checkpoint selection without ground truth, on held-out patches: ``struct + dist``.

    A restoration must look like real domain-B images (``dist``, :func:`distribution_distance` of G(x) and y) and
    keep the content of its input (``struct``, the structural loss). Each alone fails: the structural loss is
    smallest near the identity, and the distribution distance cannot see content that was changed (on W2S,
    plain CycleGAN's last epochs matched B's intensities and texture while losing 3 dB). The cycle loss is left
    out: it is 0 at the identity and rose as the generators learned.
    """
    return struct + dist
