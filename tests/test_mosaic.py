"""Mosaics: header-only plans, cell jobs, serial and dask runs, kills, resume."""

import glob
import json
import os
import re
import shutil

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import mosaic
from gpudrizzle.files import remove_stale
from gpudrizzle.synthetic import write_dither_set

N_EXP = 10
TILE, BORDER = 200, 10
EPOCH = "1700000000"  # 2023-11-14 (UTC)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """10 two-chip exposures (64x128 chips) stepped across >= 4 cells; a plan of them."""
    root = tmp_path_factory.mktemp("mosaic")
    data = root / "data"
    data.mkdir()
    seed = int(np.random.default_rng().integers(1 << 30))
    write_dither_set(data, N_EXP, step=(40.0, 30.0), chip_shape=(64, 128), seed=seed)
    files = sorted(glob.glob(str(data / "*_flt.fits")))
    return root, files


@pytest.fixture(autouse=True)
def _epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH  # the workers' environment is copied at start
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None)
    client = distributed.Client(cl)
    yield client
    client.close()
    cl.close()
    os.environ.pop("SOURCE_DATE_EPOCH", None)


def _copy_plan(field, name):
    """A fresh mosaic directory holding the field's plan."""
    root, files = field
    out = root / name
    return mosaic.plan(files, str(out), tile=TILE, border=BORDER)


def _products(plan_path):
    """{cell/file: bytes} of every cell product of a mosaic."""
    out = {}
    base = os.path.dirname(plan_path)
    for p in sorted(glob.glob(os.path.join(base, "*", "*_drz.fits"))):
        with open(p, "rb") as f:
            out[os.path.relpath(p, base)] = f.read()
    return out


@pytest.fixture(scope="module")
def serial(field):
    root, files = field
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        path = mosaic.plan(files, str(root / "serial"), tile=TILE, border=BORDER)
        result = mosaic.run(path)
    finally:
        os.environ.pop("SOURCE_DATE_EPOCH", None)
    return path, result, _products(path)


def _temporaries(plan_path):
    base = os.path.dirname(plan_path)
    return [p for p in glob.glob(os.path.join(base, "**", ".*"), recursive=True)
            if p.endswith(".tmp")]


# ---------------------------------------------------------------------------
# plan


def test_plan_reads_headers_only(field, monkeypatch):
    root, files = field

    def no_data(self):
        raise AssertionError("pixel data read while planning")

    monkeypatch.setattr(fits.ImageHDU, "data", property(no_data))
    monkeypatch.setattr(fits.PrimaryHDU, "data", property(no_data))
    path = mosaic.plan(files, str(root / "plan-only"), tile=TILE, border=BORDER)
    doc = json.load(open(path))
    assert doc["grid"] == "tiles" and doc["unassigned"] == []
    assert len(doc["cells"]) >= 4
    touched = {m for c in doc["cells"] for m in c["members"]}
    assert touched == set(files)
    for c in doc["cells"]:
        assert c["wcs"]["NAXIS1"] == c["shape"][1] and c["wcs"]["NAXIS2"] == c["shape"][0]
        x0, y0, x1, y1 = c["core"]
        assert x0 == BORDER and y0 == BORDER and x1 - x0 <= TILE and y1 - y0 <= TILE
    # the first and last exposures of the diagonal (360 x 270 pixels apart) share no cell
    first, last = files[1], files[0]  # sorted: j9dz01aq is exposure 1, j9dz010aq exposure 10
    assert not any(first in c["members"] and last in c["members"] for c in doc["cells"])


def test_plan_round_trip_frames(field):
    path = _copy_plan(field, "round-trip")
    doc = mosaic.load_plan(path)
    raw = json.load(open(path))
    assert list(doc["cells"]) == [c["name"] for c in raw["cells"]]
    for rec in raw["cells"]:
        cell, members = doc["cells"][rec["name"]]
        assert cell.shape == tuple(rec["shape"]) and members == rec["members"]
        x = np.array([0.0, 17.5, rec["shape"][1] - 1.0])
        y = np.array([0.0, 33.25, rec["shape"][0] - 1.0])
        ra, dec = cell.wcs.wcs_pix2world(x, y, 0)
        h = fits.Header()
        for k, v in rec["wcs"].items():
            h[k] = v
        from astropy.wcs import WCS
        ra2, dec2 = WCS(h).wcs_pix2world(x, y, 0)
        np.testing.assert_allclose(ra, ra2, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dec, dec2, rtol=0, atol=1e-12)


def test_plan_errors(field, tmp_path):
    root, files = field
    from astropy.wcs import WCS
    far = WCS(naxis=2)
    far.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    far.wcs.crval = [10.0, -40.0]
    far.wcs.crpix = [50.0, 50.0]
    far.wcs.cd = np.diag([-1.4e-5, 1.4e-5])
    far.wcs.set()
    far.pixel_shape = (100, 100)
    with pytest.raises(ValueError, match="no input touches any cell"):
        mosaic.plan(files, str(tmp_path / "a"), tile=50, frame=far)
    # a frame covering only the first exposures: the others touch no cell
    path = mosaic.plan(files[1:2], str(tmp_path / "b"), tile=100)
    frame_cell = next(iter(mosaic.load_plan(path)["cells"].values()))[0]
    small = frame_cell.wcs.deepcopy()
    with pytest.raises(ValueError, match=r"input\(s\) touch no cell.*j9dz010aq"):
        mosaic.plan(files, str(tmp_path / "c"), tile=100, frame=small)
    ok = mosaic.plan(files, str(tmp_path / "d"), tile=100, frame=small, allow_unassigned=True)
    assert files[0] in json.load(open(ok))["unassigned"]
    with pytest.raises(ValueError, match="'grid'"):
        mosaic.plan(files, str(tmp_path / "e"), grid="squares")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1, "cells": []}))
    with pytest.raises(ValueError, match="no cells"):
        mosaic.load_plan(str(empty))
    with pytest.raises(ValueError, match="no cells"):
        mosaic.run(str(empty))


# ---------------------------------------------------------------------------
# serial


def test_serial_products(serial):
    path, result, products = serial
    doc = mosaic.load_plan(path)
    assert result.by_status("done") == list(doc["cells"]) and not result.failed
    assert len(products) == len(doc["cells"])
    for name, (cell, members) in doc["cells"].items():
        prod = os.path.join(os.path.dirname(path), name, f"{name}_drz.fits")
        with fits.open(prod) as h:
            assert h["SCI"].data.shape == cell.shape
            assert h[0].header["DATE"] == "2023-11-14"
            assert h[0].header["NDRIZIM"] == 2 * len(members)
            sci = h["SCI"].data
            assert np.isfinite(sci).any() and (h["WHT"].data > 0).any()
        manifest = json.load(open(os.path.join(os.path.dirname(prod), "manifest.json")))
        assert manifest["members"] == members
        import hashlib
        assert manifest["products"][f"{name}_drz.fits"]["sha256"] == \
            hashlib.sha256(open(prod, "rb").read()).hexdigest()
    assert _temporaries(path) == []


def test_resume_skips_and_parameter_invalidates(serial, field):
    path = _copy_plan(field, "resume")
    first = mosaic.run(path)
    assert not first.failed
    again = mosaic.run(path)
    assert again.by_status("skipped") == [c.cell for c in again.cells]
    # the same products as the serial run (another directory, same bytes)
    assert _products(path) == serial[2]
    changed = mosaic.run(path, final_fillval=-7.5)
    assert changed.by_status("done") == [c.cell for c in changed.cells]
    assert _products(path) != serial[2]
    assert mosaic.run(path, final_fillval=-7.5).by_status("skipped") == \
        [c.cell for c in changed.cells]
    with pytest.raises(ValueError, match="final_pixfrac"):
        mosaic.run(path, final_pixfrac=-1)
    with pytest.raises(ValueError, match="'output'"):
        mosaic.run(path, output="x")


def test_failed_cell_recomputed_alone(field, tmp_path):
    root, files = field
    data = tmp_path / "data"
    data.mkdir()
    mine = [shutil.copy(f, data) for f in files]
    path = mosaic.plan(mine, str(tmp_path / "m"), tile=TILE, border=BORDER)
    doc = mosaic.load_plan(path)
    # the exposure in the fewest cells: breaking it fails those only
    count = {f: sum(f in m for _, m in doc["cells"].values()) for f in mine}
    victim = min(mine, key=lambda f: count[f])
    hit = [n for n, (_, m) in doc["cells"].items() if victim in m]
    assert 0 < len(hit) < len(doc["cells"])
    good = open(victim, "rb").read()
    with open(victim, "wb") as f:
        f.write(good[:5000])  # truncated: unreadable
    result = mosaic.run(path)
    assert sorted(result.by_status("failed")) == sorted(hit)
    assert sorted(result.by_status("done")) == sorted(set(doc["cells"]) - set(hit))
    for c in result.failed:
        assert os.path.basename(victim) in c.error, c.error
        assert not os.path.exists(os.path.join(os.path.dirname(path), c.cell, "manifest.json"))
    assert "failed 1" in result.summary() or f"failed {len(hit)}" in result.summary()
    with open(victim, "wb") as f:
        f.write(good)
    again = mosaic.run(path)
    assert sorted(again.by_status("done")) == sorted(hit)
    assert sorted(again.by_status("skipped")) == sorted(set(doc["cells"]) - set(hit))
    # changing a member's bytes invalidates exactly the cells holding it
    with fits.open(victim, mode="update") as h:
        h["SCI", 1].data[3, 4] += 1.0
    third = mosaic.run(path)
    assert sorted(third.by_status("done")) == sorted(hit)


# ---------------------------------------------------------------------------
# dask


def test_local_cluster_identical(serial, field, cluster):
    path = _copy_plan(field, "dask")
    result = mosaic.run(path, scheduler=cluster)
    assert not result.failed, result.summary()
    assert _products(path) == serial[2]
    assert _temporaries(path) == []


def _kill_once(plan_path, cell_name, params=None, resume=True):
    """The cell job, except that the first job dies (os._exit) while publishing a product."""
    import os as _os

    from gpudrizzle import files as _files
    from gpudrizzle import mosaic as _mosaic

    marker = _os.path.join(_os.path.dirname(plan_path), "killed-once")
    try:
        fd = _os.open(marker, _os.O_CREAT | _os.O_EXCL | _os.O_WRONLY)
    except FileExistsError:
        return _mosaic.run_cell(plan_path, cell_name, params, resume)
    _os.write(fd, cell_name.encode())
    _os.close(fd)

    def die(self, *a, **k):
        _os._exit(9)  # mid-run: a temporary product exists, nothing is published

    _files.Temporary.publish = die
    return _mosaic.run_cell(plan_path, cell_name, params, resume)


def test_killed_worker(serial, field, cluster):
    path = _copy_plan(field, "killed")
    result = mosaic.run(path, scheduler=cluster, job=_kill_once)
    marker = os.path.join(os.path.dirname(path), "killed-once")
    assert os.path.exists(marker)  # a worker did die
    assert not result.failed, result.summary()
    assert _products(path) == serial[2]
    assert _temporaries(path) == []


def test_failed_cell_on_cluster(field, cluster, tmp_path):
    root, files = field
    path = mosaic.plan(files, str(tmp_path / "m"), tile=TILE, border=BORDER)
    doc = json.load(open(path))
    doc["cells"][0]["members"].append(str(tmp_path / "missing_flt.fits"))
    open(path, "w").write(json.dumps(doc))
    result = mosaic.run(path, scheduler=cluster)
    assert result.by_status("failed") == [doc["cells"][0]["name"]]
    assert "missing_flt.fits" in result.failed[0].error
    assert len(result.by_status("done")) == len(doc["cells"]) - 1


def test_stale_temporaries_removed(tmp_path):
    # a temporary file of a dead process is removed by the next writer of its directory
    dead = tmp_path / ".x_drz.fits.gd-nohost-999999-0123abcd.tmp"
    dead.write_text("")
    remove_stale(str(tmp_path))  # another host's: kept
    assert dead.exists()


def test_product_date(monkeypatch):
    import time

    from gpudrizzle.products import product_date

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "951782400")  # 2000-02-29 00:00 UTC
    assert product_date() == "2000-02-29"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    assert product_date() == time.strftime("%Y-%m-%d")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert product_date() == time.strftime("%Y-%m-%d")


def test_cli_mosaic(field, tmp_path, capsys):
    from gpudrizzle.cli import main

    root, files = field
    data = tmp_path / "data"
    data.mkdir()
    mine = [shutil.copy(f, data) for f in files]
    out = str(tmp_path / "cli")
    argv = ["mosaic", str(data / "*_flt.fits"), "--outdir", out, "--tile", str(TILE),
            "--border", str(BORDER), "--paste"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    n = len(json.load(open(os.path.join(out, "mosaic_plan.json")))["cells"])
    assert text.count(": done (") == n and f"cells: {n}; done {n}, skipped 0, failed 0" in text
    pasted = os.path.join(out, "mosaic_drz.fits")
    assert f"pasted: {pasted}" in text and fits.getval(pasted, "NCELLS") == n
    with open(mine[1], "wb") as f:
        f.write(b"SIMPLE  =                    T")
    assert main(argv + ["--final-fillval", "0"]) == 1
    captured = capsys.readouterr()
    assert "failed" in captured.out and os.path.basename(mine[1]) in captured.err
    assert "nothing pasted: cells failed" in captured.err
    assert main(["mosaic", str(data / "*_flt.fits"), "--outdir", out, "--tile", "0"]) == 2


def test_cli_kept_plan_must_match_the_command(field, tmp_path, capsys):
    """A rerun keeps an existing plan only for the same inputs and grid options: an added
    exposure or another tile size is an error naming the difference (exit 2), not a mosaic
    that silently leaves the new input out; --replan plans again."""
    from gpudrizzle.cli import main

    root, files = field
    data = tmp_path / "data"
    data.mkdir()
    for f in files[:3]:
        shutil.copy(f, data)
    out = str(tmp_path / "m")
    plan_path = mosaic.plan(sorted(glob.glob(str(data / "*_flt.fits"))), out, tile=TILE,
                            border=BORDER)
    before = open(plan_path, "rb").read()
    new = shutil.copy(files[3], data)
    pattern = str(data / "*_flt.fits")
    assert main(["mosaic", pattern, "--outdir", out]) == 2
    err = capsys.readouterr().err
    assert "1 input(s) not in the plan" in err and os.path.basename(new) in err
    assert "--replan" in err
    os.remove(new)
    assert main(["mosaic", pattern, "--outdir", out, "--tile", str(TILE + 1)]) == 2
    assert f"tile {TILE} in the plan, {TILE + 1} given" in capsys.readouterr().err
    assert main(["mosaic", pattern, "--outdir", out, "--grid", "hap"]) == 2
    assert "grid 'tiles' in the plan, 'hap' given" in capsys.readouterr().err
    assert open(plan_path, "rb").read() == before
    assert mosaic.plan_mismatch(plan_path, pattern, tile=TILE, border=BORDER) is None
    shutil.copy(files[3], data)
    doc = json.load(open(mosaic.plan(pattern, out, tile=TILE, border=BORDER)))
    assert len(doc["inputs"]) == 4 and doc["tile"] == TILE and doc["border"] == BORDER


def test_cli_help_gives_the_cells_defaults(capsys):
    """mosaic --help shows the defaults a cell job runs with, not AstroDrizzle's."""
    from gpudrizzle.cli import main

    assert main(["mosaic", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, value in mosaic.CELL_DEFAULTS.items():
        start = text.index(f"--{name} [yes|no]")
        assert f"(default: {'yes' if value else 'no'})" in text[start:start + 200]


def test_local_cuda_needs_dask_cuda(serial, monkeypatch):
    """scheduler='local-cuda' (one worker per GPU) says what to install where dask-cuda is
    missing, before any cell runs."""
    import sys

    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import dask_cuda raises ImportError
    with pytest.raises(ImportError, match="pip install dask-cuda"):
        mosaic.run(serial[0], scheduler="local-cuda")


# ---------------------------------------------------------------------------
# pasting the cores


def test_paste_copies_every_core_bit_for_bit(serial, tmp_path):
    """The pasted image holds each cell's core exactly (SCI, WHT, ERR), NaN / 0 where no core
    lies, on the frame's WCS; its pixels agree with one AstroDrizzle run over the whole frame
    except where that run's static mask (an AND over all its exposures) differs."""
    from astropy.wcs import WCS

    from gpudrizzle.astrodrizzle import AstroDrizzle
    from gpudrizzle.paste import paste_cells

    plan_path, _, _ = serial
    doc = mosaic.load_plan(plan_path)
    target = os.path.join(doc["outdir"], "mosaic_drz.fits")
    with open(target, "wb") as f:  # poisoned: replaced whole
        f.write(b"not a FITS file")
    with pytest.raises(FileExistsError, match="pasted image"):
        paste_cells(plan_path)
    assert paste_cells(plan_path, overwrite=True, band_rows=37) == [target]
    covered = None
    with fits.open(target) as pasted:
        assert pasted[0].header["NCELLS"] == len(doc["cells"])
        frame = WCS(pasted["SCI"].header)
        for ext in ("SCI", "WHT", "ERR"):
            image = pasted[ext].data
            covered = np.zeros(image.shape, bool)
            for name, (cell, _) in doc["cells"].items():
                x0, y0, x1, y1 = cell.core
                # where the cell's core pixel (x0, y0) lies in the pasted frame
                ra, dec = cell.wcs.wcs_pix2world([x0], [y0], 0)
                px, py = frame.wcs_world2pix(ra, dec, 0)
                u, v = int(round(px[0])), int(round(py[0]))
                assert abs(px[0] - u) < 1e-6 and abs(py[0] - v) < 1e-6
                with fits.open(os.path.join(doc["outdir"], name, f"{name}_drz.fits")) as cp:
                    core = cp[ext].data[y0:y1, x0:x1]
                np.testing.assert_array_equal(image[v:v + y1 - y0, u:u + x1 - x0], core)
                covered[v:v + y1 - y0, u:u + x1 - x0] = True
            outside = image[~covered]
            assert (outside == 0).all() if ext == "WHT" else np.isnan(outside).all()
        sci, wht = pasted["SCI"].data, pasted["WHT"].data
        frame.pixel_shape = sci.shape[::-1]
    full = AstroDrizzle(sorted({m for _, ms in doc["cells"].values() for m in ms}),
                        output=str(tmp_path / "full"), build=True, context=False, clean=True,
                        final_refimage=frame, driz_sep_refimage=frame, runfile="",
                        backend="cpu").products[0]
    with fits.open(full) as h:
        fsci, fwht = h["SCI"].data, h["WHT"].data
    both = covered & (wht > 0) & (fwht > 0)
    same = np.abs(sci - fsci) <= 1e-5 * np.nanmax(np.abs(fsci))
    # data where the full run has data, the same values nearly everywhere
    assert both.sum() >= 0.999 * (fwht > 0).sum() > 0
    assert same[both].mean() > 0.999


def test_paste_refuses_unfinished_cells(field, tmp_path):
    """A cell without its product is named; nothing is written."""
    from gpudrizzle.paste import paste_cells

    plan_path = _copy_plan(field, "unfinished")
    with pytest.raises(ValueError, match=r"cell\(s\) have no finished product \(tile-"):
        paste_cells(plan_path)
    with pytest.raises(ValueError, match="band_rows"):
        paste_cells(plan_path, band_rows=0)
    assert not glob.glob(os.path.join(os.path.dirname(plan_path), "*_drz.fits*"))


def test_paste_groups_hap_cells_by_projection_cell_and_layer():
    """Sky cells of one HAP projection cell and layer go into one image; their cores abut
    without gap or overlap in it; another projection cell or layer is another image."""
    from gpudrizzle.hapcells import skycell
    from gpudrizzle.paste import _groups, _pieces

    cells = [skycell(1234, x, y) for x, y in ((5, 7), (6, 7), (5, 8))]
    cells += [skycell(1234, 5, 7, scale=0.12), skycell(1235, 5, 7)]
    doc = {"outdir": "/nowhere", "cells": {c.name + c.layer: (c, []) for c in cells}}
    groups = _groups(doc)
    assert sorted(groups) == ["skycell-p1234_0p04", "skycell-p1234_0p12", "skycell-p1235_0p04"]
    ref, members = groups["skycell-p1234_0p04"]
    pieces, (x0, y0, nx, ny) = _pieces(ref, members)
    spans = {(p.x0 + p.dx, p.y0 + p.dy, p.x1 + p.dx, p.y1 + p.dy) for p in pieces}
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1), (cx0, cy0, cx1, cy1) = \
        [(p.x0 + p.dx, p.y0 + p.dy, p.x1 + p.dx, p.y1 + p.dy) for p in pieces]
    assert len(spans) == 3 and (ax0, ay0) == (0, 0)
    assert bx0 == ax1 and by0 == ay0 and cy0 == ay1 and cx0 == ax0  # neighbours abut
    assert nx == bx1 and ny == cy1
    # the pasted frame's pixel of a core corner is that sky position in the cell
    ra, dec = members[1][0].wcs.wcs_pix2world([pieces[1].x0], [pieces[1].y0], 0)
    w = ref.wcs.deepcopy()
    w.wcs.crpix = ref.wcs.wcs.crpix - [x0, y0]
    px, py = w.wcs_world2pix(ra, dec, 0)
    assert abs(px[0] - bx0) < 1e-6 and abs(py[0] - by0) < 1e-6


def test_paste_full_disk_leaves_nothing(serial, monkeypatch):
    """A disk that fills while the image is written: an OSError naming the image, no
    temporary file left, an earlier image left as it was."""
    import errno

    from gpudrizzle.paste import paste_cells

    plan_path, _, _ = serial
    target = paste_cells(plan_path, overwrite=True)[0]
    before = open(target, "rb").read()
    calls = []

    def full(self, data):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    real = fits.StreamingHDU.write
    monkeypatch.setattr(fits.StreamingHDU, "write", full)
    with pytest.raises(OSError, match="No space left on device while writing .*mosaic_drz"):
        paste_cells(plan_path, overwrite=True, band_rows=50)
    assert open(target, "rb").read() == before
    assert _temporaries(plan_path) == []


def test_paste_truncated_cell_product_is_named(serial, tmp_path):
    """A cell product cut short: an OSError naming it, no image and no temporary file."""
    from gpudrizzle.paste import paste_cells

    plan_path, _, _ = serial
    copy = tmp_path / "copy"
    shutil.copytree(os.path.dirname(plan_path), copy)
    for old in glob.glob(str(copy / "*_drz.fits")):
        os.remove(old)
    name = sorted(mosaic.load_plan(str(copy / "mosaic_plan.json"))["cells"])[1]
    product = copy / name / f"{name}_drz.fits"
    data = product.read_bytes()
    product.write_bytes(data[:len(data) // 2])
    with pytest.raises(OSError, match=rf"cell product {re.escape(str(product))}\S* is truncated"):
        paste_cells(str(copy / "mosaic_plan.json"))
    assert not glob.glob(str(copy / "*_drz.fits*")) and _temporaries(str(copy / "x")) == []
