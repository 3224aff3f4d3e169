"""Runs the example notebooks (collected by nbmake) at their tiny size; the kernels inherit this variable."""
import os

os.environ.setdefault('C2GAN_EXAMPLES', 'tiny')
