"""Mosaic benchmarks: peak memory of one cell job as N grows; cells/second on 1 and 2 workers.

Usage::

    python benchmarks/bench_mosaic.py memory [N ...]      # default N: 20 100 700
    python benchmarks/bench_mosaic.py memory --chip 256x512 20 100 300
    python benchmarks/bench_mosaic.py scaling [CELLS]      # default 16 cells, 1 and 2 workers

``memory`` writes N small synthetic exposures (two chips of 64x128 pixels, or
``--chip NYxNX``, dithered by a few pixels) that all fall into one cell, and runs
that cell's job
(:func:`gpudrizzle.mosaic.run_cell`, every step) in a fresh child process,
whose peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) is
reported.  ``scaling`` runs a mosaic of independent cells on a
``LocalCluster`` of 1 and then 2 single-threaded worker processes and
reports cells per second (cluster start-up excluded).
"""

import glob
import os
import resource
import subprocess
import sys
import tempfile
import time

_CHILD = """
import sys, resource
from gpudrizzle.mosaic import run_cell
r = run_cell(sys.argv[1], sys.argv[2], {}, False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r["seconds"])
"""


def _write(directory, n, spread=3.0, seed=1, chip_shape=(64, 128)):
    from gpudrizzle.synthetic import write_flt

    import numpy as np

    rng = np.random.default_rng(seed)
    for i in range(n):
        write_flt(directory, f"j9m{i:04d}aq", dither=tuple(rng.uniform(-spread, spread, 2)),
                  chip_shape=chip_shape, seed=seed + i, expstart=55000.0 + i * 0.01)
    return sorted(glob.glob(os.path.join(directory, "*_flt.fits")))


def memory(ns, chip_shape=(64, 128)):
    from gpudrizzle import mosaic

    rows = []
    for n in ns:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            files = _write(tmp, n, chip_shape=chip_shape)
            t_write = time.perf_counter() - t
            plan = mosaic.plan(files, os.path.join(tmp, "m"), tile=4096)
            name = next(iter(mosaic.load_plan(plan)["cells"]))
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _CHILD, plan, name], check=True,
                                 capture_output=True, text=True).stdout.split()
            wall = time.perf_counter() - t
            rss_mib = int(out[-2]) / 1024.0
            rows.append((n, rss_mib, float(out[-1]), wall, t_write))
            print(f"N={n:5d}  peak RSS {rss_mib:8.1f} MiB  cell job {float(out[-1]):7.2f} s  "
                  f"(child {wall:.2f} s, writing inputs {t_write:.1f} s)", flush=True)
    base = rows[0][1]
    for n, rss, *_ in rows:
        print(f"N={n:5d}: peak RSS / N={rows[0][0]}: {rss / base:.2f}")
    return rows


def scaling(n_cells=16, per_cell=4):
    from distributed import Client, LocalCluster

    from gpudrizzle import mosaic
    from gpudrizzle.synthetic import write_dither_set

    with tempfile.TemporaryDirectory() as tmp:
        # n_cells separate fields far apart (a field may straddle two tiles)
        for k in range(n_cells):
            write_dither_set(tmp, per_cell, rootname_prefix=f"j{k:03d}", step=(2.5, 1.5),
                             chip_shape=(128, 256), pointing=(150.1 + 0.05 * k, 2.2), seed=k)
        files = sorted(glob.glob(os.path.join(tmp, "*_flt.fits")))
        plan = mosaic.plan(files, os.path.join(tmp, "m"), tile=1200)
        cells = len(mosaic.load_plan(plan)["cells"])
        rates = {}
        for workers in (1, 2):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
            client.run(lambda: __import__("gpudrizzle.mosaic"))  # imports outside the timing
            mosaic.run(plan, scheduler=client, resume=False)  # warm: kernels built/loaded
            t = time.perf_counter()
            result = mosaic.run(plan, scheduler=client, resume=False)
            dt = time.perf_counter() - t
            client.close()
            cluster.close()
            assert not result.failed, result.summary()
            rates[workers] = cells / dt
            print(f"{workers} worker(s) x 1 thread: {cells} cells in {dt:.2f} s = "
                  f"{rates[workers]:.2f} cells/s", flush=True)
        print(f"speed-up 1 -> 2 workers: {rates[2] / rates[1]:.2f}x")
        return rates


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "memory"
    if what == "memory":
        args = sys.argv[2:]
        chip = (64, 128)
        if args[:1] == ["--chip"]:
            chip, args = tuple(int(v) for v in args[1].lower().split("x")), args[2:]
        memory([int(a) for a in args] or [20, 100, 700], chip)
    elif what == "scaling":
        scaling(int(sys.argv[2]) if len(sys.argv) > 2 else 16)
    else:
        sys.exit(f"usage: {sys.argv[0]} memory [N ...] | scaling [CELLS]")
