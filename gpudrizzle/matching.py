"""Catalog matching for TweakReg: the first-guess offset and tolerance matching.

Both catalogs are positions in one plane, the reference tangent plane in
pixels of the reference frame, as drizzlepac's TweakReg matches them (its
``Image.match``): ``xy`` are the exposure's sources projected there, ``refxy``
the reference sources.

Offsets follow drizzlepac's sign throughout: an offset is **xy - refxy** (where
an exposure's source lies minus where its reference source lies). The offset
that :func:`offset_histogram` finds is the one :func:`match_xy` takes as
``xoffset, yoffset``, as TweakReg passes the 2-D histogram's peak to
xyxymatch as its ``origin``.

:func:`offset_histogram` is drizzlepac 3.11's ``use2dhist`` first guess: a
2-D histogram, one-pixel bins centred on whole offsets from -R to R (R =
ceil(searchrad)), of every pairwise offset whose x and y lie within R + 1/2;
its peak is refined by default with the background-subtracted centre of
mass of the 5 x 5 bins around the highest bin, this package's choice;
``method="drizzlepac"`` reproduces drizzlepac (a quadratic surface fitted to
the non-empty bins of that box, with the centre of mass when fewer than six
are non-empty) and ``method="tweakwcs"`` tweakwcs's safer variant of it.
The quadratic can miss a narrow peak by more than a bin (see
:func:`find_histogram_peak`). One deliberate difference from
both: they subtract ``searchrad`` from the peak's bin position, which is off
by ceil(searchrad) - searchrad for a non-integer radius; here the
histogram's centre R is subtracted.

:func:`match_xy` is stsci.stimage's ``xyxymatch`` with its "tolerance"
algorithm, the one TweakReg uses: the offset is subtracted from ``xy``; each
catalog is sorted by (y, x) and a source within ``separation`` of one kept
earlier in that order is dropped (the first of a close group is kept; a
source dropped does not drop others; exact duplicates go even for
``separation=0``); then every kept reference source takes the kept exposure
source nearest to it within ``tolerance`` (of equally near ones, the last in
(y, x) order). As in xyxymatch an exposure source can be taken by two
reference sources; ``one_to_one=True`` keeps only the nearest such pair.

Pairs are found with ``scipy.spatial.cKDTree`` over radii a hair larger
than asked, then decided by the exact float64 tests xyxymatch makes, so
boundary cases follow xyxymatch rather than the tree's rounding.
"""

from typing import NamedTuple, Optional

import numpy as np
from scipy.spatial import cKDTree

from . import argcheck

# Pair radii handed to the KD-tree are widened by this factor; the exact
# float64 distance tests afterwards decide every pair.
_WIDEN = 1.0 + 1e-9

_HALF = 2
PEAK_METHODS = ("centroid", "tweakwcs", "drizzlepac")
PEAK_STATUSES = ("SUCCESS", "WARNING:EDGE", "WARNING:BADFIT",
                 "WARNING:CENTER-OF-MASS", "ERROR:NODATA")


class OffsetGuess(NamedTuple):
    """The first-guess offset from the 2-D histogram of pairwise offsets.

    Attributes
    ----------
    dx, dy : float
        The offset xy - refxy at the histogram's peak, in the catalogs'
        units (pixels of the reference frame).
    npeak : int
        Pairs counted in the bins around the peak that located it
        (drizzlepac's "matches" for the peak: the sum of its fit box).
    """

    dx: float
    dy: float
    npeak: int


def _finite_number(name, value, *, positive=False, nonnegative=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and not v > 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and v < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def offset_histogram_image(xy, refxy, searchrad, *, binsize=1.0):
    """The 2-D histogram of pairwise offsets xy - refxy (drizzlepac's ``zpmat``).

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Exposure source positions.
    refxy : array_like, shape (m, 2)
        Reference source positions.
    searchrad : float
        Search radius (> 0), in the catalogs' units.
    binsize : float, optional
        Bin width (> 0); 1.0, drizzlepac's, by default.

    Returns
    -------
    hist : ndarray, shape (2R + 1, 2R + 1), float64
        ``hist[j, i]`` counts the pairs whose offset lies in the bin centred
        on ((i - R) * binsize, (j - R) * binsize), bins half open on their
        upper side; R = ceil(searchrad / binsize).
    nhalf : int
        R, the index of the zero-offset bin on both axes.

    Notes
    -----
    Only pairs within R + 1/2 bins on both axes are formed (a KD-tree
    search in the Chebyshev norm), never the full n x m matrix.
    """
    xy = argcheck.positions("xy", xy)
    refxy = argcheck.positions("refxy", refxy)
    searchrad = _finite_number("searchrad", searchrad, positive=True)
    binsize = _finite_number("binsize", binsize, positive=True)
    nhalf = int(np.ceil(searchrad / binsize))
    if nhalf > 5000:
        raise ValueError(f"searchrad / binsize = {searchrad / binsize:g} makes a "
                         "histogram over 10001 bins wide; use a larger binsize")
    nbin = 2 * nhalf + 1
    hist = np.zeros((nbin, nbin), dtype=np.float64)
    if xy.shape[0] == 0 or refxy.shape[0] == 0:
        return hist, nhalf
    half = (nhalf + 0.5) * binsize
    pairs = cKDTree(xy).sparse_distance_matrix(
        cKDTree(refxy), half * _WIDEN, p=np.inf, output_type="ndarray")
    if pairs.size == 0:
        return hist, nhalf
    d = xy[pairs["i"]] - refxy[pairs["j"]]
    u = d / binsize + (nhalf + 0.5)
    inside = np.all((u >= 0.0) & (u < nbin), axis=1)
    ij = np.floor(u[inside]).astype(np.int64)
    np.add.at(hist, (ij[:, 1], ij[:, 0]), 1.0)
    return hist, nhalf


def find_histogram_peak(data, *, peak_fit_box=5, mask=None, method="centroid"):
    """Locate the peak of a 2-D array (drizzlepac's / tweakwcs's ``_find_peak``).

    A quadratic surface c0 + c1 x + c2 y + c3 xy + c4 x^2 + c5 y^2 is fitted
    by least squares over the ``peak_fit_box`` square around the highest
    usable element (finite, and True in ``mask``), and its maximum is the
    peak. The two methods differ where the fit cannot be trusted:

    ================================  ======================  ======================
    case                              ``"drizzlepac"``        ``"tweakwcs"``
    ================================  ======================  ======================
    highest element on the array's    fitted anyway (only     highest element,
    last row or column                row / column 0 is an    ``WARNING:EDGE``
                                      edge)
    surface without a maximum         highest element,        centre of mass,
                                      ``WARNING:BADFIT``      ``WARNING:BADFIT``
    maximum outside the fit box       taken if inside the     centre of mass,
                                      array (``SUCCESS``),    ``WARNING:CENTER-OF-
                                      else highest element,   MASS``
                                      ``WARNING:EDGE``
    ================================  ======================  ======================

    drizzlepac 3.11's TweakReg uses the first; tweakwcs the second, which
    does not follow a surface fitted to a few scattered bins far away from a
    sharp, isolated peak. Both fit the non-empty bins only, so for a narrow
    peak (offsets spread by less than a bin) the surface is set by a handful
    of bins and its maximum can lie more than a bin from the peak.

    ``method="centroid"`` (the default) is this package's own: the centre of
    mass of the 5 x 5 bins around the highest one, each less the mean count
    of the bins outside them (negative weights taken as 0; the highest bin
    itself when nothing is left), ``peak_fit_box`` and ``mask`` applying to
    the search of the highest bin only; ``WARNING:EDGE`` when that bin is on
    the array's edge (the true peak may lie beyond), otherwise ``SUCCESS``.
    On 500 common sources among 600 and 800 (searchrad 6) its worst error
    in 150 trials was 0.39, 0.19, 0.07, 0.20 and 0.53 bin for offsets spread
    by 0.05, 0.2, 0.4, 1.0 and 1.5 bin per axis, against 1.97, 1.45, 1.03,
    0.29 and 0.59 for ``"tweakwcs"`` (and up to 6 bins for ``"drizzlepac"``).

    Parameters
    ----------
    data : array_like, shape (ny, nx)
        The array (e.g. :func:`offset_histogram_image`'s histogram).
    peak_fit_box : int, optional
        Side of the fit box, >= 1.
    mask : array_like of bool, shape (ny, nx), optional
        Elements usable for the search and the fit; all by default.
    method : {"centroid", "tweakwcs", "drizzlepac"}, optional
        See above.

    Returns
    -------
    x, y : float
        The peak, in array indices (x along axis 1).
    status : str
        ``"SUCCESS"``, ``"WARNING:EDGE"`` (the highest element is on the
        array's edge, see above), ``"WARNING:BADFIT"``,
        ``"WARNING:CENTER-OF-MASS"`` (fewer than 6 usable elements in the
        box, a failed solve, or see above: the centre of mass of the box's
        usable elements), ``"ERROR:NODATA"`` (nothing usable, or the highest
        element below 1: the array's centre is returned).
    box : tuple of slice
        The fit box, ``(rows, columns)``.
    """
    if method not in PEAK_METHODS:
        raise ValueError(f"method must be one of {PEAK_METHODS}, got {method!r}")
    tweak = method == "tweakwcs"
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    box_side = int(peak_fit_box)
    if box_side != peak_fit_box or box_side < 1:
        raise ValueError(f"peak_fit_box must be an integer >= 1, got {peak_fit_box!r}")
    ny, nx = data.shape
    centre = ((nx - 1.0) / 2.0, (ny - 1.0) / 2.0)
    whole = (slice(0, ny), slice(0, nx))
    usable = np.isfinite(data)
    if mask is not None:
        given = np.asarray(mask, dtype=bool)
        if given.shape != data.shape:
            raise ValueError(f"mask has shape {given.shape}, data {data.shape}")
        usable &= given
    if not usable.any():
        return centre[0], centre[1], "ERROR:NODATA", whole
    # Highest usable element; the first in C order among equal ones.
    flat = np.where(usable.ravel(), data.ravel(), -np.inf)
    jmax, imax = (int(v) for v in np.unravel_index(int(np.argmax(flat)), data.shape))
    if not data[jmax, imax] >= 1.0:
        return centre[0], centre[1], "ERROR:NODATA", whole

    if method == "centroid":
        return _centroid(data, imax, jmax)

    x1 = max(0, imax - box_side // 2)
    x2 = min(nx, x1 + box_side)
    y1 = max(0, jmax - box_side // 2)
    y2 = min(ny, y1 + box_side)
    last = 1 if tweak else 0
    if imax in (x1, x2 - last) or jmax in (y1, y2 - last):
        return float(imax), float(jmax), "WARNING:EDGE", (slice(y1, y2), slice(x1, x2))
    if x2 - x1 < box_side:
        if x1 == 0:
            x2 = min(nx, box_side)
        if x2 == nx:
            x1 = max(0, nx - box_side)
    if y2 - y1 < box_side:
        if y1 == 0:
            y2 = min(ny, box_side)
        if y2 == ny:
            y1 = max(0, ny - box_side)
    box = (slice(y1, y2), slice(x1, x2))

    yy, xx = np.mgrid[y1:y2, x1:x2]
    keep = usable[box].ravel()
    xs = xx.ravel()[keep].astype(np.float64)
    ys = yy.ravel()[keep].astype(np.float64)
    vals = data[box].ravel()[keep]
    if vals.size == 0 or not np.max(vals) > 0.0:
        return centre[0], centre[1], "ERROR:NODATA", box

    def centre_of_mass(status="WARNING:CENTER-OF-MASS"):
        total = vals.sum()
        if total == 0.0:
            return ((x1 + x2 - 1.0) / 2.0, (y1 + y2 - 1.0) / 2.0, "ERROR:NODATA", box)
        return (float(np.dot(xs, vals) / total), float(np.dot(ys, vals) / total),
                status, box)

    if vals.size < 6:
        return centre_of_mass()
    # Fit in coordinates relative to the box (better conditioned).
    xr, yr = xs - (x1 - 1), ys - (y1 - 1)
    design = np.column_stack([np.ones_like(xr), xr, yr, xr * yr, xr * xr, yr * yr])
    try:
        coef = np.linalg.lstsq(design, vals, rcond=None)[0]
    except np.linalg.LinAlgError:
        return centre_of_mass()
    if not np.all(np.isfinite(coef)):
        return centre_of_mass()
    _, c10, c01, c11, c20, c02 = coef
    det = 4.0 * c02 * c20 - c11 * c11
    if det <= 0.0 or (c20 > 0.0 and c02 >= 0.0) or (c20 >= 0.0 and c02 > 0.0):
        if tweak:
            return centre_of_mass("WARNING:BADFIT")
        return float(imax), float(jmax), "WARNING:BADFIT", box
    xm = (c01 * c11 - 2.0 * c02 * c10) / det + (x1 - 1)
    ym = (c10 * c11 - 2.0 * c01 * c20) / det + (y1 - 1)
    if tweak:
        if x1 <= xm <= x2 - 1.0 and y1 <= ym <= y2 - 1.0:
            return float(xm), float(ym), "SUCCESS", box
        return centre_of_mass()
    if 0.0 <= xm <= nx - 1.0 and 0.0 <= ym <= ny - 1.0:
        return float(xm), float(ym), "SUCCESS", box
    return float(imax), float(jmax), "WARNING:EDGE", box


def _centroid(data, imax, jmax):
    """Background-subtracted centre of mass of the 5 x 5 bins around (imax, jmax)."""
    ny, nx = data.shape
    box = (slice(max(0, jmax - _HALF), min(ny, jmax + _HALF + 1)),
           slice(max(0, imax - _HALF), min(nx, imax + _HALF + 1)))
    counts = np.where(np.isfinite(data), data, 0.0)
    inner = counts[box]
    outside = counts.size - inner.size
    background = (counts.sum() - inner.sum()) / outside if outside > 0 else 0.0
    weight = np.clip(inner - background, 0.0, None)
    status = "WARNING:EDGE" if imax in (0, nx - 1) or jmax in (0, ny - 1) else "SUCCESS"
    total = weight.sum()
    if not total > 0.0:
        return float(imax), float(jmax), status, box
    yy, xx = np.mgrid[box]
    return (float(np.sum(xx * weight) / total), float(np.sum(yy * weight) / total),
            status, box)


def offset_histogram(xy, refxy, searchrad, *, binsize=1.0,
                     method="centroid") -> Optional[OffsetGuess]:
    """First guess of the offset xy - refxy from the 2-D histogram of offsets.

    TweakReg's ``use2dhist=True`` step (drizzlepac 3.11
    ``_estimate_2dhist_shift``): the histogram of
    :func:`offset_histogram_image`, its peak by :func:`find_histogram_peak`
    over the non-empty bins with a 5 x 5 box.

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Exposure source positions.
    refxy : array_like, shape (m, 2)
        Reference source positions.
    searchrad : float
        Search radius (> 0): offsets up to ceil(searchrad / binsize) bins on
        each axis are considered.
    binsize : float, optional
        Bin width (> 0), 1.0 (drizzlepac's) by default.
    method : {"centroid", "tweakwcs", "drizzlepac"}, optional
        How the peak is refined (:func:`find_histogram_peak`);
        ``"drizzlepac"`` reproduces drizzlepac 3.11's TweakReg.

    Returns
    -------
    OffsetGuess or None
        ``(dx, dy, npeak)``; ``None`` when there is no peak to take: no pair
        lies within the search box, or the peak search finds no usable bin
        (drizzlepac then prints a warning and uses a zero offset; a caller
        wanting that behaviour substitutes (0, 0)). With a single non-empty
        bin its centre is returned and ``npeak`` is its count. A peak on the
        histogram's edge is returned as found (drizzlepac warns that
        ``searchrad`` may be too small).
    """
    if method not in PEAK_METHODS:
        raise ValueError(f"method must be one of {PEAK_METHODS}, got {method!r}")
    hist, nhalf = offset_histogram_image(xy, refxy, searchrad, binsize=binsize)
    return histogram_offset(hist, nhalf, binsize=binsize, method=method)


def histogram_offset(hist, nhalf, *, binsize=1.0, method="centroid"):
    """The offset at the peak of a histogram of :func:`offset_histogram_image`.

    Parameters
    ----------
    hist : ndarray, shape (2 nhalf + 1, 2 nhalf + 1)
    nhalf : int
        The zero-offset bin on both axes.
    binsize, method
        As :func:`offset_histogram`.

    Returns
    -------
    OffsetGuess or None
        As :func:`offset_histogram`.
    """
    if method not in PEAK_METHODS:
        raise ValueError(f"method must be one of {PEAK_METHODS}, got {method!r}")
    nonempty = hist > 0
    count = int(np.count_nonzero(nonempty))
    if count == 0:
        return None
    if count == 1:
        j, i = np.unravel_index(int(np.argmax(hist)), hist.shape)
        return OffsetGuess(float((i - nhalf) * binsize), float((j - nhalf) * binsize),
                           int(round(hist[j, i])))
    x, y, status, box = find_histogram_peak(hist, peak_fit_box=5, mask=nonempty,
                                            method=method)
    if status.startswith("ERROR"):
        return None
    return OffsetGuess(float((x - nhalf) * binsize), float((y - nhalf) * binsize),
                       int(round(hist[box].sum())))


def _sort_rank(points):
    """Order of ``points`` by y then x (stable), and each point's rank in it."""
    order = np.lexsort((points[:, 0], points[:, 1]))
    rank = np.empty(points.shape[0], dtype=np.int64)
    rank[order] = np.arange(points.shape[0])
    return order, rank


def _drop_close(points, rank, separation):
    """xyxymatch's coincidence pass: True for the points it keeps.

    Walking the points in (y, x) order, a kept point drops every later point
    within ``separation`` (distance <= separation); dropped points drop
    nothing.
    """
    n = points.shape[0]
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    pairs = cKDTree(points).query_pairs(separation * _WIDEN, output_type="ndarray")
    if pairs.size == 0:
        return keep
    a, b = pairs[:, 0], pairs[:, 1]
    dy = points[b, 1] - points[a, 1]
    dx = points[b, 0] - points[a, 0]
    close = dy * dy + dx * dx <= separation * separation
    a, b = a[close], b[close]
    if a.size == 0:
        return keep
    # Orient every pair (earlier, later) in sort order, group by the earlier.
    swap = rank[a] > rank[b]
    first = np.where(swap, b, a)
    later = np.where(swap, a, b)
    grouping = np.argsort(rank[first], kind="stable")
    first, later = first[grouping], later[grouping]
    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    ends = np.r_[starts[1:], first.size]
    for s, e in zip(starts, ends):
        if keep[first[s]]:
            keep[later[s:e]] = False
    return keep


def match_xy(xy, refxy, *, tolerance, separation=0.0, xoffset=0.0, yoffset=0.0,
             one_to_one=False):
    """Match exposure sources to reference sources (xyxymatch "tolerance").

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Exposure source positions (n >= 1).
    refxy : array_like, shape (m, 2)
        Reference source positions (m >= 1).
    tolerance : float
        Matching radius (> 0), in the catalogs' units.
    separation : float, optional
        Sources closer than this (distance <= separation) to a source kept
        before them in (y, x) order, in the same catalog, are dropped first
        (>= 0; 0 drops exact duplicates only).
    xoffset, yoffset : float, optional
        The offset xy - refxy (e.g. :func:`offset_histogram`'s), subtracted
        from ``xy`` before matching.
    one_to_one : bool, optional
        False (xyxymatch's behaviour): an exposure source may be the nearest
        of two reference sources and is then paired with both. True: only
        the nearest such pair is kept (of equally near ones, the reference
        source first in (y, x) order).

    Returns
    -------
    idx : ndarray, shape (k,), int64
        Indices into ``xy`` of the matched sources.
    refidx : ndarray, shape (k,), int64
        Indices into ``refxy`` of their reference sources, in the order
        xyxymatch reports them (reference sources by y, then x).
    """
    xy = argcheck.positions("xy", xy)
    refxy = argcheck.positions("refxy", refxy)
    tolerance = _finite_number("tolerance", tolerance, positive=True)
    separation = _finite_number("separation", separation, nonnegative=True)
    xoffset = _finite_number("xoffset", xoffset)
    yoffset = _finite_number("yoffset", yoffset)
    if xy.shape[0] == 0:
        raise ValueError("xy is empty: no exposure sources to match")
    if refxy.shape[0] == 0:
        raise ValueError("refxy is empty: no reference sources to match")

    moved = xy - np.array([xoffset, yoffset])
    _, in_rank = _sort_rank(moved)
    _, ref_rank = _sort_rank(refxy)
    in_keep = np.flatnonzero(_drop_close(moved, in_rank, separation))
    ref_keep = np.flatnonzero(_drop_close(refxy, ref_rank, separation))

    empty = np.zeros(0, dtype=np.int64)
    pairs = cKDTree(refxy[ref_keep]).sparse_distance_matrix(
        cKDTree(moved[in_keep]), tolerance * _WIDEN, output_type="ndarray")
    if pairs.size == 0:
        return empty, empty.copy()
    r = ref_keep[pairs["i"]]
    s = in_keep[pairs["j"]]
    dy = refxy[r, 1] - moved[s, 1]
    dx = refxy[r, 0] - moved[s, 0]
    r2 = dx * dx + dy * dy
    ok = (r2 <= tolerance * tolerance) & (dy < tolerance) & (dy >= -tolerance)
    r, s, r2 = r[ok], s[ok], r2[ok]
    if r.size == 0:
        return empty, empty.copy()
    # Per reference source: the smallest r2, then the latest exposure source.
    pick = np.lexsort((-in_rank[s], r2, ref_rank[r]))
    r, s, r2 = r[pick], s[pick], r2[pick]
    first = np.r_[True, r[1:] != r[:-1]]
    r, s, r2 = r[first], s[first], r2[first]
    if one_to_one:
        best = np.lexsort((ref_rank[r], r2, s))
        unique = np.r_[True, s[best][1:] != s[best][:-1]]
        chosen = np.sort(best[unique])
        r, s = r[chosen], s[chosen]
    return s.astype(np.int64), r.astype(np.int64)
