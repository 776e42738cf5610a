"""Binding fed arrays to inputs: dtype conversion, rank and dim checks, symbol values."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Constraint, is_symbolic, symbol_of
from graphc.ir.dtypes import ALLOWED_KINDS
from graphc.ir.node import Node, at_user, user_location
from graphc.ir.opdef import get_op


def convert_input(node: Node, value: Any) -> np.ndarray:
    """``value`` as an array of the input's dtype, or a TypeError naming the input."""
    what = f"{node.role} {node.name!r}"
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{what}: a masked array's mask would be ignored; pass "
                        "x.filled(value) or x.compressed() (or the mask as an input)")
    if type(value) is not np.ndarray and isinstance(value, np.ndarray):
        value = np.asarray(value)  # np.matrix, memmap, ...: the base array, the same memory
    if isinstance(value, np.ndarray) and value.dtype == node.dtype:
        return value
    if hasattr(value, "graph") and hasattr(value, "id"):
        raise TypeError(f"{what}: got a symbolic Tensor; feed a numpy array")
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001 - ragged lists and the like
        raise TypeError(
            f"{what}: cannot convert {type(value).__name__} to an array ({e})") from None
    if arr.dtype.kind not in ALLOWED_KINDS:
        raise TypeError(f"{what}: dtype {arr.dtype} cannot be used (expected {node.dtype})")
    if arr.dtype == node.dtype:
        return arr
    if not np.can_cast(arr.dtype, node.dtype, "same_kind"):
        raise TypeError(
            f"{what}: expected dtype {node.dtype}, got {arr.dtype}, which does not convert "
            "safely (cast it explicitly)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = arr.astype(node.dtype)
    _check_fits(arr, out, node, what)
    _warn_at_user(caught, f"{what} {node.shape} converted from {arr.dtype} to {node.dtype}")
    return out


def _check_fits(arr: np.ndarray, out: np.ndarray, node: Node, what: str) -> None:
    """A narrowing cast may round, but never wrap an integer or overflow a float to inf."""
    if out.dtype.kind in "iu" and arr.dtype.kind in "iu":
        # compared with the bounds as Python ints: a round trip would take uint64 2**64 - 1
        # for int64 -1 and back
        info = np.iinfo(out.dtype)
        bad = (arr < info.min) | (arr > info.max)
    elif out.dtype.kind == "f" and arr.dtype.kind == "f":
        bad = np.isinf(out) & np.isfinite(arr)
    else:
        return
    if bad.any():
        v = arr[bad].flat[0]
        raise ValueError(f"{what}: the {arr.dtype} value {v!r} does not fit its dtype "
                         f"{node.dtype} (it would become {out[bad].flat[0]!r}); cast it "
                         "explicitly if that is meant")


#: ``warnings`` registry of the conversion warnings re-issued at the user's line
_WARN_REGISTRY: dict[Any, Any] = {}


def _warn_at_user(caught: list, context: str) -> None:
    """Issue numpy's warnings again at the user's line (not graphc's), with ``context``."""
    for w in caught:
        file, _, line = user_location().rpartition(":")
        warnings.warn_explicit(f"{context}: {w.message}", w.category, file,
                               int(line) if line.isdigit() else 0, registry=_WARN_REGISTRY)


def solve_steps(nodes: Sequence[Node]) -> list[tuple[int, int, str, int, Any]]:
    """How symbols that no input has as a whole dim are solved from an expression dim that
    is linear in them: ``(k, axis, symbol, a, rest)`` for ``shape[axis] == a*symbol + rest``,
    in an order where ``rest`` only reads symbols bound before (``T`` from an input
    ``(T - 1, d)``)."""
    bound = {symbol_of(d) for n in nodes for d in n.shape} - {None}
    steps = []
    progress = True
    while progress:
        progress = False
        for k, n in enumerate(nodes):
            for axis, d in enumerate(n.shape):
                free = [x for x in d.symbols if x not in bound] if is_symbolic(d) else []
                lin = d.linear_in(free[0]) if len(free) == 1 else None
                if lin is not None:
                    bound.add(free[0])
                    steps.append((k, axis, free[0], lin[0], lin[1]))
                    progress = True
    return steps


def bind(nodes: Sequence[Node], arrays: Sequence[np.ndarray],
         binding: dict[str, int] | None = None, bound_by: dict[str, str] | None = None,
         complete: bool = True) -> dict[str, int]:
    """Check each array against its input's shape; return the value of every symbol.

    In order: ranks, int dims and whole-symbol dims (a symbol is bound by the first input
    that has it as a dim); then symbols solved from linear expression dims (``T - 1``);
    then every expression dim. Raises ShapeError naming the input and the dim: wrong rank, a
    fixed dim that differs, a symbol bound to two sizes (naming the input that bound it), an
    expression dim that does not match. ``bound_by`` receives, per symbol, what bound it.
    ``complete=False`` (the inputs so far): expressions over symbols not bound yet are skipped.
    """
    binding = {} if binding is None else binding
    bound_by = {} if bound_by is None else bound_by
    for node, arr in zip(nodes, arrays):
        _bind_whole_dims(node, arr, binding, bound_by)
    for k, axis, sym, a, rest in solve_steps(nodes):
        n, arr = nodes[k], arrays[k]
        have = arr.shape[axis] - (rest.evaluate(binding) if is_symbolic(rest) else rest)
        if have % a or have // a < 0:
            raise ShapeError(f"{_what(n)} {n.shape}: axis {axis} is {arr.shape[axis]} in this "
                             f"array of shape {arr.shape}, which {n.shape[axis]} is for no size "
                             f"of {sym}{_values(rest, binding, bound_by)}")
        binding[sym] = have // a
        bound_by[sym] = f"axis {axis} of {_what(n)}, as {n.shape[axis]}"
    for node, arr in zip(nodes, arrays):
        for axis, (d, size) in enumerate(zip(node.shape, arr.shape)):
            if not is_symbolic(d) or symbol_of(d) is not None:
                continue
            unbound = [x for x in d.symbols if x not in binding]
            if unbound and not complete:
                continue
            if unbound:
                raise ShapeError(f"{_what(node)} {node.shape}: no input binds "
                                 f"{', '.join(unbound)} (of dim {d})")
            want = d.evaluate(binding)
            if want != size:
                raise ShapeError(
                    f"{_what(node)} {node.shape}: axis {axis} must be {d} = {want}"
                    f"{_values(d, binding, bound_by)}, got {size} (array of shape {arr.shape})")
    return binding


def _what(node: Node) -> str:
    return f"{node.role} {node.name!r}"


def _values(d: Any, binding: dict[str, int], bound_by: dict[str, str]) -> str:
    """`` with T = 5 (bound by input 'x', axis 1)`` for the bound symbols of ``d``."""
    syms = [x for x in (d.symbols if is_symbolic(d) else ()) if x in binding]
    if not syms:
        return ""
    return " with " + ", ".join(
        f"{x} = {binding[x]}" + (f" (from {bound_by[x]})" if x in bound_by else "")
        for x in syms)


def _bind_whole_dims(node: Node, arr: np.ndarray, binding: dict[str, int],
                     bound_by: dict[str, str]) -> None:
    what = _what(node)
    if arr.ndim != node.ndim:
        raise ShapeError(
            f"{what} expects rank {node.ndim} {node.shape}, got an array of shape "
            f"{arr.shape} (rank {arr.ndim})"
        )
    for axis, (d, n) in enumerate(zip(node.shape, arr.shape)):
        sym = symbol_of(d)
        if sym is not None:
            if sym not in binding:
                binding[sym] = n
                bound_by[sym] = f"axis {axis} of {what}"
            elif binding[sym] != n:
                first = bound_by.get(sym)
                by = f" (from {first})" if first else ""
                raise ShapeError(
                    f"{what} {node.shape}: dim {d} (axis {axis}) is {n} in this array of "
                    f"shape {arr.shape}, but {d} was bound to {binding[sym]}{by}"
                )
        elif not is_symbolic(d) and d != n:
            raise ShapeError(
                f"{what} {node.shape}: axis {axis} must be {d}, got {n} "
                f"(array of shape {arr.shape})"
            )


# ------------------------------------------------------------------------- constraints


def constraints_of(nodes: Sequence[Node], operand_nodes: Any) -> list[tuple[Constraint, Node]]:
    """The conditions on the symbols that the shape rules of ``nodes`` assumed (each op's
    ``requires``), then that every expression dim is >= 0, each with the first node that
    needs it. A condition implied by another (``T - 1 >= 0`` by ``T - 3 >= 0``, ``2*T - 1 >=
    0`` by ``T - 1 >= 0``) is dropped. ``operand_nodes(n)`` gives a node's operand nodes."""
    found: dict[tuple, tuple[Constraint, Node]] = {}

    def add(c: Constraint, n: Node) -> None:
        key = (True, c.expr) if c.equal else (False, c.expr - c.expr.constant)
        old = found.get(key)
        if old is None or (not c.equal and c.expr.constant < old[0].expr.constant):
            found[key] = (c, n)

    for n in nodes:
        req = get_op(n.op).requires
        if req is not None:
            for c in req(n, operand_nodes(n)):
                add(c, n)
    assumed = [c.expr for c, _ in found.values() if not c.equal]
    for n in nodes:
        for d in n.shape:
            if is_symbolic(d) and not d.is_nonnegative() and not _implied(d, assumed):
                add(Constraint(d, f"{n.op} gives the dim {d}, which needs {d} >= 0"), n)
                assumed.append(d)
    return list(found.values())


def _implied(d: Any, assumed: list) -> bool:
    """True when ``d >= 0`` follows from one ``e >= 0`` of ``assumed``: ``d - k*e`` is
    non-negative for every binding for a small k."""
    return any((d - k * e).is_nonnegative() if is_symbolic(d - k * e) else d - k * e >= 0
               for e in assumed for k in (1, 2, 3, 4))


def check_constraints(found: Sequence[tuple[Constraint, Node]], binding: dict[str, int],
                      bound_by: dict[str, str]) -> None:
    """A ShapeError at the user's line for the first condition the binding breaks."""
    for c, n in found:
        if not c.holds(binding):
            raise unmet(c, n, binding, bound_by)


def unmet(c: Constraint, n: Node, binding: dict[str, int],
          bound_by: dict[str, str]) -> ShapeError:
    """The error for a broken condition: what assumed it, where, and the symbols' values."""
    return ShapeError(at_user(
        f"{c.why}, but{_values(c.expr, binding, bound_by)[5:]} ({n.op} node %{n.id})", n.loc))
