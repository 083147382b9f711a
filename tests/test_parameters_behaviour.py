"""Parameters and inputs that must do what their help says (num_cores, in_memory, final-only
reruns, unsupported inputs)."""

import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import astrodrizzle, memory
from gpudrizzle.backends import get_backend
from gpudrizzle.backends.cpu import cgroup_cpu_limit, default_threads
from gpudrizzle.demo import write_demo_data
from gpudrizzle.exposure import load_exposure
from gpudrizzle.memory import cgroup_memory_available
from hstdata import write_dither_set, write_flt, write_generic


# ---------------------------------------------------------------------------
# inputs the pipeline cannot handle are refused, with what to use instead


def test_jwst_telescope_refused(tmp_path):
    path = write_generic(tmp_path, "jw_cal", header={"TELESCOP": "JWST", "EXPTIME": 100.0})
    with pytest.raises(ValueError, match=r"JWST data \(TELESCOP='JWST'\).*gwcs.*ResampleStep"):
        load_exposure(path)


def test_asdf_extension_refused(tmp_path):
    path = write_generic(tmp_path, "withasdf", header={"EXPTIME": 100.0})
    with fits.open(path, mode="append") as hdul:
        hdul.append(fits.BinTableHDU.from_columns(
            [fits.Column(name="ASDF_METADATA", format="10B", array=np.zeros((1, 10), np.uint8))],
            name="ASDF"))
    with pytest.raises(ValueError, match=r"an ASDF extension.*calc_pixmap"):
        load_exposure(path)


@pytest.mark.parametrize("bunit", ["MJy/sr", "MJY/SR", "Jy", "uJy"])
def test_surface_brightness_units_refused(tmp_path, bunit):
    path = write_generic(tmp_path, "sb", header={"EXPTIME": 100.0, "BUNIT": bunit})
    with pytest.raises(ValueError, match=rf"BUNIT='{bunit}' is not supported.*gpudrizzle.Drizzle"):
        load_exposure(path)


@pytest.mark.parametrize("bunit", ["ELECTRONS", "ELECTRONS/S", "COUNTS/S"])
def test_counts_and_rates_accepted(tmp_path, bunit):
    path = write_generic(tmp_path, "ok", header={"EXPTIME": 100.0, "BUNIT": bunit})
    assert load_exposure(path).chips[0].units == bunit


def test_unsigned_dq_with_bzero_read_as_stored(tmp_path):
    """int16 + BZERO=32768 (unsigned DQ) is read as uint16 with its values: nothing to refuse."""
    flt = write_flt(tmp_path, "j9uint1aq")
    with fits.open(flt.path, mode="update") as hdul:
        shape = hdul["DQ", 1].data.shape
        dq = np.zeros(shape, np.uint16)
        dq[0, :5] = [32768, 40000, 65535, 4096, 1]
        hdul["DQ", 1].data = dq
    with fits.open(flt.path) as hdul:
        assert hdul["DQ", 1].header["BITPIX"] == 16 and hdul["DQ", 1].header["BZERO"] == 32768
    chip = load_exposure(flt.path, final_bits=0).chips[0]
    assert chip.dq.dtype == np.uint16
    np.testing.assert_array_equal(chip.dq[0, :5], [32768, 40000, 65535, 4096, 1])


# ---------------------------------------------------------------------------
# in_memory=True writes no intermediates


def _dither_set(directory):
    return [t.path for t in write_dither_set(directory, n=3, cosmic_rays=3, seed=5)]


@pytest.mark.parametrize("in_memory", [True, False])
def test_in_memory_writes_no_intermediates(tmp_path, in_memory):
    inputs = _dither_set(tmp_path)
    res = astrodrizzle.AstroDrizzle(inputs, output=str(tmp_path / "final"), backend="numpy",
                                    in_memory=in_memory, clean=False,
                                    runfile=str(tmp_path / "run.log"))
    written = set(os.listdir(tmp_path)) - {os.path.basename(p) for p in inputs}
    expected = {os.path.basename(p) for p in res.products} | {"run.log"}
    if in_memory:
        assert written == expected and res.intermediates == []
    else:
        assert written == expected | {os.path.basename(p) for p in res.intermediates}
        assert any(p.endswith("_crmask.fits") for p in res.intermediates)


# ---------------------------------------------------------------------------
# a final-only rerun uses the cosmic-ray masks of the earlier run

_FINAL_ONLY = dict(driz_separate=False, median=False, blot=False, driz_cr=False)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("rerun")
    inputs = _dither_set(d)
    res = astrodrizzle.AstroDrizzle(inputs, output=str(d / "final"), backend="numpy",
                                    clean=False, runfile="")
    assert sum(res.cr_pixels.values()) > 0
    return d, inputs, fits.getdata(d / "final_drz_wht.fits"), fits.getdata(d / "final_drz_sci.fits")


def _final_only(d, inputs, output):
    astrodrizzle.AstroDrizzle(inputs, output=str(d / output), backend="numpy", runfile="",
                              overwrite=True, **_FINAL_ONLY)
    return fits.getdata(d / f"{output}_drz_wht.fits"), fits.getdata(d / f"{output}_drz_sci.fits")


def test_final_only_rerun_uses_earlier_crmasks(full_run, caplog):
    d, inputs, wht, sci = full_run
    with caplog.at_level("INFO", logger="gpudrizzle"):
        wht2, sci2 = _final_only(d, inputs, "rerun")
    np.testing.assert_array_equal(wht2, wht)
    np.testing.assert_array_equal(sci2, sci)
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "crmask" in r.message]


def test_final_only_rerun_warns_of_a_missing_crmask(full_run, caplog):
    d, inputs, wht, _ = full_run
    gone = d / f"{os.path.basename(inputs[1])[:-9]}_sci2_crmask.fits"
    with caplog.at_level("INFO", logger="gpudrizzle"):
        os.replace(gone, f"{gone}.away")
        try:
            wht2, _ = _final_only(d, inputs, "rerun")
        finally:
            os.replace(f"{gone}.away", gone)
    warned = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"{gone} not found" in m for m in warned), warned
    assert (wht2 != wht).any()


def test_final_only_rerun_refuses_a_mask_of_another_shape(full_run, caplog):
    d, inputs, _, _ = full_run
    path = d / f"{os.path.basename(inputs[0])[:-9]}_sci1_crmask.fits"
    good = fits.getdata(path)
    fits.writeto(path, good[:-1], overwrite=True)
    try:
        with caplog.at_level("WARNING", logger="gpudrizzle"):
            _final_only(d, inputs, "rerun")
    finally:
        fits.writeto(path, good, overwrite=True)
    assert any(f"{path} is not a mask of the chip" in r.message for r in caplog.records)


# ---------------------------------------------------------------------------
# num_cores: the threads the kernels use, measured per thread


def _thread_ticks():
    """{thread id: user + system clock ticks} of this process's threads (Linux /proc)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(tid)] = int(fields[11]) + int(fields[12])
    return out


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory):
    if default_threads() < 2 or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs Linux and two CPUs for this process")
    try:
        get_backend("cpu")
    except RuntimeError as exc:
        pytest.skip(f"no cpu backend: {exc}")
    d = tmp_path_factory.mktemp("demo")
    return d, [t.path for t in write_demo_data(d, size="small")]


def _busy_threads(d, inputs, num_cores):
    """Threads that did at least 30 ms of work during a cpu-backend run with ``num_cores``."""
    before = _thread_ticks()
    astrodrizzle.AstroDrizzle(inputs, output=str(d / "out"), backend="cpu", in_memory=True,
                              overwrite=True, runfile="", num_cores=num_cores)
    after = _thread_ticks()
    ticks = 0.03 * os.sysconf("SC_CLK_TCK")
    return [t for t in after if after[t] - before.get(t, 0) >= ticks]


@pytest.mark.parametrize("num_cores,threads", [(1, 1), (0, 1), (2, 2), (None, 2)])
def test_num_cores_limits_the_kernel_threads(demo_inputs, num_cores, threads):
    d, inputs = demo_inputs
    _busy_threads(d, inputs, 2)  # the OpenMP runtime's threads exist before the measured run
    assert len(_busy_threads(d, inputs, num_cores)) == threads


def test_num_cores_is_restored_after_the_run(demo_inputs):
    d, inputs = demo_inputs
    lib = get_backend("cpu")._lib
    before = lib.omp_get_max_threads()
    _busy_threads(d, inputs, 1)
    assert lib.omp_get_max_threads() == before


def test_limit_threads_checks_its_argument():
    try:
        b = get_backend("cpu")
    except RuntimeError as exc:
        pytest.skip(f"no cpu backend: {exc}")
    with pytest.raises(ValueError, match="'n' must be an integer >= 1; got 0"):
        with b.limit_threads(0):
            pass


def _write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("files,cpus", [
    ({"cpu.max": "150000 100000\n"}, 2),
    ({"cpu.max": "50000 100000\n"}, 1),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_cpu_limit(tmp_path, files, cpus):
    for name, text in files.items():
        _write(tmp_path, name, text)
    assert cgroup_cpu_limit(str(tmp_path)) == cpus


def test_default_threads_bounded_by_the_quota(tmp_path):
    _write(tmp_path, "cpu.max", "100000 100000\n")
    assert default_threads(str(tmp_path)) == 1
    assert default_threads(str(tmp_path / "none")) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("files,available", [
    ({"memory.max": "1000000\n", "memory.current": "400000\n",
      "memory.stat": "anon 300000\ninactive_file 100000\n"}, 700000),
    ({"memory.max": "max\n", "memory.current": "400000\n"}, None),
    ({"memory/memory.limit_in_bytes": "2000000\n", "memory/memory.usage_in_bytes": "500000\n",
      "memory/memory.stat": "cache 1\ntotal_inactive_file 200000\n"}, 1700000),
    ({"memory/memory.limit_in_bytes": "9223372036854771712\n",
      "memory/memory.usage_in_bytes": "500000\n"}, None),
    ({"memory.max": "1000\n", "memory.current": "5000\n"}, 0),
    ({}, None),
])
def test_cgroup_memory_available(tmp_path, files, available):
    for name, text in files.items():
        _write(tmp_path, name, text)
    assert cgroup_memory_available(str(tmp_path)) == available


def test_host_memory_plan_reads_the_cgroup_limit(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_memory_available", lambda root="/sys/fs/cgroup": 12345)
    assert memory.available_bytes(get_backend("numpy")) == 12345
