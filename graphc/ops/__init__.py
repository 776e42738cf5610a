"""The op families. Importing this package registers every op.

Each family module lists its public builders in ``__all__``; they are re-exported here (and
from ``graphc``), each wrapped so that a failed build leaves its graph as it was. Adding an op
is one block in its family (builder, OpDef, ``__all__`` entry) plus its tests.
"""

from graphc.ir.opdef import OpDef, all_ops, get_op, register  # noqa: F401, I001
from graphc.ops import (  # noqa: F401
    convolution,
    creation,
    elementwise,
    indexing,
    linalg,
    random,
    reduction,
    shape,
    source,
)
from graphc.ops.convolution import *  # noqa: F403
from graphc.ops.creation import *  # noqa: F403
from graphc.ops.creation import graph_arange, graph_full  # noqa: F401  (Graph.full, .arange)
from graphc.ops.elementwise import *  # noqa: F403
from graphc.ops.indexing import *  # noqa: F403
from graphc.ops.linalg import *  # noqa: F403
from graphc.ops.reduction import *  # noqa: F403
from graphc.ops.shape import *  # noqa: F403
from graphc.ops._common import atomic as _atomic

_FAMILIES = (convolution, creation, elementwise, indexing, linalg, reduction, shape)
__all__ = convolution.__all__ + creation.__all__ + elementwise.__all__ + indexing.__all__
__all__ += linalg.__all__
__all__ += reduction.__all__ + shape.__all__

# Public builders are atomic: an op that fails to build leaves no stray constant behind.
for _family in _FAMILIES:
    for _name in _family.__all__:
        globals()[_name] = _atomic(getattr(_family, _name))
del _family, _name

# Tensor's operators (``+``, ``@``, ``.sum``) and Graph's creation methods (``g.zeros``) call
# these builders; the IR cannot import them
import sys as _sys  # noqa: E402

from graphc.ir.tensor import install_builders as _install  # noqa: E402

_install(_sys.modules[__name__])
