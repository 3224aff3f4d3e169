"""Bad input through the real ``c2gan`` command, in a subprocess: exit code, one line, no traceback, the culprit named.

Also what a user must never lose: outputs that would replace inputs or each other, existing outputs and models,
values that do not fit an integer type, a batch past a bad file, and Ctrl-C during training.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

C2GAN_COMMAND = os.path.join(os.path.dirname(sys.executable), 'c2gan')  # the console script pip installed


def c2gan(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='0')  # nothing hidden: the command must be quiet on its own
    return subprocess.run([C2GAN_COMMAND, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def error_line(r, command):
    """The one line of stderr of a failed command (asserting that it is one line and no traceback)."""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert len(lines) == 1, lines
    assert lines[0].startswith('c2gan %s: error: ' % command), lines[0]
    return lines[0]


@pytest.fixture(scope='module')
def files(tmp_path_factory, tiny_model):
    """A model folder (a copy of the session's tiny model), patches, and images of every kind used below."""
    _, _, basedir = tiny_model
    root = tmp_path_factory.mktemp('cli_errors')
    shutil.copytree(basedir / 'model', root / 'models' / 'm')
    rng = np.random.default_rng(0)
    np.savez(root / 'p.npz', X=rng.random((12, 32, 32, 1), 'f4'), Y=rng.random((12, 32, 32, 1), 'f4'), axes='SYXC')
    (root / 'in').mkdir()
    for name in ('cell.t1.tif', 'cell.t2.tif'):
        tifffile.imwrite(root / 'in' / name, rng.integers(0, 255, (32, 32)).astype(np.uint8), imagej=True,
                         metadata={'axes': 'YX'})
    (root / 'other').mkdir()
    shutil.copy(root / 'in' / 'cell.t1.tif', root / 'other' / 'cell.t1.tif')
    tifffile.imwrite(root / 'rgb.tif', rng.integers(0, 255, (32, 32, 3)).astype(np.uint8), photometric='rgb')
    tifffile.imwrite(root / 'plain2d.tif', rng.integers(0, 255, (32, 32)).astype(np.uint8), metadata=None)
    return root


def damaged_model(files, name, change):
    """A copy of the model folder with one change (``change(folder)``)."""
    folder = files / 'damaged' / name
    if not folder.exists():
        shutil.copytree(files / 'models' / 'm', folder)
        change(folder)
    return folder


def write(text):
    return lambda folder: (folder / 'config.json').write_text(text)


def truncate_last(folder):
    data = (folder / 'weights_last.weights.h5').read_bytes()
    (folder / 'weights_last.weights.h5').write_bytes(data[:len(data) // 3])


def add_setting(folder):
    config = json.loads((folder / 'config.json').read_text())
    (folder / 'config.json').write_text(json.dumps(dict(config, unet_future_option=3)))


def no_last(folder):
    (folder / 'weights_last.weights.h5').unlink()


# (command arguments, the command, what the line must say); '{f}' is the folder of files above
CASES = [
    # outputs that would replace an input or another output
    (('predict', '{f}/models/m', '{f}/in/cell.t1.tif', '--outdir', '{f}/in', '--suffix', ''), 'predict',
     ['cell.t1.tif would replace its input']),
    (('predict', '{f}/models/m', '{f}/in/cell.t1.tif', '{f}/other/cell.t1.tif', '--outdir', '{f}/out'), 'predict',
     ['would both be written to', 'cell.t1.tif']),
    # models
    (('train', '{f}/p.npz', '--name', 'm', '--basedir', '{f}/models'), 'train',
     ['models/m already holds a model', '--resume', '--overwrite']),
    (('train', '{f}/p.npz', '--name', 'm', '--basedir', '{f}/models', '--resume', '--overwrite'), 'train',
     ['choose one']),
    (('train', '{f}/p.npz', '--name', 'm', '--basedir', '{f}/models', '--resume', '--set', 'unet_n_first=32'),
     'train', ['--resume keeps the settings', 'unet_n_first is 4 there, not 32']),
    (('train', '{f}/p.npz', '--name', 'm', '--basedir', '{f}/models', '--resume', '--batch-size', '3'), 'train',
     ['train_batch_size is 2 there, not 3']),
    (('train', '{f}/p.npz', '--name', 'm', '--basedir', '{f}/models', '--resume'), 'train',
     ['is finished (2 of 2 epochs)', '--epochs N']),
    (('train', '{f}/p.npz', '--name', 'new', '--basedir', '{f}/models', '--set', 'unet_n_first'), 'train',
     ["--set takes KEY=VALUE", "'unet_n_first'"]),
    (('train', '{f}/p.npz', '--name', 'new', '--basedir', '{f}/models', '--set', 'unet_n_frist=8'), 'train',
     ["unknown setting 'unet_n_frist' (did you mean unet_n_first?)"]),
    (('train', '{f}/p.npz', '--name', 'new', '--basedir', '{f}/models', '--set', 'unet_n_first=abc'), 'train',
     ["unet_n_first='abc' (an integer >= 1)"]),
    (('train', '{f}/p.npz', '--name', 'new', '--basedir', '{f}/models', '--set', 'train_patch_size=[30,32]'), 'train',
     ['train_patch_size=(30, 32)', 'a multiple of 4']),
    (('train', '{f}/missing.npz', '--name', 'new'), 'train', ['patches file not found', 'missing.npz']),
    # damaged model folders
    (('predict', '{damaged:notjson}', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x'), 'predict',
     ['notjson/config.json is not valid JSON', '--overwrite']),
    (('predict', '{damaged:empty}', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x'), 'predict',
     ['empty/config.json lacks axes']),
    (('predict', '{damaged:newer}', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x'), 'predict',
     ["newer/config.json: unknown setting 'unet_future_option'", 'newer version']),
    (('predict', '{damaged:truncated}', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x'), 'predict',
     ['truncated/weights_last.weights.h5 cannot be read', 'weights_best.weights.h5 instead (--weights best']),
    (('predict', '{damaged:nolast}', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x', '--weights', 'last'), 'predict',
     ['no weights weights_last.weights.h5', 'weights_best.weights.h5']),
    (('predict', '{f}/nomodel', '{f}/in/cell.t1.tif'), 'predict', ['no model (config.json)', 'nomodel']),
    (('predict', '{f}/models/m', '{f}/missing.tif'), 'predict', ['input not found', 'missing.tif']),
    (('predict', '{f}/models/m', '{f}/in/cell.t1.tif', '--outdir', '{f}/out_x', '--lowpass-weight', '2'), 'predict',
     ['--lowpass-weight must be a fraction from 0 to 1, got 2']),
    # images whose axes do not fit
    (('predict', '{f}/models/m', '{f}/rgb.tif', '--outdir', '{f}/out_x'), 'predict',
     ['rgb.tif', 'the image has 3 channels', '(32, 32, 3)', 'the model takes 1']),
    (('predict', '{f}/models/m', '{f}/rgb.tif', '--outdir', '{f}/out_x', '--axes', 'CYX'), 'predict',
     ['rgb.tif', 'has 32 channels', '(32, 32, 3)']),
    (('predict', '{f}/models/m', '{f}/rgb.tif', '--outdir', '{f}/out_x', '--axes', 'YXS'), 'predict',
     ['rgb.tif', 'S (RGB samples) is a channel axis here, write it C']),
    (('predict', '{f}/models/m', '{f}/plain2d.tif', '--outdir', '{f}/out_x', '--axes', 'ZYX'), 'predict',
     ['plain2d.tif', "axes 'ZYX' do not fit the image of shape (32, 32)", 'axes that fit: YX']),
    (('export', '{f}/models/m', '--format', 'bioimageio', '--test-input', '{f}/missing.tif'), 'export',
     ['test input not found']),
]
DAMAGES = dict(notjson=write('{"axes": "YXC",'), empty=write('{}'), newer=add_setting, truncated=truncate_last,
               nolast=no_last)


@pytest.mark.parametrize('args,command,expected', CASES, ids=['%s-%d' % (c[1], i) for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_naming_the_problem(files, args, command, expected):
    def fill(a):
        if a.startswith('{damaged:'):
            name = a[len('{damaged:'):-1]
            return damaged_model(files, name, DAMAGES[name])
        return a.format(f=files)
    r = c2gan(*map(fill, args))
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    line = error_line(r, command)
    for text in expected:
        assert text in line, (text, line)


def test_checks_come_before_tensorflow(files):
    """A missing model folder is reported at once: TensorFlow (seconds to import) is never loaded."""
    t = time.perf_counter()
    r = c2gan('predict', files / 'nomodel', files / 'in')
    assert r.returncode == 1 and time.perf_counter() - t < 4
    r = subprocess.run([sys.executable, '-c', 'import sys, c2gan_tf.cli; print("tensorflow" in sys.modules)'],
                       capture_output=True, text=True)
    assert r.stdout.strip() == 'False'


def test_library_import_is_quiet(tmp_path):
    r = subprocess.run([sys.executable, '-c', 'from c2gan_tf import C2GAN, Config; import c2gan_tf.model'],
                       capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='0'))
    assert r.returncode == 0 and r.stderr.strip() == '', r.stderr


def test_failed_tensorflow_import_is_shown(tmp_path):
    """What TensorFlow prints when it cannot be imported is not hidden."""
    (tmp_path / 'tensorflow').mkdir()
    (tmp_path / 'tensorflow' / '__init__.py').write_text(
        'import sys\nprint("broken CUDA library", file=sys.stderr)\nraise ImportError("no tensorflow")\n')
    r = subprocess.run([sys.executable, '-c', 'from c2gan_tf.quiet import import_tensorflow_quietly as q; q()'],
                       capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert r.returncode == 1 and 'broken CUDA library' in r.stderr and 'no tensorflow' in r.stderr


def test_output_names_keep_every_dot_and_outputs_beside_inputs_get_a_suffix(files, tmp_path):
    shutil.copytree(files / 'in', tmp_path / 'in')
    r = c2gan('predict', files / 'models' / 'm', tmp_path / 'in', '--outdir', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['cell.t1.tif', 'cell.t2.tif']
    r = c2gan('predict', files / 'models' / 'm', tmp_path / 'in' / 'cell.t1.tif', '--outdir', tmp_path / 'in')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'in').iterdir()) == ['cell.t1.tif', 'cell.t1_restored.tif',
                                                                   'cell.t2.tif']
    assert (tmp_path / 'in' / 'cell.t1.tif').read_bytes() == (files / 'in' / 'cell.t1.tif').read_bytes()


def test_existing_outputs_are_kept_unless_overwrite(files, tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'cell.t1.tif').write_bytes(b'an earlier result')
    r = c2gan('predict', files / 'models' / 'm', files / 'in', '--outdir', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert 'exists, kept (--overwrite replaces it)' in r.stdout
    assert (tmp_path / 'out' / 'cell.t1.tif').read_bytes() == b'an earlier result'
    assert tifffile.imread(tmp_path / 'out' / 'cell.t2.tif').shape == (32, 32)
    r = c2gan('predict', files / 'models' / 'm', files / 'in', '--outdir', tmp_path / 'out', '--overwrite')
    assert r.returncode == 0, r.stderr
    assert tifffile.imread(tmp_path / 'out' / 'cell.t1.tif').shape == (32, 32)


def test_batch_goes_on_past_a_bad_file_and_fails_at_the_end(files, tmp_path):
    shutil.copytree(files / 'in', tmp_path / 'in')
    (tmp_path / 'in' / 'cell.t0.tif').write_text('not a tiff')
    r = c2gan('predict', files / 'models' / 'm', tmp_path / 'in', '--outdir', tmp_path / 'out')
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and 'cell.t0.tif' in lines[0] and 'cannot read' in lines[0]
    assert lines[1] == 'c2gan predict: error: 1 of 3 files failed (see above)'
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['cell.t1.tif', 'cell.t2.tif']
    r = c2gan('predict', files / 'models' / 'm', tmp_path / 'in', '--outdir', tmp_path / 'fast', '--fail-fast')
    assert r.returncode == 1 and not (tmp_path / 'fast' / 'cell.t1.tif').exists()  # cell.t0 comes first


def test_integer_outputs_that_do_not_fit_are_mapped_and_the_mapping_stored(files, tmp_path, tiny_model):
    """The tiny model restores into domain B's units (110-2000): uint8 would clip nearly every pixel."""
    model, _, _ = tiny_model
    r = c2gan('predict', files / 'models' / 'm', files / 'in' / 'cell.t1.tif', '--outdir', tmp_path, '--dtype',
              'same')
    assert r.returncode == 0, r.stderr
    assert 'uint8, mapped into its range (the values did not fit): value = pixel *' in r.stdout
    with tifffile.TiffFile(tmp_path / 'cell.t1.tif') as tif:
        saved, meta = tif.asarray(), tif.imagej_metadata
    assert saved.dtype == np.uint8 and saved.max() == 255
    expected = model.predict(tifffile.imread(files / 'in' / 'cell.t1.tif'), 'YX')
    values = saved * meta['c2gan_scale'] + meta['c2gan_offset']
    np.testing.assert_allclose(values, expected, atol=meta['c2gan_scale'] / 2 + 1e-3)
    r = c2gan('predict', files / 'models' / 'm', files / 'in' / 'cell.t1.tif', '--outdir', tmp_path / 'clipped',
              '--dtype', 'uint8', '--clip')
    assert r.returncode == 0
    warning = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith('c2gan predict: warning: ') and 'were clipped' in warning[0]


def test_set_takes_keys_the_command_fills_in_and_python_literals(files, tmp_path):
    r = c2gan('train', files / 'p.npz', '--name', 'n', '--basedir', tmp_path, '--epochs', '1', '--steps-per-epoch',
              '1', '--batch-size', '2', '--set', 'train_patch_size=[32,32]', '--set', 'n_channel_in=1', '--set',
              'unet_n_first=(4)', '--set', 'disc_n_filters=4', '--set', 'train_tensorboard=False', '--set',
              'struct_decay=constant', '--set', 'train_pool_size=4')
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((tmp_path / 'n' / 'config.json').read_text())
    assert config['unet_n_first'] == 4 and config['train_tensorboard'] is False and config['struct_decay'] == 'constant'
    # --epochs trains a finished run further
    r = c2gan('train', files / 'p.npz', '--name', 'n', '--basedir', tmp_path, '--resume', '--epochs', '2')
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / 'n' / 'training_state.json').read_text())['epoch'] == 2
    # --overwrite starts again, without the files of the old run
    (tmp_path / 'n' / 'export_AtoB.zip').write_bytes(b'an export of the old weights')
    r = c2gan('train', files / 'p.npz', '--name', 'n', '--basedir', tmp_path, '--overwrite', '--epochs', '1',
              '--steps-per-epoch', '1', '--batch-size', '2', '--set', 'unet_n_first=4', '--set', 'disc_n_filters=4',
              '--set', 'train_pool_size=4', '--set', 'train_tensorboard=false')
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (tmp_path / 'n' / 'export_AtoB.zip').exists()
    assert json.loads((tmp_path / 'n' / 'training_state.json').read_text())['epochs'] == 1


def _default_sigint():
    """In the child, Ctrl-C as a terminal gives it: a suite started in the background (``.ci/run &`` from a script)
    inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so the signal would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_training_is_one_line_that_says_how_to_resume(files, tmp_path):
    proc = subprocess.Popen([C2GAN_COMMAND, 'train', str(files / 'p.npz'), '--name', 'k', '--basedir', str(tmp_path),
                             '--epochs', '100', '--steps-per-epoch', '50', '--batch-size', '2', '--set',
                             'unet_n_first=4', '--set', 'disc_n_filters=4', '--set', 'train_pool_size=4'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    state = tmp_path / 'k' / 'training_state.json'
    deadline = time.time() + 300
    while not (state.exists() and json.loads(state.read_text())['epoch'] >= 1):
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and 'Traceback' not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('c2gan train: interrupted: ')
    assert 'keeps its last complete epoch' in lines[0] and lines[0].endswith('--name k --basedir %s --resume'
                                                                              % tmp_path)
