"""Restoration quality on real paired images: c2GAN against classical, self-supervised and supervised baselines.

Sets (``real_sets.py``; data from ``../shared/data``, never committed): ``w2s`` (W2S widefield, the README's truly
unpaired split), ``w2s-swap`` (A and B swapped between the field ranges), ``w2s-blur`` (W2S averages blurred by a
Gaussian PSF with Poisson-Gaussian noise: a degradation Noise2Void cannot undo), and ``hagen-<type>`` for each of
the eight Hagen et al. 2021 sample types (one model each).

Methods: the input; non-local means (scikit-image) and BM3D (the ``bm3d`` package), both with the noise level
estimated on the image; Noise2Void and N2V2 (CAREamics, in the environment of ``../shared/tools/n2v-runtime``, a
process of their own, trained on the test domain's degraded training images alone, for the GANs' wall-clock
budget); CycleGAN (the package's default ``Config`` with ``config.CYCLEGAN``: no structural, no low-pass loss)
and c2GAN (the default ``Config``), each as a user gets it: reloaded with ``C2GAN(None, name, basedir)`` after
training, with the weights loaded by default; CARE (csbdeep, registered pairs of the A fields). The networks'
sizes and the number of steps are the setting's (sized for the machine); every other setting of the GANs is the
package's default.

Each output is mapped into domain B's units (the stored range of B's training images) and compared with the
ground truth: normalised (CSBDeep-style) PSNR and SSIM, histogram distance in ground-truth units, the fraction of
pixels at or above 255 (``saturated_fraction``: the 8-bit copies' ceiling) and above the ground truth's brightest
pixel (``above_ceiling_fraction``), and the Fourier ring correlation resolution against the ground truth
(``frc_resolution``, pixels, smaller is finer). ``w2s-blur`` also reports the blur alone (``blur only``: what a
perfect denoiser that does not deblur would score).

The GANs train with held-out patches (10 % of each domain), several seeds each (``train_seed``, which also draws
the patches); after every epoch the benchmark measures PSNR on a few test images ("hindsight") to report how far the
default-loaded checkpoint is from the best epoch (``selection``), and the minutes until c2GAN passes non-local means.

Writes ``quality_real.json`` (``{"setting", "datasets": {NAME: {"metrics": {METHOD: {...}}, "selection": {...},
"groups": ..., "runs": ...}}}``; ``metrics`` are means over seeds of per-seed means over the test images, with
their standard deviation), ``quality_real.png`` (crops of every method on the ground truth's display range, pixels
above its ceiling in cyan, a row per set) and ``quality_real_examples.npz`` (the crops; not committed).

Resumable: every finished (set, method, seed) is kept in the JSON and not recomputed, so the run can be made in
parts: ``--datasets w2s``, then ``--datasets w2s-swap``, ... (or ``hagen``, or single names), ``--methods`` to
choose methods, ``--seeds`` to add seeds. ``--rerun TAG`` trains the chosen methods of the chosen sets again (after
a change of the package), replacing their runs that carry another tag (or none); runs are tagged, so a rerun
resumes. ``--keep DIR`` keeps each GAN's model folder (``DIR/SET/METHOD/SEED/METHOD``); ``--reevaluate`` then
measures kept GANs again without training them (after a change of what prediction does with G's output: training
does not depend on ``Config.output_calibration`` nor on ``output_lowpass_weight`` and ``output_lowpass_sigma``, so
the kept folders are given today's defaults of them first, those of ``CYCLEGAN`` for CycleGAN), keeping what their
training recorded (the per-epoch curve and checkpoint gaps too) and, under ``earlier``, the metrics measured before
with the folder's settings; each GAN run records the ``output_calibration`` and ``output_lowpass_weight`` it was
measured with.

usage: python benchmarks/quality_real.py [--setting cpu|full] [--datasets ...] [--methods ...] [--seeds N]
                                         [--rerun TAG] [--keep DIR [--reevaluate]]
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from quality_synthetic import non_local_means, to_b_units
from real_sets import DATA, HAGEN_WEAK, W2S_SETS, blur_only, load_sets

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ('input', 'non-local means', 'BM3D', 'Noise2Void', 'N2V2', 'CycleGAN', 'c2GAN', 'CARE (paired)')
GANS = ('CycleGAN', 'c2GAN')
#: The settings of what prediction does with G's output, which training does not depend on (``--reevaluate``).
PREDICTION_SETTINGS = ('output_calibration', 'output_lowpass_weight', 'output_lowpass_sigma')
KEYS = ('psnr_normalized', 'ssim_normalized', 'histogram_distance', 'saturated_fraction', 'above_ceiling_fraction',
        'frc_resolution')
#: Per set family: patch size, batch, U-Net first filters, discriminator filters, epochs x steps, patches per
#: image, test images of the per-epoch hindsight curve, seeds of each GAN.
SETTINGS = {
    'cpu': {'w2s': dict(patch=(64, 64), batch=8, n_first=16, disc_filters=32, epochs=15, steps=100, n_patches=32,
                        n_hindsight=6, seeds=3),
            'hagen': dict(patch=(64, 64), batch=8, n_first=16, disc_filters=32, epochs=6, steps=100, n_patches=96,
                          n_hindsight=2, seeds=2)},
    'full': {'w2s': dict(patch=(128, 128), batch=4, n_first=32, disc_filters=64, epochs=100, steps=500,
                         n_patches=64, n_hindsight=12, seeds=3),
             'hagen': dict(patch=(128, 128), batch=4, n_first=32, disc_filters=64, epochs=50, steps=500,
                           n_patches=128, n_hindsight=2, seeds=2)},
}
CEILING = 255  # the 8-bit copies' largest value
N2V_RUNTIME = os.path.join(HERE, '..', '..', 'shared', 'tools', 'n2v-runtime', 'setup.sh')


def setting_of(setting, name):
    return SETTINGS[setting]['w2s' if name.startswith('w2s') else 'hagen']


def normalized(x):
    from csbdeep.utils import normalize
    return normalize(np.asarray(x, np.float32), 1, 99.8)


def bm3d_denoise(x):
    import bm3d
    from skimage.restoration import estimate_sigma
    v = normalized(x)
    return np.asarray(bm3d.bm3d(v, sigma_psd=float(estimate_sigma(v))), np.float32)


def evaluate(gt, out):
    """The benchmark's metrics of one output against its ground truth (both in the ground truth's units)."""
    from c2gan_tf import metrics
    gt, out = np.asarray(gt, np.float32), np.asarray(out, np.float32)
    return dict(psnr_normalized=metrics.psnr_normalized(gt, out), ssim_normalized=metrics.ssim_normalized(gt, out),
                histogram_distance=metrics.histogram_distance(gt, out),
                saturated_fraction=metrics.saturated_fraction(out, level=CEILING),
                above_ceiling_fraction=metrics.above_ceiling_fraction(gt, out),
                frc_resolution=metrics.frc_resolution(gt, out))


def hindsight_pairs(d, s):
    """The few test pairs measured after every epoch (evenly spread over the test images)."""
    return d['test'][::max(1, len(d['test']) // s['n_hindsight'])]


def hindsight_callback(model, pairs, validation_a=None):
    """Keras callback: metrics of G on a few test pairs after every epoch, the minutes since training began, the
    epoch's validation logs and, given ``validation_a``, the no-ground-truth QC scores with their terms
    (:func:`c2gan_tf.qc.checkpoint_terms`) of G's outputs of the pairs' inputs (``qc_*``) and of the validation
    patches of A (``qc_val_*``)."""
    import keras
    from c2gan_tf.qc import checkpoint_terms

    def scores(summaries, prefix):
        return {prefix + k: v for k, v in checkpoint_terms(summaries).items()}

    class Hindsight(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.curve = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            minutes = (time.perf_counter() - self.start) / 60
            qc = validation_a is not None
            results = [(model.predict(x, 'YX', return_qc=qc), gt) for x, gt in pairs]
            metrics = [evaluate(gt, out[0] if qc else out) for out, gt in results]
            entry = dict(epoch=epoch + 1, minutes=minutes,
                         **{k: float(np.mean([sc[k] for sc in metrics])) for k in KEYS},
                         **{k: float(v) for k, v in (logs or {}).items() if k.startswith('val_')})
            if qc:
                entry.update(scores([out[1].summary for out, _ in results], 'qc_'))
                val = model.predict(validation_a[..., 0], 'TYX', return_qc=True)[1]
                entry.update(scores([val.summary], 'qc_val_'))
            self.curve.append(entry)
    return Hindsight()


def gan_config(d, s, method, seed, **overrides):
    """The package's default ``Config`` at the setting's sizes and budget (CycleGAN: ``config.CYCLEGAN``)."""
    from c2gan_tf import Config
    from c2gan_tf.config import CYCLEGAN
    kwargs = dict(unet_n_first=s['n_first'], disc_n_filters=s['disc_filters'], train_patch_size=s['patch'],
                  train_batch_size=s['batch'], train_epochs=s['epochs'], train_steps_per_epoch=s['steps'],
                  train_seed=seed, train_tensorboard=False)
    if method == 'CycleGAN':
        kwargs.update(CYCLEGAN)
    kwargs.update(overrides)
    return Config('YX', **kwargs)


def train_gan(d, s, method, seed, basedir, pairs=None, qc_scores=False, **overrides):
    """Train a GAN as a user does (10 % of each domain's patches held out), then reload it as a user does.

    Returns the reloaded model and what training recorded: seconds, the hindsight curve on ``pairs`` (default: the
    set's hindsight pairs; with ``qc_scores``, also the QC scores of :func:`hindsight_callback`), and ``selection``
    (the epoch of the weights loaded by default, the best epoch in hindsight, and the gap between them in dB).
    """
    from c2gan_tf import C2GAN
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'YX'), s['patch'],
                                                 s['n_patches'], seed=seed, verbose=False)
    n_a, n_b = max(1, len(X_A) // 10), max(1, len(X_B) // 10)
    model = C2GAN(gan_config(d, s, method, seed, **overrides), method, basedir)
    pairs = hindsight_pairs(d, s) if pairs is None else pairs
    hindsight = hindsight_callback(model, pairs, X_A[:n_a] if qc_scores else None)
    t = time.perf_counter()
    model.train(X_A[n_a:], X_B[n_b:], validation_data=(X_A[:n_a], X_B[:n_b]), intensity_stats=stats,
                callbacks=[hindsight])
    seconds = time.perf_counter() - t
    loaded = C2GAN(None, method, basedir)  # what a user gets
    curve = hindsight.curve
    chosen = loaded.weights_epoch()
    best = int(np.argmax([c['psnr_normalized'] for c in curve])) + 1
    selection = dict(chosen_epoch=chosen, best_epoch=best,
                     gap_db=curve[best - 1]['psnr_normalized'] - curve[chosen - 1]['psnr_normalized'])
    return loaded, dict(train_seconds=seconds, curve=curve, selection=selection)


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


def n2v_python():
    """The python of the CAREamics environment (built once by ``../shared/tools/n2v-runtime/setup.sh``)."""
    try:
        out = subprocess.run(['bash', N2V_RUNTIME], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError('the CAREamics environment could not be built: %s' % getattr(e, 'stderr', e)) from None
    return out.stdout.strip().splitlines()[-1]


def noise2void(d, s, seed, workdir, use_n2v2, seconds):
    """Noise2Void (or N2V2) outputs of the test images, trained on the set's degraded training images alone for
    ``seconds`` of wall-clock time, in CAREamics' environment; normalised intensities."""
    inp, out, settings = (os.path.join(workdir, f) for f in ('n2v_in.npz', 'n2v_out.npz', 'n2v.json'))
    np.savez(inp, train=np.stack([normalized(x) for x in d['train_noisy']]),
             **{'test_%d' % i: normalized(x) for i, (x, _) in enumerate(d['test'])})
    with open(settings, 'w') as f:
        json.dump(dict(patch=list(s['patch']), batch=s['batch'], steps=s['steps'], seconds=seconds,
                       use_n2v2=use_n2v2, seed=seed, threads=os.cpu_count()), f)
    proc = subprocess.run([n2v_python(), os.path.join(HERE, 'n2v_careamics.py'), inp, out, settings],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError('CAREamics failed: %s' % proc.stderr[-2000:])
    with np.load(out) as f:
        info = json.loads(str(f['info']))
        return [f['pred_%d' % i] for i in range(len(d['test']))], info


def gan_budget(entry, s):
    """Wall-clock seconds of one GAN training run on this set (the mean of those done), the N2V budget."""
    seconds = [r['training']['train_seconds'] for m in GANS for r in entry.get('runs', {}).get(m, {}).values()]
    return float(np.mean(seconds)) if seconds else None


def run_method(method, d, s, seed, basedir, entry, reevaluate=False):
    """Outputs of one method on every test image (in domain B's units), and what its training recorded (with
    ``reevaluate``, a GAN kept in ``basedir`` is loaded instead of trained, and nothing is recorded)."""
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
    elif method in ('Noise2Void', 'N2V2'):
        budget = gan_budget(entry, s)
        if budget is None:
            raise RuntimeError('run a GAN on this set first: Noise2Void gets its wall-clock budget')
        outputs, info = noise2void(d, s, seed, basedir, method == 'N2V2', budget)
        return [units(o) for o in outputs], info
    elif method in GANS:
        if reevaluate:
            model, before = kept_gan(method, basedir)
            info = dict(settings_before=before)
        else:
            model, info = train_gan(d, s, method, seed, basedir)
        info.update(output_calibration=model.config.output_calibration,
                    output_lowpass_weight=model.config.output_lowpass_weight)
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


def kept_gan(method, basedir):
    """A kept GAN as a user gets it today: its folder's prediction settings (:data:`PREDICTION_SETTINGS`) set to
    today's defaults first (``CYCLEGAN``'s for CycleGAN); and a label of the folder's settings before (a setting
    that it lacks was not there yet: no low band)."""
    from c2gan_tf import C2GAN, Config
    from c2gan_tf.config import CYCLEGAN
    path = os.path.join(basedir, method, 'config.json')
    with open(path) as f:
        config = json.load(f)
    today = Config('YX', **(CYCLEGAN if method == 'CycleGAN' else {}))
    before = '%s, low band weight %g' % (config.get('output_calibration', 'unrecorded'),
                                         config.get('output_lowpass_weight', 0))
    config.update({k: getattr(today, k) for k in PREDICTION_SETTINGS})
    with open(path, 'w') as f:
        json.dump(config, f, indent=1)
    return C2GAN(None, method, basedir), before


def examples_file(out):
    """Crops of each method's output on the first test image of each set, kept for the figure (not committed)."""
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
    """Crops of every method and the ground truth, a row per set, all on the ground truth's display range (its
    0.5 percentile to its brightest pixel); pixels above that ceiling are cyan, so overshoot shows."""
    import matplotlib.pyplot as plt
    examples = dict(np.load(examples_path)) if os.path.exists(examples_path) else {}
    missing = ['%s|%s' % (n, m) for n, d in report['datasets'].items() for m in list(d['metrics']) + ['ground truth']
               if '%s|%s' % (n, m) not in examples]
    if missing:  # a part run on a machine without the crops of the earlier parts: the figure would lose them
        print('%s not redrawn: no crops of %s in %s (made by the runs of those methods)'
              % (path, ', '.join(missing), examples_path), flush=True)
        return
    names = list(report['datasets'])
    columns = [m for m in METHODS if any('%s|%s' % (n, m) in examples for n in names)] + ['ground truth']
    fig, axes = plt.subplots(len(names), len(columns), figsize=(2.0 * len(columns), 2.2 * len(names)),
                             squeeze=False)
    cmap = plt.get_cmap('magma').with_extremes(over='cyan')
    for r, n in enumerate(names):
        gt = examples['%s|ground truth' % n]
        lo, hi = np.percentile(gt, 0.5), gt.max()
        for c, m in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            img = examples.get('%s|%s' % (n, m))
            if img is not None:
                ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
                metrics = report['datasets'][n]['metrics'].get(m)
                if metrics:
                    ax.set_xlabel('%.2f dB, %.1f %% > max' % (metrics['psnr_normalized'],
                                                              100 * metrics['above_ceiling_fraction']), fontsize=7)
            if r == 0:
                ax.set_title(m, fontsize=8)
        axes[r, 0].set_ylabel(n, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def per_image_scores(d, outputs):
    return [evaluate(gt, out) for (_, gt), out in zip(d['test'], outputs)]


def means(scores, idx=None):
    idx = range(len(scores)) if idx is None else idx
    return {k: float(np.mean([scores[i][k] for i in idx])) for k in KEYS}


def record_run(entry, d, method, seed, outputs, info):
    """One finished (method, seed) into the set's entry: its mean metrics, per group (stain), and training."""
    scores = per_image_scores(d, outputs)
    run = dict(metrics=means(scores), training=info)
    if d['groups']:
        run['groups'] = {g: means(scores, [i for i, gi in enumerate(d['groups']) if gi == g])
                         for g in sorted(set(d['groups']))}
    entry.setdefault('runs', {}).setdefault(method, {})[str(seed)] = run
    aggregate(entry)


def over_seeds(runs):
    """Mean and standard deviation over seeds of per-seed metrics (``*_sd`` is ``None`` for a single seed)."""
    out = {k: float(np.mean([r[k] for r in runs])) for k in KEYS}
    out['n_seeds'] = len(runs)
    for k in ('psnr_normalized', 'ssim_normalized', 'histogram_distance'):
        out[k + '_sd'] = float(np.std([r[k] for r in runs], ddof=1)) if len(runs) > 1 else None
    return out


def aggregate(entry):
    """The set's ``metrics``, ``groups`` and ``selection`` from its runs."""
    entry['metrics'], entry['groups'], entry['selection'] = {}, {}, {}
    for method in METHODS:
        runs = list(entry.get('runs', {}).get(method, {}).values())
        if not runs:
            continue
        entry['metrics'][method] = over_seeds([r['metrics'] for r in runs])
        for g in runs[0].get('groups', {}):
            entry['groups'].setdefault(g, {})[method] = over_seeds([r['groups'][g] for r in runs])
        if method in GANS:
            sel = [r['training']['selection'] for r in runs]
            entry['selection'][method] = dict(chosen_epoch=[x['chosen_epoch'] for x in sel],
                                              best_epoch=[x['best_epoch'] for x in sel],
                                              gap_db=max(x['gap_db'] for x in sel),
                                              gap_db_per_seed=[x['gap_db'] for x in sel])
    entry['time_to_quality_minutes'] = time_to_quality(entry)


def time_to_quality(entry):
    """Minutes of c2GAN training (mean over seeds) until its hindsight PSNR passed non-local means'."""
    nlm = entry.get('hindsight_nlm_psnr')
    passed = []
    for r in entry.get('runs', {}).get('c2GAN', {}).values():
        times = [c['minutes'] for c in r['training']['curve'] if c['psnr_normalized'] > nlm]
        passed.append(times[0] if times else None)
    return None if nlm is None or not passed or None in passed else float(np.mean(passed))


def seeds_of(method, s, n_seeds):
    return list(range(n_seeds or s['seeds'])) if method in GANS else [0]


def run_set(report, name, d, a):
    """Every method and seed still missing for one set (with ``a.rerun``: every chosen one; with
    ``a.reevaluate``: every kept GAN), each saved as soon as it is done."""
    s = setting_of(a.setting, name)
    entry = report['datasets'].setdefault(name, {})
    entry.update(parameters=s, n_test_images=len(d['test']), weak_test=name in HAGEN_WEAK)
    if 'hindsight_nlm_psnr' not in entry:
        from c2gan_tf import metrics
        entry['hindsight_nlm_psnr'] = float(np.mean([metrics.psnr_normalized(gt.astype(np.float32),
                                                                               non_local_means(x))
                                                     for x, gt in hindsight_pairs(d, s)]))
    if name.startswith('w2s-blur') and 'reference' not in entry:
        entry['reference'] = {'blur only': means(per_image_scores(d, [blur_only(gt) for _, gt in d['test']]))}
    if a.rerun:  # runs of another tag (or none) are replaced
        for method in a.methods:
            runs = entry.get('runs', {}).get(method, {})
            for seed in [k for k, r in runs.items() if r['training'].get('rerun') != a.rerun]:
                del runs[seed]
    # the GANs first: Noise2Void's budget is their wall-clock time
    for method in sorted(a.methods, key=lambda m: m not in GANS):
        for seed in seeds_of(method, s, a.seeds):
            kept = os.path.join(a.keep, name, method, str(seed)) if a.keep and method in GANS else None
            done = entry.get('runs', {}).get(method, {}).get(str(seed))
            if a.reevaluate:
                if done is None or kept is None or not os.path.isdir(os.path.join(kept, method)):
                    continue  # only kept GANs are measured again
            elif done is not None:
                continue  # finished earlier
            print('%s: %s, seed %d' % (name, method, seed), flush=True)
            with tempfile.TemporaryDirectory() as basedir:
                if kept is not None:
                    basedir = kept
                    if not a.reevaluate:
                        shutil.rmtree(kept, ignore_errors=True)
                        os.makedirs(kept)
                try:
                    outputs, info = run_method(method, d, s, seed, basedir, entry, a.reevaluate)
                except RuntimeError as e:  # Noise2Void: CAREamics' environment or budget missing
                    if method not in ('Noise2Void', 'N2V2'):
                        raise
                    report.setdefault('not_run', {})['%s / %s' % (name, method)] = str(e)
                    save(report, a.out)
                    print('  not run: %s' % e, flush=True)
                    continue
            if a.reevaluate:  # what training recorded, and the metrics measured before
                earlier = dict(done['training'].get('earlier', {}))
                earlier.setdefault(info['settings_before'], done['metrics'])
                info = dict(done['training'], predict_seconds=info['predict_seconds'], earlier=earlier,
                            **{k: info[k] for k in ('output_calibration', 'output_lowpass_weight')})
            elif a.rerun:
                info['rerun'] = a.rerun
            record_run(entry, d, method, seed, outputs, info)
            if seed == 0:
                save_example(examples_file(a.out), name, method, d, outputs[0])
            save(report, a.out)  # a finished run is never lost
            m = entry['runs'][method][str(seed)]['metrics']
            print('  ' + '  '.join('%s %.4f' % (k, m[k]) for k in KEYS), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', choices=sorted(SETTINGS), default='cpu')
    p.add_argument('--datasets', nargs='+', default=list(W2S_SETS) + ['hagen'],
                   help="w2s, w2s-swap, w2s-blur, 'hagen' (every sample type) or names such as hagen-membrane")
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--seeds', type=int, default=None, help="seeds per GAN (default: the setting's)")
    p.add_argument('--data', default=DATA)
    p.add_argument('--out', default=os.path.join(HERE, 'quality_real.json'))
    p.add_argument('--rerun', default=None, metavar='TAG',
                   help='train the chosen methods again, replacing their runs of another tag')
    p.add_argument('--keep', default=None, help="keep each GAN's model folder under this folder")
    p.add_argument('--reevaluate', action='store_true', help='measure the GANs kept under --keep again')
    a = p.parse_args()
    if a.reevaluate and (a.keep is None or a.rerun):
        p.error('--reevaluate needs --keep (and no --rerun)')

    report = dict(benchmark='restoration quality on real paired images', setting=a.setting, datasets={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
        if report['setting'] != a.setting:
            raise SystemExit('%s holds the %s setting; use another --out' % (a.out, report['setting']))
    for name, d in load_sets(a.datasets, a.data).items():
        run_set(report, name, d, a)
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
                r = entry['metrics'][m]
                print('  %-16s' % m + ''.join('%10.4f' % r[k] for k in KEYS) + '  (%d seeds)' % r['n_seeds'])


if __name__ == '__main__':
    main()
