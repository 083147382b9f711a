"""Make the photeq goldens with drizzlepac 3.11's photeq.

Run with the drizzlepac environment from the repository root::

    /tmp/dpvenv/bin/python tests/golden/photeq/make_golden.py

For every case in :data:`CASES` the synthetic inputs of :func:`write_inputs`
are written to a fresh directory, drizzlepac's ``photeq`` runs on them, and
``<case>.log`` (the log file, its first two lines, the start time and the
version, left out) and ``<case>.json`` (per file and extension: the header
keywords photeq may change and the factor the data and error arrays were
multiplied by) are written here.  :func:`write_inputs` imports no drizzlepac,
so the tests make the same inputs with it.
"""

import hashlib
import json
import os
import sys
import tempfile

import numpy as np
from astropy.io import fits

HERE = os.path.dirname(os.path.abspath(__file__))

#: header cards of the synthetic files: file -> list of (extname, extver, cards, dtype)
#: (extname None: the primary HDU, no data)
FILES = {
    "a_flt.fits": [
        (None, 0, {"INSTRUME": "WFC3"}, None),
        ("SCI", 1, {"PHOTFLAM": 1.5e-19, "PHOTFNU": 2.5e-7}, "f4"),
        ("ERR", 1, {}, "f4"),
        ("DQ", 1, {}, "i2"),
        ("SCI", 2, {"PHOTFLAM": 1.8e-19, "PHOTFNU": 3.1e-7}, "f4"),
        ("ERR", 2, {}, "f4"),
        ("DQ", 2, {}, "i2"),
    ],
    "b_flt.fits": [
        (None, 0, {"INSTRUME": "WFC3"}, None),
        ("SCI", 1, {"PHOTFLAM": 1.2e-19, "PHOTFNU": 2.0e-7, "PHOTPLAM": 5000.0}, "f4"),
        ("ERR", 1, {}, "f4"),
        ("SCI", 2, {"PHOTFLAM": 1.65e-19}, "f8"),
        ("ERR", 2, {}, "f4"),
    ],
    "c_flt.fits": [  # photometry in the primary header only (WFPC2-like)
        (None, 0, {"INSTRUME": "WFPC2", "PHOTFLAM": 3.0e-19, "PHOTFNU": 4.0e-7}, None),
        ("SCI", 1, {}, "f4"),
        ("ERR", 1, {}, "f4"),
        ("SCI", 2, {"PHOTFLAM": 2.0e-19}, "f4"),
        ("SCI", 3, {}, "i2"),
    ],
    "d_flt.fits": [  # no photometry at all
        (None, 0, {"INSTRUME": "ACS"}, None),
        ("SCI", 1, {}, "f4"),
        ("ERR", 1, {}, "f4"),
    ],
    "e_flt.fits": [  # data in the primary HDU
        (None, 0, {"PHOTFLAM": 2.2e-19, "PHOTFNU": 3.3e-7}, "f4"),
        ("ERR", 1, {}, "f4"),
    ],
}

#: case -> keyword arguments of photeq (files relative to the case's directory)
CASES = {
    "default": dict(files="a_flt.fits,b_flt.fits", readonly=False),
    "readonly": dict(files="b_flt.fits,a_flt.fits"),
    "primary": dict(files="c_flt.fits,a_flt.fits", readonly=False),
    "missing": dict(files="d_flt.fits,b_flt.fits,c_flt.fits", readonly=False),
    "user": dict(files="a_flt.fits,c_flt.fits", ref_phot=1.0e-19, readonly=False),
    "refext": dict(files="a_flt.fits,b_flt.fits", ref_phot_ext=("SCI", 2), readonly=False),
    "refextnum": dict(files="b_flt.fits,a_flt.fits", ref_phot_ext=4, readonly=False),
    "photfnu": dict(files="a_flt.fits,b_flt.fits", phot_kwd="PHOTFNU",
                    aux_phot_kwd=["PHOTFLAM", "PHOTPLAM"], readonly=False),
    "noaux": dict(files="a_flt.fits,b_flt.fits", aux_phot_kwd=None, errext=None,
                  search_primary=False, readonly=False),
    "sciprimary": dict(files="e_flt.fits,c_flt.fits", sciext="PRIMARY", ref_phot=1.1e-19,
                       readonly=False),
}

#: keywords recorded in the goldens
KEYWORDS = ("PHOTFLAM", "PHOTFNU", "PHOTPLAM")


def write_inputs(directory, rng=None, shape=(6, 5)):
    """Write the synthetic files of :data:`FILES` into ``directory``.

    The data are ``rng``'s uniform values in [1, 2) (``rng`` None: a fixed
    seed), DQ arrays random flags; returns {file: {(extname, extver): data}}.
    """
    rng = np.random.default_rng(12345) if rng is None else rng
    arrays = {}
    for name, hdus in FILES.items():
        out = []
        arrays[name] = {}
        for extname, extver, cards, dtype in hdus:
            data = None
            if dtype is not None:
                if np.dtype(dtype).kind == "f":
                    data = (1.0 + rng.random(shape)).astype(dtype)
                else:
                    data = rng.integers(0, 4096, shape).astype(dtype)
                arrays[name][(extname or "PRIMARY", extver)] = data.copy()
            if extname is None:
                hdu = fits.PrimaryHDU(data)
            else:
                hdu = fits.ImageHDU(data)
                hdu.header["EXTNAME"] = extname
                hdu.header["EXTVER"] = extver
            for key, value in cards.items():
                hdu.header[key] = value
            out.append(hdu)
        fits.HDUList(out).writeto(os.path.join(directory, name))
    return arrays


def summary(directory, arrays):
    """{file: {"extname,extver": record}} of the files now.

    A record holds the photometric ``keywords`` and their card images
    (``cards``) and, for an HDU with data, the ``factor`` it was multiplied
    by (from the data, to float32 precision), whether it ``changed`` and the
    SHA-256 of its big-endian bytes.
    """
    result = {}
    for name in FILES:
        entry = {}
        with fits.open(os.path.join(directory, name)) as hdul:
            for index, hdu in enumerate(hdul):
                extname = hdu.header.get("EXTNAME", "PRIMARY") if index else "PRIMARY"
                extver = hdu.header.get("EXTVER", 1) if index else 0
                key = (extname, extver)
                record = {"keywords": {k: hdu.header[k] for k in KEYWORDS if k in hdu.header},
                          "cards": [hdu.header.cards[k].image for k in KEYWORDS
                                    if k in hdu.header]}
                before = arrays[name].get(key)
                if before is not None:
                    ratio = hdu.data.astype("f8") / before.astype("f8")
                    # the factor, found back from the data to float32 precision
                    record["factor"] = float(np.median(ratio))
                    record["changed"] = bool(np.any(hdu.data != before))
                    record["sha256"] = hashlib.sha256(
                        np.ascontiguousarray(hdu.data, dtype=hdu.data.dtype.newbyteorder(">"))
                        .tobytes()).hexdigest()
                entry[f"{extname},{extver}"] = record
        result[name] = entry
    return result


def main():
    from drizzlepac import photeq

    for case, kwargs in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                arrays = write_inputs(tmp)
                photeq.photeq(logfile="photeq.log", **kwargs)
                with open("photeq.log") as f:
                    lines = f.read().splitlines(keepends=True)
                result = summary(tmp, arrays)
            finally:
                os.chdir(cwd)
        with open(os.path.join(HERE, f"{case}.log"), "w") as f:
            f.writelines(lines[2:])
        with open(os.path.join(HERE, f"{case}.json"), "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
            f.write("\n")
        print(case, "done", file=sys.stderr)


if __name__ == "__main__":
    main()
