import json
import os
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    return subprocess.run([sys.executable, '-m', 'c2gan_tf.cli', *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.mark.parametrize('args', [('--help',), ('demo', '--help')])
def test_help(args):
    r = run(*args)
    assert r.returncode == 0
    assert 'usage: c2gan' in r.stdout


def test_unknown_command_fails():
    r = run('frobnicate')
    assert r.returncode != 0 and 'invalid choice' in r.stderr


def test_demo_tiny_writes_results(tmp_path):
    r = run('demo', '--outdir', str(tmp_path / 'demo'), '--tiny', '--epochs', '1', '--steps', '3')
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / 'demo'
    for name in ('input.tif', 'restored.tif', 'ground_truth.tif', 'demo.png', 'metrics.json',
                 'model/config.json', 'model/weights_last.weights.h5'):
        assert (out / name).exists(), name
    m = json.loads((out / 'metrics.json').read_text())
    for key in ('psnr', 'psnr_normalized', 'ssim_normalized', 'histogram_distance', 'saturated_fraction'):
        assert key in m['input'] and key in m['restored']
    assert 0 <= m['restored']['mask_iou_with_input'] <= 1
    import tifffile
    restored = tifffile.imread(out / 'restored.tif')
    assert restored.shape == (128, 128) and restored.dtype.kind == 'f'
