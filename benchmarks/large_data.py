"""Images larger than memory: peak memory per Dask worker and throughput of block-by-block prediction.

A uint16 ZYX volume is written as a Zarr array (chunk by chunk, never whole in memory) and restored plane by plane
by a 2D model with :func:`c2gan_tf.blocks.predict_blocks` on a local ``dask.distributed`` cluster whose workers are
separate processes with a memory limit. Measured:

- ``peak_memory_per_worker_mb``: the largest resident memory of any worker during the run, per volume size (GB):
  flat when memory does not grow with the volume (goal: within 10 %);
- throughput (megavoxels per second) with 1 and 2 workers, against in-memory tiled prediction
  (``model.predict`` on the smallest volume, loaded whole, in tiles of the blocks' size) (goal: 1 worker >= 0.9x
  in memory).

Blocks have the package's default size (512 x 512 pixels for a 2D model) unless ``--block-size`` says otherwise.

Writes ``large_data.json``.

usage: python benchmarks/large_data.py [--setting cpu|full] [--block-size N]
  cpu:  volumes of 1/32, 1/16 and 1/8 GB, workers limited to 1.5 GB (2 cores: about 4 minutes)
  full: volumes of 1, 4 and 8 GB, workers limited to 1.5 GB (the issue's setting; needs about 40 GB of disk)
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {'cpu': dict(volumes_gb=(0.03125, 0.0625, 0.125), memory_limit='1.5GB', plane=512, n_first=8),
            'full': dict(volumes_gb=(1.0, 4.0, 8.0), memory_limit='1.5GB', plane=2048, n_first=32)}


def make_volume(path, gb, plane, seed=0):
    """A uint16 ZYX Zarr array of about ``gb`` gigabytes (camera-like noise on a smooth pattern), written by Dask."""
    import dask.array as da
    n_planes = max(1, int(round(gb * 2 ** 30 / (2 * plane * plane))))
    rng = da.random.default_rng(seed)
    y = np.linspace(0, 6 * np.pi, plane, dtype=np.float32)
    pattern = da.from_array(1000 + 800 * np.sin(y)[:, None] * np.cos(y)[None, :], chunks=(256, 256))
    vol = (rng.poisson(100, (n_planes, plane, plane), chunks=(1, 256, 256)) + pattern[None]).astype(np.uint16)
    vol.to_zarr(path, overwrite=True)
    return vol.shape


def small_model(basedir, n_first):
    """A 2D model with weights on disk (one training step on random patches), for workers to load."""
    from c2gan_tf import C2GAN, Config
    config = Config('YX', unet_n_first=n_first, unet_n_depth=2, disc_n_filters=8, disc_n_layers=2,
                    train_patch_size=(32, 32), train_batch_size=2, train_pool_size=2, train_seed=0,
                    train_tensorboard=False)
    model = C2GAN(config, 'model', basedir)
    rng = np.random.default_rng(0)
    patches = rng.random((4, 32, 32, 1), np.float32)
    model.train(patches, patches ** 2, validation_data=(patches, patches ** 2), epochs=1, steps_per_epoch=1,
                intensity_stats={'A': dict(low=100.0, high=2000.0), 'B': dict(low=100.0, high=2000.0)})
    return model


def run_blocks(model, source, out, n_workers, memory_limit, block_size=None):
    """Restore ``source`` on a local cluster of ``n_workers`` processes; seconds and the peak worker memory (MB)."""
    import dask
    import psutil
    from distributed import Client, LocalCluster

    from c2gan_tf.blocks import predict_blocks
    # Dask's profiler deadlocks workers on Python < 3.11.9 (CPython gh-106883; see c2gan_tf.blocks)
    with dask.config.set({'distributed.worker.profile.enabled': False}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: 0)  # workers up
        peak, stop = [0.0], threading.Event()

        def sample():
            while not stop.is_set():
                rss = client.run(lambda: psutil.Process().memory_info().rss)
                peak[0] = max([peak[0]] + [v / 2 ** 20 for v in rss.values()])
                time.sleep(0.5)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t = time.perf_counter()
        predict_blocks(model, source, out, axes='ZYX', block_size=block_size, scheduler=cluster.scheduler_address,
                       progress=False)
        seconds = time.perf_counter() - t
        stop.set()
        sampler.join()
    return seconds, peak[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--block-size', type=int, help='block side in Y and X (default: the package\'s)')
    p.add_argument('--out', default=os.path.join(HERE, 'large_data.json'))
    a = p.parse_args()
    s = SETTINGS[a.setting]
    with tempfile.TemporaryDirectory() as tmp:
        model = small_model(tmp, s['n_first'])
        from c2gan_tf.blocks import block_sizes
        block = block_sizes(model, 'YX', (s['plane'], s['plane']), a.block_size)[0]
        report = dict(benchmark='block-by-block prediction of volumes larger than a worker\'s memory',
                      setting=a.setting, memory_limit_per_worker=s['memory_limit'], plane=s['plane'], block_size=block,
                      python=sys.version.split()[0], worker_profiler=False, peak_memory_per_worker_mb={}, seconds={},
                      volumes={})
        for gb in s['volumes_gb']:
            source = os.path.join(tmp, 'vol%g.zarr' % gb)
            shape = make_volume(source, gb, s['plane'])
            seconds, peak = run_blocks(model, source, os.path.join(tmp, 'out%g.ome.zarr' % gb), 1, s['memory_limit'],
                                       block)
            report['volumes'][str(gb)] = dict(shape=list(shape), voxels=int(np.prod(shape)))
            report['peak_memory_per_worker_mb'][str(gb)] = peak
            report['seconds']['1_worker_%g_gb' % gb] = seconds
            print('%g GB %s: %.0f s, peak worker memory %.0f MB' % (gb, shape, seconds, peak), flush=True)
        small = str(s['volumes_gb'][0])
        voxels = report['volumes'][small]['voxels']
        seconds, peak = run_blocks(model, os.path.join(tmp, 'vol%s.zarr' % small),
                                   os.path.join(tmp, 'two.ome.zarr'), 2, s['memory_limit'], block)
        report['seconds']['2_workers_%s_gb' % small] = seconds
        import zarr
        vol = np.asarray(zarr.open_array(os.path.join(tmp, 'vol%s.zarr' % small), mode='r')[:])
        t = time.perf_counter()
        tiles = -(-s['plane'] // block)
        model.predict(vol, 'ZYX', n_tiles=(1, tiles, tiles))  # the work of the blocks: tiles of their size
        report['seconds']['in_memory_tiled_%s_gb' % small] = time.perf_counter() - t
    sec = report['seconds']
    report['throughput_megavoxels_per_second'] = {
        'blocks_1_worker': voxels / sec['1_worker_%s_gb' % small] / 1e6,
        'blocks_2_workers': voxels / sec['2_workers_%s_gb' % small] / 1e6,
        'in_memory_tiled': voxels / sec['in_memory_tiled_%s_gb' % small] / 1e6}
    tp = report['throughput_megavoxels_per_second']
    report['ratio_1_worker_to_in_memory'] = tp['blocks_1_worker'] / tp['in_memory_tiled']
    peaks = list(report['peak_memory_per_worker_mb'].values())
    report['peak_memory_spread'] = max(peaks) / min(peaks) - 1
    with open(a.out, 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: report[k] for k in ('peak_memory_per_worker_mb', 'throughput_megavoxels_per_second',
                                             'ratio_1_worker_to_in_memory', 'peak_memory_spread')}, indent=1))


if __name__ == '__main__':
    main()
