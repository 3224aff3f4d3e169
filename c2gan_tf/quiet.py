"""TensorFlow imported without its start-up lines.

TensorFlow's C++ libraries print notices while they load (oneDNN, CUDA stubs, CPU features) and, on every machine
without a GPU, "failed call to cuInit", which no setting hides (``TF_CPP_MIN_LOG_LEVEL`` does not reach them). The
modules of this package that import TensorFlow, Keras or CSBDeep's models import this module first: it imports
TensorFlow once (:mod:`c2gan_tf.tensorflow_quiet`), with the process's standard error sent to a temporary file. If the import fails, what TensorFlow
printed is written to standard error before the exception goes on, so real errors are never hidden. Only one
problem is reported afterwards: an NVIDIA driver without a GPU that TensorFlow can use (a warning).
"""

import os
import sys
import tempfile
import warnings


def import_tensorflow_quietly():
    """Import TensorFlow (once) and find its GPUs with standard error silenced; returns the module."""
    if 'tensorflow' in sys.modules:
        return sys.modules['tensorflow']
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            gpus = tf.config.list_physical_devices('GPU')
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors='replace'))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    if not gpus and os.path.exists('/proc/driver/nvidia'):
        warnings.warn('this machine has an NVIDIA driver, but TensorFlow finds no GPU it can use (check its CUDA '
                      'libraries); running on the CPU', stacklevel=2)
    return tf

