"""buildmask: good-pixel masks from DQ arrays, as drizzlepac 3.11's ``buildmask`` makes them.

* :func:`buildMask` turns a DQ array into a ``uint8`` mask, 1 where the pixel
  is good (its flags, read as 16-bit values, are all among ``bitvalue``) and 0
  elsewhere;
* :func:`buildMaskImage` writes that mask of a file's DQ extension as a simple
  FITS image;
* :func:`buildShadowMaskImage` writes WFPC2's mask: the functional shadow mask
  of a detector (from WMOSAIC's edge polynomials) or, when ``bitvalue`` is
  given, the DQ-based mask, as drizzlepac 3.11 writes it.

Masks are written through a temporary file (:mod:`gpudrizzle.files`): a
failure leaves an existing file of that name as it was.
"""

import logging
import os

import numpy as np

from . import files
from .bitflags import good_pixel_mask, interpret_bit_flags
from .inputs import open_fits

__all__ = ["buildMask", "buildMaskImage", "buildShadowMaskImage", "SHADOW_BUFFER"]
__taskname__ = "buildmask"

log = logging.getLogger(__name__)

#: drizzlepac's number of buffer rows/columns about the WFPC2 shadow (kept for scripts)
SHADOW_BUFFER = 5

#: WMOSAIC's shadow-edge polynomials (get_edge2.x) per WFPC2 detector: for each of
#: the x (first index) and y (second index) edges, (c0, c1, c2) of c0 + c1 t + c2 t**2
_SHADOW = {
    "1": ((52.20921, 0.009072887, -9.941337e-6), (42.62779, 0.009122855, -1.106709e-5)),
    "2": ((21.77283, 0.01842164, -1.398300e-5), (47.68184, 0.00265608, -1.468158e-5)),
    "3": ((44.18944, 0.0138938, -1.412296e-5), (30.23626, 0.008156041, -1.491324e-5)),
    "4": ((44.56632, 0.003509023, -1.278723e-5), (40.91462, 0.01273679, -1.063462e-5)),
}
_WFPC2_SHAPE = (800, 800)


def _as_uint16(dqarr):
    """``dqarr`` as drizzlepac reads it: 16-bit unsigned values (higher bits dropped)."""
    if dqarr is None:
        raise ValueError("buildMask: 'dqarr' must be an array of DQ flags, got None")
    arr = np.asarray(dqarr)
    if arr.dtype.kind == "b":
        return arr.astype(np.uint16)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.trunc(arr)):
            raise ValueError("buildMask: 'dqarr' holds non-integer values; DQ flags are integers")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"buildMask: 'dqarr' must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.uint16)  # wraps, as numpy's astype does for any integer


def buildMask(dqarr, bitvalue):
    """Good-pixel mask of a DQ array.

    Parameters
    ----------
    dqarr : array of integers, any shape
        DQ flags; read as 16-bit unsigned values, as drizzlepac does.
    bitvalue : int, str, list of int or None
        Flags that are acceptable (drizzlepac's ``bits`` syntax: ``4096``,
        ``"4,8"``, ``"~4"``); None: every pixel is good.

    Returns
    -------
    numpy.ndarray of uint8, shape of ``dqarr``
        1 where the pixel is good, 0 where it has a flag outside ``bitvalue``.

    Raises
    ------
    ValueError
        ``dqarr`` not integer-valued, malformed ``bitvalue``.
    """
    bits = interpret_bit_flags(bitvalue, name="bitvalue")
    dq = _as_uint16(dqarr)
    return good_pixel_mask(dq, bits).astype(np.uint8)


def _write_mask(maskname, mask):
    from astropy.io import fits

    with files.writing(maskname, overwrite=True, durable=True, kind="mask file") as tmp:
        fits.PrimaryHDU(data=mask).writeto(tmp, overwrite=True)
    return maskname


def _find(hdul, extname, extver):
    """Index of HDU (``extname``, ``extver``) (any case; EXTVER 1 when absent), or None."""
    for index, hdu in enumerate(hdul):
        name = hdu.header.get("EXTNAME")
        if isinstance(name, str) and name.strip().upper() == str(extname).strip().upper() \
                and int(hdu.header.get("EXTVER", 1)) == int(extver):
            return index
    return None


def _warn(text):
    print(text)


def buildMaskImage(rootname, bitvalue, output, extname="DQ", extver=1):
    """Write the good-pixel mask of a file's DQ extension as a simple FITS image.

    Parameters
    ----------
    rootname : str
        The input FITS file.
    bitvalue : int, str, list of int or None
        Acceptable flags (see :func:`buildMask`).
    output : str
        The mask file: a primary HDU of ``uint8`` (1 good, 0 bad); replaced
        if it exists.
    extname : str
        EXTNAME of the DQ array.
    extver : int
        Its EXTVER.

    Returns
    -------
    str or None
        ``output``; None (with drizzlepac's warning printed, and the reason)
        when the file has neither the DQ nor the matching SCI extension.
        Without the DQ extension the mask is all ones, the shape of
        (``SCI``, ``extver``).

    Raises
    ------
    OSError
        ``rootname`` missing or unreadable; ``output`` cannot be written.
    ValueError
        Malformed ``bitvalue``.
    """
    interpret_bit_flags(bitvalue, name="bitvalue")  # a bad value is an error, not a warning
    files.check_target(output, "mask file")
    with open_fits(os.fspath(rootname), memmap=False) as hdul:
        index = _find(hdul, extname, extver)
        dq = hdul[index].data if index is not None else None
        if dq is None:
            sci = _find(hdul, "SCI", extver)
            data = hdul[sci].data if sci is not None else None
            if data is None:
                _warn(f"\nWarning: Problem creating MASK file for {rootname}.\n")
                log.warning("%s has neither [%s,%s] nor [SCI,%s]: no mask written", rootname,
                            extname, extver, extver)
                return None
            dq = np.zeros(data.shape, dtype=np.uint16)
        mask = buildMask(dq, bitvalue)
    return _write_mask(output, mask)


def _shadow_mask(detnum, binned):
    """WFPC2's functional shadow mask of detector ``detnum``: uint8, 800x800 (400x400 binned)."""
    (cx, cy) = _SHADOW[detnum]
    x, y = np.indices(_WFPC2_SHAPE, dtype=np.float64)
    fx = x + 0.5 - (cx[0] + cx[1] * x + cx[2] * x ** 2)
    fy = y + 0.5 - (cy[0] + cy[1] * y + cy[2] * y ** 2)
    # a pixel is in the unshadowed part where both edge functions reach 1
    mask = (np.clip(fx, 0.0, 1.0).astype(np.uint8) * np.clip(fy, 0.0, 1.0).astype(np.uint8))
    if binned != 1:
        mask = (mask[::2, ::2] * mask[1::2, ::2] * mask[::2, 1::2] * mask[1::2, 1::2])
    return mask.astype(np.uint8)


def buildShadowMaskImage(dqfile, detnum, extnum, maskname, bitvalue=None, binned=1):
    """Write a WFPC2 mask image: the detector's shadow mask, or the DQ mask with ``bitvalue``.

    As in drizzlepac 3.11: without ``bitvalue`` the mask is the functional
    shadow mask of detector ``detnum`` (1 in the unshadowed area); with
    ``bitvalue`` it is the DQ array's good-pixel mask (:func:`buildMask`),
    the DQ array being (``DQ``, ``extnum``) of a ``*flt.fits`` file, else
    HDU number ``extnum``.

    Parameters
    ----------
    dqfile : str
        File holding the DQ array.
    detnum : int or str
        WFPC2 detector, 1 to 4.
    extnum : int
        EXTVER of the DQ extension (``*flt.fits``) or HDU number.
    maskname : str
        The mask file written (replaced if it exists).
    bitvalue : int, str, list of int or None
        Acceptable DQ flags; None: the shadow mask alone.
    binned : int
        1, or 2 for 2x2-binned exposures (the mask is then 400x400).

    Returns
    -------
    str or None
        ``maskname``; None (drizzlepac's warning printed) when the DQ array
        cannot be read.

    Raises
    ------
    ValueError
        ``detnum`` not 1-4, ``binned`` not 1 or 2, malformed ``bitvalue``.
    """
    detnum = str(detnum).strip()
    if detnum not in _SHADOW:
        raise ValueError(f"buildShadowMaskImage: 'detnum' must be a WFPC2 detector 1-4, "
                         f"got {detnum!r}")
    if isinstance(binned, bool) or binned not in (1, 2):
        raise ValueError(f"buildShadowMaskImage: 'binned' must be 1 or 2 (2x2 binning), "
                         f"got {binned!r}")
    files.check_target(maskname, "mask file")
    if bitvalue is None:
        return _write_mask(maskname, _shadow_mask(detnum, binned))
    interpret_bit_flags(bitvalue, name="bitvalue")
    dqfile = os.fspath(dqfile)
    try:
        with open_fits(dqfile, memmap=False) as hdul:
            if dqfile.endswith("flt.fits"):
                index = _find(hdul, "DQ", int(extnum))
            else:
                index = int(extnum) if 0 <= int(extnum) < len(hdul) else None
            if index is None or hdul[index].data is None:
                raise KeyError(f"no DQ array at {extnum!r} in {dqfile}")
            mask = buildMask(hdul[index].data, bitvalue)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        _warn(f"\nWarning: Problem creating DQMASK file for {dqfile}.\n")
        log.warning("no mask written for %s: %s", dqfile, exc)
        return None
    return _write_mask(maskname, mask)
