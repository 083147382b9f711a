"""Input exposures: chips with data, WCS and instrument facts, read as drizzlepac reads them.

An :class:`Exposure` is one input image (one file, or arrays given from
Python); it holds one :class:`Chip` per science extension.  Files are opened
read-only with memory mapping where the data allow it, and the arrays handed
out are read-only views, so an input can never be modified through them.

Layouts
-------
* **HST** (``INSTRUME`` ACS with ``DETECTOR`` WFC, HRC or SBC; WFC3 with
  UVIS or IR): chips are the ``SCI`` extensions by EXTVER, with ``ERR`` and
  ``DQ`` of the same EXTVER (WFC3/IR also ``TIME``).  Extensions stored as
  HST constant arrays (no data, ``PIXVALUE``/``NPIX1``/``NPIX2``) are read as
  constant images.  Other HST instruments are rejected.
* **Generic FITS**: a file with ``SCI`` extensions is read the same way;
  otherwise every image HDU with 2-D data and a celestial WCS is a chip
  (chip numbers 1, 2, ... in file order), without ERR or DQ.

Instrument parameters (drizzlepac 3.11 ``acsData``/``wfc3Data``/``imageObject``)
------------------------------------------------------------------------------
What each detector decides (parity, gain and read-noise keywords or fixed
values, filter keywords, readout direction, a TIME extension) is one
:class:`Detector` row of :data:`DETECTORS`; a new detector is a new row.

* gain: the ``gain`` parameter (a number, or a comma list averaged over its
  non-zero entries), else the keywords of ``gnkeyword``, else ``ATODGNA..D``;
  keyword values are averaged over the non-zero ones.  ACS/SBC: 1.0 unless
  the user gives one (drizzlepac always uses 1.0 there).
* read noise: likewise with ``rdnoise``/``rnkeyword``/``READNSEA..D``;
  ACS/SBC: 0.0.
* exposure time: ``exptime``, else ``expkeyword``, else ``EXPTIME``.
* HST keywords are read from the primary header (as drizzlepac); generic
  files look in the chip's header first, then the primary header, and
  default to gain 1.0 and read noise 0.0 (exposure time has no default).
* units: ``BUNIT`` of the science header; absent (or in ``ergs``) it is
  ``ELECTRONS/S``.  A unit containing ``/s`` is a rate (WFC3/IR FLTs are).
* readout (CTE) direction: ACS/WFC and WFC3/UVIS chip 1: -1, chip 2: +1;
  ACS/HRC: +1 for amplifiers A/B, -1 for C/D; SBC, WFC3/IR, generic: 0.
* WCS: ``astropy.wcs.WCS(header, hdulist)``, so SIP, ``D2IMARR`` and
  ``WCSDVARR`` lookup tables all apply; ``wcskey`` selects an alternate WCS
  by letter or by ``WCSNAME``; ``coeffs=False`` keeps only the linear WCS.

In-memory inputs (:func:`to_exposure`): an ``astropy.io.fits.HDUList`` is read
exactly as a file of the same layout; ``NDData``/``CCDData`` (data, WCS,
uncertainty, flags and mask, ``meta`` with EXPTIME) and ``(array, wcs)`` or
dicts of :meth:`Exposure.from_arrays` arguments are accepted too.  Their
exposures have ``filename`` None.

Refused with a ValueError that says what to use instead: JWST files
(``TELESCOP='JWST'`` or an ``ASDF`` extension: gwcs distortion) and data in
Jy or MJy/sr.  Files with scaled image data (unsigned DQ stored as int16
with ``BZERO=32768``, BSCALE) are read without memory mapping, so astropy
applies the scaling (unsigned DQ becomes uint16 with its values).

Errors: OSError for missing, unreadable or truncated files (fewer extensions
than NEXTEND, data shorter than the headers declare, a cut gzip stream:
:func:`gpudrizzle.inputs.open_fits`), naming the file and extension;
ValueError naming the file and extension for no celestial WCS, no image
data, EXPTIME <= 0, a missing keyword or one that is not a number (``T``,
a string), shape mismatches, or every pixel flagged.
"""

import logging
import math
import mmap
import numbers
import os
import warnings
import zlib
from dataclasses import dataclass, field, replace as _replace
from functools import cached_property
from typing import Any, Optional

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from .bitflags import good_pixel_mask
from .distortion import linear_wcs
from .inputs import open_fits, rootname_of
from .params import Parameters, resolve_parameters

__all__ = ["Chip", "Exposure", "Detector", "DETECTORS", "load_exposure", "load_exposures",
           "HST_DETECTORS", "PARITY", "MASK_FLAG", "to_exposure", "in_memory_items", "is_in_memory",
           "PackedCards"]

log = logging.getLogger("gpudrizzle")

_OTHER_HST = ("WFPC2", "STIS", "NICMOS", "FOC", "WFPC")

#: Parity matrix of most detectors (stwcs ``instruments``): x kept, y flipped.
_DEFAULT_PARITY = ((1.0, 0.0), (0.0, -1.0))
_FLIP_X = ((-1.0, 0.0), (0.0, 1.0))
_ATODGN = "ATODGNA,ATODGNB,ATODGNC,ATODGND"
_READNSE = "READNSEA,READNSEB,READNSEC,READNSED"


@dataclass(frozen=True)
class Detector:
    """What the reading of an exposure knows about one instrument and detector.

    Attributes
    ----------
    instrument, detector : str
        INSTRUME and DETECTOR as the primary header spells them (upper case).
    parity : tuple
        2x2 detector parity matrix (stwcs ``instruments``).
    gain_keywords, rdnoise_keywords : str
        Comma list of header keywords averaged over their non-zero values
        when neither the parameter nor its keyword parameter is given; ''
        to use ``gain_default`` / ``rdnoise_default`` instead.
    gain_default, rdnoise_default : float or None
        Value used when there are no keywords (None when keywords are read).
    filter_keywords : tuple of str
        Primary-header keywords naming the filter(s) in the beam.
    cte_by_chip : tuple of (int, int)
        (chip, readout direction along y) pairs; chips not named have 0.
    cte_by_amp : tuple of (str, int)
        (CCDAMP, readout direction) pairs; when given they decide instead of
        the chip number.
    time_extension : bool
        Read the TIME extension (exposure-time map) of each chip.
    hst : bool
        An HST detector: keywords and EXPTIME come from the primary header
        only, and a missing BUNIT in a chip is not looked up in the primary.
    """

    instrument: str
    detector: str
    parity: tuple = _DEFAULT_PARITY
    gain_keywords: str = ""
    gain_default: Optional[float] = None
    rdnoise_keywords: str = ""
    rdnoise_default: Optional[float] = None
    filter_keywords: tuple = ("FILTER",)
    cte_by_chip: tuple = ()
    cte_by_amp: tuple = ()
    time_extension: bool = False
    hst: bool = True

    @property
    def key(self):
        return (self.instrument, self.detector)

    def cte_dir(self, chip, primary):
        """Readout direction along y of ``chip``: +1, -1 or 0 (no CTE tails)."""
        if self.cte_by_amp:
            amp = str(primary.get("CCDAMP", "")).strip().upper()
            return dict(self.cte_by_amp).get(amp, 0)
        return dict(self.cte_by_chip).get(chip, 0)


_WFC_CTE = ((1, -1), (2, 1))

#: The supported detectors, one row each, keyed by (instrument, detector).
DETECTORS = {d.key: d for d in (
    Detector("ACS", "WFC", _DEFAULT_PARITY, _ATODGN, None, _READNSE, None,
             ("FILTER1", "FILTER2"), cte_by_chip=_WFC_CTE),
    Detector("ACS", "HRC", _FLIP_X, _ATODGN, None, _READNSE, None, ("FILTER1", "FILTER2"),
             cte_by_amp=(("A", 1), ("B", 1), ("C", -1), ("D", -1))),
    # drizzlepac's acsData always uses gain 1 and read noise 0 for the MAMA
    Detector("ACS", "SBC", _FLIP_X, "", 1.0, "", 0.0, ("FILTER1", "FILTER2")),
    Detector("WFC3", "UVIS", _FLIP_X, _ATODGN, None, _READNSE, None, ("FILTER",),
             cte_by_chip=_WFC_CTE),
    Detector("WFC3", "IR", _FLIP_X, _ATODGN, None, _READNSE, None, ("FILTER",),
             time_extension=True),
)}

#: Files of no supported instrument: chip keywords first, gain 1 and read noise 0.
GENERIC = Detector("", "", _DEFAULT_PARITY, "", 1.0, "", 0.0, ("FILTER",), hst=False)


def _detectors_of(instrument):
    """Supported detectors of ``instrument`` in table order (empty: not a supported instrument)."""
    return tuple(d for i, d in DETECTORS if i == instrument)


def _filter_keywords(instrument, detector):
    """Filter keywords of the detector's row (of the instrument's first row; FILTER elsewhere)."""
    row = DETECTORS.get((instrument, detector))
    if row is None:
        row = next((d for d in DETECTORS.values() if d.instrument == instrument), GENERIC)
    return row.filter_keywords


#: Supported HST instruments and detectors (a view of :data:`DETECTORS`).
HST_DETECTORS = {i: _detectors_of(i) for i, _ in DETECTORS}
#: Detector parity matrices (a view of :data:`DETECTORS`); ``_DEFAULT_PARITY`` for anything else.
PARITY = {k: d.parity for k, d in DETECTORS.items()}
#: Primary-header keywords that name the filter(s) in the beam; FILTER elsewhere.
FILTER_KEYWORDS = {d.instrument: d.filter_keywords for d in DETECTORS.values()}


class PackedCards:
    """A header's cards (80 characters a card, no END) kept compressed.

    A run of many exposures keeps every input header for the product's
    HDRTAB; their text compresses about fivefold (blank-padded cards).
    ``str()`` gives the text back; ``len()`` is its length in characters.

    Parameters
    ----------
    text : str
    """

    __slots__ = ("_packed", "_length")

    def __init__(self, text):
        self._packed = zlib.compress(text.encode("utf-8", "surrogatepass"), 1)
        self._length = len(text)

    def __str__(self):
        return zlib.decompress(self._packed).decode("utf-8", "surrogatepass")

    def __len__(self):
        return self._length

    def __eq__(self, other):
        if isinstance(other, PackedCards):
            return self._packed == other._packed or str(self) == str(other)
        return isinstance(other, str) and str(self) == other

    __hash__ = None

    def __repr__(self):
        return f"PackedCards({self._length // 80} cards)"


def _cards(header):
    """A header's cards as :class:`PackedCards` (80 characters a card, no END, no padding)."""
    return PackedCards(header.tostring(padding=False, endcard=False))


def _pack(cards):
    """``cards`` (str, PackedCards or None) as PackedCards or None."""
    return cards if cards is None or isinstance(cards, PackedCards) else PackedCards(str(cards))


def _parse_cards(cards):
    """:func:`_cards` back into an astropy Header (None stays None)."""
    return None if cards is None else fits.Header.fromstring(str(cards))


@dataclass(frozen=True, eq=False)
class Chip:
    """One science extension of an exposure.

    Attributes
    ----------
    sci : numpy.ndarray, shape (ny, nx), real (float32 for HST data)
        Science data, read-only (a memory map where possible).
    err : numpy.ndarray, shape (ny, nx), or None
        Error array (ERR extension), read-only.
    dq : numpy.ndarray, shape (ny, nx), integer, or None
        Data-quality flags (DQ extension), read-only.
    wcs : astropy.wcs.WCS
        Full WCS including distortion; ``array_shape == (ny, nx)``.
    chip : int
        Chip number: EXTVER of the SCI extension (1, 2, ... for generic files).
    label : str
        ``file.fits[SCI,1]`` (or ``name[chip 1]`` in memory), for messages.
    gain, rdnoise : float
        Gain (e-/unit) and read noise (e-).
    units : str
        BUNIT as read (e.g. ``ELECTRONS``, ``ELECTRONS/S``).
    is_rate : bool
        Data are per second (``/s`` in the unit).
    cte_dir : int
        Readout direction along y for CTE tails: +1, -1 or 0 (none).
    idcscale : float or None
        IDCSCALE (arcsec/pixel of the distortion model) from the header.
    darkcurrent : float or None
        MEANDARK (e-) from the header.
    time : numpy.ndarray, shape (ny, nx), or None
        Exposure-time map (WFC3/IR TIME extension), read-only.
    ivm : numpy.ndarray, shape (ny, nx), or None
        User inverse-variance map (IVM extension of the IVM file), read-only.
    v2v3ref : tuple of float or None
        (IDCV2REF, IDCV3REF) in arcsec, for the telescope-roll orientation.
    idctheta : float or None
        IDCTHETA (degrees).
    pa_v3 : float or None
        PA_V3 of the exposure (degrees).
    parity : tuple
        2x2 detector parity matrix.
    header_cards : PackedCards or None
        The science header's cards (80 characters each, no END), compressed
        (:class:`PackedCards`; a str given here is packed; ``str()`` gives
        the text): a run of many exposures keeps
        them, not astropy Header objects, which take tens of times more memory.
    header : astropy.io.fits.Header or None
        A copy of the science header, parsed from ``header_cards`` at each access.
    """

    sci: np.ndarray
    err: Optional[np.ndarray]
    dq: Optional[np.ndarray]
    wcs: Any
    chip: int
    label: str
    gain: float
    rdnoise: float
    units: str
    is_rate: bool
    cte_dir: int = 0
    idcscale: Optional[float] = None
    darkcurrent: Optional[float] = None
    time: Optional[np.ndarray] = None
    ivm: Optional[np.ndarray] = None
    v2v3ref: Optional[tuple] = None
    idctheta: Optional[float] = None
    pa_v3: Optional[float] = None
    parity: tuple = _DEFAULT_PARITY
    header_cards: Optional[Any] = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "header_cards", _pack(self.header_cards))

    @property
    def header(self):
        return _parse_cards(self.header_cards)

    @property
    def shape(self):
        """(ny, nx) of the science array."""
        return tuple(self.sci.shape)


@dataclass(frozen=True, eq=False)
class Exposure:
    """One input exposure.

    Attributes
    ----------
    chips : tuple of Chip
        Science extensions in chip order (those selected by ``group``).
    exptime : float
        Exposure time (s), > 0.
    filename : str or None
        Input file (None for in-memory exposures).
    rootname : str
        ROOTNAME (lower case) or the file name without suffix.
    instrument, detector : str
        INSTRUME and DETECTOR ('' when absent).
    expstart, expend : float or None
        EXPSTART/EXPEND (MJD).
    ivm_file : str or None
        IVM file the ``ivm`` arrays came from.
    primary_cards : PackedCards or None
        The primary header's cards (see :attr:`Chip.header_cards`).
    primary_header : astropy.io.fits.Header or None
        A copy of the primary header, parsed at each access (empty for
        in-memory exposures).
    filter : str
        See :attr:`filter`.
    """

    chips: tuple
    exptime: float
    filename: Optional[str] = None
    rootname: str = ""
    instrument: str = ""
    detector: str = ""
    expstart: Optional[float] = None
    expend: Optional[float] = None
    ivm_file: Optional[str] = None
    primary_cards: Optional[Any] = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "primary_cards", _pack(self.primary_cards))

    @property
    def primary_header(self):
        return _parse_cards(self.primary_cards)

    @property
    def label(self):
        return self.filename or self.rootname

    def release_pages(self):
        """Drop the pages of the memory-mapped input file from this process's memory.

        The arrays stay valid: their pages are read again (from the
        operating system's file cache) when next used.  A pipeline calls
        this after each step so that the inputs it has read do not add up
        in its resident memory.  Arrays not backed by a file map are left
        alone.
        """
        if not hasattr(mmap, "MADV_DONTNEED"):  # pragma: no cover - non-Linux
            return
        maps = {}
        for c in self.chips:
            for a in (c.sci, c.err, c.dq, c.time, c.ivm):
                while a is not None and not isinstance(a, mmap.mmap):
                    a = getattr(a, "base", None)
                if a is not None:
                    maps[id(a)] = a
        for m in maps.values():
            try:
                m.madvise(mmap.MADV_DONTNEED)
            except (ValueError, OSError):  # closed map, or the system refused: nothing lost
                pass

    @property
    def is_hst(self):
        return bool(_detectors_of(self.instrument))

    @cached_property
    def filter(self):
        """Filter(s) in the beam, from the detector's ``filter_keywords`` of the primary header.

        ACS's FILTER1 and FILTER2 are joined with ``","`` leaving out the
        ``CLEAR*`` wheel positions (``"F606W"``; ``"CLEAR"`` when both are
        clear); '' when the header names none (in-memory exposures).
        """
        header = self.primary_header if self.primary_header is not None else {}
        names = [str(header[k]).strip().upper()
                 for k in _filter_keywords(self.instrument, self.detector)
                 if k in header and str(header[k]).strip()]
        used = [n for n in names if not n.startswith("CLEAR")]
        return ",".join(used) if used or not names else "CLEAR"

    @classmethod
    def from_arrays(cls, sci, wcs, exptime, *, err=None, dq=None, gain=1.0, rdnoise=0.0,
                    units="ELECTRONS", name="memory", expstart=None, expend=None, idcscale=None):
        """An exposure from arrays in memory (one array per chip).

        Parameters
        ----------
        sci : array_like, shape (ny, nx), or sequence of them
            Science data of each chip (real numbers; not copied).
        wcs : astropy.wcs.WCS or sequence of them
            Celestial WCS of each chip (distortion allowed).
        exptime : float
            Exposure time (s), > 0.
        err, dq : array_like or sequence, optional
            Error and DQ arrays matching ``sci`` (dq integer).
        gain, rdnoise : float
            Gain (> 0) and read noise (>= 0) for every chip.
        units : str
            Data units; a unit containing ``/s`` is a rate.
        name : str
            Rootname used for messages and intermediate file names.
        expstart, expend : float, optional
            MJD of the exposure start and end.
        idcscale : float, optional
            Pixel scale (arcsec) to use for the default output frame.

        Returns
        -------
        Exposure
        """
        from . import argcheck

        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"'name' must be a non-empty string; got {name!r}")
        many = isinstance(sci, (list, tuple))
        scis = list(sci) if many else [sci]
        n = len(scis)
        if n == 0:
            raise ValueError("'sci' holds no chips")

        def per_chip(arg, what):
            if arg is None:
                return [None] * n
            if many:
                if not isinstance(arg, (list, tuple)) or len(arg) != n:
                    raise ValueError(f"'{what}' must be a sequence of {n} (one per chip)")
                return list(arg)
            return [arg]

        wcss, errs, dqs = per_chip(wcs, "wcs"), per_chip(err, "err"), per_chip(dq, "dq")
        exptime = argcheck.real("exptime", exptime, above=0.0)
        gain = argcheck.real("gain", gain, above=0.0)
        rdnoise = argcheck.real("rdnoise", rdnoise, minimum=0.0)
        if idcscale is not None:
            idcscale = argcheck.real("idcscale", idcscale, above=0.0)
        if not isinstance(units, str):
            raise ValueError(f"'units' must be a string; got {units!r}")
        chips = []
        for k in range(n):
            label = f"{name}[chip {k + 1}]"
            s = _readonly(argcheck.image(f"sci[{k}]" if many else "sci", np.asarray(scis[k])))
            if s.dtype.kind not in "fiu":
                raise ValueError(f"{label}: science data must be real numbers; got {s.dtype}")
            e = None if errs[k] is None else _readonly(argcheck.image("err", np.asarray(errs[k]), s.shape))
            d = None
            if dqs[k] is not None:
                d = _readonly(argcheck.image("dq", np.asarray(dqs[k]), s.shape))
                if d.dtype.kind not in "iu":
                    raise ValueError(f"{label}: dq must hold integers; got {d.dtype}")
            w = wcss[k]
            if not isinstance(w, WCS):
                raise ValueError(f"{label}: 'wcs' must be an astropy.wcs.WCS; got {type(w).__name__}")
            if not (w.has_celestial and w.naxis == 2):
                raise ValueError(f"{label}: 'wcs' must be a 2-D celestial WCS")
            w = w.deepcopy()
            w.array_shape = s.shape
            chips.append(Chip(s, e, d, w, k + 1, label, gain, rdnoise, units,
                              "/s" in units.lower(), idcscale=idcscale, header_cards=""))
        return cls(tuple(chips), exptime, None, name, "", "", expstart, expend, None, "")


def _readonly(a):
    if a is None:
        return None
    v = a.view()
    v.flags.writeable = False
    return v


def _ext_data(hdu, label):
    """Image data of an HDU: stored data, or an HST constant array (PIXVALUE)."""
    try:
        data = hdu.data
    except (TypeError, ValueError, OSError, MemoryError) as exc:  # astropy's words name no file
        raise OSError(f"{label}: cannot read the data: {exc}") from None
    if data is not None:
        return data
    h = hdu.header
    if "PIXVALUE" in h and "NPIX1" in h and "NPIX2" in h:
        shape = (int(h["NPIX2"]), int(h["NPIX1"]))
        value, bitpix = h["PIXVALUE"], h.get("BITPIX", -32)
        if bitpix < 0 or not float(value).is_integer():
            dtype = np.float64 if bitpix == -64 else np.float32
        else:
            dtype = np.int16 if bitpix == 16 and -32768 <= value < 32768 else np.int32
        return np.broadcast_to(np.asarray(value, dtype=dtype), shape)
    raise ValueError(f"{label}: extension has no image data")


def _average_nonzero(values):
    nonzero = [v for v in values if v != 0.0]
    return sum(nonzero) / len(nonzero) if nonzero else 0.0


def _is_number(value):
    """A FITS number: int or float, not a logical (``T`` reads as True) nor a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _keyword_value(keywords, headers, what, label):
    """Average of the non-zero values of comma-separated keywords (first header that has all)."""
    names = [k.strip().upper() for k in keywords.split(",") if k.strip()]
    for header in headers:
        if all(k in header for k in names):
            bad = [f"{k} = {header[k]!r}" for k in names if not _is_number(header[k])]
            if bad:
                raise ValueError(f"{label}: {what} keyword {', '.join(bad)} is not a number")
            return _average_nonzero([float(header[k]) for k in names])
    missing = [k for k in names if not any(k in h for h in headers)]
    param = {"gain": "gain", "read noise": "rdnoise", "exposure time": "exptime"}[what]
    raise ValueError(f"{label}: {what} keyword(s) {','.join(missing)} not found in the header "
                     f"(give the '{param}' parameter or a keyword parameter)")


def _instrument_value(value, keyword, default_keyword, default_value, headers, what, label):
    if value is not None:
        return value
    if keyword:
        return _keyword_value(keyword, headers, what, label)
    if default_keyword:
        return _keyword_value(default_keyword, headers, what, label)
    return default_value


def _find_wcs_key(header, wcskey, label):
    """astropy key (' ' or A-Z) of the WCS selected by ``wcskey`` (letter or WCSNAME)."""
    if not wcskey:
        return " "
    if len(wcskey) == 1 and wcskey.upper().isalpha():
        key = wcskey.upper()
        if f"CTYPE1{key}" not in header and f"CRVAL1{key}" not in header:
            raise ValueError(f"{label}: alternate WCS '{key}' not found (wcskey={wcskey!r})")
        return key
    for key in " ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        name = header.get("WCSNAME" + key.strip())
        if isinstance(name, str) and name.strip().upper() == wcskey.strip().upper():
            return key
    raise ValueError(f"{label}: no WCS named {wcskey!r} (wcskey)")


def _chip_wcs(header, hdul, key, coeffs, shape, label):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            w = WCS(header, hdul, key=key)
        except Exception as exc:  # astropy raises several types for broken WCS keywords
            raise ValueError(f"{label}: cannot read the WCS: {exc}") from None
    if not (w.has_celestial and w.naxis == 2 and w.celestial.naxis == 2):
        raise ValueError(f"{label}: no celestial WCS (need 2 celestial axes; CTYPE = "
                         f"{list(w.wcs.ctype)})")
    if not coeffs:
        w = linear_wcs(w)
    w.array_shape = shape
    return w


def _float_or_none(header, key):
    v = header.get(key)
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v)):
        return float(v)
    return None


def _units(header, primary, generic):
    bunit = header.get("BUNIT")
    if generic and not isinstance(bunit, str):
        bunit = primary.get("BUNIT")
    if not isinstance(bunit, str) or not bunit.strip() or "ergs" in bunit.lower():
        return "ELECTRONS/S"
    return bunit.strip()


def _science_hdus(hdul, filename):
    """[(hdu_index, chip_number, extname)] of the chips, and whether it is an SCI layout."""
    sci = [(i, h.header.get("EXTVER", 1)) for i, h in enumerate(hdul)
           if i > 0 and str(h.header.get("EXTNAME", "")).strip().upper() == "SCI"]
    if sci:
        versions = [v for _, v in sci]
        if len(set(versions)) != len(versions):
            raise ValueError(f"{filename}: SCI extensions with the same EXTVER {versions}")
        return [(i, int(v), "SCI") for i, v in sorted(sci, key=lambda t: t[1])], True
    chips, first_problem = [], None
    for i, h in enumerate(hdul):
        if not isinstance(h, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
            continue
        if h.header.get("NAXIS", 0) != 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            try:
                celestial = WCS(h.header).has_celestial
            except Exception:
                celestial = False
        extname = str(h.header.get("EXTNAME", "PRIMARY" if i == 0 else i)).strip()
        if celestial:
            chips.append((i, len(chips) + 1, extname))
        elif first_problem is None:
            first_problem = f"{filename}[{extname}]"
    if not chips:
        detail = f" ({first_problem} has no celestial WCS)" if first_problem else ""
        raise ValueError(f"{filename}: no 2-D image extension with a celestial WCS{detail}")
    return chips, False


def _companion(hdul, extname, extver, shape, filename, kind):
    try:
        hdu = hdul[extname, extver]
    except KeyError:
        return None
    label = f"{filename}[{extname},{extver}]"
    data = _ext_data(hdu, label)
    if data.ndim != 2 or tuple(data.shape) != tuple(shape):
        raise ValueError(f"{label}: shape {tuple(data.shape)} does not match the science "
                         f"array {tuple(shape)}")
    if kind == "dq" and data.dtype.kind not in "iu":
        raise ValueError(f"{label}: DQ must hold integers; got {data.dtype}")
    return _readonly(data)


def _load_ivm(ivm_file, chips_meta, single, filename):
    """{chip: array} from an IVM file (IVM extensions by EXTVER, or a lone image)."""
    out = {}
    hdul = open_fits(ivm_file, "IVM file", filename)
    with hdul:
        for chip, shape in chips_meta:
            try:
                hdu = hdul["IVM", chip]
                label = f"{ivm_file}[IVM,{chip}]"
            except KeyError:
                if single and hdul[0].header.get("NAXIS", 0) == 2:
                    hdu, label = hdul[0], f"{ivm_file}[0]"
                else:
                    raise ValueError(f"{ivm_file}: no IVM extension for chip {chip} of {filename}") from None
            data = _ext_data(hdu, label)
            if tuple(data.shape) != tuple(shape):
                raise ValueError(f"{label}: shape {tuple(data.shape)} does not match {filename} "
                                 f"chip {chip} {tuple(shape)}")
            out[chip] = _readonly(data)
    return out


def _check_flags(exposure, bits, resetbits):
    """Warn for chips with no good pixel; ValueError when no chip has one."""
    empty = []
    for c in exposure.chips:
        if c.dq is None:
            return
        # a few rows at a time: the first good pixel ends the search
        rows = max(1, (1 << 20) // max(c.dq.shape[1], 1))
        if not any(good_pixel_mask(c.dq[r:r + rows], bits, reset=resetbits or 0).any()
                   for r in range(0, c.dq.shape[0], rows)):
            empty.append(c)
    if not empty:
        return
    names = ", ".join(c.label.replace("[SCI,", "[DQ,") for c in empty)
    if len(empty) == len(exposure.chips):
        raise ValueError(f"{exposure.label}: every pixel is flagged in {names} "
                         f"(DQ with acceptable bits {bits})")
    for c in empty:
        log.warning("%s: every pixel is flagged (DQ with acceptable bits %d); the chip adds nothing",
                    c.label.replace("[SCI,", "[DQ,"), bits)


def load_exposure(filename, params=None, *, ivm_file=None, check_flags=True, **kwargs) -> Exposure:
    """Read one input file into an :class:`Exposure`.

    Parameters
    ----------
    filename : str or os.PathLike
        FITS file (HST FLT/FLC or generic).
    params : gpudrizzle.params.Parameters, optional
        Resolved parameters; used: ``group``, ``wcskey``, ``coeffs``,
        ``gain``/``gnkeyword``, ``rdnoise``/``rnkeyword``,
        ``exptime``/``expkeyword``, ``final_bits`` and ``resetbits`` (for
        the flagged-pixel check).
    ivm_file : str, optional
        IVM file of this exposure (from an ``@list``).
    check_flags : bool
        Read the DQ arrays and raise if no pixel is good under
        ``final_bits`` (after ``resetbits``).
    **kwargs
        Parameter values overriding ``params`` (e.g. ``gain=2.0``).

    Returns
    -------
    Exposure

    Raises
    ------
    OSError
        Missing or unreadable file (also of ``ivm_file``).
    ValueError
        See the module docstring; messages name the file and extension.
    """
    if kwargs or not isinstance(params, Parameters):
        params = resolve_parameters(kwargs, base=params)
    filename = os.fspath(filename)
    hdul = open_fits(filename)
    if _has_scaled_images(hdul):  # astropy scales no memory-mapped data (unsigned DQ, BSCALE)
        hdul.close()
        hdul = open_fits(filename, memmap=False)
    with hdul:
        exposure = _read(hdul, filename, params, ivm_file)
    if check_flags:
        _check_flags(exposure, params["final_bits"], params["resetbits"])
        exposure.release_pages()  # the DQ pages read: loading many files keeps none resident
    return exposure


def _has_scaled_images(hdul):
    """True when an image HDU stores scaled values (BZERO, BSCALE or BLANK in its header)."""
    return any(isinstance(h, (fits.PrimaryHDU, fits.ImageHDU))
               and any(k in h.header for k in ("BZERO", "BSCALE", "BLANK")) for h in hdul)


def _check_exptime(exptime, params, filename):
    if not (isinstance(exptime, float) and math.isfinite(exptime) and exptime > 0.0):
        source = (f"parameter exptime={params['exptime']}" if params["exptime"] is not None
                  else f"keyword {params['expkeyword'] or 'EXPTIME'}")
        raise ValueError(f"{filename}: exposure time must be > 0; got {exptime} ({source})")


_USE_INSTEAD = ("resample it with the jwst pipeline's resample step (jwst.resample.ResampleStep), "
                "or drizzle its arrays with gpudrizzle.Drizzle and a pixel map from "
                "gpudrizzle.calc_pixmap(gwcs_in, gwcs_out)")


def _surface_brightness(bunit):
    """True for a flux-density or surface-brightness unit (Jy, MJy/sr, ...): not counts or rates."""
    unit = str(bunit).strip().lower().replace(" ", "")
    return "jy" in unit or unit.endswith("/sr") or "/sr/" in unit or "sr-1" in unit


def _refuse_unsupported(hdul, filename):
    """ValueError for inputs that AstroDrizzle-style reading would get wrong.

    JWST files (``TELESCOP='JWST'`` or an ``ASDF`` extension) keep their
    distortion as a gwcs model in ASDF, which a FITS WCS cannot express;
    data in Jy or MJy/sr are not counts or count rates, which every step
    here assumes.  Both would be drizzled with a TAN-only WCS and wrong units.
    """
    telescope = str(hdul[0].header.get("TELESCOP", "")).strip().upper()
    extnames = {str(h.header.get("EXTNAME", "")).strip().upper() for h in hdul[1:]}
    if telescope == "JWST" or "ASDF" in extnames:
        what = "TELESCOP='JWST'" if telescope == "JWST" else "an ASDF extension"
        raise ValueError(f"{filename}: JWST data ({what}) is not supported by the AstroDrizzle "
                         "front: its WCS is a gwcs model stored in ASDF, not FITS keywords, and "
                         f"its units are MJy/sr; {_USE_INSTEAD}")
    for i, h in enumerate(hdul):
        bunit = h.header.get("BUNIT")
        if isinstance(bunit, str) and _surface_brightness(bunit):
            extname = str(h.header.get("EXTNAME", "PRIMARY" if i == 0 else i)).strip()
            raise ValueError(f"{filename}[{extname}]: BUNIT={bunit.strip()!r} is not supported: "
                             "the AstroDrizzle steps need counts, electrons or their rates; "
                             f"for such data {_USE_INSTEAD}")


def _read(hdul, filename, params, ivm_file):
    _refuse_unsupported(hdul, filename)
    primary = hdul[0].header
    telescope = str(primary.get("TELESCOP", "")).strip().upper()
    instrument = str(primary.get("INSTRUME", "")).strip().upper()
    detector = str(primary.get("DETECTOR", "")).strip().upper()
    supported = _detectors_of(instrument)
    if (telescope == "HST" or supported) and instrument in _OTHER_HST:
        every = ", ".join(f"{i} {'/'.join(_detectors_of(i))}"
                          for i in dict.fromkeys(i for i, _ in DETECTORS))
        raise ValueError(f"{filename}: HST instrument {instrument} is not supported "
                         f"(supported: {every})")
    if supported and detector not in supported:
        raise ValueError(f"{filename}: {instrument} detector {detector!r} is not supported "
                         f"(supported: {', '.join(supported)})")
    row = DETECTORS.get((instrument, detector), GENERIC)
    hst = row.hst

    chips_found, sci_layout = _science_hdus(hdul, filename)
    if params["group"] is not None:
        wanted = set(params["group"])
        available = {c for _, c, _ in chips_found}
        missing = sorted(wanted - available)
        if missing:
            raise ValueError(f"{filename}: group {missing} not found (chips: {sorted(available)})")
        chips_found = [t for t in chips_found if t[1] in wanted]

    headers_primary = [primary]
    exptime = None
    if hst:
        exptime = _instrument_value(params["exptime"], params["expkeyword"], "EXPTIME", None,
                                    headers_primary, "exposure time", filename)
        _check_exptime(exptime, params, filename)

    chips, chip_meta = [], []
    for index, chip, extname in chips_found:
        hdu = hdul[index]
        label = f"{filename}[{extname},{chip}]" if sci_layout else f"{filename}[{extname}]"
        header = hdu.header
        data = _ext_data(hdu, label)
        if data.ndim != 2:
            raise ValueError(f"{label}: science data must be 2-D; got shape {tuple(data.shape)}")
        if data.dtype.kind not in "fiu":
            raise ValueError(f"{label}: science data must be real numbers; got {data.dtype}")
        shape = tuple(data.shape)
        key = _find_wcs_key(header, params["wcskey"], label)
        wcs = _chip_wcs(header, hdul, key, params["coeffs"], shape, label)

        search = headers_primary if hst else [header, primary]
        gain = _instrument_value(params["gain"], params["gnkeyword"], row.gain_keywords,
                                 row.gain_default, search, "gain", label)
        rdnoise = _instrument_value(params["rdnoise"], params["rnkeyword"], row.rdnoise_keywords,
                                    row.rdnoise_default, search, "read noise", label)
        if not hst:
            chip_exptime = _instrument_value(params["exptime"], params["expkeyword"], "EXPTIME", None,
                                             search, "exposure time", label)
            if exptime is None:
                exptime = chip_exptime
            elif chip_exptime != exptime:
                raise ValueError(f"{label}: exposure time {chip_exptime} differs from the first "
                                 f"chip's {exptime}")
        if not gain > 0.0:
            raise ValueError(f"{label}: gain must be > 0; got {gain}")
        if not rdnoise >= 0.0:
            raise ValueError(f"{label}: read noise must be >= 0; got {rdnoise}")

        units = _units(header, primary, not hst)
        err = dq = time = None
        if sci_layout:
            err = _companion(hdul, "ERR", chip, shape, filename, "err")
            dq = _companion(hdul, "DQ", chip, shape, filename, "dq")
            if row.time_extension:
                time = _companion(hdul, "TIME", chip, shape, filename, "time")
        v2, v3 = _float_or_none(header, "IDCV2REF"), _float_or_none(header, "IDCV3REF")
        chips.append(dict(
            sci=_readonly(data), err=err, dq=dq, wcs=wcs, chip=chip, label=label,
            gain=float(gain), rdnoise=float(rdnoise), units=units, is_rate="/s" in units.lower(),
            cte_dir=row.cte_dir(chip, primary),
            idcscale=_float_or_none(header, "IDCSCALE"),
            darkcurrent=_float_or_none(header, "MEANDARK"), time=time,
            v2v3ref=(v2, v3) if v2 is not None and v3 is not None else None,
            idctheta=_float_or_none(header, "IDCTHETA"), pa_v3=_float_or_none(primary, "PA_V3"),
            parity=row.parity, header_cards=_cards(header)))
        chip_meta.append((chip, shape))

    _check_exptime(exptime, params, filename)

    if ivm_file is not None:
        ivms = _load_ivm(os.fspath(ivm_file), chip_meta, len(chip_meta) == 1, filename)
        for c in chips:
            c["ivm"] = ivms[c["chip"]]

    rootname = primary.get("ROOTNAME")
    rootname = (rootname.strip().lower() if isinstance(rootname, str) and rootname.strip()
                else os.path.basename(rootname_of(filename)))
    return Exposure(tuple(Chip(**c) for c in chips), float(exptime), filename, rootname,
                    instrument, detector, _float_or_none(primary, "EXPSTART"),
                    _float_or_none(primary, "EXPEND"),
                    None if ivm_file is None else os.fspath(ivm_file), _cards(primary))


def load_exposures(input_list, params=None, **kwargs) -> list[Exposure]:
    """Read every file of an :class:`gpudrizzle.inputs.InputList`.

    Parameters
    ----------
    input_list : gpudrizzle.inputs.InputList
    params : gpudrizzle.params.Parameters, optional
    **kwargs
        Parameter overrides.

    Returns
    -------
    list of Exposure
    """
    if kwargs or not isinstance(params, Parameters):
        params = resolve_parameters(kwargs, base=params)
    return [load_exposure(f, params, ivm_file=ivm)
            for f, ivm in zip(input_list.files, input_list.ivm_files)]


# ---------------------------------------------------------------------------
# in-memory inputs

#: DQ flag given to the masked pixels (``mask`` True) of an NDData/CCDData input.
MASK_FLAG = 32768

_ARRAY_KEYS = ("sci", "wcs", "exptime", "err", "dq", "gain", "rdnoise", "units", "name",
               "expstart", "expend", "idcscale")


def _is_nddata(item):
    from astropy.nddata import NDData
    return isinstance(item, NDData)


def _is_array_pair(item):
    return (isinstance(item, tuple) and len(item) in (2, 3) and hasattr(item[0], "shape")
            and isinstance(item[1], WCS))


def is_in_memory(item):
    """True for one in-memory input: an :class:`Exposure`, an ``astropy.io.fits.HDUList``,
    an ``NDData``/``CCDData``, a dict of :meth:`Exposure.from_arrays` arguments, or a tuple
    ``(array, wcs)`` / ``(array, wcs, exptime)``."""
    return (isinstance(item, (Exposure, fits.HDUList, dict)) or _is_nddata(item)
            or _is_array_pair(item))


def in_memory_items(value):
    """The in-memory inputs of an ``input`` value as a list, or None when it names files.

    Parameters
    ----------
    value : object
        One in-memory input (:func:`is_in_memory`) or a list/tuple of them;
        anything else (file names) gives None.

    Returns
    -------
    list or None

    Raises
    ------
    ValueError
        A list that mixes in-memory data with other items (file names).
    """
    if is_in_memory(value):
        return [value]
    if not isinstance(value, (list, tuple)) or not value:
        return None
    flags = [is_in_memory(v) for v in value]
    if not any(flags):
        return None
    if not all(flags):
        other = next(v for v, f in zip(value, flags) if not f)
        raise ValueError("'input' mixes in-memory data with other items (item "
                         f"{flags.index(False) + 1} is a {type(other).__name__}); give either "
                         "file names or in-memory data (Exposure, HDUList, NDData, "
                         "(array, wcs), dict)")
    return list(value)


def to_exposure(item, params=None, *, name="input1", check_flags=True, **kwargs):
    """An :class:`Exposure` from in-memory data, read with the rules of :func:`load_exposure`.

    Parameters
    ----------
    item : Exposure, astropy.io.fits.HDUList, astropy.nddata.NDData, dict or tuple
        * ``Exposure``: returned as it is (``params`` are not applied).
        * ``HDUList``: read exactly as a file of that layout (HST SCI/ERR/DQ
          extensions with the primary header, or generic images with a
          celestial WCS); ``group``, ``wcskey``, ``coeffs``, gain, read-noise
          and exposure-time parameters apply.
        * ``NDData``/``CCDData``: ``data`` (2-D), ``wcs`` (an
          ``astropy.wcs.WCS``, distortion kept), ``uncertainty`` (standard
          deviation, variance or inverse variance) as ERR, integer ``flags``
          as DQ and ``mask`` (True: bad) as DQ flag :data:`MASK_FLAG`;
          ``unit`` as BUNIT; ``meta`` holds EXPTIME (or the ``expkeyword``
          keyword) and optionally GAIN-style keywords named by the parameters.
        * dict: keyword arguments of :meth:`Exposure.from_arrays` (``sci``,
          ``wcs``, ``exptime``, ``err``, ``dq``, ...).
        * ``(array, wcs)`` or ``(array, wcs, exptime)``.
        For dicts and tuples a missing exptime, gain or read noise is taken
        from the parameters of those names.
    params : gpudrizzle.params.Parameters, optional
    name : str
        Rootname used when the data carry none (ROOTNAME of an HDUList or
        ``meta``; ``name`` of a dict), and in messages.
    check_flags : bool
        As in :func:`load_exposure`.
    **kwargs
        Parameter overrides.

    Returns
    -------
    Exposure
        ``filename`` is None: nothing is written back to in-memory inputs.

    Raises
    ------
    ValueError
        No celestial WCS, no exposure time (the message names the missing
        item), shapes that differ, data that are not images; see
        :func:`load_exposure`.
    TypeError
        ``item`` is none of the forms above.
    """
    if isinstance(item, Exposure):
        return item
    if kwargs or not isinstance(params, Parameters):
        params = resolve_parameters(kwargs, base=params)
    if isinstance(item, fits.HDUList):
        exposure = _from_hdulist(item, params, name)
    elif _is_nddata(item):
        exposure = _from_nddata(item, params, name)
    elif isinstance(item, dict):
        exposure = _from_dict(dict(item), params, name)
    elif _is_array_pair(item):
        keys = ("sci", "wcs", "exptime")[:len(item)]
        exposure = _from_dict(dict(zip(keys, item)), params, name)
    else:
        raise TypeError(f"in-memory input {name} must be an Exposure, an HDUList, an NDData, "
                        f"a dict or (array, wcs); got {type(item).__name__}")
    if check_flags:
        _check_flags(exposure, params["final_bits"], params["resetbits"])
    return exposure


def _hdulist_label(hdul, name):
    try:
        path = hdul.filename()
    except Exception:  # an HDUList built in memory has no file
        path = None
    return os.path.basename(path) if path else name


def _from_hdulist(hdul, params, name):
    if len(hdul) == 0:
        raise ValueError(f"{name}: the HDUList is empty")
    label = _hdulist_label(hdul, name)
    exposure = _read(hdul, label, params, None)
    rootname = exposure.rootname if "ROOTNAME" in hdul[0].header else name
    return _replace(exposure, filename=None, rootname=rootname)


def _meta_header(meta, label):
    """A FITS header of the scalar entries of an NDData's ``meta`` (dict or Header)."""
    if isinstance(meta, fits.Header):
        return meta.copy(strip=True)
    header = fits.Header()
    for key, value in (meta or {}).items():
        if not isinstance(key, str) or not isinstance(value, (str, numbers.Real)):
            continue
        try:
            header[key] = value
        except (ValueError, TypeError, KeyError):  # not a FITS keyword or value: skipped
            log.debug("%s: meta[%r] is not a FITS card; not used", label, key)
    return header


def _bunit(unit, label):
    import astropy.units as u
    if unit is None:
        return None
    for names, value in (((u.electron,), "ELECTRONS"), ((u.electron / u.s,), "ELECTRONS/S"),
                         ((u.count, u.adu), "COUNTS"), ((u.count / u.s, u.adu / u.s), "COUNTS/S")):
        if any(unit == n for n in names):
            return value
    return unit.to_string("fits")  # Jy and the like are refused by _refuse_unsupported


def _error_from(uncertainty, shape, label):
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty
    if uncertainty is None:
        return None
    a = np.asarray(uncertainty.array, dtype=np.float32)
    if a.shape != tuple(shape):
        raise ValueError(f"{label}: uncertainty shape {a.shape} does not match the data "
                         f"{tuple(shape)}")
    if isinstance(uncertainty, StdDevUncertainty):
        return a
    if isinstance(uncertainty, VarianceUncertainty):
        return np.sqrt(np.maximum(a, 0))
    if isinstance(uncertainty, InverseVariance):
        with np.errstate(divide="ignore"):
            return (1.0 / np.sqrt(np.maximum(a, 0))).astype(np.float32)
    raise ValueError(f"{label}: uncertainty of type {type(uncertainty).__name__} is not "
                     "supported (use StdDevUncertainty, VarianceUncertainty or InverseVariance)")


def _dq_from(nd, shape, label):
    flags, mask = getattr(nd, "flags", None), nd.mask
    dq = None
    if flags is not None:
        flags = np.asarray(flags)
        if flags.dtype.kind not in "iu" or flags.shape != tuple(shape):
            raise ValueError(f"{label}: flags must be an integer array of shape {tuple(shape)}; "
                             f"got {flags.dtype} {flags.shape}")
        dq = flags
    if mask is not None and mask is not False:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), shape)
        base = np.zeros(shape, np.int32) if dq is None else dq.astype(np.int32)
        dq = base | np.where(mask, np.int32(MASK_FLAG), np.int32(0))
    return dq


def _from_nddata(nd, params, name):
    meta = getattr(nd, "meta", None) or {}
    label = name
    data = np.asarray(nd.data)
    if data.ndim != 2:
        raise ValueError(f"{label}: NDData data must be 2-D; got shape {data.shape}")
    w = nd.wcs
    if w is None:
        raise ValueError(f"{label}: the NDData has no WCS (give wcs=astropy.wcs.WCS(...))")
    w = getattr(w, "low_level_wcs", w)  # a sliced wrapper: its underlying WCS
    if not isinstance(w, WCS):
        raise ValueError(f"{label}: the NDData's wcs must be an astropy.wcs.WCS; got "
                         f"{type(w).__name__}")
    if not (w.has_celestial and w.naxis == 2):
        raise ValueError(f"{label}: no celestial WCS in the NDData (need 2 celestial axes; "
                         f"CTYPE = {list(w.wcs.ctype)})")
    primary = _meta_header(meta, label)
    keyword = params["expkeyword"] or "EXPTIME"
    if params["exptime"] is None and not all(k.strip().upper() in primary
                                             for k in keyword.split(",") if k.strip()):
        raise ValueError(f"{label}: no exposure time: meta has no {keyword} (give "
                         f"meta['{keyword}'] or the 'exptime' parameter)")
    if "ROOTNAME" not in primary:
        primary["ROOTNAME"] = name
    sci_header = fits.Header()
    bunit = _bunit(getattr(nd, "unit", None), label)
    if bunit is not None:
        sci_header["BUNIT"] = bunit
    sci_header.update(w.to_header(relax=True))
    sci_header["EXTNAME"], sci_header["EXTVER"] = "SCI", 1
    hdus = [fits.PrimaryHDU(header=primary), fits.ImageHDU(data, header=sci_header)]
    err = _error_from(nd.uncertainty, data.shape, label)
    if err is not None:
        hdus.append(fits.ImageHDU(err, name="ERR", ver=1))
    dq = _dq_from(nd, data.shape, label)
    if dq is not None:
        hdus.append(fits.ImageHDU(dq, name="DQ", ver=1))
    exposure = _read(fits.HDUList(hdus), label, params, None)
    # the WCS object itself, not its FITS keywords: lookup-table distortion is kept
    chip = exposure.chips[0]
    w = w.deepcopy() if params["coeffs"] else linear_wcs(w)
    w.array_shape = data.shape
    chip = _replace(chip, wcs=w, label=f"{label}[chip 1]")
    return _replace(exposure, chips=(chip,), filename=None)


def _from_dict(d, params, name):
    unknown = sorted(set(d) - set(_ARRAY_KEYS))
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {unknown} in an in-memory input "
                         f"(accepted: {', '.join(_ARRAY_KEYS)})")
    for key in ("sci", "wcs"):
        if key not in d:
            raise ValueError(f"{name}: an in-memory input needs {key!r}")
    if d.get("exptime") is None:
        if params["exptime"] is None:
            raise ValueError(f"{name}: no exposure time: give (array, wcs, exptime), "
                             "{'exptime': ...} or the 'exptime' parameter")
        d["exptime"] = params["exptime"]
    for key in ("gain", "rdnoise"):
        if d.get(key) is None and params[key] is not None:
            d[key] = params[key]
    d.setdefault("name", name)
    if not params["coeffs"]:
        wcs = d["wcs"]
        d["wcs"] = [linear_wcs(w) for w in wcs] if isinstance(wcs, (list, tuple)) else linear_wcs(wcs)
    return Exposure.from_arrays(**d)
