"""Exports of a generator: Fiji's CSBDeep plugin (TensorFlow 1.15), TF2 SavedModel, bioimage.io model package."""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from csbdeep.data import PadAndCropResizer
from csbdeep.models.base_model import suppress_without_basedir

from .atomic import atomic_path
from .prepare import DomainNormalizer, check_finite, to_network_axes

log = logging.getLogger(__name__)

#: Default file names of the exports in the model folder, per format (``%s``: the direction, e.g. AtoB).
EXPORT_NAMES = {'fiji': 'TF_SavedModel_%s.zip', 'savedmodel': 'savedmodel_%s', 'bioimageio': 'bioimageio_%s.zip'}
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


def write_tf2_saved_model(keras_model, folder):
    """Write a model as a TensorFlow 2 SavedModel that ``tf.saved_model.load`` runs on images of any size.

    Its endpoint ``serve`` (also the signature ``serving_default``) takes a float32 tensor ``input`` (batch and
    spatial sizes free, channels last) and returns ``{'output': tensor}``.
    """
    import keras
    import tensorflow as tf
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    spec = tf.TensorSpec((None,) + tuple(keras_model.input.shape[1:]), tf.float32, name='input')
    archive.add_endpoint(name='serve', fn=lambda x: {'output': keras_model(x, training=False)},
                         input_signature=[spec])
    with atomic_path(folder) as tmp:  # an earlier export is kept until the new one is complete
        archive.write_out(tmp, verbose=False)


def zip_folder(folder, fname):
    """Zip a folder's contents at the zip's root, deterministically (sorted names, fixed timestamps), atomically."""
    with atomic_path(fname) as tmp, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as z:
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


#: Works a bioimage.io package cites: c2GAN (published as UTOM) and CSBDeep, whose normalisation and U-Net it uses.
CITATIONS = [
    ('Li, X. et al. Unsupervised content-preserving transformation for optical microscopy (UTOM, c2GAN). '
     'Light: Science & Applications 10, 44 (2021).', '10.1038/s41377-021-00484-y'),
    ('Weigert, M. et al. Content-aware image restoration: pushing the limits of fluorescence microscopy. '
     'Nature Methods 15, 1090-1097 (2018).', '10.1038/s41592-018-0216-7'),
]


def _cover(path, test_input, test_output):
    """Cover image: input and output side by side (3D as maximum projections), 2:1.

    Drawn on a :class:`matplotlib.figure.Figure` of its own, without pyplot, so no backend is chosen or changed.
    """
    from matplotlib.figure import Figure

    from .plot import display
    fig = Figure(figsize=(8, 4))
    for ax, img in zip(fig.subplots(1, 2), (test_input, test_output)):
        view, vmin, vmax = display(img[0, ..., 0])
        ax.imshow(view, cmap='magma', vmin=vmin, vmax=vmax)
        ax.axis('off')
    fig.subplots_adjust(0, 0, 1, 1, 0.02, 0)
    fig.savefig(path, dpi=64)


def crop_test_input(test_input, axes, network_axes, div_by):
    """A raw test image in the network's axes (channels last), cropped to multiples of ``div_by`` (one per spatial
    axis) along each axis.

    ValueError when it holds NaN, does not match ``axes``, or is smaller than ``2 * div_by`` along an axis.
    """
    from csbdeep.utils import axes_check_and_normalize

    check_finite(test_input, 'test input')
    axes = axes_check_and_normalize(axes, np.ndim(test_input))
    x = to_network_axes(np.asarray(test_input, np.float32), axes, network_axes)
    x = x[tuple(slice(0, s - s % d) for s, d in zip(x.shape[:-1], div_by))]
    if any(s < 2 * d for s, d in zip(x.shape[:-1], div_by)):
        raise ValueError('the test input must be at least %s pixels along its spatial axes %s'
                         % (' x '.join(str(2 * d) for d in div_by), network_axes[:-1]))
    return x


def export_bioimageio(keras_model, path, test_input, test_output, spatial_axes, div_by, percentiles,
                      output_range=None, name='c2GAN', description='', authors=('c2gan_tf user',),
                      license='BSD-3-Clause', documentation=None, tags=()):
    """Write a bioimage.io model package (spec 0.5) of a generator.

    Parameters
    ----------
    keras_model : keras.Model
        The generator (channels last).
    path : path
        The package (a ``.zip``).
    test_input, test_output : numpy.ndarray
        A raw input image and what the model makes of it (pre- and post-processing included), with a batch axis
        first and channels last.
    spatial_axes : str
        ``'YX'`` or ``'ZYX'``.
    div_by : tuple of int
        What the size along each spatial axis must be a multiple of.
    percentiles : tuple(float, float)
        Pre-processing: each image is scaled so that these percentiles become 0 and 1 (per channel).
    output_range : tuple(float, float) or None
        Post-processing: normalised output ``v`` becomes ``low + v * (high - low)``; ``None`` (or ``(0, 1)``, the
        identity) keeps it normalised.
    name, description, authors, license, documentation, tags
        Metadata; ``documentation`` is Markdown text (a default is written when ``None``).
    """
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as bio

    with tempfile.TemporaryDirectory() as tmp:
        def file(name):
            return os.path.join(tmp, name)

        keras_model.save(file('generator.keras'))
        write_tf2_saved_model(keras_model, file('savedmodel'))
        zip_folder(file('savedmodel'), file('tf_saved_model.zip'))
        np.save(file('test_input.npy'), np.asarray(test_input, np.float32))
        np.save(file('test_output.npy'), np.asarray(test_output, np.float32))
        _cover(file('cover.png'), test_input, test_output)
        with open(file('README.md'), 'w') as f:
            f.write(documentation or _DEFAULT_DOCUMENTATION.format(name=name, description=description))

        inputs, outputs = _tensor_descriptions(bio, keras_model.input.shape[-1], spatial_axes, div_by, percentiles,
                                               output_range, file('test_input.npy'), file('test_output.npy'))
        descr = bio.ModelDescr(
            name=name, description=description or name, authors=[bio.Author(name=a) for a in authors],
            cite=[bio.CiteEntry(text=text, doi=bio.Doi(doi)) for text, doi in CITATIONS],
            license=license, documentation=bio.FileDescr(source=file('README.md')),
            covers=[bio.FileDescr(source=file('cover.png'))],
            tags=['c2gan', 'cyclegan', 'unsupervised', 'denoising', 'fluorescence-light-microscopy',
                  '%dd' % len(spatial_axes)] + list(tags),
            inputs=[inputs], outputs=[outputs], weights=_weights_description(bio, file('generator.keras'),
                                                                             file('tf_saved_model.zip')))
        with atomic_path(path) as tmp:  # never half a package
            save_bioimageio_package(descr, output_path=tmp)
    return path


def _weights_description(bio, keras_file, saved_model_zip):
    """bioimage.io weights: the Keras v3 file, and the TensorFlow SavedModel bundle converted from it."""
    import keras
    import tensorflow as tf
    return bio.WeightsDescr(
        keras_v3=bio.KerasV3WeightsDescr(source=keras_file, keras_version=keras.__version__,
                                         backend=('tensorflow', tf.__version__)),
        tensorflow_saved_model_bundle=bio.TensorflowSavedModelBundleWeightsDescr(
            source=saved_model_zip, tensorflow_version=tf.__version__, parent='keras_v3'))


def _tensor_descriptions(bio, n_channel, spatial_axes, div_by, percentiles, output_range, test_input, test_output):
    """bioimage.io input and output tensors: axes, sizes, test tensors, pre- and post-processing."""
    ids = [bio.AxisId(a.lower()) for a in spatial_axes]
    channel = bio.ChannelAxis(channel_names=[bio.Identifier('channel%d' % i) for i in range(n_channel)])
    inputs = bio.InputTensorDescr(
        id=bio.TensorId('input'), description='raw image',
        axes=[bio.BatchAxis()] + [bio.SpaceInputAxis(id=i, size=bio.ParameterizedSize(min=2 * d, step=d))
                                  for i, d in zip(ids, div_by)] + [channel],
        test_tensor=bio.FileDescr(source=test_input),
        preprocessing=[bio.ScaleRangeDescr(kwargs=bio.ScaleRangeKwargs(
            axes=ids, min_percentile=percentiles[0], max_percentile=percentiles[1]))])
    postprocessing = []
    if output_range is not None and (output_range[1] - output_range[0], output_range[0]) != (1.0, 0.0):
        # the spec refuses an identity scaling (gain 1, offset 0): a range of 0..1 needs no post-processing
        low, high = output_range
        postprocessing.append(bio.ScaleLinearDescr(kwargs=bio.ScaleLinearKwargs(gain=high - low, offset=low)))
    outputs = bio.OutputTensorDescr(
        id=bio.TensorId('output'), description='restored image',
        axes=[bio.BatchAxis()] + [bio.SpaceOutputAxis(id=i, size=bio.SizeReference(
            tensor_id=bio.TensorId('input'), axis_id=i)) for i in ids] + [channel],
        test_tensor=bio.FileDescr(source=test_output), postprocessing=postprocessing)
    return inputs, outputs


class ExportMixin:
    """The export methods of :class:`c2gan_tf.C2GAN` (Fiji, TensorFlow 2, bioimage.io), which it inherits.

    They use the model's ``config``, ``name``, ``logdir``, ``_generator(direction)``, ``default_normalizer`` and
    ``predict``.
    """

    @suppress_without_basedir(warn=True)
    def export_TF(self, fname=None, direction='AtoB'):
        """Export a generator as a zip for Fiji's CSBDeep plugin (runs in TensorFlow 1.15).

        The zip holds a TF1-style SavedModel (tag ``serve``, signature ``serving_default``, one input and one
        output, channels last, free spatial sizes) with ``saved_model.pb`` and ``variables/`` at its root, and
        ``meta.json`` (type, version, direction, axes, divisibility per axis, tile overlap). The
        network takes and returns normalised intensities; the model folder is not changed. The input's low band that
        :meth:`predict` puts into a restoration (``config.output_lowpass_weight``) is not in it: Fiji's tiles cannot
        share the whole image's fit; nor is the margin it reflects the image by (:meth:`prediction_margin`):
        ``predict(..., lowpass_weight=0, resizer=PadAndCropResizer())`` computes what the export does.

        Parameters
        ----------
        fname : str or None
            Zip file; default ``<model folder>/TF_SavedModel_<direction>.zip``.
        direction : str
            ``'AtoB'`` (G, restoration) or ``'BtoA'`` (F).

        Returns
        -------
        pathlib.Path
            The zip file.
        """
        from .version import __version__
        fname = self.logdir / (EXPORT_NAMES['fiji'] % direction) if fname is None else Path(fname)
        axes = self.config.axes
        export_fiji(self._generator(direction), str(fname), dict(
            type=self.__class__.__name__, version=__version__, direction=direction, probabilistic=False, axes=axes,
            axes_div_by=self._axes_div_by(axes), tile_overlap=self._axes_tile_overlap(axes)))
        log.info('Model exported for Fiji (TensorFlow SavedModel): %s', fname.resolve())
        return fname

    def export_savedmodel(self, path, direction='AtoB'):
        """Export a generator as a TensorFlow 2 SavedModel folder that ``tf.saved_model.load`` runs on any size.

        ``tf.saved_model.load(path).serve(x)`` takes float32 ``x`` (batch, spatial axes with sizes that are
        multiples of ``config.div_by()``, channels last) of normalised intensities and returns ``{'output': y}``.
        """
        write_tf2_saved_model(self._generator(direction), path)
        return path

    def export_bioimageio(self, path, test_input, axes, direction='AtoB', name=None, description=None,
                          authors=('c2gan_tf user',), license='BSD-3-Clause', documentation=None):
        """Export a generator as a bioimage.io model package (spec 0.5), for the model zoo and its clients.

        The package holds the weights as ``keras_v3`` and as a TensorFlow SavedModel bundle, percentile
        pre-processing (``config.norm_pmin``/``norm_pmax``), the post-processing that maps the output into the
        target domain's intensity range (when the model has those statistics), a test input and the output this
        model computes for it, a cover image, documentation and the citations of c2GAN and CSBDeep.

        The post-processing is fixed: with ``config.output_calibration='per_image'`` (the default) restorations go
        through the training-time calibration of the weights (:meth:`export_range`) instead, as bioimageio.core
        0.11 cannot yet take an output's own percentiles (it computes every per-sample statistic before the model
        runs, so one of the output fails with ``KeyError: 'output'``). Nor does the package put the input's low band
        into a restoration (``config.output_lowpass_weight``; the spec has no such operation), nor reflect the image
        by a margin at its edges (:meth:`prediction_margin`): its test output is ``predict(..., lowpass_weight=0,
        resizer=PadAndCropResizer())``'s.

        Parameters
        ----------
        path : str
            The package (``.zip``).
        test_input : numpy.ndarray
            A raw image of the source domain; cropped to sizes that are multiples of ``config.div_by()``.
        axes : str
            Axes of ``test_input``.
        direction : str
            ``'AtoB'`` (restoration, default) or ``'BtoA'``.
        name, description, authors, license, documentation
            Metadata of the package (``documentation``: Markdown text).
        """
        generator = self._generator(direction)
        x = crop_test_input(test_input, axes, self.config.axes, self.config.div_by())
        target = self.export_range(direction)
        y = self.predict(x, self.config.axes, direction=direction, lowpass_weight=0, resizer=PadAndCropResizer(),
                         normalizer=None if target is None
                         else DomainNormalizer(*target, self.config.norm_pmin, self.config.norm_pmax))
        export_bioimageio(generator, path, x[np.newaxis], y[np.newaxis], self.config.axes[:-1],
                          self.config.div_by(), (self.config.norm_pmin, self.config.norm_pmax),
                          output_range=target,
                          name=name or '%s %s (c2GAN)' % (self.name, direction),
                          description=description or 'c2GAN generator %s trained with c2gan_tf' % direction,
                          authors=authors, license=license, documentation=documentation)
        return path


_DEFAULT_DOCUMENTATION = """# {name}

{description}

A c2GAN (content-preserving CycleGAN) generator trained with `c2gan_tf` on unpaired images of a degraded domain (A)
and a good domain (B). The input is normalised with percentiles; the output is mapped into the intensity range of
the target domain's training images.

## Validation

c2GAN learns without registered pairs, so its output should be checked against real high-quality images of the
same kind: compare intensity histograms (1-Wasserstein distance), foreground masks of input and output (IoU), and,
where registered ground truth exists, PSNR and SSIM after CSBDeep-style normalisation (`c2gan_tf.metrics`).
"""
