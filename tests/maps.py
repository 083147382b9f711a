"""Synthetic pixel maps for tests: affine maps plus an optional SIP-like distortion."""

import numpy as np

#: name -> (rotation deg, scale, flip, distortion); scale = output pixels per input pixel
MAP_KINDS = {
    "shift": (0.0, 1.0, False, 0.0),
    "rotation": (37.0, 1.0, False, 0.0),
    "scale_half": (12.0, 0.5, False, 0.0),
    "scale_two": (-8.0, 2.0, False, 0.0),
    "distorted": (3.0, 1.1, False, 4e-5),
    "flipped": (20.0, 0.9, True, 0.0),
}


def make_pixmap(kind, shape, rng, centre=None):
    """Pixel map (ny, nx, 2) of ``kind`` with a random sub-pixel offset.

    The input image centre lands at ``centre`` (x, y) of the output frame
    (default: at the input centre).  Returns (pixmap, scale) where scale is
    output pixels per input pixel (1 / pixel_scale_ratio).
    """
    rot, scale, flip, dist = MAP_KINDS[kind]
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    u = x - (nx - 1) / 2
    v = y - (ny - 1) / 2
    if flip:
        u = -u
    # SIP-like quadratic and cubic terms
    u, v = u + dist * (u * u - 0.5 * u * v) + 0.3 * dist * dist * u**3, v + dist * (v * v + u * v)
    t = np.deg2rad(rot + rng.uniform(-1, 1))
    xo = scale * (np.cos(t) * u - np.sin(t) * v)
    yo = scale * (np.sin(t) * u + np.cos(t) * v)
    cx, cy = centre if centre is not None else ((nx - 1) / 2, (ny - 1) / 2)
    xo += cx + rng.uniform(-0.5, 0.5)
    yo += cy + rng.uniform(-0.5, 0.5)
    return np.dstack([xo, yo]), scale
