"""What a TweakReg run writes and shows: catalogs, match files, plots and the shift file.

Names and formats are drizzlepac 3.11's (:mod:`gpudrizzle.tweakfiles` holds the
writers); every file goes to the current directory, as drizzlepac writes them.
"""

import os

import numpy as np

from . import files
from . import tweakfiles as tf

__all__ = ["write_outputs"]


def _write_catalogs(image):
    """The per-chip ``*_xy_catalog.coo`` and the ``*_sky_catalog.coo`` of one image."""
    written, start = [], 0
    for c in image.chips:
        ids = np.arange(start, start + len(c.flux))
        start += len(c.flux)
        written.append(tf.write_catalog(tf.xy_catalog_name(image.rootname, c.extver),
                                        [c.xy[:, 0] + 1.0, c.xy[:, 1] + 1.0, c.flux, ids],
                                        tf.xy_catalog_header(c.source)))
    radec = image.radec
    written.append(tf.write_sky_catalog(tf.sky_catalog_name(image.rootname), image.filename,
                                        radec[:, 0], radec[:, 1]))
    return written


def _write_xy_match(image, reference):
    """``<root>_xy_catalog.match``: every matched pair before the fit."""
    idx, refidx = image.matches
    chip_xy = image.xy
    return tf.write_xy_match(
        tf.xy_match_name(image.rootname), reference=reference.name, image=image.filename,
        ref_xy=reference.xy()[refidx], input_xy=image.outxy[idx],
        ref_orig_xy=reference.orig_xy[refidx], input_orig_xy=chip_xy[idx] + 1.0,
        ref_id=refidx, input_id=idx, origin=[reference.origin[k] for k in refidx])


def _write_fit_catalog(image, reference):
    """``<root>_catalog_fit.match``: the pairs the fit kept, with their residuals."""
    fit = image.fit
    idx, refidx = image.matches
    kept = fit.kept
    idx, refidx = idx[kept], refidx[kept]
    input_xy = image.outxy[idx]
    fit_xy = fit.to_reference(input_xy)
    extver, chip_xy = image.extver, image.xy
    fit_radec = np.column_stack(reference.wcs.wcs_pix2world(fit_xy[:, 0], fit_xy[:, 1], 1))
    return tf.write_match(
        tf.fit_match_name(image.rootname), image=image.filename, rms=tuple(fit.rms),
        offset=tuple(fit.shift), scale_xy=(fit.sx, fit.sy), rot_xy=(fit.rx, fit.ry),
        rotation=fit.rotation, skew=fit.skew, ref_xy=reference.xy()[refidx], input_xy=input_xy,
        fit_xy=fit_xy, resid=fit.residuals[kept], ref_orig_xy=reference.orig_xy[refidx],
        input_orig_xy=chip_xy[idx] + 1.0, ref_id=refidx, input_id=idx, extver=extver[idx],
        fit_radec=fit_radec, origin=[reference.origin[k] for k in refidx])


def _plots(image, task):
    """Residual plots and the offset histogram of one fitted image (PNG files)."""
    written = []
    fit = image.fit
    idx = image.matches[0][fit.kept]
    title, htitle = _titles(image)
    if task.residplot != "No plot":
        written += tf.write_residual_plot(tf.residual_plot_names(image.rootname)[
            1 if task.residplot == "vector" else 0], image.outxy[idx], fit.residuals[fit.kept],
            kind=task.residplot, title=title, labelsize=task.labelsize, ylimit=task.ylimit)
    if task.use2dhist and task.see2dplot:
        written.append(tf.write_histogram_plot(f"hist2d_{image.rootname}.png", image.histogram,
                                               image.offset, title=htitle))
    return written


_PROMPT = ("Press ENTER for next image, \n     'n' to continue without updating header or \n"
           "     'q' to quit immediately...\n")


def _titles(image):
    """Titles of the residual plots and of the offset histogram."""
    return (f"Residuals for {image.filename} using {image.fit.nmatch} sources",
            "Histogram of offsets: peak at ({:.4g}, {:.4g})".format(*image.offset))


def _ask(image, task):
    """Interactive mode: show the image's plots, ask; 'n': keep its header, 'q': keep all."""
    kind = None if task.residplot == "No plot" else task.residplot
    histogram = image.histogram if task.use2dhist and task.see2dplot else None
    if kind is None and histogram is None:
        return ""
    fit = image.fit
    title, htitle = _titles(image)
    tf.show_plots(image.outxy[image.matches[0][fit.kept]], fit.residuals[fit.kept], kind=kind,
                  title=title, labelsize=task.labelsize, ylimit=task.ylimit,
                  histogram=histogram, offset=image.offset, histogram_title=htitle)
    try:
        answer = input(_PROMPT).strip().lower()
    except EOFError:  # no terminal: as ENTER
        answer = ""
    return "q" if "q" in answer else "n" if "n" in answer else ""


def write_outputs(images, reference, task):
    """Write (and, with ``interactive``, show) what a TweakReg run produces.

    Parameters
    ----------
    images : list of gpudrizzle.tweakreg.ImageAlignment
        Every input, aligned (the reference has no fit).
    reference : gpudrizzle.tweakreg._Reference
        The reference catalog and frame.
    task : gpudrizzle.tweakparams.TweakParameters

    Returns
    -------
    list of str
        The files written.  With ``interactive``, each image's ``answer``
        is set from the prompt (``""``, ``"n"`` or ``"q"``).
    """
    written = []
    catalogs = task.writecat and not task.clean
    for image in images:
        if catalogs:
            written += _write_catalogs(image)
        if image.fit is None:
            continue
        if catalogs:
            written.append(_write_xy_match(image, reference))
            written.append(_write_fit_catalog(image, reference))
        if task.interactive:
            image.answer = _ask(image, task)
            if image.answer == "q":
                break
        else:
            written += _plots(image, task)
    if catalogs:
        lines = "".join(f"{im.filename}  " + "  ".join(tf.xy_catalog_name(im.rootname, c.extver)
                                                       for c in im.chips) + "\n"
                        for im in images)
        written.append(files.write_text(f"{images[0].rootname}_xy_catfile.list", lines,
                                        kind="catalog list"))
        if task.expand_refcat:
            base = os.path.splitext(os.path.basename(reference.name.split("[")[0]))[0]
            written.append(tf.write_cumulative_refcat(f"cumulative_sky_refcat_{base}.coo",
                                                      reference.name, reference.radec,
                                                      reference.flux, reference.origin))
    if task.shiftfile:
        rows = []
        for im in images:
            f = im.fit
            rows.append((im.filename, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0) if f is None else
                        (im.filename, f.shift[0], f.shift[1], f.rotation, f.scale, f.rms[0],
                         f.rms[1]))
        written.append(tf.write_outwcs(task.outwcs, reference.wcs))
        written.append(tf.write_shiftfile(task.outshifts, rows, refimage=task.outwcs))
    return written
