"""The strict CuPy emulation itself: it refuses what CuPy refuses, and it catches planted defects.

Each planted defect is one of the kinds a code review found in the cuda
path before the emulation existed: numpy-only array attributes, big-endian
FITS dtypes reaching CuPy, implicit numpy conversion of device arrays,
kernels compiled by CuPy (``-ftz=true``), scalars of the wrong C width,
re-uploading chip data.  The defect is planted by running a copy of the
module with the fixed line put back as it was; the emulation must fail it.
Launches run the kernels' CUDA code (their ``__CUDACC__`` branch, built for
the host by ``fakecupy.cuda_on_host``) over the launched grid and block, so
defects planted in a changed copy of a kernel source's CUDA-only code (a loop
without its grid stride, a wrong edge, missing or divergent barriers) must
show too.
"""

import math
import re
import sys
import types

import numpy as np
import pytest

from gpudrizzle.backends import get_backend
from gpudrizzle.kernels import BLOCK_KERNELS, KERNELS, load_source

pytestmark = pytest.mark.emulated_gpu


# ---------------------------------------------------------------------------
# what CuPy refuses


def test_device_arrays_are_not_numpy_arrays(fake_cupy):
    cp = fake_cupy
    a = cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="host numpy array"):
        a + np.ones(3, np.float32)
    with pytest.raises(AttributeError):
        a.flags.writeable
    assert a.flags.c_contiguous and not a[:, ::2].flags.c_contiguous
    with pytest.raises(ValueError, match="big-endian"):
        a.astype(">u2")
    with pytest.raises(ValueError, match="big-endian"):
        cp.zeros(3, ">f4")
    with pytest.raises(ValueError, match="big-endian"):
        a[0] = np.zeros(3, ">f4")
    # CuPy's asarray swaps big-endian host data to native order (on the host)
    be = cp.asarray(np.arange(3, dtype=">f4"))
    assert be.dtype == np.dtype("<f4") and be.get().tolist() == [0.0, 1.0, 2.0]
    # numpy functions on device arrays dispatch to CuPy's, results stay on the device
    assert isinstance(np.nanmax(a), cp.ndarray) and float(np.nanmax(a)) == 5.0


def test_only_cupys_api_exists(fake_cupy):
    cp = fake_cupy
    a = cp.zeros((2, 2), np.float32)
    with pytest.raises(AttributeError, match="not in CuPy's public API"):
        cp.not_a_cupy_function
    with pytest.raises(AttributeError, match="not in CuPy's public API"):
        a.tofile_like_numpy_only
    with pytest.raises(TypeError, match="unexpected keyword"):
        cp.sum(a, where=a > 0)  # numpy's where= is not CuPy's
    with pytest.raises(TypeError, match="unexpected keyword"):
        cp.multiply(a, 2, where=a > 0)
    assert cp.count_nonzero(a + 1).item() == 4


def test_methods_dtypes_and_copies_as_cupy_has_them(fake_cupy):
    cp = fake_cupy
    a = cp.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="unexpected keyword"):
        a.sum(where=a > 0)  # a numpy-only keyword of a method
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.asarray(np.zeros(3, np.longdouble))
    with pytest.raises(TypeError, match="cannot be set"):
        a.set(np.zeros((2, 3), np.float64))  # set() does not cast
    with pytest.raises(TypeError, match="Only numpy.ndarray"):
        a.set([[0.0] * 3] * 2)
    a.fill(np.float32(2.0))
    a.fill(np.array(3.0))  # a 0-d host array is a scalar to fill()
    assert a.get().tolist() == [[3.0] * 3] * 2
    assert a.flags.forc and not a.flags.fnc
    c = cp.reset_counters()
    assert isinstance(cp.allclose(a, a), cp.ndarray) and c.syncs == 0  # a device bool
    a[a > 2]  # the size of a masked selection is read back first
    cp.flatnonzero(a)
    assert c.syncs == 2


def test_transfers_and_synchronisations_are_counted(fake_cupy):
    cp = fake_cupy
    c = cp.reset_counters()
    a = cp.asarray(np.ones((4, 8), np.float32))
    assert (c.h2d_bytes, c.h2d_copies) == (128, 1)
    s = (a * 2).sum()
    assert c.syncs == 0
    assert float(s) == 64.0 and bool(a.any()) and int(cp.count_nonzero(a)) == 32
    assert c.syncs == 3
    host = cp.asnumpy(a)
    assert isinstance(host, np.ndarray) and c.d2h_bytes >= 128 and c.syncs == 4
    a[0] = np.zeros(8, np.float32)  # a host value assigned into a device array moves
    assert c.h2d_copies == 2


def test_kernel_launches_are_checked_against_the_c_prototypes(fake_cupy):
    b = get_backend("cuda")
    kernel = b._function("drizzle_weight")  # (const double* acc, gd_index n, float* out)
    acc = fake_cupy.asarray(np.arange(8, dtype=np.float64))
    out = fake_cupy.empty(4, np.float32)
    kernel((1,), (256,), (acc, np.int64(4), out))
    assert out.get().tolist() == [1.0, 3.0, 5.0, 7.0]
    with pytest.raises(TypeError, match="numpy.int64 scalar"):
        kernel((1,), (256,), (acc, 4, out))  # a Python int: its C width is not stated
    with pytest.raises(TypeError, match="numpy.int64 scalar"):
        kernel((1,), (256,), (acc, np.int32(4), out))
    with pytest.raises(TypeError, match="array of float32 for a float64 pointer"):
        kernel((1,), (256,), (acc.astype(np.float32), np.int64(4), out))
    with pytest.raises(TypeError, match="C-contiguous"):
        kernel((1,), (256,), (acc, np.int64(4), fake_cupy.empty(8, np.float32)[::2]))
    with pytest.raises(TypeError, match="takes 3 arguments"):
        kernel((1,), (256,), (acc, np.int64(4)))
    with pytest.raises(ValueError, match="positive"):
        kernel((0,), (256,), (acc, np.int64(4), out))
    with pytest.raises(TypeError, match="tuples"):
        kernel([1], [256], (acc, np.int64(4), out))
    with pytest.raises(RuntimeError, match="named symbol not found"):
        b._module(0, "drizzle.cu").get_function("blot_poly5")


def test_the_prototypes_match_the_kernel_table(fake_cupy):
    """The kernel table (Python side of every launch) states each C parameter exactly."""
    from gpudrizzle.kernels import parse_kind

    protos = fake_cupy.prototypes()
    assert set(KERNELS) <= set(protos)
    for name, spec in KERNELS.items():
        assert [a for a, _ in spec] == [p.name for p in protos[name]], name
        for (arg, kind), p in zip(spec, protos[name]):
            dtype, is_array, _ = parse_kind(kind)
            assert (dtype, is_array) == (p.dtype, p.pointer), (name, arg)


# ---------------------------------------------------------------------------
# launch sizes equal the real work


def _work_items(launch):
    """Work items of a launch from its scalar arguments (threads, or blocks for BLOCK_KERNELS)."""
    s, name = launch.scalars, launch.kernel
    if name.startswith("drizzle_") and "xmin" in s:
        return max(s["xmax"] - s["xmin"] + 1, 0) * max(s["ymax"] - s["ymin"] + 1, 0)
    if name.startswith("blot_"):
        return s["out_nx"] * s["out_ny"]
    if name == "combine_minmed_select":
        return s["nout"] * s["nx"]
    if name.startswith("combine_"):
        return s["npix"]
    if name.startswith("crmask_"):
        return s["nx"] * s["ny"]
    if name.startswith("stats_"):
        return -(-s["n"] // s["chunk"])
    if name == "pixmap_interp":  # a block of whole rows: one item per run along a row
        return (s["n"] // s["nx"]) * -(-s["nx"] // _pixmap_run())
    return s["n"]


def _pixmap_run():
    """Pixels of a row one pixmap_interp work item maps (PM_RUN of pixmap.cu)."""
    text = load_source("pixmap.cu")
    return int(re.search(r"#define PM_RUN (\d+)", text).group(1))


def test_launch_sizes_equal_the_work_items(fake_cupy, tmp_path):
    from gpudrizzle import astrodrizzle
    from gpudrizzle.demo import write_demo_data

    files = [t.path for t in write_demo_data(tmp_path / "in", size="small")]
    counters = fake_cupy.reset_counters()
    astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "demo"), build=True,
                              backend="cuda", runfile="", clean=True)
    cap = fake_cupy.DEVICE["multiProcessorCount"] * 32
    seen = set()
    for launch in counters.launches:
        items = _work_items(launch)
        block = launch.block[0]
        if launch.kernel in BLOCK_KERNELS:
            expected = items
        else:
            expected = min(math.ceil(items / block), cap)
        assert launch.grid == (expected,), (launch.kernel, launch.grid, items)
        seen.add(launch.kernel)
    assert {"stats_moments", "stats_histogram", "pixmap_interp", "drizzle_turbo",
            "blot_poly5", "combine_minmed_stats"} <= seen


# ---------------------------------------------------------------------------
# planted defects


def _planted(module_name, old, new):
    """A fresh copy of ``module_name`` with its line ``new`` put back to ``old``."""
    module = sys.modules[module_name]
    source = open(module.__file__, encoding="utf-8").read()
    assert source.count(new) == 1, f"{new!r} not found once in {module.__file__}"
    copy = types.ModuleType(module_name)
    copy.__file__ = module.__file__
    copy.__package__ = module.__package__
    exec(compile(source.replace(new, old), module.__file__, "exec"), copy.__dict__)
    return copy


def test_planted_numpy_flag_on_a_device_array(fake_cupy):
    import gpudrizzle.blot

    b = get_backend("cuda")
    data = b.asarray(np.ones((8, 9), np.float32), np.float32)
    y, x = np.indices((5, 6), dtype=np.float64)
    pixmap = b.asarray(np.dstack([x + 0.5, y + 0.5]), np.float64)
    out = fake_cupy.empty((5, 6), np.float32)
    gpudrizzle.blot.blot_image(data, pixmap, out_img=out, interp="linear", backend=b)
    planted = _planted("gpudrizzle.blot", "if not out_img.flags.writeable:",
                       "if isinstance(out_img, np.ndarray) and not out_img.flags.writeable:")
    with pytest.raises(AttributeError, match="writeable"):
        planted.blot_image(data, pixmap, out_img=out, interp="linear", backend=b)


def test_planted_big_endian_dq_reaching_the_device(fake_cupy, rng):
    import gpudrizzle.crmask

    b = get_backend("cuda")
    sci = rng.normal(100, 5, (20, 30)).astype(np.float32)
    dq = rng.integers(0, 4, (20, 30)).astype(">u2")  # as FITS stores it
    res = gpudrizzle.crmask.driz_cr(sci, sci, dq, backend=b)
    assert res.dq.dtype == np.uint16 and np.array_equal(res.dq, dq)
    planted = _planted("gpudrizzle.crmask",
                       "out_dq = None if dq is None else dq_work.astype(dq.dtype)",
                       'out_dq = None if dq is None else dq_work.astype(np.dtype(dq.dtype).newbyteorder("="))')
    with pytest.raises(ValueError, match="big-endian"):
        planted.driz_cr(sci, sci, dq, backend=b)


def test_planted_implicit_numpy_conversion_of_device_output(fake_cupy):
    import gpudrizzle.resample

    b = get_backend("cuda")
    img = fake_cupy.zeros((6, 7), np.float32)
    gpudrizzle.resample.Drizzle(out_img=img, backend=b)
    planted = _planted("gpudrizzle.resample",
                       "img = None if out_img is None else np.asarray(out_img, dtype=np.float32)",
                       "img = None if out_img is None else _given(out_img, np.float32)")
    with pytest.raises(TypeError, match="Implicit conversion"):
        planted.Drizzle(out_img=img, backend=b)


def test_planted_kernels_compiled_by_cupy(fake_cupy, monkeypatch):
    """CuPy's RawModule(code=...) appends -ftz=true: the emulation refuses it."""
    from gpudrizzle.backends import cuda
    from gpudrizzle.kernels import load_source

    def cupy_compiled(device_id, source):
        return fake_cupy.RawModule(code=load_source(source), options=("-std=c++17",))

    monkeypatch.setattr(cuda.CudaBackend, "_module", staticmethod(cupy_compiled))
    with pytest.raises(RuntimeError, match="ftz"):
        from gpudrizzle import Drizzle

        d = Drizzle(kernel="point", out_shape=(4, 4), backend="cuda")
        y, x = np.indices((4, 4), dtype=np.float64)
        d.add_image(np.ones((4, 4), np.float32), 1.0, np.dstack([x, y]))


def test_planted_uncast_kernel_scalar(fake_cupy, monkeypatch):
    """A launcher passing Python numbers (CuPy would pick the C width) is refused."""
    from gpudrizzle.backends import base

    monkeypatch.setattr(base, "parse_kind", _python_scalars)
    from gpudrizzle import blot_image

    y, x = np.indices((5, 6), dtype=np.float64)
    with pytest.raises(TypeError, match="scalar"):
        blot_image(np.ones((8, 9), np.float32), np.dstack([x, y]), interp="linear",
                   backend="cuda")


def _python_scalars(kind):
    from gpudrizzle.kernels import parse_kind

    dtype, is_array, nullable = parse_kind(kind)
    if is_array:
        return dtype, is_array, nullable
    return np.dtype(object), False, nullable  # dtype.type(v) is then the Python value itself


def test_planted_re_upload_of_chip_data_breaks_the_transfer_budget(fake_cupy, monkeypatch,
                                                                  tmp_path):
    from gpudrizzle import astrodrizzle
    from gpudrizzle.demo import write_demo_data

    import test_emulated_run as run

    files = [t.path for t in write_demo_data(tmp_path / "in", size="small")]
    monkeypatch.setattr(astrodrizzle._Run, "_chip", lambda self, state, key: (
        None if getattr(state.chip, key) is None
        else self.b.asarray(getattr(state.chip, key), np.float32 if key != "dq"
                            else getattr(state.chip, key).dtype.newbyteorder("="))))
    counters = fake_cupy.reset_counters()
    astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "demo"), build=True, backend="cuda",
                              runfile="", clean=True)
    assert counters.h2d_bytes > 1.2 * run._input_bytes(files)


# ---------------------------------------------------------------------------
# launches run the kernels' CUDA code over the launched grid


def _planted_kernel_source(fake_cupy, monkeypatch, source, old, new):
    """Launches from now on run the CUDA-on-host build of kernel source ``source`` with its
    text ``new`` put back to ``old`` (the other sources are not in that build)."""
    text = load_source(source)
    assert text.count(new) == 1, f"{new!r} not found once in {source}"
    lib = fake_cupy.cuda_on_host({source: text.replace(new, old)})
    monkeypatch.setattr(fake_cupy, "_cuda_library", lambda: lib)
    return lib


_GRID_STRIDE = "k += (gd_index)blockDim.x * gridDim.x) {\n        body(k);"


def _weights(b, n):
    """(acc, poisoned out) of drizzle_weight for n pixels: out[k] = acc[k, 1] = 2 k + 1."""
    acc = b.asarray(np.arange(2 * n, dtype=np.float64).reshape(1, n, 2), np.float64)
    return acc, b.xp.full((1, n), np.nan, np.float32)


def test_a_launch_runs_exactly_its_grid(fake_cupy, monkeypatch):
    """The grid-stride loop of the CUDA code covers any problem with one block of 32
    threads; with the stride planted away (one work item per thread, as a kernel written
    without a grid-stride loop) the same launch leaves all but 32 pixels unwritten, while
    the backend's own launch (enough blocks for every item) still covers everything."""
    b = get_backend("cuda")
    n = 10_000
    want = 2.0 * np.arange(n) + 1.0
    kernel = b._function("drizzle_weight")
    acc, out = _weights(b, n)
    kernel((1,), (32,), (acc, np.int64(n), out))
    np.testing.assert_array_equal(out.get()[0], want)
    launch = fake_cupy.counters.launches[-1]
    assert (launch.grid, launch.block) == ((1,), (32,))

    _planted_kernel_source(fake_cupy, monkeypatch, "drizzle.cu", "k += n) {\n        body(k);",
                           _GRID_STRIDE)
    acc, out = _weights(b, n)
    kernel((1,), (32,), (acc, np.int64(n), out))
    got = out.get()[0]
    np.testing.assert_array_equal(got[:32], want[:32])
    assert np.isnan(got[32:]).all()
    acc, out = _weights(b, n)
    b.weight(acc, out)
    np.testing.assert_array_equal(out.get()[0], want)
    assert fake_cupy.counters.launches[-1].grid == (math.ceil(n / 256),)


def _rotated_pixmap(shape, angle, scale, shift):
    y, x = np.indices(shape, dtype=np.float64)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    xc, yc = x - shape[1] / 2, y - shape[0] / 2
    return np.dstack([scale * (c * xc - s * yc) + shift, scale * (s * xc + c * yc) + shift])


def _square_drizzle(backend, data, pixmap):
    from gpudrizzle import Drizzle

    d = Drizzle(kernel="square", out_shape=(40, 40), backend=backend)
    d.add_image(data, 1.0, pixmap, pixfrac=0.8)
    img = d.out_img
    return img.get() if isinstance(img, get_backend("cuda").xp.ndarray) else np.asarray(img)


def test_planted_defect_in_cuda_only_drizzle_code_is_caught(fake_cupy, monkeypatch, rng):
    """The edge loop of pixel_overlap exists on CUDA only (the host sums the four edges at
    once): the emulated device agrees with the cpu backend, and a wrong edge picked in
    that loop shows."""
    data = rng.random((30, 30)).astype(np.float32) + 1.0
    pixmap = _rotated_pixmap((30, 30), 20.0, 0.8, 20.0)
    want = _square_drizzle("cpu", data, pixmap)
    # the mean of weighted sums made with atomics in another order: a few float32 ulps
    np.testing.assert_allclose(_square_drizzle("cuda", data, pixmap), want, rtol=1e-6,
                               equal_nan=True)
    _planted_kernel_source(fake_cupy, monkeypatch, "drizzle.cu", "if (c == 3) ec = e[2];",
                           "if (c == 3) ec = e[3];")
    got = _square_drizzle("cuda", data, pixmap)
    assert not np.allclose(got, want, rtol=1e-3, equal_nan=True)


def _stats(b, x):
    from gpudrizzle.imagestats import image_stats

    return image_stats(x, "npix,min,max,mean,stddev", backend=b)


def test_planted_missing_warp_barrier_is_caught(fake_cupy, monkeypatch, rng):
    """The block reduction of common.cuh runs as 256 threads that wait for each other at
    every barrier: without the __syncwarp of its last steps, lanes read partial sums
    their neighbours have not written yet, as they may on a GPU."""
    x = rng.normal(10.0, 2.0, 20_000).astype(np.float32)
    want = _stats(get_backend("cpu"), x)
    assert _stats(get_backend("cuda"), x) == want
    _planted_kernel_source(fake_cupy, monkeypatch, "stats.cu", "comb(buf[t], buf[t + w]);",
                           "comb(buf[t], buf[t + w]);\n                __syncwarp();")
    got = _stats(get_backend("cuda"), x)
    assert got.npix != want.npix and got.mean != want.mean


def test_planted_divergent_barrier_hangs(fake_cupy, monkeypatch, rng):
    """A __syncthreads that only some threads of a block reach would hang a GPU: the
    emulation reports it (kernel, block, how many threads arrived)."""
    x = rng.normal(10.0, 2.0, 5_000).astype(np.float32)
    _planted_kernel_source(fake_cupy, monkeypatch, "stats.cu",
                           "o[4] = (double)m.vmax;\n            __syncthreads();\n        }\n    });",
                           "o[4] = (double)m.vmax;\n        }\n    });")
    with pytest.raises(RuntimeError, match=r"stats_moments: block \d+ of \d+ hangs: thread 0 "
                                           r"waits at __syncthreads while 1 of the block's 256"):
        _stats(get_backend("cuda"), x)


def test_a_barrier_outside_the_block_kernels_is_refused(fake_cupy, monkeypatch):
    """Kernels not in BLOCK_KERNELS run their threads one after the other, so a barrier
    there (a kernel missing from the list) is an error, not a silent no-op."""
    b = get_backend("cuda")
    _planted_kernel_source(fake_cupy, monkeypatch, "drizzle.cu", "body(k);\n        __syncthreads();",
                           "body(k);")
    acc, out = _weights(b, 100)
    with pytest.raises(RuntimeError, match="drizzle_weight calls __syncthreads but is not run"):
        b.weight(acc, out)
