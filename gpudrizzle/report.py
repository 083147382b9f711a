"""What ran where: the JSON run report and the ``gpudrizzle info`` summary.

:func:`run_report` turns an :class:`gpudrizzle.astrodrizzle.AstroDrizzleResult`
into plain JSON data (backend, device, per-step times, sky values, cosmic-ray
pixel counts, output frame, files written); :func:`write_report` stores it.
:func:`system_info` collects the version, every backend's availability (or
why not), the GPU CuPy sees and the compiler of the ``cpu`` backend.
"""

import json
import os
import platform
import resource
import sys

import numpy as np
from astropy.io import fits

from .backends import BACKENDS, backend_status, get_backend
from .outframe import orientation, pixel_scale
from .files import write_text

__all__ = ["device_description", "software_versions", "run_report", "product_figures",
           "write_report", "report_path", "system_info"]


def _version():
    from . import __version__

    return __version__


def _gpu_details():
    """:func:`gpudrizzle.backends.cuda.device_info` of the current device, or None."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        from .backends.cuda import device_info

        return device_info()
    except Exception:  # no CuPy, no driver, no device: all mean "no GPU here"
        return None


def _nvrtc():
    """NVRTC version the cuda backend compiles with (``"13.5"``), or why there is none."""
    from .backends import nvrtc

    try:
        return {"version": nvrtc.nvrtc_version(), "reason": None}
    except Exception as exc:  # RuntimeError from nvrtc_version, or a broken install
        return {"version": None, "reason": str(exc)}


def _kernel_cache():
    """Where compiled kernels are kept: host library directory and cubin directory (or why
    there is none)."""
    from .backends.cpu import cache_dir
    from .backends.nvrtc import cubin_dir

    try:
        return {"host": str(cache_dir()), "cubin": str(cubin_dir())}
    except RuntimeError as exc:  # no writable cache at all: info still answers
        return {"host": str(exc), "cubin": str(exc)}


def _compiler():
    """(path, version line) of the cpu backend's compiler, or the reason there is none."""
    from .backends.cpu import compiler_info

    try:
        return compiler_info()
    except RuntimeError as exc:
        return str(exc)


def device_description(backend_name):
    """Human-readable device of a backend, e.g. ``"NVIDIA H100 80GB HBM3"``.

    Parameters
    ----------
    backend_name : {"cuda", "cpu", "numpy"}

    Returns
    -------
    str
    """
    cores = os.cpu_count() or 1
    if backend_name == "cuda":
        return getattr(get_backend("cuda"), "device_name", "CUDA device")
    if backend_name == "cpu":
        compiler = _compiler()
        what = compiler[1] if isinstance(compiler, tuple) else "host compiler"
        return f"host CPU, {cores} core(s), kernels built by {what}"
    return f"host CPU, {cores} core(s), numpy reference kernels"


def _frame(wcs):
    if wcs is None:
        return None
    ny, nx = wcs.array_shape
    return {
        "shape": [int(ny), int(nx)],
        "ctype": [str(c) for c in wcs.wcs.ctype],
        "crval": [float(v) for v in wcs.wcs.crval],
        "crpix": [float(v) for v in wcs.wcs.crpix],
        "pixel_scale_arcsec": float(pixel_scale(wcs)),
        "orientation_deg": float(orientation(wcs)),
    }


def software_versions(backend_name):
    """Versions of gpudrizzle, Python and the libraries a run on a backend uses.

    Parameters
    ----------
    backend_name : {"cuda", "cpu", "numpy"}

    Returns
    -------
    dict
        ``gpudrizzle``, ``python``, ``numpy``, ``astropy``, ``scipy``; on
        cuda also ``cupy`` and ``nvrtc``.
    """
    import astropy
    import scipy

    out = {"gpudrizzle": _version(), "python": sys.version.split()[0],
           "numpy": np.__version__, "astropy": astropy.__version__, "scipy": scipy.__version__}
    if backend_name == "cuda":
        out["cupy"] = getattr(sys.modules.get("cupy"), "__version__", None)
        out["nvrtc"] = _nvrtc()["version"]
    return out


def _peak_rss_mib():
    """Peak resident memory of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 1024), 1)


def _science_and_weight(products):
    """(SCI, WHT) arrays of a run's final product (one file or the _sci/_wht pair), or None."""
    by_kind = {}
    for path in products:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
            if "SCI" in names and "WHT" in names:
                return hdul["SCI"].data, hdul["WHT"].data
            for kind in ("sci", "wht"):
                if path.endswith(f"_{kind}.fits"):
                    by_kind[kind] = hdul[0].data
    if "sci" in by_kind and "wht" in by_kind:
        return by_kind["sci"], by_kind["wht"]
    return None


def product_figures(products):
    """What a user checks first in a product: coverage, NaNs and the noise.

    Parameters
    ----------
    products : list of str
        The final products of a run.

    Returns
    -------
    dict or None
        ``pixels``; ``covered`` (WHT > 0); ``nan_covered`` (NaN SCI where
        WHT > 0: should be 0); ``nan_total``; ``sci_median`` and
        ``noise_sigma`` (1.4826 x the median absolute deviation of SCI over
        covered pixels, a robust sigma); ``wht_median`` over covered pixels.
        None when the run wrote no SCI/WHT product.
    """
    arrays = _science_and_weight(products) if products else None
    if arrays is None:
        return None
    sci, wht = (np.asarray(a, dtype=np.float64) for a in arrays)
    covered = wht > 0
    good = sci[covered & np.isfinite(sci)]
    median = float(np.median(good)) if good.size else None
    return {
        "pixels": int(sci.size),
        "covered": int(np.count_nonzero(covered)),
        "nan_covered": int(np.count_nonzero(covered & ~np.isfinite(sci))),
        "nan_total": int(np.count_nonzero(~np.isfinite(sci))),
        "sci_median": median,
        "noise_sigma": float(1.4826 * np.median(np.abs(good - median))) if good.size else None,
        "wht_median": float(np.median(wht[covered])) if covered.any() else None,
    }


def _chip_key(key):
    rootname, chip = key
    return f"{os.path.basename(rootname)}[sci,{chip}]"


def run_report(result, parameters=None):
    """JSON-ready summary of a run.

    Parameters
    ----------
    result : gpudrizzle.astrodrizzle.AstroDrizzleResult
    parameters : mapping, optional
        Parameters the user set (recorded as given, converted to strings
        where JSON cannot hold them).

    Returns
    -------
    dict
        ``software``, ``backend``, ``device``, ``timings_s`` (step ->
        seconds), ``total_s``, ``peak_rss_mib`` (this process's peak
        resident memory), ``versions`` (gpudrizzle, Python, numpy, astropy,
        scipy; CuPy and NVRTC on cuda), ``sky`` and ``cr_pixels``
        (``"root[sci,n]"`` -> value), ``inputs`` (per input chip: ``file``,
        ``extension``, ``exptime``, ``filter``, ``sky``, ``cr_pixels``),
        ``output_frame`` (shape, ctype, crval,
        crpix, pixel scale, orientation), ``product`` (see
        :func:`product_figures`), ``products``, ``intermediates``,
        ``runfile``, ``parameters``.
    """
    timings = dict(result.timings or {})
    return {
        "software": f"gpudrizzle {_version()}",
        "backend": result.backend,
        "device": device_description(result.backend),
        "versions": software_versions(result.backend),
        "peak_rss_mib": _peak_rss_mib(),
        "timings_s": {k: round(float(v), 6) for k, v in timings.items()},
        "total_s": round(float(sum(timings.values())), 6),
        "sky": {_chip_key(k): float(v) for k, v in result.sky.items()},
        "cr_pixels": {_chip_key(k): int(v) for k, v in result.cr_pixels.items()},
        "inputs": [dict(facts) for facts in result.inputs],
        "output_frame": _frame(result.output_wcs),
        "product": product_figures(list(result.products)),
        "products": list(result.products),
        "intermediates": list(result.intermediates),
        "runfile": result.runfile,
        "parameters": {k: v if isinstance(v, (bool, int, float, str, type(None))) else str(v)
                       for k, v in (parameters or {}).items()},
    }


def report_path(products):
    """Default report file of a run: ``<root>_drz_report.json`` next to the first product."""
    first = products[0]
    stem = first[:-5] if first.endswith(".fits") else first
    for kind in ("_sci", "_wht", "_ctx", "_err"):
        if stem.endswith(kind):
            stem = stem[: -len(kind)]
    return stem + "_report.json"


def write_report(report, path):
    """Write a report (from :func:`run_report`) as indented JSON; return ``path``."""
    text = json.dumps(report, indent=2,
                      default=lambda v: v.item() if isinstance(v, np.generic) else str(v)) + "\n"
    return write_text(path, text, kind="report")


def system_info():
    """What ``gpudrizzle info`` shows.

    Returns
    -------
    dict
        ``version``, ``python``, ``platform``, ``backends`` (name -> None if
        usable else the reason, in the order ``auto`` tries them),
        ``default_backend`` (what ``auto``/``$GPUDRIZZLE_BACKEND`` gives, or
        the error), ``cuda_device`` (None, or ``name``, ``compute_capability``, ``total_memory``,
        ``free_memory``, ``multiprocessors``, ``runtime_version``,
        ``driver_version``), ``nvrtc`` (``version`` or None, ``reason``
        or None), ``kernel_cache`` (``host`` and ``cubin`` directories),
        ``compiler`` ((path, version) or the reason), ``plotting``
        (matplotlib version or None).
    """
    status = backend_status()
    try:
        default = get_backend().name
    except (RuntimeError, ValueError) as exc:
        default = f"error: {exc}"
    try:
        import matplotlib

        plotting = matplotlib.__version__
    except ImportError:
        plotting = None
    return {
        "version": _version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "backends": {name: status[name] for name in BACKENDS},
        "default_backend": default,
        "cuda_device": _gpu_details(),
        "nvrtc": _nvrtc(),
        "kernel_cache": _kernel_cache(),
        "compiler": _compiler(),
        "plotting": plotting,
    }
