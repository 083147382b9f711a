// Source finding (TweakReg's imagefind step, DAOFIND style).  Three passes
// over one chip of nx by ny float32 pixels:
//
// findstars_convolve, one work item per pixel p = r * nx + c: the
// least-squares amplitude of a Gaussian plus a constant over the kernel
// footprint, i.e. the image convolved with DAOFIND's zero-sum kernel.  The
// footprint is `taps` (ntaps, 3) float64 rows (dx, dy, g) in row-major
// order; pixels beyond the chip are reflected at its edges as scipy's
// "reflect" mode does (-1 -> 0, nx -> nx - 1).  A pixel is unusable where
// mask (optional) is nonzero or its value is not finite; unusable pixels
// are left out of the fit: over the usable taps, in float64 and in tap
// order,
//   S_gd = sum g * d,  S_d = sum d,  G = gsum - (sum of g left out),
//   GG = g2sum - (sum of g * g left out),  n = npts - (taps left out),
//   conv = (S_gd - G * S_d / n) / (GG - G * G / n)   rounded to float32,
// which with every tap usable is exactly sum(nkern * d) for DAOFIND's
// nkern = (g - gsum / npts) / (g2sum - gsum^2 / npts).  conv = -inf where
// p itself is unusable, fewer than 3 taps are usable or the denominator
// is not positive.
//
// findstars_peaks: peaks[p] = 1 where conv[p] > threshold, the (2 bx + 1)
// by (2 by + 1) box around p lies within the chip, and conv[p] is a local
// maximum over the footprint: greater than every tap before p in row-major
// order and not less than every tap after it (so a plateau yields its first
// pixel); else 0.
//
// findstars_measure, one work item per candidate k at pixel idx[k]: the
// (nyk, nxk) box around it (nxk = 2 bx + 1) with unusable pixels replaced
// by the fitted model sky + h * gauss (h, sky: the convolution's fit at the
// candidate, sky = (S_d - h * G) / n); `gauss` (nyk, nxk) float64 is the
// whole unnormalised Gaussian.  out[k * FS_NCOL + j] gets, for j =
//   0, 1  x, y: the pixel plus the refined offsets (below), or where the
//         refinement fails DAOFIND's marginal Gaussian-fit offsets (IRAF
//         ap_xy_round, drizzlepac's cdriz.arrxyround with the data range of
//         the box: no pixel rejected); NaN when a marginal fit fails;
//   2     flux: sum of the box;  3 peak: maximum of the box;
//   4     sharpness: (d - mean of the other footprint pixels) / conv;
//   5     round1: 2 * sum(s2m * conv) / sum(|conv|) over the box without
//         its centre (DAOFIND's two-fold symmetry estimate, 0 when the first
//         sum is 0, NaN when the second is not positive; unusable pixels
//         count as conv = 0);
//   6     round2: 2 (hx - hy) / (hx + hy) of the marginal fits (or NaN);
//   7     crtest: the cosmic-ray margin, min over the axes a = x, y and the
//         two diagonals of q_a + noise * sqrt(1/2 + q_a^2) / P - e_a, with
//         P = d - s, q_a = (mean of the two neighbours along a - s) / P, s the
//         larger of sky and the minimum of the box's border pixels,
//         e_a = e_axis (x, y) or e_diag (diagonals); -inf when P <= 0;
//   8     conv at the pixel;  9 sky.
// The refinement (fs_refine), only where both marginal fits succeed and
// the candidate passes the CR test when that is on (e_axis >= 0: crtest >= 0;
// with the CR test on find_sources drops every other candidate, whose x, y
// are then DAOFIND's): a
// Gauss-Newton least-squares fit of the circular Gaussian
//   amp * exp(-a ((u - x)^2 + (v - y)^2)) + sky
// to the usable pixels of the box (raw float32 values, u = i - bx, v = j - by;
// unusable pixels are left out), all five of x, y, amp, sky, a free.  Start:
// x, y = DAOFIND's offsets, amp = peak - sky and sky from the candidate's
// convolution fit, a = 1 / (xsigsq + ysigsq) clamped to [amin, amax] with
// amin = 1 / (2 max(bx, by)^2) and amax = 8 (sigma from 0.25 px to the box
// half-size).  A step sums over the box in row-major order, in float64, the
// upper triangle of J^T J and J^T (d - model) (J: the model's derivatives
// with respect to x, y, amp, sky, a; the term of sky with itself is 1, its
// products are the other derivatives themselves), solves the normal equations
// by Gaussian elimination without pivoting (fs_solve5), scales the step down
// so that x and y move by at most 0.5 px, and applies it.  The fit fails when
// a pivot is not positive, amp <= 0, a leaves [amin, amax] or x or y ends
// more than 1 px from DAOFIND's; it converges when x and y both moved by less
// than FS_TOL = 1e-4 px; it fails after FS_MAXIT = 20 steps.  Unlike the
// one-step marginal fits of a kernel-width Gaussian, which are biased by up
// to ~0.1 px with the sub-pixel phase of undersampled stars, the converged
// fit is biased by < 0.004 px on pixel-integrated Gaussian stars of FWHM
// 1.6 px, < 0.001 px from FWHM 2 px on, whatever the kernel width.  The exponential is fs_exp (same
// bits in every build).
#include "rounding.cuh"

#define FS_NCOL 10
#define FS_MAXIT 20
#define FS_TOL 1e-4

#ifdef __CUDACC__
GD_DEVICE double fs_ldexp(double p, int k) { return ldexp(p, k); }
#else
// ldexp without the library call (which the host build would make per pixel):
// the product by 2^k built from its bits, for -1022 <= k <= 1023 (fs_exp's
// k is in [-866, 0]).  The product is exact while normal, and rounds once
// otherwise, as ldexp does: the same bits.
GD_DEVICE double fs_ldexp(double p, int k) {
    if (k < -1022 || k > 1023) return ldexp(p, k);
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double s;
    __builtin_memcpy(&s, &bits, sizeof s);
    return p * s;
}
#endif

// exp(x) for x <= 0 from + - * and an exact scaling by 2^k (the same bits in
// every build; libm's and CUDA's exp differ in the last bit): 0 for x < -600
// or NaN, else x = k ln2 + r, |r| <= ln2 / 2, and the Taylor series of e^r to
// r^12 by Horner's rule; relative error below 1e-15.
GD_DEVICE double fs_exp(double x) {
    if (!(x >= -600.0)) return 0.0;
    const double c[11] = {2.08767569878681e-09,  2.505210838544172e-08, 2.755731922398589e-07,
                          2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984,
                          0.001388888888888889,  0.008333333333333333,  0.041666666666666664,
                          0.16666666666666666,   0.5};
    double k = floor(rd_dadd(rd_dmul(x, 1.4426950408889634), 0.5));
    double r = rd_dadd(rd_dadd(x, -rd_dmul(k, 6.93147180369123816490e-01)),
                       -rd_dmul(k, 1.90821492927058770002e-10));
    double p = c[0];
#pragma unroll
    for (int i = 1; i < 11; ++i) p = rd_dadd(rd_dmul(p, r), c[i]);
    p = rd_dadd(rd_dmul(p, r), 1.0);
    p = rd_dadd(rd_dmul(p, r), 1.0);
    return fs_ldexp(p, (int)k);
}

GD_DEVICE gd_index fs_reflect(gd_index i, gd_index n) {
    if (i >= 0 && i < n) return i;
    gd_index m = i % (2 * n);
    if (m < 0) m += 2 * n;
    return m < n ? m : 2 * n - 1 - m;
}

GD_DEVICE bool fs_usable(const float* data, const unsigned char* mask, gd_index q) {
    return (!mask || mask[q] == 0) && gd_isfinite(data[q]);
}

// The fit of h * g + sky over the footprint around (r, c).  Returns false
// when it is undefined; h is the float64 amplitude before rounding.
GD_DEVICE bool fs_fit(const float* data, const unsigned char* mask, gd_index nx, gd_index ny,
                      gd_index r, gd_index c, const double* taps, gd_index ntaps, double gsum,
                      double g2sum, double npts, double* h, double* sky) {
    double sgd = 0.0, sd = 0.0, mg = 0.0, mgg = 0.0, mn = 0.0;
    for (gd_index t = 0; t < ntaps; ++t) {
        gd_index dx = (gd_index)taps[3 * t], dy = (gd_index)taps[3 * t + 1];
        double g = taps[3 * t + 2];
        gd_index q = fs_reflect(r + dy, ny) * nx + fs_reflect(c + dx, nx);
        if (fs_usable(data, mask, q)) {
            double v = (double)data[q];
            sgd = rd_dadd(sgd, rd_dmul(g, v));
            sd = rd_dadd(sd, v);
        } else {
            mg = rd_dadd(mg, g);
            mgg = rd_dadd(mgg, rd_dmul(g, g));
            mn = rd_dadd(mn, 1.0);
        }
    }
    double G = gsum - mg, GG = g2sum - mgg, n = npts - mn;
    double den = rd_dadd(GG, -(rd_dmul(G, G) / n));
    if (!(n >= 3.0) || !(den > 0.0)) return false;
    *h = rd_dadd(sgd, -(rd_dmul(G, sd) / n)) / den;
    *sky = rd_dadd(sd, -rd_dmul(*h, G)) / n;
    return true;
}

// findstars_convolve's body at one pixel (the general path).
GD_DEVICE void fs_convolve_pixel(const float* data, const unsigned char* mask, gd_index nx,
                                 gd_index ny, gd_index r, gd_index c, const double* taps,
                                 gd_index ntaps, double gsum, double g2sum, double npts,
                                 float* conv) {
    gd_index p = r * nx + c;
    double h = 0.0, sky = 0.0;
    bool ok = fs_usable(data, mask, p) &&
              fs_fit(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, &h, &sky);
    conv[p] = ok ? (float)h : -gd_inff();
}

#ifndef __CUDACC__
// Host fast path: where the whole footprint lies inside the chip, blocks of
// FS_LANES neighbouring pixels of a row are summed tap by tap with the taps
// as precomputed offsets (independent sums the compiler vectorises).  Every
// pixel's S_gd and S_d are the same float64 operations in the same tap order
// as fs_fit's; a pixel is all-usable when no tap is masked and S_d is finite
// (a float32 value is non-finite exactly when the float64 sum of the few
// float32 values becomes so), and then G = gsum, GG = g2sum, n = npts and
// the final formula is fs_fit's.  Any other pixel takes the general path.
#define FS_LANES 8

struct fs_footprint {
    std::vector<gd_index> off;  // dy * nx + dx per tap
    std::vector<double> g;
    gd_index xlo = 0, xhi = 0, ylo = 0, yhi = 0;  // extent of the taps
    fs_footprint(const double* taps, gd_index ntaps, gd_index nx) : off(ntaps), g(ntaps) {
        for (gd_index t = 0; t < ntaps; ++t) {
            gd_index dx = (gd_index)taps[3 * t], dy = (gd_index)taps[3 * t + 1];
            off[t] = dy * nx + dx;
            g[t] = taps[3 * t + 2];
            xlo = dx < xlo ? dx : xlo;
            xhi = dx > xhi ? dx : xhi;
            ylo = dy < ylo ? dy : ylo;
            yhi = dy > yhi ? dy : yhi;
        }
    }
};
#endif

GD_KERNEL void findstars_convolve(const float* data, const unsigned char* mask, gd_index nx,
                                  gd_index ny, const double* taps, gd_index ntaps, double gsum,
                                  double g2sum, double npts, float* conv) {
#ifdef __CUDACC__
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        fs_convolve_pixel(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, conv);
    });
#else
    const fs_footprint fp(taps, ntaps, nx);
    // fs_fit's G, GG, n and denominator with no tap left out
    const double G = gsum - 0.0, GG = g2sum - 0.0, n = npts - 0.0;
    const double den = rd_dadd(GG, -(rd_dmul(G, G) / n));
    const bool defined = n >= 3.0 && den > 0.0;
    const gd_index* off = fp.off.data();
    const double* gv = fp.g.data();
    const gd_index c0 = -fp.xlo, c1 = nx - fp.xhi;  // interior columns [c0, c1)
#pragma omp parallel for schedule(static)
    for (gd_index r = 0; r < ny; ++r) {
        gd_index c = 0;
        if (r + fp.ylo >= 0 && r + fp.yhi < ny) {
            for (; c < c0 && c < nx; ++c)
                fs_convolve_pixel(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, conv);
            for (; c + FS_LANES <= c1; c += FS_LANES) {
                const gd_index p = r * nx + c;
                double sgd[FS_LANES], sd[FS_LANES];
                unsigned char bad[FS_LANES];
                for (int l = 0; l < FS_LANES; ++l) sgd[l] = sd[l] = 0.0, bad[l] = 0;
                for (gd_index t = 0; t < ntaps; ++t) {
                    const float* q = data + p + off[t];
                    const double g = gv[t];
                    for (int l = 0; l < FS_LANES; ++l) {
                        double v = (double)q[l];
                        sgd[l] = rd_dadd(sgd[l], rd_dmul(g, v));
                        sd[l] = rd_dadd(sd[l], v);
                    }
                    if (mask) {
                        const unsigned char* m = mask + p + off[t];
                        for (int l = 0; l < FS_LANES; ++l) bad[l] |= m[l];
                    }
                }
                for (int l = 0; l < FS_LANES; ++l) {
                    if (bad[l] || !gd_isfinite(sd[l])) {
                        fs_convolve_pixel(data, mask, nx, ny, r, c + l, taps, ntaps, gsum, g2sum,
                                          npts, conv);
                    } else {
                        double h = rd_dadd(sgd[l], -(rd_dmul(G, sd[l]) / n)) / den;
                        conv[p + l] = defined ? (float)h : -gd_inff();
                    }
                }
            }
        }
        for (; c < nx; ++c)
            fs_convolve_pixel(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, conv);
    }
#endif
}

GD_KERNEL void findstars_peaks(const float* conv, gd_index nx, gd_index ny, const double* taps,
                               gd_index ntaps, gd_index bx, gd_index by, double threshold,
                               unsigned char* peaks) {
#ifdef __CUDACC__
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        gd_index p = r * nx + c;
        float v = conv[p];
        bool peak = c >= bx && c < nx - bx && r >= by && r < ny - by && (double)v > threshold;
        for (gd_index t = 0; t < ntaps && peak; ++t) {
            gd_index dx = (gd_index)taps[3 * t], dy = (gd_index)taps[3 * t + 1];
            if (dx == 0 && dy == 0) continue;
            float u = conv[p + dy * nx + dx];
            bool before = dy < 0 || (dy == 0 && dx < 0);
            peak = before ? v > u : v >= u;
        }
        peaks[p] = peak ? 1 : 0;
    });
#else
    // the same tests with the taps as precomputed offsets (the centre left out)
    std::vector<gd_index> off;
    std::vector<unsigned char> before;
    for (gd_index t = 0; t < ntaps; ++t) {
        gd_index dx = (gd_index)taps[3 * t], dy = (gd_index)taps[3 * t + 1];
        if (dx == 0 && dy == 0) continue;
        off.push_back(dy * nx + dx);
        before.push_back(dy < 0 || (dy == 0 && dx < 0));
    }
    const gd_index m = (gd_index)off.size();
    const gd_index* po = off.data();
    const unsigned char* pb = before.data();
#pragma omp parallel for schedule(static)
    for (gd_index r = 0; r < ny; ++r) {
        unsigned char* row = peaks + r * nx;
        for (gd_index c = 0; c < nx; ++c) row[c] = 0;
        if (r < by || r >= ny - by) continue;
        for (gd_index c = bx; c < nx - bx; ++c) {
            const gd_index p = r * nx + c;
            const float v = conv[p];
            if (!((double)v > threshold)) continue;
            bool peak = true;
            for (gd_index t = 0; t < m && peak; ++t) {
                float u = conv[p + po[t]];
                peak = pb[t] ? v > u : v >= u;
            }
            row[c] = peak ? 1 : 0;
        }
    }
#endif
}

// One marginal fit (IRAF ap_xy_round): along x when along_x, else along y.
// Returns false when it fails; *off gets the offset, *height the amplitude.
template <class Val>
GD_DEVICE bool fs_marginal(const Val& val, const double* gauss, gd_index nxk, gd_index nyk,
                           bool along_x, double skymode, double sigsq, double* off,
                           double* height) {
    gd_index nout = along_x ? nxk : nyk, nin = along_x ? nyk : nxk;
    gd_index mout = nout / 2, min_ = nin / 2;
    double half = nout / 2.0 - 0.5;
    double sumgd = 0.0, sumgsq = 0.0, sumg = 0.0, sumd = 0.0, sumdx = 0.0;
    double sdgdx = 0.0, sdgdxsq = 0.0, sddgdx = 0.0, sgdgdx = 0.0, p = 0.0;
    for (gd_index k = 0; k < nout; ++k) {
        double sg = 0.0, sd = 0.0;
        for (gd_index j = 0; j < nin; ++j) {
            gd_index dj = j - min_;
            double wt = (double)(min_ + 1 - (dj < 0 ? -dj : dj));
            gd_index jj = along_x ? j : k, ii = along_x ? k : j;
            double v = (double)(float)val(jj, ii);
            sd = rd_dadd(sd, rd_dmul(rd_dadd(v, -skymode), wt));
            sg = rd_dadd(sg, rd_dmul(gauss[jj * nxk + ii], wt));
        }
        double dk = (double)(mout - k);
        gd_index ak = mout - k < 0 ? k - mout : mout - k;
        double wt = (double)(mout + 1 - ak);
        sumgd = rd_dadd(sumgd, rd_dmul(rd_dmul(wt, sg), sd));
        sumgsq = rd_dadd(sumgsq, rd_dmul(wt, rd_dmul(sg, sg)));
        sumg = rd_dadd(sumg, rd_dmul(wt, sg));
        sumd = rd_dadd(sumd, rd_dmul(wt, sd));
        sumdx = rd_dadd(sumdx, rd_dmul(rd_dmul(wt, sd), dk));
        p = rd_dadd(p, wt);
        double dgdx = rd_dmul(sg, dk);
        sdgdxsq = rd_dadd(sdgdxsq, rd_dmul(wt, rd_dmul(dgdx, dgdx)));
        sdgdx = rd_dadd(sdgdx, rd_dmul(wt, dgdx));
        sddgdx = rd_dadd(sddgdx, rd_dmul(rd_dmul(wt, sd), dgdx));
        sgdgdx = rd_dadd(sgdgdx, rd_dmul(rd_dmul(wt, sg), dgdx));
    }
    if (nout <= 2 || !(p > 0.0)) return false;
    double h1 = rd_dadd(sumgsq, -(rd_dmul(sumg, sumg) / p));
    if (!(h1 > 0.0)) return false;
    double h = rd_dadd(sumgd, -(rd_dmul(sumg, sumd) / p)) / h1;
    if (!(h > 0.0)) return false;
    double skylvl = rd_dadd(sumd, -rd_dmul(h, sumg)) / p;
    double num = rd_dadd(sgdgdx, -rd_dadd(sddgdx, -rd_dmul(sdgdx, rd_dadd(rd_dmul(h, sumg),
                                                                          rd_dmul(skylvl, p)))));
    double d = num / (rd_dmul(h, sdgdxsq) / sigsq);
    if (!(fabs(d) <= half)) {
        d = sumd == 0.0 ? 0.0 : sumdx / sumd;
        if (!(fabs(d) <= half)) d = 0.0;
    }
    *off = d;
    *height = h;
    return true;
}

// Solves the symmetric 5 by 5 system m delta = b (m: the upper triangle, row
// by row, 15 entries) by Gaussian elimination without pivoting; false when a
// pivot is not positive.  m and b are overwritten.
GD_DEVICE bool fs_solve5(double* m, double* b, double* delta) {
    bool ok = true;
    // index of (i, j), i <= j, in the row-by-row upper triangle
#define FS_U(i, j) ((i) * 5 - (i) * ((i) - 1) / 2 + (j) - (i))
#pragma unroll
    for (int k = 0; k < 5; ++k) {
        double piv = m[FS_U(k, k)];
        ok = ok && piv > 0.0;
#pragma unroll
        for (int i = k + 1; i < 5; ++i) {
            double f = m[FS_U(k, i)] / piv;
#pragma unroll
            for (int j = i; j < 5; ++j) m[FS_U(i, j)] = rd_dadd(m[FS_U(i, j)], -rd_dmul(f, m[FS_U(k, j)]));
            b[i] = rd_dadd(b[i], -rd_dmul(f, b[k]));
        }
    }
#pragma unroll
    for (int k = 4; k >= 0; --k) {
        double t = b[k];
#pragma unroll
        for (int j = k + 1; j < 5; ++j) t = rd_dadd(t, -rd_dmul(m[FS_U(k, j)], delta[j]));
        delta[k] = t / m[FS_U(k, k)];
    }
#undef FS_U
    return ok;
}

// The refined centroid: Gauss-Newton fit of amp exp(-a ((u - x)^2 + (v - y)^2))
// + sky over the usable pixels of the box (u = i - bx, v = j - by), starting
// from (*x, *y) (DAOFIND's offsets) and amp, sky, a.  Each step solves the
// normal equations of (x, y, amp, sky, a), shrinks the step so that x and y
// move by at most 0.5 px, and fails when amp <= 0, a leaves [amin, amax] or
// the position moves more than 1 px from the start; converged when x and y
// move by less than FS_TOL.  Returns false (and leaves *x, *y) unless converged
// within FS_MAXIT steps.
template <class Use>
GD_DEVICE bool fs_refine(const float* data, const Use& use, gd_index nx, gd_index r, gd_index c,
                         gd_index nxk, gd_index nyk, double* px, double* py, double amp,
                         double sky, double a, double amin, double amax) {
    gd_index bx = nxk / 2, by = nyk / 2;
    double x0 = *px, y0 = *py, x = x0, y = y0;
    for (int it = 0; it < FS_MAXIT; ++it) {
        double m[15], b[5], delta[5];
#pragma unroll
        for (int q = 0; q < 15; ++q) m[q] = 0.0;
#pragma unroll
        for (int q = 0; q < 5; ++q) b[q] = 0.0;
        double ta = 2.0 * a;
        for (gd_index j = 0; j < nyk; ++j) {
            double dv = rd_dadd((double)(j - by), -y);
            double dv2 = rd_dmul(dv, dv);
            for (gd_index i = 0; i < nxk; ++i) {
                gd_index q = (r + j - by) * nx + (c + i - bx);
                if (!use(q)) continue;
                double du = rd_dadd((double)(i - bx), -x);
                double rr = rd_dadd(dv2, rd_dmul(du, du));
                double g = fs_exp(-rd_dmul(a, rr));
                double ag = rd_dmul(amp, g);
                double jac[5] = {rd_dmul(ag, rd_dmul(ta, du)), rd_dmul(ag, rd_dmul(ta, dv)), g, 1.0,
                                 -rd_dmul(ag, rr)};
                double res = rd_dadd((double)data[q], -rd_dadd(ag, sky));
                int e = 0;
#pragma unroll
                for (int s = 0; s < 5; ++s) {
#pragma unroll
                    for (int t = s; t < 5; ++t, ++e) {
                        double term = s == 3 && t == 3 ? 1.0
                                      : s == 3       ? jac[t]
                                      : t == 3       ? jac[s]
                                                     : rd_dmul(jac[s], jac[t]);
                        m[e] = rd_dadd(m[e], term);
                    }
                    b[s] = rd_dadd(b[s], s == 3 ? res : rd_dmul(jac[s], res));
                }
            }
        }
        bool ok = fs_solve5(m, b, delta);
        double big = fmax(fabs(delta[0]), fabs(delta[1]));
        if (big > 0.5) {
            double f = 0.5 / big;
#pragma unroll
            for (int q = 0; q < 5; ++q) delta[q] = rd_dmul(delta[q], f);
        }
        double nx_ = rd_dadd(x, delta[0]), ny_ = rd_dadd(y, delta[1]);
        double namp = rd_dadd(amp, delta[2]), nsky = rd_dadd(sky, delta[3]);
        double na = rd_dadd(a, delta[4]);
        ok = ok && namp > 0.0 && na >= amin && na <= amax &&
             fabs(rd_dadd(nx_, -x0)) <= 1.0 && fabs(rd_dadd(ny_, -y0)) <= 1.0;
        if (!ok) return false;
        x = nx_;
        y = ny_;
        amp = namp;
        sky = nsky;
        a = na;
        if (fabs(delta[0]) < FS_TOL && fabs(delta[1]) < FS_TOL) {
            *px = x;
            *py = y;
            return true;
        }
    }
    return false;
}

GD_KERNEL void findstars_measure(const float* data, const unsigned char* mask, const float* conv,
                                 gd_index nx, gd_index ny, const long long* idx, gd_index n,
                                 const double* taps, gd_index ntaps, double gsum, double g2sum,
                                 double npts, const double* gauss, gd_index nxk, gd_index nyk,
                                 double xsigsq, double ysigsq, double skymode, double noise,
                                 double e_axis, double e_diag, double* out) {
    gd_parallel_for(n, [=](gd_index k) {
        gd_index p = idx[k], r = p / nx, c = p % nx;
        gd_index bx = nxk / 2, by = nyk / 2;
        double* o = out + k * FS_NCOL;
        const double nan_ = nan("");
        double h = 0.0, sky = 0.0;
        if (!fs_fit(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, &h, &sky)) {
            h = 0.0;  // a candidate always has a fit; keep going with a flat model
            sky = 0.0;
        }
        // box value at (j, i), 0 <= j < nyk, 0 <= i < nxk
        auto val = [&](gd_index j, gd_index i) -> double {
            gd_index q = (r + j - by) * nx + (c + i - bx);
            return fs_usable(data, mask, q) ? (double)data[q]
                                            : rd_dadd(sky, rd_dmul(h, gauss[j * nxk + i]));
        };
        double flux = 0.0, peak = -gd_inff();
        for (gd_index j = 0; j < nyk; ++j) {
            for (gd_index i = 0; i < nxk; ++i) {
                double v = val(j, i);
                flux = rd_dadd(flux, v);
                peak = v > peak ? v : peak;
            }
        }
        double cv = (double)conv[p], dc = (double)data[p];
        double ssum = 0.0, scount = 0.0;
        for (gd_index t = 0; t < ntaps; ++t) {
            gd_index dx = (gd_index)taps[3 * t], dy = (gd_index)taps[3 * t + 1];
            if (dx == 0 && dy == 0) continue;
            ssum = rd_dadd(ssum, val(dy + by, dx + bx));
            scount = rd_dadd(scount, 1.0);
        }
        double sharp = (scount > 0.0 && cv > 0.0) ? rd_dadd(dc, -(ssum / scount)) / cv : nan_;
        double sum2 = 0.0, sum4 = 0.0;
        for (gd_index j = 0; j < nyk; ++j) {
            for (gd_index i = 0; i < nxk; ++i) {
                if (j == by && i == bx) continue;
                float u = conv[(r + j - by) * nx + (c + i - bx)];
                double dens = gd_isfinite(u) ? (double)u : 0.0;
                bool neg = (j >= by && i < bx) || (j <= by && i > bx);
                sum2 = rd_dadd(sum2, neg ? -dens : dens);
                sum4 = rd_dadd(sum4, fabs(dens));
            }
        }
        double round1 = sum2 == 0.0 ? 0.0 : (sum4 > 0.0 ? 2.0 * sum2 / sum4 : nan_);
        // the CR test's sky: the fit's, or the box border's minimum where that is higher
        // (the fit's sky of a sharp spike is far too low)
        double bmin = val(0, 0);
        for (gd_index j = 0; j < nyk; ++j) {
            for (gd_index i = 0; i < nxk; ++i) {
                if (j != 0 && j != nyk - 1 && i != 0 && i != nxk - 1) continue;
                double v = val(j, i);
                bmin = v < bmin ? v : bmin;
            }
        }
        double skc = bmin > sky ? bmin : sky;
        double P = rd_dadd(dc, -skc), crtest = -gd_inff();
        if (P > 0.0) {
            const int ax[4] = {1, 0, 1, 1}, ay[4] = {0, 1, 1, -1};
            for (int a = 0; a < 4; ++a) {
                double nb = rd_dadd(val(by + ay[a], bx + ax[a]), val(by - ay[a], bx - ax[a]));
                double q = rd_dadd(0.5 * nb, -skc) / P;
                double m = rd_dadd(rd_dadd(q, noise * sqrt(rd_dadd(0.5, rd_dmul(q, q))) / P),
                                   -(a < 2 ? e_axis : e_diag));
                crtest = a == 0 || m < crtest ? m : crtest;
            }
        }
        double ox = 0.0, oy = 0.0, hx = 0.0, hy = 0.0;
        bool fit = fs_marginal(val, gauss, nxk, nyk, true, skymode, xsigsq, &ox, &hx) &&
                   fs_marginal(val, gauss, nxk, nyk, false, skymode, ysigsq, &oy, &hy);
        // no refinement where crreject (e_axis >= 0) will drop the candidate
        if (fit && !(e_axis >= 0.0 && !(crtest >= 0.0))) {
            double bmax = (double)(bx > by ? bx : by);
            double amin = 0.5 / rd_dmul(bmax, bmax), amax = 8.0;
            double a0 = 1.0 / rd_dadd(xsigsq, ysigsq);
            a0 = a0 < amin ? amin : (a0 > amax ? amax : a0);
            auto use = [&](gd_index q) -> bool { return fs_usable(data, mask, q); };
            fs_refine(data, use, nx, r, c, nxk, nyk, &ox, &oy, rd_dadd(peak, -sky), sky, a0, amin,
                      amax);
        }
        o[0] = fit ? (double)c + ox : nan_;
        o[1] = fit ? (double)r + oy : nan_;
        o[2] = flux;
        o[3] = peak;
        o[4] = sharp;
        o[5] = round1;
        o[6] = fit ? 2.0 * rd_dadd(hx, -hy) / rd_dadd(hx, hy) : nan_;
        o[7] = crtest;
        o[8] = cv;
        o[9] = sky;
    });
}
