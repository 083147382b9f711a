"""Bit-flag parsing against drizzlepac's (stsci.tools.bitmask) recorded answers, and the
good-pixel test against astropy's bitfield_to_boolean_mask."""

import json
import os
import warnings

import numpy as np
import pytest
from astropy.nddata.bitmask import bitfield_to_boolean_mask

from gpudrizzle.bitflags import ALL_FLAGS, good_pixel_mask, interpret_bit_flags

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "bitflags", "bitflags_golden.json")


def _golden():
    with open(GOLDEN) as f:
        return json.load(f)


def test_golden_covers_many_forms():
    pairs = _golden()
    assert len(pairs) > 60
    kinds = {type(v).__name__ for v, _ in pairs}
    assert kinds == {"str", "int", "list", "NoneType"}
    assert sum(r == "error" for _, r in pairs) > 10 and sum(r != "error" for _, r in pairs) > 30


@pytest.mark.parametrize("value, expected", _golden())
def test_same_answers_as_drizzlepac(value, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if expected == "error":
            with pytest.raises(ValueError, match="'final_bits'"):
                interpret_bit_flags(value, "final_bits")
        else:
            got = interpret_bit_flags(value, "final_bits")
            assert type(got) is int
            assert got == (ALL_FLAGS if expected is None else expected)


def test_numpy_integers_and_tuples():
    assert interpret_bit_flags(np.uint16(4096)) == 4096
    assert interpret_bit_flags((np.int64(4), 8)) == 12


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.5, [], [True], ["4"], {4: 8}, b"4"])
def test_refused_forms_name_the_parameter(value):
    with pytest.raises(ValueError, match="'driz_sep_bits'"):
        interpret_bit_flags(value, "driz_sep_bits")


def test_error_names_the_value_without_astropy_jargon():
    with pytest.raises(ValueError, match=r"'bits': '4,5' is not a bit flag value"):
        interpret_bit_flags("4,5")


def test_duplicate_warning_names_the_parameter():
    with pytest.warns(UserWarning, match="'final_bits': duplicate bit flags in '4,4,8'"):
        assert interpret_bit_flags("4,4,8", "final_bits") == 12


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i2", ">i2", "<i4", "<u4", "u1", "i1"])
def test_good_pixel_mask_equals_astropy(rng, dtype):
    info = np.iinfo(np.dtype(dtype))
    dq = rng.integers(0, min(info.max, 1 << 15), 2000, endpoint=True).astype(dtype)
    dq[rng.random(dq.size) < 0.3] = 0
    before = dq.copy()
    for value in ("4,8", "~4+8", "0", 16, "~(1+2+64)", rng.integers(0, 256) * 2):
        bits = interpret_bit_flags(value)
        reset = int(rng.choice([0, 4096, 1]))
        got = good_pixel_mask(dq, bits, reset=reset)
        accepted = (bits | reset) & ((1 << (8 * dq.dtype.itemsize)) - 1)
        expected = bitfield_to_boolean_mask(dq.astype(dq.dtype.newbyteorder("=")).astype(np.int64),
                                            ignore_flags=accepted, good_mask_value=True)
        assert got.dtype == bool and got.shape == dq.shape
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dq, before)


def test_no_dq_and_all_flags():
    dq = np.array([[0, 1], [32768, 4096]], dtype=np.uint16)
    assert good_pixel_mask(dq, interpret_bit_flags("")).all()
    assert good_pixel_mask(None, 0) is None
