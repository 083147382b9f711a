"""AstroDrizzle as a drop-in: the steps in drizzlepac 3.11's order, data kept on the backend.

``AstroDrizzle(input, output=..., **params)`` and ``run(configobj)`` take
drizzlepac's arguments (:mod:`gpudrizzle.params` holds every parameter).
Order: initialise (inputs, parameters, output frames, memory check) ->
static mask -> sky -> separate drizzle -> median -> blot -> driz_cr ->
final drizzle -> products, with the step switches of
:func:`gpudrizzle.params.step_switches`.

Per chip (drizzlepac's ``adrizzle``/``ablot``/``drizCR`` conventions; the good-pixel
masks, drizzle data, weights and variance are :mod:`gpudrizzle.chipscience`'s pure
functions, the frame geometry :mod:`gpudrizzle.outframe`'s):

* data drizzled = SCI - MDRIZSKY (the sky is never written into the
  inputs), in cps: data in counts/electrons are divided by EXPTIME; with
  ``proc_unit="electrons"`` data in counts are multiplied by the gain;
* good pixels = DQ (after ``resetbits``) acceptable under the step's bits,
  AND the static mask, AND (final drizzle) the CR mask;
* separate drizzle: weight EXPTIME * good, one image per exposure on the
  ``driz_sep`` frame, no context;
* median over the singles (:func:`gpudrizzle.median.create_median`) with
  each exposure's read noise (root mean square over its chips, e-), EXPTIME
  and sky (smallest MDRIZSKY of its chips, e-); with ``in_memory=False``
  on a host backend each single is written to a scratch file beside the
  products as soon as it is drizzled and the median reads it back in row
  bands, so that its memory does not grow with the number of exposures
  (the file is removed when the median ends, whatever happens);
* blot of the median onto each chip, times EXPTIME / pix_ratio**2 (only
  1 / pix_ratio**2 for rate data), plus MDRIZSKY (``blot_addsky``) or
  ``blot_skyval``;
* driz_cr per chip against its blot; cosmic rays leave the final mask;
  with driz_cr off (several exposures, ``in_memory=False``) the final
  drizzle reads each chip's ``_crmask.fits`` of an earlier run beside the
  products, as drizzlepac does, and warns naming every one missing;
* final drizzle: weight EXP = EXPTIME * good, ERR = (EXPTIME / ERR)**2 * good
  (weight scale 1 / pix_ratio**4), IVM = the user's IVM, else
  1 / (dark + sky + readnoise**2) in e- (flat field taken as 1), times good
  (weight scale EXPTIME**2 / pix_ratio**4); a numeric ``final_wt_scl``
  replaces the weight scale of EXP; ``final_units="counts"`` multiplies by
  the total exposure time;
* propagated error: the variance (ERR**2, or a Poisson + read-noise model
  for inputs without ERR) drizzled with squared weights, square-rooted.

Errors: OSError for missing or unreadable inputs and unwritable outputs
(FileExistsError for an existing product with ``overwrite=False``),
ValueError for bad or conflicting parameters, unusable inputs (the message
names the file and extension) and inputs that do not overlap, MemoryError
before anything is allocated when the job cannot fit, RuntimeError when a
step fails.  Non-critical problems are logged as warnings and processing
goes on; so is a ``runfile`` that cannot be written (a full disk): one warning,
and the result's ``runfile`` is None.  The ``runfile`` is appended to, as
drizzlepac's is: each run adds every parameter by section with its value and
source (default, ``.cfg <file>``, configobj or user), the versions, backend
and device, each input chip's EXPTIME, filter and sky, the steps and, when
it fails, the error as an ERROR record.  Products, intermediates and the log are
written through :mod:`gpudrizzle.files` (temporary file beside the target,
then a rename; intermediates of an earlier run are replaced, products only
with ``overwrite=True``).  Inputs are opened read-only; only
``update_inputs=True`` writes MDRIZSKY and the CR flags back (after copying
them to ``OrIg_files/`` with ``preserve=True``).
"""

import inspect
import logging
import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from . import chipscience, files, products
from .progress import StepProgress, format_timings
from .backends import get_backend
from .backends.cpu import CpuBackend, default_threads
from .blot import blot_image
from .config import build_configobj
from .crmask import driz_cr
from .exposure import in_memory_items, load_exposures, to_exposure
from .inputs import OutputName, expand_input, open_fits, output_name
from .median import DiskImage, ScratchImages, create_median
from .memory import available_bytes, conversion_bytes, reuse_freed_host_memory
from .outframe import check_overlap, orientation, output_frame, pix_ratio, pixel_scale
from .params import (STEP2, STEP4, STEP6, Parameters, parameter_lines, resolve_parameters,
                     step_switches)
from .report import device_description, software_versions
from .pixmap import PixmapPlan
from .resample import CTX_PLANE_BITS, Drizzle
from .sky import brightness_factor, compute_sky
from .staticmask import chip_static_mask

__all__ = ["AstroDrizzle", "run", "AstroDrizzleResult", "StepProgress", "estimate_memory"]

log = logging.getLogger("gpudrizzle")

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


class AstroDrizzleResult(NamedTuple):
    """What a run produced (drizzlepac returns nothing; this is extra).

    Attributes
    ----------
    products : list of str
        Final products written.
    intermediates : list of str
        Intermediate files written (``clean=False`` and ``in_memory=False``).
    sky : dict
        ``(rootname, chip)`` -> MDRIZSKY subtracted (data units).
    cr_pixels : dict
        ``(rootname, chip)`` -> number of pixels flagged as cosmic rays.
    output_wcs : astropy.wcs.WCS
        Frame of the final product.
    backend : str
        Backend that did the work.
    runfile : str or None
        Log file.
    timings : dict
        Step name -> wall-clock seconds, in run order (``"initialise"``
        covers reading the inputs, the output frames and the checks); skipped
        steps are absent.
    inputs : tuple of dict
        One per input chip, in run order: ``file`` (None for in-memory
        exposures), ``extension`` (``"SCI,1"``), ``exptime`` (s),
        ``filter`` (:attr:`gpudrizzle.exposure.Exposure.filter`), ``sky``
        (MDRIZSKY) and ``cr_pixels`` (None when driz_cr did not run).
    hdulist : astropy.io.fits.HDUList or None
        The final product in memory (``write_products=False``): PRIMARY, SCI,
        WHT, CTX (with ``context``), ERR and HDRTAB, as the file that
        ``build=True`` writes; None when the products were written.
    """

    products: list
    intermediates: list
    sky: dict
    cr_pixels: dict
    output_wcs: object
    backend: str
    runfile: object
    timings: dict = None
    inputs: tuple = ()
    hdulist: object = None


class _ChipState:
    """Per-chip working data of a run (arrays on the backend)."""

    def __init__(self, index, exposure, chip):
        self.index = index
        self.exposure = exposure
        self.chip = chip
        self.sky = 0.0
        self.static = None
        self.sep_plan = None  # pixel map plan, kept for blot and a final drizzle into the same frame
        self.crmask = None  # uint8 (1 good) on the backend, or a DiskImage (see _keep_crmask)
        self.cr_pixels = None  # pixels flagged in crmask
        self.device = {}  # "sci", "err", "dq", "ivm" -> the chip's array on the device, kept for the run

    @property
    def name(self):
        return self.chip.label


# ---------------------------------------------------------------------------
# parameters


def _step_keywords(params, section, func):
    """The parameters of ``section`` that ``func`` takes as keywords, ``{name: value}``: a
    parameter added to a step's section reaches the step's function by its name."""
    names = inspect.signature(func).parameters
    return {k: v for k, v in params.section(section).items() if k in names}


def _same_frame(a, b):
    """True when output WCSs ``a`` and ``b`` are the same frame (so a chip's pixel map into
    either is the same): same shape and an exactly equal plain celestial WCS."""
    if a is None or b is None:
        return False
    if a is b:
        return True
    plain = all(getattr(w, k, None) is None for w in (a, b)
                for k in ("sip", "cpdis1", "cpdis2", "det2im1", "det2im2"))
    return (plain and a.array_shape == b.array_shape and a.pixel_bounds == b.pixel_bounds
            and getattr(a, "bounding_box", None) is None
            and getattr(b, "bounding_box", None) is None and bool(a.wcs.compare(b.wcs)))


def _resolve(configobj, user):
    """Parameters from a configobj (path, mapping or Parameters) and user keywords."""
    if configobj is None:
        base = None
    elif isinstance(configobj, (str, os.PathLike)):
        base = build_configobj(configobj)  # a Parameters: its sources name the file
    elif isinstance(configobj, Parameters):
        base = configobj
    elif hasattr(configobj, "keys"):
        base = dict(configobj)
        base.pop("_task_name_", None)
    else:
        raise TypeError(f"'configobj' must be a .cfg file name, a mapping or Parameters; "
                        f"got {type(configobj).__name__}")
    return resolve_parameters(user, base=base)


def AstroDrizzle(input=None, mdriztab=False, editpars=False, configobj=None, wcsmap=None,
                 progress=None, **input_dict) -> AstroDrizzleResult:
    """Run AstroDrizzle on a set of exposures, with drizzlepac's call conventions.

    Parameters
    ----------
    input : str, list of str, in-memory data or a list of them, optional
        Input files (name, wildcard, comma list, ``@list``, ``*_asn.fits``)
        or in-memory data (:func:`gpudrizzle.exposure.to_exposure`):
        ``Exposure`` objects, ``astropy.io.fits.HDUList`` (read as the file
        it holds), ``NDData``/``CCDData`` with a WCS and ``meta['EXPTIME']``,
        ``(array, wcs, exptime)`` tuples or dicts of
        :meth:`gpudrizzle.exposure.Exposure.from_arrays` arguments; may also
        be given as ``input=`` in ``input_dict`` or the configobj.  With
        ``in_memory=True, write_products=False`` no product file is written
        and the result's ``hdulist`` holds the product.
    mdriztab, editpars : bool
        Not supported; only False is accepted (ValueError otherwise).
    configobj : str, mapping or Parameters, optional
        A drizzlepac ``.cfg`` file or parameters it was loaded into
        (:func:`gpudrizzle.util.build_configobj`); keywords override it.
    wcsmap : None
        Custom WCS mappings are not supported; only None is accepted.
    progress : callable, optional
        Called with a :class:`gpudrizzle.progress.StepProgress` when a step
        starts, after each exposure or chip it finishes, and when it ends
        (e.g. :class:`gpudrizzle.progress.ProgressBar`).
    **input_dict
        Any AstroDrizzle parameter by name (``output``, ``final_scale``,
        ``build``, ``backend``, ...).

    Returns
    -------
    AstroDrizzleResult
    """
    user = dict(input_dict)
    exposures = None
    if input is not None:
        if "input" in user:
            raise ValueError("'input' given twice (positionally and as a keyword)")
        user["input"] = input
    items = in_memory_items(user.get("input"))
    if items is not None:
        exposures = items
        user.pop("input")
    user.update(mdriztab=mdriztab, editpars=editpars, wcsmap=wcsmap)
    params = _resolve(configobj, user)
    return _Run(params, exposures, progress).execute()


def run(configobj, wcsmap=None, progress=None) -> AstroDrizzleResult:
    """Run AstroDrizzle with parameters from ``configobj`` (drizzlepac's ``run``).

    Parameters
    ----------
    configobj : str, mapping or Parameters
        A ``.cfg`` file name, or parameters (e.g. from
        :func:`gpudrizzle.util.build_configobj`).
    wcsmap : None
        Not supported; only None is accepted.
    progress : callable, optional
        As in :func:`AstroDrizzle`.

    Returns
    -------
    AstroDrizzleResult
    """
    user = {"wcsmap": wcsmap}
    exposures = None
    items = in_memory_items(configobj.get("input")) if isinstance(configobj, dict) else None
    if items is not None:
        configobj = dict(configobj)
        configobj.pop("input")
        exposures = items
    params = _resolve(configobj, user)
    return _Run(params, exposures, progress).execute()


# ---------------------------------------------------------------------------
# memory


def estimate_memory(chip_shapes, n_exposures, sep_shape, final_shape, steps, n_chips_final,
                    resident_bytes=0, singles_on_disk=False, crmasks_on_disk=False):
    """Bytes the pipeline holds at its peak on the backend.

    Parameters
    ----------
    chip_shapes : sequence of (ny, nx)
        Every input chip.
    n_exposures : int
    sep_shape, final_shape : (ny, nx) or None
        Frames of the separate and final drizzles (None when off).
    steps : gpudrizzle.params.StepSwitches
    n_chips_final : int
        Chips drizzled into the final product (sets the context planes).
    resident_bytes : int
        Input arrays kept on the backend for the whole run (a device keeps
        every chip's SCI, ERR and DQ).
    singles_on_disk : bool
        The separate drizzle images wait for the median in a scratch file
        (``in_memory=False`` on a host backend), not in memory.
    crmasks_on_disk : bool
        The cosmic-ray masks wait for the final drizzle in a scratch file (the
        same condition, with or without a median), not in memory.

    Returns
    -------
    int
    """
    pix = [int(ny) * int(nx) for ny, nx in chip_shapes]
    total, largest = sum(pix), max(pix)
    # kept for the whole run: one static mask per chip signature (1 B; about one
    # exposure's chips), each chip's CR mask (1 B) unless it waits on disk
    keep = -(-total // max(int(n_exposures), 1)) + (0 if crmasks_on_disk else total)
    keep += int(resident_bytes)
    # transient per chip: the pixel map buffer (16 B), data, weight, variance, DQ, blot,
    # a CR mask read back (41 B)
    transient = 57 * largest
    phase_sep = 0
    if sep_shape is not None and steps.driz_separate:
        s = int(sep_shape[0]) * int(sep_shape[1])
        phase_sep = (0 if singles_on_disk else 8 * s * n_exposures) + 20 * s
    phase_final = 0
    if final_shape is not None and steps.driz_combine:
        f = int(final_shape[0]) * int(final_shape[1])
        planes = (max(n_chips_final, 1) - 1) // CTX_PLANE_BITS + 1
        phase_final = 24 * f + 4 * f * planes + 12 * f
    return keep + transient + max(phase_sep, phase_final)


#: With ``in_memory=False`` the per-exposure images of a run (see :func:`scratch_on_disk`)
#: stay in memory while they take no more than this many bytes, a quarter of the memory
#: available, and the memory the rest of the run needs; beyond, they wait in scratch
#: files, so that the memory of a run of many exposures stays flat in their number.
#: Writing and reading them back costs a pass over fresh file pages, more than the
#: drizzle of a small run's exposure.
SCRATCH_IN_MEMORY_BYTES = 1 << 30


def scratch_bytes(n_exposures, sep_shape, chip_shapes, steps) -> int:
    """Bytes of the per-exposure images a run keeps between steps: the separate drizzle
    images (SCI and WHT, float32) while the median waits for them, and every chip's
    cosmic-ray mask (uint8) while the final drizzle waits for them.

    Parameters
    ----------
    n_exposures : int
    sep_shape : (ny, nx) or None
        Frame of the separate drizzle (None when off).
    chip_shapes : sequence of (ny, nx)
        Every input chip.
    steps : gpudrizzle.params.StepSwitches
    """
    total = 0
    if sep_shape is not None and steps.driz_separate and steps.median:
        total += 8 * int(sep_shape[0]) * int(sep_shape[1]) * int(n_exposures)
    if steps.driz_cr:
        total += sum(int(ny) * int(nx) for ny, nx in chip_shapes)
    return total


def scratch_on_disk(params, backend, scratch_size=None, run_bytes=None) -> bool:
    """True when a run's per-exposure images wait in scratch files instead of memory, so
    that its memory does not grow with the number of exposures: the separate drizzle
    images (for the median) and the cosmic-ray masks (for the final drizzle).

    That is intermediates not in memory (``in_memory=False``) on a host backend, for
    images of more than :data:`SCRATCH_IN_MEMORY_BYTES`, a quarter of the memory
    available, ``run_bytes``, or what the run leaves of the memory available, in all.
    ``scratch_size`` is their size (:func:`scratch_bytes`), None when unknown (then they
    go to disk); ``run_bytes`` the rest of the run's peak memory (:func:`estimate_memory` with them on disk), so that
    keeping them at most doubles a run's memory, which then stays bounded by the size of
    its frames and chips whatever the number of exposures (a mosaic cell of hundreds).
    """
    if params["in_memory"] or backend.xp is not np:
        return False
    if scratch_size is None:
        return True
    have = available_bytes(backend)
    budget = min(SCRATCH_IN_MEMORY_BYTES, have // 4)
    if run_bytes is not None:  # and the run must still fit with them
        budget = min(budget, int(run_bytes), have - int(run_bytes))
    return int(scratch_size) > budget


def memory_plan(params, backend, chip_shapes, n_exposures, sep_shape, final_shape, steps,
                n_chips_final):
    """Where a run keeps its per-exposure images, and its peak memory.

    Parameters are those of :func:`estimate_memory` (``params``: the run's parameters,
    ``backend`` its backend).

    Returns
    -------
    on_disk : bool
        :func:`scratch_on_disk` for this run.
    need : int
        :func:`estimate_memory` bytes with the images where they will be.
    """
    frames = (n_exposures, sep_shape, final_shape, steps, n_chips_final)
    run_bytes = estimate_memory(chip_shapes, *frames, singles_on_disk=True,
                                crmasks_on_disk=True)
    scratch = scratch_bytes(n_exposures, sep_shape, chip_shapes, steps)
    on_disk = scratch_on_disk(params, backend, scratch, run_bytes)
    need = estimate_memory(chip_shapes, *frames, singles_on_disk=on_disk and bool(steps.median),
                           crmasks_on_disk=on_disk)
    return on_disk, need


def _gib(n):
    return f"{n / 2 ** 30:.2f} GiB"


def _memory_advice(steps):
    """What a run that does not fit can change, naming only the steps that are on."""
    advice = ["process fewer inputs or chips ('group')"]
    if steps.driz_combine:
        advice.append("use a coarser 'final_scale' or a smaller 'final_outnx'/'final_outny'")
    on = [name for name, enabled in (("driz_separate", steps.driz_separate),
                                     ("median", steps.median)) if enabled]
    if on:
        advice.append(f"turn {'/'.join(repr(n) for n in on)} off")
    return ", ".join(advice[:-1]) + (" or " if len(advice) > 1 else "") + advice[-1]


# ---------------------------------------------------------------------------
# the run


def _thread_count(num_cores):
    """Threads for ``num_cores``: None -> what this process may use (CPU affinity and
    cgroup quota: :func:`gpudrizzle.backends.cpu.default_threads`); below 2 -> 1; else
    ``num_cores``, at most what the process may use."""
    allowed = default_threads()
    if num_cores is None:
        return allowed
    return max(1, min(int(num_cores), allowed))


def _read_crmask(path, shape):
    """(mask, None) from an earlier run's CR mask file, or (None, why it is not usable).

    Parameters
    ----------
    path : str
    shape : (int, int)
        The chip's shape, which the mask must have.

    Returns
    -------
    mask : numpy.ndarray (ny, nx) uint8 or None
        1 = good, 0 = cosmic ray.
    problem : str or None
        Names the file: missing, unreadable or incomplete, or not a mask of the chip.
    """
    if not os.path.exists(path):
        return None, f"{path} not found"
    try:
        with open_fits(path, what="cosmic-ray mask", memmap=False) as hdul:
            data = hdul[0].data
    except OSError as exc:
        return None, str(exc)
    if data is None or data.dtype.kind not in "iub" or tuple(data.shape) != tuple(shape):
        found = "no data" if data is None else f"{data.dtype} {tuple(data.shape)}"
        return None, f"{path} is not a mask of the chip (integers {tuple(shape)}; found {found})"
    return (data != 0).astype(np.uint8), None



def _runfile(runfile):
    """The run's log (:class:`gpudrizzle.files.LogFile`), or nothing without a ``runfile``."""
    if not runfile:
        return nullcontext()
    # appended to, as drizzlepac's log: a failed rerun keeps the earlier runs' records
    return files.LogFile(runfile, log, logging.INFO, _LOG_FORMAT, append=True, kind="log file")


def _chip_facts(c, cr_pixels):
    """What the run used of one input chip (an :class:`AstroDrizzleResult` ``inputs`` entry)."""
    e = c.exposure
    return {"file": e.filename, "extension": c.chip.label.rpartition("[")[2].rstrip("]"),
            "exptime": float(e.exptime), "filter": e.filter, "sky": float(c.sky),
            "cr_pixels": cr_pixels}


def _log_failure(logfile, exc):
    """The exception that ends a run, as an ERROR record of its log (the caller raises it)."""
    if logfile is None:
        return
    text = " ".join(str(exc).split()) or "(no message)"
    logfile.note(logging.ERROR, f"AstroDrizzle failed: {type(exc).__name__}: {text}")


def _log_warning(message, category, filename, lineno, file=None, line=None):
    """A warning of a library, as one record of the run's log (its lines joined)."""
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    log.warning("%s: %s", category.__name__, text)


class _Run:
    """One AstroDrizzle run: validation, the steps, the products."""

    def __init__(self, params, exposures=None, progress=None):
        self.p = params
        self.given_exposures = exposures
        self.written = []
        self.intermediates = []
        self.progress = progress
        self.timings = {}
        self._map_buffers = {}  # chip shape -> (plan, its pixel map): the one map buffer
        self._writer, self._writes = None, []  # background writes of intermediates: (path, future)
        self._current = None  # [step, done, total, start] of the step running
        self._scoped = None  # ExitStack of what holds until the run ends (the kernel threads)
        self._scratch = None  # ScratchImages of the singles, until the median is made
        self._cr_scratch = None  # ScratchImages of the CR masks, until the run ends
        # per-exposure images in scratch files (:func:`memory_plan`, once the backend is known)
        self._on_disk = True
        self._threads = 1  # host threads of the per-chip array preparation
        self.hdulist = None  # the final product when it is kept in memory (write_products=False)

    # -- entry -----------------------------------------------------------
    def execute(self):
        with _runfile(self.p["runfile"]) as logfile, warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _log_warning  # in order, one record each
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="gpudrizzle-write")
            try:
                with reuse_freed_host_memory(), ExitStack() as self._scoped:
                    result = self._execute()
            except BaseException as exc:  # failed or interrupted: queued writes are dropped
                self._writer.shutdown(wait=True, cancel_futures=True)
                _log_failure(logfile, exc)
                raise
            self._writer.shutdown(wait=True)
        if logfile is not None and logfile.error is not None:
            result = result._replace(runfile=None)  # warned about; the products stand
        return result

    def _execute(self):
        t0 = time.perf_counter()
        p = self.p
        log.info("AstroDrizzle (%s) started", products.software_version())
        log.info("parameters (value and source: default, .cfg <file>, configobj or user):")
        for line in parameter_lines(p):
            log.info(line)
        # 1. inputs
        if not p["write_products"] and not p["in_memory"]:
            raise ValueError("write_products=False needs in_memory=True (the product is "
                             "returned in memory only when no intermediate file is written)")
        if self.given_exposures is not None:
            exposures = [to_exposure(item, p, name=f"input{k + 1}")
                         for k, item in enumerate(self.given_exposures)]
            self.given_exposures = exposures
            files = [e.rootname for e in exposures]
            out = output_name(p["output"], files)
            if not p["output"]:
                out = OutputName("final" if len(exposures) > 1 else exposures[0].rootname, "drz")
        else:
            if not p["input"]:
                raise ValueError("no input given: pass 'input' (file names or exposures)")
            inputs = expand_input(p["input"], p["output"])
            out = inputs.output
            exposures = load_exposures(inputs, p)
        for e in exposures:
            log.info("input %s: %d chip(s), EXPTIME %.3f s", e.label, len(e.chips), e.exptime)
        steps = step_switches(p, len(exposures))
        for note in steps.notes:
            log.warning(note)
        self.exposures, self.out, self.steps = exposures, out, steps
        self.chips = [_ChipState(i, e, c) for i, e in enumerate(exposures) for c in e.chips]
        if p["skysub"] and p["skyfile"]:
            raise ValueError(f"'skyfile'={p['skyfile']!r} is not supported by gpudrizzle; "
                             "use skysub=True with a skymethod, or skyuser with skysub=False")

        # 2. output frames and overlap
        final_wcs = output_frame(exposures, p, step="final") if steps.driz_combine else None
        sep_wcs = output_frame(exposures, p, step="driz_sep") if steps.driz_separate else None
        self.final_wcs, self.sep_wcs = final_wcs, sep_wcs
        # the default frames of both drizzle steps are one frame: plan each chip's map once
        self.reuse_sep_plan = steps.driz_combine and _same_frame(sep_wcs, final_wcs)
        self._check_overlap()

        # 3. where products go; nothing is overwritten by surprise
        out_dir = os.path.dirname(out.rootname) or "."
        writes = p["write_products"]
        if writes:
            products.check_writable(out_dir)
        # kept in memory: the layout of build=True, whose names its headers carry
        self.final_names = (products.product_names(out, p["build"] or not writes)
                            if steps.driz_combine else {})
        # in_memory (drizzlepac's meaning): no intermediate is written, none is read back
        self.inter_names = {} if p["clean"] or p["in_memory"] else products.intermediate_names(
            out_dir, out, exposures, steps)
        if not p["context"]:
            self.final_names.pop("ctx", None)
        if writes:
            products.check_targets(self.final_names.values(), p["overwrite"])
        # intermediates are not products: an earlier run's are replaced, as drizzlepac does
        products.check_targets(self.inter_names.values(), True, kind="intermediate file")

        # 4. backend and memory, before any allocation
        b = get_backend(p["backend"])
        self.b, self.xp = b, b.xp
        log.info("backend: %s; device: %s", b.name, device_description(b.name))
        versions = software_versions(b.name)
        log.info("versions: %s", ", ".join(f"{k} {v}" for k, v in versions.items()))
        self._limit_threads(b)
        shapes = [c.chip.shape for c in self.chips]
        frames = (len(exposures), None if sep_wcs is None else sep_wcs.array_shape,
                  None if final_wcs is None else final_wcs.array_shape, steps, len(self.chips))
        self._on_disk, need = memory_plan(p, b, shapes, *frames)
        have = available_bytes(b)
        # on a device every chip's arrays are uploaded once and kept, when they fit
        self.resident = False
        if b.xp is not np:
            resident = sum(self._device_bytes(c) for c in self.chips)
            with_resident = estimate_memory(shapes, *frames, resident_bytes=resident)
            self.resident = with_resident <= have
            if self.resident:
                need = with_resident
                log.info("chip arrays kept on the device: %s", _gib(resident))
            else:
                log.warning("the chips' SCI/ERR/DQ (%s) do not fit on the device with the rest "
                            "of the run (%s of %s available): each step uploads them again",
                            _gib(resident), _gib(with_resident), _gib(have))
        if need > have:
            raise MemoryError(
                f"this AstroDrizzle run needs about {_gib(need)} on the {b.name} backend but only "
                f"{_gib(have)} is available (inputs: {len(self.chips)} chips; final frame "
                f"{None if final_wcs is None else final_wcs.array_shape}); "
                f"{_memory_advice(steps)}")
        log.info("memory estimate: %s of %s available", _gib(need), _gib(have))
        self.timings["initialise"] = time.perf_counter() - t0

        # 5. the steps
        n_exp, n_chips = len(exposures), len(self.chips)
        self._step("static mask", steps.static, self._static_mask, n_chips)
        self._step("sky", True, self._sky, n_exp if self._sky_per_exposure() else 0)
        for c in self.chips:
            log.info("input %s: EXPTIME %.3f s, filter %s, sky %.6g", c.name, c.exposure.exptime,
                     c.exposure.filter or "-", c.sky)
        singles = self._step("separate drizzle", steps.driz_separate, self._drizzle_separate, n_exp)
        try:
            median = self._step("median", steps.median, lambda: self._median(singles))
        finally:
            self._close_scratch()
        del singles
        self._step("blot and driz_cr", steps.blot, lambda: self._blot_and_cr(median, steps.driz_cr),
                   n_chips)
        del median
        if self._reads_earlier_crmasks():
            self._load_earlier_crmasks(out_dir)
        self._step("final drizzle", steps.driz_combine, self._final_drizzle, n_chips)
        self._map_buffers.clear()
        for c in self.chips:
            c.device.clear()
        self._finish_writes()
        if p["update_inputs"] and self.given_exposures is None:
            self._step("update inputs", True, self._update_inputs, n_exp)
        elif p["update_inputs"]:
            log.warning("update_inputs ignored: the inputs are in-memory exposures")
        for line in format_timings(self.timings).splitlines():
            log.info(line)
        log.info("AstroDrizzle finished in %.2f s", time.perf_counter() - t0)
        sky = {(c.exposure.rootname, c.chip.chip): c.sky for c in self.chips}
        crs = {(c.exposure.rootname, c.chip.chip): c.cr_pixels
               for c in self.chips if c.crmask is not None}
        facts = tuple(_chip_facts(c, crs.get((c.exposure.rootname, c.chip.chip)))
                      for c in self.chips)
        return AstroDrizzleResult(self.written, self.intermediates, sky, crs, final_wcs, b.name,
                                  p["runfile"] or None, dict(self.timings), facts,
                                  self.hdulist)

    def _limit_threads(self, b):
        """The cpu backend's kernels run on ``num_cores`` threads until the run ends; on a
        host backend the element-wise preparation of a chip's arrays shares its rows among
        as many threads (:func:`gpudrizzle.memory.by_rows`)."""
        if b.xp is np:
            self._threads = _thread_count(self.p["num_cores"])
        if not isinstance(b, CpuBackend):
            return
        n = _thread_count(self.p["num_cores"])
        self._scoped.enter_context(b.limit_threads(n))
        log.info("kernel threads: %d (num_cores=%s)", n, self.p["num_cores"])

    def _step(self, name, enabled, func, total=0):
        """Run one step: log, time, report progress over ``total`` items (0: not counted)."""
        if not enabled:
            log.info("step %s: skipped", name)
            return None
        t = time.perf_counter()
        log.info("step %s: started", name)
        self._current = [name, 0, total, t]
        self._report("", finished=False)
        try:
            out = func()
        except (OSError, MemoryError, RuntimeError):
            raise
        except Exception as exc:
            raise RuntimeError(f"AstroDrizzle step '{name}' failed: {type(exc).__name__}: {exc}") \
                from exc
        self.b.synchronize()
        for e in self.exposures:
            e.release_pages()
        self.timings[name] = time.perf_counter() - t
        self._report("", finished=True)
        self._current = None
        log.info("step %s: done in %.2f s", name, self.timings[name])
        return out

    def _advance(self, item, exposure=None):
        """One exposure or chip of the current step is done (``exposure``: its pages can go)."""
        if exposure is not None:
            exposure.release_pages()
        if self._current is not None:
            self._current[1] += 1
            self._report(item, finished=False)

    def _report(self, item, finished):
        if self.progress is None or self._current is None:
            return
        name, done, total, start = self._current
        self.progress(StepProgress(name, done, total, item, time.perf_counter() - start, finished))

    # -- validation ------------------------------------------------------
    def _check_overlap(self):
        """ValueError when inputs cannot be combined (:func:`gpudrizzle.outframe.check_overlap`)."""
        frame = self.final_wcs if self.final_wcs is not None else self.sep_wcs
        check_overlap(frame, [c.chip for c in self.chips], [c.index for c in self.chips],
                      [e.label for e in self.exposures],
                      pairwise=self.steps.median and len(self.exposures) >= 2)

    # -- per-chip data ---------------------------------------------------
    _CHIP_ARRAYS = ("sci", "err", "ivm", "dq")

    @staticmethod
    def _device_type(key, a):
        """Type of a chip's array on a device: float32, DQ in its own integer type (native)."""
        return a.dtype.newbyteorder("=") if key == "dq" else np.dtype(np.float32)

    def _device_bytes(self, state):
        """Bytes of a chip's SCI, ERR, IVM and DQ on the device."""
        arrays = ((k, getattr(state.chip, k)) for k in self._CHIP_ARRAYS)
        return sum(conversion_bytes(self.b, a, self._device_type(k, a))
                   for k, a in arrays if a is not None)

    def _chip(self, state, key):
        """A chip's ``"sci"``, ``"err"``, ``"ivm"`` or ``"dq"`` array as a backend operand, or None.

        On the host backends the input array itself (numpy operations read
        FITS's big-endian data in the same pass).  On a device a copy in
        native byte order (float32; DQ in its own integer type), uploaded
        once per run and kept while the memory plan allows
        (``self.resident``), else uploaded at each use.
        """
        a = getattr(state.chip, key)
        if a is None or self.xp is np:
            return a
        if key in state.device:
            return state.device[key]
        arr = self.b.asarray(a, self._device_type(key, a))
        if self.resident:
            state.device[key] = arr
        return arr

    def _chip_input(self, state, key):
        """A chip's array for a step function that converts its inputs one chip at a time:
        the kept device copy (see :meth:`_chip`), else the input array itself, so that a
        list of them never holds every chip on a device at once."""
        return self._chip(state, key) if self.resident else getattr(state.chip, key)

    def _good(self, state, bits, with_cr):
        """Bool mask of a chip's good pixels for a drizzle step (:func:`chipscience.good_mask`)."""
        good = chipscience.good_mask(state.chip.shape, self.xp, dq=self._chip(state, "dq"),
                                     bits=bits, resetbits=self.p["resetbits"],
                                     static=state.static,
                                     crmask=self._crmask(state) if with_cr else None,
                                     threads=self._threads)
        if not bool(good.any()):
            log.warning("%s: every pixel is masked for this step; the chip adds nothing", state.name)
        return good

    def _drizzle_data(self, state):
        """SCI - sky on the backend, in processing units (``proc_unit``), and its drizzle units."""
        chip = state.chip
        return chipscience.drizzle_data(self._chip(state, "sci"), state.sky, chip.units, chip.gain,
                                        chip.is_rate, self.p["proc_unit"], self.xp,
                                        threads=self._threads)

    def _plan(self, state, wcs):
        return PixmapPlan(state.chip.wcs, wcs, state.chip.shape, backend=self.b)

    def _pixmap(self, plan):
        """A chip's pixel map, built into the map buffer of its shape (one live map per
        shape) unless the buffer holds this plan's map already."""
        held = self._map_buffers.get(plan.shape)
        if held is not None and held[0] is plan:
            return held[1]
        buf = None if held is None else held[1]
        self._map_buffers[plan.shape] = (None, buf)  # a build that fails names no plan
        pixmap = plan.build(out=buf).pixmap
        self._map_buffers[plan.shape] = (plan, pixmap)
        return pixmap

    # -- steps -----------------------------------------------------------
    def _static_mask(self):
        """AND of the chips' own static masks, per chip signature (as
        :func:`gpudrizzle.staticmask.create_static_masks`), one chip at a time so that only
        one exposure's pixels are in memory at once."""
        def signature(c):
            return (c.exposure.instrument, c.exposure.detector, c.chip.shape, c.chip.chip)

        masks = {}
        for c in self.chips:
            mask, _ = chip_static_mask(self._chip_input(c, "sci"), static_sig=self.p["static_sig"],
                                       backend=self.b, device_array=True)
            sig = signature(c)
            masks[sig] = mask if sig not in masks else self.xp.minimum(masks[sig], mask)
            self._advance(c.name, c.exposure)
        for c in self.chips:
            c.static = masks[signature(c)]
            bad = int(c.static.size - self.xp.count_nonzero(c.static))
            log.info("%s: static mask flags %d pixel(s)", c.name, bad)

    def _sky_per_exposure(self):
        """True when each exposure's sky depends on its own chips only (skymethod localmin):
        then the sky is measured one exposure at a time, with one exposure's pixels in memory."""
        return self.p["skymethod"].strip().lower() == "localmin"

    def _sky(self):
        p = self.p
        if not p["skysub"]:
            for c in self.chips:
                c.sky = self._user_sky(c)
            return
        if self._sky_per_exposure():
            for e in self.exposures:
                self._measure_sky([c for c in self.chips if c.exposure is e])
                self._advance(e.label, e)
        else:
            self._measure_sky(self.chips)

    def _measure_sky(self, chips):
        """MDRIZSKY of ``chips`` (:func:`gpudrizzle.sky.compute_sky`) into their ``sky``."""
        p = self.p
        masks, conv = [], []
        for c in chips:
            static = c.static if p["use_static"] and c.static is not None else None
            dq = self._chip(c, "dq")
            if dq is None:
                m = None if static is None else static.view(bool)
            else:
                m = chipscience.good_mask(c.chip.shape, self.xp, dq=dq, bits=p["sky_bits"],
                                          resetbits=p["resetbits"], static=static,
                                          threads=self._threads)
            masks.append(m)
            scale = c.chip.idcscale or pixel_scale(c.chip.wcs)
            conv.append(brightness_factor(scale, exptime=c.exposure.exptime, count_rate=c.chip.is_rate))
        result = compute_sky([self._chip_input(c, "sci") for c in chips],
                             [c.index for c in chips],
                             brightness=conv, masks=masks,
                             **_step_keywords(p, STEP2, compute_sky), backend=self.b,
                             wcs=[c.chip.wcs for c in chips])
        for c, value, own in zip(chips, result.mdrizsky, result.chip_sky):
            c.sky = float(value)
            if own is None:
                log.warning("%s: no usable pixel for the sky; using %g", c.name, c.sky)
            log.info("%s: MDRIZSKY = %.6g", c.name, c.sky)

    def _user_sky(self, c):
        """Sky already subtracted by the user (``skyuser`` keyword), else 0."""
        key = self.p["skyuser"]
        if not key:
            return 0.0
        for h in (c.chip.header, c.exposure.primary_header):
            if h is not None and key in h:
                return float(h[key])
        log.warning("%s: skyuser keyword %s not found; sky taken as 0", c.name, key)
        return 0.0

    def _singles_on_disk(self):
        """True when the singles wait for the median in a scratch file (and there is a median)."""
        return self._on_disk and bool(self.steps.median)

    def _keep_crmask(self, c, mask):
        """Keep a chip's CR mask (uint8, 1 good) for the final drizzle: in a scratch file when
        :attr:`_on_disk`, else as it is."""
        c.cr_pixels = int(self.xp.count_nonzero(mask == 0))
        if not self._on_disk:
            c.crmask = mask
            return
        if self._cr_scratch is None:
            self._cr_scratch = self._scoped.enter_context(ScratchImages(
                f"{self.out.rootname}_crmasks", "the cosmic-ray masks, kept on disk for the "
                "final drizzle"))
        c.crmask = self._cr_scratch.append(mask)

    def _crmask(self, c):
        """A chip's CR mask as a backend array (read back from its scratch file), or None."""
        m = c.crmask
        return m.read_rows(0, m.shape[0]) if isinstance(m, DiskImage) else m

    def _close_scratch(self):
        """Remove the singles' scratch file, if any (again: nothing)."""
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.close()

    def _drizzle_separate(self):
        try:
            return self._drizzle_separate_all()
        except BaseException:
            self._close_scratch()
            raise

    def _drizzle_separate_all(self):
        p = self.p
        shape = self.sep_wcs.array_shape
        singles_sci, singles_wht = [], []
        self._close_scratch()
        if self._singles_on_disk():
            # each single goes to the file once drizzled; the median reads its rows back
            self._scratch = ScratchImages(f"{self.out.rootname}_singles")
        d = Drizzle(kernel=p["driz_sep_kernel"], fillval=p["driz_sep_fillval"],
                    out_shape=shape, disable_ctx=True, backend=self.b, device_arrays=True)
        # singles on disk and in no background write: one pair of product arrays serves
        # every exposure in turn
        reuse_ok = self._scratch is not None and self.xp is np and not self.inter_names
        reuse = None
        for i, e in enumerate(self.exposures):
            d.reset(threads=self._threads)  # one set of output sums for every exposure
            for c in (s for s in self.chips if s.index == i):
                plan = self._plan(c, self.sep_wcs)
                pixmap = self._pixmap(plan)
                data, units = self._drizzle_data(c)
                weight = chipscience.step_weights(
                    self._good(c, p["driz_sep_bits"], with_cr=False), e.exptime, self.xp,
                    threads=self._threads)
                ratio = pix_ratio(c.chip.wcs, self.sep_wcs)
                scale = chipscience.weight_scale(p["driz_sep_wt_scl"])
                d.add_image(data, e.exptime, pixmap, iscale=ratio ** 2,
                            pixel_scale_ratio=ratio, weight_map=weight, wht_scale=scale,
                            pixfrac=p["driz_sep_pixfrac"], in_units=units)
                if (self.steps.blot or self.reuse_sep_plan) and not self._on_disk:
                    c.sep_plan = plan  # (on disk: memory flat in N, so made again when needed)
                del pixmap, data, weight
            sci, wht = d.get_out_img(None if reuse is None else reuse[0]), \
                d.get_out_wht(None if reuse is None else reuse[1])
            if ("single_sci", i) in self.inter_names:
                self._write_intermediate(("single_sci", i), sci, self.sep_wcs, bunit="ELECTRONS/S")
                self._write_intermediate(("single_wht", i), wht, self.sep_wcs)
            if self._scratch is not None:
                if reuse_ok:
                    reuse = (sci, wht)  # free once in the file
                sci, wht = self._scratch.append(sci), self._scratch.append(wht)
            singles_sci.append(sci)
            singles_wht.append(wht)
            del sci, wht
            self._advance(e.label, e)
        return singles_sci, singles_wht

    def _exposure_noise(self, i):
        """(read noise e-, sky e-) of exposure ``i`` for the minmed noise model."""
        states = [c for c in self.chips if c.index == i]
        e = self.exposures[i]
        return chipscience.exposure_noise(
            [c.chip.rdnoise for c in states],
            [c.sky * chipscience.to_electrons(c.chip.units, c.chip.gain, e.exptime, c.chip.is_rate)
             for c in states])

    def _median(self, singles):
        p = self.p
        sci, wht = singles
        noise = [self._exposure_noise(i) for i in range(len(self.exposures))]
        try:
            med = create_median(sci, wht, **_step_keywords(p, STEP4, create_median),
                                readnoise=[n[0] for n in noise],
                                exptime=[e.exptime for e in self.exposures],
                                sky=[n[1] for n in noise], backend=self.b, device_array=True)
        finally:
            self._close_scratch()
        if "med" in self.inter_names:
            self._write_intermediate("med", med, self.sep_wcs, bunit="ELECTRONS/S")
        return med

    def _blot_and_cr(self, median, do_cr):
        p, xp = self.p, self.xp
        # last chip first: its separate drizzle map is still in the map buffer, and the
        # final drizzle, first chip first, then finds the first chip's map there
        for c in reversed(self.chips):
            chip, e = c.chip, c.exposure
            ratio = pix_ratio(chip.wcs, self.sep_wcs)
            iscale = chipscience.blot_scale(e.exptime, ratio, chip.units, chip.gain, chip.is_rate,
                                            p["proc_unit"])
            out = xp.empty(chip.shape, np.float32)
            plan = c.sep_plan if c.sep_plan is not None else self._plan(c, self.sep_wcs)
            blot_image(median, self._pixmap(plan), out_img=out, fillval=0.0, iscale=iscale,
                       interp=p["blot_interp"], sinscl=p["blot_sinscl"], backend=self.b)
            if not self.reuse_sep_plan:
                c.sep_plan = None
            sky = c.sky if p["blot_addsky"] else p["blot_skyval"]
            out += np.float32(sky)
            key = ("blt", c.index, chip.chip)
            if key in self.inter_names:
                self._write_intermediate(key, out, chip.wcs, bunit=chip.units)
            if not do_cr:
                self._advance(c.name, c.exposure)
                continue
            conversion = chipscience.to_electrons(chip.units, chip.gain, e.exptime, chip.is_rate)
            step = {**_step_keywords(p, STEP6, driz_cr), "driz_cr_corr": False}
            res = driz_cr(self._chip(c, "sci"), out, None,
                          gain=chipscience.electrons_per_unit(chip.units, chip.gain),
                          rdnoise=chip.rdnoise, sky=c.sky, conversion=conversion,
                          cte_dir=chip.cte_dir, crbit=p["crbit"], backend=self.b,
                          device_array=True, **step)
            self._keep_crmask(c, res.crmask)
            log.info("%s: %d pixel(s) flagged as cosmic rays", c.name, c.cr_pixels)
            key = ("crmask", c.index, chip.chip)
            if key in self.inter_names:
                self._write_intermediate(key, res.crmask, chip.wcs)
            del res
            del out
            self._advance(c.name, c.exposure)

    def _reads_earlier_crmasks(self):
        """True when the final drizzle takes its CR masks from an earlier run's files, as
        drizzlepac does: driz_cr off for several exposures, intermediates not in memory."""
        steps = self.steps
        return (steps.driz_combine and not steps.driz_cr and len(self.exposures) > 1
                and self.given_exposures is None and not self.p["in_memory"])

    def _load_earlier_crmasks(self, directory):
        """Each chip's ``_crmask.fits`` of an earlier run into ``crmask``; a warning names
        every mask missing or unusable (the final drizzle then goes on without it)."""
        problems = []
        for c in self.chips:
            path = products.crmask_name(directory, c.exposure, c.chip.chip)
            mask, problem = _read_crmask(path, c.chip.shape)
            if problem:
                problems.append(problem)
                continue
            self._keep_crmask(c, self.b.asarray(mask, np.uint8))
            log.info("%s: cosmic-ray mask of an earlier run read from %s (%d pixel(s) flagged)",
                     c.name, path, c.cr_pixels)
        if problems:
            log.warning("driz_cr is off and the final drizzle uses no cosmic-ray mask for %d "
                        "chip(s): %s", len(problems), "; ".join(problems))

    def _final_weight(self, c, ratio):
        """(weight map, weight scale, variance) of a chip for the final drizzle."""
        p, xp, chip, e = self.p, self.xp, c.chip, c.exposure
        to_e = chipscience.to_electrons(chip.units, chip.gain, e.exptime, chip.is_rate)
        err = self._chip(c, "err")
        sci = self._chip(c, "sci") if err is None else None
        var = chipscience.variance(sci, err, chip.units, chip.gain, chip.rdnoise, to_e,
                                   p["proc_unit"], xp, threads=self._threads)
        kind = chipscience.final_weight_type(p["final_wht_type"], err is not None)
        if kind != p["final_wht_type"]:
            log.warning("%s has no ERR array: weighting by exposure time only", chip.label)
        good = self._good(c, p["final_bits"], with_cr=True)
        weight, scale = chipscience.final_weights(
            kind, good, e.exptime, ratio, xp, err=err,
            ivm=self._chip(c, "ivm") if kind == "IVM" else None, shape=chip.shape,
            sky_e=c.sky * to_e, rdnoise=chip.rdnoise, darkcurrent=chip.darkcurrent,
            wt_scl=chipscience.weight_scale(p["final_wt_scl"]), threads=self._threads)
        return weight, scale, var

    def _final_drizzle(self):
        p, xp = self.p, self.xp
        wcs = self.final_wcs
        shape = wcs.array_shape
        d = Drizzle(kernel=p["final_kernel"], fillval=p["final_fillval"],
                    fillval2=p["final_fillval"], out_shape=shape,
                    disable_ctx=not p["context"], max_ctx_id=max(len(self.chips) - 1, 0),
                    backend=self.b, device_arrays=True)
        records = []
        for c in self.chips:
            chip, e = c.chip, c.exposure
            ratio = pix_ratio(chip.wcs, wcs)
            weight, wt_scl, var = self._final_weight(c, ratio)
            data, units = self._drizzle_data(c)
            plan = c.sep_plan if self.reuse_sep_plan and c.sep_plan is not None \
                else self._plan(c, wcs)
            pixmap = self._pixmap(plan)
            c.sep_plan = None
            d.add_image(data, e.exptime, pixmap, data2=var, iscale=ratio ** 2,
                        pixel_scale_ratio=ratio, weight_map=weight, wht_scale=wt_scl,
                        pixfrac=p["final_pixfrac"], in_units=units)
            del pixmap, weight, var, data
            fname = os.path.basename(e.filename) if e.filename else e.rootname
            records.append(products.ChipRecord(
                data=f"{fname}[sci,{chip.chip}]", rootname=e.rootname, filename=e.filename or "",
                extver=chip.chip, instrument=e.instrument, detector=e.detector, units=chip.units,
                exptime=e.exptime, expstart=e.expstart, expend=e.expend, sky=c.sky,
                wt_scl=wt_scl, mask="", gain=chip.gain,
                rdnoise=chip.rdnoise, idcscale=chip.idcscale,
                crval=tuple(float(v) for v in chip.wcs.wcs.crval), orientat=orientation(chip.wcs),
                primary=e.primary_cards, science=chip.header_cards))
            self._advance(c.name, c.exposure)
        self._map_buffers.clear()
        sci, wht, ctx = d.out_img, d.out_wht, d.out_ctx
        err = d.out_img2[0]  # the propagated variance, a new array: made the error in place
        del d  # the output sums are no longer needed
        xp.sqrt(xp.maximum(err, np.float32(0), out=err), out=err)
        if p["final_fillval"] is not None:
            err[wht <= 0] = np.float32(p["final_fillval"])
        texptime = float(sum(e.exptime for e in self.exposures))
        if p["final_units"] == "counts":
            covered = wht > 0
            sci = xp.where(covered, sci * np.float32(texptime), sci).astype(np.float32)
            err = xp.where(covered, err * np.float32(texptime), err).astype(np.float32)
        if p["final_maskval"] is not None:
            log.warning("final_maskval=%s is not used: pixels without data get final_fillval",
                        p["final_maskval"])
        bunit = chipscience.product_bunit(self.exposures[0].chips[0].units, p["proc_unit"],
                                          p["final_units"])
        nz = int(xp.count_nonzero(wht > 0))
        if nz == 0:
            raise RuntimeError("the final drizzle received no data: every input pixel was masked "
                               "or fell outside the output frame")
        host = self.b.to_host
        names = self.final_names
        out_names = {k: os.path.basename(v) for k, v in names.items()}
        if "drz" in names:
            base = os.path.basename(names["drz"])
            out_names = {"sci": f"{base}[SCI,1]", "wht": f"{base}[WHT,1]", "ctx": f"{base}[CTX,1]"}
        # (the header is not kept here: write_final drops it once the product holds a copy)
        final = products.write_final if p["write_products"] else self._keep_final
        self.written += final(
            names, sci=host(sci), wht=host(wht), ctx=None if ctx is None else host(ctx),
            err=host(err), wcs=wcs, records=records, bunit=bunit,
            primary=products.primary_header(
                self.exposures[0].primary_header, filename=next(iter(names.values())),
                rootname=self.out.rootname, records=records, params=p, kernel=p["final_kernel"],
                pixfrac=p["final_pixfrac"], units=p["final_units"], fillval=p["final_fillval"],
                out_scale=pixel_scale(wcs), out_names=out_names, runfile=p["runfile"],
                nextend=0),
            overwrite=p["overwrite"])
        for path in self.written:
            log.info("wrote %s", path)

    def _keep_final(self, names, *, overwrite, **product):
        """The product of :func:`gpudrizzle.products.write_final`'s ``drz`` layout kept in
        memory as ``self.hdulist``; nothing is written (returns no file names)."""
        del names, overwrite  # no file
        self.hdulist = products.final_hdulist(**product)
        log.info("final product kept in memory (write_products=False): %s",
                 ", ".join(str(h.name) for h in self.hdulist))
        return []

    # -- files -----------------------------------------------------------
    def _write_intermediate(self, key, array, wcs, bunit=None):
        """Write an intermediate product in the background; ``array`` must not change after."""
        path = self.inter_names[key]
        header = products.image_header(wcs, bunit=bunit)
        header["ORIGIN"] = products.software_version()
        data = self.b.to_host(array).view()
        data.flags.writeable = False  # the writer then byte-swaps a copy, not the array in use
        self._writes.append((path, self._writer.submit(
            products.write_image, path, data, header, True, durable=False,
            kind="intermediate file")))

    def _finish_writes(self):
        """Wait for the background writes; the first failure is raised."""
        pending, self._writes = self._writes, []
        for path, done in pending:
            done.result()
            self.intermediates.append(path)
            log.info("wrote %s", path)

    def _update_inputs(self):
        """MDRIZSKY into every SCI header and ``crbit`` into DQ, as drizzlepac does."""
        p = self.p
        for i, e in enumerate(self.exposures):
            if p["preserve"]:
                orig = os.path.join(os.path.dirname(os.path.abspath(e.filename)), "OrIg_files")
                os.makedirs(orig, exist_ok=True)
                target = os.path.join(orig, os.path.basename(e.filename))
                if p["overwrite"] or not os.path.exists(target):
                    shutil.copy2(e.filename, target)
                    log.info("copied %s to %s", e.filename, target)
            states = {c.chip.chip: c for c in self.chips if c.index == i}
            with fits.open(e.filename, mode="update", memmap=False) as hdul:
                for chip_no, c in states.items():
                    hdul["SCI", chip_no].header["MDRIZSKY"] = (c.sky, "Sky value computed by AstroDrizzle")
                    try:
                        dq_hdu = hdul["DQ", chip_no]
                    except KeyError:
                        continue
                    if dq_hdu.data is None:
                        continue
                    cr = None if c.crmask is None else self.b.to_host(self._crmask(c)) == 0
                    dq_hdu.data = chipscience.updated_dq(dq_hdu.data, p["resetbits"], cr, p["crbit"])
            log.info("updated %s (MDRIZSKY, DQ bit %d)", e.filename, p["crbit"])
            self._advance(e.label)
