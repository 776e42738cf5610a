"""Codegen: a scheduled program lowered to the source of one Python function over numpy.

Every identifier in the generated code is made here (``in_0``, ``s0``, ``tanh_7``); user
strings (input names, param names, graph names) never enter the source: names and other
objects the code needs are passed in through its namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.backend import runtime
from graphc.ir.dims import Shape, is_symbol
from graphc.ir.graph import Graph
from graphc.ir.node import Node
from graphc.ops.registry import get_op


@dataclass
class Program:
    """What to compile: a graph, the input order, outputs, updates and the schedule."""

    graph: Graph
    inputs: list[int]
    outputs: list[int]
    #: (param node id, new-value node id), applied after everything is computed
    updates: list[tuple[int, int]]
    #: node ids in execution order (every node the outputs and updates need)
    schedule: list[int] = field(default_factory=list)


class EmitContext:
    """What an op's ``emit`` sees: its node, operand nodes, shape code, ``out=`` buffer, and a
    way to put objects into the generated function's namespace."""

    def __init__(self, namespace: dict[str, Any], symbols: dict[str, str]):
        self._ns = namespace
        self._symbols = symbols
        self._refs: dict[Any, str] = {}
        self.node: Node | None = None
        self.inputs: list[Node] = []
        self.out: str | None = None

    def dim(self, d: Any) -> str:
        """Code for one dim: an int literal or the variable bound to a symbol."""
        return self._symbols[d] if is_symbol(d) else str(int(d))

    def shape_code(self, shape: Shape) -> str:
        dims = [self.dim(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    @property
    def shape(self) -> str:
        """Code for this node's output shape."""
        return self.shape_code(self.node.shape)

    def ref(self, obj: Any, prefix: str = "k") -> str:
        """A namespace name holding ``obj`` (dtypes and other hashables are shared)."""
        try:
            key = (prefix, obj)
            hash(key)
        except TypeError:
            key = (prefix, id(obj))
        if key not in self._refs:
            name = f"{prefix}_{len(self._refs)}"
            self._refs[key] = name
            self._ns[name] = obj
        return self._refs[key]


def _alias_root(graph: Graph, i: int) -> Node:
    """The node whose memory node ``i`` may share (following view ops through operand 0)."""
    n = graph.node(i)
    while get_op(n.op).view:
        n = graph.node(n.inputs[0])
    return n


def var_name(n: Node, input_pos: dict[int, int]) -> str:
    if n.role == "input":
        return f"in_{input_pos[n.id]}"
    if n.role == "param":
        return f"p_{n.id}"
    if n.role == "constant":
        return f"c_{n.id}"
    return f"{n.op}_{n.id}"


def generate(prog: Program, fn_name: str = "graphc_fn") -> tuple[str, dict[str, Any]]:
    """Python source of the compiled function, and the namespace it runs in.

    The function is ``fn(P, *inputs) -> (outputs, new_values)`` where ``P`` is the graph's
    params dict. It checks and binds the inputs, runs one line per node, and copies any
    result that could alias a param, input or constant, so callers own what they get.
    """
    g = prog.graph
    ns: dict[str, Any] = {"xp": np, "rt": runtime, "ndarray": np.ndarray}
    input_nodes = [g.node(i) for i in prog.inputs]
    input_pos = {n.id: k for k, n in enumerate(input_nodes)}
    ns["INPUTS"] = input_nodes

    symbols: dict[str, str] = {}
    ctx = EmitContext(ns, symbols)
    lines: list[str] = []
    emit = lines.append
    args = ", ".join(var_name(n, input_pos) for n in input_nodes)
    emit(f"def {fn_name}(P{', ' if args else ''}{args}):")

    # ------------------------------------------------------------ inputs: dtype, rank, dims
    if input_nodes:
        emit("    # inputs: convert, check rank and dims, bind symbols")
    for k, n in enumerate(input_nodes):
        v = var_name(n, input_pos)
        dt = ctx.ref(n.dtype, "dt")
        emit(f"    if {v}.__class__ is not ndarray or {v}.dtype != {dt}:")
        emit(f"        {v} = rt_convert(INPUTS[{k}], {v})")
        conds = [f"{v}.ndim != {n.ndim}"]
        binds = []
        for axis, d in enumerate(n.shape):
            if is_symbol(d) and d not in symbols:
                symbols[d] = f"s{len(symbols)}"
                binds.append(f"    {symbols[d]} = {v}.shape[{axis}]  # {d}")
            else:
                conds.append(f"{v}.shape[{axis}] != {ctx.dim(d)}")
        emit(f"    if {' or '.join(conds)}:")
        ins = ", ".join(var_name(m, input_pos) for m in input_nodes[: k + 1])
        emit(f"        rt_fail({k}, ({ins},))  # {n.shape} {n.dtype}")
        lines.extend(binds)
    ns["rt_convert"] = _convert
    ns["rt_fail"] = _fail_factory(input_nodes)

    # --------------------------------------------------------------------- params, body
    body_started = False
    for i in prog.schedule:
        n = g.node(i)
        name = var_name(n, input_pos)
        if n.role == "input":
            continue
        if n.role == "param":
            emit(f"    {name} = P[{ctx.ref(n.name, 'name')}]  # param {n.shape} {n.dtype}")
            continue
        if n.role == "constant":
            ns[name] = n.value
            continue
        if not body_started:
            emit("    # body: one line per node")
            body_started = True
        unbound = [s for s in n.shape.symbols if s not in symbols]
        if unbound:
            from graphc.errors import ShapeError

            raise ShapeError(
                f"{n.op} node %{n.id} has shape {n.shape}, but no input of the compiled "
                f"function binds {', '.join(unbound)}\n  at {n.loc}"
            )
        ctx.node, ctx.inputs, ctx.out = n, [g.node(j) for j in n.inputs], None
        operands = [var_name(g.node(j), input_pos) for j in n.inputs]
        expr = get_op(n.op).emit(operands, n.attr, ctx)
        emit(f"    {name} = {expr}  # {n.op} {n.shape}")

    # ---------------------------------------------------------------- results, ownership
    def owned(i: int) -> str:
        name = var_name(g.node(i), input_pos)
        if _alias_root(g, i).role != "op":
            return f"xp.array({name}, copy=True)"
        return name

    outs = ", ".join(owned(i) for i in prog.outputs)
    news = ", ".join(owned(v) for _, v in prog.updates)
    emit(f"    return ({outs}{',' if prog.outputs else ''}), ({news}{',' if prog.updates else ''})")
    return "\n".join(lines) + "\n", ns


def _convert(node: Node, value: Any) -> np.ndarray:
    from graphc.backend.binding import convert_input

    return convert_input(node, value)


def _fail_factory(nodes: list[Node]):
    def fail(k: int, arrays: tuple) -> None:
        from graphc.backend.binding import bind

        bind(nodes[: k + 1], arrays)
        raise AssertionError("graphc bug: an input check failed but binding found no error")

    return fail
