"""gpudrizzle compare: statistics of two drizzled products, bad inputs, the difference picture."""

import argparse
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import compare
from gpudrizzle.astrodrizzle import AstroDrizzle
from gpudrizzle.synthetic import random_stars, write_dither_set


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """One small AstroDrizzle product (build=True) of three dithered 2-chip exposures."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"random seed: {seed}")
    rng = np.random.default_rng(seed)
    d = tmp_path_factory.mktemp("compare")
    stars = random_stars((150.1, 2.2), 15, rng, radius_arcsec=2.5)
    files = [t.path for t in write_dither_set(d, n=3, stars=stars, seed=seed % 1000,
                                              cosmic_rays=4, bad_columns=(40,))]
    AstroDrizzle(files, output=str(d / "final"), build=True, backend="numpy", runfile="")
    return d / "final_drz.fits"


def _run(*argv):
    parser = compare.add_arguments(argparse.ArgumentParser())
    return compare.run_from_args(parser.parse_args([str(a) for a in argv]))


def _modified(product, tmp_path, name, change):
    out = tmp_path / name
    shutil.copy(product, out)
    with fits.open(out, mode="update") as hdul:
        change(hdul)
    return out


def test_product_against_itself_is_identical(product, capsys):
    before = product.read_bytes()
    c = compare.compare_products(str(product), str(product))
    assert c.compared > 1000 and c.full_weight > 500 and c.sigma_source == "ERR of B"
    assert c.z_median == 0 and c.z_p99 == 0 and c.z_max == 0 and c.mean_difference == 0
    assert c.flux_ratio == pytest.approx(1.0, abs=1e-12)
    assert c.wht_ratio == (1.0, 1.0, 1.0) and c.wht_one_only == 0 and c.ctx_identical == 1.0
    assert _run(product, product) == 0
    out = capsys.readouterr().out
    assert "|dSCI|/sigma max" in out and "CTX identical fraction             1.000000" in out
    assert product.read_bytes() == before  # the inputs are not modified


def test_scaled_sci_shows_in_the_flux_ratio_and_the_differences(product, tmp_path):
    def scale(hdul):
        hdul["SCI"].data = hdul["SCI"].data * np.float32(1.01)

    b = _modified(product, tmp_path, "b_drz.fits", scale)
    c = compare.compare_products(str(product), str(b))
    a_sci = fits.getdata(product, "SCI").astype(np.float64)
    err = fits.getdata(b, "ERR").astype(np.float64)
    assert c.flux_ratio == pytest.approx(1.01, rel=1e-5)
    finite = np.isfinite(c.z)
    expected = 0.01 * a_sci / err  # the oracle: (1.01 A - A) / sigma
    np.testing.assert_allclose(c.z[finite], expected[finite], rtol=1e-3, atol=1e-6)
    assert c.z_max > 0 and c.wht_ratio == (1.0, 1.0, 1.0) and c.ctx_identical == 1.0


def test_added_star_is_found_where_it_was_put(product, tmp_path, rng):
    sci = fits.getdata(product, "SCI")
    wht = fits.getdata(product, "WHT")
    ys, xs = np.nonzero(wht >= 0.9 * wht.max())
    i = rng.integers(len(ys))
    y, x = int(ys[i]), int(xs[i])

    def add_star(hdul):
        yy, xx = np.mgrid[: sci.shape[0], : sci.shape[1]]
        hdul["SCI"].data = sci + 50.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 4.0)

    b = _modified(product, tmp_path, "star_drz.fits", add_star)
    c = compare.compare_products(str(product), str(b))
    assert c.z_max > 10 and c.flux_ratio > 1
    peak = np.unravel_index(np.nanargmax(c.z), c.z.shape)
    assert abs(peak[0] - y) <= 1 and abs(peak[1] - x) <= 1


def test_weight_and_context_changes(product, tmp_path):
    def change(hdul):
        hdul["WHT"].data = hdul["WHT"].data * np.float32(0.5)
        ctx = hdul["CTX"].data
        assert ctx.ndim == 2
        ctx[:10] = 0
        hdul["CTX"].data = ctx

    b = _modified(product, tmp_path, "w_drz.fits", change)
    c = compare.compare_products(str(product), str(b))
    assert c.wht_ratio == pytest.approx((0.5, 0.5, 0.5), rel=1e-6)
    ctx = np.squeeze(fits.getdata(product, "CTX"))
    assert c.ctx_identical == pytest.approx(1 - np.count_nonzero(ctx[:10]) / ctx.size, abs=1e-12)
    assert c.ctx_identical < 1


def test_sigma_without_err_is_the_robust_noise_of_a(product, tmp_path):
    def drop(hdul):
        del hdul["ERR"]
        hdul[0].header["NEXTEND"] = len(hdul) - 1

    b = _modified(product, tmp_path, "noerr_drz.fits", drop)
    c = compare.compare_products(str(b), str(b))
    assert c.sigma_source == "MAD of A" and c.z_max == 0


def test_file_without_wht_is_a_clear_error(product, tmp_path):
    def drop(hdul):
        del hdul["WHT"]
        hdul[0].header["NEXTEND"] = len(hdul) - 1

    b = _modified(product, tmp_path, "nowht_drz.fits", drop)
    with pytest.raises(ValueError, match=r"nowht_drz.fits has no WHT extension"):
        _run(product, b)
    plain = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.zeros((5, 5), np.float32)).writeto(plain)
    with pytest.raises(ValueError, match=r"plain.fits has no SCI extension"):
        compare.compare_products(str(plain), str(product))
    with pytest.raises(FileNotFoundError, match="no such product: .*missing_drz.fits"):
        _run(product, tmp_path / "missing_drz.fits")
    junk = tmp_path / "junk_drz.fits"
    junk.write_bytes(b"not FITS\n" * 400)
    with pytest.raises(OSError, match="junk_drz.fits"):
        _run(junk, product)


def test_different_frames_are_a_clear_error(product, tmp_path):
    def crop(hdul):
        for name in ("SCI", "WHT", "CTX", "ERR"):
            hdul[name].data = hdul[name].data[..., :-3]

    def shift(hdul):
        for name in ("SCI", "WHT"):
            hdul[name].header["CRPIX1"] += 0.5

    cropped = _modified(product, tmp_path, "crop_drz.fits", crop)
    with pytest.raises(ValueError, match=r"different output frames: .* is \d+ x \d+ pixels"):
        _run(product, cropped)
    shifted = _modified(product, tmp_path, "shift_drz.fits", shift)
    with pytest.raises(ValueError, match=r"different output frames: .*arcsec apart .*0.5 pixels"):
        compare.compare_products(str(product), str(shifted))
    with pytest.raises(ValueError, match="'full_weight' must be in"):
        compare.compare_products(str(product), str(product), full_weight=0)


def test_difference_picture(product, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the picture needs the plot extra (matplotlib)")
    from PIL import Image

    def scale(hdul):
        hdul["SCI"].data = hdul["SCI"].data * np.float32(1.2)

    b = _modified(product, tmp_path, "b_drz.fits", scale)
    out = tmp_path / "diff.png"
    assert _run(product, b, "--picture", out) == 0
    assert f"picture: {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=int)
    assert rgb.shape[1] == 1600 and 150 < rgb.shape[0] < 1000
    # B brighter than A on the stars: red (positive) spots on the diverging map, no blue ones
    red = (rgb[..., 0] > 150) & (rgb[..., 2] < 80) & (rgb[..., 1] < 80)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 80) & (rgb[..., 1] < 120)
    third = rgb[:, 800:1200]
    assert ((third[..., 0] > 150) & (third[..., 2] < 80)).sum() > 5
    assert red.sum() > 5 and blue[:, 800:1100].sum() < red[:, 800:1100].sum()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _run(product, b, "--picture", tmp_path / "nowhere" / "x.png")
