"""TweakReg's header updates: a fit in the reference frame turned into new chip WCSs, in place.

A TweakReg fit is measured in the pixels of the reference tangent plane (an
undistorted TAN frame).  :func:`corrected_linear_wcs` turns it into the new
linear part (CRVAL, CD) of each chip's WCS, as drizzlepac 3.11's
``updatehdr.update_refchip_with_shift`` computes it; the distortion (SIP,
lookup tables, CRPIX) is left as it is.  :func:`update_headers` writes the new
WCSs into a file, archiving the previous primary WCS as an alternate WCS the
way ``stwcs.wcsutil.altwcs.archive_wcs`` does, and nothing else.

Fit convention
--------------
A fit is a 2x2 matrix ``M`` and a shift ``d`` (reference pixels) such that a
source the current WCS puts at ``q`` (0-based reference-frame pixels) truly
lies at::

    q_corrected = M @ (q - c) + c + d

where ``c`` is the reference frame's CRPIX in 0-based pixels (``CRPIX - 1``).
drizzlepac states its fits the other way round, from the corrected position
to the current one, as a matrix ``F`` (``fit``, its ``fit_matrix``) and an
offset ``(xsh, ysh)``: ``q = F.T @ (q_corrected - c) + c + (xsh, ysh)``.  So
``M = inv(F.T)`` and ``d = -M @ (xsh, ysh)``; :func:`from_drizzlepac_fit` and
:func:`to_drizzlepac_fit` convert between the two.

What :func:`update_headers` writes (each SCI header)
----------------------------------------------------
* the previous primary WCS as alternate WCS ``k``: the first letter A-Z not
  used by any alternate WCS (a letter is used when one of WCSNAMEk, CTYPE1k,
  CRPIX1k, CRVAL1k, RADESYSk exists), named WCSNAMEk = the old WCSNAME (or
  ``PRE-TWEAKREG`` when the header had none, as TweakReg names it;
  ``ARCHIVED_WCS`` when it was blank).  When an alternate WCS already has that
  name, the archived one is renamed ``NAME-1``, ``NAME-2``, ... (stwcs
  ``AUTO_RENAME``), and when that alternate is identical to the primary WCS
  its key is reused.  The cards are those of astropy's ``WCS.to_header`` for
  the primary WCS with the key appended (WCSAXES, CRPIX, CUNIT, CTYPE (kept
  with its ``-SIP``), CRVAL, CRDER when present, RADESYS, the CD matrix), and
  the TweakReg keywords WCSTYPE, RMS_RA, RMS_DEC, NMATCH, FITNAME, HDRNAME
  when present; appended at the end of the header.  Not written, unlike
  drizzlepac: an unkeyed ``MJDREF = 0.0`` card (astropy adds it) and a
  WCSCORR table extension.
* the new primary WCS: CRVAL1/2 and CD1_1..CD2_2 (values replaced in place),
  WCSNAME, WCSTYPE (drizzlepac's description of the name, ``user-defined``
  for TWEAK), ORIENTAT (``atan2(CD1_2, CD2_2)`` in degrees), and, when fit
  keywords are given, CRDER1/CRDER2 = RMS_RA/RMS_DEC, FITNAME = wcsname and
  RMS_RA, RMS_DEC, NMATCH (as ``imgclasses.updateHeader`` writes them, each
  right after FITNAME).
* when the primary WCSNAME already is ``wcsname`` and ``reusename=True``, the
  primary WCS is overwritten without archiving it (drizzlepac does the same).
"""

import os
import re
import shutil
import string
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from . import files
from .distortion import linear_wcs

__all__ = ["corrected_linear_wcs", "from_drizzlepac_fit", "to_drizzlepac_fit",
           "update_headers", "update_files", "check_wcsname", "check_updatable", "wcsname_type", "DEFAULT_WCSNAME"]

#: WCSNAME of a new TweakReg solution when none is given
DEFAULT_WCSNAME = "TWEAK"
#: name TweakReg gives a primary WCS that had no WCSNAME before it archives it
_PRE_TWEAKREG = "PRE-TWEAKREG"
#: name stwcs gives an archived WCS whose WCSNAME was blank
_ARCHIVED = "ARCHIVED_WCS"
#: non-standard keywords archived with a WCS (stwcs STWCS_KWDS)
_TWEAK_KEYWORDS = ("WCSTYPE", "RMS_RA", "RMS_DEC", "NMATCH", "FITNAME", "HDRNAME")
#: keywords that say an alternate WCS letter is in use (stwcs wcskeys)
_KEY_MARKERS = ("WCSNAME", "CTYPE1", "CRPIX1", "CRVAL1", "RADESYS")
#: keywords of a WCS that an alternate WCS holds under its key letter (wcslib's keyed set)
_KEYED = re.compile(r"WCSAXES|CRPIX\d|CDELT\d|CUNIT\d|CTYPE\d|CRVAL\d|CROTA\d|PC\d_\d|CD\d_\d|"
                    r"PV\d_\d+|PS\d_\d+|CRDER\d|CSYER\d|LONPOLE|LATPOLE|RESTFRQ|RESTWAV|"
                    r"RADESYS|EQUINOX|WCSNAME|SPECSYS|SSYSOBS|VELOSYS|ZSOURCE|SSYSSRC|VELANGL")
#: WCSLIB keywords HST keeps in the primary header, not archived
_NOT_ARCHIVED = ("EQUINOX", "LONPOLE", "LATPOLE", "RESTWAV", "RESTFRQ")
_FIT_KEYWORDS = ("RMS_RA", "RMS_DEC", "NMATCH")
_CD_COMMENTS = {"CD1_1": "partial of first axis coordinate w.r.t. x",
                "CD1_2": "partial of first axis coordinate w.r.t. y",
                "CD2_1": "partial of second axis coordinate w.r.t. x",
                "CD2_2": "partial of second axis coordinate w.r.t. y"}


# ---------------------------------------------------------------------------
# fits and the linear WCS


def _matrix_shift(matrix, shift):
    m = np.asarray(matrix, dtype=np.float64)
    d = np.asarray(shift, dtype=np.float64)
    if m.shape != (2, 2) or not np.all(np.isfinite(m)):
        raise ValueError(f"matrix must be a finite 2x2 array, got shape {m.shape}")
    if d.shape != (2,) or not np.all(np.isfinite(d)):
        raise ValueError(f"shift must be 2 finite numbers (dx, dy), got shape {d.shape}")
    if abs(np.linalg.det(m)) < 1e-12:
        raise ValueError("matrix is singular (determinant ~0); not a valid fit")
    return m, d


def from_drizzlepac_fit(fit, xsh, ysh):
    """``(M, d)`` of this module's convention from drizzlepac's ``(fit_matrix, xsh, ysh)``.

    Parameters
    ----------
    fit : array_like, shape (2, 2)
        drizzlepac's ``fit_matrix`` (``linearfit.buildFitMatrix(rot, scale)``
        for shift and rscale fits).
    xsh, ysh : float
        drizzlepac's ``offset``.

    Returns
    -------
    matrix : ndarray, shape (2, 2), float64
    shift : ndarray, shape (2,), float64
    """
    f, s = _matrix_shift(fit, (xsh, ysh))
    m = np.linalg.inv(f.T)
    return m, -m @ s


def to_drizzlepac_fit(matrix, shift):
    """drizzlepac's ``(fit_matrix, xsh, ysh)`` from ``(M, d)``: :func:`from_drizzlepac_fit` undone.

    Returns
    -------
    fit : ndarray, shape (2, 2), float64
    xsh, ysh : float
    """
    m, d = _matrix_shift(matrix, shift)
    minv = np.linalg.inv(m)
    s = -minv @ d
    return minv.T, float(s[0]), float(s[1])


def _cd(w):
    if w.wcs.has_cd():
        return np.array(w.wcs.cd, dtype=np.float64)
    return np.array(w.wcs.get_pc(), dtype=np.float64) * np.asarray(w.wcs.cdelt)[:, None]


def corrected_linear_wcs(chip_wcs, ref_wcs, matrix, shift):
    """The chip's new CRVAL and CD for a fit measured in the reference frame.

    The same construction as drizzlepac's ``update_refchip_with_shift``: the
    chip's reference pixel is carried through its current linear WCS into the
    reference frame, corrected by the fit and carried back to the sky: that
    is the new CRVAL.  The new CD is the current one times the Jacobian (at
    CRPIX, 5-point central differences with drizzlepac's steps) of the map
    chip pixel -> current sky -> reference pixel -> fit -> sky -> chip pixel
    of the WCS with the new CRVAL.  CRPIX and the distortion do not change;
    like drizzlepac, only the linear WCS enters (``wcs_pix2world``).

    Parameters
    ----------
    chip_wcs : astropy.wcs.WCS
        The chip's WCS (SIP and lookup tables may be present; ignored here).
        Needs its ``pixel_shape`` (or ``array_shape``).
    ref_wcs : astropy.wcs.WCS
        The reference tangent plane (TAN, no distortion) the fit was measured in.
    matrix : array_like, shape (2, 2)
    shift : array_like, shape (2,)
        The fit, in this module's convention (see the module notes):
        ``q_corrected = matrix @ (q - c) + c + shift`` with ``c`` the
        reference CRPIX minus 1.

    Returns
    -------
    crval : ndarray, shape (2,), float64
        Degrees.
    cd : ndarray, shape (2, 2), float64
        Degrees per pixel.
    """
    m, d = _matrix_shift(matrix, shift)
    if chip_wcs.pixel_shape is None:
        raise ValueError("chip_wcs has no pixel_shape (NAXIS1, NAXIS2); set it first")
    old = linear_wcs(chip_wcs)
    ref = linear_wcs(ref_wcs)
    c = np.asarray(ref.wcs.crpix, dtype=np.float64) - 1.0
    crpix0 = np.asarray(old.wcs.crpix, dtype=np.float64) - 1.0

    def corrected(q):
        return (q - c) @ m.T + c + d

    q0 = ref.wcs_world2pix(old.wcs_pix2world(crpix0[None, :], 0), 0)
    crval = ref.wcs_pix2world(corrected(q0), 0)[0]
    new = old.deepcopy()
    new.wcs.crval = crval
    new.wcs.set()

    naxis1, naxis2 = chip_wcs.pixel_shape
    cx, cy = old.wcs.crpix
    hx = max(1.0, min(20.0, (cx - 1.0) / 100.0, (naxis1 - cx) / 100.0))
    hy = max(1.0, min(20.0, (cy - 1.0) / 100.0, (naxis2 - cy) / 100.0))
    steps = np.array([-1.0, -0.5, 0.5, 1.0])
    pts = np.concatenate([crpix0 + np.outer(steps * hx, [1.0, 0.0]),
                          crpix0 + np.outer(steps * hy, [0.0, 1.0])])
    q = ref.wcs_world2pix(old.wcs_pix2world(pts, 0), 0)
    p = new.wcs_world2pix(ref.wcs_pix2world(corrected(q), 0), 0)
    du_dx = ((p[0] - p[3]) + 8.0 * (p[2] - p[1])) / (6.0 * hx)
    du_dy = ((p[4] - p[7]) + 8.0 * (p[6] - p[5])) / (6.0 * hy)
    u = np.column_stack([du_dx, du_dy])
    cd = _cd(old) @ u
    return np.asarray(crval, dtype=np.float64), cd


def wcsname_type(wcsname):
    """drizzlepac's WCSTYPE for a WCSNAME (``user-defined`` unless it starts with IDC or OPU).

    Parameters
    ----------
    wcsname : str or None

    Returns
    -------
    str
    """
    if wcsname is None:
        return "not aligned"
    parts = wcsname.upper().split("-")
    base = {"IDC": "undistorted ", "OPU": "pipeline default "}.get(parts[0][:3])
    if base is None:
        return "user-defined"
    if len(parts) == 1:
        return base + "not aligned"
    term = parts[1]
    if "FIT" not in term:
        return base + f"a priori solution based on {term}"
    kinds = {"REL": "relatively aligned to {}", "IMG": "aligned image-by-image to {}",
             "EVM": "aligned by visit-exposures to {}", "SVM": "aligned by visit to {}"}
    sub = term.split("_")
    if len(sub) < 3 or sub[1] not in kinds:
        return "user-defined"
    return base + "a posteriori solution " + kinds[sub[1]].format(sub[2])


# ---------------------------------------------------------------------------
# alternate WCSs


def _alternate_names(header):
    """{key: WCSNAMEkey} of the alternate WCSs, without ``O`` when it is OPUS (stwcs)."""
    names = {}
    for card in header.cards:
        kw = card.keyword
        if len(kw) == 8 and kw.startswith("WCSNAME") and kw[7] in string.ascii_uppercase:
            names[kw[7]] = str(card.value)
    if names.get("O") == "OPUS":
        del names["O"]
    return names


def _used_keys(header):
    used = set()
    for card in header.cards:
        kw = card.keyword
        for marker in _KEY_MARKERS:
            if len(kw) == len(marker) + 1 and kw.startswith(marker) and \
                    kw[-1] in string.ascii_uppercase:
                used.add(kw[-1])
    return used


def _next_free_key(header, label):
    used = _used_keys(header)
    for key in string.ascii_uppercase:
        if key not in used:
            return key
    raise ValueError(f"{label}: all 26 alternate WCS keys A-Z are in use; cannot archive the "
                     "primary WCS")


def _increment_name(name, taken):
    """stwcs's AUTO_RENAME: ``name`` unchanged when free, else NAME-1, NAME-2, ..."""
    seps = ("-", "_", " ")
    taken_u = [t.upper() for t in taken]
    if name.upper() not in taken_u:
        return name

    def counters(root_u):
        found = {s: [] for s in seps}
        for t in taken_u:
            if t.startswith(root_u) and len(t) > len(root_u) and t[len(root_u)] in seps:
                tail = t[len(root_u) + 1:]
                if "_" not in tail:
                    try:
                        found[t[len(root_u)]].append(int(tail))
                    except ValueError:
                        pass
        return found

    idx = max(name.rfind(s) for s in seps)
    if idx >= 0:
        try:
            number = int(name[idx + 1:].replace("_", "-"))
        except ValueError:
            number = None
        if number is not None:
            root, sep = name[:idx], name[idx]
            found = counters(root.upper())
            for s in seps:
                if found[s]:
                    return f"{root}{sep}{max(found[s]) + 1}"
            return f"{root}{sep}{number + 1}"
    found = counters(name.upper())
    for s in seps:
        if found[s]:
            return f"{name}{s}{max(found[s]) + 1}"
    return f"{name}-1"


def _wcs_cards(header, hdul, from_key, to_key):
    """The cards of WCS ``from_key`` of ``header`` with the key ``to_key`` (stwcs wcs_from_key)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(header, hdul, key=from_key)
        # written unkeyed, then keyed here (this once worked around to_header(key=...)
        # failing after NVRTC had overwritten Python's shared b" "; see backends.nvrtc)
        plain = w.to_header()
    suffix, own = to_key.strip(), w.wcs.alt.strip()  # to_header() writes the WCS's own key
    out = fits.Header()
    for card in plain.cards:
        kw = card.keyword
        if own and kw.endswith(own) and _KEYED.fullmatch(kw[:-1]):
            kw = kw[:-1]
        if not suffix:
            out.append(fits.Card(kw, card.value, card.comment), end=True)
        elif _KEYED.fullmatch(kw):  # unkeyed cards (MJDREF...) are not archived
            out.append(fits.Card(kw + suffix, card.value, card.comment), end=True)
    for kw in _NOT_ARCHIVED:
        out.remove(kw + suffix, ignore_missing=True)
    if w.wcs.has_cd():
        cdelt = [out.pop(f"CDELT{i}{suffix}", 1.0) for i in (1, 2)]
        defaults = {"1_1": 1.0, "1_2": 0.0, "2_1": 0.0, "2_2": 1.0}
        for ij, dflt in defaults.items():
            pc = out.pop(f"PC{ij}{suffix}", dflt)
            out[f"CD{ij}{suffix}"] = (cdelt[int(ij[0]) - 1] * pc, _CD_COMMENTS["CD" + ij])
    for i, ctype in enumerate(w.wcs.ctype):
        out[f"CTYPE{i + 1}{suffix}"] = ctype
    src = from_key.strip()
    for kw in _TWEAK_KEYWORDS:
        if kw + src in header:
            card = header.cards[kw + src]
            out.append(fits.Card(kw + suffix, card.value, card.comment), end=True)
    return out


def _same_wcs(header, hdul, key1, key2):
    a = _wcs_cards(header, hdul, key1, " ")
    b = _wcs_cards(header, hdul, key2, " ")
    a.remove("WCSNAME", ignore_missing=True)
    b.remove("WCSNAME", ignore_missing=True)
    return {c.image for c in a.cards} == {c.image for c in b.cards}


def _archive_primary(header, hdul, label):
    """Copy the primary WCS of ``header`` to an alternate key; return ``(key, name)``."""
    names = _alternate_names(header)
    if "WCSNAME" in header:
        name = str(header["WCSNAME"])
        rename = not name.strip()
        if rename:
            name = _ARCHIVED
    else:
        name, rename = _PRE_TWEAKREG, False
    key = None
    matching = sorted(k for k, v in names.items() if v.upper() == name.upper())
    if matching:
        rename = True
        if _same_wcs(header, hdul, " ", matching[-1]):
            key = matching[-1]
    if key is None:
        key = _next_free_key(header, label)
    if rename:
        name = _increment_name(name, names.values())
    cards = _wcs_cards(header, hdul, " ", key)
    cards.remove("WCSNAME" + key, ignore_missing=True, remove_all=True)  # put first below
    if key in _used_keys(header):  # reusing the key of an identical archived WCS
        for kw in _wcs_cards(header, hdul, key, key).keys():
            header.remove(kw, ignore_missing=True, remove_all=True)
        header.remove("WCSNAME" + key, ignore_missing=True)
    header.append(fits.Card("WCSNAME" + key, name, "Coordinate system title"), end=True)
    for card in cards.cards:
        header.append(card, end=True)
    return key, name


# ---------------------------------------------------------------------------
# the file update


def _ext_label(path, ext):
    return f"{path}[{ext[0]},{ext[1]}]"


def _check_updates(path, updates):
    if not isinstance(updates, dict) or not updates:
        raise ValueError("updates must be a non-empty dict {(EXTNAME, EXTVER): (crval, cd)}")
    checked = {}
    for ext, value in updates.items():
        if not (isinstance(ext, tuple) and len(ext) == 2 and isinstance(ext[0], str)
                and isinstance(ext[1], (int, np.integer))):
            raise ValueError(f"updates: extension {ext!r} must be (EXTNAME, EXTVER), e.g. "
                             "('SCI', 1)")
        try:
            crval, cd = value
        except (TypeError, ValueError):
            raise ValueError(f"updates[{ext!r}] must be (crval, cd)") from None
        crval = np.asarray(crval, dtype=np.float64)
        cd = np.asarray(cd, dtype=np.float64)
        if crval.shape != (2,) or cd.shape != (2, 2):
            raise ValueError(f"updates[{ext!r}]: crval must have shape (2,) and cd (2, 2); got "
                             f"{crval.shape} and {cd.shape}")
        if not (np.all(np.isfinite(crval)) and np.all(np.isfinite(cd))):
            raise ValueError(f"updates[{ext!r}]: crval and cd must be finite ({path})")
        checked[(ext[0].upper(), int(ext[1]))] = (crval, cd)
    return checked


def _check_keywords(keywords):
    if keywords is None:
        return None
    unknown = sorted(set(keywords) - set(_FIT_KEYWORDS))
    if unknown:
        raise ValueError(f"keywords: unknown fit keyword(s) {unknown}; allowed: "
                         f"{list(_FIT_KEYWORDS)}")
    out = {}
    for kw in _FIT_KEYWORDS:
        if kw not in keywords:
            raise ValueError(f"keywords: {kw} missing (give RMS_RA, RMS_DEC in degrees and "
                             "NMATCH)")
    for kw in ("RMS_RA", "RMS_DEC"):
        v = float(keywords[kw])
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"keywords: {kw} must be a finite number >= 0, got {keywords[kw]!r}")
        out[kw] = v
    n = keywords["NMATCH"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"keywords: NMATCH must be an integer >= 0, got {n!r}")
    out["NMATCH"] = int(n)
    return out


def _set(header, keyword, value, comment=None, after=None):
    """Replace a value in place (keeping its comment) or add the card (after ``after``)."""
    if keyword in header:
        if comment is None:
            header[keyword] = value
        else:
            header[keyword] = (value, comment)
    elif after is not None and after in header:
        header.insert(after, fits.Card(keyword, value, comment or ""), after=True)
    else:
        header.append(fits.Card(keyword, value, comment or ""), end=True)


def _check_names(path, hdul, exts, wcsname, reusename):
    for ext in exts:
        header = hdul[ext].header
        label = _ext_label(path, ext)
        primary = header.get("WCSNAME")
        if isinstance(primary, str) and primary.strip().upper() == wcsname.upper() and \
                not reusename:
            raise ValueError(f"{label}: WCSNAME '{wcsname}' is already the primary WCS name "
                             f"('{primary}'); give another wcsname or reusename=True")
        for key, name in _alternate_names(header).items():
            if name.strip().upper() == wcsname.upper() and not reusename:
                raise ValueError(f"{label}: WCSNAME '{wcsname}' is already used by the "
                                 f"alternate WCS {key} (WCSNAME{key} = '{name}'); give another "
                                 "wcsname or reusename=True")


def check_wcsname(path, wcsname, reusename=False):
    """Raise ValueError when a SCI header of ``path`` already uses ``wcsname`` (as
    :func:`update_headers` would), before any work; nothing is written.

    Parameters
    ----------
    path : str or path-like
    wcsname : str
    reusename : bool
        True: any name is allowed.
    """
    if reusename:
        return
    path = os.fspath(path)
    with fits.open(path) as hdul:
        exts = [(h.name, h.ver) for h in hdul if h.name == "SCI"] or [0]
        _check_names(path, hdul, exts, wcsname.strip() or DEFAULT_WCSNAME, False)


def _update_hdul(path, hdul, updates, wcsname, reusename, fit_keywords, wcstype=None):
    exts = list(updates)
    for ext in exts:
        try:
            hdul.index_of(ext)
        except KeyError:
            raise KeyError(f"{path}: no extension {ext[0]},{ext[1]} (updates name it)") from None
    _check_names(path, hdul, exts, wcsname, reusename)
    for ext in exts:
        header = hdul[ext].header
        label = _ext_label(path, ext)
        crval, cd = updates[ext]
        primary = header.get("WCSNAME")
        same = isinstance(primary, str) and primary.strip().upper() == wcsname.upper()
        if not same:
            _archive_primary(header, hdul, label)
        for i in (1, 2):
            _set(header, f"CRVAL{i}", float(crval[i - 1]))
        for (i, j), v in np.ndenumerate(cd):
            kw = f"CD{i + 1}_{j + 1}"
            _set(header, kw, float(v), _CD_COMMENTS[kw])
        _set(header, "WCSNAME", wcsname, "Coordinate system title")
        _set(header, "WCSTYPE", wcstype or wcsname_type(wcsname), after="WCSNAME")
        _set(header, "ORIENTAT", float(np.rad2deg(np.arctan2(cd[0, 1], cd[1, 1]))))
        if fit_keywords is not None:
            _set(header, "CRDER1", fit_keywords["RMS_RA"], "[deg] Random error in coordinate")
            _set(header, "CRDER2", fit_keywords["RMS_DEC"], "[deg] Random error in coordinate")
            _set(header, "FITNAME", wcsname, after="WCSTYPE")
            for kw in _FIT_KEYWORDS:
                header.remove(kw, ignore_missing=True, remove_all=True)
                header.insert("FITNAME", fits.Card(kw, fit_keywords[kw]), after=True)


def update_headers(path, updates, *, wcsname=DEFAULT_WCSNAME, reusename=False, keywords=None,
                   wcstype=None):
    """Write new linear WCSs into the SCI headers of one exposure file, in place and atomically.

    The file is copied to a temporary file beside it (:mod:`gpudrizzle.files`),
    the copy is updated and then renamed over the original: on any error the
    original is left byte for byte as it was.  What is written is listed in
    the module notes; every other card and every data byte stays the same.

    Parameters
    ----------
    path : str or path-like
        The exposure (FITS).
    updates : dict
        ``{(EXTNAME, EXTVER): (crval, cd)}``, e.g. from
        :func:`corrected_linear_wcs`; ``crval`` shape (2,) degrees, ``cd``
        shape (2, 2).  Every chip of the exposure should be given.
    wcsname : str
        WCSNAME of the new primary WCS (blank or ``INDEF``: ``TWEAK``).
    reusename : bool
        Allow ``wcsname`` to be a name the file already uses (as the primary
        WCSNAME: overwritten without archiving; as an alternate's: kept, and
        the new primary gets the same name).
    keywords : dict, optional
        The fit keywords ``{"RMS_RA": deg, "RMS_DEC": deg, "NMATCH": int}``;
        with them FITNAME, CRDER1/2 are written too.
    wcstype : str, optional
        WCSTYPE to write (default :func:`wcsname_type` of ``wcsname``; TweakReg
        writes ``not aligned: reference`` for its reference image).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    FileNotFoundError
        No such file.
    PermissionError
        The file (or its directory) is not writable.
    KeyError
        An extension of ``updates`` is not in the file.
    ValueError
        Bad ``updates``/``keywords``, or ``wcsname`` already used and not
        ``reusename``; the message names the file, extension and name.
    """
    return update_files([(path, updates, keywords, wcstype)], wcsname=wcsname,
                        reusename=reusename)[0]


def update_files(items, *, wcsname=DEFAULT_WCSNAME, reusename=False):
    """:func:`update_headers` for several files, all or nothing.

    Every file's updated copy is written (beside it) before any is renamed
    over its original, so an error in any of them (a refused name, no free
    alternate WCS key, a full disk) leaves every file as it was.  The copies
    need as much free space as the files themselves.

    Parameters
    ----------
    items : sequence of (path, updates, keywords, wcstype)
        As the arguments of :func:`update_headers` (``keywords`` and
        ``wcstype`` may be None).
    wcsname : str
    reusename : bool

    Returns
    -------
    list of str
        The paths.
    """
    if wcsname is None or str(wcsname).strip() in ("", "INDEF"):
        wcsname = DEFAULT_WCSNAME
    if not isinstance(wcsname, str) or len(wcsname) > 68:
        raise ValueError(f"wcsname must be a string of at most 68 characters, got {wcsname!r}")
    wcsname = wcsname.strip()
    writers = {}
    for path, updates, keywords, wcstype in items:
        path = os.fspath(path)
        if path in writers:
            raise ValueError(f"{path} is given twice")
        writers[path] = _writer(path, _check_updates(path, updates), _check_keywords(keywords),
                                wcsname, reusename, wcstype)
    return files.write_together(writers, overwrite=True, durable=True, kind="exposure")


def _copy_range(src, dst, offset, count):
    """Copy ``count`` bytes of file ``src`` from ``offset`` to the end of file ``dst``
    (in the kernel where it can: ``os.copy_file_range``)."""
    dst.flush()
    out = dst.fileno()
    while count > 0:
        try:
            n = os.copy_file_range(src.fileno(), out, min(count, 1 << 30), offset)
        except (AttributeError, OSError):  # no copy_file_range here: through user space
            src.seek(offset)
            n = len(chunk := src.read(min(count, 1 << 24)))
            dst.write(chunk)
            dst.flush()
        if n == 0:
            raise OSError(f"{src.name} ended before its data did (truncated file?)")
        offset += n
        count -= n


def _write_copy(path, hdul, edited, tmp):
    """Write ``path`` into ``tmp`` with the headers of HDUs ``edited`` (indices) taken from
    ``hdul`` and every other byte copied from the file: no data array is read or
    re-encoded (astropy's update mode rewrites a file whose header grew, twice over)."""
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        end = 0
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            if i in edited:
                dst.write(hdu.header.tostring(padding=True).encode("ascii"))
            else:
                _copy_range(src, dst, info["hdrLoc"], info["datLoc"] - info["hdrLoc"])
            _copy_range(src, dst, info["datLoc"], info["datSpan"])
            end = info["datLoc"] + info["datSpan"]
        _copy_range(src, dst, end, os.fstat(src.fileno()).st_size - end)


def check_updatable(path):
    """:func:`gpudrizzle.files.check_updatable` for header updates: OSError/ValueError when
    the headers of ``path`` cannot be updated in place."""
    files.check_updatable(path, what="headers")


def _writer(path, updates, fit_keywords, wcsname, reusename, wcstype):
    """Checks ``path`` can be updated; returns ``write(tmp)``: the updated copy into ``tmp``."""
    check_updatable(path)

    def write(tmp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            with fits.open(path, memmap=False) as hdul:
                _update_hdul(path, hdul, updates, wcsname, reusename, fit_keywords, wcstype)
                _write_copy(path, hdul, {hdul.index_of(ext) for ext in updates}, tmp)
        shutil.copymode(path, tmp)

    return write
