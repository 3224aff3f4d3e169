"""The training input: augmentation and unpaired tf.data streams, from arrays in memory or memory-mapped."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import functools

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


def stacked_pairs(x, y):
    """One tensor ``(batch, 2, ...)`` holding a batch of A patches and a batch of B patches (same shapes).

    Training batches are single tensors, not ``(x, y)`` tuples: under ``MultiWorkerMirroredStrategy`` Keras 3's
    ``fit`` reduces its first batch across the workers with ``strategy.reduce``, which takes one tensor but fails on
    a tuple (keras-team/keras#20585). :func:`unstacked_pairs` undoes this in the training step.
    """
    return tf.stack([x, y], axis=1)


def unstacked_pairs(batch):
    """The batches ``(x, y)`` of A and B patches held by a batch of :func:`stacked_pairs`."""
    return batch[:, 0], batch[:, 1]


def shuffled_indices(n, seed):
    """Endless ``tf.data`` stream of the indices ``0 .. n-1``, in a new random order in each pass.

    The orders are stateless functions of ``seed`` and the pass, so every iterator of the stream, in any process,
    yields the same sequence (``Dataset.shuffle`` reshuffles for each new iterator, and Keras' ``fit`` under a
    ``tf.distribute`` strategy makes one before training, to build the model).
    """
    def permutation(i):
        order = tf.argsort(tf.random.stateless_uniform((n,), tf.stack([tf.constant(seed, tf.int64), i])))
        return tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64))
    return tf.data.Dataset.counter().flat_map(permutation)


def memmap_reader(X):
    """A TensorFlow function that reads patch ``i`` of the memory-mapped array ``X``."""
    def read(i):
        return np.asarray(X[i], np.float32)
    return lambda i: tf.ensure_shape(tf.numpy_function(read, [i], tf.float32, stateful=False), X.shape[1:])


def pipeline_share(ds, batch_size, context):
    """The elements of the unbatched stream ``ds`` that one input pipeline of a ``tf.distribute`` strategy feeds.

    Its replicas take a batch each per step (``context`` is the :class:`tf.distribute.InputContext` of
    ``Strategy.distribute_datasets_from_function``), so that at every step the replicas of all pipelines together
    hold one global batch of ``batch_size`` consecutive elements of ``ds``: what a single process takes.
    """
    per_pipeline = batch_size // context.num_input_pipelines
    return (ds.batch(per_pipeline, drop_remainder=True).shard(context.num_input_pipelines, context.input_pipeline_id)
            .unbatch())


def unpaired_dataset(X_A, X_B, batch_size, n_dim, do_augment=True, seed=None, skip=0, context=None):
    """Endless ``tf.data`` stream of batches of patches of A and of B, drawn independently (:func:`stacked_pairs`).

    Each domain's patches are shuffled and repeated without end. Arrays in memory are sliced by TensorFlow;
    memory-mapped arrays (:class:`numpy.memmap`, e.g. from ``load_training_data(..., mmap=True)``) are read patch
    by patch in parallel, so they never need to fit in memory.

    Parameters
    ----------
    X_A, X_B : numpy.ndarray
        Channels-last patches of each domain, in memory or memory-mapped; counts may differ.
    batch_size, n_dim : int
        The (global) batch size and the number of spatial dimensions.
    do_augment : bool
        Random flips and rotations (:func:`augment`).
    seed : int or None
    skip : int
        Batches to leave out at the start (a resumed run skips those it has seen), without reading them.
    context : tf.distribute.InputContext or None
        Under ``Strategy.distribute_datasets_from_function``: this input pipeline's share of each global batch
        (:func:`pipeline_share`), in per-replica batches. All replicas of all workers together then train on the
        batches a single process would.
    """
    seed = int(np.random.default_rng(seed).integers(2 ** 31))
    per_replica = batch_size if context is None else context.get_per_replica_batch_size(batch_size)

    def stream(X, offset):
        load = memmap_reader(X) if isinstance(X, np.memmap) else functools.partial(tf.gather, tf.constant(X))
        # each patch is paired with its augmentation seed before any is left out, so that every share agrees
        ds = tf.data.Dataset.zip(shuffled_indices(len(X), seed + offset),
                                 tf.data.Dataset.random(seed=seed + offset + 7).batch(2)).skip(skip * batch_size)
        if context is not None:
            ds = pipeline_share(ds, batch_size, context)
        ds = ds.map(lambda p, s: augment(load(p), s, n_dim) if do_augment else load(p),
                    num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(per_replica, drop_remainder=True)

    return tf.data.Dataset.zip(stream(X_A, 0), stream(X_B, 1)).map(stacked_pairs).prefetch(tf.data.AUTOTUNE)


def validation_dataset(X_A, X_B, batch_size, context=None):
    """Batches of validation patches (:func:`stacked_pairs`), paired by index (the first ``min(len(X_A), len(X_B))``
    of each).

    Under ``tf.distribute`` (``context``, see :func:`unpaired_dataset`) only whole global batches are used, so that
    every replica takes part in every step.
    """
    n = min(len(X_A), len(X_B))
    ds = tf.data.Dataset.from_tensor_slices((X_A[:n], X_B[:n]))
    if context is not None:
        if n < batch_size:
            raise ValueError('%d validation patch pairs are fewer than one batch (%d) of training on %d replicas'
                             % (n, batch_size, context.num_replicas_in_sync))
        ds = pipeline_share(ds.take(n - n % batch_size), batch_size, context)
        batch_size = context.get_per_replica_batch_size(batch_size)
    return ds.batch(batch_size).map(stacked_pairs)


def distributed(make):
    """The dataset ``make(context)`` under the current ``tf.distribute`` strategy: ``make(None)`` when there is none,
    otherwise one per input pipeline, through ``Strategy.distribute_datasets_from_function`` (Keras' ``fit`` takes
    it as it is; a plain dataset it would split itself, differently on several workers)."""
    if not tf.distribute.has_strategy():
        return make(None)
    return tf.distribute.get_strategy().distribute_datasets_from_function(make)
