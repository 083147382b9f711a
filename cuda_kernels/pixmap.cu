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
// One pixel p (0-based; tables work in 1-based FITS pixels, P = p + 1):
//   D = P + det2im_from(P)                    detector -> image plane
//   s = G(D - 1) + J(D - 1) . cpdis_from(D)   G: the interpolated smooth map
//                                             at the det2im-corrected
//                                             position; cpdis is added in the
//                                             "from" focal plane, so it
//                                             enters through J = d s / d
//                                             focal plane (bilinear per cell)
// When the "to" frame has tables, s inverts only its smooth part, and the
// tables are inverted by fixed-point iteration (1-based, S = s + 1):
//   E = S - M . cpdis_to(E),  Q = E - det2im_to(Q),   out = Q - 1
// with M = d(to image plane) / d(to focal plane), bilinear per cell.
#include "common.cuh"

// Lookup-table slots in tab_params, PM_TAB_STRIDE doubles each:
//   nx, ny (0 when the slot is empty), crpix1, crpix2, crval1, crval2,
//   cdelt1, cdelt2, offset of the (ny, nx) float32 table in tab_data, and
//   (y slots only) 1 when the table has the geometry of the pair's x table.
// Slots come in (x, y) pairs: from det2im, from cpdis, to det2im, to cpdis.
enum {
    PM_FROM_D2IM = 0,
    PM_FROM_CPDIS = 2,
    PM_TO_D2IM = 4,
    PM_TO_CPDIS = 6,
    PM_NSLOTS = 8
};
#define PM_TAB_STRIDE 10
#define PM_MAX_ITER 50
#define PM_CONVERGED 1e-11

// Coefficients per cell: the bicubic, 16 monomials t_y^m t_x^n (m major)
// times 2 channels (x, y); a bilinear 2x2 matrix, 4 terms (1, t_x, t_y,
// t_x t_y) times 4 entries (row-major).
#define PM_CUBIC_COEFFS 32
#define PM_MATRIX_COEFFS 16

// Where 1-based position (x, y) falls in a table: clamped table coordinate,
// the two nodes around it on each axis and the weights of the upper ones.
struct pm_tpos {
    gd_index r0, r1, c0, c1;  // row offsets (j * nx) and columns
    double wu, wv;
};

// Locate (x, y) in the table of slot parameters par, as astropy's
// distortion lookup does: (pos - crval) / cdelt + crpix - 1, clamped to
// [0, n - 1]; the node above is clamped to the table.  False for NaN.
GD_DEVICE bool pm_locate(const double* GD_RESTRICT par, double x, double y, pm_tpos* t) {
    gd_index nx = (gd_index)par[0], ny = (gd_index)par[1];
    double u = (x - par[4]) / par[6] + par[2] - 1.0;
    double v = (y - par[5]) / par[7] + par[3] - 1.0;
    if (gd_isnan(u) || gd_isnan(v)) return false;
    double hx = (double)(nx - 1), hy = (double)(ny - 1);
    u = u > hx ? hx : (u < 0.0 ? 0.0 : u);
    v = v > hy ? hy : (v < 0.0 ? 0.0 : v);
    gd_index i0 = (gd_index)u, j0 = (gd_index)v;  // u, v >= 0: truncation is floor
    t->c0 = i0;
    t->c1 = i0 + 1 < nx ? i0 + 1 : nx - 1;
    t->r0 = j0 * nx;
    t->r1 = (j0 + 1 < ny ? j0 + 1 : ny - 1) * nx;
    t->wu = u - (double)i0;
    t->wv = v - (double)j0;
    return true;
}

// Bilinear value of one table at a located position (astropy's order of terms).
GD_DEVICE double pm_blend(const float* GD_RESTRICT tab, const pm_tpos& t) {
    double iu = 1.0 - t.wu, iv = 1.0 - t.wv;
    return (double)tab[t.r0 + t.c0] * iu * iv + (double)tab[t.r1 + t.c0] * iu * t.wv +
           (double)tab[t.r0 + t.c1] * t.wu * iv + (double)tab[t.r1 + t.c1] * t.wu * t.wv;
}

// Offset from the table of one slot at 1-based (x, y): 0 for an empty slot,
// NaN for a NaN position.
GD_DEVICE double pm_table(const float* GD_RESTRICT data, const double* GD_RESTRICT par,
                          double x, double y) {
    if (!(par[0] > 0.0 && par[1] > 0.0)) return 0.0;
    pm_tpos t;
    if (!pm_locate(par, x, y, &t)) return nan("");
    return pm_blend(data + (gd_index)par[8], t);
}

// Offsets (dx, dy) of the table pair starting at slot s.
GD_DEVICE void pm_pair(const float* GD_RESTRICT data, const double* GD_RESTRICT params, int s,
                       double x, double y, double* dx, double* dy) {
    const double* px = params + PM_TAB_STRIDE * s;
    const double* py = px + PM_TAB_STRIDE;
    if (py[9] != 0.0) {
        pm_tpos t;
        if (!pm_locate(px, x, y, &t)) {
            *dx = *dy = nan("");
            return;
        }
        *dx = pm_blend(data + (gd_index)px[8], t);
        *dy = pm_blend(data + (gd_index)py[8], t);
        return;
    }
    *dx = pm_table(data, px, x, y);
    *dy = pm_table(data, py, x, y);
}

GD_DEVICE bool pm_pair_used(const double* params, int s) {
    return params != 0 && (params[PM_TAB_STRIDE * s] > 0.0 || params[PM_TAB_STRIDE * (s + 1)] > 0.0);
}

// Cell of one axis: index clamped to [0, n - 1] and the local coordinate
// (beyond the first or last cell it extrapolates that cell's polynomial).
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

// 2x2 matrix (row-major) of a bilinear cell at (tx, ty).
GD_DEVICE void pm_matrix(const double* GD_RESTRICT c, double tx, double ty, double* m) {
    double txy = tx * ty;
    for (int e = 0; e < 4; ++e) m[e] = c[e] + tx * c[4 + e] + ty * c[8 + e] + txy * c[12 + e];
}

struct pm_args {
    const double* cubic;   // (ncy, ncx, 32) smooth map per cell
    const double* jac;     // (ncy, ncx, 16) d s / d from focal plane, or null
    const double* minv;    // (ncy, ncx, 16) d to image / d to focal plane, or null
    gd_index ncx, ncy;
    double cx0, cy0, step;  // cell (a, b) covers [cx0 + a step, cx0 + (a + 1) step] x ...
    const float* tab_data;
    const double* tab_params;
    bool from_d2im, to_d2im;
};

// Map one pixel at 0-based position (px, py) into (*ox, *oy).
GD_DEVICE void pm_map_point(const pm_args& a, double px, double py, double* ox, double* oy) {
    double X = px + 1.0, Y = py + 1.0;
    if (a.from_d2im) {
        double dx, dy;
        pm_pair(a.tab_data, a.tab_params, PM_FROM_D2IM, X, Y, &dx, &dy);
        X += dx;
        Y += dy;
    }
    double tx, ty;
    gd_index ci = pm_cell((X - 1.0 - a.cx0) / a.step, a.ncx, &tx);
    gd_index cj = pm_cell((Y - 1.0 - a.cy0) / a.step, a.ncy, &ty);
    gd_index cell = cj * a.ncx + ci;
    const double* c = a.cubic + PM_CUBIC_COEFFS * cell;
    double sx = 0.0, sy = 0.0;
    for (int m = 3; m >= 0; --m) {  // Horner in t_y of Horner in t_x
        const double* r = c + 8 * m;
        double rx = ((r[6] * tx + r[4]) * tx + r[2]) * tx + r[0];
        double ry = ((r[7] * tx + r[5]) * tx + r[3]) * tx + r[1];
        sx = sx * ty + rx;
        sy = sy * ty + ry;
    }
    if (a.jac) {
        double cx, cy, m[4];
        pm_pair(a.tab_data, a.tab_params, PM_FROM_CPDIS, X, Y, &cx, &cy);
        pm_matrix(a.jac + PM_MATRIX_COEFFS * cell, tx, ty, m);
        sx += m[0] * cx + m[1] * cy;
        sy += m[2] * cx + m[3] * cy;
    }
    if (!a.minv && !a.to_d2im) {
        *ox = sx;
        *oy = sy;
        return;
    }
    double m[4] = {0.0, 0.0, 0.0, 0.0};
    if (a.minv) pm_matrix(a.minv + PM_MATRIX_COEFFS * cell, tx, ty, m);
    double SX = sx + 1.0, SY = sy + 1.0;
    double ex = SX, ey = SY, qx = SX, qy = SY;
    bool done = false;
    for (int it = 0; it < PM_MAX_ITER && !done; ++it) {
        double nex = SX, ney = SY, dx = 0.0, dy = 0.0;
        if (a.minv) {
            double cx, cy;
            pm_pair(a.tab_data, a.tab_params, PM_TO_CPDIS, ex, ey, &cx, &cy);
            nex -= m[0] * cx + m[1] * cy;
            ney -= m[2] * cx + m[3] * cy;
        }
        if (a.to_d2im) pm_pair(a.tab_data, a.tab_params, PM_TO_D2IM, qx, qy, &dx, &dy);
        double nqx = nex - dx, nqy = ney - dy;
        double change = fabs(nex - ex) + fabs(ney - ey) + fabs(nqx - qx) + fabs(nqy - qy);
        done = change <= PM_CONVERGED;
        ex = nex;
        ey = ney;
        qx = nqx;
        qy = nqy;
    }
    // Not converged (or NaN): NaN, which the host then evaluates exactly.
    *ox = done ? qx - 1.0 : nan("");
    *oy = done ? qy - 1.0 : nan("");
}

// The pixel map: out[k] = (x, y) in the "to" frame of "from" pixel k, where
// pixel k is points[k] (0-based x, y) when points is given, else the pixel
// (x0 + k % nx, y0 + k / nx) of a row-major block nx wide.
GD_KERNEL void pixmap_interp(const double* cubic, const double* jac, const double* minv,
                             gd_index ncx, gd_index ncy, double cx0, double cy0, double step,
                             const float* tab_data, const double* tab_params,
                             const double* points, gd_index nx, gd_index x0, gd_index y0,
                             gd_index n, double* out) {
    pm_args a = {cubic, jac, minv, ncx, ncy, cx0, cy0, step, tab_data, tab_params,
                 pm_pair_used(tab_params, PM_FROM_D2IM), pm_pair_used(tab_params, PM_TO_D2IM)};
    gd_parallel_for(n, [&](gd_index k) {
        double px, py;
        if (points) {
            px = points[2 * k];
            py = points[2 * k + 1];
        } else {
            gd_index row = k / nx;
            px = (double)(x0 + (k - row * nx));
            py = (double)(y0 + row);
        }
        pm_map_point(a, px, py, &out[2 * k], &out[2 * k + 1]);
    });
}

// Offsets of one table pair (slot s for x, s + 1 for y; either may be
// empty) at 0-based points (n, 2): out[k] = (dx, dy).
GD_KERNEL void pixmap_lookup(const float* tab_data, const double* tab_params, int slot,
                             const double* points, gd_index n, double* out) {
    gd_parallel_for(n, [&](gd_index k) {
        double dx, dy;
        pm_pair(tab_data, tab_params, slot, points[2 * k] + 1.0, points[2 * k + 1] + 1.0, &dx, &dy);
        out[2 * k] = dx;
        out[2 * k + 1] = dy;
    });
}
