// Cosmic-ray detection against a blotted median: AstroDrizzle's driz_cr
// step (drizzlepac 3.11 drizCR and quickDeriv).  Three passes over one
// chip of nx by ny pixels, one work item per pixel p = r * nx + c.
//
// crmask_tests, in electrons (values times `conversion`, float32 as numpy
// computes them): I = sci, B = blot; D = max |B - neighbour| over the four
// neighbours in float64, a neighbour off the chip counting as 0 (NaN
// propagates), stored as float32;
//   t1 = |I - B|,  ta = sqrt(gain * |B + backg| + rn2),
//   pass1 = t1 <= scale1 * D + snr1 * ta / gain,
//   pass2 = t1 <= scale2 * D + snr2 * ta / gain,
// every operation rounded to float32 in numpy's order; tests[p] gets bit 0
// for pass1 and bit 1 for pass2, deriv[p] (optional) gets D.
// (drizzlepac's quickDeriv also zeroes the neighbours of the second-to-last
// row and column and some on the last ones, through off-by-one slices; that
// makes it blind to cosmic rays there and is not copied.)
//
// crmask_neighbours: a pixel is good where pass2 holds or pass1 holds on
// all of its 3x3 neighbourhood within the chip (drizzlepac's symmetric
// boundary repeats edge pixels, which gives the same answer); cr[p] = 1
// for a cosmic ray, else 0.
//
// crmask_grow: a pixel is masked where a cosmic ray lies in its grow x grow
// box (rows and columns -(grow / 2) .. (grow - 1) / 2 around it, as scipy's
// convolve2d "same" places an even box), or, for cte_dir = +1, in the
// ctegrow pixels above it in its column (rows r + 1 .. r + ctegrow), for
// cte_dir = -1 in the ctegrow pixels below it; parts of either window off
// the chip hold no cosmic ray (drizzlepac reflects the CTE window at the
// chip edge, which points it the wrong way there; cte_dir = 0 means no CTE
// trail, where drizzlepac would mask every pixel).  crmask[p] = 0 where
// masked, else 1 (AstroDrizzle's crmask convention).  With dq given, a
// pixel is good when (dq & ~crbit) == 0 and not masked; masked pixels get
// crbit OR-ed into dq.  cor (optional) = I where good, else B, divided by
// conversion again; cor_dq (optional) = 0 where good, else crbit.
#include "rounding.cuh"

// One neighbour of the derivative.  In float32: the float32 difference of
// two float32 values is their exact difference rounded, and rounding keeps
// order, so the maximum equals numpy's float64 maximum rounded to float32.
GD_DEVICE float cr_neighbour_step(float d, float b, const float* blot, gd_index q, bool inside,
                                  float cf) {
    float n = inside ? rd_fmul(blot[q], cf) : 0.0f;
    float x = fabsf(rd_fadd(b, -n));
    return (x > d || gd_isnan(x)) ? x : d;  // numpy.maximum: NaN wins
}

// The test bits of pixel p from its blot value b, its derivative D and its sci value.
struct cr_limits {
    float cf, g, bg, r2, s1, s2, m1, m2;
};

GD_DEVICE unsigned char cr_test_bits(float b, float D, float sci, const cr_limits& k) {
    float in = rd_fmul(sci, k.cf);
    float t1 = fabsf(in - b);
    float ta = sqrtf(rd_fadd(rd_fmul(k.g, fabsf(rd_fadd(b, k.bg))), k.r2));
    float lim1 = rd_fadd(rd_fmul(k.m1, D), rd_fmul(k.s1, ta) / k.g);
    float lim2 = rd_fadd(rd_fmul(k.m2, D), rd_fmul(k.s2, ta) / k.g);
    return (unsigned char)((t1 <= lim1 ? 1 : 0) | (t1 <= lim2 ? 2 : 0));
}

// One pixel, any position (neighbours off the chip count as 0).
GD_DEVICE void cr_tests_at(const float* sci, const float* blot, gd_index nx, gd_index ny,
                           gd_index r, gd_index c, const cr_limits& k, unsigned char* tests,
                           float* deriv) {
    gd_index p = r * nx + c;
    float b = rd_fmul(blot[p], k.cf);
    float D = 0.0f;
    D = cr_neighbour_step(D, b, blot, p - 1, c > 0, k.cf);
    D = cr_neighbour_step(D, b, blot, p + 1, c < nx - 1, k.cf);
    D = cr_neighbour_step(D, b, blot, p - nx, r > 0, k.cf);
    D = cr_neighbour_step(D, b, blot, p + nx, r < ny - 1, k.cf);
    tests[p] = cr_test_bits(b, D, sci[p], k);
    if (deriv) deriv[p] = D;
}

#ifndef __CUDACC__
// Host path: the pixels with all four neighbours on the chip, a row at a time in SIMD
// lanes, with the same operations in the same order as cr_tests_at (whose results they
// equal bit for bit), written without branches; the chip's border pixels through
// cr_tests_at.
static inline float cr_step_lanes(float d, float b, float neighbour, float cf) {
    float x = fabsf(rd_fadd(b, -rd_fmul(neighbour, cf)));
    return ((x > d) | (x != x)) ? x : d;  // numpy.maximum: NaN wins
}

template <bool WITH_DERIV>
static void cr_tests_inner_row(const float* GD_RESTRICT sci, const float* GD_RESTRICT blot,
                               gd_index nx, gd_index r, const cr_limits k,
                               unsigned char* GD_RESTRICT tests, float* GD_RESTRICT deriv) {
    const float* row = blot + r * nx;
    const float* up = row - nx;
    const float* down = row + nx;
    const float* in = sci + r * nx;
    unsigned char* t = tests + r * nx;
    float* dv = WITH_DERIV ? deriv + r * nx : nullptr;
    const float cf = k.cf;
#pragma omp simd
    for (gd_index c = 1; c < nx - 1; ++c) {
        float b = rd_fmul(row[c], cf);
        float D = cr_step_lanes(0.0f, b, row[c - 1], cf);
        D = cr_step_lanes(D, b, row[c + 1], cf);
        D = cr_step_lanes(D, b, up[c], cf);
        D = cr_step_lanes(D, b, down[c], cf);
        float v = rd_fmul(in[c], cf);
        float t1 = fabsf(v - b);
        float ta = sqrtf(rd_fadd(rd_fmul(k.g, fabsf(rd_fadd(b, k.bg))), k.r2));
        float lim1 = rd_fadd(rd_fmul(k.m1, D), rd_fmul(k.s1, ta) / k.g);
        float lim2 = rd_fadd(rd_fmul(k.m2, D), rd_fmul(k.s2, ta) / k.g);
        t[c] = (unsigned char)((int)(t1 <= lim1) | ((int)(t1 <= lim2) << 1));
        if (WITH_DERIV) dv[c] = D;
    }
}
#endif

GD_KERNEL void crmask_tests(const float* sci, const float* blot, gd_index nx, gd_index ny,
                            double conversion, double gain, double rn2, double backg, double snr1,
                            double snr2, double scale1, double scale2, unsigned char* tests,
                            float* deriv) {
    const cr_limits k = {(float)conversion, (float)gain, (float)backg, (float)rn2,
                         (float)snr1, (float)snr2, (float)scale1, (float)scale2};
#ifndef __CUDACC__
#pragma omp parallel for schedule(static)
    for (gd_index r = 0; r < ny; ++r) {
        if (r == 0 || r == ny - 1 || nx < 3) {
            for (gd_index c = 0; c < nx; ++c) cr_tests_at(sci, blot, nx, ny, r, c, k, tests, deriv);
            continue;
        }
        cr_tests_at(sci, blot, nx, ny, r, 0, k, tests, deriv);
        if (deriv)
            cr_tests_inner_row<true>(sci, blot, nx, r, k, tests, deriv);
        else
            cr_tests_inner_row<false>(sci, blot, nx, r, k, tests, deriv);
        cr_tests_at(sci, blot, nx, ny, r, nx - 1, k, tests, deriv);
    }
#else
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        cr_tests_at(sci, blot, nx, ny, r, c, k, tests, deriv);
    });
#endif
}

GD_KERNEL void crmask_neighbours(const unsigned char* tests, gd_index nx, gd_index ny,
                                 unsigned char* cr) {
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        gd_index p = r * nx + c;
        bool good = (tests[p] & 2) != 0;
        if (!good) {
            gd_index r0 = r > 0 ? r - 1 : 0, r1 = r < ny - 1 ? r + 1 : ny - 1;
            gd_index c0 = c > 0 ? c - 1 : 0, c1 = c < nx - 1 ? c + 1 : nx - 1;
            good = true;
            for (gd_index j = r0; j <= r1; ++j) {
                for (gd_index i = c0; i <= c1; ++i) good = good && (tests[j * nx + i] & 1);
            }
        }
        cr[p] = good ? 0 : 1;
    });
}

// What crmask_grow writes for pixel p, masked (bad) or not.
GD_INLINE void cr_grow_write(gd_index p, bool bad, const float* sci, const float* blot, float cf,
                             unsigned int crbit, unsigned int* dq, float* cor,
                             unsigned int* cor_dq, unsigned char* crmask) {
    crmask[p] = bad ? 0 : 1;
    bool good = !bad && (!dq || (dq[p] & ~crbit) == 0u);
    if (cor) cor[p] = (good ? rd_fmul(sci[p], cf) : rd_fmul(blot[p], cf)) / cf;
    if (cor_dq) cor_dq[p] = good ? 0u : crbit;
    if (dq && bad) dq[p] |= crbit;
}

GD_KERNEL void crmask_grow(const unsigned char* cr, const float* sci, const float* blot,
                           gd_index nx, gd_index ny, int grow, int ctegrow, int cte_dir,
                           double conversion, unsigned int crbit, unsigned int* dq, float* cor,
                           unsigned int* cor_dq, unsigned char* crmask) {
    const float cf = (float)conversion;
#ifndef __CUDACC__
    if (grow == 1 && (ctegrow <= 0 || cte_dir == 0)) {  // a pixel's own CR only: rows in SIMD lanes
#pragma omp parallel for schedule(static)
        for (gd_index r = 0; r < ny; ++r) {
            const gd_index p0 = r * nx, p1 = p0 + nx;
            if (!dq && !cor && !cor_dq) {  // the mask alone (the pipeline's case)
#pragma omp simd
                for (gd_index p = p0; p < p1; ++p) crmask[p] = cr[p] ? 0 : 1;
                continue;
            }
            for (gd_index p = p0; p < p1; ++p) {
                cr_grow_write(p, cr[p] != 0, sci, blot, cf, crbit, dq, cor, cor_dq, crmask);
            }
        }
        return;
    }
#endif
    gd_parallel_rows(ny, nx, [=](gd_index r, gd_index c) {
        gd_index p = r * nx + c;
        gd_index lo = grow / 2, hi = (grow - 1) / 2;
        gd_index r0 = r - lo < 0 ? 0 : r - lo, r1 = r + hi > ny - 1 ? ny - 1 : r + hi;
        gd_index c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi > nx - 1 ? nx - 1 : c + hi;
        bool bad = false;
        for (gd_index j = r0; j <= r1 && !bad; ++j) {
            for (gd_index i = c0; i <= c1; ++i) bad = bad || cr[j * nx + i];
        }
        if (!bad && ctegrow > 0 && cte_dir != 0) {
            gd_index t0 = cte_dir > 0 ? r + 1 : r - ctegrow, t1 = cte_dir > 0 ? r + ctegrow : r - 1;
            t0 = t0 < 0 ? 0 : t0;
            t1 = t1 > ny - 1 ? ny - 1 : t1;
            for (gd_index j = t0; j <= t1 && !bad; ++j) bad = cr[j * nx + c] != 0;
        }
        cr_grow_write(p, bad, sci, blot, cf, crbit, dq, cor, cor_dq, crmask);
    });
}
