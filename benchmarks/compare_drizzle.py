"""Time gpudrizzle against drizzle 3.0.0 on the same inputs, in one run, and print the ratios.

    python benchmarks/compare_drizzle.py [--size 4096] [--backends cpu,numpy] [--repeat 3]
        [--anchor drizzle|cpu] [--json FILE]

Drizzle: one ``add_image`` (square, turbo, point, gaussian, lanczos2,
lanczos3) into a fresh output; blot: ``blot_image`` with each interpolant.
Every case runs once to warm up (compilation, page faults), then the best
of ``--repeat`` runs is kept; GPU work is synchronised inside the timing.
Each gpudrizzle result is checked against the anchor's before it is timed.
On a device backend the inputs (and blot's output) are device arrays made
before timing, so the times are those of the device work.
The anchor is drizzle 3.0 or, with ``--anchor cpu`` (on a GPU machine
without drizzle installed), gpudrizzle's own cpu backend, whose results the
other backends must then match to 1e-5.  ``--json`` also writes the times.
"""

import argparse
import json
import warnings

import numpy as np

from common import best, image, rotated_pixmap
from gpudrizzle import Drizzle, blot_image, get_backend

DRIZZLE_KERNELS = ("square", "turbo", "point", "gaussian", "lanczos2", "lanczos3")
BLOT_INTERPS = ("nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--backends", default="cpu,numpy")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default="", help="comma list of cases, e.g. square,poly5")
    p.add_argument("--anchor", choices=("drizzle", "cpu"), default="drizzle")
    p.add_argument("--json", default=None, help="also write {case: {anchor, backend: s}} here")
    args = p.parse_args()
    if args.anchor == "drizzle":
        from drizzle.resample import Drizzle as Drizzle3, blot_image as blot3
    else:  # the cpu backend in drizzle's place
        cpu = get_backend("cpu")

        def Drizzle3(**kw):  # noqa: N802 - stands for drizzle's class
            return Drizzle(backend=cpu, **kw)

        def blot3(data, pixmap, interp):
            return blot_image(data, pixmap, interp=interp, backend=cpu)
    tight = args.anchor == "cpu"
    times = {}

    n = args.size
    data, pixmap = image(n), rotated_pixmap(n)
    backends = [get_backend(b) for b in args.backends.split(",")]
    only = set(filter(None, args.only.split(",")))
    print(f"{n}x{n}, 1 deg rotation, 0.98 scale, best of {args.repeat}")
    anchor_name = "drizzle 3.0" if args.anchor == "drizzle" else "cpu anchor"
    print(f"{'case':18s} {anchor_name:>12s} " + " ".join(f"{b.name:>10s} {'ratio':>6s}" for b in backends))
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
        times[name] = {anchor_name: t_ref}
        for b in backends:
            on_device = b.xp is not np
            d_data = b.asarray(data, np.float32) if on_device else data
            d_map = b.asarray(pixmap, np.float64) if on_device else pixmap
            if name.startswith("drizzle"):
                ours = drizzle_run(Drizzle, what, backend=b)
                inner = (slice(16, -16), slice(16, -16))
                scale = np.abs(ref.out_wht[inner]).max()
                assert np.allclose(ours.out_wht[inner], ref.out_wht[inner], rtol=1e-4, atol=1e-5 * scale)
                if tight:
                    np.testing.assert_allclose(ours.out_img, ref.out_img, rtol=1e-5, atol=1e-5,
                                               equal_nan=True)

                def run():
                    d = Drizzle(kernel=what, out_shape=(n, n), backend=b)
                    d.add_image(d_data, exptime=1.0, pixmap=d_map, pixel_scale_ratio=1 / 0.98)
                    b.synchronize()
            else:
                out = blot_image(data, pixmap, interp=what, backend=b)
                inner = (slice(16, -16), slice(16, -16))
                # drizzle 3.0 rounds blot positions to float32: compare typical pixels
                rel = np.abs(out[inner] - ref_img[inner]) / np.abs(ref_img[inner])
                assert np.median(rel) < 1e-4
                if tight:
                    np.testing.assert_allclose(out, ref_img, rtol=1e-5, atol=1e-5)

                d_out = b.xp.empty((n, n), np.float32) if on_device else None

                def run():
                    blot_image(d_data, d_map, out_img=d_out, interp=what, backend=b)
                    b.synchronize()
            t = best(run, args.repeat)
            times[name][b.name] = t
            row += f"{t:9.3f}s {t_ref / t:6.2f}"
        print(row, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": n, "anchor": anchor_name, "times": times}, f, indent=1)


if __name__ == "__main__":
    main()
