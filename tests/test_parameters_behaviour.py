"""Parameters and inputs that must do what their help says (num_cores, in_memory, final-only
reruns, unsupported inputs)."""

import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import astrodrizzle
from gpudrizzle.exposure import load_exposure
from hstdata import write_dither_set, write_flt, write_generic


# ---------------------------------------------------------------------------
# inputs the pipeline cannot handle are refused, with what to use instead


def test_jwst_telescope_refused(tmp_path):
    path = write_generic(tmp_path, "jw_cal", header={"TELESCOP": "JWST", "EXPTIME": 100.0})
    with pytest.raises(ValueError, match=r"JWST data \(TELESCOP='JWST'\).*gwcs.*ResampleStep"):
        load_exposure(path)


def test_asdf_extension_refused(tmp_path):
    path = write_generic(tmp_path, "withasdf", header={"EXPTIME": 100.0})
    with fits.open(path, mode="append") as hdul:
        hdul.append(fits.BinTableHDU.from_columns(
            [fits.Column(name="ASDF_METADATA", format="10B", array=np.zeros((1, 10), np.uint8))],
            name="ASDF"))
    with pytest.raises(ValueError, match=r"an ASDF extension.*calc_pixmap"):
        load_exposure(path)


@pytest.mark.parametrize("bunit", ["MJy/sr", "MJY/SR", "Jy", "uJy"])
def test_surface_brightness_units_refused(tmp_path, bunit):
    path = write_generic(tmp_path, "sb", header={"EXPTIME": 100.0, "BUNIT": bunit})
    with pytest.raises(ValueError, match=rf"BUNIT='{bunit}' is not supported.*gpudrizzle.Drizzle"):
        load_exposure(path)


@pytest.mark.parametrize("bunit", ["ELECTRONS", "ELECTRONS/S", "COUNTS/S"])
def test_counts_and_rates_accepted(tmp_path, bunit):
    path = write_generic(tmp_path, "ok", header={"EXPTIME": 100.0, "BUNIT": bunit})
    assert load_exposure(path).chips[0].units == bunit


def test_unsigned_dq_with_bzero_read_as_stored(tmp_path):
    """int16 + BZERO=32768 (unsigned DQ) is read as uint16 with its values: nothing to refuse."""
    flt = write_flt(tmp_path, "j9uint1aq")
    with fits.open(flt.path, mode="update") as hdul:
        shape = hdul["DQ", 1].data.shape
        dq = np.zeros(shape, np.uint16)
        dq[0, :5] = [32768, 40000, 65535, 4096, 1]
        hdul["DQ", 1].data = dq
    with fits.open(flt.path) as hdul:
        assert hdul["DQ", 1].header["BITPIX"] == 16 and hdul["DQ", 1].header["BZERO"] == 32768
    chip = load_exposure(flt.path, final_bits=0).chips[0]
    assert chip.dq.dtype == np.uint16
    np.testing.assert_array_equal(chip.dq[0, :5], [32768, 40000, 65535, 4096, 1])


# ---------------------------------------------------------------------------
# in_memory=True writes no intermediates


def _dither_set(directory):
    return [t.path for t in write_dither_set(directory, n=3, cosmic_rays=3, seed=5)]


@pytest.mark.parametrize("in_memory", [True, False])
def test_in_memory_writes_no_intermediates(tmp_path, in_memory):
    inputs = _dither_set(tmp_path)
    res = astrodrizzle.AstroDrizzle(inputs, output=str(tmp_path / "final"), backend="numpy",
                                    in_memory=in_memory, clean=False,
                                    runfile=str(tmp_path / "run.log"))
    written = set(os.listdir(tmp_path)) - {os.path.basename(p) for p in inputs}
    expected = {os.path.basename(p) for p in res.products} | {"run.log"}
    if in_memory:
        assert written == expected and res.intermediates == []
    else:
        assert written == expected | {os.path.basename(p) for p in res.intermediates}
        assert any(p.endswith("_crmask.fits") for p in res.intermediates)
