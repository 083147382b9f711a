"""The sky step against stsci.skypac's skymatch, as drizzlepac 3.11 runs it.

Golden values (``golden/sky_golden.npz``: localmin, globalmin;
``golden/sky_match_golden.npz``: match, globalmin+match on five dithered,
rotated, SIP-distorted or disjoint exposures) are the MDRIZSKY keywords
skymatch wrote into small FITS files (script: ``golden/make_golden.py``).
skymatch writes a float32 for the localmin / globalmin median (its arithmetic
stays float32), a float64 otherwise; those comparisons are exact in that
type; match is compared to 1e-12 relative (the least-squares solve).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle.sky import SKY_METHODS, brightness_factor, compute_sky, overlap_mask

GOLDEN = np.load(Path(__file__).resolve().parent / "golden" / "sky_golden.npz")
CASES = {k.split("/", 1)[1]: json.loads(str(GOLDEN[k])) for k in GOLDEN.files
         if k.startswith("params/")}

MATCH = np.load(Path(__file__).resolve().parent / "golden" / "sky_match_golden.npz")
MATCH_CASES = {k.split("/", 1)[1]: json.loads(str(MATCH[k])) for k in MATCH.files
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


def _match_inputs():
    g = MATCH
    chips, exptime, idcscale, rate, headers = (g["chips"], g["exptime"], g["idcscale"], g["rate"],
                                               g["headers"])
    n_exp, n_chip = chips.shape[:2]
    flat = [chips[e, c] for e in range(n_exp) for c in range(n_chip)]
    exposures = [f"exp{e}" for e in range(n_exp) for _ in range(n_chip)]
    wcs = [WCS(fits.Header.fromstring(str(headers[e, c])))
           for e in range(n_exp) for c in range(n_chip)]
    conv = [brightness_factor(idcscale[c], exptime=exptime[e], count_rate=bool(rate[e]))
            for e in range(n_exp) for c in range(n_chip)]
    return flat, exposures, conv, wcs


@pytest.mark.parametrize("name", sorted(MATCH_CASES))
def test_match_matches_skymatch(backend, name):
    case = MATCH_CASES[name]
    flat, exposures, conv, wcs = _match_inputs()
    got = np.array(compute_sky(flat, exposures, brightness=conv, wcs=wcs, backend=backend,
                               **case).mdrizsky)
    want = MATCH[f"mdrizsky/{name}"].ravel()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    b = got * np.array(conv)  # one brightness per exposure
    np.testing.assert_allclose(b[0::2], b[1::2], rtol=1e-6)
    if case["skymethod"] == "match":  # the lowest exposure at 0; the disjoint one untouched
        assert min(b[:8:2]) == 0.0 and got[8] == got[9] == 0.0
    else:
        assert min(b) > 0.0


def test_match_equalises_offset_skies(backend, rng):
    """Two half-overlapping exposures with flat skies 100 and 130: sky difference 30."""
    shape = (30, 40)
    w0 = WCS(naxis=2)
    w0.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w0.wcs.crval = [150.0, 2.0]
    w0.wcs.crpix = [20.0, 15.0]
    w0.wcs.cd = [[-1e-5, 0.0], [0.0, 1e-5]]
    w1 = w0.deepcopy()
    w1.wcs.crpix = [0.0, 15.0]  # shifted by 20 pixels in x
    a = rng.uniform(98, 102, shape).astype(np.float32)
    c = rng.uniform(128, 132, shape).astype(np.float32)
    c[:, 20:] += 500.0  # outside the overlap (a's columns 20.. = c's 0..19): ignored
    res = compute_sky([a, c], [0, 1], wcs=[w0, w1], skymethod="match", skystat="mean",
                      backend=backend)
    assert res.mdrizsky[0] == 0.0 and abs(res.mdrizsky[1] - 30.0) < 0.5
    both = compute_sky([a, c], [0, 1], wcs=[w0, w1], skymethod="globalmin+match",
                       skystat="mean", backend=backend)
    assert abs(both.mdrizsky[0] - 100.0) < 0.5 and abs(both.mdrizsky[1] - 130.0) < 0.5
    alone = compute_sky([a], [0], wcs=[w0], skymethod="match", backend=backend)
    assert alone.mdrizsky == [0.0]  # skypac needs two exposures


def test_overlap_mask_scan_lines():
    # a 4x3 rectangle from (1, 1) to (5, 4): rows 1..4, columns 1..5
    m = overlap_mask((6, 8), [1, 5, 5, 1, 1], [1, 1, 4, 4, 1])
    want = np.zeros((6, 8), bool)
    want[1:5, 1:6] = True
    np.testing.assert_array_equal(m, want)
    # clipped at the chip's edges; vertices rounded half to even
    m = overlap_mask((3, 3), [-2.5, 4.4, 4.4, -2.5, -2.5], [-1, -1, 5, 5, -1])
    assert m.all()
    with pytest.raises(ValueError, match="vertices"):
        overlap_mask((3, 3), [0, 1, 0], [0, 0, 1])


def test_match_needs_wcs():
    img = np.ones((4, 5), np.float32)
    for method in ("match", "globalmin+match"):
        with pytest.raises(ValueError, match="'wcs'"):
            compute_sky([img, img], [0, 1], skymethod=method, backend="numpy")
    with pytest.raises(ValueError, match="'wcs'"):
        compute_sky([img, img], [0, 1], skymethod="match", wcs=[None], backend="numpy")
    with pytest.raises(ValueError, match=r"'wcs\[1\]'"):
        compute_sky([img, img], [0, 1], skymethod="match", wcs=[WCS(naxis=2), "x"],
                    backend="numpy")


@pytest.mark.parametrize("kwargs, name", [
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
    assert SKY_METHODS == ("localmin", "globalmin", "match", "globalmin+match")
