"""TweakReg: align exposures to each other or to a reference, drop-in for drizzlepac's.

``TweakReg(files, editpars=False, configobj=None, imagefindcfg=None,
refimagefindcfg=None, **input_dict)`` takes drizzlepac 3.11's parameters
(:mod:`gpudrizzle.tweakparams`) and does what drizzlepac's task does:

1. find sources in every chip of every input (:mod:`gpudrizzle.findstars`, on
   the backend), or read them from the ``catfile`` catalogs; exclusion
   regions and (with ``dqbits``) bad pixels are left out;
2. take each source through its chip's full WCS (SIP and lookup-table
   distortion) to the sky, then into the reference tangent plane: the
   undistorted default output frame of all the input chips (drizzlepac's
   ``utils.output_wcs``), or the WCS of ``refimage`` (for a distorted
   exposure: the undistorted frame of its first or named chip);
3. build the reference catalog: the sources of ``refimage``, of ``refcat``,
   or of the first input; with ``expand_refcat`` the unmatched sources of
   each aligned image are added to it, images that did not match are tried
   again once it has grown, and (with ``enforce_user_order=False``) the
   reference and the order follow the footprints' overlaps, as drizzlepac's;
4. per image: the first offset from the peak of the 2-D histogram of
   source offsets within ``searchrad`` (``use2dhist``), else ``xoffset`` /
   ``yoffset``; then tolerance matching (:mod:`gpudrizzle.matching`) and a
   ``shift`` / ``rscale`` / ``general`` fit with iterative sigma clipping
   (:mod:`gpudrizzle.linearfit`) about the reference frame's CRPIX;
5. when every image is aligned: catalogs, plots and the shift file are
   written (:mod:`gpudrizzle.tweakoutputs`), and with ``updatehdr`` the new
   WCS of every chip goes into the headers (:mod:`gpudrizzle.wcsupdate`: the
   old primary WCS archived as an alternate WCS, WCSNAME, RMS_RA, RMS_DEC,
   NMATCH, FITNAME), all files or none.

Unlike drizzlepac, a run that cannot align an image (too few sources, too
few matches, no overlap) raises :class:`TweakRegError` naming the images and
why, before any header is changed: drizzlepac renames such an image's
unaligned WCS to ``wcsname`` and returns normally.  ``run`` returns a
:class:`TweakRegResult` (drizzlepac returns None).

Files other than the inputs go to the current directory, as drizzlepac
writes them: ``<root>_sky_catalog.coo``, ``<root>_sci<n>_xy_catalog.coo``,
``<root>_xy_catalog.match``, ``<root>_catalog_fit.match``,
``<first root>_xy_catfile.list`` (``writecat`` without ``clean``),
``hist2d_<root>.png`` (``see2dplot``), ``residuals_<root>.png`` and
``vector_<root>.png`` (``residplot``; shown on screen instead with
``interactive``), ``cumulative_sky_refcat_<name>.coo`` (``expand_refcat``
with ``writecat``), ``outshifts`` and ``outwcs`` (``shiftfile``).
"""

import logging
import math
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from . import files
from .backends import get_backend
from .catalogs import brightest, read_columns
from .config import read_config_values
from .exposure import load_exposure
from .inputs import check_file, expand_input
from .outframe import _parse_refimage, default_frame, load_refimage
from .tweakoutputs import write_outputs
from .tweakparams import TWEAKREG_SECTIONS, TweakParameters, resolve_tweakreg

__all__ = ["TweakReg", "run", "TweakRegError", "TweakRegResult", "ImageAlignment"]

log = logging.getLogger(__name__)

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: WCSTYPE drizzlepac gives the reference image, whose WCS is renamed but not changed
_REFERENCE_WCSTYPE = "not aligned: reference"


class TweakRegError(RuntimeError):
    """Some images could not be aligned; no header was changed.

    Attributes
    ----------
    failures : dict
        ``file name -> reason``.
    """

    def __init__(self, failures):
        self.failures = dict(failures)
        lines = [f"  {name}: {why}" for name, why in self.failures.items()]
        super().__init__("TweakReg could not align every image (no header was changed):\n"
                         + "\n".join(lines))


@dataclass
class ChipCatalog:
    """The sources of one chip.

    Attributes
    ----------
    label : str
        ``file.fits[SCI,1]``.
    extver : int
    wcs : astropy.wcs.WCS
        The chip's full WCS (with distortion).
    xy : numpy.ndarray, shape (n, 2), float64
        0-based pixel positions.
    flux : numpy.ndarray, shape (n,), float64
    radec : numpy.ndarray, shape (n, 2), float64
        Sky positions (degrees) through the full WCS.
    source : str
        Where the sources came from: the chip label or a catalog file.
    """

    label: str
    extver: int
    wcs: object
    xy: np.ndarray
    flux: np.ndarray
    radec: np.ndarray
    source: str


@dataclass
class ImageAlignment:
    """What TweakReg found for one input image.

    Attributes
    ----------
    filename, rootname : str
    chips : list of ChipCatalog
    is_reference : bool
        The image whose sources are the reference catalog (no fit).
    offset : (float, float) or None
        First guess of the offset (reference pixels) before matching.
    nmatch : int
        Matched sources (before clipping).
    fit : gpudrizzle.linearfit.LinearFit or None
        The fit in the reference tangent plane (None for the reference).
    rms_ra, rms_dec : float
        The fit's rms (degrees), as drizzlepac's RMS_RA / RMS_DEC.
    updated : bool
        Its headers were updated.
    """

    filename: str
    rootname: str
    chips: list
    is_reference: bool = False
    offset: tuple = None
    nmatch: int = 0
    fit: object = None
    rms_ra: float = 0.0
    rms_dec: float = 0.0
    updated: bool = False
    matches: tuple = field(default=None, repr=False)
    outxy: np.ndarray = field(default=None, repr=False)
    histogram: tuple = field(default=None, repr=False)
    answer: str = ""

    @property
    def nsources(self):
        """Sources in all chips."""
        return sum(len(c.flux) for c in self.chips)

    @property
    def radec(self):
        """(n, 2) sky positions of all chips' sources, chip by chip."""
        return np.vstack([c.radec for c in self.chips]) if self.chips else np.empty((0, 2))

    @property
    def flux(self):
        """(n,) fluxes of all chips' sources, chip by chip."""
        return np.concatenate([c.flux for c in self.chips]) if self.chips else np.empty(0)

    @property
    def xy(self):
        """(n, 2) 0-based chip pixel positions of all chips' sources, chip by chip."""
        return np.vstack([c.xy for c in self.chips]) if self.chips else np.empty((0, 2))

    @property
    def extver(self):
        """(n,) int64 EXTVER of the chip of each source."""
        return np.concatenate([np.full(len(c.flux), c.extver, np.int64) for c in self.chips])

    @property
    def origins(self):
        """Where each source came from (its chip's label or catalog file)."""
        return [c.source for c in self.chips for _ in range(len(c.flux))]


@dataclass
class TweakRegResult:
    """The outcome of a TweakReg run.

    Attributes
    ----------
    images : list of ImageAlignment
        In input order.
    reference_wcs : astropy.wcs.WCS
        The tangent plane of the fits.
    reference_name : str
        Image or catalog the reference sources came from.
    written : list of str
        Files written (catalogs, plots, shift file), input headers not included.
    timings : dict
        Seconds per stage (``find``, ``match``, ``write``).
    """

    images: list
    reference_wcs: object
    reference_name: str
    written: list
    timings: dict

    def table(self):
        """One line per image: name, sources, matches, shift, rotation, scale, rms."""
        head = (f"{'image':<28} {'nsrc':>6} {'nmatch':>6} {'xsh':>9} {'ysh':>9} {'rot':>11} "
                f"{'scale':>10} {'xrms':>7} {'yrms':>7}")
        lines = [head]
        for im in self.images:
            if im.fit is None:
                lines.append(f"{os.path.basename(im.filename):<28} {im.nsources:>6} "
                             f"{'ref':>6}")
                continue
            f = im.fit
            lines.append(f"{os.path.basename(im.filename):<28} {im.nsources:>6} {f.nmatch:>6} "
                         f"{f.shift[0]:>9.4f} {f.shift[1]:>9.4f} {f.rotation:>11.6f} "
                         f"{f.scale:>10.7f} {f.rms[0]:>7.3f} {f.rms[1]:>7.3f}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# parameters


def _is_path(value):
    return isinstance(value, (str, os.PathLike))


def _flat_mapping(value, what):
    """Scalars of a mapping, its sections merged (drizzlepac's configobj has sections)."""
    flat = {}
    for k, v in value.items():
        if str(k).startswith("_") or k in _FIND_SECTIONS:
            continue
        if hasattr(v, "items"):
            if str(k).strip() not in _TASK_SECTIONS:
                raise ValueError(f"{what}: unknown section [{k}]")
            flat.update({kk: vv for kk, vv in v.items() if not str(kk).startswith("_")})
        else:
            flat[k] = v
    return flat


def _cfg_values(value, tasks, what):
    """(values, source) of a ``.cfg`` path or a mapping."""
    if value is None:
        return {}, "default"
    if _is_path(value):
        path = os.fspath(value)
        try:
            return read_config_values(path, tasks), f".cfg {path}"
        except (OSError, ValueError) as exc:
            raise type(exc)(f"{what}: {exc}") from None
    if hasattr(value, "items"):
        return _flat_mapping(value, what), "configobj"
    raise TypeError(f"{what} must be a .cfg file name or a mapping; got {type(value).__name__}")


#: Sections of drizzlepac's merged TweakReg configobj that hold imagefindpars and
#: refimagefindpars (with and without drizzlepac's underscores).
_FIND_SECTIONS = ("_SOURCE FINDING PARS_", "SOURCE FINDING PARS",
                  "_REF IMAGE SOURCE FINDING PARS_", "REF IMAGE SOURCE FINDING PARS")
_TASK_SECTIONS = tuple(s for s in TWEAKREG_SECTIONS if s)


def _split_configobj(configobj):
    """Task values and the two source-finding sections of a configobj mapping or file."""
    values, source = _cfg_values(configobj, ("tweakreg",), "configobj")
    find, ref = {}, {}
    if hasattr(configobj, "items"):
        for name in _FIND_SECTIONS:
            section = dict(configobj.get(name) or {})
            (ref if "REF" in name else find).update(
                {k: v for k, v in section.items() if not str(k).startswith("_")})
    return values, source, find, ref


def _find_set(value, tasks, what):
    """(user mapping, file values, source) of an ``imagefindcfg``-like argument."""
    if value is None or _is_path(value):
        values, source = _cfg_values(value, tasks, what)
        return {}, values, source
    return _cfg_values(value, tasks, what)[0], {}, "configobj"


def _parameters(configobj, imagefindcfg, refimagefindcfg, user):
    """The three parameter sets of a run (see :func:`gpudrizzle.tweakparams.resolve_tweakreg`)."""
    base, base_source, cfg_find, cfg_ref = _split_configobj(configobj)
    find_user, find_file, find_source = _find_set(
        imagefindcfg, ("imagefindpars", "refimagefindpars"), "imagefindcfg")
    ref_user, ref_file, ref_source = _find_set(
        refimagefindcfg, ("refimagefindpars", "imagefindpars"), "refimagefindcfg")
    return resolve_tweakreg(user, base, base_source=base_source, imagefind=find_user,
                            imagefind_base={**cfg_find, **find_file}, refimagefind=ref_user,
                            refimagefind_base={**cfg_ref, **ref_file},
                            imagefind_source=find_source, refimagefind_source=ref_source)


# ---------------------------------------------------------------------------
# inputs


def _parse_list_file(path, what):
    """``{file: [names]}`` of an @list or catfile (the first column, then the rest)."""
    check_file(path, what)
    rows = {}
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            words = line.split("#", 1)[0].replace(",", " ").split()
            if not words:
                continue
            name = words[0]
            if name in rows:
                raise ValueError(f"{what} {path}, line {lineno}: {name} is listed twice")
            rows[name] = [None if w.upper() in ("NONE", "INDEF") else
                          (w if os.path.isabs(w) else os.path.join(base, w)) for w in words[1:]]
    if not rows:
        raise ValueError(f"{what} {path} lists no files")
    return rows


def _input_files(task):
    """(files, {real path: catalogs}) from the ``input`` parameter (catalogs of an @list)."""
    spec = task.input
    if isinstance(spec, str) and spec.startswith("@"):
        rows = _parse_list_file(spec[1:], "input list")
        base = os.path.dirname(os.path.abspath(spec[1:]))
        names = [n if os.path.isabs(n) else os.path.join(base, n) for n in rows]
        for n in names:
            check_file(n, "input file", spec[1:])
        return names, {os.path.realpath(n): (cats or None) for n, cats in zip(names, rows.values())}
    if not spec:
        raise ValueError("'input' names no files")
    files_ = list(expand_input(spec).files)  # wildcards and comma lists sorted, lists as given
    return files_, {}


def _by_basename(rows, files_, what):
    """``rows`` keyed by the real path of the file of ``files_`` with the same base name."""
    out = {}
    for name, value in rows.items():
        match = [f for f in files_ if os.path.basename(f) == os.path.basename(name)]
        if not match:
            raise ValueError(f"{what} names {name}, which is not an input")
        out[os.path.realpath(match[0])] = value
    return out


def _check_updatable(files_, wcsname, reusename):
    """Refuse, before any work, inputs that cannot be updated or already hold ``wcsname``."""
    from .wcsupdate import check_updatable, check_wcsname

    for f in files_:
        try:
            check_updatable(f)
        except (OSError, ValueError) as exc:
            raise type(exc)(f"updatehdr=True: {exc}") from None
        check_wcsname(f, wcsname, reusename)


# ---------------------------------------------------------------------------
# source catalogs


def _exclusion_masks(chips, regions):
    """(ny, nx) bool masks of excluded pixels per chip (None: nothing excluded)."""
    from .regions import excluded_mask

    regions = regions or {}
    return [None if regions.get(c.chip) is None else
            excluded_mask(regions[c.chip], c.sci.shape, wcs=c.wcs) for c in chips]


def _found_sources(chip, find, backend, mask):
    from .findstars import find_sources

    dq = chip.dq if find.dqbits is not None else None
    cat = find_sources(np.asarray(chip.sci, dtype=np.float32), backend=backend, dq=dq,
                       mask=mask, **find)
    log.debug("%s: sky sigma %.4g, detection threshold %.4g (convolved units)", chip.label,
              cat.skysigma, cat.threshold)
    xy = np.column_stack([cat.x, cat.y]).astype(np.float64)
    return xy, np.asarray(cat.flux, dtype=np.float64)


def _selected(flux, lo, hi, nbright, units):
    """Indices of the catalog rows kept by flux limits and ``nbright``, brightest first."""
    keep = np.ones(len(flux), bool)
    if lo is not None:
        keep &= flux >= lo
    if hi is not None:
        keep &= flux <= hi
    rows = np.flatnonzero(keep)
    return rows[brightest(flux[rows], nbright, units == "mag")]


def _catalog_sources(path, chip, task):
    if path is None:
        raise ValueError(f"catfile gives no catalog for {chip.label}")
    cols = [task.xcol, task.ycol] + ([task.fluxcol] if task.fluxcol else [])
    values = read_columns(path, cols, "source catalog")
    if task.xyunits == "degrees":
        xy = np.column_stack(chip.wcs.all_world2pix(values[0], values[1], 0))
    else:
        xy = np.column_stack([values[0] - 1.0, values[1] - 1.0])  # catalogs are 1-based
    flux = values[2] if task.fluxcol else np.full(len(xy), 999.0)
    rows = _selected(flux, task.minflux, task.maxflux, task.nbright, task.fluxunits)
    return xy[rows], flux[rows]


def _image_catalog(filename, task, find, backend, catalogs, regions):
    """(ImageAlignment with every chip's sources, the Exposure) of one input file."""
    exposure = load_exposure(filename, check_flags=False)
    if catalogs is not None and len(catalogs) != len(exposure.chips):
        raise ValueError(f"catfile gives {len(catalogs)} catalog(s) for {filename}, which has "
                         f"{len(exposure.chips)} chip(s)")
    return _catalog_of(exposure, exposure.chips, task, find, backend, catalogs, regions), exposure


def _catalog_of(exposure, chips, task, find, backend, catalogs, regions):
    masks = _exclusion_masks(chips, regions)
    out = []
    for k, chip in enumerate(chips):
        if catalogs is not None:
            xy, flux = _catalog_sources(catalogs[k], chip, task)
            source = catalogs[k]
        else:
            xy, flux = _found_sources(chip, find, backend, masks[k])
            source = chip.label
        if len(xy):
            ra, dec = chip.wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)
            radec = np.column_stack([ra, dec])
        else:
            radec = np.empty((0, 2))
        out.append(ChipCatalog(chip.label, chip.chip, chip.wcs, xy, flux, radec, source))
        log.info("%s: %d sources", chip.label, len(xy))
    return ImageAlignment(exposure.filename, exposure.rootname, out)


# ---------------------------------------------------------------------------
# the reference


@dataclass
class _Reference:
    name: str
    wcs: object
    radec: np.ndarray
    flux: np.ndarray
    origin: list
    orig_xy: np.ndarray
    footprints: list = field(default_factory=list)
    dirty: bool = False

    def xy(self):
        """1-based positions in the reference tangent plane."""
        if not len(self.radec):
            return np.empty((0, 2))
        return np.column_stack(self.wcs.wcs_world2pix(self.radec[:, 0], self.radec[:, 1], 1))


def _is_distorted(wcs):
    return wcs.sip is not None or wcs.cpdis1 is not None or wcs.cpdis2 is not None or \
        wcs.det2im1 is not None or wcs.det2im2 is not None


def _refcat(task, wcs):
    """The :class:`_Reference` of ``refcat``; ``refxyunits='pixels'`` are 1-based pixels of
    ``wcs`` (the reference frame)."""
    cols = [task.refxcol, task.refycol] + ([task.rfluxcol] if task.rfluxcol else [])
    values = read_columns(task.refcat, cols, "reference catalog")
    if task.refxyunits == "pixels":
        ra, dec = wcs.all_pix2world(values[0], values[1], 1)
    else:
        ra, dec = values[0], values[1]
    flux = values[2] if task.rfluxcol else np.full(len(ra), 999.0)
    finite = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    rows = finite[_selected(flux[finite], task.rminflux, task.rmaxflux, task.refnbright,
                            task.rfluxunits)]
    if not len(rows):
        raise ValueError(f"reference catalog {task.refcat} has no source left after the flux "
                         f"limits (rminflux={task.rminflux}, rmaxflux={task.rmaxflux})")
    radec = np.column_stack([ra, dec])[rows]
    return _Reference(task.refcat, wcs, radec, flux[rows], [task.refcat] * len(rows),
                      radec.copy())


def _reference_image(task, reffind, backend, regions):
    """The :class:`_Reference` of a given ``refimage``: its frame, its or refcat's sources.

    As drizzlepac: a drizzled (undistorted) image's WCS is the frame; a distorted exposure's
    first chip, or the one named (``file.fits[sci,2]``), defines an undistorted frame; with
    an extension only that chip's sources are used."""
    spec = task.refimage
    path, ext = _parse_refimage(spec)
    check_file(path, "refimage")
    exposure = load_exposure(path, check_flags=False)
    chips = list(exposure.chips)
    if ext is not None:
        chips = [c for c in chips if _is_extension(c, ext)]
        if not chips:
            raise ValueError(f"refimage {spec}: no science extension {ext}")
    wcs = default_frame(chips[:1]) if _is_distorted(chips[0].wcs) else load_refimage(spec)
    if task.refcat:
        return _refcat(task, wcs)
    ref = _catalog_of(exposure, chips, task, reffind, backend, None, regions)
    if ref.nsources == 0:
        raise TweakRegError({spec: "no sources found in the reference image"})
    return _Reference(spec, wcs, ref.radec, ref.flux, ref.origins, ref.xy + 1.0,
                      _footprints(ref, wcs))


def _is_extension(chip, ext):
    """Whether ``chip`` is the HDU named by a parsed ``[ext]`` (a number or (name, ver))."""
    if isinstance(ext, tuple):
        return ext[0] in ("SCI", "PRIMARY") and chip.chip == ext[1]
    return chip.label.endswith(f"[{ext}]") or chip.chip == ext


# ---------------------------------------------------------------------------
# overlap of footprints in the reference plane


def _clip(subject, clipper):
    """Intersection of two convex polygons ((n, 2) counter-clockwise vertices)."""
    out = subject
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        if not len(out):
            break
        inp, out = out, []
        side = lambda p: (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])  # noqa: E731
        for j in range(len(inp)):
            p, q = inp[j], inp[(j + 1) % len(inp)]
            sp, sq = side(p), side(q)
            if sp >= 0:
                out.append(p)
            if sp * sq < 0:
                t = sp / (sp - sq)
                out.append(p + t * (q - p))
        out = np.array(out) if out else np.empty((0, 2))
    return out


def _area(poly):
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _footprints(image, wcs):
    """Counter-clockwise chip outlines of an image in the reference plane."""
    out = []
    for c in image.chips:
        ny, nx = c.wcs.array_shape
        x = np.array([0.0, nx - 1.0, nx - 1.0, 0.0])
        y = np.array([0.0, 0.0, ny - 1.0, ny - 1.0])
        ra, dec = c.wcs.all_pix2world(x, y, 0)
        p = np.column_stack(wcs.wcs_world2pix(ra, dec, 0))
        out.append(p if _area(p) > 0 else p[::-1])
    return out


def _overlap(a, b):
    return sum(_area(_clip(p, q)) for p in a for q in b)


# ---------------------------------------------------------------------------
# matching and fitting


def _search_radius(task, wcs):
    if task.searchunits == "pixels":
        return task.searchrad
    scale = 3600.0 * math.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))
    return task.searchrad / scale


def _match(image, reference, task):
    """Match an image's sources to the reference catalog; the reason it failed or None."""
    from .matching import histogram_offset, match_xy, offset_histogram_image

    image.outxy = np.column_stack(reference.wcs.wcs_world2pix(image.radec[:, 0],
                                                              image.radec[:, 1], 1)) \
        if image.nsources else np.empty((0, 2))
    refxy = reference.xy()
    if image.nsources < task.minobj:
        return f"{image.nsources} sources found, fewer than minobj={task.minobj}"
    if task.use2dhist:
        histogram = offset_histogram_image(image.outxy, refxy, _search_radius(task, reference.wcs))
        peak = histogram_offset(*histogram)
        if task.see2dplot:
            image.histogram = histogram
        if peak is None:  # as drizzlepac: warn and match with no offset
            log.warning("%s: no peak in the histogram of offsets within searchrad=%s %s; "
                        "matching with a zero offset", image.filename, task.searchrad,
                        task.searchunits)
            offset = (0.0, 0.0)
        else:
            offset = (float(peak.dx), float(peak.dy))
    else:
        offset = (task.xoffset, task.yoffset)
    image.offset = offset
    log.debug("%s: first offset (%.3f, %.3f) reference pixels (%s)", image.filename, *offset,
              "2-D histogram" if task.use2dhist else "xoffset/yoffset")
    idx, refidx = match_xy(image.outxy, refxy, tolerance=task.tolerance,
                           separation=task.separation, xoffset=offset[0], yoffset=offset[1])
    image.nmatch = len(idx)
    if len(idx) < task.minobj:
        return (f"{len(idx)} sources matched within tolerance={task.tolerance} px of the "
                f"reference, fewer than minobj={task.minobj}")
    image.matches = (idx, refidx)
    return None


def _fit(image, reference, task):
    from .linearfit import fit_xy

    idx, refidx = image.matches
    refxy = reference.xy()
    center = np.asarray(reference.wcs.wcs.crpix, dtype=np.float64)
    try:
        image.fit = fit_xy(image.outxy[idx], refxy[refidx], task.fitgeometry, nclip=task.nclip,
                           sigma=task.sigma, center=center)
    except ValueError as exc:
        return f"the {task.fitgeometry} fit failed: {exc}"
    crval_rms = reference.wcs.wcs_pix2world([center + np.asarray(image.fit.rms[:2])], 1)[0]
    image.rms_ra, image.rms_dec = (float(v) for v in np.abs(crval_rms - reference.wcs.wcs.crval))
    return None


def _expand(reference, image):
    """Add the image's unmatched sources, corrected by its fit, to the reference catalog."""
    idx = image.matches[0]
    rest = np.setdiff1d(np.arange(image.nsources), idx)
    if not len(rest):
        return
    xy = image.fit.to_reference(image.outxy[rest])
    ra, dec = reference.wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 1)
    reference.radec = np.vstack([reference.radec, np.column_stack([ra, dec])])
    reference.flux = np.concatenate([reference.flux, image.flux[rest]])
    origins = image.origins
    reference.origin += [origins[k] for k in rest]
    reference.orig_xy = np.vstack([reference.orig_xy, image.xy[rest] + 1.0])
    reference.dirty = True


def _by_overlap(task):
    """drizzlepac orders images by overlap only with a growing reference catalog."""
    return task.expand_refcat and not task.enforce_user_order


def _order(images, reference, task):
    """Next image to align: the first, or the one overlapping the reference most."""
    if not _by_overlap(task) or len(images) < 2:
        return 0
    ref_poly = [np.asarray(p) for p in reference.footprints]
    scores = [_overlap(_footprints(im, reference.wcs), ref_poly) for im in images]
    return int(np.argmax(scores))


def _align_all(pending, reference, task):
    """Match and fit every pending image; {filename: reason} of those that failed."""
    failures = {}
    retry = []
    while pending:
        image = pending.pop(_order(pending, reference, task))
        why = _match(image, reference, task) or _fit(image, reference, task)
        if why is not None:
            failures[image.filename] = why
            retry.append(image)
        else:
            failures.pop(image.filename, None)
            log.info("%s: %d matches, %s fit: shift (%.4f, %.4f) rot %.6f scale %.7f "
                     "rms (%.3f, %.3f) px from %d sources", image.filename, image.nmatch,
                     task.fitgeometry, image.fit.shift[0], image.fit.shift[1],
                     image.fit.rotation, image.fit.scale, image.fit.rms[0], image.fit.rms[1],
                     image.fit.nmatch)
            if task.expand_refcat:
                _expand(reference, image)
                reference.footprints += _footprints(image, reference.wcs)
        if not pending and retry and reference.dirty:
            pending, retry, reference.dirty = retry, [], False
    return failures


def _update_headers(images, reference, task):
    """Write each image's corrected WCS (the reference's own, renamed) into its headers, all
    files or none (:func:`gpudrizzle.wcsupdate.update_files`)."""
    from .wcsupdate import corrected_linear_wcs, from_drizzlepac_fit, update_files

    items = []
    for image in images:
        if image.fit is None:
            updates = {("SCI", c.extver): (np.array(c.wcs.wcs.crval), c.wcs.pixel_scale_matrix)
                       for c in image.chips}
            items.append((image.filename, updates, None, _REFERENCE_WCSTYPE))
            continue
        m, d = from_drizzlepac_fit(image.fit.matrix, *image.fit.shift)
        updates = {("SCI", c.extver): corrected_linear_wcs(c.wcs, reference.wcs, m, d)
                   for c in image.chips}
        keywords = {"RMS_RA": image.rms_ra, "RMS_DEC": image.rms_dec,
                    "NMATCH": int(image.fit.nmatch)}
        items.append((image.filename, updates, keywords, None))
    update_files(items, wcsname=task.wcsname, reusename=task.reusename)
    for image in images:
        image.updated = True


# ---------------------------------------------------------------------------
# the task


def run(configobj) -> TweakRegResult:
    """Run TweakReg with a complete parameter set.

    Parameters
    ----------
    configobj : mapping or str
        Task parameters (a mapping such as drizzlepac's configobj, with the
        source-finding sets as its ``_SOURCE FINDING PARS_`` and ``_REF IMAGE
        SOURCE FINDING PARS_`` sections) or a ``tweakreg.cfg`` file.

    Returns
    -------
    TweakRegResult
    """
    task, find, reffind = _parameters(configobj, None, None, {})
    return _run(task, find, reffind)


def TweakReg(files=None, editpars=False, configobj=None, imagefindcfg=None,
             refimagefindcfg=None, **input_dict) -> TweakRegResult:
    """Align images with drizzlepac 3.11 TweakReg's parameters (see the module docstring).

    Parameters
    ----------
    files : str or list of str, optional
        The ``input`` parameter: file names, wildcards, a comma list or an
        ``@list`` (with, per line, the catalogs of each chip after the file).
    editpars : bool
        drizzlepac opens its parameter editor; gpudrizzle has none and
        refuses True.
    configobj : str or mapping, optional
        A ``tweakreg.cfg`` file or a mapping of task parameters.
    imagefindcfg, refimagefindcfg : str or mapping, optional
        Source-finding parameters for the images to align and for the
        reference image (an ``imagefindpars.cfg`` file or a mapping).
    **input_dict
        Task parameters; source-finding parameters given here apply to the
        images to align (as in drizzlepac).

    Returns
    -------
    TweakRegResult

    Raises
    ------
    ValueError
        Bad parameter (named), existing ``wcsname`` without ``reusename``.
    OSError
        Missing or unreadable input, catalog, region or reference file.
    TweakRegError
        Images that could not be aligned (no header changed).
    """
    if editpars:
        raise ValueError("editpars=True opens drizzlepac's TEAL editor, which gpudrizzle does "
                         "not have; pass the parameters as keywords or a .cfg file")
    if files is not None:
        if "input" in input_dict:
            raise ValueError("give the input files either as 'files' or as 'input', not both")
        input_dict["input"] = files
    elif configobj is None and "input" not in input_dict:
        raise TypeError("TweakReg() needs either 'files' or 'configobj'")
    task, find, reffind = _parameters(configobj, imagefindcfg, refimagefindcfg, input_dict)
    return _run(task, find, reffind)


def _runfile(runfile, level):
    """The run's log (appended to, as drizzlepac's), or nothing without a ``runfile``."""
    if not runfile:
        return nullcontext()
    return files.LogFile(runfile, log, level, _LOG_FORMAT, append=True, kind="log file")


@contextmanager
def _verbosity(verbose):
    """``verbose``: the run's DEBUG records (per-chip statistics, offsets) are logged too."""
    old = log.level
    if verbose:
        log.setLevel(logging.DEBUG)
    try:
        yield logging.DEBUG if verbose else logging.INFO
    finally:
        log.setLevel(old)


def _log_parameters(task, find, reffind):
    for what, pars in (("TweakReg", task), ("imagefindpars", find),
                       ("refimagefindpars", reffind)):
        given = {k: v for k, v in pars.items() if pars.sources[k] != "default"}
        log.info("%s parameters given (by the user or a file): %s", what, given or "none")


def _check_plotting(task):
    """Plots need matplotlib: say so before the work, not after it."""
    if task.residplot == "No plot" and not (task.use2dhist and task.see2dplot):
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("TweakReg's plots (residplot, see2dplot) need matplotlib, which is "
                          "not installed: pip install matplotlib, or pass residplot='No plot' "
                          "and see2dplot=False") from None


def _can_prompt():
    """Whether ``input()`` can ask someone: a terminal, or a Jupyter kernel."""
    stdin = sys.stdin
    return stdin is not None and (stdin.isatty() or "ipykernel" in sys.modules)


def _run(task, find, reffind):
    """The run itself: validate, find, match and fit, then write."""
    if task.interactive and not _can_prompt():
        log.warning("interactive=True but no terminal to ask: plots are written as PNG files "
                    "and headers updated without asking (pass interactive=False to silence this)")
        task = TweakParameters({**task, "interactive": False}, task.sources)
    filenames, catalogs = _input_files(task)
    if task.catfile:
        rows = _by_basename(_parse_list_file(task.catfile, "catfile"), filenames, "catfile")
        catalogs = {**rows, **{k: v for k, v in catalogs.items() if v}}
    regions = {}
    if task.exclusions:
        from .regions import read_exclusions

        regions = _by_basename(read_exclusions(task.exclusions),
                               filenames + ([task.refimage.split("[")[0]] if task.refimage
                                            else []), "exclusions file")
    if task.updatehdr:
        _check_updatable(filenames, task.wcsname, task.reusename)
    _check_plotting(task)
    backend = get_backend(task.backend)
    with files.handle_signals(), _verbosity(task.verbose) as level, \
            _runfile(task.runfile, level):
        log.info("TweakReg (gpudrizzle) on %d image(s), backend %s", len(filenames),
                 backend.name)
        _log_parameters(task, find, reffind)
        t0 = time.perf_counter()
        images, chips = [], []
        for f in filenames:
            key = os.path.realpath(f)
            image, exposure = _image_catalog(f, task, find, backend, catalogs.get(key),
                                             regions.get(key))
            images.append(image)
            chips += list(exposure.chips)
        t_find = time.perf_counter() - t0
        reference, pending = _choose_reference(task, reffind, backend, images, chips, regions)
        t1 = time.perf_counter()
        failures = _align_all(pending, reference, task)
        if failures:
            raise TweakRegError(failures)
        t_match = time.perf_counter() - t1
        result = TweakRegResult(images, reference.wcs, reference.name, [], {})
        t2 = time.perf_counter()
        result.written = write_outputs(result.images, reference, task)
        if task.updatehdr:
            if any(im.answer == "q" for im in images):
                log.warning("quit at the prompt: no header was updated")
            else:
                _update_headers([im for im in images if im.answer != "n"], reference, task)
        result.timings = {"find": t_find, "match": t_match, "write": time.perf_counter() - t2}
        log.info("\n%s", result.table())
        return result


def _choose_reference(task, reffind, backend, images, chips, regions):
    """The reference catalog and frame, and the images to align against it, in order."""
    if task.refimage:
        ref_path = os.path.realpath(task.refimage.split("[", 1)[0])
        reference = _reference_image(task, reffind, backend, regions.get(ref_path))
        pending = []
        for im in images:
            if os.path.realpath(im.filename) == ref_path:
                im.is_reference = True
            else:
                pending.append(im)
        return reference, pending
    wcs = default_frame(chips)
    if task.refcat:
        return _refcat(task, wcs), list(images)
    if len(images) < 2:
        raise ValueError("TweakReg needs at least two images to align to each other, or a "
                         "refimage or refcat")
    first = 0
    if _by_overlap(task) and len(images) > 2:
        # drizzlepac's pair of largest overlap; its image overlapping all others more is
        # the reference
        polys = [_footprints(im, wcs) for im in images]
        m = np.array([[_overlap(polys[i], polys[j]) if i != j else 0.0
                       for j in range(len(images))] for i in range(len(images))])
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        first = int(i if m[i].sum() >= m[:, j].sum() else j)
    ref_image = images[first]
    ref_image.is_reference = True
    if ref_image.nsources == 0:
        raise TweakRegError({ref_image.filename: "no sources found in the reference image"})
    reference = _Reference(ref_image.filename, wcs, ref_image.radec, ref_image.flux,
                           ref_image.origins, ref_image.xy + 1.0,
                           _footprints(ref_image, wcs))
    return reference, [im for im in images if im is not ref_image]
