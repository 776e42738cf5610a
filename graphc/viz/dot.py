"""DOT text for a graph: shapes on every edge, roles and op kinds by shape and colour, module
clusters, depth collapsing, folding of repeated blocks, mirrored forward/backward halves and
the unbroadcast nodes inserted by ``gc.grad`` marked with their provenance.

Everything is emitted in a fixed order from node ids and sorted scopes, with attributes in a
fixed order, so the same graph always gives byte-identical text (golden tests). No user string
reaches the DOT text unescaped: quoted strings go through ``quote`` and HTML-like labels
through ``html``; node and cluster ids are generated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.ir.dims import Dim
from graphc.ir.node import Node, short_loc
from graphc.ir.opdef import get_op
from graphc.ops.indexing import index_text
from graphc.viz.view import Scope, View, make_view

#: fill colour of an op node by its op kind
KIND_COLORS = {
    "elementwise": "#d6eaf8",
    "comparison": "#e8daef",
    "reduction": "#fadbd8",
    "matmul": "#f8c471",
    "shape": "#d1f2eb",
    "index": "#f9e79f",
    "creation": "#d5f5e3",
    "source": "#ffffff",
}
#: (DOT shape, fill colour) by role
ROLE_STYLE = {
    "input": ("invhouse", "#abebc6"),
    "param": ("cylinder", "#fdebd0"),
    "constant": ("ellipse", "#eaeded"),
    "output": ("house", "#abebc6"),
    "update": ("cds", "#fdebd0"),
    "module": ("box3d", "#f4f6f6"),
}
UNBROADCAST_COLOR = "#c0392b"
CROSS_COLOR = "#a6acaf"
FONT = "Helvetica"


# ================================================================================== escaping
#: the longest quoted or HTML-like string written, in UTF-8 bytes with its delimiters: dot
#: refuses a string past 16384 ("longer than 16384?"); a longer name is cut with an ellipsis
MAX_STRING = 16000
#: the most characters of a text shown in a label (a name, a title, an edge's shape): dot
#: fails on a node much wider ("Edge length ... larger than maximum 65535" past about 5000
#: characters); past it, the text is cut with an ellipsis (tooltips keep up to MAX_STRING)
LABEL_CHARS = 1000
ELLIPSIS = "…"


def _clean(s: str) -> str:
    """Control characters (other than newline) as spaces: they have no business in a label."""
    return "".join(c if c == "\n" or (c.isprintable() or c == " ") else " " for c in str(s))


def _quoted_char(c: str) -> str:
    return {"\\": "\\\\", '"': '\\"', "\n": "\\n"}.get(c, c)


def _html_char(c: str) -> str:
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}.get(c, c)


def _fitted(s: str, escape: Any, budget: int, chars: int | None = None) -> str:
    """``s`` cut to ``chars`` characters, escaped character by character and cut to at most
    ``budget`` bytes of UTF-8 (each cut marked with an ellipsis): a cut falls between two
    escapes, never inside one."""
    if chars is not None and len(s) > chars:
        s = s[:chars - 1] + ELLIPSIS
    out = "".join(map(escape, s))
    if len(out.encode("utf-8")) <= budget:
        return out
    kept: list[str] = []
    used = len(ELLIPSIS.encode("utf-8"))
    for c in s:
        e = escape(c)
        used += len(e.encode("utf-8"))
        if used > budget:
            break
        kept.append(e)
    return "".join(kept) + ELLIPSIS


def quote(s: Any, chars: int | None = None) -> str:
    """``s`` as a DOT double-quoted string (escString): backslash, quote and newline escaped,
    cut to ``chars`` characters and ``MAX_STRING`` bytes."""
    return '"' + _fitted(_clean(s), _quoted_char, MAX_STRING - 2, chars) + '"'


def html(s: Any, budget: int = MAX_STRING - 2) -> str:
    """``s`` as text inside a DOT HTML-like label, cut to ``LABEL_CHARS`` characters and
    ``budget`` bytes."""
    return _fitted(_clean(s).replace("\n", " "), _html_char, budget, LABEL_CHARS)


def _attrs(**kw: Any) -> str:
    """``[k=v, ...]`` in the given order; values are quoted unless they are HTML labels."""
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, _Html):
            parts.append(f"{k}=<{v.text}>")
        else:
            parts.append(f"{k}={quote(v, LABEL_CHARS if k == 'label' else None)}")
    return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class _Html:
    text: str


def _label(title: str, *lines: tuple[str, str | None], bold: bool = True) -> _Html:
    """An HTML label: a bold title and small lines (text, colour or None). Past ``MAX_STRING``
    bytes, each text gets an equal share of it (``html`` cuts what is over)."""
    kept = [(t, c) for t, c in lines if t]

    def build(text: Any) -> str:
        head = f"<b>{text(title)}</b>" if bold else text(title)
        return head + "".join(
            f'<br/><font point-size="9"{f" color={quote(c)}" if c else ""}>{text(t)}</font>'
            for t, c in kept)

    label = build(html)
    if len(label.encode("utf-8")) > MAX_STRING - 2:
        share = (MAX_STRING - 2 - len(build(lambda t: "").encode("utf-8"))) // (1 + len(kept))
        label = build(lambda t: html(t, share))
    return _Html(label)


# ================================================================================ formatting
def shape_text(n: Node) -> str:
    """``(B, 16)``, with the dtype when it is not float64."""
    s = str(n.shape)
    return s if n.dtype == np.float64 else f"{s} {n.dtype}"


def _attr_value(k: str, v: Any) -> str:
    if k == "index" and isinstance(v, tuple):
        return index_text(v)
    if isinstance(v, tuple) and all(isinstance(d, (int, Dim)) for d in v) and any(
            isinstance(d, Dim) for d in v):
        return "(" + ", ".join(map(str, v)) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def attr_text(n: Node) -> str:
    """The op's attributes, ``axis=(0,) keepdims=False``."""
    return " ".join(f"{k}={_attr_value(k, v)}" for k, v in n.attrs)


def _constant_text(n: Node) -> str:
    v = n.value
    if v is not None and v.ndim == 0:
        x = v[()]
        if v.dtype.kind == "f":
            return f"{float(x):.6g}"
        return repr(x.item())
    return f"const {n.shape}"


def _kind(n: Node) -> str | None:
    """The kind of ``n``'s op (``reduction``, ...), None for an op this graphc lacks."""
    try:
        return get_op(n.op).kind
    except ValueError:
        return None


def _origin(n: Node) -> str:
    """Where an op node comes from: ``∂%7 add`` for a gradient node, else ``model.py:12``."""
    info = n.info
    if "grad_of" in info:
        return f"∂%{info['grad_of']}" + (f" {info['forward_op']}" if "forward_op" in info
                                          else "")
    if "onnx_op" in info:  # imported by gc.onnx.load: the ONNX node it was converted from
        name = str(info.get("onnx_node", "")).rstrip("/").rsplit("/", 1)[-1]
        return f"ONNX {info['onnx_op']}" + (f" {name}" if name not in ("", info["onnx_op"])
                                            else "")
    return short_loc(n.loc)


def _onnx_tip(n: Node) -> str:
    """The tooltip's note on an imported node: its ONNX node's full name and op type."""
    info = n.info
    if "onnx_op" not in info:
        return ""
    return f"; from ONNX node {info.get('onnx_node', '(unnamed)')!r} ({info['onnx_op']})"


def provenance(n: Node) -> tuple[str, str] | None:
    """(short, long) description of an unbroadcast node inserted by gc.grad, else None; the
    short one is two label lines: ``unbroadcast ∂add[1]`` and ``sum over B @ model.py:20``."""
    info = n.info
    if not info.get("unbroadcast"):
        return None
    fwd = info.get("forward_op", "?")
    operand = info.get("operand")
    red = info.get("reduces") or ()
    axes = info.get("axes") or ()
    loc = info.get("forward_loc", "")
    # sum_to inserts a sum (a reduction) and/or a reshape, both with this provenance
    sums = _kind(n) == "reduction"
    what = "sum over " + ", ".join(map(str, red)) if red and sums else (
        f"sum axes {axes}" if sums else f"reshape to {n.shape}")
    short = f"unbroadcast ∂{fwd}" + (f"[{operand}]" if operand is not None else "")
    short += f"\n{what}"
    long = (f"inserted by gc.grad: the gradient of operand {operand} of {fwd} "
            f"(node %{info.get('forward', '?')}, built at {loc}) had the broadcast shape; "
            f"{n.op} over axes {tuple(axes)}" + (f" (reduces {', '.join(map(str, red))})"
                                                  if red else "") + f" gives {n.shape}")
    return short + (f" @ {short_loc(loc)}" if loc else ""), long


# ==================================================================================== layout
@dataclass
class _Box:
    """A module collapsed by ``depth`` or a run of identical blocks folded by ``fold``."""

    key: tuple
    id: str
    backward: bool
    parent: Scope
    title: str
    members: list[int] = field(default_factory=list)
    count: int = 1


def _signature(view: View, ids: list[int], prefix: Scope) -> tuple:
    """A canonical form of a block's nodes: ops, attrs, shapes and internal wiring. A param's
    name counts from the block's scope, and an ``index`` is left out: blocks that differ only
    in the slice they read are the same block (time step ``t3`` of an RNN reads ``x[:, 3]``)."""
    local = {i: k for k, i in enumerate(ids)}
    sig = []
    for i in ids:
        n = view.node(i)
        attrs = tuple((k, v) for k, v in n.attrs if k != "index")
        if n.role == "param":
            rel = (n.name or "").split("/")[len(prefix):]
            attrs = tuple((k, "/".join(rel) if k == "name" else v) for k, v in attrs)
        ins = tuple(("in", local[j]) if j in local else
                    ("ext", str(view.node(j).shape), str(view.node(j).dtype)) for j in n.inputs)
        sig.append((n.op, repr(attrs), str(n.shape), str(n.dtype), ins))
    return tuple(sig)


def _between(view: View, run: set[int], bw: bool, parent: Scope,
             taken: dict[int, tuple]) -> set[int]:
    """The nodes of scope ``parent`` (same half) that sit between the blocks of a folded run:
    on a path from one block to another (the activations ``gc.nn.MLP`` applies between its
    layers, and their gradients), or read only by such nodes (the ``1 - tanh**2`` of a tanh
    gradient). A node that feeds the first block or reads the last one only is not between."""
    local = [i for i in view.ids if i not in run and i not in taken
             and view.backward[i] == bw and view.scope[i] == parent
             and view.node(i).role == "op"]
    if not local:
        return set()
    users: dict[int, set[int]] = {}
    for i in view.ids:
        for j in view.node(i).inputs:
            users.setdefault(j, set()).add(i)
    outputs = {i for _, i in view.outputs} | {i for _, i in view.updates}
    # ids are a topological order: a forward sweep finds what reads a block, a backward
    # sweep what feeds one, both only through parent-scope nodes
    after: set[int] = set()
    for i in local:
        if any(j in run or j in after for j in view.node(i).inputs):
            after.add(i)
    before: set[int] = set()
    for i in reversed(local):
        if any(u in run or u in before for u in users.get(i, ())):
            before.add(i)
    mid = after & before
    for i in reversed(local):
        if i not in mid and i not in outputs and users.get(i) and users[i] <= mid:
            mid.add(i)
    return mid


def _plan(view: View, depth: int | None, fold: bool) -> tuple[dict[int, _Box], list[_Box]]:
    """Which nodes are drawn inside a box (collapsed module or folded run), and the boxes."""
    in_box = _collapsed(view, depth) if depth is not None else {}
    boxes: dict[tuple, _Box] = {}
    if fold:
        _fold(view, in_box, boxes)
    return _numbered(in_box, boxes)


def _collapsed(view: View, depth: int) -> dict[int, tuple]:
    """Node -> key of its module box, for the nodes of modules nested deeper than ``depth``."""
    in_box: dict[int, tuple] = {}
    for i in view.ids:
        s = view.scope[i]
        if s is not None and len(s) > depth:
            in_box[i] = ("module", view.backward[i], s[:depth + 1])
    return in_box


def _sibling_blocks(view: View, in_box: dict[int, tuple]
                    ) -> tuple[dict[tuple[bool, Scope], list[int]],
                               dict[tuple[bool, Scope], list[Scope]]]:
    """The nodes of each (half, scope) not in a box yet, and each (half, parent)'s child
    scopes in order of their first node."""
    members: dict[tuple[bool, Scope], list[int]] = {}
    for i in view.ids:
        s = view.scope[i]
        if s and i not in in_box:
            for k in range(1, len(s) + 1):
                members.setdefault((view.backward[i], s[:k]), []).append(i)
    by_parent: dict[tuple[bool, Scope], list[Scope]] = {}
    for (bw, s), _ids in sorted(members.items(), key=lambda kv: kv[1][0]):
        by_parent.setdefault((bw, s[:-1]), []).append(s)
    return members, by_parent


def _runs(sigs: list) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of two or more equal neighbours in ``sigs``."""
    k = 0
    while k < len(sigs):
        e = k + 1
        while e < len(sigs) and sigs[e] == sigs[k]:
            e += 1
        if e - k >= 2:
            yield k, e
        k = e


def _fold(view: View, in_box: dict[int, tuple], boxes: dict[tuple, _Box]) -> None:
    """Each run of identical sibling blocks (and the nodes between them) into one box, added
    to ``in_box`` and ``boxes``; the blocks inside a folded run are not folded again."""
    members, by_parent = _sibling_blocks(view, in_box)
    folded: set[tuple[bool, Scope]] = set()
    for (bw, parent), kids in sorted(by_parent.items()):
        if any((bw, parent[:k]) in folded for k in range(1, len(parent) + 1)):
            continue
        sigs = [_signature(view, members[(bw, s)], s) for s in kids]
        for k, e in _runs(sigs):
            key = ("fold", bw, kids[k])
            run_ids: set[int] = set()
            for s in kids[k:e]:
                folded.add((bw, s))
                run_ids.update(members[(bw, s)])
            run_ids |= _between(view, run_ids, bw, parent, in_box)
            for i in run_ids:
                in_box[i] = key
            # named in reading order (the backward half meets the blocks reversed)
            run = sorted(kids[k:e], key=lambda s: (len(s[-1]), s[-1]))
            boxes[key] = _Box(key, "", bw, parent, f"{'/'.join(run[0])} … {run[-1][-1]}",
                              count=e - k)


def _numbered(in_box: dict[int, tuple], boxes: dict[tuple, _Box]
              ) -> tuple[dict[int, _Box], list[_Box]]:
    """Every box with its members, ids numbered in order of first node; node -> its box."""
    for i, key in in_box.items():
        if key not in boxes:
            _, bw, s = key
            boxes[key] = _Box(key, "", bw, s[:-1], "/".join(s))
        boxes[key].members.append(i)
    ordered = sorted(boxes.values(), key=lambda b: (min(b.members), b.key))
    for k, b in enumerate(ordered):
        b.id = f"{'b' if b.backward else 'f'}box{k}"
        b.members.sort()
    return {i: boxes[key] for i, key in in_box.items()}, ordered


# ===================================================================================== to_dot
class _Writer:
    def __init__(self, view: View, depth: int | None, fold: bool, legend: bool,
                 title: str | None, rankdir: str, stack: bool):
        self.v = view
        self.depth = depth
        self.fold = fold
        self.legend = legend
        self.title = title
        self.rankdir = rankdir
        self.box_of, self.boxes = _plan(view, depth, fold)
        self.mirror = view.has_backward
        #: backward half below the forward one (else beside it, ranks aligned)
        self.stack = stack and self.mirror
        #: dot id -> half and dot id -> cluster, and the (src, dst) of the edges that
        #: constrain the layout
        self.half: dict[str, bool] = {}
        self.at: dict[str, Scope] = {}
        self.links: list[tuple[str, str]] = []
        #: (backward, scope) -> lines of its body; nodes register themselves here
        self.bodies: dict[tuple[bool, Scope], list[str]] = {}
        self.edges: list[str] = []
        #: (forward node, (half, cluster)) -> id of its copy there (stacked layout)
        self.refs: dict[tuple[int, tuple[bool, Scope]], str] = {}

    # --------------------------------------------------------------------------- ids
    def rep(self, i: int) -> str:
        b = self.box_of.get(i)
        return b.id if b else f"n{i}"

    def place(self, backward: bool, scope: Scope, line: str) -> None:
        for k in range(len(scope) + 1):
            self.bodies.setdefault((backward, scope[:k]), [])
        self.bodies[(backward, scope)].append(line)
        nid = line.split(" ", 1)[0]
        self.half[nid], self.at[nid] = backward, scope

    # ------------------------------------------------------------------------- nodes
    def node_line(self, i: int, nid: str | None = None) -> str:
        """The statement that draws node ``i`` (as ``nid``, default ``n{i}``), styled by role."""
        n = self.v.node(i)
        tip = f"%{n.id} {n.op} {shape_text(n)} built at {n.loc}{_onnx_tip(n)}"
        draw = {"input": self._input_attrs, "param": self._param_attrs,
                "constant": self._constant_attrs}.get(n.role, self._op_attrs)
        return f"{nid or f'n{i}'} " + draw(i, n, tip) + ";"

    def _input_attrs(self, i: int, n: Node, tip: str) -> str:
        """An input: its name and shape."""
        shape, fill = ROLE_STYLE["input"]
        return _attrs(label=_label(n.name or "?", (f"input {shape_text(n)}", None)),
                      shape=shape, style="filled", fillcolor=fill, tooltip=tip)

    def _param_attrs(self, i: int, n: Node, tip: str) -> str:
        """A param or (not trainable) state: its name in its module, shape and size."""
        shape, fill = ROLE_STYLE["param"]
        size = int(np.prod([d for d in n.shape if isinstance(d, int)], dtype=np.int64))
        if self.v.scope[i] in self.v.update_scopes:
            short = (n.name or "?").split("/", 1)[-1]   # m/mlp/0/W: whose state
        else:
            short = (n.name or "?").rsplit("/", 1)[-1]
        kind = "param" if n.attr.get("trainable", True) else "state"
        return _attrs(label=_label(short, (f"{kind} {shape_text(n)}", None),
                                   (f"{size} values", None)),
                      shape=shape, style="filled", fillcolor=fill, tooltip=f"{n.name}: {tip}")

    def _constant_attrs(self, i: int, n: Node, tip: str) -> str:
        """A constant: its value when it is a scalar."""
        shape, fill = ROLE_STYLE["constant"]
        return _attrs(label=_constant_text(n), shape=shape, style="filled", fillcolor=fill,
                      fontsize="9", height="0.3", tooltip=f"constant {tip}")

    def _op_attrs(self, i: int, n: Node, tip: str) -> str:
        """An op: its attributes, unbroadcast provenance and origin, filled by its kind."""
        prov = provenance(n)
        lines: list[tuple[str, str | None]] = [(attr_text(n), None)]
        if prov:
            lines += [(t, UNBROADCAST_COLOR) for t in prov[0].split("\n")]
        lines.append((f"%{n.id} · {_origin(n)}", "#566573"))
        style = "rounded,filled" + (",bold" if prov else "")
        return _attrs(
            label=_label(n.op, *lines), shape="box", style=style,
            fillcolor=KIND_COLORS.get(_kind(n) or "elementwise", "#ffffff"),
            color=UNBROADCAST_COLOR if prov else None, penwidth="2.5" if prov else None,
            tooltip=(prov[1] + "; " if prov else "") + tip)

    def ref_line(self, i: int, nid: str) -> str:
        """A forward value as the backward half reads it (stacked layout): dashed outline,
        the forward node's fill."""
        n = self.v.node(i)
        if n.role in ("input", "param"):
            text, fill = n.name or "?", ROLE_STYLE[n.role][1]
        else:
            kind = _kind(n)
            fill = KIND_COLORS.get(kind, "#ffffff") if kind else ROLE_STYLE["constant"][1]
            text = f"{n.op} %{n.id}"
        return (f"{nid} " + _attrs(
            label=text, shape="box", style="rounded,dashed,filled", fillcolor=fill,
            color=CROSS_COLOR, fontsize="9", height="0.3",
            tooltip=f"forward value %{n.id} {n.op} {shape_text(n)}, read by the backward "
                    f"half (built at {n.loc})") + ";")

    def box_line(self, b: _Box) -> str:
        ops = Counter(self.v.node(i).op for i in b.members if self.v.node(i).role == "op")
        params = [self.v.node(i) for i in b.members if self.v.node(i).role == "param"]
        size = sum(int(np.prod([d for d in p.shape if isinstance(d, int)], dtype=np.int64))
                   for p in params)
        # a folded box holds all its identical blocks (and the parent-scope ops between
        # them): counts per block where they divide evenly, else the totals, said so
        k = b.count if all(c % b.count == 0 for c in [*ops.values(), len(params), size]) else 1
        per = " per block" if k > 1 else " in all" if b.count > 1 else ""
        ops = Counter({op: c // k for op, c in ops.items()})
        n_ops, size = sum(ops.values()), size // k
        summary = ", ".join(f"{op}×{c}" if c > 1 else op for op, c in sorted(ops.items()))
        lines = [(f"{n_ops} ops{per}: {summary}" if n_ops else "no ops", None)]
        if params:
            lines.append((f"{len(params) // k} params, {size} values{per}", None))
        if any(self.v.node(i).info.get("unbroadcast") for i in b.members):
            lines.append(("contains unbroadcast sum/reshape", UNBROADCAST_COLOR))
        title = b.title + (f"  ×{b.count}" if b.count > 1 else "")
        if b.backward:
            title = "∂ " + title
        shape, fill = ROLE_STYLE["module"]
        return (f"{b.id} " + _attrs(label=_label(title, *lines), shape=shape, style="filled",
                                    fillcolor=fill, peripheries="2" if b.count > 1 else None,
                                    tooltip=("folded: " if b.count > 1 else "module ")
                                    + b.title) + ";")

    # ------------------------------------------------------------------------- edges
    def edge(self, src: str, dst: str, label: str, backward_pair: bool, cross: bool) -> None:
        if not cross:
            self.links.append((src, dst))
        if backward_pair and self.mirror and not self.stack:
            # mirrored half: lay the edge out reversed (gradients flow up), arrow kept right
            self.edges.append(f"{dst} -> {src} " + _attrs(label=label, dir="back") + ";")
        elif cross:
            # a forward value read by the backward half: beside it, the edge would tie the
            # halves' ranks; below it, it points down like the rest and is laid out with them
            self.edges.append(f"{src} -> {dst} " + _attrs(
                label=label, style="dashed", color=CROSS_COLOR, fontcolor=CROSS_COLOR,
                constraint=None if self.stack else "false") + ";")
        else:
            self.edges.append(f"{src} -> {dst} " + _attrs(label=label) + ";")

    # ----------------------------------------------------------------------- compose
    def build(self) -> str:
        """The DOT text: nodes and boxes in their clusters, edges and markers, drawn as one
        or two halves, then the layout hints and the legend."""
        self.place_nodes()
        self.draw_edges()
        self.draw_markers()
        out = self.header()
        counter = [0]
        for bw in (False, True):
            if any(key[0] == bw for key in self.bodies):
                out += self.half_block(bw, counter)
        if self.stack:
            out += self._stack_anchor() + self._stack_modules()
        if self.legend:
            out += self._legend()
        # an edge into or out of a box stands for all the edges it hides with the same shape
        out += ["  " + e for e in dict.fromkeys(self.edges)]
        out.append("}")
        return "\n".join(out) + "\n"

    def drawn(self) -> int:
        """How much ``build`` drew: its nodes (boxes, markers, values drawn again included)
        and clusters (modules, and the two halves)."""
        modules = sum(1 for _, s in self.bodies if s)
        halves = len({bw for bw, _ in self.bodies}) if self.mirror else 0
        return len(self.half) + modules + halves

    def where(self, i: int) -> tuple[bool, Scope]:
        """The half and cluster of node ``i`` (its scope, cut at ``depth``)."""
        s = self.v.scope[i]
        return self.v.backward[i], (s or ())[: (self.depth if self.depth is not None else None)]

    def home(self, i: int) -> tuple[bool, Scope]:
        """Where the drawing of ``i`` sits: its cluster, or its box's parent."""
        b = self.box_of.get(i)
        return (b.backward, b.parent) if b else self.where(i)

    def place_nodes(self) -> None:
        """Every node in its cluster, a box once in its parent's; scalar constants are drawn
        once per use, next to the consumer (``draw_edge``)."""
        placed_boxes: set[str] = set()
        for i in self.v.ids:
            n = self.v.node(i)
            b = self.box_of.get(i)
            if b is not None:
                if b.id not in placed_boxes:
                    placed_boxes.add(b.id)
                    self.place(b.backward, b.parent, self.box_line(b))
                continue
            if n.role == "constant" and n.ndim == 0:
                continue
            self.place(*self.where(i), self.node_line(i))

    def draw_edges(self) -> None:
        """One edge from each distinct operand to its consumer."""
        drawn = set(self.v.ids)
        for i in self.v.ids:
            dst = self.rep(i)
            for j in dict.fromkeys(self.v.node(i).inputs):
                if j in drawn:
                    self.draw_edge(j, i, dst)

    def draw_edge(self, j: int, i: int, dst: str) -> None:
        """The edge operand ``j`` -> node ``i`` (drawn as ``dst``): none inside a box, a scalar
        constant drawn beside its use, and in the stacked layout a forward value read by the
        backward half drawn again there (``ref``) instead of an edge across the picture. Beside
        it, the forward values that a backward box (collapsed module, folded run) reads are not
        drawn: the box sums its contents up without them, and such edges trip dot 2.43's
        ranking of clusters ("trouble in init_rank" on a folded RNN's gradient)."""
        v = self.v
        p = v.node(j)
        if p.role == "constant" and p.ndim == 0:
            if i not in self.box_of:  # used inside a box: not drawn
                cid = f"n{j}_{i}"
                self.place(*self.where(i), self.node_line(j, cid))
                self.edge(cid, dst, shape_text(p), v.backward[i], False)
            return
        src = self.rep(j)
        if src == dst:
            return
        bw_src, bw_dst = v.backward[j], v.backward[i]
        if bw_src != bw_dst and not self.stack and i in self.box_of:
            return
        if self.stack and bw_src != bw_dst:
            self.edge(self.ref(j, self.home(i)), dst, shape_text(p), True, False)
            return
        self.edge(src, dst, shape_text(p), bw_src and bw_dst, bw_src != bw_dst)

    def ref(self, j: int, at: tuple[bool, Scope]) -> str:
        """The id of forward value ``j`` drawn again in cluster ``at``, placed on first use."""
        rid = self.refs.get((j, at))
        if rid is None:
            rid = self.refs[(j, at)] = f"r{j}_{len(self.refs)}"
            self.place(*at, self.ref_line(j, rid))
        return rid

    def draw_markers(self) -> None:
        """A marker for each named output and each param update, fed by its value."""
        for k, (name, i) in enumerate(self.v.outputs):
            n = self.v.node(i)
            self.marker(f"out{k}", i, "output", _label(name, (f"output {shape_text(n)}", None)),
                        f"output {name}: %{i}")
        for k, (name, i) in enumerate(self.v.updates):
            n = self.v.node(i)
            self.marker(f"upd{k}", i, "update", _label(f"update {name}", (shape_text(n), None)),
                        f"new value of {name}: %{i}")

    def marker(self, mid: str, i: int, role: str, label: _Html, tooltip: str) -> None:
        """Marker ``mid`` (an output or update) beside node ``i``, with an edge from it."""
        shape, fill = ROLE_STYLE[role]
        self.place(*self.home(i), f"{mid} " + _attrs(label=label, shape=shape, style="filled",
                                                     fillcolor=fill, tooltip=tooltip) + ";")
        self.edge(self.rep(i), mid, shape_text(self.v.node(i)), self.v.backward[i], False)

    def header(self) -> list[str]:
        """The opening line and the graph, node and edge defaults."""
        v = self.v
        title = self.title if self.title is not None else (
            f"{v.graph.name}" + (" — forward and backward (gc.grad)" if self.mirror else ""))
        return [
            f"digraph {quote(v.graph.name)} {{",
            "  " + "graph " + _attrs(label=title, labelloc="t", fontname=FONT, fontsize="16",
                                     rankdir=self.rankdir, newrank="true", nodesep="0.3",
                                     ranksep="0.35", compound="true") + ";",
            "  " + "node " + _attrs(fontname=FONT, fontsize="11", margin="0.08,0.04") + ";",
            "  " + "edge " + _attrs(fontname=FONT, fontsize="9", color="#566573",
                                    arrowsize="0.6") + ";",
        ]

    def half_block(self, bw: bool, counter: list[int]) -> list[str]:
        """The clusters of one half; with both halves drawn, inside the half's own cluster."""
        if not self.mirror:
            return self._scope_block(bw, (), "  ", counter)
        flow = "down" if self.stack else "up"
        label = f"backward (gc.grad): gradients flow {flow}" if bw else "forward"
        out = [f"  subgraph cluster_{'backward' if bw else 'forward'} {{"]
        out.append("    graph " + _attrs(
            label=label, style="rounded,filled", color="#b3b6b7",
            fillcolor="#fef5e7" if bw else "#fbfcfc", fontname=FONT, fontsize="13") + ";")
        out += self._scope_block(bw, (), "    ", counter)
        out.append("  }")
        return out

    def _scope_block(self, bw: bool, scope: Scope, indent: str, counter: list[int]) -> list[str]:
        out = [indent + line for line in self.bodies.get((bw, scope), [])]
        kids = sorted(k[1] for k in self.bodies if k[0] == bw and len(k[1]) == len(scope) + 1
                      and k[1][:len(scope)] == scope)
        for kid in kids:
            counter[0] += 1
            cid = f"cluster_{'b' if bw else 'f'}{counter[0]}"
            out.append(f"{indent}subgraph {cid} {{")
            mark = "∂ " if bw and kid not in self.v.update_scopes else ""
            out.append(indent + "  graph " + _attrs(
                label=mark + "/".join(kid), style="rounded,dashed",
                color="#7f8c8d", fontname=FONT, fontsize="11") + ";")
            out += self._scope_block(bw, kid, indent + "  ", counter)
            out.append(f"{indent}}}")
        return out

    def _stack_anchor(self) -> list[str]:
        """Invisible edges through one point that hold the backward half below the forward
        one: from every forward sink (a node no forward edge leaves) to every backward source
        (a node no backward edge enters). Weight 0: they order the halves without pulling
        each source up to the top of its half (a ``1 - tanh**2`` stays beside its use)."""
        has_out = {s for s, d in self.links if self.half.get(d) is False}
        has_in = {d for s, d in self.links if self.half.get(s) is True}
        ids = list(self.half)
        sinks = [k for k in ids if self.half[k] is False and k not in has_out]
        sources = [k for k in ids if self.half[k] is True and k not in has_in]
        inv = _attrs(style="invis", weight="0")
        return (["  stack_anchor " + _attrs(shape="point", style="invis", width="0",
                                            height="0") + ";"]
                + [f"  {k} -> stack_anchor {inv};" for k in sinks]
                + [f"  stack_anchor -> {k} {inv};" for k in sources])

    def _stack_modules(self) -> list[str]:
        """Invisible edges that stack sibling modules as the data flows through them: when
        unit U (a sibling cluster, or a node beside them) feeds cluster V and V does not feed
        U, V's sources go below U's sinks. The two layers of an MLP then sit one above the
        other, in the backward half too, instead of side by side (a narrower picture)."""
        inv = _attrs(style="invis", weight="0")
        succ: dict[str, set[str]] = {}
        pred: dict[str, set[str]] = {}
        for src, dst in self.links:
            if src in self.at and dst in self.at:
                succ.setdefault(src, set()).add(dst)
                pred.setdefault(dst, set()).add(src)
        # the dot ids under each (half, cluster), nested clusters included
        under: dict[tuple[bool, Scope], list[str]] = {}
        for k, s in self.at.items():
            for d in range(len(s) + 1):
                under.setdefault((self.half[k], s[:d]), []).append(k)

        out: list[str] = []
        for bw, parent in sorted(under):
            def unit(k: str) -> tuple[str, Any]:
                s = self.at[k]
                return ("cluster", s[:len(parent) + 1]) if len(s) > len(parent) else ("node", k)

            def members(u: tuple[str, Any]) -> list[str]:
                return [u[1]] if u[0] == "node" else under[(bw, u[1])]

            level = set(under[(bw, parent)])
            feeds: dict[tuple, set[tuple]] = {}
            for k in sorted(level):
                for d in succ.get(k, ()):
                    if d in level and unit(k) != unit(d):
                        feeds.setdefault(unit(k), set()).add(unit(d))
            for a in sorted(feeds):
                for b in sorted(feeds[a]):
                    if b[0] != "cluster" or a in feeds.get(b, ()):
                        continue
                    ka, kb = set(members(a)), set(members(b))
                    sinks = sorted(k for k in ka if not succ.get(k, set()) & ka)
                    sources = sorted(k for k in kb if not pred.get(k, set()) & kb)
                    out += [f"  {x} -> {y} {inv};" for x in sinks for y in sources]
        return list(dict.fromkeys(out))

    def _legend(self) -> list[str]:
        """A key below the drawing: one HTML table node, a few rows of role and op-kind
        colours and the unbroadcast marking (compact, so it does not widen the picture)."""
        rows = [(f"{r} ({ROLE_STYLE[r][0]})", ROLE_STYLE[r][1], None)
                for r in ("input", "param", "constant", "output")]
        if self.v.updates:
            rows.append((f"update ({ROLE_STYLE['update'][0]})", ROLE_STYLE["update"][1], None))
        rows += [(f"{k} op", c, None) for k, c in KIND_COLORS.items() if k != "source"]
        rows.append(("unbroadcast sum / reshape (gc.grad)", KIND_COLORS["reduction"],
                     UNBROADCAST_COLOR))
        cols = 4
        thick = ' border="3"'
        cells = [
            f'<td bgcolor={quote(fill)}{f" color={quote(border)}" if border else ""}'
            f'{thick if border else ""}><font point-size="9">{html(text)}</font></td>'
            for text, fill, border in rows]
        cells += ['<td border="0"></td>'] * (-len(cells) % cols)
        body = "".join("<tr>" + "".join(cells[k:k + cols]) + "</tr>"
                       for k in range(0, len(cells), cols))
        table = ('<table border="0" cellborder="1" cellspacing="2" cellpadding="3">'
                 f'<tr><td border="0" colspan="{cols}"><b>legend</b></td></tr>{body}</table>')
        # below everything: an invisible edge from each node that no edge leaves
        has_out = {s for s, _ in self.links}
        inv = _attrs(style="invis", weight="0")
        return (["  legend " + _attrs(label=_Html(table), shape="plaintext") + ";"]
                + [f"  {k} -> legend {inv};" for k in self.half if k not in has_out])


def _check(depth: Any, rankdir: Any) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be an int >= 0 or None, got {depth!r}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")


def to_dot(target: Any, *, depth: int | None = None, fold: bool = False, legend: bool = False,
           title: str | None = None, rankdir: str = "TB", stack: bool = False) -> str:
    """DOT text for a Graph, Tensor, list of Tensors or Function (no graphviz binary needed).

    ``depth``: draw module clusters (from scoped names such as ``mlp/0/W``) nested at most
    ``depth`` deep; deeper modules collapse into one box each (``depth=0``: every top-level
    module is one box). ``fold``: runs of identical sibling blocks (``blocks/0``,
    ``blocks/1``, ...) become one box marked ``×N``. ``legend`` adds a key. When the graph
    has gradient nodes, forward and backward are drawn as mirrored halves (the backward half
    in its own cluster, laid out bottom-up beside the forward one); ``stack=True`` draws the
    backward half below the forward one instead, gradients flowing down (a narrow picture
    for a page: the README's). The output is deterministic. Scopes deeper than 64 levels
    keep their first 63 and join the rest into the last; a label shows at most 1000
    characters of a name, a tooltip at most 16,000 bytes (graphviz's limit is 16,384), cut
    with an ellipsis.
    """
    _check(depth, rankdir)
    return _Writer(make_view(target), depth, bool(fold), bool(legend), title, rankdir,
                   bool(stack)).build()


@dataclass(frozen=True)
class Fit:
    """A diagram drawn within a budget (``fit_dot``)."""

    #: the DOT text
    text: str
    #: nodes and clusters of the diagram as asked
    size: int
    #: nodes and clusters of ``text``
    drawn: int
    #: the depth chosen to fit, or None when drawn as asked
    depth: int | None
    #: True when the diagram as asked has module scopes that a depth could collapse
    collapsible: bool


def fit_dot(target: Any, max_nodes: int | None, *, depth: int | None = None,
            fold: bool = False, legend: bool = False, title: str | None = None,
            rankdir: str = "TB", stack: bool = False) -> Fit:
    """``to_dot(target, depth=depth, ...)``, unless that draws more than ``max_nodes`` nodes
    and clusters and ``depth`` is None: then drawn with the deepest ``depth`` that fits
    (``depth=0`` when none does). ``max_nodes`` None or 0: no budget."""
    _check(depth, rankdir)
    view = make_view(target)

    def draw(d: int | None) -> tuple[str, int]:
        w = _Writer(view, d, bool(fold), bool(legend), title, rankdir, bool(stack))
        return w.build(), w.drawn()

    text, size = draw(depth)
    deepest = max((len(s) for s in view.scope.values() if s), default=0)
    if not max_nodes or size <= max_nodes or depth is not None or deepest == 0:
        return Fit(text, size, size, None, depth is None and deepest > 0)
    # a shallower depth draws less: bisect for the deepest that fits, else depth 0
    chosen, (text, drawn) = 0, draw(0)
    lo, hi = 1, deepest - 1
    while lo <= hi and drawn <= max_nodes:
        mid = (lo + hi) // 2
        t, n = draw(mid)
        if n <= max_nodes:
            chosen, text, drawn, lo = mid, t, n, mid + 1
        else:
            hi = mid - 1
    return Fit(text, size, drawn, chosen, True)
