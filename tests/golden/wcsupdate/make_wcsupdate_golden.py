"""Make tests/golden/wcsupdate/wcsupdate_golden.json with drizzlepac 3.11.

Run with the drizzlepac environment from the repository root:

    /tmp/dpvenv/bin/python tests/golden/wcsupdate/make_wcsupdate_golden.py

It writes a synthetic two-chip ACS/WFC flt file (gpudrizzle.synthetic.write_flt,
SIP distortion, WCSNAME set), and records

* the SCI headers given to drizzlepac (so the tests rebuild the same file
  without depending on write_flt staying the same);
* for several fits (drizzlepac's fit matrix and xsh/ysh), the CRVAL and CD
  that drizzlepac.updatehdr.update_refchip_with_shift computes per chip;
* for one fit applied twice with updatewcs_with_shift (wcsname TWEAK, then
  TWEAK2), every SCI header card after each update.
"""

import json
import os
import subprocess
import tempfile

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from drizzlepac import linearfit, updatehdr  # noqa: E402
from stwcs import wcsutil  # noqa: E402

# the project's own environment writes the synthetic file (its compiled parts
# are not importable from the drizzlepac environment)
PROJECT_PYTHON = os.path.join(os.getcwd(), ".venv", "bin", "python")
WRITE_FLT = """
import sys
from gpudrizzle.synthetic import write_flt
print(write_flt(sys.argv[1], 'j9abc1xyq', orient=30.0, chip_shape=(64, 128),
                pointing=(150.1, 2.2), sci_extra={'WCSNAME': 'IDC_4bb1536oj'}).path)
"""


def write_flt_file(directory):
    out = subprocess.run([PROJECT_PYTHON, "-c", WRITE_FLT, directory], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wcsupdate_golden.json")


def reference_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.1003, 2.2001]
    w.wcs.crpix = [310.5, 190.25]
    s = 0.05 / 3600
    a = np.deg2rad(12.0)
    w.wcs.cd = [[-s * np.cos(a), s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]]
    w.pixel_shape = (620, 380)
    w.wcs.set()
    return w


def cards(header):
    return [[c.keyword, c.value if not isinstance(c.value, bool) else bool(c.value), c.comment]
            for c in header.cards]


def main():
    rng = np.random.default_rng(20261201)
    d = tempfile.mkdtemp()
    path = write_flt_file(d)
    ref = reference_wcs()
    with fits.open(path) as h:
        sci_headers = [h["SCI", i].header.tostring(sep="\n") for i in (1, 2)]
        primary = h[0].header.tostring(sep="\n")
    fits_cases = []
    specs = [("shift", 0.0, 1.0), ("rscale", 0.013, 1.00021), ("general", None, None)]
    for geom, rot, scale in specs:
        if geom == "general":
            fit = np.array([[1.0002, 0.00031], [-0.00022, 0.99985]])
            rot_arg, scale_arg = 0.0, 1.0
        else:
            fit = linearfit.buildFitMatrix(rot, scale)
            rot_arg, scale_arg = rot, scale
        xsh, ysh = rng.uniform(-3, 3, 2)
        chips = []
        with fits.open(path) as h:
            for i in (1, 2):
                cw = wcsutil.HSTWCS(h, ext=("SCI", i))
                updatehdr.update_refchip_with_shift(cw, ref, fit=fit, xsh=xsh, ysh=ysh,
                                                    rot=rot_arg, scale=scale_arg,
                                                    xrms=1e-6, yrms=2e-6)
                chips.append({"extver": i, "crval": list(cw.wcs.crval),
                              "cd": np.asarray(cw.wcs.cd).tolist(),
                              "orientat": float(cw.orientat)})
        fits_cases.append({"fitgeom": geom, "fit": np.asarray(fit).tolist(),
                           "xsh": float(xsh), "ysh": float(ysh), "chips": chips})
    # full header updates, twice
    case = fits_cases[1]
    updates = []
    for name in ("TWEAK", "TWEAK2"):
        updatehdr.updatewcs_with_shift(path, ref, wcsname=name, fit=np.array(case["fit"]),
                                       xsh=case["xsh"], ysh=case["ysh"], xrms=1.5e-6,
                                       yrms=2.5e-6, fitgeom="rscale")
        with fits.open(path) as h:
            updates.append({"wcsname": name,
                            "sci": [cards(h["SCI", i].header) for i in (1, 2)],
                            "extensions": [x.name for x in h]})
    golden = {"reference": {"crval": list(ref.wcs.crval), "crpix": list(ref.wcs.crpix),
                            "cd": ref.wcs.cd.tolist(), "pixel_shape": list(ref.pixel_shape)},
              "primary_header": primary, "sci_headers": sci_headers, "fits": fits_cases,
              "header_updates": {"fit_case": 1, "xrms": 1.5e-6, "yrms": 2.5e-6,
                                 "runs": updates}}
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
