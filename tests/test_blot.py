"""Tests of blot_image: backends against the numpy reference and against drizzle 3.0."""

import math

import numpy as np
import pytest

from gpudrizzle import blot_image
from gpudrizzle.kernels import BLOT_INTERPOLANTS

drizzle_resample = pytest.importorskip("drizzle.resample")

DRIZZLE_INTERPOLANTS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5")

# Fixtures from conftest.py: ``backend`` (every backend that can run here),
# ``kernel_backend`` (the backends running the compiled kernels) and ``rng``
# (a generator with a fresh, printed seed).


def smooth_image(rng, shape):
    """Positive float32 image: smooth structure plus noise, values about 1..4."""
    y, x = np.indices(shape, dtype=np.float64)
    fx, fy = rng.uniform(0.1, 0.5, 2)
    img = 2.5 + np.sin(fx * x + rng.uniform(0, 6)) * np.cos(fy * y) + 0.2 * rng.random(shape)
    return img.astype(np.float32)


def random_pixmap(rng, out_shape, in_shape, nan_fraction=0.02):
    """Rotated, scaled and shifted positions covering the source and a margin outside it.

    Some positions are NaN and some are put on the last half pixel of the
    source, [n - 0.5, n), and on the first and last pixel centres.
    """
    oy, ox = np.indices(out_shape, dtype=np.float64)
    theta = rng.uniform(-np.pi, np.pi)
    scale = rng.uniform(0.8, 1.3) * max(in_shape) / max(out_shape) * 1.15
    cx, cy = (out_shape[1] - 1) / 2, (out_shape[0] - 1) / 2
    u, v = (ox - cx) * scale, (oy - cy) * scale
    x = np.cos(theta) * u - np.sin(theta) * v + in_shape[1] / 2 + rng.uniform(-2, 2)
    y = np.sin(theta) * u + np.cos(theta) * v + in_shape[0] / 2 + rng.uniform(-2, 2)
    pixmap = np.dstack([x, y])
    flat = pixmap.reshape(-1, 2)
    k = rng.choice(flat.shape[0], size=4 * max(1, flat.shape[0] // 50), replace=False)
    edge = np.array([in_shape[1], in_shape[0]], dtype=np.float64)
    q = np.array_split(k, 4)
    flat[q[0], 0] = edge[0] - rng.uniform(0, 0.5, q[0].size)
    flat[q[1], 1] = edge[1] - rng.uniform(0, 0.5, q[1].size)
    flat[q[2]] = np.where(rng.random((q[2].size, 2)) < 0.5, 0.0, edge - 1.0)
    flat[q[3]] = edge - rng.uniform(0, 0.5, (q[3].size, 2))
    nan = rng.random(flat.shape) < nan_fraction
    flat[nan] = np.nan
    return pixmap


def poisoned(shape):
    """An output array full of NaN, so that unwritten pixels show."""
    return np.full(shape, np.nan, dtype=np.float32)


# -- compiled kernels against the numpy reference ---------------------------


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_kernels_match_reference(kernel_backend, interp, rng):
    in_shape = tuple(rng.integers(20, 60, 2))
    out_shape = tuple(rng.integers(20, 60, 2))
    data = smooth_image(rng, in_shape)
    pixmap = random_pixmap(rng, out_shape, in_shape)
    kw = dict(fillval=-7.5, iscale=rng.uniform(0.5, 2.0), interp=interp,
              sinscl=rng.uniform(0.7, 1.3))
    got = blot_image(data, pixmap, out_img=poisoned(out_shape), backend=kernel_backend, **kw)
    want = blot_image(data, pixmap, out_img=poisoned(out_shape), backend="numpy", **kw)
    assert np.all(np.isfinite(got)), "unwritten output pixels"
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    x, y = pixmap[..., 0], pixmap[..., 1]
    off = ~((x >= 0) & (x < in_shape[1]) & (y >= 0) & (y < in_shape[0]))
    assert off.any() and (~off).any()
    assert np.all(got[off] == np.float32(-7.5))


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
@pytest.mark.parametrize("in_shape", [(1, 1), (1, 6), (5, 1), (2, 2), (2, 3), (3, 4), (4, 7)])
def test_tiny_images_match_reference(kernel_backend, interp, in_shape, rng):
    """Windows much wider than the image: repeated reflections, clamping, dropped taps."""
    out_shape = (9, 11)
    data = (rng.random(in_shape) + 1.0).astype(np.float32)
    x = rng.uniform(0, in_shape[1], out_shape)
    y = rng.uniform(0, in_shape[0], out_shape)
    pixmap = np.dstack([x, y])
    kw = dict(interp=interp)
    got = blot_image(data, pixmap, out_img=poisoned(out_shape), backend=kernel_backend, **kw)
    want = blot_image(data, pixmap, out_img=poisoned(out_shape), backend="numpy", **kw)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


# -- against drizzle 3.0 ----------------------------------------------------


def drizzle_comparable(pixmap, in_shape, interp):
    """The pixmap with the positions where drizzle 3.0 misbehaves moved off the image.

    drizzle 3.0 rounds positions to float32 first, so the map is made float32
    exact; NaN positions raise in drizzle; nearest reads past the image for x
    or y in [n - 0.5, n); poly3 uses an uninitialised row for y >= ny - 1 and
    poly5 an unreflected one for y >= ny - 3.
    """
    pm = pixmap.astype(np.float32).astype(np.float64)
    x, y = pm[..., 0], pm[..., 1]
    ny, nx = in_shape
    bad = np.isnan(x) | np.isnan(y)
    if interp == "nearest":
        bad |= (x >= nx - 0.5) | (y >= ny - 0.5)
    elif interp == "poly3":
        bad |= y >= ny - 1
    elif interp == "poly5":
        bad |= y >= ny - 3
    pm[bad] = -3.0
    return pm


@pytest.mark.parametrize("interp", DRIZZLE_INTERPOLANTS)
def test_matches_drizzle(backend, interp, rng):
    in_shape = tuple(rng.integers(30, 70, 2))
    out_shape = tuple(rng.integers(30, 70, 2))
    data = smooth_image(rng, in_shape)
    pixmap = drizzle_comparable(random_pixmap(rng, out_shape, in_shape), in_shape, interp)
    iscale = 1.75
    want = drizzle_resample.blot_image(data, pixmap, fillval=-1.0, iscale=iscale, interp=interp)
    got = blot_image(data, pixmap, out_img=poisoned(out_shape), fillval=-1.0, iscale=iscale,
                     interp=interp, backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
    assert np.sum(got == -1.0) > 0 and np.sum(got != -1.0) > got.size // 10


def test_default_arguments_match_drizzle(backend, rng):
    data = smooth_image(rng, (40, 30))
    pixmap = drizzle_comparable(random_pixmap(rng, (25, 35), (40, 30), 0.0), (40, 30), "poly5")
    want = drizzle_resample.blot_image(data, pixmap)
    got = blot_image(data, pixmap, backend=backend)
    assert got.dtype == np.float32 and got.shape == (25, 35)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)


# -- exactness --------------------------------------------------------------


def ramp(shape, a=3.0, b=0.5, c=0.25):
    y, x = np.indices(shape, dtype=np.float64)
    return (a + b * x + c * y).astype(np.float32)


@pytest.mark.parametrize("interp", ["linear", "poly3", "poly5"])
def test_linear_ramps_are_exact(backend, interp, rng):
    """poly3/poly5 reproduce a ramp over the whole image [0, n), edges included;
    linear up to the last pixel centre, beyond which it repeats the edge pixel."""
    in_shape = (int(rng.integers(6, 30)), int(rng.integers(6, 30)))
    data = ramp(in_shape)
    size = np.array(in_shape[::-1], dtype=np.float64)
    if interp == "linear":
        pos = rng.uniform(0, 1, (2000, 2)) * (size - 1.0)
        pos[:200] = size - 1.0
    else:
        pos = rng.uniform(0, 1, (2000, 2)) * size
        pos[:200] = size - rng.uniform(0, 0.5, (200, 2))
    pos[200:250] = 0.0
    got = blot_image(data, pos.reshape(40, 50, 2), interp=interp, backend=backend)
    want = 3.0 + 0.5 * pos[:, 0] + 0.25 * pos[:, 1]
    np.testing.assert_allclose(got.ravel(), want, rtol=0, atol=1e-5)


def test_linear_repeats_edge_past_last_centre(backend):
    data = ramp((5, 6))
    pos = np.array([[[5.0, 2.0], [5.7, 2.0], [5.7, 4.6], [3.0, 4.9]]])
    got = blot_image(data, pos, interp="linear", backend=backend)
    np.testing.assert_allclose(got[0], [3 + 2.5 + 0.5, 3 + 2.5 + 0.5, 3 + 2.5 + 1.0, 3 + 1.5 + 1.0],
                               rtol=1e-6)


@pytest.mark.parametrize("interp", ["poly3", "poly5"])
def test_poly_top_edge_fixes_drizzle(backend, interp):
    """drizzle 3.0 leaves the rows past the top edge unreflected (poly5) or
    uninitialised (poly3); here they are reflected and a ramp stays exact."""
    data = ramp((12, 10))
    ys = np.array([9.1, 9.7, 10.4, 11.3, 11.9], dtype=np.float32).astype(np.float64)
    pm = np.zeros((ys.size, 1, 2))
    pm[:, 0, 0] = 4.25
    pm[:, 0, 1] = ys
    want = 3.0 + 0.5 * 4.25 + 0.25 * ys
    got = blot_image(data, pm, interp=interp, backend=backend)[:, 0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    theirs = drizzle_resample.blot_image(data, pm, interp=interp)[:, 0]
    # drizzle's rows past the edge are wrong or, read from uninitialised memory, NaN
    assert not np.allclose(theirs, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("interp", ["nearest", "linear", "poly3", "poly5"])
def test_integer_positions_return_pixels(backend, interp, rng):
    data = smooth_image(rng, (15, 17))
    pos = np.dstack([np.tile(np.arange(17.0), (15, 1)), np.tile(np.arange(15.0)[:, None], (1, 17))])
    got = blot_image(data, pos, interp=interp, backend=backend)
    np.testing.assert_allclose(got, data, rtol=1e-6)


def test_nearest_rounds_half_up_and_clamps(backend):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    pos = np.array([[[0.49, 0.0], [0.5, 0.0], [2.5, 1.49], [3.5, 0.0], [3.99, 2.99], [0.0, 2.6]]])
    got = blot_image(data, pos, interp="nearest", backend=backend)
    np.testing.assert_array_equal(got[0], [0, 1, 7, 3, 11, 8])


# -- lanczos and sinc definitions ---------------------------------------------


def lanczos_reference(data, x, y, order):
    """drizzle 3.0's Lanczos blot at one point, from its definition, scalar Python."""
    step = 0.003
    nlut = math.ceil(order / step) + 1

    def lut(d):
        i = int(abs(d / step))
        if i >= nlut:
            return None
        if i == 0:
            return 1.0
        t = i * step
        if t > order:
            return 0.0
        p = math.pi * t
        return math.sin(p) * math.sin(p / order) / (p * p / order)

    ny, nx = data.shape
    total = 0.0
    for j in range(max(math.floor(y - order) + 1, 0), min(math.floor(y + order), ny - 1) + 1):
        wy = lut(y - j)
        if wy is None:
            continue
        for i in range(max(math.floor(x - order) + 1, 0), min(math.floor(x + order), nx - 1) + 1):
            wx = lut(x - i)
            if wx is not None:
                total += float(data[j, i]) * wx * wy
    return total


@pytest.mark.parametrize("order", [3, 5])
def test_lanczos_definition(backend, order, rng):
    data = smooth_image(rng, (16, 19))
    pts = [(0.0, 0.0), (0.3, 15.7), (18.9, 7.2), (9.0, 8.0), (9.4999, 3.001)]
    pts += [tuple(p) for p in rng.uniform(0, 1, (20, 2)) * [19, 16]]
    pm = np.array(pts, dtype=np.float64).reshape(1, -1, 2)
    got = blot_image(data, pm, interp=f"lanczos{order}", backend=backend)[0]
    want = [lanczos_reference(data, x, y, order) for x, y in pts]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def iraf_sinc(data, x, y, sinscl):
    """drizzlepac's sinc blot (IRAF ii_bisinc, offsets scaled by blot_sinscl) at
    0-based (x, y), written from the published formula with IRAF's 1-based
    indices: 15 taps, cosine-bell taper, edge pixels repeated, normalised."""
    nsinc, nconv = 7, 15
    sconst = (math.pi / 2 / nsinc) ** 2
    a2, a4 = -0.49670, 0.03705
    taper, sdx = [], -1.0  # nsinc is odd
    for j in range(-nsinc, nsinc + 1):
        dx2 = sconst * j * j
        taper.append(sdx * (1.0 + a2 * dx2 + a4 * dx2 * dx2) ** 2)
        sdx = -sdx
    xx, yy = x + 1.0, y + 1.0
    nx, ny = math.floor(xx + 0.5), math.floor(yy + 0.5)
    dx, dy = (xx - nx) * sinscl, (yy - ny) * sinscl
    lenx, leny = data.shape[1], data.shape[0]
    if abs(dx) < 0.001 and abs(dy) < 0.001:
        return float(data[ny - 1, nx - 1])
    dxn, dyn = 1 + nsinc + dx, 1 + nsinc + dy
    ac, ar = [], []
    for j in range(1, nconv + 1):
        ax, ay = dxn - j, dyn - j
        ac.append(1.0 if ax == 0 else (0.0 if dx == 0 else taper[j - 1] / ax))
        ar.append(1.0 if ay == 0 else (0.0 if dy == 0 else taper[j - 1] / ay))
    total = 0.0
    for j in range(ny - nsinc, ny + nsinc + 1):
        row = min(max(j, 1), leny)
        s = 0.0
        for k in range(nx - nsinc, nx + nsinc + 1):
            s += ac[k - nx + nsinc] * float(data[row - 1, min(max(k, 1), lenx) - 1])
        total += ar[j - ny + nsinc] * s
    return total / sum(ac) / sum(ar)


@pytest.mark.parametrize("sinscl", [1.0, 0.7, 1.6])
def test_sinc_matches_drizzlepac_definition(backend, sinscl, rng):
    data = smooth_image(rng, (24, 21))
    pts = [(10.3, 11.6), (0.2, 1.7), (19.4, 22.9), (3.6, 0.0), (5.0004, 7.0), (5.0, 7.3),
           (8.0, 9.0), (12.7, 4.0)]
    pts += [tuple(p) for p in rng.uniform(0, 1, (20, 2)) * [20.5, 23.5]]
    pm = np.array(pts, dtype=np.float64).reshape(1, -1, 2)
    got = blot_image(data, pm, interp="sinc", sinscl=sinscl, backend=backend)[0]
    want = [iraf_sinc(data, x, y, sinscl) for x, y in pts]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sinc_exact_hit_returns_pixel(backend, rng):
    data = smooth_image(rng, (10, 10))
    pm = np.array([[[4.0005, 6.9995], [4.0, 6.0]]])
    got = blot_image(data, pm, interp="sinc", backend=backend)[0]
    np.testing.assert_array_equal(got, [data[7, 4], data[6, 4]])


# -- positions that are NaN, off the image or on its last half pixel --------


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
def test_nan_positions_give_fillval_only_there(backend, interp, rng):
    data = smooth_image(rng, (20, 25))
    pixmap = random_pixmap(rng, (18, 22), (20, 25), nan_fraction=0.0)
    clean = blot_image(data, pixmap, interp=interp, fillval=-2.0, backend=backend)
    holes = pixmap.copy()
    holes[3, 4, 0] = np.nan
    holes[5, 6, 1] = np.nan
    holes[7, 8] = np.nan
    got = blot_image(data, holes, out_img=poisoned((18, 22)), interp=interp, fillval=-2.0,
                     backend=backend)
    hit = np.zeros((18, 22), bool)
    hit[3, 4] = hit[5, 6] = hit[7, 8] = True
    assert np.all(got[hit] == -2.0)
    np.testing.assert_array_equal(got[~hit], clean[~hit])


@pytest.mark.parametrize("interp", BLOT_INTERPOLANTS)
@pytest.mark.parametrize("in_shape", [(1, 1), (3, 2), (7, 9), (30, 40)])
def test_last_half_pixel_is_inside(backend, interp, in_shape):
    """x or y in [n - 0.5, n) is on the image: finite values and no out-of-bounds
    reads (drizzle 3.0's nearest reads past the image there); n itself is off it."""
    ny, nx = in_shape
    data = (np.arange(nx * ny, dtype=np.float32).reshape(in_shape) % 7) + 1.0
    below = np.nextafter(np.float64(nx), 0), np.nextafter(np.float64(ny), 0)
    pts = [(nx - 0.5, ny - 0.5), (below[0], ny / 2), (nx / 2, below[1]), below,
           (nx - 0.25, 0.0), (0.0, ny - 0.25), (nx, 0.0), (0.0, ny), (-1e-12, 0.0), (np.inf, 0.0),
           (-np.inf, 0.0), (0.0, 0.0)]
    pm = np.array(pts, dtype=np.float64).reshape(1, -1, 2)
    got = blot_image(data, pm, out_img=poisoned((1, len(pts))), interp=interp, fillval=-4.0,
                     backend=backend)[0]
    assert np.all(np.isfinite(got))
    assert np.all(got[:6] != -4.0)
    assert np.all(got[6:11] == -4.0)
    if interp == "nearest":
        assert got[3] == data[-1, -1]


# -- arguments --------------------------------------------------------------


def test_out_img_is_filled_and_inputs_kept(backend, rng):
    data = smooth_image(rng, (20, 20))
    pixmap = random_pixmap(rng, (15, 16), (20, 20))
    data0, pixmap0 = data.copy(), pixmap.copy()
    out = poisoned((15, 16))
    res = blot_image(data, pixmap, out_img=out, fillval=0.5, backend=backend)
    assert res is out
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(data, data0)
    np.testing.assert_array_equal(pixmap, pixmap0)
    fresh = blot_image(data, pixmap, fillval=0.5, backend=backend)
    np.testing.assert_array_equal(fresh, out)


def test_out_img_view_is_filled(backend, rng):
    data = smooth_image(rng, (20, 20))
    pixmap = random_pixmap(rng, (10, 12), (20, 20))
    big = poisoned((10, 24))
    view = big[:, ::2]
    res = blot_image(data, pixmap, out_img=view, backend=backend)
    assert res is view
    np.testing.assert_array_equal(big[:, ::2], blot_image(data, pixmap, backend=backend))
    assert np.all(np.isnan(big[:, 1::2]))


def test_out_img_may_be_the_source(backend, rng):
    data = smooth_image(rng, (12, 12))
    pixmap = np.dstack(np.meshgrid(np.arange(12.0) + 0.5, np.arange(12.0) + 0.25))
    want = blot_image(data, pixmap, backend=backend)
    res = blot_image(data, pixmap, out_img=data, backend=backend)
    assert res is data
    np.testing.assert_array_equal(data, want)


def test_iscale_and_fillval(backend, rng):
    data = smooth_image(rng, (10, 10))
    pm = np.array([[[4.5, 4.5], [20.0, 1.0]]])
    one = blot_image(data, pm, interp="linear", backend=backend)
    three = blot_image(data, pm, interp="linear", iscale=3.0, fillval=np.nan, backend=backend)
    assert one[0, 1] == 0.0
    assert np.isnan(three[0, 1])
    np.testing.assert_allclose(three[0, 0], 3.0 * one[0, 0], rtol=1e-6)


def test_interp_names(backend, rng):
    data = smooth_image(rng, (10, 10))
    pm = np.array([[[4.3, 4.6]]])
    a = blot_image(data, pm, interp="POLY3", backend=backend)
    b = blot_image(data, pm, interp="poly3", backend=backend)
    assert a == b
    with pytest.warns(DeprecationWarning, match="lanczos5"):
        c = blot_image(data, pm, interp="lan5", backend=backend)
    assert c == blot_image(data, pm, interp="lanczos5", backend=backend)


def test_empty_output(backend):
    got = blot_image(np.ones((4, 4), np.float32), np.zeros((0, 3, 2)), backend=backend)
    assert got.shape == (0, 3) and got.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(interp="cubic"), "interp"),
        (dict(interp=None), "interp"),
        (dict(pixmap=np.zeros((5, 6, 3))), "pixmap"),
        (dict(pixmap=np.zeros((5, 6))), "pixmap"),
        (dict(data=np.ones(8, np.float32)), "data"),
        (dict(data=np.ones((2, 3, 4), np.float32)), "data"),
        (dict(iscale=np.nan), "iscale"),
        (dict(iscale=np.inf), "iscale"),
        (dict(iscale=0.0), "iscale"),
        (dict(sinscl=np.nan), "sinscl"),
        (dict(sinscl=-1.0), "sinscl"),
        (dict(fillval="zero"), "fillval"),
        (dict(fillval=1e39), "fillval"),
        (dict(out_img=np.zeros((6, 5), np.float32)), "out_img"),
        (dict(out_img=np.zeros((5, 6), np.float32)[::-1][:4]), "out_img"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, name):
    args = dict(data=np.ones((4, 4), np.float32), pixmap=np.zeros((5, 6, 2)))
    args.update(kwargs)
    data, pixmap = args.pop("data"), args.pop("pixmap")
    with pytest.raises(ValueError, match=name):
        blot_image(data, pixmap, backend="numpy", **args)


def test_bad_out_img_type_and_mode():
    data, pixmap = np.ones((4, 4), np.float32), np.zeros((5, 6, 2))
    with pytest.raises(TypeError, match="out_img"):
        blot_image(data, pixmap, out_img=np.zeros((5, 6)), backend="numpy")
    with pytest.raises(TypeError, match="data"):
        blot_image(data.astype(complex), pixmap, backend="numpy")
    frozen = np.zeros((5, 6), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out_img"):
        blot_image(data, pixmap, out_img=frozen, backend="numpy")
    with pytest.raises(TypeError):
        blot_image(data, pixmap, None)  # drizzle's positional pix_ratio is not accepted
