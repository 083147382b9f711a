"""Every TweakReg parameter in one table, and the function that validates them.

Names, defaults, sections and meanings are drizzlepac 3.11's
(``drizzlepac/pars/tweakreg.cfg`` and ``imagefindpars.cfg`` with their
``.cfgspc``).  :data:`TWEAKREG` holds the task's own parameters,
:data:`IMAGEFIND` the source-finding set used twice: as ``imagefindpars``
for the images to align and as ``refimagefindpars`` for a reference image.
The Python API (:func:`gpudrizzle.tweakreg.TweakReg`), ``.cfg`` files and the
``gpudrizzle tweakreg`` command all read these tables.

:func:`resolve_tweakreg` turns user values into three read-only
:class:`TweakParameters` (task, imagefindpars, refimagefindpars) the way
drizzlepac merges them: a keyword that names a source-finding parameter sets
it for the images to align only (``refimagefindpars`` come from
``refimagefindcfg`` alone); a key given both as a keyword and in
``imagefindcfg`` is an error.

drizzlepac options that gpudrizzle does not implement (``headerlet``,
``updatewcs``) accept only False, and the headerlet options only their
defaults; anything else raises ValueError naming the option.
"""

import difflib

from .params import (Parameter, ParameterSet, _backend, _boolean, _choice, _integer,
                     _is_none_word, _real, _text)
from .bitflags import interpret_bit_flags

__all__ = ["TWEAKREG", "IMAGEFIND", "TWEAKREG_SECTIONS", "TweakParameters", "resolve_tweakreg",
           "resolve_imagefind", "FIT_GEOMETRIES", "RESIDPLOT_CHOICES"]

TOP = ""
UPDATE = "UPDATE HEADER"
HEADERLET = "HEADERLET CREATION"
SHIFTS = "OPTIONAL SHIFTFILE OUTPUT"
COORDS = "COORDINATE FILE DESCRIPTION"
REFCAT = "REFERENCE CATALOG DESCRIPTION"
MATCH = "OBJECT MATCHING PARAMETERS"
FIT = "CATALOG FITTING PARAMETERS"
GPU = "GPUDRIZZLE"

#: Sections in tweakreg.cfg order; GPUDRIZZLE holds gpudrizzle's own additions.
TWEAKREG_SECTIONS = (TOP, UPDATE, HEADERLET, SHIFTS, COORDS, REFCAT, MATCH, FIT, GPU)

FIT_GEOMETRIES = ("shift", "rscale", "general")
RESIDPLOT_CHOICES = ("No plot", "vector", "residuals", "both")


def _input(name, value):
    """A file specification string or a sequence of file names."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"'{name}' must be a string or a list of file names; got {value!r}")
        return tuple(v.strip() for v in value)
    return _text(name, value)


def _columns(name, value):
    """drizzlepac column spec (as text): see :func:`gpudrizzle.catalogs.column_tokens`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return _text(name, value)


def _dqbits(name, value):
    """'' / None: the DQ array is not used (drizzlepac); else the good bits as an integer."""
    if _is_none_word(value):
        return None
    return interpret_bit_flags(value, name)


def _positive_or_none(name, value):
    return _real(above=0.0, optional=True)(name, value)


def _p(name, default, section, parse, help, choices=()):
    return Parameter(name, default, section, parse, help, tuple(choices))


def _opt(name, default, section, options, help):
    return _p(name, default, section, _choice(options), help, options)


_TWEAKREG = [
    _p("input", "*flt.fits", TOP, _input,
       "Input files: name, wildcard, comma list, or @list (more columns: catalogs per chip)"),
    _p("refimage", "", TOP, _text, "Reference image (file[ext]); '' aligns to the first input"),
    _p("expand_refcat", False, TOP, _boolean,
       "Add the unmatched sources of each aligned image to the reference catalog"),
    _p("enforce_user_order", True, TOP, _boolean,
       "Align in the input order; False picks the image overlapping the reference most next"),
    _p("exclusions", "", TOP, _text,
       "File listing, per image, DS9 region files of areas to leave out of source finding"),
    _p("writecat", True, TOP, _boolean, "Write the source and match catalogs"),
    _p("clean", False, TOP, _boolean, "Remove the intermediate catalogs at the end"),
    _p("interactive", True, TOP, _boolean,
       "Show the plots on screen and ask before each header update (else write PNG files)"),
    _p("verbose", False, TOP, _boolean, "Print more messages"),
    _p("runfile", "tweakreg.log", TOP, _text, "Log file of the run"),
    _p("updatewcs", False, TOP, _boolean,
       "drizzlepac: recompute the distortion model first (not supported: must be False)"),
    # -- UPDATE HEADER
    _p("updatehdr", False, UPDATE, _boolean, "Write the fitted WCS into the input headers"),
    _p("wcsname", "TWEAK", UPDATE, _text, "WCSNAME of the new WCS"),
    _p("reusename", False, UPDATE, _boolean, "Allow a wcsname that the file already holds"),
    # -- HEADERLET CREATION (inactive unless headerlet, which is not supported)
    _p("headerlet", False, HEADERLET, _boolean,
       "drizzlepac: write a headerlet of the solution (not supported: must be False)"),
    _p("attach", True, HEADERLET, _boolean, "Headerlet option (inactive: headerlet is False)"),
    _p("hdrfile", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    _p("clobber", False, HEADERLET, _boolean, "Headerlet option (inactive: headerlet is False)"),
    _p("hdrname", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    _p("author", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    _p("descrip", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    _p("catalog", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    _p("history", "", HEADERLET, _text, "Headerlet option (inactive: headerlet is False)"),
    # -- OPTIONAL SHIFTFILE OUTPUT
    _p("shiftfile", False, SHIFTS, _boolean, "Write a shift file (and its reference WCS)"),
    _p("outshifts", "shifts.txt", SHIFTS, _text, "Name of the shift file"),
    _p("outwcs", "shifts_wcs.fits", SHIFTS, _text, "Name of the shift file's reference WCS file"),
    # -- COORDINATE FILE DESCRIPTION
    _p("catfile", "", COORDS, _text,
       "File listing, per image, its source catalogs (one per chip) instead of finding sources"),
    _p("xcol", "1", COORDS, _columns, "Column (1-based number or name) of X in the catalogs"),
    _p("ycol", "2", COORDS, _columns, "Column of Y in the catalogs"),
    _p("fluxcol", "", COORDS, _columns, "Column of flux or magnitude in the catalogs"),
    _p("maxflux", None, COORDS, _real(optional=True), "Largest flux kept from the catalogs"),
    _p("minflux", None, COORDS, _real(optional=True), "Smallest flux kept from the catalogs"),
    _opt("fluxunits", "counts", COORDS, ("counts", "mag"), "Units of the flux column"),
    _opt("xyunits", "pixels", COORDS, ("pixels", "degrees"), "Units of the X/Y columns"),
    _p("nbright", None, COORDS, _integer(minimum=1, optional=True),
       "Keep only this many brightest sources of each catalog"),
    # -- REFERENCE CATALOG DESCRIPTION
    _p("refcat", "", REFCAT, _text, "Reference catalog file (instead of sources of an image)"),
    _p("refxcol", "1", REFCAT, _columns, "Column of RA (or X) in the reference catalog"),
    _p("refycol", "2", REFCAT, _columns, "Column of Dec (or Y) in the reference catalog"),
    _opt("refxyunits", "degrees", REFCAT, ("degrees", "pixels"),
         "Units of the reference catalog positions"),
    _p("rfluxcol", "", REFCAT, _columns, "Column of flux or magnitude in the reference catalog"),
    _p("rmaxflux", None, REFCAT, _real(optional=True), "Largest reference flux kept"),
    _p("rminflux", None, REFCAT, _real(optional=True), "Smallest reference flux kept"),
    _opt("rfluxunits", "mag", REFCAT, ("counts", "mag"), "Units of the reference flux column"),
    _p("refnbright", None, REFCAT, _integer(minimum=1, optional=True),
       "Keep only this many brightest reference sources"),
    # -- OBJECT MATCHING PARAMETERS
    _p("minobj", 15, MATCH, _integer(minimum=1), "Fewest matched sources that make a fit"),
    _p("searchrad", 1.0, MATCH, _real(above=0.0), "Search radius for the first offset"),
    _opt("searchunits", "arcseconds", MATCH, ("arcseconds", "pixels"), "Units of searchrad"),
    _p("use2dhist", True, MATCH, _boolean,
       "First offset from a 2-D histogram of offsets (else xoffset/yoffset)"),
    _p("see2dplot", True, MATCH, _boolean, "Plot that histogram"),
    _p("separation", 0.5, MATCH, _real(minimum=0.0),
       "Sources closer than this (pixels) to another of their catalog are not matched"),
    _p("tolerance", 1.0, MATCH, _real(above=0.0), "Matching radius (reference pixels)"),
    _p("xoffset", 0.0, MATCH, _real(), "First X offset (pixels) when use2dhist is False"),
    _p("yoffset", 0.0, MATCH, _real(), "First Y offset (pixels) when use2dhist is False"),
    # -- CATALOG FITTING PARAMETERS
    _opt("fitgeometry", "rscale", FIT, FIT_GEOMETRIES,
         "Fit: shift, rscale (shift, rotation, scale) or general (full linear)"),
    _opt("residplot", "both", FIT, RESIDPLOT_CHOICES, "Residual plots of each fit"),
    _p("ylimit", None, FIT, _positive_or_none, "Residual plot limit (pixels); None: automatic"),
    _p("labelsize", 8, FIT, _integer(minimum=1), "Font size of plot labels (points)"),
    _p("nclip", 3, FIT, _integer(minimum=0), "Sigma-clipping iterations of the fit"),
    _p("sigma", 3.0, FIT, _real(above=0.0), "Clipping limit (units of the fit's rms)"),
    # -- gpudrizzle
    _p("backend", None, GPU, _backend, "Where source finding runs: auto, cuda, cpu or numpy"),
]

_IMAGEFIND = [
    _p("computesig", True, TOP, _boolean, "Compute the sky sigma of each chip"),
    _p("skysigma", 0.0, TOP, _real(minimum=0.0), "Sky sigma (image units) when computesig is False"),
    _p("conv_width", 3.5, TOP, _real(above=0.0), "FWHM of the detection kernel (pixels)"),
    _p("peakmin", None, TOP, _real(optional=True), "Smallest source peak kept"),
    _p("peakmax", None, TOP, _real(optional=True), "Largest source peak kept"),
    _p("threshold", 4.0, TOP, _real(above=0.0, optional=True),
       "Detection threshold (units of sky sigma); None: skysigma**2, as drizzlepac's INDEF"),
    _p("nsigma", 1.5, TOP, _real(above=0.0), "Half-size of the detection kernel (kernel sigmas)"),
    _p("ratio", 1.0, TOP, _real(above=0.0, maximum=1.0), "Minor/major axis ratio of the kernel"),
    _p("theta", 0.0, TOP, _real(), "Position angle of the kernel's major axis (degrees)"),
    _p("fluxmin", None, TOP, _real(optional=True), "Smallest source flux kept"),
    _p("fluxmax", None, TOP, _real(optional=True), "Largest source flux kept"),
    _p("dqbits", "", TOP, _dqbits, "Good DQ bits ('' : the DQ array is not used)"),
    _p("use_sharp_round", False, TOP, _boolean, "Apply the sharpness and roundness limits"),
    _p("sharplo", 0.2, TOP, _real(), "Lowest sharpness kept"),
    _p("sharphi", 1.0, TOP, _real(), "Highest sharpness kept"),
    _p("roundlo", -1.0, TOP, _real(), "Lowest roundness kept"),
    _p("roundhi", 1.0, TOP, _real(), "Highest roundness kept"),
    _p("crreject", True, GPU, _boolean,
       "Reject sources sharper than any point source (cosmic rays, hot pixels)"),
]

#: name -> Parameter of the task itself (tweakreg.cfg)
TWEAKREG = {p.name: p for p in _TWEAKREG}
#: name -> Parameter of the source-finding set (imagefindpars.cfg, refimagefindpars.cfg)
IMAGEFIND = {p.name: p for p in _IMAGEFIND}

#: Options that are not implemented: name -> reason; only False is accepted.
_UNSUPPORTED = {
    "headerlet": "writing headerlets is not implemented; the aligned WCS is written into the "
                 "input headers with updatehdr=True",
    "updatewcs": "recomputing the distortion model from the reference files is not implemented; "
                 "run stwcs.updatewcs first if the headers need it",
}


class TweakParameters(ParameterSet):
    """A validated, read-only TweakReg parameter set (values by name and as attributes;
    ``sources``: ``name -> "default" | "user" | ".cfg <path>" | "configobj"``)."""

    __slots__ = ()


def _check_names(names, table, what, where=""):
    """ValueError for a name not in ``table``: the set it belongs to, or the closest names."""
    where = f"{where}: " if where.startswith(".cfg") else ""
    for name in names:
        if isinstance(name, str) and name in table:
            continue
        other = IMAGEFIND if table is TWEAKREG else TWEAKREG
        if isinstance(name, str) and name in other:
            home = ("an imagefindpars parameter (give it in imagefindcfg)"
                    if other is IMAGEFIND else "a TweakReg parameter")
            close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"{where}{name!r} is {home}, not one of {what}{hint}")
        close = difflib.get_close_matches(str(name), list(table) + list(other), n=3,
                                          cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"{where}unknown {what} parameter {name!r}{hint}")


def _resolve(table, what, user, base, base_source):
    user, base = dict(user or {}), dict(base or {})
    _check_names(base, table, what, base_source)
    _check_names(user, table, what)
    values, sources = {}, {}
    for name, par in table.items():
        if name in user:
            raw, sources[name] = user[name], "user"
        elif name in base:
            raw, sources[name] = base[name], base_source
        else:
            raw, sources[name] = par.default, "default"
        values[name] = par.parse(name, raw)
        if name in _UNSUPPORTED and values[name]:
            raise ValueError(f"'{name}'={raw!r} is not supported by gpudrizzle: {_UNSUPPORTED[name]}")
        if par.section == HEADERLET and name != "headerlet" and \
                values[name] != par.parse(name, par.default):
            raise ValueError(f"'{name}'={raw!r}: headerlet options are used only with "
                             f"headerlet=True, which is not supported ({_UNSUPPORTED['headerlet']})")
    return TweakParameters(values, sources)


def resolve_imagefind(user=None, base=None, base_source="configobj", what="imagefindpars"):
    """Validate a source-finding parameter set (see :data:`IMAGEFIND`).

    Parameters
    ----------
    user : mapping, optional
        Values given by the user.
    base : mapping, optional
        Values replacing the defaults (e.g. read from a ``.cfg`` file).
    base_source : str
        What ``sources`` records for values of ``base``.
    what : str
        Name of the set in messages (``imagefindpars`` or ``refimagefindpars``).

    Returns
    -------
    TweakParameters
        ``dqbits`` is None (DQ not used) or the integer of good bits.

    Raises
    ------
    ValueError
        Unknown name (with the closest known names) or bad value.
    """
    return _resolve(IMAGEFIND, what, user, base, base_source)


def resolve_tweakreg(user=None, base=None, *, base_source="configobj", imagefind=None,
                     imagefind_base=None, refimagefind=None, refimagefind_base=None,
                     imagefind_source="configobj", refimagefind_source="configobj"):
    """Validate TweakReg parameters the way drizzlepac merges them.

    Parameters
    ----------
    user : mapping, optional
        Keyword arguments of ``TweakReg``: task parameters and, for the
        images to align, source-finding parameters.
    base : mapping, optional
        Task values replacing the defaults (a ``tweakreg.cfg`` file).
    base_source : str
        What ``sources`` records for values of ``base``.
    imagefind, refimagefind : mapping, optional
        ``imagefindcfg`` / ``refimagefindcfg`` given as mappings.
    imagefind_base, refimagefind_base : mapping, optional
        The same read from ``.cfg`` files (values below ``imagefind``).
    imagefind_source, refimagefind_source : str
        What ``sources`` records for values of the ``*_base`` mappings.

    Returns
    -------
    (TweakParameters, TweakParameters, TweakParameters)
        Task parameters, imagefindpars, refimagefindpars.

    Raises
    ------
    ValueError
        Unknown name, unsupported option, bad value, a source-finding key
        given both as a keyword and in ``imagefindcfg``.
    """
    user = dict(user or {})
    find_kw = {k: user.pop(k) for k in list(user) if k in IMAGEFIND and k not in TWEAKREG}
    imagefind = dict(imagefind or {})
    both = sorted(set(find_kw) & set(imagefind))
    if both:
        raise ValueError(f"source-finding parameter(s) {both} given both as keywords and in "
                         "imagefindcfg")
    task = _resolve(TWEAKREG, "TweakReg", user, base, base_source)
    find = _resolve(IMAGEFIND, "imagefindpars", {**imagefind, **find_kw}, imagefind_base,
                    imagefind_source)
    reffind = _resolve(IMAGEFIND, "refimagefindpars", refimagefind, refimagefind_base,
                       refimagefind_source)
    return task, find, reffind
