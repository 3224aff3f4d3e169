"""One training run on disk: the model folder's memory while a model trains.

A :class:`TrainingRun` owns everything training writes into the model folder and reads back: the checkpoint
(networks, history pools, optimizers with their step counters, epoch counter), the training state (epochs, steps,
history, the best-weights criterion), the weight files of the generators (``weights_now`` after every epoch,
``weights_best`` when the criterion improves, ``weights_last`` at the end; the epoch each holds is kept in the
state), the roll-back to the last complete epoch when a loss becomes NaN, and the history of the whole run when it
was resumed. Nothing else writes there during training.
"""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import json
import logging
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .atomic import atomic_path, write_json_atomic
from .calibration import calibration, pooled_percentiles
from .folder import SELECTS_BEST, STATE_FILE
from .qc import patches_score

log = logging.getLogger(__name__)

CHECKPOINT_DIR = 'checkpoint'


#: Folder of the weights kept every ``train_save_every`` epochs (for checkpoint QC, ``c2gan qc``).
EPOCHS_DIR = 'epochs'


def epoch_weights(epoch):
    """The name (in the model folder) of the generators' weights kept after an epoch."""
    return '%s/weights_epoch_%04d.weights.h5' % (EPOCHS_DIR, epoch)


def best_monitor(train_select):
    """The log entry whose lowest value chooses ``weights_best``: ``val_qc`` (:class:`ValidationQC`) for a model
    that loads it (``train_select='val_qc'``), else ``val_select`` (:func:`c2gan_tf.losses.selection_score`)."""
    return 'val_qc' if train_select == 'val_qc' else 'val_select'


def save_weights_atomic(model, path):
    """Save Keras weights atomically (see :func:`c2gan_tf.atomic.atomic_path`)."""
    with atomic_path(path) as tmp:
        model.save_weights(tmp)


def finite_logs(logs):
    """Whether every value logged by Keras is finite."""
    return all(np.all(np.isfinite(v)) for v in (logs or {}).values())


def read_state(folder, epochs=None, steps_per_epoch=None):
    """The training state of the run in a model folder, to resume it.

    ``epochs`` (when given) may exceed the run's own, to train a run further: its schedules (learning-rate decay,
    structural weight) are then those of the longer run from the next step on. ``steps_per_epoch`` stays the run's.

    Raises
    ------
    FileNotFoundError
        No training checkpoint in ``folder``.
    ValueError
        ``epochs`` fewer than those done, ``steps_per_epoch`` unlike the run's, or nothing left to train.
    """
    path = folder / STATE_FILE
    if not path.exists() or not (folder / CHECKPOINT_DIR).is_dir():
        raise FileNotFoundError('no training checkpoint to resume in %s' % folder)
    with open(path) as f:
        state = json.load(f)
    if steps_per_epoch is not None and steps_per_epoch != state['steps_per_epoch']:
        raise ValueError('a resumed run keeps its steps per epoch (%d, not %d)'
                         % (state['steps_per_epoch'], steps_per_epoch))
    if epochs is not None:
        if epochs < state['epoch']:
            raise ValueError('the run in %s has done %d epochs already; epochs=%d would end it before that'
                             % (folder, state['epoch'], epochs))
        state['epochs'] = int(epochs)
    if state['epoch'] >= state['epochs']:
        raise ValueError('the run in %s is finished (%d of %d epochs); give more epochs to train it further '
                         '(train(..., resume=True, epochs=N); c2gan train --resume --epochs N)'
                         % (folder, state['epoch'], state['epochs']))
    return state


def new_state(epochs, steps_per_epoch):
    """The training state of a run that has not started: no epoch done, no history (:class:`TrainingRun` adds
    the best-weights criterion, with no value yet)."""
    return dict(epochs=int(epochs), steps_per_epoch=int(steps_per_epoch), epoch=0, history={})


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop training at the first step whose losses are not finite; remember where (``self.where``)."""

    def __init__(self):
        super().__init__()
        self.where = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = [k for k in ('loss', 'disc') if k in (logs or {}) and not np.all(np.isfinite(logs[k]))]
        if bad:
            self.where = (self.epoch + 1, batch + 1, bad)
            self.model.stop_training = True


def apply_in_batches(net, patches, batch_size):
    """A network's outputs of ``patches``, ``batch_size`` at a time, as float32."""
    return np.concatenate([np.asarray(net(patches[i:i + batch_size], training=False), np.float32)
                           for i in range(0, len(patches), batch_size)])


class ValidationQC(keras.callbacks.Callback):
    """After every epoch, log ``val_qc``: the no-ground-truth QC score (:func:`c2gan_tf.qc.patches_score`) of G on
    the validation patches of domain A, with the model's settings and statistics of each domain.

    Parameters
    ----------
    trainer : :class:`c2gan_tf.train.CycleTrainer`
        Its generators and saliency settings.
    patches : numpy.ndarray
        Normalised validation patches of domain A ``(n, *spatial, channels)``.
    domain_b : dict
        Domain B's ``quantiles`` and ``spectrum`` (:mod:`c2gan_tf.domains`).
    batch_size : int
        Patches per network call.
    """

    def __init__(self, trainer, patches, domain_b, batch_size):
        super().__init__()
        self.trainer, self.patches, self.domain_b, self.batch_size = trainer, patches, domain_b, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not finite_logs(logs):  # nothing to record after a NaN
            return
        t = self.trainer
        y = apply_in_batches(t.G, self.patches, self.batch_size)
        logs['val_qc'] = patches_score(self.patches, y, apply_in_batches(t.F, y, self.batch_size), t.saliency['A'],
                                       t.saliency['B'], self.domain_b.get('quantiles'), self.domain_b.get('spectrum'))


class OutputPercentiles(keras.callbacks.Callback):
    """After every epoch, log ``out_low`` and ``out_high``: the pooled percentiles of G's outputs of a fixed sample
    of A's training patches (:func:`c2gan_tf.calibration.pooled_percentiles`; the sample whose own percentiles are
    domain A's ``percentiles``), from which the output calibration of that epoch's weights follows
    (:func:`output_calibration`).

    Parameters
    ----------
    trainer : :class:`c2gan_tf.train.CycleTrainer`
    patches : numpy.ndarray
        Normalised patches of domain A (:func:`c2gan_tf.calibration.patch_sample` of the training patches).
    pmin, pmax : float
        The percentiles (``Config.norm_pmin``, ``norm_pmax``).
    batch_size : int
        Patches per network call.
    """

    def __init__(self, trainer, patches, pmin, pmax, batch_size):
        super().__init__()
        self.trainer, self.patches, self.percentiles, self.batch_size = trainer, patches, (pmin, pmax), batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not finite_logs(logs):
            return
        outputs = apply_in_batches(self.trainer.G, self.patches, self.batch_size)
        logs['out_low'], logs['out_high'] = pooled_percentiles(outputs, *self.percentiles)


def output_calibration(history, epoch, domain_a):
    """The output calibration ``(scale, offset)`` of the generator weights of ``epoch`` (1-based), from a run's
    ``history`` (``out_low``, ``out_high``: G's outputs of A's patches) and domain A's ``percentiles`` (the same
    patches'); ``None`` when either is missing (a run of an older version, or a model folder without domain
    statistics)."""
    lows, highs = (history or {}).get('out_low', []), (history or {}).get('out_high', [])
    if epoch is None or not 0 < epoch <= min(len(lows), len(highs)) or 'percentiles' not in domain_a:
        return None
    return calibration((lows[epoch - 1], highs[epoch - 1]), domain_a['percentiles'])


class EpochEnd(keras.callbacks.Callback):
    """After every epoch with finite losses, record it: :meth:`TrainingRun.epoch_done`."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if finite_logs(logs):  # a broken state is never recorded
            self.run.epoch_done(epoch, logs or {})


class TrainingRun:
    """A training run of a compiled :class:`c2gan_tf.train.CycleTrainer`, recorded in a model folder.

    Parameters
    ----------
    trainer : :class:`c2gan_tf.train.CycleTrainer`
        Compiled (its optimizers exist).
    config : :class:`c2gan_tf.Config`
        Names of the weight files.
    folder : pathlib.Path or None
        The model folder; ``None`` trains in memory (nothing is written; the roll-back keeps weights in memory).
    state : dict
        From :func:`new_state`, or from :func:`read_state` to resume.
    resume : bool
        Restore the checkpoint of ``folder`` and continue after its last complete epoch.
    writer : bool
        Whether this process writes the model folder. Under ``tf.distribute`` on several machines only the chief
        does (``strategy.extended.should_checkpoint``); the other workers do the same, in a temporary folder of
        their own, deleted at the end (TensorFlow's pattern: saving a checkpoint may need every worker).
    """

    def __init__(self, trainer, config, folder, state, resume=False, writer=True):
        self.trainer, self.config, self.state = trainer, config, state
        self._scratch = None
        if folder is not None and not writer:
            self._scratch = tempfile.TemporaryDirectory(prefix='c2gan-worker-')
        self.folder = folder if self._scratch is None else Path(self._scratch.name)
        # no best value yet: a new run, or one whose state was written before the criterion was kept in it
        self.state.setdefault('best', dict(monitor=best_monitor(config.train_select), value=None, epoch=None))
        self.weights_name = None  # the weight file whose weights the trainer holds at the end
        self.stop = StopOnNonFinite()
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._kept = None  # weights of the last complete epoch, in memory (no folder)
        self.manager = None
        if folder is None:
            self._kept = trainer.get_weights()
            return
        checkpoint = tf.train.Checkpoint(trainer=trainer, gen_optimizer=trainer.gen_optimizer,
                                         disc_optimizer=trainer.disc_optimizer, epoch=self._epoch)
        self.manager = tf.train.CheckpointManager(checkpoint, str(self.folder / CHECKPOINT_DIR), max_to_keep=1)
        if resume:
            latest = tf.train.latest_checkpoint(str(folder / CHECKPOINT_DIR))  # the model folder's, on every worker
            checkpoint.restore(latest).assert_existing_objects_matched()
            log.info('Resuming training after epoch %d of %d.', self.initial_epoch, state['epochs'])
        else:
            self.manager.save()  # the starting point, kept if the first epoch fails

    @property
    def initial_epoch(self):
        """Epochs already done (0 for a new run)."""
        return int(self._epoch.numpy())

    def callbacks(self, measure=()):
        """Keras callbacks that record the run: first in the list, so that a NaN stops the others too; those of
        ``measure`` add to an epoch's logs before it is recorded."""
        return [self.stop, *measure, EpochEnd(self)]

    def _path(self, name):
        return None if name is None or self.folder is None else self.folder / name

    def epoch_done(self, epoch, logs):
        """Record a complete epoch (0-based ``epoch``): weights, best weights, checkpoint, then the state file.

        The checkpoint manager removes the previous checkpoint only once the new one is written and recorded, and
        the state file is renamed into place last, so a crash at any moment leaves a complete checkpoint with its
        state.
        """
        c = self.config
        if self.folder is None:
            self._kept = self.trainer.get_weights()
        if self._path(c.train_checkpoint_epoch) is not None:
            save_weights_atomic(self.trainer.generators(), self._path(c.train_checkpoint_epoch))
        best = self.state['best']
        value = logs.get(best['monitor'])
        if value is not None and (best['value'] is None or float(value) < best['value']):
            best.update(value=float(value), epoch=epoch + 1)
            self._save_weights(c.train_checkpoint, epoch + 1)
        if c.train_save_every and (epoch + 1) % c.train_save_every == 0:
            self._save_weights(epoch_weights(epoch + 1), epoch + 1)
        history = self.state['history']
        for key, v in logs.items():
            history.setdefault(key, []).append(float(v))
        self.state['epoch'] = epoch + 1
        self._epoch.assign(epoch + 1)
        if self.manager is not None:
            self.manager.save()
            write_json_atomic(self.state, self.folder / STATE_FILE)

    def finish(self, history):
        """End the run: roll back and raise if a loss became NaN, else write ``weights_last`` and load the best.

        Returns
        -------
        keras.callbacks.History
            ``history``, holding the epochs of the whole run when it was resumed.

        Raises
        ------
        FloatingPointError
            A loss became NaN or infinite; the networks hold the weights of the last complete epoch again.
        """
        try:
            return self._finish(history)
        finally:
            if self._scratch is not None:
                self._scratch.cleanup()

    def _save_weights(self, name, epoch):
        """Write a weights file of the model folder, and remember in the state which epoch it holds."""
        if self._path(name) is not None:
            self._path(name).parent.mkdir(exist_ok=True)
            save_weights_atomic(self.trainer.generators(), self._path(name))
            self.state.setdefault('weights', {})[name] = epoch

    def _finish(self, history):
        c = self.config
        if self.stop.where is not None:
            if self.manager is not None:
                self.manager.checkpoint.restore(self.manager.latest_checkpoint)
            else:
                self.trainer.set_weights(self._kept)
            epoch, step, names = self.stop.where
            raise FloatingPointError(
                'training stopped in epoch %d, step %d: %s became NaN or infinite; the networks keep the weights '
                'of the last complete epoch. Try a lower learning rate, or check the training data.'
                % (epoch, step, ' and '.join(names)))
        if self.folder is None:
            return history
        history.history = self.state['history']
        history.epoch = list(range(self.state['epoch']))
        self._save_weights(c.train_checkpoint_last, self.state['epoch'])
        write_json_atomic(self.state, self.folder / STATE_FILE)
        self.weights_name = c.train_checkpoint_last
        best = self._path(c.train_checkpoint)
        if c.train_select in SELECTS_BEST and best is not None and best.exists():
            log.info("Loading network weights from '%s'.", c.train_checkpoint)
            self.trainer.generators().load_weights(str(self._path(c.train_checkpoint)))
            self.weights_name = c.train_checkpoint
        if self._path(c.train_checkpoint_epoch) is not None:
            self._path(c.train_checkpoint_epoch).unlink(missing_ok=True)
        return history
