"""Zarr and OME-Zarr images (and TIFF regions) read lazily as Dask arrays, and OME-Zarr written with a pyramid.

Reading holds paths, not open arrays, so that Dask sends the worker processes of a cluster only a path to read;
writing uses ``ome-zarr``'s writer.
"""

import os

import numpy as np
from csbdeep.utils import axes_check_and_normalize

from .dtypes import Clipping, apply_conversion, output_dtype, plan_conversion

#: Axis types and OME-NGFF units of the axes written to OME-Zarr.
NGFF_UNITS = {'µm': 'micrometer', 'um': 'micrometer', 'nm': 'nanometer', 'mm': 'millimeter', 'm': 'meter'}


class ZarrRegions:
    """A Zarr array as an array-like that opens it for each region asked for.

    It holds the path, not an open array, so that Dask sends the worker processes of a cluster only a path to read.
    """

    def __init__(self, path, shape, dtype):
        self.path, self.shape, self.dtype, self.ndim = path, tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, region):
        import zarr
        return np.asarray(zarr.open_array(self.path, mode='r')[region])

    @classmethod
    def dask(cls, path):
        """The array at ``path`` as a Dask array with its own chunks."""
        import dask.array as da
        import zarr
        array = zarr.open_array(path, mode='r')
        return da.from_array(cls(str(path), array.shape, array.dtype), chunks=array.chunks, asarray=True)


class TiffRegions(ZarrRegions):
    """A TIFF image as an array-like that reads only the regions asked for (through ``tifffile``'s Zarr store)."""

    def __getitem__(self, region):
        import tifffile
        import zarr
        with tifffile.imread(self.path, aszarr=True) as store:
            return np.asarray(zarr.open_array(store, mode='r')[region])


def open_image(path, axes=None):
    """A large image as a Dask array (read on demand), with its axes and pixel sizes.

    Parameters
    ----------
    path : str
        OME-Zarr (its full-resolution level), a Zarr array, or a TIFF file (read through ``tifffile``'s Zarr store,
        so compressed files too).
    axes : str or None
        Axes of the image; by default those of its OME or ImageJ metadata (a plain Zarr array or TIFF needs them).

    Returns
    -------
    (dask.array.Array, str, dict)
        The image, its axes, and the pixel size per spatial axis with ``'unit'`` (only ``'unit': None`` when unknown).
    """
    import dask.array as da
    spacing = {}
    if str(path).lower().endswith(('.tif', '.tiff')):
        import tifffile

        from .tiff import axes_of, read_image_info
        info = read_image_info(path)
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
        x = da.from_array(TiffRegions(str(path), shape, info.dtype), chunks='auto', asarray=True)
        axes = axes_of(info, axes, path, x.ndim)
        spacing = dict(info.spacing, unit=info.unit)
    else:
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Reader
        location = parse_url(path)
        nodes = list(Reader(location)()) if location is not None else []
        if nodes and nodes[0].data and 'axes' in nodes[0].metadata:
            from ome_zarr.reader import Multiscales
            meta = nodes[0].metadata
            level0 = next(s for s in nodes[0].specs if isinstance(s, Multiscales)).datasets[0]
            x, found = ZarrRegions.dask(os.path.join(path, level0)), ''.join(a['name'] for a in meta['axes']).upper()
            axes = axes or found
            scale = next(t['scale'] for t in meta['coordinateTransformations'][0] if t['type'] == 'scale')
            units = [a.get('unit') for a in meta['axes'] if a.get('type') == 'space']
            unit = {v: k for k, v in NGFF_UNITS.items() if k != 'um'}.get(units[0] if units else None)
            spacing = dict({a: s for a, s, ax in zip(found, scale, meta['axes']) if ax.get('type') == 'space'},
                           unit=unit)
        else:
            try:
                x = ZarrRegions.dask(path)
            except Exception as e:  # zarr raises several kinds of errors for what is not an array
                raise ValueError('cannot read %s as OME-Zarr or as a Zarr array: %s' % (path, e)) from None
            if axes is None:
                raise ValueError('%s has no axes in its metadata (a plain Zarr array); pass them with --axes' % path)
    return x, axes_check_and_normalize(axes, x.ndim), spacing


def _converted(y, dtype, rescale):
    """The restored image (a Dask array) in ``dtype``, converted as a whole-image TIFF output is (one pass over it
    for the counts and extremes, then block by block), and its :class:`c2gan_tf.io.Clipping` record."""
    import dask
    if not np.issubdtype(dtype, np.integer):
        return y.astype(dtype), Clipping(dtype, n=y.size)
    info = np.iinfo(dtype)
    rounded = y.map_blocks(np.rint)
    # one pass over the restored image for the counts and the extremes (these are used only if it is mapped)
    n_below, n_above, vmin, vmax = dask.compute((rounded < info.min).sum(), (rounded > info.max).sum(), y.min(),
                                                y.max())
    clipping = plan_conversion(dtype, y.size, n_below, n_above, lambda: (vmin, vmax), rescale=rescale)
    return y.map_blocks(apply_conversion, clipping=clipping, dtype=dtype), clipping


def conversion_of(out):
    """How an OME-Zarr output (:func:`write_ome_zarr`, :func:`c2gan_tf.blocks.predict_blocks`) was converted to
    its data type (a :class:`c2gan_tf.io.Clipping`)."""
    import zarr
    c = dict(zarr.open_group(str(out), mode='r').attrs['c2gan_conversion'])
    return Clipping(np.dtype(c.pop('dtype')), **c)


def write_ome_zarr(y, axes, spacing, out, n_levels=None, dtype='float32', rescale=True):
    """Write an image (a Dask array) as OME-Zarr: axes in OME order (TCZYX), a YX pyramid, pixel sizes and units,
    in ``dtype`` (converted as :func:`c2gan_tf.io.convert_dtype` converts a TIFF output, the record in the group's
    attributes as ``c2gan_conversion``, see :func:`conversion_of`).

    Returns
    -------
    Clipping
        How the image was converted to ``dtype``.
    """
    import zarr
    from ome_zarr.writer import write_image
    order = ''.join(a for a in 'TCZYX' if a in axes)
    y = y.transpose([axes.index(a) for a in order])
    if n_levels is None:
        n_levels = max(1, min(5, int(np.log2(max(1, min(y.shape[-2:]) / 256))) + 1))
    unit = NGFF_UNITS.get(spacing.get('unit'))
    scale = {a.lower(): float(spacing[a]) for a in 'ZYX' if a in order and a in spacing}
    y, conversion = _converted(y, output_dtype(dtype), rescale)
    root = zarr.open_group(str(out), mode='w')
    write_image(y, root, axes=order.lower(), scale_factors=tuple(2 ** i for i in range(1, n_levels)),
                scale=scale or None, axes_units={a: unit for a in scale} if unit else None, name='restored')
    root.attrs['c2gan_conversion'] = dict(dtype=conversion.dtype.name, scale=conversion.scale,
                                          offset=conversion.offset, n_below=conversion.n_below,
                                          n_above=conversion.n_above, n=conversion.n)
    return conversion
