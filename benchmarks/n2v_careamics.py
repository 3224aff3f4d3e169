"""Noise2Void / N2V2 with CAREamics, in the environment of ``../shared/tools/n2v-runtime`` (never beside TensorFlow).

``quality_real.py`` runs this script with that environment's python in a process of its own, passing arrays as
files:

    python n2v_careamics.py IN.npz OUT.npz SETTINGS.json

``IN.npz`` holds ``train`` (the noisy training images, axes SYX, already normalised) and ``test_0``, ``test_1``, ...
(the images to restore, YX). ``SETTINGS.json``: ``patch`` (list), ``batch``, ``steps`` (per epoch), ``seconds``
(wall-clock training budget; training stops when it is spent), ``use_n2v2``, ``seed`` (CAREamics takes seed + 1: it refuses 0), ``threads``. ``OUT.npz``
receives ``pred_0``, ``pred_1``, ... and ``info`` (a JSON string: training seconds, epochs, steps done).
"""
import json
import sys
import tempfile
import time


def main(inp, out, settings):
    import numpy as np
    import torch
    from careamics import CAREamist
    from careamics.config import create_advanced_n2v_config

    with open(settings) as f:
        s = json.load(f)
    torch.set_num_threads(int(s.get('threads', 2)))
    data = np.load(inp)
    train = data['train'].astype(np.float32)
    tests = [data['test_%d' % i].astype(np.float32) for i in range(sum(k.startswith('test_') for k in data.files))]
    config = create_advanced_n2v_config(
        experiment_name='n2v2' if s['use_n2v2'] else 'n2v', data_type='array', axes='SYX',
        patch_size=list(s['patch']), batch_size=int(s['batch']), num_epochs=10000, num_steps=int(s['steps']),
        use_n2v2=bool(s['use_n2v2']), num_workers=0, seed=int(s['seed']) + 1,
        trainer_params={'accelerator': 'cpu', 'devices': 1, 'max_time': {'seconds': int(s['seconds'])},
                        'enable_progress_bar': False})
    with tempfile.TemporaryDirectory() as work:
        model = CAREamist(config, work_dir=work)
        t = time.perf_counter()
        model.train(train_data=train)
        seconds = time.perf_counter() - t
        trainer = model.trainer
        info = dict(train_seconds=seconds, epochs=int(trainer.current_epoch), steps=int(trainer.global_step))
        preds = {}
        t = time.perf_counter()
        for i, x in enumerate(tests):
            pred = model.predict(x, axes='YX', data_type='array', tile_size=None)
            pred = pred[0] if isinstance(pred, (list, tuple)) else pred
            preds['pred_%d' % i] = np.squeeze(np.asarray(pred[0] if isinstance(pred, list) else pred, np.float32))
        info['predict_seconds'] = time.perf_counter() - t
    np.savez(out, info=json.dumps(info), **preds)


if __name__ == '__main__':
    main(*sys.argv[1:4])
