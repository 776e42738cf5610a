"""The subpackages depend downward only: ir < ops < autodiff, passes < backend < viz, io, nn,
optim, cli. Every import is parsed, lazy ones (inside functions) included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

import graphc

ROOT = Path(graphc.__file__).parent

#: layer of each top-level part of the package; an import may go to a lower or equal layer
LAYERS = {
    "_version": 0, "errors": 0,
    "ir": 1,
    "ops": 2, "random": 2, "linalg": 2,
    "autodiff": 3, "passes": 3,
    "backend": 4,
    "viz": 5, "io": 5, "nn": 5, "optim": 5, "cli": 5, "onnx": 5,
}
#: optional extras the core never imports (an optional backend imports its own, lazily)
EXTRAS = ("onnx", "onnxruntime", "numba", "dask", "distributed", "torch", "jax", "scipy")
#: the optional parts, and the extras each may import: nothing else imports them, and
#: ``import graphc`` loads none of these modules (test_import_graphc_loads_no_extra)
OPTIONAL = {"onnx": ("onnx",), "backend/numba": ("numba",),
            "backend/dask": ("dask", "distributed")}


def _allowed(path: Path, extra: str) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel.startswith(part + "/") and extra in extras
               for part, extras in OPTIONAL.items())


def _part(module: str) -> str | None:
    """``graphc.ir.graph`` -> ``ir``; ``graphc`` itself -> ``graphc``."""
    parts = module.split(".")
    if parts[0] != "graphc":
        return None
    return parts[1] if len(parts) > 1 else "graphc"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, relative ones resolved."""
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        pkg += ".__init__"
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[:-node.level] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}" if base == "graphc" else base)
                      for a in node.names]
    return found


def _edges():
    """(importing part, imported part, file:line) for every import between parts."""
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        src = rel.parts[0].removesuffix(".py")
        if src in ("__init__", "__main__"):  # the package root re-exports the public API,
            continue                           # and python -m graphc runs the cli: on top
        for line, module in _imports(path):
            dst = _part(module)
            if dst is not None and dst != src:
                yield src, dst, f"graphc/{rel}:{line}", module


def test_every_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in ROOT.iterdir()
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts - {"__init__", "__main__"} <= set(LAYERS), parts - set(LAYERS)


def test_imports_go_down_the_layers_only():
    upward = [f"{where}: {src} imports {module} ({dst})"
              for src, dst, where, module in _edges()
              if dst not in LAYERS or LAYERS[dst] > LAYERS[src]]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle_between_parts():
    g = nx.DiGraph((src, dst) for src, dst, _, _ in _edges())
    assert not list(nx.simple_cycles(g))


@pytest.mark.parametrize("extra", EXTRAS)
def test_the_core_never_imports_an_optional_extra(extra):
    users = [f"graphc/{p.relative_to(ROOT)}:{line}" for p in sorted(ROOT.rglob("*.py"))
             for line, module in _imports(p)
             if module.split(".")[0] == extra and not _allowed(p, extra)]
    assert not users, users


def test_import_graphc_loads_no_extra():
    """The optional parts import their extras only when used: a fresh interpreter that
    imports graphc (and compiles with the numpy backend) has loaded none of them."""
    code = ("import sys, graphc as gc\n"
            "g = gc.Graph(); x = g.input('x', (2,)); gc.compile(x * 2)([1.0, 2.0])\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {EXTRAS!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_the_check_finds_an_upward_import(tmp_path, monkeypatch):
    """The parser sees a lazy import inside a function (a test that cannot fail is a defect)."""
    f = tmp_path / "graphc" / "ir" / "x.py"
    f.parent.mkdir(parents=True)
    f.write_text("def f():\n    from graphc.backend.base import Backend\n    from . import y\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "graphc")
    assert _imports(f) == [(2, "graphc.backend.base"), (3, "graphc.ir")]
