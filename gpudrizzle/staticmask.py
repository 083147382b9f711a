"""AstroDrizzle's static mask: pixels far below the sky of their chip, in every exposure.

drizzlepac 3.11 (``staticMask``): per chip, ``ImageStats`` with 3 clipping
iterations at 3 sigma gives a histogram mode and a standard deviation
(:func:`gpudrizzle.imagestats.image_stats`); pixels below ``mode -
static_sig * stddev`` are bad.  The masks of all chips sharing a signature
(detector, shape, chip number) are AND-ed, so a pixel stays good only if it
is good in every exposure.  A chip whose clipped values fit in one histogram
bin leaves the mask unchanged.  What differs, on purpose: NaN pixels are
never counted in the statistics and never marked bad by them (drizzlepac's
numpy min / max would make the statistics fail), and a chip without any
finite pixel leaves the mask unchanged.
"""

import numpy as np

from . import argcheck
from .backends import get_backend
from .imagestats import image_stats
from .memory import check_fits, conversion_bytes

__all__ = ["chip_static_mask", "create_static_masks"]


def _float32_above(value):
    """The smallest float32 >= ``value``: for float32 v, v < it exactly when v < ``value``."""
    f = np.float32(value)
    return np.nextafter(f, np.float32(np.inf)) if float(f) < value else f


def _check_memory(b, what, sci):
    """MemoryError unless one chip's mask fits: its float32 copy, the uint8 mask and
    the comparison's bool array."""
    npix = int(np.prod(sci.shape, dtype=np.float64))
    check_fits(b, conversion_bytes(b, sci, np.float32) + 2 * npix,
               f"{what} of shape {tuple(sci.shape)}")


def chip_static_mask(sci, *, static_sig=4.0, backend=None, device_array=False) -> tuple:
    """The static mask of one chip on its own.

    Parameters
    ----------
    sci : array (ny, nx) of real numbers
        The chip's science data (before sky subtraction); converted to
        float32.
    static_sig : float
        Sigmas below the mode beyond which a pixel is bad (> 0).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
    device_array : bool
        Return a backend array instead of numpy.

    Returns
    -------
    mask : numpy.ndarray (or backend array), shape (ny, nx), uint8
        1 = good, 0 = bad.
    threshold : float or None
        ``mode - static_sig * stddev``, or None when the chip was left
        unmasked (one histogram bin, or no finite pixel).
    """
    sig = argcheck.real("static_sig", static_sig, above=0.0)
    device_array = argcheck.boolean("device_array", device_array)
    img = argcheck.image("sci", sci)
    b = get_backend(backend)
    _check_memory(b, "chip_static_mask: 'sci'", img)
    xp = b.xp
    data = b.asarray(img, np.float32)
    mask = None
    threshold = None
    big = float(np.finfo(np.float32).max)
    try:
        finite = image_stats(data, "min,max", lower=-big, upper=big, backend=b)
    except ValueError:  # no finite pixel
        finite = None
    if finite is not None:
        stats = image_stats(data, "mode", lower=finite.min, upper=finite.max, nclip=3, backend=b)
        if stats.histogram.size >= 2:
            threshold = stats.mode - sig * stats.stddev
            # good = not below (NaN is good); bool holds 0 / 1: its bytes are the uint8 mask
            below = xp.less(data, _float32_above(threshold))
            mask = xp.logical_not(below, out=below).view(np.uint8)
    if mask is None:
        mask = xp.ones(data.shape, dtype=np.uint8)
    return (mask if device_array else b.to_host(mask)), threshold


def create_static_masks(chips, signatures, *, static_sig=4.0, backend=None,
                        device_array=False) -> dict:
    """AND-accumulated static masks, one per chip signature.

    Parameters
    ----------
    chips : sequence of arrays (ny, nx) of real numbers
        Science data of every chip of every exposure (before sky
        subtraction).
    signatures : sequence of hashable
        One per chip, e.g. ``("ACS/WFC", (2048, 4096), 1)``: chips with
        equal signatures share a mask (and must have the same shape).
    static_sig : float
        Sigmas below the mode beyond which a pixel is bad (> 0; AstroDrizzle
        default 4).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
    device_array : bool
        Return backend arrays instead of numpy.

    Returns
    -------
    dict
        signature -> mask (ny, nx) uint8, 1 = good in every chip of that
        signature, 0 = bad in at least one.

    Raises
    ------
    ValueError
        For a bad ``static_sig``, a number of signatures other than of
        chips, or chips of one signature with different shapes.
    MemoryError
        When a chip's mask does not fit in the backend's memory (checked
        for every chip before the first is computed).
    """
    argcheck.real("static_sig", static_sig, above=0.0)
    device_array = argcheck.boolean("device_array", device_array)
    chips = list(chips)
    signatures = list(signatures)
    if len(signatures) != len(chips):
        raise ValueError(f"'signatures' has {len(signatures)} entries for {len(chips)} chips")
    shapes = {}
    for i, (chip, sig) in enumerate(zip(chips, signatures)):
        a = argcheck.image(f"chips[{i}]", chip)
        if shapes.setdefault(sig, tuple(a.shape)) != tuple(a.shape):
            raise ValueError(f"'chips[{i}]' has shape {tuple(a.shape)}; other chips of signature "
                             f"{sig!r} have {shapes[sig]}")
    b = get_backend(backend)
    for i, chip in enumerate(chips):
        _check_memory(b, f"create_static_masks: 'chips[{i}]'", argcheck.image(f"chips[{i}]", chip))
    masks = {}
    for chip, sig in zip(chips, signatures):
        mask, _ = chip_static_mask(chip, static_sig=static_sig, backend=b, device_array=True)
        masks[sig] = mask if sig not in masks else b.xp.minimum(masks[sig], mask)
    if device_array:
        return masks
    return {k: b.to_host(v) for k, v in masks.items()}
