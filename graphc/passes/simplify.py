"""Algebraic simplification: small named rewrite rules, each docstring the identity it applies.

NaN / inf semantics. A rule may only drop an operation whose result is, for every input,
the operand itself: ``x * 1``, ``x / 1``, ``x ** 1``, ``x - 0``, ``-(-x)`` are exact for
NaN, inf and signed zeros too. ``x + 0 -> x`` is exact except for the sign of a zero
(``-0.0 + 0.0`` is ``+0.0``); the values compare equal. Rules that would change a NaN or an
inf are never applied: no ``x * 0 -> 0`` (``inf * 0`` is NaN), no ``x - x -> 0``, no
``x / x -> 1``, no general reassociation of constants (``(x * a) * b`` is not
``x * (a * b)`` in floating point). The one exception, ``a * (b * x) -> (a * b) * x`` when
``a`` or ``b`` is a power of two (``mse``'s ``2 * d`` times ``mean``'s ``1 / n``): scaling by
``2**k`` is exact, so both sides round once, at the same place, and agree bit for bit, NaN
and inf included, unless an intermediate product leaves the normal range (overflows, or
becomes subnormal and loses bits). ``f(broadcast_to(x), c) -> broadcast_to(f(x, c))`` for a
0-d ``c`` computes the very same elements. ``sum(broadcast_to(x)) -> x * count`` rounds
once where the sum rounded count times (the values agree to rounding; for an empty axis
with an infinite x the sum is 0 and the product NaN). ``power(x, 2) -> square(x)`` is what
numpy itself does for an exponent of 2. ``mean -> sum / count`` is numpy's own definition
of mean for float dtypes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from graphc.ir.dims import broadcast_shapes, definitely_equal, same_shape
from graphc.ir.graph import Graph
from graphc.ir.node import Node
from graphc.ir.opdef import OpDef, get_op
from graphc.ops.reduction import reduced_shape
from graphc.passes._rebuild import Mapping, Rebuilder


@dataclass
class Pending:
    """A node about to be copied: its op, operands (ids in the new graph) and attributes.

    ``old`` is the node of the old graph (its shape and dtype are what a replacement must
    have, its loc and meta go to any node a rule builds).
    """

    op: str
    inputs: tuple[int, ...]
    attrs: dict[str, Any]
    old: Node


Rule = Callable[[Rebuilder, Pending], "int | None"]

#: every rule, in registration order; for a node the first that applies wins
RULES: list[Rule] = []
#: rule -> the op names it matches, or a predicate on the OpDef (``ufunc``)
_MATCHES: dict[Rule, Callable[[OpDef], bool]] = {}


def rewrite(*ops: str, where: Callable[[OpDef], bool] | None = None):
    """Register a rule for the ops it matches: by name (``@rewrite("multiply")``) or by a fact
    of the op (``@rewrite(where=lambda op: op.ufunc)``), as PyTensor's ``@node_rewriter``."""

    def matches(opdef: OpDef) -> bool:
        return opdef.name in ops or (where is not None and where(opdef))

    def register(rule: Rule) -> Rule:
        RULES.append(rule)
        _MATCHES[rule] = matches
        return rule

    return register


@cache
def _rules_for(op: str, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The rules that match ``op``, in order (rules not registered here match every op)."""
    opdef = get_op(op)
    return tuple(r for r in rules if _MATCHES.get(r, lambda o: True)(opdef))


def made_by(rb: Rebuilder, i: int, op: str) -> Node | None:
    """Node ``i`` (new id) when op ``op`` computed it, else None: a rule's pattern on an
    operand."""
    n = rb.node(i)
    return n if n.op == op else None


def uniform_value(rb: Rebuilder, i: int) -> Any:
    """The one value every element of node ``i`` has, if it is a constant (or a view of one)
    whose elements are all equal; else None."""
    n = rb.node(i)
    while n.role == "op" and get_op(n.op).same_values:
        n = rb.node(n.inputs[0])
    if n.role != "constant" or n.value.size == 0:
        return None
    flat = n.value.reshape(-1)
    first = flat[0]
    if not np.all(flat == first):
        return None
    return first


def _is(rb: Rebuilder, i: int, value: float) -> bool:
    v = uniform_value(rb, i)
    return v is not None and bool(v == value) and not isinstance(v, (np.bool_, bool))


def _keeps(rb: Rebuilder, p: Pending, i: int) -> bool:
    """True when node ``i`` has exactly the shape and dtype ``p`` must have (so it may stand
    in for ``p``)."""
    n = rb.node(i)
    return n.dtype == p.old.dtype and same_shape(n.shape, p.old.shape)


# ---------------------------------------------------------------------------- arithmetic


@rewrite("multiply")
def mul_one(rb: Rebuilder, p: Pending) -> int | None:
    """multiply(x, 1) -> x ; multiply(1, x) -> x  (1 may be gc.grad's broadcast unit seed)"""
    a, b = p.inputs
    for x, one in ((a, b), (b, a)):
        if _is(rb, one, 1) and _keeps(rb, p, x):
            return x
    return None


@rewrite("divide")
def div_one(rb: Rebuilder, p: Pending) -> int | None:
    """divide(x, 1) -> x"""
    if _is(rb, p.inputs[1], 1) and _keeps(rb, p, p.inputs[0]):
        return p.inputs[0]
    return None


@rewrite("add")
def add_zero(rb: Rebuilder, p: Pending) -> int | None:
    """add(x, 0) -> x ; add(0, x) -> x  (only the sign of a zero result can differ)"""
    a, b = p.inputs
    for x, zero in ((a, b), (b, a)):
        if _is(rb, zero, 0) and _keeps(rb, p, x):
            return x
    return None


@rewrite("subtract")
def sub_zero(rb: Rebuilder, p: Pending) -> int | None:
    """subtract(x, 0) -> x"""
    if _is(rb, p.inputs[1], 0) and _keeps(rb, p, p.inputs[0]):
        return p.inputs[0]
    return None


@rewrite("negative")
def neg_neg(rb: Rebuilder, p: Pending) -> int | None:
    """negative(negative(x)) -> x"""
    inner = made_by(rb, p.inputs[0], "negative")
    if inner is not None and _keeps(rb, p, inner.inputs[0]):
        return inner.inputs[0]
    return None


@rewrite("power")
def pow_one(rb: Rebuilder, p: Pending) -> int | None:
    """power(x, 1) -> x"""
    if _is(rb, p.inputs[1], 1) and _keeps(rb, p, p.inputs[0]):
        return p.inputs[0]
    return None


@rewrite("power")
def pow_two(rb: Rebuilder, p: Pending) -> int | None:
    """power(x, 2) -> square(x)"""
    if _is(rb, p.inputs[1], 2):
        x = p.inputs[0]
        if _keeps(rb, p, x):
            return rb.add("square", (x,), {}, like=p.old)
    return None


@rewrite(where=lambda op: op.ufunc)
def drop_broadcast_operand(rb: Rebuilder, p: Pending) -> int | None:
    """f(broadcast_to(x, s), y) -> f(x, y)  when f broadcasts and the result is still s"""
    ins = list(p.inputs)
    changed = False
    for k, i in enumerate(ins):
        n = made_by(rb, i, "broadcast_to")
        if n is not None:
            trial = ins[:k] + [n.inputs[0]] + ins[k + 1:]
            try:
                shape = broadcast_shapes(*[rb.node(j).shape for j in trial])
            except Exception:  # noqa: BLE001 - cannot prove it broadcasts: keep the operand
                continue
            if same_shape(shape, p.old.shape):
                ins, changed = trial, True
    if changed:
        return rb.add(p.op, tuple(ins), p.attrs, like=p.old)
    return None


@rewrite(where=lambda op: op.ufunc)
def broadcast_out(rb: Rebuilder, p: Pending) -> int | None:
    """f(broadcast_to(x, s), c) -> broadcast_to(f(x, c), s)  when c is 0-d (the same elements,
    computed once per element of x; the broadcast then often drops out of f's consumer)"""
    if len(p.inputs) != 2:
        return None
    for k in (0, 1):
        bc, c = made_by(rb, p.inputs[k], "broadcast_to"), rb.node(p.inputs[1 - k])
        if bc is None or c.ndim != 0:
            continue
        ins = [bc.inputs[0], c.id] if k == 0 else [c.id, bc.inputs[0]]
        inner = rb.add(p.op, tuple(ins), p.attrs, like=p.old)
        if rb.node(inner).dtype != p.old.dtype:
            return None
        return rb.add("broadcast_to", (inner,), {"shape": tuple(p.old.shape)}, like=p.old)
    return None


def _is_static(rb: Rebuilder, i: int) -> bool:
    """True when node ``i`` depends only on constants and symbol sizes (``numel``): the memory
    plan computes it once per binding. Memoised per pass (the new graph only grows) and
    iterative, so a deep graph costs linear time and no recursion."""
    memo: dict[int, bool] = rb.memo.setdefault("static", {})
    stack = [i]
    while stack:
        j = stack[-1]
        n = rb.node(j)
        todo = [k for k in n.inputs if k not in memo]
        if j in memo:
            stack.pop()
            continue
        if n.role == "constant" or (n.role == "op" and get_op(n.op).binding_only):
            memo[j] = True
        elif n.role != "op" or not n.inputs:
            memo[j] = False
        elif todo:
            stack.extend(todo)
            continue
        else:
            memo[j] = all(memo[k] for k in n.inputs)
        stack.pop()
    return memo[i]


def _power_of_two(rb: Rebuilder, i: int) -> bool:
    v = uniform_value(rb, i)
    if v is None or isinstance(v, (np.bool_, bool)) or not np.isfinite(v) or v == 0:
        return False
    return abs(float(np.frexp(v)[0])) == 0.5


@rewrite("multiply")
def scale_by_power_of_two(rb: Rebuilder, p: Pending) -> int | None:
    """multiply(a, multiply(b, x)) -> multiply(multiply(a, b), x)  when a and b are static
    (constants, counts) and one of them is a power of two (exact: see the module docstring);
    the product a * b is then computed once per binding instead of one multiply per call"""
    if p.old.dtype.kind != "f":
        return None
    for k in (0, 1):
        a, inner = p.inputs[k], made_by(rb, p.inputs[1 - k], "multiply")
        if inner is None or not _is_static(rb, a):
            continue
        for j in (0, 1):
            b, x = inner.inputs[j], inner.inputs[1 - j]
            if _is_static(rb, x) or not _is_static(rb, b):
                continue
            if not (_power_of_two(rb, a) or _power_of_two(rb, b)):
                continue
            if any(rb.node(m).dtype != p.old.dtype for m in (a, b, x)):
                continue
            try:
                shape = broadcast_shapes(rb.node(a).shape, rb.node(b).shape, rb.node(x).shape)
            except Exception:  # noqa: BLE001 - cannot prove it broadcasts: leave it
                continue
            if not same_shape(shape, p.old.shape):
                continue
            ab = rb.add("multiply", (a, b), {}, like=p.old)
            return rb.add("multiply", (ab, x), {}, like=p.old)
    return None


# ------------------------------------------------------------------------------- views


@rewrite("reshape")
def reshape_reshape(rb: Rebuilder, p: Pending) -> int | None:
    """reshape(reshape(x, s1), s2) -> reshape(x, s2) ; reshape(x, shape(x)) -> x"""
    x = p.inputs[0]
    inner = made_by(rb, x, "reshape")
    if inner is not None:
        x = inner.inputs[0]
    if _keeps(rb, p, x):
        return x
    if x != p.inputs[0]:
        return rb.add("reshape", (x,), {"shape": tuple(p.old.shape)}, like=p.old)
    return None


@rewrite("broadcast_to")
def broadcast_noop(rb: Rebuilder, p: Pending) -> int | None:
    """broadcast_to(x, shape(x)) -> x"""
    if _keeps(rb, p, p.inputs[0]):
        return p.inputs[0]
    return None


@rewrite("swapaxes")
def swapaxes_swapaxes(rb: Rebuilder, p: Pending) -> int | None:
    """swapaxes(swapaxes(x, a, b), a, b) -> x  (and with b, a)"""
    inner = made_by(rb, p.inputs[0], "swapaxes")
    if inner is not None:
        ia = inner.attr
        if {ia["axis1"], ia["axis2"]} == {p.attrs["axis1"], p.attrs["axis2"]} \
                and _keeps(rb, p, inner.inputs[0]):
            return inner.inputs[0]
    a1, a2 = p.attrs["axis1"], p.attrs["axis2"]
    if a1 == a2 and _keeps(rb, p, p.inputs[0]):
        return p.inputs[0]
    return None


@rewrite("transpose")
def transpose_transpose(rb: Rebuilder, p: Pending) -> int | None:
    """transpose(transpose(x, p), q) -> transpose(x, [p[i] for i in q]) ; transpose(x, id) -> x"""
    x, perm = p.inputs[0], tuple(p.attrs["axes"])
    inner = made_by(rb, x, "transpose")
    if inner is not None:
        outer_perm = perm
        perm = tuple(inner.attr["axes"][q] for q in outer_perm)
        x = inner.inputs[0]
    if perm == tuple(range(len(perm))) and _keeps(rb, p, x):
        return x
    if x != p.inputs[0]:
        return rb.add("transpose", (x,), {"axes": perm}, like=p.old)
    return None


# -------------------------------------------------------------------------- reductions


@rewrite("sum")
def sum_of_broadcast(rb: Rebuilder, p: Pending) -> int | None:
    """sum(broadcast_to(x, s), axes) -> x * numel(s over axes)  when x is 1 on every summed axis"""
    bc = made_by(rb, p.inputs[0], "broadcast_to")
    if p.old.dtype.kind != "f" or bc is None:
        return None
    x = rb.node(bc.inputs[0])
    if x.dtype != p.old.dtype:
        return None
    axes, keep = tuple(p.attrs["axis"]), p.attrs["keepdims"]
    lead = bc.ndim - x.ndim
    own = [a - lead for a in axes if a >= lead]
    if not axes or not all(definitely_equal(x.shape[a], 1) for a in own):
        return None
    u = x.id
    if own and not keep:
        u = rb.add("squeeze", (u,), {"axis": tuple(own)}, like=p.old)
    count = rb.add("numel", (bc.id,), {"axis": axes, "dtype": p.old.dtype.name}, like=p.old)
    out = rb.add("multiply", (u, count), {}, like=p.old)
    target = reduced_shape(bc.shape, axes, keep)
    if not same_shape(rb.node(out).shape, target):
        out = rb.add("broadcast_to", (out,), {"shape": tuple(target)}, like=p.old)
    return out


@rewrite("mean")
def mean_to_sum(rb: Rebuilder, p: Pending) -> int | None:
    """mean(x, axes) -> sum(x, axes) / numel(x, axes)  (float32/float64: numpy's own mean)"""
    x = rb.node(p.inputs[0])
    if x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)) or x.dtype != p.old.dtype:
        return None
    s = rb.add("sum", (x.id,), p.attrs, like=p.old)
    n = rb.add("numel", (x.id,), {"axis": tuple(p.attrs["axis"]), "dtype": x.dtype.name},
               like=p.old)
    return rb.add("divide", (s, n), {}, like=p.old)


def simplify(graph: Graph, roots: Sequence[int] | None = None,
             rules: Sequence[Rule] | None = None) -> tuple[Graph, Mapping]:
    """Apply the rules (default: every registered one) once to every node, in order (a node's
    operands are simplified before it is), each node trying only the rules registered for its
    op; each result keeps the replaced node's shape and dtype. Iterate to a fixed point with
    ``graphc.passes.optimize``. Replaced nodes are left for dce to remove."""
    rules = tuple(RULES if rules is None else rules)
    rb = Rebuilder(graph)
    for n in graph.nodes:
        if n.role != "op":
            rb.copy(n)
            continue
        p = Pending(n.op, tuple(rb.map[i] for i in n.inputs), n.attr, n)
        for rule in _rules_for(n.op, rules):
            new = rule(rb, p)
            if new is not None:
                m = rb.node(new)
                if m.dtype != n.dtype or not same_shape(m.shape, n.shape):
                    raise AssertionError(f"graphc bug: rule {rule.__name__} changed {n.op} "
                                         f"%{n.id} {n.shape} {n.dtype} to {m.shape} {m.dtype}")
                rb.map[n.id] = new
                break
        else:
            rb.copy(n, p.inputs)
    return rb.finish()
