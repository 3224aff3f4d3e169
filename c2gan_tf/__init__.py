"""c2gan_tf: unsupervised fluorescence image restoration with c2GAN (content-preserving CycleGAN), Keras 3."""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

from .config import Config  # noqa: E402
from .model import C2GAN, DomainNormalizer  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['Config', 'C2GAN', 'DomainNormalizer', '__version__']
