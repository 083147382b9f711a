"""Checks for the arguments of the AstroDrizzle step functions.

Every check returns the parsed value or raises ValueError / TypeError naming
the argument and the bad value, so that a step can validate everything
before it allocates anything.
"""

import math
import numbers
import re

import numpy as np

__all__ = ["within", "real", "integer", "boolean", "number_pair", "per_input", "array_like", "image",
           "image_stack"]


def within(name, v, value, *, minimum=None, above=None, maximum=None):
    """``v`` after checking ``minimum <= v``, ``v > above`` and ``v <= maximum`` (those given).

    ``value`` is what the user gave, shown in the message.
    """
    if minimum is not None and v < minimum:
        raise ValueError(f"'{name}' must be >= {minimum}; got {value!r}")
    if above is not None and not v > above:
        raise ValueError(f"'{name}' must be > {above}; got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"'{name}' must be <= {maximum}; got {value!r}")
    return v


def real(name, value, *, minimum=None, above=None, allow_none=False, allow_nan=False):
    """``float(value)`` after checking it is a finite real number (not a bool).

    ``minimum``: value must be >= it; ``above``: value must be > it;
    ``allow_nan``: NaN passes (a fill value, say).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"'{name}' must be a real number; got {value!r}")
    v = float(value)
    if allow_nan and math.isnan(v):
        return v
    if not math.isfinite(v):
        raise ValueError(f"'{name}' must be finite; got {value!r}")
    return within(name, v, value, minimum=minimum, above=above)


def integer(name, value, *, minimum=None, maximum=None):
    """``int(value)`` after checking it is an integer (not a bool) within limits."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"'{name}' must be an integer; got {value!r}")
    return within(name, int(value), value, minimum=minimum, maximum=maximum)


def boolean(name, value):
    """``bool(value)`` after checking it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{name}' must be True or False; got {value!r}")
    return bool(value)


def number_pair(name, value, *, minimum=None):
    """Two finite numbers from a string such as ``"4 3"`` / ``"3.5,3.0"`` or a 2-sequence."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,;\s]+", value.strip()) if p]
        try:
            items = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"'{name}' must hold two numbers, e.g. '4 3'; got {value!r}") from None
    else:
        try:
            items = list(value)
        except TypeError:
            raise ValueError(f"'{name}' must hold two numbers, e.g. '4 3'; got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"'{name}' must hold two numbers, e.g. '4 3'; got {value!r}")
    return tuple(real(name, v, minimum=minimum) for v in items)


def per_input(name, value, n, default, *, minimum=None, above=None):
    """A list of ``n`` floats from None (all ``default``), a scalar or a length-n sequence."""
    if value is None:
        return [float(default)] * n
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return [real(name, value, minimum=minimum, above=above)] * n
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"'{name}' must be a number or a sequence of {n}; got {value!r}") from None
    if len(items) != n:
        raise ValueError(f"'{name}' must have one value per input ({n}); got {len(items)}")
    return [real(name, v, minimum=minimum, above=above) for v in items]


def array_like(name, a):
    """``a`` itself if it is an array (numpy, CuPy, memmap), else ``numpy.asarray(a)``;
    TypeError unless it holds real numbers."""
    if not (hasattr(a, "shape") and hasattr(a, "dtype")):
        a = np.asarray(a)
    if np.dtype(a.dtype).kind not in "biuf":
        raise TypeError(f"'{name}' must hold real numbers; got dtype {a.dtype}")
    return a


def positions(name, xy):
    """``xy`` as a float64 (n, 2) numpy array of finite positions (ValueError otherwise)."""
    arr = np.asarray(xy)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric (n, 2) array of positions, "
                         f"got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(arr), axis=1)))
        raise ValueError(f"{name} has {bad} position(s) that are NaN or infinite")
    return arr


def image(name, a, shape=None):
    """A 2-D array (numpy, memmap or backend array; not copied) of real numbers."""
    a = array_like(name, a)
    if a.ndim != 2:
        raise ValueError(f"'{name}' must be a 2-D array; got shape {tuple(a.shape)}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"'{name}' has shape {tuple(a.shape)}; expected {tuple(shape)}")
    return a


def image_stack(name, images, n=None, shape=None):
    """A list of same-shaped 2-D arrays from a sequence of images or a 3-D array.

    The arrays are not copied (memory maps stay memory maps).
    """
    if hasattr(images, "shape") and hasattr(images, "dtype"):
        if len(images.shape) != 3:
            raise ValueError(f"'{name}' must be a 3-D array or a sequence of 2-D arrays; "
                             f"got shape {tuple(images.shape)}")
        items = [images[i] for i in range(images.shape[0])]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise ValueError(f"'{name}' must be a 3-D array or a sequence of 2-D arrays; "
                         f"got {type(images).__name__}")
    if not items:
        raise ValueError(f"'{name}' holds no images")
    if n is not None and len(items) != n:
        raise ValueError(f"'{name}' holds {len(items)} images; expected {n}")
    first = image(f"{name}[0]", items[0], shape)
    shape = tuple(first.shape)
    return [first] + [image(f"{name}[{i}]", a, shape) for i, a in enumerate(items[1:], 1)]
