"""Quick-look pictures of a drizzled product.

One PNG shows the final SCI image with an astronomical stretch (zscale
limits, asinh stretch), the weight map, and for every input chip its SCI
image with the pixels flagged as cosmic rays drawn in red.  The inputs and
their cosmic-ray masks are found from the product itself: the primary
header's ``D###DATA`` keywords name every input chip, and the CR masks are
the ``<rootname>_sci<chip>_crmask.fits`` files AstroDrizzle writes next to
the product (``clean=False``, the default).  Inputs that cannot be found
are left out of the picture; chips without a mask are drawn without one.

Plotting needs matplotlib (``pip install 'gpudrizzle[plot]'``); without it
:func:`write_preview` raises :class:`PlottingUnavailable`.

The picture is :data:`PANEL_PIXELS` wide per column, :data:`COLUMNS`
columns: one row for SCI and weight, then one row per :data:`COLUMNS` input
chips; :func:`picture_size` gives the size in pixels.
"""

import math
import os
import re
from typing import NamedTuple

import numpy as np

from . import files
from .inputs import open_fits, rootname_of

__all__ = ["PlottingUnavailable", "InputChip", "ProductImages", "COLUMNS", "PANEL_PIXELS",
           "check_plotting", "load_product", "picture_size", "write_preview"]

#: Panels per row of the picture.
COLUMNS = 4
#: Pixels of one panel (square) in the PNG.
PANEL_PIXELS = 400
#: Largest side (pixels) an image is shrunk to before it is drawn.
DISPLAY_LIMIT = 1200
_DPI = 100
_DATA_KEY = re.compile(r"^D(\d{3})DATA$")
_CHIP_SPEC = re.compile(r"^(?P<file>.+?)\[\s*sci\s*,\s*(?P<chip>\d+)\s*\]$", re.I)


class PlottingUnavailable(RuntimeError):
    """matplotlib is not installed."""


class InputChip(NamedTuple):
    """One input chip for the picture.

    Attributes
    ----------
    label : str
        ``file[sci,chip]``.
    sci : numpy.ndarray (ny, nx) float32
        The chip's SCI data.
    cr : numpy.ndarray (ny, nx) bool or None
        True where a cosmic ray was flagged; None when no mask was found.
    """

    label: str
    sci: np.ndarray
    cr: object


class ProductImages(NamedTuple):
    """What a picture of a product shows.

    Attributes
    ----------
    path : str
        The product.
    sci, wht : numpy.ndarray (ny, nx) float32
        Final image and weight map.
    inputs : list of InputChip
    """

    path: str
    sci: np.ndarray
    wht: np.ndarray
    inputs: list


def check_plotting():
    """Raise :class:`PlottingUnavailable` (saying what to install) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlottingUnavailable(
            "quick-look pictures need matplotlib: pip install 'gpudrizzle[plot]'") from None


def _image(path, extname, what="product"):
    """(float32 image, primary header) of the ``extname`` HDU, else of the primary HDU."""
    with open_fits(path, what, memmap=False) as hdul:
        hdu = hdul[extname] if extname in hdul else hdul[0]
        where = f"{path}[{extname}]" if extname in hdul else f"{path}[0]"
        if hdu.data is None:
            raise ValueError(f"{path} has no {extname} image")
        if hdu.data.ndim != 2 or hdu.data.dtype.kind not in "fiu":
            raise ValueError(f"{where}: not a 2-D image (shape {hdu.data.shape}, "
                             f"{hdu.data.dtype})")
        return np.asarray(hdu.data, dtype=np.float32), hdul[0].header


def _sibling(path, kind):
    """``x_drz_sci.fits`` -> ``x_drz_<kind>.fits``."""
    return re.sub(r"_sci\.fits$", f"_{kind}.fits", path)


def _find(name, directories):
    """First existing ``directory/name`` (``name`` itself when absolute), or None."""
    if os.path.isabs(name):
        return name if os.path.exists(name) else None
    for directory in directories:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _input_chips(primary, directory, input_dirs):
    """Input chips named by the ``D###DATA`` keywords, with their CR masks when present."""
    chips = []
    for key in sorted(k for k in primary if _DATA_KEY.match(k)):
        match = _CHIP_SPEC.match(str(primary[key]).strip())
        if not match:
            continue
        name, chip = match["file"], int(match["chip"])
        path = _find(name, [*input_dirs, directory, os.getcwd()])
        if path is None:
            continue
        with open_fits(path, memmap=False) as hdul:
            if ("SCI", chip) not in hdul:
                continue
            sci = np.asarray(hdul["SCI", chip].data, dtype=np.float32)
        mask_path = os.path.join(directory, f"{os.path.basename(rootname_of(name))}_sci{chip}_crmask.fits")
        cr = None
        if os.path.exists(mask_path):
            with open_fits(mask_path, "cosmic-ray mask", memmap=False) as hdul:
                cr = np.asarray(hdul[0].data) == 0  # AstroDrizzle's CR masks: 0 = cosmic ray
        chips.append(InputChip(f"{os.path.basename(name)}[sci,{chip}]", sci, cr))
    return chips


def load_product(path, input_dirs=()):
    """Read a drizzled product for :func:`write_preview`.

    Parameters
    ----------
    path : str
        A ``_drz.fits``/``_drc.fits`` product with SCI and WHT extensions
        (``build=True``), or a ``_drz_sci.fits`` file next to its
        ``_drz_wht.fits``.
    input_dirs : sequence of str, optional
        Where to look for the inputs before the product's directory and the
        current directory (the CR masks are looked for next to the product).

    Returns
    -------
    ProductImages

    Raises
    ------
    OSError
        The product (or its weight file) does not exist.
    ValueError
        The file holds no image.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such product: {path}")
    sci, primary = _image(path, "SCI")
    if path.endswith("_sci.fits"):
        wht_path = _sibling(path, "wht")
        if not os.path.isfile(wht_path):
            raise FileNotFoundError(f"weight map {wht_path} of {path} not found")
        wht, _ = _image(wht_path, "WHT", "weight map")
    else:
        wht, _ = _image(path, "WHT")
    directory = os.path.dirname(os.path.abspath(path))
    return ProductImages(path, sci, wht, _input_chips(primary, directory, list(input_dirs)))


def picture_size(n_inputs):
    """(width, height) in pixels of the picture of a product with ``n_inputs`` input chips."""
    rows = 1 + math.ceil(n_inputs / COLUMNS)
    return COLUMNS * PANEL_PIXELS, rows * PANEL_PIXELS


def _shrink(image, reduce):
    """Block-reduce ``image`` so its longest side is at most :data:`DISPLAY_LIMIT`."""
    factor = math.ceil(max(image.shape) / DISPLAY_LIMIT)
    if factor <= 1:
        return image
    ny, nx = (s // factor * factor for s in image.shape)
    blocks = image[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    return reduce(blocks, axis=(1, 3))


def _finite_mean(blocks, axis):
    """Mean of the finite values of each block; NaN for a block with none (no warning).

    Parameters
    ----------
    blocks : numpy.ndarray, shape (ny, f, nx, f), float
    axis : tuple of int
        The block axes, ``(1, 3)``.

    Returns
    -------
    numpy.ndarray, shape (ny, nx), float32
    """
    finite = np.isfinite(blocks)
    count = finite.sum(axis=axis)
    total = np.where(finite, blocks, 0.0).sum(axis=axis, dtype=np.float64)
    mean = np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
    return mean.astype(np.float32)


def _normalize(image):
    from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval

    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return None
    return ImageNormalize(finite, interval=ZScaleInterval(), stretch=AsinhStretch(0.1))


def _show(ax, image, title, cmap="gray", norm=None):
    import matplotlib.pyplot as plt

    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    colours = plt.get_cmap(cmap).with_extremes(bad="#3b1f4a")
    return ax.imshow(image, origin="lower", cmap=colours, norm=norm, interpolation="nearest")


def write_preview(images, output, title=None):
    """Draw the quick-look picture of a product into a PNG.

    Parameters
    ----------
    images : ProductImages
        From :func:`load_product`.
    output : str
        PNG file to write.
    title : str, optional
        Figure title (default: the product's file name).

    Returns
    -------
    str
        ``output``.

    Raises
    ------
    PlottingUnavailable
        matplotlib is not installed.
    """
    check_plotting()
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    width, height = picture_size(len(images.inputs))
    rows = height // PANEL_PIXELS
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    fig.suptitle(title or os.path.basename(images.path), fontsize=11)
    grid = fig.add_gridspec(rows, COLUMNS, left=0.02, right=0.98, bottom=0.02, top=0.93,
                            wspace=0.08, hspace=0.18)

    sci = _shrink(images.sci, _finite_mean)
    _show(fig.add_subplot(grid[0, 0:2]), sci, "final SCI (zscale, asinh)", norm=_normalize(sci))
    wht = _shrink(images.wht, np.mean)
    shown = _show(fig.add_subplot(grid[0, 2:4]), wht, "weight", cmap="viridis")
    fig.colorbar(shown, ax=shown.axes, fraction=0.04, pad=0.01)

    red = np.array([1.0, 0.1, 0.1, 1.0])
    for n, chip in enumerate(images.inputs):
        ax = fig.add_subplot(grid[1 + n // COLUMNS, n % COLUMNS])
        data = _shrink(chip.sci, _finite_mean)
        if chip.cr is None:
            _show(ax, data, f"{chip.label} (no CR mask)", norm=_normalize(data))
            continue
        cr = _shrink(chip.cr, np.any)
        _show(ax, data, f"{chip.label}: {int(chip.cr.sum())} CR px", norm=_normalize(data))
        overlay = np.zeros(cr.shape + (4,))
        overlay[cr] = red
        ax.imshow(overlay, origin="lower", interpolation="nearest")
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {output}: directory {directory} does not exist")
    with files.writing(output, kind="picture") as tmp:  # no partial picture on a failure
        fig.savefig(tmp, format="png", dpi=_DPI)
    return output
