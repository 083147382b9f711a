"""pixtopix: pixel positions in one image to pixel positions in another.

As drizzlepac's ``pixtopix.tran``: ``forward`` takes 1-based pixels of
``inimage`` to ``outimage``, ``backward`` the other way, through the sky
with the full distortion model of both images (SIP and the D2IMARR /
WCSDVARR lookup tables; a distorted frame is inverted iteratively).  A
blank ``outimage`` means the default undistorted output frame that
AstroDrizzle builds for all SCI chips of ``inimage``'s file
(:func:`gpudrizzle.outframe.default_frame`).  Example::

    >>> from gpudrizzle import pixtopix
    >>> x, y = pixtopix.tran("f_flt.fits[sci,1]", "f_drz.fits[sci,1]",   # doctest: +SKIP
    ...                      "forward", 256, 256)
"""

import argparse

from . import coordfiles as cf

__all__ = ["tran", "output_frame_wcs", "add_arguments", "run_from_args"]

__taskname__ = "pixtopix"


def output_frame_wcs(inimage, outimage):
    """The WCS of the "out" frame of :func:`tran`, and its label.

    Parameters
    ----------
    inimage : str or astropy.wcs.WCS
        The input chip; all chips of its file make the default frame (read
        as AstroDrizzle reads them, for the IDC orientation and scale).
    outimage : str, astropy.wcs.WCS or None
        The output image and extension; blank for the default frame.

    Returns
    -------
    wcs : astropy.wcs.WCS
    label : str
    """
    from .exposure import load_exposure
    from .outframe import default_frame

    if not cf.blank(outimage):
        return cf.load_chip_wcs(outimage, "outimage")
    if not isinstance(inimage, str):
        return default_frame([inimage]), "default output frame"
    name, _ = cf.parse_image(inimage, "inimage")
    try:
        exposure = load_exposure(name, check_flags=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot build the default output frame of 'inimage' {name} "
                         f"(give 'outimage'): {exc}") from None
    return default_frame(exposure.chips), "default output frame"


def tran(inimage, outimage, direction="forward", x=None, y=None, coordfile=None,
         colnames=None, separator=None, precision=6, output=None, verbose=True):
    """Pixel positions in ``outimage`` of positions in ``inimage`` (or the reverse).

    Parameters
    ----------
    inimage : str
        Input image and extension, e.g. ``'f_flt.fits[sci,1]'``.
    outimage : str or None
        Output image and extension, e.g. ``'f_drz.fits[sci,1]'``; blank or
        None for the default output frame of all SCI chips of ``inimage``.
    direction : {'forward', 'backward'}
        ``forward``: positions in ``inimage`` to ``outimage``;
        ``backward``: positions in ``outimage`` to ``inimage``.  Only the
        first letter is read, as drizzlepac reads it.
    x, y : float, sequence or numpy.ndarray, optional
        1-based pixel positions (same length); not together with a coordinate file.
    coordfile : str, optional
        Text file or FITS table of x, y positions.
    colnames : str or list of str, optional
        The x and y columns (default ``'c1,c2'``).
    separator : str, optional
        Column delimiter of a text ``coordfile`` (default whitespace).
    precision : int
        Decimals of the printed and written positions.
    output : str, optional
        File to write the results to.
    verbose : bool
        Print the table.

    Returns
    -------
    outx, outy : float or numpy.ndarray of float64, shape (n,)
        1-based positions in the other frame; a single value for a single
        position.  NaN (with a RuntimeWarning) where a distorted frame's
        inverse does not converge.

    Raises
    ------
    OSError
        Missing image or coordinate file.
    ValueError
        Bad direction or extension, no celestial WCS, unknown column, x and y
        of different lengths.
    """
    d = direction.strip().lower() if isinstance(direction, str) else ""
    if not d or d[0] not in "fb":
        raise ValueError(f"'direction' must be 'forward' or 'backward'; got {direction!r}")
    precision = cf.check_precision(precision)
    xs, ys, scalar = cf.positions(x, y, coordfile=coordfile, colnames=colnames,
                                  separator=separator)
    in_wcs, in_label = cf.load_chip_wcs(inimage, "inimage")
    out_wcs, out_label = output_frame_wcs(inimage, outimage)
    if d[0] == "f":
        src, dst, dst_label = in_wcs, out_wcs, out_label
    else:
        src, dst, dst_label = out_wcs, in_wcs, in_label
    ra, dec = cf.pix_to_sky(src, xs, ys)
    outx, outy = cf.sky_to_pix(dst, ra, dec, dst_label)
    xstr, ystr = cf.fixed(outx, precision), cf.fixed(outy, precision)
    label = inimage if isinstance(inimage, str) else in_label
    cf.report(label, "# X(in)      Y(in)             X(out)         Y(out)",
              (f"{a:.4f}  {b:.4f}    {p}  {q}"
               for a, b, p, q in zip(xs.tolist(), ys.tolist(), xstr, ystr)),
              xstr, ystr, output, show=verbose)
    if scalar:
        return outx[0], outy[0]
    return outx, outy


# ------------------------------------------------------------ command line

def _direction(text):
    """'forward' or 'backward' of any word starting with f or b (argparse type)."""
    d = text.strip().lower()
    if not d or d[0] not in "fb":
        raise argparse.ArgumentTypeError(f"expected forward or backward (or a word starting "
                                         f"with f or b); got {text!r}")
    return "forward" if d[0] == "f" else "backward"


def add_arguments(parser):
    """Options of ``gpudrizzle pixtopix`` on an argparse parser."""
    parser.add_argument("inimage", help="input image and extension, e.g. 'f_flt.fits[sci,1]'")
    parser.add_argument("outimage", nargs="?", default=None,
                        help="output image and extension (default: the default output frame "
                             "of all chips of inimage)")
    parser.add_argument("--direction", type=_direction, default="forward",
                        metavar="forward|backward",
                        help="forward: inimage to outimage; backward: the reverse (only the "
                             "first letter is read: f, back, ...) (default: forward)")
    cf.add_pixel_options(parser)
    return parser


def run_from_args(args):
    """Run :func:`tran` from parsed arguments; return 0 (errors raise).

    The table is printed unless ``--quiet`` is given with ``--output``.
    Usage problems (no positions, --x and --y of different lengths, both
    positions and --coordfile) raise :func:`gpudrizzle.coordfiles.usage_error`.
    """
    x, y = cf.cli_positions(args, "x", "y")
    cf.run_quietly(args, lambda: tran(
        args.inimage, args.outimage, direction=args.direction, x=x, y=y,
        coordfile=args.coordfile, colnames=args.colnames, separator=args.separator,
        precision=args.precision, output=args.output,
        verbose=not (args.quiet and args.output)))
    return 0
