"""Clipped image statistics as stsci.imagestats' ``ImageStats`` computes them.

AstroDrizzle's static mask (and its sky step, through stsci.skypac) take a
mode, a median or a mean of sigma-clipped pixel values from ``ImageStats``;
:func:`image_stats` reproduces its numbers, rounding included, with the
kernels of ``cuda_kernels/stats.cu`` (clipped moments, histograms, the values
of one bin) on the backend, so the pixels stay on the device and only
per-chunk sums come back per pass.

What ``ImageStats`` does, and is reproduced here:

* every pass keeps the float32 values v with clipmin <= v <= clipmax (the
  limits rounded to float32); the mean is their float64 sum over n, rounded
  to float32; the standard deviation is sqrt(sum((v - mean)^2) / (n - 1)),
  each square rounded to float32 and summed in float64, rounded to float32;
* its min / max start from the first pixel: min = min(max(clipmin, v0), the
  smallest kept value), max = max(min(clipmax, v0), the largest kept value);
* ``nclip`` more passes use clipmin = max(lower, mean - lsig * stddev),
  clipmax = min(upper, mean + usig * stddev);
* the mode comes from a histogram of the whole image from min in bins of
  (max - min) / (nbins - 1), nbins = int((max - min) / (binwidth *
  stddev)) + 1, float32 bin arithmetic, and a parabola through the peak
  bin and its neighbours, converted back with a bin width of binwidth *
  stddev (not the histogram's), as ImageStats does;
* the median is numpy.median of the values within the last clip limits.

Sums run in a different order than ImageStats' sequential loops, so a mean
or standard deviation can differ in the last float32 bit in rare cases.
"""

import math
from typing import NamedTuple, Optional

import numpy as np

from .backends import get_backend
from .memory import check_fits, conversion_bytes

_FLOAT32_MAX = float(np.finfo(np.float32).max)

__all__ = ["image_stats", "ImageStatsResult", "STAT_FIELDS"]

#: Statistics :func:`image_stats` can compute.
STAT_FIELDS = ("npix", "min", "max", "mean", "stddev", "mode", "median", "midpt")

_F32 = np.float32
_MIN_WIDTH = 10.0 * float(np.finfo(np.float32).eps)
# Values per work item (one thread block) of the moments and histogram kernels.  The
# moments' sums depend on it (the same on every backend); 16384 values (64 per thread of a
# 256-thread block) spread the cost of a chunk's combination tree over enough values that
# a pass runs near the memory speed on a host.
_CHUNK = 16384
# At most about this many per-chunk histogram cells.  Histogram counts and picked values do
# not depend on the chunks, so a host backend (a few threads) takes long chunks: fewer
# per-chunk tables to clear and add up; a device keeps enough blocks to fill it.
_HIST_CELLS = 1 << 22
_HIST_CELLS_HOST = 1 << 20


class ImageStatsResult(NamedTuple):
    """Results of :func:`image_stats` (Python floats; None where not computed)."""

    npix: int
    min: float
    max: float
    mean: float
    stddev: Optional[float]  # None unless asked for, or needed (mode, midpt)
    mode: Optional[float]
    median: Optional[float]
    midpt: Optional[float]
    #: the histogram behind mode / midpt (numpy uint32), else None
    histogram: Optional[np.ndarray]


def _moments(b, x, clipmin, clipmax, mean=0.0):
    """(count, sum, sum of squared deviations from ``mean``, min, max) of x within the limits."""
    n = int(x.size)
    out = b.xp.empty((-(-n // _CHUNK), 5), np.float64)
    b.moments(x=x, n=n, chunk=_CHUNK, lo=float(clipmin), hi=float(clipmax), mean=float(mean),
              out=out)
    parts = b.to_host(out)
    return (int(parts[:, 0].sum()), float(parts[:, 1].sum()), float(parts[:, 2].sum()),
            float(parts[:, 3].min()), float(parts[:, 4].max()))


def _compute_mean(b, x, x0, clipmin, clipmax, with_stddev=True):
    """One ImageStats pass: (n, mean, stddev, min, max) as Python ints / floats.

    ``with_stddev=False`` skips the second pass over the data (stddev None).
    """
    lo, hi = _F32(clipmin), _F32(clipmax)
    n, total, _, vmin, vmax = _moments(b, x, lo, hi)
    if n == 0:
        return 0, 0.0, 0.0, float(lo), float(hi)
    mean = _F32(total / n)
    stddev = None
    if with_stddev:
        sumdiff = _moments(b, x, lo, hi, mean)[2]
        stddev = float(_F32(math.sqrt(sumdiff / (n - 1)))) if n > 1 else math.nan
    vmin, vmax = _F32(vmin), _F32(vmax)
    if np.isnan(x0):
        first_min = first_max = x0
    else:
        first_min, first_max = max(lo, x0), min(hi, x0)
    mn = first_min if np.isnan(first_min) else min(first_min, vmin)
    mx = first_max if np.isnan(first_max) else max(first_max, vmax)
    return n, float(mean), stddev, float(mn), float(mx)


def _histogram(b, x, nbins, width, zero):
    """buildHistogram.populate1DHist of the whole image, as a numpy uint32 array."""
    w, lo = _F32(width), _F32(zero)
    if not w > 0:  # all values in one bin of width 0: the C loop keeps none (lo <= v < lo)
        return np.zeros(nbins, np.uint32)
    hi = _F32(lo + _F32(w * _F32(nbins)))
    f = _F32(1.0) / w
    edge = _F32(lo + _F32(w * _F32(nbins)))
    include_top = int(_F32(f * _F32(edge - lo))) == nbins
    if include_top:
        edge = _F32(edge * _F32(1.0 - np.finfo(np.float32).eps))
    hi = min(hi, edge)
    n = int(x.size)
    chunk = _hist_chunk(b, n, nbins)
    hist = b.xp.empty((-(-n // chunk), nbins), np.uint32)
    b.histogram(x=x, n=n, chunk=chunk, lo=float(lo), hi=float(hi), include_top=int(include_top),
                f=float(f), nbins=nbins, hist=hist)
    return b.to_host(hist.sum(axis=0, dtype=np.uint64)).astype(np.uint32)  # added up on the device


def _hist_chunk(b, n, nbins):
    """Values per work item of the histogram kernels on backend ``b``: bounds the
    per-chunk table (the counts do not depend on it)."""
    cells = _HIST_CELLS_HOST if b.xp is np else _HIST_CELLS
    return max(_CHUNK, nbins, -(-n * nbins // cells))


def _median_within(b, x, lo, hi):
    """numpy.median of the values of x within [lo, hi] (float32 limits), as a float.

    The values are binned (bin = int(f * (v - lo)), monotonic in v), the
    bins holding the middle ranks are found from the counts, and only their
    values are gathered and partitioned.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return float(np.median(b.to_host(x[(x <= hi) & (x >= lo)])))
    nbins = 4096
    f = _F32(nbins - 1) / _F32(hi - lo)  # f * (v - lo) stays below nbins for v <= hi
    size = int(x.size)
    geometry = dict(x=x, n=size, chunk=_hist_chunk(b, size, nbins), lo=float(lo), hi=float(hi),
                    include_top=1, f=float(f), nbins=nbins)
    xp = b.xp
    table = xp.empty((-(-size // geometry["chunk"]), nbins), np.uint32)
    b.histogram(hist=table, **geometry)
    # only the totals per bin come back; the chunks' counts of a bin stay on the device
    counts = b.to_host(table.sum(axis=0, dtype=np.int64))
    below = np.concatenate([[0], np.cumsum(counts)])  # values in bins < i
    n = int(below[-1])
    middle, picked = [], {}
    for rank in sorted({(n - 1) // 2, n // 2}):
        i = int(np.searchsorted(below, rank, side="right")) - 1
        if i not in picked:  # the two middle ranks share a bin most of the time
            offsets = xp.concatenate([xp.zeros(1, np.int64),  # where each chunk's values go
                                      xp.cumsum(table[:-1, i], dtype=np.int64)])
            out = xp.empty(int(counts[i]), np.float32)
            b.pick(bin=i, offsets=offsets, out=out, **geometry)
            picked[i] = b.to_host(out)
        middle.append(np.partition(picked[i], rank - below[i])[rank - below[i]])
    if len(middle) == 1:
        return float(middle[0])
    return float(np.median(np.array(middle, np.float32)))  # numpy's float32 mean of the two


def _mode(bins, vmin, hwidth):
    nbins = bins.size
    if nbins == 1:
        return vmin + 0.5 * hwidth
    if nbins == 2:
        if bins[0] > bins[1]:
            return vmin + 0.5 * hwidth
        if bins[0] < bins[1]:
            return vmin + 1.5 * hwidth
        return vmin + hwidth
    peak = int(np.argmax(bins))
    if peak == 0:
        return vmin + 0.5 * hwidth
    if peak == nbins - 1:
        return vmin + (nbins - 0.5) * hwidth
    dh1 = int(bins[peak]) - int(bins[peak - 1])
    dh2 = int(bins[peak]) - int(bins[peak + 1])
    if dh1 + dh2 == 0:
        return vmin + (peak + 0.5) * hwidth
    m = peak + 1 + 0.5 * (dh1 - dh2) / (dh1 + dh2)
    return vmin + (m - 0.5) * hwidth


def _midpt(bins, vmin, hwidth):
    if bins.size <= 1:
        return float(bins[0])
    cum = np.cumsum(bins).astype(np.float32)
    cum = cum / cum[-1]
    lo = int(np.nonzero(cum >= 0.5)[0][0])
    h1 = np.float64(vmin + lo * hwidth)  # float64, so the sums below are too (as in ImageStats)
    hdiff = cum[lo] if lo == 0 else cum[lo] - cum[lo - 1]
    if hdiff == 0:
        return h1
    if lo == 0:
        return float(h1 + 0.5 / hdiff * hwidth)
    return float(h1 + (0.5 - cum[lo - 1]) / hdiff * hwidth)


def image_stats(image, fields="npix,min,max,mean,stddev", *, lower=None, upper=None, nclip=0,
                lsig=3.0, usig=3.0, binwidth=0.1, backend=None):
    """Sigma-clipped statistics of an image, as ``stsci.imagestats.ImageStats``.

    Parameters
    ----------
    image : array of real numbers (any shape; numpy or backend array)
        Converted to float32; NaN and infinite values are never kept
        (unless given ``lower`` / ``upper`` limits are infinite).
    fields : str
        Comma-separated names from :data:`STAT_FIELDS`; "mode" and "midpt"
        build the histogram, "median" sorts the kept values.
    lower, upper : float, optional
        Initial clip limits (default: the image's minimum / maximum).
    nclip : int
        Number of clipping iterations (>= 0).
    lsig, usig : float
        Clip limits in standard deviations below / above the mean (> 0).
    binwidth : float
        Histogram bin width in standard deviations (> 0).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        Where the arrays live (the reductions use its array module).

    Returns
    -------
    ImageStatsResult

    Raises
    ------
    ValueError
        For bad parameters, or when no pixel lies within the limits
        (ImageStats raises then too).
    MemoryError
        When the float32 copy of the image (and, for "median", the sorted
        values) does not fit in the backend's memory (checked first).
    """
    names = [f.strip() for f in fields.lower().split(",") if f.strip()]
    bad = [f for f in names if f not in STAT_FIELDS]
    if bad:
        raise ValueError(f"'fields' must name statistics from {list(STAT_FIELDS)}; got {bad}")
    if isinstance(nclip, bool) or not isinstance(nclip, (int, np.integer)) or nclip < 0:
        raise ValueError(f"'nclip' must be a non-negative integer; got {nclip!r}")
    for name, value in (("lsig", lsig), ("usig", usig), ("binwidth", binwidth)):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and value > 0):
            raise ValueError(f"'{name}' must be a positive number; got {value!r}")
    b = get_backend(backend)
    xp = b.xp
    npix = int(np.prod(np.shape(image), dtype=np.float64))
    check_fits(b, conversion_bytes(b, image, np.float32) + (5 * npix if "median" in names else 0),
               f"image_stats: an image of shape {tuple(np.shape(image))}")
    x = b.asarray(image, np.float32).ravel()
    if x.size == 0:
        raise ValueError("'image' has no pixels: not enough data points to compute statistics")
    if lower is None or upper is None:  # given limits need no pass: iteration 0 checks them
        # of the finite values: NaN and +-inf are no data
        count, _, _, gmin, gmax = _moments(b, x, -_FLOAT32_MAX, _FLOAT32_MAX)
        if count == 0:
            gmin = gmax = math.nan
        lower = gmin if lower is None else float(lower)
        upper = gmax if upper is None else float(upper)
        if lower > gmax or upper < gmin:
            raise ValueError("the clip limits leave no data points to compute statistics")
    lower, upper = float(lower), float(upper)
    if lower > upper:
        raise ValueError("the clip limits leave no data points to compute statistics")
    clipmin, clipmax = lower, upper
    x0 = _F32(float(b.to_host(x[:1])[0]))
    # the last pass's standard deviation only when a result uses it (each is a pass more)
    last_stddev = not {"stddev", "mode", "midpt"}.isdisjoint(names)
    for it in range(nclip + 1):
        n, mean, stddev, vmin, vmax = _compute_mean(b, x, x0, clipmin, clipmax,
                                                    it < nclip or last_stddev)
        if n <= 0:
            raise ValueError(f"no pixel within the clip limits at iteration {it}: "
                             "not enough data points to compute statistics")
        if it < nclip:
            clipmin = max(lower, mean - lsig * stddev)
            clipmax = min(upper, mean + usig * stddev)
    median = mode = midpt = hist = None
    if "median" in names:
        if nclip > 0:
            median = _median_within(b, x, _F32(clipmin), _F32(clipmax))
        else:
            median = float(xp.median(x[xp.isfinite(x)]))
    if "mode" in names or "midpt" in names:
        hwidth = binwidth * stddev
        drange = vmax - vmin
        if hwidth < _MIN_WIDTH or abs(drange) < _MIN_WIDTH or hwidth > drange:
            nbins, dz = 1, drange
        else:
            nbins = int((vmax - vmin) / hwidth) + 1
            dz = float(vmax - vmin) / float(nbins - 1)
        hist = _histogram(b, x, nbins, dz, vmin)
        if "mode" in names:
            mode = float(_mode(hist, vmin, hwidth))
        if "midpt" in names:
            midpt = float(_midpt(hist, vmin, hwidth))
    return ImageStatsResult(n, vmin, vmax, mean, stddev, mode, median, midpt, hist)
