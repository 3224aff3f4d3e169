"""Images larger than memory: throughput and peak memory per Dask worker of block-by-block prediction.

A uint16 ZYX volume is written as a Zarr array (chunk by chunk, never whole in memory) and restored plane by plane
by a 2D model with :func:`c2gan_tf.blocks.predict_blocks` on a local ``dask.distributed`` cluster whose workers are
separate processes with a memory limit (Dask's profiler off: it deadlocks workers on Python < 3.11.9, see
``c2gan_tf.blocks``; and without Dask's ``MALLOC_TRIM_THRESHOLD_``, which slows TensorFlow, see
:func:`worker_environment`). Each run is a row of ``rows``:

- ``blocks`` on every volume size, one worker with as many threads as the machine has cores: the threads that
  in-memory prediction has. TensorFlow in a worker gets ``threads_per_worker`` threads (``TF_NUM_INTRAOP_THREADS``
  and ``TF_NUM_INTEROP_THREADS`` in the worker's environment);
- ``blocks`` on the smallest volume with 1 and with 2 workers of one thread each (the scaling with workers at equal
  threads per worker);
- ``in_memory_tiled``: ``model.predict`` of the first ``in_memory_gb`` of the smallest volume (its first planes) loaded
  whole, in tiles of the blocks' size (the work of the blocks), with TensorFlow's threads (all cores); compared by
  throughput. The whole 1 GB volume does not fit: ``predict`` of its 2048 planes was killed by the kernel at 24 GB
  of memory on a machine of 23 GB (float32 input and output, the low bands of both in float64, their combination).

Measured per row: seconds, megavoxels per second, and the largest resident memory of any worker
(``peak_memory_per_worker_mb``, sampled every 0.5 s). Goals (issue 23): blocks >= 0.9x in memory at equal threads,
peak memory per worker flat within 10 % from the smallest volume to the largest, 2 workers >= 1.7x one worker.

Writes ``large_data.json`` (as before, with ``rows``: one per run, with ``workers``, ``threads_per_worker``,
``volume_gb`` and the ``voxels`` restored). Resumable: every finished row is kept in the JSON and not measured again,
so the run can be made in parts; the volumes and the model are kept in ``--work`` until every row is done.

usage: python benchmarks/large_data.py [--setting cpu|full|tiny] [--block-size N] [--work DIR]
  cpu:  volumes of 1, 2 and 4 GB (0.7 to 2.7x a worker's limit of 1.5 GB; estimated 90 minutes on 2 cores at the
        earlier 0.9 Mvoxel/s; 7 GB of disk for the volumes, up to 16 GB for an output)
  full: volumes of 1, 4 and 8 GB with 2048 x 2048 planes and a larger model (about 40 GB of disk)
  tiny: volumes of 1/64 and 1/32 GB (a check of the script, a minute)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {'cpu': dict(volumes_gb=(1.0, 2.0, 4.0), memory_limit='1.5GB', plane=512, n_first=8, in_memory_gb=0.25),
            'full': dict(volumes_gb=(1.0, 4.0, 8.0), memory_limit='1.5GB', plane=2048, n_first=32, in_memory_gb=0.25),
            'tiny': dict(volumes_gb=(0.015625, 0.03125), memory_limit='1.5GB', plane=512, n_first=8,
                         in_memory_gb=0.015625)}


def make_volume(path, gb, plane, seed=0):
    """A uint16 ZYX Zarr array of about ``gb`` gigabytes (camera-like noise on a smooth pattern), written by Dask
    under a temporary name and renamed into place (a volume found at ``path`` is complete); its shape."""
    import dask.array as da
    import zarr
    if not os.path.exists(path):
        n_planes = max(1, int(round(gb * 2 ** 30 / (2 * plane * plane))))
        rng = da.random.default_rng(seed)
        y = np.linspace(0, 6 * np.pi, plane, dtype=np.float32)
        pattern = da.from_array(1000 + 800 * np.sin(y)[:, None] * np.cos(y)[None, :], chunks=(256, 256))
        vol = (rng.poisson(100, (n_planes, plane, plane), chunks=(1, 256, 256)) + pattern[None]).astype(np.uint16)
        vol.to_zarr(path + '.tmp', overwrite=True)
        os.replace(path + '.tmp', path)
    return zarr.open_array(path, mode='r').shape


def small_model(basedir, n_first):
    """A 2D model with weights on disk (one training step on random patches), for workers to load; loaded from
    ``basedir`` where an earlier part of the run saved it."""
    from c2gan_tf import C2GAN, Config
    if os.path.exists(os.path.join(basedir, 'model', 'config.json')):
        return C2GAN(None, 'model', basedir)
    config = Config('YX', unet_n_first=n_first, unet_n_depth=2, disc_n_filters=8, disc_n_layers=2,
                    train_patch_size=(32, 32), train_batch_size=2, train_pool_size=2, train_seed=0,
                    train_tensorboard=False)
    model = C2GAN(config, 'model', basedir)
    rng = np.random.default_rng(0)
    patches = rng.random((4, 32, 32, 1), np.float32)
    model.train(patches, patches ** 2, validation_data=(patches, patches ** 2), epochs=1, steps_per_epoch=1,
                intensity_stats={'A': dict(low=100.0, high=2000.0), 'B': dict(low=100.0, high=2000.0)})
    return model


def worker_environment():
    """Dask's environment for new worker processes without ``MALLOC_TRIM_THRESHOLD_``: set, it turns off glibc's
    adaptive mmap threshold, every large tensor is then mapped afresh, and TensorFlow's network ran 1.35x to 1.5x
    slower in a worker here (docs/large-data.md)."""
    import dask
    import distributed  # noqa: F401 (Dask's distributed configuration)
    return {k: v for k, v in dask.config.get('distributed.nanny.pre-spawn-environ').items()
            if k != 'MALLOC_TRIM_THRESHOLD_'}


def run_blocks(model, source, out, n_workers, threads, memory_limit, block_size=None):
    """Restore ``source`` on a local cluster of ``n_workers`` processes with ``threads`` threads each (TensorFlow's
    too); seconds and the peak worker memory (MB)."""
    import dask
    import psutil
    from distributed import Client, LocalCluster

    from c2gan_tf.blocks import predict_blocks
    env = {'TF_NUM_INTRAOP_THREADS': str(threads), 'TF_NUM_INTEROP_THREADS': str(threads)}
    with dask.config.set({'distributed.worker.profile.enabled': False,
                          'distributed.nanny.pre-spawn-environ': worker_environment()}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True, memory_limit=memory_limit,
                         dashboard_address=None, env=env) as cluster, Client(cluster) as client:
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


def run_in_memory(model, source, plane, block, n_planes):
    """Seconds of ``model.predict`` of the first ``n_planes`` of the volume at ``source`` in tiles of the blocks'
    size."""
    import zarr
    vol = np.asarray(zarr.open_array(source, mode='r')[:n_planes])
    tiles = -(-plane // block)
    t = time.perf_counter()
    model.predict(vol, 'ZYX', n_tiles=(1, tiles, tiles))
    return time.perf_counter() - t


def planned_rows(volumes_gb, cores):
    """The rows of a setting: (run, workers, threads per worker, volume in GB); the comparisons on the smallest
    volume first, so that a run in parts has them from its first part."""
    smallest = volumes_gb[0]
    rows = [('blocks', 1, cores, smallest), ('in_memory_tiled', 1, cores, smallest)]
    rows += [('blocks', n, 1, smallest) for n in (1, 2)]
    return rows + [('blocks', 1, cores, gb) for gb in volumes_gb[1:]]


def label(run, workers, threads, gb):
    if run == 'in_memory_tiled':
        return 'in_memory_tiled_%g_gb' % gb
    return 'blocks_%d_worker%s_%d_thread%s_%g_gb' % (workers, 's' * (workers > 1), threads, 's' * (threads > 1), gb)


def summarise(report, volumes_gb, cores):
    """The derived figures from the rows: per volume and per run, the ratios of the goals."""
    rows = {label(r['run'], r['workers'], r['threads_per_worker'], r['volume_gb']): r for r in report['rows']}
    report['seconds'] = {k: r['seconds'] for k, r in rows.items()}
    report['throughput_megavoxels_per_second'] = {k: r['megavoxels_per_second'] for k, r in rows.items()}
    report['peak_memory_per_worker_mb'] = {str(gb): rows[label('blocks', 1, cores, gb)]['peak_memory_per_worker_mb']
                                           for gb in volumes_gb if label('blocks', 1, cores, gb) in rows}
    tp, small = report['throughput_megavoxels_per_second'], volumes_gb[0]

    def ratio(a, b):
        return tp[a] / tp[b] if a in tp and b in tp else None
    report['ratio_1_worker_to_in_memory'] = ratio(label('blocks', 1, cores, small), label('in_memory_tiled', 1, cores,
                                                                                          small))
    report['ratio_2_workers_to_1_worker'] = ratio(label('blocks', 2, 1, small), label('blocks', 1, 1, small))
    peaks = list(report['peak_memory_per_worker_mb'].values())
    report['peak_memory_spread'] = max(peaks) / min(peaks) - 1 if len(peaks) > 1 else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--block-size', type=int, help='block side in Y and X (default: the package\'s)')
    p.add_argument('--out', default=os.path.join(HERE, 'large_data.json'))
    p.add_argument('--work', default=None, help='folder for the volumes and the model, kept between parts '
                                                '(default: c2gan_large_data_SETTING in the temporary directory)')
    a = p.parse_args()
    s = SETTINGS[a.setting]
    work = a.work or os.path.join(tempfile.gettempdir(), 'c2gan_large_data_%s' % a.setting)
    os.makedirs(work, exist_ok=True)
    cores = os.cpu_count()
    model = small_model(work, s['n_first'])
    from c2gan_tf.blocks import block_sizes
    planes, block, _ = block_sizes(model, 'ZYX', (2 ** 20, s['plane'], s['plane']), a.block_size)
    setting = dict(setting=a.setting, memory_limit_per_worker=s['memory_limit'], plane=s['plane'], block_size=block,
                   planes_per_block=planes, cores=cores, worker_malloc_trim_threshold=None)
    report = dict(benchmark='block-by-block prediction of volumes larger than a worker\'s memory', **setting,
                  python=sys.version.split()[0], worker_profiler=False, volumes={}, rows=[])
    if os.path.exists(a.out):
        with open(a.out) as f:
            earlier = json.load(f)
        if all(earlier.get(k) == v for k, v in setting.items()) and 'rows' in earlier:
            report = earlier  # a run in parts: its finished rows stay
    done = {label(r['run'], r['workers'], r['threads_per_worker'], r['volume_gb']) for r in report['rows']}
    for run, workers, threads, gb in planned_rows(s['volumes_gb'], cores):
        name = label(run, workers, threads, gb)
        if name in done:
            continue
        source = os.path.join(work, 'vol%g.zarr' % gb)
        shape = make_volume(source, gb, s['plane'])
        report['volumes'][str(gb)] = dict(shape=list(shape), voxels=int(np.prod(shape)))
        if run == 'in_memory_tiled':
            shape = (min(shape[0], int(round(s['in_memory_gb'] * 2 ** 30 / (2 * s['plane'] ** 2)))),) + shape[1:]
            seconds, peak = run_in_memory(model, source, s['plane'], block, shape[0]), None
        else:
            out = tempfile.mkdtemp(dir=work, prefix='out-')  # a fresh output: a resumed one would time less work
            try:
                seconds, peak = run_blocks(model, source, os.path.join(out, 'restored.ome.zarr'), workers, threads,
                                           s['memory_limit'], block)
            finally:
                shutil.rmtree(out)
        report['rows'].append(dict(run=run, workers=workers, threads_per_worker=threads, volume_gb=gb,
                                   voxels=int(np.prod(shape)), seconds=seconds,
                                   megavoxels_per_second=np.prod(shape) / seconds / 1e6,
                                   peak_memory_per_worker_mb=peak))
        summarise(report, s['volumes_gb'], cores)
        with open(a.out + '.tmp', 'w') as f:
            json.dump(report, f, indent=1)
        os.replace(a.out + '.tmp', a.out)  # a finished row is never lost
        print('%s %s: %.0f s, %.2f Mvoxel/s%s' % (name, shape, seconds, np.prod(shape) / seconds / 1e6,
                                                  '' if peak is None else ', peak worker memory %.0f MB' % peak),
              flush=True)
    shutil.rmtree(work)  # every row done
    print(json.dumps({k: report[k] for k in ('peak_memory_per_worker_mb', 'throughput_megavoxels_per_second',
                                             'ratio_1_worker_to_in_memory', 'ratio_2_workers_to_1_worker',
                                             'peak_memory_spread')}, indent=1))


if __name__ == '__main__':
    main()
