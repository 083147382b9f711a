"""Tests of gpudrizzle.linearfit: shift / rscale / general fits with clipping.

Oracles: exact maps (recovered to 1e-9), noisy data with outliers
(recovered to the noise level, outliers clipped), an independent
least-squares solve, and drizzlepac 3.11 ``linearfit.iter_fit_all`` goldens
(tests/golden/tweakreg_fits/make_golden.py).
"""

from pathlib import Path

import numpy as np
import pytest

from gpudrizzle.linearfit import (LinearFit, build_fit_matrix, fit_parameters,
                                  fit_xy)

GOLDEN = Path(__file__).parent / "golden" / "tweakreg_fits" / "tweakreg_golden.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


def angle_diff(a, b):
    """Difference of two angles in degrees, in (-180, 180]."""
    return (a - b + 180.0) % 360.0 - 180.0


def random_map(rng, geometry, reflect=False):
    """(matrix, rx, ry, sx, sy) of a random map of the given geometry."""
    if geometry == "shift":
        return np.eye(2), 0.0, 0.0, 1.0, 1.0
    rx = float(rng.uniform(0, 360))
    s = float(rng.uniform(0.8, 1.2))
    if geometry == "rscale":
        ry, sx, sy = rx, s, s
    else:
        ry = rx + float(rng.uniform(-5, 5))
        sx, sy = s, s * float(rng.uniform(0.9, 1.1))
    m = build_fit_matrix((rx, ry), (sx, sy))
    if reflect:
        m = m @ np.diag([1.0, -1.0])
    return m, rx, ry, sx, sy


@pytest.mark.parametrize("geometry, reflect", [("shift", False), ("rscale", False),
                                               ("rscale", True), ("general", False),
                                               ("general", True)])
def test_exact_maps_recovered(rng, geometry, reflect):
    n = int(rng.integers(3, 400))
    ref = rng.uniform(0, 4096, (n, 2))
    matrix, rx, ry, sx, sy = random_map(rng, geometry, reflect)
    shift = rng.uniform(-50, 50, 2)
    center = rng.uniform(1000, 3000, 2)
    xy = (ref - center) @ matrix + shift + center
    fit = fit_xy(xy, ref, geometry, center=center, nclip=0)
    assert isinstance(fit, LinearFit) and fit.geometry == geometry
    np.testing.assert_allclose(fit.matrix, matrix, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.shift, shift, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(fit.center, center)
    assert fit.proper == (not reflect)
    assert fit.kept.all() and fit.nmatch == n
    # clipping rounds on exact data only trim round-off; the map stays exact
    clipped = fit_xy(xy, ref, geometry, center=center)
    np.testing.assert_allclose(clipped.matrix, matrix, rtol=0, atol=1e-9)
    np.testing.assert_allclose(clipped.shift, shift, rtol=0, atol=1e-9)
    assert fit.residuals.shape == (n, 2) and np.abs(fit.residuals).max() < 1e-8
    assert fit.rms_total < 1e-8 and fit.mae < 1e-8 and np.all(fit.rms < 1e-8)
    np.testing.assert_allclose(fit.predict(ref), xy, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.to_reference(xy), ref, rtol=0, atol=1e-8)
    if not reflect:
        assert abs(fit.scale - np.sqrt(sx * sy * np.cos(np.deg2rad(ry - rx)))) < 1e-9
        assert abs(angle_diff(fit.rx, rx)) < 1e-9 and abs(angle_diff(fit.ry, ry)) < 1e-9
        assert abs(fit.sx - sx) < 1e-9 and abs(fit.sy - sy) < 1e-9
        # skew = ry - rx of the two [0, 360) angles, as drizzlepac reports it
        assert abs(fit.skew - (fit.ry - fit.rx)) < 1e-12
        assert abs(angle_diff(fit.skew, ry - rx)) < 1e-9
        if geometry == "rscale":
            assert abs(angle_diff(fit.rotation, rx)) < 1e-9 and fit.skew == 0.0


def test_parameters_round_trip(rng):
    for _ in range(20):
        rx = float(rng.uniform(0, 360))
        ry = (rx + float(rng.uniform(-10, 10))) % 360.0
        sx, sy = rng.uniform(0.5, 2.0, 2)
        p = fit_parameters(build_fit_matrix((rx, ry), (sx, sy)), "general")
        assert abs(angle_diff(p.rx, rx)) < 1e-10 and abs(angle_diff(p.ry, ry)) < 1e-10
        assert abs(p.sx - sx) < 1e-12 and abs(p.sy - sy) < 1e-12 and p.proper
        assert abs(p.skew - (p.ry - p.rx)) < 1e-12
        assert 0.0 <= p.rotation < 360.0
    p = fit_parameters(build_fit_matrix(30.0, 1.5), "rscale")
    assert abs(p.rotation - 30.0) < 1e-12 and abs(p.scale - 1.5) < 1e-12
    assert (p.rx, p.ry, p.skew) == (p.rotation, p.rotation, 0.0)
    assert fit_parameters(np.eye(2), "shift") == (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, True)


@pytest.mark.parametrize("geometry", ["shift", "rscale", "general"])
def test_noise_and_outliers(rng, geometry):
    n, noise = 600, 0.02
    ref = rng.uniform(0, 4096, (n, 2))
    matrix = random_map(rng, geometry)[0]
    if geometry != "shift":   # small pointing errors, as TweakReg sees them
        matrix = build_fit_matrix(rng.uniform(-0.05, 0.05), 1 + rng.uniform(-1e-4, 1e-4))
        if geometry == "general":
            matrix = matrix + rng.normal(0, 2e-5, (2, 2))
    shift = rng.uniform(-3, 3, 2)
    c = np.array([2048.0, 2048.0])
    clean = (ref - c) @ matrix + shift + c
    xy = clean + rng.normal(0, noise, (n, 2))
    bad = rng.choice(n, 40, replace=False)
    xy[bad] += rng.choice([-1, 1], (40, 2)) * rng.uniform(0.3, 2.0, (40, 2))
    xy_in, ref_in = xy.copy(), ref.copy()
    fit = fit_xy(xy, ref, geometry, nclip=3, sigma=3.0, center=c)
    np.testing.assert_array_equal(xy, xy_in)
    np.testing.assert_array_equal(ref, ref_in)
    assert not fit.kept[bad].any()                       # every outlier clipped
    assert np.count_nonzero(~fit.kept) <= 40 + 10        # few good points lost
    # recovered to the noise level: predictions at the sources vs the truth
    err = np.abs(fit.predict(ref) - clean).max()
    assert err < 5 * noise, err
    assert 0.7 * noise < fit.rms.min() and fit.rms.max() < 1.3 * noise
    k = fit.kept
    np.testing.assert_allclose(fit.rms, fit.residuals[k].std(axis=0), rtol=1e-12)
    assert abs(fit.rms_total - np.sqrt(np.mean(np.sum(fit.residuals[k] ** 2, 1)))) < 1e-15
    # without clipping the outliers pull the fit off
    raw = fit_xy(xy, ref, geometry, nclip=0, center=c)
    assert raw.kept.all() and raw.rms_total > 2 * fit.rms_total


def test_general_equals_lstsq(rng):
    n = 50
    ref = rng.uniform(0, 100, (n, 2))
    xy = rng.uniform(0, 100, (n, 2))   # no relation: a plain least-squares problem
    fit = fit_xy(xy, ref, "general", nclip=0, center=(0.0, 0.0))
    design = np.column_stack([ref, np.ones(n)])
    coef = np.linalg.lstsq(design, xy, rcond=None)[0]
    np.testing.assert_allclose(fit.matrix, coef[:2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.shift, coef[2], rtol=0, atol=1e-10)
    # the default centre is the mean reference position
    dflt = fit_xy(xy, ref, "general", nclip=0)
    np.testing.assert_allclose(dflt.center, ref.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dflt.predict(ref), fit.predict(ref), rtol=0, atol=1e-9)


def test_drizzlepac_goldens(golden):
    names = ["rotation", "rx", "ry", "skew", "scale", "sx", "sy"]
    for k in range(int(golden["nfit"])):
        g = {key[len(f"fit{k}_"):]: v for key, v in golden.items() if key.startswith(f"fit{k}_")}
        nclip, sigma = g["pars"]
        center = None if np.isnan(g["center"]).any() else g["center"]
        fit = fit_xy(g["xy"], g["refxy"], str(g["geometry"]), nclip=int(nclip),
                     sigma=sigma, center=center)
        np.testing.assert_array_equal(np.flatnonzero(fit.kept), g["kept"], err_msg=str(k))
        np.testing.assert_allclose(fit.matrix, g["matrix"], rtol=0, atol=1e-12, err_msg=str(k))
        np.testing.assert_allclose(fit.shift, g["offset"], rtol=0, atol=1e-9, err_msg=str(k))
        got = [getattr(fit, name) for name in names]
        for name, a, b in zip(names, got, g["params"]):
            tol = 1e-9 if name in ("rotation", "rx", "ry", "skew") else 1e-12
            diff = angle_diff(a, b) if name in ("rotation", "rx", "ry") else a - b
            assert abs(diff) < tol, (k, name, a, b)
        assert fit.proper == bool(g["proper"]), k
        rmsx, rmsy, rmse, mae = g["stats"]
        np.testing.assert_allclose([*fit.rms, fit.rms_total, fit.mae], [rmsx, rmsy, rmse, mae],
                                   rtol=1e-10, atol=1e-13, err_msg=str(k))
        assert fit.nmatch == g["kept"].size


def test_clipping_limits():
    ref = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    xy = ref + [1.0, 2.0]
    xy[3] += [5.0, -4.0]
    # 3 good points and an outlier: the outlier goes
    fit = fit_xy(xy, ref, "shift", nclip=3, sigma=0.5)
    np.testing.assert_array_equal(fit.kept, [True, True, True, False])
    np.testing.assert_allclose(fit.shift, [1.0, 2.0], rtol=0, atol=1e-12)
    # more rounds than points: no clipping at all (drizzlepac)
    assert fit_xy(xy, ref, "shift", nclip=5, sigma=0.5).kept.all()
    # 2 good points and an outlier: the round would keep 2 and is not taken
    fit3 = fit_xy(xy[[0, 1, 3]], ref[[0, 1, 3]], "shift", nclip=3, sigma=0.5)
    assert fit3.kept.all() and fit3.nmatch == 3


def test_results_are_read_only(rng):
    ref = rng.uniform(0, 10, (10, 2))
    fit = fit_xy(ref + 1, ref, "rscale")
    with pytest.raises(ValueError):
        fit.matrix[0, 0] = 2.0
    with pytest.raises(ValueError):
        fit.kept[0] = False
    with pytest.raises(AttributeError):
        fit.nmatch = 3


def test_bad_input(rng):
    ref = rng.uniform(0, 100, (10, 2))
    for geometry, need in (("shift", 1), ("rscale", 2), ("general", 3)):
        with pytest.raises(ValueError, match=f"needs at least {need}"):
            fit_xy(ref[:need - 1], ref[:need - 1], geometry)
        fit_xy(ref[:need] + 1.0, ref[:need] + [0.0, 0.5 * np.arange(need)[-1]], geometry)
    line = np.column_stack([np.arange(10.0), 2.0 * np.arange(10.0) + 1.0])
    with pytest.raises(ValueError, match="collinear"):
        fit_xy(line + 1.0, line, "general")
    fit_xy(line + 1.0, line, "rscale")        # a line is enough for rscale
    same = np.ones((5, 2))
    with pytest.raises(ValueError, match="coincident"):
        fit_xy(same, same, "rscale")
    bad = ref.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="xy has 1 position"):
        fit_xy(bad, ref, "shift")
    with pytest.raises(ValueError, match="refxy has 1 position"):
        fit_xy(ref, bad, "shift")
    with pytest.raises(ValueError, match="same shape"):
        fit_xy(ref, ref[:5], "shift")
    with pytest.raises(ValueError, match="geometry"):
        fit_xy(ref, ref, "affine")
    with pytest.raises(ValueError, match="nclip"):
        fit_xy(ref, ref, "shift", nclip=-1)
    with pytest.raises(ValueError, match="nclip"):
        fit_xy(ref, ref, "shift", nclip=1.5)
    with pytest.raises(ValueError, match="sigma"):
        fit_xy(ref, ref, "shift", sigma=0.0)
    with pytest.raises(ValueError, match="center"):
        fit_xy(ref, ref, "shift", center=(1.0, np.nan))
    with pytest.raises(ValueError, match="shape"):
        fit_xy(ref[:, 0], ref[:, 0], "shift")


def test_tweakwcs_multichip_data():
    """tweakwcs test_multichip_fitswcs_alignment: two WFC3/UVIS chips with SIP
    distortion against a reference catalog, one "general" fit of both chips
    in chip 1's undistorted tangent plane, no clipping. tweakwcs expects the
    fit's scale 1.0025 within 2e-8 (it fits reference = f(image), the inverse
    of this fit) and an rmse below 5e-5 pixel."""
    from astropy import wcs
    from astropy.io import fits

    here = GOLDEN.parent
    w1 = wcs.WCS(fits.Header.fromfile(str(here / "wfc3_uvis1.hdr")))
    w2 = wcs.WCS(fits.Header.fromfile(str(here / "wfc3_uvis2.hdr")))
    plane = w1.deepcopy()
    plane.sip = None
    cat1 = np.loadtxt(here / "wfc3_uvis1.cat.gz")
    cat2 = np.loadtxt(here / "wfc3_uvis2.cat.gz")
    refsky = np.loadtxt(here / "ref.cat.gz")
    sky = np.vstack([w1.all_pix2world(cat1, 0), w2.all_pix2world(cat2, 0)])
    xy = plane.wcs_world2pix(sky, 0)
    refxy = plane.wcs_world2pix(refsky, 0)
    # the catalogs are row matched (tweakwcs's test matches them by row)
    fit = fit_xy(xy, refxy, "general", nclip=None)
    assert fit.kept.all()
    assert abs(1.0 / fit.scale - 1.0025) < 2e-8
    assert abs(1.0 / np.sqrt(fit.sx * fit.sy) - 1.0025) < 2e-8
    assert fit.rms_total < 5e-5
