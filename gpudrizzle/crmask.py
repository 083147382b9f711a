"""``driz_cr``: AstroDrizzle's cosmic-ray detection against the blotted median.

The tests are drizzlepac 3.11's ``drizCR`` (with ``quickDeriv``'s
derivative), with the same parameter names and defaults, computed per chip
on a backend in three passes (``cuda_kernels/crmask.cu``).  What differs
from drizzlepac, on purpose:

* the derivative sees zeros only beyond the chip edge (quickDeriv's
  off-by-one slices also zero neighbours of the second-to-last row and
  column, which hides cosmic rays there);
* the CTE trail window stops at the chip edge (drizzlepac reflects it
  there, pointing it the wrong way), and ``cte_dir=0`` means no trail
  (drizzlepac would then mask every pixel when ``driz_cr_ctegrow > 0``).
"""

from typing import NamedTuple, Optional

import numpy as np

from . import argcheck
from .backends import get_backend
from .memory import check_fits, conversion_bytes

__all__ = ["driz_cr", "derivative", "CRResult"]


class CRResult(NamedTuple):
    """Products of :func:`driz_cr` for one chip (numpy or backend arrays, shape (ny, nx))."""

    #: uint8, 1 = good, 0 = cosmic ray (AstroDrizzle's ``_crmask`` convention)
    crmask: object
    #: the input DQ with ``crbit`` set on cosmic rays (its dtype), or None without ``dq``
    dq: Optional[object]
    #: float32 cleaned image (``driz_cr_corr``): the input where good, else the blot
    corrected: Optional[object]
    #: uint16 DQ of the cleaned image: ``crbit`` where the blot was used, else 0
    corrected_dq: Optional[object]


def _chip(b, name, a, shape=None):
    a = argcheck.image(name, a, shape)
    return b.asarray(a, np.float32)


def derivative(image, *, backend=None, device_array=False):
    """drizzlepac's ``quickDeriv``: largest |difference| to the four neighbours.

    Parameters
    ----------
    image : array (ny, nx) of real numbers
        Converted to float32.
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
    device_array : bool
        Return a backend array instead of numpy.

    Returns
    -------
    numpy.ndarray (or backend array), shape (ny, nx), float32
        Computed in float64; a neighbour beyond the image edge counts as 0;
        NaN where a NaN is involved.
    """
    b = get_backend(backend)
    img = _chip(b, "image", image)
    ny, nx = img.shape
    deriv = b.xp.empty((ny, nx), np.float32)
    tests = b.xp.empty((ny, nx), np.uint8)
    if img.size:
        b.crmask_tests(sci=img, blot=img, nx=nx, ny=ny, conversion=1.0, gain=1.0, rn2=0.0,
                       backg=0.0, snr1=0.0, snr2=0.0, scale1=0.0, scale2=0.0, tests=tests,
                       deriv=deriv)
    return deriv if device_array else b.to_host(deriv)


def driz_cr(sci, blot, dq=None, *, gain=1.0, rdnoise=0.0, sky=0.0, conversion=1.0,
            driz_cr_snr="3.5 3.0", driz_cr_scale="1.2 0.7", driz_cr_grow=1, driz_cr_ctegrow=0,
            cte_dir=None, crbit=4096, driz_cr_corr=False, backend=None,
            device_array=False) -> CRResult:
    """Find cosmic rays in one chip by comparison with the blotted median image.

    Parameters
    ----------
    sci : array (ny, nx) of real numbers
        The chip's science data in its own units, sky not subtracted.
    blot : array (ny, nx) of real numbers
        The median image blotted onto the chip, same units, sky added back.
    dq : integer array (ny, nx), optional
        The chip's data quality; pixels with flags other than ``crbit`` are
        not used in ``corrected``.  Never modified (see ``CRResult.dq``).
    gain : float
        Gain of the noise model (> 0): drizzlepac's effective gain, 1 for
        data already in electrons.
    rdnoise : float
        Read noise in electrons (>= 0).
    sky : float
        Sky subtracted from the chip (MDRIZSKY), in the chip's units.
    conversion : float
        Electrons per unit of the chip (> 0): 1 for electrons, the gain for
        counts, gain * exposure time for count rates.
    driz_cr_snr : str or pair of float
        Signal-to-noise limits of the first and second test (default "3.5 3.0").
    driz_cr_scale : str or pair of float
        Multipliers of the derivative in the two tests (default "1.2 0.7").
    driz_cr_grow : int
        Width of the box a cosmic ray is grown to (>= 1; 1: no growth).
    driz_cr_ctegrow : int
        Length in pixels of the CTE trail masked along each cosmic ray's
        column (>= 0).
    cte_dir : {1, -1, 0}, optional
        Side of the trail: +1 masks the ``driz_cr_ctegrow`` pixels above a
        cosmic ray (higher row index), -1 those below, 0 none.  Required
        when ``driz_cr_ctegrow > 0``.
    crbit : int
        DQ flag for cosmic rays (default 4096; must fit ``dq``'s dtype).
    driz_cr_corr : bool
        Also make the cleaned image and its DQ.
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        Where the work runs (None: ``$GPUDRIZZLE_BACKEND`` or auto).
    device_array : bool
        Return backend arrays instead of numpy.

    Returns
    -------
    CRResult
        ``crmask`` (uint8, 0 on cosmic rays), ``dq`` (or None), ``corrected``
        and ``corrected_dq`` (or None without ``driz_cr_corr``).

    Raises
    ------
    ValueError
        For a bad parameter (the message names it) or mismatched shapes.
    TypeError
        For arrays of the wrong kind.
    MemoryError
        When the chip's masks do not fit in the backend's memory (checked
        before allocating).

    Notes
    -----
    In electrons (``I`` = sci, ``B`` = blot, both times ``conversion``;
    ``bg`` = sky times ``conversion``), with float32 arithmetic as in
    drizzlepac: ``D`` = largest |B - neighbour| over the four neighbours
    (zero beyond the edges), ``t1 = |I - B|``,
    ``ta = sqrt(gain * |B + bg| + rdnoise**2)``.  A pixel is good when
    ``t1 <= scale2 * D + snr2 * ta / gain``, or when
    ``t1 <= scale1 * D + snr1 * ta / gain`` holds on its whole 3x3
    neighbourhood.  The bad pixels are grown by the ``driz_cr_grow`` box
    and the CTE trail.
    """
    snr1, snr2 = argcheck.number_pair("driz_cr_snr", driz_cr_snr)
    scale1, scale2 = argcheck.number_pair("driz_cr_scale", driz_cr_scale)
    grow = argcheck.integer("driz_cr_grow", driz_cr_grow, minimum=1)
    ctegrow = argcheck.integer("driz_cr_ctegrow", driz_cr_ctegrow, minimum=0)
    if cte_dir is None:
        if ctegrow > 0:
            raise ValueError("'cte_dir' (+1, -1 or 0) is required when 'driz_cr_ctegrow' > 0")
        cte_dir = 0
    elif isinstance(cte_dir, (bool, np.bool_)) or cte_dir not in (-1, 0, 1):
        raise ValueError(f"'cte_dir' must be +1, -1 or 0; got {cte_dir!r}")
    gain = argcheck.real("gain", gain, above=0.0)
    rdnoise = argcheck.real("rdnoise", rdnoise, minimum=0.0)
    sky = argcheck.real("sky", sky)
    conversion = argcheck.real("conversion", conversion, above=0.0)
    crbit = argcheck.integer("crbit", crbit, minimum=0, maximum=0xFFFFFFFF)
    corr = argcheck.boolean("driz_cr_corr", driz_cr_corr)
    device_array = argcheck.boolean("device_array", device_array)
    sci = argcheck.image("sci", sci)
    shape = tuple(int(s) for s in sci.shape)
    blot = argcheck.image("blot", blot, shape)
    if dq is not None:
        dq = argcheck.image("dq", dq, shape)
        if np.dtype(dq.dtype).kind not in "iu" or np.dtype(dq.dtype).itemsize > 4:
            raise TypeError(f"'dq' must be of an integer type of at most 4 bytes; got {dq.dtype}")
        if crbit > np.iinfo(dq.dtype).max:
            raise ValueError(f"'crbit' ({crbit}) does not fit the dtype {dq.dtype} of 'dq'")
    cor_dtype = np.uint16 if crbit <= 0xFFFF else np.uint32

    b = get_backend(backend)
    xp = b.xp
    ny, nx = shape
    # tests, cr and crmask (uint8), the DQ copy and the corrected image and DQ
    per_pixel = 3 + (4 if dq is not None else 0) + (8 if corr else 0)
    check_fits(b, conversion_bytes(b, sci, np.float32) + conversion_bytes(b, blot, np.float32)
               + per_pixel * ny * nx, f"driz_cr: the masks of a chip of shape {shape}")
    img, model = b.asarray(sci, np.float32), b.asarray(blot, np.float32)
    # a private copy: the kernel updates it in place (converted from any byte order)
    dq_work = None if dq is None else b.asarray(dq, np.uint32).copy()
    tests = xp.empty(shape, np.uint8)
    cr = xp.empty(shape, np.uint8)
    crmask = xp.empty(shape, np.uint8)
    cor = xp.empty(shape, np.float32) if corr else None
    cor_dq = xp.empty(shape, np.uint32) if corr else None
    if img.size:
        b.crmask_tests(sci=img, blot=model, nx=nx, ny=ny, conversion=conversion, gain=gain,
                       rn2=rdnoise ** 2, backg=sky * conversion, snr1=snr1, snr2=snr2,
                       scale1=scale1, scale2=scale2, tests=tests, deriv=None)
        b.crmask_neighbours(tests=tests, nx=nx, ny=ny, cr=cr)
        b.crmask_grow(cr=cr, sci=img if corr else None, blot=model if corr else None, nx=nx,
                      ny=ny, grow=grow, ctegrow=ctegrow, cte_dir=int(cte_dir),
                      conversion=conversion, crbit=crbit, dq=dq_work, cor=cor, cor_dq=cor_dq,
                      crmask=crmask)
    out_dq = None if dq is None else dq_work.astype(np.dtype(dq.dtype).newbyteorder("="))
    out_cor_dq = None if cor_dq is None else cor_dq.astype(cor_dtype)
    result = CRResult(crmask, out_dq, cor, out_cor_dq)
    if device_array:
        return result
    return CRResult(*(None if a is None else b.to_host(a) for a in result))
