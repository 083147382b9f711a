#!/usr/bin/env bash
# Wheels of the packages gpudrizzle needs that a lent GPU machine's image lacks (it has
# numpy, scipy, cupy, cuda-bindings, NVRTC, pytest), for its Python 3.12 on x86-64, into
# .whl/ of the repository root (ignored by git), where benchmarks/gpu_check.sh installs
# them without a network.  Run on a machine with pip access, from the repository root:
#
#     bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 any; do
    PLATFORMS+=(--platform "$p")
done
# the same versions as this machine's environment, where it has them
version() { python3 -c "import importlib.metadata as m, sys; print('==' + m.version(sys.argv[1]))" "$1" 2>/dev/null || true; }
for pkg in astropy pyerfa astropy-iers-data configobj spherical-geometry drizzle; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${PLATFORMS[@]}" -d .whl "$pkg$(version "$pkg")"
done
ls -l .whl
