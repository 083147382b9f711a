"""Pixel maps between two WCS: interpolated on a backend, or evaluated exactly.

A pixel map gives, for every pixel centre (i, j) of the "from" frame, its
0-based position (x, y) in the "to" frame (see REFERENCE.md section 1).

``method="interpolated"`` (the default):

1. **Grid.**  Nodes every ``stepsize`` pixels of the "from" frame, from one
   step before pixel 0 to at least one step past the last pixel of each
   axis, so every pixel has the full 4x4 stencil of a cubic interpolation.
2. **Nodes.**  The smooth part of the transform is evaluated exactly on the
   host at the nodes only.  For an ``astropy.wcs.WCS`` with lookup-table
   distortions (HST D2IMARR / WCSDVARR, astropy's ``det2im`` and ``cpdis``)
   the tables are split off (:mod:`gpudrizzle.distortion`) and the nodes
   carry the SIP + projection part, plus the Jacobians through which the
   focal-plane tables enter; a "to" frame's SIP is inverted by Newton's
   method.  Any other APE-14 object is evaluated as a whole.
3. **Kernel.**  The host turns every grid cell's 4x4 node stencil into the
   coefficients of its bicubic (tensor-product cubic Lagrange) polynomial;
   ``pixmap_interp`` (``cuda_kernels/pixmap.cu``) then runs one work item per
   pixel on the backend: exact table lookups (bilinear, clamped, as astropy)
   and the cell polynomial.
4. **Run-time check.**  At points off the nodes (the centre and two edge
   midpoints of every grid cell, where cubic interpolation errs most) the
   map is compared with the exact transform.  While the largest distance
   exceeds ``tolerance`` the step is halved, down to
   :data:`MIN_REFINED_STEPSIZE`; if that still fails, a
   :class:`PixmapAccuracyWarning` is issued and every pixel is evaluated
   exactly.
5. **NaN.**  Where the exact transform is NaN at a node, every pixel whose
   stencil uses that node comes out NaN from the kernel; all such pixels
   (and any whose "to" table inversion did not converge) are then evaluated
   exactly, one by one.  So the map is NaN exactly where the exact transform
   is NaN, never over whole cells; the cost is one exact evaluation per
   pixel within two cells of an invalid node ((4 * stepsize)**2 pixels per
   isolated invalid node).  A check point whose exact value is NaN where the
   interpolation is finite counts as an infinite error, so the step is
   halved until the invalid region holds a node.  An invalid region that
   holds neither a node nor a check point (narrower than about half a
   step) is not seen: use ``method="exact"`` for transforms with such
   small holes.
6. **Bounding boxes.**  Nodes and exact values are computed with every
   bounding box disabled; afterwards pixels outside an enforced "from"
   bounding box, and pixels that land outside an enforced "to" bounding
   box, are set to NaN (what a gwcs does when its box is enforced).

``method="exact"`` evaluates every pixel through the WCS objects (step 6
applies the same way).  "Exact" means ``wcs_to.world_to_pixel_values(
*wcs_from.pixel_to_world_values(x, y))``, except that an ``astropy.wcs.WCS``
"to" frame with distortions is inverted to :data:`EXACT_INVERSE_TOL` pixels
instead of astropy's default 1e-4.

The inverse map (from an output frame back to a distorted input frame, for
blot) is the same call with the frames swapped: the input frame's tables
are then inverted per pixel by fixed-point iteration in the kernel.
"""

import contextlib
import logging
import math
import numbers
import warnings
from typing import Any, NamedTuple

import numpy as np

from .backends import get_backend
from .distortion import DIFF_STEP, split_wcs
from .kernels import PIXMAP_TABLE_SLOTS, PIXMAP_TABLE_STRIDE
from .memory import check_fits

__all__ = [
    "METHODS",
    "DEFAULT_STEPSIZE",
    "MIN_REFINED_STEPSIZE",
    "EXACT_INVERSE_TOL",
    "PixmapAccuracyWarning",
    "PixmapResult",
    "PixmapPlan",
    "compute_pixmap",
    "exact_pixmap_values",
]

log = logging.getLogger("gpudrizzle")

#: Ways of computing a map.
METHODS = ("interpolated", "exact")
#: Grid step (pixels) when ``stepsize`` is None; halved by the run-time check as needed.
DEFAULT_STEPSIZE = 64
#: The run-time check halves the step only while it stays at least this large.
MIN_REFINED_STEPSIZE = 8
#: Tolerance (pixels) of astropy's iterative inverse in exact evaluations.
EXACT_INVERSE_TOL = 1e-9
#: At most this many grid cells are sampled by the run-time check (3 points each).
MAX_CHECK_CELLS = 1 << 16
#: Exact evaluations are done this many points at a time.
EXACT_CHUNK = 1 << 20
_DISABLE_BBOX = ("to", "from", "both", "none")


class PixmapAccuracyWarning(UserWarning):
    """The interpolated map could not meet the tolerance; it was evaluated exactly."""


class PixmapResult(NamedTuple):
    """A pixel map and how it was made.

    Attributes
    ----------
    pixmap : numpy.ndarray or backend array, shape (ny, nx, 2), float64
        ``pixmap[j, i] = (x, y)`` in the "to" frame of "from" pixel (i, j).
    method : str
        "interpolated" or "exact" (also after a fallback).
    stepsize : float or None
        Grid step finally used (None for exact evaluation).
    max_error : float
        Largest distance (pixels) between the map and the exact transform
        found by the run-time check; NaN when no check ran.
    n_exact : int
        Pixels evaluated exactly (all of them for the exact method).
    """

    pixmap: Any
    method: str
    stepsize: float | None
    max_error: float
    n_exact: int


# ---------------------------------------------------------------- arguments

def _plain_bbox(wcs):
    """The WCS bounding box as ((x0, x1), (y0, y1)), or None."""
    bbox = getattr(wcs, "bounding_box", None)
    if bbox is None:
        return None
    try:
        bbox = bbox.bounding_box(order="F")
    except AttributeError:
        bbox = tuple(bbox)
    if np.ndim(bbox) == 1:
        bbox = (bbox,)
    return tuple(tuple(float(v) for v in lim) for lim in bbox)


def _pixmap_shape(wcs_from, shape, bbox_from):
    """(ny, nx) of the map: ``shape``, else the "from" array shape or bounding box."""
    if shape is None:
        shape = getattr(wcs_from, "array_shape", None)
        if shape is None and bbox_from is not None:
            shape = tuple(math.ceil(lim[1] + 0.5) for lim in bbox_from[::-1])
    if shape is None:
        raise ValueError('The "from" WCS must have pixel_shape property set.')
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be a (ny, nx) tuple of positive integers; got {shape!r}") from None
    if len(shape) != 2 or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                                  and n > 0 for n in shape):
        raise ValueError(f"shape must be a (ny, nx) tuple of positive integers; got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_wcs(name, wcs):
    for attr in ("pixel_n_dim", "world_n_dim"):
        n = getattr(wcs, attr, None)
        if n is not None and n != 2:
            raise ValueError(f"{name} must have 2 pixel and 2 world axes; it has {attr}={n}")
    needed = "pixel_to_world_values" if name == "wcs_from" else "world_to_pixel_values"
    if not callable(getattr(wcs, needed, None)):
        raise TypeError(f"{name} must be an APE-14 WCS object with {needed}(); got {type(wcs).__name__}")


def _parse_args(method, stepsize, tolerance, disable_bbox):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    if disable_bbox not in _DISABLE_BBOX:
        raise ValueError(f"disable_bbox must be 'to', 'from', 'both' or 'none'; got {disable_bbox!r}")
    if stepsize is not None:
        if isinstance(stepsize, bool) or not isinstance(stepsize, numbers.Real) \
                or not math.isfinite(stepsize) or stepsize < 1:
            raise ValueError(f"stepsize must be a number >= 1 (pixels) or None; got {stepsize!r}")
        stepsize = float(stepsize)
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) \
            or not math.isfinite(tolerance) or tolerance <= 0:
        raise ValueError(f"tolerance must be a positive number of pixels; got {tolerance!r}")
    return stepsize, float(tolerance)


@contextlib.contextmanager
def _bboxes_disabled(*objs):
    """Temporarily set ``bounding_box = None`` on the objects that have one."""
    saved = [(o, o.bounding_box) for o in objs if getattr(o, "bounding_box", None) is not None]
    for o, _ in saved:
        o.bounding_box = None
    try:
        yield
    finally:
        for o, b in saved:
            o.bounding_box = b


# ------------------------------------------------------- the two transforms

class _Frames:
    """The pair of WCS, split into tables and smooth parts where possible."""

    def __init__(self, wcs_from, wcs_to):
        self.wcs_from = wcs_from
        self.wcs_to = wcs_to
        self.split_from = split_wcs(wcs_from)
        self.split_to = split_wcs(wcs_to)
        sf, st = self.split_from, self.split_to
        self.from_tables = sf is not None and (sf.has_d2im or sf.has_cpdis)
        self.from_cpdis = sf is not None and sf.has_cpdis
        self.to_inverse = st is not None and (st.has_sip or st.has_d2im or st.has_cpdis)
        self.to_tables = st is not None and (st.has_d2im or st.has_cpdis)
        self.to_cpdis = st is not None and st.has_cpdis

    def tables(self):
        """The lookup tables in play: kind ("from_d2im", ...) -> (x table, y table)."""
        none = (None, None)
        sf, st = self.split_from, self.split_to
        return {
            "from_d2im": sf.d2im if self.from_tables else none,
            "from_cpdis": sf.cpdis if self.from_tables else none,
            "to_d2im": st.d2im if self.to_tables else none,
            "to_cpdis": st.cpdis if self.to_tables else none,
        }

    def _target(self, world):
        """"To" positions (n, 2) of world coordinates, and d image / d focal (n, 4) or None.

        With "to" tables the positions invert only the smooth part (the
        kernel inverts the tables).
        """
        if not self.to_inverse:
            x, y = self.wcs_to.world_to_pixel_values(*world)
            return np.column_stack([np.ravel(x), np.ravel(y)]), None
        fx, fy = self.split_to.world_to_focal(*world)
        x, y, minv = self.split_to.focal_to_image(fx, fy)
        return np.column_stack([x, y]), minv.reshape(-1, 4)

    def nodes(self, X, Y):
        """Node values at "from" grid positions X, Y (n,).

        Returns
        -------
        grid : numpy.ndarray, shape (n, 2), float64
        jac : numpy.ndarray, shape (n, 4), float64, or None
            d target / d "from" focal plane (only with "from" cpdis tables).
        minv : numpy.ndarray, shape (n, 4), float64, or None
            d "to" image / d "to" focal plane (only with "to" cpdis tables).
        """
        n = X.size
        if not self.from_tables:
            world = self.wcs_from.pixel_to_world_values(X, Y)
            grid, minv = self._target(world)
            return grid, None, (minv if self.to_cpdis else None)
        sf = self.split_from
        wx, wy = sf.smooth_pixel_to_world(X, Y)
        if not self.from_cpdis:
            grid, minv = self._target((wx, wy))
            return grid, None, (minv if self.to_cpdis else None)
        # Central differences through the focal plane, in one batch.
        fx, fy = sf.focal(X, Y)
        h = DIFF_STEP
        sx = np.concatenate([fx + h, fx - h, fx, fx])
        sy = np.concatenate([fy, fy, fy + h, fy - h])
        world = sf.focal_to_world(sx, sy)
        world = (np.concatenate([wx, world[0]]), np.concatenate([wy, world[1]]))
        values, minv = self._target(world)
        grid = values[:n]
        d = values[n:].reshape(4, n, 2)
        jac = np.empty((n, 4))
        jac[:, 0] = (d[0, :, 0] - d[1, :, 0]) / (2 * h)
        jac[:, 1] = (d[2, :, 0] - d[3, :, 0]) / (2 * h)
        jac[:, 2] = (d[0, :, 1] - d[1, :, 1]) / (2 * h)
        jac[:, 3] = (d[2, :, 1] - d[3, :, 1]) / (2 * h)
        return grid, jac, (minv[:n] if self.to_cpdis else None)

    def exact(self, x, y):
        """Exact "to" positions (n, 2) of 0-based "from" positions x, y (n,)."""
        out = np.empty((x.size, 2))
        for start in range(0, x.size, EXACT_CHUNK):
            sl = slice(start, start + EXACT_CHUNK)
            world = self.wcs_from.pixel_to_world_values(x[sl], y[sl])
            if self.to_inverse:
                ox, oy = self.wcs_to.all_world2pix(*world, 0, tolerance=EXACT_INVERSE_TOL,
                                                   maxiter=100, quiet=True)
            else:
                ox, oy = self.wcs_to.world_to_pixel_values(*world)
            out[sl, 0] = ox
            out[sl, 1] = oy
        return out


def exact_pixmap_values(wcs_from, wcs_to, x, y):
    """Exact "to" positions of "from" positions, as ``method="exact"`` computes them.

    Bounding boxes are honoured as the WCS objects honour them.

    Parameters
    ----------
    wcs_from, wcs_to : APE-14 WCS
    x, y : array_like, float64
        0-based "from" positions, same shape.

    Returns
    -------
    numpy.ndarray, shape x.shape + (2,), float64
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape; got {x.shape} and {y.shape}")
    _check_wcs("wcs_from", wcs_from)
    _check_wcs("wcs_to", wcs_to)
    return _Frames(wcs_from, wcs_to).exact(x.ravel(), y.ravel()).reshape(x.shape + (2,))


# ------------------------------------------------------ grid and the kernel

#: Cubic Lagrange basis of the nodes at -1, 0, 1, 2 in monomials: row k holds
#: the coefficients of t**0..t**3 of node k's weight.
_LAGRANGE = np.array([
    [0.0, -1.0 / 3.0, 0.5, -1.0 / 6.0],
    [1.0, -0.5, -1.0, 0.5],
    [0.0, 1.0, 0.5, -0.5],
    [0.0, -1.0 / 6.0, 0.0, 1.0 / 6.0],
])
#: Node channels (m00, m01, m10, m11) -> the kernel's column order (m00, m10, m01, m11).
_COLUMN_MAJOR = [0, 2, 1, 3]


class _Grid(NamedTuple):
    """Nodes every ``step`` pixels from -step; cell (a, b) spans nodes a+1..a+2, b+1..b+2."""

    step: float
    gnx: int
    gny: int

    @classmethod
    def for_shape(cls, shape, step):
        ny, nx = shape
        kx = max(1, math.ceil((nx - 1) / step))
        ky = max(1, math.ceil((ny - 1) / step))
        return cls(step, kx + 3, ky + 3)

    @property
    def ncx(self):
        return self.gnx - 3

    @property
    def ncy(self):
        return self.gny - 3

    def positions(self):
        """Node positions X, Y, shape (gny * gnx,), row-major."""
        X, Y = np.meshgrid(self.step * np.arange(-1, self.gnx - 1),
                           self.step * np.arange(-1, self.gny - 1))
        return X.ravel(), Y.ravel()

    def samples(self, shape):
        """Check points: centre and left/bottom edge midpoints of the cells (clipped to the image)."""
        ny, nx = shape
        lo_x = np.minimum(np.arange(self.ncx) * self.step, nx - 1.0)
        lo_y = np.minimum(np.arange(self.ncy) * self.step, ny - 1.0)
        c_x = 0.5 * (lo_x + np.minimum(lo_x + self.step, nx - 1.0))
        c_y = 0.5 * (lo_y + np.minimum(lo_y + self.step, ny - 1.0))
        ncells = lo_x.size * lo_y.size
        if ncells > MAX_CHECK_CELLS:
            stride = math.ceil(math.sqrt(ncells / MAX_CHECK_CELLS))
            lo_x, c_x, lo_y, c_y = lo_x[::stride], c_x[::stride], lo_y[::stride], c_y[::stride]
        xs = [np.meshgrid(c_x, c_y), np.meshgrid(c_x, lo_y), np.meshgrid(lo_x, c_y)]
        x = np.concatenate([a.ravel() for a, _ in xs])
        y = np.concatenate([b.ravel() for _, b in xs])
        return x, y

    def cubic_cells(self, values):
        """Bicubic cell polynomials from node values (gny, gnx, 2).

        Returns
        -------
        numpy.ndarray, shape (ncy, ncx, 32), float64
            Coefficient of ty**m * tx**n of channel c at index (4 m + n) * 2 + c.
        """
        win = np.lib.stride_tricks.sliding_window_view(values, (4, 4), axis=(0, 1))
        coef = np.einsum("bm,yxcba,an->yxmnc", _LAGRANGE, win, _LAGRANGE, optimize=True)
        return np.ascontiguousarray(coef.reshape(self.ncy, self.ncx, 32))

    def matrix_cells(self, values):
        """Bilinear cell matrices from node matrices (gny, gnx, 4) in row-major order.

        Returns
        -------
        numpy.ndarray, shape (ncy, ncx, 16), float64
            Terms 1, tx, ty, tx*ty (major) of the entries m00, m10, m01, m11.
        """
        v = values[..., _COLUMN_MAJOR]
        c00 = v[1:-2, 1:-2]
        c10 = v[1:-2, 2:-1]
        c01 = v[2:-1, 1:-2]
        c11 = v[2:-1, 2:-1]
        terms = np.stack([c00, c10 - c00, c01 - c00, c11 - c10 - c01 + c00], axis=2)
        return np.ascontiguousarray(terms.reshape(self.ncy, self.ncx, 16))


def _same_geometry(a, b):
    return a.data.shape == b.data.shape and (a.crpix, a.crval, a.cdelt) == (b.crpix, b.crval, b.cdelt)


def _check_table(kind, t):
    if t.data.ndim != 2 or 0 in t.data.shape:
        raise ValueError(f"{kind} lookup table must be a non-empty 2-D array; got shape {t.data.shape}")
    if 0.0 in t.cdelt or not all(map(math.isfinite, t.cdelt + t.crpix + t.crval)):
        raise ValueError(f"{kind} lookup table has an invalid cdelt/crpix/crval: "
                         f"{t.cdelt}, {t.crpix}, {t.crval}")


def _pack_tables(kinds):
    """Kernel table arguments (tab_data, tab_params), float64, or (None, None).

    Parameters
    ----------
    kinds : dict
        Kind name ("from_d2im", ...) -> (x table, y table), each a
        :class:`~gpudrizzle.distortion.LookupTable` or None.
    """
    if all(t is None for pair in kinds.values() for t in pair):
        return None, None
    params = np.zeros(len(PIXMAP_TABLE_SLOTS) * PIXMAP_TABLE_STRIDE)
    chunks, offset = [], 0
    for kind, (tx, ty) in kinds.items():
        for t in (tx, ty):
            if t is not None:
                _check_table(kind, t)
        if tx is not None and ty is not None and _same_geometry(tx, ty):
            slots = [(tx, np.stack([tx.data, ty.data], axis=-1))]
        else:
            slots = [(t, np.stack([t.data, np.zeros_like(t.data)] if c == 0
                                  else [np.zeros_like(t.data), t.data], axis=-1))
                     for c, t in enumerate((tx, ty)) if t is not None]
        first = PIXMAP_TABLE_SLOTS.index(kind)
        for k, (t, data) in enumerate(slots):
            ny, nx = t.data.shape
            params[(first + k) * PIXMAP_TABLE_STRIDE:(first + k + 1) * PIXMAP_TABLE_STRIDE] = (
                nx, ny, t.crpix[0] - 1.0, t.crpix[1] - 1.0, t.crval[0] - 1.0, t.crval[1] - 1.0,
                1.0 / t.cdelt[0], 1.0 / t.cdelt[1], offset)
            chunks.append(data.astype(np.float64).ravel())
            offset += data.size
    return np.concatenate(chunks), params


class _Interpolator:
    """Cell coefficients of one grid on a backend, and the kernel calls that use them."""

    def __init__(self, backend, frames, grid, tab_data, tab_params):
        self.backend = backend
        self.grid = grid
        X, Y = grid.positions()
        values, jac, minv = frames.nodes(X, Y)
        shape = (grid.gny, grid.gnx)
        up = backend.asarray
        self.args = dict(
            cubic=up(grid.cubic_cells(values.reshape(shape + (2,))), np.float64),
            jac=None if jac is None else up(grid.matrix_cells(jac.reshape(shape + (4,))), np.float64),
            minv=None if minv is None else up(grid.matrix_cells(minv.reshape(shape + (4,))), np.float64),
            ncx=grid.ncx, ncy=grid.ncy, cx0=0.0, cy0=0.0, step=grid.step,
            tab_data=tab_data, tab_params=tab_params,
        )

    def at_points(self, x, y):
        """Map values (n, 2) at 0-based points, as a numpy array."""
        pts = self.backend.asarray(np.column_stack([x, y]), np.float64)
        out = self.backend.xp.empty((x.size, 2), dtype=np.float64)
        self.backend.pixmap(points=pts, nx=1, x0=0, y0=0, n=x.size, out=out, nan_count=None,
                            **self.args)
        return self.backend.to_host(out)

    def full(self, out):
        """Fill the whole map ``out`` (ny, nx, 2); return how many of its pixels are NaN."""
        ny, nx = out.shape[:2]
        count = self.backend.xp.zeros(1, dtype=np.int32)
        self.backend.pixmap(points=None, nx=nx, x0=0, y0=0, n=nx * ny, out=out, nan_count=count,
                            **self.args)
        return int(self.backend.to_host(count)[0])


def _sample_error(approx, exact):
    """Largest distance between approximate and exact positions (n, 2).

    A NaN approximation is not an error (that pixel is evaluated exactly);
    a finite approximation of a NaN exact value is an infinite one.
    """
    if approx.size == 0:
        return 0.0
    a_ok = np.isfinite(approx).all(axis=1)
    e_ok = np.isfinite(exact).all(axis=1)
    if np.any(a_ok & ~e_ok):
        return math.inf
    both = a_ok & e_ok
    if not both.any():
        return 0.0
    d = approx[both] - exact[both]
    return float(np.hypot(d[:, 0], d[:, 1]).max())


# ------------------------------------------------------------ the map itself

def _exact_map(frames, shape):
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    return frames.exact(x.ravel(), y.ravel()).reshape(ny, nx, 2)


def _fill_nans(backend, out, frames, shape):
    """Evaluate exactly every pixel that is NaN in ``out``; return how many."""
    xp = backend.xp
    flat = out.reshape(-1, 2)
    idx = backend.to_host(xp.flatnonzero(xp.isnan(flat).any(axis=1)))
    j, i = np.divmod(idx, shape[1])
    values = frames.exact(i.astype(np.float64), j.astype(np.float64))
    flat[backend.asarray(idx, np.int64)] = backend.asarray(values, np.float64)
    return int(idx.size)


def _apply_bboxes(backend, out, bbox_from, bbox_to, disable_bbox):
    """NaN outside the enforced bounding boxes (see the module notes)."""
    xp = backend.xp
    if bbox_from is not None and disable_bbox in ("to", "none"):
        (x0, x1), (y0, y1) = bbox_from[:2]
        ny, nx = out.shape[:2]
        cols = np.arange(nx)
        rows = np.arange(ny)
        out[:, backend.asarray((cols < x0) | (cols > x1), np.bool_)] = np.nan
        out[backend.asarray((rows < y0) | (rows > y1), np.bool_)] = np.nan
    if bbox_to is not None and disable_bbox in ("from", "none"):
        (x0, x1), (y0, y1) = bbox_to[:2]
        with np.errstate(invalid="ignore"):
            outside = ((out[..., 0] < x0) | (out[..., 0] > x1)
                       | (out[..., 1] < y0) | (out[..., 1] > y1))
        out[outside] = xp.nan


def compute_pixmap(wcs_from, wcs_to, shape=None, disable_bbox="to", *, method="interpolated",
                   stepsize=None, tolerance=1e-4, backend=None, device_array=False):
    """Map every pixel centre of the "from" frame into the "to" frame.

    Parameters
    ----------
    wcs_from, wcs_to : APE-14 WCS (e.g. `astropy.wcs.WCS`, gwcs)
        Frames to map from and to; two pixel and two world axes each.  An
        ``astropy.wcs.WCS`` built with its HDUList
        (``WCS(hdul[("SCI", 1)].header, hdul)``) carries SIP and the
        D2IMARR / WCSDVARR lookup tables, all of which are honoured.
    shape : tuple of int, optional
        (ny, nx) of the map; default ``wcs_from.array_shape`` or the extent
        of its bounding box.
    disable_bbox : {"to", "from", "both", "none"}
        Which bounding boxes are ignored (drizzle 3.0's meaning).
    method : {"interpolated", "exact"}
        See the module notes.
    stepsize : float, optional
        Initial grid step in pixels (>= 1); default :data:`DEFAULT_STEPSIZE`.
        The run-time check may halve it.
    tolerance : float
        Largest distance, in "to" pixels, allowed between the interpolated
        map and the exact transform at the check points.
    backend : str or Backend, optional
        Where the kernel runs (see :func:`gpudrizzle.get_backend`).
    device_array : bool
        Return the map as an array of the backend (a ``cupy.ndarray`` for
        ``cuda``) instead of a numpy array.

    Returns
    -------
    PixmapResult
        ``.pixmap`` has shape (ny, nx, 2), float64.

    Raises
    ------
    ValueError
        For a bad argument (the message names it).
    MemoryError
        When the map does not fit in the backend's available memory
        (checked before anything is allocated or evaluated).

    Warns
    -----
    PixmapAccuracyWarning
        When the tolerance cannot be met by interpolation and the map was
        evaluated exactly instead.
    """
    result = PixmapPlan(wcs_from, wcs_to, shape, disable_bbox, method=method, stepsize=stepsize,
                        tolerance=tolerance, backend=backend).build()
    if not device_array:
        result = result._replace(pixmap=get_backend(backend).to_host(result.pixmap))
    return result


class PixmapPlan:
    """Everything :func:`compute_pixmap` decides before it fills the map.

    Making the plan evaluates the transform at the grid nodes and runs the
    accuracy check (all on the host, small); :meth:`build` then fills a
    whole map on the backend with no further WCS evaluation (except the
    pixels that come out NaN).  A pipeline keeps the plan, a few hundred
    kilobytes, instead of the map, and builds the map again when needed.

    Parameters are those of :func:`compute_pixmap` (without
    ``device_array``); the map is always a backend array.
    """

    def __init__(self, wcs_from, wcs_to, shape=None, disable_bbox="to", *,
                 method="interpolated", stepsize=None, tolerance=1e-4, backend=None):
        stepsize, tolerance = _parse_args(method, stepsize, tolerance, disable_bbox)
        _check_wcs("wcs_from", wcs_from)
        _check_wcs("wcs_to", wcs_to)
        self.bbox_from, self.bbox_to = _plain_bbox(wcs_from), _plain_bbox(wcs_to)
        self.shape = _pixmap_shape(wcs_from, shape, self.bbox_from)
        self.disable_bbox = disable_bbox
        self.backend = get_backend(backend)
        self._check_memory()
        self.frames = _Frames(wcs_from, wcs_to)
        self.interp, self.stepsize, self.max_error = None, None, math.nan
        if method == "interpolated":
            with self._evaluating():
                self.interp, self.stepsize, self.max_error = _plan_grid(
                    self.backend, self.frames, self.shape, stepsize or DEFAULT_STEPSIZE, tolerance)

    def _check_memory(self):
        """MemoryError unless the (ny, nx, 2) float64 map fits on the backend."""
        ny, nx = self.shape
        check_fits(self.backend, 16 * ny * nx, f"the pixel map of shape {(ny, nx, 2)} (float64)")

    def _evaluating(self):
        return _bboxes_disabled(self.frames.wcs_from, self.frames.wcs_to)

    def build(self, out=None):
        """Fill the map.

        Parameters
        ----------
        out : backend array (ny, nx, 2) float64, optional
            Where to write it (e.g. the buffer of an earlier map that is no
            longer needed); default a new array.

        Returns
        -------
        PixmapResult
            ``.pixmap`` is ``out`` (or a new backend array).
        """
        b, shape = self.backend, self.shape
        if out is not None and (tuple(out.shape) != shape + (2,) or out.dtype != np.float64):
            raise ValueError(f"'out' must be a float64 array of shape {shape + (2,)}; got "
                             f"{out.dtype} {tuple(out.shape)}")
        if out is None:
            self._check_memory()
            out = b.xp.empty(shape + (2,), np.float64)
        with self._evaluating():
            if self.interp is None:
                out[...] = b.asarray(_exact_map(self.frames, shape), np.float64)
                method, n_exact = "exact", shape[0] * shape[1]
            else:
                n_nan = self.interp.full(out)
                n_exact = _fill_nans(b, out, self.frames, shape) if n_nan else 0
                method = "interpolated"
                log.info("pixel map: stepsize %g, max check error %.3g px, %d pixels exact",
                         self.stepsize, self.max_error, n_exact)
        _apply_bboxes(b, out, self.bbox_from, self.bbox_to, self.disable_bbox)
        return PixmapResult(out, method, self.stepsize, self.max_error, n_exact)


def _plan_grid(backend, frames, shape, step, tolerance):
    """(interpolator, step, check error) meeting ``tolerance``, or (None, None, error) for exact."""
    tab_data, tab_params = _pack_tables(frames.tables())
    if tab_data is not None:
        tab_data = backend.asarray(tab_data, np.float64)
        tab_params = backend.asarray(tab_params, np.float64)
    while True:
        grid = _Grid.for_shape(shape, step)
        interp = _Interpolator(backend, frames, grid, tab_data, tab_params)
        sx, sy = grid.samples(shape)
        error = _sample_error(interp.at_points(sx, sy), frames.exact(sx, sy))
        if error <= tolerance:
            return interp, step, error
        if step / 2 < MIN_REFINED_STEPSIZE:
            warnings.warn(
                f"pixel map: interpolation error {error:.3g} px exceeds tolerance {tolerance:g} px "
                f"even with stepsize {step:g}; evaluating all {shape[0] * shape[1]} pixels exactly",
                PixmapAccuracyWarning, stacklevel=4)
            return None, None, error
        log.info("pixel map: error %.3g px > %g px at stepsize %g; halving", error, tolerance, step)
        step /= 2
