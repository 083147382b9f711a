"""drizzlepac .cfg files load as they are."""

from pathlib import Path

import pytest

import gpudrizzle.util
from gpudrizzle.config import build_configobj, read_config_values
from gpudrizzle.params import DEFAULTS, PARAMETERS, custom_wcs_parameters, resolve_parameters

CFG = Path(__file__).parent / "data" / "astrodrizzle_custom.cfg"


def test_util_reexports_build_configobj():
    assert gpudrizzle.util.build_configobj is build_configobj


def test_full_cfg_loads_with_its_values():
    p = build_configobj(CFG)
    assert p.output == "m31_field" and p.build is True and p.clean is True
    assert p.skymethod == "globalmin+match" and p.skystat == "mode"
    assert p.skylower == -100.0 and p.skyupper is None
    assert p.sky_bits == ~4096
    assert p.driz_sep_bits == 96          # unquoted comma list
    assert p.final_bits == 96             # quoted
    assert p.combine_type == "median" and p.combine_nsigma == (5.0, 4.0) and p.combine_nhigh == 1
    assert p.blot_interp == "poly3"
    assert p.driz_cr_snr == (3.0, 2.5)
    assert p.final_wht_type == "IVM" and p.final_pixfrac == 0.8
    assert p.final_wcs is True and p.final_rot == 0.0 and p.final_scale == 0.04
    assert custom_wcs_parameters(p, "final")["scale"] == 0.04
    # driz_sep_rot is in the file but driz_sep_wcs is False: not in force (drizzlepac)
    assert p.driz_sep_rot == 12.5 and p.driz_sep_wcs is False
    assert custom_wcs_parameters(p, "driz_sep")["rot"] is None
    assert p.user_set == frozenset()
    # every parameter present; the file's non-parameters (_task_name_, rules) are not
    assert set(p) == set(PARAMETERS)


def test_every_parameter_of_the_file_is_known():
    values = read_config_values(CFG)
    assert set(values) - set(PARAMETERS) == {"rules_file", "driz_sep_compress"}
    assert values["driz_sep_bits"] == "64,32"
    assert values["exptime"] == ""


def test_keywords_override_the_file():
    p = resolve_parameters({"final_kernel": "point", "final_bits": 0}, base=build_configobj(CFG))
    assert p.final_kernel == "point" and p.final_bits == 0
    assert p.combine_type == "median"
    assert p.user_set == {"final_kernel", "final_bits"}


def test_partial_file_keeps_defaults(tmp_path):
    cfg = tmp_path / "small.cfg"
    cfg.write_text("[STEP 7: DRIZZLE FINAL COMBINED IMAGE]\nfinal_kernel = point\n")
    p = build_configobj(cfg)
    assert p.final_kernel == "point"
    assert {k: v for k, v in p.items() if k != "final_kernel"} == \
        {k: v for k, v in DEFAULTS.items() if k != "final_kernel"}


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.cfg"):
        build_configobj(tmp_path / "nothere.cfg")


def test_other_task(tmp_path):
    cfg = tmp_path / "tweak.cfg"
    cfg.write_text("_task_name_ = tweakreg\ninput = '*flt.fits'\n")
    with pytest.raises(ValueError, match="tweakreg"):
        build_configobj(cfg)


@pytest.mark.parametrize("body, pattern", [
    ("final_kernal = square\n", r"bad.cfg: unknown parameter 'final_kernal'.*'final_kernel'"),
    ("[STEP 7: X]\nfinal_pixfrac = big\n", r"bad.cfg: 'final_pixfrac'.*'big'"),
    ("mdriztab = True\n", r"bad.cfg: 'mdriztab'='True' is not supported"),
    ("build = True\n[STATE OF INPUT FILES]\nbuild = False\n", r"'build' appears twice"),
    ("[unclosed\nbuild = True\n", r"not a valid configuration file"),
])
def test_bad_files(tmp_path, body, pattern):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(body)
    with pytest.raises(ValueError, match=pattern):
        build_configobj(cfg)


def test_inert_unsupported_entries_are_accepted(tmp_path):
    cfg = tmp_path / "old.cfg"
    cfg.write_text("mdriztab = False\nrules_file = ''\n[STEP 3: DRIZZLE SEPARATE IMAGES]\n"
                   "driz_sep_compress = False\n")
    p = build_configobj(cfg)
    assert "mdriztab" not in p and "rules_file" not in p
