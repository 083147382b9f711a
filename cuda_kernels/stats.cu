// Clipped moments and histograms of an image: the pixel work of ImageStats
// (gpudrizzle/imagestats.py).  The float32 values x[0..n) are cut into
// chunks of `chunk` values; work item b reduces chunk b and writes its own
// row of the output, which the caller adds up, so results do not depend on
// how work items are spread over threads.  A work item is a thread block
// (gd_parallel_blocks of common.cuh: the three kernels are BLOCK_KERNELS),
// whose threads read the chunk's values in turn (coalesced); sums are folded
// per thread slot and combined in a fixed tree, the same on the host, so
// the host and the GPU give the same numbers.
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

// Moments of one thread slot, then of the whole chunk.
struct st_moments {
    double sum, sumsq;
    gd_index count;
    float vmin, vmax;
};

GD_BLOCK_KERNEL void stats_moments(const float* GD_RESTRICT x, gd_index n, gd_index chunk,
                                   double lo, double hi, double mean, double* GD_RESTRICT out) {
    const float flo = (float)lo, fhi = (float)hi, fmean = (float)mean;
    gd_parallel_blocks((n + chunk - 1) / chunk, [=](const gd_block& blk, gd_index b) {
        const st_moments none = {0.0, 0.0, 0, gd_inff(), -gd_inff()};
        st_moments m = blk.reduce(
            b * chunk, st_end(b, chunk, n), none,
            [=](st_moments& s, gd_index k) {
                float v = x[k];
                if (!(v >= flo && v <= fhi)) return;
                float d = rd_fadd(v, -fmean);
                s.count += 1;
                s.sum += (double)v;
                s.sumsq += (double)rd_fmul(d, d);
                s.vmin = v < s.vmin ? v : s.vmin;
                s.vmax = v > s.vmax ? v : s.vmax;
            },
            [](st_moments& a, const st_moments& c) {
                a.count += c.count;
                a.sum += c.sum;
                a.sumsq += c.sumsq;
                a.vmin = c.vmin < a.vmin ? c.vmin : a.vmin;
                a.vmax = c.vmax > a.vmax ? c.vmax : a.vmax;
            });
        if (blk.leader()) {
            double* o = out + 5 * b;
            o[0] = (double)m.count;
            o[1] = m.sum;
            o[2] = m.sumsq;
            o[3] = (double)m.vmin;
            o[4] = (double)m.vmax;
        }
    });
}

// Bin of value v: int(f * (v - lo)) in float32 arithmetic when lo <= v < hi
// (v <= hi with include_top) and the bin is below nbins, else -1.
GD_DEVICE gd_index st_bin(float v, float lo, float hi, int include_top, float f, gd_index nbins) {
    if (!(v >= lo && (include_top ? v <= hi : v < hi))) return -1;
    float i = rd_fmul(f, rd_fadd(v, -lo));
    return (double)i < (double)nbins ? (gd_index)i : -1;
}

GD_BLOCK_KERNEL void stats_histogram(const float* GD_RESTRICT x, gd_index n, gd_index chunk,
                                     double lo, double hi, int include_top, double f,
                                     gd_index nbins, unsigned int* GD_RESTRICT hist) {
    const float flo = (float)lo, fhi = (float)hi, ff = (float)f;
    gd_parallel_blocks((n + chunk - 1) / chunk, [=](const gd_block& blk, gd_index b) {
        blk.histogram(b * chunk, st_end(b, chunk, n), nbins, hist + nbins * b,
                      [=](gd_index k) { return st_bin(x[k], flo, fhi, include_top, ff, nbins); });
    });
}

GD_BLOCK_KERNEL void stats_pick(const float* GD_RESTRICT x, gd_index n, gd_index chunk,
                                double lo, double hi, int include_top, double f, gd_index nbins,
                                gd_index bin, const gd_index* GD_RESTRICT offsets,
                                float* GD_RESTRICT out) {
    const float flo = (float)lo, fhi = (float)hi, ff = (float)f;
    gd_parallel_blocks((n + chunk - 1) / chunk, [=](const gd_block& blk, gd_index b) {
        float* o = out + offsets[b];
        blk.select(
            b * chunk, st_end(b, chunk, n),
            [=](gd_index k) { return st_bin(x[k], flo, fhi, include_top, ff, nbins) == bin; },
            [=](gd_index k, gd_index pos) { o[pos] = x[k]; });
    });
}
