"""Backend selection, the host build cache and what happens when a backend cannot run."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpudrizzle.backends import backend_status, get_backend
from gpudrizzle.backends.cpu import build_library, compiler_info


def test_explicit_names_and_instances():
    b = get_backend("numpy")
    assert b.name == "numpy" and get_backend(b) is b
    assert get_backend("CPU").name == "cpu"


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError, match="'gpu'"):
        get_backend("gpu")


def test_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("GPUDRIZZLE_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    monkeypatch.setenv("GPUDRIZZLE_BACKEND", "nonsense")
    with pytest.raises(ValueError):
        get_backend()


def test_auto_prefers_cuda_then_cpu_and_logs(caplog, monkeypatch):
    monkeypatch.delenv("GPUDRIZZLE_BACKEND", raising=False)
    status = backend_status()
    expected = next(name for name in ("cuda", "cpu", "numpy") if status[name] is None)
    with caplog.at_level(logging.INFO, logger="gpudrizzle"):
        assert get_backend("auto").name == expected
    assert f"backend auto -> {expected}" in caplog.text


def test_cuda_unavailable_says_why():
    reason = backend_status()["cuda"]
    if reason is None:
        pytest.skip("a CUDA device is present")
    assert reason.startswith("no CUDA device")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        get_backend("cuda")


def test_missing_compiler_says_why(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    monkeypatch.setenv("PATH", "/nonexistent")
    compiler_info.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
            compiler_info()
    finally:
        compiler_info.cache_clear()


def test_build_is_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(tmp_path))
    first = build_library()
    mtime = first.stat().st_mtime_ns
    assert build_library() == first and first.stat().st_mtime_ns == mtime
    monkeypatch.setenv("GPUDRIZZLE_CXXFLAGS", "-O1")
    assert build_library() != first  # other flags, other library


def test_concurrent_first_use_builds_once_safely(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from gpudrizzle import Drizzle
        d = Drizzle(kernel="point", out_shape=(8, 8), backend="cpu")
        y, x = np.indices((8, 8), dtype=float)
        d.add_image(np.ones((8, 8), np.float32), 1.0, np.dstack([x, y]))
        assert np.allclose(d.out_img, 1.0)
    """)
    env = dict(os.environ, GPUDRIZZLE_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
             for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    libs = [p for p in tmp_path.iterdir() if p.suffix == ".so"]
    assert len(libs) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]


def test_backends_give_the_same_drizzle(rng):
    from gpudrizzle import Drizzle

    y, x = np.indices((25, 30), dtype=float)
    pixmap = np.dstack([x * 0.9 + 3.3, y * 0.9 + 2.1])
    data = rng.normal(size=(25, 30)).astype(np.float32)
    results = []
    for name, reason in backend_status().items():
        if reason is None:
            d = Drizzle(out_shape=(30, 35), backend=name)
            d.add_image(data, 1.0, pixmap)
            results.append(d.out_img)
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-6, equal_nan=True)
