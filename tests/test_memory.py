"""Host memory reuse around a pipeline run (glibc only)."""

import ctypes
import sys

import numpy as np
import pytest

from gpudrizzle.memory import reuse_freed_host_memory


def _resident_bytes():
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * 4096


def _glibc():
    try:
        ctypes.CDLL(None).malloc_trim  # noqa: B018
        return sys.platform.startswith("linux")
    except (OSError, AttributeError):
        return False


@pytest.mark.skipif(not _glibc(), reason="needs Linux with glibc (mallopt, /proc)")
def test_freed_blocks_are_kept_in_the_block_and_returned_after():
    size = 256 << 20
    with reuse_freed_host_memory():
        a = np.ones(size // 8)  # touched: resident
        before_free = _resident_bytes()
        del a
        kept = _resident_bytes()
        b = np.ones(size // 8)  # reuses the kept block
        assert _resident_bytes() < before_free + size // 2
        del b
    after = _resident_bytes()
    assert kept > before_free - size // 4, "the freed block should stay resident in the block"
    assert after < kept - size // 2, "the memory should be handed back after the block"
    # and default behaviour again: a freed large block leaves at once
    c = np.ones(size // 8)
    touched = _resident_bytes()
    del c
    assert _resident_bytes() < touched - size // 2


def test_estimate_counts_singles_only_when_kept_in_memory():
    """Separate drizzle images waiting in a scratch file cost no memory per exposure."""
    from gpudrizzle.astrodrizzle import estimate_memory
    from gpudrizzle.params import resolve_parameters, step_switches

    steps = step_switches(resolve_parameters(), 700)
    args = ([(64, 128)] * 1400, 700, (200, 300), (200, 300), steps, 1400)
    in_memory = estimate_memory(*args)
    on_disk = estimate_memory(*args, singles_on_disk=True)
    # (on disk, the final drizzle's context planes are the peak instead)
    assert 0.95 * 8 * 200 * 300 * 700 < in_memory - on_disk <= 8 * 200 * 300 * 700


def test_estimate_keeps_static_masks_per_signature_and_crmasks_on_disk_out():
    """What a run keeps for its whole length: a static mask per chip signature (about one
    exposure's chips), and each chip's CR mask only while it is kept in memory."""
    from gpudrizzle.astrodrizzle import estimate_memory
    from gpudrizzle.params import resolve_parameters, step_switches

    steps = step_switches(resolve_parameters(), 700)
    chips = [(2048, 4096)] * 1400
    kw = dict(singles_on_disk=True)
    base = (chips, 700, (4200, 4200), (4200, 4200), steps, 1400)
    in_memory = estimate_memory(*base, **kw)
    on_disk = estimate_memory(*base, crmasks_on_disk=True, **kw)
    assert in_memory - on_disk == 1400 * 2048 * 4096  # one byte per input pixel
    # on disk, 700 exposures need no more than 20 (bar the context planes of the frame)
    few = estimate_memory([(2048, 4096)] * 40, 20, (4200, 4200), (4200, 4200), steps, 40,
                          crmasks_on_disk=True, **kw)
    planes = 4200 * 4200 * 4 * ((1400 - 1) // 32 - (40 - 1) // 32)
    assert on_disk - few == planes


def test_by_rows_covers_every_row_once_and_raises_a_block_failure(rng):
    from gpudrizzle.memory import MIN_ROWS_PER_THREAD, by_rows

    n = int(rng.integers(3 * MIN_ROWS_PER_THREAD, 10 * MIN_ROWS_PER_THREAD))
    seen = np.zeros(n, np.int64)
    blocks = []

    def body(rows):
        blocks.append(rows)
        seen[rows] += 1

    by_rows(np, 3, n, body)
    assert len(blocks) == 3 and (seen == 1).all()
    # one call: one thread, few rows, or another array module
    for threads, rows, xp in ((1, n, np), (None, n, np), (4, 2 * MIN_ROWS_PER_THREAD - 1, np),
                              (4, n, object())):
        blocks.clear()
        by_rows(xp, threads, rows, body)
        assert blocks == [slice(None)]

    def failing(rows):
        if rows.start:
            raise ZeroDivisionError("planted")

    with pytest.raises(ZeroDivisionError, match="planted"):
        by_rows(np, 2, n, failing)


def _rows_in_child(n, queue):
    from gpudrizzle.memory import by_rows

    seen = np.zeros(n, np.int64)
    by_rows(np, 2, n, lambda rows: seen.__setitem__(rows, seen[rows] + 1))
    queue.put(int(seen.sum()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_by_rows_works_in_a_forked_child():
    """A child forked after the parent made its thread pool makes its own (a pool's threads
    do not survive a fork): no hang, every row once."""
    import multiprocessing

    from gpudrizzle.memory import MIN_ROWS_PER_THREAD, by_rows

    n = 4 * MIN_ROWS_PER_THREAD
    by_rows(np, 2, n, lambda rows: None)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_rows_in_child, args=(n, queue))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("by_rows hung in a forked child")
    assert child.exitcode == 0 and queue.get(timeout=5) == n
