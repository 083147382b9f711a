"""The ``cuda`` backend: kernels compiled by NVRTC through CuPy."""

import functools
import math

import numpy as np

from ..kernels import BLOCK_KERNELS, SOURCE_FILES, load_source
from .base import KernelBackend

__all__ = ["CudaBackend", "unavailable_reason"]

NVRTC_OPTIONS = ("-std=c++17",)
BLOCK = 256


def unavailable_reason():
    """Why the cuda backend cannot run here, or None when it can."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return f"no CUDA device: CuPy is not importable ({exc}); install gpudrizzle[gpu]"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"no CUDA device: {exc}"
    if count < 1:
        return "no CUDA device: CuPy sees no GPU"
    return None


class CudaBackend(KernelBackend):
    """Runs the kernels on the current CuPy device; arrays are ``cupy.ndarray``."""

    name = "cuda"

    def __init__(self):
        import cupy

        self.xp = cupy
        dev = cupy.cuda.Device()
        self.device_name = cupy.cuda.runtime.getDeviceProperties(dev.id)["name"].decode()
        self._sm_count = dev.attributes["MultiProcessorCount"]

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _module(device_id, source):
        import cupy

        with cupy.cuda.Device(device_id):
            return cupy.RawModule(code=load_source(source), options=NVRTC_OPTIONS)

    def _function(self, name):
        import cupy

        source = next(s for s, names in SOURCE_FILES.items() if name in names)
        return self._module(cupy.cuda.Device().id, source).get_function(name)

    def _null(self):
        return np.uint64(0)

    def _pointer(self, a):
        return a

    def _call(self, name, n, values):
        if n <= 0:
            return
        if name in BLOCK_KERNELS:  # one block per work item
            grid = n
        else:  # one thread per work item, grid-stride beyond 32 blocks per SM
            grid = min(math.ceil(n / BLOCK), self._sm_count * 32)
        self._function(name)((grid,), (BLOCK,), tuple(values))

    def asarray(self, a, dtype):
        if isinstance(a, np.ndarray):  # host data (e.g. big-endian FITS): converted on the host
            a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("="))
        return super().asarray(a, dtype)

    def to_host(self, a):
        return self.xp.asnumpy(a)

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()
