"""Exports of a generator: a zip for Fiji's CSBDeep plugin (TensorFlow 1.15)."""

import json
import os
import tempfile
import zipfile

#: Timestamp of every file in an exported zip, so that the same model gives the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def frozen_graph(keras_model):
    """GraphDef of a one-input, one-output Keras model, variables folded into constants.

    The input has a fixed rank, free batch and spatial sizes, and the model's channels (channels last).

    Returns
    -------
    graph_def, input_name, output_name
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = (None,) + tuple(keras_model.input.shape[1:])
    fn = tf.function(lambda x: keras_model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec(shape, tf.float32)))
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name


def write_tf1_saved_model(keras_model, folder):
    """Write a model as a TF1-style SavedModel that TensorFlow 1.15 (Fiji) loads.

    The frozen graph is imported into a ``tf.compat.v1`` graph and written by the v1 SavedModel builder with
    ``strip_default_attrs=True`` (attributes newer than 1.15 and at their defaults are left out), tag ``serve``,
    signature ``serving_default`` with one input ``input`` and one output ``output``.
    """
    import warnings

    import tensorflow as tf
    graph_def, input_name, output_name = frozen_graph(keras_model)
    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # the v1 builder is the point here
        tf.graph_util.import_graph_def(graph_def, name='')
        with v1.Session(graph=graph) as sess:
            signature = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={'input': graph.get_tensor_by_name(input_name)},
                outputs={'output': graph.get_tensor_by_name(output_name)})
            builder = v1.saved_model.Builder(str(folder))
            builder.add_meta_graph_and_variables(sess, [v1.saved_model.tag_constants.SERVING],
                                                 signature_def_map={'serving_default': signature},
                                                 strip_default_attrs=True)
            builder.save()


def zip_folder(folder, fname):
    """Zip a folder's contents at the zip's root, deterministically (sorted names, fixed timestamps), atomically."""
    tmp = '%s.tmp-%d' % (fname, os.getpid())
    try:
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
            for root, dirs, files in os.walk(folder):
                dirs.sort()
                if root != folder:  # folders too, so that an empty variables/ is kept
                    info = zipfile.ZipInfo(os.path.relpath(root, folder) + '/', ZIP_DATE)
                    info.external_attr = (0o40755 << 16) | 0x10
                    z.writestr(info, b'')
                for name in sorted(files):
                    path = os.path.join(root, name)
                    info = zipfile.ZipInfo(os.path.relpath(path, folder), ZIP_DATE)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with open(path, 'rb') as f:
                        z.writestr(info, f.read())
        os.replace(tmp, fname)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_fiji(keras_model, fname, meta):
    """Export a model as a zip for the CSBDeep Fiji plugin: ``saved_model.pb``, ``variables/`` and ``meta.json``.

    Parameters
    ----------
    keras_model : keras.Model
        One input and one output, channels last.
    fname : path
        The zip file.
    meta : dict
        Written as ``meta.json`` (the plugin reads axes, divisibility and tile overlap from it).
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, 'model')
        write_tf1_saved_model(keras_model, folder)
        with open(os.path.join(folder, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=2, sort_keys=True)
        zip_folder(folder, fname)
    return fname
