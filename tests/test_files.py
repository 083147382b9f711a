"""files.check_updatable and files.patch_writer: the in-place update of existing files."""

import bz2
import gzip
import lzma
import os
import stat

import pytest

from gpudrizzle import files


def _file(tmp_path, rng, name="a.fits", size=5760):
    path = tmp_path / name
    path.write_bytes(rng.integers(0, 256, size, dtype="u1").tobytes())
    return path


def test_check_updatable_accepts_a_plain_file(tmp_path, rng):
    path = _file(tmp_path, rng)
    before = path.read_bytes()
    assert files.check_updatable(str(path), what="headers") is None
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.fits"]


@pytest.mark.parametrize("what, head", [("headers", "cannot update the headers of "),
                                        (None, "cannot update ")])
def test_check_updatable_missing_and_directory(tmp_path, what, head):
    missing = str(tmp_path / "nothere.fits")
    with pytest.raises(FileNotFoundError) as info:
        files.check_updatable(missing, what=what)
    assert str(info.value) == f"{head}{missing}: no such file"
    with pytest.raises(IsADirectoryError) as info:
        files.check_updatable(str(tmp_path), what=what)
    assert str(info.value) == f"{head}{tmp_path}: not a file"


def test_check_updatable_read_only_file(tmp_path, rng):
    path = _file(tmp_path, rng)
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    try:
        with pytest.raises(PermissionError) as info:
            files.check_updatable(path, what="DQ arrays")
    finally:
        os.chmod(path, 0o644)
    assert str(info.value) == f"cannot update the DQ arrays of {path}: the file is read-only"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into any directory")
def test_check_updatable_read_only_directory(tmp_path, rng):
    sub = tmp_path / "ro"
    sub.mkdir()
    path = _file(sub, rng)
    os.chmod(sub, 0o555)
    try:
        with pytest.raises(PermissionError, match=r"of .*ro/a.fits: its directory does not "
                                                  "accept new files"):
            files.check_updatable(path, what="headers")
    finally:
        os.chmod(sub, 0o755)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_check_updatable_compressed(tmp_path, rng, compress):
    path = tmp_path / "x.fits.z"
    path.write_bytes(compress(rng.integers(0, 256, 3000, dtype="u1").tobytes()))
    with pytest.raises(ValueError, match=r"cannot update the headers of .*x.fits.z: it is "
                                         "compressed; decompress it first"):
        files.check_updatable(path, what="headers")


def test_patch_writer_copies_and_patches(tmp_path, rng):
    path = _file(tmp_path, rng)
    os.chmod(path, 0o640)
    before = path.read_bytes()
    offsets = sorted(rng.choice(len(before) - 16, 3, replace=False).tolist())
    patches = [(int(o), rng.integers(0, 256, 8, dtype="u1").tobytes()) for o in offsets]
    patches.append((len(before) - 4, b"\x00\x01\x02\x03"))  # up to the last byte
    write = files.patch_writer(str(path), patches)
    target = tmp_path / "out.fits"
    target.write_bytes(b"poison")
    os.chmod(target, 0o600)
    write(str(target))
    expected = bytearray(before)
    for o, data in patches:
        expected[o:o + len(data)] = data
    assert target.read_bytes() == bytes(expected)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert path.read_bytes() == before


@pytest.mark.parametrize("offset, length", [(-1, 4), (5757, 4), (5760, 1)])
def test_patch_writer_refuses_patches_outside(tmp_path, rng, offset, length):
    path = _file(tmp_path, rng)
    with pytest.raises(ValueError, match=rf"patch of {length} bytes at {offset} lies outside "
                                         r".*a.fits \(5760 bytes\)"):
        files.patch_writer(str(path), [(0, b"ok"), (offset, b"x" * length)])


def test_patch_writer_refuses_a_file_that_changed_size(tmp_path, rng):
    path = _file(tmp_path, rng)
    write = files.patch_writer(str(path), [(10, b"abc")])
    with open(path, "ab") as f:
        f.write(b"more")
    with pytest.raises(OSError, match="changed size"):
        write(str(tmp_path / "out.fits"))


def test_patch_writer_through_write_together_all_or_nothing(tmp_path, rng):
    a, b = _file(tmp_path, rng, "a.fits"), _file(tmp_path, rng, "b.fits")
    before = {p: p.read_bytes() for p in (a, b)}
    writers = {str(a): files.patch_writer(str(a), [(0, b"NEW")])}

    def failing(tmp):
        raise OSError("cannot write")
    writers[str(b)] = failing
    with pytest.raises(OSError, match="cannot write"):
        files.write_together(writers, kind="input file")
    assert {p: p.read_bytes() for p in (a, b)} == before
    assert sorted(os.listdir(tmp_path)) == ["a.fits", "b.fits"]
    files.write_together({str(a): files.patch_writer(str(a), [(1, b"NEW")])})
    assert a.read_bytes() == before[a][:1] + b"NEW" + before[a][4:]
