"""The output frame: AstroDrizzle's default WCS and its user overrides.

Default frame (drizzlepac 3.11 ``wcs_functions.make_outputwcs`` with
``perfect=True``, over stwcs ``distortion.utils.output_wcs``)
-----------------------------------------------------------------------
1. **Footprint**: the four corner pixel *centres* of every chip (all chips of
   all exposures, in input order), through the full WCS with distortion
   (astropy ``calc_footprint(center=True)`` as stwcs uses it).
2. **Tangent point**: the normalised mean of the corners' unit vectors
   (stwcs ``computeFootprintCenter``).
3. **Orientation and scale** of the first chip (stwcs ``make_orthogonal_cd``):
   with IDCV2REF/IDCV3REF and PA_V3 in the headers, the telescope roll at the
   chip's reference position (``troll(PA_V3, CRVAL2, V2REF, V3REF)``) plus
   IDCTHETA, taken through the detector parity matrix; otherwise the angle of
   the chip's CD matrix Y axis (``atan2(CD1_2, CD2_2)``).  The scale is
   IDCSCALE, or the square root of the pixel area where IDCSCALE is absent.
   So the frame follows the detector, not north.
4. **CD**: square and orthogonal with east to the left,
   ``scale * [[-cos r, sin r], [sin r, cos r]]`` (drizzlepac ``make_perfect_cd``).
5. **Shape**: ``ceil`` of the extent of the corners projected on that
   tangent plane; CRPIX = shape / 2; CRVAL then moves to the sky position of
   pixel ``CRPIX + min(corner pixel)`` (in the frame with 0-based
   corners and 1-based evaluation, exactly as stwcs does), which puts the
   lowest corner centre on 0-based pixel 0.

Overrides (drizzlepac ``mergeWCS``), applied to the default or to a
reference image's WCS: ``scale`` (arcsec) rescales the CD and, without a
rotation or explicit size, the shape (``ceil(ratio * n)``) and CRPIX
(``1 + ratio * (CRPIX - 1)``); ``rot`` (degrees east of north of the Y axis)
rotates the CD and, without explicit size, the frame is resized to hold the
rotated old frame's pixel-edge corners; ``outnx``/``outny`` set the shape
(CRPIX then defaults to the centre, ``(n + 1) / 2``); ``crpix1/2`` and
``ra``/``dec`` set CRPIX and CRVAL.  ``ra``/``dec``, ``crpix1/2`` and
``outnx``/``outny`` come in pairs.

Where gpudrizzle chooses differently
------------------------------------
* Inputs whose CD matrix has a positive determinant (east to the right): the
  east-left CD of step 4 is used from the start, so the shape and CRPIX fit
  the footprint; drizzlepac computes them with the mirrored CD and swaps the
  CD afterwards, which shifts the frame by about one pixel.
* ``coeffs=False`` with several chips: the square CD (scale and angle of the
  first chip's CD) is used for the shape too; drizzlepac sizes the frame
  with the first chip's CD as it is and squares it afterwards.
* A reference image's distortion (SIP, lookup tables) is dropped: drizzlepac
  evaluates the output frame with ``wcs_world2pix``, i.e. linearly, too.
* IDCV2REF without PA_V3 (drizzlepac fails) falls back to the CD angle.
"""

import logging
import math
import re
import warnings

import numpy as np
from astropy.wcs import WCS, FITSFixedWarning

from .params import Parameters, custom_wcs_parameters, resolve_parameters

__all__ = [
    "output_frame",
    "default_frame",
    "merge_overrides",
    "load_refimage",
    "footprint_corners",
    "footprint_center",
    "telescope_roll",
    "reference_orientation",
    "pixel_scale",
    "orientation",
    "pix_ratio",
    "chip_box",
    "check_overlap",
]

log = logging.getLogger("gpudrizzle")

_NO_OVERRIDES = {"rot": None, "scale": None, "outnx": None, "outny": None, "ra": None,
                 "dec": None, "crpix1": None, "crpix2": None}


def _rotation(theta_deg):
    """stsci ``buildRotMatrix``: [[cos, sin], [-sin, cos]]."""
    t = math.radians(theta_deg)
    return np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])


def pixel_scale(wcs):
    """Pixel scale (arcsec) as HSTWCS ``pscale``: ``sqrt(CD1_1^2 + CD2_1^2) * 3600``."""
    cd = wcs.celestial.pixel_scale_matrix
    return math.hypot(cd[0, 0], cd[1, 0]) * 3600.0


def orientation(wcs):
    """Position angle (degrees) of the Y axis as HSTWCS ``orientat``: ``atan2(CD1_2, CD2_2)``."""
    cd = wcs.celestial.pixel_scale_matrix
    return math.degrees(math.atan2(cd[0, 1], cd[1, 1]))


def pix_ratio(chip_wcs, frame):
    """Output pixel scale over a chip's (drizzle's ``pixel_scale_ratio``), both in arcsec."""
    return pixel_scale(frame) / pixel_scale(chip_wcs)


def chip_box(chip, frame):
    """Pixel bounding box of a chip's edge in an output frame.

    Parameters
    ----------
    chip : object with ``shape`` (ny, nx) and ``wcs`` (astropy WCS)
        An input chip (:class:`gpudrizzle.exposure.Chip`).
    frame : astropy.wcs.WCS
        The output frame.

    Returns
    -------
    tuple of 4 float
        (xmin, xmax, ymin, ymax), 0-based pixels of ``frame``, over 9
        points along each edge of the chip (pixel edges, not centres).
    """
    ny, nx = chip.shape
    xs = np.concatenate([np.linspace(-0.5, nx - 0.5, 9), np.full(9, nx - 0.5),
                         np.linspace(-0.5, nx - 0.5, 9), np.full(9, -0.5)])
    ys = np.concatenate([np.full(9, -0.5), np.linspace(-0.5, ny - 0.5, 9), np.full(9, ny - 0.5),
                         np.linspace(-0.5, ny - 0.5, 9)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra, dec = chip.wcs.all_pix2world(xs, ys, 0)
        x, y = frame.all_world2pix(ra, dec, 0)
    return float(np.nanmin(x)), float(np.nanmax(x)), float(np.nanmin(y)), float(np.nanmax(y))


def _boxes_meet(a, b):
    return a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]


def check_overlap(frame, chips, exposure_index, exposure_labels, pairwise):
    """Raise ValueError when inputs cannot be combined in ``frame``.

    An exposure wholly outside the frame is logged as a warning (a chip outside
    while others of its exposure are on the frame, only as information); none on
    it raises.  With ``pairwise`` (the median and cosmic-ray steps), every
    exposure must also meet another exposure's chips.

    Parameters
    ----------
    frame : astropy.wcs.WCS or None
        The output frame (``array_shape`` set); None: nothing is checked.
    chips : sequence of chips (``shape``, ``wcs``, ``label``)
        Every input chip.
    exposure_index : sequence of int
        Index of each chip's exposure (into ``exposure_labels``).
    exposure_labels : sequence of str
        Each exposure's label, for the message.
    pairwise : bool
        Whether exposures must overlap each other.
    """
    if frame is None:
        return
    ny, nx = frame.array_shape
    boxes, outside = {}, {}
    for chip, i in zip(chips, exposure_index):
        box = chip_box(chip, frame)
        boxes.setdefault(i, []).append(box)
        if not (box[1] >= -0.5 and box[0] <= nx - 0.5 and box[3] >= -0.5 and box[2] <= ny - 0.5):
            outside.setdefault(i, []).append(chip.label)
    for i, labels in outside.items():
        if len(labels) == len(boxes[i]):
            log.warning("%s lies entirely outside the output frame and adds nothing",
                        exposure_labels[i])
        else:  # e.g. a mosaic cell that one chip of the exposure touches: expected
            for label in labels:
                log.info("%s lies entirely outside the output frame and adds nothing", label)
    if len(outside) == len(boxes) and all(len(outside[i]) == len(boxes[i]) for i in boxes):
        raise ValueError("no input overlaps the output frame "
                         f"({nx} x {ny} pixels); check final_ra/final_dec/final_refimage")
    if not pairwise:
        return
    for i, own in boxes.items():
        if not any(_boxes_meet(a, b) for j, other in boxes.items() if j != i
                   for a in own for b in other):
            raise ValueError(
                f"input {exposure_labels[i]} does not overlap any other input; the "
                "median and cosmic-ray steps need overlapping exposures (set median=False, "
                "blot=False, driz_cr=False to drizzle disjoint fields)")


def telescope_roll(pa_v3, dec, v2, v3):
    """Roll angle (degrees) at a V2/V3 position (arcsec) given PA_V3 at V1 and the declination.

    The relation of stwcs ``makewcs.troll`` (from Colin Cox, STScI generic conversion).
    """
    roll, d = math.radians(pa_v3), math.radians(dec)
    a2, a3 = math.radians(v2 / 3600.0), math.radians(v3 / 3600.0)
    sin_rho = math.sqrt(math.sin(a2) ** 2 + math.sin(a3) ** 2 - math.sin(a2) ** 2 * math.sin(a3) ** 2)
    if sin_rho == 0.0:
        return math.degrees(roll)
    rho = math.asin(sin_rho)
    beta = math.asin(math.sin(a3) / sin_rho)
    if a2 < 0:
        beta = math.pi - beta
    gamma = math.asin(math.sin(a2) / sin_rho)
    if a3 < 0:
        gamma = math.pi - gamma
    big_a = math.pi / 2.0 + roll - beta
    big_b = math.atan2(math.sin(big_a) * math.cos(d),
                       math.sin(d) * sin_rho - math.cos(d) * math.cos(rho) * math.cos(big_a))
    return math.degrees(math.pi - (gamma + big_b))


def _chip_facts(item):
    """(wcs, idcscale, v2v3ref, idctheta, pa_v3, parity) of a Chip or a plain WCS."""
    if isinstance(item, WCS):
        if item.pixel_shape is None:
            raise ValueError("a WCS given for the output frame needs pixel_shape (the image size)")
        return item, None, None, None, None, ((1.0, 0.0), (0.0, -1.0))
    return (item.wcs, item.idcscale, item.v2v3ref, item.idctheta, item.pa_v3, item.parity)


def _read_in_memory(items, params):
    """``items`` with in-memory inputs (HDUList, NDData/CCDData, ``(array, wcs, exptime)``,
    dict) read as :class:`gpudrizzle.exposure.Exposure`, as AstroDrizzle reads them."""
    from .exposure import Exposure, is_in_memory, to_exposure

    if is_in_memory(items):
        items = [items]
    if isinstance(items, WCS) or not isinstance(items, (list, tuple)):
        return items
    return [to_exposure(it, params, name=f"input{i + 1}")
            if is_in_memory(it) and not isinstance(it, Exposure) else it
            for i, it in enumerate(items)]


def _flatten(items):
    if isinstance(items, WCS) or hasattr(items, "chips") or hasattr(items, "sci"):
        items = [items]
    out = []
    for it in items:
        if hasattr(it, "chips"):
            out.extend(it.chips)
        else:
            out.append(it)
    if not out:
        raise ValueError("no chips to build an output frame from")
    return out


def footprint_corners(wcs):
    """Sky positions (degrees) of the four corner pixel centres, with distortion.

    Parameters
    ----------
    wcs : astropy.wcs.WCS with ``pixel_shape``

    Returns
    -------
    numpy.ndarray, shape (4, 2), float64
        (RA, Dec) of pixels (1, 1), (1, ny), (nx, ny), (nx, 1) (1-based).
    """
    nx, ny = wcs.pixel_shape
    x = np.array([0.0, 0.0, nx - 1.0, nx - 1.0])
    y = np.array([0.0, ny - 1.0, ny - 1.0, 0.0])
    ra, dec = wcs.pixel_to_world_values(x, y)
    return np.column_stack([ra, dec])


def footprint_center(radec):
    """Normalised mean unit vector of sky positions (degrees) -> (RA, Dec) in degrees."""
    a, d = np.radians(radec[:, 0]), np.radians(radec[:, 1])
    x, y, z = (np.cos(d) * np.cos(a)).mean(), (np.cos(d) * np.sin(a)).mean(), np.sin(d).mean()
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.atan2(z, math.hypot(x, y)))


def reference_orientation(chip, coeffs=True):
    """Orientation (degrees) and pixel scale (degrees) of the default frame from its first chip.

    See rule 3 of the module docstring.

    Parameters
    ----------
    chip : Chip or astropy.wcs.WCS
    coeffs : bool
        False: the chip's CD scale and angle (drizzlepac with ``coeffs=False``).

    Returns
    -------
    rot_deg, scale_deg : float
    """
    wcs, idcscale, v2v3, theta, pa_v3, parity = _chip_facts(chip)
    if not coeffs:
        return orientation(wcs), pixel_scale(wcs) / 3600.0
    if v2v3 is not None and pa_v3 is not None:
        pv = telescope_roll(pa_v3, float(wcs.wcs.crval[1]), v2v3[0], v2v3[1]) + (theta or 0.0)
        c, s = math.cos(math.radians(pv)), math.sin(math.radians(pv))
        m = np.array([[c, s], [-s, c]]) @ np.asarray(parity, dtype=float)
        rot = math.degrees(math.atan2(m[0, 1], m[1, 1]))
    else:
        rot = orientation(wcs)
    if idcscale:
        return rot, idcscale / 3600.0
    log.info("IDCSCALE is missing; the output pixel scale is the first chip's pixel size")
    cd = wcs.celestial.pixel_scale_matrix
    return rot, math.sqrt(abs(np.linalg.det(cd)))


def _tan_wcs(crval, crpix, cd, like=None):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.cd = cd
    w.wcs.crpix = crpix
    w.wcs.crval = crval
    if like is not None:
        if like.wcs.radesys:
            w.wcs.radesys = like.wcs.radesys
        if like.wcs.radesys in ("FK4", "FK5") and np.isfinite(like.wcs.equinox):
            w.wcs.equinox = like.wcs.equinox
        if like.wcs.name:
            w.wcs.name = like.wcs.name
    w.wcs.set()
    return w


def _chip_name(chips, k):
    """Label of chip ``k`` for messages (``file[SCI,1]``, or ``WCS #k`` for a plain WCS)."""
    return getattr(chips[k], "label", None) or f"WCS #{k + 1}"


def _check_hemisphere(chips, corners, center):
    """ValueError when a corner is 90 degrees or more from the tangent point of the frame.

    Parameters
    ----------
    chips : list of Chip or astropy.wcs.WCS
    corners : numpy.ndarray, shape (4 * len(chips), 2), float64
        (RA, Dec) in degrees of each chip's corners, chip by chip.
    center : tuple of float
        (RA, Dec) of the tangent point, degrees.
    """
    ra, dec = np.radians(corners[:, 0]), np.radians(corners[:, 1])
    ra0, dec0 = math.radians(center[0]), math.radians(center[1])
    cos_distance = (np.sin(dec) * math.sin(dec0) + np.cos(dec) * math.cos(dec0) * np.cos(ra - ra0))
    far = int(np.argmin(cos_distance))
    if cos_distance[far] > 1e-6:  # within 90 degrees (less a hair): the projection holds it
        return
    distance = math.degrees(math.acos(max(-1.0, min(1.0, float(cos_distance[far])))))
    raise ValueError(
        f"the inputs are too far apart for one output frame: a corner of "
        f"{_chip_name(chips, far // 4)} is {distance:.1f} degrees from the centre of their "
        f"footprint (RA {center[0]:.4f}, Dec {center[1]:.4f}), and a tangent projection holds "
        "less than 90 degrees; drizzle inputs this far apart separately")


def default_frame(chips, coeffs=True) -> WCS:
    """AstroDrizzle's default output WCS for a set of chips (rules 1-5 of the module docstring).

    Parameters
    ----------
    chips : sequence of Chip, Exposure or astropy.wcs.WCS (with pixel_shape)
        The chips to cover, in input order; the first one sets the
        orientation and scale.
    coeffs : bool
        As the AstroDrizzle parameter; False with a single chip returns that
        chip's own frame with a square CD (drizzlepac's special case).

    Returns
    -------
    astropy.wcs.WCS
        TAN projection, square CD, ``pixel_shape``/``array_shape`` set.

    Raises
    ------
    ValueError
        A chip corner without a sky position, or chips too far apart for one
        tangent plane (a corner 90 degrees or more from the footprint's
        centre); the message names the chip.
    """
    chips = _flatten(chips)
    first = _chip_facts(chips[0])[0]
    rot, scale = reference_orientation(chips[0], coeffs)
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    cd = scale * np.array([[-c, s], [s, c]])
    if not coeffs and len(chips) == 1:
        w = _tan_wcs(first.wcs.crval, first.wcs.crpix, cd, like=first)
        w.wcs.ctype = [t.replace("-SIP", "") for t in first.wcs.ctype]
        w.wcs.set()
        w.pixel_shape = first.pixel_shape
        return w
    corners = np.vstack([footprint_corners(_chip_facts(ch)[0]) for ch in chips])
    if not np.all(np.isfinite(corners)):
        bad = int(np.flatnonzero(~np.isfinite(corners).all(axis=1))[0]) // 4
        raise ValueError(f"{_chip_name(chips, bad)}: a corner has no sky position "
                         "(NaN from its WCS)")
    center = footprint_center(corners)
    _check_hemisphere(chips, corners, center)
    w = _tan_wcs(center, [0.0, 0.0], cd, like=first)
    xy = w.wcs.s2p(corners, 0)["pixcrd"]
    n1 = int(math.ceil(xy[:, 0].max() - xy[:, 0].min()))
    n2 = int(math.ceil(xy[:, 1].max() - xy[:, 1].min()))
    crpix = np.array([n1 / 2.0, n2 / 2.0])
    w.wcs.crpix = crpix
    w.wcs.set()
    xy = w.wcs.s2p(corners, 0)["pixcrd"]
    shifted = crpix + xy.min(axis=0)
    w.wcs.crval = w.wcs.p2s(shifted[np.newaxis, :], 1)["world"][0]
    w.wcs.set()
    w.pixel_shape = (max(n1, 1), max(n2, 1))
    return w


def _py2round(x):
    return math.floor(x + 0.5) if x >= 0 else math.ceil(x - 0.5)


def merge_overrides(base, overrides, pscale=None, orient=None):
    """Apply output-frame overrides to a WCS (drizzlepac ``mergeWCS``).

    Parameters
    ----------
    base : astropy.wcs.WCS
        Default or reference frame, with ``pixel_shape`` (unless outnx/outny given).
    overrides : mapping
        Keys ``rot``, ``scale``, ``outnx``, ``outny``, ``ra``, ``dec``,
        ``crpix1``, ``crpix2`` (None = keep); other keys are ignored.
    pscale, orient : float, optional
        The base frame's scale (arcsec) and orientation (degrees); default
        from its CD (:func:`pixel_scale`, :func:`orientation`).

    Returns
    -------
    astropy.wcs.WCS
        A new WCS with ``pixel_shape`` set.
    """
    pars = {k: overrides.get(k) for k in _NO_OVERRIDES}
    out = base.deepcopy()
    if all(v is None for v in pars.values()):
        if out.pixel_shape is None:
            raise ValueError("the reference frame has no image size; give outnx and outny")
        return out
    pscale = pixel_scale(out) if pscale is None else pscale
    orient = orientation(out) if orient is None else orient
    for a, b in (("ra", "dec"), ("crpix1", "crpix2"), ("outnx", "outny")):
        if (pars[a] is None) != (pars[b] is None):
            given, missing = (a, b) if pars[a] is not None else (b, a)
            raise ValueError(f"when WCS parameter '{given}' is given, '{missing}' must be given too")

    crval = (pars["ra"], pars["dec"]) if pars["ra"] is not None else None
    crpix = (pars["crpix1"], pars["crpix2"]) if pars["crpix1"] is not None else None
    ratio = None
    if pars["scale"] is not None and not np.isclose(pars["scale"], pscale, rtol=10 * np.finfo(float).eps,
                                                    atol=100 * np.finfo(float).tiny):
        ratio = pscale / pars["scale"]
    delta = None
    if pars["rot"] is not None:
        delta = orient - pars["rot"]
        if delta == 0.0:
            delta = None

    shape = None
    if pars["outnx"] is not None:
        shape = (int(_py2round(pars["outnx"])), int(_py2round(pars["outny"])))
        if shape[0] < 1 or shape[1] < 1:
            raise ValueError(f"custom output size must be at least 1x1; got {shape}")
        if crpix is None:
            crpix = ((shape[0] + 1.0) / 2.0, (shape[1] + 1.0) / 2.0)
    else:
        if out.pixel_shape is None:
            raise ValueError("the reference frame has no image size; give outnx and outny")
        n1, n2 = out.pixel_shape
        if delta is None:
            if ratio is not None:
                shape = (max(1, int(math.ceil(ratio * n1))), max(1, int(math.ceil(ratio * n2))))
                if crpix is None:
                    crpix = tuple(1.0 + ratio * (np.asarray(out.wcs.crpix) - 1.0))
        else:
            corners = np.array([[0.5, 0.5], [n1 + 0.5, 0.5], [0.5, n2 + 0.5],
                                [n1 + 0.5, n2 + 0.5]]) - np.asarray(out.wcs.crpix)
            if ratio is not None:
                corners = corners * ratio
            corners = corners @ _rotation(delta)
            xmin, ymin = corners.min(axis=0)
            xmax, ymax = corners.max(axis=0)
            shape = (max(1, int(math.ceil(xmax - xmin))), max(1, int(math.ceil(ymax - ymin))))
            if crpix is None:
                crpix = (-xmin + 0.5, -ymin + 0.5)

    if not out.wcs.has_cd():
        out = _linear_part(out)
    cd = np.array(out.wcs.cd, dtype=float)
    if ratio is not None:
        cd = cd / ratio
    if delta is not None:
        cd = cd @ _rotation(delta)
    out.wcs.cd = cd
    if shape is not None:
        out.pixel_shape = shape
    if crpix is not None:
        out.wcs.crpix = np.asarray(crpix, dtype=np.float64)
    if crval is not None:
        out.wcs.crval = np.asarray(crval, dtype=np.float64)
    out.wcs.set()
    return out


def _parse_refimage(spec):
    """'file.fits[ext]' -> (file, ext) with ext an int, (name, ver) or None."""
    m = re.fullmatch(r"(.+?)\[([^\]]*)\]\s*", spec)
    if not m:
        return spec, None
    name, ext = m.group(1), m.group(2).strip()
    if re.fullmatch(r"\d+", ext):
        return name, int(ext)
    parts = [p.strip() for p in ext.split(",")]
    if len(parts) == 1 and parts[0]:
        return name, (parts[0].upper(), 1)
    if len(parts) == 2 and re.fullmatch(r"\d+", parts[1]):
        return name, (parts[0].upper(), int(parts[1]))
    raise ValueError(f"refimage {spec!r}: extension must be a number or 'name,version'")


def _linear_part(w):
    """A new WCS with the projection, reference point and CD matrix of ``w`` (no distortion)."""
    cel = w.celestial
    out = WCS(naxis=2)
    out.wcs.ctype = [c.replace("-SIP", "") for c in cel.wcs.ctype]
    out.wcs.cunit = cel.wcs.cunit
    out.wcs.crval = cel.wcs.crval
    out.wcs.crpix = cel.wcs.crpix
    out.wcs.cd = cel.pixel_scale_matrix
    out.wcs.set_pv(cel.wcs.get_pv())
    if cel.wcs.radesys:
        out.wcs.radesys = cel.wcs.radesys
    if np.isfinite(cel.wcs.equinox):
        out.wcs.equinox = cel.wcs.equinox
    out.wcs.lonpole, out.wcs.latpole = cel.wcs.lonpole, cel.wcs.latpole
    out.wcs.name = cel.wcs.name
    out.wcs.set()
    out.pixel_shape = cel.pixel_shape
    return out


def load_refimage(refimage):
    """The linear output WCS defined by a reference image.

    Parameters
    ----------
    refimage : str or astropy.wcs.WCS
        ``file.fits``, ``file.fits[1]`` or ``file.fits[sci,1]``; without an
        extension, the first HDU with CRVAL1 and a celestial WCS
        (drizzlepac ``findWCSExtn``).

    Returns
    -------
    astropy.wcs.WCS
        Linear part (no SIP or lookup tables); ``pixel_shape`` from the
        HDU's NAXIS1/NAXIS2 when it has them.

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        No extension with a celestial WCS, or a bad extension.
    """
    if isinstance(refimage, WCS):
        if not (refimage.has_celestial and refimage.naxis == 2):
            raise ValueError("refimage WCS is not a 2-D celestial WCS")
        return _linear_part(refimage)
    if not isinstance(refimage, str):
        raise ValueError(f"'refimage' must be a file name or an astropy WCS; got {refimage!r}")
    name, ext = _parse_refimage(refimage.strip())
    from .inputs import open_fits

    hdul = open_fits(name, "reference image", memmap=False)
    with hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        if ext is None:
            candidates = [i for i, h in enumerate(hdul) if "CRVAL1" in h.header]
        else:
            try:
                hdul[ext]
            except (KeyError, IndexError):
                raise ValueError(f"reference image {name} has no extension {ext!r}") from None
            candidates = [ext]
        for index in candidates:
            header = hdul[index].header
            try:
                w = WCS(header, hdul)
            except Exception:
                continue
            if w.has_celestial and w.naxis == 2:
                out = _linear_part(w)
                n1, n2 = header.get("NAXIS1"), header.get("NAXIS2")
                if header.get("NAXIS", 0) == 2 and n1 and n2:
                    out.pixel_shape = (int(n1), int(n2))
                return out
        where = f"[{ext}]" if ext is not None else ""
        raise ValueError(f"reference image {name}{where} has no extension with a celestial WCS")


def output_frame(chips, params=None, step="final", **kwargs) -> WCS:
    """The output WCS of a drizzle step, as AstroDrizzle builds it.

    Parameters
    ----------
    chips : sequence of Exposure, Chip or astropy.wcs.WCS, or in-memory inputs
        Input chips in order (the first sets the default orientation); HDULists,
        NDData/CCDData, ``(array, wcs, exptime)`` and dicts are read as
        AstroDrizzle reads them (:func:`gpudrizzle.exposure.to_exposure`).
    params : gpudrizzle.params.Parameters, optional
        Resolved parameters; ``coeffs`` and the custom-frame parameters of
        ``step`` are used (overrides apply only when ``final_wcs`` /
        ``driz_sep_wcs`` is on, see
        :func:`gpudrizzle.params.custom_wcs_parameters`).
    step : {"final", "driz_sep"}
    **kwargs
        Parameter overrides as keyword arguments (e.g. ``final_rot=0``),
        which turn the custom frame on as in AstroDrizzle.

    Returns
    -------
    astropy.wcs.WCS
        Celestial 2-D WCS with ``array_shape`` (ny, nx) set.
    """
    if kwargs or not isinstance(params, Parameters):
        params = resolve_parameters(kwargs, base=params)
    pars = custom_wcs_parameters(params, step)
    chips = _flatten(_read_in_memory(chips, params))
    if pars["refimage"] not in ("", None):
        base = load_refimage(pars["refimage"])
        return merge_overrides(base, pars)
    return merge_overrides(default_frame(chips, coeffs=params["coeffs"]), pars)
