"""Training of a :class:`c2gan_tf.C2GAN`: the user's side of it (``train``, ``train_or_resume``).

:class:`TrainingMixin` checks the patches, sets what the model knows of each domain, builds the input streams and
hands the epochs to Keras' ``fit``; the networks and ``train_step`` are in :mod:`c2gan_tf.train`, the run's files
in its model folder (checkpoint, state, weights, resume) in :mod:`c2gan_tf.run`.
"""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

from pathlib import Path

import keras
import tensorflow as tf

from . import run
from .calibration import patch_sample
from .config import DOMAINS
from .data import check_patches, training_arrays
from .domains import STATS_FILE, estimate_domain_stats, lowpass_quantiles_of, saliency_of, write_domain_stats
from .pipeline import distributed, unpaired_dataset, validation_dataset
from .train import EpochProgress, dynamic_display, optimizers


class TrainingMixin:
    """``train``, ``train_or_resume`` and their helpers, for :class:`c2gan_tf.C2GAN`.

    They use the model's ``config``, ``trainer``, ``basedir``, ``logdir``, ``domain_stats`` and ``_strategy``.
    """

    @classmethod
    def train_or_resume(cls, folder, X_A, X_B=None, config=None, resume=False, validation_data=None,
                        intensity_stats=None, epochs=None, callbacks=None):
        """Train a new model in a model folder, or resume the run there: the one way the CLI and napari train.

        Parameters
        ----------
        folder : str or pathlib.Path
            The model folder (``BASEDIR/NAME``).
        X_A, X_B, validation_data, callbacks
            As for :meth:`train` (``X_A`` may be a :class:`c2gan_tf.data.UnpairedPatches`).
        config : :class:`c2gan_tf.Config` or None
            The new model's configuration (not with ``resume``, which keeps the folder's).
        resume : bool
            Continue the run in ``folder`` from its last complete epoch (its patches' statistics are in the folder).
        intensity_stats : dict or None
            The patches' intensity statistics, for a new model.
        epochs : int or None
            With ``resume``: train a finished run further, to this many epochs.

        Returns
        -------
        C2GAN
            The trained model.
        """
        folder = Path(folder)
        if resume:
            if config is not None:
                raise ValueError('resume keeps the configuration of the run in %s; give no config' % folder)
            model = cls.from_folder(folder)
            model.train(X_A, X_B, validation_data=validation_data, resume=True, epochs=epochs, callbacks=callbacks)
        else:
            model = cls(config, folder.name, str(folder.parent))
            model.train(X_A, X_B, validation_data=validation_data, epochs=epochs, intensity_stats=intensity_stats,
                        callbacks=callbacks)
        return model

    def prepare_for_training(self, total_steps=None):
        """Compile the trainer: Adam optimizers with the learning-rate schedule over ``total_steps``."""
        c = self.config
        self.trainer.total_steps = total_steps or c.train_epochs * c.train_steps_per_epoch
        # XLA is slower on CPU and the history pool has data-dependent shapes
        self.trainer.compile(*optimizers(c, self.trainer.total_steps), jit_compile=False)
        self.callbacks = []
        summaries = tf.distribute.get_strategy().extended.should_save_summary  # under tf.distribute: the chief's
        if self.basedir is not None and c.train_tensorboard and summaries:
            self.callbacks.append(keras.callbacks.TensorBoard(log_dir=str(self.logdir / 'logs'), write_graph=False,
                                                              profile_batch=0))
        if not dynamic_display():
            self.callbacks.append(EpochProgress())
        self._model_prepared = True

    def train(self, X_A, X_B=None, validation_data=None, epochs=None, steps_per_epoch=None, intensity_stats=None,
              resume=False, callbacks=None, strategy=None):
        """Train all four networks on unpaired patches.

        Parameters
        ----------
        X_A, X_B : numpy.ndarray
            Normalised patches of domain A and of domain B, axes ``S`` + ``config.axes`` (channels last), spatial
            size ``config.train_patch_size``; in memory or memory-mapped. Their counts may differ; nothing pairs
            them. Or ``X_A`` a :class:`c2gan_tf.data.UnpairedPatches` and ``X_B`` None: the patches, their
            validation patches and their intensity statistics in one (then give neither ``validation_data`` nor
            ``intensity_stats``).
        validation_data : tuple(numpy.ndarray, numpy.ndarray) or None
            Patches ``(X_A_val, X_B_val)``. With them, the losses are also reported on validation data
            (``val_*``), with ``val_qc``, the QC score of G on A's validation patches
            (:class:`c2gan_tf.run.ValidationQC`), and the weights with the lowest ``val_select`` (structural loss
            plus how unlike real B patches G(x) looks, :func:`c2gan_tf.losses.selection_score`; or the lowest
            ``val_qc`` with ``config.train_select='val_qc'``; no ground truth needed) are kept as ``weights_best``.
            The model holds (and loads by default) the weights ``config.train_select`` names: the last epoch's
            unless it is ``'val_select'`` or ``'val_qc'``.
        epochs, steps_per_epoch : int or None
            Override the values of the configuration. With ``resume``, ``epochs`` may exceed the run's own to train
            it further (a finished run too; its schedules become those of the longer run).
        intensity_stats : dict or None
            ``{'A': {'low':, 'high':}, 'B': {...}}``, each domain's intensity range (see
            :func:`c2gan_tf.data.create_unpaired_patches`). Stored with the model; by default :meth:`predict`
            maps its output into the target domain's range with them.
        resume : bool
            Continue an interrupted run from its last checkpoint (the end of its last complete epoch): networks,
            optimizers, history pools, schedules and epoch counter, with the run's own ``steps_per_epoch`` (and
            ``epochs``, unless more are given). Load the model with ``C2GAN(None, name, basedir)`` first.
        callbacks : list of keras.callbacks.Callback or None
            More callbacks for Keras' ``fit``.
        strategy : tf.distribute.Strategy or None
            Train on several devices, e.g. ``tf.distribute.MirroredStrategy()`` (all GPUs of one machine) or
            ``tf.distribute.MultiWorkerMirroredStrategy()`` (several machines, each running the same script).
            ``config.train_batch_size`` is the global batch, split evenly over the replicas, which together train on
            the batches a single process would; gradients are averaged over it.

        Returns
        -------
        keras.callbacks.History
            Per epoch (of the whole run, when resumed): the total generator ``loss``, ``adv``, ``cycle``,
            ``identity``, ``struct``, ``disc``, ``dist``, ``select``, ``struct_weight``, ``lr``, ``out_low`` and
            ``out_high`` (the pooled percentiles of G's outputs of a sample of A's patches, from which the output
            calibration follows: :mod:`c2gan_tf.calibration`) and, with validation data, ``val_*``.

        Raises
        ------
        FloatingPointError
            A loss became NaN or infinite: training stops and the networks keep the weights of the last
            complete epoch (also on disk).
        """
        X_A, X_B, validation_data, intensity_stats = training_arrays(X_A, X_B, validation_data, intensity_stats)
        strategy = strategy or tf.distribute.get_strategy()
        with strategy.scope():
            return self._train(X_A, X_B, validation_data, epochs, steps_per_epoch, intensity_stats, resume,
                               callbacks, strategy)

    def _train(self, X_A, X_B, validation_data, epochs, steps_per_epoch, intensity_stats, resume, callbacks,
               strategy):
        c = self.config
        self._use_strategy(strategy)
        X_A, X_B = check_patches(X_A, c, 'X_A'), check_patches(X_B, c, 'X_B')
        val_a, val = self._validation_dataset(validation_data)
        if resume:
            state = self._state_to_resume(epochs, steps_per_epoch)
        else:
            state = run.new_state(c.train_epochs if epochs is None else epochs,
                                  c.train_steps_per_epoch if steps_per_epoch is None else steps_per_epoch)
            self._set_domain_stats(X_A, X_B, intensity_stats)
        epochs, steps_per_epoch = state['epochs'], state['steps_per_epoch']
        self.prepare_for_training(epochs * steps_per_epoch)
        training = run.TrainingRun(self.trainer, c, self.logdir if self.basedir is not None else None, state, resume,
                                   writer=strategy.extended.should_checkpoint)
        # an endless stream: a resumed run skips the batches it has seen, so it sees what an uninterrupted one would
        data = distributed(lambda context: unpaired_dataset(X_A, X_B, c.train_batch_size, c.n_dim, c.train_augment,
                                                            c.train_seed, training.initial_epoch * steps_per_epoch,
                                                            context))
        measure = (run.OutputPercentiles(self.trainer, patch_sample(X_A), c.norm_pmin, c.norm_pmax,
                                         c.train_batch_size),)
        if val is not None:
            measure += (run.ValidationQC(self.trainer, val_a, self.domain_stats.get('B', {}), c.train_batch_size),)
        history = self.trainer.fit(data, validation_data=val,
                                   epochs=epochs, steps_per_epoch=steps_per_epoch,
                                   initial_epoch=training.initial_epoch, shuffle=False,
                                   callbacks=training.callbacks(measure) + self.callbacks + list(callbacks or []),
                                   verbose=1 if dynamic_display() else 0)
        history = training.finish(history)
        self.weights_name = training.weights_name
        held = training.state.get('weights', {}).get(self.weights_name, len(history.history.get('out_low', [])))
        self._calibrate(history.history, held)
        return history

    def _use_strategy(self, strategy):
        """Rebuild the networks and pools in a strategy's scope, with their weights, when it is a new strategy."""
        if self.config.train_batch_size % strategy.num_replicas_in_sync:
            raise ValueError('train_batch_size %d cannot be split evenly over %d replicas'
                             % (self.config.train_batch_size, strategy.num_replicas_in_sync))
        if self._strategy is not strategy:
            self.trainer = self.trainer.rebuilt()
            self.keras_model, self._strategy = self.trainer.G, strategy

    def _validation_dataset(self, validation_data):
        """The validation patches of A and batches of validation patch pairs, or ``(None, None)``."""
        if validation_data is None:
            return None, None
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError('validation_data must be a pair (X_A_val, X_B_val) of patch arrays')
        val_a, val_b = (check_patches(v, self.config, w) for v, w in zip(validation_data, ('X_A_val', 'X_B_val')))
        return val_a, distributed(lambda context: validation_dataset(val_a, val_b, self.config.train_batch_size,
                                                                    context))

    def _set_domain_stats(self, X_A, X_B, intensity_stats):
        """What the model knows of each domain (:func:`c2gan_tf.domains.estimate_domain_stats`: saliency settings,
        automatic where not configured; quantiles, percentiles and intensity ranges of the training data), saved."""
        c = self.config
        self.domain_stats = estimate_domain_stats(dict(A=X_A, B=X_B), {d: c.saliency(d) for d in DOMAINS},
                                                  intensity_stats, c.lowpass_sigma, (c.norm_pmin, c.norm_pmax))
        self.trainer.use_saliency(saliency_of(self.domain_stats))
        self.trainer.use_lowpass_quantiles(lowpass_quantiles_of(self.domain_stats))
        if self.basedir is not None and tf.distribute.get_strategy().extended.should_checkpoint:
            write_domain_stats(self.domain_stats, self.logdir)

    def _state_to_resume(self, epochs, steps_per_epoch):
        if self.basedir is None:
            raise ValueError('resume needs a model folder (basedir), where the checkpoint is')
        state = run.read_state(Path(self.logdir), epochs, steps_per_epoch)
        if not self.domain_stats:
            raise FileNotFoundError('no %s to resume with in %s' % (STATS_FILE, self.logdir))
        return state
