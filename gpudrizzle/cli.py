"""The ``gpudrizzle`` command.

Sub-commands::

    gpudrizzle run INPUT... [--output NAME] [--config FILE.cfg] [--backend NAME]
                            [--preview OUT.png] [--report OUT.json] [--<any AstroDrizzle parameter>]
    gpudrizzle demo [--size small|full] [--outdir DIR] [--backend NAME] [--preview OUT.png]
    gpudrizzle preview PRODUCT [--output OUT.png] [--inputs DIR]
    gpudrizzle tweakreg INPUT... [--config tweakreg.cfg] [--imagefindcfg FILE.cfg]
                                 [--refimagefindcfg FILE.cfg] [--<any TweakReg parameter>]
                                 [--<imagefindpars parameter>] [--ref-<imagefindpars parameter>]
    gpudrizzle mosaic INPUT... --outdir DIR [--grid tiles|hap] [--tile N] [--border N]
                               [--scheduler ADDRESS|local] [--workers N]
                               [--threads-per-worker T] [--<any AstroDrizzle parameter>]
    gpudrizzle info [--json]

Every AstroDrizzle parameter of :data:`gpudrizzle.params.PARAMETERS` is an
option of ``run`` spelled as in :attr:`gpudrizzle.params.Parameter.cli_option`
(``final_kernel`` -> ``--final-kernel``), with the table's help text and
default; only the options given on the command line are passed on, so the
defaults (or a ``--config`` file's values) apply to the rest.  Boolean
parameters take ``yes``/``no`` (``--build`` alone means ``--build yes``).

Exit status: 0 on success, 2 for usage errors (unknown option, bad
parameter value, on the command line or in the ``--config`` file), 1 when
the run fails (missing or unreadable files, inputs that cannot be combined,
a step that fails, a full disk, no matplotlib for ``--preview``), 130 after
SIGINT (Ctrl-C) and 143 after SIGTERM (what batch systems send), as shells
report them; an interrupted run removes its temporary files and keeps its
log.  A log file that cannot be written (full disk) is one warning, not a
failure: the exit status is about the products.
Errors are one line on stderr; ``--debug`` adds the traceback.  Progress bars
go to stderr only when it is a terminal and ``--quiet`` is not given; the
per-step timing table is printed at the end (and is in the run's log).
"""

import argparse
import contextlib
import difflib
import glob
import json
import logging
import os
import re
import sys
import time
import traceback
from importlib import import_module

from . import files
from .params import PARAMETERS, SECTIONS, resolve_parameters

__all__ = ["main", "build_parser", "CommandLineError"]

log = logging.getLogger("gpudrizzle")


class CommandLineError(Exception):
    """A usage error: exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (raises CommandLineError)."""

    def error(self, message):
        if message.startswith("unrecognized arguments:"):
            message += _suggestions(self, message.split(":", 1)[1].split())
        choice = re.search(r"invalid choice: '?([^' ]*)'? \(choose from (.*)\)", message)
        if choice:  # a misspelled sub-command or choice value
            given, listed = choice.groups()
            options = re.findall(r"'([^']*)'", listed) or [c.strip() for c in listed.split(",")]
            close = difflib.get_close_matches(given, options, n=1)
            if close:
                message += f"; did you mean {close[0]}?"
        raise CommandLineError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _suggestions(parser, words):
    """'; did you mean --x?' for the unknown options among ``words`` (all sub-commands')."""
    known = []
    for action in parser._actions:
        known += action.option_strings
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict) and hasattr(action.choices[sub], "_actions"):
                known += [o for a in action.choices[sub]._actions for o in a.option_strings]
    close = [m for w in words if w.startswith("--")
             for m in difflib.get_close_matches(w.split("=")[0], known, n=1, cutoff=0.75)]
    return f"; did you mean {' or '.join(dict.fromkeys(close))}?" if close else ""


def _default_text(value):
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, str) else str(value)


def _add_parameter_options(parser, table=PARAMETERS, sections=SECTIONS, prefix="",
                           titles=None, exclude=("input",), defaults=None):
    """One option per parameter of ``table`` (except ``input``), grouped by .cfg section.

    ``prefix`` goes before option names and destinations (``--ref-threshold``,
    dest ``ref_threshold``); ``titles`` maps sections to group titles;
    ``defaults`` the defaults ``--help`` shows where the command has its own
    (a mosaic's cells).  The parameter's own spelling (``--final_pixfrac``, as
    drizzlepac writes it) is accepted too, without a line of its own in
    ``--help``.
    """
    groups = {}
    for section in sections:
        name = section.lower()
        title = (titles or {}).get(section) or (
            (name if name.endswith("parameters") else f"{name} parameters") if section
            else "general parameters")
        groups[section] = parser.add_argument_group(title)
    for name, par in table.items():
        if name in exclude or par.cli_option is None:
            continue
        shown = (defaults or {}).get(name, par.default)
        default = "" if "(default:" in par.help else f" (default: {_default_text(shown)})"
        help_text = f"{par.help}{default}".replace("%", "%%")
        option = "--" + (prefix + name).replace("_", "-")
        kwargs = {"dest": prefix + name, "default": argparse.SUPPRESS, "help": help_text}
        if isinstance(par.default, bool):
            kwargs.update(nargs="?", const="yes", metavar="yes|no")
        elif par.choices:
            kwargs["metavar"] = "{" + ",".join(par.choices) + "}"
        else:
            kwargs["metavar"] = name.split("_")[-1].upper()
        groups[par.section].add_argument(option, **kwargs)
        alias = "--" + prefix + name
        if alias != option:  # drizzlepac's spelling (--final_pixfrac), not listed in --help
            groups[par.section].add_argument(alias, **{**kwargs, "help": argparse.SUPPRESS})


def _common_options():
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars, no summary; only errors")
    common.add_argument("-v", "--verbose", action="store_true", help="show the run's log on stderr")
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return common


def build_parser():
    """The ``gpudrizzle`` argument parser (sub-commands run, demo, preview, info)."""
    from . import __version__

    parser = _Parser(prog="gpudrizzle",
                     description="GPU-accelerated drizzle: AstroDrizzle on GPUs, with CPU fallback.")
    parser.add_argument("--version", action="version", version=f"gpudrizzle {__version__}")
    for action in _common_options()._actions:  # listed here too: before or after COMMAND
        parser.add_argument(*action.option_strings, action="store_true", help=action.help,
                            dest="_" + action.dest)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    common = _common_options()

    run = commands.add_parser("run", parents=[common], help="run AstroDrizzle on input files",
                              usage="gpudrizzle run [options] INPUT...",
                              description="Run AstroDrizzle (every step) on input exposures.",
                              epilog=_SPELLING_NOTE)
    run.add_argument("inputs", nargs="*", metavar="INPUT",
                     help=PARAMETERS["input"].help.replace("%", "%%") +
                     " (default: the --config file's input)")
    run.add_argument("--config", metavar="FILE.cfg",
                     help="drizzlepac .cfg parameter file; options given here override it")
    run.add_argument("-n", "--dry-run", action="store_true",
                     help="print the output frame, the steps that would run and the memory "
                          "estimate, then stop without writing anything")
    _add_output_options(run)
    _add_parameter_options(run)
    run.set_defaults(handler=_command_run)

    demo = commands.add_parser("demo", parents=[common],
                               help="drizzle a built-in synthetic HST-like data set",
                               description="Write four synthetic dithered ACS/WFC-like exposures, "
                                           "run every AstroDrizzle step, write the product, a "
                                           "report and a quick-look picture.")
    demo.add_argument("--size", choices=("small", "full"), default="small",
                      help="small: 256x512 chips, seconds; full: real 2048x4096 ACS/WFC chips "
                           "(default: small)")
    demo.add_argument("--outdir", default="gpudrizzle-demo",
                      help="where the data and products go (default: ./gpudrizzle-demo)")
    demo.add_argument("--backend", default=None, metavar="{auto,cuda,cpu,numpy}",
                      help=PARAMETERS["backend"].help)
    _add_output_options(demo, picture="the quick-look picture (default: <outdir>/demo_drz.png; "
                                      "skipped with a note without gpudrizzle[plot])")
    demo.set_defaults(handler=_command_demo)

    preview = commands.add_parser("preview", parents=[common],
                                  help="quick-look PNG of a drizzled product",
                                  description="Draw the final SCI (zscale, asinh), the weight map "
                                              "and each input chip with its cosmic rays.")
    preview.add_argument("product", metavar="PRODUCT",
                         help="_drz.fits product, or the _drz_sci.fits of a non-built product")
    preview.add_argument("-o", "--output", metavar="OUT.png",
                         help="picture to write (default: PRODUCT with .png)")
    preview.add_argument("--inputs", action="append", default=[], metavar="DIR",
                         help="directory holding the input exposures (repeatable; default: the "
                              "product's directory, then the current one)")
    preview.set_defaults(handler=_command_preview)

    _add_tweakreg_parser(commands, common)
    _add_mosaic_parser(commands, common)
    parser.sub_parsers = dict(commands.choices)
    for name, (module, help_text) in _TOOLS.items():
        tool = import_module(f"gpudrizzle.{module}")
        sub = commands.add_parser(name, parents=[common], help=help_text,
                                  description=tool.__doc__.split("\n\n")[0])
        tool.add_arguments(sub)
        handler = tool.run_from_args
        if name in _REPORTS_ON_STDOUT:
            handler = _quiet_stdout(handler)
        sub.set_defaults(handler=handler, command=name)
        parser.sub_parsers[name] = sub

    info = commands.add_parser("info", parents=[common],
                               help="version, backends, GPU and compiler of this machine")
    info.add_argument("--json", action="store_true", help="print the information as JSON")
    info.set_defaults(handler=_command_info)

    build = commands.add_parser("build-kernels", parents=[common],
                                help="build the cpu backend's kernels now (machine images, "
                                     "containers)",
                                description="Compile the host kernels into the kernel cache "
                                            "($GPUDRIZZLE_CACHE_DIR, else ~/.cache/gpudrizzle), "
                                            "as the first run would, and report what was built.")
    build.add_argument("--force", action="store_true",
                       help="build again even if the cache holds the library or the marker of "
                            "a failed build")
    build.set_defaults(handler=_command_build_kernels)
    parser.sub_parsers = dict(commands.choices)
    return parser


def _quiet_stdout(handler):
    """``handler(args)`` whose printed report is dropped under --quiet (errors go to stderr)."""
    def run(args):
        if not args.quiet:
            return handler(args)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            return handler(args)
    return run


# toolbox sub-commands that print a report (not results) on stdout without a quiet option
_REPORTS_ON_STDOUT = ("tweakback",)


_SPELLING_NOTE = ("Parameter options are also accepted as drizzlepac spells them "
                  "(--final_pixfrac for --final-pixfrac).")

# drizzlepac's small tasks: sub-command -> (module with add_arguments/run_from_args, help)
_TOOLS = {
    "pixtosky": ("pixtosky", "pixel positions to RA/Dec (drizzlepac pixtosky.xy2rd)"),
    "skytopix": ("skytopix", "RA/Dec to pixel positions (drizzlepac skytopix.rd2xy)"),
    "pixtopix": ("pixtopix", "pixel positions from one image to another (drizzlepac "
                             "pixtopix.tran)"),
    "tweakback": ("tweakback", "carry a drizzled image's WCS change back to its inputs "
                               "(drizzlepac tweakback.apply_tweak)"),
    "photeq": ("photeq", "equalize the photometric keywords of exposures (drizzlepac photeq)"),
    "resetbits": ("resetbits", "clear DQ flags in place (drizzlepac resetbits)"),
    "compare": ("compare", "compare two drizzled products: difference in noise units, "
                           "weight ratio, context; a difference picture"),
}


def _add_tweakreg_parser(commands, common):
    from .tweakparams import IMAGEFIND, TWEAKREG, TWEAKREG_SECTIONS

    tweak = commands.add_parser("tweakreg", parents=[common],
                                help="align exposures (drizzlepac TweakReg)",
                                usage="gpudrizzle tweakreg [options] INPUT...",
                                epilog=_SPELLING_NOTE,
                                description="Find sources, match them to a reference and fit "
                                            "each exposure's WCS, as drizzlepac's TweakReg; "
                                            "with --updatehdr yes the headers are updated. "
                                            "Plots are written as PNG files unless "
                                            "--interactive yes (or a --config file) asks for "
                                            "windows.")
    tweak.add_argument("inputs", nargs="*", metavar="INPUT",
                       help=TWEAKREG["input"].help + " (default: the --config file's input)")
    tweak.add_argument("--config", metavar="FILE.cfg", help="drizzlepac tweakreg.cfg file")
    tweak.add_argument("--imagefindcfg", metavar="FILE.cfg",
                       help="imagefindpars.cfg: source finding in the images to align")
    tweak.add_argument("--refimagefindcfg", metavar="FILE.cfg",
                       help="refimagefindpars.cfg: source finding in the reference image")
    # TweakReg's 'verbose' is the common -v/--verbose
    _add_parameter_options(tweak, TWEAKREG, TWEAKREG_SECTIONS, exclude=("input", "verbose"))
    _add_parameter_options(tweak, IMAGEFIND, ("", "GPUDRIZZLE"),
                           titles={"": "imagefindpars (images to align)",
                                   "GPUDRIZZLE": "imagefindpars (gpudrizzle additions)"})
    _add_parameter_options(tweak, IMAGEFIND, ("", "GPUDRIZZLE"), prefix="ref_",
                           titles={"": "refimagefindpars (reference image: --ref-<name>)",
                                   "GPUDRIZZLE": "refimagefindpars (gpudrizzle additions)"})
    tweak.set_defaults(handler=_command_tweakreg)


def _add_mosaic_parser(commands, common):
    mos = commands.add_parser("mosaic", parents=[common],
                              help="a mosaic: one AstroDrizzle job per sky cell",
                              usage="gpudrizzle mosaic --outdir DIR [options] INPUT...",
                              epilog=_SPELLING_NOTE,
                              description="Plan sky cells from the inputs' headers "
                                          "(<outdir>/mosaic_plan.json), then drizzle each cell "
                                          "into <outdir>/<cell>/, serially or on dask.distributed; "
                                          "cells whose manifest matches are skipped.")
    mos.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="input exposures (names, wildcards, @list, _asn.fits)")
    mos.add_argument("--outdir", required=True, metavar="DIR", help="the mosaic's directory")
    mos.add_argument("--grid", choices=("tiles", "hap"),
                     help="tiles of the inputs' default frame, or HAP sky cells (default: tiles, "
                          "or the kept plan's)")
    mos.add_argument("--tile", type=int, metavar="N",
                     help="tile core size in pixels (default: 2048, or the kept plan's)")
    mos.add_argument("--border", type=int, metavar="N",
                     help="overlap pixels around each tile (default: 0, or the kept plan's)")
    mos.add_argument("--scheduler", metavar="ADDRESS|local|local-cuda",
                     help="dask scheduler address, 'local' for a local cluster, or "
                          "'local-cuda' for one worker per GPU (dask-cuda) (default: the "
                          "cells one after the other in this process)")
    mos.add_argument("--workers", type=int, metavar="N",
                     help="worker processes of the local cluster (default: cores / threads)")
    mos.add_argument("--threads-per-worker", type=int, default=1, metavar="T",
                     help="threads of each local worker (default: 1)")
    mos.add_argument("--paste", action="store_true",
                     help="then paste the cells' cores into one image per frame "
                          "(<outdir>/mosaic_drz.fits for tiles), without resampling again")
    mos.add_argument("--replan", action="store_true",
                     help="plan again even if <outdir>/mosaic_plan.json exists (without it, a "
                          "kept plan must be of the same inputs and grid options)")
    from .mosaic import CELL_DEFAULTS, CELL_PARAMETERS

    _add_parameter_options(mos, exclude=CELL_PARAMETERS, defaults=CELL_DEFAULTS)
    mos.set_defaults(handler=_command_mosaic)


def _add_output_options(parser, picture="also write a quick-look picture (needs gpudrizzle[plot])"):
    parser.add_argument("--preview", metavar="OUT.png", help=picture)
    parser.add_argument("--report", metavar="OUT.json",
                        help="JSON run report (default: <product>_report.json)")


# ---------------------------------------------------------------------------
# helpers


def _setup_logging(args):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("gpudrizzle: %(levelname)s: %(message)s"))
    level = logging.ERROR if args.quiet else (logging.INFO if args.verbose else logging.WARNING)
    handler.setLevel(level)
    log.addHandler(handler)
    if log.getEffectiveLevel() > level:
        log.setLevel(level)
    return handler


def _with_progress(args, run):
    """``run(progress)`` with progress on stderr unless --quiet: a bar on a terminal, plain
    lines in a log (:func:`gpudrizzle.progress.make_progress`)."""
    if args.quiet:
        return run(None)
    from .progress import make_progress

    bar = make_progress(sys.stderr)
    try:
        return run(bar)
    finally:
        bar.close()


def _say(args, text=""):
    if not args.quiet:
        print(text)


def _finish(args, result, user, input_dirs, default_picture=None):
    """Report, picture and summary after a run."""
    from .preview import PlottingUnavailable, load_product, write_preview
    from .progress import format_timings
    from .report import report_path, run_report, write_report

    report = run_report(result, user)
    report_file = args.report or (report_path(result.products) if result.products else None)
    if report_file:
        write_report(report, report_file)
    picture = args.preview or default_picture
    note = None
    if picture and result.products:
        try:
            write_preview(load_product(result.products[0], input_dirs), picture)
        except PlottingUnavailable as exc:
            if args.preview:
                raise
            picture, note = None, f"quick-look picture skipped: {exc}"
    _say(args, format_timings(result.timings))
    for path in result.products:
        _say(args, f"product: {path}")
    if report_file:
        _say(args, f"report:  {report_file}")
    if result.runfile:
        _say(args, f"log:     {result.runfile}")
    if picture and result.products:
        _say(args, f"picture: {picture}")
    if note:
        _say(args, note)


def _announce_backend(args, name):
    """Choose the backend (building the host kernels if needed) and say which, before the work."""
    from .backends import get_backend
    from .report import device_description

    backend = get_backend(name)
    _say(args, f"backend: {backend.name} ({device_description(backend.name)})")
    return backend


def _dry_run(args, params):
    """What ``run`` would do: the output frame, the plan of steps, the memory estimate."""
    from .astrodrizzle import memory_plan
    from .backends import get_backend
    from .exposure import load_exposures
    from .inputs import expand_input
    from .memory import available_bytes
    from .outframe import orientation, output_frame, pixel_scale
    from .params import step_switches
    from .products import check_targets, check_writable, product_names

    inputs = expand_input(params["input"], params["output"])
    exposures = load_exposures(inputs, params)
    chips = [c for e in exposures for c in e.chips]
    steps = step_switches(params, len(exposures))
    print(f"inputs: {len(exposures)} exposure(s), {len(chips)} chip(s)")
    names = list(product_names(inputs.output, params["build"]).values()) \
        if steps.driz_combine else []
    if names:
        print(f"product{'s' if len(names) > 1 else ''}: {', '.join(names)}")
    else:
        print("product: none (driz_combine=no)")
    stop = None  # why the run would stop, if it would: the run's own checks
    try:
        check_targets(names, params["overwrite"])
        if params["write_products"]:
            check_writable(os.path.dirname(inputs.output.rootname) or ".")
    except OSError as exc:
        stop = str(exc)
        print(f"the run would stop here: {stop}")
    frames = {}
    for step, on, label in (("driz_sep", steps.driz_separate, "separate drizzle frame"),
                            ("final", steps.driz_combine, "final frame")):
        if not on:
            continue
        wcs = frames[step] = output_frame(exposures, params, step=step)
        ny, nx = wcs.array_shape
        ra, dec = wcs.all_pix2world([(nx - 1) / 2], [(ny - 1) / 2], 0)
        print(f"{label}: {nx} x {ny} pixels, {pixel_scale(wcs):.4f} arcsec/pixel, "
              f"orientation {orientation(wcs):.3f} deg, center RA {float(ra[0]):.7f} "
              f"Dec {float(dec[0]):.7f} deg")
    print("steps:")
    for line in _step_plan(params, steps):
        print(f"  {line}")
    backend = get_backend(params["backend"])
    sep, final = frames.get("driz_sep"), frames.get("final")
    on_disk, need = memory_plan(params, backend, [c.shape for c in chips], len(exposures),
                                None if sep is None else sep.array_shape,
                                None if final is None else final.array_shape, steps,
                                len(chips))
    have = available_bytes(backend)
    print(f"memory estimate: {need / 2 ** 30:.2f} GiB on the {backend.name} backend "
          f"({have / 2 ** 30:.2f} GiB available){'' if need <= have else ' - does not fit'}; "
          "the separate drizzle images and cosmic-ray masks wait "
          f"{'in scratch files beside the products' if on_disk else 'in memory'}")
    if stop is not None:  # exit status 1, as the run itself would give
        print(f"dry run: nothing was written; the run would stop: {stop}")
        return 1
    print("dry run: nothing was written")
    return 0


# the steps of a run in order: (label, StepSwitches field or None, parameter switching it)
_STEPS = (("static mask", "static", "static"), ("sky", None, "skysub"),
          ("separate drizzle", "driz_separate", "driz_separate"),
          ("median", "median", "median"), ("blot", "blot", "blot"),
          ("driz_cr", "driz_cr", "driz_cr"), ("final drizzle", "driz_combine", "driz_combine"))


def _step_plan(params, steps):
    """One line per step: runs, or skipped and why (the parameter, or the dependency rule)."""
    lines = []
    for label, field, name in _STEPS:
        if field is None:  # the sky step always runs: it measures or takes the user's values
            how = (f"subtract ({params['skymethod']})" if params["skysub"] else
                   "skysub=no" + (f", skyuser={params['skyuser']!r}" if params["skyuser"] else ""))
            lines.append(f"{label:<17} runs: {how}")
            continue
        if getattr(steps, field):
            why = " (turned on: a later step needs it)" if not params[name] else ""
            lines.append(f"{label:<17} runs{why}")
        elif not params[name]:
            lines.append(f"{label:<17} skipped: {name}=no")
        else:  # AstroDrizzle's rule for a single input
            lines.append(f"{label:<17} skipped: needs two or more input exposures")
    return lines


def _check_output_targets(args):
    """Fail before the run when --preview or --report cannot be honoured."""
    if args.report:
        files.check_target(args.report, "report")
    if args.preview:
        from .preview import check_plotting

        files.check_target(args.preview, "picture")
        check_plotting()


def _load_config(path):
    """The parameters of a ``--config`` file; a bad value in it is a usage error (exit 2)."""
    from .config import build_configobj

    try:
        return build_configobj(path)
    except ValueError as exc:
        raise CommandLineError(f"gpudrizzle run: error: {exc}") from None


# ---------------------------------------------------------------------------
# commands


def _command_run(args):
    from .astrodrizzle import AstroDrizzle

    user = {name: getattr(args, name) for name in PARAMETERS if hasattr(args, name)}
    if args.inputs:
        user["input"] = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    elif not args.config:
        raise CommandLineError("gpudrizzle run: error: no INPUT given (name input files, a "
                               "wildcard, an @list or an _asn.fits; or give --config)")
    config = _load_config(args.config) if args.config else None
    try:
        params = resolve_parameters(user, base=None if config is None else dict(config))
    except ValueError as exc:
        raise CommandLineError(f"gpudrizzle run: error: {exc}") from None
    if args.dry_run:
        return _dry_run(args, params)
    _check_output_targets(args)
    _announce_backend(args, params["backend"])
    result = _with_progress(args, lambda bar: AstroDrizzle(configobj=config, progress=bar, **user))
    input_dirs = sorted({os.path.dirname(os.path.abspath(p)) for p in args.inputs
                         if not p.startswith("@")})
    _finish(args, result, user, input_dirs)
    return 0


def _command_tweakreg(args):
    from .tweakparams import IMAGEFIND, TWEAKREG
    from .tweakreg import TweakReg, _parameters

    user = {n: getattr(args, n) for n in TWEAKREG if n != "input" and hasattr(args, n)}
    if args.verbose:
        user["verbose"] = True
    user.update({n: getattr(args, n) for n in IMAGEFIND if hasattr(args, n)})
    ref = {n: getattr(args, "ref_" + n) for n in IMAGEFIND if hasattr(args, "ref_" + n)}
    if args.inputs:
        user["input"] = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    elif not args.config:
        raise CommandLineError("gpudrizzle tweakreg: error: no INPUT given (name input files, "
                               "a wildcard or an @list; or give --config)")
    find = {}
    if args.imagefindcfg:
        from .config import read_config_values

        find = read_config_values(args.imagefindcfg, ("imagefindpars", "refimagefindpars"))
    for k in list(user):
        if k in IMAGEFIND and k in find:
            find.pop(k)  # the command line overrides the file
    if args.refimagefindcfg:
        from .config import read_config_values

        ref = {**read_config_values(args.refimagefindcfg,
                                    ("refimagefindpars", "imagefindpars")), **ref}
    try:
        _parameters(args.config, find or None, ref or None, dict(user))
    except ValueError as exc:
        raise CommandLineError(f"gpudrizzle tweakreg: error: {exc}") from None
    if not args.config:
        user.setdefault("interactive", False)  # without a .cfg saying otherwise: plots as files
    result = TweakReg(configobj=args.config, imagefindcfg=find or None,
                      refimagefindcfg=ref or None, **user)
    if not args.quiet:
        print(result.table())
        if result.written:
            print(f"written: {', '.join(result.written)}")
    return 0


def _command_mosaic(args):
    from . import mosaic

    user = {name: getattr(args, name) for name in PARAMETERS
            if name not in mosaic.CELL_PARAMETERS and hasattr(args, name)}
    try:
        resolve_parameters(user)
    except ValueError as exc:
        raise CommandLineError(f"gpudrizzle mosaic: error: {exc}") from None
    for name in ("tile", "workers", "threads_per_worker"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandLineError(f"gpudrizzle mosaic: error: --{name.replace('_', '-')} must "
                                   f"be >= 1; got {value}")
    if args.border is not None and args.border < 0:
        raise CommandLineError(f"gpudrizzle mosaic: error: --border must be >= 0; got "
                               f"{args.border}")
    plan_path = os.path.join(args.outdir, mosaic.PLAN_NAME)
    inputs = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    given = {k: getattr(args, k) for k in ("grid", "tile", "border") if getattr(args, k) is not None}
    if args.replan or not os.path.exists(plan_path):
        plan_path = mosaic.plan(inputs, args.outdir, **given)  # mosaic.plan's defaults otherwise
        _say(args, f"plan: {plan_path}")
    else:
        differs = mosaic.plan_mismatch(plan_path, inputs, **given)
        if differs:
            raise CommandLineError(f"gpudrizzle mosaic: error: the plan {plan_path} differs "
                                   f"from this command: {differs}; give --replan to plan "
                                   "again (or the plan's inputs and options)")
        _say(args, f"plan: {plan_path} (kept; --replan plans again)")

    def progress(outcome):
        detail = f": {outcome.error}" if outcome.status == "failed" else ""
        _say(args, f"cell {outcome.cell}: {outcome.status} ({outcome.seconds:.2f} s){detail}")

    result = mosaic.run(plan_path, scheduler=args.scheduler, workers=args.workers,
                        threads_per_worker=args.threads_per_worker, progress=progress, **user)
    _say(args, result.summary())
    for c in result.failed:
        print(f"gpudrizzle mosaic: cell {c.cell} failed: {c.error}", file=sys.stderr)
    if result.failed:
        if args.paste:
            print("gpudrizzle mosaic: nothing pasted: cells failed", file=sys.stderr)
        return 1
    if args.paste:
        from .paste import paste_cells

        for path in paste_cells(plan_path, overwrite=True):
            _say(args, f"pasted: {path}")
    return 0


def _command_demo(args):
    from .astrodrizzle import AstroDrizzle
    from .demo import DEMO_SIZES, write_demo_data

    _check_output_targets(args)
    outdir = os.path.abspath(args.outdir)
    data_dir = os.path.join(outdir, "data")
    layout = DEMO_SIZES[args.size]
    ny, nx = layout.chip_shape
    _say(args, f"writing 4 synthetic ACS/WFC-like exposures (2 chips of {nx}x{ny}) to {data_dir}")
    write_demo_data(data_dir, args.size)
    inputs = sorted(glob.glob(os.path.join(data_dir, "*_flt.fits")))
    user = {"output": os.path.join(outdir, "demo"), "build": True, "overwrite": True,
            "runfile": os.path.join(outdir, "demo.log"), "backend": args.backend}
    _announce_backend(args, args.backend)
    _say(args, "running AstroDrizzle (static mask, sky, separate drizzle, median, blot, "
               "driz_cr, final drizzle)")
    result = _with_progress(args, lambda bar: AstroDrizzle(inputs, progress=bar, **user))
    _finish(args, result, user, [data_dir], default_picture=os.path.join(outdir, "demo_drz.png"))
    return 0


def _command_preview(args):
    from .preview import load_product, write_preview

    output = args.output or (os.path.splitext(args.product)[0] + ".png")
    images = load_product(args.product, args.inputs)
    write_preview(images, output)
    hint = "" if images.inputs else "; the inputs were not found: give --inputs DIR"
    _say(args, f"picture: {output} ({len(images.inputs)} input chip(s){hint})")
    return 0


def _cuda_version(v):
    """CUDA's version integer (12080) as text ("12.8")."""
    return f"{v // 1000}.{v % 1000 // 10}"


def _command_info(args):
    from .report import system_info

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"gpudrizzle {info['version']} (Python {info['python']}, {info['platform']})")
    print("backends (auto takes the first available):")
    for name, reason in info["backends"].items():
        print(f"  {name:<6} {'available' if reason is None else 'unavailable: ' + reason}")
    print(f"default backend: {info['default_backend']}"
          f"{' (from $GPUDRIZZLE_BACKEND)' if os.environ.get('GPUDRIZZLE_BACKEND') else ''}")
    dev = info["cuda_device"]
    if dev:
        cc = dev["compute_capability"]
        print(f"GPU: {dev['name']}, compute capability {cc[:-1]}.{cc[-1]}, "
              f"{dev['total_memory'] / 2 ** 30:.1f} GiB ({dev['free_memory'] / 2 ** 30:.1f} GiB free), "
              f"CUDA runtime {_cuda_version(dev['runtime_version'])}, "
              f"driver {_cuda_version(dev['driver_version'])}")
    else:  # the cuda line above says why
        print("GPU: none usable (see the cuda backend above)")
    nv = info["nvrtc"]
    print(f"NVRTC (cuda backend kernels): {nv['version']}" if nv["version"]
          else f"NVRTC (cuda backend kernels): unavailable ({nv['reason']})")
    cache = info["kernel_cache"]
    print(f"kernel cache: {cache['host']} (host library), {cache['cubin']} (cubins)")
    for line in _cache_lines():
        print(f"  {line}")
    compiler = info["compiler"]
    print(f"cpu backend compiler: {compiler[1]} ({compiler[0]})" if isinstance(compiler, tuple)
          else f"cpu backend compiler: none ({compiler})")
    print(f"quick-look pictures: matplotlib {info['plotting']}" if info["plotting"]
          else "quick-look pictures: unavailable (pip install 'gpudrizzle[plot]')")
    return 0


def _size_text(n):
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n / 2 ** 10:.1f} KiB"


def _cache_lines():
    """The kernel cache's built files: one line per host library or failure marker, then the
    totals (host libraries of other sources or compilers are kept: they are not rebuilt when
    one goes back to them)."""
    from .backends.cpu import _library_names, cache_dir, library_files
    from .backends.nvrtc import cubin_dir

    try:
        host = library_files()
        cubins = [p for p in cubin_dir().rglob("*") if p.is_file()]
    except RuntimeError as exc:
        return [f"unavailable: {exc}"]
    try:
        current = _library_names()[3]
    except RuntimeError:  # no compiler
        current = None
    lines = []
    for path in host:
        kind = "failed build" if path.suffix == ".failed" else (
            "single-threaded library" if path.stem.endswith("-serial") else "library")
        mark = " (this compiler and these sources)" if current and path.name.startswith(
            current + ".") or current and path.name.startswith(current + "-") else ""
        lines.append(f"{path.name}: {kind}, {_size_text(path.stat().st_size)}{mark}")
    size = sum(p.stat().st_size for p in host)
    csize = sum(p.stat().st_size for p in cubins)
    lines.append(f"{len(host)} host file(s), {_size_text(size)}; {len(cubins)} cubin "
                 f"file(s), {_size_text(csize)} (in {cache_dir()})")
    return lines


def _command_build_kernels(args):
    from .backends.cpu import BuildFailed, build_library, compiler_info, library_files

    try:
        cxx, version = compiler_info()
    except RuntimeError as exc:
        print(f"gpudrizzle build-kernels: error: {exc}", file=sys.stderr)
        return 1
    before = {p: p.stat().st_mtime_ns for p in library_files()}
    t0 = time.perf_counter()
    try:
        path = build_library(force=args.force)
    except BuildFailed as exc:
        print(f"gpudrizzle build-kernels: error: {exc}", file=sys.stderr)
        return 1
    built = before.get(path) != path.stat().st_mtime_ns
    threads = "single-threaded (no OpenMP)" if path.stem.endswith("-serial") else "OpenMP"
    how = (f"built in {time.perf_counter() - t0:.1f} s" if built
           else "already built; --force builds again")
    _say(args, f"cpu kernels: {path} ({how}; {_size_text(path.stat().st_size)}, {threads}; "
               f"{cxx}: {version})")
    return 0


# ---------------------------------------------------------------------------


def _parse(parser, argv):
    """Parsed arguments; a sub-command's own errors name it (``gpudrizzle pixtosky: error:``).

    The toolbox sub-commands take their inputs anywhere among the options
    (``tweakback final_drz.fits --orig-wcs-name X a_flt.fits``): their
    arguments are parsed by their own parser's ``parse_intermixed_args``.
    """
    lead = []  # -q/-v/--debug may come before the sub-command too
    while argv and argv[0] in _COMMON_FLAGS:
        lead.append(_COMMON_FLAGS[argv.pop(0)])
    if argv and argv[0] in _TOOLS:
        args = parser.sub_parsers[argv[0]].parse_intermixed_args(argv[1:])
    else:
        args, extra = parser.parse_known_args(argv)
        if extra:
            sub = parser.sub_parsers.get(getattr(args, "command", None), parser)
            sub.error(f"unrecognized arguments: {' '.join(extra)}")
    for name in lead:
        setattr(args, name, True)
    if args.quiet and args.verbose:
        parser.sub_parsers.get(args.command, parser).error(
            "-q/--quiet and -v/--verbose cannot be given together")
    return args


_COMMON_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose",
                 "--debug": "debug"}


def main(argv=None):
    """Run the ``gpudrizzle`` command; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 failure, 2 usage error, 130 (SIGINT) or 143 (SIGTERM) interrupted,
        141 when the reader of its output went away.
    """
    parser = build_parser()
    try:
        args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    except CommandLineError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    handler = _setup_logging(args)
    try:
        with files.handle_signals():
            return args.handler(args)
    except CommandLineError as exc:
        if args.debug:
            traceback.print_exc()
        print(exc, file=sys.stderr)
        return 2
    except files.Interrupted as exc:
        print(f"gpudrizzle {args.command}: interrupted by {exc}; nothing unfinished was kept",
              file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"gpudrizzle {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141  # 128 + SIGPIPE: what a shell reports for a program a closed pipe stopped
    except Exception as exc:  # every failure is reported as one line (--debug: traceback)
        if args.debug:
            traceback.print_exc()
        user_error = isinstance(exc, (OSError, ValueError, TypeError, MemoryError, RuntimeError))
        message = str(exc) if user_error else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FileExistsError):
            message += " (on the command line: --overwrite yes)"
        print(f"gpudrizzle {args.command}: error: {message}", file=sys.stderr)
        return 1
    finally:
        log.removeHandler(handler)


if __name__ == "__main__":  # python -m gpudrizzle.cli: the package's module, so that the
    from gpudrizzle.cli import main as _main  # tools' CommandLineError is this one

    sys.exit(_main())
