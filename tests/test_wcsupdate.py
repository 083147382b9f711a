"""gpudrizzle.wcsupdate: new chip WCSs from a TweakReg fit, written into headers as drizzlepac does.

Goldens: tests/golden/wcsupdate/wcsupdate_golden.json, made with drizzlepac 3.11 by
tests/golden/wcsupdate/make_wcsupdate_golden.py.
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import files, wcsupdate
from gpudrizzle.synthetic import write_flt

GOLDEN = json.loads((Path(__file__).parent / "golden" / "wcsupdate" /
                     "wcsupdate_golden.json").read_text())


def _reference():
    r = GOLDEN["reference"]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = r["crval"]
    w.wcs.crpix = r["crpix"]
    w.wcs.cd = r["cd"]
    w.pixel_shape = tuple(r["pixel_shape"])
    w.wcs.set()
    return w


def _golden_file(directory, rng):
    """The exposure drizzlepac updated: its headers from the golden, fresh random data."""
    hdus = [fits.PrimaryHDU(header=fits.Header.fromstring(GOLDEN["primary_header"], sep="\n"))]
    for text in GOLDEN["sci_headers"]:
        h = fits.Header.fromstring(text, sep="\n")
        shape = (h["NAXIS2"], h["NAXIS1"])
        extver = h["EXTVER"]
        hdus.append(fits.ImageHDU(rng.normal(size=shape).astype(np.float32), header=h))
        hdus.append(fits.ImageHDU(rng.random(shape).astype(np.float32),
                                  name="ERR", ver=extver))
        hdus.append(fits.ImageHDU(rng.integers(0, 512, shape).astype(np.int16),
                                  name="DQ", ver=extver))
    path = os.path.join(directory, "j9abc1xyq_flt.fits")
    fits.HDUList(hdus).writeto(path)
    return path


def _chip_wcs(header):
    w = WCS(header)
    w.pixel_shape = (header["NAXIS1"], header["NAXIS2"])
    return w


def _corner_error_px(cd_a, cd_b, shape, crpix, scale_deg):
    ny, nx = shape
    corners = np.array([[1, 1], [nx, 1], [1, ny], [nx, ny]], float) - crpix
    return np.abs(corners @ (np.asarray(cd_a) - np.asarray(cd_b)).T).max() / scale_deg


def _updates_for(path, case):
    ref = _reference()
    m, d = wcsupdate.from_drizzlepac_fit(case["fit"], case["xsh"], case["ysh"])
    out = {}
    with fits.open(path) as h:
        for i in (1, 2):
            out[("SCI", i)] = wcsupdate.corrected_linear_wcs(_chip_wcs(h["SCI", i].header),
                                                             ref, m, d)
    return out


def _snapshot(path):
    with fits.open(path) as h:
        return [(hdu.header.copy(), None if hdu.data is None else hdu.data.tobytes())
                for hdu in h]


# ---------------------------------------------------------------------------
# the fit convention and the linear WCS


def test_drizzlepac_fit_conversion_round_trip(rng):
    fit = np.eye(2) + rng.normal(scale=1e-3, size=(2, 2))
    xsh, ysh = rng.uniform(-5, 5, 2)
    m, d = wcsupdate.from_drizzlepac_fit(fit, xsh, ysh)
    # drizzlepac's statement: q = fit.T @ (qc - c) + c + (xsh, ysh); ours: qc = m @ (q - c) + c + d
    c = rng.uniform(100, 200, 2)
    qc = rng.uniform(0, 400, (5, 2))
    q = (qc - c) @ fit + c + [xsh, ysh]
    np.testing.assert_allclose((q - c) @ m.T + c + d, qc, rtol=0, atol=1e-10)
    fit2, x2, y2 = wcsupdate.to_drizzlepac_fit(m, d)
    np.testing.assert_allclose(fit2, fit, rtol=0, atol=1e-14)
    np.testing.assert_allclose([x2, y2], [xsh, ysh], rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", range(3), ids=["shift", "rscale", "general"])
def test_corrected_linear_wcs_matches_drizzlepac(case):
    golden = GOLDEN["fits"][case]
    ref = _reference()
    m, d = wcsupdate.from_drizzlepac_fit(golden["fit"], golden["xsh"], golden["ysh"])
    for text, chip in zip(GOLDEN["sci_headers"], golden["chips"]):
        h = fits.Header.fromstring(text, sep="\n")
        w = _chip_wcs(h)
        before = (w.wcs.crval.copy(), w.wcs.cd.copy())
        crval, cd = wcsupdate.corrected_linear_wcs(w, ref, m, d)
        np.testing.assert_array_equal(w.wcs.crval, before[0])  # input untouched
        np.testing.assert_array_equal(w.wcs.cd, before[1])
        # CRVAL: to double precision (1e-11 deg = 36 micro-arcsec)
        np.testing.assert_allclose(crval, chip["crval"], rtol=0, atol=1e-11)
        # CD: both are numerical derivatives with noise ~1e-9 relative (degrees of
        # RA ~150 carry 3e-14 deg); compare what it means at the chip corners
        err = _corner_error_px(cd, chip["cd"], (h["NAXIS2"], h["NAXIS1"]),
                               np.array([h["CRPIX1"], h["CRPIX2"]]), 0.05 / 3600)
        assert err < 1e-5
        # and the fit really moved the WCS: far more than that difference
        moved = _corner_error_px(cd, _chip_wcs(h).wcs.cd, (h["NAXIS2"], h["NAXIS1"]),
                                 np.array([h["CRPIX1"], h["CRPIX2"]]), 0.05 / 3600)
        if golden["fitgeom"] != "shift":
            assert moved > 1e-3


def test_corrected_linear_wcs_recovers_injected_error(rng):
    """Analytic truth: a chip WCS perturbed in the reference plane, then corrected back."""
    ref = _reference()
    path = write_flt(os.environ.get("TMPDIR", "/tmp"), f"j9t{rng.integers(1e6):06d}q",
                     chip_shape=(200, 400), orient=17.0).path
    try:
        with fits.open(path) as h:
            true = _chip_wcs(h["SCI", 1].header)
    finally:
        os.remove(path)
    ang = np.deg2rad(rng.uniform(-0.02, 0.02))
    s = 1 + rng.uniform(-1e-4, 1e-4)
    m = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    d = rng.uniform(-2, 2, 2)
    # a wrong WCS: positions it gives, corrected by the inverse fit, are the truth
    minv = np.linalg.inv(m)
    crval_bad, cd_bad = wcsupdate.corrected_linear_wcs(true, ref, minv, -minv @ d)
    bad = true.deepcopy()
    bad.wcs.crval, bad.wcs.cd = crval_bad, cd_bad
    bad.wcs.set()
    crval, cd = wcsupdate.corrected_linear_wcs(bad, ref, m, d)
    fixed = true.deepcopy()
    fixed.wcs.crval, fixed.wcs.cd = crval, cd
    fixed.wcs.set()
    pix = rng.uniform(0, [400, 200], (50, 2))
    a = ref.all_world2pix(true.all_pix2world(pix, 0), 0)
    b = ref.all_world2pix(fixed.all_pix2world(pix, 0), 0)
    c = ref.all_world2pix(bad.all_pix2world(pix, 0), 0)
    assert np.abs(c - a).max() > 0.3  # the injected error is there
    assert np.abs(b - a).max() < 1e-4


def test_corrected_linear_wcs_bad_input():
    ref = _reference()
    w = _chip_wcs(fits.Header.fromstring(GOLDEN["sci_headers"][0], sep="\n"))
    with pytest.raises(ValueError, match="matrix must be a finite 2x2"):
        wcsupdate.corrected_linear_wcs(w, ref, np.eye(3), (0, 0))
    with pytest.raises(ValueError, match="singular"):
        wcsupdate.corrected_linear_wcs(w, ref, np.zeros((2, 2)), (0, 0))
    with pytest.raises(ValueError, match="shift must be 2 finite"):
        wcsupdate.corrected_linear_wcs(w, ref, np.eye(2), (0, np.nan))
    w.pixel_shape = None
    with pytest.raises(ValueError, match="pixel_shape"):
        wcsupdate.corrected_linear_wcs(w, ref, np.eye(2), (0, 0))


def test_wcsname_type():
    assert wcsupdate.wcsname_type("TWEAK") == "user-defined"
    assert wcsupdate.wcsname_type("IDC_4bb1536oj") == "undistorted not aligned"
    assert wcsupdate.wcsname_type("IDC_4bb1536oj-GSC240") == \
        "undistorted a priori solution based on GSC240"
    assert wcsupdate.wcsname_type("IDC_x-FIT_REL_GAIADR3") == \
        "undistorted a posteriori solution relatively aligned to GAIADR3"
    assert wcsupdate.wcsname_type("OPUS") == "pipeline default not aligned"


# ---------------------------------------------------------------------------
# header updates


def _cards(header):
    return [(c.keyword, c.value) for c in header.cards]


def test_update_headers_matches_drizzlepac(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    runs = GOLDEN["header_updates"]["runs"]
    case = GOLDEN["fits"][GOLDEN["header_updates"]["fit_case"]]
    rms = (GOLDEN["header_updates"]["xrms"], GOLDEN["header_updates"]["yrms"])
    before = _snapshot(path)
    for n, run in enumerate(runs):
        updates = _updates_for(path, case)
        wcsupdate.update_headers(path, updates, wcsname=run["wcsname"],
                                 keywords={"RMS_RA": rms[0], "RMS_DEC": rms[1], "NMATCH": 17})
        with fits.open(path) as h:
            assert [x.name for x in h] == run["extensions"]
            for i, golden_cards in zip((1, 2), run["sci"]):
                got = h["SCI", i].header
                want = dict((k, v) for k, v, _ in golden_cards)
                # the alternate WCS cards drizzlepac wrote, with their values
                alt = [k for k, _, _ in golden_cards
                       if len(k) > 1 and k[-1] in "AB" and k[:-1] in
                       ("WCSNAME", "WCSAXES", "CRPIX1", "CRPIX2", "CUNIT1", "CUNIT2",
                        "CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "RADESYS", "CD1_1", "CD1_2",
                        "CD2_1", "CD2_2", "CRDER1", "CRDER2", "WCSTYPE")]
                assert alt, "the golden has alternate WCSs"
                got_alt = [c.keyword for c in got.cards if c.keyword in want and
                           c.keyword[-1] in "AB" and c.keyword in alt]
                assert got_alt == alt  # same cards, same order
                for k in alt + ["WCSNAME", "WCSTYPE", "CTYPE1", "CTYPE2", "CRDER1",
                                "CRDER2"]:
                    if isinstance(want[k], float):
                        assert got[k] == pytest.approx(want[k], rel=1e-10, abs=1e-12), k
                    else:
                        assert got[k] == want[k], k
                for k in ("CRVAL1", "CRVAL2"):
                    assert got[k] == pytest.approx(want[k], rel=0, abs=1e-10)
                cd = np.array([[got["CD1_1"], got["CD1_2"]], [got["CD2_1"], got["CD2_2"]]])
                cdw = np.array([[want["CD1_1"], want["CD1_2"]], [want["CD2_1"], want["CD2_2"]]])
                assert _corner_error_px(cd, cdw, (64, 128), np.array([64.5, 32.5]),
                                        0.05 / 3600) < 1e-5
                assert got["ORIENTAT"] == pytest.approx(want["ORIENTAT"], abs=1e-6)  # CD noise
                # TweakReg's fit keywords, right after WCSTYPE, in its order
                keys = list(got.keys())
                j = keys.index("WCSTYPE")
                assert keys[j + 1:j + 5] == ["FITNAME", "NMATCH", "RMS_DEC", "RMS_RA"]
                assert got["FITNAME"] == run["wcsname"] and got["NMATCH"] == 17
                assert got["RMS_RA"] == rms[0] and got["RMS_DEC"] == rms[1]
                if n == 1:  # the TWEAK solution archived with its fit keywords
                    assert got["FITNAMEB"] == "TWEAK" and got["NMATCHB"] == 17
    # data untouched, and every other card of every header
    after = _snapshot(path)
    written = {"CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "WCSNAME", "WCSTYPE",
               "ORIENTAT", "CRDER1", "CRDER2", "FITNAME", "RMS_RA", "RMS_DEC", "NMATCH"}
    for (hb, db), (ha, da) in zip(before, after):
        assert db == da
        new_alt = {k for k in ha.keys() if k not in hb} - written
        assert {k for k in new_alt if k[-1] not in "AB"} == set()
        kept_b = [c.image for c in hb.cards if c.keyword not in written]
        kept_a = [c.image for c in ha.cards if c.keyword not in written | new_alt]
        assert kept_a == kept_b


def test_update_headers_no_wcsname_archives_as_pre_tweakreg(tmp_path, rng):
    path = write_flt(str(tmp_path), "j9abc2xyq").path
    before = _snapshot(path)
    updates = {}
    with fits.open(path) as h:
        for i in (1, 2):
            w = _chip_wcs(h["SCI", i].header)
            updates[("SCI", i)] = wcsupdate.corrected_linear_wcs(
                w, _reference(), np.eye(2), rng.uniform(-1, 1, 2))
    wcsupdate.update_headers(path, updates)
    with fits.open(path) as h:
        for i in (1, 2):
            hdr = h["SCI", i].header
            old = before[3 * i - 2][0]
            assert hdr["WCSNAMEA"] == "PRE-TWEAKREG" and hdr["WCSNAME"] == "TWEAK"
            assert hdr["CRVAL1A"] == pytest.approx(old["CRVAL1"], rel=1e-13)
            assert hdr["CTYPE1A"] == "RA---TAN-SIP"
            np.testing.assert_allclose([hdr["CRVAL1"], hdr["CRVAL2"]], updates[("SCI", i)][0],
                                       rtol=0, atol=1e-12)
            assert hdr["CD2_1"] == pytest.approx(updates[("SCI", i)][1][1, 0], rel=1e-14)
            assert "FITNAME" not in hdr  # no fit keywords given
            # the archived WCS reads back as the old one
            wa = WCS(hdr, h, key="A")
            wo = WCS(old, h)
            pix = rng.uniform(0, 60, (10, 2))
            np.testing.assert_allclose(wa.all_pix2world(pix, 0), wo.all_pix2world(pix, 0),
                                       rtol=0, atol=1e-11)


def test_update_headers_refuses_existing_name(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    updates = _updates_for(path, GOLDEN["fits"][0])
    wcsupdate.update_headers(path, updates, wcsname="TWEAK")
    raw = Path(path).read_bytes()
    with pytest.raises(ValueError, match=r"j9abc1xyq_flt.fits\[SCI,1\]: WCSNAME 'tweak' is "
                                         r"already the primary WCS name \('TWEAK'\)"):
        wcsupdate.update_headers(path, updates, wcsname="tweak")
    with pytest.raises(ValueError, match=r"\[SCI,1\]: WCSNAME 'IDC_4bb1536oj' is already used "
                                         "by the alternate WCS A"):
        wcsupdate.update_headers(path, updates, wcsname="IDC_4bb1536oj")
    assert Path(path).read_bytes() == raw


def test_update_headers_reusename_overwrites_primary(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    first = _updates_for(path, GOLDEN["fits"][0])
    wcsupdate.update_headers(path, first, wcsname="TWEAK")
    with fits.open(path) as h:
        n_cards = len(h["SCI", 1].header)
    second = {k: (np.asarray(c) + 1e-7, cd) for k, (c, cd) in first.items()}
    wcsupdate.update_headers(path, second, wcsname="TWEAK", reusename=True)
    with fits.open(path) as h:
        hdr = h["SCI", 1].header
        assert len(hdr) == n_cards  # nothing archived
        assert "WCSNAMEB" not in hdr and hdr["WCSNAMEA"] == "IDC_4bb1536oj"
        assert hdr["CRVAL1"] == second[("SCI", 1)][0][0]


def test_update_headers_reusename_alternate_name(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    updates = _updates_for(path, GOLDEN["fits"][0])
    wcsupdate.update_headers(path, updates, wcsname="TWEAK")
    wcsupdate.update_headers(path, updates, wcsname="IDC_4bb1536oj", reusename=True)
    with fits.open(path) as h:
        hdr = h["SCI", 2].header
        assert hdr["WCSNAME"] == "IDC_4bb1536oj"
        assert hdr["WCSNAMEA"] == "IDC_4bb1536oj" and hdr["WCSNAMEB"] == "TWEAK"


def test_archive_auto_rename_and_identical_key_reuse(tmp_path, rng):
    """stwcs AUTO_RENAME: the primary's name taken by a different alternate -> NAME-1."""
    path = _golden_file(str(tmp_path), rng)
    with fits.open(path, mode="update") as h:  # an alternate A with the primary's name, other CRVAL
        for i in (1, 2):
            hdr = h["SCI", i].header
            hdr["WCSNAMEA"] = hdr["WCSNAME"]
            hdr["CTYPE1A"], hdr["CTYPE2A"] = hdr["CTYPE1"], hdr["CTYPE2"]
            hdr["CRPIX1A"], hdr["CRPIX2A"] = hdr["CRPIX1"], hdr["CRPIX2"]
            hdr["CRVAL1A"], hdr["CRVAL2A"] = hdr["CRVAL1"] + 1e-4, hdr["CRVAL2"]
            for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
                hdr[k + "A"] = hdr[k]
    updates = _updates_for(path, GOLDEN["fits"][0])
    wcsupdate.update_headers(path, updates, wcsname="TWEAK")
    with fits.open(path) as h:
        hdr = h["SCI", 1].header
        assert hdr["WCSNAMEB"] == "IDC_4bb1536oj-1"
        assert hdr["WCSNAMEA"] == "IDC_4bb1536oj"
    assert wcsupdate._increment_name("IDC", ["IDC_A"]) == "IDC"
    assert wcsupdate._increment_name("IDC", ["IDC_A", "IDC"]) == "IDC-1"
    assert wcsupdate._increment_name("IDC", ["IDC_A", "IDC", "IDC-1"]) == "IDC-2"
    assert wcsupdate._increment_name("IDC-1", ["IDC_A", "IDC", "IDC-1"]) == "IDC-2"
    assert wcsupdate._increment_name("IDC-2", ["IDC_A", "IDC", "IDC-1"]) == "IDC-2"
    assert wcsupdate._increment_name("IDC_A", ["IDC_A", "IDC", "IDC-1"]) == "IDC_A-1"


# ---------------------------------------------------------------------------
# faults: the original stays byte for byte as it was


def test_update_headers_failure_midway_leaves_original(tmp_path, rng, monkeypatch):
    path = _golden_file(str(tmp_path), rng)
    raw = Path(path).read_bytes()
    updates = _updates_for(path, GOLDEN["fits"][1])
    calls = []
    real = wcsupdate._archive_primary

    def failing(header, hdul, label):
        calls.append(label)
        if len(calls) == 2:  # the first chip done, the second fails
            raise OSError("simulated write failure")
        return real(header, hdul, label)

    monkeypatch.setattr(wcsupdate, "_archive_primary", failing)
    with pytest.raises(OSError, match="simulated"):
        wcsupdate.update_headers(path, updates)
    assert len(calls) == 2
    assert Path(path).read_bytes() == raw
    assert sorted(os.listdir(tmp_path)) == ["j9abc1xyq_flt.fits"]  # no temporary left


def test_update_headers_failure_while_publishing(tmp_path, rng, monkeypatch):
    path = _golden_file(str(tmp_path), rng)
    raw = Path(path).read_bytes()
    updates = _updates_for(path, GOLDEN["fits"][1])

    def no_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_replace)
    with pytest.raises(OSError, match="No space left on device while writing"):
        wcsupdate.update_headers(path, updates)
    monkeypatch.undo()
    assert Path(path).read_bytes() == raw
    assert sorted(os.listdir(tmp_path)) == ["j9abc1xyq_flt.fits"]


def test_update_headers_read_only_and_missing(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    raw = Path(path).read_bytes()
    updates = _updates_for(path, GOLDEN["fits"][0])
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    try:
        with pytest.raises(PermissionError, match="j9abc1xyq_flt.fits: the file is read-only"):
            wcsupdate.update_headers(path, updates)
    finally:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    assert Path(path).read_bytes() == raw
    with pytest.raises(FileNotFoundError, match="nothere.fits: no such file"):
        wcsupdate.update_headers(str(tmp_path / "nothere.fits"), updates)
    with pytest.raises(KeyError, match=r"no extension SCI,3"):
        wcsupdate.update_headers(path, {**updates, ("SCI", 3): updates[("SCI", 1)]})
    assert Path(path).read_bytes() == raw


def test_update_headers_keeps_file_mode(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    os.chmod(path, 0o640)
    wcsupdate.update_headers(path, _updates_for(path, GOLDEN["fits"][0]))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_update_headers_bad_arguments(tmp_path, rng):
    path = _golden_file(str(tmp_path), rng)
    raw = Path(path).read_bytes()
    good = _updates_for(path, GOLDEN["fits"][0])
    with pytest.raises(ValueError, match="non-empty dict"):
        wcsupdate.update_headers(path, {})
    with pytest.raises(ValueError, match=r"must be \(EXTNAME, EXTVER\)"):
        wcsupdate.update_headers(path, {1: good[("SCI", 1)]})
    with pytest.raises(ValueError, match=r"cd \(2, 2\)"):
        wcsupdate.update_headers(path, {("SCI", 1): ((0, 0), np.eye(3))})
    with pytest.raises(ValueError, match="must be finite"):
        wcsupdate.update_headers(path, {("SCI", 1): ((np.nan, 0), np.eye(2))})
    with pytest.raises(ValueError, match="unknown fit keyword"):
        wcsupdate.update_headers(path, good, keywords={"RMS_RA": 1, "RMS_DEC": 1, "NMATCH": 1,
                                                       "FOO": 2})
    with pytest.raises(ValueError, match="NMATCH must be an integer"):
        wcsupdate.update_headers(path, good, keywords={"RMS_RA": 1, "RMS_DEC": 1,
                                                       "NMATCH": 1.5})
    assert Path(path).read_bytes() == raw


def test_archive_twice_reuses_identical_key():
    """stwcs 3.11 archive_wcs twice on this header (AUTO_RENAME) leaves only
    WCSNAMEA = 'IDC_4bb1536oj-1': the identical alternate's key is reused, renamed."""
    h = fits.Header.fromstring(GOLDEN["sci_headers"][0], sep="\n")
    hdul = fits.HDUList([fits.PrimaryHDU()])
    assert wcsupdate._archive_primary(h, hdul, "x") == ("A", "IDC_4bb1536oj")
    n = len(h)
    assert wcsupdate._archive_primary(h, hdul, "x") == ("A", "IDC_4bb1536oj-1")
    names = {k: v for k, v in h.items() if k.startswith("WCSNAME")}
    assert names == {"WCSNAME": "IDC_4bb1536oj", "WCSNAMEA": "IDC_4bb1536oj-1"}
    assert len(h) == n  # replaced, not added


def test_compressed_file_refused_untouched(tmp_path):
    import gzip

    path = tmp_path / "x_flt.fits.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"SIMPLE  =                    T" + b" " * 2850)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="compressed"):
        wcsupdate.update_headers(path, {("SCI", 1): (np.zeros(2), np.eye(2))})
    assert path.read_bytes() == before


def test_archiving_works_after_nvrtc_is_loaded(tmp_path):
    """With libnvrtc loaded in the process (every cuda run) astropy can no longer reset a
    Wcsprm's alt key; archiving must not depend on it."""
    from gpudrizzle.backends import nvrtc

    if nvrtc.unavailable_reason():
        pytest.skip(f"NVRTC not available: {nvrtc.unavailable_reason()}")
    nvrtc.compile_source("stats.cu", "sm_80")
    path = write_flt(tmp_path, "j9nv01aaq", chip_shape=(40, 60)).path
    h = fits.getheader(path, ("SCI", 1))
    crval = np.array([h["CRVAL1"], h["CRVAL2"]])
    cd = np.array([[h["CD1_1"], h["CD1_2"]], [h["CD2_1"], h["CD2_2"]]])
    wcsupdate.update_headers(path, {("SCI", k): (crval + 1e-6, cd) for k in (1, 2)},
                             wcsname="AFTERNVRTC")
    h = fits.getheader(path, ("SCI", 1))
    assert h["WCSNAME"] == "AFTERNVRTC"
    keys = [k for k in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if f"CRVAL1{k}" in h]
    assert keys and h[f"CRVAL1{keys[0]}"] == crval[0]
