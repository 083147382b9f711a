"""The median step: kernels against the numpy reference, create_median against drizzlepac.

The golden arrays in ``golden/median_golden.npz`` were made by drizzlepac
3.11's own ``createMedian._median`` (script: ``golden/make_golden.py``);
every combination type must reproduce them bit for bit, except where
gpudrizzle deliberately differs (the i-types' fill, see below).
"""

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import gpudrizzle.median as median_module
from gpudrizzle.backends import get_backend
from gpudrizzle.median import COMBINE_TYPES, create_median, weight_thresholds

GOLDEN = Path(__file__).resolve().parent / "golden" / "median_golden.npz"

# Fixtures from conftest.py: ``backend``, ``kernel_backend`` and ``rng``.


def random_stack(rng, n_in, npix):
    """Values with ties, zeros and NaN; weights around 1 with some low ones."""
    data = np.round(rng.normal(10, 3, (n_in, npix)), 1).astype(np.float32)
    data[rng.random(data.shape) < 0.05] = 0.0
    data[rng.random(data.shape) < 0.05] = np.nan
    wht = rng.uniform(0.5, 1.5, (n_in, npix)).astype(np.float32)
    wht[rng.random(wht.shape) < 0.3] = 0.1
    data[:, :7] = np.nan  # pixels with no usable value at all
    data[1:, 7:12] = np.nan  # ... and with exactly one
    return data, wht


def padded(arrays, pitch):
    """Each (n_in, npix) array in an (n_in, pitch) one, the padding full of garbage."""
    out = []
    for a in arrays:
        p = np.full((a.shape[0], pitch), -1e30, a.dtype)
        p[:, pitch - 1] = np.nan
        p[:, :a.shape[1]] = a
        out.append(p)
    return out


def _run(b, method, arrays, scalars, outputs):
    # copies: ``data`` is scratch to the kernels
    dev = {k: None if v is None else b.asarray(v.copy(), v.dtype) for k, v in arrays.items()}
    outs = {k: b.asarray(v.copy(), v.dtype) for k, v in outputs.items()}
    getattr(b, method[0])(*method[1:], **dev, **scalars, **outs)
    return {k: b.to_host(v) for k, v in outs.items()}


# -- compiled kernels against the numpy reference ---------------------------


@pytest.mark.parametrize("n_in", [1, 2, 3, 8, 17, 33, 150, 1030])
@pytest.mark.parametrize("kind", ["median", "mean", "imedian", "imean", "sum"])
def test_combine_kernel_matches_numpy(kernel_backend, rng, kind, n_in):
    """The sorting networks (<= 32 inputs), the host's gathered blocks (33 to 1024)
    and quickselect in the band itself (more; every count on a GPU)."""
    npix, pitch = 4000, 4037  # the padding holds garbage that must not be read
    data, wht = padded(random_stack(rng, n_in, npix), pitch)
    if kind == "sum":
        arrays, scalars = dict(data=data), dict(n_in=n_in, npix=npix, pitch=pitch)
    else:
        nlow = int(rng.integers(0, 3)) if n_in > 3 else 0
        nhigh = int(rng.integers(0, 3)) if n_in > 3 else 0
        wthr = rng.uniform(0.2, 0.8, n_in) if rng.random() < 0.8 else None
        lthresh = float(rng.choice([np.nan, 6.0]))
        hthresh = float(rng.choice([np.nan, 15.0]))
        arrays = dict(data=data, wht=wht, wthr=wthr)
        scalars = dict(n_in=n_in, npix=npix, pitch=pitch, nlow=nlow, nhigh=nhigh,
                       lthresh=lthresh, hthresh=hthresh)
    outputs = dict(out=np.full(npix, np.nan, np.float32))
    got = _run(kernel_backend, ("combine", kind), arrays, scalars, outputs)
    want = _run(get_backend("numpy"), ("combine", kind), arrays, scalars, outputs)
    np.testing.assert_array_equal(got["out"], want["out"])
    assert not np.isnan(got["out"]).any()


@pytest.mark.parametrize("n_in", [1, 2, 3, 8, 40, 1030])
def test_minmed_kernels_match_numpy(kernel_backend, rng, n_in):
    nrows, nx = 30, 70
    npix = nrows * nx
    data, wht = random_stack(rng, n_in, npix)
    data = np.where(rng.random(data.shape) < 0.02, data + 400, data)  # outliers
    data = np.where(rng.random(data.shape) < 0.02, data - 400, data).astype(np.float32)
    data, wht = padded((data, wht), npix + 32)
    wthr = rng.uniform(0.2, 0.8, n_in) if rng.random() < 0.8 else None
    scalars = dict(n_in=n_in, npix=npix, pitch=npix + 32, nsig1=float(rng.uniform(2, 5)))
    arrays = dict(data=data, wht=wht, wthr=wthr, sky_rate=rng.uniform(0, 2, n_in),
                  rn2=rng.uniform(1, 30, n_in))
    outputs = dict(med=np.full(npix, np.nan, np.float32), mn=np.full(npix, np.nan, np.float32),
                   wsum=np.full(npix, np.nan, np.float32), rms=np.full(npix, np.nan),
                   flags=np.full(npix, -1, np.int32))
    got = _run(kernel_backend, ("minmed_stats",), arrays, scalars, outputs)
    want = _run(get_backend("numpy"), ("minmed_stats",), arrays, scalars, outputs)
    for k in outputs:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert (want["flags"] & 2).any() and ((want["flags"] & 1).any() or n_in == 1)
    for grow in (0, 1, 3):
        row0, nout = int(rng.integers(0, 5)), nrows - 6
        sel = dict(nx=nx, nrows=nrows, row0=row0, nout=nout, grow=grow, nsig1=scalars["nsig1"],
                   nsig2=float(rng.uniform(1, 3)))
        outs = dict(out=np.full((nout, nx), np.nan, np.float32))
        a = _run(kernel_backend, ("minmed_select",), want, sel, outs)["out"]
        b = _run(get_backend("numpy"), ("minmed_select",), want, sel, outs)["out"]
        np.testing.assert_array_equal(a, b)
        assert not np.isnan(a).any()


def test_quickselect_median_of_many_inputs(kernel_backend, rng):
    """300 inputs with many ties: numpy.median is an independent oracle."""
    n_in, shape = 300, (7, 9)
    stack = rng.integers(0, 12, (n_in,) + shape).astype(np.float32)
    stack[:, 0, 0] = 5.0  # all equal
    stack[:, 0, 1] = np.arange(n_in)[::-1]  # reversed order
    got = create_median(stack, combine_type="median", backend=kernel_backend)
    np.testing.assert_array_equal(got, np.median(stack.astype(np.float64), axis=0).astype(np.float32))
    got = create_median(stack[:299], combine_type="mean", combine_nlow=50, combine_nhigh=49,
                        backend=kernel_backend)
    srt = np.sort(stack[:299].astype(np.float64), axis=0)
    np.testing.assert_allclose(got, srt[50:250].mean(axis=0), rtol=1e-6)


# -- drizzlepac 3.11 golden data ---------------------------------------------


def _golden():
    g = np.load(GOLDEN)
    cases = {}
    for key in g.files:
        if key.startswith("params/"):
            cases[key.split("/", 1)[1]] = json.loads(str(g[key]))
    return g, cases


GOLDEN_DATA, GOLDEN_CASES = _golden()


def _golden_run(name, backend, **extra):
    g, case = GOLDEN_DATA, dict(GOLDEN_CASES[name])
    n = case.pop("n_in", len(g["sci"]))
    case.update(extra)
    return create_median(list(g["sci"][:n]), list(g["wht"][:n]), readnoise=g["readnoise"][:n],
                         exptime=g["exptime"][:n], sky=g["sky"][:n], backend=backend, **case)


def _all_masked(n=None):
    g = GOLDEN_DATA
    wht = g["wht"][:n]
    limits = np.array(weight_thresholds(wht, 0.3))
    return (wht < limits[:, None, None]).all(axis=0)


@pytest.mark.parametrize("name", sorted(n for n in GOLDEN_CASES if not n.startswith("i")
                                        or n == "iminmed"))
def test_matches_drizzlepac(backend, name):
    want = GOLDEN_DATA[f"result/{name}"]
    got = _golden_run(name, backend)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["imedian", "imean"])
def test_i_types_fill_every_all_masked_pixel(backend, name):
    """numcombine fills all-masked pixels with the first non-zero input only in the
    first column of each row (its fill flag is reset after one pixel) and leaves 0
    elsewhere; gpudrizzle fills every such pixel."""
    want = GOLDEN_DATA[f"result/{name}"]
    got = _golden_run(name, backend)
    masked = _all_masked()
    np.testing.assert_array_equal(got[~masked], want[~masked])
    sci = GOLDEN_DATA["sci"]
    first = np.argmax(sci != 0, axis=0)
    fill = np.take_along_axis(sci, first[None], axis=0)[0]
    np.testing.assert_array_equal(got[masked], fill[masked])
    col0 = masked.copy()
    col0[:, 1:] = False
    np.testing.assert_array_equal(want[col0], fill[col0])  # drizzlepac fills there ...
    assert (want[masked & ~col0] == 0).all() and (fill[masked & ~col0] != 0).all()  # ... not here


def test_golden_bands_with_halo(backend):
    """Bands of 5 rows with a 2-row halo give drizzlepac's whole-image answer."""
    got = _golden_run("minmed_grow2", backend, combine_bufsize=5 * 72 * 4 / 1048576)
    np.testing.assert_array_equal(got, GOLDEN_DATA["result/minmed_grow2"])


def test_weight_thresholds_match_imagestats_mean():
    wht = GOLDEN_DATA["wht"]
    limits = weight_thresholds(wht, 0.3, rows=7)
    for w, lim in zip(wht, limits):
        pos = w[w >= np.float32(1e-8)].astype(np.float64)
        assert lim == float(np.float32(pos.sum() / pos.size)) * 0.3
    assert weight_thresholds([np.zeros((3, 4), np.float32)]) == [0.0]


# -- API ---------------------------------------------------------------------


def test_nan_values_are_never_used(backend, rng):
    sci = rng.normal(5, 1, (4, 20, 30)).astype(np.float32)
    wht = np.ones_like(sci)
    poisoned = sci.copy()
    poisoned[0, 3:6, 4:9] = np.nan
    masked = wht.copy()
    masked[0, 3:6, 4:9] = 0.0
    for kind in ("median", "mean", "minmed", "sum"):
        want = create_median(np.where(np.isnan(poisoned), 0, poisoned) if kind == "sum" else sci,
                             masked, combine_type=kind, combine_maskpt=0.5, backend=backend)
        got = create_median(poisoned, wht, combine_type=kind, combine_maskpt=0.5, backend=backend)
        np.testing.assert_array_equal(got, want, err_msg=kind)


def test_single_input_minmed_is_the_input(backend, rng):
    sci = rng.normal(5, 1, (1, 12, 14)).astype(np.float32)
    wht = np.ones_like(sci)
    wht[0, 2, 3] = 0.0
    got = create_median(sci, wht, backend=backend)
    want = sci[0].copy()
    want[2, 3] = 0.0
    np.testing.assert_array_equal(got, want)


def test_minmed_prefers_the_minimum_under_a_cosmic_ray(backend, rng):
    sky = np.full((4, 30, 30), 10.0, np.float32) + rng.normal(0, 0.05, (4, 30, 30)).astype(np.float32)
    sky[1, 10:12, 10:12] += 500.0  # same place in two of four images: the median is hit
    sky[2, 10:12, 10:12] += 400.0
    wht = np.full_like(sky, 1000.0)
    got = create_median(sky, wht, readnoise=5.0, exptime=1000.0, sky=100.0, backend=backend)
    assert np.abs(got - 10.0).max() < 0.3
    med = create_median(sky, wht, combine_type="median", backend=backend)
    assert med[10, 10] > 100


def test_peak_memory_is_one_band_of_all_inputs():
    """40 inputs, bands of 16 rows: traced allocations stay far below the full stack."""
    n_in, shape = 40, (256, 256)
    sci = [np.full(shape, float(i), np.float32) for i in range(n_in)]
    wht = [np.ones(shape, np.float32) for _ in range(n_in)]
    stack_bytes = 2 * n_in * shape[0] * shape[1] * 4
    band_bytes = 2 * n_in * 16 * shape[1] * 4
    tracemalloc.start()
    try:
        out = create_median(sci, wht, combine_type="median", combine_bufsize=16 * 256 * 4 / 1048576,
                            backend="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (out == np.float32(19.5)).all()
    assert peak < band_bytes * 1.2 + 6 * shape[0] * shape[1] * 4 < stack_bytes / 3


def test_memory_error_before_allocating(monkeypatch):
    monkeypatch.setattr(median_module, "available_bytes", lambda b: 1000)
    with pytest.raises(MemoryError, match="create_median"):
        create_median([np.zeros((50, 50), np.float32)] * 3, [np.ones((50, 50), np.float32)] * 3,
                      backend="numpy")


def test_backend_arrays_stay_on_the_backend(kernel_backend, rng):
    b = kernel_backend
    sci = b.asarray(rng.normal(size=(3, 8, 9)), np.float32)
    wht = b.asarray(np.ones((3, 8, 9)), np.float32)
    got = create_median(sci, wht, backend=b, device_array=True)
    assert isinstance(got, b.xp.ndarray)
    np.testing.assert_array_equal(b.to_host(got), create_median(b.to_host(sci), b.to_host(wht),
                                                                backend="numpy"))


@pytest.mark.parametrize("kwargs, name", [
    (dict(combine_type="average"), "combine_type"),
    (dict(combine_nsigma="4"), "combine_nsigma"),
    (dict(combine_nsigma="4 x"), "combine_nsigma"),
    (dict(combine_type="median", combine_nlow=2, combine_nhigh=1), "combine_nlow"),
    (dict(combine_grow=-1), "combine_grow"),
    (dict(combine_grow=1.5), "combine_grow"),
    (dict(combine_maskpt=-0.1), "combine_maskpt"),
    (dict(combine_lthresh=float("nan")), "combine_lthresh"),
    (dict(combine_bufsize=0), "combine_bufsize"),
    (dict(median_newmasks="yes"), "median_newmasks"),
    (dict(exptime=0.0), "exptime"),
    (dict(readnoise=[1.0, 2.0]), "readnoise"),
    (dict(sky="a"), "sky"),
])
def test_bad_parameters_are_named(kwargs, name):
    sci = [np.zeros((4, 5), np.float32)] * 3
    wht = [np.ones((4, 5), np.float32)] * 3
    with pytest.raises(ValueError, match=name):
        create_median(sci, wht, backend="numpy", **kwargs)


def test_bad_inputs_are_named():
    a = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="single_wht"):
        create_median([a, a, a], backend="numpy")  # minmed needs weights
    with pytest.raises(ValueError, match=r"single_sci\[1\]"):
        create_median([a, np.zeros((4, 6), np.float32)], combine_type="median", backend="numpy")
    with pytest.raises(ValueError, match="single_wht"):
        create_median([a, a], [a], backend="numpy")
    with pytest.raises(ValueError, match="single_sci"):
        create_median([], combine_type="median", backend="numpy")
    with pytest.raises(TypeError, match="single_sci"):
        create_median([a.astype(complex)], combine_type="median", backend="numpy")
    assert set(COMBINE_TYPES) == {"median", "mean", "minmed", "imedian", "imean", "iminmed", "sum"}


# -- inputs read from a scratch file (DiskImage) -----------------------------


def _on_disk(scratch, images):
    return [scratch.append(a) for a in images]


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_disk_images_give_the_in_memory_median(backend, name, tmp_path):
    """Every golden case from DiskImage inputs, in bands of 5 rows: the in-memory answer."""
    g, case = GOLDEN_DATA, dict(GOLDEN_CASES[name])
    n = case.pop("n_in", len(g["sci"]))
    want = _golden_run(name, backend)
    with median_module.ScratchImages(str(tmp_path / "s")) as scratch:
        sci, wht = _on_disk(scratch, g["sci"][:n]), _on_disk(scratch, g["wht"][:n])
        assert all(isinstance(a, median_module.DiskImage) for a in sci + wht)
        got = np.full_like(want, np.nan)
        got = create_median(sci, wht, readnoise=g["readnoise"][:n], exptime=g["exptime"][:n],
                            sky=g["sky"][:n], backend=backend,
                            **{"combine_bufsize": 5 * 72 * 4 / 1048576, **case})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["minmed", "median", "imean", "sum"])
def test_disk_images_with_capped_bands_match_memory(rng, tmp_path, monkeypatch, kind):
    """Random inputs from disk with host bands capped to a few rows (minmed's halo on top)
    give the uncapped in-memory median bit for bit, weight limits included."""
    n_in, ny, nx = int(rng.integers(5, 12)), int(rng.integers(30, 60)), int(rng.integers(20, 50))
    data, wht = random_stack(rng, n_in, ny * nx)
    sci, w = list(data.reshape(n_in, ny, nx)), list(wht.reshape(n_in, ny, nx))
    kw = dict(combine_type=kind, combine_grow=2, readnoise=rng.uniform(0, 5, n_in),
              exptime=rng.uniform(100, 500, n_in), sky=rng.uniform(0, 20, n_in), backend="cpu")
    want = create_median(sci, w, **kw)
    per_row = nx * (4 * n_in * 2 + median_module._MINMED_BYTES)
    monkeypatch.setattr(median_module, "_HOST_MAX_BAND_BYTES", 3 * per_row)
    rows, thr_rows = median_module._band_rows(get_backend("cpu"), n_in, (ny, nx), True, True, 2,
                                              None)
    assert rows == 1 and thr_rows == ny  # capped: 3 rows minus the halo of 2 * grow
    with median_module.ScratchImages(str(tmp_path / "s")) as scratch:
        got = create_median(_on_disk(scratch, sci), _on_disk(scratch, w), **kw)
    np.testing.assert_array_equal(got, want)


def test_capped_host_bands_keep_the_weight_limits(rng, monkeypatch):
    """The cap only shortens the bands: weight means are still summed in the uncapped reads
    (float64 partial sums in another order could round the float32 mean otherwise)."""
    n_in, shape = 3, (300, 40)
    sci = [rng.normal(10, 1, shape).astype(np.float32) for _ in range(n_in)]
    wht = [rng.uniform(0.01, 1e4, shape).astype(np.float32) for _ in range(n_in)]
    want = create_median(sci, wht, combine_type="median", backend="cpu")
    seen = []
    real = median_module.weight_thresholds

    def spy(w, maskpt, rows=None, backend=None):
        seen.append(rows)
        return real(w, maskpt, rows=rows, backend=backend)

    monkeypatch.setattr(median_module, "weight_thresholds", spy)
    monkeypatch.setattr(median_module, "_HOST_MAX_BAND_BYTES", 4096)
    got = create_median(sci, wht, combine_type="median", backend="cpu")
    np.testing.assert_array_equal(got, want)
    assert seen == [300]


def test_disk_images_peak_memory_does_not_grow_with_n(rng, tmp_path, monkeypatch):
    """Traced allocations of a median of N DiskImage pairs: one capped band, for N = 20 and
    N = 200 alike (within 30%), far below the stack of N images."""
    shape = (128, 64)
    monkeypatch.setattr(median_module, "_HOST_MAX_BAND_BYTES", 1 << 20)
    peaks = {}
    for n_in in (20, 200):
        with median_module.ScratchImages(str(tmp_path / "s")) as scratch:
            sci = [rng.normal(10, 1, shape).astype(np.float32) for _ in range(n_in)]
            wht = [rng.uniform(0.5, 1.5, shape).astype(np.float32) for _ in range(n_in)]
            dsci, dwht = _on_disk(scratch, sci), _on_disk(scratch, wht)
            tracemalloc.start()
            try:
                out = create_median(dsci, dwht, combine_type="minmed", backend="cpu")
                peaks[n_in] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            np.testing.assert_array_equal(
                out, create_median(sci, wht, combine_type="minmed", backend="cpu"))
    stack_bytes = 2 * 200 * shape[0] * shape[1] * 4
    assert peaks[200] < 1.3 * peaks[20] and peaks[200] < stack_bytes / 10
    assert peaks[200] < (1 << 20) * 1.3 + 6 * shape[0] * shape[1] * 4


def test_scratch_images_round_trip(rng, tmp_path):
    a = rng.normal(0, 1, (7, 5)).astype(np.float32)
    b = rng.integers(-300, 300, (4, 3)).astype(">i2")  # stored in native byte order
    c = np.asfortranarray(rng.normal(0, 1, (6, 9)))
    with median_module.ScratchImages(str(tmp_path / "s")) as scratch:
        path = scratch.path
        assert path.startswith(str(tmp_path / ".s")) and path.endswith(".tmp")
        da, db, dc = (scratch.append(x) for x in (a, b, c))
        assert (da.shape, da.dtype, da.ndim) == ((7, 5), np.float32, 2)
        assert db.dtype == np.dtype("int16") and db.dtype.isnative
        np.testing.assert_array_equal(da.read_rows(0, 7), a)
        np.testing.assert_array_equal(db[1:3], b[1:3])
        np.testing.assert_array_equal(dc[-2:], c[-2:])
        np.testing.assert_array_equal(da.read_rows(5, 99), a[5:])  # clipped
        out = np.full((3, 5), np.nan, np.float32)
        assert da.read_rows(2, 5, out) is out
        np.testing.assert_array_equal(out, a[2:5])
        with pytest.raises(ValueError, match="'out'"):
            da.read_rows(0, 2, np.empty((2, 5), np.float64))
        with pytest.raises(TypeError, match="slice"):
            da[::2]
        with pytest.raises(ValueError, match="2-D"):
            scratch.append(np.zeros(3, np.float32))
        short = median_module.DiskImage(open(path, "rb", buffering=0), 0, (1000, 10))
        with pytest.raises(OSError, match="ends at byte"):
            short.read_rows(990, 1000)
        short.file.close()
        assert path.startswith(str(tmp_path)) and (tmp_path / path.split("/")[-1]).exists()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ZeroDivisionError):
        with median_module.ScratchImages(str(tmp_path / "s")) as scratch:
            scratch.append(a)
            raise ZeroDivisionError
    assert list(tmp_path.iterdir()) == []
    scratch.close()  # again: nothing
