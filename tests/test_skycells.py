"""Sky cells of a user grid, header-only footprints, and which exposures touch which cell."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle.skycells import EDGE_POINTS, assign, exposure_footprints, tile_grid
from gpudrizzle.synthetic import write_flt


def _frame(nx=1000, ny=700, scale=0.05, crval=(150.1, 2.2)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [nx / 2 + 0.5, ny / 2 + 0.5]
    w.wcs.cd = np.array([[-scale, 0.0], [0.0, scale]]) / 3600.0
    w.wcs.set()
    w.pixel_shape = (nx, ny)
    return w


@pytest.mark.parametrize("tile,border", [(300, 0), ((256, 200), 17)])
def test_cores_tile_the_frame_and_cells_share_its_pixels(tile, border, rng):
    frame = _frame()
    cells = tile_grid(frame, tile, border=border)
    covered = np.zeros((700, 1000), int)
    for cell in cells:
        x0, y0, x1, y1 = cell.core
        # the cell's pixel (x, y) is the mosaic's pixel (x + fx0, y + fy0)
        fx0 = frame.wcs.crpix[0] - cell.wcs.wcs.crpix[0]
        fy0 = frame.wcs.crpix[1] - cell.wcs.wcs.crpix[1]
        assert fx0 == int(fx0) and fy0 == int(fy0)
        covered[int(fy0) + y0:int(fy0) + y1, int(fx0) + x0:int(fx0) + x1] += 1
        p = rng.uniform(0, cell.shape[::-1], (20, 2))
        sky = cell.wcs.wcs_pix2world(p, 0)
        np.testing.assert_allclose(frame.wcs_world2pix(sky, 0), p + [fx0, fy0], atol=1e-7)
        assert x0 == border and y0 == border
        assert cell.shape == (y1 - y0 + 2 * border, x1 - x0 + 2 * border)
    assert (covered == 1).all()
    assert len({c.name for c in cells}) == len(cells)


def test_tile_grid_refuses_bad_arguments():
    with pytest.raises(ValueError, match="'tile'"):
        tile_grid(_frame(), 0)
    with pytest.raises(ValueError, match="'tile'"):
        tile_grid(_frame(), (10, 2.5))
    with pytest.raises(ValueError, match="'border'"):
        tile_grid(_frame(), 100, border=-1)
    w = _frame()
    w.pixel_shape = None
    with pytest.raises(ValueError, match="pixel_shape"):
        tile_grid(w, 100)


def test_footprints_from_headers_only(tmp_path, monkeypatch):
    e = write_flt(tmp_path, "j9fp01aaq", chip_shape=(64, 128))

    def no_data(self):
        raise AssertionError("pixel data read")

    monkeypatch.setattr(fits.ImageHDU, "data", property(no_data))
    chips = exposure_footprints(e.path)
    assert len(chips) == 2
    for chip, truth in zip(chips, e.chips):
        corners = truth.wcs.all_pix2world([-0.5, 127.5, 127.5, -0.5], [-0.5, -0.5, 63.5, 63.5], 0)
        np.testing.assert_allclose(chip[::EDGE_POINTS], np.column_stack(corners), atol=1e-10)


def test_assign_matches_pixel_truth(tmp_path):
    """A chip is assigned to a cell exactly when one of its pixels falls in the cell's frame."""
    exps = [write_flt(tmp_path, f"j9as0{i}aaq", chip_shape=(64, 128), dither=(300.0 * i, 40.0 * i))
            for i in range(3)]
    footprints = {e.path: exposure_footprints(e.path) for e in exps}
    all_corners = np.vstack([c for chips in footprints.values() for c in chips])
    frame = _frame(crval=tuple(all_corners.mean(axis=0)), nx=1400, ny=1400)
    cells = tile_grid(frame, 200, border=10)
    got = assign(cells, footprints)
    for cell in cells:
        nx, ny = cell.wcs.pixel_shape
        expected = []
        for e in exps:
            for chip in e.chips:
                # the chip's pixel edges densely, and its interior
                t = np.linspace(-0.5, 127.5, 513)
                u = np.linspace(-0.5, 63.5, 257)
                yy, xx = np.mgrid[0:64:4, 0:128:4]
                x = np.concatenate([t, t, np.full_like(u, -0.5), np.full_like(u, 127.5),
                                    xx.ravel()])
                y = np.concatenate([np.full_like(t, -0.5), np.full_like(t, 63.5), u, u,
                                    yy.ravel()])
                px, py = cell.wcs.wcs_world2pix(*chip.wcs.all_pix2world(x, y, 0), 0)
                if ((px > -0.5) & (px < nx - 0.5) & (py > -0.5) & (py < ny - 0.5)).any():
                    expected.append(e.path)
                    break
        assert got.get(cell.name, []) == expected, cell.name
    assert got  # some cells are touched


def test_footprint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        exposure_footprints(tmp_path / "missing.fits")
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column("a", "E", array=np.zeros(3))])]).writeto(path)
    with pytest.raises(ValueError, match="no image extension with a celestial WCS"):
        exposure_footprints(path)
