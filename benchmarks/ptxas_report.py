"""Print ptxas's resource usage of every kernel: registers, stack frame, spills.

Compiled by NVRTC with exactly the backend's options (``nvrtc_options``)
plus ``--ptxas-options=-v``; no GPU needed.  Usage::

    python benchmarks/ptxas_report.py                 # sm_80 and sm_90, cuda-bindings' NVRTC
    python benchmarks/ptxas_report.py --arch 75 90 --lib 12   # libnvrtc.so.12 from its wheel

Kernels over the budget the tests hold (``nvrtc.budget_violations``: spills,
stack > 128 B, more than 128 registers for drizzle_* and blot_*) are marked
with ``!``; the exit status is 1 when there is one.
"""

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

from gpudrizzle.backends import nvrtc
from gpudrizzle.kernels import SOURCE_FILES

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["80", "90"])
    parser.add_argument("--lib", type=int, default=None,
                        help="NVRTC major version to load by ctypes from its wheel "
                             "(default: cuda-bindings' own)")
    args = parser.parse_args(argv)
    compiler = None
    if args.lib is not None:
        path = nvrtc.find_libnvrtc(args.lib)
        if path is None:
            sys.exit(f"libnvrtc.so.{args.lib} not found (pip install nvidia-cuda-nvrtc"
                     f"{'-cu12' if args.lib == 12 else ''})")
        compiler = nvrtc.CtypesNVRTC(path)
    else:
        compiler = nvrtc.BindingsNVRTC()
    print("NVRTC %d.%d (%s)" % (compiler.version() + (compiler.name,)))
    jobs = [(s, a) for a in args.arch for s in sorted(SOURCE_FILES)]
    with ThreadPoolExecutor() as pool:
        reports = pool.map(lambda job: nvrtc.ptxas_report(*job, compiler=compiler), jobs)
        usages = [u for rep in reports for u in sorted(rep)]
    usages.sort(key=lambda u: (u.kernel, u.arch))
    print(nvrtc.usage_table(usages))
    return 1 if any(nvrtc.budget_violations(u) for u in usages) else 0


if __name__ == "__main__":
    sys.exit(main())
