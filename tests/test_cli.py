"""The ``gpudrizzle`` command, run as a user runs it (subprocesses), and its helpers."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle.progress import ProgressBar, StepProgress, format_timings

STEPS = ["initialise", "static mask", "sky", "separate drizzle", "median", "blot and driz_cr",
         "final drizzle"]


def gpudrizzle(*args, cwd=None, env_extra=None, stderr=subprocess.PIPE):
    """Run ``python -m gpudrizzle.cli ARGS`` and return the CompletedProcess."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gpudrizzle.cli", *map(str, args)], cwd=cwd,
                          env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The small demo, run once: (output directory, finished process)."""
    outdir = tmp_path_factory.mktemp("demo")
    proc = gpudrizzle("demo", "--size", "small", "--outdir", outdir)
    assert proc.returncode == 0, proc.stderr
    return outdir, proc


@pytest.fixture
def no_matplotlib(tmp_path):
    """Environment in which ``import matplotlib`` fails, as without the plot extra."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(blocker.parent),
                                                        os.environ.get("PYTHONPATH")]))}


def _single_error_line(proc, expected_status, *words):
    assert proc.returncode == expected_status, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


# ---------------------------------------------------------------------------
# demo


def test_demo_writes_product_report_and_log(demo):
    outdir, proc = demo
    with fits.open(outdir / "demo_drz.fits") as hdul:
        sci, wht = hdul["SCI"].data, hdul["WHT"].data
        assert hdul[0].header["NDRIZIM"] == 8  # 4 exposures x 2 chips
    covered = wht > 0
    assert covered.mean() > 0.8
    assert np.isfinite(sci[covered]).all()
    report = json.loads((outdir / "demo_drz_report.json").read_text())
    assert list(report["timings_s"]) == STEPS
    assert report["backend"] in ("cuda", "cpu", "numpy") and report["device"]
    assert len(report["sky"]) == 8 and all(v > 0 for v in report["sky"].values())
    # every chip got cosmic-ray tracks; each is found
    assert len(report["cr_pixels"]) == 8 and min(report["cr_pixels"].values()) > 20
    assert report["output_frame"]["shape"] == list(sci.shape)
    assert report["output_frame"]["pixel_scale_arcsec"] == pytest.approx(0.05, rel=1e-3)
    figures = report["product"]
    assert figures["covered"] == int(covered.sum()) and figures["nan_covered"] == 0
    good = sci[covered].astype(np.float64)
    mad = np.median(np.abs(good - np.median(good)))
    assert figures["noise_sigma"] == pytest.approx(1.4826 * mad, rel=1e-9) and mad > 0
    assert report["versions"]["numpy"] == np.__version__ and report["peak_rss_mib"] > 10
    log_text = (outdir / "demo.log").read_text()
    assert "final drizzle" in log_text and "total" in log_text  # the timing table
    for name in ("demo_drz.fits", "demo_drz_report.json", "demo.log"):
        assert name in proc.stdout
    for step in STEPS:
        assert step in proc.stdout


def test_no_progress_when_stderr_is_not_a_terminal(demo):
    _, proc = demo
    assert "\r" not in proc.stderr and "[" not in proc.stderr
    assert "separate drizzle" not in proc.stderr and "/8" not in proc.stderr


def test_demo_picture(demo):
    pytest.importorskip("matplotlib", reason="the picture checks need the plot extra (matplotlib)")
    from PIL import Image

    from gpudrizzle.preview import picture_size

    outdir, proc = demo
    path = outdir / "demo_drz.png"
    assert str(path) in proc.stdout
    with Image.open(path) as im:
        assert im.size == picture_size(8)
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 20  # images, not a blank page
    red = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    crs = (red[..., 0] > 200) & (red[..., 1] < 60) & (red[..., 2] < 60)
    assert crs.sum() > 100  # the cosmic rays drawn over the inputs


def test_demo_module_alias():
    proc = subprocess.run([sys.executable, "-m", "gpudrizzle.demo", "--help"], text=True,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert "--size" in proc.stdout and "--outdir" in proc.stdout


# ---------------------------------------------------------------------------
# run


def test_run_passes_parameters_and_writes_report(demo, tmp_path):
    outdir, _ = demo
    inputs = sorted(str(p) for p in (outdir / "data").glob("*_flt.fits"))
    report = tmp_path / "run.json"
    proc = gpudrizzle("run", *inputs, "--output", tmp_path / "field", "--final-kernel", "point",
                      "--final-pixfrac", "0.7", "--build", "--report", report, "--clean", "yes",
                      "--runfile", tmp_path / "field.log", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with fits.open(tmp_path / "field_drz.fits") as hdul:
        assert hdul[0].header["D001KERN"] == "point"
        assert hdul[0].header["D001PIXF"] == pytest.approx(0.7)
    data = json.loads(report.read_text())
    assert data["parameters"]["final_kernel"] == "point"
    assert list(data["timings_s"]) == STEPS
    assert not list(tmp_path.glob("*_single_sci.fits"))  # --clean yes


def test_run_reads_config_file(demo, tmp_path):
    outdir, _ = demo
    cfg = tmp_path / "mine.cfg"
    cfg.write_text(f'_task_name_ = astrodrizzle\ninput = "{outdir / "data" / "*_flt.fits"}"\n'
                   f'output = "{tmp_path / "cfgrun"}"\nbuild = True\n'
                   '[STEP 7: DRIZZLE FINAL COMBINED IMAGE]\nfinal_kernel = turbo\n')
    proc = gpudrizzle("run", "--config", cfg, "--quiet", "--runfile", "", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # --quiet
    with fits.open(tmp_path / "cfgrun_drz.fits") as hdul:
        assert hdul[0].header["D001KERN"] == "turbo"


def test_every_parameter_is_an_option():
    from gpudrizzle.params import PARAMETERS

    proc = gpudrizzle("run", "--help")
    assert proc.returncode == 0
    for name, par in PARAMETERS.items():
        if name != "input":
            assert par.cli_option in proc.stdout, name
    assert "Kernel of the final drizzle (default: 'square')" in " ".join(proc.stdout.split())


# ---------------------------------------------------------------------------
# errors and exit codes


@pytest.mark.parametrize("args, words", [
    (["run", "x_flt.fits", "--final-kernel", "nope"], ["final_kernel", "nope"]),
    (["run", "x_flt.fits", "--final-pixfrac", "-1"], ["final_pixfrac"]),
    (["run", "x_flt.fits", "--build", "maybe"], ["build"]),
    (["run", "x_flt.fits", "--no-such-option", "1"], ["--no-such-option"]),
    (["run"], ["no INPUT"]),
    (["bogus"], ["bogus"]),
    (["demo", "--size", "huge"], ["huge"]),
    ([], ["COMMAND"]),
])
def test_usage_errors_exit_2_with_one_line(args, words, tmp_path):
    _single_error_line(gpudrizzle(*args, cwd=tmp_path), 2, *words)


@pytest.mark.parametrize("args, words", [
    (["run", "missing_flt.fits"], ["missing_flt.fits"]),
    (["run", "--config", "missing.cfg"], ["missing.cfg"]),
    (["preview", "missing_drz.fits"], ["missing_drz.fits"]),
])
def test_missing_files_exit_1_with_one_line(args, words, tmp_path):
    _single_error_line(gpudrizzle(*args, cwd=tmp_path), 1, *words)


def test_debug_shows_the_traceback(tmp_path):
    proc = gpudrizzle("run", "missing_flt.fits", "--debug", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "missing_flt.fits" in proc.stderr.splitlines()[-1]


def test_existing_product_is_a_failure(demo, tmp_path):
    outdir, _ = demo
    inputs = sorted((outdir / "data").glob("*_flt.fits"))
    proc = gpudrizzle("run", *inputs, "--output", outdir / "demo", "--build", "--runfile", "",
                      cwd=tmp_path)
    _single_error_line(proc, 1, "exists", "--overwrite yes")


# ---------------------------------------------------------------------------
# info, preview


def test_info_lists_backends():
    proc = gpudrizzle("info")
    assert proc.returncode == 0, proc.stderr
    for name in ("cuda", "cpu", "numpy"):
        assert f"  {name} " in proc.stdout
    assert "numpy  available" in proc.stdout
    info = json.loads(gpudrizzle("info", "--json").stdout)
    assert info["backends"]["numpy"] is None
    assert info["default_backend"] in ("cuda", "cpu", "numpy")
    if info["backends"]["cuda"] is not None:
        assert info["cuda_device"] is None and "cuda" in proc.stdout and "unavailable" in proc.stdout


def test_preview_command(demo, tmp_path):
    pytest.importorskip("matplotlib", reason="the picture checks need the plot extra (matplotlib)")
    from PIL import Image

    outdir, _ = demo
    out = tmp_path / "look.png"
    proc = gpudrizzle("preview", outdir / "demo_drz.fits", "--output", out,
                      "--inputs", outdir / "data")
    assert proc.returncode == 0, proc.stderr
    assert "8 input chip(s)" in proc.stdout
    with Image.open(out) as im:
        assert im.size == (1600, 1200)


def test_preview_without_matplotlib_says_what_to_install(demo, tmp_path, no_matplotlib):
    outdir, _ = demo
    proc = gpudrizzle("preview", outdir / "demo_drz.fits", "--output", tmp_path / "x.png",
                      env_extra=no_matplotlib)
    _single_error_line(proc, 1, "pip install 'gpudrizzle[plot]'")
    assert not (tmp_path / "x.png").exists()
    # the run fails before it starts, not after the work
    proc = gpudrizzle("run", outdir / "data" / "j9dm01aq_flt.fits", "--output", tmp_path / "p",
                      "--preview", tmp_path / "p.png", env_extra=no_matplotlib, cwd=tmp_path)
    _single_error_line(proc, 1, "gpudrizzle[plot]")
    assert not list(tmp_path.glob("p_drz*"))


def test_info_without_matplotlib(no_matplotlib):
    proc = gpudrizzle("info", env_extra=no_matplotlib)
    assert proc.returncode == 0
    assert "pip install 'gpudrizzle[plot]'" in proc.stdout


# ---------------------------------------------------------------------------
# progress


def test_progress_bar_on_a_terminal(demo, tmp_path):
    pty = pytest.importorskip("pty")
    outdir, _ = demo
    leader, follower = pty.openpty()
    try:
        proc = gpudrizzle("run", outdir / "data" / "j9dm01aq_flt.fits",
                          outdir / "data" / "j9dm02aq_flt.fits", "--output", tmp_path / "tty",
                          cwd=tmp_path, stderr=follower)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0
    drawn = b"".join(chunks).decode()
    assert "separate drizzle" in drawn and "2/2" in drawn and "4/4" in drawn
    assert "\r" in drawn


def test_pipeline_reports_every_step_and_item(demo):
    from gpudrizzle.astrodrizzle import AstroDrizzle

    outdir, _ = demo
    events = []
    inputs = sorted(str(p) for p in (outdir / "data").glob("*_flt.fits"))[:2]
    result = AstroDrizzle(inputs, output=str(outdir / "events"), clean=True, runfile="",
                          driz_combine=True, progress=events.append)
    finished = [e.step for e in events if e.finished]
    assert finished == STEPS[1:]
    assert list(result.timings) == STEPS
    sep = [e for e in events if e.step == "separate drizzle"]
    assert [e.done for e in sep] == [0, 1, 2, 2] and all(e.total == 2 for e in sep)
    assert sep[1].item == inputs[0]
    chips = [e for e in events if e.step == "final drizzle" and not e.finished]
    assert [e.done for e in chips] == [0, 1, 2, 3, 4]


def test_progress_bar_and_timing_table_text():
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    bar(StepProgress("final drizzle", 0, 4, "", 0.0, False))
    bar(StepProgress("final drizzle", 2, 4, "/data/a_flt.fits[SCI,1]", 1.5, False))
    bar.close()
    text = stream.getvalue()
    assert "[#####-----]" in text and "2/4" in text and "a_flt.fits[SCI,1]" in text
    assert "/data/" not in text and text.endswith("\n")
    table = format_timings({"sky": 1.0, "final drizzle": 3.0}).splitlines()
    assert table[1].split() == ["sky", "1.000", "25.0%"]
    assert table[-1].split() == ["total", "4.000", "100.0%"]


def test_product_figures_of_a_separate_sci_wht_pair(tmp_path):
    """build=False products (_sci/_wht files): coverage, a NaN where there is weight, robust sigma."""
    from gpudrizzle.report import product_figures

    rng = np.random.default_rng(5)
    sci = rng.normal(10.0, 2.0, (60, 50)).astype(np.float32)
    wht = np.ones_like(sci)
    wht[:5] = 0.0
    sci[:5] = np.nan
    sci[30, 20] = np.nan  # a NaN with weight: what the figures must show
    paths = [str(tmp_path / "x_drz_sci.fits"), str(tmp_path / "x_drz_wht.fits")]
    fits.writeto(paths[0], sci)
    fits.writeto(paths[1], wht)
    f = product_figures(paths)
    assert (f["pixels"], f["covered"], f["nan_covered"], f["nan_total"]) == (3000, 2750, 1, 251)
    assert f["noise_sigma"] == pytest.approx(2.0, rel=0.1) and f["wht_median"] == 1.0
    assert product_figures([]) is None


def test_misspelled_option_suggests_the_right_one(capsys):
    from gpudrizzle.cli import main

    assert main(["tweakreg", "x_flt.fits", "--threshhold", "5"]) == 2
    assert "did you mean --threshold?" in capsys.readouterr().err


def test_toolbox_inputs_may_follow_the_options(tmp_path, monkeypatch):
    """Sub-command inputs after (or between) options, as the README shows them."""
    from gpudrizzle import cli

    parser = cli.build_parser()
    for argv, want in [
            (["tweakback", "final_drz.fits", "--orig-wcs-name", "DRZ_ORIG", "a_flt.fits",
              "b_flt.fits"], {"drz_file": "final_drz.fits", "orig_wcs_name": "DRZ_ORIG",
                              "input_files": ["a_flt.fits", "b_flt.fits"]}),
            (["pixtopix", "--x", "5", "--direction", "b", "in.fits[sci,1]", "out.fits[1]",
              "--y", "6"], {"inimage": "in.fits[sci,1]", "outimage": "out.fits[1]",
                               "direction": "backward", "x": [5.0], "y": [6.0]}),
            (["resetbits", "f.fits", "-q", "16", "1,2"],
             {"input": "f.fits", "bits": "16", "extver": [1, 2], "quiet": True}),
            (["run", "--final-kernel", "square", "a_flt.fits", "b_flt.fits"],
             {"inputs": ["a_flt.fits", "b_flt.fits"], "final_kernel": "square"}),
            (["tweakreg", "--threshold", "5", "a_flt.fits"],
             {"inputs": ["a_flt.fits"], "threshold": "5"})]:
        args = cli._parse(parser, argv)
        assert args.command == argv[0]
        for name, value in want.items():
            assert getattr(args, name) == value, (argv, name)
    monkeypatch.chdir(tmp_path)
    proc = gpudrizzle("tweakback", "final_drz.fits", "--orig-wcs-name", "DRZ_ORIG",
                      "j9dz01aq_flt.fits", cwd=tmp_path)
    _single_error_line(proc, 1, "gpudrizzle tweakback: error:", "final_drz.fits")
    assert "unrecognized" not in proc.stderr


def test_misspelled_toolbox_option_names_the_sub_command(capsys):
    from gpudrizzle.cli import main

    assert main(["pixtosky", "x.fits[sci,1]", "--no-hsm", "--x", "1", "--y", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpudrizzle pixtosky: error: unrecognized arguments: --no-hsm; "
                          "did you mean --no-hms?"), err
    assert main(["tweakreg", "x_flt.fits", "--threshhold", "5"]) == 2
    assert capsys.readouterr().err.startswith("gpudrizzle tweakreg: error: unrecognized")
