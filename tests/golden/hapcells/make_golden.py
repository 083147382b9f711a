"""Make hapcells_golden.json with drizzlepac's own sky-cell lookup (not run by the tests).

Run with a Python that has drizzlepac 3.11 (the tests do not need it):

    /tmp/dpvenv/bin/python tests/golden/hapcells/make_golden.py

For each sample chip -- a square TAN frame of ``side`` arcsec, rotated, centred
at a position chosen all over the sky (poles, ring overlaps, RA = 0/360, sky
cell and projection cell edges, random) -- drizzlepac's
``GridDefs.get_sky_cells`` is asked which sky cells the chip touches.  The
chip is handed over as a minimal footprint object: its frame as ``meta_wcs``
and points every pixel along its edges, which is what drizzlepac's lookup
reads of a footprint (the rasterisation of real exposures is skipped).  Each
cell's WCS at 0.04" (the lookup's SkyCell) and at 0.12" (``SkyCell.from_name``
with ``scale="coarse"``), the projection cells' WCS and drizzlepac's ring
table are written too.
"""

import json
import os

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from drizzlepac.haputils import cell_utils

HERE = os.path.dirname(os.path.abspath(__file__))
PIX = 0.5  # arcsec per pixel of the sample chip frames


def chip_wcs(ra, dec, side, rot):
    n = int(round(side / PIX))
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra % 360.0, dec]
    c, s = np.cos(np.radians(rot)), np.sin(np.radians(rot))
    w.wcs.cd = PIX / 3600.0 * np.array([[-c, s], [s, c]])
    w.wcs.crpix = [(n + 1) / 2.0, (n + 1) / 2.0]
    w.wcs.set()
    w.pixel_shape = (n, n)
    return w


class Footprint:
    """What GridDefs.get_sky_cells reads of a SkyFootprint."""

    def __init__(self, w):
        self.meta_wcs = w
        self.members = ["chip"]
        n = w.pixel_shape[0]
        i = np.arange(n, dtype=float)
        last = np.full(n, n - 1.0)
        zero = np.zeros(n)
        x = np.concatenate([i, last, i[::-1], zero])
        y = np.concatenate([zero, i, last, i[::-1]])
        self.ra, self.dec = w.all_pix2world(x, y, 0)

    def get_edges_sky(self, member="total"):
        return self.ra, self.dec

    def corners(self):
        n = self.meta_wcs.pixel_shape[0]
        return self.meta_wcs.all_pix2world([0, n - 1, n - 1, 0], [0, 0, n - 1, n - 1], 0)


def wcs_dict(w):
    return {"crval": list(map(float, w.wcs.crval)), "crpix": list(map(float, w.wcs.crpix)),
            "cd": np.asarray(w.wcs.cd, dtype=float).tolist(),
            "naxis": [int(v) for v in w.pixel_shape]}


def samples(grid):
    rng = np.random.default_rng(20261201)
    out = [  # (ra, dec, side arcsec, rotation deg, why)
        (10.0, 89.99, 160, 0, "north pole"),
        (200.0, -89.97, 200, 33, "south pole"),
        (123.0, 88.3, 160, 10, "polar cap and ring 44 overlap"),
        (355.0, -86.2, 160, 70, "ring 1 near RA 360"),
        (0.0, 0.0, 160, 0, "RA 0 Dec 0"),
        (359.995, 12.0, 160, 20, "straddles RA 0"),
        (0.004, -33.0, 200, 45, "straddles RA 0, south"),
        (359.5, 2.0, 160, 5, "ring 23 last cell"),
        (45.0, 4.0, 160, 0, "ring overlap 23/24"),
        (45.0, -4.0, 160, 15, "ring overlap 21/22"),
        (181.0, 59.9, 160, 30, "ring overlap 37/38"),
        (300.0, -61.6, 160, 0, "ring overlap 7/8"),
        (2.0, 2.0, 100, 0, "between projection cells 1322/1323"),
        (150.1, 2.2, 202, 0, "COSMOS-like"),
        (10.68, 41.27, 160, 12, "M31-like"),
    ]
    # sky cell frame edges inside a projection cell: chips centred on a shared border
    step = int(cell_utils.ProjectionCell(index=0, band=grid.rings[22], scale=0.04).wcs.pixel_shape[0]
               / 21 + 0.5)
    for p, (fx, fy) in [(1400, (5, 10)), (2100, (12, 3)), (700, (20, 20)), (50, (1, 7))]:
        pc = cell_utils.ProjectionCell(index=p)
        # on the frame border of sky cells x = fx + 1 and fx + 2 (0.04" pixels of the plane)
        px, py = fx * step + 200, fy * step + 11000
        ra, dec = pc.wcs.wcs_pix2world(px, py, 0)
        out.append((float(ra), float(dec), 60, 0, f"sky cell edge in p{p}"))
        # on a sky cell corner
        ra, dec = pc.wcs.wcs_pix2world(fx * step + 256, fy * step + 256, 0)
        out.append((float(ra), float(dec), 100, 25, f"sky cell corner in p{p}"))
    while len(out) < 36:
        ra = rng.uniform(0, 360)
        dec = np.degrees(np.arcsin(rng.uniform(-1, 1)))
        out.append((float(ra), float(dec), float(rng.uniform(60, 250)),
                    float(rng.uniform(0, 360)), "random"))
    return out


def main():
    grid = cell_utils.GridDefs()
    result = {"samples": []}
    for ra, dec, side, rot, why in samples(grid):
        fp = Footprint(chip_wcs(ra, dec, side, rot))
        cells = grid.get_sky_cells(fp)
        entry = {"why": why, "outline": np.column_stack(fp.corners()).tolist(), "cells": {}}
        for name in sorted(cells):
            coarse = cell_utils.SkyCell.from_name(name, scale="coarse")
            entry["cells"][name] = {"fine": wcs_dict(cells[name].wcs),
                                    "coarse": wcs_dict(coarse.wcs)}
        entry["pcells"] = {str(pc.cell_id): wcs_dict(pc.wcs) for pc in grid.projection_cells}
        result["samples"].append(entry)
        print(f"{why:40s} {ra:10.5f} {dec:9.5f} -> {sorted(cells)}")
    t = fits.getdata(os.path.join(cell_utils.PCELL_PATH, cell_utils.PCELL_FILENAME), 1)
    result["rings"] = {"dec": t["DEC"].tolist(), "dec_min": t["DEC_MIN"].tolist(),
                       "dec_max": t["DEC_MAX"].tolist(), "nband": t["NBAND"].tolist(),
                       "first": t["PROJCELL"].tolist(), "naxis": t["XCELL"].tolist()}
    with open(os.path.join(HERE, "hapcells_golden.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
