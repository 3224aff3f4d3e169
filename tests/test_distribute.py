"""tf.distribute: one step with a global batch of 2 on two replicas equals one step with batch 2 on one device."""
import json
import os
import subprocess
import sys

import numpy as np

TESTS = os.path.dirname(os.path.abspath(__file__))

JOB = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, %r)
from c2gan_tf import C2GAN
from conftest import random_patches, tiny_config

def run(strategy):
    c = tiny_config(train_batch_size=2, train_augment=False, train_seed=3)
    model = C2GAN(c, None, basedir=None)
    stats = {'A': {'low': 0.0, 'high': 1.0}, 'B': {'low': 0.0, 'high': 1.0}}
    X_A, X_B = random_patches(c, 2, seed=1), random_patches(c, 2, seed=2) ** 2
    history = model.train(X_A, X_B, epochs=1, steps_per_epoch=1, intensity_stats=stats, strategy=strategy)
    t = model.trainer
    return dict(weights={name: [w.tolist() for w in getattr(t, name).get_weights()] for name in ('G', 'F', 'D_A', 'D_B')},
                moments={name: [np.asarray(v.numpy()).tolist() for v in getattr(t, name).variables
                                if 'momentum' in v.name or 'velocity' in v.name]
                         for name in ('gen_optimizer', 'disc_optimizer')},
                loss=history.history['loss'][0], disc=history.history['disc'][0],
                steps=int(t.gen_optimizer.iterations.numpy()))

mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
print('RESULT ' + json.dumps(dict(replicas=mirrored.num_replicas_in_sync, one=run(None), two=run(mirrored))))
""" % TESTS


def test_two_replicas_match_one_device():
    r = subprocess.run([sys.executable, '-c', JOB], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(line for line in r.stdout.splitlines() if line.startswith('RESULT '))[7:])
    assert res['replicas'] == 2
    one, two = res['one'], res['two']
    assert one['steps'] == two['steps'] == 1
    assert two['loss'] == np.float32(one['loss']) or abs(two['loss'] - one['loss']) < 1e-4 * abs(one['loss'])
    assert abs(two['disc'] - one['disc']) < 1e-4 * abs(one['disc'])
    for name in ('G', 'F', 'D_A', 'D_B'):
        for a, b in zip(one['weights'][name], two['weights'][name]):
            np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-4, atol=1e-6, err_msg=name)
    # Adam's first step does not depend on the gradients' scale, its moments do: gradients averaged, not summed
    for name in ('gen_optimizer', 'disc_optimizer'):
        assert len(one['moments'][name]) > 0
        for a, b in zip(one['moments'][name], two['moments'][name]):
            a, b = np.array(a), np.array(b)
            np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * np.abs(a).max(), err_msg=name)
