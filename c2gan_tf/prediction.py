"""Prediction of a :class:`c2gan_tf.C2GAN`: whole images, tiles, stacks plane by plane, the QC map.

:class:`PredictionMixin` holds ``C2GAN.predict`` and its helpers. Each prediction runs on a shallow copy of the
model whose ``keras_model`` is a compiled call of the chosen generator (:class:`_Network`), so that CSBDeep's tiled
prediction can use it and a prediction changes nothing of the model: predictions may run in several threads.
"""

from . import tensorflow_quiet  # noqa: F401 (first: TensorFlow without its start-up lines)

import copy
import warnings

import numpy as np
import tensorflow as tf
from csbdeep.data import NoNormalizer, PadAndCropResizer, PercentileNormalizer
from csbdeep.models import CARE
from csbdeep.utils import move_image_axes

from .io import convert_dtype
from .lowband import input_low_band
from .prepare import DomainNormalizer, MarginResizer, check_axes, check_finite, stack_axes, target_range
from .qc import QC, quality_control

#: Generator used for each prediction direction.
DIRECTIONS = {'AtoB': 'G', 'BtoA': 'F'}


class _Network:
    """A generator as CSBDeep's prediction calls it (``predict`` of a batch, or of one tile), through a compiled call
    of the network (one trace for every input size, no ``keras.Model.predict`` input pipeline per call, safe from
    several threads), calling ``callback()`` first when there is one."""

    def __init__(self, call, callback=None):
        self.call, self.callback = call, callback

    def predict(self, x, **kwargs):
        if self.callback is not None:
            self.callback()
        return self.call(tf.convert_to_tensor(x, tf.float32)).numpy()


class PredictionMixin:
    """``predict`` and its helpers, for :class:`c2gan_tf.C2GAN`.

    They use the model's ``config``, ``trainer`` (the generators ``G`` and ``F``, the saliency settings),
    ``domain_stats`` and a ``_calls`` dict (the compiled call of each generator, made on first use).
    """

    def output_range(self, direction='AtoB'):
        """The intensities ``(low, high)`` that normalised outputs 0 and 1 of a direction become: the target
        domain's typical range, with :attr:`output_calibration` folded in for restorations (``'AtoB'``) when
        ``config.output_calibration='percentiles'``; ``None`` when the model has no intensity statistics
        (:func:`c2gan_tf.prepare.target_range`)."""
        pooled = direction == 'AtoB' and self.config.output_calibration == 'percentiles'
        return target_range(self.domain_stats, direction, self.output_calibration if pooled else None)

    def export_range(self, direction='AtoB'):
        """The fixed range of exports that cannot calibrate each image: :meth:`output_range` with
        :attr:`output_calibration` folded in for restorations whenever it is known (``'per_image'`` too)."""
        return target_range(self.domain_stats, direction, self.output_calibration if direction == 'AtoB' else None)

    def calibrates_per_image(self, direction='AtoB'):
        """Whether each restoration's own percentiles are mapped onto its normalised input's before
        :meth:`output_range` (``config.output_calibration='per_image'``, with domain B's intensity statistics;
        :func:`c2gan_tf.calibration.image_calibration`)."""
        return (direction == 'AtoB' and self.config.output_calibration == 'per_image'
                and self.output_range(direction) is not None)

    def default_normalizer(self, direction='AtoB'):
        """The normalizer :meth:`predict` uses by default.

        The input is normalised with percentiles ``config.norm_pmin``/``norm_pmax``; the output is mapped into
        :meth:`output_range` (:class:`DomainNormalizer`; a restoration through its own percentiles first when
        :meth:`calibrates_per_image`), or, when the model has no intensity statistics, back into the input's own
        range (CSBDeep's default).
        """
        target = self.output_range(direction)
        if target is not None:
            return DomainNormalizer(*target, self.config.norm_pmin, self.config.norm_pmax,
                                    per_image=self.calibrates_per_image(direction))
        warnings.warn('the model has no intensity statistics of domain %s: the output is mapped into the '
                      "input's intensity range instead" % ('B' if direction == 'AtoB' else 'A'))
        return PercentileNormalizer(self.config.norm_pmin, self.config.norm_pmax, do_after=True)

    def prediction_margin(self):
        """The margin :meth:`predict` reflects the image by at its edges, per axis of the network: the network's
        receptive field (CSBDeep's tile overlap), rounded up to the network's divisibility (so that the pooling
        grid stays where it is without a margin, and only pixels near the edges change)."""
        spatial = self.config.axes.replace('C', '')
        return {a: -(-o // d) * d for a, o, d in zip(spatial, self._axes_tile_overlap(spatial),
                                                     self._axes_div_by(spatial))}

    def predict(self, img, axes, normalizer=None, resizer=None, n_tiles=None, direction='AtoB',
                dtype='float32', callback=None, return_qc=False, lowpass_weight=None):
        """Restore an image (A -> B), or degrade one (B -> A).

        Parameters
        ----------
        img : numpy.ndarray
            Raw input image.
        axes : str
            Axes of ``img``, e.g. ``'YX'``, ``'ZYX'``, ``'CYX'``.
        normalizer : :class:`csbdeep.data.Normalizer` or None
            ``None`` uses :meth:`default_normalizer` (output in the target domain's units); any CSBDeep
            normalizer can be given, as to ``CARE.predict``.
        resizer : :class:`csbdeep.data.Resizer` or None
            Pads the image to multiples of ``config.div_by()`` and crops the result. ``None`` (default): a
            :class:`c2gan_tf.prepare.MarginResizer` that first reflects the image by the network's receptive field
            at its edges (:meth:`prediction_margin`), so that they are restored as its interior is;
            ``csbdeep.data.PadAndCropResizer()`` pads to the multiples only (CSBDeep's default).
        n_tiles : tuple of int or None
            Tiles per axis of ``img``; tiled and whole-image predictions agree.
        direction : str
            ``'AtoB'`` (G, restoration, default) or ``'BtoA'`` (F).
        dtype : str or numpy.dtype
            Data type of the result: ``'float32'`` (default), ``'uint16'``, ``'uint8'``, ``'same'`` (that of
            ``img``) or any NumPy type. Integer types get rounded values clipped to the type's range, with a
            warning that gives the fraction of pixels clipped (see :func:`c2gan_tf.io.convert_dtype`).
        callback : callable or None
            Called as ``callback()`` before each tile (of each plane of a stack) goes through the network, for
            progress; an exception it raises stops the prediction (a Cancel button).
        return_qc : bool
            Also return where the restoration may have changed content (``direction='AtoB'`` only): a
            :class:`c2gan_tf.qc.QC` with a per-pixel map (0 kept to 1 changed, the image's axes but channels)
            and a summary (fraction of area changed, cycle residual, distances of the output's intensities and
            power spectrum to domain B's), from the saliency masks of input and output and the cycle residual
            ``F(G(x)) - x``; see :mod:`c2gan_tf.qc`. It runs F as well as G (on G's output before the resizer
            crops it). The map describes G's output before the input's low band goes into it (``lowpass_weight``).
        lowpass_weight : float or None
            How much of a restoration's low band is taken from its input's (:mod:`c2gan_tf.lowband`, Gaussian of
            ``config.output_lowpass_sigma`` pixels, in normalised units before the output is mapped into domain B's);
            ``None`` (default): ``config.output_lowpass_weight``; 0: G's output as it is (what the exports compute).

        Returns
        -------
        numpy.ndarray or (numpy.ndarray, QC)
            Image with the axes of ``img`` (and the QC with ``return_qc``).
        """
        self._generator(direction)  # a valid direction
        img = np.asarray(img)
        axes = check_axes(img.shape, axes, self.config.axes, self.config.n_channel_in)
        check_finite(img, 'input image')
        if normalizer is None:
            normalizer = self.default_normalizer(direction)
        if resizer is None:
            resizer = MarginResizer(self.prediction_margin())
        if return_qc and direction != 'AtoB':
            raise ValueError("return_qc is for restorations (direction='AtoB')")
        weight = self.lowpass_weight(direction, lowpass_weight)
        if return_qc or weight > 0:
            restored, qc = self._predict_normalised(img, axes, normalizer, resizer, n_tiles, direction, callback,
                                                    return_qc, weight)
        else:
            restored = self._predict_network(img, axes, normalizer, resizer, n_tiles, direction, callback)
        restored, clipping = convert_dtype(restored, dtype, like=img.dtype)
        if clipping.fraction > 0:
            warnings.warn('restored image converted to %s' % clipping, stacklevel=2)
        return (restored, qc) if return_qc else restored

    def _predict_network(self, img, axes, normalizer, resizer, n_tiles, direction, callback):
        """One generator's prediction (whole, tiled or plane by plane), with a normaliser's before and after."""
        view = self._view(direction, callback)
        loop = stack_axes(axes, img.ndim, self.config.axes)
        if loop:
            return view._predict_planes(img, axes, loop, normalizer, resizer, n_tiles)
        return CARE.predict(view, img, axes, normalizer=normalizer, resizer=resizer, n_tiles=n_tiles)

    def _view(self, direction, callback=None):
        """This model as CSBDeep's prediction uses it with the generator of ``direction`` as its ``keras_model``: a
        shallow copy, so that a prediction changes nothing of ``self`` (predictions may run in several threads)."""
        net = self._generator(direction)
        cached = self._calls.get(direction)
        if cached is None or cached[0] is not net:  # new networks (a model trained or loaded again)
            # one trace for any input size (a trace per size, or a relaxed one after a few, would make a block's
            # result depend on which sizes came before it, in the last bits)
            spec = tf.TensorSpec([None] * (len(self.config.axes.replace('C', '')) + 1) + [self.config.n_channel_in],
                                 tf.float32)
            cached = self._calls[direction] = (net, tf.function(lambda x: net(x, training=False),
                                                                input_signature=[spec]))
        view = copy.copy(self)
        view.keras_model = _Network(cached[1], callback)
        return view

    def lowpass_weight(self, direction='AtoB', weight=None):
        """How much of a restoration's low band :meth:`predict` takes from its input's: ``weight``, or by default
        ``config.output_lowpass_weight``; always 0 for ``'BtoA'`` (a degradation keeps F's output)."""
        if weight is None:
            weight = self.config.output_lowpass_weight
        if not 0 <= weight <= 1:
            raise ValueError('lowpass_weight must be a fraction from 0 to 1, got %r' % (weight,))
        return float(weight) if direction == 'AtoB' else 0.0

    def _predict_normalised(self, img, axes, normalizer, resizer, n_tiles, direction, callback, with_qc, weight):
        """The prediction with the normaliser's ``before`` and ``after`` around the network in sight: the
        input's low band goes into G's output (``weight``, :func:`c2gan_tf.lowband.input_low_band`) before
        ``after``, and, ``with_qc``, the :class:`c2gan_tf.qc.QC` of G's output (F runs on it too); else None."""
        x = normalizer.before(img.astype(np.float32, copy=False), axes)
        qc = None
        if with_qc:  # G and F on the padded image (F on G's whole output), as the QC blocks compute them
            plain = PadAndCropResizer()  # the padded image's shape is already a multiple of the network's
            padded = resizer.before(x, axes, self._axes_div_by(axes))
            y = self._predict_network(padded, axes, NoNormalizer(), plain, n_tiles, direction, callback)
            cycle = self._predict_network(y, axes, NoNormalizer(), plain, n_tiles, 'BtoA', callback)
            qc = self._qc(padded, y, cycle, axes, resizer)
            y = resizer.after(y, axes)
        else:
            y = self._predict_network(x, axes, NoNormalizer(), resizer, n_tiles, direction, callback)
        if weight > 0:
            y = input_low_band(x, y, axes, self.config.axes.replace('C', ''), self.config.output_lowpass_sigma,
                               weight)
        return (normalizer.after(y, None, axes)[0] if normalizer.do_after else y), qc

    def _qc(self, x, y, cycle, axes, resizer):
        """The :class:`c2gan_tf.qc.QC` of G's output ``y`` of the normalised input ``x`` padded by ``resizer``,
        with the cycle ``cycle = F(y)``: computed on the padded arrays, cropped by ``resizer``."""
        if 'C' in axes:
            x, y, cycle = (v.mean(axis=axes.index('C')) for v in (x, y, cycle))
        map_axes = axes.replace('C', '')
        spatial = [i for i, a in enumerate(map_axes) if a in self.config.axes]
        saliency, b = self.trainer.saliency, self.domain_stats.get('B', {})
        qmap, summary, residual = quality_control(x, y, cycle, saliency['A'], saliency['B'], spatial,
                                                  b.get('quantiles'), True, b.get('spectrum'),
                                                  self.config.train_patch_size,
                                                  crop=lambda v: resizer.after(v, map_axes))
        return QC(qmap, map_axes, summary, residual)

    def _predict_planes(self, img, axes, loop, normalizer, resizer, n_tiles):
        """Restore a stack or movie plane by plane (each an image of the network's axes; ``loop``: the other axes),
        normalised as a whole.

        The normaliser's ``before`` sees the whole stack (one set of percentiles, so intensities do not flicker
        from plane to plane), each plane is predicted on its own, and ``after`` maps the whole result.
        """
        plane_axes = ''.join(a for a in axes if a not in loop)
        x = move_image_axes(img, axes, loop + plane_axes)
        x = normalizer.before(x, loop + plane_axes)
        tiles = None if n_tiles is None else tuple(n for a, n in zip(axes, n_tiles) if a not in loop)
        planes = x.reshape((-1,) + x.shape[len(loop):])
        y = np.stack([CARE.predict(self, p, plane_axes, normalizer=NoNormalizer(), resizer=resizer, n_tiles=tiles)
                      for p in planes])
        y = y.reshape(x.shape[:len(loop)] + y.shape[1:])
        if normalizer.do_after:
            y = normalizer.after(y, None, loop + plane_axes)[0]
        return move_image_axes(y, loop + plane_axes, axes)

    def _generator(self, direction):
        if direction not in DIRECTIONS:
            raise ValueError("direction must be one of %s, got %r" % (sorted(DIRECTIONS), direction))
        return getattr(self.trainer, DIRECTIONS[direction])
