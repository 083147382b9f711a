"""Writing AstroDrizzle's products: names, layout, headers, atomic replacement.

Layout (drizzlepac 3.11 ``outputimage.OutputImage``)
----------------------------------------------------
* ``build=False`` (the default): ``<out>_drz_sci.fits``,
  ``<out>_drz_wht.fits``, ``<out>_drz_ctx.fits`` and, gpudrizzle's
  addition, ``<out>_drz_err.fits``; each a primary HDU holding the image,
  the drizzle keywords and the output WCS.
* ``build=True``: one ``<out>_drz.fits`` with PRIMARY (keywords, no data),
  SCI, WHT, CTX, ERR (EXTVER 1, each with the output WCS) and HDRTAB (one row
  per input chip with the keywords that describe it).
* ``_drc`` replaces ``_drz`` for ``_flc`` inputs (:mod:`gpudrizzle.inputs`).

Primary keywords: the first input's primary header (structural keywords
removed) updated with ROOTNAME, FILENAME, NEXTEND, PROD_VER, DRIZPARS,
ASN_MTYP, NDRIZIM (number of chips drizzled), EXPTIME/TEXPTIME (sum of the
exposure times), EXPSTART (earliest), EXPEND (latest) and one ``D###`` record
per drizzled chip as drizzlepac's ``addDrizKeywords`` writes it (VER, GEOM,
DATA, DEXP, OUDA, OUWE, OUCO, MASK, WTSC, KERN, PIXF, COEF, OUUN, FVAL, WKEY,
SCAL, ISCL).

SCI header (drizzlepac's order where practical): EXTNAME/EXTVER, the WCS
in CD form (CD1_1..CD2_2, CRVAL, CRPIX, CTYPE) and ORIENTAT of the output
frame, BUNIT, the photometric keywords (:data:`PHOTOMETRY_KEYWORDS`,
combined over the inputs as drizzlepac's header rules combine them),
MDRIZSKY (mean over the chips), NDRIZIM and the ``D###`` records.  WHT, CTX
and ERR carry the same WCS.  There is no parameter asking for the PC+CDELT
form, so it is never written.  D###MASK is '' (gpudrizzle writes no weight
mask files).

HDRTAB: one row per drizzled chip; ROOTNAME, EXTNAME, EXTVER, gpudrizzle's
records (MDRIZSKY, GAIN, RDNOISE, ...), then one column per keyword found in
any chip's primary or SCI header (commentary cards and checksums left out;
the primary's value where both have one, as drizzlepac), typed to
hold every row, with False/0/NaN/blank where a chip's headers lack it.

File names go into the headers ASCII-safe (:func:`ascii_name`): FITS
headers hold ASCII only.

Every file is written by :mod:`gpudrizzle.files`: to a temporary file in its
target directory, published with a rename, so a reader never sees a partial
product and a failure leaves no file behind.  The final products of a run
are published together, once all of them are written.  An existing product
is replaced only with ``overwrite=True``; otherwise :class:`FileExistsError`
names it (also when a concurrent run created it first).
"""

import logging
import os
import re
import time
import warnings
from typing import Any, NamedTuple, Optional

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning

from . import files, fitswriter
from .outframe import orientation

log = logging.getLogger("gpudrizzle")

__all__ = ["ChipRecord", "product_names", "intermediate_names", "crmask_name", "check_writable", "check_targets",
           "write_fits", "ascii_name", "primary_header", "image_header", "hdrtab", "write_final",
           "write_image", "software_version", "DRIZ_KEYWORD_COMMENTS", "PHOTOMETRY_KEYWORDS",
           "photometry", "science_keywords", "final_hdulist"]

#: Comments of the D### keywords (drizzlepac ``outputimage.DRIZ_KEYWORDS``), in order.
DRIZ_KEYWORD_COMMENTS = {
    "VER": "Drizzle, task version",
    "GEOM": "Drizzle, source of geometric information",
    "DATA": "Drizzle, input data image",
    "DEXP": "Drizzle, input image exposure time (s)",
    "OUDA": "Drizzle, output data image",
    "OUWE": "Drizzle, output weighting image",
    "OUCO": "Drizzle, output context image",
    "MASK": "Drizzle, input weighting image",
    "WTSC": "Drizzle, weighting factor for input image",
    "KERN": "Drizzle, form of weight distribution kernel",
    "PIXF": "Drizzle, linear size of drop",
    "COEF": "Drizzle, source of coefficients",
    "OUUN": "Drizzle, units of output image - counts or cps",
    "FVAL": "Drizzle, fill value for zero weight output pix",
    "WKEY": "Input image WCS Version used",
    "SCAL": "Drizzle, pixel size (arcsec) of output image",
    "ISCL": "Drizzle, default IDCTAB pixel size(arcsec)",
}

# Keywords of an input primary header that describe its own layout, not the product.
_STRUCTURAL = ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "NEXTEND",
               "GROUPS", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "CHECKSUM", "DATASUM")

#: Photometric keywords (fitsblender's ACS/WFC3 header rules, as drizzlepac 3.11 blends
#: them): keyword -> (how the inputs' values combine, comment).  Each chip's value
#: is read from its SCI header, else its exposure's primary header.
PHOTOMETRY_KEYWORDS = {
    "PHOTMODE": ("first", "observation configuration for photometry"),
    "PHOTFLAM": ("mean", "inverse sensitivity, ergs/cm2/Ang/electron"),
    "PHOTFNU": ("mean", "inverse sensitivity, Jy*sec/electron"),
    "PHOTZPT": ("mean", "ST magnitude zero point"),
    "PHOTPLAM": ("mean", "Pivot wavelength (Angstroms)"),
    "PHOTBW": ("mean", "RMS bandwidth of filter plus detector"),
}

# A D### drizzle-parameter record keyword (D001VER, D001DATA, ...).
_DRIZ_RECORD = re.compile(r"D\d{3}[A-Z]{3,4}")
# ... and any record number (HIERARCH D1000VER and beyond)
_DRIZ_KEYWORD = re.compile(r"D\d{3,}[A-Z]{3,4}")

# Keywords never copied into HDRTAB: commentary cards and the inputs' checksums (drizzlepac's
# HDRTAB keeps even the HDU layout keywords, SIMPLE, BITPIX, NAXIS*, XTENSION, ...).
_HDRTAB_EXCLUDED = ("COMMENT", "HISTORY", "", "CHECKSUM", "DATASUM")

# HDRTAB columns gpudrizzle fills from its records: keyword -> FITS column format.
_HDRTAB_KEYWORDS = (("ROOTNAME", "A32"), ("FILENAME", "A128"), ("EXTNAME", "A8"), ("EXTVER", "J"),
                    ("INSTRUME", "A16"), ("DETECTOR", "A16"), ("EXPTIME", "D"),
                    ("EXPSTART", "D"), ("EXPEND", "D"), ("MDRIZSKY", "D"), ("BUNIT", "A24"),
                    ("GAIN", "D"), ("RDNOISE", "D"), ("CRVAL1", "D"), ("CRVAL2", "D"),
                    ("ORIENTAT", "D"))


def product_date():
    """Today (``yyyy-mm-dd``), or the day (UTC) of ``SOURCE_DATE_EPOCH`` when it is set.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
    convention) makes products written on different days byte-identical; a
    value that is not an integer is a warning and today is used.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))
        except (ValueError, OverflowError, OSError):
            log.warning("SOURCE_DATE_EPOCH=%r is not a number of seconds; DATE is today", epoch)
    return time.strftime("%Y-%m-%d")


def software_version():
    """``gpudrizzle <version>``, as recorded in PROD_VER and D###VER."""
    from . import __version__

    return f"gpudrizzle {__version__}"


class ChipRecord(NamedTuple):
    """What the product headers record about one drizzled chip.

    Attributes
    ----------
    data : str
        ``file.fits[sci,1]`` (drizzlepac's D###DATA).
    rootname, filename : str
    extver : int
    instrument, detector, units : str
    exptime : float
    expstart, expend : float or None
    sky : float
        MDRIZSKY subtracted (data units).
    wt_scl : float
        Weight scale used (D###WTSC).
    mask : str
        Name of the weight mask (D###MASK; '' when none was written).
    gain, rdnoise : float
    idcscale : float or None
    crval : tuple of float
    orientat : float
    primary, science : str, gpudrizzle.exposure.PackedCards or None
        The cards of the exposure's primary header and of the chip's SCI
        header (:attr:`gpudrizzle.exposure.Chip.header_cards`), for the
        photometric keywords and HDRTAB; None or '' for in-memory exposures.
        Text (compressed), parsed one record at a time, so that the records
        of many exposures stay small.
    """

    data: str
    rootname: str
    filename: str
    extver: int
    instrument: str
    detector: str
    units: str
    exptime: float
    expstart: Optional[float]
    expend: Optional[float]
    sky: float
    wt_scl: float
    mask: str
    gain: float
    rdnoise: float
    idcscale: Optional[float]
    crval: tuple
    orientat: float
    primary: Any = None
    science: Any = None


def product_names(output, build):
    """Final product files of an :class:`gpudrizzle.inputs.OutputName`.

    Returns
    -------
    dict
        ``{"drz": path}`` with ``build``; else ``{"sci", "wht", "ctx", "err"}`` paths.
    """
    if build:
        return {"drz": output.product()}
    return {kind: output.product(kind) for kind in ("sci", "wht", "ctx", "err")}


def intermediate_names(directory, output, exposures, steps):
    """Files written with ``clean=False``, drizzlepac's names.

    Parameters
    ----------
    directory : str
        Where they go (the products' directory).
    output : gpudrizzle.inputs.OutputName
    exposures : sequence of Exposure
    steps : gpudrizzle.params.StepSwitches

    Returns
    -------
    dict
        ``("single_sci", i)``, ``("single_wht", i)``, ``"med"``,
        ``("blt", i, chip)``, ``("crmask", i, chip)`` -> path (only those
        of the steps that run).
    """
    names = {}
    for i, e in enumerate(exposures):
        root = os.path.join(directory, os.path.basename(e.rootname))
        if steps.driz_separate:
            names[("single_sci", i)] = f"{root}_single_sci.fits"
            names[("single_wht", i)] = f"{root}_single_wht.fits"
        for c in e.chips:
            if steps.blot:
                names[("blt", i, c.chip)] = f"{root}_sci{c.chip}_blt.fits"
            if steps.driz_cr:
                names[("crmask", i, c.chip)] = crmask_name(directory, e, c.chip)
    if steps.median:
        names["med"] = f"{output.rootname}_med.fits"
    return names


def crmask_name(directory, exposure, chip):
    """Path of the cosmic-ray mask of chip number ``chip`` of ``exposure`` in ``directory``
    (``<root>_sci<chip>_crmask.fits``: written by driz_cr, read by a final-only rerun)."""
    return f"{os.path.join(directory, os.path.basename(exposure.rootname))}_sci{chip}_crmask.fits"


def check_writable(directory):
    """OSError unless a file can be created in ``directory`` (tried for real)."""
    directory = directory or "."
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory does not exist: {directory}")
    try:
        probe = files.Temporary(os.path.join(directory, "gpudrizzle-probe"), "test file")
    except OSError as exc:
        raise PermissionError(f"cannot write products into {os.path.abspath(directory)}: "
                              f"{exc.strerror or exc}") from None
    probe.discard()


def check_targets(paths, overwrite, kind="product"):
    """OSError naming the first path that cannot be written, before any work.

    Parameters
    ----------
    paths : sequence of str
    overwrite : bool
        False: an existing path is a :class:`FileExistsError`.
    kind : str
        What the files are, for the message.

    Raises
    ------
    IsADirectoryError
        A path is a directory (whatever ``overwrite``).
    FileExistsError
    """
    for p in paths:
        files.check_target(p, kind)
        if not overwrite and os.path.exists(p):
            raise FileExistsError(f"{kind} {p} exists; pass overwrite=True to replace it")


def write_fits(hdul, path, overwrite, durable=True, kind="product"):
    """Write ``hdul`` to ``path`` through a temporary file beside it (:mod:`gpudrizzle.files`).

    ``durable``: flushed to the disk before it is published (scratch files
    such as pipeline intermediates skip that).  Returns ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False (also when another
        process created it meanwhile).
    OSError
        The file cannot be written (``No space left on device while writing
        <path>`` on a full disk); the temporary file is removed.
    """
    with files.writing(path, overwrite, durable, kind) as tmp:
        hdul.writeto(tmp, overwrite=True)
    return os.fspath(path)


def ascii_name(name):
    """``name`` as FITS headers can hold it: non-ASCII characters as ``\\xe9``-style escapes."""
    return os.fspath(name).encode("ascii", "backslashreplace").decode("ascii")


def _clean_template(header):
    h = fits.Header() if header is None else header.copy()
    for key in _STRUCTURAL:
        h.remove(key, ignore_missing=True, remove_all=True)
    return h


def _with_keywords(header, items):
    """``header`` with ``header[key] = value`` done for every (key, value) of ``items``.

    The same header, card for card, as those assignments give, in time linear in its length
    (each assignment costs astropy O(len(header)): a product of many inputs has tens of
    thousands of D### cards).  New keywords go where astropy's append puts them (after the
    last card that is neither blank nor commentary) and use up trailing blank cards as it
    does; keywords already present are updated in place.  Keywords of more than 8
    characters (``D1000DATA``: more than 999 inputs) become HIERARCH cards, as they do in
    drizzlepac, without a warning for each.
    """
    new = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Keyword name .* HIERARCH card", VerifyWarning)
        for key, value in items:
            if key in header:
                header[key] = value
            else:
                new.append(fits.Card(key, *value) if isinstance(value, tuple)
                           else fits.Card(key, value))
    if not new:
        return header
    cards = list(header.cards)
    at, used = fitswriter.append_position(header, sum(len(str(c)) // fits.Card.length for c in new))
    return fits.Header(cards[:at] + new + cards[at:len(cards) - used])


def primary_header(template, *, filename, rootname, records, params, kernel, pixfrac, units,
                   fillval, out_scale, out_names, runfile, nextend):
    """The product's primary header.

    Parameters
    ----------
    template : astropy.io.fits.Header or None
        First input's primary header.
    filename, rootname : str
        Product file name and output rootname.
    records : sequence of ChipRecord
        One per drizzled chip, in drizzle order.
    params : gpudrizzle.params.Parameters
    kernel : str
    pixfrac : float
    units : {"cps", "counts"}
    fillval : float or None
    out_scale : float
        Output pixel scale (arcsec).
    out_names : dict
        ``{"sci", "wht", "ctx"}`` -> names recorded in OUDA/OUWE/OUCO.
    runfile : str
    nextend : int

    Returns
    -------
    gpudrizzle.fitswriter.SplicedHeader
        The D### records are its block of cards (rendered once, kept as text,
        not as astropy cards); the other keywords its astropy header.
    """
    h = _clean_template(template)
    h["DATE"] = (product_date(), "date this file was written (yyyy-mm-dd)")
    h["NEXTEND"] = nextend
    h["FILENAME"] = ascii_name(os.path.basename(filename))
    h["PROD_VER"] = software_version()
    h["DRIZPARS"] = (ascii_name(os.path.basename(runfile or "")), "Logfile for processing")
    h["ROOTNAME"] = ascii_name(os.path.basename(rootname))
    exposures = {}
    for r in records:
        exposures.setdefault(r.filename or r.rootname, r)
    texptime = float(sum(r.exptime for r in exposures.values()))
    starts = [r.expstart for r in exposures.values() if r.expstart is not None]
    ends = [r.expend for r in exposures.values() if r.expend is not None]
    h["EXPTIME"] = (texptime, "total exposure time of the inputs (s)")
    h.set("TEXPTIME", texptime, "total exposure time of the inputs (s)", after="EXPTIME")
    if starts:
        h["EXPSTART"] = (min(starts), "exposure start time of the first input (MJD)")
    if ends:
        h["EXPEND"] = (max(ends), "exposure end time of the last input (MJD)")
    h["ASN_MTYP"] = "PROD-DTH"
    for key in ("DRIZCORR", "DITHCORR"):
        if key in h:
            h[key] = "COMPLETE"
    h["NDRIZIM"] = (len(records), "Drizzle, No. images drizzled onto output")
    def items():
        return _driz_records(records, params, kernel, pixfrac, units, fillval, out_scale,
                             out_names)

    if any(_DRIZ_KEYWORD.fullmatch(key) for key in h):
        # the template has D### records (a drizzled input): they are updated in place
        out = fitswriter.SplicedHeader(_with_keywords(h, items()))
    else:
        out = fitswriter.SplicedHeader(h, items)
    out.header.add_history(f"AstroDrizzle processing performed using: {software_version()}")
    return out


def _driz_records(records, params, kernel, pixfrac, units, fillval, out_scale, out_names):
    """(keyword, (value, comment)) of the D### records of every chip, in order."""
    for n, r in enumerate(records, start=1):
        values = {
            "VER": software_version(), "GEOM": "wcs", "DATA": ascii_name(r.data),
            "DEXP": r.exptime, "OUDA": ascii_name(out_names.get("sci", "")),
            "OUWE": ascii_name(out_names.get("wht", "")),
            "OUCO": ascii_name(out_names.get("ctx", "")), "MASK": ascii_name(r.mask),
            "WTSC": r.wt_scl,
            "KERN": kernel, "PIXF": pixfrac, "COEF": "SIP" if params["coeffs"] else "",
            "OUUN": units, "FVAL": "INDEF" if fillval is None else fillval,
            "WKEY": params["wcskey"] or "", "SCAL": out_scale,
            "ISCL": r.idcscale if r.idcscale is not None else "",
        }
        for key, value in values.items():
            yield f"D{n:03d}{key}", (value, DRIZ_KEYWORD_COMMENTS[key])


def image_header(wcs, *, extname=None, bunit=None, extra=None):
    """Header of an image extension: EXTNAME/EXTVER, the WCS as drizzlepac writes it, BUNIT.

    The WCS is in CD form, in drizzlepac's order (CD1_1..CD2_2, CRVAL, CRPIX,
    CTYPE, ORIENTAT), followed by astropy's other WCS keywords (CUNIT,
    RADESYS, ...); no PC, CDELT, LONPOLE or LATPOLE keywords.  BUNIT has
    drizzlepac's comment.
    """
    h = fits.Header()
    if extname:
        h["EXTNAME"] = extname
        h["EXTVER"] = 1
    cd = np.asarray(wcs.pixel_scale_matrix, dtype=float)
    for i in range(2):
        for j in range(2):
            h[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "partial of axis coordinate w.r.t. pixel")
    rest = wcs.to_header(relax=True)
    for name, values in (("CRVAL", wcs.wcs.crval), ("CRPIX", wcs.wcs.crpix), ("CTYPE", wcs.wcs.ctype)):
        for i in (1, 2):  # full precision: astropy's header rounds to 14 digits
            value = str(values[i - 1]) if name == "CTYPE" else float(values[i - 1])
            h[f"{name}{i}"] = (value, rest.comments[f"{name}{i}"])
    h["ORIENTAT"] = (float(orientation(wcs)), "position angle of image y axis (deg. e of n)")
    # LONPOLE/LATPOLE: the defaults of a zenithal projection, which drizzlepac does not write
    skip = {"WCSAXES", "MJDREF", "DATEREF", "CDELT1", "CDELT2", "LONPOLE", "LATPOLE"}
    for card in rest.cards:
        if card.keyword not in h and card.keyword not in skip and not card.keyword.startswith("PC"):
            h.append(card)
    if bunit:
        counts = bunit.lower().startswith("count")
        h["BUNIT"] = (bunit, "counts * gain = electrons" if counts else "Units of science product")
    return _with_keywords(h, (extra or {}).items())


def _parsed_headers(records):
    """(record, primary Header or None, SCI Header or None) for each record, in turn.

    Chips of one exposure share their primary header's text, which is parsed once.
    """
    last = (None, None)
    for r in records:
        if r.primary is not last[0]:
            last = (r.primary, fits.Header.fromstring(str(r.primary)) if r.primary else None)
        yield r, last[1], fits.Header.fromstring(str(r.science)) if r.science else None


def photometry(records):
    """The product's photometric keywords, combined as drizzlepac (fitsblender) combines them.

    Each keyword of :data:`PHOTOMETRY_KEYWORDS` is read per chip (SCI header,
    else the exposure's primary header: one value per header, so a primary
    header counts once).  ``mean`` keywords get the mean of the values,
    ``first`` keywords the first input's value; keywords that no input has
    are left out.  Where the inputs disagree a warning says what was done.

    Parameters
    ----------
    records : sequence of ChipRecord

    Returns
    -------
    dict
        keyword -> (value, comment), in :data:`PHOTOMETRY_KEYWORDS` order.
    """
    found = {key: {} for key in PHOTOMETRY_KEYWORDS}  # key -> {where: value}
    for r, primary, science in _parsed_headers(records):
        name = r.filename or r.rootname
        for key, values in found.items():
            if science is not None and key in science:
                values.setdefault(("sci", name, r.extver), science[key])
            elif primary is not None and key in primary:
                values.setdefault(("primary", name), primary[key])
    out = {}
    for key, (rule, comment) in PHOTOMETRY_KEYWORDS.items():
        values = found[key]
        if not values:
            continue
        vals = list(values.values())
        if rule == "mean":
            try:
                vals = [float(v) for v in vals]
            except (TypeError, ValueError):
                log.warning("%s is not a number in every input; not recorded", key)
                continue
            value = float(np.mean(vals))
            if min(vals) != max(vals):
                log.warning("%s differs among the inputs (%.6g to %.6g); the product records "
                            "their mean, %.6g, as drizzlepac does", key, min(vals), max(vals), value)
        else:
            value = vals[0]
            if len(set(map(str, vals))) > 1:
                log.warning("%s differs among the inputs (%s); the product records the first "
                            "input's, %s, as drizzlepac does", key,
                            ", ".join(sorted(set(map(str, vals)))), value)
        out[key] = (value, comment)
    return out


def science_keywords(records, primary, phot):
    """Keywords of the product's SCI header beyond the WCS and BUNIT.

    Photometry (``phot``, from :func:`photometry`), MDRIZSKY (mean of the chips' skies, as
    drizzlepac blends it) and the ``D###`` drizzle records (and NDRIZIM) of
    ``primary``.

    Returns
    -------
    dict
        keyword -> (value, comment).
    """
    out = dict(phot)
    if records:
        out["MDRIZSKY"] = (float(np.mean([r.sky for r in records])), "Sky value computed by AstroDrizzle")
    for card in primary.cards:
        if card.keyword == "NDRIZIM" or _DRIZ_RECORD.fullmatch(card.keyword):
            out[card.keyword] = (card.value, card.comment)
    return out


_KIND_FILL = {"L": False, "K": 0, "D": np.nan}  # HDRTAB column kind -> value of a missing row
_KIND_DTYPE = {"L": bool, "K": np.int64, "D": np.float64}


def _value_kind(v):
    """HDRTAB column kind of one keyword value: L (bool), K (int), D (float) or A (text)."""
    if isinstance(v, (bool, np.bool_)):
        return "L"
    if isinstance(v, (int, np.integer)):
        return "K"
    return "D" if isinstance(v, (float, np.floating)) else "A"


def _joined_kind(kind, other):
    """The kind of a column holding values of both kinds (None: no value yet)."""
    if kind is None or kind == other:
        return other
    return "D" if {kind, other} == {"K", "D"} else "A"


def _format(kind, width):
    """(FITS format, fill value) of a column of ``kind`` (None: no values), text ``width``."""
    return (kind, _KIND_FILL[kind]) if kind in _KIND_FILL else (f"A{width}", "")


def _chip_keywords(primary, science):
    """Keyword -> value of one chip (None for an undefined value); the primary header's value
    wins where both headers have a keyword, as in drizzlepac's HDRTAB (so BITPIX and NAXIS are
    the primary's, NAXIS1/NAXIS2 the chip's).  Commentary cards and checksums are left out
    (:data:`_HDRTAB_EXCLUDED`)."""
    merged = {}
    for h in (primary, science):
        for card in () if h is None else h.cards:
            if card.keyword not in _HDRTAB_EXCLUDED:
                merged.setdefault(card.keyword, card.value)
    return {k: None if isinstance(v, fits.card.Undefined) else v for k, v in merged.items()}


def _header_columns(records, skip=()):
    """Keyword -> (FITS format, per-chip values as a numpy array), in first-seen order.

    The keywords of every chip's primary and SCI headers (:func:`_chip_keywords`) but those in
    ``skip``; a chip without the keyword gets the column's fill value.  Two passes over the
    records (one for the formats, one for the values), so that only the columns' arrays are
    held, not a Python value per chip and keyword.
    """
    kinds = {}
    for _, primary, science in _parsed_headers(records):
        for key, v in _chip_keywords(primary, science).items():
            if key in skip:
                continue
            kind, width = kinds.get(key, (None, 1))
            if v is not None:
                kind, width = _joined_kind(kind, _value_kind(v)), max(width, len(ascii_name(str(v))))
            kinds[key] = (kind, width)
    columns = {}
    for key, (kind, width) in kinds.items():
        fmt, fill = _format(kind, width)
        columns[key] = (fmt, np.full(len(records), fill, _KIND_DTYPE.get(kind, f"S{width}")))
    for n, (_, primary, science) in enumerate(_parsed_headers(records)):
        for key, v in _chip_keywords(primary, science).items():
            if v is not None and key in columns:
                fmt, values = columns[key]
                values[n] = ascii_name(str(v)).encode("ascii") if fmt[0] == "A" else v
    return columns


def hdrtab(records):
    """HDRTAB: one row per input chip.

    Columns: ROOTNAME, EXTNAME, EXTVER and gpudrizzle's records
    (:data:`_HDRTAB_KEYWORDS`: MDRIZSKY, GAIN, RDNOISE, ...), then every other
    keyword of the chips' primary and SCI headers, layout keywords included
    (:func:`_header_columns`),
    each with a FITS type that holds all rows (L, K, D or A); a chip without
    the keyword gets False, 0, NaN or blank.
    """
    values = {
        "ROOTNAME": [ascii_name(os.path.basename(r.rootname)) for r in records],
        "FILENAME": [ascii_name(os.path.basename(r.filename or "")) for r in records],
        "EXTNAME": ["SCI"] * len(records),
        "EXTVER": [r.extver for r in records],
        "INSTRUME": [r.instrument for r in records],
        "DETECTOR": [r.detector for r in records],
        "EXPTIME": [r.exptime for r in records],
        "EXPSTART": [np.nan if r.expstart is None else r.expstart for r in records],
        "EXPEND": [np.nan if r.expend is None else r.expend for r in records],
        "MDRIZSKY": [r.sky for r in records],
        "BUNIT": [r.units for r in records],
        "GAIN": [r.gain for r in records],
        "RDNOISE": [r.rdnoise for r in records],
        "CRVAL1": [r.crval[0] for r in records],
        "CRVAL2": [r.crval[1] for r in records],
        "ORIENTAT": [r.orientat for r in records],
    }
    formats = dict(_HDRTAB_KEYWORDS)
    order = ["ROOTNAME", "EXTNAME", "EXTVER"] + [k for k, _ in _HDRTAB_KEYWORDS
                                                  if k not in ("ROOTNAME", "EXTNAME", "EXTVER")]
    cols = [fits.Column(name=k, format=formats[k], array=np.array(values[k])) for k in order]
    for key, (fmt, values) in _header_columns(records, skip=formats).items():
        cols.append(fits.Column(name=key, format=fmt, array=values))
    return fits.BinTableHDU.from_columns(cols, name="HDRTAB")


def write_image(path, data, header, overwrite, durable=True, kind="product"):
    """One image as the primary HDU of ``path`` (atomically; see :func:`write_fits`): the
    bytes astropy writes, through :class:`gpudrizzle.files.DirectFile` for the image types
    :func:`gpudrizzle.fitswriter.plain_image` writes."""
    hdul = fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
    stored = hdul[0].data  # as astropy took it (a list becomes an array)
    if isinstance(data, np.ma.MaskedArray) or (stored is not None
                                               and not fitswriter.plain_image(stored.dtype)):
        return write_fits(hdul, path, overwrite, durable, kind)
    with files.writing(path, overwrite, durable, kind) as tmp:
        _writer(hdul, None)(tmp)
    return os.fspath(path)


def _hdu(cls, data, header):
    """``cls(data, header=header)`` that takes ``header``'s cards instead of a copy of them
    (with many inputs the D### records make a header megabytes)."""
    hdu = cls(data)
    hdu.header.extend(header, strip=True, update=True, end=True)
    return hdu


def _spliced(primary):
    """``primary`` as a :class:`gpudrizzle.fitswriter.SplicedHeader` (an astropy Header:
    one without a block)."""
    if isinstance(primary, fitswriter.SplicedHeader):
        return primary
    return fitswriter.SplicedHeader(primary)


def final_hdulist(*, sci, wht, ctx, err, wcs, primary, records, bunit):
    """The final product in the ``build=True`` layout: PRIMARY, SCI, WHT, CTX (when
    ``ctx`` is given), ERR, HDRTAB, as astropy HDUs (every card an astropy card).

    Parameters are :func:`write_final`'s; ``primary``'s cards go to the PRIMARY HDU
    (its photometric keywords updated in place to the combined values).
    :func:`write_final` writes the same
    bytes as this HDUList's ``writeto`` without making the D### records astropy cards.

    Returns
    -------
    astropy.io.fits.HDUList
    """
    hdul, headers = _final_parts(sci=sci, wht=wht, ctx=ctx, err=err, wcs=wcs,
                                 primary=primary, records=records, bunit=bunit)
    for k, spliced in enumerate(headers):
        hdul[k] = _hdu(type(hdul[k]), hdul[k].data, spliced.to_header())
    return hdul


def _final_parts(*, sci, wht, ctx, err, wcs, primary, records, bunit):
    """(HDUList of the ``build=True`` layout whose PRIMARY and SCI headers hold a marker
    card in place of the D### records, their two
    :class:`~gpudrizzle.fitswriter.SplicedHeader`)."""
    primary = _spliced(primary)
    ctx, phot = _combine_photometry(ctx, primary.header, records)
    hdus = [_hdu(fits.PrimaryHDU, None, primary.header)]
    science = fitswriter.SplicedHeader(
        image_header(wcs, extname="SCI", bunit=bunit,
                     extra=science_keywords(records, primary.header, phot)),
        *_science_records(primary))
    hdus.append(_hdu(fits.ImageHDU, sci, science.header))
    hdus.append(fits.ImageHDU(wht, header=image_header(wcs, extname="WHT")))
    if ctx is not None:
        hdus.append(fits.ImageHDU(ctx, header=image_header(wcs, extname="CTX")))
    hdus.append(fits.ImageHDU(err, header=image_header(wcs, extname="ERR", bunit=bunit)))
    hdus.append(hdrtab(records))
    hdus[0].header["NEXTEND"] = len(hdus) - 1
    return fits.HDUList(hdus), (primary, science)


def _science_records(primary):
    """(items, text) of the D### records :func:`science_keywords` copies from the
    :class:`~gpudrizzle.fitswriter.SplicedHeader` ``primary``'s block: those of
    :data:`_DRIZ_RECORD`, three-digit record numbers (the block's text when all are)."""
    if primary.items is None:
        return None, None
    if all(_DRIZ_RECORD.fullmatch(key) for key, _ in primary.items()):
        return primary.items, primary.text
    return (lambda: ((k, v) for k, v in primary.items() if _DRIZ_RECORD.fullmatch(k))), None


def _writer(hdul, splices):
    """A writer for :func:`gpudrizzle.files.write_together`: ``hdul`` with its blocks of cards."""
    def write(tmp):
        with files.DirectFile(tmp) as f:
            fitswriter.write_hdulist(f, hdul, splices)
    return write


def _combine_photometry(ctx, primary, records):
    """(ctx with a single plane as 2-D, the photometry of :func:`photometry`), the combined
    values written into ``primary`` where the first input's primary had them."""
    if ctx is not None and ctx.ndim == 3 and ctx.shape[0] == 1:
        ctx = ctx[0]
    phot = photometry(records)
    for key, value in phot.items():
        if key in primary:  # the first input's primary had it: the combined value replaces it
            primary[key] = value
    return ctx, phot


def write_final(names, *, sci, wht, ctx, err, wcs, primary, records, bunit, overwrite):
    """Write the final products with the layout chosen by ``names`` (:func:`product_names`).

    Every file is written before any is published, so a failure (a full
    disk, an interruption) leaves the earlier products, if any, as they were.
    The files are the bytes astropy writes for the same HDUs
    (:func:`final_hdulist` with ``build=True``), the D### records written as
    text (:mod:`gpudrizzle.fitswriter`).

    Parameters
    ----------
    names : dict
    sci, wht, err : numpy.ndarray (ny, nx) float32
    ctx : numpy.ndarray (ny, nx) or (nplanes, ny, nx) int32, or None
    wcs : astropy.wcs.WCS
        Output frame.
    primary : gpudrizzle.fitswriter.SplicedHeader or astropy.io.fits.Header
        From :func:`primary_header`; its photometric keywords are updated in place.
    records : sequence of ChipRecord
    bunit : str
        Units of the science (and error) image.
    overwrite : bool

    Returns
    -------
    list of str
        Files written.
    """
    if "drz" in names:
        hdul, (head, science) = _final_parts(sci=sci, wht=wht, ctx=ctx, err=err, wcs=wcs,
                                             primary=primary, records=records, bunit=bunit)
        with files.writing(names["drz"], overwrite, True, "product") as tmp:
            _writer(hdul, {**head.splices(), **science.splices()})(tmp)
        return [os.fspath(names["drz"])]
    primary = _spliced(primary)
    ctx, phot = _combine_photometry(ctx, primary.header, records)
    writers = {}
    for kind, data, unit in (("sci", sci, bunit), ("wht", wht, None), ("ctx", ctx, None),
                             ("err", err, bunit)):
        if data is None:
            continue
        h = primary.copy()
        h.header["FILENAME"] = ascii_name(os.path.basename(names[kind]))
        h.header["NEXTEND"] = 0
        h.header.update(image_header(wcs, bunit=unit))
        if kind == "sci":
            h.header = _with_keywords(h.header,
                                      science_keywords(records, primary.header, phot).items())
        writers[names[kind]] = _writer(fits.HDUList([fits.PrimaryHDU(data=data, header=h.header)]),
                                       h.splices())
    return files.write_together(writers, overwrite=overwrite, kind="product")
