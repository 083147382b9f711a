"""A strict stand-in for CuPy, so the ``cuda`` backend's Python code runs in CI without a GPU.

Installed as ``cupy`` by the ``fake_cupy`` fixture of ``conftest.py``.  It
behaves like CuPy where code written for numpy would go wrong on a GPU:

* device arrays are not numpy arrays: ``numpy.asarray(a)`` raises TypeError
  as CuPy's ``__array__`` does, numpy arrays are refused as operands (only
  ``asarray``/``array``/indexing/assignment move host data, and each move is
  counted), ``flags`` has CuPy's fields only, big-endian dtypes are refused
  (``astype``, ``view``, creation; ``asarray`` swaps big-endian host data to
  native order as CuPy documents, ``set`` and assignment refuse them);
* only CuPy's public API exists: every name and every keyword argument is
  checked against ``cupy_api/cupy_api.txt`` (made from a real CuPy by
  ``cupy_api/make_cupy_api.py``);
* ``RawModule(path=cubin)`` reads the kernel names from the cubin, and a
  launch checks every argument against the kernel's C prototype (parsed
  from the preprocessed kernel source: pointer element types, exact scalar
  widths, C-contiguous arrays), then runs the kernel's CUDA code (the
  ``__CUDACC__`` branch of its source, compiled for the host with the shims of
  ``cuda_on_host/cuda_shim.h``) over exactly the launched grid and block, on
  the arrays' memory: a grid too small for the work leaves it undone, as on a
  GPU; ``RawModule(code=...)`` is refused, because CuPy compiles it with
  ``-ftz=true`` appended and the results would differ from the host build's;
* counters of host->device and device->host bytes, of synchronisations
  that copy a value back (``bool``, ``int``, ``float``, ``.item()``,
  ``.get()``, ``asnumpy``, ``tolist``) and of every launch (grid, block).

Array arithmetic runs on numpy underneath, so results equal the host's.
"""

import ctypes
import functools
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__version__ = "14.2.0"  # the CuPy whose API is pinned

_API_FILE = Path(__file__).parent / "cupy_api" / "cupy_api.txt"


# ---------------------------------------------------------------------------
# the pinned API


def _read_api():
    api = {}
    for line in _API_FILE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, kind, sig = line.split(" ", 2)
        api[name] = (kind, sig)
    return api


API = _read_api()


def _keywords(qualname):
    """Keyword names a CuPy function takes (None: any, e.g. ufuncs and unreadable signatures)."""
    kind, sig = API[qualname]
    if kind == "ufunc":
        return {"out", "dtype", "casting"}
    if sig == "-" or "**" in sig:
        return None
    names = re.findall(r"[(,]\*?([A-Za-z_]\w*)(?=[:=,)])", sig.split("->")[0])
    return set(names)


def _check_call(qualname, kwargs):
    if qualname not in API:
        raise AttributeError(f"{qualname} is not in CuPy's public API (tests/cupy_api/cupy_api.txt)")
    allowed = _keywords(qualname)
    if allowed is not None:
        bad = set(kwargs) - allowed
        if bad:
            raise TypeError(f"{qualname}() got unexpected keyword argument(s) {sorted(bad)} "
                            f"(CuPy takes {sorted(allowed)})")


# ---------------------------------------------------------------------------
# counters


@dataclass
class Counters:
    """What crossed between host and device, and the launches."""

    h2d_bytes: int = 0
    h2d_copies: int = 0
    d2h_bytes: int = 0
    d2h_copies: int = 0
    syncs: int = 0  # value copies back to the host (each waits for the device)
    stream_syncs: int = 0  # explicit Stream/Device synchronize()
    launches: list = field(default_factory=list)  # Launch of every kernel call
    copies: list = field(default_factory=list)  # ("h2d" or "d2h", bytes, "file:line" of the caller)


@dataclass(frozen=True)
class Launch:
    """One kernel call: its name, grid and block, and its scalar arguments by name."""

    kernel: str
    grid: tuple
    block: tuple
    scalars: dict


counters = Counters()


def reset_counters():
    """Start counting afresh; returns the new :class:`Counters`."""
    global counters
    counters = Counters()
    return counters


def _caller():
    """file:line of the innermost caller outside this module and the backends (where a copy
    was asked for)."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or "backends" in Path(frame.f_code.co_filename).parts):
        frame = frame.f_back
    if frame is None:
        return "?"
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


def _h2d(a):
    counters.h2d_bytes += a.nbytes
    counters.h2d_copies += 1
    counters.copies.append(("h2d", a.nbytes, _caller()))


def _d2h(a):
    counters.d2h_bytes += a.nbytes
    counters.d2h_copies += 1
    counters.syncs += 1
    counters.copies.append(("d2h", a.nbytes, _caller()))


def copy_summary():
    """{(direction, caller): [copies, bytes]} of the copies counted so far."""
    out = {}
    for direction, nbytes, where in counters.copies:
        entry = out.setdefault((direction, where), [0, 0])
        entry[0] += 1
        entry[1] += nbytes
    return out


# ---------------------------------------------------------------------------
# arrays


#: numpy type characters of the dtypes CuPy supports (bool, integers, float16/32/64, complex64/128)
_SUPPORTED_DTYPE_CHARS = "?bhilqBHILQefdFD"


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.byteorder == ">":
        raise ValueError(f"Unsupported dtype {dtype.str} with big-endian byte-order")
    if dtype.char not in _SUPPORTED_DTYPE_CHARS:
        raise ValueError(f"Unsupported dtype {dtype}")
    return dtype


def _from_host(a, dtype=None):
    """A device copy of host data (counted).  As CuPy's ``array``/``asarray`` do, big-endian
    host data are swapped to native order on the host; a big-endian ``dtype`` is refused."""
    a = np.asarray(a)
    if dtype is not None:
        _check_dtype(dtype)
    else:
        dtype = a.dtype.newbyteorder("=")
    _check_dtype(dtype)
    out = np.array(a, dtype=dtype, copy=True)
    _h2d(out)
    return ndarray._wrap(out)


def _unwrap(x, what):
    """The numpy array behind a device array; host arrays are refused as CuPy does."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} in {what}: a host numpy array is not a "
                        f"CuPy operand (move it with cupy.asarray first)")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, what) for v in x)
    if isinstance(x, np.dtype) or isinstance(x, type):
        return x
    return x


def _wrap(r):
    if isinstance(r, np.ndarray):
        return ndarray._wrap(r)
    if isinstance(r, np.generic):
        return ndarray._wrap(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


class _Flags:
    """CuPy's ``ndarray.flags``: c_contiguous, f_contiguous, owndata, fnc and forc (no
    ``writeable``, ``aligned``, ...)."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata", "fnc", "forc")

    def __init__(self, a):
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = bool(a.flags.owndata)
        self.fnc = self.f_contiguous and not self.c_contiguous
        self.forc = self.f_contiguous or self.c_contiguous

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[key]


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: numpy memory that numpy code cannot reach implicitly."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("fakecupy.ndarray: memptr/strides are not emulated")
        self._a = np.empty(shape, _check_dtype(dtype), order=order)

    @classmethod
    def _wrap(cls, a):
        obj = cls.__new__(cls)
        obj._a = a
        return obj

    # -- what CuPy refuses ---------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    # -- attributes ------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: _wrap(self._a.T))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    base = property(lambda self: None if self._a.base is None else _wrap(self._a.base))

    @property
    def data(self):
        raise NotImplementedError("fakecupy: device pointers (ndarray.data) are not emulated")

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"fakecupy.ndarray(shape={self.shape}, dtype={self.dtype})"

    # -- values back to the host (each a synchronisation) ----------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            raise NotImplementedError("fakecupy: get(out=) is not emulated")
        _d2h(self._a)
        return np.array(self._a, order=order, copy=True)

    def item(self, *args):
        counters.syncs += 1
        counters.d2h_bytes += self.itemsize
        return self._a.item(*args)

    def tolist(self):
        _d2h(self._a)
        return self._a.tolist()

    def _scalar(self, conv):
        if self.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous.")
        counters.syncs += 1
        counters.d2h_bytes += self.itemsize
        return conv(self._a.reshape(()).item())

    def __bool__(self):
        return self._scalar(bool)

    def __int__(self):
        return self._scalar(int)

    def __float__(self):
        return self._scalar(float)

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError("only integer arrays can be used as an index")
        return self._scalar(int)

    # -- methods -----------------------------------------------------------
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        _check_dtype(dtype)
        kw = {} if casting is None else {"casting": casting}
        return _wrap(self._a.astype(dtype, order=order, copy=copy, **kw))

    def view(self, dtype=None, type=None):  # noqa: A002 - CuPy's name
        if type is not None:
            raise NotImplementedError("fakecupy: view(type=) is not emulated")
        if dtype is None:
            return _wrap(self._a.view())
        return _wrap(self._a.view(_check_dtype(dtype)))

    def copy(self, order="C"):
        return _wrap(self._a.copy(order=order))

    def fill(self, value):
        if isinstance(value, np.ndarray):  # CuPy takes a 0-d host array as a scalar
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        self._a.fill(_unwrap(value, "fill"))

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray; got {type(arr)}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        _h2d(arr)
        self._a[...] = arr

    def reshape(self, *shape, order="C"):
        return _wrap(self._a.reshape(*shape, order=order))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        qual = f"cupy.ndarray.{name}"
        if qual not in API:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} "
                                 "(not in CuPy's public API)")
        method = getattr(self._a, name, None)
        if method is None or not callable(method):
            raise AttributeError(f"fakecupy does not emulate cupy.ndarray.{name}")

        def call(*args, **kwargs):
            _check_call(qual, kwargs)
            if name in _SIZE_FROM_DATA:
                counters.syncs += 1
            return _wrap(method(*_unwrap(args, qual), **{k: _unwrap(v, qual)
                                                         for k, v in kwargs.items()}))

        return call

    # -- indexing ------------------------------------------------------------
    @staticmethod
    def _index(key):
        if isinstance(key, tuple):
            return tuple(ndarray._index(k) for k in key)
        if isinstance(key, ndarray):
            return key._a
        if isinstance(key, np.ndarray):  # CuPy moves a host index array to the device
            _h2d(key)
            return key
        return key

    def __getitem__(self, key):
        index = self._index(key)
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(k, np.ndarray) and k.dtype == bool for k in parts):
            counters.syncs += 1  # the result's size is the mask's count: read back first
        return _wrap(self._a[index])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            _check_dtype(value.dtype)
            _h2d(value)
        elif isinstance(value, ndarray):
            value = value._a
        self._a[self._index(key)] = value

    # -- numpy protocol: numpy functions on device arrays dispatch to CuPy's --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            qual = f"cupy.{ufunc.__name__}"
            raise TypeError(f"fakecupy: ufunc method {method} of {qual} is not emulated")
        return _ufunc(ufunc.__name__)(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _function(func.__name__)(*args, **kwargs)


def _binary(name, reflected=False):
    def op(self, other):
        if reflected:
            return _ufunc(name)(other, self)
        return _ufunc(name)(self, other)

    return op


def _inplace(name):
    def op(self, other):
        _ufunc(name)(self, other, out=self)
        return self

    return op


for _op, _uf in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                 ("truediv", "true_divide"), ("floordiv", "floor_divide"), ("mod", "remainder"),
                 ("pow", "power"), ("and", "bitwise_and"), ("or", "bitwise_or"),
                 ("xor", "bitwise_xor"), ("lshift", "left_shift"), ("rshift", "right_shift")]:
    setattr(ndarray, f"__{_op}__", _binary(_uf))
    setattr(ndarray, f"__r{_op}__", _binary(_uf, reflected=True))
    setattr(ndarray, f"__i{_op}__", _inplace(_uf))
for _op, _uf in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                 ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    setattr(ndarray, f"__{_op}__", _binary(_uf))
ndarray.__neg__ = lambda self: _ufunc("negative")(self)
ndarray.__pos__ = lambda self: self.copy()
ndarray.__abs__ = lambda self: _ufunc("absolute")(self)
ndarray.__invert__ = lambda self: _ufunc("invert")(self)
ndarray.__hash__ = None


# ---------------------------------------------------------------------------
# module functions


def _operands(args, kwargs, qual):
    return _unwrap(list(args), qual), {k: _unwrap(v, qual) for k, v in kwargs.items()}


@functools.lru_cache(maxsize=None)
def _ufunc(name):
    qual = f"cupy.{name}"
    ufunc = getattr(np, name)

    def call(*args, **kwargs):
        _check_call(qual, kwargs)
        if "dtype" in kwargs:
            _check_dtype(kwargs["dtype"])
        out = kwargs.get("out")
        a, k = _operands(args, kwargs, qual)
        r = ufunc(*a, **k)
        return out if isinstance(out, ndarray) else _wrap(r)

    call.__name__ = name
    return call


#: functions whose result size depends on the data: CuPy reads a count back (a sync)
_SIZE_FROM_DATA = frozenset({"nonzero", "flatnonzero", "argwhere", "unique", "extract",
                             "compress"})
#: functions that return a 0-d device array in CuPy where numpy returns a Python scalar
_DEVICE_SCALAR_RESULTS = frozenset({"allclose", "array_equal", "array_equiv"})


@functools.lru_cache(maxsize=None)
def _function(name):
    qual = f"cupy.{name}"
    if qual not in API:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (not in CuPy's public "
                             "API)")
    if API[qual][0] == "ufunc":
        return _ufunc(name)
    func = getattr(np, name, None)
    if func is None or not callable(func):
        raise AttributeError(f"fakecupy does not emulate cupy.{name}")

    def call(*args, **kwargs):
        _check_call(qual, kwargs)
        if "dtype" in kwargs and kwargs["dtype"] is not None:
            _check_dtype(kwargs["dtype"])
        a, k = _operands(args, kwargs, qual)
        out = kwargs.get("out")
        if name in _SIZE_FROM_DATA:
            counters.syncs += 1
        r = func(*a, **k)
        if name in _DEVICE_SCALAR_RESULTS:
            r = np.asarray(r)
        return out if isinstance(out, ndarray) else _wrap(r)

    call.__name__ = name
    return call


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    if isinstance(a, ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return a.astype(dtype)
    if isinstance(a, (np.ndarray, list, tuple, int, float, bool, np.generic)):
        return _from_host(a, dtype)
    raise TypeError(f"Unsupported type {type(a)}")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray):
        return obj.astype(obj.dtype if dtype is None else dtype, copy=True)
    return _from_host(obj, dtype)


def ascontiguousarray(a, dtype=None):
    a = asarray(a, dtype)
    return a if a.flags.c_contiguous else a.copy()


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order)
    return np.asarray(a, order=order)


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def _empty_like_factory(name):
    func = getattr(np, name)

    def make(shape, dtype=float, order="C"):
        return _wrap(func(shape, _check_dtype(dtype), order=order))

    make.__name__ = name
    return make


empty = _empty_like_factory("empty")
zeros = _empty_like_factory("zeros")
ones = _empty_like_factory("ones")


def full(shape, fill_value, dtype=None, order="C"):
    if dtype is not None:
        _check_dtype(dtype)
    return _wrap(np.full(shape, _unwrap(fill_value, "cupy.full"), dtype, order=order))


class _MemoryPool:
    def free_bytes(self):
        return 0

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass


_POOL = _MemoryPool()


def get_default_memory_pool():
    return _POOL


# ---------------------------------------------------------------------------
# kernels: prototypes from the sources, names from the cubins, the host build to run them

_C_TYPES = {
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
    "int": np.dtype(np.int32),
    "unsigned int": np.dtype(np.uint32),
    "long long": np.dtype(np.int64),
    "unsigned long long": np.dtype(np.uint64),
    "unsigned char": np.dtype(np.uint8),
    "char": np.dtype(np.int8),
}
_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint32): ctypes.c_uint32,
           np.dtype(np.int64): ctypes.c_int64, np.dtype(np.uint64): ctypes.c_uint64,
           np.dtype(np.uint8): ctypes.c_uint8, np.dtype(np.int8): ctypes.c_int8}


@dataclass(frozen=True)
class Param:
    name: str
    dtype: np.dtype  # element type for pointers
    pointer: bool
    decl: str = field(default="", compare=False)  # the C declaration, as in the source


def _parse_type(decl, typedefs):
    text = " ".join(decl.split())
    decl = decl.replace("__restrict__", " ").replace("const", " ")
    pointer = "*" in decl
    words = decl.replace("*", " ").split()
    name, base = words[-1], " ".join(words[:-1])
    base = typedefs.get(base, base)
    if base not in _C_TYPES:
        raise ValueError(f"fakecupy: kernel parameter type {base!r} of {name!r} not understood")
    return Param(name, _C_TYPES[base], pointer, text)


def _parse_prototypes(source_text):
    """{kernel: tuple of Param} of the ``extern "C" __global__`` entries of one expanded
    source, preprocessed as NVRTC sees it (``__CUDACC__`` defined)."""
    text = subprocess.run(["g++", "-E", "-P", "-x", "c++", "-D__CUDACC__", "-"],
                          input=source_text, capture_output=True, text=True,
                          check=True).stdout
    typedefs = {m.group(2): " ".join(m.group(1).split())
                for m in re.finditer(r"typedef\s+([\w ]+?)\s+(\w+)\s*;", text)}
    protos = {}
    for m in re.finditer(r'extern\s+"C"\s+__global__\s+(?:\w+(?:\([^)]*\))?\s+)*?void\s+(\w+)\s*\(([^)]*)\)', text):
        params = tuple(_parse_type(p, typedefs) for p in m.group(2).split(",") if p.strip())
        protos[m.group(1)] = params
    return protos


@functools.lru_cache(maxsize=None)
def prototypes():
    """{kernel: tuple of Param} of every ``extern "C" __global__`` entry, as NVRTC sees them."""
    from gpudrizzle.kernels import SOURCE_FILES, load_source

    protos = {}
    for source in SOURCE_FILES:
        protos.update(_parse_prototypes(load_source(source)))
    return protos


# ---------------------------------------------------------------------------
# the kernels' CUDA code, compiled for the host

CUDA_ON_HOST = Path(__file__).parent / "cuda_on_host"
SHIM = CUDA_ON_HOST / "cuda_shim.h"
#: flags of the CUDA-on-host build: no contraction of a * b + c, as NVRTC's --fmad=false
CUDA_ON_HOST_FLAGS = ("-std=c++20", "-O2", "-ffp-contract=off", "-pthread", "-fopenmp",
                      "-shared", "-fPIC")


def _launcher(kernel, params):
    """The C entry ``emu_<kernel>(grid, block, <the kernel's parameters>)`` that runs the
    kernel over a grid of ``grid`` blocks of ``block`` threads."""
    from gpudrizzle.kernels import BLOCK_KERNELS

    run = "emu_run_blocks" if kernel in BLOCK_KERNELS else "emu_run_threads"
    decls = "".join(f", {p.decl}" for p in params)
    names = ", ".join(p.name for p in params)
    return (f'extern "C" void emu_{kernel}(unsigned int emu_grid, unsigned int emu_block'
            f'{decls}) {{\n'
            f'    {run}("{kernel}", emu_grid, emu_block, [=] {{ {kernel}({names}); }});\n'
            f'}}\n')


def cuda_on_host_units(sources=None):
    """{file name: C++ text} of the translation units of the CUDA-on-host build.

    ``sources`` maps kernel source names to their expanded text (default: every
    source, as :func:`gpudrizzle.kernels.load_source` gives it); a test may pass a
    changed copy of one.  Each unit is the shim, the source with ``__CUDACC__``
    defined, and a launcher per kernel of the source; ``emu_runtime.cpp`` holds
    the shim's error state.
    """
    from gpudrizzle.kernels import SOURCE_FILES, load_source

    if sources is None:
        sources = {name: load_source(name) for name in SOURCE_FILES}
    units = {"emu_runtime.cpp": '#define EMU_RUNTIME 1\n#include "cuda_shim.h"\n'}
    for name, text in sources.items():
        launchers = "".join(_launcher(k, p) for k, p in _parse_prototypes(text).items())
        units[f"{Path(name).stem}_cuda.cpp"] = (f'#include "cuda_shim.h"\n#line 1 "{name}"\n'
                                                f'{text}\n// launchers\n{launchers}')
    return units


def build_cuda_on_host(sources=None):
    """Build (or find in the cache) the CUDA-on-host library of ``sources`` (see
    :func:`cuda_on_host_units`) and return its path.

    Cached under ``$GPUDRIZZLE_CACHE_DIR/cuda_on_host/`` by a hash of the units, the
    shim, the flags and the compiler's version; units compile in parallel; the
    library is written to a temporary file and renamed into place.
    """
    from gpudrizzle.backends.cpu import cache_dir, compiler_info

    cxx, version = compiler_info()
    units = cuda_on_host_units(sources)
    h = hashlib.sha256()
    for part in [SHIM.read_text(), " ".join(CUDA_ON_HOST_FLAGS), version, sys.platform,
                 *(f"{k}\n{v}" for k, v in sorted(units.items()))]:
        h.update(part.encode())
        h.update(b"\0")
    target = cache_dir() / "cuda_on_host" / f"cuda_on_host_{h.hexdigest()[:20]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        jobs = []
        for name, text in units.items():
            src = Path(tmp) / name
            src.write_text(text, encoding="utf-8")
            cmd = [cxx, *CUDA_ON_HOST_FLAGS, f"-I{CUDA_ON_HOST}", "-c", str(src), "-o",
                   str(src.with_suffix(".o"))]
            jobs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True)))
        for cmd, job in jobs:
            log = job.communicate()[0]
            if job.returncode != 0:
                raise RuntimeError(f"fakecupy: {' '.join(cmd)} failed:\n{log}")
        out = Path(tmp) / target.name
        cmd = [cxx, *CUDA_ON_HOST_FLAGS, *(str(Path(tmp) / Path(n).with_suffix(".o"))
                                           for n in units), "-o", str(out)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"fakecupy: {' '.join(cmd)} failed:\n{res.stderr}")
        os.replace(out, target)
    return target


class CudaOnHost:
    """A loaded CUDA-on-host library: ``launch(kernel, grid, block, values)``."""

    def __init__(self, path, protos):
        self.path = Path(path)
        self._lib = ctypes.CDLL(str(path))
        self._lib.emu_take_error.restype = ctypes.c_char_p
        self._lib.emu_take_error.argtypes = []
        self._protos = protos
        self._functions = {}

    def function(self, kernel):
        """The ctypes entry ``emu_<kernel>``, argument types set."""
        fn = self._functions.get(kernel)
        if fn is None:
            if kernel not in self._protos:
                raise RuntimeError(f"fakecupy: {kernel} is not in {self.path.name}")
            fn = getattr(self._lib, f"emu_{kernel}")
            fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
                ctypes.c_void_p if p.pointer else _CTYPES[p.dtype] for p in self._protos[kernel]]
            fn.restype = None
            self._functions[kernel] = fn
        return fn

    def launch(self, kernel, grid, block, values):
        """Run ``kernel`` over ``grid`` blocks of ``block`` threads; raises RuntimeError for
        what would hang or fail on a GPU (a barrier that cannot open, ...)."""
        self._lib.emu_take_error()  # nothing left over from an earlier launch
        self.function(kernel)(grid, block, *values)
        error = self._lib.emu_take_error()
        if error:
            raise RuntimeError(f"fakecupy: {error.decode()}")


def cuda_on_host(sources=None):
    """A :class:`CudaOnHost` of ``sources`` (default: every kernel source, built once per
    session)."""
    if sources is None:
        return _default_cuda_on_host()
    protos = {}
    for text in sources.values():
        protos.update(_parse_prototypes(text))
    return CudaOnHost(build_cuda_on_host(sources), protos)


@functools.lru_cache(maxsize=None)
def _default_cuda_on_host():
    return CudaOnHost(build_cuda_on_host(), prototypes())


def _cuda_library():
    """The library launches run on (a test may replace it, e.g. with a planted defect)."""
    return _default_cuda_on_host()


def _elf_functions(data):
    """Names of the FUNC symbols of an ELF64 little-endian file (a cubin)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise RuntimeError("fakecupy: not an ELF64 little-endian cubin "
                           "(CUDA_ERROR_INVALID_IMAGE)")
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    sections = []
    for i in range(shnum):
        h = data[shoff + i * shentsize: shoff + (i + 1) * shentsize]
        sections.append((int.from_bytes(h[4:8], "little"), int.from_bytes(h[0x18:0x20], "little"),
                         int.from_bytes(h[0x20:0x28], "little"), int.from_bytes(h[0x28:0x2C], "little")))
    names = set()
    for stype, off, size, link in sections:
        if stype != 2:  # SHT_SYMTAB
            continue
        str_off = sections[link][1]
        for k in range(off, off + size, 24):
            name_at = int.from_bytes(data[k:k + 4], "little")
            info = data[k + 4]
            if info & 0xF == 2:  # STT_FUNC
                end = data.index(b"\x00", str_off + name_at)
                names.add(data[str_off + name_at:end].decode())
    return names


class RawKernel:
    """A kernel of a loaded module; a call checks the arguments and runs the kernel's CUDA
    code over the launched grid and block."""

    def __init__(self, name, params):
        self.name = name
        self._params = params

    def _argument(self, k, p, v):
        where = f"{self.name} argument {k} ({p.name})"
        if p.pointer:
            if isinstance(v, ndarray):
                if v.dtype != p.dtype:
                    raise TypeError(f"{where}: array of {v.dtype} for a {p.dtype} pointer")
                if not v.flags.c_contiguous:
                    raise TypeError(f"{where}: the kernel indexes a C-contiguous array")
                return ctypes.c_void_p(v._a.ctypes.data if v.size else 0)
            if isinstance(v, np.uint64) and int(v) == 0:
                return ctypes.c_void_p(0)
            raise TypeError(f"{where}: expected a cupy.ndarray (or numpy.uint64(0) for NULL), "
                            f"got {type(v).__name__}")
        if isinstance(v, np.ndarray) or isinstance(v, ndarray):
            raise TypeError(f"{where}: an array where the kernel takes a {p.dtype} value")
        if not isinstance(v, np.generic) or v.dtype != p.dtype:
            raise TypeError(f"{where}: expected a numpy.{p.dtype} scalar (the C type's exact "
                            f"width), got {type(v).__name__}")
        return _CTYPES[p.dtype](v.item())

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
        if not (isinstance(grid, tuple) and isinstance(block, tuple)):
            raise TypeError(f"{self.name}: grid and block must be tuples (CuPy's Function "
                            f"takes tuple grid, tuple block); got {type(grid).__name__}, "
                            f"{type(block).__name__}")
        if not (1 <= len(grid) <= 3 and 1 <= len(block) <= 3):
            raise ValueError(f"{self.name}: grid and block must have 1 to 3 dimensions")
        if any(not isinstance(g, (int, np.integer)) or g < 1 for g in grid + block):
            raise ValueError(f"{self.name}: grid {grid} / block {block}: every size must be a "
                             "positive integer (CUDA_ERROR_INVALID_VALUE)")
        if int(np.prod(block)) > 1024:
            raise ValueError(f"{self.name}: block {block} has more than 1024 threads")
        if grid[0] >= 1 << 31 or any(int(g) > 65535 for g in grid[1:]):
            raise ValueError(f"{self.name}: grid {grid} exceeds CUDA's limits "
                             "(CUDA_ERROR_INVALID_VALUE)")
        if any(int(g) != 1 for g in grid[1:] + block[1:]):
            raise NotImplementedError(f"fakecupy: {self.name}: only 1-D launches are emulated "
                                      f"(grid {grid}, block {block})")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: kernel arguments must be a tuple")
        if len(args) != len(self._params):
            raise TypeError(f"{self.name} takes {len(self._params)} arguments "
                            f"({', '.join(p.name for p in self._params)}); got {len(args)}")
        values = [self._argument(k, p, v) for k, (p, v) in enumerate(zip(self._params, args))]
        scalars = {p.name: v.item() for p, v in zip(self._params, args) if not p.pointer}
        counters.launches.append(Launch(self.name, grid, block, scalars))
        _cuda_library().launch(self.name, int(grid[0]), int(block[0]), values)


class RawModule:
    """A module loaded from a cubin file (``path=``)."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc",
                 translate_cucomplex=False, enable_cooperative_groups=False,
                 name_expressions=None, jitify=False):
        if code is not None:
            raise RuntimeError("fakecupy: RawModule(code=...) compiles with '-ftz=true' appended "
                               "to the options (CuPy's cuda/compiler.py), so float32 denormals "
                               "would flush to zero on the GPU and not on the host build")
        if path is None:
            raise TypeError("RawModule needs code or path")
        self.file_path = path
        self._names = _elf_functions(Path(path).read_bytes())

    def get_function(self, name):
        if name not in self._names:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name}")
        protos = prototypes()
        if name not in protos:
            raise RuntimeError(f"fakecupy: no extern \"C\" prototype of {name} in the sources")
        return RawKernel(name, protos[name])


# ---------------------------------------------------------------------------
# cupy.cuda

#: the emulated device
DEVICE = dict(name=b"fakecupy H100 (emulated)", major=9, minor=0, multiProcessorCount=132,
              totalGlobalMem=80 << 30)


class CUDARuntimeError(RuntimeError):
    pass


class _Stream:
    def synchronize(self):
        counters.stream_syncs += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_STREAM = _Stream()


class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    @property
    def compute_capability(self):
        return f"{DEVICE['major']}{DEVICE['minor']}"

    @property
    def attributes(self):
        return {"MultiProcessorCount": DEVICE["multiProcessorCount"],
                "ComputeCapabilityMajor": DEVICE["major"],
                "ComputeCapabilityMinor": DEVICE["minor"]}

    @property
    def mem_info(self):
        return _runtime_memGetInfo()

    def synchronize(self):
        counters.stream_syncs += 1

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _runtime_memGetInfo():  # noqa: N802
    return DEVICE["totalGlobalMem"] - (1 << 30), DEVICE["totalGlobalMem"]


def _namespace(prefix, members):
    """A module-like namespace that refuses names outside CuPy's API."""
    for name in members:
        if f"{prefix}.{name}" not in API:
            raise AssertionError(f"fakecupy emulates {prefix}.{name}, which CuPy does not have")

    class _NS(types.SimpleNamespace):
        def __getattr__(self, name):
            if f"{prefix}.{name}" in API:
                raise AttributeError(f"fakecupy does not emulate {prefix}.{name}")
            raise AttributeError(f"module '{prefix}' has no attribute {name!r}")

    return _NS(**members)


runtime = _namespace("cupy.cuda.runtime", dict(
    getDeviceCount=lambda: 1,
    getDevice=lambda: 0,
    getDeviceProperties=lambda device: dict(DEVICE),
    memGetInfo=_runtime_memGetInfo,
    runtimeGetVersion=lambda: 12080,
    driverGetVersion=lambda: 12080,
    CUDARuntimeError=CUDARuntimeError,
))

cuda = _namespace("cupy.cuda", dict(
    runtime=runtime,
    Device=_Device,
    Stream=_Stream,
    get_current_stream=lambda device_id=-1: _STREAM,
))


def __getattr__(name):
    """Every other public CuPy name: numpy's function under CuPy's rules, else AttributeError."""
    qual = f"cupy.{name}"
    if qual not in API:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (not in CuPy's public API)")
    kind = API[qual][0]
    if kind in ("function", "ufunc"):
        return _function(name)
    value = getattr(np, name, None)
    if value is None or kind == "module":
        raise AttributeError(f"fakecupy does not emulate {qual}")
    return value  # dtypes and constants are numpy's in CuPy too


for _name in ("asarray", "array", "ascontiguousarray", "asnumpy", "empty", "zeros", "ones",
              "full", "get_default_memory_pool", "get_array_module", "RawModule", "RawKernel",
              "ndarray", "cuda"):
    assert f"cupy.{_name}" in API, _name
del _name
