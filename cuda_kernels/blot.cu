// Blot kernels: nearest, linear, poly3, poly5, lanczos3, lanczos5, sinc.
//
// One work item per output pixel k: its position (x, y) in the source image
// is pixmap[k] (0-based, integer values at pixel centres).  A position is on
// the source when 0 <= x < in_nx and 0 <= y < in_ny (half-open, as drizzle
// 3.0); anywhere else, and for a NaN position, out[k] = fillval.  On the
// source, out[k] = interpolant(x, y) * iscale.  No work item reads outside
// the source image: windows that reach past its edges are completed by an
// edge rule per interpolant instead.
//
// The interpolants (drizzle 3.0 tblot, and IRAF/drizzlepac for sinc):
//   nearest   pixel (floor(x + 0.5), floor(y + 0.5)), clamped to the last
//             column / row (drizzle 3.0 reads past the image there);
//   linear    bilinear between floor(x), floor(x) + 1; samples past the last
//             column / row repeat it (drizzle 3.0's edge rule);
//   poly3/5   Everett central-difference interpolation on a 4x4 / 6x6 window
//             starting at floor(x) - 1 / floor(x) - 2, written as separable
//             tap weights (the same polynomial); samples past an edge are
//             the odd reflection 2*edge - mirror, applied again while the
//             mirror is still outside (tiny images), so linear ramps are
//             reproduced exactly up to the borders (drizzle 3.0 instead
//             reads an uninitialised row for poly3 at y >= in_ny - 1 and an
//             unreflected row for poly5 at y >= in_ny - 3);
//   lanczosN  window floor(x) - N + 1 .. floor(x) + N; weight L(|x - i|)
//             L(|y - j|) taken from the table lut[nlut] (drizzle's: the
//             window sampled every 0.003, index truncated, zero past the
//             table); taps off the image are dropped; no normalisation;
//   sinc      IRAF ii_bisinc as used by drizzlepac's blot: 15x15 window
//             centred on (nint(x), nint(y)), weights (-1)^m taper(m) /
//             (d - m) with d = (x - nint(x)) * sinscl and the cosine-bell
//             taper (1 + a2 u + a4 u^2)^2, u = (pi / 14)^2 m^2, normalised
//             per axis; samples off the image repeat the edge pixel; when
//             |dx| and |dy| are both below 0.001 the nearest pixel is
//             returned.  (drizzlepac's C translation indexes its taper and
//             weight arrays one element off; that is not copied.)
#include "common.cuh"

enum { I_NEAREST = 0, I_LINEAR, I_POLY3, I_POLY5, I_LANCZOS3, I_LANCZOS5, I_SINC };

// How a window sample off the source image is formed.
enum { EDGE_CLAMP = 0, EDGE_REFLECT, EDGE_DROP };

struct blot_args {
    const float* data;  // (in_ny, in_nx)
    gd_index in_nx, in_ny;
    double sinscl;
    const double* lut;  // (nlut) Lanczos table, step 0.003 (lanczos only)
    gd_index nlut;
};

// Sample i of the odd extension of a line of n samples, expressed through
// samples inside the line: value = sign * v[k] + lo * v[0] + hi * v[n-1].
struct blot_reflection {
    gd_index k;
    double sign, lo, hi;
};

GD_DEVICE blot_reflection blot_reflect(gd_index i, gd_index n) {
    blot_reflection r = {i, 1.0, 0.0, 0.0};
    if (n == 1) {  // a single sample extends as a constant
        r.k = 0;
        return r;
    }
    while (r.k < 0 || r.k > n - 1) {
        if (r.k < 0) {
            r.lo += 2.0 * r.sign;
            r.k = -r.k;
        } else {
            r.hi += 2.0 * r.sign;
            r.k = 2 * (n - 1) - r.k;
        }
        r.sign = -r.sign;
    }
    return r;
}

GD_DEVICE gd_index blot_clamp(gd_index i, gd_index n) {
    return i < 0 ? 0 : (i > n - 1 ? n - 1 : i);
}

// Sample i of one source row (n samples) under edge rule EDGE.
template <int EDGE>
GD_DEVICE double blot_row_sample(const float* row, gd_index i, gd_index n) {
    if (EDGE == EDGE_CLAMP) return (double)row[blot_clamp(i, n)];
    blot_reflection r = blot_reflect(i, n);
    double v = r.sign * (double)row[r.k];
    if (r.lo != 0.0) v += r.lo * (double)row[0];
    if (r.hi != 0.0) v += r.hi * (double)row[n - 1];
    return v;
}

// Source sample (i, j) under edge rule EDGE (EDGE_DROP: 0 off the image).
template <int EDGE>
GD_DEVICE double blot_sample(const blot_args& a, gd_index i, gd_index j) {
    if (EDGE == EDGE_DROP) {
        if (i < 0 || i >= a.in_nx || j < 0 || j >= a.in_ny) return 0.0;
        return (double)a.data[j * a.in_nx + i];
    }
    if (EDGE == EDGE_CLAMP) {
        return (double)a.data[blot_clamp(j, a.in_ny) * a.in_nx + blot_clamp(i, a.in_nx)];
    }
    blot_reflection r = blot_reflect(j, a.in_ny);
    double v = r.sign * blot_row_sample<EDGE>(a.data + r.k * a.in_nx, i, a.in_nx);
    if (r.lo != 0.0) v += r.lo * blot_row_sample<EDGE>(a.data, i, a.in_nx);
    if (r.hi != 0.0) {
        v += r.hi * blot_row_sample<EDGE>(a.data + (a.in_ny - 1) * a.in_nx, i, a.in_nx);
    }
    return v;
}

// sum_r wy[r] sum_c wx[c] sample(i0 + c, j0 + r) over a W x W window.
template <int W, int EDGE>
GD_DEVICE double blot_window(const blot_args& a, gd_index i0, gd_index j0, const double* wx,
                             const double* wy) {
    double sum = 0.0;
    if (i0 >= 0 && j0 >= 0 && i0 + W <= a.in_nx && j0 + W <= a.in_ny) {
        const float* p = a.data + j0 * a.in_nx + i0;
        for (int r = 0; r < W; ++r, p += a.in_nx) {
            double s = 0.0;
            for (int c = 0; c < W; ++c) s += wx[c] * (double)p[c];
            sum += wy[r] * s;
        }
        return sum;
    }
    for (int r = 0; r < W; ++r) {
        double s = 0.0;
        for (int c = 0; c < W; ++c) s += wx[c] * blot_sample<EDGE>(a, i0 + c, j0 + r);
        sum += wy[r] * s;
    }
    return sum;
}

#if !defined(__CUDACC__) && defined(__SSE2__)
// Host path in SIMD lanes, bit for bit the same as the scalar code: every
// lane does the scalar code's operations in its order (this build has no
// fused multiply-add).  A pixel's x and y tap weights are formed together,
// one in each lane of a pair; a window on the source sums two of its rows at
// a time, one in each lane.  Windows reaching past the source keep the
// scalar edge rules, with the same weights.
#include <emmintrin.h>
#define BLOT_LANES 1
typedef double blot_d2 __attribute__((vector_size(16)));  // one SSE register, as __m128d

// wx[c] + wx[c + 1] p[c + 1] ... added to acc lane by lane for the columns
// c .. c + 3 of rows p (lane 0) and q (lane 1); wxx[c] holds wx[c] twice.
static inline __m128d blot_cols4(__m128d acc, const float* p, const float* q, const __m128d* wxx) {
    __m128 a = _mm_loadu_ps(p), b = _mm_loadu_ps(q);
    __m128 lo = _mm_unpacklo_ps(a, b), hi = _mm_unpackhi_ps(a, b);  // (p0 q0 p1 q1), (p2 q2 p3 q3)
    acc = _mm_add_pd(acc, _mm_mul_pd(wxx[0], _mm_cvtps_pd(lo)));
    acc = _mm_add_pd(acc, _mm_mul_pd(wxx[1], _mm_cvtps_pd(_mm_movehl_ps(lo, lo))));
    acc = _mm_add_pd(acc, _mm_mul_pd(wxx[2], _mm_cvtps_pd(hi)));
    return _mm_add_pd(acc, _mm_mul_pd(wxx[3], _mm_cvtps_pd(_mm_movehl_ps(hi, hi))));
}

// The same for the two columns c, c + 1.
static inline __m128d blot_cols2(__m128d acc, const float* p, const float* q, const __m128d* wxx) {
    __m128 a = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)p));
    __m128 b = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)q));
    __m128 lo = _mm_unpacklo_ps(a, b);  // (p0 q0 p1 q1)
    acc = _mm_add_pd(acc, _mm_mul_pd(wxx[0], _mm_cvtps_pd(lo)));
    return _mm_add_pd(acc, _mm_mul_pd(wxx[1], _mm_cvtps_pd(_mm_movehl_ps(lo, lo))));
}

// sum_r wy[r] sum_c wx[c] p[r * nx + c] over a W x W window (W even) lying on
// the source, p its first sample, w[c] = (wx[c], wy[c]): blot_window's sum.
template <int W>
static inline double blot_window_lanes(const float* p, gd_index nx, const blot_d2* w) {
    __m128d wxx[W];
    for (int c = 0; c < W; ++c) wxx[c] = _mm_unpacklo_pd(w[c], w[c]);
    double sum = 0.0;
    for (int r = 0; r < W; r += 2, p += 2 * nx) {
        __m128d acc = _mm_setzero_pd();
        int c = 0;
        for (; c + 4 <= W; c += 4) acc = blot_cols4(acc, p + c, p + nx + c, wxx + c);
        if (c < W) acc = blot_cols2(acc, p + c, p + nx + c, wxx + c);
        blot_d2 m = (blot_d2)_mm_mul_pd(_mm_unpackhi_pd(w[r], w[r + 1]), acc);  // wy[r] s[r], wy[r+1] s[r+1]
        sum += m[0];
        sum += m[1];
    }
    return sum;
}

// The W x W window at (i0, j0) with weight pairs w: in lanes when it lies on
// the source, else through blot_window's edge rule EDGE.
template <int W, int EDGE>
static inline double blot_window_pairs(const blot_args& a, gd_index i0, gd_index j0,
                                       const blot_d2* w) {
    if (i0 >= 0 && j0 >= 0 && i0 + W <= a.in_nx && j0 + W <= a.in_ny) {
        return blot_window_lanes<W>(a.data + j0 * a.in_nx + i0, a.in_nx, w);
    }
    double wx[W], wy[W];
    for (int c = 0; c < W; ++c) {
        wx[c] = w[c][0];
        wy[c] = w[c][1];
    }
    return blot_window<W, EDGE>(a, i0, j0, wx, wy);
}
#endif

// Everett tap weights for fraction s in [0, 1) between taps W/2-1 and W/2:
// cubic (W = 4) or quintic (W = 6) central-difference interpolation.  T is
// double, or on the host a pair of doubles (the x and y fractions in two
// SIMD lanes, each lane doing these operations in this order).
template <int W, class T>
GD_DEVICE void blot_everett(T s, T* w) {
    // products with the reciprocals: a division by a constant costs as much
    // as the rest of the weights together
    const double sixth = 1.0 / 6.0, twentieth = 1.0 / 20.0;
    T t = 1.0 - s;
    T cs = s * (s * s - 1.0) * sixth, ct = t * (t * t - 1.0) * sixth;
    if (W == 4) {
        w[0] = ct;
        w[1] = t - 2.0 * ct + cs;
        w[2] = s + ct - 2.0 * cs;
        w[3] = cs;
    } else {
        T qs = cs * (s * s - 4.0) * twentieth, qt = ct * (t * t - 4.0) * twentieth;
        w[0] = qt;
        w[1] = ct - 4.0 * qt + qs;
        w[2] = t - 2.0 * ct + 6.0 * qt + cs - 4.0 * qs;
        w[3] = s + ct - 4.0 * qt - 2.0 * cs + 6.0 * qs;
        w[4] = qt + cs - 4.0 * qs;
        w[5] = qs;
    }
}

// Lanczos window at distance dist from the look-up table (step 0.003, the
// index truncated as drizzle does; 0 past the table).
GD_DEVICE double blot_lanczos_weight(const blot_args& a, double dist) {
    gd_index idx = (gd_index)(fabs(dist) / 0.003);  // |dist| <= order + 1: no overflow
    return idx < a.nlut ? a.lut[idx] : 0.0;
}

// Normalised tapered-sinc weights of the 15 taps at offsets -7..7 from the
// nearest pixel, for the scaled fractional offset d.
GD_DEVICE void blot_sinc_weights(double d, double* w) {
    const int ns = 7;
    const double halfpi = 1.57079632679489661923;
    const double sconst = (halfpi / ns) * (halfpi / ns), a2 = -0.49670, a4 = 0.03705;
    double sum = 0.0;
    for (int m = -ns; m <= ns; ++m) {
        double ax = d - m, p;
        if (ax == 0.0) {
            p = 1.0;
        } else if (d == 0.0) {
            p = 0.0;
        } else {
            double u = sconst * m * m, taper = 1.0 + a2 * u + a4 * u * u;
            p = ((m & 1) ? -1.0 : 1.0) * taper * taper / ax;
        }
        w[m + ns] = p;
        sum += p;
    }
    for (int m = 0; m < 2 * ns + 1; ++m) w[m] /= sum;
}

// Interpolant INTERP at source position (x, y), 0 <= x < in_nx, 0 <= y < in_ny
// (non-negative, so truncation to an integer is floor).
template <int INTERP>
GD_DEVICE double blot_value(const blot_args& a, double x, double y) {
    gd_index ix = (gd_index)x, iy = (gd_index)y;
    double fx = (double)ix, fy = (double)iy;
    if (INTERP == I_NEAREST) {
        gd_index i = blot_clamp((gd_index)(x + 0.5), a.in_nx);
        gd_index j = blot_clamp((gd_index)(y + 0.5), a.in_ny);
        return (double)a.data[j * a.in_nx + i];
    }
    if (INTERP == I_LINEAR) {
#ifdef BLOT_LANES
        blot_d2 sxy = {x - fx, y - fy}, w[2] = {1.0 - sxy, sxy};
        return blot_window_pairs<2, EDGE_CLAMP>(a, ix, iy, w);
#else
        double sx = x - fx, sy = y - fy;
        double wx[2] = {1.0 - sx, sx}, wy[2] = {1.0 - sy, sy};
        return blot_window<2, EDGE_CLAMP>(a, ix, iy, wx, wy);
#endif
    }
    if (INTERP == I_POLY3 || INTERP == I_POLY5) {
        const int W = INTERP == I_POLY3 ? 4 : 6;
#ifdef BLOT_LANES
        blot_d2 w[W], sxy = {x - fx, y - fy};
        blot_everett<W>(sxy, w);
        return blot_window_pairs<W, EDGE_REFLECT>(a, ix - (W / 2 - 1), iy - (W / 2 - 1), w);
#else
        double wx[W], wy[W];
        blot_everett<W>(x - fx, wx);
        blot_everett<W>(y - fy, wy);
        return blot_window<W, EDGE_REFLECT>(a, ix - (W / 2 - 1), iy - (W / 2 - 1), wx, wy);
#endif
    }
    if (INTERP == I_LANCZOS3 || INTERP == I_LANCZOS5) {
        const int N = INTERP == I_LANCZOS3 ? 3 : 5;
        gd_index i0 = ix - N + 1, j0 = iy - N + 1;
#ifdef BLOT_LANES
        // both distances in lanes: |dist| / 0.003 truncated (below 2^31 here)
        blot_d2 w[2 * N];
        const __m128d sign = _mm_set1_pd(-0.0), step = _mm_set1_pd(0.003);
        __m128d xy = _mm_set_pd(y, x);
        for (int c = 0; c < 2 * N; ++c) {
            __m128d tap = _mm_set_pd((double)(j0 + c), (double)(i0 + c));
            __m128d q = _mm_div_pd(_mm_andnot_pd(sign, _mm_sub_pd(xy, tap)), step);
            __m128i idx = _mm_cvttpd_epi32(q);
            gd_index kx = _mm_cvtsi128_si32(idx), ky = _mm_cvtsi128_si32(_mm_srli_si128(idx, 4));
            w[c] = _mm_set_pd(ky < a.nlut ? a.lut[ky] : 0.0, kx < a.nlut ? a.lut[kx] : 0.0);
        }
        return blot_window_pairs<2 * N, EDGE_DROP>(a, i0, j0, w);
#else
        double wx[2 * N], wy[2 * N];
        for (int c = 0; c < 2 * N; ++c) {
            wx[c] = blot_lanczos_weight(a, x - (double)(i0 + c));
            wy[c] = blot_lanczos_weight(a, y - (double)(j0 + c));
        }
        return blot_window<2 * N, EDGE_DROP>(a, i0, j0, wx, wy);
#endif
    }
    // sinc
    gd_index nx = (gd_index)(x + 0.5), ny = (gd_index)(y + 0.5);
    double dx = (x - (double)nx) * a.sinscl, dy = (y - (double)ny) * a.sinscl;
    if (fabs(dx) < 0.001 && fabs(dy) < 0.001) return blot_sample<EDGE_CLAMP>(a, nx, ny);
    double wx[15], wy[15];
    blot_sinc_weights(dx, wx);
    blot_sinc_weights(dy, wy);
    return blot_window<15, EDGE_CLAMP>(a, nx - 7, ny - 7, wx, wy);
}

#define BLOT_PARAMS                                                                     \
    const float* data, const double* pixmap, float* out, gd_index in_nx, gd_index in_ny, \
        gd_index out_nx, gd_index out_ny, double iscale, double fillval, double sinscl,     \
        const double* lut, gd_index nlut

template <int INTERP>
GD_DEVICE void blot_kernel(BLOT_PARAMS) {
    blot_args a = {data, in_nx, in_ny, sinscl, lut, nlut};
    float fill = (float)fillval;
    double xlim = (double)in_nx, ylim = (double)in_ny;
    gd_parallel_for(out_nx * out_ny, [=](gd_index k) {
        double x = pixmap[2 * k], y = pixmap[2 * k + 1];
        if (x >= 0.0 && x < xlim && y >= 0.0 && y < ylim) {  // false for NaN
            out[k] = (float)(blot_value<INTERP>(a, x, y) * iscale);
        } else {
            out[k] = fill;
        }
    });
}

#define BLOT_ENTRY(NAME, INTERP)                                                          \
    GD_KERNEL void NAME(BLOT_PARAMS) {                                                    \
        blot_kernel<INTERP>(data, pixmap, out, in_nx, in_ny, out_nx, out_ny, iscale, fillval, \
                            sinscl, lut, nlut);                                           \
    }

BLOT_ENTRY(blot_nearest, I_NEAREST)
BLOT_ENTRY(blot_linear, I_LINEAR)
BLOT_ENTRY(blot_poly3, I_POLY3)
BLOT_ENTRY(blot_poly5, I_POLY5)
BLOT_ENTRY(blot_lanczos3, I_LANCZOS3)
BLOT_ENTRY(blot_lanczos5, I_LANCZOS5)
BLOT_ENTRY(blot_sinc, I_SINC)
