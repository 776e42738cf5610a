"""graphc: a static computation-graph compiler for numpy. This module only re-exports."""

from graphc import linalg, nn, onnx, optim, random  # noqa: F401  (gc.onnx imports onnx lazily)
from graphc import ops as _ops  # noqa: F401  (registers every op)
from graphc import passes as _passes  # noqa: F401  (registers the broadcast diagnostics)
from graphc._version import __version__  # noqa: F401  (graphc.__version__)
from graphc.autodiff import GradCheckError, check_grad, grad
from graphc.backend.function import Function, compile
from graphc.errors import NonFiniteError, ShapeError, ShapeWarning
from graphc.io import load, save
from graphc.ir.dims import Dim, Shape
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.ops import *  # noqa: F403  (every op builder: gc.add, gc.sum, ...)
from graphc.ops.evaluate import evaluate
from graphc.viz import render, to_dot, to_networkx

__all__ = [
    "Dim", "Function", "GradCheckError", "Graph", "NonFiniteError", "Shape", "ShapeError",
    "ShapeWarning", "Tensor", "check_grad", "compile", "evaluate", "grad", "linalg", "load", "nn",
    "optim", "random", "render", "save", "to_dot", "to_networkx",
]
__all__ += _ops.__all__
