"""Out-of-core prediction with Dask: blocks agree with in-memory prediction, resume after a kill, a 2-worker cluster."""
import json
import os
import signal
import sys
import time

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from c2gan_tf.blocks import (BLOCK_VOXELS, FixedNormalizer, _last_merged, block_sizes, predict_blocks,
                             volume_percentiles)
from c2gan_tf.calibration import calibrated_range, image_calibration
from c2gan_tf.io.zarr import open_image
from conftest import job, result, train_tiny


def uneven_image(shape, seed=0):
    """Random intensities whose brightness varies across the image (blocks normalised alone would differ)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(1, 4, shape[-1], dtype=np.float32)
    return (rng.random(shape, np.float32) * 800 + 100) * ramp


def in_memory(model, img, axes, chunks):
    """Whole-image prediction with the whole volume's sampled percentiles, as the blocks are normalised, into B's
    units with the calibration of the whole output (the blocks sample at most 32 blocks: all of them here)."""
    c = model.config
    x = da.from_array(img, chunks=chunks)
    assert np.prod(x.numblocks) <= 32
    v = model.predict(img, axes, normalizer=FixedNormalizer(*volume_percentiles(x, axes, c.norm_pmin, c.norm_pmax)))
    low, high = calibrated_range(*model.output_range(), *image_calibration(v, c.norm_pmin, c.norm_pmax))
    return low + v * (high - low)


def test_blocks_of_a_tiff_agree_with_whole_image_prediction_and_keep_pixel_size(tiny_model, tmp_path):
    model, _, _ = tiny_model
    img = uneven_image((150, 134))
    tifffile.imwrite(tmp_path / 'in.tif', img, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={'axes': 'YX', 'unit': 'micron'})
    out = predict_blocks(model, str(tmp_path / 'in.tif'), str(tmp_path / 'out.ome.zarr'), block_size=32,
                         progress=False)
    restored, axes, spacing = open_image(out)
    assert axes == 'YX' and spacing == {'Y': pytest.approx(0.2), 'X': pytest.approx(0.2), 'unit': 'µm'}
    assert restored.chunksize == (32, 32)  # written block by block
    expected = in_memory(model, img, 'YX', (32, 32))
    np.testing.assert_allclose(np.asarray(restored), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert sorted(os.listdir(tmp_path)) == ['in.tif', 'out.ome.zarr']  # nothing left of the run
    meta = zarr.open_group(out).attrs.asdict()['ome']['multiscales'][0]
    assert [a['name'] for a in meta['axes']] == ['y', 'x'] and len(meta['datasets']) == 1
    from c2gan_tf import blocks
    assert model in blocks._models.values()  # kept for the next blocks of this process, until emptied
    blocks.clear_models()
    assert not blocks._models


@pytest.mark.parametrize('shape,block_size', [((70, 53), 16), ((12, 200), 32), ((102, 98), None)])
def test_blocks_smaller_than_the_halo_thin_images_and_one_block_off_the_grid_equal_whole_image_prediction(
        tiny_model, tmp_path, shape, block_size):
    """Blocks smaller than the network's halo and the Gaussian's reach of the input's low band, an image thinner than
    that reach, an image of one block whose side is no multiple of the network's divisibility."""
    model, _, _ = tiny_model
    assert model.lowpass_weight() > 0
    img = uneven_image(shape, seed=9)
    out = predict_blocks(model, da.from_array(img), str(tmp_path / 'o.ome.zarr'), axes='YX', block_size=block_size,
                         progress=False)
    restored = np.asarray(open_image(out)[0])
    expected = in_memory(model, img, 'YX', block_sizes(model, 'YX', shape, block_size))
    np.testing.assert_allclose(restored, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_last_block_thinner_than_the_halo_joins_the_one_before_and_the_others_keep_their_grid():
    assert _last_merged((32, 20), 24) == (52,)
    assert _last_merged((32, 32, 20), 24) == (32, 52)
    assert _last_merged((512, 88), 44) == (512, 88)
    assert _last_merged((12,), 24) == (12,)


def test_blocks_3d_and_a_stack_restored_plane_by_plane(tmp_path):
    model3d, _ = train_tiny(tmp_path, 'ZYX', epochs=1, steps_per_epoch=1, name='m3d')
    img = uneven_image((12, 40, 36), seed=1)
    zarr.create_array(str(tmp_path / 'vol.zarr'), data=img, chunks=(12, 40, 36))
    out = predict_blocks(model3d, str(tmp_path / 'vol.zarr'), str(tmp_path / 'vol.ome.zarr'), axes='ZYX',
                         block_size=16, progress=False)
    restored, axes, _ = open_image(out)
    assert axes == 'ZYX' and restored.shape == img.shape
    expected = in_memory(model3d, img, 'ZYX', (8, 16, 16))
    np.testing.assert_allclose(np.asarray(restored), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    with pytest.raises(ValueError, match='has no axes in its metadata'):
        predict_blocks(model3d, str(tmp_path / 'vol.zarr'), str(tmp_path / 'other.ome.zarr'), progress=False)


def test_stack_with_a_2d_model_is_restored_plane_by_plane_in_blocks(tiny_model, tmp_path):
    model, _, _ = tiny_model
    stack = uneven_image((3, 64, 48), seed=2)
    out = predict_blocks(model, da.from_array(stack, chunks=(1, 64, 48)), str(tmp_path / 's.ome.zarr'), axes='ZYX',
                         block_size=32, progress=False)
    restored = np.asarray(open_image(out)[0])
    expected = in_memory(model, stack, 'ZYX', (1, 32, 32))
    np.testing.assert_allclose(restored, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_2d_model_takes_several_planes_of_a_stack_to_a_block(tiny_model):
    model, _, _ = tiny_model
    assert block_sizes(model, 'ZYX', (20, 512, 512)) == (8, 512, 512)
    assert block_sizes(model, 'TZYX', (5, 3, 512, 512)) == (2, 3, 512, 512)  # the innermost axis first
    assert block_sizes(model, 'ZYX', (4, 2048, 2048)) == (4, 512, 512)  # no more planes than there are
    assert block_sizes(model, 'ZYX', (2, 4096, 4096), 4096) == (1, 4096, 4096)  # at least one
    assert np.prod(block_sizes(model, 'ZYX', (100, 256, 256))) == BLOCK_VOXELS


def test_killed_run_restarted_with_the_same_command_gives_the_same_output(tiny_model, tmp_path):
    _, _, basedir = tiny_model
    tifffile.imwrite(tmp_path / 'in.tif', uneven_image((256, 256), seed=3), imagej=True, metadata={'axes': 'YX'})
    args = [str(basedir / 'model'), str(tmp_path / 'in.tif'), str(tmp_path / 'killed.ome.zarr')]
    proc = job('blocks', *args, 'slow')
    done = tmp_path / 'killed.ome.zarr.blocks-done'
    deadline = time.time() + 300
    while not (done.is_dir() and len(os.listdir(done)) >= 4):  # job.json and at least 3 blocks
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(os.listdir(done)) - 1
    assert 3 <= n_done < 64
    assert result(job('blocks', *args))['computed'] == 64 - n_done  # the others were skipped
    result(job('blocks', args[0], args[1], tmp_path / 'reference.ome.zarr'))
    np.testing.assert_array_equal(np.asarray(open_image(str(tmp_path / 'killed.ome.zarr'))[0]),
                                  np.asarray(open_image(str(tmp_path / 'reference.ome.zarr'))[0]))


def test_two_worker_local_cluster_gives_the_local_result(tiny_model, tmp_path):
    import dask
    from distributed import Client, LocalCluster

    from c2gan_tf.blocks import profiler_can_deadlock
    model, _, _ = tiny_model
    img = uneven_image((96, 80), seed=4)
    zarr.create_array(str(tmp_path / 'in.zarr'), data=img, chunks=(32, 32))  # Zarr read in worker processes
    local = predict_blocks(model, str(tmp_path / 'in.zarr'), str(tmp_path / 'local.ome.zarr'), axes='YX',
                           block_size=32, progress=False)
    # workers without Dask's profiler, which can deadlock them on Python < 3.11.9 (CPython gh-106883)
    with dask.config.set({'distributed.worker.profile.enabled': False}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            assert list(client.run(profiler_can_deadlock).values()) == [False, False]
            remote = predict_blocks(model, str(tmp_path / 'in.zarr'), str(tmp_path / 'remote.ome.zarr'), axes='YX',
                                    block_size=32, scheduler=cluster.scheduler_address, progress=False)
    local = np.asarray(open_image(local)[0])
    np.testing.assert_allclose(np.asarray(open_image(remote)[0]), local, rtol=1e-5, atol=1e-6 * np.abs(local).max())


def test_workers_whose_profiler_can_deadlock_are_named(monkeypatch):
    import dask

    from c2gan_tf import blocks
    with dask.config.set({'distributed.worker.profile.enabled': True}):
        assert blocks.profiler_can_deadlock() == (sys.version_info < (3, 11, 9))

    class Client:
        def run(self, func):
            return {'tcp://a': True, 'tcp://b': False}
    with pytest.warns(UserWarning, match=r"1 of the cluster's workers run Dask's profiler on Python < 3.11.9"):
        blocks._warn_of_profiler_deadlock(Client())


def test_an_output_of_another_interrupted_job_is_refused(tiny_model, tmp_path):
    model, _, _ = tiny_model
    (tmp_path / 'o.ome.zarr.blocks-done').mkdir()
    (tmp_path / 'o.ome.zarr.blocks-done' / 'job.json').write_text(json.dumps({'source': 'another'}))
    with pytest.raises(ValueError, match='holds an interrupted run of another job'):
        predict_blocks(model, da.zeros((64, 64), chunks=32), str(tmp_path / 'o.ome.zarr'), axes='YX', progress=False)


def test_cli_restores_a_zarr_into_ome_zarr(tiny_model, tmp_path, capsys):
    from c2gan_tf import cli
    _, _, basedir = tiny_model
    img = uneven_image((70, 66), seed=5)
    zarr.create_array(str(tmp_path / 'raw.zarr'), data=img, chunks=(32, 32))
    code = cli.main(['predict', str(basedir / 'model'), str(tmp_path / 'raw.zarr'), '--axes', 'YX', '--outdir',
                     str(tmp_path / 'out'), '--block-size', '32'])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().splitlines()[-1] == '%s -> %s (float32, not clipped)' % (tmp_path / 'raw.zarr',
                                                                              tmp_path / 'out' / 'raw.ome.zarr')
    restored, axes, _ = open_image(str(tmp_path / 'out' / 'raw.ome.zarr'))
    assert axes == 'YX' and restored.shape == img.shape and np.isfinite(np.asarray(restored)).all()
    # integer outputs as TIFF outputs get them: uint8 does not hold domain B's units, so the image is mapped into
    # its range, the mapping stored with the image and printed
    code = cli.main(['predict', str(basedir / 'model'), str(tmp_path / 'raw.zarr'), '--axes', 'YX', '--outdir',
                     str(tmp_path / 'out8'), '--block-size', '32', '--dtype', 'uint8'])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'uint8, mapped into its range' in out.strip().splitlines()[-1]
    from c2gan_tf.io.zarr import conversion_of
    from c2gan_tf.io import convert_dtype
    path = str(tmp_path / 'out8' / 'raw.ome.zarr')
    as_uint8, c = np.asarray(open_image(path)[0]), conversion_of(path)
    expected, expected_c = convert_dtype(np.asarray(restored), 'uint8', rescale=True)
    assert as_uint8.dtype == np.uint8 and c.rescaled and c.scale == pytest.approx(expected_c.scale)
    assert np.abs(as_uint8.astype(int) - expected).max() <= 1  # float32 rounding at .5
    np.testing.assert_allclose(as_uint8 * c.scale + c.offset, np.asarray(restored), atol=c.scale)


def test_a_model_retrained_in_the_same_folder_is_the_one_used(tmp_path):
    img = uneven_image((40, 48), seed=6)
    first, _ = train_tiny(tmp_path, epochs=1, steps_per_epoch=1, train_seed=1)
    predict_blocks(first, da.from_array(img, chunks=32), str(tmp_path / 'a.ome.zarr'), axes='YX', progress=False)
    second, _ = train_tiny(tmp_path, epochs=1, steps_per_epoch=1, train_seed=2)  # same folder, new weights
    out = predict_blocks(second, da.from_array(img, chunks=32), str(tmp_path / 'b.ome.zarr'), axes='YX',
                         progress=False)
    expected = in_memory(second, img, 'YX', (32, 32))
    np.testing.assert_allclose(np.asarray(open_image(out)[0]), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize('shape', [(192, 160), (150, 134)])
def test_qc_blocks_are_stored_on_the_restoration_s_blocks(tiny_model, shape):
    """The QC tasks need blocks of at least their halo (here 64 x 32 columns merge into 96): their regions are
    brought back onto the Zarr chunks, else two threads write into one chunk and one block is lost."""
    from c2gan_tf import blocks
    model, _, _ = tiny_model
    x = da.from_array(uneven_image(shape), chunks=64)
    normalizer = FixedNormalizer(*volume_percentiles(x, 'YX', model.config.norm_pmin, model.config.norm_pmax))
    restored, qc = blocks._restored(model, blocks._model_key(model), x, 'YX', 'AtoB', normalizer, with_qc=True,
                                    low_band_sigma=4.0)
    assert restored.chunks == x.chunks + ((3,),) and qc.chunks == x.chunks + ((2,),)


def test_qc_map_in_blocks_equals_the_whole_image_map_and_the_cli_writes_it(tiny_model, tmp_path, capsys):
    model, _, basedir = tiny_model
    img = uneven_image((192, 160), seed=7)  # multiples of the network's divisibility: no padding at the borders
    out, summary = predict_blocks(model, da.from_array(img, chunks=64), str(tmp_path / 'o.ome.zarr'), axes='YX',
                                  block_size=64, progress=False, qc=str(tmp_path / 'o_qc.ome.zarr'))
    mi, ma = volume_percentiles(da.from_array(img, chunks=64), 'YX', model.config.norm_pmin, model.config.norm_pmax)
    _, qc = model.predict(img, 'YX', normalizer=FixedNormalizer(mi, ma), return_qc=True)
    restored = in_memory(model, img, 'YX', (64, 64))
    qmap, axes, _ = open_image(str(tmp_path / 'o_qc.ome.zarr'))
    assert axes == 'YX' and qmap.chunksize == (64, 64)
    np.testing.assert_allclose(np.asarray(qmap), qc.map, atol=1e-4)  # QC blocks 3 x 2 (halo 52: G, F, smoothing)
    np.testing.assert_allclose(np.asarray(open_image(out)[0]), restored, rtol=1e-4, atol=1e-4 * restored.max())
    assert summary['changed_fraction'] == pytest.approx(qc.summary['changed_fraction'], abs=1e-3)
    assert summary['cycle_residual'] == pytest.approx(qc.summary['cycle_residual'], rel=1e-3)
    assert summary['distance_to_b'] == pytest.approx(qc.summary['distance_to_b'], rel=1e-3)  # all 9 blocks sampled
    assert summary['spectrum_distance'] == pytest.approx(qc.summary['spectrum_distance'], rel=1e-3)  # same segments
    assert zarr.open_group(str(tmp_path / 'o_qc.ome.zarr')).attrs['c2gan_qc_summary'] == summary
    assert sorted(os.listdir(tmp_path)) == ['o.ome.zarr', 'o_qc.ome.zarr']  # nothing left of the run
    with pytest.raises(ValueError, match='qc is for restorations'):
        predict_blocks(model, da.from_array(img, chunks=64), str(tmp_path / 'p.ome.zarr'), axes='YX',
                       direction='BtoA', qc=str(tmp_path / 'p_qc.ome.zarr'), progress=False)

    from c2gan_tf import cli
    zarr.create_array(str(tmp_path / 'raw.zarr'), data=img, chunks=(64, 64))
    code = cli.main(['predict', str(basedir / 'model'), str(tmp_path / 'raw.zarr'), '--axes', 'YX', '--outdir',
                     str(tmp_path / 'cli'), '--block-size', '64', '--qc'])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert printed.strip().splitlines()[-1].startswith('  QC %s: ' % (tmp_path / 'cli' / 'raw_qc.ome.zarr'))
    assert open_image(str(tmp_path / 'cli' / 'raw_qc.ome.zarr'))[0].shape == img.shape


def test_a_worker_killed_mid_run_loses_no_block(tiny_model, tmp_path):
    """Issue 23: a worker of a cluster killed while blocks run (its nanny starts another): the scheduler gives its
    blocks to the others, and the output equals the local one: no block lost, none written differently."""
    import threading

    import dask
    from distributed import Client, LocalCluster
    from distributed.diagnostics.plugin import WorkerPlugin

    class SlowStores(WorkerPlugin):  # each worker (the new one too) pauses in every store: time to kill one
        def setup(self, worker):
            from c2gan_tf import blocks
            store = blocks._store_block

            def slow(*args):
                time.sleep(0.1)
                return store(*args)
            blocks._store_block = slow

    model, _, _ = tiny_model
    img = uneven_image((256, 256), seed=8)
    zarr.create_array(str(tmp_path / 'in.zarr'), data=img, chunks=(32, 32))
    local = np.asarray(open_image(predict_blocks(model, str(tmp_path / 'in.zarr'), str(tmp_path / 'local.ome.zarr'),
                                                 axes='YX', block_size=32, progress=False))[0])
    out, done = tmp_path / 'remote.ome.zarr', tmp_path / 'remote.ome.zarr.blocks-done'
    errors = []

    def run(address):
        try:
            predict_blocks(model, str(tmp_path / 'in.zarr'), str(out), axes='YX', block_size=32, scheduler=address,
                           progress=False)
        except Exception as e:  # noqa: BLE001 (reported by the test's thread)
            errors.append(e)

    with dask.config.set({'distributed.worker.profile.enabled': False}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.register_plugin(SlowStores())
            thread = threading.Thread(target=run, args=(cluster.scheduler_address,))
            thread.start()
            deadline = time.time() + 300
            while not (done.is_dir() and len(os.listdir(done)) > 9):  # job.json and at least 9 blocks
                assert time.time() < deadline and thread.is_alive(), errors
                time.sleep(0.02)
            os.kill(next(iter(cluster.workers.values())).process.pid, signal.SIGKILL)
            n_at_kill = len(os.listdir(done)) - 1
            thread.join(300)
    assert not thread.is_alive() and not errors, errors
    assert 9 <= n_at_kill < 64  # killed mid-run
    np.testing.assert_allclose(np.asarray(open_image(str(out))[0]), local, rtol=1e-5, atol=1e-6 * np.abs(local).max())
    assert sorted(os.listdir(tmp_path)) == ['in.zarr', 'local.ome.zarr', 'remote.ome.zarr']


def test_workers_load_the_weights_the_model_holds(tiny_model):
    """A cluster's workers load the model from its folder: with the weights the model given holds (--weights best),
    not the folder's default."""
    from c2gan_tf import C2GAN, blocks
    _, _, basedir = tiny_model
    best = C2GAN.from_folder(basedir / 'model', weights='best')
    blocks.clear_models()
    loaded = blocks._model(blocks._model_key(best))  # as a worker loads it
    assert loaded is not best and loaded.weights_name == best.weights_name == 'weights_best.weights.h5'
    for a, b in zip(loaded.keras_model.get_weights(), best.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    blocks.clear_models()
