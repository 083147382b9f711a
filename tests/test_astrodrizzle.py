"""End-to-end AstroDrizzle runs on synthetic HST-like exposures (tests/hstdata.py)."""

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import astrodrizzle
from gpudrizzle.exposure import Exposure

from hstdata import (Star, east_left_cd, file_hashes, write_asn, write_dither_set, write_flt,
                     write_generic)

POINTING = (150.1, 2.2)
ORIENT = 30.0
# detector offsets (pixels from the focal-plane origin) of isolated stars, 3 per chip
STAR_OFFSETS = [(-40.0, -36.0), (0.0, -33.0), (40.0, -38.0), (-40.0, 36.0), (0.0, 33.0), (38.0, 35.0)]
STAR_RATES = [1200.0, 3000.0, 800.0, 2000.0, 1500.0, 4000.0]


def _stars():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = POINTING
    w.wcs.crpix = [1.0, 1.0]
    w.wcs.cd = east_left_cd(0.05, ORIENT)
    out = []
    for (x, y), rate in zip(STAR_OFFSETS, STAR_RATES):
        ra, dec = w.all_pix2world([[x, y]], 0)[0]
        out.append(Star(float(ra), float(dec), rate))
    return out




def _write_set(directory, n=3, **kwargs):
    kwargs.setdefault("cosmic_rays", 3)
    kwargs.setdefault("bad_columns", (20,))
    return write_dither_set(directory, n=n, stars=_stars(), seed=11, orient=ORIENT,
                            pointing=POINTING, **kwargs)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """Three dithered 2-chip exposures and one default run (build=False, clean=False)."""
    d = tmp_path_factory.mktemp("field")
    truth = _write_set(d)
    files = [t.path for t in truth]
    before = file_hashes(files)
    result = astrodrizzle.AstroDrizzle(f"{d}/*_flt.fits", output=f"{d}/final", backend="numpy",
                                       runfile=f"{d}/astrodrizzle.log")
    return d, truth, files, before, result


def test_products_and_intermediates(field):
    d, truth, files, before, result = field
    names = [f"{d}/final_drz_{k}.fits" for k in ("sci", "wht", "ctx", "err")]
    assert result.products == names
    shapes = {fits.getdata(p).shape for p in names}
    assert len(shapes) == 1
    for t in truth:
        root = os.path.basename(t.path)[:-9]
        for kind in ("single_sci", "single_wht"):
            assert os.path.isfile(f"{d}/{root}_{kind}.fits")
        for k in (1, 2):
            blot = fits.getdata(f"{d}/{root}_sci{k}_blt.fits")
            assert blot.shape == (64, 128)
            crmask = fits.getdata(f"{d}/{root}_sci{k}_crmask.fits")
            assert crmask.dtype == np.uint8 and set(np.unique(crmask)) <= {0, 1}
    assert os.path.isfile(f"{d}/final_med.fits")
    assert not [f for f in os.listdir(d) if f.endswith(".tmp")]
    log = open(f"{d}/astrodrizzle.log").read()
    for step in ("static mask", "sky", "separate drizzle", "median", "blot and driz_cr",
                 "final drizzle"):
        assert f"step {step}: done" in log


def test_primary_keywords(field):
    d, truth, files, before, result = field
    h = fits.getheader(f"{d}/final_drz_sci.fits")
    assert h["NDRIZIM"] == 6
    assert h["EXPTIME"] == pytest.approx(sum(t.exptime for t in truth))
    starts = [fits.getval(f, "EXPSTART") for f in files]
    ends = [fits.getval(f, "EXPEND") for f in files]
    assert h["EXPSTART"] == min(starts) and h["EXPEND"] == max(ends)
    assert h["PROD_VER"].startswith("gpudrizzle")
    assert h["D001VER"].startswith("gpudrizzle")
    assert h["D001DATA"] == "j9dz01aq_flt.fits[sci,1]"
    assert h["D006DATA"] == "j9dz03aq_flt.fits[sci,2]"
    assert "D007DATA" not in h
    assert h["D001DEXP"] == pytest.approx(400.0)
    assert h["D001KERN"] == "square" and h["D001PIXF"] == 1.0
    assert h["D001WTSC"] == 1.0 and h["D001WKEY"] == "" and h["D001FVAL"] == "INDEF"
    assert h["D001OUUN"] == "cps"
    assert h["BUNIT"] == "ELECTRONS/S"
    assert WCS(h).has_celestial


def _pixel_area(wcs, x, y):
    """Sky area of the distorted pixel at (x, y) over the nominal (CD) area: the SIP Jacobian."""
    h = 0.5
    pts = np.array([[x - h, y], [x + h, y], [x, y - h], [x, y + h]])
    foc = wcs.pix2foc(pts, 0)
    dx = (foc[1] - foc[0]) / (2 * h)
    dy = (foc[3] - foc[2]) / (2 * h)
    return abs(dx[0] * dy[1] - dx[1] * dy[0])


def test_star_fluxes(field):
    """Drizzle conserves surface brightness, so a star's flux is its rate times the pixel area."""
    d, truth, files, before, result = field
    sci = fits.getdata(f"{d}/final_drz_sci.fits")
    wht = fits.getdata(f"{d}/final_drz_wht.fits")
    w = WCS(fits.getheader(f"{d}/final_drz_sci.fits"))
    yy, xx = np.mgrid[: sci.shape[0], : sci.shape[1]]
    checked = 0
    for n, star in enumerate(truth[0].stars):
        areas, clean = [], True
        for t in truth:
            for c in t.chips:
                x, y = c.star_xy[n]
                if np.isfinite(x):
                    areas.append(_pixel_area(c.wcs, x, y))
                    jy, ix = np.nonzero(c.cr_mask)
                    clean &= not (np.hypot(ix - x, jy - y) < 10).any()
        if not clean:  # a cosmic ray on a star's wing hides behind its gradient (as in drizzlepac)
            continue
        x, y = w.all_world2pix([[star.ra, star.dec]], 0)[0]
        r = np.hypot(xx - x, yy - y)
        aperture = r < 9
        assert (wht[aperture] > 0).all()
        background = np.median(sci[(r > 12) & (r < 17) & (wht > 0)])
        flux = float(np.sum(sci[aperture] - background))
        assert flux == pytest.approx(star.rate * np.mean(areas), rel=0.005)
        checked += 1
    assert checked >= 2


def test_cosmic_rays_removed(field):
    d, truth, files, before, result = field
    sci = fits.getdata(f"{d}/final_drz_sci.fits")
    err = fits.getdata(f"{d}/final_drz_err.fits")
    wht = fits.getdata(f"{d}/final_drz_wht.fits")
    w = WCS(fits.getheader(f"{d}/final_drz_sci.fits"))
    yy, xx = np.mgrid[: sci.shape[0], : sci.shape[1]]
    far = wht > 0
    for star in truth[0].stars:
        x, y = w.all_world2pix([[star.ra, star.dec]], 0)[0]
        far &= np.hypot(xx - x, yy - y) > 8
    # where the cosmic rays hit, in the output frame
    hit = np.zeros(sci.shape, bool)
    for t in truth:
        for c in t.chips:
            jy, ix = np.nonzero(c.cr_mask)
            ox, oy = w.all_world2pix(np.column_stack(c.wcs.all_pix2world(ix, jy, 0)), 0).T
            ok = (ox > -0.5) & (ox < sci.shape[1] - 0.5) & (oy > -0.5) & (oy < sci.shape[0] - 0.5)
            hit[np.round(oy[ok]).astype(int), np.round(ox[ok]).astype(int)] = True
    assert (hit & far).sum() > 50
    assert sum(result.cr_pixels.values()) > 0
    residual = (sci - np.median(sci[far])) / err
    assert np.max(residual[hit & far]) < 5.0
    # without CR rejection the same pixels do show the tracks
    d2 = d / "nocr"
    d2.mkdir()
    plain = astrodrizzle.AstroDrizzle(files, output=f"{d2}/final", driz_cr=False, blot=False,
                                      median=False, driz_separate=False, backend="numpy",
                                      runfile="", clean=True)
    sci2 = fits.getdata(plain.products[0])
    assert np.max(((sci2 - np.median(sci2[far])) / err)[hit & far]) > 20.0


def test_inputs_unchanged(field):
    d, truth, files, before, result = field
    assert file_hashes(files) == before
    for f in files:
        assert "MDRIZSKY" not in fits.getheader(f, ("SCI", 1))


def test_overwrite_false_refuses(field):
    d, truth, files, before, result = field
    with pytest.raises(FileExistsError, match="final_drz_sci.fits"):
        astrodrizzle.AstroDrizzle(files, output=f"{d}/final", backend="numpy", runfile="")
    assert file_hashes(files) == before


def test_build_true_layout(field, tmp_path):
    d, truth, files, before, result = field
    res = astrodrizzle.AstroDrizzle(files, output=f"{tmp_path}/combo", build=True, clean=True,
                                    backend="numpy", runfile="")
    assert res.products == [f"{tmp_path}/combo_drz.fits"]
    assert res.intermediates == [] and sorted(os.listdir(tmp_path)) == ["combo_drz.fits"]
    with fits.open(res.products[0]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CTX", "ERR", "HDRTAB"]
        assert hdul[0].data is None and hdul[0].header["NDRIZIM"] == 6
        assert hdul[0].header["NEXTEND"] == 5
        assert len(hdul["HDRTAB"].data) == 6
        assert list(hdul["HDRTAB"].data["EXTVER"]) == [1, 2] * 3
        np.testing.assert_array_equal(hdul["SCI"].data, fits.getdata(f"{d}/final_drz_sci.fits"))
        np.testing.assert_array_equal(hdul["ERR"].data, fits.getdata(f"{d}/final_drz_err.fits"))
    assert file_hashes(files) == before


def test_cfg_file_and_counts(field, tmp_path):
    d, truth, files, before, result = field
    cfg = tmp_path / "my.cfg"
    cfg.write_text(
        "_task_name_ = astrodrizzle\n"
        f"input = {d}/j9dz0*_flt.fits\n"
        f"output = {tmp_path}/viacfg\n"
        "runfile = ''\n"
        "[STATE OF INPUT FILES]\nclean = True\n"
        "[STEP 7: DRIZZLE FINAL COMBINED IMAGE]\nfinal_units = counts\nfinal_bits = 4\n")
    res = astrodrizzle.AstroDrizzle(configobj=str(cfg), backend="numpy")
    sci = fits.getdata(f"{tmp_path}/viacfg_drz_sci.fits")
    h = fits.getheader(f"{tmp_path}/viacfg_drz_sci.fits")
    assert h["BUNIT"] == "ELECTRONS" and h["D001OUUN"] == "counts"
    ref = fits.getdata(f"{d}/final_drz_sci.fits")
    # final_bits=4 lets the bad column in: compare away from it
    wht_ref = fits.getdata(f"{d}/final_drz_wht.fits")
    wht = fits.getdata(f"{tmp_path}/viacfg_drz_wht.fits")
    same = (wht == wht_ref) & (wht > 0)
    assert same.sum() > 0.5 * (wht > 0).sum()
    np.testing.assert_allclose(sci[same], ref[same] * 1200.0, rtol=1e-5, atol=1e-3)
    assert (wht >= wht_ref).all()
    assert res.products[0] == f"{tmp_path}/viacfg_drz_sci.fits"


def test_run_with_configobj(tmp_path, field):
    d, truth, files, before, result = field
    from gpudrizzle.util import build_configobj

    cfg = tmp_path / "a.cfg"
    cfg.write_text(f"input = {','.join(files)}\noutput = {tmp_path}/r\nrunfile = {tmp_path}/r.log\n"
                   "clean = True\nbackend = numpy\n[STEP 4: CREATE MEDIAN IMAGE]\ncombine_type = median\n")
    res = astrodrizzle.run(build_configobj(str(cfg)))
    assert os.path.isfile(f"{tmp_path}/r_drz_sci.fits") and os.path.isfile(f"{tmp_path}/r.log")
    assert res.backend == "numpy"


def test_atfile_and_asn_inputs(tmp_path):
    truth = _write_set(tmp_path, n=2, cosmic_rays=0, bad_columns=())
    roots = [os.path.basename(t.path)[:-9] for t in truth]
    listing = tmp_path / "inputs.lst"
    listing.write_text("".join(f"{t.path}\n" for t in truth))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = astrodrizzle.AstroDrizzle(f"@{listing}", output="fromlist", backend="numpy",
                                        clean=True, runfile="")
        assert res.products[0] == "fromlist_drz_sci.fits"
        asn = write_asn(tmp_path, "j9dz01010", roots, "j9dz01011")
        res = astrodrizzle.AstroDrizzle(asn, backend="numpy", clean=True, runfile="")
        assert res.products[0].endswith("j9dz01011_drz_sci.fits")
        assert fits.getheader(res.products[0])["NDRIZIM"] == 4
    finally:
        os.chdir(cwd)


def test_flc_inputs_give_drc(tmp_path):
    write_flt(tmp_path, "j9aa01abq", suffix="flc", stars=_stars(), orient=ORIENT, seed=2)
    res = astrodrizzle.AstroDrizzle(f"{tmp_path}/j9aa01abq_flc.fits", backend="numpy",
                                    build=True, clean=True, runfile="")
    assert res.products == [f"{tmp_path}/j9aa01abq_drc.fits"]


def test_generic_fits(tmp_path):
    data = np.full((40, 50), 100.0, np.float32)
    a = write_generic(tmp_path, "ga", data=data, header={"EXPTIME": 10.0, "BUNIT": "ELECTRONS"})
    b = write_generic(tmp_path, "gb", data=data, header={"EXPTIME": 10.0, "BUNIT": "ELECTRONS"}, crval=(150.1, 2.2000005))
    res = astrodrizzle.AstroDrizzle([a, b], output=f"{tmp_path}/gen", skysub=False, backend="numpy",
                                    clean=True, runfile="")
    sci = fits.getdata(res.products[0])
    wht = fits.getdata(f"{tmp_path}/gen_drz_wht.fits")
    assert (wht > 0).sum() > 1500
    np.testing.assert_allclose(sci[wht > 0], 10.0, rtol=1e-5)
    assert np.isnan(sci[wht == 0]).all()


def test_in_memory_exposures(tmp_path):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = POINTING
    w.wcs.crpix = [25.5, 20.5]
    w.wcs.cd = east_left_cd(0.1, 0.0)
    e = Exposure.from_arrays(np.full((40, 50), 30.0, np.float32), w, 3.0, name="mem1")
    res = astrodrizzle.AstroDrizzle([e], output=f"{tmp_path}/mem", skysub=False, backend="numpy",
                                    runfile="", clean=True)
    sci = fits.getdata(res.products[0])
    assert np.nanmax(np.abs(sci - 10.0)) < 1e-5


def test_update_inputs(tmp_path):
    truth = _write_set(tmp_path, n=3)
    files = [t.path for t in truth]
    before = file_hashes(files)
    res = astrodrizzle.AstroDrizzle(files, output=f"{tmp_path}/upd", update_inputs=True,
                                    backend="numpy", clean=True, runfile="")
    for t in truth:
        root = os.path.basename(t.path)[:-9]
        orig = tmp_path / "OrIg_files" / os.path.basename(t.path)
        assert file_hashes([str(orig)])[str(orig)] == before[t.path]
        with fits.open(t.path) as hdul:
            for c in t.chips:
                assert hdul["SCI", c.extver].header["MDRIZSKY"] == pytest.approx(
                    res.sky[(root, c.extver)])
                dq = hdul["DQ", c.extver].data
                flagged = (dq & 4096) != 0
                assert flagged.sum() == res.cr_pixels[(root, c.extver)]
                assert flagged[c.cr_mask].mean() > 0.75


# ---------------------------------------------------------------------------
# bad inputs: the right error, and the inputs untouched


def _assert_fails(files, exc, match, **kwargs):
    before = file_hashes([f for f in files if os.path.exists(f)])
    kwargs.setdefault("backend", "numpy")
    kwargs.setdefault("runfile", "")
    with pytest.raises(exc, match=match):
        astrodrizzle.AstroDrizzle(files, **kwargs)
    assert file_hashes(list(before)) == before


def test_missing_file(tmp_path):
    truth = _write_set(tmp_path, n=1)
    _assert_fails([truth[0].path, f"{tmp_path}/nothere_flt.fits"], OSError, "nothere_flt.fits",
                  output=f"{tmp_path}/x")
    assert not os.path.exists(f"{tmp_path}/x_drz_sci.fits")


def test_no_wcs(tmp_path):
    good = _write_set(tmp_path, n=1)[0].path
    bad = write_generic(tmp_path, "nowcs", celestial=False, header={"EXPTIME": 1.0})
    _assert_fails([good, bad], ValueError, "nowcs.fits", output=f"{tmp_path}/x")


def test_exptime_not_positive(tmp_path):
    good = _write_set(tmp_path, n=1)[0].path
    bad = write_flt(tmp_path, "j9zz01zzq", exptime=0.0, stars=_stars(), orient=ORIENT).path
    _assert_fails([good, bad], ValueError, "j9zz01zzq_flt.fits.*exposure time",
                  output=f"{tmp_path}/x")


def test_all_pixels_flagged(tmp_path):
    good = _write_set(tmp_path, n=1)[0].path
    bad = write_flt(tmp_path, "j9zz02zzq", bad_columns=range(128), orient=ORIENT).path
    _assert_fails([good, bad], ValueError, r"j9zz02zzq_flt.fits\[DQ,1\]", output=f"{tmp_path}/x")


def test_non_overlapping(tmp_path):
    a = write_flt(tmp_path, "j9ov01aaq", pointing=(150.1, 2.2), orient=ORIENT).path
    b = write_flt(tmp_path, "j9ov02aaq", pointing=(150.1, 2.21), orient=ORIENT).path
    _assert_fails([a, b], ValueError, "does not overlap", output=f"{tmp_path}/x")


def test_memory_check(tmp_path, monkeypatch):
    files = [t.path for t in _write_set(tmp_path, n=2)]
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda backend: 1 << 20)
    _assert_fails(files, MemoryError, "needs about .* GiB", output=f"{tmp_path}/x")
    assert not [f for f in os.listdir(tmp_path) if f.startswith("x_")]


def test_unwritable_output_directory(tmp_path):
    files = [t.path for t in _write_set(tmp_path, n=2)]
    # procfs refuses new files even to root
    _assert_fails(files, OSError, "cannot write products", output="/proc/self/final")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write into a read-only directory")
def test_read_only_output_directory(tmp_path):
    files = [t.path for t in _write_set(tmp_path, n=2)]
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        _assert_fails(files, OSError, "cannot write products", output=f"{out}/final")
    finally:
        out.chmod(0o755)


def test_conflicting_and_unsupported_parameters(tmp_path):
    files = [t.path for t in _write_set(tmp_path, n=1)]
    _assert_fails(files, ValueError, "mdriztab", mdriztab=True)
    _assert_fails(files, ValueError, "gain", gain=2.0, gnkeyword="ATODGNA")
    _assert_fails(files, ValueError, "final_dec", final_ra=150.1)


def test_step_failure_is_runtime_error(tmp_path, monkeypatch):
    files = [t.path for t in _write_set(tmp_path, n=2)]

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(astrodrizzle, "create_median", broken)
    _assert_fails(files, RuntimeError, "step 'median' failed.*planted", output=f"{tmp_path}/x")
    assert not os.path.exists(f"{tmp_path}/x_drz_sci.fits")


@pytest.mark.parametrize("skymethod", ["match", "globalmin+match"])
def test_sky_matching_methods_run_end_to_end(tmp_path, skymethod):
    files = [t.path for t in _write_set(tmp_path)]
    result = astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "matched"), skymethod=skymethod,
                                       runfile=str(tmp_path / "run.log"), backend="cpu")
    skies = list(result.sky.values())
    assert len(skies) == 6 and np.all(np.isfinite(skies))
    if skymethod == "match":
        assert min(skies) == 0.0  # matched down to the lowest exposure


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_singles_on_disk_equal_in_memory(tmp_path, monkeypatch, backend):
    """in_memory=False reads the singles back from a scratch file: the products are the
    in-memory run's, byte for byte, and the scratch file is gone afterwards."""
    files = [t.path for t in _write_set(tmp_path, n=3)]
    from gpudrizzle import median as median_mod

    seen = []
    real = astrodrizzle.create_median

    def spy(sci, wht, **kwargs):
        seen.append([type(a).__name__ for a in list(sci) + list(wht)])
        seen.append([f for d in ("m0", "m1") if os.path.isdir(tmp_path / d)
                     for f in os.listdir(tmp_path / d) if f.endswith(".tmp")])
        return real(sci, wht, **kwargs)

    real_final = astrodrizzle._Run._final_drizzle

    def final_spy(self):
        seen.append([type(c.crmask).__name__ for c in self.chips])
        return real_final(self)

    monkeypatch.setattr(astrodrizzle, "create_median", spy)
    monkeypatch.setattr(astrodrizzle._Run, "_final_drizzle", final_spy)
    monkeypatch.setattr(median_mod, "_HOST_MAX_BAND_BYTES", 4096)  # many bands from disk
    monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", 0)  # small images to disk too
    res = {}
    for mem in (True, False):
        os.mkdir(tmp_path / f"m{int(mem)}")
        out = f"{tmp_path}/m{int(mem)}/final"
        res[mem] = astrodrizzle.AstroDrizzle(files, output=out, in_memory=mem, build=True,
                                             clean=True, backend=backend, runfile="")
    (types_mem, tmp_mem, cr_mem), (types_disk, tmp_disk, cr_disk) = seen[:3], seen[3:]
    assert set(types_mem) == {"ndarray"} and tmp_mem == []
    assert set(types_disk) == {"DiskImage"} and len(types_disk) == 6 and len(tmp_disk) == 1
    # the CR masks wait for the final drizzle in memory, or in a scratch file
    assert cr_mem == ["ndarray"] * 6 and cr_disk == ["DiskImage"] * 6
    assert res[True].cr_pixels == res[False].cr_pixels and sum(res[True].cr_pixels.values()) > 0
    with open(res[True].products[0], "rb") as f1, open(res[False].products[0], "rb") as f2:
        assert f1.read() == f2.read()
    assert os.listdir(tmp_path / "m0") == os.listdir(tmp_path / "m1") == ["final_drz.fits"]


def test_scratch_on_disk_follows_the_size_of_the_images(monkeypatch):
    """in_memory=False sends the per-exposure images to disk only beyond the budget (and a
    quarter of the memory available), or when their size is not known."""
    from types import SimpleNamespace

    host = astrodrizzle.get_backend("numpy")
    p = {"in_memory": False}
    monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", 1000)
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda b: 10 ** 9)
    assert not astrodrizzle.scratch_on_disk(p, host, 1000)
    assert astrodrizzle.scratch_on_disk(p, host, 1001)
    assert astrodrizzle.scratch_on_disk(p, host, None)
    assert not astrodrizzle.scratch_on_disk({"in_memory": True}, host, 10 ** 12)
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda b: 2000)
    assert astrodrizzle.scratch_on_disk(p, host, 501)
    assert not astrodrizzle.scratch_on_disk(p, host, 500)
    steps = SimpleNamespace(driz_separate=True, median=True, driz_cr=True)
    # 3 singles of SCI + WHT (8 B a pixel) and two chips' CR masks (1 B)
    assert astrodrizzle.scratch_bytes(3, (10, 20), [(4, 5), (6, 7)], steps) == 3 * 8 * 200 + 62
    steps.median = False
    assert astrodrizzle.scratch_bytes(3, (10, 20), [(4, 5), (6, 7)], steps) == 62
    steps.driz_cr = False
    assert astrodrizzle.scratch_bytes(3, None, [(4, 5)], steps) == 0
    # nor more than the rest of the run needs
    assert astrodrizzle.scratch_on_disk(p, host, 400, run_bytes=399)
    assert not astrodrizzle.scratch_on_disk(p, host, 400, run_bytes=400)
    # and the run must still fit with them in memory
    assert astrodrizzle.scratch_on_disk(p, host, 400, run_bytes=1601)
    assert not astrodrizzle.scratch_on_disk(p, host, 400, run_bytes=1600)


def test_memory_plan_keeps_the_memory_of_many_exposures_flat(monkeypatch):
    """A run of many small exposures into one frame (a mosaic cell) sends its per-exposure
    images to disk: its peak estimate does not grow with their number; a few large
    exposures keep them in memory, within twice the rest of the run."""
    from types import SimpleNamespace

    host = astrodrizzle.get_backend("numpy")
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda b: 64 << 30)
    p = {"in_memory": False}
    steps = SimpleNamespace(driz_separate=True, median=True, driz_cr=True, driz_combine=True)
    needs = []
    for n in (20, 700):
        chips = [(64, 128)] * (2 * n)
        # (one context plane: without context, as mosaic cells run)
        on_disk, need = astrodrizzle.memory_plan(p, host, chips, n, (200, 300), (200, 300),
                                                 steps, 1)
        assert on_disk
        needs.append(need)
    assert needs[1] == needs[0]
    chips = [(2048, 4096)] * 8
    on_disk, need = astrodrizzle.memory_plan(p, host, chips, 4, (4300, 4300), (4300, 4300),
                                             steps, 8)
    own = astrodrizzle.estimate_memory(chips, 4, (4300, 4300), (4300, 4300), steps, 8,
                                       singles_on_disk=True, crmasks_on_disk=True)
    assert not on_disk and own < need <= 2 * own


def test_small_run_keeps_its_singles_in_memory(tmp_path, monkeypatch):
    """in_memory=False with images well within the budget: no scratch file, the pixels of
    the run that writes them to disk, in a file of the same length."""
    files = [t.path for t in _write_set(tmp_path, n=2)]
    seen = []
    real = astrodrizzle.create_median

    def spy(sci, wht, **kwargs):
        seen.append(sorted({type(a).__name__ for a in list(sci) + list(wht)}))
        seen.append([f for f in os.listdir(tmp_path / "out") if f.endswith(".tmp")])
        return real(sci, wht, **kwargs)

    monkeypatch.setattr(astrodrizzle, "create_median", spy)
    os.mkdir(tmp_path / "out")
    res = {}
    for budget in (astrodrizzle.SCRATCH_IN_MEMORY_BYTES, 0):
        monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", budget)
        res[budget] = astrodrizzle.AstroDrizzle(files, output=f"{tmp_path}/out/f{budget}",
                                                in_memory=False, build=True, clean=True,
                                                backend="cpu", runfile="")
    assert seen[0] == ["ndarray"] and seen[1] == []
    assert seen[2] == ["DiskImage"] and len(seen[3]) == 1
    products = [r.products[0] for r in res.values()]
    with open(products[0], "rb") as f1, open(products[1], "rb") as f2:
        a, b = f1.read(), f2.read()
    # the headers name their own file; the pixels are the same
    assert len(a) == len(b)
    from astropy.io import fits
    with fits.open(products[0]) as h1, fits.open(products[1]) as h2:
        for name in ("SCI", "WHT", "CTX"):
            np.testing.assert_array_equal(h1[name].data, h2[name].data)


def test_scratch_removed_after_median_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", 0)  # scratch files
    files = [t.path for t in _write_set(tmp_path, n=2)]
    seen = []

    def broken(sci, wht, **kwargs):
        seen.append([f for f in os.listdir(tmp_path) if f.endswith(".tmp")])
        sci[0].read_rows(0, 2)  # the scratch file is readable while the median runs
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(astrodrizzle, "create_median", broken)
    _assert_fails(files, RuntimeError, "step 'median' failed.*planted", output=f"{tmp_path}/x",
                  in_memory=False, clean=True)
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith(".x_singles")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("purpose, message", [
    ("cosmic-ray", r"x_crmasks \(the cosmic-ray masks, kept on disk for the final drizzle; "
                   r"in_memory=True keeps them in memory instead\)"),
    ("separate drizzle", r"x_singles \(the separate drizzle images, kept on disk for the median; "
                         r"in_memory=True keeps them in memory instead\)")])
def test_full_disk_while_keeping_scratch_images(tmp_path, monkeypatch, purpose, message):
    """A full disk while the CR masks or the separate drizzle images go to their scratch
    file names the file, them and what to do; no scratch file or product is left."""
    monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", 0)  # scratch files
    files = [t.path for t in _write_set(tmp_path, n=2)]
    from gpudrizzle.median import ScratchImages

    real = ScratchImages.append

    class FullDisk:
        """The scratch file on a full disk: every write fails with ENOSPC."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def append(self, array):
        if purpose in self.purpose and not isinstance(self._file, FullDisk):
            self._file = FullDisk(self._file)
        return real(self, array)

    monkeypatch.setattr(ScratchImages, "append", append)
    _assert_fails(files, OSError, "No space left on device while writing .*" + message,
                  output=f"{tmp_path}/x", in_memory=False, clean=True)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp") or f.startswith("x_")]


def test_scratch_removed_after_separate_drizzle_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(astrodrizzle, "SCRATCH_IN_MEMORY_BYTES", 0)  # scratch files
    files = [t.path for t in _write_set(tmp_path, n=2)]
    from gpudrizzle.median import ScratchImages

    calls = []

    def append(self, array):
        calls.append([f for f in os.listdir(tmp_path) if f.startswith(".x_singles")])
        if len(calls) == 3:
            raise OSError(28, "planted: no space left")
        return real(self, array)

    real = ScratchImages.append
    monkeypatch.setattr(ScratchImages, "append", append)
    _assert_fails(files, OSError, "planted", output=f"{tmp_path}/x", in_memory=False,
                  clean=True)
    assert len(calls) == 3 and all(len(c) == 1 for c in calls)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_pixel_map_of_a_chip_is_reused_between_steps(tmp_path, monkeypatch):
    """With the separate and final frames the same, the map buffer serves the last chip's
    blot and the first chip's final drizzle without a new build (3 n - 2 builds for n
    chips); the products equal those of a run that builds every map."""
    from gpudrizzle.pixmap import PixmapPlan

    truth = _write_set(tmp_path, n=2)
    files = [t.path for t in truth]
    builds = []
    real_build = PixmapPlan.build

    def build(self, *args, **kwargs):
        builds.append(self)
        return real_build(self, *args, **kwargs)

    monkeypatch.setattr(PixmapPlan, "build", build)
    kw = dict(backend="cpu", build=True, runfile="")
    astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "shared"), **kw)
    n_chips = 4
    assert len(builds) == 3 * n_chips - 2

    def always_build(self, plan):  # the map buffer forgets what it holds
        self._map_buffers.clear()
        return real_pixmap(self, plan)

    real_pixmap = astrodrizzle._Run._pixmap
    monkeypatch.setattr(astrodrizzle._Run, "_pixmap", always_build)
    builds.clear()
    astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "each"), **kw)
    assert len(builds) == 3 * n_chips
    with fits.open(tmp_path / "shared_drz.fits") as a, fits.open(tmp_path / "each_drz.fits") as b:
        for name in ("SCI", "WHT", "CTX", "ERR"):
            assert np.array_equal(a[name].data, b[name].data, equal_nan=True), name
