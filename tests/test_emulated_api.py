"""The public API with device arrays in and out, on the strict CuPy emulation.

Every function is given CuPy arrays (and FITS-like big-endian host arrays
where a user would pass them), asked for device results, and compared with
the cpu backend on the same inputs as numpy arrays.  Both run the same host
build of the kernels, so results are equal; float32 results reached by
array operations in another order may differ by 1e-6 relative.
"""

import numpy as np
import pytest
from astropy.wcs import WCS

from gpudrizzle import Drizzle, blot_image, calc_pixmap, decode_context
from gpudrizzle.backends import get_backend
from gpudrizzle.crmask import driz_cr
from gpudrizzle.median import create_median
from gpudrizzle.sky import compute_sky
from gpudrizzle.staticmask import create_static_masks

pytestmark = pytest.mark.emulated_gpu


def _wcs(crpix, cd, shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = crpix
    w.wcs.cd = np.array(cd)
    w.array_shape = shape
    return w


def _device(cp, a):
    return cp.asarray(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("=")))


def _host(a, cp):
    assert isinstance(a, cp.ndarray), f"expected a device array, got {type(a).__name__}"
    return a.get()


def test_drizzle_with_device_arrays_in_and_out(fake_cupy, rng):
    cp = fake_cupy
    shape, out_shape = (30, 40), (36, 44)
    y, x = np.indices(shape, dtype=np.float64)
    pixmap = np.dstack([x * 0.95 + 2.3, y * 0.95 + 1.7])
    data = rng.normal(10, 2, shape).astype(np.float32)
    wht = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    dq = rng.integers(0, 8, shape).astype(np.uint32)
    var = rng.uniform(1, 2, shape).astype(np.float32)
    start = rng.normal(5, 1, out_shape).astype(np.float32)
    start_wht = rng.uniform(0.5, 1.0, out_shape).astype(np.float32)
    start_ctx = np.ones(out_shape, np.int32)

    def run(backend, conv):
        d = Drizzle(kernel="square", out_img=conv(start), out_wht=conv(start_wht),
                    out_ctx=conv(start_ctx), exptime=1.0, backend=backend,
                    device_arrays=backend == "cuda")
        d.add_image(conv(data), 2.0, conv(pixmap), data2=conv(var), dq=conv(dq),
                    weight_map=conv(wht), pixfrac=0.8)
        return d

    ref = run("cpu", lambda a: a)
    got = run("cuda", lambda a: _device(cp, a))
    for name in ("out_img", "out_wht", "out_ctx", "out_dq"):
        np.testing.assert_allclose(_host(getattr(got, name), cp), getattr(ref, name), rtol=1e-6)
    np.testing.assert_allclose(_host(got.out_img2[0], cp), ref.out_img2[0], rtol=1e-6)
    # context decoding reads only the requested pixels of a device context
    assert [list(v) for v in decode_context(got.out_ctx, [3, 10], [4, 20])] == \
        [list(v) for v in decode_context(ref.out_ctx, [3, 10], [4, 20])]
    with pytest.raises(IndexError):
        decode_context(got.out_ctx, [44], [0])


def test_blot_and_pixel_map_with_device_arrays(fake_cupy, rng):
    cp = fake_cupy
    w_in = _wcs([20.5, 15.5], [[-1.1e-5, 2e-7], [2e-7, 1.1e-5]], (30, 40))
    w_out = _wcs([25.5, 22.5], [[-1.0e-5, 0.0], [0.0, 1.0e-5]], (44, 50))
    ref_map = calc_pixmap(w_in, w_out, backend="cpu")
    dev_map = calc_pixmap(w_in, w_out, backend="cuda", device_array=True)
    np.testing.assert_allclose(_host(dev_map, cp), ref_map, rtol=0, atol=1e-9)
    image = rng.normal(100, 3, (44, 50)).astype(np.float32)
    ref = blot_image(image, ref_map, interp="poly5", backend="cpu")
    out = cp.empty((30, 40), np.float32)
    got = blot_image(_device(cp, image), dev_map, out_img=out, interp="poly5", backend="cuda")
    assert got is out
    np.testing.assert_array_equal(_host(got, cp), ref)
    # a big-endian host image (as FITS stores it) is converted on the host, not refused
    got_be = blot_image(image.astype(">f4"), ref_map, interp="poly5", backend="cuda")
    np.testing.assert_array_equal(got_be, ref)


def test_step_functions_with_device_inputs(fake_cupy, rng):
    cp = fake_cupy
    shape = (48, 64)
    scis = [rng.normal(50, 4, shape).astype(">f4") for _ in range(3)]  # as read from FITS
    for s in scis:
        s[rng.random(shape) < 0.01] = -500.0  # a few low pixels for the static mask
    sigs = [("ACS", "WFC", shape, 1)] * 3
    ref_masks = create_static_masks(scis, sigs, backend="cpu")
    dev_masks = create_static_masks([_device(cp, s) for s in scis], sigs, backend="cuda",
                                    device_array=True)
    np.testing.assert_array_equal(_host(dev_masks[sigs[0]], cp), ref_masks[sigs[0]])

    masks = [rng.random(shape) > 0.1 for _ in scis]
    kw = dict(brightness=[1.0, 1.0, 1.0], skymethod="localmin", skystat="median")
    ref_sky = compute_sky(scis, [0, 1, 2], masks=masks, backend="cpu", **kw)
    dev_sky = compute_sky([_device(cp, s) for s in scis], [0, 1, 2],
                          masks=[cp.asarray(m) for m in masks], backend="cuda", **kw)
    assert dev_sky.mdrizsky == ref_sky.mdrizsky

    whts = [rng.uniform(0.5, 1.5, shape).astype(np.float32) for _ in scis]
    mkw = dict(combine_type="minmed", readnoise=[4.0] * 3, exptime=[100.0] * 3, sky=[20.0] * 3)
    ref_med = create_median([s.astype(np.float32) for s in scis], whts, backend="cpu", **mkw)
    dev_med = create_median([_device(cp, s) for s in scis], [cp.asarray(w) for w in whts],
                            backend="cuda", device_array=True, **mkw)
    np.testing.assert_array_equal(_host(dev_med, cp), ref_med)

    dq = rng.integers(0, 4, shape).astype(">u2")
    ref_cr = driz_cr(scis[0], ref_med, dq, gain=2.0, rdnoise=4.0, backend="cpu",
                     driz_cr_corr=True)
    dev_cr = driz_cr(_device(cp, scis[0]), dev_med, _device(cp, dq), gain=2.0, rdnoise=4.0,
                     backend="cuda", driz_cr_corr=True, device_array=True)
    for a, b in zip(dev_cr, ref_cr):
        np.testing.assert_array_equal(_host(a, cp), b)
    # big-endian host DQ straight from FITS works too and comes back in native order
    host_cr = driz_cr(scis[0], ref_med, dq, gain=2.0, rdnoise=4.0, backend="cuda")
    assert host_cr.dq.dtype == np.dtype("uint16") and np.array_equal(host_cr.dq, ref_cr.dq)


def test_a_numpy_backend_takes_device_arrays_explicitly(fake_cupy, rng):
    """Device arrays given to a host backend are copied from the device (not refused)."""
    cp = fake_cupy
    y, x = np.indices((10, 12), dtype=np.float64)
    pixmap = np.dstack([x, y])
    data = rng.normal(size=(10, 12)).astype(np.float32)
    for name in ("numpy", "cpu"):
        out = blot_image(cp.asarray(data), cp.asarray(pixmap), interp="nearest",
                         backend=get_backend(name))
        np.testing.assert_array_equal(out, data)
