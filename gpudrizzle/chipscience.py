"""Per-chip science of an AstroDrizzle run: good pixels, drizzle data, weights, variance.

Pure functions of one chip's arrays (backend operands: numpy or cupy arrays,
any byte order on the host), the chip's facts (units, gain, read noise,
EXPTIME, ...) and the step's parameters, with the array module ``xp`` of the
arrays; nothing here reads files, logs or keeps state.  They follow
drizzlepac 3.11's ``adrizzle`` conventions (see :mod:`gpudrizzle.astrodrizzle`):

* good pixels: DQ (after ``resetbits``) acceptable under the step's bits,
  AND the static mask, AND (final drizzle) the cosmic-ray mask;
* drizzle data: SCI - sky, times the gain with ``proc_unit="electrons"``
  for data not in electrons;
* final weights: EXP = EXPTIME * good, ERR = (EXPTIME / ERR)**2 * good,
  IVM = the IVM array or 1 / (dark + sky + readnoise**2) in e-, times good;
* variance: ERR**2, else a Poisson + read-noise model in the data units.
"""

import math
from typing import NamedTuple

import numpy as np

from .bitflags import good_pixel_mask
from .memory import by_rows

__all__ = ["FinalWeights", "is_electrons", "electrons_per_unit", "to_electrons", "good_mask",
           "step_weights", "drizzle_data", "variance", "final_weight_type", "final_weights",
           "weight_scale", "blot_scale", "exposure_noise", "updated_dq",
           "product_bunit"]


class FinalWeights(NamedTuple):
    """Weights of a chip for the final drizzle."""

    #: array (ny, nx) of float32: the weight map.
    weight: object
    #: float: the drizzle weight scale (``wht_scale``).
    scale: float


def is_electrons(units):
    """True when a chip's BUNIT (``str``) is in electrons (or electrons per second)."""
    return units.upper().startswith("ELECTRON")


def electrons_per_unit(units, gain):
    """Gain factor turning data in ``units`` into electrons (per pixel, not per second).

    Parameters
    ----------
    units : str
        The chip's BUNIT.
    gain : float
        The chip's gain (e- per count).

    Returns
    -------
    float
        1 for data in electrons, else ``gain``.
    """
    return 1.0 if is_electrons(units) else gain


def to_electrons(units, gain, exptime, is_rate):
    """Factor turning one pixel of data in ``units`` into electrons (rates times EXPTIME).

    Returns
    -------
    float
    """
    return electrons_per_unit(units, gain) * (exptime if is_rate else 1.0)


def weight_scale(wt_scl):
    """A step's ``*_wt_scl`` as a number: a word (``"exptime"``, ``"expsq"``) is 1.0."""
    return 1.0 if isinstance(wt_scl, str) else float(wt_scl)


def good_mask(shape, xp, dq=None, bits=0, resetbits=0, static=None, crmask=None, threads=1):
    """Pixels of a chip a drizzle step uses.

    Parameters
    ----------
    shape : tuple of 2 int
        (ny, nx) of the chip.
    xp : module
        Array module of the arrays (``numpy`` or ``cupy``).
    dq : array (ny, nx) of integers, or None
        Data-quality flags (any integer type and byte order); None: all good.
    bits : int
        Acceptable DQ flags (:func:`gpudrizzle.bitflags.interpret_bit_flags`).
    resetbits : int or None
        Flags ignored as if cleared first (``resetbits``); None means 0.
    static : array (ny, nx) of uint8 (0 or 1), or None
        Static mask: 0 marks a bad pixel.
    crmask : array (ny, nx) of uint8 (0 or 1), or None
        Cosmic-ray mask: 0 marks a cosmic ray.
    threads : int
        Host threads sharing the rows (:func:`gpudrizzle.memory.by_rows`).

    Returns
    -------
    array (ny, nx) of bool
        True on good pixels; a new array (``dq``, ``static`` and ``crmask``
        are not changed).
    """
    good = xp.empty(tuple(shape), bool) if dq is not None else xp.ones(tuple(shape), bool)
    # static and CR masks hold 0 or 1 (uint8): read as bool without a copy
    masks = [m.view(bool) for m in (static, crmask) if m is not None]

    def rows(r):
        if dq is not None:
            ok = good_pixel_mask(dq[r], bits, xp, reset=resetbits or 0)
            if not masks:
                good[r] = ok
                return
            xp.logical_and(ok, masks[0][r], out=good[r])
            rest = masks[1:]
        else:
            rest = masks
        for m in rest:
            xp.logical_and(good[r], m[r], out=good[r])

    by_rows(xp, threads, good.shape[0] if good.ndim else 0, rows)
    return good


def step_weights(good, scale, xp, threads=1):
    """``scale`` on good pixels, else 0.

    Parameters
    ----------
    good : array (ny, nx) of bool
    scale : float
    xp : module
    threads : int
        Host threads sharing the rows (:func:`gpudrizzle.memory.by_rows`).

    Returns
    -------
    array (ny, nx) of float32
    """
    out = xp.empty(good.shape, np.float32)
    f = np.float32(scale)
    by_rows(xp, threads, good.shape[0] if good.ndim else 0,
            lambda r: xp.multiply(good[r], f, out=out[r], dtype=np.float32))
    return out


def drizzle_data(sci, sky, units, gain, is_rate, proc_unit, xp, threads=1):
    """The data a drizzle step resamples: SCI - sky, in processing units.

    Parameters
    ----------
    sci : array (ny, nx) of real numbers
        The chip's science data, sky not subtracted.
    sky : float
        The chip's sky (MDRIZSKY), in the data's units.
    units : str
        The chip's BUNIT.
    gain : float
        The chip's gain (e- per count).
    is_rate : bool
        True for data per second.
    proc_unit : str
        ``"native"`` or ``"electrons"`` (data not in electrons are multiplied by ``gain``).
    xp : module
    threads : int
        Host threads sharing the rows (:func:`gpudrizzle.memory.by_rows`).

    Returns
    -------
    data : array (ny, nx) of float32
        A new array.
    in_units : str
        ``"cps"`` for rate data, else ``"counts"`` (the drizzle's ``in_units``).
    """
    data = xp.empty(sci.shape, np.float32)
    g = np.float32(gain) if proc_unit == "electrons" and not is_electrons(units) else None
    s = np.float32(sky)

    def rows(r):
        xp.subtract(sci[r], s, out=data[r], dtype=np.float32)
        if g is not None:
            data[r] *= g

    by_rows(xp, threads, sci.shape[0] if sci.ndim else 0, rows)
    return data, ("cps" if is_rate else "counts")


def variance(sci, err, units, gain, rdnoise, to_e, proc_unit, xp, threads=1):
    """Variance of a chip's pixels, in processing units squared.

    Parameters
    ----------
    sci : array (ny, nx) of real numbers
        Science data (used only when ``err`` is None).
    err : array (ny, nx) of real numbers, or None
        The ERR array; None: Poisson + read noise from ``sci``.
    units : str
        The chip's BUNIT.
    gain : float
        e- per count.
    rdnoise : float
        Read noise, e-.
    to_e : float
        Factor turning one pixel of data into electrons (:func:`to_electrons`).
    proc_unit : str
        ``"native"`` or ``"electrons"``.
    xp : module
    threads : int
        Host threads sharing the rows (:func:`gpudrizzle.memory.by_rows`).

    Returns
    -------
    array (ny, nx) of float32
        ERR**2, or (max(SCI, 0) * to_e + rdnoise**2) / to_e**2; times
        ``gain**2`` with ``proc_unit="electrons"`` for data not in electrons.
    """
    electrons = proc_unit == "electrons" and not is_electrons(units)
    if err is None:
        var = (xp.maximum(sci, 0) * np.float32(to_e) + np.float32(rdnoise ** 2)) \
            / np.float32(to_e ** 2)
        if electrons:
            var *= np.float32(gain ** 2)
        return var
    var = xp.empty(err.shape, np.float32)
    g2 = np.float32(gain ** 2) if electrons else None

    def rows(r):
        xp.square(err[r], out=var[r], dtype=np.float32)
        if g2 is not None:
            var[r] *= g2

    by_rows(xp, threads, err.shape[0] if err.ndim else 0, rows)
    return var


def final_weight_type(final_wht_type, has_err):
    """The weighting a chip gets: ``final_wht_type``, but ERR becomes EXP without an ERR array.

    Returns
    -------
    str
        ``"EXP"``, ``"ERR"`` or ``"IVM"``.
    """
    return "EXP" if final_wht_type == "ERR" and not has_err else final_wht_type


def final_weights(kind, good, exptime, ratio, xp, err=None, ivm=None, shape=None, sky_e=0.0,
                  rdnoise=0.0, darkcurrent=None, wt_scl=1.0, threads=1):
    """Weight map and weight scale of a chip for the final drizzle.

    Parameters
    ----------
    kind : str
        ``"EXP"``, ``"ERR"`` or ``"IVM"`` (from :func:`final_weight_type`).
    good : array (ny, nx) of bool
        Good pixels (:func:`good_mask`).
    exptime : float
        EXPTIME, s.
    ratio : float
        Output pixel scale / input pixel scale.
    xp : module
    err : array (ny, nx) of real numbers, or None
        ERR array (required for ``"ERR"``); pixels where it is not finite
        and positive get weight 0.
    ivm : array (ny, nx) of real numbers, or None
        The user's inverse-variance map (``"IVM"``); None: a uniform map.
    shape : tuple of 2 int
        (ny, nx): the shape of the uniform IVM map.
    sky_e : float
        Sky, e- per pixel (uniform IVM map).
    rdnoise : float
        Read noise, e- (uniform IVM map).
    darkcurrent : float or None
        Dark current, e- per pixel (uniform IVM map); None means 0.
    wt_scl : float
        Weight scale of ``"EXP"`` (:func:`weight_scale` of ``final_wt_scl``).
    threads : int
        Host threads sharing the rows of ``"EXP"`` (:func:`gpudrizzle.memory.by_rows`).

    Returns
    -------
    FinalWeights
        ``weight`` (ny, nx) float32 and ``scale``: EXP: EXPTIME * good and
        ``wt_scl``; ERR: (EXPTIME / ERR)**2 * good and 1 / ratio**4; IVM:
        IVM * good (non-finite or non-positive values as 0) and
        EXPTIME**2 / ratio**4.
    """
    if kind == "EXP":
        return FinalWeights(step_weights(good, exptime, xp, threads), wt_scl)
    if kind == "ERR":
        ok = xp.isfinite(err) & (err > 0)
        w = xp.where(ok, (np.float32(exptime) / xp.where(ok, err, 1)) ** 2, 0).astype(np.float32)
        return FinalWeights(w * step_weights(good, 1.0, xp), 1.0 / ratio ** 4)
    if kind != "IVM":
        raise ValueError(f"final weight type must be 'EXP', 'ERR' or 'IVM'; got {kind!r}")
    if ivm is None:
        dark = darkcurrent or 0.0
        ivm = xp.full(shape, 1.0 / max(dark + sky_e + rdnoise ** 2, 1e-30), np.float32)
    ivm = xp.where(xp.isfinite(ivm) & (ivm > 0), ivm, 0).astype(np.float32)
    return FinalWeights(ivm * step_weights(good, 1.0, xp), exptime ** 2 / ratio ** 4)


def blot_scale(exptime, ratio, units, gain, is_rate, proc_unit):
    """Factor turning the median (cps, processing units) back into a chip's data units.

    Returns
    -------
    float
        EXPTIME / ratio**2 (1 / ratio**2 for rate data), divided by the gain
        with ``proc_unit="electrons"`` for data not in electrons.
    """
    iscale = (1.0 if is_rate else exptime) / ratio ** 2
    if proc_unit == "electrons" and not is_electrons(units):
        iscale /= gain
    return iscale


def exposure_noise(rdnoise, sky_e):
    """(read noise, sky) of one exposure for the minmed noise model, both e-.

    Parameters
    ----------
    rdnoise : sequence of float
        Read noise (e-) of each of the exposure's chips.
    sky_e : sequence of float
        Sky (e- per pixel) of each of its chips.

    Returns
    -------
    tuple of 2 float
        The root mean square of the read noises and the smallest sky.
    """
    rdnoise = list(rdnoise)
    return math.sqrt(sum(r ** 2 for r in rdnoise) / len(rdnoise)), min(sky_e)


def updated_dq(dq, resetbits, cosmic_rays, crbit):
    """A chip's DQ as ``update_inputs`` writes it back: ``resetbits`` cleared, ``crbit`` set
    on cosmic rays.  Changes ``dq`` in place (host numpy array, any integer type and
    byte order) and returns it.

    Parameters
    ----------
    dq : numpy array (ny, nx) of integers
    resetbits : int or None
        Flags cleared first; 0 or None clears none.
    cosmic_rays : numpy array (ny, nx) of bool, or None
        True on the pixels driz_cr flagged; None: none.
    crbit : int
        The flag set on them.

    Returns
    -------
    numpy array (ny, nx), ``dq`` itself
    """
    if resetbits:
        dq &= np.array(~int(resetbits)).astype(dq.dtype)
    if cosmic_rays is not None:
        dq[cosmic_rays] |= np.array(crbit).astype(dq.dtype)
    return dq


def product_bunit(units, proc_unit, final_units):
    """BUNIT of the final product from the first input chip's BUNIT (``str``).

    Returns
    -------
    str
        ``ELECTRONS`` with ``proc_unit="electrons"`` or electron data, else
        the input unit without ``/S`` (upper case); ``/S`` appended for
        ``final_units="cps"``.
    """
    unit = units.upper()
    base = "ELECTRONS" if proc_unit == "electrons" or is_electrons(unit) else unit.split("/")[0]
    return f"{base}/S" if final_units == "cps" else base
