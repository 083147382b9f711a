"""What every backend provides: an array module and the pixel operations."""

import numpy as np

from ..kernels import KERNELS, parse_kind

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
        """Return ``a`` as a C-contiguous backend array of ``dtype`` (no copy if possible)."""
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
            backend arrays and Python scalars.  The accumulators
            ``acc_wd``, ``acc_w``, ``acc_w2d2``, ``out_dq``, ``ctx`` and
            ``line_miss`` are updated in place.
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
            Number of work items (threads on a GPU).
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

    def drizzle(self, kernel, **args):
        box = (args["xmax"] - args["xmin"] + 1) * (args["ymax"] - args["ymin"] + 1)
        self.launch(f"drizzle_{kernel}", max(box, 0), args)
