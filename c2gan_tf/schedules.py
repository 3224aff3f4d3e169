"""Schedules of c2GAN training as plain functions of the step: structural weight and learning rate."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

from keras import ops


def structural_weight(step, rho0, tau=None, decay='exp', floor=0.0):
    """Weight of the structural loss at a training step: ``rho0 * max(exp(-step / tau), floor)``, or ``rho0`` if
    constant.

    ``floor`` is the fraction of ``rho0`` below which the decaying weight never falls (0: it decays towards 0).
    """
    if decay == 'constant':
        return ops.convert_to_tensor(rho0, 'float32')
    step = ops.cast(step, 'float32')
    return rho0 * ops.maximum(ops.exp(-step / tau), floor)


def learning_rate(step, initial, total_steps, decay='linear', decay_start=0.5):
    """Learning rate at a step: constant, then (``decay='linear'``) falling linearly to 0 at ``total_steps``.

    The decay begins after the fraction ``decay_start`` of ``total_steps`` (0.5: the second half of training).
    """
    initial = ops.convert_to_tensor(initial, 'float32')
    if decay == 'constant':
        return initial
    step = ops.cast(step, 'float32')
    start = decay_start * total_steps
    frac = ops.clip((step - start) / max(total_steps - start, 1.0), 0.0, 1.0)
    return initial * (1.0 - frac)
