"""C2GAN: the user's model, with CSBDeep's conventions (model folder, ``config=None`` to load, ``predict``)."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import copy
import json
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from csbdeep.data import NoNormalizer, PadAndCropResizer, PercentileNormalizer
from csbdeep.models import CARE
from csbdeep.internals.predict import tile_overlap
from csbdeep.models.base_model import suppress_without_basedir
from csbdeep.utils import axes_check_and_normalize, move_image_axes

from . import run
from .atomic import write_json_atomic
from .config import DOMAINS, Config, UnknownSetting
from .data import check_patches, training_arrays
from .domains import STATS_FILE, estimate_domain_stats, read_domain_stats, saliency_of, write_domain_stats
from .export import ExportMixin
from .folder import CONFIG_FILE, WEIGHTS, other_weights, read_model_config, weights_path
from .io import convert_dtype
from .pipeline import distributed, unpaired_dataset, validation_dataset
from .prepare import check_axes, check_finite, stack_axes, target_range, to_domain_units
from .qc import QC, quality_control
from .train import CycleTrainer, EpochProgress, dynamic_display, optimizers

#: Generator used for each prediction direction.
DIRECTIONS = {'AtoB': 'G', 'BtoA': 'F'}


class DomainNormalizer(PercentileNormalizer):
    """Percentile normalisation of the input; the output is mapped into a domain's stored intensity range.

    ``before`` is CSBDeep's :class:`~csbdeep.data.PercentileNormalizer`; ``after`` maps normalised intensity
    ``v`` to ``low + v * (high - low)``, with ``low`` and ``high`` the typical percentiles of the target domain's
    training images. So an image restored from domain A comes out in domain B's units.

    Parameters
    ----------
    low, high : float
        Target domain's intensities of normalised 0 and 1.
    pmin, pmax : float
        Percentiles normalising the input.
    """

    def __init__(self, low, high, pmin=1.0, pmax=99.8):
        super().__init__(pmin, pmax, do_after=True)
        self.low, self.high = float(low), float(high)

    def after(self, mean, scale, axes):
        return (to_domain_units(mean, self.low, self.high).astype(self.dtype, copy=False),
                None if scale is None else ((self.high - self.low) * scale).astype(self.dtype, copy=False))


class _Network:
    """A generator as CSBDeep's prediction calls it (``predict`` of a batch, or of one tile), through a compiled call
    of the network (one trace for every input size, no ``keras.Model.predict`` input pipeline per call, safe from
    several threads), calling ``callback()`` first when there is one."""

    def __init__(self, call, callback=None):
        self.call, self.callback = call, callback

    def predict(self, x, **kwargs):
        if self.callback is not None:
            self.callback()
        return self.call(tf.convert_to_tensor(x, tf.float32)).numpy()


class C2GAN(ExportMixin, CARE):
    """Content-preserving CycleGAN (c2GAN) for unsupervised image restoration.

    Two U-Net generators, G (A -> B, the restoration) and F (B -> A), and two PatchGAN discriminators, trained on
    unpaired patches of degraded (A) and good (B) images. Used like CSBDeep's :class:`~csbdeep.models.CARE`.

    Parameters
    ----------
    config : :class:`c2gan_tf.Config` or None
        Configuration; ``None`` loads it (and the weights) from ``basedir/name``.
    name : str or None
        Model name; a timestamp by default.
    basedir : str or None
        Folder holding the model folder; ``None`` keeps everything in memory.

    Attributes
    ----------
    trainer : :class:`c2gan_tf.train.CycleTrainer`
        The four networks (``G``, ``F``, ``D_A``, ``D_B``) and the history pools.
    keras_model : keras.Model
        The generator G (A -> B).
    domain_stats : dict
        Per domain (``'A'``, ``'B'``): saliency ``threshold``, ``polarity``, ``steepness``, ``sigma`` used in training,
        and, if given to :meth:`train`, the intensity range ``low``/``high``. Saved as ``domain_stats.json``.
    """

    def __init__(self, config, name=None, basedir='.', weights=None):
        self.domain_stats = {}
        self._weights = weights
        self._calls = {}  # direction: (generator, its compiled call)
        if config is not None:
            if not isinstance(config, Config):
                raise ValueError('config must be a c2gan_tf.Config (or None to load one), got %s'
                                 % type(config).__name__)
            config.check()
        super().__init__(config=config, name=name, basedir=basedir)
        if config is None:
            self._load_domain_stats()

    @classmethod
    def from_folder(cls, folder, weights=None):
        """The model in a model folder (``BASEDIR/NAME``), as ``C2GAN(None, NAME, BASEDIR)`` loads it.

        Parameters
        ----------
        folder : str or pathlib.Path
        weights : str or None
            Weights to load: ``'best'``, ``'last'`` or a file name in the folder; ``None`` (default) loads those
            the model's ``config.train_select`` names (the last epoch, by default).

        Raises
        ------
        FileNotFoundError
            ``folder`` is not a model folder (no ``config.json``), or holds no such weights.
        ValueError
            A file of the folder is damaged; the message names it and the way out.
        """
        folder = Path(folder).resolve()
        read_model_config(folder)  # a missing or damaged config.json, in one line
        return cls(None, folder.name, str(folder.parent), weights=weights)

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
        X_A, X_B, validation_data, intensity_stats = training_arrays(X_A, X_B, validation_data, intensity_stats)
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

    @property
    def _config_class(self):
        return Config

    def _axes_div_by(self, query_axes):
        """What each axis must be a multiple of: ``pool ** unet_n_depth`` along the network's spatial axes."""
        div_by = dict(zip(self.config.axes.replace('C', ''), self.config.div_by()))
        return tuple(div_by.get(a, 1) for a in axes_check_and_normalize(query_axes))

    def _axes_tile_overlap(self, query_axes):
        """The network's receptive field along each axis (CSBDeep's table, for the pooling factor of each axis)."""
        c = self.config
        overlap = {a: tile_overlap(c.unet_n_depth, c.unet_kern_size, p) for a, p in zip(c.axes.replace('C', ''), c.pool())}
        return tuple(overlap.get(a, 0) for a in axes_check_and_normalize(query_axes))

    def _build(self):
        self.trainer = CycleTrainer(self.config)
        self._strategy = tf.distribute.get_strategy()
        return self.trainer.G

    @suppress_without_basedir(warn=False)
    def _set_logdir(self):
        self.logdir = self.basedir / self.name
        if self.config is None:
            self.config = self._loaded_config()
            return
        if self.logdir.exists():
            warnings.warn('model folder %s already exists: training replaces its weights (exports in it no longer '
                          'match them); train(..., resume=True) continues its run instead' % self.logdir.resolve())
        self.logdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(vars(self.config), self.logdir / CONFIG_FILE)

    def _loaded_config(self):
        """The configuration of the model folder, or an error naming ``config.json`` and what is wrong."""
        path = self.logdir / CONFIG_FILE
        settings = read_model_config(self.logdir)
        try:
            config = Config(**settings)
        except UnknownSetting as e:
            raise ValueError('%s: %s (written by a newer version of c2gan_tf?)' % (path, e)) from None
        problems = config.problems()
        if problems:
            raise ValueError('%s: invalid settings: %s' % (path, '; '.join(problems)))
        return config

    @suppress_without_basedir(warn=False)
    def _load_domain_stats(self):
        self.domain_stats = read_domain_stats(self.logdir)
        if self.domain_stats:
            self.trainer.use_saliency(saliency_of(self.domain_stats))

    def _find_and_load_weights(self, prefer='best'):
        path = weights_path(self.logdir, self._weights)
        if path is None:
            warnings.warn('no network weights in %s yet (its run has not completed an epoch)' % self.logdir)
            return
        self.load_weights(str(path.relative_to(Path(self.logdir))))

    @suppress_without_basedir(warn=True)
    def load_weights(self, name='weights_best.weights.h5'):
        """Load the generators' weights (G and F) from a file in the model folder.

        Raises
        ------
        ValueError
            The file cannot be read (damaged); the message names it and the other weight files of the folder.
        """
        path = Path(self.logdir) / name
        try:
            self.trainer.generators().load_weights(str(path))
        except FileNotFoundError:
            raise
        except Exception as e:  # h5py and Keras raise many kinds of errors for a damaged file
            others = other_weights(path)
            short = {file: key for key, file in WEIGHTS.items()}.get(others[0], others[0]) if others else None
            way_out = ('load %s instead (--weights %s, or C2GAN.from_folder(folder, weights=%r))'
                       % (others[0], short, short) if others else 'train the model again with --overwrite')
            raise ValueError('%s cannot be read (%s: %s): the file is damaged; %s'
                             % (path, type(e).__name__, str(e).splitlines()[0] if str(e) else '', way_out)) from None
        self.weights_name = name

    def weights_epoch(self):
        """The training epoch (1-based) whose weights the networks hold, as recorded when they were saved; ``None``
        when unknown (not loaded from a model folder, or a folder of an older version)."""
        name = getattr(self, 'weights_name', None)
        if name is None or self.basedir is None:
            return None
        try:
            with open(Path(self.logdir) / run.STATE_FILE) as f:
                return json.load(f).get('weights', {}).get(name)
        except FileNotFoundError:
            return None

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
            (``val_*``) and the weights with the lowest ``val_select`` (structural loss plus how unlike real B
            patches G(x) looks, :func:`c2gan_tf.losses.selection_score`: no ground truth needed) are kept as
            ``weights_best``. The model holds (and loads by default) the weights ``config.train_select`` names:
            the last epoch's unless it is ``'val_select'``.
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
            ``identity``, ``struct``, ``disc``, ``dist``, ``select``, ``struct_weight`` and ``lr`` (and ``val_*``
            with validation data).

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
        val = self._validation_dataset(validation_data)
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
        history = self.trainer.fit(data, validation_data=val,
                                   epochs=epochs, steps_per_epoch=steps_per_epoch,
                                   initial_epoch=training.initial_epoch, shuffle=False,
                                   callbacks=training.callbacks() + self.callbacks + list(callbacks or []),
                                   verbose=1 if dynamic_display() else 0)
        history = training.finish(history)
        self.weights_name = training.weights_name
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
        """Batches of validation patch pairs, or None."""
        if validation_data is None:
            return None
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError('validation_data must be a pair (X_A_val, X_B_val) of patch arrays')
        val_a, val_b = (check_patches(v, self.config, w) for v, w in zip(validation_data, ('X_A_val', 'X_B_val')))
        return distributed(lambda context: validation_dataset(val_a, val_b, self.config.train_batch_size, context))

    def _set_domain_stats(self, X_A, X_B, intensity_stats):
        """What the model knows of each domain (:func:`c2gan_tf.domains.estimate_domain_stats`: saliency settings,
        automatic where not configured; quantiles and intensity ranges of the training data), saved."""
        self.domain_stats = estimate_domain_stats(dict(A=X_A, B=X_B), {d: self.config.saliency(d) for d in DOMAINS},
                                                  intensity_stats)
        self.trainer.use_saliency(saliency_of(self.domain_stats))
        if self.basedir is not None and tf.distribute.get_strategy().extended.should_checkpoint:
            write_domain_stats(self.domain_stats, self.logdir)

    def _state_to_resume(self, epochs, steps_per_epoch):
        if self.basedir is None:
            raise ValueError('resume needs a model folder (basedir), where the checkpoint is')
        state = run.read_state(Path(self.logdir), epochs, steps_per_epoch)
        if not self.domain_stats:
            raise FileNotFoundError('no %s to resume with in %s' % (STATS_FILE, self.logdir))
        return state

    def default_normalizer(self, direction='AtoB'):
        """The normalizer :meth:`predict` uses by default.

        The input is normalised with percentiles ``config.norm_pmin``/``norm_pmax``; the output is mapped into
        the target domain's stored intensity range (:class:`DomainNormalizer`), or, when the model has no
        intensity statistics, back into the input's own range (CSBDeep's default).
        """
        target = target_range(self.domain_stats, direction)
        if target is not None:
            return DomainNormalizer(*target, self.config.norm_pmin, self.config.norm_pmax)
        warnings.warn('the model has no intensity statistics of domain %s: the output is mapped into the '
                      "input's intensity range instead" % ('B' if direction == 'AtoB' else 'A'))
        return PercentileNormalizer(self.config.norm_pmin, self.config.norm_pmax, do_after=True)

    def predict(self, img, axes, normalizer=None, resizer=PadAndCropResizer(), n_tiles=None, direction='AtoB',
                dtype='float32', callback=None, return_qc=False):
        """Restore an image (A -> B), or degrade one (B -> A).

        Parameters
        ----------
        img : numpy.ndarray
            Raw input image.
        axes : str
            Axes of ``img``, e.g. ``'YX'``, ``'ZYX'``, ``'CYX'``.
        normalizer : :class:`csbdeep.data.Normalizer` or None
            ``None`` uses :meth:`default_normalizer` (output in the target domain's units); any CSBDeep
            normalizer can be given, as to ``CARE.predict``.
        resizer : :class:`csbdeep.data.Resizer` or None
            Pads the image to multiples of ``config.div_by()`` and crops the result.
        n_tiles : tuple of int or None
            Tiles per axis of ``img``; tiled and whole-image predictions agree.
        direction : str
            ``'AtoB'`` (G, restoration, default) or ``'BtoA'`` (F).
        dtype : str or numpy.dtype
            Data type of the result: ``'float32'`` (default), ``'uint16'``, ``'uint8'``, ``'same'`` (that of
            ``img``) or any NumPy type. Integer types get rounded values clipped to the type's range, with a
            warning that gives the fraction of pixels clipped (see :func:`c2gan_tf.io.convert_dtype`).
        callback : callable or None
            Called as ``callback()`` before each tile (of each plane of a stack) goes through the network, for
            progress; an exception it raises stops the prediction (a Cancel button).
        return_qc : bool
            Also return where the restoration may have changed content (``direction='AtoB'`` only): a
            :class:`c2gan_tf.qc.QC` with a per-pixel map (0 kept to 1 changed, the image's axes but channels)
            and a summary (fraction of area changed, cycle residual, distance of the output's intensities to
            domain B's), from the saliency masks of input and output and the cycle residual ``F(G(x)) - x``;
            see :mod:`c2gan_tf.qc`. It runs F as well as G.

        Returns
        -------
        numpy.ndarray or (numpy.ndarray, QC)
            Image with the axes of ``img`` (and the QC with ``return_qc``).
        """
        self._generator(direction)  # a valid direction
        img = np.asarray(img)
        axes = check_axes(img.shape, axes, self.config.axes, self.config.n_channel_in)
        check_finite(img, 'input image')
        if normalizer is None:
            normalizer = self.default_normalizer(direction)
        if return_qc:
            if direction != 'AtoB':
                raise ValueError("return_qc is for restorations (direction='AtoB')")
            restored, qc = self._predict_with_qc(img, axes, normalizer, resizer, n_tiles, callback)
        else:
            restored = self._predict_network(img, axes, normalizer, resizer, n_tiles, direction, callback)
        restored, clipping = convert_dtype(restored, dtype, like=img.dtype)
        if clipping.fraction > 0:
            warnings.warn('restored image converted to %s' % clipping, stacklevel=2)
        return (restored, qc) if return_qc else restored

    def _predict_network(self, img, axes, normalizer, resizer, n_tiles, direction, callback):
        """One generator's prediction (whole, tiled or plane by plane), with a normaliser's before and after."""
        view = self._view(direction, callback)
        loop = stack_axes(axes, img.ndim, self.config.axes)
        if loop:
            return view._predict_planes(img, axes, loop, normalizer, resizer, n_tiles)
        return CARE.predict(view, img, axes, normalizer=normalizer, resizer=resizer, n_tiles=n_tiles)

    def _view(self, direction, callback=None):
        """This model as CSBDeep's prediction uses it with the generator of ``direction`` as its ``keras_model``: a
        shallow copy, so that a prediction changes nothing of ``self`` (predictions may run in several threads)."""
        net = self._generator(direction)
        cached = self._calls.get(direction)
        if cached is None or cached[0] is not net:  # new networks (a model trained or loaded again)
            cached = self._calls[direction] = (net, tf.function(lambda x: net(x, training=False),
                                                                reduce_retracing=True))
        view = copy.copy(self)
        view.keras_model = _Network(cached[1], callback)
        return view

    def _predict_with_qc(self, img, axes, normalizer, resizer, n_tiles, callback):
        """The restoration and its :class:`c2gan_tf.qc.QC`: G and F on the normalised input, the normaliser's
        ``after`` on G's output (as without QC)."""
        x = normalizer.before(img.astype(np.float32, copy=False), axes)
        y = self._predict_network(x, axes, NoNormalizer(), resizer, n_tiles, 'AtoB', callback)
        cycle = self._predict_network(y, axes, NoNormalizer(), resizer, n_tiles, 'BtoA', callback)
        restored = normalizer.after(y, None, axes)[0] if normalizer.do_after else y
        if 'C' in axes:
            x, y, cycle = (v.mean(axis=axes.index('C')) for v in (x, y, cycle))
        map_axes = axes.replace('C', '')
        spatial = [i for i, a in enumerate(map_axes) if a in self.config.axes]
        saliency, quantiles = self.trainer.saliency, self.domain_stats.get('B', {}).get('quantiles')
        qmap, summary = quality_control(x, y, cycle, saliency['A'], saliency['B'], spatial, quantiles)
        return restored, QC(qmap, map_axes, summary)

    def _predict_planes(self, img, axes, loop, normalizer, resizer, n_tiles):
        """Restore a stack or movie plane by plane (each an image of the network's axes; ``loop``: the other axes),
        normalised as a whole.

        The normaliser's ``before`` sees the whole stack (one set of percentiles, so intensities do not flicker
        from plane to plane), each plane is predicted on its own, and ``after`` maps the whole result.
        """
        plane_axes = ''.join(a for a in axes if a not in loop)
        x = move_image_axes(img, axes, loop + plane_axes)
        x = normalizer.before(x, loop + plane_axes)
        tiles = None if n_tiles is None else tuple(n for a, n in zip(axes, n_tiles) if a not in loop)
        planes = x.reshape((-1,) + x.shape[len(loop):])
        y = np.stack([CARE.predict(self, p, plane_axes, normalizer=NoNormalizer(), resizer=resizer, n_tiles=tiles)
                      for p in planes])
        y = y.reshape(x.shape[:len(loop)] + y.shape[1:])
        if normalizer.do_after:
            y = normalizer.after(y, None, loop + plane_axes)[0]
        return move_image_axes(y, loop + plane_axes, axes)

    def _generator(self, direction):
        if direction not in DIRECTIONS:
            raise ValueError("direction must be one of %s, got %r" % (sorted(DIRECTIONS), direction))
        return getattr(self.trainer, DIRECTIONS[direction])
