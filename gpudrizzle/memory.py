"""How much memory a step may use on a backend, how to copy rows onto it, reuse of host
memory, and host array work split by rows over threads."""

import concurrent.futures
import contextlib
import ctypes
import os
import threading

import numpy as np

__all__ = ["available_bytes", "cgroup_memory_available", "check_fits",
           "conversion_bytes", "copy_rows", "reuse_freed_host_memory", "by_rows"]

_FALLBACK_BYTES = 2 << 30
# glibc mallopt parameters and defaults
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_DEFAULT_THRESHOLD = 128 * 1024


# a cgroup memory limit at or above this is "no limit" (v1 writes 2**63 rounded to pages)
_NO_LIMIT = 1 << 60


def _system_available():
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


def _read_int(path):
    """The integer in a one-value file, or None (missing, unreadable, ``max``)."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _inactive_file(path, key):
    """Bytes of ``key`` (the reclaimable file cache) in a cgroup ``memory.stat``, else 0."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return 0


def cgroup_memory_available(root="/sys/fs/cgroup"):
    """Bytes the cgroup memory limit of this process still allows, or None without a limit.

    Parameters
    ----------
    root : str
        Where the cgroup file system is mounted: cgroup v2's ``memory.max``
        and ``memory.current`` are read first, then cgroup v1's
        ``memory/memory.limit_in_bytes`` and ``memory/memory.usage_in_bytes``.

    Returns
    -------
    int or None
        Limit minus usage, the usage without the inactive file cache (which
        the kernel reclaims before it fails an allocation); at least 0.
    """
    layouts = ((root, "memory.max", "memory.current", "inactive_file"),
               (os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes",
                "total_inactive_file"))
    for directory, limit_file, usage_file, cache_key in layouts:
        limit = _read_int(os.path.join(directory, limit_file))
        usage = _read_int(os.path.join(directory, usage_file))
        if limit is None or usage is None:
            continue
        if limit >= _NO_LIMIT:
            return None
        cache = _inactive_file(os.path.join(directory, "memory.stat"), cache_key)
        return max(0, limit - max(0, usage - cache))
    return None


def _host_available():
    """The system's available memory, at most what the cgroup memory limit allows."""
    have = _system_available()
    limited = cgroup_memory_available()
    return have if limited is None else min(have, limited)


def available_bytes(backend):
    """Memory that can still be allocated where ``backend`` keeps its arrays, in bytes.

    Parameters
    ----------
    backend : gpudrizzle.backends.Backend

    Returns
    -------
    int
        Free device memory plus what CuPy's pool holds unused (``cuda``), or
        the host's available memory (``cpu``, ``numpy``): MemAvailable, at
        most what the cgroup memory limit leaves (:func:`cgroup_memory_available`).
    """
    if backend.xp is np:
        return _host_available()
    xp = backend.xp
    free, _ = xp.cuda.runtime.memGetInfo()
    return int(free) + int(xp.get_default_memory_pool().free_bytes())


def _size(nbytes):
    return f"{nbytes / 2 ** 30:.2f} GiB ({int(nbytes)} bytes)"


def check_fits(backend, nbytes, what):
    """Raise MemoryError unless ``nbytes`` more bytes can be allocated on ``backend``.

    Called by every entry point before it allocates its output-sized
    arrays, so that a job that cannot fit fails at once with its size
    instead of swapping or being killed by the operating system.

    Parameters
    ----------
    backend : gpudrizzle.backends.Backend
    nbytes : int
        What the step is about to allocate where ``backend`` keeps arrays.
    what : str
        The step and its arrays, e.g. ``"calc_pixmap: a (1000000, 1000000)
        pixel map"``; starts the message.

    Raises
    ------
    MemoryError
        Naming ``what``, the size needed and the size available.
    """
    have = available_bytes(backend)
    if nbytes > have:
        raise MemoryError(f"{what} would take {_size(nbytes)} on the {backend.name} backend, but "
                          f"only {_size(have)} is available")


def conversion_bytes(backend, a, dtype):
    """Bytes that ``backend.asarray(a, dtype)`` allocates: 0 when ``a`` is already a
    C-contiguous ``backend`` array of ``dtype``, else its size in ``dtype``."""
    dtype = np.dtype(dtype)
    ready = (isinstance(a, backend.xp.ndarray) and a.dtype == dtype and a.flags.c_contiguous
             and (backend.xp is not np or a.dtype.isnative))
    return 0 if ready else int(np.prod(np.shape(a), dtype=np.float64)) * dtype.itemsize


#: Fewest rows a thread of :func:`by_rows` takes (smaller blocks are not worth a thread).
MIN_ROWS_PER_THREAD = 64
_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools():
    """In a forked child, which has none of its parent's threads: new pools, a new lock."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n):
    with _POOLS_LOCK:
        if n not in _POOLS:
            _POOLS[n] = concurrent.futures.ThreadPoolExecutor(
                n, thread_name_prefix="gpudrizzle-rows")
        return _POOLS[n]


def by_rows(xp, threads, nrows, body):
    """Run ``body(rows)`` over blocks of rows, on several threads at once for numpy arrays.

    numpy's element-wise loops release the GIL, so an element-wise step on
    a chip written as ``body`` (reading and writing only rows ``rows`` of
    its arrays) runs on ``threads`` cores; the results are those of one call
    over all rows.

    Parameters
    ----------
    xp : module
        Array module of the arrays (``numpy`` or ``cupy``); anything but
        numpy gets one call with ``slice(None)``.
    threads : int or None
        Threads to use (None or below 2: one call).
    nrows : int
        Rows of the arrays (first axis).
    body : callable
        ``body(rows)`` with ``rows`` a ``slice`` of the first axis.

    Raises
    ------
    Exception
        The first exception a block raised, once every block has ended.
    """
    threads = int(threads or 1)
    nrows = int(nrows)
    k = min(threads, nrows // MIN_ROWS_PER_THREAD)
    if xp is not np or k < 2:
        body(slice(None))
        return
    edges = [nrows * i // k for i in range(k + 1)]
    blocks = [slice(a, b) for a, b in zip(edges, edges[1:])]
    pending = [_pool(k - 1).submit(body, rows) for rows in blocks[1:]]
    try:
        body(blocks[0])  # the caller's thread takes the first block
    finally:
        concurrent.futures.wait(pending)
    for f in pending:
        f.result()


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


@contextlib.contextmanager
def reuse_freed_host_memory(largest=1 << 30):
    """Within the block, freed host arrays up to ``largest`` bytes are kept for reuse.

    glibc gives blocks above its mmap threshold (at most 32 MiB) straight
    back to the system when they are freed, and the system must clear the
    pages of the next one before use; a pipeline that makes and drops
    chip-sized arrays spends much of its time there.  With glibc (Linux) this raises the allocator's mmap and trim
    thresholds for the block and afterwards restores glibc's defaults and
    hands the unused memory back (``malloc_trim``).  Elsewhere it does
    nothing.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        yield
        return
    mallopt.argtypes, trim.argtypes = [ctypes.c_int, ctypes.c_int], [ctypes.c_size_t]
    largest = min(int(largest), 2 ** 31 - 1)
    mallopt(_M_MMAP_THRESHOLD, largest)
    mallopt(_M_TRIM_THRESHOLD, largest)
    try:
        yield
    finally:
        mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)
        trim(0)
