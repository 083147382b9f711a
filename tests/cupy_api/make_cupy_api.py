"""Write ``cupy_api.txt``: the public CuPy API that ``tests/fakecupy.py`` may emulate.

Run with a real CuPy installed (no GPU is needed to import it):

    python -m venv /tmp/cupyenv && /tmp/cupyenv/bin/pip install cupy-cuda12x
    /tmp/cupyenv/bin/python tests/cupy_api/make_cupy_api.py > tests/cupy_api/cupy_api.txt

Each line is ``<qualified name> <kind> <signature or ->``; kind is ``function``,
``ufunc``, ``class``, ``attribute`` or ``module``.  The signature, where
Python can read one, lets the fake refuse keyword arguments CuPy does not take.
"""

import inspect
import re

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
    """The call signature, from Python, else from the first line of a compiled method's
    docstring (``_ndarray_base.sum(self, axis=None, ...) -> ...``), without ``self``."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        pass
    else:  # names and defaults (annotations dropped); keyword-only after a bare *
        out, star = [], False
        for p in params:
            if p.name == "self":
                continue
            if p.kind is p.KEYWORD_ONLY and not star:
                out.append("*")
                star = True
            prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
            star = star or p.kind is p.VAR_POSITIONAL
            default = "" if p.default is p.empty else f"={p.default!r}"
            out.append(prefix + p.name + default.replace(" ", ""))
        return "(" + ",".join(out) + ")"
    name = getattr(obj, "__name__", "")
    for line in (obj.__doc__ or "").splitlines():
        m = re.match(rf"\s*(?:[\w.]+\.)?{re.escape(name)}(\(.*\))", line)
        if m:
            return _compact(m.group(1).replace("\\", ""))
    return "-"


def _compact(sig):
    """A docstring's ``(self, int device, x=1) -> T`` as ``(device,x=1)``: no self, no C
    types, no spaces, no return type."""
    head = sig.partition("->")[0].strip()
    params = []
    for p in head[1:-1].split(","):
        name, eq, default = p.partition("=")
        words = name.split()
        if words and words[-1] != "self":
            params.append(words[-1] + eq + default.strip().replace(" ", ""))
    return "(" + ",".join(params) + ")"


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
