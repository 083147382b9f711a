"""``blot_image``: resample an image onto another frame by interpolation.

A drop-in for ``drizzle.resample.blot_image`` (drizzle 3.0): the same
interpolants, arguments and results, running on any backend, plus
drizzlepac's ``sinc`` interpolant.  What differs, on purpose:

* a NaN position in ``pixmap`` gives ``fillval`` (drizzle 3.0 raises);
* ``nearest`` never reads past the image for positions in [n - 0.5, n)
  (drizzle 3.0 does);
* ``poly3`` / ``poly5`` reflect the rows past the top edge like every other
  edge (drizzle 3.0 reads an uninitialised or unreflected row there), so
  linear ramps are reproduced exactly up to every border;
* the deprecated ``pix_ratio``, ``exptime`` and ``output_pixel_shape``
  arguments are gone and everything after ``pixmap`` is keyword-only.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import argcheck
from .backends import get_backend
from .cpu_fallback.drizzle import lanczos_table
from .kernels import BLOT_INTERPOLANTS
from .memory import check_fits, conversion_bytes

__all__ = ["blot_image", "SUPPORTED_BLOT_INTERPOLANTS"]

SUPPORTED_BLOT_INTERPOLANTS = list(BLOT_INTERPOLANTS)
_DEPRECATED_INTERP = {"lan3": "lanczos3", "lan5": "lanczos5"}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _parse_interp(interp):
    if not isinstance(interp, str):
        raise ValueError(f"'interp' must be one of {SUPPORTED_BLOT_INTERPOLANTS}; got {interp!r}")
    name = interp.strip().lower()
    if name in _DEPRECATED_INTERP:
        warnings.warn(
            f"Interpolation method '{interp}' has been deprecated; use "
            f"'{_DEPRECATED_INTERP[name]}' instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        name = _DEPRECATED_INTERP[name]
    if name not in BLOT_INTERPOLANTS:
        raise ValueError(f"'interp' must be one of {SUPPORTED_BLOT_INTERPOLANTS}; got {interp!r}")
    return name


def blot_image(data, pixmap, *, out_img=None, fillval=0.0, iscale=1.0, interp="poly5",
               sinscl=1.0, backend=None) -> np.ndarray:
    """Resample ``data`` onto the output pixels described by ``pixmap`` by interpolation.

    Not flux conserving: every output pixel takes the value of the
    interpolant at its position in ``data``, times ``iscale``.  Typically
    used to carry a combined (drizzled) image back to the frame of each
    input exposure.

    Parameters
    ----------
    data : array (in_ny, in_nx) of real numbers
        Source image; converted to float32 (a numpy or backend array; never
        modified).
    pixmap : array (ny, nx, 2) of real numbers
        ``pixmap[j, i] = (x, y)``: the position in ``data`` (0-based,
        integer values at pixel centres) of output pixel (i, j); converted
        to float64.
    out_img : array (ny, nx) of float32, optional
        Filled with the result and returned (a numpy array, or an array of
        the chosen backend, e.g. a CuPy array on ``backend="cuda"``, which
        then stays on the device).  Default: a new numpy array.
    fillval : float
        Value of output pixels whose position is off ``data`` or NaN (NaN
        allowed).
    iscale : float
        Factor applied to the interpolated values (finite, > 0).
    interp : {"poly5", "nearest", "linear", "poly3", "lanczos3", "lanczos5", "sinc"}
        Interpolant (case-insensitive; "lan3" / "lan5" are deprecated names
        of the lanczos ones).
    sinscl : float
        Scale of the fractional offsets for ``interp="sinc"``
        (drizzlepac's ``blot_sinscl``; finite, > 0).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        Where the work runs (None: ``$GPUDRIZZLE_BACKEND`` or auto).

    Returns
    -------
    out_img : numpy.ndarray (or the given ``out_img``), shape (ny, nx), float32

    Examples
    --------
    Each output pixel reads ``data`` one pixel to its right; the last column
    falls off the image and takes ``fillval``:

    >>> import numpy as np
    >>> from gpudrizzle.blot import blot_image
    >>> data = np.arange(20.0).reshape(4, 5)
    >>> y, x = np.indices((4, 5), dtype=np.float64)
    >>> blot_image(data, np.dstack([x + 1, y]), interp="linear", fillval=-1.0, backend="numpy")
    array([[ 1.,  2.,  3.,  4., -1.],
           [ 6.,  7.,  8.,  9., -1.],
           [11., 12., 13., 14., -1.],
           [16., 17., 18., 19., -1.]], dtype=float32)

    Raises
    ------
    ValueError
        For an unknown ``interp``, a ``pixmap`` not of shape (ny, nx, 2),
        ``data`` not 2-D, an ``out_img`` of another shape or read-only, or
        a bad scalar.
    TypeError
        For arrays that do not hold real numbers or an ``out_img`` that is
        not float32.
    MemoryError
        When the output and the converted inputs do not fit in the
        backend's available memory (checked before allocating).

    Notes
    -----
    A position is on the source when ``0 <= x < in_nx`` and
    ``0 <= y < in_ny``.  Interpolants and their edge rules:

    - ``nearest``: pixel (floor(x + 0.5), floor(y + 0.5)), clamped to the
      last column / row;
    - ``linear``: bilinear; past the last pixel centre the edge pixel is
      repeated;
    - ``poly3`` / ``poly5``: Everett central-difference interpolation on a
      4x4 / 6x6 window; past an edge, samples are ``2*edge - mirror``;
    - ``lanczos3`` / ``lanczos5``: drizzle's Lanczos table (step 0.003,
      index truncated), window floor(x) - N + 1 .. floor(x) + N, taps off
      the image dropped, not normalised;
    - ``sinc``: IRAF's tapered sinc as used by drizzlepac's blot (15x15
      window around the nearest pixel, offsets scaled by ``sinscl``,
      normalised; the edge pixel repeated past the edges).
    """
    interp = _parse_interp(interp)
    fill = argcheck.real("fillval", fillval, allow_nan=True)
    if abs(fill) > _FLOAT32_MAX:
        raise ValueError(f"'fillval' does not fit in float32; got {fillval!r}")
    iscale = argcheck.real("iscale", iscale, above=0.0)
    sinscl = argcheck.real("sinscl", sinscl, above=0.0)
    data = argcheck.array_like("data", data)
    if data.ndim != 2:
        raise ValueError(f"'data' must be a 2D array; got shape {tuple(data.shape)}")
    pixmap = argcheck.array_like("pixmap", pixmap)
    if pixmap.ndim != 3 or pixmap.shape[2] != 2:
        raise ValueError(f"'pixmap' must have shape (ny, nx, 2); got {tuple(pixmap.shape)}")
    out_shape = tuple(int(n) for n in pixmap.shape[:2])
    b = get_backend(backend)
    if out_img is not None:
        if not isinstance(out_img, (np.ndarray, b.xp.ndarray)):
            raise TypeError(f"'out_img' must be a numpy or {b.name} array; got {type(out_img)}")
        if tuple(out_img.shape) != out_shape:
            raise ValueError(
                f"'out_img' shape {tuple(out_img.shape)} is not the shape {out_shape} of 'pixmap'"
            )
        if out_img.dtype != np.float32:
            raise TypeError(f"'out_img' must be a float32 array; got dtype {out_img.dtype}")
        if isinstance(out_img, np.ndarray) and not out_img.flags.writeable:
            raise ValueError("'out_img' must be writable")

    ny, nx = out_shape
    new = conversion_bytes(b, data, np.float32) + conversion_bytes(b, pixmap, np.float64)
    new += 4 * ny * nx * (2 if out_img is None and b.xp is not np else 1)
    check_fits(b, new, f"blot_image: the output of shape {out_shape} with 'data' of shape "
                       f"{tuple(data.shape)}")
    src = b.asarray(data, np.float32)
    pos = b.asarray(pixmap, np.float64)
    direct = (
        out_img is not None
        and isinstance(out_img, b.xp.ndarray)
        and out_img.flags.c_contiguous
        and not any(b.xp.may_share_memory(out_img, a) for a in (src, pos))
    )
    out = out_img if direct else b.xp.empty(out_shape, dtype=np.float32)
    lut = None
    if interp.startswith("lanczos"):
        lut = b.asarray(lanczos_table(int(interp[-1])), np.float64)
    if out.size:
        b.blot(interp, data=src, pixmap=pos, out=out, in_nx=src.shape[1], in_ny=src.shape[0],
               out_nx=out_shape[1], out_ny=out_shape[0], iscale=iscale, fillval=fill,
               sinscl=sinscl, lut=lut, nlut=0 if lut is None else lut.size)
    if direct:
        return out_img
    if out_img is None:
        return b.to_host(out)
    if isinstance(out_img, np.ndarray):
        out_img[...] = b.to_host(out)
    else:
        out_img[...] = out
    return out_img
