"""Restoration quality on real paired images: c2GAN against classical, self-supervised and supervised baselines.

Datasets (``../shared/data``; never committed):
- ``w2s``: W2S widefield pairs (single frame vs 400-frame average), the truly unpaired split of its README: domain
  A = single frames of fields 1-30, domain B = averages of fields 31-60, test = the registered pairs of fields
  61-80. One model for the three stains, reported as ``w2s`` (mean of all test images) and ``w2s-stain0..2``.
- ``hagen-<type>``: each Hagen et al. 2021 sample type with a model of its own. A = low-SNR top-left quadrant,
  B = high-SNR top-right quadrant (another region), test = the registered pairs of the bottom half.
Supervised CARE learns from the registered pairs of the A region (W2S: fields 1-30).

Methods: the input; non-local means (scikit-image) and BM3D (the ``bm3d`` package), both with the noise level
estimated on the image; Noise2Void (CAREamics, trained on the test domain's noisy training images alone);
CycleGAN (c2GAN with structural weight 0); c2GAN; CARE (paired). Learned methods share one budget. Each output is
mapped into domain B's units (the stored range of B's training images) and compared with the ground truth:
normalised (CSBDeep-style) PSNR and SSIM, histogram distance in ground-truth units, and the fraction of pixels at
or above the ground truth's ceiling (255 for these 8-bit copies).

The GANs train with held-out patches (10 % of each domain) and keep the weights with the lowest ``val_select``
(no ground truth). After every epoch the benchmark also measures PSNR on a few test images ("hindsight"), to
report how far the selected checkpoint is from the best one, and the minutes until c2GAN passes non-local means.

Writes ``quality_real.json``, ``quality_real.png`` (crops of every method, a row per dataset) and
``quality_real_examples.npz`` (the crops, so that a run in parts still draws every method; not committed).

Resumable: finished (dataset, method) entries are read back from the JSON and not recomputed, so the run can be
made in parts: ``--datasets w2s`` then ``--datasets hagen`` (or single names), ``--methods`` to choose methods.

usage: python benchmarks/quality_real.py [--setting cpu|full] [--datasets w2s hagen ...] [--methods ...]
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

from quality_synthetic import non_local_means, to_b_units

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', '..', 'shared', 'data')
METHODS = ('input', 'non-local means', 'BM3D', 'Noise2Void', 'CycleGAN', 'c2GAN', 'CARE (paired)')
KEYS = ('psnr_normalized', 'ssim_normalized', 'histogram_distance', 'saturated_fraction')
#: Per dataset family: patch size, batch, U-Net first filters, discriminator filters, epochs x steps, patches
#: per image, test images for the per-epoch hindsight curve.
SETTINGS = {
    'cpu': {'w2s': dict(patch=(64, 64), batch=8, n_first=16, disc_filters=32, epochs=15, steps=100, n_patches=32,
                        n_hindsight=6),
            'hagen': dict(patch=(64, 64), batch=8, n_first=16, disc_filters=32, epochs=6, steps=100, n_patches=96,
                          n_hindsight=2)},
    'full': {'w2s': dict(patch=(128, 128), batch=4, n_first=32, disc_filters=64, epochs=100, steps=500,
                         n_patches=64, n_hindsight=12),
             'hagen': dict(patch=(128, 128), batch=4, n_first=32, disc_filters=64, epochs=50, steps=500,
                           n_patches=128, n_hindsight=2)},
}
CEILING = 255  # the 8-bit copies' largest value


def load_w2s(folder):
    """A (single frames, fields 1-30), B (averages, 31-60), CARE pairs (1-30), test pairs (61-80) with stains."""
    f = np.load(os.path.join(folder, 'w2s', 'w2s_train_fov001-080_u8.npz'))
    low, high, fov, channel = f['avg1'], f['avg400'], f['fov'], f['channel']
    a, b, t = fov <= 30, (fov > 30) & (fov <= 60), fov > 60
    return dict(A=list(low[a]), B=list(high[b]), care=(list(low[a]), list(high[a])),
                test=list(zip(low[t], high[t])), groups=['stain%d' % c for c in channel[t]])


def load_hagen(folder):
    """Per sample type: A = low-SNR top-left quadrant, B = high-SNR top-right, test = registered bottom half."""
    f = np.load(os.path.join(folder, 'hagen2021', 'hagen_gigadb_pairs_u8.npz'))
    out = {}
    for name in sorted(k[:-4] for k in f.files if k.endswith('_low')):
        low, high = f[name + '_low'], f[name + '_high']
        h, w = low.shape[0] // 2, low.shape[1] // 2
        out['hagen-' + name] = dict(A=[low[:h, :w]], B=[high[:h, w:]], care=([low[:h, :w]], [high[:h, :w]]),
                                    test=[(low[h:, :w], high[h:, :w]), (low[h:, w:], high[h:, w:])],
                                    groups=None)
    return out


def normalized(x):
    from csbdeep.utils import normalize
    return normalize(np.asarray(x, np.float32), 1, 99.8)


def bm3d_denoise(x):
    import bm3d
    from skimage.restoration import estimate_sigma
    v = normalized(x)
    return np.asarray(bm3d.bm3d(v, sigma_psd=float(estimate_sigma(v))), np.float32)


def hindsight_callback(model, pairs):
    """Keras callback: PSNR of G on a few test images after every epoch, with the minutes since training began."""
    import keras

    class Hindsight(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.curve = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            from c2gan_tf import metrics
            psnr = [metrics.psnr_normalized(gt, model.predict(x, 'YX')) for x, gt in pairs]
            self.curve.append(dict(epoch=epoch + 1, minutes=(time.perf_counter() - self.start) / 60,
                                   psnr_normalized=float(np.mean(psnr)),
                                   **{k: float(v) for k, v in (logs or {}).items() if k.startswith('val_')}))
    return Hindsight()


def hindsight_pairs(d, s):
    """The few test pairs measured after every epoch (evenly spread over the test images)."""
    return d['test'][::max(1, len(d['test']) // s['n_hindsight'])]


def train_gan(d, s, rho0, seed, basedir, name):
    from c2gan_tf import C2GAN, Config
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'YX'), s['patch'],
                                                 s['n_patches'], seed=seed, verbose=False)
    n_a, n_b = max(1, len(X_A) // 10), max(1, len(X_B) // 10)
    config = Config('YX', unet_n_first=s['n_first'], disc_n_filters=s['disc_filters'], train_patch_size=s['patch'],
                    train_batch_size=s['batch'], train_epochs=s['epochs'], train_steps_per_epoch=s['steps'],
                    struct_rho0=rho0, train_seed=seed, train_tensorboard=False)
    model = C2GAN(config, name, basedir)
    hindsight = hindsight_callback(model, [(x, gt.astype(np.float32)) for x, gt in hindsight_pairs(d, s)])
    t = time.perf_counter()
    history = model.train(X_A[n_a:], X_B[n_b:], validation_data=(X_A[:n_a], X_B[:n_b]), intensity_stats=stats,
                          callbacks=[hindsight])
    seconds = time.perf_counter() - t
    curve = hindsight.curve
    chosen = int(np.nanargmin(history.history['val_select']))
    best = int(np.argmax([c['psnr_normalized'] for c in curve]))
    selection = dict(chosen_epoch=chosen + 1, chosen_psnr=curve[chosen]['psnr_normalized'], best_epoch=best + 1,
                     best_psnr=curve[best]['psnr_normalized'], last_psnr=curve[-1]['psnr_normalized'],
                     gap_db=curve[best]['psnr_normalized'] - curve[chosen]['psnr_normalized'])
    return model, dict(train_seconds=seconds, curve=curve, selection=selection)


def train_care(d, s, seed, basedir):
    from csbdeep.data import RawData, create_patches
    from csbdeep.models import CARE
    from csbdeep.models import Config as CareConfig
    np.random.seed(seed)  # csbdeep's sampler draws from numpy's global generator (benchmark process only)
    raw = RawData.from_arrays(*d['care'], axes='YX')
    X, Y, axes = create_patches(raw, s['patch'], s['n_patches'], patch_filter=None, verbose=False)
    c = axes.index('C')
    X, Y = np.moveaxis(X, c, -1), np.moveaxis(Y, c, -1)
    n_val = max(1, len(X) // 10)
    config = CareConfig('YX', unet_n_depth=2, unet_n_first=s['n_first'], unet_kern_size=5,
                        train_batch_size=s['batch'], train_epochs=s['epochs'], train_steps_per_epoch=s['steps'],
                        train_tensorboard=False)
    model = CARE(config, 'care', basedir)
    t = time.perf_counter()
    model.train(X[n_val:], Y[n_val:], validation_data=(X[:n_val], Y[:n_val]))
    return model, dict(train_seconds=time.perf_counter() - t)


def noise2void(d, s, seed, workdir):
    """CAREamics' Noise2Void, trained on the noisy images of the test domain (A) alone; returns a predictor."""
    from careamics import CAREamist
    from careamics.config import create_n2v_config
    config = create_n2v_config(experiment_name='n2v', data_type='array', axes='SYX', patch_size=list(s['patch']),
                               batch_size=s['batch'], num_epochs=s['epochs'], num_steps=s['steps'])
    model = CAREamist(config, work_dir=workdir)
    t = time.perf_counter()
    model.train(train_data=np.stack([normalized(x) for x in d['A']]))
    seconds = time.perf_counter() - t

    def predict(x):
        out, _ = model.predict(normalized(x), axes='YX')
        return np.squeeze(np.asarray(out[0] if isinstance(out, list) else out, np.float32))
    return predict, dict(train_seconds=seconds)


def evaluate(gt, out):
    from c2gan_tf import metrics
    return dict(psnr_normalized=metrics.psnr_normalized(gt, out), ssim_normalized=metrics.ssim_normalized(gt, out),
                histogram_distance=metrics.histogram_distance(gt, out),
                saturated_fraction=metrics.saturated_fraction(out, level=CEILING))


def run_method(method, d, s, seed, basedir):
    """Outputs of one method on every test image (in domain B's units), and what its training recorded."""
    from c2gan_tf.data import intensity_stats
    to_b = intensity_stats(d['B'])  # the range of B's training images, as the GANs store it

    def units(v):
        return to_b_units(v, to_b)
    info = {}
    if method == 'input':
        predict = lambda x: units(normalized(x))  # noqa: E731
    elif method == 'non-local means':
        predict = lambda x: units(non_local_means(x))  # noqa: E731
    elif method == 'BM3D':
        predict = lambda x: units(bm3d_denoise(x))  # noqa: E731
    elif method == 'Noise2Void':
        n2v, info = noise2void(d, s, seed, os.path.join(basedir, 'n2v'))
        predict = lambda x: units(n2v(x))  # noqa: E731
    elif method in ('CycleGAN', 'c2GAN'):
        model, info = train_gan(d, s, 0.0 if method == 'CycleGAN' else 5.0, seed, basedir, method)
        predict = lambda x: model.predict(x, 'YX')  # noqa: E731
    elif method == 'CARE (paired)':
        from c2gan_tf import DomainNormalizer
        model, info = train_care(d, s, seed, basedir)
        normalizer = DomainNormalizer(to_b['low'], to_b['high'])
        predict = lambda x: model.predict(x, 'YX', normalizer=normalizer)  # noqa: E731
    else:
        raise ValueError('unknown method %r' % method)
    t = time.perf_counter()
    outputs = [predict(x) for x, _ in d['test']]
    info['predict_seconds'] = time.perf_counter() - t
    return outputs, info


def examples_file(out):
    """Crops of each method's output on the first test image of each dataset, kept for the figure (not committed)."""
    return os.path.splitext(out)[0] + '_examples.npz'


def save_example(path, name, method, d, output, crop=256):
    examples = dict(np.load(path)) if os.path.exists(path) else {}
    gt = d['test'][0][1]
    examples['%s|ground truth' % name] = gt[:crop, :crop].astype(np.float32)
    examples['%s|%s' % (name, method)] = np.asarray(output[:crop, :crop], np.float32)
    tmp = path + '.tmp.npz'
    np.savez(tmp, **examples)
    os.replace(tmp, path)


def figure(report, path, examples_path):
    """Crops of every method and the ground truth, a row per dataset, each shown with its own 0.5-99.8 % range."""
    import matplotlib.pyplot as plt

    from c2gan_tf.plot import display
    examples = dict(np.load(examples_path)) if os.path.exists(examples_path) else {}
    names = [n for n in report['datasets'] if '%s|ground truth' % n in examples]
    columns = [m for m in METHODS if any('%s|%s' % (n, m) in examples for n in names)] + ['ground truth']
    fig, axes = plt.subplots(len(names), len(columns), figsize=(2.2 * len(columns), 2.4 * len(names)),
                             squeeze=False)
    for r, n in enumerate(names):
        for c, m in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            img = examples.get('%s|%s' % (n, m))
            if img is not None:
                view, lo, hi = display(img, 0.5, 99.8)
                ax.imshow(view, cmap='magma', vmin=lo, vmax=hi)
                if m in report['datasets'][n]['metrics']:
                    ax.set_xlabel('%.2f dB' % report['datasets'][n]['metrics'][m]['psnr_normalized'], fontsize=8)
            if r == 0:
                ax.set_title(m, fontsize=9)
        axes[r, 0].set_ylabel(n, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def summarise(results, report, name, d, method, outputs, info):
    """Mean metrics of one method into the report: the dataset, and each group of its test images (stains)."""
    per_image = [evaluate(gt.astype(np.float32), out) for (_, gt), out in zip(d['test'], outputs)]
    groups = {name: range(len(per_image))}
    for g in sorted(set(d['groups'] or [])):
        groups['%s-%s' % (name, g)] = [i for i, gi in enumerate(d['groups']) if gi == g]
    for key, idx in groups.items():
        entry = results.setdefault(key, {'metrics': {}})
        entry['metrics'][method] = {k: float(np.mean([per_image[i][k] for i in idx])) for k in KEYS}
        entry['n_test_images'] = len(idx)
    results[name].setdefault('training', {})[method] = info
    report['wall_seconds'] = report.get('wall_seconds', 0) + info.get('train_seconds', 0) + info['predict_seconds']


def time_to_quality(entry):
    """Minutes of c2GAN training until its hindsight PSNR passes non-local means' on the same test images."""
    curve = entry.get('training', {}).get('c2GAN', {}).get('curve')
    nlm = entry.get('hindsight_nlm_psnr')
    if not curve or nlm is None:
        return None
    passed = [c['minutes'] for c in curve if c['psnr_normalized'] > nlm]
    return passed[0] if passed else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--datasets', nargs='+', default=['w2s', 'hagen'],
                   help="'w2s', 'hagen' (every sample type) or names such as hagen-membrane")
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--data', default=DATA)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=os.path.join(HERE, 'quality_real.json'))
    a = p.parse_args()

    report = dict(benchmark='restoration quality on real paired images', setting=a.setting, seed=a.seed,
                  datasets={}, not_run={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
        if report['setting'] != a.setting:
            raise SystemExit('%s holds the %s setting; use another --out' % (a.out, report['setting']))
    datasets = {}
    hagen = load_hagen(a.data) if any(n != 'w2s' for n in a.datasets) else {}
    for name in a.datasets:
        if name == 'w2s':
            datasets['w2s'] = load_w2s(a.data)
        else:
            datasets.update(hagen if name == 'hagen' else {name: hagen[name]})
    for name, d in datasets.items():
        s = SETTINGS[a.setting]['w2s' if name == 'w2s' else 'hagen']
        results = report['datasets']
        entry = results.setdefault(name, {'metrics': {}})
        entry['parameters'] = s
        if 'hindsight_nlm_psnr' not in entry:
            from c2gan_tf import metrics
            entry['hindsight_nlm_psnr'] = float(np.mean([metrics.psnr_normalized(gt.astype(np.float32),
                                                                                   non_local_means(x))
                                                         for x, gt in hindsight_pairs(d, s)]))
        for method in a.methods:
            if method in entry['metrics']:
                continue  # finished earlier
            print('%s: %s' % (name, method), flush=True)
            with tempfile.TemporaryDirectory() as basedir:
                try:
                    outputs, info = run_method(method, d, s, a.seed, basedir)
                except (ImportError, RuntimeError) as e:  # Noise2Void: CAREamics cannot be imported here
                    if method != 'Noise2Void':
                        raise
                    report['not_run']['%s / %s' % (name, method)] = '%s: %s' % (type(e).__name__, e)
                    save(report, a.out)
                    print('  not run: %s' % e, flush=True)
                    continue
            summarise(results, report, name, d, method, outputs, info)
            save_example(examples_file(a.out), name, method, d, outputs[0])
            entry['time_to_quality_minutes'] = time_to_quality(entry)
            save(report, a.out)  # a finished method is never lost
            m = entry['metrics'][method]
            print('  ' + '  '.join('%s %.4f' % (k, m[k]) for k in KEYS), flush=True)
    figure(report, os.path.splitext(a.out)[0] + '.png', examples_file(a.out))
    print_table(report)


def save(report, path):
    """Write the report to a temporary name and rename it into place."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, path)


def print_table(report):
    for name, entry in report['datasets'].items():
        print(name)
        for m in METHODS:
            if m in entry['metrics']:
                print('  %-16s' % m + ''.join('%10.4f' % entry['metrics'][m][k] for k in KEYS))


if __name__ == '__main__':
    main()
