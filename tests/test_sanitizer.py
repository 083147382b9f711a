"""The kernel tests again, on a host build with AddressSanitizer and UBSan.

Out-of-bounds indexing is the commonest GPU kernel bug; the host build of
the same sources catches it here.  The sanitized library is built into its
own cache directory and loaded into a child pytest with the sanitizer
runtimes preloaded; any report aborts the child.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpudrizzle.kernels import SOURCE_FILES

ROOT = Path(__file__).resolve().parents[1]
KERNEL_TESTS = ["tests/test_drizzle_kernels.py", "tests/test_drizzle_api.py"]
KERNEL_TESTS += [f"tests/test_{Path(s).stem}.py" for s in SOURCE_FILES if s != "drizzle.cu"]


def _runtime(name):
    gxx = shutil.which("g++")
    if not gxx:
        return None
    path = subprocess.run([gxx, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_kernels_under_address_and_undefined_sanitizers(tmp_path):
    asan, ubsan = _runtime("libasan.so"), _runtime("libubsan.so")
    if not (asan and ubsan):
        pytest.skip("g++ with the ASan and UBSan runtimes is needed for the sanitizer run")
    tests = [t for t in KERNEL_TESTS if (ROOT / t).exists()]
    env = dict(
        os.environ,
        GPUDRIZZLE_CACHE_DIR=str(tmp_path),
        GPUDRIZZLE_CXXFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined "
                            "-fno-sanitize-recover=all",
        LD_PRELOAD=f"{asan} {ubsan}",
        ASAN_OPTIONS="detect_leaks=0",
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "cpu", *tests]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-6000:]
    assert " passed" in out
