"""Generators (CSBDeep's residual U-Net) and PatchGAN discriminators, 2D and 3D, built from Keras layers only."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import contextlib

import keras
import numpy as np
from csbdeep.internals.nets import custom_unet
from keras import layers


@contextlib.contextmanager
def dtype_policy(config):
    """Build layers with ``mixed_float16`` when ``config.train_mixed_precision``, else with float32."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy('mixed_float16' if config.train_mixed_precision else 'float32')
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def seed_weights(model, seed):
    """Draw a network's initial weights again from its layers' own initialisers, seeded.

    The same ``seed`` gives the same weights, and no global random state (Python, NumPy, TensorFlow, Keras) is
    used or changed. Initialisers without randomness (zeros, ones) are left as they are.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name in ('kernel', 'bias', 'gamma', 'beta'):
            variable, init = getattr(layer, name, None), getattr(layer, name + '_initializer', None)
            if variable is None or init is None or 'seed' not in init.get_config():
                continue
            seeded = init.__class__.from_config(dict(init.get_config(), seed=int(rng.integers(2 ** 31))))
            variable.assign(seeded(variable.shape, variable.dtype))


def _float32_output(x):
    """Outputs in float32 whatever the compute precision (a no-op in float32)."""
    return layers.Activation('linear', dtype='float32', name='output')(x)


def unet_generator(config, name):
    """CSBDeep's U-Net (residual, linear output, no normalisation layer) as a generator.

    Without normalisation layers each output pixel depends only on its receptive field, so tiled prediction
    equals whole-image prediction. Any image whose sides are multiples of ``config.div_by()`` (``2**unet_n_depth``
    unless ``unet_pool`` says otherwise) is accepted.

    Parameters
    ----------
    config : :class:`c2gan_tf.Config`
    name : str
        Name of the Keras model.
    """
    with dtype_policy(config):
        # CSBDeep's common_unet, with a pooling factor per axis
        net = custom_unet(config.unet_input_shape, config.unet_last_activation, n_depth=config.unet_n_depth,
                          n_filter_base=config.unet_n_first, kernel_size=(config.unet_kern_size,) * config.n_dim,
                          pool_size=config.pool(), n_channel_out=config.n_channel_out, residual=config.unet_residual,
                          prob_out=False)
        return keras.Model(net.input, _float32_output(net.output), name=name)


def patchgan_discriminator(config, name):
    """PatchGAN discriminator: 4x4 convolutions, LeakyReLU(0.2), one-channel map of real/fake scores.

    With the defaults (64 filters, 3 strided layers) this is the classic 70x70 PatchGAN: filters 64-128-256-512,
    strides 2-2-2-1, then a one-channel convolution; the 3D network has the same shape with 4x4x4 kernels. Along
    an axis the U-Net does not pool (``config.unet_pool``), the strides are 1.
    Instance normalisation (``GroupNormalization`` with one group per channel) follows every convolution but
    the first and the last when ``config.disc_norm == 'instance'``.

    Parameters
    ----------
    config : :class:`c2gan_tf.Config`
    name : str
        Name of the Keras model.
    """
    conv = layers.Conv2D if config.n_dim == 2 else layers.Conv3D
    k = config.disc_kern_size
    with dtype_policy(config):
        x = inp = keras.Input((None,) * config.n_dim + (config.n_channel_out,), name='image')
        stride = tuple(2 if p > 1 else 1 for p in config.pool())  # along the axes the U-Net pools
        for i in range(config.disc_n_layers + 1):
            filters = config.disc_n_filters * 2 ** min(i, 3)
            strides = stride if i < config.disc_n_layers else 1
            x = conv(filters, k, strides=strides, padding='same', use_bias=(i == 0 or config.disc_norm == 'none'))(x)
            if i > 0 and config.disc_norm == 'instance':
                x = layers.GroupNormalization(groups=-1, epsilon=1e-5)(x)
            x = layers.LeakyReLU(negative_slope=0.2)(x)
        out = conv(1, k, padding='same', name='score')(x)
        return keras.Model(inp, _float32_output(out), name=name)
