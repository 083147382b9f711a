"""Misaligned synthetic exposures: the injected pointing errors, the truth metric, the scene."""

import math

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from gpudrizzle import synthetic

SMALL = (128, 256)
GAP = 50


def _focal_offsets(shape, nchips=2, gap=GAP, grid=(17, 33)):
    """Grid pixel positions relative to the pointing (pixels), as truth_rms samples them.

    write_flt puts chip ``k``'s reference pixel at 0-based focal-plane pixel
    ``(0, offset_k)`` of a TAN frame whose CRPIX is (0, 0): one pixel up and
    right of the pointing on both axes.
    """
    ny, nx = shape
    gy, gx = np.meshgrid(np.linspace(0, ny - 1, grid[0]), np.linspace(0, nx - 1, grid[1]),
                         indexing="ij")
    out = []
    for k in range(1, nchips + 1):
        off = (k - (nchips + 1) / 2.0) * (ny + gap)
        out.append(np.column_stack([gx.ravel() - (nx - 1) / 2.0 + 1.0,
                                    gy.ravel() - (ny - 1) / 2.0 + off + 1.0]))
    return np.vstack(out)


def _expected_rms(error, u):
    """Analytic rms displacement of a plain-TAN exposure: (s R - 1) u + d in detector pixels.

    ``u`` are detector-pixel positions relative to the pointing; a header
    position angle larger by ``r`` sends a pixel to where the true WCS has the
    pixel ``u`` turned by ``+r`` (counter-clockwise in detector pixels).
    """
    t = math.radians(error.rotation)
    rot = error.scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    d = u @ (rot - np.eye(2)).T + np.array([error.dx, error.dy])
    return math.sqrt(np.mean(np.sum(d * d, axis=1)))


def _write(tmp_path, errors, **kw):
    kw.setdefault("chip_shape", SMALL)
    kw.setdefault("gap", GAP)
    return synthetic.write_misaligned_set(tmp_path, len(errors), errors=errors, **kw)


def test_zero_error_is_the_truth(tmp_path, rng):
    ex = _write(tmp_path, [(0.0, 0.0, 0.0, 1.0)] * 2, seed=int(rng.integers(1 << 30)),
                cosmic_rays=0)
    for e in ex:
        rms, chips = synthetic.truth_rms(e.path, e.true_wcs, per_chip=True)
        assert len(chips) == 2
        assert rms < 1e-6


@pytest.mark.parametrize("kind", ["shift", "rotation", "scale", "all"])
def test_injected_error_plain_tan(tmp_path, rng, kind):
    dx, dy = rng.uniform(-15, 15, 2)
    rot = float(rng.uniform(0.05, 0.2) * rng.choice([-1, 1]))
    scale = 1.0 + float(rng.uniform(1e-3, 5e-3) * rng.choice([-1, 1]))
    error = {"shift": (dx, dy, 0.0, 1.0), "rotation": (0.0, 0.0, rot, 1.0),
             "scale": (0.0, 0.0, 0.0, scale), "all": (dx, dy, rot, scale)}[kind]
    ex = _write(tmp_path, [(0, 0, 0, 1), error], sip=None, cosmic_rays=0, n_stars=5)
    e = ex[1]
    assert e.error == synthetic.PointingError(*error)
    expected = _expected_rms(e.error, _focal_offsets(SMALL))
    got = synthetic.truth_rms(e.path, e.true_wcs)
    # rotation/scale about the pointing displace pixels by a few tenths; shifts by ~10 px
    assert expected > 0.05
    assert got == pytest.approx(expected, rel=2e-6, abs=2e-6)
    assert synthetic.truth_rms(ex[0].path, ex[0].true_wcs) < 1e-6


def test_injected_error_with_sip(tmp_path, rng):
    """With distortion, the displacement is the plain-TAN one to the distortion's slope (<2%)."""
    dx, dy = rng.uniform(-10, 10, 2)
    error = (dx, dy, float(rng.uniform(-0.02, 0.02)), 1.0 + float(rng.uniform(-1e-5, 1e-5)))
    ex = _write(tmp_path, [error], cosmic_rays=0, n_stars=5)
    expected = _expected_rms(ex[0].error, _focal_offsets(SMALL))
    assert synthetic.truth_rms(ex[0].path, ex[0].true_wcs) == pytest.approx(expected, rel=0.02)


def test_header_wcs_moves_rigidly(tmp_path, rng):
    """Every chip's CRVAL/CD moves as one exposure: same rotation and scale, ORIENTAT follows."""
    rot = float(rng.uniform(-0.05, 0.05))
    scale = 1.0 + float(rng.uniform(-1e-3, 1e-3))
    ex = _write(tmp_path, [(3.0, -2.0, rot, scale)], cosmic_rays=0, n_stars=5)
    e = ex[0]
    with fits.open(e.path) as hdul:
        for k, true in enumerate(e.true_wcs, start=1):
            h = hdul["SCI", k].header
            cd = np.array([[h["CD1_1"], h["CD1_2"]], [h["CD2_1"], h["CD2_2"]]])
            m = cd @ np.linalg.inv(true.wcs.cd)
            assert math.sqrt(abs(np.linalg.det(m))) == pytest.approx(scale, abs=1e-12)
            assert math.degrees(math.atan2(m[0, 1], m[0, 0])) == pytest.approx(rot, abs=1e-9)
            assert h["ORIENTAT"] == pytest.approx(30.0 + rot)
            assert h["WCSNAME"] == "IDC_synthetic"
            assert h["CRPIX1"] == true.wcs.crpix[0] and h["A_2_0"] == true.sip.a[2, 0]


def test_stars_sit_at_their_true_positions(tmp_path):
    """Bright isolated stars' centroids match the true WCS, not the perturbed header."""
    ex = _write(tmp_path, [(4.0, -3.0, 0.0, 1.0)], cosmic_rays=0, n_stars=60, noise=False,
                flux_range=(5e4, 1e5), seed=5)
    e = ex[0]
    stars = np.array([[s.ra, s.dec] for s in e.truth.stars])
    with fits.open(e.path) as hdul:
        wrong = synthetic.read_chip_wcs(e.path)
        checked = 0
        for k, true in enumerate(e.true_wcs, start=1):
            img = hdul["SCI", k].data.astype(np.float64) - e.truth.sky
            ny, nx = img.shape
            xy = true.all_world2pix(stars, 0, tolerance=1e-10)
            inside = (xy[:, 0] > 6) & (xy[:, 0] < nx - 7) & (xy[:, 1] > 6) & (xy[:, 1] < ny - 7)
            for i in np.flatnonzero(inside):
                x, y = xy[i]
                near = np.hypot(*(xy - xy[i]).T)
                if np.sort(near)[1] < 12:
                    continue
                ix, iy = int(round(x)), int(round(y))
                box = img[iy - 5:iy + 6, ix - 5:ix + 6]
                assert np.unravel_index(np.argmax(box), box.shape) in {
                    (a, b) for a in (4, 5, 6) for b in (4, 5, 6)}
                yy, xx = np.mgrid[iy - 5:iy + 6, ix - 5:ix + 6]
                cx, cy = (box * xx).sum() / box.sum(), (box * yy).sum() / box.sum()
                assert math.hypot(cx - x, cy - y) < 0.02
                wx, wy = wrong[k - 1].all_world2pix([stars[i]], 0)[0]
                assert math.hypot(wx - x, wy - y) == pytest.approx(5.0, abs=0.1)
                checked += 1
    assert checked >= 10


def test_cosmic_rays(tmp_path, rng):
    n = int(rng.integers(100, 200))
    ex = _write(tmp_path, [(0, 0, 0, 1)], cosmic_rays=n, chip_shape=(256, 512), n_stars=0, noise=False,
                seed=int(rng.integers(1 << 30)), flux_range=(1.0, 2.0))
    e = ex[0]
    assert e.cr_events == [n, n]
    with fits.open(e.path) as hdul:
        for k, chip in enumerate(e.truth.chips, start=1):
            dep = hdul["SCI", k].data.astype(np.float64) - e.truth.sky
            assert (dep > 0.5).sum() <= chip.cr_mask.sum()
            assert not np.any(dep[~chip.cr_mask] > 1e-2)
            assert np.all(hdul["DQ", k].data == 0)       # not flagged, as in a real FLT
            labels, count = ndimage.label(dep > 50.0)
            # overlapping or edge-cut events merge or vanish; sparse fields keep ~all
            assert 0.9 * n <= count <= n
            assert dep.max() > 1000.0
    # the realistic default: ~11000 events per ACS/WFC chip in 500 s, ~1-2% of pixels
    full = synthetic.cosmic_ray_count("ACS", "WFC", (2048, 4096), 500.0)
    assert 10000 < full < 13000
    mask = synthetic.cosmic_ray_deposit((2048, 4096), full, rng) > 30.0
    assert 0.008 < mask.mean() < 0.03


def test_default_errors_and_dithers(tmp_path):
    ex = synthetic.write_misaligned_set(tmp_path, 5, chip_shape=(64, 128), n_stars=5, seed=2,
                                        cosmic_rays=0)
    assert ex[0].error == synthetic.PointingError()
    for e in ex[1:]:
        assert 0 < math.hypot(e.error.dx, e.error.dy) <= 0.8 / 0.05
        assert abs(e.error.rotation) <= 0.02 and abs(e.error.scale - 1) <= 1e-5
    with fits.open(ex[1].path) as a, fits.open(ex[4].path) as b:
        assert a[0].header["ROOTNAME"] == "j8mz02mq" and b[0].header["ROOTNAME"] == "j8mz05mq"


def test_deterministic(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    kw = dict(chip_shape=(64, 128), n_stars=20, cosmic_rays=30)
    ea = synthetic.write_misaligned_set(a, 2, seed=11, **kw)
    eb = synthetic.write_misaligned_set(b, 2, seed=11, **kw)
    ec = synthetic.write_misaligned_set(c, 2, seed=12, **kw)
    for x, y, z in zip(ea, eb, ec):
        assert x.error == y.error
        with fits.open(x.path) as hx, fits.open(y.path) as hy, fits.open(z.path) as hz:
            for k in (1, 2):
                assert np.array_equal(hx["SCI", k].data, hy["SCI", k].data)
                assert hx["SCI", k].header == hy["SCI", k].header
                assert not np.array_equal(hx["SCI", k].data, hz["SCI", k].data)
    assert ea[1].error != ec[1].error


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="errors"):
        synthetic.write_misaligned_set(tmp_path, 2, errors=[(0, 0, 0, 1)], chip_shape=(64, 128))
    with pytest.raises(ValueError, match="n must"):
        synthetic.write_misaligned_set(tmp_path, 0, chip_shape=(64, 128))
    with pytest.raises(ValueError, match="chip_shape"):
        synthetic.write_misaligned_set(tmp_path, 1, chip_shape=(8, 128))
    with pytest.raises(ValueError, match="stars"):
        synthetic.write_misaligned_set(tmp_path, 1, chip_shape=(64, 128), stars=[])
    with pytest.raises(ValueError, match="chips"):
        ex = synthetic.write_misaligned_set(tmp_path, 1, chip_shape=(64, 128), n_stars=3)
        synthetic.truth_rms(ex[0].true_wcs[:1], ex[0].true_wcs)
