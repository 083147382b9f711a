"""buildmask: masks against analytic truth and drizzlepac 3.11's shadow masks; bad input."""

import hashlib
import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import buildmask
from gpudrizzle.buildmask import buildMask, buildMaskImage, buildShadowMaskImage

#: SHA-256 of the data bytes of drizzlepac 3.11's buildShadowMaskImage(dqfile, detnum, 1,
#: name, binned=binned) masks (uint8, 800x800 or 400x400), per (detnum, binned)
SHADOW_SHA256 = {
    (1, 1): "9f3933a55a7e71a7282d72a305ca9a363d6abab95ae0d9d832840e9c7b63f712",
    (1, 2): "f8cd1a19e4878d33b75c20704361491e34712f3ad9ac348b1643f4095617030f",
    (2, 1): "86f09ab4f1587f965f4d261a3e769b588d12bf085f14feca96fa00102b260e9e",
    (2, 2): "456902efd587d057957b8ef2fa6d9c0ac841c8f402a6a62a8a56daf791b6f93a",
    (3, 1): "b6d9511901eedddeb20b2852dbe5536b62a5a67ba410590d6d9385b2b9f61a65",
    (3, 2): "41b6b87754dd726f3ed7cfaaa28158653e1c2c37c12ae9cbbecbf6d6f4a5b20e",
    (4, 1): "8426248710161dee6a9d91149320a2dbe121e87ad80020d2c952af8ff23fa031",
    (4, 2): "52a437ec926bc817527b71b1468439730d4874953f131436b4197e71a8e2483c",
}
#: and the number of good pixels in each (drizzlepac's)
SHADOW_GOOD = {(1, 1): 563976, (1, 2): 140994, (2, 1): 583527, (2, 2): 145500,
               (3, 1): 579826, (3, 2): 144768, (4, 1): 571532, (4, 2): 142883}


def _truth(dq, flags):
    """drizzlepac's rule: good where the 16-bit DQ value has no flag outside ``flags``."""
    v = np.asarray(dq).astype(np.int64) & 0xFFFF
    return ((v & ~flags & 0xFFFF) == 0).astype(np.uint8)


@pytest.mark.parametrize("dtype", ["i2", "u2", "i4", ">i2", "i8", "u1"])
@pytest.mark.parametrize("bits,flags", [(0, 0), (4096, 4096), ("4,8", 12), ("~4", ~4), (-5, ~4),
                                        (None, -1), ("16+64", 80), (1 << 20, 1 << 20),
                                        ([2, 32], 34), ("", -1)])
def test_build_mask_analytic(rng, dtype, bits, flags):
    info = np.iinfo(np.dtype(dtype))
    dq = rng.integers(max(info.min, -70000), min(info.max, 70000), (13, 11),
                      endpoint=True).astype(dtype)
    before = dq.copy()
    mask = buildMask(dq, bits)
    assert mask.dtype == np.uint8 and mask.shape == dq.shape
    np.testing.assert_array_equal(mask, _truth(dq, flags))
    np.testing.assert_array_equal(dq, before)


def test_build_mask_high_bits_dropped_as_drizzlepac():
    """Values are read as 16 bits: flag 65536 of an int32 DQ is not seen, -1 is 0xFFFF."""
    dq = np.array([[65536, 65536 + 4, -1, 0]], dtype=np.int32)
    np.testing.assert_array_equal(buildMask(dq, 4), [[1, 1, 0, 1]])
    np.testing.assert_array_equal(buildMask(dq, 0xFFFF), [[1, 1, 1, 1]])
    np.testing.assert_array_equal(buildMask(np.array([4.0, 8.0]), 4), [1, 0])


@pytest.mark.parametrize("dq,bits,match", [
    (None, 4, "'dqarr'"),
    (np.array([1.5]), 4, "non-integer"),
    (np.array(["a"]), 4, "dtype"),
    (np.zeros(3, np.int16), "4,x", "bitvalue"),
    (np.zeros(3, np.int16), "3,4", "bitvalue"),
])
def test_build_mask_bad_input(dq, bits, match):
    with pytest.raises(ValueError, match=match):
        buildMask(dq, bits)


def _flt(path, rng, chips=(1, 2), dq_chips=(1,)):
    hdus = [fits.PrimaryHDU()]
    dqs = {}
    for v in chips:
        hdus.append(fits.ImageHDU(rng.random((5, 6 + v)).astype("f4"), name="SCI", ver=v))
        if v in dq_chips:
            dqs[v] = rng.integers(0, 16384, (5, 6 + v)).astype("i2")
            hdus.append(fits.ImageHDU(dqs[v], name="DQ", ver=v))
    fits.HDUList(hdus).writeto(path)
    return dqs


def test_build_mask_image(tmp_path, rng, capsys):
    path = str(tmp_path / "m_flt.fits")
    dqs = _flt(path, rng)
    before = open(path, "rb").read()
    out = str(tmp_path / "mask1.fits")
    with open(out, "w") as f:
        f.write("an old mask")
    assert buildMaskImage(path, 4096 + 2048, out) == out
    with fits.open(out) as hdul:
        assert len(hdul) == 1 and hdul[0].header["BITPIX"] == 8
        np.testing.assert_array_equal(hdul[0].data, _truth(dqs[1], 6144))
    # chip 2 has no DQ array: a mask of ones the shape of its SCI array
    out2 = str(tmp_path / "mask2.fits")
    assert buildMaskImage(path, 0, out2, extver=2) == out2
    np.testing.assert_array_equal(fits.getdata(out2), np.ones((5, 8), np.uint8))
    # neither: drizzlepac's warning and None; nothing written
    out3 = str(tmp_path / "mask3.fits")
    assert buildMaskImage(path, 0, out3, extname="dq", extver=3) is None
    assert "Warning: Problem creating MASK file for " + path in capsys.readouterr().out
    assert not os.path.exists(out3)
    assert open(path, "rb").read() == before


def test_build_mask_image_errors(tmp_path, rng):
    path = str(tmp_path / "m_flt.fits")
    _flt(path, rng)
    with pytest.raises(FileNotFoundError, match="nope_flt.fits"):
        buildMaskImage(str(tmp_path / "nope_flt.fits"), 0, str(tmp_path / "m.fits"))
    with pytest.raises(ValueError, match="bitvalue"):
        buildMaskImage(path, "4,x", str(tmp_path / "m.fits"))
    with pytest.raises(FileNotFoundError, match="directory"):
        buildMaskImage(path, 0, str(tmp_path / "no" / "m.fits"))
    assert not os.path.exists(tmp_path / "m.fits")


def test_mask_write_failure_keeps_old_file(tmp_path, rng, monkeypatch):
    path = str(tmp_path / "m_flt.fits")
    _flt(path, rng)
    out = tmp_path / "mask.fits"
    out.write_bytes(b"old")

    def failing(self, name, **kw):
        with open(name, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fits.PrimaryHDU, "writeto", failing)
    with pytest.raises(OSError, match="No space left on device"):
        buildMaskImage(path, 0, str(out))
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_flt.fits", "mask.fits"]


@pytest.mark.parametrize("detnum", [1, 2, 3, "4"])
@pytest.mark.parametrize("binned", [1, 2])
def test_shadow_mask_against_drizzlepac(tmp_path, detnum, binned):
    name = str(tmp_path / "shadow.fits")
    assert buildShadowMaskImage("unused_c0h.fits", detnum, 1, name, binned=binned) == name
    data = fits.getdata(name)
    key = (int(detnum), binned)
    assert data.dtype == np.uint8 and data.shape == ((800, 800) if binned == 1 else (400, 400))
    assert int(data.sum()) == SHADOW_GOOD[key]
    assert hashlib.sha256(data.tobytes()).hexdigest() == SHADOW_SHA256[key]
    # the shadowed corner is masked, the chip's centre is not
    assert data[0, 0] == 0 and data[-1, -1] == 1


def test_shadow_mask_with_bitvalue_is_the_dq_mask(tmp_path, rng, capsys):
    """drizzlepac 3.11: with ``bitvalue`` the written mask is the DQ array's mask alone."""
    path = str(tmp_path / "w_flt.fits")
    dqs = _flt(path, rng)
    name = str(tmp_path / "s.fits")
    assert buildShadowMaskImage(path, 2, 1, name, bitvalue=4096) == name
    np.testing.assert_array_equal(fits.getdata(name), _truth(dqs[1], 4096))
    # not an *flt.fits file: extnum is an HDU number
    other = str(tmp_path / "w_c1h.fits")
    os.rename(path, other)
    assert buildShadowMaskImage(other, 2, 2, name, bitvalue=0) == name
    np.testing.assert_array_equal(fits.getdata(name), _truth(dqs[1], 0))
    assert buildShadowMaskImage(other, 2, 9, str(tmp_path / "t.fits"), bitvalue=0) is None
    assert "Problem creating DQMASK file for " + other in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "t.fits")


def test_shadow_mask_bad_detector(tmp_path):
    with pytest.raises(ValueError, match="'detnum'"):
        buildShadowMaskImage("x.fits", 5, 1, str(tmp_path / "s.fits"))
    assert buildmask.SHADOW_BUFFER == 5


@pytest.mark.parametrize("binned", [0, 3, 2.5, True, "2"])
def test_shadow_mask_bad_binning(tmp_path, binned):
    out = tmp_path / "s.fits"
    out.write_bytes(b"keep")
    with pytest.raises(ValueError, match="'binned' must be 1 or 2"):
        buildShadowMaskImage("x.fits", 1, 1, str(out), binned=binned)
    assert out.read_bytes() == b"keep" and os.listdir(tmp_path) == ["s.fits"]
