"""TweakReg end to end: synthetic dithered exposures with injected pointing errors.

The oracle is the truth the exposures were rendered with
(:func:`gpudrizzle.synthetic.write_misaligned_set`): after alignment the
headers' WCS must agree with the true WCS to better than 0.02 px rms over the
chips (:func:`gpudrizzle.synthetic.truth_rms`).  Bad inputs must raise clear
errors and leave every file byte-identical.
"""

import hashlib
import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import tweakreg
from gpudrizzle.synthetic import PointingError, read_chip_wcs, truth_rms, write_misaligned_set

CHIP = (384, 768)
STARS = 150  # per chip
QUIET = dict(interactive=False, see2dplot=False, residplot="No plot", writecat=False,
             runfile="")


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """Four misaligned ACS/WFC-like exposures (small chips), written once; tests copy them."""
    d = tmp_path_factory.mktemp("tweak_field")
    errors = [PointingError(), PointingError(9.3, -6.1, 0.012, 1.0 + 4e-6),
              PointingError(-12.6, 4.4, -0.015, 1.0 - 3e-6), PointingError(3.2, 11.7, 0.008, 1.0)]
    exps = write_misaligned_set(d, n=4, chip_shape=CHIP, errors=errors, seed=11, n_stars=STARS)
    return exps


@pytest.fixture
def exposures(field, tmp_path, monkeypatch):
    """Fresh copies of the field in tmp_path (the working directory)."""
    import shutil

    monkeypatch.chdir(tmp_path)
    out = []
    for e in field:
        dst = tmp_path / os.path.basename(e.path)
        shutil.copyfile(e.path, dst)
        out.append((str(dst), e))
    return out


def _rms_all(exposures):
    return [truth_rms(path, e.true_wcs) for path, e in exposures]


def test_defaults_recover_injected_errors(exposures):
    """Default source finding (cosmic rays present) and rscale fits: < 0.02 px rms per exposure."""
    files = [p for p, _ in exposures]
    before = _rms_all(exposures)
    assert min(before[1:]) > 5.0  # the injected errors are real
    result = tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    after = _rms_all(exposures)
    assert max(after) < 0.02, after
    ref = result.images[0]
    assert ref.is_reference and ref.fit is None
    for im in result.images[1:]:
        assert im.fit.nmatch >= 15 and im.updated
    # header keywords
    for path, _ in exposures[1:]:
        h = fits.getheader(path, ("SCI", 1))
        assert h["WCSNAME"] == "TWEAK" and h["FITNAME"] == "TWEAK"
        assert h["NMATCH"] >= 15 and 0 < h["RMS_RA"] < 1e-5 and 0 < h["RMS_DEC"] < 1e-5
    # the reference keeps its WCS values, renamed
    h = fits.getheader(exposures[0][0], ("SCI", 2))
    assert h["WCSNAME"] == "TWEAK"
    assert truth_rms(exposures[0][0], exposures[0][1].true_wcs) == pytest.approx(before[0],
                                                                                abs=1e-9)


@pytest.mark.parametrize("geometry", ["shift", "general"])
def test_fit_geometries(exposures, geometry):
    """shift fits recover shift-only errors; general fits the full rotation/scale errors."""
    if geometry == "shift":
        import shutil

        # rewrite exposures 2-4 with shift-only errors
        d = os.path.dirname(exposures[0][0])
        os.mkdir(os.path.join(d, "s"))
        exps = write_misaligned_set(os.path.join(d, "s"), n=3, chip_shape=CHIP, seed=5, n_stars=STARS,
                                    errors=[PointingError(), PointingError(7.5, -3.3),
                                            PointingError(-4.0, 8.8)])
        exposures = []
        for e in exps:
            dst = os.path.join(d, "s_" + os.path.basename(e.path))
            shutil.copyfile(e.path, dst)
            exposures.append((dst, e))
    files = [p for p, _ in exposures]
    result = tweakreg.TweakReg(files, updatehdr=True, fitgeometry=geometry, **QUIET)
    assert max(_rms_all(exposures)) < 0.02
    for im in result.images[1:]:
        assert im.fit.geometry == geometry


def test_updatehdr_false_changes_no_file(exposures):
    files = [p for p, _ in exposures]
    before = [_digest(f) for f in files]
    result = tweakreg.TweakReg(files, **QUIET)
    assert [_digest(f) for f in files] == before
    assert all(not im.updated for im in result.images)
    # the fit still says how far each exposure was off: ~ the injected shifts (ref pixels)
    for im, (_, e) in zip(result.images[1:], exposures[1:]):
        assert abs(np.hypot(*im.fit.shift) - np.hypot(e.error.dx, e.error.dy)) < 1.0


def test_existing_wcsname_refused_before_any_change(exposures):
    files = [p for p, _ in exposures]
    tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    before = [_digest(f) for f in files]
    with pytest.raises(ValueError, match="WCSNAME 'TWEAK' is already the primary"):
        tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    assert [_digest(f) for f in files] == before
    # reusename: allowed, and the result is still aligned
    tweakreg.TweakReg(files, updatehdr=True, reusename=True, **QUIET)
    assert max(_rms_all(exposures)) < 0.02


def test_writecat_shiftfile_and_plots(exposures, tmp_path):
    pytest.importorskip("matplotlib")
    files = [p for p, _ in exposures]
    result = tweakreg.TweakReg(files, interactive=False, shiftfile=True, runfile="tweak.log",
                               residplot="both", see2dplot=True)
    names = set(os.listdir(tmp_path))
    root = os.path.basename(files[1]).split("_")[0]
    for expected in (f"{root}_sky_catalog.coo", f"{root}_sci1_xy_catalog.coo",
                     f"{root}_sci2_xy_catalog.coo", f"{root}_catalog_fit.match",
                     f"{root}_xy_catalog.match", "j8mz01mq_xy_catfile.list",
                     f"residuals_{root}.png", f"vector_{root}.png", f"hist2d_{root}.png",
                     "shifts.txt", "shifts_wcs.fits", "tweak.log"):
        assert expected in names, expected
    match = open(tmp_path / f"{root}_xy_catalog.match").read().splitlines()
    assert match[0] == f"#Reference: {files[0]}" and match[1] == f"#Input: {files[1]}"
    pairs = np.array([ln.split()[:10] for ln in match[3:]], dtype=float)
    assert len(pairs) == result.images[1].nmatch
    assert np.hypot(*(pairs[:, 0:2] - pairs[:, 2:4]).T).max() < 20  # offset + tolerance
    text = open(tmp_path / "shifts.txt").read()
    assert "# refimage:" in text and "# units: pixels" in text
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert [r[0] for r in rows] == files
    for r, im in zip(rows[1:], result.images[1:]):
        assert float(r[1]) == pytest.approx(im.fit.shift[0], abs=1e-6)
        assert float(r[2]) == pytest.approx(im.fit.shift[1], abs=1e-6)


def test_refimage_and_refcat(exposures, tmp_path):
    """refimage: align to a named image; refcat of true positions: even the first is fixed."""
    files = [p for p, _ in exposures]
    tweakreg.TweakReg(files[1:], refimage=files[0], updatehdr=True, **QUIET)
    assert max(_rms_all(exposures)[1:]) < 0.02
    # a reference catalog of the true star positions, first exposure perturbed too
    path0, e0 = exposures[0]
    stars = np.array([(s.ra, s.dec) for s in e0.truth.stars])
    np.savetxt(tmp_path / "truth.coo", stars, fmt="%.10f", header="RA DEC")
    with fits.open(path0, mode="update") as hdul:  # move exposure 1 by ~0.3"
        for ext in (("SCI", 1), ("SCI", 2)):
            hdul[ext].header["CRVAL1"] += 6e-5
            hdul[ext].header["WCSNAME"] = "MOVED"
    assert truth_rms(path0, e0.true_wcs) > 3.0
    tweakreg.TweakReg([path0], refcat="truth.coo", wcsname="TRUTH", updatehdr=True, **QUIET)
    assert truth_rms(path0, e0.true_wcs) < 0.02


def _relative_rms(path, truth, ref_path, ref_truth):
    """rms (px) of a file's WCS against where the reference's own (erroneous) WCS puts the
    same sky: zero when the file is aligned to the reference, whatever the reference's error."""
    ref_header, ref_true = read_chip_wcs(ref_path)[0], ref_truth.true_wcs[0]
    d2 = []
    for header, true in zip(read_chip_wcs(path), truth.true_wcs):
        ny, nx = true.array_shape if true.array_shape else CHIP
        y, x = np.mgrid[0:ny:16j, 0:nx:32j]
        p = np.column_stack([x.ravel(), y.ravel()])
        q = ref_true.all_world2pix(true.all_pix2world(p, 0), 0)
        expected = header.all_world2pix(ref_header.all_pix2world(q, 0), 0)
        d2.append(((expected - p) ** 2).sum(axis=1))
    return float(np.sqrt(np.mean(np.concatenate(d2))))


def test_enforce_user_order_false_and_expand_refcat(exposures):
    """The reference is the image overlapping the others most (not the first given); every
    image is aligned to it, whatever its own pointing error."""
    files = [p for p, _ in exposures]
    with fits.open(files[0], mode="update") as hdul:  # give exposure 1 an error too
        for ext in (("SCI", 1), ("SCI", 2)):
            hdul[ext].header["CRVAL2"] += 4e-5
    # the exposures' errors differ by up to ~25 px: a search radius of 2 arcsec covers them
    result = tweakreg.TweakReg(files[::-1], enforce_user_order=False, expand_refcat=True,
                               searchrad=2.0, updatehdr=True, **{**QUIET, "writecat": True})
    refs = [im for im in result.images if im.is_reference]
    assert len(refs) == 1
    by_path = dict(exposures)
    ref_path = refs[0].filename
    for path, e in exposures:
        if path != ref_path:
            assert _relative_rms(path, e, ref_path, by_path[ref_path]) < 0.02
    assert all(im.fit is not None for im in result.images if not im.is_reference)
    # the grown reference catalog: the reference's sources and the others' unmatched ones
    root = os.path.splitext(os.path.basename(ref_path))[0]
    rows = [ln for ln in open(f"cumulative_sky_refcat_{root}.coo") if not ln.startswith("#")]
    assert len(rows) > refs[0].nsources + 100
    assert sum(ln.rstrip().endswith("[SCI,1]") for ln in rows) > 0


def test_no_overlap_is_an_error_and_changes_nothing(exposures, tmp_path):
    (tmp_path / "far").mkdir()
    other = write_misaligned_set(tmp_path / "far", n=1, chip_shape=CHIP, seed=3, n_stars=STARS,
                                 pointing=(150.3, 2.4))[0]
    files = [exposures[0][0], other.path]
    before = [_digest(f) for f in files]
    with pytest.raises(tweakreg.TweakRegError, match="matched") as info:
        tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    assert other.path in info.value.failures
    assert [_digest(f) for f in files] == before


def test_no_sources_is_an_error(exposures, tmp_path):
    path = exposures[1][0]
    with fits.open(path, mode="update") as hdul:
        for ext in (("SCI", 1), ("SCI", 2)):
            hdul[ext].data[...] = 1.0
    before = _digest(path)
    with pytest.raises(tweakreg.TweakRegError, match="sources found") as info:
        tweakreg.TweakReg([exposures[0][0], path], updatehdr=True, **QUIET)
    assert path in info.value.failures
    assert _digest(path) == before


def test_bad_parameters_and_files(exposures):
    files = [p for p, _ in exposures]
    with pytest.raises(FileNotFoundError, match="refimage"):
        tweakreg.TweakReg(files, refimage="nothere_flt.fits", **QUIET)
    with pytest.raises(ValueError, match="fitgeometry"):
        tweakreg.TweakReg(files, fitgeometry="affine", **QUIET)
    with pytest.raises(ValueError, match="did you mean 'threshold'"):
        tweakreg.TweakReg(files, treshold=5, **QUIET)
    with pytest.raises(ValueError, match="headerlet"):
        tweakreg.TweakReg(files, headerlet=True, **QUIET)
    with pytest.raises(ValueError, match="'hdrname'='mine': headerlet options"):
        tweakreg.TweakReg(files, hdrname="mine", **QUIET)
    with pytest.raises(ValueError, match="'fluxmax' is an imagefindpars parameter"):
        tweakreg.TweakReg(files, configobj={"COORDINATE FILE DESCRIPTION": {"fluxmax": 3}})
    with pytest.raises(ValueError, match="unknown section"):
        tweakreg.TweakReg(files, configobj={"STEP 1": {"minobj": 3}})
    with pytest.raises(ValueError, match="updatewcs"):
        tweakreg.TweakReg(files, updatewcs=True, **QUIET)
    with pytest.raises(ValueError, match="editpars"):
        tweakreg.TweakReg(files, editpars=True)
    with pytest.raises(ValueError, match="both as keywords and in imagefindcfg"):
        tweakreg.TweakReg(files, threshold=5, imagefindcfg={"threshold": 6}, **QUIET)
    with pytest.raises(FileNotFoundError):
        tweakreg.TweakReg(["missing_flt.fits"], **QUIET)


def test_drizzlepac_configobj_mapping(exposures):
    """A configobj as drizzlepac's TweakReg builds it: sections, and the source-finding sets
    in '_SOURCE FINDING PARS_' / '_REF IMAGE SOURCE FINDING PARS_'."""
    files = [p for p, _ in exposures]
    cfg = {"input": files, "writecat": False, "interactive": False, "runfile": "",
           "UPDATE HEADER": {"updatehdr": False, "wcsname": "TWEAK"},
           "OBJECT MATCHING PARAMETERS": {"see2dplot": False, "minobj": 12},
           "CATALOG FITTING PARAMETERS": {"residplot": "No plot", "fitgeometry": "shift"},
           "_SOURCE FINDING PARS_": {"threshold": 9.0, "conv_width": 2.5},
           "_REF IMAGE SOURCE FINDING PARS_": {"threshold": 11.0}}
    task, find, reffind = tweakreg._parameters(cfg, None, None, {})
    assert (task.minobj, task.fitgeometry, find.threshold, find.conv_width,
            reffind.threshold) == (12, "shift", 9.0, 2.5, 11.0)
    result = tweakreg.run(cfg)
    assert all(im.fit.geometry == "shift" for im in result.images[1:])


def test_cfg_files_as_drizzlepac_writes_them(exposures, tmp_path):
    files = [p for p, _ in exposures]
    (tmp_path / "tweakreg.cfg").write_text(
        "_task_name_ = tweakreg\ninput = *_flt.fits\nrefimage = \"\"\nwritecat = False\n"
        "interactive = False\nrunfile = \"\"\n[UPDATE HEADER]\nupdatehdr = True\n"
        "wcsname = CFGFIT\nreusename = False\n[OBJECT MATCHING PARAMETERS]\nminobj = 10\n"
        "see2dplot = False\n[CATALOG FITTING PARAMETERS]\nfitgeometry = rscale\n"
        "residplot = No plot\n")
    (tmp_path / "imagefindpars.cfg").write_text(
        "_task_name_ = imagefindpars\ncomputesig = True\nconv_width = 2.5\nthreshold = 5.0\n")
    result = tweakreg.TweakReg(configobj=str(tmp_path / "tweakreg.cfg"),
                               imagefindcfg=str(tmp_path / "imagefindpars.cfg"))
    assert fits.getheader(files[2], ("SCI", 1))["WCSNAME"] == "CFGFIT"
    assert max(_rms_all(exposures)) < 0.02
    assert len(result.images) == 4
    (tmp_path / "bad.cfg").write_text("_task_name_ = astrodrizzle\n")
    with pytest.raises(ValueError, match="not 'tweakreg'"):
        tweakreg.TweakReg(files, configobj=str(tmp_path / "bad.cfg"))


def test_command_line(exposures, tmp_path, capsys):
    from gpudrizzle.cli import main

    files = [p for p, _ in exposures]
    status = main(["tweakreg", *files, "--updatehdr", "yes", "--see2dplot", "no",
                   "--residplot", "No plot", "--writecat", "no", "--runfile", "",
                   "--threshold", "4", "--ref-threshold", "5"])
    assert status == 0, capsys.readouterr().err
    assert max(_rms_all(exposures)) < 0.02
    assert "nmatch" in capsys.readouterr().out
    assert main(["tweakreg", *files, "--fitgeometry", "affine"]) == 2
    assert main(["tweakreg", "nothere.fits"]) == 1


@pytest.mark.emulated_gpu
def test_cuda_backend_on_the_emulation_equals_cpu(exposures, fake_cupy):
    """backend='cuda' (strict CuPy emulation): the same catalogs and fits as the cpu backend,
    each chip's SCI crossing to the device once and only the candidate tables coming back."""
    files = [p for p, _ in exposures]
    ref = tweakreg.TweakReg(files, backend="cpu", **QUIET)
    counters = fake_cupy.reset_counters()
    got = tweakreg.TweakReg(files, backend="cuda", **QUIET)
    sci_bytes = sum(fits.getdata(f, ("SCI", k)).astype(np.float32).nbytes
                    for f in files for k in (1, 2))
    assert counters.h2d_bytes <= 1.2 * sci_bytes
    assert counters.d2h_bytes <= 0.1 * sci_bytes  # statistics and candidate tables only
    assert {launch.kernel for launch in counters.launches} >= {
        "findstars_convolve", "findstars_peaks", "findstars_measure"}
    for a, b in zip(ref.images, got.images):
        for ca, cb in zip(a.chips, b.chips):
            np.testing.assert_array_equal(ca.xy, cb.xy)
            np.testing.assert_array_equal(ca.flux, cb.flux)
        if a.fit is not None:
            np.testing.assert_array_equal(a.fit.matrix, b.fit.matrix)
            np.testing.assert_array_equal(a.fit.shift, b.fit.shift)


def test_catfile_catalogs_and_exclusions(exposures, tmp_path):
    """catfile: the chips' catalogs given as text files (1-based X, Y, flux) align the same;
    exclusions: no source is found inside an excluded region."""
    files = [p for p, _ in exposures]
    found = tweakreg.TweakReg(files, **QUIET)
    lines = []
    for im in found.images:
        names = []
        for c in im.chips:
            name = f"{im.rootname}_{c.extver}.cat"
            np.savetxt(tmp_path / name, np.column_stack([c.xy + 1.0, c.flux]), fmt="%.6f",
                       header="X Y FLUX")
            names.append(name)
        lines.append(f"{os.path.basename(im.filename)} {' '.join(names)}")
    (tmp_path / "catfile.lst").write_text("\n".join(lines) + "\n")
    given = tweakreg.TweakReg(files, catfile="catfile.lst", xcol="X", ycol="Y", fluxcol="FLUX",
                              **QUIET)
    for a, b in zip(found.images[1:], given.images[1:]):
        np.testing.assert_allclose(b.fit.shift, a.fit.shift, atol=1e-5)
        assert b.fit.nmatch == a.fit.nmatch
    # exclusions: a box over the left half of chip 1 of the first exposure
    ny, nx = CHIP
    # as drizzlepac: a plain region is where sources are searched, "-" excludes one
    (tmp_path / "left.reg").write_text(f"image\n-box({nx / 4:.1f},{ny / 2:.1f},{nx / 2:.1f},"
                                       f"{ny + 10},0)\n")
    (tmp_path / "excl.lst").write_text(f"{os.path.basename(files[0])} left.reg None\n")
    excl = tweakreg.TweakReg(files, exclusions="excl.lst", **QUIET)
    xy = excl.images[0].chips[0].xy
    assert len(xy) and xy[:, 0].min() > nx / 2 - 1.5
    assert len(excl.images[0].chips[1].xy) == len(found.images[0].chips[1].xy)
    with pytest.raises(ValueError, match="not an input"):
        (tmp_path / "bad.lst").write_text("other_flt.fits left.reg\n")
        tweakreg.TweakReg(files, exclusions="bad.lst", **QUIET)


def test_user_order_kept_without_expand_refcat(exposures):
    """As drizzlepac: ordering by overlap needs expand_refcat; else the first image given is
    the reference."""
    files = [p for p, _ in exposures]
    result = tweakreg.TweakReg(files[::-1], enforce_user_order=False, expand_refcat=False,
                               searchrad=2.0, **QUIET)
    assert [im.filename for im in result.images if im.is_reference] == [files[-1]]


def test_xoffset_yoffset_without_histogram(exposures):
    """use2dhist=False: matching starts from xoffset/yoffset (image - reference, pixels)."""
    files = [p for p, e in exposures[:2]]
    e = exposures[1][1]
    good = tweakreg.TweakReg(files, use2dhist=False, xoffset=e.error.dx, yoffset=e.error.dy,
                             tolerance=1.5, **QUIET)
    assert good.images[1].offset == (e.error.dx, e.error.dy)
    assert good.images[1].fit.nmatch >= 15
    with pytest.raises(tweakreg.TweakRegError, match="matched"):
        tweakreg.TweakReg(files, use2dhist=False, tolerance=1.5, **QUIET)  # no offset: no match


def test_interactive_prompt(exposures, monkeypatch):
    """interactive=True: the plots are shown (pyplot) and each answer is honoured: 'n' keeps
    that image's header, 'q' keeps every header; no plot file is written."""
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot

    monkeypatch.setattr(pyplot, "show", lambda **kw: None)
    monkeypatch.setattr(tweakreg, "_can_prompt", lambda: True)
    files = [p for p, _ in exposures]
    answers = iter(["", "n", ""])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    before = [_digest(f) for f in files]
    tweakreg.TweakReg(files, interactive=True, updatehdr=True, writecat=False, runfile="")
    assert pyplot.get_fignums()  # figures were made for the screen
    pyplot.close("all")
    assert not [n for n in os.listdir(".") if n.endswith(".png")]
    changed = [_digest(f) != b for f, b in zip(files, before)]
    assert changed == [True, True, False, True]  # image 3 answered 'n'
    answers = iter(["q"])
    tweakreg.TweakReg(files, interactive=True, updatehdr=True, reusename=True, writecat=False,
                      runfile="")
    pyplot.close("all")
    assert [_digest(f) != b for f, b in zip(files, before)] == changed


def test_interactive_without_a_terminal_writes_the_plots(exposures, monkeypatch, caplog):
    """interactive=True (drizzlepac's default) where nobody can answer: a warning, the plots
    as PNG files, and the headers updated without asking."""
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(tweakreg, "_can_prompt", lambda: False)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked"))
    files = [p for p, _ in exposures[:2]]
    result = tweakreg.TweakReg(files, interactive=True, updatehdr=True, writecat=False,
                               runfile="")
    assert "no terminal to ask" in caplog.text
    root = result.images[1].rootname
    assert {f"residuals_{root}.png", f"vector_{root}.png", f"hist2d_{root}.png"} <= set(
        os.listdir("."))
    assert result.images[1].updated


def test_failure_during_header_updates_changes_no_file(exposures, monkeypatch):
    """A failure while writing the third file's copy (e.g. a full disk) leaves all four files
    as they were: every copy is written before any replaces its original."""
    import errno

    from gpudrizzle import wcsupdate

    files = [p for p, _ in exposures]
    before = [_digest(f) for f in files]
    real = wcsupdate._write_copy
    calls = []

    def write_copy(path, hdul, edited, tmp):
        calls.append(path)
        real(path, hdul, edited, tmp)
        if len(calls) == 3:  # the third copy is written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wcsupdate, "_write_copy", write_copy)
    with pytest.raises(OSError, match="No space left on device"):
        tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    assert [_digest(f) for f in files] == before
    assert not [n for n in os.listdir(os.path.dirname(files[0])) if n.endswith(".tmp")]


def test_unupdatable_input_refused_before_any_work(exposures, monkeypatch):
    """updatehdr=True with a read-only input: PermissionError naming it, before sources are
    searched, and no file changes."""
    import stat

    from gpudrizzle import findstars

    files = [p for p, _ in exposures]
    os.chmod(files[2], stat.S_IRUSR | stat.S_IRGRP)
    before = [_digest(f) for f in files]
    monkeypatch.setattr(findstars, "find_sources", lambda *a, **k: pytest.fail("work started"))
    try:
        with pytest.raises(PermissionError, match=f"updatehdr=True: .*{files[2]}.*read-only"):
            tweakreg.TweakReg(files, updatehdr=True, **QUIET)
    finally:
        os.chmod(files[2], stat.S_IRUSR | stat.S_IWUSR)
    assert [_digest(f) for f in files] == before


def test_expand_refcat_rescues_an_image_that_first_fails(tmp_path, monkeypatch):
    """Three exposures in a row: the third does not overlap the first (the reference), so it
    fails; with expand_refcat the second's sources join the reference catalog and the third
    is aligned on the retry.  Without expand_refcat the run is an error."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "row").mkdir()
    exps = write_misaligned_set(tmp_path / "row", n=3, chip_shape=(256, 512), n_stars=150,
                                seed=21, dithers=[(0, 0), (330, 0), (660, 0)],
                                errors=[PointingError(), PointingError(4.0, -3.0),
                                        PointingError(-3.5, 5.0)])
    files = [e.path for e in exps]
    before = truth_rms(files[2], exps[2].true_wcs)
    order = [files[0], files[2], files[1]]  # the third is tried before the second
    with pytest.raises(tweakreg.TweakRegError) as info:
        tweakreg.TweakReg(order, **QUIET)
    assert list(info.value.failures) == [files[2]]
    result = tweakreg.TweakReg(order, expand_refcat=True, updatehdr=True, **QUIET)
    assert all(im.fit is not None for im in result.images[1:])
    rms = [truth_rms(e.path, e.true_wcs) for e in exps]
    # the third is aligned through the second's corrected sources over a narrow overlap, so
    # the second's fit error, extrapolated, adds to its own
    assert before > 5.0 and rms[1] < 0.03 and rms[2] < 0.15
