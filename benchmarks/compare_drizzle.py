"""Time gpudrizzle against drizzle 3.0.0 on the same inputs, in one run, and print the ratios.

    python benchmarks/compare_drizzle.py [--size 4096] [--backends cpu,numpy] [--repeat 3]

Drizzle: one ``add_image`` (square, turbo, point, gaussian, lanczos2,
lanczos3) into a fresh output; blot: ``blot_image`` with each interpolant.
Every case runs once to warm up (compilation, page faults), then the best
of ``--repeat`` runs is kept; GPU work is synchronised inside the timing.
Each gpudrizzle result is checked against drizzle's before it is timed.
"""

import argparse
import time
import warnings

import numpy as np

from common import image, rotated_pixmap
from gpudrizzle import Drizzle, blot_image, get_backend

DRIZZLE_KERNELS = ("square", "turbo", "point", "gaussian", "lanczos2", "lanczos3")
BLOT_INTERPS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5")


def best(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--backends", default="cpu,numpy")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default="", help="comma list of cases, e.g. square,poly5")
    args = p.parse_args()
    from drizzle.resample import Drizzle as Drizzle3, blot_image as blot3

    n = args.size
    data, pixmap = image(n), rotated_pixmap(n)
    backends = [get_backend(b) for b in args.backends.split(",")]
    only = set(filter(None, args.only.split(",")))
    print(f"{n}x{n}, 1 deg rotation, 0.98 scale, best of {args.repeat}")
    print(f"{'case':18s} {'drizzle 3.0':>12s} " + " ".join(f"{b.name:>10s} {'ratio':>6s}" for b in backends))
    warnings.simplefilter("ignore")

    def drizzle_run(cls, kernel, **kw):
        d = cls(kernel=kernel, out_shape=(n, n), **kw)
        d.add_image(data, exptime=1.0, pixmap=pixmap, pixel_scale_ratio=1 / 0.98)
        return d

    cases = [(f"drizzle {k}", k) for k in DRIZZLE_KERNELS] + [(f"blot {i}", i) for i in BLOT_INTERPS]
    for name, what in cases:
        if only and what not in only:
            continue
        if name.startswith("drizzle"):
            ref = drizzle_run(Drizzle3, what)
            t_ref = best(lambda: drizzle_run(Drizzle3, what), args.repeat)
        else:
            ref_img = blot3(data, pixmap, interp=what)
            t_ref = best(lambda: blot3(data, pixmap, interp=what), args.repeat)
        row = f"{name:18s} {t_ref:11.3f}s "
        for b in backends:
            if name.startswith("drizzle"):
                ours = drizzle_run(Drizzle, what, backend=b)
                inner = (slice(16, -16), slice(16, -16))
                scale = np.abs(ref.out_wht[inner]).max()
                assert np.allclose(ours.out_wht[inner], ref.out_wht[inner], rtol=1e-4, atol=1e-5 * scale)

                def run():
                    drizzle_run(Drizzle, what, backend=b)
                    b.synchronize()
            else:
                out = blot_image(data, pixmap, interp=what, backend=b)
                inner = (slice(16, -16), slice(16, -16))
                # drizzle 3.0 rounds blot positions to float32: compare typical pixels
                rel = np.abs(out[inner] - ref_img[inner]) / np.abs(ref_img[inner])
                assert np.median(rel) < 1e-4

                def run():
                    blot_image(data, pixmap, interp=what, backend=b)
                    b.synchronize()
            t = best(run, args.repeat)
            row += f"{t:9.3f}s {t_ref / t:6.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
