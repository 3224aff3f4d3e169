"""Out-of-core prediction with Dask: (OME-)Zarr or TIFF in, OME-Zarr out, block by block with the network's halo.

The image is read lazily as a Dask array, normalised with percentiles of the whole volume (taken from a sample of its
chunks, never per block), and restored block by block, each block with a halo (:func:`dask.array.overlap.overlap`)
that covers the network's receptive field, so that blocks agree with whole-image prediction. Restored blocks are
written (in normalised units, as the network gives them) into a Zarr array as they finish, each then marked done, so
that a killed run restarted with the same command skips them. A restoration takes part of its low band from the
input's, as in-memory prediction does (:mod:`c2gan_tf.lowband`): each block computes both low bands with its halo
and stores them beside its result, with their sums; when every block is done, the affine fit comes from the sums of
all blocks, the result is mapped into the target domain's units (with the whole volume's calibration,
:func:`output_units`) and written as OME-Zarr (multiscale pyramid, axes and pixel sizes) with ``ome-zarr``'s
writer.

By default the work runs on Dask's threaded scheduler in this process (nothing to set up); ``scheduler='tcp://...'``
runs it on an existing ``dask.distributed`` cluster, where every worker loads the model (once) from its folder, with
the weights the model holds.
"""

import json
import os
import shutil
import threading

import numpy as np
from csbdeep.data import NoResizer
from csbdeep.utils import axes_check_and_normalize
from dask.callbacks import Callback

from .io.dtypes import output_dtype
from .io.zarr import open_image, write_ome_zarr
from .calibration import calibrated_range, image_calibration
from .lowband import affine_of, low_band, moments_array, reach, sigmas, with_input_low_band
from .prepare import FixedNormalizer, margin_padding, per_channel, stack_axes, to_domain_units


def sample_chunks(x, n_chunks=32, seed=0):
    """Up to ``n_chunks`` of a Dask array's chunks, drawn at random (read into memory)."""
    import dask
    rng = np.random.default_rng(seed)
    blocks = list(np.ndindex(*x.numblocks))
    chosen = [blocks[i] for i in sorted(rng.choice(len(blocks), min(n_chunks, len(blocks)), replace=False))]
    return dask.compute(*[x.blocks[b] for b in chosen])


def in_planes(x, axes, network_axes, chunks=None):
    """``x`` in ``chunks`` (default its own), with one plane to a chunk along the axes restored plane by plane
    (:func:`c2gan_tf.prepare.stack_axes`): what :func:`sample_chunks` draws from, so that a sample holds as many
    planes whatever the blocks."""
    loop = stack_axes(axes, x.ndim, network_axes)
    return x.rechunk(tuple(1 if a in loop else c for a, c in zip(axes, chunks or x.chunks)))


def volume_percentiles(x, axes, pmin, pmax, n_chunks=32, seed=0):
    """Per-channel percentiles of a whole volume, from up to ``n_chunks`` of its chunks drawn at random.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The ``pmin`` and ``pmax`` percentiles, one value per channel (one value without a channel axis).
    """
    c = axes.index('C') if 'C' in axes else None
    values = [np.moveaxis(np.asarray(s, np.float32), c, 0).reshape(s.shape[c], -1) if c is not None
              else np.asarray(s, np.float32).reshape(1, -1) for s in sample_chunks(x, n_chunks, seed)]
    values = np.concatenate(values, axis=1)
    return np.percentile(values, pmin, axis=1), np.percentile(values, pmax, axis=1)


#: Models by folder (or in-memory key), loaded once per process (a worker's threads share one; its predictions
#: run side by side, :meth:`C2GAN.predict` changes nothing of the model); the lock only guards loading.
_models, _loading = {}, threading.Lock()


def _model_key(model):
    """How the processes of a run find ``model``: its folder and the weight file it holds (so that workers load
    those weights, not the folder's default), or a key of this process for a model without a folder."""
    if model.basedir is None:
        return 'memory-%d' % id(model)
    return '%s:%s' % (getattr(model, 'weights_name', None) or '', os.path.abspath(str(model.logdir)))


def _model(key):
    """The model of a key of :func:`_model_key`, loaded once per process (workers of a cluster each load it once)."""
    with _loading:
        if key not in _models:
            from .model import C2GAN
            weights, folder = key.split(':', 1)
            _models[key] = C2GAN.from_folder(folder, weights=weights or None)
        return _models[key]


def clear_models():
    """Forget the models this process loaded for block prediction (the next blocks load them again)."""
    with _loading:
        _models.clear()


def _core(block, depth, block_info):
    """``block`` (with its halo, ``depth`` per axis) trimmed to the block it was extended from: no halo at the
    image's ends (Dask's ``boundary='none'``)."""
    where, n = block_info[0]['chunk-location'], block_info[0]['num-chunks']
    return block[tuple(slice(depth[i] if where[i] > 0 else 0, block.shape[i] - (depth[i] if where[i] < n[i] - 1 else 0))
                       for i in range(len(depth)))]


def _restore_block(block, model_key, axes, normalizer, direction, depth, low_bands=None, block_info=None):
    """One block (with its halo) restored, trimmed to the block, with a new last axis: the restoration, and with
    ``low_bands`` (a dict of ``sigmas`` per axis, the padded image's block ``grid`` and the ``image``'s extent in it,
    ``(start, stop)`` per axis) the input's and the restoration's low bands (:func:`c2gan_tf.lowband.low_band`, 0 in
    the padding), computed on the block's part of the image: with its halo (at least the Gaussian's reach beyond the
    network's), so that they equal the whole image's; at the image's edges with SciPy's boundary, as the whole."""
    y = _model(model_key).predict(block, axes, normalizer=normalizer, resizer=NoResizer(), direction=direction,
                                  lowpass_weight=0)  # the input's low band: of the whole image, see predict_blocks
    if low_bands is None:
        return _core(y[..., None].astype(np.float32), depth, block_info)
    where = block_info[0]['chunk-location']
    start = [sum(c[:k]) - (depth[i] if k > 0 else 0) for i, (c, k) in enumerate(zip(low_bands['grid'], where))]
    inside = tuple(slice(max(lo - s, 0), max(min(hi - s, n), 0))
                   for (lo, hi), s, n in zip(low_bands['image'], start, block.shape))
    v = np.zeros(y.shape + (3,), np.float32)
    v[..., 0] = y
    v[inside + (1,)] = low_band(block[inside], low_bands['sigmas'])
    v[inside + (2,)] = low_band(y[inside], low_bands['sigmas'])
    return _core(v, depth, block_info)


def _qc_block(block, model_key, axes, normalizer, depth, block_info=None):
    """The QC map and the cycle residual of one block, computed with its halo and trimmed to the block: an array of
    the block's shape (channel axis of 1) with a new last axis (map, residual)."""
    _, qc = _model(model_key).predict(block, axes, normalizer=normalizer, resizer=NoResizer(), return_qc=True,
                                      lowpass_weight=0)
    v = np.stack([qc.map, qc.residual], axis=-1)
    if 'C' in axes:
        v = np.expand_dims(v, axes.index('C'))
    return _core(v, depth, block_info)


def _store_block(block, array, region, marker, moments_at=None):
    """Write a block into its region of the Zarr array at ``array``, then mark it done; with ``moments_at`` (the
    moments array's path, the block's index there, the channel axis or None), first the
    :func:`c2gan_tf.lowband.moments_array` of its low bands (the last axis holds restoration, input's and
    restoration's low bands) into that array."""
    import zarr
    zarr.open_array(array, mode='r+')[region] = block
    if moments_at is not None:
        path, index, channel = moments_at
        low_x, low_y = (block[..., i].astype(np.float64) for i in (1, 2))
        zarr.open_array(path, mode='r+')[index] = moments_array(low_x, low_y, channel)
    open(marker, 'w').close()
    return region


#: Voxels in a block of planes: what a default block of a 3D network holds (32 x 256 x 256; 8 planes of 512 x 512).
BLOCK_VOXELS = 32 * 256 * 256


def block_sizes(model, axes, shape, block_size=None):
    """Block (chunk) sizes per axis: ``block_size`` per spatial axis of the network (multiples of its
    divisibility), all channels, and along the axes restored plane by plane as many planes as make a block of about
    :data:`BLOCK_VOXELS` (the innermost of those axes first).

    By default 512 x 512 for a 2D network (8 planes of a stack in a block), 32 x 256 x 256 for a 3D one: each block
    costs a fixed overhead (Dask's tasks, Zarr reads and writes) and its halo, so larger blocks run faster, at the
    cost of a worker's memory.
    """
    net = model.config.axes.replace('C', '')
    default = {'Z': 32, 'Y': 256, 'X': 256} if 'Z' in net else {'Y': 512, 'X': 512}
    sizes = []
    for a, n, div_by in zip(axes, shape, model._axes_div_by(axes)):
        if a == 'C':
            sizes.append(n)
        elif a in net:
            size = block_size or default[a]
            sizes.append(min(n, max(div_by, size - size % div_by)))
        else:
            sizes.append(1)
    planes = max(1, BLOCK_VOXELS // int(np.prod([s for a, s in zip(axes, sizes) if a in net])))
    loop = stack_axes(axes, len(shape), model.config.axes)
    for i in reversed(range(len(axes))):
        if axes[i] in loop:
            sizes[i] = min(shape[i], planes)
            planes = max(1, planes // shape[i])
    return tuple(sizes)


def padding(model, axes, shape):
    """Padding (before, after) per axis of whole-image prediction (:class:`c2gan_tf.prepare.MarginResizer`): the
    model's prediction margin, then to multiples of the network's divisibility."""
    return margin_padding(shape, axes, model._axes_div_by(axes), model.prediction_margin())


def halo(model, axes):
    """Overlap per axis: the network's tile overlap (its receptive field), rounded up to its divisibility: the
    model's prediction margin (:meth:`c2gan_tf.C2GAN.prediction_margin`), 0 along the axes it does not name."""
    margin = model.prediction_margin()
    return {i: margin.get(a, 0) for i, a in enumerate(axes)}


def qc_halo(model, axes):
    """Overlap per axis for the QC map: the receptive fields of G and of F (the cycle runs F on G's output) and the
    smoothing of masks and residual (3 sigma), rounded up to the network's divisibility."""
    spatial = model.config.axes.replace('C', '')
    smooth = int(np.ceil(3 * max(s['sigma'] for s in model.trainer.saliency.values())))
    return {i: int(np.ceil((2 * o + (smooth if a in spatial else 0)) / d) * d)
            for i, (a, o, d) in enumerate(zip(axes, model._axes_tile_overlap(axes), model._axes_div_by(axes)))}


def predict_blocks(model, source, out, axes=None, direction='AtoB', block_size=None, scheduler=None,
                   n_levels=None, progress=True, dtype='float32', rescale=True, qc=None, lowpass_weight=None):
    """Restore an image larger than memory block by block into OME-Zarr; resumable.

    Parameters
    ----------
    model : :class:`c2gan_tf.C2GAN`
        With a model folder when ``scheduler`` names a cluster (its workers load the model from there).
    source : str or dask.array.Array
        OME-Zarr, Zarr or TIFF path (see :func:`c2gan_tf.io.zarr.open_image`), or a Dask array with ``axes``.
    out : str
        The OME-Zarr folder written (the input's axes in OME order, its pixel sizes, ``dtype``).
    axes : str or None
        Axes of the input; by default from its metadata.
    direction : str
        ``'AtoB'`` (restore) or ``'BtoA'``.
    block_size : int or None
        Block side along the network's spatial axes (default 512 in YX for a 2D model; 256 in YX and 32 in Z for a
        3D one).
    scheduler : str or None
        Address of a ``dask.distributed`` scheduler; ``None`` uses Dask's threaded scheduler in this process.
    n_levels : int or None
        Levels of the multiscale pyramid (YX halved at each); by default down to about 256 pixels.
    progress : bool
        A progress bar with ETA over the blocks.
    dtype : str or numpy.dtype
        Data type of the output: ``'float32'`` (default), ``'uint16'``, ``'uint8'``, ... or ``'same'`` (the
        input's), converted as :func:`c2gan_tf.io.convert_dtype` converts a TIFF output: integers rounded, and
        mapped linearly into the type's range when more than a small fraction would be clipped (``rescale``;
        ``False`` clips). How it was converted is in the group's attributes (``c2gan_conversion``: ``dtype``,
        ``scale`` and ``offset`` with value = pixel * scale + offset, pixels clipped), which
        :func:`c2gan_tf.io.zarr.conversion_of` reads.
    rescale : bool
        Map an integer output into its type's range when it does not fit (default), rather than clip it.
    qc : str or None
        Also write where the restoration may have changed content (``direction='AtoB'``): the QC map of
        :meth:`c2gan_tf.C2GAN.predict` (``return_qc``) as an OME-Zarr at this path (float32, the input's axes but
        channels, its pixel sizes), block by block with a halo that covers both generators and the smoothing, so
        that it equals the whole-image map; its summary goes into the group's attributes (``c2gan_qc_summary``).
        Each block then runs G twice and F once.
    lowpass_weight : float or None
        How much of a restoration's low band is taken from the input's, as :meth:`c2gan_tf.C2GAN.predict` takes it
        (``None``: ``config.output_lowpass_weight``): both low bands computed block by block (with a halo that
        covers the Gaussian's reach), the affine fit from the whole image's sums.

    Returns
    -------
    str or (str, dict)
        ``out`` (and, with ``qc``, the QC summary: ``changed_fraction`` and ``cycle_residual`` over the whole image,
        ``distance_to_b`` and ``spectrum_distance`` from up to 32 of the output's blocks). A run killed part way
        and started again with the same arguments continues where it stopped.
    """
    import dask.array as da

    if isinstance(source, (str, os.PathLike)):
        x, axes, spacing = open_image(str(source), axes)
    else:
        x, axes, spacing = source, axes_check_and_normalize(axes, source.ndim), {}
    dtype = output_dtype(dtype, like=x.dtype)
    if qc is not None and direction != 'AtoB':
        raise ValueError("qc is for restorations (direction='AtoB')")
    weight = model.lowpass_weight(direction, lowpass_weight)
    sizes, c = block_sizes(model, axes, x.shape, block_size), model.config
    # the whole volume's percentiles from 32 blocks of one plane each, drawn from the input as it is stored (drawn
    # from the blocks, each plane would read its whole block)
    mi, ma = volume_percentiles(in_planes(x, axes, c.axes, sizes), axes, c.norm_pmin, c.norm_pmax)
    x = x.rechunk(sizes)
    model_key = _model_key(model)
    with _loading:
        _models[model_key] = model  # this process uses the object given, never an older one of the same folder
    sigma = model.config.output_lowpass_sigma if weight > 0 else None
    restored, qc_blocks = _restored(model, model_key, x, axes, direction, FixedNormalizer(mi, ma), qc is not None,
                                    sigma)
    job = dict(source=str(source) if isinstance(source, (str, os.PathLike)) else 'array', model=model_key,
               direction=direction, axes=axes, shape=list(x.shape), chunks=[int(s) for s in x.chunksize],
               qc=qc is not None, low_band_sigma=sigma, units='normalised')
    planes = in_planes(restored[..., 0], axes, c.axes).chunksize + (restored.shape[-1],)
    partial, done = _prepare(out, job, restored, planes, qc_blocks)
    channel = axes.index('C') if 'C' in axes else None
    stores = [_delayed_store(restored, b, os.path.join(partial, 'restored'), _marker(done, b),
                             None if sigma is None else (os.path.join(partial, 'moments'), b, channel))
              for b in np.ndindex(*restored.numblocks) if not os.path.exists(_marker(done, b))]
    if qc_blocks is not None:
        stores += [_delayed_store(qc_blocks, b, os.path.join(partial, 'qc'), _marker(done, b, 'qc-'))
                   for b in np.ndindex(*qc_blocks.numblocks) if not os.path.exists(_marker(done, b, 'qc-'))]
    if stores:
        _compute(stores, int(np.prod(restored.numblocks)) * (1 if qc is None else 2), scheduler, progress)
    if sigma is not None:  # the input's low band, fitted to the restoration's over the whole image
        m = np.asarray(da.from_zarr(partial, component='moments'), np.float64)
        fit = affine_of(*m.reshape((-1,) + m.shape[-2:]).sum(axis=0))

    def result(chunks, lowpass=True):
        """The restoration from the partial result, read in ``chunks``: G's output, with the input's low band
        (``lowpass``, if the run takes it)."""
        stored = da.from_zarr(partial, component='restored', chunks=chunks)
        if sigma is None or not lowpass:
            return stored[..., 0]
        return with_input_low_band(stored[..., 0], stored[..., 1], stored[..., 2], *fit, weight, channel)

    # the samples (QC, output calibration) read single planes; the output is written in the blocks
    summary = None if qc is None else _write_qc(model, out, axes, spacing, qc, n_levels, partial,
                                                result(planes, lowpass=False))
    low, high = output_units(model, result(planes), axes, direction, mi, ma)
    write_ome_zarr(to_domain_units(result(restored.chunks), low, high), axes, spacing, out, n_levels, dtype, rescale)
    for folder in (partial, done):
        shutil.rmtree(folder)
    return out if qc is None else (out, summary)


def _write_qc(model, out, axes, spacing, path, n_levels, partial, restored):
    """The QC map as OME-Zarr at ``path`` (summary in its attributes), from the QC blocks of a run (in its
    ``partial`` group) and G's output ``restored``; its summary."""
    import dask.array as da
    import zarr

    from .qc import CHANGED, distance_to_quantiles, power_spectrum, segments, spectrum_distance
    v = da.from_zarr(partial, component='qc')
    if 'C' in axes:
        v = v[tuple(0 if a == 'C' else slice(None) for a in axes)]
    qmap, residual = v[..., 0], v[..., 1]
    changed, mean_residual = da.compute((qmap > CHANGED).mean(), residual.mean())
    b = model.domain_stats.get('B', {})
    distance, spectral = None, None
    if b.get('quantiles') is not None or b.get('spectrum') is not None:
        # G's output (normalised units), channels averaged, in up to 32 of its blocks
        mean = restored.mean(axis=axes.index('C')) if 'C' in axes else restored
        ys = [np.asarray(y, np.float32) for y in sample_chunks(in_planes(mean, axes.replace('C', ''),
                                                                         model.config.axes))]
        if b.get('quantiles') is not None:
            distance = distance_to_quantiles(np.concatenate([y.ravel() for y in ys]), b['quantiles'])
        if b.get('spectrum') is not None:
            spatial = [i for i, a in enumerate(axes.replace('C', '')) if a in model.config.axes]
            shape = list(model.config.train_patch_size)  # in segments of the patch shape, as the whole image
            whole = [y for y in ys if all(y.shape[i] >= p for p, i in zip(shape, spatial))]
            if not whole:  # blocks smaller than a patch: segments of the smallest block
                shape, whole = [min(y.shape[i] for y in ys) for i in spatial], ys
            segs = np.concatenate([segments(y, shape, spatial) for y in whole])
            spectral = spectrum_distance(power_spectrum(segs, len(b['spectrum'])), b['spectrum'])
    summary = dict(changed_fraction=float(changed), cycle_residual=float(mean_residual), distance_to_b=distance,
                   spectrum_distance=spectral)
    chunks = [c for a, c in zip(axes, restored.chunks) if a != 'C']  # the restoration's blocks
    write_ome_zarr(qmap.rechunk(chunks), axes.replace('C', ''), spacing, path, n_levels, 'float32', False)
    zarr.open_group(str(path), mode='r+').attrs['c2gan_qc_summary'] = summary
    return summary


def output_units(model, restored, axes, direction, mi, ma):
    """``(low, high)``: the intensities that a whole restoration's normalised 0 and 1 become.

    Those of :meth:`c2gan_tf.C2GAN.output_range`, with the whole volume's calibration folded in when the model
    :meth:`~c2gan_tf.C2GAN.calibrates_per_image` (its percentiles from up to 32 of ``restored``'s blocks, of one
    plane each along the axes restored plane by plane, as the input's are); without intensity statistics, the
    input's own range ``mi``..``ma`` (per channel, shaped to broadcast).
    """
    target = model.output_range(direction)
    if target is None:
        return per_channel(mi, axes), per_channel(ma, axes)
    if model.calibrates_per_image(direction):
        sample = sample_chunks(in_planes(restored, axes, model.config.axes))
        values = np.concatenate([np.ravel(y) for y in sample])
        target = calibrated_range(*target, *image_calibration(values, model.config.norm_pmin, model.config.norm_pmax))
    return target


def _restored(model, model_key, x, axes, direction, normalizer, with_qc=False, low_band_sigma=None):
    """The restored image in normalised units (``normalizer``: the whole volume's) as a Dask array with ``x``'s
    chunks and a new last axis, each block predicted with the network's halo (:func:`_restore_block`): the
    restoration, and with ``low_band_sigma`` (pixels along the network's spatial axes) the input's and the
    restoration's low bands (the halo then covers the Gaussian's reach too); and, ``with_qc``, the QC blocks
    (:func:`_qc_block`, with :func:`qc_halo`; else None)."""
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.array.overlap import ensure_minimum_chunksize
    # pad the whole image as whole-image prediction does (its margin, then to the network's pooling grid), so that
    # every block lies on that grid; the blocks then need no padding of their own, and the results are cropped back
    pad = padding(model, axes, x.shape)
    padded = da.pad(x, pad, mode='reflect')
    crop = tuple(slice(a, n - b) for (a, b), n in zip(pad, padded.shape))
    halo_g, low_bands = halo(model, axes), None
    if low_band_sigma is not None:
        s = sigmas(axes, model.config.axes.replace('C', ''), low_band_sigma)
        halo_g = {i: d + (-(-reach(v) // q) * q if v > 0 else 0)
                  for (i, d), v, q in zip(halo_g.items(), s, model._axes_div_by(axes))}
    # blocks that start on the pooling grid (sizes rounded up to multiples of the network's divisibility, which a
    # single block of an axis need not be), none thinner than the halo; a last block thinner than a quarter of the
    # others (mostly the padding: an image of one block is then one task) joins the one before
    chunks = normalize_chunks(tuple(-(-max(c, halo_g[i]) // q) * q for i, (c, q)
                                    in enumerate(zip(x.chunksize, model._axes_div_by(axes)))), padded.shape)
    blocks = padded.rechunk(tuple(_last_merged(c, max(halo_g[i], c[0] // 4)) for i, c in enumerate(chunks)))
    depth = {i: d if blocks.numblocks[i] > 1 else 0 for i, d in halo_g.items()}  # one block: no halo
    if low_band_sigma is not None:
        low_bands = dict(sigmas=s, grid=blocks.chunks, image=[(a, n - b) for (a, b), n in zip(pad, padded.shape)])
    k = 1 if low_bands is None else 3
    restored = da.overlap.overlap(blocks, depth=depth, boundary='none').map_blocks(
        _restore_block, model_key=model_key, axes=axes, normalizer=normalizer, direction=direction, depth=depth,
        low_bands=low_bands, new_axis=[x.ndim], chunks=blocks.chunks + ((k,),), dtype=np.float32,
        meta=np.empty((0,) * (x.ndim + 1), np.float32))
    restored = restored[crop + (slice(None),)].rechunk(x.chunks + ((k,),))
    if not with_qc:
        return restored, None
    # the QC of the same padded image, as in-memory prediction computes it; blocks at least as large as the QC's
    # halo (G, F and smoothing: larger than the restoration's), one task each
    halo_qc = qc_halo(model, axes)
    blocks = padded.rechunk(tuple(ensure_minimum_chunksize(halo_qc[i], c) for i, c in enumerate(chunks)))
    depth = {i: d if blocks.numblocks[i] > 1 else 0 for i, d in halo_qc.items()}
    qc_chunks = tuple((1,) if a == 'C' else c for a, c in zip(axes, blocks.chunks)) + ((2,),)
    qc = da.overlap.overlap(blocks, depth=depth, boundary='none').map_blocks(
        _qc_block, model_key=model_key, axes=axes, normalizer=normalizer, depth=depth, new_axis=[x.ndim],
        chunks=qc_chunks, dtype=np.float32, meta=np.empty((0,) * (x.ndim + 1), np.float32))
    # back onto the restoration's blocks: the partial QC array is chunked as they are, so that no two tasks write
    # into one Zarr chunk (two concurrent writes of one chunk keep only one of them)
    return restored, qc[crop + (slice(None),)].rechunk(
        tuple((1,) if a == 'C' else c for a, c in zip(axes, x.chunks)) + ((2,),))


def _last_merged(chunks, size):
    """Chunks of an axis with a last one thinner than ``size`` merged into the one before it: the others
    keep their sizes, so that every block still starts on the network's pooling grid."""
    if len(chunks) > 1 and chunks[-1] < size:
        return tuple(chunks[:-2]) + (chunks[-2] + chunks[-1],)
    return tuple(chunks)


def _compute(stores, n, scheduler, progress):
    """Run the delayed ``stores`` (each restores a block and stores it), with a progress bar over all ``n`` blocks:
    on Dask's threaded scheduler in this process, or on the ``dask.distributed`` cluster at ``scheduler``."""
    import dask
    from tqdm.auto import tqdm
    with tqdm(total=n, initial=n - len(stores), desc='blocks', disable=not progress) as bar:
        if scheduler is None:
            with _StoredBlocks({s.key for s in stores}, bar.update):
                dask.compute(*stores, scheduler='threads')
        else:
            from distributed import Client, as_completed
            with Client(scheduler) as client:
                _warn_of_profiler_deadlock(client)
                for _ in as_completed(client.compute(stores)):
                    bar.update()


def profiler_can_deadlock():
    """Whether Dask's worker profiler runs here on a Python whose ``sys._current_frames`` can deadlock.

    The profiler calls ``sys._current_frames()`` every 10 ms; before Python 3.11.9 that call can run the garbage
    collector while it holds the interpreter's thread-list lock, and deadlock with a thread being started or ended
    (CPython issue gh-106883, fixed by PR #117332). A worker then hangs for good, every thread idle.
    """
    import sys

    import dask
    return sys.version_info < (3, 11, 9) and bool(dask.config.get('distributed.worker.profile.enabled', True))


def _warn_of_profiler_deadlock(client):
    import warnings
    risky = sum(client.run(profiler_can_deadlock).values())
    if risky:
        warnings.warn('%d of the cluster\'s workers run Dask\'s profiler on Python < 3.11.9, where it can deadlock a '
                      'worker (CPython gh-106883); start them with distributed.worker.profile.enabled: False '
                      '(DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False) or on Python >= 3.11.9' % risky)


class _StoredBlocks(Callback):
    """Calls ``update`` each time a block has been stored (a local-scheduler callback, as Dask's ProgressBar)."""

    def __init__(self, keys, update):
        super().__init__()
        self._keys, self._update = keys, update

    def _posttask(self, key, result, dsk, state, worker_id):
        if key in self._keys:
            self._update()


def _marker(done, block, prefix=''):
    return os.path.join(done, prefix + '_'.join(map(str, block)))


def _delayed_store(blocks, block, array, marker, moments_at=None):
    """A delayed task that computes block ``block`` of ``blocks`` and stores it into the Zarr array at ``array``
    (:func:`_store_block`, with ``moments_at``), and marks it done."""
    import dask
    region = tuple(slice(sum(chunks[:i]), sum(chunks[:i + 1])) for chunks, i in zip(blocks.chunks, block))
    return dask.delayed(_store_block)(blocks.blocks[block], array, region, marker, moments_at)


def _prepare(out, job, restored, planes, qc_blocks=None):
    """The partial result of a job and its folder of done markers, made or found again: a Zarr group of the
    ``restored`` blocks (``restored``, in Zarr chunks of ``planes``: one plane along the axes restored plane by plane,
    so that a sample of planes reads only those), with low bands (a last axis of 3) also their moments (``moments``,
    one :func:`c2gan_tf.lowband.moments_array` per block), and with QC the QC blocks (``qc``).

    A folder left by another job (other input, model or blocks) is refused rather than mixed in.
    """
    import zarr
    partial, done = str(out) + '.partial.zarr', str(out) + '.blocks-done'
    job_file = os.path.join(done, 'job.json')
    if os.path.exists(job_file):
        with open(job_file) as f:
            if json.load(f) != json.loads(json.dumps(job)):
                raise ValueError('%s holds an interrupted run of another job; remove it (and %s) or choose another '
                                 'output' % (done, partial))
        return partial, done
    os.makedirs(done, exist_ok=True)
    group = zarr.open_group(partial, mode='w')
    # uncompressed: these arrays are read again and removed, and noisy float32 hardly compresses
    arrays = dict(restored=(restored, planes))
    if qc_blocks is not None:
        arrays['qc'] = (qc_blocks, qc_blocks.chunksize)
    for name, (v, chunks) in arrays.items():
        group.create_array(name, shape=v.shape, chunks=chunks, dtype='float32', compressors=None)
    if restored.shape[-1] == 3:
        channels = restored.shape[job['axes'].index('C')] if 'C' in job['axes'] else 1
        group.create_array('moments', shape=restored.numblocks + (5, channels),
                           chunks=(1,) * restored.ndim + (5, channels), dtype='float64', compressors=None)
    with open(job_file + '.tmp', 'w') as f:
        json.dump(job, f)
    os.replace(job_file + '.tmp', job_file)
    return partial, done
