"""Restoration quality on synthetic data with ground truth: c2GAN against its baselines.

Methods: the noisy input, non-local means (a classical denoiser), plain CycleGAN (c2GAN with structural weight 0),
c2GAN, and supervised CARE (csbdeep) trained on registered pairs of the same training scenes. The learned methods
share one training budget (epochs x steps x batch) and seeds. Every method's normalised output is mapped into
domain B's units with the same stored intensity range of B's training images, so all are judged alike.

Writes ``quality_synthetic.json`` (mean metrics over the test images, per dimensionality) and
``quality_synthetic.png``.

usage: python benchmarks/quality_synthetic.py [--setting cpu|full] [--ndim 2 3] [--out DIR]
  cpu:  sized for a 2-core CPU, about 15-25 minutes for 2D and 3D together
  full: the real comparison, for a GPU
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

SETTINGS = {
    'cpu': dict(shape={2: (256, 256), 3: (32, 128, 128)}, patch={2: (64, 64), 3: (16, 32, 32)},
                batch={2: 4, 3: 2}, n_images=8, n_test=3, n_patches=32, epochs=10, steps=100, n_first=16,
                disc_filters=32),
    'full': dict(shape={2: (512, 512), 3: (64, 256, 256)}, patch={2: (128, 128), 3: (32, 64, 64)},
                 batch={2: 1, 3: 1}, n_images=16, n_test=8, n_patches=64, epochs=100, steps=200, n_first=32,
                 disc_filters=64),
}
METHODS = ('input', 'non-local means', 'CycleGAN', 'c2GAN', 'CARE (paired)')
KEYS = ('psnr', 'psnr_normalized', 'ssim', 'ssim_normalized', 'histogram_distance', 'saturated_fraction',
        'mask_iou_with_input')


def to_b_units(v, stats_b):
    """Normalised intensities in domain B's units, as the GANs' outputs are (:func:`c2gan_tf.prepare.to_domain_units`)."""
    from c2gan_tf.prepare import to_domain_units
    return to_domain_units(v, stats_b['low'], stats_b['high'])


def non_local_means(x, pmin=1, pmax=99.8):
    """Normalised NLM denoising (scikit-image), strength from the estimated noise level."""
    from csbdeep.utils import normalize
    from skimage.restoration import denoise_nl_means, estimate_sigma
    v = normalize(x.astype(np.float32), pmin, pmax)
    sigma = float(estimate_sigma(v))
    return denoise_nl_means(v, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)


def train_gan(X_A, X_B, stats, axes, s, ndim, seed, rho0, basedir, name):
    from c2gan_tf import C2GAN, Config
    config = Config(axes, unet_n_first=s['n_first'], disc_n_filters=s['disc_filters'],
                    unet_kern_size=5 if ndim == 2 else 3, train_patch_size=s['patch'][ndim],
                    train_batch_size=s['batch'][ndim], train_epochs=s['epochs'], train_steps_per_epoch=s['steps'],
                    struct_rho0=rho0, train_seed=seed, train_tensorboard=False)
    model = C2GAN(config, name, basedir)
    t = time.perf_counter()
    model.train(X_A, X_B, intensity_stats=stats)
    return model, time.perf_counter() - t


def train_care(images_a, images_b_paired, axes, s, ndim, seed, basedir):
    from csbdeep.data import RawData, create_patches
    from csbdeep.models import CARE
    from csbdeep.models import Config as CareConfig
    np.random.seed(seed)
    raw = RawData.from_arrays(images_a, images_b_paired, axes=axes)
    X, Y, patch_axes = create_patches(raw, s['patch'][ndim], s['n_patches'], verbose=False)
    from csbdeep.utils import axes_dict
    c = axes_dict(patch_axes)['C']
    X, Y = np.moveaxis(X, c, -1), np.moveaxis(Y, c, -1)
    n_val = max(1, len(X) // 10)
    config = CareConfig(axes, unet_n_depth=2, unet_n_first=s['n_first'], unet_kern_size=5 if ndim == 2 else 3,
                        train_batch_size=s['batch'][ndim], train_epochs=s['epochs'],
                        train_steps_per_epoch=s['steps'], train_tensorboard=False)
    model = CARE(config, 'care_%dd' % ndim, basedir)
    t = time.perf_counter()
    model.train(X[n_val:], Y[n_val:], validation_data=(X[:n_val], Y[:n_val]))
    return model, time.perf_counter() - t


def run(ndim, setting, seed, basedir):
    from c2gan_tf import DomainNormalizer, metrics, synthetic
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    s = SETTINGS[setting]
    axes = 'YX' if ndim == 2 else 'ZYX'
    data = synthetic.generate(ndim, s['shape'][ndim], n_a=s['n_images'], n_b=s['n_images'], n_test=s['n_test'],
                              seed=seed, paired=True)
    unpaired = UnpairedData.from_arrays(data['A'], data['B'], axes)
    X_A, X_B, _, stats = create_unpaired_patches(unpaired, s['patch'][ndim], s['n_patches'], seed=seed,
                                                 verbose=False)
    c2gan, t_c2gan = train_gan(X_A, X_B, stats, axes, s, ndim, seed, 5.0, basedir, 'c2gan_%dd' % ndim)
    cyclegan, t_cyclegan = train_gan(X_A, X_B, stats, axes, s, ndim, seed, 0.0, basedir, 'cyclegan_%dd' % ndim)
    care, t_care = train_care(data['A'], data['A_paired_B'], axes, s, ndim, seed, basedir)
    to_b = DomainNormalizer(stats['B']['low'], stats['B']['high'])

    results = {m: [] for m in METHODS}
    examples = None
    for x, gt in zip(data['test_A'], data['test_GT']):
        from csbdeep.utils import normalize
        out = {
            'input': to_b_units(normalize(x.astype(np.float32), 1, 99.8), stats['B']),
            'non-local means': to_b_units(non_local_means(x), stats['B']),
            'CycleGAN': cyclegan.predict(x, axes),
            'c2GAN': c2gan.predict(x, axes),
            'CARE (paired)': care.predict(x, axes, normalizer=to_b),
        }
        for m in METHODS:
            results[m].append(metrics.evaluate(gt, out[m], reference_input=x))
        if examples is None:
            examples = dict(out, **{'ground truth': gt})
    summary = {m: {k: float(np.mean([r[k] for r in results[m]])) for k in KEYS} for m in METHODS}
    return dict(metrics=summary, train_seconds={'c2GAN': t_c2gan, 'CycleGAN': t_cyclegan, 'CARE (paired)': t_care},
                n_test_images=len(data['test_A']), stats_B=stats['B']), examples


def goals(summary):
    """The issue's goals, checked on the numbers."""
    m = summary
    better = {
        'psnr_normalized': lambda a, b: a > b, 'ssim_normalized': lambda a, b: a > b,
        'histogram_distance': lambda a, b: a < b}
    out = {}
    for base in ('CycleGAN', 'non-local means'):
        for key, cmp in better.items():
            out['c2GAN beats %s on %s' % (base, key)] = bool(cmp(m['c2GAN'][key], m[base][key]))
    out['c2GAN histogram distance below CARE'] = bool(m['c2GAN']['histogram_distance']
                                                       < m['CARE (paired)']['histogram_distance'])
    out['c2GAN saturated fraction at most CARE'] = bool(m['c2GAN']['saturated_fraction']
                                                         <= m['CARE (paired)']['saturated_fraction'])
    return out


def figure(all_examples, all_results, path):
    import matplotlib.pyplot as plt

    from c2gan_tf.plot import display
    names = list(METHODS) + ['ground truth']
    rows = len(all_examples)
    fig = plt.figure(figsize=(3 * len(names), 3 * rows + 3.2))
    for r, (ndim, ex) in enumerate(all_examples.items()):
        _, lo, hi = display(ex['ground truth'])  # one display range, the ground truth's, for every method
        for i, name in enumerate(names):
            ax = fig.add_subplot(rows + 1, len(names), r * len(names) + i + 1)
            ax.imshow(display(ex[name])[0], cmap='magma', vmin=lo, vmax=hi)
            ax.set_title('%s (%dD)' % (name, ndim), fontsize=9)
            ax.axis('off')
    for j, key in enumerate(('psnr_normalized', 'ssim_normalized', 'histogram_distance')):
        ax = fig.add_subplot(rows + 1, 3, rows * 3 + j + 1)
        width = 0.8 / len(all_results)
        for k, (ndim, res) in enumerate(all_results.items()):
            ax.bar(np.arange(len(METHODS)) + k * width, [res['metrics'][m][key] for m in METHODS], width,
                   label='%dD' % ndim)
        ax.set_xticks(np.arange(len(METHODS)) + width * (len(all_results) - 1) / 2)
        ax.set_xticklabels(METHODS, rotation=30, fontsize=8, ha='right')
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--ndim', type=int, nargs='+', choices=(2, 3), default=[2, 3])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=os.path.dirname(os.path.abspath(__file__)))
    a = p.parse_args()
    results, examples = {}, {}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as basedir:
        for ndim in a.ndim:
            results[ndim], examples[ndim] = run(ndim, a.setting, a.seed, basedir)
            results[ndim]['goals'] = goals(results[ndim]['metrics'])
    report = dict(benchmark='restoration quality on synthetic data with ground truth', setting=a.setting,
                  parameters=SETTINGS[a.setting], seed=a.seed, wall_seconds=time.perf_counter() - t,
                  results={'%dD' % k: v for k, v in results.items()})
    with open(os.path.join(a.out, 'quality_synthetic.json'), 'w') as f:
        json.dump(report, f, indent=2, default=str)
    figure(examples, results, os.path.join(a.out, 'quality_synthetic.png'))
    for ndim, res in results.items():
        print('\n%dD (mean over %d test images)' % (ndim, res['n_test_images']))
        print('%-16s' % 'method' + ''.join('%20s' % k for k in KEYS))
        for m in METHODS:
            print('%-16s' % m + ''.join('%20.4f' % res['metrics'][m][k] for k in KEYS))
        for goal, ok in res['goals'].items():
            print('  %-50s %s' % (goal, 'yes' if ok else 'NO'))


if __name__ == '__main__':
    main()
