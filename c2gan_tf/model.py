"""C2GAN: the user's model, with CSBDeep's conventions (model folder, ``config=None`` to load, ``predict``)."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import json
import warnings
from pathlib import Path

import tensorflow as tf
from csbdeep.models import CARE
from csbdeep.internals.predict import tile_overlap
from csbdeep.models.base_model import suppress_without_basedir
from csbdeep.utils import axes_check_and_normalize

from . import run
from .atomic import write_json_atomic
from .config import Config, UnknownSetting
from .domains import lowpass_quantiles_of, read_domain_stats, saliency_of
from .export import ExportMixin
from .folder import CONFIG_FILE, WEIGHTS, other_weights, read_model_config, weights_path
from .prediction import PredictionMixin
from .train import CycleTrainer
from .training import TrainingMixin


class C2GAN(TrainingMixin, PredictionMixin, ExportMixin, CARE):
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
    output_calibration : tuple(float, float) or None
        ``(scale, offset)``: the training-time calibration of the weights the model holds
        (:mod:`c2gan_tf.calibration`): the affine map of G's normalised outputs that every restoration goes
        through on its way into domain B's units with ``config.output_calibration='percentiles'``, and the
        bioimage.io package's with ``'per_image'`` (the default, which otherwise calibrates each restoration by
        itself: :meth:`calibrates_per_image`); ``None`` with ``'none'``, or for weights whose outputs were not
        measured.
    """

    def __init__(self, config, name=None, basedir='.', weights=None):
        self.domain_stats = {}
        self.output_calibration = None
        self._weights = weights
        self._calls = {}  # direction: (generator, its compiled call)
        if config is not None:
            if not isinstance(config, Config):
                raise ValueError('config must be a c2gan_tf.Config (or None to load one), got %s'
                                 % type(config).__name__)
            config.check()
        super().__init__(config=config, name=name, basedir=basedir)

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
            self.trainer.use_lowpass_quantiles(lowpass_quantiles_of(self.domain_stats))

    def _find_and_load_weights(self, prefer='best'):
        self._load_domain_stats()  # first: the output calibration of the weights needs them
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
        state = self._training_state()
        self._calibrate(state.get('history'), state.get('weights', {}).get(name))

    def weights_epoch(self):
        """The training epoch (1-based) whose weights the networks hold, as recorded when they were saved; ``None``
        when unknown (not loaded from a model folder, or a folder of an older version)."""
        name = getattr(self, 'weights_name', None)
        return None if name is None else self._training_state().get('weights', {}).get(name)

    def _training_state(self):
        """The training state of the model folder (``{}`` without one)."""
        if self.basedir is None:
            return {}
        try:
            with open(Path(self.logdir) / run.STATE_FILE) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _calibrate(self, history, epoch):
        """Set :attr:`output_calibration` for the generator weights of ``epoch``, as ``config.output_calibration``
        says (:func:`c2gan_tf.run.output_calibration`)."""
        self.output_calibration = None
        if self.config.output_calibration != 'none':
            self.output_calibration = run.output_calibration(history, epoch, self.domain_stats.get('A', {}))
