"""Make the files of tests/golden/tweakfiles/ with drizzlepac 3.11's own writers.

Run with the drizzlepac environment from the repository root:

    /tmp/dpvenv/bin/python tests/golden/tweakfiles/make_tweakfiles_golden.py

The inputs (fixed numbers, in inputs.json) are handed to drizzlepac's
writers through minimal stand-in objects carrying the attributes they read:
tweakutils.write_shiftfile (shift file and outwcs), Catalog.writeXYCatalog,
Image.write_skycatalog and Image.write_fit_catalog.
"""

import json
import os
import types

import numpy as np
from astropy.wcs import WCS
from drizzlepac import catalogs, imgclasses, tweakutils

HERE = os.path.dirname(os.path.abspath(__file__))


def inputs():
    rng = np.random.default_rng(1312)
    n = 7
    ref = rng.uniform(1, 4000, (n, 2))
    img = ref + rng.normal(0, 0.05, (n, 2)) + [0.3, -0.2]
    fit = ref + rng.normal(0, 0.01, (n, 2))
    return {
        "rows": [["j8bt06nyq_flt.fits", 0.123456789, -0.654321, 0.0012345, 1.0000123,
                  0.0123, 0.01349],
                 ["j8bt06o6q_flt.fits", -1.5, 2.25, -0.01, 0.99998, 0.02, 0.021]],
        "refwcs": {"crval": [5.0123, -72.05], "crpix": [2048.5, 1024.25],
                   "cd": [[-1.3e-5, 2.1e-6], [2.2e-6, 1.31e-5]], "pixel_shape": [4096, 2048]},
        "xy": [rng.uniform(1, 4096, n).tolist(), rng.uniform(1, 2048, n).tolist(),
               rng.uniform(10, 1e5, n).tolist(), list(range(1, n + 1)),
               rng.uniform(0.2, 1, n).tolist(), rng.uniform(-1, 1, n).tolist(),
               rng.uniform(-1, 1, n).tolist()],
        "sky": [rng.uniform(5.0, 5.1, n).tolist(), rng.uniform(-72.1, -72.0, n).tolist()],
        "fit": {"rms": [0.0123, 0.0456], "offset": [0.31234, -0.19876],
                "scale": [1.0000123, 1.0000111, 1.0000135], "rotxy": [0.00123, 0.00145, 0.00134],
                "skew": 0.00022},
        "match": {"ref": ref.tolist(), "img": img.tolist(), "fit": fit.tolist(),
                  "resid": (img - fit).tolist(), "ref_orig": (ref + 1).tolist(),
                  "img_orig": (img - 1).tolist(), "ref_id": list(range(10, 10 + n)),
                  "img_id": list(range(100, 100 + n)), "extver": [1, 1, 1, 2, 2, 2, 2],
                  "radec": np.column_stack([rng.uniform(5.0, 5.1, n),
                                            rng.uniform(-72.1, -72.0, n)]).tolist(),
                  "origin": ["j8bt06nyq_flt.fits"] * 4 + ["refcat.coo"] * 3},
    }


def main():
    data = inputs()
    with open(os.path.join(HERE, "inputs.json"), "w") as f:
        json.dump(data, f, indent=1)
    os.chdir(HERE)
    r = data["refwcs"]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cd = r["crval"], r["crpix"], r["cd"]
    w.pixel_shape = tuple(r["pixel_shape"])
    w.wcs.set()
    images = []
    for row in data["rows"]:
        im = types.SimpleNamespace(refWCS=w, name=row[0],
                                   fit={"offset": row[1:3], "rot": row[3], "scale": [row[4]],
                                        "rms": row[5:7]})
        im.get_shiftfile_row = types.MethodType(imgclasses.Image.get_shiftfile_row, im)
        images.append(im)
    tweakutils.write_shiftfile(images, "shifts.txt", outwcs="shifts_wcs.fits")

    for sharp, name in ((True, "xy_sharp.coo"), (False, "xy_plain.coo")):
        cols = data["xy"] if sharp else data["xy"][:4]
        cat = types.SimpleNamespace(xypos=[np.array(c) for c in cols],
                                    wcs=types.SimpleNamespace(filename="j8bt06nyq_flt.fits"),
                                    use_sharp_round=sharp, in_units="pixels")
        catalogs.Catalog.writeXYCatalog(cat, name)

    sky = types.SimpleNamespace(all_radec=[np.array(c) for c in data["sky"]],
                                name="j8bt06nyq_flt.fits")
    imgclasses.Image.write_skycatalog(sky, "sky.coo")

    m = data["match"]
    fitd = dict(data["fit"])
    fitd.update({"ref_coords": np.array(m["ref"]), "img_coords": np.array(m["img"]),
                 "fit_xy": np.array(m["fit"]), "resids": np.array(m["resid"]),
                 "ref_orig_xy": np.array(m["ref_orig"]), "img_orig_xy": np.array(m["img_orig"]),
                 "ref_indx": np.array(m["ref_id"]), "img_indx": np.array(m["img_id"]),
                 "fit_RA": np.array(m["radec"])[:, 0], "fit_DEC": np.array(m["radec"])[:, 1],
                 "src_origin": np.array(m["origin"])})
    # the chip of each input source comes from the chips' source-ID ranges (min..max of
    # each chip): IDs 100-102 are chip 1 and 103-106 chip 2, as "extver" says
    xyid = {1: np.array([100, 101, 102]), 2: np.array([103, 104, 105, 106])}
    chips = {k: {"catalog": types.SimpleNamespace(xypos=[None, None, None, v])}
             for k, v in xyid.items()}
    im = types.SimpleNamespace(pars={"writecat": True}, catalog_names={"fitmatch": "fit.match"},
                               filename="j8bt06nyq_flt.fits", fit=fitd, nvers=2,
                               chip_catalogs=chips)
    imgclasses.Image.write_fit_catalog(im)


if __name__ == "__main__":
    main()
