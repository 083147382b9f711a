"""Faults in numbers and in the drizzle / array API (issue 11): each is a clear error or a
correct result, never a silent wrong one.  Test names carry the defect number."""

import numpy as np
import pytest

from gpudrizzle.resample import Drizzle


def _identity(ny=20, nx=20):
    y, x = np.indices((ny, nx), dtype=np.float64)
    return np.dstack([x, y])


def _ones(ny=20, nx=20):
    return np.ones((ny, nx), np.float32)


# -- defect 13: add_image arguments --------------------------------------------------------


def test_defect13_weight_map_as_list(backend):
    """A nested list as ``weight_map`` is accepted as drizzle 3.0 accepts it."""
    d = Drizzle(out_shape=(20, 20), backend=backend)
    weights = (2.0 * np.ones((20, 20))).tolist()
    d.add_image(_ones(), 1.0, _identity(), weight_map=weights)
    np.testing.assert_allclose(d.out_wht[2:-2, 2:-2], 2.0)
    np.testing.assert_allclose(d.out_img[2:-2, 2:-2], 1.0)


@pytest.mark.parametrize("box", [dict(xmin=50, xmax=10), dict(ymin=15, ymax=3),
                                 dict(xmin=25), dict(ymax=-3)])
def test_defect13_empty_box_raises(backend, box):
    """An input box with no pixels is a ValueError naming the box, not a silent no-op."""
    d = Drizzle(out_shape=(20, 20), backend=backend)
    with pytest.raises(ValueError, match="No valid pixels.*'xmin'..'xmax'"):
        d.add_image(_ones(), 1.0, _identity(), **box)
    assert d.total_exptime == 0.0


# -- defect 18: data2 given after images without it ----------------------------------------


def test_defect18_data2_after_images_without_it(backend):
    """``out_img2`` would leave out the images added before the first ``data2``: refused."""
    d = Drizzle(out_shape=(20, 20), backend=backend)
    d.add_image(_ones(), 1.0, _identity())
    with pytest.raises(ValueError, match="Mismatch between the number of 'out_img2' images"):
        d.add_image(_ones(), 1.0, _identity(), data2=_ones())
    d.reset()
    d.add_image(_ones(), 1.0, _identity(), data2=_ones())  # fine after a reset
    with pytest.raises(ValueError, match="Mismatch"):
        d.add_image(_ones(), 1.0, _identity())


# -- defect 19: iscale must be positive ------------------------------------------------------


@pytest.mark.parametrize("iscale", [-1.0, 0.0, np.inf])
def test_defect19_iscale_positive_and_finite(backend, iscale):
    d = Drizzle(out_shape=(20, 20), backend=backend)
    with pytest.raises(ValueError, match="'iscale' must be"):
        d.add_image(_ones(), 1.0, _identity(), iscale=iscale)


# -- defect 17: zero-area sliver on a shared border ------------------------------------------


def test_defect17_zero_area_sliver_leaves_pixel_empty(backend):
    """drizzle's test_resample_edge_sgarea_bug (its issue #187): the drop of input pixel
    (0, 0) only shares the border y = 1.5 with output pixel (0, 2), which must stay empty
    (weight exactly 0, value NaN) instead of getting a weight of 1e-31 and the value 42."""
    pixmap = np.array([[[0.31887051, 1], [1.01898591, 1], [1.71909665, 1]],
                       [[0.31591881, 0], [1.0160342312345672, 0], [1.716145, 0]]])
    d = Drizzle(kernel="square", out_shape=(4, 4), backend=backend)
    d.add_image(np.full((2, 3), 42, np.float32), 1.0, pixmap)
    assert d.out_wht[2, 0] == 0.0
    assert np.isnan(d.out_img[2, 0])
    assert np.all(d.out_wht[2:] == 0.0) and np.isnan(d.out_img[2:]).all()
    np.testing.assert_allclose(d.out_img[:2, :3], 42.0, rtol=1e-6)


# -- defect 1: sizes checked against memory before allocating -----------------------------

_HUGE = (10**6, 10**6)

#: run in a child process whose address space is limited, so that a missing check
#: fails with numpy's own MemoryError (or a crash) instead of filling this machine
_CHILD = r"""
import json, resource, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
import numpy as np
from astropy.wcs import WCS
import gpudrizzle
from gpudrizzle.blot import blot_image
from gpudrizzle.crmask import driz_cr
from gpudrizzle.imagestats import image_stats
from gpudrizzle.median import create_median
from gpudrizzle.resample import Drizzle
from gpudrizzle.sky import compute_sky
from gpudrizzle.staticmask import create_static_masks
from gpudrizzle.utils import calc_pixmap

backend, shape = sys.argv[1], (10**6, 10**6)
w = WCS(naxis=2)
w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
w.wcs.cdelt, w.wcs.crval = [-1e-5, 1e-5], [10.0, 10.0]
huge = np.broadcast_to(np.float32(1.0), shape)  # no memory behind it
calls = {
    "calc_pixmap": lambda: calc_pixmap(w, w, shape=shape, backend=backend),
    "Drizzle(out_shape)": lambda: Drizzle(out_shape=shape, backend=backend),
    "Drizzle.add_image": lambda: Drizzle(backend=backend).add_image(
        np.ones((2, 2), np.float32), 1.0,
        np.array([[[0.0, 0.0], [1e6 - 1, 0.0]], [[0.0, 1e6 - 1], [1e6 - 1, 1e6 - 1]]])),
    "blot_image": lambda: blot_image(np.ones((4, 4), np.float32),
                                     np.broadcast_to(np.float64(1.0), shape + (2,)),
                                     backend=backend),
    "create_median": lambda: create_median([huge, huge], [huge, huge], backend=backend),
    "driz_cr": lambda: driz_cr(huge, huge, backend=backend),
    "create_static_masks": lambda: create_static_masks([huge], [1], backend=backend),
    "compute_sky": lambda: compute_sky([huge], [1], backend=backend),
    "image_stats": lambda: image_stats(huge, "npix,median", backend=backend),
}
out = {}
for name, call in calls.items():
    try:
        call()
        out[name] = "returned"
    except BaseException as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


@pytest.fixture(scope="module", params=["numpy", "cpu"])
def huge_calls(request):
    """What each entry point said when asked for a 10**6 x 10**6 output, in a child process."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _CHILD, request.param], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("entry", ["calc_pixmap", "Drizzle(out_shape)", "Drizzle.add_image",
                                   "blot_image", "create_median", "driz_cr",
                                   "create_static_masks", "compute_sky", "image_stats"])
def test_defect1_huge_output_is_refused_before_allocating(huge_calls, entry):
    """Each entry point raises MemoryError naming the size before it allocates anything."""
    said = huge_calls[entry]
    assert said.startswith("MemoryError: "), said
    assert "available" in said and ("GiB" in said or "bytes" in said), said
    assert "Unable to allocate" not in said, said  # numpy's own refusal: no check was made
    assert huge_calls["maxrss_mib"] < 1500


# -- defect 3: every non-finite pixel is "no data" in every step -----------------------------


def _demo_run(directory, backend, bad=None):
    """AstroDrizzle on the small demo (chip 1 of the first exposure set to ``bad``):
    the cosmic-ray counts of the other exposures' chips and the final sci / wht."""
    import glob
    import os

    from astropy.io import fits

    from gpudrizzle import astrodrizzle

    files = sorted(glob.glob(f"{directory}/*_flt.fits"))
    if bad is not None:
        with fits.open(files[0], mode="update") as hdul:
            hdul[("SCI", 1)].data[...] = bad
    astrodrizzle.AstroDrizzle(files, output=f"{directory}/final", backend=backend, runfile="",
                              clean=False)
    counts = {}
    for f in files[1:]:
        root = os.path.basename(f)[:-len("_flt.fits")]
        for k in (1, 2):
            mask = fits.getdata(f"{directory}/{root}_sci{k}_crmask.fits")
            counts[root, k] = int(np.count_nonzero(mask == 0))
    return counts, fits.getdata(f"{directory}/final_drz_sci.fits"), \
        fits.getdata(f"{directory}/final_drz_wht.fits")


@pytest.fixture(scope="module", params=["numpy", "cpu"])
def demo_clean(request, tmp_path_factory):
    from gpudrizzle.demo import write_demo_data

    d = tmp_path_factory.mktemp(f"demo_{request.param}")
    write_demo_data(str(d / "clean"), size="small")
    return request.param, d, _demo_run(d / "clean", request.param)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["+inf", "-inf", "nan"])
def test_defect3_non_finite_chip_is_no_data(demo_clean, bad):
    """A chip of +inf / -inf / NaN adds nothing: the other exposures' cosmic-ray counts stay
    those of a clean run and the product is finite wherever it has weight."""
    import shutil

    backend, d, (clean_counts, clean_sci, clean_wht) = demo_clean
    work = d / f"bad_{bad}"
    work.mkdir()
    for f in (d / "clean").glob("*_flt.fits"):
        shutil.copy(f, work)
    counts, sci, wht = _demo_run(work, backend, bad)
    for chip, n in clean_counts.items():
        assert abs(counts[chip] - n) <= 5, (chip, counts[chip], n)
    assert np.isfinite(sci[wht > 0]).all()
    assert np.isfinite(sci[clean_wht > 0][wht[clean_wht > 0] > 0]).all()


@pytest.mark.parametrize("where", ["data2", "weight"])
def test_defect3_non_finite_weight_or_variance_is_no_data(backend, where):
    """A pixel whose weight or data2 (variance) is NaN or infinite is no data, like a pixel
    whose value is: the other image's contribution alone makes the output pixel (the ERR
    product of an exposure with a NaN ERR pixel is not NaN where others cover it)."""
    y, x = np.indices((6, 6), dtype=float)
    pixmap = np.dstack([x, y])
    weight, var = np.ones((6, 6), np.float32), np.ones((6, 6), np.float32)
    (var if where == "data2" else weight)[2, 2] = np.nan
    (var if where == "data2" else weight)[3, 4] = np.inf
    d = Drizzle(out_shape=(6, 6), backend=backend)
    d.add_image(np.full((6, 6), 5.0, np.float32), 1.0, pixmap, data2=var, weight_map=weight)
    d.add_image(np.full((6, 6), 3.0, np.float32), 1.0, pixmap, data2=np.full((6, 6), 4.0, np.float32))
    wht, img, img2 = d.out_wht, d.out_img, d.out_img2[0]
    for j, i in ((2, 2), (3, 4)):
        assert (wht[j, i], img[j, i], img2[j, i]) == (1.0, 3.0, 4.0)
    assert wht[0, 0] == 2.0 and img[0, 0] == 4.0 and img2[0, 0] == np.float32(1.25)


def test_decode_context_refuses_a_float_context():
    """A float context is refused as drizzle 3.0's bit shifts refuse it (not cast silently)."""
    from gpudrizzle import decode_context

    with pytest.raises(TypeError, match="integers"):
        decode_context(np.ones((1, 4, 4), np.float32), [1], [1])
    assert [list(v) for v in decode_context(np.ones((1, 4, 4), np.int32), [1], [1])] == [[0]]
