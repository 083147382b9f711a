"""Coordinate tools (pixtosky, skytopix, pixtopix) on real HST/JWST headers.

Oracles: astropy's ``all_pix2world`` / ``all_world2pix`` on the same headers,
round trips, astropy's sexagesimal parsing, and drizzlepac 3.11 goldens
(tests/golden/coordtools/goldens.json, made by make_goldens.py there) for
the printed text, the output files and the return values.  Real headers come
from ../shared/data (the ``shared_data`` fixture skips when it is absent).
"""

import json
import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from gpudrizzle import coordfiles as cf
from gpudrizzle import cli, pixtopix, pixtosky, skytopix
from hstdata import file_hashes

GOLDEN = Path(__file__).resolve().parent / "golden" / "coordtools" / "goldens.json"
FLC = "wfc3_sample_ipppssoot_flc.fits"
FLT = "wfc3_sample_ipppssoot_flt.fits"
HRC = "j8bt06nyq_sip_flt.fits"
NIRCAM = "nircam.fits"
#: (image, 1-based pixel range of the full chip the WCS describes: nx, ny)
CHIPS = [(f"{FLC}[sci,1]", 4096, 2051), (f"{FLC}[sci,2]", 4096, 2051),
         (f"{FLT}[sci,1]", 1014, 1014), (f"{HRC}[sci,1]", 1024, 1024),
         (f"{NIRCAM}[1]", 2048, 2048)]
ROUND_TRIP_TOL = 1e-6  # pixels


@pytest.fixture
def work(tmp_path, shared_data, monkeypatch):
    """A scratch directory (the current one) with copies of the shared images and nircam.fits."""
    for name in (FLC, FLT, HRC):
        shutil.copy(shared_data / name, tmp_path)
    header = fits.Header.fromtextfile(str(shared_data / "nrcb5_sip_wcs.hdr"))
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(header=header)]).writeto(tmp_path / NIRCAM)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def astropy_wcs(spec):
    name, ext = spec[:-1].split("[")
    parts = ext.split(",")
    key = (parts[0].upper(), int(parts[1])) if len(parts) == 2 else int(parts[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(name) as hdul:
            return WCS(hdul[key].header, hdul)


def random_pixels(rng, nx, ny, n):
    return rng.uniform(0.5, nx + 0.5, n), rng.uniform(0.5, ny + 0.5, n)


def read_output(path):
    lines = Path(path).read_text().splitlines()
    return lines[0], [line.split("    ") for line in lines[1:]]


# ----------------------------------------------------------------- goldens

def _golden_cases():
    if not GOLDEN.is_file():
        return []
    return json.loads(GOLDEN.read_text())["cases"]


FUNCS = {"xy2rd": pixtosky.xy2rd, "rd2xy": skytopix.rd2xy, "tran": pixtopix.tran}
#: drizzlepac evaluates an output image linearly; here its distortion is applied (so these
#: differ on purpose: see test_tran_applies_the_output_image_distortion)
LINEAR_OUTPUT_CASES = {"tran_same.dat"}


def _values_close(got, want, tol):
    if isinstance(want, str):
        assert got == want
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _values_close(g, w, tol)
    else:
        assert abs(float(got) - want) <= tol, (got, want)


def _same_text(got, want, tol):
    if tol == 0.0 or got == want:
        assert got == want
        return
    got_lines, want_lines = got.split("\n"), want.split("\n")
    assert len(got_lines) == len(want_lines)
    for g, w in zip(got_lines, want_lines):
        gt, wt = g.split(" "), w.split(" ")  # single spaces kept: the spacing must match
        assert len(gt) == len(wt), (g, w)
        for a, b in zip(gt, wt):
            if a != b:
                assert abs(float(a) - float(b)) <= tol, (g, w)
                assert len(a) == len(b)


@pytest.mark.parametrize("case", [c for c in _golden_cases()
                                  if c["kwargs"].get("output") not in LINEAR_OUTPUT_CASES],
                         ids=lambda c: f"{c['func']}-{c['kwargs'].get('output', '')}")
def test_same_text_files_and_values_as_drizzlepac(work, case, capsys):
    data = json.loads(GOLDEN.read_text())
    (work / "xy.dat").write_text(data["xy.dat"])
    (work / "radec.dat").write_text(data["radec.dat"])
    for name in case["files"]:
        (work / name).write_text("poison\n")
    result = FUNCS[case["func"]](*case["args"], **case["kwargs"])
    # sky-to-pixel results: drizzlepac's inverse stops at 1e-4 px (errors here ~3e-8 px), so
    # a last printed digit may differ; every other character must be the same
    digit = 1.01 * 10.0 ** -case["kwargs"].get("precision", 6)
    tol = 0.0 if case["func"] == "xy2rd" else digit
    _same_text(capsys.readouterr().out, case["stdout"], tol)
    for name, text in case["files"].items():
        _same_text((work / name).read_text(), text, tol)
    # drizzlepac inverts distortion to astropy's default 1e-4 px; here to 1e-10
    tol = 1e-9 if case["func"] == "xy2rd" else 1e-4
    _values_close(np.asarray(result[0]).tolist(), case["result"][0], tol)
    _values_close(np.asarray(result[1]).tolist(), case["result"][1], tol)
    scalar = np.ndim(case["args"][1] if len(case["args"]) > 1 else [0]) == 0
    if case["func"] == "tran":
        scalar = np.ndim(case["args"][3]) == 0
    assert np.ndim(result[0]) == (0 if scalar else 1)


def test_tran_applies_the_output_image_distortion(work, capsys):
    """Same image in and out gives the identity; drizzlepac's value is the linear output path."""
    case = next(c for c in _golden_cases() if c["kwargs"].get("output") == "tran_same.dat")
    x, y = np.array(case["args"][3]), np.array(case["args"][4])
    ox, oy = pixtopix.tran(f"{FLT}[sci,1]", f"{FLT}[sci,1]", "forward", x, y, verbose=False)
    np.testing.assert_allclose(ox, x, atol=ROUND_TRIP_TOL, rtol=0)
    np.testing.assert_allclose(oy, y, atol=ROUND_TRIP_TOL, rtol=0)
    w = astropy_wcs(f"{FLT}[sci,1]")
    lx, ly = w.wcs_world2pix(*w.all_pix2world(x, y, 1), 1)
    np.testing.assert_allclose(lx, case["result"][0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ly, case["result"][1], atol=1e-6, rtol=0)
    assert np.abs(lx - x).max() > 1.0  # the two really differ on this chip


# ------------------------------------------------------- against astropy

@pytest.mark.parametrize("image,nx,ny", CHIPS)
def test_xy2rd_matches_astropy_and_round_trips(work, rng, image, nx, ny):
    x, y = random_pixels(rng, nx, ny, 2000)
    x0, y0 = x.copy(), y.copy()
    ra, dec = pixtosky.xy2rd(image, x, y, hms=False, verbose=False, output="rd.dat")
    np.testing.assert_array_equal(x, x0)  # inputs untouched
    np.testing.assert_array_equal(y, y0)
    w = astropy_wcs(image)
    ref_ra, ref_dec = w.all_pix2world(x, y, 1)
    np.testing.assert_allclose(ra, ref_ra, atol=1e-11, rtol=0)
    np.testing.assert_allclose(dec, ref_dec, atol=1e-11, rtol=0)
    bx, by = skytopix.rd2xy(image, ra, dec, verbose=False, output="xy.dat")
    assert np.abs(bx - x).max() < ROUND_TRIP_TOL
    assert np.abs(by - y).max() < ROUND_TRIP_TOL
    ax, ay = w.all_world2pix(ra, dec, 1, tolerance=1e-10, maxiter=100)
    np.testing.assert_allclose(bx, ax, atol=ROUND_TRIP_TOL, rtol=0)
    np.testing.assert_allclose(by, ay, atol=ROUND_TRIP_TOL, rtol=0)


def test_lookup_tables_are_applied(work, rng):
    """The WFC3/UVIS chip's D2IM and NPOL tables change the answer (so they are not dropped)."""
    x, y = random_pixels(rng, 4096, 2051, 200)
    ra, dec = pixtosky.xy2rd(f"{FLC}[sci,1]", x, y, hms=False, verbose=False, output="o.dat")
    w = astropy_wcs(f"{FLC}[sci,1]")
    assert w.cpdis1 is not None and w.det2im1 is not None
    w.cpdis1 = w.cpdis2 = w.det2im1 = w.det2im2 = None
    sx, sy = w.wcs_world2pix(*w.all_pix2world(x, y, 1), 1)
    fx, fy = w.wcs_world2pix(ra, dec, 1)
    assert np.hypot(fx - sx, fy - sy).max() > 0.01


def test_tran_matches_astropy_both_ways(work, rng):
    x, y = random_pixels(rng, 4096, 2051, 1000)
    a, b = f"{FLC}[sci,1]", f"{FLC}[sci,2]"
    ox, oy = pixtopix.tran(a, b, "forward", x, y, verbose=False)
    wa, wb = astropy_wcs(a), astropy_wcs(b)
    rx, ry = wb.all_world2pix(*wa.all_pix2world(x, y, 1), 1, tolerance=1e-10, maxiter=100)
    np.testing.assert_allclose(ox, rx, atol=ROUND_TRIP_TOL, rtol=0)
    np.testing.assert_allclose(oy, ry, atol=ROUND_TRIP_TOL, rtol=0)
    bx, by = pixtopix.tran(a, b, "backward", ox, oy, verbose=False)
    assert np.abs(bx - x).max() < ROUND_TRIP_TOL
    assert np.abs(by - y).max() < ROUND_TRIP_TOL


def test_tran_blank_outimage_is_the_default_frame(work, rng):
    from gpudrizzle.exposure import load_exposure
    from gpudrizzle.outframe import default_frame

    frame = default_frame(load_exposure(FLC, check_flags=False).chips)
    x, y = random_pixels(rng, 4096, 2051, 300)
    for blank in ("", None, " "):
        ox, oy = pixtopix.tran(f"{FLC}[sci,2]", blank, "forward", x, y, verbose=False)
        w = astropy_wcs(f"{FLC}[sci,2]")
        rx, ry = frame.wcs_world2pix(*w.all_pix2world(x, y, 1), 1)
        np.testing.assert_allclose(ox, rx, atol=1e-9, rtol=0)
        np.testing.assert_allclose(oy, ry, atol=1e-9, rtol=0)


def test_a_large_catalog_is_vectorised(work, rng):
    n = 300_000
    x, y = random_pixels(rng, 4096, 2051, n)
    ra, dec = pixtosky.xy2rd(f"{FLC}[sci,1]", x, y, hms=False, verbose=False, output="rd.dat")
    bx, by = skytopix.rd2xy(f"{FLC}[sci,1]", ra, dec, verbose=False, output="xy.dat")
    assert bx.shape == (n,) and np.abs(bx - x).max() < ROUND_TRIP_TOL
    assert np.abs(by - y).max() < ROUND_TRIP_TOL
    assert len(Path("xy.dat").read_text().splitlines()) == n + 1


def test_far_positions_come_out_nan_with_a_warning(work):
    with pytest.warns(RuntimeWarning, match="did not converge for 1 of 2"):
        x, y = skytopix.rd2xy(f"{FLC}[sci,1]", [137.8172542083333, 137.0],
                              [-64.88987701138889, -65.0], verbose=False, output="o.dat")
    assert math.isnan(x[1]) and math.isnan(y[1])
    # the good position is the same as on its own (and as astropy's)
    alone = skytopix.rd2xy(f"{FLC}[sci,1]", 137.8172542083333, -64.88987701138889,
                           verbose=False, output="o.dat")
    ref = astropy_wcs(f"{FLC}[sci,1]").all_world2pix(137.8172542083333, -64.88987701138889, 1,
                                                     tolerance=1e-10, maxiter=100)
    assert abs(x[0] - alone[0]) < 1e-9 and abs(y[0] - alone[1]) < 1e-9
    assert abs(x[0] - ref[0]) < 1e-9 and abs(y[0] - ref[1]) < 1e-9


# ----------------------------------------------------- scalars and lists

def test_scalar_in_scalar_out_list_in_arrays_out(work, capsys):
    r, d = pixtosky.xy2rd(f"{FLC}[sci,1]", 5.0, 6.0, hms=False)
    assert np.ndim(r) == 0 and np.ndim(d) == 0 and isinstance(float(r), float)
    r, d = pixtosky.xy2rd(f"{FLC}[sci,1]", 5.0, 6.0)
    assert isinstance(r, str) and isinstance(d, str)
    r, d = pixtosky.xy2rd(f"{FLC}[sci,1]", [5.0], [6.0], hms=False)
    assert isinstance(r, np.ndarray) and r.shape == (1,)
    x, y = skytopix.rd2xy(f"{FLC}[sci,1]", "9:11:16.14", "-64:53:23.5")
    assert np.ndim(x) == 0
    x, y = skytopix.rd2xy(f"{FLC}[sci,1]", np.array([137.81]), np.array([-64.9]))
    assert isinstance(x, np.ndarray) and x.shape == (1,)
    x, y = pixtopix.tran(f"{FLC}[sci,1]", f"{FLC}[sci,2]", "forward", 5, 6)
    assert np.ndim(x) == 0
    x, y = pixtopix.tran(f"{FLC}[sci,1]", f"{FLC}[sci,2]", "forward", (5, 7), (6, 8))
    assert isinstance(x, np.ndarray) and x.shape == (2,)
    capsys.readouterr()


def test_no_extension_uses_the_only_sci_or_asks_for_one(work, capsys):
    r1 = pixtosky.xy2rd(FLT, 5.0, 6.0, hms=False)
    r2 = pixtosky.xy2rd(f"{FLT}[sci,1]", 5.0, 6.0, hms=False)
    assert r1 == r2
    with pytest.raises(ValueError, match=r"2 SCI extensions: name one.*\[sci,1\]"):
        pixtosky.xy2rd(FLC, 5.0, 6.0)
    for spec in (f"{FLC}[1]", f"{FLC}['sci',1]", f"{FLC}[SCI, 1]", f"{FLC}[sci]"):
        assert pixtosky.xy2rd(spec, 5.0, 6.0, hms=False) == pixtosky.xy2rd(
            f"{FLC}[sci,1]", 5.0, 6.0, hms=False)
    capsys.readouterr()


# ------------------------------------------------------------ file formats

def test_ascii_columns_by_number_name_and_separator(work, rng, capsys):
    x, y = random_pixels(rng, 4096, 2051, 50)
    w = astropy_wcs(f"{FLC}[sci,1]")
    ref = w.all_pix2world(x, y, 1)
    rows = "\n".join(f"{i} {a!r} {b!r} 7" for i, (a, b) in enumerate(zip(x.tolist(), y.tolist())))
    Path("plain.dat").write_text("# id xpos ypos flux\n" + rows + "\n1 INDEF 3 4\n\n")
    Path("comma.csv").write_text("# id,x,y\n" + "\n".join(
        f"{i},{a!r},{b!r}" for i, (a, b) in enumerate(zip(x.tolist(), y.tolist()))) + "\n")
    for kwargs in ({"coordfile": "plain.dat", "colnames": "c2,c3"},
                   {"coordfile": "plain.dat", "colnames": ["xpos", "ypos"]},
                   {"coordfile": "plain.dat", "colnames": [2, 3]},
                   {"coordfile": "comma.csv", "colnames": "c2,c3", "separator": ","}):
        ra, dec = pixtosky.xy2rd(f"{FLC}[sci,1]", hms=False, verbose=False, output="o.dat",
                                 **kwargs)
        np.testing.assert_allclose(ra, ref[0], atol=1e-11, rtol=0)
        np.testing.assert_allclose(dec, ref[1], atol=1e-11, rtol=0)
    Path("one.dat").write_text(f"{float(x[0])!r} {float(y[0])!r}\n")
    ra, dec = pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="one.dat", hms=False)
    assert ra.shape == (1,) and abs(ra[0] - ref[0][0]) < 1e-11
    capsys.readouterr()


def test_fits_table_coordinates(work, rng, capsys):
    x, y = random_pixels(rng, 4096, 2051, 40)
    w = astropy_wcs(f"{FLC}[sci,2]")
    ra, dec = w.all_pix2world(x, y, 1)
    cols = [fits.Column(name="ID", format="J", array=np.arange(40)),
            fits.Column(name="X_IMAGE", format="D", array=x),
            fits.Column(name="Y_IMAGE", format="D", array=y),
            fits.Column(name="RA", format="D", array=ra),
            fits.Column(name="DEC", format="D", array=dec)]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto("cat.fits")
    gr, gd = pixtosky.xy2rd(f"{FLC}[sci,2]", coordfile="cat.fits", colnames="x_image,y_image",
                            hms=False, verbose=False, output="o.dat")
    np.testing.assert_allclose(gr, ra, atol=1e-11, rtol=0)
    np.testing.assert_allclose(gd, dec, atol=1e-11, rtol=0)
    gx, gy = skytopix.rd2xy(f"{FLC}[sci,2]", coordfile="cat.fits", colnames=["ra", "dec"],
                            verbose=False, output="o.dat")
    assert np.abs(gx - x).max() < ROUND_TRIP_TOL and np.abs(gy - y).max() < ROUND_TRIP_TOL
    tx, ty = pixtopix.tran(f"{FLC}[sci,2]", f"{FLC}[sci,2]", coordfile="cat.fits",
                           colnames="c2,c3", verbose=False)
    assert np.abs(tx - x).max() < ROUND_TRIP_TOL and np.abs(ty - y).max() < ROUND_TRIP_TOL
    capsys.readouterr()


def test_output_files_hold_the_formatted_results(work, rng, capsys):
    x, y = random_pixels(rng, 4096, 2051, 7)
    Path("out.dat").write_text("poison")
    ra, dec = pixtosky.xy2rd(f"{FLC}[sci,1]", x, y, hms=False, precision=9, output="out.dat",
                             verbose=False)
    title, rows = read_output("out.dat")
    assert title == f"# Coordinates converted from {FLC}[sci,1]"
    assert rows == [[f"{a:.9f}", f"{b:.9f}"] for a, b in zip(ra, dec)]
    assert capsys.readouterr().out == "Wrote out results to:  out.dat\n"
    ox, oy = pixtopix.tran(f"{FLC}[sci,1]", f"{FLC}[sci,2]", x=x, y=y, precision=2,
                           output="tran.dat", verbose=False)
    title, rows = read_output("tran.dat")
    assert rows == [[f"{a:.2f}", f"{b:.2f}"] for a, b in zip(ox, oy)]


# -------------------------------------------------------------- sexagesimal

def test_sexagesimal_output_reads_back_with_astropy(work, rng, capsys):
    x, y = random_pixels(rng, 1024, 1024, 100)
    ra, dec = pixtosky.xy2rd(f"{HRC}[sci,1]", x, y, hms=False, verbose=False, output="a.dat")
    hra, hdec = pixtosky.xy2rd(f"{HRC}[sci,1]", x, y, hms=True, precision=8, verbose=False,
                               output="b.dat")
    back_ra = np.array([Angle(s, unit=u.hourangle).deg for s in hra])
    back_dec = np.array([Angle(s, unit=u.deg).deg for s in hdec])
    np.testing.assert_allclose(back_ra, ra, atol=1e-8 * 15 / 3600, rtol=0)
    np.testing.assert_allclose(back_dec, dec, atol=1e-8 / 3600, rtol=0)
    # and into pixels again from the strings, through a file
    bx, by = skytopix.rd2xy(f"{HRC}[sci,1]", coordfile="b.dat", verbose=False, output="c.dat")
    assert np.abs(bx - x).max() < 1e-4 and np.abs(by - y).max() < 1e-4


def test_sexagesimal_input_forms(work, rng, capsys):
    ra = rng.uniform(0, 360, 20)
    dec = rng.uniform(-89, 89, 20)
    colon = [Angle(a, u.deg).to_string(unit=u.hourangle, sep=":", precision=9) for a in ra]
    letters = [Angle(a, u.deg).to_string(unit=u.hourangle, sep="hms", precision=9) for a in ra]
    dcolon = [Angle(d, u.deg).to_string(unit=u.deg, sep=":", precision=9) for d in dec]
    spaced = [Angle(d, u.deg).to_string(unit=u.deg, sep=" ", precision=9) for d in dec]
    for r_in, d_in in ((colon, dcolon), (letters, spaced), ([str(a) for a in ra], dec)):
        r, d, scalar = cf.sky_positions(r_in, d_in)
        np.testing.assert_allclose(r, ra, atol=1e-9 / 3600 * 15, rtol=0)
        np.testing.assert_allclose(d, dec, atol=1e-9 / 3600, rtol=0)
        assert not scalar
    r, d, _ = cf.sky_positions("-0 30 0", "-0:30:0")
    assert r[0] == pytest.approx(-7.5) and d[0] == pytest.approx(-0.5)
    # three columns per coordinate joined in a file
    Path("split.dat").write_text("".join(
        f"{c.replace(':', ' ')} {e.replace(':', ' ')}\n" for c, e in zip(colon, dcolon)))
    got_r, got_d = cf.read_coordfile("split.dat", ["c1,c2,c3", "c4,c5,c6"])
    np.testing.assert_allclose(got_r, ra, atol=1e-9 / 3600 * 15, rtol=0)
    np.testing.assert_allclose(got_d, dec, atol=1e-9 / 3600, rtol=0)


def test_degrees_to_hms_edge_cases():
    r, d = cf.degrees_to_hms(np.array([0.0, 359.99999999999, 15.0]),
                             np.array([-0.5, -89.99999999999, 1e-13]), precision=3)
    assert r == ["0:0:0.000", "0:0:0.000", "1:0:0.000"]
    assert d == ["-0:30:0.000", "-90:0:0.000", "0:0:0.000"]
    r, d = cf.degrees_to_hms(np.array([137.8172542083333]), np.array([-64.88987701138889]), 0)
    assert r == ["9:11:16"] and d == ["-64:53:24"]


# ---------------------------------------------------------------- bad input

def test_bad_input_gives_clear_errors(work, capsys):
    with pytest.raises(ValueError, match=r"has no extension \[sci,3\]"):
        pixtosky.xy2rd(f"{FLC}[sci,3]", 1.0, 1.0)
    with pytest.raises(ValueError, match=r"has no extension \[40\]"):
        skytopix.rd2xy(f"{FLC}[40]", 137.8, -64.9)
    with pytest.raises(ValueError, match=r"extension must be a number"):
        pixtosky.xy2rd(f"{FLC}[sci,x]", 1.0, 1.0)
    with pytest.raises(FileNotFoundError, match="missing_flt.fits"):
        pixtosky.xy2rd("missing_flt.fits[sci,1]", 1.0, 1.0)
    with pytest.raises(FileNotFoundError, match="nothere.dat"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="nothere.dat")
    with pytest.raises(ValueError, match=r"'x' and 'y' have different lengths \(3 and 2\)"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"'ra' and 'dec' have different lengths"):
        skytopix.rd2xy(f"{FLC}[sci,1]", [137.8, 137.9], [-64.9])
    with pytest.raises(ValueError, match=r"give both 'x' and 'y'"):
        pixtopix.tran(f"{FLC}[sci,1]", "", "forward", x=5.0)
    with pytest.raises(ValueError, match=r"'ra' value '9:xx:1' is neither"):
        skytopix.rd2xy(f"{FLC}[sci,1]", "9:xx:1", "-64:53:0")
    with pytest.raises(ValueError, match=r"'direction' must be 'forward' or 'backward'"):
        pixtopix.tran(f"{FLC}[sci,1]", "", "sideways", 1.0, 1.0)
    with pytest.raises(ValueError, match=r"'precision' must be a non-negative integer"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", 1.0, 1.0, precision=-1)
    Path("xy.dat").write_text("# a b\n1 2\n3 4\n")
    with pytest.raises(ValueError, match=r"no column 'zz'"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="xy.dat", colnames="zz,b")
    with pytest.raises(ValueError, match=r"xy.dat, line 2: no column c5"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="xy.dat", colnames="c5,c1")
    with pytest.raises(ValueError, match=r"'colnames' must name two columns"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="xy.dat", colnames="c1")
    Path("bad.csv").write_text("1;2\n3;oops\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 2: column c2 is not a number"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="bad.csv", separator=";")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="X", format="D", array=[1.0])])]).writeto("t.fits")
    with pytest.raises(ValueError, match=r"no column 'y'"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", coordfile="t.fits", colnames="x,y")
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))]).writeto("nowcs.fits")
    with pytest.raises(ValueError, match=r"no celestial WCS"):
        pixtosky.xy2rd("nowcs.fits[0]", 1.0, 1.0)
    capsys.readouterr()


def test_inputs_are_left_unchanged(work, capsys):
    names = [str(work / n) for n in (FLC, FLT, HRC)]
    before = file_hashes(names)
    pixtosky.xy2rd(f"{FLC}[sci,1]", 1.0, 1.0)
    skytopix.rd2xy(f"{HRC}[sci,1]", 6.0271, -72.0835)
    pixtopix.tran(f"{FLC}[sci,1]", "", "backward", 3.0, 3.0)
    pixtopix.tran(f"{FLT}[sci,1]", f"{FLC}[sci,2]", "forward", 3.0, 3.0)
    assert file_hashes(names) == before
    capsys.readouterr()


def test_deprecated_coords_parameter(work, capsys):
    Path("xy.dat").write_text("5 6\n")
    with pytest.warns(DeprecationWarning, match="coordfile"):
        r, _ = pixtosky.xy2rd(f"{FLC}[sci,1]", coords="xy.dat", hms=False)
    assert r[0] == pytest.approx(pixtosky.xy2rd(f"{FLC}[sci,1]", 5.0, 6.0, hms=False)[0],
                                 abs=1e-12)
    capsys.readouterr()


# ------------------------------------------------------------ command line

def _run(module, argv):
    """The ``gpudrizzle <module>`` command line."""
    return cli.main([module.__name__.rsplit(".", 1)[1]] + argv)


def test_command_lines(work, capsys):
    assert _run(pixtosky, [f"{FLC}[sci,1]", "--x", "5", "--y", "6"]) == 0
    out = capsys.readouterr().out
    assert "5.0000  6.0000    9:11:27.274782  -64:52:41.800584" in out
    assert _run(pixtosky, [f"{FLC}[sci,1]", "--x", "5", "1", "--y", "6", "2", "--no-hms",
                           "--output", "r.dat", "--quiet"]) == 0
    assert capsys.readouterr().out == ""  # --quiet with --output: nothing printed
    assert read_output("r.dat")[1] == [["137.863645", "-64.878278"], ["137.863688", "-64.878216"]]
    assert _run(skytopix, [f"{FLC}[sci,1]", "--ra", "9:11:27.274782",
                           "--dec", "-64:52:41.800584", "--precision", "3"]) == 0
    assert "5.000  6.000    137.8636449" in capsys.readouterr().out
    Path("xy.dat").write_text("5 6\n6 7\n")
    assert _run(pixtopix, [f"{FLC}[sci,1]", "--coordfile", "xy.dat", "--output", "t.dat"]) == 0
    out = capsys.readouterr().out
    assert "5.0000  6.0000    5.032734  6.255596" in out and "Wrote out results to:  t.dat" in out
    assert _run(pixtopix, [f"{FLC}[sci,1]", f"{FLC}[sci,2]", "--direction", "backward",
                           "--x", "2.475840", "--y", "-2070.871411"]) == 0
    assert "5.000000  6.000000" in capsys.readouterr().out
    assert _run(pixtosky, [f"{FLC}[sci,1]", "--x", "5"]) == 2
    assert capsys.readouterr().err == ("gpudrizzle pixtosky: error: give --x and --y, "
                                       "or --coordfile\n")
    assert _run(skytopix, [f"{FLC}[sci,1]"]) == 2
    assert "give --ra and --dec" in capsys.readouterr().err


def test_command_line_usage_problems_exit_2_naming_the_command(work, capsys):
    Path("xy.dat").write_text("5 6\n")
    for module, argv, words in [
            (pixtosky, ["--x", "5", "1", "--y", "6"], "different numbers of values (2 and 1)"),
            (pixtopix, ["--x", "5", "--y", "6", "2", "3"], "different numbers of values"),
            (skytopix, ["--ra", "10", "11", "--dec", "5"], "different numbers of values"),
            (pixtosky, ["--x", "5", "--y", "6", "--coordfile", "xy.dat"], "not both"),
            (pixtopix, ["--coordfile", "xy.dat", "--x", "5", "--y", "6"], "not both"),
            (skytopix, ["--ra", "10", "--dec", "5", "--coordfile", "xy.dat"], "not both"),
            (pixtosky, ["--no-hsm", "--x", "5", "--y", "6"], "did you mean --no-hms?"),
            (pixtopix, ["--direction", "up", "--x", "5", "--y", "6"], "forward or backward")]:
        name = module.__name__.rsplit(".", 1)[1]
        assert _run(module, [f"{FLC}[sci,1]"] + argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"gpudrizzle {name}: error: ") and words in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_options_before_the_input_and_negative_sexagesimal_declinations(work, capsys):
    want = skytopix.rd2xy(f"{FLC}[sci,1]", ["9:11:27.29", "9:11:27.3"],
                          ["-64:52:41.6", "-64:52:41.7"], verbose=False, output="w.dat")
    assert _run(skytopix, ["--ra", "9:11:27.29", "9:11:27.3", "--dec", "-64:52:41.6",
                           "-64:52:41.7", "--output", "o.dat", f"{FLC}[sci,1]"]) == 0
    assert Path("o.dat").read_text() == Path("w.dat").read_text()
    rows = read_output("o.dat")[1]
    assert np.allclose(np.array(rows, dtype=float), np.column_stack(want), atol=1e-6)
    # a declination between 0 and -1 degree keeps its sign
    assert _run(skytopix, [f"{FLC}[sci,1]", "--ra", "9:11:27.29", "--dec", "-0:30:00"]) == 0
    assert "137.86370833333334  -0.5" in capsys.readouterr().out
    # forward/backward by their first letter, as tran() reads them
    for word, ref in (("f", "forward"), ("Back", "backward"), ("b", "backward")):
        assert _run(pixtopix, [f"{FLC}[sci,1]", f"{FLC}[sci,2]", "--direction", word, "--x", "5",
                               "--y", "6", "--output", f"{word}.dat", "-q"]) == 0
        pixtopix.tran(f"{FLC}[sci,1]", f"{FLC}[sci,2]", ref, 5, 6, output="ref.dat",
                      verbose=False)
        assert Path(f"{word}.dat").read_text() == Path("ref.dat").read_text()
    capsys.readouterr()


def test_far_positions_on_the_command_line_are_one_warning_line(work, capsys):
    for dec in ("-65", "20"):  # diverging inverse; the other side of the sky
        assert _run(skytopix, [f"{FLC}[sci,1]", "--ra", "137", "10", "--dec", dec, dec]) == 0
        cap = capsys.readouterr()
        assert "nan  nan" in cap.out
        lines = cap.err.strip().splitlines()
        assert lines == [f"gpudrizzle: WARNING: {FLC}[sci,1]: the sky-to-pixel inverse did not "
                         "converge for 2 of 2 position(s) (set to NaN); they are probably far "
                         "outside the image"], cap.err


def test_sky_positions_out_of_range_are_refused(work, capsys):
    for ra, dec, words in ((400, 10, "'ra' must be in [0, 360)"), (-1, 10, "'ra'"),
                           (360.0, 10, "'ra'"), (10, 95, "'dec' must be in [-90, 90]"),
                           ("9:00:00", "-90:00:01", "'dec'"), (10, float("nan"), "'dec'")):
        with pytest.raises(ValueError, match=re.escape(words)):
            skytopix.rd2xy(f"{FLC}[sci,1]", ra, dec, verbose=False)
    Path("sky.dat").write_text("10 91\n")
    with pytest.raises(ValueError, match="'dec'"):
        skytopix.rd2xy(f"{FLC}[sci,1]", coordfile="sky.dat", verbose=False)
    assert _run(skytopix, [f"{FLC}[sci,1]", "--ra", "400", "--dec", "95"]) == 1
    assert "'ra' must be in [0, 360) degrees" in capsys.readouterr().err
    # the limits themselves are fine
    with pytest.warns(RuntimeWarning, match="did not converge"):  # far away, not refused
        skytopix.rd2xy(f"{FLC}[sci,1]", [0.0, 359.999], [-90.0, 90.0], verbose=False,
                       output="e.dat")


def test_positions_and_a_coordinate_file_together_are_refused(work):
    Path("xy.dat").write_text("5 6\n")
    with pytest.raises(ValueError, match="not both"):
        pixtosky.xy2rd(f"{FLC}[sci,1]", 5, 6, coordfile="xy.dat")
    with pytest.raises(ValueError, match="not both"):
        pixtopix.tran(f"{FLC}[sci,1]", f"{FLC}[sci,2]", "forward", x=5, coordfile="xy.dat")
    with pytest.raises(ValueError, match="not both"):
        skytopix.rd2xy(f"{FLC}[sci,1]", 137.8, None, coordfile="xy.dat")
