"""Numpy reference of the pixel-map kernels (``pixmap_interp``, ``pixmap_lookup``).

Written independently of ``cuda_kernels/pixmap.cu``: points are processed in
chunks with whole-array arithmetic.  For each point the smooth part of the
map is the polynomial of its grid cell (sum of c[m, n] * ty**m * tx**n); the
lookup-table distortions are evaluated exactly (clamped bilinear, as
astropy.wcs does); the "from" det2im offsets move the point before the
polynomial, the "from" cpdis offsets enter through the cell's Jacobian, and
the "to" tables are inverted by fixed-point iteration.

Arguments and results are those of :meth:`gpudrizzle.backends.Backend.pixmap`
and :meth:`gpudrizzle.backends.Backend.pixmap_lookup`.
"""

import numpy as np

from ..kernels import PIXMAP_TABLE_SLOTS, PIXMAP_TABLE_STRIDE

__all__ = ["interpolate", "lookup", "kind_offsets", "MAX_ITER", "CONVERGED"]

CHUNK_POINTS = 1 << 18
#: Fixed-point iterations allowed when inverting "to" tables.
MAX_ITER = 50
#: A point has converged when the sum of its absolute updates is at most this (pixels).
CONVERGED = 1e-11

_SLOT = {name: k for k, name in enumerate(PIXMAP_TABLE_SLOTS)}


def _slot_table(tab_data, tab_params, slot):
    """(params, table (ny, nx, 2)) of a filled slot, else None."""
    if tab_params is None:
        return None
    p = tab_params[slot * PIXMAP_TABLE_STRIDE:(slot + 1) * PIXMAP_TABLE_STRIDE]
    if not (p[0] > 0 and p[1] > 0):
        return None
    nx, ny, start = int(p[0]), int(p[1]), int(p[8])
    return p, tab_data[start:start + 2 * nx * ny].reshape(ny, nx, 2)


def _table_offsets(entry, x, y):
    """Clamped bilinear (dx, dy) of one slot at 0-based x, y; NaN for NaN positions."""
    p, table = entry
    ny, nx = table.shape[:2]
    with np.errstate(invalid="ignore"):
        u = (x - p[4]) * p[6] + p[2]
        v = (y - p[5]) * p[7] + p[3]
    bad = np.isnan(u) | np.isnan(v)
    u = np.clip(np.where(bad, 0.0, u), 0.0, nx - 1.0)
    v = np.clip(np.where(bad, 0.0, v), 0.0, ny - 1.0)
    i0 = np.floor(u).astype(np.intp)
    j0 = np.floor(v).astype(np.intp)
    i1 = np.minimum(i0 + 1, nx - 1)
    j1 = np.minimum(j0 + 1, ny - 1)
    a = (u - i0)[:, None]
    b = (v - j0)[:, None]
    value = ((1 - a) * (1 - b) * table[j0, i0] + (1 - a) * b * table[j1, i0]
             + a * (1 - b) * table[j0, i1] + a * b * table[j1, i1])
    value[bad] = np.nan
    return value


def kind_offsets(tab_data, tab_params, slot, x, y):
    """Offsets (n, 2) of one kind of table (slots ``slot`` and ``slot + 1``) at 0-based x, y."""
    total = np.zeros((np.size(x), 2))
    for s in (slot, slot + 1):
        entry = _slot_table(tab_data, tab_params, s)
        if entry is not None:
            total = total + _table_offsets(entry, x, y)
    return total


def _kind_used(tab_params, slot):
    return tab_params is not None and any(
        tab_params[s * PIXMAP_TABLE_STRIDE] > 0 for s in (slot, slot + 1))


def _cells(u, n):
    """Cell index clamped to [0, n-1] (NaN -> 0) and the local coordinate."""
    with np.errstate(invalid="ignore"):
        idx = np.clip(np.floor(u), 0, n - 1)
    idx = np.where(np.isnan(idx), 0, idx).astype(np.intp)
    return idx, u - idx


def _matrix_times(coef, tx, ty, vec):
    """Bilinear cell matrices (n, 16) at (tx, ty) applied to vectors (n, 2)."""
    basis = np.stack([np.ones_like(tx), tx, ty, tx * ty], axis=1)  # (n, 4)
    cols = np.einsum("kt,ktc->kc", basis, coef.reshape(-1, 4, 4))  # m00, m10, m01, m11
    return np.stack([cols[:, 0] * vec[:, 0] + cols[:, 2] * vec[:, 1],
                     cols[:, 1] * vec[:, 0] + cols[:, 3] * vec[:, 1]], axis=1)


def _map_chunk(a, p):
    ncx, ncy = int(a["ncx"]), int(a["ncy"])
    inv_step = 1.0 / float(a["step"])
    td, tp = a["tab_data"], a["tab_params"]
    ci, tx = _cells((p[:, 0] - a["cx0"]) * inv_step, ncx)
    cj, ty = _cells((p[:, 1] - a["cy0"]) * inv_step, ncy)
    cell = cj * ncx + ci
    d = p
    if _kind_used(tp, _SLOT["from_d2im"]):
        off = kind_offsets(td, tp, _SLOT["from_d2im"], p[:, 0], p[:, 1])
        d = p + off
        tx = tx + off[:, 0] * inv_step
        ty = ty + off[:, 1] * inv_step
    coef = a["cubic"].reshape(-1, 16, 2)[cell]  # (n, 16, 2)
    powers_y = np.stack([ty ** m for m in range(4)], axis=1)
    powers_x = np.stack([tx ** n for n in range(4)], axis=1)
    mono = (powers_y[:, :, None] * powers_x[:, None, :]).reshape(-1, 16)
    s = np.einsum("km,kmc->kc", mono, coef)
    if a["jac"] is not None and _kind_used(tp, _SLOT["from_cpdis"]):
        off = kind_offsets(td, tp, _SLOT["from_cpdis"], d[:, 0], d[:, 1])
        s = s + _matrix_times(a["jac"].reshape(-1, 16)[cell], tx, ty, off)
    use_minv = a["minv"] is not None and _kind_used(tp, _SLOT["to_cpdis"])
    use_d2im = _kind_used(tp, _SLOT["to_d2im"])
    if not (use_minv or use_d2im):
        return s
    minv = a["minv"].reshape(-1, 16)[cell] if use_minv else None
    e = s.copy()
    q = s.copy()
    result = np.full_like(s, np.nan)
    todo = np.arange(len(s))
    for _ in range(MAX_ITER):
        if todo.size == 0:
            break
        new_e = s[todo].copy()
        if use_minv:
            off = kind_offsets(td, tp, _SLOT["to_cpdis"], e[todo, 0], e[todo, 1])
            new_e -= _matrix_times(minv[todo], tx[todo], ty[todo], off)
        new_q = new_e.copy()
        if use_d2im:
            new_q -= kind_offsets(td, tp, _SLOT["to_d2im"], q[todo, 0], q[todo, 1])
        with np.errstate(invalid="ignore"):
            change = np.abs(new_e - e[todo]).sum(axis=1) + np.abs(new_q - q[todo]).sum(axis=1)
            finished = change <= CONVERGED
        e[todo] = new_e
        q[todo] = new_q
        result[todo[finished]] = new_q[finished]
        todo = todo[~finished]
    return result


def interpolate(cubic, jac, minv, ncx, ncy, cx0, cy0, step, tab_data, tab_params,
                points, nx, x0, y0, n, out, nan_count):
    """Pixel map of ``n`` points into ``out`` (n, 2); see :meth:`Backend.pixmap`."""
    a = dict(cubic=cubic, jac=jac, minv=minv, ncx=ncx, ncy=ncy, cx0=cx0, cy0=cy0, step=step,
             tab_data=tab_data, tab_params=tab_params)
    res = out.reshape(-1, 2)
    n = int(n)
    for start in range(0, n, CHUNK_POINTS):
        k = np.arange(start, min(n, start + CHUNK_POINTS))
        if points is not None:
            p = points.reshape(-1, 2)[k].astype(np.float64)
        else:
            p = np.stack([x0 + k % nx, y0 + k // nx], axis=1).astype(np.float64)
        res[k] = _map_chunk(a, p)
    if nan_count is not None:
        nan_count[0] += int(np.isnan(res[:n]).any(axis=1).sum())


def lookup(tab_data, tab_params, slot, points, n, out):
    """Table offsets at ``n`` 0-based points into ``out`` (n, 2); see :meth:`Backend.pixmap_lookup`."""
    pts = points.reshape(-1, 2)[:int(n)]
    res = out.reshape(-1, 2)[:int(n)]
    if int(slot) not in range(0, len(PIXMAP_TABLE_SLOTS), 2):
        res[...] = np.nan  # not the first slot of a kind
        return
    res[...] = kind_offsets(tab_data, tab_params, int(slot), pts[:, 0], pts[:, 1])
