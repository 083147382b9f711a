// Drizzle kernels: square, turbo, point, gaussian, lanczos2, lanczos3.
//
// Each input pixel (i, j) of the box is dropped onto the output frame through
// the pixel map and deposits, into every output pixel it reaches,
//   acc[.., 0] += dow * d            d = data * iscale
//   acc[.., 1] += dow
//   acc_w2d2 += dow^2 * d2_k         d2_k = data2_k * iscale^2
// plus OR-ing its DQ and the context bit (where dow > 0).  The weighted
// means are formed once, after all images, by drizzle_mean.  The two sums of
// a pixel share a cache line: acc has shape (out_ny, out_nx, 2).
// Conventions follow drizzle 3.0: 0-based pixel centres, output pixel
// (ii, jj) covers [ii-0.5, ii+0.5] x [jj-0.5, jj+0.5].
#include "common.cuh"

struct drizzle_args {
    const float* data;      // (in_ny, in_nx)
    const float* weight;    // (in_ny, in_nx) or null: weight 1
    const double* pixmap;   // (in_ny, in_nx, 2)
    const float* data2;     // (ndata2, in_ny, in_nx) or null
    int ndata2;
    const unsigned int* dq; // (in_ny, in_nx) or null
    gd_index in_nx, in_ny, out_nx, out_ny;
    double iscale, pscale_ratio, pixfrac, wht_scale;
    double* acc;            // (out_ny, out_nx, 2): sum of dow * d, sum of dow
    double* acc_w2d2;       // (ndata2, out_ny, out_nx) or null
    unsigned int* out_dq;   // (out_ny, out_nx) or null
    int* ctx;               // (out_ny, out_nx) context plane or null
    int ctx_bit;            // bit number (0-31) set in the context plane
    const double* lut;      // (nlut,) lanczos window every 0.003 (lanczos kernels)
    gd_index nlut;
    // per-kernel constants, computed once per call (kernel_constants)
    double pfo;   // half-width of a turbo / gaussian / lanczos drop, in output pixels
    double kfac;  // turbo: area scale; gaussian: exponent factor; lanczos: 1 / table step
    double knorm; // gaussian: normalisation
};

enum { K_SQUARE = 0, K_TURBO, K_POINT, K_GAUSSIAN, K_LANCZOS2, K_LANCZOS3 };

// The drop size and scale constants of kernel KIND (drizzle 3.0's formulas).
template <int KIND>
GD_DEVICE void kernel_constants(drizzle_args& a) {
    double r = a.pscale_ratio, f = a.pixfrac;
    a.pfo = a.kfac = a.knorm = 0.0;
    if (KIND == K_TURBO) {
        a.pfo = 0.5 * f / r;
        a.kfac = r * r / (f * f);
    } else if (KIND == K_GAUSSIAN) {
        a.pfo = gd_max(2.5 * f / 2.3548 / r, 1.2 / r);
        a.kfac = 2.3548 * 2.3548 * r * r / (2.0 * f * f);
        a.knorm = a.kfac / 3.14159265358979323846;
    } else if (KIND == K_LANCZOS2 || KIND == K_LANCZOS3) {
        a.pfo = (KIND == K_LANCZOS2 ? 2 : 3) / r;
        a.kfac = r / 0.003;
    }
}

// Add one contribution of input pixel k to output pixel (ii, jj).
// As in drizzle 3.0, a weight that is zero in single precision adds nothing
// (a lanczos tail of 1e-66 sets no context bit).
template <bool A>
GD_DEVICE void deposit_at(const drizzle_args& a, gd_index k, gd_index o, double dow, double d) {
    if ((float)dow == 0.0f) return;
    gd_add<A>(&a.acc[2 * o], dow * d);
    gd_add<A>(&a.acc[2 * o + 1], dow);
    if (a.ndata2) {
        gd_index nin = a.in_nx * a.in_ny, nout = a.out_nx * a.out_ny;
        double s2 = a.iscale * a.iscale * dow * dow;
        for (int m = 0; m < a.ndata2; ++m) {
            gd_add<A>(&a.acc_w2d2[m * nout + o], s2 * a.data2[m * nin + k]);
        }
    }
    if (a.dq) gd_or<A>(&a.out_dq[o], a.dq[k]);
    if (a.ctx && dow > 0.0) gd_or<A>(&a.ctx[o], (int)(1u << a.ctx_bit));
}

// The same at output pixel (ii, jj).
template <bool A>
GD_DEVICE void deposit(const drizzle_args& a, gd_index k, gd_index ii, gd_index jj, double dow,
                       double d) {
    deposit_at<A>(a, k, jj * a.out_nx + ii, dow, d);
}

#ifndef __CUDACC__
// Host: where deposit_at's deposits go when there is no DQ and at most one data2 plane
// (plain_deposits), read once for many deposits: stores through the output pointers may
// alias drizzle_args's fields, which the compiler would otherwise read again after each.
struct plain_sink {
    double* acc;
    double* w2d2;  // the data2 plane's sums, or null
    int* ctx;      // or null
    double s2;     // iscale^2
    int bit;       // the context bit's mask
};

GD_INLINE bool plain_deposits(const drizzle_args& a) { return a.ndata2 <= 1 && !a.dq; }

GD_INLINE plain_sink make_sink(const drizzle_args& a) {
    plain_sink o = {a.acc, a.ndata2 ? a.acc_w2d2 : nullptr, a.ctx, a.iscale * a.iscale,
                    a.ctx ? (int)(1u << a.ctx_bit) : 0};
    return o;
}

// deposit_at into a plain_sink (d2: the input pixel's data2 value), without branches: a
// weight that is 0 in single precision adds zeros (d, d2 may then be NaN).
template <bool A>
GD_INLINE void deposit_plain(const plain_sink& out, gd_index o, double dow, double d,
                             double d2) {
    bool dep = (float)dow != 0.0f;
    gd_add<A>(&out.acc[2 * o], dep ? dow * d : 0.0);
    gd_add<A>(&out.acc[2 * o + 1], dep ? dow : 0.0);
    if (out.w2d2) gd_add<A>(&out.w2d2[o], dep ? out.s2 * dow * dow * d2 : 0.0);
    if (out.ctx) gd_or<A>(&out.ctx[o], dep && dow > 0.0 ? out.bit : 0);
}
#endif

// Output index range [lo, hi] of a footprint [vlo, vhi] rounded to pixels and
// clipped to [0, n-1]; false when empty.
GD_DEVICE bool out_range(double vlo, double vhi, gd_index n, gd_index* lo, gd_index* hi) {
    double l = gd_max(gd_round(vlo), 0.0), h = gd_min(gd_round(vhi), (double)(n - 1));
    if (!(l <= h)) return false;
    *lo = (gd_index)l;
    *hi = (gd_index)h;
    return true;
}

// Mean of max(y, 0) along a segment where y goes linearly from p to q.
GD_INLINE double positive_mean(double p, double q) {
    if (p >= 0.0 && q >= 0.0) return 0.5 * (p + q);
    if (p <= 0.0 && q <= 0.0) return 0.0;
    return p > 0.0 ? 0.5 * p * p / (p - q) : 0.5 * q * q / (q - p);
}

// One edge of a drop's quadrilateral, from (x1, y1) to (x2, y2) in the
// polygon's order, with its slope dy/dx (0 for a vertical edge).
struct quad_edge {
    double x1, y1, x2, y2, slope;
};

GD_DEVICE quad_edge make_edge(double x1, double y1, double x2, double y2) {
    quad_edge e = {x1, y1, x2, y2, x2 != x1 ? (y2 - y1) / (x2 - x1) : 0.0};
    return e;
}

// The part of an edge within one output column [sx, sx + 1]: its signed
// width w there (from its x1 side to its x2 side, so positive for edges
// running towards +x; 0 when the edge does not cross the column) and its
// heights ya, yb where it enters and leaves the column.  Where the part
// ends at an end of the edge, the height is that end's own y, not one
// recomputed through the slope: an end lying exactly on a pixel border
// stays exactly on it, so a drop that only shares that border with a pixel
// gives it exactly zero area (a rounding residue there would make a pixel
// of weight 1e-31 that drizzle 3.0 leaves empty, its issue #187).
struct edge_span {
    double w, ya, yb;
};

GD_DEVICE edge_span edge_in_column(const quad_edge& e, double sx) {
    edge_span s = {0.0, 0.0, 0.0};
    double x1 = e.x1 - sx, x2 = e.x2 - sx;
    if (!(gd_min(x1, x2) < 1.0 && gd_max(x1, x2) > 0.0 && x1 != x2)) return s;
    double xa = gd_min(gd_max(x1, 0.0), 1.0), xb = gd_min(gd_max(x2, 0.0), 1.0);
    s.w = xb - xa;
    s.ya = xa == x1 ? e.y1 : e.y1 + e.slope * (xa - x1);
    s.yb = xb == x2 ? e.y2 : e.y1 + e.slope * (xb - x1);
    return s;
}

// Signed area between the edge and the bottom of the unit square
// [sx, sx+1] x [sy, sy+1], counted only inside that square (s: the edge in
// the square's column).  Summed over the edges of a polygon it gives the
// polygon's overlap with the square, with the sign of the polygon's
// orientation.  Heights are taken relative to the square and the cases of
// an edge wholly below or above the square are exact, so that a drop that
// only touches a pixel's corner region or border sums to exactly zero
// there (as drizzle 3.0's boxer does) instead of a rounding residue.
GD_DEVICE double edge_area(const edge_span& s, double sy) {
    if (s.w == 0.0) return 0.0;
    double ya = s.ya - sy, yb = s.yb - sy;
    if (ya <= 0.0 && yb <= 0.0) return 0.0;
    if (ya >= 1.0 && yb >= 1.0) return s.w;
    // integral of clip(y, 0, 1) = integral of max(y, 0) - integral of max(y - 1, 0)
    return s.w * (positive_mean(ya, yb) - positive_mean(ya - 1.0, yb - 1.0));
}

// Overlap of a drop (edges e) with output pixel [sx, sx+1] x [sy, sy+1]: the
// sum of the edges' areas in edge order.  The host finds each edge's part in
// the column once for all its rows (column_spans) and sums the four at once.
// On CUDA that takes more than 128 registers (25% occupancy at most), so
// there the edges are taken one at a time in a loop that is not unrolled,
// picked by selects (indexing e would put it in local memory), each edge's
// part in the column found again per row.  Same values either way.
#ifdef __CUDACC__
GD_DEVICE void column_spans(const quad_edge*, double, edge_span*) {}

GD_DEVICE double pixel_overlap(const quad_edge* e, const edge_span*, double sx, double sy) {
    double over = 0.0;
#pragma unroll 1
    for (int c = 0; c < 4; ++c) {
        quad_edge ec = e[0];
        if (c == 1) ec = e[1];
        if (c == 2) ec = e[2];
        if (c == 3) ec = e[3];
        double t = edge_area(edge_in_column(ec, sx), sy);
        over = c ? over + t : t;
    }
    return over;
}
#else
GD_DEVICE void column_spans(const quad_edge* e, double sx, edge_span* s) {
    for (int c = 0; c < 4; ++c) s[c] = edge_in_column(e[c], sx);
}

GD_DEVICE double pixel_overlap(const quad_edge*, const edge_span* s, double, double sy) {
    return edge_area(s[0], sy) + edge_area(s[1], sy) + edge_area(s[2], sy) + edge_area(s[3], sy);
}
#endif

// Overlaps of a drop with the four output pixels around the grid point (X, Y)
// = (ilo + 0.5, jlo + 0.5), for a drop whose corners (x, y) lie within those
// pixels and whose quadrilateral clearly surrounds the point (else false, and
// the caller takes the general path).  With u = x - X, v = y - Y and integrals
// along the edges in polygon order (du signed), a pixel's overlap is the
// integral of clip(v - its bottom, 0, 1) over its column; there v lies in
// [-1, 1], so an upper pixel gets the integral of max(v, 0) and a lower one
// that of v less it (du integrates to 0 over the part of a closed polygon left
// of u = 0).  With A, P the integrals of v and max(v, 0) over the whole edges
// and A_left, P_left over their parts at u < 0:
//   over[0] lower left  = A_left - P_left     over[1] upper left  = P_left
//   over[2] lower right = (A - A_left) - (P - P_left)
//   over[3] upper right = P - P_left
// Every overlap is clearly positive then: no pixel gets a rounding residue
// where drizzle 3.0's exact clipping gives none.
GD_INLINE bool quad_overlaps_2x2(const double* x, const double* y, double X, double Y,
                                 double* over) {
    double u[4], v[4];
    for (int c = 0; c < 4; ++c) {
        u[c] = x[c] - X;
        v[c] = y[c] - Y;
    }
    int pos = 0, neg = 0;  // the point on the same side of every edge, not within 1e-12
    for (int c = 0; c < 4; ++c) {
        double cross = u[c] * v[(c + 1) & 3] - v[c] * u[(c + 1) & 3];
        pos += cross > 1e-12;
        neg += cross < -1e-12;
    }
    if (pos != 4 && neg != 4) return false;
    double area = 0.0, above = 0.0, area_l = 0.0, above_l = 0.0;
    for (int c = 0; c < 4; ++c) {
        double u1 = u[c], v1 = v[c], u2 = u[(c + 1) & 3], v2 = v[(c + 1) & 3], du = u2 - u1;
        area += du * (0.5 * (v1 + v2));
        above += du * positive_mean(v1, v2);
        if (!(u1 < 0.0 || u2 < 0.0)) continue;  // no part left of u = 0
        double w = du, va = v1, vb = v2;
        if (u1 >= 0.0 || u2 >= 0.0) {  // crosses u = 0: the part on the left only
            double vc = v1 + (v2 - v1) * (-u1 / du);
            w = u1 < 0.0 ? -u1 : u2;
            va = u1 < 0.0 ? v1 : vc;
            vb = u1 < 0.0 ? vc : v2;
        }
        area_l += w * (0.5 * (va + vb));
        above_l += w * positive_mean(va, vb);
    }
    over[0] = area_l - above_l;
    over[1] = above_l;
    over[2] = (area - area_l) - (above - above_l);
    over[3] = above - above_l;
    return true;
}

// Interpolate the pixel map in the cell whose lower-left node is p00, at
// fractions (u, v) of the cell.
GD_DEVICE void cell_point(const double* p00, gd_index nx, double u, double v, double* ox,
                          double* oy) {
    const double* p01 = p00 + 2 * nx;
    double w00 = (1.0 - u) * (1.0 - v), w10 = u * (1.0 - v), w01 = (1.0 - u) * v, w11 = u * v;
    *ox = w00 * p00[0] + w10 * p00[2] + w01 * p01[0] + w11 * p01[2];
    *oy = w00 * p00[1] + w10 * p00[3] + w01 * p01[1] + w11 * p01[3];
}

// cell_point at the centre of the cell, u = v = 0.5: the weights are 0.25,
// exact powers of two, so 0.25 * (((p00 + p10) + p01) + p11) is bit for bit
// what cell_point's weighted sum in that order gives.
GD_DEVICE void cell_mean(const double* p00, gd_index nx, double* ox, double* oy) {
    const double* p01 = p00 + 2 * nx;
    *ox = 0.25 * (((p00[0] + p00[2]) + p01[0]) + p01[2]);
    *oy = 0.25 * (((p00[1] + p00[3]) + p01[1]) + p01[3]);
}

// Output positions of the corners (i-h, j+h), (i+h, j+h), (i+h, j-h),
// (i-h, j-h) of the drop of input pixel (i, j), h = pixfrac / 2: bilinear
// in the pixel map, extrapolated past the borders.  Returns false if any is
// not finite.  Away from the borders and for h <= 1 every corner lies in one of the
// four cells around (i, j), so the cell lookup is skipped.
GD_INLINE bool square_corners(const drizzle_args& a, gd_index i, gd_index j, double* x,
                              double* y) {
    double h = 0.5 * a.pixfrac, g = 1.0 - h;
    if (h <= 1.0 && i >= 1 && j >= 1 && i + 1 < a.in_nx && j + 1 < a.in_ny) {
        const double* c = a.pixmap + 2 * (j * a.in_nx + i);
        const double* b = c - 2 * a.in_nx;
#ifndef __CUDACC__  // (on CUDA the second branch would take 40 more registers)
        if (h == 0.5) {  // pixfrac 1: every weight is 0.25, so the same sums at a quarter
            cell_mean(c - 2, a.in_nx, &x[0], &y[0]);
            cell_mean(c, a.in_nx, &x[1], &y[1]);
            cell_mean(b, a.in_nx, &x[2], &y[2]);
            cell_mean(b - 2, a.in_nx, &x[3], &y[3]);
        } else
#endif
        {
            cell_point(c - 2, a.in_nx, g, h, &x[0], &y[0]);
            cell_point(c, a.in_nx, h, h, &x[1], &y[1]);
            cell_point(b, a.in_nx, h, g, &x[2], &y[2]);
            cell_point(b - 2, a.in_nx, g, g, &x[3], &y[3]);
        }
    } else {
        const double cx[4] = {i - h, i + h, i + h, i - h};
        const double cy[4] = {j + h, j + h, j - h, j - h};
        for (int k = 0; k < 4; ++k) {
            gd_map_point(a.pixmap, a.in_nx, a.in_ny, cx[k], cy[k], &x[k], &y[k]);
        }
    }
    for (int k = 0; k < 4; ++k) {
        if (!gd_isfinite(x[k]) || !gd_isfinite(y[k])) return false;
    }
    return true;
}

// Lanczos window value from the table (step 0.003 in distance * sdp, index
// rounded); inside is false past the table end.
GD_DEVICE double lanczos_value(const drizzle_args& a, double dist, double sdp, bool* inside) {
    double idx = gd_round(fabs(dist * sdp));
    *inside = idx < (double)a.nlut;
    return *inside ? a.lut[(gd_index)idx] : 0.0;
}

// Whether input pixel k with value d is data: d, its weight and its data2 values are all
// finite (a pixel with a NaN or infinite one is no data: weight 0).
GD_INLINE bool pixel_is_data(const drizzle_args& a, gd_index k, double d) {
    if (!gd_isfinite(d) || (a.weight && !gd_isfinite((double)a.weight[k]))) return false;
    gd_index nin = a.in_nx * a.in_ny;
    for (int m = 0; m < a.ndata2; ++m) {
        if (!gd_isfinite((double)a.data2[m * nin + k])) return false;
    }
    return true;
}

// The weight of input pixel k with value d; no data: weight 0 (the drop still counts
// as a hit).
GD_INLINE double drop_weight(const drizzle_args& a, gd_index k, double d) {
    return pixel_is_data(a, k, d) ? (a.weight ? (double)a.weight[k] : 1.0) * a.wht_scale : 0.0;
}

// Deposit the square drop of input pixel k (value d) with corners (x, y) and weight w
// (divided by the drop's area) onto output pixels [ilo, ihi] x [jlo, jhi]; four: that
// box is 2x2 and the corners lie within it, so quad_overlaps_2x2 may take the drop.
// Returns whether it reached any output pixel.
template <bool A>
GD_INLINE bool square_deposit(const drizzle_args& a, gd_index k, const double* x, const double* y,
                              gd_index ilo, gd_index ihi, gd_index jlo, gd_index jhi, bool four,
                              double w, double d) {
    double over4[4];
    if (four && quad_overlaps_2x2(x, y, ilo + 0.5, jlo + 0.5, over4)) {
#ifndef __CUDACC__
        if (plain_deposits(a)) {
            plain_sink out = make_sink(a);
            double d2 = a.ndata2 ? (double)a.data2[k] : 0.0;
            gd_index o = jlo * a.out_nx + ilo;
            for (int q = 0; q < 4; ++q)
                deposit_plain<A>(out, o + (q % 2) * a.out_nx + q / 2, over4[q] * w, d, d2);
            return true;
        }
#endif
        for (int q = 0; q < 4; ++q) deposit<A>(a, k, ilo + q / 2, jlo + q % 2, over4[q] * w, d);
        return true;
    }
    bool hit = false;
    quad_edge e[4];
    for (int c = 0; c < 4; ++c) e[c] = make_edge(x[c], y[c], x[(c + 1) & 3], y[(c + 1) & 3]);
    // overlap with output pixel (ii, jj)
    for (gd_index ii = ilo; ii <= ihi; ++ii) {
        double sx = (double)ii - 0.5;
        edge_span s[4];
        column_spans(e, sx, s);
        for (gd_index jj = jlo; jj <= jhi; ++jj) {
            double over = pixel_overlap(e, s, sx, (double)jj - 0.5);
            if (over != 0.0) {
                hit = true;
                deposit<A>(a, k, ii, jj, over * w, d);
            }
        }
    }
    return hit;
}

// Drop input pixel (i, j); returns whether it reached any output pixel (true also
// where the guard (gd_atomic, gd_guard) sets it aside: it counts when dropped).
template <int KIND, class G>
GD_INLINE bool drop(const drizzle_args& a, gd_index i, gd_index j, const G& guard) {
    constexpr bool A = G::value;
    gd_index k = j * a.in_nx + i;
    double d = (double)a.data[k] * a.iscale;
    double w = drop_weight(a, k, d);
    bool hit = false;
    gd_index ilo, ihi, jlo, jhi;
    if (KIND == K_SQUARE) {
        double x[4], y[4];
        if (!square_corners(a, i, j, x, y)) return false;
        double jaco = 0.5 * ((x[1] - x[3]) * (y[0] - y[2]) - (x[0] - x[2]) * (y[1] - y[3]));
        if (jaco == 0.0 || !gd_isfinite(jaco)) return false;
        double xmin = gd_min(gd_min(x[0], x[1]), gd_min(x[2], x[3]));
        double xmax = gd_max(gd_max(x[0], x[1]), gd_max(x[2], x[3]));
        double ymin = gd_min(gd_min(y[0], y[1]), gd_min(y[2], y[3]));
        double ymax = gd_max(gd_max(y[0], y[1]), gd_max(y[2], y[3]));
        if (!out_range(xmin, xmax, a.out_nx, &ilo, &ihi)) return false;
        if (!out_range(ymin, ymax, a.out_ny, &jlo, &jhi)) return false;
        if (!guard.admits(ilo, ihi, jlo, jhi)) return guard.defer(k), true;
        double gx = ilo + 0.5, gy = jlo + 0.5;
        bool four = ihi == ilo + 1 && jhi == jlo + 1 && xmin >= gx - 1.0 && xmax <= gx + 1.0 &&
                    ymin >= gy - 1.0 && ymax <= gy + 1.0;
        return square_deposit<A>(a, k, x, y, ilo, ihi, jlo, jhi, four, w / jaco, d);
    }
    const double* p = a.pixmap + 2 * k;
    double ox = p[0], oy = p[1];
    if (gd_isnan(ox) || gd_isnan(oy)) return false;
    if (KIND == K_POINT) {
        double ri = gd_round(ox), rj = gd_round(oy);
        if (!(ri >= 0.0 && ri < a.out_nx && rj >= 0.0 && rj < a.out_ny)) return false;
        if (!guard.admits((gd_index)ri, (gd_index)ri, (gd_index)rj, (gd_index)rj))
            return guard.defer(k), true;
        deposit<A>(a, k, (gd_index)ri, (gd_index)rj, w, d);
        return true;
    }
    if (KIND == K_TURBO) {
        double pfo = a.pfo, xlo = ox - pfo, xhi = ox + pfo, ylo = oy - pfo, yhi = oy + pfo;
        if (!out_range(xlo, xhi, a.out_nx, &ilo, &ihi)) return false;
        if (!out_range(ylo, yhi, a.out_ny, &jlo, &jhi)) return false;
        if (!guard.admits(ilo, ihi, jlo, jhi)) return guard.defer(k), true;
        double sw = a.kfac * w;
        for (gd_index jj = jlo; jj <= jhi; ++jj) {
            double dy = gd_min(yhi, jj + 0.5) - gd_max(ylo, jj - 0.5);
            if (!(dy > 0.0)) continue;
            for (gd_index ii = ilo; ii <= ihi; ++ii) {
                double dx = gd_min(xhi, ii + 0.5) - gd_max(xlo, ii - 0.5);
                if (dx > 0.0) {
                    hit = true;
                    deposit<A>(a, k, ii, jj, dx * dy * sw, d);
                }
            }
        }
        return hit;
    }
    if (KIND == K_GAUSSIAN) {
        double pfo = a.pfo, efac = a.kfac, es = a.knorm;
        if (!out_range(ox - pfo, ox + pfo, a.out_nx, &ilo, &ihi)) return false;
        if (!out_range(oy - pfo, oy + pfo, a.out_ny, &jlo, &jhi)) return false;
        if (!guard.admits(ilo, ihi, jlo, jhi)) return guard.defer(k), true;
        for (gd_index jj = jlo; jj <= jhi; ++jj) {
            double dy = oy - jj;
            for (gd_index ii = ilo; ii <= ihi; ++ii) {
                double dx = ox - ii;
                deposit<A>(a, k, ii, jj, es * exp(-(dx * dx + dy * dy) * efac) * w, d);
            }
        }
        return true;
    }
    // lanczos2 / lanczos3: pixfrac is not used
    double pfo = a.pfo, sdp = a.kfac;
    double l = gd_max(gd_floor(ox - pfo) + 1.0, 0.0), hx = gd_min(gd_floor(ox + pfo), a.out_nx - 1.0);
    double b = gd_max(gd_floor(oy - pfo) + 1.0, 0.0), hy = gd_min(gd_floor(oy + pfo), a.out_ny - 1.0);
    if (!(l <= hx && b <= hy)) return false;
    if (!guard.admits((gd_index)l, (gd_index)hx, (gd_index)b, (gd_index)hy))
        return guard.defer(k), true;
    for (gd_index jj = (gd_index)b; jj <= (gd_index)hy; ++jj) {
        bool in_y;
        double ly = lanczos_value(a, oy - jj, sdp, &in_y);
        if (!in_y) continue;
        for (gd_index ii = (gd_index)l; ii <= (gd_index)hx; ++ii) {
            bool in_x;
            double lx = lanczos_value(a, ox - ii, sdp, &in_x);
            if (!in_x) continue;
            hit = true;
            deposit<A>(a, k, ii, jj, lx * ly * w, d);
        }
    }
    return hit;
}

// Radius, in output pixels, that a drop of this kernel can reach beyond the
// map position of its centre (for the square kernel: beyond the hull of its
// corners, which the schedule bounds from the neighbouring map nodes).
template <int KIND>
GD_DEVICE double drop_reach(const drizzle_args& a) {
    return (KIND == K_SQUARE || KIND == K_POINT ? 0.0 : a.pfo) + 1.0;
}

#ifndef __CUDACC__
// gd_round(v) as an index, without branches: -1 for NaN and for v < -0.5, and at
// least n for v >= n - 0.5.
GD_DEVICE gd_index round_index(double v, gd_index n) {
    double c = gd_min(gd_max(v, -1.0), (double)n);  // NaN: -1
    gd_index t = (gd_index)c;
    double r = c - (double)t;
    return t + (r >= 0.5) - (r <= -0.5);
}

// Host: point drops of input pixels i0..i1 of row j (drop<K_POINT> for each), in runs
// of 64: first every output index, starting the loads of those output sums and
// context words, then the deposits, which find them in the cache (a point drop does
// too little work to hide the memory latency otherwise).  PLAIN (plain_deposits): the
// deposit has no branches (deposit_plain).  Needs out_nx, out_ny < 2^31 - 1.  Returns
// the misses.
template <bool PLAIN, class G>
GD_INLINE int point_row(const drizzle_args& a, gd_index i0, gd_index i1, gd_index j,
                        const G& guard) {
    constexpr bool A = G::value;
    const int RUN = 64;
    gd_index o[RUN];
    int miss = 0;
    const plain_sink out = make_sink(a);
#ifdef __SSE2__
    const __m128d half = _mm_set1_pd(0.5), vlo = _mm_set1_pd(-0.5);
    const __m128d vhi = _mm_set_pd(a.out_ny - 0.5, a.out_nx - 0.5);
    // the guard's box as the whole pixels it admits, within [-1, n] (out_nx, out_ny < 2^31)
    const gd_box box = guard.limits();
    auto whole = [](double v, gd_index n, bool up) {
        if (v != v) return up ? (int)n : -1;  // a NaN limit admits no pixel
        v = v < -1.0 ? -1.0 : (v > (double)n ? (double)n : v);
        return (int)(up ? ceil(v) : floor(v));
    };
    const __m128i blo = _mm_set_epi32(0, 0, whole(box.ylo, a.out_ny, true),
                                      whole(box.xlo, a.out_nx, true));
    const __m128i bhi = _mm_set_epi32(0, 0, whole(box.yhi, a.out_ny, false),
                                      whole(box.xhi, a.out_nx, false));
#endif
    for (gd_index s = i0; s <= i1; s += RUN) {
        int m = i1 - s + 1 < RUN ? (int)(i1 - s + 1) : RUN;
        gd_index k0 = j * a.in_nx + s;
        const double* p = a.pixmap + 2 * k0;
        for (int t = 0; t < m; ++t) {
#ifdef __SSE2__
            // x and y in the two lanes: a position rounds into the output when it lies
            // in (-0.5, n - 0.5), and there round_index is truncation plus one from a
            // remainder of 0.5 up; the guard's box compares as whole pixels
            __m128d v = _mm_loadu_pd(p + 2 * t);
            bool in = _mm_movemask_pd(_mm_and_pd(_mm_cmpgt_pd(v, vlo), _mm_cmplt_pd(v, vhi))) == 3;
            __m128i ij = _mm_cvttpd_epi32(v);
            __m128i up = _mm_castpd_si128(_mm_cmpge_pd(_mm_sub_pd(v, _mm_cvtepi32_pd(ij)), half));
            ij = _mm_sub_epi32(ij, _mm_shuffle_epi32(up, _MM_SHUFFLE(3, 3, 2, 0)));  // -1: up
            __m128i out_box = _mm_or_si128(_mm_cmplt_epi32(ij, blo), _mm_cmpgt_epi32(ij, bhi));
            bool inside = (_mm_movemask_ps(_mm_castsi128_ps(out_box)) & 3) == 0;
            gd_index ii = _mm_cvtsi128_si32(ij), jj = _mm_cvtsi128_si32(_mm_shuffle_epi32(ij, 1));
#else
            gd_index ii = round_index(p[2 * t], a.out_nx);
            gd_index jj = round_index(p[2 * t + 1], a.out_ny);
            bool in = ii >= 0 && ii < a.out_nx && jj >= 0 && jj < a.out_ny;
            bool inside = guard.admits(ii, ii, jj, jj);
#endif
            o[t] = in ? jj * a.out_nx + ii : -1;
            if (in && !inside) {
                guard.defer(k0 + t);
                o[t] = -2;
            } else if (in) {
                __builtin_prefetch(&a.acc[2 * o[t]], 1);
                if (a.ctx) __builtin_prefetch(&a.ctx[o[t]], 1);
            }
        }
        for (int t = 0; t < m; ++t) {
            gd_index k = k0 + t, q = o[t];
            if (q < 0) {
                miss += q == -1;  // -2: deferred
                continue;
            }
            double d = (double)a.data[k] * a.iscale, w = drop_weight(a, k, d);
            if (PLAIN) {
                deposit_plain<A>(out, q, w, d, a.ndata2 ? (double)a.data2[k] : 0.0);
            } else {
                deposit_at<A>(a, k, q, w, d);
            }
        }
    }
    return miss;
}

#ifdef __SSE2__
// Both coordinates of cell_mean at once, x and y in the two lanes: bit for bit.
static inline __m128d cell_mean2(const double* p00, gd_index nx) {
    const double* p01 = p00 + 2 * nx;
    __m128d s = _mm_add_pd(_mm_loadu_pd(p00), _mm_loadu_pd(p00 + 2));
    s = _mm_add_pd(_mm_add_pd(s, _mm_loadu_pd(p01)), _mm_loadu_pd(p01 + 2));
    return _mm_mul_pd(_mm_set1_pd(0.25), s);
}

// round_index of both lanes, as doubles: -1 for NaN and below -0.5, at least n (the
// lane's limit) from n - 0.5.
static inline __m128d round_index2(__m128d v, __m128d n) {
    const __m128d half = _mm_set1_pd(0.5), one = _mm_set1_pd(1.0);
    __m128d c = _mm_min_pd(_mm_max_pd(v, _mm_set1_pd(-1.0)), n);  // maxpd: NaN gives -1
    __m128d t = _mm_cvtepi32_pd(_mm_cvttpd_epi32(c));              // |c| < 2^31
    __m128d r = _mm_sub_pd(c, t);
    t = _mm_add_pd(t, _mm_and_pd(_mm_cmpge_pd(r, half), one));
    return _mm_sub_pd(t, _mm_and_pd(_mm_cmple_pd(r, _mm_set1_pd(-0.5)), one));
}

// Host: square drops of input pixels i0..i1 of row j (drop<K_SQUARE> for each) with
// pixfrac 1, whose corners away from the borders are cell means (square_corners): the
// drop of pixel i shares its two left corners with the right ones of pixel i - 1, so
// each drop works out two, and its area, bounds and output box are found with x and y
// side by side in the lanes of a vector (out_nx, out_ny < 2^31).  Returns the misses.
template <class G>
GD_INLINE int square_row(const drizzle_args& a, gd_index i0, gd_index i1, gd_index j,
                         const G& guard) {
    constexpr bool A = G::value;
    int miss = 0;
    gd_index lo = i1 + 1, hi = i1;  // the drops [lo, hi] with cell-mean corners
    if (j >= 1 && j + 1 < a.in_ny) {
        lo = i0 > 1 ? i0 : 1;
        hi = i1 < a.in_nx - 2 ? i1 : a.in_nx - 2;
        if (lo > hi) lo = i1 + 1, hi = i1;
    }
    for (gd_index i = i0; i < lo; ++i) miss += !drop<K_SQUARE>(a, i, j, guard);
    const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0), half = _mm_set1_pd(0.5);
    const __m128d n = _mm_set_pd((double)a.out_ny, (double)a.out_nx), last = _mm_sub_pd(n, one);
    const double *up = a.pixmap, *dn = a.pixmap;
    __m128d c0 = zero, c3 = zero, f03 = zero;
    if (lo <= hi) {
        up = a.pixmap + 2 * (j * a.in_nx + lo - 1);  // cell (lo-1..lo) x (j..j+1)
        dn = up - 2 * a.in_nx;                       // and that of rows j-1..j
        c0 = cell_mean2(up, a.in_nx);
        c3 = cell_mean2(dn, a.in_nx);
        f03 = _mm_and_pd(_mm_cmpeq_pd(_mm_sub_pd(c0, c0), zero),
                         _mm_cmpeq_pd(_mm_sub_pd(c3, c3), zero));
    }
    for (gd_index i = lo; i <= hi; ++i) {
        up += 2;
        dn += 2;
        __m128d c1 = cell_mean2(up, a.in_nx), c2 = cell_mean2(dn, a.in_nx);
        __m128d f12 = _mm_and_pd(_mm_cmpeq_pd(_mm_sub_pd(c1, c1), zero),
                                 _mm_cmpeq_pd(_mm_sub_pd(c2, c2), zero));
        __m128d p0 = c0, p3 = c3;
        bool finite = _mm_movemask_pd(_mm_and_pd(f03, f12)) == 3;
        c0 = c1, c3 = c2, f03 = f12;
        // as drop<K_SQUARE> from here: the area (x1 - x3) (y0 - y2) - (x0 - x2) (y1 - y3)
        __m128d d02 = _mm_sub_pd(p0, c2);
        __m128d cr = _mm_mul_pd(_mm_sub_pd(c1, p3), _mm_shuffle_pd(d02, d02, 1));
        double jaco = 0.5 * (_mm_cvtsd_f64(cr) - _mm_cvtsd_f64(_mm_unpackhi_pd(cr, cr)));
        if (!finite || jaco == 0.0 || !gd_isfinite(jaco)) {
            ++miss;
            continue;
        }
        // bounds (xmin, ymin), (xmax, ymax) and out_range's [ilo, ihi], [jlo, jhi]
        __m128d mn = _mm_min_pd(_mm_min_pd(p0, c1), _mm_min_pd(c2, p3));
        __m128d mx = _mm_max_pd(_mm_max_pd(p0, c1), _mm_max_pd(c2, p3));
        __m128d l = _mm_max_pd(round_index2(mn, n), zero);
        __m128d h = _mm_min_pd(round_index2(mx, n), last);
        if (_mm_movemask_pd(_mm_cmpgt_pd(l, h))) {
            ++miss;
            continue;
        }
        gd_index k = j * a.in_nx + i;
        gd_index ilo = (gd_index)_mm_cvtsd_f64(l), ihi = (gd_index)_mm_cvtsd_f64(h);
        gd_index jlo = (gd_index)_mm_cvtsd_f64(_mm_unpackhi_pd(l, l));
        gd_index jhi = (gd_index)_mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
        if (!guard.admits(ilo, ihi, jlo, jhi)) {
            guard.defer(k);
            continue;
        }
        __m128d g = _mm_add_pd(l, half);
        bool four = _mm_movemask_pd(_mm_and_pd(
                        _mm_cmpeq_pd(h, _mm_add_pd(l, one)),
                        _mm_and_pd(_mm_cmpge_pd(mn, _mm_sub_pd(g, one)),
                                   _mm_cmple_pd(mx, _mm_add_pd(g, one))))) == 3;
        double x[4], y[4];
        _mm_storel_pd(&x[0], p0), _mm_storeh_pd(&y[0], p0);
        _mm_storel_pd(&x[1], c1), _mm_storeh_pd(&y[1], c1);
        _mm_storel_pd(&x[2], c2), _mm_storeh_pd(&y[2], c2);
        _mm_storel_pd(&x[3], p3), _mm_storeh_pd(&y[3], p3);
        double d = (double)a.data[k] * a.iscale, w = drop_weight(a, k, d);
        miss += !square_deposit<A>(a, k, x, y, ilo, ihi, jlo, jhi, four, w / jaco, d);
    }
    for (gd_index i = hi + 1; i <= i1; ++i) miss += !drop<K_SQUARE>(a, i, j, guard);
    return miss;
}

// Host: turbo drops of input pixels i0..i1 of row j (drop<K_TURBO> for each) for drops
// at most one output pixel wide (pfo <= 0.5), no data2 or DQ, and an output below 2^31
// pixels a side.  Such a drop covers one or two columns of one or two output rows: x
// and y are worked out side by side in the two lanes of a vector, the four overlaps
// without loops (zeros where a column or row is not covered, so every step is the one
// drop<K_TURBO> takes), and they are deposited without branches; the output rows of
// the drop 32 pixels further on are prefetched (as in point_row).  Returns the misses.
template <class G>
GD_INLINE int turbo_row(const drizzle_args& a, gd_index i0, gd_index i1, gd_index j,
                        const G& guard) {
    constexpr bool A = G::value;
    int miss = 0;
    const int bit = a.ctx ? (int)(1u << a.ctx_bit) : 0;
    const __m128d pfo = _mm_set1_pd(a.pfo), half = _mm_set1_pd(0.5), one = _mm_set1_pd(1.0);
    const __m128d zero = _mm_setzero_pd(), n = _mm_set_pd((double)a.out_ny, (double)a.out_nx);
    const __m128d last = _mm_sub_pd(n, one), shift = _mm_sub_pd(pfo, half);
    const gd_box box = guard.limits();
    const __m128d blo = _mm_set_pd(box.ylo, box.xlo), bhi = _mm_set_pd(box.yhi, box.xhi);
    for (gd_index i = i0; i <= i1; ++i) {
        gd_index k = j * a.in_nx + i;
        __m128d op = _mm_loadu_pd(a.pixmap + 2 * k);  // (ox, oy)
        __m128d lo = _mm_sub_pd(op, pfo), hi = _mm_add_pd(op, pfo);
        // out_range's [ilo, ihi] and [jlo, jhi]
        __m128d l = _mm_max_pd(round_index2(lo, n), zero);
        __m128d h = _mm_min_pd(round_index2(hi, n), last);
        if (_mm_movemask_pd(_mm_or_pd(_mm_cmpunord_pd(op, op), _mm_cmpgt_pd(l, h)))) {
            ++miss;
            continue;
        }
        if (_mm_movemask_pd(_mm_cmpgt_pd(h, _mm_add_pd(l, one)))) {  // by rounding, pfo = 0.5
            miss += !drop<K_TURBO>(a, i, j, guard);
            continue;
        }
        gd_index ilo = (gd_index)_mm_cvtsd_f64(l);
        gd_index jlo = (gd_index)_mm_cvtsd_f64(_mm_unpackhi_pd(l, l));
        gd_index di = _mm_movemask_pd(_mm_cmplt_pd(l, h)), dj = di >> 1 ? a.out_nx : 0;
        di &= 1;
        // guard.admits(ilo, ilo + di, jlo, jlo + (dj != 0)): h is l or l + 1
        if (_mm_movemask_pd(_mm_and_pd(_mm_cmpge_pd(l, blo), _mm_cmple_pd(h, bhi))) != 3) {
            guard.defer(k);
            continue;
        }
        if (i + 32 <= i1) {  // start loading the two output rows of the drop 32 further on
            // (its lower left pixel, rounded as by truncation, exact for positive positions;
            // the address is formed as an integer, as a NaN or far position gives one outside
            // the arrays, where a prefetch does nothing)
            __m128d p2 = _mm_loadu_pd(a.pixmap + 2 * (k + 32));
            __m128i t = _mm_cvttpd_epi32(_mm_sub_pd(p2, shift));
            gd_index o2 = (gd_index)_mm_cvtsi128_si32(_mm_shuffle_epi32(t, 1)) * a.out_nx +
                          _mm_cvtsi128_si32(t);
            uintptr_t s1 = (uintptr_t)a.acc + (uintptr_t)(16 * o2), s2 = s1 + 16 * a.out_nx;
            __builtin_prefetch((const void*)s1, 1);
            __builtin_prefetch((const void*)s2, 1);
            if (a.ctx) {
                uintptr_t c1 = (uintptr_t)a.ctx + (uintptr_t)(4 * o2), c2 = c1 + 4 * a.out_nx;
                __builtin_prefetch((const void*)c1, 1);
                __builtin_prefetch((const void*)c2, 1);
            }
        }
        double d = (double)a.data[k] * a.iscale, w = drop_weight(a, k, d);
        // overlaps with the first and the second column (x lane) and row (y lane)
        __m128d l1 = _mm_add_pd(l, one);
        __m128d e0 = _mm_sub_pd(_mm_min_pd(hi, _mm_add_pd(l, half)),
                                _mm_max_pd(lo, _mm_sub_pd(l, half)));
        __m128d e1 = _mm_sub_pd(_mm_min_pd(hi, _mm_add_pd(l1, half)),
                                _mm_max_pd(lo, _mm_sub_pd(l1, half)));
        e0 = _mm_and_pd(e0, _mm_cmpgt_pd(e0, zero));
        e1 = _mm_and_pd(e1, _mm_and_pd(_mm_cmpgt_pd(e1, zero), _mm_cmple_pd(l1, h)));
        __m128d dx = _mm_unpacklo_pd(e0, e1), dy = _mm_unpackhi_pd(e0, e1);  // (first, second)
        __m128d hit = _mm_and_pd(_mm_cmpgt_pd(dx, zero), _mm_cmpgt_pd(dy, zero));
        miss += _mm_movemask_pd(_mm_or_pd(hit, _mm_shuffle_pd(hit, hit, 1))) == 0;
        gd_index o = jlo * a.out_nx + ilo;
        __m128d sw = _mm_set1_pd(a.kfac * w), dd = _mm_set1_pd(d);
        for (int r = 0; r < 2; ++r) {  // the pixels (first, second column) of row r
            __m128d dyr = r ? _mm_unpackhi_pd(dy, dy) : _mm_unpacklo_pd(dy, dy);
            // exactly 0 where not covered, also where sw is infinite (pixfrac 0)
            __m128d cover = _mm_and_pd(_mm_cmpgt_pd(dx, zero), _mm_cmpgt_pd(dyr, zero));
            __m128d dow = _mm_and_pd(_mm_mul_pd(_mm_mul_pd(dx, dyr), sw), cover);
            // deposit_plain for both pixels, the weight test and masks in the lanes
            __m128 f = _mm_cmpneq_ps(_mm_cvtpd_ps(dow), _mm_setzero_ps());
            __m128d dep = _mm_castps_pd(_mm_unpacklo_ps(f, f));
            __m128d vd = _mm_and_pd(_mm_mul_pd(dow, dd), dep), vw = _mm_and_pd(dow, dep);
            int pos = _mm_movemask_pd(_mm_and_pd(dep, _mm_cmpgt_pd(dow, zero)));
            for (int c = 0; c < 2; ++c) {
                gd_index q = o + c * di + r * dj;
                // a pixel's two sums at once (not atomic): the same two additions
                __m128d pair = c ? _mm_unpackhi_pd(vd, vw) : _mm_unpacklo_pd(vd, vw);
                if (A) {
                    gd_add<A>(&a.acc[2 * q], _mm_cvtsd_f64(pair));
                    gd_add<A>(&a.acc[2 * q + 1], _mm_cvtsd_f64(_mm_unpackhi_pd(pair, pair)));
                } else {
                    _mm_storeu_pd(&a.acc[2 * q], _mm_add_pd(_mm_loadu_pd(&a.acc[2 * q]), pair));
                }
                if (a.ctx) gd_or<A>(&a.ctx[q], (pos >> c) & 1 ? bit : 0);
            }
        }
    }
    return miss;
}
#endif
#endif

#define DRIZZLE_PARAMS                                                                      \
    const float* data, const float* weight, const double* pixmap, const float* data2,       \
        int ndata2, const unsigned int* dq, gd_index in_nx, gd_index in_ny, gd_index xmin,  \
        gd_index xmax, gd_index ymin, gd_index ymax, gd_index out_nx, gd_index out_ny,      \
        double iscale, double pscale_ratio, double pixfrac, double wht_scale, double* acc,   \
        double* acc_w2d2, unsigned int* out_dq, int* ctx, int ctx_bit,       \
        int* line_miss, const double* lut, gd_index nlut

template <int KIND>
GD_DEVICE void drizzle_kernel(DRIZZLE_PARAMS) {
    drizzle_args a = {data,   weight, pixmap, data2,        ndata2,  dq,      in_nx,
                      in_ny,  out_nx, out_ny, iscale,       pscale_ratio, pixfrac, wht_scale,
                      acc,    acc_w2d2, out_dq,   ctx,          ctx_bit,   lut,       nlut,
                      0.0,    0.0,      0.0};
    kernel_constants<KIND>(a);
    // square drops: corners interpolated between map nodes up to ceil(h) + 1
    // pixels away and extrapolated up to h past the borders, h = pixfrac / 2
    int reach_in = KIND == K_SQUARE ? (int)ceil(0.5 * pixfrac) + 1 : 0;
    double extrap = KIND == K_SQUARE ? 0.5 * pixfrac : 0.0;
    gd_scatter_geom g = {pixmap, in_nx, in_ny, xmin, xmax, ymin, ymax,
                         reach_in, extrap, drop_reach<KIND>(a), line_miss};
#ifndef __CUDACC__
    if (KIND == K_POINT && out_nx < 2147483647 && out_ny < 2147483647) {
        if (!plain_deposits(a)) {
            gd_scatter_rows(g, [=](gd_index i0, gd_index i1, gd_index j, const auto& guard)
                                   GD_LAMBDA_INLINE {
                return point_row<false>(a, i0, i1, j, guard);
            });
        } else {
            gd_scatter_rows(g, [=](gd_index i0, gd_index i1, gd_index j, const auto& guard)
                                   GD_LAMBDA_INLINE {
                return point_row<true>(a, i0, i1, j, guard);
            });
        }
        return;
    }
#ifdef __SSE2__
    if (KIND == K_SQUARE && pixfrac == 1.0 && out_nx < 2147483647 && out_ny < 2147483647) {
        gd_scatter_rows(g, [=](gd_index i0, gd_index i1, gd_index j, const auto& guard)
                               GD_LAMBDA_INLINE { return square_row(a, i0, i1, j, guard); });
        return;
    }
    if (KIND == K_TURBO && a.pfo <= 0.5 && !ndata2 && !dq && out_nx < 2147483647 &&
        out_ny < 2147483647) {
        gd_scatter_rows(g, [=](gd_index i0, gd_index i1, gd_index j, const auto& guard)
                               GD_LAMBDA_INLINE { return turbo_row(a, i0, i1, j, guard); });
        return;
    }
#endif
#endif
    gd_scatter(g, [=](gd_index i, gd_index j, const auto& guard) GD_LAMBDA_INLINE {
        return drop<KIND>(a, i, j, guard);
    });
}

#define DRIZZLE_ENTRY(NAME, KIND)                                                  \
    GD_KERNEL void NAME(DRIZZLE_PARAMS) {                                          \
        drizzle_kernel<KIND>(data, weight, pixmap, data2, ndata2, dq, in_nx, in_ny, \
                             xmin, xmax, ymin, ymax, out_nx, out_ny, iscale,        \
                             pscale_ratio, pixfrac, wht_scale, acc,                 \
                             acc_w2d2, out_dq, ctx, ctx_bit, line_miss, lut, nlut); \
    }

DRIZZLE_ENTRY(drizzle_square, K_SQUARE)
DRIZZLE_ENTRY(drizzle_turbo, K_TURBO)
DRIZZLE_ENTRY(drizzle_point, K_POINT)
DRIZZLE_ENTRY(drizzle_gaussian, K_GAUSSIAN)
DRIZZLE_ENTRY(drizzle_lanczos2, K_LANCZOS2)
DRIZZLE_ENTRY(drizzle_lanczos3, K_LANCZOS3)

// Weighted means from the accumulators: out = sum(dow * d) / sum(dow) where
// the weight is not 0, else base (when given: pixels of a supplied earlier
// image) or fill.  With w2d2 (one plane of the squared-weight sums) the mean
// is w2d2 / sum(dow)^2 instead.
GD_KERNEL void drizzle_mean(const double* acc, const double* w2d2, const float* base,
                            double fill, gd_index n, float* out) {
    gd_parallel_for(n, [=](gd_index k) {
        double w = acc[2 * k + 1], total = acc[2 * k];
        if (w2d2) {
            w *= w;
            total = w2d2[k];
        }
        out[k] = w != 0.0 ? (float)(total / w) : (base ? base[k] : (float)fill);
    });
}

// The sums of weights as float32: out[k] = acc[2 k + 1].
GD_KERNEL void drizzle_weight(const double* acc, gd_index n, float* out) {
    gd_parallel_for(n, [=](gd_index k) { out[k] = (float)acc[2 * k + 1]; });
}
