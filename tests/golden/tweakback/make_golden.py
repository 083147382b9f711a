"""Make golden.json: drizzlepac 3.11's tweakback.update_chip_wcs on a few chip / drizzled-frame
pairs (run with drizzlepac's environment: /tmp/dpvenv/bin/python make_golden.py).

Each case gives a chip's linear WCS (the only part update_chip_wcs uses) and an original and a
tweaked drizzled TAN frame; the golden is the chip's new CRVAL and CD.
"""

import json
import os

import numpy as np
from astropy.io import fits
from drizzlepac import tweakback
from stwcs import wcsutil


def tan_header(crval, crpix, cd, naxis, sip=False):
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"], h["NAXIS2"] = naxis
    suffix = "-SIP" if sip else ""
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN" + suffix, "DEC--TAN" + suffix
    h["CRPIX1"], h["CRPIX2"] = crpix
    h["CRVAL1"], h["CRVAL2"] = crval
    for (i, j), v in np.ndenumerate(np.asarray(cd)):
        h[f"CD{i + 1}_{j + 1}"] = float(v)
    return h


def rotation(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def case(chip, drz, deg, scale, dcrval, dcrpix=(0.0, 0.0)):
    tweaked = dict(drz)
    tweaked["cd"] = (scale * rotation(deg) @ np.asarray(drz["cd"])).tolist()
    tweaked["crval"] = (np.asarray(drz["crval"]) + dcrval).tolist()
    tweaked["crpix"] = (np.asarray(drz["crpix"]) + dcrpix).tolist()
    cw = wcsutil.HSTWCS(fits.HDUList([fits.PrimaryHDU(header=tan_header(**chip))]), ext=0)
    ow = wcsutil.HSTWCS(fits.HDUList([fits.PrimaryHDU(header=tan_header(**drz))]), ext=0)
    tw = wcsutil.HSTWCS(fits.HDUList([fits.PrimaryHDU(header=tan_header(**tweaked))]), ext=0)
    cw.pixel_shape = tuple(chip["naxis"])
    tweakback.update_chip_wcs(cw, ow, tw)
    return {"chip": chip, "orig": drz, "tweaked": tweaked,
            "crval": [float(v) for v in cw.wcs.crval], "cd": np.asarray(cw.wcs.cd).tolist()}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    # a WFC3/UVIS chip of the shared sample (its primary linear WCS), 4096x2051
    uvis = {"crval": [137.84090087889, -64.910829230259], "crpix": [2048.0, 1026.0],
            "cd": [[1.8925181085512e-05, -2.897620258245e-05],
                   [-3.2501598839893e-05, -1.6998923794846e-05]], "naxis": [4096, 2051]}
    uvis_drz = {"crval": [137.8412, -64.9101], "crpix": [2300.5, 2250.5],
                "cd": (0.04 / 3600 * np.array([[-0.5, 0.8660254037844386],
                                                [0.8660254037844386, 0.5]])).tolist(),
                "naxis": [4600, 4500]}
    # a small ACS/WFC-like chip, 128x64, and a north-up drizzled frame
    small = {"crval": [150.09974659035, 2.1996169605582], "crpix": [64.5, 32.5],
             "cd": [[-1.2028130608117e-05, 6.94444444444444e-06],
                    [6.94444444444444e-06, 1.20281306081172e-05]], "naxis": [128, 64]}
    small_drz = {"crval": [150.1, 2.2], "crpix": [65.0, 68.0],
                 "cd": [[-1.3888888888889e-05, 0.0], [0.0, 1.3888888888889e-05]],
                 "naxis": [130, 135]}
    cases = [
        case(uvis, uvis_drz, 0.02, 1.0, (2e-5, -1e-5)),
        case(uvis, uvis_drz, -0.3, 1.0003, (-3e-4, 2e-4), dcrpix=(5.0, -3.0)),
        case(small, small_drz, 0.05, 1.0001, (1e-4, -2e-4)),
        case(small, small_drz, 1.5, 0.999, (0.0, 0.0)),
    ]
    with open(os.path.join(here, "golden.json"), "w") as f:
        json.dump({"made_with": "drizzlepac 3.11 tweakback.update_chip_wcs", "cases": cases}, f,
                  indent=1)


if __name__ == "__main__":
    main()
