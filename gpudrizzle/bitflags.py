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

Parsing is ``astropy.nddata.bitmask.interpret_bit_flags``, which follows
the rules of ``stsci.tools.bitmask.interpret_bit_flags`` that drizzlepac 3.11
uses (nested parentheses such as ``"((4,8))"`` included; duplicated flags in a
list are ignored with a warning).  Around it this module keeps drizzlepac's
syntax exactly (astropy's extra ``|`` separator is refused, as drizzlepac
refuses it; so are booleans and an empty list), names the parameter in every
error, and returns "use no DQ" as :data:`ALL_FLAGS` instead of None so that one
formula, ``(DQ & ~bits) == 0``, serves every case.  :func:`good_pixel_mask`
applies it to numpy or CuPy arrays alike (astropy's
``bitfield_to_boolean_mask`` takes numpy arrays only).
"""

import numbers
import warnings

import numpy as np

__all__ = ["ALL_FLAGS", "interpret_bit_flags", "good_pixel_mask"]

#: What "ignore the DQ array" parses to: every flag acceptable (``~0``).
ALL_FLAGS = -1

_FORMS = "int, '4,8', '4+8', '~4', None"


def _is_integer(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


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
        Malformed strings, non-flag list entries, negative list entries,
        anything that is not an integer, a string, a list of integers or None.

    Examples
    --------
    >>> interpret_bit_flags("4,8"), interpret_bit_flags("~(4+8)"), interpret_bit_flags(None)
    (12, -13, -1)
    """
    if value is None:
        return ALL_FLAGS
    if _is_integer(value):
        return int(value)
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit():  # one number: what astropy makes of it
            return int(digits)
        if "|" in value:
            raise ValueError(f"'{name}': join bit flags with ',' or '+'; got {value!r}")
    elif isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"'{name}': empty bit flag list")
        if not all(_is_integer(v) for v in value):
            raise ValueError(f"'{name}': a bit flag list must hold integers; got {value!r}")
        value = [int(v) for v in value]
    else:
        raise ValueError(f"'{name}' must be bit flags ({_FORMS}); got {value!r}")
    from astropy.nddata import bitmask  # here, not at import: astropy.nddata takes 60 ms

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bits = bitmask.interpret_bit_flags(value)
        except (ValueError, TypeError) as exc:  # astropy's words name neither parameter nor value
            raise ValueError(f"'{name}': {value!r} is not a bit flag value ({_FORMS}): "
                             f"{exc}") from None
    for w in caught:
        if "uplicate" in str(w.message):
            warnings.warn(f"'{name}': duplicate bit flags in {value!r} are ignored", stacklevel=2)
        else:
            warnings.warn(w.message, w.category, stacklevel=2)
    return ALL_FLAGS if bits is None else int(bits)


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
