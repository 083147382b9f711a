"""Make the MDRIZTAB golden: drizzlepac's reading of a small reference table.

Run with drizzlepac's environment: ``/tmp/dpvenv/bin/python make_golden.py`` in this
directory.  Writes ``golden_mdz.fits`` (the table), and ``expected.json``: for each case
(filter keywords of an ACS header, number of images) the parameters drizzlepac 3.11's
``mdzhandler.getMdriztabParameters`` returns.
"""

import json
import os
import tempfile

import numpy as np
from astropy.io import fits
from drizzlepac import mdzhandler

ROWS = [  # filter, numimages, build, final_scale, final_kernel, subsky, crbitval, bits,
          # coeffs, driz_sep_bits, final_bits, combine_nhigh, final_fillval, final_rot, ra
    ("ANY", 1, False, 0.05, "square", True, 4096, 0, "", 0, 0, 0, np.nan, 0.0, np.nan),
    ("F606W,CLEAR2L", 1, True, 0.04, "point", True, 4096, 64, "jref$idc.fits", 16, 32, 0,
     np.nan, 33.0, 150.0),
    ("F606W,CLEAR2L", 3, False, 0.03, "turbo", False, 1024, 96, "INDEF", 8, 4, 1, -7.0, 12.0,
     np.nan),
    ("F814W", 1, False, 0.1, "gaussian", True, 4096, 0, "", 0, 0, 0, 0.0, 0.0, np.nan),
]
FORMATS = [("filter", "24A"), ("numimages", "J"), ("build", "L"), ("final_scale", "E"),
           ("final_kernel", "12A"), ("subsky", "L"), ("crbitval", "J"), ("bits", "J"),
           ("coeffs", "24A"), ("driz_sep_bits", "J"), ("final_bits", "J"),
           ("combine_nhigh", "J"), ("final_fillval", "E"), ("final_rot", "E"), ("ra", "E")]
CASES = [("F606W", "CLEAR2L", 1), ("F606W", "CLEAR2L", 2), ("F606W", "CLEAR2L", 4),
         ("F814W", "CLEAR2L", 2), ("F814W", "", 1), ("F435W", "", 3)]


def main():
    cols = [fits.Column(name, fmt, array=[r[i] for r in ROWS])
            for i, (name, fmt) in enumerate(FORMATS)]
    table = os.path.abspath("golden_mdz.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(
        table, overwrite=True)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for f1, f2, n in CASES:
            h = fits.Header({"INSTRUME": "ACS", "FILTER1": f1, "FILTER2": f2, "MDRIZTAB": table})
            files = []
            for i in range(n):
                name = os.path.join(tmp, f"e{i}_flt.fits")
                fits.PrimaryHDU(header=h).writeto(name, overwrite=True)
                files.append(name)
            pars = mdzhandler.getMdriztabParameters(files)
            pars = {k: (v.item() if hasattr(v, "item") else v) for k, v in pars.items()}
            out.append({"filter1": f1, "filter2": f2, "n": n, "pars": pars})
    with open("expected.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
