"""Built-in demo: a synthetic dithered HST-like data set through the full AstroDrizzle pipeline.

``gpudrizzle demo [--size small|full] [--outdir DIR]`` (or the alias
``python -m gpudrizzle.demo``) writes four dithered ACS/WFC-like exposures
(two chips each, stars on a sky background with Poisson and read noise,
cosmic-ray tracks, bad columns flagged in DQ, SIP distortion; made by
:mod:`gpudrizzle.synthetic`, nothing is downloaded), runs every
AstroDrizzle step on them (static mask, sky, separate drizzle, median,
blot, cosmic-ray detection, final drizzle) and writes the drizzled product,
its log, a JSON run report and a quick-look picture.

Sizes (:data:`DEMO_SIZES`): ``small`` has 256 x 512 chips and runs in
seconds on a laptop; ``full`` has ACS/WFC's real 2048 x 4096 chips
(about 0.7 GB of inputs), a realistic GPU workload.
"""

import math
import os
import sys
from typing import NamedTuple

import numpy as np

from .synthetic import DEFAULT_SIP, random_stars, write_flt

__all__ = ["DemoSize", "DEMO_SIZES", "DEMO_POINTING", "write_demo_data", "main"]

#: Sky position (degrees) of the demo field.
DEMO_POINTING = (150.1, 2.2)
#: Detector pixels between consecutive dither positions (a four-point box with
#: half-pixel offsets, as the ACS-WFC-DITHER-BOX pattern uses).
DEMO_DITHERS = ((0.0, 0.0), (5.0, 1.5), (2.5, 4.5), (-2.5, 3.0))


class DemoSize(NamedTuple):
    """Layout of a demo data set.

    Attributes
    ----------
    chip_shape : (int, int)
        (ny, nx) of each of the two chips.
    gap : int
        Pixels between the chips.
    n_stars : int
        Stars in the field.
    cosmic_rays : int
        Cosmic-ray tracks per chip and exposure.
    exptime : float
        Seconds per exposure.
    """

    chip_shape: tuple
    gap: int
    n_stars: int
    cosmic_rays: int
    exptime: float


#: ``small``: seconds on 2 CPU cores; ``full``: ACS/WFC's real chip size.
DEMO_SIZES = {
    "small": DemoSize((256, 512), 8, 150, 40, 500.0),
    "full": DemoSize((2048, 4096), 50, 4000, 2500, 500.0),
}


def _scaled_sip(nx):
    """:data:`gpudrizzle.synthetic.DEFAULT_SIP` scaled so the distortion at the chip
    edge is as large (relative to the chip) on an ``nx``-wide chip as on a 128-pixel one."""
    factor = nx / 128.0
    return {name: value * factor ** (1 - (int(name[2]) + int(name[4])))
            for name, value in DEFAULT_SIP.items()}


def write_demo_data(directory, size="small", seed=2024):
    """Write the demo's synthetic exposures.

    Parameters
    ----------
    directory : path-like
        Created if missing; receives ``j9dm0{1..4}aq_flt.fits``.
    size : {"small", "full"}
        Key of :data:`DEMO_SIZES`.
    seed : int
        Seed of the star field, noise and cosmic rays.

    Returns
    -------
    list of gpudrizzle.synthetic.SyntheticExposure
        What was written, with the truth (star positions, cosmic-ray masks).

    Raises
    ------
    ValueError
        Unknown ``size``.
    """
    if size not in DEMO_SIZES:
        raise ValueError(f"demo size must be one of {', '.join(map(repr, DEMO_SIZES))}; got {size!r}")
    layout = DEMO_SIZES[size]
    ny, nx = layout.chip_shape
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    # stars over the two-chip footprint (0.05 arcsec pixels)
    radius = 0.05 * 0.5 * math.hypot(nx, 2 * ny + layout.gap)
    stars = random_stars(DEMO_POINTING, layout.n_stars, rng, radius_arcsec=radius,
                         rates=(5.0, 400.0))
    written = []
    for i, dither in enumerate(DEMO_DITHERS):
        written.append(write_flt(
            directory, f"j9dm0{i + 1}aq", pointing=DEMO_POINTING, orient=30.0, dither=dither,
            chip_shape=layout.chip_shape, gap=layout.gap, exptime=layout.exptime, sky_rate=0.1,
            stars=stars, cosmic_rays=layout.cosmic_rays, bad_columns=(nx // 3,),
            sip=_scaled_sip(nx), seed=seed + i + 1, expstart=55000.0 + 0.02 * i))
    return written


def main(argv=None):
    """``python -m gpudrizzle.demo [options]``: the same as ``gpudrizzle demo [options]``."""
    from .cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
