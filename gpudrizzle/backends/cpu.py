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

from ..files import write_text
from ..kernels import KERNELS, SOURCE_FILES, load_source, parse_kind, sources_digest
from .base import KernelBackend

__all__ = ["CpuBackend", "BuildFailed", "build_library", "cache_dir", "cgroup_cpu_limit",
           "compiler_info", "default_threads", "library_files"]

log = logging.getLogger("gpudrizzle")

# -ffp-contract=off: no fused multiply-add even where $GPUDRIZZLE_CXXFLAGS enables an
# instruction set that has one, so that the values are those of the CUDA build (fmad=false)
DEFAULT_FLAGS = ("-O3", "-fno-math-errno", "-ffp-contract=off", "-std=c++17", "-fopenmp",
                 "-fPIC", "-shared", "-x", "c++")
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


def _library_names():
    """(compiler path, compiler version, flags, the cache file stem) of this machine's build.

    The stem ``gpudrizzle_kernels_<key>`` is keyed by a hash of the kernel
    sources, the compiler's version line, the flags and the platform: the
    library (``<stem>.so``), its single-threaded build (``<stem>-serial.so``)
    and the marker of a failed build (``<stem>.failed``) all share it.
    """
    cxx, version = compiler_info()
    flags = _flags()
    key = hashlib.sha256(
        "\n".join([sources_digest(), version, " ".join(flags), sys.platform]).encode()
    ).hexdigest()[:20]
    return cxx, version, flags, f"gpudrizzle_kernels_{key}"


class BuildFailed(RuntimeError):
    """The host compiler could not build the kernels (the message names the command)."""


def library_files(directory=None):
    """Paths of the built host libraries, build logs and failure markers in the kernel cache.

    Parameters
    ----------
    directory : path-like, optional
        The cache to list (default :func:`cache_dir`).

    Returns
    -------
    list of pathlib.Path
        Sorted by name; ``*.so`` libraries, ``*.failed`` markers.
    """
    directory = Path(cache_dir() if directory is None else directory)
    return sorted(p for p in directory.glob("gpudrizzle_kernels_*")
                  if p.suffix in (".so", ".failed") and p.is_file())


@functools.lru_cache(maxsize=None)
def _warn_serial(path):
    log.warning("the cpu kernels run single-threaded: the compiler has no OpenMP (%s); "
                "install OpenMP support (e.g. libgomp or libomp) and run "
                "'gpudrizzle build-kernels --force' for multi-threaded kernels", path)


def build_library(force=False):
    """Build (or find in the cache) the host kernel library and return its path.

    The first build (about 10 s) logs one warning naming the compiler and the
    cache directory.  When the compiler rejects ``-fopenmp`` the kernels are
    built without it (single-threaded, with a warning).  A build that fails
    leaves a marker (``<stem>.failed``, holding the command and the compiler's
    messages) so that later runs report it at once instead of compiling
    again; ``force=True`` builds again regardless.

    Parameters
    ----------
    force : bool
        Build even if a library or a failure marker is in the cache.

    Returns
    -------
    pathlib.Path
        The ``.so`` file (``-serial.so`` for the build without OpenMP).

    Raises
    ------
    RuntimeError
        No compiler, an unwritable cache, or the build fails (now or earlier:
        :class:`BuildFailed`).
    """
    cxx, version, flags, stem = _library_names()
    directory = cache_dir()
    target, serial = directory / f"{stem}.so", directory / f"{stem}-serial.so"
    marker = directory / f"{stem}.failed"
    if not force:
        if target.exists():
            return target
        if serial.exists():
            _warn_serial(serial)
            return serial
        if marker.exists():
            raise BuildFailed(
                f"the cpu kernels failed to build earlier with {cxx} (details in {marker}); "
                "after fixing the compiler run 'gpudrizzle build-kernels --force' to try again")
    log.warning("building the cpu kernels with %s (%sabout 10 s) into %s", cxx,
                "" if force else "first use, ", directory)
    try:
        try:
            _compile(cxx, flags, target)
        except BuildFailed as exc:
            if "-fopenmp" not in flags:
                raise
            try:  # a compiler without OpenMP still builds the kernels, single-threaded
                _compile(cxx, tuple(f for f in flags if f != "-fopenmp"), serial)
            except BuildFailed:
                raise exc from None
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
            _warn_serial.cache_clear()
            _warn_serial(serial)
            return serial
    except BuildFailed as exc:
        try:
            write_text(marker, f"{exc}\ncompiler: {cxx} ({version})\n", durable=False)
        except OSError:
            pass  # unremembered: the next run tries again
        raise BuildFailed(f"{exc}\n(remembered in {marker}: later runs do not build again "
                          "until 'gpudrizzle build-kernels --force')") from None
    except OSError as exc:  # e.g. the disk filled up: the backend cannot run, auto goes on
        raise RuntimeError(f"cannot build the cpu kernels in {target.parent}: {exc}") from None
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()
    if force:
        with contextlib.suppress(FileNotFoundError):
            serial.unlink()  # the threaded library now wins
    return target


def _run_compiler(cmd):
    """Run a compile command; (return code, stderr)."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    return res.returncode, res.stderr


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
        code, stderr = _run_compiler(cmd)
        if code != 0:
            raise BuildFailed(f"no working C++ compiler: {' '.join(cmd)} failed:\n{stderr}")
        os.replace(out, target)


class CpuBackend(KernelBackend):
    """Runs the kernels on the host with OpenMP; arrays are ``numpy.ndarray``."""

    name = "cpu"
    xp = np

    def __init__(self):
        self.library_path = build_library()
        #: False for the single-threaded build of a compiler without OpenMP
        self.threaded = not self.library_path.name.endswith("-serial.so")
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
        if self.threaded:  # the OpenMP runtime the library links (through the library's handle)
            self._lib.omp_get_max_threads.argtypes = []
            self._lib.omp_get_max_threads.restype = ctypes.c_int
            self._lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            self._lib.omp_set_num_threads.restype = None

    @contextlib.contextmanager
    def limit_threads(self, n):
        """Within the block, the kernels called from this thread run on at most ``n`` threads.

        Sets the OpenMP runtime's thread count of the calling thread
        (``omp_set_num_threads``, from the library's own OpenMP runtime) and
        restores the earlier count afterwards; the single-threaded build (no
        OpenMP) always runs on one thread.

        Parameters
        ----------
        n : int
            Threads, >= 1.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"'n' must be an integer >= 1; got {n!r}")
        if not self.threaded:  # single-threaded build: nothing to limit
            yield
            return
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
