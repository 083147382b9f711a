// Median combination of single-drizzled images: AstroDrizzle's median step
// (drizzlepac 3.11 createMedian, minmed and stsci.image numcombine).
//
// A band of N input images is a stack data[i * pitch + k], i < n_in, k < npix
// (npix pixels of the band; pitch >= npix, chosen by the caller so that the
// inputs of one pixel do not all fall in one cache set), with weights wht
// laid out the same way.  One work item per pixel k.  Input i is unusable
// at k when its value is NaN, when wht < wthr[i] (wthr null: no weight
// masks), or when the value is outside the thresholds (value < lthresh or
// value >= hthresh; a NaN threshold is no threshold).  The g usable values
// are then reduced:
//
//   median  sorted values with nlow / nhigh dropped at the ends; when that
//           leaves nothing, nlow and nhigh are lowered together by one until
//           something is left; the middle value, or the mean of the two
//           middle ones for an even count (in double, stored as float32);
//           0 when g = 0;
//   mean    mean of the sorted values nlow .. g - nhigh - 1, summed in
//           double (in ascending order for up to 32 inputs, as numcombine;
//           in selection order beyond); 0 when fewer than nlow + nhigh + 1
//           values are usable;
//   imedian, imean  as median / mean, except that a pixel where no input
//           is usable takes the first input value (in input order) that is
//           neither 0 nor NaN as its only usable value.  (numcombine does
//           this for the first column of every row only; here every pixel
//           gets it.)
//   sum     float32 sum of all non-NaN values in input order (numcombine's
//           sum ignores masks and thresholds).
//
// minmed runs in two passes.  combine_minmed_stats: per pixel the median
// (n_in = 2: the mean) of the usable values with nhigh = 1, the minimum mn
// of the usable values (both 0 where none is usable), W = float32 sum of
// all weights, Bk = sum_i wht_i * sky_rate[i] and R = sum of rn2[i] over
// the usable inputs (float64, in input order), rms = sqrt(max(med*W + Bk +
// R, 0)) with med*W rounded to float32 first, and a flag: bit 0 where
// mn*W < med*W - nsig1 * rms, bit 1 where no input is usable.
// combine_minmed_select: per output pixel nsig = nsig2 if grow > 0 and bit 0
// is set anywhere in the (2 grow + 1)^2 box around it (clipped to the band),
// else nsig1; the result is mn where mn*W < med*W - nsig * rms, else med,
// and 0 where no input is usable.
//
// Up to 32 inputs are loaded into a local array padded with +inf to 4, 8, 16
// or 32 entries and sorted by a bitonic network: no data-dependent branches
// or indices, so the array can live in registers on a GPU.  More inputs are
// compacted in place into the band's own column of `data` (which is scratch
// and overwritten) and the needed ranks found there by quickselect, so any
// number of inputs works without shared memory or extra buffers.  (The host
// build gathers up to 1024 inputs of 16 neighbouring pixels at a time into a
// stack buffer instead, for cache locality; the same selection runs on the
// same values either way.)
#include "rounding.cuh"

enum { C_MEDIAN = 0, C_MEAN, C_IMEDIAN, C_IMEAN };

#ifdef __CUDACC__
#define MD_METHOD __device__ __forceinline__
#define MD_UNROLL _Pragma("unroll")
#else
#define MD_METHOD inline
#if defined(__clang__)
#define MD_UNROLL _Pragma("unroll")
#else
#define MD_UNROLL _Pragma("GCC unroll 32")
#endif
#endif

struct md_band {
    float* data;          // (n_in, pitch)
    const float* wht;     // (n_in, pitch) or null
    const double* wthr;   // (n_in) or null: input i is masked where wht < wthr[i]
    gd_index n_in, pitch;
    bool thresholds;      // apply lthresh / hthresh (a NaN one never rejects)
    double lthresh, hthresh;
};

// Whether value x of input i at pixel k is usable.
GD_DEVICE bool md_usable(const md_band& b, gd_index i, gd_index k, float x) {
    if (!gd_isfinite(x)) return false;  // NaN and +-inf are no data
    if (b.wthr && (double)b.wht[i * b.pitch + k] < b.wthr[i]) return false;
    return !(b.thresholds && ((double)x < b.lthresh || (double)x >= b.hthresh));
}

// The usable values of one pixel, and what the i-types and minmed need besides.
struct md_pixel {
    gd_index g;      // number of usable values
    float fill;      // first value that is neither 0 nor non-finite, in input order ...
    bool has_fill;   // ... if there is one
    double rn2sum;   // sum of rn2[i] over usable inputs (when rn2 is given)
};

GD_DEVICE void md_note(md_pixel& p, float x, bool usable, const double* rn2, gd_index i) {
    bool first = !p.has_fill && x != 0.0f && gd_isfinite(x);
    p.fill = first ? x : p.fill;
    p.has_fill = p.has_fill || first;
    p.g += usable ? 1 : 0;
    if (rn2) p.rn2sum += usable ? rn2[i] : 0.0;  // + 0.0 leaves a sum >= +0 unchanged
}

// ---------------------------------------------------------------- up to 32 inputs

// Values of pixel k into v[0..P): usable ones as they are, the rest +inf.
template <int P>
GD_DEVICE md_pixel md_load(const md_band& b, gd_index k, float* v, const double* rn2) {
    md_pixel p = {0, 0.0f, false, 0.0};
    MD_UNROLL
    for (int i = 0; i < P; ++i) {
        float x = gd_inff();
        if (i < b.n_in) {
            float y = b.data[i * b.pitch + k];
            bool usable = md_usable(b, i, k, y);
            md_note(p, y, usable, rn2, i);
            x = usable ? y : x;
        }
        v[i] = x;
    }
    return p;
}

// One stage (block size K, distance J) of an ascending bitonic sorting
// network on P = 2^n values (no NaN), then the stages after it; every index
// is a compile-time constant once the loop over i is unrolled.
template <int P, int K, int J>
GD_DEVICE void md_bitonic_stage(float* v) {
    MD_UNROLL
    for (int i = 0; i < P; ++i) {
        int l = (i ^ J) & (P - 1);  // < P already; the mask tells GCC
        if (l > i) {
            float a = v[i], c = v[l];
            float lo = a < c ? a : c, hi = c < a ? a : c;  // minss / maxss on x86
            bool up = (i & K) == 0;
            v[i] = up ? lo : hi;
            v[l] = up ? hi : lo;
        }
    }
    if constexpr (J > 1) {
        md_bitonic_stage<P, K, J / 2>(v);
    } else if constexpr (K < P) {
        md_bitonic_stage<P, 2 * K, K>(v);
    }
}

template <int P>
GD_DEVICE void md_bitonic(float* v) {
    md_bitonic_stage<P, 2, 1>(v);
}

// v[r] without a data-dependent index.
template <int P>
GD_DEVICE float md_pick(const float* v, gd_index r) {
    float x = v[0];
    MD_UNROLL
    for (int i = 1; i < P; ++i) x = i == r ? v[i] : x;
    return x;
}

// nlow / nhigh lowered together while they would drop all g values.
GD_DEVICE void md_reduce_trim(gd_index g, gd_index* nlow, gd_index* nhigh) {
    while (*nlow + *nhigh >= g) {
        if (*nhigh > 0) --*nhigh;
        if (*nlow > 0) --*nlow;
    }
}

template <int P>
GD_DEVICE double md_median_sorted(const float* v, gd_index g, gd_index nlow, gd_index nhigh) {
    if (g <= 0) return 0.0;
    md_reduce_trim(g, &nlow, &nhigh);
    gd_index m = g - nlow - nhigh, k = nlow + m / 2;
    double upper = (double)md_pick<P>(v, k);
    if (m % 2) return upper;
    return (upper + (double)md_pick<P>(v, k - 1)) / 2.0;
}

template <int P>
GD_DEVICE double md_mean_sorted(const float* v, gd_index g, gd_index nlow, gd_index nhigh) {
    gd_index m = g - nlow - nhigh;
    if (m <= 0) return 0.0;
    double sum = 0.0;
    MD_UNROLL
    for (int i = 0; i < P; ++i) sum += (i >= nlow && i < nlow + m) ? (double)v[i] : 0.0;
    return sum / (double)m;
}

template <int KIND, int P>
GD_DEVICE float md_combine_small(const md_band& b, gd_index k, int nlow, int nhigh) {
    float v[P];
    md_pixel p = md_load<P>(b, k, v, (const double*)0);
    md_bitonic<P>(v);
    if ((KIND == C_IMEDIAN || KIND == C_IMEAN) && p.g == 0 && p.has_fill) {
        v[0] = p.fill;
        p.g = 1;
    }
    if (KIND == C_MEDIAN || KIND == C_IMEDIAN) return (float)md_median_sorted<P>(v, p.g, nlow, nhigh);
    return (float)md_mean_sorted<P>(v, p.g, nlow, nhigh);
}

// ---------------------------------------------------------------- any number of inputs

// One pixel's column of the band in global memory, seen as an array.
struct md_column {
    float* base;
    gd_index stride;
    MD_METHOD float& operator[](gd_index i) const { return base[i * stride]; }
};

// Usable values of pixel k to v[0..g), in input order.  v may be the
// pixel's own column: value i is read before anything is written to
// position i.
template <class V>
GD_DEVICE md_pixel md_compact(const md_band& b, gd_index k, V v, const double* rn2) {
    md_pixel p = {0, 0.0f, false, 0.0};
    for (gd_index i = 0; i < b.n_in; ++i) {
        float x = b.data[i * b.pitch + k];
        bool usable = md_usable(b, i, k, x);
        gd_index at = p.g;
        md_note(p, x, usable, rn2, i);
        if (usable) v[at] = x;
    }
    return p;
}

// Reorder v[lo..hi] (inclusive, no NaN) so that v[k] is its (k - lo)-th
// smallest value, v[lo..k) <= v[k] <= v(k..hi].  Quickselect around a
// median-of-three pivot p with branch-free partitions (an unconditional swap
// and a counter step per element, so no mispredicted branches on the host
// and no divergence on a GPU): first the values < p to the front, then,
// among the rest, the values == p; any number of ties costs one pass.
// Short ranges are finished by insertion sort.
template <class V>
GD_DEVICE void md_select(V v, gd_index lo, gd_index hi, gd_index k) {
    while (hi - lo > 8) {
        float a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        gd_index less = lo;
        for (gd_index i = lo; i <= hi; ++i) {
            float x = v[i];
            v[i] = v[less];
            v[less] = x;
            less += x < pivot ? 1 : 0;
        }
        if (k < less) {
            hi = less - 1;
            continue;
        }
        gd_index equal = less;
        for (gd_index i = less; i <= hi; ++i) {
            float x = v[i];
            v[i] = v[equal];
            v[equal] = x;
            equal += pivot < x ? 0 : 1;
        }
        if (k < equal) return;  // v[less..equal) all equal the pivot
        lo = equal;
    }
    for (gd_index i = lo + 1; i <= hi; ++i) {
        float x = v[i];
        gd_index j = i - 1;
        while (j >= lo && v[j] > x) {
            v[j + 1] = v[j];
            --j;
        }
        v[j + 1] = x;
    }
}

template <class V>
GD_DEVICE double md_median_any(V v, gd_index g, gd_index nlow, gd_index nhigh) {
    if (g <= 0) return 0.0;
    md_reduce_trim(g, &nlow, &nhigh);
    gd_index m = g - nlow - nhigh, k = nlow + m / 2;
    md_select(v, 0, g - 1, k);
    double upper = (double)v[k];
    if (m % 2) return upper;
    float lower = v[k - 1];  // the largest of v[0..k), all <= v[k]
    for (gd_index i = 0; i < k - 1; ++i) lower = v[i] > lower ? v[i] : lower;
    return (upper + (double)lower) / 2.0;
}

template <class V>
GD_DEVICE double md_mean_any(V v, gd_index g, gd_index nlow, gd_index nhigh) {
    gd_index m = g - nlow - nhigh;
    if (m <= 0) return 0.0;
    if (nlow > 0) md_select(v, 0, g - 1, nlow);
    if (nhigh > 0) md_select(v, nlow, g - 1, nlow + m - 1);
    double sum = 0.0;
    for (gd_index i = nlow; i < nlow + m; ++i) sum += (double)v[i];
    return sum / (double)m;
}

// The combined value from the compacted usable values v[0..p.g).
template <int KIND, class V>
GD_DEVICE float md_finish(V v, md_pixel p, int nlow, int nhigh) {
    if ((KIND == C_IMEDIAN || KIND == C_IMEAN) && p.g == 0 && p.has_fill) {
        v[0] = p.fill;
        p.g = 1;
    }
    if (KIND == C_MEDIAN || KIND == C_IMEDIAN) return (float)md_median_any(v, p.g, nlow, nhigh);
    return (float)md_mean_any(v, p.g, nlow, nhigh);
}

// minmed's running weight sums of one pixel: W (float32) and Bk (float64).
struct md_weights {
    float w;
    double bk;
};

GD_DEVICE void md_add_weight(md_weights& s, float wi, double rate) {
    s.w = rd_fadd(s.w, wi);
    s.bk = rd_dadd(s.bk, rd_dmul((double)wi, rate));
}

#ifndef __CUDACC__
// Host path for 33 .. MD_HOST_BUFFER inputs: blocks of MD_BLOCK neighbouring
// pixels are gathered input by input, so every cache line of the band is
// read once, into a stack buffer where each pixel's values are contiguous;
// then finish(k, values, md_pixel, md_weights) runs per pixel.  The same
// values in the same order as the per-pixel path, so the same results.
#define MD_HOST_BUFFER 1024
#define MD_BLOCK 16
#define MD_AHEAD 8

template <class Finish>
GD_DEVICE void md_host_blocks(const md_band& b, gd_index npix, const double* rn2,
                              const double* sky_rate, Finish finish) {
    gd_parallel_for((npix + MD_BLOCK - 1) / MD_BLOCK, [=](gd_index blk) {
        float vals[MD_BLOCK * MD_HOST_BUFFER];
        md_pixel p[MD_BLOCK];
        md_weights s[MD_BLOCK];
        gd_index k0 = blk * MD_BLOCK, nb = npix - k0 < MD_BLOCK ? npix - k0 : MD_BLOCK;
        for (gd_index j = 0; j < nb; ++j) {
            p[j] = {0, 0.0f, false, 0.0};
            s[j] = {0.0f, 0.0};
        }
        for (gd_index i = 0; i < b.n_in; ++i) {
            const float* row = b.data + i * b.pitch + k0;
            if (i + MD_AHEAD < b.n_in) {  // the inputs' lines are too many streams for the prefetcher
                __builtin_prefetch(row + MD_AHEAD * b.pitch);
                if (b.wht) __builtin_prefetch(b.wht + (i + MD_AHEAD) * b.pitch + k0);
            }
            for (gd_index j = 0; j < nb; ++j) {
                float x = row[j];
                bool usable = md_usable(b, i, k0 + j, x);
                gd_index at = p[j].g;
                md_note(p[j], x, usable, rn2, i);
                if (usable) vals[j * b.n_in + at] = x;
                if (sky_rate) md_add_weight(s[j], b.wht[i * b.pitch + k0 + j], sky_rate[i]);
            }
        }
        for (gd_index j = 0; j < nb; ++j) finish(k0 + j, vals + j * b.n_in, p[j], s[j]);
    });
}
#endif

// ---------------------------------------------------------------- entries

#define COMBINE_PARAMS                                                                  \
    float *data, const float *wht, const double *wthr, gd_index n_in, gd_index npix,    \
        gd_index pitch, int nlow, int nhigh, double lthresh, double hthresh, float *out

template <int KIND>
GD_DEVICE void combine_kernel(COMBINE_PARAMS) {
    md_band b = {data, wht, wthr, n_in, pitch, true, lthresh, hthresh};
#ifndef __CUDACC__
    if (n_in > 32 && n_in <= MD_HOST_BUFFER) {
        md_host_blocks(b, npix, (const double*)0, (const double*)0,
                       [&](gd_index k, float* v, const md_pixel& p, const md_weights&) {
                           out[k] = md_finish<KIND>(v, p, nlow, nhigh);
                       });
        return;
    }
#endif
    gd_parallel_for(npix, [=](gd_index k) {
        float r;
        if (b.n_in <= 4) {
            r = md_combine_small<KIND, 4>(b, k, nlow, nhigh);
        } else if (b.n_in <= 8) {
            r = md_combine_small<KIND, 8>(b, k, nlow, nhigh);
        } else if (b.n_in <= 16) {
            r = md_combine_small<KIND, 16>(b, k, nlow, nhigh);
        } else if (b.n_in <= 32) {
            r = md_combine_small<KIND, 32>(b, k, nlow, nhigh);
        } else {
            md_column v = {b.data + k, b.pitch};
            r = md_finish<KIND>(v, md_compact(b, k, v, (const double*)0), nlow, nhigh);
        }
        out[k] = r;
    });
}

#define COMBINE_ENTRY(NAME, KIND)                                                   \
    GD_KERNEL void NAME(COMBINE_PARAMS) {                                           \
        combine_kernel<KIND>(data, wht, wthr, n_in, npix, pitch, nlow, nhigh, lthresh, \
                             hthresh, out);                                         \
    }

COMBINE_ENTRY(combine_median, C_MEDIAN)
COMBINE_ENTRY(combine_mean, C_MEAN)
COMBINE_ENTRY(combine_imedian, C_IMEDIAN)
COMBINE_ENTRY(combine_imean, C_IMEAN)

GD_KERNEL void combine_sum(const float* data, gd_index n_in, gd_index npix, gd_index pitch,
                           float* out) {
    gd_parallel_for(npix, [=](gd_index k) {
        float s = 0.0f;
        for (gd_index i = 0; i < n_in; ++i) {
            float x = data[i * pitch + k];
            if (gd_isfinite(x)) s += x;
        }
        out[k] = s;
    });
}

// minmed's median (n_in = 2: mean) with nhigh = 1 and the minimum, from the
// usable values v[0..p.g) (0 for both without any).
template <class V>
GD_DEVICE void md_minmed_any(V v, const md_pixel& p, gd_index n_in, float* med, float* min) {
    *min = 0.0f;
    if (p.g > 0) {
        *min = v[0];
        for (gd_index i = 1; i < p.g; ++i) *min = v[i] < *min ? v[i] : *min;
    }
    *med = n_in == 2 ? (float)md_mean_any(v, p.g, 0, 0) : (float)md_median_any(v, p.g, 0, 1);
}

template <int P>
GD_DEVICE md_pixel md_minmed_small(const md_band& b, gd_index k, const double* rn2, float* med,
                                   float* min) {
    float v[P];
    md_pixel p = md_load<P>(b, k, v, rn2);
    md_bitonic<P>(v);
    *min = p.g > 0 ? v[0] : 0.0f;
    *med = b.n_in == 2 ? (float)md_mean_sorted<P>(v, p.g, 0, 0)
                       : (float)md_median_sorted<P>(v, p.g, 0, 1);
    return p;
}

struct md_minmed_out {
    float *med, *mn, *wsum;
    double* rms;
    int* flags;
    double nsig1;
};

GD_DEVICE void md_minmed_store(const md_minmed_out& o, gd_index k, float vmed, float vmin,
                               const md_pixel& p, const md_weights& s) {
    float medw = rd_fmul(vmed, s.w), minw = rd_fmul(vmin, s.w);
    double var = rd_dadd(rd_dadd((double)medw, s.bk), p.rn2sum);
    double sd = sqrt(var > 0.0 ? var : 0.0);  // fmax(var, 0): NaN gives 0
    double thr = rd_dadd((double)medw, -rd_dmul(sd, o.nsig1));
    o.med[k] = vmed;
    o.mn[k] = vmin;
    o.wsum[k] = s.w;
    o.rms[k] = sd;
    o.flags[k] = ((double)minw < thr ? 1 : 0) | (p.g == 0 ? 2 : 0);
}

GD_KERNEL void combine_minmed_stats(float* data, const float* wht, const double* wthr,
                                    gd_index n_in, gd_index npix, gd_index pitch,
                                    const double* sky_rate, const double* rn2, double nsig1,
                                    float* med, float* mn, float* wsum, double* rms,
                                    int* flags) {
    md_band b = {data, wht, wthr, n_in, pitch, false, 0.0, 0.0};
    md_minmed_out o = {med, mn, wsum, rms, flags, nsig1};
#ifndef __CUDACC__
    if (n_in > 32 && n_in <= MD_HOST_BUFFER) {
        md_host_blocks(b, npix, rn2, sky_rate,
                       [&](gd_index k, float* v, const md_pixel& p, const md_weights& s) {
                           float vmed, vmin;
                           md_minmed_any(v, p, n_in, &vmed, &vmin);
                           md_minmed_store(o, k, vmed, vmin, p, s);
                       });
        return;
    }
#endif
    gd_parallel_for(npix, [=](gd_index k) {
        md_weights s = {0.0f, 0.0};
        for (gd_index i = 0; i < n_in; ++i) md_add_weight(s, wht[i * pitch + k], sky_rate[i]);
        float vmed, vmin;
        md_pixel p;
        if (n_in <= 4) {
            p = md_minmed_small<4>(b, k, rn2, &vmed, &vmin);
        } else if (n_in <= 8) {
            p = md_minmed_small<8>(b, k, rn2, &vmed, &vmin);
        } else if (n_in <= 16) {
            p = md_minmed_small<16>(b, k, rn2, &vmed, &vmin);
        } else if (n_in <= 32) {
            p = md_minmed_small<32>(b, k, rn2, &vmed, &vmin);
        } else {
            md_column v = {b.data + k, b.pitch};
            p = md_compact(b, k, v, rn2);
            md_minmed_any(v, p, n_in, &vmed, &vmin);
        }
        md_minmed_store(o, k, vmed, vmin, p, s);
    });
}

GD_KERNEL void combine_minmed_select(const float* med, const float* mn, const float* wsum,
                                     const double* rms, const int* flags, gd_index nx,
                                     gd_index nrows, gd_index row0, gd_index nout, int grow,
                                     double nsig1, double nsig2, float* out) {
    gd_parallel_rows(nout, nx, [=](gd_index kr, gd_index c) {
        gd_index k = kr * nx + c, r = row0 + kr, p = r * nx + c;
        if (flags[p] & 2) {
            out[k] = 0.0f;
            return;
        }
        double nsig = nsig1;
        if (grow > 0) {
            gd_index r0 = r - grow < 0 ? 0 : r - grow, r1 = r + grow > nrows - 1 ? nrows - 1 : r + grow;
            gd_index c0 = c - grow < 0 ? 0 : c - grow, c1 = c + grow > nx - 1 ? nx - 1 : c + grow;
            bool near = false;
            for (gd_index j = r0; j <= r1 && !near; ++j) {
                for (gd_index i = c0; i <= c1; ++i) near = near || (flags[j * nx + i] & 1);
            }
            if (near) nsig = nsig2;
        }
        float medw = rd_fmul(med[p], wsum[p]), minw = rd_fmul(mn[p], wsum[p]);
        double thr = rd_dadd((double)medw, -rd_dmul(rms[p], nsig));
        out[k] = (double)minw < thr ? mn[p] : med[p];
    });
}
