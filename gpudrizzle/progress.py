"""Progress of an AstroDrizzle run: events, a progress display, a timing table.

:func:`gpudrizzle.astrodrizzle.AstroDrizzle` calls its ``progress`` callable
with a :class:`StepProgress` when a step starts, after each exposure or chip
the step finishes, and when the step ends.  Two displays draw these events:

- :class:`ProgressBar`: a `tqdm <https://tqdm.github.io>`_ bar per step with
  the count, elapsed time and ETA (a widget in Jupyter, through ``tqdm.auto``);
- :class:`ProgressLines`: plain lines for batch logs (no carriage returns):
  one line when a step ends and at most one every ``interval`` seconds
  while it runs.

:func:`make_progress` picks the one that fits a stream (a bar on a terminal
or in a notebook, lines otherwise).  :func:`format_timings` lays out the
per-step times of a run as a table (the command line prints it, and the
run's log holds it).
"""

import io
import os
import sys
from typing import NamedTuple

from tqdm import tqdm as _std_tqdm

__all__ = ["StepProgress", "ProgressBar", "ProgressLines", "make_progress", "format_timings"]

#: Width of the step name at the start of each bar or line.
NAME_WIDTH = 17


class StepProgress(NamedTuple):
    """Where a pipeline step stands.

    Attributes
    ----------
    step : str
        Step name (``"sky"``, ``"final drizzle"``, ...).
    done : int
        Exposures or chips finished so far.
    total : int
        Exposures or chips the step processes; 0 when the step is one
        operation over all inputs (no count).
    item : str
        Label of the exposure or chip just finished ('' at start and end).
    elapsed : float
        Seconds since the step started.
    finished : bool
        True for the step's last event.
    """

    step: str
    done: int
    total: int
    item: str
    elapsed: float
    finished: bool


def _in_notebook():
    """True when ``tqdm.auto`` draws notebook widgets (a Jupyter kernel with ipywidgets)."""
    from tqdm.auto import tqdm as auto_tqdm

    return any(c.__module__ == "tqdm.notebook" for c in auto_tqdm.__mro__)


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _terminal_size(stream):
    """(columns, lines) of the terminal behind ``stream``; 0 when unknown (a new pty reports 0)."""
    try:
        return tuple(os.get_terminal_size(stream.fileno()))
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return 0, 0


def _label(item):
    """An item label without its directory (``/d/a_flt.fits[SCI,1]`` -> ``a_flt.fits[SCI,1]``)."""
    return os.path.basename(item) if item else ""


class ProgressBar:
    """Draw :class:`StepProgress` events as one tqdm bar per step.

    A bar shows the step name, the items done out of the total, the elapsed
    time and the estimated time left, and the label of the last item done;
    a step without a count shows its elapsed time only.  The bar of a step
    stays on screen when the step ends.  Call :meth:`close` after a failed
    run to end a bar left open.

    Parameters
    ----------
    stream : file-like, optional
        Where to draw (default ``sys.stderr``).  The caller decides whether
        a bar makes sense (:func:`make_progress` does); on ``sys.stderr`` or
        ``sys.stdout`` the bar comes from ``tqdm.auto`` (a widget in Jupyter).
    width : int, optional
        Characters of the bar itself (default: fitted to the terminal).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(out, width=10)
    >>> bar(StepProgress("sky", 0, 2, "", 0.0, False))
    >>> bar(StepProgress("sky", 2, 2, "", 0.4, True))
    >>> "sky" in out.getvalue() and "[##########]" in out.getvalue()
    True
    """

    def __init__(self, stream=None, width=None):
        self.stream = sys.stderr if stream is None else stream
        if width is not None and (isinstance(width, bool) or not isinstance(width, int)
                                  or width < 1):
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.width = width
        self._bar = None  # the open tqdm bar, or None
        self._step = None

    def _tqdm_class(self):
        if self.stream is sys.stderr or self.stream is sys.stdout:
            from tqdm.auto import tqdm as auto_tqdm

            return auto_tqdm
        return _std_tqdm

    def _open(self, event):
        bar = f"{{bar:{self.width}}}" if self.width else "{bar}"
        if event.total > 0:
            fmt = (f"{{desc}} [{bar}] {{n_fmt}}/{{total_fmt}} "
                   "[{elapsed}<{remaining}{postfix}]")
        else:
            fmt = f"{{desc}} [{bar}] [{{elapsed}}{{postfix}}]"
        tty = _isatty(self.stream)
        columns, lines = _terminal_size(self.stream) if tty else (None, None)
        self._bar = self._tqdm_class()(
            total=event.total if event.total > 0 else 1,  # no count: full when finished
            desc=f"{event.step:<{NAME_WIDTH}.{NAME_WIDTH}}",
            file=self.stream, bar_format=fmt, leave=True,
            ncols=None if columns else 80, dynamic_ncols=bool(columns) and self.width is None,
            nrows=None if lines else 24,  # tqdm hides every bar on a terminal of 0 lines
            # the terminal's own charset there; elsewhere the same '#' and '-' everywhere
            ascii=None if tty else "-#",
        )
        self._step = event.step

    def __call__(self, event):
        if self._bar is not None and (event.step != self._step
                                      or (event.done == 0 and not event.finished)):
            self.close()  # a new step began without the last one's end
        if self._bar is None:
            self._open(event)
        bar = self._bar
        bar.set_postfix_str(_label(event.item) if not event.finished else "", refresh=False)
        if event.total > 0:
            bar.update(max(0, min(event.done, event.total)) - bar.n)
        elif event.finished:
            bar.update(1 - bar.n)
        if event.finished:
            self.close()  # draws the final state

    def close(self):
        """End a bar left open (a step that failed), so later messages start afresh."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._step = None


def _seconds(seconds):
    """``12.3 s`` below a minute, then ``mm:ss`` or ``h:mm:ss``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return _std_tqdm.format_interval(seconds)


class ProgressLines:
    """Draw :class:`StepProgress` events as plain lines, for logs and pipes.

    Each step ends with one line (its count and time); while a counted step
    runs, a line with the count, the elapsed time, the ETA and the last item
    is written at most every ``interval`` seconds of the step.  No carriage
    returns, no terminal control characters.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    interval : float, optional
        Least seconds between two lines of one step (default 30).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> lines = ProgressLines(out, interval=10)
    >>> for done, t in [(0, 0.0), (1, 4.0), (2, 11.0), (3, 13.0)]:
    ...     lines(StepProgress("final drizzle", done, 4, f"c{done}.fits", t, False))
    >>> lines(StepProgress("final drizzle", 4, 4, "", 17.5, True))
    >>> print(out.getvalue(), end="")
    final drizzle         2/4  (50%)  11.0 s, ETA 11.0 s  c2.fits
    final drizzle         4/4  done in 17.5 s
    """

    def __init__(self, stream=None, interval=30.0):
        self.stream = sys.stderr if stream is None else stream
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not interval >= 0:
            raise ValueError(f"interval must be a number of seconds >= 0, got {interval!r}")
        self.interval = float(interval)
        self._step = None
        self._last = 0.0  # step time of the last line written for the step

    def _write(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event):
        if event.step != self._step or (event.done == 0 and not event.finished):
            self._step, self._last = event.step, 0.0
        name = f"{event.step:<{NAME_WIDTH}.{NAME_WIDTH}}"
        count = f"{event.done}/{event.total}" if event.total > 0 else ""
        if event.finished:
            self._write(f"{name} {count:>7}  done in {_seconds(event.elapsed)}")
            self._step = None
            return
        if event.total <= 0 or event.done <= 0 or event.elapsed - self._last < self.interval:
            return
        self._last = event.elapsed
        share = 100.0 * event.done / event.total
        left = event.elapsed / event.done * max(event.total - event.done, 0)
        line = (f"{name} {count:>7}  ({share:.0f}%)  {_seconds(event.elapsed)}, "
                f"ETA {_seconds(left)}")
        if event.item:
            line += f"  {_label(event.item)}"
        self._write(line)

    def close(self):
        """Nothing is left open by plain lines; here so both displays are used alike."""
        self.stream.flush()


def make_progress(stream=None, interval=30.0):
    """The progress display that fits ``stream``.

    Parameters
    ----------
    stream : file-like, optional
        Where progress goes (default ``sys.stderr``).
    interval : float, optional
        Least seconds between two plain lines of one step (default 30).

    Returns
    -------
    ProgressBar or ProgressLines
        A :class:`ProgressBar` when ``stream`` is a terminal, or is
        ``sys.stderr``/``sys.stdout`` in a Jupyter notebook; plain
        :class:`ProgressLines` otherwise (logs, pipes, files).
    """
    stream = sys.stderr if stream is None else stream
    if _isatty(stream) or ((stream is sys.stderr or stream is sys.stdout) and _in_notebook()):
        return ProgressBar(stream)
    return ProgressLines(stream, interval=interval)


def format_timings(timings):
    """Per-step times as a text table with a total line.

    Parameters
    ----------
    timings : mapping
        Step name -> seconds, in run order.

    Returns
    -------
    str
        Lines ``step  seconds  percent``, then the total.
    """
    total = sum(timings.values())
    width = max([len("step"), len("total")] + [len(k) for k in timings])
    lines = [f"{'step':<{width}}  {'time (s)':>9}  {'share':>6}"]
    for name, seconds in timings.items():
        share = 100.0 * seconds / total if total > 0 else 0.0
        lines.append(f"{name:<{width}}  {seconds:9.3f}  {share:5.1f}%")
    lines.append(f"{'total':<{width}}  {total:9.3f}  {100.0 if total > 0 else 0.0:5.1f}%")
    return "\n".join(lines)
