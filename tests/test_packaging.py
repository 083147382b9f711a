"""Packaging: metadata, license, type marker, version from git, what the sdist carries.

The sdist is made by setuptools-scm's file finder: every file git tracks
(plus the license and the package data).  So the tests' own files
(conftest, helpers, golden files) travel with it exactly when git tracks
them; ../shared/data stays outside and the tests that need it skip.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

import gpudrizzle

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def tracked():
    """Files git tracks (what the sdist carries); skips outside a git checkout (an sdist)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (e.g. an unpacked sdist): nothing to compare with")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return {p for p in out.stdout.decode().split("\0") if p}


def test_license_is_spdx_with_its_file(project):
    meta = project["project"]
    assert meta["license"] == "BSD-3-Clause"
    assert meta["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "gpudrizzle developers" in text
    assert "Neither the name of the copyright holder" in text
    # an SPDX expression excludes License :: classifiers, and needs setuptools >= 77
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77
               for r in project["build-system"]["requires"])


def test_classifiers_are_known(project):
    trove = pytest.importorskip("trove_classifiers", reason="trove-classifiers not installed")
    classifiers = project["project"]["classifiers"]
    assert sorted(set(classifiers) - trove.classifiers) == []
    assert "Typing :: Typed" in classifiers
    low = project["project"]["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {low}" in classifiers


def test_type_marker_is_package_data(project):
    assert (ROOT / "gpudrizzle" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["gpudrizzle"]
    from importlib.resources import files

    assert files("gpudrizzle").joinpath("py.typed").is_file()


def test_version_comes_from_the_repository(project):
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert any(r.startswith("setuptools-scm") for r in project["build-system"]["requires"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["tool"]["setuptools_scm"]["fallback_version"])
    assert gpudrizzle.__version__ == metadata.version("gpudrizzle")
    # PEP 440: release, optional dev release and local part
    assert re.fullmatch(r"\d+(\.\d+)*(\.dev\d+)?(\+[a-z0-9.]+)?", gpudrizzle.__version__)


def test_gpu_extras_bring_nvrtc(project):
    extras = project["project"]["optional-dependencies"]
    for major in ("12", "13"):
        deps = extras[f"cuda{major}"]
        cupy = [d for d in deps if d.startswith(f"cupy-cuda{major}x")]
        # [ctk]: the CUDA Toolkit's libraries from PyPI, NVRTC among them (CuPy >= 14)
        assert cupy and cupy[0].startswith(f"cupy-cuda{major}x[ctk]") and ">=14" in cupy[0]
        # the kernels are compiled through cuda-bindings' NVRTC module of the same major
        bindings = [d for d in deps if d.startswith("cuda-bindings")]
        assert bindings and f">={major}" in bindings[0]
        assert f"<{int(major) + 1}" in bindings[0]
    assert extras["gpu"] == ["gpudrizzle[cuda12]"]
    assert any(d.startswith("tqdm") for d in project["project"]["dependencies"])


def _local_imports(path):
    """Top-level module names a test file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_sdist_carries_what_the_tests_import(tracked):
    """Every helper module the tests import, and every data file under tests/, is tracked."""
    helpers = set()
    for path in TESTS.glob("*.py"):
        for name in _local_imports(path):
            if (TESTS / f"{name}.py").is_file():
                helpers.add(f"tests/{name}.py")
            elif (TESTS / name / "__init__.py").is_file():
                helpers.add(f"tests/{name}/__init__.py")
    assert "tests/conftest.py" in tracked
    assert helpers and sorted(helpers - tracked) == [], "git add these, or the sdist lacks them"
    # data, golden files and helpers that exist here but not in git (ignored files aside);
    # a test module not yet added is simply not part of the suite either
    out = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard", "tests"],
                         cwd=ROOT, capture_output=True, check=True)
    missing = sorted(p for p in out.stdout.decode().split("\0")
                     if p and not re.fullmatch(r"tests/test_\w+\.py", p))
    assert missing == [], f"untracked files under tests/ (not in the sdist): {missing[:10]}"


def test_tests_refer_to_no_repository_file_outside_the_sdist(tracked):
    """Paths the tests build from the repository root name tracked files (../shared aside)."""
    root_refs = re.compile(r"ROOT\s*/\s*\"([^\"]+)\"(?:\s*/\s*\"([^\"]+)\")?")
    seen = 0
    for path in TESTS.glob("*.py"):
        for m in root_refs.finditer(path.read_text()):
            rel = "/".join(p for p in m.groups() if p)
            if rel != ".git":
                seen += 1
                assert rel in tracked or any(t.startswith(rel + "/") for t in tracked), \
                    f"{path.name} reads {rel}, which the sdist would not carry"
    assert seen > 0


@pytest.mark.skipif(os.environ.get("GPUDRIZZLE_TEST_SDIST") != "1",
                    reason="builds an sdist (slow, needs the package index): "
                           "set GPUDRIZZLE_TEST_SDIST=1")
def test_built_sdist_holds_the_tracked_files(tracked, tmp_path):
    pytest.importorskip("build", reason="the 'build' package is not installed")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (sdist,) = tmp_path.glob("gpudrizzle-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    assert sorted(tracked - members) == []
    assert {"LICENSE", "PKG-INFO", "gpudrizzle/py.typed", "tests/conftest.py"} <= members
