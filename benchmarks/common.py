"""Inputs shared by the benchmarks: the REFERENCE.md setup (1 degree rotation, 0.98 scale)."""

import time

import numpy as np


def rotated_pixmap(n, angle_deg=1.0, scale=0.98):
    """Pixel map (n, n, 2) float64 rotating by ``angle_deg`` and scaling by ``scale`` about the centre."""
    y, x = np.indices((n, n), dtype=np.float64)
    t = np.deg2rad(angle_deg)
    c = (n - 1) / 2
    xo = scale * (np.cos(t) * (x - c) - np.sin(t) * (y - c)) + c
    yo = scale * (np.sin(t) * (x - c) + np.cos(t) * (y - c)) + c
    return np.dstack([xo, yo])


def image(n, seed=0):
    """A positive float32 image (n, n)."""
    return (1.0 + np.random.default_rng(seed).random((n, n))).astype(np.float32)


def best(fn, repeat):
    """Best wall time of ``repeat`` calls of ``fn`` after one warm-up call (compilation,
    page faults of the inputs)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
