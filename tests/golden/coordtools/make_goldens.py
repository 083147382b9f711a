"""Make goldens.json: drizzlepac 3.11's coordinate tools on the headers in ../shared/data.

Run from the repository root with the drizzlepac environment:

    /tmp/dpvenv/bin/python tests/golden/coordtools/make_goldens.py

Each case records the call, drizzlepac's printed text, the files it wrote and
its return values.  The calls run in a scratch directory holding copies of
the data files (and nircam.fits, made from nrcb5_sip_wcs.hdr), so the file
names in the text are the bare names.
"""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2].parent / "shared" / "data"

FLC = "wfc3_sample_ipppssoot_flc.fits"
FLT = "wfc3_sample_ipppssoot_flt.fits"
HRC = "j8bt06nyq_sip_flt.fits"

CASES = [
    ("xy2rd", [f"{FLC}[sci,1]", 5.0, 6.0], {}),
    ("xy2rd", [f"{FLC}[sci,2]", [1.0, 2048.5, 4096.0], [1.0, 1000.25, 2051.0]],
     {"hms": False, "precision": 8, "output": "rd_flc2.dat"}),
    ("xy2rd", [f"{HRC}[sci,1]", [1.0, 512.0, 1024.0, 17.3], [1.0, 512.0, 1024.0, 999.9]],
     {"output": "rd_hrc.dat", "verbose": False}),
    ("xy2rd", [f"{FLT}[sci,1]", [10.0, 500.0], [20.0, 900.0]], {"precision": 3}),
    ("xy2rd", ["nircam.fits[1]", [1.0, 1024.5, 2048.0], [1.0, 1024.5, 2048.0]],
     {"hms": False}),
    ("xy2rd", [f"{FLC}[sci,1]"], {"coordfile": "xy.dat", "colnames": "c2,c3",
                                  "output": "rd_file.dat"}),
    ("rd2xy", [f"{FLC}[sci,1]", "9:11:16.141010", "-64:53:23.557241"], {}),
    ("rd2xy", [f"{FLC}[sci,2]", ["9:11:16.141010", "137.81", "9 11 15.3"],
               ["-64:53:23.557241", "-64.9", "-64 53 31.02"]],
     {"output": "xy_flc2.dat", "precision": 4}),
    ("rd2xy", [f"{HRC}[sci,1]", [6.0271, 6.03], [-72.0835, -72.08]], {}),
    ("rd2xy", [f"{FLC}[sci,1]"], {"coordfile": "radec.dat", "output": "xy_file.dat"}),
    ("tran", [f"{FLC}[sci,1]", "", "forward", [5.0, 6.0], [6.0, 7.0]],
     {"output": "tran_f.dat"}),
    ("tran", [f"{FLC}[sci,2]", None, "backward", [5.0, 16.5], [6.0, 1000.0]], {}),
    ("tran", [f"{FLC}[sci,1]", "", "f", 3.0, 4.0], {"precision": 3}),
    ("tran", [f"{FLT}[sci,1]", f"{FLT}[sci,1]", "forward", [5.0, 600.0], [6.0, 700.0]],
     {"verbose": False, "output": "tran_same.dat"}),
]

XY = "# x y z\n1 5.0 6.0\n2 100.5 1900.25\n3 4000 2000\n"
RADEC = ("# ra dec\n9:11:16.141010 -64:53:23.557241\n"
         "137.8139913208333 -64.89195105833333\n")


def _plain(v):
    if isinstance(v, np.ndarray):
        return [_plain(a) for a in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(a) for a in v]
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


def main():
    from drizzlepac import pixtopix, pixtosky, skytopix

    funcs = {"xy2rd": pixtosky.xy2rd, "rd2xy": skytopix.rd2xy, "tran": pixtopix.tran}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in (FLC, FLT, HRC):
            shutil.copy(DATA / name, tmp)
        header = fits.Header.fromtextfile(str(DATA / "nrcb5_sip_wcs.hdr"))
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(header=header)]).writeto(
            os.path.join(tmp, "nircam.fits"))
        Path(tmp, "xy.dat").write_text(XY)
        Path(tmp, "radec.dat").write_text(RADEC)
        os.chdir(tmp)
        for func, args, kwargs in CASES:
            text = io.StringIO()
            with contextlib.redirect_stdout(text), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = funcs[func](*args, **kwargs)
            files = {}
            if kwargs.get("output"):
                files[kwargs["output"]] = Path(kwargs["output"]).read_text()
            out.append({"func": func, "args": args, "kwargs": kwargs, "stdout": text.getvalue(),
                        "files": files, "result": _plain(result)})
    (HERE / "goldens.json").write_text(json.dumps({"xy.dat": XY, "radec.dat": RADEC,
                                                   "cases": out}, indent=1) + "\n")
    print(f"wrote {len(out)} cases to {HERE / 'goldens.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
