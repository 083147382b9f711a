"""AstroDrizzle end to end: drizzlepac 3.11 against gpudrizzle on the same exposures, one run.

    python benchmarks/compare_astrodrizzle.py [--size 4096] [--workdir DIR]
        [--anchor-python /tmp/dpvenv/bin/python] [--num-cores 2] [--backend auto]
        [--repeat 1] [--json FILE]

Writes 4 dithered ACS/WFC-like exposures (2 chips of ``size/2 x size``
pixels each; 4096 gives the real 4096x2048 chips) with the synthetic HST
generator (:mod:`gpudrizzle.synthetic`, else ``tests/hstdata.py``), copies
them into one directory per tool (drizzlepac updates its inputs in place),
and runs ``AstroDrizzle(files, output="final", build=True, num_cores=N)``
with otherwise default parameters in a child process per tool: drizzlepac
with ``--anchor-python`` (skipped with a message when that interpreter or
drizzlepac is missing), gpudrizzle with this interpreter.  Wall time is
measured around each child and peak RSS comes from ``os.wait4`` (the
child's own ``getrusage``).  ``--repeat N`` runs the tools N times in turn
(gpudrizzle then drizzlepac, then the other way round, ...), each time on
fresh copies of the inputs in a new directory, and reports the best run of
each and every run's wall time.
Before every run the file system is synced, so that no run pays for writing
back the files of the run before it (drizzlepac writes its intermediates
through the page cache).  A first run can find memory that the machine has
not used for a while, which on a virtual machine may cost seconds to touch
again.  ``--backend`` takes a comma list (e.g. ``cuda,cpu``): gpudrizzle
runs once per backend, the first one is compared
with drizzlepac, and the per-step times of every run are printed.  The
FITS input/output floor is measured apart, in this process: reading every
input's SCI, ERR and DQ pixels with astropy and writing gpudrizzle's
product again.

Products compared (pixels where both final SCI values are finite):

* SCI: |gpudrizzle - drizzlepac| / sigma, median and 99th percentile, over
  pixels with full weight (drizzlepac WHT >= 90% of its 99th percentile);
  sigma is gpudrizzle's propagated ERR;
* WHT: ratio gpudrizzle / drizzlepac (median, 1st and 99th percentile)
  where drizzlepac's WHT > 0;
* CTX: fraction of identical pixels;
* CR masks: per chip, fraction of identical pixels and CR pixel counts.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parent.parent
FULL_CHIP = (2048, 4096)
N_EXPOSURES = 4

try:
    from gpudrizzle import synthetic as generator
except ImportError:  # the generator still lives with the tests
    sys.path.insert(0, str(ROOT / "tests"))
    import hstdata as generator

# Runs one AstroDrizzle in a child process; argv: module, json list of files, num_cores, backend.
_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
module, files, cores, backend = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if module == "drizzlepac":
    from drizzlepac import astrodrizzle
    extra = {}
else:
    from gpudrizzle import astrodrizzle
    extra = {"backend": backend}
t = time.perf_counter()
result = astrodrizzle.AstroDrizzle(input=files, output="final", build=True, num_cores=cores, **extra)
print("ELAPSED", time.perf_counter() - t)
if module != "drizzlepac":
    print("TIMINGS", json.dumps(result.timings))
"""


def drizzlepac_sci_keywords(ny, nx):
    """SCI keywords drizzlepac requires that the generator does not write (calacs writes them)."""
    return {"NGOODPIX": ny * nx}


def complete_for_drizzlepac(path):
    """Give the ERR and DQ extensions the keywords calacs writes there (drizzlepac copies them).

    The generator writes ERR/DQ headers with only EXTNAME/EXTVER/BUNIT;
    drizzlepac's output writer needs at least one ordinary keyword in them, and
    calacs puts INHERIT, ROOTNAME, EXPNAME, CCDCHIP and the chip's WCS there.
    """
    copied = ("ROOTNAME", "EXPNAME", "CCDCHIP", "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1",
              "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "LTV1", "LTV2")
    with fits.open(path, mode="update") as hdul:
        for hdu in hdul[1:]:
            if hdu.name not in ("ERR", "DQ"):
                continue
            sci = hdul["SCI", hdu.ver].header
            hdu.header["INHERIT"] = True
            for key in copied:
                if key in sci:
                    hdu.header[key] = sci[key]


def scaled_sip(nx):
    """The generator's SIP coefficients scaled so the distortion grows with the chip as on 128 px."""
    factor = 128.0 / nx
    return {k: v * factor ** (int(k[2]) + int(k[4]) - 1) for k, v in generator.DEFAULT_SIP.items()}


def write_exposures(directory, size, seed=3):
    """Four dithered 2-chip exposures with stars and cosmic rays; returns their paths."""
    nx = int(size)
    ny = nx // 2
    scale = generator.PIXEL_SCALE[("ACS", "WFC")]
    rng = np.random.default_rng(seed)
    pointing = (150.1, 2.2)
    radius = 0.45 * nx * scale
    n_stars = max(20, int(300 * (nx / FULL_CHIP[1]) ** 2))
    stars = generator.random_stars(pointing, n_stars, rng, radius_arcsec=radius, rates=(20.0, 2000.0))
    n_cr = max(3, int(3000 * nx * ny / (FULL_CHIP[0] * FULL_CHIP[1])))
    truth = generator.write_dither_set(directory, n=N_EXPOSURES, step=(5.5, 3.25), stars=stars,
                                       seed=seed, pointing=pointing, chip_shape=(ny, nx), gap=50,
                                       exptime=500.0, sky_rate=0.6, cosmic_rays=n_cr,
                                       bad_columns=(nx // 3,), sip=scaled_sip(nx),
                                       sci_extra=drizzlepac_sci_keywords(ny, nx))
    for t in truth:
        complete_for_drizzlepac(t.path)
    return [t.path for t in truth]


def run_child(python, module, files, cwd, cores, backend):
    """(wall s, in-task s, peak RSS MiB, output) of one AstroDrizzle run in a child process."""
    args = [python, "-c", _CHILD, module, json.dumps(files), str(cores), backend]
    env = dict(os.environ, OMP_NUM_THREADS=str(cores))
    t = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed (exit {proc.returncode}):\n{out[-4000:]}")
    inner = [float(line.split()[1]) for line in out.splitlines() if line.startswith("ELAPSED")]
    return wall, inner[-1] if inner else float("nan"), usage.ru_maxrss / 1024.0, out


def step_times(out):
    """The per-step times a gpudrizzle child printed ({} for drizzlepac)."""
    lines = [line for line in out.splitlines() if line.startswith("TIMINGS ")]
    return json.loads(lines[-1][len("TIMINGS "):]) if lines else {}


def fits_io_times(files, product):
    """(seconds to read every input's SCI/ERR/DQ pixels, seconds to write ``product`` again)."""
    t = time.perf_counter()
    for f in files:
        with fits.open(f, memmap=False) as hdul:
            for h in hdul:
                if h.name in ("SCI", "ERR", "DQ") and h.data is not None:
                    np.ascontiguousarray(h.data, dtype=h.data.dtype.newbyteorder("="))
    read = time.perf_counter() - t
    with fits.open(product, memmap=False) as hdul:
        hdul.readall()
        t = time.perf_counter()
        hdul.writeto(str(product) + ".rewrite.fits", overwrite=True)
        write = time.perf_counter() - t
    os.remove(str(product) + ".rewrite.fits")
    return read, write


def has_drizzlepac(python):
    if not python or not os.path.exists(python):
        return False
    probe = subprocess.run([python, "-c", "import drizzlepac"], capture_output=True)
    return probe.returncode == 0


def _ext(hdul, name):
    try:
        return hdul[name].data
    except KeyError:
        return None


def compare_products(dp_dir, gd_dir, files):
    """Comparison rows (name, value) of the two final products and CR masks."""
    rows = []
    with fits.open(dp_dir / "final_drz.fits") as a, fits.open(gd_dir / "final_drz.fits") as b:
        sci_a, sci_b = a["SCI"].data.astype(np.float64), b["SCI"].data.astype(np.float64)
        wht_a, wht_b = a["WHT"].data.astype(np.float64), b["WHT"].data.astype(np.float64)
        ctx_a, ctx_b = _ext(a, "CTX"), _ext(b, "CTX")
        err_b = _ext(b, "ERR")
        rows.append(("output shape (drizzlepac / gpudrizzle)", f"{sci_a.shape} / {sci_b.shape}"))
        if sci_a.shape != sci_b.shape:
            rows.append(("pixel comparison", "skipped: output frames differ"))
            return rows
        both = np.isfinite(sci_a) & np.isfinite(sci_b)
        full = both & (wht_a >= 0.9 * np.percentile(wht_a[wht_a > 0], 99))
        sigma = err_b.astype(np.float64) if err_b is not None else None
        if sigma is not None:
            ok = full & (sigma > 0)
            z = np.abs(sci_b - sci_a)[ok] / sigma[ok]
            rows.append(("full-weight pixels", f"{int(ok.sum())}"))
            rows.append(("|dSCI|/sigma median", f"{np.median(z):.4f}"))
            rows.append(("|dSCI|/sigma 99th pct", f"{np.percentile(z, 99):.4f}"))
            rows.append(("|dSCI|/sigma max", f"{z.max():.3g}"))
        pos = wht_a > 0
        ratio = wht_b[pos] / wht_a[pos]
        rows.append(("WHT ratio median [1%, 99%]",
                     f"{np.median(ratio):.4f} [{np.percentile(ratio, 1):.4f}, "
                     f"{np.percentile(ratio, 99):.4f}]"))
        rows.append(("WHT>0 in one product only", f"{int(np.count_nonzero((wht_a > 0) != (wht_b > 0)))}"))
        if ctx_a is not None and ctx_b is not None:
            ca, cb = np.squeeze(ctx_a), np.squeeze(ctx_b)
            if ca.shape == cb.shape:
                rows.append(("CTX identical fraction", f"{np.mean(ca == cb):.6f}"))
            else:
                rows.append(("CTX identical fraction", f"shapes differ {ca.shape} / {cb.shape}"))
    same, count_a, count_b, pixels = 0, 0, 0, 0
    for f in files:
        root = Path(f).name[: -len("_flt.fits")]
        for chip in (1, 2):
            name = f"{root}_sci{chip}_crmask.fits"
            pa, pb = dp_dir / name, gd_dir / name
            if not (pa.exists() and pb.exists()):
                rows.append(("CR masks", f"missing {name}"))
                return rows
            ma, mb = fits.getdata(pa) == 0, fits.getdata(pb) == 0
            same += int(np.count_nonzero(ma == mb))
            pixels += ma.size
            count_a += int(ma.sum())
            count_b += int(mb.sum())
    rows.append(("CR masks identical fraction", f"{same / pixels:.6f}"))
    rows.append(("CR pixels (drizzlepac / gpudrizzle)", f"{count_a} / {count_b}"))
    return rows


def print_table(title, rows):
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print("-" * (width + 40))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=FULL_CHIP[1],
                    help="chip width in pixels (height is half); 4096 = ACS/WFC")
    ap.add_argument("--workdir", default=None, help="where to write (default: a new temp dir)")
    ap.add_argument("--anchor-python", default="/tmp/dpvenv/bin/python",
                    help="interpreter with drizzlepac 3.11 installed")
    ap.add_argument("--num-cores", type=int, default=2)
    ap.add_argument("--backend", default="auto",
                    help="gpudrizzle backend, or a comma list of backends to run in turn")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tool, in turn, each on fresh copies (the best is compared)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    import tempfile

    work = Path(args.workdir or tempfile.mkdtemp(prefix="compare_astrodrizzle."))
    backends = [b for b in args.backend.split(",") if b]
    data, dp_dir = work / "data", work / "drizzlepac"
    gd_dirs = {b: work / f"gpudrizzle-{b}" for b in backends}
    gd_dir = gd_dirs[backends[0]]
    for d in (data, dp_dir, *gd_dirs.values()):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    t = time.perf_counter()
    files = write_exposures(str(data), args.size)
    print(f"wrote {len(files)} exposures of 2 x {args.size // 2}x{args.size} in "
          f"{time.perf_counter() - t:.1f} s ({work})")
    names = [Path(f).name for f in files]

    def run(python, module, directory, backend):
        """One run on fresh copies of the inputs in ``directory`` (made anew)."""
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir()
        for f in files:
            shutil.copy(f, directory)
        os.sync()  # no run pays for the write-back of files written before it started
        return run_child(python, module, names, directory, args.num_cores, backend)

    rows = []
    with_dp = has_drizzlepac(args.anchor_python)
    if not with_dp:
        print(f"drizzlepac not found at {args.anchor_python}: comparison skipped")
    all_runs = {b: [] for b in backends}
    dp_runs = []
    for k in range(args.repeat):  # the last run of each tool leaves the products compared
        if with_dp and k % 2:  # every other round drizzlepac first
            dp_runs.append(run(args.anchor_python, "drizzlepac", dp_dir, ""))
        for b in backends:
            all_runs[b].append(run(sys.executable, "gpudrizzle", gd_dirs[b], b))
        if with_dp and not k % 2:
            dp_runs.append(run(args.anchor_python, "drizzlepac", dp_dir, ""))
    runs = {b: min(r, key=lambda x: x[0]) for b, r in all_runs.items()}  # best wall
    gd = runs[backends[0]]
    dp = min(dp_runs, key=lambda x: x[0]) if dp_runs else None
    best = "" if args.repeat == 1 else f", best of {args.repeat}"
    rows.append((f"gpudrizzle wall / in-task (s{best})", f"{gd[0]:.2f} / {gd[1]:.2f}"))
    rows.append(("gpudrizzle peak RSS (MiB)", f"{gd[2]:.0f}"))
    if dp is not None:
        rows.append((f"drizzlepac wall / in-task (s{best})", f"{dp[0]:.2f} / {dp[1]:.2f}"))
        rows.append(("drizzlepac peak RSS (MiB)", f"{dp[2]:.0f}"))
        rows.append((f"speed-up (wall{best})", f"{dp[0] / gd[0]:.2f}x"))
        if args.repeat > 1:
            rows.append(("every run, wall (s): gpudrizzle | drizzlepac",
                         " ".join(f"{r[0]:.2f}" for r in all_runs[backends[0]]) + " | "
                         + " ".join(f"{r[0]:.2f}" for r in dp_runs)))
        rows.append(("peak RSS ratio gpudrizzle/drizzlepac", f"{gd[2] / dp[2]:.2f}"))
        rows += compare_products(dp_dir, gd_dir, names)
    for b in backends[1:]:
        rows.append((f"gpudrizzle {b} wall / in-task (s)", f"{runs[b][0]:.2f} / {runs[b][1]:.2f}"))
        rows.append((f"speed-up {backends[0]} vs {b} (wall)", f"{runs[b][0] / gd[0]:.2f}x"))
    steps = {b: step_times(runs[b][3]) for b in backends}
    for name in steps[backends[0]]:
        rows.append((f"step {name} (s, {' / '.join(backends)})",
                     " / ".join(f"{steps[b].get(name, float('nan')):.3f}" for b in backends)))
    read, write = fits_io_times([str(data / n) for n in names], gd_dir / "final_drz.fits")
    rows.append(("FITS read of the inputs' SCI/ERR/DQ (s)", f"{read:.2f}"))
    rows.append(("FITS write of the product (s)", f"{write:.2f}"))
    print_table(f"AstroDrizzle, {N_EXPOSURES} exposures x 2 chips of {args.size // 2}x{args.size}, "
                f"build=True, num_cores={args.num_cores}", rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "steps": steps,
                       "wall": {b: [r[0] for r in all_runs[b]] for b in backends},
                       "drizzlepac_wall": [r[0] for r in dp_runs]}, f, indent=1)
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
