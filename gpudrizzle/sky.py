"""AstroDrizzle's sky step for ``skymethod`` localmin and globalmin (MDRIZSKY per chip).

drizzlepac 3.11 hands the sky to stsci.skypac's ``skymatch``; for these two
methods it does, and this module reproduces (numbers and float types):

* per chip, the statistic ``skystat`` of its usable pixels (DQ-good with
  ``sky_bits``, and the static mask with ``use_static``: the caller's
  ``masks``) from ``ImageStats`` with ``skylower``, ``skyupper``,
  ``skyclip`` iterations at ``skylsigma`` / ``skyusigma`` and histogram bins
  of ``skywidth`` sigma (:func:`gpudrizzle.imagestats.image_stats`);
* converted to brightness by the chip's factor (:func:`brightness_factor`:
  1 / IDCSCALE^2, times PHOTFLAM, divided by EXPTIME for data in counts);
* localmin: the smallest brightness over the chips of each exposure;
  globalmin: the smallest over all chips; chips without usable pixels are
  left out (an exposure with none gets 0);
* MDRIZSKY of each chip = that brightness divided by the chip's factor, in
  the chip's data units.  With ``skystat="median"`` the arithmetic is
  float32, as numpy does it for skypac on ImageStats' float32 median.

``skymethod`` "match" and "globalmin+match" (sky differences from the
overlaps of the exposures' footprints on the sky) are not implemented.
"""

import math
from typing import NamedTuple

import numpy as np

from . import argcheck
from .backends import get_backend
from .imagestats import image_stats

__all__ = ["compute_sky", "brightness_factor", "SkyResult", "SKY_METHODS", "SKY_STATS"]

#: Supported ``skymethod`` values.
SKY_METHODS = ("localmin", "globalmin")
#: Supported ``skystat`` values.
SKY_STATS = ("median", "mode", "mean", "midpt")


class SkyResult(NamedTuple):
    """Sky of every chip, in the order of the ``chips`` given to :func:`compute_sky`."""

    #: list of float: sky to subtract (MDRIZSKY), data units
    mdrizsky: list
    #: list of float or None: the chip's own statistic (None: no usable pixel)
    chip_sky: list
    #: list of int: pixels the statistic used
    npix: list


def brightness_factor(idcscale, *, exptime=None, count_rate=False, photflam=None):
    """skypac's factor from data units to brightness units for one chip.

    Parameters
    ----------
    idcscale : float
        Nominal pixel scale (arcsec / pixel, > 0).
    exptime : float, optional
        Exposure time; data in counts (``count_rate=False``) are divided by
        it when it is > 0.
    count_rate : bool
        Data are a rate (BUNIT with "/S"): no division by the exposure time.
    photflam : float, optional
        Inverse sensitivity; multiplies the factor when > 0.

    Returns
    -------
    float
        ``1 / idcscale**2 * photflam / exptime`` (the factors that apply),
        computed in skypac's order.
    """
    scale = argcheck.real("idcscale", idcscale, above=0.0)
    conv = 1.0 / (scale ** 2)
    if photflam is not None and argcheck.real("photflam", photflam) > 0.0:
        conv *= float(photflam)
    if not argcheck.boolean("count_rate", count_rate) and exptime is not None:
        if argcheck.real("exptime", exptime) > 0.0:
            conv /= float(exptime)
    return conv


def compute_sky(chips, exposures, *, brightness=None, masks=None, skymethod="localmin",
                skystat="median", skylower=None, skyupper=None, skyclip=5, skylsigma=4.0,
                skyusigma=4.0, skywidth=0.1, backend=None):
    """Sky values (MDRIZSKY) of the chips of a set of exposures.

    Parameters
    ----------
    chips : sequence of arrays (ny, nx) of real numbers
        Science data of every chip (not sky-subtracted), any backend.
    exposures : sequence of hashable
        The exposure of each chip (localmin takes the minimum within one).
    brightness : sequence of float, optional
        Data-to-brightness factor of each chip (:func:`brightness_factor`);
        default 1 for all.
    masks : sequence of (arrays (ny, nx) of bool or None), optional
        Usable pixels of each chip (True = use), e.g. DQ-good pixels
        (:func:`gpudrizzle.bitflags.good_pixel_mask` with ``sky_bits``) AND
        the static mask; None uses every pixel.
    skymethod : {"localmin", "globalmin"}
    skystat : {"median", "mode", "mean", "midpt"}
    skylower, skyupper : float, optional
        Initial limits of the usable values.
    skyclip : int
        Clipping iterations (>= 0).
    skylsigma, skyusigma : float
        Clip limits in standard deviations (> 0).
    skywidth : float
        Histogram bin width in standard deviations (> 0; mode and midpt).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None

    Returns
    -------
    SkyResult

    Raises
    ------
    ValueError
        For a bad parameter (the message names it), "match" methods, or
        mismatched lengths or shapes.
    """
    method = skymethod.strip().lower() if isinstance(skymethod, str) else skymethod
    if method in ("match", "globalmin+match"):
        raise ValueError(f"'skymethod' {skymethod!r} is not supported by gpudrizzle; "
                         f"use one of {list(SKY_METHODS)}")
    if method not in SKY_METHODS:
        raise ValueError(f"'skymethod' must be one of {list(SKY_METHODS)}; got {skymethod!r}")
    stat = skystat.strip().lower() if isinstance(skystat, str) else skystat
    if stat not in SKY_STATS:
        raise ValueError(f"'skystat' must be one of {list(SKY_STATS)}; got {skystat!r}")
    lower = argcheck.real("skylower", skylower, allow_none=True)
    upper = argcheck.real("skyupper", skyupper, allow_none=True)
    nclip = argcheck.integer("skyclip", skyclip, minimum=0)
    lsig = argcheck.real("skylsigma", skylsigma, above=0.0)
    usig = argcheck.real("skyusigma", skyusigma, above=0.0)
    width = argcheck.real("skywidth", skywidth, above=0.0)
    chips = [argcheck.image(f"chips[{i}]", c) for i, c in enumerate(chips)]
    exposures = list(exposures)
    if len(exposures) != len(chips):
        raise ValueError(f"'exposures' has {len(exposures)} entries for {len(chips)} chips")
    conv = argcheck.per_input("brightness", brightness, len(chips), 1.0, above=0.0)
    masks = [None] * len(chips) if masks is None else list(masks)
    if len(masks) != len(chips):
        raise ValueError(f"'masks' has {len(masks)} entries for {len(chips)} chips")
    for i, (m, c) in enumerate(zip(masks, chips)):
        if m is not None and tuple(m.shape) != tuple(c.shape):
            raise ValueError(f"'masks[{i}]' has shape {tuple(m.shape)}; chips[{i}] has "
                             f"{tuple(c.shape)}")

    b = get_backend(backend)
    f32 = stat == "median"  # ImageStats' median is a float32; skypac's numpy keeps it so
    chip_sky, npix, bright = [], [], []
    for c, m in zip(chips, masks):
        data = b.asarray(c, np.float32)
        if m is not None:
            data = data[b.asarray(m, bool)]
        value, n = None, 0
        if data.size:
            try:
                st = image_stats(data, f"npix,{stat}", lower=lower, upper=upper, nclip=nclip,
                                 lsig=lsig, usig=usig, binwidth=width, backend=b)
                value, n = getattr(st, stat), st.npix
            except ValueError:  # no pixel within the limits: skypac skips the chip
                value, n = None, 0
        if value is not None and (n < 1 or (isinstance(value, float) and math.isnan(value))):
            value = None
        chip_sky.append(value)
        npix.append(n)
    for value, k in zip(chip_sky, conv):
        if value is None:
            bright.append(None)
        elif f32:
            bright.append(np.float32(k) * np.float32(value))
        else:
            bright.append(k * value)

    def smallest(values):
        values = [v for v in values if v is not None]
        return min(values) if values else 0.0

    if method == "globalmin":
        common = smallest(bright)
        target = [common] * len(chips)
    else:
        per_exposure = {}
        for e, v in zip(exposures, bright):
            per_exposure.setdefault(e, []).append(v)
        target = [smallest(per_exposure[e]) for e in exposures]
    mdrizsky = []
    for t, k in zip(target, conv):
        if isinstance(t, np.float32):
            mdrizsky.append(float(t / np.float32(k)))
        else:
            mdrizsky.append(float(t / k))
    return SkyResult(mdrizsky, [None if v is None else float(v) for v in chip_sky], npix)
