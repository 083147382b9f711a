"""Quick-look pictures of a drizzled product.

One PNG shows the final SCI image with an astronomical stretch (zscale
limits, asinh stretch) and the weight map, both on RA/Dec axes with colour
bars, the SCI image with a north-east compass and a scale bar in arcsec;
then for every input chip its SCI image with the pixels flagged as cosmic
rays by driz_cr drawn in red and the pixels flagged bad in the chip's DQ
drawn in blue (a cosmic-ray flag there is counted apart, "+N on DQ-bad px",
so that the two counts add up to the run's).  The inputs and their
cosmic-ray masks are found from the product itself: the primary header's
``D###DATA`` keywords name every input chip, and the CR masks are the
``<rootname>_sci<chip>_crmask.fits`` files AstroDrizzle writes next to the
product (``clean=False``, the default).  Inputs that cannot be found are
left out of the picture; chips without a mask are drawn without one.

The run's ``final_wht_type``, ``final_bits`` and ``crbit`` are read from
the log named by the product's ``DRIZPARS`` keyword when it is next to the
product; they say what the weight map's values mean (seconds of exposure
for ``EXP``, inverse variance for ``IVM``/``ERR``) and which DQ flags were
bad.  Without the log the weight is labelled as relative and every DQ flag
but ``crbit`` (4096) counts as bad.

Plotting needs matplotlib (``pip install 'gpudrizzle[plot]'``); without it
:func:`write_preview` raises :class:`PlottingUnavailable`.

The picture is :data:`PANEL_PIXELS` wide per column, :data:`COLUMNS`
columns, and :data:`PANEL_PIXELS` high per row: one row for SCI and
weight, then one row per :data:`COLUMNS` input chips; :func:`picture_size`
gives the size in pixels.  Within it the panels are sized to the images'
own shapes, so no panel is surrounded by empty space.
"""

import ast
import math
import os
import re
from typing import NamedTuple

import numpy as np

from . import files
from .bitflags import good_pixel_mask, interpret_bit_flags
from .inputs import open_fits, rootname_of

__all__ = ["PlottingUnavailable", "InputChip", "ProductImages", "COLUMNS", "PANEL_PIXELS",
           "WEIGHT_UNITS", "check_plotting", "load_product", "picture_size", "write_preview"]

#: Panels per row of the picture.
COLUMNS = 4
#: Pixels of one panel (square) in the PNG.
PANEL_PIXELS = 400
#: Largest side (pixels) an image is shrunk to before it is drawn.
DISPLAY_LIMIT = 1200
#: What the weight map holds, by ``final_wht_type`` (colour-bar label).
WEIGHT_UNITS = {
    "EXP": "exposure time (s)",
    "IVM": "inverse variance (1 / input units²)",
    "ERR": "1 / ERR² of the inputs (1 / input units²)",
    None: "relative weight (final_wht_type unknown)",
}
_DPI = 100
_DEFAULT_CRBIT = 4096
_DATA_KEY = re.compile(r"^D(\d{3})DATA$")
_CHIP_SPEC = re.compile(r"^(?P<file>.+?)\[\s*sci\s*,\s*(?P<chip>\d+)\s*\]$", re.I)
_LOG_PARAMETER = re.compile(r"\s(final_wht_type|final_bits|crbit) = (.*?)  \(\w+\)\s*$")
_RED = (1.0, 0.1, 0.1, 1.0)
_BLUE = (0.15, 0.55, 1.0, 1.0)


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
        True where driz_cr flagged a cosmic ray on a pixel that is not
        DQ-bad; None when no mask was found.
    dq_bad : numpy.ndarray (ny, nx) bool or None
        True where the chip's DQ holds a flag that was not accepted
        (``final_bits``), ``crbit`` aside; None without a DQ extension.
    cr_on_dq_bad : int
        Pixels driz_cr flagged that are DQ-bad (in its mask, and in the run's count of
        cosmic-ray pixels, but not in ``cr``).
    """

    label: str
    sci: np.ndarray
    cr: object
    dq_bad: object = None
    cr_on_dq_bad: int = 0


class ProductImages(NamedTuple):
    """What a picture of a product shows.

    Attributes
    ----------
    path : str
        The product.
    sci, wht : numpy.ndarray (ny, nx) float32
        Final image and weight map.
    inputs : list of InputChip
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the SCI image (None: plain pixel axes).
    bunit : str
        Units of the SCI image ("" when unknown).
    weight_type : str or None
        The run's ``final_wht_type`` ("EXP", "IVM", "ERR"), None when unknown.
    """

    path: str
    sci: np.ndarray
    wht: np.ndarray
    inputs: list
    wcs: object = None
    bunit: str = ""
    weight_type: object = None


def check_plotting():
    """Raise :class:`PlottingUnavailable` (saying what to install) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlottingUnavailable(
            "quick-look pictures need matplotlib: pip install 'gpudrizzle[plot]'") from None


def _image(path, extname, what="product"):
    """(float32 image, primary header, image header) of the ``extname`` HDU, else of the primary."""
    with open_fits(path, what, memmap=False) as hdul:
        hdu = hdul[extname] if extname in hdul else hdul[0]
        where = f"{path}[{extname}]" if extname in hdul else f"{path}[0]"
        if hdu.data is None:
            raise ValueError(f"{path} has no {extname} image")
        if hdu.data.ndim != 2 or hdu.data.dtype.kind not in "fiu":
            raise ValueError(f"{where}: not a 2-D image (shape {hdu.data.shape}, "
                             f"{hdu.data.dtype})")
        return np.asarray(hdu.data, dtype=np.float32), hdul[0].header, hdu.header


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


def _run_parameters(primary, directory):
    """``final_wht_type``, ``final_bits`` and ``crbit`` from the run's log, when it is there.

    Returns
    -------
    dict
        Those of the three names the log gives, as written there (str or int).
    """
    log = str(primary.get("DRIZPARS", "")).strip()
    path = os.path.join(directory, os.path.basename(log)) if log else ""
    found = {}
    if not path or not os.path.isfile(path):
        return found
    try:
        with open(path, errors="replace") as f:
            for line in f:
                match = _LOG_PARAMETER.search(line)
                if match and match[1] not in found:
                    try:
                        found[match[1]] = ast.literal_eval(match[2])
                    except (ValueError, SyntaxError):
                        found[match[1]] = match[2]
    except OSError:
        return {}
    return found


def _dq_bad(dq, accepted):
    """True where ``dq`` holds a flag outside ``accepted``; None without ``dq``."""
    if dq is None:
        return None
    return ~good_pixel_mask(np.asarray(dq), accepted)


def _input_chips(primary, directory, input_dirs, accepted):
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
            dq = hdul["DQ", chip].data if ("DQ", chip) in hdul else None
            bad = _dq_bad(dq, accepted) if dq is not None and dq.shape == sci.shape else None
        root = os.path.basename(rootname_of(name))
        mask_path = os.path.join(directory, f"{root}_sci{chip}_crmask.fits")
        cr, on_bad = None, 0
        if os.path.exists(mask_path):
            with open_fits(mask_path, "cosmic-ray mask", memmap=False) as hdul:
                cr = np.asarray(hdul[0].data) == 0  # AstroDrizzle's CR masks: 0 = cosmic ray
            if bad is not None and cr.shape == bad.shape:
                on_bad = int(np.count_nonzero(cr & bad))
                cr &= ~bad
        chips.append(InputChip(f"{os.path.basename(name)}[sci,{chip}]", sci, cr, bad, on_bad))
    return chips


def _celestial_wcs(header):
    """The header's celestial WCS, or None when it has none."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header).celestial
        except Exception:  # noqa: BLE001 - a header astropy cannot read is drawn on pixel axes
            return None
    return wcs if wcs.has_celestial and wcs.naxis == 2 else None


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
    sci, primary, sci_header = _image(path, "SCI")
    if path.endswith("_sci.fits"):
        wht_path = _sibling(path, "wht")
        if not os.path.isfile(wht_path):
            raise FileNotFoundError(f"weight map {wht_path} of {path} not found")
        wht, _, _ = _image(wht_path, "WHT", "weight map")
    else:
        wht, _, _ = _image(path, "WHT")
    directory = os.path.dirname(os.path.abspath(path))
    run = _run_parameters(primary, directory)
    try:
        crbit = int(run.get("crbit", _DEFAULT_CRBIT))
        accepted = interpret_bit_flags(run.get("final_bits", 0), "final_bits") or 0
    except (TypeError, ValueError):
        crbit, accepted = _DEFAULT_CRBIT, 0
    weight_type = str(run["final_wht_type"]).upper() if run.get("final_wht_type") else None
    chips = _input_chips(primary, directory, list(input_dirs), int(accepted) | crbit)
    return ProductImages(path, sci, wht, chips, _celestial_wcs(sci_header),
                         str(sci_header.get("BUNIT", "")).strip(), weight_type)


def picture_size(n_inputs):
    """(width, height) in pixels of the picture of a product with ``n_inputs`` input chips."""
    rows = 1 + math.ceil(n_inputs / COLUMNS)
    return COLUMNS * PANEL_PIXELS, rows * PANEL_PIXELS


def _factor(shape):
    """Block size that brings ``shape``'s longest side to at most :data:`DISPLAY_LIMIT`."""
    return max(1, math.ceil(max(shape) / DISPLAY_LIMIT))


def _shrink(image, reduce):
    """Block-reduce ``image`` so its longest side is at most :data:`DISPLAY_LIMIT`."""
    factor = _factor(image.shape)
    if factor <= 1:
        return image
    ny, nx = (s // factor * factor for s in image.shape)
    blocks = image[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    return reduce(blocks, axis=(1, 3))


def _shrunk_wcs(wcs, factor):
    """The WCS of an image block-reduced by ``factor`` from the lower-left corner.

    Block ``i`` (0-based) covers original pixels ``i*f .. i*f+f-1``, so a
    1-based reduced coordinate ``x'`` is ``(x - 0.5) / f + 0.5``.
    """
    if wcs is None or factor == 1:
        return wcs
    reduced = wcs.deepcopy()
    reduced.wcs.crpix = (np.asarray(wcs.wcs.crpix) - 0.5) / factor + 0.5
    if wcs.wcs.has_cd():
        reduced.wcs.cd = np.asarray(wcs.wcs.cd) * factor
    else:
        reduced.wcs.cdelt = np.asarray(wcs.wcs.cdelt) * factor
    reduced.wcs.set()
    return reduced


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


def _colours(cmap, bad="#3b1f4a"):
    """Colour map ``cmap`` with ``bad`` (default dark purple) for NaN pixels."""
    import matplotlib

    return matplotlib.colormaps[cmap].with_extremes(bad=bad)


def _show(ax, image, title, cmap="gray", norm=None):
    ax.set_title(title, fontsize=9)
    if not hasattr(ax, "coords"):  # plain axes: no pixel ticks (sky axes keep RA/Dec)
        ax.set_xticks([])
        ax.set_yticks([])
    return ax.imshow(image, origin="lower", cmap=_colours(cmap), norm=norm,
                     interpolation="nearest")


def _nice_length(limit):
    """Largest 1, 2 or 5 times a power of ten not above ``limit`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(limit))
    return max(m * power for m in (1, 2, 5) if m * power <= limit)


def _outlined(colour="#ffd21f"):
    from matplotlib import patheffects

    return {"color": colour, "path_effects": [patheffects.withStroke(linewidth=2.5,
                                                                     foreground="black")]}


def _degrees_per_pixel(wcs):
    """Mean pixel side of a celestial WCS in degrees."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    return float(np.mean(proj_plane_pixel_scales(wcs)))


def _compass(ax, wcs, shape):
    """North and east arrows in the upper-left corner of an image on ``wcs``."""
    from astropy import units as u

    ny, nx = shape
    length = 0.13 * min(nx, ny)
    base = np.array([0.06 * nx + length, 0.94 * ny - length])
    centre = wcs.pixel_to_world(*base)
    scale = _degrees_per_pixel(wcs)
    style = _outlined()
    for angle, letter in ((0, "N"), (90, "E")):
        tip = np.array(wcs.world_to_pixel(
            centre.directional_offset_by(angle * u.deg, 10 * scale * u.deg)), dtype=float)
        direction = (tip - base) / np.hypot(*(tip - base))
        end = base + length * direction
        ax.annotate("", xy=end, xytext=base, xycoords="data",
                    arrowprops={"arrowstyle": "-|>", "color": style["color"], "lw": 1.6,
                                "shrinkA": 0, "shrinkB": 0})
        label = base + 1.3 * length * direction
        ax.text(*label, letter, ha="center", va="center", fontsize=10, fontweight="bold",
                **style)


def _scale_bar(ax, wcs, shape):
    """A bar of a round number of arcsec in the lower-right corner of an image on ``wcs``."""
    ny, nx = shape
    arcsec_per_pixel = 3600.0 * _degrees_per_pixel(wcs)
    arcsec = _nice_length(0.25 * nx * arcsec_per_pixel)
    pixels = arcsec / arcsec_per_pixel
    x1, y = 0.95 * nx, 0.07 * ny
    style = _outlined()
    ax.plot([x1 - pixels, x1], [y, y], lw=3, solid_capstyle="butt", **style)
    text = f'{arcsec:g}"' if arcsec < 60 else f"{arcsec / 60:g}'"
    ax.text(x1 - pixels / 2, y + 0.025 * ny, text, ha="center", va="bottom", fontsize=9,
            **style)


class _Layout(NamedTuple):
    """Figure fractions (left, bottom, width, height) of every panel."""

    top: list       # two rectangles: SCI, weight
    colorbars: list  # two rectangles beside them
    chips: list     # one rectangle per input chip
    legend_y: float  # figure fraction of the line above the chips (None without chips)


def _layout(width, height, product_shape, chip_shapes):
    """Panels sized to the images' shapes within a ``width`` x ``height`` pixel picture.

    The top row holds SCI and weight side by side, each with room on its
    left for the Dec labels and on its right for a colour bar; the chips
    follow :data:`COLUMNS` to a row.  When the images at full panel width
    do not fit the picture's height, the chips keep at most half of it.
    """
    title, top_over, top_under = 40, 26, 58  # figure title, panel title, RA labels
    left, bar_room, right = 90, 110, 16
    chip_title, chip_gap, legend = 22, 10, 22
    top_width = width / 2 - left - bar_room - right
    top_aspect = product_shape[0] / product_shape[1]
    rows = [chip_shapes[i:i + COLUMNS] for i in range(0, len(chip_shapes), COLUMNS)]
    chip_width = width / COLUMNS - 2 * chip_gap
    row_aspects = [max(s[0] / s[1] for s in row) for row in rows]
    overhead = title + top_over + top_under + (legend + len(rows) * (chip_title + chip_gap)
                                               if rows else 0)
    room = max(height - overhead, 1.0)
    top_need, chips_need = top_width * top_aspect, chip_width * sum(row_aspects)
    if top_need + chips_need <= room:
        top_scale = chip_scale = 1.0
    else:
        chips_height = min(chips_need, max(0.5 * room, room - top_need))
        chip_scale = chips_height / chips_need if chips_need else 1.0
        top_scale = max(room - chips_height, 1.0) / top_need
    top_w, top_h = top_width * min(top_scale, 1.0), top_width * top_aspect * min(top_scale, 1.0)
    spare = room - top_h - chips_need * chip_scale  # what is left goes between the rows
    gap = max(spare, 0.0) / (len(rows) + 1)

    def frac(x, y, w, h):  # pixels from the top-left corner -> figure fraction rectangle
        return [x / width, 1 - (y + h) / height, w / width, h / height]

    y = title + top_over
    top, bars = [], []
    start = (width - 2 * (left + top_w + bar_room)) / 2  # the pair centred, side by side
    for column in range(2):
        x = start + left + column * (left + top_w + bar_room)
        top.append(frac(x, y, top_w, top_h))
        bars.append(frac(x + top_w + 12, y, 16, top_h))
    y += top_h + top_under + gap
    legend_y = 1 - (y + legend * 0.6) / height if rows else None
    y += legend if rows else 0
    chips = []
    for row, aspect in zip(rows, row_aspects):
        row_h = chip_width * aspect * chip_scale
        y += chip_title
        for n, shape in enumerate(row):
            w = chip_width * chip_scale
            h = w * shape[0] / shape[1]
            x = n * width / COLUMNS + chip_gap + (chip_width - w) / 2
            chips.append(frac(x, y + (row_h - h) / 2, w, h))
        y += row_h + chip_gap + gap
    return _Layout(top, bars, chips, legend_y)


def _sky_axes(fig, rect, wcs):
    """Axes with RA/Dec ticks when ``wcs`` is given, else plain axes."""
    if wcs is None:
        return fig.add_axes(rect)
    ax = fig.add_axes(rect, projection=wcs)
    ra, dec = ax.coords[0], ax.coords[1]
    ra.set_axislabel("RA", fontsize=8)
    dec.set_axislabel("Dec", fontsize=8, minpad=0.4)
    for coord in (ra, dec):
        coord.set_ticklabel(size=7)
        coord.set_ticks(number=4)
    ra.set_major_formatter("hh:mm:ss.s")
    dec.set_major_formatter("dd:mm:ss")
    ax.coords.grid(color="white", alpha=0.25, linestyle="dotted", linewidth=0.6)
    return ax


def _weight_title(images):
    covered = images.wht[np.isfinite(images.wht) & (images.wht > 0)]
    if images.weight_type == "EXP" and covered.size:
        return f"weight (EXP): exposure time, median {np.median(covered):.4g} s"
    if covered.size:
        kind = images.weight_type or "final_wht_type unknown"
        return f"weight ({kind}): median {np.median(covered):.4g}"
    return "weight: no pixel has data"


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
    OSError
        The PNG's directory does not exist.
    """
    check_plotting()
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {output}: directory {directory} does not exist")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    width, height = picture_size(len(images.inputs))
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    fig.suptitle(title or os.path.basename(images.path), fontsize=11, y=1 - 12 / height,
                 va="top")
    layout = _layout(width, height, images.sci.shape, [c.sci.shape for c in images.inputs])
    factor = _factor(images.sci.shape)
    wcs = _shrunk_wcs(images.wcs, factor)

    sci = _shrink(images.sci, _finite_mean)
    ax = _sky_axes(fig, layout.top[0], wcs)
    shown = _show(ax, sci, "final SCI (zscale, asinh)", norm=_normalize(sci))
    bar = fig.colorbar(shown, cax=fig.add_axes(layout.colorbars[0]))
    bar.set_label(images.bunit or "SCI", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if wcs is not None:
        _compass(ax, wcs, sci.shape)
        _scale_bar(ax, wcs, sci.shape)

    wht = _shrink(images.wht, np.mean)
    ax = _sky_axes(fig, layout.top[1], wcs)
    top = float(np.nanmax(wht)) if np.isfinite(wht).any() else 1.0
    from matplotlib.colors import Normalize

    shown = _show(ax, wht, _weight_title(images), cmap="viridis",
                  norm=Normalize(0.0, top if top > 0 else 1.0))
    bar = fig.colorbar(shown, cax=fig.add_axes(layout.colorbars[1]))
    bar.set_label(WEIGHT_UNITS.get(images.weight_type, WEIGHT_UNITS[None]), fontsize=8)
    bar.ax.tick_params(labelsize=7)

    if images.inputs:
        fig.text(0.5, layout.legend_y, "inputs: red = cosmic rays flagged by driz_cr,  "
                 "blue = flagged bad in DQ (cosmic rays there counted apart: +N)",
                 ha="center", va="center", fontsize=9)
    for chip, rect in zip(images.inputs, layout.chips):
        ax = fig.add_axes(rect)
        data = _shrink(chip.sci, _finite_mean)
        overlay = np.zeros(data.shape + (4,))
        if chip.dq_bad is not None and chip.dq_bad.shape == chip.sci.shape:
            overlay[_shrink(chip.dq_bad, np.any)] = _BLUE
        if chip.cr is None:
            label = f"{chip.label} (no CR mask)"
        else:
            overlay[_shrink(chip.cr, np.any)] = _RED
            label = f"{chip.label}: {int(chip.cr.sum())} CR px"
            if chip.cr_on_dq_bad:  # so that the two add up to the run's count
                label += f" (+{chip.cr_on_dq_bad} on DQ-bad px)"
        _show(ax, data, label, norm=_normalize(data))
        ax.title.set_fontsize(8)
        ax.imshow(overlay, origin="lower", interpolation="nearest")
    with files.writing(output, kind="picture") as tmp:  # no partial picture on a failure
        fig.savefig(tmp, format="png", dpi=_DPI)
    return output
