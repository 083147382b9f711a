"""Shared pieces of the coordinate tools (:mod:`~gpudrizzle.pixtosky`,
:mod:`~gpudrizzle.skytopix`, :mod:`~gpudrizzle.pixtopix`).

* **Images.**  ``input`` names one chip: ``f_flt.fits[sci,1]``,
  ``f_flt.fits['sci',1]``, ``f_flt.fits[1]`` (HDU number) or
  ``f_flt.fits[sci]`` (version 1).  Without an extension the primary HDU is
  used when it holds a celestial WCS, else the only SCI extension; a file
  with several SCI extensions needs one named.  The chip's full WCS is read
  as astropy reads it (SIP, D2IMARR and WCSDVARR lookup tables).
* **Transforms.**  Pixel positions are 1-based FITS pixels.  Pixel to sky
  applies every distortion; sky to pixel inverts them iteratively to
  :data:`INVERSE_TOL` pixels (points where the iteration fails come out NaN,
  with a warning).
* **Coordinate files.**  Text columns (``#`` comments, rows holding
  ``INDEF`` skipped, columns by ``c1``/``1``/name, any ``separator``) or a
  FITS binary table (columns by name or number); a sky column may be
  sexagesimal (``hh:mm:ss``, or ``"c1,c2,c3"`` joining three columns).
* **Output text.**  As drizzlepac prints and writes it: a title line, then
  one line per position; the output file starts with ``# Coordinates
  converted from <input>`` and holds the two result columns separated by
  four spaces.
"""

import math
import numbers
import os
import re
import warnings

import numpy as np
from astropy import units
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning, NoConvergence

from .catalogs import column_tokens, read_columns
from .files import write_text
from .inputs import check_file

__all__ = [
    "INVERSE_TOL",
    "blank",
    "parse_image",
    "load_chip_wcs",
    "pix_to_sky",
    "sky_to_pix",
    "positions",
    "sky_positions",
    "read_coordfile",
    "degrees_to_hms",
    "fixed",
    "check_precision",
    "report",
    "check_sky_range",
    "usage_error",
    "cli_positions",
    "run_quietly",
]

#: Convergence (pixels) of the iterative sky-to-pixel inverse.
INVERSE_TOL = 1e-10
#: Iterations allowed to that inverse.
INVERSE_MAXITER = 100

def blank(value):
    """True for None and blank strings (drizzlepac's "not given")."""
    return value is None or (isinstance(value, str) and not value.strip())


# ----------------------------------------------------------------- images

def parse_image(spec, what="input"):
    """Split ``file.fits[ext]`` into the file name and the extension.

    Parameters
    ----------
    spec : str
        ``f.fits``, ``f.fits[1]``, ``f.fits[sci,1]``, ``f.fits['sci',1]`` or ``f.fits[sci]``.
    what : str
        The parameter, for messages.

    Returns
    -------
    filename : str
    ext : None, int or (str, int)
        HDU number, or (EXTNAME upper case, EXTVER).

    Raises
    ------
    ValueError
        Not a string, or an extension that is neither a number nor ``name,version``.
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"'{what}' must be a file name such as 'f_flt.fits[sci,1]'; "
                         f"got {spec!r}")
    spec = os.fspath(spec).strip()
    m = re.fullmatch(r"(.+?)\[([^\[\]]*)\]", spec)
    if not m:
        if not spec:
            raise ValueError(f"'{what}' is blank: give an image such as 'f_flt.fits[sci,1]'")
        return spec, None
    name = m.group(1).strip()
    parts = [p.strip().strip("'\"").strip() for p in m.group(2).split(",")]
    if len(parts) == 1 and re.fullmatch(r"\d+", parts[0]):
        return name, int(parts[0])
    if len(parts) == 1 and re.fullmatch(r"[A-Za-z_][\w-]*", parts[0]):
        return name, (parts[0].upper(), 1)
    if (len(parts) == 2 and re.fullmatch(r"[A-Za-z_][\w-]*", parts[0])
            and re.fullmatch(r"\d+", parts[1])):
        return name, (parts[0].upper(), int(parts[1]))
    raise ValueError(f"'{what}' {spec!r}: the extension must be a number ([1]) or a name and "
                     "version ([sci,1])")


def _label(name, ext):
    if ext is None:
        return name
    if isinstance(ext, int):
        return f"{name}[{ext}]"
    return f"{name}[{ext[0].lower()},{ext[1]}]"


def _shape_of(header):
    """(nx, ny) of an image header (NAXISn, else WCSNAXn), or None."""
    if header.get("NAXIS", 0) == 2 and header.get("NAXIS1") and header.get("NAXIS2"):
        return int(header["NAXIS1"]), int(header["NAXIS2"])
    n1, n2 = header.get("WCSNAX1"), header.get("WCSNAX2")
    if isinstance(n1, numbers.Integral) and isinstance(n2, numbers.Integral) and n1 > 0 and n2 > 0:
        return int(n1), int(n2)
    return None


def _open_headers(name, what):
    """Open an image for its headers (and lookup tables); OSError naming it otherwise.

    Only headers and the small distortion arrays are read, so a file whose
    data are cut short or whose NEXTEND is stale is still usable here.
    """
    check_file(name, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fits.open(name, memmap=False, mode="readonly", lazy_load_hdus=False)
    except Exception as exc:  # astropy raises OSError, VerifyError, ValueError for junk
        raise OSError(f"cannot read {what} {name}: {exc}") from None


def _hdu_wcs(hdul, index, label):
    """The full celestial WCS of HDU ``index`` (pixel_shape set where known)."""
    header = hdul[index].header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            w = WCS(header, hdul)
        except Exception as exc:  # astropy raises several types for broken WCS keywords
            raise ValueError(f"{label}: cannot read the WCS: {exc}") from None
    if not (w.has_celestial and w.naxis == 2 and w.celestial.naxis == 2):
        raise ValueError(f"{label}: no celestial WCS (CTYPE = {list(w.wcs.ctype)})")
    shape = _shape_of(header)
    if shape is not None:
        w.pixel_shape = shape
    return w


def _has_celestial(header):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return WCS(header).has_celestial
        except Exception:
            return False


def _sci_indices(hdul):
    """HDU indices of the SCI extensions, in EXTVER order."""
    sci = [(int(h.header.get("EXTVER", 1)), i) for i, h in enumerate(hdul)
           if i > 0 and str(h.header.get("EXTNAME", "")).strip().upper() == "SCI"]
    return [i for _, i in sorted(sci)]


def load_chip_wcs(spec, what="input"):
    """The full WCS of one chip.

    Parameters
    ----------
    spec : str or astropy.wcs.WCS
        ``file.fits[ext]`` (see :func:`parse_image`), or a WCS used as given.
    what : str
        The parameter, for messages.

    Returns
    -------
    wcs : astropy.wcs.WCS
        With SIP and lookup tables; ``pixel_shape`` from NAXISn (or WCSNAXn)
        where the header has them.
    label : str
        ``file.fits[sci,1]`` for messages and output text.

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        Missing extension, no celestial WCS, or no extension named where the
        file has several SCI extensions.
    """
    if isinstance(spec, WCS):
        if not (spec.has_celestial and spec.naxis == 2):
            raise ValueError(f"'{what}' WCS is not a 2-D celestial WCS")
        return spec, "<WCS>"
    name, ext = parse_image(spec, what)
    hdul = _open_headers(name, f"'{what}' image")
    with hdul:
        if ext is None:
            sci = _sci_indices(hdul)
            if _has_celestial(hdul[0].header):
                index, label = 0, name
            elif len(sci) == 1:
                index, label = sci[0], _label(name, ("SCI", hdul[sci[0]].header.get("EXTVER", 1)))
            elif sci:
                raise ValueError(f"'{what}' {name} has {len(sci)} SCI extensions: name one, "
                                 f"e.g. '{name}[sci,1]'")
            else:
                raise ValueError(f"'{what}' {name}: the primary header has no celestial WCS "
                                 f"and there is no SCI extension; name one, e.g. '{name}[1]'")
            return _hdu_wcs(hdul, index, label), label
        label = _label(name, ext)
        try:
            hdu = hdul[ext]
        except (KeyError, IndexError):
            have = ", ".join(f"[{h.name.lower()},{h.header.get('EXTVER', 1)}]"
                             for h in hdul[1:]) or "none"
            raise ValueError(f"'{what}' {name} has no extension "
                             f"{_label('', ext)} (extensions: {have})") from None
        return _hdu_wcs(hdul, hdul.index(hdu), label), label


# ------------------------------------------------------------- transforms

def pix_to_sky(wcs, x, y):
    """Sky positions of 1-based pixel positions, every distortion applied.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
    x, y : numpy.ndarray, float64, shape (n,)

    Returns
    -------
    ra, dec : numpy.ndarray, float64, shape (n,)
        Degrees.
    """
    ra, dec = wcs.all_pix2world(x, y, 1)
    return np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)


def sky_to_pix(wcs, ra, dec, label="input"):
    """1-based pixel positions of sky positions, inverting every distortion.

    The inverse iterates to :data:`INVERSE_TOL` pixels.  Where it diverges or
    does not converge the result is NaN and a RuntimeWarning names the count.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
    ra, dec : numpy.ndarray, float64, shape (n,)
        Degrees.
    label : str
        The image, for the warning.

    Returns
    -------
    x, y : numpy.ndarray, float64, shape (n,)
    """
    ra = np.asarray(ra, dtype=np.float64)
    dec = np.asarray(dec, dtype=np.float64)
    if ra.size == 0:
        return ra.copy(), dec.copy()
    distorted = (wcs.sip is not None or wcs.cpdis1 is not None or wcs.cpdis2 is not None
                 or wcs.det2im1 is not None or wcs.det2im2 is not None)
    with warnings.catch_warnings():  # astropy's and numpy's NaN noise; one warning below
        warnings.simplefilter("ignore")
        if not distorted:
            x, y = wcs.wcs_world2pix(ra, dec, 1)
        else:
            try:
                x, y = wcs.all_world2pix(ra, dec, 1, tolerance=INVERSE_TOL,
                                         maxiter=INVERSE_MAXITER)
            except NoConvergence as exc:
                best = np.array(exc.best_solution, dtype=np.float64).reshape(-1, 2)  # origin 1
                bad = np.zeros(ra.size, dtype=bool)
                for idx in (exc.divergent, exc.slow_conv):
                    if idx is not None:
                        bad[np.asarray(idx, dtype=np.intp)] = True
                if not bad.any():  # no index given: every point is suspect
                    bad[:] = True
                best[bad] = np.nan
                x, y = best[:, 0], best[:, 1]
    x = np.array(x, dtype=np.float64, ndmin=1)
    y = np.array(y, dtype=np.float64, ndmin=1)
    failed = int(np.count_nonzero(~(np.isfinite(x) & np.isfinite(y))
                                  & np.isfinite(ra) & np.isfinite(dec)))
    if failed:
        x[~np.isfinite(y)] = np.nan
        y[~np.isfinite(x)] = np.nan
        warnings.warn(f"{label}: the sky-to-pixel inverse did not converge for {failed} of "
                      f"{ra.size} position(s) (set to NaN); they are probably far outside "
                      "the image", RuntimeWarning, stacklevel=3)
    return x, y


def check_sky_range(ra, dec):
    """ValueError unless every RA is in [0, 360) and every Dec in [-90, 90] degrees.

    Parameters
    ----------
    ra, dec : numpy.ndarray, float64, shape (n,)
        Degrees.
    """
    for values, name, ok in ((ra, "ra", (ra >= 0) & (ra < 360)),
                             (dec, "dec", (dec >= -90) & (dec <= 90))):
        if not ok.all():
            bad = values[~ok]
            interval = "[0, 360)" if name == "ra" else "[-90, 90]"
            raise ValueError(f"'{name}' must be in {interval} degrees; got {bad.size} value(s) "
                             f"outside it, e.g. {float(bad[0])!r}")


# ------------------------------------------------------------ command line

def usage_error(args, message):
    """A usage error of the sub-command (exit status 2 on the ``gpudrizzle`` command line)."""
    from .cli import CommandLineError

    command = getattr(args, "command", None)
    return CommandLineError(f"gpudrizzle {command}: error: {message}" if command
                            else f"error: {message}")


def add_pixel_options(parser):
    """The options of a sub-command that reads pixel positions and writes a table:
    ``--x --y --coordfile --colnames --separator --precision --output``."""
    parser.add_argument("--x", type=float, nargs="+", help="1-based x position(s)")
    parser.add_argument("--y", type=float, nargs="+", help="1-based y position(s)")
    parser.add_argument("--coordfile", help="text file or FITS table of x, y positions")
    parser.add_argument("--colnames", help="x and y columns, e.g. 'c3,c4' (default 'c1,c2')")
    parser.add_argument("--separator", help="column delimiter of a text coordfile")
    add_output_options(parser)


def add_output_options(parser):
    """``--precision`` and ``--output`` of the coordinate sub-commands."""
    parser.add_argument("--precision", type=int, default=6, help="decimals (default 6)")
    parser.add_argument("--output", help="file to write the results to")


def cli_positions(args, a, b, file_option="--coordfile"):
    """Options ``--<a>`` and ``--<b>`` (lists) as scalars or lists, checked against the file.

    Raises :func:`usage_error` when neither the pair nor the file is given,
    when both are, or when the two lists differ in length.
    """
    va, vb = getattr(args, a), getattr(args, b)
    given = va is not None or vb is not None
    if not blank(args.coordfile):
        if given:
            raise usage_error(args, f"give --{a} and --{b}, or {file_option}, not both")
        return None, None
    if va is None or vb is None:
        raise usage_error(args, f"give --{a} and --{b}, or {file_option}")
    if len(va) != len(vb):
        raise usage_error(args, f"--{a} and --{b} have different numbers of values "
                                f"({len(va)} and {len(vb)})")
    return (va[0], vb[0]) if len(va) == 1 else (va, vb)


def run_quietly(args, call):
    """``call()`` for a sub-command: warnings become log lines, ``--quiet`` with
    ``--output`` prints nothing; returns ``call()``'s result."""
    import contextlib
    import io
    import logging

    log = logging.getLogger("gpudrizzle")
    silent = getattr(args, "quiet", False) and not blank(getattr(args, "output", None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(io.StringIO()) if silent else contextlib.nullcontext():
            result = call()
    for w in dict.fromkeys(str(w.message) for w in caught):
        log.warning("%s", w)
    return result


# ------------------------------------------------------------ positions

def _as_vector(value, name):
    """(float64 array (n,), given as a scalar?) of a number, list or array."""
    scalar = np.ndim(value) == 0
    try:
        a = np.array(value, dtype=np.float64, ndmin=1)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a number or a list/array of numbers; got "
                         f"{value!r:.80}") from None
    if a.ndim != 1:
        raise ValueError(f"'{name}' must be a number or a 1-D list/array; got shape {a.shape}")
    return a, scalar


def positions(x, y, names=("x", "y"), coordfile=None, colnames=None, separator=None):
    """Pixel positions given as numbers, lists or arrays, or read from a coordinate file.

    Parameters
    ----------
    x, y : float, sequence or numpy.ndarray
        Same length; None when ``coordfile`` is given.
    names : (str, str)
        The parameters, for messages.
    coordfile, colnames, separator : str, optional
        A coordinate file and its columns, as :func:`read_coordfile` reads
        them; blank or None: ``x`` and ``y`` are used.

    Returns
    -------
    x, y : numpy.ndarray, float64, shape (n,)
        New arrays (the inputs are not modified).
    scalar : bool
        Both were scalars (never with a ``coordfile``).

    Raises
    ------
    ValueError
        Missing, not numeric, of different lengths, or given together with
        a ``coordfile``.
    OSError
        A missing or unreadable ``coordfile``.
    """
    if not blank(coordfile):
        if x is not None or y is not None:
            raise ValueError(f"give '{names[0]}' and '{names[1]}', or 'coordfile', not both")
        xa, ya = read_coordfile(coordfile, colnames, separator)
        return xa, ya, False
    if x is None or y is None:
        raise ValueError(f"give both '{names[0]}' and '{names[1]}', or a 'coordfile'")
    xa, xs = _as_vector(x, names[0])
    ya, ys = _as_vector(y, names[1])
    if xa.size != ya.size:
        raise ValueError(f"'{names[0]}' and '{names[1]}' have different lengths "
                         f"({xa.size} and {ya.size})")
    return xa, ya, xs and ys


#: Separators of sexagesimal fields: colons, blanks, and the h/d, m, s unit letters.
_LETTERS = re.compile(r"[:hHdDmMsS]")
#: Degrees per hour of right ascension, as astropy converts them (so that text matches).
_HOUR_DEG = float(units.hourangle.to(units.deg))


def _angle(value, hours, name):
    """Degrees of one RA (``hours``: sexagesimal in hours) or Dec value."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise ValueError(f"'{name}' value {value!r:.60} is not a number or a sexagesimal string")
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    fields = _LETTERS.sub(" ", text).split()
    try:
        if not 1 <= len(fields) <= 3:
            raise ValueError
        parts = [float(f) for f in fields]
        if any(p < 0 for p in parts[1:]) or any(p >= 60 for p in parts[1:]):
            raise ValueError
    except ValueError:
        unit = "hh:mm:ss.s" if hours else "dd:mm:ss.s"
        raise ValueError(f"'{name}' value {value!r} is neither decimal degrees nor "
                         f"sexagesimal ({unit})") from None
    negative = text.startswith("-")
    size = abs(parts[0])  # summed in astropy's order, so that the text matches drizzlepac's
    if len(parts) > 1:
        size += parts[1] / 60.0
    if len(parts) > 2:
        size += parts[2] / 3600.0
    size = -size if negative else size
    return size * _HOUR_DEG if hours else size


def sky_positions(ra, dec):
    """Sky positions given as numbers or strings, single or in lists/arrays.

    A number, or a string that reads as one, is decimal degrees; other
    strings are sexagesimal (``'19:10:50.3'``, ``'19 10 50.3'``,
    ``'19h10m50.3s'``), in hours for RA and in degrees for Dec.

    Returns
    -------
    ra, dec : numpy.ndarray, float64, shape (n,)
        Degrees.
    scalar : bool
        Both were single values.

    Raises
    ------
    ValueError
        Missing, unreadable, or of different lengths (the parameter is named).
    """
    if ra is None or dec is None:
        raise ValueError("give both 'ra' and 'dec', or a 'coordfile'")
    scalar = np.ndim(ra) == 0 and np.ndim(dec) == 0
    out = []
    for value, name, hours in ((ra, "ra", True), (dec, "dec", False)):
        arr = np.asarray(value)
        if arr.ndim > 1:
            raise ValueError(f"'{name}' must be a single value or a 1-D list/array")
        if arr.dtype.kind in "iuf":
            out.append(np.array(arr, dtype=np.float64, ndmin=1))
        else:
            items = [value] if arr.ndim == 0 else list(value)
            out.append(np.array([_angle(v, hours, name) for v in items], dtype=np.float64))
    if out[0].size != out[1].size:
        raise ValueError(f"'ra' and 'dec' have different lengths ({out[0].size} and "
                         f"{out[1].size})")
    return out[0], out[1], scalar


# -------------------------------------------------------- coordinate files

def _colnames(colnames):
    """Two column specs from drizzlepac's ``colnames`` (None: the first two columns)."""
    if blank(colnames):
        return ["c1", "c2"]
    if isinstance(colnames, str):
        specs = [c.strip() for c in colnames.split(",")]
    else:
        try:
            specs = [str(c).strip() for c in colnames]
        except TypeError:
            raise ValueError(f"'colnames' must be 'c1,c2' or a list of two column names; "
                             f"got {colnames!r}") from None
    if len(specs) != 2 or not all(specs):
        raise ValueError(f"'colnames' must name two columns (e.g. 'c1,c2' or ['x', 'y']); "
                         f"got {colnames!r}")
    return specs


def _is_fits(path):
    with open(path, "rb") as f:
        return f.read(6) == b"SIMPLE"


def _split_columns(path, specs, separator):
    """Text columns split on ``separator``, as numbers (first two may be sexagesimal)."""
    index = []
    for spec in specs:
        tokens = column_tokens(spec)
        if len(tokens) != 1 or not tokens[0].isdigit() or int(tokens[0]) < 1:
            raise ValueError(f"'colnames' {spec!r}: with a separator, give columns as 'c1' or 1")
        index.append(int(tokens[0]) - 1)
    out = [[], []]
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#") or "INDEF" in text:
                continue
            words = [w.strip() for w in text.split(separator)]
            for c, k in enumerate(index):
                if k >= len(words):
                    raise ValueError(f"{path}, line {lineno}: no column {specs[c]} (the line "
                                     f"has {len(words)} values split on {separator!r})")
                try:
                    out[c].append(float(words[k]) if ":" not in words[k]
                                  else _angle(words[k], c == 0, "coordfile"))
                except ValueError:
                    raise ValueError(f"{path}, line {lineno}: column {specs[c]} is not a "
                                     f"number: {words[k]!r}") from None
    return [np.array(v, dtype=np.float64) for v in out]


def read_coordfile(path, colnames=None, separator=None, what="coordfile"):
    """Two coordinate columns of a text file or FITS table.

    Parameters
    ----------
    path : str
        The file.
    colnames : str or sequence of str, optional
        ``'c1,c2'``, ``['c3', 'c4']``, ``[3, 4]`` (1-based), names from the
        header comment line or the FITS table, or for sky columns several
        columns joined as one sexagesimal value (``['c1,c2,c3', 'c4,c5,c6']``).
        Default: the first two columns.
    separator : str, optional
        Column delimiter of a text file (default: whitespace).

    Returns
    -------
    a, b : numpy.ndarray, float64, shape (n,)
        First and second requested columns (sexagesimal RA in hours and Dec
        in degrees converted to degrees).

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        Unknown column, a value that is not a number, or no rows.
    """
    path = os.fspath(path)
    check_file(path, what)
    specs = _colnames(colnames)
    if not blank(separator) and separator.strip() and not _is_fits(path):
        a, b = _split_columns(path, specs, separator.strip())
    else:
        a, b = read_columns(path, specs, what)
    if a.size == 0:
        raise ValueError(f"{what} {path} holds no coordinates")
    return a, b


# ------------------------------------------------------------- formatting

def fixed(values, precision):
    """``'%.<precision>f'`` of each value: list of str."""
    return [f"{v:.{precision}f}" for v in np.asarray(values, dtype=np.float64).tolist()]


def _sexagesimal(value, hours, precision):
    """'h:m:s.sss' / 'd:m:s.sss' as drizzlepac writes it (no zero padding)."""
    if not math.isfinite(value):
        return "nan"
    sign = "-" if value < 0 and not hours else ""
    a = value / 15.0 if hours else abs(value)
    whole = math.floor(a)
    minutes = (a - whole) * 60.0
    m = math.floor(minutes)
    seconds = f"{(minutes - m) * 60.0:.{precision}f}"
    if float(seconds) >= 60.0:  # rounding reached 60: carry into the minutes
        seconds = f"{0.0:.{precision}f}"
        m += 1
        if m == 60:
            m, whole = 0, whole + 1
    if hours:
        whole %= 24
    return f"{sign}{int(whole)}:{int(m)}:{seconds}"


def degrees_to_hms(ra, dec, precision=6):
    """RA (hours) and Dec as sexagesimal strings.

    Parameters
    ----------
    ra, dec : numpy.ndarray, float64, shape (n,)
        Degrees.
    precision : int
        Decimals of the seconds.

    Returns
    -------
    ra, dec : list of str
        ``'9:11:27.274782'``, ``'-64:52:41.800584'`` (declinations between 0
        and -1 degree keep their sign: ``'-0:30:0.000000'``).
    """
    return ([_sexagesimal(v, True, precision) for v in np.asarray(ra, dtype=float).tolist()],
            [_sexagesimal(v, False, precision) for v in np.asarray(dec, dtype=float).tolist()])


def check_precision(precision):
    """``precision`` as a non-negative int, else ValueError."""
    if isinstance(precision, bool) or not isinstance(precision, numbers.Integral) or precision < 0:
        raise ValueError(f"'precision' must be a non-negative integer; got {precision!r}")
    return int(precision)


def report(label, header, rows, first, second, output=None, show=True):
    """Print drizzlepac's table and write its output file.

    Parameters
    ----------
    label : str
        The image, for the titles.
    header : str
        Column header line of the printed table (starting with ``#``).
    rows : iterable of str
        The printed table's rows (read only when ``show``).
    first, second : list of str
        The two formatted result columns of the output file.
    output : str, optional
        File to write (replaced if present); blank or None: none written.
    show : bool
        Print the table: its title, ``header``, a blank line and ``rows``.
    """
    if show:
        print("# Coordinate transformations for ", label)
        print(header + "\n")
        for row in rows:
            print(row)
    if not blank(output):
        lines = [f"# Coordinates converted from {label}\n"]
        lines.extend(f"{a}    {b}\n" for a, b in zip(first, second))
        write_text(os.fspath(output), "".join(lines))
        print("Wrote out results to: ", output)
