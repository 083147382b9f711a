"""gpudrizzle.Drizzle against drizzle 3.0.0 (the oracle) on the same inputs.

Drops are kept at least two output pixels inside the frame, where drizzle
3.0's edge defect does not act; there SCI and WHT must agree within rtol
1e-5 and CTX and DQ exactly.  Where the weights of a pixel nearly cancel, as
the negative lobes of lanczos weights make them do, SCI is a ratio of small
differences that drizzle 3.0 forms by float32 running means; those pixels
(|WHT| < 0.1 max|WHT| for lanczos, 1e-3 otherwise) are left out of the SCI
check, and float64 sums make ours the more accurate there.
"""

import warnings

import numpy as np
import pytest

drizzle_resample = pytest.importorskip("drizzle.resample", reason="drizzle==3.0.0 (the oracle) is not installed")

from gpudrizzle import Drizzle
from gpudrizzle.kernels import DRIZZLE_KERNELS

from maps import MAP_KINDS, make_pixmap

IN_SHAPE = (48, 56)
OUT_SHAPE = (140, 150)


def _images(rng, kind, n=3):
    images = []
    for _ in range(n):
        centre = (75 + rng.uniform(-5, 5), 70 + rng.uniform(-5, 5))
        pixmap, scale = make_pixmap(kind, IN_SHAPE, rng, centre=centre)
        images.append(dict(
            data=rng.normal(100, 20, IN_SHAPE).astype(np.float32),
            exptime=float(rng.uniform(50, 500)),
            pixmap=pixmap,
            pixel_scale_ratio=1.0 / scale,
            weight_map=rng.uniform(0.5, 1.5, IN_SHAPE).astype(np.float32),
            data2=[rng.uniform(1, 10, IN_SHAPE).astype(np.float32)],
            dq=rng.integers(0, 256, IN_SHAPE).astype(np.uint32),
            iscale=float(rng.uniform(0.8, 1.2)),
            wht_scale=float(rng.uniform(0.5, 2.0)),
        ))
    return images


@pytest.mark.parametrize("kernel", DRIZZLE_KERNELS)
@pytest.mark.parametrize("kind", sorted(MAP_KINDS))
def test_matches_drizzle3(backend, kernel, kind, rng):
    pixfrac = float(rng.choice([1.0, 0.7]))
    in_units = str(rng.choice(["cps", "counts"]))
    ours = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend=backend)
    theirs = drizzle_resample.Drizzle(kernel=kernel, out_shape=OUT_SHAPE)
    plain = Drizzle(kernel=kernel, out_shape=OUT_SHAPE, backend="numpy")  # float64 reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for image in _images(rng, kind):
            r1 = ours.add_image(**image, pixfrac=pixfrac, in_units=in_units)
            theirs.add_image(**image, pixfrac=pixfrac, in_units=in_units)
            plain.add_image(**image, pixfrac=pixfrac, in_units=in_units)
            assert r1 == (0, 0)  # every input pixel lands on the output
    wht, ref_wht = ours.out_wht, theirs.out_wht
    scale = np.abs(ref_wht).max()
    np.testing.assert_allclose(wht, ref_wht, rtol=1e-5, atol=1e-6 * scale)
    # lanczos: drizzle 3.0's float32 running mean passes through small partial weights
    # where the lobes cancel and loses digits there, also at pixels whose final weight is
    # not small (12% at |WHT| = 0.11 max for one seed); there the float64 reference
    # stands in for it
    good = np.abs(ref_wht) > (0.25 if kernel.startswith("lanczos") else 1e-3) * scale
    assert good.sum() > 500
    covered = np.abs(ref_wht) > 1e-3 * scale
    np.testing.assert_allclose(ours.out_img[covered], plain.out_img[covered], rtol=1e-6,
                               atol=1e-6 * float(np.abs(plain.out_img[covered]).max()))
    # float32 sums: the rounding scale is the image's (a lanczos pixel near 0 is a difference
    # of values ~100), so the absolute tolerance follows the largest value
    img_scale = float(np.abs(theirs.out_img[good]).max())
    np.testing.assert_allclose(ours.out_img[good], theirs.out_img[good], rtol=1e-5,
                               atol=1e-6 * img_scale)
    np.testing.assert_array_equal(np.isnan(ours.out_img), np.isnan(theirs.out_img))
    np.testing.assert_allclose(ours.out_img2[0][good], theirs.out_img2[0][good], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.out_ctx, theirs.out_ctx)
    np.testing.assert_array_equal(ours.out_dq, theirs.out_dq)
    assert ours.total_exptime == pytest.approx(theirs.total_exptime)
    assert ours.ctx_id == theirs.ctx_id


@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.5, 0.5), (1e-13, 0.5), (0.5 - 1e-13, 0.25),
                                    (0.5, 1e-9), (0.3, 0.7)])
@pytest.mark.parametrize("angle", [0.0, 1e-12, 1.0])
def test_square_drops_on_and_near_pixel_borders(backend, rng, offset, angle):
    """Unit drops whose corners lie on output pixel borders, within 1e-13 of them, or
    across them (the four-pixel case and its fallback): the same covered pixels as drizzle
    3.0, exactly (no rounding residue), and the same sums."""
    shape = (20, 24)
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    t = np.radians(angle)
    px = 8.0 + offset[0] + np.cos(t) * x - np.sin(t) * y
    py = 6.0 + offset[1] + np.sin(t) * x + np.cos(t) * y
    pixmap = np.dstack([px, py])
    data = rng.normal(100, 20, shape).astype(np.float32)
    weight = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    ours = Drizzle(kernel="square", out_shape=(40, 44), backend=backend)
    theirs = drizzle_resample.Drizzle(kernel="square", out_shape=(40, 44))
    for d in (ours, theirs):
        d.add_image(data, 1.0, pixmap, weight_map=weight, pixel_scale_ratio=1.0)
    np.testing.assert_array_equal(ours.out_wht > 0, theirs.out_wht > 0)
    np.testing.assert_array_equal(ours.out_ctx, theirs.out_ctx)
    np.testing.assert_allclose(ours.out_wht, theirs.out_wht, rtol=1e-6, atol=1e-7)
    good = theirs.out_wht > 1e-3
    np.testing.assert_allclose(ours.out_img[good], theirs.out_img[good], rtol=1e-5)
