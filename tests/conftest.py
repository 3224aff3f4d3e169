import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from c2gan_tf import Config  # noqa: E402


def tiny_config(axes='YX', n_channel=1, **kwargs):
    """A configuration of tiny networks for fast tests."""
    n_dim = len(axes.replace('C', ''))
    defaults = dict(unet_n_depth=2, unet_n_first=4, unet_kern_size=3, disc_n_filters=4, disc_n_layers=2,
                    train_patch_size=(32, 32) if n_dim == 2 else (8, 16, 16), train_pool_size=4, train_seed=0,
                    train_batch_size=2, train_tensorboard=False)
    defaults.update(kwargs)
    return Config(axes, n_channel_in=n_channel, n_channel_out=n_channel, **defaults)


def random_patches(config, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + tuple(config.train_patch_size) + (config.n_channel_in,), np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(42)
