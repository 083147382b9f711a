"""resetbits: DQ flags cleared in place, every other byte kept, all files or none."""

import argparse
import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import cli, files, resetbits
from gpudrizzle.resetbits import reset_dq_bits

SHAPE = (7, 9)


def _write(path, rng, nchips=2, dq_dtype="i2", uint=False):
    """An FLT-like file: primary, then SCI/ERR/DQ per chip; returns {extver: DQ array}."""
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["ROOTNAME"] = os.path.basename(path)[:9]
    dqs = {}
    for v in range(1, nchips + 1):
        sci = fits.ImageHDU(rng.random(SHAPE).astype("f4"), name="SCI", ver=v)
        sci.header["PHOTFLAM"] = 1e-19
        err = fits.ImageHDU(rng.random(SHAPE).astype("f4"), name="ERR", ver=v)
        top = 65536 if uint else 32768
        dq = rng.integers(0 if uint else -32768, top, SHAPE).astype("u2" if uint else dq_dtype)
        hdus += [sci, err, fits.ImageHDU(dq, name="DQ", ver=v)]
        dqs[v] = dq
    fits.HDUList(hdus).writeto(path)
    return dqs


def _spans(path, extname="DQ"):
    """[(start, stop)] byte ranges of the data of the ``extname`` HDUs."""
    with fits.open(path) as hdul:
        out = []
        for i, hdu in enumerate(hdul):
            if hdu.header.get("EXTNAME") == extname:
                info = hdul.fileinfo(i)
                out.append((info["datLoc"], info["datLoc"] + info["datSpan"]))
        return out


def _outside(data, spans):
    keep = np.ones(len(data), bool)
    for a, b in spans:
        keep[a:b] = False
    return np.frombuffer(data, np.uint8)[keep]


def _dq(path, ver):
    with fits.open(path) as hdul:
        return hdul["DQ", ver].data.copy(), hdul["DQ", ver].data.dtype


@pytest.mark.parametrize("bits,value", [(4096, 4096), ("2,32,64,4096", 4194), ("2+32", 34),
                                        ("~4", ~4), ([16, 256], 272), (-1, -1)])
def test_reset_all_dq_arrays_analytic(tmp_path, rng, bits, value):
    path = str(tmp_path / "a_flt.fits")
    dqs = _write(path, rng)
    before = open(path, "rb").read()
    spans = _spans(path)
    assert reset_dq_bits(path, bits) == [path]
    after = open(path, "rb").read()
    assert len(after) == len(before)
    for v, dq in dqs.items():
        new, dtype = _dq(path, v)
        assert dtype == np.dtype(">i2")
        truth = (dq.astype(np.int64) & ~value).astype(np.int16)
        np.testing.assert_array_equal(new, truth)
        assert not np.any(new.astype(np.int64) & (value & 0xFFFF)) or value < 0
    # every byte outside the DQ data is the original's
    np.testing.assert_array_equal(_outside(after, spans), _outside(before, spans))


def test_reset_one_extver_leaves_the_other(tmp_path, rng):
    path = str(tmp_path / "a_flt.fits")
    dqs = _write(path, rng)
    reset_dq_bits(path, 4096 + 8192, extver=2)
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1])
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2] & ~np.int16(12288))
    reset_dq_bits(path, "16", extver=[1, 2], extname="Dq")
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1] & ~np.int16(16))
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2] & ~np.int16(12288 + 16))


def test_unsigned_dq_bzero_convention(tmp_path, rng):
    path = str(tmp_path / "u_flt.fits")
    dqs = _write(path, rng, nchips=1, uint=True)
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        assert hdul["DQ", 1].header["BZERO"] == 32768
    reset_dq_bits(path, 32768 + 1)
    new, dtype = _dq(path, 1)
    assert dtype == np.uint16
    np.testing.assert_array_equal(new, dqs[1] & np.uint16(0xFFFF & ~32769))
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        assert hdul["DQ", 1].header["BZERO"] == 32768


def test_constant_array_pixvalue(tmp_path):
    path = str(tmp_path / "c_flt.fits")
    dq = fits.ImageHDU(name="DQ", ver=1)
    dq.header["BITPIX"] = 16
    dq.header["PIXVALUE"] = 4096 + 64 + 1
    dq.header["NPIX1"] = 5
    dq.header["NPIX2"] = 4
    fits.HDUList([fits.PrimaryHDU(), dq]).writeto(path)
    size = os.path.getsize(path)
    reset_dq_bits(path, 4096 + 1)
    assert os.path.getsize(path) == size
    assert fits.getheader(path, ("DQ", 1))["PIXVALUE"] == 64


def test_input_lists(tmp_path, rng, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dqs = {name: _write(name, rng, nchips=1) for name in ("a_flt.fits", "b_flt.fits", "c_flt.fits")}
    (tmp_path / "list.txt").write_text("a_flt.fits\nc_flt.fits\n")
    assert reset_dq_bits("@list.txt", 1) == ["a_flt.fits", "c_flt.fits"]
    np.testing.assert_array_equal(_dq("b_flt.fits", 1)[0], dqs["b_flt.fits"][1])
    reset_dq_bits("*_flt.fits", 2)
    for name, dq in dqs.items():
        cleared = 2 if name == "b_flt.fits" else 3
        np.testing.assert_array_equal(_dq(name, 1)[0], dq[1] & ~np.int16(cleared))
    reset_dq_bits("a_flt.fits, b_flt.fits", 4)
    np.testing.assert_array_equal(_dq("b_flt.fits", 1)[0], dqs["b_flt.fits"][1] & ~np.int16(6))


@pytest.mark.parametrize("bits", ["4,x", "3,4", "4,8+16", "", None, "INDEF", 2.5])
def test_bad_bits(tmp_path, rng, bits):
    path = str(tmp_path / "a_flt.fits")
    _write(path, rng)
    before = open(path, "rb").read()
    with pytest.raises(ValueError, match="bits"):
        reset_dq_bits(path, bits)
    assert open(path, "rb").read() == before


def test_bad_input_errors(tmp_path, rng):
    path = str(tmp_path / "a_flt.fits")
    _write(path, rng)
    other = str(tmp_path / "b_flt.fits")
    _write(other, rng)
    before = {p: open(p, "rb").read() for p in (path, other)}
    with pytest.raises(FileNotFoundError, match="missing_flt.fits"):
        reset_dq_bits(str(tmp_path / "missing_flt.fits"), 4)
    with pytest.raises(ValueError, match=r"no extension \[dq,3\].*versions present: 1, 2"):
        reset_dq_bits(f"{path},{other}", 4, extver=3)
    with pytest.raises(ValueError, match="has no 'mask' extension"):
        reset_dq_bits(path, 4, extname="mask")
    with pytest.raises(ValueError, match=r"BITPIX = -32.*not an integer"):
        reset_dq_bits(path, 4, extname="sci")
    with pytest.raises(ValueError, match="extver"):
        reset_dq_bits(path, 4, extver=0)
    with pytest.raises(ValueError, match="extname"):
        reset_dq_bits(path, 4, extname="")
    for p, data in before.items():
        assert open(p, "rb").read() == data


def test_read_only_and_compressed_refused(tmp_path, rng):
    import gzip

    path = str(tmp_path / "a_flt.fits")
    _write(path, rng)
    before = open(path, "rb").read()
    os.chmod(path, 0o444)
    try:
        with pytest.raises(PermissionError,
                           match=r"cannot update the DQ arrays of .*a_flt.fits: the file is read-only"):
            reset_dq_bits(path, 4)
    finally:
        os.chmod(path, 0o644)
    gz = str(tmp_path / "z_flt.fits.gz")
    with gzip.open(gz, "wb") as f:
        f.write(before)
    with pytest.raises(ValueError, match=r"DQ arrays of .*z_flt.fits.gz: it is compressed"):
        reset_dq_bits(gz, 4)
    assert open(path, "rb").read() == before


def test_failure_mid_write_leaves_every_file(tmp_path, rng, monkeypatch):
    names = [str(tmp_path / f"{c}_flt.fits") for c in "abc"]
    for n in names:
        _write(n, rng)
    before = {n: open(n, "rb").read() for n in names}
    real = files.patch_writer
    calls = []

    def failing(path, patches):
        write = real(path, patches)

        def wrapped(tmp):
            calls.append(path)
            write(tmp)
            if len(calls) == 3:  # the last file's copy is half done: the disk is full
                raise OSError(28, "No space left on device")
        return wrapped

    monkeypatch.setattr(files, "patch_writer", failing)
    with pytest.raises(OSError, match="No space left on device"):
        reset_dq_bits(",".join(names), 4096)
    assert len(calls) == 3
    for n in names:
        assert open(n, "rb").read() == before[n]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(n) for n in names)


def test_failure_while_publishing_keeps_the_original(tmp_path, rng, monkeypatch):
    path = str(tmp_path / "a_flt.fits")
    _write(path, rng)
    before = open(path, "rb").read()

    def no_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files.os, "replace", no_replace)
    with pytest.raises(OSError):
        reset_dq_bits(path, 4096)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["a_flt.fits"]


def test_mode_kept(tmp_path, rng):
    path = str(tmp_path / "a_flt.fits")
    _write(path, rng)
    os.chmod(path, 0o640)
    reset_dq_bits(path, 1)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_command_line(tmp_path, rng, capsys):
    path = str(tmp_path / "a_flt.fits")
    dqs = _write(path, rng)
    parser = resetbits.add_arguments(argparse.ArgumentParser())
    assert resetbits.run_from_args(parser.parse_args([path, "4194", "2"])) == 0
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1])
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2] & ~np.int16(4194))
    assert resetbits.main([path, "1,2", "1", "DQ"]) == 0
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1] & ~np.int16(3))
    capsys.readouterr()
    assert resetbits.main([path, "3,4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resetbits: error: ") and "'bits'" in err
    assert resetbits.main([str(tmp_path / "nope.fits"), "4"]) == 1
    assert "nope.fits" in capsys.readouterr().err
    assert resetbits.main(["-h"]) == 0
    assert "extver" in capsys.readouterr().out
    assert resetbits.main([path]) == 2
    assert "required: bits" in capsys.readouterr().err
    assert cli.main(["resetbits", path, "8", "2"]) == 0
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2] & ~np.int16(4194 | 8))


@pytest.mark.parametrize("dtype,bits,outside", [("i2", 99999, "65536"), ("i2", 1 << 20, "1048576"),
                                                ("u1", 256 + 4, "256"),
                                                ("i2", "4096,131072", "131072")])
def test_bits_that_do_not_fit_the_array_are_refused(tmp_path, rng, dtype, bits, outside):
    path = str(tmp_path / "a_flt.fits")
    if dtype == "u1":
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(
            rng.integers(0, 256, SHAPE).astype("u1"), name="DQ", ver=1)]).writeto(path)
    else:
        _write(path, rng)
    before = open(path, "rb").read()
    name = {"i2": "int16", "u1": "uint8"}[dtype]
    with pytest.raises(ValueError, match=rf"\[dq,1\] holds {name} values .*flag\(s\) {outside}"
                                         " that cannot be set"):
        reset_dq_bits(path, bits)
    assert open(path, "rb").read() == before
    # what fits is fine: the sign bit of int16, a complement
    reset_dq_bits(path, 32768 if dtype == "i2" else 128)
    reset_dq_bits(path, "~4")


def test_command_line_extver_list(tmp_path, rng, capsys):
    path = str(tmp_path / "a_flt.fits")
    dqs = _write(path, rng, nchips=3)
    assert resetbits.main([path, "16", "1,3"]) == 0
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1] & ~np.int16(16))
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2])
    np.testing.assert_array_equal(_dq(path, 3)[0], dqs[3] & ~np.int16(16))
    assert cli.main(["resetbits", path, "32", "2,3"]) == 0
    np.testing.assert_array_equal(_dq(path, 1)[0], dqs[1] & ~np.int16(16))
    np.testing.assert_array_equal(_dq(path, 2)[0], dqs[2] & ~np.int16(32))
    np.testing.assert_array_equal(_dq(path, 3)[0], dqs[3] & ~np.int16(48))
    capsys.readouterr()
    assert resetbits.main([path, "16", "1,x"]) == 2
    assert "positive integer or a comma list" in capsys.readouterr().err
    assert resetbits.main([path, "99999"]) == 1
    assert "int16" in capsys.readouterr().err
