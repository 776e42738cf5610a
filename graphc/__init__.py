"""graphc: a static computation-graph compiler for numpy. This module only re-exports."""

from graphc import nn, optim  # layers, losses, fit; optimisers
from graphc import ops as _ops  # noqa: F401  (registers every op)
from graphc import passes as _passes  # noqa: F401  (registers the broadcast diagnostics)
from graphc.autodiff import GradCheckError, check_grad, grad
from graphc.backend.function import Function, compile
from graphc.errors import NonFiniteError, ShapeError, ShapeWarning
from graphc.io import load, save
from graphc.ir.dims import Shape
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.ops import (
    abs,
    add,
    astype,
    broadcast_to,
    concatenate,
    divide,
    equal,
    exp,
    expand_dims,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    reshape,
    sigmoid,
    sign,
    softmax,
    sqrt,
    square,
    squeeze,
    subtract,
    sum,
    swapaxes,
    take_along_axis,
    tanh,
    transpose,
    where,
)
from graphc.ops.evaluate import evaluate
from graphc.viz import render, to_dot, to_networkx

__version__ = "0.1.0"

__all__ = [
    "Function", "GradCheckError", "Graph", "NonFiniteError", "Shape", "ShapeError", "ShapeWarning",
    "Tensor", "abs", "add", "astype", "broadcast_to", "check_grad", "compile", "concatenate",
    "divide", "equal", "evaluate", "exp", "expand_dims", "grad", "greater", "greater_equal",
    "less", "less_equal", "load", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "minimum", "multiply", "negative", "nn", "not_equal", "optim", "power", "relu",
    "render", "reshape", "save", "sigmoid", "sign", "softmax", "sqrt", "square", "squeeze",
    "subtract", "sum", "swapaxes", "take_along_axis", "tanh", "to_dot", "to_networkx", "transpose",
    "where",
]
