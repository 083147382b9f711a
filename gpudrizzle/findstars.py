"""Source finding for alignment: TweakReg's ``imagefindpars`` step on a backend.

drizzlepac 3.11's ``ImageCatalog.generateXY`` (``tweakutils.ndfind`` and
``findobj.findstars``) with the same parameter names, defaults and
meanings, computed per chip in three kernels (``cuda_kernels/findstars.cu``):
the image fitted with DAOFIND's zero-sum elliptical Gaussian kernel, local
maxima above the threshold, then one measurement per candidate (centroid,
flux, peak, sharpness, roundness).  Only the image (with its DQ and mask)
goes to the device and only the small candidate table comes back.  What
differs from drizzlepac, on purpose:

* centroids are refined beyond DAOFIND's one-step marginal Gaussian fits
  (which are biased by up to ~0.1 px with the sub-pixel phase of
  undersampled stars): a least-squares fit of a circular Gaussian plus sky
  (position, amplitude, sky and width free) to the kernel box, started from
  the DAOFIND position, iterated to convergence (see :func:`find_sources`);

* sources are the local maxima of the convolved image within the kernel
  footprint (DAOFIND's rule) rather than one per connected region above
  the threshold, so touching stars are kept apart; maxima closer than
  ``conv_width * nsigma / 2`` to a brighter source are dropped, as
  drizzlepac's separation pass intends;
* masked pixels (DQ, ``mask``, non-finite values) neither make sources nor
  enter the fit of any pixel: drizzlepac convolves them as they are and
  only keeps them from being thresholded;
* ``crreject`` (on by default) rejects cosmic rays by their shape (see
  :func:`find_sources`);
* drizzlepac returns no source at all when fewer than two regions pass the
  threshold; here a single star is a single source.

Positions are 0-based (numpy) pixel coordinates: drizzlepac's catalogs and
``.coo`` files are 1-based (add 1).
"""

import math
from dataclasses import dataclass

import numpy as np

from . import argcheck
from .backends import get_backend
from .bitflags import good_pixel_mask, interpret_bit_flags, ALL_FLAGS
from .cpu_fallback.findstars import NCOL
from .imagestats import image_stats
from .memory import check_fits, conversion_bytes

__all__ = ["find_sources", "SourceCatalog", "daofind_kernel", "compute_skysigma",
           "CR_FWHM_FRACTION"]

FWHM2SIG = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: crreject compares every candidate with a Gaussian of FWHM
#: CR_FWHM_FRACTION * conv_width * ratio (pixel-integrated).
CR_FWHM_FRACTION = 0.4


@dataclass(frozen=True)
class SourceCatalog:
    """Sources of one chip, brightest (largest ``flux``) first.

    All arrays are 1-D float64 numpy arrays of the same length.
    """

    #: 0-based column and row of the centroid (drizzlepac's catalogs add 1): the refined
    #: Gaussian fit, or DAOFIND's marginal fits where that fails (see :func:`find_sources`)
    x: np.ndarray
    y: np.ndarray
    #: sum of the pixels in the kernel box around the peak pixel (sky included, as drizzlepac)
    flux: np.ndarray
    #: largest pixel in that box
    peak: np.ndarray
    #: DAOFIND sharpness: (peak pixel - mean of the other footprint pixels) / convolved value
    sharpness: np.ndarray
    #: DAOFIND's first roundness (two-fold symmetry of the convolved image)
    round1: np.ndarray
    #: DAOFIND's second roundness, 2 (hx - hy) / (hx + hy) of the marginal fits
    round2: np.ndarray
    #: the sky sigma used (computed or given)
    skysigma: float
    #: the detection threshold in convolved units (``threshold * skysigma``)
    threshold: float

    @property
    def roundness(self):
        """DAOFIND's roundness of the marginal fits (``round2``)."""
        return self.round2

    def __len__(self):
        return int(self.x.size)


def daofind_kernel(conv_width, nsigma=1.5, ratio=1.0, theta=0.0):
    """DAOFIND's elliptical Gaussian kernel as drizzlepac builds it (``findobj.gausspars``).

    Parameters
    ----------
    conv_width : float
        FWHM along the major axis, pixels (> 0).
    nsigma : float
        Footprint half-size in sigma (> 0).
    ratio : float
        Minor / major axis sigma, in (0, 1].
    theta : float
        Position angle of the major axis, degrees counter-clockwise from +x.

    Returns
    -------
    gauss : numpy.ndarray (nyk, nxk) float64
        The unnormalised Gaussian (1 at the centre), nxk and nyk odd.
    foot : numpy.ndarray (nyk, nxk) bool
        The footprint: inside the nsigma ellipse or within 2 pixels of the centre.
    """
    xsig = conv_width / FWHM2SIG
    ysig = ratio * xsig
    f = nsigma ** 2 / 2.0
    t = math.radians(theta)
    ct, st = math.cos(t), math.sin(t)
    a = ct ** 2 / xsig ** 2 + st ** 2 / ysig ** 2
    b = 2.0 * ct * st * (1.0 / xsig ** 2 - 1.0 / ysig ** 2)
    c = st ** 2 / xsig ** 2 + ct ** 2 / ysig ** 2
    d = b ** 2 - 4.0 * a * c
    nxk = 2 * int(2 * max(1.0, nsigma * math.sqrt(-c / d))) + 1
    nyk = 2 * int(2 * max(1.0, nsigma * math.sqrt(-a / d))) + 1
    y, x = np.mgrid[0:nyk, 0:nxk]
    dx, dy = x - nxk // 2, y - nyk // 2
    q = a * dx ** 2 + b * dx * dy + c * dy ** 2
    gauss = np.exp(-0.5 * q)
    foot = (q <= 2.0 * f) | (np.sqrt(dx ** 2 + dy ** 2) <= 2.001)
    return gauss, foot


def compute_skysigma(data, *, backend=None):
    """drizzlepac's ``computesig``: sqrt(2 |mode|) of 3-times clipped pixel statistics.

    Parameters
    ----------
    data : array (ny, nx) of real numbers (numpy or backend array)
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None

    Returns
    -------
    float
        0.0 when the image has no finite pixel.
    """
    b = get_backend(backend)
    img = b.asarray(argcheck.image("data", data), np.float32)
    try:
        st = image_stats(img, fields="mode,stddev", nclip=3, binwidth=0.01, backend=b)
    except ValueError:  # no finite pixel
        return 0.0
    return math.sqrt(2.0 * abs(float(st.mode)))


def _opt(name, value):
    return argcheck.real(name, value, allow_none=True)


def find_sources(data, *, backend=None, dq=None, dqbits=None, conv_width=3.5, threshold=4.0,
                 computesig=True, skysigma=0.0, nsigma=1.5, ratio=1.0, theta=0.0, peakmin=None,
                 peakmax=None, fluxmin=None, fluxmax=None, use_sharp_round=False, sharplo=0.2,
                 sharphi=1.0, roundlo=-1.0, roundhi=1.0, crreject=True, mask=None):
    """Find point sources in one chip (TweakReg's ``imagefindpars``).

    Parameters
    ----------
    data : array (ny, nx) of real numbers (numpy or backend array)
        The chip's science data; converted to float32.
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        Where the work runs (None: ``$GPUDRIZZLE_BACKEND`` or auto).
    dq : integer array (ny, nx), optional
        The chip's data quality, used only with ``dqbits``.
    dqbits : int, str or None
        DQ flags considered good (AstroDrizzle bit-flag syntax); pixels with
        other flags are masked.  None or "" (the default): DQ not used.
    conv_width : float
        FWHM of the detection kernel in pixels (> 0).
    threshold : float or None
        Detection threshold in units of ``skysigma`` (None: skysigma**2, as
        drizzlepac's INDEF).
    computesig : bool
        Compute the sky sigma as drizzlepac does (sqrt(2 |mode|)); else use
        ``skysigma``.  When no source is found with the given ``skysigma``
        the search is repeated with the computed one (as drizzlepac).
    skysigma : float
        Sky sigma used when ``computesig`` is False (>= 0).
    nsigma : float
        Half-size of the kernel footprint in sigma (> 0).
    ratio : float
        Minor / major axis ratio of the kernel, in (0, 1].
    theta : float
        Position angle of the kernel's major axis, degrees from +x.
    peakmin, peakmax : float or None
        Keep sources whose peak pixel is > peakmin and < peakmax.
    fluxmin, fluxmax : float or None
        Keep sources with flux > fluxmin and < fluxmax (0 or None: no
        limit, as drizzlepac).
    use_sharp_round : bool
        Apply the sharpness and roundness limits.
    sharplo, sharphi, roundlo, roundhi : float
        The limits (sharpness in [sharplo, sharphi], both roundness values
        in [roundlo, roundhi]).
    crreject : bool
        Reject cosmic rays by their shape (default True).  A candidate is
        rejected when its peak pixel is sharper, along any of the four
        directions (x, y and the diagonals), than the peak of a
        pixel-integrated Gaussian of FWHM ``CR_FWHM_FRACTION * conv_width *
        ratio`` (0.4 x the kernel's narrowest FWHM) can be: with P the peak
        pixel above the local sky (from the kernel fit) and q the mean of
        its two neighbours along a direction above the sky, divided by P,
        the rule is q + skysigma * sqrt(1/2 + q**2) / P < exp(-r**2 / (2 s**2))
        for the neighbours' distance r (1 or sqrt(2)) and s**2 = the narrow
        Gaussian's variance + 1/12.  Single-pixel hits and thin tracks have
        a direction with q near 0 and fail; a star of FWHM 2 pixels has
        q >= 0.5 along x and y.  The noise term keeps faint stars.
    mask : bool array (ny, nx), optional
        True at pixels to ignore (e.g. exclusion regions).  Note: the
        opposite of drizzlepac's internal mask, which is True where used.

    Returns
    -------
    SourceCatalog

    Notes
    -----
    Positions are refined beyond DAOFIND.  DAOFIND's centroid (one linearised
    step of a fit of the kernel's Gaussian to each marginal) is kept only as
    the starting point: the model amp * exp(-a ((x' - x)**2 + (y' - y)**2))
    + sky is fitted by Gauss-Newton least squares, all of x, y, amp, sky and
    the width a free, to the unmasked pixels of the kernel box around the
    peak, iterated until the position moves by less than 1e-4 px (at most
    20 steps, each moving it by at most 0.5 px).  Where the fit fails
    (singular normal equations, amp <= 0, a width outside 0.25 px to the
    box half-size, a position more than 1 px from DAOFIND's, no
    convergence: mostly noise peaks and the faintest stars) DAOFIND's
    position is kept.  On pixel-integrated Gaussian stars of FWHM 1.6 to 3.5
    px with the default ``conv_width`` the bias is < 0.004 px at any
    sub-pixel phase, < 0.001 px from FWHM 2 px on (DAOFIND's: up to ~0.1 px), and the scatter on noisy
    stars is within ~1.3 times the Poisson (Cramer-Rao) limit.  Sharpness
    and both roundness values are DAOFIND's, as drizzlepac computes them.

    Raises
    ------
    ValueError
        For a bad parameter (the message names it) or mismatched shapes.
    TypeError
        For arrays of the wrong kind.
    MemoryError
        When the chip's work arrays do not fit in the backend's memory.
    """
    conv_width = argcheck.real("conv_width", conv_width, above=0.0)
    threshold = _opt("threshold", threshold)
    computesig = argcheck.boolean("computesig", computesig)
    skysigma = argcheck.real("skysigma", skysigma, minimum=0.0)
    nsigma = argcheck.real("nsigma", nsigma, above=0.0)
    ratio = argcheck.real("ratio", ratio, above=0.0)
    if ratio > 1.0:
        raise ValueError(f"'ratio' must be in (0, 1]; got {ratio!r}")
    theta = argcheck.real("theta", theta)
    peakmin, peakmax = _opt("peakmin", peakmin), _opt("peakmax", peakmax)
    fluxmin, fluxmax = _opt("fluxmin", fluxmin), _opt("fluxmax", fluxmax)
    use_sharp_round = argcheck.boolean("use_sharp_round", use_sharp_round)
    sharplo, sharphi = argcheck.real("sharplo", sharplo), argcheck.real("sharphi", sharphi)
    roundlo, roundhi = argcheck.real("roundlo", roundlo), argcheck.real("roundhi", roundhi)
    crreject = argcheck.boolean("crreject", crreject)
    bits = interpret_bit_flags(dqbits, "dqbits")
    data = argcheck.image("data", data)
    shape = tuple(int(s) for s in data.shape)
    if dq is not None:
        dq = argcheck.image("dq", dq, shape)
        if np.dtype(dq.dtype).kind not in "iu":
            raise TypeError(f"'dq' must be of an integer type; got {dq.dtype}")
    if mask is not None:
        mask = argcheck.image("mask", mask, shape)

    gauss, foot = daofind_kernel(conv_width, nsigma, ratio, theta)
    nyk, nxk = gauss.shape
    jj, ii = np.nonzero(foot)  # row-major
    taps = np.stack([ii - nxk // 2, jj - nyk // 2, gauss[jj, ii]], axis=1).astype(np.float64)
    g = taps[:, 2]
    fp = dict(taps=None, ntaps=len(taps), gsum=float(g.sum()), g2sum=float((g * g).sum()),
              npts=float(len(taps)))
    xsigsq = (conv_width / FWHM2SIG) ** 2
    ysigsq = ratio ** 2 * xsigsq
    s2 = (CR_FWHM_FRACTION * conv_width * ratio / FWHM2SIG) ** 2 + 1.0 / 12.0
    e_axis, e_diag = (math.exp(-0.5 / s2), math.exp(-1.0 / s2)) if crreject else (-1.0, -1.0)

    b = get_backend(backend)
    xp = b.xp
    ny, nx = shape
    check_fits(b, conversion_bytes(b, data, np.float32) + 6 * ny * nx,
               f"find_sources: the work arrays of a chip of shape {shape}")
    img = b.asarray(data, np.float32)
    bad = None
    if dq is not None and bits != ALL_FLAGS:
        dq_dev = b.asarray(dq, np.dtype(dq.dtype).newbyteorder("="))
        bad = ~good_pixel_mask(dq_dev, bits, xp)
    if mask is not None:
        m = b.asarray(mask, bool)
        bad = m if bad is None else (bad | m)
    bad = None if bad is None else xp.ascontiguousarray(bad.astype(np.uint8))
    fp["taps"] = b.asarray(taps, np.float64)
    gauss_dev = b.asarray(gauss, np.float64)

    conv = xp.empty(shape, np.float32)
    if img.size:
        b.findstars_convolve(data=img, mask=bad, nx=nx, ny=ny, conv=conv, **fp)

    def search(sigma):
        skymode = sigma ** 2
        hmin = skymode if threshold is None else sigma * threshold
        table = np.empty((0, NCOL))
        if img.size:
            peaks = xp.empty(shape, np.uint8)
            b.findstars_peaks(conv=conv, nx=nx, ny=ny, taps=fp["taps"], ntaps=fp["ntaps"],
                              bx=nxk // 2, by=nyk // 2, threshold=hmin, peaks=peaks)
            # peaks holds 0 or 1: nonzero of its bool view is the same, and faster
            idx = xp.ascontiguousarray(xp.flatnonzero(peaks.view(bool)).astype(np.int64))
            n = int(idx.size)
            if n:
                out = xp.empty((n, NCOL), np.float64)
                b.findstars_measure(data=img, mask=bad, conv=conv, nx=nx, ny=ny, idx=idx, n=n,
                                    gauss=gauss_dev, nxk=nxk, nyk=nyk, xsigsq=xsigsq,
                                    ysigsq=ysigsq, skymode=skymode, noise=sigma,
                                    e_axis=e_axis, e_diag=e_diag, out=out, **fp)
                table = b.to_host(out)
        return _select(table, sigma, hmin)

    def _select(t, sigma, hmin):
        x, y, flux, peak, sharp, r1, r2, crt = (t[:, j] for j in range(8))
        keep = np.isfinite(x)
        if peakmax is not None:
            keep &= ~(peak >= peakmax)
        if peakmin is not None:
            keep &= ~(peak <= peakmin)
        if fluxmin:
            keep &= ~(flux <= fluxmin)
        if fluxmax:
            keep &= ~(flux >= fluxmax)
        if use_sharp_round:
            keep &= (sharp >= sharplo) & (sharp <= sharphi)
            keep &= (r1 >= roundlo) & (r1 <= roundhi) & (r2 >= roundlo) & (r2 <= roundhi)
        if crreject:
            keep &= crt >= 0.0
        t = t[keep]
        order = np.lexsort((np.arange(len(t)), -t[:, 2]))  # flux down, then pixel order
        t = t[order]
        t = t[_separated(t[:, 0], t[:, 1], conv_width * nsigma / 2.0)]
        cols = [np.ascontiguousarray(t[:, j]) for j in range(7)]
        return SourceCatalog(*cols, skysigma=float(sigma), threshold=float(hmin))

    sigma = compute_skysigma(img, backend=b) if computesig else skysigma
    cat = search(sigma)
    if len(cat) == 0 and not computesig:
        cat = search(compute_skysigma(img, backend=b))
    return cat


def _separated(x, y, sep):
    """Keep mask: each source unless within ``sep`` of a kept brighter (earlier) one.

    The greedy pass over the sources in order, resolved in rounds over the
    close pairs (i < j): a source is kept once every earlier neighbour is
    dropped and dropped once one is kept; each round decides at least the
    first undecided source, and the rounds needed are as long as the longest
    chain of close sources.
    """
    n = len(x)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.stack([x, y], axis=1)).query_pairs(sep, output_type="ndarray")
    if not len(pairs):
        return keep
    pairs = np.sort(pairs, axis=1)
    first, later = pairs[:, 0], pairs[:, 1]
    undecided = np.zeros(n, bool)
    undecided[later] = True  # a source without an earlier neighbour is kept
    while undecided.any():
        # drop where a kept earlier neighbour exists
        hit = keep[first] & ~undecided[first]
        drop = np.zeros(n, bool)
        drop[later[hit]] = True
        drop &= undecided
        keep[drop] = False
        undecided[drop] = False
        # keep where every earlier neighbour is dropped
        live = undecided[later] & (keep[first] | undecided[first])
        waiting = np.zeros(n, bool)
        waiting[later[live]] = True
        undecided &= waiting
        sel = undecided[later]
        first, later = first[sel], later[sel]
    return keep
