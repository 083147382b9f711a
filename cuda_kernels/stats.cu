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

#if !defined(__CUDACC__) && defined(__SSE2__)
#include <immintrin.h>
#define ST_SIMD_MOMENTS 1

// Host path of stats_moments: the same slots and combination tree as
// gd_block::reduce, each slot's values added in the same order, several
// slots at a time in SIMD registers (SSE2, or AVX2 where the CPU has it).
// A value that is not kept contributes +0.0 to the sums (which start at
// +0.0 and so are never -0.0: adding +0.0 changes no bit) and +inf / -inf
// to the min / max (never chosen by the strict comparisons), which leaves
// every result bit as the scalar loop's.  The slot states are held as
// separate arrays so that the tree's levels vectorise too.
struct st_slots {
    double sum[GD_BLOCK], sumsq[GD_BLOCK];
    int count[GD_BLOCK];  // chunk < 2^31 values
    float vmin[GD_BLOCK], vmax[GD_BLOCK];
};

// Rows of the chunk taken together: a band of ST_BAND rows (16 KB) is read by
// every group of slots before the next band, so the chunk is read in order,
// a band at a time from the L1 cache, instead of a slot group walking all its
// rows 1 KB apart (which kept the loads waiting on memory).  Each slot still
// adds its values row after row.
#define ST_BAND 16

// While the group of `width` slots from t works on the band that ends at row
// r1, it asks for its share of the next band: ST_BAND * width values from
// ST_BAND * t on.  The groups' shares cover the band, so all of it is on its
// way before it is read.  After a chunk's last band these are the first rows
// of the chunk after it, which the same thread mostly reads next (a prefetch
// never faults, also past the end of the values).  Without this the first
// band of every chunk waits on memory: the hardware does not see the pattern.
static inline void st_prefetch_band(const float* x, gd_index r1, int t, int width) {
    const float* next = x + r1 * GD_BLOCK + ST_BAND * t;
    for (int k = 0; k < ST_BAND * width; k += 16) __builtin_prefetch(next + k);  // 64-byte lines
}

// The full rows (rows values per slot) from x[0] on, added to the slot states.
static void st_rows_sse2(const float* GD_RESTRICT x, gd_index rows, float flo, float fhi,
                         float fmean, st_slots* GD_RESTRICT s) {
    const __m128 vlo = _mm_set1_ps(flo), vhi = _mm_set1_ps(fhi), nmean = _mm_set1_ps(-fmean);
    const __m128 inf = _mm_set1_ps(gd_inff()), sign = _mm_set1_ps(-0.0f);
    for (gd_index r0 = 0; r0 < rows; r0 += ST_BAND) {
        const gd_index r1 = r0 + ST_BAND < rows ? r0 + ST_BAND : rows;
        for (int t = 0; t < GD_BLOCK; t += 4) {
            __m128d s01 = _mm_loadu_pd(s->sum + t), s23 = _mm_loadu_pd(s->sum + t + 2);
            __m128d q01 = _mm_loadu_pd(s->sumsq + t), q23 = _mm_loadu_pd(s->sumsq + t + 2);
            __m128i cnt = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s->count + t));
            __m128 vmin = _mm_loadu_ps(s->vmin + t), vmax = _mm_loadu_ps(s->vmax + t);
            st_prefetch_band(x, r1, t, 4);
            const float* p = x + r0 * GD_BLOCK + t;
            for (gd_index r = r0; r < r1; ++r, p += GD_BLOCK) {
                const __m128 v = _mm_loadu_ps(p);
                const __m128 keep = _mm_and_ps(_mm_cmpge_ps(v, vlo), _mm_cmple_ps(v, vhi));
                const __m128 d = _mm_add_ps(v, nmean);  // rd_fadd(v, -fmean)
                const __m128 kv = _mm_and_ps(keep, v);
                const __m128 kq = _mm_and_ps(keep, _mm_mul_ps(d, d));
                s01 = _mm_add_pd(s01, _mm_cvtps_pd(kv));
                s23 = _mm_add_pd(s23, _mm_cvtps_pd(_mm_movehl_ps(kv, kv)));
                q01 = _mm_add_pd(q01, _mm_cvtps_pd(kq));
                q23 = _mm_add_pd(q23, _mm_cvtps_pd(_mm_movehl_ps(kq, kq)));
                cnt = _mm_sub_epi32(cnt, _mm_castps_si128(keep));
                const __m128 low = _mm_or_ps(kv, _mm_andnot_ps(keep, inf));  // v, else +inf
                vmin = _mm_min_ps(low, vmin);  // low < vmin ? low : vmin
                vmax = _mm_max_ps(_mm_or_ps(low, _mm_andnot_ps(keep, sign)), vmax);  // v, else -inf
            }
            _mm_storeu_pd(s->sum + t, s01);
            _mm_storeu_pd(s->sum + t + 2, s23);
            _mm_storeu_pd(s->sumsq + t, q01);
            _mm_storeu_pd(s->sumsq + t + 2, q23);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(s->count + t), cnt);
            _mm_storeu_ps(s->vmin + t, vmin);
            _mm_storeu_ps(s->vmax + t, vmax);
        }
    }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define ST_AVX2_MOMENTS 1
// The same, eight slots at a time.
__attribute__((target("avx2"))) static void st_rows_avx2(const float* GD_RESTRICT x, gd_index rows,
                                                        float flo, float fhi, float fmean,
                                                        st_slots* GD_RESTRICT s) {
    const __m256 vlo = _mm256_set1_ps(flo), vhi = _mm256_set1_ps(fhi);
    const __m256 nmean = _mm256_set1_ps(-fmean);
    const __m256 inf = _mm256_set1_ps(gd_inff()), sign = _mm256_set1_ps(-0.0f);
    for (gd_index r0 = 0; r0 < rows; r0 += ST_BAND) {
        const gd_index r1 = r0 + ST_BAND < rows ? r0 + ST_BAND : rows;
        for (int t = 0; t < GD_BLOCK; t += 8) {
            __m256d s0 = _mm256_loadu_pd(s->sum + t), s1 = _mm256_loadu_pd(s->sum + t + 4);
            __m256d q0 = _mm256_loadu_pd(s->sumsq + t), q1 = _mm256_loadu_pd(s->sumsq + t + 4);
            __m256i cnt = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s->count + t));
            __m256 vmin = _mm256_loadu_ps(s->vmin + t), vmax = _mm256_loadu_ps(s->vmax + t);
            const float* p = x + r0 * GD_BLOCK + t;
            st_prefetch_band(x, r1, t, 8);
            for (gd_index r = r0; r < r1; ++r, p += GD_BLOCK) {
                const __m256 v = _mm256_loadu_ps(p);
                const __m256 keep = _mm256_and_ps(_mm256_cmp_ps(v, vlo, _CMP_GE_OQ),
                                                  _mm256_cmp_ps(v, vhi, _CMP_LE_OQ));
                const __m256 d = _mm256_add_ps(v, nmean);
                const __m256 kv = _mm256_and_ps(keep, v);
                const __m256 kq = _mm256_and_ps(keep, _mm256_mul_ps(d, d));
                s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(kv)));
                s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(kv, 1)));
                q0 = _mm256_add_pd(q0, _mm256_cvtps_pd(_mm256_castps256_ps128(kq)));
                q1 = _mm256_add_pd(q1, _mm256_cvtps_pd(_mm256_extractf128_ps(kq, 1)));
                cnt = _mm256_sub_epi32(cnt, _mm256_castps_si256(keep));
                const __m256 low = _mm256_or_ps(kv, _mm256_andnot_ps(keep, inf));
                vmin = _mm256_min_ps(low, vmin);
                vmax = _mm256_max_ps(_mm256_or_ps(low, _mm256_andnot_ps(keep, sign)), vmax);
            }
            _mm256_storeu_pd(s->sum + t, s0);
            _mm256_storeu_pd(s->sum + t + 4, s1);
            _mm256_storeu_pd(s->sumsq + t, q0);
            _mm256_storeu_pd(s->sumsq + t + 4, q1);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(s->count + t), cnt);
            _mm256_storeu_ps(s->vmin + t, vmin);
            _mm256_storeu_ps(s->vmax + t, vmax);
        }
    }
}
#endif

static st_moments st_moments_chunk(const float* GD_RESTRICT x, gd_index begin, gd_index end,
                                   float flo, float fhi, float fmean, bool avx2) {
    st_slots s;
    for (int t = 0; t < GD_BLOCK; ++t) {
        s.sum[t] = s.sumsq[t] = 0.0;
        s.count[t] = 0;
        s.vmin[t] = gd_inff();
        s.vmax[t] = -gd_inff();
    }
    const gd_index rows = (end - begin) / GD_BLOCK;  // rows every slot has
#ifdef ST_AVX2_MOMENTS
    if (avx2)
        st_rows_avx2(x + begin, rows, flo, fhi, fmean, &s);
    else
#endif
        st_rows_sse2(x + begin, rows, flo, fhi, fmean, &s);
    (void)avx2;
    // the last, partial row: slots t < end - tail
    const gd_index tail = begin + rows * GD_BLOCK;
    for (gd_index k = tail; k < end; ++k) {
        const int t = (int)(k - tail);
        const float v = x[k];
        if (!(v >= flo && v <= fhi)) continue;
        const float d = rd_fadd(v, -fmean);
        s.count[t] += 1;
        s.sum[t] += (double)v;
        s.sumsq[t] += (double)rd_fmul(d, d);
        s.vmin[t] = v < s.vmin[t] ? v : s.vmin[t];
        s.vmax[t] = v > s.vmax[t] ? v : s.vmax[t];
    }
    for (int w = GD_BLOCK / 2; w > 0; w >>= 1) {  // gd_block::reduce's tree
        for (int t = 0; t < w; ++t) {
            s.count[t] += s.count[t + w];
            s.sum[t] += s.sum[t + w];
            s.sumsq[t] += s.sumsq[t + w];
            const float mn = s.vmin[t + w], mx = s.vmax[t + w];
            s.vmin[t] = mn < s.vmin[t] ? mn : s.vmin[t];
            s.vmax[t] = mx > s.vmax[t] ? mx : s.vmax[t];
        }
    }
    return {s.sum[0], s.sumsq[0], (gd_index)s.count[0], s.vmin[0], s.vmax[0]};
}
#endif

GD_BLOCK_KERNEL void stats_moments(const float* GD_RESTRICT x, gd_index n, gd_index chunk,
                                   double lo, double hi, double mean, double* GD_RESTRICT out) {
    const float flo = (float)lo, fhi = (float)hi, fmean = (float)mean;
#ifdef ST_SIMD_MOMENTS
    if (chunk < 0x7fffffff) {  // int counts per slot
        const gd_index nchunks = (n + chunk - 1) / chunk;
#ifdef ST_AVX2_MOMENTS
        const bool avx2 = __builtin_cpu_supports("avx2");
#else
        const bool avx2 = false;
#endif
#pragma omp parallel for schedule(static)
        for (gd_index b = 0; b < nchunks; ++b) {
            const st_moments m = st_moments_chunk(x, b * chunk, st_end(b, chunk, n), flo, fhi,
                                                  fmean, avx2);
            double* o = out + 5 * b;
            o[0] = (double)m.count;
            o[1] = m.sum;
            o[2] = m.sumsq;
            o[3] = (double)m.vmin;
            o[4] = (double)m.vmax;
        }
        return;
    }
#endif
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
