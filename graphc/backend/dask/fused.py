"""The fused lowering of the Dask backend: one task per chunk per *region*, not one per node.

The per-node lowering (``lower.py``) gives every node a step. This module groups the steps
into regions and compiles each region once, with graphc's numpy backend, into one function:

* a **chunk region** ``R_s``: every per-row node (blockwise, with ``B`` in its result) at
  stage ``s``, and the per-chunk part of every partial whose operands are there. One task per
  chunk runs the region's numpy function on the chunk's rows (``B`` bound to them) and returns
  a tuple of the values that leave the region: per-row values read later, and the per-chunk
  partial results, which one tree reduction per region combines (all the region's partials
  at once: one tuple per tree node);
* a **whole region** ``W_s``: the nodes without ``B`` at stage ``s`` whose operands are reduced
  values (a BatchNorm's statistics): one task, on whole arrays;
* a **gather** region: one gathered node, one task on the operands' chunks joined.

A value's *stage* is when it exists: the chunked inputs at 0; a per-row node at the latest
stage of its operands; a sum over ``B`` (or a gather) one stage after its operands. So a
training step of an MLP (forward, backward, the per-chunk gradient sums) is one chunk region:
one task per chunk and one tree, whatever the number of layers; each BatchNorm adds a stage.
The nodes keep their ids in the region's sub-program (the nodes outside it are placeholders),
so an error in a worker names the node and the user's line exactly as the numpy backend does.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from graphc.backend.dask.lower import MIXED, DaskPlan
from graphc.ir.dims import Shape, symbol_of, symbols_of
from graphc.ir.graph import Graph
from graphc.ir.node import Node, freeze_attrs
from graphc.ir.program import Program

#: compiled region functions in this process (a worker compiles a region once, not per task)
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


@dataclass
class Region:
    """A group of nodes that runs as one task (per chunk, for a chunk region). ``ins``: the
    values it reads from outside (its sub-program's inputs, in order); ``outs``: the values
    that leave it (its function's results, in order); ``partials``: the outs that a tree
    reduction combines (``combine`` of each); ``stage``: see the module docstring."""

    kind: str  # "chunk", "whole" or "gather"
    stage: int
    nodes: list[int]
    ins: list[int] = field(default_factory=list)
    outs: list[int] = field(default_factory=list)
    partials: dict[int, str] = field(default_factory=dict)
    fn: RegionFn | None = None

    def describe(self, g: Graph) -> str:
        ops: dict[str, int] = {}
        for i in self.nodes:
            ops[g.node(i).op] = ops.get(g.node(i).op, 0) + 1
        what = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in ops.items())
        sums = f"; {len(self.partials)} sum(s) over B, one tree" if self.partials else ""
        return f"{self.kind} region, stage {self.stage}: {len(self.nodes)} nodes ({what}){sums}"


@dataclass
class FusedPlan:
    """The regions of a program, in an order where each reads only what came before, and
    where each dask value lives (``home``: ``("chunk", r, j)`` out ``j`` of chunk region
    ``r``, per chunk; ``("whole", r, j)`` out ``j`` of a whole or gather region; ``("sum", r,
    j)`` partial ``j`` of chunk region ``r``, reduced; ``("input",)`` a chunked input)."""

    regions: list[Region]
    home: dict[int, tuple]

    def tasks(self, chunks: int, split_every: int = 4) -> int:
        """Tasks the regions make for ``chunks`` chunks (the tree nodes included; the
        inputs' own tasks and one key per param not)."""
        n = 0
        for r in self.regions:
            if r.kind != "chunk":
                n += 1
                continue
            n += chunks
            if r.partials:
                level = chunks
                while True:
                    level = -(-level // split_every)
                    n += level
                    if level == 1:
                        break
        return n


# ------------------------------------------------------------------------------ planning
def plan_regions(prog: Program, plan: DaskPlan, wanted: list[int],
                 check: bool) -> FusedPlan:
    """Group the dask nodes of ``prog`` (those not computed after the sums) into regions;
    ``wanted``: the values the caller reads once everything is computed."""
    g = prog.graph
    todo = [i for i in prog.schedule if i in plan.steps and i in plan.dask
            and i not in plan.after]
    avail: dict[int, int] = {i: 0 for i in prog.inputs if i in plan.dask}
    where: dict[tuple[str, int], Region] = {}
    order: list[Region] = []
    home: dict[int, tuple] = {i: ("input",) for i in avail}

    def region(kind: str, stage: int) -> Region:
        key = (kind, stage)
        if key not in where:
            where[key] = Region(kind, stage, [])
            order.append(where[key])
        return where[key]

    for i in todo:
        n, step = g.node(i), plan.steps[i]
        s = max((avail[j] for j in n.inputs if j in avail), default=0)
        if step.kind == "gather":
            r = Region("gather", s + 1, [i])
            order.append(r)
            avail[i] = s + 1
        elif step.kind == "partial":
            r = region("chunk", s)
            r.partials[i] = step.combine
            avail[i] = s + 1
        elif plan.axes[i] is None and not step.template:
            r = region("whole", s)
            avail[i] = s
        else:
            r = region("chunk", s)
            avail[i] = s
        if r.kind != "gather":
            r.nodes.append(i)
    order.sort(key=_run_order)
    readers: dict[int, set[int]] = {}
    for i in prog.schedule:
        for j in g.node(i).inputs:
            readers.setdefault(j, set()).add(i)
    keep = set(wanted)
    for k, r in enumerate(order):
        members = set(r.nodes)
        ins: dict[int, None] = {}
        for i in r.nodes:
            for j in g.node(i).inputs:
                if j not in members and g.node(j).role != "constant":
                    ins[j] = None
        r.ins = list(ins)
        r.outs = [i for i in r.nodes if i in r.partials or i in keep
                  or any(u not in members for u in readers.get(i, ()))]
        for j, i in enumerate(r.outs):
            if i in r.partials:
                home[i] = ("sum", k, list(r.partials).index(i))
            else:
                home[i] = ("chunk" if r.kind == "chunk" else "whole", k, j)
        r.fn = RegionFn(*_sub_program(g, r), r, plan, check)
    return FusedPlan(order, home)


def _run_order(r: Region) -> tuple[int, int]:
    """Stage by stage: the gathers that exist at ``s`` and the whole region ``W_s`` before
    the chunk region ``R_s`` that reads them."""
    return (r.stage, {"gather": 0, "whole": 1, "chunk": 2}[r.kind])


def _sub_program(g: Graph, r: Region) -> tuple[Program, list[str]]:
    """The region as a program for the numpy backend: its nodes with their own ids, the
    values it reads as inputs (same ids), constants as they are, a placeholder for every
    other id; plus one input per symbol its nodes read that no input has as a whole dim
    (its value is fed as a broadcast array of that length)."""
    members, ins = set(r.nodes), set(r.ins)
    consts = {j for i in r.nodes for j in g.node(i).inputs if g.node(j).role == "constant"}
    sub = Graph(f"{g.name}-region")
    top = max(members | ins | consts)
    for k in range(top + 1):
        n = g.node(k)
        if k in members or k in consts:
            sub._restore(n)
        elif k in ins:
            name = f"v{k}"
            sub._restore(Node(id=k, op="input", inputs=(), attrs=freeze_attrs({"name": name}),
                              shape=n.shape, dtype=n.dtype, name=name, loc=n.loc))
        else:
            sub._restore(Node(id=k, op="constant", inputs=(), attrs=(), shape=Shape(()),
                              dtype=np.dtype(bool), value=_PLACEHOLDER))
    have = {symbol_of(d) for j in r.ins for d in g.node(j).shape} - {None}
    need = dict.fromkeys(s for i in r.nodes for s in symbols_of(g.node(i).shape,
                                                                 g.node(i).attr))
    symbols = [s for s in need if s not in have]
    binders = [sub._restore(Node(id=len(sub), op="input", inputs=(),
                                 attrs=freeze_attrs({"name": f"bind_{s}"}), shape=Shape((s,)),
                                 dtype=np.dtype(bool), name=f"bind_{s}")).id for s in symbols]
    inputs = [*r.ins, *binders]
    schedule = [*inputs, *sorted(consts), *r.nodes]
    return Program(sub, inputs, list(r.outs), [], schedule), symbols


_PLACEHOLDER = np.zeros((), dtype=bool)
_PLACEHOLDER.setflags(write=False)


# ------------------------------------------------------------------------------ running
class RegionFn:
    """A region's numpy function, compiled on first use in each process (a worker compiles
    it once: the cache is keyed by this object's token, which survives pickling)."""

    def __init__(self, sub: Program, binders: list[str], r: Region, plan: DaskPlan,
                 check: bool):
        self.sub, self.check = sub, check
        self.token = uuid.uuid4().hex
        self.batch = plan.batch
        #: the symbols fed as broadcast arrays (the sub-program's inputs after r.ins)
        self.binders = binders
        #: the outs that are partial means: weighted by the chunk's share of rows
        self.means = [j for j, i in enumerate(r.outs) if r.partials.get(i) == "mean"]
        self._fn = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fn": None}

    def function(self) -> Any:
        if self._fn is None:
            with _CACHE_LOCK:
                fn = _CACHE.get(self.token)
                if fn is None:
                    fn = _CACHE[self.token] = self._compile()
                    while len(_CACHE) > _CACHE_SIZE:
                        _CACHE.popitem(last=False)
                _CACHE.move_to_end(self.token)
            self._fn = fn
        return self._fn

    def _compile(self) -> Any:
        from graphc.backend.function import Function
        from graphc.passes.pipeline import Options

        options = Options(check_finite=True, memory=False) if self.check else Options()
        return Function(replace(self.sub), single=False, options=options, optimized=True,
                        backend="numpy")

    def __call__(self, binding: dict[str, int], rows: int | None, lo: int, hi: int,
                 specs: tuple, args: list) -> tuple:
        """The region on one chunk (rows ``lo:hi``, ``rows`` of them) or on whole arrays
        (``rows`` None): each argument taken as its spec says, the results as a tuple."""
        values = [_take(a, spec, lo, hi) for a, spec in zip(args, specs)]
        local = binding if rows is None else {**binding, self.batch: rows}
        values += [np.broadcast_to(np.False_, (local[s],)) for s in self.binders]
        with np.errstate(all="ignore"):  # (a worker has not the caller's errstate)
            out = self.function()(*values)
        for j in self.means:  # this chunk's mean, weighted by its share of the rows
            out[j] = out[j] * (rows / binding[self.batch])
        return tuple(out)


def _take(a: Any, spec: tuple, lo: int, hi: int) -> Any:
    """An argument as a region reads it: ``spec = (pick, join, cut)``: ``pick`` the
    element of a region's result tuple (None: the value itself); ``join`` an axis to
    concatenate a list of chunks along; ``cut`` an axis to take the chunk's rows along."""
    pick, join, cut = spec
    if join is not None:
        parts = [p if pick is None else p[pick] for p in a]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=join)
    v = a if pick is None else a[pick]
    if cut is not None:
        v = v[(slice(None),) * cut + (slice(lo, hi),)]
    return v


def run_region(fn: RegionFn, binding: dict, rows: Any, lo: int, hi: int, specs: tuple,
               args: list) -> tuple:
    """A task: ``fn`` on its arguments (the function travels as a key of its own, sent to
    each worker once per call)."""
    return fn(binding, rows, lo, hi, specs, args)


def combine(hows: tuple, picks: tuple | None, parts: list) -> tuple:
    """A node of a region's tree reduction: the partial results of ``parts`` (the chunks'
    result tuples, read at ``picks``, or tuples already combined) combined, each as its
    ``how`` says."""
    out = []
    for k, how in enumerate(hows):
        vals = np.stack([p[k] if picks is None else p[picks[k]] for p in parts])
        if how in ("sum", "mean"):
            out.append(vals.sum(axis=0, dtype=vals.dtype))
        else:
            out.append(getattr(vals, how)(axis=0))
    return tuple(out)


# ------------------------------------------------------------------------------ one call
class Step:
    """Builds and computes one call's dask graph from the fused plan."""

    def __init__(self, fused: FusedPlan, plan: DaskPlan, g: Graph, sources: list[int],
                 wanted: list[int], split_every: int | None):
        self.fused, self.plan, self.g = fused, plan, g
        self.sources, self.wanted = sources, wanted
        self.split_every = split_every or 4

    def __call__(self, runner: Any, ctx: Any, values: tuple) -> list[np.ndarray]:
        from dask.delayed import Delayed
        from dask.highlevelgraph import HighLevelGraph

        from graphc.backend.dask.runtime import count_tasks, is_lazy

        have = dict(zip(self.sources, values))
        name = ctx.name("step")
        dsk: dict[Any, Any] = {}
        deps = [x for x in have.values() if is_lazy(x)]
        build = _Build(self, ctx, have, name, dsk)
        for k, r in enumerate(self.fused.regions):
            build.region(k, r)
        keys, finish = build.results()
        hlg = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
        cols = [Delayed(k, hlg, layer=name) if not is_lazy(k) else k for k in keys]
        if self.plan.count_tasks:
            self.plan.last_tasks = count_tasks(cols)
        out = runner.compute(cols) if cols else []
        return finish(out)


class _Build:
    """The keys of one call's graph: per region, its function's key, its tasks, its tree."""

    def __init__(self, step: Step, ctx: Any, have: dict[int, Any], name: str, dsk: dict):
        self.step, self.ctx, self.have, self.name, self.dsk = step, ctx, have, name, dsk
        self.plan, self.g = step.plan, step.g
        self.n = len(ctx.chunks)
        bounds = np.concatenate([[0], np.cumsum(ctx.chunks)]).astype(int).tolist()
        self.bounds = list(zip(bounds[:-1], bounds[1:]))
        self.total = ctx.binding.get(ctx.batch, 0) if ctx.batch else 0
        self.data: dict[int, Any] = {}

    def key(self, r: int, c: int | None = None, what: str = "r") -> tuple:
        return (self.name, f"{what}{r}") if c is None else (self.name, f"{what}{r}", c)

    def value_key(self, i: int) -> Any:
        """A value that is the same for every task (a param, a local value): one key."""
        if i not in self.data:
            k = (self.name, f"v{i}")
            self.dsk[k] = self.have[i]
            self.data[i] = k
        return self.data[i]

    def arg(self, i: int, kind: str, c: int | None) -> tuple[Any, tuple]:
        """Node ``i`` as an argument of a ``kind`` region's task (chunk ``c``) and its spec
        (see ``_take``)."""
        from graphc.backend.dask.runtime import is_lazy

        home = self.step.fused.home.get(i)
        ax = self.plan.axes.get(i)
        batched = ax is not None and ax != MIXED
        if home is None:  # a local value (rows of it, when it has B), or an input without B
            return self.value_key(i), (None, None, ax if kind == "chunk" and batched else None)
        if home[0] == "input":
            x = self.have[i]
            if not batched:  # B mixed into an axis: whole
                return (x.__dask_keys__() and _first_key(x) if is_lazy(x)
                        else self.value_key(i)), (None, None, None)
            if kind == "chunk":
                if is_lazy(x):
                    return _block_key(x, ax, c), (None, None, None)
                lo, hi = self.bounds[c]
                return x[(slice(None),) * ax + (slice(lo, hi),)], (None, None, None)
            if is_lazy(x):
                return [_block_key(x, ax, b) for b in range(self.n)], (None, ax, None)
            return self.value_key(i), (None, None, None)
        where, r, j = home
        if where == "chunk":
            if kind == "chunk":
                return self.key(r, c), (j, None, None)
            return [self.key(r, b) for b in range(self.n)], (j, ax, None)
        k = self.key(r, what="sum") if where == "sum" else self.key(r)
        return k, (j, None, ax if kind == "chunk" and batched else None)

    def region(self, k: int, r: Region) -> None:
        fk = (self.name, f"fn{k}")
        self.dsk[fk] = r.fn
        binding = dict(self.ctx.binding)
        if r.kind != "chunk":
            args, specs = zip(*[self.arg(i, r.kind, None) for i in r.ins]) if r.ins else ((), ())
            self.dsk[self.key(k)] = (run_region, fk, binding, None, 0, self.total,
                                     tuple(specs), list(args))
            return
        for c, (lo, hi) in enumerate(self.bounds):
            args, specs = zip(*[self.arg(i, "chunk", c) for i in r.ins]) if r.ins else ((), ())
            self.dsk[self.key(k, c)] = (run_region, fk, binding, hi - lo, lo, hi, tuple(specs),
                                        list(args))
        if r.partials:
            self.tree(k, r)

    def tree(self, k: int, r: Region) -> None:
        """One tree reduction for all of the region's partials: fan-in ``split_every``."""
        hows = tuple(r.partials.values())
        picks: tuple | None = tuple(r.outs.index(i) for i in r.partials)
        level = [self.key(k, c) for c in range(self.n)]
        depth = 0
        se = self.step.split_every
        while True:
            depth += 1
            groups = [level[s:s + se] for s in range(0, len(level), se)]
            last = len(groups) == 1
            nxt = []
            for q, grp in enumerate(groups):
                key = self.key(k, what="sum") if last else self.key(k, q, what=f"t{depth}-")
                self.dsk[key] = (combine, hows, picks, grp)
                nxt.append(key)
            picks = None
            level = nxt
            if last:
                return

    def results(self) -> tuple[list, Any]:
        """What to compute for the wanted values, and how to make them from the results."""
        from graphc.backend.dask.runtime import is_lazy

        keys: list[Any] = []
        index: dict[Any, int] = {}

        def need(key: Any) -> int:
            ref = id(key) if is_lazy(key) else key
            if ref not in index:
                index[ref] = len(keys)
                keys.append(key)
            return index[ref]

        recipes = []
        for i in self.step.wanted:
            home = self.step.fused.home[i]
            ax = self.plan.axes[i]
            if home[0] == "input":
                x = self.have[i]
                recipes.append(("one", need(x), None) if is_lazy(x) else ("value", x, None))
            elif home[0] == "chunk":
                _, r, j = home
                recipes.append(("join", [need(self.key(r, c)) for c in range(self.n)],
                                (j, ax)))
            else:
                _, r, j = home
                k = self.key(r, what="sum") if home[0] == "sum" else self.key(r)
                recipes.append(("one", need(k), j))

        def finish(out: list) -> list[np.ndarray]:
            got = []
            for how, where, j in recipes:
                if how == "value":
                    got.append(where)
                elif how == "one":
                    got.append(np.asarray(out[where] if j is None else out[where][j]))
                else:
                    pick, ax = j
                    parts = [out[w][pick] for w in where]
                    got.append(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=ax))
            return got

        return keys, finish


def _block_key(x: Any, ax: int, c: int) -> tuple:
    """The key of block ``c`` along ``ax`` of a dask array chunked along ``ax`` only."""
    return (x.name, *(c if a == ax else 0 for a in range(x.ndim)))


def _first_key(x: Any) -> tuple:
    return (x.name, *(0,) * x.ndim)
