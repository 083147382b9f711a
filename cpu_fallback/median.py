"""Numpy reference implementation of the median-combine kernels.

Written independently of ``cuda_kernels/median.cu`` and plainly: for a
chunk of pixels at a time, the unusable values are replaced by +inf and the
stack is sorted along the input axis with ``numpy.sort``; ranks are then
read with ``take_along_axis`` and trimmed means summed rank by rank in
ascending order.  Sums over inputs run in input order, in the precision
numpy gives drizzlepac (float32 weights, float64 backgrounds).

Input i of pixel k is ``data[i * pitch + k]`` (``pitch >= npix``).
Arguments and results are those of :meth:`gpudrizzle.backends.Backend.combine`,
``minmed_stats`` and ``minmed_select``; the rules are described at the top
of ``cuda_kernels/median.cu``.
"""

import numpy as np

__all__ = ["combine", "combine_sum", "minmed_stats", "minmed_select"]

CHUNK_PIXELS = 1 << 15


def _chunks(npix):
    for k0 in range(0, npix, CHUNK_PIXELS):
        yield slice(k0, min(npix, k0 + CHUNK_PIXELS))


def _usable(vals, wht, wthr, lthresh, hthresh):
    """Boolean (n_in, m): value finite (NaN and +-inf are no data), not weight-masked,
    inside the thresholds."""
    good = np.isfinite(vals)
    if wthr is not None:
        good &= ~(wht.astype(np.float64) < wthr[:, None])
    x = vals.astype(np.float64)
    with np.errstate(invalid="ignore"):
        good &= ~((x < lthresh) | (x >= hthresh))
    return good


def _first_nonzero(vals):
    """(value, found) of the first input per pixel that is neither 0 nor non-finite."""
    ok = (vals != 0) & np.isfinite(vals)
    first = np.argmax(ok, axis=0)
    return vals[first, np.arange(vals.shape[1])], ok.any(axis=0)


def _rank(srt, k):
    k = np.clip(k, 0, srt.shape[0] - 1)
    return np.take_along_axis(srt, k[None, :], axis=0)[0]


def median_of_sorted(srt, g, nlow, nhigh):
    """Median per column of the g smallest entries of ``srt`` with nlow/nhigh dropped.

    Parameters
    ----------
    srt : numpy.ndarray (n, m) float32
        Values sorted along axis 0; the first g[j] of column j are usable.
    g : numpy.ndarray (m,) int
    nlow, nhigh : int

    Returns
    -------
    numpy.ndarray (m,) float64, 0 where g is 0
    """
    nl = np.full(g.shape, nlow)
    nh = np.full(g.shape, nhigh)
    while True:
        over = (nl + nh >= g) & (g > 0)
        if not over.any():
            break
        nh = np.where(over & (nh > 0), nh - 1, nh)
        nl = np.where(over & (nl > 0), nl - 1, nl)
    m = g - nl - nh
    k = nl + m // 2
    upper = _rank(srt, k).astype(np.float64)
    lower = _rank(srt, k - 1).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        res = np.where(m % 2 == 1, upper, (upper + lower) / 2.0)
    return np.where(g > 0, res, 0.0)


def mean_of_sorted(srt, g, nlow, nhigh):
    """Mean per column of the sorted usable entries ranked nlow .. g - nhigh - 1.

    Returns float64 (m,), 0 where fewer than nlow + nhigh + 1 are usable.
    """
    m = g - nlow - nhigh
    acc = np.zeros(g.shape, np.float64)
    for i in range(nlow, srt.shape[0]):
        take = i < nlow + m
        acc += np.where(take, srt[i].astype(np.float64), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, acc / np.maximum(m, 1), 0.0)


def _sorted(vals, good):
    return np.sort(np.where(good, vals, np.float32(np.inf)), axis=0)


def combine(kind, data, wht, wthr, n_in, npix, pitch, nlow, nhigh, lthresh, hthresh, out):
    """Reduce each pixel's stack with ``kind`` in {"median", "mean", "imedian", "imean"}."""
    stack = data.reshape(n_in, pitch)[:, :npix]
    weights = None if wht is None else wht.reshape(n_in, pitch)[:, :npix]
    res = out.reshape(npix)
    for s in _chunks(npix):
        vals = stack[:, s]
        good = _usable(vals, None if weights is None else weights[:, s], wthr, lthresh, hthresh)
        srt = _sorted(vals, good)
        g = good.sum(axis=0)
        if kind.startswith("i"):
            fill, found = _first_nonzero(vals)
            use = (g == 0) & found
            srt[0, use] = fill[use]
            g = np.where(use, 1, g)
        if kind.endswith("median"):
            res[s] = median_of_sorted(srt, g, nlow, nhigh)
        else:
            res[s] = mean_of_sorted(srt, g, nlow, nhigh)


def combine_sum(data, n_in, npix, pitch, out):
    """float32 sum of the finite values of each pixel, in input order."""
    stack = data.reshape(n_in, pitch)[:, :npix]
    acc = np.zeros(npix, np.float32)
    for i in range(n_in):
        acc += np.where(np.isfinite(stack[i]), stack[i], np.float32(0.0))
    out.reshape(npix)[...] = acc


def minmed_stats(data, wht, wthr, n_in, npix, pitch, sky_rate, rn2, nsig1, med, mn, wsum, rms,
                 flags):
    """First minmed pass: median, minimum, weight sum, noise and flags per pixel."""
    stack = data.reshape(n_in, pitch)[:, :npix]
    weights = wht.reshape(n_in, pitch)[:, :npix]
    for s in _chunks(npix):
        vals, w_in = stack[:, s], weights[:, s]
        good = _usable(vals, w_in, wthr, np.nan, np.nan)
        g = good.sum(axis=0)
        w = np.zeros(vals.shape[1], np.float32)
        bk = np.zeros(vals.shape[1], np.float64)
        r = np.zeros(vals.shape[1], np.float64)
        for i in range(n_in):
            w += w_in[i]
            bk += w_in[i].astype(np.float64) * sky_rate[i]
            r += np.where(good[i], rn2[i], 0.0)
        srt = _sorted(vals, good)
        if n_in == 2:
            m = mean_of_sorted(srt, g, 0, 0)
        else:
            m = median_of_sorted(srt, g, 0, 1)
        m = m.astype(np.float32)
        low = np.where(g > 0, srt[0], np.float32(0.0))
        with np.errstate(invalid="ignore", over="ignore"):
            medw = m * w
            minw = low * w
            var = medw.astype(np.float64) + bk + r
            sig = np.sqrt(np.where(var > 0.0, var, 0.0))
            thr = medw.astype(np.float64) - sig * nsig1
            flagged = minw.astype(np.float64) < thr
        med.reshape(npix)[s] = m
        mn.reshape(npix)[s] = low
        wsum.reshape(npix)[s] = w
        rms.reshape(npix)[s] = sig
        flags.reshape(npix)[s] = flagged.astype(np.int32) | np.where(g == 0, 2, 0)


def minmed_select(med, mn, wsum, rms, flags, nx, nrows, row0, nout, grow, nsig1, nsig2, out):
    """Second minmed pass: minimum or median per output row of the band."""
    shape = (nrows, nx)
    med, mn, wsum = med.reshape(shape), mn.reshape(shape), wsum.reshape(shape)
    rms, flags = rms.reshape(shape), flags.reshape(shape)
    near = np.zeros(shape, bool)
    if grow > 0:
        padded = np.pad((flags & 1) != 0, grow)
        for dy in range(2 * grow + 1):
            for dx in range(2 * grow + 1):
                near |= padded[dy:dy + nrows, dx:dx + nx]
    rows = slice(row0, row0 + nout)
    nsig = np.where(near[rows], nsig2, nsig1)
    with np.errstate(invalid="ignore", over="ignore"):
        medw = med[rows] * wsum[rows]
        minw = mn[rows] * wsum[rows]
        thr = medw.astype(np.float64) - rms[rows] * nsig
        pick = np.where(minw.astype(np.float64) < thr, mn[rows], med[rows])
    out.reshape(nout, nx)[...] = np.where((flags[rows] & 2) != 0, np.float32(0.0), pick)
