import json
import os
import subprocess
import sys

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')  # the napari tests run headless

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


TESTS = os.path.dirname(os.path.abspath(__file__))


def job(*args):
    """Start one of tests/jobs.py's jobs in a process of its own."""
    return subprocess.Popen([sys.executable, os.path.join(TESTS, 'jobs.py'), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS)


def result(proc):
    """The result of a job started by :func:`job` (its ``RESULT`` line), once it ended without error."""
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(line for line in out.splitlines() if line.startswith('RESULT '))[7:])


@pytest.fixture
def rng():
    return np.random.default_rng(42)


#: Domain statistics of the tiny models: A in 100..300, B in 110..2000 (units of each domain).
TINY_STATS = {'A': {'low': 100.0, 'high': 300.0}, 'B': {'low': 110.0, 'high': 2000.0}}


def train_tiny(basedir, axes='YX', n_channel=1, validation=True, epochs=2, steps_per_epoch=2, name='model',
               **config):
    """A tiny model trained for a few steps on random patches (B brighter-tailed than A); returns it and history."""
    from c2gan_tf import C2GAN
    c = tiny_config(axes, n_channel=n_channel, **config)
    model = C2GAN(c, name, str(basedir))
    X_A, X_B = random_patches(c, 6, seed=1), random_patches(c, 5, seed=2) ** 2
    val = (random_patches(c, 2, seed=3), random_patches(c, 2, seed=4)) if validation else None
    history = model.train(X_A, X_B, validation_data=val, epochs=epochs, steps_per_epoch=steps_per_epoch,
                          intensity_stats=TINY_STATS)
    return model, history


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory):
    """One tiny 2D model for the whole test session: ``(model, history, basedir)``; its folder is ``basedir/model``.

    Tests must not change it (train it further, or write into its folder).
    """
    basedir = tmp_path_factory.mktemp('tiny_model')
    model, history = train_tiny(basedir, train_tensorboard=True)
    return model, history, basedir
