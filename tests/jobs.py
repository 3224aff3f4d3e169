"""Jobs that tests run in a process of their own (to kill it, or to give TensorFlow two logical CPUs).

usage: python tests/jobs.py train fresh|resume BASEDIR
       python tests/jobs.py save FOLDER
       python tests/jobs.py replicas
       python tests/jobs.py multiworker 0|1|alone PORT0,PORT1 fresh|resume BASEDIR
       python tests/jobs.py blocks MODEL_FOLDER SOURCE OUT [slow]
Each job prints one line ``RESULT <json>`` (``save`` prints ``ready`` and runs until it is killed).
"""
import json
import sys
import time

import numpy as np

from conftest import TINY_STATS, random_patches, tiny_config


def train(mode, basedir):
    """Train 6 x 10 steps (slowed down, so that a test can kill it mid-epoch), or resume the run in ``basedir``."""
    import keras

    from c2gan_tf import C2GAN
    c = tiny_config(train_pool_size=6)
    X_A, X_B = random_patches(c, 8, seed=1), random_patches(c, 8, seed=2) ** 2
    val = random_patches(c, 2, seed=3), random_patches(c, 2, seed=4)
    if mode == 'fresh':
        slow = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(0.03))
        model = C2GAN(c, 'm', basedir)
        history = model.train(X_A, X_B, validation_data=val, epochs=6, steps_per_epoch=10, callbacks=[slow])
    else:
        model = C2GAN(None, 'm', basedir)
        history = model.train(X_A, X_B, validation_data=val, resume=True)
    t = model.trainer
    return dict(gen_steps=int(t.gen_optimizer.iterations.numpy()), disc_steps=int(t.disc_optimizer.iterations.numpy()),
                lr=float(t.gen_optimizer.learning_rate.numpy()), struct_weight=float(t.structural_weight().numpy()),
                pool=int(t.pool_A.count.numpy()), history=history.history, epochs=history.epoch,
                weights=[float(np.sum(np.abs(w))) for w in t.G.get_weights()])


def save(folder):
    """Save weights and a JSON state atomically, again and again, until killed."""
    from c2gan_tf.atomic import write_json_atomic
    from c2gan_tf.run import save_weights_atomic
    from c2gan_tf.train import CycleTrainer
    t = CycleTrainer(tiny_config())
    print('ready', flush=True)
    i = 0
    while True:
        i += 1
        save_weights_atomic(t, folder + '/w.weights.h5')
        write_json_atomic(dict(i=i, payload=list(range(20000))), folder + '/state.json')


def replicas():
    """One training step with a global batch of 2, on one device and on two replicas (two logical CPUs)."""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from c2gan_tf import C2GAN

    def step(strategy):
        c = tiny_config(train_batch_size=2, train_augment=False, train_seed=3)
        model = C2GAN(c, None, basedir=None)
        X_A, X_B = random_patches(c, 2, seed=1), random_patches(c, 2, seed=2) ** 2
        history = model.train(X_A, X_B, epochs=1, steps_per_epoch=1, intensity_stats=TINY_STATS, strategy=strategy)
        t = model.trainer
        # each trainable weight's Adam moments after one step (the first 0.1 times its gradient, the second 0.001 times
        # its square); optimizers are built on G's and F's, D_A's and D_B's trainable variables in that order
        moments = {}
        for opt, nets in ((t.gen_optimizer, (t.G, t.F)), (t.disc_optimizer, (t.D_A, t.D_B))):
            variables = [v for net in nets for v in net.trainable_variables]
            of_kind = {k: [m for m in opt.variables if m.name.endswith('_' + k)] for k in ('momentum', 'velocity')}
            for k, found in of_kind.items():
                assert [v.shape for v in variables] == [m.shape for m in found], k
            moments.update({id(v): {k: np.asarray(of_kind[k][i].numpy()).tolist() for k in of_kind}
                            for i, v in enumerate(variables)})
        return dict(weights={n: [dict(value=np.asarray(v.numpy()).tolist(), **moments.get(id(v), {}))
                                 for v in getattr(t, n).weights] for n in ('G', 'F', 'D_A', 'D_B')},
                    loss=history.history['loss'][0], disc=history.history['disc'][0],
                    steps=int(t.gen_optimizer.iterations.numpy()))

    mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    return dict(replicas=mirrored.num_replicas_in_sync, one=step(None), two=step(mirrored))


def multiworker(index, ports, mode, basedir):
    """Train a tiny model for 3 epochs of 1 step (global batch 2): one of two workers of a MultiWorkerMirroredStrategy
    on loopback (``index`` 0 or 1, ``ports`` 'P0,P1') in the model folder ``basedir/workers``, or alone on one
    device (``index`` 'alone') in ``basedir/alone``. ``mode`` 'fresh': the workers stop after the first epoch, as if
    killed; 'resume': they continue that run."""
    import os
    if index != 'alone':
        workers = ['localhost:%s' % p for p in ports.split(',')]
        os.environ['TF_CONFIG'] = json.dumps({'cluster': {'worker': workers},
                                              'task': {'type': 'worker', 'index': int(index)}})
    import keras
    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if index != 'alone' else None
    from c2gan_tf import C2GAN
    c = tiny_config(train_batch_size=2, train_augment=False, train_seed=3, train_pool_size=8, train_tensorboard=True)
    X_A, X_B = random_patches(c, 8, seed=1), random_patches(c, 8, seed=2) ** 2
    name = 'alone' if index == 'alone' else 'workers'
    if mode == 'resume':
        model = C2GAN(None, name, basedir)
        model.train(X_A, X_B, resume=True, strategy=strategy)
    else:
        def stop(epoch, logs):
            if index != 'alone':
                raise KeyboardInterrupt
        model = C2GAN(c, name, basedir)
        try:
            model.train(X_A, X_B, epochs=3, steps_per_epoch=1, intensity_stats=TINY_STATS, strategy=strategy,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=stop)])
        except KeyboardInterrupt:
            pass
    t = model.trainer
    return dict(replicas=1 if strategy is None else strategy.num_replicas_in_sync,
                weights={n: [w.tolist() for w in getattr(t, n).get_weights()] for n in ('G', 'F', 'D_A', 'D_B')},
                steps=int(t.gen_optimizer.iterations.numpy()))


def blocks(model_folder, source, out, slow=None):
    """Restore ``source`` into OME-Zarr block by block (32 x 32 blocks; ``slow``: pausing in each, to be killed)."""
    import os

    from c2gan_tf import C2GAN, blocks as b
    folder = os.path.abspath(model_folder)
    model = C2GAN(None, os.path.basename(folder), os.path.dirname(folder))
    done = out + '.blocks-done'
    before = len(os.listdir(done)) - 1 if os.path.isdir(done) else 0
    if slow:
        store = b._store_block

        def slow_store(*args):
            time.sleep(0.2)
            return store(*args)
        b._store_block = slow_store
    b.predict_blocks(model, source, out, block_size=32, progress=False)
    total = 64
    return dict(computed=total - before)


if __name__ == '__main__':
    job = dict(train=train, save=save, replicas=replicas, blocks=blocks, multiworker=multiworker)[sys.argv[1]]
    print('RESULT ' + json.dumps(job(*sys.argv[2:])), flush=True)
