"""An astropy WCS split into its lookup-table distortions and its smooth part.

astropy.wcs evaluates a FITS WCS with distortions (``WCS.all_pix2world``) as
a pipeline on 1-based pixel coordinates P:

1. ``D = P + det2im(P)``: detector-to-image lookup tables (HST D2IMARR), one
   per axis, each evaluated at the detector position P;
2. ``F = D + sip(D) + cpdis(D)``: the SIP polynomials and the prior
   distortion lookup tables (HST WCSDVARR), both evaluated at D;
3. wcslib turns the focal-plane position F into world coordinates.

Each lookup table is bilinear between nodes ``cdelt`` pixels apart, so the
composite map has slope jumps at the nodes.  :class:`SplitWCS` exposes the
pieces separately so that the smooth part (SIP and wcslib) can be sampled on
a sparse grid while the tables are applied exactly per pixel (by the
``pixmap_interp`` kernel).  Coordinates here are 0-based, as everywhere in
gpudrizzle; astropy defines the tables on 1-based positions, and
:func:`gpudrizzle.pixmap.compute_pixmap` converts their reference values.
"""

from typing import NamedTuple

import numpy as np

__all__ = ["LookupTable", "SplitWCS", "split_wcs", "linear_wcs"]

#: Newton iterations allowed when inverting the SIP polynomials.
NEWTON_MAX_ITER = 30
#: Newton stops when the largest update is below this (pixels).
NEWTON_TOL = 1e-10
#: Half step (pixels) of the central differences for Jacobians.
DIFF_STEP = 0.5


class LookupTable(NamedTuple):
    """One distortion lookup table as astropy reads it.

    Attributes
    ----------
    data : numpy.ndarray, shape (ny, nx), float32
        Offsets in pixels at the table nodes.
    crpix, crval, cdelt : tuple of float
        Table position ``(pos - crval) / cdelt + crpix`` (1-based) of image
        position ``pos`` (1-based), per axis.
    """

    data: np.ndarray
    crpix: tuple
    crval: tuple
    cdelt: tuple

    @classmethod
    def from_astropy(cls, table):
        """Copy an ``astropy.wcs.DistortionLookupTable`` (None gives None)."""
        if table is None:
            return None
        return cls(np.ascontiguousarray(table.data, dtype=np.float32),
                   tuple(float(v) for v in table.crpix),
                   tuple(float(v) for v in table.crval),
                   tuple(float(v) for v in table.cdelt))


def _inverse2(m):
    """Inverses of 2x2 matrices (n, 2, 2); NaN/inf where singular."""
    with np.errstate(divide="ignore", invalid="ignore"):
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        inv = np.empty_like(m)
        inv[:, 0, 0] = m[:, 1, 1] / det
        inv[:, 0, 1] = -m[:, 0, 1] / det
        inv[:, 1, 0] = -m[:, 1, 0] / det
        inv[:, 1, 1] = m[:, 0, 0] / det
    return inv


def _stack(x, y):
    return np.column_stack([np.ravel(x), np.ravel(y)])


class SplitWCS:
    """A 2-D astropy WCS as lookup tables plus a smooth part.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Two pixel axes, two world axes.

    Attributes
    ----------
    wcs : astropy.wcs.WCS
        The WCS given (not modified).
    smooth : astropy.wcs.WCS
        A copy without lookup tables: SIP (if any) and wcslib.
    d2im, cpdis : tuple of (LookupTable or None, LookupTable or None)
        The x and y tables of each kind.
    """

    def __init__(self, wcs):
        self.wcs = wcs
        self.d2im = (LookupTable.from_astropy(wcs.det2im1), LookupTable.from_astropy(wcs.det2im2))
        self.cpdis = (LookupTable.from_astropy(wcs.cpdis1), LookupTable.from_astropy(wcs.cpdis2))
        smooth = wcs.deepcopy()
        smooth.det2im1 = smooth.det2im2 = smooth.cpdis1 = smooth.cpdis2 = None
        self.smooth = smooth

    @property
    def has_d2im(self):
        return any(t is not None for t in self.d2im)

    @property
    def has_cpdis(self):
        return any(t is not None for t in self.cpdis)

    @property
    def has_sip(self):
        return self.wcs.sip is not None

    def smooth_pixel_to_world(self, x, y):
        """World coordinates of image-plane positions (after det2im, no cpdis).

        Parameters
        ----------
        x, y : numpy.ndarray, float64
            0-based positions, same shape.

        Returns
        -------
        tuple of numpy.ndarray
            The world coordinates (degrees for celestial axes), shape of x.
        """
        return tuple(self.smooth.all_pix2world(x, y, 0))

    def focal(self, x, y):
        """Focal-plane positions ``D + sip(D)`` (0-based) of image-plane positions."""
        if not self.has_sip:
            return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        f = self.smooth.pix2foc(_stack(x, y), 0)
        return f[:, 0].reshape(np.shape(x)), f[:, 1].reshape(np.shape(x))

    def focal_to_world(self, fx, fy):
        """World coordinates of focal-plane positions (wcslib alone)."""
        return tuple(self.wcs.wcs_pix2world(fx, fy, 0))

    def world_to_focal(self, *world):
        """Focal-plane positions (0-based) of world coordinates (wcslib alone)."""
        return tuple(self.wcs.wcs_world2pix(*world, 0))

    def _sip_jacobian(self, x, y):
        """d focal / d image at (x, y), (n, 2, 2), by central differences."""
        h = DIFF_STEP
        xs = np.concatenate([x + h, x - h, x, x])
        ys = np.concatenate([y, y, y + h, y - h])
        fx, fy = self.focal(xs, ys)
        n = x.size
        jac = np.empty((n, 2, 2))
        jac[:, 0, 0] = (fx[:n] - fx[n:2 * n]) / (2 * h)
        jac[:, 1, 0] = (fy[:n] - fy[n:2 * n]) / (2 * h)
        jac[:, 0, 1] = (fx[2 * n:3 * n] - fx[3 * n:]) / (2 * h)
        jac[:, 1, 1] = (fy[2 * n:3 * n] - fy[3 * n:]) / (2 * h)
        return jac

    def focal_to_image(self, fx, fy):
        """Invert the smooth part: image-plane positions whose focal position is (fx, fy).

        Solves ``D + sip(D) = F`` by Newton's method.

        Parameters
        ----------
        fx, fy : numpy.ndarray, float64
            0-based focal-plane positions, same shape (n,).

        Returns
        -------
        x, y : numpy.ndarray, shape (n,), float64
            0-based image-plane positions; NaN where Newton did not converge.
        minv : numpy.ndarray, shape (n, 2, 2), float64
            d image / d focal at the solution (inverse SIP Jacobian).
        """
        fx = np.asarray(fx, dtype=np.float64).ravel()
        fy = np.asarray(fy, dtype=np.float64).ravel()
        if not self.has_sip:
            return fx.copy(), fy.copy(), np.broadcast_to(np.eye(2), (fx.size, 2, 2)).copy()
        x, y = fx.copy(), fy.copy()
        ok = np.isfinite(x) & np.isfinite(y)
        active = ok.copy()
        for _ in range(NEWTON_MAX_ITER):
            if not active.any():
                break
            xa, ya = x[active], y[active]
            gx, gy = self.focal(xa, ya)
            jac = self._sip_jacobian(xa, ya)
            inv = _inverse2(jac)
            rx, ry = gx - fx[active], gy - fy[active]
            step = np.stack([inv[:, 0, 0] * rx + inv[:, 0, 1] * ry,
                             inv[:, 1, 0] * rx + inv[:, 1, 1] * ry], axis=-1)
            x[active] = xa - step[:, 0]
            y[active] = ya - step[:, 1]
            with np.errstate(invalid="ignore"):
                moved = np.abs(step).max(axis=1)
            idx = np.flatnonzero(active)
            active[idx[~(moved > NEWTON_TOL)]] = False
            ok[idx[~np.isfinite(moved)]] = False
        ok &= ~active
        x[~ok] = np.nan
        y[~ok] = np.nan
        minv = np.full((fx.size, 2, 2), np.nan)
        if ok.any():
            minv[ok] = _inverse2(self._sip_jacobian(x[ok], y[ok]))
        return x, y, minv


def split_wcs(wcs):
    """Return a :class:`SplitWCS` for a 2-D ``astropy.wcs.WCS``, else None.

    Any other APE-14 object (e.g. a gwcs) is used through its own
    ``pixel_to_world_values`` / ``world_to_pixel_values``.
    """
    try:
        from astropy.wcs import WCS
    except ImportError:  # pragma: no cover - astropy is a dependency
        return None
    if not isinstance(wcs, WCS) or wcs.pixel_n_dim != 2 or wcs.world_n_dim != 2:
        return None
    return SplitWCS(wcs)


def linear_wcs(w):
    """A copy of ``w`` without its distortions: the plain WCS its linear keywords describe.

    Parameters
    ----------
    w : astropy.wcs.WCS

    Returns
    -------
    astropy.wcs.WCS
        No SIP, no lookup tables, ``-SIP`` dropped from CTYPE.
    """
    out = w.deepcopy()
    out.sip = None
    out.cpdis1 = out.cpdis2 = None
    out.det2im1 = out.det2im2 = None
    out.wcs.ctype = [c.replace("-SIP", "") for c in out.wcs.ctype]
    out.wcs.set()
    return out
