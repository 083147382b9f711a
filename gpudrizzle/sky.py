"""AstroDrizzle's sky step (MDRIZSKY per chip): localmin, globalmin, match, globalmin+match.

drizzlepac 3.11 hands the sky to stsci.skypac's ``skymatch``; this module
reproduces what it does (numbers and float types):

* per chip, the statistic ``skystat`` of its usable pixels (DQ-good with
  ``sky_bits``, and the static mask with ``use_static``: the caller's
  ``masks``) from ``ImageStats`` with ``skylower``, ``skyupper``,
  ``skyclip`` iterations at ``skylsigma`` / ``skyusigma`` and histogram bins
  of ``skywidth`` sigma (:func:`gpudrizzle.imagestats.image_stats`);
* converted to brightness by the chip's factor (:func:`brightness_factor`:
  1 / IDCSCALE^2, times PHOTFLAM, divided by EXPTIME for data in counts);
* localmin: the smallest brightness over the chips of each exposure;
  globalmin: the smallest over all chips; chips without usable pixels are
  left out (an exposure with none gets 0);
* match: for every pair of exposures, every pair of their chips whose
  footprints on the sky overlap (spherical polygons of the chips' pixel
  edges at -0.5 and n - 0.5, through the full WCS with distortion; the
  intersections by ``spherical_geometry``, the library skypac uses) gives
  each chip's statistic over its usable pixels inside the overlap (the
  overlap's vertices taken to the chip's pixels with ``all_world2pix``,
  rounded, and filled with skypac's scan-line rule,
  :func:`overlap_mask`); the brightness of each exposure in the overlap is
  the pixel-count weighted mean over its chip pairs.  Each overlapping pair
  of exposures (i, j) gives one equation ``w (d_i - d_j) = w (s_i - s_j)``
  (w: the mean of the two pixel counts); the least-squares solution of
  minimum norm (``numpy.linalg.pinv``, rcond 1e-12) less its smallest value
  (and at most 0) is the sky of each exposure.  Exposures without any
  overlap keep MDRIZSKY = 0 (skypac leaves their keyword untouched);
* globalmin+match: match, then the smallest brightness over all chips of
  (statistic - matched sky) added to every exposure;
* MDRIZSKY of each chip = the brightness divided by the chip's factor, in
  the chip's data units.  With ``skystat="median"`` the arithmetic is
  float32 where skypac's is (numpy on ImageStats' float32 median).
"""

import math
from typing import NamedTuple

import numpy as np

from . import argcheck
from .backends import get_backend
from .choices import SKY_METHODS, SKY_STATS
from .imagestats import image_stats
from .memory import check_fits, conversion_bytes

__all__ = ["compute_sky", "brightness_factor", "overlap_mask", "SkyResult", "SKY_METHODS",
           "SKY_STATS"]


class SkyResult(NamedTuple):
    """Sky of every chip, in the order of the ``chips`` given to :func:`compute_sky`."""

    #: list of float: sky to subtract (MDRIZSKY), data units
    mdrizsky: list
    #: list of float or None: the chip's own statistic (None: no usable pixel)
    chip_sky: list
    #: list of int: pixels the statistic used
    npix: list


def brightness_factor(idcscale, *, exptime=None, count_rate=False, photflam=None):
    """skypac's factor from data units to brightness units for one chip.

    Parameters
    ----------
    idcscale : float
        Nominal pixel scale (arcsec / pixel, > 0).
    exptime : float, optional
        Exposure time; data in counts (``count_rate=False``) are divided by
        it when it is > 0.
    count_rate : bool
        Data are a rate (BUNIT with "/S"): no division by the exposure time.
    photflam : float, optional
        Inverse sensitivity; multiplies the factor when > 0.

    Returns
    -------
    float
        ``1 / idcscale**2 * photflam / exptime`` (the factors that apply),
        computed in skypac's order.
    """
    scale = argcheck.real("idcscale", idcscale, above=0.0)
    conv = 1.0 / (scale ** 2)
    if photflam is not None and argcheck.real("photflam", photflam) > 0.0:
        conv *= float(photflam)
    if not argcheck.boolean("count_rate", count_rate) and exptime is not None:
        if argcheck.real("exptime", exptime) > 0.0:
            conv /= float(exptime)
    return conv


def overlap_mask(shape, x, y, out=None):
    """Pixels of a chip inside a polygon, by skypac's scan-line rule (``region.Polygon.scan``).

    The vertices are rounded to whole pixels (half to even); each row ``y``
    from the lowest to the highest vertex crosses the edges that start at or
    below it and end above it (at the highest row: the edges that end
    there); the crossings ``ceil(x)``, sorted, are taken in pairs and each
    pair fills the pixels between them, both ends included, clipped to the
    chip.  This is skypac's rule with its quirks (an unpaired last crossing
    is dropped; a span ending left of column -1 follows Python's negative
    slice rule).

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the chip.
    x, y : 1-D arrays of float
        Vertices in 0-based pixel coordinates, closed (last = first), at
        least 4 (a triangle).
    out : array (ny, nx) of bool, optional
        Mask to add the polygon's pixels to (modified in place).

    Returns
    -------
    numpy.ndarray (ny, nx) of bool
        ``out`` (or a new mask) with the polygon's pixels set.
    """
    ny, nx = (int(v) for v in shape)
    vx = np.asarray(x, dtype=np.float64).ravel()
    vy = np.asarray(y, dtype=np.float64).ravel()
    if vx.shape != vy.shape or vx.size < 4:
        raise ValueError(f"'x' and 'y' must hold the same number (>= 4) of vertices; got "
                         f"{vx.size} and {vy.size}")
    if not (np.all(np.isfinite(vx)) and np.all(np.isfinite(vy))):
        raise ValueError("'x' and 'y' must be finite")
    if out is None:
        out = np.zeros((ny, nx), dtype=bool)
    elif tuple(out.shape) != (ny, nx):
        raise ValueError(f"'out' has shape {tuple(out.shape)}; expected {(ny, nx)}")
    vx = np.rint(vx).astype(np.int64)
    vy = np.rint(vy).astype(np.int64)
    shiftx, shifty = min(0, int(vx.min())), min(0, int(vy.min()))
    vx -= shiftx
    vy -= shifty
    width, top = int(vx.max() - vx.min()), int(vy.max())
    if width <= 0:
        return out
    sx, sy, ex, ey = vx[:-1], vy[:-1], vx[1:], vy[1:]
    slanted = sy != ey
    sx, sy, ex, ey = sx[slanted], sy[slanted], ex[slanted], ey[slanted]
    ylo, yhi = np.minimum(sy, ey), np.maximum(sy, ey)
    nrow = yhi - ylo + (yhi == top)  # active on [ylo, yhi); still active on the last row
    total = int(nrow.sum())
    if total == 0:
        return out
    edge = np.repeat(np.arange(sx.size), nrow)
    first = np.cumsum(nrow) - nrow
    row = ylo[edge] + (np.arange(total) - first[edge])
    # skypac's line intersection, in its integer / float64 order:
    # (cross(v, w) / cross(u, v)) * u + start, v = (width, 0) the scan line
    num = width * (sy[edge] - row)
    den = -((ey - sy)[edge] * width)
    xc = np.ceil(num / den * (ex - sx)[edge] + sx[edge]).astype(np.int64)
    keep = (row + shifty >= 0) & (row + shifty < ny)
    row, xc = row[keep] + shifty, xc[keep]
    if row.size < 2:
        return out
    order = np.lexsort((xc, row))
    row, xc = row[order], xc[order]
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    rank = np.arange(row.size) - np.repeat(starts, np.diff(np.r_[starts, row.size]))
    k = np.flatnonzero((rank[:-1] % 2 == 0) & (row[1:] == row[:-1]))
    r, x0, x1 = row[k], xc[k] + shiftx, xc[k + 1] + shiftx
    x0 = np.maximum(x0, 0)
    stop = np.where(x1 < nx, x1, nx - 1) + 1
    stop = np.where(stop < 0, np.maximum(stop + nx, 0), np.minimum(stop, nx))  # slice rule
    x0 = np.minimum(x0, nx)
    fill = stop > x0
    if fill.any():
        diff = np.zeros((ny, nx + 1), dtype=np.int32)
        np.add.at(diff, (r[fill], x0[fill]), 1)
        np.add.at(diff, (r[fill], stop[fill]), -1)
        out |= np.cumsum(diff[:, :nx], axis=1) > 0
    return out


def _times(factor, value):
    """``factor * value`` in ``value``'s float type (float32 or float64), as numpy 2 does."""
    if value is None:
        return None
    if isinstance(value, np.float32):
        return np.float32(factor) * value
    return np.float64(factor) * np.float64(value)


def _divide(value, divisor):
    """``value / divisor`` in ``value``'s float type (python floats: float64)."""
    if isinstance(value, np.float32):
        return value / np.float32(divisor)
    return np.float64(value) / np.float64(divisor)


def _accumulate(total, value, npix):
    """skypac's ``total += value * npix`` from 0.0, in ``value``'s float type."""
    term = _times(npix, value)
    if total is None:
        return term
    return total + term


def _footprint(w, shape):
    """Spherical polygon of a chip's pixel edges (skypac: ``SphericalPolygon.from_wcs``, 1 step)."""
    from spherical_geometry.polygon import SphericalPolygon

    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = w.all_pix2world(x, y, 0)
    cra, cdec = w.all_pix2world(np.array([-0.5 + nx / 2]), np.array([-0.5 + ny / 2]), 0)
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        raise ValueError("a chip's footprint corners have no finite sky coordinates")
    return SphericalPolygon.from_lonlat(ra % 360.0, dec, center=(float(cra[0]) % 360.0,
                                                                   float(cdec[0])))


def _overlap(p1, p2):
    """Flat polygons (lon, lat) of the intersection of two footprints, and its area."""
    pts1 = np.sort(list(p1.points)[0], axis=0)
    pts2 = np.sort(list(p2.points)[0], axis=0)
    if pts1.shape == pts2.shape and np.allclose(pts1, pts2, rtol=0, atol=1e-8):
        inter = p1.copy()  # skypac's shortcut for identical footprints
    else:
        inter = p1.intersection(p2)
    radec = [p.to_lonlat() for p in inter if p.points.shape[0] > 3]
    if not radec:
        return [], 0.0
    return radec, inter.area()


def _check_memory(b, chips, masks):
    """MemoryError unless the statistics of the largest chip fit on the backend.

    One chip at a time: its float32 copy, its mask and selection (bool),
    the selected values and the sorted copy of the median (float32 and a
    bool mask).
    """
    for i, (c, m) in enumerate(zip(chips, masks)):
        npix = int(np.prod(c.shape, dtype=np.float64))
        need = conversion_bytes(b, c, np.float32) + 5 * npix
        if m is not None:
            need += conversion_bytes(b, m, bool) + 5 * npix
        check_fits(b, need, f"compute_sky: the statistics of chips[{i}] of shape {tuple(c.shape)}")


def compute_sky(chips, exposures, *, brightness=None, masks=None, skymethod="localmin",
                skystat="median", skylower=None, skyupper=None, skyclip=5, skylsigma=4.0,
                skyusigma=4.0, skywidth=0.1, backend=None, wcs=None) -> SkyResult:
    """Sky values (MDRIZSKY) of the chips of a set of exposures.

    Parameters
    ----------
    chips : sequence of arrays (ny, nx) of real numbers
        Science data of every chip (not sky-subtracted), any backend.
    exposures : sequence of hashable
        The exposure of each chip (localmin takes the minimum within one;
        match solves one sky per exposure, in order of first appearance).
    brightness : sequence of float, optional
        Data-to-brightness factor of each chip (:func:`brightness_factor`);
        default 1 for all.
    masks : sequence of (arrays (ny, nx) of bool or None), optional
        Usable pixels of each chip (True = use), e.g. DQ-good pixels
        (:func:`gpudrizzle.bitflags.good_pixel_mask` with ``sky_bits``) AND
        the static mask; None uses every pixel.
    skymethod : {"localmin", "globalmin", "match", "globalmin+match"}
    skystat : {"median", "mode", "mean", "midpt"}
    skylower, skyupper : float, optional
        Initial limits of the usable values.
    skyclip : int
        Clipping iterations (>= 0).
    skylsigma, skyusigma : float
        Clip limits in standard deviations (> 0).
    skywidth : float
        Histogram bin width in standard deviations (> 0; mode and midpt).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
    wcs : sequence of astropy.wcs.WCS, optional
        Full WCS (with distortion) of each chip, 0-based pixels through
        ``all_pix2world`` / ``all_world2pix``; required by "match" and
        "globalmin+match" (footprint overlaps on the sky), unused otherwise.

    Returns
    -------
    SkyResult
        With "match": exposures that overlap no other exposure (or fewer
        than 2 exposures, where skypac computes nothing) get MDRIZSKY 0.

    Raises
    ------
    ValueError
        For a bad parameter (the message names it), a match method without
        ``wcs``, or mismatched lengths or shapes.
    MemoryError
        When the statistics of a chip do not fit in the backend's memory
        (checked before any is computed).
    """
    method = skymethod.strip().lower() if isinstance(skymethod, str) else skymethod
    if method not in SKY_METHODS:
        raise ValueError(f"'skymethod' must be one of {list(SKY_METHODS)}; got {skymethod!r}")
    stat = skystat.strip().lower() if isinstance(skystat, str) else skystat
    if stat not in SKY_STATS:
        raise ValueError(f"'skystat' must be one of {list(SKY_STATS)}; got {skystat!r}")
    lower = argcheck.real("skylower", skylower, allow_none=True)
    upper = argcheck.real("skyupper", skyupper, allow_none=True)
    nclip = argcheck.integer("skyclip", skyclip, minimum=0)
    lsig = argcheck.real("skylsigma", skylsigma, above=0.0)
    usig = argcheck.real("skyusigma", skyusigma, above=0.0)
    width = argcheck.real("skywidth", skywidth, above=0.0)
    chips = [argcheck.image(f"chips[{i}]", c) for i, c in enumerate(chips)]
    exposures = list(exposures)
    if len(exposures) != len(chips):
        raise ValueError(f"'exposures' has {len(exposures)} entries for {len(chips)} chips")
    conv = argcheck.per_input("brightness", brightness, len(chips), 1.0, above=0.0)
    masks = [None] * len(chips) if masks is None else list(masks)
    if len(masks) != len(chips):
        raise ValueError(f"'masks' has {len(masks)} entries for {len(chips)} chips")
    for i, (m, c) in enumerate(zip(masks, chips)):
        if m is not None and tuple(m.shape) != tuple(c.shape):
            raise ValueError(f"'masks[{i}]' has shape {tuple(m.shape)}; chips[{i}] has "
                             f"{tuple(c.shape)}")
    matching = method in ("match", "globalmin+match")
    if matching:
        if wcs is None:
            raise ValueError(f"'wcs' (one astropy.wcs.WCS per chip) is required for "
                             f"'skymethod' {method!r}")
        wcs = list(wcs)
        if len(wcs) != len(chips):
            raise ValueError(f"'wcs' has {len(wcs)} entries for {len(chips)} chips")
        for i, w in enumerate(wcs):
            if not (hasattr(w, "all_pix2world") and hasattr(w, "all_world2pix")):
                raise ValueError(f"'wcs[{i}]' must be an astropy.wcs.WCS; got "
                                 f"{type(w).__name__}")
        try:
            import spherical_geometry.polygon  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ValueError(f"'skymethod' {method!r} needs the spherical_geometry "
                             f"package") from exc

    b = get_backend(backend)
    _check_memory(b, chips, masks)
    f32 = stat == "median"  # ImageStats' median is a float32; skypac's numpy keeps it so

    def statistic(c, m, inside=None):
        """(value, npix) of a chip's usable pixels (within ``inside``); (None, 0) if none."""
        sel = None if m is None else b.asarray(m, bool)
        if inside is not None:
            inside = b.asarray(inside, bool)
            sel = inside if sel is None else (sel & inside)
        if sel is not None and b.xp is np and isinstance(c, np.ndarray):
            data = b.asarray(c[sel], np.float32)  # the selected values only are converted
        else:
            data = b.asarray(c, np.float32)
            if sel is not None:
                data = data[sel]
        if not data.size:
            return None, 0
        try:
            st = image_stats(data, f"npix,{stat}", lower=lower, upper=upper, nclip=nclip,
                             lsig=lsig, usig=usig, binwidth=width, backend=b)
        except ValueError:  # no pixel within the limits: skypac skips the chip
            return None, 0
        value, n = getattr(st, stat), int(st.npix)
        if n < 1 or value is None or math.isnan(float(value)):
            return None, 0
        return (np.float32(value) if f32 else np.float64(value)), n

    chip_sky, npix = [], []
    for c, m in zip(chips, masks):
        value, n = statistic(c, m)
        chip_sky.append(value)
        npix.append(n)
    # skypac: brightness = conv * (sky - delta) in numpy 2 promotion (a float32 median
    # stays float32 with delta 0.0, becomes float64 with a float64 delta); spelt out
    bright = [_times(conv[k], v) for k, v in enumerate(chip_sky)]

    def smallest(values):
        values = [v for v in values if v is not None]
        return min(values) if values else 0.0

    if not matching:
        if method == "globalmin":
            common = smallest(bright)
            target = [common] * len(chips)
        else:
            per_exposure = {}
            for e, v in zip(exposures, bright):
                per_exposure.setdefault(e, []).append(v)
            target = [smallest(per_exposure[e]) for e in exposures]
        mdrizsky = [float(_divide(t, k)) for t, k in zip(target, conv)]
    else:
        delta = _match_deltas(chips, exposures, masks, conv, wcs, statistic)
        if method == "match":
            mdrizsky = [0.0 if d is None else float(d) for d in delta]
        else:
            # skypac: minimum over all chips of conv * (sky - matched delta), then added
            low = smallest([_times(conv[k], v if delta[k] is None or v is None
                                   else np.float64(v) - delta[k])
                            for k, v in enumerate(chip_sky)])
            mdrizsky = [float(_divide(low, k) if d is None else d + np.float64(_divide(low, k)))
                        for d, k in zip(delta, conv)]
    return SkyResult(mdrizsky, [None if v is None else float(v) for v in chip_sky], npix)


def _match_deltas(chips, exposures, masks, conv, wcs, statistic):
    """Matched sky of every chip (data units), None where skypac finds none (skymatch step 3)."""
    groups = {}
    for k, e in enumerate(exposures):
        groups.setdefault(e, []).append(k)
    members = list(groups.values())
    ns = len(members)
    if ns < 2:  # skypac: "Need at least 2 images for sky matching"
        return [None] * len(chips)
    polys = [_footprint(w, tuple(c.shape)) for w, c in zip(wcs, chips)]

    def member_sky(k, radec):
        inside = np.zeros(tuple(chips[k].shape), dtype=bool)
        for lon, lat in radec:
            x, y = wcs[k].all_world2pix(lon, lat, 0)
            overlap_mask(inside.shape, x, y, out=inside)
        value, n = statistic(chips[k], masks[k], inside)
        if value is None:
            return None, 0
        return _times(conv[k], value), n

    sky = np.zeros((ns, ns))
    wght = np.zeros((ns, ns))
    for i in range(ns):
        for j in range(i + 1, ns):
            wsum1, w1, wsum2, w2, area = None, 0, None, 0, 0.0
            for k1 in members[i]:
                for k2 in members[j]:
                    radec, a = _overlap(polys[k1], polys[k2])
                    if not radec:
                        continue
                    area += a
                    s1, n1 = member_sky(k1, radec)
                    s2, n2 = member_sky(k2, radec)
                    if s1 is not None and n1 > 0:
                        wsum1 = _accumulate(wsum1, s1, n1)
                        w1 += n1
                    if s2 is not None and n2 > 0:
                        wsum2 = _accumulate(wsum2, s2, n2)
                        w2 += n2
            if w1 == 0 or w2 == 0 or area == 0.0:
                continue
            sky[j, i], wght[j, i] = _divide(wsum1, w1), w1
            sky[i, j], wght[i, j] = _divide(wsum2, w2), w2

    pairs = [(i, j) for i in range(ns) for j in range(i + 1, ns)
             if wght[i, j] > 0 and wght[j, i] > 0]
    deltas = np.full(ns, np.nan)
    if pairs:
        wmean = 0.5 * (wght + wght.T)
        kmat = np.zeros((len(pairs), ns))
        free = np.zeros(len(pairs))
        used = np.zeros(ns, dtype=bool)
        for q, (i, j) in enumerate(pairs):
            kmat[q, i] = wmean[i, j]
            kmat[q, j] = -wmean[i, j]
            free[q] = wmean[i, j] * (sky[j, i] - sky[i, j])
            used[i] = used[j] = True
        deltas = np.dot(np.linalg.pinv(kmat, rcond=1.0e-12), free)
        deltas[~used] = np.nan
    good = np.isfinite(deltas)
    deltas[good] -= np.amin(deltas[good], initial=0.0)  # match down
    out = [None] * len(chips)
    for g, ks in enumerate(members):
        if good[g]:
            for k in ks:
                out[k] = deltas[g] / conv[k]
    return out
