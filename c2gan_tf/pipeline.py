"""The training input: augmentation and unpaired tf.data streams, from arrays in memory or memory-mapped."""

import numpy as np
import tensorflow as tf


def augment(patch, seed, n_dim):
    """Random flips and 90-degree rotations of a channels-last patch in its YX plane (TensorFlow ops).

    Rotations are applied only to square YX planes.
    """
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


def patch_stream(X, seed):
    """Endless shuffled ``tf.data`` stream of the patches in ``X``.

    Arrays in memory are sliced by TensorFlow; memory-mapped arrays (:class:`numpy.memmap`, e.g. from
    ``load_training_data(..., mmap=True)``) are read patch by patch in parallel, so they never need to fit in
    memory.
    """
    if not isinstance(X, np.memmap):
        return tf.data.Dataset.from_tensor_slices(X).shuffle(len(X), seed=seed).repeat()

    def read(i):
        return np.asarray(X[i], np.float32)

    shape = X.shape[1:]
    return (tf.data.Dataset.range(len(X)).shuffle(len(X), seed=seed).repeat()
            .map(lambda i: tf.ensure_shape(tf.numpy_function(read, [i], tf.float32, stateful=False), shape),
                 num_parallel_calls=tf.data.AUTOTUNE))


def unpaired_dataset(X_A, X_B, batch_size, n_dim, do_augment=True, seed=None):
    """Endless ``tf.data`` stream of batches ``(x, y)``: patches of A and of B drawn independently.

    Parameters
    ----------
    X_A, X_B : numpy.ndarray
        Channels-last patches of each domain, in memory or memory-mapped; counts may differ.
    batch_size, n_dim : int
    do_augment : bool
        Random flips and rotations (:func:`augment`).
    seed : int or None
    """
    seed = int(np.random.default_rng(seed).integers(2 ** 31))

    def stream(X, offset):
        ds = patch_stream(X, seed + offset)
        if do_augment:
            seeds = tf.data.Dataset.random(seed=seed + offset + 7).batch(2)
            ds = tf.data.Dataset.zip(ds, seeds).map(lambda p, s: augment(p, s, n_dim),
                                                    num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True)

    return tf.data.Dataset.zip(stream(X_A, 0), stream(X_B, 1)).prefetch(tf.data.AUTOTUNE)


def validation_dataset(X_A, X_B, batch_size):
    """Batches ``(x, y)`` of validation patches, paired by index (the first ``min(len(X_A), len(X_B))`` of each)."""
    n = min(len(X_A), len(X_B))
    return tf.data.Dataset.from_tensor_slices((X_A[:n], X_B[:n])).batch(batch_size)
