"""HAP sky-cell grid: drizzlepac goldens (names, WCS), ring table, edges, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.wcs import WCS

from gpudrizzle import hapcells
from gpudrizzle.hapcells import (hap_cells, parse_skycell_name, projection_cell,
                                 projection_cell_wcs, skycell, skycell_name)
from gpudrizzle.skycells import SkyCell

GOLDEN = json.loads((Path(__file__).parent / "golden" / "hapcells" /
                     "hapcells_golden.json").read_text())
SAMPLES = GOLDEN["samples"]


def _check_wcs(w, ref):
    assert isinstance(w, WCS)
    assert list(w.pixel_shape) == ref["naxis"]
    np.testing.assert_allclose(w.wcs.crval, ref["crval"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(w.wcs.crpix, ref["crpix"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(w.wcs.cd, ref["cd"], rtol=1e-14, atol=0)
    assert list(w.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    assert w.wcs.lonpole == 180.0  # drizzlepac's orientation, the north pole cell included


def test_ring_table_matches_drizzlepac():
    r = hapcells.rings()
    ref = GOLDEN["rings"]
    assert r["nband"].tolist() == ref["nband"]
    assert r["first"].tolist() == ref["first"]
    # drizzlepac stores the pole rings at +-89.999999999997
    np.testing.assert_allclose(r["dec"], ref["dec"], rtol=0, atol=1e-11)
    np.testing.assert_allclose(r["dec_min"], ref["dec_min"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(r["dec_max"], ref["dec_max"], rtol=0, atol=1e-9)
    assert set(ref["naxis"]) == {hapcells.PCELL_NAXIS} == {450287}


@pytest.mark.parametrize("k", range(len(SAMPLES)), ids=[s["why"] for s in SAMPLES])
def test_cells_match_drizzlepac_lookup(k):
    s = SAMPLES[k]
    outline = np.asarray(s["outline"])
    cells = hap_cells([outline])
    assert [c.name for c in cells] == sorted(s["cells"]), s["why"]
    for c in cells:
        assert isinstance(c, SkyCell) and c.layer == "0.04"
        _check_wcs(c.wcs, s["cells"][c.name]["fine"])
    coarse = hap_cells([outline], scale=0.12)
    assert [c.name for c in coarse] == sorted(s["cells"])
    for c in coarse:
        assert c.layer == "0.12"
        _check_wcs(c.wcs, s["cells"][c.name]["coarse"])
    for p, ref in s["pcells"].items():
        _check_wcs(projection_cell_wcs(int(p)), ref)


def test_every_golden_cell_by_name():
    seen = {n: c for s in SAMPLES for n, c in s["cells"].items()}
    assert len(seen) > 80
    for name, ref in seen.items():
        p, x, y = parse_skycell_name(name)
        assert skycell_name(p, x, y) == name
        _check_wcs(skycell(p, x, y).wcs, ref["fine"])
        _check_wcs(skycell(p, x, y, scale=0.12).wcs, ref["coarse"])


def test_projection_cell_home(rng):
    """The home projection cell contains the position, and its centre is nearest in its ring."""
    r = hapcells.rings()
    for _ in range(40):
        ra = rng.uniform(-30, 400)
        dec = math.degrees(math.asin(rng.uniform(-1, 1)))
        p = projection_cell(ra, dec)
        i = int(np.nonzero(r["first"] <= p)[0][-1])
        assert abs(r["dec"][i] - dec) <= 2.0
        w = projection_cell_wcs(p)
        x, y = w.wcs_world2pix([[ra % 360, dec]], 0)[0]
        assert -0.5 < x < w.pixel_shape[0] - 0.5 and -0.5 < y < w.pixel_shape[1] - 0.5
        n = int(r["nband"][i])
        centres = np.arange(n) * 360.0 / n
        dra = np.abs((centres - ra % 360 + 180) % 360 - 180)
        assert dra[p - r["first"][i]] == dra.min()
    assert projection_cell(0.0, 90.0) == 2643 and projection_cell(17.0, -90.0) == 0
    assert projection_cell(359.9, 0.5) == projection_cell(-0.1, 0.5) == 1322


def test_cores_tile_the_projection_cell():
    """Neighbouring cores meet edge to edge in the 0.04" plane (both layers), borders overlap."""
    step = int(hapcells.PCELL_NAXIS / 21 + 0.5)
    for scale in (0.04, 0.12):
        ratio = 0.04 / scale
        c1, c2 = skycell(1400, 5, 9, scale=scale), skycell(1400, 6, 9, scale=scale)
        nx, ny = c1.wcs.pixel_shape
        x0, y0, x1, y1 = c1.core
        assert 0 < x0 < x1 < nx and 0 < y0 < y1 < ny
        # plane position (0.04" px, 0-based) of the first pixel beyond c1's core and of c2's first
        pc = projection_cell_wcs(1400)
        ra, dec = c1.wcs.wcs_pix2world([[x1, 0]], 0)[0]
        u1 = pc.wcs_world2pix([[ra, dec]], 0)[0][0]
        ra, dec = c2.wcs.wcs_pix2world([[c2.core[0], 0]], 0)[0]
        u2 = pc.wcs_world2pix([[ra, dec]], 0)[0][0]
        edge = 5 * step + 256  # the shared core boundary
        assert edge - 1e-6 <= u1 < edge + 1 / ratio and edge - 1e-6 <= u2 < edge + 1 / ratio
        ra, dec = c1.wcs.wcs_pix2world([[x1 - 1, 0]], 0)[0]
        assert pc.wcs_world2pix([[ra, dec]], 0)[0][0] < edge
    fine = skycell(7, 1, 1)
    assert fine.core == (256, 256, 256 + step, 256 + step)
    assert fine.wcs.pixel_shape == (step + 512, step + 512)


def test_no_wrap_below_cell_zero_like_drizzlepac():
    """drizzlepac looks at the cells nearest in RA and their neighbours, not wrapping below 0."""
    s = next(s for s in SAMPLES if s["why"] == "ring 1 near RA 360")
    outline = np.asarray(s["outline"])
    x, y = projection_cell_wcs(9).wcs_world2pix(outline, 0).T  # ring 1, cell 8 (RA 320)
    assert ((x > 0) & (x < 450286) & (y > 0) & (y < 450286)).all()
    names = [c.name for c in hap_cells([outline])]
    assert names and all(n.startswith("skycell-p0001") for n in names)


def test_footprint_across_cell_edge_gets_both(rng):
    step = int(hapcells.PCELL_NAXIS / 21 + 0.5)
    p = int(rng.integers(100, 2500))
    pc = projection_cell_wcs(p)
    x = int(rng.integers(3, 18))
    y = int(rng.integers(3, 18))
    # a 40 px-wide box straddling the far edge of sky cell x's frame only
    fx = (x - 1) * step + step + 512  # first plane pixel beyond cell x's frame
    fy = (y - 1) * step + step // 2
    box = np.array([[fx - 20, fy - 20], [fx + 20, fy - 20], [fx + 20, fy + 20], [fx - 20, fy + 20]])
    outline = pc.wcs_pix2world(box, 0)
    names = [c.name for c in hap_cells([outline])]
    assert skycell_name(p, x, y) in names and skycell_name(p, x + 1, y) in names
    # the same box moved 40 px outward leaves cell x
    names = [c.name for c in hap_cells([pc.wcs_pix2world(box + [40, 0], 0)])]
    assert skycell_name(p, x, y) not in names and skycell_name(p, x + 1, y) in names
    # two chips, one on each side, each give their own cells; results are unioned
    left = pc.wcs_pix2world(box - [step, 0], 0)
    names2 = [c.name for c in hap_cells([left, pc.wcs_pix2world(box + [40, 0], 0)])]
    assert set(names) < set(names2) and skycell_name(p, x - 1, y) in names2
    assert names2 == sorted(names2) and len(set(names2)) == len(names2)
    # a mapping file -> chips (as mosaic plans hold footprints) is the union of its chips
    by_file = {"a.fits": [left], "b.fits": [pc.wcs_pix2world(box + [40, 0], 0)]}
    assert [c.name for c in hap_cells(by_file)] == names2


def test_footprint_cells_contain_it(rng):
    """Every returned frame meets the chip; each chip point lies in some returned core."""
    for _ in range(6):
        ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-0.95, 0.95)))
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [ra, dec]
        w.wcs.cdelt = [-1 / 3600, 1 / 3600]
        w.wcs.crpix = [100.5, 100.5]
        pts = w.wcs_pix2world(np.array([[0, 0], [200, 0], [200, 200], [0, 200]]) - 0.5, 0)
        cells = hap_cells([pts])
        assert cells
        centre = np.array([[ra, dec]])
        in_core = False
        for c in cells:
            x, y = c.wcs.wcs_world2pix(centre, 0)[0]
            x0, y0, x1, y1 = c.core
            in_core |= x0 - 0.5 <= x < x1 - 0.5 and y0 - 0.5 <= y < y1 - 0.5
        assert in_core


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    ([np.zeros((2, 2))], r"footprints\[0\]"),
    ([np.zeros((4, 3))], r"footprints\[0\]"),
    ([np.array([[0, 0], [1, 0], [1, np.nan]])], "non-finite"),
    ([np.array([[0, 0], [1, 0], [1, 91.0]])], r"\|dec\| > 90"),
    (5, "footprints"),
])
def test_bad_footprints(bad, match):
    with pytest.raises(ValueError, match=match):
        hap_cells(bad)


def test_bad_arguments():
    ok = [np.array([[10.0, 10.0], [10.01, 10.0], [10.01, 10.01], [10.0, 10.01]])]
    for scale in (0, -0.04, float("nan"), "fine", True):
        with pytest.raises(ValueError, match="'scale'"):
            hap_cells(ok, scale=scale)
    for border in (-1, 2.5, True):
        with pytest.raises(ValueError, match="'border'"):
            hap_cells(ok, border=border)
    for p in (-1, 2644, 3.0, True):
        with pytest.raises(ValueError, match="projection cell"):
            projection_cell_wcs(p)
    for x, y in ((0, 1), (22, 1), (1, 0), (1, 22)):
        with pytest.raises(ValueError, match="sky cell"):
            skycell_name(10, x, y)
    for name in ("skycell-p12x01y01", "skycell-p0012x22y01", "tile-x001y001", None,
                 "skycell-p9999x01y01"):
        with pytest.raises(ValueError):
            parse_skycell_name(name)
    with pytest.raises(ValueError, match="dec"):
        projection_cell(0.0, 90.5)
    with pytest.raises(ValueError, match="finite"):
        projection_cell(float("inf"), 0.0)
