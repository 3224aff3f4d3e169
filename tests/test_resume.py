"""Reliability: resuming a run killed with SIGKILL, atomic writes under kills, stopping on NaN losses."""
import json
import os
import signal
import time

import numpy as np
import pytest

from c2gan_tf import C2GAN
from conftest import TINY_STATS, job, random_patches, result, tiny_config


def test_run_killed_mid_epoch_resumes_to_the_same_end(tmp_path):
    reference = job('train', 'fresh', tmp_path / 'reference')
    killed = job('train', 'fresh', tmp_path / 'killed')
    state = tmp_path / 'killed' / 'm' / 'training_state.json'
    deadline = time.time() + 300
    while not (state.exists() and json.loads(state.read_text())['epoch'] >= 2):
        assert time.time() < deadline and killed.poll() is None, 'the run ended before it could be killed'
        time.sleep(0.05)
    time.sleep(0.15)  # into the next epoch
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    before = json.loads(state.read_text())
    assert 2 <= before['epoch'] < 6
    resumed = result(job('train', 'resume', tmp_path / 'killed'))
    ref = result(reference)

    for key in ('gen_steps', 'disc_steps', 'lr', 'struct_weight', 'pool', 'epochs'):
        assert resumed[key] == pytest.approx(ref[key], rel=1e-6), key
    assert resumed['epochs'] == list(range(6))  # the trainer ends with weights_best (and its optimizer state)
    assert resumed['history']['lr'] == pytest.approx(ref['history']['lr'])
    assert resumed['history']['struct_weight'] == pytest.approx(ref['history']['struct_weight'])
    # the losses continue the interrupted run: its epochs are kept, the new ones follow
    done = before['epoch']
    for key in ('loss', 'cycle', 'disc'):
        assert resumed['history'][key][:done] == before['history'][key]
        assert len(resumed['history'][key]) == 6 and np.isfinite(resumed['history'][key]).all()
    # continuing as if never interrupted: the same batches in the same order, so the same losses and weights
    for key in ('loss', 'cycle', 'disc', 'val_select'):
        np.testing.assert_allclose(resumed['history'][key], ref['history'][key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(resumed['weights'], ref['weights'], rtol=1e-4)


def test_resume_needs_a_checkpoint(tmp_path):
    c = tiny_config()
    model = C2GAN(c, 'm', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no training checkpoint'):
        model.train(random_patches(c, 4), random_patches(c, 4, seed=1), resume=True)
    with pytest.raises(ValueError, match='resume needs a model folder'):
        C2GAN(c, None, basedir=None).train(random_patches(c, 4), random_patches(c, 4, seed=1), resume=True)


def stop_after(model, epochs):
    """A callback that ends training after ``epochs`` epochs, as an interruption between epochs would."""
    import keras

    def end(epoch, logs):
        model.trainer.stop_training = epoch + 1 >= epochs
    return keras.callbacks.LambdaCallback(on_epoch_end=end)


def test_resume_keeps_the_best_weights_minimum_and_replays_the_data_order(tmp_path):
    c = tiny_config()
    X_A, X_B = random_patches(c, 8, seed=1), random_patches(c, 8, seed=2) ** 2
    val = random_patches(c, 2, seed=3), random_patches(c, 2, seed=4)
    reference = C2GAN(c, 'ref', str(tmp_path))
    ref = reference.train(X_A, X_B, validation_data=val, epochs=4, steps_per_epoch=3, intensity_stats=TINY_STATS)
    model = C2GAN(c, 'm', str(tmp_path))
    model.train(X_A, X_B, validation_data=val, epochs=4, steps_per_epoch=3, intensity_stats=TINY_STATS,
                callbacks=[stop_after(model, 2)])
    state_file = tmp_path / 'm' / 'training_state.json'
    state = json.loads(state_file.read_text())
    assert state['epoch'] == 2 and state['best']['epoch'] in (1, 2)
    assert state['best']['value'] == min(state['history']['val_select'])
    # a minimum no later epoch can beat: the resumed run must not forget it and overwrite weights_best
    state['best'] = dict(state['best'], value=-1.0, epoch=1)
    state_file.write_text(json.dumps(state))
    best = (tmp_path / 'm' / 'weights_best.weights.h5').read_bytes()
    resumed = C2GAN(None, 'm', str(tmp_path)).train(X_A, X_B, validation_data=val, resume=True)
    after = json.loads(state_file.read_text())
    assert after['epoch'] == 4 and after['best'] == dict(monitor='val_select', value=-1.0, epoch=1)
    assert (tmp_path / 'm' / 'weights_best.weights.h5').read_bytes() == best
    # the resumed epochs saw the batches an uninterrupted run saw
    for key in ('loss', 'struct', 'disc', 'val_select'):
        np.testing.assert_allclose(resumed.history[key], ref.history[key], rtol=1e-4, err_msg=key)


def test_nan_loss_in_memory_restores_the_last_complete_epoch():
    c = tiny_config(train_learning_rate=1e12, lambda_cycle=1e6)
    model = C2GAN(c, None, basedir=None)
    start = [w.copy() for w in model.trainer.G.get_weights()]
    with pytest.raises(FloatingPointError, match='became NaN or infinite; the networks keep the weights'):
        model.train(random_patches(c, 4), random_patches(c, 4, seed=1) * 100, epochs=3, steps_per_epoch=20,
                    intensity_stats=TINY_STATS)
    for a, b in zip(model.trainer.G.get_weights(), start):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_training_and_keeps_the_last_good_weights(tmp_path):
    c = tiny_config(train_learning_rate=1e12, lambda_cycle=1e6)
    model = C2GAN(c, 'm', str(tmp_path))
    start = [w.copy() for w in model.trainer.G.get_weights()]
    with pytest.raises(FloatingPointError, match='became NaN or infinite; the networks keep the weights'):
        model.train(random_patches(c, 4), random_patches(c, 4, seed=1) * 100, epochs=3, steps_per_epoch=20)
    for a, b in zip(model.trainer.G.get_weights(), start):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)  # the checkpoint at the start: no epoch completed
    assert not (tmp_path / 'm' / 'weights_last.weights.h5').exists()


def test_kills_during_saves_leave_readable_files(tmp_path):
    from c2gan_tf.train import CycleTrainer
    rng = np.random.default_rng(0)
    reader = CycleTrainer(tiny_config())
    for k in range(5):
        proc = job('save', tmp_path)
        assert proc.stdout.readline().strip() == 'ready'
        while not (tmp_path / 'state.json').exists() or k == 0 and not (tmp_path / 'w.weights.h5').exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = json.loads((tmp_path / 'state.json').read_text())
        assert state['i'] >= 1 and len(state['payload']) == 20000
        reader.load_weights(str(tmp_path / 'w.weights.h5'))


def test_constant_and_zero_images_normalise_and_predict_without_nan(tmp_path):
    from c2gan_tf.data import UnpairedData, create_unpaired_patches, normalize_images
    for img in (np.zeros((32, 32, 1)), np.full((32, 32, 1), 7.0)):
        (norm,) = normalize_images([img])
        assert np.isfinite(norm).all()
    c = tiny_config()
    model = C2GAN(c, None, basedir=None)
    stats = {'A': {'low': 0.0, 'high': 1.0}, 'B': {'low': 0.0, 'high': 1.0}}
    model.train(random_patches(c, 4), random_patches(c, 4, seed=1), epochs=1, steps_per_epoch=1,
                intensity_stats=stats)
    for img in (np.zeros((32, 32)), np.full((32, 32), 500.0, np.float32)):
        assert np.isfinite(model.predict(img, 'YX')).all()
    blank = UnpairedData.from_arrays([np.zeros((32, 32))], [np.full((32, 32), 3.0)], 'YX')
    X_A, X_B, _, _ = create_unpaired_patches(blank, (16, 16), 2, patch_filter=None, verbose=False)
    assert np.isfinite(X_A).all() and np.isfinite(X_B).all()


def test_atomic_path_replaces_files_and_folders_only_on_success(tmp_path):
    from c2gan_tf.atomic import atomic_path
    target = tmp_path / 'state.json'
    target.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, 'w').write('half')
            raise RuntimeError('crash while writing')
    assert target.read_text() == 'old'
    with atomic_path(target) as tmp:
        assert os.path.basename(tmp) == 'state.json' and os.path.dirname(os.path.dirname(tmp)) == str(tmp_path)
        open(tmp, 'w').write('new')
    assert target.read_text() == 'new'
    folder = tmp_path / 'export'
    for content in ('first', 'second'):
        with atomic_path(folder) as tmp:
            os.mkdir(tmp)
            open(os.path.join(tmp, 'f.txt'), 'w').write(content)
    assert (folder / 'f.txt').read_text() == 'second' and sorted(os.listdir(folder)) == ['f.txt']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['export', 'state.json']  # nothing left behind
