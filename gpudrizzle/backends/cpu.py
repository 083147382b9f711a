"""The ``cpu`` backend: the CUDA sources compiled by the host C++ compiler.

The library is built once per (sources, compiler, flags) into a cache
directory and loaded with ctypes.  Several processes may build at the same
time: each writes its own temporary file and renames it into place.
"""

import atexit
import contextlib
import ctypes
import functools
import hashlib
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..kernels import KERNELS, SOURCE_FILES, load_source, parse_kind, sources_digest
from .base import KernelBackend

__all__ = ["CpuBackend", "build_library", "cache_dir", "cgroup_cpu_limit", "compiler_info",
           "default_threads"]

log = logging.getLogger("gpudrizzle")

DEFAULT_FLAGS = ("-O3", "-fno-math-errno", "-std=c++17", "-fopenmp", "-fPIC", "-shared", "-x", "c++")
_CTYPES = {
    np.dtype("float32"): ctypes.c_float,
    np.dtype("float64"): ctypes.c_double,
    np.dtype("int32"): ctypes.c_int32,
    np.dtype("uint32"): ctypes.c_uint32,
    np.dtype("int64"): ctypes.c_int64,
}


def _configured_cache():
    """$GPUDRIZZLE_CACHE_DIR, else ``$XDG_CACHE_HOME/gpudrizzle`` (``~/.cache/gpudrizzle``)."""
    env = os.environ.get("GPUDRIZZLE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gpudrizzle"


def _unwritable(directory):
    """None when files can be created in ``directory`` (made if missing), else the reason."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


@functools.lru_cache(maxsize=None)
def _private_temporary_cache():
    """A kernel cache under the system temporary directory that only this user can write.

    ``<tmp>/gpudrizzle-cache-<uid>`` is kept between runs (libraries are
    not built again) when this user owns it and nobody else can write to it;
    otherwise a fresh directory is made for this process and removed at exit.
    """
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    shared = Path(tempfile.gettempdir()) / f"gpudrizzle-cache-{user}"
    try:
        shared.mkdir(mode=0o700, exist_ok=True)
        st = shared.lstat()
        owned = not hasattr(os, "getuid") or st.st_uid == os.getuid()
        if owned and not st.st_mode & 0o022 and _unwritable(shared) is None:
            return shared
    except OSError:
        pass
    fresh = Path(tempfile.mkdtemp(prefix="gpudrizzle-cache-"))
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    return fresh


@functools.lru_cache(maxsize=None)
def _fallback_for(configured):
    """The temporary cache used instead of ``configured``; warns once per directory."""
    reason = _unwritable(configured) or "a sub-directory cannot be written"
    try:
        fallback = _private_temporary_cache()
    except OSError as exc:
        raise RuntimeError(f"kernel cache {configured} cannot be written ({reason}) and no "
                           f"temporary directory can be made ({exc}); set "
                           "GPUDRIZZLE_CACHE_DIR to a writable directory") from None
    log.warning("kernel cache %s cannot be written (%s); using %s instead (set "
                "GPUDRIZZLE_CACHE_DIR to a writable directory to keep built kernels)",
                configured, reason, fallback)
    return fallback


def cache_dir(subdir=""):
    """Writable directory for built kernels (made if missing).

    $GPUDRIZZLE_CACHE_DIR, else the user cache (``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``gpudrizzle``).  When that cannot be written, a
    private directory under the system temporary directory, with one warning
    naming both; the cpu and cuda backends' caches (``subdir`` "cubin") both
    come from here.

    Parameters
    ----------
    subdir : str
        Sub-directory of the cache ("" for the host libraries).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    RuntimeError
        Neither the cache nor a temporary directory can be written (the
        backend then cannot run, and ``auto`` takes the next one).
    """
    configured = _configured_cache()
    reason = _unwritable(configured / subdir)
    if reason is None:
        return configured / subdir
    path = _fallback_for(configured) / subdir
    reason = _unwritable(path)
    if reason is not None:
        raise RuntimeError(f"kernel cache {path} cannot be written ({reason})")
    return path


def _read_words(path):
    """The whitespace-separated words of a small file, or None when it cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read().split()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_cpus(quota, period):
    """CPUs a CFS quota allows (rounded up), or None for "no limit" or unreadable values."""
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def cgroup_cpu_limit(root="/sys/fs/cgroup"):
    """CPUs the cgroup CPU quota of this process allows, or None without a quota.

    Parameters
    ----------
    root : str
        Where the cgroup file system is mounted: cgroup v2's ``cpu.max``
        ("quota period", quota ``max`` = none) is read first, then cgroup v1's
        ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1 = none) under ``cpu/``
        or ``cpu,cpuacct/``.

    Returns
    -------
    int or None
        ``ceil(quota / period)``.
    """
    words = _read_words(os.path.join(root, "cpu.max"))
    if words and len(words) == 2:
        return None if words[0] == "max" else _quota_cpus(*words)
    for sub in ("cpu", "cpu,cpuacct"):
        quota = _read_words(os.path.join(root, sub, "cpu.cfs_quota_us"))
        period = _read_words(os.path.join(root, sub, "cpu.cfs_period_us"))
        if quota and period:
            return _quota_cpus(quota[0], period[0])
    return None


def default_threads(root="/sys/fs/cgroup"):
    """Threads a run uses by default: the CPUs of this process's affinity mask, at most the
    cgroup CPU quota (:func:`cgroup_cpu_limit`); ``os.cpu_count()`` where there is no mask."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root)
    return max(1, cpus if quota is None else min(cpus, quota))


def _flags():
    """Compiler flags: $GPUDRIZZLE_CXXFLAGS (whitespace separated) replaces the optimisation
    and debug flags, e.g. ``-O1 -g -fsanitize=address,undefined``."""
    extra = os.environ.get("GPUDRIZZLE_CXXFLAGS")
    if not extra:
        return DEFAULT_FLAGS
    return tuple(extra.split()) + tuple(f for f in DEFAULT_FLAGS if f != "-O3")


@functools.lru_cache(maxsize=None)
def compiler_info():
    """Return (path, version line) of the host C++ compiler, or raise RuntimeError."""
    candidates = [os.environ.get("CXX"), "g++", "c++", "clang++"]
    for cxx in filter(None, candidates):
        path = shutil.which(cxx)
        if not path:
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            return path, out.stdout.splitlines()[0]
    raise RuntimeError(f"no C++ compiler: none of {[c for c in candidates if c]} found on PATH")


def build_library():
    """Build (or find in the cache) the host kernel library and return its path."""
    cxx, version = compiler_info()
    flags = _flags()
    key = hashlib.sha256(
        "\n".join([sources_digest(), version, " ".join(flags), sys.platform]).encode()
    ).hexdigest()[:20]
    target = cache_dir() / f"gpudrizzle_kernels_{key}.so"
    if target.exists():
        return target
    try:
        _compile(cxx, flags, target)
    except OSError as exc:  # e.g. the disk filled up: the backend cannot run, auto goes on
        raise RuntimeError(f"cannot build the cpu kernels in {target.parent}: {exc}") from None
    return target


def _compile(cxx, flags, target):
    """Compile the kernel sources into ``target``, through a temporary file beside it."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        srcs = []
        for name in SOURCE_FILES:
            src = Path(tmp) / name
            src.write_text(load_source(name), encoding="utf-8")
            srcs.append(str(src))
        out = Path(tmp) / target.name
        cmd = [cxx, *flags, *srcs, "-o", str(out)]
        log.info("building cpu kernels: %s", " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"no working C++ compiler: {' '.join(cmd)} failed:\n{res.stderr}")
        os.replace(out, target)


class CpuBackend(KernelBackend):
    """Runs the kernels on the host with OpenMP; arrays are ``numpy.ndarray``."""

    name = "cpu"
    xp = np

    def __init__(self):
        self.library_path = build_library()
        # Idle OpenMP threads sleep instead of spinning: spinning threads make
        # every parallel region slow whenever other processes share the cores.
        # (Read when the OpenMP runtime loads; a user's setting wins.)
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        self._lib = ctypes.CDLL(str(self.library_path))
        for name, spec in KERNELS.items():
            fn = getattr(self._lib, name)
            argtypes = []
            for _, kind in spec:
                dtype, is_array, _ = parse_kind(kind)
                argtypes.append(ctypes.c_void_p if is_array else _CTYPES[dtype])
            fn.argtypes = argtypes
            fn.restype = None
        # the OpenMP runtime the library links (found through the library's handle)
        self._lib.omp_get_max_threads.argtypes, self._lib.omp_get_max_threads.restype = [], ctypes.c_int
        self._lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        self._lib.omp_set_num_threads.restype = None

    @contextlib.contextmanager
    def limit_threads(self, n):
        """Within the block, the kernels called from this thread run on at most ``n`` threads.

        Sets the OpenMP runtime's thread count of the calling thread
        (``omp_set_num_threads``, from the library's own OpenMP runtime) and
        restores the earlier count afterwards.

        Parameters
        ----------
        n : int
            Threads, >= 1.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"'n' must be an integer >= 1; got {n!r}")
        before = self._lib.omp_get_max_threads()
        self._lib.omp_set_num_threads(n)
        try:
            yield
        finally:
            self._lib.omp_set_num_threads(before)

    def _null(self):
        return None

    def _pointer(self, a):
        return a.ctypes.data

    def _call(self, name, n, values):
        if n > 0:
            getattr(self._lib, name)(*values)
