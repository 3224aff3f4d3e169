"""tf.distribute: replicas of one machine, and worker processes of several, train to the weights of one process."""
import h5py
import numpy as np

from conftest import job, result


def test_two_replicas_match_one_device():
    res = result(job('replicas'))
    assert res['replicas'] == 2
    one, two = res['one'], res['two']
    assert one['steps'] == two['steps'] == 1
    assert two['loss'] == np.float32(one['loss']) or abs(two['loss'] - one['loss']) < 1e-4 * abs(one['loss'])
    assert abs(two['disc'] - one['disc']) < 1e-4 * abs(one['disc'])
    # Adam's first step moves each weight by about lr * sign(gradient); where a gradient is within the summation
    # noise of the two runs (under 1e-3 of its variable's largest, the tolerance of the moments) its sign,
    # and so that step, is arbitrary: those weights are left out, all others must agree
    compared = total = with_moments = 0
    for name in ('G', 'F', 'D_A', 'D_B'):
        for a, b in zip(one['weights'][name], two['weights'][name]):
            keep = np.ones(np.shape(a['value']), bool)
            if 'momentum' in a:
                keep = np.abs(a['momentum']) >= 1e-3 * np.abs(a['momentum']).max()
                with_moments += 1
                # Adam's first step does not depend on the gradients' scale, its moments do: gradients averaged,
                # not summed
                for k in ('momentum', 'velocity'):
                    m = np.array(a[k])
                    np.testing.assert_allclose(b[k], m, rtol=1e-3, atol=1e-3 * np.abs(m).max(), err_msg=name + k)
            np.testing.assert_allclose(np.array(b['value'])[keep], np.array(a['value'])[keep], rtol=1e-4, atol=1e-6,
                                       err_msg=name)
            compared, total = compared + keep.sum(), total + keep.size
    assert with_moments > 0 and compared > 0.8 * total  # 85 % of all weights


def free_ports(n):
    import socket
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('localhost', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_jobs(*args):
    """Run ``tests/jobs.py`` once per argument list, all at once; their results (all stopped if one fails)."""
    jobs = [job(*a) for a in args]
    try:
        return [result(j) for j in jobs]
    finally:
        for j in jobs:
            j.kill()
            j.wait()


def test_two_worker_processes_train_to_the_weights_of_one_process(tmp_path):
    """MultiWorkerMirroredStrategy over TF_CONFIG on loopback: two processes with a global batch of 2, stopped after
    the first of three steps and resumed, end with the weights of one process that made the three steps with a
    batch of 2 (each worker takes its half of every batch of the same stream of 8 patches per domain, gradients
    averaged); the chief alone wrote the shared model folder."""
    first = ','.join(map(str, free_ports(2)))
    stopped0, stopped1, alone = run_jobs(*[('multiworker', i, first, 'fresh', tmp_path)
                                           for i in ('0', '1', 'alone')])
    assert stopped0['steps'] == stopped1['steps'] == 1 and alone['steps'] == 3
    again = ','.join(map(str, free_ports(2)))
    worker0, worker1 = run_jobs(*[('multiworker', i, again, 'resume', tmp_path) for i in ('0', '1')])
    assert worker0['replicas'] == 2 and alone['replicas'] == 1
    assert worker0['steps'] == worker1['steps'] == 3
    for name in ('G', 'F', 'D_A', 'D_B'):
        for a, b, c in zip(alone['weights'][name], worker0['weights'][name], worker1['weights'][name]):
            np.testing.assert_array_equal(np.array(b), np.array(c), err_msg=name)  # the workers agree exactly
            np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-4, atol=1e-6, err_msg=name)
    # the chief (worker 0) alone wrote the shared model folder: the weights of one process, one TensorBoard log
    workers, alone_folder = tmp_path / 'workers', tmp_path / 'alone'
    assert sorted(p.name for p in workers.iterdir()) == sorted(p.name for p in alone_folder.iterdir())
    assert len(list((workers / 'logs' / 'train').iterdir())) == 2  # one log per run: the stopped and the resumed
    with h5py.File(workers / 'weights_last.weights.h5') as w, h5py.File(alone_folder / 'weights_last.weights.h5') as a:
        names = []
        w.visit(lambda n: names.append(n) if isinstance(w[n], h5py.Dataset) and 'image_pool' not in n else None)
        assert len(names) > 20  # the four networks (each worker's history pools hold its own images)
        for n in names:
            np.testing.assert_allclose(w[n][()], a[n][()], rtol=1e-4, atol=1e-6, err_msg=n)
