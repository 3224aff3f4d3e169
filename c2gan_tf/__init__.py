"""c2gan_tf: unsupervised fluorescence image restoration with c2GAN (content-preserving CycleGAN), Keras 3."""

import importlib
import os

from .version import __version__

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

__all__ = ['Config', 'C2GAN', 'DomainNormalizer', '__version__']
_LAZY = {'Config': 'config', 'C2GAN': 'model', 'DomainNormalizer': 'prepare'}


def __getattr__(name):
    # TensorFlow loads on first use, so that the command line can load it quietly
    if name in _LAZY:  # the module imports TensorFlow without its start-up lines (c2gan_tf.quiet)
        return getattr(importlib.import_module('.' + _LAZY[name], __name__), name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
