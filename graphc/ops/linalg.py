"""matmul, with numpy's semantics: batched, batch axes broadcast, 1-D operands promoted."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, broadcast_shapes, definitely_equal
from graphc.ir.dtypes import probe_dtype
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import apply, call


def matmul(a: Any, b: Any) -> Tensor:
    """a @ b as np.matmul: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes broadcast."""
    return apply("matmul", [a, b])


def _matmul_infer(nodes, attrs):
    a, b = nodes
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul does not take 0-d operands (use multiply for a scalar)")
    sa = a.shape if a.ndim > 1 else Shape((1, *a.shape))  # (k,) -> (1, k)
    sb = b.shape if b.ndim > 1 else Shape((*b.shape, 1))  # (k,) -> (k, 1)
    if not definitely_equal(sa[-1], sb[-2]):
        raise ShapeError(
            f"the contracted dims differ: {a.shape} @ {b.shape} contracts {sa[-1]} with {sb[-2]}"
        )
    try:
        batch = broadcast_shapes(sa[:-2], sb[:-2])
    except ShapeError as e:
        raise ShapeError(f"the batch axes do not broadcast: {e}") from None
    out = list(batch)
    if a.ndim > 1:
        out.append(sa[-2])
    if b.ndim > 1:
        out.append(sb[-1])
    return Shape(out), probe_dtype(np.matmul, a.dtype, b.dtype)


def _matmul_vjp(g, out, x, at, need):
    """With 1-D operands promoted to matrices: dA = G @ B^T, dB = A^T @ G.

    The batch axes of dA and dB are the broadcast batch axes of the output; the driver sums
    them back to each operand's shape (e.g. W in (B, n, k) @ (k, m) gets a sum over B).
    """
    from graphc.ops.shape import expand_dims, squeeze, swapaxes

    a, b = x
    A = a if a.ndim > 1 else expand_dims(a, 0)
    Bm = b if b.ndim > 1 else expand_dims(b, -1)
    if a.ndim == 1 and b.ndim == 1:
        G = expand_dims(g, (0, 1))  # () -> (1, 1)
    elif a.ndim == 1:
        G = expand_dims(g, -2)  # (..., m) -> (..., 1, m)
    elif b.ndim == 1:
        G = expand_dims(g, -1)  # (..., n) -> (..., n, 1)
    else:
        G = g
    ga = gb = None
    if need[0]:
        ga = matmul(G, swapaxes(Bm, -1, -2))
        if a.ndim == 1:  # (..., 1, k): drop the promoted axis, the driver sums the rest
            ga = squeeze(ga, -2)
    if need[1]:
        gb = matmul(swapaxes(A, -1, -2), G)
        if b.ndim == 1:  # (..., k, 1)
            gb = squeeze(gb, -1)
    return [ga, gb]


#: two matrices of the result's dtype: ``np.dot`` (less call overhead than np.matmul)
_DOT = Kernel("dot", lambda n, ins, prog: all(m.ndim == 2 and m.dtype == n.dtype for m in ins),
              call("xp.dot", out=True))

register(OpDef(
    name="matmul", kind="matmul", infer=_matmul_infer,
    compute=lambda args, attrs, shape: np.matmul(*args),
    emit=call("xp.matmul", out=True), vjp=_matmul_vjp, out=True, doc=matmul.__doc__, arity=2,
    infix="@", kernels=(_DOT,),
))

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "matmul",
]
