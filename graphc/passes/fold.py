"""Constant folding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir.dims import has_dims
from graphc.ir.graph import Graph
from graphc.ir.opdef import get_op
from graphc.passes._rebuild import Mapping, Rebuilder

#: results larger than this many elements stay computed at run time (they would bloat the
#: graph, its JSON export and the generated function's namespace)
MAX_FOLD_ELEMENTS = 1 << 16
#: and one pass creates at most this many bytes of folded constants in all (a chain of 1,000
#: tanh over a broadcast 256x256 constant would otherwise fold into 0.5 GB); past it, the
#: rest is computed at run time
MAX_FOLD_BYTES = 16 << 20


def fold_constants(graph: Graph, roots: Sequence[int] | None = None) -> tuple[Graph, Mapping]:
    """An op whose operands are all constants becomes a constant holding its value.

    The value is computed by the op's own reference ``compute`` (the numpy call the compiled
    code would make), so NaN, inf, signed zeros and rounding are exactly what run time would
    give; floating-point warnings are silenced here (they would repeat at each call anyway).
    Only fully concrete shapes up to MAX_FOLD_ELEMENTS elements fold.
    """
    rb = Rebuilder(graph)
    budget = MAX_FOLD_BYTES
    for n in graph.nodes:
        # an op whose value depends on the binding of the symbols (numel) is never folded
        if n.role != "op" or get_op(n.op).binding_only:
            rb.copy(n)
            continue
        ins = [rb.node(rb.map[i]) for i in n.inputs]
        if ins and all(m.role == "constant" for m in ins) and n.shape.is_concrete \
                and not has_dims(n.attr) and int(np.prod(n.shape)) <= MAX_FOLD_ELEMENTS \
                and int(np.prod(n.shape)) * n.dtype.itemsize <= budget:
            try:
                with np.errstate(all="ignore"):
                    value = get_op(n.op).compute([m.value for m in ins], n.attr,
                                                 tuple(n.shape))
            except Exception:  # noqa: BLE001 - an index out of range, ...: left to run
                rb.copy(n)   # time, where the error names the op and the user's line
                continue
            value = np.asarray(value)
            if value.shape == tuple(n.shape) and value.dtype == n.dtype:
                rb.map[n.id] = rb.constant(value, like=n)
                budget -= value.nbytes
                continue
        rb.copy(n)
    return rb.finish()
