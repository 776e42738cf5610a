"""graphc -> ONNX: ``to_model(target)`` and ``save(target, path)``.

What is exported is the forward computation of ``target``:

- a ``gc.Graph``: its named outputs, with every input of the graph (names kept);
- a Tensor, a list of Tensors (outputs ``output_0``, ...) or a dict ``{name: Tensor}``: those
  values, with the inputs they read and those whose dims bind a symbol they need (as
  ``gc.compile`` takes them), or ``inputs=[...]``;
- a ``gc.Function``: the optimised program it runs, its forward outputs only.

Updates (an optimiser's step, BatchNorm's running statistics, a generator's advance) are not
exported: ONNX models are pure functions. Inputs keep their names and dims: a symbol becomes
a ``dim_param`` (``"B"``), an expression dim its text (``"T - 1"``). Params become
initializers under their names; constants become ``Constant`` nodes. Sizes that depend on the
symbols (a reshape to ``(B*T, d)``, ``g.zeros((B, 4))``, a slice up to ``T - 1``) are
computed in the model from ``Shape`` of the inputs, so one model serves every batch size.

Each graphc op is converted by its function in ``graphc.onnx.export_ops`` (one per op). An
op with no ONNX form (the random ops: ONNX's random ops cannot reproduce graphc's generator)
is refused with a ValueError that lists every such node at once, with its op and the user's
file:line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc._version import __version__
from graphc.ir.binding import solve_steps
from graphc.ir.dims import Dim, Shape, is_symbolic, symbol_of
from graphc.ir.graph import Graph
from graphc.ir.node import Node, short_loc
from graphc.ir.nxgraph import needed
from graphc.ir.tensor import Tensor

#: the opset used unless ``opset=`` says otherwise: the newest that onnxruntime 1.32 runs for
#: every op type the converters emit (probed: ``onnxruntime.capi`` kernel registrations),
#: lowered to what the installed onnx knows
NEWEST_TESTED_OPSET = 28
#: the oldest opset the converters support (ReduceSum & co. take axes as an input from 18)
MIN_OPSET = 18

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class NoOnnxForm(Exception):
    """Raised by a converter: this node has no ONNX form (the message says why)."""


def default_opset() -> int:
    """The opset ``to_model`` uses by default (see ``NEWEST_TESTED_OPSET``)."""
    import onnx

    return min(NEWEST_TESTED_OPSET, onnx.defs.onnx_opset_version())


# ============================================================================ the builder
class Builder:
    """The ONNX graph being built: nodes, initializers, fresh names, and the values of dims.

    Converters (``graphc.onnx.export_ops``) call ``add`` for ONNX nodes, ``const`` for
    constant tensors, ``dim`` / ``shape`` for int64 tensors holding (symbolic) sizes.
    """

    def __init__(self, opset: int, inputs: Sequence[Node]):
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self._consts: dict[tuple, str] = {}
        self._dims: dict[str, str] = {}
        self._symbols: dict[str, str] = {}
        self._inputs = list(inputs)
        #: the graphc node being converted, and the prefixes of the names made for it
        self.node: Node | None = None
        self.scope_prefix = self.value_prefix = ""

    # ------------------------------------------------------------------------- names
    def claim(self, name: str) -> str:
        """Reserve ``name`` (an input, initializer or output); a clash is a ValueError."""
        if name in self._used:
            raise ValueError(f"two ONNX values would be named {name!r}")
        self._used.add(name)
        return name

    def fresh(self, hint: str) -> str:
        """A value name not used yet, from ``hint``."""
        base, k = hint, 0
        name = base
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    # ------------------------------------------------------------------------- nodes
    def add(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any):
        """Append an ONNX node; its output name (a list of ``n_out`` names when n_out > 1).
        An absent optional input is ``""``. Nodes are named ``<scope>/<OpType>`` after the
        module scope of the graphc node being converted, as torch's exporter names them."""
        outs = [self.fresh(self.value_prefix or op_type) for _ in range(n_out)]
        name = self.fresh(self.scope_prefix + op_type)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        n = self.helper.make_node(op_type, list(inputs), outs, name=name, **attrs)
        if self.node is not None:
            n.doc_string = f"graphc {self.node.op} %{self.node.id} at {short_loc(self.node.loc)}"
        self.nodes.append(n)
        return outs[0] if n_out == 1 else outs

    def const(self, value: Any, dtype: Any = None) -> str:
        """A Constant node holding ``value`` (cached within a module scope: the same value
        gives the same name there; each module makes its own, so that repeated blocks stay
        alike and fold in diagrams)."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == object:
            raise TypeError("const() takes numbers, not dims (use dim() or shape())")
        key = (self.scope_prefix, arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            out = self.fresh(self.scope_prefix + "const")
            t = self.numpy_helper.from_array(arr.copy(order="C"), out)
            self.nodes.append(self.helper.make_node("Constant", [], [out], value=t,
                                                    name=self.fresh(self.scope_prefix
                                                                    + "Constant")))
            self._consts[key] = out
        return self._consts[key]

    def ints(self, values: Sequence[int]) -> str:
        """A 1-d int64 constant."""
        return self.const(np.array(list(values), dtype=np.int64).reshape(-1))

    def scalar(self, value: Any, dtype: Any) -> str:
        """A 0-d constant of ``dtype``."""
        return self.const(np.asarray(value, dtype=dtype).reshape(()))

    def cast(self, x: str, src: np.dtype, dst: Any) -> str:
        """``x`` cast from ``src`` to ``dst`` (nothing when they are the same)."""
        dst = np.dtype(dst)
        if np.dtype(src) == dst:
            return x
        return self.add("Cast", [x], to=tensor_type(dst))

    # ---------------------------------------------------------------------------- dims
    def dim(self, d: Any) -> str:
        """A 1-element int64 tensor holding the dim ``d`` (an int or a Dim)."""
        if not is_symbolic(d):
            return self.ints([int(d)])
        key = str(d)
        if key not in self._dims:
            self._dims[key] = self._dim_value(d)
        return self._dims[key]

    def dim_scalar(self, d: Any) -> str:
        """``d`` as a 0-d int64 tensor."""
        if not is_symbolic(d):
            return self.scalar(int(d), np.int64)
        return self.add("Squeeze", [self.dim(d), self.ints([0])])

    def shape(self, dims: Sequence[Any]) -> str:
        """A 1-d int64 tensor holding ``dims`` (ints and Dims)."""
        if not any(is_symbolic(d) for d in dims):
            return self.ints([int(d) for d in dims])
        return self.add("Concat", [self.dim(d) for d in dims], axis=0)

    def _dim_value(self, d: Dim) -> str:
        """The sum over the polynomial's terms of coefficient * product of atoms."""
        total = None
        for mono, coef in d._terms:
            term = None
            for atom, exp in mono:
                a = self._atom(atom)
                for _ in range(exp):
                    term = a if term is None else self.add("Mul", [term, a])
            if term is None:
                term = self.ints([coef])
            elif coef != 1:
                term = self.add("Mul", [term, self.ints([coef])])
            total = term if total is None else self.add("Add", [total, term])
        return total

    def _atom(self, atom: Any) -> str:
        if isinstance(atom, str):
            return self.symbol(atom)
        # expr // c, where expr >= 0 (its coefficients lie in [0, c)): Div truncates, floors
        key = f"({atom.expr})//{atom.c}"
        if key not in self._dims:
            self._dims[key] = self.add("Div", [self.dim(atom.expr), self.ints([atom.c])])
        return self._dims[key]

    def symbol(self, name: str) -> str:
        """The 1-element int64 value of symbol ``name``, read from an input's shape."""
        if name in self._symbols:
            return self._symbols[name]
        for node in self._inputs:
            for axis, d in enumerate(node.shape):
                if symbol_of(d) == name:
                    v = self.add("Shape", [node.name], start=axis, end=axis + 1)
                    self._symbols[name] = v
                    return v
        for k, axis, sym, a, rest in solve_steps(self._inputs):
            if sym == name:
                n = self._inputs[k]
                v = self.add("Shape", [n.name], start=axis, end=axis + 1)
                v = self.add("Sub", [v, self.dim(rest)])
                if a != 1:
                    v = self.add("Div", [v, self.ints([a])])
                self._symbols[name] = v
                return v
        raise ValueError(f"no input of the exported model binds the symbol {name!r}; pass "
                         "inputs=[...] with an input whose shape has it")


def tensor_type(dtype: Any) -> int:
    """The ONNX element type of a numpy dtype."""
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _value_info(name: str, shape: Shape, dtype: np.dtype):
    from onnx import helper

    dims = [d if isinstance(d, int) else str(d) for d in shape]
    return helper.make_tensor_value_info(name, tensor_type(dtype), dims)


# ===================================================================== what is exported
def _targets(target: Any, inputs: Sequence[Tensor] | None):
    """(graph, [(output name, node id)], [input node ids]) of ``target``."""
    from graphc.backend.function import Function

    if isinstance(target, Function):
        if inputs is not None:
            raise TypeError("inputs=... is for Tensors; a Function has its own inputs")
        prog = target.program
        g = prog.graph
        names = {i: k for k, i in g._outputs.items()}
        outs = [(names.get(i, f"output_{k}"), i) for k, i in enumerate(prog.outputs)]
        if len(prog.outputs) == 1 and prog.outputs[0] not in names:
            outs = [("output", prog.outputs[0])]
        return g, _unique_outputs(outs), list(prog.inputs)
    if isinstance(target, Graph):
        if inputs is not None:
            raise TypeError("inputs=... is for Tensors; a Graph exports all its inputs")
        if not target._outputs:
            raise ValueError(f"graph {target.name!r} has no outputs to export "
                             "(mark them with g.output(name, tensor))")
        return target, list(target._outputs.items()), list(target._inputs.values())
    if isinstance(target, Tensor):
        pairs = [("output", target)]
    elif isinstance(target, Mapping):
        pairs = list(target.items())
        for k, _ in pairs:
            if not isinstance(k, str) or not k:
                raise TypeError(f"output names must be non-empty strings, got {k!r}")
    elif isinstance(target, (list, tuple)):
        pairs = [(f"output_{k}", t) for k, t in enumerate(target)]
    else:
        raise TypeError("to_model takes a gc.Graph, a Tensor, a list or dict of Tensors, or a "
                        f"gc.Function, got {type(target).__name__}")
    if not pairs:
        raise ValueError("nothing to export: no output tensors")
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise TypeError(f"output {name!r} is a {type(t).__name__}, not a graphc Tensor")
    g = pairs[0][1].graph
    for name, t in pairs:
        g.own(t, f"output {name!r}")
    outs = [(name, t.id) for name, t in pairs]
    return g, outs, _input_ids(g, [i for _, i in outs], inputs)


def _unique_outputs(outs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The output names made distinct (a later repeat becomes ``output_<k>``)."""
    seen: set[str] = set()
    out = []
    for k, (name, i) in enumerate(outs):
        out.append((name if name not in seen else f"output_{k}", i))
        seen.add(out[-1][0])
    return out


def _input_ids(g: Graph, roots: list[int], inputs: Sequence[Tensor] | None) -> list[int]:
    """The inputs a compiled function of ``roots`` would take (``gc.compile``'s rule), or
    ``inputs`` checked."""
    from graphc.backend.function import _size_inputs

    schedule = needed(g, roots)
    used = [i for i in schedule if g.node(i).role == "input"]
    if inputs is None:
        return used + _size_inputs(g, schedule, used)
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
        raise TypeError("inputs must be a list of input Tensors")
    ids = []
    for k, t in enumerate(inputs):
        g.own(t, f"inputs[{k}]")
        if t.node.role != "input":
            raise TypeError(f"inputs[{k}] ({t!r}) is not a graph input")
        if t.id not in ids:
            ids.append(t.id)
    missing = [g.node(i).name for i in used if i not in ids]
    if missing:
        raise TypeError(f"the outputs need input(s) {', '.join(map(repr, missing))}, which "
                        "are not in inputs")
    return ids


# ============================================================================== export
def to_model(target: Any, opset: int | None = None, *, inputs: Sequence[Tensor] | None = None,
             name: str | None = None, check: bool = True):
    """``target`` (a Graph, Tensors or a Function) as an ``onnx.ModelProto``.

    ``opset``: the default-domain opset (default: ``default_opset()``, from ``MIN_OPSET``).
    ``inputs``: for Tensors, the model's inputs in order (default: those the outputs read,
    then those whose dims bind a symbol they need). ``check=True`` runs
    ``onnx.checker.check_model(model, full_check=True)`` before returning. Raises a
    ValueError listing every node that has no ONNX form.
    """
    import onnx
    from onnx import helper

    from graphc.onnx.export_ops import CONVERTERS, REFUSED

    if opset is None:
        opset = default_opset()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {opset!r}")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset {opset} is not supported: graphc exports opsets {MIN_OPSET} to "
                         f"{newest} (the installed onnx's newest)")
    g, outs, in_ids = _targets(target, inputs)
    order = needed(g, [i for _, i in outs])
    b = Builder(int(opset), [g.node(i) for i in in_ids])
    graph_inputs = []
    for i in in_ids:
        n = g.node(i)
        b.claim(n.name)
        graph_inputs.append(_value_info(n.name, n.shape, n.dtype))
    values: dict[int, str] = {i: g.node(i).name for i in in_ids}
    for oname, _ in outs:
        if oname in values.values():
            raise ValueError(f"output {oname!r} has the name of an input; ONNX needs "
                             "distinct names")
        b.claim(oname)
    for i in order:  # params keep their names: claimed before any name is made up
        if g.node(i).role == "param":
            b.claim(g.node(i).name)
    refused: list[str] = []
    missing: set[int] = set()
    for i in order:
        n = g.node(i)
        if i in values:
            continue
        if n.role == "input":
            refused.append(f"input {n.name!r} is needed but not among the model's inputs")
            missing.add(i)
            continue
        if n.role == "param":
            values[i] = _initializer(b, n, g.params[n.name])
            continue
        if n.role == "constant":
            b.node = None
            b.scope_prefix, b.value_prefix = _prefixes(n)
            values[i] = b.const(n.value)
            continue
        if any(j in missing for j in n.inputs):
            missing.add(i)
            continue
        b.node = n
        b.scope_prefix, b.value_prefix = _prefixes(n)
        try:
            if n.op in REFUSED:
                raise NoOnnxForm(REFUSED[n.op])
            conv = CONVERTERS.get(n.op)
            if conv is None:
                raise NoOnnxForm("no converter")
            values[i] = conv(b, n, [values[j] for j in n.inputs],
                             [g.node(j) for j in n.inputs])
        except NoOnnxForm as e:
            refused.append(f"{n.op} node %{n.id} {n.shape} at {n.loc}: {e}")
            missing.add(i)
    b.node, b.scope_prefix, b.value_prefix = None, "", ""
    if refused:
        raise ValueError("cannot export to ONNX; no ONNX form for:\n  " + "\n  ".join(refused))
    graph_outputs = []
    for oname, i in outs:
        n = g.node(i)
        b.nodes.append(helper.make_node("Identity", [values[i]], [oname],
                                        name=b.fresh("Identity")))
        graph_outputs.append(_value_info(oname, n.shape, n.dtype))
    model_graph = helper.make_graph(b.nodes, g.name, graph_inputs, graph_outputs,
                                    initializer=b.initializers)
    opsets = [helper.make_opsetid("", int(opset))]
    model = helper.make_model(model_graph, opset_imports=opsets,
                              producer_name="graphc", producer_version=__version__)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    model.model_version = 1
    if name is not None:
        model.graph.name = str(name)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def _initializer(b: Builder, n: Node, value: np.ndarray) -> str:
    name = n.name
    arr = np.array(value, dtype=n.dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
    if arr.shape != tuple(n.shape):
        raise ValueError(f"param {n.name!r} holds an array of shape {arr.shape}, its node "
                         f"says {n.shape}")
    b.initializers.append(b.numpy_helper.from_array(arr, name))
    return name


def _prefixes(n: Node) -> tuple[str, str]:
    """The prefixes of the ONNX node and value names made for graphc node ``n``: its module
    scope (``/mlp/0/``: the diagram's cluster when the model is drawn, as for torch's
    ``/encoder/layers.0/...``), and ``<scope>/<op>_<id>`` for its values."""
    scope = n.info.get("scope")
    prefix = f"/{scope.strip('/')}/" if isinstance(scope, str) and scope.strip("/") else ""
    return prefix, f"{prefix}{n.op}_{n.id}"


def save(target: Any, path: str | os.PathLike, opset: int | None = None, **options: Any) -> None:
    """``to_model(target, opset, **options)`` written to ``path`` (an ``.onnx`` file)."""
    model = to_model(target, opset, **options)
    data = model.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)


__all__ = ["to_model", "save", "default_opset", "MIN_OPSET", "NoOnnxForm", "Builder"]
