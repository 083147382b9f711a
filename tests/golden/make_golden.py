"""Make the golden arrays of the median and cosmic-ray steps with drizzlepac 3.11.

Run once, in an environment with drizzlepac (not needed by the tests):

    python3 -m venv /tmp/dpvenv && /tmp/dpvenv/bin/pip install drizzlepac==3.11.0
    /tmp/dpvenv/bin/python tests/golden/make_golden.py

It writes ``median_golden.npz``, ``crmask_golden.npz``,
``staticmask_golden.npz``, ``imagestats_golden.npz``, ``sky_golden.npz``
and ``sky_match_golden.npz`` beside itself (``make_golden.py sky_match``
writes only the last).
drizzlepac's own step functions run on small synthetic inputs: the median
through ``createMedian._median`` (weight means by ImageStats, row sections,
numcombine and min_med) and the cosmic rays through ``drizCR._driz_cr``
(quickDeriv, the two tests, growth, the cleaned image) and the static mask
through ``staticMask.addMember`` (ImageStats mode and clipped sigma), each
handed a minimal stand-in for its image objects; the sky through
stsci.skypac's ``skymatch`` (what drizzlepac's sky step calls) on small
FITS files (skymethod match / globalmin+match with a one-line shim: skypac
1.0.12 calls ``SphericalPolygon.iter_polygons_flat``, which
spherical_geometry 1.4 no longer has; without it skymatch raises and
drizzlepac's sky step falls back to localmin / globalmin).  Inputs are quantised to multiples
of 2**-10 so the files compress well; they are stored with the results.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

import drizzlepac
from drizzlepac import buildmask, createMedian, drizCR, quickDeriv, staticMask
from stsci.imagestats import ImageStats
from stsci.skypac.skymatch import skymatch

HERE = Path(__file__).resolve().parent
QUANTUM = 2.0 ** -10


def _quantise(a):
    return (np.round(np.asarray(a, np.float64) / QUANTUM) * QUANTUM).astype(np.float32)


def _stars(rng, shape, n, flux, sigma=1.2):
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    img = np.zeros(shape)
    for _ in range(n):
        cy, cx = rng.uniform(3, ny - 3), rng.uniform(3, nx - 3)
        f = rng.uniform(*flux)
        img += f / (2 * np.pi * sigma ** 2) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    return img


def _cr_tracks(rng, shape, n, amp):
    """Image of n cosmic-ray tracks (1-6 pixels, random directions)."""
    ny, nx = shape
    img = np.zeros(shape)
    for _ in range(n):
        y, x = rng.integers(0, ny), rng.integers(0, nx)
        dy, dx = rng.integers(-1, 2), rng.integers(-1, 2)
        a = rng.uniform(*amp)
        for _ in range(rng.integers(1, 7)):
            if 0 <= y < ny and 0 <= x < nx:
                img[y, x] += a * rng.uniform(0.5, 1.0)
            y, x = y + dy, x + dx
    return img


# ----------------------------------------------------------------------------- median


class _MedianChip:
    def __init__(self, sky, rdnoise):
        self.subtractedSky = sky
        self._conversionFactor = 1.0
        self._rdnoise = rdnoise


class _SciExt:
    def __init__(self, exptime):
        self._exptime = exptime


class _SingleImage:
    """What createMedian._median reads from an imageObject."""

    inmemory = False
    native_units = "ELECTRONS"
    scienceExt = "SCI"

    def __init__(self, name, sci_path, wht_path, med_path, exptime, sky, rdnoise):
        self._filename = name
        self._image = {("sci", 1): _SciExt(exptime)}
        self.outputNames = {"outSingle": sci_path, "outSWeight": wht_path, "outMedian": med_path}
        self._chips = [_MedianChip(sky, rdnoise)]

    def getGain(self, chip):
        return 1.0

    def getOutputName(self, name):
        return self.outputNames[name]

    def returnAllChips(self, extname=None):
        return self._chips


def median_inputs(seed=20240611, n=5, shape=(64, 72)):
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    exptime = np.array([400.0, 500.0, 600.0, 500.0, 450.0][:n])
    rdnoise = np.array([5.0, 5.2, 4.8, 5.1, 5.0][:n])
    sky = np.array([120.0, 130.0, 110.0, 125.0, 118.0][:n])
    model = 0.5 + 0.002 * x + 0.001 * y + _stars(rng, shape, 8, (50, 800))  # cps
    sci, wht = [], []
    for i in range(n):
        t = exptime[i]
        noise = rng.normal(0, 1, shape) * np.sqrt(model * t + rdnoise[i] ** 2) / t
        img = model + noise + _cr_tracks(rng, shape, 6, (5, 300))
        w = np.full(shape, t)
        w[rng.random(shape) < 0.05] = 0.2 * t  # below maskpt * mean
        # uncovered strips, a different edge for each image
        edge = [(slice(None), slice(0, 3)), (slice(0, 2), slice(None)),
                (slice(None), slice(nx - 4, nx)), (slice(ny - 3, ny), slice(None)), (slice(0, 0),) * 2][i % 5]
        w[edge] = 0.0
        img[edge] = 0.0
        # all-masked patches (one touching column 0); values zero in the first two images
        for patch in ((slice(20, 24), slice(30, 36)), (slice(40, 44), slice(0, 2))):
            w[patch] = 0.0
            if i < 2:
                img[patch] = 0.0
        sci.append(_quantise(img))
        wht.append(w.astype(np.float32))
    return np.array(sci), np.array(wht), exptime, rdnoise, sky


MEDIAN_CASES = {
    "minmed": dict(combine_type="minmed"),
    "minmed_grow0": dict(combine_type="minmed", combine_grow=0),
    "minmed_grow2": dict(combine_type="minmed", combine_grow=2, combine_nsigma="3 2"),
    "iminmed": dict(combine_type="iminmed"),
    "minmed_nomasks": dict(combine_type="minmed", median_newmasks=False),
    "minmed_sections": dict(combine_type="minmed", combine_bufsize=0.005),
    "minmed_n2": dict(combine_type="minmed", n_in=2),
    "minmed_n3": dict(combine_type="minmed", n_in=3),
    "median": dict(combine_type="median"),
    "median_trim": dict(combine_type="median", combine_nlow=1, combine_nhigh=1),
    "median_thresh": dict(combine_type="median", combine_lthresh=0.3, combine_hthresh=40.0),
    "median_maskpt": dict(combine_type="median", combine_maskpt=0.7),
    "mean": dict(combine_type="mean"),
    "mean_trim": dict(combine_type="mean", combine_nlow=1, combine_nhigh=2),
    "imedian": dict(combine_type="imedian"),
    "imean": dict(combine_type="imean"),
    "sum": dict(combine_type="sum"),
}

MEDIAN_DEFAULTS = dict(median_newmasks=True, combine_maskpt=0.3, combine_type="minmed",
                       combine_nsigma="4 3", combine_nlow=0, combine_nhigh=0,
                       combine_lthresh=None, combine_hthresh=None, combine_grow=1,
                       combine_bufsize=None)


def run_median(tmp, sci, wht, exptime, rdnoise, sky, case):
    params = dict(MEDIAN_DEFAULTS)
    params.update({k: v for k, v in case.items() if k != "n_in"})
    n = case.get("n_in", len(sci))
    med_path = os.path.join(tmp, "median.fits")
    images = []
    for i in range(n):
        sp, wp = os.path.join(tmp, f"s{i}_sci.fits"), os.path.join(tmp, f"s{i}_wht.fits")
        fits.PrimaryHDU(sci[i]).writeto(sp, overwrite=True)
        fits.PrimaryHDU(wht[i]).writeto(wp, overwrite=True)
        images.append(_SingleImage(f"img{i}", sp, wp, med_path, float(exptime[i]), float(sky[i]),
                                   float(rdnoise[i])))
    params.update(proc_unit="native", compress=False)
    createMedian._median(images, params)
    return fits.getdata(med_path).astype(np.float32)


# ----------------------------------------------------------------------------- driz_cr


class _CRChip:
    group_member = True
    dq_extn = "DQ"

    def __init__(self, conversion, eff_gain, rdnoise, sky, cte_dir):
        self._conversionFactor = conversion
        self._effGain = eff_gain
        self._rdnoise = rdnoise
        self.subtractedSky = sky
        self.cte_dir = cte_dir
        self.outputNames = {"blotImage": "chip1_blt", "crmaskImage": "chip1_crmask"}


class _CRImage:
    """What drizCR._driz_cr reads from an imageObject (in-memory mode)."""

    _numchips = 1
    scienceExt = "SCI"
    inmemory = True

    def __init__(self, sci, blot, dq, chip, template, corr_path):
        self._sci, self._dq, self._chip = sci, dq, chip
        self.virtualOutputs = {"chip1_blt": fits.HDUList([fits.PrimaryHDU(blot.copy())])}
        self.saved = {}
        self._filename = template
        self.outputNames = {"crcorImage": corr_path}

    def __getitem__(self, exten):
        return self._chip

    def getData(self, exten):
        return self._sci.copy()

    def buildMask(self, chip, bits):
        return buildmask.buildMask(self._dq, bits)

    def saveVirtualOutputs(self, outputs):
        self.saved.update(outputs)


def cr_inputs(seed=4096, shape=(60, 70)):
    rng = np.random.default_rng(seed)
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    rdnoise, sky = 5.0, 80.0
    blot = sky + 0.1 * x + 0.05 * y + _stars(rng, shape, 10, (2000, 40000), sigma=1.3)
    sci = blot + rng.normal(0, 1, shape) * np.sqrt(blot + rdnoise ** 2) + _cr_tracks(rng, shape, 12, (100, 2000))
    # faint cosmic rays in the second-to-last row and column: quickDeriv hides them
    flat = np.abs(np.diff(blot, axis=0))
    col = nx - 2
    sci[ny - 2, int(np.argmin(flat[-2, 5:nx - 5])) + 5] += 80.0
    sci[int(np.argmin(flat[5:ny - 5, col])) + 5, col] += 80.0
    dq = np.zeros(shape, np.uint16)
    dq[rng.random(shape) < 0.02] = 4
    dq[rng.random(shape) < 0.02] = 4096
    return _quantise(sci), _quantise(blot), dq, rdnoise, sky


CR_CASES = {
    "default": dict(),
    "corr": dict(driz_cr_corr=True),
    "grow3": dict(driz_cr_grow=3),
    "grow2": dict(driz_cr_grow=2),
    "cte_up": dict(driz_cr_ctegrow=3, cte_dir=1),
    "cte_down": dict(driz_cr_ctegrow=3, cte_dir=-1),
    "cte_none": dict(driz_cr_ctegrow=2, cte_dir=0),
    "snr_scale": dict(driz_cr_snr="4.0 3.0", driz_cr_scale="0.5 0.4"),
    "counts": dict(units="counts"),
    "rate": dict(units="rate"),
}

CR_DEFAULTS = dict(driz_cr_snr="3.5 3.0", driz_cr_scale="1.2 0.7", driz_cr_grow=1,
                   driz_cr_ctegrow=0, cte_dir=0, driz_cr_corr=False, crbit=4096, units="electrons")

#: units -> (divide electrons by, conversion factor, effective gain)
CR_UNITS = {"electrons": (1.0, 1.0, 1.0), "counts": (2.0, 2.0, 2.0), "rate": (500.0, 500.0, 1.0)}


def cr_chip_in_units(sci_e, blot_e, sky_e, units):
    """sci, blot, sky, conversion and effective gain of the chip in ``units``."""
    scale, conversion, eff_gain = CR_UNITS[units]
    return _quantise(sci_e / scale), _quantise(blot_e / scale), sky_e / scale, conversion, eff_gain


def run_cr(tmp, sci_e, blot_e, dq, rdnoise, sky_e, case):
    p = dict(CR_DEFAULTS)
    p.update(case)
    sci, blot, sky, conversion, eff_gain = cr_chip_in_units(sci_e, blot_e, sky_e, p["units"])
    chip = _CRChip(conversion, eff_gain, rdnoise, sky, p["cte_dir"])
    template = os.path.join(tmp, "template.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ")]
                 ).writeto(template, overwrite=True)
    corr_path = os.path.join(tmp, "cor.fits")
    if os.path.exists(corr_path):
        os.remove(corr_path)
    image = _CRImage(sci, blot, dq, chip, template, corr_path)
    params = {k: p[k] for k in ("driz_cr_snr", "driz_cr_scale", "driz_cr_grow", "driz_cr_ctegrow",
                                "driz_cr_corr", "crbit")}
    params["inmemory"] = True
    drizCR._driz_cr(image, image.virtualOutputs, params)
    out = {"crmask": image.saved["chip1_crmask"][0].data.astype(np.uint8)}
    if p["driz_cr_corr"]:
        with fits.open(corr_path) as f:
            out["corrected"] = f["SCI", 1].data.astype(np.float32)
            out["corrected_dq"] = f["DQ", 1].data.astype(np.uint16)
    return out


# ----------------------------------------------------------------------------- static mask


class _StaticChip:
    def __init__(self, signature):
        self.signature = signature
        self.outputNames = {}


class _StaticImage:
    """What staticMask.addMember reads from an imageObject."""

    scienceExt = "SCI"

    def __init__(self, chips, signatures):
        self._numchips = len(chips)
        self.group = list(range(1, len(chips) + 1))
        self._data = {f"SCI,{i}": c for i, c in enumerate(chips, 1)}
        self._ext = {f"SCI,{i}": _StaticChip(s) for i, s in enumerate(signatures, 1)}

    def getData(self, chipid):
        return self._data[chipid].copy()

    def __getitem__(self, chipid):
        return self._ext[chipid]


def static_inputs(seed=77, n_exp=4, shape=(40, 50)):
    """Chips (n_exp, 2, ny, nx): sky, stars, cold pixels, a bad column; one flat chip."""
    rng = np.random.default_rng(seed)
    chips = np.empty((n_exp, 2) + shape, np.float32)
    for e in range(n_exp):
        for c in range(2):
            img = 100.0 + 0.2 * c + rng.normal(0, 5, shape) + _stars(rng, shape, 4, (500, 5000))
            cold = rng.random(shape) < 0.01
            img[cold] = rng.uniform(0, 60, int(cold.sum()))
            if c == 0:
                img[:, 7] = 40.0 + rng.normal(0, 3, shape[0])  # bad column in every exposure
            chips[e, c] = _quantise(img)
    chips[n_exp - 1, 1] = 100.0  # flat: one histogram bin, leaves the mask alone
    return chips


def run_static(chips, static_sig):
    sm = staticMask.staticMask.__new__(staticMask.staticMask)
    sm.masklist, sm.masknames, sm.static_sig = {}, {}, static_sig
    sigs = [("ACS/WFC", chips.shape[2:], c + 1) for c in range(chips.shape[1])]
    for exposure in chips:
        sm.addMember(_StaticImage(list(exposure), sigs))
    return np.array([sm.getMaskArray(s) for s in sigs]).astype(np.uint8)


# ----------------------------------------------------------------------------- ImageStats

IMAGESTATS_FIELDS = ("npix", "min", "max", "mean", "stddev", "mode", "median", "midpt")


def imagestats_cases(seed=5150, n=10):
    """Images with hot and cold pixels and ImageStats' results for varied parameters."""
    rng = np.random.default_rng(seed)
    images, params, results = [], [], []
    for case in range(n):
        shape = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
        img = rng.normal(100, 5, shape)
        hot = rng.random(shape) < 0.05
        img[hot] += rng.uniform(50, 500, int(hot.sum()))
        img[rng.random(shape) < 0.01] = 0.0
        img = np.round(img) if case % 3 == 0 else _quantise(img)
        kw = dict(nclip=int(rng.integers(0, 6)), lsig=float(rng.choice([3.0, 4.0])),
                  usig=float(rng.choice([3.0, 2.5])), binwidth=float(rng.choice([0.1, 0.05, 0.3])))
        if case % 2:
            kw.update(lower=float(img.min()) + 1.0, upper=float(img.max()) - 1.0)
        st = ImageStats(img.astype(np.float32), fields=",".join(IMAGESTATS_FIELDS), **kw)
        padded = np.full((60, 60), np.nan, np.float32)
        padded[:shape[0], :shape[1]] = img
        images.append(padded)
        params.append(json.dumps(dict(kw, shape=shape)))
        results.append([float(getattr(st, f)) for f in IMAGESTATS_FIELDS])
    return np.array(images), np.array(params), np.array(results)


# ----------------------------------------------------------------------------- sky

SKY_CASES = {
    "localmin_median": dict(skymethod="localmin", skystat="median"),
    "globalmin_median": dict(skymethod="globalmin", skystat="median"),
    "localmin_mode": dict(skymethod="localmin", skystat="mode"),
    "globalmin_mean": dict(skymethod="globalmin", skystat="mean"),
    "localmin_midpt_limits": dict(skymethod="localmin", skystat="midpt", skylower=60.0,
                                  skyupper=400.0, skyclip=3, skylsigma=3.0, skyusigma=3.0,
                                  skywidth=0.3),
}


def sky_inputs(seed=31, n_exp=3, shape=(50, 60)):
    """Chips (n_exp, 2, ny, nx) with stars and hot pixels; exposure times, scales, units."""
    rng = np.random.default_rng(seed)
    chips = np.empty((n_exp, 2) + shape, np.float32)
    exptime = np.array([400.0, 500.0, 650.0][:n_exp])
    idcscale = np.array([0.050, 0.0505])
    rate = np.array([False, False, True][:n_exp])  # BUNIT ELECTRONS or ELECTRONS/S
    for e in range(n_exp):
        for c in range(2):
            sky = 0.25 * exptime[e] + 4.0 * c + 3.0 * e
            img = sky + rng.normal(0, np.sqrt(sky), shape) + _stars(rng, shape, 5, (1e3, 1e4))
            hot = rng.random(shape) < 0.02
            img[hot] += rng.uniform(100, 3000, int(hot.sum()))
            if rate[e]:
                img = img / exptime[e]
            chips[e, c] = _quantise(img)
    return chips, exptime, idcscale, rate


def _skymatch_mdrizsky(files, nchips, case, **extra):
    """Run skypac's skymatch on ``files`` with AstroDrizzle's defaults updated by ``case``
    (plus ``extra`` skymatch arguments); return MDRIZSKY (n_files, nchips) as written."""
    p = dict(skylower=None, skyupper=None, skyclip=5, skylsigma=4.0, skyusigma=4.0, skywidth=0.1)
    p.update(case)
    skymatch(",".join(files), skymethod=p["skymethod"], skystat=p["skystat"], lower=p["skylower"],
             upper=p["skyupper"], nclip=p["skyclip"], lsigma=p["skylsigma"],
             usigma=p["skyusigma"], binwidth=p["skywidth"], skyuser_kwd="MDRIZSKY",
             units_kwd="BUNIT", readonly=False, subtractsky=False, dq_bits=None, clobber=True,
             verbose=False, flog=None, **extra)
    out = []
    for name in files:
        with fits.open(name) as f:
            out.append([float(f["SCI", c + 1].header["MDRIZSKY"]) for c in range(nchips)])
    return np.array(out)


def run_sky(tmp, chips, exptime, idcscale, rate, case):
    files = []
    for e in range(chips.shape[0]):
        ph = fits.PrimaryHDU()
        ph.header["TELESCOP"] = "OTHER"
        ph.header["EXPTIME"] = float(exptime[e])
        hdus = [ph]
        for c in range(chips.shape[1]):
            h = fits.ImageHDU(chips[e, c], name="SCI", ver=c + 1)
            h.header.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 10.0,
                             "CRVAL2": 20.0 + 0.02 * c, "CRPIX1": 30.0, "CRPIX2": 25.0,
                             "CD1_1": -1.4e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 1.4e-5,
                             "BUNIT": "ELECTRONS/S" if rate[e] else "ELECTRONS",
                             "IDCSCALE": float(idcscale[c])})
            hdus.append(h)
        name = os.path.join(tmp, f"sky{e}.fits")
        fits.HDUList(hdus).writeto(name, overwrite=True)
        files.append(name)
    return _skymatch_mdrizsky(files, chips.shape[1], case)


# ------------------------------------------------------------------ sky: match

SKY_MATCH_CASES = {
    "match_median": dict(skymethod="match", skystat="median"),
    "globalmin+match_median": dict(skymethod="globalmin+match", skystat="median"),
    "match_mean": dict(skymethod="match", skystat="mean"),
    "globalmin+match_mode": dict(skymethod="globalmin+match", skystat="mode"),
    "match_midpt_limits": dict(skymethod="match", skystat="midpt", skylower=0.0,
                               skyupper=500.0, skyclip=3, skylsigma=3.0, skyusigma=3.0,
                               skywidth=0.3),
}


def sky_match_inputs(seed=909, shape=(40, 50)):
    """Five exposures of two chips: dithered, one rotated, one with SIP, one far away.

    Returns chips (5, 2, ny, nx), exptime, idcscale (per chip), rate and the
    SCI headers (5, 2) as strings.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    n_exp = 5
    exptime = np.array([400.0, 500.0, 300.0, 450.0, 350.0])
    idcscale = np.array([0.050, 0.0505])
    rate = np.array([False, False, True, False, False])
    level = np.array([0.25, 0.31, 0.22, 0.28, 0.35])  # e-/s sky of each exposure
    dx = np.array([0.0, 12.0, -9.0, 6.0, 0.0])  # dithers (pixels)
    dy = np.array([0.0, 7.0, 15.0, -11.0, 0.0])
    rot = np.radians([0.0, 0.0, 4.0, -2.5, 0.0])
    scale = 1.4e-5
    chips = np.empty((n_exp, 2) + shape, np.float32)
    headers = np.empty((n_exp, 2), dtype=object)
    for e in range(n_exp):
        for c in range(2):
            sky = level[e] * exptime[e] + 2.0 * c
            img = sky + rng.normal(0, np.sqrt(sky), shape) + _stars(rng, shape, 4, (1e3, 1e4))
            hot = rng.random(shape) < 0.02
            img[hot] += rng.uniform(100, 3000, int(hot.sum()))
            if rate[e]:
                img = img / exptime[e]
            chips[e, c] = _quantise(img)
            cr, sr = np.cos(rot[e]), np.sin(rot[e])
            h = fits.ImageHDU(chips[e, c], name="SCI", ver=c + 1).header
            # chip 2 sits above chip 1 (a 3-pixel gap) in the exposure's frame
            h.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
                      "CRVAL1": 10.0 + (1.0 if e == 4 else 0.0), "CRVAL2": 20.0,
                      "CRPIX1": nx / 2 + dx[e], "CRPIX2": ny / 2 + dy[e] - c * (ny + 3),
                      "CD1_1": -scale * cr, "CD1_2": scale * sr,
                      "CD2_1": scale * sr, "CD2_2": scale * cr,
                      "BUNIT": "ELECTRONS/S" if rate[e] else "ELECTRONS",
                      "IDCSCALE": float(idcscale[c]), "MDRIZSKY": 0.0})
            if e == 3:  # SIP distortion of a few tenths of a pixel
                h.update({"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP",
                          "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 2.0e-4, "A_1_1": -1.0e-4,
                          "A_0_2": 1.5e-4, "B_2_0": -1.0e-4, "B_1_1": 2.0e-4,
                          "B_0_2": 1.0e-4})
            headers[e, c] = h.tostring()
    return chips, exptime, idcscale, rate, headers


def run_sky_match(tmp, chips, exptime, rate, headers, case):
    from spherical_geometry.polygon import SphericalPolygon
    if not hasattr(SphericalPolygon, "iter_polygons_flat"):  # skypac 1.0.12 vs sph. geom. 1.4
        SphericalPolygon.iter_polygons_flat = SphericalPolygon.__iter__
    files = []
    for e in range(chips.shape[0]):
        ph = fits.PrimaryHDU()
        ph.header["TELESCOP"] = "OTHER"
        ph.header["EXPTIME"] = float(exptime[e])
        hdus = [ph] + [fits.ImageHDU(chips[e, c], header=fits.Header.fromstring(headers[e, c]))
                       for c in range(chips.shape[1])]
        name = os.path.join(tmp, f"skym{e}.fits")
        fits.HDUList(hdus).writeto(name, overwrite=True)
        files.append(name)
    return _skymatch_mdrizsky(files, chips.shape[1], case, match_down=True)


def make_sky_match_golden():
    with tempfile.TemporaryDirectory() as tmp:
        chips, exptime, idcscale, rate, headers = sky_match_inputs()
        arrays = dict(chips=chips, exptime=exptime, idcscale=idcscale, rate=rate,
                      headers=headers.astype(str))
        for name, case in SKY_MATCH_CASES.items():
            arrays[f"mdrizsky/{name}"] = run_sky_match(tmp, chips, exptime, rate, headers, case)
            arrays[f"params/{name}"] = np.array(json.dumps(case))
        np.savez_compressed(HERE / "sky_match_golden.npz", **arrays)


def main():
    print("drizzlepac", drizzlepac.__version__, "numpy", np.__version__)
    if sys.argv[1:] == ["sky_match"]:
        make_sky_match_golden()
        print("sky_match_golden.npz", (HERE / "sky_match_golden.npz").stat().st_size, "bytes")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sci, wht, exptime, rdnoise, sky = median_inputs()
        arrays = dict(sci=sci, wht=wht, exptime=exptime, readnoise=rdnoise, sky=sky)
        for name, case in MEDIAN_CASES.items():
            arrays[f"result/{name}"] = run_median(tmp, sci, wht, exptime, rdnoise, sky, case)
            arrays[f"params/{name}"] = np.array(json.dumps(case))
        np.savez_compressed(HERE / "median_golden.npz", **arrays)

        sci_e, blot_e, dq, rn, sky_e = cr_inputs()
        arrays = dict(dq=dq, rdnoise=np.float64(rn))
        for units in CR_UNITS:
            sci, blot, sky, conversion, eff_gain = cr_chip_in_units(sci_e, blot_e, sky_e, units)
            arrays.update({f"sci/{units}": sci, f"blot/{units}": blot, f"sky/{units}": sky,
                           f"conversion/{units}": conversion, f"gain/{units}": eff_gain})
        for name, case in CR_CASES.items():
            res = run_cr(tmp, sci_e, blot_e, dq, rn, sky_e, case)
            for key, value in res.items():
                arrays[f"{key}/{name}"] = value
            arrays[f"params/{name}"] = np.array(json.dumps(case))
        arrays["deriv"] = quickDeriv.qderiv(arrays["blot/electrons"].copy())
        np.savez_compressed(HERE / "crmask_golden.npz", **arrays)

    chips = static_inputs()
    np.savez_compressed(HERE / "staticmask_golden.npz", chips=chips,
                        **{f"mask/{sig}": run_static(chips, sig) for sig in (4.0, 3.0, 6.0)})
    images, params, results = imagestats_cases()
    np.savez_compressed(HERE / "imagestats_golden.npz", images=images, params=params,
                        results=results, fields=np.array(IMAGESTATS_FIELDS))
    with tempfile.TemporaryDirectory() as tmp:
        chips, exptime, idcscale, rate = sky_inputs()
        arrays = dict(chips=chips, exptime=exptime, idcscale=idcscale, rate=rate)
        for name, case in SKY_CASES.items():
            arrays[f"mdrizsky/{name}"] = run_sky(tmp, chips, exptime, idcscale, rate, case)
            arrays[f"params/{name}"] = np.array(json.dumps(case))
        np.savez_compressed(HERE / "sky_golden.npz", **arrays)
    make_sky_match_golden()
    for f in ("median_golden.npz", "crmask_golden.npz", "staticmask_golden.npz",
              "imagestats_golden.npz", "sky_golden.npz", "sky_match_golden.npz"):
        print(f, (HERE / f).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
