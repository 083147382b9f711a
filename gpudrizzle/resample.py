"""``Drizzle``: co-add images onto one output grid, a drop-in for ``drizzle.resample.Drizzle``.

The constructor, :meth:`Drizzle.add_image` and the properties have the
names, defaults and meaning of drizzle 3.0.  What differs, on purpose:

* the output accumulators live on the chosen backend (a GPU with
  ``backend="cuda"``) between calls, as float64 sums of ``weight*data`` and
  ``weight``; the weighted means are formed when a property is read;
* arrays passed in (``out_img``, ``out_wht``, ...) are copied, never
  modified; the properties return new arrays;
* an input pixel that partly overlaps the output edge contributes its
  overlapping part, a NaN in the pixel map skips only the input pixels that
  use it, and ``pixel_scale_ratio=None`` is estimated as output/input pixel
  size (drizzle 3.0 estimates the inverse);
* without any output shape the shape is taken from the pixel map as
  (ny, nx) (drizzle 3.0 transposes it).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import argcheck
from .backends import Backend, get_backend, host_array, is_device_array
from .cpu_fallback.drizzle import lanczos_table
from .kernels import DRIZZLE_KERNELS
from .memory import by_rows, check_fits
from .utils import pixel_scale_ratio_from_pixmap

__all__ = ["Drizzle", "SUPPORTED_DRIZZLE_KERNELS", "CTX_PLANE_BITS"]

SUPPORTED_DRIZZLE_KERNELS = list(DRIZZLE_KERNELS)
CTX_PLANE_BITS = 32
_NOT_FLUX_CONSERVING = ("gaussian", "lanczos2", "lanczos3")


class _Deprecated:
    """Default of an argument kept only for drizzle's deprecated spelling; ``help()`` shows it
    as ``<deprecated>``, not as an ``<object object at 0x...>``."""

    def __repr__(self):
        return "<deprecated>"


_DEPRECATED_ARG = _Deprecated()


def _zero(xp, a, threads):
    """Set every element of backend array ``a`` to 0 by blocks of its first axis, on
    ``threads`` host threads for numpy arrays (one ``fill`` on a device)."""
    if xp is not np:
        a.fill(0)
        return

    def body(rows):
        a[rows] = 0  # numpy assigns a scalar without holding the GIL

    by_rows(xp, threads, a.shape[0], body)


def _parse_fillval(fillval, have_array):
    """Drizzle's fill value rules: None/'INDEF' keeps given pixels, else a float (NaN allowed)."""
    if fillval is None or (isinstance(fillval, str) and fillval.strip().upper() in ("", "INDEF")):
        return None if have_array else math.nan
    try:
        return float(fillval)
    except (TypeError, ValueError):
        raise ValueError(f"fill value must be a number, 'NaN' or 'INDEF'; got {fillval!r}") from None


def _given(a, dtype):
    """An ``out_*`` array as given: a device (CuPy) array stays on the device, else numpy."""
    if is_device_array(a):
        return a.astype(dtype, copy=False)
    return np.asarray(a, dtype=dtype)


def _int_dq(name, dq):
    if not is_device_array(dq):
        dq = np.asarray(dq)
    if dq.dtype.kind not in "iu" or dq.dtype.itemsize > 4:
        raise TypeError(f"'{name}' must be of an integer type with itemsize of 4 bytes or less.")
    return dq.astype(np.uint32, copy=False)


class Drizzle:
    """Resample and co-add images onto one output grid with the drizzle algorithm.

    Parameters
    ----------
    kernel : {"square", "turbo", "point", "gaussian", "lanczos2", "lanczos3"}
        Drop shape.  gaussian and lanczos do not conserve flux.
    fillval, fillval2 : float, str or None
        Value of output pixels (of ``out_img`` / ``out_img2``) that received
        no weight.  None or "INDEF" keeps the pixels of a supplied
        ``out_img`` (NaN when none was supplied).
    out_shape : tuple of int, optional
        (ny, nx) of the output; else taken from the ``out_*`` arrays or, at
        the first :meth:`add_image`, from the pixel map.
    out_img, out_wht : array (ny, nx), optional
        Results of earlier co-adds to continue from (copied).
    out_ctx : array (ny, nx) or (np, ny, nx) of int32, optional
        Context of earlier co-adds.
    out_img2 : array (ny, nx) or list of them, optional
        Earlier co-adds with squared weights (one per ``data2`` array).
    out_dq : array (ny, nx) of uint32, optional
        OR of the DQ of contributing input pixels so far.
    exptime : float
        Exposure time of the earlier co-adds (0 when starting afresh).
    begin_ctx_id : int
        Context ID (0-based) of the first image added.
    max_ctx_id : int, optional
        Largest context ID expected; pre-allocates context planes.
    disable_ctx : bool
        Do not keep a context image.
    backend : {"auto", "cuda", "cpu", "numpy"} or None
        Where the work runs (None: ``$GPUDRIZZLE_BACKEND`` or auto).
    device_arrays : bool
        If True the output properties return backend arrays (CuPy arrays on
        the cuda backend) instead of numpy arrays.

    Examples
    --------
    A constant image shifted by (1.5, 0.5) pixels keeps its flux:

    >>> import numpy as np
    >>> from gpudrizzle import Drizzle
    >>> y, x = np.indices((4, 5), dtype=np.float64)
    >>> d = Drizzle(out_shape=(6, 7), backend="numpy")
    >>> d.add_image(np.full((4, 5), 2.0), exptime=1.0, pixmap=np.dstack([x + 1.5, y + 0.5]))
    (0, 0)
    >>> float(np.nansum(d.out_img * d.out_wht)), float(d.out_wht.sum())
    (40.0, 20.0)
    """

    def __init__(self, kernel="square", fillval=None, fillval2=None, out_shape=None, out_img=None,
                 out_wht=None, out_ctx=None, out_img2=None, out_dq=None, exptime=0.0,
                 begin_ctx_id=0, max_ctx_id=None, disable_ctx=False, backend=None,
                 device_arrays=False) -> None:
        if not isinstance(kernel, str) or kernel.lower() not in SUPPORTED_DRIZZLE_KERNELS:
            raise ValueError(
                f"Kernel '{kernel}' is not supported; choose one of {SUPPORTED_DRIZZLE_KERNELS}."
            )
        exptime = argcheck.real("exptime", exptime, minimum=0.0)
        if not disable_ctx:
            if begin_ctx_id < 0:
                raise ValueError("Invalid context image ID: 'begin_ctx_id' must be >= 0.")
            if max_ctx_id is None:
                max_ctx_id = begin_ctx_id
            elif max_ctx_id < begin_ctx_id:
                raise ValueError("'max_ctx_id' cannot be smaller than 'begin_ctx_id'.")
        if exptime > 0.0 and out_img is None and out_ctx is None and out_wht is None:
            raise ValueError(
                "Exposure time must be 0.0 for the first resampling "
                "(when no output resampled images have been provided)."
            )
        img = None if out_img is None else _given(out_img, np.float32)
        wht = None if out_wht is None else _given(out_wht, np.float32)
        ctx = None
        if out_ctx is not None and not disable_ctx:
            ctx = _given(out_ctx, np.int32)
            if ctx.ndim == 2:
                ctx = ctx[None]
            elif ctx.ndim != 3:
                raise ValueError("'out_ctx' must be either a 2D or 3D array.")
        if exptime == 0.0 and (
            (ctx is not None and bool(ctx.any())) or (wht is not None and bool((wht > 0).any()))
        ):
            raise ValueError(
                "Inconsistent exposure time and context and/or weight images: "
                "Exposure time cannot be 0 when context and/or weight arrays are non-zero."
            )
        dq = None if out_dq is None else _int_dq("out_dq", out_dq)
        if out_img2 is None:
            img2 = None
        else:
            items = [out_img2] if hasattr(out_img2, "shape") else list(out_img2)
            img2 = [None if x is None else _given(x, np.float32) for x in items]
        shapes = {a.shape for a in (img, wht, dq) if a is not None}
        shapes |= {a.shape for a in (img2 or []) if a is not None}
        if ctx is not None:
            shapes.add(ctx.shape[1:])
        if out_shape is not None:
            shapes.add(tuple(int(n) for n in out_shape))
        if len(shapes) > 1:
            raise ValueError(
                "Inconsistent data shapes specified: 'out_shape' and/or out_img, out_img2, "
                f"out_wht, out_ctx, out_dq have different shapes: {sorted(shapes)}."
            )
        if wht is not None and ctx is not None and bool(((wht > 0) != ctx.any(axis=0)).any()):
            raise ValueError(
                "Inconsistent values of supplied 'out_wht' and 'out_ctx' arrays. Pixels with "
                "non-zero context values must have positive weights and vice-versa."
            )
        self._kernel = kernel
        self._fillval = _parse_fillval(fillval, img is not None)
        self._fillval2 = _parse_fillval(fillval2, img2 is not None and any(x is not None for x in img2))
        self._texptime = exptime
        self._disable_ctx = bool(disable_ctx)
        self._ctx_id = None if disable_ctx else int(begin_ctx_id)
        self._begin_ctx_id = self._ctx_id
        self._max_ctx_id = None if disable_ctx else int(max_ctx_id)
        self._device_arrays = bool(device_arrays)
        self._backend = get_backend(backend)
        self._init = dict(img=img, wht=wht, ctx=ctx, dq=dq, img2=img2)
        self._out_shape = shapes.pop() if shapes else None
        self._acc = None
        self._ncoadds = 0
        if self._out_shape is not None:
            self._allocate(self._out_shape)

    # -- accumulators ---------------------------------------------------
    def _check_memory(self, shape, n2=0):
        """MemoryError unless the accumulators of an output of ``shape`` fit on the backend.

        Per pixel: the float64 sums of weight*data and weight (16 bytes), the
        int32 context planes, the uint32 DQ and float32 image given to
        continue from, and ``n2`` float64 sums with squared weights plus their
        given float32 images.
        """
        init = self._init
        planes = 0
        if not self._disable_ctx:
            planes = (self._max_ctx_id // CTX_PLANE_BITS + 1 if init["ctx"] is None
                      else init["ctx"].shape[0])
        per_pixel = 16 + 4 * planes + 12 * n2
        per_pixel += 4 * sum(init[k] is not None for k in ("img", "dq"))
        ny, nx = shape
        check_fits(self._backend, per_pixel * ny * nx,
                   f"Drizzle: the output accumulators of shape {(ny, nx)}")

    def _allocate(self, shape):
        """Create the backend accumulators for an output of ``shape`` from the initial arrays."""
        b, xp, init = self._backend, self._backend.xp, self._init
        shape = tuple(shape)
        self._check_memory(shape, 0 if init["img2"] is None else len(init["img2"]))
        self._out_shape = shape
        acc = xp.zeros(shape + (2,), np.float64)
        base = None
        if init["wht"] is not None:
            acc[..., 1] = b.asarray(init["wht"], np.float64)
        if init["img"] is not None:
            base = b.asarray(init["img"], np.float32)
            w = acc[..., 1]
            acc[..., 0] = xp.where(w != 0, base.astype(np.float64) * w, 0.0)
        ctx = None
        if not self._disable_ctx:
            if init["ctx"] is None:
                ctx = xp.zeros((self._max_ctx_id // CTX_PLANE_BITS + 1,) + shape, np.int32)
            else:
                ctx = b.asarray(init["ctx"], np.int32)
        dq = None if init["dq"] is None else b.asarray(init["dq"], np.uint32)
        self._acc = dict(sums=acc, base=base, ctx=ctx, dq=dq, w2d2=None, base2=None)
        self._acc_clear = all(v is None for v in init.values())  # every sum still 0
        if init["img2"] is not None:
            self._allocate2(len(init["img2"]), init["img2"])

    def _allocate2(self, n, items=None):
        b, xp, acc = self._backend, self._backend.xp, self._acc
        ny, nx = self._out_shape
        check_fits(b, 12 * n * ny * nx,
                   f"Drizzle: {n} output sum(s) with squared weights of shape {(ny, nx)}")
        w2d2 = xp.zeros((n,) + self._out_shape, np.float64)
        base2 = [None] * n
        for m, item in enumerate(items or []):
            if item is not None:
                w2 = acc["sums"][..., 1] ** 2
                base2[m] = b.asarray(item, np.float32)
                w2d2[m] = xp.where(w2 != 0, base2[m].astype(np.float64) * w2, 0.0)
        acc["w2d2"], acc["base2"] = w2d2, base2

    def reset(self, threads: int | None = None) -> None:
        """Forget every image added, keeping the memory of the output sums.

        Afterwards the object is as if newly made with the same settings
        and no ``out_*`` arrays to continue from (total exposure time 0,
        context IDs from ``begin_ctx_id``), without allocating (and so
        without the operating system clearing) another output frame; for
        drizzling images one after another onto separate products of one
        shape.

        Parameters
        ----------
        threads : int or None
            Host threads clearing the sums, by blocks of rows, on host
            backends (None or 1: one; device backends clear on the device).
        """
        if threads is not None:
            threads = argcheck.integer("threads", threads, minimum=1)
        self._texptime = 0.0
        self._ncoadds = 0
        self._ctx_id = self._begin_ctx_id
        self._init = dict(img=None, wht=None, ctx=None, dq=None, img2=None)
        acc = self._acc
        if acc is None or self._acc_clear:  # nothing added since the sums were made 0
            return
        acc["base"] = None
        xp = self._backend.xp
        for key in ("sums", "dq"):  # (ny, nx, ...): by output rows
            if acc[key] is not None:
                _zero(xp, acc[key], threads)
        for key in ("ctx", "w2d2"):  # (n, ny, nx): each plane by its rows
            for plane in () if acc[key] is None else acc[key]:
                _zero(xp, plane, threads)
        if acc["w2d2"] is not None:
            acc["base2"] = [None] * acc["w2d2"].shape[0]
        self._acc_clear = True

    # -- properties -----------------------------------------------------
    @property
    def kernel(self) -> str:
        """Resampling kernel."""
        return self._kernel

    @property
    def fillval(self) -> float | None:
        """Fill value of ``out_img`` pixels without weight (None: keep the supplied pixels)."""
        return self._fillval

    @property
    def fillval2(self) -> float | None:
        """Fill value of ``out_img2`` pixels without weight."""
        return self._fillval2

    @property
    def ctx_id(self) -> int:
        """Context ID (0-based) of the next image to be added."""
        return self._ctx_id

    @property
    def total_exptime(self) -> float:
        """Total exposure time of all added images."""
        return self._texptime

    @property
    def backend(self) -> Backend:
        """The backend object doing the work."""
        return self._backend

    def _out(self, make):
        """A new output array (or list of them) from ``make()``, on the host unless asked."""
        if self._acc is None:
            return None
        arr = make()
        if arr is None or self._device_arrays:
            return arr
        if isinstance(arr, list):
            return [self._backend.to_host(a) for a in arr]
        return self._backend.to_host(arr)

    def _mean(self, sums, w2d2, base, fill, out=None):
        out = self._backend.xp.empty(self._out_shape, np.float32) if out is None else out
        self._backend.mean(sums, w2d2, None if fill is not None else base,
                           math.nan if fill is None else fill, out)
        return out

    def _into(self, name, out):
        """``out`` checked as a destination of the (ny, nx) float32 output ``name``, or a new array."""
        xp = self._backend.xp
        if out is None:
            return xp.empty(self._out_shape, np.float32)
        if not isinstance(out, xp.ndarray):
            raise TypeError(f"'out' for {name} must be a {xp.__name__} array; got {type(out)}")
        if tuple(out.shape) != tuple(self._out_shape) or out.dtype != np.float32:
            raise ValueError(f"'out' for {name} must be a float32 array of shape "
                             f"{tuple(self._out_shape)}; got {out.dtype} {tuple(out.shape)}")
        if not out.flags.c_contiguous or (xp is np and not out.flags.writeable):
            raise ValueError(f"'out' for {name} must be a writable C-contiguous array")
        return out

    @property
    def out_img(self) -> np.ndarray | None:
        """Output image (ny, nx) float32: weighted mean of the contributions."""
        return self.get_out_img()

    @property
    def out_wht(self) -> np.ndarray | None:
        """Output weight (ny, nx) float32."""
        return self.get_out_wht()

    def get_out_img(self, out=None):
        """:attr:`out_img`, written into ``out`` when given.

        Parameters
        ----------
        out : backend array (ny, nx) float32 or None
            C-contiguous, writable destination on the backend (a numpy array
            on host backends), e.g. the previous product's array to reuse
            its pages; None: a new array.

        Returns
        -------
        array (ny, nx) float32 or None
            ``out`` (or the new array; on the host unless ``device_arrays``);
            None before any output frame exists.

        Raises
        ------
        TypeError, ValueError
            For an ``out`` not a backend array, of another shape or dtype,
            not C-contiguous or read-only.
        """
        if self._acc is None:
            return None
        dst = self._mean(self._acc["sums"], None, self._acc["base"], self._fillval,
                         self._into("out_img", out))
        return dst if out is not None else self._out(lambda: dst)

    def get_out_wht(self, out=None):
        """:attr:`out_wht`, written into ``out`` when given (as :meth:`get_out_img`)."""
        if self._acc is None:
            return None
        dst = self._into("out_wht", out)
        self._backend.weight(self._acc["sums"], dst)
        return dst if out is not None else self._out(lambda: dst)

    @property
    def out_ctx(self) -> np.ndarray | None:
        """Context (np, ny, nx) int32: bit k of plane p set where image 32p+k contributed."""
        return self._out(lambda: None if self._acc["ctx"] is None else self._acc["ctx"].copy())

    @property
    def out_img2(self) -> list[np.ndarray] | None:
        """List of (ny, nx) float32 images co-added with squared weights, or None."""

        def make():
            acc = self._acc
            if acc["w2d2"] is None:
                return None
            return [self._mean(acc["sums"], acc["w2d2"][m], acc["base2"][m], self._fillval2)
                    for m in range(acc["w2d2"].shape[0])]

        return self._out(make)

    @property
    def out_dq(self) -> np.ndarray | None:
        """OR of the DQ of contributing input pixels (ny, nx) uint32, or None."""
        return self._out(lambda: None if self._acc["dq"] is None else self._acc["dq"].copy())

    # -- adding images ---------------------------------------------------
    def add_image(self, data, exptime, pixmap, data2=None, dq=None, scale=_DEPRECATED_ARG,
                  iscale=1.0, pixel_scale_ratio=1.0, weight_map=None, wht_scale=1.0, pixfrac=1.0,
                  in_units="cps", xmin=None, xmax=None, ymin=None,
                  ymax=None) -> tuple[int, int]:
        """Resample ``data`` through ``pixmap`` and add it to the output.

        Parameters
        ----------
        data : array (ny, nx)
            Input image (converted to float32).
        exptime : float
            Exposure time, > 0; divides the data when ``in_units="counts"``.
        pixmap : array (ny, nx, 2)
            Output-frame (x, y) of every input pixel centre (float64).
        data2 : array (ny, nx) or list of arrays/None, optional
            Data co-added with squared weights (variances); scaled by iscale**2.
        dq : array (ny, nx) of integer type (<= 4 bytes), optional
            DQ flags OR-combined into ``out_dq``.
        scale : float, optional
            Deprecated: sets ``iscale=scale**2`` and ``pixel_scale_ratio=scale``.
        iscale : float
            Multiplies the input data.
        pixel_scale_ratio : float or None
            Output pixel size / input pixel size; sizes the turbo, gaussian and
            lanczos drops.  None estimates it from the pixel map.
        weight_map : array (ny, nx), optional
            Per-pixel weights (default 1).
        wht_scale : float
            Multiplies the weights, > 0.
        pixfrac : float
            Linear size of the drop as a fraction of the input pixel, > 0;
            <= 0.001 switches to the point kernel.
        in_units : {"cps", "counts"}
            Units of ``data``.
        xmin, xmax, ymin, ymax : int, optional
            Inclusive box of input pixels to use (default the whole image).

        Returns
        -------
        nmiss : int
            Input pixels of the box that contributed to no output pixel.
        nskip : int
            Input lines of the box none of whose pixels contributed.
        """
        if scale is not _DEPRECATED_ARG:
            warnings.warn(
                "Argument 'scale' is deprecated; use 'iscale' and 'pixel_scale_ratio' "
                "(iscale=pixel_scale_ratio**2 gives the same effect).",
                DeprecationWarning,
                stacklevel=2,
            )
            scale = argcheck.real("scale", scale, above=0.0)
            iscale, pixel_scale_ratio = scale * scale, scale
        # -- validation, before any allocation on the backend --
        exptime = argcheck.real("exptime", exptime, above=0.0)
        iscale = argcheck.real("iscale", iscale)
        if not iscale > 0.0:
            raise ValueError(f"Argument 'iscale' must be positive and finite; got {iscale!r}")
        wht_scale = argcheck.real("wht_scale", wht_scale, above=0.0)
        pixfrac = argcheck.real("pixfrac", pixfrac, above=0.0)
        if pixel_scale_ratio is not None:
            pixel_scale_ratio = argcheck.real("pixel_scale_ratio", pixel_scale_ratio, above=0.0)
        if in_units not in ("cps", "counts"):
            raise ValueError(f"'in_units' must be 'cps' or 'counts'; got {in_units!r}")
        data = data if isinstance(data, self._backend.xp.ndarray) else host_array(data)
        if data.ndim != 2 or data.size == 0:
            raise ValueError(f"'data' must be a non-empty 2D array; got shape {data.shape}")
        ny, nx = data.shape
        if not hasattr(pixmap, "shape"):
            pixmap = np.asarray(pixmap, dtype=np.float64)
        if tuple(pixmap.shape) != (ny, nx, 2):
            raise ValueError(
                f"'pixmap' shape {tuple(pixmap.shape)} is not consistent with 'data' shape "
                f"{data.shape}: expected {(ny, nx, 2)}."
            )
        if weight_map is not None:
            if not isinstance(weight_map, self._backend.xp.ndarray):
                weight_map = host_array(argcheck.array_like("weight_map", weight_map))
            if tuple(weight_map.shape) != data.shape:
                raise ValueError("'weight_map' shape is not consistent with 'data' shape.")
        if dq is not None:
            if tuple(np.shape(dq)) != data.shape:
                raise ValueError("'dq' shape is not consistent with 'data' shape.")
            if not isinstance(dq, self._backend.xp.ndarray) or self._backend.xp is np:
                dq = _int_dq("dq", dq)
        if data2 is None:
            items2 = None
        else:
            items2 = [data2] if hasattr(data2, "shape") else list(data2)
            items2 = [None if x is None or x.size == 0 else x for x in items2]
            if any(x is not None and tuple(x.shape) != data.shape for x in items2):
                raise ValueError("'data2' shape(s) is not consistent with 'data' shape.")
        n2 = None if items2 is None else len(items2)
        have2 = self._acc is not None and self._acc["w2d2"] is not None
        if have2 and n2 != self._acc["w2d2"].shape[0]:
            raise ValueError("Mismatch between the number of 'out_img2' images and the number "
                             "of 'data2' inputs.")
        if self._acc is None and self._init["img2"] is not None and n2 != len(self._init["img2"]):
            raise ValueError("Mismatch between the number of 'out_img2' images and the number "
                             "of 'data2' inputs.")
        if n2 is not None and not have2 and self._ncoadds > 0:
            raise ValueError(f"Mismatch between the number of 'out_img2' images and the number "
                             f"of 'data2' inputs: {self._ncoadds} image(s) were added without "
                             f"'data2', so 'out_img2' would leave them out.")
        kernel = self._kernel.lower()
        if pixfrac <= 0.001:
            warnings.warn("Kernel reset to 'point' due to input 'pixfrac' being too small.",
                          stacklevel=2)
            kernel = "point"
        if kernel in _NOT_FLUX_CONSERVING:
            warnings.warn(f"Kernel '{kernel}' is not a flux-conserving kernel.", stacklevel=2)
        if kernel.startswith("lanczos") and abs(pixfrac - 1.0) > 1.0e-5:
            warnings.warn("In lanczos kernel, pixfrac is ignored and assumed to be 1.0",
                          stacklevel=2)
        if kernel == "square" and (nx < 2 or ny < 2):
            raise ValueError(f"'data' must have at least 2 pixels along each axis for the square "
                             f"kernel; got shape {data.shape}")
        xmin = 0 if xmin is None or xmin < 0 else int(xmin)
        ymin = 0 if ymin is None or ymin < 0 else int(ymin)
        xmax = nx - 1 if xmax is None or xmax > nx - 1 else int(xmax)
        ymax = ny - 1 if ymax is None or ymax > ny - 1 else int(ymax)
        if xmin > xmax or ymin > ymax:
            raise ValueError(
                f"No valid pixels in the box of input pixels: 'xmin'..'xmax' is {xmin}..{xmax} and "
                f"'ymin'..'ymax' is {ymin}..{ymax} within 'data' of shape {data.shape}.")
        if in_units == "counts":
            iscale /= exptime

        b, xp = self._backend, self._backend.xp
        pixmap = b.asarray(pixmap, np.float64)
        if self._out_shape is None:
            pixmap, shape = _shape_from_pixmap(xp, pixmap)
            self._allocate(shape)
        elif self._acc is None:
            self._allocate(self._out_shape)
        if pixel_scale_ratio is None:
            pixel_scale_ratio = pixel_scale_ratio_from_pixmap(b.to_host(pixmap))
        # single precision, as drizzle 3.0 uses it: the lanczos table index
        # (|dx| * ratio / 0.003, rounded) then falls on the same entry
        pixel_scale_ratio = float(np.float32(pixel_scale_ratio))
        acc = self._acc
        if n2 is not None and acc["w2d2"] is None:
            self._allocate2(n2)
        if dq is not None and acc["dq"] is None:
            acc["dq"] = xp.zeros(self._out_shape, np.uint32)
        ctx_plane, ctx_bit = None, 0
        if not self._disable_ctx:
            plane = self._ctx_id // CTX_PLANE_BITS
            if plane >= acc["ctx"].shape[0]:
                extra = xp.zeros((plane + 1 - acc["ctx"].shape[0],) + self._out_shape, np.int32)
                acc["ctx"] = xp.concatenate([acc["ctx"], extra])
            ctx_plane, ctx_bit = acc["ctx"][plane], self._ctx_id % CTX_PLANE_BITS
            self._ctx_id += 1
        if items2 is not None and n2 == 1 and items2[0] is not None:
            stack2 = b.asarray(items2[0], np.float32)[None]  # no copy needed
        elif items2 is not None:
            stack2 = xp.zeros((n2, ny, nx), np.float32)
            for m, item in enumerate(items2):
                if item is not None:
                    stack2[m] = b.asarray(item, np.float32)
        line_miss = xp.zeros(max(ymax - ymin + 1, 0), np.int32)
        lut = None
        if kernel.startswith("lanczos"):
            lut = b.asarray(lanczos_table(int(kernel[-1])), np.float64)
        self._acc_clear = False
        b.drizzle(
            kernel,
            data=b.asarray(data, np.float32),
            weight=None if weight_map is None else b.asarray(weight_map, np.float32),
            pixmap=pixmap,
            data2=None if items2 is None else stack2,
            ndata2=0 if items2 is None else n2,
            dq=None if dq is None else b.asarray(dq, np.uint32),
            in_nx=nx, in_ny=ny, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax,
            out_nx=self._out_shape[1], out_ny=self._out_shape[0],
            iscale=iscale, pscale_ratio=pixel_scale_ratio, pixfrac=pixfrac, wht_scale=wht_scale,
            acc=acc["sums"],
            acc_w2d2=acc["w2d2"] if items2 is not None else None,
            out_dq=acc["dq"] if dq is not None else None,
            ctx=ctx_plane, ctx_bit=ctx_bit, line_miss=line_miss,
            lut=lut, nlut=0 if lut is None else lut.size,
        )
        self._texptime += exptime
        self._ncoadds += 1
        misses = b.to_host(line_miss)
        return int(misses.sum()), int(np.count_nonzero(misses == xmax - xmin + 1))


def _shape_from_pixmap(xp, pixmap):
    """Output shape (ny, nx) covering the finite pixel map, and the map shifted to it."""
    x, y = pixmap[..., 0], pixmap[..., 1]
    if not bool(xp.isfinite(x).any()):
        raise ValueError("'pixmap' has no finite positions; cannot size the output.")
    x0, x1 = math.floor(float(xp.nanmin(x))), math.ceil(float(xp.nanmax(x)))
    y0, y1 = math.floor(float(xp.nanmin(y))), math.ceil(float(xp.nanmax(y)))
    shifted = pixmap - xp.asarray([x0, y0], dtype=np.float64)
    return xp.ascontiguousarray(shifted), (y1 - y0 + 1, x1 - x0 + 1)
