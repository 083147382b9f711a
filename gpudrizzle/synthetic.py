"""Synthetic HST-like exposures written as FITS files, for the demo and the tests.

:func:`write_flt` writes an ACS (WFC, HRC, SBC) or WFC3 (UVIS, IR) calibrated
exposure laid out as the HST pipeline writes it: a primary header with the
instrument keywords AstroDrizzle reads (INSTRUME, DETECTOR, EXPTIME,
EXPSTART/EXPEND, ATODGNA..D, READNSEA..D, CCDAMP, PA_V3, ...) and one
SCI/ERR/DQ triplet per chip (WFC3/IR: also a constant TIME extension stored
as an HST constant array), each SCI header with a TAN-SIP WCS and the IDC
keywords (IDCSCALE, IDCV2REF, IDCV3REF, IDCTHETA).  The data are a scene of
Gaussian stars on a flat sky with Poisson and read noise, optional
cosmic-ray tracks, and optional bad columns flagged in DQ.  Chips are small
(64 x 128 by default) so that whole pipelines run in seconds.

Geometry: the exposure's pointing is the sky position of the focal-plane
origin; chip ``k`` (EXTVER k) is centred ``(k - (n + 1) / 2) * (ny + gap)``
pixels along the detector y axis from it.  The orientation is the position
angle of the detector Y axis (east of north) and the CD matrix has east to
the left.  A dither ``(dx, dy)`` moves the pointing by that many detector
pixels.  PA_V3 is chosen so that the telescope-roll orientation AstroDrizzle
derives from PA_V3/IDCV2REF/IDCV3REF/IDCTHETA equals the CD orientation.

Every function writes into a directory the caller owns (e.g. ``tmp_path``)
and returns what it wrote together with the truth (WCS, star positions,
cosmic-ray masks) needed to check results.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.special import erf

from .exposure import PARITY
from .outframe import telescope_roll

__all__ = ["PIXEL_SCALE", "N_CHIPS", "IDC_REF", "DEFAULT_SIP", "Star", "ChipTruth",
           "SyntheticExposure", "east_left_cd", "random_stars", "write_flt", "write_dither_set",
           "write_asn", "write_generic", "PHOTOMETRY", "photometry_keywords"]

#: Nominal pixel scales (arcsec).
PIXEL_SCALE = {("ACS", "WFC"): 0.05, ("ACS", "HRC"): 0.025, ("ACS", "SBC"): 0.032,
               ("WFC3", "UVIS"): 0.0396, ("WFC3", "IR"): 0.1283}
#: Chips per detector.
N_CHIPS = {("ACS", "WFC"): 2, ("ACS", "HRC"): 1, ("ACS", "SBC"): 1, ("WFC3", "UVIS"): 2,
           ("WFC3", "IR"): 1}
#: (IDCV2REF, IDCV3REF, IDCTHETA) of chip 1 (arcsec, arcsec, degrees); chip 2 adds V3.
IDC_REF = {("ACS", "WFC"): (256.6, 302.2, 0.0), ("ACS", "HRC"): (207.1, 471.5, 0.0),
           ("ACS", "SBC"): (205.7, 470.5, 0.0), ("WFC3", "UVIS"): (-27.5, -33.3, 45.0),
           ("WFC3", "IR"): (1.0, -0.5, 45.0)}
#: Photometric keywords of a typical calibrated file (F606W for ACS/WFC, F555W for
#: WFC3/UVIS) and the header that holds them: "primary" (ACS) or "sci" (WFC3).
PHOTOMETRY = {("ACS", "WFC"): ("primary", {"PHOTMODE": "ACS WFC1 F606W MJD#55200.0000",
                                           "PHOTFLAM": 7.8624e-20, "PHOTZPT": -21.1,
                                           "PHOTPLAM": 5921.9, "PHOTBW": 672.4}),
              ("WFC3", "UVIS"): ("sci", {"PHOTMODE": "WFC3 UVIS1 F555W MJD#55200.0000",
                                         "PHOTFLAM": 1.8742e-19, "PHOTFNU": 1.6537e-07,
                                         "PHOTZPT": -21.1, "PHOTPLAM": 5308.4,
                                         "PHOTBW": 629.1})}


def photometry_keywords(instrument, detector, **changes):
    """Photometric keywords for :func:`write_flt`, as ``{"primary_extra": ..}`` or ``{"sci_extra": ..}``.

    ``changes`` replace values (e.g. ``PHOTFLAM=8e-20``); a None value
    leaves the keyword out.  Only detectors of :data:`PHOTOMETRY`.
    """
    where, values = PHOTOMETRY[(instrument, detector)]
    values = {k: v for k, v in {**values, **changes}.items() if v is not None}
    return {f"{where}_extra": values}


#: Default SIP coefficients (pixels), large enough to matter on 128-pixel chips.
DEFAULT_SIP = {"A_2_0": 4e-5, "A_1_1": -3e-5, "A_0_2": 1e-5, "A_3_0": 2e-8, "A_1_2": -1e-8,
               "B_2_0": -1e-5, "B_1_1": 3e-5, "B_0_2": 5e-5, "B_0_3": 2e-8, "B_2_1": 1e-8}


@dataclass
class Star:
    """A point source: position (degrees) and count rate (e-/s)."""

    ra: float
    dec: float
    rate: float


@dataclass
class ChipTruth:
    """What was written into one chip."""

    extver: int
    wcs: WCS
    star_xy: np.ndarray          # (n_stars, 2) 0-based pixel positions (NaN: off chip)
    cr_mask: np.ndarray          # (ny, nx) bool, pixels hit by cosmic rays
    bad_columns: tuple = ()


@dataclass
class SyntheticExposure:
    """A written exposure and its truth."""

    path: str
    instrument: str
    detector: str
    exptime: float
    sky: float                   # e- per pixel over the exposure
    chips: list = field(default_factory=list)
    stars: list = field(default_factory=list)


def east_left_cd(scale_arcsec, orient_deg):
    """CD matrix (degrees/pixel) with Y at position angle ``orient_deg`` and east to the left."""
    r = math.radians(orient_deg)
    s = scale_arcsec / 3600.0
    return s * np.array([[-math.cos(r), math.sin(r)], [math.sin(r), math.cos(r)]])


def _tan(crval, crpix, cd):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    w.wcs.cd = cd
    w.wcs.set()
    return w


def _roll_orientation(pa_v3, dec, v2, v3, theta, parity):
    pv = math.radians(telescope_roll(pa_v3, dec, v2, v3) + theta)
    m = np.array([[math.cos(pv), math.sin(pv)], [-math.sin(pv), math.cos(pv)]]) @ np.asarray(parity)
    return math.degrees(math.atan2(m[0, 1], m[1, 1]))


def _pa_v3_for(orient, dec, v2, v3, theta, parity):
    """PA_V3 whose telescope-roll orientation (through ``parity``) equals ``orient``."""
    pa = orient - theta
    for _ in range(6):
        got = _roll_orientation(pa, dec, v2, v3, theta, parity)
        pa += ((orient - got + 180.0) % 360.0) - 180.0
    return pa % 360.0


def _render_star(image, x, y, flux, sigma):
    ny, nx = image.shape
    r = int(math.ceil(5 * sigma)) + 1
    x0, x1 = max(int(math.floor(x)) - r, 0), min(int(math.floor(x)) + r + 1, nx)
    y0, y1 = max(int(math.floor(y)) - r, 0), min(int(math.floor(y)) + r + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return
    k = 1.0 / (math.sqrt(2.0) * sigma)
    ex = np.arange(x0, x1 + 1) - 0.5 - x
    ey = np.arange(y0, y1 + 1) - 0.5 - y
    fx = np.diff(0.5 * erf(ex * k))
    fy = np.diff(0.5 * erf(ey * k))
    image[y0:y1, x0:x1] += flux * np.outer(fy, fx)


def _cosmic_rays(shape, n, rng):
    ny, nx = shape
    hits = np.zeros(shape, dtype=np.float64)
    for _ in range(n):
        length = rng.integers(2, 12)
        angle = rng.uniform(0, math.pi)
        x, y = rng.uniform(2, nx - 3), rng.uniform(2, ny - 3)
        amp = rng.uniform(800.0, 4000.0)
        for t in np.linspace(0.0, float(length), 2 * int(length) + 1):
            i, j = int(round(x + t * math.cos(angle))), int(round(y + t * math.sin(angle)))
            if 0 <= i < nx and 0 <= j < ny:
                hits[j, i] = max(hits[j, i], amp)
    return hits


def random_stars(center, n, rng, radius_arcsec=3.0, rates=(50.0, 500.0)):
    """``n`` stars uniformly within ``radius_arcsec`` of ``center`` (degrees), rates in e-/s."""
    ra0, dec0 = center
    r = radius_arcsec / 3600.0 * np.sqrt(rng.uniform(0, 1, n))
    t = rng.uniform(0, 2 * math.pi, n)
    return [Star(ra0 + ri * math.cos(ti) / math.cos(math.radians(dec0)), dec0 + ri * math.sin(ti),
                 float(rng.uniform(*rates))) for ri, ti in zip(r, t)]


def write_flt(directory, rootname, *, instrument="ACS", detector="WFC", pointing=(150.1, 2.2),
              orient=30.0, dither=(0.0, 0.0), chip_shape=(64, 128), gap=6, exptime=400.0,
              sky_rate=0.5, stars=(), psf_sigma=1.2, cosmic_rays=0, bad_columns=(), seed=0,
              sip=DEFAULT_SIP, idc=True, suffix=None, expstart=55000.0, gains=None,
              read_noises=None, noise=True, primary_extra=None, sci_extra=None):
    """Write one synthetic calibrated exposure.

    Parameters
    ----------
    directory : path-like
        Where to write ``<rootname>_<suffix>.fits``.
    rootname : str
        ROOTNAME (e.g. ``"j9abc1xyq"``).
    instrument, detector : str
        ``ACS`` (``WFC``, ``HRC``, ``SBC``) or ``WFC3`` (``UVIS``, ``IR``).
    pointing : (float, float)
        RA, Dec (degrees) of the focal-plane origin before dithering.
    orient : float
        Position angle of the detector Y axis (degrees east of north).
    dither : (float, float)
        Pointing offset in detector pixels.
    chip_shape : (int, int)
        (ny, nx) of each chip.
    gap : int
        Pixels between chips along y.
    exptime : float
        EXPTIME (s); 0 or negative values are written as given.
    sky_rate : float
        Sky (e-/s/pixel).
    stars : sequence of Star
    psf_sigma : float
        Gaussian PSF sigma (pixels).
    cosmic_rays : int
        Cosmic-ray tracks per chip.
    bad_columns : sequence of int
        Columns flagged with DQ 4 (and set to -500 e-) in every chip.
    seed : int
        Random seed of the noise and cosmic rays.
    sip : dict or None
        SIP coefficients (None: plain TAN).
    idc : bool
        Write IDCSCALE/IDCV2REF/IDCV3REF/IDCTHETA and PA_V3.
    suffix : str, optional
        File suffix (default ``flt``; ``flc`` for a CTE-corrected product).
    expstart : float
        EXPSTART (MJD); EXPEND = EXPSTART + EXPTIME.
    gains, read_noises : sequence of 4 float, optional
        ATODGNA..D and READNSEA..D.
    noise : bool
        Add Poisson and read noise.
    primary_extra, sci_extra : dict, optional
        Extra keywords (None values delete keywords).

    Returns
    -------
    SyntheticExposure
    """
    key = (instrument, detector)
    if key not in PIXEL_SCALE:
        raise ValueError(f"unknown instrument/detector {key}")
    rng = np.random.default_rng(seed)
    scale = PIXEL_SCALE[key]
    nchips = N_CHIPS[key]
    ny, nx = chip_shape
    cd = east_left_cd(scale, orient)
    base = _tan(list(pointing), [0.0, 0.0], cd)
    center = base.wcs_pix2world([[dither[0], dither[1]]], 0)[0]
    focal = _tan(list(center), [0.0, 0.0], cd)
    is_ir = key == ("WFC3", "IR")
    if gains is None:
        gains = {"WFC": (2.0, 2.02, 1.98, 2.01), "HRC": (0.0, 0.0, 2.216, 0.0),
                 "SBC": (0.0, 0.0, 0.0, 0.0), "UVIS": (1.56, 1.56, 1.56, 1.56),
                 "IR": (2.34, 2.37, 2.31, 2.38)}[detector]
    if read_noises is None:
        read_noises = {"WFC": (4.3, 4.1, 4.4, 4.2), "HRC": (0.0, 0.0, 4.71, 0.0),
                       "SBC": (0.0, 0.0, 0.0, 0.0), "UVIS": (3.03, 3.13, 3.08, 3.18),
                       "IR": (20.2, 19.8, 19.9, 20.1)}[detector]
    rn = float(np.mean([v for v in read_noises if v]) if any(read_noises) else 0.0)
    v2ref, v3ref, theta = IDC_REF[key]
    parity = PARITY[key]
    suffix = suffix or "flt"
    path = f"{directory}/{rootname}_{suffix}.fits"

    primary = fits.Header()
    primary["NEXTEND"] = nchips * (4 if is_ir else 3)
    primary["FILENAME"] = f"{rootname}_{suffix}.fits"
    primary["TELESCOP"] = "HST"
    primary["INSTRUME"] = instrument
    primary["DETECTOR"] = detector
    primary["ROOTNAME"] = rootname
    primary["IMAGETYP"] = "EXT"
    primary["DATE-OBS"] = "2010-01-04"
    primary["TIME-OBS"] = "00:00:00"
    primary["EXPSTART"] = expstart
    primary["EXPEND"] = expstart + exptime / 86400.0
    primary["EXPTIME"] = exptime
    primary["CCDAMP"] = {"WFC": "ABCD", "HRC": "C", "SBC": "N/A", "UVIS": "ABCD", "IR": "ABCD"}[detector]
    for amp, g, r in zip("ABCD", gains, read_noises):
        if detector != "SBC":
            primary[f"ATODGN{amp}"] = g
            primary[f"READNSE{amp}"] = r
    if instrument == "ACS":
        primary["FILTER1"] = "F606W"
        primary["FILTER2"] = "CLEAR2L"
    else:
        primary["FILTER"] = "F555W" if detector == "UVIS" else "F160W"
    primary["RA_TARG"] = pointing[0]
    primary["DEC_TARG"] = pointing[1]
    primary["ASN_ID"] = "NONE"
    primary["MDRIZTAB"] = "jref$none_mdz.fits"
    primary["IDCTAB"] = "N/A"

    hdus = [fits.PrimaryHDU(header=primary)]
    truth = SyntheticExposure(path, instrument, detector, exptime, sky_rate * exptime,
                              stars=list(stars))
    for k in range(1, nchips + 1):
        offset = (k - (nchips + 1) / 2.0) * (ny + gap)
        chip_center = focal.wcs_pix2world([[0.0, offset]], 0)[0]
        crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
        w = _tan(list(chip_center), crpix, cd)
        header = w.to_header()
        for kw in ("WCSAXES", "PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2",
                   "LATPOLE", "LONPOLE", "MJDREF", "DATEREF"):
            header.remove(kw, ignore_missing=True)
        for i in range(2):
            for j in range(2):
                header[f"CD{i + 1}_{j + 1}"] = cd[i, j]
        if sip:
            header["CTYPE1"] = "RA---TAN-SIP"
            header["CTYPE2"] = "DEC--TAN-SIP"
            order = max(int(name[2]) + int(name[4]) for name in sip)
            header["A_ORDER"] = order
            header["B_ORDER"] = order
            for name, value in sip.items():
                header[name] = value
        with np.errstate(all="ignore"):
            wcs = WCS(header)
        wcs.pixel_shape = (nx, ny)

        model = np.full((ny, nx), sky_rate * exptime, dtype=np.float64)
        xy = np.full((len(stars), 2), np.nan)
        if stars:
            pix = wcs.all_world2pix(np.array([[s.ra, s.dec] for s in stars]), 0, tolerance=1e-10)
            for n_, (s, (x, y)) in enumerate(zip(stars, pix)):
                if -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5:
                    xy[n_] = (x, y)
                _render_star(model, x, y, s.rate * exptime, psf_sigma)
        data = rng.poisson(np.clip(model, 0, None)).astype(np.float64) if noise else model.copy()
        if noise and rn > 0:
            data += rng.normal(0.0, rn, data.shape)
        err = np.sqrt(np.clip(model, 0, None) + rn ** 2)
        crs = _cosmic_rays((ny, nx), cosmic_rays, rng) if cosmic_rays else np.zeros((ny, nx))
        data += crs
        dq = np.zeros((ny, nx), dtype=np.int16)
        for c in bad_columns:
            dq[:, c] |= 4
            data[:, c] = -500.0
        if is_ir and exptime > 0:
            data /= exptime
            err /= exptime

        header["EXTNAME"] = "SCI"
        header["EXTVER"] = k
        header["ROOTNAME"] = rootname
        header["EXPNAME"] = rootname
        header["BUNIT"] = "ELECTRONS/S" if is_ir else ("COUNTS" if detector == "SBC" else "ELECTRONS")
        header["CCDCHIP"] = 2 if k == 1 and nchips == 2 else 1
        header["LTV1"] = 0.0
        header["LTV2"] = 0.0
        header["ORIENTAT"] = orient
        header["MEANDARK"] = 0.002 * exptime
        if idc:
            header["IDCSCALE"] = scale
            header["IDCV2REF"] = v2ref
            header["IDCV3REF"] = v3ref + (k - 1) * (ny + gap) * scale
            header["IDCTHETA"] = theta
            header["IDCXREF"] = crpix[0]
            header["IDCYREF"] = crpix[1]
        for name, value in (sci_extra or {}).items():
            if value is None:
                header.remove(name, ignore_missing=True)
            else:
                header[name] = value
        hdus.append(fits.ImageHDU(data.astype(np.float32), header=header))
        hdus.append(fits.ImageHDU(err.astype(np.float32), name="ERR", ver=k))
        hdus[-1].header["BUNIT"] = header["BUNIT"]
        hdus.append(fits.ImageHDU(dq, name="DQ", ver=k))
        if is_ir:
            t = fits.ImageHDU(name="TIME", ver=k)
            t.header["PIXVALUE"] = float(exptime)
            t.header["NPIX1"] = nx
            t.header["NPIX2"] = ny
            hdus.append(t)
        truth.chips.append(ChipTruth(k, wcs, xy, crs > 0, tuple(bad_columns)))

    if idc:
        ref = truth.chips[0].wcs
        hdus[0].header["PA_V3"] = _pa_v3_for(orient, float(ref.wcs.crval[1]), v2ref, v3ref, theta, parity)
    for name, value in (primary_extra or {}).items():
        if value is None:
            hdus[0].header.remove(name, ignore_missing=True)
        else:
            hdus[0].header[name] = value
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return truth


def write_dither_set(directory, n=3, *, rootname_prefix="j9dz0", step=(2.5, 1.5), stars=None,
                     n_stars=12, seed=0, **kwargs):
    """``n`` exposures of one field, dithered by multiples of ``step`` detector pixels.

    Parameters
    ----------
    directory : path-like
    n : int
    rootname_prefix : str
        Rootnames are the prefix plus ``1aq``, ``2aq``, ...
    step : (float, float)
        Dither step (pixels).
    stars : sequence of Star, optional
        Default: ``n_stars`` random stars around the pointing.
    seed : int
        Seed of the star field; exposure ``i`` uses noise seed ``seed + i + 1``.
    **kwargs
        Passed to :func:`write_flt`.

    Returns
    -------
    list of SyntheticExposure
    """
    rng = np.random.default_rng(seed)
    pointing = kwargs.pop("pointing", (150.1, 2.2))
    if stars is None:
        stars = random_stars(pointing, n_stars, rng, radius_arcsec=2.5)
    out = []
    for i in range(n):
        out.append(write_flt(directory, f"{rootname_prefix}{i + 1}aq", pointing=pointing,
                             dither=(i * step[0], i * step[1]), stars=stars, seed=seed + i + 1,
                             expstart=55000.0 + i * 0.01, **kwargs))
    return out


def write_asn(directory, asn_name, members, product, *, present=None, dupcheck=None):
    """Write an association table ``<asn_name>_asn.fits``.

    Parameters
    ----------
    directory : path-like
    asn_name : str
        Association rootname (e.g. ``"j9dz01010"``).
    members : sequence of str
        Exposure rootnames (MEMTYPE EXP-DTH).
    product : str
        Product name (MEMTYPE PROD-DTH), written in upper case as the pipeline does.
    present : sequence of bool, optional
        MEMPRSNT of each member (default all True).
    dupcheck : str, optional
        DUPCHECK primary keyword.

    Returns
    -------
    str
        Path of the table.
    """
    present = [True] * len(members) if present is None else list(present)
    names = [m.upper() for m in members] + [product.upper()]
    types = ["EXP-DTH"] * len(members) + ["PROD-DTH"]
    flags = present + [True]
    cols = fits.ColDefs([fits.Column("MEMNAME", "14A", array=np.array(names)),
                         fits.Column("MEMTYPE", "14A", array=np.array(types)),
                         fits.Column("MEMPRSNT", "L", array=np.array(flags))])
    primary = fits.PrimaryHDU()
    primary.header["ASN_ID"] = asn_name.upper()
    primary.header["ASN_TAB"] = f"{asn_name}_asn.fits"
    if dupcheck is not None:
        primary.header["DUPCHECK"] = dupcheck
    path = f"{directory}/{asn_name}_asn.fits"
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="ASN")]).writeto(path, overwrite=True)
    return path


def write_generic(directory, name, *, shape=(40, 50), crval=(150.1, 2.2), scale=0.2, orient=0.0,
                  header=None, extension=False, data=None, celestial=True):
    """Write a plain FITS image with a TAN WCS (no HST keywords).

    Parameters
    ----------
    directory : path-like
    name : str
        File name (``.fits`` added).
    shape : (int, int)
    crval : (float, float)
    scale : float
        Arcsec per pixel.
    orient : float
        Position angle of Y (degrees).
    header : dict, optional
        Extra keywords (e.g. EXPTIME, GAIN).
    extension : bool
        Put the image in an extension named IMG (empty primary).
    data : numpy.ndarray, optional
        Pixel values (default: a ramp).
    celestial : bool
        False writes linear (non-sky) axes.

    Returns
    -------
    str
        Path of the file.
    """
    ny, nx = shape
    w = _tan(list(crval), [(nx + 1) / 2.0, (ny + 1) / 2.0], east_left_cd(scale, orient))
    h = w.to_header()
    if not celestial:
        h["CTYPE1"] = "LINEAR"
        h["CTYPE2"] = "LINEAR"
    for k, v in (header or {}).items():
        h[k] = v
    if data is None:
        data = np.add.outer(np.arange(ny), np.arange(nx)).astype(np.float32)
    path = f"{directory}/{name}.fits"
    if extension:
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header=h, name="IMG")])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(data, header=h)])
    hdul.writeto(path, overwrite=True)
    return path


# --- Misaligned dithered exposures (alignment tests and the TweakReg benchmark) ---

__all__ += ["PointingError", "MisalignedExposure", "ACS_WFC_BOX", "scaled_sip", "field_stars",
            "cosmic_ray_deposit", "cosmic_ray_count", "perturb_wcs", "write_misaligned_set",
            "read_chip_wcs", "truth_rms"]

#: The 4-point ACS-WFC-DITHER-BOX pattern (detector pixels).
ACS_WFC_BOX = ((0.0, 0.0), (5.0, 1.5), (2.5, 4.5), (-2.5, 3.0))
#: Cosmic-ray events per cm^2 per second of exposure (HST's low-orbit average).
CR_RATE = 1.2
#: Detector pixel pitch (cm) used to turn the rate into events per pixel.
PIXEL_PITCH_CM = {("ACS", "WFC"): 15e-4, ("ACS", "HRC"): 21e-4, ("ACS", "SBC"): 25e-4,
                  ("WFC3", "UVIS"): 15e-4, ("WFC3", "IR"): 18e-4}


@dataclass(frozen=True)
class PointingError:
    """A pointing error of one exposure, in the tangent plane at its pointing.

    ``dx``, ``dy``: shift in detector pixels (along the exposure's detector x
    and y axes, at the nominal pixel scale); ``rotation``: change of the
    position angle of the detector Y axis (degrees, east of north);
    ``scale``: factor on the pixel scale.  The header WCS of an exposure with
    this error maps a chip pixel to ``scale * Q(rotation) @ s + cd @ (dx, dy)``
    where ``s`` is the true position in the pointing's tangent plane (so in
    detector pixels the true position ``u`` of a pixel, relative to the
    pointing, is read as ``scale * R(rotation) @ u + (dx, dy)`` with ``R`` a
    counter-clockwise turn).  Errors are applied in that order: rotation and
    scale about the pointing, then the shift.
    """

    dx: float = 0.0
    dy: float = 0.0
    rotation: float = 0.0
    scale: float = 1.0


@dataclass
class MisalignedExposure:
    """A written exposure whose header WCS carries an injected pointing error.

    Attributes
    ----------
    path : str
    truth : SyntheticExposure
        What :func:`write_flt` wrote (stars, chips, cosmic-ray masks).
    error : PointingError
        The error injected into the header WCS.
    true_wcs : list of astropy.wcs.WCS
        The true TAN-SIP WCS of every chip (EXTVER order): the one the stars
        were rendered through.
    pointing : (float, float)
        RA, Dec (degrees) of the exposure's focal-plane origin: the centre of
        the injected rotation and scale.
    cr_events : list of int
        Cosmic-ray events added to each chip.
    """

    path: str
    truth: SyntheticExposure
    error: PointingError
    true_wcs: list
    pointing: tuple
    cr_events: list = field(default_factory=list)


def scaled_sip(nx, sip=DEFAULT_SIP):
    """``sip`` (made for 128-pixel chips) scaled so the distortion grows with a chip ``nx`` wide."""
    factor = 128.0 / float(nx)
    return {k: v * factor ** (int(k[2]) + int(k[4]) - 1) for k, v in sip.items()}


def field_stars(center, orient, shape, n, rng, *, scale=0.05, flux_range=(1500.0, 1.5e5),
                exptime=500.0, slope=0.3):
    """``n`` stars uniform over a ``shape`` (ny, nx) pixel rectangle at ``orient``, around ``center``.

    Magnitudes follow ``dN/dm ~ 10**(slope * m)`` between the total counts
    ``flux_range`` (e- over ``exptime``), so faint stars outnumber bright ones.

    Returns
    -------
    list of Star
        Rates in e-/s.
    """
    lo, hi = float(flux_range[0]), float(flux_range[1])
    if not 0 < lo < hi:
        raise ValueError(f"flux_range must be 0 < low < high, got {flux_range}")
    ny, nx = shape
    u = rng.uniform(-nx / 2.0, nx / 2.0, n)
    v = rng.uniform(-ny / 2.0, ny / 2.0, n)
    focal = _tan(list(center), [0.0, 0.0], east_left_cd(scale, orient))
    sky = focal.wcs_pix2world(np.column_stack([u, v]), 0) if n else np.zeros((0, 2))
    # inverse CDF of dN/dm ~ 10**(slope m) on [m_bright, m_faint]
    m_span = 2.5 * math.log10(hi / lo)
    a = 10.0 ** (slope * m_span)
    m = np.log10(1.0 + rng.uniform(0, 1, n) * (a - 1.0)) / slope
    flux = hi * 10.0 ** (-0.4 * m)
    return [Star(float(r), float(d), float(f / exptime)) for (r, d), f in zip(sky, flux)]


def cosmic_ray_count(instrument, detector, chip_shape, exptime, rate=CR_RATE):
    """Expected cosmic-ray events on one chip: ``rate`` (cm^-2 s^-1) x chip area x ``exptime``."""
    pitch = PIXEL_PITCH_CM[(instrument, detector)]
    return int(round(rate * pitch * pitch * chip_shape[0] * chip_shape[1] * max(exptime, 0.0)))


def cosmic_ray_deposit(shape, n, rng, *, charge=(1500.0, 0.6), mean_length=2.0, max_length=40.0):
    """Charge (e-) of ``n`` cosmic-ray events on a ``shape`` chip, vectorised.

    Each event is a straight track of length ``L ~ Exponential(mean_length)``
    pixels (clipped to ``max_length``; most are compact, a few are long
    streaks) at a random angle, carrying a log-normal charge (median
    ``charge[0]`` e- for a 1-pixel path, log-sigma ``charge[1]``) growing with
    its length, sampled every half pixel and shared bilinearly between the
    neighbouring pixels (so hits are sharp, 1-4 pixel, unlike the PSF).

    Returns
    -------
    numpy.ndarray
        (ny, nx) float64, zero where no event deposited charge.
    """
    ny, nx = shape
    if n < 0:
        raise ValueError(f"cosmic_rays must be >= 0, got {n}")
    if n == 0:
        return np.zeros(shape)
    length = np.minimum(rng.exponential(mean_length, n), max_length)
    angle = rng.uniform(0.0, math.pi, n)
    x0 = rng.uniform(-0.5, nx - 0.5, n)
    y0 = rng.uniform(-0.5, ny - 0.5, n)
    total = rng.lognormal(math.log(charge[0]), charge[1], n) * (1.0 + length)
    steps = (2 * np.ceil(length)).astype(np.int64) + 1
    event = np.repeat(np.arange(n), steps)
    start = np.cumsum(steps) - steps
    t = (np.arange(event.size) - start[event]) / np.maximum(steps[event] - 1, 1) * length[event]
    x = x0[event] + t * np.cos(angle[event])
    y = y0[event] + t * np.sin(angle[event])
    q = total[event] / steps[event]
    ix, iy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - ix, y - iy
    flat = np.zeros(ny * nx)
    for dx_, dy_, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        jx, jy = ix + dx_, iy + dy_
        ok = (jx >= 0) & (jx < nx) & (jy >= 0) & (jy < ny)
        flat += np.bincount(jy[ok] * nx + jx[ok], weights=(q * w)[ok], minlength=ny * nx)
    return flat.reshape(shape)


def _rotation(deg):
    r = math.radians(deg)
    return np.array([[math.cos(r), math.sin(r)], [-math.sin(r), math.cos(r)]])


def perturb_wcs(crval, cd, pointing, error, nominal_cd):
    """(CRVAL, CD) of a chip whose exposure has pointing error ``error`` about ``pointing``.

    Parameters
    ----------
    crval : (2,) float
        The chip's true CRVAL (degrees).
    cd : (2, 2) float
        The chip's true CD matrix (degrees/pixel).
    pointing : (2,) float
        RA, Dec of the exposure's focal-plane origin (degrees).
    error : PointingError
    nominal_cd : (2, 2) float
        CD of the focal plane: turns the detector-pixel shift into degrees.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        New CRVAL (2,) and CD (2, 2).
    """
    m = error.scale * _rotation(error.rotation)
    plane = _tan(list(pointing), [0.0, 0.0], np.eye(2))
    s = plane.wcs_world2pix([list(crval)], 1)[0]   # tangent-plane degrees (CRPIX 0, 1-based)
    moved = m @ s + np.asarray(nominal_cd) @ np.array([error.dx, error.dy])
    new_crval = plane.wcs_pix2world([moved], 1)[0]
    return new_crval, m @ np.asarray(cd)


def _as_error(e):
    if isinstance(e, PointingError):
        return e
    return PointingError(*[float(v) for v in e])


def write_misaligned_set(directory, n=4, *, instrument="ACS", detector="WFC", chip_shape=(2048, 4096),
                         gap=50, n_stars=None, errors=None, cosmic_rays=None, dithers=None,
                         exptime=500.0, sky_rate=0.1, psf_fwhm=2.0, flux_range=(300.0, 1.5e5),
                         pointing=(150.1, 2.2), orient=30.0, sip="scaled", max_shift=0.8,
                         max_rotation=0.02, max_scale=1e-5, wcsname="IDC_synthetic",
                         rootname_prefix="j8mz0", seed=0, **write_flt_kwargs):
    """``n`` dithered exposures of one star field with pointing errors in their header WCS.

    The stars (and cosmic rays, sky and noise) are rendered through each
    chip's true TAN-SIP WCS; the file's header WCS is then moved as a real
    pointing error would move it: CRVAL and CD of every chip of an exposure
    change consistently under a shift, rotation and scale about the
    exposure's pointing in its tangent plane (:func:`perturb_wcs`).  A correct
    alignment to the first exposure therefore recovers the true WCS.

    Parameters
    ----------
    directory : path-like
    n : int
        Exposures (>= 1).
    instrument, detector : str
        As :func:`write_flt`.
    chip_shape : (int, int)
        (ny, nx) of each chip; ``(2048, 4096)`` is ACS/WFC, e.g. ``(256, 512)``
        for fast tests.
    gap : int
        Pixels between chips.
    n_stars : int, optional
        Mean stars per chip (default ``1000`` on a full 2048x4096 chip, scaled
        with the chip area, at least 30).
    errors : sequence, optional
        Per exposure: a :class:`PointingError` or ``(dx, dy, rotation, scale)``.
        Default: exposure 1 error-free (the reference), the others random:
        a shift of up to ``max_shift`` arcsec in a random direction, a rotation
        uniform within ``+-max_rotation`` degrees and a scale within
        ``1 +- max_scale``.
    cosmic_rays : int, optional
        Events per chip (default :func:`cosmic_ray_count`: the HST rate for
        ``exptime``; about 11000 on an ACS/WFC chip in 500 s, some 1.5 % of
        the pixels).  Not flagged in DQ, as in a real calibrated exposure.
    dithers : sequence of (float, float), optional
        Detector-pixel dithers (default :data:`ACS_WFC_BOX`, repeated with a
        ``(13.5, 9.5)`` step for ``n > 4``).
    exptime, sky_rate : float
        Exposure time (s) and sky (e-/s/pixel).
    psf_fwhm : float
        Gaussian PSF FWHM (pixels).
    flux_range : (float, float)
        Total star counts (e-) of the faintest and brightest star.
    pointing, orient : as :func:`write_flt`.
    sip : "scaled", dict or None
        "scaled": :func:`scaled_sip` of the chip width.
    max_shift, max_rotation, max_scale : float
        Ranges of the default random errors (arcsec, degrees, fraction).
    wcsname : str or None
        WCSNAME of the written (erroneous) WCS.
    rootname_prefix : str
        Rootnames are the prefix plus ``1mq``, ``2mq``, ...
    seed : int
        Seed of the field, the errors and the cosmic rays; exposure ``i``
        uses noise seed ``seed + i + 1``.
    **write_flt_kwargs
        Passed to :func:`write_flt` (e.g. ``noise=False``, ``bad_columns``).

    Returns
    -------
    list of MisalignedExposure
    """
    key = (instrument, detector)
    if key not in PIXEL_SCALE:
        raise ValueError(f"unknown instrument/detector {key}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    ny, nx = (int(v) for v in chip_shape)
    if ny < 16 or nx < 16:
        raise ValueError(f"chip_shape must be at least (16, 16), got {chip_shape}")
    if errors is not None and len(errors) != n:
        raise ValueError(f"errors must have one entry per exposure ({n}), got {len(errors)}")
    if dithers is not None and len(dithers) != n:
        raise ValueError(f"dithers must have one entry per exposure ({n}), got {len(dithers)}")
    for name in ("stars", "psf_sigma", "dither", "expstart"):
        if name in write_flt_kwargs:
            raise ValueError(f"{name} is set by write_misaligned_set; it is not a parameter")
    rng = np.random.default_rng(seed)
    scale = PIXEL_SCALE[key]
    nchips = N_CHIPS[key]
    cd = east_left_cd(scale, orient)
    if sip == "scaled":
        sip = scaled_sip(nx)
    if n_stars is None:
        n_stars = max(30, int(round(1000 * ny * nx / (2048 * 4096))))
    if dithers is None:
        dithers = [(ACS_WFC_BOX[i % 4][0] + 13.5 * (i // 4), ACS_WFC_BOX[i % 4][1] + 9.5 * (i // 4))
                   for i in range(n)]
    if errors is None:
        errors = [PointingError()]
        for _ in range(n - 1):
            r = max_shift / scale * math.sqrt(rng.uniform(0.0, 1.0))
            t = rng.uniform(0.0, 2.0 * math.pi)
            errors.append(PointingError(r * math.cos(t), r * math.sin(t),
                                        float(rng.uniform(-max_rotation, max_rotation)),
                                        float(1.0 + rng.uniform(-max_scale, max_scale))))
    errors = [_as_error(e) for e in errors]
    # stars over the detector plus the dithers and a margin
    margin = 40 + max(abs(v) for d in dithers for v in d)
    field_shape = (nchips * ny + (nchips - 1) * gap + 2 * margin, nx + 2 * margin)
    density = n_stars / float(ny * nx)
    n_field = int(rng.poisson(density * field_shape[0] * field_shape[1]))
    stars = field_stars(pointing, orient, field_shape, n_field, rng, scale=scale,
                        flux_range=flux_range, exptime=exptime)
    if cosmic_rays is None:
        cosmic_rays = cosmic_ray_count(instrument, detector, (ny, nx), exptime)
    sci_extra = dict(write_flt_kwargs.pop("sci_extra", None) or {})
    if wcsname:
        sci_extra.setdefault("WCSNAME", wcsname)
    base = _tan(list(pointing), [0.0, 0.0], cd)
    out = []
    for i in range(n):
        truth = write_flt(directory, f"{rootname_prefix}{i + 1}mq", instrument=instrument,
                          detector=detector, pointing=pointing, orient=orient, dither=dithers[i],
                          chip_shape=(ny, nx), gap=gap, exptime=exptime, sky_rate=sky_rate,
                          stars=stars, psf_sigma=psf_fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))),
                          cosmic_rays=0, seed=seed + i + 1, sip=sip,
                          expstart=55000.0 + i * 0.01, sci_extra=sci_extra, **write_flt_kwargs)
        center = base.wcs_pix2world([list(dithers[i])], 0)[0]
        cr_rng = np.random.default_rng([seed, i, 7])
        events = []
        with fits.open(truth.path, mode="update") as hdul:
            for chip in truth.chips:
                hdu = hdul["SCI", chip.extver]
                h = hdu.header
                if cosmic_rays:
                    dep = cosmic_ray_deposit((ny, nx), int(cosmic_rays), cr_rng)
                    if key == ("WFC3", "IR") and exptime > 0:
                        dep /= exptime
                    hdu.data = (hdu.data + dep).astype(np.float32)
                    chip.cr_mask = dep > 0
                events.append(int(cosmic_rays))
                crval = [h["CRVAL1"], h["CRVAL2"]]
                cdm = np.array([[h["CD1_1"], h["CD1_2"]], [h["CD2_1"], h["CD2_2"]]])
                new_crval, new_cd = perturb_wcs(crval, cdm, center, errors[i], cd)
                h["CRVAL1"], h["CRVAL2"] = float(new_crval[0]), float(new_crval[1])
                for a in range(2):
                    for b in range(2):
                        h[f"CD{a + 1}_{b + 1}"] = float(new_cd[a, b])
                h["ORIENTAT"] = float(orient + errors[i].rotation)
        out.append(MisalignedExposure(truth.path, truth, errors[i], [c.wcs for c in truth.chips],
                                      (float(center[0]), float(center[1])), events))
    return out


def read_chip_wcs(path):
    """The header WCS (astropy, with SIP) of every SCI extension of ``path``, in EXTVER order."""
    out = []
    with fits.open(path) as hdul:
        scis = sorted((h for h in hdul if h.name == "SCI"), key=lambda h: h.ver)
        if not scis:
            raise ValueError(f"{path}: no SCI extension")
        for h in scis:
            with np.errstate(all="ignore"):
                w = WCS(h.header, hdul)
            w.pixel_shape = (h.header["NAXIS1"], h.header["NAXIS2"])
            out.append(w)
    return out


def truth_rms(wcs, true_wcs, *, grid=(17, 33), per_chip=False):
    """RMS (pixels) between a file's current WCS and the true WCS over a grid of chip pixels.

    Each grid pixel ``p`` of each chip goes to the sky through ``wcs`` and back
    to pixels through the true WCS; the displacement from ``p`` is measured
    in that chip's pixels.

    Parameters
    ----------
    wcs : path-like, MisalignedExposure or sequence of astropy.wcs.WCS
        A file (its SCI headers, see :func:`read_chip_wcs`) or one WCS per chip.
    true_wcs : sequence of astropy.wcs.WCS or MisalignedExposure
        One per chip, same order.
    grid : (int, int)
        Grid points along (y, x) of each chip, edge to edge.
    per_chip : bool
        Also return the rms of every chip.

    Returns
    -------
    float or (float, list of float)
    """
    if isinstance(true_wcs, MisalignedExposure):
        true_wcs = true_wcs.true_wcs
    if isinstance(wcs, MisalignedExposure):
        wcs = wcs.path
    if not isinstance(wcs, (list, tuple)):
        wcs = read_chip_wcs(wcs)
    if len(wcs) != len(true_wcs):
        raise ValueError(f"wcs has {len(wcs)} chips, true_wcs {len(true_wcs)}")
    sq, counts, chips = 0.0, 0, []
    for w, t in zip(wcs, true_wcs):
        if t.pixel_shape is None:
            raise ValueError("true_wcs entries need pixel_shape")
        nx, ny = t.pixel_shape
        gy, gx = np.meshgrid(np.linspace(0, ny - 1, grid[0]), np.linspace(0, nx - 1, grid[1]),
                             indexing="ij")
        p = np.column_stack([gx.ravel(), gy.ravel()])
        sky = w.all_pix2world(p, 0)
        back = t.all_world2pix(sky, 0, tolerance=1e-12, maxiter=50)
        d2 = np.sum((back - p) ** 2, axis=1)
        chips.append(float(np.sqrt(d2.mean())))
        sq += float(d2.sum())
        counts += d2.size
    rms = math.sqrt(sq / counts)
    return (rms, chips) if per_chip else rms
