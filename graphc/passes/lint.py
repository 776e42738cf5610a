"""Broadcast diagnostics: warn, as each node is built, about broadcasts that are legal but
almost surely bugs.

numpy accepts both of the classic batch bugs without a word:

- **symbol duplication**: a symbol appears in more axes of the result than in any operand,
  e.g. ``(B, 1) - (B,) -> (B, B)`` (a prediction column minus a flat target: the loss then
  averages B*B terms), ``(B,) op (B, 1)``, ``(1, B) op (B, 1)``;
- **the bias bug**: a size-1 axis of one operand is stretched to n by a *lower-rank*
  operand whose n matches another axis of the stretched operand, e.g.
  ``(B, n, 1) + (n,) -> (B, n, n)`` where a bias of shape ``(n, 1)`` was meant.

:func:`check_broadcast` is registered in ``graphc.ir.graph.BUILD_CHECKS`` when graphc is
imported, so it runs for every op node before it is appended. It warns with
``gc.ShapeWarning`` attributed to the user's ``file:line`` (the node's ``loc``); in a
``Graph(strict=True)`` it raises ``gc.ShapeError`` with the same message (plus the line).
Nodes that ``gc.grad`` builds are never checked: their broadcasts mirror the forward graph.

Which ops are checked
---------------------
- elementwise ops with two or more operands (``add subtract multiply divide power maximum
  minimum``), the comparisons, and ``where`` (its condition included): the whole shapes;
- ``matmul``: only its batch axes (all but the last two; a 1-D operand has none), because the
  matrix axes are contracted or kept, never broadcast -- ``x @ x.mT`` giving ``(B, B)`` from
  ``(B, n)`` is a Gram matrix, not a bug;
- nothing else broadcasts implicitly (``broadcast_to`` is the explicit form itself).

Saying "this broadcast is intended"
-----------------------------------
A suspicious broadcast stays silent when every operand axis it stretches is a size-1 axis
*written out* in the program: made by ``gc.expand_dims`` (or indexing with ``None``:
``t[:, None]``), ``gc.reshape`` to a shape with that 1, ``gc.broadcast_to``, slicing to
length 1, or a reduction with ``keepdims=True``; elementwise ops, ``swapaxes``/``transpose``,
``squeeze`` and the axis-wise normalisations carry that mark through. An axis an operand
lacks altogether (numpy's implicit leading 1s) is never explicit. So an intended outer
difference is written with both sides expanded::

    d = gc.expand_dims(x, 2) - gc.expand_dims(x, 1)     # (B, n, 1) - (B, 1, n): silent
    d = x[:, None] - x[None, :]                         # (B, 1) - (1, B): silent

and an intended ``(B, n, 1) + (n,)`` is written ``h + gc.expand_dims(b, (0, 1))`` (the bias
given its full rank, so no lower-rank operand is stretched implicitly).

Limits
------
Symbol duplication only looks at symbols: ``(16, 1) - (16,)`` with a fixed batch of 16 is
caught by the bias rule instead (a lower-rank ``(16,)`` stretching a 1 next to a 16), and
both rules compare concrete sizes by value, so two unrelated axes that happen to have the
same size (a ``(3, 1, 1)`` channel scale times a ``(3, 3)`` image) can warn; writing the
broadcast out silences them. Same-rank operands with declared 1s (``(n, 1) * (1, n)``) are
an outer product by construction and never trip the bias rule.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from graphc.errors import ShapeError, ShapeWarning
from graphc.ir.dims import Dim, Shape, broadcast_shapes, definitely_equal, is_symbolic
from graphc.ir.node import Node, at_user
from graphc.ir.opdef import get_op

#: how far the "written out" mark is followed back through the graph
_MAX_DEPTH = 64

#: ``warnings`` registry for the warnings issued here (default filter: once per line)
_WARN_REGISTRY: dict[Any, Any] = {}


# ------------------------------------------------------------------------------ the pass


def check_broadcast(graph, op: str, inputs: Sequence[Node], attrs: dict, shape: Shape,
                    dtype: Any, loc: str) -> None:
    """Warn (or, strict, raise) when this node's broadcast is legal but almost surely a bug."""
    if graph.building_gradient or len(inputs) < 2:
        return
    kind = get_op(op).kind
    if kind in ("elementwise", "comparison"):
        views = [tuple(n.shape) for n in inputs]
        result = tuple(shape)
    elif kind == "matmul":
        views = [tuple(n.shape[:-2]) for n in inputs]
        result = tuple(shape[: max(len(v) for v in views)])
    else:
        return
    msg = diagnose(graph, op, inputs, views, result)
    if msg is None:
        return
    if graph.strict:
        raise ShapeError(at_user(msg, loc))
    filename, _, line = loc.rpartition(":")
    warnings.warn_explicit(msg, ShapeWarning, filename or loc,
                           int(line) if line.isdigit() else 0, registry=_WARN_REGISTRY)


def diagnose(graph, op: str, nodes: Sequence[Node], views: Sequence[tuple],
             result: tuple) -> str | None:
    """The diagnostic message for operand shapes ``views`` broadcast to ``result``, or None.

    ``views[k]`` is the part of ``nodes[k].shape`` that broadcasts: a prefix of it, so axis
    numbers are the node's own.
    """
    lint = _Lint(graph, op, nodes, views, result)
    return lint.symbol_duplication() or lint.bias_bug()


# ---------------------------------------------------------------------------- the rules


class _Lint:
    """One node's broadcast: who stretches which axis, and whether it was written out."""

    def __init__(self, graph, op, nodes, views, result):
        self.graph, self.op, self.nodes = graph, op, list(nodes)
        self.views = [Shape(v) for v in views]
        self.result = Shape(result)

    # --------------------------------------------------------------- helpers
    def aligned(self, k: int, i: int) -> int | None:
        """Operand k's own axis under result axis i, or None where it lacks that axis."""
        a = i - (len(self.result) - len(self.views[k]))
        return a if a >= 0 else None

    def stretched(self, k: int, i: int) -> bool:
        """True when broadcasting stretches operand k along result axis i."""
        if definitely_equal(self.result[i], 1):
            return False
        a = self.aligned(k, i)
        return a is None or definitely_equal(self.views[k][a], 1)

    def implicit(self, k: int, i: int) -> bool:
        """True when operand k is stretched along result axis i by a 1 nobody wrote out."""
        if not self.stretched(k, i):
            return False
        a = self.aligned(k, i)
        return a is None or not written_out(self.graph, self.nodes[k], a)

    def any_implicit(self, pairs) -> bool:
        return any(self.implicit(k, i) for k, i in pairs)

    def label(self, k: int) -> str:
        """``y (B,)`` for a named operand, else just its shape."""
        n = self.nodes[k]
        return f"{n.name} {self.views[k]}" if n.name else str(self.views[k])

    def who(self, k: int) -> str:
        """``y`` for a named operand, else ``the left operand (B, 1)`` and the like."""
        n = self.nodes[k]
        if n.name:
            return n.name
        if self.op == "where":
            role = ("the condition", "the true operand", "the false operand")[k]
        elif len(self.nodes) == 2:
            role = ("the left operand", "the right operand")[k]
        else:
            role = f"operand {k}"
        return f"{role} {self.views[k]}"

    def var(self, k: int) -> str:
        """A name for operand k inside code in a hint: its (last scoped) name, else ``t``."""
        name = (self.nodes[k].name or "").rsplit("/", 1)[-1]
        return name if name.isidentifier() else "t"

    def head(self) -> str:
        opdef = get_op(self.op)
        what = "the batch axes of " if opdef.kind == "matmul" else ""
        if opdef.infix is not None and len(self.nodes) == 2:
            expr = f"{self.label(0)} {opdef.infix} {self.label(1)}"
        else:
            expr = f"{self.op}({', '.join(self.label(k) for k in range(len(self.nodes)))})"
        return f"{self.op}: {what}{expr} broadcasts to {self.result}"

    def hint(self, k: int, new: Shape, res: Shape) -> str:
        """``Did you mean y with shape (B, 1)? ...`` for operand k re-shaped to ``new``."""
        tail = self.nodes[k].shape[len(self.views[k]):]  # matmul: the matrix axes
        full = Shape(tuple(new) + tuple(tail))
        then = f"the batch axes are then {res}" if tail else f"the result is then {res}"
        how = "declare it so, or " if self.nodes[k].role != "op" else ""
        return (f" Did you mean {self.who(k)} with shape {full}? ({how}reshape it: "
                f"gc.reshape({self.var(k)}, {full.source}); {then}.)")

    def fix(self, k: int, ref: int) -> Shape | None:
        """Operand k's dims re-placed to line up with operand ``ref``'s (a reshape of k).

        Its non-1 dims are matched right to left against ``ref``'s axes; leading 1s are
        dropped down to k's own rank. None when they cannot all be matched.
        """
        want = [d for d in self.views[k] if not definitely_equal(d, 1)]
        ref_shape = self.views[ref]
        out: list[Any] = [1] * len(ref_shape)
        j = len(ref_shape) - 1
        for d in reversed(want):
            while j >= 0 and not definitely_equal(ref_shape[j], d):
                j -= 1
            if j < 0:
                return None
            out[j] = d
            j -= 1
        while len(out) > len(self.views[k]) and definitely_equal(out[0], 1):
            out.pop(0)
        return Shape(out)

    # ------------------------------------------------------------------ rules
    def symbol_duplication(self) -> str | None:
        """(a) A symbolic dim (``B``, ``B*T``) in more axes of the result than in any one
        operand."""
        for s in dict.fromkeys(d for d in self.result if is_symbolic(d)):
            axes = [i for i, d in enumerate(self.result) if definitely_equal(d, s)]
            per_operand = [sum(definitely_equal(d, s) for d in v) for v in self.views]
            if len(axes) <= max(per_operand):
                continue
            if not self.any_implicit((k, i) for i in axes for k in range(len(self.nodes))):
                continue  # every stretched axis written out: intended
            return self._symbol_message(s, len(axes), max(per_operand), per_operand)
        return None

    def _symbol_message(self, s: Dim, n_res: int, n_max: int, per: list[int]) -> str:
        having = [k for k, c in enumerate(per) if c]
        # fix the operand of lowest rank (the last among equals: usually the target),
        # lining it up with the highest-rank other operand that has the symbol
        k = min(reversed(having), key=lambda j: len(self.views[j]))
        others = [j for j in having if j != k] or [j for j in range(len(self.nodes)) if j != k]
        ref = max(others, key=lambda j: len(self.views[j]))
        hint = ""
        new = self.fix(k, ref)
        if new is not None and new != self.views[k]:
            trial = [new if j == k else v for j, v in enumerate(self.views)]
            try:
                res = broadcast_shapes(*trial)
            except ShapeError:
                res = None
            if res is not None and sum(definitely_equal(d, s) for d in res) <= n_max:
                hint = self.hint(k, new, res)
        times = "*".join([str(s) if s.name else f"({s})"] * n_res)
        once = "once" if n_max == 1 else f"{n_max} times"
        what = "symbol" if s.name else "symbolic dim"
        return (
            f"{self.head()}: the {what} {s} is in {n_res} axes of the result but at most "
            f"{once} in any operand, so every {s}-entry of one operand meets every {s}-entry "
            f"of the other ({times} pairs, not {s}).{hint} If the {self.result} result is "
            "intended, write each stretched axis out: gc.expand_dims (or t[:, None] / "
            "t[None, :]) on both operands, or gc.broadcast_to."
        )

    def bias_bug(self) -> str | None:
        """(b) A size-1 axis stretched to n by a lower-rank operand whose n matches another
        axis of the stretched operand: ``(B, n, 1) + (n,)`` where ``(n, 1)`` was meant."""
        r = len(self.result)
        for s in range(len(self.nodes)):
            S = self.views[s]
            for low in range(len(self.nodes)):
                L = self.views[low]
                if low == s or len(L) >= len(S):
                    continue
                for i in range(r):
                    a_s, a_l = self.aligned(s, i), self.aligned(low, i)
                    if a_s is None or a_l is None or not definitely_equal(S[a_s], 1):
                        continue
                    d = L[a_l]
                    if definitely_equal(d, 1):
                        continue  # nothing stretched here
                    for j in range(r):
                        b_s = self.aligned(s, j)
                        if j == i or b_s is None or not definitely_equal(S[b_s], d):
                            continue
                        b_l = self.aligned(low, j)
                        if b_l is not None and not definitely_equal(L[b_l], 1):
                            continue  # L has its own dim there: the alignment is consistent
                        if not self.any_implicit([(s, i), (low, j)]):
                            continue
                        return self._bias_message(s, low, a_s, b_s, d)
        return None

    def _bias_message(self, s: int, low: int, a_s: int, b_s: int, d: Any) -> str:
        L, S = self.views[low], self.views[s]
        new = self.fix(low, s)
        hint = ""
        if new is not None:
            trial = [new if j == low else v for j, v in enumerate(self.views)]
            try:
                res = broadcast_shapes(*trial)
                hint = self.hint(low, new, res)
            except ShapeError:
                pass
        lead = tuple(range(len(S) - len(L)))
        lead_txt = lead[0] if len(lead) == 1 else lead
        return (
            f"{self.head()}: the size-1 axis {a_s} of {self.who(s)} is stretched to {d} by the "
            f"lower-rank {self.who(low)}, whose {d} also matches axis {b_s} of the stretched "
            f"operand (the bias bug).{hint} If the {self.result} result is intended, give "
            f"it its full rank explicitly: gc.expand_dims({self.var(low)}, "
            f"{lead_txt})."
        )


# --------------------------------------------------------------- "written out" provenance


def written_out(graph, node: Node, axis: int, depth: int = 0) -> bool:
    """True when size-1 ``axis`` of ``node`` was written out by the user (see module doc):
    each op says where the axis comes from (``OpDef.axis_source``), followed back."""
    if depth > _MAX_DEPTH or not definitely_equal(node.shape[axis], 1) or node.role != "op":
        return False
    rule = get_op(node.op).axis_source
    if rule is None:
        return False
    src = [graph.node(j) for j in node.inputs]
    found = rule(node, src, axis)
    if found is True:
        return True
    return any(written_out(graph, src[k], a, depth + 1) for k, a in found)


def register() -> None:
    """Add the diagnostics to the build checks (idempotent; done when graphc is imported)."""
    from graphc.ir.graph import BUILD_CHECKS

    if check_broadcast not in BUILD_CHECKS:
        BUILD_CHECKS.append(check_broadcast)


register()

__all__ = ["check_broadcast", "diagnose", "register", "written_out"]
