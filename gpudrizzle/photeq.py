"""photeq: equalize the inverse sensitivity (PHOTFLAM) of chips by rescaling their data.

drizzlepac's ``photeq`` task, with its parameters, its rules and its log
text: every science extension's ``phot_kwd`` value is set to one reference
value (the first found in the inputs, the one of ``ref_phot_ext``, or the
user's ``ref_phot``), its data and error arrays are multiplied by
``old / reference`` and the auxiliary keywords (``aux_phot_kwd``) divided by
it.  A value in the primary header serves the extensions that have none.

``readonly=True`` (the default) only reports what would be done.  Otherwise
rescaling the input files in place is the task's purpose: every file's new
bytes go into a temporary copy beside it (only the changed header blocks and
data arrays are written over the original's bytes; nothing else changes), and
the copies are renamed over the originals only when every one is complete
(:func:`gpudrizzle.files.write_together`), so a failure leaves all files as
they were.

The log goes to the console (the messages alone) and, appended, to
``logfile`` as ``[INFO:] message`` lines, as drizzlepac writes it.
"""

import argparse
import logging
import math
import numbers
import os
import re
import sys
from datetime import datetime

import numpy as np
from astropy.io import fits

from . import __version__
from . import files as _files
from .inputs import expand_input, open_fits

__all__ = ["photeq", "add_arguments", "run_from_args"]
__taskname__ = "photeq"

_log = logging.getLogger(__name__)
_LOG_FORMAT = "[%(levelname)s:] %(message)s"
_COMMA = re.compile(r",(?![^\[]*\])")  # a comma outside [...]
_EXT_SPEC = re.compile(r"^(?P<name>.*?)\s*\[[^\[\]]*\]$")


class PhotometryNotFound(RuntimeError, ValueError):
    """No input image has the inverse-sensitivity keyword (drizzlepac raises RuntimeError)."""


def _info(msg):
    for line in msg.splitlines():
        _log.info(line)


def _warn(msg):
    for line in msg.splitlines():
        _log.warning(line)


def _ext2str(ext, default_extver=1):
    """An extension as drizzlepac's log writes it: ``'SCI',1``, ``3``, ``'SCI',``."""
    if isinstance(ext, tuple):
        return f"'{ext[0]}',{ext[1]}"
    if isinstance(ext, int):
        return f"{ext}"
    return f"'{ext}',{'' if default_extver is None else default_extver}"


class _Image:
    """One input file held in memory, with the HDUs whose header or data changed."""

    def __init__(self, name):
        self.name = name
        with open_fits(name, memmap=False):  # complete and readable: clear errors first
            pass
        # raw values, headers as stored (no BSCALE/BZERO taken out of them)
        self.hdul = fits.open(name, mode="readonly", memmap=False, lazy_load_hdus=False,
                              do_not_scale_image_data=True)
        if (len(self.hdul) > 1 and self.hdul[0].header.get("NAXIS", 0)
                and isinstance(self.hdul[1], fits.TableHDU)):
            self.hdul.close()
            raise ValueError(f"{name} is a waivered FITS file (a data cube and an ASCII "
                             "table of group parameters); photeq works on multi-extension "
                             "FITS files: convert it first")
        self.headers = set()
        self.data = set()

    def ext_list(self, sciext):
        """drizzlepac's extension list: ``(sciext, extver)`` tuples, or image-like HDU numbers."""
        if sciext is None:
            out = []
            for i, hdu in enumerate(self.hdul):
                h = hdu.header
                if h.get("NAXIS") == 2 and (str(h.get("XTENSION", "")).strip().upper() == "IMAGE"
                                            or "SIMPLE" in h):
                    out.append(i)
            return out
        out = []
        for hdu in self.hdul:
            name = hdu.header.get("EXTNAME")
            if isinstance(name, str) and name.strip().upper() == sciext.upper():
                out.append((sciext, int(hdu.header.get("EXTVER", 1))))
        return out

    def index(self, ext, what="extension"):
        """HDU number of ``ext`` (tuple or int); KeyError naming the file when absent."""
        if isinstance(ext, int):
            if 0 <= ext < len(self.hdul):
                return ext
        else:
            try:
                return self.hdul.index_of(ext)
            except (KeyError, IndexError):
                pass
        raise KeyError(f"{what} [{_ext2str(ext)}] is not in {self.name} "
                       f"({len(self.hdul)} HDUs)")

    def label(self, index):
        h = self.hdul[index].header
        return f"{self.name}[{index}]" if not index or "EXTNAME" not in h else \
            f"{self.name}[{h['EXTNAME']},{h.get('EXTVER', 1)}]"

    def value(self, index, keyword):
        v = self.hdul[index].header[keyword]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{keyword} in {self.label(index)} is not a number: {v!r}")
        return v

    def set(self, index, keyword, value):
        self.hdul[index].header[keyword] = value
        self.headers.add(index)

    def floating(self, index):
        """Whether the HDU's (physical) data are floating point; None without data."""
        h = self.hdul[index].header
        if self.hdul[index].data is None:
            return None
        return h.get("BITPIX", 8) < 0 or not _plain_integers(h)

    def scale(self, index, factor):
        """Multiply the HDU's floating-point data by ``factor`` (in their own type)."""
        h = self.hdul[index].header
        if h.get("BSCALE", 1) != 1 or h.get("BZERO", 0) != 0:
            raise ValueError(f"{self.label(index)} holds scaled data (BSCALE = "
                             f"{h.get('BSCALE', 1)}, BZERO = {h.get('BZERO', 0)}); photeq "
                             "rescales unscaled floating-point arrays only")
        self.hdul[index].data *= factor
        self.data.add(index)

    def patches(self):
        """Byte patches writing the changed header blocks and data arrays over the original's."""
        out = []
        for index in sorted(self.headers | self.data):
            info = self.hdul.fileinfo(index)
            hdu = self.hdul[index]
            if index in self.headers:
                text = hdu.header.tostring(padding=True).encode("ascii")
                if len(text) != info["datLoc"] - info["hdrLoc"]:
                    raise OSError(f"photeq: the new header of {self.label(index)} does not fit "
                                  "in the old one's blocks")
                out.append((info["hdrLoc"], text))
            if index in self.data:
                data = hdu.data
                raw = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">")).tobytes()
                if len(raw) > info["datSpan"]:
                    raise OSError(f"photeq: the data of {self.label(index)} do not fit in place")
                out.append((info["datLoc"], raw))
        return out

    def close(self):
        self.hdul.close()


def _plain_integers(header):
    bzero = header.get("BZERO", 0)
    if header.get("BSCALE", 1) != 1:
        return False
    size = abs(int(header.get("BITPIX", 8))) // 8
    return bzero == 0 or bzero == (-128 if size == 1 else 1 << (8 * size - 1))


def _check_arguments(files, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux_phot_kwd,
                     logfile):
    if not isinstance(files, str):
        raise TypeError("Argument 'files' must be a comma-separated list of  file names")
    if logfile is not None and not isinstance(logfile, str):
        raise TypeError("Unsupported 'logfile' type")
    if sciext is not None:
        if not isinstance(sciext, str):
            raise TypeError("Argument 'sciext' must be a string or None")
        sciext = sciext.strip()
        if sciext.upper() == "PRIMARY":
            sciext = "PRIMARY"
        elif not sciext:
            raise ValueError("Argument 'sciext' must be an extension name or None")
    if errext is not None and not isinstance(errext, str):
        raise TypeError("Argument 'errext' must be a string or None")
    if not isinstance(phot_kwd, str):
        raise TypeError("Argument 'phot_kwd' must be a string")
    phot_kwd = phot_kwd.strip().upper()
    if not phot_kwd:
        raise ValueError("Argument 'phot_kwd' must name a header keyword")
    if ref_phot_ext is not None and not (
            (isinstance(ref_phot_ext, int) and not isinstance(ref_phot_ext, bool))
            or isinstance(ref_phot_ext, str)
            or (isinstance(ref_phot_ext, tuple) and len(ref_phot_ext) == 2
                and isinstance(ref_phot_ext[0], str) and isinstance(ref_phot_ext[1], int))):
        raise TypeError("Unsupported 'ref_phot_ext' type")
    if isinstance(ref_phot_ext, str):
        ref_phot_ext = (ref_phot_ext, 1)
    if ref_phot is not None and (isinstance(ref_phot, bool)
                                 or not isinstance(ref_phot, numbers.Real)
                                 or not math.isfinite(ref_phot) or ref_phot <= 0):
        raise ValueError(f"Argument 'ref_phot' must be a positive number or None; got {ref_phot!r}")
    if aux_phot_kwd is None:
        aux = []
    elif isinstance(aux_phot_kwd, str):
        aux = [aux_phot_kwd.strip().upper()]
    elif hasattr(aux_phot_kwd, "__iter__"):
        if not all(isinstance(k, str) for k in aux_phot_kwd):
            raise TypeError("Argument 'aux_phot_kwd' must be a string, list of strings, or None")
        aux = [k.strip().upper() for k in aux_phot_kwd]
    else:
        raise TypeError("Argument 'aux_phot_kwd' must be a string, list of strings, or None")
    if phot_kwd in aux:
        raise ValueError("Auxiliary photometric keyword(s) must be different from the main "
                         "photometric keyword 'phot_kwd'.")
    return sciext, phot_kwd, ref_phot_ext, aux


def _split_files(files):
    """Items of the comma list, their extension specifications removed (and reported)."""
    items, specs = [], []
    for item in (s.strip() for s in _COMMA.split(files)):
        if not item:
            continue
        m = _EXT_SPEC.match(item)
        if m and not os.path.isfile(item):
            item = m.group("name")
            specs.append(item)
        items.append(item)
    if not items:
        raise ValueError(f"Argument 'files' names no files: {files!r}")
    return items, specs


def photeq(files="*_flt.fits", sciext="SCI", errext="ERR", ref_phot=None, ref_phot_ext=None,
           phot_kwd="PHOTFLAM", aux_phot_kwd="PHOTFNU", search_primary=True, readonly=True,
           clobber=False, logfile="photeq.log"):
    """Equalize the inverse sensitivity of all chips to one value by rescaling their data.

    With ``readonly=False`` the input files are modified in place: that is
    this task's purpose.  All files are written together, through temporary
    copies, so that an error leaves every one unchanged.

    Parameters
    ----------
    files : str
        Comma-separated file names, wildcards, an ``@list`` file or an
        association table.  Extension specifications (``f.fits[sci,1]``) are
        ignored with a warning: all ``sciext`` extensions are used.
    sciext : str or None
        EXTNAME of the science extensions; ``'PRIMARY'``: the data are in the
        primary HDU; None: every 2-D image HDU.
    errext : str or None
        EXTNAME of the error arrays, rescaled like the science data (None: none).
    ref_phot : float, optional
        The reference value of ``phot_kwd`` (positive); None: taken from the files.
    ref_phot_ext : int, str or (str, int), optional
        The extension the reference is read from (in the first file that has
        the keyword there); ignored when ``ref_phot`` is given.
    phot_kwd : str
        Inverse-sensitivity keyword the factors come from (``PHOTFLAM``).
    aux_phot_kwd : str, list of str or None
        Other keywords divided by each extension's factor (``PHOTFNU``).
    search_primary : bool
        Look in the primary header first; its value serves extensions without one.
    readonly : bool
        Only report (the log is the same); nothing is written but the log.
    clobber : bool
        Has no effect, as in drizzlepac for multi-extension FITS inputs:
        drizzlepac uses it only when it converts GEIS or waivered-FITS inputs
        to multi-extension FITS (overwriting an existing converted file).
        Such inputs are refused here (a ValueError asking to convert them
        first), so nothing is ever converted; ``clobber`` is accepted (a
        bool) so that drizzlepac's calls run unchanged.
    logfile : str or None
        Log file, appended to; None: the console only.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        Arguments of the wrong type (as drizzlepac).
    ValueError
        Bad values, a waivered FITS input; :class:`PhotometryNotFound` (also a RuntimeError) when no
        file has ``phot_kwd``.
    OSError
        A missing, unreadable or truncated file; with ``readonly=False`` a
        read-only or compressed one.
    """
    runtime_begin = datetime.now()
    if not isinstance(clobber, (bool, np.bool_)):
        raise TypeError(f"Argument 'clobber' must be True or False; got {clobber!r}")
    sciext, phot_kwd, ref_phot_ext, aux = _check_arguments(
        files, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux_phot_kwd, logfile)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.setLevel(logging.DEBUG)
    old_level, old_propagate = _log.level, _log.propagate
    _log.addHandler(console)
    _log.setLevel(logging.INFO)
    _log.propagate = False  # the messages go to this console once, not to a caller's handler too
    try:
        if logfile is None:
            _run(runtime_begin, files, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux,
                 search_primary, readonly)
        else:
            with _files.LogFile(logfile, _log, logging.INFO, _LOG_FORMAT, append=True):
                _run(runtime_begin, files, sciext, errext, ref_phot, ref_phot_ext, phot_kwd,
                     aux, search_primary, readonly)
    finally:
        _log.removeHandler(console)
        _log.setLevel(old_level)
        _log.propagate = old_propagate


def _run(runtime_begin, files, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux,
         search_primary, readonly):
    _info(f"***** {__taskname__} started on {runtime_begin}")
    _info(f"      Version {__version__} ")
    items, specs = _split_files(files)
    names = list(expand_input(items).files)
    if not readonly:
        for name in names:  # refused before any work
            _files.check_updatable(name, what="data and photometry keywords")
    what = "image-like" if sciext is None else _ext2str(sciext, default_extver=None)
    for name in specs:
        _warn(f"WARNING: Extension specifications for file {name} will be ignored. "
              f"Using all {what} extensions instead.")
    images = []
    try:
        for name in names:
            images.append(_Image(name))
        _equalize(images, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux,
                  search_primary, what)
        _info("\nDone.")
        if readonly:
            _info(f"\nNOTE: '{__taskname__}' was run in READONLY mode\n"
                  "       and input image(s)' content WAS NOT MODIFIED.")
        else:
            writers = {im.name: _files.patch_writer(im.name, p) for im in images
                       if (p := im.patches())}
            _files.write_together(writers, overwrite=True, durable=True, kind="input file")
    finally:
        for im in images:
            im.close()


def _find_reference(images, sciext, ref_phot_ext, phot_kwd, search_primary, what):
    """(value, image, HDU index) of the reference; the images before it without one dropped."""
    kept = list(images)
    for im in images:
        if ref_phot_ext is None:
            extnum = [0] if sciext == "PRIMARY" else im.ext_list(sciext)
            indices = [im.index(e) for e in extnum]
            if search_primary:
                if 0 in indices:
                    indices.remove(0)
                indices.insert(0, 0)
        else:
            try:
                indices = [im.index(ref_phot_ext, "ref_phot_ext")]
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        for index in indices:
            if phot_kwd in im.hdul[index].header:
                return im.value(index, phot_kwd), im, index, kept
        _warn(f"WARNING: Could not find specified inverse          sensitivity keyword "
              f"'{phot_kwd}'\n         in any of the {what} extensions of file "
              f"'{os.path.basename(im.name)}'.\n         This input file will be ignored.")
        kept.remove(im)
    raise PhotometryNotFound(f"Could not find the inverse sensitivity keyword '{phot_kwd}' in "
                             "the specified headers of the input image(s).\nCannot continue.")


def _equalize(images, sciext, errext, ref_phot, ref_phot_ext, phot_kwd, aux, search_primary,
              what):
    ref = None  # (image, HDU index) of the reference
    if ref_phot is None:
        ref_phot, ref_im, ref_index, images = _find_reference(images, sciext, ref_phot_ext,
                                                              phot_kwd, search_primary, what)
        if ref_phot == 0:
            raise ValueError(f"{phot_kwd} = 0 in {ref_im.label(ref_index)}: it cannot be the "
                             "reference")
        ref = (ref_im, ref_index)
        ref_ext = ref_phot_ext if ref_phot_ext is not None else (
            0 if ref_index == 0 else next(e for e in ref_im.ext_list(sciext)
                                          if ref_im.index(e) == ref_index))
    _info(f"\nPRIMARY PHOTOMETRIC KEYWORD: {phot_kwd}")
    _info(f"SECONDARY PHOTOMETRIC KEYWORD(S): {','.join(aux) if aux else 'None'}")
    if ref is None:
        _info(f"REFERENCE VALUE PROVIDED BY USER: '{phot_kwd}'={ref_phot}\n")
    else:
        _info(f"REFERENCE VALUE FROM FILE: '{os.path.basename(ref_im.name)}"
              f"[{_ext2str(ref_ext)}]'\n")
        _info(f"REFERENCE '{phot_kwd}' VALUE IS: {ref_phot}")
    for im in images:
        _info(f"\nProcessing file '{im.name}'")
        pri_conv = None
        if search_primary:
            if _primary(im, ref, ref_phot, phot_kwd, aux, sciext, errext):
                continue
            pri_conv = im.pri_conv
        _extensions(im, ref, ref_phot, phot_kwd, aux, sciext, errext, pri_conv)


def _primary(im, ref, ref_phot, phot_kwd, aux, sciext, errext):
    """The primary header's part; True when the file is done (``sciext='PRIMARY'``)."""
    header = im.hdul[0].header
    is_ref = ref is not None and ref == (im, 0)
    pri_conv = None
    if phot_kwd in header:
        _info("   * Primary header:")
        if is_ref:
            pri_conv = 1.0
            _info(f"     - '{phot_kwd}' = {header[phot_kwd]} found in the primary header.")
            _info(f"     - Data conversion factor based on primary header: {pri_conv}")
        else:
            _info(f"     - '{phot_kwd}' found in the primary header.")
            old = im.value(0, phot_kwd)
            pri_conv = old / ref_phot
            _info(f"     - Setting {phot_kwd} in the primary header to {ref_phot} "
                  f"(old value was {old})")
            _info(f"     - Data conversion factor based on primary header: {pri_conv}")
            im.set(0, phot_kwd, ref_phot)
    if pri_conv is not None and not is_ref:
        for kwd in aux:
            if kwd in header:
                old = im.value(0, kwd)
                new = old / pri_conv
                im.set(0, kwd, new)
                _info(f"     - Setting {kwd} in the primary header to {new} (old value was {old})")
    im.pri_conv = pri_conv
    if sciext != "PRIMARY" or pri_conv is None:
        return False
    floating = im.floating(0)
    if floating is not None:
        if floating:
            im.scale(0, pri_conv)
            _info(f"     - Data have been multiplied by {pri_conv}")
        else:
            _warn("WARNING: Data not converted because it is of non-floating point type.")
    if errext is not None:
        eext = (errext, 1)
        try:
            index = im.index(eext)
        except KeyError:
            _warn(f"     - WARNING: Error extension {_ext2str(eext)} not found.")
            return True
        _scale_error(im, index, eext, pri_conv)
    return True


def _scale_error(im, index, eext, conv):
    floating = im.floating(index)
    if floating is None:
        return
    if floating:
        im.scale(index, conv)
        _info(f"     - Error array (ext={eext}) has been multiplied by {conv}")
    else:
        _info(f"     - Error array in extension {_ext2str(eext)} contains non-floating point "
              "data.\n       Skipping this extension")


def _extensions(im, ref, ref_phot, phot_kwd, aux, sciext, errext, pri_conv):
    for ext in im.ext_list(sciext):
        index = im.index(ext)
        header = im.hdul[index].header
        if ref is not None and ref == (im, index):
            _info(f"   * EXT: {ext} - This is the \"reference\" extension.\n"
                  "          Nothing to do. Skipping this extension...")
            continue
        floating = im.floating(index)
        if floating is False:
            _info(f"   * EXT: {ext} contains non-floating point data. Skipping this extension")
        present = [k for k in aux if k in header]
        if phot_kwd in header:
            _info(f"   * EXT: {ext}")
            old = im.value(index, phot_kwd)
            conv = old / ref_phot
            _info(f"     - Setting {phot_kwd} to {ref_phot} (old value was {old})")
            im.set(index, phot_kwd, ref_phot)
            _info(f"     - Computed conversion factor for data: {conv}")
        elif pri_conv is None:
            _info(f"   * EXT: {ext}")
            _info(f"     - '{phot_kwd} not found. Skipping this extension...")
            continue
        else:
            _info(f"   * EXT: {ext}")
            _info(f"     - '{phot_kwd} not found. Using conversion factor based\n"
                  f"       on the primary header: {pri_conv}")
            conv = pri_conv
        for kwd in present:
            old = im.value(index, kwd)
            new = old / conv
            im.set(index, kwd, new)
            _info(f"     - Setting {kwd} to {new} (old value was {old})")
        if floating is not None:
            if floating:
                im.scale(index, conv)
                _info(f"     - Data have been multiplied by {conv}")
            else:
                _info("WARNING: Non-floating point data. Data cannot be re-scaled.")
        if errext is not None and isinstance(ext, tuple):
            eext = (errext, ext[1])
            try:
                eindex = im.index(eext)
            except KeyError:
                continue
            _scale_error(im, eindex, eext, conv)


# ---------------------------------------------------------------------------
# command line


def _yes_no(text):
    """yes/no (y, true, t, 1 / n, false, f, 0) as a bool (argparse type)."""
    value = text.strip().lower()
    if value in ("yes", "y", "true", "t", "1"):
        return True
    if value in ("no", "n", "false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no; got {text!r}")


def _positive(text):
    """A positive finite number (argparse type of --ref-phot)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}")
    return value


def _ref_ext(text):
    """``3``, ``sci`` or ``sci,3`` (drizzlepac's ``ref_phot_ext`` forms) from the command line."""
    text = text.strip()
    if not text:
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    name, _, ver = text.strip("()[]").partition(",")
    name = name.strip().strip("'\"")
    if ver.strip():
        return (name, int(ver))
    return name


def _aux_list(text):
    """drizzlepac's comma-separated ``aux_phot_kwd``: '' -> None, one -> str, more -> list."""
    names = [k.strip() for k in text.split(",") if k.strip()]
    if not names:
        return None
    return names[0] if len(names) == 1 else names


def add_arguments(parser):
    """Add photeq's parameters to ``parser`` (an :class:`argparse.ArgumentParser`)."""
    parser.add_argument("files", nargs="?", default="*_flt.fits",
                        help="input files: comma list, wildcard, @list (default: *_flt.fits)")
    parser.add_argument("--sciext", default="SCI", help="science EXTNAME (default: SCI; "
                        "PRIMARY for data in the primary HDU; '' for every image HDU)")
    parser.add_argument("--errext", default="ERR", help="error EXTNAME (default: ERR; '' for none)")
    parser.add_argument("--ref-phot", type=_positive, default=None,
                        help="reference value of the photometric keyword")
    parser.add_argument("--ref-phot-ext", type=_ref_ext, default=None,
                        help="extension of the reference value: 3, sci or sci,3")
    parser.add_argument("--phot-kwd", default="PHOTFLAM", help="photometric keyword (PHOTFLAM)")
    parser.add_argument("--aux-phot-kwd", type=_aux_list, default="PHOTFNU",
                        help="comma-separated auxiliary keywords (default: PHOTFNU; '' none)")
    parser.add_argument("--search-primary", type=_yes_no, default=True, metavar="yes|no",
                        help="look in the primary header first (default: yes)")
    parser.add_argument("--readonly", type=_yes_no, default=True, metavar="yes|no",
                        help="only report; 'no' rescales the files in place (default: yes)")
    parser.add_argument("--clobber", type=_yes_no, default=False, metavar="yes|no",
                        help="no effect (drizzlepac uses it only to convert GEIS or waivered FITS, which are "
                             "refused here)")
    parser.add_argument("--logfile", default="photeq.log",
                        help="log file, appended to (default: photeq.log; '' for none)")
    return parser


def run_from_args(args):
    """Run :func:`photeq` from parsed arguments; return 0 (errors raise, as one line)."""
    try:
        photeq(files=args.files, sciext=args.sciext.strip() or None,
               errext=args.errext.strip() or None, ref_phot=args.ref_phot,
               ref_phot_ext=args.ref_phot_ext, phot_kwd=args.phot_kwd,
               aux_phot_kwd=args.aux_phot_kwd, search_primary=args.search_primary,
               readonly=args.readonly, clobber=args.clobber,
               logfile=args.logfile.strip() or None)
    except PhotometryNotFound as exc:
        raise PhotometryNotFound(" ".join(str(exc).split())) from None
    return 0
