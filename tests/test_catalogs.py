"""User catalogs of TweakReg (catfile, refcat): text and FITS tables read as drizzlepac reads them."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from gpudrizzle.catalogs import brightest, column_tokens, read_columns


def test_text_columns_by_number_and_name(tmp_path, rng):
    data = rng.normal(100, 30, (25, 3))
    path = tmp_path / "cat.coo"
    np.savetxt(path, data, header="X Y FLUX", fmt="%.9f")
    x, flux = read_columns(path, ["1", "3"])
    np.testing.assert_allclose(x, data[:, 0], atol=1e-9)
    np.testing.assert_allclose(flux, data[:, 2], atol=1e-9)
    y, = read_columns(path, ["y"])  # names from the header comment, any case
    np.testing.assert_allclose(y, data[:, 1], atol=1e-9)


def test_indef_rows_skipped_and_sexagesimal_radec(tmp_path):
    path = tmp_path / "ref.cat"
    path.write_text("# ra dec mag\n10:00:24.0 +02:12:00.0 20.1\n10:00:25 +02:12:30 INDEF\n"
                    "150.25 -2.5 19\n")
    ra, dec, mag = read_columns(path, ["1", "2", "3"])
    np.testing.assert_allclose(ra, [150.1, 150.25], atol=1e-12)
    np.testing.assert_allclose(dec, [2.2, -2.5], atol=1e-12)
    np.testing.assert_array_equal(mag, [20.1, 19.0])
    path.write_text("10 00 24.0 -02 12 00.0 7\n")  # "1,2,3": three columns make one value
    ra, dec = read_columns(path, ["1,2,3", "4,5,6"])
    np.testing.assert_allclose([ra[0], dec[0]], [150.1, -2.2], atol=1e-12)


def test_fits_table(tmp_path, rng):
    t = Table({"RA": rng.uniform(150, 151, 9), "DEC": rng.uniform(2, 3, 9)})
    path = tmp_path / "ref.fits"
    t.write(path)
    ra, dec = read_columns(path, ["ra", "2"])
    np.testing.assert_array_equal(ra, t["RA"])
    np.testing.assert_array_equal(dec, t["DEC"])
    with pytest.raises(ValueError, match="no column 'MAG'"):
        read_columns(path, ["MAG"])
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(tmp_path / "img.fits")
    with pytest.raises(ValueError, match="no binary table"):
        read_columns(tmp_path / "img.fits", ["1"])


def test_bad_catalogs_name_file_and_line(tmp_path):
    path = tmp_path / "bad.coo"
    path.write_text("# X Y\n1.0 2.0\n3.0 oops\n")
    with pytest.raises(ValueError, match=r"bad.coo, line 3: column 2 is not a number: 'oops'"):
        read_columns(path, ["1", "2"])
    with pytest.raises(ValueError, match="line 2: no column 5"):
        read_columns(path, ["5"])
    with pytest.raises(ValueError, match="no column 'flux'"):
        read_columns(path, ["flux"])
    with pytest.raises(FileNotFoundError, match="missing.coo"):
        read_columns(tmp_path / "missing.coo", ["1"])
    path.write_text("10:00:xx 02:00:00\n")
    with pytest.raises(ValueError, match="not a sexagesimal right ascension"):
        read_columns(path, ["1", "2"])


def test_brightest(rng):
    flux = rng.permutation(10).astype(float)
    np.testing.assert_array_equal(flux[brightest(flux, 3, magnitudes=False)], [9, 8, 7])
    np.testing.assert_array_equal(flux[brightest(flux, 2, magnitudes=True)], [0, 1])
    assert len(brightest(flux, None, magnitudes=False)) == 10


def test_column_specs_as_drizzlepac_writes_them(tmp_path):
    assert column_tokens("1") == ["1"] and column_tokens("c2") == ["2"]
    for spec in ("1,2,3", "c1,c2,c3", "1-3", "c1-c3", "1:3", "1 2 3"):
        assert column_tokens(spec) == ["1", "2", "3"], spec
    assert column_tokens("flux") == ["flux"] and column_tokens("count") == ["count"]
    path = tmp_path / "ref.cat"
    path.write_text("10 00 24.0 -02 12 00.0 7\n")
    ra, dec, mag = read_columns(path, ["c1-c3", "4:6", "c7"])
    np.testing.assert_allclose([ra[0], dec[0], mag[0]], [150.1, -2.2, 7.0], atol=1e-12)
