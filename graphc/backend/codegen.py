"""Codegen: a scheduled program lowered to the source of one Python function over numpy.

Every identifier in the generated code is made here (``in_0``, ``s0``, ``tanh_7``); user
strings (input names, param names, graph names) never enter the source: names and other
objects the code needs are passed in through its namespace.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.ir.dims import Shape, definitely_equal, is_symbol
from graphc.ir.graph import Graph
from graphc.ir.node import Node, at_user, where_built
from graphc.ir.opdef import get_op
from graphc.ir.program import Program
from graphc.ops import kernels


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
        #: the memory plan's fusions (see _kernel): node id -> ones vector index (gemv), ->
        #: (operand code, flat) for a sum of squares, -> Python operator for a 0-d op
        self.gemv: dict[int, int] = {}
        self.sumsq: dict[int, tuple[str, bool]] = {}
        self.scalar_ops: dict[int, str] = {}

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


def var_name(n: Node, input_pos: dict[int, int]) -> str:
    if n.role == "input":
        return f"in_{input_pos[n.id]}"
    if n.role == "param":
        return f"p_{n.id}"
    if n.role == "constant":
        return f"c_{n.id}"
    return f"{n.op}_{n.id}"


def generate(prog: Program, plan: Any = None, fn_name: str = "graphc_fn",
             check_finite: bool | str = False) -> tuple[str, dict[str, Any]]:
    """Python source of the compiled function, and the namespace it runs in.

    The function is ``fn(P, *inputs) -> outputs`` where ``P`` is the graph's params dict:
    it checks and binds the inputs, takes a buffer set for this binding (``plan``: a
    ``graphc.backend.memory.MemoryPlan``; None runs every op allocating), runs one line per
    node, copies results that alias memory it does not own, then commits the updates: the
    in-place tail, then ``copyto`` for the rest. The caller owns every array returned.
    ``check_finite``: True checks every float value as it is computed; ``"outputs"`` checks
    only the float outputs, once everything is computed and before the commit.
    """
    from graphc.backend.memory import SCALAR_OPS, alias_root, plan_memory, root_kind

    if plan is None:
        plan = plan_memory(prog, enabled=False)
    g = prog.graph
    ns: dict[str, Any] = {"xp": np, "rt": kernels, "ndarray": np.ndarray}
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
        first_here: dict[str, int] = {}  # symbols this input binds: not assigned until checked
        for axis, d in enumerate(n.shape):
            if is_symbol(d) and d not in symbols:
                symbols[d] = f"s{len(symbols)}"
                first_here[d] = axis
                binds.append(f"    {symbols[d]} = {v}.shape[{axis}]  # {d}")
            elif is_symbol(d) and d in first_here:  # (B, B): compare with its first axis
                conds.append(f"{v}.shape[{axis}] != {v}.shape[{first_here[d]}]")
            else:
                conds.append(f"{v}.shape[{axis}] != {ctx.dim(d)}")
        emit(f"    if {' or '.join(conds)}:")
        ins = ", ".join(var_name(m, input_pos) for m in input_nodes[: k + 1])
        emit(f"        rt_fail({k}, ({ins},))  # {n.shape} {n.dtype}")
        lines.extend(binds)
    ns["rt_convert"] = _convert
    ns["rt_fail"] = _fail_factory(input_nodes)

    for i in prog.schedule:
        n = g.node(i)
        unbound = [s for s in n.shape.symbols if s not in symbols]
        if unbound:
            from graphc.errors import ShapeError

            raise ShapeError(at_user(
                f"{n.op} node %{n.id} has shape {n.shape}, but no input of the compiled "
                f"function binds {', '.join(unbound)}", n.loc))

    # ---------------------------------------------------------- buffers for this binding
    names: dict[int, str] = {i: var_name(g.node(i), input_pos) for i in prog.schedule}
    held = [f"b{k}" for k in range(len(plan.slots))]
    held += [names[i] for i in plan.static] + [names[i] for i in plan.views]
    held += [f"ones_{k}" for k in range(len(plan.ones))]
    held += [f"flat_b{s}" for s in plan.flats] + [f"arena_{k}" for k in range(len(plan.arenas))]
    ctx.gemv = plan.gemv
    ctx.sumsq = {i: (f"flat_b{plan.out[d]}" if plan.out.get(d) in plan.flats
                     else names[d], g.node(d).ndim == 1 or plan.out.get(d) in plan.flats)
                 for i, d in plan.sumsq.items()}
    ctx.scalar_ops = {i: SCALAR_OPS[g.node(i).op] for i in plan.scalar_ops}
    from graphc.backend.plans import PlanCache

    cache = PlanCache(prog, plan, list(symbols))
    ns["POOLS"], ns["rt_plan"] = cache.pools, cache.make
    key = ("(" + ", ".join(symbols.values()) + ")" if len(symbols) > 1
           else next(iter(symbols.values()), "None"))
    if held:
        emit(f"    # buffers for this binding: {plan.describe()}")
        emit("    try:")
        emit(f"        pool = POOLS[{key}]")
        emit("        M = pool.pop()")
        emit("    except (KeyError, IndexError):")
        emit(f"        pool, M = rt_plan({key})")
        emit(f"    {', '.join(held)}{',' if len(held) == 1 else ''} = M")

    # --------------------------------------------------------------------- params, body
    for i in prog.schedule:
        n = g.node(i)
        if n.role == "param":
            emit(f"    {names[i]} = P[{ctx.ref(n.name, 'name')}]  # param {n.shape} {n.dtype}")
        elif n.role == "constant":
            ns[names[i]] = n.value

    def check(i: int) -> None:
        """check_finite mode: stop at the first value that is NaN or inf."""
        n = g.node(i)
        if check_finite is True and n.dtype.kind == "f":
            emit(f"    if not xp.isfinite({names[i]}).all(): "
                 f"rt_nonfinite({ctx.ref(n, 'node')}, {names[i]})")

    if check_finite:
        ns["rt_nonfinite"], ns["rt_isfinite"] = _nonfinite, math.isfinite
    if check_finite is True:
        for i in prog.schedule:
            if g.node(i).role in ("input", "param"):
                check(i)

    #: source line -> the node it computes, so that a numpy error raised at run time can be
    #: reported at the user's line (see ``runtime_error``)
    line_nodes: dict[int, Node] = {}
    ns["LINE_NODES"] = line_nodes

    def line(i: int, out: str | None) -> None:
        n = g.node(i)
        ctx.node, ctx.inputs, ctx.out = n, [g.node(j) for j in n.inputs], out
        operands = [names[j] for j in n.inputs]
        if out is not None and get_op(n.op).kind in ("elementwise", "comparison"):
            ins = [g.node(j) for j in n.inputs]
            operands = [_broadcast_operand(n, ins, k, v) for k, v in enumerate(operands)]
        expr = _kernel(n, operands, ctx) or get_op(n.op).emit(operands, n.attr, ctx)
        note = " in place" if i in plan.inplace else ""
        line_nodes[len(lines) + 1] = n  # source line numbers start at 1
        emit(f"    {names[i]} = {expr}  # {n.op} {n.shape}{note}")
        check(i)

    hoisted = set(plan.views)
    in_arena = {m for *_, members in plan.arenas for m in members}
    body = [i for i in plan.order if i not in plan.tail and i not in hoisted]
    if body:
        emit("    # body: one line per node")
    for i in body:
        if i in plan.sumsq:  # the square it reads has no line of its own
            sq = g.node(g.node(i).inputs[0])
            emit(f"    # {sq.op} {sq.shape}: {names[sq.id]}, fused into {names[i]} (one dot)")
        if i not in in_arena:
            line(i, f"b{plan.out[i]}" if i in plan.out else None)
    for k, (s, first, slots, members) in enumerate(plan.arenas):
        a = f"arena_{k}"
        operands = f"{names[s]}, {a}" if first else f"{a}, {names[s]}"
        emit(f"    xp.multiply({operands}, out={a})  # multiply: {len(members)} values, "
             f"one call over their buffers (the gradient arena)")
        for m, slot in zip(members, slots):
            n = g.node(m)
            emit(f"    {names[m]} = b{slot}  # {n.op} {n.shape} in the arena")

    # ---------------------------------------------------------------- results, ownership
    # The caller owns every array returned: one this call allocated, writable, sharing memory
    # with nothing else returned. A value in a buffer, param, input, constant or static value
    # is copied, and so are a broadcast view (read-only, overlapping) and a second array over
    # memory already returned. An update value only has to survive until the commit below,
    # which writes params only: params and inputs (which may be the user's param arrays) are
    # copied, anything else is read where it is.
    owned: dict[int, str] = {}
    returned: list[str] = []
    handed: set[int] = set()  # alias roots of the fresh arrays returned as they are

    def copy(i: int, why: str) -> str:
        name = f"r_{len(owned) + len(returned)}"
        emit(f"    {name} = xp.array({names[i]}, copy=True)  # {why}")
        return name

    for i in prog.outputs:
        root = alias_root(prog, i)
        if root_kind(prog, plan, i) != "fresh" or root in handed or _broadcasts(g, i):
            name = copy(i, "the caller owns it")
        elif g.node(i).ndim == 0:
            # numpy gives scalars (np.float64) for 0-d results; the caller gets 0-d arrays,
            # as from gc.evaluate
            name = f"r_{len(owned) + len(returned)}"
            emit(f"    {name} = xp.asarray({names[i]})  # 0-d: an array, as evaluate gives")
        else:
            name = names[i]
        handed.add(root)
        owned.setdefault(i, name)
        returned.append(name)
    for _, v in prog.updates:
        if v not in owned and v not in plan.tail:
            owned[v] = (copy(v, "read by the commit, after params change")
                        if root_kind(prog, plan, v) in ("param", "input") else names[v])

    if check_finite == "outputs":  # the guard: a non-finite output commits nothing
        for i in dict.fromkeys(prog.outputs):
            n = g.node(i)
            if n.dtype.kind == "f":
                ok = (f"rt_isfinite({owned[i]})" if n.ndim == 0
                      else f"xp.isfinite({owned[i]}).all()")
                emit(f"    if not {ok}: rt_nonfinite({ctx.ref(n, 'node')}, {owned[i]})")

    # ------------------------------------------------------------------------- commit
    if plan.tail or prog.updates:
        emit("    # commit: everything is computed; nothing below can fail on checked shapes")
    for v in plan.tail:
        line(v, names[plan.tail[v]])
    for p, v in prog.updates:
        if v not in plan.tail:
            emit(f"    xp.copyto({names[p]}, {owned[v]}, casting='same_kind')")
    if held:
        emit("    pool.append(M)")
    emit(f"    return {returned[0]}" if prog.single else f"    return [{', '.join(returned)}]")
    return "\n".join(lines) + "\n", ns


def _broadcasts(graph: Graph, i: int) -> bool:
    """True when node ``i`` is a broadcast view, or a view of one (read-only memory)."""
    n = graph.node(i)
    while get_op(n.op).view:
        if n.op == "broadcast_to":
            return True
        n = graph.node(n.inputs[0])
    return False


def _same(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(definitely_equal(x, y) for x, y in zip(a, b))


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
    if x.ndim == 0 or _same(x.shape, n.shape):
        return code
    if all(not is_symbol(d) and d == 1 for d in x.shape):
        # same dtypes: a 0-d operand promotes like an array under NEP 50, but not in numpy 1
        if x.dtype == n.dtype and any(_same(m.shape, n.shape) and m.dtype == n.dtype
                                      for j, m in enumerate(ins) if j != k):
            return f"{code}.squeeze()"
        return code
    missing = n.ndim - x.ndim
    if missing <= 0 or not all(is_symbol(d) for d in n.shape[:missing]):
        return code
    if not all(definitely_equal(a, b) for a, b in zip(x.shape, n.shape[missing:])):
        return code
    return f"{code}[{', '.join(['None'] * missing)}]"


def _kernel(n: Node, operands: list[str], ctx: EmitContext) -> str | None:
    """Faster numpy calls for common cases, chosen here (not in the op) because they depend
    on the operands' layout and dtypes: 2-D matmul as np.dot (less call overhead), float
    sum/max as the ufunc reduce (np.sum's wrapper costs ~1 us), a 2-D transpose as ``.T``,
    a column sum as a gemv with a ones vector where the memory plan made one."""
    o = f", out={ctx.out}" if ctx.out is not None else ""
    ins = ctx.inputs
    if n.id in ctx.sumsq:
        flat, is_flat = ctx.sumsq[n.id]
        return f"xp.dot({flat}, {flat})" if is_flat else f"rt.sum_of_squares({flat})"
    if n.id in ctx.scalar_ops:
        return f"{operands[0]} {ctx.scalar_ops[n.id]} {operands[1]}"
    if n.op == "matmul" and len(ins) == 2 and all(m.ndim == 2 and m.dtype == n.dtype
                                                  for m in ins):
        return f"xp.dot({operands[0]}, {operands[1]}{o})"
    if n.id in ctx.gemv:
        return f"xp.dot(ones_{ctx.gemv[n.id]}, {operands[0]}{o})"
    if n.op in ("sum", "max") and n.dtype.kind == "f" and ins[0].dtype == n.dtype:
        ufunc = "add" if n.op == "sum" else "maximum"
        kd = ", keepdims=True" if n.attr["keepdims"] else ""
        return f"xp.{ufunc}.reduce({operands[0]}, axis={n.attr['axis']!r}{kd}{o})"
    if (n.op == "swapaxes" and n.ndim == 2 and n.attr["axis1"] != n.attr["axis2"]) or (
            n.op == "transpose" and tuple(n.attr["axes"]) == (1, 0)):
        return f"{operands[0]}.T"
    return None


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
        head = f"{node.op} node %{node.id} {node.shape} produced {what} (of {v.size} values)"
    err = NonFiniteError(f"{head}\n{where_built(node)}")
    err.value = v
    raise err


def _convert(node: Node, value: Any) -> np.ndarray:
    from graphc.ir.binding import convert_input

    return convert_input(node, value)


def _fail_factory(nodes: list[Node]):
    def fail(k: int, arrays: tuple) -> None:
        from graphc.ir.binding import bind

        bind(nodes[: k + 1], arrays)
        raise AssertionError("graphc bug: an input check failed but binding found no error")

    return fail
