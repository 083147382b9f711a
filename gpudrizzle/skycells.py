"""Sky cells: the units of work of a mosaic, and which exposures touch each one.

A :class:`SkyCell` is an output frame (an astropy WCS with its pixel shape)
whose *core* tiles the sky with its neighbours' cores, and whose *border*
overlaps them, so that cells can be drizzled independently and their cores
pasted together.  :func:`tile_grid` cuts any output WCS into such cells (a
user grid); :mod:`gpudrizzle.hapcells` builds drizzlepac's HAP grid.

:func:`exposure_footprints` reads only headers (no pixel data) and
:func:`assign` says which exposures touch which cells, from those
footprints: a mosaic is planned from metadata alone.
"""

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from .inputs import check_file

__all__ = ["SkyCell", "EDGE_POINTS", "tile_grid", "chip_wcs", "exposure_footprints", "assign"]


@dataclass(frozen=True)
class SkyCell:
    """One cell of a mosaic grid.

    Attributes
    ----------
    name : str
        Unique name (HAP: ``skycell-p1234x05y07``; tiles: ``tile-x003y001``).
    wcs : astropy.wcs.WCS
        The cell's output frame (TAN, no distortion), ``pixel_shape`` set:
        core and border.
    core : (int, int, int, int)
        ``(x0, y0, x1, y1)``: the cell's own pixels, 0-based, x1/y1
        exclusive; the rest of the frame is border shared with neighbours.
    layer : str
        The grid layer (e.g. ``"0.04"`` arcsec per pixel, or ``"tiles"``).
    """

    name: str
    wcs: WCS
    core: tuple
    layer: str = "tiles"

    @property
    def shape(self):
        """(ny, nx) of the whole frame."""
        nx, ny = self.wcs.pixel_shape
        return (int(ny), int(nx))

    def header(self):
        """The frame as FITS cards (NAXIS1/2 included), e.g. for a plan file."""
        h = self.wcs.to_header()
        h["NAXIS1"], h["NAXIS2"] = self.wcs.pixel_shape
        return h

    def outline(self):
        """(4, 2) sky positions (degrees) of the frame's corners, counter-clockwise."""
        nx, ny = self.wcs.pixel_shape
        x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
        y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
        return np.column_stack(self.wcs.wcs_pix2world(x, y, 0))


def _pair_of_ints(name, value):
    items = list(value) if isinstance(value, (tuple, list)) else [value, value]
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  and v >= 1 for v in items):
        raise ValueError(f"{name!r} must be a positive integer or two; got {value!r}")
    return int(items[0]), int(items[1])


def tile_grid(wcs, tile, border=0, prefix="tile"):
    """Cut an output frame into cells of ``tile`` pixels plus a ``border`` on every side.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The whole mosaic's frame (celestial, ``pixel_shape`` set).
    tile : int or (int, int)
        Core size (nx, ny) in pixels; the last column/row of cells may be
        smaller.
    border : int
        Pixels added on every side of each core (>= 0), shared with the
        neighbouring cells.
    prefix : str
        Names are ``<prefix>-xXXXyYYY`` (0-based cell indices).

    Returns
    -------
    list of SkyCell
        Row by row (y, then x); each frame is ``wcs`` with CRPIX moved, so
        its pixels are exactly the mosaic's pixels.
    """
    if not isinstance(wcs, WCS) or not wcs.has_celestial or wcs.pixel_shape is None:
        raise ValueError("tile_grid needs a celestial astropy WCS with pixel_shape")
    tx, ty = _pair_of_ints("tile", tile)
    if isinstance(border, bool) or not isinstance(border, (int, np.integer)) or border < 0:
        raise ValueError(f"'border' must be a non-negative integer; got {border!r}")
    nx, ny = (int(v) for v in wcs.pixel_shape)
    cells = []
    for j in range(math.ceil(ny / ty)):
        for i in range(math.ceil(nx / tx)):
            cx0, cy0 = i * tx, j * ty
            cx1, cy1 = min(cx0 + tx, nx), min(cy0 + ty, ny)
            fx0, fy0 = cx0 - border, cy0 - border
            fx1, fy1 = cx1 + border, cy1 + border
            w = wcs.deepcopy()
            w.wcs.crpix = np.asarray(wcs.wcs.crpix, dtype=float) - [fx0, fy0]
            w.wcs.set()
            w.pixel_shape = (fx1 - fx0, fy1 - fy0)
            core = (cx0 - fx0, cy0 - fy0, cx1 - fx0, cy1 - fy0)
            cells.append(SkyCell(f"{prefix}-x{i:03d}y{j:03d}", w, core, "tiles"))
    return cells


#: Points per side of a chip outline: enough that a distorted (curved) chip edge is
#: followed to a small fraction of a pixel.
EDGE_POINTS = 8


def _edge(nx, ny):
    """x, y of EDGE_POINTS points per side around a chip's pixel edges, counter-clockwise."""
    t = np.arange(EDGE_POINTS) / EDGE_POINTS
    lo_x, hi_x, lo_y, hi_y = -0.5, nx - 0.5, -0.5, ny - 0.5
    x = np.concatenate([lo_x + t * (hi_x - lo_x), np.full(EDGE_POINTS, hi_x),
                        hi_x - t * (hi_x - lo_x), np.full(EDGE_POINTS, lo_x)])
    y = np.concatenate([np.full(EDGE_POINTS, lo_y), lo_y + t * (hi_y - lo_y),
                        np.full(EDGE_POINTS, hi_y), hi_y - t * (hi_y - lo_y)])
    return x, y


def chip_wcs(path):
    """Each chip's full WCS (``pixel_shape`` set) from the headers of ``path`` only.

    Parameters
    ----------
    path : str
        FITS file: SCI extensions (HST FLT/FLC, drizzled products) or a
        primary image with a celestial WCS.

    Returns
    -------
    list of astropy.wcs.WCS
        Distortion included (SIP, lookup tables); no pixel data is read.

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        No image extension with a celestial WCS, or an unreadable WCS (the
        message names the file and extension).
    """
    path = os.fspath(path)
    check_file(path)
    out = []
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        for h in [h for h in hdul if h.name == "SCI"] or [hdul[0]]:
            header = h.header
            n1, n2 = header.get("NAXIS1"), header.get("NAXIS2")
            if header.get("NAXIS", 0) != 2 or not n1 or not n2:
                continue
            try:
                w = WCS(header, hdul)
            except Exception as exc:  # astropy raises many kinds for broken headers
                raise ValueError(f"{path}[{h.name},{h.ver}]: unreadable WCS ({exc})") from None
            if w.has_celestial:
                w.pixel_shape = (int(n1), int(n2))
                out.append(w)
    if not out:
        raise ValueError(f"{path}: no image extension with a celestial WCS")
    return out


def exposure_footprints(path):
    """Sky outlines of an exposure's chips, from its headers only (no pixel data is read).

    Parameters
    ----------
    path : str
        As :func:`chip_wcs`.

    Returns
    -------
    list of numpy.ndarray, each (4 * EDGE_POINTS, 2) float64
        RA, Dec (degrees) of points around each chip's pixel edges, through
        its full WCS (distortion included), counter-clockwise in pixels.

    Raises
    ------
    OSError, ValueError
        As :func:`chip_wcs`.
    """
    return [np.column_stack(w.all_pix2world(*_edge(*w.pixel_shape), 0)) for w in chip_wcs(path)]


def _unit(radec):
    ra, dec = np.radians(radec[:, 0]), np.radians(radec[:, 1])
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def _inside(poly, pts):
    """Even-odd rule: which of ``pts`` (m, 2) lie inside polygon ``poly`` (n, 2)."""
    x, y = pts[:, 0][:, None], pts[:, 1][:, None]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = ((y0 > y) != (y1 > y)) & (x < x0 + (y - y0) * (x1 - x0) / np.where(
        y1 == y0, 1.0, y1 - y0))
    return crosses.sum(axis=1) % 2 == 1


def _touches(poly, nx, ny):
    """Whether polygon ``poly`` (pixel coordinates) meets the frame of nx x ny pixels."""
    lo, hi = np.array([-0.5, -0.5]), np.array([nx - 0.5, ny - 0.5])
    if ((poly > lo) & (poly < hi)).all(axis=1).any():  # a chip point inside the frame
        return True
    corners = np.array([lo, [hi[0], lo[1]], hi, [lo[0], hi[1]]])
    if _inside(poly, corners).any():  # the frame's corner inside the chip
        return True
    a, b = poly, np.roll(poly, -1, axis=0)  # an edge of the chip crossing the frame's edges
    for c, d in zip(corners, np.roll(corners, -1, axis=0)):
        def side(p, q, r):
            return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - \
                (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        if ((side(a, b, c) * side(a, b, d) < 0) & (side(c, d, a) * side(c, d, b) < 0)).any():
            return True
    return False


def assign(cells, footprints):
    """Which exposures touch which cells, from their sky outlines only.

    Parameters
    ----------
    cells : sequence of SkyCell
    footprints : mapping
        ``file -> list of (4, 2) chip outlines`` (:func:`exposure_footprints`).

    Returns
    -------
    dict
        ``cell name -> [files]`` for every cell touched by at least one chip
        (files in the mapping's order); cells no exposure touches are left out.
    """
    out = {}
    for cell in cells:
        center = _unit(cell.outline()).mean(axis=0)
        nx, ny = cell.wcs.pixel_shape
        members = []
        for path, chips in footprints.items():
            for chip in chips:
                # in the cell's tangent plane; a chip reaching its far hemisphere is out
                if (_unit(chip) @ center <= 0).any():
                    continue
                xy = np.column_stack(cell.wcs.wcs_world2pix(chip[:, 0], chip[:, 1], 0))
                if np.isfinite(xy).all() and _touches(xy, nx, ny):
                    members.append(path)
                    break
        if members:
            out[cell.name] = members
    return out
