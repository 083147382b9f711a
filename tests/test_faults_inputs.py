"""Faults in reading inputs and in the kernel cache (issue 11, defects 2, 10, 11, 12, 15, 16a).

Broken files are made by cutting or patching the small demo FLTs (4 exposures
of 2 ACS/WFC-like chips, 256x512): every fault is an error naming the file (and
the extension and cause), found before any work, and the inputs are left as
they were.
"""

import gzip
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle.astrodrizzle import AstroDrizzle
from gpudrizzle.backends import cpu
from gpudrizzle.demo import write_demo_data
from gpudrizzle.exposure import Exposure, load_exposure, load_exposures
from gpudrizzle.inputs import expand_input
from gpudrizzle.outframe import output_frame
from gpudrizzle.preview import ProductImages, load_product, write_preview

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The four small demo FLTs (read-only: tests copy what they break)."""
    directory = tmp_path_factory.mktemp("demo")
    write_demo_data(str(directory), size="small")
    return directory


@pytest.fixture
def flts(demo_dir, tmp_path):
    """Fresh copies of the demo FLTs in ``tmp_path``, sorted by name."""
    names = sorted(p.name for p in demo_dir.glob("*_flt.fits"))
    for name in names:
        shutil.copy(demo_dir / name, tmp_path / name)
    return [tmp_path / n for n in names]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cut(path, size, to=None):
    """Write the first ``size`` bytes of ``path`` to ``to`` (default: in place); return it."""
    data = path.read_bytes()[:size]
    to = to or path
    to.write_bytes(data)
    return to


def _hdu_offsets(path, index):
    """(header start, data start) of HDU ``index``, in bytes."""
    with fits.open(path) as hdul:
        info = hdul.fileinfo(index)
    return info["hdrLoc"], info["datLoc"]


def _patch_cards(path, index, **cards):
    """Overwrite cards of HDU ``index`` in place, bytes only (the data stay as they are)."""
    start, end = _hdu_offsets(path, index)
    data = bytearray(path.read_bytes())
    for key, value in cards.items():
        rows = [i for i in range(start, end, 80) if data[i:i + 8].decode("ascii").strip() == key]
        data[rows[0]:rows[0] + 80] = str(fits.Card(key, value)).encode("ascii")
    path.write_bytes(bytes(data))


def _gzip(path):
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def _load(path):
    return load_exposures(expand_input(str(path)))


# ---- defect 2: truncated inputs lose chips silently ---------------------------------------

def test_defect2_flt_cut_in_half_is_an_error_naming_the_file(flts):
    broken = flts[1]
    _cut(broken, broken.stat().st_size // 2)
    before = _sha(broken)
    with pytest.raises(OSError, match=rf"{broken.name} is truncated: NEXTEND = 6 but only 3 "):
        load_exposures(expand_input([str(f) for f in flts]))
    assert _sha(broken) == before


def test_defect2_cut_inside_sci_data_names_the_extension(flts):
    broken = flts[0]
    _, sci2 = _hdu_offsets(broken, 4)
    _cut(broken, sci2 + 100_000)
    with pytest.raises(OSError, match=rf"{broken.name}\[SCI,2\] is truncated .*declares 524288 "
                                      rf"bytes of data from byte {sci2}"):
        _load(broken)


def test_defect2_header_cut_short_after_the_last_hdu_is_an_error(flts):
    broken = flts[0]
    header4, _ = _hdu_offsets(broken, 4)
    _cut(broken, header4 + 1000)
    with pytest.raises(OSError, match=rf"{broken.name} is truncated"):
        _load(broken)


@pytest.mark.parametrize("keep", ["half", "all but the last 20 bytes"])
def test_defect2_truncated_gzip_is_an_error(flts, keep):
    """A cut .fits.gz used to give no warning at all and drop DQ,1 (or DQ,2)."""
    packed = _gzip(flts[0])
    size = packed.stat().st_size
    _cut(packed, size // 2 if keep == "half" else size - 20)
    with pytest.raises(OSError, match=rf"{packed.name} is truncated or corrupt: Compressed file "
                                      "ended before the end-of-stream marker"):
        _load(packed)


def test_defect2_whole_gzip_reads_every_chip(flts):
    exposure = load_exposure(_gzip(flts[0]))
    assert [c.dq is not None and c.err is not None for c in exposure.chips] == [True, True]


def test_defect2_stale_nextend_is_reported_with_the_way_out():
    """A file holding fewer extensions than NEXTEND promises is taken as truncated."""
    path = os.path.join(SHARED_DATA, "j8bt06nyq_sip_flt.fits")
    if not os.path.isfile(path):
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    with pytest.raises(OSError, match="NEXTEND = 4 but only 2 extension.*set NEXTEND to the number"):
        load_exposure(path)


def test_defect2_cli_run_exits_non_zero_naming_the_file(flts, tmp_path):
    broken = flts[2]
    _cut(broken, broken.stat().st_size // 2)
    env = dict(os.environ, GPUDRIZZLE_BACKEND="numpy")
    res = subprocess.run([sys.executable, "-m", "gpudrizzle.cli", "run", "-q", *map(str, flts),
                          "--output", str(tmp_path / "out")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert f"{broken.name} is truncated" in res.stderr
    assert not list(tmp_path.glob("out*"))


# ---- defect 10 (inputs): messages that name neither file nor cause ------------------------

def test_defect10_dq_claiming_200000_squared_names_file_and_extension(flts):
    broken = flts[0]
    _patch_cards(broken, 3, NAXIS1=200000, NAXIS2=200000)
    with pytest.raises(OSError, match=rf"{broken.name}\[DQ,1\] is truncated \(or its header is "
                                      r"wrong\): the header declares 80000000000 bytes"):
        _load(broken)


def test_defect10_sci_naxis_of_2_31_minus_1_names_file_and_extension(flts):
    broken = flts[0]
    _patch_cards(broken, 1, NAXIS1=2**31 - 1)
    with pytest.raises(OSError, match=rf"{broken.name}\[SCI,1\] is truncated \(or its header is "
                                      "wrong\\)"):
        _load(broken)


def _exposure_at(ra, name):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, 0.0]
    w.wcs.crpix = [50.0, 50.0]
    w.wcs.cd = [[-1e-5, 0.0], [0.0, 1e-5]]
    return Exposure.from_arrays(np.ones((100, 100), np.float32), w, 100.0, name=name)


def test_defect10_inputs_more_than_90_degrees_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run log goes here
    exposures = [_exposure_at(ra, n) for ra, n in ((0.0, "east"), (100.0, "mid"), (200.0, "west"))]
    with pytest.raises(ValueError, match=r"too far apart for one output frame: a corner of "
                                         r"east\[chip 1\] is 100.0 degrees .*tangent projection"):
        output_frame(exposures)
    with pytest.raises(ValueError, match="too far apart for one output frame"):
        AstroDrizzle(exposures, backend="numpy", build=False, output="far")


def test_defect10_preview_of_a_junk_file_names_it(tmp_path):
    junk = tmp_path / "junk_drz.fits"
    junk.write_bytes(b"this is not FITS\n" * 300)
    with pytest.raises(OSError, match=rf"cannot read product .*{junk.name}"):
        load_product(str(junk))
    res = subprocess.run([sys.executable, "-m", "gpudrizzle.cli", "preview", str(junk)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and junk.name in res.stderr


# ---- defect 11: names with [] and commas ----------------------------------------------------

def test_defect11_existing_name_with_brackets_is_taken_literally(flts, tmp_path):
    odd = tmp_path / "j9dm01aq[1]_flt.fits"
    shutil.copy(flts[0], odd)
    assert expand_input(str(odd)).files == (str(odd),)
    assert expand_input([str(odd)]).files == (str(odd),)


def test_defect11_existing_name_with_a_comma_in_a_string(flts, tmp_path):
    odd = tmp_path / "a,b_flt.fits"
    shutil.copy(flts[0], odd)
    assert expand_input(str(odd)).files == (str(odd),)


def test_defect11_atlist_comma_belongs_to_the_name(flts, tmp_path):
    odd = tmp_path / "a,b_flt.fits"
    shutil.copy(flts[0], odd)
    listfile = tmp_path / "inputs.lst"
    listfile.write_text(f"{odd}\n{flts[1]}\n")
    assert expand_input(f"@{listfile}").files == (str(odd), str(flts[1]))


def test_defect11_atlist_comma_separated_columns_say_what_is_wrong(flts, tmp_path):
    listfile = tmp_path / "inputs.lst"
    listfile.write_text(f"{flts[0]},{flts[1]}\n")
    with pytest.raises(FileNotFoundError, match=r"inputs.lst line 1\).*separated by white space, "
                                                "so a comma is part of the file name"):
        expand_input(f"@{listfile}")


# ---- defect 12: EXPTIME = T ------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [(True, "True"), ("500", "'500'")])
def test_defect12_exptime_that_is_not_a_number(flts, value, shown):
    broken = flts[0]
    _patch_cards(broken, 0, EXPTIME=value)
    with pytest.raises(ValueError, match=rf"{broken.name}: exposure time keyword EXPTIME = "
                                         rf"{shown} is not a number"):
        _load(broken)


# ---- defect 15: an unwritable kernel cache ------------------------------------------------

@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """GPUDRIZZLE_CACHE_DIR below a plain file (unwritable even for root); fallback in tmp_path."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(blocker / "cache"))
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    cpu._fallback_for.cache_clear()
    monkeypatch.setattr(cpu, "_private_temporary_cache", lambda: fallback)
    yield blocker / "cache", fallback
    cpu._fallback_for.cache_clear()


def test_defect15_unwritable_cache_falls_back_with_one_warning(unwritable_cache, caplog):
    from gpudrizzle.backends.nvrtc import cubin_dir

    configured, fallback = unwritable_cache
    with caplog.at_level(logging.WARNING, logger="gpudrizzle"):
        assert cpu.cache_dir() == fallback
        assert cubin_dir() == fallback / "cubin"
        assert cpu.cache_dir() == fallback
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert f"kernel cache {configured} cannot be written" in warned[0]
    assert str(fallback) in warned[0]
    assert (fallback / "cubin").is_dir()


def test_defect15_build_library_goes_to_the_fallback(unwritable_cache, monkeypatch):
    _, fallback = unwritable_cache
    built = []
    monkeypatch.setattr(cpu, "_compile", lambda cxx, flags, target: (built.append(target),
                                                                     target.write_bytes(b"")))
    path = cpu.build_library()
    assert path.parent == fallback and built == [path]


def test_defect15_no_writable_place_is_a_runtime_error_auto_can_skip(unwritable_cache,
                                                                     monkeypatch):
    def no_temporary():
        raise PermissionError("Permission denied: '/tmp'")

    monkeypatch.setattr(cpu, "_private_temporary_cache", no_temporary)
    with pytest.raises(RuntimeError, match=r"kernel cache .*a_file/cache cannot be written "
                                           r"\(Not a directory\) and no temporary directory"):
        cpu.CpuBackend()


def test_defect15_build_failure_on_disk_is_a_runtime_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(tmp_path))

    def disk_full(cxx, flags, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cpu, "_compile", disk_full)
    with pytest.raises(RuntimeError, match=rf"cannot build the cpu kernels in {tmp_path}: .*"
                                           "No space left"):
        cpu.build_library()


# ---- defect 16a: preview's "Mean of empty slice" --------------------------------------------

def test_defect16a_preview_of_an_image_with_an_empty_region_warns_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    sci = np.full((1300, 1300), 5.0, np.float32)
    sci[:400, :400] = np.nan  # no data there: whole display blocks without a finite pixel
    images = ProductImages("x_drz.fits", sci, np.ones_like(sci), [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_preview(images, str(tmp_path / "x.png"))
    assert (tmp_path / "x.png").stat().st_size > 0
