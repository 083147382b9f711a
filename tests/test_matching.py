"""Tests of gpudrizzle.matching: the 2-D offset histogram and xyxymatch matching.

Oracles: brute-force numpy versions of drizzlepac's histogram and of
xyxymatch's "tolerance" algorithm (written from its description, O(n m)),
drizzlepac 3.11 / stsci.stimage goldens (tests/golden/tweakreg_fits/
make_golden.py), tweakwcs 0.9.3's offline test data and expected values,
and catalogs with a known offset and permutation.
"""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle.matching import (OffsetGuess, find_histogram_peak, match_xy,
                                 offset_histogram, offset_histogram_image)

GOLDEN = Path(__file__).parent / "golden" / "tweakreg_fits"
# offsets (xy - refxy) the golden match cases were made with (make_golden.py)
GOLDEN_OFFSETS = [(2.3, -1.7), (-3.2, 0.6), (4.4, 4.1), (0.4, -0.2), (1.0, 2.0)]


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "tweakreg_golden.npz") as g:
        return {k: g[k] for k in g.files}


# ---------------------------------------------------------------- oracles

def brute_histogram(xy, refxy, searchrad, binsize=1.0):
    """drizzlepac's _xy_2dhist formula: every pair, then numpy.histogram2d."""
    r = int(np.ceil(searchrad / binsize))
    dx = np.subtract.outer(xy[:, 0], refxy[:, 0]).ravel() / binsize
    dy = np.subtract.outer(xy[:, 1], refxy[:, 1]).ravel() / binsize
    sel = (dx < r + 0.5) & (dx >= -r - 0.5) & (dy < r + 0.5) & (dy >= -r - 0.5)
    h = np.histogram2d(dx[sel], dy[sel], 2 * r + 1,
                       [[-r - 0.5, r + 0.5], [-r - 0.5, r + 0.5]])[0]
    return h.T


def brute_xyxymatch(xy, refxy, tolerance, separation, xoffset, yoffset):
    """xyxymatch "tolerance", one reference at a time, plain loops."""
    moved = xy - [xoffset, yoffset]

    def sort_and_thin(p):
        order = sorted(range(len(p)), key=lambda i: (p[i, 1], p[i, 0], i))
        alive = []
        dead = set()
        for a_pos, a in enumerate(order):
            if a in dead:
                continue
            alive.append(a)
            for b in order[a_pos + 1:]:
                if b in dead:
                    continue
                d2 = (p[b, 1] - p[a, 1]) ** 2 + (p[b, 0] - p[a, 0]) ** 2
                if d2 <= separation ** 2:
                    dead.add(b)
        return alive

    inputs = sort_and_thin(moved)
    refs = sort_and_thin(refxy)
    out_i, out_r = [], []
    for r in refs:
        best, best_r2 = None, tolerance * tolerance
        for s in inputs:                      # in (y, x) order
            dy = refxy[r, 1] - moved[s, 1]
            dx = refxy[r, 0] - moved[s, 0]
            if not (-tolerance <= dy < tolerance):
                continue
            r2 = dx * dx + dy * dy
            if r2 <= best_r2:                 # later equal ones win
                best, best_r2 = s, r2
        if best is not None:
            out_i.append(best)
            out_r.append(r)
    return np.array(out_i, dtype=np.int64), np.array(out_r, dtype=np.int64)


# ---------------------------------------------------------------- histogram

@pytest.mark.parametrize("binsize", [1.0, 0.5, 2.0])
def test_histogram_equals_all_pairs(rng, binsize):
    ref = rng.uniform(0, 80, (int(rng.integers(100, 300)), 2))
    xy = np.vstack([ref[:60] + rng.uniform(-4, 4, 2), rng.uniform(0, 80, (50, 2))])
    # offsets landing on bin edges exactly
    xy[:5] = ref[:5] + np.array([[1.5, -2.5]]) * binsize
    srad = float(rng.uniform(2, 7))
    hist, nhalf = offset_histogram_image(xy, ref, srad, binsize=binsize)
    want = brute_histogram(xy, ref, srad, binsize)
    assert nhalf == int(np.ceil(srad / binsize))
    assert hist.shape == want.shape == (2 * nhalf + 1, 2 * nhalf + 1)
    assert hist.dtype == np.float64
    np.testing.assert_array_equal(hist, want)


@pytest.mark.parametrize("noise, bound", [(0.05, 0.5), (0.4, 0.3), (1.0, 0.4)])
def test_offset_recovered_and_sign(rng, noise, bound):
    """The default refinement is within half a bin of the true offset for a
    narrow peak (all its pairs in one or two bins) and closer for a broad one."""
    true = rng.uniform(-4, 4, 2)
    ref = rng.uniform(0, 1000, (800, 2))
    xy = ref[rng.permutation(800)[:500]]
    xy = np.vstack([xy + true + rng.normal(0, noise, xy.shape), rng.uniform(0, 1000, (100, 2))])
    guess = offset_histogram(xy, ref, 6)
    assert isinstance(guess, OffsetGuess)
    # the sign: xy - refxy
    assert abs(guess.dx - true[0]) < bound and abs(guess.dy - true[1]) < bound, (guess, true)
    assert 400 <= guess.npeak <= 600
    flipped = offset_histogram(ref, xy, 6)
    assert abs(flipped.dx + true[0]) < bound and abs(flipped.dy + true[1]) < bound


def test_centroid_subtracts_background():
    hist = np.full((13, 13), 2.0)
    hist[5, 7] = hist[5, 8] = 12.0
    hist[4, 7] = hist[6, 7] = hist[4, 8] = hist[6, 8] = 4.0
    x, y, status, box = find_histogram_peak(hist)
    # background: mean outside the 5 x 5 box = 2 exactly
    assert status == "SUCCESS" and abs(x - 7.5) < 1e-12 and abs(y - 5.0) < 1e-12
    assert hist[box].shape == (5, 5)
    hist[12, 3] = 50.0
    x, y, status, _ = find_histogram_peak(hist)
    assert status == "WARNING:EDGE" and y > 11.0


def test_offset_histogram_goldens(golden):
    """drizzlepac's _estimate_2dhist_shift on the golden catalogs."""
    for k in range(int(golden["nmatch"])):
        xy, ref = golden[f"match{k}_xy"], golden[f"match{k}_refxy"]
        srad = golden[f"match{k}_pars"][0]
        xsh, ysh, flux, ok = golden[f"match{k}_guess"]
        got = offset_histogram(xy, ref, srad, method="drizzlepac")
        if not ok:
            assert got is None, k
            continue
        assert abs(got.dx - xsh) < 1e-9 and abs(got.dy - ysh) < 1e-9, (k, got, xsh, ysh)
        assert got.npeak == int(flux), k
        # the default refinement is near the offsets the catalogs were made with
        if k < len(GOLDEN_OFFSETS):
            default = offset_histogram(xy, ref, srad)
            err = np.abs(np.subtract((default.dx, default.dy), GOLDEN_OFFSETS[k])).max()
            assert err < 0.5, (k, default)


def test_peak_tweakwcs_sparse_histogram():
    """tweakwcs test_find_peak_sparse_2dhist: its data file and expected peak."""
    data = fits.getdata(GOLDEN / "sparse-2dhist.fits")
    x, y, status, box = find_histogram_peak(data, mask=data > 0, method="tweakwcs")
    assert status == "WARNING:CENTER-OF-MASS"
    assert abs(x - 35.046728971962615) < 1e-12 and abs(y - 35.02803738317757) < 1e-12
    assert data[box].shape == (5, 5)
    # drizzlepac's refinement takes a surface maximum far from the sharp peak
    xd, yd, status_d, _ = find_histogram_peak(data, mask=data > 0, method="drizzlepac")
    assert status_d == "SUCCESS" and abs(xd - 35) > 10
    # the default centroid stays on the isolated peak (bin 35, 35 holds 96)
    xc, yc, status_c, _ = find_histogram_peak(data, mask=data > 0)
    assert status_c == "SUCCESS" and abs(xc - 35) < 0.3 and abs(yc - 35) < 0.3


def test_peak_tweakwcs_expected_cases(rng):
    # tweakwcs test_estimate_2dhist_shift_edge
    imgxy = np.array([[0, 0], [0, 1], [3, 4], [7, 8]], dtype=float)
    shifts = np.array([[3, 0], [3, 0], [1, 2], [0, 1]], dtype=float)
    got = offset_histogram(imgxy, imgxy - shifts, 3, method="tweakwcs")
    assert (got.dx, got.dy) == (3.0, 0.0)
    # test_estimate_2dhist_shift_one_bin: a single non-empty bin is taken as is
    one = offset_histogram(np.zeros((1, 2)), np.zeros((1, 2)) - 2.0, 3)
    assert one == (2.0, 2.0, 1)
    assert offset_histogram(np.zeros((1, 2)), np.zeros((1, 2)) - 100.0, 3) is None
    # test_find_peak_success: a Gaussian sampled on the grid
    yy, xx = np.indices((21, 21))
    cx, cy = rng.uniform(6, 14, 2)
    data = 100 * np.exp(-0.5 * ((xx - 8) ** 2 + (yy - 11) ** 2))
    x, y, status, _ = find_histogram_peak(data, peak_fit_box=3, method="tweakwcs")
    assert status == "SUCCESS" and abs(x - 8) < 1e-6 and abs(y - 11) < 1e-6
    # an exact quadratic bump is located exactly, anywhere in a cell
    bump = 50.0 - (xx - cx) ** 2 - 2.0 * (yy - cy) ** 2 + 0.5 * (xx - cx) * (yy - cy)
    for method in ("tweakwcs", "drizzlepac"):
        x, y, status, _ = find_histogram_peak(bump, method=method)
        assert status == "SUCCESS" and abs(x - cx) < 1e-9 and abs(y - cy) < 1e-9
    # test_find_peak_nodata_all_zeros / negative peak
    for shape in [(3, 4), (7, 8)]:
        for method in ("centroid", "tweakwcs", "drizzlepac"):
            x, y, status, _ = find_histogram_peak(np.zeros(shape), method=method)
            assert status == "ERROR:NODATA"
            assert (x, y) == ((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    # test_find_peak_edge_1pix_valid_strip
    strip = np.zeros((10, 20))
    strip[4, :] = 1.0
    x, y, status, _ = find_histogram_peak(strip, mask=strip > 0, method="tweakwcs")
    assert status == "WARNING:EDGE" and (x, y) == (0.0, 4.0)


def test_offset_histogram_no_pairs_and_bad_input(rng):
    ref = rng.uniform(0, 100, (50, 2))
    assert offset_histogram(ref + 1000.0, ref, 5) is None
    with pytest.raises(ValueError, match="searchrad"):
        offset_histogram(ref, ref, 0.0)
    with pytest.raises(ValueError, match="binsize"):
        offset_histogram(ref, ref, 3.0, binsize=-1)
    bad = ref.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="xy has 1 position"):
        offset_histogram(bad, ref, 3.0)
    with pytest.raises(ValueError, match="refxy must have shape"):
        offset_histogram(ref, ref[:, :1], 3.0)
    with pytest.raises(ValueError, match="method"):
        offset_histogram(ref, ref, 3.0, method="iraf")


# ---------------------------------------------------------------- matching

def test_match_equals_brute_force_with_ties(rng):
    """Grid positions make exact ties, distances equal to tolerance and
    separation, and dy equal to +-tolerance, the boundary cases."""
    for _ in range(4):
        ref = rng.integers(0, 25, (int(rng.integers(60, 160)), 2)).astype(float)
        xy = rng.integers(0, 25, (int(rng.integers(60, 160)), 2)).astype(float) + 0.5
        tol = float(rng.choice([1.0, 1.5, 2.0]))
        sep = float(rng.choice([0.0, 1.0, 2.0]))
        got = match_xy(xy, ref, tolerance=tol, separation=sep, xoffset=0.5, yoffset=0.5)
        want = brute_xyxymatch(xy, ref, tol, sep, 0.5, 0.5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[0].dtype == got[1].dtype == np.int64


def test_match_goldens(golden):
    """stsci.stimage.xyxymatch (algorithm tolerance) on the golden catalogs."""
    for k in range(int(golden["nmatch"])):
        xy, ref = golden[f"match{k}_xy"], golden[f"match{k}_refxy"]
        _, tol, sep = golden[f"match{k}_pars"]
        xsh, ysh = golden[f"match{k}_guess"][:2]
        idx, refidx = match_xy(xy, ref, tolerance=tol, separation=sep,
                               xoffset=xsh, yoffset=ysh)
        np.testing.assert_array_equal(idx, golden[f"match{k}_idx"], err_msg=str(k))
        np.testing.assert_array_equal(refidx, golden[f"match{k}_refidx"], err_msg=str(k))


def test_match_recovers_permutation(rng):
    # a jittered grid: no two reference sources within 30 px
    gy, gx = np.mgrid[0:55, 0:55]
    ref = np.column_stack([gx.ravel(), gy.ravel()]) * 70.0 + rng.uniform(-20, 20, (55 * 55, 2))
    ref = ref[rng.permutation(ref.shape[0])]
    n = ref.shape[0]
    perm = rng.permutation(n)
    true = np.array([12.3, -7.9])
    xy = ref[perm] + true + rng.normal(0, 0.05, (n, 2))
    xy_in, ref_in = xy.copy(), ref.copy()
    idx, refidx = match_xy(xy, ref, tolerance=0.5, xoffset=true[0], yoffset=true[1])
    np.testing.assert_array_equal(xy, xy_in)
    np.testing.assert_array_equal(ref, ref_in)
    assert idx.size == n
    np.testing.assert_array_equal(perm[idx], refidx)
    # reference order (y, then x), as xyxymatch reports it
    assert np.all(np.diff(ref[refidx, 1]) >= 0)
    # without the offset nothing is within the tolerance
    assert match_xy(xy, ref, tolerance=0.5)[0].size < 10


def test_match_separation_drops_close_sources(rng):
    ref = rng.uniform(0, 1000, (200, 2))
    twin = ref[:10] + rng.uniform(-0.3, 0.3, (10, 2))
    xy = rng.permutation(np.vstack([ref, twin]))
    idx, refidx = match_xy(xy, ref, tolerance=0.2, separation=0.5)
    # of each close pair in xy only the first in (y, x) order survives
    key = np.lexsort((xy[:, 0], xy[:, 1]))
    rank = np.empty(len(xy), int)
    rank[key] = np.arange(len(xy))
    for a in range(10):
        ia = int(np.flatnonzero(np.all(xy == ref[a], axis=1))[0])
        ib = int(np.flatnonzero(np.all(xy == twin[a], axis=1))[0])
        if np.hypot(*(xy[ia] - xy[ib])) > 0.5:
            continue
        first, second = (ia, ib) if rank[ia] < rank[ib] else (ib, ia)
        assert second not in idx
    # exact duplicates are dropped even with separation 0
    dup = np.vstack([ref, ref[:1]])
    i0, _ = match_xy(dup, ref, tolerance=0.1)
    assert np.count_nonzero(np.isin(i0, [0, len(ref)])) == 1


def test_match_one_to_one(rng):
    ref = rng.uniform(0, 300, (400, 2))
    ref = np.vstack([ref, ref[:40] + rng.uniform(-0.6, 0.6, (40, 2))])
    xy = ref[:400] + rng.normal(0, 0.1, (400, 2))
    idx, refidx = match_xy(xy, ref, tolerance=1.0)
    assert np.unique(idx).size < idx.size          # xyxymatch pairs one source twice
    idx1, refidx1 = match_xy(xy, ref, tolerance=1.0, one_to_one=True)
    assert np.unique(idx1).size == idx1.size
    pairs = set(zip(idx.tolist(), refidx.tolist()))
    assert set(zip(idx1.tolist(), refidx1.tolist())) <= pairs
    assert np.unique(idx1).size == np.unique(idx).size
    d = np.hypot(*(xy[idx] - ref[refidx]).T)
    d1 = dict(zip(idx1.tolist(), np.hypot(*(xy[idx1] - ref[refidx1]).T)))
    for i, dist in zip(idx.tolist(), d):
        assert d1[i] <= dist


def test_match_bad_input(rng):
    ref = rng.uniform(0, 100, (20, 2))
    with pytest.raises(ValueError, match="tolerance"):
        match_xy(ref, ref, tolerance=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        match_xy(ref, ref, tolerance=np.nan)
    with pytest.raises(ValueError, match="separation"):
        match_xy(ref, ref, tolerance=1.0, separation=-1.0)
    with pytest.raises(ValueError, match="xoffset"):
        match_xy(ref, ref, tolerance=1.0, xoffset=np.inf)
    with pytest.raises(ValueError, match="xy is empty"):
        match_xy(np.zeros((0, 2)), ref, tolerance=1.0)
    with pytest.raises(ValueError, match="refxy is empty"):
        match_xy(ref, np.zeros((0, 2)), tolerance=1.0)
    bad = ref.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="refxy has 1 position"):
        match_xy(ref, bad, tolerance=1.0)
    with pytest.raises(ValueError, match="xy must have shape"):
        match_xy(ref.ravel(), ref, tolerance=1.0)
    with pytest.raises(ValueError, match="numeric"):
        match_xy(ref.astype(str), ref, tolerance=1.0)
    idx, refidx = match_xy(ref + 500.0, ref, tolerance=1.0)
    assert idx.size == refidx.size == 0 and idx.dtype == np.int64


def test_speed_20000_sources(rng):
    """20000 x 20000 sources on a 4096^2 frame (measured 0.02 s and 0.03 s
    here; the limit leaves room for shared, slower machines)."""
    import time
    n = 20000
    ref = rng.uniform(0, 4096, (n, 2))
    xy = ref[rng.permutation(n)] + [1.7, -2.2] + rng.normal(0, 0.3, (n, 2))
    t0 = time.perf_counter()
    guess = offset_histogram(xy, ref, 5)
    t1 = time.perf_counter()
    idx, _ = match_xy(xy, ref, tolerance=2.0, xoffset=guess.dx, yoffset=guess.dy)
    t2 = time.perf_counter()
    assert abs(guess.dx - 1.7) < 0.3 and abs(guess.dy + 2.2) < 0.3
    assert idx.size > 0.99 * n
    assert t1 - t0 < 1.0 and t2 - t1 < 1.0, (t1 - t0, t2 - t1)
