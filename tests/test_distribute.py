"""tf.distribute: one step with a global batch of 2 on two replicas equals one step with batch 2 on one device."""
import json
import os
import subprocess
import sys

import numpy as np

TESTS = os.path.dirname(os.path.abspath(__file__))

def test_two_replicas_match_one_device():
    r = subprocess.run([sys.executable, os.path.join(TESTS, 'jobs.py'), 'replicas'], capture_output=True, text=True,
                       timeout=600, cwd=TESTS)
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
