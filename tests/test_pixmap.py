"""Pixel maps: kernels against the numpy reference, maps against astropy on real HST/JWST headers.

Real headers come from ../shared/data (the ``shared_data`` fixture skips
when that folder is absent).  Accuracy is checked against astropy's exact
evaluation; every map is interpolated over the whole frame, only the
comparison is on a subsample of pixels (plus dense blocks where the lookup
tables have their slope jumps).
"""

import logging
import math
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, DistortionLookupTable, FITSFixedWarning

from gpudrizzle import calc_pixmap, get_backend
from gpudrizzle.distortion import LookupTable, split_wcs
from gpudrizzle.kernels import PIXMAP_TABLE_SLOTS
from gpudrizzle.pixmap import (
    PixmapAccuracyWarning,
    PixmapPlan,
    _Grid,
    _pack_tables,
    compute_pixmap,
    exact_pixmap_values,
)

# Fixtures from conftest.py: ``backend`` (every backend that can run here),
# ``kernel_backend`` (the backends running the compiled kernels), ``rng``
# (fresh, printed seed) and ``shared_data`` (../shared/data or skip).

# A map that falls back to exact evaluation would hide a broken kernel: fail instead.
pytestmark = pytest.mark.filterwarnings("error::gpudrizzle.pixmap.PixmapAccuracyWarning")

TOL = 1e-4
UVIS_SHAPE = (2051, 4096)
KINDS = ("from_d2im", "from_cpdis", "to_d2im", "to_cpdis")


# -- WCS helpers --------------------------------------------------------------

def uvis_wcs(data, chip=1):
    """WFC3/UVIS chip WCS (SIP + D2IMARR + WCSDVARR) from the 10x10 sample, as astropy reads it."""
    with fits.open(data / "wfc3_sample_ipppssoot_flc.fits") as hdul:
        return WCS(hdul[("SCI", chip)].header, hdul)


def hrc_wcs(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(data / "j8bt06nyq_sip_flt.fits") as hdul:
            return WCS(hdul[1].header, hdul)


def text_wcs(path):
    return WCS(fits.Header.fromtextfile(path))


def north_up(wcs, centre, crpix=(1000.0, 1000.0), scale_factor=1.0):
    """North-up TAN frame through the world position of pixel ``centre`` of ``wcs``."""
    ra, dec = wcs.pixel_to_world_values(*centre)
    scale = math.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * scale_factor
    out = WCS(naxis=2)
    out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    out.wcs.crval = [float(ra), float(dec)]
    out.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    out.wcs.crpix = list(crpix)
    return out


def sample_pixels(rng, shape, n, blocks=()):
    """Random pixel centres plus every pixel of the (x0, y0, size) blocks, as float x, y."""
    ny, nx = shape
    x = [rng.integers(0, nx, n)]
    y = [rng.integers(0, ny, n)]
    for x0, y0, size in blocks:
        by, bx = np.mgrid[y0:min(ny, y0 + size), x0:min(nx, x0 + size)]
        x.append(bx.ravel())
        y.append(by.ravel())
    return np.concatenate(x), np.concatenate(y)


def max_error(pixmap, exact, x, y):
    d = pixmap[y, x] - exact
    return float(np.nanmax(np.hypot(d[:, 0], d[:, 1])))


# -- lookup tables: the kernel against astropy ----------------------------------

def random_table(rng, geometry=None):
    """An astropy DistortionLookupTable with random size, reference and step (or a given geometry)."""
    if geometry is None:
        shape = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        crpix = tuple(rng.uniform(-2, 6, 2))
        crval = tuple(rng.uniform(-20, 20, 2))
        cdelt = tuple(rng.choice([-1, 1], 2) * rng.uniform(3, 20, 2))
        geometry = shape, crpix, crval, cdelt
    shape, crpix, crval, cdelt = geometry
    data = rng.uniform(-0.05, 0.05, shape).astype(np.float32)
    return DistortionLookupTable(data, crpix, crval, cdelt), geometry


def random_kinds(rng, kinds=KINDS):
    """Kind -> (x table, y table) of astropy tables; shared, different or missing geometries."""
    out = {}
    for kind in KINDS:
        if kind not in kinds:
            out[kind] = (None, None)
            continue
        tx, geo = random_table(rng)
        how = rng.integers(0, 4)
        if how == 0:
            ty = random_table(rng, geo)[0]  # same geometry: one slot
        elif how == 1:
            ty = random_table(rng)[0]  # different geometry: two slots
        elif how == 2:
            tx, ty = None, tx  # y only
        else:
            ty = None  # x only
        out[kind] = (tx, ty)
    return out


def packed(backend, kinds):
    tab_data, tab_params = _pack_tables(
        {k: tuple(LookupTable.from_astropy(t) for t in pair) for k, pair in kinds.items()})
    if tab_data is None:
        return None, None
    return backend.asarray(tab_data, np.float64), backend.asarray(tab_params, np.float64)


def test_table_lookup_matches_astropy(backend, rng):
    kinds = random_kinds(rng)
    tab_data, tab_params = packed(backend, kinds)
    x = np.concatenate([rng.uniform(-150, 150, 3000), np.arange(-40, 41, 1.0)])
    y = np.concatenate([rng.uniform(-150, 150, 3000), rng.uniform(-40, 40, 81)])
    points = backend.asarray(np.column_stack([x, y]), np.float64)
    for kind, (tx, ty) in kinds.items():
        out = backend.xp.full((x.size, 2), np.nan)
        backend.pixmap_lookup(tab_data=tab_data, tab_params=tab_params,
                              slot=PIXMAP_TABLE_SLOTS.index(kind), points=points, n=x.size, out=out)
        got = backend.to_host(out)
        for c, t in enumerate((tx, ty)):
            want = (np.zeros(x.size) if t is None
                    else np.array([t.get_offset(a + 1.0, b + 1.0) for a, b in zip(x, y)]))
            np.testing.assert_allclose(got[:, c], want, rtol=0, atol=1e-12, err_msg=kind)


@pytest.mark.parametrize("slot", [-2, 1, 8])
def test_table_lookup_of_a_bad_slot_is_nan(backend, rng, slot):
    tab_data, tab_params = packed(backend, random_kinds(rng))
    points = backend.asarray(rng.uniform(-5, 5, (7, 2)), np.float64)
    out = backend.xp.zeros((7, 2))
    backend.pixmap_lookup(tab_data=tab_data, tab_params=tab_params, slot=slot, points=points,
                          n=7, out=out)
    assert np.isnan(backend.to_host(out)).all()


def test_uvis_tables_lookup_matches_astropy(shared_data, backend, rng):
    w = uvis_wcs(shared_data)
    kinds = {"from_d2im": (w.det2im1, w.det2im2), "from_cpdis": (w.cpdis1, w.cpdis2),
             "to_d2im": (None, None), "to_cpdis": (None, None)}
    tab_data, tab_params = packed(backend, kinds)
    # around and on the table nodes (every 64 px), inside and past the table range
    x = np.concatenate([rng.uniform(-100, 900, 2000), np.arange(0, 700, 64.0) - 1.0])
    y = np.concatenate([rng.uniform(-100, 900, 2000), np.arange(0, 700, 64.0) - 1.0])
    points = backend.asarray(np.column_stack([x, y]), np.float64)
    for kind, (tx, ty) in kinds.items():
        if tx is None:
            continue
        out = backend.xp.full((x.size, 2), np.nan)
        backend.pixmap_lookup(tab_data=tab_data, tab_params=tab_params,
                              slot=PIXMAP_TABLE_SLOTS.index(kind), points=points, n=x.size, out=out)
        got = backend.to_host(out)
        want = np.array([[tx.get_offset(a + 1, b + 1), ty.get_offset(a + 1, b + 1)] for a, b in zip(x, y)])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=kind)


# -- the interpolation kernel: compiled against the numpy reference ------------

def random_kernel_args(backend, rng, kinds):
    """Arguments of pixmap_interp with random cells, matrices and tables."""
    ncx, ncy = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    step = float(rng.uniform(4, 20))
    up = backend.asarray
    cubic = rng.normal(0, 1, (ncy, ncx, 32)) * 3
    cubic[..., :2] += rng.uniform(-50, 50, 2)
    eye = np.tile([1.0, 0.0, 0.0, 1.0], 1)

    def matrix():
        m = rng.normal(0, 0.02, (ncy, ncx, 16))
        m[..., :4] += eye
        return up(m, np.float64)

    tab_data, tab_params = packed(backend, random_kinds(rng, kinds))
    return dict(cubic=up(cubic, np.float64),
                jac=matrix() if "from_cpdis" in kinds else None,
                minv=matrix() if "to_cpdis" in kinds else None,
                ncx=ncx, ncy=ncy, cx0=float(rng.uniform(-5, 5)), cy0=float(rng.uniform(-5, 5)),
                step=step, tab_data=tab_data, tab_params=tab_params), (ncx * step, ncy * step)


KIND_SETS = [(), ("from_d2im",), ("from_d2im", "from_cpdis"), ("to_d2im",), ("to_cpdis",),
             ("to_d2im", "to_cpdis"), KINDS]


@pytest.mark.parametrize("kinds", KIND_SETS, ids=lambda k: "+".join(k) or "smooth")
def test_interp_kernel_matches_reference_on_points(kernel_backend, rng, kinds):
    ref = get_backend("numpy")
    args, (w, h) = random_kernel_args(ref, rng, kinds)
    n = 5000
    pts = np.column_stack([rng.uniform(-15, w + 15, n), rng.uniform(-15, h + 15, n)])
    pts[rng.random(n) < 0.01] = np.nan
    results = []
    for b in (ref, kernel_backend):
        a = {k: (b.asarray(v, v.dtype) if isinstance(v, np.ndarray) else v) for k, v in args.items()}
        out = b.xp.full((n, 2), np.nan)
        count = b.xp.zeros(1, dtype=np.int32)
        b.pixmap(points=b.asarray(pts, np.float64), nx=1, x0=0, y0=0, n=n, out=out,
                 nan_count=count, **a)
        results.append((b.to_host(out), int(b.to_host(count)[0])))
    (want, want_nan), (got, got_nan) = results
    assert np.isnan(want).any(axis=1).sum() == want_nan
    assert got_nan == want_nan
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("kinds", [(), ("to_cpdis",), KINDS], ids=["smooth", "to_cpdis", "all-tables"])
def test_interp_kernel_matches_reference_on_a_block(kernel_backend, rng, kinds):
    ref = get_backend("numpy")
    args, (w, h) = random_kernel_args(ref, rng, kinds)
    # rows longer than a work item's run of pixels, crossing several cells
    nx, ny = int(rng.integers(5, 200)), int(rng.integers(5, 40))
    x0, y0 = int(rng.integers(-10, 10)), int(rng.integers(-10, 10))
    nan_cell = rng.integers(0, args["cubic"].shape[:2])
    args["cubic"][tuple(nan_cell) + (int(rng.integers(0, 32)),)] = np.nan
    yy, xx = np.mgrid[y0:y0 + ny, x0:x0 + nx]
    points = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float64)
    results, counts = [], []
    for b in (ref, kernel_backend):
        a = {k: (b.asarray(v, v.dtype) if isinstance(v, np.ndarray) else v) for k, v in args.items()}
        for pts in (None, b.asarray(points, np.float64)):
            out = b.xp.full((ny, nx, 2), -1e300)
            count = b.xp.zeros(1, dtype=np.int32)
            b.pixmap(points=pts, nx=nx if pts is None else 1, x0=x0 if pts is None else 0,
                     y0=y0 if pts is None else 0, n=nx * ny, out=out, nan_count=count, **a)
            results.append(b.to_host(out))
            counts.append(int(b.to_host(count)[0]))
    ref_block, ref_points, block, points_mode = results
    assert not (block == -1e300).any()
    np.testing.assert_allclose(block, ref_block, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(points_mode, ref_points, rtol=1e-12, atol=1e-9)
    # the reference's block is what its points mode gives for the same pixels, bit for bit
    np.testing.assert_array_equal(ref_block, ref_points)
    nan_pixels = int(np.isnan(ref_block).any(axis=2).sum())
    assert counts == [nan_pixels] * 4


def test_cell_polynomials_reproduce_cubic_lagrange(rng):
    """The cell coefficients are the tensor-product cubic through the 4x4 stencil."""
    grid = _Grid.for_shape((30, 50), 8.0)
    values = rng.normal(0, 10, (grid.gny, grid.gnx, 2))
    cubic = grid.cubic_cells(values)
    ci, cj = int(rng.integers(0, grid.ncx)), int(rng.integers(0, grid.ncy))
    tx, ty = rng.random(2)

    def lagrange(t):
        nodes = np.array([-1.0, 0.0, 1.0, 2.0])
        return np.array([np.prod([(t - nodes[m]) / (nodes[k] - nodes[m]) for m in range(4) if m != k])
                         for k in range(4)])

    want = np.einsum("b,a,bac->c", lagrange(ty), lagrange(tx), values[cj:cj + 4, ci:ci + 4])
    mono = np.outer(ty ** np.arange(4), tx ** np.arange(4)).ravel()
    got = mono @ cubic[cj, ci].reshape(16, 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)


# -- maps against astropy on real headers ----------------------------------------

UVIS_VARIANTS = ["full", "no-d2im", "no-cpdis", "tables-no-sip"]


def uvis_variant(data, variant, chip=1):
    w = uvis_wcs(data, chip)
    if variant == "no-d2im":
        w.det2im1 = w.det2im2 = None
    elif variant == "no-cpdis":
        w.cpdis1 = w.cpdis2 = None
    elif variant == "tables-no-sip":
        w.sip = None
    return w


@pytest.mark.parametrize("chip", [1, 2])
def test_uvis_full_chip_to_north_up(shared_data, kernel_backend, rng, chip):
    w = uvis_wcs(shared_data, chip)
    out = north_up(w, (2047.5, 1025.0), crpix=(2400.0, 2400.0))
    res = compute_pixmap(w, out, UVIS_SHAPE, backend=kernel_backend)
    assert res.pixmap.shape == UVIS_SHAPE + (2,) and res.method == "interpolated"
    assert not np.isnan(res.pixmap).any()
    # random pixels, the table region (nodes every 64 px up to 640) and the far corner
    x, y = sample_pixels(rng, UVIS_SHAPE, 20000, blocks=[(0, 0, 160), (560, 600, 120), (3980, 1940, 116)])
    exact = exact_pixmap_values(w, out, x, y)
    assert max_error(res.pixmap, exact, x, y) <= TOL
    # the tables matter: without them the map is off by far more than the tolerance
    smooth = split_wcs(w).smooth
    plain = exact_pixmap_values(smooth, out, x, y)
    assert np.abs(plain - exact).max() > 100 * TOL


def test_plan_builds_the_same_map_again_into_a_buffer(shared_data, kernel_backend):
    """A kept plan rebuilds compute_pixmap's map exactly, into a reused (poisoned) buffer."""
    w = uvis_wcs(shared_data, 2)
    out = north_up(w, (2047.5, 1025.0), crpix=(2400.0, 2400.0))
    want = compute_pixmap(w, out, UVIS_SHAPE, backend=kernel_backend).pixmap
    plan = PixmapPlan(w, out, UVIS_SHAPE, backend=kernel_backend)
    buf = kernel_backend.xp.full(UVIS_SHAPE + (2,), np.nan)
    for _ in range(2):
        res = plan.build(out=buf)
        assert res.pixmap is buf and res.method == "interpolated"
        np.testing.assert_array_equal(kernel_backend.to_host(buf), want)
        buf[...] = -1.0  # poison again
    with pytest.raises(ValueError, match="'out'"):
        plan.build(out=kernel_backend.xp.empty(UVIS_SHAPE[::-1] + (2,)))


@pytest.mark.parametrize("variant", UVIS_VARIANTS[1:])
def test_uvis_table_variants(shared_data, kernel_backend, rng, variant):
    w = uvis_variant(shared_data, variant)
    out = north_up(w, (2047.5, 1025.0), crpix=(2400.0, 2400.0))
    res = compute_pixmap(w, out, UVIS_SHAPE, backend=kernel_backend)
    assert res.method == "interpolated" and res.n_exact == 0
    x, y = sample_pixels(rng, UVIS_SHAPE, 5000, blocks=[(0, 0, 200)])
    assert max_error(res.pixmap, exact_pixmap_values(w, out, x, y), x, y) <= TOL


@pytest.mark.parametrize("variant", UVIS_VARIANTS)
def test_inverse_map_into_uvis_chip(shared_data, kernel_backend, rng, variant):
    """Output frame -> distorted chip (for blot): the chip's tables are inverted per pixel."""
    w = uvis_variant(shared_data, variant)
    out = north_up(w, (300.0, 300.0), crpix=(700.0, 700.0))
    shape = (1400, 1400)
    res = compute_pixmap(out, w, shape, backend=kernel_backend)
    assert res.method == "interpolated" and not np.isnan(res.pixmap).any()
    x, y = sample_pixels(rng, shape, 10000, blocks=[(600, 600, 150)])
    exact = exact_pixmap_values(out, w, x, y)
    assert max_error(res.pixmap, exact, x, y) <= TOL
    # the round trip lands back on the output pixels
    back = exact_pixmap_values(w, out, res.pixmap[y, x, 0], res.pixmap[y, x, 1])
    assert np.abs(back - np.column_stack([x, y])).max() <= TOL


def test_hrc_sip_order4(shared_data, kernel_backend, rng):
    w = hrc_wcs(shared_data)
    out = north_up(w, (511.5, 511.5), crpix=(600.0, 600.0))
    shape = (1024, 1024)
    res = compute_pixmap(w, out, shape, backend=kernel_backend)
    assert res.method == "interpolated"
    x, y = sample_pixels(rng, shape, 20000, blocks=[(0, 0, 64), (960, 960, 64)])
    assert max_error(res.pixmap, exact_pixmap_values(w, out, x, y), x, y) <= TOL


@pytest.mark.parametrize("psr", ["0p55", "1p0", "1p2"])
def test_nircam_to_each_output_frame(shared_data, kernel_backend, rng, psr):
    w = text_wcs(shared_data / "nrcb5_sip_wcs.hdr")
    out = text_wcs(shared_data / f"nrcb5_output_wcs_psr_{psr}.hdr")
    res = compute_pixmap(w, out, backend=kernel_backend)  # shape from the input WCS
    assert res.pixmap.shape == (2048, 2048, 2) and res.method == "interpolated"
    x, y = sample_pixels(rng, (2048, 2048), 20000, blocks=[(0, 0, 64), (1984, 1984, 64)])
    assert max_error(res.pixmap, exact_pixmap_values(w, out, x, y), x, y) <= TOL
    # and back: the output frame into the distorted (SIP) input
    inv = compute_pixmap(out, w, (600, 600), backend=kernel_backend)
    assert inv.method == "interpolated"
    xi, yi = sample_pixels(rng, (600, 600), 5000)
    assert max_error(inv.pixmap, exact_pixmap_values(out, w, xi, yi), xi, yi) <= TOL


def test_numpy_backend_gives_the_same_map(shared_data, kernel_backend):
    w = uvis_wcs(shared_data)
    out = north_up(w, (2047.5, 1025.0))
    shape = (300, 700)
    a = compute_pixmap(w, out, shape, backend="numpy")
    b = compute_pixmap(w, out, shape, backend=kernel_backend)
    assert a.method == b.method == "interpolated"
    np.testing.assert_allclose(b.pixmap, a.pixmap, rtol=0, atol=1e-9)


# -- the run-time check ----------------------------------------------------------

def test_a_coarse_stepsize_is_refined(shared_data, kernel_backend, rng, caplog):
    w = uvis_wcs(shared_data)
    out = north_up(w, (2047.5, 1025.0), crpix=(2400.0, 2400.0))
    x, y = sample_pixels(rng, UVIS_SHAPE, 20000)
    exact = exact_pixmap_values(w, out, x, y)
    # accepted as is, the coarse grid misses the tolerance...
    coarse = compute_pixmap(w, out, UVIS_SHAPE, stepsize=1024, tolerance=1.0, backend=kernel_backend)
    assert coarse.stepsize == 1024 and max_error(coarse.pixmap, exact, x, y) > TOL
    # ...so the check halves the step until it is met
    with caplog.at_level(logging.INFO, logger="gpudrizzle"):
        res = compute_pixmap(w, out, UVIS_SHAPE, stepsize=1024, backend=kernel_backend)
    assert res.method == "interpolated" and res.stepsize < 1024 and res.max_error <= TOL
    assert "halving" in caplog.text
    assert max_error(res.pixmap, exact, x, y) <= TOL


def test_an_unreachable_tolerance_warns_and_evaluates_exactly(shared_data, kernel_backend):
    w = hrc_wcs(shared_data)
    out = north_up(w, (511.5, 511.5))
    shape = (90, 120)
    with pytest.warns(PixmapAccuracyWarning, match="exceeds tolerance"):
        res = compute_pixmap(w, out, shape, tolerance=1e-15, stepsize=32, backend=kernel_backend)
    assert res.method == "exact" and res.n_exact == shape[0] * shape[1]
    y, x = np.indices(shape)
    np.testing.assert_array_equal(res.pixmap, exact_pixmap_values(w, out, x, y))


# -- NaN and bounding boxes ---------------------------------------------------------

class MaskedWCS:
    """An APE-14 stand-in: an astropy WCS whose world coordinates are NaN inside a disk of pixels,
    with an optional gwcs-like ``bounding_box`` ((x0, x1), (y0, y1)) honoured both ways."""

    pixel_n_dim = world_n_dim = 2

    def __init__(self, wcs, shape, hole=None, bounding_box=None):
        self.wcs = wcs
        self.array_shape = shape
        self.hole = hole
        self.bounding_box = bounding_box

    def _outside(self, x, y):
        if self.bounding_box is None:
            return np.zeros(np.shape(x), dtype=bool)
        (x0, x1), (y0, y1) = self.bounding_box
        return (x < x0) | (x > x1) | (y < y0) | (y > y1)

    def pixel_to_world_values(self, x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        ra, dec = self.wcs.pixel_to_world_values(x, y)
        bad = self._outside(x, y)
        if self.hole is not None:
            cx, cy, r = self.hole
            bad |= (x - cx) ** 2 + (y - cy) ** 2 < r * r
        return np.where(bad, np.nan, ra), np.where(bad, np.nan, dec)

    def world_to_pixel_values(self, ra, dec):
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        bad = self._outside(x, y)
        return np.where(bad, np.nan, x), np.where(bad, np.nan, y)


def test_nan_stays_where_the_exact_transform_is_nan(shared_data, kernel_backend):
    w = text_wcs(shared_data / "nrcb5_sip_wcs.hdr")
    out = text_wcs(shared_data / "nrcb5_output_wcs_psr_1p0.hdr")
    shape = (700, 900)
    holed = MaskedWCS(w, shape, hole=(301.3, 402.7, 23.5))
    res = compute_pixmap(holed, out, shape, stepsize=64, backend=kernel_backend)
    assert res.method == "interpolated"
    y, x = np.indices(shape)
    exact = exact_pixmap_values(holed, out, x, y)
    np.testing.assert_array_equal(np.isnan(res.pixmap), np.isnan(exact))
    assert np.isnan(exact).any(axis=-1).sum() > 1000
    assert np.nanmax(np.abs(res.pixmap - exact)) <= TOL
    # only pixels whose 4x4 node stencil touched the hole were evaluated exactly
    assert 0 < res.n_exact <= (4 * 64 + 47) ** 2


@pytest.mark.parametrize("disable_bbox", ["to", "from", "both", "none"])
def test_bounding_boxes_like_drizzle(shared_data, kernel_backend, disable_bbox):
    drizzle_utils = pytest.importorskip("drizzle.utils")
    w = text_wcs(shared_data / "nrcb5_sip_wcs.hdr")
    out = text_wcs(shared_data / "nrcb5_output_wcs_psr_1p0.hdr")
    shape = (300, 400)
    src = MaskedWCS(w, shape, bounding_box=((20.0, 350.5), (-0.5, 250.0)))
    dst = MaskedWCS(out, (2068, 2076), bounding_box=((40.0, 300.0), (0.0, 2000.0)))
    want = drizzle_utils.calc_pixmap(src, dst, disable_bbox=disable_bbox)
    got = calc_pixmap(src, dst, disable_bbox=disable_bbox, backend=kernel_backend)
    assert src.bounding_box is not None and dst.bounding_box is not None  # restored
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(want).any() or disable_bbox == "both"
    assert np.nanmax(np.abs(got - want)) <= TOL


# -- API -------------------------------------------------------------------------

def test_calc_pixmap_exact_matches_drizzle(shared_data):
    drizzle_utils = pytest.importorskip("drizzle.utils")
    w = text_wcs(shared_data / "nrcb5_sip_wcs.hdr")
    out = text_wcs(shared_data / "nrcb5_output_wcs_psr_1p2.hdr")
    shape = (64, 96)
    got = calc_pixmap(w, out, shape, method="exact")
    np.testing.assert_allclose(got, drizzle_utils.calc_pixmap(w, out, shape), rtol=0, atol=1e-9)


def test_device_array_returns_a_backend_array(shared_data, backend):
    w = hrc_wcs(shared_data)
    out = north_up(w, (511.5, 511.5))
    got = calc_pixmap(w, out, (40, 50), backend=backend, device_array=True)
    assert isinstance(got, backend.xp.ndarray) and got.shape == (40, 50, 2)
    assert isinstance(calc_pixmap(w, out, (40, 50), backend=backend), np.ndarray)


@pytest.mark.parametrize("kwargs, name", [
    (dict(method="bilinear"), "method"),
    (dict(stepsize=0.5), "stepsize"),
    (dict(stepsize=float("nan")), "stepsize"),
    (dict(stepsize=True), "stepsize"),
    (dict(tolerance=0), "tolerance"),
    (dict(tolerance=-1e-4), "tolerance"),
    (dict(disable_bbox="yes"), "disable_bbox"),
    (dict(shape=(10, 0)), "shape"),
    (dict(shape=(10, 2.5)), "shape"),
    (dict(shape=(10, 20, 2)), "shape"),
])
def test_bad_arguments_are_value_errors_naming_the_argument(shared_data, kwargs, name):
    w = hrc_wcs(shared_data)
    out = north_up(w, (511.5, 511.5))
    kwargs.setdefault("shape", (10, 20))
    with pytest.raises(ValueError, match=name):
        calc_pixmap(w, out, backend="numpy", **kwargs)


def test_missing_shape_is_a_value_error(shared_data):
    w = hrc_wcs(shared_data)  # NAXIS = 0: no array shape
    with pytest.raises(ValueError, match="pixel_shape"):
        calc_pixmap(w, north_up(w, (511.5, 511.5)), backend="numpy")


def test_three_axis_wcs_is_rejected():
    w3 = WCS(naxis=3)
    with pytest.raises(ValueError, match="wcs_from"):
        calc_pixmap(w3, WCS(naxis=2), (5, 5), backend="numpy")
