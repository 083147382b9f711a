"""Synthetic HST-like test data: the generator lives in :mod:`gpudrizzle.synthetic`."""

from gpudrizzle.synthetic import (  # noqa: F401  (re-exported for the tests)
    DEFAULT_SIP,
    IDC_REF,
    N_CHIPS,
    PIXEL_SCALE,
    ChipTruth,
    Star,
    SyntheticExposure,
    east_left_cd,
    random_stars,
    write_asn,
    write_dither_set,
    write_flt,
    write_generic,
)


def file_hashes(paths):
    """SHA-256 of each file: {path: hex digest} (to show inputs are left byte-identical)."""
    import hashlib

    out = {}
    for p in paths:
        with open(p, "rb") as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out
