"""The MultiDrizzle command line (gpudrizzle.mdriz): arguments onto AstroDrizzle's parameters."""

import argparse
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import astrodrizzle, mdriz
from gpudrizzle.params import PARAMETERS, resolve_parameters
from gpudrizzle.synthetic import write_dither_set

from hstdata import file_hashes

EPOCH = "1700000000"


@pytest.fixture
def captured(monkeypatch):
    """Replace AstroDrizzle by a recorder of its keyword arguments."""
    calls = []

    def fake(**kw):  # mdriz passes every parameter by name
        calls.append(kw)

    monkeypatch.setattr(astrodrizzle, "AstroDrizzle", fake)
    return calls


def _fmt(v):
    return repr(float(v))


def test_arguments_are_the_same_run_as_astrodrizzle_keywords(captured, rng, capsys):
    scale, rot = rng.uniform(0.02, 0.2), rng.uniform(-180, 180)
    pixfrac, nx = rng.uniform(0.3, 1.0), int(rng.integers(50, 5000))
    bits = int(rng.choice([16, 64, 256]))
    args = ["j1_flt.fits", "j2_flt.fits", f"final_scale={_fmt(scale)}", f"final_rot={_fmt(rot)}",
            f"final_outnx={nx}", f"final_outny={nx + 1}", "build=yes", "clean=True",
            "skysub=no", "driz_cr=FALSE", f"driz_sep_pixfrac={_fmt(pixfrac)}",
            f"final_bits={bits},4", "driz_sep_bits=None", "final_fillval=INDEF",
            "combine_nsigma=5 2", "group=1", "backend=None", "final_kernel=point",
            "skywidth=INDEF", "num_cores=3", "output=mine", "resetbits=0"]
    assert mdriz.main(args) == 0
    err = capsys.readouterr().err
    assert "DEPRECATION WARNING" in err and "runastrodriz\" instead" not in err
    assert 'Please execute "gpudrizzle run"' in err and "gpudrizzle.pipeline.process" in err
    (kw,) = captured
    direct = dict(input=["j1_flt.fits", "j2_flt.fits"], final_scale=scale, final_rot=rot,
                  final_outnx=nx, final_outny=nx + 1, build=True, clean=True, skysub=False,
                  driz_cr=False, driz_sep_pixfrac=pixfrac, final_bits=bits + 4,
                  driz_sep_bits=None, final_fillval=None, combine_nsigma=(5.0, 2.0),
                  group=1, backend=None, final_kernel="point", skywidth=None, num_cores=3,
                  output="mine", resetbits=0)
    assert set(kw) == set(direct)
    got, want = resolve_parameters(kw), resolve_parameters(direct)
    assert dict(got) == dict(want) and got.user_set == want.user_set
    assert got.final_wcs is True  # turned on by a final_* frame parameter, as with keywords
    assert got.final_bits == bits + 4 and got.driz_sep_bits == -1 and got.group == (1,)


def test_one_bare_file_is_the_input_string(captured):
    assert mdriz.main(["@inputs.lst", "final_wht_type=ivm"]) == 0
    assert captured == [{"input": "@inputs.lst", "final_wht_type": "IVM"}]
    captured.clear()
    assert mdriz.main(["input=j*_flt.fits", "configobj=my.cfg", "updatewcs=no"]) == 0
    assert captured == [{"input": "j*_flt.fits", "configobj": "my.cfg", "updatewcs": False}]


def test_every_parameter_value_survives_the_round_trip(captured):
    given = {n: p.default for n, p in PARAMETERS.items() if p.default is not None}
    assert mdriz.main([f"{n}={v}" for n, v in given.items()]) == 0
    got, want = resolve_parameters(captured[0]), resolve_parameters(given)
    assert dict(got) == dict(want) and got.user_set == want.user_set == set(given)
    # the values are the defaults; naming frame parameters turns the frames on, as keywords do
    assert {n for n in got if got[n] != resolve_parameters()[n]} == {"driz_sep_wcs", "final_wcs"}


def test_real_run_matches_astrodrizzle_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    a, b = tmp_path / "mdriz", tmp_path / "direct"
    a.mkdir()
    names = [os.path.basename(e.path)
             for e in write_dither_set(a, n=2, chip_shape=(40, 80), seed=7, cosmic_rays=2)]
    shutil.copytree(a, b)
    before = file_hashes([str(a / n) for n in names])
    pars = ["final_scale=0.07", "final_rot=12.5", "driz_cr_snr=3.0 2.5", "build=yes",
            "final_wht_type=ERR", "skystat=mode", "backend=numpy", "output=comb"]
    monkeypatch.chdir(a)
    assert mdriz.main(names + pars) == 0
    monkeypatch.chdir(b)
    astrodrizzle.AstroDrizzle(names, final_scale=0.07, final_rot=12.5, driz_cr_snr=(3.0, 2.5),
                              build=True, final_wht_type="ERR", skystat="mode", backend="numpy",
                              output="comb")
    made = sorted(f for f in os.listdir(b) if f.endswith(".fits") and f not in names)
    assert "comb_drz.fits" in made and len(made) > 5
    assert sorted(f for f in os.listdir(a) if f.endswith(".fits") and f not in names) == made
    for f in made:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    with fits.open(a / "comb_drz.fits") as h:
        assert h[0].header["D001SCAL"] == pytest.approx(0.07)
    assert file_hashes([str(a / n) for n in names]) == before


@pytest.mark.parametrize("args, message", [
    (["j_flt.fits", "final_scle=0.1"], "unknown parameter 'final_scle'; did you mean 'final_scale'"),
    (["j_flt.fits", "Final_Kernel=point"], "did you mean 'final_kernel'"),
    (["j_flt.fits", "workinplace=yes"], "'workinplace' is a MultiDrizzle parameter that "
                                        "AstroDrizzle does not have"),
    (["j_flt.fits", "shiftfile=shifts.txt"], "TweakReg"),
    (["j_flt.fits", "refimage=r.fits"], "use 'final_refimage'"),
    (["j_flt.fits", "bits=4"], "use 'final_bits' and 'driz_sep_bits'"),
    (["j_flt.fits", "driz_final_kernel=point"], "use 'final_kernel'"),
    (["j_flt.fits", "final_scale=fast"], "'final_scale' must be a real number or None; got 'fast'"),
    (["j_flt.fits", "build=maybe"], "'build' must be True or False; got 'maybe'"),
    (["j_flt.fits", "final_kernel=box"], "'final_kernel' must be one of"),
    (["j_flt.fits", "skyclip=2.5"], "'skyclip' must be an integer"),
    (["j_flt.fits", "mdriztab=perhaps"], "'mdriztab' must be yes or no"),
    (["j_flt.fits", "=3"], "no parameter name"),
    (["j_flt.fits", "build=yes", "build=no"], "'build' given twice"),
    (["j_flt.fits", "input=k_flt.fits"], "input files given both"),
    (["-x", "j_flt.fits"], "option -x not recognized"),
    (["-g"], "TEAL GUI are no longer supported"),
])
def test_usage_errors_exit_2_before_any_run(captured, capsys, args, message):
    assert mdriz.main(args) == 2
    err = capsys.readouterr().err
    assert "mdriz: error: " in err and message in err
    assert captured == []


def test_no_arguments_says_no_input(captured, capsys):
    assert mdriz.main([]) == 2
    assert mdriz.NO_INPUT in capsys.readouterr().out
    assert captured == []


def test_missing_input_files_exit_1_and_write_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert mdriz.main(["nothere_flt.fits", "backend=numpy"]) == 1
    err = capsys.readouterr().err
    assert "mdriz: error: " in err and "nothere_flt.fits" in err and "not found" in err
    assert [f for f in os.listdir(tmp_path) if f != "astrodrizzle.log"] == []


def test_unsupported_option_value_is_refused_by_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert mdriz.main(["x_flt.fits", "updatewcs=yes"]) == 1
    assert "'updatewcs'=True is not supported by gpudrizzle" in capsys.readouterr().err


def test_help_texts(captured, capsys):
    assert mdriz.main(["-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Syntax: mdriz.py -[h|g|?] [name=value,...]\n")
    assert mdriz.main(["-?"]) == 0
    out = capsys.readouterr().out
    for name in ("final_scale", "driz_cr_snr", "skysub", "workinplace", "driz_final_kernel"):
        assert f"  {name}" in out
    assert mdriz.main(["--version"]) == 0
    from gpudrizzle import __version__
    assert capsys.readouterr().out == f"mdriz (gpudrizzle) {__version__}\n"
    assert captured == []


def test_argparse_hooks(captured):
    parser = argparse.ArgumentParser()
    mdriz.add_arguments(parser)
    args = parser.parse_args(["j_flt.fits", "final_pixfrac=0.8"])
    assert mdriz.run_from_args(args) == 0
    assert captured == [{"input": "j_flt.fits", "final_pixfrac": 0.8}]


# ---------------------------------------------------------------------------
# MDRIZTAB

def _mdriztab(path, rows):
    """A MultiDrizzle reference table: one row per dict of column values."""
    formats = {"filter": "24A", "numimages": "J", "build": "L", "final_scale": "E",
               "final_kernel": "12A", "subsky": "L", "crbitval": "J", "bits": "J",
               "coeffs": "24A", "shiftfile": "24A", "staticfile": "24A", "combine_nhigh": "J",
               "final_fillval": "E", "final_rot": "E", "newcolumn": "J"}
    cols = [fits.Column(name, fmt, array=[r[name] for r in rows]) for name, fmt in formats.items()]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)


def _row(filt, n, **kw):
    row = dict(filter=filt, numimages=n, build=False, final_scale=0.05, final_kernel="square",
               subsky=True, crbitval=4096, bits=0, coeffs="", shiftfile="", staticfile="",
               combine_nhigh=0, final_fillval=np.nan, final_rot=0.0, newcolumn=1)
    row.update(kw)
    return row


def _table_inputs(directory, n, tabname="mdz$tables/x_mdz.fits"):
    return [e.path for e in write_dither_set(directory, n=n, chip_shape=(32, 64), seed=5,
                                             noise=False, primary_extra={"MDRIZTAB": tabname})]


def test_mdriztab_row_for_filter_and_number_of_images(tmp_path, monkeypatch, captured, capsys, rng):
    (tmp_path / "tables").mkdir()
    monkeypatch.setenv("mdz", str(tmp_path) + "/")
    scales = rng.uniform(0.01, 0.2, size=5)
    _mdriztab(tmp_path / "tables" / "x_mdz.fits", [
        _row("ANY", 1, final_scale=scales[0]),
        _row("F606W,CLEAR2L", 1, final_scale=scales[1], build=True, final_kernel="point",
             coeffs="jref$idc.fits", final_rot=33.0),
        _row("F606W,CLEAR2L", 2, final_scale=scales[2], subsky=False, crbitval=1024, bits=96,
             coeffs="INDEF", combine_nhigh=1, final_fillval=-7.0),
        _row("F606W,CLEAR2L", 4, final_scale=scales[3]),
        _row("F814W", 2, final_scale=scales[4]),
    ])
    files = _table_inputs(tmp_path, 3)
    hashes = file_hashes(files)
    assert mdriz.main(files + ["mdriztab=yes", "final_rot=5", "backend=numpy"]) == 0
    out, err = capsys.readouterr()
    assert "- MDRIZTAB: AstroDrizzle parameters read from row 3." in out
    assert "columns that are no AstroDrizzle parameter, not used: newcolumn" in err
    (kw,) = captured
    assert "mdriztab" not in kw and kw["final_rot"] == 5.0
    params = resolve_parameters({k: v for k, v in kw.items() if k != "configobj"},
                                base=kw["configobj"])
    assert params.final_scale == pytest.approx(float(np.float32(scales[2])), rel=0, abs=0)
    assert params.skysub is False and params.crbit == 1024
    assert params.final_bits == params.driz_sep_bits == 96
    assert params.coeffs is False and params.combine_nhigh == 1 and params.final_fillval == -7.0
    assert params.final_rot == 5.0 and params.sources["final_rot"] == "user"
    where = f"MDRIZTAB {tmp_path}/tables/x_mdz.fits row 3"
    assert params.sources["final_scale"] == where and params.sources["build"] == where
    assert params.sources["static"] == "default"
    assert file_hashes(files) == hashes

    captured.clear()
    assert mdriz.main(files[:1] + ["mdriztab=yes"]) == 0
    params = resolve_parameters(base=captured[0]["configobj"])
    assert params.final_scale == float(np.float32(scales[1]))
    assert params.build is True and params.final_kernel == "point" and params.coeffs is True
    assert params.final_rot == 33.0 and params.final_fillval is None


def test_mdriztab_falls_back_to_any_filter(tmp_path, monkeypatch, captured):
    (tmp_path / "tables").mkdir()
    monkeypatch.setenv("mdz", str(tmp_path))
    _mdriztab(tmp_path / "tables" / "x_mdz.fits",
              [_row("F814W", 1, final_scale=0.01), _row("ANY", 1, final_scale=0.125),
               _row("ANY", 5, final_scale=0.25)])
    files = _table_inputs(tmp_path, 2)
    assert mdriz.main(files + ["mdriztab=yes"]) == 0
    assert resolve_parameters(base=captured[0]["configobj"]).final_scale == 0.125


def test_mdriztab_errors(tmp_path, monkeypatch, captured, capsys):
    files = _table_inputs(tmp_path, 1, tabname="nodir$x_mdz.fits")
    monkeypatch.delenv("nodir", raising=False)
    monkeypatch.delenv("NODIR", raising=False)
    assert mdriz.main(files + ["mdriztab=yes"]) == 1
    assert "environment variable 'nodir'" in capsys.readouterr().err
    monkeypatch.setenv("nodir", str(tmp_path))
    assert mdriz.main(files + ["mdriztab=yes"]) == 1
    err = capsys.readouterr().err
    assert "MDRIZTAB table not found" in err and "x_mdz.fits" in err
    _mdriztab(tmp_path / "x_mdz.fits", [_row("ANY", 1, final_kernel="box")])
    assert mdriz.main(files + ["mdriztab=yes"]) == 1
    err = capsys.readouterr().err
    assert "row 1" in err and "'final_kernel' must be one of" in err
    assert captured == []
    assert mdriz.main(files + ["mdriztab=no"]) == 0 and "configobj" not in captured[0]


def test_mdriztab_between_cfg_file_and_arguments(tmp_path, monkeypatch, captured):
    (tmp_path / "tables").mkdir()
    monkeypatch.setenv("mdz", str(tmp_path))
    _mdriztab(tmp_path / "tables" / "x_mdz.fits", [_row("ANY", 1, final_scale=0.125, build=True)])
    files = _table_inputs(tmp_path, 2)
    cfg = tmp_path / "run.cfg"
    cfg.write_text(f"input = {files[0]},{files[1]}\nfinal_pixfrac = 0.5\n"
                   "[STEP 7a: CUSTOM WCS FOR FINAL OUTPUT]\nfinal_scale = 0.3\n"
                   "[STEP 4: CREATE MEDIAN IMAGE]\ncombine_nhigh = 2\n")
    assert mdriz.main([f"configobj={cfg}", "mdriztab=yes", "combine_nhigh=0"]) == 0
    (kw,) = captured
    assert set(kw) == {"configobj", "combine_nhigh"}
    params = resolve_parameters({"combine_nhigh": kw["combine_nhigh"]}, base=kw["configobj"])
    assert params.final_scale == 0.125 and params.build is True  # the table over the file
    assert params.final_pixfrac == 0.5 and params.sources["final_pixfrac"] == f".cfg {cfg}"
    assert params.combine_nhigh == 0 and params.sources["combine_nhigh"] == "user"
    assert params.input == f"{files[0]},{files[1]}"


GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "mdriz")


def test_mdriztab_reading_matches_drizzlepac(tmp_path, capsys):
    import json

    table = os.path.join(GOLDEN, "golden_mdz.fits")
    with open(os.path.join(GOLDEN, "expected.json")) as f:
        cases = json.load(f)
    assert len(cases) == 6
    for case in cases:
        h = fits.Header({"INSTRUME": "ACS", "FILTER1": case["filter1"],
                         "FILTER2": case["filter2"], "MDRIZTAB": table})
        files = []
        for i in range(case["n"]):
            files.append(str(tmp_path / f"e{i}_flt.fits"))
            fits.PrimaryHDU(header=h).writeto(files[-1], overwrite=True)
        pars, source, ignored = mdriz.mdriztab_parameters(files)
        assert pars == case["pars"], case
        assert ignored == [] and source.startswith(f"MDRIZTAB {table} row ")
    assert capsys.readouterr().out.count("- MDRIZTAB: AstroDrizzle parameters read from row") == 6
