"""Median (minmed) and cosmic-ray detection: gpudrizzle against drizzlepac 3.11, and a
memory-bounded median of many inputs.

    python benchmarks/bench_median_cr.py [--backend cpu] [--anchor-python /tmp/dpvenv/bin/python]
        [--size 4096] [--images 8] [--chips 8] [--mem-inputs 200] [--mem-size 2048]

1. minmed of ``--images`` single-drizzled images of size x size (stars, sky,
   cosmic rays, uncovered strips) with AstroDrizzle's defaults.
2. driz_cr on ``--chips`` chips of size x size/2 at the defaults.
3. create_median (minmed) of ``--mem-inputs`` inputs of mem-size squared,
   generated row band by row band as they are read (nothing holds a whole
   input), once with the default band size and once with combine_bufsize=1;
   each run in a fresh process so its peak RSS is its own.

drizzlepac runs in the same invocation: imported here if it is installed,
else in a child process of ``--anchor-python`` on the same inputs (saved as
.npy files).  Its own step functions run, in memory (no FITS I/O):
``createMedian._median`` (ImageStats weight means, 1 MB row sections, masks,
``min_med``) and ``drizCR._driz_cr`` (quickDeriv, the tests, convolutions)
on minimal stand-ins for its image objects.  gpudrizzle runs once on small
inputs first (compilation stays out) and is timed on host numpy inputs,
synchronised; results are compared with drizzlepac's.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE.parent / "tests" / "golden"


# ----------------------------------------------------------------------------- inputs


def median_inputs(n, size, seed=1):
    """Single-drizzled images (cps) and weights of one star field with cosmic rays."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[0:size, 0:size]
    model = (0.5 + 1e-4 * x + 5e-5 * y).astype(np.float32) + np.zeros((size, size), np.float32)
    for cy, cx, f in zip(rng.uniform(0, size, 400), rng.uniform(0, size, 400), rng.uniform(50, 2000, 400)):
        y0, x0 = int(cy) - 6, int(cx) - 6
        yy, xx = np.ogrid[max(y0, 0):min(y0 + 13, size), max(x0, 0):min(x0 + 13, size)]
        model[yy, xx] += (f / 9.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2.88)).astype(np.float32)
    exptime = np.linspace(400.0, 600.0, n)
    sci = np.empty((n, size, size), np.float32)
    wht = np.empty((n, size, size), np.float32)
    for i in range(n):
        noise = rng.standard_normal((size, size), dtype=np.float32) * np.sqrt(model / exptime[i]) 
        sci[i] = model + noise
        hits = rng.random((size, size), dtype=np.float32) < 0.002
        sci[i][hits] += rng.uniform(5, 300, int(hits.sum())).astype(np.float32)
        wht[i] = exptime[i]
        wht[i][:, : 8 * i % 40] = 0.0
        sci[i][:, : 8 * i % 40] = 0.0
    return sci, wht, exptime, np.full(n, 5.0), np.linspace(100.0, 140.0, n)


def cr_inputs(n, shape, seed=2):
    """Chips in electrons (sky 90) with stars and cosmic rays, their blots and DQ."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    blot = np.full(shape, 90.0, np.float32)
    for cy, cx, f in zip(rng.uniform(0, ny, 600), rng.uniform(0, nx, 600), rng.uniform(1e3, 1e5, 600)):
        y0, x0 = int(cy) - 6, int(cx) - 6
        yy, xx = np.ogrid[max(y0, 0):min(y0 + 13, ny), max(x0, 0):min(x0 + 13, nx)]
        blot[yy, xx] += (f / 10.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3.2)).astype(np.float32)
    sci = np.empty((n,) + shape, np.float32)
    for i in range(n):
        sci[i] = blot + rng.standard_normal(shape, dtype=np.float32) * np.sqrt(blot + 25.0)
        hits = rng.random(shape, dtype=np.float32) < 0.003
        sci[i][hits] += rng.uniform(50, 3000, int(hits.sum())).astype(np.float32)
    dq = np.where(rng.random(shape) < 0.01, 4, 0).astype(np.uint16)
    return sci, blot, dq


class RowBandImage:
    """A (ny, nx) float32 input that makes its rows when sliced (nothing stored)."""

    def __init__(self, shape, value, noise, seed, weight=False):
        self.shape, self.ndim, self.dtype = tuple(shape), 2, np.dtype(np.float32)
        self.value, self.noise, self.weight = np.float32(value), noise, weight
        self.pattern = np.random.default_rng(seed).standard_normal((61, shape[1])).astype(np.float32)

    def __getitem__(self, rows):
        r = np.arange(self.shape[0])[rows]
        if self.weight:
            return np.full((r.size, self.shape[1]), self.value, np.float32)
        return self.value + self.noise * self.pattern[r % 61]


# ----------------------------------------------------------------------------- drizzlepac side


def _anchor_median(tmp):
    """createMedian._median on in-memory single images; returns seconds, writes the result."""
    from astropy.io import fits
    from drizzlepac import createMedian

    sci, wht = np.load(tmp / "sci.npy"), np.load(tmp / "wht.npy")
    meta = json.loads((tmp / "median.json").read_text())
    saved = {}

    class Chip:
        _conversionFactor = 1.0

        def __init__(self, sky, rn):
            self.subtractedSky, self._rdnoise = sky, rn

    class Ext:
        def __init__(self, t):
            self._exptime = t

    class Image:
        inmemory, native_units, scienceExt = True, "ELECTRONS", "SCI"

        def __init__(self, i):
            self._filename = f"img{i}"
            self._image = {("sci", 1): Ext(meta["exptime"][i])}
            self._chips = [Chip(meta["sky"][i], meta["readnoise"][i])]
            self._hdus = {"outSingle": fits.HDUList([fits.PrimaryHDU(sci[i])]),
                          "outSWeight": fits.HDUList([fits.PrimaryHDU(wht[i])])}
            self.outputNames = {"outSingle": f"s{i}_sci.fits", "outSWeight": f"s{i}_wht.fits",
                                "outMedian": "median.fits"}

        def getGain(self, chip):
            return 1.0

        def getOutputName(self, name):
            return self._hdus[name]

        def returnAllChips(self, extname=None):
            return self._chips

        def saveVirtualOutputs(self, outputs):
            saved.update(outputs)

    images = [Image(i) for i in range(len(sci))]
    params = dict(median_newmasks=True, combine_maskpt=0.3, combine_type="minmed",
                  combine_nsigma="4 3", combine_nlow=0, combine_nhigh=0, combine_lthresh=None,
                  combine_hthresh=None, combine_grow=1, combine_bufsize=None, proc_unit="native",
                  compress=False)
    t = time.perf_counter()
    createMedian._median(images, params)
    seconds = time.perf_counter() - t
    np.save(tmp / "median_drizzlepac.npy", saved["median.fits"][0].data)
    return seconds


def _anchor_cr(tmp):
    """drizCR._driz_cr per chip, in memory; returns seconds, writes the masks."""
    sys.path.insert(0, str(GOLDEN_DIR))
    from drizzlepac import drizCR
    from make_golden import _CRChip, _CRImage

    sci, blot, dq = np.load(tmp / "cr_sci.npy"), np.load(tmp / "cr_blot.npy"), np.load(tmp / "cr_dq.npy")
    params = dict(driz_cr_snr="3.5 3.0", driz_cr_scale="1.2 0.7", driz_cr_grow=1,
                  driz_cr_ctegrow=0, driz_cr_corr=False, crbit=4096, inmemory=True)
    masks, seconds = [], 0.0
    for chip_sci in sci:
        image = _CRImage(chip_sci, blot, dq, _CRChip(1.0, 1.0, 5.0, 90.0, 0), "", "")
        t = time.perf_counter()
        drizCR._driz_cr(image, image.virtualOutputs, params)
        seconds += time.perf_counter() - t
        masks.append(image.saved["chip1_crmask"][0].data)
    np.save(tmp / "cr_drizzlepac.npy", np.array(masks))
    return seconds


def run_anchor(what, tmp, anchor_python):
    """Seconds drizzlepac takes, here if it imports, else in a child process; None without it."""
    try:
        import drizzlepac  # noqa: F401
    except ImportError:
        if not anchor_python:
            return None
        out = subprocess.run([anchor_python, __file__, "--anchor-child", what, str(tmp)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-3000:])
            return None
        return float(out.stdout.strip().splitlines()[-1])
    return {"median": _anchor_median, "cr": _anchor_cr}[what](tmp)


# ----------------------------------------------------------------------------- gpudrizzle side


def timed(backend, fn):
    t = time.perf_counter()
    out = fn()
    backend.synchronize()
    return time.perf_counter() - t, out


def bench_median(args, tmp, backend):
    from gpudrizzle.median import create_median

    sci, wht, exptime, rn, sky = median_inputs(args.images, args.size)
    kw = dict(readnoise=rn, exptime=exptime, sky=sky, backend=backend)
    create_median(sci[:, :64, :64], wht[:, :64, :64], **kw)  # warm up
    ours, med = timed(backend, lambda: create_median(sci, wht, **kw))
    np.save(tmp / "sci.npy", sci)
    np.save(tmp / "wht.npy", wht)
    (tmp / "median.json").write_text(json.dumps(dict(exptime=list(exptime), readnoise=list(rn),
                                                     sky=list(sky))))
    del sci, wht
    theirs = run_anchor("median", tmp, args.anchor_python)
    line = f"minmed {args.images} x {args.size}x{args.size}: gpudrizzle[{backend.name}] {ours:.2f} s"
    if theirs is not None:
        ref = np.load(tmp / "median_drizzlepac.npy")
        same = np.mean(ref == med)
        line += f", drizzlepac {theirs:.2f} s, ratio {theirs / ours:.1f}x, identical pixels {same:.6%}"
    print(line, flush=True)


def bench_cr(args, tmp, backend):
    from gpudrizzle.crmask import driz_cr

    shape = (args.size // 2, args.size)
    sci, blot, dq = cr_inputs(args.chips, shape)
    kw = dict(gain=1.0, rdnoise=5.0, sky=90.0, backend=backend)
    driz_cr(sci[0, :64, :64], blot[:64, :64], dq[:64, :64], **kw)  # warm up
    ours, masks = timed(backend, lambda: [driz_cr(s, blot, dq, **kw).crmask for s in sci])
    np.save(tmp / "cr_sci.npy", sci)
    np.save(tmp / "cr_blot.npy", blot)
    np.save(tmp / "cr_dq.npy", dq)
    del sci
    theirs = run_anchor("cr", tmp, args.anchor_python)
    line = f"driz_cr {args.chips} chips {shape[0]}x{shape[1]}: gpudrizzle[{backend.name}] {ours:.2f} s"
    if theirs is not None:
        ref = np.load(tmp / "cr_drizzlepac.npy")
        got = np.array(masks)
        inside = np.mean(ref[:, :-4, :-4] == got[:, :-4, :-4])
        line += (f", drizzlepac {theirs:.2f} s, ratio {theirs / ours:.1f}x, identical mask pixels "
                 f"{inside:.6%} (all but the last 4 rows/columns; {int((ref == 0).sum())} vs "
                 f"{int((got == 0).sum())} flagged in all)")
    print(line, flush=True)


def peak_rss():
    """Peak resident memory of this process in bytes (VmHWM: reset by exec, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(args, bufsize):
    """One memory-bounded median in this process: prints a JSON summary."""
    from gpudrizzle import median as median_module
    from gpudrizzle.backends import get_backend

    backend = get_backend(args.backend)
    n, size = args.mem_inputs, args.mem_size
    sci = [RowBandImage((size, size), 10.0 + 0.01 * i, 1.0, i) for i in range(n)]
    wht = [RowBandImage((size, size), 500.0, 0.0, 0, weight=True) for _ in range(n)]
    rows = median_module._band_rows(backend, n, (size, size), True, True, 1, bufsize)
    median_module.create_median([a[:8] for a in sci], [a[:8] for a in wht], backend=backend)
    base = peak_rss()
    tracemalloc.start()
    seconds, out = timed(backend, lambda: median_module.create_median(
        sci, wht, combine_bufsize=bufsize, backend=backend))
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = peak_rss()
    print(json.dumps(dict(seconds=seconds, rows=rows, band=2 * n * (rows + 2) * size * 4,
                          traced=traced, rss=rss, rss_before=base, mean=float(out.mean()))))


def bench_memory(args):
    n, size = args.mem_inputs, args.mem_size
    full = 2 * n * size * size * 4
    print(f"memory-bounded minmed, {n} inputs of {size}x{size} (sci + wht {full / 2**30:.2f} GiB "
          f"if held):", flush=True)
    for bufsize in (None, 1.0):
        cmd = [sys.executable, __file__, "--memory-child", str(bufsize), "--backend", args.backend,
               "--mem-inputs", str(n), "--mem-size", str(size)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-3000:])
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  combine_bufsize={bufsize}: {r['rows']} rows per band, band buffers "
              f"{r['band'] / 2**20:.0f} MiB, traced peak {r['traced'] / 2**20:.0f} MiB, "
              f"peak RSS {r['rss'] / 2**20:.0f} MiB (before the call {r['rss_before'] / 2**20:.0f} "
              f"MiB), {r['seconds']:.1f} s", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="cpu")
    p.add_argument("--anchor-python", default="", help="a Python with drizzlepac 3.11 installed")
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--chips", type=int, default=8)
    p.add_argument("--mem-inputs", type=int, default=200)
    p.add_argument("--mem-size", type=int, default=2048)
    p.add_argument("--skip", default="", help="comma list of median,cr,memory")
    p.add_argument("--anchor-child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.anchor_child:
        what, tmp = args.anchor_child
        print({"median": _anchor_median, "cr": _anchor_cr}[what](Path(tmp)))
        return
    if args.memory_child:
        memory_child(args, None if args.memory_child == "None" else float(args.memory_child))
        return
    from gpudrizzle.backends import get_backend

    backend = get_backend(args.backend)
    skip = set(filter(None, args.skip.split(",")))
    print(f"backend {backend.name}, {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "median" not in skip:
            bench_median(args, Path(tmp), backend)
        if "cr" not in skip:
            bench_cr(args, Path(tmp), backend)
    if "memory" not in skip:
        bench_memory(args)


if __name__ == "__main__":
    main()
