"""What the Dask backend's generated function calls: the per-call context (the binding, the
inputs chunked along ``B``), one runner per node that builds its part of the dask graph (or
computes it with numpy, for a local node; the fused lowering's regions are in ``fused.py``),
and the one ``compute`` per call, on the active scheduler, with a timeout."""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import numpy as np

import graphc.ops  # noqa: F401 - the op registry, also in a worker process that unpickles a task
from graphc.backend.dask.lower import MIXED, DaskPlan, Step
from graphc.backend.numpy.codegen import _nonfinite
from graphc.ir.dims import bind_attrs
from graphc.ir.node import Node, runtime_error
from graphc.ir.opdef import get_op

_NUMPY_ERRORS = (IndexError, KeyError, ValueError, TypeError, ArithmeticError)


def is_lazy(x: Any) -> bool:
    """A dask collection (an array whose values are not computed yet)."""
    return isinstance(x, da.Array)


# ------------------------------------------------------------------------------ scheduling
@dataclass
class Runner:
    """Where and how a call's dask graph is computed: ``client`` (None: the default
    ``distributed.Client`` if one exists, else dask's default scheduler, threads for
    arrays), ``timeout`` in seconds for one call's computation on a distributed client
    (None: wait), ``retries`` of a failed task (a worker that dies is handled by the
    scheduler itself: its tasks run again elsewhere)."""

    client: Any = None
    timeout: float | None = None
    retries: int = 0

    def active_client(self) -> Any:
        if self.client is not None:
            return self.client
        try:
            from distributed import default_client
        except ImportError:  # dask without distributed: threads
            return None
        try:
            return default_client()
        except ValueError:  # no client: dask's default scheduler
            return None

    def workers(self) -> int:
        """The threads that run tasks (the default number of chunks)."""
        client = self.active_client()
        if client is None:
            return os.cpu_count() or 1
        return max(1, sum(client.nthreads().values()))

    def compute(self, arrays: list[Any]) -> list[np.ndarray]:
        """The values of ``arrays``, computed together (one graph, shared work)."""
        client = self.active_client()
        if client is None:
            return list(dask.compute(*arrays))
        from distributed import wait

        futures = client.compute(arrays, retries=self.retries)
        try:
            wait(futures, timeout=self.timeout)
            return client.gather(futures)
        except TimeoutError:
            raise TimeoutError(
                f"the dask computation did not finish within timeout={self.timeout} s "
                "(workers lost, or too slow): nothing was committed") from None
        finally:
            client.cancel(futures)


def count_tasks(collections: list[Any]) -> int:
    """The tasks of the graph that computing ``collections`` together runs, after dask's
    optimisation (culling, fusion), data keys included."""
    if not collections:
        return 0
    return len(dask.base.collections_to_expr(collections, optimize_graph=True)
               .__dask_graph__())


# ------------------------------------------------------------------------------ one call
#
# Layout: every dask value is kept as a 2-D array (B, M), the batch axis moved first and the
# other axes flattened (M: their element count), chunked along B only; a value without B is
# a 1-D array (M,) of one chunk. Every per-chunk task then has the same block indices
# ("b", "m"), so dask fuses a whole chain of them (a forward and backward pass) into one task
# per chunk; the layout is undone in each task, and on the results.


def _size(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


def to_rows(v: np.ndarray, axis: int) -> np.ndarray:
    """A numpy value with B at ``axis`` in the (B, M) layout."""
    return np.moveaxis(v, axis, 0).reshape(v.shape[axis],
                                           _size(v.shape[:axis] + v.shape[axis + 1:]))


def from_rows(v: Any, axis: int, shape: tuple) -> Any:
    """A (B, M) value (numpy or dask) back in its node's ``shape`` (B at ``axis``)."""
    rest = shape[:axis] + shape[axis + 1:]
    v = v.reshape((v.shape[0], *rest))
    return v if axis == 0 else (np.moveaxis(v, 0, axis) if isinstance(v, np.ndarray)
                                else da.moveaxis(v, 0, axis))


@dataclass
class Context:
    """One call: the symbols' values, the chunks along ``B`` (rows per chunk, the same for
    every batched value of the call), a token that names this call's dask keys."""

    binding: dict[str, int]
    batch: str | None
    chunks: tuple[int, ...]
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _rows: Any = None
    #: id -> (numpy value, its dask array): the value is held, so the id is not reused
    _wholes: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    def name(self, what: str) -> str:
        return f"graphc-{what}-{self.token}"

    def batched(self, x: Any, axis: int, what: str) -> Any:
        """``x`` (numpy or dask, B at ``axis``) in the (B, M) layout, in the call's chunks."""
        if not is_lazy(x):
            return da.from_array(to_rows(x, axis), chunks=(self.chunks, -1),
                                 name=self.name(what))
        x = x.rechunk({k: (-1 if k != axis else self.chunks) for k in range(x.ndim)})
        if axis:
            x = da.moveaxis(x, axis, 0)
        x = x.reshape((x.shape[0], _size(x.shape[1:])))
        return x.rechunk((self.chunks, -1))

    def whole(self, x: Any, what: str) -> Any:
        """``x`` as a 1-D dask array of one chunk (a param: one key per call, which each
        worker fetches once, not a copy in every task)."""
        if is_lazy(x):
            return x.reshape(-1).rechunk(-1) if x.ndim != 1 or x.numblocks != (1,) else x
        if id(x) not in self._wholes:
            flat = np.ascontiguousarray(x).reshape(-1)
            self._wholes[id(x)] = (x, da.from_array(flat, chunks=(flat.shape[0],),
                                                   name=self.name(what)))
        return self._wholes[id(x)][1]

    def rows(self) -> Any:
        """A (B, 1) template in the call's chunks (for a result whose operands lack B)."""
        if self._rows is None:
            self._rows = da.zeros((self.binding[self.batch], 1), chunks=(self.chunks, 1),
                                  dtype=bool)
        return self._rows


def _row_chunks(size: int, rows: int) -> tuple[int, ...]:
    if size == 0:
        return (0,)
    return tuple(min(rows, size - s) for s in range(0, size, rows))


def start(plan: DaskPlan, runner: Runner, chunks: int | None, names: list[str],
          values: tuple, input_nodes: list[Node], arrays: tuple) -> tuple:
    """The call's context, and its inputs: in the (B, M) layout where they have B as an
    axis (a numpy array split into chunks of ``chunks`` rows; a dask array keeps its chunks
    along B unless ``chunks`` is given, and every input takes the first one's), whole where
    they have B otherwise, computed (numpy) where they lack it. For the fused lowering the
    inputs keep their shapes: a numpy array as it is (each chunk's task gets its rows), a
    dask array chunked along B only, in the call's chunks."""
    binding = dict(zip(names, values))
    bchunks: tuple[int, ...] = (1,)
    if plan.batch is not None and plan.batch in binding:
        size = binding[plan.batch]
        given = None
        if chunks is None:
            for n, x in zip(input_nodes, arrays):
                ax = plan.axes[n.id]
                if is_lazy(x) and ax not in (None, MIXED):
                    given = tuple(int(c) for c in x.chunks[ax])
                    break
        rows = chunks or max(1, math.ceil(size / runner.workers()))
        bchunks = given if given is not None else _row_chunks(size, rows)
    ctx = Context(binding, plan.batch, bchunks)
    out = []
    for k, (n, x) in enumerate(zip(input_nodes, arrays)):
        ax = plan.axes[n.id]
        if ax is None:
            out.append(np.asarray(x.compute()) if is_lazy(x) else x)
        elif plan.fused is not None:
            out.append(x if not is_lazy(x) else x.rechunk(
                {a: (bchunks if a == ax else -1) for a in range(x.ndim)} if ax != MIXED
                else -1))
        elif ax == MIXED:
            out.append(ctx.whole(x, f"in{k}"))
        else:
            out.append(ctx.batched(x, ax, f"in{k}"))
    return (ctx, *out)


class Chunk:
    """The task of a blockwise, partial or gathered node on one chunk (or on whole
    arrays): the operands' blocks back in their shapes, the op's reference kernel with
    ``B`` bound to the chunk's rows, the result in the (B, M) layout. A numpy error is
    raised as the contract's error, naming the op and the user's line."""

    def __init__(self, node: Node, inputs: list[Node], axes: list[Any], out_axis: Any,
                 binding: dict[str, int], batch: str | None, rows_from: int | None,
                 partial: bool, weight: bool, check: bool):
        self.node, self.inputs, self.axes, self.out_axis = node, inputs, axes, out_axis
        self.binding, self.batch, self.rows_from = binding, batch, rows_from
        self.partial, self.weight, self.check = partial, weight, check

    def __call__(self, *blocks: np.ndarray) -> np.ndarray:
        n, binding = self.node, self.binding
        if self.rows_from is not None:
            binding = {**binding, self.batch: blocks[self.rows_from].shape[0]}
        operands = []
        for b, m, ax in zip(blocks, self.inputs, self.axes):
            shape = m.shape.bind(binding)
            operands.append(b.reshape(shape) if ax is None or ax == MIXED
                            else from_rows(b, ax, shape))
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(get_op(n.op).compute(operands, bind_attrs(n.attr, binding),
                                                    n.shape.bind(binding)), dtype=n.dtype)
        except _NUMPY_ERRORS as e:
            raise runtime_error(n, e) from None
        if self.check and n.dtype.kind == "f" and not np.isfinite(v).all():
            _nonfinite(n, v)
        if self.weight:  # a mean over B: this chunk's mean, weighted by its share of rows
            v = v * (binding[self.batch] / self.binding[self.batch])
        if self.partial:
            return v.reshape(1, v.size)
        if self.out_axis is None or self.out_axis == MIXED:
            return v.reshape(-1)
        return to_rows(v, self.out_axis)


class NodeRunner:
    """Builds one node's value in a call: numpy for a local node, else its dask array."""

    def __init__(self, node: Node, inputs: list[Node], step: Step, plan: DaskPlan,
                 check: bool, split_every: int | None):
        self.node, self.inputs, self.step, self.plan = node, inputs, step, plan
        self.check, self.split_every = check, split_every
        self.out_axis = plan.axes[node.id]
        self.axes = [plan.axes[m.id] for m in inputs]

    def __call__(self, ctx: Context, *operands: Any) -> Any:
        kind = self.step.kind
        if kind == "local":
            return self.local(ctx, operands)
        if kind == "gather":
            return self.gather(ctx, operands)
        return self.blockwise(ctx, operands, partial=kind == "partial")

    def local(self, ctx: Context, operands: tuple) -> np.ndarray:
        """numpy, now (numpy errors are mapped to this node's line by ``Function``)."""
        n = self.node
        if any(x is None or is_lazy(x) for x in operands):  # a value of sizes only
            # (None: a value the fused lowering computes in dask)
            operands = tuple(np.broadcast_to(np.zeros((), m.dtype), m.shape.bind(ctx.binding))
                             if x is None or is_lazy(x) else x
                             for x, m in zip(operands, self.inputs))
        v = np.asarray(get_op(n.op).compute(list(operands), bind_attrs(n.attr, ctx.binding),
                                            n.shape.bind(ctx.binding)), dtype=n.dtype)
        if self.check and n.dtype.kind == "f" and not np.isfinite(v).all():
            _nonfinite(n, v)
        return v

    def _args(self, ctx: Context, operands: tuple) -> tuple[list[Any], int | None]:
        """The operands as blockwise arguments: (B, M) values indexed ("b", "m"), whole
        ones ("m",); and which one gives a chunk's rows."""
        args: list[Any] = []
        rows_from = None
        for k, (x, ax) in enumerate(zip(operands, self.axes)):
            what = f"{self.node.id}-{k}"
            if ax is None or ax == MIXED:
                args += [ctx.whole(x, what), ("m",)]
            else:
                args += [x if is_lazy(x) else ctx.batched(x, ax, what), ("b", "m")]
                rows_from = k if rows_from is None else rows_from
        return args, rows_from

    def _chunk(self, ctx: Context, rows_from: int | None, partial: bool) -> Chunk:
        return Chunk(self.node, self.inputs, self.axes, self.out_axis, ctx.binding, ctx.batch,
                     rows_from, partial, self.step.combine == "mean", self.check)

    def _size(self, ctx: Context) -> int:
        shape = self.node.shape.bind(ctx.binding)
        if self.out_axis is None or self.out_axis == MIXED:
            return _size(shape)
        return _size(shape[:self.out_axis] + shape[self.out_axis + 1:])

    def blockwise(self, ctx: Context, operands: tuple, partial: bool) -> Any:
        """One task per chunk (``partial``: each task's result is a row, and a tree
        reduction combines the rows)."""
        n = self.node
        args, rows_from = self._args(ctx, operands)
        if self.step.template:
            args += [ctx.rows(), ("b", "m")]
            rows_from = len(operands)
        size = self._size(ctx)
        batched = self.out_axis is not None and self.out_axis != MIXED
        out_ind = ("b", "m") if batched or partial else ("m",)
        adjust: dict[str, Any] = {"m": (size,)}
        if partial:
            adjust["b"] = lambda c: 1
        out = da.blockwise(self._chunk(ctx, rows_from, partial), out_ind, *args,
                           name=ctx.name(f"{n.op}-{n.id}"), adjust_chunks=adjust,
                           align_arrays=False, concatenate=True, dtype=n.dtype,
                           meta=np.empty((0,) * len(out_ind), n.dtype))
        return self._combine(out) if partial else out

    def _combine(self, parts: Any) -> Any:
        how, se, dt = self.step.combine, self.split_every, self.node.dtype
        if how in ("sum", "mean"):
            return parts.sum(axis=0, split_every=se, dtype=dt)
        if how == "prod":
            return parts.prod(axis=0, split_every=se, dtype=dt)
        return getattr(parts, how)(axis=0, split_every=se)

    def gather(self, ctx: Context, operands: tuple) -> Any:
        """The operands joined into one chunk each, the op once on whole arrays; a result
        with B is split into the call's chunks again."""
        n = self.node
        args, rows_from = self._args(ctx, operands)
        args = [a.rechunk(-1) if k % 2 == 0 else a for k, a in enumerate(args)]
        batched = self.out_axis is not None and self.out_axis != MIXED
        out_ind = ("b", "m") if batched else ("m",)
        adjust: dict[str, Any] = {"m": (self._size(ctx),)}
        new_axes: dict[str, int] = {}
        if batched and rows_from is None:  # B comes from a mixed operand (B, B)
            new_axes["b"] = ctx.binding[ctx.batch]
        elif batched:
            adjust["b"] = (ctx.binding[ctx.batch],)
        out = da.blockwise(self._chunk(ctx, rows_from, False), out_ind, *args,
                           name=ctx.name(f"{n.op}-{n.id}"), adjust_chunks=adjust,
                           new_axes=new_axes, align_arrays=False, concatenate=True,
                           dtype=n.dtype, meta=np.empty((0,) * len(out_ind), n.dtype))
        return out.rechunk((ctx.chunks, -1)) if batched else out


def compute(runner: Runner, ctx: Context, nodes: list[Node], axes: list[Any],
            values: tuple, plan: DaskPlan | None = None) -> list[np.ndarray]:
    """The dask ``values`` computed together on the active scheduler (one graph, shared
    work), in their nodes' shapes (``plan.last_tasks``: how many tasks that took)."""
    if plan is not None and plan.count_tasks:
        plan.last_tasks = count_tasks([v for v in values if is_lazy(v)])
    out = runner.compute(list(values)) if values else []
    return [np.asarray(v).reshape(n.shape.bind(ctx.binding)) if ax is None or ax == MIXED
            else from_rows(np.asarray(v), ax, n.shape.bind(ctx.binding))
            for v, n, ax in zip(out, nodes, axes)]


def lazy_outputs(ctx: Context, nodes: list[Node], axes: list[Any], values: tuple) -> list:
    """``DaskBackend(lazy=True)``: the outputs as dask arrays in their nodes' shapes."""
    return [v if not is_lazy(v) else (v.reshape(n.shape.bind(ctx.binding))
                                      if ax is None or ax == MIXED
                                      else from_rows(v, ax, n.shape.bind(ctx.binding)))
            for v, n, ax in zip(values, nodes, axes)]


def owned(values: tuple, computed: tuple) -> list[Any]:
    """Every value returned is the caller's own array: one that may alias memory (a param,
    an input, a value the call keeps, another output) is copied; ``computed``: which ones a
    dask computation just made (fresh, unless a view)."""
    out: list[Any] = []
    seen: set[int] = set()
    for v, fresh in zip(values, computed):
        if is_lazy(v):
            out.append(v)
            continue
        v = np.asarray(v)
        # a fresh value (computed by dask for a node that is not a view) is new memory,
        # possibly seen through a reshape of the (B, M) layout
        if not fresh or not v.flags.writeable or id(v) in seen or id(v.base) in seen:
            v = np.array(v, copy=True)
        seen.add(id(v))
        if v.base is not None:
            seen.add(id(v.base))
        out.append(v)
    return out
