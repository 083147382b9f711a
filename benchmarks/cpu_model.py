"""Performance model of the cpu backend: bytes, operations, the floors they give here, measured times.

    python benchmarks/cpu_model.py [--size 4096] [--repeat 3] [--no-pipeline]
        [--pipeline-size 4096] [--threads N] [--json FILE]

Measures this machine first, with probes (``benchmarks/probes/probes.cpp``)
built by the host compiler with the cpu backend's own flags and loaded with
ctypes: streaming read, write, copy and triad bandwidth (bytes read plus
written, arrays of 256 MB, beyond the caches), the first touch of fresh
zeroed memory (``np.zeros`` then a write: page faults), and peak
double-precision rates of scalar and vector (the widest vector the flags
allow) add and mul+add chains, on one thread and on all threads; and the
writing of a new file through the page cache and past it (``DirectFile``:
wall and CPU time).

Then, for every drizzle kernel and blot interpolant at ``--size``^2 (the
setup of ``compare_drizzle.py``: 1 degree rotation, 0.98 scale, one
``add_image`` into a fresh output) and for every AstroDrizzle step (the run
of ``compare_astrodrizzle.py``: 4 exposures of 2 chips), the model counts

* bytes: every array the kernel or step reads and writes, once per pass
  (``*_BYTES`` below); fresh arrays also pay their first touch;
* operations: double-precision arithmetic, compares, min/max, roundings and
  conversions per drop or output pixel, counted from the kernel code
  (``drizzle_ops`` / ``blot_ops``); the mean number of output pixels a drop
  visits is computed from the geometry of the pixel map (``drop_geometry``).

Floors (all threads): bandwidth = bytes / triad bandwidth + fresh bytes /
first-touch rate; arithmetic = operations / vector add rate (scalar: / scalar
add rate); floor = the larger of bandwidth and vector arithmetic.  Measured:
gpudrizzle's cpu backend (best of ``--repeat`` after a warm-up) and drizzle
3.0 (single-threaded C) when installed; for the steps, the ``timings`` of one
in-process ``gpudrizzle.astrodrizzle.AstroDrizzle`` run (``--no-pipeline``
skips it; blot and driz_cr are timed together there).
"""

import argparse
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import best, image, rotated_pixmap  # noqa: E402
from gpudrizzle import Drizzle, blot_image, get_backend  # noqa: E402
from gpudrizzle.backends import cpu as cpu_backend  # noqa: E402

DRIZZLE_KERNELS = ("square", "turbo", "point", "gaussian", "lanczos2", "lanczos3")
BLOT_INTERPS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5")
MB = 1e6


# -- probes --------------------------------------------------------------------------------
def build_probes(extra_flags=()):
    """The probe library built with the kernels' compiler and flags (plus ``extra_flags``)."""
    cxx, version = cpu_backend.compiler_info()
    flags = tuple(cpu_backend._flags()) + tuple(extra_flags)
    src = HERE / "probes" / "probes.cpp"
    key = hashlib.sha256("\n".join([src.read_text(), version, " ".join(flags)]).encode())
    target = cpu_backend.cache_dir() / f"cpu_model_probes_{key.hexdigest()[:16]}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            cmd = [cxx, *flags, str(src), "-o", str(out)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"probe build failed: {' '.join(cmd)}\n{res.stderr}")
            os.replace(out, target)
    lib = ctypes.CDLL(str(target))
    P, L, I, D = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_double
    sigs = {"probe_read": [P, L, I, I, P], "probe_write": [P, L, I, I, D],
            "probe_copy": [P, P, L, I, I], "probe_triad": [P, P, P, L, I, I, D],
            "probe_flops": [L, I, I, I, I, P]}
    for name, args in sigs.items():
        getattr(lib, name).argtypes, getattr(lib, name).restype = args, D
    for name in ("probe_vector_doubles", "probe_nacc"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [], I
    return lib, " ".join([cxx, *flags])


def measure_machine(lib, threads, nbytes=256 * 2 ** 20, reps=3):
    """Bandwidths (B/s), first-touch rates (B/s) and peak rates (op/s) on 1 and ``threads`` threads."""
    n = nbytes // 8
    a, b, c = (np.full(n, 1.0) for _ in range(3))
    sink = ctypes.c_double(0.0)
    ptr = [x.ctypes.data for x in (a, b, c)]
    m = {"threads": threads}
    for t in sorted({1, threads}):
        tag = f"{t}t"
        m[f"read_{tag}"] = nbytes / lib.probe_read(ptr[0], n, reps, t, ctypes.byref(sink))
        m[f"write_{tag}"] = nbytes / lib.probe_write(ptr[0], n, reps, t, 2.0)
        m[f"copy_{tag}"] = 2 * nbytes / lib.probe_copy(ptr[0], ptr[1], n, reps, t)
        m[f"triad_{tag}"] = 3 * nbytes / lib.probe_triad(ptr[0], ptr[1], ptr[2], n, reps, t, 0.5)
        t_fresh = []
        for _ in range(reps):  # best of fresh arrays (the very first may wait for the host)
            fresh = np.zeros(n)  # untouched pages: the write pays the faults
            t_fresh.append(lib.probe_write(fresh.ctypes.data, n, 1, t, 2.0))
            del fresh
        m[f"first_touch_{tag}"] = nbytes / min(t_fresh)
        iters, lanes, nacc = 20_000_000, lib.probe_vector_doubles(), lib.probe_nacc()
        for vec in (0, 1):
            for fma in (0, 1):
                s = lib.probe_flops(iters, t, vec, fma, reps, ctypes.byref(sink))
                name = ("vector" if vec else "scalar") + ("_muladd" if fma else "_add")
                m[f"{name}_{tag}"] = t * iters * nacc * (1 + fma) * (lanes if vec else 1) / s
        m["vector_doubles"] = lanes
    return m


def measure_files(nbytes):
    """Writing a new file of ``nbytes`` through the page cache and through
    :class:`gpudrizzle.files.DirectFile` (past it), without fsync, as a run writes its
    intermediates: {name: bytes per second} of wall and CPU (all threads of the process)
    time."""
    from gpudrizzle import files

    payload = memoryview(np.ones(nbytes // 8).view(np.uint8))
    m = {}
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp:
        for name, opener in (("buffered", lambda p: open(p, "wb")), ("direct", files.DirectFile)):
            path = os.path.join(tmp, f"{name}.bin")
            Path(path).write_bytes(b"")
            if hasattr(os, "sync"):
                os.sync()  # the other file's dirty pages are not flushed during this one
            wall, cpu = time.perf_counter(), time.process_time()
            with opener(path) as f:
                for k in range(0, len(payload), 1 << 22):  # as the writers' 4 MiB slices
                    f.write(payload[k:k + (1 << 22)])
            m[f"file_{name}_wall"] = nbytes / (time.perf_counter() - wall)
            m[f"file_{name}_cpu"] = nbytes / max(time.process_time() - cpu, 1e-9)
            os.remove(path)
    return m


# -- geometry and operation counts -----------------------------------------------------
def drop_geometry(pixmap, ratio, step=8):
    """Mean (rows, columns, pixels) of output pixels a drop visits, per kernel.

    ``pixmap`` (n, n, 2) float64; ``ratio`` the pixel scale ratio (output /
    input).  Rows of the map are sampled every ``step``.  Square: the index
    ranges of the rounded hull of its corners (pixfrac 1: the mean of the 4
    map nodes around each corner); turbo, gaussian: rounded ox +- pfo;
    lanczos: floor(ox - pfo) + 1 .. floor(ox + pfo); point: 1.  Ranges are
    clipped to the output (assumed the input's size).  Also ``square_four``,
    the fraction of square drops whose hull spans 2 x 2 pixels (the kernel's
    four-pixel case), and ``square_rest``, the means over the other drops.
    """
    n = pixmap.shape[0]
    lim = n - 1.0

    def count(lo, hi):
        return np.maximum(np.minimum(hi, lim) - np.maximum(lo, 0.0) + 1.0, 0.0)

    def rnd(v):
        return np.floor(v + 0.5)

    out = {"point": (1.0, 1.0, 1.0)}
    p = pixmap[::step]
    ox, oy = p[..., 0], p[..., 1]
    for kind, pfo in (("turbo", 0.5 / ratio), ("gaussian", max(2.5 / 2.3548 / ratio, 1.2 / ratio))):
        cx, cy = count(rnd(ox - pfo), rnd(ox + pfo)), count(rnd(oy - pfo), rnd(oy + pfo))
        out[kind] = (cy.mean(), cx.mean(), (cx * cy).mean())
    for order in (2, 3):
        pfo = order / ratio
        cx = count(np.floor(ox - pfo) + 1, np.floor(ox + pfo))
        cy = count(np.floor(oy - pfo) + 1, np.floor(oy + pfo))
        out[f"lanczos{order}"] = (cy.mean(), cx.mean(), (cx * cy).mean())
    rows = np.arange(1, n - 1, step)
    corner = 0.25 * (pixmap[:-1, :-1] + pixmap[1:, :-1] + pixmap[:-1, 1:] + pixmap[1:, 1:])
    quad = [corner[rows - dj, 1 - di:n - 1 - di] for dj in (0, 1) for di in (0, 1)]
    xs, ys = np.stack([q[..., 0] for q in quad]), np.stack([q[..., 1] for q in quad])
    cx = count(rnd(xs.min(0)), rnd(xs.max(0)))
    cy = count(rnd(ys.min(0)), rnd(ys.max(0)))
    out["square"] = (cy.mean(), cx.mean(), (cx * cy).mean())
    four = (cx == 2) & (cy == 2)  # the four-pixel case (its point test aside)
    rest = ~four
    out["square_four"] = float(four.mean())
    out["square_rest"] = tuple(float(v[rest].mean()) if rest.any() else 0.0
                               for v in (cy, cx, cx * cy))
    return out


# Operations per drop, from cuda_kernels/drizzle.cu (interior drops, pixfrac 1), with
# r, c, p the mean rows, columns and pixels it visits (drop_geometry):
#   common: data test and weight 6; deposit 7 per pixel reached (+3 per data2 plane)
#   square: corners 4 x 8 (pixfrac 1: cell means) + finite tests 16, jacobian 12, hull
#           min/max 12, two clipped rounded ranges 38 -> 116; the four-pixel case:
#           tests 8, offsets 8, 4 point-side tests x 7, 4 edges x 22 (trapezoid, area
#           above, the part left of the point), 2 crossings x 8, combination 6 -> 154,
#           + 4 deposits; other drops: edges 16; per column 4 edge spans x 20 + 2 -> 82;
#           per pixel 2 edge areas x 18 + 2 early exits + 2 -> 41, + deposit
#   turbo:  ranges 42 (+6); per row dy 5; per pixel dx 5, 2 tests, 3 products + deposit
#   point:  NaN tests 2, two roundings 16, 4 range tests (+6) + deposit
#   gaussian: ranges 42 (+6); per row 1; per pixel 5 + exp (20) + 2 products + deposit
#   lanczosN: floor ranges 32 (+6); per row one table weight 12; per pixel 12 + 2 + deposit
def drizzle_ops(kernel, geom, ndata2=0):
    r, c, p = geom[kernel]
    dep = 7 + 3 * ndata2
    four, (_, c_rest, p_rest) = geom["square_four"], geom["square_rest"]
    square = 116 + four * (154 + 4 * dep) + (1 - four) * (16 + 82 * c_rest + (41 + dep) * p_rest)
    return {"square": square,
            "turbo": 48 + 5 * r + (10 + dep) * p,
            "point": 30 + dep,
            "gaussian": 48 + r + (27 + dep) * p,
            "lanczos2": 38 + 12 * r + (14 + dep) * p,
            "lanczos3": 38 + 12 * r + (14 + dep) * p}[kernel]


# Operations per output pixel, from cuda_kernels/blot.cu: 14 (position loads, 4 bounds
# tests, floors, iscale, conversion) + tap weights + a W x W window (a conversion, a
# product and a sum per tap, a product and a sum per row): 14 + weights + 3 W^2 + 2 W.
# Weights: nearest 0 (W = 0, 2 clamps); linear 4; Everett poly3 2 x 14, poly5 2 x 31;
# lanczosN 2 x 2N table weights of 7 (difference, |.|, division, truncation, test, load).
BLOT_WINDOW = {"nearest": 0, "linear": 2, "poly3": 4, "poly5": 6, "lanczos3": 6, "lanczos5": 10}
BLOT_WEIGHTS = {"nearest": 4, "linear": 4, "poly3": 28, "poly5": 62, "lanczos3": 84,
                "lanczos5": 140}


def blot_ops(interp):
    w = BLOT_WINDOW[interp]
    return 14 + BLOT_WEIGHTS[interp] + 3 * w * w + 2 * w


# Bytes per pixel (read + written; fresh = first touched, also counted in read + written).
# drizzle, per input pixel (output of the same size): data 4 R, pixmap 16 R (the tile
# footprints read only the tiles' rims), acc (n,n,2) float64 16 R + 16 W, context 4 R +
# 4 W; fresh: acc 16 + context 4.  blot, per output pixel: pixmap 16 R, source 4 R (each
# window re-read from cache), out 4 W; fresh: out 4 (np.empty).
DRIZZLE_BYTES = (4 + 16 + 32 + 8, 20)


BLOT_BYTES = (24, 4)

# AstroDrizzle steps: (bytes per chip pixel, bytes per output pixel, fresh bytes per output
# pixel, operations per chip pixel, operations per output pixel) of the current code, with
# E exposures; DRIZ / BLOT / CR operations are filled in by pipeline_model.
#   static mask: SCI big-endian -> float32 R4 W4; min/max R4; 4 clip passes R16; histogram
#     R4; threshold R4 W1; ones W1; AND of the 4 masks of a signature R2 W1 -> 41 B;
#     ops: 1 + 2 + 4 x 5 + 4 + 1 = 28
#   sky: DQ mask R2 W1; AND static R2 W1; SCI -> float32 R4 W4; selection R5 W4; 6 clip
#     passes R24; median by selection R8 W8 -> 63 B; ops 4 + 6 x 5 + 4 = 38
#   separate drizzle (turbo): pixel map built W16 (bicubic cells, 60 ops); SCI - sky R4 W4;
#     good mask R4 W2; weights R1 W4; drizzle R8 + pixmap R16 + acc R16 W16 -> 91 B per
#     chip pixel; per output pixel and exposure: reset W16, out_img and out_wht R32 W8 ->
#     56 E B (fresh: acc 16 + outputs 8 E)
#   median (minmed): singles and weights R8 E, thresholds R4 E, median W4 (fresh 4);
#     ops 10 E + 30
#   blot (poly5): pixel map W16 (60 ops); blot R20 W4 (fresh 4 per chip pixel, counted
#     here per chip pixel); + sky R4 W4 -> 48 B
#   driz_cr: SCI -> float32 R4 W4; derivative R4 W4 (12 ops); tests R12 W1 (25 ops);
#     neighbours R1 W1 (9); growth R9 W1 (10); count R1 -> 46 B, 56 ops
#   final drizzle (square, variance, context): variance R4 W4; good mask R4 W2; weights R1
#     W4; SCI - sky R4 W4; pixel map W16 (60 ops); drizzle R12 + pixmap R16 + acc R16 W16 +
#     variance sums R8 W8 + context R4 W4 -> 127 B per chip pixel; per output pixel:
#     out_img/out_wht R32 W8, variance mean R24 W4, context copy R4 W4, sqrt R4 W4, fill R8
#     W4, count R4, FITS byte swap of 4 arrays into 4 MiB slices R16 W16, copied into the
#     buffer the disk reads (DirectFile) R16 W16 -> 176 B (fresh 44)
def step_model(n_exp, sep_kernel_ops, blot_interp_ops, final_kernel_ops):
    """{step: (bytes per chip pixel, fresh bytes per chip pixel, bytes per output pixel,
    fresh bytes per output pixel, operations per chip pixel, operations per output pixel)},
    as the comment above counts them."""
    E = n_exp
    return {
        "static mask": (41, 0, 0, 0, 28, 0),
        "sky": (63, 0, 0, 0, 38, 0),
        "separate drizzle": (91, 0, 56 * E, 16 + 8 * E, 60 + 7 + sep_kernel_ops, 0),
        "median": (0, 0, 12 * E + 4, 4, 0, 10 * E + 30),
        "blot": (48, 4, 0, 0, 60 + 1 + blot_interp_ops, 0),
        "driz_cr": (46, 0, 0, 0, 56, 0),
        "final drizzle": (127, 0, 176, 44, 60 + 7 + final_kernel_ops, 0),
    }


# -- floors and measurements -----------------------------------------------------------
def floors(m, nbytes, fresh, ops):
    """(bandwidth, vector arithmetic, scalar arithmetic, floor) seconds on all threads."""
    t = f"{m['threads']}t"
    bw = nbytes / m[f"triad_{t}"] + fresh / m[f"first_touch_{t}"]
    vec, sca = ops / m[f"vector_add_{t}"], ops / m[f"scalar_add_{t}"]
    return bw, vec, sca, max(bw, vec)


def measure_kernels(n, repeat, threads):
    """{case: (gpudrizzle cpu s, drizzle 3.0 s or None)} at n x n, compare_drizzle's setup."""
    try:
        from drizzle.resample import Drizzle as Drizzle3, blot_image as blot3
    except ImportError:
        Drizzle3 = blot3 = None
    data, pixmap = image(n), rotated_pixmap(n)
    b = get_backend("cpu")
    out = {}
    warnings.simplefilter("ignore")  # the kernels that do not conserve flux say so
    with b.limit_threads(threads):
        for k in DRIZZLE_KERNELS:
            def ours(k=k):
                d = Drizzle(kernel=k, out_shape=(n, n), backend=b)
                d.add_image(data, exptime=1.0, pixmap=pixmap, pixel_scale_ratio=1 / 0.98)

            def theirs(k=k):
                d = Drizzle3(kernel=k, out_shape=(n, n))
                d.add_image(data, exptime=1.0, pixmap=pixmap, pixel_scale_ratio=1 / 0.98)
            out[f"drizzle {k}"] = (best(ours, repeat),
                                   best(theirs, repeat) if Drizzle3 else None)
        for i in BLOT_INTERPS:
            out[f"blot {i}"] = (best(lambda i=i: blot_image(data, pixmap, interp=i, backend=b),
                                     repeat),
                                best(lambda i=i: blot3(data, pixmap, interp=i), repeat)
                                if blot3 else None)
    return out


def run_pipeline(size, threads):
    """(timings, chip pixels, output pixels, exposures) of one AstroDrizzle run of
    compare_astrodrizzle.py's exposures (chips size/2 x size), in a temporary directory."""
    import compare_astrodrizzle as ca
    from gpudrizzle.astrodrizzle import AstroDrizzle
    with tempfile.TemporaryDirectory(prefix="cpu_model.") as work:
        files = ca.write_exposures(work, size)
        here = os.getcwd()
        os.chdir(work)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = AstroDrizzle(input=[Path(f).name for f in files], output="final",
                                   build=True, num_cores=threads, backend="cpu")
        finally:
            os.chdir(here)
    chips = 2 * len(files) * (size // 2) * size
    ny, nx = res.output_wcs.array_shape
    return dict(res.timings), chips, ny * nx, len(files)


# -- output -----------------------------------------------------------------------------
HEADER = ("| case | bytes | ops | bandwidth floor | arithmetic floor (vector / scalar) | floor "
          "| measured | measured/floor | drizzle 3.0 |\n|---|---|---|---|---|---|---|---|---|")


def ms(t):
    return "-" if t is None else f"{1e3 * t:.1f} ms"


def row(case, nbytes, fresh, ops, m, measured, ref=None, floor=None):
    """A table line and its record; ``floor`` replaces max(bandwidth, vector arithmetic)."""
    bw, vec, sca, own = floors(m, nbytes, fresh, ops)
    floor = own if floor is None else floor
    ratio = "-" if measured is None else f"{measured / floor:.1f}x"
    rec = {"bytes": nbytes, "fresh_bytes": fresh, "ops": ops, "bandwidth_floor": bw,
           "vector_floor": vec, "scalar_floor": sca, "floor": floor, "measured": measured,
           "drizzle3": ref}
    text = (f"| {case} | {nbytes / MB:.0f} MB ({fresh / MB:.0f} fresh) | {ops / 1e9:.2f} G "
            f"| {ms(bw)} | {ms(vec)} / {ms(sca)} | {ms(floor)} | {ms(measured)} | {ratio} "
            f"| {ms(ref)} |")
    return text, rec


def machine_line(m):
    t = f"{m['threads']}t"
    g = 1e9
    line = (f"Machine: {m['threads']} thread(s); GB/s 1 / {m['threads']} threads: read "
            f"{m['read_1t'] / g:.1f} / {m[f'read_{t}'] / g:.1f}, write {m['write_1t'] / g:.1f} / "
            f"{m[f'write_{t}'] / g:.1f}, copy {m['copy_1t'] / g:.1f} / {m[f'copy_{t}'] / g:.1f}, "
            f"triad {m['triad_1t'] / g:.1f} / {m[f'triad_{t}'] / g:.1f}, first touch "
            f"{m['first_touch_1t'] / g:.1f} / {m[f'first_touch_{t}'] / g:.1f}; Gop/s (double, "
            f"{m['vector_doubles']} per vector): scalar add {m['scalar_add_1t'] / g:.1f} / "
            f"{m[f'scalar_add_{t}'] / g:.1f}, scalar mul+add {m['scalar_muladd_1t'] / g:.1f} / "
            f"{m[f'scalar_muladd_{t}'] / g:.1f}, vector add {m['vector_add_1t'] / g:.1f} / "
            f"{m[f'vector_add_{t}'] / g:.1f}, vector mul+add {m['vector_muladd_1t'] / g:.1f} / "
            f"{m[f'vector_muladd_{t}'] / g:.1f}; a new file written through the page cache "
            f"{m['file_buffered_wall'] / g:.2f} (CPU {m['file_buffered_cpu'] / g:.2f}), "
            f"past it (DirectFile) {m['file_direct_wall'] / g:.2f} (CPU "
            f"{m['file_direct_cpu'] / g:.2f})")
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096, help="kernel image size (n x n)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="threads (default: the cpu backend's default_threads)")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the AstroDrizzle part")
    ap.add_argument("--pipeline-size", type=int, default=4096,
                    help="chip width of the AstroDrizzle run (height is half)")
    ap.add_argument("--probe-mb", type=int, default=256, help="probe array size (MiB)")
    ap.add_argument("--json", default=None, help="also write every number here")
    args = ap.parse_args(argv)
    if args.size < 16 or args.pipeline_size < 64:
        ap.error("--size must be >= 16 and --pipeline-size >= 64")
    threads = args.threads or cpu_backend.default_threads()

    lib, command = build_probes()
    m = measure_machine(lib, threads, args.probe_mb * 2 ** 20)
    m.update(measure_files(args.probe_mb * 2 ** 20))
    print(f"Probes built with: {command}")
    print(machine_line(m))
    result = {"machine": m, "probe_command": command, "threads": threads,
              "kernels": {}, "steps": {}}

    n = args.size
    geom = drop_geometry(rotated_pixmap(min(n, 1024)), 1 / 0.98)
    times = measure_kernels(n, args.repeat, threads)
    npix = n * n
    print(f"\nKernels at {n}x{n} (1 deg rotation, 0.98 scale; one add_image into a fresh "
          f"output; blot into a new array), {threads} thread(s), best of {args.repeat}; "
          "mean output pixels per drop: "
          + ", ".join(f"{k} {geom[k][2]:.2f}" for k in DRIZZLE_KERNELS)
          + f"; square drops in the four-pixel case: {geom['square_four']:.1%}")
    print(HEADER)
    per_px, fresh_px = DRIZZLE_BYTES
    for k in DRIZZLE_KERNELS:
        text, rec = row(f"drizzle {k}", per_px * npix, fresh_px * npix,
                        drizzle_ops(k, geom) * npix, m, *times[f"drizzle {k}"])
        print(text)
        result["kernels"][f"drizzle {k}"] = rec
    for i in BLOT_INTERPS:
        text, rec = row(f"blot {i}", BLOT_BYTES[0] * npix, BLOT_BYTES[1] * npix,
                        blot_ops(i) * npix, m, *times[f"blot {i}"])
        print(text)
        result["kernels"][f"blot {i}"] = rec

    if not args.no_pipeline:
        t0 = time.perf_counter()
        timings, chips, outs, n_exp = run_pipeline(args.pipeline_size, threads)
        wall = time.perf_counter() - t0
        g1 = drop_geometry(rotated_pixmap(512, scale=1.0), 1.0)
        model = step_model(n_exp, drizzle_ops("turbo", g1), blot_ops("poly5"),
                           drizzle_ops("square", g1, ndata2=1))
        s = args.pipeline_size
        print(f"\nAstroDrizzle steps: {n_exp} exposures x 2 chips of {s // 2}x{s} "
              f"({chips / 1e6:.1f} M chip pixels), output {outs / 1e6:.1f} M pixels, "
              f"build=True, num_cores={threads}; run {wall:.1f} s with writing the inputs")
        print(HEADER)
        total = [0.0, 0.0, 0.0]
        for step, (cb, cf, ob, of, co, oo) in model.items():
            nbytes, fresh, ops = cb * chips + ob * outs, cf * chips + of * outs, co * chips + oo * outs
            measured = timings.get(step)
            text, rec = row(step, nbytes, fresh, ops, m, measured)
            print(text)
            result["steps"][step] = rec
            total = [total[0] + nbytes, total[1] + fresh, total[2] + ops]
        both = result["steps"]["blot"], result["steps"]["driz_cr"]
        text, rec = row("blot and driz_cr", both[0]["bytes"] + both[1]["bytes"],
                        both[0]["fresh_bytes"] + both[1]["fresh_bytes"],
                        both[0]["ops"] + both[1]["ops"], m, timings.get("blot and driz_cr"))
        print(text)
        result["steps"]["blot and driz_cr"] = rec
        steps_sum = sum(v for k, v in timings.items()
                        if k in model or k == "blot and driz_cr")
        # steps run one after the other: their floors add up
        text, rec = row("all steps", *total, m, steps_sum,
                        floor=sum(result["steps"][k]["floor"] for k in model))
        print(text)
        result["steps"]["all steps"] = rec
        others = {k: v for k, v in timings.items() if k not in model and k != "blot and driz_cr"}
        print("Other timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in others.items()))
        result["timings"] = timings
    # last: after code of a wider instruction set has run in this process, the kernels'
    # SSE2 code was measured up to 10x slower here (small sizes)
    try:
        native_lib, _ = build_probes(("-march=native",))
        result["native"] = measure_machine(native_lib, threads, 8 * 2 ** 20, reps=2)
        t, g = f"{threads}t", 1e9
        print(f"\nWith -march=native ({result['native']['vector_doubles']} doubles per vector): "
              f"vector add {result['native'][f'vector_add_{t}'] / g:.1f}, mul+add "
              f"{result['native'][f'vector_muladd_{t}'] / g:.1f} Gop/s on {threads} thread(s)")
    except (RuntimeError, OSError):
        result["native"] = None
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
