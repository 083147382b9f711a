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


def test_plain_progress_lines_when_stderr_is_not_a_terminal(demo):
    _, proc = demo
    assert "\r" not in proc.stderr and "[" not in proc.stderr  # no bar in a log
    steps = [line.split()[:2] for line in proc.stderr.splitlines() if "done in" in line]
    assert ["separate", "drizzle"] in steps and ["final", "drizzle"] in steps
    assert any(line.startswith("final drizzle") and " 8/8 " in line
               for line in proc.stderr.splitlines())


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
        if name != "input" and par.cli_option is not None:
            assert par.cli_option in proc.stdout, name
    assert "--write-products" not in proc.stdout  # Python only
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


def test_closed_output_pipe_stops_quietly():
    """``gpudrizzle info | head -0``: the reader is gone before the first line; exit 141
    (128 + SIGPIPE, as a shell reports it) with nothing on stderr, not an error message."""
    proc = subprocess.Popen([sys.executable, "-m", "gpudrizzle.cli", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has imported anything, let alone printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert err.decode() == ""


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


# ---------------------------------------------------------------------------
# spellings, usage, dry run, quiet/verbose, the kernel cache


def _parse(argv):
    from gpudrizzle.cli import _parse, build_parser

    return _parse(build_parser(), list(argv))


def _sample_value(par):
    if isinstance(par.default, bool):
        return "yes"
    return par.choices[0] if par.choices else "7"


def test_drizzlepac_spellings_are_accepted_for_every_parameter_option():
    from gpudrizzle.mosaic import CELL_PARAMETERS
    from gpudrizzle.params import PARAMETERS
    from gpudrizzle.tweakparams import IMAGEFIND, TWEAKREG

    cases = [("run", "", n, p) for n, p in PARAMETERS.items()
             if n != "input" and p.cli_option is not None]
    cases += [("mosaic", "", n, p) for n, p in PARAMETERS.items() if n not in CELL_PARAMETERS]
    cases += [("tweakreg", "", n, p) for n, p in TWEAKREG.items() if n not in ("input", "verbose")]
    cases += [("tweakreg", pre, n, p) for n, p in IMAGEFIND.items() for pre in ("", "ref_")]
    assert sum("_" in pre + n for _, pre, n, _ in cases) > 100
    for command, prefix, name, par in cases:
        value = _sample_value(par)
        tail = ["x_flt.fits"] + (["--outdir", "m"] if command == "mosaic" else [])
        dashed = _parse([command, "--" + (prefix + name).replace("_", "-"), value, *tail])
        under = _parse([command, f"--{prefix}{name}={value}", *tail])
        assert getattr(dashed, prefix + name) == getattr(under, prefix + name) == value, name


def test_help_has_a_short_usage_and_the_options_grouped_by_step():
    from gpudrizzle.params import SECTIONS

    proc = gpudrizzle("run", "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: gpudrizzle run [options] INPUT...\n")
    text = proc.stdout
    def title(section):
        name = section.lower()
        return name if name.endswith("parameters") else f"{name} parameters"

    positions = [text.index(f"{title(s)}:" if s else "general parameters:") for s in SECTIONS]
    assert positions == sorted(positions)  # in the .cfg file's order
    final = text[positions[SECTIONS.index("STEP 7: DRIZZLE FINAL COMBINED IMAGE")]:]
    assert final.index("--final-pixfrac") < final.index("step 7a")
    assert "(--final_pixfrac for --final-pixfrac)" in " ".join(text.split())
    assert text.count("--final_") == 1  # the note only, not one line per alias
    for command in ("tweakreg", "mosaic"):
        first = gpudrizzle(command, "--help").stdout.splitlines()[0]
        assert first.startswith(f"usage: gpudrizzle {command} ") and first.endswith("INPUT...")


def test_python_dash_m_gpudrizzle():
    from gpudrizzle import __version__

    proc = subprocess.run([sys.executable, "-m", "gpudrizzle", "--version"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"gpudrizzle {__version__}"
    proc = subprocess.run([sys.executable, "-m", "gpudrizzle", "run", "--final_kernel", "nope",
                           "x_flt.fits"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "final_kernel" in proc.stderr


def _listing(directory):
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_dry_run_prints_frame_steps_memory_and_writes_nothing(demo, tmp_path):
    from astropy.wcs import WCS

    outdir, _ = demo
    data = outdir / "data"
    inputs = sorted(data.glob("*_flt.fits"))
    before, here = _listing(outdir), _listing(tmp_path)
    proc = gpudrizzle("run", *inputs, "--dry-run", "--output", tmp_path / "dry",
                      "--final_scale", "0.1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _listing(outdir) == before and _listing(tmp_path) == here  # nothing written
    out = proc.stdout
    assert f"inputs: {len(inputs)} exposure(s), {2 * len(inputs)} chip(s)" in out
    assert "nothing was written" in out
    # the demo's own product (default parameters) is the oracle of the separate frame
    with fits.open(outdir / "demo_drz.fits") as hdul:
        ny, nx = hdul["SCI"].data.shape
        wcs = WCS(hdul["SCI"].header)
    line = next(x for x in out.splitlines() if x.startswith("separate drizzle frame:"))
    assert f"{nx} x {ny} pixels, 0.0500 arcsec/pixel" in line
    ra, dec = wcs.all_pix2world([(nx - 1) / 2], [(ny - 1) / 2], 0)
    words = line.split()
    got_ra, got_dec = float(words[words.index("RA") + 1]), float(words[words.index("Dec") + 1])
    assert got_ra == pytest.approx(float(ra[0]), abs=2e-7)
    assert got_dec == pytest.approx(float(dec[0]), abs=2e-7)
    final = next(x for x in out.splitlines() if x.startswith("final frame:"))
    fnx, fny = int(final.split()[2]), int(final.split()[4])
    assert "0.1000 arcsec/pixel" in final and abs(fnx - nx / 2) <= 1 and abs(fny - ny / 2) <= 1
    for step in ("static mask", "separate drizzle", "median", "blot", "driz_cr",
                 "final drizzle"):
        assert any(x.strip().startswith(step) and x.strip().endswith("runs")
                   for x in out.splitlines()), step
    memory = next(x for x in out.splitlines() if x.startswith("memory estimate:"))
    assert float(memory.split()[2]) > 0 and "available" in memory
    # a small run keeps its per-exposure images in memory (astrodrizzle.memory_plan)
    assert memory.endswith("cosmic-ray masks wait in memory")


def test_dry_run_names_the_products_and_an_existing_one(demo, tmp_path):
    outdir, _ = demo
    inputs = sorted((outdir / "data").glob("*_flt.fits"))
    proc = gpudrizzle("run", *inputs, "-n", "--output", "dry", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "products: dry_drz_sci.fits, dry_drz_wht.fits, dry_drz_ctx.fits, dry_drz_err.fits" \
        in proc.stdout and "would stop" not in proc.stdout
    (tmp_path / "dry_drz.fits").write_bytes(b"")
    proc = gpudrizzle("run", *inputs, "-n", "--output", "dry", "--build", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # as the run itself would end
    assert "product: dry_drz.fits" in proc.stdout and "memory estimate:" in proc.stdout
    stop = next(x for x in proc.stdout.splitlines() if x.startswith("the run would stop here:"))
    assert "dry_drz.fits" in stop and "overwrite" in stop
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("dry run: nothing was written; the run would stop:")
    assert "overwrite" in last
    assert [p.name for p in tmp_path.iterdir()] == ["dry_drz.fits"]
    # an output directory that does not exist: named, exit status 1, nothing made
    proc = gpudrizzle("run", *inputs, "-n", "--output", tmp_path / "missing" / "dry", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "does not exist" in proc.stdout.splitlines()[-1] and "missing" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["dry_drz.fits"]
    if sys.platform.startswith("linux"):  # a directory no one may write into, root included
        proc = gpudrizzle("run", *inputs, "-n", "--output", "/proc/self/dry", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "cannot write products into /proc/self" in proc.stdout.splitlines()[-1]


def test_help_defaults_once_and_group_titles():
    proc = gpudrizzle("run", "--help")
    text = " ".join(proc.stdout.split())
    assert "parameters parameters" not in text
    assert text.count("(default: input rootname for one input, else 'final')") == 1
    assert "else 'final') (default:" not in text


def test_dry_run_says_why_steps_are_skipped(demo, tmp_path):
    outdir, _ = demo
    one = sorted((outdir / "data").glob("*_flt.fits"))[0]
    proc = gpudrizzle("run", one, "-n", "--static", "no", "--skysub", "no", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = {x.split()[0] if not x.strip().startswith(("static", "separate", "final"))
            else " ".join(x.split()[:2]): x for x in proc.stdout.splitlines() if x[:2] == "  "}
    assert plan["static mask"].endswith("skipped: static=no")
    assert "skysub=no" in plan["sky"]
    for step in ("median", "blot", "driz_cr"):
        assert plan[step].endswith("skipped: needs two or more input exposures"), step
    assert plan["final drizzle"].endswith("runs")
    assert list(tmp_path.iterdir()) == []


def test_quiet_and_verbose_before_or_after_the_command(tmp_path, capsys, monkeypatch):
    from gpudrizzle.backends.cpu import build_library
    from gpudrizzle.cli import main

    lib = build_library()  # the one of the shared cache, copied into this test's own
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / lib.name).write_bytes(lib.read_bytes())
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(cache))
    assert main(["build-kernels"]) == 0
    out = capsys.readouterr().out
    assert str(cache / lib.name) in out and "already built" in out
    for argv in (["-q", "build-kernels"], ["build-kernels", "-q"], ["--quiet", "info", "-q"]):
        assert main(argv) == 0
        captured = capsys.readouterr()
        assert captured.err == "" and (captured.out == "" or argv[1] == "info"), argv
    assert main(["-q", "build-kernels", "-v"]) == 2
    assert "cannot be given together" in capsys.readouterr().err


def test_quiet_silences_a_tool_report_on_stdout(capsys):
    import argparse

    from gpudrizzle.cli import _quiet_stdout

    def tool(args):
        print("report of the tool")
        return 0

    assert _quiet_stdout(tool)(argparse.Namespace(quiet=True)) == 0
    assert capsys.readouterr().out == ""
    assert _quiet_stdout(tool)(argparse.Namespace(quiet=False)) == 0
    assert capsys.readouterr().out == "report of the tool\n"


def test_info_shows_the_kernel_cache_and_build_kernels_reports_failures(tmp_path, capsys,
                                                                        monkeypatch):
    from gpudrizzle.backends import cpu
    from gpudrizzle.cli import main

    lib = cpu.build_library()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / lib.name).write_bytes(lib.read_bytes())
    (cache / "gpudrizzle_kernels_0123456789abcdef0123.failed").write_text("old failure\n")
    monkeypatch.setenv("GPUDRIZZLE_CACHE_DIR", str(cache))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    size = lib.stat().st_size
    assert f"{lib.name}: library, {size / 1024:.1f} KiB (this compiler and these sources)" in out
    assert "gpudrizzle_kernels_0123456789abcdef0123.failed: failed build" in out
    assert f"2 host file(s), {(size + 12) / 1024:.1f} KiB" in out

    calls = []

    def broken(cmd):
        calls.append(cmd)
        return 1, "cc1plus: fatal error: out of order"

    monkeypatch.setattr(cpu, "_run_compiler", broken)
    (cache / lib.name).unlink()  # a cache without the library: its build fails
    assert main(["build-kernels", "--force"]) == 1
    err = capsys.readouterr().err
    assert "out of order" in err and "build-kernels --force" in err and len(calls) == 2
    assert main(["build-kernels"]) == 1  # remembered, not compiled again
    assert "failed to build earlier" in capsys.readouterr().err and len(calls) == 2
    assert main(["info"]) == 0
    assert f"{lib.name[:-3]}.failed: failed build" in capsys.readouterr().out


def test_a_misspelled_sub_command_or_choice_gets_a_suggestion(capsys):
    from gpudrizzle.cli import main

    assert main(["rnu", "x_flt.fits"]) == 2
    assert "did you mean run?" in capsys.readouterr().err
    assert main(["mosaic", "x_flt.fits", "--outdir", "m", "--grid", "hpa"]) == 2
    assert "did you mean hap?" in capsys.readouterr().err
