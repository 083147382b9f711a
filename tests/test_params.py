"""The AstroDrizzle parameter table, validation, switching rules and bit flags."""

import ast
import pickle
import re
import warnings

import numpy as np
import pytest
from astropy.nddata.bitmask import interpret_bit_flags as astropy_bit_flags

from gpudrizzle.bitflags import ALL_FLAGS, good_pixel_mask, interpret_bit_flags
from gpudrizzle.params import (DEFAULTS, PARAMETERS, PYTHON_ONLY, SECTIONS, UNSUPPORTED,
                               Parameters, custom_wcs_parameters, resolve_parameters,
                               step_switches)


def _reference_section5(shared):
    text = (shared.parent / "REFERENCE.md").read_text()
    return text[text.index("## 5."):text.index("## 6.")]


def _reference_defaults(section):
    """{name: value} from REFERENCE.md section 5 ('a/b/c=None' expands with a's prefix)."""
    out = {}
    for names, value in re.findall(r"([a-z][a-z0-9_/]*)=('[^']*'|[^,\s]+?)(?=,\s|\.\s|\.?$)",
                                   section, flags=re.M):
        value = ast.literal_eval(value)
        first, *rest = names.split("/")
        prefix = first[: first.rfind("_") + 1] if rest else ""
        for name in [first] + [prefix + r for r in rest]:
            out[name] = value
    m = re.search(r"((?:[a-z]+, )+[a-z]+) = ''", section)
    for name in m.group(1).split(", "):
        out[name] = ""
    return out


def test_defaults_equal_reference_section5(shared_data):
    expected = _reference_defaults(_reference_section5(shared_data))
    assert len(expected) >= 90
    for name, value in expected.items():
        assert name in PARAMETERS, name
        assert PARAMETERS[name].default == value, name
        assert type(PARAMETERS[name].default) is type(value), name
    extra = set(PARAMETERS) - set(expected)
    # input (positional in the API) and gpudrizzle's own additions are not in section 5
    assert extra == {"input", "update_inputs", "backend", "write_products"}


def test_parsed_defaults():
    p = resolve_parameters()
    assert dict(p) == DEFAULTS
    assert p.resetbits == 4096 and p.final_bits == 0 and p.sky_bits == 0
    assert p.combine_nsigma == (4.0, 3.0)
    assert p.driz_cr_snr == (3.5, 3.0) and p.driz_cr_scale == (1.2, 0.7)
    assert p.group is None and p.gain is None and p.gnkeyword == ""
    assert p.final_wht_type == "EXP" and p.final_kernel == "square" and p.driz_sep_kernel == "turbo"
    assert p.user_set == frozenset()


def test_table_entries_complete():
    for name, par in PARAMETERS.items():
        assert par.name == name
        assert par.section in SECTIONS
        assert par.help and len(par.help) > 10, name
        assert par.cli_option == (None if name in PYTHON_ONLY else "--" + name.replace("_", "-"))
    assert PARAMETERS["final_kernel"].cli_option == "--final-kernel"
    assert PYTHON_ONLY <= set(PARAMETERS)
    assert "tophat" not in PARAMETERS["final_kernel"].choices
    assert set(PARAMETERS["final_wht_type"].choices) == {"EXP", "ERR", "IVM"}


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError, match=r"unknown parameter 'final_kernal'.*'final_kernel'"):
        resolve_parameters(final_kernal="square")
    with pytest.raises(ValueError, match=r"unknown parameter 'zzz'$"):
        resolve_parameters({"zzz": 1})


@pytest.mark.parametrize("name, value", [
    ("final_pixfrac", 0), ("final_pixfrac", "abc"), ("final_kernel", "bogus"),
    ("combine_type", "medain"), ("skyclip", -1), ("crbit", 3), ("crbit", 1 << 16),
    ("final_outnx", 0), ("final_outnx", 10.5), ("final_dec", 95.0), ("build", "maybe"),
    ("build", 2), ("combine_nsigma", "4 3 2"), ("driz_cr_snr", "3.5"), ("final_wht_type", "wht"),
    ("final_units", "electrons"), ("gain", -1.0), ("gain", "0,0"), ("exptime", 0),
    ("gnkeyword", "bad key!"), ("final_bits", "4,5"), ("final_bits", "4,8+16"),
    ("final_scale", -0.05), ("final_rot", float("nan")), ("group", "sci,x"), ("group", 0),
    ("num_cores", -1), ("final_wt_scl", "bogus"), ("backend", "gpu"), ("static_sig", True),
    ("skymethod", "min"), ("blot_interp", "cubic"), ("stepsize", 0), ("output", 5),
])
def test_bad_value_names_parameter_and_value(name, value):
    with pytest.raises(ValueError) as info:
        resolve_parameters({name: value})
    assert f"'{name}'" in str(info.value)
    assert repr(value) in str(info.value)


def test_tophat_is_rejected_with_reason():
    with pytest.raises(ValueError, match="not supported.*removed"):
        resolve_parameters(final_kernel="tophat")


def test_strings_as_in_cfg_files():
    p = resolve_parameters(build="yes", clean="True", context="no", final_scale="0.05",
                           final_outnx="100", final_outny="80", num_cores="None", skylower="INDEF",
                           final_fillval="0", combine_nhigh="1", final_wht_type="ivm",
                           final_kernel="Square", driz_cr_snr="3.0,2.5", group="1,2",
                           gain="2.0,0,4.0")
    assert p.build is True and p.clean is True and p.context is False
    assert p.final_scale == 0.05 and p.final_outnx == 100 and p.final_outny == 80
    assert p.num_cores is None and p.skylower is None and p.final_fillval == 0.0
    assert p.combine_nhigh == 1
    assert p.final_wht_type == "IVM" and p.final_kernel == "square"
    assert p.driz_cr_snr == (3.0, 2.5)
    assert p.group == (1, 2)
    assert p.gain == 3.0  # average of the non-zero entries (drizzlepac _averageFromList)
    assert resolve_parameters(group="sci,2").group == (2,)
    assert resolve_parameters(combine_nsigma="5").combine_nsigma == (5.0, 5.0)
    assert resolve_parameters(final_wt_scl="expsq").final_wt_scl == "expsq"
    assert resolve_parameters(final_wt_scl="2.5").final_wt_scl == 2.5


def test_unsupported_options():
    for name in ("mdriztab", "updatewcs", "editpars", "driz_sep_compress"):
        with pytest.raises(ValueError, match=rf"'{name}'=True is not supported"):
            resolve_parameters({name: True})
        p = resolve_parameters({name: False})
        assert name not in p
    with pytest.raises(ValueError, match="rules_file.*not supported"):
        resolve_parameters(rules_file="my.rules")
    assert "rules_file" not in resolve_parameters(rules_file="")
    with pytest.raises(ValueError, match="wcsmap.*not supported"):
        resolve_parameters(wcsmap=object())
    assert set(UNSUPPORTED).isdisjoint(PARAMETERS)


def test_custom_frame_switch_follows_user_keywords():
    p = resolve_parameters(final_rot=0.0)
    assert p.final_wcs is True and p.driz_sep_wcs is False
    assert custom_wcs_parameters(p, "final")["rot"] == 0.0
    assert custom_wcs_parameters(p, "driz_sep")["rot"] is None
    # a value that comes from a file (base) does not switch the frame on
    q = resolve_parameters(base={"final_rot": 0.0})
    assert q.final_wcs is False
    assert custom_wcs_parameters(q, "final")["rot"] is None
    # nor does anything apply when the step is off
    r = resolve_parameters(final_scale=0.1, driz_combine=False)
    assert custom_wcs_parameters(r, "final")["scale"] is None
    s = resolve_parameters(driz_sep_refimage="ref.fits")
    assert s.driz_sep_wcs is True and custom_wcs_parameters(s, "driz_sep")["refimage"] == "ref.fits"
    with pytest.raises(ValueError, match="'step'"):
        custom_wcs_parameters(p, "single")


@pytest.mark.parametrize("given, missing", [("final_ra", "final_dec"), ("final_crpix2", "final_crpix1"),
                                            ("final_outnx", "final_outny")])
def test_custom_frame_pairs(given, missing):
    with pytest.raises(ValueError, match=f"'{given}'.*'{missing}'"):
        resolve_parameters({given: 10.0})
    # ignored (as drizzlepac) when the custom frame is off
    assert resolve_parameters(base={given: 10.0}).final_wcs is False


def test_value_and_keyword_are_exclusive():
    with pytest.raises(ValueError, match="'gain'.*'gnkeyword'"):
        resolve_parameters(gain=2.0, gnkeyword="ATODGNA")
    with pytest.raises(ValueError, match="'exptime'.*'expkeyword'"):
        resolve_parameters(exptime=10, expkeyword="EXPTIME")
    assert resolve_parameters(rnkeyword="readnsea, readnseb").rnkeyword == "READNSEA,READNSEB"


def test_parameters_are_read_only_and_reparse_to_themselves():
    p = resolve_parameters(final_bits="~4+8", combine_nsigma="5 4", group=2, final_rot=10,
                           final_wt_scl="3", gain="2,4")
    with pytest.raises(AttributeError):
        p.final_kernel = "point"
    with pytest.raises(TypeError):
        p["final_kernel"] = "point"
    assert pickle.loads(pickle.dumps(p)) == p
    again = resolve_parameters(base=p)
    assert dict(again) == dict(p)
    assert p.user_set >= {"final_bits", "combine_nsigma", "group", "final_rot"}
    assert set(p.section("STEP 7a: CUSTOM WCS FOR FINAL OUTPUT")) >= {"final_wcs", "final_rot"}
    assert "final_rot" in repr(p)


def test_keyword_given_twice():
    with pytest.raises(ValueError, match="given twice"):
        resolve_parameters({"build": True}, build=False)


@pytest.mark.parametrize("n, given, expected", [
    (1, {}, dict(driz_separate=True, median=False, blot=False, driz_cr=False)),
    (3, {}, dict(driz_separate=True, median=True, blot=True, driz_cr=True)),
    (3, dict(median=False, blot=False, driz_separate=False),
     dict(driz_separate=True, median=True, blot=True, driz_cr=True)),
    (2, dict(driz_cr=False, blot=False, median=True, driz_separate=False),
     dict(driz_separate=True, median=True, blot=False, driz_cr=False)),
    (2, dict(driz_cr=False, blot=False, median=False, driz_separate=False),
     dict(driz_separate=False, median=False, blot=False, driz_cr=False)),
    (1, dict(driz_separate=False), dict(driz_separate=False, median=False, blot=False, driz_cr=False)),
])
def test_step_switches(n, given, expected):
    s = step_switches(resolve_parameters(given), n)
    assert {k: getattr(s, k) for k in expected} == expected
    changed = sum(resolve_parameters(given)[k] != v for k, v in expected.items())
    assert len(s.notes) == changed


def test_step_switches_rejects_bad_count():
    with pytest.raises(ValueError, match="n_images"):
        step_switches(resolve_parameters(), 0)


# ---------------------------------------------------------------------------
# bit flags
@pytest.mark.parametrize("value, expected", [
    ("4,8", 12), ("4+8", 12), (" 4 , 8 ", 12), ("~4+8", ~12), ("~4,8", ~12), ("~(4,8)", ~12),
    ("~(4+8+512)", -525), (12, 12), (-13, -13), (np.int16(4), 4), ("12", 12), ("0", 0),
    ([4, 8], 12), (None, ALL_FLAGS), ("", ALL_FLAGS), ("None", ALL_FLAGS), ("INDEF", ALL_FLAGS),
    ("~0", ALL_FLAGS), ("4096", 4096), ("(4,8)", 12),
])
def test_bit_flags(value, expected):
    assert interpret_bit_flags(value) == expected
    # the same as astropy's implementation of these rules (None there: DQ not used)
    reference = astropy_bit_flags(value)
    assert (ALL_FLAGS if reference is None else reference) == expected


@pytest.mark.parametrize("value", ["4,5", "4,8+16", "a", "4,,8", "(4,8", "4(8)", "~", True, 1.5,
                                   [3], [], "4,-8"])
def test_bad_bit_flags(value):
    with pytest.raises(ValueError, match="'bits'"):
        interpret_bit_flags(value)


def test_duplicate_bit_flags_warn():
    with pytest.warns(UserWarning, match="duplicate"):
        assert interpret_bit_flags("4,4,8") == 12


def test_good_pixel_rule():
    dq = np.array([0, 4, 8, 12, 16, 4096, 4100, 32768], dtype=np.uint16)
    for value in ("4,8", "~4+8", None, 0, "4096", "32768"):
        bits = interpret_bit_flags(value)
        expected = [(int(v) & ~bits) == 0 for v in dq]
        assert good_pixel_mask(dq, bits).tolist() == expected
        assert good_pixel_mask(dq.astype(np.int32), bits).tolist() == expected
    assert good_pixel_mask(dq, 12).tolist() == [True, True, True, True, False, False, False, False]
    assert good_pixel_mask(dq, ~12).tolist() == [True, False, False, False, True, True, False, True]
    assert good_pixel_mask(dq, ALL_FLAGS).all()
    assert good_pixel_mask(None, 0) is None
    signed = np.array([0, -32768], dtype=np.int16)  # bit 15 of a signed 16-bit DQ
    assert good_pixel_mask(signed, 0).tolist() == [True, False]


@pytest.mark.parametrize("dtype", ["<i2", ">i2", "<u2", ">u2", ">i4", "<u4", "i1", "u1"])
def test_good_pixel_mask_equals_64_bit_rule(rng, dtype):
    """Every DQ type and byte order, resetbits included, as the sign-extended 64-bit test."""
    info = np.iinfo(np.dtype(dtype))
    dq = rng.integers(info.min, info.max, 500, endpoint=True).astype(dtype)
    width = 8 * np.dtype(dtype).itemsize
    flags = [0, 4, 12, 1 << (width - 1), (1 << (width - 1)) | 4, ~4, ~(1 << (width - 1)),
             int(rng.integers(0, 1 << width)), ALL_FLAGS]
    for bits in flags:
        for reset in (0, 4096, 1 << (width - 1)):
            want = (dq.astype(np.int64) & (~bits & ~reset)) == 0
            np.testing.assert_array_equal(good_pixel_mask(dq, bits, reset=reset), want,
                                          err_msg=f"bits={bits} reset={reset}")


def test_resetbits_blank_means_nothing():
    assert resolve_parameters(resetbits="").resetbits == 0
    assert resolve_parameters(resetbits=None).resetbits == 0
    assert resolve_parameters(resetbits="4096,8192").resetbits == 12288
    assert resolve_parameters(final_bits=None).final_bits == ALL_FLAGS


def test_no_warnings_on_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_parameters()
    assert isinstance(resolve_parameters(), Parameters)
