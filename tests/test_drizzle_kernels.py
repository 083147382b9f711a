"""The compiled drizzle kernels against the numpy reference, on random inputs.

Each case drops one random image through a random pixel map with every
option in use (weights, data2, DQ, context, a sub-box) onto accumulators
that already hold random sums, on a kernel backend and on numpy, and
requires the same results.  The mean kernel's output is poisoned with NaN
first so unwritten pixels show.
"""

import numpy as np
import pytest

from gpudrizzle.backends import get_backend
from gpudrizzle.cpu_fallback.drizzle import lanczos_table
from gpudrizzle.kernels import DRIZZLE_KERNELS

from maps import MAP_KINDS, make_pixmap

OUT_SHAPE = (90, 100)


def _case(rng, kind, kernel):
    shape = (int(rng.integers(40, 70)), int(rng.integers(40, 70)))
    # centre the image so some drops straddle the output edge
    pixmap, scale = make_pixmap(kind, shape, rng, centre=(60.0, 40.0))
    if rng.random() < 0.5:  # a few NaN map positions
        pixmap[tuple(rng.integers(0, shape[0], 3)), tuple(rng.integers(0, shape[1], 3))] = np.nan
    n2 = int(rng.integers(0, 3))
    args = dict(
        data=rng.normal(10, 3, shape).astype(np.float32),
        weight=rng.uniform(0, 2, shape).astype(np.float32) if rng.random() < 0.7 else None,
        pixmap=pixmap,
        data2=rng.uniform(0, 5, (n2,) + shape).astype(np.float32) if n2 else None,
        ndata2=n2,
        dq=rng.integers(0, 1 << 16, shape).astype(np.uint32) if rng.random() < 0.7 else None,
        in_nx=shape[1], in_ny=shape[0],
        xmin=int(rng.integers(0, 5)), xmax=shape[1] - 1 - int(rng.integers(0, 5)),
        ymin=int(rng.integers(0, 5)), ymax=shape[0] - 1 - int(rng.integers(0, 5)),
        out_nx=OUT_SHAPE[1], out_ny=OUT_SHAPE[0],
        iscale=float(rng.uniform(0.5, 2)), pscale_ratio=1.0 / scale,
        pixfrac=float(rng.choice([1.0, 0.6, rng.uniform(0.05, 2.5)])),
        wht_scale=float(rng.uniform(0.5, 2)),
        ctx_bit=int(rng.integers(0, 32)),
    )
    if kernel.startswith("lanczos"):
        args["lut"] = lanczos_table(int(kernel[-1]))
        args["nlut"] = args["lut"].size
    else:
        args["lut"], args["nlut"] = None, 0
    state = dict(
        acc=rng.uniform(0, 1, OUT_SHAPE + (2,)),
        acc_w2d2=rng.uniform(0, 1, (n2,) + OUT_SHAPE) if n2 else None,
        out_dq=rng.integers(0, 4, OUT_SHAPE).astype(np.uint32) if args["dq"] is not None else None,
        ctx=rng.integers(0, 1 << 30, OUT_SHAPE).astype(np.int32),
        line_miss=np.zeros(args["ymax"] - args["ymin"] + 1, np.int32),
    )
    return args, state


def _run(backend, kernel, args, state):
    b = backend
    dev = {k: None if v is None or np.isscalar(v) else b.asarray(v, v.dtype) for k, v in args.items()}
    call = {k: (v if dev[k] is None else dev[k]) for k, v in args.items()}
    st = {k: None if v is None else b.asarray(v.copy(), v.dtype) for k, v in state.items()}
    b.drizzle(kernel, **call, **st)
    return {k: None if v is None else b.to_host(v) for k, v in st.items()}


@pytest.mark.parametrize("kernel", DRIZZLE_KERNELS)
@pytest.mark.parametrize("kind", sorted(MAP_KINDS))
def test_kernel_matches_numpy(kernel_backend, kernel, kind, rng):
    args, state = _case(rng, kind, kernel)
    got = _run(kernel_backend, kernel, args, state)
    want = _run(get_backend("numpy"), kernel, args, state)
    scale = np.abs(want["acc"]).max()
    np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-11, atol=1e-11 * scale)
    if want["acc_w2d2"] is not None:
        np.testing.assert_allclose(got["acc_w2d2"], want["acc_w2d2"], rtol=1e-11,
                                   atol=1e-11 * np.abs(want["acc_w2d2"]).max())
    if want["out_dq"] is not None:
        np.testing.assert_array_equal(got["out_dq"], want["out_dq"])
    np.testing.assert_array_equal(got["ctx"], want["ctx"])
    np.testing.assert_array_equal(got["line_miss"], want["line_miss"])
    # the drop really reached the output
    assert not np.array_equal(want["acc"], state["acc"])


def test_mean_kernel_matches_numpy(kernel_backend, rng):
    acc = rng.uniform(-1, 1, (37, 41, 2))
    acc[rng.random((37, 41)) < 0.3, 1] = 0.0
    w2d2 = rng.uniform(0, 1, (37, 41))
    base = rng.normal(size=(37, 41)).astype(np.float32)
    for case_w2d2, case_base, fill in ((None, None, np.nan), (w2d2, None, -7.5), (None, base, 0.0)):
        outs = []
        for b in (kernel_backend, get_backend("numpy")):
            out = b.asarray(np.full((37, 41), np.nan, np.float32), np.float32)
            b.mean(b.asarray(acc, np.float64),
                   None if case_w2d2 is None else b.asarray(case_w2d2, np.float64),
                   None if case_base is None else b.asarray(case_base, np.float32), fill, out)
            outs.append(b.to_host(out))
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-7, equal_nan=True)
        assert not np.isnan(outs[0][acc[..., 1] != 0]).any()
    wht = kernel_backend.asarray(np.full((37, 41), np.nan, np.float32), np.float32)
    kernel_backend.weight(kernel_backend.asarray(acc, np.float64), wht)
    np.testing.assert_array_equal(kernel_backend.to_host(wht), acc[..., 1].astype(np.float32))


def test_large_image_uses_parallel_tiles(kernel_backend, rng):
    """Big enough for the host schedule to split into tiles of several colours."""
    shape = (700, 650)
    for kind in ("rotation", "scale_two"):
        pixmap, scale = make_pixmap(kind, shape, rng)
        args = dict(data=rng.normal(size=shape).astype(np.float32), weight=None, pixmap=pixmap,
                    data2=None, ndata2=0, dq=None, in_nx=shape[1], in_ny=shape[0], xmin=0,
                    xmax=shape[1] - 1, ymin=0, ymax=shape[0] - 1, out_nx=shape[1],
                    out_ny=shape[0], iscale=1.0, pscale_ratio=1 / scale, pixfrac=1.0,
                    wht_scale=1.0, ctx_bit=3, lut=None, nlut=0)
        state = dict(acc=np.zeros(shape + (2,)), acc_w2d2=None, out_dq=None,
                     ctx=np.zeros(shape, np.int32), line_miss=np.zeros(shape[0], np.int32))
        got = _run(kernel_backend, "square", args, state)
        want = _run(get_backend("numpy"), "square", args, state)
        np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-11, atol=1e-11)
        np.testing.assert_array_equal(got["ctx"], want["ctx"])


@pytest.mark.parametrize("kernel", ["point", "turbo", "square"])
@pytest.mark.parametrize("kind", ["shift", "rotation", "scale_two", "flipped", "folded"])
@pytest.mark.parametrize("pixfrac", [1.0, 0.55])
@pytest.mark.parametrize("n2", [0, 1])
def test_plain_drops_match_numpy(kernel_backend, kernel, kind, pixfrac, n2, rng):
    """Drops without DQ and with at most one data2 plane (the host's row loops for point,
    turbo and pixfrac-1 square, branch-free deposits for point and square's four-pixel
    case) over a tiled image: zero, NaN and missing weights, NaN data, data2 and map
    positions, drops off every edge, (shift, pixfrac 1) turbo drops exactly one output
    pixel wide, and (folded: the upper half mapped onto the lower) tiles that overlap,
    so atomics."""
    shape = (260, 240)
    pixmap, scale = make_pixmap("rotation" if kind == "folded" else kind, shape, rng,
                                centre=(110.0, 120.0))
    if kind == "shift":  # whole-pixel offset: drop edges on pixel borders
        pixmap = np.round(pixmap) + np.array([0.5, 0.0])
    if kind == "folded":
        pixmap[shape[0] // 2:] = pixmap[shape[0] // 2 - 1::-1] + 0.3
    pixmap[tuple(rng.integers(0, shape[0], 20)), tuple(rng.integers(0, shape[1], 20))] = np.nan
    data = rng.normal(10, 3, shape).astype(np.float32)
    data[rng.random(shape) < 0.01] = np.nan
    weight = rng.uniform(0, 2, shape).astype(np.float32)
    weight[rng.random(shape) < 0.05] = 0.0
    weight[rng.random(shape) < 0.01] = np.nan
    data2 = rng.uniform(0, 5, (n2,) + shape).astype(np.float32) if n2 else None
    if n2:
        data2[0][rng.random(shape) < 0.01] = np.inf
    out_shape = (230, 220)
    for w in (weight, None):
        args = dict(data=data, weight=w, pixmap=pixmap, data2=data2, ndata2=n2, dq=None,
                    in_nx=shape[1], in_ny=shape[0], xmin=0, xmax=shape[1] - 1, ymin=0,
                    ymax=shape[0] - 1, out_nx=out_shape[1], out_ny=out_shape[0],
                    iscale=float(rng.uniform(0.5, 2)), pscale_ratio=1.0 / scale,
                    pixfrac=pixfrac, wht_scale=float(rng.uniform(0.5, 2)), ctx_bit=31,
                    lut=None, nlut=0)
        state = dict(acc=rng.uniform(0, 1, out_shape + (2,)),
                     acc_w2d2=rng.uniform(0, 1, (n2,) + out_shape) if n2 else None, out_dq=None,
                     ctx=rng.integers(0, 1 << 30, out_shape).astype(np.int32),
                     line_miss=np.zeros(shape[0], np.int32))
        got = _run(kernel_backend, kernel, args, state)
        want = _run(get_backend("numpy"), kernel, args, state)
        scale_acc = np.abs(want["acc"]).max()
        np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-11, atol=1e-11 * scale_acc)
        if n2:
            np.testing.assert_allclose(got["acc_w2d2"], want["acc_w2d2"], rtol=1e-11,
                                       atol=1e-11 * np.abs(want["acc_w2d2"]).max())
            assert not np.array_equal(want["acc_w2d2"], state["acc_w2d2"])
        np.testing.assert_array_equal(got["ctx"], want["ctx"])
        np.testing.assert_array_equal(got["line_miss"], want["line_miss"])
        assert want["line_miss"].sum() > 0 and not np.array_equal(want["acc"], state["acc"])


@pytest.mark.parametrize("kernel", DRIZZLE_KERNELS)
def test_drops_outside_their_tile_footprint(kernel, rng):
    """Map nodes inside tiles thrown 45-55 pixels away: the host schedule bounds each
    tile's footprint from the map on the tile's rim (plus a margin of 3-6 pixels), so
    these drops fall outside it and are set aside and dropped after the tiles; nothing
    is lost or counted twice.  On two threads the tiles are 34 pixels a side, those of
    one colour 34 pixels apart, and with the map nearly unrotated and no rim node moved
    their footprints stay apart: no colour falls back to atomics."""
    b = get_backend("cpu")
    shape = (200, 190)
    pixmap, scale = make_pixmap("shift", shape, rng)
    ys = 34 * rng.integers(1, 5, 30) + rng.integers(6, 29, 30)
    xs = 34 * rng.integers(1, 5, 30) + rng.integers(6, 29, 30)
    pixmap[ys, xs] += rng.uniform(45, 55, (30, 2)) * rng.choice([-1, 1], (30, 2))
    args = dict(data=rng.normal(size=shape).astype(np.float32),
                weight=rng.uniform(0.5, 2, shape).astype(np.float32), pixmap=pixmap,
                data2=None, ndata2=0, dq=None, in_nx=shape[1], in_ny=shape[0], xmin=0,
                xmax=shape[1] - 1, ymin=0, ymax=shape[0] - 1, out_nx=shape[1],
                out_ny=shape[0], iscale=1.0, pscale_ratio=1 / scale, pixfrac=1.0,
                wht_scale=1.0, ctx_bit=5)
    if kernel.startswith("lanczos"):
        args["lut"] = lanczos_table(int(kernel[-1]))
        args["nlut"] = args["lut"].size
    else:
        args["lut"], args["nlut"] = None, 0
    state = dict(acc=np.zeros(shape + (2,)), acc_w2d2=None, out_dq=None,
                 ctx=np.zeros(shape, np.int32), line_miss=np.zeros(shape[0], np.int32))
    with b.limit_threads(2):
        got = _run(b, kernel, args, state)
    want = _run(get_backend("numpy"), kernel, args, state)
    np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-11, atol=1e-11)
    np.testing.assert_array_equal(got["ctx"], want["ctx"])
    np.testing.assert_array_equal(got["line_miss"], want["line_miss"])


def test_point_drops_round_at_ties_and_edges(kernel_backend, rng):
    """Point drops at positions that round to a border or just past it (-0.5, n - 0.5 and
    their neighbours), at half-pixel ties, far away, infinite and NaN, one coordinate at a
    time and both: the same output pixels as the reference's round half away from zero."""
    out_ny, out_nx = 9, 13
    edge = [-0.5, np.nextafter(-0.5, 1), -1e-300, 0.0, 0.5, 2.5, 3.49999999999999956,
            out_nx - 1.5, np.nextafter(out_nx - 0.5, 0), out_nx - 0.5, out_nx + 0.5,
            2.0 ** 31 + 0.5, -2.0 ** 31, 1e300, -np.inf, np.inf, np.nan]
    xs = np.array(edge)
    ys = np.concatenate([xs, [out_ny - 0.5, np.nextafter(out_ny - 0.5, 0)]])
    # every pairing, plus positions well inside in the other coordinate
    inner = rng.uniform(0.6, 7.4, 8)
    px = np.concatenate([np.repeat(xs, ys.size), xs, np.full(ys.size, 4.0), inner])
    py = np.concatenate([np.tile(ys, xs.size), np.full(xs.size, 3.0), ys, inner[::-1]])
    shape = (3, px.size // 3 + 1)
    pixmap = np.full(shape + (2,), np.nan)
    pixmap.reshape(-1, 2)[:px.size] = np.stack([px, py], -1)
    args = dict(data=rng.normal(10, 3, shape).astype(np.float32),
                weight=rng.uniform(0.5, 2, shape).astype(np.float32), pixmap=pixmap,
                data2=None, ndata2=0, dq=None, in_nx=shape[1], in_ny=shape[0], xmin=0,
                xmax=shape[1] - 1, ymin=0, ymax=shape[0] - 1, out_nx=out_nx, out_ny=out_ny,
                iscale=1.0, pscale_ratio=1.0, pixfrac=1.0, wht_scale=1.0, ctx_bit=2,
                lut=None, nlut=0)
    state = dict(acc=rng.uniform(0, 1, (out_ny, out_nx, 2)), acc_w2d2=None, out_dq=None,
                 ctx=rng.integers(0, 1 << 30, (out_ny, out_nx)).astype(np.int32),
                 line_miss=np.zeros(shape[0], np.int32))
    got = _run(kernel_backend, "point", args, state)
    want = _run(get_backend("numpy"), "point", args, state)
    np.testing.assert_allclose(got["acc"], want["acc"], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(got["ctx"], want["ctx"])
    np.testing.assert_array_equal(got["line_miss"], want["line_miss"])
    assert 0 < want["line_miss"].sum() < px.size
