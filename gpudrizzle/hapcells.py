"""drizzlepac's HAP sky-cell grid: projection cells on declination rings, 21 x 21 sky cells each.

The grid, as drizzlepac 3.11 defines it (``drizzlepac.haputils.cell_utils``):

* 46 rings of projection cells centred on declinations -90, -86, ..., 86, 90
  (4 degree spacing).  Ring ``i`` (declination ``d``) holds
  ``floor(90 cos(|d| - 2 deg))`` cells (one at each pole), evenly spaced in
  RA from RA = 0; projection cells are numbered from 0 at the south pole,
  ring by ring, in RA order (2644 in all).
* Each projection cell is a square TAN plane of :data:`PCELL_NAXIS` pixels of
  0.04" (5 degrees a side: ``int(2 tan(2.5 deg) / 0.04" + 2)``), north up,
  tangent point at its ring's declination and its RA, CRPIX at the centre
  (``NAXIS / 2 + 0.5``).
* Each projection cell is cut into 21 x 21 sky cells ``skycell-pPPPPxXXyYY``
  (x, y from 1) spaced ``int(NAXIS / 21 + 0.5) = 21442`` pixels, each frame
  ``21442 + 2 * 256`` pixels: the frame starts at the cell's origin, so
  neighbours share 512 pixels.  Here the *core* is the frame less 256 pixels
  on each side, so that cores tile the projection cell.  Other layers
  (0.12"/px for IR) rescale CRPIX and NAXIS by ``0.04 / scale`` exactly as
  drizzlepac does, truncating NAXIS.
* A chip is looked up, as drizzlepac does, in every ring whose declination
  range (the extreme declinations on the edges of the ring's projection-cell
  frame, :func:`rings`) holds the whole chip, among the projection cells of that
  ring nearest the chip in RA and their neighbours (drizzlepac does not wrap
  past cell 0 downwards, and neither does this), and then in the sky cells
  whose frames it meets.

Everything is computed from those rules; drizzlepac's grid file
(``pars/allsky_cells.fits``) is not used.  The one constant not derivable from
that file's header (whose ``PC_SIZE`` = 4.2 is stale) is the projection-cell
size, 450287 pixels for every ring; the formula above reproduces it.

HAP compatibility was checked against drizzlepac's own cell lookup
(``GridDefs.get_sky_cells`` and ``SkyCell``, drizzlepac 3.11) for sample chip
outlines all over the sky -- poles, ring overlaps, RA = 0/360, cell edges --
by ``tests/golden/hapcells/make_golden.py``; its output
``tests/golden/hapcells/hapcells_golden.json`` (cell names, CRVAL, CRPIX, CD,
NAXIS at 0.04" and 0.12", the ring table) is what ``tests/test_hapcells.py``
compares with.
"""

import functools
import math
import re
from collections.abc import Mapping

import numpy as np
from astropy.wcs import WCS

from .skycells import SkyCell, _touches

__all__ = ["PCELL_SCALE", "PCELL_NAXIS", "SC_NXY", "SC_OVERLAP", "rings", "projection_cell",
           "projection_cell_wcs", "skycell_name", "parse_skycell_name", "skycell", "hap_cells"]

#: arcsec per pixel of the projection cells (the "fine" layer)
PCELL_SCALE = 0.04
#: projection-cell side in degrees
PCELL_SIZE = 5.0
#: projection-cell side in pixels: 2 tan(2.5 deg) / 0.04" + 2, truncated
PCELL_NAXIS = int(2.0 * math.degrees(math.tan(math.radians(PCELL_SIZE / 2.0)))
                  * 3600.0 / PCELL_SCALE + 2.0)
#: sky cells per projection cell along x and y
SC_NXY = 21
#: overlap border of a sky cell, in projection-cell (0.04") pixels, on each side
SC_OVERLAP = 256
#: ring spacing (degrees)
RING_STEP = 4.0
N_RINGS = 46

_NAME = re.compile(r"^skycell-p(\d{4})x(\d{2})y(\d{2})$")


def _pcell_wcs(ra, dec):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    s = PCELL_SCALE / 3600.0
    w.wcs.cd = np.array([[-s, 0.0], [0.0, s]])
    w.wcs.crpix = [PCELL_NAXIS / 2.0 + 0.5, PCELL_NAXIS / 2.0 + 0.5]
    # drizzlepac's pole rings sit a hair (3e-12 deg) off the poles, where the FITS default
    # LONPOLE is 180; said explicitly, the exact north pole has the same orientation
    w.wcs.lonpole = 180.0
    w.wcs.set()
    w.pixel_shape = (PCELL_NAXIS, PCELL_NAXIS)
    return w


def _frame_dec_range(w):
    """Extreme declinations on a projection cell's frame edges (pixels 0..N, drizzlepac's rule).

    The edges are x = 0 and x = N for y = 0..N-1, and y = 0 and y = N for
    x = 0..N-1 (0-based pixel positions); found on a coarse sampling, then
    refined on every pixel position around the coarse extremes.
    """
    n = PCELL_NAXIS
    idx = np.arange(n)
    edges = [(np.zeros(n), idx), (np.full(n, float(n)), idx),
             (idx, np.zeros(n)), (idx, np.full(n, float(n)))]
    lo, hi = np.inf, -np.inf
    coarse = np.unique(np.linspace(0, n - 1, 4097).astype(np.int64))
    step = int(np.max(np.diff(coarse))) + 1
    for ex, ey in edges:
        dec = w.wcs_pix2world(ex[coarse], ey[coarse], 0)[1]
        for k in (int(np.argmin(dec)), int(np.argmax(dec))):
            c = coarse[k]
            sel = idx[max(c - step, 0):min(c + step + 1, n)]
            d = w.wcs_pix2world(ex[sel], ey[sel], 0)[1]
            lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
    return lo, hi


@functools.lru_cache(maxsize=1)
def rings():
    """The ring table.

    Returns
    -------
    numpy.ndarray, structured, shape (46,)
        Fields ``dec`` (ring centre), ``dec_min``, ``dec_max`` (declination
        range whose chips are looked up in the ring), ``nband`` (projection
        cells in the ring) and ``first`` (number of its first projection cell).
    """
    out = np.zeros(N_RINGS, dtype=[("dec", "f8"), ("dec_min", "f8"), ("dec_max", "f8"),
                                   ("nband", "i8"), ("first", "i8")])
    first = 0
    for i in range(N_RINGS):
        dec = -90.0 + RING_STEP * i
        if i in (0, N_RINGS - 1):
            nband = 1
        else:
            nband = int(math.floor(90.0 * math.cos(math.radians(abs(dec) - 2.0)) + 1e-9))
        lo, hi = _frame_dec_range(_pcell_wcs(0.0, dec))
        if i == 0:
            lo = dec
        if i == N_RINGS - 1:
            hi = dec
        out[i] = (dec, lo, hi, nband, first)
        first += nband
    return out


def _n_pcells():
    r = rings()
    return int(r["first"][-1] + r["nband"][-1])


def _ring_of(p):
    r = rings()
    return int(np.nonzero(r["first"] <= p)[0][-1])


def _check_pcell(p):
    n = _n_pcells()
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or not 0 <= p < n:
        raise ValueError(f"projection cell must be an integer in [0, {n}); got {p!r}")
    return int(p)


def _check_scale(scale):
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)) \
            or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"'scale' must be a positive number of arcsec per pixel; got {scale!r}")
    return float(scale)


def projection_cell(ra, dec):
    """The projection cell whose centre is nearest a position, ring first.

    Parameters
    ----------
    ra, dec : float
        Degrees; RA any value (taken modulo 360), Dec in [-90, 90].

    Returns
    -------
    int
        The projection cell of the ring nearest ``dec`` whose centre RA is
        nearest ``ra`` (neighbouring projection cells overlap, so a position
        may also lie in others; :func:`hap_cells` finds them all).
    """
    ra, dec = float(ra), float(dec)
    if not (math.isfinite(ra) and math.isfinite(dec)) or not -90.0 <= dec <= 90.0:
        raise ValueError(f"position must be finite with -90 <= dec <= 90; got ({ra!r}, {dec!r})")
    r = rings()
    i = int(np.argmin(np.abs(r["dec"] - dec)))
    n = int(r["nband"][i])
    return int(r["first"][i]) + int(np.rint((ra % 360.0) * n / 360.0)) % n


def projection_cell_wcs(p):
    """The TAN frame of projection cell ``p`` (0.04"/px, ``pixel_shape`` set)."""
    p = _check_pcell(p)
    i = _ring_of(p)
    r = rings()[i]
    return _pcell_wcs((p - int(r["first"])) * 360.0 / int(r["nband"]), float(r["dec"]))


def skycell_name(p, x, y):
    """``skycell-pPPPPxXXyYY`` for projection cell ``p`` and sky cell x, y (1..21)."""
    p = _check_pcell(p)
    for k, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= SC_NXY:
            raise ValueError(f"sky cell {k!r} must be an integer in [1, {SC_NXY}]; got {v!r}")
    return f"skycell-p{p:04d}x{int(x):02d}y{int(y):02d}"


def parse_skycell_name(name):
    """(p, x, y) from ``skycell-pPPPPxXXyYY``; ValueError for anything else."""
    m = _NAME.match(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"not a sky cell name (skycell-pPPPPxXXyYY): {name!r}")
    p, x, y = (int(g) for g in m.groups())
    skycell_name(p, x, y)  # range checks
    return p, x, y


def _layer(scale):
    return f"{scale:g}"


def skycell(p, x, y, *, scale=PCELL_SCALE, border=SC_OVERLAP):
    """One sky cell of projection cell ``p`` in the layer of ``scale`` arcsec per pixel.

    Parameters
    ----------
    p : int
        Projection cell.
    x, y : int
        Sky cell indices, 1..21.
    scale : float
        Pixel scale of the layer (0.04 fine, 0.12 IR); the WCS is
        drizzlepac's: CRPIX and NAXIS of the 0.04" frame times
        ``0.04 / scale``, NAXIS truncated.
    border : int
        Overlap border on each side in 0.04" pixels (drizzlepac: 256).

    Returns
    -------
    SkyCell
        Named ``skycell-pPPPPxXXyYY``, layer ``"0.04"``/``"0.12"``; the core
        holds the pixels whose centres lie within the cell's share of the
        projection cell (the frame less ``border`` on each side).
    """
    name = skycell_name(p, x, y)
    scale = _check_scale(scale)
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"'border' must be a non-negative integer; got {border!r}")
    pc = projection_cell_wcs(p)
    ratio = PCELL_SCALE / scale
    step = int(PCELL_NAXIS / SC_NXY + 0.5)
    naxis = int((step + border * 2) * ratio)
    crpix = [(pc.wcs.crpix[0] - (x - 1) * step) * ratio, (pc.wcs.crpix[1] - (y - 1) * step) * ratio]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = pc.wcs.crval
    w.wcs.cd = pc.wcs.cd / ratio
    w.wcs.crpix = crpix
    w.wcs.lonpole = 180.0
    w.wcs.set()
    w.pixel_shape = (naxis, naxis)
    # 0-based pixel i has its centre at 0-based 0.04" position (i + 1) / ratio - 1 from the
    # frame's origin; the core is the pixels with that position in [border, border + step)
    i0 = max(0, math.ceil((border + 1) * ratio - 1 - 1e-9))
    i1 = min(naxis, math.ceil((border + step + 1) * ratio - 1 - 1e-9))
    return SkyCell(name, w, (i0, i0, i1, i1), _layer(scale))


def _densify(outline, per_edge=16):
    """Points along a closed outline's edges (great circles between its vertices)."""
    ra, dec = np.radians(outline[:, 0]), np.radians(outline[:, 1])
    u = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    v = np.roll(u, -1, axis=0)
    t = (np.arange(per_edge) / per_edge)[None, :, None]
    pts = (u[:, None, :] * (1 - t) + v[:, None, :] * t).reshape(-1, 3)
    pts /= np.linalg.norm(pts, axis=1)[:, None]
    return np.column_stack([np.degrees(np.arctan2(pts[:, 1], pts[:, 0])) % 360.0,
                            np.degrees(np.arcsin(np.clip(pts[:, 2], -1, 1)))])


def _check_footprints(footprints):
    if isinstance(footprints, Mapping):  # file -> its chips, as mosaic plans hold them
        footprints = [chip for chips in footprints.values() for chip in chips]
    elif isinstance(footprints, np.ndarray) and footprints.ndim == 2:
        footprints = [footprints]
    try:
        items = list(footprints)
    except TypeError:
        raise ValueError("'footprints' must be a list of (n, 2) RA/Dec outlines") from None
    if not items:
        raise ValueError("'footprints' is empty: no chip outline to look up")
    out = []
    for k, f in enumerate(items):
        a = np.asarray(f, dtype=float)
        if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 3:
            raise ValueError(f"footprints[{k}] must be an (n >= 3, 2) RA/Dec array; "
                             f"got shape {a.shape}")
        if not np.isfinite(a).all() or (np.abs(a[:, 1]) > 90).any():
            raise ValueError(f"footprints[{k}] has non-finite positions or |dec| > 90")
        out.append(a)
    return out


def _in_front(w, pts):
    """Whether sky points lie less than 80 degrees from a TAN frame's tangent point."""
    ra0, dec0 = np.radians(w.wcs.crval)
    ra, dec = np.radians(pts[:, 0]), np.radians(pts[:, 1])
    cosd = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    return bool((cosd > math.cos(math.radians(80.0))).all())


def _chip_cells(chip, border):
    """(p, x, y) of the sky cells a chip outline meets, drizzlepac's lookup order."""
    pts = _densify(chip)
    r = rings()
    found = []
    for i in np.nonzero((pts[:, 1].min() >= r["dec_min"]) & (pts[:, 1].max() <= r["dec_max"]))[0]:
        n, first = int(r["nband"][i]), int(r["first"][i])
        near = np.unique(np.rint((pts[:, 0] % 360.0) * n / 360.0).astype(np.int64) % n)
        cand = np.unique([max(int(near.min()) - 1, 0), *near.tolist(), (int(near.max()) + 1) % n])
        for b in cand:
            p = first + int(b)
            pc = projection_cell_wcs(p)
            if not _in_front(pc, pts):
                continue
            xy = np.column_stack(pc.wcs_world2pix(pts[:, 0], pts[:, 1], 0))
            if not _touches(xy, PCELL_NAXIS, PCELL_NAXIS):
                continue
            step = int(PCELL_NAXIS / SC_NXY + 0.5)
            size = step + 2 * border
            # sky cell (x, y) frame: 0.04" pixels [(x-1)*step, (x-1)*step + size) of the plane
            lo = np.floor((xy.min(axis=0) + 0.5 - size) / step).astype(int) + 1
            hi = np.floor((xy.max(axis=0) + 0.5) / step).astype(int) + 1
            for x in range(max(lo[0], 1), min(hi[0], SC_NXY) + 1):
                for y in range(max(lo[1], 1), min(hi[1], SC_NXY) + 1):
                    local = xy - [(x - 1) * step, (y - 1) * step]
                    if _touches(local, size, size):
                        found.append((p, x, y))
    return found


def hap_cells(footprints, *, scale=PCELL_SCALE, border=SC_OVERLAP):
    """Every HAP sky cell touched by some chip outline.

    Parameters
    ----------
    footprints : list of numpy.ndarray, each (n, 2) float64, or mapping
        RA, Dec (degrees) around each chip's edges, in order (as
        :func:`gpudrizzle.skycells.exposure_footprints` returns); edges
        between consecutive points are great circles.  A mapping
        ``file -> list of outlines`` stands for all its outlines.
    scale : float
        Layer pixel scale, arcsec per pixel (0.04, or 0.12 for IR).
    border : int
        Sky cell overlap on each side, 0.04" pixels (drizzlepac's 256).

    Returns
    -------
    list of SkyCell
        Sorted by name.  Each chip is looked up as drizzlepac does (see the
        module docstring), so a chip in the overlap of two rings or of two
        projection cells gets the sky cells of both; a sky cell counts when
        its whole frame (core and border, at 0.04"/px) meets the chip.

    Raises
    ------
    ValueError
        Malformed outlines, bad ``scale`` or ``border``.
    """
    chips = _check_footprints(footprints)
    scale = _check_scale(scale)
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"'border' must be a non-negative integer; got {border!r}")
    keys = set()
    for chip in chips:
        keys.update(_chip_cells(chip, int(border)))
    return [skycell(p, x, y, scale=scale, border=int(border)) for p, x, y in sorted(keys)]
