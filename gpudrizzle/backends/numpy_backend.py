"""The ``numpy`` backend: the plain reference implementations of ``cpu_fallback``."""

import numpy as np

from ..cpu_fallback import drizzle as ref_drizzle
from .base import Backend

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Runs the numpy reference code; arrays are ``numpy.ndarray``."""

    name = "numpy"
    xp = np

    def drizzle(self, kernel, **args):
        ref_drizzle.add_image(kernel, **args)
