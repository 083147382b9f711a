"""Pipeline mode: drizzlepac's ``runastrodriz.process`` and ``run_driz``.

:func:`process` takes what the HST pipeline gives ``runastrodriz``: an
association table (``*_asn.fits``), a calibrated exposure (``_flt``,
``_flc``, ``_crj``, ...) or a raw exposure name (``_raw``, whose calibrated
product is used), and makes the pipeline's drizzled products with
:func:`gpudrizzle.astrodrizzle.AstroDrizzle`:

* an association: ``<product>_drz.fits`` from the ``_flt`` members and, when
  every member also has an ``_flc`` file, ``<product>_drc.fits`` from those;
  ``<product>`` is the table's PROD-DTH member (lower case), written next to
  the table;
* a single exposure: ``<rootname>_drz.fits`` and, when ``<rootname>_flc.fits``
  sits beside an ``_flt`` input, ``<rootname>_drc.fits``.

Processing happens only when the DRIZCORR keyword (primary header of the
``_raw`` file of the first exposure, or of its calibrated file when there is
no ``_raw`` file) is PERFORM, or with ``force=True``; otherwise the trailer
records that drizzling was not requested, as drizzlepac does.

Parameters: AstroDrizzle's defaults with the pipeline's overrides
(:data:`PIPELINE_PARS`: in-memory, ``stepsize=10``, ``preserve=False``,
``clean=True``, ``resetbits=4096``, ``build=True``, ``overwrite=True``),
``num_cores`` and ``in_memory`` from the call, then any AstroDrizzle
parameter given as a keyword.  drizzlepac reads the MDRIZTAB reference file
for per-instrument values; that file is not available here, so a warning in
the trailer says the defaults were used.

The trailer ``<root>.tra`` (``<root>``: the input name without its last
``_suffix``, e.g. ``j9dz01010`` for ``j9dz01010_asn.fits``) receives the
whole log of the run, appended to any earlier trailer and written
atomically: the log is built in a temporary file beside it that replaces it
at the end, also when the run fails.  Each product's DRIZPARS keyword names
the trailer.

Steps that need the network or calibration reference files are skipped with
a warning in the trailer: ``updatewcs`` (IDCTAB/NPOLFILE/D2IMFILE from
CRDS), a priori solutions from the astrometry database, a posteriori
alignment to Gaia, the focus/similarity verification of the alignment and
headerlet files.  Inputs are never modified (drizzlepac writes DRIZCORR,
S_REGION, WCSTYPE and the WCS updates into them); ``update_inputs=True``
still writes MDRIZSKY and the CR flags back as in :mod:`gpudrizzle.astrodrizzle`.

Errors: OSError (FileNotFoundError) for a missing input or association
member, ValueError for bad parameters, and the errors of
:func:`gpudrizzle.astrodrizzle.AstroDrizzle`; each is also recorded in the
trailer.
"""

import glob
import logging
import os
import shutil
import time
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

from astropy.io import fits

from . import files, products
from .astrodrizzle import AstroDrizzle
from .inputs import ASN_MEMBER_SUFFIXES, check_file, read_asn_table, rootname_of
from .params import resolve_parameters

__all__ = ["process", "run_driz", "PipelineResult", "PIPELINE_PARS", "trailer_name",
           "Trailer"]

log = logging.getLogger("gpudrizzle.pipeline")

#: AstroDrizzle parameters the pipeline sets (drizzlepac ``runastrodriz.PIPELINE_PARS``,
#: with MDRIZTAB's ``build`` and the final run's ``clean``; ``overwrite`` replaces the
#: products of an earlier run as the pipeline does).
PIPELINE_PARS = {"in_memory": True, "stepsize": 10, "output": "", "preserve": False,
                 "clean": True, "resetbits": 4096, "build": True, "overwrite": True}

#: Options of drizzlepac's ``process`` besides the AstroDrizzle parameters.
PROCESS_OPTIONS = {"headerlets": True, "align_to_gaia": True, "force_alignment": False,
                   "do_verify_guiding": False, "debug": False, "make_manifest": False}

#: Alignment modes of drizzlepac's ``run_driz``.
ALIGNMENT_MODES = ("apriori", "aposteriori", "default-pipeline")

_TRAILER_FORMAT = "[%(levelname)-8s] %(message)s"
_RAW_SUFFIX = "_raw.fits"
_ROOT_LOGGER = logging.getLogger("gpudrizzle")


class PipelineResult(NamedTuple):
    """What :func:`process` did (drizzlepac's ``process`` returns nothing; this is extra).

    Attributes
    ----------
    products : list of str
        Drizzled products written (``_drz``/``_drc``), in their final place.
    trailer : str
        The ``.tra`` trailer file.
    manifest : str or None
        The manifest file (``make_manifest=True``), else None.
    performed : bool
        False when drizzling was not requested (DRIZCORR not PERFORM).
    """

    products: list
    trailer: str
    manifest: object
    performed: bool


def marker():
    """Trailer line that opens each processing section (drizzlepac's ``__trlmarker__``)."""
    return f"*** gpudrizzle Processing Version {products.software_version().split()[-1]}***"


def _now():
    return time.strftime("%H:%M:%S (%d-%b-%Y)", time.localtime())


def trailer_name(in_file):
    """The ``.tra`` file of an input, as drizzlepac's ``process`` names it.

    Parameters
    ----------
    in_file : str
        ``*_raw*`` and ``*_asn*`` names lose everything from that suffix on;
        any other name loses its last ``_suffix`` (``j9dz01aq_flt.fits`` ->
        ``j9dz01aq.tra``).

    Returns
    -------
    str
    """
    in_file = os.fspath(in_file)
    base = os.path.basename(in_file)
    head = in_file[: len(in_file) - len(base)]
    for tag in ("_raw", "_asn"):
        if tag in base:
            return head + base[: base.find(tag)] + ".tra"
    i = base.rfind("_")
    return head + (base[:i] if i > 0 else base) + ".tra"


# ---------------------------------------------------------------------------
# trailer


class Trailer(files.LogFile):
    """The log of the ``gpudrizzle`` loggers, appended to a trailer file atomically.

    Used as a context manager: on entry the existing trailer (if any) is
    copied into a temporary file beside it and a log handler writes into that
    copy; on exit the copy replaces the trailer, so readers see either the
    old or the complete new trailer (:class:`gpudrizzle.files.LogFile`).

    Parameters
    ----------
    path : str
        Trailer file.
    level : int
        Logging level recorded (INFO; DEBUG with ``debug=True``).
    """

    _active = {}

    def __init__(self, path, level=logging.INFO):
        super().__init__(path, _ROOT_LOGGER, level, _TRAILER_FORMAT, append=True, kind="trailer")
        self.path = self.target

    @classmethod
    def open(cls, path, level=logging.INFO):
        """The trailer context for ``path``; a no-op while that trailer is already open."""
        if os.path.abspath(path) in cls._active:
            return nullcontext(cls._active[os.path.abspath(path)])
        return cls(path, level)

    def __enter__(self):
        super().__enter__()
        Trailer._active[os.path.abspath(self.path)] = self
        return self

    def __exit__(self, exc_type, exc, tb):
        Trailer._active.pop(os.path.abspath(self.path), None)
        return super().__exit__(exc_type, exc, tb)


def _write_text_atomic(path, lines):
    return files.write_text(path, "".join(f"{line}\n" for line in lines), kind="manifest")


# ---------------------------------------------------------------------------
# run_driz


def _split_pipeline_options(pars):
    """Drop drizzlepac's pipeline-only values that gpudrizzle cannot honour, with warnings."""
    pars = dict(pars)
    if pars.pop("mdriztab", False):
        log.warning("MDRIZTAB reference file not read (no calibration reference files here): "
                    "AstroDrizzle defaults with the pipeline overrides are used")
    pars.pop("runfile", None)
    return pars


def _set_drizpars(path, trlfile):
    """Point a product's DRIZPARS keyword at the trailer (rewritten atomically)."""
    value = os.path.basename(trlfile)
    with fits.open(path, memmap=False) as hdul:
        if hdul[0].header.get("DRIZPARS") == value:
            return
        hdul.readall()
        hdul[0].header["DRIZPARS"] = (value, "Logfile for processing")
        products.write_fits(hdul, path, overwrite=True)


def run_driz(inlist, trlfile, calfiles, mode="default-pipeline", verify_alignment=True,
             debug=False, good_bits=512, **pipeline_pars):
    """Run AstroDrizzle on each input of ``inlist``, logging to ``trlfile`` (drizzlepac's ``run_driz``).

    Parameters
    ----------
    inlist : list
        Inputs, each anything :func:`gpudrizzle.astrodrizzle.AstroDrizzle`
        takes as ``input`` (file, association table, comma list, ``@list``,
        list of files); one AstroDrizzle run per item.
    trlfile : str
        Trailer (``.tra``) the log is appended to, atomically.
    calfiles : list of str
        The calibrated exposures behind ``inlist`` (recorded in the trailer).
    mode : {"default-pipeline", "apriori", "aposteriori"}
        Alignment mode; only the pipeline-default WCS is available here, the
        other two are recorded as skipped.
    verify_alignment : bool
        drizzlepac's focus/similarity check of the products; it is not
        computed here (a warning in the trailer says so).
    debug : bool
        Record DEBUG messages in the trailer.
    good_bits : int
        DQ bits treated as good by the alignment check (unused, as that check).
    **pipeline_pars
        AstroDrizzle parameters.  ``mdriztab=True`` is dropped with a warning
        (no MDRIZTAB file); ``runfile`` is replaced (the trailer holds the log).

    Returns
    -------
    drz_products : list of str
        Products of every run.
    focus_dicts : None
        drizzlepac's alignment-focus measures (not computed).
    diff_dicts : dict
        drizzlepac's overlap differences (empty).

    Raises
    ------
    ValueError
        Unknown ``mode`` or bad parameters.
    OSError, MemoryError, RuntimeError
        As :func:`gpudrizzle.astrodrizzle.AstroDrizzle`; the error is also
        recorded in the trailer.
    """
    if mode not in ALIGNMENT_MODES:
        raise ValueError(f"mode must be one of {ALIGNMENT_MODES}; got {mode!r}")
    if isinstance(inlist, (str, os.PathLike)):
        inlist = [inlist]
    level = logging.DEBUG if debug else logging.INFO
    drz_products = []
    with Trailer.open(trlfile, level):
        pars = _split_pipeline_options(pipeline_pars)
        resolve_parameters(pars)  # bad parameters fail before any work
        log.info("In run_driz: inlist is %s", [os.fspath(i) if not isinstance(i, (list, tuple))
                                               else [os.fspath(f) for f in i] for i in inlist])
        log.info("calibrated inputs: %s", ", ".join(os.fspath(c) for c in calfiles))
        if mode != "default-pipeline":
            log.warning("alignment mode %r needs astrometric solutions from MAST; the "
                        "pipeline-default WCS in the files is used", mode)
        for item in inlist:
            log.info("astrodrizzle started")
            log.info("%s: Processing %s with astrodrizzle Version %s", _now(), item,
                     products.software_version())
            log.info(marker())
            try:
                result = AstroDrizzle(input=item, runfile="", **pars)
            except Exception as exc:
                log.error("Could not complete astrodrizzle processing of %s.", item)
                log.error("%s: %s", type(exc).__name__, exc)
                raise
            for path in result.products:
                _set_drizpars(path, trlfile)
            drz_products += result.products
        if verify_alignment and len(calfiles) > 1:
            log.warning("alignment verification (focus and similarity of the products) skipped: "
                        "not available in gpudrizzle")
    return drz_products, None, {}


# ---------------------------------------------------------------------------
# process


class _Plan(NamedTuple):
    """Inputs of one pipeline job."""

    calfiles: list       # calibrated exposures (first choice of each member)
    calfiles_flc: list   # their _flc twins, when a separate _drc product is made
    inlist: list         # one AstroDrizzle input per product
    output: str          # output rootname ('' = per-input default)
    first_member: str    # rootname (with directory) of the first exposure
    related: list        # rootnames whose files belong to the job (newpath copies)


def _locate_input(in_file):
    """The existing file an input name refers to (drizzlepac's ``buildRootname``), else OSError."""
    name = os.fspath(in_file)
    candidates = [name]
    if not name.endswith(".fits"):
        candidates.append(name + ".fits")
        if "_" not in os.path.basename(name):
            candidates += [name + s for s in ("_asn.fits",) + ASN_MEMBER_SUFFIXES + (_RAW_SUFFIX,)]
    for c in candidates:
        if os.path.isfile(c):
            return check_file(c)
    raise FileNotFoundError(f"input file not found: {name}")


def _calibrated(root, exclude_flc=True):
    """Calibrated file of an exposure rootname (first of ASN_MEMBER_SUFFIXES present)."""
    for suffix in ASN_MEMBER_SUFFIXES:
        if exclude_flc and suffix == "_flc.fits":
            continue
        if os.path.isfile(root + suffix):
            return root + suffix
    if os.path.isfile(root + "_flc.fits"):
        return root + "_flc.fits"
    return None


def _plan(in_file):
    base = os.path.basename(in_file)
    directory = os.path.dirname(in_file)
    if "_asn" in base.lower():
        members, product, _ = read_asn_table(in_file)
        cal = []
        for m in members:
            f = _calibrated(os.path.join(directory, m))
            if f is None:
                raise FileNotFoundError(f"association {in_file}: no calibrated file for member "
                                        f"{m!r} (looked for {', '.join(m + s for s in ASN_MEMBER_SUFFIXES)})")
            cal.append(check_file(f, context=in_file))
        flc = [f[: -len("_flt.fits")] + "_flc.fits" for f in cal if f.endswith("_flt.fits")]
        flc = [f for f in flc if os.path.isfile(f)]
        inlist = [cal]
        if flc and len(flc) == len(cal):
            inlist.append(flc)
        elif flc:
            log.warning("only %d of %d members of %s have an _flc file: no _drc product",
                        len(flc), len(cal), in_file)
            flc = []
        product = product or base.split("_")[0].lower()
        asn_root = os.path.join(directory, base.split("_")[0])
        return _Plan(cal, flc, inlist, os.path.join(directory, product),
                     rootname_of(cal[0]), [asn_root, os.path.join(directory, product)] +
                     [rootname_of(f) for f in cal])
    if base.endswith(_RAW_SUFFIX):
        root = in_file[: -len(_RAW_SUFFIX)]
        cal = _calibrated(root)
        if cal is None:
            raise FileNotFoundError(f"no calibrated product for {in_file} (looked for "
                                    f"{', '.join(root + s for s in ASN_MEMBER_SUFFIXES)})")
    else:
        cal = in_file
    inlist, flc = [cal], []
    if cal.endswith("_flt.fits"):
        twin = cal[: -len("_flt.fits")] + "_flc.fits"
        if os.path.isfile(twin):
            flc = [twin]
            inlist.append(twin)
    root = rootname_of(cal)
    return _Plan([cal], flc, inlist, "", root, [root])


def _drizcorr(plan):
    """DRIZCORR of the job's first exposure (its _raw file, else its calibrated file)."""
    raw = plan.first_member + _RAW_SUFFIX
    source = raw if os.path.isfile(raw) else plan.calfiles[0]
    value = fits.getheader(source, 0).get("DRIZCORR")
    return None if value is None else str(value).strip().upper(), source


@contextmanager
def _working_directory(newpath, in_file, trlfile):
    """Copies of the job's files in ``newpath/<rootname>``; new or changed files moved back."""
    origdir = os.path.dirname(os.path.abspath(in_file))
    base = os.path.basename(in_file)
    workdir = os.path.join(os.fspath(newpath), base.split("_")[0])
    if not os.path.isdir(newpath):
        raise FileNotFoundError(f"newpath {newpath} is not an existing directory")
    os.makedirs(workdir, exist_ok=True)
    related = _plan(os.path.join(origdir, base)).related
    copied = {}
    skip = {os.path.abspath(trlfile)}
    for root in dict.fromkeys(related):
        for f in glob.glob(glob.escape(root) + "*"):
            if not os.path.isfile(f) or os.path.abspath(f) in skip:
                continue
            target = os.path.join(workdir, os.path.basename(f))
            shutil.copy2(f, target)
            st = os.stat(target)
            copied[target] = (st.st_size, st.st_mtime_ns)
    log.info("processing in %s (%d file(s) copied)", workdir, len(copied))
    try:
        yield os.path.join(workdir, base)
    finally:
        for f in sorted(glob.glob(os.path.join(glob.escape(workdir), "*"))):
            st = os.stat(f)
            if copied.get(f) == (st.st_size, st.st_mtime_ns):
                os.remove(f)
                continue
            files.move(f, os.path.join(origdir, os.path.basename(f)))
        try:
            os.rmdir(workdir)
        except OSError as exc:
            log.warning("could not remove the working directory %s: %s", workdir, exc)


def _skipped_services(options):
    log.warning("updatewcs skipped: the distortion reference files (IDCTAB, NPOLFILE, D2IMFILE) "
                "come from CRDS, which is not available; the WCS in the input files is used as is")
    log.warning("a priori astrometry (ASTROMETRY_APPLY_APRIORI) skipped: the astrometry "
                "database at MAST is not reachable")
    if options["align_to_gaia"]:
        log.warning("a posteriori alignment to Gaia (ASTROMETRY_COMPUTE_APOSTERIORI) skipped: "
                    "the astrometric catalogs at MAST are not reachable")
    if options["do_verify_guiding"]:
        log.warning("guiding verification skipped: not available in gpudrizzle")
    if options["headerlets"]:
        log.warning("headerlets not written: they record updatewcs/astrometry solutions, "
                    "which were skipped")
    log.info("inputs are not modified (DRIZCORR, S_REGION, WCSTYPE updates skipped)")


def process(inFile, force=False, newpath=None, num_cores=None, inmemory=True, **kwargs):
    """Drizzle an association or exposure as the HST pipeline does (drizzlepac's ``process``).

    Parameters
    ----------
    inFile : str
        ``*_asn.fits``, a calibrated exposure (``_flt``, ``_flc``, ...), a
        ``_raw`` name (its calibrated product is used), or a rootname.
    force : bool
        Drizzle even when DRIZCORR is not PERFORM.
    newpath : str, optional
        Existing directory to work in: the job's files are copied to
        ``newpath/<rootname>``, processed there, and new or changed files are
        moved back next to ``inFile`` at the end; the copies are removed.
    num_cores : int, optional
        AstroDrizzle ``num_cores``.
    inmemory : bool
        AstroDrizzle ``in_memory``.
    **kwargs
        drizzlepac's other ``process`` options (``headerlets``,
        ``align_to_gaia``, ``force_alignment``, ``do_verify_guiding``,
        ``debug``, ``make_manifest``), and any AstroDrizzle parameter
        (``backend``, ``final_scale``, ...), which overrides the pipeline's.

    Returns
    -------
    PipelineResult

    Raises
    ------
    OSError
        Missing input or association member (FileNotFoundError), unwritable
        directory.
    ValueError
        Bad parameters.
    MemoryError, RuntimeError
        As :func:`gpudrizzle.astrodrizzle.AstroDrizzle`.
    """
    options = {k: kwargs.pop(k, v) for k, v in PROCESS_OPTIONS.items()}
    pars = dict(PIPELINE_PARS)
    pars.update(in_memory=bool(inmemory), num_cores=num_cores)
    pars.update(kwargs)
    resolve_parameters(pars)  # bad parameters fail before anything is written
    in_file = _locate_input(inFile)
    trlfile = trailer_name(in_file)
    level = logging.DEBUG if options["debug"] else logging.INFO
    t0 = time.time()
    written = []
    performed = False
    with Trailer.open(trlfile, level):
        try:
            log.info("%s: runastrodriz (gpudrizzle %s) started for %s", _now(),
                     products.software_version(), in_file)
            work = _working_directory(newpath, in_file, trlfile) if newpath else nullcontext(in_file)
            with work as job_file:
                plan = _plan(job_file)
                dcorr, source = ("PERFORM", "force=True") if force else _drizcorr(plan)
                if dcorr == "PERFORM":
                    performed = True
                    _skipped_services(options)
                    log.info("Creating final combined, corrected product based on the "
                             "pipeline-default WCS")
                    log.info(marker())
                    job_pars = dict(pars, mdriztab=True)
                    if plan.output:
                        job_pars["output"] = plan.output
                    made, _, _ = run_driz(plan.inlist, trlfile, plan.calfiles + plan.calfiles_flc,
                                          verify_alignment=False, debug=options["debug"],
                                          **job_pars)
                    written = [os.path.join(os.path.dirname(in_file), os.path.basename(p))
                               if newpath else p for p in made]
                else:
                    log.info("astrodrizzle skipped")
                    log.info(marker())
                    log.info("%s: astrodrizzle processing not requested for %s (DRIZCORR=%s "
                             "in %s); pass force=True to drizzle anyway", _now(), in_file,
                             dcorr, source)
                    log.info("       astrodrizzle will not be run at this time.")
        except Exception as exc:
            log.error("runastrodriz failed for %s: %s: %s", in_file, type(exc).__name__, exc)
            raise
        manifest = None
        if options["make_manifest"]:
            manifest = trailer_name(in_file)[: -len(".tra")] + "_manifest.txt"
            _write_text_atomic(manifest, written + [trlfile])
            log.debug("Created manifest file: %s", manifest)
        log.info("%s: Finished processing %s in %.2f seconds", _now(), in_file, time.time() - t0)
        log.info("astrodrizzle completed")
    return PipelineResult(written, trlfile, manifest, performed)
