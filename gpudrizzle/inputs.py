"""AstroDrizzle input specifications: file lists, IVM files and the output name.

:func:`expand_input` accepts what drizzlepac 3.11's ``processInput`` accepts:

* a file name, a wildcard pattern, or a comma-separated string of them; a
  name that exists is taken as it is, before any globbing or splitting at
  commas (so ``a[1]_flt.fits`` and ``a,b_flt.fits`` can be given);
* ``@list``: a text file with one input per line and an optional second
  column, separated by white space (a comma belongs to the name, as in
  drizzlepac), naming that input's inverse-variance (IVM) file; blank lines and
  lines starting with ``#`` are skipped; a line may be a wildcard pattern
  when the list has no IVM column;
* an association table (a name containing ``_asn`` or ``_asc``): the rows
  whose MEMTYPE starts with ``EXP`` (and whose MEMPRSNT is true) are the
  inputs, each MEMNAME (lower case) resolved beside the table to
  ``<name>_crj.fits``, ``_flt.fits``, ``_flc.fits``, ``_sfl.fits`` or
  ``_cal.fits``, in that order; both an ``_flt`` and an ``_flc`` file for
  one member is an error (drizzlepac's duplicate check) unless the table
  header has ``DUPCHECK`` other than ``PERFORM``;
* a Python list (or tuple) of any of these.

Order: a string input is sorted by name, as drizzlepac sorts it (the first
input defines the output orientation); the order of a Python list, of an
``@list`` and of an association table is kept.  Relative names in an
``@list`` are looked up in the current directory (drizzlepac) and, failing
that, beside the list file.

Output name (:func:`output_name`): with ``output`` blank, the product name
of a lone association table (PROD-DTH, else PROD-RPT, else PROD-CRJ member,
lower case; else the table name up to its first ``_``), the rootname of a
single input (its name without ``_flt.fits``-style suffix, directory kept),
else ``final``.  The suffix is ``drc`` when the first input is an ``_flc``
file, else ``drz``.  A given ``output`` containing ``_drz``/``_drc`` is cut
there (that suffix is kept); otherwise ``.fits`` and anything after it is
dropped.  Where drizzlepac differs: it keeps ``drz`` for an explicit
``output`` such as ``name.fits`` even for ``_flc`` inputs (gpudrizzle uses
``drc`` there too), and it misses a PROD-DTH row that is the table's first
row (it tests an index array's truth value).
"""

import bz2
import glob
import gzip
import math
import os
import re
import warnings
import zlib
from typing import NamedTuple

import numpy as np
from astropy.io import fits

__all__ = ["InputList", "OutputName", "expand_input", "output_name", "rootname_of", "check_file",
           "open_fits", "check_complete", "fits_length", "read_asn_table", "ROOTNAME_SUFFIXES",
           "ASN_MEMBER_SUFFIXES"]

#: Suffixes removed to form a rootname (drizzlepac ``fileutil.buildNewRootname``).
ROOTNAME_SUFFIXES = ("_crj.fits", "_crc.fits", "_flt.fits", "_flc.fits", "_sfl.fits",
                     "_cal.fits", "_raw.fits", "_drz.fits", "_drc.fits", ".fits")
#: Files an association member may resolve to, in order of preference.
ASN_MEMBER_SUFFIXES = ("_crj.fits", "_flt.fits", "_flc.fits", "_sfl.fits", "_cal.fits")

_WILDCARD = re.compile(r"[*?\[]")
#: Leading bytes of the compressed files astropy opens, and how to read them as a stream.
_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))


class OutputName(NamedTuple):
    """Root of the product names, e.g. ``OutputName("final", "drz")``.

    Attributes
    ----------
    rootname : str
        Output rootname (may include a directory).
    suffix : {"drz", "drc"}
    """

    rootname: str
    suffix: str

    def product(self, kind=None):
        """File name of a product: ``final_drz.fits`` or, with kind "sci", ``final_drz_sci.fits``."""
        tail = f"_{kind}" if kind else ""
        return f"{self.rootname}_{self.suffix}{tail}.fits"


class InputList(NamedTuple):
    """Expanded input specification.

    Attributes
    ----------
    files : tuple of str
        Input file names, in processing order.
    ivm_files : tuple of (str or None)
        IVM file of each input (from an ``@list`` second column), else None.
    output : OutputName
    asn_tables : tuple of str
        Association tables that were expanded.
    """

    files: tuple
    ivm_files: tuple
    output: OutputName
    asn_tables: tuple


def rootname_of(filename):
    """``j8bt06nyq_flt.fits`` -> ``j8bt06nyq`` (directory kept), as drizzlepac's buildNewRootname."""
    name = os.fspath(filename)
    base = os.path.basename(name)
    for suffix in ROOTNAME_SUFFIXES:
        i = base.find(suffix)
        if i > 0:
            return name[: len(name) - len(base) + i]
    return name


def _is_asn(name):
    base = os.path.basename(name).lower()
    return ("_asn" in base or "_asc" in base) and base.endswith(".fits")


def check_file(name, what="input file", context=""):
    """``name`` if it is an existing, readable file; else OSError naming it (and ``context``)."""
    where = f" (listed in {context})" if context else ""
    if not os.path.exists(name):
        raise FileNotFoundError(f"{what} not found: {name}{where}")
    if not os.path.isfile(name):
        raise IsADirectoryError(f"{what} is not a file: {name}{where}")
    if not os.access(name, os.R_OK):
        raise PermissionError(f"{what} is not readable: {name}{where}")
    return name


def read_text(path, what):
    """The text of a small UTF-8 file the user gives (region, shift, exclusions file ...).

    Raises FileNotFoundError ``<what> <path> does not exist`` or ValueError ``<what> <path>
    is not a text file``."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not a text file") from None


def _stream_length(name, opener, what):
    """Bytes of the decompressed content of ``name``, read to the end of the stream."""
    total = 0
    try:
        with opener(name, "rb") as stream:
            while chunk := stream.read(1 << 24):
                total += len(chunk)
    except (EOFError, OSError, zlib.error, ValueError) as exc:  # gzip.BadGzipFile is an OSError
        raise OSError(f"{what} {name} is truncated or corrupt: {exc}") from None
    return total


def fits_length(name, what="input file"):
    """Bytes of FITS content in ``name``, and whether it is compressed (gzip, bzip2).

    A compressed file is decompressed once to its end, so that a cut or
    corrupted stream is found here, not as silently missing extensions.

    Returns
    -------
    length : int
        File size, or decompressed size.
    compressed : bool

    Raises
    ------
    OSError
        The compressed stream ends early or fails its check (the message names ``name``).
    """
    with open(name, "rb") as f:
        magic = f.read(3)
    for prefix, opener in _COMPRESSED:
        if magic.startswith(prefix):
            return _stream_length(name, opener, what), True
    return os.path.getsize(name), False


def _data_bytes(header):
    """Bytes of data (without padding) that an HDU header declares."""
    naxis = header.get("NAXIS", 0)
    if not naxis:
        return 0
    axes = [header.get(f"NAXIS{k}", 0) for k in range(1, naxis + 1)]
    if header.get("GROUPS") is True and axes[0] == 0:  # random groups: NAXIS1 = 0
        axes = axes[1:]
    count = math.prod(int(a) for a in axes)
    return abs(int(header.get("BITPIX", 8))) // 8 * int(header.get("GCOUNT", 1)) * (
        int(header.get("PCOUNT", 0)) + count)


def _extension_label(hdu, index):
    name = str(hdu.header.get("EXTNAME", "")).strip()
    if index == 0:
        return "[0]"
    return f"[{name},{hdu.header.get('EXTVER', 1)}]" if name else f"[{index}]"


def check_complete(hdul, name, what="input file"):
    """Raise OSError when an open FITS file holds less than its headers promise.

    Checked: the primary header's NEXTEND against the extensions present,
    and each HDU's data (NAXISn, BITPIX, PCOUNT, GCOUNT; for a tile-compressed
    image its padded table) against the file's (decompressed) length.  A
    missing final padding after complete data is accepted.  (A header cut
    short after the last whole HDU is found by :func:`open_fits`.)

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        ``name`` opened with ``lazy_load_hdus=False``.
    name : str
        The file.
    what : str
        What the file is, for the message ("input file", "IVM file", ...).

    Raises
    ------
    OSError
        The message names the file, the extension and what is missing.
    """
    length, _ = fits_length(name, what)
    for index, hdu in enumerate(hdul):
        info = hdul.fileinfo(index)
        if isinstance(hdu, fits.CompImageHDU):
            need = info["datSpan"]
        else:
            try:
                need = _data_bytes(hdu.header)
            except (TypeError, ValueError):
                raise OSError(f"{what} {name}{_extension_label(hdu, index)}: BITPIX, NAXISn, "
                              "PCOUNT or GCOUNT is not an integer") from None
        if info["datLoc"] + need > length:
            raise OSError(f"{what} {name}{_extension_label(hdu, index)} is truncated (or its "
                          f"header is wrong): the header declares {need} bytes of data from byte "
                          f"{info['datLoc']}, but the file ends at byte {length}")
    nextend = hdul[0].header.get("NEXTEND")
    if isinstance(nextend, int) and not isinstance(nextend, bool) and nextend > len(hdul) - 1:
        raise OSError(f"{what} {name} is truncated: NEXTEND = {nextend} but only "
                      f"{len(hdul) - 1} extension(s) are in the file ({length} bytes); if "
                      "extensions were removed on purpose, set NEXTEND to the number left")


def open_fits(name, what="input file", context="", memmap=True):
    """Open a FITS file read-only after checking that it is complete.

    Parameters
    ----------
    name : str
        The file (plain, gzip or bzip2 compressed).
    what : str
        What the file is, for messages.
    context : str
        Where the file was named (a list file, an input), for messages.
    memmap : bool
        Memory-map the data (plain files).

    Returns
    -------
    astropy.io.fits.HDUList
        Every header read (``lazy_load_hdus=False``); the caller closes it.

    Raises
    ------
    OSError
        Missing, unreadable, not FITS, truncated (:func:`check_complete`) or
        with bytes after its last HDU that are not a whole header; the
        message names the file.
    """
    check_file(name, what, context)
    with warnings.catch_warnings():
        # astropy's notices name no file: check_complete says what is missing, and a
        # header cut short after the last whole HDU becomes an error here
        warnings.filterwarnings("ignore", message="File may have been truncated")
        warnings.filterwarnings("ignore", message="Unexpected extra padding at the end")
        warnings.filterwarnings("error", message="Error validating header for HDU")
        try:
            hdul = fits.open(name, memmap=memmap, mode="readonly", lazy_load_hdus=False)
        except fits.verify.VerifyWarning as exc:
            detail = " ".join(str(exc).split())
            raise OSError(f"{what} {name} is truncated or corrupt: {detail}") from None
        except Exception as exc:  # astropy raises OSError, VerifyError, ValueError for junk
            raise OSError(f"cannot read {what} {name}: {exc}") from None
    try:
        check_complete(hdul, name, what)
    except BaseException:
        hdul.close()
        raise
    return hdul


def _glob_or_file(item, context=""):
    if os.path.isfile(item):  # an existing name is taken as it is, even with [ ] * ? in it
        return [check_file(item, context=context)]
    if _WILDCARD.search(item):
        matches = sorted(glob.glob(item))
        matches = [m for m in matches if os.path.isfile(m)]
        if not matches:
            where = f" (listed in {context})" if context else ""
            raise FileNotFoundError(f"no input file matches {item!r}{where}")
        return [check_file(m, context=context) for m in matches]
    return [check_file(item, context=context)]


def read_asn_table(path):
    """Members and product name of an association table.

    Parameters
    ----------
    path : str

    Returns
    -------
    members : list of str
        MEMNAMEs (lower case) of present ``EXP*`` members, in table order.
    product : str or None
        Lower-case MEMNAME of the PROD-DTH (else PROD-RPT, PROD-CRJ) row.
    dupcheck : bool
        Whether the ``_flt``/``_flc`` duplicate check applies (header DUPCHECK).

    Raises
    ------
    OSError
        Unreadable table.
    ValueError
        No MEMNAME/MEMTYPE columns, or no present exposure members.
    """
    hdul = open_fits(path, "association table", memmap=False)
    try:
        with hdul:
            header = hdul[0].header
            table = hdul[1].data if len(hdul) > 1 else None
            names = [] if table is None or not hasattr(table, "names") else list(table.names)
            upper = {n.upper(): n for n in names}
            if "MEMNAME" not in upper or "MEMTYPE" not in upper:
                raise ValueError(f"association table {path} has no MEMNAME/MEMTYPE columns")
            memname = [str(v).strip() for v in table[upper["MEMNAME"]]]
            memtype = [str(v).strip().upper() for v in table[upper["MEMTYPE"]]]
            present = (np.asarray(table[upper["MEMPRSNT"]], dtype=bool).tolist()
                       if "MEMPRSNT" in upper else [True] * len(memname))
            dupcheck = str(header.get("DUPCHECK", "PERFORM")).strip().upper() == "PERFORM"
    except OSError as exc:
        raise OSError(f"cannot read association table {path}: {exc}") from None
    members = [n.lower() for n, t, p in zip(memname, memtype, present) if t.startswith("EXP") and p]
    if not members:
        raise ValueError(f"association table {path} lists no present exposure (EXP-*) members")
    product = None
    for kind in ("PROD-DTH", "PROD-RPT", "PROD-CRJ"):
        rows = [n for n, t in zip(memname, memtype) if t.startswith(kind)]
        if rows:
            product = rows[0].lower()
            break
    return members, product, dupcheck


def _resolve_member(directory, member, table, dupcheck):
    found = []
    listing = set(os.listdir(directory or os.curdir))
    for suffix in ASN_MEMBER_SUFFIXES:
        for stem in dict.fromkeys((member, member.lower())):
            if stem + suffix in listing:
                found.append(os.path.join(directory, stem + suffix))
                break
    if not found:
        tried = ", ".join(member + s for s in ASN_MEMBER_SUFFIXES)
        raise FileNotFoundError(f"association {table}: no input file for member {member!r} "
                                f"(looked for {tried} in {directory or os.curdir})")
    chosen = found[0]
    if dupcheck:
        flc = [f for f in found if f.endswith("_flc.fits")]
        if flc and flc[0] != chosen:
            raise ValueError(f"association {table}: both {chosen} and {flc[0]} exist for member "
                             f"{member!r}; give the files with a wildcard (e.g. '*_flc.fits') "
                             "to choose one")
    return check_file(chosen, context=table)


def _expand_asn(path):
    members, product, dupcheck = read_asn_table(path)
    directory = os.path.dirname(path)
    files = [_resolve_member(directory, m, path, dupcheck) for m in members]
    if product is None:
        product = os.path.basename(path).split("_")[0].lower()
    return files, product


def _expand_atfile(item):
    listfile = item[1:].strip()
    check_file(listfile, "@list file")
    base = os.path.dirname(listfile)
    rows = []
    with open(listfile, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            cols = text.split()  # drizzlepac's parse_atfile_cat: columns split at white space
            if len(cols) > 2:
                raise ValueError(f"{listfile} line {lineno}: expected an input file and an "
                                 f"optional IVM file separated by white space; got {len(cols)} "
                                 f"columns in {text!r}")
            rows.append((lineno, cols))
    if not rows:
        raise ValueError(f"@list file {listfile} lists no input files")
    with_ivm = {len(c) == 2 for _, c in rows}
    if len(with_ivm) != 1:
        raise ValueError(f"{listfile}: either every line or no line must give an IVM file")

    def locate(name, lineno):
        if os.path.isabs(name) or os.path.exists(name) or not base:
            return name
        beside = os.path.join(base, name)
        return beside if (os.path.exists(beside) or _WILDCARD.search(name)) else name

    def listed(name, what, context):
        try:
            return check_file(name, what, context)
        except FileNotFoundError as exc:
            if "," not in name:
                raise
            raise FileNotFoundError(f"{exc}; columns of an @list are separated by white space, "
                                    "so a comma is part of the file name") from None

    files, ivms = [], []
    for lineno, cols in rows:
        context = f"{listfile} line {lineno}"
        sci = locate(cols[0], lineno)
        if len(cols) == 2:
            if _WILDCARD.search(sci):
                raise ValueError(f"{context}: wildcards cannot be paired with an IVM file")
            files.append(listed(sci, "input file", context))
            ivms.append(listed(locate(cols[1], lineno), "IVM file", context))
        elif "," in sci and not os.path.isfile(sci):
            files.append(listed(sci, "input file", context))
            ivms.append(None)
        else:
            for name in _glob_or_file(sci, context):
                files.append(name)
                ivms.append(None)
    return files, ivms


def _expand_item(item):
    """(files, ivms, asn_products) of one input item."""
    item = os.fspath(item).strip()
    if not item:
        return [], [], []
    if item.startswith("@"):
        files, ivms = _expand_atfile(item)
        return files, ivms, []
    if _is_asn(item):
        asn_files = _glob_or_file(item)
        files, products = [], []
        for table in asn_files:
            members, product = _expand_asn(table)
            files += members
            products.append((table, product))
        return files, [None] * len(files), products
    files = _glob_or_file(item)
    return files, [None] * len(files), []


def output_name(output, files, asn_product=None):
    """Output rootname and suffix, as drizzlepac's ``process_input`` chooses them.

    Parameters
    ----------
    output : str
        User's ``output`` parameter ('' for the default).
    files : sequence of str
        Expanded input files (at least one).
    asn_product : str, optional
        Product name of a lone association table input.

    Returns
    -------
    OutputName
    """
    if not files:
        raise ValueError("no input files")
    suffix = "drc" if os.fspath(files[0]).endswith("_flc.fits") else "drz"
    output = (output or "").strip()
    if output.upper() in ("", "NONE", "INDEF"):
        if asn_product:
            root = asn_product
        elif len(files) == 1:
            root = rootname_of(files[0])
        else:
            root = "final"
        return OutputName(root, suffix)
    m = re.search(r"_dr[zc]", output)
    if m:
        return OutputName(output[: m.start()], m.group()[1:])
    i = output.find(".fits")
    return OutputName(output[:i] if i > 0 else output, suffix)


def expand_input(input, output=""):
    """Expand an AstroDrizzle ``input`` into files, IVM files and the output name.

    Parameters
    ----------
    input : str, os.PathLike or sequence of them
        See the module docstring.
    output : str
        The ``output`` parameter.

    Returns
    -------
    InputList

    Raises
    ------
    OSError
        A named file, list file, IVM file or association member does not
        exist or cannot be read; a wildcard matches nothing.  The message
        names the file (and the list or table it came from).
    ValueError
        Empty input, malformed @list or association table, an input given
        more than once.
    TypeError
        An item that is neither a string nor a path.
    """
    if isinstance(input, (str, os.PathLike)):
        text = os.fspath(input)
        if os.path.isfile(text.strip()):  # an existing name is one file, commas and all
            items = [text.strip()]
        else:
            items = [s.strip() for s in text.split(",") if s.strip()]
        sort = not (len(items) == 1 and (items[0].startswith("@") or _is_asn(items[0])))
    elif isinstance(input, (list, tuple)):
        items, sort = list(input), False
    else:
        raise TypeError(f"'input' must be a string or a list of file names; got {type(input).__name__}")
    for item in items:
        if not isinstance(item, (str, os.PathLike)):  # named by type: an array's repr is huge
            raise TypeError(f"'input' items must be file names or in-memory exposures; got a "
                            f"{type(item).__name__}, which carries no WCS or exposure time (give "
                            "an HDUList, an NDData/CCDData with a WCS, or (array, wcs, exptime))")

    files, ivms, products = [], [], []
    for item in items:
        f, i, p = _expand_item(item)
        files += f
        ivms += i
        products += p
    if not files:
        raise ValueError(f"'input' names no files: {input!r}")
    if sort:
        order = sorted(range(len(files)), key=lambda k: files[k])
        files, ivms = [files[k] for k in order], [ivms[k] for k in order]
    seen = {}
    for f in files:
        key = os.path.realpath(f)
        if key in seen:
            raise ValueError(f"input file {f} is given more than once")
        seen[key] = f

    lone_asn = products[0][1] if len(products) == 1 and len(items) == 1 else None
    return InputList(tuple(files), tuple(ivms), output_name(output, files, lone_asn),
                     tuple(t for t, _ in products))
