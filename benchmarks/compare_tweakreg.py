"""TweakReg: drizzlepac 3.11 against gpudrizzle on the same misaligned exposures, one run.

    python benchmarks/compare_tweakreg.py [--size 4096] [--workdir DIR] [--seed 3]
        [--drizzlepac-python /tmp/dpvenv/bin/python] [--num-cores 2] [--json FILE] [--keep]

Writes 4 dithered ACS/WFC-like exposures (2 chips of ``size/2 x size``
pixels; 4096 gives the real chips) with pointing errors injected into their
header WCS (:func:`gpudrizzle.synthetic.write_misaligned_set`: the first
exposure is error-free and is the reference, the others are off by up to
0.8 arcsec, 0.02 degrees and 1e-5 in scale; stars at ~1000 per chip and
cosmic rays at the HST rate for 500 s, ~11000 events per chip, not flagged
in DQ).  Each tool then runs ``TweakReg(files, updatehdr=True,
interactive=False, ...)`` on its own copy of the files, in a child process,
twice: with the default ``imagefindpars`` and with parameters tuned for the
data (:data:`TUNED_FIND`); the matching and fit parameters
(:data:`COMMON`) are the same for every run.  drizzlepac runs with
``--drizzlepac-python`` (skipped with a message when that interpreter or
drizzlepac is missing), gpudrizzle with this interpreter through
:func:`run_gpudrizzle` (skipped with a message while
``gpudrizzle.tweakreg`` cannot be imported).

Measured per run: the wall time of the child around ``TweakReg`` (the
child's own clock, so interpreter start-up and imports are not counted,
and the child's total wall time), and the rms (pixels) of the updated
header WCS against the true WCS over a grid of pixels of every chip of the
aligned exposures (:func:`gpudrizzle.synthetic.truth_rms`); before
alignment that rms is printed too.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpudrizzle import synthetic  # noqa: E402

FULL_CHIP = (2048, 4096)
N_EXPOSURES = 4

#: Matching, fitting and output parameters shared by every run (drizzlepac's defaults
#: except the non-interactive, no-plot, header-updating ones).
COMMON = dict(updatehdr=True, interactive=False, wcsname="TWEAK", reusename=True,
              searchrad=1.0, searchunits="arcseconds", use2dhist=True, see2dplot=False,
              separation=0.5, tolerance=1.0, minobj=15, fitgeometry="rscale", nclip=3,
              sigma=3.0, residplot="No plot", writecat=True, clean=True, shiftfile=False,
              verbose=False)

#: drizzlepac's default imagefindpars (as in drizzlepac/pars/imagefindpars.cfg).
DEFAULT_FIND = None

#: imagefindpars tuned for these data (FWHM ~2 px stars, sharp unflagged cosmic rays) on
#: drizzlepac 3.11: the best rms of the variants tried with --tuned-find (threshold 5, 6,
#: 10, 20; conv_width 2.0, 2.5; sharp/round cuts 0.3-0.8/+-0.5 and 0.2-0.9/+-0.7).  The
#: stricter cuts (sharphi=0.8, round +-0.5) leave so few spurious sources that drizzlepac's
#: 2-D histogram peak fit misses one exposure's shift by 1.2 px (> tolerance).
TUNED_FIND = dict(conv_width=2.0, threshold=20.0, use_sharp_round=True, sharplo=0.2,
                  sharphi=0.9, roundlo=-0.7, roundhi=0.7)
#: Matching/fit parameters of the tuned runs that differ from :data:`COMMON`.
TUNED_MATCH = dict()

# One TweakReg run in a child process; argv: module, json files, json parameters.
_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
module, files, params = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sys.path.insert(0, sys.argv[4])
if module == "drizzlepac":
    from drizzlepac import tweakreg
    t = time.perf_counter()
    tweakreg.TweakReg(files, imagefindcfg=params["imagefindcfg"],
                      refimagefindcfg=params["refimagefindcfg"], **params["input_dict"])
    print("ELAPSED", time.perf_counter() - t)
else:
    from benchmarks.compare_tweakreg import run_gpudrizzle
    print("ELAPSED", run_gpudrizzle(files, params))
"""


def run_gpudrizzle(files, params):
    """HOOK: one gpudrizzle TweakReg run (in the child process); returns its wall time (s).

    ``params`` is ``{"input_dict": ..., "imagefindcfg": ..., "refimagefindcfg": ...}``,
    exactly what the drizzlepac run gets: gpudrizzle.tweakreg.TweakReg takes
    drizzlepac's signature ``TweakReg(files, editpars=False, configobj=None,
    imagefindcfg=None, refimagefindcfg=None, **input_dict)``.
    """
    from gpudrizzle.tweakreg import TweakReg

    t = time.perf_counter()
    TweakReg(files, imagefindcfg=params["imagefindcfg"], refimagefindcfg=params["refimagefindcfg"],
             **params["input_dict"])
    return time.perf_counter() - t


def has_gpudrizzle_tweakreg():
    try:
        from gpudrizzle.tweakreg import TweakReg  # noqa: F401
    except ImportError as exc:
        return f"gpudrizzle.tweakreg not importable ({exc})"
    return ""


def has_drizzlepac(python):
    if not python or not os.path.exists(python):
        return f"no interpreter at {python}"
    probe = subprocess.run([python, "-c", "import drizzlepac.tweakreg"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        return f"drizzlepac not importable with {python}: {probe.stderr.strip()[-300:]}"
    return ""


def write_exposures(directory, size, seed):
    """The misaligned exposures (list of MisalignedExposure)."""
    nx = int(size)
    return synthetic.write_misaligned_set(directory, N_EXPOSURES, chip_shape=(nx // 2, nx),
                                          seed=seed)


def run_child(python, module, files, params, cwd, cores):
    """(in-task s, child wall s, output) of one TweakReg run in a child process."""
    args = [python, "-c", _CHILD, module, json.dumps(files), json.dumps(params), str(ROOT)]
    env = dict(os.environ, OMP_NUM_THREADS=str(cores), MPLBACKEND="Agg")
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env)
    wall = time.perf_counter() - t
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed (exit {proc.returncode}):\n{out[-4000:]}")
    inner = [float(line.split()[1]) for line in out.splitlines() if line.startswith("ELAPSED")]
    return (inner[-1] if inner else float("nan")), wall, out


def alignment_rms(directory, exposures):
    """(rms over the chips of the aligned exposures, per-exposure rms) of ``directory``'s files."""
    sq, count, each = 0.0, 0, []
    for e in exposures[1:]:
        path = str(Path(directory) / Path(e.path).name)
        r = synthetic.truth_rms(path, e.true_wcs)
        each.append(r)
        sq += r * r * len(e.true_wcs)
        count += len(e.true_wcs)
    return float(np.sqrt(sq / count)), each


def describe(find, match):
    """The parameters of a run that differ from drizzlepac's defaults or :data:`COMMON`."""
    text = ", ".join(f"{k}={v}" for k, v in find.items()) if find else "default imagefindpars"
    extra = {k: v for k, v in match.items() if COMMON.get(k, object()) != v}
    if extra:
        text += "; " + ", ".join(f"{k}={v}" for k, v in extra.items())
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=FULL_CHIP[1],
                    help="chip width in pixels (height is half); 4096 = ACS/WFC")
    ap.add_argument("--workdir", default=None, help="where to write (default: a new temp dir)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--drizzlepac-python", default="/tmp/dpvenv/bin/python",
                    help="interpreter with drizzlepac 3.11 installed")
    ap.add_argument("--num-cores", type=int, default=2, help="OMP_NUM_THREADS of the children")
    ap.add_argument("--tuned-find", default=None,
                    help="JSON dict replacing TUNED_FIND (the tuned imagefindpars)")
    ap.add_argument("--tuned-match", default=None,
                    help="JSON dict replacing TUNED_MATCH (tuned matching/fit parameters)")
    ap.add_argument("--only", default="", help="comma list of runs to do (e.g. drizzlepac-tuned)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="compare_tweakreg."))
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    t = time.perf_counter()
    exposures = write_exposures(str(data), args.size, args.seed)
    names = [Path(e.path).name for e in exposures]
    print(f"wrote {len(names)} exposures of 2 x {args.size // 2}x{args.size} in "
          f"{time.perf_counter() - t:.1f} s ({work})")
    for e in exposures:
        print(f"  {Path(e.path).name}: injected dx={e.error.dx:+.3f} dy={e.error.dy:+.3f} px, "
              f"rot={e.error.rotation:+.5f} deg, scale={e.error.scale:.7f}")
    before, _ = alignment_rms(data, exposures)
    print(f"rms of the header WCS against the truth before alignment: {before:.3f} px")

    tuned_find = json.loads(args.tuned_find) if args.tuned_find else TUNED_FIND
    tuned_match = json.loads(args.tuned_match) if args.tuned_match else TUNED_MATCH
    setups = [("default", DEFAULT_FIND, COMMON), ("tuned", tuned_find, {**COMMON, **tuned_match})]
    tools = []
    reason = has_drizzlepac(args.drizzlepac_python)
    if reason:
        print(f"drizzlepac column skipped: {reason}")
    else:
        tools.append(("drizzlepac", args.drizzlepac_python))
    reason = has_gpudrizzle_tweakreg()
    if reason:
        print(f"gpudrizzle column skipped: {reason}")
    else:
        tools.append(("gpudrizzle", sys.executable))
    only = [s for s in args.only.split(",") if s]

    results = []
    for tool, python in tools:
        for label, find, match in setups:
            name = f"{tool}-{label}"
            if only and name not in only:
                continue
            d = work / name
            if d.exists():
                shutil.rmtree(d)
            d.mkdir()
            for e in exposures:
                shutil.copy(e.path, d)
            params = {"input_dict": match, "imagefindcfg": find, "refimagefindcfg": find}
            try:
                inner, wall, out = run_child(python, tool, names, params, d, args.num_cores)
            except RuntimeError as exc:
                print(f"{name}: {exc}")
                results.append(dict(tool=tool, setup=label, params=describe(find, match),
                                    error=str(exc)[-500:]))
                continue
            rms, each = alignment_rms(d, exposures)
            results.append(dict(tool=tool, setup=label, params=describe(find, match), time=inner,
                                child_wall=wall, rms=rms, rms_each=each))
            print(f"{name}: {inner:.2f} s in TweakReg ({wall:.2f} s child), rms {rms:.4f} px "
                  f"({', '.join(f'{r:.4f}' for r in each)})")

    dp = {r["setup"]: r for r in results if r["tool"] == "drizzlepac" and "time" in r}
    print(f"\nTweakReg, {N_EXPOSURES} exposures x 2 chips of {args.size // 2}x{args.size}, "
          f"fitgeometry={COMMON['fitgeometry']}, OMP_NUM_THREADS={args.num_cores}; "
          f"rms before alignment {before:.3f} px")
    header = f"{'tool':<11} {'setup':<8} {'time s':>8} {'rms px':>8} {'speed-up':>9}  parameters"
    print(header)
    print("-" * (len(header) + 40))
    for r in results:
        if "time" not in r:
            print(f"{r['tool']:<11} {r['setup']:<8} {'failed':>8}")
            continue
        ref = dp.get(r["setup"])
        speed = f"{ref['time'] / r['time']:.2f}x" if ref else "-"
        print(f"{r['tool']:<11} {r['setup']:<8} {r['time']:>8.2f} {r['rms']:>8.4f} {speed:>9}  "
              f"{r['params']}")
    print(f"common parameters: {', '.join(f'{k}={v}' for k, v in COMMON.items())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "seed": args.seed, "rms_before": before,
                       "common": COMMON, "tuned_find": tuned_find, "tuned_match": tuned_match,
                       "results": results,
                       "errors": [vars(e.error) for e in exposures]}, f, indent=1)
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
