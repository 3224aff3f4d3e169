"""Keras side of training: the history pool, the learning-rate schedule, the cycle trainer, plain progress.

Pure Keras: nothing here reads or writes files (a training run on disk is :mod:`c2gan_tf.run`)."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import numbers
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import losses, schedules
from .config import DOMAINS
from .nets import patchgan_discriminator, seed_weights, unet_generator
from .pipeline import unstacked_pairs

#: Names of the per-step loss metrics reported by :class:`CycleTrainer` (and in the training history): the
#: generators' weighted total, its terms, the discriminators' loss, the distribution distance of G(x) and y
#: (:func:`c2gan_tf.losses.distribution_distance`) and the selection score (:func:`c2gan_tf.losses.selection_score`;
#: ``val_select`` picks ``weights_best``).
LOSS_NAMES = ('loss', 'adv', 'cycle', 'identity', 'lowpass', 'struct', 'disc', 'dist', 'select')


class ImagePool(keras.layers.Layer):
    """History of generated images shown to a discriminator (Shrivastava et al. 2017; CycleGAN).

    Until the pool is full, every image is stored and returned. Then each image is, with probability one half,
    swapped for a random stored one (which is returned, and the new image stored in its place), and otherwise
    returned as it is; images of one batch swap with distinct stored ones. ``size=0`` returns every image
    unchanged; otherwise ``size`` must be at least the (per-replica) batch size. Under ``tf.distribute`` each
    replica has a pool of its own.

    Parameters
    ----------
    size : int
        Number of images kept.
    image_shape : tuple of int
        Shape of one image (spatial axes and channels).
    seed : int or None
        Seed of the random choices.
    """

    def __init__(self, size, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.image_shape = tuple(image_shape)
        self.seed = int(np.random.default_rng(seed).integers(2 ** 31))
        # one pool per replica under tf.distribute (synchronised on read; saved from the first replica)
        local = dict(trainable=False, synchronization='on_read', aggregation='only_first_replica')
        self.images = keras.Variable(keras.initializers.Zeros()((max(self.size, 1),) + self.image_shape),
                                     name='images', **local)
        self.count = keras.Variable(0, dtype='int32', name='count', **local)
        self.calls = keras.Variable(0, dtype='int32', name='calls', **local)
        self.built = True

    def call(self, images):
        if self.size == 0:
            return images
        n = tf.shape(images)[0]
        count, pool = tf.convert_to_tensor(self.count), tf.convert_to_tensor(self.images)
        seeds = tf.random.experimental.stateless_split(tf.stack([self.seed, tf.convert_to_tensor(self.calls)]), 2)
        self.calls.assign_add(1)
        position = count + tf.range(n)
        filling = position < self.size
        swap = tf.logical_and(~filling, tf.random.stateless_uniform((n,), seeds[0]) < 0.5)
        # swaps take distinct slots among those filled before this batch (the pool is at least a batch large)
        slots = tf.range(self.size)
        order = tf.argsort(tf.random.stateless_uniform((self.size,), seeds[1]) + tf.cast(slots >= count, 'float32'))
        random_index = tf.gather(order, tf.range(n) % tf.maximum(count, 1))
        index = tf.where(filling, position, random_index)
        stored = tf.gather(pool, tf.minimum(index, self.size - 1))
        expand = (slice(None),) + (None,) * len(self.image_shape)
        out = tf.where(swap[expand], stored, images)
        write = tf.logical_or(filling, swap)
        self.images.assign(tf.tensor_scatter_nd_update(
            pool, tf.boolean_mask(index, write)[:, None], tf.boolean_mask(images, write)))
        self.count.assign(tf.minimum(count + n, self.size))
        return out


class RunningAffine(keras.layers.Layer):
    """The affine map of the low-pass loss fitted over the last images seen: a running mean of each batch's moments.

    Each call fits ``output`` on ``source`` (:func:`c2gan_tf.losses.affine_moments`, one fit per domain) with the
    moments of this batch averaged with those of the batches before it, each image weighted by
    ``exp(-age / window)`` (its age counted in images), and returns the map applied to ``source``. So the map spans
    about ``window`` images whatever the batch size: at a batch of one, the map of one image would let G brighten
    an image apart from the others; a window much longer than that lags behind G while it leaves the identity and
    holds it there. Only calls with ``training=True`` add their batch to the mean. Under ``tf.distribute`` the
    replicas average their batches' moments first, so every replica holds the same map.
    """

    def __init__(self, window=16, **kwargs):
        super().__init__(**kwargs)
        self.window = float(window)
        local = dict(trainable=False, synchronization='on_read', aggregation='only_first_replica')
        # a row per domain (DOMAINS): the weighted sums of the moments, then the sum of the weights
        self.sums = keras.Variable(np.zeros((len(DOMAINS), 5), 'float32'), name='sums', **local)
        self.built = True

    def call(self, source, output, domain, training=False):
        moments = tf.stop_gradient(losses.affine_moments(source, output))
        n = tf.cast(tf.shape(source)[0], 'float32')
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            moments = context.all_reduce('MEAN', moments)
            n = n * context.num_replicas_in_sync
        row = DOMAINS.index(domain)
        sums = ops.exp(-n / self.window) * self.sums[row] + n * ops.concatenate([moments, ops.ones((1,))])
        if training:
            self.sums.assign(tf.tensor_scatter_nd_update(self.sums, [[row]], sums[None]))
        return losses.affine_map(source, sums[:4] / sums[4])

    def weight(self, domain):
        """The sum of the weights of the images in the mean of ``domain`` (``'A'`` or ``'B'``)."""
        return self.sums[DOMAINS.index(domain), 4]


class Generators(keras.Model):
    """G and F of a trainer as one Keras object: what the weights files of a model folder hold.

    Prediction, export and fine-tuning need the generators only; the discriminators, history pools and optimizers
    (several times the generators' size) stay in the training checkpoint. A weights file of all four networks
    (written by earlier versions) loads into it too: the other networks' entries are not read.
    """

    def __init__(self, G, F, **kwargs):
        super().__init__(**kwargs)
        self.G, self.F = G, F
        self.built = True


def optimizers(config, total_steps):
    """The generators' and the discriminators' Adam optimizers, with the learning-rate schedule over ``total_steps``
    (and loss scaling when ``config.train_mixed_precision``)."""
    def adam():
        lr = LearningRate(config.train_learning_rate, total_steps, config.train_lr_decay, config.train_lr_decay_start)
        optimizer = keras.optimizers.Adam(lr, beta_1=config.train_beta_1)
        return keras.optimizers.LossScaleOptimizer(optimizer) if config.train_mixed_precision else optimizer
    return adam(), adam()


def replica_share(loss):
    """A replica's share of a loss: gradients are summed over the replicas of a ``tf.distribute`` strategy, so
    each replica's mean loss is divided by their number (the global batch's mean loss results)."""
    return loss / tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, loss.dtype)


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Keras wrapper of :func:`c2gan_tf.schedules.learning_rate`."""

    def __init__(self, initial, total_steps, decay='linear', decay_start=0.5):
        self.initial, self.total_steps, self.decay, self.decay_start = initial, total_steps, decay, decay_start

    def __call__(self, step):
        return schedules.learning_rate(step, self.initial, self.total_steps, self.decay, self.decay_start)

    def get_config(self):
        return dict(initial=self.initial, total_steps=self.total_steps, decay=self.decay,
                    decay_start=self.decay_start)


class CycleTrainer(keras.Model):
    """Holds G (A->B), F (B->A), D_A, D_B and the history pools; trains them with a custom ``train_step``.

    Batches hold unrelated patches ``x`` from domain A and ``y`` from domain B, stacked into one tensor
    (:func:`c2gan_tf.pipeline.stacked_pairs`).

    Parameters
    ----------
    config : :class:`c2gan_tf.Config`
    saliency : dict or None
        ``{'A': {...}, 'B': {...}}``: threshold, polarity, steepness and sigma of each domain's saliency mask
        (see :meth:`use_saliency`); ``None`` until they are known (training sets them from the data).
    total_steps : int
        Steps of the whole training run (sets the decays of the learning rate and the structural weight).
    """

    def __init__(self, config, saliency=None, total_steps=1, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.saliency = self.lowpass_quantiles = None
        if saliency is not None:
            self.use_saliency(saliency)
        self.total_steps = int(total_steps)
        self.G = unet_generator(config, 'G_AtoB')
        self.F = unet_generator(config, 'F_BtoA')
        self.D_A = patchgan_discriminator(config, 'D_A')
        self.D_B = patchgan_discriminator(config, 'D_B')
        if config.train_seed is not None:
            for i, net in enumerate((self.G, self.F, self.D_A, self.D_B)):
                seed_weights(net, [config.train_seed, i])
        shape = tuple(config.train_patch_size) + (config.n_channel_in,)
        seed = config.train_seed
        self.pool_A = ImagePool(config.train_pool_size, shape, seed=seed, name='pool_A')
        self.pool_B = ImagePool(config.train_pool_size, shape, seed=None if seed is None else seed + 1,
                                name='pool_B')
        if config.lambda_lowpass > 0 and config.lowpass_transfer == 'affine-running':
            self.lowpass_affine = RunningAffine(config.lowpass_window, name='lowpass_affine')
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_NAMES}
        self.built = True

    def compile(self, gen_optimizer, disc_optimizer, **kwargs):
        # no optimizer of Keras' own (its default, RMSprop, would be built under tf.distribute and saved, unused)
        super().compile(optimizer=None, **kwargs)
        self.gen_optimizer = gen_optimizer
        self.disc_optimizer = disc_optimizer
        # build the optimizers' state now, so that a checkpoint restores into it at once
        gen_optimizer.build(self.G.trainable_variables + self.F.trainable_variables)
        disc_optimizer.build(self.D_A.trainable_variables + self.D_B.trainable_variables)

    def rebuilt(self):
        """This trainer built again (in the current ``tf.distribute`` strategy's scope) with its weights."""
        trainer = CycleTrainer(self.config, self.saliency, self.total_steps)
        trainer.lowpass_quantiles = self.lowpass_quantiles
        trainer.set_weights(self.get_weights())
        return trainer

    def generators(self):
        """G and F as one object to save or load weights (:class:`Generators`)."""
        return Generators(self.G, self.F)

    def use_saliency(self, saliency):
        """Set the saliency masks' settings of both domains (numbers: Python values enter the traced steps)."""
        keys = ('threshold', 'polarity', 'steepness', 'sigma')
        for d in DOMAINS:
            missing = [k for k in keys if not isinstance(saliency.get(d, {}).get(k), numbers.Real)]
            if missing:
                raise ValueError('saliency of domain %s needs numbers for %s' % (d, ', '.join(missing)))
        self.saliency = {d: {k: saliency[d][k] for k in keys} for d in DOMAINS}
        self.train_function = self.test_function = None  # traced with the previous settings

    def use_lowpass_quantiles(self, quantiles):
        """Set each domain's quantiles of smoothed intensities (``{'A': [...], 'B': [...]}``, see
        :func:`c2gan_tf.qc.domain_quantiles` with ``sigma``), which the low-pass loss maps one domain onto the other with."""
        self.lowpass_quantiles = quantiles
        self.train_function = self.test_function = None

    @property
    def metrics(self):
        return list(self.trackers.values())

    def structural_weight(self):
        """Weight of the structural loss at the generators' current step."""
        c = self.config
        tau = c.struct_tau if c.struct_tau is not None else self.total_steps / 6
        return schedules.structural_weight(self.gen_optimizer.iterations, c.struct_rho0, tau, c.struct_decay,
                                           c.struct_floor)

    def generator_losses(self, x, y, training=False):
        """All generator losses of a batch (x from A, y from B), unweighted but for the returned total.

        Returns
        -------
        dict
            ``adv``, ``cycle``, ``identity``, ``struct`` and the weighted total ``loss``, the distribution
            distance ``dist`` of G(x) and y and the selection score ``select`` (neither is trained on), plus the
            generated ``fake_a = F(y)`` and ``fake_b = G(x)``.
        """
        c = self.config
        fake_b, fake_a = self.G(x, training=training), self.F(y, training=training)
        rec_a, rec_b = self.F(fake_b, training=training), self.G(fake_a, training=training)
        out = dict(fake_a=fake_a, fake_b=fake_b)
        out['adv'] = (losses.lsgan_generator_loss(self.D_B(fake_b, training=training))
                      + losses.lsgan_generator_loss(self.D_A(fake_a, training=training)))
        out['cycle'] = losses.cycle_loss(x, rec_a, y, rec_b)
        if c.lambda_identity > 0:
            out['identity'] = losses.identity_loss(x, self.F(x, training=training), y, self.G(y, training=training))
        else:
            out['identity'] = ops.zeros(())
        if c.lambda_lowpass > 0:
            if c.lowpass_transfer == 'quantiles':
                transfer = self.lowpass_quantiles
                if transfer is None or None in transfer.values():
                    raise ValueError("lowpass_transfer='quantiles' needs each domain's quantiles of smoothed "
                                     'intensities (use_lowpass_quantiles); this model has none')
            elif c.lowpass_transfer == 'affine-running':
                def transfer(source, output, domain):
                    return self.lowpass_affine(source, output, domain=domain, training=training)
            else:  # 'affine', 'affine-batch' or 'none' (the identity)
                transfer = None if c.lowpass_transfer == 'none' else c.lowpass_transfer
            out['lowpass'] = losses.lowpass_loss(x, fake_b, y, fake_a, c.lowpass_sigma, transfer)
        else:
            out['lowpass'] = ops.zeros(())
        out['struct'] = losses.structural_loss(x, fake_b, y, fake_a, self.saliency['A'], self.saliency['B'])
        out['loss'] = (out['adv'] + c.lambda_cycle * out['cycle'] + c.lambda_identity * out['identity']
                       + c.lambda_lowpass * out['lowpass']
                       + self.structural_weight() * out['struct'])
        out['dist'] = losses.distribution_distance(ops.stop_gradient(fake_b), y)
        out['select'] = losses.selection_score(out['struct'], out['dist'])
        return out

    def discriminator_loss(self, x, y, fake_a, fake_b, training=False):
        """LSGAN losses of D_A (real x against fake_a) and D_B (real y against fake_b), summed."""
        return (losses.lsgan_discriminator_loss(self.D_A(x, training=training), self.D_A(fake_a, training=training))
                + losses.lsgan_discriminator_loss(self.D_B(y, training=training), self.D_B(fake_b, training=training)))

    def train_step(self, data):
        x, y = unstacked_pairs(data)
        gen_vars = self.G.trainable_variables + self.F.trainable_variables
        with tf.GradientTape() as tape:
            out = self.generator_losses(x, y, training=True)
            scaled = self.gen_optimizer.scale_loss(replica_share(out['loss']))
        self.gen_optimizer.apply_gradients(zip(tape.gradient(scaled, gen_vars), gen_vars))

        fake_a = self.pool_A(tf.stop_gradient(out['fake_a']))
        fake_b = self.pool_B(tf.stop_gradient(out['fake_b']))
        disc_vars = self.D_A.trainable_variables + self.D_B.trainable_variables
        with tf.GradientTape() as tape:
            out['disc'] = self.discriminator_loss(x, y, fake_a, fake_b, training=True)
            scaled = self.disc_optimizer.scale_loss(replica_share(out['disc']))
        self.disc_optimizer.apply_gradients(zip(tape.gradient(scaled, disc_vars), disc_vars))
        logs = self._report(out)
        logs['struct_weight'] = self.structural_weight()
        logs['lr'] = self.gen_optimizer.learning_rate
        return across_workers(logs)

    def test_step(self, data):
        x, y = unstacked_pairs(data)
        out = self.generator_losses(x, y)
        out['disc'] = self.discriminator_loss(x, y, out['fake_a'], out['fake_b'])
        return across_workers(self._report(out))

    def _report(self, out):
        for name, tracker in self.trackers.items():
            tracker.update_state(out[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def across_workers(logs):
    """A training step's logs, shaped for Keras 3's ``fit`` under the current ``tf.distribute`` strategy.

    With a ``MultiWorkerMirroredStrategy`` over several workers, ``fit`` averages each logged value over the
    workers with ``strategy.reduce('MEAN', value, axis=0)``, which fails on a scalar (keras-team/keras#20585), so
    the values get a leading axis of length one, which that reduction removes. Elsewhere they stay scalars.
    """
    strategy = tf.distribute.get_strategy()
    if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)):
        return {name: ops.expand_dims(value, 0) for name, value in logs.items()}
    return logs


def dynamic_display():
    """Whether progress may redraw itself: output to a terminal or a notebook, not to a file or a pipe."""
    import sys
    return (hasattr(sys.stdout, 'isatty') and sys.stdout.isatty()) or 'ipykernel' in sys.modules


class EpochProgress(keras.callbacks.Callback):
    """Plain progress for logs: one line per epoch with its losses, its duration and the time left in the run.

    Parameters
    ----------
    keys : tuple of str
        Log entries printed, where present.
    """

    def __init__(self, keys=('loss', 'adv', 'cycle', 'struct', 'disc', 'val_select')):
        super().__init__()
        self.keys = keys
        self.start = self.first = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first is None:
            self.start, self.first = time.perf_counter(), epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done, epochs = epoch + 1 - self.first, self.params['epochs']
        seconds = (time.perf_counter() - self.start) / done
        values = ', '.join('%s %.4g' % (k, float(logs[k])) for k in self.keys if k in logs)
        print('epoch %d/%d: %s; %.1f s per epoch, ETA %s' % (epoch + 1, epochs, values, seconds,
                                                               _duration(seconds * (epochs - epoch - 1))), flush=True)


def _duration(seconds):
    """``'1 h 02 min'``, ``'3 min 05 s'`` or ``'12 s'``."""
    s = int(round(seconds))
    if s >= 3600:
        return '%d h %02d min' % (s // 3600, s % 3600 // 60)
    return '%d min %02d s' % (s // 60, s % 60) if s >= 60 else '%d s' % s
