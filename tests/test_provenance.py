"""The run's provenance: parameter sources, the runfile's record, the report's per-input facts."""

import glob
import json
import logging
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import astrodrizzle, files
from gpudrizzle.config import build_configobj
from gpudrizzle.demo import write_demo_data
from gpudrizzle.exposure import Exposure
from gpudrizzle.params import PARAMETERS, SECTIONS, parameter_lines, resolve_parameters
from gpudrizzle.report import run_report, write_report

# "2026-12-01 10:38:39,510 INFO      name = value  (source)"
_PARAM_LINE = re.compile(r"^\S+ \S+ INFO {6}(\w+) = (.*)  \((.*)\)$")
_SECTION_LINE = re.compile(r"^\S+ \S+ INFO {4}\[(.*)\]$")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gpudrizzle.cli", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)


def _user_call(d):
    return dict(output=str(d / "prov"), runfile=str(d / "astrodrizzle.log"), backend="numpy",
                clean=True, final_kernel="gaussian")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A small demo run: final_pixfrac from a .cfg file, final_kernel (and the call's own
    input, output, runfile, backend, clean) from the user, everything else default."""
    d = tmp_path_factory.mktemp("provenance")
    write_demo_data(str(d), size="small")
    cfg = d / "my.cfg"
    cfg.write_text("_task_name_ = astrodrizzle\n[STEP 7: DRIZZLE FINAL COMBINED IMAGE]\n"
                   "final_pixfrac = 0.8\n")
    inputs = sorted(glob.glob(str(d / "*_flt.fits")))
    result = astrodrizzle.AstroDrizzle(inputs, configobj=str(cfg), **_user_call(d))
    return d, cfg, inputs, result, (d / "astrodrizzle.log").read_text()


def _logged_parameters(text):
    """{name: (value, source)} and the section headers, in log order."""
    params, sections = {}, []
    for line in text.splitlines():
        m = _PARAM_LINE.match(line)
        if m:
            params[m.group(1)] = (m.group(2), m.group(3))
        m = _SECTION_LINE.match(line)
        if m:
            sections.append(m.group(1))
    return params, sections


# ---------------------------------------------------------------------------
# where each value came from


def test_sources_default_user_and_configobj():
    p = resolve_parameters({"final_kernel": "point"}, base={"final_pixfrac": "0.5"})
    assert p.sources["final_kernel"] == "user" and p.sources["final_pixfrac"] == "configobj"
    assert {n for n, s in p.sources.items() if s == "default"} == \
        set(PARAMETERS) - {"final_kernel", "final_pixfrac"}


def test_sources_of_a_cfg_file_survive_user_overrides(tmp_path):
    cfg = tmp_path / "a.cfg"
    cfg.write_text("final_pixfrac = 0.5\nfinal_kernel = point\n")
    base = build_configobj(cfg)
    assert base.sources["final_pixfrac"] == f".cfg {cfg}" and base.sources["build"] == "default"
    p = resolve_parameters({"final_kernel": "square"}, base=base)
    assert p.sources["final_pixfrac"] == f".cfg {cfg}" and p.sources["final_kernel"] == "user"
    assert p.sources["final_wht_type"] == "default"
    assert pickle.loads(pickle.dumps(p)).sources == p.sources


def test_a_frame_parameter_turning_its_frame_on_says_so():
    p = resolve_parameters(final_rot=10.0)
    assert p["final_wcs"] is True and p.sources["final_wcs"] == "user (turned on by final_rot)"
    assert resolve_parameters(final_rot=10.0, final_wcs=True).sources["final_wcs"] == "user"


def test_parameter_lines_cover_the_table_by_section():
    lines = parameter_lines(resolve_parameters(final_kernel="point"))
    headers = [line[1:-1] for line in lines if line.startswith("[")]
    assert headers == ["top level"] + [s for s in SECTIONS[1:]]
    assert len(lines) == len(PARAMETERS) + len(headers)
    assert "  final_kernel = 'point'  (user)" in lines
    assert "  runfile = 'astrodrizzle.log'  (default)" in lines


# ---------------------------------------------------------------------------
# the runfile


def test_runfile_lists_every_parameter_with_its_source(demo_run):
    d, cfg, inputs, result, text = demo_run
    logged, sections = _logged_parameters(text)
    assert set(logged) == set(PARAMETERS)
    assert sections == ["top level"] + list(SECTIONS[1:])
    user = set(_user_call(d)) | {"input"}
    expected = {name: "user" if name in user else "default" for name in PARAMETERS}
    expected["final_pixfrac"] = f".cfg {cfg}"
    assert {name: source for name, (_, source) in logged.items()} == expected
    assert logged["final_pixfrac"][0] == "0.8" and logged["final_kernel"][0] == "'gaussian'"


def test_runfile_names_versions_backend_and_device(demo_run):
    text = demo_run[4]
    assert re.search(r"INFO    backend: numpy; device: host CPU, \d+ core\(s\), numpy", text)
    versions = re.search(r"INFO    versions: (.*)$", text, re.M).group(1)
    assert f"numpy {np.__version__}" in versions and "astropy " in versions
    assert versions.startswith("gpudrizzle ")


def test_runfile_lists_each_input_with_exptime_filter_and_sky(demo_run):
    d, cfg, inputs, result, text = demo_run
    chips = re.findall(r"INFO    input (\S+)\[SCI,(\d)\]: EXPTIME ([\d.]+) s, filter (\S+), "
                       r"sky (\S+)$", text, re.M)
    assert len(chips) == 2 * len(inputs)
    for name, chip, exptime, filt, sky in chips:
        root = fits.getval(name, "ROOTNAME").lower()
        assert float(exptime) == fits.getval(name, "EXPTIME")
        assert filt == "F606W"  # FILTER1 F606W, FILTER2 CLEAR2L
        assert float(sky) == pytest.approx(result.sky[(root, int(chip))], rel=1e-5)


def test_failing_rerun_keeps_the_earlier_log_and_adds_its_error(tmp_path, demo_run):
    log = tmp_path / "astrodrizzle.log"
    log.write_text(demo_run[4])
    with pytest.raises(FileNotFoundError):
        astrodrizzle.AstroDrizzle(str(tmp_path / "missing_flt.fits"), output=str(tmp_path / "x"),
                                  runfile=str(log), backend="numpy")
    text = log.read_text()
    assert text.startswith(demo_run[4])  # the good run's record is kept
    rerun = text[len(demo_run[4]):]
    assert "AstroDrizzle (gpudrizzle" in rerun and "input = " in rerun
    last = rerun.splitlines()[-1]
    assert re.match(r"^\S+ \S+ ERROR   AstroDrizzle failed: FileNotFoundError: input file not "
                    r"found: .*missing_flt\.fits$", last), last


def test_failing_first_run_leaves_a_log_with_the_error(tmp_path):
    log = tmp_path / "run.log"
    with pytest.raises(FileNotFoundError):
        astrodrizzle.AstroDrizzle(str(tmp_path / "missing_flt.fits"), runfile=str(log),
                                  backend="numpy")
    assert "ERROR   AstroDrizzle failed: FileNotFoundError" in log.read_text()


def test_logfile_note_goes_to_the_file_only(tmp_path):
    logger = logging.getLogger("gpudrizzle.test_provenance")
    seen = []
    other = logging.Handler()
    other.emit = seen.append
    logger.addHandler(other)
    try:
        fmt = "%(levelname)s %(message)s"
        with files.LogFile(tmp_path / "n.log", logger, logging.INFO, fmt) as lf:
            lf.note(logging.ERROR, "only here")
        assert (tmp_path / "n.log").read_text() == "ERROR only here\n" and seen == []
        with pytest.raises(RuntimeError, match="outside"):
            lf.note(logging.ERROR, "too late")
    finally:
        logger.removeHandler(other)


# ---------------------------------------------------------------------------
# per-input facts


def test_result_and_report_hold_per_input_facts(demo_run, tmp_path):
    d, cfg, inputs, result, text = demo_run
    assert len(result.inputs) == 2 * len(inputs)
    for facts in result.inputs:
        root = fits.getval(facts["file"], "ROOTNAME").lower()
        chip = int(facts["extension"].split(",")[1])
        assert facts["extension"] == f"SCI,{chip}"
        assert facts["exptime"] == fits.getval(facts["file"], "EXPTIME")
        assert facts["filter"] == "F606W"
        assert facts["sky"] == result.sky[(root, chip)]
        assert facts["cr_pixels"] == result.cr_pixels[(root, chip)] > 0
    path = write_report(run_report(result), str(tmp_path / "r.json"))
    assert json.loads(open(path).read())["inputs"] == [dict(f) for f in result.inputs]


def test_cr_pixels_none_without_driz_cr(demo_run, tmp_path):
    inputs = demo_run[2]
    result = astrodrizzle.AstroDrizzle(inputs[:1], output=str(tmp_path / "one"), runfile="",
                                       backend="numpy", clean=True)
    assert [f["cr_pixels"] for f in result.inputs] == [None, None]


def _exposure(instrument, **keys):
    header = fits.Header(dict(INSTRUME=instrument, **keys))
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cdelt = [-1e-5, 1e-5]
    e = Exposure.from_arrays(np.zeros((4, 4), np.float32), w, 1.0)
    return Exposure(e.chips, e.exptime, None, "x", instrument,
                    primary_cards=header.tostring(padding=False, endcard=False))


@pytest.mark.parametrize("instrument, keys, expected", [
    ("ACS", {"FILTER1": "F606W", "FILTER2": "CLEAR2L"}, "F606W"),
    ("ACS", {"FILTER1": "CLEAR1L", "FILTER2": "F814W"}, "F814W"),
    ("ACS", {"FILTER1": "F555W", "FILTER2": "POL60V"}, "F555W,POL60V"),
    ("ACS", {"FILTER1": "CLEAR1S", "FILTER2": "CLEAR2S"}, "CLEAR"),
    ("WFC3", {"FILTER": "F160W", "FILTER1": "F999W"}, "F160W"),
    ("", {"FILTER": "r"}, "R"),
    ("", {}, ""),
])
def test_exposure_filter(instrument, keys, expected):
    assert _exposure(instrument, **keys).filter == expected


def test_in_memory_exposure_has_no_filter():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    assert Exposure.from_arrays(np.zeros((4, 4), np.float32), w, 1.0).filter == ""


def test_cli_config_values_keep_their_file_and_a_failure_is_one_line(demo_run, tmp_path):
    d, cfg, inputs = demo_run[:3]
    log = tmp_path / "cli.log"
    common = ["--runfile", log, "--backend", "numpy", "--clean", "yes"]
    good = _cli("run", *inputs, "--config", cfg, "--output", tmp_path / "c", *common)
    assert good.returncode == 0, good.stderr
    logged, _ = _logged_parameters(log.read_text())
    assert logged["final_pixfrac"][1] == f".cfg {cfg}" and logged["output"][1] == "user"
    assert logged["final_kernel"][1] == "default"
    bad = _cli("run", tmp_path / "missing_flt.fits", "--output", tmp_path / "m", *common)
    assert bad.returncode == 1
    assert bad.stderr.count("input file not found") == 1  # the log's ERROR record is not echoed
    assert log.read_text().splitlines()[-1].endswith(
        f"ERROR   AstroDrizzle failed: FileNotFoundError: input file not found: "
        f"{tmp_path / 'missing_flt.fits'}")
    assert len(_logged_parameters(log.read_text())[0]) == len(PARAMETERS)
