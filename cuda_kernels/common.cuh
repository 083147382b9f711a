// Shared definitions that let one kernel source compile two ways:
//   * by NVRTC for CUDA devices (__CUDACC__ defined): grid-stride loops and
//     hardware atomics;
//   * by the host C++ compiler with OpenMP: the same per-pixel bodies run
//     over a conflict-free tile schedule, with atomics only where two tiles
//     processed at the same time could touch the same output pixel.
// Kernel code uses only what is defined here: GD_KERNEL, GD_DEVICE (GD_INLINE
// where the host compiler must inline too, GD_LAMBDA_INLINE for a scatter
// body), gd_add/gd_or, gd_scatter and the small math helpers.  A scatter body
// must ask its guard (gd_atomic / gd_guard) before every write: on the host,
// only that keeps tiles that run at the same time apart.
#pragma once

#ifdef __CUDACC__
#define GD_KERNEL extern "C" __global__
#define GD_DEVICE __device__ __forceinline__
#define GD_INLINE __device__ __forceinline__
#define GD_LAMBDA_INLINE
#define GD_RESTRICT __restrict__
#else
#include <math.h>
#include <stdint.h>
#include <vector>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#define GD_KERNEL extern "C"
#define GD_DEVICE static inline
#define GD_INLINE static inline __attribute__((always_inline))
#define GD_LAMBDA_INLINE __attribute__((always_inline))
#define GD_RESTRICT __restrict__
#endif

typedef long long gd_index;

#ifdef __CUDACC__
#define GD_MEMBER __device__ __forceinline__
#else
#define GD_MEMBER inline
#endif

// What a scatter body may write, passed to it by gd_scatter (on the host a
// gd_guard, below, with the same members): value tells whether output updates
// must be atomic; admits(ilo, ihi, jlo, jhi) whether a drop may write output
// pixels [ilo, ihi] x [jlo, jhi] now, and if not, defer(k) sets input pixel k
// aside to be dropped later.  On CUDA every drop is admitted.
template <bool A>
struct gd_atomic {
    static constexpr bool value = A;
    GD_MEMBER bool admits(gd_index, gd_index, gd_index, gd_index) const { return true; }
    GD_MEMBER void defer(gd_index) const {}
};

#ifdef __CUDACC__
template <bool A>
GD_DEVICE void gd_add(double* p, double v) { atomicAdd(p, v); }
template <bool A>
GD_DEVICE void gd_or(int* p, int v) { atomicOr(p, v); }
template <bool A>
GD_DEVICE void gd_or(unsigned int* p, unsigned int v) { atomicOr(p, v); }
GD_DEVICE void gd_count(int* p, int v) { atomicAdd(p, v); }
#else
template <bool A>
GD_DEVICE void gd_add(double* p, double v) {
    if (A) {
#pragma omp atomic
        *p += v;
    } else {
        *p += v;
    }
}
template <bool A, class T>
GD_DEVICE void gd_or(T* p, T v) {
    if (A) {
#pragma omp atomic
        *p |= v;
    } else {
        *p |= v;
    }
}
GD_DEVICE void gd_count(int* p, int v) {
#pragma omp atomic
    *p += v;
}
#endif

#ifdef __CUDACC__
GD_DEVICE float gd_inff() { return __int_as_float(0x7f800000); }
#else
GD_DEVICE float gd_inff() { return INFINITY; }
#endif

GD_DEVICE double gd_min(double a, double b) { return a < b ? a : b; }
GD_DEVICE double gd_max(double a, double b) { return a > b ? a : b; }
GD_DEVICE bool gd_isnan(double v) { return v != v; }
GD_DEVICE bool gd_isfinite(double v) { return v - v == 0.0; }

// floor() and round() without a libm call on hosts lacking SSE4.1; exact for
// all doubles (beyond 2^52 every double is an integer already).
GD_DEVICE double gd_floor(double v) {
    if (!(fabs(v) < 4503599627370496.0)) return v;
    double t = (double)(gd_index)v;
    return t > v ? t - 1.0 : t;
}

// Round half away from zero, as C round() (drizzle's nintd).
GD_DEVICE double gd_round(double v) {
    if (!(fabs(v) < 4503599627370496.0)) return v;
    double t = (double)(gd_index)v, r = v - t;
    return r >= 0.5 ? t + 1.0 : (r <= -0.5 ? t - 1.0 : t);
}

// Bilinear interpolation of a pixel map (ny, nx, 2) at input position (x, y).
// The cell is floor(x), clamped to [0, n-2], so positions past the border are
// extrapolated from the last cell.  Needs nx >= 2 and ny >= 2.  Returns false
// when the result is not finite (a NaN node was used).
GD_DEVICE bool gd_map_point(const double* GD_RESTRICT pixmap, gd_index nx, gd_index ny,
                            double x, double y, double* ox, double* oy) {
    double fx = gd_min(gd_max(gd_floor(x), 0.0), (double)(nx - 2));
    double fy = gd_min(gd_max(gd_floor(y), 0.0), (double)(ny - 2));
    gd_index i0 = (gd_index)fx, j0 = (gd_index)fy;
    double u = x - fx, v = y - fy;
    const double* p00 = pixmap + 2 * (j0 * nx + i0);
    const double* p01 = p00 + 2 * nx;
    double w00 = (1.0 - u) * (1.0 - v), w10 = u * (1.0 - v);
    double w01 = (1.0 - u) * v, w11 = u * v;
    *ox = w00 * p00[0] + w10 * p00[2] + w01 * p01[0] + w11 * p01[2];
    *oy = w00 * p00[1] + w10 * p00[3] + w01 * p01[1] + w11 * p01[3];
    return !(gd_isnan(*ox) || gd_isnan(*oy));
}

// Run body(k) for k in [0, n): independent work items (e.g. one per output
// pixel) that never write the same location.
#ifdef __CUDACC__
template <class Body>
__device__ void gd_parallel_for(gd_index n, Body body) {
    for (gd_index k = blockIdx.x * (gd_index)blockDim.x + threadIdx.x; k < n;
         k += (gd_index)blockDim.x * gridDim.x) {
        body(k);
    }
}
#else
// Each thread runs a private copy of the body: with values captured by copy
// ([=]) its fields stay in registers, since no output store can alias them.
template <class Body>
static void gd_parallel_for(gd_index n, Body body) {
#pragma omp parallel
    {
        Body own = body;
#pragma omp for schedule(static)
        for (gd_index k = 0; k < n; ++k) own(k);
    }
}
#endif

// Run body(r, c) for every (row, column) of an nrows x ncols block: the
// same as gd_parallel_for over k = r * ncols + c, without a division per
// item on the host.
#ifdef __CUDACC__
template <class Body>
__device__ void gd_parallel_rows(gd_index nrows, gd_index ncols, Body body) {
    gd_parallel_for(nrows * ncols, [&](gd_index k) { body(k / ncols, k % ncols); });
}
#else
template <class Body>
static void gd_parallel_rows(gd_index nrows, gd_index ncols, Body body) {
#pragma omp parallel for schedule(static)
    for (gd_index r = 0; r < nrows; ++r) {
        Body row_body = body;  // private copy, as in gd_parallel_for
        for (gd_index c = 0; c < ncols; ++c) row_body(r, c);
    }
}
#endif

// Geometry of a scatter: which input pixels are visited and how far, in the
// output frame, one input pixel's contribution can reach (used by the host
// schedule only).  A drop reaches at most reach_out output pixels beyond the
// hull of the map positions of the input pixels within reach_in of it, plus,
// at the image borders, where its corners are extrapolated up to extrap
// input pixels past the last map node, a margin from the border cells.
struct gd_scatter_geom {
    const double* pixmap;  // (in_ny, in_nx, 2)
    gd_index in_nx, in_ny;
    gd_index x0, x1, y0, y1;  // inclusive input box
    int reach_in;             // input pixels
    double extrap;            // input pixels (0: positions are never extrapolated)
    double reach_out;         // output pixels
    int* line_miss;           // (y1 - y0 + 1): input pixels that hit nothing
};

#ifdef __CUDACC__
// Every input pixel in the box, one per thread, atomics always.
template <class Body>
__device__ void gd_scatter(const gd_scatter_geom& g, Body body) {
    gd_index w = g.x1 - g.x0 + 1, n = w * (g.y1 - g.y0 + 1);
    for (gd_index k = blockIdx.x * (gd_index)blockDim.x + threadIdx.x; k < n;
         k += (gd_index)blockDim.x * gridDim.x) {
        gd_index j = g.y0 + k / w, i = g.x0 + k % w;
        if (!body(i, j, gd_atomic<true>())) gd_count(&g.line_miss[j - g.y0], 1);
    }
}
#else
// Host schedule.  The input box is cut into square tiles coloured like a 2x2
// checkerboard; tiles of one colour are at least one tile apart, so their
// output footprints normally do not overlap and they can run in parallel
// with plain adds.  Each tile's footprint is estimated from the pixel map
// nodes on its rim (with a margin for the drop size and for extrapolation at
// the borders), and if any two tiles of a colour overlap, that colour runs
// with atomics.  Otherwise each drop is checked against its tile's footprint
// before it writes (gd_guard): one that would write outside (possible where
// the map folds or bulges within a tile) is set aside and dropped after all
// tiles, alone.  So the map is read once, by the drops.
struct gd_box {
    double xlo, xhi, ylo, yhi;
};

// The box of a guard without a limit: the whole plane.
static const gd_box gd_whole_plane = {-INFINITY, INFINITY, -INFINITY, INFINITY};

template <bool A>
struct gd_guard {
    static constexpr bool value = A;
    gd_box box;                       // output pixels this tile's drops may write
    std::vector<gd_index>* deferred;  // where drops outside go; null: no limit
    bool admits(gd_index ilo, gd_index ihi, gd_index jlo, gd_index jhi) const {
        return !deferred || (ilo >= box.xlo && ihi <= box.xhi && jlo >= box.ylo && jhi <= box.yhi);
    }
    void defer(gd_index k) const { deferred->push_back(k); }
    // the box admits compares with (all of the plane without a limit)
    gd_box limits() const {
        return deferred ? box : gd_whole_plane;
    }
};

GD_DEVICE bool gd_box_overlap(const gd_box& a, const gd_box& b) {
    return a.xlo <= b.xhi && b.xlo <= a.xhi && a.ylo <= b.yhi && b.ylo <= a.yhi;
}

static gd_box gd_tile_footprint(const gd_scatter_geom& g, gd_index tx0, gd_index tx1,
                                gd_index ty0, gd_index ty1) {
    gd_index r = g.reach_in;
    gd_index ax0 = tx0 - r < 0 ? 0 : tx0 - r, ax1 = tx1 + r > g.in_nx - 1 ? g.in_nx - 1 : tx1 + r;
    gd_index ay0 = ty0 - r < 0 ? 0 : ty0 - r, ay1 = ty1 + r > g.in_ny - 1 ? g.in_ny - 1 : ty1 + r;
    bool border = g.extrap > 0.0 &&
                  (ax0 == 0 || ay0 == 0 || ax1 == g.in_nx - 1 || ay1 == g.in_ny - 1);
    gd_box b = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    double step = 0.0;
    // the rim's nodes; comparisons written so that NaN positions are ignored
    auto node = [&](gd_index i, gd_index j) {
        const double* p = g.pixmap + 2 * (j * g.in_nx + i);
        double x = p[0], y = p[1];
        b.xlo = x < b.xlo ? x : b.xlo;
        b.xhi = x > b.xhi ? x : b.xhi;
        b.ylo = y < b.ylo ? y : b.ylo;
        b.yhi = y > b.yhi ? y : b.yhi;
        if (!border) return;
        double d[4] = {0.0, 0.0, 0.0, 0.0};
        if (i < ax1) d[0] = fabs(p[2] - p[0]), d[1] = fabs(p[3] - p[1]);
        if (j < ay1) d[2] = fabs(p[2 * g.in_nx] - p[0]), d[3] = fabs(p[2 * g.in_nx + 1] - p[1]);
        for (int k = 0; k < 4; ++k) step = d[k] > step ? d[k] : step;
    };
    for (gd_index i = ax0; i <= ax1; ++i) {
        node(i, ay0);
        node(i, ay1);
    }
    for (gd_index j = ay0 + 1; j < ay1; ++j) {
        node(ax0, j);
        node(ax1, j);
    }
    if (b.xlo > b.xhi) return b;  // no finite node on the rim: every drop is set aside
    double h = g.extrap, m = (2.0 * h + 2.0 * (1.0 + h) * (1.0 + h)) * step + g.reach_out + 2.0;
    b.xlo -= m;
    b.xhi += m;
    b.ylo -= m;
    b.yhi += m;
    return b;
}

template <bool A, class RowBody>
static void gd_run_tile(const gd_scatter_geom& g, gd_index tx0, gd_index tx1, gd_index ty0,
                        gd_index ty1, const RowBody& body, const gd_guard<A>& guard) {
    RowBody own = body;  // private copy, as in gd_parallel_for
    for (gd_index j = ty0; j <= ty1; ++j) {
        int miss = own(tx0, tx1, j, guard);
        if (miss) gd_count(&g.line_miss[j - g.y0], miss);
    }
}

// The tile schedule with a row body: body(i0, i1, j, guard) drops input pixels i0..i1
// of row j and returns how many of them hit nothing (a deferred drop counts when it
// is dropped).
template <class RowBody>
static void gd_scatter_rows(const gd_scatter_geom& g, RowBody body) {
    gd_index w = g.x1 - g.x0 + 1, h = g.y1 - g.y0 + 1;
    if (w <= 0 || h <= 0) return;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    // Large tiles stream memory best; keep at least 16 tiles per thread.
    gd_index T = (gd_index)sqrt((double)w * (double)h / (16.0 * nthreads));
    T = T < 32 ? 32 : (T > 512 ? 512 : T);
    gd_index ntx = (w + T - 1) / T, nty = (h + T - 1) / T, ntiles = ntx * nty;
    // inclusive input box of tile t
    auto tile = [&](gd_index t, gd_index* x0, gd_index* x1, gd_index* y0, gd_index* y1) {
        *x0 = g.x0 + (t % ntx) * T;
        *y0 = g.y0 + (t / ntx) * T;
        *x1 = *x0 + T - 1 < g.x1 ? *x0 + T - 1 : g.x1;
        *y1 = *y0 + T - 1 < g.y1 ? *y0 + T - 1 : g.y1;
    };
    if (nthreads == 1 || ntiles < 4) {  // the tiles in turn, for their locality
        for (gd_index t = 0; t < ntiles; ++t) {
            gd_index x0, x1, y0, y1;
            tile(t, &x0, &x1, &y0, &y1);
            gd_run_tile(g, x0, x1, y0, y1, body, gd_guard<false>{gd_whole_plane, nullptr});
        }
        return;
    }
    std::vector<gd_box> boxes(ntiles);
    std::vector<std::vector<gd_index>> deferred(ntiles);
#pragma omp parallel for schedule(dynamic, 4)
    for (gd_index t = 0; t < ntiles; ++t) {
        gd_index x0, x1, y0, y1;
        tile(t, &x0, &x1, &y0, &y1);
        boxes[t] = gd_tile_footprint(g, x0, x1, y0, y1);
    }
    for (int colour = 0; colour < 4; ++colour) {
        std::vector<gd_index> tiles;
        for (gd_index t = 0; t < ntiles; ++t) {
            if ((t % ntx) % 2 == colour % 2 && (t / ntx) % 2 == colour / 2) tiles.push_back(t);
        }
        gd_index nt = (gd_index)tiles.size();
        bool conflict = false;
        for (gd_index a = 0; a < nt && !conflict; ++a) {
            for (gd_index b = a + 1; b < nt; ++b) {
                if (gd_box_overlap(boxes[tiles[a]], boxes[tiles[b]])) {
                    conflict = true;
                    break;
                }
            }
        }
#pragma omp parallel for schedule(dynamic, 1)
        for (gd_index k = 0; k < nt; ++k) {
            gd_index x0, x1, y0, y1;
            tile(tiles[k], &x0, &x1, &y0, &y1);
            if (conflict) {
                gd_run_tile(g, x0, x1, y0, y1, body, gd_guard<true>{gd_whole_plane, nullptr});
            } else {
                gd_guard<false> guard = {boxes[tiles[k]], &deferred[tiles[k]]};
                gd_run_tile(g, x0, x1, y0, y1, body, guard);
            }
        }
    }
    RowBody own = body;
    for (gd_index t = 0; t < ntiles; ++t) {  // the drops set aside, in order
        for (gd_index k : deferred[t]) {
            gd_index j = k / g.in_nx, i = k % g.in_nx;
            int miss = own(i, i, j, gd_guard<false>{gd_whole_plane, nullptr});
            if (miss) gd_count(&g.line_miss[j - g.y0], miss);
        }
    }
}

// The tile schedule with a pixel body: body(i, j, guard) drops input pixel (i, j) and
// returns whether it reached any output pixel.
template <class Body>
static void gd_scatter(const gd_scatter_geom& g, Body body) {
    gd_scatter_rows(g, [=](gd_index i0, gd_index i1, gd_index j, const auto& guard)
                           GD_LAMBDA_INLINE {
        int miss = 0;
        for (gd_index i = i0; i <= i1; ++i) miss += !body(i, j, guard);
        return miss;
    });
}
#endif

// ===========================================================================
// Block-level primitives: one thread block per work item.
//
// Kernels listed in gpudrizzle.kernels.BLOCK_KERNELS are launched with one
// block of GD_BLOCK threads per work item (the cuda backend's BLOCK, which
// must equal GD_BLOCK).  gd_parallel_blocks(nblocks, body) runs
// body(blk, b) for every work item b; inside it, the block's methods spread
// a range of values over the block's GD_BLOCK "slots" (threads): slot t
// takes values begin + t, begin + t + GD_BLOCK, ... so a warp reads
// consecutive values (coalesced loads on a GPU).
//
//   blk.reduce(begin, end, init, acc, comb): each slot folds its values into
//       its own state (acc(state, k), values in index order), then the
//       GD_BLOCK states are combined in a fixed tree (comb(a, b): a <- a + b,
//       slot t with slot t + w for w = GD_BLOCK / 2, ..., 1).  Every thread
//       gets the result.  The order of operations does not depend on
//       scheduling, and the host runs the very same order, so floating-point
//       results are the same on both sides and from run to run.
//   blk.histogram(begin, end, nbins, row, bin_of): row[0..nbins) = counts of
//       bin_of(k) (a bin, or < 0 for none) over the range.
//   blk.select(begin, end, pred, emit): emit(k, pos) for every k with
//       pred(k), pos = its rank among them in index order; returns their count.
//   blk.leader(): true in one thread of the block (for writing results).
//
// On CUDA the block uses shared memory, __syncthreads and warp votes; every
// thread of the block must call the methods (they hold barriers), which
// gd_parallel_blocks guarantees as long as body does not return early in
// some threads only.  On the host a whole block runs in one OpenMP thread,
// the blocks spread over the threads, and nothing is shared.
// ===========================================================================

#define GD_BLOCK 256                  // threads per block (cuda.py BLOCK)
#define GD_WARPS (GD_BLOCK / 32)
#define GD_SHARED_BINS 4096           // histograms up to this many bins count in shared memory

#ifdef __CUDACC__
#define GD_BLOCK_KERNEL extern "C" __global__ __launch_bounds__(GD_BLOCK)
#else
#define GD_BLOCK_KERNEL extern "C"
#endif

#ifdef __CUDACC__
struct gd_block {
    int t;  // this thread's slot

    __device__ bool leader() const { return t == 0; }

    template <class S, class Acc, class Comb>
    __device__ S reduce(gd_index begin, gd_index end, S init, Acc acc, Comb comb) const {
        __shared__ __align__(16) unsigned char raw[GD_BLOCK * sizeof(S)];
        S* buf = reinterpret_cast<S*>(raw);
        S s = init;
        for (gd_index k = begin + t; k < end; k += GD_BLOCK) acc(s, k);
        buf[t] = s;
        __syncthreads();
        for (int w = GD_BLOCK / 2; w >= 32; w >>= 1) {
            if (t < w) comb(buf[t], buf[t + w]);
            __syncthreads();
        }
        if (t < 32) {  // the last steps within warp 0
            for (int w = 16; w > 0; w >>= 1) {
                if (t < w) comb(buf[t], buf[t + w]);
                __syncwarp();
            }
        }
        __syncthreads();
        S r = buf[0];
        __syncthreads();  // buf may be reused by the next call
        return r;
    }

    template <class BinOf>
    __device__ void histogram(gd_index begin, gd_index end, gd_index nbins, unsigned int* row,
                              BinOf bin_of) const {
        if (nbins <= 0) return;
        if (nbins > GD_SHARED_BINS) {  // count straight into the block's own row
            for (gd_index i = t; i < nbins; i += GD_BLOCK) row[i] = 0;
            __syncthreads();
            for (gd_index k = begin + t; k < end; k += GD_BLOCK) {
                gd_index i = bin_of(k);
                if (i >= 0) atomicAdd(row + i, 1u);
            }
            __syncthreads();
            return;
        }
        // Small tables: one copy per warp (or per group of warps) spreads
        // the atomics of a peaked histogram over several copies.
        __shared__ unsigned int sh[GD_SHARED_BINS];
        const int nb = (int)nbins;
        const int copies = GD_SHARED_BINS / nb < GD_WARPS ? GD_SHARED_BINS / nb : GD_WARPS;
        for (int i = t; i < copies * nb; i += GD_BLOCK) sh[i] = 0;
        __syncthreads();
        unsigned int* mine = sh + ((t >> 5) % copies) * nb;
        for (gd_index k = begin + t; k < end; k += GD_BLOCK) {
            gd_index i = bin_of(k);
            if (i >= 0) atomicAdd(mine + i, 1u);
        }
        __syncthreads();
        for (int i = t; i < nb; i += GD_BLOCK) {
            unsigned int c = 0;
            for (int j = 0; j < copies; ++j) c += sh[j * nb + i];
            row[i] = c;
        }
        __syncthreads();  // sh may be reused by the next call
    }

    template <class Pred, class Emit>
    __device__ gd_index select(gd_index begin, gd_index end, Pred pred, Emit emit) const {
        __shared__ int warp_hits[GD_WARPS];
        const int lane = t & 31, warp = t >> 5;
        const unsigned int below = (1u << lane) - 1u;  // lanes before this one
        gd_index done = 0;
        // rounds of GD_BLOCK values; the bounds are the same in every thread
        for (gd_index base = begin; base < end; base += GD_BLOCK) {
            gd_index k = base + t;
            bool hit = k < end && pred(k);
            unsigned int mask = __ballot_sync(0xffffffffu, hit);
            if (lane == 0) warp_hits[warp] = __popc(mask);
            __syncthreads();
            int before = 0, total = 0;
            for (int w = 0; w < GD_WARPS; ++w) {
                int c = warp_hits[w];
                before += w < warp ? c : 0;
                total += c;
            }
            if (hit) emit(k, done + before + __popc(mask & below));
            done += total;
            __syncthreads();  // warp_hits is rewritten in the next round
        }
        return done;
    }
};

template <class Body>
__device__ void gd_parallel_blocks(gd_index nblocks, Body body) {
    gd_block blk = {(int)threadIdx.x};
    for (gd_index b = blockIdx.x; b < nblocks; b += gridDim.x) body(blk, b);
}
#else
struct gd_block {
    bool leader() const { return true; }

    // The same slots and tree as on CUDA, one slot after the other.
    template <class S, class Acc, class Comb>
    S reduce(gd_index begin, gd_index end, S init, Acc acc, Comb comb) const {
        S buf[GD_BLOCK];
        // four slots at a time: four independent chains over adjacent values
        for (int t = 0; t < GD_BLOCK; t += 4) {
            S s0 = init, s1 = init, s2 = init, s3 = init;
            gd_index k = begin + t;
            for (; k + 3 < end; k += GD_BLOCK) {
                acc(s0, k);
                acc(s1, k + 1);
                acc(s2, k + 2);
                acc(s3, k + 3);
            }
            if (k < end) acc(s0, k);
            if (k + 1 < end) acc(s1, k + 1);
            if (k + 2 < end) acc(s2, k + 2);
            buf[t] = s0;
            buf[t + 1] = s1;
            buf[t + 2] = s2;
            buf[t + 3] = s3;
        }
        for (int w = GD_BLOCK / 2; w > 0; w >>= 1) {
            for (int t = 0; t < w; ++t) comb(buf[t], buf[t + w]);
        }
        return buf[0];
    }

    template <class BinOf>
    void histogram(gd_index begin, gd_index end, gd_index nbins, unsigned int* row,
                   BinOf bin_of) const {
        for (gd_index i = 0; i < nbins; ++i) row[i] = 0;
        for (gd_index k = begin; k < end; ++k) {
            gd_index i = bin_of(k);
            if (i >= 0) row[i] += 1;
        }
    }

    template <class Pred, class Emit>
    gd_index select(gd_index begin, gd_index end, Pred pred, Emit emit) const {
        gd_index done = 0;
        for (gd_index k = begin; k < end; ++k) {
            if (pred(k)) emit(k, done++);
        }
        return done;
    }
};

// Blocks spread over the OpenMP threads; each thread runs a private copy of
// the body, as in gd_parallel_for.
template <class Body>
static void gd_parallel_blocks(gd_index nblocks, Body body) {
#pragma omp parallel
    {
        Body own = body;
        const gd_block blk = {};
#pragma omp for schedule(static)
        for (gd_index b = 0; b < nblocks; ++b) own(blk, b);
    }
}
#endif
