#!/usr/bin/env bash
# The one device check: on a machine with a CUDA GPU, from the repository root,
#
#     bash benchmarks/gpu_check.sh
#
# installs gpudrizzle into the machine's python3 (no network needed: wheels of the
# packages that machine lacks may be carried in .whl/, see benchmarks/gpu_wheels.sh),
# then, each part under its own time limit (7.5 minutes in all at most, first
# compilation included):
#   1. `gpudrizzle info` (device, compute capability, NVRTC, kernel caches);
#   2. `pytest -m gpu`: every backend test on the real device;
#   3. the kernel benchmarks at 4096^2, cuda against the cpu backend, results checked;
#   4. AstroDrizzle on 4 full-size ACS/WFC-like exposures (2 chips of 2048x4096),
#      cuda and cpu, per-step times and the FITS read/write floor;
# and prints one table last.  Logs and JSON go to $OUT (default /tmp/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 GPUDRIZZLE_CACHE_DIR="$OUT/kernel-cache"
SIZE=${GPU_CHECK_SIZE:-4096}
CORES=${GPU_CHECK_CORES:-$(nproc)}

# carried wheels, where this python lacks gpudrizzle's dependencies
if ! "$PY" -c "import astropy, configobj, spherical_geometry, drizzle" 2>/dev/null \
        && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu_check_site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}
fi
# installed from this checkout already (e.g. a developer's venv), else an editable install
if ! "$PY" -c "import sys, gpudrizzle.cuda_kernels as k; sys.exit(not k.__file__.startswith('$PWD/'))" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
        || { cat "$OUT/install.log"; exit 1; }
fi

part() {  # part NAME LIMIT_S COMMAND...: run, log to $OUT/NAME.log, record status and time
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit} s)"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "$name $rc $((SECONDS - t0))" >>"$OUT/status"
}
rm -f "$OUT/status"
part info 120 "$PY" -c "import sys; from gpudrizzle.cli import main; sys.exit(main(['info']))"
part pytest_gpu 180 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests
part kernels 90 "$PY" benchmarks/compare_drizzle.py --size "$SIZE" --backends cuda \
    --anchor cpu --repeat 3 --json "$OUT/kernels.json"
part astrodrizzle 150 "$PY" benchmarks/compare_astrodrizzle.py --size "$SIZE" \
    --backend cuda,cpu --num-cores "$CORES" --anchor-python none --json "$OUT/astrodrizzle.json"

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
rows = []
for line in (out / "status").read_text().split("\n"):
    if line:
        name, rc, secs = line.split()
        rows.append((f"{name}: exit status, time (s)", f"{rc}, {secs}"))
log = out / "pytest_gpu.log"
if log.exists():
    tail = [l for l in log.read_text().splitlines() if " passed" in l or " failed" in l
            or " error" in l or "no tests ran" in l]
    rows.append(("pytest -m gpu", tail[-1].strip("= ") if tail else "no summary"))
kj = out / "kernels.json"
if kj.exists():
    k = json.loads(kj.read_text())
    for case, t in k["times"].items():
        cpu, cuda = t.get("cpu anchor"), t.get("cuda")
        if cpu and cuda:
            rows.append((f"{case} {k['size']}^2: cpu / cuda (ms)",
                         f"{1e3 * cpu:.1f} / {1e3 * cuda:.2f}  ({cpu / cuda:.0f}x)"))
aj = out / "astrodrizzle.json"
if aj.exists():
    rows += [tuple(r) for r in json.loads(aj.read_text())["rows"]]
width = max(len(r[0]) for r in rows)
print("\ngpu_check summary")
print("-" * (width + 40))
for name, value in rows:
    print(f"{name:<{width}}  {value}")
EOF
