"""drizzlepac ``.cfg`` parameter files (configobj format), read as they are.

A file written by drizzlepac's TEAL or by hand in the layout of
``drizzlepac/pars/astrodrizzle.cfg``::

    _task_name_ = astrodrizzle
    input = "*flt.fits"
    output = ""
    ...
    [STEP 1: STATIC MASK]
    static = True
    static_sig = 4.0
    ...
    [_RULES_]

is parsed with the ``configobj`` library (quoting, comments and unquoted
comma lists as drizzlepac reads them) and flattened: every parameter name is
unique across sections, so sections only organise the file.  Entries whose
names start with ``_`` (``_task_name_``, the ``[_RULES_]`` section) are TEAL
bookkeeping and are skipped, after checking that ``_task_name_`` (when
present) names astrodrizzle.  Parameters missing from the file keep their
defaults (drizzlepac loads files with ``strict=False`` the same way).  Values
are validated by :func:`gpudrizzle.params.resolve_parameters`.
"""

import os

import configobj

from .params import resolve_parameters

__all__ = ["build_configobj", "read_config_values"]

TASK_NAME = "astrodrizzle"


def _flatten(section, path, values, where):
    for key in section.scalars:
        if key.startswith("_"):
            continue
        if key in values:
            raise ValueError(f"{path}: parameter {key!r} appears twice ({values[key][1]} and {where})")
        value = section[key]
        if isinstance(value, list):  # unquoted comma list, e.g. final_bits = 4,8
            value = ",".join(value)
        values[key] = (value, where)
    for name in section.sections:
        if name.strip().startswith("_"):
            continue
        _flatten(section[name], path, values, f"[{name}]")


def read_config_values(path, tasks=(TASK_NAME,)):
    """The raw parameter values of a ``.cfg`` file, not yet validated.

    Parameters
    ----------
    path : str or os.PathLike
    tasks : tuple of str
        Task names the file's ``_task_name_`` may give (e.g. ``("tweakreg",)``).

    Returns
    -------
    dict
        ``{name: value}``, values as strings (comma lists joined with ",").

    Raises
    ------
    OSError
        The file does not exist or cannot be read.
    ValueError
        Not a configobj file, duplicate parameter, or a file for another task.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"configuration file not found: {path}")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"configuration file is not readable: {path}")
    try:
        cfg = configobj.ConfigObj(path, list_values=True, file_error=True, raise_errors=True,
                                  encoding="utf-8")
    except configobj.ConfigObjError as exc:
        raise ValueError(f"{path}: not a valid configuration file: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text configuration file ({exc.reason})") from None
    task = cfg.get("_task_name_")
    if task is not None and str(task).strip().lower() not in tasks:
        wanted = " or ".join(map(repr, tasks))
        raise ValueError(f"{path}: this is a configuration for task {task!r}, not {wanted}")
    values = {}
    _flatten(cfg, path, values, "the top level")
    return {k: v for k, (v, _) in values.items()}


def build_configobj(path):
    """Load an AstroDrizzle ``.cfg`` file into validated parameters.

    The result can be passed as ``configobj`` to
    ``astrodrizzle.AstroDrizzle`` or to ``astrodrizzle.run``; keyword
    arguments given there override it.

    Parameters
    ----------
    path : str or os.PathLike
        A drizzlepac ``astrodrizzle.cfg``-style file.

    Returns
    -------
    gpudrizzle.params.Parameters
        Every parameter, values from the file or defaults, validated; its
        ``sources`` are ``".cfg <path>"`` for the values the file holds,
        ``"default"`` for the others.

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        Malformed file, unknown or unsupported parameter, bad value (the
        message names the file, the parameter and the value).
    """
    values = read_config_values(path)
    try:
        params = resolve_parameters(base=values)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
    where = f".cfg {os.fspath(path)}"
    return params.with_sources({name: where for name in values if name in params})
