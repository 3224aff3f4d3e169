"""Importing this module imports TensorFlow with its start-up lines silenced (:func:`c2gan_tf.quiet.import_tensorflow_quietly`).

Modules of the package that import TensorFlow, Keras or CSBDeep's models import it first.
"""

from .quiet import import_tensorflow_quietly

tf = import_tensorflow_quietly()
