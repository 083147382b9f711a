"""Host<->device traffic of a default AstroDrizzle run on the emulated device, by caller.

    python benchmarks/emulated_transfers.py [--size small|full]

Installs the strict CuPy emulation (tests/fakecupy.py) as ``cupy``, runs
``AstroDrizzle`` with ``backend="cuda"`` on the demo exposures (defaults,
build=True) and prints the bytes and copies each way, the synchronisations,
the launches and, per caller, where the copies were asked for.  No GPU needed.
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fakecupy  # noqa: E402
from astropy.io import fits  # noqa: E402

sys.modules["cupy"] = fakecupy

from gpudrizzle import astrodrizzle  # noqa: E402
from gpudrizzle.demo import write_demo_data  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "full"), default="small")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="emulated_transfers."))
    files = [t.path for t in write_demo_data(work / "in", size=args.size)]
    inputs = 0
    for f in files:  # what must cross once: every chip's SCI, ERR and DQ
        with fits.open(f) as hdul:
            inputs += sum(h.data.nbytes for h in hdul
                          if h.name in ("SCI", "ERR", "DQ") and h.data is not None)
    c = fakecupy.reset_counters()
    result = astrodrizzle.AstroDrizzle(files, output=str(work / "demo"), build=True,
                                       backend="cuda", runfile="")
    chips = len(result.sky)
    print(f"{len(files)} exposures, {chips} chips ({args.size} demo)")
    print(f"host->device {c.h2d_bytes} B in {c.h2d_copies} copies; device->host {c.d2h_bytes} B "
          f"in {c.d2h_copies} copies; value syncs {c.syncs} ({c.syncs / chips:.0f} per chip); "
          f"stream syncs {c.stream_syncs}; launches {len(c.launches)}")
    print(f"input SCI/ERR/DQ bytes {inputs} (host->device / inputs = {c.h2d_bytes / inputs:.3f})")
    for (direction, where), (n, nbytes) in sorted(fakecupy.copy_summary().items(),
                                                  key=lambda kv: -kv[1][1]):
        print(f"{direction} {where:32s} {n:5d} {nbytes:12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
