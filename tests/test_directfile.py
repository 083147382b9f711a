"""files.DirectFile: large files written past the page cache, the same bytes whatever the path.

Each test writes fresh random bytes in pieces of random sizes (so the chunk boundaries fall
anywhere) and compares the file with the bytes, with O_DIRECT where this file system has it,
without it, and through every fallback.
"""

import errno
import os
import sys

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import files, products


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 16 KiB so that a file of a few hundred KiB crosses many of them."""
    monkeypatch.setattr(files, "DIRECT_CHUNK", 4 * files.DIRECT_ALIGN)
    return files.DIRECT_CHUNK


@pytest.fixture
def local_disk(monkeypatch):
    """Whatever holds tmp_path counts as a local disk (ext4), so that O_DIRECT is tried."""
    monkeypatch.setattr(files, "file_system_type", lambda path: 0xEF53)


def _pieces(rng, total):
    """``total`` random bytes cut into pieces of random sizes (some empty, some > a chunk)."""
    data = rng.integers(0, 256, total, dtype=np.uint8).tobytes()
    cuts = np.sort(rng.integers(0, total + 1, 40))
    edges = [0, *cuts.tolist(), total]
    return data, [data[a:b] for a, b in zip(edges[:-1], edges[1:])]


def _write(path, pieces):
    path.write_bytes(b"")  # DirectFile writes an existing file, as files.Temporary makes it
    with files.DirectFile(str(path)) as f:
        for p in pieces:
            assert f.write(p) == memoryview(p).nbytes
    return path.read_bytes()


@pytest.mark.parametrize("extra", [0, 1, files.DIRECT_ALIGN - 1, files.DIRECT_ALIGN, 12345])
def test_bytes_are_the_bytes_written(tmp_path, rng, small_chunks, extra):
    total = 7 * small_chunks + extra
    data, pieces = _pieces(rng, total)
    assert _write(tmp_path / "a.bin", pieces) == data


def test_numpy_views_and_empty_file(tmp_path, rng, small_chunks):
    a = rng.random((123, 77)).astype(">f4")
    assert _write(tmp_path / "a.bin", [a.data, memoryview(a.tobytes())]) == a.tobytes() * 2
    assert _write(tmp_path / "b.bin", []) == b""


def test_without_o_direct(tmp_path, rng, small_chunks, monkeypatch):
    """A system without O_DIRECT (macOS, Windows): the ordinary way, the same bytes."""
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    data, pieces = _pieces(rng, 5 * small_chunks + 999)
    assert _write(tmp_path / "a.bin", pieces) == data


def test_file_system_type_is_the_statfs_magic_number(tmp_path):
    """The number stat(1) prints for the file system of tmp_path (Linux)."""
    import shutil
    import subprocess

    if shutil.which("stat") is None or sys.platform != "linux":
        pytest.skip("needs Linux and stat(1)")
    out = subprocess.run(["stat", "-f", "-c", "%t", str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    assert files.file_system_type(str(tmp_path)) == int(out, 16)
    assert files.file_system_type(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("magic", [0x6969, 0x0BD00BD0, 0x47504653, 0x01021994, None])
def test_off_a_local_disk_the_ordinary_way(tmp_path, rng, small_chunks, monkeypatch, magic):
    """NFS, Lustre, GPFS, tmpfs or an unknown file system: no O_DIRECT, the same bytes."""
    monkeypatch.setattr(files, "file_system_type", lambda path: magic)
    real_open, flags_seen = os.open, []

    def record(path, flags, *args):
        flags_seen.append(flags)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", record)
    data, pieces = _pieces(rng, 3 * small_chunks + 77)
    assert _write(tmp_path / "a.bin", pieces) == data
    assert len(flags_seen) == 1 and not flags_seen[0] & getattr(os, "O_DIRECT", 0)


def test_file_system_refusing_o_direct_at_open(tmp_path, rng, small_chunks, monkeypatch,
                                               local_disk):
    """EINVAL for O_DIRECT at open (tmpfs): the ordinary way."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("this system has no O_DIRECT")
    real_open, flags_seen = os.open, []

    def no_direct(path, flags, *args):
        flags_seen.append(flags)
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_direct)
    data, pieces = _pieces(rng, 3 * small_chunks + 17)
    assert _write(tmp_path / "a.bin", pieces) == data
    assert [bool(f & os.O_DIRECT) for f in flags_seen] == [True, False]


def test_file_system_refusing_an_aligned_write(tmp_path, rng, small_chunks, monkeypatch,
                                               local_disk):
    """EINVAL at the first direct write: O_DIRECT is switched off and the chunk written again."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("this system has no O_DIRECT")
    import fcntl

    real_write, calls = os.write, []

    def refuse_direct(fd, data):
        direct = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
        calls.append(direct)
        if direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", refuse_direct)
    data, pieces = _pieces(rng, 6 * small_chunks + 4321)
    assert _write(tmp_path / "a.bin", pieces) == data
    assert calls[0] is True and not any(calls[1:])


def test_direct_writes_whole_aligned_chunks(tmp_path, rng, small_chunks, monkeypatch, local_disk):
    """Where O_DIRECT is used, every direct write is a whole chunk from an aligned buffer;
    only the tail goes the ordinary way."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.close(os.open(str(probe), os.O_WRONLY | os.O_DIRECT))
    except (AttributeError, OSError):
        pytest.skip("no O_DIRECT on this file system")
    import ctypes
    import fcntl

    real_write, seen = os.write, []

    def record(fd, data):
        view = memoryview(data)
        address = ctypes.addressof(ctypes.c_char.from_buffer(view)) if len(view) else 0
        seen.append((bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT), len(view), address))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", record)
    data, pieces = _pieces(rng, 5 * small_chunks + 1000)
    assert _write(tmp_path / "a.bin", pieces) == data
    direct = [(n, a) for d, n, a in seen if d]
    assert len(direct) == 5 and all(n == small_chunks and a % files.DIRECT_ALIGN == 0
                                    for n, a in direct)
    assert [(d, n) for d, n, _ in seen[5:]] == [(False, 1000)]


def _disk_full_at(monkeypatch, call, short_at=None):
    """os.write that fails with ENOSPC at its ``call``-th call (1-based) and writes only
    DIRECT_ALIGN bytes at its ``short_at``-th; returns the list of the lengths asked."""
    real_write, calls = os.write, []

    def write(fd, data):
        calls.append(len(data))
        if len(calls) == short_at:
            return real_write(fd, memoryview(data)[:files.DIRECT_ALIGN])
        if len(calls) == call:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return calls


def test_full_disk_through_writing(tmp_path, rng, small_chunks, monkeypatch):
    """ENOSPC in the middle: 'No space left on device while writing <path>', no temporary
    file, the earlier file as it was, nothing written after the failure."""
    target = tmp_path / "x.fits"
    target.write_bytes(b"before")
    calls = _disk_full_at(monkeypatch, 3)
    _, pieces = _pieces(rng, 6 * small_chunks)
    with pytest.raises(OSError, match=f"No space left on device while writing {target}"):
        with files.writing(str(target)) as tmp:
            with files.DirectFile(tmp) as f:
                for p in pieces:
                    f.write(p)
    assert len(calls) == 3
    assert target.read_bytes() == b"before" and os.listdir(tmp_path) == ["x.fits"]


def test_closed_file_refuses_writes_and_closes_once(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"")
    f = files.DirectFile(str(path))
    f.write(b"abc")
    f.close()
    f.close()
    with pytest.raises(ValueError, match="closed file"):
        f.write(b"x")
    assert path.read_bytes() == b"abc"


def test_missing_file_is_an_error_naming_it(tmp_path):
    path = str(tmp_path / "nothere" / "a.bin")
    with pytest.raises(FileNotFoundError, match="nothere"):
        files.DirectFile(path)


def test_a_failed_write_is_not_followed_by_more(tmp_path, rng, small_chunks, monkeypatch):
    """After a short write and then ENOSPC, a caller that goes on gets the failure again
    from every write and from close, and nothing more reaches the file."""
    path = tmp_path / "a.bin"
    path.write_bytes(b"")
    calls = _disk_full_at(monkeypatch, 3, short_at=2)
    data, _ = _pieces(rng, 3 * small_chunks)
    f = files.DirectFile(str(path))
    with pytest.raises(OSError, match="No space left"):
        f.write(data)
    with pytest.raises(OSError, match="earlier write .* failed .*incomplete") as info:
        f.write(b"more")
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="incomplete"):
        f.close()
    f.close()  # closed now: nothing
    assert len(calls) == 3
    assert path.read_bytes() == data[:small_chunks + files.DIRECT_ALIGN]


def test_forked_children_write_their_own_bytes(tmp_path, small_chunks):
    """The staging buffer a thread keeps between files is private: children forked after
    the parent wrote a file fill it at the same time, each file gets its own bytes."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this system")
    _write(tmp_path / "parent.bin", [b"p" * 1000])  # the parent's thread now keeps a buffer
    half = small_chunks // 2
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    children = []
    for value in (1, 2, 3):
        pid = os.fork()
        if pid == 0:  # child: half a chunk, wait until every child has its half, the rest
            status = 1
            try:
                path = tmp_path / f"child{value}.bin"
                path.write_bytes(b"")
                with files.DirectFile(str(path)) as f:
                    f.write(bytes([value]) * half)
                    os.write(ready_w, b"x")
                    os.read(go_r, 1)
                    f.write(bytes([value]) * (3 * small_chunks - half))
                status = 0
            finally:
                os._exit(status)
        children.append(pid)
    for _ in children:
        os.read(ready_r, 1)
    os.write(go_w, b"xxx")
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    for value in (1, 2, 3):
        got = (tmp_path / f"child{value}.bin").read_bytes()
        assert got == bytes([value]) * (3 * small_chunks), f"child {value}: {set(got)}"


@pytest.mark.parametrize("dtype", ["f4", "f8", "i2", "i4", "u1", ">f4", "u2", "i1"])
def test_write_image_bytes_are_astropys(tmp_path, rng, dtype):
    """Pipeline images through DirectFile (with real 8 MiB chunks: more than one) are the
    bytes astropy writes; types that need BZERO (u2, i1) go through astropy itself."""
    data = (rng.random((1100, 1031)) * 100).astype(dtype)  # 4.5 MB as f4, 9 MB as f8
    header = fits.Header([("BUNIT", "ELECTRONS/S"), ("HISTORY", "made for a test")])
    ours, theirs = tmp_path / "ours.fits", tmp_path / "theirs.fits"
    products.write_image(str(ours), data, header, True, durable=False)
    fits.HDUList([fits.PrimaryHDU(data=data, header=header)]).writeto(theirs)
    assert ours.read_bytes() == theirs.read_bytes()


def test_write_image_takes_what_astropy_takes(tmp_path):
    """A list is written as astropy writes it; a masked array is refused as astropy
    refuses it (its mask would be lost), and leaves no file."""
    header = fits.Header()
    ours, theirs = tmp_path / "ours.fits", tmp_path / "theirs.fits"
    products.write_image(str(ours), [[1.0, 2.0], [3.0, 4.5]], header, True, durable=False)
    fits.HDUList([fits.PrimaryHDU(data=[[1.0, 2.0], [3.0, 4.5]], header=header)]).writeto(theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    masked = np.ma.array(np.ones((3, 3), np.float32), mask=np.eye(3, dtype=bool))
    with pytest.raises(NotImplementedError):
        products.write_image(str(tmp_path / "m.fits"), masked, header, True, durable=False)
    assert sorted(os.listdir(tmp_path)) == ["ours.fits", "theirs.fits"]
