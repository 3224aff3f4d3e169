"""Property tests (hypothesis): tiling, normalisation, configuration and patch sampling invariants."""
import json

import numpy as np
from csbdeep.data import no_background_patches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c2gan_tf import C2GAN, Config, DomainNormalizer
from c2gan_tf.data import UnpairedData, create_unpaired_patches
from conftest import random_patches, tiny_config

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_models = {}


def model(n_dim):
    """A tiny trained model per dimensionality (built once: hypothesis calls the tests many times)."""
    if n_dim not in _models:
        c = tiny_config('YX' if n_dim == 2 else 'ZYX')
        m = C2GAN(c, None, basedir=None)
        stats = {'A': {'low': 10.0, 'high': 90.0}, 'B': {'low': 5.0, 'high': 500.0}}
        m.train(random_patches(c, 4), random_patches(c, 4, seed=1) ** 2, epochs=1, steps_per_epoch=2,
                intensity_stats=stats)
        _models[n_dim] = m
    return _models[n_dim]


@st.composite
def images_and_tiles(draw):
    n_dim = draw(st.sampled_from([2, 3]))
    sizes = [draw(st.integers(4, 12)) for _ in range(n_dim - 2)] + [draw(st.integers(20, 70)) for _ in range(2)]
    spatial = ('ZYX' if n_dim == 3 else 'YX')
    with_channel = draw(st.booleans())
    axes = spatial + ('C' if with_channel else '')
    shape = sizes + ([1] if with_channel else [])
    order = draw(st.permutations(range(len(axes))))
    axes = ''.join(axes[i] for i in order)
    shape = [shape[i] for i in order]
    tiles = [1 if a in 'CZ' else draw(st.integers(1, 3)) for a in axes]
    seed = draw(st.integers(0, 2 ** 16))
    return n_dim, axes, shape, tiles, seed


@SETTINGS
@given(images_and_tiles())
def test_tiled_prediction_equals_whole(case):
    n_dim, axes, shape, tiles, seed = case
    x = np.random.default_rng(seed).random(shape).astype(np.float32) * 100
    m = model(n_dim)
    whole = m.predict(x, axes)
    tiled = m.predict(x, axes, n_tiles=tiles)
    assert whole.shape == x.shape
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2 ** 16), st.floats(-1e4, 1e4), st.floats(1e-2, 1e4), st.integers(2, 40))
def test_normalise_then_map_back_round_trips(seed, offset, scale, size):
    x = (np.random.default_rng(seed).random((size, size + 3)) * scale + offset).astype(np.float32)
    n = DomainNormalizer(0, 1, pmin=2.0, pmax=99.5)
    v = n.before(x, 'YX')
    back = DomainNormalizer(float(n.mi.squeeze()), float(n.ma.squeeze())).after(v, None, 'YX')[0]
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-4 * (abs(offset) + scale))


config_settings = st.fixed_dictionaries({
    'unet_n_depth': st.integers(1, 4), 'unet_kern_size': st.sampled_from([3, 5, 7]),
    'unet_n_first': st.integers(1, 64), 'disc_n_layers': st.integers(1, 5), 'disc_norm': st.sampled_from(['instance', 'none']),
    'lambda_cycle': st.floats(0, 100), 'lambda_identity': st.floats(0, 10), 'struct_rho0': st.floats(0, 20),
    'struct_decay': st.sampled_from(['exp', 'constant']), 'struct_tau': st.none() | st.floats(1, 1e6),
    'struct_threshold_A': st.none() | st.floats(-1, 2), 'struct_polarity_B': st.sampled_from([None, 1, -1]),
    'struct_steepness_A': st.floats(0.1, 100), 'train_batch_size': st.integers(1, 8),
    'train_lr_decay': st.sampled_from(['linear', 'constant']), 'train_seed': st.none() | st.integers(0, 2 ** 31),
    'train_augment': st.booleans(), 'train_pool_size': st.sampled_from([0, 8, 50]),
})


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(['YX', 'ZYX', 'YXC', 'ZYXC']), st.integers(1, 3), config_settings, st.integers(2, 6))
def test_config_json_round_trip(axes, n_channel, kwargs, patch_factor):
    n_dim = len(axes.replace('C', ''))
    kwargs['train_patch_size'] = (2 ** kwargs['unet_n_depth'] * patch_factor,) * n_dim
    c = Config(axes, n_channel_in=n_channel if 'C' in axes else 1, n_channel_out=n_channel if 'C' in axes else 1,
               **kwargs)
    assert c.is_valid(), c.is_valid(True)
    loaded = Config(**json.loads(json.dumps(vars(c))))
    assert vars(loaded) == vars(c) and loaded.is_valid()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 16), st.sampled_from([2, 3]), st.integers(4, 16), st.integers(1, 6))
def test_patches_stay_in_bounds_and_skip_background(seed, n_dim, patch, n_patches):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(patch, 3 * patch, n_dim))
    img = rng.random(shape) * 0.01
    side = max(2, patch // 2)
    corner = [int(rng.integers(0, s - side + 1)) for s in shape]
    img[tuple(slice(c, c + side) for c in corner)] = 1.0  # foreground block somewhere, maybe at a border
    axes = 'YX' if n_dim == 2 else 'ZYX'
    data = UnpairedData.from_arrays([img], [img], axes)
    try:
        X_A, X_B, _, _ = create_unpaired_patches(data, (patch,) * n_dim, n_patches, normalization=(0, 100),
                                                 patch_filter=no_background_patches(), seed=seed, verbose=False)
    except ValueError as e:  # the block is too near a corner for any patch centre: said clearly
        assert 'no patch of size' in str(e) and 'holds foreground' in str(e)
        return
    assert X_A.shape == X_B.shape == (n_patches,) + (patch,) * n_dim + (1,)
    # CSBDeep's criterion: a patch's maximum exceeds 0.4 times the image's 99.9th percentile (here 1)
    assert all(p.max() > 0.4 for p in X_A) and all(p.max() > 0.4 for p in X_B)
