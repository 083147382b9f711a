"""Backend selection: ``cuda`` > ``cpu`` > ``numpy``.

``get_backend("auto")`` (the default, or ``$GPUDRIZZLE_BACKEND``) takes the
first backend that works here and logs the choice (a fall back to the slow
``numpy`` backend is a warning, once per process); asking for a backend that
cannot run raises RuntimeError with the reason.
"""

from __future__ import annotations

import functools
import logging
import os
import sys

import numpy as np

from .base import Backend

__all__ = ["BACKENDS", "Backend", "get_backend", "backend_status", "host_array", "is_device_array"]

log = logging.getLogger("gpudrizzle")

#: Backend names in the order ``auto`` tries them.
BACKENDS = ("cuda", "cpu", "numpy")


def _make(name):
    if name == "cuda":
        from .cuda import CudaBackend, unavailable_reason

        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        return CudaBackend()
    if name == "cpu":
        from .cpu import CpuBackend

        return CpuBackend()
    from .numpy_backend import NumpyBackend

    return NumpyBackend()


@functools.lru_cache(maxsize=None)
def _cached(name):
    return _make(name)


def get_backend(backend=None) -> Backend:
    """Return a backend object.

    Parameters
    ----------
    backend : {"auto", "cuda", "cpu", "numpy"}, Backend or None
        None means ``$GPUDRIZZLE_BACKEND``, else ``"auto"``.  A Backend
        instance is returned as is.

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        When the named backend cannot run here (the message says why).

    Examples
    --------
    >>> from gpudrizzle.backends import get_backend
    >>> b = get_backend("numpy")
    >>> b.name, get_backend(b) is b
    ('numpy', True)
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        backend = os.environ.get("GPUDRIZZLE_BACKEND", "auto")
    if not isinstance(backend, str) or backend.lower() not in ("auto",) + BACKENDS:
        raise ValueError(
            f"backend must be one of 'auto', {', '.join(map(repr, BACKENDS))}; got {backend!r}"
        )
    name = backend.lower()
    if name != "auto":
        return _cached(name)
    reasons = []
    for candidate in BACKENDS:
        try:
            chosen = _cached(candidate)
        except RuntimeError as exc:
            reasons.append(f"{candidate}: {exc}")
            continue
        if candidate == "numpy":
            _warn_numpy("; ".join(reasons))
        elif reasons:
            log.info("backend auto -> %s (%s)", candidate, "; ".join(reasons))
        else:
            log.info("backend auto -> %s", candidate)
        return chosen
    raise RuntimeError("no backend can run: " + "; ".join(reasons))  # numpy always can


@functools.lru_cache(maxsize=None)
def _warn_numpy(reasons):
    """One warning per process (and reason) when ``auto`` falls back to numpy."""
    log.warning("backend auto -> numpy, the slow reference backend (%s); 'gpudrizzle info' "
                "shows the backends of this machine", reasons)


def backend_status() -> dict[str, str | None]:
    """Return {name: None if usable else the reason} for every backend."""
    status = {}
    for name in BACKENDS:
        try:
            _cached(name)
            status[name] = None
        except RuntimeError as exc:
            status[name] = str(exc)
    return status


def is_device_array(a) -> bool:
    """True for a CuPy array (device memory: no implicit conversion to numpy)."""
    cupy = sys.modules.get("cupy")  # never imported here: an array of it implies it is loaded
    return cupy is not None and isinstance(a, cupy.ndarray)


def host_array(a) -> np.ndarray:
    """``a`` as a numpy array: CuPy arrays are copied from the device, others as ``numpy.asarray``."""
    if is_device_array(a):
        return sys.modules["cupy"].asnumpy(a)
    return np.asarray(a)
