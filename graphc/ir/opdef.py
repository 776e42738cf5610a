"""The op registry: one ``OpDef`` per op, holding everything about it in one place, and
``check_node``, the one validation of an op node (built, loaded, verified or rebuilt).

It lives in the IR (the ops register into it from the layer above) so that the graph can
check a node without importing the op families."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.ir.dims import Shape

if TYPE_CHECKING:
    from graphc.ir.node import Node
    from graphc.ir.tensor import Tensor

#: kinds, used for drawing (colour) and by passes
KINDS = ("source", "elementwise", "comparison", "reduction", "matmul", "shape", "index",
         "creation")

#: ``infer(inputs, attrs) -> (shape, dtype)``; raises ShapeError / TypeError with the reason
InferFn = Callable[[Sequence["Node"], dict], tuple[Shape, np.dtype]]
#: ``compute(args, attrs, shape) -> array``: the reference (one op at a time) semantics;
#: ``shape`` is the node's concrete output shape for the current binding of the symbols
ComputeFn = Callable[[list, dict, tuple], Any]
#: ``emit(args, attrs, ctx) -> str``: the numpy expression for this node (see backend.codegen)
EmitFn = Callable[[list, dict, Any], str]
#: ``vjp(g, out, inputs, attrs, needs) -> [grad or None per input]``, built from graphc ops.
#: A gradient may have the output's (broadcast) shape: the autodiff driver sums it back.
VjpFn = Callable[["Tensor", "Tensor", list, dict, list], list]
#: ``axis_source(node, operands, axis)``: where size-1 ``axis`` of ``node`` comes from, for the
#: broadcast lint: True when this op wrote it out (reshape, a new axis), else the operand axes
#: it was carried from, ``[(k, axis_k), ...]`` (empty: from nowhere the user wrote)
AxisSourceFn = Callable[["Node", Sequence["Node"], int], "bool | list[tuple[int, int]]"]


@dataclass(frozen=True)
class Kernel:
    """A faster numpy lowering of an op for some operands, chosen by the numpy backend's
    lowering step (the first whose ``when`` holds) before the op's own ``emit``.

    ``when(node, operands, program)`` looks at the node, its operand nodes and, through
    ``program`` (``graphc.backend.lower.LoweringContext``), at its neighbours.
    ``emit(args, attrs, ctx)`` is like ``OpDef.emit``; ``args`` are the codes of ``reads``.
    """

    name: str
    when: Callable[..., bool]
    emit: EmitFn
    #: accepts ``out=`` (so it may write into a buffer, or commit into a param in place)
    out: bool = True
    #: needs a buffer set of the memory plan (a ones vector made per binding): chosen only
    #: for a node that writes into a planned buffer
    needs_plan: bool = False
    #: ``reads(node, program) -> node ids`` the kernel reads instead of the node's operands;
    #: an operand it no longer reads and nothing else reads is not computed (fused away)
    reads: Callable[..., tuple[int, ...]] | None = None
    #: computes a 0-d result as a Python operator on numpy scalars (its 0-d static operands
    #: are held as numpy scalars)
    scalar: bool = False
    #: reads its operand flattened (a flat view of a buffer is made per binding)
    flat: bool = False


@dataclass(frozen=True)
class OpDef:
    """Everything about one op: shape/dtype rule, reference compute, numpy lowering, vjp."""

    name: str
    kind: str
    infer: InferFn
    compute: ComputeFn
    emit: EmitFn
    vjp: VjpFn | None = None
    #: number of operands (None: any number, as for concatenate); checked by Graph.apply
    arity: int | None = 1
    #: ``normalize(inputs, attrs) -> attrs``: validate attributes and put them in canonical
    #: form (sorted non-negative axes, ...) before ``infer``; must be idempotent
    normalize: Callable[[Sequence[Node], dict], dict] | None = None
    #: the lowering accepts ``out=`` (numpy ufuncs and friends): the memory plan may pass one
    out: bool = False
    #: the result may be a view of operand 0 (reshape, swapaxes, basic indexing, ...)
    view: bool = False
    #: ``returns_view(node, contiguous)``: numpy returns a view of operand 0 for this node
    #: (given whether that operand is a whole contiguous buffer), so the memory plan can make
    #: it once per binding; None: never assumed
    returns_view: Callable[[Node, bool], bool] | None = None
    #: the result holds operand 0's elements unchanged, only re-viewed (transpose, reshape)
    same_values: bool = False
    #: a numpy ufunc: elementwise over broadcast operands, with ``out=`` (rewrites on
    #: broadcast operands apply)
    ufunc: bool = False
    #: ``out=`` may be one of the operands (elementwise, same layout): it may run in place
    inplace: bool = False
    #: infix spelling (``+``) for messages
    infix: str | None = None
    #: the value depends only on the sizes bound to the symbols, not on operand values
    #: (``numel``): computed once per binding, never constant-folded
    binding_only: bool = False
    #: where a size-1 axis of the result comes from (the broadcast lint; see AxisSourceFn)
    axis_source: AxisSourceFn | None = None
    #: ``requires(node, operands) -> [Constraint]``: conditions on the symbols that the shape
    #: rule assumed (a slice's bounds within its axis, equal element counts of a reshape),
    #: checked when the symbols are bound at call time
    requires: Callable[[Node, Sequence[Node]], list] | None = None
    #: faster numpy lowerings for some operands, tried in order before ``emit``
    kernels: tuple[Kernel, ...] = ()
    doc: str = ""
    attrs: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op to the registry (names are unique)."""
    if op.kind not in KINDS:
        raise ValueError(f"op {op.name!r}: unknown kind {op.kind!r}")
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} is registered twice")
    _REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    """The OpDef called ``name``, or a ValueError naming the known ops."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown op {name!r}") from None


def all_ops() -> dict[str, OpDef]:
    """Every registered op, by name (sorted)."""
    return dict(sorted(_REGISTRY.items()))


def check_node(op: str, operands: Sequence[Node], attrs: dict[str, Any],
               canonical: bool = False) -> tuple[OpDef, dict[str, Any], Shape, np.dtype]:
    """Validate an op node: the op is known and not a source, the operand count and attribute
    names fit, the op's ``normalize`` and ``infer`` rules accept it. Returns the OpDef, the
    canonical attributes, the shape and the dtype.

    ``canonical=True`` (a stored or rewritten node): the attributes must already be in
    canonical form. Raises the rule's ShapeError, TypeError or ValueError with the reason;
    callers add the location (``Graph.apply``: op, operands and the user's file:line).
    """
    opdef = get_op(op)
    if opdef.kind == "source":
        raise TypeError(f"a {op} node is created by Graph.{op}(), not applied as an op")
    if opdef.arity is not None and len(operands) != opdef.arity:
        raise TypeError(f"{op} takes {opdef.arity} operand(s), got {len(operands)}")
    unknown = sorted(set(attrs) - set(opdef.attrs))
    if unknown:
        raise TypeError(f"{op} has no attribute(s) {unknown} (it takes {list(opdef.attrs)})")
    attrs = dict(attrs)
    try:
        if opdef.normalize is not None:
            normal = opdef.normalize(operands, dict(attrs))
            if canonical and not identical(normal, attrs):
                raise ValueError(f"attributes {attrs!r} are not in canonical form {normal!r}")
            attrs = normal
        shape, dtype = opdef.infer(operands, attrs)
    except KeyError as e:  # a rule read an attribute the node lacks
        raise TypeError(f"{op} needs attribute {e} (it takes {list(opdef.attrs)})") from None
    return opdef, attrs, Shape(shape), np.dtype(dtype)


def identical(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down: ``1`` and ``np.int64(1)`` or ``1.0`` are
    not identical (a stored attribute must be exactly the canonical one, which the generated
    code spells with ``repr``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(identical, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:  # NaN (a fill value) is identical to NaN
        return b != b
    return bool(a == b)
