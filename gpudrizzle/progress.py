"""Progress of an AstroDrizzle run: events, a terminal progress bar, a timing table.

:func:`gpudrizzle.astrodrizzle.AstroDrizzle` calls its ``progress`` callable
with a :class:`StepProgress` when a step starts, after each exposure or chip
the step finishes, and when the step ends.  :class:`ProgressBar` draws these
events as one self-overwriting line per step on a terminal;
:func:`format_timings` lays out the per-step times of a run as a table (the
command line prints it, and the run's log holds it).
"""

import os
import shutil
import sys
from typing import NamedTuple

__all__ = ["StepProgress", "ProgressBar", "format_timings"]


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


class ProgressBar:
    """Draw :class:`StepProgress` events as one progress line per step.

    The current step's line is redrawn in place (carriage return); when the
    step ends the line is completed with its time and a newline.  Call
    :meth:`close` after a failed run to end a line left open.

    Parameters
    ----------
    stream : file-like, optional
        Where to draw (default ``sys.stderr``).  The caller decides whether
        drawing makes sense (e.g. only when ``stream.isatty()``).
    width : int, optional
        Characters of the bar itself (default: fitted to the terminal).
    """

    def __init__(self, stream=None, width=None):
        self.stream = sys.stderr if stream is None else stream
        columns = shutil.get_terminal_size((80, 24)).columns
        self.width = width if width is not None else max(10, min(30, columns - 60))
        self.columns = columns
        self._open = False  # a line is drawn but not finished

    def __call__(self, event):
        name = f"{event.step:<17.17}"
        if event.total > 0:
            filled = int(round(self.width * event.done / event.total))
            bar = "#" * filled + "-" * (self.width - filled)
            count = f"{event.done}/{event.total}"
        else:
            bar = ("#" if event.finished else "-") * self.width
            count = ""
        line = f"{name} [{bar}] {count:>7} {event.elapsed:7.2f} s"
        if event.item and not event.finished:
            line += f"  {os.path.basename(event.item)}"
        room = max(self.columns - 1, 20)
        end = "\n" if event.finished else ""
        self.stream.write("\r" + line[:room].ljust(room) + end)
        self.stream.flush()
        self._open = not event.finished

    def close(self):
        """End a line left unfinished (a step that failed), so later messages start afresh."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


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
