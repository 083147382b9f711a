"""In-memory inputs (HDUList, NDData/CCDData, arrays with a WCS) and the product returned as
an HDUList: the same answers as the file-reading, file-writing run on the same data."""

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import (CCDData, InverseVariance, NDData, StdDevUncertainty,
                            VarianceUncertainty)
from astropy.wcs import WCS

from gpudrizzle import astrodrizzle
from gpudrizzle.exposure import MASK_FLAG, Exposure, in_memory_items, to_exposure

from hstdata import east_left_cd, write_dither_set

POINTING = (150.1, 2.2)
# header cards that must agree between the in-memory and the file-writing run
PRIMARY_KEYS = ("INSTRUME", "DETECTOR", "EXPSTART", "EXPEND", "EXPTIME", "TEXPTIME", "NDRIZIM",
                "D001KERN", "D001PIXF", "D001WTSC", "D001DEXP", "D002DEXP", "D001OUUN",
                "D001SCAL", "D001COEF", "D002FVAL")
SCI_KEYS = ("BUNIT", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2",
            "NAXIS1", "NAXIS2", "D001DEXP", "D002DEXP")
RUN = dict(backend="numpy", runfile="", skysub=True, in_memory=True)


def _in_memory_copy(path):
    """The file's HDUs copied into an HDUList that no file backs."""
    with fits.open(path, memmap=False) as f:
        return fits.HDUList([h.copy() for h in f])


def _listing(d):
    return sorted(os.listdir(d))


@pytest.fixture(scope="module")
def flts(tmp_path_factory):
    d = tmp_path_factory.mktemp("flts")
    seed = int(np.random.default_rng().integers(1 << 30))
    truth = write_dither_set(d, n=3, seed=seed, cosmic_rays=3, bad_columns=(20,), orient=30.0,
                             pointing=POINTING)
    return d, [t.path for t in truth]


def _assert_same_product(a, b, primary_keys=PRIMARY_KEYS, sci_keys=SCI_KEYS, rtol=0.0):
    """Same extensions, data (within ``rtol`` of each value, or of the image's largest value
    for the slivers of edge pixels; NaN where the other has NaN) and cards."""
    names_a, names_b = [h.name for h in a], [h.name for h in b]
    assert names_a == names_b
    for ext in ("SCI", "WHT", "CTX", "ERR"):
        if ext in names_a:
            top = float(np.nanmax(np.abs(b[ext].data))) if b[ext].data.size else 0.0
            np.testing.assert_allclose(a[ext].data, b[ext].data, rtol=rtol, atol=rtol * top,
                                       err_msg=ext)
    for ha, hb, keys in ((a[0].header, b[0].header, primary_keys),
                         (a["SCI"].header, b["SCI"].header, sci_keys)):
        for k in keys:
            assert k in ha and k in hb, k
            va, vb = ha[k], hb[k]
            if isinstance(va, float) and rtol:
                assert va == pytest.approx(vb, rel=1e-9), k
            elif isinstance(va, float):  # a file holds the value as its card prints it
                assert ha.cards[k].image[:30] == hb.cards[k].image[:30], k
            else:
                assert va == vb, k
    assert len(a["HDRTAB"].data) == len(b["HDRTAB"].data)


def test_hdulists_equal_file_run(flts, tmp_path):
    d, paths = flts
    hduls = [_in_memory_copy(p) for p in paths]
    before = [[None if h.data is None else h.data.copy() for h in x] for x in hduls]
    out = tmp_path / "mem"
    out.mkdir()
    cwd = os.getcwd()
    os.chdir(out)  # nothing may appear here nor beside the inputs
    try:
        listing = _listing(d)
        res = astrodrizzle.AstroDrizzle(hduls, output="final", write_products=False, **RUN)
    finally:
        os.chdir(cwd)
    assert _listing(out) == [] and _listing(d) == listing
    assert res.products == [] and res.intermediates == []
    assert isinstance(res.hdulist, fits.HDUList)
    assert [h.name for h in res.hdulist] == ["PRIMARY", "SCI", "WHT", "CTX", "ERR", "HDRTAB"]
    assert res.hdulist[0].header["FILENAME"] == "final_drz.fits"
    assert res.hdulist[0].header["NEXTEND"] == 5
    for x, b in zip(hduls, before):  # the inputs are left as they were
        for h, data in zip(x, b):
            if data is not None:
                np.testing.assert_array_equal(h.data, data)
    assert sum(res.cr_pixels.values()) > 0  # the whole pipeline ran (driz_cr included)

    files = astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "final"), build=True, **RUN)
    with fits.open(files.products[0]) as written:
        _assert_same_product(res.hdulist, written)
        assert res.hdulist[0].header["ROOTNAME"] == written[0].header["ROOTNAME"]
        # the one difference: an input with no file is named by its rootname
        root = os.path.basename(paths[0])[:-len("_flt.fits")]
        assert written[0].header["D001DATA"] == f"{root}_flt.fits[sci,1]"
        assert res.hdulist[0].header["D001DATA"] == f"{root}[sci,1]"
    assert res.sky == files.sky and res.cr_pixels == files.cr_pixels
    # the in-memory product writes to the same file, byte for byte in its data
    res.hdulist.writeto(tmp_path / "again.fits")
    with fits.open(tmp_path / "again.fits") as again:
        np.testing.assert_array_equal(again["SCI"].data, res.hdulist["SCI"].data)


def test_write_products_false_needs_in_memory(flts):
    _, paths = flts
    with pytest.raises(ValueError, match="write_products=False needs in_memory=True"):
        astrodrizzle.AstroDrizzle([_in_memory_copy(paths[0])], write_products=False,
                                  backend="numpy", runfile="")


def _wcs(rng, shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = (POINTING[0] + rng.uniform(-1e-4, 1e-4), POINTING[1])
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cd = east_left_cd(0.1, float(rng.uniform(0, 90)))
    return w


def _frames(rng, n=2, shape=(48, 56)):
    """n single-chip exposures: data (e-), ERR, a mask, WCS and EXPTIME."""
    out = []
    for _ in range(n):
        exptime = float(rng.uniform(50, 200))
        sci = rng.normal(20.0 * exptime, 30.0, shape).astype(np.float32)
        err = rng.uniform(20.0, 40.0, shape).astype(np.float32)
        mask = rng.random(shape) < 0.05
        out.append((sci, err, mask, _wcs(rng, shape), exptime))
    return out


def _generic_hdulist(sci, err, mask, w, exptime):
    h = w.to_header()
    h["BUNIT"] = "ELECTRONS"
    return fits.HDUList([
        fits.PrimaryHDU(header=fits.Header([("EXPTIME", exptime)])),
        fits.ImageHDU(sci, header=h, name="SCI", ver=1),
        fits.ImageHDU(err, name="ERR", ver=1),
        fits.ImageHDU(np.where(mask, MASK_FLAG, 0).astype(np.int32), name="DQ", ver=1)])


@pytest.mark.parametrize("wht_type", ["EXP", "ERR"])
def test_nddata_and_arrays_equal_hdulist(rng, wht_type):
    frames = _frames(rng)
    common = dict(RUN, skysub=False, write_products=False, final_wht_type=wht_type,
                  driz_cr=False, median=False, blot=False, driz_separate=False)
    ref = astrodrizzle.AstroDrizzle([_generic_hdulist(*f) for f in frames], **common).hdulist
    ccd = [CCDData(s, unit="electron", wcs=w, uncertainty=StdDevUncertainty(e), mask=m,
                   meta={"EXPTIME": t}) for s, e, m, w, t in frames]
    got = astrodrizzle.AstroDrizzle(ccd, **common).hdulist
    # the WCS object against its FITS keywords (PC and CDELT for CD): the last bit may differ
    _assert_same_product(got, ref, primary_keys=("NDRIZIM", "TEXPTIME", "D001DEXP"), rtol=1e-5)
    assert (ref["WHT"].data > 0).sum() > 1000
    if wht_type == "EXP":  # arrays with a WCS, the DQ of the mask
        arrays = [dict(sci=s, wcs=w, exptime=t, err=e, dq=m.astype(np.uint16) * MASK_FLAG)
                  for s, e, m, w, t in frames]
        got = astrodrizzle.AstroDrizzle(arrays, **common).hdulist
        _assert_same_product(got, ref, primary_keys=("NDRIZIM", "TEXPTIME"), rtol=1e-5)
        ref_nomask = astrodrizzle.AstroDrizzle(
            [_generic_hdulist(s, e, np.zeros_like(m), w, t) for s, e, m, w, t in frames],
            **common).hdulist
        tuples = [(s, w, t) for s, e, m, w, t in frames]
        got = astrodrizzle.AstroDrizzle(tuples, **common).hdulist
        np.testing.assert_allclose(got["SCI"].data, ref_nomask["SCI"].data, rtol=1e-5, atol=0)
        assert not np.array_equal(got["WHT"].data, ref["WHT"].data)  # the mask mattered


def test_nddata_uncertainties_and_flags(rng):
    sci, err, mask, w, t = _frames(rng, 1)[0]
    flags = rng.integers(0, 3, sci.shape).astype(np.int16) * 4
    for unc, expected in ((StdDevUncertainty(err), err), (VarianceUncertainty(err ** 2), err),
                          (InverseVariance(1.0 / err.astype(np.float64) ** 2), err)):
        nd = CCDData(sci, unit="electron", wcs=w, uncertainty=unc, mask=mask, flags=flags,
                     meta={"EXPTIME": t, "ROOTNAME": "ccd1"})
        e = to_exposure(nd, final_bits="4")
        c = e.chips[0]
        assert e.rootname == "ccd1" and e.filename is None and e.exptime == t
        np.testing.assert_allclose(c.err, expected, rtol=1e-6)
        np.testing.assert_array_equal(c.dq, flags.astype(np.int32) | np.where(mask, MASK_FLAG, 0))
        assert np.shares_memory(c.sci, sci) and not c.sci.flags.writeable
        assert c.wcs is not w and c.wcs.array_shape == sci.shape
        assert c.units == "ELECTRONS" and not c.is_rate
    rate = CCDData(sci, unit="electron/s", wcs=w, meta={"EXPTIME": t})
    assert to_exposure(rate).chips[0].is_rate


def test_nddata_keeps_lookup_table_distortion(rng):
    from astropy.wcs import DistortionLookupTable
    sci, err, mask, w, t = _frames(rng, 1)[0]
    table = DistortionLookupTable(rng.uniform(-0.2, 0.2, (8, 8)).astype(np.float32),
                                  (1, 1), (1, 1), (8, 8))
    w = w.deepcopy()
    w.cpdis1 = table
    e = to_exposure(NDData(sci, wcs=w, meta={"EXPTIME": t}))
    px = np.array([[10.0, 12.0], [30.0, 40.0]])
    np.testing.assert_allclose(e.chips[0].wcs.all_pix2world(px, 0), w.all_pix2world(px, 0),
                               rtol=0, atol=1e-12)
    assert e.chips[0].err is None and e.chips[0].dq is None


def test_run_takes_in_memory_input(rng):
    frames = _frames(rng, 1)
    res = astrodrizzle.run({"input": _generic_hdulist(*frames[0]), **RUN,
                            "write_products": False, "skysub": False})
    assert res.hdulist["SCI"].data.shape == res.output_wcs.array_shape
    assert res.inputs[0]["file"] is None


# ---------------------------------------------------------------------------
# bad input


def test_hdulist_without_exptime(rng):
    hdul = _generic_hdulist(*_frames(rng, 1)[0])
    del hdul[0].header["EXPTIME"]
    with pytest.raises(ValueError, match=r"input1\[SCI,1\]: exposure time keyword\(s\) EXPTIME"):
        astrodrizzle.AstroDrizzle([hdul], **RUN, write_products=False)


def test_hdulist_without_celestial_wcs(rng):
    hdul = _generic_hdulist(*_frames(rng, 1)[0])
    for k in ("CTYPE1", "CTYPE2"):
        del hdul["SCI"].header[k]
    with pytest.raises(ValueError, match=r"input1\[SCI,1\]: no celestial WCS"):
        to_exposure(hdul)
    empty = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((5, 5), np.float32))])
    with pytest.raises(ValueError, match="no 2-D image extension with a celestial WCS"):
        to_exposure(empty)


def test_nddata_errors(rng):
    sci, err, mask, w, t = _frames(rng, 1)[0]
    with pytest.raises(ValueError, match=r"meta has no EXPTIME .*'exptime' parameter"):
        to_exposure(NDData(sci, wcs=w))
    assert to_exposure(NDData(sci, wcs=w), exptime=7.0).exptime == 7.0
    with pytest.raises(ValueError, match="the NDData has no WCS"):
        to_exposure(NDData(sci, meta={"EXPTIME": t}))
    with pytest.raises(ValueError, match="must be 2-D"):
        to_exposure(NDData(np.zeros((2, 3, 4)), wcs=w, meta={"EXPTIME": t}))
    with pytest.raises(ValueError, match="BUNIT='Jy' is not supported"):
        to_exposure(CCDData(sci, unit="Jy", wcs=w, meta={"EXPTIME": t}))
    with pytest.raises(ValueError, match=r"no exposure time: give \(array, wcs, exptime\)"):
        to_exposure((sci, w))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data'\]"):
        to_exposure({"data": sci, "wcs": w, "exptime": t})


def test_mixed_and_unsupported_items_are_clear(rng):
    sci, err, mask, w, t = _frames(rng, 1)[0]
    hdul = _generic_hdulist(sci, err, mask, w, t)
    with pytest.raises(ValueError, match="mixes in-memory data with other items"):
        astrodrizzle.AstroDrizzle([hdul, "x_flt.fits"], **RUN)
    with pytest.raises(TypeError) as info:  # an HDU is not an HDUList: named, not printed
        astrodrizzle.AstroDrizzle([hdul[1]], **RUN)
    assert "ImageHDU" in str(info.value) and len(str(info.value)) < 300
    assert in_memory_items("a.fits") is None and in_memory_items(["a.fits"]) is None
    assert in_memory_items((sci, w)) == [(sci, w)]
    e = Exposure.from_arrays(sci, w, t)
    assert in_memory_items([e, hdul]) == [e, hdul] and to_exposure(e) is e
    with pytest.raises(TypeError, match="got int"):
        to_exposure(3)


def test_output_frame_takes_in_memory_inputs(flts):
    """The step function for the output frame reads HDULists as AstroDrizzle does."""
    from gpudrizzle.exposure import load_exposure
    from gpudrizzle.outframe import output_frame

    _, flts = flts
    hduls = [fits.open(f) for f in flts]
    try:
        got = output_frame(hduls)
        one = output_frame(hduls[0])
    finally:
        for h in hduls:
            h.close()
    want = output_frame([load_exposure(f) for f in flts])
    assert got.array_shape == want.array_shape
    np.testing.assert_allclose(got.wcs.crval, want.wcs.crval, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.wcs.cd, want.wcs.cd, rtol=1e-12)
    assert one.array_shape == output_frame(load_exposure(flts[0])).array_shape
