"""What every backend provides: an array module and the pixel operations."""

import numpy as np

from ..kernels import KERNELS, parse_kind, source_constant

__all__ = ["Backend", "KernelBackend"]


class Backend:
    """A place where arrays live and pixel operations run.

    Subclasses set ``name`` and ``xp`` (``numpy`` or ``cupy``) and implement
    :meth:`drizzle`.  Arrays handed to the operations must already be on the
    backend (see :meth:`asarray`).
    """

    name = None
    xp = np

    def asarray(self, a, dtype):
        """Return ``a`` as a C-contiguous backend array of ``dtype`` (no copy if possible).

        On the host backends a device (CuPy) array is copied to the host.
        """
        if self.xp is np:
            from . import host_array

            a = host_array(a)
        return self.xp.ascontiguousarray(self.xp.asarray(a, dtype=dtype))

    def to_host(self, a):
        """Return a backend array as a numpy array."""
        return np.asarray(a)

    def synchronize(self):
        """Wait until queued work is done (a no-op on the host)."""

    def drizzle(self, kernel, **args):
        """Drop one image onto the output accumulators.

        Parameters
        ----------
        kernel : str
            One of :data:`gpudrizzle.kernels.DRIZZLE_KERNELS`.
        **args
            The arguments of the ``drizzle_<kernel>`` entry of
            ``cuda_kernels/drizzle.cu`` (see ``gpudrizzle.kernels``), as
            backend arrays and Python scalars.  The accumulators ``acc``
            (ny, nx, 2), ``acc_w2d2``, ``out_dq``, ``ctx`` and ``line_miss``
            are updated in place.
        """
        raise NotImplementedError

    def mean(self, acc, w2d2, base, fill, out):
        """Weighted means of accumulated sums, into ``out``.

        Parameters
        ----------
        acc : backend array (ny, nx, 2) float64
            Sum of weight*value and sum of weights per output pixel.
        w2d2 : backend array (ny, nx) float64 or None
            If given, sums of weight**2 * value2, divided by weight**2 instead.
        base : backend array (ny, nx) float32 or None
            Value where the weight is 0; None means ``fill``.
        fill : float
            Value where the weight is 0 and ``base`` is None.
        out : backend array (ny, nx) float32
            Result, overwritten.
        """
        raise NotImplementedError

    def weight(self, acc, out):
        """The sums of weights ``acc[..., 1]`` (ny, nx, 2 float64) as float32 into ``out`` (ny, nx)."""
        raise NotImplementedError

    def blot(self, interp, **args):
        """Resample a source image onto the pixels of another frame by interpolation.

        Parameters
        ----------
        interp : str
            One of :data:`gpudrizzle.kernels.BLOT_INTERPOLANTS`.
        **args
            The arguments of the ``blot_<interp>`` entry of
            ``cuda_kernels/blot.cu`` (see ``gpudrizzle.kernels``), as backend
            arrays and Python scalars: ``data`` (in_ny, in_nx) float32,
            ``pixmap`` (out_ny, out_nx, 2) float64 (source position of every
            output pixel), ``out`` (out_ny, out_nx) float32 (overwritten),
            sizes ``in_nx``, ``in_ny``, ``out_nx``, ``out_ny`` and scalars
            ``iscale``, ``fillval``, ``sinscl``.
        """
        raise NotImplementedError

    def pixmap(self, **args):
        """Evaluate a pixel map: piecewise bicubic smooth part plus exact lookup tables.

        Parameters
        ----------
        **args
            The arguments of ``pixmap_interp`` in ``cuda_kernels/pixmap.cu``
            (see ``gpudrizzle.kernels`` and ``gpudrizzle.pixmap``), as backend
            arrays and Python scalars: ``cubic`` (ncy, ncx, 32) float64 cell
            polynomials; ``jac`` and ``minv`` (ncy, ncx, 16) float64 bilinear
            cell matrices or None; cell geometry ``ncx``, ``ncy``, ``cx0``,
            ``cy0``, ``step``; ``tab_data`` float64 and ``tab_params``
            (8 * 9,) float64, or both None; ``points`` (n, 2) float64 or None
            (then the block ``nx`` pixels wide starting at pixel ``x0``,
            ``y0``); ``n``; ``out`` (n, 2) float64, overwritten;
            ``nan_count`` (1,) int32 or None, increased by the number of
            NaN results.
        """
        raise NotImplementedError

    def pixmap_lookup(self, **args):
        """Offsets of one kind of lookup table at given points.

        Parameters
        ----------
        **args
            The arguments of ``pixmap_lookup`` in ``cuda_kernels/pixmap.cu``:
            ``tab_data`` float64, ``tab_params`` (8 * 9,) float64, ``slot``
            (the kind's first slot), ``points`` (n, 2) float64 (0-based
            x, y), ``n`` and ``out`` (n, 2) float64 (overwritten).
        """
        raise NotImplementedError

    def combine(self, kind, **args):
        """Reduce a band of stacked images per pixel (``combine_<kind>`` of ``median.cu``).

        Parameters
        ----------
        kind : {"median", "mean", "imedian", "imean", "sum"}
        **args
            The kernel's arguments (see ``gpudrizzle.kernels``): ``data``
            (n_in, pitch) float32 holding npix pixels per input, scratch
            that may be overwritten; for all kinds but "sum" ``wht`` (n_in,
            pitch) float32 or None, ``wthr`` (n_in,) float64 or None,
            ``nlow``, ``nhigh``, ``lthresh``, ``hthresh`` (NaN: none);
            ``n_in``, ``npix``, ``pitch`` and ``out`` (npix,) float32,
            overwritten.
        """
        raise NotImplementedError

    def minmed_stats(self, **args):
        """First minmed pass (``combine_minmed_stats`` of ``median.cu``).

        Parameters
        ----------
        **args
            ``data`` (n_in, pitch) float32 (scratch), ``wht`` (n_in, pitch)
            float32, ``wthr`` (n_in,) float64 or None, ``n_in``, ``npix``,
            ``pitch``, ``sky_rate`` and ``rn2`` (n_in,) float64, ``nsig1``; outputs
            (npix,) ``med``, ``mn``, ``wsum`` float32, ``rms`` float64,
            ``flags`` int32.
        """
        raise NotImplementedError

    def minmed_select(self, **args):
        """Second minmed pass (``combine_minmed_select`` of ``median.cu``).

        Parameters
        ----------
        **args
            The first pass's outputs for a band of ``nrows`` rows of ``nx``
            pixels, ``row0`` and ``nout`` (the band rows to produce),
            ``grow``, ``nsig1``, ``nsig2`` and ``out`` (nout, nx) float32,
            overwritten.
        """
        raise NotImplementedError

    def crmask_tests(self, **args):
        """Cosmic-ray tests per pixel (``crmask_tests`` of ``crmask.cu``).

        Parameters
        ----------
        **args
            ``sci``, ``blot`` (ny, nx) float32, ``nx``, ``ny``, scalars
            ``conversion``, ``gain``, ``rn2``, ``backg``, ``snr1``, ``snr2``,
            ``scale1``, ``scale2``; ``tests`` (ny, nx) uint8 and ``deriv``
            (ny, nx) float32 or None, overwritten.
        """
        raise NotImplementedError

    def crmask_neighbours(self, **args):
        """The 3x3 neighbourhood rule (``crmask_neighbours`` of ``crmask.cu``).

        Parameters
        ----------
        **args
            ``tests`` (ny, nx) uint8, ``nx``, ``ny``, ``cr`` (ny, nx) uint8,
            overwritten (1 for a cosmic ray).
        """
        raise NotImplementedError

    def moments(self, **args):
        """Clipped moments per chunk of an image (``stats_moments`` of ``stats.cu``).

        Parameters
        ----------
        **args
            ``x`` (n,) float32, ``n``, ``chunk``, scalars ``lo``, ``hi`` and
            ``mean`` (float32 values); ``out`` (ceil(n / chunk), 5) float64,
            overwritten with count, sum, sum of squared deviations from
            ``mean``, min and max of each chunk's values within [lo, hi].
        """
        raise NotImplementedError

    def histogram(self, **args):
        """Histogram per chunk of an image (``stats_histogram`` of ``stats.cu``).

        Parameters
        ----------
        **args
            ``x`` (n,) float32, ``n``, ``chunk``, scalars ``lo``, ``hi``,
            ``include_top``, ``f`` (float32 values: bin i holds lo <= v < hi,
            or <= hi with include_top, with int(f * (v - lo)) == i) and
            ``nbins``; ``hist`` (ceil(n / chunk), nbins) uint32, overwritten.
        """
        raise NotImplementedError

    def pick(self, **args):
        """The values of one histogram bin (``stats_pick`` of ``stats.cu``).

        Parameters
        ----------
        **args
            Those of :meth:`histogram` without ``hist``, plus ``bin``,
            ``offsets`` (ceil(n / chunk),) int64 (where each chunk's values
            go) and ``out`` float32, overwritten with the values of ``bin``
            in order.
        """
        raise NotImplementedError

    def crmask_grow(self, **args):
        """Growth and outputs of the cosmic-ray mask (``crmask_grow`` of ``crmask.cu``).

        Parameters
        ----------
        **args
            ``cr`` (ny, nx) uint8, ``sci`` and ``blot`` (ny, nx) float32 or
            None (needed with ``cor``), ``nx``, ``ny``, ``grow``, ``ctegrow``,
            ``cte_dir``, ``conversion``, ``crbit``; ``dq`` (ny, nx) uint32 or
            None (updated in place), ``cor`` (ny, nx) float32 or None,
            ``cor_dq`` (ny, nx) uint32 or None and ``crmask`` (ny, nx) uint8,
            overwritten.
        """
        raise NotImplementedError

    def findstars_convolve(self, **args):
        """The image fitted with DAOFIND's kernel (``findstars_convolve`` of ``findstars.cu``).

        Parameters
        ----------
        **args
            ``data`` (ny, nx) float32, ``mask`` (ny, nx) uint8 or None
            (nonzero: pixel not used), ``nx``, ``ny``, ``taps`` (ntaps, 3)
            float64 footprint rows (dx, dy, g), ``ntaps``, ``gsum``,
            ``g2sum``, ``npts`` (sums of g, g**2 and the tap count) and
            ``conv`` (ny, nx) float32, overwritten (-inf where undefined).
        """
        raise NotImplementedError

    def findstars_peaks(self, **args):
        """Local maxima above a threshold (``findstars_peaks`` of ``findstars.cu``).

        Parameters
        ----------
        **args
            ``conv`` (ny, nx) float32, ``nx``, ``ny``, ``taps``, ``ntaps``,
            the box half-sizes ``bx``, ``by``, ``threshold`` and ``peaks``
            (ny, nx) uint8, overwritten (1 at a candidate).
        """
        raise NotImplementedError

    def findstars_measure(self, **args):
        """Centroids and shape of candidates (``findstars_measure`` of ``findstars.cu``).

        Parameters
        ----------
        **args
            ``data``, ``mask``, ``conv`` as above, ``nx``, ``ny``, ``idx``
            (n,) int64 flat pixel indices, ``n``, the footprint (``taps``,
            ``ntaps``, ``gsum``, ``g2sum``, ``npts``), ``gauss`` (nyk, nxk)
            float64, ``nxk``, ``nyk``, ``xsigsq``, ``ysigsq``, ``skymode``,
            ``noise``, ``e_axis``, ``e_diag`` and ``out`` (n, FS_NCOL)
            float64, overwritten (columns described in ``findstars.cu``).
        """
        raise NotImplementedError

    def __repr__(self):
        return f"<gpudrizzle backend {self.name!r}>"


class KernelBackend(Backend):
    """A backend that runs the compiled kernels of ``cuda_kernels/``."""

    def _call(self, name, n, args):
        """Run kernel ``name`` over ``n`` work items with checked ``args``."""
        raise NotImplementedError

    def _null(self):
        """The value passed for a null pointer."""
        raise NotImplementedError

    def _pointer(self, a):
        """The value passed for an array."""
        raise NotImplementedError

    def launch(self, name, n, args):
        """Check and cast ``args`` against the kernel table, then run ``name``.

        Parameters
        ----------
        name : str
            Kernel entry name, a key of :data:`gpudrizzle.kernels.KERNELS`.
        n : int
            Number of work items: threads on a GPU, or thread blocks for
            the kernels of :data:`gpudrizzle.kernels.BLOCK_KERNELS`.
        args : dict
            Every argument of the kernel by name.
        """
        spec = KERNELS[name]
        if set(args) != {a for a, _ in spec}:
            missing = {a for a, _ in spec} - set(args)
            extra = set(args) - {a for a, _ in spec}
            raise TypeError(f"{name}: missing arguments {sorted(missing)}, unknown {sorted(extra)}")
        values = []
        for arg, kind in spec:
            dtype, is_array, nullable = parse_kind(kind)
            v = args[arg]
            if is_array:
                if v is None:
                    if not nullable:
                        raise TypeError(f"{name}: argument {arg!r} may not be None")
                    values.append(self._null())
                    continue
                if not isinstance(v, self.xp.ndarray) or v.dtype != dtype:
                    raise TypeError(f"{name}: argument {arg!r} must be a {self.name} array of {dtype}")
                if not v.flags.c_contiguous:
                    raise TypeError(f"{name}: argument {arg!r} must be C-contiguous")
                values.append(self._pointer(v))
            else:
                values.append(dtype.type(v))
        self._call(name, int(n), values)

    def mean(self, acc, w2d2, base, fill, out):
        args = dict(acc=acc, w2d2=w2d2, base=base, fill=fill, n=out.size, out=out)
        self.launch("drizzle_mean", out.size, args)

    def weight(self, acc, out):
        self.launch("drizzle_weight", out.size, dict(acc=acc, n=out.size, out=out))

    def drizzle(self, kernel, **args):
        box = (args["xmax"] - args["xmin"] + 1) * (args["ymax"] - args["ymin"] + 1)
        self.launch(f"drizzle_{kernel}", max(box, 0), args)

    def blot(self, interp, **args):
        self.launch(f"blot_{interp}", args["out_nx"] * args["out_ny"], args)

    def pixmap(self, **args):
        # Work items: one per point, or one per run of PM_RUN pixels of a row.
        n = args["n"]
        if args["points"] is None and n > 0 and args["nx"] > 0:
            run = source_constant("pixmap.cu", "PM_RUN")
            nx = int(args["nx"])
            n = (n // nx) * -(-nx // run)
        self.launch("pixmap_interp", n, args)

    def pixmap_lookup(self, **args):
        self.launch("pixmap_lookup", args["n"], args)

    def combine(self, kind, **args):
        self.launch(f"combine_{kind}", args["npix"], args)

    def minmed_stats(self, **args):
        self.launch("combine_minmed_stats", args["npix"], args)

    def minmed_select(self, **args):
        self.launch("combine_minmed_select", args["nout"] * args["nx"], args)

    def crmask_tests(self, **args):
        self.launch("crmask_tests", args["nx"] * args["ny"], args)

    def crmask_neighbours(self, **args):
        self.launch("crmask_neighbours", args["nx"] * args["ny"], args)

    def moments(self, **args):
        self.launch("stats_moments", -(-args["n"] // args["chunk"]), args)

    def histogram(self, **args):
        self.launch("stats_histogram", -(-args["n"] // args["chunk"]), args)

    def pick(self, **args):
        self.launch("stats_pick", -(-args["n"] // args["chunk"]), args)

    def crmask_grow(self, **args):
        self.launch("crmask_grow", args["nx"] * args["ny"], args)

    def findstars_convolve(self, **args):
        self.launch("findstars_convolve", args["nx"] * args["ny"], args)

    def findstars_peaks(self, **args):
        self.launch("findstars_peaks", args["nx"] * args["ny"], args)

    def findstars_measure(self, **args):
        self.launch("findstars_measure", args["n"], args)
