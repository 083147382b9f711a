"""Numpy reference of the pixel-map kernels (``pixmap_interp``, ``pixmap_lookup``).

Written independently of ``cuda_kernels/pixmap.cu``: points are processed in
chunks with whole-array arithmetic.  For each pixel the smooth part of the
map is a tensor-product cubic Lagrange interpolation of the node grid; the
lookup-table distortions are evaluated exactly (bilinear, clamped, in 1-based
FITS pixels, as astropy.wcs does); table offsets of the "from" frame enter
before the grid (detector to image) and through the gridded Jacobian (focal
plane), those of the "to" frame are inverted by fixed-point iteration.

Arguments and results are those of :meth:`gpudrizzle.backends.Backend.pixmap`
and :meth:`gpudrizzle.backends.Backend.pixmap_lookup`.
"""

import numpy as np

from ..kernels import PIXMAP_TABLE_SLOTS, PIXMAP_TABLE_STRIDE

__all__ = ["interpolate", "lookup", "table_offset", "MAX_ITER", "CONVERGED"]

CHUNK_POINTS = 1 << 18
#: Fixed-point iterations allowed when inverting "to" tables.
MAX_ITER = 50
#: A point has converged when the sum of its absolute updates is at most this (pixels).
CONVERGED = 1e-11

_SLOT = {name: k for k, name in enumerate(PIXMAP_TABLE_SLOTS)}


def _slot_params(tab_params, slot):
    if tab_params is None:
        return None
    p = tab_params[slot * PIXMAP_TABLE_STRIDE:(slot + 1) * PIXMAP_TABLE_STRIDE]
    return p if p[0] > 0 and p[1] > 0 else None


def table_offset(tab_data, tab_params, slot, x, y):
    """Offset from the table in ``slot`` at 1-based positions.

    Parameters
    ----------
    tab_data : numpy.ndarray, float32, or None
    tab_params : numpy.ndarray, shape (8 * 9,), float64, or None
    slot : int
    x, y : numpy.ndarray, float64
        1-based FITS pixel positions, same shape.

    Returns
    -------
    numpy.ndarray, float64
        Zeros for an empty slot; NaN where x or y is NaN.
    """
    p = _slot_params(tab_params, slot)
    if p is None:
        return np.zeros(np.shape(x))
    nx, ny, start = int(p[0]), int(p[1]), int(p[8])
    table = np.asarray(tab_data[start:start + nx * ny], dtype=np.float64).reshape(ny, nx)
    with np.errstate(invalid="ignore"):
        u = (x - p[4]) / p[6] + p[2] - 1.0
        v = (y - p[5]) / p[7] + p[3] - 1.0
    bad = np.isnan(u) | np.isnan(v)
    u = np.clip(np.where(bad, 0.0, u), 0.0, nx - 1.0)
    v = np.clip(np.where(bad, 0.0, v), 0.0, ny - 1.0)
    fu = np.floor(u)
    fv = np.floor(v)
    i0 = fu.astype(np.intp)
    j0 = fv.astype(np.intp)
    i1 = np.minimum(i0 + 1, nx - 1)
    j1 = np.minimum(j0 + 1, ny - 1)
    a = u - fu
    b = v - fv
    value = (table[j0, i0] * (1 - a) * (1 - b) + table[j1, i0] * (1 - a) * b
             + table[j0, i1] * a * (1 - b) + table[j1, i1] * a * b)
    value[bad] = np.nan
    return value


def _lagrange_weights(t):
    """Cubic Lagrange weights (4, ...) of nodes -1, 0, 1, 2 at fraction t."""
    return np.stack([
        -t * (t - 1) * (t - 2) / 6,
        (t + 1) * (t - 1) * (t - 2) / 2,
        -(t + 1) * t * (t - 2) / 2,
        (t + 1) * t * (t - 1) / 6,
    ])


def _cell(u, n):
    """Cell start node (clamped to [1, n-3]) and fraction for node coordinates u."""
    with np.errstate(invalid="ignore"):
        start = np.clip(np.floor(u), 1, n - 3)
    start = np.where(np.isnan(start), 1, start)
    return start.astype(np.intp), u - start


def _has(tab_params, *slots):
    return any(_slot_params(tab_params, _SLOT[s]) is not None for s in slots)


def _map_chunk(args, px, py):
    grid, jac, minv = args["grid"], args["jac"], args["minv"]
    tab_data, tab_params = args["tab_data"], args["tab_params"]
    gnx, gny, step = int(args["gnx"]), int(args["gny"]), float(args["step"])

    def offset(name, x, y):
        return table_offset(tab_data, tab_params, _SLOT[name], x, y)

    X = px + 1.0
    Y = py + 1.0
    if _has(tab_params, "from_d2im_x", "from_d2im_y"):
        X, Y = X + offset("from_d2im_x", X, Y), Y + offset("from_d2im_y", X, Y)
    i, tx = _cell((X - 1.0 - args["gx0"]) / step, gnx)
    j, ty = _cell((Y - 1.0 - args["gy0"]) / step, gny)
    wx = _lagrange_weights(tx)
    wy = _lagrange_weights(ty)
    s = np.zeros((px.size, 2))
    for b in range(4):
        for a in range(4):
            s += (wy[b] * wx[a])[:, None] * grid[j - 1 + b, i - 1 + a]

    def matrix(g):
        m = ((1 - tx) * (1 - ty))[:, None] * g[j, i] + (tx * (1 - ty))[:, None] * g[j, i + 1]
        m += ((1 - tx) * ty)[:, None] * g[j + 1, i] + (tx * ty)[:, None] * g[j + 1, i + 1]
        return m.reshape(-1, 2, 2)

    if jac is not None:
        c = np.stack([offset("from_cpdis_x", X, Y), offset("from_cpdis_y", X, Y)], axis=-1)
        s += np.einsum("kab,kb->ka", matrix(jac), c)
    if minv is None and not _has(tab_params, "to_d2im_x", "to_d2im_y"):
        return s
    # Invert the "to" tables: E = S - M C(E), Q = E - D(Q), 1-based.
    S = s + 1.0
    m = matrix(minv) if minv is not None else None
    e = S.copy()
    q = S.copy()
    active = np.ones(px.size, dtype=bool)
    done = np.zeros(px.size, dtype=bool)
    for _ in range(MAX_ITER):
        if not active.any():
            break
        ea, qa = e[active], q[active]
        new_e = S[active].copy()
        if m is not None:
            c = np.stack([offset("to_cpdis_x", ea[:, 0], ea[:, 1]),
                          offset("to_cpdis_y", ea[:, 0], ea[:, 1])], axis=-1)
            new_e -= np.einsum("kab,kb->ka", m[active], c)
        d = np.stack([offset("to_d2im_x", qa[:, 0], qa[:, 1]),
                      offset("to_d2im_y", qa[:, 0], qa[:, 1])], axis=-1)
        new_q = new_e - d
        with np.errstate(invalid="ignore"):
            change = np.abs(new_e - ea).sum(axis=1) + np.abs(new_q - qa).sum(axis=1)
            converged = change <= CONVERGED
        e[active] = new_e
        q[active] = new_q
        idx = np.flatnonzero(active)
        done[idx[converged]] = True
        active[idx[converged]] = False
    out = q - 1.0
    out[~done] = np.nan
    return out


def interpolate(grid, jac, minv, gnx, gny, gx0, gy0, step, tab_data, tab_params,
                points, nx, x0, y0, n, out):
    """Pixel map of ``n`` points into ``out`` (n, 2); see :meth:`Backend.pixmap`."""
    args = dict(grid=grid.reshape(int(gny), int(gnx), 2),
                jac=None if jac is None else jac.reshape(int(gny), int(gnx), 4),
                minv=None if minv is None else minv.reshape(int(gny), int(gnx), 4),
                gnx=gnx, gny=gny, gx0=gx0, gy0=gy0, step=step,
                tab_data=tab_data, tab_params=tab_params)
    out2 = out.reshape(-1, 2)
    n = int(n)
    for start in range(0, n, CHUNK_POINTS):
        k = np.arange(start, min(n, start + CHUNK_POINTS))
        if points is not None:
            pts = points.reshape(-1, 2)[k]
            px, py = pts[:, 0], pts[:, 1]
        else:
            px = (x0 + k % nx).astype(np.float64)
            py = (y0 + k // nx).astype(np.float64)
        out2[k] = _map_chunk(args, px, py)


def lookup(tab_data, tab_params, slot_x, slot_y, points, n, out):
    """Table offsets at ``n`` 0-based points into ``out`` (n, 2); see :meth:`Backend.pixmap_lookup`."""
    pts = points.reshape(-1, 2)[:int(n)]
    x = pts[:, 0] + 1.0
    y = pts[:, 1] + 1.0
    res = out.reshape(-1, 2)
    res[:int(n), 0] = table_offset(tab_data, tab_params, int(slot_x), x, y)
    res[:int(n), 1] = table_offset(tab_data, tab_params, int(slot_y), x, y)
