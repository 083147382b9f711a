"""Mosaics: one AstroDrizzle job per sky cell, serially or on ``dask.distributed``.

A mosaic is made in two stages:

* :func:`plan` reads only the inputs' headers, cuts the sky into cells
  (:mod:`gpudrizzle.skycells`: tiles of an output frame, or the HAP grid) and
  writes ``<outdir>/mosaic_plan.json``: per cell its name, frame (FITS cards),
  shape, core and member files.  The file is plain JSON, meant to be read and
  edited (drop a cell, drop a member) before the run;
* :func:`run` runs :func:`run_cell` once per cell of the plan: in this
  process one after the other (no scheduler), or as one future per cell on
  a ``dask.distributed`` cluster (a local one, or a scheduler's address).
  Only paths, names and small dicts of parameters travel to the workers.

A cell job drizzles the cell's members onto the cell's frame (every
AstroDrizzle step; the separate drizzle and the median on the same frame),
writes its products into ``<outdir>/<cell>/`` (``<cell>_drz.fits``, the
log ``<cell>.log``) and then, last, ``<cell>/manifest.json``: a SHA-256
digest of the member files' bytes, the cell frame and the resolved
parameters, and the products' digests.  Every file is published atomically
(:mod:`gpudrizzle.files`), so a job killed at any point leaves either the
previous products or the new ones, and no manifest for the new ones: a
retry redoes the cell.  A cell whose manifest matches the current inputs and
parameters is skipped (resume); a changed member, frame or parameter
invalidates it.

Products do not depend on how the cells are scheduled: each cell is one
independent, deterministic AstroDrizzle run.  Their ``DATE`` keyword is the
day they are written, or that of ``SOURCE_DATE_EPOCH`` when it is set
(set it for byte-identical products across days).
"""

import hashlib
import json
import logging
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from . import files
from .inputs import check_file, expand_input
from .skycells import SkyCell, assign, chip_wcs, exposure_footprints, tile_grid

__all__ = ["plan", "load_plan", "plan_mismatch", "run_cell", "run", "MosaicResult", "CellOutcome",
           "PLAN_NAME", "MANIFEST_NAME", "CELL_PARAMETERS", "CELL_DEFAULTS"]

log = logging.getLogger("gpudrizzle")

PLAN_NAME = "mosaic_plan.json"
MANIFEST_NAME = "manifest.json"
_PLAN_VERSION = 1
_CHUNK = 1 << 22
#: AstroDrizzle parameters each cell job sets itself (not to be given for a mosaic)
CELL_PARAMETERS = ("input", "output", "runfile", "final_refimage", "driz_sep_refimage",
                   "write_products")
# ... and those that change how a job runs but not what it writes: not in the digest
_NOT_DIGESTED = CELL_PARAMETERS + ("num_cores", "verbose", "editpars", "mdriztab", "wcsmap",
                                   "overwrite")
# a cell's defaults: built products, no intermediates left behind, redo replaces
# context=False: a context image holds one bit per input chip, ceil(chips / 32) int32
# planes of the cell (700 two-chip exposures: 44 planes), the one product whose memory
# grows with the number of exposures; give context=True to have it.
CELL_DEFAULTS = {"build": True, "clean": True, "context": False}


# ---------------------------------------------------------------------------
# planning


def _cell_record(cell, members):
    header = cell.header()
    cards = {k: (v if not isinstance(v, (np.floating, np.integer)) else v.item())
             for k, v in header.items() if k not in ("COMMENT", "HISTORY", "")}
    return {"name": cell.name, "layer": cell.layer, "shape": list(cell.shape),
            "core": [int(v) for v in cell.core], "wcs": cards, "members": list(members)}


def plan(inputs, outdir, *, grid="tiles", tile=2048, border=0, frame=None, scale=None,
         allow_unassigned=False) -> str:
    """Plan a mosaic from the inputs' headers and write ``<outdir>/mosaic_plan.json``.

    Parameters
    ----------
    inputs : str or sequence of str
        Input exposures as AstroDrizzle's ``input`` (names, wildcards,
        ``@list``, ``_asn.fits``).
    outdir : str
        The mosaic's directory (created if missing); cells go into
        ``<outdir>/<cell name>/``.
    grid : {"tiles", "hap"}
        ``"tiles"``: cells of ``tile`` x ``tile`` pixels (plus ``border``) of
        ``frame``; ``"hap"``: drizzlepac's HAP sky cells
        (:func:`gpudrizzle.hapcells.hap_cells`).
    tile : int or (int, int)
        Core size (pixels) of a tile.
    border : int
        Overlap (pixels) added on every side of a tile.
    frame : astropy.wcs.WCS, optional
        The mosaic's frame (celestial, ``pixel_shape`` set) for tiles;
        default: AstroDrizzle's default frame of all input chips
        (:func:`gpudrizzle.outframe.default_frame`), from their headers.
    scale : float, optional
        HAP layer (arcsec per pixel, default 0.04); not used for tiles.
    allow_unassigned : bool
        Whether inputs that touch no cell are only a warning (listed in the
        plan as ``unassigned``); by default they are an error.

    Returns
    -------
    str
        Path of the plan file.

    Raises
    ------
    ValueError
        A bad ``grid``, ``tile`` or ``border``; an input that touches no
        cell (unless ``allow_unassigned``); no cell touched by any input.
    OSError
        A missing or unreadable input.
    """
    if grid not in ("tiles", "hap"):
        raise ValueError(f"'grid' must be 'tiles' or 'hap'; got {grid!r}")
    names = [os.path.abspath(f) for f in expand_input(inputs).files]
    footprints = {f: exposure_footprints(f) for f in names}
    # the options a rerun is checked against (plan_mismatch)
    options = {"tile": int(tile), "border": int(border)} if grid == "tiles" and frame is None \
        else {}
    if grid == "hap":
        from .hapcells import hap_cells

        cells = hap_cells(footprints, scale=0.04 if scale is None else scale)
    else:
        if frame is None:
            from .outframe import default_frame

            frame = default_frame([w for f in names for w in chip_wcs(f)])
        cells = tile_grid(frame, tile, border)
    members = assign(cells, footprints)
    assigned = {f for m in members.values() for f in m}
    unassigned = [f for f in names if f not in assigned]
    if not members:
        raise ValueError(f"no input touches any cell of the {grid} grid ({len(cells)} cells); "
                         "check the inputs' WCS and the grid's frame")
    if unassigned:
        text = ", ".join(unassigned[:5]) + (" ..." if len(unassigned) > 5 else "")
        if not allow_unassigned:
            raise ValueError(f"{len(unassigned)} input(s) touch no cell of the {grid} grid: "
                             f"{text} (pass allow_unassigned=True to leave them out)")
        log.warning("%d input(s) touch no cell and are left out: %s", len(unassigned), text)
    os.makedirs(outdir, exist_ok=True)
    doc = {"version": _PLAN_VERSION, "grid": grid, "inputs": names, "unassigned": unassigned,
           "cells": [_cell_record(c, members[c.name]) for c in cells if c.name in members]}
    doc.update(options)
    path = os.path.join(outdir, PLAN_NAME)
    files.write_text(path, json.dumps(doc, indent=1) + "\n", kind="mosaic plan")
    log.info("mosaic plan %s: %d cells, %d inputs", path, len(doc["cells"]), len(names))
    return path


def _cell_from_record(rec, where):
    try:
        header = fits.Header()
        for k, v in rec["wcs"].items():
            header[k] = v
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            w = WCS(header)
        w.pixel_shape = (int(header["NAXIS1"]), int(header["NAXIS2"]))
        cell = SkyCell(str(rec["name"]), w, tuple(int(v) for v in rec["core"]),
                       str(rec.get("layer", "tiles")))
        members = [str(m) for m in rec["members"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad cell record {rec.get('name', '?')!r} "
                         f"({type(exc).__name__}: {exc})") from None
    if not members:
        raise ValueError(f"{where}: cell {cell.name!r} has no member files")
    return cell, members


def _read_plan(plan_path):
    """The plan file's JSON, checked to be a plan of this version (cells as records)."""
    check_file(plan_path, "mosaic plan")
    with open(plan_path, encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{plan_path}: not a mosaic plan (bad JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != _PLAN_VERSION:
        raise ValueError(f"{plan_path}: not a mosaic plan of version {_PLAN_VERSION}")
    return doc


def load_plan(plan_path) -> dict:
    """Read a plan file.

    Parameters
    ----------
    plan_path : str

    Returns
    -------
    dict
        The plan's JSON, with ``"cells"`` turned into an ordered dict
        ``name -> (SkyCell, [member files])`` and ``"outdir"`` (the plan's
        directory) added.

    Raises
    ------
    OSError
        A missing plan file.
    ValueError
        Not a plan, a bad cell record, two cells of one name, or no cell.
    """
    plan_path = os.fspath(plan_path)
    doc = _read_plan(plan_path)
    cells = {}
    for rec in doc.get("cells") or []:
        cell, members = _cell_from_record(rec, plan_path)
        if cell.name in cells:
            raise ValueError(f"{plan_path}: two cells named {cell.name!r}")
        cells[cell.name] = (cell, members)
    if not cells:
        raise ValueError(f"{plan_path}: the plan has no cells")
    doc["cells"] = cells
    doc["outdir"] = os.path.dirname(os.path.abspath(plan_path))
    return doc


def plan_mismatch(plan_path, inputs, *, grid=None, tile=None, border=None):
    """How an existing plan differs from the inputs and grid options of a new call, or None.

    Parameters
    ----------
    plan_path : str
    inputs : str or list of str
        As :func:`plan`'s.
    grid, tile, border : optional
        As :func:`plan`'s; None: not compared.

    Returns
    -------
    str or None
        E.g. ``"1 input not in the plan (.../j9m0004aq_flt.fits)"``.
    """
    doc = _read_plan(os.fspath(plan_path))  # the cells' frames are not needed here
    names = {os.path.abspath(f) for f in expand_input(inputs).files}
    planned = set(doc.get("inputs") or [])
    reasons = []
    for what, extra in (("not in the plan", sorted(names - planned)),
                        ("in the plan, not given", sorted(planned - names))):
        if extra:
            reasons.append(f"{len(extra)} input(s) {what} ({', '.join(extra[:3])}"
                           f"{' ...' if len(extra) > 3 else ''})")
    for key, value in (("grid", grid), ("tile", tile), ("border", border)):
        if value is not None and key in doc and doc[key] != value:
            reasons.append(f"{key} {doc[key]!r} in the plan, {value!r} given")
    return "; ".join(reasons) or None


# ---------------------------------------------------------------------------
# one cell


def _file_digest(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(_CHUNK)
            if not block:
                break
            h.update(block)
    return h


def _canonical(value):
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _cell_call(cell, members, cell_dir, params, num_cores):
    """The AstroDrizzle keywords of a cell job."""
    call = dict(CELL_DEFAULTS)
    call.update(params or {})
    for key in CELL_PARAMETERS:
        if key in call:
            raise ValueError(f"parameter {key!r} is set by the mosaic for each cell; "
                             "do not give it")
    call.update(input=list(members), output=os.path.join(cell_dir, cell.name),
                runfile=os.path.join(cell_dir, cell.name + ".log"),
                final_refimage=cell.wcs, driz_sep_refimage=cell.wcs, overwrite=True)
    if num_cores is not None and "num_cores" not in (params or {}):
        call["num_cores"] = num_cores
    return call


def _inputs_digest(cell, members, call):
    """SHA-256 over the members' bytes, the cell frame and the resolved parameters."""
    from .params import resolve_parameters

    resolved = resolve_parameters({k: v for k, v in call.items()
                                   if k not in ("final_refimage", "driz_sep_refimage")})
    pars = {k: _canonical(v) for k, v in resolved.items() if k not in _NOT_DIGESTED}
    h = hashlib.sha256()
    for m in members:
        h.update(os.path.basename(m).encode() + b"\0")
        _file_digest(m, h)
    h.update(cell.header().tostring(sep="\n").encode())
    h.update(json.dumps({"core": list(cell.core), "parameters": pars},
                        sort_keys=True).encode())
    return h.hexdigest(), pars


def _worker_threads():
    """Threads of the dask worker running this task, or None outside a worker."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        w = get_worker()
    except ValueError:
        return None
    n = getattr(getattr(w, "state", None), "nthreads", None) or getattr(w, "nthreads", None)
    return int(n) if n else None


def _manifest_matches(path, digest):
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    if m.get("digest") != digest:
        return None
    directory = os.path.dirname(path)
    for name, rec in (m.get("products") or {}).items():
        p = os.path.join(directory, name)
        if not os.path.isfile(p) or os.path.getsize(p) != rec.get("bytes"):
            return None
    return m


def run_cell(plan_path, cell_name, params=None, resume=True) -> dict:
    """Drizzle one cell of a plan: the job of one future (arguments are plain values).

    Parameters
    ----------
    plan_path : str
        The plan file (:func:`plan`).
    cell_name : str
        A cell of the plan.
    params : dict, optional
        AstroDrizzle parameters (names as :func:`gpudrizzle.astrodrizzle.AstroDrizzle`);
        ``input``, ``output``, ``runfile`` and the refimages are set by the
        job.  Defaults differing from AstroDrizzle's: ``build=True``,
        ``clean=True``, ``context=False`` (a context image takes one bit per
        input chip and pixel: the only memory of a cell that grows with the
        number of exposures); ``num_cores`` is the dask worker's threads.
    resume : bool
        Skip the cell when its manifest matches the inputs and parameters.

    Returns
    -------
    dict
        ``cell``, ``status`` (``"done"`` or ``"skipped"``), ``digest``,
        ``products`` (``name -> {"sha256", "bytes"}``), ``manifest`` (path),
        ``seconds``.

    Raises
    ------
    Exception
        Whatever the cell's AstroDrizzle run raises (unreadable member, no
        overlap, ...): nothing of the cell's manifest is written then.
    """
    from .astrodrizzle import AstroDrizzle

    t0 = time.perf_counter()
    doc = load_plan(plan_path)
    if cell_name not in doc["cells"]:
        raise ValueError(f"{plan_path}: no cell named {cell_name!r}")
    cell, members = doc["cells"][cell_name]
    cell_dir = os.path.join(doc["outdir"], cell.name)
    os.makedirs(cell_dir, exist_ok=True)
    files.remove_stale(cell_dir)
    for m in members:
        check_file(m, "member file", f" of cell {cell.name}")
    call = _cell_call(cell, members, cell_dir, params, _worker_threads())
    digest, pars = _inputs_digest(cell, members, call)
    manifest = os.path.join(cell_dir, MANIFEST_NAME)
    if resume:
        old = _manifest_matches(manifest, digest)
        if old is not None:
            return {"cell": cell.name, "status": "skipped", "digest": digest,
                    "products": old["products"], "manifest": manifest,
                    "seconds": time.perf_counter() - t0}
    if os.path.exists(manifest):  # the products are about to change
        os.remove(manifest)
    result = AstroDrizzle(**call)
    prods = {}
    for p in result.products:
        prods[os.path.basename(p)] = {"sha256": _file_digest(p).hexdigest(),
                                      "bytes": os.path.getsize(p)}
    record = {"cell": cell.name, "digest": digest, "members": members,
              "parameters": pars, "products": prods}
    files.write_text(manifest, json.dumps(record, indent=1, sort_keys=True) + "\n",
                     kind="cell manifest")
    return {"cell": cell.name, "status": "done", "digest": digest, "products": prods,
            "manifest": manifest, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------
# the whole mosaic


@dataclass
class CellOutcome:
    """What happened to one cell: ``status`` ``done``, ``skipped`` or ``failed``."""

    cell: str
    status: str
    products: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


@dataclass
class MosaicResult:
    """Outcome of :func:`run`: one :class:`CellOutcome` per cell, in plan order."""

    plan: str
    cells: list

    def by_status(self, status):
        """Names of the cells with ``status``."""
        return [c.cell for c in self.cells if c.status == status]

    @property
    def failed(self):
        """The failed cells' outcomes."""
        return [c for c in self.cells if c.status == "failed"]

    def summary(self):
        """A text table: one line per cell, then the counts."""
        width = max([len(c.cell) for c in self.cells] + [4])
        lines = [f"{'cell':<{width}}  status   seconds  detail"]
        for c in self.cells:
            detail = c.error if c.status == "failed" else ", ".join(c.products)
            lines.append(f"{c.cell:<{width}}  {c.status:<7}  {c.seconds:7.2f}  {detail}")
        counts = {s: len(self.by_status(s)) for s in ("done", "skipped", "failed")}
        lines.append(f"cells: {len(self.cells)}; done {counts['done']}, skipped "
                     f"{counts['skipped']}, failed {counts['failed']}")
        return "\n".join(lines)


def _reason(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _outcome(value):
    return CellOutcome(value["cell"], value["status"], value["products"], value["seconds"])


def run(plan_path, *, scheduler=None, workers=None, threads_per_worker=1, resume=True,
        progress=None, job=None, **astrodrizzle_params) -> MosaicResult:
    """Run every cell of a plan; a failed cell is reported, the others finish.

    Parameters
    ----------
    plan_path : str
        The plan file (:func:`plan`).
    scheduler : None, "local", "local-cuda", str or distributed.Client
        None: the cells one after the other in this process; ``"local"``: a
        ``LocalCluster`` of ``workers`` processes with ``threads_per_worker``
        threads each; ``"local-cuda"``: dask-cuda's ``LocalCUDACluster``, one
        worker per GPU, cells on the cuda backend; otherwise the address of a
        running dask scheduler (``tcp://host:8786``) or a Client.
    workers : int, optional
        Worker processes of the local cluster (default: CPU cores divided by
        ``threads_per_worker``).
    threads_per_worker : int
        Threads per local worker: the number of cells a worker runs at once,
        and the kernel threads of each job (``num_cores``) is the worker's.
    resume : bool
        Skip the cells whose manifest matches their inputs and parameters.
    progress : callable, optional
        Called with each :class:`CellOutcome` as its cell ends.
    job : callable, optional
        The cell job (default :func:`run_cell`; same signature), e.g. a
        wrapper that prepares a worker; must be importable or picklable.
    **astrodrizzle_params
        AstroDrizzle parameters for every cell (not ``input``, ``output``,
        ``runfile`` nor the refimages).

    Returns
    -------
    MosaicResult
    """
    doc = load_plan(plan_path)
    names = list(doc["cells"])
    params = dict(astrodrizzle_params)
    bad = [k for k in CELL_PARAMETERS if k in params]
    if bad:
        raise ValueError(f"parameter {bad[0]!r} is set by the mosaic for each cell; do not give it")
    if params:
        from .params import resolve_parameters

        resolve_parameters(params)  # a bad value fails here, not in every cell
    job = job or run_cell
    outcomes = {}

    def record(outcome):
        outcomes[outcome.cell] = outcome
        if progress is not None:
            progress(outcome)

    if scheduler is None:
        for name in names:
            t0 = time.perf_counter()
            try:
                record(_outcome(job(plan_path, name, params, resume)))
            except Exception as exc:
                log.debug("cell %s failed:\n%s", name, traceback.format_exc())
                record(CellOutcome(name, "failed", seconds=time.perf_counter() - t0,
                                   error=_reason(exc)))
        return MosaicResult(plan_path, [outcomes[n] for n in names])

    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError("a scheduler needs dask.distributed: pip install "
                          "'gpudrizzle[mosaic]'") from None
    if isinstance(scheduler, str) and scheduler == "local-cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise ImportError("scheduler='local-cuda' needs dask-cuda (one worker per GPU): "
                              "pip install dask-cuda") from None
        cluster = LocalCUDACluster(threads_per_worker=threads_per_worker, dashboard_address=None)
        client = Client(cluster)
        owned = [client, cluster]
        params.setdefault("backend", "cuda")
    elif isinstance(scheduler, str) and scheduler == "local":
        if threads_per_worker < 1:
            raise ValueError(f"'threads_per_worker' must be >= 1; got {threads_per_worker!r}")
        n = workers or max(1, (os.cpu_count() or 1) // threads_per_worker)
        cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
        owned = [client, cluster]
    elif isinstance(scheduler, str):
        client, owned = Client(scheduler), None
        owned = [client]
    else:  # an existing Client
        client, owned = scheduler, []
    try:
        plan_abs = os.path.abspath(plan_path)
        token = hashlib.sha256(f"{plan_abs}{time.time_ns()}".encode()).hexdigest()[:8]
        futures = {client.submit(job, plan_abs, name, params, resume,
                                 key=f"mosaic-{name}-{token}", retries=2, pure=False): name
                   for name in names}
        for fut in as_completed(futures):
            name = futures[fut]
            if fut.status == "finished":
                record(_outcome(fut.result()))
            else:
                exc = fut.exception()
                record(CellOutcome(name, "failed", error=_reason(exc)))
    finally:
        for obj in owned:
            obj.close()
    return MosaicResult(plan_path, [outcomes[n] for n in names])
