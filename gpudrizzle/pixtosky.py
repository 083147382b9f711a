"""pixtosky: pixel positions of one chip to sky positions, with the full distortion model.

As drizzlepac's ``pixtosky.xy2rd``: positions are 1-based FITS pixels of
the chip ``input`` names (``f_flt.fits[sci,1]``); SIP and the D2IMARR /
WCSDVARR lookup tables of its header are applied.  Example::

    >>> from gpudrizzle import pixtosky
    >>> ra, dec = pixtosky.xy2rd("f_flt.fits[sci,1]", 256, 256)            # doctest: +SKIP
    >>> ra, dec = pixtosky.xy2rd("f_flt.fits[sci,1]", coordfile="xy.dat",  # doctest: +SKIP
    ...                          colnames=["c3", "c4"], output="radec.dat")
"""

import argparse
import warnings

from . import coordfiles as cf

__all__ = ["xy2rd", "add_arguments", "run_from_args"]

__taskname__ = "pixtosky"


def xy2rd(input, x=None, y=None, coords=None, coordfile=None, colnames=None, separator=None,
          hms=True, precision=6, output=None, verbose=True):
    """Sky positions of pixel positions in one chip.

    Parameters
    ----------
    input : str
        Image and extension, e.g. ``'f_flt.fits[sci,1]'`` (see
        :func:`gpudrizzle.coordfiles.parse_image`).
    x, y : float, sequence or numpy.ndarray, optional
        1-based pixel positions (same length); not together with a coordinate file.
    coords : str, optional
        Deprecated name of ``coordfile`` (used only when ``coordfile`` is None;
        a DeprecationWarning is issued).
    coordfile : str, optional
        Text file or FITS table of x, y positions.
    colnames : str or list of str, optional
        The x and y columns: ``'c1,c2'`` (default), ``['c3', 'c4']``, or names.
    separator : str, optional
        Column delimiter of a text ``coordfile`` (default whitespace).
    hms : bool
        Return and print sexagesimal strings (RA in hours) instead of degrees.
    precision : int
        Decimals of the degrees (or of the seconds with ``hms``).
    output : str, optional
        File to write the results to.
    verbose : bool
        Print the table (it is also printed when no ``output`` is given).

    Returns
    -------
    ra, dec : float or numpy.ndarray of float64, shape (n,); or str / list of str with ``hms``
        A single value for a single position given as scalars.

    Raises
    ------
    OSError
        Missing image or coordinate file.
    ValueError
        Bad extension, no celestial WCS, unknown column, x and y of different lengths.
    """
    if coords is not None and coordfile is None:
        warnings.warn("Please update calling code to pass in ``coordfile`` instead of "
                      "``coords``.", DeprecationWarning, stacklevel=2)
        coordfile = coords
    precision = cf.check_precision(precision)
    xs, ys, scalar = cf.positions(x, y, coordfile=coordfile, colnames=colnames,
                                  separator=separator)
    wcs, label = cf.load_chip_wcs(input, "input")
    label = input if isinstance(input, str) else label
    dra, ddec = cf.pix_to_sky(wcs, xs, ys)
    if hms:
        ra, dec = cf.degrees_to_hms(dra, ddec, precision)
        rastr, decstr = ra, dec
    else:
        ra, dec = dra, ddec
        rastr, decstr = cf.fixed(dra, precision), cf.fixed(ddec, precision)
    cf.report(label, "# X      Y         RA             Dec",
              (f"{a:.4f}  {b:.4f}    {r}  {d}"
               for a, b, r, d in zip(xs.tolist(), ys.tolist(), rastr, decstr)),
              rastr, decstr, output, show=verbose or cf.blank(output))
    if scalar:
        return ra[0], dec[0]
    return ra, dec


# ------------------------------------------------------------ command line

def add_arguments(parser):
    """Options of ``gpudrizzle pixtosky`` on an argparse parser."""
    parser.add_argument("input", help="image and extension, e.g. 'f_flt.fits[sci,1]'")
    cf.add_pixel_options(parser)
    parser.add_argument("--hms", action=argparse.BooleanOptionalAction, default=True,
                        help="sexagesimal output (default yes; --no-hms for degrees)")
    return parser


def run_from_args(args):
    """Run :func:`xy2rd` from parsed arguments; return 0 (errors raise).

    Usage problems (no positions, --x and --y of different lengths, both
    positions and --coordfile) raise :func:`gpudrizzle.coordfiles.usage_error`.
    """
    x, y = cf.cli_positions(args, "x", "y")
    cf.run_quietly(args, lambda: xy2rd(
        args.input, x=x, y=y, coordfile=args.coordfile, colnames=args.colnames,
        separator=args.separator, hms=args.hms, precision=args.precision,
        output=args.output, verbose=not args.quiet))
    return 0
