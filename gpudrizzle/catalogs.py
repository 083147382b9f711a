"""Source catalogs given by the user: TweakReg's ``catfile`` and ``refcat`` text files.

Plain whitespace-separated text tables, as drizzlepac reads them: lines
starting with ``#`` are comments, except that the last comment line before
the data may name the columns (``# X Y FLUX``), so columns are chosen by
1-based number or by name.  As drizzlepac reads them, rows holding
``INDEF`` are skipped, and right ascension and declination (the first two
columns asked for) may be sexagesimal: ``hh:mm:ss.s`` / ``dd:mm:ss``
values, or column specs such as ``"1,2,3"`` that join three columns.  A FITS binary table is read by column name or
1-based number too.  Every value must parse as a number; a bad line raises
ValueError naming the file and line.
"""

import os
import re

import numpy as np
from astropy.io import fits

from .inputs import check_file

__all__ = ["read_columns", "column_tokens", "brightest"]


def _fits_columns(path, columns):
    with fits.open(path) as hdul:
        table = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
        if table is None:
            raise ValueError(f"{path}: no binary table extension to read catalog columns from")
        names = [n.lower() for n in table.columns.names]
        out = []
        for spec in columns:
            tokens = column_tokens(spec)
            if len(tokens) != 1:
                raise ValueError(f"{path}: column spec {spec!r} names several columns; a FITS "
                                 "table needs one column per value")
            col = tokens[0]
            if col.isdigit():
                k = int(col) - 1
                if not 0 <= k < len(names):
                    raise ValueError(f"{path}: no column {col} (the table has {len(names)})")
            elif col.lower() in names:
                k = names.index(col.lower())
            else:
                raise ValueError(f"{path}: no column {col!r}; columns are {table.columns.names}")
            out.append(np.asarray(table.data.field(k), dtype=np.float64))
        return out


def _text_columns(path, columns):
    names, rows = None, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("#"):
                if not rows:
                    words = text.lstrip("#").split()
                    names = [w.lower() for w in words] if words else names
                continue
            if "INDEF" in text:  # drizzlepac skips rows with undefined values
                continue
            rows.append((lineno, text.split()))

    def index(col):
        if col.isdigit() and int(col) >= 1:
            return int(col) - 1
        if names is not None and col.lower() in names:
            return names.index(col.lower())
        raise ValueError(f"{path}: no column {col!r} (give a 1-based column number or a name "
                         "from the header comment line)")

    # a spec of several columns joins them into one sexagesimal value, as drizzlepac reads them
    specs = [[index(c) for c in column_tokens(col)] for col in columns]
    text_values = [[] for _ in columns]
    for lineno, words in rows:
        for c, spec in enumerate(specs):
            if max(spec) >= len(words):
                raise ValueError(f"{path}, line {lineno}: no column {columns[c]} "
                                 f"(the line has {len(words)} values)")
            text_values[c].append((lineno, " ".join(words[k] for k in spec)))
    out = []
    for c, values in enumerate(text_values):
        column = np.empty(len(values))
        for r, (lineno, v) in enumerate(values):
            if c < 2 and (len(specs[c]) > 1 or ":" in v):
                column[r] = _sexagesimal(path, lineno, v, hours=(c == 0))
                continue
            try:
                column[r] = float(v)
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: column {columns[c]} is not a number: "
                                 f"{v!r}") from None
        out.append(column)
    return out


def _sexagesimal(path, lineno, value, hours):
    """Degrees of an 'hh mm ss' / 'hh:mm:ss' right ascension (hours) or declination."""
    from astropy.coordinates import Angle

    try:
        return Angle(value.replace(":", " "), unit="hourangle" if hours else "deg").degree
    except ValueError:
        raise ValueError(f"{path}, line {lineno}: not a sexagesimal "
                         f"{'right ascension' if hours else 'declination'}: {value!r}") from None


def column_tokens(spec):
    """The columns of a drizzlepac column spec: ``"1"``, ``"c1"``, ``"1,2,3"``, ``"c1-c3"``,
    ``"1:3"``, ``"1 2 3"`` or a name; numbers as strings without the ``c``."""
    spec = str(spec).strip()
    m = re.fullmatch(r"c?(\d+)\s*[-:]\s*c?(\d+)", spec)
    if m:
        return [str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1)]
    tokens = [t for t in re.split(r"[,\s]+", spec) if t]
    return [t[1:] if re.fullmatch(r"c\d+", t) else t for t in tokens]


def read_columns(path, columns, what="catalog"):
    """Numeric columns of a text or FITS catalog.

    Parameters
    ----------
    path : str
        Catalog file.
    columns : sequence of str
        Column of each result: a 1-based number (``"1"``, ``"c1"``), a name,
        or several columns read as one sexagesimal value (``"1,2,3"``,
        ``"1-3"``, ``"c1:c3"``, ``"1 2 3"``; see :func:`column_tokens`).
    what : str
        What the file is, for messages.

    Returns
    -------
    list of numpy.ndarray, float64, shape (n,)
        One array per requested column, rows in file order.

    Raises
    ------
    OSError
        Missing or unreadable file.
    ValueError
        Unknown column or a value that is not a number (file and line named).
    """
    path = os.fspath(path)
    check_file(path, what)
    columns = [str(c).strip() for c in columns]
    with open(path, "rb") as f:
        is_fits = f.read(6) == b"SIMPLE"
    return _fits_columns(path, columns) if is_fits else _text_columns(path, columns)


def brightest(flux, n, magnitudes):
    """Indices of the ``n`` brightest entries (all when ``n`` is None), brightest first.

    Parameters
    ----------
    flux : numpy.ndarray, shape (m,)
    n : int or None
    magnitudes : bool
        Values are magnitudes (smaller is brighter), else fluxes.

    Returns
    -------
    numpy.ndarray of int64
    """
    order = np.argsort(flux if magnitudes else -flux, kind="stable")
    return order if n is None else order[:n]
