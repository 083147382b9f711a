"""How much memory a step may use on a backend, and how to copy rows onto it."""

import os

import numpy as np

__all__ = ["available_bytes", "copy_rows"]

_FALLBACK_BYTES = 2 << 30


def _host_available():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_BYTES


def available_bytes(backend):
    """Memory that can still be allocated where ``backend`` keeps its arrays, in bytes.

    Parameters
    ----------
    backend : gpudrizzle.backends.Backend

    Returns
    -------
    int
        Free device memory plus what CuPy's pool holds unused (``cuda``), or
        the host's available memory (``cpu``, ``numpy``).
    """
    if backend.xp is np:
        return _host_available()
    xp = backend.xp
    free, _ = xp.cuda.runtime.memGetInfo()
    return int(free) + int(xp.get_default_memory_pool().free_bytes())


def copy_rows(backend, dst, src):
    """Copy ``src`` (a numpy array, memory map or backend array) into backend array ``dst``.

    Host data is converted to ``dst``'s dtype on the host before it moves,
    so only the converted rows cross to a device.
    """
    if isinstance(src, backend.xp.ndarray):
        dst[...] = src
    elif backend.xp is np:
        dst[...] = src
    else:
        dst[...] = backend.xp.asarray(np.asarray(src, dtype=dst.dtype))
