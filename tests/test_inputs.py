"""Input specifications: comma lists, wildcards, @lists with IVM files, association tables."""

import os

import pytest

from gpudrizzle.inputs import OutputName, expand_input, output_name, read_asn_table, rootname_of
from hstdata import write_asn


def _touch(directory, *names):
    paths = []
    for n in names:
        p = directory / n
        p.write_bytes(b"")
        paths.append(str(p))
    return paths


def test_comma_string_is_sorted_and_list_order_kept(tmp_path):
    a, b = _touch(tmp_path, "ja1_flt.fits", "jb2_flt.fits")
    got = expand_input(f"{b}, {a}")
    assert got.files == (a, b)
    assert got.ivm_files == (None, None)
    assert expand_input([b, a]).files == (b, a)
    assert got.output == OutputName("final", "drz")


def test_wildcards(tmp_path):
    names = _touch(tmp_path, "jc3_flt.fits", "ja1_flt.fits", "jb2_flt.fits", "other_raw.fits")
    got = expand_input(str(tmp_path / "*_flt.fits"))
    assert got.files == tuple(sorted(names[:3]))
    with pytest.raises(FileNotFoundError, match=r"no input file matches .*\*_flc.fits"):
        expand_input(str(tmp_path / "*_flc.fits"))


def test_single_input_output_is_its_rootname(tmp_path):
    (f,) = _touch(tmp_path, "j8bt06nyq_flt.fits")
    assert expand_input(f).output == OutputName(str(tmp_path / "j8bt06nyq"), "drz")
    (g,) = _touch(tmp_path, "j8bt07nyq_flc.fits")
    assert expand_input(g).output == OutputName(str(tmp_path / "j8bt07nyq"), "drc")


@pytest.mark.parametrize("output, files, expected", [
    ("", ["a_flt.fits", "b_flt.fits"], ("final", "drz")),
    ("", ["a_flc.fits", "b_flc.fits"], ("final", "drc")),
    ("mine", ["a_flt.fits", "b_flt.fits"], ("mine", "drz")),
    ("mine", ["a_flc.fits"], ("mine", "drc")),
    ("mine_drz.fits", ["a_flc.fits"], ("mine", "drz")),
    ("mine_drc", ["a_flt.fits"], ("mine", "drc")),
    ("out/mine.fits", ["a_flc.fits"], ("out/mine", "drc")),
    ("None", ["a_flt.fits"], ("a", "drz")),
])
def test_output_names(output, files, expected):
    assert output_name(output, files) == expected


def test_product_names():
    name = OutputName("final", "drz")
    assert name.product() == "final_drz.fits"
    assert name.product("sci") == "final_drz_sci.fits"


def test_rootname_of():
    assert rootname_of("/d/j8bt06nyq_flt.fits") == "/d/j8bt06nyq"
    assert rootname_of("image.fits") == "image"
    assert rootname_of("noext") == "noext"


def test_atfile_with_ivm_column(tmp_path, monkeypatch):
    sci = _touch(tmp_path, "ja1_flt.fits", "jb2_flt.fits")
    _touch(tmp_path, "ja1_ivm.fits", "jb2_ivm.fits")
    listing = tmp_path / "inputs.lst"
    listing.write_text("# science  ivm\njb2_flt.fits jb2_ivm.fits\n\nja1_flt.fits   ja1_ivm.fits\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # names are found beside the list when not in the cwd
    got = expand_input(f"@{listing}")
    assert got.files == (sci[1], sci[0])  # list order kept
    assert got.ivm_files == (str(tmp_path / "jb2_ivm.fits"), str(tmp_path / "ja1_ivm.fits"))
    assert got.output == OutputName("final", "drz")
    monkeypatch.chdir(tmp_path)  # drizzlepac's rule: relative to the current directory
    got = expand_input("@inputs.lst")
    assert got.files == ("jb2_flt.fits", "ja1_flt.fits")


def test_atfile_without_ivm_allows_wildcards(tmp_path):
    names = _touch(tmp_path, "ja1_flt.fits", "jb2_flt.fits")
    listing = tmp_path / "l.txt"
    listing.write_text(f"{tmp_path}/j*_flt.fits\n")
    got = expand_input(f"@{listing}")
    assert got.files == tuple(names) and got.ivm_files == (None, None)


@pytest.mark.parametrize("body, error, pattern", [
    ("ja1_flt.fits ja1_ivm.fits\njb2_flt.fits\n", ValueError, "every line or no line"),
    ("ja1_flt.fits a b\n", ValueError, "line 1"),
    ("missing_flt.fits\n", FileNotFoundError, r"missing_flt.fits \(listed in .*l.txt line 1\)"),
    ("ja1_flt.fits nothere_ivm.fits\n", FileNotFoundError, "IVM file not found.*nothere_ivm.fits"),
    ("\n# nothing\n", ValueError, "lists no input files"),
])
def test_bad_atfiles(tmp_path, body, error, pattern):
    _touch(tmp_path, "ja1_flt.fits", "jb2_flt.fits")
    listing = tmp_path / "l.txt"
    listing.write_text(body)
    with pytest.raises(error, match=pattern):
        expand_input(f"@{listing}")


def test_missing_atfile(tmp_path):
    with pytest.raises(FileNotFoundError, match="@list file not found.*nolist.txt"):
        expand_input(f"@{tmp_path}/nolist.txt")


def test_association_table(tmp_path):
    files = _touch(tmp_path, "j9dz01abq_flt.fits", "j9dz01acq_flt.fits", "j9dz01adq_flt.fits")
    asn = write_asn(tmp_path, "j9dz01010", ["j9dz01acq", "j9dz01abq", "j9dz01adq"], "j9dz01011",
                    present=[True, True, False])
    members, product, dupcheck = read_asn_table(asn)
    assert members == ["j9dz01acq", "j9dz01abq"] and product == "j9dz01011" and dupcheck
    got = expand_input(asn)
    assert got.files == (files[1], files[0])  # table order, absent member dropped
    assert got.output == OutputName("j9dz01011", "drz")
    assert got.asn_tables == (asn,)
    assert expand_input(asn, output="mine").output == OutputName("mine", "drz")


def test_association_with_flc_members(tmp_path):
    _touch(tmp_path, "j9dz01abq_flc.fits")
    asn = write_asn(tmp_path, "j9dz01010", ["j9dz01abq"], "j9dz01011")
    got = expand_input(asn)
    assert got.files == (str(tmp_path / "j9dz01abq_flc.fits"),)
    assert got.output == OutputName("j9dz01011", "drc")


def test_association_duplicates(tmp_path):
    _touch(tmp_path, "j9dz01abq_flt.fits", "j9dz01abq_flc.fits")
    asn = write_asn(tmp_path, "j9dz01010", ["j9dz01abq"], "j9dz01011")
    with pytest.raises(ValueError, match="both .*_flt.fits and .*_flc.fits"):
        expand_input(asn)
    asn2 = write_asn(tmp_path, "j9dz02010", ["j9dz01abq"], "j9dz02011", dupcheck="COMPLETE")
    assert expand_input(asn2).files == (str(tmp_path / "j9dz01abq_flt.fits"),)


def test_association_missing_member(tmp_path):
    _touch(tmp_path, "j9dz01abq_flt.fits")
    asn = write_asn(tmp_path, "j9dz01010", ["j9dz01abq", "j9dz01xxq"], "j9dz01011")
    with pytest.raises(FileNotFoundError, match="member 'j9dz01xxq'"):
        expand_input(asn)


def test_association_without_member_columns(tmp_path):
    from astropy.io import fits
    import numpy as np

    path = tmp_path / "bad_asn.fits"
    cols = fits.ColDefs([fits.Column("NAME", "10A", array=np.array(["x"]))])
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    with pytest.raises(ValueError, match="MEMNAME/MEMTYPE"):
        expand_input(str(path))


def test_missing_and_duplicate_inputs(tmp_path):
    (a,) = _touch(tmp_path, "ja1_flt.fits")
    with pytest.raises(FileNotFoundError, match="input file not found: .*nothere_flt.fits"):
        expand_input([a, str(tmp_path / "nothere_flt.fits")])
    with pytest.raises(ValueError, match="more than once"):
        expand_input(f"{a},{a}")
    with pytest.raises(ValueError, match="names no files"):
        expand_input(" , ")
    with pytest.raises(TypeError):
        expand_input([a, 3])
    with pytest.raises(TypeError):
        expand_input(None)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_input(tmp_path):
    (a,) = _touch(tmp_path, "ja1_flt.fits")
    os.chmod(a, 0)
    try:
        with pytest.raises(PermissionError, match="not readable: .*ja1_flt.fits"):
            expand_input(a)
    finally:
        os.chmod(a, 0o644)
