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
