"""The ImageStats kernels of ``cuda_kernels/stats.cu`` against their numpy reference and numpy.

Clipped moments, histograms, the values of one bin, and the clipped median
built from them (the ImageStats goldens themselves are in test_staticmask.py).
"""

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
    n, chunk, nbins = int(rng.integers(1, 5000)), int(rng.integers(1, 700)), int(rng.integers(1, 90))
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
