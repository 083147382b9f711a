"""Numpy reference implementation of the blot interpolants.

Written independently of ``cuda_kernels/blot.cu`` and as plainly as numpy
allows: the source image is padded once with the edge rule of the
interpolant (``numpy.pad``: odd reflection for poly3/poly5, edge repetition
for linear and sinc, zeros for lanczos), then output pixels are processed in
chunks, each gathering its whole interpolation window from the padded image.
poly3/poly5 use Everett's central-difference formula directly (rows first,
then the column of row results), not tap weights.

Arguments and results are those of :meth:`gpudrizzle.backends.Backend.blot`;
the rules themselves are described at the top of ``cuda_kernels/blot.cu``.
"""

import numpy as np

from .drizzle import LANCZOS_STEP

__all__ = ["blot", "everett", "sinc_weights", "SINC_HALF_WIDTH"]

CHUNK_PIXELS = 1 << 14
#: Taps on each side of the centre pixel of the sinc window (15 in all).
SINC_HALF_WIDTH = 7
# Below this scaled offset on both axes, sinc returns the nearest pixel.
_SINC_MIN_OFFSET = 0.001
_TAPER_A2 = -0.49670
_TAPER_A4 = 0.03705


def everett(f, s):
    """Everett central-difference interpolation along the last axis.

    Parameters
    ----------
    f : numpy.ndarray, shape (..., 4) or (..., 6), float64
        Samples at offsets -1..2 (cubic) or -2..3 (quintic) from the sample
        the fraction is measured from.
    s : numpy.ndarray, shape (...), float64
        Fraction in [0, 1) between the samples at offsets 0 and 1.

    Returns
    -------
    numpy.ndarray, shape (...), float64
    """
    c = f.shape[-1] // 2 - 1
    f0, f1 = f[..., c], f[..., c + 1]
    t = 1.0 - s
    d2f0 = f[..., c - 1] - 2.0 * f0 + f1
    d2f1 = f0 - 2.0 * f1 + f[..., c + 2]
    if f.shape[-1] == 4:
        return s * (f1 + (s * s - 1.0) * d2f1 / 6.0) + t * (f0 + (t * t - 1.0) * d2f0 / 6.0)
    d4f0 = f[..., c - 2] - 4.0 * f[..., c - 1] + 6.0 * f0 - 4.0 * f1 + f[..., c + 2]
    d4f1 = f[..., c - 1] - 4.0 * f0 + 6.0 * f1 - 4.0 * f[..., c + 2] + f[..., c + 3]
    return s * (f1 + (s * s - 1.0) * (d2f1 / 6.0 + (s * s - 4.0) * d4f1 / 120.0)) + t * (
        f0 + (t * t - 1.0) * (d2f0 / 6.0 + (t * t - 4.0) * d4f0 / 120.0)
    )


def sinc_weights(d):
    """Normalised tapered-sinc weights (IRAF ii_bisinc, as in drizzlepac's blot).

    Parameters
    ----------
    d : numpy.ndarray, shape (n,), float64
        Scaled offset of each point from its nearest pixel.

    Returns
    -------
    numpy.ndarray, shape (n, 15), float64
        Weights of the pixels at offsets -7..7 from the nearest pixel.
    """
    m = np.arange(-SINC_HALF_WIDTH, SINC_HALF_WIDTH + 1, dtype=np.float64)
    u = (np.pi / 2.0 / SINC_HALF_WIDTH) ** 2 * m * m
    taper = np.where(m % 2 == 0, 1.0, -1.0) * (1.0 + _TAPER_A2 * u + _TAPER_A4 * u * u) ** 2
    ax = d[:, None] - m[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(ax == 0.0, 1.0, np.where(d[:, None] == 0.0, 0.0, taper / ax))
    return w / w.sum(axis=1, keepdims=True)


def _gather(padded, pad, i0, j0, width):
    """Windows (n, width, width) of ``padded`` whose corner is source pixel (i0, j0)."""
    off = np.arange(width)
    rows = (j0 + pad)[:, None, None] + off[None, :, None]
    cols = (i0 + pad)[:, None, None] + off[None, None, :]
    return padded[rows, cols]


def _lanczos(padded, pad, x, y, order, table):
    def weights(pos, start):
        dist = pos[:, None] - (start[:, None] + np.arange(2 * order))
        idx = np.floor(np.abs(dist) / LANCZOS_STEP)
        ok = idx < table.size
        return np.where(ok, table[np.where(ok, idx, 0).astype(np.intp)], 0.0)

    i0 = np.floor(x).astype(np.int64) - order + 1
    j0 = np.floor(y).astype(np.int64) - order + 1
    win = _gather(padded, pad, i0, j0, 2 * order)
    wx, wy = weights(x, i0), weights(y, j0)
    return np.einsum("nrc,nc,nr->n", win, wx, wy)


def _sinc(padded, pad, x, y, sinscl):
    cx, cy = np.floor(x + 0.5), np.floor(y + 0.5)
    dx, dy = (x - cx) * sinscl, (y - cy) * sinscl
    ci, cj = cx.astype(np.int64), cy.astype(np.int64)
    win = _gather(padded, pad, ci - SINC_HALF_WIDTH, cj - SINC_HALF_WIDTH, 2 * SINC_HALF_WIDTH + 1)
    value = np.einsum("nrc,nc,nr->n", win, sinc_weights(dx), sinc_weights(dy))
    exact = (np.abs(dx) < _SINC_MIN_OFFSET) & (np.abs(dy) < _SINC_MIN_OFFSET)
    return np.where(exact, padded[cj + pad, ci + pad], value)


def _interpolate(interp, padded, pad, x, y, sinscl, lut, shape):
    ny, nx = shape
    if interp == "nearest":
        i = np.minimum(np.floor(x + 0.5).astype(np.int64), nx - 1)
        j = np.minimum(np.floor(y + 0.5).astype(np.int64), ny - 1)
        return padded[j + pad, i + pad]
    fx, fy = np.floor(x), np.floor(y)
    sx, sy = x - fx, y - fy
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    if interp == "linear":
        f = _gather(padded, pad, ix, iy, 2)
        top = (1.0 - sx) * f[:, 0, 0] + sx * f[:, 0, 1]
        bottom = (1.0 - sx) * f[:, 1, 0] + sx * f[:, 1, 1]
        return (1.0 - sy) * top + sy * bottom
    if interp in ("poly3", "poly5"):
        half = 2 if interp == "poly3" else 3
        win = _gather(padded, pad, ix - half + 1, iy - half + 1, 2 * half)
        rows = everett(win, sx[:, None])
        return everett(rows, sy)
    if interp in ("lanczos3", "lanczos5"):
        return _lanczos(padded, pad, x, y, int(interp[-1]), lut)
    if interp == "sinc":
        return _sinc(padded, pad, x, y, sinscl)
    raise ValueError(f"unknown blot interpolant {interp!r}")


def _padded(interp, data):
    """The source image padded with the interpolant's edge rule, and the pad width."""
    if interp in ("poly3", "poly5"):
        return np.pad(data, 4, mode="reflect", reflect_type="odd"), 4
    if interp.startswith("lanczos"):
        return np.pad(data, 6, mode="constant"), 6
    return np.pad(data, SINC_HALF_WIDTH + 1, mode="edge"), SINC_HALF_WIDTH + 1


def blot(interp, data, pixmap, out, in_nx, in_ny, out_nx, out_ny, iscale, fillval, sinscl, lut,
         nlut):
    """Interpolate ``data`` at the positions of ``pixmap`` into ``out``.

    Parameters
    ----------
    interp : str
        One of :data:`gpudrizzle.kernels.BLOT_INTERPOLANTS`.
    data : numpy.ndarray, shape (in_ny, in_nx), float32
        Source image.
    pixmap : numpy.ndarray, shape (out_ny, out_nx, 2), float64
        Source position (x, y) of every output pixel.
    out : numpy.ndarray, shape (out_ny, out_nx), float32
        Result, overwritten: the interpolated value times ``iscale``, or
        ``fillval`` where the position is NaN or outside [0, in_nx) x [0, in_ny).
    in_nx, in_ny, out_nx, out_ny : int
        Sizes.
    iscale, fillval, sinscl : float
        Scale of the result, value off the source, sinc offset scale.
    lut : numpy.ndarray, shape (nlut,), float64, or None
        Lanczos window sampled every 0.003 (lanczos interpolants only).
    nlut : int
        Length of ``lut``.
    """
    pos = pixmap.reshape(-1, 2)
    x, y = pos[:, 0], pos[:, 1]
    inside = (x >= 0) & (x < in_nx) & (y >= 0) & (y < in_ny)
    result = np.full(out_ny * out_nx, fillval, dtype=np.float32)
    todo = np.flatnonzero(inside)
    if todo.size:
        table = None if lut is None else lut[:nlut]
        padded, pad = _padded(interp, data.astype(np.float64))
        for start in range(0, todo.size, CHUNK_PIXELS):
            k = todo[start : start + CHUNK_PIXELS]
            value = _interpolate(interp, padded, pad, x[k], y[k], sinscl, table, (in_ny, in_nx))
            result[k] = (value * iscale).astype(np.float32)
    out[...] = result.reshape(out_ny, out_nx)
