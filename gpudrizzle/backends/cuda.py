"""The ``cuda`` backend: the kernels compiled by NVRTC to cubins and loaded through CuPy.

The cubins come from :mod:`gpudrizzle.backends.nvrtc` (our options, cached on
disk), not from ``cupy.RawModule(code=...)``, which would append
``-ftz=true`` to the options.
"""

import functools
import math

import numpy as np

from ..kernels import BLOCK_KERNELS, SOURCE_FILES, source_constant
from . import nvrtc
from .base import KernelBackend

__all__ = ["CudaBackend", "unavailable_reason", "device_info"]

#: threads per block of every launch: GD_BLOCK of common.cuh, which the block kernels assume
BLOCK = source_constant("stats.cu", "GD_BLOCK")

_INSTALL = "install gpudrizzle[cuda12] or gpudrizzle[cuda13] (the one of your CUDA driver)"


def device_info():
    """Name, compute capability and memory of the current CuPy device.

    Returns
    -------
    dict
        ``id``, ``name`` (str), ``compute_capability`` (e.g. ``"90"``),
        ``total_memory`` and ``free_memory`` (bytes), ``multiprocessors``,
        ``runtime_version`` and ``driver_version`` (CUDA's integers, e.g.
        12080).  Raises whatever CuPy raises when there is no device.
    """
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    free, total = cupy.cuda.runtime.memGetInfo()
    return {
        "id": dev.id,
        "name": props["name"].decode(errors="replace"),
        "compute_capability": f"{props['major']}{props['minor']}",
        "total_memory": int(props["totalGlobalMem"]),
        "free_memory": int(free),
        "multiprocessors": int(props["multiProcessorCount"]),
        "runtime_version": int(cupy.cuda.runtime.runtimeGetVersion()),
        "driver_version": int(cupy.cuda.runtime.driverGetVersion()),
    }


def unavailable_reason():
    """Why the cuda backend cannot run here, or None when it can.

    Needs CuPy with a device, NVRTC (cuda-bindings and its NVRTC wheel) and
    compute capability 7.5 or newer: float64 ``atomicAdd`` needs 6.0, and
    sm_75 is the oldest architecture the kernels are built and tested for.
    """
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return f"no CUDA device: CuPy is not importable ({exc}); {_INSTALL}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"no CUDA device: {exc}"
    if count < 1:
        return "no CUDA device: CuPy sees no GPU"
    try:
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        major, minor = int(props["major"]), int(props["minor"])
        name = props["name"].decode(errors="replace")
    except Exception as exc:
        return f"CUDA device not usable: {exc}"
    if major * 10 + minor < nvrtc.MIN_ARCH:
        need = nvrtc.MIN_ARCH
        return (f"GPU {name} has compute capability {major}.{minor}; gpudrizzle needs "
                f"{need // 10}.{need % 10} or newer (float64 atomicAdd needs 6.0, and "
                f"sm_{need} is the oldest architecture the kernels are built and tested for)")
    return nvrtc.unavailable_reason()


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

        dev = cupy.cuda.Device(device_id)
        path = nvrtc.cubin_path(source, dev.compute_capability)
        with dev:  # the module is loaded into this device's context
            return cupy.RawModule(path=str(path))

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
