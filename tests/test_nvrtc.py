"""NVRTC builds of every kernel source, with the options the cuda backend runs.

No GPU or driver is needed: NVRTC comes from wheels.  Every source is
compiled by the CUDA 13 and the CUDA 12 NVRTC (one through cuda-bindings,
the other through the ctypes binding of ``gpudrizzle.backends.nvrtc``) for
sm_75, sm_80 and sm_90 with ``nvrtc_options`` and must give an empty log,
every entry of ``SOURCE_FILES`` and PTX without ``.ftz``; ptxas's resource
report at sm_80 and sm_90 must hold the budget.  All builds are made once
per session, in parallel threads (NVRTC releases the GIL).
"""

import os
import re
import struct
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("cuda.bindings.nvrtc",
                    reason="cuda-bindings (test extra) is needed for the NVRTC builds")

from gpudrizzle.backends import cuda as cuda_backend  # noqa: E402
from gpudrizzle.backends import nvrtc  # noqa: E402
from gpudrizzle.kernels import SOURCE_FILES  # noqa: E402

ARCHES = ("75", "80", "90")
REPORT_ARCHES = ("80", "90")
MAJORS = (12, 13)
WHEEL = {12: "nvidia-cuda-nvrtc-cu12", 13: "nvidia-cuda-nvrtc"}


def _compiler(major):
    """An NVRTC of major version ``major`` (cuda-bindings' own if it is that one), or the
    reason there is none."""
    bindings = nvrtc.BindingsNVRTC()
    if bindings.version()[0] == major:
        return bindings
    path = nvrtc.find_libnvrtc(major)
    if path is None:
        return f"libnvrtc.so.{major} is not installed (pip install {WHEEL[major]}: test extra)"
    return nvrtc.CtypesNVRTC(path)


REPORT = ("--ptxas-options=-v",)
_PTXAS_INFO = re.compile(r"^ptxas(\s+info\s+:|\s+\.)\s")


@pytest.fixture(scope="session")
def builds():
    """(major, source, arch) -> (options, CompileResult); major -> why that NVRTC is missing.

    cuda-bindings' NVRTC (the one the backend compiles with) builds with exactly
    nvrtc_options for every architecture and again with ptxas's report at
    sm_80 and sm_90; the other one builds sm_75 with nvrtc_options and sm_80
    and sm_90 with the report only (its checks ignore ptxas's info lines).
    """
    backend_major = nvrtc.BindingsNVRTC().version()[0]
    jobs, out = [], {}
    for major in MAJORS:
        comp = _compiler(major)
        if isinstance(comp, str):
            out[major] = comp
            continue
        for source in SOURCE_FILES:
            for arch in ARCHES:
                if major == backend_major or arch not in REPORT_ARCHES:
                    jobs.append((major, comp, source, arch, ()))
                if arch in REPORT_ARCHES:
                    jobs.append((major, comp, source, arch, REPORT))
    jobs.sort(key=lambda j: j[2] != "median.cu")  # the slowest first

    def run(job):
        major, comp, source, arch, extra = job
        options = nvrtc.nvrtc_options(source, arch) + extra
        key = (major, source, ("v" if extra else "") + arch)
        return key, (options, comp.compile(nvrtc.load_source(source), source, options))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        out.update(pool.map(run, jobs))
    return out


def _get(builds, major, source, arch):
    """(options, result) of the build with nvrtc_options, else of the one with the report."""
    if isinstance(builds.get(major), str):
        pytest.skip(builds[major])
    return builds.get((major, source, arch)) or builds[(major, source, "v" + arch)]


@pytest.mark.parametrize("major", MAJORS, ids=lambda m: f"nvrtc{m}")
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source", sorted(SOURCE_FILES))
def test_compiles_with_the_backend_options(builds, source, arch, major):
    options, res = _get(builds, major, source, arch)
    assert options[: len(nvrtc.nvrtc_options(source, arch))] == nvrtc.nvrtc_options(source, arch)
    assert res.ok, res.log
    log = res.log
    if options[-1] == REPORT[0]:
        log = "\n".join(line for line in log.splitlines() if not _PTXAS_INFO.match(line)).strip()
    assert log == "", f"NVRTC {major} diagnostics for {source} on sm_{arch}:\n{log}"
    assert res.cubin[:4] == b"\x7fELF"
    ptx = res.ptx.decode()
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert set(SOURCE_FILES[source]) <= entries, sorted(set(SOURCE_FILES[source]) - entries)
    assert re.search(rf"^\.target\s+sm_{arch}\b", ptx, re.M), "PTX of another architecture"
    ftz = [line.strip() for line in ptx.splitlines() if ".ftz" in line]
    assert not ftz, f"flush-to-zero instructions in {source}: {ftz[:5]}"
    for name in SOURCE_FILES[source]:  # the entries are in the cubin itself too
        assert name.encode() in res.cubin


@pytest.mark.parametrize("major", MAJORS, ids=lambda m: f"nvrtc{m}")
@pytest.mark.parametrize("arch", REPORT_ARCHES)
def test_resource_budget(builds, arch, major):
    usages = []
    for source in sorted(SOURCE_FILES):
        _, res = _get(builds, major, source, "v" + arch)
        rep = nvrtc.parse_ptxas_log(res.log)
        assert {u.kernel for u in rep} == set(SOURCE_FILES[source]), res.log
        assert all(u.arch == f"sm_{arch}" for u in rep)
        usages += sorted(rep)
    bad = [u for u in usages if nvrtc.budget_violations(u)]
    assert not bad, f"NVRTC {major}, sm_{arch}: over budget\n{nvrtc.usage_table(usages)}"


def _elf_sections(data):
    """Section name -> contents of a little-endian ELF64 file (a cubin)."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    entsize, count, names = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    base = headers[names][4]
    out = {}
    for name, kind, _, _, offset, size, *_ in headers:
        label = data[base + name: data.index(b"\0", base + name)].decode()
        out[label] = b"" if kind == 8 else data[offset: offset + size]  # 8: SHT_NOBITS
    return out


def test_the_report_does_not_change_the_cubin():
    """ptxas -v only reports: apart from the note recording ptxas's options, the
    reported build is the cubin that runs."""
    plain = nvrtc.compile_source("crmask.cu", "80")
    reported = nvrtc.compile_source("crmask.cu", "80", REPORT)
    assert plain.log == "" and "Used" in reported.log
    a, b = _elf_sections(plain.cubin), _elf_sections(reported.cubin)
    assert set(a) == set(b) and any(k.startswith(".text.crmask_") for k in a)
    assert [k for k in a if a[k] != b[k]] in ([], [".note.nv.tkinfo"])


# ---------------------------------------------------------------------------
# options


def test_options_table_covers_every_source():
    assert set(nvrtc.FMAD) == set(SOURCE_FILES)
    for source in SOURCE_FILES:
        opts = nvrtc.nvrtc_options(source, "90")
        assert opts[0] == "-arch=sm_90"
        for want in ("-std=c++17", "--ftz=false", "--prec-div=true", "--prec-sqrt=true"):
            assert want in opts
        assert sum(o.startswith("--fmad=") for o in opts) == 1
        assert not any("ftz=true" in o for o in opts)
        assert nvrtc.FMAD[source][1]  # every choice has its reason
    assert nvrtc.nvrtc_options("drizzle.cu", "compute_80")[0] == "-arch=compute_80"
    with pytest.raises(ValueError, match="nonesuch.cu"):
        nvrtc.nvrtc_options("nonesuch.cu", "90")


def test_ftz_shows_in_ptx():
    """The .ftz check above can fail: CuPy's -ftz=true puts it in the PTX."""
    src = 'extern "C" __global__ void k(float* a) { a[0] = a[1] * a[2] + a[3]; }'
    comp = nvrtc.BindingsNVRTC()
    res = comp.compile(src, "k.cu", ("-arch=sm_80", "-ftz=true"))
    assert res.ok and ".ftz" in res.ptx.decode()
    res = comp.compile(src, "k.cu", ("-arch=sm_80",) + nvrtc.OPTIONS)
    assert res.ok and ".ftz" not in res.ptx.decode()


def test_an_empty_log_leaves_python_s_shared_bytes_alone():
    """NVRTC writes its log into the buffer it is given: an empty log is one NUL byte, and
    a one-byte ``b" " * 1`` buffer is the interpreter's shared ``b" "``, which then read
    ``b"\\0"`` everywhere (every print separator in a captured stdout became a NUL)."""
    src = 'extern "C" __global__ void k(float* a) { a[0] = 1.0f; }'
    res = nvrtc.BindingsNVRTC().compile(src, "k.cu", ("-arch=sm_80",))
    assert res.ok and res.log == ""
    # the shared object's byte itself (comparisons with it would compare it with itself)
    assert b" "[0] == 32 and " ".encode()[0] == 32


@pytest.mark.parametrize("major", MAJORS, ids=lambda m: f"nvrtc{m}")
def test_a_broken_kernel_is_reported(major, monkeypatch):
    comp = _compiler(major)
    if isinstance(comp, str):
        pytest.skip(comp)
    monkeypatch.setattr(nvrtc, "load_source", lambda name: (
        'extern "C" __global__ void k(float* a) { a[0] = undefined_name; }'))
    with pytest.raises(RuntimeError, match="undefined_name") as err:
        nvrtc.compile_source("crmask.cu", "80", compiler=comp)
    assert "--ftz=false" in str(err.value)  # the message names the options


@pytest.mark.parametrize("major", MAJORS, ids=lambda m: f"nvrtc{m}")
def test_a_warning_is_seen(major):
    comp = _compiler(major)
    if isinstance(comp, str):
        pytest.skip(comp)
    res = comp.compile('extern "C" __global__ void k(float* a) { int unused = 1; a[0] = 1.0f; }',
                       "warn.cu", nvrtc.nvrtc_options("crmask.cu", "80"))
    assert res.ok and "unused" in res.log


def test_ptxas_log_parsing():
    log = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'k1' for 'sm_90'
ptxas info    : Function properties for k1
ptxas         .     136 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 130 registers, used 0 barriers
ptxas info    : Compiling entry function 'drizzle_x' for 'sm_90'
ptxas info    : Function properties for drizzle_x
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 129 registers, used 1 barriers, 8 bytes smem
"""
    a, b = nvrtc.parse_ptxas_log(log)
    assert a == nvrtc.ResourceUsage("k1", "sm_90", 130, 136, 8, 4)
    assert nvrtc.budget_violations(a) == ["spills", "stack > 128"]
    assert nvrtc.budget_violations(b) == ["registers > 128"]
    assert "! registers > 128" in nvrtc.usage_table([a, b])


def test_version():
    assert re.fullmatch(r"1[2-9]\.\d+", nvrtc.nvrtc_version())
    assert nvrtc.unavailable_reason() is None


def test_missing_nvrtc_says_what_to_install(monkeypatch):
    def missing():
        raise ImportError("No module named 'cuda'")

    monkeypatch.setattr(nvrtc, "_compiler", missing)
    reason = nvrtc.unavailable_reason()
    assert "cuda-bindings" in reason and "gpudrizzle[cuda12]" in reason
    with pytest.raises(RuntimeError, match="cuda-bindings"):
        nvrtc.nvrtc_version()


# ---------------------------------------------------------------------------
# the cubin cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory; ``calls`` counts NVRTC compiles."""
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(tmp_path))
    calls = []
    real = nvrtc.compile_source

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(nvrtc, "compile_source", counting)
    return types.SimpleNamespace(dir=tmp_path / "cubin", calls=calls)


def test_second_compile_is_a_cache_hit(cache):
    path = nvrtc.cubin_path("crmask.cu", "80")
    assert path.parent == cache.dir and path.suffix == ".cubin" and len(cache.calls) == 1
    assert nvrtc.cubin_path("crmask.cu", "80") == path
    assert len(cache.calls) == 1
    # the cached file is what the tests above check: the same options
    assert path.read_bytes() == nvrtc.compile_source("crmask.cu", "sm_80").cubin
    assert [p.name for p in cache.dir.iterdir()] == [path.name]  # no temporary files left


def test_different_options_or_arch_give_different_files(cache, monkeypatch):
    a = nvrtc.cubin_path("crmask.cu", "80")
    b = nvrtc.cubin_path("crmask.cu", "90")
    monkeypatch.setitem(nvrtc.FMAD, "crmask.cu", (True, "test"))
    c = nvrtc.cubin_path("crmask.cu", "80")
    assert len({a, b, c}) == 3 and len(cache.calls) == 3
    assert all(p.exists() for p in (a, b, c))


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_damaged_cache_file_is_compiled_again(cache, damage):
    path = nvrtc.cubin_path("crmask.cu", "80")
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        path.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    else:
        path.write_bytes(b"")
    again = nvrtc.cubin_path("crmask.cu", "80")
    assert len(cache.calls) == 2
    assert again == path and again.read_bytes() == good


def test_concurrent_first_compiles(tmp_path):
    """Processes compiling the same source into an empty cache at once all get a whole file."""
    code = ("from gpudrizzle.backends import nvrtc; "
            "print(nvrtc.cubin_path('crmask.cu', '75'))")
    env = dict(os.environ, GPUDRIZZLE_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    path = Path(paths.pop())
    assert path.read_bytes() == nvrtc.compile_source("crmask.cu", "75").cubin
    assert [p.name for p in (tmp_path / "cubin").iterdir()] == [path.name]


def test_an_architecture_unknown_to_nvrtc_gets_ptx(cache, monkeypatch):
    monkeypatch.setattr(nvrtc.BindingsNVRTC, "supported_archs", lambda self: (75, 80, 90))
    path = nvrtc.cubin_path("crmask.cu", "100")  # a newer GPU: PTX, compiled by the driver
    assert path.suffix == ".ptx" and b".target sm_90" in path.read_bytes()
    with pytest.raises(RuntimeError, match="sm_70"):
        nvrtc.cubin_path("crmask.cu", "70")


# ---------------------------------------------------------------------------
# the backend's device check


def _stand_in_cupy(name, major, minor):
    props = {"name": name.encode(), "major": major, "minor": minor, "totalGlobalMem": 8 << 30,
             "multiProcessorCount": 20}
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: dict(props))
    device = types.SimpleNamespace(id=0, compute_capability=f"{major}{minor}")
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime,
                                                            Device=lambda *a: device))


def test_an_old_gpu_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy("Tesla P100", 6, 0))
    reason = cuda_backend.unavailable_reason()
    assert "Tesla P100" in reason and "6.0" in reason and "7.5" in reason
    assert "atomicAdd" in reason


def test_a_new_enough_gpu_is_accepted(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy("Tesla T4", 7, 5))
    assert cuda_backend.unavailable_reason() is None


def test_no_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    assert "gpudrizzle[cuda12]" in cuda_backend.unavailable_reason()


# ---------------------------------------------------------------------------
# launch size


def test_pixmap_launches_one_work_item_per_run(monkeypatch):
    """pixmap_interp maps runs of PM_RUN pixels along rows: the launch counts runs."""
    from gpudrizzle.backends.base import KernelBackend

    seen = []
    backend = object.__new__(KernelBackend)
    monkeypatch.setattr(backend, "launch", lambda name, n, args: seen.append((name, n)),
                        raising=False)
    run = int(re.search(r"^#define PM_RUN (\d+)", nvrtc.load_source("pixmap.cu"), re.M)[1])
    backend.pixmap(points=None, nx=4096, n=4096 * 2051)
    backend.pixmap(points=None, nx=100, n=100 * 3)
    backend.pixmap(points="given", nx=0, n=77)
    assert seen == [("pixmap_interp", 2051 * 4096 // run), ("pixmap_interp", 3 * -(-100 // run)),
                    ("pixmap_interp", 77)]


def test_info_shows_nvrtc_and_the_kernel_cache(monkeypatch):
    from gpudrizzle.backends.cpu import cache_dir
    from gpudrizzle.report import system_info

    info = system_info()
    assert info["nvrtc"] == {"version": nvrtc.nvrtc_version(), "reason": None}
    assert info["kernel_cache"] == {"host": str(cache_dir()), "cubin": str(cache_dir() / "cubin")}
    monkeypatch.setattr(nvrtc, "_compiler", lambda: (_ for _ in ()).throw(ImportError("none")))
    assert "cuda-bindings" in system_info()["nvrtc"]["reason"]
