"""TweakReg's output files in drizzlepac 3.11's formats: shift file, reference WCS, catalogs, plots.

Every file is written through :mod:`gpudrizzle.files` (a temporary file
beside the target, renamed onto it when complete).

* shift file (``outshifts``, ``tweakutils.write_shiftfile``)::

      # frame: output
      # refimage: shifts_wcs.fits[wcs]
      # form: delta
      # units: pixels
      j8bt06nyq_flt.fits    0.123456  -0.654321    0.001000     1.000010   0.012000  0.013000

  one row per image: ``filename xsh ysh rot scale xrms yrms`` (drizzlepac's
  ``%s    %0.6f  %0.6f    %0.6f     %0.6f   %0.6f  %0.6f``); the shifts are
  drizzlepac's fit offsets (see :mod:`gpudrizzle.wcsupdate` for the
  convention), ``rot`` in degrees.  Readers accept 5 or 7 columns.
* reference WCS (``outwcs``, ``tweakutils.createWcsHDU``): an empty primary
  HDU and an ``EXTNAME='WCS'`` header-only extension with the WCS keywords,
  NPIX1, NPIX2, PIXVALUE = 0 and ORIENTAT.
* source catalogs (``writecat``): ``<rootname>_sci<n>_xy_catalog.coo`` per
  chip (``Catalog.writeXYCatalog``: four comment lines, then each row's values
  as ``%g`` followed by two spaces), ``<rootname>_sky_catalog.coo``
  (``%0.12f  %0.12f``), and ``<rootname>_catalog_fit.match`` (the matched
  pairs of the fit: its comment block, then 18 columns written as
  ``%15.6f`` x 12, ``%8d`` x 3, ``%20.12f`` x 2, ``   %s``).
* residual plots (``residplot``): ``residuals_<rootname>.png`` (X and Y
  residuals against X and Y, four panels) and ``vector_<rootname>.png``.
"""

import math
import os
import re

import numpy as np
from astropy.io import fits

from . import files
from .inputs import read_text

__all__ = ["SHIFT_COLUMNS", "write_shiftfile", "read_shiftfile", "write_outwcs",
           "write_catalog", "xy_catalog_header", "xy_catalog_name", "sky_catalog_name",
           "fit_match_name", "xy_match_name", "write_sky_catalog", "write_cumulative_refcat", "write_match",
           "write_xy_match", "residual_plot_names",
           "write_residual_plot", "write_histogram_plot", "show_plots", "RESIDPLOT_CHOICES"]

#: the columns of a shift file row after the file name
SHIFT_COLUMNS = ("xsh", "ysh", "rot", "scale", "xrms", "yrms")
_ROW_FORMATS = ("%0.6f", "%0.6f", "%0.6f", "%0.6f", "%0.6f", "%0.6f")
_ROW_SEPARATORS = ("    ", "  ", "    ", "     ", "   ", "  ")
_HEADER_KEYS = ("frame", "refimage", "form", "units")
_FRAMES = ("input", "output")
_FORMS = ("delta", "absolute")
_UNITS = ("pixels", "arcseconds")
#: drizzlepac's residplot choices ('No plot' writes nothing)
RESIDPLOT_CHOICES = ("No plot", "vector", "residuals", "both")


# ---------------------------------------------------------------------------
# shift files


def _shift_row(row, order, index):
    if isinstance(row, dict):
        try:
            name = row["filename"]
            values = [row[c] for c in order]
        except KeyError as exc:
            raise ValueError(f"rows[{index}]: missing {exc.args[0]!r}") from None
    else:
        row = list(row)
        if len(row) != len(order) + 1:
            raise ValueError(f"rows[{index}]: expected filename and {len(order)} values "
                             f"({', '.join(order)}), got {len(row)} items")
        name, values = row[0], row[1:]
    if not isinstance(name, str) or not name.strip() or any(ch.isspace() for ch in name):
        raise ValueError(f"rows[{index}]: the file name must be a non-empty string without "
                         f"spaces, got {name!r}")
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"rows[{index}] ({name}): the values must be numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"rows[{index}] ({name}): the values must be finite, got {values}")
    return name, values


def write_shiftfile(path, rows, *, refimage, frame="output", units="pixels", form="delta",
                    order=SHIFT_COLUMNS):
    """Write a shift file in the format TweakReg writes and AstroDrizzle's ``shiftfile`` reads.

    Parameters
    ----------
    path : str or path-like
    rows : sequence
        One per image: ``(filename, xsh, ysh, rot, scale[, xrms, yrms])`` or a
        dict with those keys (``filename`` and the names in ``order``).
    refimage : str
        The reference WCS file (the ``outwcs`` file); ``[wcs]`` is appended
        when no extension is given, as TweakReg writes it.
    frame : {'output', 'input'}
    units : {'pixels', 'arcseconds'}
    form : {'delta', 'absolute'}
    order : sequence of str
        The value columns: all six of :data:`SHIFT_COLUMNS` (TweakReg) or
        the first four (``xsh ysh rot scale``).

    Returns
    -------
    str
        ``path``.
    """
    order = tuple(order)
    if order not in (SHIFT_COLUMNS, SHIFT_COLUMNS[:4]):
        raise ValueError(f"order must be {SHIFT_COLUMNS} or its first four, got {order}")
    for name, value, allowed in (("frame", frame, _FRAMES), ("units", units, _UNITS),
                                 ("form", form, _FORMS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    if not isinstance(refimage, str) or not refimage.strip() or \
            any(ch.isspace() for ch in refimage.strip()):
        raise ValueError(f"refimage must be a file name without spaces, got {refimage!r}")
    refimage = refimage.strip()
    if not refimage.endswith("]"):
        refimage += "[wcs]"
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: a shift file needs at least one image")
    lines = [f"# frame: {frame}\n", f"# refimage: {refimage}\n", f"# form: {form}\n",
             f"# units: {units}\n"]
    for i, row in enumerate(rows):
        name, values = _shift_row(row, order, i)
        text = name
        for sep, fmt, v in zip(_ROW_SEPARATORS, _ROW_FORMATS, values):
            text += sep + fmt % v
        lines.append(text + "\n")
    return files.write_text(path, "".join(lines), kind="shift file")


def read_shiftfile(path):
    """Read a shift file (:func:`write_shiftfile`'s format, or one written by drizzlepac).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``frame``, ``refimage`` (as written, e.g. ``shifts_wcs.fits[wcs]``),
        ``form``, ``units`` (None when the file does not say) and ``rows``: a
        list of dicts with ``filename`` and the float values ``xsh``,
        ``ysh``, ``rot``, ``scale`` and, when given, ``xrms``, ``yrms``.

    Raises
    ------
    FileNotFoundError
    ValueError
        Bad syntax; the message names the file and line.
    """
    path = os.fspath(path)
    text = read_text(path, "shift file")
    out = {k: None for k in _HEADER_KEYS}
    out["rows"] = []
    seen = set()
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*(\w+)\s*:\s*(.*)$", line)
            if m and m.group(1).lower() in _HEADER_KEYS:
                out[m.group(1).lower()] = m.group(2).strip()
            continue
        cols = line.split()
        if len(cols) not in (5, 7):
            raise ValueError(f"shift file {path}, line {n}: expected 5 or 7 columns "
                             f"(filename xsh ysh rot scale [xrms yrms]), got {len(cols)}")
        try:
            values = [float(c) for c in cols[1:]]
        except ValueError:
            raise ValueError(f"shift file {path}, line {n}: the values after the file name "
                             f"must be numbers: {line!r}") from None
        if cols[0] in seen:
            raise ValueError(f"shift file {path}, line {n}: {cols[0]} appears twice")
        seen.add(cols[0])
        row = {"filename": cols[0]}
        row.update(zip(SHIFT_COLUMNS, values))
        out["rows"].append(row)
    for key, allowed in (("frame", _FRAMES), ("form", _FORMS), ("units", _UNITS)):
        if out[key] is not None and out[key] not in allowed:
            raise ValueError(f"shift file {path}: '# {key}: {out[key]}' is not one of "
                             f"{allowed}")
    if not out["rows"]:
        raise ValueError(f"shift file {path} has no image rows")
    return out


# ---------------------------------------------------------------------------
# the reference WCS


def write_outwcs(path, wcs):
    """Write the reference WCS as TweakReg's ``outwcs`` file.

    Parameters
    ----------
    path : str or path-like
    wcs : astropy.wcs.WCS
        Celestial, with ``pixel_shape`` (NPIX1, NPIX2).

    Returns
    -------
    str
        ``path``.
    """
    if wcs.pixel_shape is None:
        raise ValueError("wcs has no pixel_shape; the outwcs file records NPIX1 and NPIX2")
    if not wcs.has_celestial or wcs.naxis != 2:
        raise ValueError("wcs must be a 2-D celestial WCS")
    header = wcs.to_header()
    header["EXTNAME"] = "WCS"
    header["EXTVER"] = 1
    header["NPIX1"] = (int(wcs.pixel_shape[0]), "Length of array axis 1")
    header["NPIX2"] = (int(wcs.pixel_shape[1]), "Length of array axis 2")
    header["PIXVALUE"] = (0.0, "values of pixels in array")
    if wcs.wcs.has_cd():
        cd12, cd22 = wcs.wcs.cd[0][1], wcs.wcs.cd[1][1]
    else:
        cd12 = wcs.wcs.cdelt[0] * wcs.wcs.get_pc()[0][1]
        cd22 = wcs.wcs.cdelt[1] * wcs.wcs.get_pc()[1][1]
    header["ORIENTAT"] = (float(np.rad2deg(np.arctan2(cd12, cd22))),
                          "position angle of image y axis (deg. e of n)")
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(None, header)])
    with files.writing(path, kind="reference WCS file") as tmp:
        hdul.writeto(tmp, overwrite=True)
    return os.fspath(path)


# ---------------------------------------------------------------------------
# catalogs


def xy_catalog_name(rootname, extver):
    """``<rootname>_sci<extver>_xy_catalog.coo``."""
    return f"{rootname}_sci{int(extver)}_xy_catalog.coo"


def sky_catalog_name(rootname):
    """``<rootname>_sky_catalog.coo``."""
    return f"{rootname}_sky_catalog.coo"


def fit_match_name(rootname):
    """``<rootname>_catalog_fit.match``."""
    return f"{rootname}_catalog_fit.match"


def xy_match_name(rootname):
    """``<rootname>_xy_catalog.match``."""
    return f"{rootname}_xy_catalog.match"


def xy_catalog_header(source, *, use_sharp_round=False, units="pixels"):
    """The comment lines drizzlepac writes at the top of a ``*_xy_catalog.coo`` file.

    Parameters
    ----------
    source : str
        The image the catalog was found in (e.g. ``j8bt06nyq_flt.fits[sci,1]``).
    use_sharp_round : bool
        Columns include Sharp, Round1, Round2.
    units : str

    Returns
    -------
    list of str
    """
    cols = "#    X      Y         Flux       ID"
    if use_sharp_round:
        cols += "      Sharp       Round1       Round2"
    return [f"# Source catalog derived for {source}", "# Columns: ", cols,
            f"#   ({units})   ({units})"]


def _columns(columns, what):
    cols = [np.asarray(c) for c in columns]
    if not cols:
        raise ValueError(f"{what}: no columns")
    n = cols[0].shape
    for i, c in enumerate(cols):
        if c.ndim != 1 or c.shape != n:
            raise ValueError(f"{what}: column {i} has shape {c.shape}; all columns must be 1-D "
                             f"of the same length {n}")
    return cols, n[0]


def _comment_lines(lines, what):
    out = []
    for line in lines:
        if not isinstance(line, str) or "\n" in line:
            raise ValueError(f"{what}: header lines must be strings without newlines")
        out.append(line if line.startswith("#") else "# " + line)
    return out


def write_catalog(path, catalog_columns, header_lines):
    """Write a source catalog as drizzlepac's ``writeXYCatalog`` does.

    Parameters
    ----------
    path : str or path-like
    catalog_columns : sequence of array_like
        Columns, each shape (n,): X, Y, Flux, ID[, Sharp, Round1, Round2]
        (1-based pixel positions, as drizzlepac writes them).
    header_lines : sequence of str
        Comment lines (``#`` is added where missing), e.g.
        :func:`xy_catalog_header`.

    Returns
    -------
    str
        ``path``.
    """
    cols, n = _columns(catalog_columns, "catalog_columns")
    lines = [line + "\n" for line in _comment_lines(header_lines, "header_lines")]
    for row in range(n):
        lines.append("".join("%g  " % c[row] for c in cols) + "\n")
    return files.write_text(path, "".join(lines), kind="catalog")


def write_cumulative_refcat(path, name, radec, flux, origins):
    """Write ``cumulative_sky_refcat_<name>.coo``: the reference catalog grown by
    ``expand_refcat`` (drizzlepac's ``RefImage.write_skycatalog`` with flux and ID).

    Parameters
    ----------
    path : str or path-like
    name : str
        Where the initial catalog came from (first comment line).
    radec : array_like, shape (n, 2)
        Degrees.
    flux : array_like, shape (n,)
    origins : sequence of str, shape (n,)
        The image (chip) or catalog each source came from.
    """
    radec = np.asarray(radec, dtype=np.float64)
    (flux,), n = _columns([flux], "flux")
    if radec.shape != (n, 2) or len(origins) != n:
        raise ValueError(f"write_cumulative_refcat: radec, flux and origins need {n} rows")
    lines = ["#Sky positions for cumulative reference catalog. Initial catalog from: "
             f"{name}\n", "#RA        Dec        Flux        ID        Origin\n",
             "#(deg)     (deg)       (counts)\n"]
    lines += ["{:.7f}  {:.7f}  {:.5g}  {:d}  {:s}\n".format(radec[i, 0], radec[i, 1], flux[i], i,
                                                        str(origins[i])) for i in range(n)]
    return files.write_text(path, "".join(lines), kind="catalog")


def write_sky_catalog(path, name, ra, dec):
    """Write ``<rootname>_sky_catalog.coo``: RA and Dec (degrees) of an image's sources.

    Parameters
    ----------
    path : str or path-like
    name : str
        The image.
    ra, dec : array_like, shape (n,)
    """
    (ra, dec), n = _columns([ra, dec], "ra, dec")
    lines = [f"#Sky positions for: {name}\n", "#RA        Dec\n", "#(deg)     (deg)\n"]
    lines += ["%0.12f  %0.12f\n" % (ra[i], dec[i]) for i in range(n)]
    return files.write_text(path, "".join(lines), kind="catalog")


_MATCH_COLUMNS = ("X (reference)", "Y (reference)", "X (input)", "Y (input)", "X (fit)",
                  "Y (fit)", "X (residual)", "Y (residual)", "Original X (reference)",
                  "Original Y (reference)", "Original X (input)", "Original Y (input)",
                  "Ref ID", "Input ID", "Input EXTVER ID ", "RA (fit)", "Dec (fit)",
                  "Ref source provenience")


def write_match(path, *, image, rms, offset, scale_xy, rot_xy, rotation, skew, ref_xy,
                input_xy, fit_xy, resid, ref_orig_xy, input_orig_xy, ref_id, input_id, extver,
                fit_radec, origin):
    """Write ``<rootname>_catalog_fit.match``: the matched pairs of a fit and their residuals.

    The columns are written as given, in drizzlepac's order (see the module
    notes); drizzlepac's residuals are the input positions minus the fit's
    model of the reference positions (``xy - (uv @ fit_matrix + offset)``).

    Parameters
    ----------
    path : str or path-like
    image : str
        The input image (first comment line).
    rms, offset, scale_xy, rot_xy : (float, float)
        The fit's X and Y rms, shift, scale and rotation (degrees).
    rotation, skew : float
        Mean rotation and skew (degrees).
    ref_xy, input_xy, fit_xy, resid, ref_orig_xy, input_orig_xy : array_like, shape (n, 2)
        Matched positions: the reference's and the input's in the fit frame,
        the input's after the fit, the residuals, and both positions as first
        measured.
    ref_id, input_id, extver : array_like of int, shape (n,)
    fit_radec : array_like, shape (n, 2)
        Sky positions (degrees) of ``fit_xy``.
    origin : sequence of str, shape (n,)
        The reference source's provenance (the catalog or image it came from).

    Returns
    -------
    str
        ``path``.
    """
    pairs = {}
    for name, a in (("ref_xy", ref_xy), ("input_xy", input_xy), ("fit_xy", fit_xy),
                    ("resid", resid), ("ref_orig_xy", ref_orig_xy),
                    ("input_orig_xy", input_orig_xy), ("fit_radec", fit_radec)):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"{name} must have shape (n, 2), got {a.shape}")
        pairs[name] = a
    n = pairs["ref_xy"].shape[0]
    ints = []
    for name, a in (("ref_id", ref_id), ("input_id", input_id), ("extver", extver)):
        a = np.asarray(a)
        if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must be integers of shape ({n},), got {a.dtype} "
                             f"{a.shape}")
        ints.append(a)
    origin = [str(o) for o in origin]
    if len(origin) != n or any(p.shape[0] != n for p in pairs.values()):
        raise ValueError(f"write_match: every column must have the {n} rows of ref_xy")
    head = [f"# Input image: {image}",
            "# Coordinate mapping parameters: ",
            "#    X and Y rms: {:.2g}  {:.2g}".format(*rms),
            "#    X and Y shift: {:.4f}  {:.4f}".format(*offset),
            "#    X and Y scale: {:.10g}  {:.10g}".format(*scale_xy),
            "#    X and Y rotation: {:.10g}  {:.10g}".format(*rot_xy),
            f"#    <rotation> and skew: {rotation:.10g}  {skew:.10g}",
            "# ", "# Input Coordinate Listing"]
    head += [f"#     Column {i}: {c}" for i, c in enumerate(_MATCH_COLUMNS, start=1)]
    head.append("#")
    floats = [pairs["ref_xy"], pairs["input_xy"], pairs["fit_xy"], pairs["resid"],
              pairs["ref_orig_xy"], pairs["input_orig_xy"]]
    lines = [h + "\n" for h in head]
    for i in range(n):
        text = "".join("%15.6f" % a[i, k] for a in floats for k in (0, 1))
        text += "".join("%8d" % a[i] for a in ints)
        text += "%20.12f%20.12f" % tuple(pairs["fit_radec"][i])
        text += "   %s" % origin[i]
        lines.append(text + "\n")
    return files.write_text(path, "".join(lines), kind="match catalog")


def write_xy_match(path, *, reference, image, ref_xy, input_xy, ref_orig_xy, input_orig_xy,
                   ref_id, input_id, origin):
    """Write ``<rootname>_xy_catalog.match``: every matched pair before the fit (``Image.match``).

    Parameters
    ----------
    path : str or path-like
    reference, image : str
        Names of the reference and of the input image (comment lines).
    ref_xy, input_xy, ref_orig_xy, input_orig_xy : array_like, shape (n, 2)
        Positions in the fit frame and as first measured.
    ref_id, input_id : array_like of int, shape (n,)
    origin : sequence of str, shape (n,)

    Returns
    -------
    str
        ``path``.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (ref_xy, input_xy, ref_orig_xy,
                                                         input_orig_xy)]
    n = arrays[0].shape[0]
    if any(a.shape != (n, 2) for a in arrays) or len(ref_id) != n or len(input_id) != n or \
            len(origin) != n:
        raise ValueError(f"write_xy_match: every column must have the {n} rows of ref_xy")
    lines = [f"#Reference: {reference}\n", f"#Input: {image}\n",
             "#Ref_X        Ref_Y        Input_X    Input_Y        Ref_X0    Ref_Y0        "
             "Input_X0    Input_Y0        Ref_ID    Input_ID        Ref_Source\n"]
    for i in range(n):
        values = tuple(a[i, k] for a in arrays for k in (0, 1))
        lines.append(("%0.6f    %0.6f        " * 4) % values
                     + "%d    %d    %s\n" % (int(ref_id[i]), int(input_id[i]), origin[i]))
    return files.write_text(path, "".join(lines), kind="match catalog")


# ---------------------------------------------------------------------------
# residual plots


def residual_plot_names(rootname):
    """``(residuals_<rootname>.png, vector_<rootname>.png)``, drizzlepac's plot names."""
    return f"residuals_{rootname}.png", f"vector_{rootname}.png"


def _pyplot():
    """matplotlib's Figure class, which draws into files without pyplot or a backend."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("residual plots need matplotlib, which is not installed; install it "
                          "(pip install matplotlib, or pip install gpudrizzle[plot]) or set "
                          "residplot='No plot'") from None
    return Figure


def _vector_figure(figure_cls, x, y, dx, dy, title, labelsize):
    fig = figure_cls(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    q = ax.quiver(x, y, dx, dy, units="y", headwidth=3, headlength=4)
    span_x = max(x.max() - x.min(), 1.0) if x.size else 1.0
    span_y = max(y.max() - y.min(), 1.0) if y.size else 1.0
    key = round(float(np.hypot(dx, dy).max()) / 2 + 0.005, 2) if dx.size else 0.01
    key = key or 0.01
    if x.size:
        ax.quiverkey(q, x.min() + 0.01 * span_x, y.min() - 0.025 * span_y, key,
                     "%0.2f pixels" % key, coordinates="data", labelpos="E",
                     labelcolor="Maroon", color="Maroon")
        ax.set_xlabel("DX: %.4f to %.4f +/- %.4f" % (dx.min(), dx.max(), dx.std()))
        ax.set_ylabel("DY: %.4f to %.4f +/- %.4f" % (dy.min(), dy.max(), dy.std()))
    ax.set_title(f"Vector plot of {x.size}/{x.size} residuals: {title}")
    ax.tick_params(labelsize=labelsize)
    return fig


def _residuals_figure(figure_cls, x, y, dx, dy, title, labelsize, ylimit):
    fig = figure_cls(figsize=(10, 8))
    panels = [(x, dx, "X (pixels)", "DX (pixels)"), (y, dx, "Y (pixels)", "DX (pixels)"),
              (x, dy, "X (pixels)", "DY (pixels)"), (y, dy, "Y (pixels)", "DY (pixels)")]
    if x.size:
        lo_x, hi_x = min(x.min(), y.min()), max(x.max(), y.max())
        lo_y, hi_y = min(dx.min(), dy.min()), max(dx.max(), dy.max())
    else:
        lo_x, hi_x, lo_y, hi_y = 0.0, 1.0, -1.0, 1.0
    if ylimit is not None:
        lo_y, hi_y = -ylimit, ylimit
    if hi_y <= lo_y:
        lo_y, hi_y = lo_y - 0.5, hi_y + 0.5
    if hi_x <= lo_x:
        lo_x, hi_x = lo_x - 0.5, hi_x + 0.5
    fig.suptitle(title if title else f"Residuals [{x.size}/{x.size}]", ha="center",
                 fontsize=labelsize + 6)
    label = "RMS(X) = %.4f, RMS(Y) = %.4f" % ((dx.std(), dy.std()) if x.size else (0, 0))
    for k, (px, py, xl, yl) in enumerate(panels, start=1):
        ax = fig.add_subplot(2, 2, k)
        ax.plot(px, py, "b.", label=label)
        ax.axhline(0.0, color="k", linewidth=3)
        ax.set_xlim(lo_x, hi_x)
        ax.set_ylim(lo_y, hi_y)
        ax.tick_params(labelsize=labelsize)
        if k > 2:
            ax.set_xlabel(xl)
        else:
            ax.tick_params(labelbottom=False)
        if k % 2:
            ax.set_ylabel(yl)
        else:
            ax.tick_params(labelleft=False)
        if k == 1:
            handles, labels = ax.get_legend_handles_labels()
            fig.legend(handles, labels, loc="center left", fontsize="small", frameon=False,
                       bbox_to_anchor=(0.33, 0.51), borderaxespad=0)
    return fig


def write_residual_plot(path, xy, resid, *, kind="both", title="", labelsize=8, ylimit=None):
    """Write TweakReg's residual plot(s) as PNG (matplotlib, Agg; no display needed).

    Parameters
    ----------
    path : str or path-like
        The residuals plot (``residuals_<rootname>.png``).  With
        ``kind='vector'`` the vector plot itself; with ``kind='both'`` the
        vector plot is written too, to the same name with ``residuals``
        replaced by ``vector`` in the file name (drizzlepac's naming).
    xy : array_like, shape (n, 2)
        Positions of the fitted sources (input image, fit frame pixels).
    resid : array_like, shape (n, 2)
        Their residuals (pixels).
    kind : {'both', 'vector', 'residuals'}
        drizzlepac's ``residplot`` (``'No plot'`` is the caller's: write nothing).
    title : str
    labelsize : int
        Tick label font size.
    ylimit : float, optional
        Residual axis range ``[-ylimit, ylimit]`` of the residuals plot.

    Returns
    -------
    list of str
        The files written.

    Raises
    ------
    ImportError
        matplotlib is not installed (the message says how to install it).
    """
    if kind not in RESIDPLOT_CHOICES[1:]:
        raise ValueError(f"kind must be one of {RESIDPLOT_CHOICES[1:]}, got {kind!r}")
    xy = np.asarray(xy, dtype=np.float64)
    resid = np.asarray(resid, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1:] != (2,) or resid.shape != xy.shape:
        raise ValueError(f"xy and resid must both have shape (n, 2); got {xy.shape} and "
                         f"{resid.shape}")
    if not (np.all(np.isfinite(xy)) and np.all(np.isfinite(resid))):
        raise ValueError("xy and resid must be finite")
    if ylimit is not None and not (math.isfinite(ylimit) and ylimit > 0):
        raise ValueError(f"ylimit must be a positive number, got {ylimit!r}")
    path = os.fspath(path)
    targets = {}
    if kind == "both":
        directory, name = os.path.split(path)
        if "residuals" not in name:
            raise ValueError(f"kind='both' names the vector plot after {path}: its file name must "
                             "contain 'residuals' (e.g. residuals_<rootname>.png)")
        targets[path] = "residuals"
        targets[os.path.join(directory, name.replace("residuals", "vector"))] = "vector"
    else:
        targets[path] = kind
    figure_cls = _pyplot()
    x, y, dx, dy = xy[:, 0], xy[:, 1], resid[:, 0], resid[:, 1]

    def writer(which):
        def write(tmp):
            if which == "vector":
                fig = _vector_figure(figure_cls, x, y, dx, dy, title, labelsize)
            else:
                fig = _residuals_figure(figure_cls, x, y, dx, dy, title, labelsize, ylimit)
            fig.savefig(tmp, format="png")
        return write

    return files.write_together({t: writer(w) for t, w in targets.items()}, kind="plot")


def _histogram_figure(figure_cls, histogram, offset, title):
    hist, nhalf = histogram
    fig = figure_cls(figsize=(7, 6))
    ax = fig.add_subplot(1, 1, 1)
    extent = (-nhalf - 0.5, nhalf + 0.5, -nhalf - 0.5, nhalf + 0.5)
    vmax = max(10.0, float(hist.max()) / 5.0)
    im = ax.imshow(hist, origin="lower", extent=extent, vmin=0.0, vmax=vmax,
                   interpolation="nearest", cmap="gray_r")
    fig.colorbar(im, ax=ax, label="pairs")
    if offset is not None:
        ax.plot([offset[0]], [offset[1]], "+", color="red", markersize=16)
    ax.set_xlabel("X offset (pixels)")
    ax.set_ylabel("Y offset (pixels)")
    ax.set_title(title)
    return fig


def write_histogram_plot(path, histogram, offset, *, title=""):
    """Write TweakReg's ``hist2d_<rootname>.png``: the 2-D histogram of source offsets.

    Parameters
    ----------
    path : str or path-like
    histogram : (ndarray (2R + 1, 2R + 1), int)
        :func:`gpudrizzle.matching.offset_histogram_image`'s histogram and R.
    offset : (float, float) or None
        The peak taken as the first offset (marked), in bins' units.
    title : str

    Returns
    -------
    str
        ``path``.
    """
    figure_cls = _pyplot()

    def write(tmp):
        _histogram_figure(figure_cls, histogram, offset, title).savefig(tmp, format="png")

    return files.write_together({os.fspath(path): write}, kind="plot")[0]


def show_plots(xy=None, resid=None, *, kind="both", title="", labelsize=8, ylimit=None,
               histogram=None, offset=None, histogram_title=""):
    """Show the plots of :func:`write_residual_plot` (``kind``: None for none) and of
    :func:`write_histogram_plot` (when ``histogram`` is given) in windows: interactive
    TweakReg.  Uses pyplot with its configured backend (Agg shows nothing); returns at once.
    """
    if kind is not None and kind not in RESIDPLOT_CHOICES[1:]:
        raise ValueError(f"kind must be one of {RESIDPLOT_CHOICES[1:]}, got {kind!r}")
    _pyplot()  # the clear ImportError without matplotlib
    from matplotlib import pyplot

    if histogram is not None:
        _histogram_figure(pyplot.figure, histogram, offset, histogram_title)
    if kind is not None:
        xy = np.asarray(xy, dtype=np.float64)
        resid = np.asarray(resid, dtype=np.float64)
        x, y, dx, dy = xy[:, 0], xy[:, 1], resid[:, 0], resid[:, 1]
        if kind in ("both", "vector"):
            _vector_figure(pyplot.figure, x, y, dx, dy, title, labelsize)
        if kind in ("both", "residuals"):
            _residuals_figure(pyplot.figure, x, y, dx, dy, title, labelsize, ylimit)
    pyplot.show(block=False)
