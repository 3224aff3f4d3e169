"""Configuration of a c2GAN model, in the style of CSBDeep's :class:`csbdeep.models.Config`."""

import numbers

import numpy as np
from csbdeep.models.config import BaseConfig
from csbdeep.utils import axes_check_and_normalize

#: The two image domains: A (degraded) and B (good).
DOMAINS = ('A', 'B')


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
    unet_last_activation : str
        ``'linear'`` (default; nothing saturates) or ``'relu'``.
    disc_n_filters, disc_n_layers, disc_kern_size : int
        PatchGAN discriminator: filters of the first layer (64), strided layers (3, the 70x70 PatchGAN in 2D),
        kernel size (4).
    disc_norm : str
        ``'instance'`` (default) or ``'none'``: normalisation in the discriminators.
    lambda_cycle, lambda_identity : float
        Weights of the cycle (10) and identity (0) losses.
    struct_rho0 : float
        Initial weight of the structural (saliency) loss (5). 0 turns c2GAN into plain CycleGAN.
    struct_decay : str
        ``'exp'`` (weight ``rho0 * exp(-step / tau)``, default) or ``'constant'``.
    struct_tau : float or None
        Time constant of the decay in steps; ``None`` (default) uses a sixth of all training steps.
    struct_threshold_A, struct_threshold_B : float or None
        Saliency threshold of each domain on normalised intensities; ``None`` (default) chooses it by Otsu's
        method on that domain's smoothed training data, so that each domain's mask marks its own structure.
    struct_polarity_A, struct_polarity_B : int or None
        +1 for bright foreground (fluorescence), -1 for dark; ``None`` (default) chooses it from the data.
    struct_steepness_A, struct_steepness_B : float
        Steepness ``k`` of each domain's soft mask per unit of normalised intensity (default 50).
    struct_sigma : float
        Gaussian smoothing (pixels) of images before their saliency masks are taken, in the loss and for the
        automatic thresholds (default 2; 0: per-pixel masks). Without it, masks of noisy images follow the
        noise, and the structural loss rewards a generator that keeps the noise.
    norm_pmin, norm_pmax : float
        Percentiles used to normalise images (1 and 99.8), in training data and by default in prediction.
    train_patch_size : tuple of int
        Spatial size of training patches (default 128x128 in 2D, 16x64x64 in 3D).
    train_epochs, train_steps_per_epoch, train_batch_size : int
        Defaults 100, 200 and 1.
    train_learning_rate, train_beta_1 : float
        Adam's learning rate (2e-4) and beta_1 (0.5), for generators and discriminators.
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
    """

    def __init__(self, axes='YX', n_channel_in=1, n_channel_out=1, allow_new_parameters=False, **kwargs):
        super().__init__(axes, n_channel_in, n_channel_out)
        self.probabilistic = False

        self.unet_residual = True
        self.unet_n_depth = 2
        self.unet_kern_size = 5 if self.n_dim == 2 else 3
        self.unet_n_first = 32
        self.unet_last_activation = 'linear'

        self.disc_n_filters = 64
        self.disc_n_layers = 3
        self.disc_kern_size = 4
        self.disc_norm = 'instance'

        self.lambda_cycle = 10.0
        self.lambda_identity = 0.0
        self.struct_rho0 = 5.0
        self.struct_decay = 'exp'
        self.struct_tau = None
        for d in DOMAINS:
            setattr(self, 'struct_threshold_' + d, None)
            setattr(self, 'struct_polarity_' + d, None)
            setattr(self, 'struct_steepness_' + d, 50.0)
        self.struct_sigma = 2.0

        self.norm_pmin = 1.0
        self.norm_pmax = 99.8

        self.train_patch_size = (128, 128) if self.n_dim == 2 else (16, 64, 64)
        self.train_epochs = 100
        self.train_steps_per_epoch = 200
        self.train_batch_size = 1
        self.train_learning_rate = 2e-4
        self.train_beta_1 = 0.5
        self.train_lr_decay = 'linear'
        self.train_lr_decay_start = 0.5
        self.train_pool_size = 50
        self.train_augment = True
        self.train_tensorboard = True
        self.train_mixed_precision = False
        self.train_seed = None
        self.train_checkpoint = 'weights_best.weights.h5'
        self.train_checkpoint_last = 'weights_last.weights.h5'
        self.train_checkpoint_epoch = 'weights_now.weights.h5'

        kwargs.pop('n_dim', None)
        self.update_parameters(allow_new_parameters, **kwargs)
        if isinstance(self.train_patch_size, list):
            self.train_patch_size = tuple(self.train_patch_size)

    @property
    def unet_input_shape(self):
        """Input shape of the generators: free spatial sizes, channels last."""
        return (None,) * self.n_dim + (self.n_channel_in,)

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
        def is_int(v, low=None, high=None):
            return (isinstance(v, numbers.Integral) and not isinstance(v, bool)
                    and (low is None or low <= v) and (high is None or v <= high))

        def is_num(v, low=None, high=None, strict_low=False):
            ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
            if ok and low is not None:
                ok = v > low if strict_low else v >= low
            return ok and (high is None or v <= high)

        ok = {}
        ok['n_dim'] = self.n_dim in (2, 3)
        try:
            axes_check_and_normalize(self.axes, self.n_dim + 1, disallowed='S')
            ok['axes'] = 'T' not in self.axes
        except ValueError:
            ok['axes'] = False
        ok['n_channel_in'] = is_int(self.n_channel_in, 1)
        ok['n_channel_out'] = is_int(self.n_channel_out, 1) and self.n_channel_out == self.n_channel_in
        ok['probabilistic'] = self.probabilistic is False

        ok['unet_residual'] = isinstance(self.unet_residual, bool)
        ok['unet_n_depth'] = is_int(self.unet_n_depth, 1, 5)
        ok['unet_kern_size'] = is_int(self.unet_kern_size) and self.unet_kern_size in (3, 5, 7)  # CSBDeep's tiling table
        ok['unet_n_first'] = is_int(self.unet_n_first, 1)
        ok['unet_last_activation'] = self.unet_last_activation in ('linear', 'relu')

        ok['disc_n_filters'] = is_int(self.disc_n_filters, 1)
        ok['disc_n_layers'] = is_int(self.disc_n_layers, 1, 6)
        ok['disc_kern_size'] = is_int(self.disc_kern_size, 1)
        ok['disc_norm'] = self.disc_norm in ('instance', 'none')

        ok['lambda_cycle'] = is_num(self.lambda_cycle, 0)
        ok['lambda_identity'] = is_num(self.lambda_identity, 0)
        ok['struct_rho0'] = is_num(self.struct_rho0, 0)
        ok['struct_decay'] = self.struct_decay in ('exp', 'constant')
        ok['struct_tau'] = self.struct_tau is None or is_num(self.struct_tau, 0, strict_low=True)
        ok['struct_sigma'] = is_num(self.struct_sigma, 0, 10)
        for d in DOMAINS:
            s = self.saliency(d)
            ok['struct_threshold_' + d] = s['threshold'] is None or is_num(s['threshold'])
            ok['struct_polarity_' + d] = s['polarity'] in (None, 1, -1) and not isinstance(s['polarity'], bool)
            ok['struct_steepness_' + d] = is_num(s['steepness'], 0, strict_low=True)

        ok['norm_pmin'] = is_num(self.norm_pmin, 0, 100)
        ok['norm_pmax'] = is_num(self.norm_pmax, 0, 100) and ok['norm_pmin'] and self.norm_pmin < self.norm_pmax

        div_by = 2 ** self.unet_n_depth if ok['unet_n_depth'] else 1
        ok['train_patch_size'] = (isinstance(self.train_patch_size, (tuple, list))
                                  and len(self.train_patch_size) == self.n_dim
                                  and all(is_int(p, 2 * div_by) and p % div_by == 0 for p in self.train_patch_size))
        ok['train_epochs'] = is_int(self.train_epochs, 1)
        ok['train_steps_per_epoch'] = is_int(self.train_steps_per_epoch, 1)
        ok['train_batch_size'] = is_int(self.train_batch_size, 1)
        ok['train_learning_rate'] = is_num(self.train_learning_rate, 0, strict_low=True)
        ok['train_beta_1'] = is_num(self.train_beta_1, 0, 1) and self.train_beta_1 < 1
        ok['train_lr_decay'] = self.train_lr_decay in ('linear', 'constant')
        ok['train_lr_decay_start'] = is_num(self.train_lr_decay_start, 0, 1) and self.train_lr_decay_start < 1
        ok['train_pool_size'] = is_int(self.train_pool_size, 0) and (
            self.train_pool_size == 0 or not ok['train_batch_size'] or self.train_pool_size >= self.train_batch_size)
        ok['train_augment'] = isinstance(self.train_augment, bool)
        ok['train_tensorboard'] = isinstance(self.train_tensorboard, bool)
        ok['train_mixed_precision'] = isinstance(self.train_mixed_precision, bool)
        ok['train_seed'] = self.train_seed is None or is_int(self.train_seed, 0)
        for key in ('train_checkpoint', 'train_checkpoint_last', 'train_checkpoint_epoch'):
            name = getattr(self, key)
            ok[key] = name is None or (isinstance(name, str) and name.endswith('.weights.h5'))

        if return_invalid:
            return all(ok.values()), tuple(k for k, v in ok.items() if not v)
        return all(ok.values())
