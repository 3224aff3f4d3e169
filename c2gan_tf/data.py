"""Training data: normalisation, per-domain statistics, unpaired patch sampling, augmentation, tf.data input."""

import numpy as np
from csbdeep.utils import axes_check_and_normalize, move_image_axes, normalize

from .metrics import otsu_threshold


def to_network_axes(img, axes, config_axes):
    """Move an image's axes to the network's (e.g. ``'YXC'``), adding a channel axis if it has none."""
    axes = axes_check_and_normalize(axes, img.ndim)
    if 'C' not in axes:
        img, axes = img[..., np.newaxis], axes + 'C'
    return move_image_axes(img, axes, config_axes)


def check_finite(img, what='image'):
    """Raise ValueError if an image holds NaN or infinite values."""
    if not np.all(np.isfinite(img)):
        raise ValueError('%s contains NaN or infinite values' % what)


def normalize_images(images, pmin=1.0, pmax=99.8):
    """Percentile-normalise each image on its own (per channel, channels last), as CSBDeep does for training.

    Returns
    -------
    list of numpy.ndarray (float32)
    """
    out = []
    for img in images:
        check_finite(img)
        axis = tuple(range(img.ndim - 1))
        out.append(normalize(img, pmin, pmax, axis=axis))
    return out


def intensity_stats(images, pmin=1.0, pmax=99.8):
    """Typical intensity range of a domain: medians over its images of their ``pmin`` and ``pmax`` percentiles.

    These map normalised network outputs back into a domain's units (see :class:`c2gan_tf.model.DomainNormalizer`).

    Returns
    -------
    dict
        ``{'low': float, 'high': float}``.
    """
    lows, highs = zip(*(np.percentile(np.asarray(img, np.float64), [pmin, pmax]) for img in images))
    return dict(low=float(np.median(lows)), high=float(np.median(highs)))


def auto_saliency(patches, threshold=None, polarity=None, steepness=20.0):
    """Saliency settings of a domain, filling in what is ``None`` from its normalised training patches.

    The threshold is Otsu's on the channel mean; the polarity is +1 (bright foreground) when fewer values lie
    above the threshold than below it, -1 otherwise.
    """
    values = np.asarray(patches, np.float32).mean(axis=-1)
    if threshold is None:
        threshold = otsu_threshold(values)
    if polarity is None:
        polarity = 1 if np.mean(values > threshold) <= 0.5 else -1
    return dict(threshold=float(threshold), polarity=int(polarity), steepness=float(steepness))


def sample_patches(images, patch_size, n_per_image, rng=None, skip_background=True, threshold=0.4,
                   percentile=99.9, max_tries=20):
    """Random patches from images, skipping background-only patches as CSBDeep's ``no_background_patches``.

    A patch counts as foreground when its ``percentile`` exceeds ``threshold`` times the image's maximum of
    that percentile filter, approximated here by the image's own ``percentile``.

    Parameters
    ----------
    images : list of numpy.ndarray
        Channels-last images (normalised), spatial shape at least ``patch_size``.
    patch_size : tuple of int
        Spatial patch shape.
    n_per_image : int
    rng : numpy.random.Generator or None
    skip_background : bool
        Re-draw patches that hold only background (up to ``max_tries`` times each).

    Returns
    -------
    numpy.ndarray
        ``(n_images * n_per_image,) + patch_size + (channels,)``, float32.
    """
    rng = np.random.default_rng(rng)
    patch_size = tuple(patch_size)
    out = []
    for i, img in enumerate(images):
        spatial = img.shape[:-1]
        if len(spatial) != len(patch_size) or any(s < p for s, p in zip(spatial, patch_size)):
            raise ValueError('image %d of shape %s is smaller than the patch size %s' % (i, spatial, patch_size))
        level = threshold * np.percentile(img.mean(axis=-1), percentile)
        for _ in range(n_per_image):
            for _ in range(max_tries if skip_background else 1):
                start = [rng.integers(0, s - p + 1) for s, p in zip(spatial, patch_size)]
                patch = img[tuple(slice(a, a + p) for a, p in zip(start, patch_size))]
                if not skip_background or np.percentile(patch.mean(axis=-1), percentile) > level:
                    break
            out.append(patch)
    return np.stack(out).astype(np.float32, copy=False)


def augment(patch, seed, n_dim):
    """Random flips and 90-degree rotations of a channels-last patch in its YX plane (TensorFlow ops).

    Rotations are applied only to square YX planes.
    """
    import tensorflow as tf
    seeds = tf.random.experimental.stateless_split(seed, 3)
    y_axis, x_axis = n_dim - 2, n_dim - 1
    flip_y = tf.random.stateless_uniform((), seeds[0]) < 0.5
    flip_x = tf.random.stateless_uniform((), seeds[1]) < 0.5
    patch = tf.cond(flip_y, lambda: tf.reverse(patch, [y_axis]), lambda: patch)
    patch = tf.cond(flip_x, lambda: tf.reverse(patch, [x_axis]), lambda: patch)
    if patch.shape[y_axis] == patch.shape[x_axis]:
        k = tf.random.stateless_uniform((), seeds[2], 0, 4, dtype=tf.int32)
        patch = tf.image.rot90(patch, k)  # rotates the last-but-one two axes (Z treated as batch in 3D)
    return patch


def unpaired_dataset(X_A, X_B, batch_size, n_dim, do_augment=True, seed=None):
    """Endless ``tf.data`` stream of batches ``(x, y)``: patches of A and of B drawn independently.

    Parameters
    ----------
    X_A, X_B : numpy.ndarray
        Channels-last patches of each domain; counts may differ.
    """
    import tensorflow as tf
    seed = int(np.random.default_rng(seed).integers(2 ** 31))

    def stream(X, offset):
        ds = tf.data.Dataset.from_tensor_slices(X).shuffle(len(X), seed=seed + offset).repeat()
        if do_augment:
            seeds = tf.data.Dataset.random(seed=seed + offset + 7).batch(2)
            ds = tf.data.Dataset.zip(ds, seeds).map(lambda p, s: augment(p, s, n_dim),
                                                    num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True)

    return tf.data.Dataset.zip(stream(X_A, 0), stream(X_B, 1)).prefetch(tf.data.AUTOTUNE)
