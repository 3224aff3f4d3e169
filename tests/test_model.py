import json
import warnings

import numpy as np
import pytest
from csbdeep.data import NoNormalizer, PadAndCropResizer, PercentileNormalizer

from c2gan_tf import C2GAN, DomainNormalizer
from c2gan_tf.calibration import calibrated_range, image_calibration
from c2gan_tf.lowband import input_low_band
from c2gan_tf.prepare import MarginResizer, margin_padding
from conftest import random_patches, tiny_config, train_tiny


def test_train_writes_model_folder(tiny_model):
    model, history, tmp = tiny_model
    folder = tmp / 'model'
    names = {p.name for p in folder.iterdir()}
    assert {'config.json', 'domain_stats.json', 'weights_best.weights.h5', 'weights_last.weights.h5', 'logs'} <= names
    assert 'weights_now.weights.h5' not in names and not any(n.startswith('.tmp') for n in names)
    assert any((folder / 'logs').rglob('events.out.tfevents*'))
    assert len(history.history['loss']) == 2 and len(history.history['val_loss']) == 2
    assert {'adv', 'cycle', 'struct', 'disc', 'val_struct'} <= set(history.history)
    stats = json.loads((folder / 'domain_stats.json').read_text())
    assert stats['B']['low'] == 110 and stats['B']['high'] == 2000
    for d in 'AB':
        assert 0 < stats[d]['threshold'] < 1 and stats[d]['polarity'] in (1, -1)


def test_reload_predicts_identically(tiny_model, rng):
    model, _, tmp = tiny_model
    x = rng.random((40, 56), np.float32) * 500
    loaded = C2GAN(None, 'model', str(tmp))
    assert loaded.domain_stats == model.domain_stats
    assert loaded.trainer.saliency == model.trainer.saliency
    # the weight files hold the generators (prediction, export, fine-tuning); the rest is in the checkpoint
    for a, b in zip(loaded.trainer.generators().weights, model.trainer.generators().weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.weights_name == 'weights_last.weights.h5' and loaded.weights_epoch() == model.weights_epoch() == 2
    for direction in ('AtoB', 'BtoA'):  # equal to float32 rounding (kernels may differ once compiled elsewhere)
        expected = model.predict(x, 'YX', direction=direction)
        np.testing.assert_allclose(loaded.predict(x, 'YX', direction=direction), expected, rtol=1e-5,
                                   atol=1e-6 * np.abs(expected).max())


def test_weight_files_hold_the_generators_only_and_know_their_epoch(tiny_model):
    import h5py
    model, history, tmp = tiny_model
    folder = tmp / 'model'
    for name in ('weights_best.weights.h5', 'weights_last.weights.h5'):
        with h5py.File(folder / name) as f:
            assert sorted(f.keys()) == ['F', 'G', 'vars']
    state = json.loads((folder / 'training_state.json').read_text())
    best = int(np.argmin(history.history['val_select'])) + 1
    assert state['weights'] == {'weights_best.weights.h5': best, 'weights_last.weights.h5': 2}
    checkpoint = sum(p.stat().st_size for p in (folder / 'checkpoint').iterdir())
    # discriminators and optimizers (training only) stay in the one checkpoint
    assert (folder / 'weights_last.weights.h5').stat().st_size < checkpoint
    assert len(list((folder / 'checkpoint').glob('*.index'))) == 1


def test_train_select_val_qc_keeps_and_loads_the_epoch_with_the_lowest_qc_score(tmp_path):
    _, history = train_tiny(tmp_path, epochs=3, train_select='val_qc')
    scores = history.history['val_qc']
    assert len(scores) == 3 and all(np.isfinite(scores))
    state = json.loads((tmp_path / 'model' / 'training_state.json').read_text())
    best = int(np.argmin(scores)) + 1
    assert state['best'] == dict(monitor='val_qc', value=min(scores), epoch=best)
    assert state['weights']['weights_best.weights.h5'] == best
    loaded = C2GAN(None, 'model', str(tmp_path))
    assert loaded.weights_name == 'weights_best.weights.h5' and loaded.weights_epoch() == best


def test_from_folder_loads_the_weights_asked_for_and_names_damaged_files(tiny_model, tmp_path):
    import shutil
    _, _, tmp = tiny_model
    folder = tmp_path / 'copy'
    shutil.copytree(tmp / 'model', folder)
    best = C2GAN.from_folder(folder, weights='best')
    assert best.weights_name == 'weights_best.weights.h5'
    assert best.weights_epoch() == json.loads((folder / 'training_state.json').read_text())['best']['epoch']
    data = (folder / 'weights_last.weights.h5').read_bytes()
    (folder / 'weights_last.weights.h5').write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"weights_last\.weights\.h5 cannot be read .* load weights_best\.weights\.h5 "
                                         r"instead \(--weights best, or C2GAN\.from_folder\(folder, weights='best'\)\)"):
        C2GAN.from_folder(folder)
    with pytest.raises(FileNotFoundError, match='no model'):
        C2GAN.from_folder(tmp_path / 'nothing')


def test_predict_maps_into_domain_b_units(tiny_model, rng):
    model, _, _ = tiny_model
    x = rng.random((32, 48), np.float32) * 1000 + 5000
    norm = PercentileNormalizer(model.config.norm_pmin, model.config.norm_pmax, do_after=False)
    raw = model.predict(x, 'YX', normalizer=norm)  # normalised network output
    out = model.predict(x, 'YX')
    assert model.output_range() == (110.0, 2000.0)  # B's typical range
    # the restoration's own percentiles become B's typical range's ends (the per-image calibration)
    scale, offset = image_calibration(raw, model.config.norm_pmin, model.config.norm_pmax)
    assert scale != pytest.approx(1, abs=1e-2)
    np.testing.assert_allclose(out, 110 + (scale * raw + offset) * 1890, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.percentile(out, [model.config.norm_pmin, model.config.norm_pmax]), [110, 2000],
                               rtol=1e-4)
    back = model.predict(x, 'YX', direction='BtoA', normalizer=norm)
    np.testing.assert_allclose(model.predict(x, 'YX', direction='BtoA'), 100 + back * 200, rtol=1e-4, atol=1e-3)
    assert not np.allclose(raw, back)


def test_domain_normalizer():
    n = DomainNormalizer(10, 110, pmin=0, pmax=100)
    x = np.array([[2.0, 4.0], [6.0, 10.0]])
    v = n.before(x, 'YX')
    np.testing.assert_allclose(v, [[0, 0.25], [0.5, 1]], atol=1e-6)
    np.testing.assert_allclose(n.after(v, None, 'YX')[0], [[10, 35], [60, 110]], atol=1e-4)
    per_image = DomainNormalizer(10, 110, pmin=0, pmax=100, per_image=True)
    np.testing.assert_allclose(per_image.after(v / 2 + 0.2, None, 'YX')[0], [[10, 35], [60, 110]], atol=1e-4)


@pytest.mark.parametrize('shape,n_tiles', [((64, 96), (2, 3)), ((70, 50), (3, 2)), ((128, 40), (4, 1))])
def test_tiled_equals_whole_2d(tiny_model, rng, shape, n_tiles):
    model, _, _ = tiny_model
    x = rng.random(shape, np.float32)
    whole = model.predict(x, 'YX')
    tiled = model.predict(x, 'YX', n_tiles=n_tiles)
    assert whole.shape == shape and whole.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())


def test_margin_padding_reflects_what_an_axis_can_give_then_pads_to_the_divisibility():
    # Y: 10 each side, 50 + 20 -> 72; X: 7 pixels reflect at most 6 each side, and 4 + 7 + 5 = 16; C: nothing
    assert margin_padding((50, 7, 2), 'YXC', (4, 4, 1), {'Y': 10, 'X': 10}) == ((11, 11), (4, 5), (0, 0))
    assert margin_padding((50, 7), 'YX', (4, 4), {}) == ((1, 1), (0, 1))  # no margin: CSBDeep's split
    r = MarginResizer({'Y': 10, 'X': 10})
    x = np.arange(50 * 7 * 2, dtype=np.float32).reshape(50, 7, 2)
    padded = r.before(x, 'YXC', (4, 4, 1))
    assert padded.shape == (72, 16, 2)
    np.testing.assert_array_equal(padded[11:-11, 4:-5], x)
    np.testing.assert_array_equal(padded[10, 4:-5], x[1])  # reflected, not repeated
    np.testing.assert_array_equal(r.after(padded, 'YXC'), x)


def test_edges_are_restored_from_the_image_reflected_by_the_receptive_field(tiny_model, rng):
    model, _, _ = tiny_model
    m = model.prediction_margin()['Y']
    overlap = model._axes_tile_overlap('Y')[0]
    assert model.prediction_margin() == {'Y': m, 'X': m} and m % 4 == 0 and overlap <= m < overlap + 4
    x = rng.random((60, 60), np.float32)  # a multiple of 4: no padding but the margin
    kw = dict(normalizer=NoNormalizer(), lowpass_weight=0)
    y = model.predict(x, 'YX', **kw)
    reflected = model.predict(np.pad(x, m, mode='reflect'), 'YX', resizer=PadAndCropResizer(), **kw)
    np.testing.assert_allclose(y, reflected[m:-m, m:-m], rtol=1e-5, atol=1e-5 * np.abs(y).max())
    plain = model.predict(x, 'YX', resizer=PadAndCropResizer(), **kw)  # zero padding of the network at the edges
    inner = (slice(m, -m),) * 2
    np.testing.assert_allclose(plain[inner], y[inner], rtol=1e-4, atol=1e-4 * np.abs(y).max())
    assert np.abs(plain - y).max() > 1e-3 * np.abs(y).max()


def test_callback_runs_before_each_tile_of_each_plane_and_can_stop_prediction(tiny_model, rng):
    model, _, _ = tiny_model
    stack = rng.random((3, 64, 64), np.float32)
    calls = []
    restored = model.predict(stack, 'ZYX', n_tiles=(1, 2, 2), callback=lambda: calls.append(1))
    assert len(calls) == 12  # 3 planes x 4 tiles
    np.testing.assert_allclose(restored, model.predict(stack, 'ZYX', n_tiles=(1, 2, 2)), rtol=1e-6)

    def stop_at_the_third_tile():
        calls.append(1)
        if len(calls) == 15:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        model.predict(stack, 'ZYX', n_tiles=(1, 2, 2), callback=stop_at_the_third_tile)
    assert len(calls) == 15
    np.testing.assert_allclose(model.predict(stack, 'ZYX', n_tiles=(1, 2, 2)), restored, rtol=1e-6)
    assert len(calls) == 15  # the stopped prediction left no callback behind


def test_predictions_in_several_threads_at_once_equal_one_by_one(tiny_model, rng):
    from concurrent.futures import ThreadPoolExecutor
    model, _, _ = tiny_model
    images = [rng.random((48 + 8 * i, 40), np.float32) * 500 for i in range(6)]
    directions = ['AtoB', 'BtoA'] * 3
    one_by_one = [model.predict(x, 'YX', direction=d) for x, d in zip(images, directions)]
    keras_model = model.keras_model
    with ThreadPoolExecutor(4) as pool:
        at_once = list(pool.map(lambda a: model.predict(a[0], 'YX', direction=a[1], n_tiles=(2, 1),
                                                        callback=lambda: None), zip(images, directions)))
    for x, y in zip(one_by_one, at_once):
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-4 * np.abs(x).max())
    assert model.keras_model is keras_model  # predict changes nothing of the model


def test_tiled_equals_whole_3d_multichannel_and_axes(tmp_path, rng):
    model, _ = train_tiny(tmp_path, 'ZYXC', n_channel=2, validation=False)
    x = rng.random((2, 12, 40, 24), np.float32)  # CZYX: another axes order than the network's
    whole = model.predict(x, 'CZYX')
    tiled = model.predict(x, 'CZYX', n_tiles=(1, 2, 2, 1))
    assert whole.shape == x.shape
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())
    assert not (tmp_path / 'model' / 'weights_best.weights.h5').exists()  # no validation data, no best


def test_anisotropic_3d_model_tiles_and_pads_per_axis(tmp_path, rng):
    model, _ = train_tiny(tmp_path, 'ZYX', validation=False, unet_pool=(1, 2, 2), train_patch_size=(4, 16, 16))
    assert model._axes_div_by('ZYX') == (1, 4, 4)
    assert model._axes_tile_overlap('ZYX') == (10, 22, 22)  # CSBDeep's table: depth 2, kernel 3, pool 1 and 2
    x = rng.random((5, 30, 20), np.float32)  # 5 planes: no padding along Z is needed
    whole = model.predict(x, 'ZYX')
    tiled = model.predict(x, 'ZYX', n_tiles=(1, 2, 2))
    assert whole.shape == x.shape
    np.testing.assert_allclose(tiled, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())


def test_predict_without_stats_warns_and_uses_input_range(tmp_path, rng):
    c = tiny_config()
    model = C2GAN(c, None, basedir=None)
    model.train(random_patches(c, 4), random_patches(c, 4, seed=1), epochs=1, steps_per_epoch=1)
    x = rng.random((32, 32), np.float32) * 100 + 50
    with pytest.warns(UserWarning, match='no intensity statistics'):
        model.predict(x, 'YX')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        model.predict(x, 'YX', normalizer=NoNormalizer())


def test_bad_input_gives_clear_errors(tiny_model, rng):
    model, _, _ = tiny_model
    x = rng.random((32, 32), np.float32)
    x[3, 4] = np.nan
    with pytest.raises(ValueError, match='input image contains NaN'):
        model.predict(x, 'YX')
    with pytest.raises(ValueError, match='direction'):
        model.predict(rng.random((32, 32)), 'YX', direction='AtoA')
    with pytest.raises(ValueError, match=r"axes 'ZYX' do not fit the image of shape \(32, 32\) \(3 axes for 2 "
                                         r"dimensions\); axes that fit: YX"):
        model.predict(rng.random((32, 32)), 'ZYX')
    c = model.config
    good = random_patches(c, 2)
    with pytest.raises(ValueError, match='patch size'):
        model.train(random_patches(c, 2)[:, :16], good, epochs=1, steps_per_epoch=1)
    with pytest.raises(ValueError, match='X_B must be an array of patches'):
        model.train(good, good[..., 0], epochs=1, steps_per_epoch=1)
    bad = good.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match='X_A contains NaN'):
        model.train(bad, good, epochs=1, steps_per_epoch=1)
    with pytest.raises(ValueError, match='validation_data'):
        model.train(good, good, validation_data=good, epochs=1, steps_per_epoch=1)
    with pytest.raises(FileNotFoundError):
        C2GAN(None, 'missing', str(model.basedir))


def test_invalid_config_is_refused():
    with pytest.raises(ValueError, match='train_patch_size'):
        C2GAN(tiny_config(train_patch_size=(30, 30)), None, basedir=None)


def test_fixed_thresholds_are_used(tmp_path):
    model, _ = train_tiny(tmp_path, validation=False, struct_threshold_A=0.25, struct_polarity_B=-1)
    assert model.domain_stats['A']['threshold'] == 0.25
    assert model.domain_stats['B']['polarity'] == -1


@pytest.mark.parametrize('axes,shape', [('ZYX', (3, 32, 40)), ('TZYX', (2, 3, 32, 32)), ('YXT', (32, 32, 3))])
def test_2d_model_restores_stacks_plane_by_plane_with_one_normalisation(tiny_model, rng, axes, shape):
    model, _, _ = tiny_model
    stack = rng.random(shape, np.float32) * 500 + 100
    stack[..., :16, :] *= np.linspace(1, 3, shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))  # planes differ
    out = model.predict(stack, axes)
    assert out.shape == stack.shape and out.dtype == np.float32
    mi, ma = np.percentile(stack, [model.config.norm_pmin, model.config.norm_pmax])

    class WholeStack(NoNormalizer):  # the stack's percentiles for every plane, output normalised
        def before(self, x, axes):
            return ((x - mi) / (ma - mi)).astype(np.float32)

    from csbdeep.utils import move_image_axes
    loop = ''.join(a for a in axes if a not in 'YX')
    moved = move_image_axes(stack, axes, loop + 'YX')
    planes = moved.reshape((-1,) + moved.shape[-2:])
    normalised = np.stack([model.predict(p, 'YX', normalizer=WholeStack(), lowpass_weight=0) for p in planes])
    # the input's low band, each plane smoothed alone, one fit for the whole stack
    c = model.config
    normalised = input_low_band(WholeStack().before(planes, None), normalised, 'SYX', 'YX', c.output_lowpass_sigma,
                                c.output_lowpass_weight)
    # into B's units with one calibration of the whole stack
    low, high = calibrated_range(*model.output_range(), *image_calibration(normalised, model.config.norm_pmin,
                                                                          model.config.norm_pmax))
    expected_planes = low + normalised * (high - low)
    expected = move_image_axes(expected_planes.reshape(moved.shape), loop + 'YX', axes)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)
    # not one normalisation per plane
    per_plane = np.stack([model.predict(p, 'YX') for p in planes])
    assert not np.allclose(per_plane, expected_planes, rtol=1e-3)


def test_restorations_take_part_of_their_low_band_from_the_input_before_the_output_is_mapped(tiny_model, rng):
    model, _, _ = tiny_model
    c = model.config
    assert (c.output_lowpass_weight, c.output_lowpass_sigma) == (0.5, 4.0)  # the 2D default
    img = rng.random((48, 40), np.float32) * 500 + 100
    normalizer = model.default_normalizer()
    x = normalizer.before(img, 'YX')
    y = model.predict(x, 'YX', normalizer=NoNormalizer(), lowpass_weight=0)  # G's normalised output
    for weight in (None, 1.0):
        expected = normalizer.after(input_low_band(x, y, 'YX', 'YX', 4.0, weight or 0.5), None, 'YX')[0]
        np.testing.assert_allclose(model.predict(img, 'YX', lowpass_weight=weight), expected, rtol=1e-5, atol=1e-3)
    plain = model.predict(img, 'YX', lowpass_weight=0)
    np.testing.assert_allclose(plain, normalizer.after(y, None, 'YX')[0], rtol=1e-5, atol=1e-3)
    assert not np.allclose(model.predict(img, 'YX'), plain, rtol=1e-3)
    # tiles agree with the whole image (the low band is taken after the tiles are put together)
    np.testing.assert_allclose(model.predict(img, 'YX', n_tiles=(2, 2)), model.predict(img, 'YX'), rtol=1e-4,
                               atol=1e-2)
    # a degradation (F) is not touched; with QC the restoration is the same
    np.testing.assert_array_equal(model.predict(img, 'YX', direction='BtoA'),
                                  model.predict(img, 'YX', direction='BtoA', lowpass_weight=1.0))
    np.testing.assert_allclose(model.predict(img, 'YX', return_qc=True)[0], model.predict(img, 'YX'), rtol=1e-6)
    with pytest.raises(ValueError, match='lowpass_weight must be a fraction from 0 to 1'):
        model.predict(img, 'YX', lowpass_weight=1.5)


def test_the_low_pass_loss_trains_and_its_quantiles_travel_with_the_model_folder(tmp_path):
    c = tiny_config(lambda_lowpass=1.0, lowpass_transfer='quantiles')
    model = C2GAN(c, 'lowpass', str(tmp_path))
    x_b = random_patches(c, 4, seed=1) ** 2  # B darker than A: a transfer that is not the identity
    history = model.train(random_patches(c, 4), x_b, epochs=1, steps_per_epoch=2)
    assert history.history['lowpass'][0] > 0
    stats = json.loads((tmp_path / 'lowpass' / 'domain_stats.json').read_text())
    q = {d: stats[d]['lowpass_quantiles'] for d in 'AB'}
    assert q['B'][50] < q['A'][50]  # the medians of the smoothed patches: about 1/3 against 1/2
    assert C2GAN(None, 'lowpass', str(tmp_path)).trainer.lowpass_quantiles == q
