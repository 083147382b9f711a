// Clipped moments and histograms of an image: the pixel work of ImageStats
// (gpudrizzle/imagestats.py).  The float32 values x[0..n) are cut into
// chunks of `chunk` values; work item b reduces chunk b and writes its own
// row of the output, which the caller adds up, so results do not depend on
// how work items are spread over threads.
//
// stats_moments: out[5 b .. 5 b + 4] = count, sum, sumsq, min, max of the
// chunk's kept values, lo <= v <= hi (NaN is never kept); sumsq adds
// (v - mean)^2 with the difference and its square each rounded to float32,
// as ImageStats computes them; min / max are +inf / -inf when nothing is
// kept.  lo, hi and mean are float32 values passed as double.
//
// stats_histogram: hist[nbins b + i] = number of the chunk's values v with
// lo <= v < hi (v <= hi when include_top) and i = int(f * (v - lo)) < nbins,
// in float32 arithmetic (stsci.imagestats' populate1DHist).
//
// stats_pick: the values of one bin of that histogram, in order: chunk b
// writes its values of bin `bin` from out[offsets[b]] on (offsets: the
// counts of that bin in the chunks before b).
#include "rounding.cuh"

GD_DEVICE gd_index st_end(gd_index b, gd_index chunk, gd_index n) {
    return (b + 1) * chunk < n ? (b + 1) * chunk : n;
}

GD_KERNEL void stats_moments(const float* x, gd_index n, gd_index chunk, double lo, double hi,
                             double mean, double* out) {
    const float flo = (float)lo, fhi = (float)hi, fmean = (float)mean;
    gd_parallel_for((n + chunk - 1) / chunk, [=](gd_index b) {
        double count = 0.0, sum = 0.0, sumsq = 0.0;
        float vmin = gd_inff(), vmax = -gd_inff();
        for (gd_index k = b * chunk, end = st_end(b, chunk, n); k < end; ++k) {
            float v = x[k];
            if (!(v >= flo && v <= fhi)) continue;
            float d = rd_fadd(v, -fmean);
            count += 1.0;
            sum += (double)v;
            sumsq += (double)rd_fmul(d, d);
            vmin = v < vmin ? v : vmin;
            vmax = v > vmax ? v : vmax;
        }
        double* o = out + 5 * b;
        o[0] = count;
        o[1] = sum;
        o[2] = sumsq;
        o[3] = (double)vmin;
        o[4] = (double)vmax;
    });
}

// Bin of value v: int(f * (v - lo)) in float32 arithmetic when lo <= v < hi
// (v <= hi with include_top) and the bin is below nbins, else -1.
GD_DEVICE gd_index st_bin(float v, float lo, float hi, int include_top, float f, gd_index nbins) {
    if (!(v >= lo && (include_top ? v <= hi : v < hi))) return -1;
    float i = rd_fmul(f, rd_fadd(v, -lo));
    return (double)i < (double)nbins ? (gd_index)i : -1;
}

GD_KERNEL void stats_histogram(const float* x, gd_index n, gd_index chunk, double lo, double hi,
                               int include_top, double f, gd_index nbins, unsigned int* hist) {
    const float flo = (float)lo, fhi = (float)hi, ff = (float)f;
    gd_parallel_for((n + chunk - 1) / chunk, [=](gd_index b) {
        unsigned int* h = hist + nbins * b;
        for (gd_index i = 0; i < nbins; ++i) h[i] = 0;
        for (gd_index k = b * chunk, end = st_end(b, chunk, n); k < end; ++k) {
            gd_index i = st_bin(x[k], flo, fhi, include_top, ff, nbins);
            if (i >= 0) h[i] += 1;
        }
    });
}

GD_KERNEL void stats_pick(const float* x, gd_index n, gd_index chunk, double lo, double hi,
                          int include_top, double f, gd_index nbins, gd_index bin,
                          const gd_index* offsets, float* out) {
    const float flo = (float)lo, fhi = (float)hi, ff = (float)f;
    gd_parallel_for((n + chunk - 1) / chunk, [=](gd_index b) {
        float* o = out + offsets[b];
        for (gd_index k = b * chunk, end = st_end(b, chunk, n); k < end; ++k) {
            if (st_bin(x[k], flo, fhi, include_top, ff, nbins) == bin) *o++ = x[k];
        }
    });
}
