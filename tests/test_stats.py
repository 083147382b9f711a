"""The ImageStats kernels of ``cuda_kernels/stats.cu`` against their numpy reference and numpy.

Clipped moments, histograms, the values of one bin, and the clipped median
built from them (the ImageStats goldens themselves are in test_staticmask.py).
"""

import re

import numpy as np
import pytest

from gpudrizzle.backends import get_backend
from gpudrizzle.imagestats import image_stats

# Fixtures from conftest.py: ``backend``, ``kernel_backend`` and ``rng``.


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_moments_kernel_matches_reference(kernel_backend, rng, chunk):
    """Chunked clipped moments: host/GPU kernel against the numpy reference, NaN and inf included."""
    n = int(rng.integers(1, 5000))
    x = rng.normal(3.0, 2.0, n).astype(np.float32)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    x[0] = 3.0  # at least one value within the limits
    lo, hi, mean = np.float32(rng.normal(0, 1)), np.float32(rng.normal(6, 1)), np.float32(3.1)
    nchunks = -(-n // chunk)
    results = []
    for b in (get_backend("numpy"), kernel_backend):
        out = b.xp.full((nchunks, 5), np.nan)  # poisoned
        b.moments(x=b.asarray(x, np.float32), n=n, chunk=chunk, lo=float(lo), hi=float(hi),
                  mean=float(mean), out=out)
        results.append(b.to_host(out))
    ref, got = results
    np.testing.assert_array_equal(got[:, [0, 3, 4]], ref[:, [0, 3, 4]])
    np.testing.assert_allclose(got[:, 1:3], ref[:, 1:3], rtol=1e-12, atol=1e-9)
    keep = (x >= lo) & (x <= hi)
    assert got[:, 0].sum() == keep.sum()
    np.testing.assert_allclose(got[:, 1].sum(), x[keep].astype(np.float64).sum(), rtol=1e-12)
    d = (x[keep] - mean).astype(np.float32)
    np.testing.assert_allclose(got[:, 2].sum(), (d * d).astype(np.float64).sum(), rtol=1e-12)
    assert got[:, 3].min() == x[keep].min() and got[:, 4].max() == x[keep].max()


@pytest.mark.parametrize("include_top", [0, 1])
def test_histogram_kernel_matches_reference(kernel_backend, rng, include_top):
    """Chunked histograms: kernel against the numpy reference and numpy.bincount."""
    n, chunk, nbins = int(rng.integers(2, 5000)), int(rng.integers(1, 700)), int(rng.integers(1, 90))
    x = rng.normal(0.0, 1.0, n).astype(np.float32)
    x[rng.random(n) < 0.05] = np.nan
    lo, hi = np.float32(-2.0), np.float32(2.0)
    x[:2] = [lo, hi]  # both edges present
    f = np.float32(nbins) / (hi - lo)
    results = []
    for b in (get_backend("numpy"), kernel_backend):
        hist = b.xp.full((-(-n // chunk), nbins), 7, np.uint32)  # poisoned
        b.histogram(x=b.asarray(x, np.float32), n=n, chunk=chunk, lo=float(lo), hi=float(hi),
                    include_top=include_top, f=float(f), nbins=nbins, hist=hist)
        results.append(b.to_host(hist))
    np.testing.assert_array_equal(results[1], results[0])
    with np.errstate(invalid="ignore"):
        inside = (x >= lo) & ((x <= hi) if include_top else (x < hi))
    idx = (f * (x[inside] - lo)).astype(np.int64)
    want = np.bincount(idx[idx < nbins], minlength=nbins)[:nbins]
    np.testing.assert_array_equal(results[1].sum(axis=0), want)
    # the values of one bin, chunk by chunk, in order
    table = results[0].astype(np.int64)
    target = int(np.argmax(table.sum(axis=0)))
    offsets = np.concatenate([[0], np.cumsum(table[:-1, target])])
    picked = []
    for b in (get_backend("numpy"), kernel_backend):
        out = b.xp.full(int(table[:, target].sum()), np.nan, np.float32)  # poisoned
        b.pick(x=b.asarray(x, np.float32), n=n, chunk=chunk, lo=float(lo), hi=float(hi),
               include_top=include_top, f=float(f), nbins=nbins, bin=target,
               offsets=b.asarray(offsets, np.int64), out=out)
        picked.append(b.to_host(out))
    sel = np.zeros(n, bool)
    sel[np.flatnonzero(inside)[idx == target]] = True
    np.testing.assert_array_equal(picked[0], x[sel])
    np.testing.assert_array_equal(picked[1], x[sel])


@pytest.mark.parametrize("kind", ["normal", "integers", "constant", "odd", "wide"])
def test_clipped_median_is_numpys(backend, rng, kind):
    """The median of the clipped values, found through histogram bins, is numpy.median's."""
    n = int(rng.integers(2000, 40000)) | (1 if kind == "odd" else 0)
    x = {"normal": lambda: rng.normal(100.0, 7.0, n),
         "integers": lambda: rng.integers(90, 110, n).astype(float),  # many equal values
         "constant": lambda: np.full(n, 3.25),
         "odd": lambda: rng.standard_cauchy(n),
         "wide": lambda: rng.normal(0, 1e30, n)}[kind]().astype(np.float32)
    x[rng.random(n) < 0.01] = np.nan
    got = image_stats(x, "median", nclip=3, lsig=2.5, usig=2.5, backend=backend)
    lo, hi = -np.inf, np.inf  # the clip limits, as ImageStats iterates them
    for it in range(4):
        keep = (x >= np.float32(lo)) & (x <= np.float32(hi))
        vals = x[keep]
        mean = np.float32(vals.astype(np.float64).sum() / vals.size)
        d = (vals - mean).astype(np.float32)
        with np.errstate(over="ignore"):
            std = float(np.float32(np.sqrt((d * d).astype(np.float64).sum() / (vals.size - 1))))
        if it < 3:
            lo, hi = max(np.nanmin(x), mean - 2.5 * std), min(np.nanmax(x), mean + 2.5 * std)
    assert got.median == float(np.median(vals)), (got.median, float(np.median(vals)))


def _block_size():
    """GD_BLOCK of common.cuh: the threads of one block of the stats kernels."""
    from gpudrizzle.kernels import load_source

    m = re.search(r"^#define GD_BLOCK (\d+)", load_source("stats.cu"), re.MULTILINE)
    return int(m.group(1))


def test_block_size_is_the_cuda_launch_block():
    """The kernels' GD_BLOCK is the block size the cuda backend launches them with."""
    from gpudrizzle.backends import cuda
    from gpudrizzle.kernels import BLOCK_KERNELS

    assert {"stats_moments", "stats_histogram", "stats_pick"} <= BLOCK_KERNELS
    assert _block_size() == cuda.BLOCK


def _tree_sum(parts):
    """Sum of the per-slot partial sums in the kernels' fixed tree (slot t += slot t + w)."""
    parts = parts.copy()
    w = parts.size // 2
    while w:
        parts[:w] += parts[w:2 * w]
        w //= 2
    return parts[0]


@pytest.mark.parametrize("chunk", [1, 100, 255, 256, 257, 1000, 4096])
def test_moments_sums_in_the_block_order(kernel_backend, rng, chunk):
    """Chunk sums are folded per slot (values t, t + B, ...) and combined in a fixed tree.

    The host and the GPU run that same order, so their sums agree exactly,
    whatever the chunk size relative to the block (n below a block included).
    """
    B = _block_size()
    n = int(rng.integers(1, 3 * chunk + 2)) if chunk > 1 else 300
    x = rng.normal(0.0, 1e3, n).astype(np.float32)
    x[rng.random(n) < 0.1] = np.nan
    lo, hi, mean = -1500.0, 2000.0, np.float32(0.3)
    nchunks = -(-n // chunk)
    out = kernel_backend.xp.full((nchunks, 5), np.nan)
    kernel_backend.moments(x=kernel_backend.asarray(x, np.float32), n=n, chunk=chunk, lo=lo,
                           hi=hi, mean=float(mean), out=out)
    got = kernel_backend.to_host(out)
    for b in range(nchunks):
        v = x[b * chunk:(b + 1) * chunk]
        keep = (v >= np.float32(lo)) & (v <= np.float32(hi))
        d = (v - mean).astype(np.float32)
        vals = np.where(keep, v, 0).astype(np.float64)
        sq = np.where(keep, d * d, 0).astype(np.float64)
        slot_sum, slot_sq = np.zeros(B), np.zeros(B)
        for start in range(0, v.size, B):  # one round of the block's slots, in order
            m = min(B, v.size - start)
            slot_sum[:m] += vals[start:start + m]
            slot_sq[:m] += sq[start:start + m]
        assert got[b, 0] == keep.sum()
        assert got[b, 1] == _tree_sum(slot_sum), (b, got[b, 1], _tree_sum(slot_sum))
        assert got[b, 2] == _tree_sum(slot_sq), (b, got[b, 2], _tree_sum(slot_sq))


@pytest.mark.parametrize("chunk", [300, 4096, 5000])
def test_moments_min_max_and_infinities_in_the_block_order(kernel_backend, rng, chunk):
    """Min / max (signed zeros: the first in slot and tree order wins) and sums with
    infinities kept (infinite limits) or clipped, every slot holding several values."""
    B = _block_size()
    n = int(rng.integers(2 * chunk, 4 * chunk))
    x = rng.normal(0.0, 10.0, n).astype(np.float32)
    u = rng.random(n)
    x[u < 0.2] = -0.0
    x[(u > 0.2) & (u < 0.4)] = 0.0
    x[(u > 0.4) & (u < 0.42)] = np.nan
    x[(u > 0.42) & (u < 0.43)] = np.inf
    x[(u > 0.43) & (u < 0.44)] = -np.inf
    nchunks = -(-n // chunk)
    for lo, hi in ((-np.inf, np.inf), (-np.inf, 0.0), (-0.0, 25.0)):
        lo32, hi32, mean = np.float32(lo), np.float32(hi), np.float32(rng.normal(0, 3))
        out = kernel_backend.xp.full((nchunks, 5), -7.0)  # poisoned
        kernel_backend.moments(x=kernel_backend.asarray(x, np.float32), n=n, chunk=chunk,
                               lo=float(lo32), hi=float(hi32), mean=float(mean), out=out)
        got = kernel_backend.to_host(out)
        for b in range(nchunks):
            v = x[b * chunk:(b + 1) * chunk]
            with np.errstate(invalid="ignore"):
                keep = (v >= lo32) & (v <= hi32)
                d = (v - mean).astype(np.float32)
                sq = (d * d).astype(np.float64)
            s, q = np.zeros(B), np.zeros(B)
            mn, mx = np.full(B, np.inf, np.float32), np.full(B, -np.inf, np.float32)
            with np.errstate(invalid="ignore"):
                for start in range(0, v.size, B):  # one round of the slots, in order
                    m = min(B, v.size - start)
                    k, w = keep[start:start + m], v[start:start + m]
                    s[:m] = np.where(k, s[:m] + w, s[:m])
                    q[:m] = np.where(k, q[:m] + sq[start:start + m], q[:m])
                    mn[:m] = np.where(k & (w < mn[:m]), w, mn[:m])
                    mx[:m] = np.where(k & (w > mx[:m]), w, mx[:m])
                w = B // 2
                while w >= 1:  # the block's tree
                    s[:w] += s[w:2 * w]
                    q[:w] += q[w:2 * w]
                    mn[:w] = np.where(mn[w:2 * w] < mn[:w], mn[w:2 * w], mn[:w])
                    mx[:w] = np.where(mx[w:2 * w] > mx[:w], mx[w:2 * w], mx[:w])
                    w //= 2
            assert got[b, 0] == keep.sum()
            np.testing.assert_array_equal(got[b, 1:3], [s[0], q[0]])  # NaN where inf - inf
            want = np.array([mn[0], mx[0]], np.float64)
            assert got[b, 3:].view(np.uint64).tolist() == want.view(np.uint64).tolist(), (
                b, lo, hi, got[b, 3:], want)


@pytest.mark.parametrize("nbins", [1, 3, 600, 4096, 4097, 6000])
def test_histogram_and_pick_across_block_rounds(kernel_backend, rng, nbins):
    """Histograms with few bins (per-warp tables), many (past the shared table) and
    chunks not a multiple of the block; the picked values of a bin with many
    duplicates keep their order."""
    n = int(rng.integers(3000, 20000))
    chunk = int(rng.choice([257, 1000, 3 * _block_size(), 5000]))
    x = rng.integers(0, min(nbins, 50) + 1, n).astype(np.float32)  # many equal values
    x[rng.random(n) < 0.05] = np.nan
    x += rng.choice([0.0, 0.25], n).astype(np.float32)  # two values per bin, interleaved
    lo, hi = np.float32(0.0), np.float32(nbins)
    f = np.float32(1.0)
    geometry = dict(n=n, chunk=chunk, lo=float(lo), hi=float(hi), include_top=0, f=float(f),
                    nbins=nbins)
    nchunks = -(-n // chunk)
    tables = []
    for b in (get_backend("numpy"), kernel_backend):
        hist = b.xp.full((nchunks, nbins), 7, np.uint32)  # poisoned
        b.histogram(x=b.asarray(x, np.float32), hist=hist, **geometry)
        tables.append(b.to_host(hist))
    np.testing.assert_array_equal(tables[1], tables[0])
    table = tables[0].astype(np.int64)
    with np.errstate(invalid="ignore"):
        binned = np.where((x >= lo) & (x < hi), np.floor(x), -1)
    for target in {0, int(np.argmax(table.sum(axis=0))), nbins - 1}:
        offsets = np.concatenate([[0], np.cumsum(table[:-1, target])])
        out = kernel_backend.xp.full(int(table[:, target].sum()), np.nan, np.float32)
        kernel_backend.pick(x=kernel_backend.asarray(x, np.float32), bin=target,
                            offsets=kernel_backend.asarray(offsets, np.int64), out=out, **geometry)
        np.testing.assert_array_equal(kernel_backend.to_host(out), x[binned == target])


def test_image_stats_of_images_smaller_than_a_block(backend):
    """Images of a few pixels (one partial block) give numpy's numbers."""
    for n in (1, 2, 31, 255, 257):
        x = (np.arange(n, dtype=np.float32) * np.float32(0.37)) - np.float32(3.0)
        got = image_stats(x, "npix,min,max,mean", backend=backend)
        assert got.npix == n and got.min == x.min() and got.max == x.max()
        assert got.mean == float(np.float32(x.astype(np.float64).sum() / n))


# The CUDA side of the block primitives (shared memory, barriers, warp votes)
# run on the host: the stats kernels' __CUDACC__ branch compiled with the
# shims of tests/cuda_on_host/cuda_shim.h, each block of a launch run as
# GD_BLOCK fibers that wait for each other at __syncthreads / __syncwarp (the
# build the CuPy emulation launches, see fakecupy.cuda_on_host).  This runs the
# very code a GPU runs, so its results can be checked against the host build
# on any machine.


@pytest.fixture(scope="module")
def cuda_on_host():
    """The kernels' CUDA code built for the host: ``launch(kernel, grid, block, values)``."""
    import fakecupy

    return fakecupy.cuda_on_host()


def _emu(lib, kernel, grid, *values):
    lib.launch(kernel, grid, 256, values)  # GD_BLOCK threads, as the cuda backend's BLOCK


@pytest.mark.parametrize("chunk", [100, 256, 700, 3000])
def test_cuda_block_code_matches_the_host_build(cuda_on_host, rng, chunk):
    """Moments, histograms (shared per-warp tables and global rows) and ordered picks of
    the CUDA code equal the host build's, bit for bit; grids smaller than the number of
    chunks stride over them."""
    cpu = get_backend("cpu")
    n = int(rng.integers(chunk, 5 * chunk))
    x = rng.normal(10.0, 3.0, n).astype(np.float32)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.3] = np.float32(10.5)  # duplicates for the pick
    nchunks = -(-n // chunk)
    grid = int(rng.integers(1, nchunks + 1))
    ptr = x.ctypes.data
    got, want = np.full((nchunks, 5), np.nan), np.full((nchunks, 5), np.nan)
    _emu(cuda_on_host, "stats_moments", grid, ptr, n, chunk, 4.0, 16.0, 10.25,
         got.ctypes.data)
    cpu.moments(x=x, n=n, chunk=chunk, lo=4.0, hi=16.0, mean=10.25, out=want)
    np.testing.assert_array_equal(got, want)
    for nbins in (40, 5000):
        lo, hi = np.float32(4.0), np.float32(16.0)
        f = np.float32(nbins) / (hi - lo)
        args = (chunk, float(lo), float(hi), 1, float(f), nbins)
        got = np.full((nchunks, nbins), 7, np.uint32)
        want = np.full((nchunks, nbins), 7, np.uint32)
        _emu(cuda_on_host, "stats_histogram", grid, ptr, n, *args, got.ctypes.data)
        cpu.histogram(x=x, n=n, chunk=chunk, lo=float(lo), hi=float(hi), include_top=1,
                      f=float(f), nbins=nbins, hist=want)
        np.testing.assert_array_equal(got, want)
        table = want.astype(np.int64)
        target = int(np.argmax(table.sum(axis=0)))
        offsets = np.concatenate([[0], np.cumsum(table[:-1, target])]).astype(np.int64)
        picked = np.full(int(table[:, target].sum()), np.nan, np.float32)
        ref = np.full(picked.size, np.nan, np.float32)
        _emu(cuda_on_host, "stats_pick", grid, ptr, n, *args, target, offsets.ctypes.data,
             picked.ctypes.data)
        cpu.pick(x=x, n=n, chunk=chunk, lo=float(lo), hi=float(hi), include_top=1, f=float(f),
                 nbins=nbins, bin=target, offsets=offsets, out=ref)
        np.testing.assert_array_equal(picked, ref)
