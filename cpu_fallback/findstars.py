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

__all__ = ["NCOL", "reflect", "exp", "convolve", "peaks", "measure"]

#: columns of the measurement table (FS_NCOL of findstars.cu)
NCOL = 10
#: the centroid refinement: at most MAXIT Gauss-Newton steps, converged when the
#: position moves by less than TOL pixels (FS_MAXIT, FS_TOL of findstars.cu)
MAXIT = 20
TOL = 1e-4

# fs_exp's constants: ln 2 in two parts (k * LN2_HI is exact for |k| < 2**11), 1 / ln 2
# and the Taylor coefficients 1 / k! for k = 12 down to 2
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
_TAYLOR = (2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
           2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984,
           0.001388888888888889, 0.008333333333333333, 0.041666666666666664,
           0.16666666666666666, 0.5)


def reflect(i, n):
    """Indices ``i`` (int64 array) folded into [0, n) as scipy's "reflect" mode does."""
    m = np.mod(i, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def exp(x):
    """fs_exp of findstars.cu: exp(x) for x <= 0 (float64 array) from + - * and an exact
    scaling by 2**k, so that every build gives the same bits; 0 for x < -600 (or NaN).
    The relative error is below 1e-15.
    """
    x = np.asarray(x, np.float64)
    small = ~(x >= -600.0)
    x = np.where(small, 0.0, x)
    k = np.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = np.full(x.shape, _TAYLOR[0])
    for c in _TAYLOR[1:]:
        p = p * r + c
    p = p * r + 1.0
    p = p * r + 1.0
    return np.where(small, 0.0, np.ldexp(p, k.astype(np.int64)))


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


def _solve5(m, b):
    """Gaussian elimination of the symmetric 5 by 5 systems m (dict (i, j) -> (n,) array,
    i <= j) delta = b (list of 5 arrays), no pivoting: delta and whether every pivot was > 0."""
    m, b = dict(m), list(b)
    ok = np.ones(b[0].shape, bool)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for k in range(5):
            piv = m[k, k]
            ok &= piv > 0.0
            for i in range(k + 1, 5):
                f = m[k, i] / piv
                for j in range(i, 5):
                    m[i, j] = m[i, j] - f * m[k, j]
                b[i] = b[i] - f * b[k]
        delta = [None] * 5
        for k in range(4, -1, -1):
            t = b[k]
            for j in range(k + 1, 5):
                t = t - m[k, j] * delta[j]
            delta[k] = t / m[k, k]
    return delta, ok


def _refine(box, use, x, y, amp, sky, a, amin, amax, active):
    """fs_refine of findstars.cu for all candidates: Gauss-Newton fits of
    amp * exp(-a ((u - x)**2 + (v - y)**2)) + sky over the usable box pixels.

    box, use : (n, nyk, nxk) float64 values and bool usable flags; x, y, amp, sky, a: (n,)
    starting values (x, y relative to the box centre); active: (n,) bool, the candidates
    to fit.  Returns the fitted x, y and whether the fit converged within the limits.
    """
    n, nyk, nxk = box.shape
    u = (np.arange(nxk) - nxk // 2).astype(np.float64)
    v = (np.arange(nyk) - nyk // 2).astype(np.float64)
    x0, y0 = x, y
    done = np.zeros(n, bool)
    live = active.copy()
    zero = np.zeros((n, 1))
    flat_use = use.reshape(n, -1)
    val = box.reshape(n, -1)
    for _ in range(MAXIT):
        if not live.any():
            break
        with np.errstate(invalid="ignore", over="ignore"):
            du = u[None, None, :] - x[:, None, None]
            dv = v[None, :, None] - y[:, None, None]
            du2, dv2 = du * du, dv * dv
            rr = (dv2 + du2).reshape(n, -1)
            ta = (2.0 * a)[:, None]
            g = exp(-(a[:, None] * rr))
            ag = amp[:, None] * g
            j0 = ag * (ta * np.broadcast_to(du, (n, nyk, nxk)).reshape(n, -1))
            j1 = ag * (ta * np.broadcast_to(dv, (n, nyk, nxk)).reshape(n, -1))
            j4 = -(ag * rr)
            res = val - (ag + sky[:, None])
            jac = (j0, j1, g, None, j4)
            terms = {}
            for i in range(5):
                for j in range(i, 5):
                    if i == 3 and j == 3:
                        t = np.ones_like(g)
                    elif i == 3 or j == 3:
                        t = jac[j if i == 3 else i]
                    else:
                        t = jac[i] * jac[j]
                    terms[i, j] = t
            rhs = [jac[i] * res if i != 3 else res for i in range(5)]

            def total(t):
                t = np.where(flat_use, t, 0.0)
                return np.cumsum(np.concatenate([zero, t], axis=1), axis=1)[:, -1]

            m = {key: total(t) for key, t in terms.items()}
            b = [total(t) for t in rhs]
        delta, ok = _solve5(m, b)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            big = np.maximum(np.abs(delta[0]), np.abs(delta[1]))
            scale = big > 0.5
            f = 0.5 / np.where(scale, big, 1.0)
            delta = [np.where(scale, dlt * f, dlt) for dlt in delta]
            nx_, ny_ = x + delta[0], y + delta[1]
            namp, nsky, na = amp + delta[2], sky + delta[3], a + delta[4]
            ok &= (namp > 0.0) & (na >= amin) & (na <= amax)
            ok &= (np.abs(nx_ - x0) <= 1.0) & (np.abs(ny_ - y0) <= 1.0)
            conv = ok & (np.abs(delta[0]) < TOL) & (np.abs(delta[1]) < TOL)
        upd = live & ok
        x, y = np.where(upd, nx_, x), np.where(upd, ny_, y)
        amp, sky, a = np.where(upd, namp, amp), np.where(upd, nsky, sky), np.where(upd, na, a)
        done |= live & conv
        live &= ok & ~conv
    return x, y, done


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

    use = ok[rows, cols]
    raw = np.where(use, d[rows, cols].astype(np.float64), 0.0)
    bmax = float(max(bx, by))
    a0 = np.full(n, 1.0 / (xsigsq + ysigsq))
    amin, amax = 0.5 / (bmax * bmax), 8.0
    a0 = np.where(a0 < amin, amin, np.where(a0 > amax, amax, a0))
    # no refinement where crreject (e_axis >= 0) will drop the candidate
    refine = fit & ~((e_axis >= 0.0) & ~(crtest >= 0.0))
    fx, fy, good = _refine(raw, use, np.where(fit, ox, 0.0), np.where(fit, oy, 0.0), peak - sky,
                           sky, a0, amin, amax, refine)
    ox, oy = np.where(good, fx, ox), np.where(good, fy, oy)

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
