"""A mosaic's cell cores pasted into one image per frame, without resampling again.

The cells of a tile grid are windows of one output frame, and the sky cells
of one HAP projection cell share its projection and pixel grid: their
frames differ only by a whole-pixel shift of the reference pixel.  Pasting
copies each cell's *core* (its own pixels, :class:`gpudrizzle.skycells.SkyCell`)
from its product into one image over the cores' bounding box, so that the
pasted pixels are the cell products' pixels, bit for bit; where no cell
core lies SCI and ERR are NaN and WHT is 0.  CTX is not pasted: each cell
numbers its own input chips.

The image is written a band of rows at a time (memory: one band, not the
frame) into a temporary file that is renamed into place when complete.
"""

import os
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from . import files
from .inputs import open_fits
from .mosaic import MANIFEST_NAME, load_plan
from .products import check_targets, image_header

__all__ = ["PASTED_EXTENSIONS", "paste_cells"]

#: Extensions pasted from the cell products, with the value where no core lies.
PASTED_EXTENSIONS = {"SCI": np.nan, "WHT": 0.0, "ERR": np.nan}


@dataclass(frozen=True)
class _Piece:
    """A cell's core in the pasted image: its product and the rows and columns of both."""

    product: str
    x0: int  # core in the cell's own pixels, x1 / y1 exclusive
    y0: int
    x1: int
    y1: int
    dx: int  # cell pixel (x, y) is pasted pixel (x + dx, y + dy)
    dy: int


def _frame_key(w):
    """What cells pasted together must share: projection, reference point, pixel matrix."""
    return (tuple(w.wcs.ctype), tuple(np.round(w.wcs.crval, 12)),
            tuple(np.round(np.asarray(w.pixel_scale_matrix).ravel(), 15)))


def _group_name(cell):
    """``mosaic`` for a tile grid; ``skycell-pPPPP`` (and the layer) for HAP sky cells."""
    if cell.layer == "tiles":
        return "mosaic"
    stem = cell.name.split("x")[0] if cell.name.startswith("skycell-p") else cell.name
    return f"{stem}_{cell.layer.replace('.', 'p')}"


def _groups(doc):
    """{name: (reference SkyCell, [(SkyCell, product path)])}, cells of one frame together."""
    groups = {}
    for cell, _ in doc["cells"].values():
        product = os.path.join(doc["outdir"], cell.name, f"{cell.name}_drz.fits")
        name = _group_name(cell)
        ref, cells = groups.setdefault(name, (cell, []))
        if _frame_key(cell.wcs) != _frame_key(ref.wcs):
            raise ValueError(f"cells {ref.name} and {cell.name} of {name} have different "
                             "projections or pixel grids: not pasted")
        cells.append((cell, product))
    return groups


def _pieces(ref, cells):
    """(pieces, (x0, y0, nx, ny) of the cores' bounding box in the reference cell's pixels)."""
    shifted = []
    for cell, product in cells:
        shift = np.asarray(ref.wcs.wcs.crpix) - np.asarray(cell.wcs.wcs.crpix)
        whole = np.round(shift)
        if np.abs(shift - whole).max() > 1e-6:
            raise ValueError(f"cell {cell.name} is not a whole-pixel shift of cell {ref.name} "
                             f"(reference pixels differ by {shift.tolist()}): not pasted")
        x0, y0, x1, y1 = cell.core
        shifted.append((cell, product, int(whole[0]), int(whole[1]), x0, y0, x1, y1))
    bx0 = min(s[2] + s[4] for s in shifted)
    by0 = min(s[3] + s[5] for s in shifted)
    bx1 = max(s[2] + s[6] for s in shifted)
    by1 = max(s[3] + s[7] for s in shifted)
    pieces = [_Piece(product, x0, y0, x1, y1, dx - bx0, dy - by0)
              for _, product, dx, dy, x0, y0, x1, y1 in shifted]
    return pieces, (bx0, by0, bx1 - bx0, by1 - by0)


def _check_done(doc, cells):
    """ValueError naming every cell without a finished product (manifest and file)."""
    missing = [cell.name for cell, product in cells
               if not (os.path.exists(os.path.join(doc["outdir"], cell.name, MANIFEST_NAME))
                       and os.path.exists(product))]
    if missing:
        text = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} cell(s) have no finished product ({text}): run the "
                         "mosaic (it redoes failed cells) before pasting")


def _write_extension(stream, pieces, ext, fill, shape, band_rows):
    """Extension ``ext`` of the pasted image (``shape`` (ny, nx)) into ``stream``, a band of
    ``band_rows`` rows at a time.  Each product is opened once, when its first rows are
    needed, and closed after its last."""
    ny, nx = shape
    opened = {}  # product -> its HDUList, while its rows are being pasted
    try:
        for v0 in range(0, ny, band_rows):
            v1 = min(v0 + band_rows, ny)
            band = np.full((v1 - v0, nx), fill, dtype=">f4")
            for p in pieces:
                r0, r1 = max(p.y0 + p.dy, v0), min(p.y1 + p.dy, v1)
                if r0 >= r1:
                    continue
                if p.product not in opened:
                    opened[p.product] = open_fits(p.product, "cell product")
                    if ext not in opened[p.product]:
                        raise ValueError(f"{p.product}: no {ext} extension to paste")
                data = opened[p.product][ext].section[r0 - p.dy:r1 - p.dy, p.x0:p.x1]
                band[r0 - v0:r1 - v0, p.x0 + p.dx:p.x1 + p.dx] = data
                if r1 == p.y1 + p.dy:
                    opened.pop(p.product).close()
            stream.write(band)
    finally:
        for hdul in opened.values():
            hdul.close()


def paste_cells(plan_path, *, overwrite=False, band_rows=512) -> list[str]:
    """Paste the cores of a mosaic's finished cells into one image per frame.

    Parameters
    ----------
    plan_path : str
        The mosaic's ``mosaic_plan.json`` (:func:`gpudrizzle.mosaic.plan`);
        every cell must have its ``build=True`` product and manifest
        (:func:`gpudrizzle.mosaic.run`).
    overwrite : bool
        Replace existing pasted images.
    band_rows : int
        Rows of the pasted image held in memory at a time.

    Returns
    -------
    list of str
        ``<outdir>/<frame>_drz.fits`` per frame: ``mosaic`` for a tile grid,
        ``skycell-pPPPP_<layer>`` per HAP projection cell and layer.  PRIMARY
        holds ``NCELLS`` and one ``CELLnnnn`` keyword per cell; SCI, WHT and
        ERR (float32) the cores, with the frame's WCS over their bounding
        box.

    Raises
    ------
    ValueError
        A cell without a finished product, a product without SCI, WHT or
        ERR, cells of one grid that are not whole-pixel shifts of each other,
        or ``band_rows`` < 1.
    FileExistsError
        A pasted image exists and ``overwrite`` is False.
    OSError
        A cell product that cannot be read (truncated, not FITS: the message
        names it), or the image cannot be written; the temporary file is
        removed and an earlier image is left as it was.
    """
    if not (isinstance(band_rows, (int, np.integer)) and band_rows >= 1):
        raise ValueError(f"'band_rows' must be a positive integer; got {band_rows!r}")
    doc = load_plan(plan_path)
    groups = _groups(doc)
    for _, cells in groups.values():
        _check_done(doc, cells)
    paths = {name: os.path.join(doc["outdir"], f"{name}_drz.fits") for name in groups}
    check_targets(list(paths.values()), overwrite, "pasted image")
    for name, (ref, cells) in groups.items():
        pieces, (bx0, by0, nx, ny) = _pieces(ref, cells)
        wcs = ref.wcs.deepcopy()
        wcs.wcs.crpix = np.asarray(ref.wcs.wcs.crpix) - [bx0, by0]
        wcs.pixel_shape = (nx, ny)
        with open_fits(pieces[0].product, "cell product") as first:
            bunit = first["SCI"].header.get("BUNIT") if "SCI" in first else None
        primary = fits.Header()
        primary["NCELLS"] = (len(cells), "sky cells whose cores are pasted here")
        for k, (cell, _) in enumerate(cells, 1):
            primary[f"CELL{k:04d}"] = cell.name
        with files.writing(paths[name], overwrite, True, "pasted image") as tmp:
            fits.PrimaryHDU(header=primary).writeto(tmp, overwrite=True)
            for ext, fill in PASTED_EXTENSIONS.items():
                h = image_header(wcs, extname=ext, bunit=bunit if ext != "WHT" else None)
                h.insert(0, ("XTENSION", "IMAGE"))
                h.insert(1, ("BITPIX", -32))
                h.insert(2, ("NAXIS", 2))
                h.insert(3, ("NAXIS1", nx))
                h.insert(4, ("NAXIS2", ny))
                h.insert(5, ("PCOUNT", 0))
                h.insert(6, ("GCOUNT", 1))
                with fits.StreamingHDU(tmp, h) as stream:
                    _write_extension(stream, pieces, ext, fill, (ny, nx), band_rows)
    return list(paths.values())
