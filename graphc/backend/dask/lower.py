"""Lowering for the Dask backend: how each node of the program runs.

The batch symbol (``B``: the first input's leading symbolic axis, or the one the backend is
given) is the axis the inputs are chunked along. A node's *batch axis* is the axis of its
shape that is exactly ``B`` (a node whose shape mentions ``B`` anywhere else, as in ``2*B`` or
``(B, B)``, is *mixed*). Every node gets one step:

* ``local``: no operand depends on a chunked input (params, the optimiser's own arithmetic on
  them, values that depend only on the symbols' sizes, random draws): computed with numpy in
  the caller's process when the function is called;
* ``blockwise``: the op maps rows to rows (elementwise work, a reduction or a matmul that does
  not run along ``B``, a convolution over the batch, a transpose that moves ``B``): one task
  per chunk, each computing the op on its chunk with ``B`` bound to the chunk's length (a node
  whose operands and result lack ``B``, such as the gradients' arithmetic after their sums,
  is one task on whole arrays);
* ``partial``: the op sums (or takes the max, min, product, any, all) over ``B``: one task
  per chunk computes the op on its rows, and a dask tree reduction combines the per-chunk
  results (the sums over ``B`` of the gradients, ``x.T @ g``, a convolution's weight
  gradient, an embedding's scatter-add);
* ``gather``: anything else that mixes rows (a cumulative sum along ``B``, a sort of the
  batch, ``x[::-1]``, a reshape that folds ``B`` into another axis): the operands' chunks
  are joined and the op runs once on whole arrays. Correct for every op, but that node is
  not distributed; its line in the generated source says so.

The rules below are the Dask lowering of the op families; an op no rule names is gathered.
How the steps then run: ``fused.py`` groups them into regions, one task per chunk per region
(the default); with ``DaskBackend(fuse=False)`` each node is its own dask operation
(``runtime.NodeRunner``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphc.ir.dims import definitely_equal, is_symbolic, symbol_of
from graphc.ir.node import Node
from graphc.ir.opdef import get_op
from graphc.ir.program import Program

#: a node whose shape mentions the batch symbol other than as one whole axis
MIXED = -1


@dataclass(frozen=True)
class Step:
    """How one node runs (see the module docstring). ``combine``: for a partial step, how
    the per-chunk results combine (``sum``, ``max``, ``min``, ``prod``, ``any``, ``all``;
    ``mean`` sums per-chunk means weighted by their rows). ``template``: a blockwise step
    whose operands lack ``B`` but whose result has it (``broadcast_to``) takes its chunks
    from the call's row template."""

    kind: str
    combine: str | None = None
    template: bool = False
    why: str = ""


LOCAL = Step("local")


@dataclass
class DaskPlan:
    """The lowering of one program: the batch symbol, each node's batch axis (None: the
    shape lacks ``B``; ``MIXED``), the nodes that dask computes, and each op node's step."""

    batch: str | None
    axes: dict[int, int | None]
    dask: set[int]
    steps: dict[int, Step] = field(default_factory=dict)
    #: the nodes without B, after the sums over B, that feed no node with B (the
    #: optimiser's arithmetic on the gradients): computed with numpy in the caller's process
    #: from the reduced values, after the dask computation
    after: set[int] = field(default_factory=set)
    #: the regions of the fused lowering (``fused.py``; None: one dask step per node)
    fused: Any = None
    #: True: each call counts the tasks of its dask graph, after dask's optimisation, into
    #: ``last_tasks`` (a statistic, for tests and benchmarks: counting costs a few ms for
    #: the fused lowering, ~50 ms for a per-node training step)
    count_tasks: bool = False
    last_tasks: int | None = None

    def count(self) -> dict[str, int]:
        """How many op nodes take each kind of step."""
        out: dict[str, int] = {}
        for s in self.steps.values():
            out[s.kind] = out.get(s.kind, 0) + 1
        return out

    def gathered(self) -> list[int]:
        """The nodes that run on whole arrays because no rule distributes them."""
        return [i for i, s in self.steps.items() if s.kind == "gather"]


def batch_symbol(nodes: Sequence[Node], given: str | None = None) -> str | None:
    """The symbol the inputs are chunked along: ``given``, else the first input's leading
    axis that is a whole symbol, else any input's first such axis (None: no input has one,
    and everything runs locally)."""
    if given is not None:
        return given
    for n in nodes:
        if n.ndim and symbol_of(n.shape[0]) is not None:
            return symbol_of(n.shape[0])
    for n in nodes:
        for d in n.shape:
            if symbol_of(d) is not None:
                return symbol_of(d)
    return None


def batch_axis(shape: Sequence[Any], sym: str | None) -> int | None:
    """The axis of ``shape`` that is exactly ``sym``; None when no dim mentions it; ``MIXED``
    when one mentions it otherwise (``2*B``, ``B - 1``, two axes ``B``)."""
    if sym is None:
        return None
    found = [k for k, d in enumerate(shape) if is_symbolic(d) and sym in d.symbols]
    if not found:
        return None
    if len(found) == 1 and symbol_of(shape[found[0]]) == sym:
        return found[0]
    return MIXED


def plan(prog: Program, batch: str | None = None, lazy: bool = False) -> DaskPlan:
    """The step of every node of ``prog`` (see the module docstring; ``lazy``: the outputs
    stay dask arrays, so nothing is computed after the dask computation)."""
    g = prog.graph
    inputs = [g.node(i) for i in prog.inputs]
    sym = batch_symbol(inputs, batch)
    axes = {i: batch_axis(g.node(i).shape, sym) for i in [*prog.inputs, *prog.schedule]}
    dask = {i for i in prog.inputs if axes[i] is not None}
    p = DaskPlan(sym, axes, dask)
    for i in prog.schedule:
        n = g.node(i)
        if n.role != "op":
            continue
        if get_op(n.op).binding_only or not any(j in dask for j in n.inputs):
            p.steps[i] = LOCAL
            continue
        dask.add(i)
        p.steps[i] = _step(n, [g.node(j) for j in n.inputs], axes, sym)
    if not lazy:
        p.after = _after(prog, p)
    return p


def _after(prog: Program, p: DaskPlan) -> set[int]:
    """The dask nodes whose operands and result lack B and whose consumers are all such
    nodes too (in reverse order: a node qualifies once its consumers have)."""
    g = prog.graph
    users: dict[int, list[int]] = {}
    for i in prog.schedule:
        for j in g.node(i).inputs:
            users.setdefault(j, []).append(i)
    after: set[int] = set()
    for i in reversed(prog.schedule):
        step = p.steps.get(i)
        if step is None or step.kind != "blockwise" or step.template or p.axes[i] is not None:
            continue
        if any(p.axes[j] is not None for j in g.node(i).inputs):
            continue
        if all(u in after for u in users.get(i, [])):
            after.add(i)
    return after


# ----------------------------------------------------------------------------- the rules
Rule = Callable[[Node, list[Node], list[Any], Any], Step | None]

BLOCKWISE = Step("blockwise")


def _step(n: Node, ins: list[Node], axes: dict[int, int | None], sym: str) -> Step:
    out = axes[n.id]
    a = [axes[m.id] for m in ins]
    if out == MIXED or MIXED in a:
        return Step("gather", why="B is not one whole axis")
    if out is None and all(x is None for x in a):
        return BLOCKWISE  # whole arrays, one task (the gradients' arithmetic after their sums)
    if out is not None and all(x is None for x in a):
        if n.op == "broadcast_to":
            return Step("blockwise", template=True)
        return Step("gather", why="B comes from no operand")
    if _attrs_use(n, out, sym):
        return Step("gather", why="an attribute depends on B")
    rule = RULES.get(n.op)
    if rule is None and get_op(n.op).kind in ("elementwise", "comparison") and \
            not n.op.startswith("random"):
        rule = _elementwise
    step = rule(n, ins, a, out) if rule is not None else None
    return step or Step("gather", why=f"{n.op} mixes rows here")


def _attrs_use(n: Node, out: Any, sym: str) -> bool:
    """An attribute mentions B other than as the result's batch axis in its ``shape`` (a
    chunk binds B to its rows: ``roll(x, B)`` would roll each chunk by its own length)."""
    def uses(v: Any) -> bool:
        if is_symbolic(v):
            return sym in v.symbols
        if isinstance(v, (tuple, list)):
            return any(map(uses, v))
        if isinstance(v, dict):
            return any(map(uses, v.values()))
        return False

    for k, v in n.attrs:
        if k == "shape" and out is not None:
            v = tuple(d for j, d in enumerate(v) if j != out)
        if uses(v):
            return True
    return False


def _elementwise(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Broadcasting: every operand's batch axis, right-aligned, is the result's."""
    if out is None:
        return None
    ok = all(x is None or x + n.ndim - m.ndim == out for m, x in zip(ins, a))
    return BLOCKWISE if ok else None


def _axes_attr(n: Node, ndim: int, name: str = "axis") -> set[int] | None:
    """The axes attribute as a set of non-negative axes (None: all, flattened)."""
    v = n.attr.get(name)
    if v is None:
        return None
    v = v if isinstance(v, (tuple, list)) else (v,)
    return {int(x) % max(ndim, 1) for x in v}


def _not_along(name: str = "axis", operand_axes: bool = True) -> Rule:
    """Row to row when no batched operand runs along ``B`` (``axis`` of operand 0's, or of
    the result's, dims)."""
    def rule(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
        if out is None:
            return None
        ndim = ins[0].ndim if operand_axes else n.ndim
        along = _axes_attr(n, ndim, name)
        if along is None:
            return None
        if operand_axes:
            return BLOCKWISE if all(x is None or x not in along for x in a) else None
        return BLOCKWISE if out not in along else None
    return rule


_COMBINE = {"sum": "sum", "mean": "mean", "max": "max", "min": "min", "prod": "prod",
            "any": "any", "all": "all"}


def _reduction(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Along other axes: row to row; along ``B``: per-chunk results and a tree reduction
    for the reductions that combine (the others are gathered)."""
    along = _axes_attr(n, ins[0].ndim)
    if along is None:
        along = set(range(ins[0].ndim))
    if a[0] not in along:
        return BLOCKWISE if out is not None else None
    if out is None and n.op in _COMBINE:
        return Step("partial", combine=_COMBINE[n.op], why=f"{n.op} over B")
    return None


def _always(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Ops that move, insert or drop axes without mixing rows (the shapes say where B is)."""
    return BLOCKWISE if out is not None else None


def _reshape(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Row-major reshape keeps rows when B stays at its axis with the same dims before it."""
    x = ins[0]
    if out is None or a[0] != out:
        return None
    return BLOCKWISE if all(definitely_equal(p, q) for p, q in
                            zip(x.shape[:out], n.shape[:out])) else None


def _contracted(m: Node, k: int, n: Node) -> set[int]:
    """The axes of operand ``k`` that matmul/dot/inner contract."""
    if n.op == "inner" or k == 0:
        return {m.ndim - 1} if m.ndim else set()
    return {m.ndim - 2} if m.ndim >= 2 else {0}


def _contraction(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """matmul, dot, inner: rows (or columns) that are not contracted map to the result's;
    a contraction over B is a sum of per-chunk products."""
    along = [x is not None and x in _contracted(m, k, n) for k, (m, x) in enumerate(zip(ins, a))]
    batched = [x is not None for x in a]
    if not any(along):
        return BLOCKWISE if out is not None else None
    if out is None and along == batched:
        return Step("partial", combine="sum", why=f"{n.op} contracting B")
    return None


def _tensordot(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    ax = n.attr["axes"]
    along = [x is not None and x in {int(v) % m.ndim for v in ax[k]}
             for k, (m, x) in enumerate(zip(ins, a))]
    batched = [x is not None for x in a]
    if not any(along):
        return BLOCKWISE if out is not None else None
    if out is None and along == batched:
        return Step("partial", combine="sum", why="tensordot contracting B")
    return None


def _einsum(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """The letter at B in every batched operand is one letter: kept in the result, row to
    row; summed away, a sum of per-chunk einsums."""
    spec = n.attr["subscripts"]
    if "..." in spec or "->" not in spec:
        return None
    lhs, rhs = spec.split("->")
    terms = lhs.split(",")
    letters = {terms[k][x] for k, x in enumerate(a) if x is not None}
    if len(letters) != 1:
        return None
    (letter,) = letters
    if any(letter in t and a[k] is None for k, t in enumerate(terms)):
        return None  # a B-less operand indexed by the batch letter (shapes forbid it)
    if letter in rhs:
        return BLOCKWISE if out is not None else None
    return Step("partial", combine="sum", why="einsum summing B") if out is None else None


def _batch_first(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Convolution and pooling: B is the batch axis 0 of every batched operand and of the
    result."""
    return BLOCKWISE if out == 0 and all(x in (None, 0) for x in a) else None


def _weight_grad(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """A convolution's weight gradient sums over the batch axis 0 of both operands."""
    if out is None and all(x == 0 for x in a):
        return Step("partial", combine="sum", why="conv weight gradient over B")
    return None


def _take(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """Rows of indices pick rows of the result (an embedding); rows of ``x`` picked along
    another axis stay rows."""
    if out is None or n.attr.get("axis") is None:
        return None
    if a[0] is None:
        return BLOCKWISE
    axis = int(n.attr["axis"]) % ins[0].ndim
    return BLOCKWISE if a[1] is None and a[0] != axis else None


def _take_grad(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    """The scatter-add of ``take``'s gradient: summed over B when the result lacks it."""
    if out is None:
        return Step("partial", combine="sum", why="scatter-add over B") if all(
            x is not None for x in a) else None
    return BLOCKWISE if a[1] is None and out != int(n.attr["axis"]) % n.ndim else None


def _index_axis(index: tuple, axis: int) -> tuple | None:
    """The entry of a normalised basic index that applies to ``axis`` (None: none does)."""
    k = 0
    for entry in index:
        if entry[0] == "new":
            continue
        if k == axis:
            return entry
        k += 1
    return None


def _whole(entry: tuple | None) -> bool:
    return entry is None or (entry[0] == "slice" and entry[1:] == (None, None, None))


def _getitem(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    return BLOCKWISE if out is not None and _whole(_index_axis(n.attr["index"], a[0])) else None


def _getitem_grad(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    return BLOCKWISE if out is not None and _whole(_index_axis(n.attr["index"], out)) else None


def _diagonal(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    ndim = n.ndim if n.op == "diagonal_grad" else ins[0].ndim
    where = out if n.op == "diagonal_grad" else a[0]
    pair = {int(n.attr["axis1"]) % ndim, int(n.attr["axis2"]) % ndim}
    return BLOCKWISE if out is not None and where not in pair else None


def _triangle(n: Node, ins: list[Node], a: list[Any], out: Any) -> Step | None:
    return BLOCKWISE if out is not None and a[0] < n.ndim - 2 else None


RULES: dict[str, Rule] = {
    **{op: _reduction for op in ("sum", "mean", "max", "min", "prod", "any", "all", "var",
                                 "std", "logsumexp", "argmax", "argmin", "norm")},
    **{op: _not_along() for op in ("cumsum", "cumprod", "softmax", "log_softmax", "sort",
                                   "argsort", "topk", "flip", "roll", "split", "concatenate",
                                   "take_along_axis", "put_along_axis", "add_at")},
    "take_along_axis_grad": _not_along(operand_axes=False),
    **{op: _always for op in ("transpose", "swapaxes", "expand_dims", "squeeze",
                              "broadcast_to", "stack", "pad", "tile", "repeat", "one_hot",
                              "outer")},
    "reshape": _reshape,
    **{op: _contraction for op in ("matmul", "dot", "inner")},
    "tensordot": _tensordot,
    "einsum": _einsum,
    **{op: _batch_first for op in ("conv", "conv_transpose", "max_pool", "avg_pool",
                                   "max_pool_indices", "max_pool_grad", "avg_pool_grad")},
    "conv_weight_grad": _weight_grad,
    "take": _take,
    "take_grad": _take_grad,
    "getitem": _getitem,
    "getitem_grad": _getitem_grad,
    "diagonal": _diagonal,
    "diagonal_grad": _diagonal,
    "trace": _diagonal,
    "tril": _triangle,
    "triu": _triangle,
}
