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
//   0, 1  x, y: the pixel plus DAOFIND's marginal Gaussian-fit offsets
//         (IRAF ap_xy_round, drizzlepac's cdriz.arrxyround with the data
//         range of the box: no pixel rejected); NaN when a fit fails;
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
#include "rounding.cuh"

#define FS_NCOL 10

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

GD_KERNEL void findstars_convolve(const float* data, const unsigned char* mask, gd_index nx,
                                  gd_index ny, const double* taps, gd_index ntaps, double gsum,
                                  double g2sum, double npts, float* conv) {
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        gd_index p = r * nx + c;
        double h = 0.0, sky = 0.0;
        bool ok = fs_usable(data, mask, p) &&
                  fs_fit(data, mask, nx, ny, r, c, taps, ntaps, gsum, g2sum, npts, &h, &sky);
        conv[p] = ok ? (float)h : -gd_inff();
    });
}

GD_KERNEL void findstars_peaks(const float* conv, gd_index nx, gd_index ny, const double* taps,
                               gd_index ntaps, gd_index bx, gd_index by, double threshold,
                               unsigned char* peaks) {
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
        double ox = 0.0, oy = 0.0, hx = 0.0, hy = 0.0;
        bool fit = fs_marginal(val, gauss, nxk, nyk, true, skymode, xsigsq, &ox, &hx) &&
                   fs_marginal(val, gauss, nxk, nyk, false, skymode, ysigsq, &oy, &hy);
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
