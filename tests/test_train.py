import keras
import numpy as np
import pytest
import tensorflow as tf

from c2gan_tf import C2GAN, losses, pipeline
from c2gan_tf.config import CYCLEGAN
from c2gan_tf.train import ImagePool, RunningAffine
from conftest import random_patches, tiny_config

SALIENCY = {'A': dict(threshold=0.3, polarity=1, steepness=20.0, sigma=0.0),
            'B': dict(threshold=0.6, polarity=1, steepness=10.0, sigma=0.0)}


def compiled_trainer(config, total_steps=10):
    """The trainer of an in-memory model, compiled as training compiles it, with fixed saliency settings."""
    model = C2GAN(config, None, basedir=None)
    model.trainer.use_saliency(SALIENCY)
    model.prepare_for_training(total_steps)
    return model.trainer


def test_image_pool_fills_then_swaps_half(rng):
    pool = ImagePool(4, (2, 2, 1), seed=0)
    first = rng.random((4, 2, 2, 1), np.float32)
    np.testing.assert_array_equal(pool(first), first)
    assert int(pool.count.numpy()) == 4
    np.testing.assert_array_equal(pool.images.numpy(), first)
    swapped = 0
    for _ in range(50):
        new = rng.random((2, 2, 2, 1), np.float32) + 10
        out = pool(new).numpy()
        stored = pool.images.numpy()
        for i in range(2):
            if np.array_equal(out[i], new[i]):
                continue
            swapped += 1
            # a returned old image was replaced in the pool by the new one
            assert any(np.array_equal(new[i], s) for s in stored)
    assert 30 <= swapped <= 70  # half of 100
    assert int(pool.count.numpy()) == 4


def test_image_pool_never_returns_an_unfilled_slot(rng):
    for seed in range(20):
        pool = ImagePool(3, (2, 2, 1), seed=seed)
        pool(rng.random((2, 2, 2, 1), np.float32) + 1)
        out = pool(rng.random((2, 2, 2, 1), np.float32) + 1).numpy()  # fills slot 2, may swap the other
        assert out.min() >= 1
        assert pool.images.numpy().min() >= 1


def test_image_pool_of_size_zero_is_identity(rng):
    pool = ImagePool(0, (2, 2, 1))
    x = rng.random((3, 2, 2, 1), np.float32)
    np.testing.assert_array_equal(pool(x), x)


def test_running_affine_map_fits_over_batches_so_one_image_cannot_be_brightened_alone(rng):
    """At a batch of one, the map per image fits any brightness; the running map is that of the batches before."""
    running = RunningAffine(name='running')
    for _ in range(20):  # G's smoothed outputs so far: twice the input plus 0.1
        source = rng.random((1, 16, 16), np.float32)
        np.testing.assert_allclose(running(source, 2 * source + 0.1, domain='B', training=True), 2 * source + 0.1,
                                   atol=1e-4)
    assert float(running.weight('B')) == pytest.approx(sum(np.exp(-k / 16) for k in range(20)), rel=1e-5)
    assert float(running.weight('A')) == 0  # one map per domain
    source = rng.random((1, 16, 16), np.float32)
    brightened = 3 * source + 0.1
    per_image = np.abs(np.asarray(losses.affine_fit(source, brightened)) - brightened).mean()
    state = running.sums.numpy().copy()
    target = np.asarray(running(source, brightened, domain='B'))  # not training: the running mean stays
    np.testing.assert_array_equal(running.sums.numpy(), state)
    assert per_image < 1e-4
    assert np.abs(target - brightened).mean() > 0.2  # pulled most of the way to 2x + 0.1 (x: 0.5 on average)


def test_generator_losses_pin_the_structural_term(rng):
    """The structural term uses F(y) (not G(y)) and the thresholds of each image's domain."""
    c = tiny_config()
    t = compiled_trainer(c)
    x, y = random_patches(c, 2, seed=1), random_patches(c, 2, seed=2)
    out = t.generator_losses(x, y)
    fake_b, fake_a = t.G(x).numpy(), t.F(y).numpy()
    expected = losses.structural_loss(x, fake_b, y, fake_a, SALIENCY['A'], SALIENCY['B'])
    assert float(out['struct']) == pytest.approx(float(expected), rel=1e-5)
    buggy_g_of_y = losses.structural_loss(x, fake_b, y, t.G(y).numpy(), SALIENCY['A'], SALIENCY['B'])
    assert abs(float(out['struct']) - float(buggy_g_of_y)) > 1e-4
    weighted = (float(out['adv']) + c.lambda_cycle * float(out['cycle']) + c.lambda_lowpass * float(out['lowpass'])
                + float(t.structural_weight()) * float(out['struct']))
    assert float(out['loss']) == pytest.approx(weighted, rel=1e-5)


def test_structural_gradient_reaches_both_generators():
    c = tiny_config()
    t = compiled_trainer(c)
    x, y = random_patches(c, 2, seed=1), random_patches(c, 2, seed=2)
    variables = t.G.trainable_variables + t.F.trainable_variables
    with tf.GradientTape() as tape:
        struct = t.generator_losses(x, y)['struct']
    grads = tape.gradient(struct, variables)
    n = len(t.G.trainable_variables)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads[:n]), 'no gradient to G'
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads[n:]), 'no gradient to F'


def test_train_step_updates_all_four_networks_and_reports_losses():
    c = tiny_config()
    t = compiled_trainer(c, total_steps=4)
    before = {name: [w.numpy().copy() for w in getattr(t, name).trainable_variables] for name in ('G', 'F', 'D_A', 'D_B')}
    x, y = random_patches(c, 8, seed=1), random_patches(c, 8, seed=2)
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(2).map(pipeline.stacked_pairs)
    history = t.fit(data, epochs=2, steps_per_epoch=2, shuffle=False, verbose=0)
    for name, weights in before.items():
        after = getattr(t, name).trainable_variables
        assert any(not np.array_equal(a, b.numpy()) for a, b in zip(weights, after)), name + ' was not updated'
    assert set(history.history) == {'loss', 'adv', 'cycle', 'identity', 'lowpass', 'struct', 'disc', 'dist',
                                    'select', 'struct_weight', 'lr'}
    np.testing.assert_allclose(history.history['select'],
                               np.add(history.history['struct'], history.history['dist']), rtol=1e-5)
    assert all(np.isfinite(v).all() for v in history.history.values())
    # learning rate constant for the first half, then decaying linearly (logged after steps 2 and 4 of 4)
    np.testing.assert_allclose(history.history['lr'], [2e-4, 0.0], atol=1e-10)
    # the structural weight decays exponentially down to its floor (0.2 of rho0)
    np.testing.assert_allclose(history.history['struct_weight'], [5 * max(np.exp(-2 / (4 / 6)), 0.2), 5 * 0.2],
                               rtol=1e-5)
    assert int(t.gen_optimizer.iterations.numpy()) == 4 and int(t.disc_optimizer.iterations.numpy()) == 4
    assert int(t.pool_A.count.numpy()) == 4


def test_identity_loss_is_used_when_weighted():
    c = tiny_config(lambda_identity=0.5)
    t = compiled_trainer(c)
    out = t.generator_losses(random_patches(c, 2, seed=1), random_patches(c, 2, seed=2))
    assert float(out['identity']) > 0


def test_lowpass_loss_is_used_when_weighted_and_needs_quantiles_to_map_domains(tmp_path):
    c = tiny_config(lambda_lowpass=2.0, lowpass_transfer='quantiles')
    t = compiled_trainer(c)
    x, y = random_patches(c, 2, seed=1), random_patches(c, 2, seed=2)
    with pytest.raises(ValueError, match='quantiles of smoothed intensities'):
        t.generator_losses(x, y)
    q = list(np.linspace(0, 1, 11))
    t.use_lowpass_quantiles({'A': q, 'B': q})
    out = t.generator_losses(x, y)
    parts = {k: float(out[k]) for k in ('adv', 'cycle', 'lowpass', 'struct')}
    assert parts['lowpass'] > 0
    expected = (parts['adv'] + c.lambda_cycle * parts['cycle'] + 2.0 * parts['lowpass']
                + float(t.structural_weight()) * parts['struct'])
    assert float(out['loss']) == pytest.approx(expected, rel=1e-5)
    same = losses.lowpass_loss(x, out['fake_b'], y, out['fake_a'], c.lowpass_sigma, None)  # identical quantiles
    assert float(out['lowpass']) == pytest.approx(float(same), rel=1e-5)
    assert float(compiled_trainer(tiny_config(lambda_lowpass=0)).generator_losses(x, y)['lowpass']) == 0  # off
    affine = compiled_trainer(tiny_config(lambda_lowpass=2.0, lowpass_transfer='affine'))  # needs no quantiles
    out = affine.generator_losses(x, y)
    same = losses.lowpass_loss(x, out['fake_b'], y, out['fake_a'], c.lowpass_sigma, 'affine')
    assert float(out['lowpass']) == pytest.approx(float(same), rel=1e-5)
    default_map = tiny_config(lambda_lowpass=2.0)  # the default transfer: the running affine map
    running = compiled_trainer(default_map)
    out = running.generator_losses(x, y)  # nothing seen yet: the map of this batch alone
    same = losses.lowpass_loss(x, out['fake_b'], y, out['fake_a'], c.lowpass_sigma, 'affine-batch')
    assert float(out['lowpass']) == pytest.approx(float(same), rel=1e-4)
    assert float(running.lowpass_affine.weight('A')) == 0  # only training steps add to the mean
    running.train_step(pipeline.stacked_pairs(x[:1], y[:1]))  # a batch of one
    assert float(running.lowpass_affine.weight('A')) == 1
    np.testing.assert_array_equal(running.rebuilt().lowpass_affine.sums.numpy(), running.lowpass_affine.sums.numpy())
    resumed = compiled_trainer(default_map)
    tf.train.Checkpoint(trainer=resumed).restore(tf.train.Checkpoint(trainer=running).save(str(tmp_path / 'ckpt')))
    np.testing.assert_array_equal(resumed.lowpass_affine.sums.numpy(), running.lowpass_affine.sums.numpy())


def test_mixed_precision_computes_in_float16_with_float32_weights_and_outputs(tmp_path):
    from c2gan_tf import C2GAN
    c = tiny_config(train_mixed_precision=True)
    model = C2GAN(c, 'mixed', str(tmp_path))
    t = model.trainer
    for net in (t.G, t.F, t.D_A, t.D_B):
        convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
        assert all(layer.compute_dtype == 'float16' and layer.variable_dtype == 'float32' for layer in convs)
        assert net.output.dtype == 'float32'
    history = model.train(random_patches(c, 4), random_patches(c, 4, seed=1), epochs=3, steps_per_epoch=4)
    assert isinstance(t.gen_optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(v).all() for v in history.history.values())
    # dynamic loss scaling: steps whose float16 gradients overflow are skipped while the scale comes down from
    # 2 ** 15 (how many depends on the initial weights; 12 steps leave room for at least one to be applied)
    assert 1 <= int(t.gen_optimizer.iterations.numpy()) <= 12
    skipped = 12 - int(t.gen_optimizer.iterations.numpy())
    assert float(t.gen_optimizer.dynamic_scale.numpy()) == 2.0 ** (15 - skipped)
    out = model.predict(np.random.default_rng(0).random((40, 24), np.float32), 'YX')
    assert out.dtype == np.float32 and out.shape == (40, 24) and np.isfinite(out).all()
    assert keras.config.dtype_policy().name == 'float32'  # the global policy is left as it was
    reloaded = C2GAN(None, 'mixed', str(tmp_path))
    assert reloaded.trainer.G.layers[1].compute_dtype == 'float16'


def identity_departure(model, x):
    """How far G is from the identity (the spread of G(x) - x beyond a constant, per unit of the input's spread),
    and how much of the input it keeps (correlation of G(x) with x)."""
    g = model.trainer.G.predict(x, verbose=0)
    r = g - x
    return np.std(r - r.mean(axis=tuple(range(1, r.ndim)), keepdims=True)) / np.std(x), np.corrcoef(g.ravel(), x.ravel())[0, 1]


@pytest.mark.parametrize('settings,min_departure', [(CYCLEGAN, 0.2), ({}, 0.15)],
                         ids=['plain CycleGAN', 'c2GAN defaults'])
def test_the_default_networks_leave_the_identity(settings, min_departure):
    """Failure mode 3: a residual generator starts at the identity, where the cycle loss is 0. With the default
    networks and sampling, plain CycleGAN on noisy-to-clean data leaves it within 100 steps and keeps the content
    (the 4-filter networks of these tests do not: they stay at the identity); so does c2GAN with its default losses.
    Departure from the identity at the start 0.06, after these 100 steps 0.38 for CycleGAN, 0.20 for c2GAN (0.39
    without the low-pass loss: G may not move the smoothed intensities beyond an affine map, which are part of the
    departure, and the loss slows leaving the identity, as on the development sets)."""
    from c2gan_tf import Config, synthetic
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    d = synthetic.generate(2, shape=(128, 128), n_a=2, n_b=2, n_test=0, seed=0)
    X_A, X_B, _, _ = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'YX'), (32, 32), 64, seed=0,
                                             verbose=False)
    config = Config('YX', train_patch_size=(32, 32), train_batch_size=4, train_seed=0, train_tensorboard=False,
                    **settings)
    model = C2GAN(config, None, None)
    assert identity_departure(model, X_A[:16])[0] < 0.1  # it starts near the identity
    model.train(X_A, X_B, epochs=1, steps_per_epoch=100)
    departure, kept = identity_departure(model, X_A[:16])
    assert departure > min_departure and kept > 0.8, (departure, kept)


def test_3d_c2gan_leaves_the_identity_with_the_default_3d_settings():
    """Issue 20: with the 2D settings a 3D c2GAN stayed at the identity (its discriminators won outright). With the
    3D defaults (shallower discriminators, weaker cycle term) a short training on synthetic volumes leaves it and
    keeps the content: the restored test volume is not much further from its ground truth than the noisy input is
    (how far it gets closer is a quality figure, measured by the benchmarks and the demo, not here)."""
    from c2gan_tf import C2GAN, Config, synthetic
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    from c2gan_tf.metrics import psnr_normalized
    d = synthetic.generate(3, shape=(16, 64, 64), n_a=2, n_b=2, n_test=1, seed=0)
    X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'ZYX'), (8, 32, 32), 32,
                                                 seed=0, verbose=False)
    config = Config('ZYX', unet_n_first=8, disc_n_filters=16, train_patch_size=(8, 32, 32), train_batch_size=1,
                    train_pool_size=8, train_seed=0, train_tensorboard=False)
    model = C2GAN(config, None, None)
    assert identity_departure(model, X_A[:8])[0] < 0.25  # near the identity (3D U-Nets start less close than 2D)
    model.train(X_A, X_B, epochs=1, steps_per_epoch=100, intensity_stats=stats)
    departure = identity_departure(model, X_A[:8])[0]
    x, gt = d['test_A'][0], d['test_GT'][0]
    gain = psnr_normalized(gt, model.predict(x, 'ZYX')) - psnr_normalized(gt, x)
    # these networks, 100 steps (a minute on 2 cores): departure 1.53, gain -0.03 dB (2026-12-07; with the learning
    # rate of 2D, 2e-4: 1.48 and -1.65 dB; earlier, on another CPU, 0.54 and +0.55); with the 2D settings (3 strided
    # layers, cycle weight 10) 0.07, the identity. 16-filter networks, batch 2, 200 steps (10 minutes on a slow CPU):
    # departure 2.28 and gain +3.9 dB on an AMD EPYC, 1.80 and -0.45 dB on an Intel Xeon: the gain after a few hundred
    # steps is a transient of the GAN that differs from CPU to CPU; the departure is not. A network that left the
    # content behind would lose far more.
    assert departure > 0.3 and gain > -2.0, (departure, gain)
