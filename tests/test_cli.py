import json
import os
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    return subprocess.run([sys.executable, '-m', 'c2gan_tf.cli', *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.mark.parametrize('args', [('--help',), ('demo', '--help'), ('datagen', '--help'), ('train', '--help'),
                                  ('predict', '--help'), ('export', '--help')])
def test_help(args):
    r = run(*args)
    assert r.returncode == 0
    assert 'usage: c2gan' in r.stdout


def test_unknown_command_fails():
    r = run('frobnicate')
    assert r.returncode != 0 and 'invalid choice' in r.stderr


@pytest.mark.parametrize('ndim,shape', [(2, (128, 128)), (3, (16, 64, 64))])
def test_demo_tiny_writes_results(tmp_path, ndim, shape):
    r = run('demo', '--outdir', str(tmp_path / 'demo'), '--tiny', '--epochs', '2', '--steps', '3', '--ndim', str(ndim))
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'cuInit' not in r.stderr and 'CUDA' not in r.stderr  # no GPU here, and nothing to say about it
    # output to a pipe: one plain line per epoch, no progress bar redrawn with carriage returns and colours
    assert '\r' not in r.stdout and '\x1b' not in r.stdout
    epochs = [line for line in r.stdout.splitlines() if line.startswith('epoch ')]
    assert [e.split(':')[0] for e in epochs] == ['epoch 1/2', 'epoch 2/2'] and 'ETA' in epochs[0]
    out = tmp_path / 'demo'
    for name in ('input.tif', 'restored.tif', 'ground_truth.tif', 'demo.png', 'metrics.json',
                 'model/config.json', 'model/weights_last.weights.h5'):
        assert (out / name).exists(), name
    m = json.loads((out / 'metrics.json').read_text())
    for key in ('psnr', 'psnr_normalized', 'ssim_normalized', 'histogram_distance', 'saturated_fraction'):
        assert key in m['input'] and key in m['restored']
    import tifffile
    restored = tifffile.imread(out / 'restored.tif')
    assert restored.shape == shape and restored.dtype.kind == 'f'


def make_folders(tmp_path, ndim, dtype, n_channel=1):
    import numpy as np
    import tifffile

    from c2gan_tf import synthetic
    shape = (64, 64) if ndim == 2 else (8, 48, 48)
    d = synthetic.generate(ndim, shape, n_a=2, n_b=3, n_test=2, seed=0)
    axes = 'YX' if ndim == 2 else 'ZYX'
    if n_channel > 1:
        axes = axes[:-2] + 'CYX'
    for key, folder in (('A', 'low'), ('B', 'high'), ('test_A', 'test')):
        (tmp_path / folder).mkdir()
        for i, img in enumerate(d[key]):
            if n_channel > 1:
                img = np.stack([img] * n_channel, axis=axes.index('C'))
            if dtype == np.uint8:
                img = (img - img.min()) * 255.0 / (img.max() - img.min())
            img = img.astype(dtype)
            tifffile.imwrite(tmp_path / folder / ('%s_%d.tif' % (folder, i)), img, imagej=True,
                             metadata={'axes': axes})
    return axes


@pytest.mark.parametrize('ndim,dtype,n_channel', [(2, 'uint16', 1), (3, 'uint8', 2)])
def test_round_trip_datagen_train_predict(tmp_path, ndim, dtype, n_channel):
    import numpy as np
    import tifffile
    axes = make_folders(tmp_path, ndim, np.dtype(dtype).type, n_channel)
    patch = ['32', '32'] if ndim == 2 else ['8', '16', '16']
    r = run('datagen', str(tmp_path), '--source-dirs', 'low', '--target-dir', 'high', '--axes', axes,
            '--patch-size', *patch, '--n-patches', '6', '--seed', '0', '--out', str(tmp_path / 'p.npz'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert '12 patches of A and 18 of B' in r.stdout
    r = run('train', str(tmp_path / 'p.npz'), '--name', 'm', '--basedir', str(tmp_path / 'models'), '--epochs', '1',
            '--steps-per-epoch', '2', '--batch-size', '2', '--set', 'unet_n_first=4', '--set', 'disc_n_filters=4',
            '--set', 'train_pool_size=4', '--set', 'train_tensorboard=false', '--validation-split', '0.2')
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((tmp_path / 'models' / 'm' / 'config.json').read_text())
    assert config['unet_n_first'] == 4 and config['train_tensorboard'] is False
    assert config['n_channel_in'] == n_channel and config['train_patch_size'] == [int(p) for p in patch]
    n_tiles = ['1'] * len(axes)
    n_tiles[-1] = '2'
    dtype_args = ('--dtype', 'same') if ndim == 3 else ()  # axes from the ImageJ metadata of the files
    r = run('predict', str(tmp_path / 'models' / 'm'), str(tmp_path / 'test'), '--outdir', str(tmp_path / 'out'),
            '--n-tiles', *n_tiles, *dtype_args)
    assert r.returncode == 0, r.stderr[-2000:]
    for i in range(2):
        with tifffile.TiffFile(tmp_path / 'out' / ('test_%d.tif' % i)) as tif:
            assert tif.is_imagej and tif.series[0].axes == axes
            img = tif.asarray()
        src = tifffile.imread(tmp_path / 'test' / ('test_%d.tif' % i))
        assert img.shape == src.shape and img.dtype == (src.dtype if ndim == 3 else np.float32)
        assert np.isfinite(img).all()
    if ndim == 2:  # --lowpass-weight 0: G's output as it is, as the API gives it
        r = run('predict', str(tmp_path / 'models' / 'm'), str(tmp_path / 'test' / 'test_0.tif'), '--outdir',
                str(tmp_path / 'out0'), '--lowpass-weight', '0')
        assert r.returncode == 0, r.stderr[-2000:]
        from c2gan_tf import C2GAN
        model = C2GAN.from_folder(str(tmp_path / 'models' / 'm'))
        src = tifffile.imread(tmp_path / 'test' / 'test_0.tif')
        expected = {}
        for out, weight, tiles in (('out0', 0, None), ('out', None, [int(t) for t in n_tiles])):
            expected[out] = model.predict(src, axes, lowpass_weight=weight, n_tiles=tiles)
            got = tifffile.imread(tmp_path / out / 'test_0.tif')
            np.testing.assert_allclose(got, expected[out], rtol=1e-4, atol=1e-4 * np.abs(expected[out]).max())
        # the default (half of the input's mapped low band) is not weight 0; after two training steps G is near the
        # identity, so the two differ little, but they differ
        assert not np.array_equal(expected['out0'], expected['out'])
    r = run('export', str(tmp_path / 'models' / 'm'), '--direction', 'BtoA', '--out', str(tmp_path / 'fiji.zip'))
    assert r.returncode == 0, r.stderr[-2000:]
    import zipfile
    with zipfile.ZipFile(tmp_path / 'fiji.zip') as z:
        assert 'saved_model.pb' in z.namelist()
        assert json.loads(z.read('meta.json'))['direction'] == 'BtoA'
    if ndim == 2:
        r = run('export', str(tmp_path / 'models' / 'm'), '--format', 'savedmodel')
        assert r.returncode == 0, r.stderr[-2000:]
        assert (tmp_path / 'models' / 'm' / 'savedmodel_AtoB' / 'saved_model.pb').exists()
        r = run('export', str(tmp_path / 'models' / 'm'), '--format', 'bioimageio')
        assert r.returncode == 1 and 'needs --test-input' in r.stderr
        r = run('export', str(tmp_path / 'models' / 'm'), '--format', 'bioimageio', '--test-input',
                str(tmp_path / 'test' / 'test_0.tif'), '--axes', axes, '--name', 'round trip')
        assert r.returncode == 0, r.stderr[-2000:]
        with zipfile.ZipFile(tmp_path / 'models' / 'm' / 'bioimageio_AtoB.zip') as z:
            assert 'rdf.yaml' in z.namelist() and 'name: round trip' in z.read('rdf.yaml').decode()


def test_bad_input_exits_with_one_clear_line(tmp_path):
    import numpy as np
    make_folders(tmp_path, 2, 'uint16')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'bad.tif').write_text('not a tiff')
    (tmp_path / 'notes.txt').write_text('patches?')
    np.savez(tmp_path / 'p.npz', X=np.zeros((20, 8, 8, 1), 'f4'), Y=np.zeros((20, 8, 8, 1), 'f4'), axes='SYXC')
    cases = [
        (('datagen', str(tmp_path), '--source-dirs', 'low', '--target-dir', 'empty', '--axes', 'YX',
          '--patch-size', '16', '16'), 'no files matching'),
        (('datagen', str(tmp_path), '--source-dirs', 'low', '--target-dir', 'high', '--axes', 'ZYX',
          '--patch-size', '4', '16', '16'), 'does not match axes'),
        (('datagen', str(tmp_path), '--source-dirs', 'low', '--target-dir', 'high', '--axes', 'YX',
          '--patch-size', '128', '128'), 'smaller than the patch size'),
        (('train', str(tmp_path / 'missing.npz'), '--name', 'x'), 'missing.npz'),
        (('train', str(tmp_path / 'notes.txt'), '--name', 'x'), 'notes.txt is not an .npz file of patches'),
        (('predict', str(tmp_path / 'nomodel'), str(tmp_path / 'test'), '--axes', 'YX'), 'no model'),
        (('export', str(tmp_path / 'nomodel')), 'no model'),
        (('train', str(tmp_path / 'p.npz'), '--name', 'nomodel', '--basedir', str(tmp_path), '--resume'),
         'no model'),
    ]
    for args, message in cases:
        r = run(*args)
        assert r.returncode == 1, (args, r.stderr[-1000:])
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith('c2gan %s: error:' % args[0]) and message in lines[0], lines
