"""Compare two drizzled products on the same output frame: the SCI difference in noise
units, the WHT ratio and the CTX agreement, with an optional difference picture.

    gpudrizzle compare A_drz.fits B_drz.fits [--picture OUT.png] [--full-weight 0.9]

Both products must hold SCI and WHT images on the same output frame (same
shape, same WCS); ``_drz_sci.fits`` files are read with their
``_drz_wht.fits``/``_drz_ctx.fits`` siblings.  Pixels where both SCI
values are finite are compared:

* SCI: ``|B - A| / sigma`` (median, 99th percentile, maximum) over the
  pixels of full weight (A's WHT at least ``full_weight`` times its 99th
  percentile), where ``sigma`` is B's ERR image, else A's, else a robust
  (MAD) noise of A's full-weight pixels; the mean of ``B - A`` and the
  ratio of the summed fluxes B / A there;
* WHT: ratio B / A (median, 1st and 99th percentile) where A's WHT > 0,
  and the number of pixels with weight in one product only;
* CTX: the fraction of identical context values, when both have one.

These are the statistics ``benchmarks/compare_astrodrizzle.py`` prints for
drizzlepac's product (A) against gpudrizzle's (B).  The picture shows A,
B on A's stretch, ``(B - A) / sigma`` and the WHT ratio on RA/Dec axes
(pixels without data: purple in A and B, grey in the other two).
"""

import os
from typing import NamedTuple

import numpy as np

from . import files
from .inputs import open_fits

__all__ = ["Product", "Comparison", "read_product", "compare_products", "comparison_rows",
           "format_rows", "write_difference_picture", "add_arguments", "run_from_args"]

_PANEL = 400
_DPI = 100


class Product(NamedTuple):
    """The images of a drizzled product.

    Attributes
    ----------
    path : str
    sci, wht : numpy.ndarray (ny, nx) float64
    ctx : numpy.ndarray (ny, nx) or (planes, ny, nx) int, or None
    err : numpy.ndarray (ny, nx) float64 or None
    header : astropy.io.fits.Header
        The SCI image's header (its WCS).
    """

    path: str
    sci: np.ndarray
    wht: np.ndarray
    ctx: object
    err: object
    header: object


class Comparison(NamedTuple):
    """Statistics of B against A (see the module docstring).

    Attributes
    ----------
    shape : (int, int)
    compared : int
        Pixels where both SCI values are finite.
    full_weight : int
        Of those, pixels of full weight with sigma > 0.
    sigma_source : str
        Where sigma came from ("ERR of B", "ERR of A", "MAD of A").
    z_median, z_p99, z_max : float
        ``|B - A| / sigma`` statistics over the full-weight pixels (NaN without any).
    mean_difference : float
        Mean of ``B - A`` over the full-weight pixels, in SCI units.
    flux_ratio : float
        Sum of B over sum of A on the full-weight pixels (NaN when A's sum is 0).
    wht_ratio : (float, float, float)
        Median, 1st and 99th percentile of WHT B / A where A's WHT > 0.
    wht_one_only : int
        Pixels with WHT > 0 in one product only.
    ctx_identical : float or None
        Fraction of identical CTX values; None without comparable CTX images.
    ctx_note : str
        Why ``ctx_identical`` is None ("" otherwise).
    z : numpy.ndarray (ny, nx) float32
        ``(B - A) / sigma`` where compared and sigma > 0, else NaN (for the picture).
    """

    shape: tuple
    compared: int
    full_weight: int
    sigma_source: str
    z_median: float
    z_p99: float
    z_max: float
    mean_difference: float
    flux_ratio: float
    wht_ratio: tuple
    wht_one_only: int
    ctx_identical: object
    ctx_note: str
    z: np.ndarray


def _hdu_image(hdul, path, extname, required):
    if extname not in hdul:
        if required:
            raise ValueError(f"{path} has no {extname} extension: not a drizzled product "
                             "(one written with build=True holds SCI, WHT and CTX)")
        return None, None
    hdu = hdul[extname]
    if hdu.data is None or hdu.data.dtype.kind not in "fiu" or hdu.data.ndim not in (2, 3):
        if required:
            raise ValueError(f"{path}[{extname}] is not an image")
        return None, None
    return np.asarray(hdu.data), hdu.header


def _sibling_image(path, kind, required):
    other = path[: -len("_sci.fits")] + f"_{kind}.fits"
    if not os.path.isfile(other):
        if required:
            raise FileNotFoundError(f"{kind.upper()} file {other} of {path} not found")
        return None
    with open_fits(other, f"{kind.upper()} image", memmap=False) as hdul:
        data = hdul[0].data
        if data is None or data.dtype.kind not in "fiu":
            raise ValueError(f"{other}[0] is not an image")
        return np.asarray(data)


def read_product(path):
    """Read the SCI, WHT, CTX and ERR images of a drizzled product.

    Parameters
    ----------
    path : str
        A ``_drz.fits`` product with SCI and WHT extensions, or a
        ``_drz_sci.fits`` file beside its ``_drz_wht.fits`` (and
        optionally ``_drz_ctx.fits``).

    Returns
    -------
    Product

    Raises
    ------
    OSError
        The file (or its weight file) is missing or not FITS.
    ValueError
        SCI or WHT is missing, not a 2-D image, or their shapes differ.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such product: {path}")
    split = path.endswith("_sci.fits")
    with open_fits(path, "product", memmap=False) as hdul:
        if split:
            hdu = hdul["SCI"] if "SCI" in hdul else hdul[0]
            if hdu.data is None:
                raise ValueError(f"{path} holds no SCI image")
            sci, header = np.asarray(hdu.data), hdu.header
            wht, ctx, err = _sibling_image(path, "wht", True), _sibling_image(path, "ctx", False), None
        else:
            sci, header = _hdu_image(hdul, path, "SCI", True)
            wht, _ = _hdu_image(hdul, path, "WHT", True)
            ctx, _ = _hdu_image(hdul, path, "CTX", False)
            err, _ = _hdu_image(hdul, path, "ERR", False)
    if sci.ndim != 2:
        raise ValueError(f"{path}[SCI] is not a 2-D image (shape {sci.shape})")
    if wht.shape != sci.shape:
        raise ValueError(f"{path}: WHT shape {wht.shape} differs from SCI shape {sci.shape}")
    if err is not None and err.shape != sci.shape:
        err = None
    as64 = (lambda a: None if a is None else np.asarray(a, dtype=np.float64))
    return Product(path, as64(sci), as64(wht), ctx, as64(err), header)


def _celestial(header):
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header).celestial
        except Exception:  # noqa: BLE001 - no readable WCS: the frames are compared by shape
            return None
    return wcs if wcs.has_celestial and wcs.naxis == 2 else None


def check_same_frame(a, b, tolerance=0.01):
    """Raise ValueError unless ``a`` and ``b`` (:class:`Product`) share one output frame.

    The shapes must be equal and, when both SCI headers hold a celestial
    WCS, the corners and centre must fall on the same sky positions within
    ``tolerance`` pixels.
    """
    if a.sci.shape != b.sci.shape:
        raise ValueError(f"the products are on different output frames: {a.path} is "
                         f"{a.sci.shape[1]} x {a.sci.shape[0]} pixels, {b.path} is "
                         f"{b.sci.shape[1]} x {b.sci.shape[0]}")
    wa, wb = _celestial(a.header), _celestial(b.header)
    if wa is None or wb is None:
        return
    from astropy.wcs.utils import proj_plane_pixel_scales

    ny, nx = a.sci.shape
    x = np.array([0, nx - 1, 0, nx - 1, (nx - 1) / 2])
    y = np.array([0, 0, ny - 1, ny - 1, (ny - 1) / 2])
    apart = wa.pixel_to_world(x, y).separation(wb.pixel_to_world(x, y)).deg
    pixel = float(np.mean(proj_plane_pixel_scales(wa)))
    worst = int(np.argmax(apart))
    if apart[worst] > tolerance * pixel:
        raise ValueError(f"the products are on different output frames: pixel "
                         f"({x[worst]:g}, {y[worst]:g}) of {a.path} and {b.path} is "
                         f"{apart[worst] * 3600:.4g} arcsec apart on the sky "
                         f"({apart[worst] / pixel:.3g} pixels)")


def _robust_sigma(values):
    if values.size == 0:
        return 0.0
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def compare_products(a, b, full_weight=0.9):
    """Statistics of product B against product A.

    Parameters
    ----------
    a, b : str or Product
        The products (paths are read with :func:`read_product`).
    full_weight : float
        Fraction (0..1] of A's 99th-percentile weight from which a pixel
        counts as full weight.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        ``full_weight`` out of range, the products on different frames, or
        not drizzled products (see :func:`read_product`).
    """
    if not 0.0 < float(full_weight) <= 1.0:
        raise ValueError(f"'full_weight' must be in (0, 1], got {full_weight!r}")
    a = a if isinstance(a, Product) else read_product(a)
    b = b if isinstance(b, Product) else read_product(b)
    check_same_frame(a, b)
    both = np.isfinite(a.sci) & np.isfinite(b.sci)
    positive = a.wht > 0
    level = np.percentile(a.wht[positive], 99) if positive.any() else np.inf
    full = both & (a.wht >= full_weight * level)
    if b.err is not None:
        sigma, source = b.err, "ERR of B"
    elif a.err is not None:
        sigma, source = a.err, "ERR of A"
    else:
        sigma, source = np.full(a.sci.shape, _robust_sigma(a.sci[full])), "MAD of A"
    good = both & np.isfinite(sigma) & (sigma > 0)
    difference = b.sci - a.sci
    z = np.full(a.sci.shape, np.nan, dtype=np.float32)
    z[good] = difference[good] / sigma[good]
    used = full & good
    nan = float("nan")
    zs = np.abs(z[used].astype(np.float64))
    sum_a = float(a.sci[used].sum())
    ratio = b.wht[positive] / a.wht[positive]
    ctx_identical, note = None, ""
    if a.ctx is None or b.ctx is None:
        note = "no CTX in " + " and ".join(p.path for p in (a, b) if p.ctx is None)
    else:
        ca, cb = np.squeeze(a.ctx), np.squeeze(b.ctx)
        if ca.shape == cb.shape:
            ctx_identical = float(np.mean(ca == cb))
        else:
            note = f"CTX shapes differ {ca.shape} / {cb.shape}"
    return Comparison(
        shape=a.sci.shape, compared=int(both.sum()), full_weight=int(used.sum()),
        sigma_source=source,
        z_median=float(np.median(zs)) if zs.size else nan,
        z_p99=float(np.percentile(zs, 99)) if zs.size else nan,
        z_max=float(zs.max()) if zs.size else nan,
        mean_difference=float(difference[used].mean()) if used.any() else nan,
        flux_ratio=float(b.sci[used].sum()) / sum_a if sum_a != 0 else nan,
        wht_ratio=tuple(float(v) for v in np.percentile(ratio, [50, 1, 99]))
        if ratio.size else (nan, nan, nan),
        wht_one_only=int(np.count_nonzero(positive != (b.wht > 0))),
        ctx_identical=ctx_identical, ctx_note=note, z=z)


def comparison_rows(c):
    """(name, value text) rows of a :class:`Comparison`, as the benchmark prints them."""
    rows = [("output shape", f"{c.shape[1]} x {c.shape[0]}"),
            ("pixels compared (both SCI finite)", f"{c.compared}"),
            ("full-weight pixels", f"{c.full_weight}"),
            ("sigma", c.sigma_source),
            ("|dSCI|/sigma median", f"{c.z_median:.4f}"),
            ("|dSCI|/sigma 99th pct", f"{c.z_p99:.4f}"),
            ("|dSCI|/sigma max", f"{c.z_max:.3g}"),
            ("dSCI (B - A) mean", f"{c.mean_difference:.4g}"),
            ("SCI sum ratio B/A", f"{c.flux_ratio:.6f}"),
            ("WHT ratio median [1%, 99%]",
             f"{c.wht_ratio[0]:.4f} [{c.wht_ratio[1]:.4f}, {c.wht_ratio[2]:.4f}]"),
            ("WHT>0 in one product only", f"{c.wht_one_only}")]
    rows.append(("CTX identical fraction",
                 f"{c.ctx_identical:.6f}" if c.ctx_identical is not None else c.ctx_note))
    return rows


def format_rows(rows):
    """The rows as an aligned two-column text table (str, lines joined by newlines)."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def write_difference_picture(a, b, comparison, output):
    """Draw A, B, ``(B - A) / sigma`` and the WHT ratio into a PNG.

    Parameters
    ----------
    a, b : Product
    comparison : Comparison
        From :func:`compare_products` of ``a`` and ``b``.
    output : str
        PNG file to write.

    Returns
    -------
    str
        ``output``.

    Raises
    ------
    gpudrizzle.preview.PlottingUnavailable
        matplotlib is not installed.
    OSError
        The PNG's directory does not exist.
    """
    from .preview import (_colours, _factor, _finite_mean, _normalize, _shrink, _shrunk_wcs,
                          _sky_axes, check_plotting)

    check_plotting()
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {output}: directory {directory} does not exist")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    ny, nx = comparison.shape
    left, right, bar, gap, title, under = 80, 30, 75, 25, 60, 55
    panel_w = (4 * _PANEL - left - right - 4 * bar - 3 * gap) / 4
    panel_h = panel_w * ny / nx
    width, height = 4 * _PANEL, int(round(title + panel_h + under))
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    fig.suptitle(f"B = {os.path.basename(b.path)}  vs  A = {os.path.basename(a.path)}",
                 fontsize=11, y=1 - 8 / height, va="top")
    wcs = _shrunk_wcs(_celestial(a.header), _factor(comparison.shape))
    sci_a, sci_b = _shrink(a.sci, _finite_mean), _shrink(b.sci, _finite_mean)
    z = _shrink(comparison.z, _finite_mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(a.wht > 0, b.wht / a.wht, np.nan)
    ratio = _shrink(ratio, _finite_mean)
    finite = np.abs(z[np.isfinite(z)])
    limit = max(3.0, float(np.percentile(finite, 99.5))) if finite.size else 3.0
    spread = np.abs(ratio[np.isfinite(ratio)] - 1)
    rlimit = max(0.01, float(np.percentile(spread, 99.5))) if spread.size else 0.01
    norm = _normalize(sci_a)
    panels = [(sci_a, "A: SCI (zscale, asinh)", "gray", norm, a.header.get("BUNIT", "SCI")),
              (sci_b, "B: SCI (A's stretch)", "gray", norm, b.header.get("BUNIT", "SCI")),
              (z, f"(B - A) / sigma  [sigma: {comparison.sigma_source}]", "RdBu_r",
               Normalize(-limit, limit), "difference in noise units"),
              (ratio, "WHT ratio B / A", "PuOr_r", Normalize(1 - rlimit, 1 + rlimit),
               "WHT B / WHT A")]
    for n, (image, label, cmap, scale, unit) in enumerate(panels):
        x = left + n * (panel_w + bar + gap)
        rect = [x / width, under / height, panel_w / width, panel_h / height]
        ax = _sky_axes(fig, rect, wcs)
        if not hasattr(ax, "coords"):
            ax.set_xticks([])
            ax.set_yticks([])
        elif n:  # Dec labelled on the first panel only
            ax.coords[1].set_ticklabel_visible(False)
            ax.coords[1].set_axislabel("")
        ax.set_title(label, fontsize=9)
        bad = "#3b1f4a" if cmap == "gray" else "#808080"
        shown = ax.imshow(image, origin="lower", cmap=_colours(cmap, bad), norm=scale,
                          interpolation="nearest")
        cax = fig.add_axes([(x + panel_w + 8) / width, under / height, 12 / width,
                            panel_h / height])
        colorbar = fig.colorbar(shown, cax=cax)
        colorbar.set_label(str(unit), fontsize=8)
        colorbar.ax.tick_params(labelsize=7)
    with files.writing(output, kind="picture") as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return output


def add_arguments(parser):
    """Add ``compare``'s arguments to an :class:`argparse.ArgumentParser`."""
    parser.add_argument("product_a", metavar="A_drz.fits", help="reference product (A)")
    parser.add_argument("product_b", metavar="B_drz.fits", help="product compared with A (B)")
    parser.add_argument("--picture", metavar="OUT.png", default=None,
                        help="also draw A, B, (B - A) / sigma and the WHT ratio into this PNG")
    parser.add_argument("--full-weight", type=float, default=0.9, metavar="FRACTION",
                        help="full-weight pixels: A's WHT at least this fraction of its 99th "
                             "percentile (default 0.9)")
    return parser


def run_from_args(args):
    """Run ``gpudrizzle compare``: print the statistics, draw the picture; returns 0."""
    if args.picture:
        from .preview import check_plotting

        check_plotting()
        files.check_target(args.picture, "picture")
    a, b = read_product(args.product_a), read_product(args.product_b)
    comparison = compare_products(a, b, full_weight=args.full_weight)
    if not getattr(args, "quiet", False):
        print(f"A: {a.path}\nB: {b.path}")
        print(format_rows(comparison_rows(comparison)))
    if args.picture:
        write_difference_picture(a, b, comparison, args.picture)
        if not getattr(args, "quiet", False):
            print(f"picture: {args.picture}")
    return 0
