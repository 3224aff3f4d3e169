"""TIFF images: reading and writing with their axes, pixel size and data type (ImageJ hyperstack or OME metadata);
finding image files."""

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .dtypes import convert_dtype

#: Length units, in micrometres, as ImageJ and OME write them.
LENGTH_UNITS = {'pm': 1e-6, 'Å': 1e-4, 'nm': 1e-3, 'µm': 1.0, 'um': 1.0, 'micron': 1.0, 'microns': 1.0,
                '\\u00B5m': 1.0, 'mm': 1e3, 'cm': 1e4, 'm': 1e6}
#: Data types that an ImageJ hyperstack TIFF holds; others are written as OME-TIFF.
IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)


@dataclass
class ImageInfo:
    """What a TIFF file says about its image beyond the pixels.

    Attributes
    ----------
    axes : str or None
        Axes (e.g. ``'ZYX'``, ``'TCYX'``) from ImageJ hyperstack, OME or tifffile metadata; ``None`` when the file
        does not say (a plain TIFF).
    spacing : dict
        Pixel or voxel size per spatial axis (``'X'``, ``'Y'``, ``'Z'``) in ``unit``; empty when not calibrated.
    unit : str or None
        Length unit of ``spacing`` (``'µm'``, ``'nm'``, ...).
    flavour : str or None
        ``'imagej'``, ``'ome'`` or ``None`` (the metadata the file carries; outputs are written the same way).
    dtype : numpy.dtype or None
        Data type of the pixels.
    """

    axes: str = None
    spacing: dict = field(default_factory=dict)
    unit: str = None
    flavour: str = None
    dtype: np.dtype = None


def find_files(folder, pattern):
    """The files in a folder that match a glob pattern, sorted; FileNotFoundError naming both when there is none."""
    from pathlib import Path
    found = sorted(f for f in Path(folder).glob(pattern) if f.is_file())
    if not found:
        raise FileNotFoundError('no files matching %r in %s' % (pattern, folder))
    return found


def domain_files(basepath, folders, pattern, domain):
    """The image files of one domain: those matching ``pattern`` in each of ``folders`` (relative to ``basepath``).

    Raises
    ------
    FileNotFoundError
        A folder is missing or holds no matching file (the message names the folder and the domain).
    """
    from pathlib import Path
    files = []
    for folder in folders:
        path = Path(basepath) / folder
        if not path.is_dir():
            raise FileNotFoundError('folder of domain %s not found: %s' % (domain, path))
        try:
            files += find_files(path, pattern)
        except FileNotFoundError as e:
            raise FileNotFoundError('%s (domain %s)' % (e, domain)) from None
    return files


@contextlib.contextmanager
def tiff_errors(path):
    """Turn any error of tifffile on a file that is not a readable TIFF into a ValueError naming the file."""
    try:
        yield
    except Exception as e:  # tifffile raises many kinds of errors for files that are not TIFF
        raise ValueError('cannot read %s as a TIFF image: %s' % (path, e)) from None


def read_tiff_shape(path):
    """Shape of the first image series of a TIFF file, without reading its pixels."""
    import tifffile
    with tiff_errors(path), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError('no image data')
        return tif.series[0].shape


def read_image(path):
    """A TIFF image and what its metadata says: axes, pixel size, data type.

    Returns
    -------
    (numpy.ndarray, ImageInfo)

    Raises
    ------
    ValueError
        The file is not a readable TIFF image.
    """
    import tifffile
    with tiff_errors(path), tifffile.TiffFile(path) as tif:
        info = _tiff_info(tif)  # first: it says "no image data" for a TIFF without any
        return tif.series[0].asarray(), info


def read_image_info(path):
    """What a TIFF file's metadata says (:class:`ImageInfo`), without reading its pixels."""
    import tifffile
    with tiff_errors(path), tifffile.TiffFile(path) as tif:
        return _tiff_info(tif)


def _tiff_info(tif):
    import tifffile
    if not tif.series:
        raise ValueError('no image data')
    if tif.is_ome:
        info = _ome_info(tifffile.xml2dict(tif.ome_metadata))
    elif tif.is_imagej:
        info = _imagej_info(tif.imagej_metadata, tif.pages[0])
    else:
        info = ImageInfo()
    series_axes = tif.series[0].axes
    # an RGB TIFF says its samples axis (S) even without metadata: S is a channel axis here
    if tif.is_ome or tif.is_imagej or any('axes' in m for m in tif.shaped_metadata or ()) or 'S' in series_axes:
        info.axes = _known_axes(series_axes)
    info.dtype = tif.series[0].dtype
    return info


def _known_axes(axes):
    """tifffile's axes in CSBDeep's letters, or None when they hold a letter of unknown meaning (I, Q, ...)."""
    if 'S' in axes:
        if 'C' in axes:
            return None
        axes = axes.replace('S', 'C')
    return axes if set(axes) <= set('TZCYX') and len(set(axes)) == len(axes) else None


def _in_unit(value, unit, target):
    return value * LENGTH_UNITS[unit] / LENGTH_UNITS[target]


def _imagej_info(meta, page):
    info = ImageInfo(flavour='imagej')
    unit = (meta or {}).get('unit')
    if unit not in LENGTH_UNITS:
        return info  # uncalibrated (pixels) or a unit that is not a length
    info.unit = 'µm' if LENGTH_UNITS[unit] == 1 else unit
    for axis in 'XY':
        tag = page.tags.get(axis + 'Resolution')
        if tag is not None and tag.value[0] > 0:
            info.spacing[axis] = tag.value[1] / tag.value[0]  # pixels per unit, as a fraction
    if meta.get('spacing'):
        info.spacing['Z'] = float(meta['spacing'])
    return info


def _ome_info(ome):
    info = ImageInfo(flavour='ome')
    image = ome.get('OME', {}).get('Image', {})
    pixels = (image[0] if isinstance(image, list) else image).get('Pixels', {})
    sizes = {a: (float(pixels['PhysicalSize' + a]), pixels.get('PhysicalSize%sUnit' % a, 'µm'))
             for a in 'XYZ' if 'PhysicalSize' + a in pixels}
    units = [u for _, u in sizes.values() if u in LENGTH_UNITS]
    if units:
        info.unit = units[0]
        info.spacing = {a: _in_unit(v, u, info.unit) for a, (v, u) in sizes.items() if u in LENGTH_UNITS}
    return info


def axes_of(info, axes, path, ndim):
    """The axes to use for an image: ``axes`` when given, else those of its metadata; ValueError if neither says."""
    if axes:
        return axes
    if info.axes is None:
        guess = {2: 'YX', 3: 'ZYX or CYX', 4: 'CZYX or TZYX'}.get(ndim, 'for example TZYX')
        raise ValueError('%s has no axes in its metadata (a plain %dD TIFF); pass them with --axes (%s)'
                         % (path, ndim, guess))
    return info.axes


def write_image(path, img, axes, info=None, dtype='float32', rescale=False):
    """Write an image as TIFF with its axes and pixel size, in the metadata flavour of its source.

    OME-TIFF (``PhysicalSizeX/Y/Z`` with unit) when the source was OME or the data type does not fit ImageJ,
    otherwise an ImageJ hyperstack (resolution, ``spacing`` and ``unit``), which Fiji and napari both read.

    Parameters
    ----------
    path : str or pathlib.Path
    img : numpy.ndarray
    axes : str
        Axes of ``img``.
    info : ImageInfo or None
        The source's metadata (pixel size, flavour, data type for ``dtype='same'``).
    dtype : str or numpy.dtype
        Data type of the file (see :func:`convert_dtype`).
    rescale : bool
        Map values that do not fit an integer type into its range (see :func:`convert_dtype`); the mapping is
        stored in the metadata (``c2gan_scale`` and ``c2gan_offset`` in an ImageJ file, the image description of an
        OME-TIFF).

    Returns
    -------
    Clipping
    """
    import tifffile
    from csbdeep.io import save_tiff_imagej_compatible
    from csbdeep.utils import axes_check_and_normalize
    info = info or ImageInfo()
    axes = axes_check_and_normalize(axes, img.ndim, disallowed='S')
    img, clipping = convert_dtype(img, dtype, like=info.dtype, rescale=rescale)
    spacing = {a: s for a, s in info.spacing.items() if a in axes}
    mapping = dict(c2gan_scale=clipping.scale, c2gan_offset=clipping.offset) if clipping.rescaled else {}
    if info.flavour == 'ome' or img.dtype not in IMAGEJ_DTYPES:
        metadata = dict(axes=axes)
        for a, s in spacing.items():
            metadata['PhysicalSize' + a], metadata['PhysicalSize%sUnit' % a] = s, info.unit
        if mapping:
            metadata['Description'] = ('intensity = pixel * c2gan_scale + c2gan_offset; c2gan_scale=%r '
                                       'c2gan_offset=%r' % (clipping.scale, clipping.offset))
        tifffile.imwrite(path, img, ome=True, metadata=metadata)
        return clipping
    kwargs = dict(metadata=dict(mapping))
    if spacing:
        unit = 'micron' if LENGTH_UNITS.get(info.unit) == 1 else info.unit
        kwargs['metadata'].update(unit=unit, **({'spacing': spacing['Z']} if 'Z' in spacing else {}))
        if 'X' in spacing and 'Y' in spacing:
            kwargs['resolution'] = (1 / spacing['X'], 1 / spacing['Y'])
    save_tiff_imagej_compatible(str(path), img, axes, **kwargs)
    return clipping
