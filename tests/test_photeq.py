"""photeq against drizzlepac 3.11's goldens: log text, keywords, rescaled data; faults."""

import argparse
import hashlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import __version__, cli, photeq as photeq_module
from gpudrizzle import files
from gpudrizzle.photeq import PhotometryNotFound, photeq

GOLDEN = Path(__file__).parent / "golden" / "photeq"
_spec = importlib.util.spec_from_file_location("photeq_golden", GOLDEN / "make_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)  # write_inputs, FILES, CASES (no drizzlepac import)


def _run_case(tmp_path, monkeypatch, case, rng=None):
    monkeypatch.chdir(tmp_path)
    arrays = golden.write_inputs(str(tmp_path), rng)
    photeq(logfile="photeq.log", **golden.CASES[case])
    lines = (tmp_path / "photeq.log").read_text().splitlines(keepends=True)
    return arrays, lines


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_against_drizzlepac(tmp_path, monkeypatch, case):
    arrays, lines = _run_case(tmp_path, monkeypatch, case)
    assert lines[0].startswith("[INFO:] ***** photeq started on ")
    assert lines[1] == f"[INFO:]       Version {__version__} \n"
    assert "".join(lines[2:]) == (GOLDEN / f"{case}.log").read_text()
    result = json.loads(json.dumps(golden.summary(str(tmp_path), arrays)))
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    assert result == expected  # keywords, card images, data bytes (SHA-256) of every HDU


@pytest.mark.parametrize("case", ["default", "primary", "photfnu"])
def test_random_data_scaled_in_their_type(tmp_path, monkeypatch, rng, case):
    """Fresh data: every array is the input times the factor of the golden, in float32."""
    arrays, _ = _run_case(tmp_path, monkeypatch, case, rng)
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    for name, exts in expected.items():
        with fits.open(tmp_path / name) as hdul:
            for key, record in exts.items():
                extname, extver = key.split(",")
                before = arrays[name].get((extname, int(extver)))
                if before is None:
                    continue
                data = hdul[0].data if extname == "PRIMARY" else hdul[extname, int(extver)].data
                if record["changed"]:
                    factor = record["factor"]  # float32-rounded factor from drizzlepac's data
                    truth = before * np.asarray(factor, dtype=before.dtype)
                    np.testing.assert_allclose(data, truth, rtol=2e-7, atol=0)
                    assert data.dtype.str[1:] == before.dtype.str[1:]  # type kept; big-endian
                else:
                    np.testing.assert_array_equal(data, before)


def test_readonly_leaves_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = {n: (tmp_path / n).read_bytes() for n in golden.FILES}
    photeq(files="a_flt.fits,b_flt.fits", logfile=None)
    assert not (tmp_path / "photeq.log").exists()
    for n, data in before.items():
        assert (tmp_path / n).read_bytes() == data
    err = capsys.readouterr().err
    assert "WAS NOT MODIFIED." in err and "[INFO:]" not in err
    assert "Setting PHOTFLAM to 1.5e-19 (old value was 1.8e-19)" in err


def test_log_appended(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    (tmp_path / "photeq.log").write_text("old run\n")
    photeq(files="a_flt.fits")
    text = (tmp_path / "photeq.log").read_text()
    assert text.startswith("old run\n[INFO:] ***** photeq started on ")


def test_only_changed_bytes(tmp_path, monkeypatch):
    """Outside the rescaled arrays and the changed header blocks, every byte is the original's."""
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = (tmp_path / "b_flt.fits").read_bytes()
    photeq(files="a_flt.fits,b_flt.fits", readonly=False)
    after = (tmp_path / "b_flt.fits").read_bytes()
    assert len(after) == len(before)
    with fits.open(tmp_path / "b_flt.fits") as hdul:
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            head = slice(info["hdrLoc"], info["datLoc"])
            data = slice(info["datLoc"], info["datLoc"] + info["datSpan"])
            if i == 0:  # the primary HDU is untouched
                assert after[head] == before[head] and after[data] == before[data]
            else:  # SCI and ERR rescaled; a header changes in its photometric cards only
                old = fits.Header.fromstring(before[head].decode("ascii"))
                new = fits.Header.fromstring(after[head].decode("ascii"))
                assert list(old.keys()) == list(new.keys())
                for card_old, card_new in zip(old.cards, new.cards):
                    if card_old.keyword not in ("PHOTFLAM", "PHOTFNU"):
                        assert card_old.image == card_new.image
                assert after[data] != before[data]


def test_extension_specification_ignored(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    photeq(files="a_flt.fits[sci,2],b_flt.fits", logfile=None)
    err = capsys.readouterr().err
    assert ("WARNING: Extension specifications for file a_flt.fits will be ignored. Using all "
            "'SCI', extensions instead.") in err
    assert "REFERENCE VALUE FROM FILE: 'a_flt.fits['SCI',1]'" in err


def test_no_photometry_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = (tmp_path / "d_flt.fits").read_bytes()
    with pytest.raises(PhotometryNotFound, match="Could not find the inverse sensitivity keyword "
                       "'PHOTFLAM'"):
        photeq(files="d_flt.fits", readonly=False)
    with pytest.raises(RuntimeError):  # what drizzlepac raises, for scripts that catch it
        photeq(files="d_flt.fits", phot_kwd="photzpt", readonly=False)
    assert (tmp_path / "d_flt.fits").read_bytes() == before
    log = (tmp_path / "photeq.log").read_text()
    assert "[WARNING:]          This input file will be ignored." in log


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(files=["a_flt.fits"]), TypeError, "'files' must be a comma-separated list"),
    (dict(sciext=3), TypeError, "'sciext'"),
    (dict(errext=1), TypeError, "'errext'"),
    (dict(phot_kwd=None), TypeError, "'phot_kwd'"),
    (dict(ref_phot_ext=2.0), TypeError, "'ref_phot_ext'"),
    (dict(aux_phot_kwd=3), TypeError, "'aux_phot_kwd'"),
    (dict(aux_phot_kwd="photflam"), ValueError, "different from the main"),
    (dict(aux_phot_kwd=["PHOTFNU", "PHOTFLAM"]), ValueError, "different from the main"),
    (dict(ref_phot=0.0), ValueError, "'ref_phot' must be a positive number"),
    (dict(ref_phot=-1e-19), ValueError, "'ref_phot' must be a positive number"),
    (dict(ref_phot=-1), ValueError, "'ref_phot' must be a positive number"),
    (dict(ref_phot="1e-19"), ValueError, "'ref_phot'"),
    (dict(logfile=3), TypeError, "'logfile'"),
    (dict(files="missing_flt.fits"), FileNotFoundError, "missing_flt.fits"),
    (dict(files="a_flt.fits", ref_phot_ext=("SCI", 7)), ValueError, r"\['SCI',7\] is not in"),
])
def test_bad_arguments(tmp_path, monkeypatch, kwargs, error, match):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = (tmp_path / "a_flt.fits").read_bytes()
    args = dict(files="a_flt.fits", readonly=False, logfile=None)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        photeq(**args)
    assert (tmp_path / "a_flt.fits").read_bytes() == before


def test_bad_keyword_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    fits.setval("b_flt.fits", "PHOTFLAM", value="unknown", ext=("SCI", 2))
    before = {n: (tmp_path / n).read_bytes() for n in ("a_flt.fits", "b_flt.fits")}
    with pytest.raises(ValueError, match=r"PHOTFLAM in b_flt.fits\[SCI,2\] is not a number"):
        photeq(files="a_flt.fits,b_flt.fits", readonly=False, logfile=None)
    for n, data in before.items():
        assert (tmp_path / n).read_bytes() == data


def test_read_only_file_refused_before_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = (tmp_path / "a_flt.fits").read_bytes()
    os.chmod(tmp_path / "b_flt.fits", 0o444)
    try:
        with pytest.raises(PermissionError, match="data and photometry keywords of b_flt.fits: the file is read-only"):
            photeq(files="a_flt.fits,b_flt.fits", readonly=False, logfile=None)
        photeq(files="a_flt.fits,b_flt.fits", logfile=None)  # readonly: fine
    finally:
        os.chmod(tmp_path / "b_flt.fits", 0o644)
    assert (tmp_path / "a_flt.fits").read_bytes() == before


def test_failure_mid_write_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    names = ["a_flt.fits", "b_flt.fits", "c_flt.fits"]
    before = {n: (tmp_path / n).read_bytes() for n in names}
    real = files.patch_writer
    written = []

    def failing(path, patches):
        write = real(path, patches)

        def wrapped(tmp):
            write(tmp)
            written.append(path)
            if len(written) == 3:
                raise OSError(28, "No space left on device")
        return wrapped

    monkeypatch.setattr(files, "patch_writer", failing)
    with pytest.raises(OSError, match="No space left on device"):
        photeq(files=",".join(names), readonly=False)
    assert written == names
    for n in names:
        assert (tmp_path / n).read_bytes() == before[n]
    leftovers = {p.name for p in tmp_path.iterdir()} - set(golden.FILES) - {"photeq.log"}
    assert not leftovers
    assert "Done." in (tmp_path / "photeq.log").read_text()


def test_sciext_none_uses_image_hdus(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    arrays = golden.write_inputs(str(tmp_path))
    photeq(files="a_flt.fits", sciext=None, readonly=False, logfile=None)
    err = capsys.readouterr().err
    assert "REFERENCE VALUE FROM FILE: 'a_flt.fits[1]'" in err
    assert "   * EXT: 4\n     - Setting PHOTFLAM to 1.5e-19 (old value was 1.8e-19)" in err
    with fits.open(tmp_path / "a_flt.fits") as hdul:
        np.testing.assert_array_equal(hdul["SCI", 2].data,
                                      arrays["a_flt.fits"][("SCI", 2)] * np.float32(1.2))
        # no error arrays without an extension name
        np.testing.assert_array_equal(hdul["ERR", 2].data, arrays["a_flt.fits"][("ERR", 2)])


def test_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    arrays = golden.write_inputs(str(tmp_path))
    parser = photeq_module.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["a_flt.fits,b_flt.fits", "--readonly", "no",
                              "--ref-phot-ext", "SCI,2", "--logfile", "run.log"])
    assert photeq_module.run_from_args(args) == 0
    assert (tmp_path / "run.log").read_text().splitlines(keepends=True)[2:] == \
        (GOLDEN / "refext.log").read_text().splitlines(keepends=True)
    args = parser.parse_args(["b_flt.fits", "--aux-phot-kwd", "photfnu, photplam",
                              "--logfile", ""])
    assert args.aux_phot_kwd == ["photfnu", "photplam"]
    assert photeq_module.run_from_args(args) == 0
    capsys.readouterr()
    assert cli.main(["photeq", "d_flt.fits", "--logfile", ""]) == 1
    assert "gpudrizzle photeq: error: Could not find the inverse" in capsys.readouterr().err
    assert cli.main(["photeq", "b_flt.fits", "--logfile", ""]) == 0
    err = capsys.readouterr().err
    assert err.count("***** photeq started on") == 1  # printed once, not again by the CLI log
    with pytest.raises(SystemExit):
        parser.parse_args(["a_flt.fits", "--readonly", "maybe"])
    capsys.readouterr()
    # command-line errors: one line each, the usage ones exit 2 and say what is expected
    for argv, status, words in [(["--readonly", "maybe"], 2, "expected yes or no; got 'maybe'"),
                                (["--ref-phot", "-1"], 2, "expected a positive number"),
                                (["--ref-phot", "0"], 2, "expected a positive number"),
                                (["--ref-phot", "nan"], 2, "expected a positive number")]:
        assert cli.main(["photeq", "a_flt.fits", "--logfile", ""] + argv) == status
        err = capsys.readouterr().err
        assert words in err and "_yes_no" not in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(["photeq", "d_flt.fits", "--logfile", ""]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1:] == [  # after photeq's own log lines
        "gpudrizzle photeq: error: Could not find the inverse sensitivity keyword 'PHOTFLAM' in "
        "the specified headers of the input image(s). Cannot continue."], err
    # the written data are drizzlepac's (refext golden: SHA-256 of every HDU)
    expected = json.loads((GOLDEN / "refext.json").read_text())
    with fits.open(tmp_path / "b_flt.fits") as hdul:
        sci = hdul["SCI", 1].data
        digest = hashlib.sha256(np.ascontiguousarray(sci, dtype=">f4").tobytes()).hexdigest()
    assert digest == expected["b_flt.fits"]["SCI,1"]["sha256"]
    assert arrays  # inputs were written with the golden's fixed seed


def test_clobber_must_be_a_bool(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    golden.write_inputs(str(tmp_path))
    before = {n: (tmp_path / n).read_bytes() for n in golden.FILES}
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError, match="'clobber' must be True or False"):
            photeq(files="a_flt.fits", readonly=False, clobber=bad, logfile=None)
    photeq(files="a_flt.fits", clobber=True, logfile=None)  # readonly: nothing written
    assert {n: (tmp_path / n).read_bytes() for n in golden.FILES} == before
    assert not (tmp_path / "photeq.log").exists()


@pytest.mark.parametrize("readonly", [True, False])
def test_waivered_fits_refused_untouched(tmp_path, monkeypatch, rng, readonly):
    monkeypatch.chdir(tmp_path)
    cube = fits.PrimaryHDU(rng.random((4, 8, 8), dtype=np.float32))
    cube.header["PHOTFLAM"] = 1e-18
    table = fits.TableHDU.from_columns([fits.Column("PHOTFLAM", "E15.7",
                                                    array=np.full(4, 1e-18))])
    fits.HDUList([cube, table]).writeto("w_c0f.fits")
    before = (tmp_path / "w_c0f.fits").read_bytes()
    with pytest.raises(ValueError, match="w_c0f.fits is a waivered FITS file.*convert it first"):
        photeq(files="w_c0f.fits", readonly=readonly, logfile=None)
    assert (tmp_path / "w_c0f.fits").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w_c0f.fits"]
