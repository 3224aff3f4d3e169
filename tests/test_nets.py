import keras
import numpy as np
import pytest
import tensorflow as tf

from c2gan_tf.nets import patchgan_discriminator, unet_generator
from conftest import tiny_config


@pytest.mark.parametrize('axes,shape', [('YX', (48, 64)), ('ZYX', (8, 16, 24)), ('YXC', (32, 32))])
@pytest.mark.parametrize('residual', [False, True])
def test_generator_keeps_shape_is_linear_and_residual_only_when_asked(axes, shape, residual, rng):
    c = tiny_config(axes, n_channel=2 if 'C' in axes else 1, unet_residual=residual)
    g = unet_generator(c, 'G')
    x = rng.random((1,) + shape + (c.n_channel_in,), np.float32)
    y = g.predict(x, verbose=0)
    assert y.shape == x.shape
    assert g.layers[-1].get_config()['activation'] == 'linear'
    # zeroing the last convolution leaves the identity (residual) or zero (the default: no input skip)
    conv = [layer for layer in g.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv3D))][-1]
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    np.testing.assert_allclose(g.predict(x, verbose=0), x if residual else 0 * x, atol=1e-6)
    # a linear output does not squash large values
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel, np.full_like(bias, 1000.0)])
    np.testing.assert_allclose(g.predict(x, verbose=0), 1000 + (x if residual else 0 * x), rtol=1e-6)


def test_networks_use_keras_layers_only_and_save_as_keras(tmp_path, rng):
    c = tiny_config()
    for net in (unet_generator(c, 'G'), patchgan_discriminator(c, 'D')):
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in net.layers)
        path = tmp_path / (net.name + '.keras')
        net.save(path)
        loaded = keras.models.load_model(path)
        x = rng.random((1, 32, 32, 1), np.float32)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), net.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_discriminator_is_the_70x70_patchgan(rng):
    c = tiny_config(disc_n_filters=64, disc_n_layers=3)
    d = patchgan_discriminator(c, 'D')
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [64, 128, 256, 512, 1]
    assert [layer.strides for layer in convs] == [(2, 2)] * 3 + [(1, 1)] * 2
    assert all(layer.kernel_size == (4, 4) for layer in convs)
    assert sum(isinstance(layer, keras.layers.GroupNormalization) for layer in d.layers) == 3
    # receptive field, measured without instance norm (whose statistics span the whole image)
    d = patchgan_discriminator(tiny_config(disc_n_filters=8, disc_n_layers=3, disc_norm='none'), 'D')
    x = tf.Variable(rng.random((1, 256, 256, 1), np.float32))
    with tf.GradientTape() as tape:
        out = d(x)
        centre = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]
    grad = np.abs(tape.gradient(centre, x).numpy()[0, ..., 0])
    rows, cols = np.nonzero(grad.sum(1))[0], np.nonzero(grad.sum(0))[0]
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_discriminator_3d_shape(rng):
    c = tiny_config('ZYX', disc_n_layers=2)
    d = patchgan_discriminator(c, 'D')
    out = d.predict(rng.random((2, 8, 16, 16, 1), np.float32), verbose=0)
    assert out.shape == (2, 2, 4, 4, 1)


def test_anisotropic_networks_pool_and_stride_only_along_the_axes_asked(rng):
    """unet_pool=(1, 2, 2): no pooling along Z, so a volume of 3 planes is taken as it is; D keeps Z too."""
    c = tiny_config('ZYX', unet_pool=(1, 2, 2), train_patch_size=(4, 16, 16))
    assert c.is_valid() and c.div_by() == (1, 4, 4)
    g = unet_generator(c, 'G')
    pools = [layer.get_config()['pool_size'] for layer in g.layers if isinstance(layer, keras.layers.MaxPooling3D)]
    assert pools == [(1, 2, 2)] * c.unet_n_depth
    x = rng.random((1, 3, 16, 24, 1), np.float32)
    assert g.predict(x, verbose=0).shape == x.shape
    d = patchgan_discriminator(c, 'D')
    assert d.predict(rng.random((1, 4, 16, 16, 1), np.float32), verbose=0).shape == (1, 4, 16 // 2 ** c.disc_n_layers,
                                                                                    16 // 2 ** c.disc_n_layers, 1)
    ok, invalid = tiny_config('ZYX', unet_pool=(3, 2, 2)).is_valid(True)
    assert not ok and 'unet_pool' in invalid


def test_seeded_weights_repeat_and_leave_numpy_global_state_alone():
    from c2gan_tf.train import CycleTrainer
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    a, b = CycleTrainer(tiny_config(train_seed=1)), CycleTrainer(tiny_config(train_seed=1))
    other = CycleTrainer(tiny_config(train_seed=2))
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    kernels = [(x, z) for x, z in zip(a.G.get_weights(), other.G.get_weights()) if x.ndim > 1]
    assert kernels and all(not np.array_equal(x, z) for x, z in kernels)
    # the four networks draw from streams of their own: G and F differ although built alike
    assert not np.array_equal(a.G.get_weights()[0], a.F.get_weights()[0])
