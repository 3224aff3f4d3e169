import json

import pytest

from c2gan_tf import Config
from conftest import tiny_config


@pytest.mark.parametrize('axes,n_dim,net_axes', [('YX', 2, 'YXC'), ('ZYX', 3, 'ZYXC'), ('YXC', 2, 'YXC')])
def test_defaults_are_valid(axes, n_dim, net_axes):
    c = Config(axes)
    assert c.is_valid()
    assert c.n_dim == n_dim and c.axes == net_axes
    assert c.lambda_identity == 0 and c.struct_rho0 == 5 and c.struct_floor == 0.2 and c.train_select == 'last'
    # 3D: a shallower discriminator and a weaker cycle term (benchmarks/recipe_3d.py)
    assert (c.lambda_cycle, c.disc_n_layers) == ((10, 3) if n_dim == 2 else (2, 2))
    # the low-pass loss with a running affine map in 2D (benchmarks/recipe.py); not measured in 3D
    assert (c.lambda_lowpass, c.lowpass_transfer, c.lowpass_window) == (10 if n_dim == 2 else 0, 'affine-running', 16)
    # half the input's 4-px low band in 2D restorations (benchmarks/lowband.py); not measured in 3D
    assert (c.output_lowpass_weight, c.output_lowpass_sigma) == (0.5 if n_dim == 2 else 0, 4)
    # 3D: a faster learning rate (benchmarks/recipe_3d.py)
    assert c.train_learning_rate == (2e-4 if n_dim == 2 else 5e-4)
    assert c.train_beta_1 == 0.5 and c.train_pool_size == 50
    assert len(c.train_patch_size) == n_dim


def test_json_round_trip(tmp_path):
    c = tiny_config('ZYXC', n_channel=2, struct_threshold_A=0.3, struct_polarity_B=-1, struct_decay='constant')
    path = tmp_path / 'config.json'
    path.write_text(json.dumps(vars(c)))
    loaded = Config(**json.loads(path.read_text()))
    assert loaded.is_valid()
    assert vars(loaded) == vars(c)


@pytest.mark.parametrize('field,value', [
    ('unet_n_depth', 0), ('unet_kern_size', 4), ('unet_n_first', 0), ('unet_last_activation', 'tanh'),
    ('disc_n_layers', 0), ('disc_norm', 'batch'), ('lambda_cycle', -1), ('lambda_identity', float('nan')),
    ('lowpass_transfer', 'gamma'), ('lowpass_window', 0), ('output_lowpass_weight', 1.5),
    ('output_lowpass_weight', -0.1), ('output_lowpass_sigma', 0),
    ('struct_rho0', -0.1), ('struct_decay', 'linear'), ('struct_tau', 0), ('struct_threshold_A', 'auto'),
    ('struct_polarity_B', 0), ('struct_steepness_A', 0), ('norm_pmax', 0.5), ('train_patch_size', (30, 32)),
    ('train_patch_size', (32, 32, 32)), ('train_epochs', 0), ('train_batch_size', 1.5),
    ('train_learning_rate', 0), ('train_beta_1', 1.0), ('train_lr_decay', 'cosine'), ('train_pool_size', -1),
    ('train_pool_size', 1), ('train_augment', 'yes'), ('train_seed', -3), ('train_checkpoint', 'weights.h5'), ('probabilistic', True),
])
def test_is_valid_names_the_invalid_field(field, value):
    c = tiny_config(**{field: value})
    ok, invalid = c.is_valid(return_invalid=True)
    assert not ok
    assert field in invalid


def test_channels_must_match():
    ok, invalid = Config('YXC', n_channel_in=2, n_channel_out=1).is_valid(True)
    assert not ok and invalid == ('n_channel_out',)


def test_unknown_parameter_is_refused():
    with pytest.raises(AttributeError, match='train_epoch'):
        Config('YX', train_epoch=3)


def test_saliency_settings_per_domain():
    c = Config('YX', struct_threshold_A=0.2, struct_polarity_A=-1, struct_steepness_B=7.0)
    assert c.saliency('A') == dict(threshold=0.2, polarity=-1, steepness=50.0, sigma=2.0)
    assert c.saliency('B') == dict(threshold=None, polarity=None, steepness=7.0, sigma=2.0)
    assert Config('YX', struct_sigma=0).saliency('A')['sigma'] == 0
