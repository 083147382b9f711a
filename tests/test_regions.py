"""gpudrizzle.regions: DS9 region files and TweakReg exclusions -> masks of excluded pixels.

Goldens: tests/golden/regions/regions_golden.npz, the masks stregion (drizzlepac's
region library) makes of the same texts (tests/golden/regions/make_regions_golden.py).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import regions

_G = np.load(Path(__file__).parent / "golden" / "regions" / "regions_golden.npz")
CASES = json.loads(str(_G["cases"]))
SHAPE = tuple(int(v) for v in _G["shape"])
MASKS = np.unpackbits(_G["masks"], axis=-1)[..., :SHAPE[1]].astype(bool)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_masks_match_stregion(tmp_path, case):
    path = tmp_path / "r.reg"
    path.write_text(CASES[case])
    got = regions.excluded_mask(path, SHAPE)
    assert got.shape == SHAPE and got.dtype == bool
    np.testing.assert_array_equal(got, ~MASKS[case])
    assert 0 < got.sum() < got.size  # the case excludes something and keeps something


def test_shapes_against_analytic_truth(rng):
    ny, nx = 60, 80
    y, x = np.mgrid[1:ny + 1, 1:nx + 1]
    xc, yc, r = rng.uniform(20, 60), rng.uniform(20, 40), rng.uniform(3, 15)
    got = regions.include_mask(regions.parse_regions(f"circle({xc},{yc},{r})"), (ny, nx))
    np.testing.assert_array_equal(got, (x - xc) ** 2 + (y - yc) ** 2 <= r ** 2)
    # a box rotated by 90 degrees is the box with w and h swapped
    w, h = rng.uniform(5, 20, 2)
    a = regions.include_mask(regions.parse_regions(f"box({xc},{yc},{w},{h},90)"), (ny, nx))
    b = regions.include_mask(regions.parse_regions(f"box({xc},{yc},{h},{w})"), (ny, nx))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(b, (np.abs(x - xc) <= h / 2) & (np.abs(y - yc) <= w / 2))
    # a polygon that is an axis-aligned rectangle
    x0, x1, y0, y1 = 10.3, 30.6, 5.2, 20.9
    poly = regions.include_mask(regions.parse_regions(
        f"polygon({x0},{y0},{x1},{y0},{x1},{y1},{x0},{y1})"), (ny, nx))
    np.testing.assert_array_equal(poly, (x > x0) & (x < x1) & (y > y0) & (y < y1))


def test_exclude_order_and_signs():
    shape = (30, 30)
    inc = regions.include_mask(regions.parse_regions("+circle(15,15,10)\n-circle(15,15,5)"),
                               shape)
    again = regions.include_mask(regions.parse_regions(
        "circle(15,15,10)\n-circle(15,15,5)\ncircle(15,15,2)"), shape)
    assert not inc[14, 14] and again[14, 14]  # order matters
    assert inc[14, 22] and not inc[0, 0]
    assert regions.include_mask([], shape).all()
    only_skipped = regions.parse_regions("image;point(3,3)\ntext(5,5) # text={x}\nline(1,1,4,4)")
    assert only_skipped == []


def _sky_wcs(shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.crval = [150.1, 2.2]
    s = 0.1 / 3600
    a = np.deg2rad(25.0)
    w.wcs.cd = [[-s * np.cos(a), s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]]
    w.wcs.set()
    return w


def _sexagesimal(value):
    sign = "-" if value < 0 else "+"
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    sec = ((value - d) * 60 - m) * 60
    return f"{sign}{d}:{m}:{sec:.7f}"


def test_sky_circle_and_polygon(rng):
    shape = (50, 70)
    w = _sky_wcs(shape)
    xc, yc = rng.uniform(20, 50), rng.uniform(15, 35)
    ra, dec = w.all_pix2world([[xc, yc]], 1)[0]
    r_arcsec = rng.uniform(0.5, 1.5)  # 5-15 pixels of 0.1"
    got = regions.include_mask(regions.parse_regions(
        f'fk5\ncircle({ra:.10f},{dec:.10f},{r_arcsec}")', wcs=w), shape)
    truth = regions.include_mask(regions.parse_regions(
        f"image;circle({xc},{yc},{r_arcsec / 0.1})"), shape)
    # the same pixels but for the pixel scale's rounding at the boundary
    assert (got != truth).sum() <= 2 and truth.sum() > 50
    sx = regions.include_mask(regions.parse_regions(
        f"icrs;circle({_sexagesimal(ra / 15)[1:]},{_sexagesimal(dec)},{r_arcsec / 60}')",
        wcs=w), shape)
    assert (sx != got).sum() <= 2
    verts = np.array([[10.2, 8.1], [60.3, 12.7], [40.9, 44.2]])
    sky = w.all_pix2world(verts, 1)
    a = regions.include_mask(regions.parse_regions(
        "fk5;polygon(" + ",".join(f"{v:.10f}" for v in sky.ravel()) + ")", wcs=w), shape)
    b = regions.include_mask(regions.parse_regions(
        "polygon(" + ",".join(str(v) for v in verts.ravel()) + ")"), shape)
    np.testing.assert_array_equal(a, b)
    assert b.sum() > 100


def test_sky_needs_wcs_and_refuses_boxes():
    with pytest.raises(ValueError, match=r"r.reg, line 2: a region in sky coordinates needs"):
        regions.parse_regions("fk5\ncircle(150.1,2.2,3\")", source="r.reg")
    w = _sky_wcs((20, 20))
    with pytest.raises(ValueError, match=r"line 1: a box in sky coordinates is not supported"):
        regions.parse_regions("fk5;box(150.1,2.2,3\",3\",0)", wcs=w)
    with pytest.raises(ValueError, match="coordinate system 'galactic' is not supported"):
        regions.parse_regions("galactic;circle(1,1,1)")


@pytest.mark.parametrize("text, line, msg", [
    ("image\ncircle(1,2)", 2, r"circle\(x, y, r\) needs 3 values, got 2"),
    ("# c\n\nbox(1,2,3)", 3, "box.* needs 4 or 5 values"),
    ("circle(1,2,-3)", 1, "circle radius must be > 0"),
    ("polygon(1,2,3,4)", 1, "polygon needs at least 3 vertices"),
    ("circle(a,2,3)", 1, "'a' is not a number"),
    ("annulus(5,5,1,2)", 1, "shape 'annulus' is not supported"),
    ("circle 5 5 1", 1, "cannot read 'circle 5 5 1'"),
    ("image;circle(5,5,3\")", 1, "sizes with sky units .* need sky coordinates"),
])
def test_syntax_errors_name_file_and_line(tmp_path, text, line, msg):
    path = tmp_path / "bad.reg"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"bad.reg, line {line}: (\w+ )?{msg}"):
        regions.excluded_mask(path, (10, 10))


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.reg does not exist"):
        regions.excluded_mask(tmp_path / "nothere.reg", (5, 5))
    with pytest.raises(FileNotFoundError, match="nothere.reg does not exist"):
        regions.read_regions(tmp_path / "nothere.reg")
    with pytest.raises(FileNotFoundError, match="exclusions file .*nothere.txt does not exist"):
        regions.read_exclusions(tmp_path / "nothere.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    for read, what in ((regions.read_exclusions, "exclusions file"),
                       (regions.read_regions, "region file")):
        with pytest.raises(ValueError, match=f"{what} .*binary.txt is not a text file"):
            read(binary)


def test_fits_mask(tmp_path, rng):
    good = rng.integers(0, 2, (12, 15)).astype(np.uint8)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 3))),
                  fits.ImageHDU(good)]).writeto(tmp_path / "m.fits")
    np.testing.assert_array_equal(regions.excluded_mask(tmp_path / "m.fits", (12, 15)),
                                  good == 0)
    with pytest.raises(ValueError, match=r"no image extension has the chip's shape \(4, 4\)"):
        regions.excluded_mask(tmp_path / "m.fits", (4, 4))


def test_read_exclusions(tmp_path):
    sub = tmp_path / "cfg"
    sub.mkdir()
    p = sub / "exclusions.txt"
    p.write_text("# TweakReg exclusions\n"
                 "j99da1emq_flt.fits\n"
                 "/data/j99da1f2q_flt.fits None test_sci2_exclusion.reg\n"
                 "j99da1f8q_flt.fits[sci,2] ../chip2.reg\n"
                 "j99da1f8q_flt.fits[SCI,1] INDEF\n")
    got = regions.read_exclusions(p)
    assert got == {"j99da1emq_flt.fits": {},
                   "j99da1f2q_flt.fits": {1: None,
                                          2: os.path.join(str(sub), "test_sci2_exclusion.reg")},
                   "j99da1f8q_flt.fits": {2: os.path.join(str(tmp_path), "chip2.reg"), 1: None}}
    p.write_text("a.fits[sci,1] x.reg y.reg\n")
    with pytest.raises(ValueError, match="line 1: a.fits.sci,1. names one chip"):
        regions.read_exclusions(p)
    p.write_text("a.fits x.reg\na.fits[sci,1] y.reg\n")
    with pytest.raises(ValueError, match=r"line 2: a.fits\[sci,1\] is given twice"):
        regions.read_exclusions(p)
    p.write_text("a.fits[1] x.reg\n")
    with pytest.raises(ValueError, match="line 1: cannot read the image 'a.fits.1.'"):
        regions.read_exclusions(p)
