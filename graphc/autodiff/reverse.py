"""Reverse-mode autodiff as a graph pass: ``gc.grad`` adds gradient nodes to the same graph.

Each op's vjp (in its block in ``graphc/ops``) returns its operands' gradients built from
graphc ops, possibly in the broadcast shape of the op's output. This driver then calls
``sum_to`` -- the only place that unbroadcasts -- which inserts an explicit ``sum`` over the
broadcast axes and a ``reshape`` where the kept dims differ, each node recording its
provenance, so every gradient has exactly its operand's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, definitely_equal, is_symbolic, same_shape
from graphc.ir.node import Node, at_user, user_location
from graphc.ir.nxgraph import depends_on, needed
from graphc.ir.opdef import get_op
from graphc.ir.tensor import Tensor
from graphc.ops._common import is_float
from graphc.ops.elementwise import astype
from graphc.ops.reduction import sum as reduce_sum
from graphc.ops.shape import broadcast_to, reshape


def sum_to(g: Tensor, shape: Shape, *, forward: Node | None = None, operand: int = 0) -> Tensor:
    """``g`` summed over the axes that broadcasting added to reach it from ``shape``.

    Sums the leading axes ``g`` has beyond ``shape`` and the axes where ``shape`` has 1 and
    ``g`` does not, then reshapes when the kept dims differ (a kept 1). Inserts nothing when
    the shapes already match. Inserted nodes carry ``unbroadcast`` provenance: the forward
    node and operand, the axes, the symbols reduced (e.g. ``B``) and the forward line.
    """
    shape = Shape(shape)
    have = g.shape
    if same_shape(have, shape):
        return g
    lead = len(have) - len(shape)
    if lead < 0:
        raise ShapeError(f"gradient of shape {have} cannot be summed to the larger {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape)
        if definitely_equal(d, 1) and not definitely_equal(have[lead + i], 1)
    )
    prov: dict[str, Any] = {"unbroadcast": True, "axes": axes,
                            "reduces": tuple(sorted({str(d) for a in axes
                                                     if is_symbolic(d := have[a])}))}
    if forward is not None:
        prov.update(forward=forward.id, forward_op=forward.op, operand=operand,
                    forward_loc=forward.loc)
    out = g
    with g.graph.annotate(**prov):
        if axes:
            out = reduce_sum(out, axis=axes)
        if not same_shape(out.shape, shape):
            out = reshape(out, shape)
    return out


def grad(y: Tensor, xs: Sequence[Tensor], seed: Any = None) -> list[Tensor]:
    """Gradients of ``y`` with respect to each of ``xs``, as new nodes of the same graph.

    ``y`` must be a scalar unless ``seed`` (same shape as ``y``) is given: then the result
    is the vector-Jacobian product seed^T dy/dx. Each gradient has exactly its ``x``'s
    shape and dtype. An ``x`` that ``y`` does not depend on gets zeros of its shape.
    Comparisons, ``where``'s condition and integer tensors carry no gradient; asking for the
    gradient of an integer or bool tensor is a TypeError. Gradients are differentiable.
    Atomic: a call that raises adds no node.
    """
    loc = user_location()
    if not isinstance(y, Tensor):
        raise TypeError(at_user(f"grad: y must be a graphc Tensor, got {type(y).__name__}", loc))
    with y.graph.atomic():
        return _grad(y, xs, seed, loc)


def _grad(y: Tensor, xs: Sequence[Tensor], seed: Any, loc: str) -> list[Tensor]:
    """The driver: check the arguments, seed y's cotangent, pull it back node by node in
    reverse order, read off each x's gradient."""
    _check_args(y, xs, loc)
    g = y.graph
    first_new = len(g)
    seed_t = _seed(y, seed, loc)
    relevant = set(needed(g, [y.id])) & depends_on(g, [x.id for x in xs])
    cot: dict[int, Tensor] = {y.id: seed_t} if y.id in relevant else {}
    for i in sorted(relevant, reverse=True):
        if i in cot and g.node(i).role == "op":
            _pull_back(g, i, cot, relevant)
    grads = [cot[x.id] if x.id in cot else _zeros_like(y, x) for x in xs]
    _mark_gradients(y, xs, grads, first_new)
    return grads


def _mark_gradients(y: Tensor, xs: Sequence[Tensor], grads: list[Tensor], first_new: int) -> None:
    """Record on each returned gradient built by this call what it is the gradient of: meta
    ``grad_y`` (y's id) and ``grad_wrt`` (the ids of the xs; one node can serve two xs)."""
    wrt: dict[int, list[int]] = {}
    for x, gx in zip(xs, grads):
        if gx.id >= first_new:  # not a seed tensor the caller passed
            wrt.setdefault(gx.id, []).append(x.id)
    for i, ids in wrt.items():
        y.graph._merge_meta(i, grad_y=y.id, grad_wrt=tuple(dict.fromkeys(ids)))


def _check_args(y: Tensor, xs: Sequence[Tensor], loc: str) -> None:
    """xs is a list of float Tensors of y's graph; y is a float Tensor."""
    g = y.graph
    if isinstance(xs, Tensor) or not isinstance(xs, (list, tuple)):
        raise TypeError(at_user("grad: xs must be a list of Tensors (e.g. gc.grad(loss, [W, b]))",
                                loc))
    for k, x in enumerate(xs):
        try:
            g.own(x, f"grad: xs[{k}]")
        except (TypeError, ValueError) as e:
            raise type(e)(at_user(str(e), loc)) from None
        if not is_float(x):
            raise TypeError(at_user(f"grad: xs[{k}] ({x!r}) has dtype {x.dtype}; only float "
                                    "tensors have gradients", loc))
    if not is_float(y):
        raise TypeError(at_user(f"grad: y ({y!r}) has dtype {y.dtype}; only a float y has "
                                "gradients", loc))


def _seed(y: Tensor, seed: Any, loc: str) -> Tensor:
    """y's cotangent: 1 for a scalar y, else the given seed of y's shape."""
    g = y.graph
    built = f" (y built at {y.node.loc})"
    if seed is None:
        if y.ndim != 0:
            raise ShapeError(at_user(
                f"grad: y has shape {y.shape}, not a scalar; reduce it (gc.sum, gc.mean) or pass "
                f"seed= of shape {y.shape}", loc) + built)
        with g.annotate(grad_of=y.id, forward_loc=y.node.loc):
            return g.constant(np.ones((), dtype=y.dtype))
    try:
        seed_t = (g.own(seed, "grad: seed") if isinstance(seed, Tensor)
                  else g.constant(np.asarray(seed, dtype=y.dtype)))
    except (TypeError, ValueError) as e:
        why = str(e) if isinstance(seed, Tensor) else f"grad: seed: {e}"
        raise type(e)(at_user(why, loc) + built) from None
    if not same_shape(seed_t.shape, y.shape):
        raise ShapeError(at_user(f"grad: seed has shape {seed_t.shape}, y has {y.shape}; "
                                 "they must match", loc) + built)
    return seed_t


def _pull_back(g, i: int, cot: dict[int, Tensor], relevant: set[int]) -> None:
    """Add node ``i``'s vjp to the cotangents of its float operands on the path, each summed
    back to its operand's shape (``sum_to``) and cast to its dtype."""
    n = g.node(i)
    opdef = get_op(n.op)
    need = [j in relevant and is_float(g.node(j)) for j in n.inputs]
    if not any(need) or opdef.vjp is None:
        return  # no float operand on the path, or piecewise constant (zero gradient)
    operands = [Tensor(g, j) for j in n.inputs]
    try:
        with g.annotate(grad_of=n.id, forward_op=n.op, forward_loc=n.loc):
            grads = opdef.vjp(cot[i], Tensor(g, i), operands, n.attr, need)
            for k, (j, gj) in enumerate(zip(n.inputs, grads)):
                if not need[k] or gj is None:
                    continue
                operand = g.node(j)
                gj = sum_to(gj, operand.shape, forward=n, operand=k)
                if gj.dtype != operand.dtype:
                    gj = astype(gj, operand.dtype)
                cot[j] = gj if j not in cot else cot[j] + gj
    except (ShapeError, TypeError) as e:
        raise type(e)(f"grad: differentiating {n.op} {n.shape} built at {n.loc}: {e}") from None


def _zeros_like(y: Tensor, x: Tensor) -> Tensor:
    """The gradient of an x that y does not depend on: zeros of x's shape."""
    with y.graph.annotate(grad_of=y.id, forward_loc=y.node.loc, zero_gradient=True):
        return broadcast_to(y.graph.constant(np.zeros((), dtype=x.dtype)), x.shape)
