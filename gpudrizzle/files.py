"""Writing files: products, intermediates, logs, reports and moved files, one way.

Every file gpudrizzle writes is first written to a temporary file beside its
target and then published with a rename, so a reader never sees a partial
file and a failure leaves the target as it was:

* temporary names are ``.<name>.gd-<host>-<pid>-<token>.tmp``: hidden, next to
  the target, and naming the process that writes them.  A temporary file whose
  process is gone (killed with SIGKILL, a crashed node) is *stale*; the first
  time a process writes into a directory it removes the stale temporary files
  of its own host there (:func:`remove_stale`);
* every live temporary file is registered; :func:`handle_signals` turns
  SIGINT and SIGTERM into :class:`Interrupted`, and the registered files are
  removed when the program unwinds or exits (:func:`remove_live_temporaries`);
* publishing replaces the target (``overwrite=True``) or refuses to clobber
  it (``overwrite=False``: :func:`os.link`, so of two concurrent writers
  exactly one succeeds and the other gets :class:`FileExistsError`);
* products are flushed to the disk (``durable=True``: the file and its
  directory are fsync'ed) before they are published;
* files get the mode ``0o666 & ~umask``, as any program's new files do;
* a full disk is reported as ``No space left on device while writing
  <path>`` (:class:`OSError` with errno ENOSPC), whatever library wrote;
* image files on a local disk go past the page cache (:class:`DirectFile`:
  ``O_DIRECT``), the same bytes as an ordinary write.

:class:`LogFile` keeps a run's log the same way: written into a temporary
file during the run, published at the end even when the run fails.  A log
that cannot be written (full disk) is a warning, given once, not a failure
of the run.
"""

import atexit
import ctypes
import errno
import logging
import mmap
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
from contextlib import contextmanager

__all__ = ["Temporary", "DirectFile", "writing", "write_together", "write_text", "move",
           "check_target", "check_updatable", "patch_writer", "remove_stale",
           "remove_live_temporaries", "no_space_error", "LogFile", "Interrupted",
           "handle_signals"]

log = logging.getLogger("gpudrizzle")

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_STALE_NAME = re.compile(r"^\.(?P<target>.+)\.gd-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-"
                         r"[0-9a-f]{8}\.tmp$")
_NO_SPACE = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}
# what astropy says when it re-raises a full disk's error without its errno
_NO_SPACE_TEXT = ("No space left on device", "Not enough space on disk")
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}

_lock = threading.Lock()
_live = set()     # temporary files of this process not yet published or removed
_swept = set()    # directories whose stale temporary files this process removed


# ---------------------------------------------------------------------------
# stale and live temporary files


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale(directory):
    """Remove the temporary files in ``directory`` left by dead processes of this host.

    Parameters
    ----------
    directory : str

    Returns
    -------
    list of str
        The files removed.
    """
    removed = []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return removed
    for name in names:
        m = _STALE_NAME.match(name)
        if m is None or m["host"] != _HOST:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        path = os.path.join(directory, name)
        try:
            os.remove(path)
        except FileNotFoundError:  # another process removed it first
            continue
        except OSError as exc:
            log.warning("could not remove the stale temporary file %s: %s", path, exc.strerror)
            continue
        log.info("removed %s, left by process %d, which is gone", path, pid)
        removed.append(path)
    return removed


def _sweep_once(directory):
    key = os.path.abspath(directory)
    with _lock:
        if key in _swept:
            return
        _swept.add(key)
    remove_stale(directory)


def remove_live_temporaries():
    """Remove every temporary file of this process that is still unpublished (signals, exit)."""
    with _lock:
        paths = list(_live)
        _live.clear()
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass


atexit.register(remove_live_temporaries)


# ---------------------------------------------------------------------------
# errors


def _error(cls, code, message):
    """``cls(message)`` carrying ``errno`` ``code``; its text is the message alone."""
    exc = cls(message)
    exc.errno = code  # (a strerror too would turn its text into '[Errno n] strerror')
    return exc


def no_space_error(exc, target):
    """``exc`` as ``No space left on device while writing <target>`` when a full disk caused it.

    Parameters
    ----------
    exc : BaseException
        The error raised while writing (astropy re-raises disk errors without
        their errno; the original is then found among the chained errors).
    target : str
        The file being written (not its temporary file).

    Returns
    -------
    OSError or None
        None when ``exc`` is not about disk space.
    """
    seen, first = set(), exc
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return _error(OSError, exc.errno, f"{_NO_SPACE[exc.errno]} while writing {target}")
        if isinstance(exc, OSError) and any(m in str(exc) for m in _NO_SPACE_TEXT):
            return _error(OSError, errno.ENOSPC, f"No space left on device while writing {target}")
        exc = exc.__cause__ or exc.__context__
    if isinstance(first, OSError) and _disk_full(os.path.dirname(os.path.abspath(target))):
        return _error(OSError, errno.ENOSPC, f"No space left on device while writing {target}")
    return None


def _disk_full(directory):
    """True when the file system of ``directory`` has no block left for this user."""
    try:
        return os.statvfs(directory).f_bavail == 0
    except OSError:
        return False


def _rethrow(exc, target):
    """Raise ``exc`` turned into the full-disk message when that is its cause."""
    full = no_space_error(exc, target)
    if full is not None:
        raise full from None
    raise exc


def check_target(path, kind="file"):
    """OSError unless ``path`` could be created: its directory exists and it is not a directory.

    Parameters
    ----------
    path : str
    kind : str
        What the file is, for the message (``"product"``, ``"log file"``, ...).

    Raises
    ------
    IsADirectoryError, FileNotFoundError
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise _error(IsADirectoryError, errno.EISDIR, f"{kind} {path} is a directory; give a "
                     "file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise _error(FileNotFoundError, errno.ENOENT, f"the directory of the {kind} {path} "
                     "does not exist")


# ---------------------------------------------------------------------------
# temporary files


class Temporary:
    """A temporary file beside ``path``, published onto it or discarded.

    Created at once (an empty file, mode ``0o666 & ~umask``) and registered
    as live until :meth:`publish` or :meth:`discard`.

    Parameters
    ----------
    path : str
        The target.
    kind : str
        What the target is, for messages (``"product"``, ``"log file"``, ...).

    Attributes
    ----------
    target, path : str
        The target and the temporary file (absolute).

    Raises
    ------
    OSError
        The target is a directory, its directory does not exist or refuses
        new files; the message names the target.
    """

    def __init__(self, path, kind="file"):
        self.target = os.path.abspath(os.fspath(path))
        self.kind = kind
        check_target(path, kind)
        directory = os.path.dirname(self.target)
        _sweep_once(directory)
        prefix = f".{os.path.basename(self.target)}.gd-{_HOST}-{os.getpid()}-"
        while True:
            tmp = os.path.join(directory, f"{prefix}{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _error(type(exc), exc.errno, f"cannot write the {kind} {path}: "
                                                   f"{exc.strerror or exc}") from None
            os.close(fd)
            break
        self.path = tmp
        with _lock:
            _live.add(tmp)

    def publish(self, overwrite=True, durable=True):
        """Move the temporary file onto the target.

        Parameters
        ----------
        overwrite : bool
            Replace an existing target; else :class:`FileExistsError` (the
            check and the creation are one step, safe against a concurrent
            writer).
        durable : bool
            Flush the file and the directory entry to the disk first.

        Raises
        ------
        FileExistsError, IsADirectoryError, OSError
            The temporary file is removed.
        """
        try:
            if os.path.isdir(self.target):
                raise _error(IsADirectoryError, errno.EISDIR, f"{self.kind} {self.target} is a "
                                                              "directory; give a file name")
            if durable:
                _fsync(self.path)
            if overwrite:
                os.replace(self.path, self.target)
            else:
                self._publish_new()
            if durable:
                _fsync(os.path.dirname(self.target), directory=True)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                _rethrow(exc, self.target)
            raise
        with _lock:
            _live.discard(self.path)
        return self.target

    def _publish_new(self):
        try:
            os.link(self.path, self.target)
        except FileExistsError:
            raise self._exists() from None
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            # no hard links on this file system: claim the name, then fill it
            try:
                os.close(os.open(self.target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            except FileExistsError:
                raise self._exists() from None
            try:
                os.replace(self.path, self.target)
            except BaseException:
                os.remove(self.target)  # the empty file that claimed the name
                raise
            return
        os.remove(self.path)

    def _exists(self):
        return _error(FileExistsError, errno.EEXIST, f"{self.kind} {self.target} exists; pass "
                                                     "overwrite=True to replace it")

    def discard(self):
        """Remove the temporary file (no error when it is gone already)."""
        with _lock:
            _live.discard(self.path)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


def _fsync(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems cannot sync a directory; the file is what counts
            raise
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# large files written past the page cache

#: Where ``os.O_DIRECT`` writes must start and how their lengths must be rounded
#: (the logical block of any common disk divides it), and the bytes gathered
#: before one such write.
DIRECT_ALIGN = 4096
DIRECT_CHUNK = 1 << 23

_stages = threading.local()  # per thread: a free staging buffer, reused file after file

#: File systems on a local disk (``statfs`` magic numbers: ext2/3/4, XFS, Btrfs, F2FS, and
#: overlayfs, which passes direct writes to the disk file system under a container) where
#: :class:`DirectFile` writes with ``O_DIRECT``.  Elsewhere it writes the ordinary way: on
#: a network file system (NFS, Lustre, GPFS, ...) direct writes skip the client's
#: write-behind and each becomes a request the writer waits for.
LOCAL_DISK_FILE_SYSTEMS = frozenset({0xEF53, 0x58465342, 0x9123683E, 0xF2F52010, 0x794C7630})


def file_system_type(path):
    """The ``statfs`` magic number of the file system holding ``path``, or None where it is
    not known (not Linux, whose ``struct statfs`` starts with ``f_type``; or the call
    failed)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        statfs = ctypes.CDLL(None, use_errno=True).statfs
    except (OSError, AttributeError):
        return None
    buf = ctypes.create_string_buffer(4096)  # struct statfs: 120 bytes on 64-bit Linux
    if statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def _take_stage():
    free = getattr(_stages, "free", None)
    _stages.free = None
    if free is None or len(free) != DIRECT_CHUNK:
        # page-aligned; private, so that a forked child writes its own copy
        private = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
        free = mmap.mmap(-1, DIRECT_CHUNK, **({"flags": private} if private else {}))
    return free


def _give_stage(stage):
    _stages.free = stage


class DirectFile:
    """Write-only binary file object writing a new file past the page cache.

    The bytes written are gathered in a page-aligned buffer and written to
    the file :data:`DIRECT_CHUNK` bytes at a time with ``O_DIRECT`` (Linux):
    the disk reads them from the buffer, so the data are not copied into
    cached pages first.  On a machine whose fresh memory is slow to touch (a
    virtual machine) that copy costs more CPU time than computing a product;
    the file's own pages are never read back by the run that writes it.
    The last partial chunk (a whole file under :data:`DIRECT_CHUNK`) is
    written normally.  Where the system has no ``O_DIRECT`` (macOS, Windows),
    the file is not on a local disk (:data:`LOCAL_DISK_FILE_SYSTEMS`) or the
    file system refuses it (EINVAL at open or at a write), the file is
    written the ordinary way; the bytes are the same either way.  After a
    failed write the file is incomplete: every later write, and closing with
    ``flush``, raises the failure again.

    Parameters
    ----------
    path : str
        An existing empty file (a :class:`Temporary`); it is truncated.

    Raises
    ------
    OSError
        The file cannot be opened or written (e.g. ENOSPC on a full disk).
    """

    def __init__(self, path):
        self.name = os.fspath(path)
        self._fd, self._failed, self._written = None, None, 0
        self._stage = _take_stage()
        self._view = memoryview(self._stage)
        self._chunk, self._fill = len(self._stage), 0
        flags = os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC
        self._direct = (hasattr(os, "O_DIRECT")
                        and file_system_type(self.name) in LOCAL_DISK_FILE_SYSTEMS)
        try:
            if self._direct:
                try:
                    self._fd = os.open(self.name, flags | os.O_DIRECT)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: no O_DIRECT on this file system
                        raise
                    self._direct = False
            if self._fd is None:
                self._fd = os.open(self.name, flags)
        except BaseException:
            self._release()
            raise

    def writable(self):
        return True

    def write(self, data):
        """Append ``data`` (bytes-like, contiguous); returns its length in bytes."""
        self._check()
        src = memoryview(data).cast("B")
        n, done = len(src), 0
        while done < n:
            k = min(n - done, self._chunk - self._fill)
            self._view[self._fill:self._fill + k] = src[done:done + k]
            self._fill += k
            done += k
            if self._fill == self._chunk:
                self._drain()
        return n

    def _check(self):
        if self._fd is None:
            raise ValueError(f"write to a closed file ({self.name})")
        if self._failed is not None:
            raise OSError(self._failed.errno, f"an earlier write to {self.name} failed "
                                              f"({self._failed.strerror or self._failed}); "
                                              "the file is incomplete")

    def _drain(self):
        """Write the buffer's ``_fill`` bytes (whole chunks: directly if possible)."""
        at = 0
        try:
            while at < self._fill:
                try:
                    k = os.write(self._fd, self._view[at:self._fill])
                except OSError as exc:
                    if not (self._direct and exc.errno == errno.EINVAL):
                        raise
                    self._buffered()  # O_DIRECT accepted at open, refused here
                    continue
                at += k
                self._written += k
        except BaseException as exc:
            self._failed = exc if isinstance(exc, OSError) else OSError(errno.EINTR, str(exc))
            raise
        self._fill = 0

    def _buffered(self):
        """Go on without O_DIRECT (the tail of a file, or a file system that refuses it):
        cleared on the open file, or else the file opened again without it."""
        if not self._direct:
            return
        self._direct = False
        try:
            import fcntl
            fcntl.fcntl(self._fd, fcntl.F_SETFL,
                        fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        except OSError:
            fd = os.open(self.name, os.O_WRONLY | os.O_CLOEXEC)
            os.close(self._fd)
            self._fd = fd
            os.lseek(fd, self._written, os.SEEK_SET)

    def close(self, flush=True):
        """Write what is left (unless ``flush`` is False: after a failure) and close the
        file; again: nothing."""
        if self._fd is None:
            return
        try:
            if flush:
                self._check()
                if self._fill:
                    self._buffered()
                    self._drain()
        finally:
            self._release()

    def _release(self):
        fd, self._fd = self._fd, None
        if self._stage is not None:
            self._view.release()
            _give_stage(self._stage)
            self._stage = None
        if fd is not None:
            os.close(fd)

    def __del__(self):  # never closed (an error before the with block): no descriptor kept
        if getattr(self, "_stage", None) is not None:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(flush=exc_type is None)


@contextmanager
def writing(path, overwrite=True, durable=True, kind="file"):
    """Context: the temporary file's name to write into; published when the block ends well.

    Parameters
    ----------
    path : str
        Target.
    overwrite, durable : bool
        See :meth:`Temporary.publish`.
    kind : str
        What the target is, for messages.

    Yields
    ------
    str
        The temporary file (exists, empty); write it by name.

    Raises
    ------
    OSError
        A full disk as ``No space left on device while writing <path>``; the
        temporary file is removed and the target left as it was.
    """
    tmp = Temporary(path, kind)
    try:
        yield tmp.path
    except OSError as exc:
        full = no_space_error(exc, tmp.target)  # before the space is given back
        tmp.discard()
        if full is not None:
            raise full from None
        raise
    except BaseException:
        tmp.discard()
        raise
    tmp.publish(overwrite=overwrite, durable=durable)


def write_together(writers, overwrite=True, durable=True, kind="file"):
    """Write several files, publishing them only once every one is written.

    Parameters
    ----------
    writers : dict
        Target path -> ``write(tmp)``, which writes the file named ``tmp``.
    overwrite, durable : bool
        See :meth:`Temporary.publish`.  With ``overwrite=False`` a target
        found to exist at publication undoes the ones this call published.
        With ``overwrite=True`` the targets are replaced one after the other
        once all are written: a failure while publishing (rare: every file
        is complete by then) can leave the ones published before it new and
        the others old.
    kind : str
        What the targets are, for messages.

    Returns
    -------
    list of str
        The targets, in the order of ``writers``.
    """
    temporaries = []
    try:
        for path, write in writers.items():
            tmp = Temporary(path, kind)
            temporaries.append(tmp)
            try:
                write(tmp.path)
            except OSError as exc:
                full = no_space_error(exc, tmp.target)  # before the space is given back
                if full is not None:
                    raise full from None
                raise
    except BaseException:
        for tmp in temporaries:
            tmp.discard()
        raise
    published = []
    try:
        for tmp in temporaries:
            tmp.publish(overwrite=overwrite, durable=durable)
            published.append(tmp.target)
    except BaseException:
        for tmp in temporaries:
            tmp.discard()
        if not overwrite:  # the files this call created, which did not exist before it
            for target in published:
                os.remove(target)
        raise
    return [os.fspath(p) for p in writers]


def write_text(path, text, overwrite=True, durable=True, kind="file"):
    """Write ``text`` (UTF-8) to ``path`` through a temporary file; return ``path``."""
    with writing(path, overwrite, durable, kind) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return os.fspath(path)


def check_updatable(path, what=None):
    """OSError/ValueError unless ``path`` can be updated through a temporary copy beside it.

    The check made before an existing file is rewritten in place (header
    updates, reset flags, rescaled data), so that nothing is started on a
    file that cannot be replaced.

    Parameters
    ----------
    path : str
        The file to update.
    what : str, optional
        What the update changes, for the messages (``"headers"``,
        ``"DQ arrays"``): ``cannot update the <what> of <path>: <reason>``;
        None: ``cannot update <path>: <reason>``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        ``path`` does not exist or is not a regular file.
    PermissionError
        The file is read-only or its directory does not accept new files.
    ValueError
        The file is compressed (gzip, bzip2, xz).
    """
    path = os.fspath(path)
    head = f"cannot update {path}" if what is None else f"cannot update the {what} of {path}"
    if not os.path.exists(path):
        raise _error(FileNotFoundError, errno.ENOENT, f"{head}: no such file")
    if not os.path.isfile(path):
        raise _error(IsADirectoryError, errno.EISDIR, f"{head}: not a file")
    # a file without any write permission bit is read-only for everyone here, root included
    if not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222:
        raise _error(PermissionError, errno.EACCES, f"{head}: the file is read-only")
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        raise _error(PermissionError, errno.EACCES, f"{head}: its directory does not accept "
                     "new files (the update goes through a temporary copy)")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00":
        raise ValueError(f"{head}: it is compressed; decompress it first (only uncompressed "
                         "files are updated)")


def patch_writer(path, patches):
    """``write(tmp)`` for :func:`write_together`: a copy of ``path`` with bytes written over.

    Parameters
    ----------
    path : str
        The original file.
    patches : list of (int, bytes)
        Byte offset and the bytes written there over the original's; each
        lies within the file (its size does not change).

    Returns
    -------
    callable
        ``write(tmp)`` copies ``path`` into ``tmp`` (its permission bits
        too) and writes the patches into the copy.

    Raises
    ------
    ValueError
        A patch reaching outside the file (raised here, before any writing).
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    for offset, data in patches:
        if offset < 0 or offset + len(data) > size:
            raise ValueError(f"patch of {len(data)} bytes at {offset} lies outside {path} "
                             f"({size} bytes)")

    def write(tmp):
        if os.path.getsize(path) != size:
            raise OSError(f"{path} changed size while being updated")
        shutil.copyfile(path, tmp)
        shutil.copymode(path, tmp)
        with open(tmp, "r+b") as f:
            for offset, data in patches:
                f.seek(offset)
                f.write(data)

    return write


def move(src, dst, kind="file"):
    """Move ``src`` onto ``dst`` (replacing it); across file systems through a temporary file."""
    try:
        os.replace(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            _rethrow(exc, dst)
    with writing(dst, overwrite=True, durable=True, kind=kind) as tmp:
        shutil.copy2(src, tmp)
    os.remove(src)


# ---------------------------------------------------------------------------
# logs


class _LogHandler(logging.FileHandler):
    """A file handler that reports its first failure once and then stays quiet."""

    def __init__(self, path, owner):
        super().__init__(path, mode="a", encoding="utf-8")
        self.owner = owner

    def emit(self, record):
        if self.owner.error is None:
            super().emit(record)

    def handleError(self, record):
        self.owner.failed(sys.exc_info()[1])


class LogFile:
    """A log written into a temporary file beside ``path``, published when the context ends.

    Published also when the block fails (the log tells why).  When the log
    cannot be written (a full disk), one warning says so, logging to it
    stops, its temporary file is removed and the old file at ``path`` (if
    any) is left as it was; the work goes on.

    Parameters
    ----------
    path : str
    logger : logging.Logger
        Logger whose records are written.
    level : int
        Lowest level written; the logger is lowered to it for the block.
    fmt : str
        :class:`logging.Formatter` format.
    append : bool
        Start from the existing file's text (a trailer), else from nothing.
    kind : str
        What the file is, for messages (``"log file"``, ``"trailer"``).

    Raises
    ------
    OSError
        On entry: ``path`` is a directory, its directory does not exist or
        refuses new files.
    """

    def __init__(self, path, logger, level, fmt, append=False, kind="log file"):
        self.target = os.fspath(path)
        self.logger, self.level, self.fmt = logger, level, fmt
        self.append, self.kind = append, kind
        self.error = None
        self._tmp = self._handler = self._old_level = None

    def __enter__(self):
        self._tmp = Temporary(self.target, self.kind)
        self._handler = _LogHandler(self._tmp.path, self)
        self._handler.setFormatter(logging.Formatter(self.fmt))
        self._handler.setLevel(self.level)
        if self.append and os.path.isfile(self.target):
            try:
                shutil.copyfile(self.target, self._tmp.path)
            except OSError as exc:
                self.failed(exc)
        self._old_level = self.logger.level
        self.logger.addHandler(self._handler)
        if self.logger.getEffectiveLevel() > self.level:
            self.logger.setLevel(self.level)
        return self

    def note(self, level, message):
        """Write one record to this log only (not to the logger's other handlers).

        For what the caller reports elsewhere itself, e.g. the error that
        ends a run, which a command line prints as its own last line.
        """
        if self._handler is None or self._handler not in self.logger.handlers:
            raise RuntimeError("LogFile.note() outside its 'with' block")
        record = self.logger.makeRecord(self.logger.name, level, __file__, 0, message, (), None)
        self._handler.handle(record)

    def failed(self, exc):
        """The log cannot be written: warn once, stop writing it."""
        if self.error is not None:
            return
        self.error = exc if exc is not None else OSError("write failed")
        full = no_space_error(self.error, self.target)
        code = getattr(full or self.error, "errno", None)
        reason = os.strerror(code) if code else str(self.error)
        log.warning("could not write the %s %s: %s; the run goes on without it", self.kind,
                    self.target, reason)

    def __exit__(self, exc_type, exc, tb):
        self.logger.removeHandler(self._handler)
        self.logger.setLevel(self._old_level)
        try:
            self._handler.close()
        except OSError as err:
            self.failed(err)
        if self.error is not None:
            self._tmp.discard()
            return False
        try:
            self._tmp.publish(overwrite=True, durable=False)
        except OSError as err:
            self.failed(err)
        return False


# ---------------------------------------------------------------------------
# signals


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (:func:`handle_signals`).

    Attributes
    ----------
    signum : int
    exit_status : int
        ``128 + signum`` (130, 143), as shells report a process ended by it.
    """

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_status = 128 + signum


@contextmanager
def handle_signals(signums=(signal.SIGINT, signal.SIGTERM)):
    """Context: SIGINT and SIGTERM raise :class:`Interrupted`; live temporary files removed after.

    Only in the main thread (elsewhere Python cannot install handlers and
    the block runs unchanged).  After the first signal the others are
    ignored until the block has unwound, so that the cleanup is not cut
    short; the previous handlers are then put back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.getsignal(s) for s in signums}
    try:
        for s in signums:
            signal.signal(s, on_signal)
        yield
    finally:
        # a signal during the cleanup must neither cut it short nor skip the restore
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        try:
            remove_live_temporaries()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
