"""Quick-look picture: layout, RA/Dec axes, compass, scale bar, CR overlay apart from DQ flags."""

import os

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import preview
from gpudrizzle.astrodrizzle import AstroDrizzle
from gpudrizzle.synthetic import random_stars, write_dither_set

ORIENT = 30.0


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A small product with its log, CR masks and inputs (a bad column flagged in DQ)."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"random seed: {seed}")
    rng = np.random.default_rng(seed)
    d = tmp_path_factory.mktemp("preview")
    stars = random_stars((150.1, 2.2), 15, rng, radius_arcsec=2.5)
    files = [t.path for t in write_dither_set(d, n=3, stars=stars, seed=seed % 1000,
                                              cosmic_rays=6, bad_columns=(40,), orient=ORIENT)]
    AstroDrizzle(files, output=str(d / "final"), build=True, backend="numpy",
                 runfile=str(d / "final.log"))
    return d / "final_drz.fits"


def test_cosmic_rays_are_counted_apart_from_dq_flags(product):
    images = preview.load_product(str(product))
    assert len(images.inputs) == 6 and images.weight_type == "EXP"
    assert images.bunit == fits.getheader(product, "SCI")["BUNIT"]
    for chip in images.inputs:
        name, ext = chip.label.split("[sci,")
        n = int(ext.rstrip("]"))
        dq = fits.getdata(product.parent / name, "DQ", n)
        mask = fits.getdata(product.parent / f"{name[:-len('_flt.fits')]}_sci{n}_crmask.fits")
        np.testing.assert_array_equal(chip.dq_bad, (dq & ~4096) != 0)  # final_bits = 0
        assert chip.dq_bad[:, 40].all() and chip.dq_bad.sum() == dq.shape[0]
        np.testing.assert_array_equal(chip.cr, (mask == 0) & (dq & ~4096 == 0))
        assert chip.cr_on_dq_bad == np.count_nonzero((mask == 0) & (dq & ~4096 != 0))
    assert sum(int(c.cr.sum()) for c in images.inputs) > 0


def test_picture_shows_red_crs_and_blue_dq_columns(product, tmp_path):
    pytest.importorskip("matplotlib", reason="the picture needs the plot extra (matplotlib)")
    from PIL import Image

    images = preview.load_product(str(product))
    out = tmp_path / "look.png"
    out.write_bytes(b"poison")
    assert preview.write_preview(images, str(out)) == str(out)
    with Image.open(out) as im:
        assert im.size == preview.picture_size(6)
        rgb = np.asarray(im.convert("RGB"), dtype=int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 80) & (rgb[..., 1] > 100) & (rgb[..., 1] < 180)
    top_end = 400  # the chips are drawn below the top row
    assert red[top_end:].sum() > 5 and blue[top_end:].sum() > 6 * 20
    assert pixels_std(rgb) > 20


def pixels_std(rgb):
    return float(rgb.mean(axis=2).std())


def test_compass_and_scale_bar_follow_the_wcs(product):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    images = preview.load_product(str(product))
    header = fits.getheader(product, "SCI")
    fig = Figure()
    ax = preview._sky_axes(fig, [0.1, 0.1, 0.8, 0.8], images.wcs)
    preview._compass(ax, images.wcs, images.sci.shape)
    arrows = {a.get_text(): a for a in ax.texts if a.get_text() in "NE" and a.get_text()}
    tails = [np.array(a.xyann) for a in ax.texts if type(a).__name__ == "Annotation"]
    tips = [np.array(a.xy) for a in ax.texts if type(a).__name__ == "Annotation"]
    north, east = (tips[i] - tails[i] for i in range(2))
    orient = np.radians(header["ORIENTAT"])
    assert header["ORIENTAT"] == pytest.approx(ORIENT, abs=0.5)
    # ORIENTAT: position angle of the y axis east of north, so north is y turned by -ORIENTAT
    unit = (lambda v: v / np.hypot(*v))
    np.testing.assert_allclose(unit(north), [np.sin(orient), np.cos(orient)], atol=0.01)
    np.testing.assert_allclose(unit(east), [-np.cos(orient), np.sin(orient)], atol=0.01)
    assert set(arrows) == {"N", "E"}
    preview._scale_bar(ax, images.wcs, images.sci.shape)
    (x0, x1), _ = ax.lines[-1].get_data()
    label = [t.get_text() for t in ax.texts if t.get_text().endswith('"')][0]
    scale = abs(header["CD1_1"] * header["CD2_2"] - header["CD1_2"] * header["CD2_1"]) ** 0.5 * 3600
    assert abs(x1 - x0) * scale == pytest.approx(float(label[:-1]), rel=1e-6)
    assert float(label[:-1]) in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)


@pytest.mark.parametrize("shape", [(525, 520), (200, 900), (900, 300)])
@pytest.mark.parametrize("n_chips", [0, 3, 8])
def test_layout_fits_the_images_without_large_gaps(shape, n_chips):
    width, height = preview.picture_size(n_chips)
    chips = [(256, 512)] * n_chips
    lay = preview._layout(width, height, shape, chips)
    rects = lay.top + lay.colorbars + lay.chips
    for left, bottom, w, h in rects:
        assert left >= 0 and bottom >= 0 and left + w <= 1 + 1e-9 and bottom + h <= 1 + 1e-9
    for (l0, b0, w0, h0), (w_shape) in zip(lay.top + lay.chips, [shape, shape] + chips):
        assert h0 * height / (w0 * width) == pytest.approx(w_shape[0] / w_shape[1], rel=1e-6)
    # the two top panels are side by side, each with its colour bar close to its right edge
    sci, wht = lay.top
    bar = lay.colorbars[0]
    assert 0 < (bar[0] - sci[0] - sci[2]) * width < 20
    assert (wht[0] - bar[0] - bar[2]) * width < 250  # room for the colour-bar labels and Dec
    # the images fill the height or the width: no panel is surrounded by empty space
    used = sum(r[3] for r in lay.top[:1]) + sum(
        max(c[3] for c in lay.chips[i:i + 4]) for i in range(0, len(lay.chips), 4))
    assert used * height > 0.6 * (height - 150 - 60 * ((n_chips + 3) // 4)) or \
        sci[2] * width > 0.9 * (width / 2 - 216)
    for a in range(len(rects)):  # no overlap between panels
        for b in range(a + 1, len(rects)):
            ra, rb = rects[a], rects[b]
            assert (ra[0] + ra[2] <= rb[0] + 1e-9 or rb[0] + rb[2] <= ra[0] + 1e-9
                    or ra[1] + ra[3] <= rb[1] + 1e-9 or rb[1] + rb[3] <= ra[1] + 1e-9)


def test_weight_scale_is_explained(product, tmp_path):
    images = preview.load_product(str(product))
    assert preview._weight_title(images).startswith("weight (EXP): exposure time, median")
    covered = images.wht[images.wht > 0]
    assert f"{np.median(covered):.4g} s" in preview._weight_title(images)
    assert preview.WEIGHT_UNITS["EXP"] == "exposure time (s)"
    # without the log the weight is only relative, and every DQ flag but 4096 is bad
    copy = tmp_path / "copy_drz.fits"
    copy.write_bytes(product.read_bytes())
    alone = preview.load_product(str(copy), [str(product.parent)])
    assert alone.weight_type is None and "unknown" in preview._weight_title(alone)


def test_product_without_wcs_is_drawn_on_pixel_axes(tmp_path, rng):
    pytest.importorskip("matplotlib")
    sci = rng.normal(size=(60, 80)).astype(np.float32)
    images = preview.ProductImages("x_drz.fits", sci, np.ones_like(sci), [])
    out = tmp_path / "x.png"
    preview.write_preview(images, str(out))
    assert out.stat().st_size > 1000
    with pytest.raises(FileNotFoundError, match="does not exist"):
        preview.write_preview(images, str(tmp_path / "nowhere" / "x.png"))
