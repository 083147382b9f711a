"""Make tests/golden/regions/regions_golden.npz with stregion (the region library drizzlepac uses).

Run with the drizzlepac environment from the repository root:

    /tmp/dpvenv/bin/python tests/golden/regions/make_regions_golden.py

For each region file text in CASES, the include mask drizzlepac's
ImageCatalog._combine_exclude_mask builds: the regions in image coordinates,
a full-image box put first when every region is an exclude region, then
ShapeList.get_mask.  (Sky-coordinate regions are not here: stregion's sky
conversion fails with the numpy of that environment.)  Stored: the texts (JSON) and the masks (packed bits).
"""

import json
import os

import numpy as np
import stregion as pyregion
from astropy.io import fits
from drizzlepac.mapreg import _AuxSTWCS
from stwcs.wcsutil import HSTWCS

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = (37, 53)  # (ny, nx)
HEADER = fits.Header({"NAXIS": 2, "NAXIS1": SHAPE[1], "NAXIS2": SHAPE[0],
                      "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 27.0,
                      "CRPIX2": 19.0, "CRVAL1": 150.1, "CRVAL2": 2.2,
                      "CD1_1": -1.4e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 1.4e-5})

CASES = [
    "# Region file format: DS9 version 4.1\nglobal color=green\nimage\ncircle(20.3,15.7,6.2)\n",
    "image;box(30.4,18.2,12.3,7.9,0)",
    "image;box(30.4,18.2,12.3,7.9,33.7)",
    "image;ellipse(25.6,19.1,11.2,4.3,0)",
    "image;ellipse(25.6,19.1,11.2,4.3,-61.3)",
    "image;polygon(5.2,4.1,40.7,8.3,33.1,30.9,12.6,25.4)",
    # exclude only: the whole image minus the regions
    "image\n-circle(10.2,10.9,5.1)\n-box(40.3,25.8,9.1,6.2,15)\n",
    # include then exclude then include again: order matters
    "image\ncircle(26.3,18.4,14.2)\n-circle(26.3,18.4,7.1)\nbox(26.1,18.2,3.3,3.1,0)\n",
    # several shapes on one line, comments and properties
    "image; circle(8.4,8.2,3.3) # color=red\nimage;circle(45.3,30.2,4.4); -circle(45.3,30.2,1.9)\n",
]


def main():
    masks = []
    hdul = fits.HDUList([fits.PrimaryHDU(np.zeros(SHAPE, np.float32), header=HEADER)])
    aux = _AuxSTWCS(HSTWCS(fobj=hdul, ext=0))
    for text in CASES:
        reg = pyregion.parse(text).as_imagecoord(aux, rot_wrt_axis=2)
        if all(s.exclude for s in reg):
            ny, nx = SHAPE
            full = pyregion.parse("image;box({:.1f},{:.1f},{:d},{:d},0)".format(
                (nx + 1) / 2.0, (ny + 1) / 2.0, nx + 1, ny + 1))
            reg = pyregion.ShapeList(full + reg)
        masks.append(np.asarray(reg.get_mask(shape=SHAPE), dtype=bool))
    np.savez_compressed(os.path.join(HERE, "regions_golden.npz"),
                        cases=np.array(json.dumps(CASES)), shape=np.array(SHAPE),
                        masks=np.packbits(np.array(masks), axis=-1))
    print("wrote", len(CASES), "cases;", [int(m.sum()) for m in masks])


if __name__ == "__main__":
    main()
