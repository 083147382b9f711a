"""Numpy reference implementation of ``cuda_kernels/stats.cu``.

Written with whole-array numpy operations: the image is padded with NaN to
whole chunks, viewed as (chunks, chunk) and reduced along rows.  Arguments
and results are those of :meth:`gpudrizzle.backends.Backend.moments`.
"""

import numpy as np

__all__ = ["moments", "histogram", "pick"]

_F = np.float32


def _chunks(x, n, chunk):
    """x[:n] as rows of ``chunk`` values, the last one padded with NaN."""
    nchunks = -(-n // chunk)
    v = np.full(nchunks * chunk, np.nan, np.float32)
    v[:n] = x[:n]
    return v.reshape(nchunks, chunk)


def moments(x, n, chunk, lo, hi, mean, out):
    """Count, sum, sum of squared deviations, min and max of each chunk's kept values."""
    v = _chunks(x, n, chunk)
    with np.errstate(invalid="ignore", over="ignore"):
        keep = (v >= _F(lo)) & (v <= _F(hi))
        d = v - _F(mean)
        sq = d * d
    out[:, 0] = keep.sum(axis=1)
    out[:, 1] = np.where(keep, v, 0).sum(axis=1, dtype=np.float64)
    out[:, 2] = np.where(keep, sq, 0).sum(axis=1, dtype=np.float64)
    out[:, 3] = np.where(keep, v, np.inf).min(axis=1)
    out[:, 4] = np.where(keep, v, -np.inf).max(axis=1)


def _bins(x, n, chunk, lo, hi, include_top, f, nbins):
    """Bin of every value (rows of ``chunk``), -1 outside the histogram, float32 arithmetic."""
    v = _chunks(x, n, chunk)
    with np.errstate(invalid="ignore", over="ignore"):
        inside = (v >= _F(lo)) & ((v <= _F(hi)) if include_top else (v < _F(hi)))
        idx = np.where(inside, _F(f) * (v - _F(lo)), np.inf)
    return v, np.where(idx < nbins, idx, -1).astype(np.int64)


def histogram(x, n, chunk, lo, hi, include_top, f, nbins, hist):
    """Counts of each chunk's values per bin int(f * (v - lo)), float32 arithmetic."""
    _, idx = _bins(x, n, chunk, lo, hi, include_top, f, nbins)
    row, col = np.nonzero(idx >= 0)
    flat = row * nbins + idx[row, col]
    hist[...] = np.bincount(flat, minlength=hist.size).reshape(hist.shape)


def pick(x, n, chunk, lo, hi, include_top, f, nbins, bin, offsets, out):
    """The values of bin ``bin``, chunk by chunk from ``offsets``, in order."""
    v, idx = _bins(x, n, chunk, lo, hi, include_top, f, nbins)
    for b in range(v.shape[0]):
        values = v[b][idx[b] == bin]
        out[offsets[b]:offsets[b] + values.size] = values
