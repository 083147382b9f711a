"""Every kernel source compiles under NVRTC for sm_75, sm_80 and sm_90, without warnings.

NVRTC needs no GPU or driver: the cuda-bindings and nvidia-cuda-nvrtc wheels
(in the test extra) are enough.  The PTX must define every entry the kernel
table lists for that source.
"""

import re

import pytest

from gpudrizzle.backends.cuda import NVRTC_OPTIONS
from gpudrizzle.kernels import SOURCE_FILES, load_source

nvrtc = pytest.importorskip(
    "cuda.bindings.nvrtc", reason="cuda-bindings (test extra) is needed for NVRTC compile checks"
)

ARCHES = ("75", "80", "90")


def _check(result, prog, what):
    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"{what}: {err}")
    return result[1:]


def _compile(source, name, arch):
    prog, = _check(nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []), None, "create")
    options = [f"--gpu-architecture=compute_{arch}".encode()] + [o.encode() for o in NVRTC_OPTIONS]
    status = nvrtc.nvrtcCompileProgram(prog, len(options), options)[0]
    size, = _check(nvrtc.nvrtcGetProgramLogSize(prog), prog, "log size")
    log = b" " * size
    _check(nvrtc.nvrtcGetProgramLog(prog, log), prog, "log")
    log = log.rstrip(b"\x00 ").decode(errors="replace")
    ptx = ""
    if status == nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size, = _check(nvrtc.nvrtcGetPTXSize(prog), prog, "ptx size")
        buf = b" " * size
        _check(nvrtc.nvrtcGetPTX(prog, buf), prog, "ptx")
        ptx = buf.decode(errors="replace")
    nvrtc.nvrtcDestroyProgram(prog)
    return status, log, ptx


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source", sorted(SOURCE_FILES))
def test_compiles_without_warnings(source, arch):
    status, log, ptx = _compile(load_source(source), source, arch)
    assert status == nvrtc.nvrtcResult.NVRTC_SUCCESS, log
    assert log == "", f"NVRTC diagnostics for {source} on sm_{arch}:\n{log}"
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert set(SOURCE_FILES[source]) <= entries, sorted(set(SOURCE_FILES[source]) - entries)


def test_a_broken_kernel_is_reported():
    status, log, _ = _compile('extern "C" __global__ void k(float* a) { a[0] = undefined_name; }',
                              "broken.cu", "80")
    assert status != nvrtc.nvrtcResult.NVRTC_SUCCESS and "undefined_name" in log


def test_a_warning_is_seen():
    status, log, _ = _compile('extern "C" __global__ void k(float* a) { int unused = 1; a[0] = 1.0f; }',
                              "warn.cu", "80")
    assert status == nvrtc.nvrtcResult.NVRTC_SUCCESS and "unused" in log
