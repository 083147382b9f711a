"""gpudrizzle.Drizzle as a user meets it: drop-in use, options, bad input, no side effects."""

import inspect
import math
import warnings

import numpy as np
import pytest

from gpudrizzle import Drizzle, decode_context

from maps import make_pixmap

SHAPE = (30, 34)


def _image(rng, kind="rotation", centre=(30.0, 30.0)):
    pixmap, scale = make_pixmap(kind, SHAPE, rng, centre=centre)
    return rng.normal(50, 5, SHAPE).astype(np.float32), pixmap, 1 / scale


def test_signatures_are_drizzle3_compatible():
    drizzle_resample = pytest.importorskip("drizzle.resample")
    for name in ("__init__", "add_image"):
        theirs = list(inspect.signature(getattr(drizzle_resample.Drizzle, name)).parameters.values())
        ours = list(inspect.signature(getattr(Drizzle, name)).parameters.values())
        assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs]
        for a, b in zip(ours, theirs):
            if b.default is not inspect.Parameter.empty and a.name != "scale":
                assert a.default == b.default, a.name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pixfrac=0.0), "pixfrac"),
        (dict(pixfrac=-1.0), "pixfrac"),
        (dict(pixfrac=math.nan), "pixfrac"),
        (dict(exptime=0.0), "exptime"),
        (dict(exptime=-5.0), "exptime"),
        (dict(exptime=math.inf), "exptime"),
        (dict(iscale=math.nan), "iscale"),
        (dict(wht_scale=0.0), "wht_scale"),
        (dict(pixel_scale_ratio=math.inf), "pixel_scale_ratio"),
        (dict(pixel_scale_ratio=-1.0), "pixel_scale_ratio"),
        (dict(in_units="electrons"), "in_units"),
        (dict(pixmap=np.zeros((30, 34, 3))), "pixmap"),
        (dict(pixmap=np.zeros((34, 30, 2))), "pixmap"),
        (dict(weight_map=np.ones((3, 3))), "weight_map"),
        (dict(dq=np.zeros((3, 3), np.uint32)), "dq"),
        (dict(data2=[np.ones((3, 3), np.float32)]), "data2"),
        (dict(data=np.ones(10, np.float32)), "data"),
    ],
)
def test_bad_input_names_the_argument(backend, rng, kwargs, match):
    data, pixmap, ratio = _image(rng)
    args = dict(data=data, exptime=1.0, pixmap=pixmap, pixel_scale_ratio=ratio)
    args.update(kwargs)
    d = Drizzle(out_shape=(60, 60), backend=backend)
    with pytest.raises(ValueError, match=match):
        d.add_image(**args)
    assert d.out_wht.sum() == 0  # nothing was added


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="Kernel 'boxcar'"):
        Drizzle(kernel="boxcar", backend="numpy")
    with pytest.raises(ValueError, match="shapes"):
        Drizzle(out_shape=(5, 5), out_img=np.zeros((4, 4)), backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        Drizzle(backend="opencl")
    with pytest.raises(ValueError, match="exptime"):
        Drizzle(exptime=-1, backend="numpy")
    with pytest.raises(TypeError, match="dq"):
        Drizzle(out_shape=(5, 5), backend="numpy").add_image(
            np.ones((5, 5)), 1.0, np.dstack(np.indices((5, 5))[::-1]).astype(float), dq=np.ones((5, 5)))


def test_kernel_name_is_case_insensitive(rng):
    data, pixmap, ratio = _image(rng)
    a, b = Drizzle(kernel="Square", out_shape=(60, 60)), Drizzle(out_shape=(60, 60))
    for d in (a, b):
        d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
    np.testing.assert_array_equal(a.out_img, b.out_img)


@pytest.mark.parametrize("kernel", ["square", "turbo", "point", "gaussian", "lanczos3"])
@pytest.mark.parametrize("value", [1e300, math.inf, -math.inf, math.nan, -1e12])
def test_wild_pixmaps_do_not_crash(backend, rng, kernel, value):
    data, pixmap, _ = _image(rng)
    mask = rng.random(SHAPE) < 0.2
    pixmap[mask] = value
    d = Drizzle(kernel=kernel, out_shape=(60, 60), backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nmiss, _ = d.add_image(data, 1.0, pixmap, pixel_scale_ratio=1.0)
    assert nmiss >= 1 if math.isnan(value) or abs(value) > 1e6 else True
    assert np.isfinite(d.out_wht).all()


@pytest.mark.parametrize("kernel", ["square", "turbo", "point"])
def test_nan_in_pixmap_skips_only_the_pixels_that_use_it(backend, rng, kernel):
    data, pixmap, ratio = _image(rng)
    j0, i0 = 12, 17
    broken = pixmap.copy()
    broken[j0, i0] = np.nan
    # the square drop of (i, j) interpolates its corners from the 3x3 nodes around it
    reach = 1 if kernel == "square" else 0
    weight = np.ones(SHAPE, np.float32)
    weight[j0 - reach:j0 + reach + 1, i0 - reach:i0 + reach + 1] = 0
    a = Drizzle(kernel=kernel, out_shape=(60, 60), backend=backend)
    a.add_image(data, 1.0, broken, pixel_scale_ratio=ratio)
    b = Drizzle(kernel=kernel, out_shape=(60, 60), backend=backend)
    b.add_image(data, 1.0, pixmap, weight_map=weight, pixel_scale_ratio=ratio)
    np.testing.assert_allclose(a.out_wht, b.out_wht, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.out_img, b.out_img, rtol=1e-6, equal_nan=True)
    assert a.out_wht.sum() > 0.9 * data.size


def test_context_beyond_32_images(backend, rng):
    n = 35
    d = Drizzle(kernel="point", out_shape=(60, 60), backend=backend)
    hits = []
    for k in range(n):
        data, pixmap, ratio = _image(rng, centre=(30 + rng.uniform(-3, 3), 30 + rng.uniform(-3, 3)))
        d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
        hits.append((np.round(pixmap[5, 5]).astype(int)))
    ctx = d.out_ctx
    assert ctx.shape == (2, 60, 60) and d.ctx_id == n
    x, y = hits[-1]
    assert (n - 1) in decode_context(ctx, int(x), int(y))[0]
    assert decode_context(ctx, [int(x)], [int(y)])[0].size >= 1
    drizzle_utils = pytest.importorskip("drizzle.utils")
    xs, ys = np.array([h[0] for h in hits]), np.array([h[1] for h in hits])
    for ours, theirs in zip(decode_context(ctx, xs, ys), drizzle_utils.decode_context(ctx, xs, ys)):
        np.testing.assert_array_equal(ours, theirs)


def test_continue_from_earlier_products(backend, rng):
    images = [_image(rng, centre=(30 + k, 30 - k)) for k in range(3)]
    whole = Drizzle(out_shape=(60, 60), backend=backend)
    first = Drizzle(out_shape=(60, 60), backend=backend)
    for k, (data, pixmap, ratio) in enumerate(images):
        whole.add_image(data, 10.0, pixmap, pixel_scale_ratio=ratio, data2=data * 0.1)
        if k < 2:
            first.add_image(data, 10.0, pixmap, pixel_scale_ratio=ratio, data2=data * 0.1)
    rest = Drizzle(out_img=first.out_img, out_wht=first.out_wht, out_ctx=first.out_ctx,
                   out_img2=first.out_img2, exptime=first.total_exptime, begin_ctx_id=2,
                   backend=backend)
    data, pixmap, ratio = images[2]
    rest.add_image(data, 10.0, pixmap, pixel_scale_ratio=ratio, data2=data * 0.1)
    np.testing.assert_allclose(rest.out_img, whole.out_img, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(rest.out_img2[0], whole.out_img2[0], rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(rest.out_wht, whole.out_wht, rtol=1e-6)
    np.testing.assert_array_equal(rest.out_ctx, whole.out_ctx)
    assert rest.total_exptime == whole.total_exptime == 30.0


def test_reset_starts_afresh_in_the_same_memory(backend, rng):
    """After reset(), a Drizzle that continued from earlier products gives a fresh object's results."""
    (d1, p1, r1), (d2, p2, r2) = _image(rng, centre=(30, 28)), _image(rng, centre=(29, 31))
    dq = rng.integers(0, 9, SHAPE).astype(np.uint32)
    fresh = Drizzle(out_shape=(60, 60), max_ctx_id=40, begin_ctx_id=3, backend=backend)
    fresh.add_image(d2, 5.0, p2, pixel_scale_ratio=r2, data2=d2 * 0.1, dq=dq)
    reused = Drizzle(out_img=fresh.out_img + 1, out_wht=fresh.out_wht, out_ctx=fresh.out_ctx,
                     out_img2=fresh.out_img2, exptime=7.0, max_ctx_id=40, begin_ctx_id=3,
                     fillval=None, backend=backend)
    for _ in range(35):  # past the first context plane
        reused.add_image(d1, 2.0, p1, pixel_scale_ratio=r1, data2=d1 * 0.1, dq=dq * 2)
    sums = reused._acc["sums"]
    reused.reset()
    assert reused.total_exptime == 0.0 and reused.ctx_id == 3
    reused.add_image(d2, 5.0, p2, pixel_scale_ratio=r2, data2=d2 * 0.1, dq=dq)
    assert reused._acc["sums"] is sums
    np.testing.assert_array_equal(reused.out_img, fresh.out_img)  # NaN where no weight, as fresh
    np.testing.assert_array_equal(reused.out_img2[0], fresh.out_img2[0])
    np.testing.assert_array_equal(reused.out_wht, fresh.out_wht)
    np.testing.assert_array_equal(reused.out_ctx[:fresh.out_ctx.shape[0]], fresh.out_ctx)
    assert not reused.out_ctx[fresh.out_ctx.shape[0]:].any()
    np.testing.assert_array_equal(reused.out_dq, fresh.out_dq)


def test_inputs_are_never_modified(backend, rng):
    data, pixmap, ratio = _image(rng)
    weight = rng.uniform(0, 1, SHAPE).astype(np.float32)
    dq = rng.integers(0, 9, SHAPE).astype(np.uint32)
    out_img = rng.normal(size=(60, 60)).astype(np.float32)
    out_wht = np.zeros((60, 60), np.float32)
    arrays = [data, pixmap, weight, dq, out_img, out_wht]
    copies = [a.copy() for a in arrays]
    d = Drizzle(out_img=out_img, out_wht=out_wht, backend=backend)
    d.add_image(data, 2.0, pixmap, weight_map=weight, dq=dq, data2=[data], pixel_scale_ratio=ratio)
    d.out_img[...] = 0  # the returned arrays are the caller's own
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)
    assert not np.all(d.out_img == 0)


def test_fill_values(backend, rng):
    data, pixmap, ratio = _image(rng)
    empty = (0, 0)
    d = Drizzle(out_shape=(60, 60), backend=backend)
    d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
    assert np.isnan(d.out_img[empty])
    d = Drizzle(out_shape=(60, 60), fillval=-3, backend=backend)
    d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio, data2=data)
    assert d.out_img[empty] == -3 and np.isnan(d.out_img2[0][empty])
    base = np.full((60, 60), 7.0, np.float32)
    d = Drizzle(out_img=base, fillval="INDEF", fillval2=0, backend=backend)
    d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio, data2=data)
    assert d.out_img[empty] == 7.0 and d.out_img2[0][empty] == 0


def test_output_shape_from_pixmap_is_not_transposed(backend, rng):
    y, x = np.indices((20, 45), dtype=float)
    d = Drizzle(backend=backend)
    d.add_image(np.ones((20, 45), np.float32), 1.0, np.dstack([x + 3.2, y - 7.6]))
    assert d.out_img.shape == (21, 46)
    assert np.nansum(d.out_img * d.out_wht) == pytest.approx(20 * 45)


def test_pixel_scale_ratio_estimated_from_pixmap(backend, rng):
    data, pixmap, ratio = _image(rng, kind="scale_half")
    a = Drizzle(kernel="turbo", out_shape=(60, 60), backend=backend)
    a.add_image(data, 1.0, pixmap, pixel_scale_ratio=None)
    b = Drizzle(kernel="turbo", out_shape=(60, 60), backend=backend)
    b.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
    np.testing.assert_allclose(a.out_wht, b.out_wht, rtol=1e-4, atol=1e-6)


def test_counts_are_divided_by_exptime(backend, rng):
    data, pixmap, ratio = _image(rng)
    a = Drizzle(out_shape=(60, 60), backend=backend)
    a.add_image(data * 20, 20.0, pixmap, pixel_scale_ratio=ratio, in_units="counts", data2=data * 400)
    b = Drizzle(out_shape=(60, 60), backend=backend)
    b.add_image(data, 20.0, pixmap, pixel_scale_ratio=ratio, data2=data)
    np.testing.assert_allclose(a.out_img, b.out_img, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.out_img2[0], b.out_img2[0], rtol=1e-6, equal_nan=True)


def test_tiny_pixfrac_falls_back_to_point(backend, rng):
    data, pixmap, ratio = _image(rng)
    a = Drizzle(kernel="square", out_shape=(60, 60), backend=backend)
    with pytest.warns(UserWarning, match="point"):
        a.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio, pixfrac=0.0005)
    b = Drizzle(kernel="point", out_shape=(60, 60), backend=backend)
    b.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
    np.testing.assert_array_equal(a.out_img, b.out_img)


def test_device_arrays_option(backend, rng):
    data, pixmap, ratio = _image(rng)
    d = Drizzle(out_shape=(60, 60), backend=backend, device_arrays=True)
    d.add_image(data, 1.0, pixmap, pixel_scale_ratio=ratio)
    assert isinstance(d.out_img, backend.xp.ndarray)
    assert isinstance(Drizzle(out_shape=(5, 5), backend=backend).out_img, np.ndarray)


def test_out_img2_list_without_shape_takes_the_pixmap_shape(backend, rng):
    y, x = np.indices((12, 15), dtype=float)
    d = Drizzle(out_img2=[None], backend=backend)
    d.add_image(np.ones((12, 15), np.float32), 1.0, np.dstack([x + 0.25, y + 0.25]),
                data2=[np.full((12, 15), 4.0, np.float32)])
    assert d.out_img2[0].shape == d.out_img.shape == (13, 16)
    assert np.nanmax(d.out_img2[0]) <= 4.0 + 1e-6


def test_help_shows_readable_defaults():
    """help(Drizzle) shows no ``<object object at 0x...>`` sentinel."""
    import inspect

    from gpudrizzle import Drizzle

    text = str(inspect.signature(Drizzle.add_image)) + str(inspect.signature(Drizzle.__init__))
    assert "object at 0x" not in text and "scale=<deprecated>" in text
