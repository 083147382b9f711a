// Median combination of single-drizzled images: AstroDrizzle's median step
// (drizzlepac 3.11 createMedian, minmed and stsci.image numcombine).
//
// A band of N input images is a stack data[i * npix + k], i < n_in, k < npix
// (npix pixels of the band), with weights wht laid out the same way.  One
// work item per pixel k.  Input i is unusable at k when its value is NaN,
// when wht < wthr[i] (wthr null: no weight masks), or when the value is
// outside the thresholds (value < lthresh or value >= hthresh; a NaN
// threshold is no threshold).  The g usable values are then reduced:
//
//   median  sorted values with nlow / nhigh dropped at the ends; when that
//           leaves nothing, nlow and nhigh are lowered together by one until
//           something is left; the middle value, or the mean of the two
//           middle ones for an even count (in double, stored as float32);
//           0 when g = 0;
//   mean    mean of the sorted values nlow .. g - nhigh - 1 (summed in
//           ascending order in double); 0 when fewer than nlow + nhigh + 1
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
// Up to MD_SMALL inputs are sorted in a local array.  More inputs are
// compacted in place into the band's own column of `data` (which is scratch
// and overwritten) and the needed ranks found there by quickselect, so any
// number of inputs works without shared memory or extra buffers.
#include "rounding.cuh"

enum { C_MEDIAN = 0, C_MEAN, C_IMEDIAN, C_IMEAN };

#define MD_SMALL 32

#ifdef __CUDACC__
#define MD_METHOD __device__ __forceinline__
#else
#define MD_METHOD inline
#endif

// One pixel's column of the band in global memory, seen as an array.
struct md_column {
    float* base;
    gd_index stride;
    MD_METHOD float& operator[](gd_index i) const { return base[i * stride]; }
};

template <class V>
GD_DEVICE void md_swap(V v, gd_index a, gd_index b) {
    float t = v[a];
    v[a] = v[b];
    v[b] = t;
}

template <class V>
GD_DEVICE void md_sort(V v, gd_index n) {
    for (gd_index a = 1; a < n; ++a) {
        float x = v[a];
        gd_index b = a - 1;
        while (b >= 0 && v[b] > x) {
            v[b + 1] = v[b];
            --b;
        }
        v[b + 1] = x;
    }
}

// Reorder v[lo..hi] (inclusive, no NaN) so that v[k] is its (k - lo)-th
// smallest value, v[lo..k) <= v[k] <= v(k..hi].  Hoare partitions around a
// median-of-three pivot.
template <class V>
GD_DEVICE void md_select(V v, gd_index lo, gd_index hi, gd_index k) {
    while (lo < hi) {
        gd_index mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo]) md_swap(v, mid, lo);
        if (v[hi] < v[lo]) md_swap(v, hi, lo);
        if (v[hi] < v[mid]) md_swap(v, hi, mid);
        float pivot = v[mid];
        gd_index i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) ++i;
            while (pivot < v[j]) --j;
            if (i <= j) {
                md_swap(v, i, j);
                ++i;
                --j;
            }
        }
        if (k <= j) {
            hi = j;
        } else if (k >= i) {
            lo = i;
        } else {
            return;  // v(j..i) all equal the pivot
        }
    }
}

// Median of the g usable values v[0..g) after dropping nlow / nhigh.
template <class V>
GD_DEVICE double md_median(V v, gd_index g, gd_index nlow, gd_index nhigh, bool sorted) {
    if (g <= 0) return 0.0;
    while (nlow + nhigh >= g) {
        if (nhigh > 0) --nhigh;
        if (nlow > 0) --nlow;
    }
    gd_index m = g - nlow - nhigh, k = nlow + m / 2;
    if (!sorted) md_select(v, 0, g - 1, k);
    double upper = (double)v[k];
    if (m % 2) return upper;
    float lower = v[k - 1];
    if (!sorted) {  // the largest of v[0..k), all <= v[k]
        for (gd_index i = 0; i < k - 1; ++i) lower = v[i] > lower ? v[i] : lower;
    }
    return (upper + (double)lower) / 2.0;
}

// Mean of the usable values ranked nlow .. g - nhigh - 1.
template <class V>
GD_DEVICE double md_mean(V v, gd_index g, gd_index nlow, gd_index nhigh, bool sorted) {
    gd_index m = g - nlow - nhigh;
    if (m <= 0) return 0.0;
    if (!sorted) {
        if (nlow > 0) md_select(v, 0, g - 1, nlow);
        if (nhigh > 0) md_select(v, nlow, g - 1, nlow + m - 1);
    }
    double sum = 0.0;
    for (gd_index i = nlow; i < nlow + m; ++i) sum += (double)v[i];
    return sum / (double)m;
}

struct md_band {
    float* data;          // (n_in, npix)
    const float* wht;     // (n_in, npix) or null
    const double* wthr;   // (n_in) or null: input i is masked where wht < wthr[i]
    gd_index n_in, npix;
    bool thresholds;          // apply lthresh / hthresh (a NaN one never rejects)
    double lthresh, hthresh;
};

// Copy the usable values of pixel k into v[0..g) in input order and return
// g.  *fill gets the first value that is neither 0 nor NaN and *has_fill
// says whether there is one; with rn2 given, *rsum gets the sum of rn2[i]
// over usable inputs.
// v may be the pixel's own column of b.data: value i is read before any
// write to position i.
template <class V>
GD_DEVICE gd_index md_gather(const md_band& b, gd_index k, V v, float* fill, bool* has_fill,
                             const double* rn2, double* rsum) {
    gd_index g = 0;
    double r = 0.0;
    for (gd_index i = 0; i < b.n_in; ++i) {
        float x = b.data[i * b.npix + k];
        if (gd_isnan(x)) continue;
        if (!*has_fill && x != 0.0f) {
            *fill = x;
            *has_fill = true;
        }
        if (b.wthr && (double)b.wht[i * b.npix + k] < b.wthr[i]) continue;
        if (b.thresholds && ((double)x < b.lthresh || (double)x >= b.hthresh)) continue;
        v[g++] = x;
        if (rn2) r += rn2[i];
    }
    if (rsum) *rsum = r;
    return g;
}

template <int KIND, class V>
GD_DEVICE float md_reduce(V v, gd_index g, float fill, bool has_fill, int nlow, int nhigh,
                          bool sorted) {
    const bool ifill = KIND == C_IMEDIAN || KIND == C_IMEAN;
    if (ifill && g == 0 && has_fill) {
        v[0] = fill;
        g = 1;
    }
    if (KIND == C_MEDIAN || KIND == C_IMEDIAN) return (float)md_median(v, g, nlow, nhigh, sorted);
    return (float)md_mean(v, g, nlow, nhigh, sorted);
}

#define COMBINE_PARAMS                                                                  \
    float *data, const float *wht, const double *wthr, gd_index n_in, gd_index npix,    \
        int nlow, int nhigh, double lthresh, double hthresh, float *out

template <int KIND>
GD_DEVICE void combine_kernel(COMBINE_PARAMS) {
    md_band b = {data, wht, wthr, n_in, npix, true, lthresh, hthresh};
    gd_parallel_for(npix, [&](gd_index k) {
        float fill = 0.0f;
        bool has_fill = false;
        if (b.n_in <= MD_SMALL) {
            float local[MD_SMALL];
            gd_index g = md_gather(b, k, local, &fill, &has_fill, (const double*)0, (double*)0);
            md_sort(local, g);
            out[k] = md_reduce<KIND>(local, g, fill, has_fill, nlow, nhigh, true);
        } else {
            md_column col = {b.data + k, b.npix};
            gd_index g = md_gather(b, k, col, &fill, &has_fill, (const double*)0, (double*)0);
            out[k] = md_reduce<KIND>(col, g, fill, has_fill, nlow, nhigh, false);
        }
    });
}

#define COMBINE_ENTRY(NAME, KIND)                                                   \
    GD_KERNEL void NAME(COMBINE_PARAMS) {                                           \
        combine_kernel<KIND>(data, wht, wthr, n_in, npix, nlow, nhigh, lthresh,     \
                             hthresh, out);                                         \
    }

COMBINE_ENTRY(combine_median, C_MEDIAN)
COMBINE_ENTRY(combine_mean, C_MEAN)
COMBINE_ENTRY(combine_imedian, C_IMEDIAN)
COMBINE_ENTRY(combine_imean, C_IMEAN)

GD_KERNEL void combine_sum(const float* data, gd_index n_in, gd_index npix, float* out) {
    gd_parallel_for(npix, [&](gd_index k) {
        float s = 0.0f;
        for (gd_index i = 0; i < n_in; ++i) {
            float x = data[i * npix + k];
            if (!gd_isnan(x)) s += x;
        }
        out[k] = s;
    });
}

// med (n_in = 2: mean) of the usable values v[0..g) with nhigh = 1.
template <class V>
GD_DEVICE float md_minmed_median(V v, gd_index g, gd_index n_in, bool sorted) {
    if (n_in == 2) return (float)md_mean(v, g, 0, 0, sorted);
    return (float)md_median(v, g, 0, 1, sorted);
}

GD_KERNEL void combine_minmed_stats(float* data, const float* wht, const double* wthr,
                                    gd_index n_in, gd_index npix, const double* sky_rate,
                                    const double* rn2, double nsig1, float* med, float* mn,
                                    float* wsum, double* rms, int* flags) {
    md_band b = {data, wht, wthr, n_in, npix, false, 0.0, 0.0};
    gd_parallel_for(npix, [&](gd_index k) {
        float w = 0.0f;
        double bk = 0.0;
        for (gd_index i = 0; i < n_in; ++i) {
            float wi = wht[i * npix + k];
            w = rd_fadd(w, wi);
            bk = rd_dadd(bk, rd_dmul((double)wi, sky_rate[i]));
        }
        float fill = 0.0f, vmed = 0.0f, vmin = 0.0f;
        bool has_fill = false;
        double r = 0.0;
        gd_index g;
        if (n_in <= MD_SMALL) {
            float local[MD_SMALL];
            g = md_gather(b, k, local, &fill, &has_fill, rn2, &r);
            md_sort(local, g);
            if (g > 0) vmin = local[0];
            if (g > 0) vmed = md_minmed_median(local, g, n_in, true);
        } else {
            md_column col = {data + k, npix};
            g = md_gather(b, k, col, &fill, &has_fill, rn2, &r);
            if (g > 0) {
                vmin = col[0];
                for (gd_index i = 1; i < g; ++i) vmin = col[i] < vmin ? col[i] : vmin;
                vmed = md_minmed_median(col, g, n_in, false);
            }
        }
        float medw = rd_fmul(vmed, w), minw = rd_fmul(vmin, w);
        double var = rd_dadd(rd_dadd((double)medw, bk), r);
        double s = sqrt(var > 0.0 ? var : 0.0);  // fmax(var, 0): NaN gives 0
        double thr = rd_dadd((double)medw, -rd_dmul(s, nsig1));
        med[k] = vmed;
        mn[k] = vmin;
        wsum[k] = w;
        rms[k] = s;
        flags[k] = ((double)minw < thr ? 1 : 0) | (g == 0 ? 2 : 0);
    });
}

GD_KERNEL void combine_minmed_select(const float* med, const float* mn, const float* wsum,
                                     const double* rms, const int* flags, gd_index nx,
                                     gd_index nrows, gd_index row0, gd_index nout, int grow,
                                     double nsig1, double nsig2, float* out) {
    gd_parallel_for(nout * nx, [&](gd_index k) {
        gd_index r = row0 + k / nx, c = k % nx, p = r * nx + c;
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
                for (gd_index i = c0; i <= c1; ++i) {
                    if (flags[j * nx + i] & 1) {
                        near = true;
                        break;
                    }
                }
            }
            if (near) nsig = nsig2;
        }
        float medw = rd_fmul(med[p], wsum[p]), minw = rd_fmul(mn[p], wsum[p]);
        double thr = rd_dadd((double)medw, -rd_dmul(rms[p], nsig));
        out[k] = (double)minw < thr ? mn[p] : med[p];
    });
}
