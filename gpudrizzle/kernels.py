"""The compute kernels: where their source lives and what arguments they take.

One table describes every kernel's argument list; the ``cuda`` backend uses it
to cast and check arguments for CuPy launches and the ``cpu`` backend to set
ctypes argument types, so both call the same ``extern "C"`` entry with the
same arguments.
"""

import functools
import hashlib
import re
from importlib import resources

import numpy as np

from .choices import BLOT_INTERPOLANTS, DRIZZLE_KERNELS

__all__ = [
    "KERNELS",
    "SOURCE_FILES",
    "DRIZZLE_KERNELS",
    "BLOT_INTERPOLANTS",
    "PIXMAP_TABLE_SLOTS",
    "PIXMAP_TABLE_STRIDE",
    "BLOCK_KERNELS",
    "load_source",
    "source_constant",
    "sources_digest",
]

# Argument kinds: "<dtype>*" is a device array, "<dtype>*?" an array or None
# (null pointer), a bare dtype a scalar.
_DRIZZLE_ARGS = (
    ("data", "float32*"),
    ("weight", "float32*?"),
    ("pixmap", "float64*"),
    ("data2", "float32*?"),
    ("ndata2", "int32"),
    ("dq", "uint32*?"),
    ("in_nx", "int64"),
    ("in_ny", "int64"),
    ("xmin", "int64"),
    ("xmax", "int64"),
    ("ymin", "int64"),
    ("ymax", "int64"),
    ("out_nx", "int64"),
    ("out_ny", "int64"),
    ("iscale", "float64"),
    ("pscale_ratio", "float64"),
    ("pixfrac", "float64"),
    ("wht_scale", "float64"),
    ("acc", "float64*"),
    ("acc_w2d2", "float64*?"),
    ("out_dq", "uint32*?"),
    ("ctx", "int32*?"),
    ("ctx_bit", "int32"),
    ("line_miss", "int32*"),
    ("lut", "float64*?"),
    ("nlut", "int64"),
)

_MEAN_ARGS = (
    ("acc", "float64*"),
    ("w2d2", "float64*?"),
    ("base", "float32*?"),
    ("fill", "float64"),
    ("n", "int64"),
    ("out", "float32*"),
)

#: kernel name -> tuple of (argument name, kind)
KERNELS = {f"drizzle_{k}": _DRIZZLE_ARGS for k in DRIZZLE_KERNELS}
KERNELS["drizzle_mean"] = _MEAN_ARGS
KERNELS["drizzle_weight"] = (("acc", "float64*"), ("n", "int64"), ("out", "float32*"))

#: source file -> kernel names it defines
SOURCE_FILES = {"drizzle.cu": tuple(f"drizzle_{k}" for k in DRIZZLE_KERNELS)
                + ("drizzle_mean", "drizzle_weight")}

_BLOT_ARGS = (
    ("data", "float32*"),
    ("pixmap", "float64*"),
    ("out", "float32*"),
    ("in_nx", "int64"),
    ("in_ny", "int64"),
    ("out_nx", "int64"),
    ("out_ny", "int64"),
    ("iscale", "float64"),
    ("fillval", "float64"),
    ("sinscl", "float64"),
    ("lut", "float64*?"),
    ("nlut", "int64"),
)

KERNELS.update({f"blot_{k}": _BLOT_ARGS for k in BLOT_INTERPOLANTS})
SOURCE_FILES["blot.cu"] = tuple(f"blot_{k}" for k in BLOT_INTERPOLANTS)

#: Lookup-table slots of ``pixmap.cu`` (its ``PM_*`` enum), in order: two
#: per kind of table, the second used only when the kind's x and y tables
#: differ in geometry.  Each slot is PIXMAP_TABLE_STRIDE float64 values of
#: ``tab_params``: nx, ny (0 for an empty slot), ref_x, ref_y, origin_x,
#: origin_y, scale_x, scale_y (table coordinate = (pos - origin) * scale + ref
#: for 0-based pos) and the offset in ``tab_data`` of its (ny, nx, 2) table of
#: (dx, dy) offsets.
PIXMAP_TABLE_SLOTS = (
    "from_d2im", "from_d2im_2", "from_cpdis", "from_cpdis_2",
    "to_d2im", "to_d2im_2", "to_cpdis", "to_cpdis_2",
)
PIXMAP_TABLE_STRIDE = 9

_PIXMAP_ARGS = (
    ("cubic", "float64*"),
    ("jac", "float64*?"),
    ("minv", "float64*?"),
    ("ncx", "int64"),
    ("ncy", "int64"),
    ("cx0", "float64"),
    ("cy0", "float64"),
    ("step", "float64"),
    ("tab_data", "float64*?"),
    ("tab_params", "float64*?"),
    ("points", "float64*?"),
    ("nx", "int64"),
    ("x0", "int64"),
    ("y0", "int64"),
    ("n", "int64"),
    ("out", "float64*"),
    ("nan_count", "int32*?"),
)

_PIXMAP_LOOKUP_ARGS = (
    ("tab_data", "float64*"),
    ("tab_params", "float64*"),
    ("slot", "int32"),
    ("points", "float64*"),
    ("n", "int64"),
    ("out", "float64*"),
)

KERNELS["pixmap_interp"] = _PIXMAP_ARGS
KERNELS["pixmap_lookup"] = _PIXMAP_LOOKUP_ARGS
SOURCE_FILES["pixmap.cu"] = ("pixmap_interp", "pixmap_lookup")

#: Per-pixel reductions of ``median.cu`` (``combine_<kind>`` entries).
COMBINE_KERNELS = ("median", "mean", "imedian", "imean")

_COMBINE_ARGS = (
    ("data", "float32*"),  # (n_in, pitch), scratch: may be overwritten (n_in > 32)
    ("wht", "float32*?"),
    ("wthr", "float64*?"),
    ("n_in", "int64"),
    ("npix", "int64"),
    ("pitch", "int64"),
    ("nlow", "int32"),
    ("nhigh", "int32"),
    ("lthresh", "float64"),
    ("hthresh", "float64"),
    ("out", "float32*"),
)
KERNELS.update({f"combine_{k}": _COMBINE_ARGS for k in COMBINE_KERNELS})
KERNELS["combine_sum"] = (("data", "float32*"), ("n_in", "int64"), ("npix", "int64"),
                          ("pitch", "int64"), ("out", "float32*"))
KERNELS["combine_minmed_stats"] = (
    ("data", "float32*"),
    ("wht", "float32*"),
    ("wthr", "float64*?"),
    ("n_in", "int64"),
    ("npix", "int64"),
    ("pitch", "int64"),
    ("sky_rate", "float64*"),
    ("rn2", "float64*"),
    ("nsig1", "float64"),
    ("med", "float32*"),
    ("mn", "float32*"),
    ("wsum", "float32*"),
    ("rms", "float64*"),
    ("flags", "int32*"),
)
KERNELS["combine_minmed_select"] = (
    ("med", "float32*"),
    ("mn", "float32*"),
    ("wsum", "float32*"),
    ("rms", "float64*"),
    ("flags", "int32*"),
    ("nx", "int64"),
    ("nrows", "int64"),
    ("row0", "int64"),
    ("nout", "int64"),
    ("grow", "int32"),
    ("nsig1", "float64"),
    ("nsig2", "float64"),
    ("out", "float32*"),
)
SOURCE_FILES["median.cu"] = tuple(f"combine_{k}" for k in COMBINE_KERNELS) + (
    "combine_sum", "combine_minmed_stats", "combine_minmed_select")

KERNELS["crmask_tests"] = (
    ("sci", "float32*"),
    ("blot", "float32*"),
    ("nx", "int64"),
    ("ny", "int64"),
    ("conversion", "float64"),
    ("gain", "float64"),
    ("rn2", "float64"),
    ("backg", "float64"),
    ("snr1", "float64"),
    ("snr2", "float64"),
    ("scale1", "float64"),
    ("scale2", "float64"),
    ("tests", "uint8*"),
    ("deriv", "float32*?"),
)
KERNELS["crmask_neighbours"] = (("tests", "uint8*"), ("nx", "int64"), ("ny", "int64"),
                                ("cr", "uint8*"))
KERNELS["crmask_grow"] = (
    ("cr", "uint8*"),
    ("sci", "float32*?"),
    ("blot", "float32*?"),
    ("nx", "int64"),
    ("ny", "int64"),
    ("grow", "int32"),
    ("ctegrow", "int32"),
    ("cte_dir", "int32"),
    ("conversion", "float64"),
    ("crbit", "uint32"),
    ("dq", "uint32*?"),
    ("cor", "float32*?"),
    ("cor_dq", "uint32*?"),
    ("crmask", "uint8*"),
)
SOURCE_FILES["crmask.cu"] = ("crmask_tests", "crmask_neighbours", "crmask_grow")

KERNELS["stats_moments"] = (
    ("x", "float32*"),
    ("n", "int64"),
    ("chunk", "int64"),
    ("lo", "float64"),
    ("hi", "float64"),
    ("mean", "float64"),
    ("out", "float64*"),
)
KERNELS["stats_histogram"] = (
    ("x", "float32*"),
    ("n", "int64"),
    ("chunk", "int64"),
    ("lo", "float64"),
    ("hi", "float64"),
    ("include_top", "int32"),
    ("f", "float64"),
    ("nbins", "int64"),
    ("hist", "uint32*"),
)
KERNELS["stats_pick"] = KERNELS["stats_histogram"][:-1] + (
    ("bin", "int64"),
    ("offsets", "int64*"),
    ("out", "float32*"),
)
SOURCE_FILES["stats.cu"] = ("stats_moments", "stats_histogram", "stats_pick")

_FS_TAPS = (("taps", "float64*"), ("ntaps", "int64"), ("gsum", "float64"), ("g2sum", "float64"),
            ("npts", "float64"))
KERNELS["findstars_convolve"] = (("data", "float32*"), ("mask", "uint8*?"), ("nx", "int64"),
                                 ("ny", "int64")) + _FS_TAPS + (("conv", "float32*"),)
KERNELS["findstars_peaks"] = (
    ("conv", "float32*"),
    ("nx", "int64"),
    ("ny", "int64"),
    ("taps", "float64*"),
    ("ntaps", "int64"),
    ("bx", "int64"),
    ("by", "int64"),
    ("threshold", "float64"),
    ("peaks", "uint8*"),
)
KERNELS["findstars_measure"] = (
    ("data", "float32*"),
    ("mask", "uint8*?"),
    ("conv", "float32*"),
    ("nx", "int64"),
    ("ny", "int64"),
    ("idx", "int64*"),
    ("n", "int64"),
) + _FS_TAPS + (
    ("gauss", "float64*"),
    ("nxk", "int64"),
    ("nyk", "int64"),
    ("xsigsq", "float64"),
    ("ysigsq", "float64"),
    ("skymode", "float64"),
    ("noise", "float64"),
    ("e_axis", "float64"),
    ("e_diag", "float64"),
    ("out", "float64*"),
)
SOURCE_FILES["findstars.cu"] = ("findstars_convolve", "findstars_peaks", "findstars_measure")

#: Kernels whose work item is a whole thread block (``KernelBackend.launch``'s
#: ``n`` counts blocks: one block per chunk), rather than a single thread.
BLOCK_KERNELS = frozenset({"stats_moments", "stats_histogram", "stats_pick"})

_INCLUDE = re.compile(r'^#include "([^"]+)"\s*$', re.MULTILINE)


def load_source(name):
    """Return the text of kernel source ``name`` with local includes expanded.

    Parameters
    ----------
    name : str
        File name under ``gpudrizzle.cuda_kernels``, e.g. ``"drizzle.cu"``.

    Returns
    -------
    str
        Self-contained source that NVRTC and the host compiler both accept.
    """
    root = resources.files("gpudrizzle.cuda_kernels")
    seen = set()

    def expand(fname):
        if fname in seen:  # every header is include-once
            return ""
        seen.add(fname)
        text = (root / fname).read_text(encoding="utf-8")
        return _INCLUDE.sub(lambda m: expand(m.group(1)), text)

    return expand(name)


@functools.lru_cache(maxsize=None)
def source_constant(source, name):
    """The integer value of ``#define <name> <value>`` in kernel source ``source`` (includes
    expanded), e.g. ``source_constant("pixmap.cu", "PM_RUN")``; KeyError when absent."""
    m = re.search(rf"^#define {re.escape(name)} (\d+)\b", load_source(source), re.MULTILINE)
    if m is None:
        raise KeyError(f"no #define {name} in {source}")
    return int(m.group(1))


def sources_digest():
    """SHA-256 hex digest of all expanded kernel sources (cache key part)."""
    h = hashlib.sha256()
    for name in sorted(SOURCE_FILES):
        h.update(name.encode())
        h.update(load_source(name).encode())
    return h.hexdigest()


def parse_kind(kind):
    """Split an argument kind into (numpy dtype, is_array, nullable)."""
    nullable = kind.endswith("?")
    base = kind.rstrip("?")
    is_array = base.endswith("*")
    return np.dtype(base.rstrip("*")), is_array, nullable
