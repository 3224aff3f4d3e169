"""Random subsets of training patches for the statistics kept with a model (quantiles, spectra, percentiles)."""

import numpy as np


def draw_patches(patches, max_patches, seed=0):
    """At most ``max_patches`` of ``patches`` drawn at random without replacement, in their order, so that
    memory-mapped patches are read only where drawn; all of them when there are no more."""
    if len(patches) <= max_patches:
        return patches
    return patches[np.sort(np.random.default_rng(seed).choice(len(patches), max_patches, replace=False))]
