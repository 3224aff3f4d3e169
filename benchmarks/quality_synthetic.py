"""Restoration quality on synthetic data with ground truth, 2D and 3D: c2GAN against its baselines, over seeds.

Sets (``c2gan_tf.synthetic``): ``2D`` (256 x 256 images), ``3D`` (32 x 128 x 128 volumes, isotropic voxels, the
PSF twice as long axially) and ``3D anisotropic`` (16 x 128 x 128 volumes whose Z step is 3x the pixel size, the PSF
3x as long axially, as in real stacks). Domain A: wide PSF, few photons; domain B: narrow PSF, many photons; every
image shows another scene.

Methods: the noisy input, non-local means (scikit-image, on the whole image or volume), plain CycleGAN (structural
weight 0), c2GAN, and supervised CARE (csbdeep) on registered pairs of the same training scenes; in 3D also a 2D
c2GAN trained on the volumes' planes and applied plane by plane (``c2GAN 2D, plane by plane``: users ask which to
use). The GANs use the package's defaults for their dimensionality (``Config('YX')``, ``Config('ZYX')``: the 3D
defaults are the recipe chosen in ``recipe_3d.py``), 2D at the CPU sizes of ``quality_real.py``, 3D at the 3D demo's
(:func:`c2gan_tf.demo.demo_sizes`); CARE the same budget. Every output is mapped into domain B's units with the
stored range of B's training images. Means over the test images; each learned method over 3 seeds (mean and standard
deviation). Content preservation: IoU of the foreground masks of output and ground truth (``mask_iou_with_gt``).

Writes ``quality_synthetic.json`` and ``quality_synthetic.png`` (an XY plane and an XZ section of each method in 3D).
Resumable per (set, method, seed).

usage: python benchmarks/quality_synthetic.py [--sets 2D 3D "3D anisotropic"] [--seeds 3]
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = {'2D': dict(ndim=2, shape=(256, 256), z_step=1, axial_ratio=2.0),
        '3D': dict(ndim=3, shape=(32, 128, 128), z_step=1, axial_ratio=2.0),
        '3D anisotropic': dict(ndim=3, shape=(16, 128, 128), z_step=3, axial_ratio=3.0)}
#: Images per domain, test images, patches per image; the 2D networks' CPU sizes (as quality_real.py's).
DATA = dict(n_images=8, n_test=3, n_patches=32)
SIZES_2D = dict(unet_n_first=16, disc_n_filters=32, train_patch_size=(64, 64), train_batch_size=4,
                train_epochs=10, train_steps_per_epoch=100)
METHODS = ('input', 'non-local means', 'CycleGAN', 'c2GAN', 'c2GAN 2D, plane by plane', 'CARE (paired)')
LEARNED = ('CycleGAN', 'c2GAN', 'c2GAN 2D, plane by plane', 'CARE (paired)')
KEYS = ('psnr', 'psnr_normalized', 'ssim', 'ssim_normalized', 'histogram_distance', 'saturated_fraction',
        'mask_iou_with_gt')


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


def gan_config(axes, seed, **kwargs):
    """The package's default Config for ``axes`` at the CPU sizes, seeded."""
    from c2gan_tf import Config
    from c2gan_tf.demo import demo_sizes
    sizes = SIZES_2D if len(axes) == 2 else demo_sizes(3)
    return Config(axes, train_seed=seed, train_tensorboard=False, **dict(sizes, **kwargs))


def plane_patches(d, patch_size, seed, n_patches=4):
    """2D patches of the planes of each domain's volumes, each volume normalised as a whole (as prediction of a
    stack normalises it), ``n_patches`` per plane; and the volumes' intensity ranges."""
    from c2gan_tf.data import UnpairedData, create_unpaired_patches, intensity_stats, normalize_images
    planes = {k: [p for v in normalize_images([v[..., np.newaxis] for v in d[k]]) for p in v[..., 0]] for k in 'AB'}
    X_A, X_B, _, _ = create_unpaired_patches(UnpairedData.from_arrays(planes['A'], planes['B'], 'YX'), patch_size,
                                             n_patches, normalization=None, seed=seed, verbose=False)
    return X_A, X_B, {k: intensity_stats(d[k]) for k in 'AB'}


def train_gan(images_a, images_b, axes, seed, basedir, name, planes=False, **kwargs):
    from c2gan_tf import C2GAN
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    config = gan_config(axes, seed, **kwargs)
    if planes:
        X_A, X_B, stats = plane_patches(dict(A=images_a, B=images_b), config.train_patch_size, seed)
    else:
        X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(images_a, images_b, axes),
                                                     config.train_patch_size, DATA['n_patches'], seed=seed,
                                                     verbose=False)
    model = C2GAN(config, name, basedir)
    t = time.perf_counter()
    model.train(X_A, X_B, intensity_stats=stats)
    return model, time.perf_counter() - t


def train_care(images_a, images_b_paired, axes, seed, basedir):
    from csbdeep.data import RawData, create_patches
    from csbdeep.models import CARE
    from csbdeep.models import Config as CareConfig
    from csbdeep.utils import axes_dict
    c = gan_config(axes, seed)
    np.random.seed(seed)  # csbdeep's sampler draws from numpy's global generator (benchmark process only)
    raw = RawData.from_arrays(images_a, images_b_paired, axes=axes)
    X, Y, patch_axes = create_patches(raw, c.train_patch_size, DATA['n_patches'], verbose=False)
    ch = axes_dict(patch_axes)['C']
    X, Y = np.moveaxis(X, ch, -1), np.moveaxis(Y, ch, -1)
    n_val = max(1, len(X) // 10)
    config = CareConfig(axes, unet_n_depth=c.unet_n_depth, unet_n_first=c.unet_n_first,
                        unet_kern_size=c.unet_kern_size, train_batch_size=c.train_batch_size,
                        train_epochs=c.train_epochs, train_steps_per_epoch=c.train_steps_per_epoch,
                        train_tensorboard=False)
    model = CARE(config, 'care', basedir)
    t = time.perf_counter()
    model.train(X[n_val:], Y[n_val:], validation_data=(X[:n_val], Y[:n_val]))
    return model, time.perf_counter() - t


def data_of(name, seed):
    """The set's images; the test scenes come from a seed of their own (the same for every training seed)."""
    from c2gan_tf import synthetic
    s = SETS[name]
    kwargs = dict(z_step=s['z_step'], axial_ratio=s['axial_ratio'])
    train = synthetic.generate(s['ndim'], s['shape'], n_a=DATA['n_images'], n_b=DATA['n_images'], n_test=0,
                               seed=seed, paired=True, **kwargs)
    test = synthetic.generate(s['ndim'], s['shape'], n_a=0, n_b=0, n_test=DATA['n_test'], seed=99, **kwargs)
    return dict(train, test_A=test['test_A'], test_GT=test['test_GT'])


def outputs_of(method, d, axes, seed, basedir):
    """The method's outputs on the test images (in domain B's units), and its training seconds."""
    from c2gan_tf import DomainNormalizer
    from c2gan_tf.config import CYCLEGAN
    from c2gan_tf.data import intensity_stats
    from csbdeep.utils import normalize
    stats_b = intensity_stats(d['B'])
    if method == 'input':
        return [to_b_units(normalize(x.astype(np.float32), 1, 99.8), stats_b) for x in d['test_A']], 0.0
    if method == 'non-local means':
        return [to_b_units(non_local_means(x), stats_b) for x in d['test_A']], 0.0
    if method == 'CARE (paired)':
        model, seconds = train_care(d['A'], d['A_paired_B'], axes, seed, basedir)
        normalizer = DomainNormalizer(stats_b['low'], stats_b['high'])
        return [model.predict(x, axes, normalizer=normalizer) for x in d['test_A']], seconds
    if method == 'c2GAN 2D, plane by plane':
        model, seconds = train_gan(d['A'], d['B'], 'YX', seed, basedir, 'c2gan_2d', planes=True)
    else:
        model, seconds = train_gan(d['A'], d['B'], axes, seed, basedir, method,
                                   **(CYCLEGAN if method == 'CycleGAN' else {}))
    return [model.predict(x, axes) for x in d['test_A']], seconds


def evaluate(gt, out, x):
    from c2gan_tf import metrics
    result = metrics.evaluate(gt, out, reference_input=x)
    result['mask_iou_with_gt'] = metrics.mask_iou(gt, out)
    return {k: float(result[k]) for k in KEYS}


def aggregate(entry):
    """Mean and standard deviation over seeds of each method's per-seed means."""
    entry['metrics'] = {}
    for method, runs in entry['runs'].items():
        per_seed = [r['metrics'] for r in runs.values()]
        m = {k: float(np.mean([p[k] for p in per_seed])) for k in KEYS}
        m.update({k + '_sd': float(np.std([p[k] for p in per_seed], ddof=1)) if len(per_seed) > 1 else None
                  for k in ('psnr_normalized', 'ssim_normalized', 'mask_iou_with_gt')})
        m['n_seeds'] = len(per_seed)
        entry['metrics'][method] = m


def examples_path(out):
    return os.path.join(out, 'quality_synthetic_examples.npz')


def save_example(out, name, method, volume):
    """The first test image's output: a 2D image, or a 3D volume's middle XY plane and XZ section."""
    path = examples_path(out)
    examples = dict(np.load(path)) if os.path.exists(path) else {}
    v = np.asarray(volume, np.float32)
    views = {'XY': v} if v.ndim == 2 else {'XY': v[v.shape[0] // 2], 'XZ': v[:, v.shape[1] // 2]}
    for view, img in views.items():
        examples['%s|%s|%s' % (name, method, view)] = img
    np.savez(path + '.tmp.npz', **examples)
    os.replace(path + '.tmp.npz', path)


def figure(report, out):
    import matplotlib.pyplot as plt

    from c2gan_tf.plot import display
    path = examples_path(out)
    if not os.path.exists(path):
        return
    examples = dict(np.load(path))
    rows = [(n, view) for n in report['sets'] for view in ('XY', 'XZ') if '%s|ground truth|%s' % (n, view) in examples]
    columns = [m for m in METHODS + ('ground truth',) if any('%s|%s|%s' % (n, m, v) in examples for n, v in rows)]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.3 * len(columns), 2.3 * len(rows)), squeeze=False)
    for r, (n, view) in enumerate(rows):
        # one display range per set, the ground truth's XY plane's: an XZ section of little structure would
        # otherwise set a range that every noisy output saturates
        _, lo, hi = display(examples['%s|ground truth|XY' % n])
        for c, m in enumerate(columns):
            ax = axes[r, c]
            ax.axis('off')
            img = examples.get('%s|%s|%s' % (n, m, view))
            if img is None:
                continue
            ax.imshow(img, cmap='magma', vmin=lo, vmax=hi, aspect='auto' if view == 'XZ' else 'equal',
                      interpolation='nearest')
            metric = report['sets'][n].get('metrics', {}).get(m)
            title = m if r == 0 else ''
            ax.set_title(title + ('\n' if title else '') + ('%.2f dB' % metric['psnr_normalized'] if metric else ''),
                         fontsize=7)
        axes[r, 0].text(-0.1, 0.5, '%s %s' % (n, view), transform=axes[r, 0].transAxes, rotation=90, va='center',
                        ha='right', fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, 'quality_synthetic.png'), dpi=70)
    plt.close(fig)


def save(report, path):
    with open(path + '.tmp', 'w') as f:
        json.dump(report, f, indent=1)
    os.replace(path + '.tmp', path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', nargs='+', default=list(SETS), choices=list(SETS))
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--out', default=HERE)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, 'quality_synthetic.json')
    report = dict(benchmark='restoration quality on synthetic data with ground truth', data=DATA, sets={})
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    for name in a.sets:
        s = SETS[name]
        axes = 'YX' if s['ndim'] == 2 else 'ZYX'
        entry = report['sets'].setdefault(name, dict(parameters=s, runs={}))
        for seed in range(a.seeds):
            d = None
            for method in a.methods:
                if s['ndim'] == 2 and method == 'c2GAN 2D, plane by plane':
                    continue
                if str(seed) in entry['runs'].get(method, {}) or (method not in LEARNED and seed > 0):
                    continue
                d = d or data_of(name, seed)
                print('%s: %s, seed %d' % (name, method, seed), flush=True)
                with tempfile.TemporaryDirectory() as basedir:
                    outputs, seconds = outputs_of(method, d, axes, seed, basedir)
                scores = [evaluate(gt, o, x) for x, gt, o in zip(d['test_A'], d['test_GT'], outputs)]
                entry['runs'].setdefault(method, {})[str(seed)] = dict(
                    metrics={k: float(np.mean([sc[k] for sc in scores])) for k in KEYS}, train_seconds=seconds)
                aggregate(entry)
                if seed == 0:
                    save_example(a.out, name, method, outputs[0])
                    save_example(a.out, name, 'ground truth', d['test_GT'][0])
                save(report, path)
                print('  ' + '  '.join('%s %.4f' % (k, v) for k, v in
                                       entry['runs'][method][str(seed)]['metrics'].items()), flush=True)
    figure(report, a.out)


if __name__ == '__main__':
    main()
