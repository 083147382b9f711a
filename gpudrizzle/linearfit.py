"""Linear fits between matched catalogs for TweakReg, with sigma clipping.

The model is drizzlepac's (``linearfit.iter_fit_all``, which TweakReg's
``Image.performFit`` calls): the exposure's positions are fitted as a linear
function of the reference positions, both taken about one centre c (the
reference WCS's CRPIX in TweakReg; the mean reference position by default).
In drizzlepac's row-vector form, with ``matrix`` its ``fit_matrix``::

    xy - c  ~=  (refxy - c) @ matrix + shift

(in column-vector form the 2 x 2 map is ``matrix.T``). Geometries, as
drizzlepac's ``fitgeometry``:

* ``"shift"``: ``matrix`` is the identity; ``shift`` is the mean offset;
* ``"rscale"``: rotation and one scale (geomap's "rscale"), least squares;
  when the data's cross products have a negative determinant the map
  includes a reflection (drizzlepac's ``geomap_rscale``), reported with
  ``proper=False``;
* ``"general"``: a full affine map (six parameters), least squares.

Clipping follows ``iter_fit_all`` exactly: ``nclip`` rounds (none when
there are fewer points than ``nclip``); each round keeps the points with
|residual_x| < sigma * rms_x * w and |residual_y| < sigma * rms_y * w, where
rms is the per-axis standard deviation of the kept residuals and
w = N / (k - 1) with N the number of input points and k the number of
points kept before the previous round (N in the first two rounds), and
refits; a round that would keep 2 points or fewer ends the clipping with the
fit before it. A round that would leave the points collinear for a
``"general"`` fit also ends it (drizzlepac would fail there).

The reported parameters are drizzlepac's ``build_fit`` ones: ``scale`` is
sqrt(|det|); ``sx``, ``sy`` the lengths of the matrix's rows (``scale`` for
``"rscale"``); ``rotation`` the "proper" rotation of the matrix with the
axis scales divided out, in degrees in [0, 360); ``rx``, ``ry`` the axis
rotations and ``skew = ry - rx`` (``rx = ry = rotation``, no skew, for a
proper "rscale" fit; all zero for "shift"). drizzlepac's geomap_rscale sets
the angle to 0 when its two arctangent arguments happen to be equal (an
exact 45 degree case); that quirk is not reproduced.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import argcheck

GEOMETRIES = ("shift", "rscale", "general")
MIN_POINTS = {"shift": 1, "rscale": 2, "general": 3}

# Smallest singular value of the centred reference positions, relative to
# the largest, below which the points are taken as collinear.
_COLLINEAR_RTOL = 1e-10


class FitParameters(NamedTuple):
    """Scale, rotation and skew of a fit matrix (drizzlepac's ``build_fit``)."""

    rotation: float
    rx: float
    ry: float
    scale: float
    sx: float
    sy: float
    skew: float
    proper: bool


@dataclass(frozen=True)
class LinearFit:
    """Result of :func:`fit_xy`.

    Attributes
    ----------
    geometry : str
        ``"shift"``, ``"rscale"`` or ``"general"``.
    matrix : ndarray, shape (2, 2), float64
        drizzlepac's ``fit_matrix``: xy - c ~= (refxy - c) @ matrix + shift.
    shift : ndarray, shape (2,), float64
        drizzlepac's ``offset`` (the shift at the centre).
    center : ndarray, shape (2,), float64
        The centre c.
    rotation, rx, ry : float
        Rotations in degrees, [0, 360) (see the module notes).
    scale, sx, sy : float
        Mean and per-axis scales.
    skew : float
        ry - rx, degrees.
    proper : bool
        False when the matrix includes a reflection (negative determinant).
    rms : ndarray, shape (2,), float64
        Per-axis standard deviation of the kept points' residuals.
    rms_total : float
        sqrt(mean(|residual|^2)) over the kept points (drizzlepac's ``rmse``).
    mae : float
        Mean |residual| over the kept points.
    residuals : ndarray, shape (n, 2), float64
        xy - model for every input point, kept or clipped, from the final fit.
    kept : ndarray, shape (n,), bool
        The points the final fit used.
    nmatch : int
        Number of kept points.
    """

    geometry: str
    matrix: np.ndarray
    shift: np.ndarray
    center: np.ndarray
    rotation: float
    rx: float
    ry: float
    scale: float
    sx: float
    sy: float
    skew: float
    proper: bool
    rms: np.ndarray
    rms_total: float
    mae: float
    residuals: np.ndarray
    kept: np.ndarray
    nmatch: int

    def predict(self, refxy):
        """Exposure positions the fit predicts at reference positions.

        Parameters
        ----------
        refxy : array_like, shape (k, 2)

        Returns
        -------
        ndarray, shape (k, 2), float64
        """
        refxy = argcheck.positions("refxy", refxy)
        return (refxy - self.center) @ self.matrix + self.shift + self.center

    def to_reference(self, xy):
        """Reference-frame positions of exposure positions (the inverse map;
        drizzlepac's ``fit_xy`` for the kept points).

        Parameters
        ----------
        xy : array_like, shape (k, 2)

        Returns
        -------
        ndarray, shape (k, 2), float64
        """
        xy = argcheck.positions("xy", xy)
        return (xy - self.center - self.shift) @ np.linalg.inv(self.matrix) + self.center


def build_fit_matrix(rotation, scale=1.0):
    """Fit matrix from rotations and scales (drizzlepac's ``buildFitMatrix``).

    Parameters
    ----------
    rotation : float or (float, float)
        Rotation in degrees, or (rx, ry).
    scale : float or (float, float), optional
        Scale, or (sx, sy).

    Returns
    -------
    ndarray, shape (2, 2), float64
        [[sx cos rx, -sx sin rx], [sy sin ry, sy cos ry]].
    """
    rx, ry = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (2,))
    sx, sy = np.broadcast_to(np.asarray(scale, dtype=np.float64), (2,))
    rx, ry = np.deg2rad(rx), np.deg2rad(ry)
    return np.array([[sx * np.cos(rx), -sx * np.sin(rx)],
                     [sy * np.sin(ry), sy * np.cos(ry)]])


def fit_parameters(matrix, geometry):
    """Rotation, scales and skew of a fit matrix as drizzlepac reports them.

    Parameters
    ----------
    matrix : array_like, shape (2, 2)
        A ``fit_matrix`` (row-vector form).
    geometry : str
        ``"shift"``, ``"rscale"`` or ``"general"``: which parameters are
        derived (see the module notes).

    Returns
    -------
    FitParameters
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 2) or not np.all(np.isfinite(m)):
        raise ValueError(f"matrix must be a finite 2 x 2 array, got {m!r}")
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    sdet = float(np.sign(det))
    proper = sdet >= 0
    if geometry == "shift":
        return FitParameters(0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, bool(proper))
    scale = float(np.sqrt(abs(det)))
    if geometry == "general":
        sx = float(np.hypot(m[0, 0], m[0, 1]))
        sy = float(np.hypot(m[1, 0], m[1, 1]))
    else:
        sx = sy = scale
    if sx == 0.0 or sy == 0.0:
        raise ValueError("matrix has a zero row: no rotation can be derived")
    w = m / np.array([[sx], [sy]])
    rotation = float(np.rad2deg(np.arctan2(w[1, 0] - sdet * w[0, 1],
                                           w[0, 0] + sdet * w[1, 1])) % 360.0)
    if proper and geometry == "rscale":
        return FitParameters(rotation, rotation, rotation, scale, sx, sy, 0.0, True)
    rx = float(np.rad2deg(np.arctan2(-w[0, 1], w[0, 0])) % 360.0)
    ry = float(np.rad2deg(np.arctan2(w[1, 0], w[1, 1])) % 360.0)
    return FitParameters(rotation, rx, ry, scale, sx, sy, ry - rx, bool(proper))


def _collinear(ref_c):
    """True when centred positions lie on a line (or a point)."""
    centred = ref_c - ref_c.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    return not (sv[0] > 0.0 and sv[-1] > _COLLINEAR_RTOL * sv[0])


def _solve(geometry, xy_c, ref_c):
    """Least-squares matrix and shift for centred positions; None if degenerate."""
    mean_xy = xy_c.mean(axis=0)
    mean_ref = ref_c.mean(axis=0)
    if geometry == "shift":
        matrix = np.eye(2)
    else:
        r = ref_c - mean_ref
        u = xy_c - mean_xy
        if geometry == "general":
            if _collinear(ref_c):
                return None
            matrix = np.linalg.lstsq(r, u, rcond=None)[0]
        else:
            norm = float(np.sum(r * r))
            if not norm > 0.0:
                return None
            sxu = np.dot(r[:, 0], u[:, 0])
            syv = np.dot(r[:, 1], u[:, 1])
            syu = np.dot(r[:, 1], u[:, 0])
            sxv = np.dot(r[:, 0], u[:, 1])
            if sxu * syv - syu * sxv < 0.0:
                a = (sxu - syv) / norm
                b = (syu + sxv) / norm
                matrix = np.array([[a, b], [b, -a]])
            else:
                a = (sxu + syv) / norm
                b = (syu - sxv) / norm
                matrix = np.array([[a, -b], [b, a]])
    shift = mean_xy - mean_ref @ matrix
    return matrix, shift


def fit_xy(xy, refxy, geometry, *, nclip=3, sigma=3.0, center=None):
    """Fit exposure positions to reference positions, with sigma clipping.

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Matched exposure positions (in the reference tangent plane).
    refxy : array_like, shape (n, 2)
        Their reference positions.
    geometry : {"shift", "rscale", "general"}
        drizzlepac's ``fitgeometry``.
    nclip : int or None, optional
        Clipping rounds (>= 0; None means 0).
    sigma : float, optional
        Clipping limit in units of the per-axis rms (> 0).
    center : array_like, shape (2,), optional
        The centre c of the model; the mean of ``refxy`` by default.

    Returns
    -------
    LinearFit

    Raises
    ------
    ValueError
        Bad shapes, NaN/inf, an unknown geometry, a bad nclip or sigma,
        fewer points than the geometry needs (shift 1, rscale 2, general
        3), all points coincident (rscale) or collinear (general).
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
    xy = argcheck.positions("xy", xy)
    refxy = argcheck.positions("refxy", refxy)
    if xy.shape != refxy.shape:
        raise ValueError(f"xy and refxy must have the same shape, got {xy.shape} "
                         f"and {refxy.shape}")
    if nclip is None:
        nclip = 0
    if isinstance(nclip, bool) or int(nclip) != nclip or nclip < 0:
        raise ValueError(f"nclip must be an integer >= 0, got {nclip!r}")
    nclip = int(nclip)
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number, got {sigma!r}") from None
    if not (np.isfinite(sigma) and sigma > 0.0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    npts = xy.shape[0]
    need = MIN_POINTS[geometry]
    if npts < need:
        raise ValueError(f"a {geometry!r} fit needs at least {need} matched point(s), "
                         f"got {npts}")
    if center is None:
        center = refxy.mean(axis=0)
    else:
        center = np.asarray(center, dtype=np.float64)
        if center.shape != (2,) or not np.all(np.isfinite(center)):
            raise ValueError(f"center must be 2 finite numbers, got {center!r}")

    xy_c = xy - center
    ref_c = refxy - center
    solved = _solve(geometry, xy_c, ref_c)
    if solved is None:
        what = "collinear" if geometry == "general" else "coincident"
        raise ValueError(f"a {geometry!r} fit is degenerate: the {npts} reference "
                         f"positions are {what}")
    matrix, shift = solved
    kept = np.ones(npts, dtype=bool)
    if npts < nclip:
        nclip = 0
    dropped_before = 0
    for _ in range(nclip):
        resid = xy_c[kept] - (ref_c[kept] @ matrix + shift)
        weight = npts / (npts - dropped_before - 1.0)
        cut = sigma * resid.std(axis=0) * weight
        good = (np.abs(resid[:, 0]) < cut[0]) & (np.abs(resid[:, 1]) < cut[1])
        if np.count_nonzero(good) <= 2:
            break
        trial = np.flatnonzero(kept)[good]
        solved = _solve(geometry, xy_c[trial], ref_c[trial])
        if solved is None:
            break
        dropped_before = npts - int(np.count_nonzero(kept))
        kept = np.zeros(npts, dtype=bool)
        kept[trial] = True
        matrix, shift = solved

    residuals = xy_c - (ref_c @ matrix + shift)
    rk = residuals[kept]
    params = fit_parameters(matrix, geometry)
    center = center.copy()
    rms = rk.std(axis=0)
    for arr in (matrix, shift, center, rms, residuals, kept):
        arr.setflags(write=False)
    return LinearFit(
        geometry=geometry, matrix=matrix, shift=shift, center=center,
        rotation=params.rotation, rx=params.rx, ry=params.ry,
        scale=params.scale, sx=params.sx, sy=params.sy, skew=params.skew,
        proper=params.proper,
        rms=rms, rms_total=float(np.sqrt(np.mean(np.sum(rk * rk, axis=1)))),
        mae=float(np.mean(np.hypot(rk[:, 0], rk[:, 1]))),
        residuals=residuals, kept=kept, nmatch=int(np.count_nonzero(kept)))
