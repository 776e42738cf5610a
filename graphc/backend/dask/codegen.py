"""Codegen for the Dask backend: the source of one Python function that checks and binds its
inputs (the numpy backend's prologue, unchanged), chunks them along ``B``, computes the local
nodes with numpy, runs the dask part in one dask computation (fused: one line per region, each
one task per chunk; per-node: one commented line per node building its dask array, saying how
the node runs), and commits the updates locally, all or nothing, after everything is
computed."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.backend.dask import fused, runtime
from graphc.backend.dask.lower import LOCAL, DaskPlan
from graphc.backend.numpy.codegen import (
    _Emitter,
    _fail_factory,
    _nonfinite,
    _short_loc,
    var_name,
)
from graphc.backend.numpy.memory import plan_memory
from graphc.ir.binding import convert_input
from graphc.ir.node import Node
from graphc.ir.opdef import get_op
from graphc.ir.program import Program


def generate(prog: Program, plan: DaskPlan, runner: runtime.Runner, chunks: int | None,
             lazy: bool, split_every: int | None, check_finite: bool | str = False,
             fuse: bool = False) -> tuple[str, dict[str, Any]]:
    """Source of ``graphc_fn(P, *inputs)`` and its namespace (see the module docstring;
    ``fuse``: the fused lowering, one task per chunk per region, see ``fused.py``)."""
    check = check_finite is True
    if fuse and not lazy:
        plan.fused = fused.plan_regions(prog, plan, _wanted(prog, plan), check)
    e = _Emitter(prog, plan_memory(prog, enabled=False), False)
    e.prologue("graphc_fn")
    e.ns["rt_convert"] = _convert
    e.ns["rt_fail"] = _fail_dask(e.input_nodes)
    _start(e, plan, runner, chunks)
    e.params_and_constants()
    if plan.fused is not None:
        fresh = _fused(e, plan, runner, check, split_every)
    else:
        _body(e, plan, [i for i in prog.schedule if i not in plan.after], check, split_every,
              "    # body: one line per node, each building its part of the dask graph "
              f"({_counts(plan)})")
        fresh = _compute(e, plan, runner, lazy)
    _body(e, plan, [i for i in prog.schedule if i in plan.after], check, split_every,
          "    # after the sums over B: the arithmetic on their results (the optimiser's), "
          "here, with numpy")
    names = _results(e, fresh)
    if check_finite == "outputs":
        _guard(e, names)
    _commit(e, names)
    n_out = len(prog.outputs)
    e.emit(f"    return {names[0]}" if prog.single else f"    return [{', '.join(names[:n_out])}]")
    return "\n".join(e.lines) + "\n", e.ns


def _counts(plan: DaskPlan) -> str:
    counts = plan.count()
    if plan.after:
        counts["blockwise"] -= len(plan.after)
        counts["after"] = len(plan.after)
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v)


def _start(e: _Emitter, plan: DaskPlan, runner: runtime.Runner, chunks: int | None) -> None:
    """The call's context: the binding, the inputs chunked along B."""
    names = list(e.symbols)
    e.ns["SYMBOLS"] = names
    e.ns["rt_start"] = lambda values, arrays: runtime.start(
        plan, runner, chunks, names, values, e.input_nodes, arrays)
    values = ", ".join(e.symbols.values()) + ("," if len(e.symbols) == 1 else "")
    ins = [var_name(n, e.input_pos) for n in e.input_nodes]
    arrays = ", ".join(ins) + ("," if len(ins) == 1 else "")
    rows = f"{chunks} rows" if chunks else "the dask input's chunks, else B / the workers"
    e.emit(f"    # chunk the inputs along {plan.batch or '(no batch symbol)'}: {rows} per chunk")
    e.emit(f"    C, {''.join(v + ', ' for v in ins)}= rt_start(({values}), ({arrays}))")


def _body(e: _Emitter, plan: DaskPlan, order: list[int], check: bool,
          split_every: int | None, title: str, unnamed: frozenset = frozenset()) -> None:
    """One line per op node: its runner builds its dask array, or computes it with numpy
    (a local node, or one after the dask computation). ``unnamed``: operands that have no
    variable (the fused lowering's dask values, read by a local node for their shape)."""
    g = e.g
    order = [i for i in order if g.node(i).role == "op"]
    if not order:
        return
    e.emit(title)
    for i in order:
        n = g.node(i)
        step = LOCAL if i in plan.after else plan.steps[i]
        run = runtime.NodeRunner(n, [g.node(j) for j in n.inputs], step, plan, check,
                                 split_every)
        k = e.ctx.ref(run, "K")
        args = "".join(", " + ("None" if j in unnamed else e.names[j]) for j in n.inputs)
        e.emit_node(i, f"    {e.names[i]} = {k}(C{args})  # {n.op} {n.shape}: {_how(step)} @ "
                       f"{_short_loc(n.loc)}")


def _how(step: Any) -> str:
    """How a node runs, for its line in the source."""
    how = step.kind + (f" ({step.combine} of per-chunk results, a tree reduction)"
                       if step.kind == "partial" else "")
    return how + (f": {step.why}" if step.kind == "gather" and step.why else "")


def _wanted(prog: Program, plan: DaskPlan) -> list[int]:
    """The dask values that the outputs, the updates and the nodes after the sums read."""
    g = prog.graph
    wanted = [*prog.outputs, *(v for _, v in prog.updates)]
    wanted += [j for i in prog.schedule if i in plan.after for j in g.node(i).inputs]
    return [i for i in dict.fromkeys(wanted) if i in plan.dask and i not in plan.after]


def _fused(e: _Emitter, plan: DaskPlan, runner: runtime.Runner, check: bool,
           split_every: int | None) -> set[int]:
    """The fused lowering: the local nodes with numpy, then one dask computation of the
    regions (one task per chunk per region, one tree per region's sums). Returns the nodes
    whose values it made."""
    prog, g, fp = e.prog, e.g, plan.fused
    made = {i for r in fp.regions for i in r.nodes}
    _body(e, plan, [i for i in prog.schedule if plan.steps.get(i) is LOCAL], check,
          split_every, "    # local: numpy, now (params' arithmetic, random draws, sizes)",
          frozenset(made))
    todo = _wanted(prog, plan)
    sources = [j for r in fp.regions for j in r.ins if j not in made]
    sources = list(dict.fromkeys([*sources, *(i for i in todo if i not in made)]))
    step = fused.Step(fp, plan, g, sources, todo, split_every)
    e.ns["rt_fused"] = lambda ctx, vals: step(runner, ctx, vals)
    e.emit(f"    # dask: {len(fp.regions)} region(s), each one numpy function (graphc's numpy "
           "backend) run as one task per chunk,")
    e.emit("    # the sums over B of a region as one tree reduction; computed in one dask "
           "computation (nothing is")
    e.emit("    # committed before it ends; a worker lost meanwhile: its tasks run again "
           "elsewhere)")
    for k, r in enumerate(fp.regions):
        e.emit(f"    #   {k}: {r.describe(g)}")
        for i in r.nodes:
            n = g.node(i)
            e.emit(f"    #       {e.names[i]}: {n.op} {n.shape}: {_how(plan.steps[i])} @ "
                   f"{_short_loc(n.loc)}")
    srcs = "".join(e.names[j] + ", " for j in sources)
    if todo:
        e.emit(f"    {', '.join(e.names[i] for i in todo)}, = rt_fused(C, ({srcs}))")
    elif fp.regions:
        e.emit(f"    rt_fused(C, ({srcs}))")
    return {i for i in todo if g.node(i).role == "op" and not get_op(g.node(i).op).view}


def _compute(e: _Emitter, plan: DaskPlan, runner: runtime.Runner, lazy: bool) -> set[int]:
    """The dask values that the outputs, the updates and the nodes after the sums read,
    computed in one dask computation (``lazy``: the outputs stay dask arrays). Returns the
    nodes whose values it made."""
    prog, g = e.prog, e.g
    todo = _wanted(prog, plan)
    nodes = [g.node(i) for i in todo]
    axes = [plan.axes[i] for i in todo]
    if lazy:
        e.ns["rt_lazy"] = lambda ctx, vals: runtime.lazy_outputs(ctx, nodes, axes, vals)
        call = "rt_lazy"
        e.emit("    # the outputs, as dask arrays: computed by the caller")
    else:
        e.ns["rt_compute"] = lambda ctx, vals: runtime.compute(runner, ctx, nodes, axes, vals,
                                                               plan)
        call = "rt_compute"
        e.emit("    # compute: what the outputs, the updates and the arithmetic after the sums "
               "read, one dask computation")
        e.emit("    # (nothing is committed before it ends; a worker lost meanwhile: its tasks "
               "run again elsewhere)")
    if todo:
        names = [e.names[i] for i in todo]
        e.emit(f"    {', '.join(names)}, = {call}(C, ({', '.join(names)},))")
    return {i for i in todo if not lazy and g.node(i).role == "op"
            and not get_op(g.node(i).op).view}


def _results(e: _Emitter, fresh: set[int]) -> list[str]:
    """The outputs and the update values, each the caller's own array."""
    prog = e.prog
    ids = [*prog.outputs, *(v for _, v in prog.updates)]
    names = [f"r_{k}" for k in range(len(ids))]
    e.ns["rt_owned"] = runtime.owned
    flags = ", ".join(str(i in fresh) for i in ids)
    e.emit("    # results: the caller owns each (a value that may alias memory is copied)")
    e.emit(f"    {', '.join(names)}, = rt_owned(({', '.join(e.names[i] for i in ids)},), "
           f"({flags},))")
    return names


def _guard(e: _Emitter, names: list[str]) -> None:
    """check_finite="outputs": a non-finite output or update value raises before the
    commit."""
    prog = e.prog
    e.ns["rt_nonfinite"] = _nonfinite
    for name, i in zip(names, [*prog.outputs, *(v for _, v in prog.updates)]):
        n = e.g.node(i)
        if n.dtype.kind == "f":
            e.emit(f"    if not xp.isfinite({name}).all(): "
                   f"rt_nonfinite({e.ctx.ref(n, 'node')}, {name})")


def _commit(e: _Emitter, names: list[str]) -> None:
    """The updates, copied into their params: all or nothing."""
    prog = e.prog
    stmts: list[tuple[int | None, str]] = [
        (None, f"xp.copyto({e.names[p]}, {name}, casting='same_kind')")
        for (p, _), name in zip(prog.updates, names[len(prog.outputs):])]
    if len(stmts) == 1:
        e.emit("    # commit: everything is computed")
        e.emit(f"    {stmts[0][1]}")
    elif stmts:
        e._atomic_commit(stmts)


def _convert(node: Node, value: Any) -> Any:
    """An input as numpy's backend converts it; a dask array is kept lazy (its dtype is
    converted only where the cast is safe)."""
    if not runtime.is_lazy(value):
        return convert_input(node, value)
    if any(np.isnan(d) for d in value.shape):
        raise ValueError(f"input {node.name!r}: a dask array of unknown shape "
                         f"{value.shape}; call .compute_chunk_sizes() first")
    if value.dtype == node.dtype:
        return value
    if not np.can_cast(value.dtype, node.dtype, "safe"):
        raise TypeError(f"input {node.name!r}: expected dtype {node.dtype}, got a dask "
                        f"array of {value.dtype}, which does not convert safely (cast it "
                        "with .astype)")
    return value.astype(node.dtype)


def _fail_dask(nodes: list[Node]):
    """The numpy backend's input failure, on shapes only (a dask array is not computed)."""
    fail = _fail_factory(nodes)

    def fail_dask(k: int, arrays: tuple) -> None:
        fail(k, tuple(np.broadcast_to(np.zeros((), a.dtype), a.shape) if runtime.is_lazy(a)
                      else a for a in arrays))

    return fail_dask
