"""Loaded at start-up by any Python with this folder on PYTHONPATH: the strict CuPy emulation
(tests/fakecupy.py) becomes ``cupy``, so scripts meant for a GPU machine run on it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fakecupy  # noqa: E402

sys.modules["cupy"] = fakecupy
