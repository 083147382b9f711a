"""Faults in writing files, signals and the command line (issue 11, defects 4-10, 14, 16b-d).

Each test names its defect.  Runs use the small demo data (4 exposures x 2
chips of 256x512); the full-disk tests mount a 1 MiB tmpfs and are skipped
where mounting is not permitted.
"""

import glob
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits

from gpudrizzle import astrodrizzle, files, products
from gpudrizzle.demo import write_demo_data

SMALL = {"clean": True, "runfile": "", "backend": "cpu"}


def gpudrizzle(*args, cwd=None, umask=None, timeout=120):
    """``python -m gpudrizzle.cli ARGS`` (finished process)."""
    return subprocess.run([sys.executable, "-m", "gpudrizzle.cli", *map(str, args)], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, preexec_fn=None if umask is None else
                          (lambda: os.umask(umask)))


def start(*args, cwd=None):
    """``python -m gpudrizzle.cli ARGS`` started (Popen, stderr a text pipe)."""
    return subprocess.Popen([sys.executable, "-m", "gpudrizzle.cli", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc, text, limit=120):
    """Read ``proc``'s stderr until a line holds ``text``; return the lines read."""
    lines, t0 = [], time.monotonic()
    while time.monotonic() - t0 < limit:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never appeared on stderr: {''.join(lines)}")


def wait_for_log(log_file, text, limit=60):
    """Wait until the temporary file of the log being written holds ``text``."""
    pattern = os.path.join(os.path.dirname(log_file), f".{os.path.basename(log_file)}.gd-*.tmp")
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if any(text in open(f).read() for f in glob.glob(pattern)):
            return
        time.sleep(0.01)
    raise AssertionError(f"{text!r} never reached the log {log_file}")


def hashes(paths):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def temporaries(*directories):
    return [f for d in directories for f in os.listdir(d) if f.endswith(".tmp")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The small demo's input files and their hashes (never to change)."""
    d = tmp_path_factory.mktemp("faults_data")
    write_demo_data(str(d), size="small")
    paths = sorted(glob.glob(str(d / "*_flt.fits")))
    return paths, hashes(paths)


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted in ``tmp_path`` (skipped where mounting is not permitted)."""
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({proc.stdout.strip()})")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory):
    """Fill the file system of ``directory`` to the last block."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    assert os.statvfs(directory).f_bavail == 0


# ---------------------------------------------------------------------------
# defect 4: no clobbering between concurrent writers


class _RacedHDUList(fits.HDUList):
    """Another writer publishes ``path`` while this one is writing its file."""

    raced_path = None

    def writeto(self, fileobj, **kwargs):
        fits.PrimaryHDU(np.ones((2, 2), np.float32)).writeto(self.raced_path)
        return super().writeto(fileobj, **kwargs)


def test_defect4_no_clobber_publish_loses_to_a_concurrent_writer(tmp_path):
    """Defect 4: the product created by another writer during our write is not replaced."""
    path = str(tmp_path / "x_drz.fits")
    hdul = _RacedHDUList([fits.PrimaryHDU(np.zeros((2, 2), np.float32))])
    hdul.raced_path = path
    with pytest.raises(FileExistsError, match=re.escape(path)):
        products.write_fits(hdul, path, overwrite=False)
    assert fits.getdata(path)[0, 0] == 1.0  # the other writer's file
    assert temporaries(tmp_path) == []


def test_defect4_two_runs_one_product_exactly_one_succeeds(inputs, tmp_path):
    """Defect 4: two ``gpudrizzle run`` with overwrite=False and one output: one exits 0."""
    paths, before = inputs
    procs = [subprocess.Popen([sys.executable, "-m", "gpudrizzle.cli", "run", *paths,
                               "--output", tmp_path / "same", "--clean", "yes", "--runfile",
                               tmp_path / f"run{i}.log", "--report", tmp_path / f"r{i}.json",
                               "--backend", "cpu"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    loser = next(err for rc, err in results if rc == 1)
    assert "same_drz_sci.fits exists" in loser and "--overwrite yes" in loser
    assert temporaries(tmp_path) == [] and hashes(paths) == before


# ---------------------------------------------------------------------------
# defects 5 and 6: a full disk


def test_defect5_full_disk_names_the_product(inputs, tmpfs, tmp_path):
    """Defect 5: a product that does not fit: 'No space left on device while writing <path>'."""
    paths, before = inputs
    proc = gpudrizzle("run", *paths, "--output", tmpfs / "x", "--clean", "yes", "--runfile", "",
                      "--backend", "cpu", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    *progress, line = proc.stderr.strip().splitlines()  # step lines, then the error
    assert all("done in" in p for p in progress), proc.stderr
    # images this small wait for the median in memory (in_memory=False sends larger ones to
    # a scratch file: tests/test_astrodrizzle.py fills the disk under that file)
    assert line == ("gpudrizzle run: error: No space left on device while writing "
                    f"{tmpfs}/x_drz_sci.fits")
    assert os.listdir(tmpfs) == [] and hashes(paths) == before
    # in memory, the product is what does not fit
    proc = gpudrizzle("run", *paths, "--output", tmpfs / "x", "--clean", "yes", "--runfile", "",
                      "--backend", "cpu", "--in-memory", "yes", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    *progress, line = proc.stderr.strip().splitlines()  # step lines, then the error
    assert all("done in" in p for p in progress), proc.stderr
    assert line == ("gpudrizzle run: error: No space left on device while writing "
                    f"{tmpfs}/x_drz_sci.fits")
    assert os.listdir(tmpfs) == [] and hashes(paths) == before


def test_defect6_full_disk_runfile_warns_once_and_keeps_the_products(inputs, tmpfs, tmp_path):
    """Defect 6: an unwritable log: one warning, exit 0 with the products, no temporary."""
    paths, before = inputs
    fill(tmpfs)
    proc = gpudrizzle("run", *paths, "--output", tmp_path / "x", "--clean", "yes", "--runfile",
                      tmpfs / "run.log", "--backend", "cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Logging error" not in proc.stderr and "Traceback" not in proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "could not write" in line]
    assert warned == [f"gpudrizzle: WARNING: could not write the log file {tmpfs}/run.log: "
                      "No space left on device; the run goes on without it"]
    assert "log:" not in proc.stdout
    assert os.listdir(tmpfs) == ["filler"]
    assert os.path.isfile(tmp_path / "x_drz_sci.fits") and hashes(paths) == before


def test_defect6_runfile_directory_checked_up_front(inputs, tmp_path):
    """Defect 6: a runfile whose directory does not exist fails before any step."""
    paths, _ = inputs
    with pytest.raises(FileNotFoundError, match="log file .*/nowhere/run.log"):
        astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "x"),
                                  **dict(SMALL, runfile=str(tmp_path / "nowhere" / "run.log")))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# defect 7: non-ASCII file names


def test_defect7_non_ascii_names_are_written_ascii_safe(inputs, tmp_path):
    """Defect 7: inputs and output with non-ASCII names drizzle; headers hold escapes."""
    paths, _ = inputs
    named = []
    for i, p in enumerate(paths[:2]):
        named.append(str(tmp_path / f"é{i}_flt.fits"))
        os.link(p, named[-1])
    pars = dict(SMALL, build=True, runfile=str(tmp_path / "lög.log"))
    result = astrodrizzle.AstroDrizzle(named, output=str(tmp_path / "ü"), **pars)
    h = fits.getheader(result.products[0])
    assert h["FILENAME"] == "\\xfc_drz.fits" and h["D001DATA"] == "\\xe90_flt.fits[sci,1]"
    assert h["DRIZPARS"] == "l\\xf6g.log"
    assert list(fits.getdata(result.products[0], "HDRTAB")["FILENAME"])[:1] == ["\\xe90_flt.fits"]


# ---------------------------------------------------------------------------
# defect 8: signals and stale temporary files


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_defect8_signal_during_final_drizzle(inputs, tmp_path, signum):
    """Defect 8: SIGINT/SIGTERM in the final drizzle: 128+signum, no temporary, log kept."""
    paths, before = inputs
    proc = start("run", *paths, "--output", tmp_path / "x", "--clean", "yes", "-v",
                 "--runfile", tmp_path / "run.log", "--backend", "numpy", cwd=tmp_path)
    wait_for_line(proc, "step final drizzle: started")
    wait_for_log(tmp_path / "run.log", "step final drizzle: started")
    proc.send_signal(signum)
    rest = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 128 + signum, rest
    assert f"interrupted by {signal.Signals(signum).name}" in rest
    assert temporaries(tmp_path) == [] and hashes(paths) == before
    assert not glob.glob(str(tmp_path / "x_drz*.fits"))
    assert "step final drizzle: started" in open(tmp_path / "run.log").read()


def test_defect8_stale_temporaries_of_a_killed_run_are_removed(inputs, tmp_path):
    """Defect 8: after SIGKILL, the next run in the same place removes what the dead one left."""
    paths, _ = inputs
    proc = start("run", *paths, "--output", tmp_path / "x", "--clean", "yes", "-v",
                 "--runfile", tmp_path / "run.log", "--backend", "numpy", cwd=tmp_path)
    wait_for_line(proc, "step final drizzle: started")
    proc.kill()
    proc.wait(timeout=60)
    proc.stderr.close()
    left = temporaries(tmp_path)
    assert left and all(".gd-" in f and f"-{proc.pid}-" in f for f in left)
    # a live process's temporary file beside them must stay
    live = files.Temporary(str(tmp_path / "busy.fits"))
    run = gpudrizzle("run", *paths, "--output", tmp_path / "y", "--clean", "yes", "--runfile",
                     tmp_path / "run.log", "--backend", "cpu", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert temporaries(tmp_path) == [os.path.basename(live.path)]
    live.discard()


# ---------------------------------------------------------------------------
# defect 9: intermediates of an earlier run


def test_defect9_intermediates_of_another_run_are_replaced(inputs, tmp_path):
    """Defect 9: a run with another output in the same folder replaces the intermediates."""
    paths, _ = inputs
    first = astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "a"),
                                      **dict(SMALL, clean=False))
    second = astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "b"),
                                       **dict(SMALL, clean=False))
    shared = set(first.intermediates) & set(second.intermediates)
    assert any(p.endswith("_single_sci.fits") for p in shared)
    with pytest.raises(FileExistsError, match="b_drz_sci.fits"):  # products are still protected
        astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "b"), **SMALL)


# ---------------------------------------------------------------------------
# defect 10: a target that is a directory


def test_defect10_product_path_that_is_a_directory(inputs, tmp_path):
    """Defect 10: a product path that is a directory fails up front, naming the path."""
    paths, _ = inputs
    (tmp_path / "x_drz.fits").mkdir()
    log_file = tmp_path / "run.log"
    with pytest.raises(IsADirectoryError, match=f"product {tmp_path}/x_drz.fits is a directory"):
        astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "x"),
                                  **dict(SMALL, build=True, overwrite=True, runfile=str(log_file)))
    assert "step static mask" not in log_file.read_text()
    proc = gpudrizzle("run", *paths, "--output", tmp_path / "z", "--report", tmp_path,
                      "--runfile", "", cwd=tmp_path)
    assert proc.returncode == 1 and f"report {tmp_path} is a directory" in proc.stderr
    assert not glob.glob(str(tmp_path / "z_*")) and temporaries(tmp_path) == []


# ---------------------------------------------------------------------------
# defect 14: modes from the umask


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o002, 0o664)])
def test_defect14_modes_follow_the_umask(inputs, tmp_path, umask, mode):
    """Defect 14: products, log and report get 0o666 & ~umask."""
    paths, _ = inputs
    proc = gpudrizzle("run", *paths, "--output", tmp_path / "x", "--build", "--runfile",
                      tmp_path / "run.log", "--backend", "cpu", cwd=tmp_path, umask=umask)
    assert proc.returncode == 0, proc.stderr
    for name in ("x_drz.fits", "run.log", "x_drz_report.json", "x_med.fits"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == mode, name


# ---------------------------------------------------------------------------
# defect 16: messages and exit statuses


def test_defect16b_memory_advice_names_only_steps_that_are_on(inputs, tmp_path, monkeypatch):
    """Defect 16b: the memory refusal does not suggest turning off steps that are off."""
    paths, _ = inputs
    monkeypatch.setattr(astrodrizzle, "available_bytes", lambda backend: 1 << 20)
    with pytest.raises(MemoryError) as off:
        astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "x"), driz_separate=False,
                                  median=False, blot=False, driz_cr=False, **SMALL)
    assert "driz_separate" not in str(off.value) and "median" not in str(off.value)
    with pytest.raises(MemoryError, match="turn 'driz_separate'/'median' off"):
        astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "x"), **SMALL)


def test_defect16c_library_warnings_are_whole_log_records(inputs, tmp_path, monkeypatch):
    """Defect 16c: a library's warning is one runfile line of its own, in the run's order."""
    paths, _ = inputs
    sky = astrodrizzle._Run._sky

    def warning_sky(self):
        warnings.warn("'unitfix' made the change 'Changed units:\n  'DEG' -> 'deg''.",
                      UserWarning)
        return sky(self)

    monkeypatch.setattr(astrodrizzle._Run, "_sky", warning_sky)
    log_file = tmp_path / "run.log"
    astrodrizzle.AstroDrizzle(paths, output=str(tmp_path / "x"),
                              **dict(SMALL, runfile=str(log_file)))
    lines = log_file.read_text().splitlines()
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
    assert all(stamp.match(line) for line in lines), lines
    hit = [i for i, line in enumerate(lines) if "UserWarning" in line]
    assert len(hit) == 1
    assert lines[hit[0]].endswith("WARNING UserWarning: 'unitfix' made the change 'Changed "
                                  "units: 'DEG' -> 'deg''.")
    sky_step = next(i for i, line in enumerate(lines) if "step sky: started" in line)
    assert sky_step < hit[0] < next(i for i, line in enumerate(lines) if "step sky: done" in line)


def test_defect16d_bad_value_in_cfg_is_a_usage_error(inputs, tmp_path):
    """Defect 16d: a bad value in a .cfg exits 2, as on the command line, naming the file."""
    paths, _ = inputs
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("_task_name_ = astrodrizzle\nfinal_pixfrac = lots\n")
    on_line = gpudrizzle("run", *paths, "--final-pixfrac", "lots", cwd=tmp_path)
    in_cfg = gpudrizzle("run", *paths, "--config", cfg, cwd=tmp_path)
    assert on_line.returncode == in_cfg.returncode == 2, (on_line.stderr, in_cfg.stderr)
    line, = in_cfg.stderr.strip().splitlines()
    assert str(cfg) in line and "final_pixfrac" in line
    assert os.listdir(tmp_path) == ["bad.cfg"]
