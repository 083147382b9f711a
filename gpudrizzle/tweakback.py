"""Tweak-back: a drizzled image's WCS change carried back to the exposures it was made from.

After TweakReg aligns a drizzled product, its primary ("tweaked") WCS differs
from the WCS it was drizzled onto (the "original" WCS, archived as an
alternate WCS).  :func:`apply_tweak` (drizzlepac 3.11's ``tweakback.apply_tweak``)
gives every input chip the new linear WCS (CRVAL, CD) under which its pixels
land on the sky where the tweaked frame puts them: a chip pixel ``p`` that
the current chip WCS sends through the original drizzled frame to the
drizzled pixel ``q`` goes, under the new chip WCS, to the sky position that
the tweaked WCS gives ``q``.

How the new WCS is computed (:func:`tweaked_chip_wcs`, as drizzlepac's
``update_chip_wcs``): the new CRVAL is the chip's CRVAL carried through the
original drizzled WCS to drizzled pixels and back to the sky through the
tweaked WCS; the new CD is the current CD times the Jacobian at CRPIX (5-point
central differences, drizzlepac's steps) of the map chip pixel -> current sky
-> original drizzled pixel -> tweaked sky -> chip pixel of the WCS with the new
CRVAL, refined by fixed-point iterations.  Only the linear WCSs enter, as in
drizzlepac; CRPIX and the distortion (SIP, lookup tables) stay as they are.

The headers are written by :func:`gpudrizzle.wcsupdate.update_files`, as
TweakReg writes them: all files or none, the previous primary WCS archived as
an alternate WCS (its WCSNAME kept, or ``PRE-TWEAKREG``), then the new CRVAL,
CD, WCSNAME, WCSTYPE and ORIENTAT.  When the tweaked WCS of the drizzled
image carries TweakReg's fit keywords (RMS_RA, RMS_DEC, NMATCH), they are
written too (with CRDER1/2 and FITNAME).

Where this differs from drizzlepac 3.11
---------------------------------------
* An ``output_wcs_name`` already used by an input's primary WCS is refused
  unless ``reusename=True`` (drizzlepac archives it under ``NAME-1`` and
  applies the correction again); an alternate WCS of that name is refused too,
  as in drizzlepac.
* The default tweaked WCS is the primary WCS even when it has no WCSNAME
  (drizzlepac then takes the first alternate WCS); a blank output name is
  ``TWEAK``.  Unknown keyword arguments are an error (drizzlepac ignores them,
  so its documented ``input=`` does nothing there).
* No HISTORY cards and no WCSCORR table are written.
* An input name from the D###DATA keywords that is not found in the current
  directory is looked up beside the drizzled image.
"""

import argparse
import glob
import os
import re
import string
import time
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from . import wcsupdate
from .distortion import linear_wcs
from .inputs import check_file, open_fits

__all__ = ["apply_tweak", "tweakback", "tweaked_chip_wcs", "WCSNotFoundError", "add_arguments",
           "run_from_args"]

__taskname__ = "tweakback"

_KEYWORDS = ("tweaked_wcs_name", "tweaked_wcs_key", "orig_wcs_key", "reusename")
_KEY_MARKERS = ("WCSNAME", "CTYPE1", "CRPIX1", "CRVAL1", "RADESYS")
_SPEC = re.compile(r"^(?P<name>.*?)\[(?P<ext>[^\[\]]*)\]$")


class WCSNotFoundError(KeyError, ValueError):
    """A WCS named (or keyed) by the caller is not in the drizzled image's header."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------------------
# the math


def _jacobian(old, new, orig, tweaked, crpix0, hx, hy):
    """d(new chip pixel)/d(chip pixel) at ``crpix0`` (0-based) of chip pixel -> old sky ->
    original drizzled pixel -> tweaked sky -> new chip pixel."""
    steps = np.array([-1.0, -0.5, 0.5, 1.0])
    pts = np.concatenate([crpix0 + np.outer(steps * hx, [1.0, 0.0]),
                          crpix0 + np.outer(steps * hy, [0.0, 1.0])])
    q = orig.wcs_world2pix(old.wcs_pix2world(pts, 0), 0)
    p = new.wcs_world2pix(tweaked.wcs_pix2world(q, 0), 0)
    du_dx = ((p[0] - p[3]) + 8.0 * (p[2] - p[1])) / (6.0 * hx)
    du_dy = ((p[4] - p[7]) + 8.0 * (p[6] - p[5])) / (6.0 * hy)
    return np.column_stack([du_dx, du_dy])


def _with_cd(w):
    """``w`` (linear) with its PC/CDELT matrix as a CD matrix (WCSLIB prefers PC when both
    are set, so a CD matrix cannot simply be assigned to a PC WCS)."""
    if w.wcs.has_cd():
        return w
    out = WCS(naxis=2)
    for name in ("ctype", "cunit", "crpix", "crval"):
        setattr(out.wcs, name, list(getattr(w.wcs, name)))
    out.wcs.cd = np.array(w.pixel_scale_matrix, dtype=np.float64)
    for name in ("radesys", "equinox", "lonpole", "latpole"):
        setattr(out.wcs, name, getattr(w.wcs, name))
    out.wcs.set()
    out.pixel_shape = w.pixel_shape
    return out


def tweaked_chip_wcs(chip_wcs, orig_wcs, tweaked_wcs, maxiter=100):
    """A chip's new CRVAL and CD for a drizzled frame changed from ``orig_wcs`` to ``tweaked_wcs``.

    Parameters
    ----------
    chip_wcs : astropy.wcs.WCS
        The chip's current WCS (distortion, if any, is ignored: only its
        linear part enters).  Needs ``pixel_shape`` (NAXIS1, NAXIS2).
    orig_wcs, tweaked_wcs : astropy.wcs.WCS
        The drizzled image's WCS before and after alignment (celestial, 2-D).
    maxiter : int
        Most fixed-point refinements of the CD matrix.

    Returns
    -------
    crval : ndarray, shape (2,), float64
        Degrees.
    cd : ndarray, shape (2, 2), float64
        Degrees per pixel.
    """
    if chip_wcs.pixel_shape is None:
        raise ValueError("chip_wcs has no pixel_shape (NAXIS1, NAXIS2); set it first")
    old = _with_cd(linear_wcs(chip_wcs))
    orig, tweaked = linear_wcs(orig_wcs), linear_wcs(tweaked_wcs)
    naxis1, naxis2 = chip_wcs.pixel_shape
    crpix = np.asarray(old.wcs.crpix, dtype=np.float64)
    corners = np.array([[1.0, 1.0], [naxis1, 1.0], [1.0, naxis2], [naxis1, naxis2]]) - crpix
    tolerance = 1.0e-5 / max(np.max(np.hypot(corners[:, 0], corners[:, 1])), 1.0)
    hx = max(1.0, min(20.0, (crpix[0] - 1.0) / 100.0, (naxis1 - crpix[0]) / 100.0))
    hy = max(1.0, min(20.0, (crpix[1] - 1.0) / 100.0, (naxis2 - crpix[1]) / 100.0))

    crval_old = np.asarray(old.wcs.crval, dtype=np.float64)
    crval = tweaked.wcs_pix2world(orig.wcs_world2pix(crval_old[None, :], 0), 0)[0]
    new = old.deepcopy()
    new.wcs.crval = crval
    cd = np.array(old.pixel_scale_matrix, dtype=np.float64)
    crpix0 = crpix - 1.0
    u = _jacobian(old, new, orig, tweaked, crpix0, hx, hy)
    err0 = np.max(np.abs(u - np.eye(2)))
    cd = cd @ u
    new.wcs.cd = cd
    new.wcs.set()
    for _ in range(maxiter):
        u = _jacobian(old, new, orig, tweaked, crpix0, hx, hy)
        err = np.max(np.abs(u - np.eye(2)))
        if err > err0:
            break
        cd = cd @ u
        new.wcs.cd = cd
        new.wcs.set()
        if err < tolerance:
            break
        err0 = err
    return np.array(crval, dtype=np.float64), np.array(cd, dtype=np.float64)


# ---------------------------------------------------------------------------
# names, extensions and WCSs


def _split_spec(spec, what):
    """(file, extension or None) of ``name.fits[sci,1]``, ``name.fits[1]``, ``name.fits``."""
    spec = os.fspath(spec).strip()
    if not spec:
        raise ValueError(f"{what}: empty file name")
    if os.path.isfile(spec):
        return spec, None
    m = _SPEC.match(spec)
    if not m:
        return spec, None
    text = m.group("ext").strip()
    parts = [s.strip() for s in text.split(",")]
    if len(parts) == 1 and parts[0].lstrip("+-").isdigit():
        return m.group("name"), int(parts[0])
    if len(parts) == 1 and parts[0]:
        return m.group("name"), (parts[0].upper(), "*")
    if len(parts) == 2 and parts[0] and (parts[1].isdigit() or parts[1] == "*"):
        return m.group("name"), (parts[0].upper(), parts[1] if parts[1] == "*" else int(parts[1]))
    raise ValueError(f"{what}: bad extension specification [{text}] in {spec!r} (give e.g. "
                     "[sci,1], [1] or [sci])")


def _ext_str(ext):
    return str(ext) if isinstance(ext, int) else f"{ext[0]},{ext[1]}"


def _ext_text(ext):
    """An extension as drizzlepac prints it: ``'SCI',1``."""
    return f"'{ext[0]}',{ext[1]}"


def _ptime():
    """drizzlepac's time stamp: ``HH:MM:SS.sss (DD/MM/YYYY)``."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d} " + \
        time.strftime("(%d/%m/%Y)", time.localtime(now))


def _hdu_index(hdul, ext, path, what):
    if isinstance(ext, int):
        if not 0 <= ext < len(hdul):
            raise ValueError(f"{what} {path}: no extension {ext} (the file has {len(hdul)} HDUs)")
        return ext
    try:
        return hdul.index_of(ext)
    except KeyError:
        raise ValueError(f"{what} {path}: no extension [{_ext_str(ext)}]") from None


def _is_image(hdu):
    return isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) and hdu.header.get("NAXIS", 0) >= 2


def _wcs_keys(header):
    """The WCS keys of ``header`` (' ' and A-Z), as stwcs lists them."""
    keys = set()
    if any(kw in header for kw in _KEY_MARKERS):
        keys.add(" ")
    for card in header.cards:
        kw = card.keyword
        for marker in _KEY_MARKERS:
            if len(kw) == len(marker) + 1 and kw.startswith(marker) and \
                    kw[-1] in string.ascii_uppercase:
                keys.add(kw[-1])
    return sorted(keys)


def _wcs_name(header, key):
    value = header.get("WCSNAME" + key.strip(), "")
    return value.strip() if isinstance(value, str) else str(value)


def _check_key(value, name):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 1 or \
            value.upper() not in string.ascii_uppercase + " ":
        raise ValueError(f"Parameter '{name}' must be a character - one of 'A'-'Z' or ' '; got "
                         f"{value!r}")
    return value.upper()


def _find_key(header, keys, key, name, label, param):
    """(key, WCSNAME) of the WCS given by key or by name."""
    if key is not None:
        if key not in keys:
            raise WCSNotFoundError(f"{label}: no WCS with key '{key}' ({param}); WCS keys "
                                   f"present: {keys}")
        return key, _wcs_name(header, key)
    wanted = name.strip().upper()
    for k in keys:
        if _wcs_name(header, k).upper() == wanted and (k != "O" or wanted != "OPUS"):
            return k, _wcs_name(header, k)
    names = {k: _wcs_name(header, k) for k in keys}
    raise WCSNotFoundError(f"{label}: WCS with wcsname '{name}' not found ({param}); WCS "
                           f"names present: {names}")


def _read_wcs(header, hdul, key, label):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            w = WCS(header, hdul, key=key)
        except Exception as exc:  # astropy raises several types for broken WCS keywords
            raise ValueError(f"{label}: cannot read WCS '{key}': {exc}") from None
    if not (w.naxis == 2 and w.has_celestial):
        raise ValueError(f"{label}: WCS '{key}' is not a 2-D celestial WCS (CTYPE = "
                         f"{list(w.wcs.ctype)})")
    return w


def _drizzled_wcs(drz_file, orig_wcs_name, orig_wcs_key, tweaked_wcs_name, tweaked_wcs_key,
                  say=print):
    """(orig WCS, tweaked WCS, tweaked name, fit keywords or None, D###DATA values, label)."""
    path, ext = _split_spec(drz_file, "drz_file")
    if not os.path.isfile(path) and glob.has_magic(path):
        matches = sorted(m for m in glob.glob(path) if os.path.isfile(m))
        if not matches:
            raise FileNotFoundError(f"Drizzled file '{drz_file}' not found.")
        if len(matches) > 1:
            raise ValueError(f"When expanded, 'drz_file' should correspond to a single file; "
                             f"{drz_file!r} matches {len(matches)}: {matches}")
        path = matches[0]
    check_file(path, "drizzled file")
    with open_fits(path, "drizzled file", memmap=False) as hdul:
        if ext is None:
            images = [i for i, h in enumerate(hdul) if _is_image(h)]
            if not images:
                raise ValueError(f"drizzled file {path}: no image extension holds a WCS; name "
                                 "one, e.g. 'file_drz.fits[sci,1]'")
            index = images[0]
        elif isinstance(ext, tuple) and ext[1] == "*":
            found = [i for i, h in enumerate(hdul) if h.name == ext[0]]
            if len(found) != 1:
                raise ValueError(f"drizzled file {path}: [{ext[0]}] names {len(found)} "
                                 "extensions; give exactly one, e.g. [sci,1]")
            index = found[0]
        else:
            index = _hdu_index(hdul, ext, path, "drizzled file")
        header = hdul[index].header
        label = f"{path}[{index}]"
        keys = _wcs_keys(header)
        if len(keys) < 2:
            raise ValueError(f"'{label}' must contain at least two valid WCS: original and "
                             "updated by tweakreg.")
        if orig_wcs_key is None and (orig_wcs_name is None or not str(orig_wcs_name).strip()):
            raise ValueError("Either 'orig_wcs_name' or 'orig_wcs_key' must be specified.")
        guessed = tweaked_wcs_key is None and tweaked_wcs_name is None
        if guessed:
            tweaked_wcs_key = " "
        tkey, tname = _find_key(header, keys, tweaked_wcs_key, tweaked_wcs_name, label,
                                "tweaked_wcs_name" if tweaked_wcs_key is None
                                else "tweaked_wcs_key")
        okey, oname = _find_key(header, keys, orig_wcs_key, orig_wcs_name, label,
                                "orig_wcs_name" if orig_wcs_key is None else "orig_wcs_key")
        if okey == tkey:
            raise ValueError(f"{label}: the original and the tweaked WCS are the same WCS (key "
                             f"'{okey}', WCSNAME '{oname}'); nothing to carry back")
        orig = _read_wcs(header, hdul, okey, label)
        tweaked = _read_wcs(header, hdul, tkey, label)
        suffix = tkey.strip()
        fit = None
        if all(kw + suffix in header for kw in ("RMS_RA", "RMS_DEC", "NMATCH")):
            fit = {kw: header[kw + suffix] for kw in ("RMS_RA", "RMS_DEC", "NMATCH")}
        data = [str(c.value) for c in hdul[0].header.cards
                if re.fullmatch(r"D\d{3}DATA", c.keyword)]
    if guessed:
        say(f"Using WCS with WCSNAME '{tname}' (WCS key '{tkey}') for 'tweaked_wcs_name'")
    return orig, tweaked, (okey, oname), (tkey, tname), fit, data, path


def _split_list(text):
    """``text`` split at the commas outside ``[...]`` (``'a.fits[sci,1], b.fits'``)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items


def _expand_files(input_files, default_ext, drz_path):
    """{file: [extension spec, ...]} in the order given (comma list, @-file, wildcards)."""
    if isinstance(input_files, (list, tuple)):
        items = [os.fspath(i).strip() for i in input_files]
    elif isinstance(input_files, (str, os.PathLike)):
        text = os.fspath(input_files).strip()
        items = [text] if os.path.isfile(text) else _split_list(text)
    else:
        raise TypeError(f"'input_files' must be a string or a list of file names; got "
                        f"{type(input_files).__name__}")
    out = {}

    def add(name, ext):
        out.setdefault(name, [])
        if ext not in out[name]:
            out[name].append(ext)

    for item in (i for i in items if i):
        if item.startswith("@"):
            listfile = item[1:].strip()
            check_file(listfile, "@-file")
            with open(listfile, encoding="utf-8") as f:
                lines = [s.split()[0] for s in f if s.strip() and not s.lstrip().startswith("#")]
            for line in lines:
                name, ext = _split_spec(line, "input_files")
                add(name, ext if ext is not None else default_ext)
            continue
        name, ext = _split_spec(item, "input_files")
        if glob.has_magic(name) and not os.path.isfile(name):
            matches = sorted(m for m in glob.glob(name) if os.path.isfile(m))
            if not matches:
                raise FileNotFoundError(f"input_files: no file matches {name!r}")
        else:
            if not os.path.exists(name) and drz_path and not os.path.isabs(name):
                beside = os.path.join(os.path.dirname(drz_path), name)
                name = beside if os.path.exists(beside) else name
            matches = [name]
        for m in matches:
            add(m, ext if ext is not None else default_ext)
    if not out:
        raise ValueError(f"'input_files' names no files: {input_files!r}")
    for name in out:
        check_file(name, "input file")
    return out


def _chips(path, specs):
    """[((EXTNAME, EXTVER), astropy WCS with pixel_shape), ...] of the chips ``specs`` select."""
    out, seen = [], set()
    with open_fits(path, "input file", memmap=False) as hdul:
        for spec in specs:
            if isinstance(spec, tuple) and spec[1] == "*":
                if spec[0] == "PRIMARY":
                    indices = [0]
                else:
                    indices = [i for i, h in enumerate(hdul) if h.name == spec[0]]
            else:
                indices = [_hdu_index(hdul, spec, path, "input file")]
            for i in indices:
                if i in seen:
                    continue
                seen.add(i)
                hdu = hdul[i]
                label = f"{path}[{hdu.name},{hdu.ver}]"
                header = hdu.header
                shape = [header.get(f"NAXIS{j}") or header.get(f"NPIX{j}") for j in (1, 2)]
                if not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
                    raise ValueError(f"{label}: no image size (NAXIS1, NAXIS2) to update a WCS "
                                     "for")
                w = _read_wcs(header, hdul, " ", label)
                w.pixel_shape = tuple(int(n) for n in shape)
                out.append(((hdu.name, int(hdu.ver)), w))
    return out


# ---------------------------------------------------------------------------
# the tasks


def _describe(chip_wcs, crval, cd):
    """The chip's new WCS as drizzlepac prints it (astropy's WCS summary, indented)."""
    w = chip_wcs.deepcopy()
    w.wcs.crval = crval
    if w.wcs.has_cd():
        w.wcs.cd = cd
    else:  # a PC/CDELT WCS cannot be given a CD matrix in place
        w.wcs.pc, w.wcs.cdelt = cd, [1.0, 1.0]
    w.wcs.set()
    return "\n".join("      " + line.strip() for line in repr(w).split("\n"))


def _run(drz_file, orig_wcs_name, output_wcs_name, input_files, default_extname, *,
         orig_wcs_key=None, tweaked_wcs_name=None, tweaked_wcs_key=None, reusename=False,
         verbose=True):
    from . import __version__

    for value, name in ((reusename, "reusename"), (verbose, "verbose")):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"'{name}' must be True or False; got {value!r}")
    say = print if verbose else (lambda *a, **k: None)
    say(f"\n*** 'apply_tweak' version {__version__} started at {_ptime()}: ***\n")
    if not isinstance(default_extname, str):
        raise TypeError("Argument 'default_extname' must be a string")
    default_extname = default_extname.strip().upper()
    if not default_extname:
        raise ValueError("default_extname must name an extension, e.g. 'SCI'")
    default_ext = ("PRIMARY", "*") if default_extname == "PRIMARY" else (default_extname, "*")
    orig_wcs_key = _check_key(orig_wcs_key, "orig_wcs_key")
    tweaked_wcs_key = _check_key(tweaked_wcs_key, "tweaked_wcs_key")

    orig, tweaked, (okey, oname), (tkey, tname), fit, data, drz_path = _drizzled_wcs(
        drz_file, orig_wcs_name, orig_wcs_key, tweaked_wcs_name, tweaked_wcs_key, say)

    if input_files is None or (isinstance(input_files, str) and not input_files.strip()):
        if not data:
            raise ValueError(f"No input filenames found: give 'input_files' or make sure the "
                             f"drizzled image {drz_path} has D###DATA keywords")
        input_files = data
    targets = _expand_files(input_files, default_ext, drz_path)

    if output_wcs_name is None or not str(output_wcs_name).strip():
        output_wcs_name = tname or wcsupdate.DEFAULT_WCSNAME
        say(f"\n* Setting 'output_wcs_name' to '{output_wcs_name}'")
    output_wcs_name = str(output_wcs_name).strip()
    for path in targets:
        wcsupdate.check_updatable(path)

    items = []
    for path, specs in targets.items():
        say(f"\n* Working on input image {path} ...")
        chips = _chips(path, specs)
        if not chips:
            say(f"  No valid input image extension found. Skipping image {path}.\n")
            continue
        updates = {}
        for ext, w in chips:
            crval, cd = tweaked_chip_wcs(w, orig, tweaked)
            updates[ext] = (crval, cd)
            say(f"  - Computed new WCS solution for {path}[{_ext_text(ext)}]:")
            say(_describe(w, crval, cd))
        items.append((path, updates, fit, None))
    if not items:
        raise ValueError(f"no extension {default_extname} in any input file; nothing updated")
    say("\n* Saving updated WCS to image headers:")
    wcsupdate.update_files(items, wcsname=output_wcs_name, reusename=reusename)
    for path, updates, _, _ in items:
        say(f"  - Updated '{path}', extensions: "
            + "; ".join(_ext_text(e) for e in updates))
    return [path for path, *_ in items]


def apply_tweak(drz_file, orig_wcs_name, output_wcs_name=None, input_files=None,
                default_extname="SCI", **kw):
    """Carry a drizzled image's WCS change back to its input exposures (drizzlepac's
    ``tweakback.apply_tweak``).

    Parameters
    ----------
    drz_file : str
        The drizzled image (a wildcard must match one file).  With no
        extension given, the first HDU holding an image; else e.g.
        ``'image_drz.fits[sci,1]'``, ``'image_drz.fits[1]'``, ``'[0]'``.
    orig_wcs_name : str or None
        WCSNAME of the WCS the image was drizzled onto ("original"); None
        only with ``orig_wcs_key``.
    output_wcs_name : str, optional
        WCSNAME of the updated WCS in the inputs (default: the tweaked WCS's
        WCSNAME; ``TWEAK`` when it has none).
    input_files : str or list of str, optional
        Inputs to update: a comma-separated list, an @-file, wildcards, each
        optionally with an extension (``'a_flt.fits[sci,1]'``).  Default: the
        drizzled image's D###DATA keywords (their extensions only).
    default_extname : str
        Extensions updated in an input given without one (``'PRIMARY'``: the
        primary HDU).

    Other Parameters
    ----------------
    tweaked_wcs_name : str
        WCSNAME of the tweaked WCS (default: the primary WCS).
    tweaked_wcs_key, orig_wcs_key : {' ', 'A'-'Z'}
        The tweaked / original WCS by key (overrides the name).
    reusename : bool
        Allow ``output_wcs_name`` to be a WCSNAME an input already uses
        (see :func:`gpudrizzle.wcsupdate.update_headers`).  Default False.

    Returns
    -------
    list of str
        The updated files (drizzlepac returns None).

    Raises
    ------
    WCSNotFoundError
        (a KeyError and a ValueError) a named WCS is not in the drizzled image.
    FileNotFoundError, PermissionError
        A missing or read-only input or drizzled image.
    ValueError
        Bad parameters, an output name already used; no file is changed.
    """
    unknown = sorted(set(kw) - set(_KEYWORDS))
    if unknown:
        hint = " (the inputs are 'input_files')" if "input" in unknown else ""
        raise TypeError(f"apply_tweak() got unknown keyword argument(s) {unknown}{hint}; "
                        f"allowed: {list(_KEYWORDS)}")
    return _run(drz_file, orig_wcs_name, output_wcs_name, input_files, default_extname,
                orig_wcs_key=kw.get("orig_wcs_key"), tweaked_wcs_name=kw.get("tweaked_wcs_name"),
                tweaked_wcs_key=kw.get("tweaked_wcs_key"), reusename=kw.get("reusename", False))


def _legacy_keys(drzfile, origwcs, wcsname):
    """drizzlepac's ``tweakback`` choice of (original key, tweaked key) in the first SCI
    extension (else the primary HDU): the named WCSs, else the last WCS key for the
    tweaked one and the first ``IDC_`` WCS (else the second-to-last key) for the original."""
    path = _split_spec(drzfile, "drzfile")[0]
    with open_fits(path, "drizzled file", memmap=False) as hdul:
        index = next((i for i, h in enumerate(hdul) if h.name == "SCI"), 0)
        header = hdul[index].header
        keys = _wcs_keys(header)
        label = f"{path}[{index}]"
        if len(keys) < 2:
            raise ValueError(f"'{path}' must contain at least two valid WCS: original and "
                             "updated.")
        named = {k: _wcs_name(header, k) for k in keys if "WCSNAME" + k.strip() in header}
        if wcsname and str(wcsname).strip():
            tkey = _find_key(header, keys, None, wcsname, label, "wcsname")[0]
        else:
            tkey = keys[-1]
        if origwcs and str(origwcs).strip():
            okey = _find_key(header, keys, None, origwcs, label, "origwcs")[0]
        else:
            okey = next((k for k, n in named.items() if n[:4] == "IDC_" and k != " "), None)
            if okey is None:
                okey = keys[-2]
    return okey, tkey, f"{path}[{index}]"


def tweakback(drzfile, input=None, origwcs=None, newname=None, wcsname=None, extname="SCI",
              force=False, verbose=False):
    """drizzlepac's older ``tweakback.tweakback`` (deprecated there since 3.4.2): use
    :func:`apply_tweak`.

    Parameters
    ----------
    drzfile : str
        The drizzled image.
    input : str, optional
        Inputs to update (comma list, @-file, wildcards); default its D###DATA files.
    origwcs : str, optional
        WCSNAME of the original WCS (default: the first ``IDC_`` alternate
        WCS, else the second-to-last WCS key).
    newname : str, optional
        WCSNAME of the updated WCS in the inputs (default: that of the tweaked WCS).
    wcsname : str, optional
        WCSNAME of the tweaked WCS (default: the last WCS key, as drizzlepac).
    extname : str
        Extensions of the inputs to update.
    force : bool
        Allow ``newname`` to be a name an input already uses (``reusename``).
    verbose : bool
        Print what is done.

    Returns
    -------
    list of str
        The updated files.
    """
    warnings.warn("The tweakback function is deprecated and may be removed in a future version."
                  " Use apply_tweak instead.", DeprecationWarning, stacklevel=2)
    if not isinstance(force, (bool, np.bool_)):
        raise TypeError(f"'force' must be True or False; got {force!r}")
    okey, tkey, label = _legacy_keys(drzfile, origwcs, wcsname)
    if input is not None and isinstance(input, str) and not input.strip():
        input = None
    if input is None:  # drizzlepac: every SCI chip of each D###DATA file
        path = _split_spec(drzfile, "drzfile")[0]
        with open_fits(path, "drizzled file", memmap=False) as hdul:
            data = [str(c.value) for c in hdul[0].header.cards
                    if re.fullmatch(r"D\d{3}DATA", c.keyword)]
        names = list(dict.fromkeys(_split_spec(d, "D###DATA")[0] for d in data))
        if not names:
            raise ValueError(f"No input filenames found! Please specify 'input' or make sure "
                             f"the drizzled image {path} contains D*DATA keywords.")
        input = names
    return _run(label, None, newname, input, extname, orig_wcs_key=okey, tweaked_wcs_key=tkey,
                reusename=force, verbose=verbose)


# ---------------------------------------------------------------------------
# command line


def add_arguments(parser):
    """Options of ``gpudrizzle tweakback`` (:func:`apply_tweak`'s parameters)."""
    parser.add_argument("drz_file", help="drizzled image, e.g. final_drz.fits or "
                        "'final_drz.fits[sci,1]'")
    parser.add_argument("input_files", nargs="*", metavar="INPUT",
                        help="exposures to update (default: the D###DATA files of drz_file); "
                        "each may name extensions, e.g. 'a_flt.fits[sci,1]', or be an @-file")
    parser.add_argument("--orig-wcs-name", dest="orig_wcs_name",
                        help="WCSNAME of the WCS the image was drizzled onto")
    parser.add_argument("--orig-wcs-key", dest="orig_wcs_key",
                        help="key (A-Z or ' ') of that WCS, instead of its name")
    parser.add_argument("--tweaked-wcs-name", dest="tweaked_wcs_name",
                        help="WCSNAME of the aligned WCS (default: the primary WCS)")
    parser.add_argument("--tweaked-wcs-key", dest="tweaked_wcs_key",
                        help="key of the aligned WCS, instead of its name")
    parser.add_argument("--output-wcs-name", dest="output_wcs_name",
                        help="WCSNAME of the updated WCS in the inputs (default: that of the "
                        "aligned WCS)")
    parser.add_argument("--default-extname", dest="default_extname", default="SCI",
                        help="extensions updated in inputs given without one (default SCI)")
    parser.add_argument("--reusename", action="store_true",
                        help="allow an output WCS name the inputs already use")
    return parser


#: Python wording of the name-reuse error, and its command-line wording.
_PY_ADVICE = "give another wcsname or reusename=True"
_CLI_ADVICE = "give another --output-wcs-name or --reusename"


def run_from_args(args):
    """Run :func:`apply_tweak` with the options of :func:`add_arguments`; return 0 (errors raise).

    Errors that advise Python parameters (``reusename=True``) name the
    command-line options instead.
    """
    kw = {"reusename": args.reusename}
    for name in ("orig_wcs_key", "tweaked_wcs_name", "tweaked_wcs_key"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    try:
        apply_tweak(args.drz_file, args.orig_wcs_name, output_wcs_name=args.output_wcs_name,
                    input_files=list(args.input_files) or None,
                    default_extname=args.default_extname, **kw)
    except ValueError as exc:
        if _PY_ADVICE not in str(exc):
            raise
        raise ValueError(str(exc).replace(_PY_ADVICE, _CLI_ADVICE)) from None
    return 0


def _main(argv=None):  # pragma: no cover - the integrated command line is gpudrizzle's
    parser = add_arguments(argparse.ArgumentParser(prog="gpudrizzle tweakback"))
    return run_from_args(parser.parse_args(argv))
