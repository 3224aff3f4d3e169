"""Speed: c2GAN training against a PyTorch CycleGAN with the same layers, prediction against CARE, peak memory of
tiled prediction on a 4096x4096 image, and the training step's achieved GFLOP/s against a large matrix product's.

Everything is measured in one run on one machine; ratios are what to read. Writes ``speed.json`` and
``speed.png``.

usage: python benchmarks/speed.py [--sizes 64 128 256] [--steps 10] [--parts training prediction memory] [--out DIR]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ('training', 'prediction', 'memory')


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def keras_trainer(size):
    import keras
    import tensorflow as tf
    from c2gan_tf import C2GAN, Config
    from c2gan_tf.losses import fixed_saliency
    config = Config('YX', train_patch_size=(size, size), train_batch_size=1, train_seed=0, train_tensorboard=False)
    model = C2GAN(config, None, basedir=None)
    model.trainer.use_saliency(fixed_saliency(threshold=0.3))
    model.prepare_for_training(10 ** 6)
    t = model.trainer
    t.make_train_function()
    rng = np.random.default_rng(0)
    batch = (tf.constant(rng.random((1, size, size, 1), np.float32)),
             tf.constant(rng.random((1, size, size, 1), np.float32)))

    def step():
        keras.ops.convert_to_numpy(t.train_function(iter([batch]))['loss'])
    return model, step


def torch_trainer(size):
    import torch
    from torch_cyclegan import CycleGAN
    torch.manual_seed(0)
    gan = CycleGAN()
    x, y = torch.rand(1, 1, size, size), torch.rand(1, 1, size, size)
    return gan, lambda: gan.step(x, y)


def training(sizes, steps):
    from torch_cyclegan import conv_flops
    out = {}
    for size in sizes:
        model, keras_step = keras_trainer(size)
        gan, torch_step = torch_trainer(size)
        counts = {name: (getattr(model.trainer, name).count_params(),
                         sum(p.numel() for p in getattr(gan, name).parameters())) for name in ('G', 'D_A')}
        assert all(k == t for k, t in counts.values()), counts
        for _ in range(3):  # warm-up: tracing, allocation
            keras_step(), torch_step()
        tf_t, torch_t = [], []
        for _ in range(3):  # interleaved, so that machine noise hits both alike
            tf_t.append(median_time(keras_step, steps))
            torch_t.append(median_time(torch_step, steps))
        shape = (1, 1, size, size)
        # forward FLOPs of one training step: 4 generator passes and 2 discriminator passes for the generators'
        # update, 4 discriminator passes for theirs; backward counted as twice the forward (convolutions only)
        g, d = conv_flops(gan.G, shape), conv_flops(gan.D_A, shape)
        flops = 3 * (4 * g + 2 * d) + 3 * 4 * d
        out[size] = dict(keras_s_per_step=float(np.median(tf_t)), torch_s_per_step=float(np.median(torch_t)),
                         keras_steps_per_s=1 / float(np.median(tf_t)), torch_steps_per_s=1 / float(np.median(torch_t)),
                         ratio_keras_over_torch=float(np.median(torch_t) / np.median(tf_t)),
                         params_G=counts['G'][0], params_D=counts['D_A'][0], gflop_per_step=flops / 1e9,
                         keras_gflops=flops / 1e9 / float(np.median(tf_t)),
                         torch_gflops=flops / 1e9 / float(np.median(torch_t)))
        del model, gan
    return out


def matmul_gflops(n=2048, repeats=10):
    import tensorflow as tf
    import torch
    a = tf.random.uniform((n, n))
    tf.linalg.matmul(a, a).numpy()
    t_tf = median_time(lambda: tf.linalg.matmul(a, a).numpy(), repeats)
    b = torch.rand(n, n)
    torch.mm(b, b)
    t_torch = median_time(lambda: torch.mm(b, b), repeats)
    return dict(n=n, tensorflow=2 * n ** 3 / t_tf / 1e9, torch=2 * n ** 3 / t_torch / 1e9)


def prediction(size=1024, repeats=5):
    from csbdeep.models import CARE
    from csbdeep.models import Config as CareConfig
    from c2gan_tf import C2GAN, Config
    c2gan = C2GAN(Config('YX', train_seed=0), None, basedir=None)
    c2gan.domain_stats = {'B': {'low': 100.0, 'high': 1000.0}}
    care = CARE(CareConfig('YX', unet_n_depth=2, unet_n_first=32, unet_kern_size=5), None, basedir=None)
    assert care.keras_model.count_params() == c2gan.keras_model.count_params()
    x = np.random.default_rng(0).random((size, size), np.float32) * 1000
    c2gan.predict(x, 'YX'), care.predict(x, 'YX')
    t_c2gan, t_care = [], []
    for _ in range(repeats):
        t_c2gan.append(median_time(lambda: c2gan.predict(x, 'YX'), 1))
        t_care.append(median_time(lambda: care.predict(x, 'YX'), 1))
    mpx = size * size / 1e6
    return dict(image=[size, size], c2gan_mpx_per_s=mpx / float(np.median(t_c2gan)),
                care_mpx_per_s=mpx / float(np.median(t_care)),
                ratio_c2gan_over_care=float(np.median(t_care) / np.median(t_c2gan)))


PEAK = """
import sys, time, numpy as np
from c2gan_tf import C2GAN, Config

def peak_kb():  # VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's)
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])

m = C2GAN(Config('YX', train_seed=0), None, basedir=None)
m.domain_stats = {'B': {'low': 100.0, 'high': 1000.0}}
m.predict(np.zeros((64, 64), np.float32), 'YX')
x = np.random.default_rng(0).random((4096, 4096), np.float32)
before = peak_kb()
t = time.perf_counter()
y = m.predict(x, 'YX', n_tiles=(int(sys.argv[1]), int(sys.argv[1])))
print('RESULT', before, peak_kb(), time.perf_counter() - t)
"""


def peak_memory(tiles=(4, 8)):
    """Peak resident memory of a fresh process predicting a 4096x4096 image with tiling (``VmHWM``, Linux)."""
    out = {}
    for n in tiles:
        r = subprocess.run([sys.executable, '-c', PEAK, str(n)], capture_output=True, text=True, timeout=1800)
        line = next(x for x in r.stdout.splitlines() if x.startswith('RESULT'))
        before, after, seconds = map(float, line.split()[1:])
        out['%dx%d' % (n, n)] = dict(peak_rss_mb=after / 1024, rss_before_mb=before / 1024,
                                     increase_mb=(after - before) / 1024, seconds=seconds,
                                     image_mb=4096 * 4096 * 4 / 2 ** 20)
    return out


def figure(result, path):
    import matplotlib.pyplot as plt
    sizes = sorted(result['training'], key=int)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    w = 0.35
    x = np.arange(len(sizes))
    axes[0].bar(x - w / 2, [result['training'][s]['keras_steps_per_s'] for s in sizes], w, label='c2gan_tf (Keras)')
    axes[0].bar(x + w / 2, [result['training'][s]['torch_steps_per_s'] for s in sizes], w, label='PyTorch')
    axes[0].set_xticks(x)
    axes[0].set_xticklabels(['%s px' % s for s in sizes])
    axes[0].set_ylabel('training steps / s')
    axes[0].set_yscale('log')
    axes[0].legend()
    p = result['prediction']
    axes[1].bar([0, 1], [p['c2gan_mpx_per_s'], p['care_mpx_per_s']], color=['C0', 'C2'])
    axes[1].set_xticks([0, 1])
    axes[1].set_xticklabels(['C2GAN.predict', 'CARE.predict'])
    axes[1].set_ylabel('Mpx / s (1024x1024)')
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--parts', nargs='+', choices=PARTS, default=list(PARTS),
                   help='what to measure (others are kept from an existing speed.json)')
    p.add_argument('--out', default=HERE)
    a = p.parse_args()
    sys.path.insert(0, HERE)
    import tensorflow as tf
    import torch
    path = os.path.join(a.out, 'speed.json')
    result = json.load(open(path)) if set(a.parts) != set(PARTS) and os.path.exists(path) else {}
    result.update(benchmark='training and prediction speed, one run on one machine',
                  machine=dict(cpu_count=os.cpu_count(), platform=platform.platform(),
                               tensorflow=tf.__version__, torch=torch.__version__,
                               torch_threads=torch.get_num_threads(),
                               gpu=bool(tf.config.list_physical_devices('GPU'))))
    if 'training' in a.parts:
        result['training'] = training(a.sizes, a.steps)
        result['matmul_gflops'] = matmul_gflops()
        for s in result['training'].values():
            s['keras_fraction_of_matmul'] = s['keras_gflops'] / result['matmul_gflops']['tensorflow']
            s['torch_fraction_of_matmul'] = s['torch_gflops'] / result['matmul_gflops']['torch']
    if 'prediction' in a.parts:
        result['prediction'] = prediction()
    if 'memory' in a.parts:
        result['peak_memory_4096'] = peak_memory()
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    figure(result, os.path.join(a.out, 'speed.png'))
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
