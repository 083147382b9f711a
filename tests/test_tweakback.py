"""gpudrizzle.tweakback: a drizzled image's WCS change carried back to its input exposures.

Oracle (analytic): a chip pixel sent through the chip's old WCS (with its distortion) to
the sky, into the original drizzled frame and out of the tweaked one must land where the
chip's new WCS puts that pixel.  The per-chip math is also checked against drizzlepac
3.11's ``update_chip_wcs`` (tests/golden/tweakback/make_golden.py).
"""

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from gpudrizzle import astrodrizzle, cli, tweakback, wcsupdate
from gpudrizzle.tweakback import WCSNotFoundError, apply_tweak, tweaked_chip_wcs

from hstdata import file_hashes, write_dither_set

GOLDEN = Path(__file__).parent / "golden" / "tweakback" / "golden.json"
#: how closely the new chip WCS must reproduce the tweaked frame (chip pixels)
TOL_PX = 1e-5
#: the same over a full 4096x2051 WFC3/UVIS chip up to ~150" from the drizzled frame's
#: tangent point: moving that tangent point (CRVAL) by d is not a linear map in the chip's
#: plane; its second-order term is ~ d * r**2 (3.5e-6 rad * (7e-4 rad)**2 ~ 1e-5 px here),
#: which no linear chip WCS (drizzlepac's included) can take up
TOL_REAL_PX = 5e-5


def _rotation(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _chip_wcss(path):
    """{(EXTNAME, EXTVER): full WCS (SIP, lookup tables)} of the SCI chips of ``path``."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path) as hdul:
            for h in hdul:
                if h.name == "SCI":
                    w = WCS(h.header, hdul)
                    w.pixel_shape = (h.header["NAXIS1"], h.header["NAXIS2"])
                    out[(h.name, h.ver)] = w
    return out


def _drz_wcs(path, key=" ", ext=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(path) as hdul:
            return WCS(hdul[ext].header, key=key)


def _grid(shape, n=9):
    xs = np.linspace(0.0, shape[0] - 1.0, n)
    ys = np.linspace(0.0, shape[1] - 1.0, n)
    xx, yy = np.meshgrid(xs, ys)
    return np.column_stack([xx.ravel(), yy.ravel()])


def _misfit(old, new, orig, tweaked, shape=None):
    """Largest distance (chip pixels) between where the tweaked frame puts a chip pixel
    (old chip WCS -> sky -> original drizzled pixel -> tweaked sky) and the new chip WCS."""
    p = _grid(shape or old.pixel_shape)
    sky = tweaked.all_pix2world(orig.all_world2pix(old.all_pix2world(p, 0), 0), 0)
    q = new.all_world2pix(sky, 0, tolerance=1e-12, maxiter=100)
    return float(np.max(np.hypot(*(q - p).T)))


def _tweak_drz(drz, rng, ext=1, deg=None, scale=None, shift=None, keywords=True):
    """Archive the drizzled image's WCS as 'DRZ_ORIG' and give it a changed primary WCS
    'DRZ_TWEAKED' (as TweakReg would): returns (rotation deg, scale, CRVAL shift deg)."""
    deg = rng.uniform(-0.2, 0.2) if deg is None else deg
    scale = 1.0 + rng.uniform(-5e-4, 5e-4) if scale is None else scale
    shift = rng.uniform(-3e-4, 3e-4, 2) if shift is None else np.asarray(shift)
    with fits.open(drz, mode="update") as hdul:
        hdul[ext].header["WCSNAME"] = "DRZ_ORIG"
        name = hdul[ext].name
        ver = hdul[ext].ver
    w = _drz_wcs(drz, ext=ext)
    cd = scale * _rotation(deg) @ w.wcs.cd
    kw = {"RMS_RA": 1.5e-6, "RMS_DEC": 2.5e-6, "NMATCH": 17} if keywords else None
    wcsupdate.update_headers(drz, {(name, ver): (w.wcs.crval + shift, cd)},
                             wcsname="DRZ_TWEAKED", keywords=kw)
    return deg, scale, shift


@pytest.fixture
def product(tmp_path, rng):
    """Two dithered two-chip exposures drizzled into tmp/final_drz.fits, then tweaked."""
    seed = int(rng.integers(1 << 30))
    write_dither_set(tmp_path, n=2, chip_shape=(64, 128), n_stars=5, seed=seed,
                     orient=float(rng.uniform(0, 360)))
    flts = sorted(str(p) for p in tmp_path.glob("*_flt.fits"))
    astrodrizzle.AstroDrizzle(flts, output=str(tmp_path / "final"), backend="numpy", runfile="",
                              build=True, driz_cr=False, median=False, blot=False,
                              driz_separate=False, static=False, skysub=False)
    drz = str(tmp_path / "final_drz.fits")
    old = {f: _chip_wcss(f) for f in flts}
    before = _drz_wcs(drz)
    _tweak_drz(drz, rng)
    orig = _drz_wcs(drz, key="A")  # the archived WCS (as written: 13 significant digits)
    np.testing.assert_allclose(orig.wcs.crval, before.wcs.crval, rtol=0, atol=1e-9)
    np.testing.assert_allclose(orig.wcs.cd, before.wcs.cd, rtol=1e-12)
    return drz, flts, old, orig


# ---------------------------------------------------------------------------
# the math


def _tan(d):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cd = d["crval"], d["crpix"], d["cd"]
    w.wcs.set()
    w.pixel_shape = tuple(d["naxis"])
    return w


def test_chip_wcs_matches_drizzlepac_golden():
    cases = json.loads(GOLDEN.read_text())["cases"]
    assert len(cases) == 4
    for c in cases:
        crval, cd = tweaked_chip_wcs(_tan(c["chip"]), _tan(c["orig"]), _tan(c["tweaked"]))
        assert np.abs(crval - c["crval"]).max() < 1e-11
        np.testing.assert_allclose(cd, c["cd"], rtol=1e-12, atol=0)
        # and the golden differs from doing nothing
        assert np.abs(np.asarray(c["crval"]) - c["chip"]["crval"]).max() > 1e-6


def test_chip_wcs_analytic(rng):
    chip = _tan({"crval": [rng.uniform(0, 360), rng.uniform(-80, 80)], "crpix": [2048.0, 1024.0],
                 "cd": (0.05 / 3600 * _rotation(rng.uniform(0, 360)) @ np.diag([-1, 1])).tolist(),
                 "naxis": [4096, 2048]})
    orig = chip.deepcopy()
    orig.wcs.crpix = [3000.5, 2800.5]
    orig.wcs.cd = 0.05 / 3600 * np.diag([-1.0, 1.0])
    orig.wcs.set()
    tweaked = orig.deepcopy()
    tweaked.wcs.cd = 1.0003 * _rotation(rng.uniform(-0.5, 0.5)) @ orig.wcs.cd
    tweaked.wcs.crval = orig.wcs.crval + rng.uniform(-5e-4, 5e-4, 2)
    tweaked.wcs.set()
    crval, cd = tweaked_chip_wcs(chip, orig, tweaked)
    new = chip.deepcopy()
    new.wcs.crval, new.wcs.cd = crval, cd
    new.wcs.set()
    assert _misfit(chip, new, orig, tweaked) < TOL_PX
    assert _misfit(chip, chip, orig, tweaked) > 1.0  # the change is real


def test_chip_wcs_pc_cdelt_same_as_cd(rng):
    cd = 0.04 / 3600 * _rotation(rng.uniform(0, 360)) @ np.diag([-1.0, 1.0])
    base = {"crval": [210.0, 54.0], "crpix": [512.0, 512.0], "cd": cd.tolist(),
            "naxis": [1024, 1024]}
    a = _tan(base)
    b = WCS(naxis=2)
    b.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    b.wcs.crval, b.wcs.crpix = base["crval"], base["crpix"]
    b.wcs.cdelt = [0.04 / 3600, 0.04 / 3600]
    b.wcs.pc = cd / (0.04 / 3600)
    b.wcs.set()
    b.pixel_shape = (1024, 1024)
    orig = _tan({**base, "crpix": [600.0, 500.0]})
    tweaked = orig.deepcopy()
    tweaked.wcs.cd = _rotation(0.1) @ orig.wcs.cd
    tweaked.wcs.set()
    ra, rb = tweaked_chip_wcs(a, orig, tweaked), tweaked_chip_wcs(b, orig, tweaked)
    np.testing.assert_allclose(rb[0], ra[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(rb[1], ra[1], rtol=1e-12)


def test_chip_wcs_needs_shape():
    w = _tan({"crval": [1.0, 2.0], "crpix": [5.0, 5.0], "cd": np.eye(2).tolist() * 1,
              "naxis": [10, 10]})
    w.pixel_shape = None
    with pytest.raises(ValueError, match="pixel_shape"):
        tweaked_chip_wcs(w, w, w)


# ---------------------------------------------------------------------------
# apply_tweak on a drizzled product


def test_apply_tweak_carries_the_change_back(product, capsys):
    drz, flts, old, orig = product
    tweaked = _drz_wcs(drz)
    data_before = {f: [h.data.copy() for h in fits.open(f) if h.data is not None] for f in flts}
    others_before = {f: {(h.name, h.ver): h.header.tostring() for h in fits.open(f)
                         if h.name != "SCI"} for f in flts}
    out = apply_tweak(drz, "DRZ_ORIG")  # inputs from D###DATA (names relative to the drz)
    assert out == flts
    text = capsys.readouterr().out
    assert "*** 'apply_tweak' version" in text
    assert "* Setting 'output_wcs_name' to 'DRZ_TWEAKED'" in text
    assert "      CTYPE : 'RA---TAN-SIP' 'DEC--TAN-SIP'" in text
    assert "Using WCS with WCSNAME 'DRZ_TWEAKED' (WCS key ' ') for 'tweaked_wcs_name'" in text
    for f in flts:
        assert f"  - Updated '{f}', extensions: 'SCI',1; 'SCI',2" in text
        new = _chip_wcss(f)
        assert set(new) == {("SCI", 1), ("SCI", 2)}
        for ext, w_old in old[f].items():
            assert _misfit(w_old, new[ext], orig, tweaked) < TOL_PX
            assert _misfit(w_old, w_old, orig, tweaked) > 0.05  # the change was there to carry
            np.testing.assert_array_equal(new[ext].sip.a, w_old.sip.a)  # distortion kept
            np.testing.assert_array_equal(new[ext].wcs.crpix, w_old.wcs.crpix)
        with fits.open(f) as hdul:
            for ext, w_old in old[f].items():
                h = hdul[ext].header
                # the previous primary WCS archived (it had no WCSNAME: TweakReg's name)
                assert h["WCSNAMEA"] == "PRE-TWEAKREG"
                np.testing.assert_allclose([h["CRVAL1A"], h["CRVAL2A"]], w_old.wcs.crval,
                                           rtol=0, atol=1e-10)
                assert h["CD1_2A"] == pytest.approx(w_old.wcs.cd[0, 1], rel=1e-12)
                assert h["CTYPE1A"] == "RA---TAN-SIP"
                assert h["WCSNAME"] == "DRZ_TWEAKED" and h["WCSTYPE"] == "user-defined"
                assert h["ORIENTAT"] == pytest.approx(
                    np.rad2deg(np.arctan2(h["CD1_2"], h["CD2_2"])), abs=1e-9)
                # the drizzled image's fit keywords come along
                assert (h["RMS_RA"], h["RMS_DEC"], h["NMATCH"]) == (1.5e-6, 2.5e-6, 17)
                assert (h["CRDER1"], h["CRDER2"]) == (1.5e-6, 2.5e-6)
                assert h["FITNAME"] == "DRZ_TWEAKED"
            data = [h.data for h in hdul if h.data is not None]
            for a, b in zip(data, data_before[f]):
                np.testing.assert_array_equal(a, b)
            assert {(h.name, h.ver): h.header.tostring() for h in hdul
                    if h.name != "SCI"} == others_before[f]


def test_apply_tweak_named_inputs_and_extensions(product):
    drz, flts, old, orig = product
    before = fits.getheader(flts[1], ("SCI", 2)).tostring()
    apply_tweak(drz, "DRZ_ORIG", output_wcs_name="MY_TWEAK",
                input_files=f"{flts[0]}, {flts[1]}[sci,1]")
    tweaked = _drz_wcs(drz)
    new0, new1 = _chip_wcss(flts[0]), _chip_wcss(flts[1])
    assert fits.getval(flts[0], "WCSNAME", ("SCI", 2)) == "MY_TWEAK"
    assert _misfit(old[flts[1]][("SCI", 1)], new1[("SCI", 1)], orig, tweaked) < TOL_PX
    assert _misfit(old[flts[0]][("SCI", 2)], new0[("SCI", 2)], orig, tweaked) < TOL_PX
    assert fits.getheader(flts[1], ("SCI", 2)).tostring() == before  # not asked for


def test_apply_tweak_by_key_and_atfile(product, tmp_path):
    drz, flts, old, orig = product
    listfile = tmp_path / "inputs.lst"
    listfile.write_text("# inputs\n" + "\n".join(flts) + "\n")
    apply_tweak(drz, None, orig_wcs_key="A", tweaked_wcs_key=" ", input_files=f"@{listfile}")
    tweaked = _drz_wcs(drz)
    for f in flts:
        new = _chip_wcss(f)
        for ext, w in old[f].items():
            assert _misfit(w, new[ext], orig, tweaked) < TOL_PX


def test_apply_tweak_separate_sci_file(tmp_path, rng):
    write_dither_set(tmp_path, n=2, chip_shape=(64, 128), n_stars=5,
                     seed=int(rng.integers(1 << 30)))
    flts = sorted(str(p) for p in tmp_path.glob("*_flt.fits"))
    astrodrizzle.AstroDrizzle(flts, output=str(tmp_path / "sep"), backend="numpy", runfile="",
                              driz_cr=False, median=False, blot=False, driz_separate=False,
                              static=False, skysub=False)
    drz = str(tmp_path / "sep_drz_sci.fits")
    old = {f: _chip_wcss(f) for f in flts}
    _tweak_drz(drz, rng, ext=0, keywords=False)
    orig = _drz_wcs(drz, key="A", ext=0)
    apply_tweak(drz, "DRZ_ORIG")  # the image is in the primary HDU
    tweaked = _drz_wcs(drz, ext=0)
    for f in flts:
        new = _chip_wcss(f)
        for ext, w in old[f].items():
            assert _misfit(w, new[ext], orig, tweaked) < TOL_PX
        assert "RMS_RA" not in fits.getheader(f, 1)


# ---------------------------------------------------------------------------
# errors leave every input as it was


@pytest.mark.parametrize("call, error, match", [
    (lambda d, f: apply_tweak(d, "NO_SUCH_WCS"), WCSNotFoundError, "'NO_SUCH_WCS' not found"),
    (lambda d, f: apply_tweak(d, None, orig_wcs_key="Q"), WCSNotFoundError, "key 'Q'"),
    (lambda d, f: apply_tweak(d, None, orig_wcs_key="AB"), ValueError, "orig_wcs_key"),
    (lambda d, f: apply_tweak(d, None), ValueError, "orig_wcs_name' or 'orig_wcs_key"),
    (lambda d, f: apply_tweak(d, "DRZ_TWEAKED"), ValueError, "same WCS"),
    (lambda d, f: apply_tweak(d, "DRZ_ORIG", tweaked_wcs_name="NOPE"), KeyError, "'NOPE'"),
    (lambda d, f: apply_tweak(d, "DRZ_ORIG", input_files=f"{f[0]},{f[0]}.missing"),
     FileNotFoundError, "missing"),
    (lambda d, f: apply_tweak(d, "DRZ_ORIG", input=f[0]), TypeError, "input_files"),
    (lambda d, f: apply_tweak(d, "DRZ_ORIG", default_extname=3), TypeError, "default_extname"),
    (lambda d, f: apply_tweak(d + ".missing", "DRZ_ORIG"), FileNotFoundError, "missing"),
    (lambda d, f: apply_tweak(d, "DRZ_ORIG", reusename="no"), TypeError,
     "'reusename' must be True or False; got 'no'"),
    (lambda d, f: tweakback.tweakback(d, origwcs="DRZ_ORIG", force="yes"), TypeError,
     "'force' must be True or False"),
    (lambda d, f: apply_tweak(d + "[sci,7]", "DRZ_ORIG"), ValueError, r"no extension \[SCI,7\]"),
    (lambda d, f: apply_tweak(d + "[wht,1]", "DRZ_ORIG"), ValueError, "at least two valid WCS"),
])
@pytest.mark.filterwarnings("ignore:The tweakback function is deprecated:DeprecationWarning")
def test_errors_change_nothing(product, call, error, match):
    drz, flts, _, _ = product
    hashes = file_hashes(flts + [drz])
    with pytest.raises(error, match=match):
        call(drz, flts)
    assert file_hashes(flts + [drz]) == hashes


def test_existing_output_name_needs_reusename(product):
    drz, flts, old, orig = product
    apply_tweak(drz, "DRZ_ORIG")
    hashes = file_hashes(flts)
    with pytest.raises(ValueError, match="DRZ_TWEAKED.*reusename"):
        apply_tweak(drz, "DRZ_ORIG")
    assert file_hashes(flts) == hashes
    # one input already holding the name as an alternate WCS: neither file is updated
    with fits.open(flts[1], mode="update") as hdul:
        hdul[("SCI", 1)].header["WCSNAMEA"] = "AGAIN"
    hashes = file_hashes(flts)
    with pytest.raises(ValueError, match="AGAIN"):
        apply_tweak(drz, "DRZ_ORIG", output_wcs_name="AGAIN")
    assert file_hashes(flts) == hashes
    # reusename: the primary WCS of that name is overwritten, not archived again
    apply_tweak(drz, "DRZ_ORIG", reusename=True)
    assert file_hashes(flts) != hashes
    assert "WCSNAMEB" not in fits.getheader(flts[0], 1)


def test_read_only_input_refused(product):
    drz, flts, _, _ = product
    os.chmod(flts[1], 0o444)
    hashes = file_hashes(flts)
    with pytest.raises(PermissionError, match="read-only"):
        apply_tweak(drz, "DRZ_ORIG")
    assert file_hashes(flts) == hashes


def test_no_inputs_recorded(product):
    drz, flts, _, _ = product
    with fits.open(drz, mode="update") as hdul:
        for card in list(hdul[0].header["D???DATA"]):
            del hdul[0].header[card]
    hashes = file_hashes(flts)
    with pytest.raises(ValueError, match="D###DATA"):
        apply_tweak(drz, "DRZ_ORIG")
    assert file_hashes(flts) == hashes


# ---------------------------------------------------------------------------
# real distorted headers (SIP and lookup tables)


def test_real_wfc3_headers(shared_data, tmp_path, rng):
    flts = []
    for name in ("wfc3_sample_ipppssoot_flc.fits", "wfc3_sample_ipppssoot_flt.fits"):
        dst = tmp_path / ("b_" + name if "flt" in name else name)
        shutil.copy(shared_data / name, dst)
        os.chmod(dst, 0o644)
        flts.append(str(dst))
    old = {f: _chip_wcss(f) for f in flts}
    first = old[flts[0]][("SCI", 1)]
    # a drizzled frame around the first chip (the real chips are cut to 10x10 pixels, their
    # WCS describes the full 4096x2051 chip)
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = [float(v) for v in first.wcs.crval]
    h["CRPIX1"], h["CRPIX2"] = 2500.5, 2400.5
    for (i, j), v in np.ndenumerate(0.04 / 3600 * _rotation(rng.uniform(0, 360)) @
                                     np.diag([-1.0, 1.0])):
        h[f"CD{i + 1}_{j + 1}"] = float(v)
    h["WCSNAME"] = "DRZ_ORIG"
    prim = fits.PrimaryHDU()
    prim.header["D001DATA"] = flts[0] + "[sci,1]"
    prim.header["D002DATA"] = flts[0] + "[sci,2]"
    prim.header["D003DATA"] = flts[1] + "[sci,1]"
    drz = str(tmp_path / "real_drz.fits")
    fits.HDUList([prim, fits.ImageHDU(np.zeros((8, 8), np.float32), h, name="SCI")]).writeto(drz)
    _tweak_drz(drz, rng, deg=0.05, scale=1.0002, shift=(2e-4, -1e-4))
    orig = _drz_wcs(drz, key="A")
    tweaked = _drz_wcs(drz)
    apply_tweak(drz, "DRZ_ORIG", output_wcs_name="TWEAKBACK")
    full = (4096, 2051)
    for f in flts:
        new = _chip_wcss(f)
        assert set(new) == set(old[f])
        with fits.open(f) as hdul:
            for ext, w in old[f].items():
                assert w.cpdis1 is not None or w.det2im1 is not None or "flt" in f
                assert _misfit(w, new[ext], orig, tweaked, shape=full) < TOL_REAL_PX
                assert _misfit(w, w, orig, tweaked, shape=full) > 1.0
                hdr = hdul[ext].header
                # the next free key after O, A, B holds the previous primary WCS
                assert hdr["WCSNAMEC"] == fits.getval(shared_data / os.path.basename(
                    f).replace("b_", ""), "WCSNAME", ext)
                assert hdr["WCSNAME"] == "TWEAKBACK"


# ---------------------------------------------------------------------------
# drizzlepac's older tweakback() and the command line


def test_legacy_tweakback(product):
    drz, flts, old, orig = product
    with pytest.warns(DeprecationWarning, match="apply_tweak"):
        tweakback.tweakback(drz, origwcs="DRZ_ORIG", wcsname="DRZ_TWEAKED", newname="LEGACY")
    tweaked = _drz_wcs(drz)
    for f in flts:
        new = _chip_wcss(f)
        assert fits.getval(f, "WCSNAME", 1) == "LEGACY"
        for ext, w in old[f].items():
            assert _misfit(w, new[ext], orig, tweaked) < TOL_PX


def test_legacy_default_keys(tmp_path):
    h = fits.Header()
    for key, name in ((" ", "NOW"), ("A", "IDC_abc"), ("B", "LATER"), ("C", "LAST")):
        h["WCSNAME" + key.strip()] = name
        h["CTYPE1" + key.strip()] = "RA---TAN"
    path = str(tmp_path / "k_drz.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), h, name="SCI")]).writeto(path)
    assert tweakback._legacy_keys(path, None, None)[:2] == ("A", "C")
    assert tweakback._legacy_keys(path, "LATER", "NOW")[:2] == ("B", " ")
    del h["WCSNAMEA"], h["CTYPE1A"]
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), h, name="SCI")]).writeto(
        path, overwrite=True)
    assert tweakback._legacy_keys(path, None, None)[:2] == ("B", "C")


def test_command_line(product, capsys):
    drz, flts, old, orig = product
    hashes = file_hashes(flts)
    assert cli.main(["tweakback", drz, "--orig-wcs-name", "NO_SUCH"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gpudrizzle tweakback: error:") and "'NO_SUCH' not found" in err
    assert file_hashes(flts) == hashes
    assert cli.main(["tweakback", drz, flts[0], "--orig-wcs-key", "A",
                     "--output-wcs-name", "CLI"]) == 0
    assert fits.getval(flts[0], "WCSNAME", ("SCI", 2)) == "CLI"
    assert file_hashes([flts[1]]) == {flts[1]: hashes[flts[1]]}
    tweaked = _drz_wcs(drz)
    new = _chip_wcss(flts[0])
    for ext, w in old[flts[0]].items():
        assert _misfit(w, new[ext], orig, tweaked) < TOL_PX


def test_command_line_inputs_after_options_and_option_names_in_errors(product, capsys):
    drz, flts, old, orig = product
    # the inputs after the options, as the README writes the command
    assert cli.main(["tweakback", drz, "--orig-wcs-name", "DRZ_ORIG", flts[1]]) == 0
    assert fits.getval(flts[1], "WCSNAME", ("SCI", 1)) == "DRZ_TWEAKED"
    capsys.readouterr()
    hashes = file_hashes(flts)
    assert cli.main(["tweakback", drz, "--orig-wcs-name", "DRZ_ORIG", flts[1]]) == 1
    err = capsys.readouterr().err
    assert "give another --output-wcs-name or --reusename" in err, err
    assert "reusename=True" not in err and len(err.strip().splitlines()) == 1
    assert file_hashes(flts) == hashes
    # Python callers keep the Python wording
    with pytest.raises(ValueError, match=r"give another wcsname or reusename=True"):
        apply_tweak(drz, "DRZ_ORIG", input_files=[flts[1]])
    assert cli.main(["tweakback", drz, "--reusename", "--orig-wcs-name", "DRZ_ORIG",
                     flts[1]]) == 0
