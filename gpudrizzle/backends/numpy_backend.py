"""The ``numpy`` backend: the plain reference implementations of ``cpu_fallback``."""

import numpy as np

from ..cpu_fallback import blot as ref_blot
from ..cpu_fallback import crmask as ref_crmask
from ..cpu_fallback import drizzle as ref_drizzle
from ..cpu_fallback import findstars as ref_findstars
from ..cpu_fallback import median as ref_median
from ..cpu_fallback import pixmap as ref_pixmap
from ..cpu_fallback import stats as ref_stats
from .base import Backend

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Runs the numpy reference code; arrays are ``numpy.ndarray``."""

    name = "numpy"
    xp = np

    def drizzle(self, kernel, **args):
        ref_drizzle.add_image(kernel, **args)

    def blot(self, interp, **args):
        ref_blot.blot(interp, **args)

    def mean(self, acc, w2d2, base, fill, out):
        ref_drizzle.weighted_mean(acc, w2d2, base, fill, out)

    def weight(self, acc, out):
        out[...] = acc[..., 1]

    def pixmap(self, **args):
        ref_pixmap.interpolate(**args)

    def pixmap_lookup(self, **args):
        ref_pixmap.lookup(**args)

    def combine(self, kind, **args):
        if kind == "sum":
            ref_median.combine_sum(**args)
        else:
            ref_median.combine(kind, **args)

    def minmed_stats(self, **args):
        ref_median.minmed_stats(**args)

    def minmed_select(self, **args):
        ref_median.minmed_select(**args)

    def crmask_tests(self, **args):
        ref_crmask.tests(**args)

    def crmask_neighbours(self, **args):
        ref_crmask.neighbours(**args)

    def crmask_grow(self, **args):
        ref_crmask.grow(**args)

    def moments(self, **args):
        ref_stats.moments(**args)

    def histogram(self, **args):
        ref_stats.histogram(**args)

    def pick(self, **args):
        ref_stats.pick(**args)

    def findstars_convolve(self, **args):
        ref_findstars.convolve(**args)

    def findstars_peaks(self, **args):
        ref_findstars.peaks(**args)

    def findstars_measure(self, **args):
        ref_findstars.measure(**args)
