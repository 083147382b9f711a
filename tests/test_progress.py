"""Progress displays: tqdm bars on terminals, plain lines in logs, the timing table."""

import io
import os
import sys

import pytest

from gpudrizzle.progress import (ProgressBar, ProgressLines, StepProgress, format_timings,
                                 make_progress)


def _events(step, total, times, items=None):
    """A step's events: start, one per item at ``times[1:]``, end at ``times[-1]``."""
    items = items or [f"/data/dir/x{i}_flt.fits[SCI,1]" for i in range(1, total + 1)]
    out = [StepProgress(step, 0, total, "", times[0], False)]
    for done in range(1, total + 1):
        out.append(StepProgress(step, done, total, items[done - 1], times[done], False))
    out.append(StepProgress(step, total, total, "", times[-1], True))
    return out


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def pty_stream():
    pty = pytest.importorskip("pty")
    leader, follower = pty.openpty()
    stream = os.fdopen(follower, "w", encoding="utf-8")
    try:
        yield stream, leader
    finally:
        stream.close()
        os.close(leader)


def _read_all(fd):
    import select

    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# plain lines


def test_plain_lines_one_per_step_and_throttled(rng):
    interval = float(rng.uniform(5, 20))
    total = int(rng.integers(20, 40))
    times = [0.0] + sorted(rng.uniform(0, 10 * interval, total)) + [10 * interval + 1]
    out = io.StringIO()
    out.write("poison\n")
    lines = ProgressLines(out, interval=interval)
    for e in _events("final drizzle", total, times):
        lines(e)
    for e in _events("median", 0, [0.0, 3.25]):
        lines(e)
    lines.close()
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text and text.endswith("\n")
    got = text.splitlines()[1:]
    end = ["s"] if times[-1] < 60 else []
    assert got[-2].split() == ["final", "drizzle", f"{total}/{total}", "done", "in",
                               _expected_seconds(times[-1]), *end]
    assert got[-1].split() == ["median", "done", "in", "3.2", "s"]  # 3.25 rounds to even
    # the interim lines: the first item done at least `interval` after the last line
    expect, last = [], 0.0
    for done in range(1, total + 1):
        if times[done] - last >= interval:
            expect.append(done)
            last = times[done]
    interim = got[:-2]
    assert len(interim) == len(expect) and len(interim) <= 11
    for line, done in zip(interim, expect):
        t = times[done]
        eta = t / done * (total - done)
        assert line.split()[:3] == ["final", "drizzle", f"{done}/{total}"]
        assert f"({100 * done / total:.0f}%)" in line
        assert f"ETA {_expected_seconds(eta)}" in line
        assert line.endswith(f"x{done}_flt.fits[SCI,1]") and "/data/" not in line


def _expected_seconds(s):
    if s < 60:
        return f"{s:.1f}"
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def test_plain_lines_interval_zero_writes_every_item():
    out = io.StringIO()
    lines = ProgressLines(out, interval=0)
    for e in _events("sky", 3, [0.0, 1.0, 2.0, 3.0, 3.5]):
        lines(e)
    counts = [line.split()[1] for line in out.getvalue().splitlines()]
    assert counts == ["1/3", "2/3", "3/3", "3/3"]


@pytest.mark.parametrize("interval", [-1, "10", True, float("nan")])
def test_plain_lines_bad_interval(interval):
    with pytest.raises(ValueError, match="interval"):
        ProgressLines(io.StringIO(), interval=interval)


# ---------------------------------------------------------------------------
# tqdm bars


def test_bar_on_a_terminal_like_stream():
    out = _Terminal()
    bar = ProgressBar(out, width=10)
    for e in _events("separate drizzle", 2, [0.0, 0.1, 0.2, 0.3]):
        bar(e)
    text = out.getvalue()
    assert "\r" in text and text.endswith("\n")
    final = text.rstrip("\n").split("\r")[-1]
    assert final.startswith("separate drizzle ") and "2/2" in final
    assert "<" in final  # elapsed<remaining: the ETA
    assert "/data/" not in text


def test_bar_counts_items_and_shows_them(rng):
    total = int(rng.integers(3, 9))
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    events = _events("final drizzle", total, [0.0] * (total + 2))
    half = total // 2
    for e in events[:half + 1]:
        bar(e)
    bar.close()  # a failed step: the bar is ended, showing where it was
    text = out.getvalue()
    last = text.rstrip("\n").split("\r")[-1]
    filled = int(10 * half / total)
    assert f"[{'#' * filled}" in last and f"{half}/{total}" in last
    assert f"x{half}_flt.fits[SCI,1]" in last and text.endswith("\n")
    n = len(text)
    bar.close()  # nothing open: nothing written
    assert len(out.getvalue()) == n


def test_bar_step_without_count_is_full_at_the_end():
    out = io.StringIO()
    bar = ProgressBar(out, width=8)
    for e in _events("median", 0, [0.0, 1.0]):
        bar(e)
    lines = out.getvalue().split("\r")
    assert "[--------]" in lines[1] and "[########]" in lines[-1] and "/" not in lines[-1]


def test_bar_on_a_real_terminal(pty_stream):
    stream, leader = pty_stream
    display = make_progress(stream)
    assert isinstance(display, ProgressBar)
    for e in _events("sky", 4, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]):
        display(e)
    drawn = _read_all(leader)
    assert "sky" in drawn and "4/4" in drawn and "\r" in drawn


def test_a_new_step_closes_an_open_bar():
    out = io.StringIO()
    bar = ProgressBar(out, width=4)
    bar(StepProgress("sky", 0, 2, "", 0.0, False))
    bar(StepProgress("sky", 1, 2, "a.fits", 0.0, False))
    for e in _events("blot", 1, [0.0, 0.1, 0.2]):  # the sky step's end never came
        bar(e)
    lines = out.getvalue().split("\n")
    assert lines[0].split("\r")[-1].startswith("sky") and "1/2" in lines[0]
    assert lines[1].split("\r")[-1].startswith("blot") and "1/1" in lines[1]


def test_bad_width():
    with pytest.raises(ValueError, match="width"):
        ProgressBar(io.StringIO(), width=0)


# ---------------------------------------------------------------------------
# choice of display


def test_make_progress_picks_lines_off_a_terminal(monkeypatch):
    assert isinstance(make_progress(io.StringIO()), ProgressLines)
    assert isinstance(make_progress(_Terminal()), ProgressBar)
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    shown = make_progress(interval=7)
    assert isinstance(shown, ProgressLines) and shown.stream is pipe and shown.interval == 7


def test_notebook_gets_a_bar(monkeypatch):
    from gpudrizzle import progress

    monkeypatch.setattr(progress, "_in_notebook", lambda: True)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    assert isinstance(make_progress(), ProgressBar)
    assert isinstance(make_progress(io.StringIO()), ProgressLines)  # a file is a file


def test_timing_table():
    table = format_timings({"sky": 1.0, "final drizzle": 3.0}).splitlines()
    assert table[0].split() == ["step", "time", "(s)", "share"]
    assert table[1].split() == ["sky", "1.000", "25.0%"]
    assert table[-1].split() == ["total", "4.000", "100.0%"]
    assert format_timings({}).splitlines()[-1].split() == ["total", "0.000", "0.0%"]
