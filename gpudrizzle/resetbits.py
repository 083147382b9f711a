"""resetbits: clear chosen flags in the integer (DQ) arrays of FITS files, in place.

drizzlepac's ``resetbits`` task: every pixel of the chosen arrays becomes
``value & ~bits``; nothing else in the files changes.  Updating the input
files is the task's purpose.  Each file is updated through a temporary copy
beside it (:func:`gpudrizzle.files.write_together`): the copy gets the new
array bytes (or, for a constant array, the new ``PIXVALUE`` card) written over
the old ones, every other byte is the original's, and only when every file's
copy is complete are they renamed over the originals.  A failure anywhere
leaves every file as it was.

Command line (drizzlepac's syntax)::

    resetbits input_flt.fits 4096          # every DQ array
    resetbits input_flt.fits 4194 2        # 2+32+64+4096 in ('dq', 2)
    resetbits "*_flt.fits" 4096,8192 1 dq
    resetbits input_flt.fits 16 1,2        # in ('dq', 1) and ('dq', 2)
"""

import argparse
import logging
import sys

import numpy as np

from . import files
from .bitflags import interpret_bit_flags
from .inputs import expand_input, open_fits

__all__ = ["reset_dq_bits", "main", "add_arguments", "run_from_args"]
__taskname__ = "resetbits"

log = logging.getLogger(__name__)

_INT_BITPIX = {8: 1, 16: 2, 32: 4, 64: 8}


def _physical_type(header, where):
    """(raw dtype, physical dtype, BZERO) of an integer image HDU; ValueError otherwise."""
    bitpix = header.get("BITPIX")
    if bitpix not in _INT_BITPIX:
        raise ValueError(f"{where} holds BITPIX = {bitpix} data, not an integer "
                         "array; bits can only be reset in integer arrays")
    size = _INT_BITPIX[bitpix]
    raw = np.dtype(">u1" if size == 1 else f">i{size}")
    bscale = header.get("BSCALE", 1)
    bzero = header.get("BZERO", 0)
    if bscale != 1:
        raise ValueError(f"{where} has BSCALE = {bscale}; bits can only be "
                         "reset in unscaled integer arrays")
    if bzero == 0:
        return raw, raw.newbyteorder("="), 0
    flip = -128 if size == 1 else 1 << (8 * size - 1)
    if bzero != flip:
        raise ValueError(f"{where} has BZERO = {bzero}; only 0 and "
                         f"{flip} (the {'signed' if size == 1 else 'unsigned'} convention) "
                         "are supported")
    return raw, np.dtype("i1" if size == 1 else f"u{size}"), int(bzero)


def _reset(values, bits, physical):
    """``values & ~bits`` (int64 physical values) wrapped into the ``physical`` type."""
    width = 8 * physical.itemsize
    out = values & ~bits & ((1 << width) - 1)  # the bit pattern of the physical type
    if physical.kind == "i":
        out = np.where(out >= 1 << (width - 1), out - (1 << width), out)
    return out


def _check_fits(bits, physical, label):
    """ValueError naming the flags of ``bits`` (>= 0) beyond the width of ``physical``."""
    width = 8 * physical.itemsize
    if bits < 0 or bits >> width == 0:  # a complement ('~4') keeps what does not fit anyway
        return
    outside = [1 << k for k in range(width, bits.bit_length()) if bits >> k & 1]
    raise ValueError(f"{label} holds {physical.name} values ({width} bits): 'bits' = {bits} "
                     f"includes flag(s) {', '.join(map(str, outside))} that cannot be set in "
                     f"it (at most {(1 << width) - 1})")


def _targets(path, hdul, extname, extver):
    """Indices of the HDUs named ``extname`` (any case) with the versions ``extver`` (None: all)."""
    found = {}
    for index, hdu in enumerate(hdul):
        name = hdu.header.get("EXTNAME")
        if index and isinstance(name, str) and name.strip().lower() == extname.lower():
            found.setdefault(int(hdu.header.get("EXTVER", 1)), index)
    if extver is None:
        if not found:
            raise ValueError(f"{path} has no {extname!r} extension")
        return [found[v] for v in sorted(found)]
    missing = [v for v in extver if v not in found]
    if missing:
        have = ", ".join(str(v) for v in sorted(found)) or "none"
        raise ValueError(f"{path} has no extension "
                         f"{', '.join(f'[{extname},{v}]' for v in missing)} "
                         f"({extname!r} versions present: {have})")
    return [found[v] for v in extver]


def _file_patches(path, bits, extname, extver):
    """The byte patches that reset ``bits`` in ``path``'s chosen arrays; and their labels."""
    files.check_updatable(path, what=f"{extname.upper()} arrays")
    with open_fits(path, what="input file", memmap=False) as checked:
        layout = [(checked.fileinfo(i), hdu.header.copy()) for i, hdu in enumerate(checked)]
        indices = _targets(path, checked, extname, extver)
    patches, labels = [], []
    for index in indices:
        info, header = layout[index]
        label = f"{path}[{extname},{header.get('EXTVER', 1)}]"
        raw, physical, bzero = _physical_type(header, label)
        naxis = int(header.get("NAXIS", 0))
        if naxis:
            _check_fits(bits, physical, label)
        if naxis == 0:
            if "PIXVALUE" not in header:  # an empty array: nothing to reset
                labels.append(label)
                continue
            header["PIXVALUE"] = int(_reset(np.int64(int(header["PIXVALUE"])), bits, physical))
            text = header.tostring(padding=True).encode("ascii")
            if len(text) != info["datLoc"] - info["hdrLoc"]:
                raise OSError(f"cannot rewrite the header of {label} in place")
            patches.append((info["hdrLoc"], text))
        else:
            count = int(np.prod([int(header[f"NAXIS{k}"]) for k in range(1, naxis + 1)]))
            with open(path, "rb") as f:
                f.seek(info["datLoc"])
                buf = f.read(count * raw.itemsize)
            if len(buf) != count * raw.itemsize:
                raise OSError(f"{label} is truncated")
            values = np.frombuffer(buf, dtype=raw).astype(np.int64) + bzero
            new = _reset(values, bits, physical) - bzero
            patches.append((info["datLoc"], new.astype(raw).tobytes()))
        labels.append(label)
    return patches, labels


def _extver_list(extver):
    if extver is None:
        return None
    items = extver if isinstance(extver, (list, tuple)) else [extver]
    out = []
    for v in items:
        if isinstance(v, str) and v.strip().lstrip("+").isdigit():
            v = int(v)
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"'extver' must be a positive integer or a list "
                             f"of them (None: every version); got {extver!r}")
        out.append(int(v))
    return out


def reset_dq_bits(input, bits, extver=None, extname="dq"):
    """Reset (clear) ``bits`` in the integer arrays ``extname`` of FITS files, in place.

    Modifying the input files is this task's purpose: each chosen array
    becomes ``array & ~bits`` in its own type (a constant array's
    ``PIXVALUE`` likewise).  All files are updated together through
    temporary copies: a failure in any (a missing extension, a read-only
    file, a full disk) leaves every file as it was, and every byte other
    than the arrays' is kept.

    Parameters
    ----------
    input : str or list of str
        File name, comma-separated list, ``@list`` file, wildcard pattern
        or association table, as AstroDrizzle's ``input``.
    bits : int, str or list of int
        The flags to reset, in drizzlepac's syntax (``4096``, ``"2,32,64"``,
        ``"2+32"``, ``"~4"``: every flag but 4), see
        :func:`gpudrizzle.bitflags.interpret_bit_flags`.
    extver : int or list of int, optional
        Versions of the ``extname`` arrays to reset; None: every one in each file.
    extname : str
        EXTNAME of the arrays (any case), ``'dq'`` by default.

    Returns
    -------
    list of str
        The updated files.

    Raises
    ------
    ValueError
        Blank or malformed ``bits``, bits that an array's type cannot hold
        (99999 in 16-bit DQ), bad ``extver``, a file without the extension,
        an array that is not of integers.
    OSError
        A missing, unreadable, read-only, compressed or truncated file.
    """
    if bits is None or (isinstance(bits, str) and bits.strip().upper() in ("", "NONE", "INDEF")):
        raise ValueError(f"'bits' must name the flags to reset; got {bits!r}")
    flags = interpret_bit_flags(bits, name="bits")
    if not isinstance(extname, str) or not extname.strip():
        raise ValueError(f"'extname' must be an extension name; got {extname!r}")
    extname = extname.strip()
    versions = _extver_list(extver)
    names = list(expand_input(input).files)
    writers = {}
    for path in names:
        patches, labels = _file_patches(path, flags, extname, versions)
        writers[path] = files.patch_writer(path, patches)
        for label in labels:
            log.debug("Reset bit values of %s to a value of 0 in %s", flags, label)
    files.write_together(writers, overwrite=True, durable=True, kind="input file")
    return names


# ---------------------------------------------------------------------------
# command line


def _extver_arg(text):
    """``2`` or ``1,2`` from the command line (argparse type): int or list of int."""
    words = [w.strip() for w in text.split(",")]
    if not all(w.isdigit() and int(w) > 0 for w in words):
        raise argparse.ArgumentTypeError(f"expected a positive integer or a comma list of "
                                         f"them (1,2); got {text!r}")
    values = [int(w) for w in words]
    return values[0] if len(values) == 1 else values


def add_arguments(parser):
    """Add resetbits' arguments (drizzlepac's: ``input bits [extver [extname]]``) to ``parser``."""
    parser.add_argument("input", help="FITS file(s): name, comma list, @list or wildcard")
    parser.add_argument("bits", help="flags to reset: a sum (4194) or a list ('2,32,64,4096')")
    parser.add_argument("extver", nargs="?", default=None, type=_extver_arg,
                        help="version(s) of the arrays to reset: 2 or a comma list 1,2 "
                             "(default: all)")
    parser.add_argument("extname", nargs="?", default="dq",
                        help="EXTNAME of the arrays (default: dq)")
    return parser


def run_from_args(args):
    """Run :func:`reset_dq_bits` from parsed arguments; return 0 (errors raise)."""
    reset_dq_bits(args.input, args.bits, extver=args.extver, extname=args.extname)
    return 0


def main(argv=None):
    """The ``resetbits`` console script: ``resetbits [-h] input bits [extver [extname]]``.

    Returns 0, 1 after an error (one line on stderr), 2 for a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="resetbits", description="Reset (set to 0) the given bits in the DQ (or other "
        "integer) arrays of FITS files, in place.")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return run_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"{__taskname__}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
