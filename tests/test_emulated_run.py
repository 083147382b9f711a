"""Whole AstroDrizzle runs with backend="cuda" on the strict CuPy emulation (tests/fakecupy.py).

The products must equal the cpu backend's: both run the same host build of
the kernels on the same inputs, so SCI, WHT, CTX and ERR are compared
exactly, except where the cuda path reaches a value by array operations in
another order (float32 arithmetic: relative 1e-6 of the value).  The run
is held to a transfer budget: every chip's SCI, ERR and DQ cross to the
device once (host->device bytes at most 1.2x the input arrays' bytes), and
a bounded number of synchronisations per chip.
"""

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import astrodrizzle
from gpudrizzle.demo import write_demo_data

pytestmark = pytest.mark.emulated_gpu

#: value copies back to the host allowed per chip in a default run (logs, empty-mask
#: checks, drizzle line counts, ImageStats passes of the static mask and the sky)
SYNCS_PER_CHIP = 60


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo_inputs")
    return [t.path for t in write_demo_data(d, size="small")]


def _input_bytes(files):
    total = 0
    for f in files:
        with fits.open(f) as hdul:
            for h in hdul:
                if h.name in ("SCI", "ERR", "DQ") and h.data is not None:
                    total += h.data.nbytes
    return total


def _run(files, outdir, backend, **kw):
    outdir.mkdir(exist_ok=True)
    result = astrodrizzle.AstroDrizzle(files, output=str(outdir / "demo"), build=True,
                                       backend=backend, runfile="", **kw)
    with fits.open(result.products[0]) as hdul:
        return result, {h.name: h.data.copy() for h in hdul[1:] if h.name != "HDRTAB"}


@pytest.fixture(scope="module")
def cpu_products(demo_files, tmp_path_factory):
    return _run(demo_files, tmp_path_factory.mktemp("cpu"), "cpu")


def test_default_run_equals_the_cpu_backend_within_the_transfer_budget(
        demo_files, cpu_products, fake_cupy, tmp_path):
    ref_result, ref = cpu_products
    counters = fake_cupy.reset_counters()
    result, got = _run(demo_files, tmp_path, "cuda")
    assert result.backend == "cuda"
    assert set(got) == set(ref) == {"SCI", "WHT", "CTX", "ERR"}
    np.testing.assert_array_equal(got["CTX"], ref["CTX"])
    np.testing.assert_array_equal(got["WHT"], ref["WHT"])
    for name in ("SCI", "ERR"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-6, atol=0, equal_nan=True)
    assert result.cr_pixels == ref_result.cr_pixels
    assert result.sky == ref_result.sky

    n_chips = len(result.sky)
    budget = _input_bytes(demo_files)
    print(f"h2d {counters.h2d_bytes} B in {counters.h2d_copies} copies (inputs {budget} B), "
          f"d2h {counters.d2h_bytes} B in {counters.d2h_copies} copies, syncs {counters.syncs}, "
          f"launches {len(counters.launches)}")
    assert counters.h2d_bytes <= 1.2 * budget
    assert counters.syncs <= SYNCS_PER_CHIP * n_chips
    kernels = {launch.kernel for launch in counters.launches}
    assert {"drizzle_turbo", "drizzle_square", "combine_minmed_stats", "blot_poly5",
            "crmask_tests", "pixmap_interp", "stats_moments"} <= kernels


def test_run_options_on_the_emulated_device(demo_files, fake_cupy, tmp_path):
    """Other kernels, median kinds, weights and intermediates (clean=False) on the device path."""
    kw = dict(combine_type="median", final_kernel="lanczos3", final_wht_type="ERR",
              driz_sep_kernel="square", blot_interp="sinc", driz_cr_corr=False, clean=False,
              skymethod="globalmin", final_units="counts")
    result, got = _run(demo_files, tmp_path / "emu", "cuda", **kw)
    _, ref = _run(demo_files, tmp_path / "cpu", "cpu", **kw)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-6, equal_nan=True)
    assert result.intermediates


def test_chips_that_do_not_fit_on_the_device_are_uploaded_per_step(
        demo_files, cpu_products, fake_cupy, monkeypatch, tmp_path, caplog):
    """Device memory for the run but not for keeping every chip: a warning, the same products."""
    real = astrodrizzle.estimate_memory
    plain = {}

    def estimate(*args, resident_bytes=0, **kw):
        need = real(*args, resident_bytes=resident_bytes, **kw)
        if not resident_bytes:
            plain["need"] = need
        return need

    monkeypatch.setattr(astrodrizzle, "estimate_memory", estimate)
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda backend: plain["need"])
    counters = fake_cupy.reset_counters()
    with caplog.at_level("WARNING", logger="gpudrizzle"):
        result, got = _run(demo_files, tmp_path, "cuda")
    assert "do not fit on the device" in caplog.text
    _, ref = cpu_products
    np.testing.assert_array_equal(got["WHT"], ref["WHT"])
    np.testing.assert_allclose(got["SCI"], ref["SCI"], rtol=1e-6, equal_nan=True)
    assert counters.h2d_bytes > 1.2 * _input_bytes(demo_files)  # uploaded again per step
