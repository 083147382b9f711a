"""pytest-benchmark suite: every drizzle kernel and blot interpolant on every backend.

    python -m pytest benchmarks/test_bench_drizzle.py --benchmark-enable [--benchmark-only]

Size from $GPUDRIZZLE_BENCH_SIZE (default 4096).  Compilation and the first
page faults stay out of the timing (one warm-up call); GPU work is
synchronised inside the timed call.
"""

import os
import warnings

import pytest

from common import image, rotated_pixmap
from gpudrizzle import Drizzle, blot_image, get_backend

N = int(os.environ.get("GPUDRIZZLE_BENCH_SIZE", "4096"))
BACKENDS = ["cuda", "cpu", "numpy"]


@pytest.fixture(scope="module")
def inputs():
    return image(N), rotated_pixmap(N)


def _backend(name):
    try:
        return get_backend(name)
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["square", "turbo", "point", "gaussian", "lanczos2", "lanczos3"])
def test_drizzle(benchmark, inputs, kernel, backend):
    b = _backend(backend)
    data, pixmap = inputs
    warnings.simplefilter("ignore")

    def run():
        d = Drizzle(kernel=kernel, out_shape=(N, N), backend=b)
        d.add_image(data, exptime=1.0, pixmap=pixmap, pixel_scale_ratio=1 / 0.98)
        b.synchronize()

    run()
    benchmark.pedantic(run, rounds=3 if backend != "numpy" else 1, iterations=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("interp", ["nearest", "linear", "poly3", "poly5", "lanczos3", "lanczos5"])
def test_blot(benchmark, inputs, interp, backend):
    b = _backend(backend)
    data, pixmap = inputs

    def run():
        blot_image(data, pixmap, interp=interp, backend=b)
        b.synchronize()

    run()
    benchmark.pedantic(run, rounds=3 if backend != "numpy" else 1, iterations=1)
