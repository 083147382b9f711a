"""Pixel maps, context decoding and pixel-scale helpers (drizzle 3.0 signatures)."""

from __future__ import annotations

import math

import numpy as np

from .backends import host_array, is_device_array
from .pixmap import compute_pixmap

__all__ = [
    "calc_pixmap",
    "decode_context",
    "estimate_pixel_scale_ratio",
    "pixel_scale_ratio_from_pixmap",
]

_DEG2RAD = math.pi / 180.0


def calc_pixmap(wcs_from, wcs_to, shape=None, disable_bbox="to", *, method="interpolated",
                stepsize=None, tolerance=1e-4, backend=None, device_array=False) -> np.ndarray:
    """Map every pixel centre of the "from" image to the "to" image's pixels.

    drizzle 3.0's signature and result, computed by :mod:`gpudrizzle.pixmap`:
    by default the exact transform is sampled on a sparse grid and
    interpolated on the backend (lookup-table distortions applied exactly
    per pixel), checked at run time against the exact transform.

    Parameters
    ----------
    wcs_from, wcs_to : APE-14 WCS (e.g. `astropy.wcs.WCS`)
        Input and output coordinate systems.
    shape : tuple of int, optional
        (ny, nx) of the map; default ``wcs_from.array_shape`` or the extent
        of its bounding box.
    disable_bbox : {"to", "from", "both", "none"}
        Which WCS bounding boxes are ignored while evaluating.
    method : {"interpolated", "exact"}
        "exact" evaluates every pixel through the WCS objects.
    stepsize : float, optional
        Initial grid step in pixels (default 64, halved as needed).
    tolerance : float
        Largest error allowed, in "to" pixels (default 1e-4).
    backend : str or Backend, optional
        Where the interpolation runs (default: ``get_backend()``).
    device_array : bool
        Return an array of the backend (e.g. ``cupy.ndarray``) instead of numpy.

    Returns
    -------
    pixmap : numpy.ndarray (or backend array), shape (ny, nx, 2), float64
        ``pixmap[j, i] = (x, y)`` in the "to" frame of input pixel (i, j);
        0-based, integer values at pixel centres.

    Raises
    ------
    ValueError
        For a bad argument (the message names it).
    MemoryError
        When the map does not fit in the backend's available memory
        (checked before anything is allocated).

    Warns
    -----
    gpudrizzle.pixmap.PixmapAccuracyWarning
        When interpolation cannot meet ``tolerance`` and the map was
        evaluated exactly instead.

    Examples
    --------
    A WCS mapped onto itself gives every pixel its own position:

    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from gpudrizzle.utils import calc_pixmap
    >>> w = WCS(naxis=2)
    >>> w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [10, 20], [3, 2], [-1e-5, 1e-5]
    >>> pixmap = calc_pixmap(w, w, shape=(4, 5), backend="numpy")
    >>> pixmap.shape
    (4, 5, 2)
    >>> y, x = np.indices((4, 5))
    >>> bool(np.allclose(pixmap, np.dstack([x, y]), atol=1e-6))
    True
    """
    return compute_pixmap(wcs_from, wcs_to, shape, disable_bbox, method=method, stepsize=stepsize,
                          tolerance=tolerance, backend=backend, device_array=device_array).pixmap


def decode_context(context, x, y) -> list[np.ndarray]:
    """Indices (0-based) of the input images that contributed to output pixels (x, y).

    Parameters
    ----------
    context : array (np, ny, nx) of integers
        Context image as in :attr:`gpudrizzle.Drizzle.out_ctx` (numpy, or
        a device array: only the requested pixels are copied from it).
    x, y : int or 1-D sequence of int
        Pixel coordinates.

    Returns
    -------
    list of numpy.ndarray
        One array of image indices per (x, y) pair.

    Examples
    --------
    Images 0 and 2 contributed to pixel (1, 0), image 33 (bit 1 of the
    second plane) to pixel (0, 1):

    >>> import numpy as np
    >>> from gpudrizzle.utils import decode_context
    >>> ctx = np.zeros((2, 2, 2), dtype=np.int32)
    >>> ctx[0, 0, 1] = 0b101
    >>> ctx[1, 1, 0] = 0b10
    >>> decode_context(ctx, [1, 0, 0], [0, 1, 0])
    [array([0, 2]), array([33]), array([], dtype=int64)]
    """
    if not is_device_array(context):
        context = np.asarray(context)
    if context.ndim != 3:
        raise ValueError("'context' must be a 3D array.")
    if np.dtype(context.dtype).kind not in "iu":  # bits of a float are no context
        raise TypeError(f"'context' must be an array of integers; got dtype {context.dtype}")
    x = np.atleast_1d(x)
    y = np.atleast_1d(y)
    if x.size != y.size:
        raise ValueError("Coordinate arrays must have equal length.")
    if x.ndim != 1:
        raise ValueError("Coordinates must be scalars or 1D arrays.")
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
        raise ValueError("Pixel coordinates must be integer values")
    ny, nx = context.shape[1:]
    if np.any((x < -nx) | (x >= nx)) or np.any((y < -ny) | (y >= ny)):  # as numpy indexing
        raise IndexError(f"pixel coordinates outside the context image of {nx} x {ny} pixels")
    nbits = 8 * context.dtype.itemsize
    bits = np.arange(nbits, dtype=np.uint64)
    picked = host_array(context[:, y, x]) if x.size else np.zeros((context.shape[0], 0), np.int64)
    result = []
    for k in range(x.size):
        planes = picked[:, k].astype(np.int64) & ((1 << nbits) - 1)
        set_bits = (planes[:, None].astype(np.uint64) >> bits) & np.uint64(1)
        result.append(np.flatnonzero(set_bits.ravel()))
    return result


def _pixel_scale(wcs, refpix):
    """Square root of the sky area (radians^2) of one pixel at ``refpix``."""
    if refpix is None:
        if getattr(wcs, "bounding_box", None) is not None:
            refpix = np.mean(wcs.bounding_box, axis=-1)
        elif wcs.pixel_shape:
            refpix = np.array([(n - 1) // 2 for n in wcs.pixel_shape])
        else:
            refpix = np.zeros(wcs.pixel_n_dim)
    refpix = np.asarray(refpix, dtype=np.float64)
    corners = [(-0.5, -0.5), (-0.5, 0.5), (0.5, 0.5), (0.5, -0.5)]
    lon, lat = zip(*(wcs.pixel_to_world_values(*(refpix + c)) for c in corners))
    s = [math.sin(_DEG2RAD * b) for b in lat]
    area = _DEG2RAD * abs(0.5 * ((lon[3] - lon[1]) * (s[0] - s[2]) + (lon[0] - lon[2]) * (s[1] - s[3])))
    return math.sqrt(area)


def estimate_pixel_scale_ratio(wcs_from, wcs_to, refpix_from=None, refpix_to=None) -> float:
    """Pixel size of ``wcs_to`` over that of ``wcs_from`` near the reference pixels."""
    return _pixel_scale(wcs_to, refpix_to) / _pixel_scale(wcs_from, refpix_from)


def pixel_scale_ratio_from_pixmap(pixmap) -> float:
    """Output/input pixel size from a pixel map: 1 / sqrt(|det J|), median over the map.

    Parameters
    ----------
    pixmap : numpy.ndarray, shape (ny, nx, 2), float64

    Returns
    -------
    float

    Examples
    --------
    A map that halves the distances makes output pixels twice as large:

    >>> import numpy as np
    >>> from gpudrizzle.utils import pixel_scale_ratio_from_pixmap
    >>> y, x = np.indices((8, 8), dtype=np.float64)
    >>> pixel_scale_ratio_from_pixmap(np.dstack([x / 2, y / 2]))
    2.0
    """
    ny, nx = pixmap.shape[:2]
    if nx < 2 or ny < 2:
        raise ValueError("pixel_scale_ratio cannot be estimated from a pixmap narrower than 2 pixels")
    step = max(1, min(nx, ny) // 64)
    p = pixmap[::step, ::step]
    dx = (p[:-1, 1:] - p[:-1, :-1]) / step
    dy = (p[1:, :-1] - p[:-1, :-1]) / step
    det = np.abs(dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0])
    det = det[np.isfinite(det) & (det > 0)]
    if det.size == 0:
        raise ValueError("pixel_scale_ratio cannot be estimated: the pixmap has no finite area")
    return float(1.0 / math.sqrt(np.median(det)))
