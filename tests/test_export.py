"""Fiji export: the zip loads and runs in the real TensorFlow 1.15 runtime and matches Keras."""
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from csbdeep.data import PadAndCropResizer

from c2gan_tf import C2GAN, DomainNormalizer
from c2gan_tf.calibration import calibrated_range
from conftest import random_patches, tiny_config, train_tiny

TF1_DIR = Path(os.environ.get('TF1_RUNTIME_DIR', Path.home() / '.cache' / 'tf1-runtime'))
TF1_RUN = Path(__file__).resolve().parents[2] / 'shared' / 'tools' / 'tf1-runtime' / 'tf1_run.py'


def tf1_run(zip_file, x, tmp_path):
    if not (TF1_DIR / 'ready').exists() or not TF1_RUN.exists():
        if os.environ.get('CI'):
            pytest.fail('the TF 1.15 runtime is not set up (shared/tools/tf1-runtime/setup.sh)')
        pytest.skip('the TF 1.15 runtime is not set up (shared/tools/tf1-runtime/setup.sh)')
    np.save(tmp_path / 'in.npy', x)
    r = subprocess.run([sys.executable, str(TF1_RUN), str(zip_file), str(tmp_path / 'in.npy'),
                        str(tmp_path / 'out.npy')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'TF 1.15.0 ran' in r.stdout
    return np.load(tmp_path / 'out.npy')


def weight_bytes(saved_model_pb):
    """The constants (frozen weights) of a SavedModel's graph, sorted."""
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(saved_model_pb)
    consts = sorted(n.attr['value'].tensor.tensor_content for n in sm.meta_graphs[0].graph_def.node if n.op == 'Const')
    assert sum(len(c) for c in consts) > 1000
    return consts


def folder_digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir())
            if p.is_file() and p.suffix != '.zip'}


@pytest.mark.parametrize('axes,shape', [('YX', (2, 48, 72, 1)), ('ZYX', (1, 8, 40, 24, 1))])
def test_fiji_export_runs_in_tf1_and_matches_keras(tmp_path, rng, axes, shape):
    model = train_tiny(tmp_path, axes, validation=False, epochs=1)[0]
    before = folder_digest(model.logdir)
    x = rng.random(shape, np.float32)
    for direction, net in (('AtoB', model.trainer.G), ('BtoA', model.trainer.F)):
        z = model.export_TF(direction=direction)
        assert z == model.logdir / ('TF_SavedModel_%s.zip' % direction)
        with zipfile.ZipFile(z) as f:
            names = set(f.namelist())
            meta = json.loads(f.read('meta.json'))
        assert {'saved_model.pb', 'meta.json', 'variables/'} <= names  # variables frozen into the graph
        assert meta['axes'] == axes + 'C' and meta['direction'] == direction
        assert meta['axes_div_by'][:-1] == [4] * (len(axes)) and meta['axes_div_by'][-1] == 1
        assert meta['tile_overlap'][-1] == 0 and min(meta['tile_overlap'][:-1]) > 0
        out = tf1_run(z, x, tmp_path)
        ref = net.predict(x, verbose=0)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert folder_digest(model.logdir) == before  # exporting leaves the model's training state alone


def test_export_is_deterministic(tmp_path):
    model = train_tiny(tmp_path, 'YX', validation=False, epochs=1)[0]
    first = model.export_TF(tmp_path / 'a.zip').read_bytes()
    second = model.export_TF(tmp_path / 'b.zip').read_bytes()
    assert first == second
    # a reloaded model (in a process where Keras numbers its auto-named layers differently) has the same weights
    loaded = C2GAN(None, 'model', str(tmp_path))
    with zipfile.ZipFile(tmp_path / 'a.zip') as a, zipfile.ZipFile(loaded.export_TF(tmp_path / 'c.zip')) as c:
        assert weight_bytes(a.read('saved_model.pb')) == weight_bytes(c.read('saved_model.pb'))
    with pytest.raises(ValueError, match='direction'):
        model.export_TF(tmp_path / 'd.zip', direction='sideways')


def test_tf2_savedmodel_runs_any_size(tmp_path, rng):
    import tensorflow as tf
    model = train_tiny(tmp_path, 'ZYX', validation=False, epochs=1)[0]
    model.export_savedmodel(str(tmp_path / 'sm'), direction='AtoB')
    path = model.export_savedmodel(str(tmp_path / 'sm'), direction='BtoA')  # replaces the earlier export
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('sm')) == ['sm']
    loaded = tf.saved_model.load(path)
    for shape in ((1, 8, 16, 24, 1), (2, 12, 40, 32, 1)):
        x = rng.random(shape, np.float32)
        out = loaded.serve(x)['output'].numpy()
        np.testing.assert_allclose(out, model.trainer.F.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('axes,shape', [('YX', (50, 70)), ('ZYX', (9, 34, 40))])
def test_bioimageio_package_validates_and_passes_the_core_test(tmp_path, rng, axes, shape, monkeypatch):
    spec = pytest.importorskip('bioimageio.spec')
    core = pytest.importorskip('bioimageio.core')
    c = tiny_config(axes)
    model = C2GAN(c, 'model', str(tmp_path))
    stats = {'A': {'low': 100.0, 'high': 300.0}, 'B': {'low': 110.0, 'high': 2000.0}}
    model.train(random_patches(c, 4), random_patches(c, 4, seed=1) ** 2, epochs=1, steps_per_epoch=2,
                intensity_stats=stats)
    before = folder_digest(model.logdir)
    x = rng.random(shape, np.float32) * 200 + 100
    path = model.export_bioimageio(str(tmp_path / 'package.zip'), x, axes)
    assert folder_digest(model.logdir) == before

    descr = spec.load_description(path)
    assert descr.validation_summary.status == 'valid-format', descr.validation_summary.format()
    assert set(descr.weights.available_formats) == {'keras_v3', 'tensorflow_saved_model_bundle'}
    assert [str(p.id) for p in descr.inputs[0].preprocessing if str(p.id) != 'ensure_dtype'] == ['scale_range']
    # a fixed map: B's range 110..2000 with the training-time calibration (not each output's own percentiles)
    post = [p for p in descr.outputs[0].postprocessing if str(p.id) != 'ensure_dtype']
    assert [str(p.id) for p in post] == ['scale_linear']
    low, high = calibrated_range(110, 2000, *model.output_calibration)
    assert (low, high) == pytest.approx(model.export_range()) and (low, high) != pytest.approx((110, 2000))
    assert post[0].kwargs.gain == pytest.approx(high - low) and post[0].kwargs.offset == pytest.approx(low)
    assert any('10.1038/s41377-021-00484-y' in str(cite.doi) for cite in descr.cite)

    monkeypatch.chdir(tmp_path)  # bioimageio.core unpacks TensorFlow weights into the current folder
    summary = core.test_model(path)
    assert summary.status == 'passed', summary.format()
    reproduced = [d.name for d in summary.details if d.name.startswith('Reproduce test outputs')]
    assert len(reproduced) == 2 and all(d.status == 'passed' for d in summary.details)

    # the test output is what C2GAN.predict gives (cropped to a multiple of 4) through the package's fixed map, of
    # G's output as it is (the package has no input's low band, nor the margin predict reflects the image by)
    with zipfile.ZipFile(path) as z:
        z.extract('test_output.npy', tmp_path)
    cropped = x[tuple(slice(0, s - s % 4) for s in x.shape)]
    fixed = DomainNormalizer(low, high, c.norm_pmin, c.norm_pmax)
    np.testing.assert_allclose(np.load(tmp_path / 'test_output.npy')[0, ..., 0],
                               model.predict(cropped, axes, normalizer=fixed, lowpass_weight=0,
                                             resizer=PadAndCropResizer()), rtol=1e-5, atol=1e-3)


def test_bioimageio_package_of_a_model_trained_on_normalised_data(tmp_path, rng, monkeypatch):
    """Domain B's range 0..1 (float data already normalised) and no output calibration: no identity scaling, and
    the package test-runs."""
    spec = pytest.importorskip('bioimageio.spec')
    core = pytest.importorskip('bioimageio.core')
    c = tiny_config('YX', output_calibration='none')
    model = C2GAN(c, 'model', str(tmp_path))
    stats = {'A': {'low': 0.0, 'high': 1.0}, 'B': {'low': 0.0, 'high': 1.0}}
    model.train(random_patches(c, 4), random_patches(c, 4, seed=1), epochs=1, steps_per_epoch=2,
                intensity_stats=stats)
    x = rng.random((40, 48), np.float32)
    path = model.export_bioimageio(str(tmp_path / 'package.zip'), x, 'YX')
    descr = spec.load_description(path)
    assert descr.validation_summary.status == 'valid-format', descr.validation_summary.format()
    assert [str(p.id) for p in descr.outputs[0].postprocessing if str(p.id) != 'ensure_dtype'] == []
    monkeypatch.chdir(tmp_path)
    summary = core.test_model(path)
    assert summary.status == 'passed', summary.format()
