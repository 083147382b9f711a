"""The legacy MultiDrizzle command line: ``mdriz [-h|-?] [name=value ...] [files ...]``.

drizzlepac keeps MultiDrizzle's old entry point as the ``mdriz`` console
script: every argument is a ``name=value`` pair of an AstroDrizzle
parameter and the run is ``AstroDrizzle(**pairs)``.  :func:`main` does the
same with gpudrizzle's :func:`gpudrizzle.astrodrizzle.AstroDrizzle`:

* ``-h`` prints drizzlepac's syntax summary, ``-?`` every parameter with its
  default and meaning, ``--version`` the version; ``-g`` (the retired TEAL
  editor) is refused as drizzlepac refuses it.  Options come before the
  ``name=value`` arguments.
* ``name=value`` values are strings as a ``.cfg`` file holds them
  (``yes``/``no``, ``True``/``False``, numbers, ``INDEF`` or ``None`` for
  none) and are converted with the types of :data:`gpudrizzle.params.PARAMETERS`
  before the run, so a bad value is reported naming the parameter.
  ``configobj=file.cfg`` loads a configuration file first, as the keyword
  of ``AstroDrizzle`` does.
* An argument without ``=`` is an input file (drizzlepac fails on it);
  one such argument is the ``input`` string (wildcards, ``@list`` and
  association tables work), several are a list of files in the order given.
* Names MultiDrizzle had and AstroDrizzle does not (:data:`MULTIDRIZZLE_ONLY`)
  are refused saying what replaces them; other unknown names are refused
  with the closest known names.
* ``mdriztab=yes`` reads the MDRIZTAB reference table named in the first
  input's primary header (``jref$...`` resolved through the environment, as
  drizzlepac does) and uses the row for the inputs' filters and number of
  images, as drizzlepac's ``mdzhandler.getMdriztabParameters``: defaults, then
  a ``configobj`` file, then the table, then the ``name=value`` arguments.

The exit status is 0 after a successful run or a help text, 2 for a usage
error (unknown option, unknown or MultiDrizzle-only name, bad value, no
arguments) and 1 when the run fails (missing input files, unreadable
MDRIZTAB, any error of AstroDrizzle); errors are one line on stderr.
drizzlepac's deprecation notice is printed on stderr first, as drizzlepac
prints it.
"""

import difflib
import math
import os
import re
import sys

import numpy as np

from .params import PARAMETERS, SECTIONS, UNSUPPORTED, Parameters, resolve_parameters

__all__ = ["MULTIDRIZZLE_ONLY", "UsageError", "parse_arguments", "convert_value",
           "mdriztab_parameters", "main", "add_arguments", "run_from_args"]

_RULER = "-" * 80
DEPRECATION = (f"{_RULER}\nDEPRECATION WARNING:\n"
               "    This module (mdriz) will be removed in a future release.\n"
               "    Please execute \"gpudrizzle run\" (or call\n"
               "    gpudrizzle.astrodrizzle.AstroDrizzle; for the pipeline's runastrodriz,\n"
               "    gpudrizzle.pipeline.process) instead.\n"
               f"{_RULER}\n")

#: drizzlepac's ``mdriz -h`` text.
SYNTAX = """Syntax: mdriz.py -[h|g|?] [name=value,...]
  Options: -h: help
           -g: deprecated parameter left over from TEAL
           -?: extended help message
  Parameters should be given as "name=value" pairs for all parameters
      understood by MultiDrizzle. These values will ALWAYS override
      any parameter value set in the TEAL if TEAL is used at all."""

NO_INPUT = "No input specified... Use -h for help."

#: MultiDrizzle parameters (its task parameters and the MDRIZTAB column names
#: drizzlepac's ``mdzhandler`` translates) that AstroDrizzle does not have:
#: name -> what to use instead.
MULTIDRIZZLE_ONLY = {
    "workinplace": "AstroDrizzle has no 'workinplace'; gpudrizzle never modifies the inputs "
                   "unless 'update_inputs=yes' (then 'preserve=yes' keeps copies in OrIg_files/)",
    "shiftfile": "AstroDrizzle reads no shift file; apply the shifts to the input WCS first "
                 "(gpudrizzle.tweakreg.TweakReg with updatehdr=True, or tweakback)",
    "staticfile": "AstroDrizzle takes no user static mask file; flag the pixels in the inputs' "
                  "DQ arrays and leave their bits out of 'driz_sep_bits'/'final_bits'",
    "static_goodval": "AstroDrizzle's static mask has no good-pixel value; it is replaced by "
                      "'static' and 'static_sig'",
    "ivmlist": "give inverse-variance maps as the second column of an @file 'input' list, "
               "with 'final_wht_type=IVM'",
    "refimage": "use 'final_refimage' (and 'driz_sep_refimage' for the separate images)",
    "ra": "use 'final_ra' (and 'driz_sep_ra' for the separate images)",
    "dec": "use 'final_dec' (and 'driz_sep_dec' for the separate images)",
    "bits": "use 'final_bits' and 'driz_sep_bits'",
    "subsky": "use 'skysub'",
    "crbitval": "use 'crbit'",
    "readnoise": "use 'rdnoise'",
    "timing": "AstroDrizzle always logs each step's time in its runfile",
    **{f"driz_final_{k}": f"use 'final_{k}'"
       for k in ("wht_type", "outnx", "outny", "kernel", "wt_scl", "scale", "pixfrac", "rot",
                 "fillval", "bits", "units")},
}

#: Keywords of ``AstroDrizzle`` itself that are not in the parameter table.
_CALL_KEYWORDS = ("configobj", "mdriztab", "editpars")

#: MDRIZTAB columns that are not parameters (row selection, or ignored by drizzlepac).
_TABLE_SKIPPED = ("filter", "numimages", "shiftfile", "mdriztab", "staticfile")
#: MDRIZTAB column -> AstroDrizzle parameter (drizzlepac mdzhandler).
_TABLE_RENAMED = {"subsky": "skysub", "crbitval": "crbit", "readnoise": "rdnoise"}
#: MDRIZTAB columns that set the parameter of both drizzle steps.
_TABLE_BOTH_STEPS = ("refimage", "bits", "ra", "dec")
#: ``filter`` keywords per instrument (stsci.tools fileutil.getFilterNames).
_FILTER_KEYWORDS = {"ACS": ("FILTER1", "FILTER2"), "WFPC2": ("FILTNAM1", "FILTNAM2"),
                    "STIS": ("OPT_ELEM", "FILTER"), "NICMOS": ("FILTER", "FILTER2"),
                    "WFC3": ("FILTER", "FILTER2")}
_INT_NULL = -2147483647


class UsageError(ValueError):
    """A command-line mistake (exit status 2)."""


def _known_names():
    return list(PARAMETERS) + list(UNSUPPORTED) + [n for n in _CALL_KEYWORDS
                                                   if n not in UNSUPPORTED]


def check_name(name):
    """Raise :class:`UsageError` unless ``name`` is an AstroDrizzle parameter or keyword.

    MultiDrizzle-only names say what replaces them; other unknown names get
    the closest known names (difflib).
    """
    if name in PARAMETERS or name in UNSUPPORTED or name in _CALL_KEYWORDS:
        return
    if name in MULTIDRIZZLE_ONLY:
        raise UsageError(f"'{name}' is a MultiDrizzle parameter that AstroDrizzle does not have: "
                         f"{MULTIDRIZZLE_ONLY[name]}")
    close = difflib.get_close_matches(name.lower(), _known_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise UsageError(f"unknown parameter '{name}'{hint}")


def _none_word(text):
    return text.strip().upper() in ("", "NONE", "INDEF")


def convert_value(name, text):
    """Convert the string of a ``name=value`` argument to the parameter's type.

    Parameters
    ----------
    name : str
        A name accepted by :func:`check_name`.
    text : str
        The value as written on the command line.

    Returns
    -------
    object
        The value :data:`gpudrizzle.params.PARAMETERS` parses it to (bools,
        ints, floats, tuples, None; bit flags as integers); for
        ``configobj`` a file name or None; for the options gpudrizzle does
        not implement (``updatewcs``, ``editpars``, ...) False, None or the
        string, for AstroDrizzle to accept or refuse.

    Raises
    ------
    UsageError
        A value the parameter does not accept (the message names both).
    """
    par = PARAMETERS.get(name)
    if par is not None:
        try:
            return par.parse(name, text)
        except ValueError as exc:
            if _none_word(text):  # 'None'/'INDEF' for a parameter that takes a real None
                try:
                    return par.parse(name, None)
                except ValueError:
                    pass
            raise UsageError(str(exc)) from None
    if _none_word(text):
        return None
    if name == "configobj":
        return text.strip()
    word = text.strip().upper()
    if word in ("NO", "FALSE", "OFF", "F", "N", "0"):
        return False
    if word in ("YES", "TRUE", "ON", "T", "Y", "1"):
        return True
    if name == "mdriztab":
        raise UsageError(f"'mdriztab' must be yes or no; got {text!r}")
    return text


def parse_arguments(arguments):
    """Split ``name=value`` arguments and input files into AstroDrizzle keywords.

    Parameters
    ----------
    arguments : sequence of str
        Command-line arguments after the options.

    Returns
    -------
    dict
        ``name -> converted value`` (:func:`convert_value`); input files
        without ``=`` become ``input`` (a string for one, a list for several).

    Raises
    ------
    UsageError
        Empty name, unknown or MultiDrizzle-only name, bad value, a name
        given twice, or files given both bare and as ``input=``.
    """
    values, files = {}, []
    for arg in arguments:
        if "=" not in arg:
            files.append(arg)
            continue
        name, text = arg.split("=", 1)
        name = name.strip()
        if not name:
            raise UsageError(f"argument {arg!r} has no parameter name before '='")
        check_name(name)
        if name in values:
            raise UsageError(f"parameter '{name}' given twice")
        values[name] = convert_value(name, text)
    if files:
        if "input" in values:
            raise UsageError(f"input files given both as 'input=' and as arguments ({files[0]!r})")
        values["input"] = files[0] if len(files) == 1 else list(files)
    return values


# ---------------------------------------------------------------------------
# MDRIZTAB

def _expand_iraf_path(name):
    """``jref$x_mdz.fits`` -> ``$jref/x_mdz.fits`` (IRAF-style directory variables)."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\$(.*)", name)
    if not m:
        return name.strip()
    var, rest = m.groups()
    directory = os.environ.get(var, os.environ.get(var.upper()))
    if directory is None:
        raise OSError(f"MDRIZTAB {name!r}: environment variable '{var}' (the directory of "
                      f"'{var}$') is not set")
    return os.path.join(directory, rest.strip())


def _filter_names(header):
    instrument = str(header.get("INSTRUME", "")).strip()
    keys = _FILTER_KEYWORDS.get(instrument, ())
    return ",".join(str(header[k]) for k in keys if str(header.get(k, "")).strip())


def _select_row(filters, numimages, wanted, n_images):
    """drizzlepac's row choice: rows of the filter (else 'ANY'); the last whose numimages <= n."""
    rows = [i for i, f in enumerate(filters) if f == wanted]
    if not rows:
        rows = [i for i, f in enumerate(filters) if f == "ANY"]
    chosen = 0  # drizzlepac falls back to the first row
    for i in rows:
        if n_images >= numimages[i]:
            chosen = i
    return chosen


def _table_value(column, value):
    """One MDRIZTAB cell as drizzlepac reads it (blank text '', null int or NaN None)."""
    letter = re.sub(r"[^A-Z]", "", column.format.upper())[:1]
    if letter == "A":
        return str(value).strip()
    if letter == "L":
        return bool(value)
    if letter in ("B", "I", "J", "K"):
        return None if int(value) == _INT_NULL else int(value)
    if letter in ("E", "D"):
        return None if math.isnan(float(value)) else float(value)
    raise ValueError(f"MDRIZTAB column '{column.name}' has an unsupported format {column.format!r}")


def _interpret_row(columns, row):
    pars, ignored = {}, []
    for column in columns:
        name, value = column.name.lower(), row[column.name]
        if name in _TABLE_SKIPPED:
            continue
        if name == "coeffs":  # a file name in MultiDrizzle: distortion on unless blank
            pars["coeffs"] = bool(value) if column.format.upper().endswith("L") else \
                not _none_word(str(value))
            continue
        value = _table_value(column, value)
        if name in ("driz_sep_bits", "final_bits") and value is not None:
            value = str(value)
        name = _TABLE_RENAMED.get(name, name)
        targets = [f"driz_sep_{name}", f"final_{name}"] if name in _TABLE_BOTH_STEPS else [name]
        for target in targets:
            if target in PARAMETERS:
                pars[target] = value
            else:
                ignored.append(target)
    return pars, ignored


def mdriztab_parameters(files):
    """AstroDrizzle parameters of the MDRIZTAB row for ``files``.

    Parameters
    ----------
    files : sequence of str
        The input exposures; the first one's primary header names the table
        (``MDRIZTAB``) and gives the instrument and filters.

    Returns
    -------
    pars : dict
        ``parameter -> value`` from the selected row, with MultiDrizzle's
        column names translated (``subsky`` -> ``skysub``, ``crbitval`` ->
        ``crbit``, ``readnoise`` -> ``rdnoise``; ``refimage``, ``bits``,
        ``ra`` and ``dec`` set both drizzle steps; ``coeffs`` is on unless
        blank); ``filter``, ``numimages``, ``shiftfile`` and ``staticfile``
        are not parameters.
    source : str
        ``"MDRIZTAB <path> row <n>"`` (1-based row).
    ignored : list of str
        Columns that are no AstroDrizzle parameter (not used).

    Raises
    ------
    OSError
        No MDRIZTAB keyword, unset directory variable, missing or unreadable table.
    ValueError
        A table without the ``filter`` and ``numimages`` columns, or a column
        of an unsupported format.
    """
    from .inputs import open_fits

    first = os.fspath(files[0])
    with open_fits(first, memmap=False) as hdul:
        header = hdul[0].header
        if "MDRIZTAB" not in header:
            raise OSError(f"no MDRIZTAB keyword in the primary header of {first}")
        table_name = str(header["MDRIZTAB"])
        wanted = _filter_names(header)
    path = _expand_iraf_path(table_name)
    with open_fits(path, what="MDRIZTAB table", context=first, memmap=False) as table:
        if len(table) < 2 or not hasattr(table[1], "columns"):
            raise ValueError(f"MDRIZTAB table {path} has no table extension")
        hdu = table[1]
        names = [c.name.lower() for c in hdu.columns]
        if "filter" not in names or "numimages" not in names or len(hdu.data) == 0:
            raise ValueError(f"MDRIZTAB table {path} needs 'filter' and 'numimages' columns "
                             f"and at least one row")
        data = hdu.data
        filters = [str(v).strip() for v in data.field("filter")]
        numimages = np.asarray(data.field("numimages"), dtype=np.int64)
        index = _select_row(filters, numimages, wanted, len(files))
        pars, ignored = _interpret_row(hdu.columns, data[index])
    print(f"- MDRIZTAB: AstroDrizzle parameters read from row {index + 1}.")
    return pars, f"MDRIZTAB {path} row {index + 1}", ignored


def _with_mdriztab(user):
    """The ``configobj`` for a run with ``mdriztab=yes``: defaults < .cfg < MDRIZTAB."""
    from .config import build_configobj
    from .inputs import expand_input

    cfg = build_configobj(user["configobj"]) if user.get("configobj") else None
    base = dict(cfg) if cfg is not None else {}
    spec = user.get("input", base.get("input", PARAMETERS["input"].default))
    listed = expand_input(spec, user.get("output", base.get("output", "")))
    pars, source, ignored = mdriztab_parameters(listed.files)
    if ignored:
        print(f"- MDRIZTAB: columns that are no AstroDrizzle parameter, not used: "
              f"{', '.join(ignored)}", file=sys.stderr)
    try:
        merged = resolve_parameters(base={**base, **pars})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    sources = dict(cfg.sources) if cfg is not None else {}
    sources.update({name: source for name in pars})
    return Parameters(dict(merged), sources=sources)


# ---------------------------------------------------------------------------
def _long_help():
    lines = [SYNTAX, "", "Parameters (name=value; defaults as in astrodrizzle.cfg):"]
    for section in SECTIONS:
        names = [n for n, p in PARAMETERS.items() if p.section == section]
        if names:
            lines.append(f"[{section or 'top level'}]")
            lines += [f"  {n} = {PARAMETERS[n].default!r}: {PARAMETERS[n].help}" for n in names]
    lines.append("MultiDrizzle parameters AstroDrizzle does not have:")
    lines += [f"  {n}: {why}" for n, why in MULTIDRIZZLE_ONLY.items()]
    return "\n".join(lines)


def _options(argv):
    """Leading options (getopt style, drizzlepac's '?hg' plus --help and --version)."""
    flags = []
    rest = list(argv)
    while rest and rest[0].startswith("-") and rest[0] != "-" and "=" not in rest[0]:
        arg = rest.pop(0)
        if arg == "--":
            break
        if arg.startswith("--"):
            if arg not in ("--help", "--version"):
                raise UsageError(f"option {arg} not recognized")
            flags.append({"--help": "h", "--version": "v"}[arg])
            continue
        for letter in arg[1:]:
            if letter not in "?hgv":
                raise UsageError(f"option -{letter} not recognized")
            flags.append(letter)
    return flags, rest


def _error(message, status):
    print(f"mdriz: error: {message}", file=sys.stderr)
    return status


def main(argv=None):
    """Run the ``mdriz`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 after a run or a help text, 2 for a usage error, 1 when the run fails.
    """
    from . import __version__
    from .astrodrizzle import AstroDrizzle

    argv = sys.argv[1:] if argv is None else list(argv)
    print(DEPRECATION, file=sys.stderr)
    try:
        flags, arguments = _options(argv)
    except UsageError as exc:
        print(SYNTAX, file=sys.stderr)
        return _error(exc, 2)
    if "g" in flags:
        return _error("The -g option and TEAL GUI are no longer supported.", 2)
    if "v" in flags:
        print(f"mdriz (gpudrizzle) {__version__}")
    if "?" in flags:
        print(_long_help())
    elif "h" in flags:
        print(SYNTAX)
    if flags:
        return 0
    if not arguments:
        print(NO_INPUT)
        return 2
    try:
        user = parse_arguments(arguments)
    except UsageError as exc:
        return _error(exc, 2)
    try:
        if user.pop("mdriztab", False):
            user["configobj"] = _with_mdriztab(user)
        AstroDrizzle(**user)
    except KeyboardInterrupt:
        print("mdriz: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line
        return _error(" ".join(str(exc).split()) or type(exc).__name__, 1)
    return 0


def add_arguments(parser):
    """Add mdriz's arguments (``name=value`` pairs, files, options) to an argparse parser."""
    parser.add_argument("arguments", nargs="*", metavar="name=value|file",
                        help="AstroDrizzle parameters as name=value, and input files")


def run_from_args(args):
    """Run :func:`main` on ``args.arguments`` (from :func:`add_arguments`); the exit status."""
    return main(list(args.arguments))


if __name__ == "__main__":
    sys.exit(main())
