"""gpudrizzle: the drizzle algorithm and the AstroDrizzle steps on GPUs, with CPU fallback."""

from importlib.metadata import PackageNotFoundError, version

from .backends import get_backend
from .blot import blot_image
from .resample import Drizzle
from .utils import calc_pixmap, decode_context

try:
    __version__ = version("gpudrizzle")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["Drizzle", "blot_image", "calc_pixmap", "decode_context", "get_backend", "__version__"]
