"""Numpy reference implementation of the cosmic-ray kernels.

Written independently of ``cuda_kernels/crmask.cu`` with whole-image numpy
operations: the derivative from a zero-padded copy of the blot, the tests
with float32 scalars (so numpy rounds every step as drizzlepac's numpy code
does), neighbourhoods and growth as logical reductions over shifted views
of padded masks.

Arguments and results are those of :meth:`gpudrizzle.backends.Backend.crmask_tests`,
``crmask_neighbours`` and ``crmask_grow``; the rules are described at the top
of ``cuda_kernels/crmask.cu``.
"""

import numpy as np

__all__ = ["derivative", "tests", "neighbours", "grow"]

_F = np.float32


def derivative(b):
    """Largest |b - neighbour| over the 4 neighbours, zero outside, float64 in and out."""
    padded = np.pad(b, 1)
    ny, nx = b.shape
    d = np.zeros_like(b)
    for dy, dx in ((1, 0), (1, 2), (0, 1), (2, 1)):
        d = np.maximum(np.abs(b - padded[dy:dy + ny, dx:dx + nx]), d)
    return d


def tests(sci, blot, nx, ny, conversion, gain, rn2, backg, snr1, snr2, scale1, scale2, tests,
          deriv):
    """Both snr/scale tests per pixel into ``tests`` (bit 0, bit 1); D into ``deriv``."""
    cf = _F(conversion)
    b = blot.reshape(ny, nx) * cf
    with np.errstate(invalid="ignore", over="ignore"):
        d = derivative(b.astype(np.float64)).astype(np.float32)
        t1 = np.abs(sci.reshape(ny, nx) * cf - b)
        ta = np.sqrt(_F(gain) * np.abs(b + _F(backg)) + _F(rn2))
        lim1 = _F(scale1) * d + _F(snr1) * ta / _F(gain)
        lim2 = _F(scale2) * d + _F(snr2) * ta / _F(gain)
    tests.reshape(ny, nx)[...] = (t1 <= lim1).astype(np.uint8) | ((t1 <= lim2).astype(np.uint8) << 1)
    if deriv is not None:
        deriv.reshape(ny, nx)[...] = d


def neighbours(tests, nx, ny, cr):
    """cr = 1 where neither pass2 holds nor pass1 on the whole 3x3 neighbourhood."""
    t = tests.reshape(ny, nx)
    padded = np.pad((t & 1) != 0, 1, constant_values=True)
    all1 = np.ones((ny, nx), bool)
    for dy in range(3):
        for dx in range(3):
            all1 &= padded[dy:dy + ny, dx:dx + nx]
    good = ((t & 2) != 0) | all1
    cr.reshape(ny, nx)[...] = (~good).astype(np.uint8)


def grow(cr, sci, blot, nx, ny, grow, ctegrow, cte_dir, conversion, crbit, dq, cor, cor_dq,
         crmask):
    """Grow the cosmic rays by the box and the CTE trail; write the outputs."""
    hits = cr.reshape(ny, nx) != 0
    lo, hi = grow // 2, (grow - 1) // 2
    padded = np.pad(hits, ((lo, hi), (lo, hi)))
    bad = np.zeros((ny, nx), bool)
    for dy in range(lo + hi + 1):
        for dx in range(lo + hi + 1):
            bad |= padded[dy:dy + ny, dx:dx + nx]
    if ctegrow > 0 and cte_dir != 0:
        tall = np.pad(hits, ((ctegrow, ctegrow), (0, 0)))
        for t in range(1, ctegrow + 1):
            bad |= tall[ctegrow + cte_dir * t:ctegrow + cte_dir * t + ny]
    crmask.reshape(ny, nx)[...] = (~bad).astype(np.uint8)
    good = ~bad
    if dq is not None:
        dq2 = dq.reshape(ny, nx)
        good &= (dq2 & np.uint32(~crbit & 0xFFFFFFFF)) == 0
        dq2 |= np.where(bad, np.uint32(crbit), np.uint32(0))
    if cor is not None:
        cf = _F(conversion)
        with np.errstate(invalid="ignore", over="ignore"):
            cor.reshape(ny, nx)[...] = np.where(good, sci.reshape(ny, nx) * cf,
                                                blot.reshape(ny, nx) * cf) / cf
    if cor_dq is not None:
        cor_dq.reshape(ny, nx)[...] = np.where(good, np.uint32(0), np.uint32(crbit))
