"""``create_median``: AstroDrizzle's median step, combining single-drizzled images.

The combination rules are drizzlepac 3.11's (``createMedian``, ``minmed``
and stsci.image's ``numcombine``) with the same parameter names and
defaults; they are listed in the docstring of :func:`create_median` and at
the top of ``cuda_kernels/median.cu``.  The work runs on a backend in row
bands: each band of every input is copied (or, for a :class:`DiskImage`,
read from its file) into one stacked buffer, so peak memory is one band
times the number of inputs plus the output image, for any number of
inputs; on the host a band is capped in bytes, so that inputs read from
files (:class:`ScratchImages`) need about the same memory for any N.  What differs from drizzlepac, on purpose:

* a NaN input value is never used (drizzlepac would sort it);
* ``imedian`` / ``imean`` fill every pixel where all inputs are masked
  with the first non-zero input value (numcombine does it only in the
  first column of each row and leaves 0 elsewhere);
* ``minmed`` with one input returns that input where it is usable
  (drizzlepac raises);
* ``combine_lthresh`` / ``combine_hthresh`` are in the units of
  ``single_sci`` (drizzlepac rescales them by gain and exposure time of
  each image in turn, cumulatively);
* a ``combine_grow`` box larger than the image is allowed.
"""

import math

import numpy as np

from . import argcheck
from .backends import get_backend
from .choices import COMBINE_TYPES
from .files import Temporary, no_space_error
from .memory import available_bytes, copy_rows

__all__ = ["create_median", "weight_thresholds", "COMBINE_TYPES", "DiskImage", "ScratchImages"]


#: ImageStats' lower limit for the weight means (its clipmin, a float32).
WEIGHT_FLOOR = np.float32(1e-8)

# Band size when combine_bufsize is not given: at most this fraction of the
# available memory, and on a GPU at most _DEVICE_BAND_BYTES.  On the host a
# band of about _HOST_BAND_BYTES is combined while its rows are still in
# the cache they were copied through, with at least _HOST_MIN_ROWS rows so
# that per-band overheads and minmed's halo rows stay small (measured on a
# 2-core machine with a 32 MiB L3: 8 inputs fastest at 64-256 rows, 200
# inputs at 64-128).
_BAND_FRACTION = 0.25
_DEVICE_BAND_BYTES = 2 << 30
_HOST_BAND_BYTES = 16 << 20
_HOST_MIN_ROWS = 64
# ... but a host band of many inputs never exceeds _HOST_MAX_BAND_BYTES (fewer
# rows, down to one plus minmed's halo), so that the memory of the median
# does not grow with the number of inputs when they are read from files.
_HOST_MAX_BAND_BYTES = 8 << 20
# Band buffers per pixel: minmed intermediates (med, mn, wsum float32,
# rms float64, flags int32).
_MINMED_BYTES = 24


def _module_of(backend, a):
    return backend.xp if isinstance(a, backend.xp.ndarray) else np


class DiskImage:
    """A 2-D image stored raw (C order, native byte order) in an open file, read by rows.

    Read with plain reads into the caller's buffer, so that only that buffer
    counts in the process's memory (not the file's pages, as with a memory
    map).  :func:`create_median` and :func:`weight_thresholds` take it in
    place of an array.

    Parameters
    ----------
    file : binary file object
        Open for reading, unbuffered (``open(path, "rb", buffering=0)``); it
        may be shared by several images (each read seeks first).
    offset : int
        Byte offset of the first pixel.
    shape : (int, int)
        (ny, nx).
    dtype : numpy dtype
        Pixel type (native byte order).
    """

    def __init__(self, file, offset, shape, dtype=np.float32):
        self.file, self.offset = file, int(offset)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        if len(self.shape) != 2 or min(self.shape) < 0:
            raise ValueError(f"'shape' must be two sizes >= 0; got {shape!r}")
        self.ndim = 2

    def read_rows(self, r0, r1, out=None):
        """Rows ``r0:r1`` (clipped to the image) as a numpy array (r1 - r0, nx) of ``dtype``.

        ``out``, when given, is a C-contiguous numpy array of that shape and
        dtype that receives them (and is returned); else a new array.
        """
        ny, nx = self.shape
        r0, r1 = max(0, min(ny, int(r0))), max(0, min(ny, int(r1)))
        r1 = max(r0, r1)
        if out is None:
            out = np.empty((r1 - r0, nx), self.dtype)
        elif (not isinstance(out, np.ndarray) or out.shape != (r1 - r0, nx)
              or out.dtype != self.dtype or not out.flags.c_contiguous):
            raise ValueError(f"'out' must be a C-contiguous numpy array of shape {(r1 - r0, nx)} "
                             f"and dtype {self.dtype}")
        view = memoryview(out.reshape(-1).view(np.uint8))
        pos, done = self.offset + r0 * nx * self.dtype.itemsize, 0
        self.file.seek(pos)
        while done < len(view):
            n = self.file.readinto(view[done:])
            if not n:
                raise OSError(f"{getattr(self.file, 'name', 'file')}: ends at byte {pos + done}, "
                              f"before rows {r0}:{r1} of a {ny}x{nx} image")
            done += n
        return out

    def __getitem__(self, rows):
        """``image[r0:r1]``: rows as a new numpy array (step 1 only)."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a DiskImage is indexed by a slice of rows only")
        r0, r1, _ = rows.indices(self.shape[0])
        return self.read_rows(r0, r1)


class ScratchImages:
    """Images written one after another to one scratch file and read back by rows.

    The file is a :class:`gpudrizzle.files.Temporary` beside ``path`` (never
    published): removed by :meth:`close` (also on leaving a ``with`` block)
    or, at the latest, when the program exits.

    Parameters
    ----------
    path : str
        Names the scratch file's directory and prefix.
    purpose : str
        What the images are and why they are on disk, for the message of a full disk.
    """

    def __init__(self, path, purpose="the separate drizzle images, kept on disk for the median"):
        self.purpose = purpose
        self._tmp = Temporary(path, kind="scratch file")
        try:
            self._file = open(self._tmp.path, "r+b", buffering=0)
        except BaseException:
            self._tmp.discard()
            raise
        self._end = 0
        self.path = self._tmp.path

    def append(self, array):
        """Write ``array`` (numpy, 2-D, real) at the file's end.

        Returns
        -------
        DiskImage
            Reads it back (valid until :meth:`close`).
        """
        a = np.ascontiguousarray(array)
        if a.ndim != 2 or a.dtype.kind not in "biuf":
            raise ValueError(f"'array' must be a 2-D array of real numbers; got shape "
                             f"{a.shape}, dtype {a.dtype}")
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        view = memoryview(a.reshape(-1).view(np.uint8))
        self._file.seek(self._end)
        done = 0
        try:
            while done < len(view):
                done += self._file.write(view[done:])
        except OSError as exc:
            full = no_space_error(exc, self._tmp.target)
            if full is None:
                raise
            err = OSError(f"{full} ({self.purpose}; in_memory=True keeps them in memory "
                          "instead)")
            err.errno = full.errno  # (no strerror: the text stays the message alone)
            raise err from None
        image = DiskImage(self._file, self._end, a.shape, a.dtype)
        self._end += len(view)
        return image

    def close(self):
        """Close and remove the file (again: nothing)."""
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            finally:
                self._tmp.discard()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _rows(src, r0, r1, buf):
    """Rows r0:r1 of ``src``: read into ``buf`` (a host array of at least those rows) for a
    :class:`DiskImage`, else a view of ``src``."""
    if isinstance(src, DiskImage):
        part = buf.reshape(-1)[:(r1 - r0) * src.shape[1]].reshape(r1 - r0, src.shape[1])
        return src.read_rows(r0, r1, part)
    return src[r0:r1]


def _host_buffer(images, rows, dtype=None):
    """A reusable host buffer for ``rows`` rows of the :class:`DiskImage` among ``images``."""
    disk = [a for a in images if isinstance(a, DiskImage)]
    if not disk:
        return None
    return np.empty((rows, disk[0].shape[1]), dtype or disk[0].dtype)


def weight_thresholds(single_wht, combine_maskpt=0.3, *, rows=None, backend=None) -> list[float]:
    """Per-image weight limits below which AstroDrizzle's median step masks a pixel.

    ``combine_maskpt`` times the mean of the weights >= 1e-8 (float32), the
    mean rounded to float32 as stsci.imagestats' ``ImageStats`` gives it; 0
    for an image without positive weights.

    Parameters
    ----------
    single_wht : sequence of N arrays (ny, nx) or array (N, ny, nx) of real numbers
        Single-drizzled weight images (numpy, memory-mapped or backend
        arrays or :class:`DiskImage`, read ``rows`` rows at a time).
    combine_maskpt : float
        Fraction of the mean weight (>= 0).
    rows : int, optional
        Rows read at a time (default: the whole image).
    backend : str or Backend, optional
        Where backend arrays live (numpy arrays are reduced on the host).

    Returns
    -------
    list of float
        One limit per image.
    """
    maskpt = argcheck.real("combine_maskpt", combine_maskpt, minimum=0.0)
    images = argcheck.image_stack("single_wht", single_wht)
    b = get_backend(backend)
    ny = images[0].shape[0]
    step = max(1, ny if rows is None else min(ny, int(rows)))
    limits = []
    bufs = {}
    for w in images:
        total, count = 0.0, 0
        if isinstance(w, DiskImage) and w.dtype not in bufs:
            bufs[w.dtype] = np.empty((step, w.shape[1]), w.dtype)
        for r0 in range(0, ny, step):
            xp = _module_of(b, w)
            part = xp.asarray(_rows(w, r0, min(ny, r0 + step), bufs.get(w.dtype)),
                              dtype=xp.float32)
            sel = part >= WEIGHT_FLOOR
            total += float(xp.sum(part[sel], dtype=xp.float64))
            count += int(xp.count_nonzero(sel))
        mean = float(np.float32(total / count)) if count else 0.0
        limits.append(mean * maskpt)
    return limits


def band_pitch(npix):
    """Floats from one input's pixels to the next in a band buffer.

    ``npix`` rounded up to a multiple of 32 floats (128 bytes, a GPU's
    coalescing unit), plus 32 more when that is an even multiple: the
    inputs of one pixel then fall in different cache sets instead of all in
    one, as they would with a power-of-two stride (which made a 200-input
    combine on the host several times slower).
    """
    pitch = -(-npix // 32) * 32
    return pitch + 32 if (pitch // 32) % 2 == 0 else pitch


def _band_rows(b, n_in, shape, with_wht, minmed, grow, bufsize):
    """(output rows per band, rows per read of the weight means), or MemoryError when not
    even one row fits.

    The weight means are summed in reads of the rows a band had before host
    bands were capped at ``_HOST_MAX_BAND_BYTES``, so that they (and so the
    median) do not depend on the cap.
    """
    ny, nx = shape
    halo = 2 * grow if minmed else 0
    per_row = nx * (4 * n_in * (2 if with_wht else 1) + (_MINMED_BYTES if minmed else 0))
    avail = available_bytes(b)
    if bufsize is not None:  # drizzlepac: MB of one input's rows per section
        rows = max(1, int(bufsize * 1048576.0) // (4 * nx))
    elif b.xp is np:
        rows = max(_HOST_MIN_ROWS, int(_HOST_BAND_BYTES // per_row) - halo)
        rows = min(rows, int(avail * _BAND_FRACTION // per_row) - halo)
    else:
        rows = int(min(avail * _BAND_FRACTION, _DEVICE_BAND_BYTES) // per_row) - halo
    thr_rows = max(1, min(rows, ny))
    if bufsize is None and b.xp is np:
        rows = min(rows, max(1, int(_HOST_MAX_BAND_BYTES // per_row) - halo))
    rows = min(rows, ny)
    need = per_row * (max(rows, 1) + halo) + 4 * nx * ny
    if rows < 1 or need > avail:
        raise MemoryError(
            f"create_median: one band of {n_in} inputs of {nx} columns needs {need} bytes with "
            f"the {ny}x{nx} output, {avail} are available"
        )
    return rows, thr_rows


def _copy_band(b, dst, src, r0, r1, staging):
    """Rows r0:r1 of ``src`` into band rows ``dst`` (a backend array)."""
    if not isinstance(src, DiskImage):
        copy_rows(b, dst, src[r0:r1])
    elif b.xp is np and src.dtype == dst.dtype:
        src.read_rows(r0, r1, dst)
    else:
        buf = staging if staging is not None and staging.dtype == src.dtype else None
        copy_rows(b, dst, _rows(src, r0, r1, buf) if buf is not None else src.read_rows(r0, r1))


def create_median(single_sci, single_wht=None, *, combine_type="minmed", combine_nsigma="4 3",
                  combine_nlow=0, combine_nhigh=0, combine_lthresh=None, combine_hthresh=None,
                  combine_grow=1, combine_maskpt=0.3, median_newmasks=True, combine_bufsize=None,
                  readnoise=None, exptime=None, sky=None, backend=None, device_array=False):
    """Combine single-drizzled images into AstroDrizzle's median image.

    Parameters
    ----------
    single_sci : sequence of N arrays (ny, nx) or array (N, ny, nx) of real numbers
        Single-drizzled science images (numpy, memory-mapped or backend
        arrays, or :class:`DiskImage` read from a file into the band buffer;
        read one row band at a time, never modified).
    single_wht : same layout as ``single_sci``, optional
        Their weight images.  Required for the minmed types; without them
        no pixel is masked.
    combine_type : {"minmed", "median", "mean", "imedian", "imean", "iminmed", "sum"}
        Combination (case-insensitive).
    combine_nsigma : str or pair of float
        minmed significances, e.g. ``"4 3"``: the first everywhere, the
        second near pixels where the first chose the minimum.
    combine_nlow, combine_nhigh : int
        Lowest / highest usable values dropped per pixel (median, mean and
        the i-types); N - nlow - nhigh must be >= 1.
    combine_lthresh, combine_hthresh : float, optional
        Values below ``lthresh`` or at or above ``hthresh`` are not used
        (median, mean and the i-types; units of ``single_sci``).
    combine_grow : int
        minmed only: half-width of the box around a pixel where the minimum
        was chosen within which the second significance applies (>= 0; 0
        turns it off).
    combine_maskpt : float
        With ``median_newmasks``, image i is masked where its weight is below
        ``combine_maskpt`` times its mean weight (see :func:`weight_thresholds`).
    median_newmasks : bool
        Build the weight masks; False uses every value.
    combine_bufsize : float, optional
        Rows per band from this many MiB per input (drizzlepac's meaning);
        default: on a GPU, a quarter of its free memory and at most 2 GiB per
        band; on the host, bands of about 16 MiB (at least 64 rows) that stay
        in the cache, and at most 32 MiB (down to one row, plus minmed's halo
        of ``2 * combine_grow`` rows) for many inputs, so that with
        :class:`DiskImage` inputs the memory does not grow with N.  The
        result does not depend on the band size.
    readnoise, exptime, sky : float or sequence of N floats, optional
        minmed noise model per image: read noise (electrons; default 0),
        exposure time (> 0; default 1) and the sky subtracted from the image
        (electrons per input pixel; default 0).
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        Where the work runs (None: ``$GPUDRIZZLE_BACKEND`` or auto).
    device_array : bool
        Return a backend array (e.g. ``cupy.ndarray``) instead of numpy.

    Returns
    -------
    numpy.ndarray (or backend array), shape (ny, nx), float32
        The combined image; 0 where every input is masked (i-types: see
        Notes).

    Raises
    ------
    ValueError
        For a bad parameter (the message names it) or inputs of different
        shapes.
    TypeError
        For inputs that do not hold real numbers.
    MemoryError
        When not even one row band of all inputs fits (checked before
        allocating).

    Notes
    -----
    A value is usable where it is not NaN, not masked by weight and within
    the thresholds.  Per pixel:

    - median: sort the usable values, drop ``nlow`` / ``nhigh`` (lowered
      together while they would drop everything), take the middle value or
      the mean of the two middle ones;
    - mean: mean of the usable values after dropping ``nlow`` / ``nhigh``;
      0 when fewer than ``nlow + nhigh + 1`` are usable;
    - imedian / imean: as median / mean, but a pixel with no usable value
      uses the first input value that is neither 0 nor NaN;
    - sum: float32 sum of all non-NaN values (masks and thresholds unused);
    - minmed / iminmed (the same result): ``med`` = median of the usable
      values with nhigh = 1 (the mean for N = 2), ``mn`` = their minimum,
      ``W`` = sum of weights, ``Bk`` = sum of weight * sky / exptime,
      ``R`` = sum of readnoise**2 over usable inputs,
      ``sigma = sqrt(max(med*W + Bk + R, 0))``; the result is ``mn`` where
      ``mn*W < med*W - nsig*sigma`` else ``med``, with ``nsig`` the first
      ``combine_nsigma`` value, or the second where a pixel within
      ``combine_grow`` pixels chose ``mn`` at the first.
    """
    kind = combine_type.strip().lower() if isinstance(combine_type, str) else None
    if kind not in COMBINE_TYPES:
        raise ValueError(f"'combine_type' must be one of {list(COMBINE_TYPES)}; got {combine_type!r}")
    minmed = kind.endswith("minmed")
    nsig1, nsig2 = argcheck.number_pair("combine_nsigma", combine_nsigma)
    nlow = argcheck.integer("combine_nlow", combine_nlow, minimum=0)
    nhigh = argcheck.integer("combine_nhigh", combine_nhigh, minimum=0)
    lthresh = argcheck.real("combine_lthresh", combine_lthresh, allow_none=True)
    hthresh = argcheck.real("combine_hthresh", combine_hthresh, allow_none=True)
    grow = argcheck.integer("combine_grow", combine_grow, minimum=0)
    maskpt = argcheck.real("combine_maskpt", combine_maskpt, minimum=0.0)
    newmasks = argcheck.boolean("median_newmasks", median_newmasks)
    bufsize = argcheck.real("combine_bufsize", combine_bufsize, above=0.0, allow_none=True)
    device_array = argcheck.boolean("device_array", device_array)
    sci = argcheck.image_stack("single_sci", single_sci)
    n_in, shape = len(sci), tuple(int(s) for s in sci[0].shape)
    wht = None if single_wht is None else argcheck.image_stack("single_wht", single_wht, n_in, shape)
    if minmed and wht is None:
        raise ValueError(f"'single_wht' is required for combine_type {combine_type!r}")
    if kind in ("median", "mean", "imedian", "imean") and n_in - nlow - nhigh < 1:
        raise ValueError(f"'combine_nlow' + 'combine_nhigh' ({nlow} + {nhigh}) must leave at least "
                         f"one of the {n_in} inputs")
    rn = argcheck.per_input("readnoise", readnoise, n_in, 0.0, minimum=0.0)
    et = argcheck.per_input("exptime", exptime, n_in, 1.0, above=0.0)
    sk = argcheck.per_input("sky", sky, n_in, 0.0)
    if not minmed:
        grow = 0
    b = get_backend(backend)
    ny, nx = shape
    masks = newmasks and wht is not None
    rows, thr_rows = _band_rows(b, n_in, shape, wht is not None and (masks or minmed), minmed,
                                grow, bufsize)

    xp = b.xp
    out = xp.empty(shape, dtype=np.float32)
    if out.size == 0:
        return out if device_array else b.to_host(out)
    wthr = None
    if masks:
        wthr = b.asarray(weight_thresholds(wht, maskpt, rows=thr_rows, backend=b), np.float64)
    band_rows = min(ny, rows + 2 * grow)
    # DiskImage rows: read straight into the band buffer on the host, else through this
    staging = None if xp is np else _host_buffer(list(sci) + list(wht or []), band_rows)
    pitch_max = band_pitch(band_rows * nx)
    data_buf = xp.empty(n_in * pitch_max, dtype=np.float32)
    use_wht = wht is not None and (masks or minmed)
    wht_buf = xp.empty(n_in * pitch_max, dtype=np.float32) if use_wht else None
    if minmed:
        npix_max = band_rows * nx
        stats = dict(med=xp.empty(npix_max, np.float32), mn=xp.empty(npix_max, np.float32),
                     wsum=xp.empty(npix_max, np.float32), rms=xp.empty(npix_max, np.float64),
                     flags=xp.empty(npix_max, np.int32))
        sky_rate = b.asarray([s / e for s, e in zip(sk, et)], np.float64)
        rn2 = b.asarray([r ** 2 for r in rn], np.float64)
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        h0, h1 = max(0, r0 - grow), min(ny, r1 + grow)
        npix = (h1 - h0) * nx
        pitch = band_pitch(npix)
        data = data_buf[:n_in * pitch].reshape(n_in, pitch)
        for i, a in enumerate(sci):
            _copy_band(b, data[i, :npix].reshape(h1 - h0, nx), a, h0, h1, staging)
        weights = None
        if use_wht:
            weights = wht_buf[:n_in * pitch].reshape(n_in, pitch)
            for i, a in enumerate(wht):
                _copy_band(b, weights[i, :npix].reshape(h1 - h0, nx), a, h0, h1, staging)
        target = out[r0:r1]
        if kind == "sum":
            b.combine("sum", data=data, n_in=n_in, npix=npix, pitch=pitch, out=target)
        elif not minmed:
            b.combine(kind, data=data, wht=weights if masks else None, wthr=wthr, n_in=n_in,
                      npix=npix, pitch=pitch, nlow=nlow, nhigh=nhigh,
                      lthresh=math.nan if lthresh is None else lthresh,
                      hthresh=math.nan if hthresh is None else hthresh, out=target)
        else:
            band = {k: v[:npix] for k, v in stats.items()}
            b.minmed_stats(data=data, wht=weights, wthr=wthr, n_in=n_in, npix=npix, pitch=pitch,
                           sky_rate=sky_rate, rn2=rn2, nsig1=nsig1, **band)
            b.minmed_select(**band, nx=nx, nrows=h1 - h0, row0=r0 - h0, nout=r1 - r0, grow=grow,
                            nsig1=nsig1, nsig2=nsig2, out=target)
    return out if device_array else b.to_host(out)
