"""skytopix: sky positions to pixel positions of one chip, inverting the full distortion model.

As drizzlepac's ``skytopix.rd2xy``: results are 1-based FITS pixels of the
chip ``input`` names (``f_flt.fits[sci,1]``); SIP and the D2IMARR /
WCSDVARR lookup tables are inverted iteratively to
:data:`gpudrizzle.coordfiles.INVERSE_TOL` pixels.  Example::

    >>> from gpudrizzle import skytopix
    >>> x, y = skytopix.rd2xy("f_flt.fits[sci,1]", "00:22:36.79", "-72:4:9.0")  # doctest: +SKIP
    >>> x, y = skytopix.rd2xy("f_flt.fits[sci,1]", coordfile="radec.dat",      # doctest: +SKIP
    ...                       colnames=["c3", "c4"], output="xy.dat")
"""

import re

from . import coordfiles as cf

__all__ = ["rd2xy", "add_arguments", "run_from_args"]

__taskname__ = "skytopix"


def rd2xy(input, ra=None, dec=None, coordfile=None, colnames=None, precision=6, output=None,
          verbose=True):
    """Pixel positions in one chip of sky positions.

    Parameters
    ----------
    input : str
        Image and extension, e.g. ``'f_flt.fits[sci,1]'``.
    ra, dec : float, str, sequence or numpy.ndarray, optional
        Decimal degrees (numbers or numeric strings) or sexagesimal strings
        (``'19:10:50.337'``, ``'19 10 50.337'``, ``'19h10m50.337s'``; RA in
        hours); RA in [0, 360) and Dec in [-90, 90] degrees.  Not together
        with a coordinate file.
    coordfile : str, optional
        Text file or FITS table of sky positions (degrees, or sexagesimal
        ``hh:mm:ss`` values or joined columns such as ``'c1,c2,c3'``).
    colnames : str or list of str, optional
        The RA and Dec columns: ``'c1,c2'`` (default), names, or
        ``['c1,c2,c3', 'c4,c5,c6']``.
    precision : int
        Decimals of the printed and written pixel positions.
    output : str, optional
        File to write the results to.
    verbose : bool
        Print the table (it is also printed when no ``output`` is given).

    Returns
    -------
    x, y : float or numpy.ndarray of float64, shape (n,)
        1-based pixel positions; a single value for a single position.
        NaN (with a RuntimeWarning) where the inverse does not converge.

    Raises
    ------
    OSError
        Missing image or coordinate file.
    ValueError
        Bad extension, no celestial WCS, unreadable or out-of-range position,
        unknown column, ra and dec of different lengths or given together
        with a coordinate file.
    """
    precision = cf.check_precision(precision)
    if not cf.blank(coordfile):
        if ra is not None or dec is not None:
            raise ValueError("give 'ra' and 'dec', or 'coordfile', not both")
        ra_deg, dec_deg = cf.read_coordfile(coordfile, colnames)
        scalar = False
    else:
        ra_deg, dec_deg, scalar = cf.sky_positions(ra, dec)
    cf.check_sky_range(ra_deg, dec_deg)
    wcs, label = cf.load_chip_wcs(input, "input")
    label = input if isinstance(input, str) else label
    outx, outy = cf.sky_to_pix(wcs, ra_deg, dec_deg, label)
    xstr, ystr = cf.fixed(outx, precision), cf.fixed(outy, precision)
    cf.report(label, "# X      Y         RA             Dec",
              (f"{a}  {b}    {r}  {d}"
               for a, b, r, d in zip(xstr, ystr, ra_deg.tolist(), dec_deg.tolist())),
              xstr, ystr, output, show=verbose or cf.blank(output))
    if scalar:
        return outx[0], outy[0]
    return outx, outy


# ------------------------------------------------------------ command line

#: Values of the sky-position options that start with '-' and are not options:
#: negative numbers and negative sexagesimal values ('-64:52:41.6', '-0:30:00').
NEGATIVE_VALUE = re.compile(r"^-(\d+|\d*\.\d+|\d+(:\d+(\.\d*)?){1,2})$")


def add_arguments(parser):
    """Options of ``gpudrizzle skytopix`` on an argparse parser."""
    parser._negative_number_matcher = NEGATIVE_VALUE  # so that --dec -64:52:41.6 is a value
    parser.add_argument("input", help="image and extension, e.g. 'f_flt.fits[sci,1]'")
    parser.add_argument("--ra", nargs="+",
                        help="right ascension(s): degrees in [0, 360) or hh:mm:ss.s")
    parser.add_argument("--dec", nargs="+",
                        help="declination(s): degrees in [-90, 90] or dd:mm:ss.s (negative "
                             "values as they are: --dec -64:52:41.8 -0:30:00)")
    parser.add_argument("--coordfile", help="text file or FITS table of sky positions")
    parser.add_argument("--colnames", help="RA and Dec columns, e.g. 'c3,c4' (default 'c1,c2')")
    cf.add_output_options(parser)
    return parser


def run_from_args(args):
    """Run :func:`rd2xy` from parsed arguments; return 0 (errors raise).

    Usage problems (no positions, --ra and --dec of different lengths, both
    positions and --coordfile) raise :func:`gpudrizzle.coordfiles.usage_error`.
    """
    ra, dec = cf.cli_positions(args, "ra", "dec")
    cf.run_quietly(args, lambda: rd2xy(
        args.input, ra=ra, dec=dec, coordfile=args.coordfile, colnames=args.colnames,
        precision=args.precision, output=args.output, verbose=not args.quiet))
    return 0
