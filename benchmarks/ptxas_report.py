"""Print ptxas's resource usage of every kernel: registers, stack frame, spills.

Compiled by NVRTC with exactly the backend's options (``nvrtc_options``)
plus ``--ptxas-options=-v``; no GPU needed.  Usage::

    python benchmarks/ptxas_report.py                 # sm_80 and sm_90, cuda-bindings' NVRTC
    python benchmarks/ptxas_report.py --arch 75 90 --lib 12   # libnvrtc.so.12 from its wheel

Kernels over the budget the tests hold (spills, stack > 128 B, or more than
128 registers for drizzle_* and blot_*) are marked with ``!``.
"""

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

from gpudrizzle.backends import nvrtc
from gpudrizzle.kernels import SOURCE_FILES

STACK_BUDGET = 128
REGISTER_BUDGET = 128
REGISTER_BUDGET_PREFIXES = ("drizzle_", "blot_")


def over_budget(u):
    """Reasons kernel usage ``u`` breaks the budget (empty when within it)."""
    why = []
    if u.spill_stores or u.spill_loads:
        why.append("spills")
    if u.stack > STACK_BUDGET:
        why.append(f"stack > {STACK_BUDGET}")
    if u.kernel.startswith(REGISTER_BUDGET_PREFIXES) and u.registers > REGISTER_BUDGET:
        why.append(f"registers > {REGISTER_BUDGET}")
    return why


def table(usages):
    """The usages as a text table, one kernel and architecture a line."""
    lines = [f"{'kernel':<24} {'arch':<7} {'regs':>5} {'stack':>6} {'spill st':>9} "
             f"{'spill ld':>9}"]
    for u in usages:
        mark = "  ! " + ", ".join(over_budget(u)) if over_budget(u) else ""
        lines.append(f"{u.kernel:<24} {u.arch:<7} {u.registers:>5} {u.stack:>6} "
                     f"{u.spill_stores:>9} {u.spill_loads:>9}{mark}")
    return "\n".join(lines)


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
    print(table(usages))
    return 1 if any(over_budget(u) for u in usages) else 0


if __name__ == "__main__":
    sys.exit(main())
