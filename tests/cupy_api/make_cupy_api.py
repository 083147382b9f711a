"""Write ``cupy_api.txt``: the public CuPy API that ``tests/fakecupy.py`` may emulate.

Run with a real CuPy installed (no GPU is needed to import it):

    python -m venv /tmp/cupyenv && /tmp/cupyenv/bin/pip install cupy-cuda12x
    /tmp/cupyenv/bin/python tests/cupy_api/make_cupy_api.py > tests/cupy_api/cupy_api.txt

Each line is ``<qualified name> <kind> <signature or ->``; kind is ``function``,
``ufunc``, ``class``, ``attribute`` or ``module``.  The signature, where
Python can read one, lets the fake refuse keyword arguments CuPy does not take.
"""

import inspect

import cupy

NAMESPACES = {
    "cupy": cupy,
    "cupy.ndarray": cupy.ndarray,
    "cupy.cuda": cupy.cuda,
    "cupy.cuda.runtime": cupy.cuda.runtime,
    "cupy.cuda.Device": cupy.cuda.Device,
    "cupy.cuda.Stream": cupy.cuda.Stream,
    "cupy.cuda.MemoryPool": cupy.cuda.MemoryPool,
    "cupy.RawModule": cupy.RawModule,
    "cupy.RawKernel": cupy.RawKernel,
    "cupy.random": cupy.random,
}


def kind_of(obj):
    if isinstance(obj, cupy.ufunc):
        return "ufunc"
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "attribute"


def signature_of(obj):
    try:
        return str(inspect.signature(obj)).replace(" ", "")
    except (TypeError, ValueError):
        return "-"


def main():
    print(f"# CuPy {cupy.__version__}: public names (see make_cupy_api.py)")
    for prefix, ns in NAMESPACES.items():
        for name in sorted(dir(ns)):
            if name.startswith("_"):
                continue
            try:
                obj = getattr(ns, name)
            except Exception:  # attributes that need a device
                print(f"{prefix}.{name} attribute -")
                continue
            kind = kind_of(obj)
            sig = signature_of(obj) if kind == "function" else "-"
            print(f"{prefix}.{name} {kind} {sig}")
    from cupy._core.flags import Flags  # the type of ndarray.flags (no device needed)

    for name in sorted(n for n in dir(Flags) if not n.startswith("_")):
        print(f"cupy.ndarray.flags.{name} attribute -")


if __name__ == "__main__":
    main()
