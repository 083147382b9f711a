// Machine probes for benchmarks/cpu_model.py: memory bandwidth and peak
// double-precision arithmetic rates, compiled with the same compiler and
// flags as the cpu backend's kernels so that they measure what those can reach.
// Every function returns the best time in seconds of `reps` runs.
#include <omp.h>
#include <stddef.h>

extern "C" {

// sum of a[0..n): streaming read (vectorised through the OpenMP simd reduction)
double probe_read(const double* a, long n, int reps, int threads, double* sink) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double s = 0.0, t = omp_get_wtime();
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(+ : s)
        for (long i = 0; i < n; ++i) s += a[i];
        t = omp_get_wtime() - t;
        *sink += s;
        best = t < best ? t : best;
    }
    return best;
}

// a[i] = v: streaming write (reps = 1 on fresh memory times first touch)
double probe_write(double* a, long n, int reps, int threads, double v) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double t = omp_get_wtime();
#pragma omp parallel for simd num_threads(threads) schedule(static)
        for (long i = 0; i < n; ++i) a[i] = v;
        t = omp_get_wtime() - t;
        best = t < best ? t : best;
    }
    return best;
}

// b[i] = a[i]
double probe_copy(const double* a, double* b, long n, int reps, int threads) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double t = omp_get_wtime();
#pragma omp parallel for simd num_threads(threads) schedule(static)
        for (long i = 0; i < n; ++i) b[i] = a[i];
        t = omp_get_wtime() - t;
        best = t < best ? t : best;
    }
    return best;
}

// a[i] = b[i] + s * c[i] (STREAM triad)
double probe_triad(double* a, const double* b, const double* c, long n, int reps, int threads,
                   double s) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double t = omp_get_wtime();
#pragma omp parallel for simd num_threads(threads) schedule(static)
        for (long i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
        t = omp_get_wtime() - t;
        best = t < best ? t : best;
    }
    return best;
}

// Arithmetic throughput: NACC independent chains, `iters` steps each, per
// thread; x = x + c (add) or x = x * m + c (mul + add, two operations; one
// FMA only where the flags allow contraction).  Scalar chains are kept out of
// the vectorisers; vector chains use the widest vector the flags enable.
#define NACC 12
#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
typedef double vdouble __attribute__((vector_size(VBYTES)));

int probe_vector_doubles() { return VBYTES / 8; }

#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR_ONLY __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#else
#define SCALAR_ONLY
#endif

SCALAR_ONLY static double scalar_chains(long iters, int fma, double seed) {
    double x[NACC];
    for (int k = 0; k < NACC; ++k) x[k] = seed + k;
    const double m = 0.9999999, c = 1e-7;
    if (fma) {
        for (long i = 0; i < iters; ++i)
            for (int k = 0; k < NACC; ++k) x[k] = x[k] * m + c;
    } else {
        for (long i = 0; i < iters; ++i)
            for (int k = 0; k < NACC; ++k) x[k] = x[k] + c;
    }
    double s = 0.0;
    for (int k = 0; k < NACC; ++k) s += x[k];
    return s;
}

static double vector_chains(long iters, int fma, double seed) {
    vdouble x[NACC];
    const vdouble zero = {}, m = zero + 0.9999999, c = zero + 1e-7;
    for (int k = 0; k < NACC; ++k) x[k] = zero + (seed + k);
    if (fma) {
        for (long i = 0; i < iters; ++i)
            for (int k = 0; k < NACC; ++k) x[k] = x[k] * m + c;
    } else {
        for (long i = 0; i < iters; ++i)
            for (int k = 0; k < NACC; ++k) x[k] = x[k] + c;
    }
    double s = 0.0;
    for (int k = 0; k < NACC; ++k)
        for (int l = 0; l < VBYTES / 8; ++l) s += x[k][l];
    return s;
}

// Best seconds for `iters` steps of the chains on each of `threads` threads;
// the operations done are threads * iters * NACC * (1 or 2) * (1 or lanes).
double probe_flops(long iters, int threads, int vector, int fma, int reps, double* sink) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        double s = 0.0, t = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : s)
        s += vector ? vector_chains(iters, fma, omp_get_thread_num())
                    : scalar_chains(iters, fma, omp_get_thread_num());
        t = omp_get_wtime() - t;
        *sink += s;
        best = t < best ? t : best;
    }
    return best;
}

int probe_nacc() { return NACC; }
}
