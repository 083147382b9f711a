"""Building the cpu backend's kernels: the first-use notice, remembered failures, the
single-threaded build of a compiler without OpenMP, and the warned numpy fall back."""

import logging
import shutil

import numpy as np
import pytest

from gpudrizzle import backends
from gpudrizzle.backends import cpu


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty kernel cache of the test's own (never the shared one)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(directory))
    cpu._warn_serial.cache_clear()
    yield directory
    cpu._warn_serial.cache_clear()


class FakeCompiler:
    """Stands in for the compile command: records each command; ``fails(cmd)`` -> stderr text
    of a failure or None; a success writes a placeholder library, or runs the real compiler
    when ``real`` is given."""

    def __init__(self, fails=lambda cmd: None, real=None):
        self.commands, self.fails, self.real = [], fails, real

    def __call__(self, cmd):
        self.commands.append(list(cmd))
        message = self.fails(cmd)
        if message:
            return 1, message
        if self.real is not None:
            return self.real(cmd)
        with open(cmd[cmd.index("-o") + 1], "wb") as f:
            f.write(b"\x7fELF placeholder")
        return 0, ""


def _messages(caplog, level):
    return [r.getMessage() for r in caplog.records
            if r.name == "gpudrizzle" and r.levelno == level]


def test_first_build_says_so_once_and_where(cache, monkeypatch, caplog):
    fake = FakeCompiler()
    monkeypatch.setattr(cpu, "_run_compiler", fake)
    with caplog.at_level(logging.INFO, logger="gpudrizzle"):
        first = cpu.build_library()
        notes = _messages(caplog, logging.WARNING)
        caplog.clear()
        again = cpu.build_library()
    assert len(notes) == 1 and "first use" in notes[0] and str(cache) in notes[0]
    assert again == first and first.parent == cache and first.suffix == ".so"
    assert len(fake.commands) == 1 and "-fopenmp" in fake.commands[0]
    assert _messages(caplog, logging.WARNING) == []  # found in the cache: no notice
    assert cpu.library_files() == [first]


def test_failed_build_is_remembered_until_forced(cache, monkeypatch):
    fake = FakeCompiler(fails=lambda cmd: "fatal error: drizzle.cu: broken compiler")
    monkeypatch.setattr(cpu, "_run_compiler", fake)
    with pytest.raises(cpu.BuildFailed, match="broken compiler") as first:
        cpu.build_library()
    assert "build-kernels --force" in str(first.value)
    assert len(fake.commands) == 2  # with -fopenmp, then without: both fail
    (marker,) = cpu.library_files()
    assert marker.suffix == ".failed" and "broken compiler" in marker.read_text()

    with pytest.raises(cpu.BuildFailed, match="failed to build earlier") as later:
        cpu.build_library()
    assert str(marker) in str(later.value) and "--force" in str(later.value)
    assert len(fake.commands) == 2  # not compiled again

    fake.fails = lambda cmd: None  # the compiler was fixed
    with pytest.raises(cpu.BuildFailed):  # still remembered without force
        cpu.build_library()
    path = cpu.build_library(force=True)
    assert len(fake.commands) == 3 and path.exists() and not marker.exists()
    assert cpu.build_library() == path


def test_other_sources_or_compiler_forget_the_failure(cache, monkeypatch):
    fake = FakeCompiler(fails=lambda cmd: "error")
    monkeypatch.setattr(cpu, "_run_compiler", fake)
    with pytest.raises(cpu.BuildFailed):
        cpu.build_library()
    fake.fails = lambda cmd: None
    monkeypatch.setenv("GPUDRIZZLE_CXXFLAGS", "-O1")  # other flags: another key
    assert cpu.build_library().exists()
    assert len(fake.commands) == 3


def test_compiler_without_openmp_builds_single_threaded(cache, monkeypatch, caplog, rng):
    from gpudrizzle import Drizzle

    fake = FakeCompiler(fails=lambda cmd: "g++: error: unrecognized command-line option "
                        "'-fopenmp'" if "-fopenmp" in cmd else None, real=cpu._run_compiler)
    monkeypatch.setattr(cpu, "_run_compiler", fake)
    with caplog.at_level(logging.WARNING, logger="gpudrizzle"):
        backend = cpu.CpuBackend()
    assert backend.library_path.name.endswith("-serial.so") and not backend.threaded
    assert [("-fopenmp" in c) for c in fake.commands] == [True, False]
    warned = [m for m in _messages(caplog, logging.WARNING) if "single-threaded" in m]
    assert len(warned) == 1 and "no OpenMP" in warned[0]
    assert not [p for p in cpu.library_files() if p.suffix == ".failed"]

    with backend.limit_threads(3):  # nothing to limit, still accepted
        pass
    with pytest.raises(ValueError, match="'n'"):
        with backend.limit_threads(0):
            pass
    # the single-threaded kernels give the numpy reference's drizzle
    y, x = np.indices((20, 24), dtype=float)
    pixmap = np.dstack([x * 0.9 + 2.3, y * 0.9 + 1.1])
    data = rng.normal(size=(20, 24)).astype(np.float32)
    results = []
    for b in (backend, "numpy"):
        d = Drizzle(kernel="square", out_shape=(24, 28), backend=b)
        d.add_image(data, 1.0, pixmap)
        results.append((np.asarray(d.out_img), np.asarray(d.out_wht)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)
    assert results[0][1].sum() > 100  # the frame was reached

    caplog.clear()  # later runs find the single-threaded library, and say so again
    fake.commands.clear()
    cpu._warn_serial.cache_clear()
    with caplog.at_level(logging.WARNING, logger="gpudrizzle"):
        assert cpu.build_library() == backend.library_path
    assert fake.commands == [] and any("single-threaded" in m
                                       for m in _messages(caplog, logging.WARNING))


def test_fall_back_to_numpy_is_a_warning(monkeypatch, caplog):
    real = backends._cached

    def cached(name):
        if name in ("cuda", "cpu"):
            raise RuntimeError(f"{name} cannot run (test)")
        return real(name)

    monkeypatch.setattr(backends, "_cached", cached)
    backends._warn_numpy.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="gpudrizzle"):
            assert backends.get_backend("auto").name == "numpy"
            assert backends.get_backend("auto").name == "numpy"
    finally:
        backends._warn_numpy.cache_clear()
    warned = _messages(caplog, logging.WARNING)
    assert len(warned) == 1  # once per process
    assert "numpy" in warned[0] and "cpu cannot run (test)" in warned[0]
    assert "cuda cannot run (test)" in warned[0]
