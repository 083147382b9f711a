// Pixel maps: every pixel of a "from" frame mapped into a "to" frame.
//
// The smooth part of the transform (SIP polynomials, projections, anything a
// generic WCS does) is evaluated exactly on the host at the nodes of a sparse
// square grid; the host turns each grid cell's 4x4 node stencil into the
// coefficients of its bicubic (tensor-product cubic Lagrange) interpolant,
// and this kernel evaluates that piecewise polynomial.  The lookup-table
// distortions of FITS WCS Paper IV as astropy.wcs applies them (HST D2IMARR =
// "det2im", WCSDVARR = "cpdis") are bilinear tables whose slope jumps at each
// table node, so they are not interpolated but evaluated exactly, per pixel,
// the way astropy does.
//
// One pixel p (0-based positions throughout):
//   d = p + det2im_from(p)                  detector -> image plane
//   s = G(d) + J(d) . cpdis_from(d)         G: the interpolated smooth map;
//                                           cpdis is added in the "from"
//                                           focal plane, so it enters
//                                           through J = d s / d focal plane
// When the "to" frame has tables, s inverts only its smooth part and the
// tables are inverted by fixed-point iteration:
//   e = s - M . cpdis_to(e),  q = e - det2im_to(q),  out = q
// with M = d(to image plane) / d(to focal plane).  J and M are bilinear per
// cell.  The x and y channels travel together as one 2-vector (pm_vec).
#include "common.cuh"

// Lookup tables come in slots of PM_TAB_STRIDE doubles in tab_params:
//   nx, ny (0: empty slot), ref_x, ref_y, origin_x, origin_y, scale_x,
//   scale_y, offset in tab_data of the (ny, nx, 2) table of (dx, dy).
// Table coordinate of position pos: (pos - origin) * scale + ref, clamped to
// [0, n - 1] (astropy: (pos + 1 - crval) / cdelt + crpix - 1).  Two slots per
// kind: the second is used only when the x and y tables of a kind have
// different geometries (each slot then has a zero channel).
enum { PM_FROM_D2IM = 0, PM_FROM_CPDIS = 2, PM_TO_D2IM = 4, PM_TO_CPDIS = 6, PM_NSLOTS = 8 };
#define PM_TAB_STRIDE 9
#define PM_MAX_ITER 50
#define PM_CONVERGED 1e-11
#define PM_RUN 64  // pixels of a row mapped by one work item

// Coefficients per cell: the bicubic, 16 monomials t_y^m t_x^n (index
// 4 m + n) of (x, y); a bilinear 2x2 matrix, 4 terms (1, t_x, t_y, t_x t_y)
// of its two columns (m00, m10, m01, m11).
#define PM_CUBIC_COEFFS 32
#define PM_MATRIX_COEFFS 16

// Two doubles operated on together: a GCC/Clang vector on the host (one SSE
// register), a plain pair on CUDA.  Lane-wise IEEE arithmetic either way.
#ifdef __CUDACC__
struct pm_vec {
    double x, y;
};
GD_DEVICE pm_vec pm_v(double x, double y) {
    pm_vec r;
    r.x = x;
    r.y = y;
    return r;
}
GD_DEVICE double pm_x(pm_vec a) { return a.x; }
GD_DEVICE double pm_y(pm_vec a) { return a.y; }
GD_DEVICE pm_vec operator+(pm_vec a, pm_vec b) { return pm_v(a.x + b.x, a.y + b.y); }
GD_DEVICE pm_vec operator-(pm_vec a, pm_vec b) { return pm_v(a.x - b.x, a.y - b.y); }
GD_DEVICE pm_vec operator*(pm_vec a, double s) { return pm_v(a.x * s, a.y * s); }
GD_DEVICE pm_vec pm_load(const double* p) { return pm_v(p[0], p[1]); }
GD_DEVICE void pm_store(double* p, pm_vec a) {
    p[0] = a.x;
    p[1] = a.y;
}
#else
typedef double pm_vec __attribute__((vector_size(16)));
GD_DEVICE pm_vec pm_v(double x, double y) {
    pm_vec r = {x, y};
    return r;
}
GD_DEVICE double pm_x(pm_vec a) { return a[0]; }
GD_DEVICE double pm_y(pm_vec a) { return a[1]; }
GD_DEVICE pm_vec pm_load(const double* p) {
    pm_vec r;
    __builtin_memcpy(&r, p, sizeof r);
    return r;
}
GD_DEVICE void pm_store(double* p, pm_vec a) { __builtin_memcpy(p, &a, sizeof a); }
#endif

GD_DEVICE pm_vec pm_nan2() { return pm_v(nan(""), nan("")); }

// One decoded table slot (see the slot layout above); nx == 0: empty.
struct pm_tab {
    gd_index nx, ny;
    double ref_x, ref_y, origin_x, origin_y, scale_x, scale_y;
    const double* data;  // (ny, nx, 2)
};

GD_DEVICE pm_tab pm_decode(const double* data, const double* params, int slot) {
    pm_tab t = {0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, data};
    if (params == 0) return t;
    const double* p = params + PM_TAB_STRIDE * slot;
    if (!(p[0] > 0.0 && p[1] > 0.0)) return t;
    t.nx = (gd_index)p[0];
    t.ny = (gd_index)p[1];
    t.ref_x = p[2];
    t.ref_y = p[3];
    t.origin_x = p[4];
    t.origin_y = p[5];
    t.scale_x = p[6];
    t.scale_y = p[7];
    t.data = data + (gd_index)p[8];
    return t;
}

// Offsets (dx, dy) of one table at 0-based (x, y), as astropy's distortion
// lookup: clamped table coordinate, bilinear between the nodes around it
// (the upper node clamped to the table).  Zero for an empty slot, NaN for a
// NaN position.
GD_DEVICE pm_vec pm_table(const pm_tab& tb, double x, double y) {
    if (tb.nx == 0) return pm_v(0.0, 0.0);
    double u = (x - tb.origin_x) * tb.scale_x + tb.ref_x;
    double v = (y - tb.origin_y) * tb.scale_y + tb.ref_y;
    if (gd_isnan(u) || gd_isnan(v)) return pm_nan2();
    double hx = (double)(tb.nx - 1), hy = (double)(tb.ny - 1);
    u = u > hx ? hx : (u < 0.0 ? 0.0 : u);
    v = v > hy ? hy : (v < 0.0 ? 0.0 : v);
    gd_index i0 = (gd_index)u, j0 = (gd_index)v;  // u, v >= 0: truncation is floor
    gd_index di = i0 + 1 < tb.nx ? 2 : 0, dj = j0 + 1 < tb.ny ? 2 * tb.nx : 0;
    double wu = u - (double)i0, wv = v - (double)j0, iu = 1.0 - wu, iv = 1.0 - wv;
    const double* t = tb.data + 2 * (j0 * tb.nx + i0);
    return pm_load(t) * (iu * iv) + pm_load(t + dj) * (iu * wv) + pm_load(t + di) * (wu * iv) +
           pm_load(t + dj + di) * (wu * wv);
}

// The tables of one kind: the main slot and the (rarely used) second one.
// The host keeps them decoded.  On CUDA only where they are is kept and each
// use decodes them again from tab_params (cached loads), so that eight
// decoded tables do not hold registers through a whole run of pixels (254
// registers otherwise).  Same values either way.
struct pm_kind {
#ifdef __CUDACC__
    const double* data;
    const double* params;
    int slot;
#else
    pm_tab tab[2];
#endif
    bool used, second;
};

GD_DEVICE pm_kind pm_decode_kind(const double* data, const double* params, int slot) {
    pm_kind k;
    pm_tab main = pm_decode(data, params, slot), second = pm_decode(data, params, slot + 1);
#ifdef __CUDACC__
    k.data = data;
    k.params = params;
    k.slot = slot;
#else
    k.tab[0] = main;
    k.tab[1] = second;
#endif
    k.second = second.nx > 0;
    k.used = main.nx > 0 || k.second;
    return k;
}

// Table `which` (0: main, 1: second) of a kind.
GD_DEVICE pm_tab pm_kind_table(const pm_kind& k, int which) {
#ifdef __CUDACC__
    return pm_decode(k.data, k.params, k.slot + which);
#else
    return k.tab[which];
#endif
}

// Offsets of one kind of table at 0-based (x, y).
GD_DEVICE pm_vec pm_offsets(const pm_kind& k, double x, double y) {
    pm_vec r = pm_table(pm_kind_table(k, 0), x, y);
    if (k.second) r = r + pm_table(pm_kind_table(k, 1), x, y);
    return r;
}

// Cell of one axis at cell coordinate u: index clamped to [0, n - 1] and
// the local coordinate (beyond the first or last cell that cell's
// polynomial is extrapolated).
GD_DEVICE gd_index pm_cell(double u, gd_index n, double* t) {
    double f = 0.0;
    if (u >= (double)(n - 1)) {
        f = (double)(n - 1);
    } else if (u >= 1.0) {
        f = (double)(gd_index)u;
    }
    *t = u - f;
    return (gd_index)f;
}

// m . c for the bilinear matrix cell coefficients at (tx, ty).
GD_DEVICE pm_vec pm_apply(const double* GD_RESTRICT m, double tx, double ty, pm_vec c) {
    double txy = tx * ty;
    pm_vec col0 = pm_load(m) + pm_load(m + 4) * tx + pm_load(m + 8) * ty + pm_load(m + 12) * txy;
    pm_vec col1 = pm_load(m + 2) + pm_load(m + 6) * tx + pm_load(m + 10) * ty + pm_load(m + 14) * txy;
    return col0 * pm_x(c) + col1 * pm_y(c);
}

struct pm_args {
    const double* cubic;  // (ncy, ncx, 32) smooth map per cell
    const double* jac;    // (ncy, ncx, 16) d s / d from focal plane, or null
    const double* minv;   // (ncy, ncx, 16) d to image / d to focal plane, or null
    gd_index ncx, ncy;
    double cx0, cy0, inv_step;  // cell (a, b) starts at (cx0 + a step, cy0 + b step)
    pm_kind from_d2im, from_cpdis, to_d2im, to_cpdis;
    bool use_jac, use_minv;  // from / to cpdis tables apply (with their matrices)
};

// The cell and local coordinates (tx, ty) of position p.
GD_DEVICE gd_index pm_locate(const pm_args& a, pm_vec p, double* tx, double* ty) {
    gd_index ci = pm_cell((pm_x(p) - a.cx0) * a.inv_step, a.ncx, tx);
    gd_index cj = pm_cell((pm_y(p) - a.cy0) * a.inv_step, a.ncy, ty);
    return cj * a.ncx + ci;
}

// q0 + q1 t + q2 t^2 + q3 t^3, its sums split in halves (Estrin's scheme)
// for short dependency chains.
GD_DEVICE pm_vec pm_poly(pm_vec q0, pm_vec q1, pm_vec q2, pm_vec q3, double t) {
    return (q0 + q1 * t) + (q2 + q3 * t) * (t * t);
}

// Monomial t_y^m t_x^n of a cell's coefficients c.
GD_DEVICE pm_vec pm_coef(const double* c, int m, int n) { return pm_load(c + 2 * (4 * m + n)); }

// The cell polynomial at (tx, ty): in tx first, then in ty.
GD_DEVICE pm_vec pm_smooth(const pm_args& a, gd_index cell, double tx, double ty) {
    const double* c = a.cubic + PM_CUBIC_COEFFS * cell;
    pm_vec r[4];
    for (int m = 0; m < 4; ++m) {
        r[m] = pm_poly(pm_coef(c, m, 0), pm_coef(c, m, 1), pm_coef(c, m, 2), pm_coef(c, m, 3), tx);
    }
    return pm_poly(r[0], r[1], r[2], r[3], ty);
}

// Everything after the smooth map s at pixel d (detector position after
// det2im) of the cell: "from" cpdis tables, then the inversion of the "to"
// tables.
GD_DEVICE pm_vec pm_finish(const pm_args& a, gd_index cell, double tx, double ty, pm_vec d,
                           pm_vec s) {
    if (a.use_jac) {
        pm_vec off = pm_offsets(a.from_cpdis, pm_x(d), pm_y(d));
        s = s + pm_apply(a.jac + PM_MATRIX_COEFFS * cell, tx, ty, off);
    }
    if (!a.use_minv && !a.to_d2im.used) return s;
    pm_vec e = s, q = s;
    for (int it = 0; it < PM_MAX_ITER; ++it) {
        pm_vec ne = s, nq;
        if (a.use_minv) {
            pm_vec off = pm_offsets(a.to_cpdis, pm_x(e), pm_y(e));
            ne = s - pm_apply(a.minv + PM_MATRIX_COEFFS * cell, tx, ty, off);
        }
        nq = ne;
        if (a.to_d2im.used) nq = ne - pm_offsets(a.to_d2im, pm_x(q), pm_y(q));
        pm_vec de = ne - e, dq = nq - q;
        double change = fabs(pm_x(de)) + fabs(pm_y(de)) + fabs(pm_x(dq)) + fabs(pm_y(dq));
        e = ne;
        q = nq;
        if (change <= PM_CONVERGED) return q;
    }
    return pm_nan2();  // not converged (or NaN): the host evaluates it exactly
}

// Map one pixel at 0-based position p.
GD_DEVICE pm_vec pm_map_point(const pm_args& a, pm_vec p) {
    // The cell is chosen from p; det2im moves d = p + D by far less than a
    // cell, which only shifts the local coordinates.
    double tx, ty;
    gd_index cell = pm_locate(a, p, &tx, &ty);
    pm_vec d = p;
    if (a.from_d2im.used) {
        pm_vec off = pm_offsets(a.from_d2im, pm_x(p), pm_y(p));
        d = p + off;
        tx += pm_x(off) * a.inv_step;
        ty += pm_y(off) * a.inv_step;
    }
    return pm_finish(a, cell, tx, ty, d, pm_smooth(a, cell, tx, ty));
}

// Map the pixels (x0 + c, y) for c in [c0, c1) of one row; returns how many
// came out NaN.  Without "from" det2im tables every pixel of a row has the
// same ty, so the cell polynomial is reduced to a cubic in tx once per cell,
// and the pixels of the run are taken cell by cell: x grows along the row, so
// a cell ends where u reaches its upper edge (the first cell takes every u
// below 1, the last every u from n - 1 on, as pm_cell does).  Each pixel's
// u, tx and value are those pm_map_point computes.
template <bool FINISH>
GD_DEVICE int pm_map_cells(const pm_args& a, double y, gd_index x0, gd_index c0, gd_index c1,
                           double* out) {
    double ty;
    gd_index row_cell = pm_cell((y - a.cy0) * a.inv_step, a.ncy, &ty) * a.ncx;
    int nan = 0;
    double x = (double)(x0 + c0);
    for (gd_index col = c0; col < c1;) {
        double tx, u = (x - a.cx0) * a.inv_step;
        gd_index ci = pm_cell(u, a.ncx, &tx), cell = row_cell + ci;
        double f = (double)ci, edge = ci + 1 < a.ncx ? (double)(ci + 1) : (double)gd_inff();
        const double* c = a.cubic + PM_CUBIC_COEFFS * cell;
        pm_vec q[4];
        for (int n = 0; n < 4; ++n) {
            q[n] = pm_poly(pm_coef(c, 0, n), pm_coef(c, 1, n), pm_coef(c, 2, n), pm_coef(c, 3, n),
                           ty);
        }
        do {
            tx = u - f;
            pm_vec r = pm_poly(q[0], q[1], q[2], q[3], tx);
            if (FINISH) r = pm_finish(a, cell, tx, ty, pm_v(x, y), r);
            pm_store(out, r);
            nan += gd_isnan(pm_x(r)) | gd_isnan(pm_y(r));
            out += 2;
            x += 1.0;
            u = (x - a.cx0) * a.inv_step;
        } while (++col < c1 && u < edge);
    }
    return nan;
}

GD_DEVICE void pm_map_run(const pm_args& a, double y, gd_index x0, gd_index c0, gd_index c1,
                          double* out, int* nan_count) {
    int nan = 0;
    if (a.from_d2im.used) {
        for (gd_index col = c0; col < c1; ++col, out += 2) {
            pm_vec r = pm_map_point(a, pm_v((double)(x0 + col), y));
            pm_store(out, r);
            nan += gd_isnan(pm_x(r)) | gd_isnan(pm_y(r));
        }
    } else if (a.use_jac || a.use_minv || a.to_d2im.used) {
        nan = pm_map_cells<true>(a, y, x0, c0, c1, out);
    } else {
        nan = pm_map_cells<false>(a, y, x0, c0, c1, out);
    }
    if (nan_count && nan) gd_count(nan_count, nan);
}

// The pixel map: out[k] = (x, y) in the "to" frame of "from" pixel k, where
// pixel k is points[k] (0-based x, y) when points is given, else the pixel
// (x0 + k % nx, y0 + k / nx) of a row-major block nx wide (n a multiple of nx).  nan_count, when
// given, is increased by the number of NaN results.
GD_KERNEL void pixmap_interp(const double* cubic, const double* jac, const double* minv,
                             gd_index ncx, gd_index ncy, double cx0, double cy0, double step,
                             const double* tab_data, const double* tab_params,
                             const double* points, gd_index nx, gd_index x0, gd_index y0,
                             gd_index n, double* out, int* nan_count) {
    pm_args a;
    a.cubic = cubic;
    a.jac = jac;
    a.minv = minv;
    a.ncx = ncx;
    a.ncy = ncy;
    a.cx0 = cx0;
    a.cy0 = cy0;
    a.inv_step = 1.0 / step;
    a.from_d2im = pm_decode_kind(tab_data, tab_params, PM_FROM_D2IM);
    a.from_cpdis = pm_decode_kind(tab_data, tab_params, PM_FROM_CPDIS);
    a.to_d2im = pm_decode_kind(tab_data, tab_params, PM_TO_D2IM);
    a.to_cpdis = pm_decode_kind(tab_data, tab_params, PM_TO_CPDIS);
    a.use_jac = jac != 0 && a.from_cpdis.used;
    a.use_minv = minv != 0 && a.to_cpdis.used;
    if (points) {
        gd_parallel_for(n, [=](gd_index k) {
            pm_vec r = pm_map_point(a, pm_load(points + 2 * k));
            pm_store(out + 2 * k, r);
            if (nan_count && (gd_isnan(pm_x(r)) || gd_isnan(pm_y(r)))) gd_count(nan_count, 1);
        });
    } else {  // runs of PM_RUN pixels along rows
        gd_index runs = (nx + PM_RUN - 1) / PM_RUN;
        gd_parallel_rows(n / nx, runs, [=](gd_index row, gd_index run) {
            gd_index c0 = run * PM_RUN, c1 = c0 + PM_RUN < nx ? c0 + PM_RUN : nx;
            pm_map_run(a, (double)(y0 + row), x0, c0, c1, out + 2 * (row * nx + c0), nan_count);
        });
    }
}

// Offsets of one kind of lookup table (slots slot and slot + 1) at 0-based
// points (n, 2): out[k] = (dx, dy).  A slot that does not start a kind
// (0, 2, 4 or 6) gives NaN.
GD_KERNEL void pixmap_lookup(const double* tab_data, const double* tab_params, int slot,
                             const double* points, gd_index n, double* out) {
    bool valid = slot >= 0 && slot < PM_NSLOTS && slot % 2 == 0;
    pm_kind kind = pm_decode_kind(tab_data, valid ? tab_params : 0, valid ? slot : 0);
    gd_parallel_for(n, [=](gd_index k) {
        pm_vec r = valid ? pm_offsets(kind, points[2 * k], points[2 * k + 1]) : pm_nan2();
        pm_store(out + 2 * k, r);
    });
}
