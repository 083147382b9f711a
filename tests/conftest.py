"""Shared fixtures: backends to run on, fresh random generators, the shared WCS data."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from gpudrizzle import backends
from gpudrizzle.backends import get_backend

#: ../shared/data beside the repository root
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _cuda_reason():
    from gpudrizzle.backends.cuda import unavailable_reason

    return unavailable_reason()


@pytest.fixture
def fake_cupy(monkeypatch):
    """The strict CuPy emulation (tests/fakecupy.py) installed as ``cupy``, counters reset.

    Backends made before or inside the test are forgotten on both sides, so
    no other test sees a backend on the emulated device.
    """
    import fakecupy

    from gpudrizzle.backends.cuda import CudaBackend

    modules = CudaBackend._module  # a test may replace it; the cache is this one

    def forget():  # backends and loaded modules of whichever cupy was there
        backends._cached.cache_clear()
        modules.cache_clear()

    forget()
    monkeypatch.setitem(sys.modules, "cupy", fakecupy)
    fakecupy.reset_counters()
    yield fakecupy
    forget()


def _get(request, name):
    if name == "cuda-emulated":
        request.getfixturevalue("fake_cupy")
        return get_backend("cuda")
    if name == "cuda" and _cuda_reason():
        pytest.skip(_cuda_reason())
    return get_backend(name)


_CUDA = pytest.param("cuda", marks=pytest.mark.gpu)
_EMULATED = pytest.param("cuda-emulated", marks=pytest.mark.emulated_gpu)


@pytest.fixture(params=["numpy", "cpu", _EMULATED, _CUDA])
def backend(request):
    """Every backend that can run here (cuda skipped without a device; its emulation always)."""
    return _get(request, request.param)


@pytest.fixture(params=["cpu", _EMULATED, _CUDA])
def kernel_backend(request):
    """Backends that run the compiled kernels (compared against numpy)."""
    return _get(request, request.param)


@pytest.fixture
def rng(request):
    """A generator with a fresh seed per test run; the seed is printed on failure."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared WCS data not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA
