"""The Examples sections of the public API's docstrings run and give what they show."""

import doctest
import inspect
import typing

import numpy as np
import pytest

import gpudrizzle
from gpudrizzle import astrodrizzle, backends, blot, mosaic, resample, tweakreg, utils

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
WITH_EXAMPLES = [resample, blot, utils, backends]


@pytest.mark.parametrize("module", WITH_EXAMPLES, ids=lambda m: m.__name__)
def test_examples_pass(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that wrote a file would write it here
    np.random.seed(0)
    result = doctest.testmod(module, optionflags=_FLAGS, verbose=False, report=False)
    assert result.attempted > 0, f"{module.__name__} has no Examples"
    assert result.failed == 0, f"{result.failed} failing example(s) in {module.__name__}"


def test_a_wrong_example_is_caught():
    """The runner used above reports a mismatch (so the test above can fail)."""
    def f():
        """
        >>> 1 + 1
        3
        """

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=_FLAGS)
    for t in finder.find(f, "f", globs={}):
        runner.run(t, out=lambda s: None)
    assert runner.failures == 1


@pytest.mark.parametrize("func, expected", [
    (resample.Drizzle.add_image, tuple[int, int]),
    (resample.Drizzle.reset, type(None)),
    (blot.blot_image, np.ndarray),
    (utils.calc_pixmap, np.ndarray),
    (utils.decode_context, list[np.ndarray]),
    (utils.estimate_pixel_scale_ratio, float),
    (utils.pixel_scale_ratio_from_pixmap, float),
    (backends.get_backend, backends.Backend),
    (backends.is_device_array, bool),
    (backends.host_array, np.ndarray),
    (astrodrizzle.AstroDrizzle, astrodrizzle.AstroDrizzleResult),
    (astrodrizzle.run, astrodrizzle.AstroDrizzleResult),
    (tweakreg.TweakReg, tweakreg.TweakRegResult),
    (tweakreg.run, tweakreg.TweakRegResult),
    (mosaic.plan, str),
    (mosaic.load_plan, dict),
    (mosaic.run_cell, dict),
    (mosaic.run, mosaic.MosaicResult),
])
def test_return_types_resolve(func, expected):
    """Every hint resolves (no name missing at run time) to the documented type."""
    assert typing.get_type_hints(func)["return"] == expected


def test_drizzle_property_hints_resolve():
    hints = {name: typing.get_type_hints(getattr(resample.Drizzle, name).fget)["return"]
             for name in ("kernel", "ctx_id", "total_exptime", "backend", "out_img", "out_img2")}
    assert hints["kernel"] is str and hints["ctx_id"] is int and hints["total_exptime"] is float
    assert hints["backend"] is backends.Backend
    assert hints["out_img"] == typing.Optional[np.ndarray]
    assert hints["out_img2"] == typing.Optional[list[np.ndarray]]


def test_help_shows_readable_defaults():
    text = str(inspect.signature(gpudrizzle.Drizzle.add_image))
    assert "scale=<deprecated>" in text and "object at 0x" not in text
    assert "tuple[int, int]" in text.rpartition("->")[2]
