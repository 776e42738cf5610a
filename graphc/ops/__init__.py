"""The op families. Importing this package registers every op."""

from graphc.ir.opdef import OpDef, all_ops, get_op, register  # noqa: E402, I001
from graphc.ops import source  # noqa: F401  (registers input/param/constant)
from graphc.ops.elementwise import (
    abs,
    add,
    astype,
    divide,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    sigmoid,
    sign,
    sqrt,
    square,
    subtract,
    tanh,
    where,
)
from graphc.ops.indexing import getitem, take_along_axis
from graphc.ops.linalg import matmul
from graphc.ops.reduction import log_softmax, logsumexp, max, mean, numel, softmax, sum
from graphc.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    reshape,
    squeeze,
    swapaxes,
    transpose,
)

__all__ = [
    "OpDef", "abs", "add", "all_ops", "astype", "broadcast_to", "concatenate", "divide",
    "equal", "exp", "expand_dims", "get_op", "getitem", "greater", "greater_equal", "less",
    "less_equal", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean",
    "minimum", "multiply", "negative", "not_equal", "numel", "power", "register", "relu",
    "reshape", "sigmoid", "sign", "softmax", "sqrt", "square", "squeeze", "subtract", "sum",
    "swapaxes", "take_along_axis", "tanh", "transpose", "where",
]

# Public builders are atomic: an op that fails to build leaves no stray constant behind.
from graphc.ops._common import atomic as _atomic  # noqa: E402

for _name in __all__:
    _fn = globals()[_name]
    if callable(_fn) and _name not in ("OpDef", "all_ops", "get_op", "register"):
        globals()[_name] = _atomic(_fn)
del _name, _fn

# Tensor's operators (``+``, ``@``, ``.sum``) call these builders; the IR cannot import them
import sys as _sys  # noqa: E402

from graphc.ir.tensor import install_builders as _install  # noqa: E402

_install(_sys.modules[__name__])
