"""Numpy reference implementation of the drizzle kernels.

Written independently of ``cuda_kernels/drizzle.cu`` and as plainly as numpy
allows: the input box is processed in row chunks; for each chunk every input
pixel gets the box of output pixels its drop can touch, and the loop runs
over the offsets inside those boxes, computing one contribution per input
pixel and offset with array arithmetic and adding it with ``ufunc.at``.

Arguments and results are those of :meth:`gpudrizzle.backends.Backend.drizzle`.
"""

import numpy as np

__all__ = ["add_image", "weighted_mean", "round_half_away", "lanczos_table"]

CHUNK_PIXELS = 1 << 16
LANCZOS_STEP = 0.003


def round_half_away(v):
    """Round half away from zero (C ``round``), elementwise, exactly."""
    t = np.trunc(v)
    with np.errstate(invalid="ignore"):
        r = v - t
        return t + (r >= 0.5) - (r <= -0.5)


def lanczos_table(order):
    """Lanczos window sampled every 0.003, as drizzle's look-up table.

    Returns
    -------
    numpy.ndarray, shape (ceil(order / 0.003) + 1,), float64
    """
    n = int(np.ceil(order / LANCZOS_STEP)) + 1
    x = np.arange(n) * LANCZOS_STEP
    px = np.pi * x[1:]
    r = px / order
    table = np.empty(n)
    table[0] = 1.0
    table[1:] = np.where(x[1:] <= order, np.sin(px) * np.sin(r) / (px * r), 0.0)
    return table


def _bilinear(pixmap, x, y):
    """Pixel map (ny, nx, 2) interpolated at input positions x, y (cell clamped to the map)."""
    ny, nx = pixmap.shape[:2]
    fx = np.clip(np.floor(x), 0, nx - 2)
    fy = np.clip(np.floor(y), 0, ny - 2)
    u, v = x - fx, y - fy
    node = fy.astype(np.intp) * nx + fx.astype(np.intp)
    flat = pixmap.reshape(-1, 2)
    out = []
    for c in (0, 1):
        p = flat[:, c]
        out.append((1 - u) * (1 - v) * p.take(node) + u * (1 - v) * p.take(node + 1)
                   + (1 - u) * v * p.take(node + nx) + u * v * p.take(node + nx + 1))
    return out


def padded_pixmap(pixmap):
    """Pixel map planes (2, ny + 2, nx + 2) with one node of linear extrapolation around.

    Bilinear interpolation in this padded grid equals interpolation in the
    border cells of the map, extrapolated.
    """
    planes = np.moveaxis(pixmap, -1, 0)
    return np.pad(planes, ((0, 0), (1, 1), (1, 1)), mode="reflect", reflect_type="odd")


def _near_corners(padded, r0, r1, x0, x1, h):
    """Square-drop corners (i-h, j+h), (i+h, j+h), (i+h, j-h), (i-h, j-h) for every input
    pixel of rows r0..r1, columns x0..x1 (flattened), for h <= 1: each corner lies in one
    of the four cells around its pixel, read from the padded map by slicing."""
    g = 1.0 - h

    def node(dx, dy):  # map nodes at offset (dx, dy) from every pixel of the block
        return padded[:, r0 + 1 + dy:r1 + 2 + dy, x0 + 1 + dx:x1 + 2 + dx].reshape(2, -1)

    corners = []
    for cx, cy, u, v in ((-1, 0, g, h), (0, 0, h, h), (0, -1, h, g), (-1, -1, g, g)):
        corners.append((1 - u) * (1 - v) * node(cx, cy) + u * (1 - v) * node(cx + 1, cy)
                       + (1 - u) * v * node(cx, cy + 1) + u * v * node(cx + 1, cy + 1))
    return [c[0] for c in corners], [c[1] for c in corners]


def _positive_mean(p, q):
    """Mean of max(y, 0) along a segment where y goes linearly from p to q."""
    above = (p >= 0) & (q >= 0)
    below = (p <= 0) & (q <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = 0.5 * np.where(p > 0, p * p, q * q) / np.abs(p - q)
    return np.where(above, 0.5 * (p + q), np.where(below, 0.0, cross))


def _edges(x1, y1, x2, y2):
    """Edges from (x1, y1) to (x2, y2): both ends and the slope (0 where vertical)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(x2 != x1, (y2 - y1) / (x2 - x1), 0.0)
    return x1, x2, y1, y2, slope


def _segment_area(x1, x2, y1, y2, slope, sx, sy):
    """Signed area between each edge and the bottom of the unit square at (sx, sy),
    counted inside the square; wholly-below and wholly-above edges are exact, and a
    part of an edge that ends at an end of the edge takes that end's own height."""
    x1, x2 = x1 - sx, x2 - sx
    live = (np.minimum(x1, x2) < 1.0) & (np.maximum(x1, x2) > 0.0) & (x1 != x2)
    xa, xb = np.clip(x1, 0.0, 1.0), np.clip(x2, 0.0, 1.0)
    ya = np.where(xa == x1, y1, y1 + slope * (xa - x1)) - sy
    yb = np.where(xb == x2, y2, y1 + slope * (xb - x1)) - sy
    partial = (xb - xa) * (_positive_mean(ya, yb) - _positive_mean(ya - 1.0, yb - 1.0))
    area = np.where((ya >= 1.0) & (yb >= 1.0), xb - xa, partial)
    area = np.where((ya <= 0.0) & (yb <= 0.0), 0.0, area)
    return np.where(live, area, 0.0)


def _box(lo, hi, n):
    """Output index range of [lo, hi] rounded and clipped to [0, n-1] (may be empty)."""
    return np.maximum(round_half_away(lo), 0), np.minimum(round_half_away(hi), n - 1)


class _Drops:
    """Per-input-pixel quantities of one chunk for one kernel."""

    def __init__(self, kernel, a, i, j):
        k = j * a["in_nx"] + i
        self.k = k
        w = np.ones(k.size) if a["weight"] is None else a["weight"].ravel()[k].astype(np.float64)
        self.d = a["data"].ravel()[k].astype(np.float64) * a["iscale"]
        # a pixel with a NaN or infinite value, weight or data2 value is no data: weight 0
        finite = np.isfinite(self.d) & np.isfinite(w)
        for m in range(a["ndata2"]):
            finite &= np.isfinite(a["data2"][m].ravel()[k])
        self.w = np.where(finite, w * a["wht_scale"], 0.0)
        nx, ny = a["out_nx"], a["out_ny"]
        psr, pixfrac = a["pscale_ratio"], a["pixfrac"]
        if kernel == "square":
            h = 0.5 * pixfrac
            offsets = ((-h, h), (h, h), (h, -h), (-h, -h))
            if h <= 1.0:
                xs, ys = _near_corners(a["padded"], j[0], j[-1], a["xmin"], a["xmax"], h)
                # border pixels: the clamped-cell formula, as the kernels use there
                edge = np.flatnonzero((i == 0) | (j == 0) | (i == a["in_nx"] - 1) | (j == a["in_ny"] - 1))
                for c, (dx, dy) in enumerate(offsets):
                    xs[c][edge], ys[c][edge] = _bilinear(a["pixmap"], i[edge] + dx, j[edge] + dy)
            else:
                xs, ys = zip(*(_bilinear(a["pixmap"], i + dx, j + dy) for dx, dy in offsets))
            self.qx, self.qy = np.array(xs), np.array(ys)
            with np.errstate(over="ignore", invalid="ignore"):
                jaco = 0.5 * ((xs[1] - xs[3]) * (ys[0] - ys[2]) - (xs[0] - xs[2]) * (ys[1] - ys[3]))
            self.valid = (np.isfinite(self.qx).all(0) & np.isfinite(self.qy).all(0)
                          & (jaco != 0) & np.isfinite(jaco))
            with np.errstate(divide="ignore", invalid="ignore"):
                self.w = self.w / jaco
            xlo, xhi = self.qx.min(0), self.qx.max(0)
            ylo, yhi = self.qy.min(0), self.qy.max(0)
            self.edges = [np.array(e) for e in zip(*(
                _edges(xs[c], ys[c], xs[(c + 1) % 4], ys[(c + 1) % 4]) for c in range(4)))]
        else:
            self.ox = a["pixmap"][j, i, 0]
            self.oy = a["pixmap"][j, i, 1]
            self.valid = ~(np.isnan(self.ox) | np.isnan(self.oy))
            if kernel == "point":
                r = 0.0
            elif kernel == "turbo":
                r = 0.5 * pixfrac / psr
                self.pfo = r
                self.scale = psr * psr / (pixfrac * pixfrac)
            elif kernel == "gaussian":
                r = max(2.5 * pixfrac / 2.3548 / psr, 1.2 / psr)
                self.efac = 2.3548**2 * psr * psr / (2.0 * pixfrac * pixfrac)
            else:
                order = 2 if kernel == "lanczos2" else 3
                r = order / psr
                self.table = a["lut"][: a["nlut"]]
                self.sdp = psr / LANCZOS_STEP
            xlo, xhi, ylo, yhi = self.ox - r, self.ox + r, self.oy - r, self.oy + r
        if kernel.startswith("lanczos"):
            self.ilo = np.maximum(np.floor(xlo) + 1, 0)
            self.ihi = np.minimum(np.floor(xhi), nx - 1)
            self.jlo = np.maximum(np.floor(ylo) + 1, 0)
            self.jhi = np.minimum(np.floor(yhi), ny - 1)
        elif kernel == "point":
            rx, ry = round_half_away(self.ox), round_half_away(self.oy)
            on = (rx >= 0) & (rx <= nx - 1) & (ry >= 0) & (ry <= ny - 1)
            self.valid &= on
            self.ilo = self.ihi = rx
            self.jlo = self.jhi = ry
        else:
            self.ilo, self.ihi = _box(xlo, xhi, nx)
            self.jlo, self.jhi = _box(ylo, yhi, ny)
        with np.errstate(invalid="ignore"):
            self.valid &= (self.ilo <= self.ihi) & (self.jlo <= self.jhi)

    def weights(self, kernel, s, ii, jj):
        """Contribution weights (dow) and hit flags for pixels ``s`` at output (ii, jj)."""
        if kernel == "square":
            e = [part[:, s] for part in self.edges]
            over = sum(_segment_area(*(part[c] for part in e), ii - 0.5, jj - 0.5) for c in range(4))
            return over * self.w[s], over != 0
        if kernel == "point":
            return self.w[s], np.ones(s.size, bool)
        ox, oy = self.ox[s], self.oy[s]
        if kernel == "turbo":
            p = self.pfo
            dx = np.minimum(ox + p, ii + 0.5) - np.maximum(ox - p, ii - 0.5)
            dy = np.minimum(oy + p, jj + 0.5) - np.maximum(oy - p, jj - 0.5)
            hit = (dx > 0) & (dy > 0)
            return np.where(hit, dx * dy * self.scale * self.w[s], 0.0), hit
        if kernel == "gaussian":
            r2 = (ox - ii) ** 2 + (oy - jj) ** 2
            es = self.efac / np.pi
            return es * np.exp(-r2 * self.efac) * self.w[s], np.ones(s.size, bool)
        ix = round_half_away(np.abs((ox - ii) * self.sdp))
        iy = round_half_away(np.abs((oy - jj) * self.sdp))
        n = self.table.size
        hit = (ix < n) & (iy < n)
        lx = self.table[np.where(hit, ix, 0).astype(np.intp)]
        ly = self.table[np.where(hit, iy, 0).astype(np.intp)]
        return np.where(hit, lx * ly * self.w[s], 0.0), hit


def _scatter_sum(out, jj, ii, values):
    """out[jj, ii] += values, summing repeated pixels; out is a 2-D view.

    Sums with one ``bincount`` over the window the pixels span (``ufunc.at``
    only when that window is much larger than the number of values).
    """
    j0, i0 = jj.min(), ii.min()
    h, w = jj.max() - j0 + 1, ii.max() - i0 + 1
    if h * w > 8 * values.size + 4096:
        np.add.at(out, (jj, ii), values)
        return
    local = (jj - j0) * w + (ii - i0)
    out[j0:j0 + h, i0:i0 + w] += np.bincount(local, values, minlength=h * w).reshape(h, w)


def add_image(kernel, *, data, weight, pixmap, data2, ndata2, dq, in_nx, in_ny, xmin, xmax,
              ymin, ymax, out_nx, out_ny, iscale, pscale_ratio, pixfrac, wht_scale, acc,
              acc_w2d2, out_dq, ctx, ctx_bit, line_miss, lut, nlut):
    """Drop the input box of one image onto the output accumulators (in place).

    See :meth:`gpudrizzle.backends.Backend.drizzle` for the arguments; shapes:
    data, weight, dq (in_ny, in_nx); pixmap (in_ny, in_nx, 2) float64;
    data2 (ndata2, in_ny, in_nx); acc (out_ny, out_nx, 2); out_dq, ctx (out_ny, out_nx);
    acc_w2d2 (ndata2, out_ny, out_nx); line_miss (ymax - ymin + 1,) int32.
    """
    a = locals()
    width = xmax - xmin + 1
    if width <= 0 or ymax < ymin:
        return
    if kernel == "square":
        a["padded"] = padded_pixmap(pixmap)
    bit = np.uint32(1 << ctx_bit).view(np.int32)
    rows = max(1, CHUNK_PIXELS // width)
    for r0 in range(ymin, ymax + 1, rows):
        r1 = min(r0 + rows, ymax + 1)
        j, i = np.mgrid[r0:r1, xmin:xmax + 1]
        i, j = i.ravel(), j.ravel()
        drops = _Drops(kernel, a, i, j)
        hit = np.zeros(i.size, bool)
        with np.errstate(invalid="ignore"):  # the bounds of invalid drops may be infinite
            span_x = int(np.max(drops.ihi - drops.ilo, where=drops.valid, initial=-1)) + 1
            span_y = int(np.max(drops.jhi - drops.jlo, where=drops.valid, initial=-1)) + 1
        # every non-zero contribution of the chunk: input pixel, output pixel, weight
        src, out_j, out_i, dows = [], [], [], []
        for dj in range(span_y):
            for di in range(span_x):
                with np.errstate(invalid="ignore"):
                    s = np.flatnonzero(
                        drops.valid & (drops.ilo + di <= drops.ihi) & (drops.jlo + dj <= drops.jhi)
                    )
                ii = drops.ilo[s] + di
                jj = drops.jlo[s] + dj
                dow, h = drops.weights(kernel, s, ii, jj)
                hit[s] |= h
                nz = dow.astype(np.float32) != 0  # as drizzle 3.0: single-precision weights
                src.append(s[nz])
                out_i.append(ii[nz].astype(np.intp))
                out_j.append(jj[nz].astype(np.intp))
                dows.append(dow[nz])
        misses = np.bincount(j[~hit] - r0, minlength=r1 - r0)
        line_miss[r0 - ymin:r1 - ymin] += misses.astype(np.int32)
        if not dows or not sum(x.size for x in dows):
            continue
        s, jj, ii, dow = (np.concatenate(x) for x in (src, out_j, out_i, dows))
        k = drops.k[s]
        _scatter_sum(acc[..., 0], jj, ii, dow * drops.d[s])
        _scatter_sum(acc[..., 1], jj, ii, dow)
        for m in range(ndata2):
            d2 = data2[m].ravel()[k].astype(np.float64)
            _scatter_sum(acc_w2d2[m], jj, ii, iscale * iscale * dow * dow * d2)
        if dq is not None:
            np.bitwise_or.at(out_dq, (jj, ii), dq.ravel()[k])
        if ctx is not None:
            pos = dow > 0
            ctx[jj[pos], ii[pos]] |= bit


def weighted_mean(acc, w2d2, base, fill, out):
    """out = acc[..., 0] / acc[..., 1] (or w2d2 / acc[..., 1]**2) where the weight is not 0,
    else base (if given) or fill.

    Shapes: acc (ny, nx, 2) float64; w2d2 (ny, nx) float64 or None; base, out (ny, nx) float32.
    """
    w = acc[..., 1]
    total = acc[..., 0]
    if w2d2 is not None:
        w, total = w * w, w2d2
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / w
    empty = np.float32(fill) if base is None else base
    out[...] = np.where(w != 0, mean.astype(np.float32), empty)
