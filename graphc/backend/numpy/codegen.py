"""Codegen, the numpy backend's last step: a lowered, planned program as the source of one
Python function over numpy.

Every identifier in the generated code is made here (``in_0``, ``s0``, ``tanh_7``); user
strings (input names, param names, graph names) never enter the source: names and other
objects the code needs are passed in through its namespace.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from graphc.backend.numpy.memory import MemoryPlan, alias_root, plan_memory, root_kind
from graphc.backend.numpy.plans import PlanCache
from graphc.errors import ShapeError
from graphc.ir.binding import bind, constraints_of, solve_steps, unmet
from graphc.ir.dims import (
    Shape,
    definitely_equal,
    is_symbolic,
    same_shape,
    symbol_of,
    symbols_of,
)
from graphc.ir.graph import Graph
from graphc.ir.node import Node, at_user, describe, short_loc, where_built
from graphc.ir.opdef import all_ops, get_op
from graphc.ir.program import Program
from graphc.ops import kernels


class EmitContext:
    """What a kernel's ``emit`` sees: its node, operand nodes, shape code, ``out=`` buffer,
    the per-binding resources the plan made for it, and a way to put objects into the
    generated function's namespace."""

    def __init__(self, namespace: dict[str, Any], symbols: dict[str, str]):
        self._ns = namespace
        self._symbols = symbols
        self._refs: dict[Any, str] = {}
        self.node: Node | None = None
        self.inputs: list[Node] = []
        self.out: str | None = None
        #: node id -> index of its ones vector; slot -> its flat view's name
        self.ones_of: dict[int, int] = {}
        self.flat_of: dict[int, str] = {}
        #: the codes of what the kernel reads, and their slots (for ``flat``)
        self.args: list[str] = []
        self.slots: list[int | None] = []

    def dim(self, d: Any) -> str:
        """Code for one dim: an int literal, the variable bound to a symbol, or an
        expression of those variables (``s0*s1``, ``(s1 + 1)//2``)."""
        if not is_symbolic(d):
            return str(int(d))
        return self._symbols[d.name] if d.name else f"({d.render(self._symbols.__getitem__)})"

    def shape_code(self, shape: Shape) -> str:
        dims = [self.dim(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    @property
    def shape(self) -> str:
        """Code for this node's output shape."""
        return self.shape_code(self.node.shape)

    def ones(self) -> str:
        """The ones vector the plan made for this node (a ``needs_plan`` kernel)."""
        return f"ones_{self.ones_of[self.node.id]}"

    def flat(self, k: int) -> str | None:
        """Operand ``k`` flattened, as a view: the flat view of its buffer, the operand
        itself when it is 1-D, else None (a ``flat`` kernel then flattens it itself)."""
        slot = self.slots[k]
        if slot in self.flat_of:
            return self.flat_of[slot]
        return self.args[k] if self.inputs[k].ndim == 1 else None

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


def var_name(n: Node, input_pos: dict[int, int]) -> str:
    if n.role == "input":
        return f"in_{input_pos[n.id]}"
    if n.role == "param":
        return f"p_{n.id}"
    if n.role == "constant":
        return f"c_{n.id}"
    return f"{n.op}_{n.id}"


def generate(prog: Program, plan: MemoryPlan | None = None, fn_name: str = "graphc_fn",
             check_finite: bool | str = False) -> tuple[str, dict[str, Any]]:
    """Python source of the compiled function, and the namespace it runs in.

    The function is ``fn(P, *inputs) -> outputs`` where ``P`` is the graph's params dict:
    it checks and binds the inputs, takes a buffer set for this binding (``plan``; None runs
    every op allocating), runs one line per node, copies results that alias memory it does
    not own, then commits the updates: the in-place tail, then ``copyto`` for the rest. The
    caller owns every array returned. ``check_finite``: True checks every float value as it
    is computed; ``"outputs"`` checks only the float outputs, once everything is computed
    and before the commit.
    """
    e = _Emitter(prog, plan or plan_memory(prog, enabled=False), check_finite)
    e.function(fn_name)
    return "\n".join(e.lines) + "\n", e.ns


class _Emitter:
    """The state of one ``generate`` call: the lines so far, the namespace, the names."""

    def __init__(self, prog: Program, plan: MemoryPlan, check_finite: bool | str):
        self.prog, self.plan, self.g = prog, plan, prog.graph
        self.check_finite = check_finite
        self.ns: dict[str, Any] = {"xp": np, "rt": kernels, "ndarray": np.ndarray}
        self.input_nodes = [self.g.node(i) for i in prog.inputs]
        self.input_pos = {n.id: k for k, n in enumerate(self.input_nodes)}
        self.ns["INPUTS"] = self.input_nodes
        self.symbols: dict[str, str] = {}
        self.ctx = EmitContext(self.ns, self.symbols)
        self.lines: list[str] = []
        self.emit = self.lines.append
        self.names = {i: var_name(self.g.node(i), self.input_pos) for i in prog.schedule}
        self.held: list[str] = []
        #: source line -> the node it computes, so that a numpy error raised at run time can
        #: be reported at the user's line (see ``runtime_error``)
        self.line_nodes: dict[int, Node] = {}
        self.ns["LINE_NODES"] = self.line_nodes

    # ---------------------------------------------------------------------- prologue
    def prologue(self, fn_name: str) -> None:
        """The steps before any value is computed: the signature, the inputs' checks, the
        symbols solved and bound, the conditions the shape rules assumed (every backend's
        driver starts so)."""
        self.signature_and_inputs(fn_name)
        self.solve_and_check()
        self.check_bound()
        self.check_constraints()

    def function(self, fn_name: str) -> None:
        """The whole function, step by step (the steps a subclass may override)."""
        self.prologue(fn_name)
        self.buffers()
        self.params_and_constants()
        self.body()
        owned, returned = self.results()
        self.guard_outputs(owned)
        self.commit(owned)
        self.emit(f"    return {returned[0]}" if self.prog.single
                  else f"    return [{', '.join(returned)}]")

    def signature_and_inputs(self, fn_name: str) -> None:
        """``def fn(P, in_0, ...)``, then per input: convert, check rank and dims, bind."""
        args = ", ".join(var_name(n, self.input_pos) for n in self.input_nodes)
        self.emit(f"def {fn_name}(P{', ' if args else ''}{args}):")
        if self.input_nodes:
            self.emit("    # inputs: convert, check rank and dims, bind symbols")
        for k, n in enumerate(self.input_nodes):
            self._input(k, n)
        self.ns["rt_convert"] = _convert
        self.ns["rt_fail"] = _fail_factory(self.input_nodes)

    def _input(self, k: int, n: Node) -> None:
        v = var_name(n, self.input_pos)
        dt = self.ctx.ref(n.dtype, "dt")
        self.emit(f"    if {v}.__class__ is not ndarray or {v}.dtype != {dt}:")
        self.emit(f"        {v} = rt_convert(INPUTS[{k}], {v})")
        conds = [f"{v}.ndim != {n.ndim}"]
        binds = []
        first_here: dict[str, int] = {}  # symbols this input binds: not assigned until checked
        for axis, d in enumerate(n.shape):
            sym = symbol_of(d)
            if sym is not None and sym not in self.symbols:
                self.symbols[sym] = f"s{len(self.symbols)}"
                first_here[sym] = axis
                binds.append(f"    {self.symbols[sym]} = {v}.shape[{axis}]  # {d}")
            elif sym is not None and sym in first_here:  # (B, B): compare with its first axis
                conds.append(f"{v}.shape[{axis}] != {v}.shape[{first_here[sym]}]")
            elif not is_symbolic(d) or sym is not None:
                conds.append(f"{v}.shape[{axis}] != {self.ctx.dim(d)}")
        self.emit(f"    if {' or '.join(conds)}:")
        ins = ", ".join(var_name(m, self.input_pos) for m in self.input_nodes[: k + 1])
        self.emit(f"        rt_fail({k}, ({ins},))  # {n.shape} {n.dtype}")
        self.lines.extend(binds)

    def solve_and_check(self) -> None:
        """Symbols solved from linear expression dims of the inputs (``T`` from ``T - 1``),
        then every expression dim of every input checked against its value."""
        if not self.input_nodes:
            return
        last = len(self.input_nodes) - 1
        every = ", ".join(var_name(m, self.input_pos) for m in self.input_nodes)
        fail = f"rt_fail({last}, ({every},))"
        for k, axis, sym, a, rest in solve_steps(self.input_nodes):
            v = self.symbols[sym] = f"s{len(self.symbols)}"
            have = f"{var_name(self.input_nodes[k], self.input_pos)}.shape[{axis}]"
            rest_code = "" if rest == 0 else f" - {self.ctx.dim(rest)}"
            self.emit(f"    # {sym} from {self.input_nodes[k].shape[axis]}")
            if a == 1:
                self.emit(f"    {v} = {have}{rest_code}")
                self.emit(f"    if {v} < 0:")
            else:
                self.emit(f"    {v}, r = divmod({have}{rest_code}, {a})")
                self.emit(f"    if r or {v} < 0:")
            self.emit(f"        {fail}")
        conds = []
        for n in self.input_nodes:
            for axis, d in enumerate(n.shape):
                if is_symbolic(d) and d.name is None and all(
                        x in self.symbols for x in d.symbols):
                    conds.append(f"{var_name(n, self.input_pos)}.shape[{axis}] != "
                                 f"{self.ctx.dim(d)}")
        if conds:
            self.emit("    # expression dims of the inputs")
            self.emit(f"    if {' or '.join(conds)}:")
            self.emit(f"        {fail}")

    def check_constraints(self) -> None:
        """What the shape rules assumed of the symbols (a slice's bounds inside its axis,
        equal element counts), checked once per call before anything runs."""
        g = self.g
        found = constraints_of([g.node(i) for i in self.prog.schedule],
                               lambda n: [g.node(j) for j in n.inputs])
        found = [(c, n) for c, n in found if all(x in self.symbols for x in c.expr.symbols)]
        if not found:
            return
        self.ns["rt_unmet"] = _unmet_factory(found, self.input_nodes, list(self.symbols))
        self.emit("    # what the shape rules assumed of the symbols")
        args = ", ".join(self.symbols.values()) + ("," if len(self.symbols) == 1 else "")
        for j, (c, n) in enumerate(found):
            op = "!=" if c.equal else "<"
            self.emit(f"    if {self.ctx.dim(c.expr)} {op} 0:  # {c.why} @ "
                      f"{_short_loc(n.loc)}")
            self.emit(f"        rt_unmet({j}, ({args}))")

    def check_bound(self) -> None:
        """Every symbol of every node's shape is bound by some input."""
        for i in self.prog.schedule:
            n = self.g.node(i)
            unbound = [s for s in symbols_of(n.shape, n.attr) if s not in self.symbols]
            if unbound:
                raise ShapeError(at_user(
                    f"{n.op} node %{n.id} has shape {n.shape}, but no input of the compiled "
                    f"function binds {', '.join(unbound)}", n.loc))

    def buffers(self) -> None:
        """Take this binding's buffer set (slots, static values, views, ones, flat views,
        arenas) from its pool, or make one."""
        plan, names = self.plan, self.names
        held = [f"b{k}" for k in range(len(plan.slots))]
        held += [names[i] for i in plan.static] + [names[i] for i in plan.views]
        held += [f"ones_{k}" for k in range(len(plan.ones))]
        held += [f"flat_b{s}" for s in plan.flats]
        held += [f"arena_{k}" for k in range(len(plan.arenas))]
        self.held = held
        self.ctx.ones_of = plan.ones_of
        self.ctx.flat_of = {s: f"flat_b{s}" for s in plan.flats}
        cache = PlanCache(self.prog, plan, list(self.symbols))
        self.ns["POOLS"], self.ns["rt_plan"] = cache.pools, cache.make
        sym = list(self.symbols.values())
        key = "(" + ", ".join(sym) + ")" if len(sym) > 1 else (sym[0] if sym else "None")
        if not held:
            return
        self.emit(f"    # buffers for this binding: {plan.describe()}")
        self.emit("    try:")
        self.emit(f"        pool = POOLS[{key}]")
        self.emit(f"        POOLS.move_to_end({key})  # least recently used bindings go first")
        self.emit("        M = pool.pop()")
        self.emit("    except (KeyError, IndexError):")
        self.emit(f"        pool, M = rt_plan({key})")
        self.emit(f"    {', '.join(held)}{',' if len(held) == 1 else ''} = M")

    def params_and_constants(self) -> None:
        """Params are read from ``P`` per call; constants live in the namespace."""
        for i in self.prog.schedule:
            n = self.g.node(i)
            if n.role == "param":
                name = self.ctx.ref(n.name, "name")
                self.emit(f"    {self.names[i]} = P[{name}]  # param {n.shape} {n.dtype}")
            elif n.role == "constant":
                self.ns[self.names[i]] = n.value
        self._distinct_params()
        if self.check_finite:
            self.ns["rt_nonfinite"], self.ns["rt_isfinite"] = _nonfinite, math.isfinite
        if self.check_finite is True:
            # inputs and params; values computed once per binding (static) or folded into
            # constants at compile time, which a body line would not check
            static = set(self.plan.static)
            for i in self.prog.schedule:
                n = self.g.node(i)
                if n.role in ("input", "param") or i in static or (
                        n.role == "constant" and "origin" in n.info):
                    self.check(i)

    def _distinct_params(self) -> None:
        """The params a step writes must not share memory with each other or with a param
        the in-place commit reads (a param replaced by a view of another): checked when
        their arrays change, a few ``is`` per call."""
        written = {p for p, _ in self.prog.updates}
        read = {j for v in self.plan.tail for j in self.g.node(v).inputs
                if self.g.node(j).role == "param"}
        params = sorted(written | read)
        if len(params) < 2 or len(written) < 1:
            return
        names = [self.names[p] for p in params]
        seen = self.ctx.ref([None] * len(names), "seen")
        same = " or ".join(f"{v} is not {seen}[{k}]" for k, v in enumerate(names))
        self.ns["rt_distinct"] = _distinct
        info = self.ctx.ref([(self.g.node(p), p in written) for p in params], "params")
        self.emit(f"    if {same}: rt_distinct({seen}, {info}, ({', '.join(names)},))")

    # -------------------------------------------------------------------------- body
    def check(self, i: int) -> None:
        """check_finite mode: stop at the first value that is NaN or inf."""
        n = self.g.node(i)
        if self.check_finite is True and n.dtype.kind == "f":
            self.emit(f"    if not xp.isfinite({self.names[i]}).all(): "
                      f"rt_nonfinite({self.ctx.ref(n, 'node')}, {self.names[i]})")

    def statement(self, i: int, out: str | None) -> str:
        """One node's statement: its kernel's code, ``# op shape`` and provenance."""
        g, ctx, plan = self.g, self.ctx, self.plan
        n = g.node(i)
        kernel = plan.lowering.kernel[i]
        reads = plan.lowering.reads[i]
        ins = [g.node(j) for j in reads]
        ctx.node, ctx.inputs, ctx.out = n, ins, out
        args = [self.names[j] for j in reads]
        if out is not None and get_op(n.op).kind in ("elementwise", "comparison"):
            args = [_broadcast_operand(n, ins, k, v) for k, v in enumerate(args)]
        ctx.args, ctx.slots = args, [plan.out.get(j) for j in reads]
        expr = kernel.emit(args, n.attr, ctx)
        note = " in place" if i in plan.inplace else ""
        return (f"{self.names[i]} = {expr}  # {n.op} {n.shape}{note}{_provenance(n)}"
                f" @ {_short_loc(n.loc)}")

    def emit_node(self, i: int | None, text: str) -> None:
        """A source line computing node ``i`` (a numpy error on it names the node)."""
        if i is not None:
            self.line_nodes[len(self.lines) + 1] = self.g.node(i)  # lines count from 1
        self.emit(text)

    def line(self, i: int, out: str | None) -> None:
        """One node's line, and its check in check_finite mode."""
        self.emit_node(i, f"    {self.statement(i, out)}")
        self.check(i)

    def body(self) -> None:
        """One line per node, in order (hoisted views and the tail excluded), then the
        gradient arenas' one call each."""
        plan, g = self.plan, self.g
        hoisted = set(plan.views)
        in_arena = {m for *_, members in plan.arenas for m in members}
        body = [i for i in plan.order if i not in plan.tail and i not in hoisted]
        if body:
            self.emit("    # body: one line per node")
        for i in body:
            for j in g.node(i).inputs:
                if j in plan.lowering.fused:  # it has no line of its own
                    m = g.node(j)
                    self.emit(f"    # {m.op} {m.shape}: {self.names[j]}, fused into "
                              f"{self.names[i]} ({plan.lowering.kernel[i].name})")
            if i not in in_arena:
                self.line(i, f"b{plan.out[i]}" if i in plan.out else None)
        for k, (s, first, slots, members) in enumerate(plan.arenas):
            a = f"arena_{k}"
            operands = f"{self.names[s]}, {a}" if first else f"{a}, {self.names[s]}"
            self.emit(f"    xp.multiply({operands}, out={a})  # multiply: {len(members)} "
                      "values, one call over their buffers (the gradient arena)")
            for m, slot in zip(members, slots):
                n = g.node(m)
                self.emit(f"    {self.names[m]} = b{slot}  # {n.op} {n.shape} in the arena")

    # -------------------------------------------------------------------------- epilogue
    def copy(self, i: int, why: str, k: int) -> str:
        name = f"r_{k}"
        self.emit(f"    {name} = xp.array({self.names[i]}, copy=True)  # {why}")
        return name

    def results(self) -> tuple[dict[int, str], list[str]]:
        """The caller owns every array returned: one this call allocated, writable, sharing
        memory with nothing else returned. A value in a buffer, param, input, constant or
        static value is copied, and so are a broadcast view (read-only, overlapping) and a
        second array over memory already returned. An update value only has to survive until
        the commit, which writes params only: params and inputs (which may be the user's
        param arrays) are copied, anything else is read where it is."""
        prog, plan, g = self.prog, self.plan, self.g
        owned: dict[int, str] = {}
        returned: list[str] = []
        handed: set[int] = set()  # alias roots of the fresh arrays returned as they are
        for i in prog.outputs:
            root = alias_root(prog, i)
            k = len(owned) + len(returned)
            if root_kind(prog, plan, i) != "fresh" or root in handed or _broadcasts(g, i):
                name = self.copy(i, "the caller owns it", k)
            elif g.node(i).ndim == 0:
                # numpy gives scalars (np.float64) for 0-d results; the caller gets 0-d
                # arrays, as from gc.evaluate
                name = f"r_{k}"
                self.emit(f"    {name} = xp.asarray({self.names[i]})  # 0-d: an array, as "
                          "evaluate gives")
            else:
                name = self.names[i]
            handed.add(root)
            owned.setdefault(i, name)
            returned.append(name)
        for _, v in prog.updates:
            if v not in owned and v not in plan.tail:
                owned[v] = (self.copy(v, "read by the commit, after params change",
                                      len(owned) + len(returned))
                            if root_kind(prog, plan, v) in ("param", "input") else self.names[v])
        return owned, returned

    def guard_outputs(self, owned: dict[int, str]) -> None:
        """check_finite="outputs": a non-finite output (the loss), or a non-finite value an
        update is made of (a gradient), raises before anything is committed."""
        if self.check_finite != "outputs":
            return
        for i in dict.fromkeys(self.prog.outputs):
            self._guard(i, owned[i])
        for p, v in self.prog.updates:
            if v not in self.plan.tail:
                self._guard(v, owned[v])
                continue
            # the value is computed into the param itself by the commit: check what it is
            # computed from (the param is finite: it was checked when it was committed)
            for j in dict.fromkeys(self.g.node(v).inputs):
                if j != p and self.g.node(j).role == "op":
                    self._guard(j, self.names[j])

    def _guard(self, i: int, code: str) -> None:
        n = self.g.node(i)
        if n.dtype.kind != "f":
            return
        ok = f"rt_isfinite({code})" if n.ndim == 0 else f"xp.isfinite({code}).all()"
        self.emit(f"    if not {ok}: rt_nonfinite({self.ctx.ref(n, 'node')}, {code})")

    def commit(self, owned: dict[int, str]) -> None:
        """The updates: the in-place tail, then ``copyto`` for the rest, all or nothing; the
        buffer set goes back to its pool."""
        plan = self.plan
        stmts: list[tuple[int | None, str]] = [
            (v, self.statement(v, self.names[plan.tail[v]])) for v in plan.tail]
        stmts += [(None, f"xp.copyto({self.names[p]}, {owned[v]}, casting='same_kind')")
                  for p, v in self.prog.updates if v not in plan.tail]
        if len(stmts) == 1:
            self.emit("    # commit: everything is computed; nothing below can fail on checked "
                      "shapes")
            self.emit_node(stmts[0][0], f"    {stmts[0][1]}")
        elif stmts:
            self._atomic_commit(stmts)
        if self.held:
            self.emit("    pool.append(M)")

    def _atomic_commit(self, stmts: list[tuple[int | None, str]]) -> None:
        """The commit, finished whatever interrupts it: ``k`` is the statement started last;
        Python runs a signal handler (KeyboardInterrupt) only after a call returns, so when
        one raises, statement k is done, and the handler runs the rest before re-raising."""
        self.emit("    # commit: everything is computed. All or nothing: an interrupt (or a numpy "
                  "error) part way through")
        self.emit("    # finishes the commit, then is raised")
        self.emit("    k = 0")
        self.emit("    try:")
        for k, (i, text) in enumerate(stmts, 1):
            self.emit_node(i, f"        k = {k}; {text}")
        self.emit("    except BaseException:")
        self.emit(f"        while k < {len(stmts)}:")
        self.emit("            try:")
        for k, (i, text) in enumerate(stmts, 1):
            self.emit_node(i, f"                if k < {k}: k = {k}; {text}")
        self.emit("            except BaseException:")
        self.emit("                pass  # (a second interrupt: the first one is raised)")
        self.emit("        raise")


def _short_loc(loc: str) -> str:
    """``short_loc`` for a comment: a file name is a user string, so one with anything but
    letters, digits and ``_.-`` is left out."""
    name, _, line = short_loc(loc if isinstance(loc, str) else "?").rpartition(":")
    return f"{name}:{line}" if _SAFE_NAME.fullmatch(name) and line.isdigit() else "?"


_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,80}")


def _provenance(n: Node) -> str:
    """`` over B: unbroadcast of add at model.py:12`` for a node the autodiff driver inserted
    to sum a gradient back to a broadcast operand's shape (what the diagrams show). Meta may
    come from a file: only symbol names and a registered op's name reach the comment."""
    info = n.info
    if not info.get("unbroadcast"):
        return ""
    red = info.get("reduces")
    red = red if isinstance(red, (tuple, list)) and all(map(_is_name, red)) else ()
    what = f" over {', '.join(red)}" if red and info.get("axes") else ""
    fwd = info.get("forward_op")
    fwd = fwd if isinstance(fwd, str) and fwd in all_ops() else "?"
    return f"{what}: unbroadcast of {fwd} at {_short_loc(info.get('forward_loc', '?'))}"


def _is_name(s: object) -> bool:
    return isinstance(s, str) and s.isidentifier() and s.isascii()


def _broadcasts(graph: Graph, i: int) -> bool:
    """True when node ``i`` is a broadcast view, or a view of one (read-only memory)."""
    n = graph.node(i)
    while get_op(n.op).view:
        if n.op == "broadcast_to":
            return True
        n = graph.node(n.inputs[0])
    return False


def _broadcast_operand(n: Node, ins: list[Node], k: int, code: str) -> str:
    """The code for operand ``k`` of elementwise ``n``, reshaped (a view, the same values) so
    that numpy takes its fast loop instead of its general broadcasting iterator (~0.3 us
    instead of ~0.8 us at small sizes; the view costs ~0.05 us):

    * one element broadcast against an operand of ``n``'s shape: ``x.squeeze()``, 0-d
      (numpy's scalar path), e.g. the bias ``(1,)`` of a ``(B, 1)`` layer;
    * an operand lacking ``n``'s leading symbolic axes: ``x[None]``, e.g. the bias ``(64,)``
      in ``(B, 64) + (64,)``, whose shapes then match exactly at B = 1.
    """
    x = ins[k]
    if x.ndim == 0 or same_shape(x.shape, n.shape):
        return code
    if all(definitely_equal(d, 1) for d in x.shape):
        # same dtypes: a 0-d operand promotes like an array under NEP 50, but not in numpy 1
        if x.dtype == n.dtype and any(same_shape(m.shape, n.shape) and m.dtype == n.dtype
                                      for j, m in enumerate(ins) if j != k):
            return f"{code}.squeeze()"
        return code
    missing = n.ndim - x.ndim
    if missing <= 0 or not all(is_symbolic(d) for d in n.shape[:missing]):
        return code
    if not all(definitely_equal(a, b) for a, b in zip(x.shape, n.shape[missing:])):
        return code
    return f"{code}[{', '.join(['None'] * missing)}]"


def _nonfinite(node: Node, value: Any) -> None:
    """Raise NonFiniteError naming ``node``: op, shape, user line (and its forward node's)."""
    from graphc.errors import NonFiniteError

    v = np.asarray(value)
    n_nan, n_inf = int(np.isnan(v).sum()), int(np.isinf(v).sum())
    what = ", ".join(p for p in (f"{n_nan} nan" if n_nan else "", f"{n_inf} inf" if n_inf
                                                                  else "") if p)
    if node.role in ("input", "param"):
        head = f"{node.role} {node.name!r} {node.shape} holds {what} (of {v.size} values)"
    else:
        head = f"{describe(node)} produced {what} (of {v.size} values)"
    err = NonFiniteError(f"{head}\n{where_built(node)}")
    err.value, err.node = v, node
    raise err


def _distinct(seen: list, params: list[tuple[Node, bool]], arrays: tuple) -> None:
    """Raise when a param the step writes shares memory with another param it writes or
    reads in the commit; else remember the arrays (checked again only when one changes)."""
    for a in range(len(arrays)):
        for b in range(a):
            if (params[a][1] or params[b][1]) and np.may_share_memory(arrays[a], arrays[b]):
                raise ValueError(
                    f"params {params[b][0].name!r} and {params[a][0].name!r} share memory, and "
                    "the step writes one of them: give each its own array (np.copy)")
    seen[:] = arrays


def _convert(node: Node, value: Any) -> np.ndarray:
    from graphc.ir.binding import convert_input

    return convert_input(node, value)


def _fail_factory(nodes: list[Node]):
    def fail(k: int, arrays: tuple) -> None:
        bind(nodes[: k + 1], arrays, complete=k == len(nodes) - 1)
        raise AssertionError("graphc bug: an input check failed but binding found no error")

    return fail


def _unmet_factory(found: list, nodes: list[Node], symbols: list[str]):
    def unmet_at(j: int, values: tuple) -> None:
        binding = dict(zip(symbols, values))
        bound_by: dict[str, str] = {}
        bind(nodes, [np.broadcast_to(np.empty((), n.dtype), Shape(n.shape).bind(binding))
                     for n in nodes], bound_by=bound_by)
        raise unmet(*found[j], binding, bound_by)

    return unmet_at
