"""DQ bit flags as AstroDrizzle reads them, and the good-pixel test.

AstroDrizzle's ``*_bits`` parameters name the DQ flags that are *acceptable*:
a pixel is good where ``(DQ & ~bits) == 0``.  The value may be written as

* an integer: the sum of the acceptable flags (``12``), or a negative number
  meaning the complement (``-13 == ~12``: every flag but 4 and 8 is
  acceptable);
* a string of flags joined by ``,`` or ``+`` (``"4,8"``, ``"4+8"``), each a
  power of two; a single number (``"12"``) may be any sum;
* the same prefixed with ``~`` to invert the meaning (``"~4+8"`` or
  ``"~(4,8)"``: pixels with flags 4 or 8 are bad, every other flag is
  acceptable); the list may be enclosed in parentheses;
* a sequence of power-of-two integers (``[4, 8]``);
* ``None``, ``""``, ``"None"`` or ``"INDEF"``: the DQ array is not used at
  all (every pixel good, the same as ``"~0"``).

These are the rules of ``stsci.tools.bitmask.interpret_bit_flags`` as used by
drizzlepac 3.11 (the same as ``astropy.nddata.bitmask.interpret_bit_flags``;
duplicated flags in a list are ignored with a warning), except that "use no
DQ" is returned as :data:`ALL_FLAGS` instead of None so that one formula,
``(DQ & ~bits) == 0``, serves every case.
"""

import numbers
import warnings

import numpy as np

__all__ = ["ALL_FLAGS", "interpret_bit_flags", "good_pixel_mask"]

#: What "ignore the DQ array" parses to: every flag acceptable (``~0``).
ALL_FLAGS = -1

_BLANK = ("", "NONE", "INDEF")


def _is_flag(v):
    return v > 0 and (v & (v - 1)) == 0


def _from_items(name, value, items, flip, single):
    try:
        numbers_ = [int(s) for s in items]
    except ValueError:
        raise ValueError(f"'{name}': bit flags must be integers joined by ',' or '+'; "
                         f"got {value!r}") from None
    unique = list(dict.fromkeys(numbers_))
    if len(unique) != len(numbers_):
        warnings.warn(f"'{name}': duplicate bit flags in {value!r} are ignored", stacklevel=4)
    if not single:
        bad = [v for v in unique if not _is_flag(v)]
        if bad:
            raise ValueError(f"'{name}': {bad} in {value!r} are not bit flags (powers of two)")
    total = sum(unique)
    return ~total if flip else total


def interpret_bit_flags(value, name="bits"):
    """Parse an AstroDrizzle bit-flag value into an integer of acceptable flags.

    Parameters
    ----------
    value : int, str, sequence of int or None
        See the module docstring.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    int
        Acceptable flags; :data:`ALL_FLAGS` (-1) when the DQ array is to be
        ignored.  A pixel is good where ``(DQ & ~bits) == 0``.

    Raises
    ------
    ValueError
        Malformed strings, non-flag list entries, negative list entries.
    """
    if value is None:
        return ALL_FLAGS
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{name}' must be bit flags (int, '4,8', '4+8', '~4', None); got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in _BLANK:
            return ALL_FLAGS
        flip = text.startswith("~")
        if flip:
            text = text[1:].strip()
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if "(" in text or ")" in text:
            raise ValueError(f"'{name}': parentheses may only enclose the whole list; got {value!r}")
        if "," in text and "+" in text:
            raise ValueError(f"'{name}': join bit flags with ',' or '+', not both; got {value!r}")
        sep = "," if "," in text else "+"
        items = [s.strip() for s in text.split(sep)]
        if not text or any(not s for s in items):
            raise ValueError(f"'{name}': empty bit flag in {value!r}")
        if any(s.startswith("-") for s in items) and len(items) > 1:
            raise ValueError(f"'{name}': negative bit flags are not allowed in a list; got {value!r}")
        return _from_items(name, value, items, flip, single=len(items) == 1)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"'{name}': empty bit flag list")
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                   for v in value):
            raise ValueError(f"'{name}': a bit flag list must hold integers; got {value!r}")
        return _from_items(name, value, [str(int(v)) for v in value], False, single=False)
    raise ValueError(f"'{name}' must be bit flags (int, '4,8', '4+8', '~4', None); got {value!r}")


def good_pixel_mask(dq, bits, xp=np, reset=0):
    """True where a DQ value holds only acceptable flags.

    Parameters
    ----------
    dq : array of integers, any shape (numpy or backend array; any byte order), or None
        Data-quality flags; None means "no DQ array" (all good).
    bits : int
        Acceptable flags from :func:`interpret_bit_flags`.
    xp : module
        Array module of ``dq`` (``numpy`` or ``cupy``).
    reset : int
        Flags ignored as if cleared first (AstroDrizzle's ``resetbits``).

    Returns
    -------
    array of bool, shape of ``dq`` (or None when ``dq`` is None)
    """
    if dq is None:
        return None
    bad = ~int(bits) & ~int(reset)
    if bad == 0:
        return xp.ones(dq.shape, dtype=bool)
    width = 8 * dq.dtype.itemsize
    # In the DQ's own type when that equals the test on sign-extended 64-bit values.
    if dq.dtype.kind == "u" or (bad >> (width - 1)) & 1 or 0 <= bad < 1 << width:
        mask = np.array(bad & ((1 << width) - 1), dtype=f"u{dq.dtype.itemsize}")
        if not dq.dtype.isnative:  # test the stored bytes against the mask in their order
            dq, mask = dq.view(dq.dtype.newbyteorder("=")), mask.byteswap()
        return (dq & mask.view(dq.dtype)[()]) == 0  # a scalar, for numpy and cupy alike
    return (dq.astype(xp.int64) & bad) == 0
