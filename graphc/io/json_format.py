"""The graphc model file: a Graph as JSON, arrays as base64 raw bytes, validated on load.

Layout (format ``"graphc.graph"``, version 2)::

    {
      "format": "graphc.graph",  "version": 2,  "graphc": "0.1.0" (writer, informational),
      "name": "curve_fit",  "strict": false,
      "nodes": [   # in id order, which is a topological order
        {"id": 0, "op": "input", "inputs": [], "attrs": {"name": "x"}, "shape": ["B", 1],
         "dtype": "float64", "name": "x", "loc": "model.py:3", "meta": {}},
        {"id": 12, "op": "constant", ..., "value": ARRAY},          # constants only
        ...
      ],
      "params": {"mlp/0/W": ARRAY, ...},   # one value per param node, by name
      "state_updates": [[6, [[3, 31]]]],   # optional: Graph.state_updates records
      "outputs": {"loss": 14}              # named outputs, in declaration order
    }

``ARRAY`` is ``{"dtype": "<f8", "shape": [1, 16], "data": "<base64 of the C-order bytes>"}``
(lossless, byte order included). Attribute and meta values are JSON scalars and lists, where a
JSON list stands for a Python tuple; the rarer types are one-key objects: ``{"shape": [...]}``
(a ``gc.Shape``), ``{"list": [...]}``, ``{"dict": [[k, v], ...]}``, ``{"dtype": "<f8"}``,
``{"float": "nan"}`` (non-finite floats), ``{"scalar": ARRAY}`` (a numpy scalar),
``{"array": ARRAY}``, ``{"slice": [start, stop, step]}``, ``{"dim": "B*T"}`` (a symbolic
dim, its canonical text). A node's ``shape`` holds ints and dims as canonical text (``"B"``,
``"T - 1"``); dim texts are parsed by the dim grammar of ``graphc.ir.dims`` (ints, names,
``+ - * // %``, parentheses), never evaluated. Version 1 (before dim expressions) spelled a
symbol in a ``shape`` attribute as a plain string; such a string still loads as a dim.

``load`` never executes anything from the file (no pickle, no eval). It checks the schema,
every reference (operands, provenance ids, params, outputs), that the graph is acyclic
(networkx), that every op is known, and re-infers every op node's shape and dtype with the
op's own rule, comparing them with the stored ones. Any problem is a ``ValueError`` that says
where and what.

``load`` refuses every graph that ``Graph`` would refuse to build: source nodes are checked
as ``g.input``, ``g.param`` and ``g.constant`` check them (non-empty unique names, dtypes
graphc computes with, a trainable param of a float dtype, concrete shapes for values), op
nodes as ``Graph.apply`` checks them (in a strict graph, the broadcast diagnostics too), and
``meta`` against its schema (``graphc/io/meta.py``: each key graphc writes has one type; any
other key holds a plain JSON scalar). So whatever ``load`` accepts compiles, runs,
differentiates and draws.

Limits. A hostile file cannot make ``load``, or a later call, exhaust the machine: arrays are
decoded only when their bytes are all there (so a declared shape costs what the file holds),
JSON nesting is bounded by the parser's recursion limit, a file of more than ``max_nodes``
nodes (``MAX_NODES``, 100,000, unless ``load`` is told otherwise) is refused before any node
is built, a shape has at most ``MAX_NDIM`` (32) dims, and every node's value must fit
``max_bytes`` (``MAX_BYTES``, 2 GiB, unless told otherwise): its fixed dims' element count,
each symbol counted as 1, times its dtype's itemsize. (A call that binds ``B`` multiplies a
node's size by ``B`` per symbolic axis; that is the caller's choice, not the file's.)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from graphc._version import __version__
from graphc.io.meta import meta_problem
from graphc.ir.dims import Dim, Shape, parse_dim, same_shape
from graphc.ir.dtypes import ALLOWED_KINDS
from graphc.ir.graph import BUILD_CHECKS, Graph
from graphc.ir.node import SOURCE_ROLES, Node, freeze_attrs
from graphc.ir.opdef import check_node, get_op

FORMAT_NAME = "graphc.graph"
FORMAT_VERSION = 2
#: the most nodes ``load`` accepts by default (the biggest models here have a few thousand)
MAX_NODES = 100_000
#: the most bytes one node's value may take by default, each symbol counted as 1: 2 GiB, e.g.
#: (B, 16384, 16384) float64; a compiled call allocates every node's value (or a buffer for it)
MAX_BYTES = 2**31
#: the most dims a shape may have (numpy 1.x's limit; numpy cannot make such an array beyond)
MAX_NDIM = 32

#: a dtype as save writes it: ``float64``, ``<f8``, ``|b1``, ``bool``
_DTYPE_NAME = re.compile(r"[<>=|]?[A-Za-z]{1,12}[0-9]{0,3}")

_TOP_REQUIRED = ("format", "version", "name", "strict", "nodes", "params", "outputs")
_TOP_OPTIONAL = ("graphc", "state_updates")
_NODE_REQUIRED = ("id", "op", "inputs", "attrs", "shape", "dtype", "name", "loc", "meta")


# ================================================================================== encoding
def _encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.asarray(a)
    if a.dtype.kind not in ALLOWED_KINDS or a.dtype.fields is not None:
        raise TypeError(f"cannot save an array of dtype {a.dtype}")
    data = np.ascontiguousarray(a).tobytes(order="C")
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(data).decode("ascii")}


def _encode_value(v: Any, where: str) -> Any:
    """An attribute or meta value as JSON (see the module docstring for the tags)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int) and not isinstance(v, np.generic):
        return v
    if isinstance(v, float) and not isinstance(v, np.generic):
        return v if math.isfinite(v) else {"float": repr(v)}
    if isinstance(v, Shape):
        return {"shape": [_encode_value(d, where) for d in v]}
    if isinstance(v, Dim):
        return {"dim": str(v)}
    if isinstance(v, tuple):
        return [_encode_value(x, where) for x in v]
    if isinstance(v, list):
        return {"list": [_encode_value(x, where) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[_encode_value(k, where), _encode_value(x, where)] for k, x in v.items()]}
    if isinstance(v, np.dtype):
        return {"dtype": v.str}
    if isinstance(v, np.generic):
        return {"scalar": _encode_array(np.asarray(v))}
    if isinstance(v, np.ndarray):
        return {"array": _encode_array(v)}
    if isinstance(v, slice):
        return {"slice": [_encode_value(x, where) for x in (v.start, v.stop, v.step)]}
    raise TypeError(f"cannot save {where}: a value of type {type(v).__name__} ({v!r})")


def _encode_node(n: Node, n_nodes: int) -> dict[str, Any]:
    for k, v in n.meta:  # what load would refuse is refused here, so every saved file loads
        why = meta_problem(k, v, n_nodes)
        if why:
            raise TypeError(f"cannot save meta {k!r} of node {n.id}: {why}")
    d: dict[str, Any] = {
        "id": n.id, "op": n.op, "inputs": list(n.inputs),
        "attrs": {k: _encode_value(v, f"attribute {k!r} of node {n.id}") for k, v in n.attrs},
        "shape": [d if isinstance(d, int) else str(d) for d in n.shape],
        "dtype": n.dtype.name if n.dtype.isnative else n.dtype.str,  # byte order kept
        "name": n.name, "loc": n.loc,
        "meta": {k: _encode_value(v, f"meta {k!r} of node {n.id}") for k, v in n.meta},
    }
    if n.role == "constant":
        d["value"] = _encode_array(n.value)
    return d


def dumps(graph: Graph) -> str:
    """The model file text for ``graph`` (deterministic: one node per line)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"save: expected a gc.Graph, got {type(graph).__name__}")
    for name, t in graph.param_tensors.items():
        arr = graph.params.get(name)
        n = t.node
        if (arr is None or tuple(np.shape(arr)) != tuple(n.shape)
                or np.asarray(arr).dtype != n.dtype):
            raise ValueError(f"save: g.params[{name!r}] does not match its param node "
                             f"({n.shape} {n.dtype})")

    def js(x: Any) -> str:
        return json.dumps(x, ensure_ascii=True, allow_nan=False)

    head = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "graphc": __version__,
            "name": graph.name, "strict": graph.strict}
    lines = ["{"]
    lines += [f"  {js(k)}: {js(v)}," for k, v in head.items()]
    nodes = [f"    {js(_encode_node(n, len(graph)))}" for n in graph.nodes]
    lines.append('  "nodes": [' + ("\n" + ",\n".join(nodes) + "\n  ]," if nodes else "],"))
    params = [f"    {js(k)}: {js(_encode_array(graph.params[k]))}" for k in graph.param_tensors]
    lines.append('  "params": {' + ("\n" + ",\n".join(params) + "\n  }," if params else "},"))
    outs = {k: t.id for k, t in graph.outputs.items()}
    if graph.state_updates:
        records = [[trigger, [list(pair) for pair in pairs]]
                   for trigger, pairs in graph.state_updates]
        lines.append(f'  "state_updates": {js(records)},')
    lines.append(f'  "outputs": {js(outs)}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` (structure, params, provenance) to ``path`` as a graphc JSON model file."""
    text = dumps(graph)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)


# ================================================================================== decoding
class _Bad(ValueError):
    """A validation failure; ``load`` prefixes it with the file name."""


def _fail(where: str, what: str) -> _Bad:
    return _Bad(f"{where}: {what}" if where else what)


def _expect(v: Any, types: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _fail(where, f"expected {what}, got {json.dumps(v)}")
    if not isinstance(v, types):
        shown = json.dumps(v)[:60] if _jsonable(v) else type(v).__name__
        raise _fail(where, f"expected {what}, got {shown}")
    return v


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _keys(d: dict, required: tuple[str, ...], optional: tuple[str, ...], where: str) -> None:
    missing = [k for k in required if k not in d]
    if missing:
        raise _fail(where, f"missing field(s) {', '.join(map(repr, missing))}")
    extra = sorted(k for k in d if k not in required and k not in optional)
    if extra:
        raise _fail(where, f"unknown field(s) {', '.join(map(repr, extra))}")


def _decode_dtype(s: Any, where: str) -> np.dtype:
    _expect(s, str, where, "a dtype name")
    # a name numpy parses as a name: a comma string would reach numpy's literal_eval parser
    if not _DTYPE_NAME.fullmatch(s):
        raise _fail(where, f"{s[:40]!r} is not a numpy dtype name")
    try:
        dt = np.dtype(s)
    except (TypeError, ValueError):
        raise _fail(where, f"{s!r} is not a numpy dtype") from None
    if dt.kind not in ALLOWED_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise _fail(where, f"dtype {s!r} is not one graphc computes with (bool, int, uint, float)")
    return dt


def _decode_shape(v: Any, where: str) -> Shape:
    _expect(v, list, where, "a shape (a list of ints and symbol names)")
    if len(v) > MAX_NDIM:
        raise _fail(where, f"a shape of {len(v)} dims (at most {MAX_NDIM})")
    try:
        return Shape(v)
    except ValueError as e:  # ShapeError
        raise _fail(where, f"bad shape {json.dumps(v)[:60]}: {e}") from None


def _decode_dim(v: Any, where: str) -> Dim:
    """A symbolic dim: its canonical text, parsed by the dim grammar (never evaluated)."""
    _expect(v, str, where, "a dim expression string")
    try:
        d = parse_dim(v)
    except ValueError as e:  # ShapeError
        raise _fail(where, str(e)) from None
    if not isinstance(d, Dim):
        raise _fail(where, f"dim {v!r} has no symbol (an int is stored as an int)")
    return d


def _decode_array(v: Any, where: str) -> np.ndarray:
    _expect(v, dict, where, 'an array {"dtype", "shape", "data"}')
    _keys(v, ("dtype", "shape", "data"), (), where)
    dt = _decode_dtype(v["dtype"], f"{where}: dtype")
    shape = _expect(v["shape"], list, f"{where}: shape", "a list of ints")
    if len(shape) > MAX_NDIM:
        raise _fail(f"{where}: shape", f"an array of {len(shape)} dims (at most {MAX_NDIM})")
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise _fail(f"{where}: shape", f"array dims must be ints >= 0, got {json.dumps(shape)}")
    data = _expect(v["data"], str, f"{where}: data", "a base64 string")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise _fail(f"{where}: data", f"not valid base64 ({e})") from None
    want = math.prod(shape) * dt.itemsize
    if len(raw) != want:
        raise _fail(f"{where}: data", f"{len(raw)} bytes, but shape {tuple(shape)} of {dt} "
                                      f"needs {want}")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def _decode_value(v: Any, where: str) -> Any:
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, list):
        return tuple(_decode_value(x, where) for x in v)
    if isinstance(v, dict):
        if len(v) != 1:
            raise _fail(where, f"a tagged value has exactly one key, got {sorted(v)}")
        ((tag, x),) = v.items()
        if tag == "shape":
            return _decode_shape(x, where)
        if tag == "list":
            return list(_decode_value(_expect(x, list, where, "a list"), where))
        if tag == "dict":
            out = {}
            for item in _expect(x, list, where, "a list of [key, value] pairs"):
                if not isinstance(item, list) or len(item) != 2:
                    raise _fail(where, "a dict is a list of [key, value] pairs")
                k = _decode_value(item[0], where)
                try:
                    out[k] = _decode_value(item[1], where)
                except TypeError:
                    raise _fail(where, f"unhashable dict key {item[0]!r}") from None
            return out
        if tag == "dtype":
            return _decode_dtype(x, where)
        if tag == "float":
            if x not in ("nan", "inf", "-inf"):
                raise _fail(where, f"a tagged float is 'nan', 'inf' or '-inf', got {x!r}")
            return float(x)
        if tag == "scalar":
            a = _decode_array(x, where)
            if a.ndim != 0:
                raise _fail(where, "a scalar has shape []")
            return a[()]
        if tag == "array":
            return _decode_array(x, where)
        if tag == "dim":
            return _decode_dim(x, where)
        if tag == "slice":
            if not isinstance(x, list) or len(x) != 3:
                raise _fail(where, "a slice is [start, stop, step]")
            return slice(*(_decode_value(e, where) for e in x))
        raise _fail(where, f"unknown value tag {tag!r}")
    raise _fail(where, f"unexpected value {v!r}")


def _upgrade_attrs(attrs: dict[str, Any], version: int, where: str) -> dict[str, Any]:
    """A string in a ``shape`` attribute is a dim's spelling (version 1 wrote symbols so;
    version 2 tags dims: ``{"dim": "B*T"}``), parsed by the dim grammar."""
    shape = attrs.get("shape")
    if isinstance(shape, tuple) and any(isinstance(d, str) for d in shape):
        try:
            attrs["shape"] = tuple(Shape(shape))
        except ValueError as e:
            raise _fail(f"{where}: attribute 'shape'", str(e)) from None
    return attrs


def _decode_mapping(v: Any, where: str) -> dict[str, Any]:
    _expect(v, dict, where, "an object")
    return {k: _decode_value(x, f"{where} {k!r}") for k, x in v.items()}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise _Bad(f"duplicate key {k!r} in a JSON object")
        d[k] = v
    return d


def _reject_constant(name: str) -> Any:
    raise _Bad(f"non-standard JSON constant {name} (graphc writes non-finite floats as tags)")


def _check_references(raw_nodes: list[dict]) -> None:
    """Operands and provenance ids exist; the graph is acyclic; ids are topological."""
    n = len(raw_nodes)
    d = nx.DiGraph()
    d.add_nodes_from(range(n))
    for i, rn in enumerate(raw_nodes):
        where = f"node {i} ({rn['op']})"
        ins = _expect(rn["inputs"], list, f"{where}: inputs", "a list of node ids")
        for j in ins:
            if isinstance(j, bool) or not isinstance(j, int):
                raise _fail(f"{where}: inputs", f"operand {json.dumps(j)[:40]} is not a node id")
            if not 0 <= j < n:
                raise _fail(f"{where}: inputs", f"dangling reference to node {j} (the file has "
                                                f"nodes 0..{n - 1})")
            d.add_edge(j, i)
    if not nx.is_directed_acyclic_graph(d):
        cycle = [u for u, _ in nx.find_cycle(d)]
        raise _Bad(f"the graph has a cycle: {' -> '.join(map(str, cycle + cycle[:1]))}")
    for j, i in sorted(d.edges):
        if j >= i:
            raise _fail(f"node {i} ({raw_nodes[i]['op']}): inputs",
                        f"refers to node {j}, which comes later (nodes must be in topological "
                        "order)")


@dataclass(frozen=True)
class _Limits:
    """What ``load`` accepts: the most nodes, the most bytes of one node's value."""

    max_nodes: int
    max_bytes: int
    #: the file's format version (1: symbolic dims in attributes were plain strings)
    version: int = 0


def _build_node(i: int, rn: dict, nodes: list[Node], n_total: int,
                params: dict[str, np.ndarray], limits: _Limits) -> tuple[Node, np.ndarray | None]:
    """One stored node, decoded and checked: its fields, its size, its meta, then a source's
    or its op's rules; returns the node and, for a param, its value."""
    op = rn["op"]
    where = f"node {i} ({op})"
    try:
        opdef = get_op(op)
    except ValueError:
        raise _fail(where, f"unknown op {op!r} (this graphc does not define it)") from None
    role = SOURCE_ROLES.get(op, "op")  # as Node.role will say
    _keys(rn, _NODE_REQUIRED, ("value",) if role == "constant" else (), where)
    s = _Stored(op=op, where=where,
                shape=_decode_shape(rn["shape"], f"{where}: shape"),
                dtype=_decode_dtype(rn["dtype"], f"{where}: dtype"),
                name=_decode_name(rn["name"], where),
                loc=_expect(rn["loc"], str, f"{where}: loc", "a 'file:line' string"),
                attrs=_upgrade_attrs(_decode_mapping(rn["attrs"], f"{where}: attribute"),
                                     limits.version, where),
                meta=_decode_mapping(rn["meta"], f"{where}: meta"))
    _check_size(s, limits.max_bytes)
    _check_meta(s, n_total)
    if role not in ("input", "param") and s.name is not None:
        raise _fail(f"{where}: name", f"only an input or a param has a name, got {s.name!r}")
    operands = [nodes[j] for j in rn["inputs"]]
    value = param_value = None
    if opdef.kind == "source":
        value, param_value = _check_source(s, role, rn, operands, params)
    else:
        _check_op(s, operands)
    node = Node(id=i, op=op, inputs=tuple(rn["inputs"]), attrs=freeze_attrs(s.attrs),
                shape=s.shape, dtype=s.dtype, name=s.name, loc=s.loc,
                meta=freeze_attrs(s.meta), value=value)
    return node, param_value


@dataclass(frozen=True)
class _Stored:
    """The decoded fields of one stored node, before they are checked against each other."""

    op: str
    #: ``node i (op)``, the start of every message about the node
    where: str
    shape: Shape
    dtype: np.dtype
    name: str | None
    loc: str
    attrs: dict[str, Any]
    meta: dict[str, Any]


def _decode_name(name: Any, where: str) -> str | None:
    """A node's name: a string or null."""
    if name is not None:
        _expect(name, str, f"{where}: name", "a string or null")
    return name


def _check_size(s: _Stored, max_bytes: int) -> None:
    """The node's value fits ``max_bytes`` (each symbol counted as 1): a call allocates it."""
    need = math.prod(d for d in s.shape if isinstance(d, int)) * s.dtype.itemsize
    if need > max_bytes:
        raise _fail(f"{s.where}: shape", f"{s.shape} {s.dtype} takes {need} bytes (each symbol "
                                         f"counted as 1), more than the {max_bytes} load accepts "
                                         "for one node (pass max_bytes= to load a bigger model)")


def _check_meta(s: _Stored, n_total: int) -> None:
    """The meta fits its schema (``graphc/io/meta.py``): provenance ids are nodes of the file,
    each key graphc writes holds its type, any other key a plain scalar."""
    for k, v in s.meta.items():
        why = meta_problem(k, v, n_total)
        if why:
            raise _fail(f"{s.where}: meta {k!r}", why)


def _check_source(s: _Stored, role: str, rn: dict, operands: list[Node],
                  params: dict[str, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A source node: no operands; an input or param named by its attributes, a param's value
    in 'params', a constant's in the node. Returns (constant value, param value)."""
    where, attrs, name = s.where, s.attrs, s.name
    if operands:
        raise _fail(where, f"a {role} node takes no operands, got {len(operands)}")
    if role in ("input", "param"):
        if not isinstance(name, str) or not name:
            raise _fail(f"{where}: name", f"an {role} needs a non-empty name")
        want = {"input": ("name",), "param": ("name", "trainable")}[role]
        if sorted(attrs) != sorted(want) or attrs["name"] != name:
            raise _fail(f"{where}: attrs", f"an {role} has attributes {list(want)} with name "
                                           f"{name!r}, got {sorted(attrs)}")
    if role == "input":
        return None, None
    if role == "param":
        if not isinstance(attrs["trainable"], bool):
            raise _fail(f"{where}: attrs", "trainable must be true or false")
        if attrs["trainable"] and s.dtype.kind != "f":
            raise _fail(f"{where}: dtype", f"a trainable param has a float dtype, got {s.dtype} "
                                           "(g.param refuses it too)")
        if name not in params:
            raise _fail(where, f"param {name!r} has no value in 'params'")
        _same(where, "its value in 'params'", params[name], s.shape, s.dtype)
        return None, params[name]
    if attrs:
        raise _fail(f"{where}: attrs", f"a constant has no attributes, got {sorted(attrs)}")
    if "value" not in rn:
        raise _fail(where, "a constant needs a 'value'")
    value = _decode_array(rn["value"], f"{where}: value")
    _same(where, "its value", value, s.shape, s.dtype)
    value.setflags(write=False)
    return value, None


def _check_op(s: _Stored, operands: list[Node]) -> None:
    """An op node: ``check_node`` accepts the stored operands and (canonical) attributes, and
    the shape and dtype the op's rule infers are the stored ones."""
    try:
        _, _, shape, dtype = check_node(s.op, operands, s.attrs, canonical=True)
    except Exception as e:  # noqa: BLE001 - any failure of the rule means a bad file
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _fail(s.where, f"the stored operands/attributes are not valid for {s.op}: "
                             f"{type(e).__name__}: {why}") from None
    if not same_shape(shape, s.shape):
        raise _fail(f"{s.where}: shape", f"stored shape {s.shape} but {s.op} of "
                                         f"{', '.join(str(o.shape) for o in operands)} gives "
                                         f"{shape} (tampered or corrupted file)")
    if dtype != s.dtype:
        raise _fail(f"{s.where}: dtype", f"stored dtype {s.dtype} but {s.op} gives {dtype}")


def _same(where: str, what: str, a: np.ndarray, shape: Shape, dtype: np.dtype) -> None:
    if not shape.is_concrete or tuple(a.shape) != tuple(shape):
        raise _fail(where, f"stored shape {shape} but {what} has shape {Shape(a.shape)}")
    if a.dtype != dtype:
        raise _fail(where, f"stored dtype {dtype} but {what} has dtype {a.dtype}")


def _decode(doc: Any, limits: _Limits) -> Graph:
    """The Graph of a parsed model file, every part of it checked."""
    name, strict = _decode_header(doc)
    limits = _Limits(limits.max_nodes, limits.max_bytes, doc["version"])
    raw_nodes = _node_list(doc["nodes"], limits.max_nodes)
    _check_references(raw_nodes)
    raw_params = _expect(doc["params"], dict, "params", "an object name -> array")
    params = {k: _decode_array(v, f"params {k!r}") for k, v in raw_params.items()}
    g = Graph(name, strict=strict)
    g.name = name
    names = _add_nodes(g, raw_nodes, params, limits)
    _add_outputs(g, doc["outputs"], names)
    _add_state_updates(g, doc.get("state_updates", []))
    return g


def _add_state_updates(g: Graph, v: Any) -> None:
    """``[[trigger id, [[param id, new value id], ...]], ...]``: registered as
    ``Graph.add_state_updates`` checks them (params only, shapes and dtypes that fit)."""
    records = _expect(v, list, "state_updates", "a list of [trigger, [[param, value], ...]]")
    for k, rec in enumerate(records):
        where = f"state_updates[{k}]"
        if not (isinstance(rec, list) and len(rec) == 2 and isinstance(rec[1], list) and rec[1]
                and all(isinstance(p, list) and len(p) == 2 for p in rec[1])):
            raise _fail(where, "a record is [trigger, [[param, value], ...]]")
        ids = [rec[0], *(i for pair in rec[1] for i in pair)]
        if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(g)
               for i in ids):
            raise _fail(where, f"dangling reference in {json.dumps(rec)[:60]}")
        pairs = [(g.tensor(a), g.tensor(b)) for a, b in rec[1]]
        if len({a.id for a, _ in pairs}) != len(pairs):
            raise _fail(where, "a param is updated twice in one record")
        try:
            g.add_state_updates(g.tensor(rec[0]), dict(pairs))
        except (TypeError, ValueError) as e:  # ShapeError is a ValueError
            raise _fail(where, str(e)) from None


def _decode_header(doc: Any) -> tuple[str, bool]:
    """Format, version and top-level fields checked; the graph's name and strictness."""
    _expect(doc, dict, "", "a JSON object at the top level")
    fmt = doc.get("format")
    if fmt != FORMAT_NAME:
        got = "no 'format' field" if "format" not in doc else f"format {fmt!r}"
        raise _Bad(f"not a graphc model file ({got}; expected {FORMAT_NAME!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _Bad(f"bad format version {version!r} (an int >= 1)")
    if version > FORMAT_VERSION:
        raise _Bad(f"format version {version} is newer than this graphc reads "
                   f"(up to {FORMAT_VERSION}); upgrade graphc to load it")
    _keys(doc, _TOP_REQUIRED, _TOP_OPTIONAL, "")
    name = _expect(doc["name"], str, "name", "a string")
    strict = _expect(doc["strict"], bool, "strict", "true or false")
    return name, strict


def _node_list(v: Any, max_nodes: int) -> list[dict]:
    """The stored nodes: at most ``max_nodes`` objects, in id order, each with an op name."""
    raw_nodes = _expect(v, list, "nodes", "a list")
    if len(raw_nodes) > max_nodes:
        raise _fail("nodes", f"{len(raw_nodes)} nodes, more than the {max_nodes} load accepts "
                             "(pass max_nodes= to load a bigger model)")
    for i, rn in enumerate(raw_nodes):
        _expect(rn, dict, f"node {i}", "an object")
        for k in ("id", "op", "inputs"):
            if k not in rn:
                raise _fail(f"node {i}", f"missing field {k!r}")
        if isinstance(rn["id"], bool) or rn["id"] != i:
            raise _fail(f"node {i}", f"id {json.dumps(rn['id'])[:40]} out of order "
                                     "(nodes are stored in id order)")
        _expect(rn["op"], str, f"node {i}: op", "an op name")
    return raw_nodes


def _add_nodes(g: Graph, raw_nodes: list[dict], params: dict[str, np.ndarray],
               limits: _Limits) -> set[str]:
    """Build every node into ``g`` (names unique, every param value used); the names of the
    inputs and params."""
    nodes: list[Node] = []
    seen_names: set[str] = set()
    for i, rn in enumerate(raw_nodes):
        node, pv = _build_node(i, rn, nodes, len(raw_nodes), params, limits)
        if g.strict and node.role == "op":
            _check_strict(g, node)
        if node.role in ("input", "param"):
            if node.name in seen_names:
                raise _fail(f"node {i} ({node.op}): name", f"{node.name!r} is used twice")
            seen_names.add(node.name)
        nodes.append(node)
        g._restore(node, pv)
    unused = sorted(set(params) - set(g.param_tensors))
    if unused:
        raise _Bad(f"params: value(s) for {unused}, which no param node uses")
    return seen_names


def _check_strict(g: Graph, node: Node) -> None:
    """An op node of a strict graph passes the build checks, as ``Graph.apply`` runs them (the
    broadcast diagnostics raise in a strict graph), unless gc.grad built it (it skips them)."""
    if "grad_of" in node.info:
        return
    operands = [g.node(j) for j in node.inputs]
    for check in BUILD_CHECKS:
        try:
            check(g, node.op, operands, node.attr, node.shape, node.dtype, node.loc)
        except (TypeError, ValueError) as e:
            raise _fail(f"node {node.id} ({node.op})", "a strict graph refuses it: "
                                                        f"{str(e).splitlines()[0]}") from None


def _add_outputs(g: Graph, v: Any, names: set[str]) -> None:
    """The named outputs: node ids of ``g``, names not used by an input or param."""
    outputs = _expect(v, dict, "outputs", "an object name -> node id")
    for oname, j in outputs.items():
        where = f"outputs {oname!r}"
        if not oname:
            raise _fail(where, "an output needs a non-empty name")
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(g):
            raise _fail(where, f"dangling reference to node {json.dumps(j)[:40]}")
        if oname in names:
            raise _fail(where, "the name is also used by an input or param")
        g.output(oname, g.tensor(j))


def _parse(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Bad(f"not a text (UTF-8) file: {e}") from None
    if not text.strip():
        raise _Bad("empty file")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        at_end = e.pos >= len(text.rstrip()) - 1 or (
            e.msg.startswith("Unterminated string") and '"' not in text[e.pos + 1:])
        hint = " (truncated?)" if at_end else ""
        raise _Bad(f"not valid JSON{hint}: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise _Bad("not a graphc model file: JSON nested too deeply") from None
    except _Bad:
        raise
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise _Bad(f"not valid JSON: {e}") from None


def loads(text: str | bytes, source: str = "<string>", *, max_nodes: int = MAX_NODES,
          max_bytes: int = MAX_BYTES) -> Graph:
    """The Graph in model-file text; any problem is a ValueError starting with ``source``.
    ``max_nodes`` and ``max_bytes`` (one node's value) bound what a file may ask for."""
    try:
        return _decode(_parse(text), _Limits(max_nodes, max_bytes))
    except _Bad as e:
        raise ValueError(f"{source}: {e}") from None
    except RecursionError:
        raise ValueError(f"{source}: a value is nested too deeply") from None


def load(path: str | os.PathLike, *, max_nodes: int = MAX_NODES,
         max_bytes: int = MAX_BYTES) -> Graph:
    """Read a graphc JSON model file, validating everything (see the module docstring).

    Refused (a ValueError): more than ``max_nodes`` nodes, or a node whose value takes more
    than ``max_bytes`` bytes with every symbol counted as 1 (``MAX_NODES``, ``MAX_BYTES``)."""
    with open(path, "rb") as f:
        data = f.read()
    return loads(data, source=os.fspath(path), max_nodes=max_nodes, max_bytes=max_bytes)

