"""Numpy reference implementation of the source-finding kernels.

Written independently of ``cuda_kernels/findstars.cu`` with whole-image
(or all-candidate) numpy operations: one vector operation per kernel tap,
taken in the same order as the kernels take them, so the float64 sums are
the same to the last bit.

Arguments and results are those of
:meth:`gpudrizzle.backends.Backend.findstars_convolve`, ``findstars_peaks``
and ``findstars_measure``; the rules are described at the top of
``cuda_kernels/findstars.cu``.
"""

import numpy as np

__all__ = ["NCOL", "reflect", "convolve", "peaks", "measure"]

#: columns of the measurement table (FS_NCOL of findstars.cu)
NCOL = 10


def reflect(i, n):
    """Indices ``i`` (int64 array) folded into [0, n) as scipy's "reflect" mode does."""
    m = np.mod(i, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def _usable(data, mask):
    ok = np.isfinite(data)
    if mask is not None:
        ok &= mask == 0
    return ok


def _fit(d, ok, rows, cols, taps, gsum, g2sum, npts):
    """The footprint fit at pixels (rows, cols) (1-D int64 arrays): h, sky, defined."""
    ny, nx = d.shape
    shape = rows.shape
    sgd, sd, mg, mgg, mn = (np.zeros(shape) for _ in range(5))
    for dx, dy, g in taps:
        rr = reflect(rows + int(dy), ny)
        cc = reflect(cols + int(dx), nx)
        use = ok[rr, cc]
        v = d[rr, cc].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            sgd = np.where(use, sgd + g * v, sgd)
            sd = np.where(use, sd + v, sd)
        mg = np.where(use, mg, mg + g)
        mgg = np.where(use, mgg, mgg + g * g)
        mn = np.where(use, mn, mn + 1.0)
    G, GG, n = gsum - mg, g2sum - mgg, npts - mn
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        den = GG - G * G / n
        good = (n >= 3.0) & (den > 0.0)
        h = (sgd - G * sd / n) / den
        sky = (sd - h * G) / n
    return np.where(good, h, 0.0), np.where(good, sky, 0.0), good


def convolve(data, mask, nx, ny, taps, ntaps, gsum, g2sum, npts, conv):
    """conv = the footprint fit's amplitude per pixel, -inf where undefined."""
    d = data.reshape(ny, nx)
    m = None if mask is None else mask.reshape(ny, nx)
    ok = _usable(d, m)
    rows, cols = np.indices((ny, nx), dtype=np.int64)
    h, _, good = _fit(d, ok, rows.ravel(), cols.ravel(), np.asarray(taps).reshape(ntaps, 3),
                      gsum, g2sum, npts)
    good &= ok.ravel()
    with np.errstate(over="ignore"):
        conv.reshape(-1)[...] = np.where(good, h.astype(np.float32), np.float32(-np.inf))


def peaks(conv, nx, ny, taps, ntaps, bx, by, threshold, peaks):
    """peaks = 1 at local maxima over the footprint above ``threshold`` away from the edges."""
    c = conv.reshape(ny, nx)
    out = np.zeros((ny, nx), bool)
    if nx > 2 * bx and ny > 2 * by:
        core = c[by:ny - by, bx:nx - bx]
        ok = core.astype(np.float64) > threshold
        for dx, dy, _ in np.asarray(taps).reshape(ntaps, 3):
            dx, dy = int(dx), int(dy)
            if dx == 0 and dy == 0:
                continue
            u = c[by + dy:ny - by + dy, bx + dx:nx - bx + dx]
            ok &= (core > u) if (dy < 0 or (dy == 0 and dx < 0)) else (core >= u)
        out[by:ny - by, bx:nx - bx] = ok
    peaks.reshape(ny, nx)[...] = out.astype(np.uint8)


def _marginal(box, gauss, along_x, skymode, sigsq):
    """IRAF's ap_xy_round fit of one marginal for all candidates: offset, height, ok."""
    n = box.shape[0]
    if not along_x:  # work on the transposed boxes: the fit is along axis 2
        box, gauss = box.transpose(0, 2, 1), gauss.T
    nin, nout = gauss.shape
    mout, min_ = nout // 2, nin // 2
    half = nout / 2.0 - 0.5
    z = (np.zeros(n) for _ in range(10))
    sumgd, sumgsq, sumg, sumd, sumdx, sdgdx, sdgdxsq, sddgdx, sgdgdx, p = z
    for k in range(nout):
        sg, sd = np.zeros(n), np.zeros(n)
        for j in range(nin):
            wt = float(min_ + 1 - abs(j - min_))
            sd = sd + (box[:, j, k] - skymode) * wt
            sg = sg + gauss[j, k] * wt
        dk = float(mout - k)
        wt = float(mout + 1 - abs(mout - k))
        sumgd = sumgd + wt * sg * sd
        sumgsq = sumgsq + wt * (sg * sg)
        sumg = sumg + wt * sg
        sumd = sumd + wt * sd
        sumdx = sumdx + wt * sd * dk
        p = p + wt
        dgdx = sg * dk
        sdgdxsq = sdgdxsq + wt * (dgdx * dgdx)
        sdgdx = sdgdx + wt * dgdx
        sddgdx = sddgdx + wt * sd * dgdx
        sgdgdx = sgdgdx + wt * sg * dgdx
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        h1 = sumgsq - sumg * sumg / p
        h = (sumgd - sumg * sumd / p) / h1
        skylvl = (sumd - h * sumg) / p
        d = (sgdgdx - (sddgdx - sdgdx * (h * sumg + skylvl * p))) / (h * sdgdxsq / sigsq)
        far = ~(np.abs(d) <= half)
        alt = np.where(sumd == 0.0, 0.0, sumdx / np.where(sumd == 0.0, 1.0, sumd))
        d = np.where(far, alt, d)
        d = np.where(np.abs(d) <= half, d, 0.0)
    ok = (nout > 2) & (p > 0.0) & (h1 > 0.0) & (h > 0.0)
    return d, h, ok


def measure(data, mask, conv, nx, ny, idx, n, taps, ntaps, gsum, g2sum, npts, gauss, nxk, nyk,
            xsigsq, ysigsq, skymode, noise, e_axis, e_diag, out):
    """The (n, NCOL) measurement table of the candidates at flat pixel indices ``idx``."""
    d = data.reshape(ny, nx)
    m = None if mask is None else mask.reshape(ny, nx)
    cv2 = conv.reshape(ny, nx)
    ok = _usable(d, m)
    taps = np.asarray(taps).reshape(ntaps, 3)
    gauss = np.asarray(gauss).reshape(nyk, nxk)
    idx = np.asarray(idx, np.int64)[:n]
    r, c = idx // nx, idx % nx
    bx, by = nxk // 2, nyk // 2
    h, sky, _ = _fit(d, ok, r, c, taps, gsum, g2sum, npts)

    jj, ii = np.mgrid[0:nyk, 0:nxk]
    rows = r[:, None, None] + (jj - by)[None]
    cols = c[:, None, None] + (ii - bx)[None]
    box = np.where(ok[rows, cols], d[rows, cols].astype(np.float64),
                   sky[:, None, None] + h[:, None, None] * gauss[None])
    box32 = box.astype(np.float32).astype(np.float64)

    flux, peak = np.zeros(n), np.full(n, -np.inf)
    for j in range(nyk):
        for i in range(nxk):
            flux = flux + box[:, j, i]
            peak = np.where(box[:, j, i] > peak, box[:, j, i], peak)

    cv = cv2[r, c].astype(np.float64)
    dc = d[r, c].astype(np.float64)
    ssum, scount = np.zeros(n), 0.0
    for dx, dy, _ in taps:
        if dx == 0 and dy == 0:
            continue
        ssum = ssum + box[:, int(dy) + by, int(dx) + bx]
        scount += 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        sharp = np.where((scount > 0.0) & (cv > 0.0), (dc - ssum / scount) / cv, np.nan)

    sum2, sum4 = np.zeros(n), np.zeros(n)
    for j in range(nyk):
        for i in range(nxk):
            if j == by and i == bx:
                continue
            u = cv2[rows[:, j, i], cols[:, j, i]].astype(np.float64)
            dens = np.where(np.isfinite(u), u, 0.0)
            neg = (j >= by and i < bx) or (j <= by and i > bx)
            sum2 = sum2 + (-dens if neg else dens)
            sum4 = sum4 + np.abs(dens)
    with np.errstate(invalid="ignore", divide="ignore"):
        round1 = np.where(sum2 == 0.0, 0.0,
                          np.where(sum4 > 0.0, 2.0 * sum2 / np.where(sum4 > 0, sum4, 1.0), np.nan))

    ox, hx, okx = _marginal(box32, gauss, True, skymode, xsigsq)
    oy, hy, oky = _marginal(box32, gauss, False, skymode, ysigsq)
    fit = okx & oky

    border = np.zeros((nyk, nxk), bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    bmin = box[:, 0, 0]
    for j in range(nyk):
        for i in range(nxk):
            if border[j, i]:
                bmin = np.where(box[:, j, i] < bmin, box[:, j, i], bmin)
    skc = np.where(bmin > sky, bmin, sky)
    P = dc - skc
    crtest = np.full(n, -np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, (ax, ay) in enumerate(((1, 0), (0, 1), (1, 1), (1, -1))):
            nb = box[:, by + ay, bx + ax] + box[:, by - ay, bx - ax]
            q = (0.5 * nb - skc) / P
            mrg = (q + noise * np.sqrt(0.5 + q * q) / P) - (e_axis if a < 2 else e_diag)
            crtest = mrg if a == 0 else np.where(mrg < crtest, mrg, crtest)
        crtest = np.where(P > 0.0, crtest, -np.inf)
        round2 = 2.0 * (hx - hy) / (hx + hy)

    o = out.reshape(-1, NCOL)[:n]
    o[:, 0] = np.where(fit, c + ox, np.nan)
    o[:, 1] = np.where(fit, r + oy, np.nan)
    o[:, 2] = flux
    o[:, 3] = peak
    o[:, 4] = sharp
    o[:, 5] = round1
    o[:, 6] = np.where(fit, round2, np.nan)
    o[:, 7] = crtest
    o[:, 8] = cv
    o[:, 9] = sky
