"""Shared fixtures: backends to run on, fresh random generators, the shared WCS data."""

import os
from pathlib import Path

import numpy as np
import pytest

from gpudrizzle.backends import get_backend

#: ../shared/data beside the repository root
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _cuda_reason():
    from gpudrizzle.backends.cuda import unavailable_reason

    return unavailable_reason()


@pytest.fixture(params=["numpy", "cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request):
    """Every backend that can run here (cuda skipped without a device)."""
    if request.param == "cuda" and _cuda_reason():
        pytest.skip(_cuda_reason())
    return get_backend(request.param)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def kernel_backend(request):
    """Backends that run the compiled kernels (compared against numpy)."""
    if request.param == "cuda" and _cuda_reason():
        pytest.skip(_cuda_reason())
    return get_backend(request.param)


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
