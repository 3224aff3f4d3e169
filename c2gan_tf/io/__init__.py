"""Images on disk, one module per format: :mod:`~c2gan_tf.io.tiff` (TIFF with its axes, pixel size and data type;
finding image files), :mod:`~c2gan_tf.io.zarr` (Zarr and OME-Zarr, read lazily as Dask arrays, written with a
pyramid) and :mod:`~c2gan_tf.io.dtypes` (output data types, shared by both).

The TIFF functions and the data-type conversion are available here as well (``from c2gan_tf.io import
read_image``); the Zarr functions import Dask and Zarr only when used.
"""

from .dtypes import CLIP_TOLERANCE, OUTPUT_DTYPES, Clipping, convert_dtype
from .tiff import (ImageInfo, axes_of, domain_files, find_files, read_image, read_image_info, read_tiff_shape,
                   write_image)

__all__ = ['CLIP_TOLERANCE', 'OUTPUT_DTYPES', 'Clipping', 'convert_dtype', 'ImageInfo', 'axes_of', 'domain_files',
           'find_files', 'read_image', 'read_image_info', 'read_tiff_shape', 'write_image']
