"""Every AstroDrizzle parameter in one table, and the function that validates them.

:data:`PARAMETERS` is the single source of names, defaults, types, help texts
and configuration-file sections; the Python API, ``.cfg`` files
(:mod:`gpudrizzle.config`) and the command line all read it.  Names, defaults
and meanings are drizzlepac 3.11's (``drizzlepac/pars/astrodrizzle.cfg`` and
``.cfgspc``); sections are the ``[STEP ...]`` sections of that file, so a
parameter set can be written back in the same layout.

:func:`resolve_parameters` turns user values into a read-only
:class:`Parameters` mapping: unknown names are rejected with the closest
known names, every value is parsed (strings as a ``.cfg`` file holds them are
accepted everywhere) and checked, and the pure-parameter rules of
AstroDrizzle are applied:

* giving any ``driz_sep_*`` / ``final_*`` output-frame parameter (rot, scale,
  outnx, outny, ra, dec, crpix1, crpix2, refimage) as a keyword turns on
  ``driz_sep_wcs`` / ``final_wcs`` (drizzlepac ``util.applyUserPars_steps``);
  values that come from a configuration file do not;
* ``ra``/``dec``, ``crpix1``/``crpix2`` and ``outnx``/``outny`` of an active
  custom frame must be given in pairs (drizzlepac ``mergeWCS``);
* ``gain`` and ``gnkeyword`` (and the ``rdnoise`` and ``exptime`` pairs) are
  mutually exclusive (drizzlepac ``getInstrParameter``);
* :func:`step_switches` applies the step dependencies, which also depend on
  the number of input images.

drizzlepac options that gpudrizzle does not implement are listed in
:data:`UNSUPPORTED`: their inert value is accepted (old ``.cfg`` files carry
them), any other value raises ValueError naming the option.
"""

import difflib
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from .argcheck import within
from .bitflags import ALL_FLAGS, interpret_bit_flags
from .choices import (BLOT_INTERPOLANTS, COMBINE_TYPES, DRIZZLE_KERNELS, SKY_METHODS,
                      SKYSTAT_OPTIONS)

__all__ = [
    "Parameter",
    "PYTHON_ONLY",
    "ParameterSet",
    "PARAMETERS",
    "SECTIONS",
    "UNSUPPORTED",
    "DEFAULTS",
    "Parameters",
    "StepSwitches",
    "resolve_parameters",
    "step_switches",
    "custom_wcs_parameters",
    "check_names",
    "parameter_lines",
]

# ---------------------------------------------------------------------------
# Sections of astrodrizzle.cfg (top-level parameters have section "")
TOP = ""
STATE = "STATE OF INPUT FILES"
STEP1 = "STEP 1: STATIC MASK"
STEP2 = "STEP 2: SKY SUBTRACTION"
STEP3 = "STEP 3: DRIZZLE SEPARATE IMAGES"
STEP3A = "STEP 3a: CUSTOM WCS FOR SEPARATE OUTPUTS"
STEP4 = "STEP 4: CREATE MEDIAN IMAGE"
STEP5 = "STEP 5: BLOT BACK THE MEDIAN IMAGE"
STEP6 = "STEP 6: REMOVE COSMIC RAYS WITH DERIV, DRIZ_CR"
STEP7 = "STEP 7: DRIZZLE FINAL COMBINED IMAGE"
STEP7A = "STEP 7a: CUSTOM WCS FOR FINAL OUTPUT"
INSTR = "INSTRUMENT PARAMETERS"
GPU = "GPUDRIZZLE"

#: Sections in astrodrizzle.cfg order; GPUDRIZZLE holds gpudrizzle's own additions.
SECTIONS = (TOP, STATE, STEP1, STEP2, STEP3, STEP3A, STEP4, STEP5, STEP6, STEP7, STEP7A, INSTR, GPU)

_NONE_WORDS = ("", "NONE", "INDEF")
_TRUE_WORDS = ("TRUE", "YES", "ON", "1", "T", "Y")
_FALSE_WORDS = ("FALSE", "NO", "OFF", "0", "F", "N")


# ---------------------------------------------------------------------------
# Value parsers: parser(name, value) -> parsed value, ValueError naming both.
# Each accepts its own output, so parsed sets can be merged and re-parsed.

def _is_none_word(value):
    return value is None or (isinstance(value, str) and value.strip().upper() in _NONE_WORDS)


def _boolean(name, value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().upper()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ValueError(f"'{name}' must be True or False; got {value!r}")


def _number(name, value, kind):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"'{name}' must be {kind}; got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"'{name}' must be {kind}; got {value!r}") from None
    if not isinstance(value, numbers.Real):
        raise ValueError(f"'{name}' must be {kind}; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"'{name}' must be finite; got {value!r}")
    return v


def _real(minimum=None, above=None, maximum=None, optional=False):
    def parse(name, value):
        if optional and _is_none_word(value):
            return None
        v = _number(name, value, "a real number" + (" or None" if optional else ""))
        return within(name, v, value, minimum=minimum, above=above, maximum=maximum)
    return parse


def _integer(minimum=None, maximum=None, optional=False):
    def parse(name, value):
        if optional and _is_none_word(value):
            return None
        kind = "an integer" + (" or None" if optional else "")
        v = _number(name, value, kind)
        if v != int(v):
            raise ValueError(f"'{name}' must be {kind}; got {value!r}")
        return within(name, int(v), value, minimum=minimum, maximum=maximum)
    return parse


def _choice(options, upper=False, rejected=None):
    rejected = rejected or {}

    def parse(name, value):
        if isinstance(value, str):
            key = value.strip().lower()
            if key in rejected:
                raise ValueError(f"'{name}'={value!r} is not supported: {rejected[key]}")
            for opt in options:
                if opt.lower() == key:
                    return opt.upper() if upper else opt
        shown = [o.upper() if upper else o for o in options]
        raise ValueError(f"'{name}' must be one of {shown}; got {value!r}")
    return parse


def _text(name, value):
    """A string; None, 'None' and 'INDEF' mean empty (as drizzlepac's is_blank)."""
    if _is_none_word(value):
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string; got {value!r}")
    return value.strip()


def _keyword_list(name, value):
    """Header keyword names, comma separated, upper case ('' when not given)."""
    text = _text(name, value)
    if not text:
        return ""
    words = [w.strip().upper() for w in text.split(",")]
    if any(not re.fullmatch(r"[A-Z0-9_\-]{1,8}", w) for w in words):
        raise ValueError(f"'{name}' must be FITS keyword names separated by ','; got {value!r}")
    return ",".join(words)


def _instrument_value(minimum=None, above=None):
    """drizzlepac's gain/rdnoise/exptime: a number or comma list averaged over non-zero entries."""
    def parse(name, value):
        if _is_none_word(value):
            return None
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            values = [_number(name, p, "a number or comma-separated numbers") for p in parts]
            nonzero = [v for v in values if v != 0.0]
            v = sum(nonzero) / len(nonzero) if nonzero else 0.0
        else:
            v = _number(name, value, "a number")
        return within(name, v, value, minimum=minimum, above=above)
    return parse


def _good_bits(name, value):
    return interpret_bit_flags(value, name)


def _reset_bits(name, value):
    # drizzlepac resets nothing for None/'' (its check ``bits > 0`` is False).
    bits = interpret_bit_flags(value, name)
    return 0 if bits == ALL_FLAGS and _is_none_word(value) else bits


def _crbit(name, value):
    v = _integer(minimum=0, maximum=1 << 15)(name, value)
    if v & (v - 1):
        raise ValueError(f"'{name}' must be 0 or a single bit flag (power of two); got {value!r}")
    return v


def _pair(allow_single, minimum=None):
    def parse(name, value):
        if isinstance(value, str):
            items = [p for p in re.split(r"[,\s]+", value.strip()) if p]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            items = [value]
        else:
            items = None
        if items is None or not (len(items) == 2 or (allow_single and len(items) == 1)):
            need = "one or two numbers" if allow_single else "two numbers"
            raise ValueError(f"'{name}' must hold {need}, e.g. '4 3'; got {value!r}")
        vals = [_real(minimum=minimum)(name, v) for v in items]
        return (vals[0], vals[-1])
    return parse


def _weight_scale(name, value):
    """'exptime', 'expsq' or a positive number."""
    if isinstance(value, str) and value.strip().lower() in ("exptime", "expsq"):
        return value.strip().lower()
    try:
        return _real(above=0.0)(name, value)
    except ValueError:
        raise ValueError(f"'{name}' must be 'exptime', 'expsq' or a positive number; "
                         f"got {value!r}") from None


def _fill_value(name, value):
    """None (uncovered pixels become NaN, 'INDEF' in drizzlepac) or a number."""
    return _real(optional=True)(name, value)


def _refimage(name, value):
    """A file name (optionally with [ext]), an astropy WCS, or '' for none."""
    if hasattr(value, "wcs") and hasattr(value, "pixel_to_world_values"):
        return value
    return _text(name, value)


def _group(name, value):
    """Chips to process: None for all, else a tuple of SCI extension versions."""
    if _is_none_word(value):
        return None
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        items = [value]
    elif isinstance(value, str):
        text = value.strip().strip("[]")
        m = re.fullmatch(r"(?i)sci\s*,\s*(\d+)", text)
        items = [m.group(1)] if m else [p for p in re.split(r"[,\s]+", text) if p]
    else:
        items = None
    try:
        chips = tuple(_integer(minimum=1)(name, v) for v in items)
    except (TypeError, ValueError):
        chips = ()
    if not chips:
        raise ValueError(f"'{name}' must be chip numbers (SCI extension versions) such as "
                         f"1, '1,2' or 'sci,1'; got {value!r}")
    return chips


def _wcskey(name, value):
    """'' (primary WCS), a one-letter alternate WCS key, or a WCSNAME."""
    return _text(name, value)


def _input(name, value):
    """File specification (string) or a sequence of names / in-memory exposures."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if value is None:
        return ""
    raise ValueError(f"'{name}' must be a string or a list of file names or exposures; got {value!r}")


def _backend(name, value):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("auto", "cuda", "cpu", "numpy"):
        return value.strip().lower()
    if hasattr(value, "xp"):  # a Backend instance
        return value
    raise ValueError(f"'{name}' must be 'auto', 'cuda', 'cpu', 'numpy' or None; got {value!r}")


# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One AstroDrizzle parameter.

    Attributes
    ----------
    name : str
        drizzlepac's name (also the keyword argument and the ``.cfg`` key).
    default : object
        drizzlepac's default, as written in ``astrodrizzle.cfg`` (e.g. the
        string ``"4096"`` for ``resetbits``); parsed like any other value.
    section : str
        ``astrodrizzle.cfg`` section ("" for the top level).
    parse : callable
        ``parse(name, value)`` returns the checked value or raises ValueError.
    help : str
        One-line description (the CLI's option help).
    choices : tuple of str
        Allowed values of an option parameter (empty otherwise).
    """

    name: str
    default: Any
    section: str
    parse: Callable[[str, Any], Any]
    help: str
    choices: tuple = ()

    @property
    def cli_option(self):
        """Command-line spelling, e.g. ``--final-kernel``; None for a parameter of the Python
        API only (:data:`PYTHON_ONLY`)."""
        return None if self.name in PYTHON_ONLY else "--" + self.name.replace("_", "-")


#: Parameters with no command-line option: what they ask for only makes sense in Python.
PYTHON_ONLY = frozenset({"write_products"})


def _opt(name, default, section, options, help, upper=False, rejected=None):
    return Parameter(name, default, section, _choice(options, upper, rejected), help, tuple(options))


_KERNEL_REJECTED = {"tophat": "drizzlepac 3.11 removed it as it does not work as intended; "
                              "use 'square', 'point' or 'turbo'"}


def _wcs_block(prefix, section, what):
    return [
        Parameter(f"{prefix}_refimage", "", section, _refimage,
                  f"Reference image (file[ext] or astropy WCS) whose WCS defines the {what} frame"),
        Parameter(f"{prefix}_rot", None, section, _real(optional=True),
                  f"Position angle of the {what} frame's Y axis east of north (degrees); "
                  "None keeps the first chip's detector orientation"),
        Parameter(f"{prefix}_scale", None, section, _real(above=0.0, optional=True),
                  f"Pixel size of the {what} frame (arcsec); None = IDCSCALE of the first chip"),
        Parameter(f"{prefix}_outnx", None, section, _integer(minimum=1, optional=True),
                  f"Size of the {what} frame's X axis (pixels); None fits the footprint"),
        Parameter(f"{prefix}_outny", None, section, _integer(minimum=1, optional=True),
                  f"Size of the {what} frame's Y axis (pixels); None fits the footprint"),
        Parameter(f"{prefix}_ra", None, section, _real(optional=True),
                  f"Right ascension of the {what} frame's reference pixel (degrees)"),
        Parameter(f"{prefix}_dec", None, section, _real(minimum=-90.0, maximum=90.0, optional=True),
                  f"Declination of the {what} frame's reference pixel (degrees)"),
        Parameter(f"{prefix}_crpix1", None, section, _real(optional=True),
                  f"Reference pixel X position of the {what} frame (CRPIX1, 1-based)"),
        Parameter(f"{prefix}_crpix2", None, section, _real(optional=True),
                  f"Reference pixel Y position of the {what} frame (CRPIX2, 1-based)"),
    ]


_TABLE = [
    # -- top level --------------------------------------------------------
    Parameter("input", "*flt.fits", TOP, _input,
              "Input files: name, wildcard, comma list, @list (2nd column: IVM file), *_asn.fits"),
    Parameter("output", "", TOP, _text,
              "Rootname of the products (default: input rootname for one input, else 'final')"),
    Parameter("runfile", "astrodrizzle.log", TOP, _text, "Log file of the run"),
    Parameter("wcskey", "", TOP, _wcskey,
              "WCS to use from the input headers: '' (primary), a key A-Z, or a WCSNAME"),
    _opt("proc_unit", "native", TOP, ("native", "electrons"),
         "Units of processing and of the products: native units or electrons"),
    Parameter("coeffs", True, TOP, _boolean, "Use the distortion model (SIP, lookup tables) of the headers"),
    Parameter("context", True, TOP, _boolean, "Create a context image in the final drizzle"),
    Parameter("group", "", TOP, _group,
              "Chips (SCI extension versions) to process, e.g. '1' or '1,2'; '' for all"),
    Parameter("build", False, TOP, _boolean,
              "Write one multi-extension product instead of separate _sci/_wht/_ctx files"),
    Parameter("crbit", 4096, TOP, _crbit, "DQ bit value that marks cosmic rays"),
    Parameter("stepsize", 10, TOP, _integer(minimum=1),
              "Grid step (pixels) of drizzlepac's coordinate interpolation (kept for compatibility; "
              "gpudrizzle's pixel maps meet a 1e-4 px tolerance)"),
    Parameter("resetbits", "4096", TOP, _reset_bits, "DQ bits reset to 0 in the inputs before processing"),
    Parameter("num_cores", None, TOP, _integer(minimum=0, optional=True),
              "Maximum threads of the cpu backend's kernels (n < 2: one; None: the CPUs this "
              "process may use, after its CPU affinity and cgroup CPU quota)"),
    Parameter("in_memory", False, TOP, _boolean,
              "Keep intermediate products in memory only: no singles, median, blot or CR mask "
              "file is written, and none of an earlier run is read"),
    # -- state of input files ---------------------------------------------
    Parameter("restore", False, STATE, _boolean, "Copy the inputs back from OrIg_files/ before processing"),
    Parameter("preserve", True, STATE, _boolean,
              "Copy inputs to OrIg_files/ before they are updated (only with update_inputs)"),
    Parameter("overwrite", False, STATE, _boolean,
              "Replace existing products, intermediates and copies in OrIg_files/"),
    Parameter("clean", False, STATE, _boolean, "Delete intermediate files at the end"),
    # -- step 1 -------------------------------------------------------------
    Parameter("static", True, STEP1, _boolean, "Create a static bad-pixel mask from the data"),
    Parameter("static_sig", 4.0, STEP1, _real(above=0.0),
              "Sigma below the mode under which pixels enter the static mask"),
    # -- step 2 -------------------------------------------------------------
    Parameter("skysub", True, STEP2, _boolean, "Subtract the sky"),
    _opt("skymethod", "localmin", STEP2, SKY_METHODS,
         "Sky method: per-exposure minimum over chips, global minimum, or overlap matching"),
    _opt("skystat", "median", STEP2, SKYSTAT_OPTIONS, "Statistic of the sky pixels"),
    Parameter("skywidth", 0.1, STEP2, _real(above=0.0, optional=True),
              "Histogram bin width for the sky statistics (sigma)"),
    Parameter("skylower", None, STEP2, _real(optional=True), "Lowest pixel value used for the sky"),
    Parameter("skyupper", None, STEP2, _real(optional=True), "Highest pixel value used for the sky"),
    Parameter("skyclip", 5, STEP2, _integer(minimum=0), "Number of sky clipping iterations"),
    Parameter("skylsigma", 4.0, STEP2, _real(above=0.0), "Lower sky clipping limit (sigma)"),
    Parameter("skyusigma", 4.0, STEP2, _real(above=0.0), "Upper sky clipping limit (sigma)"),
    Parameter("skymask_cat", "", STEP2, _text, "Catalog file listing user masks for the sky"),
    Parameter("use_static", True, STEP2, _boolean, "Exclude static-mask pixels from the sky"),
    Parameter("sky_bits", "0", STEP2, _good_bits,
              "DQ flags acceptable for the sky ('4,8', '4+8', '~4', None = ignore DQ)"),
    Parameter("skyfile", "", STEP2, _text, "File of user sky values to subtract (name, value per chip)"),
    Parameter("skyuser", "", STEP2, _text,
              "Header keyword (or @file) of a sky already subtracted by the user (when skysub=False)"),
    # -- step 3 -------------------------------------------------------------
    Parameter("driz_separate", True, STEP3, _boolean, "Drizzle each exposure onto its own image"),
    _opt("driz_sep_kernel", "turbo", STEP3, DRIZZLE_KERNELS, "Kernel of the separate drizzle",
         rejected=_KERNEL_REJECTED),
    Parameter("driz_sep_wt_scl", "exptime", STEP3, _weight_scale,
              "Weight scale of the separate drizzle: 'exptime', 'expsq' or a number"),
    Parameter("driz_sep_pixfrac", 1.0, STEP3, _real(above=0.0), "Drop size of the separate drizzle (input pixels)"),
    Parameter("driz_sep_fillval", None, STEP3, _fill_value,
              "Value of uncovered pixels in the separate images (None: NaN)"),
    Parameter("driz_sep_bits", "0", STEP3, _good_bits, "DQ flags acceptable in the separate drizzle"),
    # -- step 3a ------------------------------------------------------------
    Parameter("driz_sep_wcs", False, STEP3A, _boolean, "Use the custom frame below for the separate images"),
    *_wcs_block("driz_sep", STEP3A, "separate"),
    # -- step 4 -------------------------------------------------------------
    Parameter("median", True, STEP4, _boolean, "Create the median image"),
    Parameter("median_newmasks", True, STEP4, _boolean, "Mask low-weight pixels when combining"),
    Parameter("combine_maskpt", 0.3, STEP4, _real(minimum=0.0),
              "Fraction of the mean weight below which a pixel is masked"),
    _opt("combine_type", "minmed", STEP4, COMBINE_TYPES, "Combination of the separate images"),
    Parameter("combine_nsigma", "4 3", STEP4, _pair(allow_single=True, minimum=0.0),
              "minmed: significance for taking the minimum, and for grown pixels ('4 3')"),
    Parameter("combine_nlow", 0, STEP4, _integer(minimum=0), "Number of low values rejected"),
    Parameter("combine_nhigh", 0, STEP4, _integer(minimum=0), "Number of high values rejected"),
    Parameter("combine_lthresh", None, STEP4, _real(optional=True), "Lower threshold for input values"),
    Parameter("combine_hthresh", None, STEP4, _real(optional=True), "Upper threshold for input values"),
    Parameter("combine_grow", 1, STEP4, _integer(minimum=0), "minmed: radius (pixels) of neighbour rejection"),
    Parameter("combine_bufsize", None, STEP4, _real(above=0.0, optional=True),
              "Buffer size (MiB) per input image when combining"),
    # -- step 5 -------------------------------------------------------------
    Parameter("blot", True, STEP5, _boolean, "Blot the median back to each input"),
    _opt("blot_interp", "poly5", STEP5, BLOT_INTERPOLANTS, "Blot interpolant"),
    Parameter("blot_sinscl", 1.0, STEP5, _real(above=0.0), "Scale of the sinc interpolant"),
    Parameter("blot_addsky", True, STEP5, _boolean, "Add each chip's sky (MDRIZSKY) to its blot"),
    Parameter("blot_skyval", 0.0, STEP5, _real(), "Sky added to the blots when blot_addsky is False"),
    # -- step 6 -------------------------------------------------------------
    Parameter("driz_cr", True, STEP6, _boolean, "Detect cosmic rays"),
    Parameter("driz_cr_corr", False, STEP6, _boolean, "Write cosmic-ray cleaned _crclean images"),
    Parameter("driz_cr_snr", "3.5 3.0", STEP6, _pair(allow_single=False, minimum=0.0),
              "Signal-to-noise thresholds of the two passes ('3.5 3.0')"),
    Parameter("driz_cr_grow", 1, STEP6, _integer(minimum=1), "Width (pixels) of the box grown around CRs"),
    Parameter("driz_cr_ctegrow", 0, STEP6, _integer(minimum=0), "Length (pixels) of the CTE tail masked"),
    Parameter("driz_cr_scale", "1.2 0.7", STEP6, _pair(allow_single=False, minimum=0.0),
              "Scales of the derivative term in the two passes ('1.2 0.7')"),
    # -- step 7 -------------------------------------------------------------
    Parameter("driz_combine", True, STEP7, _boolean, "Drizzle the final combined image"),
    _opt("final_wht_type", "EXP", STEP7, ("EXP", "ERR", "IVM"),
         "Final weights: EXP (exposure time), ERR (inverse ERR^2), IVM (inverse variance)", upper=True),
    _opt("final_kernel", "square", STEP7, DRIZZLE_KERNELS, "Kernel of the final drizzle",
         rejected=_KERNEL_REJECTED),
    Parameter("final_wt_scl", "exptime", STEP7, _weight_scale,
              "Weight scale of the final drizzle: 'exptime', 'expsq' or a number"),
    Parameter("final_pixfrac", 1.0, STEP7, _real(above=0.0), "Drop size of the final drizzle (input pixels)"),
    Parameter("final_fillval", None, STEP7, _fill_value, "Value of uncovered pixels in the product (None: NaN)"),
    Parameter("final_maskval", None, STEP7, _real(optional=True),
              "Value of pixels outside the inputs in the product"),
    Parameter("final_bits", "0", STEP7, _good_bits, "DQ flags acceptable in the final drizzle"),
    _opt("final_units", "cps", STEP7, ("cps", "counts"), "Units of the final image: cps or counts"),
    # -- step 7a ------------------------------------------------------------
    Parameter("final_wcs", False, STEP7A, _boolean, "Use the custom frame below for the final product"),
    *_wcs_block("final", STEP7A, "final"),
    # -- instrument parameters -----------------------------------------------
    Parameter("gain", "", INSTR, _instrument_value(above=0.0),
              "Gain (e-/count) overriding the header; a comma list is averaged over non-zero entries"),
    Parameter("gnkeyword", "", INSTR, _keyword_list, "Header keyword(s) holding the gain (averaged)"),
    Parameter("rdnoise", "", INSTR, _instrument_value(minimum=0.0), "Read noise (e-) overriding the header"),
    Parameter("rnkeyword", "", INSTR, _keyword_list, "Header keyword(s) holding the read noise (averaged)"),
    Parameter("exptime", "", INSTR, _instrument_value(above=0.0), "Exposure time (s) overriding the header"),
    Parameter("expkeyword", "", INSTR, _keyword_list, "Header keyword holding the exposure time"),
    # -- gpudrizzle additions ---------------------------------------------------
    Parameter("update_inputs", False, GPU, _boolean,
              "Write MDRIZSKY and the CR flags back into the inputs, as drizzlepac does"),
    Parameter("backend", None, GPU, _backend,
              "Where to compute: 'auto', 'cuda', 'cpu' or 'numpy' (None: $GPUDRIZZLE_BACKEND or auto)"),
    Parameter("write_products", True, GPU, _boolean,
              "Write the final products to files; False (needs in_memory=True) writes none and "
              "returns them as an astropy HDUList, the build=True layout, in the result's "
              "'hdulist' (Python only)"),
]

#: name -> :class:`Parameter`, in astrodrizzle.cfg order.
PARAMETERS = {p.name: p for p in _TABLE}

#: drizzlepac options gpudrizzle does not implement: name -> (inert value, reason).
#: The inert value ("false": False or blank; "blank": None or ''; "none": None) is accepted.
UNSUPPORTED = {
    "mdriztab": ("false", "MDRIZTAB reference-table parameters are not supported; "
                          "pass the parameters explicitly or in a .cfg file"),
    "updatewcs": ("false", "gpudrizzle never rewrites input WCS; run stwcs.updatewcs on the "
                           "inputs beforehand"),
    "editpars": ("false", "the TEAL parameter editor is not available"),
    "rules_file": ("blank", "fitsblender header rules are not supported"),
    "driz_sep_compress": ("false", "compressed intermediate images are not written"),
    "wcsmap": ("none", "custom WCSMap transformations are not supported; give a refimage or "
                       "output-frame parameters instead"),
}

_CUSTOM_WCS_KEYS = ("refimage", "rot", "scale", "outnx", "outny", "ra", "dec", "crpix1", "crpix2")


class ParameterSet(Mapping):
    """A read-only mapping ``name -> value`` that also allows attribute access.

    Attributes
    ----------
    sources : dict
        ``name -> where the value came from`` (``"default"``, ``"user"``,
        ``".cfg <path>"``, ``"configobj"``).
    """

    __slots__ = ("_values", "sources")

    def __init__(self, values, sources):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "sources", dict(sources))

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} are read-only")

    def __reduce__(self):
        return (type(self), (self._values, self.sources))

    def __repr__(self):
        return f"{type(self).__name__}({self._values!r})"


class Parameters(ParameterSet):
    """A validated, read-only set of AstroDrizzle parameters.

    A mapping ``name -> value`` in :data:`PARAMETERS` order that also allows
    attribute access (``params.final_kernel``).

    Attributes
    ----------
    user_set : frozenset of str
        Names given as keyword arguments (not defaults, not from a file).
    sources : dict
        ``name -> where the value came from``: ``"default"``, ``"user"``,
        ``".cfg <path>"`` (a configuration file) or ``"configobj"`` (a
        mapping given as ``configobj``); a custom-frame switch turned on by a
        frame parameter says so.  Names missing from ``sources`` given to
        the constructor are ``"user"`` if in ``user_set``, else ``"default"``.
    """

    __slots__ = ("user_set",)

    def __init__(self, values, user_set=frozenset(), sources=None):
        given = dict(sources or {})
        user_set = frozenset(user_set)
        super().__init__(values, {name: given.get(name, "user" if name in user_set else "default")
                                  for name in dict(values)})
        object.__setattr__(self, "user_set", user_set)

    def __setattr__(self, name, value):
        raise AttributeError("Parameters are read-only; use resolve_parameters(new, base=params)")

    def __reduce__(self):
        return (Parameters, (self._values, self.user_set, self.sources))

    def __repr__(self):
        changed = {k: v for k, v in self._values.items() if v != DEFAULTS.get(k)}
        return f"Parameters({changed!r})"

    def section(self, section):
        """``{name: value}`` of one astrodrizzle.cfg section."""
        return {k: v for k, v in self._values.items() if PARAMETERS[k].section == section}

    def with_sources(self, sources):
        """The same values with ``sources`` (name -> source) replacing those recorded."""
        return Parameters(self._values, self.user_set, {**self.sources, **dict(sources)})


def _suggest(name):
    known = list(PARAMETERS) + list(UNSUPPORTED)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def check_names(names, where="parameter"):
    """Raise ValueError for names that are not AstroDrizzle parameters."""
    for name in names:
        if not isinstance(name, str) or (name not in PARAMETERS and name not in UNSUPPORTED):
            raise ValueError(f"unknown {where} {name!r}{_suggest(str(name))}")


def _check_unsupported(name, value):
    inert, reason = UNSUPPORTED[name]
    if inert == "none":
        ok = value is None
    elif inert == "blank":
        ok = _is_none_word(value)
    else:
        try:
            ok = _is_none_word(value) or _boolean(name, value) is False
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"'{name}'={value!r} is not supported by gpudrizzle: {reason}")


def _check_pair(values, prefix, a, b):
    va, vb = values[f"{prefix}_{a}"], values[f"{prefix}_{b}"]
    if (va is None) != (vb is None):
        given, missing = (a, b) if va is not None else (b, a)
        raise ValueError(f"when '{prefix}_{given}' is given, '{prefix}_{missing}' must be given too")


def resolve_parameters(user=None, base=None, **kwargs):
    """Validate AstroDrizzle parameters and apply the pure-parameter rules.

    Parameters
    ----------
    user : mapping, optional
        Parameter values given by the user (keyword arguments of
        ``AstroDrizzle``); merged with ``kwargs``.
    base : mapping, optional
        Values that replace the defaults but do not count as given by the
        user, e.g. a :class:`Parameters` from a ``.cfg`` file
        (:func:`gpudrizzle.config.build_configobj`).
    **kwargs
        More user values.

    Returns
    -------
    Parameters
        Every parameter of :data:`PARAMETERS`, parsed.  Bit flags are integers
        (-1 = ignore DQ), ``combine_nsigma``/``driz_cr_snr``/``driz_cr_scale``
        pairs of floats, ``group`` None or a tuple of chip numbers,
        ``gain``/``rdnoise``/``exptime`` None or floats, choices in canonical
        spelling.  Its ``sources`` say where each value came from:
        ``"user"``, ``"default"``, or for a value of ``base`` the source
        ``base`` recorded (a :class:`Parameters`), else ``"configobj"``.

    Raises
    ------
    ValueError
        Unknown name (with the closest known names), unsupported option,
        bad value (naming parameter and value), conflicting parameters.
    """
    user = dict(user or {})
    overlap = set(user) & set(kwargs)
    if overlap:
        raise ValueError(f"parameter(s) {sorted(overlap)} given twice")
    user.update(kwargs)
    base_sources = _base_sources(base)
    base = dict(base or {})
    check_names(base)
    check_names(user)

    for source in (base, user):
        for name in [n for n in source if n in UNSUPPORTED]:
            _check_unsupported(name, source.pop(name))

    values, sources = {}, {}
    for name, par in PARAMETERS.items():
        if name in user:
            raw, sources[name] = user[name], "user"
        elif name in base:
            raw, sources[name] = base[name], base_sources.get(name, "configobj")
        else:
            raw, sources[name] = par.default, "default"
        values[name] = par.parse(name, raw)

    # Giving any custom-frame parameter as a keyword turns that frame on.
    for prefix, switch in (("driz_sep", "driz_sep_wcs"), ("final", "final_wcs")):
        given = [f"{prefix}_{k}" for k in _CUSTOM_WCS_KEYS if f"{prefix}_{k}" in user]
        if given and not values[switch]:
            values[switch] = True
            sources[switch] = f"user (turned on by {given[0]})"

    for prefix, step, switch in (("driz_sep", "driz_separate", "driz_sep_wcs"),
                                 ("final", "driz_combine", "final_wcs")):
        if values[step] and values[switch]:
            for a, b in (("ra", "dec"), ("crpix1", "crpix2"), ("outnx", "outny")):
                _check_pair(values, prefix, a, b)

    for value_name, keyword_name in (("gain", "gnkeyword"), ("rdnoise", "rnkeyword"),
                                     ("exptime", "expkeyword")):
        if values[value_name] is not None and values[keyword_name]:
            raise ValueError(f"give either '{value_name}' ({values[value_name]!r}) or "
                             f"'{keyword_name}' ({values[keyword_name]!r}), not both")

    return Parameters(values, user_set=set(user) & set(PARAMETERS), sources=sources)


def _base_sources(base):
    """Sources recorded in a ``base`` that is a :class:`Parameters` (else none)."""
    return dict(base.sources) if isinstance(base, Parameters) else {}


def custom_wcs_parameters(params, step):
    """The output-frame overrides in force for a drizzle step.

    Parameters
    ----------
    params : Parameters
    step : {"final", "driz_sep"}

    Returns
    -------
    dict
        ``{"refimage", "rot", "scale", "outnx", "outny", "ra", "dec",
        "crpix1", "crpix2"}``; all None/'' unless the step runs and its
        custom frame is on (``final_wcs`` / ``driz_sep_wcs``), as in
        drizzlepac ``make_outputwcs``.
    """
    if step == "final":
        active = params["driz_combine"] and params["final_wcs"]
    elif step == "driz_sep":
        active = params["driz_separate"] and params["driz_sep_wcs"]
    else:
        raise ValueError(f"'step' must be 'final' or 'driz_sep'; got {step!r}")
    out = {}
    for k in _CUSTOM_WCS_KEYS:
        v = params[f"{step}_{k}"]
        out[k] = v if active else ("" if k == "refimage" else None)
    return out


class StepSwitches(NamedTuple):
    """Which steps run, after AstroDrizzle's dependency rules.

    Attributes
    ----------
    static, skysub, driz_separate, median, blot, driz_cr, driz_combine : bool
    notes : tuple of str
        One message per switch that was changed (logged as warnings).
    """

    static: bool
    skysub: bool
    driz_separate: bool
    median: bool
    blot: bool
    driz_cr: bool
    driz_combine: bool
    notes: tuple


def step_switches(params, n_images):
    """Apply AstroDrizzle's step dependencies for ``n_images`` input exposures.

    With more than one image, driz_cr turns blot on, blot turns median on and
    median turns driz_separate on.  With one image, driz_cr, blot and median
    are turned off (driz_separate is left as set).  These are the rules of
    drizzlepac 3.11 ``astrodrizzle.run``.

    Parameters
    ----------
    params : Parameters
    n_images : int
        Number of input exposures (>= 1).

    Returns
    -------
    StepSwitches
    """
    if isinstance(n_images, (bool, np.bool_)) or not isinstance(n_images, numbers.Integral) \
            or n_images < 1:
        raise ValueError(f"'n_images' must be a positive integer; got {n_images!r}")
    sep, med, blot, cr = (params["driz_separate"], params["median"], params["blot"],
                          params["driz_cr"])
    notes = []
    if n_images > 1:
        if cr and not blot:
            blot = True
            notes.append("Turning blot step on as it is required by 'driz_cr'.")
        if blot and not med:
            med = True
            notes.append("Turning median step on as it is required by 'blot'.")
        if med and not sep:
            sep = True
            notes.append("Turning single drizzle step on as it is required by 'median'.")
    else:
        for step, label in (("driz_cr", "CR rejection"), ("blot", "blot"), ("median", "median")):
            if {"driz_cr": cr, "blot": blot, "median": med}[step]:
                notes.append(f"Turning {label} step off as it requires two or more input images.")
        cr = blot = med = False
    return StepSwitches(params["static"], params["skysub"], sep, med, blot, cr,
                        params["driz_combine"], tuple(notes))


#: Parsed defaults, name -> value.
DEFAULTS = {name: par.parse(name, par.default) for name, par in PARAMETERS.items()}


def _shown(value):
    """A parameter value as the run's log shows it: strings quoted, objects by type."""
    if isinstance(value, tuple) and len(value) > 8:
        return f"({len(value)} items)"
    if isinstance(value, (str, bool, int, float, tuple, type(None))):
        return repr(value)
    return f"<{type(value).__name__}>"


def parameter_lines(params):
    """Every parameter of a run with its value and source, grouped by section.

    Parameters
    ----------
    params : Parameters

    Returns
    -------
    list of str
        ``"[SECTION]"`` headers in :data:`SECTIONS` order (``"[top level]"``
        for the first) followed by ``"  name = value  (source)"`` lines, in
        :data:`PARAMETERS` order.
    """
    lines = []
    for section in SECTIONS:
        names = [n for n, par in PARAMETERS.items() if par.section == section]
        if not names:
            continue
        lines.append(f"[{section or 'top level'}]")
        lines += [f"  {n} = {_shown(params[n])}  ({params.sources.get(n, 'default')})"
                  for n in names]
    return lines
