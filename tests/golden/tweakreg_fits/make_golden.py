"""Make the golden results of TweakReg's matching and fitting with drizzlepac 3.11.

Run once, in an environment with drizzlepac (not needed by the tests):

    python3 -m venv /tmp/dpvenv && /tmp/dpvenv/bin/pip install drizzlepac==3.11.0
    /tmp/dpvenv/bin/python tests/golden/tweakreg_fits/make_golden.py

It writes ``tweakreg_golden.npz`` beside itself, from small random catalogs
(fixed seed) given to what TweakReg's ``Image.match`` and
``Image.performFit`` call:

* ``drizzlepac.imgclasses._estimate_2dhist_shift`` (the use2dhist first
  guess) and ``stsci.stimage.xyxymatch`` (algorithm "tolerance", origin =
  that guess, a tolerance and a separation): cases ``match<k>_*``;
* ``drizzlepac.linearfit.iter_fit_all`` (fitgeometry shift, rscale,
  general; nclip, sigma, centre): cases ``fit<k>_*``.

Positions are multiples of 2**-10 so the file compresses well; they are
stored with the results.
"""

from pathlib import Path

import numpy as np
from drizzlepac import linearfit
from drizzlepac.imgclasses import _estimate_2dhist_shift
from stsci.stimage import xyxymatch

HERE = Path(__file__).resolve().parent
QUANTUM = 2.0 ** -10


def quantise(a):
    return np.round(np.asarray(a, dtype=np.float64) / QUANTUM) * QUANTUM


def match_cases(rng):
    """Catalogs with a common offset, noise, unrelated sources and close pairs."""
    cases = []
    specs = [  # (n_ref, n_common, n_extra, searchrad, tolerance, separation, offset, noise)
        (400, 250, 120, 5, 1.0, 0.0, (2.3, -1.7), 0.2),
        (300, 120, 200, 4, 1.5, 0.5, (-3.2, 0.6), 0.3),
        (250, 200, 30, 6, 0.8, 2.0, (4.4, 4.1), 0.1),
        (120, 40, 150, 3, 2.0, 0.0, (0.4, -0.2), 0.5),
        (20, 6, 24, 3, 1.0, 0.0, (1.0, 2.0), 0.05),  # sparse histogram
        (50, 0, 40, 3, 1.0, 0.0, (0.0, 0.0), 0.0),   # nothing in common, far apart
    ]
    for k, (nref, ncom, nextra, srad, tol, sep, off, noise) in enumerate(specs):
        size = 600.0 if k < 4 else (3000.0 if k == 5 else 400.0)
        ref = rng.uniform(0.0, size, (nref, 2))
        if k < 5:
            # a few reference sources with a close neighbour (separation tests)
            ref = np.vstack([ref, ref[:8] + rng.uniform(-1.2, 1.2, (8, 2))])
        common = ref[:ncom] + np.asarray(off) + rng.normal(0.0, noise, (ncom, 2))
        extra = rng.uniform(0.0, size, (nextra, 2))
        if k == 5:
            extra = extra + 4000.0
        xy = np.vstack([common, extra])
        xy = quantise(xy[rng.permutation(xy.shape[0])])
        ref = quantise(ref)
        xsh, ysh, maxval, flux, _zp, ok = _estimate_2dhist_shift(xy, ref, searchrad=srad)
        mt = xyxymatch(xy, ref, origin=(xsh, ysh), tolerance=tol, separation=sep)
        cases.append({
            "xy": xy, "refxy": ref,
            "pars": np.array([srad, tol, sep]),
            "guess": np.array([xsh, ysh, flux, float(ok)]),
            "idx": np.asarray(mt["input_idx"], dtype=np.int64),
            "refidx": np.asarray(mt["ref_idx"], dtype=np.int64),
        })
    return cases


def fit_cases(rng):
    """Matched lists from a known map, noise and 10 % outliers."""
    cases = []
    settings = [  # (geometry, nclip, sigma, reflect, centre)
        ("shift", 3, 3.0, False, None), ("shift", 1, 2.5, False, (1024.5, 1010.25)),
        ("rscale", 3, 3.0, False, None), ("rscale", 5, 2.5, False, (1000.0, 990.0)),
        ("rscale", 3, 3.0, True, None),
        ("general", 3, 3.0, False, None), ("general", 0, 3.0, False, (512.0, 700.0)),
        ("general", 4, 2.0, True, None),
    ]
    for geom, nclip, sigma, reflect, centre in settings:
        n = int(rng.integers(30, 160))
        ref = rng.uniform(0.0, 2000.0, (n, 2))
        th = np.deg2rad(rng.uniform(-1.0, 1.0))
        s = 1.0 + rng.uniform(-1e-3, 1e-3)
        a = s * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        if geom == "general":
            a = a + rng.normal(0.0, 1e-3, (2, 2))
        if reflect:
            a = a @ np.diag([1.0, -1.0])
        c = np.array([1000.0, 1000.0])
        xy = (ref - c) @ a.T + c + rng.uniform(-5.0, 5.0, 2) + rng.normal(0.0, 0.05, (n, 2))
        bad = rng.choice(n, n // 10, replace=False)
        xy[bad] += rng.uniform(-1.0, 1.0, (bad.size, 2))
        xy, ref = quantise(xy), quantise(ref)
        fit = linearfit.iter_fit_all(
            xy.copy(), ref.copy(), np.arange(n), np.arange(n), mode=geom,
            nclip=nclip, sigma=sigma,
            center=None if centre is None else np.array(centre), verbose=False)
        cases.append({
            "xy": xy, "refxy": ref,
            "geometry": np.array(geom),
            "pars": np.array([nclip, sigma]),
            "center": np.array([np.nan, np.nan]) if centre is None else np.array(centre),
            "matrix": np.asarray(fit["fit_matrix"], dtype=np.float64),
            "offset": np.asarray(fit["offset"], dtype=np.float64),
            # rot, rotx, roty, skew, scale, sx, sy
            "params": np.array([fit["rot"], fit["rotxy"][0], fit["rotxy"][1], fit["skew"],
                                *fit["scale"]], dtype=np.float64),
            "proper": np.array(bool(fit["proper"])),
            "stats": np.array([*fit["rms"], fit["rmse"], fit["mae"]], dtype=np.float64),
            "kept": np.asarray(fit["img_indx"], dtype=np.int64),
        })
    return cases


def main():
    rng = np.random.default_rng(20261201)
    out = {}
    for prefix, cases in (("match", match_cases(rng)), ("fit", fit_cases(rng))):
        out[f"n{prefix}"] = np.array(len(cases))
        for k, case in enumerate(cases):
            for key, value in case.items():
                out[f"{prefix}{k}_{key}"] = value
    np.savez_compressed(HERE / "tweakreg_golden.npz", **out)


if __name__ == "__main__":
    main()
