"""Kernel sources compiled by NVRTC to CUBINs, with our options, cached on disk.

The ``cuda`` backend loads the cubins made here (``cupy.RawModule(path=...)``)
instead of letting CuPy compile the sources: CuPy appends ``-ftz=true`` to
the options it is given, so float32 denormals would flush to zero on the
device and not in the host build.  :func:`nvrtc_options` is the one source
of the compile options; the backend, the tests and
``benchmarks/ptxas_report.py`` all take them from there.

NVRTC needs no GPU or driver.  Two ways to reach it: the ``cuda-bindings``
package (:class:`BindingsNVRTC`, which loads the libnvrtc of its own major
version: 12 or 13), used by the backend, and a minimal ctypes binding of
the C API over a given ``libnvrtc.so`` (:class:`CtypesNVRTC`), used to
compile with the other major version too.
"""

import ctypes
import functools
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

from .. import files
from ..kernels import SOURCE_FILES, load_source

__all__ = [
    "OPTIONS",
    "FMAD",
    "MIN_ARCH",
    "nvrtc_options",
    "nvrtc_version",
    "unavailable_reason",
    "compile_source",
    "cubin_path",
    "cubin_dir",
    "ptxas_report",
    "parse_ptxas_log",
    "ResourceUsage",
    "budget_violations",
    "usage_table",
    "CompileResult",
    "BindingsNVRTC",
    "CtypesNVRTC",
    "find_libnvrtc",
]

#: Options for every source: C++17; unannotated functions (the kernels'
#: lambdas) are device functions (NVRTC 12 refuses them otherwise); IEEE
#: float32 as on the host: denormals kept, division and square root
#: correctly rounded.
OPTIONS = ("-std=c++17", "-default-device", "--ftz=false", "--prec-div=true",
           "--prec-sqrt=true")

#: Per source: whether NVRTC may contract a * b + c into one fused
#: multiply-add, and why.  The host build (g++ -O3 -ffp-contract=off)
#: never contracts, so fmad=true gives results that differ from it in the
#: last bit; every source here makes decisions on its values, so none does.
FMAD = {
    "drizzle.cu": (False, "overlap areas must sum to exactly 0 where drizzle 3.0's do and "
                          "(float)dow == 0.0f decides the context bits: same bits as the host"),
    "blot.cu": (False, "blotted images feed the cosmic-ray thresholds; nearest and exact-pixel "
                       "cases are tested equal to the host build"),
    "pixmap.cu": (False, "the map decides drop footprints and blot positions downstream, so "
                         "cuda and cpu products are equal only if the maps are"),
    "median.cu": (False, "minmed and clipping thresholds compare sums against limits: the same "
                         "pixels must be rejected as on the host"),
    "crmask.cu": (False, "the CR tests emulate float32 rounding of drizzlepac's and are tested "
                         "bit for bit against the host build"),
    "stats.cu": (False, "ImageStats emulates float32 rounding; histogram bins must match the host"),
    "findstars.cu": (False, "candidate tables are compared bit for bit with the host build"),
}

#: Oldest architecture built for and tested (float64 atomicAdd needs sm_60).
MIN_ARCH = 75

_INSTALL_HINT = ("install gpudrizzle[cuda12] (CUDA 12 driver) or gpudrizzle[cuda13] "
                 "(CUDA 13 driver): cuda-bindings and the NVRTC wheel")


def nvrtc_options(source, arch):
    """The NVRTC options ``source`` is compiled with for ``arch``.

    Parameters
    ----------
    source : str
        Kernel source file name, a key of ``gpudrizzle.kernels.SOURCE_FILES``.
    arch : str or int
        Compute capability without the dot, e.g. ``"90"``; ``"compute_90"``
        or ``"sm_90"`` are accepted too.

    Returns
    -------
    tuple of str
        ``-arch=sm_XY`` (or ``compute_XY`` when asked for), :data:`OPTIONS`
        and ``--fmad`` from :data:`FMAD`.
    """
    if source not in FMAD:
        raise ValueError(f"source must be one of {sorted(FMAD)}, got {source!r}")
    target = str(arch)
    if not target.startswith(("sm_", "compute_")):
        target = f"sm_{target}"
    fmad = "true" if FMAD[source][0] else "false"
    return (f"-arch={target}",) + OPTIONS + (f"--fmad={fmad}",)


class CompileResult(NamedTuple):
    """What one NVRTC compile gave: ``ok``, ``log`` (str), ``cubin`` and ``ptx`` (bytes,
    empty when failed or not produced)."""

    ok: bool
    log: str
    cubin: bytes
    ptx: bytes


class BindingsNVRTC:
    """NVRTC through ``cuda.bindings.nvrtc`` (its libnvrtc is that of its major version)."""

    def __init__(self):
        from cuda.bindings import nvrtc

        self._nv = nvrtc
        self.name = "cuda-bindings"

    def _check(self, result, what):
        err = result[0]
        if err != self._nv.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC {what} failed: {err}")
        return result[1:]

    def version(self):
        major, minor = self._check(self._nv.nvrtcVersion(), "nvrtcVersion")
        return int(major), int(minor)

    def supported_archs(self):
        n, = self._check(self._nv.nvrtcGetNumSupportedArchs(), "nvrtcGetNumSupportedArchs")
        archs, = self._check(self._nv.nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs")
        return tuple(int(a) for a in archs[:n])

    def _output(self, get_size, get, prog, what):
        """The ``what`` bytes of a compiled program (``nvrtcGet<what>``), b"" when empty.

        NVRTC writes into the buffer it is given, which must not be one of the bytes
        objects Python shares: ``b" " * 1`` is the interpreter's one ``b" "``, and a
        one-byte log (its NUL terminator alone) written there turned every ``b" "`` of
        the process into ``b"\\0"``.  The buffer is one byte longer than asked for.
        """
        size, = self._check(get_size(prog), f"nvrtcGet{what}Size")
        if not size:
            return b""
        buf = b" " * (size + 1)
        self._check(get(prog, buf), f"nvrtcGet{what}")
        return buf[:size]

    def compile(self, source, name, options):
        nv = self._nv
        prog, = self._check(nv.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []),
                            "nvrtcCreateProgram")
        try:
            opts = [o.encode() for o in options]
            status = nv.nvrtcCompileProgram(prog, len(opts), opts)[0]
            log = self._output(nv.nvrtcGetProgramLogSize, nv.nvrtcGetProgramLog, prog, "ProgramLog")
            log = log.rstrip(b"\x00").decode(errors="replace").strip()
            if status != nv.nvrtcResult.NVRTC_SUCCESS:
                return CompileResult(False, log or str(status), b"", b"")
            cubin = self._output(nv.nvrtcGetCUBINSize, nv.nvrtcGetCUBIN, prog, "CUBIN")
            ptx = self._output(nv.nvrtcGetPTXSize, nv.nvrtcGetPTX, prog, "PTX").rstrip(b"\x00")
            return CompileResult(True, log, cubin, ptx)
        finally:
            nv.nvrtcDestroyProgram(prog)


class CtypesNVRTC:
    """NVRTC through its C API in the shared library at ``path`` (e.g. ``libnvrtc.so.12``)."""

    def __init__(self, path):
        self.path = str(path)
        self.name = os.path.basename(self.path)
        self._lib = lib = ctypes.CDLL(self.path)
        p = ctypes.c_void_p
        size_p = ctypes.POINTER(ctypes.c_size_t)
        int_p = ctypes.POINTER(ctypes.c_int)
        sigs = {
            "nvrtcVersion": (int_p, int_p),
            "nvrtcCreateProgram": (ctypes.POINTER(p), ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.c_int, p, p),
            "nvrtcCompileProgram": (p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)),
            "nvrtcGetProgramLogSize": (p, size_p),
            "nvrtcGetProgramLog": (p, ctypes.c_char_p),
            "nvrtcGetCUBINSize": (p, size_p),
            "nvrtcGetCUBIN": (p, ctypes.c_char_p),
            "nvrtcGetPTXSize": (p, size_p),
            "nvrtcGetPTX": (p, ctypes.c_char_p),
            "nvrtcDestroyProgram": (ctypes.POINTER(p),),
        }
        for fname, argtypes in sigs.items():
            fn = getattr(lib, fname)
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int
        lib.nvrtcGetErrorString.argtypes = (ctypes.c_int,)
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def _check(self, status, what):
        if status != 0:
            raise RuntimeError(f"NVRTC {what} failed: {self._lib.nvrtcGetErrorString(status)!r}")

    def version(self):
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self._lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)),
                    "nvrtcVersion")
        return major.value, minor.value

    def _get(self, prog, what):
        size = ctypes.c_size_t()
        self._check(getattr(self._lib, f"nvrtcGet{what}Size")(prog, ctypes.byref(size)),
                    f"nvrtcGet{what}Size")
        if size.value == 0:
            return b""
        buf = ctypes.create_string_buffer(size.value)
        self._check(getattr(self._lib, f"nvrtcGet{what}")(prog, buf), f"nvrtcGet{what}")
        return buf.raw

    def compile(self, source, name, options):
        lib = self._lib
        prog = ctypes.c_void_p()
        self._check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(),
                                           0, None, None), "nvrtcCreateProgram")
        try:
            opts = [o.encode() for o in options]
            status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
            log = self._get(prog, "ProgramLog").rstrip(b"\x00").decode(errors="replace").strip()
            if status != 0:
                return CompileResult(False, log or lib.nvrtcGetErrorString(status).decode(),
                                     b"", b"")
            return CompileResult(True, log, self._get(prog, "CUBIN"),
                                 self._get(prog, "PTX").rstrip(b"\x00"))
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))


def find_libnvrtc(major):
    """Path of ``libnvrtc.so.<major>`` from an NVIDIA wheel on ``sys.path``, or None.

    The CUDA 12 wheel (``nvidia-cuda-nvrtc-cu12``) installs it under
    ``nvidia/cuda_nvrtc/lib``, the CUDA 13 wheel (``nvidia-cuda-nvrtc``) under
    ``nvidia/cu13/lib``.
    """
    name = "nvrtc64_%d0_0.dll" % major if sys.platform == "win32" else f"libnvrtc.so.{major}"
    subdirs = ("cuda_nvrtc/lib", f"cu{major}/lib", "cuda_nvrtc/bin", f"cu{major}/bin")
    for entry in sys.path:
        for sub in subdirs:
            path = Path(entry or ".") / "nvidia" / sub / name
            if path.is_file():
                return path
    return None


@functools.lru_cache(maxsize=None)
def _compiler():
    """The NVRTC the backend compiles with (cuda-bindings); raises ImportError without it."""
    return BindingsNVRTC()


def unavailable_reason():
    """Why NVRTC cannot be used here (with what to install), or None when it can."""
    try:
        _compiler().version()
    except ImportError as exc:
        return f"NVRTC unavailable: cuda-bindings is not importable ({exc}); {_INSTALL_HINT}"
    except Exception as exc:  # cuda-bindings without its libnvrtc, or a broken one
        return f"NVRTC unavailable: {exc}; {_INSTALL_HINT}"
    return None


def nvrtc_version():
    """``"major.minor"`` of the NVRTC the backend compiles with; RuntimeError if none."""
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    return "%d.%d" % _compiler().version()


def compile_source(source, arch, extra_options=(), compiler=None):
    """Compile kernel source ``source`` for ``arch`` with :func:`nvrtc_options` (uncached).

    Parameters
    ----------
    source : str
        Key of ``gpudrizzle.kernels.SOURCE_FILES``.
    arch : str
        e.g. ``"90"`` (a cubin for sm_90) or ``"compute_90"`` (PTX only).
    extra_options : tuple of str
        Appended to the options (e.g. ``("--ptxas-options=-v",)``).
    compiler : BindingsNVRTC or CtypesNVRTC, optional
        Default: cuda-bindings.

    Returns
    -------
    CompileResult

    Raises
    ------
    RuntimeError
        When NVRTC fails; the message holds its log.
    """
    compiler = compiler or _compiler()
    options = nvrtc_options(source, arch) + tuple(extra_options)
    res = compiler.compile(load_source(source), source, options)
    if not res.ok:
        raise RuntimeError(f"NVRTC failed to compile {source} ({' '.join(options)}):\n{res.log}")
    return res


def cubin_dir():
    """Directory of the cached cubins: ``cpu.cache_dir("cubin")`` (writable, made if missing;
    the same temporary fallback as the host libraries when the cache cannot be written)."""
    from .cpu import cache_dir

    return cache_dir("cubin")


def _target(arch):
    """(kind, NVRTC arch) for a device of compute capability ``arch``: a cubin when this
    NVRTC knows the architecture, else PTX for the newest it knows (the driver compiles it)."""
    arch = int(arch)
    try:
        known = _compiler().supported_archs()
    except Exception:  # older bindings: assume it knows the device
        known = (arch,)
    if arch in known:
        return "cubin", f"sm_{arch}"
    older = [a for a in known if a <= arch]
    if not older:
        raise RuntimeError(f"NVRTC {nvrtc_version()} cannot compile for sm_{arch} "
                           f"(it knows {list(known)})")
    return "ptx", f"compute_{max(older)}"


def cubin_path(source, arch):
    """Path of the compiled ``source`` for a device of compute capability ``arch``.

    Compiled on first use and cached under :func:`cubin_dir`, keyed by a hash
    of the expanded source, the options, the architecture and the NVRTC
    version; the file name also carries a hash of the file's content, checked
    on every load, so a truncated or corrupted file is compiled again rather
    than loaded.  Each file is written to a temporary file in the same
    directory and renamed into place, so processes compiling at the same time
    never see a partial file.

    Parameters
    ----------
    source : str
        Key of ``gpudrizzle.kernels.SOURCE_FILES``.
    arch : str
        Compute capability without the dot, as ``cupy.cuda.Device().compute_capability``.

    Returns
    -------
    pathlib.Path
        A ``.cubin`` file (``.ptx`` when this NVRTC does not know the architecture).
    """
    if source not in SOURCE_FILES:
        raise ValueError(f"source must be one of {sorted(SOURCE_FILES)}, got {source!r}")
    kind, target = _target(arch)
    options = nvrtc_options(source, target)
    text = load_source(source)
    key = hashlib.sha256("\n".join([text, " ".join(options), target, nvrtc_version(), kind])
                         .encode()).hexdigest()[:24]
    folder = cubin_dir()
    stem = f"{Path(source).stem}_{target}_{key}"
    for found in sorted(folder.glob(f"{stem}-*.{kind}")):
        try:
            payload = found.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(payload).hexdigest()[:16] == found.name[len(stem) + 1:-len(kind) - 1]:
            return found
        try:  # truncated or corrupted: drop it and compile again
            found.unlink()
        except OSError:
            pass
    res = compile_source(source, target)
    payload = res.cubin if kind == "cubin" else res.ptx
    if not payload:
        raise RuntimeError(f"NVRTC produced no {kind} for {source} ({target})")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{hashlib.sha256(payload).hexdigest()[:16]}.{kind}"
    with files.writing(path, durable=False, kind="kernel cache file") as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)
    return path


class ResourceUsage(NamedTuple):
    """ptxas's resource report of one kernel."""

    kernel: str
    arch: str
    registers: int
    stack: int          # bytes of stack frame
    spill_stores: int   # bytes
    spill_loads: int    # bytes


_PTXAS_ENTRY = re.compile(
    r"Compiling entry function '(\w+)' for '(sm_\d+a?)'.*?"
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads.*?"
    r"Used (\d+) registers", re.S)


def parse_ptxas_log(log):
    """The :class:`ResourceUsage` of every entry function in a ``ptxas -v`` log."""
    out = []
    for m in _PTXAS_ENTRY.finditer(log):
        name, arch, stack, stores, loads, regs = m.groups()
        out.append(ResourceUsage(name, arch, int(regs), int(stack), int(stores), int(loads)))
    return out


def ptxas_report(source, arch, compiler=None):
    """ptxas's resource usage of every kernel of ``source`` for ``sm_<arch>``.

    Compiled with :func:`nvrtc_options` plus ``--ptxas-options=-v``, which
    NVRTC 12 and 13 accept and answer in the program log.

    Returns
    -------
    list of ResourceUsage
    """
    res = compile_source(source, arch, ("--ptxas-options=-v",), compiler=compiler)
    usage = parse_ptxas_log(res.log)
    if not usage:
        raise RuntimeError(f"no ptxas resource report in the NVRTC log of {source}:\n{res.log}")
    return usage


#: Resource budget of every kernel: no spills, at most STACK_BUDGET bytes of
#: stack frame; the drizzle and blot kernels (atomics-bound and
#: latency-bound scatter/gather) at most REGISTER_BUDGET registers, so that
#: at least 2 blocks of 256 threads fit on an SM (25% occupancy or more).
STACK_BUDGET = 128
REGISTER_BUDGET = 128
REGISTER_BUDGET_PREFIXES = ("drizzle_", "blot_")


def budget_violations(u):
    """How :class:`ResourceUsage` ``u`` breaks the budget (an empty list when it does not)."""
    why = []
    if u.spill_stores or u.spill_loads:
        why.append("spills")
    if u.stack > STACK_BUDGET:
        why.append(f"stack > {STACK_BUDGET}")
    if u.kernel.startswith(REGISTER_BUDGET_PREFIXES) and u.registers > REGISTER_BUDGET:
        why.append(f"registers > {REGISTER_BUDGET}")
    return why


def usage_table(usages):
    """Resource usages as a text table, a line per kernel and architecture; ``!`` marks
    those over budget."""
    lines = [f"{'kernel':<24} {'arch':<7} {'regs':>5} {'stack':>6} {'spill st':>9} "
             f"{'spill ld':>9}"]
    for u in usages:
        why = budget_violations(u)
        mark = "  ! " + ", ".join(why) if why else ""
        lines.append(f"{u.kernel:<24} {u.arch:<7} {u.registers:>5} {u.stack:>6} "
                     f"{u.spill_stores:>9} {u.spill_loads:>9}{mark}")
    return "\n".join(lines)
