"""``gc.onnx.load``: an ONNX model as a ``gc.Graph``.

The model is hostile until validated: it is parsed (a garbage or truncated protobuf is a
ValueError), its opset checked (13 to the newest the installed onnx knows), its graph checked
(unique value names, every operand defined, no cycle, declared shapes within bounds, external
data only inside the model's directory), and every op type without a converter is reported
at once. Then each node is converted in topological order by its converter
(``graphc.onnx.registry``), under ``g.annotate(onnx_node=..., onnx_op=..., scope=...)``.

What the graph holds:

- ``g.inputs``: the graph inputs that are not initializers, in the model's order;
  ``g.outputs``: the graph outputs, in order. A name that is not a Python identifier is
  mapped to one (``input.1`` -> ``input_1``); ``g.onnx_names`` maps each graphc name of an
  input or output back to its ONNX name.
- Initializers: float ones are trainable params, named as in the model; other ones are
  params with ``trainable=False``, made only where a node reads them as a tensor (a Reshape's
  shape is folded instead).
- Dims: ``dim_value`` an int, ``dim_param`` a symbol (a name that is not an identifier is
  sanitised, ``batch size`` -> ``batch_size``; an expression such as ``2*N`` is parsed), an
  unknown dim a fresh symbol ``unk0, unk1, ...``.
- Static values (``registry.Static``): constants, initializers and values computed only from
  them and from shapes (``Shape -> Gather -> Concat``, with ``gc.Dim`` entries) are folded
  while importing, so shape operands become attributes of graphc ops.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphc import ops as gc
from graphc.errors import ShapeError
from graphc.ir.dims import Dim, parse_dim
from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.onnx.registry import CONVERTERS, OnnxNode, Static

#: the oldest default-domain opset the importer accepts
MIN_OPSET = 13
#: a model with more nodes is refused before anything is built
MAX_NODES = 100_000
#: at most this many bytes per initializer or declared fixed-size value, and per file
MAX_BYTES = 2**31
#: the most dims of one declared shape
MAX_NDIM = 32
#: a static value with more elements is built as a graph op instead (no huge constants)
MAX_STATIC_ELEMENTS = 1 << 16

#: ONNX tensor element types graphc computes with (elem_type -> numpy dtype)
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32), 2: np.dtype(np.uint8), 3: np.dtype(np.int8),
    4: np.dtype(np.uint16), 5: np.dtype(np.int16), 6: np.dtype(np.int32),
    7: np.dtype(np.int64), 9: np.dtype(bool), 10: np.dtype(np.float16),
    11: np.dtype(np.float64), 12: np.dtype(np.uint32), 13: np.dtype(np.uint64),
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def onnx_dtype(elem_type: int, what: str) -> np.dtype:
    """The numpy dtype of ONNX element type ``elem_type``, or a TypeError naming ``what``."""
    dt = DTYPES.get(elem_type)
    if dt is None:
        import onnx

        try:
            name = onnx.TensorProto.DataType.Name(elem_type)
        except ValueError:
            name = f"element type {elem_type}"
        raise TypeError(f"{what}: ONNX type {name} is not supported (graphc computes with "
                        "bool, int, uint and float16/32/64 tensors)")
    return dt


def identifier(name: str, taken: set[str]) -> str:
    """``name`` as a Python identifier not in ``taken`` (kept when it already is one)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "v"
    if not base[0].isalpha() and base[0] != "_":
        base = "v_" + base
    base = base if base.isascii() else "v"
    out, k = base, 1
    while out in taken or not out.isidentifier():
        out, k = f"{base}_{k}", k + 1
    taken.add(out)
    return out


# ----------------------------------------------------------------------------- reading

def read_model(model: Any, max_bytes: int = MAX_BYTES) -> tuple[Any, Path | None]:
    """``model`` (a path, bytes or ModelProto) as a ModelProto and the directory of its file
    (None unless read from a path). Garbage is a ValueError."""
    import onnx
    from google.protobuf.message import DecodeError

    base: Path | None = None
    if isinstance(model, onnx.ModelProto):
        if not model.HasField("graph"):
            raise ValueError("gc.onnx.load: the ModelProto is not an ONNX model (no graph)")
        _check_text(model.graph, "the graph")
        return model, None
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ValueError(f"gc.onnx.load: no ONNX file at {str(path)!r}")
        if path.stat().st_size > max_bytes:
            raise ValueError(f"gc.onnx.load: {str(path)!r} is larger than {max_bytes} bytes")
        data = path.read_bytes()
        base = path.resolve().parent
        what = repr(str(path))
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        what = "the bytes"
    else:
        raise TypeError("gc.onnx.load: expected a path, bytes or an onnx.ModelProto, got "
                        f"{type(model).__name__}")
    if len(data) > max_bytes:
        raise ValueError(f"gc.onnx.load: {what} hold more than {max_bytes} bytes")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ValueError(f"gc.onnx.load: {what} are not an ONNX model (the protobuf does "
                         f"not parse: {e})") from None
    if not proto.HasField("graph"):
        raise ValueError(f"gc.onnx.load: {what} are not an ONNX model (no graph)")
    _check_text(proto.graph, "the graph")
    return proto, base


def _check_text(g: Any, where: str) -> None:
    """Every name in ``g`` (and its subgraphs) is text: the protobuf parser hands a string
    field that is not valid UTF-8 back as bytes."""
    def bad(v: Any) -> bool:
        return not isinstance(v, str)

    if bad(g.name):
        raise ValueError(f"gc.onnx.load: {where} has a name that is not UTF-8 text")
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if bad(v.name) or any(bad(d.dim_param) for d in v.type.tensor_type.shape.dim):
            raise ValueError(f"gc.onnx.load: {where}: a value name or dim_param that is not "
                             "UTF-8 text")
    for t in g.initializer:
        if bad(t.name) or any(bad(e.key) or bad(e.value) for e in t.external_data):
            raise ValueError(f"gc.onnx.load: {where}: an initializer name that is not UTF-8 "
                             "text")
    for n in g.node:
        if any(bad(x) for x in (n.name, n.op_type, n.domain, *n.input, *n.output)):
            raise ValueError(f"gc.onnx.load: {where}: node {len(n.input)}-in {n.op_type!r} "
                             "has a name that is not UTF-8 text")
        for a in n.attribute:
            if bad(a.name) or bad(a.ref_attr_name):
                raise ValueError(f"gc.onnx.load: {where}: an attribute name that is not "
                                 "UTF-8 text")
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _check_text(sub, f"a subgraph of node {n.name!r}")


def _load_external(model: Any, base: Path | None) -> None:
    """Read the external data of ``model``'s initializers, from files inside ``base`` only."""
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    for t in model.graph.initializer:
        if not uses_external_data(t):
            continue
        if base is None:
            raise ValueError(f"initializer {t.name!r} keeps its data in an external file; load "
                             "the model from its path so that the file can be found")
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        target = (base / loc).resolve()
        if not loc or os.path.isabs(loc) or base not in target.parents or not target.is_file():
            raise ValueError(f"initializer {t.name!r}: external data location {loc!r} is not "
                             f"a file inside the model's directory {str(base)!r}")
        load_external_data_for_tensor(t, str(base))
        del t.external_data[:]
        t.data_location = 0


# ----------------------------------------------------------------------------- checking

def _opset(model: Any) -> int:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        if any(n.domain in ("", "ai.onnx") for n in model.graph.node):
            raise ValueError("gc.onnx.load: the model uses default-domain ops but imports no "
                             "default-domain (ai.onnx) opset")
        return newest  # only other domains' ops: reported as unsupported
    v = versions[0]
    if not MIN_OPSET <= v <= newest:
        raise ValueError(f"gc.onnx.load: opset {v} is not supported (graphc imports opsets "
                         f"{MIN_OPSET} to {newest}, the newest the installed onnx knows; "
                         "onnx.version_converter.convert_version can upgrade an older model)")
    return v


def _shape_of(vtype: Any, what: str) -> tuple[list[Any], Any] | None:
    """The declared (dims, elem_type) of a value's type, None when it is not a tensor."""
    if vtype.WhichOneof("value") != "tensor_type":
        return None
    tt = vtype.tensor_type
    if not tt.HasField("shape"):
        raise ValueError(f"{what} has no declared rank; graphc needs the rank of each input")
    dims = list(tt.shape.dim)
    if len(dims) > MAX_NDIM:
        raise ValueError(f"{what} declares {len(dims)} dims (at most {MAX_NDIM})")
    return dims, tt.elem_type


def _toposort(nodes: Sequence[Any], known: set[str]) -> list[int]:
    """The order to convert ``nodes`` in: each after the producers of its operands. A name
    used but never defined, a name defined twice or a cycle is a ValueError."""
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if not o:
                continue
            if o in producer or o in known:
                raise ValueError(f"value name {o!r} is defined twice (node {_label(n)})")
            producer[o] = i
    deps: list[set[int]] = []
    for n in nodes:
        d = set()
        for x in _operand_names(n):
            if x in producer:
                d.add(producer[x])
            elif x not in known:
                raise ValueError(f"node {_label(n)} reads {x!r}, which no node, input or "
                                 "initializer defines")
        deps.append(d)
    users: list[list[int]] = [[] for _ in nodes]
    missing = [len(d) for d in deps]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    ready = [i for i, m in enumerate(missing) if m == 0]
    order: list[int] = []
    while ready:
        i = ready.pop()
        order.append(i)
        for u in users[i]:
            missing[u] -= 1
            if missing[u] == 0:
                ready.append(u)
    if len(order) < len(nodes):
        stuck = [_label(nodes[i]) for i, m in enumerate(missing) if m > 0][:5]
        raise ValueError(f"the graph has a cycle through nodes {', '.join(stuck)}")
    order.sort()  # a model's own order is usually already topological: keep it when it is
    if any(d and max(d) >= i for i, d in enumerate(deps)):
        return _stable_topo(deps)
    return order


def _stable_topo(deps: list[set[int]]) -> list[int]:
    done: set[int] = set()
    order: list[int] = []
    for start in range(len(deps)):
        stack = [start]
        while stack:
            i = stack[-1]
            if i in done:
                stack.pop()
                continue
            todo = [j for j in deps[i] if j not in done]
            if todo:
                stack.extend(todo)
            else:
                done.add(i)
                order.append(i)
                stack.pop()
    return order


def _operand_names(n: Any) -> list[str]:
    """The names ``n`` reads: its inputs, and those its subgraphs read from outside."""
    names = [x for x in n.input if x]
    for a in n.attribute:
        for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            inner = {x.name for x in sub.input} | {x.name for x in sub.initializer}
            for m in sub.node:
                inner.update(m.output)
            for m in sub.node:
                names.extend(x for x in _operand_names(m) if x not in inner)
    return names


def _label(n: Any) -> str:
    return f"{n.name!r} ({n.op_type})" if n.name else f"({n.op_type})"


def op_key(domain: str, op_type: str) -> str:
    """The registry key of an op: ``Relu``, ``com.microsoft::FusedMatMul``."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def unsupported_ops(nodes: Sequence[Any]) -> list[tuple[str, str]]:
    """(node label, op key) of each node no converter handles, subgraphs included."""
    out = []
    for n in nodes:
        if op_key(n.domain, n.op_type) not in CONVERTERS:
            out.append((_label(n), op_key(n.domain, n.op_type)))
        for a in n.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                out.extend(unsupported_ops(sub.node))
    return out


def scope_of(node_name: str, proto_node: Any = None) -> str | None:
    """The exporter's name scope of a node (None when it has none): from torch's dynamo
    exporter, the ``pkg.torch.onnx.name_scopes`` metadata (``['', 'encoder',
    'encoder.layers.0', 'encoder.layers.0.attn', 'matmul']`` -> ``encoder/layers.0/attn``);
    otherwise the node's name path (``/encoder/layers.0/attn/MatMul``, TorchScript's)."""
    scopes = _torch_name_scopes(proto_node) if proto_node is not None else None
    if scopes is not None:
        parts, prev = [], ""
        for q in scopes[:-1]:  # module qualified names, outermost first; then the op's name
            if q:
                parts.append(q[len(prev) + 1:] if prev and q.startswith(prev + ".") else q)
                prev = q
        return "/".join(parts) or None
    parts = [p for p in node_name.split("/") if p]
    return "/".join(parts[:-1]) if len(parts) >= 2 else None


def _torch_name_scopes(proto_node: Any) -> list[str] | None:
    """The ``pkg.torch.onnx.name_scopes`` metadata of a node as a list of strings (None when
    absent or not such a list: it is outside data, read with ``ast.literal_eval`` within a
    length bound and checked)."""
    import ast

    for prop in proto_node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes" and len(prop.value) <= 4096:
            try:
                v = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
            if isinstance(v, list) and v and all(isinstance(q, str) for q in v):
                return v
    return None


# ----------------------------------------------------------------------------- attributes

def decode_attrs(node: Any) -> dict[str, Any]:
    """``node``'s attributes as Python values (tensors as numpy arrays)."""
    from onnx import AttributeProto

    out: dict[str, Any] = {}
    for a in node.attribute:
        t = a.type
        if t == AttributeProto.FLOAT:
            v: Any = float(a.f)
        elif t == AttributeProto.INT:
            v = int(a.i)
        elif t == AttributeProto.STRING:
            v = a.s.decode("utf-8", "replace")
        elif t == AttributeProto.TENSOR:
            v = _tensor_value(a.t, f"attribute {a.name!r}")
        elif t == AttributeProto.FLOATS:
            v = [float(x) for x in a.floats]
        elif t == AttributeProto.INTS:
            v = [int(x) for x in a.ints]
        elif t == AttributeProto.STRINGS:
            v = [s.decode("utf-8", "replace") for s in a.strings]
        elif t == AttributeProto.GRAPH:
            v = a.g
        elif t == AttributeProto.GRAPHS:
            v = list(a.graphs)
        elif t == AttributeProto.TENSORS:
            v = [_tensor_value(x, f"attribute {a.name!r}") for x in a.tensors]
        elif t in (AttributeProto.SPARSE_TENSOR, AttributeProto.SPARSE_TENSORS):
            raise ValueError(f"attribute {a.name!r}: sparse tensors are not supported")
        else:
            raise ValueError(f"attribute {a.name!r} has a type graphc does not read ({t})")
        out[a.name] = v
    return out


def _tensor_value(t: Any, what: str, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """A TensorProto as a numpy array: its dtype supported, its size within ``max_bytes`` and
    matching the data it holds."""
    from onnx import numpy_helper

    dt = onnx_dtype(t.data_type, what)
    dims = [int(d) for d in t.dims]
    if len(dims) > MAX_NDIM or any(d < 0 for d in dims):
        raise ValueError(f"{what}: bad dims {dims[:MAX_NDIM + 1]}")
    n = 1
    for d in dims:
        n *= d
    if n * dt.itemsize > max_bytes:
        raise ValueError(f"{what}: declared shape {tuple(dims)} is larger than {max_bytes} "
                         "bytes")
    try:
        arr = numpy_helper.to_array(t)
    except Exception as e:  # noqa: BLE001 - a malformed tensor, whatever onnx raises
        raise ValueError(f"{what}: the tensor data does not match its declared shape "
                         f"{tuple(dims)} and type ({type(e).__name__}: {e})") from None
    if arr.shape != tuple(dims):
        raise ValueError(f"{what}: holds {arr.size} values for the declared shape {tuple(dims)}")
    return np.array(arr, dtype=dt, order="C")  # (ascontiguousarray would make 0-d 1-d)


# ----------------------------------------------------------------------------- context

class UnsupportedOpError(ValueError):
    """Op types without a converter; ``ops`` lists each (node label, op type)."""

    def __init__(self, message: str, ops: list[tuple[str, str]]):
        super().__init__(message)
        self.ops = ops


class DataDependentError(ValueError):
    """An operand that must be known while importing (a shape, axes) depends on the model's
    inputs; ``value`` is its ONNX name."""

    def __init__(self, message: str, value: str):
        super().__init__(message)
        self.value = value


class Context:
    """What converters see while a model is imported (see ``graphc.onnx.registry``)."""

    def __init__(self, graph: Graph, opset: int, opsets: dict[str, int]):
        self.graph = graph
        self.opset = opset
        self.opsets = opsets
        #: ONNX value name -> Tensor or Static
        self.values: dict[str, Any] = {}
        #: initializer name -> its array (made a param where read as a tensor)
        self.initializers: dict[str, np.ndarray] = {}
        self._init_params: dict[str, Any] = {}
        self._constants: dict[str, Any] = {}
        #: the most graphc nodes the import may build (unrolled loops grow the graph)
        self.max_graph_nodes = 16 * MAX_NODES
        self._proto: Any = None
        self._value_info: dict[str, Any] | None = None

    # -- operands
    def _name(self, node: OnnxNode, i: int) -> str | None:
        if i >= len(node.inputs) or not node.inputs[i]:
            return None
        return node.inputs[i]

    def has(self, node: OnnxNode, i: int) -> bool:
        """Whether optional operand ``i`` is present."""
        return self._name(node, i) is not None

    def is_static(self, node: OnnxNode, i: int) -> bool:
        """Whether operand ``i`` is known while importing (absent counts as static): a
        constant, a value computed from constants and shapes, an initializer that is no
        trainable param. (``static`` also reads a trainable initializer's value, for an
        operand that must be known: Resize's scales.)"""
        name = self._name(node, i)
        if name is None:
            return True
        if name in self.initializers:  # a trainable param's value may change: not folded
            return name not in self._init_params or not self._init_params[name].node.attr[
                "trainable"]
        return isinstance(self.values.get(name), Static)

    def static(self, node: OnnxNode, i: int) -> np.ndarray | None:
        """Operand ``i``'s value (object dtype where it holds Dims); None when absent; an
        error naming the node when it depends on the model's inputs."""
        name = self._name(node, i)
        if name is None:
            return None
        if name in self.initializers:
            return self.initializers[name]
        v = self.values[name]
        if isinstance(v, Static):
            return v.value
        raise DataDependentError(
            f"ONNX node {node_label(node)}: operand {i} ({name!r}) must be known while "
            "importing (a constant, an initializer or computed from shapes), but it is "
            "computed from the model's inputs: a data-dependent shape, which graphc's static "
            "shapes cannot express (gc.onnx.load(..., constants={name: value}) fixes an "
            "input's value)", name)

    def tensor(self, node: OnnxNode, i: int) -> Tensor | None:
        """Operand ``i`` as a Tensor (a static value made a constant); None when absent."""
        name = self._name(node, i)
        if name is None:
            return None
        return self.as_tensor(name)

    def as_tensor(self, name: str) -> Tensor:
        """The value called ``name`` as a Tensor."""
        if name in self.initializers:
            t = self._init_params.get(name)
            if t is None:
                t = self._init_params[name] = self.graph.param(
                    name, self.initializers[name], dtype=self.initializers[name].dtype,
                    trainable=False)
            return t
        v = self.values[name]
        if isinstance(v, Static):
            t = self._constants.get(name)
            if t is None:
                t = self._constants[name] = self.static_tensor(v.value)
            return t
        return v

    def static_tensor(self, value: np.ndarray) -> Tensor:
        """A static value as a Tensor: a constant, or built from its Dims."""
        value = np.asarray(value)
        if value.dtype != object:
            return self.graph.constant(value)
        if not any(isinstance(x, Dim) for x in value.flat):
            return self.graph.constant(value.astype(np.int64))
        parts = [self.dim_tensor(x) for x in value.flat]
        flat = gc.stack(parts) if parts else self.graph.constant(np.zeros(0, np.int64))
        return gc.reshape(flat, value.shape)

    def dim_tensor(self, d: Any) -> Tensor:
        """A 0-d int64 tensor holding the dim ``d`` (an int or a Dim) at run time."""
        if not isinstance(d, Dim):
            return self.graph.constant(np.int64(int(d)))
        return gc.numel(self.graph.full((d,), False, bool), dtype=np.int64)

    @property
    def value_info(self) -> dict[str, Any]:
        """ONNX value name -> its TypeProto from onnx's shape inference (strict=False; empty
        where inference fails), computed when first asked."""
        if self._value_info is None:
            self._value_info = _infer(self._proto) if self._proto is not None else {}
        return self._value_info

    def subgraph(self, node: OnnxNode, body: Any, args: Sequence[Any]) -> list:
        """Convert the subgraph ``body`` (a GraphProto attribute of ``node``: a Scan step, an
        If branch) with its inputs bound to ``args`` (Tensors or Statics), in this graph; its
        outputs (Tensors or Statics). It sees the values of the enclosing graph."""
        if len(args) != len(body.input):
            raise self.error(node, f"the subgraph {body.name!r} takes {len(body.input)} "
                             f"inputs, given {len(args)}")
        self._depth = getattr(self, "_depth", 0) + 1
        saved = self.values
        self.values = dict(saved)
        try:
            if self._depth > 8:
                raise self.error(node, "subgraphs nested more than 8 deep")
            for v, a in zip(body.input, args):
                self.values[v.name] = a
            for t in body.initializer:
                self.values[t.name] = Static(_tensor_value(t, f"initializer {t.name!r}"))
            inner = list(body.node)
            known = set(self.values) | set(self.initializers)
            for i in _toposort(inner, known):
                _convert(self, inner[i])
            return [self.values[o.name] for o in body.output]
        finally:
            self.values = saved
            self._depth -= 1

    def error(self, node: OnnxNode, message: str, kind: type = ValueError) -> Exception:
        """The exception to raise for ``node``: its name and op type, then ``message``."""
        return kind(f"ONNX node {node_label(node)}: {message}")


def node_label(node: OnnxNode) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"({node.op_type})"


# ----------------------------------------------------------------------------- load

def load(model: Any, *, name: str | None = None, constants: dict[str, Any] | None = None,
         max_nodes: int = MAX_NODES, max_bytes: int = MAX_BYTES,
         shape_inference: bool = True) -> Graph:
    """An ONNX model (a path, bytes or an ``onnx.ModelProto``) as a ``Graph``.

    ``g.inputs``/``g.outputs`` follow the model (names that are not identifiers mapped;
    ``g.onnx_names`` maps them back), initializers are params (float ones trainable), dims
    are ints and symbols. Each node built carries meta ``onnx_node`` and ``onnx_op`` (and
    ``scope`` from the exporter's name scope). A model graphc cannot import is a ValueError
    (TypeError for an unsupported dtype) that says what and where; every op type without a
    converter is listed at once.

    ``constants`` ({ONNX input name: value}) fixes graph inputs to values known while
    importing: they are no graph inputs then, and shape operands computed from them fold
    (a model that takes a Reshape's shape or a TopK's k as an input).

    ``name`` names the graph (default: the model's graph name); ``max_nodes`` and
    ``max_bytes`` bound what a model may hold (``MAX_NODES``, ``MAX_BYTES``);
    ``shape_inference=False`` keeps onnx's shape inference from running (converters read its
    result as ``ctx.value_info``; ops defined by context-dependent functions need it).
    """
    import graphc.onnx.convert_core  # noqa: F401  (registers the converters)

    try:
        import graphc.onnx.convert_nn  # noqa: F401
    except ImportError:  # pragma: no cover - written alongside
        pass
    proto, base = read_model(model, max_bytes)
    graph_proto = proto.graph
    if len(graph_proto.node) > max_nodes:
        raise ValueError(f"gc.onnx.load: the model has {len(graph_proto.node)} nodes (at most "
                         f"{max_nodes}; pass max_nodes= to allow more)")
    opset = _opset(proto)
    opsets = {o.domain or "": o.version for o in proto.opset_import}
    if proto.functions:
        proto = _inline_functions(proto)
        graph_proto = proto.graph
    _load_external(proto, base)
    proto = expand_functions(proto, opset)
    graph_proto = proto.graph
    nodes = list(graph_proto.node)
    if len(nodes) > max_nodes:
        raise ValueError(f"gc.onnx.load: the model has {len(nodes)} nodes once its functions "
                         f"are expanded (at most {max_nodes}; pass max_nodes= to allow more)")
    init_names = [t.name for t in graph_proto.initializer]
    if len(set(init_names)) < len(init_names) or "" in init_names:
        raise ValueError("gc.onnx.load: initializer names must be non-empty and unique")
    input_names = [v.name for v in graph_proto.input if v.name not in set(init_names)]
    if len(set(input_names)) < len(input_names) or "" in input_names:
        raise ValueError("gc.onnx.load: graph input names must be non-empty and unique")
    order = _toposort(nodes, set(init_names) | set(input_names))
    missing = unsupported_ops(nodes)
    if missing:
        kinds = sorted({k for _, k in missing})
        listed = "; ".join(f"{lbl}" for lbl, _ in missing[:50])
        more = f" and {len(missing) - 50} more" if len(missing) > 50 else ""
        raise UnsupportedOpError(
            f"gc.onnx.load: {len(missing)} node(s) of op types graphc cannot import "
            f"({', '.join(kinds)}): {listed}{more}", missing)
    for o in graph_proto.output:
        if o.name not in set(init_names) | set(input_names) and not any(
                o.name in n.output for n in nodes):
            raise ValueError(f"gc.onnx.load: graph output {o.name!r} is not computed by any "
                             "node, input or initializer")

    g = Graph(name=_graph_name(name or graph_proto.name))
    ctx = Context(g, opset, opsets)
    ctx.max_graph_nodes = 16 * max_nodes
    ctx._proto = proto if shape_inference else None
    g.onnx_names = {}  # type: ignore[attr-defined]
    taken: set[str] = set()
    symbols = _Symbols(ctx)
    init_set = set(init_names)
    constants = dict(constants or {})
    unknown = sorted(set(constants) - set(input_names))
    if unknown:
        raise ValueError(f"gc.onnx.load: constants names {unknown}, which are not graph "
                         f"inputs (the inputs: {input_names})")
    for v in graph_proto.input:
        if v.name in init_set:
            continue
        if v.name in constants:
            ctx.values[v.name] = Static(_constant_input(v, constants[v.name]))
            continue
        decl = _shape_of(v.type, f"graph input {v.name!r}")
        if decl is None:
            raise TypeError(f"gc.onnx.load: graph input {v.name!r} is not a tensor "
                            f"({v.type.WhichOneof('value')}); graphc imports tensors only")
        dims, elem = decl
        dt = onnx_dtype(elem, f"graph input {v.name!r}")
        shape = [symbols.dim(d, f"graph input {v.name!r}") for d in dims]
        gname = identifier(v.name, taken)
        ctx.values[v.name] = g.input(gname, shape, dt)
        g.onnx_names[gname] = v.name
    for t in graph_proto.initializer:
        arr = _tensor_value(t, f"initializer {t.name!r}", max_bytes)
        arr.setflags(write=False)
        ctx.initializers[t.name] = arr
        if arr.dtype.kind == "f":
            ctx._init_params[t.name] = g.param(_param_name(t.name, g), arr, dtype=arr.dtype)
    for i in order:
        _convert(ctx, nodes[i])
    for o in graph_proto.output:
        t = ctx.as_tensor(o.name)
        gname = identifier(o.name, taken)
        g.output(gname, t)
        g.onnx_names[gname] = o.name
    return g


def _constant_input(v: Any, value: Any) -> np.ndarray:
    """The value given for graph input ``v``, checked against its declared type and rank."""
    decl = _shape_of(v.type, f"graph input {v.name!r}")
    if decl is None:
        raise TypeError(f"gc.onnx.load: graph input {v.name!r} is not a tensor")
    dims, elem = decl
    dt = onnx_dtype(elem, f"graph input {v.name!r}")
    arr = np.asarray(value)
    if arr.dtype != dt or arr.ndim != len(dims) or any(
            d.WhichOneof("value") == "dim_value" and d.dim_value != n
            for d, n in zip(dims, arr.shape)):
        raise ValueError(f"gc.onnx.load: constants[{v.name!r}] is {arr.shape} {arr.dtype}, "
                         f"the input is declared {len(dims)}-d {dt}")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _param_name(name: str, g: Graph) -> str:
    out, k = name, 1
    while out in g:
        out, k = f"{name}_{k}", k + 1
    return out


def _graph_name(name: str) -> str:
    name = "".join(c for c in name if c.isprintable())[:80]
    return name or "onnx"


class _Symbols:
    """dim_param names as graphc symbols (sanitised), unknown dims as fresh ones."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.known: dict[str, Any] = {}
        self.taken: set[str] = set()
        self.fresh = 0

    def dim(self, d: Any, what: str) -> Any:
        kind = d.WhichOneof("value")
        if kind == "dim_value":
            v = int(d.dim_value)
            if v < 0 or v > MAX_BYTES:
                raise ValueError(f"{what}: declared dim {v} is out of bounds (0 to {MAX_BYTES})")
            return v
        if kind == "dim_param" and d.dim_param:
            return self.named(d.dim_param)
        return self.new()

    def named(self, text: str) -> Any:
        hit = self.known.get(text)
        if hit is not None:
            return hit
        value: Any = None
        if _IDENT.match(text) is None:
            try:  # an expression over identifiers: "2*N", "seq - 1"
                value = parse_dim(text)
            except ValueError:
                value = None
        if value is None:
            value = Dim(identifier(text, self.taken))
        else:
            self.taken.update(value.symbols if isinstance(value, Dim) else ())
        if _IDENT.match(text):
            self.taken.add(text)
        self.known[text] = value
        return value

    def new(self) -> Dim:
        while f"unk{self.fresh}" in self.taken:
            self.fresh += 1
        name = f"unk{self.fresh}"
        self.taken.add(name)
        return Dim(name)


def _infer(proto: Any) -> dict[str, Any]:
    """Value name -> TypeProto from onnx's shape inference (empty when it fails)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is a help, never required
        return {}
    out = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.output):
        out[v.name] = v.type
    return out


#: how many rounds of function expansion (a function body using another function op)
_EXPAND_ROUNDS = 4


def expand_functions(proto: Any, opset: int) -> Any:
    """``proto`` with each node that no converter handles, but whose ONNX schema defines it
    as a function of other ops (``Attention``, ``NegativeLogLikelihoodLoss``, ...), replaced
    by that function's body (inlined by onnx's inliner)."""
    import onnx

    for _ in range(_EXPAND_ROUNDS):
        todo = [n for n in proto.graph.node
                if op_key(n.domain, n.op_type) not in CONVERTERS and _schema(n, opset)]
        if not todo:
            return proto
        types = None
        model = onnx.ModelProto()
        model.CopyFrom(proto)
        added = 0
        for k, n in enumerate(model.graph.node):
            if op_key(n.domain, n.op_type) in CONVERTERS:
                continue
            schema = _schema(n, opset)
            if schema is None:
                continue
            if types is None:
                types = _value_types(model)
            body = _function_body(schema, n, opset, types)
            if body is None:
                continue
            _add_defaults(n, schema)
            body.name, body.domain = f"{n.op_type}_{k}", "graphc.expanded"
            n.op_type, n.domain = body.name, body.domain
            model.functions.append(body)
            added += 1
        if not added:
            return proto
        model.opset_import.add(domain="graphc.expanded", version=1)
        proto = _inline_functions(model)
        keep = [o for o in proto.opset_import if o.domain != "graphc.expanded"]
        del proto.opset_import[:]
        proto.opset_import.extend(keep)
    return proto


def _add_defaults(n: Any, schema: Any) -> None:
    """Spell out the attributes ``n`` leaves at their defaults: a function body refers to
    them, and the inliner substitutes only the attributes the node has."""
    have = {a.name for a in n.attribute}
    for name, a in schema.attributes.items():
        if name not in have and a.default_value.name:
            n.attribute.append(a.default_value)


def _schema(n: Any, opset: int) -> Any:
    import onnx

    if n.domain not in ("", "ai.onnx"):
        return None
    try:
        s = onnx.defs.get_schema(n.op_type, opset, "")
    except Exception:  # noqa: BLE001 - no such op: reported as unsupported
        return None
    return s if s.has_function or s.has_context_dependent_function else None


def _function_body(schema: Any, n: Any, opset: int, types: dict[str, Any]) -> Any:
    import onnx

    try:
        if schema.has_function:
            versions = [v for v in schema.function_opset_versions if v <= opset]
            data = schema.get_function_with_opset_version(max(versions)) if versions else None
            if data is None:
                return schema.function_body
        else:
            versions = [v for v in schema.context_dependent_function_opset_versions
                        if v <= opset]
            if not versions or any(x and x not in types for x in n.input):
                return None
            data = schema.get_context_dependent_function_with_opset_version(
                max(versions), n.SerializeToString(),
                [types[x].SerializeToString() if x else onnx.TypeProto().SerializeToString()
                 for x in n.input])
        f = onnx.FunctionProto()
        f.ParseFromString(data)
    except Exception:  # noqa: BLE001 - no body for these operands: reported as unsupported
        return None
    return f if len(f.node) else None


def _value_types(model: Any) -> dict[str, Any]:
    """Value name -> TypeProto: the graph's inputs and initializers, and what onnx's shape
    inference gives the others."""
    import onnx

    out = {v.name: v.type for v in model.graph.input}
    for t in model.graph.initializer:
        out[t.name] = onnx.helper.make_tensor_type_proto(t.data_type, list(t.dims))
    out.update(_infer(model))
    return out


def _inline_functions(proto: Any) -> Any:
    import onnx.inliner

    try:
        return onnx.inliner.inline_local_functions(proto)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"gc.onnx.load: the model's local functions do not inline ({e})") \
            from None


def _convert(ctx: Context, proto_node: Any) -> None:
    """Convert one node; its results enter ``ctx.values``."""
    node = OnnxNode(name=proto_node.name, op_type=proto_node.op_type, domain=proto_node.domain,
                    inputs=tuple(proto_node.input), outputs=tuple(proto_node.output))
    try:
        node = OnnxNode(node.name, node.op_type, node.domain, node.inputs, node.outputs,
                        decode_attrs(proto_node))
    except (TypeError, ValueError) as e:
        raise ctx.error(node, str(e), type(e)) from None
    if len(ctx.graph) > ctx.max_graph_nodes:
        raise ctx.error(node, f"the graph has grown past {ctx.max_graph_nodes} nodes (unrolled "
                        "loops?); pass a larger max_nodes= to allow more")
    folded = _fold_static(ctx, proto_node, node)
    if folded is not None:
        for name, v in zip(node.outputs, folded):
            if name:
                ctx.values[name] = _as_static(ctx, Static(v))
        return
    fn = CONVERTERS[op_key(node.domain, node.op_type)]
    meta: dict[str, Any] = {"onnx_op": node.op_type}
    if node.name:
        meta["onnx_node"] = node.name
    scope = scope_of(node.name, proto_node)
    if scope:
        meta["scope"] = scope
    try:
        with ctx.graph.annotate(**meta):
            results = list(fn(ctx, node))
    except DataDependentError:
        raise
    except (TypeError, ValueError) as e:
        kind = next(k for k in (ShapeError, TypeError, ValueError) if isinstance(e, k))
        raise kind(_prefixed(node, e)) from e
    except Exception as e:  # noqa: BLE001 - a converter meeting input it cannot handle
        raise ValueError(f"ONNX node {node_label(node)}: cannot convert "
                         f"({type(e).__name__}: {e})") from e
    if len(results) < len([o for o in node.outputs if o]):
        raise ctx.error(node, f"the converter gave {len(results)} results for "
                        f"{len(node.outputs)} outputs")
    for name, r in zip(node.outputs, results):
        if not name:
            continue
        if r is None:
            raise ctx.error(node, f"output {name!r} is not produced")
        if isinstance(r, Static):
            r = _as_static(ctx, r)
        ctx.values[name] = r


#: op types never folded while importing, whatever their operands (draws, training modes)
_NO_FOLD = ("Random", "Bernoulli", "Multinomial", "Dropout", "Constant", "Identity", "Shape",
            "Size")


def _fold_static(ctx: Context, proto_node: Any, node: OnnxNode) -> list[np.ndarray] | None:
    """The results of a node whose operands are all static numbers (no Dims), computed by
    onnx's reference evaluator: constant subgraphs fold with ONNX's own semantics. None when
    the node is not such a node, or the evaluator cannot run it."""
    names = [x for x in node.inputs if x]
    if not names or node.op_type.startswith(_NO_FOLD) or node.domain not in ("", "ai.onnx"):
        return None
    vals = []
    for k, x in enumerate(node.inputs):
        if not x:
            continue
        if not ctx.is_static(node, k):
            return None
        v = ctx.static(node, k)
        if v.dtype == object or v.size > MAX_STATIC_ELEMENTS:
            return None
        vals.append(v)
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator

        feeds = {f"i{k}": v for k, v in enumerate(vals)}
        inner = onnx.NodeProto()
        inner.CopyFrom(proto_node)
        it = iter(feeds)
        del inner.input[:]
        inner.input.extend(next(it) if x else "" for x in node.inputs)
        del inner.output[:]
        outs = [f"o{k}" if o else "" for k, o in enumerate(node.outputs)]
        inner.output.extend(outs)
        with np.errstate(all="ignore"):
            results = ReferenceEvaluator(inner).run(None, feeds)
    except Exception:  # noqa: BLE001 - not foldable here: the converter builds it
        return None
    results = [np.asarray(r) for r in results]
    if any(r.dtype.kind not in "biuf" or r.size > MAX_STATIC_ELEMENTS for r in results):
        return None
    it_r = iter(results)
    return [next(it_r) if o else None for o in node.outputs]


def _prefixed(node: OnnxNode, e: Exception) -> str:
    text = str(e)
    prefix = f"ONNX node {node_label(node)}"
    return text if text.startswith(prefix) else f"{prefix}: {text}"


def _as_static(ctx: Context, s: Static) -> Any:
    """A static result, kept static unless it is too large (then a constant tensor)."""
    v = np.asarray(s.value)
    if v.dtype == object:
        v = _narrow(v)
    if v.size > MAX_STATIC_ELEMENTS and v.dtype != object:
        return ctx.graph.constant(v)
    return Static(v)


def _narrow(v: np.ndarray) -> np.ndarray:
    """An object array without Dims as an int64 array (Dims stay: object dtype)."""
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v.flat):
        return v.astype(np.int64)
    return v


__all__ = ["load", "Context", "DataDependentError", "UnsupportedOpError", "read_model", "MIN_OPSET"]
