"""Time the pixel map of a full HST chip: interpolated on a backend vs exact astropy evaluation.

    python benchmarks/bench_pixmap.py [--backend cpu] [--repeat 5] [--data ../shared/data]

Input: the WFC3/UVIS chip 1 WCS of ``wfc3_sample_ipppssoot_flc.fits`` (SIP
order 4 + D2IMARR + WCSDVARR lookup tables) grown to the full 4096x2051 chip;
output: a north-up tangent-plane frame at the same pixel scale.  The anchor
is drizzle 3.0's ``calc_pixmap``, i.e. ``wcs_to.world_to_pixel_values(
*wcs_from.pixel_to_world_values(x, y))`` on every pixel.  Each case runs once
to warm up (kernel compilation, page faults), then the best of ``--repeat``
runs is kept (``--repeat-exact`` for the slow anchor); GPU work is
synchronised inside the timing.  The largest distance between the two maps
over every pixel is reported; the goal is a ratio of at least 20 at <= 1e-4 px.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from gpudrizzle import get_backend
from gpudrizzle.pixmap import compute_pixmap

CHIP_SHAPE = (2051, 4096)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def chip_and_output_wcs(data_dir):
    """(input WCS with full HST distortion, north-up TAN output WCS) for the full chip."""
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(Path(data_dir) / "wfc3_sample_ipppssoot_flc.fits") as hdul:
        wcs_in = WCS(hdul[("SCI", 1)].header, hdul)
    wcs_in.pixel_shape = CHIP_SHAPE[::-1]
    ny, nx = CHIP_SHAPE
    ra, dec = wcs_in.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2)
    scale = np.sqrt(abs(np.linalg.det(wcs_in.pixel_scale_matrix)))
    wcs_out = WCS(naxis=2)
    wcs_out.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs_out.wcs.crval = [float(ra), float(dec)]
    wcs_out.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs_out.wcs.crpix = [2400.0, 2400.0]
    wcs_out.pixel_shape = (4800, 4800)
    return wcs_in, wcs_out


def best(fn, repeat, sync=lambda: None):
    fn()  # warm up
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="cpu")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--repeat-exact", type=int, default=2)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the shared WCS headers")
    args = p.parse_args()
    backend = get_backend(args.backend)
    wcs_in, wcs_out = chip_and_output_wcs(args.data)
    ny, nx = CHIP_SHAPE
    results = {}

    def interpolated():
        results["interp"] = compute_pixmap(wcs_in, wcs_out, CHIP_SHAPE, backend=backend,
                                           device_array=True)

    def exact():
        y, x = np.indices(CHIP_SHAPE, dtype=np.float64)
        ox, oy = wcs_out.world_to_pixel_values(*wcs_in.pixel_to_world_values(x, y))
        results["exact"] = np.dstack([ox, oy])

    t_interp = best(interpolated, args.repeat, backend.synchronize)
    t_exact = best(exact, args.repeat_exact)
    res = results["interp"]
    diff = backend.to_host(res.pixmap) - results["exact"]
    err = float(np.nanmax(np.hypot(diff[..., 0], diff[..., 1])))
    print(f"WFC3/UVIS chip {nx}x{ny}, SIP + D2IMARR + WCSDVARR -> north-up TAN")
    print(f"exact astropy (drizzle 3.0 calc_pixmap): {t_exact:8.3f} s  (best of {args.repeat_exact})")
    print(f"interpolated, {backend.name:>6s} backend:     {t_interp:8.3f} s  (best of {args.repeat}; "
          f"stepsize {res.stepsize:g}, check error {res.max_error:.2e} px, {res.n_exact} pixels exact)")
    print(f"speed-up: {t_exact / t_interp:.1f}x   max error over all pixels: {err:.2e} px")


if __name__ == "__main__":
    main()
