"""Configuration of a c2GAN model, in the style of CSBDeep's :class:`csbdeep.models.Config`."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import numbers

import numpy as np
from csbdeep.models.config import BaseConfig
from csbdeep.utils import axes_check_and_normalize

#: The two image domains: A (degraded) and B (good).
DOMAINS = ('A', 'B')
#: The settings that make c2GAN plain CycleGAN (Zhu et al. 2017): no structural and no low-pass loss, and
#: restorations as the generator gives them (``Config(axes, **CYCLEGAN)``; the baseline of the benchmarks).
CYCLEGAN = dict(struct_rho0=0.0, lambda_lowpass=0.0, output_lowpass_weight=0.0)


class UnknownSetting(AttributeError, ValueError):
    """A setting that :class:`Config` does not have; the message suggests the nearest names."""

    def __init__(self, names, known):
        import difflib
        hints, guessed = [], True
        for name in names:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append('%r%s' % (name, ' (did you mean %s?)' % close[0] if close else ''))
            guessed = guessed and bool(close)
        listing = '' if guessed else '; the settings are: ' + ', '.join(sorted(known))
        super().__init__('unknown setting%s %s%s' % ('s' if len(names) > 1 else '', ', '.join(hints), listing))


class Config(BaseConfig):
    """Configuration of a :class:`c2gan_tf.C2GAN` model.

    Every attribute can be set as a keyword argument. The configuration is saved as ``config.json`` in the
    model folder and reloads with ``Config(**dict)``.

    Parameters
    ----------
    axes : str
        Axes of the network's images, e.g. ``'YX'``, ``'ZYX'``, ``'YXC'`` (channel axis optional, added last).
    n_channel_in : int
        Channels of domain A images (degraded).
    n_channel_out : int
        Channels of domain B images (good). Must equal ``n_channel_in``: both generators map between the domains.
    kwargs : dict
        Overwrite any attribute listed below.

    Attributes
    ----------
    n_dim : int
        2 or 3, from ``axes``.
    probabilistic : bool
        Always ``False`` (kept for compatibility with CSBDeep's prediction code).
    unet_residual : bool
        Generators add their input to their output. Default: ``True``.
    unet_n_depth, unet_kern_size, unet_n_first : int
        U-Net depth (default 2), kernel size (5 in 2D, 3 in 3D) and filters of the first level (32).
    unet_pool : tuple of int or None
        Pooling factor of the U-Net along each spatial axis (1, 2 or 4), e.g. ``(1, 2, 2)``: no pooling along a
        coarse Z; ``None`` (default) pools by 2 along every axis. The discriminators stride by 2 along the same axes
        only. Images must be multiples of ``pool ** unet_n_depth`` along each axis.
    unet_last_activation : str
        ``'linear'`` (default; nothing saturates) or ``'relu'``.
    disc_n_filters, disc_n_layers, disc_kern_size : int
        PatchGAN discriminator: filters of the first layer (64), strided layers (3 in 2D, the 70x70 PatchGAN; 2 in
        3D, where three let the discriminators win outright and the generators stay at the identity), kernel size
        (4).
    disc_norm : str
        ``'instance'`` (default) or ``'none'``: normalisation in the discriminators.
    lambda_cycle, lambda_identity : float
        Weights of the cycle (10 in 2D, 2 in 3D, where 10 held the generators at the identity; see
        ``benchmarks/recipe_3d.py``) and identity (0) losses.
    lambda_lowpass, lowpass_sigma, lowpass_transfer, lowpass_window : float, float, str, float
        The low-frequency fidelity loss (:func:`c2gan_tf.losses.lowpass_loss`; weight 10 in 2D, off in 3D, where it
        did not help, ``benchmarks/recipe_3d.py``): a restoration keeps its input's intensities smoothed by a Gaussian
        (``lowpass_sigma``, 4 pixels), mapped onto the other domain's by the affine map that fits about the last
        ``lowpass_window`` (16) images best (``lowpass_transfer='affine-running'``, default: the same map whatever the
        batch size, :class:`c2gan_tf.train.RunningAffine`; brightness and contrast may change, the tone curve may
        not), the whole batch best (``'affine-batch'``), each image best (``'affine'``), by the domains' quantiles
        (``'quantiles'``), or as they are (``'none'``), so it cannot brighten a whole region or add one: without it
        the generators overshoot B's intensities on some sample types. Chosen on development data
        (``benchmarks/recipe.py``; ``benchmarks/README.md``, recipe section).
    struct_rho0 : float
        Initial weight of the structural (saliency) loss (5). 0, with no low-pass loss, turns c2GAN into plain
        CycleGAN (:data:`CYCLEGAN`).
    struct_decay : str
        ``'exp'`` (weight ``rho0 * exp(-step / tau)``, default) or ``'constant'``.
    struct_tau : float or None
        Time constant of the decay in steps; ``None`` (default) uses a sixth of all training steps.
    struct_floor : float
        Fraction of ``struct_rho0`` below which the decaying weight never falls (default 0.2; 0: it decays towards
        0 and a trained c2GAN ends as a plain CycleGAN). Chosen on development data (``benchmarks/recipe.py``).
    struct_threshold_A, struct_threshold_B : float or None
        Saliency threshold of each domain on normalised intensities; ``None`` (default) chooses B's by Otsu's
        method on its smoothed training data, and A's so that as large a fraction of A's smoothed training data
        lies above it as of B's above B's: each domain's mask marks its own structure, and both cover alike
        (:func:`c2gan_tf.domains.domains_saliency`).
    struct_polarity_A, struct_polarity_B : int or None
        +1 for bright foreground (fluorescence), -1 for dark; ``None`` (default) chooses one for both domains from
        domain B's data (or takes the other domain's, when that is set): a restoration does not invert contrast.
    struct_steepness_A, struct_steepness_B : float
        Steepness ``k`` of each domain's soft mask per unit of normalised intensity (default 50).
    struct_sigma : float
        Gaussian smoothing (pixels) of images before their saliency masks are taken, in the loss and for the
        automatic thresholds (default 2; 0: per-pixel masks). Without it, masks of noisy images follow the
        noise, and the structural loss rewards a generator that keeps the noise.
    norm_pmin, norm_pmax : float
        Percentiles used to normalise images (1 and 99.8), in training data and by default in prediction.
    output_calibration : str
        How restorations keep their input's normalised range on their way into domain B's units (B's typical range
        maps normalised 0 and 1 into them), however much brighter or dimmer G makes them; structure is not changed
        (:mod:`c2gan_tf.calibration`). ``'per_image'`` (default): each restoration's own ``norm_pmin``/``norm_pmax``
        percentiles (of a whole volume's, in blocks) go to 0 and 1, as its normalised input's are.
        ``'percentiles'``: one affine map for every image, which takes the pooled percentiles of G's outputs of A's
        training patches onto those of the same patches (measured after every epoch, so known for any kept
        weights). ``'none'``: B's typical range only. Chosen on development data (``benchmarks/calibration.py``).
    output_lowpass_weight, output_lowpass_sigma : float, float
        How much of a restoration's low band (Gaussian, ``output_lowpass_sigma`` pixels, default 4, as the low-pass
        loss's) is taken from its input's, mapped by the scale and offset that fit it best onto the restoration's
        own (:mod:`c2gan_tf.lowband`): 0.5 in 2D (default), 0 in 3D (not measured there); 0 keeps the network's
        output as it is (what the Fiji and bioimage.io exports compute). Where the default's quality falls after an
        early best epoch, it falls in the low band; the input's smoothed intensities hold it there. Chosen on
        development data (``benchmarks/lowband.py``).
    train_patch_size : tuple of int
        Spatial size of training patches (default 128x128 in 2D, 16x64x64 in 3D).
    train_epochs, train_steps_per_epoch, train_batch_size : int
        Defaults 100, 200 and 1.
    train_learning_rate, train_beta_1 : float
        Adam's learning rate (2e-4 in 2D; 5e-4 in 3D, where 2e-4 left the generators near the identity at the
        demo's budget, ``benchmarks/recipe_3d.py``) and beta_1 (0.5), for generators and discriminators.
    train_lr_decay : str
        ``'linear'`` (constant, then linear decay to 0 from ``train_lr_decay_start``, default) or ``'constant'``.
    train_lr_decay_start : float
        Fraction of training after which the learning rate decays (0.5).
    train_pool_size : int
        Size of the history pool of generated images shown to the discriminators (50; 0 disables it); at
        least the batch size.
    train_augment : bool
        Random flips and 90-degree rotations in the image plane (default ``True``).
    train_tensorboard : bool
        Write TensorBoard logs to ``logs/`` in the model folder (default ``True``).
    train_mixed_precision : bool
        Compute in float16 with float32 weights and outputs, and dynamic loss scaling (Keras' ``mixed_float16``
        policy); faster on GPUs with tensor cores (default ``False``). Steps whose float16 gradients overflow are
        skipped while the loss scale adapts, and are not counted by the schedules.
    train_seed : int or None
        Seed of network initialisation, patch sampling, augmentation and the history pool (default ``None``).
    train_save_every : int
        Keep the generators' weights of every N-th epoch in ``epochs/`` of the model folder, for checkpoint QC
        (``c2gan qc``); 0 (default) keeps none.
    train_select : str
        The weights a model holds after training and loads from its folder by default: ``'last'`` (the last epoch,
        ``weights_last``; default), ``'val_select'`` (the epoch with the lowest validation ``val_select``,
        ``weights_best``, when validation data was given) or ``'val_qc'`` (the same with the lowest ``val_qc``, the
        no-ground-truth QC score of G on A's validation patches, :class:`c2gan_tf.run.ValidationQC`). Both files are
        written either way. ``'chosen'``: the weights ``c2gan qc MODEL --use EPOCH`` copied to ``weights_chosen``.
    """

    def __init__(self, axes='YX', n_channel_in=1, n_channel_out=1, allow_new_parameters=False, **kwargs):
        super().__init__(axes, n_channel_in, n_channel_out)
        self.probabilistic = False

        self.unet_residual = True
        self.unet_n_depth = 2
        self.unet_kern_size = 5 if self.n_dim == 2 else 3
        self.unet_n_first = 32
        self.unet_pool = None
        self.unet_last_activation = 'linear'

        self.disc_n_filters = 64
        self.disc_n_layers = 3 if self.n_dim == 2 else 2
        self.disc_kern_size = 4
        self.disc_norm = 'instance'

        self.lambda_cycle = 10.0 if self.n_dim == 2 else 2.0
        self.lambda_identity = 0.0
        self.lambda_lowpass = 10.0 if self.n_dim == 2 else 0.0
        self.lowpass_sigma = 4.0
        self.lowpass_transfer = 'affine-running'
        self.lowpass_window = 16.0
        self.struct_rho0 = 5.0
        self.struct_decay = 'exp'
        self.struct_tau = None
        self.struct_floor = 0.2
        for d in DOMAINS:
            setattr(self, 'struct_threshold_' + d, None)
            setattr(self, 'struct_polarity_' + d, None)
            setattr(self, 'struct_steepness_' + d, 50.0)
        self.struct_sigma = 2.0

        self.norm_pmin = 1.0
        self.norm_pmax = 99.8
        self.output_calibration = 'per_image'
        self.output_lowpass_weight = 0.5 if self.n_dim == 2 else 0.0
        self.output_lowpass_sigma = 4.0

        self.train_patch_size = (128, 128) if self.n_dim == 2 else (16, 64, 64)
        self.train_epochs = 100
        self.train_steps_per_epoch = 200
        self.train_batch_size = 1
        self.train_learning_rate = 2e-4 if self.n_dim == 2 else 5e-4
        self.train_beta_1 = 0.5
        self.train_lr_decay = 'linear'
        self.train_lr_decay_start = 0.5
        self.train_pool_size = 50
        self.train_augment = True
        self.train_tensorboard = True
        self.train_mixed_precision = False
        self.train_seed = None
        self.train_select = 'last'
        self.train_save_every = 0
        self.train_checkpoint = 'weights_best.weights.h5'
        self.train_checkpoint_last = 'weights_last.weights.h5'
        self.train_checkpoint_epoch = 'weights_now.weights.h5'

        kwargs.pop('n_dim', None)
        unknown = [] if allow_new_parameters else sorted(k for k in kwargs if not hasattr(self, k))
        if unknown:
            raise UnknownSetting(unknown, vars(self))
        self.update_parameters(allow_new_parameters, **kwargs)
        for key in ('train_patch_size', 'unet_pool'):
            if isinstance(getattr(self, key), list):
                setattr(self, key, tuple(getattr(self, key)))

    @property
    def unet_input_shape(self):
        """Input shape of the generators: free spatial sizes, channels last."""
        return (None,) * self.n_dim + (self.n_channel_in,)

    def pool(self):
        """The U-Net's pooling factor along each spatial axis (in the order of ``axes``)."""
        return tuple(self.unet_pool) if self.unet_pool is not None else (2,) * self.n_dim

    def div_by(self):
        """What image sides must be multiples of, along each spatial axis: ``pool ** unet_n_depth``."""
        return tuple(p ** self.unet_n_depth for p in self.pool())

    def saliency(self, domain):
        """The user's saliency settings of a domain: threshold, polarity, steepness (None = automatic), sigma."""
        keys = ('threshold', 'polarity', 'steepness')
        return dict({key: getattr(self, 'struct_%s_%s' % (key, domain)) for key in keys}, sigma=self.struct_sigma)

    def is_valid(self, return_invalid=False):
        """Check the configuration.

        Parameters
        ----------
        return_invalid : bool
            Also return the names of all invalid attributes.

        Returns
        -------
        bool or (bool, tuple of str)
        """
        invalid = tuple(key for key, (ok, _) in rules(self).items() if not ok)
        return (not invalid, invalid) if return_invalid else not invalid

    def problems(self):
        """One line per invalid setting: its value and what is allowed, e.g. ``unet_n_first='abc' (an integer >= 1)``."""
        return ['%s=%r (%s)' % (key, getattr(self, key, None), allowed)
                for key, (ok, allowed) in rules(self).items() if not ok]

    def check(self):
        """Raise ValueError naming every invalid setting, its value and what is allowed (see :meth:`problems`)."""
        problems = self.problems()
        if problems:
            raise ValueError('invalid configuration: ' + '; '.join(problems))


def rules(config):
    """``{attribute: (valid, what is allowed)}`` for every checked attribute of a :class:`Config`."""
    c = config
    def is_int(v, low=None, high=None):
        return (isinstance(v, numbers.Integral) and not isinstance(v, bool)
                and (low is None or low <= v) and (high is None or v <= high))

    def is_num(v, low=None, high=None, strict_low=False):
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
        if ok and low is not None:
            ok = v > low if strict_low else v >= low
        return ok and (high is None or v <= high)

    def one_of(v, choices):
        return isinstance(v, str) and v in choices, 'one of %s' % ', '.join(repr(c) for c in choices)

    r = {}
    r['n_dim'] = c.n_dim in (2, 3), '2 or 3'
    try:
        axes_check_and_normalize(c.axes, c.n_dim + 1, disallowed='S')
        ok = 'T' not in c.axes
    except ValueError:
        ok = False
    r['axes'] = ok, "spatial axes YX or ZYX, channel C last (e.g. 'YXC'); no S or T"
    r['n_channel_in'] = is_int(c.n_channel_in, 1), 'an integer >= 1'
    r['n_channel_out'] = (is_int(c.n_channel_out, 1) and c.n_channel_out == c.n_channel_in,
                          'equal to n_channel_in (%r)' % (c.n_channel_in,))
    r['probabilistic'] = c.probabilistic is False, "false (CSBDeep's prediction reads it; c2GAN has no other)"
    r['unet_residual'] = isinstance(c.unet_residual, bool), 'true or false'
    r['unet_n_depth'] = is_int(c.unet_n_depth, 1, 5), 'an integer from 1 to 5'
    r['unet_kern_size'] = (is_int(c.unet_kern_size) and c.unet_kern_size in (3, 5, 7),  # CSBDeep's tiling
                           '3, 5 or 7')
    r['unet_n_first'] = is_int(c.unet_n_first, 1), 'an integer >= 1'
    r['unet_last_activation'] = one_of(c.unet_last_activation, ('linear', 'relu'))
    r['disc_n_filters'] = is_int(c.disc_n_filters, 1), 'an integer >= 1'
    r['disc_n_layers'] = is_int(c.disc_n_layers, 1, 6), 'an integer from 1 to 6'
    r['disc_kern_size'] = is_int(c.disc_kern_size, 1), 'an integer >= 1'
    r['disc_norm'] = one_of(c.disc_norm, ('instance', 'none'))
    for key in ('lambda_cycle', 'lambda_identity', 'lambda_lowpass', 'struct_rho0'):
        r[key] = is_num(getattr(c, key), 0), 'a number >= 0'
    r['struct_decay'] = one_of(c.struct_decay, ('exp', 'constant'))
    r['struct_tau'] = c.struct_tau is None or is_num(c.struct_tau, 0, strict_low=True), 'null or a number > 0'
    r['lowpass_transfer'] = one_of(c.lowpass_transfer,
                                   ('quantiles', 'affine', 'affine-batch', 'affine-running', 'none'))
    r['lowpass_sigma'] = is_num(c.lowpass_sigma, 0, 20, strict_low=True), 'a number of pixels above 0, at most 20'
    r['lowpass_window'] = is_num(c.lowpass_window, 0, strict_low=True), 'a number of images > 0'
    r['struct_floor'] = is_num(c.struct_floor, 0, 1), 'a fraction from 0 to 1'
    r['struct_sigma'] = is_num(c.struct_sigma, 0, 10), 'a number from 0 to 10'
    for d in DOMAINS:
        s = c.saliency(d)
        r['struct_threshold_' + d] = s['threshold'] is None or is_num(s['threshold']), 'null (automatic) or a number'
        r['struct_polarity_' + d] = (s['polarity'] in (None, 1, -1) and not isinstance(s['polarity'], bool),
                                     'null (automatic), 1 or -1')
        r['struct_steepness_' + d] = is_num(s['steepness'], 0, strict_low=True), 'a number > 0'
    r['norm_pmin'] = is_num(c.norm_pmin, 0, 100), 'a percentile from 0 to 100'
    r['norm_pmax'] = (is_num(c.norm_pmax, 0, 100) and r['norm_pmin'][0] and c.norm_pmin < c.norm_pmax,
                      'a percentile from 0 to 100, above norm_pmin')
    r['output_calibration'] = one_of(c.output_calibration, ('per_image', 'percentiles', 'none'))
    r['output_lowpass_weight'] = is_num(c.output_lowpass_weight, 0, 1), 'a fraction from 0 to 1'
    r['output_lowpass_sigma'] = (is_num(c.output_lowpass_sigma, 0, 20, strict_low=True),
                                 'a number of pixels above 0, at most 20')
    r['unet_pool'] = ((c.unet_pool is None or (isinstance(c.unet_pool, (tuple, list))
                                                  and len(c.unet_pool) == c.n_dim
                                                  and all(is_int(p) and p in (1, 2, 4) for p in c.unet_pool))),
                      'null (2 along every axis) or %d factors, each 1, 2 or 4' % c.n_dim)
    div_by = c.div_by() if r['unet_n_depth'][0] and r['unet_pool'][0] else (1,) * c.n_dim
    r['train_patch_size'] = ((isinstance(c.train_patch_size, (tuple, list))
                              and len(c.train_patch_size) == c.n_dim
                              and all(is_int(p, 2 * d) and p % d == 0 for p, d in zip(c.train_patch_size, div_by))),
                             '%d sizes, each a multiple of %s and at least twice that (pool ** unet_n_depth)'
                             % (c.n_dim, div_by[0] if len(set(div_by)) == 1
                                else ', '.join(map(str, div_by)) + ' along the spatial axes'))
    for key in ('train_epochs', 'train_steps_per_epoch', 'train_batch_size'):
        r[key] = is_int(getattr(c, key), 1), 'an integer >= 1'
    r['train_learning_rate'] = is_num(c.train_learning_rate, 0, strict_low=True), 'a number > 0'
    r['train_beta_1'] = is_num(c.train_beta_1, 0, 1) and c.train_beta_1 < 1, 'a number from 0 to below 1'
    r['train_lr_decay'] = one_of(c.train_lr_decay, ('linear', 'constant'))
    r['train_lr_decay_start'] = (is_num(c.train_lr_decay_start, 0, 1) and c.train_lr_decay_start < 1,
                                 'a fraction from 0 to below 1')
    r['train_pool_size'] = (is_int(c.train_pool_size, 0) and (
        c.train_pool_size == 0 or not r['train_batch_size'][0] or c.train_pool_size >= c.train_batch_size),
        '0 (no pool) or an integer >= train_batch_size')
    for key in ('train_augment', 'train_tensorboard', 'train_mixed_precision'):
        r[key] = isinstance(getattr(c, key), bool), 'true or false'
    r['train_seed'] = c.train_seed is None or is_int(c.train_seed, 0), 'null or an integer >= 0'
    r['train_select'] = one_of(c.train_select, ('last', 'val_select', 'val_qc', 'chosen'))
    r['train_save_every'] = is_int(c.train_save_every, 0), '0 (none) or an integer >= 1'
    for key in ('train_checkpoint', 'train_checkpoint_last', 'train_checkpoint_epoch'):
        name = getattr(c, key)
        r[key] = (name is None or (isinstance(name, str) and name.endswith('.weights.h5')),
                  'null or a file name ending in .weights.h5')
    return r
