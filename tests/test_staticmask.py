"""The static mask and the ImageStats statistics behind it, against drizzlepac 3.11.

Golden arrays (``golden/staticmask_golden.npz``, ``golden/imagestats_golden.npz``)
were made by drizzlepac's ``staticMask.addMember`` and stsci.imagestats'
``ImageStats`` (script: ``golden/make_golden.py``).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from gpudrizzle.imagestats import image_stats
from gpudrizzle.staticmask import chip_static_mask, create_static_masks

GOLDEN = Path(__file__).resolve().parent / "golden"
STATIC = np.load(GOLDEN / "staticmask_golden.npz")
STATS = np.load(GOLDEN / "imagestats_golden.npz")

# Fixtures from conftest.py: ``backend`` and ``rng``.


@pytest.mark.parametrize("case", range(len(STATS["params"])))
def test_image_stats_match_imagestats(backend, case):
    params = json.loads(str(STATS["params"][case]))
    ny, nx = params.pop("shape")
    image = STATS["images"][case][:ny, :nx]
    fields = [str(f) for f in STATS["fields"]]
    got = image_stats(image, ",".join(fields), backend=backend, **params)
    for name, want in zip(fields, STATS["results"][case]):
        assert getattr(got, name) == want, (name, getattr(got, name), want)


def test_image_stats_reject_bad_parameters():
    img = np.ones((4, 4), np.float32)
    for kwargs, name in ((dict(nclip=-1), "nclip"), (dict(lsig=0), "lsig"),
                         (dict(binwidth=-0.1), "binwidth"), (dict(fields="mean,mode2"), "fields")):
        with pytest.raises(ValueError, match=name):
            image_stats(img, backend="numpy", **kwargs)
    with pytest.raises(ValueError, match="data points"):
        image_stats(img, lower=2.0, backend="numpy")


def _signatures(chips):
    return [("ACS/WFC", chips.shape[2:], c + 1) for c in range(chips.shape[1])] * chips.shape[0]


@pytest.mark.parametrize("static_sig", [4.0, 3.0, 6.0])
def test_matches_drizzlepac(backend, static_sig):
    chips = STATIC["chips"]
    want = STATIC[f"mask/{static_sig}"]
    got = create_static_masks([c for e in chips for c in e], _signatures(chips),
                              static_sig=static_sig, backend=backend)
    assert len(got) == 2
    for c in range(2):
        mask = got[("ACS/WFC", chips.shape[2:], c + 1)]
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, want[c])
    assert (want[0][:, 7] == 0).all() and (want == 0).sum() > 100


def test_masks_are_and_accumulated(backend, rng):
    sky = [rng.uniform(95, 105, (30, 40)).astype(np.float32) for _ in range(3)]  # no outliers
    sky[0][3, 4] = sky[1][10, 20] = 0.0
    got = create_static_masks(sky, ["a", "a", "b"], backend=backend)
    assert got["a"][3, 4] == 0 and got["a"][10, 20] == 0 and got["b"].all()
    alone, thr = chip_static_mask(sky[0], backend=backend)
    assert alone[3, 4] == 0 and alone[10, 20] == 1 and 60 < thr < 95


def test_flat_and_nan_chips_leave_the_mask_alone(backend):
    flat = np.full((10, 12), 7.0, np.float32)
    mask, thr = chip_static_mask(flat, backend=backend)
    assert thr is None and mask.all()
    nan = np.full((10, 12), np.nan, np.float32)
    mask, thr = chip_static_mask(nan, backend=backend)
    assert thr is None and mask.all()


def test_bad_arguments_are_named():
    a = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="static_sig"):
        create_static_masks([a], ["x"], static_sig=0, backend="numpy")
    with pytest.raises(ValueError, match="signatures"):
        create_static_masks([a, a], ["x"], backend="numpy")
    with pytest.raises(ValueError, match=r"chips\[1\]"):
        create_static_masks([a, np.ones((4, 6))], ["x", "x"], backend="numpy")
