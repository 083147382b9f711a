"""Product headers side by side: drizzlepac 3.11 and gpudrizzle on the same synthetic exposures.

    python benchmarks/compare_headers.py [--n 3] [--size 256] [--workdir DIR]
        [--anchor-python /tmp/dpvenv/bin/python] [--backend numpy]

Writes ``--n`` dithered ACS/WFC-like exposures (2 chips of ``size/2 x size``
pixels) carrying photometric keywords in the primary header, PHOTFLAM
different in each, copies them into one directory per tool and runs
``AstroDrizzle(files, output="final", build=True)`` in a child process per
tool (:mod:`compare_astrodrizzle` does the same for pixels and times).  For
the PRIMARY and SCI headers it prints the keywords only one product has and
the values of the photometric and WCS keywords where both have them; for
HDRTAB, the column counts and the columns only one table has.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_astrodrizzle import (complete_for_drizzlepac, drizzlepac_sci_keywords,  # noqa: E402
                                  generator, has_drizzlepac)

PHOT_KEYS = ("PHOTMODE", "PHOTFLAM", "PHOTFNU", "PHOTZPT", "PHOTPLAM", "PHOTBW")
WCS_KEYS = ("CD1_1", "CD1_2", "CD2_1", "CD2_2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CTYPE1",
            "CTYPE2", "ORIENTAT", "NAXIS1", "NAXIS2", "PC1_1", "CDELT1")
COMPARED = PHOT_KEYS + WCS_KEYS + ("MDRIZSKY", "EXPTIME", "TEXPTIME", "NDRIZIM", "BUNIT")

_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
module, files, extra = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if module == "drizzlepac":
    from drizzlepac import astrodrizzle
else:
    from gpudrizzle import astrodrizzle
astrodrizzle.AstroDrizzle(input=files, output="final", build=True, runfile="astrodrizzle.log",
                          **extra)
"""


def write_exposures(directory, n, size):
    """``n`` dithered exposures with photometric keywords (PHOTFLAM differs); their paths."""
    nx, ny = int(size), int(size) // 2
    paths = []
    for i in range(n):
        phot = generator.photometry_keywords("ACS", "WFC", PHOTFLAM=7.8e-20 * (1 + 0.01 * i))
        t = generator.write_flt(directory, f"j9hd0{i + 1}aaq", dither=(5.5 * i, 3.25 * i),
                                chip_shape=(ny, nx), gap=20, seed=i + 1, expstart=55000.0 + i,
                                sci_extra=drizzlepac_sci_keywords(ny, nx), **phot)
        complete_for_drizzlepac(t.path)
        paths.append(t.path)
    return paths


def run(python, module, files, cwd, extra):
    """Run one AstroDrizzle in a child process in ``cwd``; RuntimeError with its output on failure."""
    proc = subprocess.run([python, "-c", _CHILD, module, json.dumps(files), json.dumps(extra)],
                          cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed (exit {proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-4000:]}")
    return cwd / "final_drz.fits"


def _keys(header):
    return [k for k in header.keys() if k not in ("HISTORY", "COMMENT", "")]


def compare_header(name, a, b):
    """Lines describing the differences of header ``a`` (drizzlepac) and ``b`` (gpudrizzle)."""
    ka, kb = _keys(a), _keys(b)
    only_a = [k for k in ka if k not in b]
    only_b = [k for k in kb if k not in a]
    lines = [f"== {name}: drizzlepac {len(ka)} keywords, gpudrizzle {len(kb)}",
             f"  only drizzlepac ({len(only_a)}): {' '.join(only_a)}",
             f"  only gpudrizzle ({len(only_b)}): {' '.join(only_b)}"]
    for key in COMPARED:
        if key in a or key in b:
            va, vb = a.get(key, "-"), b.get(key, "-")
            mark = "" if str(va) == str(vb) else "   <- differs"
            lines.append(f"  {key:9s} drizzlepac {va!s:32s} gpudrizzle {vb!s}{mark}")
    return lines


def compare_tables(a, b):
    """Lines comparing two HDRTABs (columns and rows)."""
    ca, cb = list(a.columns.names), list(b.columns.names)
    return [f"== HDRTAB: drizzlepac {len(ca)} columns x {len(a.data)} rows, "
            f"gpudrizzle {len(cb)} columns x {len(b.data)} rows",
            f"  only drizzlepac: {' '.join(c for c in ca if c not in cb)}",
            f"  only gpudrizzle: {' '.join(c for c in cb if c not in ca)}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workdir")
    ap.add_argument("--anchor-python", default="/tmp/dpvenv/bin/python")
    ap.add_argument("--backend", default="numpy")
    args = ap.parse_args(argv)
    if not has_drizzlepac(args.anchor_python):
        print(f"drizzlepac not importable with {args.anchor_python}: nothing to compare")
        return 1
    work = Path(args.workdir or tempfile.mkdtemp(prefix="compare_headers_"))
    src, dp, gd = work / "inputs", work / "drizzlepac", work / "gpudrizzle"
    for d in (src, dp, gd):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    files = write_exposures(src, args.n, args.size)
    for d in (dp, gd):
        for f in files:
            shutil.copy(f, d)
    names = [Path(f).name for f in files]
    a = run(args.anchor_python, "drizzlepac", names, dp, {})
    b = run(sys.executable, "gpudrizzle", names, gd, {"backend": args.backend})
    with fits.open(a) as ha, fits.open(b) as hb:
        print(f"extensions: drizzlepac {[h.name for h in ha]}, gpudrizzle {[h.name for h in hb]}")
        for line in (compare_header("PRIMARY", ha[0].header, hb[0].header)
                     + compare_header("SCI", ha["SCI"].header, hb["SCI"].header)
                     + compare_tables(ha["HDRTAB"], hb["HDRTAB"])):
            print(line)
    print(f"products: {a} {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
