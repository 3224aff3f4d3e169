"""How the 3D defaults were chosen: candidate settings of a 3D c2GAN on synthetic development volumes.

Two development sets, of other seeds than ``quality_synthetic.py``'s test volumes: ``3d`` (isotropic voxels, the
PSF twice as long axially as laterally) and ``3d-anisotropic`` (Z step 3x the pixel size, PSF 3x as long axially,
as in real stacks). Each candidate trains at the demo's budget (``c2gan demo --ndim 3``: 8 x 100 steps, batch 2) and
is measured after every epoch on two development volumes (normalised PSNR against the noise-free ground truth,
and the discriminators' and generators' adversarial losses, which tell whether the discriminators win outright).

Writes ``recipe_3d.json`` (per set, candidate and seed: the per-epoch curve, training seconds). Resumable.

usage: python benchmarks/recipe_3d.py [--sets 3d 3d-anisotropic] [--candidates ...] [--seeds 1]
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

from quality_real import save

HERE = os.path.dirname(os.path.abspath(__file__))
#: Development volumes: shape, Z step and axial PSF ratio of each set.
SETS = {'3d': dict(shape=(32, 128, 128), z_step=1, axial_ratio=2.0),
        '3d-anisotropic': dict(shape=(16, 128, 128), z_step=3, axial_ratio=3.0)}
#: The demo's 3D settings before this choice (2026-12-01; the package's defaults of the time for the rest: cycle
#: weight 10, structural weight decaying to 0), every candidate changes some of them.
BASE = dict(unet_n_depth=2, unet_n_first=16, disc_n_filters=32, disc_n_layers=3, lambda_cycle=10.0, struct_floor=0.0,
            train_patch_size=(16, 32, 32), train_batch_size=2, train_epochs=8, train_steps_per_epoch=100,
            train_tensorboard=False)
CANDIDATES = {
    'old demo settings': {},
    'D with 2 strided layers': dict(disc_n_layers=2),
    'D with 2 strided layers, 16 filters': dict(disc_n_layers=2, disc_n_filters=16),
    'patches 8x64x64, D 2 layers': dict(train_patch_size=(8, 64, 64), disc_n_layers=2),
    'no pooling in Z, patches 8x64x64, D 2 layers': dict(train_patch_size=(8, 64, 64), disc_n_layers=2,
                                                         unet_pool=(1, 2, 2)),
    'D 2 layers, cycle weight 2': dict(disc_n_layers=2, lambda_cycle=2.0),
    'D 2 layers, 16 filters, cycle weight 2': dict(disc_n_layers=2, disc_n_filters=16, lambda_cycle=2.0),
    'D 2 layers, cycle weight 1': dict(disc_n_layers=2, lambda_cycle=1.0),
    'D 2 layers, cycle weight 2, learning rate 5e-4': dict(disc_n_layers=2, lambda_cycle=2.0,
                                                         train_learning_rate=5e-4),
    'D 2 layers, cycle weight 2, learning rate 1e-3': dict(disc_n_layers=2, lambda_cycle=2.0,
                                                         train_learning_rate=1e-3),
    'D 2 layers, cycle weight 2, learning rate 2e-3': dict(disc_n_layers=2, lambda_cycle=2.0,
                                                         train_learning_rate=2e-3),
    'D 2 layers, cycle weight 2, learning rate 5e-4, 16 epochs': dict(disc_n_layers=2, lambda_cycle=2.0,
                                                                    train_learning_rate=5e-4, train_epochs=16),
    # 2026-12-06: the low-pass loss of the 2D default (weight 10, running affine map, 4-pixel Gaussian), off in 3D
    'D 2 layers, cycle weight 2, low-pass loss 10': dict(disc_n_layers=2, lambda_cycle=2.0, lambda_lowpass=10.0),
    # 2026-12-07: the 3D default of the day (D 2 layers, cycle weight 2, structural floor 0.2), and with a faster
    # learning rate
    'the 3D default of 2026-12-07': dict(disc_n_layers=2, lambda_cycle=2.0, struct_floor=0.2),
    'the 3D default of 2026-12-07, learning rate 5e-4': dict(disc_n_layers=2, lambda_cycle=2.0, struct_floor=0.2,
                                                           train_learning_rate=5e-4),
    # a 2D model trained on the volumes' planes and applied plane by plane (the 2D CPU setting)
    '2D model on planes': dict(plane_model=True, unet_kern_size=5, train_patch_size=(64, 64), train_batch_size=4),
}


def dev_data(name, seed):
    from c2gan_tf import synthetic
    s = SETS[name]
    return synthetic.generate(3, s['shape'], n_a=8, n_b=8, n_test=2, seed=1000 + seed, z_step=s['z_step'],
                              axial_ratio=s['axial_ratio'])


def curve_callback(model, pairs):
    import keras

    class Curve(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.curve = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            from c2gan_tf import metrics
            psnr = [metrics.psnr_normalized(gt, model.predict(x, 'ZYX')) for x, gt in pairs]
            self.curve.append(dict(epoch=epoch + 1, minutes=(time.perf_counter() - self.start) / 60,
                                   psnr_normalized=float(np.mean(psnr)),
                                   **{k: float(v) for k, v in (logs or {}).items()}))
    return Curve()


def run(name, cand, seed, basedir):
    from c2gan_tf import C2GAN, Config, metrics
    from c2gan_tf.data import UnpairedData, create_unpaired_patches
    d = dev_data(name, seed)
    settings = dict(BASE, train_seed=seed, **CANDIDATES[cand])
    if settings.pop('plane_model', False):  # a 2D model: patches of the planes of each volume, normalised as a whole
        from quality_synthetic import plane_patches
        X_A, X_B, stats = plane_patches(d, settings['train_patch_size'], seed)
        axes = 'YX'
    else:
        axes = 'ZYX'
        X_A, X_B, _, stats = create_unpaired_patches(UnpairedData.from_arrays(d['A'], d['B'], 'ZYX'),
                                                     settings['train_patch_size'], 32, seed=seed, verbose=False)
    model = C2GAN(Config(axes, **settings), 'm', basedir)
    pairs = list(zip(d['test_A'], d['test_GT']))
    callback = curve_callback(model, pairs)
    t = time.perf_counter()
    model.train(X_A, X_B, intensity_stats=stats, callbacks=[callback])
    return dict(curve=callback.curve, train_seconds=time.perf_counter() - t,
                input_psnr=float(np.mean([metrics.psnr_normalized(gt, x) for x, gt in pairs])))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sets', nargs='+', default=list(SETS), choices=list(SETS))
    p.add_argument('--candidates', nargs='+', default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument('--seeds', type=int, default=1)
    p.add_argument('--out', default=os.path.join(HERE, 'recipe_3d.json'))
    a = p.parse_args()
    report = dict(benchmark='3D recipe choice on synthetic development volumes', base=BASE, candidates=CANDIDATES,
                  runs={})
    if os.path.exists(a.out):
        with open(a.out) as f:
            report = json.load(f)
    for name in a.sets:
        for seed in range(a.seeds):
            for cand in a.candidates:
                runs = report['runs'].setdefault(name, {}).setdefault(cand, {})
                if str(seed) in runs:
                    continue
                print('%s: %s, seed %d' % (name, cand, seed), flush=True)
                with tempfile.TemporaryDirectory() as basedir:
                    runs[str(seed)] = run(name, cand, seed, basedir)
                save(report, a.out)
                r = runs[str(seed)]
                print('  input %.2f dB; per epoch %s; %.0f s' % (
                    r['input_psnr'], ' '.join('%.2f' % c['psnr_normalized'] for c in r['curve']),
                    r['train_seconds']), flush=True)


if __name__ == '__main__':
    main()
