"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write FITS files
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert capsys.readouterr().out.strip()


def test_demo_runs_small(tmp_path, capsys):
    from gpudrizzle.demo import main

    assert main(["--size", "small", "--outdir", str(tmp_path), "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "backend: numpy" in out
    assert (tmp_path / "demo_drz.fits").exists() and str(tmp_path / "demo_drz.fits") in out
