"""DS9 region files and TweakReg's ``exclusions`` list, turned into masks of excluded pixels.

Region files (drizzlepac 3.11 ``ImageCatalog._combine_exclude_mask`` with
stregion semantics):

* shapes ``circle(x, y, r)``, ``box(x, y, w, h[, angle])`` (full widths),
  ``ellipse(x, y, a, b[, angle])`` (semi-axes), ``polygon(x1, y1, x2, y2,
  ...)``; angles in degrees, counter-clockwise from +x.  ``point``, ``line``,
  ``vector``, ``text``, ``ruler``, ``compass`` and ``projection`` cover no
  pixels and are skipped; any other shape is an error.
* coordinates in ``image`` (and ``physical``, taken as image) pixels,
  1-based: the centre of array pixel ``[j, i]`` is ``(i + 1, j + 1)``.  Sky
  systems ``fk5``, ``icrs``, ``j2000`` (decimal degrees or sexagesimal
  ``hh:mm:ss, dd:mm:ss``) are converted through a WCS given by the caller
  (``all_world2pix``, as drizzlepac does) for circles (radius in ``"``,
  ``'``, ``d`` or degrees, converted with the local pixel scale) and
  polygons; a sky box or ellipse, or a sky region without a WCS, is refused.
* a shape prefixed ``-`` is an exclude region, ``+`` or nothing an include
  region.  Regions apply in file order: an include region adds its pixels
  to the searched area, an exclude region removes its pixels from the area
  built so far.  When every region is an exclude region, the search area
  starts as the whole image.  A pixel belongs to a shape when its centre is
  inside it.
* ``global``, ``#`` comments, trailing ``# properties`` and several shapes on
  a line separated by ``;`` are allowed.

The ``exclusions`` file: one line per image, ``image.fits reg1 reg2 ...``
giving one region file (or ``None``/``INDEF``) per chip in ``SCI,<n>``
order, or ``image.fits[sci,<n>] reg`` for one chip; region file names are
relative to the exclusions file's directory.  A region "file" ending in
``.fits``/``.fit`` is a mask image instead: zeros are excluded pixels.
"""

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .inputs import read_text

__all__ = ["Region", "parse_regions", "read_regions", "include_mask", "excluded_mask",
           "read_exclusions"]

_AREA_SHAPES = {"circle": 3, "box": (4, 5), "ellipse": (4, 5), "polygon": None}
_SKIPPED_SHAPES = {"point", "line", "vector", "text", "ruler", "compass", "projection"}
_IMAGE_SYSTEMS = {"image", "physical"}
_SKY_SYSTEMS = {"fk5", "icrs", "j2000"}
_OTHER_SYSTEMS = {"fk4", "b1950", "galactic", "ecliptic", "linear", "amplifier", "detector",
                  "wcs", "wcsa"}
_SHAPE_RE = re.compile(r"^([+-]?)\s*([A-Za-z]+)\s*\((.*)\)\s*$")
_NONE = {"none", "indef", ""}


@dataclass(frozen=True)
class Region:
    """One region in 1-based image pixels.

    Attributes
    ----------
    shape : str
        ``circle``, ``box``, ``ellipse`` or ``polygon``.
    params : tuple of float
        circle ``(x, y, r)``; box ``(x, y, w, h, angle)``; ellipse
        ``(x, y, a, b, angle)``; polygon ``(x1, y1, x2, y2, ...)``.
    exclude : bool
    line : int
        Line of the region file it came from.
    """

    shape: str
    params: tuple
    exclude: bool
    line: int


def _split_statements(line):
    """``;``-separated statements of a line, without its ``#`` comment (outside parentheses)."""
    out, depth, cur = [], 0, []
    for ch in line:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and ch == "#":
            break
        if depth == 0 and ch == ";":
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _number(text, where):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None


def _sexagesimal(text, hours, where):
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"{where}: {text!r} is not d:m:s")
    sign = -1.0 if parts[0].strip().startswith("-") else 1.0
    d, m, s = (abs(_number(p, where)) for p in parts)
    value = sign * (d + m / 60.0 + s / 3600.0)
    return value * 15.0 if hours else value


def _angle_size(text, where):
    """A sky size in degrees: ``10"`` arcsec, ``2'`` arcmin, ``0.1d`` or a bare number degrees."""
    units = {'"': 1 / 3600.0, "'": 1 / 60.0, "d": 1.0, "r": 180.0 / math.pi}
    if text and text[-1] in units:
        return _number(text[:-1], where) * units[text[-1]]
    return _number(text, where)


def _pixel_scale_deg(wcs, x, y):
    """Mean pixel size (degrees) of ``wcs`` near the 1-based pixel ``(x, y)``."""
    pts = np.array([[x, y], [x + 1.0, y], [x, y + 1.0]])
    world = wcs.all_pix2world(pts, 1)
    ra, dec = np.deg2rad(world[:, 0]), np.deg2rad(world[:, 1])

    def sep(i):
        c = (np.sin(dec[0]) * np.sin(dec[i]) +
             np.cos(dec[0]) * np.cos(dec[i]) * np.cos(ra[i] - ra[0]))
        return np.rad2deg(np.arccos(np.clip(c, -1.0, 1.0)))

    return math.sqrt(sep(1) * sep(2))


def _sky_to_image(shape, args, wcs, where):
    if wcs is None:
        raise ValueError(f"{where}: a region in sky coordinates needs the image's WCS (give "
                         "wcs=), or write the region in image coordinates")
    if shape not in ("circle", "polygon"):
        raise ValueError(f"{where}: a {shape} in sky coordinates is not supported; give it in "
                         "image coordinates (circles and polygons may be in fk5/icrs)")
    coords = args if shape == "polygon" else args[:2]
    if len(coords) % 2:
        raise ValueError(f"{where}: polygon needs an even number of coordinates")
    world = []
    for k in range(0, len(coords), 2):
        a, b = coords[k], coords[k + 1]
        ra = _sexagesimal(a, True, where) if ":" in a else _number(a, where)
        dec = _sexagesimal(b, False, where) if ":" in b else _number(b, where)
        world.append((ra, dec))
    pix = wcs.all_world2pix(np.array(world, dtype=np.float64), 1)
    if not np.all(np.isfinite(pix)):
        raise ValueError(f"{where}: the sky position does not project onto the image's WCS")
    if shape == "polygon":
        return tuple(float(v) for v in pix.ravel())
    x, y = pix[0]
    r = _angle_size(args[2], where) / _pixel_scale_deg(wcs, x, y)
    return (float(x), float(y), float(r))


def _image_params(shape, args, where):
    values = []
    for a in args:
        if a and a[-1] in "\"'d" and shape in ("circle", "box", "ellipse"):
            raise ValueError(f"{where}: sizes with sky units ({a!r}) need sky coordinates")
        values.append(_number(a, where))
    return tuple(values)


def _check_params(shape, params, where):
    n = len(params)
    if shape == "circle":
        if n != 3:
            raise ValueError(f"{where}: circle(x, y, r) needs 3 values, got {n}")
        if params[2] <= 0:
            raise ValueError(f"{where}: circle radius must be > 0, got {params[2]}")
        return params
    if shape in ("box", "ellipse"):
        if n not in (4, 5):
            raise ValueError(f"{where}: {shape}(x, y, w, h[, angle]) needs 4 or 5 values, "
                             f"got {n}")
        if params[2] <= 0 or params[3] <= 0:
            raise ValueError(f"{where}: {shape} sizes must be > 0, got {params[2:4]}")
        return params if n == 5 else params + (0.0,)
    if n < 6 or n % 2:
        raise ValueError(f"{where}: polygon needs at least 3 vertices (an even number >= 6 of "
                         f"values), got {n}")
    return params


def parse_regions(text, *, wcs=None, source="<text>"):
    """The regions of a DS9 region file's text.

    Parameters
    ----------
    text : str
    wcs : astropy.wcs.WCS, optional
        The image's WCS, for regions in sky coordinates.
    source : str
        Name used in error messages (the file).

    Returns
    -------
    list of Region

    Raises
    ------
    ValueError
        Bad syntax, an unknown shape or coordinate system; the message names
        ``source`` and the line.
    """
    system = "image"
    regions = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {n}"
        if line.lower().startswith("global") and (len(line) == 6 or line[6].isspace()):
            continue
        for stmt in _split_statements(line):
            low = stmt.lower()
            if low in _IMAGE_SYSTEMS or low in _SKY_SYSTEMS:
                system = low
                continue
            if low in _OTHER_SYSTEMS:
                raise ValueError(f"{where}: coordinate system {stmt!r} is not supported (use "
                                 "image, physical, fk5, icrs or j2000)")
            m = _SHAPE_RE.match(stmt)
            if m is None:
                raise ValueError(f"{where}: cannot read {stmt!r} (expected e.g. "
                                 "circle(x,y,r) or -box(x,y,w,h,angle))")
            sign, shape, inner = m.group(1), m.group(2).lower(), m.group(3)
            if shape in _SKIPPED_SHAPES:
                continue
            if shape not in _AREA_SHAPES:
                raise ValueError(f"{where}: region shape {shape!r} is not supported (circle, "
                                 "box, ellipse, polygon)")
            args = [a.strip() for a in inner.replace(",", " ").split()]
            if system in _SKY_SYSTEMS:
                params = _sky_to_image(shape, args, wcs, where)
            else:
                params = _image_params(shape, args, where)
            if not all(math.isfinite(v) for v in params):
                raise ValueError(f"{where}: values must be finite")
            params = _check_params(shape, params, where)
            regions.append(Region(shape, params, sign == "-", n))
    return regions


def read_regions(path, *, wcs=None):
    """:func:`parse_regions` of the file ``path``.

    Raises
    ------
    FileNotFoundError
        The file does not exist (the message names it).
    """
    path = os.fspath(path)
    return parse_regions(read_text(path, "region file"), wcs=wcs, source=path)


def _shape_pixels(region, x, y):
    """Pixels (1-based centre coordinates ``x``, ``y``) inside ``region``."""
    p = region.params
    if region.shape == "circle":
        return (x - p[0]) ** 2 + (y - p[1]) ** 2 <= p[2] ** 2
    if region.shape in ("box", "ellipse"):
        t = math.radians(p[4])
        dx, dy = x - p[0], y - p[1]
        u = dx * math.cos(t) + dy * math.sin(t)
        v = -dx * math.sin(t) + dy * math.cos(t)
        if region.shape == "box":
            return (np.abs(u) <= p[2] / 2.0) & (np.abs(v) <= p[3] / 2.0)
        return (u / p[2]) ** 2 + (v / p[3]) ** 2 <= 1.0
    vx, vy = np.asarray(p[0::2]), np.asarray(p[1::2])
    inside = np.zeros(x.shape, dtype=bool)
    for k in range(len(vx)):  # even-odd rule over the edges
        x1, y1, x2, y2 = vx[k - 1], vy[k - 1], vx[k], vy[k]
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xi)
    return inside


def include_mask(regions, shape):
    """The pixels to search for sources: True inside the include regions, minus the excluded.

    Parameters
    ----------
    regions : sequence of Region
    shape : (int, int)
        (ny, nx) of the image.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        All True for no regions.
    """
    ny, nx = (int(v) for v in shape)
    if ny <= 0 or nx <= 0:
        raise ValueError(f"shape must be (ny, nx) > 0, got {shape}")
    regions = list(regions)
    if not regions:
        return np.ones((ny, nx), dtype=bool)
    y, x = np.mgrid[1:ny + 1, 1:nx + 1].astype(np.float64)
    mask = np.full((ny, nx), all(r.exclude for r in regions), dtype=bool)
    for r in regions:
        inside = _shape_pixels(r, x, y)
        if r.exclude:
            mask &= ~inside
        else:
            mask |= inside
    return mask


def _fits_mask(path, shape):
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        for hdu in hdul:
            if hdu.data is not None and hdu.data.ndim == 2 and hdu.data.shape == tuple(shape):
                return ~np.asarray(hdu.data).astype(bool)
    raise ValueError(f"exclusion mask {path}: no image extension has the chip's shape "
                     f"{tuple(shape)}")


def excluded_mask(path, shape, *, wcs=None):
    """Pixels excluded from source finding by a region file or a FITS mask.

    Parameters
    ----------
    path : str or path-like
        A DS9 region file, or a FITS mask (``.fits``/``.fit``: zeros excluded).
    shape : (int, int)
        (ny, nx) of the chip.
    wcs : astropy.wcs.WCS, optional
        The chip's WCS, for sky-coordinate regions.

    Returns
    -------
    ndarray of bool, shape (ny, nx)
        True where excluded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"exclusion file {path} does not exist")
    if os.path.splitext(path)[1].lower() in (".fits", ".fit"):
        return _fits_mask(path, shape)
    return ~include_mask(read_regions(path, wcs=wcs), shape)


_CHIP_RE = re.compile(r"^(?P<name>[^\[\]]+)\[\s*sci\s*,\s*(?P<ver>\d+)\s*\]$", re.IGNORECASE)


def read_exclusions(path):
    """Read TweakReg's ``exclusions`` list file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``{image base name: {extver: region file path or None}}``; region
        paths are made absolute relative to the exclusions file's directory.
        An image listed without region files maps to ``{}``.

    Raises
    ------
    FileNotFoundError
    ValueError
        Bad lines (the message names the file and line).
    """
    path = os.fspath(path)
    lines = read_text(path, "exclusions file").splitlines()
    root = os.path.dirname(os.path.abspath(path))
    out = {}
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"exclusions file {path}, line {n}"
        cols = line.split()
        first, files_ = cols[0], cols[1:]
        m = _CHIP_RE.match(first)
        if m is not None:
            name = os.path.basename(m["name"])
            if len(files_) != 1:
                raise ValueError(f"{where}: {first} names one chip; give exactly one region "
                                 f"file after it, got {len(files_)}")
            chips = {int(m["ver"]): files_[0]}
        elif "[" in first or "]" in first:
            raise ValueError(f"{where}: cannot read the image {first!r} (expected "
                             "image.fits or image.fits[sci,<n>])")
        else:
            name = os.path.basename(first)
            chips = {i: f for i, f in enumerate(files_, start=1)}
        entry = out.setdefault(name, {})
        for ver, reg in chips.items():
            if ver in entry:
                raise ValueError(f"{where}: {name}[sci,{ver}] is given twice")
            entry[ver] = None if reg.lower() in _NONE else \
                os.path.normpath(os.path.join(root, reg))
    return out
