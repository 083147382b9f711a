"""Pipeline mode (gpudrizzle.pipeline): process() and run_driz() on synthetic HST-like files."""

import os
import shutil

import pytest
from astropy.io import fits

from gpudrizzle import pipeline

from hstdata import file_hashes, write_asn, write_dither_set, write_flt

PERFORM = {"DRIZCORR": "PERFORM"}




def _exposures(directory, n=3, primary_extra=PERFORM, **kwargs):
    kwargs.setdefault("cosmic_rays", 2)
    return write_dither_set(directory, n=n, seed=5, primary_extra=primary_extra, **kwargs)


def _asn(directory, truth, product="j9dz01011"):
    roots = [os.path.basename(t.path)[: -len("_flt.fits")] for t in truth]
    return write_asn(directory, "j9dz01010", roots, product)


def _leftovers(directory):
    return [f for f in os.listdir(directory) if f.endswith(".tmp")]


def test_trailer_name():
    assert pipeline.trailer_name("d/j9dz01010_asn.fits") == "d/j9dz01010.tra"
    assert pipeline.trailer_name("j9dz01aq_flt.fits") == "j9dz01aq.tra"
    assert pipeline.trailer_name("j9dz01aq_raw.fits") == "j9dz01aq.tra"
    assert pipeline.trailer_name("a_b/j9dz01aq_flc.fits") == "a_b/j9dz01aq.tra"


def test_process_association(tmp_path):
    truth = _exposures(tmp_path)
    asn = _asn(tmp_path, truth)
    inputs = [t.path for t in truth] + [asn]
    before = file_hashes(inputs)
    result = pipeline.process(asn, backend="numpy")
    drz = f"{tmp_path}/j9dz01011_drz.fits"
    assert result.products == [drz]
    assert result.performed
    assert result.trailer == f"{tmp_path}/j9dz01010.tra"
    with fits.open(drz) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "WHT", "CTX", "ERR", "HDRTAB"]
        assert hdul[0].header["NDRIZIM"] == 6
        assert hdul[0].header["DRIZPARS"] == "j9dz01010.tra"
        assert len(hdul["HDRTAB"].data) == 6
    text = open(result.trailer).read()
    assert pipeline.marker() in text
    for phrase in ("updatewcs skipped", "MDRIZTAB", "alignment to Gaia", "step blot and driz_cr: done",
                   "flagged as cosmic rays", "Finished processing", "astrodrizzle completed"):
        assert phrase in text, phrase
    assert "[WARNING ]" in text
    # clean=True: no intermediates; inputs untouched; no temporary files left
    assert not [f for f in os.listdir(tmp_path) if "_single_" in f or "_blt" in f or "_med" in f]
    assert file_hashes(inputs) == before
    assert not _leftovers(tmp_path)


def test_process_association_with_flc_twins(tmp_path):
    truth = _exposures(tmp_path, n=2)
    for t in truth:
        shutil.copy(t.path, t.path.replace("_flt.fits", "_flc.fits"))
    asn = _asn(tmp_path, truth)
    result = pipeline.process(asn, backend="numpy")
    assert result.products == [f"{tmp_path}/j9dz01011_drz.fits", f"{tmp_path}/j9dz01011_drc.fits"]
    a = fits.getdata(result.products[0], "SCI")
    b = fits.getdata(result.products[1], "SCI")
    assert a.shape == b.shape
    assert text_count(result.trailer, "astrodrizzle started") == 2


def text_count(path, phrase):
    with open(path) as f:
        return f.read().count(phrase)


def test_process_single_exposure(tmp_path):
    truth = _exposures(tmp_path, n=1)
    before = file_hashes([truth[0].path])
    result = pipeline.process(truth[0].path, backend="numpy")
    root = truth[0].path[: -len("_flt.fits")]
    assert result.products == [f"{root}_drz.fits"]
    assert result.trailer == f"{root}.tra"
    with fits.open(result.products[0]) as hdul:
        assert hdul[0].header["NDRIZIM"] == 2
        assert hdul[0].header["DRIZPARS"] == os.path.basename(result.trailer)
    text = open(result.trailer).read()
    assert "step median: skipped" in text
    assert file_hashes([truth[0].path]) == before


def test_raw_name_uses_calibrated_product_and_raw_drizcorr(tmp_path):
    truth = _exposures(tmp_path, n=1, primary_extra={"DRIZCORR": "OMIT"})
    root = truth[0].path[: -len("_flt.fits")]
    raw = fits.PrimaryHDU()
    raw.header["DRIZCORR"] = "PERFORM"
    raw.writeto(f"{root}_raw.fits")
    result = pipeline.process(f"{root}_raw.fits", backend="numpy")
    assert result.products == [f"{root}_drz.fits"]
    assert result.trailer == f"{root}.tra"
    # a bare rootname finds the calibrated file too
    again = pipeline.process(root, backend="numpy")
    assert again.products == result.products


def test_drizcorr_not_perform_skips_unless_forced(tmp_path):
    truth = _exposures(tmp_path, n=1, primary_extra={"DRIZCORR": "OMIT"})
    path = truth[0].path
    root = path[: -len("_flt.fits")]
    result = pipeline.process(path, backend="numpy")
    assert not result.performed and result.products == []
    assert not os.path.exists(f"{root}_drz.fits")
    assert "processing not requested" in open(result.trailer).read()
    forced = pipeline.process(path, force=True, backend="numpy")
    assert forced.performed and forced.products == [f"{root}_drz.fits"]
    text = open(forced.trailer).read()
    # the trailer is appended to, not replaced
    assert text.count("Finished processing") == 2
    assert text.index("processing not requested") < text.index("updatewcs skipped")


def test_rerun_replaces_products_and_appends_trailer(tmp_path):
    truth = _exposures(tmp_path, n=2)
    asn = _asn(tmp_path, truth)
    first = pipeline.process(asn, backend="numpy", make_manifest=True)
    second = pipeline.process(asn, backend="numpy", final_pixfrac=0.8)
    assert first.products == second.products
    assert text_count(second.trailer, "Finished processing") == 2
    assert fits.getval(second.products[0], "D001PIXF") == 0.8
    assert open(first.manifest).read().split() == first.products + [first.trailer]
    assert not _leftovers(tmp_path)


def test_newpath_moves_products_back(tmp_path):
    data = tmp_path / "data"
    work = tmp_path / "work"
    data.mkdir()
    work.mkdir()
    truth = _exposures(data, n=2)
    asn = _asn(data, truth)
    inputs = [t.path for t in truth] + [asn]
    before = file_hashes(inputs)
    result = pipeline.process(asn, newpath=str(work), backend="numpy")
    assert result.products == [f"{data}/j9dz01011_drz.fits"]
    assert os.path.isfile(result.products[0])
    assert os.listdir(work) == []
    assert file_hashes(inputs) == before
    assert sorted(os.listdir(data)) == sorted(
        [os.path.basename(p) for p in inputs] + ["j9dz01011_drz.fits", "j9dz01010.tra"])


def test_run_driz_with_a_list(tmp_path):
    truth = _exposures(tmp_path, n=2)
    files = [t.path for t in truth]
    trl = f"{tmp_path}/mytrl.tra"
    made, focus, diffs = pipeline.run_driz(files, trl, files, build=True, backend="numpy")
    roots = [f[: -len("_flt.fits")] for f in files]
    assert made == [f"{r}_drz.fits" for r in roots]
    assert focus is None and diffs == {}
    for p in made:
        assert fits.getval(p, "DRIZPARS") == "mytrl.tra"
        assert fits.getval(p, "NDRIZIM") == 2
    text = open(trl).read()
    assert text.count("astrodrizzle started") == 2
    assert pipeline.marker() in text


def test_run_driz_list_item_is_one_run(tmp_path):
    truth = _exposures(tmp_path, n=2)
    files = [t.path for t in truth]
    made, _, _ = pipeline.run_driz([files], f"{tmp_path}/x.tra", files, build=False,
                                   output=f"{tmp_path}/comb", mdriztab=True, backend="numpy")
    assert made == [f"{tmp_path}/comb_drz_{k}.fits" for k in ("sci", "wht", "ctx", "err")]
    assert fits.getval(made[0], "NDRIZIM") == 4
    assert "MDRIZTAB reference file not read" in open(f"{tmp_path}/x.tra").read()


def test_missing_input_is_oserror(tmp_path):
    with pytest.raises(OSError, match="not found"):
        pipeline.process(f"{tmp_path}/nothere_flt.fits")
    assert os.listdir(tmp_path) == []


def test_missing_association_member(tmp_path):
    truth = _exposures(tmp_path, n=2)
    roots = [os.path.basename(t.path)[: -len("_flt.fits")] for t in truth]
    asn = write_asn(tmp_path, "j9dz01010", roots + ["j9dz09aq"], "j9dz01011")
    inputs = [t.path for t in truth] + [asn]
    before = file_hashes(inputs)
    with pytest.raises(OSError, match="j9dz09aq"):
        pipeline.process(asn, backend="numpy")
    text = open(f"{tmp_path}/j9dz01010.tra").read()
    assert "[ERROR   ]" in text and "j9dz09aq" in text
    assert not os.path.exists(f"{tmp_path}/j9dz01011_drz.fits")
    assert file_hashes(inputs) == before
    assert not _leftovers(tmp_path)


def test_run_driz_errors(tmp_path):
    truth = _exposures(tmp_path, n=1)
    path = truth[0].path
    before = file_hashes([path])
    trl = f"{tmp_path}/r.tra"
    with pytest.raises(OSError):
        pipeline.run_driz([f"{tmp_path}/gone_flt.fits"], trl, [path], backend="numpy")
    assert "Could not complete astrodrizzle processing" in open(trl).read()
    with pytest.raises(ValueError, match="mode"):
        pipeline.run_driz([path], trl, [path], mode="fancy")
    with pytest.raises(ValueError, match="final_pixfrc"):
        pipeline.run_driz([path], trl, [path], final_pixfrc=0.5)
    with pytest.raises(ValueError, match="final_pixfrc"):
        pipeline.process(path, final_pixfrc=0.5)
    assert file_hashes([path]) == before
    assert not os.path.exists(f"{tmp_path}/{os.path.basename(path)[:-9]}_drz.fits")


def test_failed_run_still_writes_trailer_atomically(tmp_path):
    path = write_flt(tmp_path, "j9zz01aq", exptime=0.0, primary_extra=PERFORM).path
    before = file_hashes([path])
    with pytest.raises((ValueError, RuntimeError)):
        pipeline.process(path, backend="numpy")
    text = open(f"{tmp_path}/j9zz01aq.tra").read()
    assert "runastrodriz failed" in text
    assert file_hashes([path]) == before
    assert not _leftovers(tmp_path)
