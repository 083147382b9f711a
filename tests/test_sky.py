"""The sky step (localmin, globalmin) against stsci.skypac's skymatch, as drizzlepac 3.11 runs it.

Golden values (``golden/sky_golden.npz``) are the MDRIZSKY keywords skymatch
wrote into small FITS files (script: ``golden/make_golden.py``).  skymatch
writes a float32 for the median (its arithmetic stays float32), a float64
otherwise; the comparisons are exact in that type.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from gpudrizzle.sky import SKY_METHODS, brightness_factor, compute_sky

GOLDEN = np.load(Path(__file__).resolve().parent / "golden" / "sky_golden.npz")
CASES = {k.split("/", 1)[1]: json.loads(str(GOLDEN[k])) for k in GOLDEN.files
         if k.startswith("params/")}

# Fixtures from conftest.py: ``backend`` and ``rng``.


def _golden_inputs():
    g = GOLDEN
    chips, exptime, idcscale, rate = g["chips"], g["exptime"], g["idcscale"], g["rate"]
    n_exp, n_chip = chips.shape[:2]
    flat = [chips[e, c] for e in range(n_exp) for c in range(n_chip)]
    exposures = [e for e in range(n_exp) for _ in range(n_chip)]
    conv = [brightness_factor(idcscale[c], exptime=exptime[e], count_rate=bool(rate[e]))
            for e in range(n_exp) for c in range(n_chip)]
    return flat, exposures, conv


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_skymatch(backend, name):
    case = CASES[name]
    flat, exposures, conv = _golden_inputs()
    got = np.array(compute_sky(flat, exposures, brightness=conv, backend=backend, **case).mdrizsky)
    want = GOLDEN[f"mdrizsky/{name}"].ravel()
    if case["skystat"] == "median":
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))
    else:
        np.testing.assert_array_equal(got, want)
    if case["skymethod"] == "globalmin":  # one brightness for all chips
        b = got * np.array(conv)
        np.testing.assert_allclose(b, b[0], rtol=1e-6)


def test_localmin_takes_the_darker_chip_of_each_exposure(backend, rng):
    a = rng.uniform(97, 103, (30, 30)).astype(np.float32)  # no tails: clipping keeps all
    b = rng.uniform(117, 123, (30, 30)).astype(np.float32)
    res = compute_sky([a, b, b, a], ["x", "x", "y", "y"], backend=backend)
    assert res.mdrizsky[0] == res.mdrizsky[1] == res.chip_sky[0]
    assert res.mdrizsky[2] == res.mdrizsky[3] == res.chip_sky[3]
    assert abs(res.chip_sky[1] - 120) < 1 and res.npix[0] == 900


def test_masks_choose_the_pixels(backend, rng):
    img = rng.normal(100, 3, (40, 40)).astype(np.float32)
    img[:, :20] += 50.0
    mask = np.zeros(img.shape, bool)
    mask[:, 20:] = True
    got = compute_sky([img], [0], masks=[mask], skystat="mean", backend=backend)
    want = compute_sky([img[:, 20:].copy()], [0], skystat="mean", backend=backend)
    assert got.mdrizsky == want.mdrizsky and got.npix == want.npix
    empty = compute_sky([img], [0], masks=[np.zeros(img.shape, bool)], backend=backend)
    assert empty.mdrizsky == [0.0] and empty.chip_sky == [None]


def test_brightness_factor_follows_skypac():
    assert brightness_factor(0.05) == 1.0 / 0.05 ** 2
    assert brightness_factor(0.05, exptime=500.0) == 1.0 / 0.05 ** 2 / 500.0
    assert brightness_factor(0.05, exptime=500.0, count_rate=True) == 1.0 / 0.05 ** 2
    assert brightness_factor(0.05, exptime=500.0, photflam=2e-19) == 1.0 / 0.05 ** 2 * 2e-19 / 500.0
    assert brightness_factor(0.05, photflam=0.0, exptime=0.0) == 1.0 / 0.05 ** 2


@pytest.mark.parametrize("kwargs, name", [
    (dict(skymethod="match"), "skymethod"),
    (dict(skymethod="globalmin+match"), "skymethod"),
    (dict(skymethod="min"), "skymethod"),
    (dict(skystat="max"), "skystat"),
    (dict(skyclip=-1), "skyclip"),
    (dict(skylsigma=0.0), "skylsigma"),
    (dict(skywidth=-1.0), "skywidth"),
    (dict(skylower="a"), "skylower"),
    (dict(brightness=[1.0, 2.0]), "brightness"),
    (dict(masks=[np.ones((2, 2), bool)]), "masks"),
])
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        compute_sky([np.ones((4, 5), np.float32)], [0], backend="numpy", **kwargs)
    assert SKY_METHODS == ("localmin", "globalmin")
