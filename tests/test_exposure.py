"""Reading exposures: HST FLT/FLC rules, generic FITS, in-memory arrays, bad inputs."""

import hashlib
import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from gpudrizzle.exposure import Exposure, load_exposure, load_exposures
from gpudrizzle.inputs import expand_input
from gpudrizzle.params import resolve_parameters
from hstdata import write_flt, write_generic


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def wfc(tmp_path_factory):
    d = tmp_path_factory.mktemp("wfc")
    return write_flt(d, "j9wfc1aaq", cosmic_rays=2, bad_columns=(3,))


def test_acs_wfc(wfc):
    e = load_exposure(wfc.path)
    assert (e.instrument, e.detector, e.rootname) == ("ACS", "WFC", "j9wfc1aaq")
    assert e.exptime == 400.0 and e.expstart == 55000.0
    assert e.expend == pytest.approx(55000.0 + 400.0 / 86400.0)
    assert [c.chip for c in e.chips] == [1, 2]
    assert [c.label for c in e.chips] == [f"{wfc.path}[SCI,1]", f"{wfc.path}[SCI,2]"]
    for c in e.chips:
        assert c.gain == pytest.approx(np.mean([2.0, 2.02, 1.98, 2.01]))
        assert c.rdnoise == pytest.approx(np.mean([4.3, 4.1, 4.4, 4.2]))
        assert c.units == "ELECTRONS" and not c.is_rate
        assert c.idcscale == 0.05 and c.darkcurrent == pytest.approx(0.8)
        assert c.shape == (64, 128) and c.err.shape == c.dq.shape == (64, 128)
        assert c.dq.dtype.kind in "iu" and (c.dq[:, 3] == 4).all()
        assert c.wcs.sip is not None and c.wcs.array_shape == (64, 128)
        assert c.parity == ((1.0, 0.0), (0.0, -1.0)) and c.pa_v3 is not None
        assert c.time is None and c.ivm is None
    assert [c.cte_dir for c in e.chips] == [-1, 1]
    # the WCS is the file's full WCS (SIP included)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(wfc.path) as h:
            ref = WCS(h[4].header, h)
    x, y = np.array([0.0, 127.0, 60.5]), np.array([0.0, 63.0, 20.25])
    np.testing.assert_allclose(e.chips[1].wcs.pixel_to_world_values(x, y),
                               ref.all_pix2world(x, y, 0), rtol=0, atol=1e-12)


def test_arrays_are_read_only_and_files_unchanged(wfc):
    before = _sha(wfc.path)
    e = load_exposure(wfc.path)
    for c in e.chips:
        total = float(c.sci.sum()) + float(c.err.sum()) + int(c.dq.sum())
        assert np.isfinite(total)
        for a in (c.sci, c.err, c.dq):
            with pytest.raises(ValueError, match="read-only"):
                a[0, 0] = 1
    del e
    assert _sha(wfc.path) == before


def test_release_pages_keeps_the_arrays_valid(wfc):
    """Dropping the mapped file pages frees resident memory; the arrays read the same after."""
    e = load_exposure(wfc.path)
    before = [(c.sci.copy(), c.err.copy(), c.dq.copy()) for c in e.chips]
    e.release_pages()
    e.release_pages()  # twice is harmless
    for c, (sci, err, dq) in zip(e.chips, before):
        np.testing.assert_array_equal(c.sci, sci)
        np.testing.assert_array_equal(c.err, err)
        np.testing.assert_array_equal(c.dq, dq)
    memory = Exposure.from_arrays([np.ones((4, 5), np.float32)], [e.chips[0].wcs], 1.0)
    memory.release_pages()  # no file map: nothing to do
    assert memory.chips[0].sci.sum() == 20


def test_acs_hrc_averages_non_zero_amplifiers(tmp_path):
    t = write_flt(tmp_path, "j8hrc1aaq", detector="HRC")
    before = _sha(t.path)
    (c,) = load_exposure(t.path).chips
    assert c.gain == pytest.approx(2.216) and c.rdnoise == pytest.approx(4.71)
    assert c.cte_dir == -1  # amplifier C
    assert _sha(t.path) == before


def test_acs_sbc_defaults_and_user_gain(tmp_path):
    t = write_flt(tmp_path, "j8sbc1aaq", detector="SBC")
    (c,) = load_exposure(t.path).chips
    assert (c.gain, c.rdnoise, c.cte_dir, c.units, c.is_rate) == (1.0, 0.0, 0, "COUNTS", False)
    (c,) = load_exposure(t.path, gain=2.5, rdnoise=1.5).chips
    assert (c.gain, c.rdnoise) == (2.5, 1.5)


def test_wfc3_uvis_flc(tmp_path):
    t = write_flt(tmp_path, "ib4606c5q", instrument="WFC3", detector="UVIS", suffix="flc")
    got = expand_input(t.path)
    assert got.output.suffix == "drc"
    (e,) = load_exposures(got)
    assert [c.cte_dir for c in e.chips] == [-1, 1]
    assert e.chips[0].gain == pytest.approx(1.56)
    assert e.chips[0].parity == ((-1.0, 0.0), (0.0, 1.0))


def test_wfc3_ir_is_a_rate_with_time_map(tmp_path):
    t = write_flt(tmp_path, "ib4606cpq", instrument="WFC3", detector="IR", exptime=250.0)
    e = load_exposure(t.path)
    (c,) = e.chips
    assert c.units == "ELECTRONS/S" and c.is_rate and c.cte_dir == 0
    assert c.time.shape == c.shape and (c.time == 250.0).all()  # HST constant array
    assert e.exptime == 250.0


def test_real_wfc3_headers(shared_data):
    path = shared_data / "wfc3_sample_ipppssoot_flc.fits"
    before = _sha(path)
    e = load_exposure(path)
    assert e.rootname == "ib4606c5q" and e.exptime == 1.0
    assert [c.chip for c in e.chips] == [1, 2]
    for c in e.chips:
        assert c.gain == pytest.approx(1.56, rel=1e-6)
        assert c.rdnoise == pytest.approx(np.mean([3.03, 3.13, 3.08, 3.18]), rel=1e-6)
        assert c.wcs.sip is not None and c.wcs.cpdis1 is not None and c.wcs.det2im1 is not None
        assert c.idcscale == pytest.approx(0.03962000086903572)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path) as h:
            ref = WCS(h[1].header, h)
    xy = np.array([[0.0, 0.0], [9.0, 9.0], [4.3, 7.7]])
    np.testing.assert_allclose(e.chips[0].wcs.pixel_to_world_values(xy[:, 0], xy[:, 1]),
                               ref.all_pix2world(xy[:, 0], xy[:, 1], 0), rtol=0, atol=1e-12)
    ir = load_exposure(shared_data / "wfc3_sample_ipppssoot_flt.fits")
    assert ir.chips[0].is_rate and ir.exptime == pytest.approx(699.232483)
    assert ir.chips[0].time is not None
    assert _sha(path) == before


def test_header_only_file_has_no_data(shared_data, tmp_path):
    # the shared file keeps NEXTEND = 4 of its FLT with 2 extensions left: a truncated
    # file to gpudrizzle (tests/test_faults_inputs.py), so the copy says what it holds
    path = tmp_path / "j8bt06nyq_sip_flt.fits"
    with fits.open(shared_data / "j8bt06nyq_sip_flt.fits") as hdul:
        hdul[0].header["NEXTEND"] = len(hdul) - 1
        hdul.writeto(path)
    with pytest.raises(ValueError, match=r"j8bt06nyq_sip_flt.fits\[SCI,1\]: extension has no image data"):
        load_exposure(path)


def test_alternate_wcs_by_key_and_name(shared_data):
    path = shared_data / "wfc3_sample_ipppssoot_flc.fits"
    hdr = fits.getheader(path, ("SCI", 1))
    for key in ("A", "IDC_2731450pi"):
        e = load_exposure(path, wcskey=key)
        np.testing.assert_allclose(e.chips[0].wcs.wcs.crval, [hdr["CRVAL1A"], hdr["CRVAL2A"]])
    with pytest.raises(ValueError, match=r"\[SCI,1\]: no WCS named 'NOPE'"):
        load_exposure(path, wcskey="NOPE")
    with pytest.raises(ValueError, match="alternate WCS 'Q' not found"):
        load_exposure(path, wcskey="Q")


def test_coeffs_false_is_linear(wfc):
    e = load_exposure(wfc.path, coeffs=False)
    w = e.chips[0].wcs
    assert w.sip is None and list(w.wcs.ctype) == ["RA---TAN", "DEC--TAN"]


def test_group_selects_chips(wfc):
    e = load_exposure(wfc.path, group=2)
    assert [c.chip for c in e.chips] == [2]
    with pytest.raises(ValueError, match=r"group \[3\] not found"):
        load_exposure(wfc.path, group="1,3")


def test_user_instrument_parameters(tmp_path):
    t = write_flt(tmp_path, "j9usr1aaq", primary_extra={"MYEXP": 123.0, "MYGAIN": 1.25})
    e = load_exposure(t.path, gain=3.0, rdnoise=5.0, exptime=100.0)
    assert (e.exptime, e.chips[0].gain, e.chips[0].rdnoise) == (100.0, 3.0, 5.0)
    e = load_exposure(t.path, gnkeyword="ATODGNA", rnkeyword="READNSEB,READNSED", expkeyword="MYEXP")
    assert e.chips[0].gain == 2.0 and e.chips[0].rdnoise == pytest.approx(4.15) and e.exptime == 123.0
    assert load_exposure(t.path, gnkeyword="MYGAIN").chips[1].gain == 1.25
    assert load_exposure(t.path, gain="2,0,4").chips[0].gain == 3.0


@pytest.mark.parametrize("extra, pattern", [
    ({"ATODGNB": None}, r"_flt.fits\[SCI,1\]: gain keyword\(s\) ATODGNB not found"),
    ({"EXPTIME": None}, r"_flt.fits: exposure time keyword\(s\) EXPTIME not found"),
    ({"EXPTIME": 0.0}, r"_flt.fits: exposure time must be > 0; got 0.0"),
    ({"EXPTIME": -5.0}, r"_flt.fits: exposure time must be > 0; got -5.0"),
    ({"ATODGNA": 0.0, "ATODGNB": 0.0, "ATODGNC": 0.0, "ATODGND": 0.0}, r"\[SCI,1\]: gain must be > 0"),
    ({"INSTRUME": "WFPC2"}, "HST instrument WFPC2 is not supported"),
    ({"DETECTOR": "XYZ"}, "ACS detector 'XYZ' is not supported"),
])
def test_bad_headers(tmp_path, extra, pattern):
    t = write_flt(tmp_path, "j9bad1aaq", primary_extra=extra)
    before = _sha(t.path)
    with pytest.raises(ValueError, match=pattern):
        load_exposure(t.path)
    assert _sha(t.path) == before


def test_no_celestial_wcs(tmp_path):
    t = write_flt(tmp_path, "j9lin1aaq", sip=None, sci_extra={"CTYPE1": "LINEAR", "CTYPE2": "LINEAR"})
    with pytest.raises(ValueError, match=r"j9lin1aaq_flt.fits\[SCI,1\]: no celestial WCS"):
        load_exposure(t.path)
    g = write_generic(tmp_path, "plain", celestial=False)
    with pytest.raises(ValueError, match=r"plain.fits: no 2-D image extension with a celestial WCS "
                                         r"\(.*plain.fits\[PRIMARY\] has no celestial WCS\)"):
        load_exposure(g)


def test_shape_mismatch(tmp_path):
    t = write_flt(tmp_path, "j9shp1aaq")
    with fits.open(t.path) as h:
        h["ERR", 2].data = np.zeros((10, 10), dtype=np.float32)
        h.writeto(tmp_path / "j9shp2aaq_flt.fits")
    with pytest.raises(ValueError, match=r"j9shp2aaq_flt.fits\[ERR,2\]: shape \(10, 10\) does not match"):
        load_exposure(tmp_path / "j9shp2aaq_flt.fits")


def test_all_pixels_flagged(tmp_path, caplog):
    t = write_flt(tmp_path, "j9flg1aaq", bad_columns=range(128))
    before = _sha(t.path)
    with pytest.raises(ValueError, match=r"every pixel is flagged in .*\[DQ,1\], .*\[DQ,2\]"):
        load_exposure(t.path)
    assert load_exposure(t.path, final_bits=4).chips  # flag 4 accepted: usable
    assert load_exposure(t.path, final_bits=None).chips  # DQ ignored
    assert load_exposure(t.path, check_flags=False).chips
    assert _sha(t.path) == before
    # one chip flagged: a warning naming it, and the exposure still loads
    with fits.open(t.path) as h:
        h["DQ", 2].data[:] = 0
        h.writeto(tmp_path / "j9flg2aaq_flt.fits")
    with caplog.at_level(logging.WARNING, logger="gpudrizzle"):
        e = load_exposure(tmp_path / "j9flg2aaq_flt.fits")
    assert len(e.chips) == 2
    assert "j9flg2aaq_flt.fits[DQ,1]: every pixel is flagged" in caplog.text


def test_resetbits_apply_before_the_flag_check(tmp_path):
    t = write_flt(tmp_path, "j9crb1aaq")
    with fits.open(t.path) as h:
        for k in (1, 2):
            h["DQ", k].data[:] = 4096
        h.writeto(tmp_path / "j9crb2aaq_flt.fits")
    assert load_exposure(tmp_path / "j9crb2aaq_flt.fits").chips  # default resetbits 4096
    with pytest.raises(ValueError, match="every pixel is flagged"):
        load_exposure(tmp_path / "j9crb2aaq_flt.fits", resetbits=0)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere_flt.fits"):
        load_exposure(tmp_path / "nothere_flt.fits")
    junk = tmp_path / "junk_flt.fits"
    junk.write_text("not a FITS file at all\n" * 10)
    with pytest.raises(OSError, match="cannot read input file .*junk_flt.fits"):
        load_exposure(junk)


def test_generic_fits(tmp_path):
    g = write_generic(tmp_path, "img", header={"EXPTIME": 50.0, "GAIN": 1.5, "RDNOISE": 3.0,
                                               "BUNIT": "counts"})
    before = _sha(g)
    e = load_exposure(g)
    (c,) = e.chips
    assert (e.exptime, c.gain, c.rdnoise, c.units, c.is_rate) == (50.0, 1.0, 0.0, "counts", False)
    assert e.rootname == "img" and e.instrument == "" and c.dq is None and c.err is None
    assert c.label == f"{g}[PRIMARY]" and c.cte_dir == 0
    e = load_exposure(g, gnkeyword="GAIN", rnkeyword="RDNOISE")
    assert (e.chips[0].gain, e.chips[0].rdnoise) == (1.5, 3.0)
    assert _sha(g) == before


def test_generic_fits_extension_and_rules(tmp_path):
    g = write_generic(tmp_path, "ext", extension=True, header={"MYEXP": 20.0})
    with pytest.raises(ValueError, match=r"ext.fits\[IMG\]: exposure time keyword\(s\) EXPTIME not found"):
        load_exposure(g)
    e = load_exposure(g, expkeyword="MYEXP")
    assert e.exptime == 20.0 and e.chips[0].label == f"{g}[IMG]"
    assert e.chips[0].units == "ELECTRONS/S" and e.chips[0].is_rate  # no BUNIT: drizzlepac's rule
    assert load_exposure(g, exptime=7.0).exptime == 7.0


def test_ivm_files(tmp_path):
    t = write_flt(tmp_path, "j9ivm1aaq")
    ivm = tmp_path / "j9ivm1aaq_ivm.fits"
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(np.full((64, 128), k, np.float32), name="IVM", ver=k)
                                        for k in (1, 2)]).writeto(ivm)
    listing = tmp_path / "l.lst"
    listing.write_text(f"{t.path} {ivm}\n")
    (e,) = load_exposures(expand_input(f"@{listing}"))
    assert e.ivm_file == str(ivm)
    assert [float(c.ivm[0, 0]) for c in e.chips] == [1.0, 2.0]
    bad = tmp_path / "bad_ivm.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((5, 5), np.float32), name="IVM", ver=1),
                  fits.ImageHDU(np.ones((5, 5), np.float32), name="IVM", ver=2)]).writeto(bad)
    with pytest.raises(ValueError, match=r"bad_ivm.fits\[IVM,1\]: shape \(5, 5\) does not match"):
        load_exposure(t.path, ivm_file=bad)
    with pytest.raises(FileNotFoundError, match="IVM file not found"):
        load_exposure(t.path, ivm_file=tmp_path / "none.fits")


def _tan(crval=(10.0, 20.0), shape=(30, 40)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cd = [[-1e-5, 0], [0, 1e-5]]
    return w


def test_in_memory_exposure():
    sci = [np.ones((30, 40), np.float32), np.zeros((30, 40), np.float32)]
    dq = [np.zeros((30, 40), np.int16)] * 2
    e = Exposure.from_arrays(sci, [_tan(), _tan((10.01, 20.0))], 100.0, dq=dq, gain=2.0,
                             rdnoise=3.0, units="ELECTRONS/S", name="mem")
    assert e.filename is None and e.label == "mem" and e.exptime == 100.0
    assert [c.chip for c in e.chips] == [1, 2] and e.chips[1].label == "mem[chip 2]"
    assert e.chips[0].is_rate and e.chips[0].gain == 2.0 and e.chips[0].wcs.array_shape == (30, 40)
    with pytest.raises(ValueError, match="read-only"):
        e.chips[0].sci[0, 0] = 5
    sci[0][0, 0] = 5  # the caller's array stays writable (no copy was made)
    assert e.chips[0].sci[0, 0] == 5
    single = Exposure.from_arrays(np.ones((30, 40)), _tan(), 10.0)
    assert len(single.chips) == 1


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(exptime=0.0), "'exptime' must be > 0"),
    (dict(dq=np.zeros((3, 3), np.int16)), r"'dq' has shape \(3, 3\)"),
    (dict(dq=np.zeros((30, 40), np.float32)), "dq must hold integers"),
    (dict(wcs=SimpleNamespace()), "must be an astropy.wcs.WCS"),
    (dict(gain=0.0), "'gain' must be > 0"),
    (dict(sci=np.ones((30,))), "must be a 2-D array"),
])
def test_in_memory_errors(kwargs, pattern):
    args = dict(sci=np.ones((30, 40), np.float32), wcs=_tan(), exptime=10.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        Exposure.from_arrays(args.pop("sci"), args.pop("wcs"), args.pop("exptime"), **args)


def test_in_memory_needs_celestial_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["LINEAR", "LINEAR"]
    with pytest.raises(ValueError, match=r"mem\[chip 1\]: 'wcs' must be a 2-D celestial WCS"):
        Exposure.from_arrays(np.ones((3, 3)), w, 1.0, name="mem")


def test_parameters_object_is_used(wfc):
    p = resolve_parameters(gain=9.0)
    assert load_exposure(wfc.path, p).chips[0].gain == 9.0
    assert load_exposure(wfc.path, p, gain=8.0).chips[0].gain == 8.0


def test_detector_table_is_complete():
    """Every supported detector has every fact in its row, and the old names are views of it."""
    from gpudrizzle import exposure as ex
    from gpudrizzle.synthetic import IDC_REF, N_CHIPS, PIXEL_SCALE

    assert set(ex.DETECTORS) == set(PIXEL_SCALE) == set(N_CHIPS) == set(IDC_REF)
    for key, row in list(ex.DETECTORS.items()) + [(("", ""), ex.GENERIC)]:
        assert row.key == key and row.hst == (row is not ex.GENERIC)
        parity = np.array(row.parity)
        assert parity.shape == (2, 2) and abs(np.linalg.det(parity)) == 1.0
        # either keywords are read or a fixed value is used, never both nor neither
        assert bool(row.gain_keywords) == (row.gain_default is None), key
        assert bool(row.rdnoise_keywords) == (row.rdnoise_default is None), key
        assert row.filter_keywords and all(isinstance(k, str) for k in row.filter_keywords)
        assert not (row.cte_by_chip and row.cte_by_amp), key
        assert {d for _, d in row.cte_by_chip + row.cte_by_amp} <= {-1, 0, 1}
        assert isinstance(row.time_extension, bool)
    instruments = dict.fromkeys(i for i, _ in ex.DETECTORS)
    assert ex.HST_DETECTORS == {i: tuple(d for j, d in ex.DETECTORS if j == i) for i in instruments}
    assert ex.HST_DETECTORS == {"ACS": ("WFC", "HRC", "SBC"), "WFC3": ("UVIS", "IR")}
    assert ex.PARITY == {k: row.parity for k, row in ex.DETECTORS.items()}
    for i in instruments:  # one filter rule per instrument
        assert {row.filter_keywords for (j, _), row in ex.DETECTORS.items() if j == i} \
            == {ex.FILTER_KEYWORDS[i]}


def test_a_new_detector_is_one_row(tmp_path, monkeypatch):
    """A row added to the table is all a new detector needs: its facts decide the reading."""
    from gpudrizzle import exposure as ex

    flt = write_flt(tmp_path, "iabc01xyq", instrument="WFC3", detector="UVIS",
                    primary_extra={"DETECTOR": "NEWCCD", "MYGAIN": 3.0, "MYRN": 5.5, "CCDAMP": "C"})
    with pytest.raises(ValueError, match="WFC3 detector 'NEWCCD' is not supported"):
        load_exposure(flt.path)
    row = ex.Detector("WFC3", "NEWCCD", parity=((1.0, 0.0), (0.0, 1.0)), gain_keywords="MYGAIN",
                      rdnoise_keywords="MYRN", filter_keywords=("FILTER",),
                      cte_by_amp=(("C", -1),))
    monkeypatch.setitem(ex.DETECTORS, row.key, row)
    e = load_exposure(flt.path)
    assert (e.instrument, e.detector, e.is_hst, e.filter) == ("WFC3", "NEWCCD", True, "F555W")
    assert [c.chip for c in e.chips] == [1, 2]
    for c in e.chips:
        assert (c.gain, c.rdnoise, c.cte_dir) == (3.0, 5.5, -1)
        assert c.parity == ((1.0, 0.0), (0.0, 1.0)) and c.time is None
    # fixed values instead of keywords, readout by chip, a TIME map wanted but absent
    row = ex.Detector("WFC3", "NEWCCD", gain_default=1.5, rdnoise_default=0.0,
                      cte_by_chip=((1, 1), (2, -1)), time_extension=True)
    monkeypatch.setitem(ex.DETECTORS, row.key, row)
    e = load_exposure(flt.path)
    assert [(c.gain, c.rdnoise, c.cte_dir) for c in e.chips] == [(1.5, 0.0, 1), (1.5, 0.0, -1)]
    assert all(c.parity == ((1.0, 0.0), (0.0, -1.0)) and c.time is None for c in e.chips)
