"""Drizzle.reset on host threads and the outputs written into given arrays."""

import numpy as np
import pytest

from gpudrizzle import Drizzle, resample


def _identity_pixmap(ny, nx, shift=0.3):
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    return np.dstack([x + shift, y - shift])


def _drizzled(rng, d, shape, shift=0.3):
    data = rng.normal(size=shape).astype(np.float32)
    d.add_image(data, 2.0, _identity_pixmap(*shape, shift), weight_map=rng.uniform(0.5, 1.0, shape).astype(np.float32))


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_reset_on_threads_equals_a_fresh_object(rng, backend):
    shape = (300, 70)  # enough rows for several blocks
    d = Drizzle(out_shape=shape, backend=backend, max_ctx_id=40)
    _drizzled(rng, d, shape)
    _drizzled(rng, d, shape)
    d.reset(threads=3)
    assert not d._acc["sums"].any() and not d._acc["ctx"].any()
    seed = int(rng.integers(1 << 30))
    _drizzled(np.random.default_rng(seed), d, shape)
    fresh = Drizzle(out_shape=shape, backend=backend, max_ctx_id=40)
    _drizzled(np.random.default_rng(seed), fresh, shape)
    for name in ("out_img", "out_wht", "out_ctx"):
        assert np.array_equal(getattr(d, name), getattr(fresh, name), equal_nan=True), name
    assert d.ctx_id == fresh.ctx_id == 1 and d.total_exptime == fresh.total_exptime


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_reset_clears_only_sums_that_were_written(rng, backend, monkeypatch):
    """Sums just made (or just cleared) are not cleared again; after an image, or with
    initial arrays given, they are; the results are those of a fresh object either way."""
    cleared = []
    real_zero = resample._zero
    monkeypatch.setattr(resample, "_zero", lambda xp, a, threads: (cleared.append(a.shape),
                                                                  real_zero(xp, a, threads)))
    shape = (80, 60)
    d = Drizzle(out_shape=shape, backend=backend)
    d.reset()
    assert cleared == []
    _drizzled(rng, d, shape)
    d.reset()
    assert cleared and not d._acc["sums"].any() and not d._acc["ctx"].any()
    n = len(cleared)
    d.reset()
    assert len(cleared) == n
    seed = int(rng.integers(1 << 30))
    _drizzled(np.random.default_rng(seed), d, shape)
    fresh = Drizzle(out_shape=shape, backend=backend)
    _drizzled(np.random.default_rng(seed), fresh, shape)
    assert d.out_img.tobytes() == fresh.out_img.tobytes()
    start = Drizzle(out_img=fresh.out_img, out_wht=fresh.out_wht, exptime=2.0, backend=backend)
    start.reset()  # the sums hold the given images
    assert len(cleared) > n and not start._acc["sums"].any()


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_outputs_written_into_given_arrays(rng, backend):
    shape = (40, 50)
    d = Drizzle(out_shape=shape, backend=backend, fillval=-3.0)
    _drizzled(rng, d, shape, shift=4.5)  # some output pixels get nothing
    img_out = np.full(shape, np.nan, np.float32)  # poisoned
    wht_out = np.full(shape, np.nan, np.float32)
    assert d.get_out_img(img_out) is img_out
    assert d.get_out_wht(wht_out) is wht_out
    assert img_out.tobytes() == d.out_img.tobytes()
    assert wht_out.tobytes() == d.out_wht.tobytes()
    assert (img_out == -3.0).any() and (wht_out > 0).any()


def test_bad_destinations_and_threads_are_refused():
    d = Drizzle(out_shape=(10, 12), backend="numpy")
    with pytest.raises(ValueError, match="float32 array of shape"):
        d.get_out_img(np.zeros((10, 11), np.float32))
    with pytest.raises(ValueError, match="float32 array of shape"):
        d.get_out_wht(np.zeros((10, 12), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        d.get_out_img(np.zeros((12, 10), np.float32).T)
    ro = np.zeros((10, 12), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        d.get_out_wht(ro)
    with pytest.raises(TypeError, match="numpy array"):
        d.get_out_img([[0.0] * 12] * 10)
    with pytest.raises(ValueError, match="'threads'"):
        d.reset(threads=0)
    assert Drizzle(backend="numpy").get_out_img() is None
