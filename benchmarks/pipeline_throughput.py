"""Training steps/s with patches streamed from a memory-mapped file on disk vs. held in memory.

Writes ``pipeline_throughput.json``: steps/s of each input (median of repeats, after a warm-up) and their ratio.
The goal is a ratio of at least 0.95: the streaming input never starves the training step.

usage: python benchmarks/pipeline_throughput.py [--patch 128] [--batch 1] [--steps 30] [--repeats 3]
                                                [--n-first 32] [--out DIR]
"""
import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def steps_per_second(model, X_A, X_B, steps, repeats):
    import keras
    from c2gan_tf.pipeline import unpaired_dataset
    c = model.config
    model.prepare_for_training(10 ** 6)
    data = iter(unpaired_dataset(X_A, X_B, c.train_batch_size, c.n_dim, c.train_augment, seed=0))
    model.trainer.make_train_function()
    train = model.trainer.train_function
    for _ in range(3):  # warm-up: tracing and first steps
        train(iter([next(data)]))
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            logs = train(iter([next(data)]))
        keras.ops.convert_to_numpy(logs['loss'])
        rates.append(steps / (time.perf_counter() - t))
    return float(np.median(rates)), rates


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--patch', type=int, default=128)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--n-first', type=int, default=32)
    p.add_argument('--n-patches', type=int, default=2000)
    p.add_argument('--out', default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()

    from c2gan_tf import C2GAN, Config
    from c2gan_tf.data import load_training_data, save_training_data
    from c2gan_tf.losses import fixed_saliency
    config = Config('YX', unet_n_first=a.n_first, train_patch_size=(a.patch, a.patch), train_batch_size=a.batch,
                    train_seed=0, train_tensorboard=False)
    model = C2GAN(config, None, basedir=None)
    rng = np.random.default_rng(0)
    shape = (a.n_patches, a.patch, a.patch, 1)
    with tempfile.TemporaryDirectory() as tmp:
        save_training_data(os.path.join(tmp, 'p.npz'), rng.random(shape, np.float32), rng.random(shape, np.float32),
                           'SYXC')
        (mm_A, mm_B), _, _, _ = load_training_data(os.path.join(tmp, 'p.npz'), mmap=True)
        (mem_A, mem_B), _, _, _ = load_training_data(os.path.join(tmp, 'p.npz'))
        model.trainer.use_saliency(fixed_saliency())
        # interleave the two inputs so that machine noise hits both alike
        memory, disk = [], []
        for _ in range(2):
            memory.append(steps_per_second(model, mem_A, mem_B, a.steps, a.repeats)[0])
            disk.append(steps_per_second(model, mm_A, mm_B, a.steps, a.repeats)[0])
    result = dict(
        benchmark='training steps/s, memory-mapped patches streamed from disk vs. patches in memory',
        setting=dict(patch=a.patch, batch=a.batch, unet_n_first=a.n_first, steps=a.steps, repeats=a.repeats,
                     n_patches_per_domain=a.n_patches, patch_file_mb=round(2 * np.prod(shape) * 4 / 2 ** 20)),
        machine=dict(cpu_count=os.cpu_count(), platform=platform.platform()),
        steps_per_s_memory=float(np.median(memory)), steps_per_s_disk=float(np.median(disk)),
        runs_memory=memory, runs_disk=disk,
        ratio_disk_over_memory=float(np.median(disk) / np.median(memory)),
    )
    path = os.path.join(a.out, 'pipeline_throughput.json')
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
