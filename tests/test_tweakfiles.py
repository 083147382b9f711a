"""gpudrizzle.tweakfiles: TweakReg's output files, byte for byte as drizzlepac 3.11 writes them.

Goldens: tests/golden/tweakfiles/, written by drizzlepac's own writers from
inputs.json (tests/golden/tweakfiles/make_tweakfiles_golden.py).
"""

import builtins
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from gpudrizzle import tweakfiles

GOLDEN = Path(__file__).parent / "golden" / "tweakfiles"
INPUTS = json.loads((GOLDEN / "inputs.json").read_text())


def _refwcs():
    r = INPUTS["refwcs"]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cd = r["crval"], r["crpix"], r["cd"]
    w.pixel_shape = tuple(r["pixel_shape"])
    w.wcs.set()
    return w


# ---------------------------------------------------------------------------
# shift files


def test_shiftfile_matches_drizzlepac(tmp_path):
    out = tmp_path / "shifts.txt"
    (tmp_path / "shifts.txt").write_text("poison")
    tweakfiles.write_shiftfile(out, INPUTS["rows"], refimage="shifts_wcs.fits")
    assert out.read_bytes() == (GOLDEN / "shifts.txt").read_bytes()
    # rows as dicts give the same file
    rows = [dict(zip(("filename",) + tweakfiles.SHIFT_COLUMNS, r)) for r in INPUTS["rows"]]
    tweakfiles.write_shiftfile(tmp_path / "b.txt", rows, refimage="shifts_wcs.fits[wcs]")
    assert (tmp_path / "b.txt").read_bytes() == (GOLDEN / "shifts.txt").read_bytes()


def test_shiftfile_round_trip(tmp_path, rng):
    rows = [(f"j{i}q_flt.fits", *rng.uniform(-3, 3, 2), rng.uniform(-0.1, 0.1),
             rng.uniform(0.999, 1.001), *rng.uniform(0, 0.1, 2)) for i in range(4)]
    path = tmp_path / "s.txt"
    tweakfiles.write_shiftfile(path, rows, refimage="ref.fits", frame="input",
                               units="arcseconds", form="absolute")
    got = tweakfiles.read_shiftfile(path)
    assert (got["frame"], got["refimage"], got["form"], got["units"]) == \
        ("input", "ref.fits[wcs]", "absolute", "arcseconds")
    assert [r["filename"] for r in got["rows"]] == [r[0] for r in rows]
    for r, g in zip(rows, got["rows"]):
        np.testing.assert_allclose([g[c] for c in tweakfiles.SHIFT_COLUMNS], r[1:], rtol=0,
                                   atol=5e-7)  # %0.6f
    four = [r[:5] for r in rows]
    tweakfiles.write_shiftfile(path, four, refimage="ref.fits",
                               order=tweakfiles.SHIFT_COLUMNS[:4])
    got = tweakfiles.read_shiftfile(path)
    assert "xrms" not in got["rows"][0] and len(got["rows"]) == 4


def test_read_drizzlepac_shiftfile():
    got = tweakfiles.read_shiftfile(GOLDEN / "shifts.txt")
    assert got["refimage"] == "shifts_wcs.fits[wcs]" and got["frame"] == "output"
    assert got["rows"][1] == {"filename": "j8bt06o6q_flt.fits", "xsh": -1.5, "ysh": 2.25,
                              "rot": -0.01, "scale": 0.99998, "xrms": 0.02, "yrms": 0.021}


def test_read_shiftfile_errors(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("# frame: output\nimg.fits 1 2 3\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: expected 5 or 7 columns"):
        tweakfiles.read_shiftfile(p)
    p.write_text("# frame: output\n\nimg.fits 1 2 x 1\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 3: the values .* must be numbers"):
        tweakfiles.read_shiftfile(p)
    p.write_text("# frame: sideways\nimg.fits 1 2 0 1\n")
    with pytest.raises(ValueError, match="'# frame: sideways' is not one of"):
        tweakfiles.read_shiftfile(p)
    p.write_text("a.fits 1 2 0 1\na.fits 1 2 0 1\n")
    with pytest.raises(ValueError, match="line 2: a.fits appears twice"):
        tweakfiles.read_shiftfile(p)
    p.write_text("# frame: output\n")
    with pytest.raises(ValueError, match="has no image rows"):
        tweakfiles.read_shiftfile(p)
    with pytest.raises(FileNotFoundError, match="nothere.txt does not exist"):
        tweakfiles.read_shiftfile(tmp_path / "nothere.txt")


def test_write_shiftfile_errors(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("keep")
    for kwargs, msg in [({"rows": []}, "rows is empty"),
                        ({"rows": [("a.fits", 1, 2)]}, r"rows\[0\]: expected filename and 6"),
                        ({"rows": [("a b.fits", 1, 2, 0, 1, 0, 0)]}, "without spaces"),
                        ({"rows": [("a.fits", 1, np.nan, 0, 1, 0, 0)]}, "must be finite"),
                        ({"rows": [{"filename": "a.fits", "xsh": 1}]}, r"missing 'ysh'"),
                        ({"rows": INPUTS["rows"], "frame": "sky"}, "frame must be one of"),
                        ({"rows": INPUTS["rows"], "order": ("xsh", "ysh")}, "order must be")]:
        with pytest.raises(ValueError, match=msg):
            tweakfiles.write_shiftfile(p, refimage="r.fits", **kwargs)
    assert p.read_text() == "keep"
    assert os.listdir(tmp_path) == ["s.txt"]


# ---------------------------------------------------------------------------
# outwcs


def test_outwcs_matches_drizzlepac(tmp_path):
    out = tmp_path / "shifts_wcs.fits"
    tweakfiles.write_outwcs(out, _refwcs())
    with fits.open(out) as got, fits.open(GOLDEN / "shifts_wcs.fits") as want:
        assert [h.name for h in got] == [h.name for h in want] == ["PRIMARY", "WCS"]
        assert got[1].data is None
        for a, b in zip(got, want):
            assert [c.image for c in a.header.cards] == [c.image for c in b.header.cards]
        # and it reads back as the same frame
        with warnings.catch_warnings():  # a header-only HDU: no image axes
            warnings.simplefilter("ignore", FITSFixedWarning)
            w = WCS(got["WCS"].header)
        pix = np.array([[1.0, 1.0], [4096.0, 2048.0]])
        np.testing.assert_allclose(w.wcs_pix2world(pix, 1), _refwcs().wcs_pix2world(pix, 1),
                                   rtol=0, atol=1e-12)
    w = _refwcs()
    w.pixel_shape = None
    with pytest.raises(ValueError, match="pixel_shape"):
        tweakfiles.write_outwcs(tmp_path / "x.fits", w)


# ---------------------------------------------------------------------------
# catalogs


@pytest.mark.parametrize("sharp", [True, False])
def test_xy_catalog_matches_drizzlepac(tmp_path, sharp):
    cols = INPUTS["xy"] if sharp else INPUTS["xy"][:4]
    name = "xy_sharp.coo" if sharp else "xy_plain.coo"
    header = tweakfiles.xy_catalog_header("j8bt06nyq_flt.fits", use_sharp_round=sharp)
    tweakfiles.write_catalog(tmp_path / name, [np.array(c) for c in cols], header)
    assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes()


def test_sky_catalog_and_names(tmp_path):
    tweakfiles.write_sky_catalog(tmp_path / "sky.coo", "j8bt06nyq_flt.fits", *INPUTS["sky"])
    assert (tmp_path / "sky.coo").read_bytes() == (GOLDEN / "sky.coo").read_bytes()
    assert tweakfiles.xy_catalog_name("j8bt06nyq_flt", 2) == "j8bt06nyq_flt_sci2_xy_catalog.coo"
    assert tweakfiles.sky_catalog_name("j8bt06nyq_flt") == "j8bt06nyq_flt_sky_catalog.coo"
    assert tweakfiles.fit_match_name("j8bt06nyq_flt") == "j8bt06nyq_flt_catalog_fit.match"
    assert tweakfiles.residual_plot_names("j8bt06nyq_flt") == \
        ("residuals_j8bt06nyq_flt.png", "vector_j8bt06nyq_flt.png")


def test_catalog_errors(tmp_path):
    with pytest.raises(ValueError, match="column 1 has shape"):
        tweakfiles.write_catalog(tmp_path / "a.coo", [np.zeros(3), np.zeros(4)], [])
    with pytest.raises(ValueError, match="without newlines"):
        tweakfiles.write_catalog(tmp_path / "a.coo", [np.zeros(3)], ["a\nb"])
    assert not (tmp_path / "a.coo").exists()


def _match_kwargs():
    m, f = INPUTS["match"], INPUTS["fit"]
    return dict(image="j8bt06nyq_flt.fits", rms=f["rms"], offset=f["offset"],
                scale_xy=f["scale"][1:], rot_xy=f["rotxy"][:2], rotation=f["rotxy"][2],
                skew=f["skew"], ref_xy=m["ref"], input_xy=m["img"], fit_xy=m["fit"],
                resid=m["resid"], ref_orig_xy=m["ref_orig"], input_orig_xy=m["img_orig"],
                ref_id=m["ref_id"], input_id=m["img_id"], extver=m["extver"],
                fit_radec=m["radec"], origin=m["origin"])


def test_match_file_matches_drizzlepac(tmp_path):
    out = tmp_path / "fit.match"
    tweakfiles.write_match(out, **_match_kwargs())
    assert out.read_bytes() == (GOLDEN / "fit.match").read_bytes()


def test_match_file_errors(tmp_path):
    kw = _match_kwargs()
    with pytest.raises(ValueError, match=r"fit_xy must have shape \(n, 2\)"):
        tweakfiles.write_match(tmp_path / "m", **{**kw, "fit_xy": np.zeros((7, 3))})
    with pytest.raises(ValueError, match="ref_id must be integers"):
        tweakfiles.write_match(tmp_path / "m", **{**kw, "ref_id": np.zeros(7)})
    with pytest.raises(ValueError, match="every column must have the 7 rows"):
        tweakfiles.write_match(tmp_path / "m", **{**kw, "origin": ["x"] * 6})
    assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------
# residual plots


def _png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("kind", ["both", "vector", "residuals"])
def test_residual_plots(tmp_path, rng, kind):
    pytest.importorskip("matplotlib")
    xy = rng.uniform(0, 4096, (40, 2))
    resid = rng.normal(0, 0.05, (40, 2))
    path = tmp_path / "residuals_j8bt06nyq.png"
    written = tweakfiles.write_residual_plot(path, xy, resid, kind=kind, title="j8bt06nyq",
                                             ylimit=0.5 if kind != "vector" else None)
    names = sorted(os.listdir(tmp_path))
    if kind == "both":
        assert names == ["residuals_j8bt06nyq.png", "vector_j8bt06nyq.png"]
        assert _png_size(tmp_path / "vector_j8bt06nyq.png") == (800, 800)
        assert _png_size(path) == (1000, 800)
    else:
        assert names == ["residuals_j8bt06nyq.png"]
        assert _png_size(path) == ((800, 800) if kind == "vector" else (1000, 800))
    assert sorted(os.path.basename(w) for w in written) == names


def test_residual_plot_errors(tmp_path, rng):
    xy = rng.uniform(0, 10, (5, 2))
    with pytest.raises(ValueError, match="kind must be one of"):
        tweakfiles.write_residual_plot(tmp_path / "residuals_a.png", xy, xy, kind="No plot")
    with pytest.raises(ValueError, match="must contain 'residuals'"):
        tweakfiles.write_residual_plot(tmp_path / "a.png", xy, xy, kind="both")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        tweakfiles.write_residual_plot(tmp_path / "residuals_a.png", xy, xy[:4])
    assert os.listdir(tmp_path) == []


def test_residual_plot_without_matplotlib(tmp_path, rng, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    xy = rng.uniform(0, 10, (5, 2))
    with pytest.raises(ImportError, match=r"need matplotlib.*pip install matplotlib"):
        tweakfiles.write_residual_plot(tmp_path / "residuals_a.png", xy, xy, kind="both")
    assert os.listdir(tmp_path) == []
