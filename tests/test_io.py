import warnings

import numpy as np
import pytest
import tifffile
from csbdeep.io import save_tiff_imagej_compatible

from c2gan_tf import DomainNormalizer, cli
from c2gan_tf.io import ImageInfo, axes_of, convert_dtype, read_image, write_image


def test_imagej_hyperstack_axes_and_voxel_size(tmp_path):
    img = np.arange(3 * 2 * 8 * 10, dtype=np.uint16).reshape(3, 2, 8, 10)
    save_tiff_imagej_compatible(str(tmp_path / 'a.tif'), img, 'ZCYX', resolution=(1 / 0.25, 1 / 0.2),
                                metadata={'spacing': 1.5, 'unit': 'micron'})
    out, info = read_image(tmp_path / 'a.tif')
    np.testing.assert_array_equal(out, img)
    assert info.axes == 'ZCYX' and info.flavour == 'imagej' and info.unit == 'µm' and info.dtype == np.uint16
    assert info.spacing == pytest.approx({'X': 0.25, 'Y': 0.2, 'Z': 1.5})


def test_ome_axes_and_physical_size_in_one_unit(tmp_path):
    tifffile.imwrite(tmp_path / 'a.ome.tif', np.zeros((4, 8, 8), np.float32), ome=True,
                     metadata={'axes': 'ZYX', 'PhysicalSizeX': 0.1, 'PhysicalSizeXUnit': 'µm', 'PhysicalSizeY': 0.1,
                               'PhysicalSizeYUnit': 'µm', 'PhysicalSizeZ': 400, 'PhysicalSizeZUnit': 'nm'})
    _, info = read_image(tmp_path / 'a.ome.tif')
    assert info.axes == 'ZYX' and info.flavour == 'ome' and info.unit == 'µm'
    assert info.spacing == pytest.approx({'X': 0.1, 'Y': 0.1, 'Z': 0.4})


@pytest.mark.parametrize('kwargs', [{}, {'metadata': None}])
def test_plain_tiff_has_no_axes_and_the_error_names_the_option(tmp_path, kwargs):
    tifffile.imwrite(tmp_path / 'a.tif', np.zeros((5, 8, 8), np.uint16), **kwargs)
    _, info = read_image(tmp_path / 'a.tif')
    assert info.axes is None and info.spacing == {}
    with pytest.raises(ValueError, match=r'a\.tif has no axes in its metadata \(a plain 3D TIFF\); pass them with '
                                         r'--axes \(ZYX or CYX\)'):
        axes_of(info, None, tmp_path / 'a.tif', 3)
    assert axes_of(info, 'TYX', tmp_path / 'a.tif', 3) == 'TYX'


def test_tifffile_shaped_axes_are_used(tmp_path):
    tifffile.imwrite(tmp_path / 'a.tif', np.zeros((5, 8, 8), np.uint16), metadata={'axes': 'TYX'})
    assert read_image(tmp_path / 'a.tif')[1].axes == 'TYX'


@pytest.mark.parametrize('flavour,dtype', [('imagej', 'uint16'), ('ome', 'uint16'), (None, 'float32'),
                                           ('imagej', 'int32')])
def test_write_round_trip_keeps_axes_and_pixel_size(tmp_path, flavour, dtype):
    img = np.random.default_rng(0).integers(0, 1000, (3, 8, 10)).astype(np.float32)
    info = ImageInfo(spacing={'X': 0.13, 'Y': 0.13, 'Z': 0.5}, unit='µm', flavour=flavour)
    path = tmp_path / 'out.tif'
    write_image(path, img, 'ZYX', info, dtype=dtype)
    with tifffile.TiffFile(path) as tif:
        ome = tif.is_ome
        assert tif.series[0].axes == 'ZYX' and tif.series[0].dtype == np.dtype(dtype)
        if ome:
            pixels = tifffile.xml2dict(tif.ome_metadata)['OME']['Image']['Pixels']
            assert pixels['PhysicalSizeX'] == pytest.approx(0.13) and pixels['PhysicalSizeZ'] == pytest.approx(0.5)
            assert pixels['PhysicalSizeXUnit'] == 'µm'
        else:
            assert tif.imagej_metadata['spacing'] == pytest.approx(0.5) and tif.imagej_metadata['unit'] == 'micron'
            num, den = tif.pages[0].tags['XResolution'].value
            assert den / num == pytest.approx(0.13, rel=1e-6)
    assert ome == (flavour == 'ome' or dtype == 'int32')  # ImageJ cannot hold int32
    back, back_info = read_image(path)
    np.testing.assert_array_equal(back, img.astype(dtype))
    assert back_info.axes == 'ZYX' and back_info.unit == 'µm'
    assert back_info.spacing == pytest.approx(info.spacing)


def test_convert_dtype_clips_and_counts_never_wraps():
    x = np.array([-3.0, -0.4, 0.6, 255.4, 255.6, 7e4, 65535.4, 1e6], np.float32)
    out, c = convert_dtype(x, 'uint16')
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [0, 0, 1, 255, 256, 65535, 65535, 65535])
    assert (c.n_below, c.n_above, c.n) == (1, 2, 8) and c.fraction == pytest.approx(3 / 8)
    assert str(c) == 'uint16, 37.5000 % of pixels clipped (12.5000 % below 0, 25.0000 % above 65535)'
    out, c = convert_dtype(x, 'same', like=np.dtype(np.uint8))
    np.testing.assert_array_equal(out, [0, 0, 1, 255, 255, 255, 255, 255])
    assert (c.n_below, c.n_above) == (1, 4)
    out, c = convert_dtype(x, 'float32')
    assert out.dtype == np.float32 and c.fraction == 0 and str(c) == 'float32, not clipped'
    with pytest.raises(ValueError, match="unknown data type 'uint17'"):
        convert_dtype(x, 'uint17')
    with pytest.raises(ValueError, match="dtype 'same' needs the input's data type"):
        convert_dtype(x, 'same')


def bright_16bit_image(rng):
    """A 16-bit image whose brightest pixels lie far above its 99.8th percentile."""
    x = rng.integers(1000, 3000, (48, 64)).astype(np.uint16)
    x[20:22, 30:32] = 60000  # 4 of 3072 pixels: above the 99.8th percentile
    return x


def test_predict_16bit_output_beyond_65535_is_clipped_and_reported(tiny_model, rng):
    model, _, _ = tiny_model
    x = bright_16bit_image(rng)
    normalizer = DomainNormalizer(0, 60000)  # the bright spot maps to many times 60000
    restored = model.predict(x, 'YX', normalizer=normalizer)
    assert restored.dtype == np.float32 and restored.max() > 65535  # would wrap around in a plain cast
    with pytest.warns(UserWarning, match=r'restored image converted to uint16, [0-9.]+ % of pixels clipped') as w:
        out = model.predict(x, 'YX', normalizer=normalizer, dtype='uint16')
    assert len(w) == 1
    expected = np.clip(np.rint(restored), 0, 65535).astype(np.uint16)
    np.testing.assert_array_equal(out, expected)
    fraction = np.mean((np.rint(restored) > 65535) | (np.rint(restored) < 0))
    assert '%.4f %%' % (100 * fraction) in str(w[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no clipping, no warning
        same = model.predict(x.astype(np.float32), 'YX', normalizer=normalizer, dtype='same')
    assert same.dtype == np.float32


def run_cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_predict_takes_axes_and_pixel_size_from_the_file_and_writes_uint16(tiny_model, tmp_path, capsys, rng):
    model, _, basedir = tiny_model
    x = bright_16bit_image(rng)
    restored = np.rint(model.predict(x, 'YX'))
    below, above = 100 * np.mean(restored < 0), 100 * np.mean(restored > 65535)
    save_tiff_imagej_compatible(str(tmp_path / 'in.tif'), x, 'YX', resolution=(1 / 0.1, 1 / 0.1),
                                metadata={'unit': 'micron'})
    code, out, err = run_cli(capsys, 'predict', basedir / 'model', tmp_path / 'in.tif', '--outdir', tmp_path / 'out',
                             '--dtype', 'uint16', '--clip')  # without --clip, values that do not fit are mapped
    assert code == 0, err
    restored, info = read_image(tmp_path / 'out' / 'in.tif')
    assert restored.dtype == np.uint16 and restored.shape == x.shape
    assert info.axes == 'YX' and info.spacing == pytest.approx({'X': 0.1, 'Y': 0.1}) and info.unit == 'µm'
    line, = [line for line in out.splitlines() if 'in.tif ->' in line]
    assert line.endswith('(uint16, %.4f %% of pixels clipped (%.4f %% below 0, %.4f %% above 65535))'
                         % (below + above, below, above))
    code, out, err = run_cli(capsys, 'predict', basedir / 'model', tmp_path / 'in.tif', '--outdir', tmp_path / 'out',
                             '--dtype', 'same', '--overwrite')
    assert code == 0, err
    assert read_image(tmp_path / 'out' / 'in.tif')[0].dtype == np.uint16


def test_cli_predict_plain_tiff_without_axes_is_one_line_error(tiny_model, tmp_path, capsys):
    _, _, basedir = tiny_model
    tifffile.imwrite(tmp_path / 'plain.tif', np.zeros((32, 32), np.uint16), metadata=None)
    code, out, err = run_cli(capsys, 'predict', basedir / 'model', tmp_path / 'plain.tif', '--outdir', tmp_path)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith('c2gan predict: error: ') and 'plain.tif has no axes' in lines[0]
    assert 'pass them with --axes (YX)' in lines[0]
