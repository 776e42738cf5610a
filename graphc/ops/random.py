"""Random ops: ``uniform``, ``normal``, ``bernoulli`` draws and ``permutation``s of symbolic
shapes (``gc.random``), whose generator state lives in the graph.

**The state** is a non-trainable param ``rng/state`` (uint64, shape (2,): ``[key, counter]``),
made on first use with seed 0; ``gc.random.seed(g, s)`` sets it (key from ``s``, counter 0).
It is saved and loaded with the graph like any param.

**A draw** is a node whose one operand is the state and whose int attribute ``stream`` is
unique within the graph (so two draws differ, and common-subexpression elimination never
merges them). Its value is a pure function of (state, stream, attributes): counter-based,
with numpy's Philox as ``np.random.Generator(np.random.Philox(key=key, counter=[0, stream,
counter, 0]))``. Philox advances the lowest counter word while it draws, so that word starts
at 0 and the call counter sits in a word a draw never reaches: the draws of two calls never
overlap, those of two streams neither.

**Advancing.** ``gc.compile`` adds the update ``state -> random_advance(state)`` (counter + 1)
to a program that draws from a param state the caller's updates do not set: every call of the
compiled function draws afresh, and the new counter is committed with the other updates, all
or nothing, so a call that raises does not advance it. ``gc.evaluate`` draws with the current
state and does not advance it: evaluating twice gives the same draws (those the next compiled
call makes), which is what ``gc.check_grad`` needs to differentiate through a fixed mask.
A state fed to ``gc.evaluate`` (``feed={"rng/state": s}``) or given as an input is used as it
is.

Random ops are never constant-folded nor computed once per binding: they read a param.
No gradient flows through a draw (the state is an int); ``gc.nn.dropout`` multiplies its
input by a drawn mask, and the gradient flows to the input through that product.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, check_dim, definitely_equal
from graphc.ir.dtypes import check_dtype
from graphc.ir.graph import Graph
from graphc.ir.nxgraph import needed
from graphc.ir.opdef import OpDef, register
from graphc.ir.tensor import Tensor

#: the name of the generator state param (made without the current name scope)
STATE_NAME = "rng/state"
_STATE_DTYPE = np.dtype(np.uint64)
#: what ``random_advance`` adds to the state: the counter, not the key
_STEP = np.array([0, 1], dtype=_STATE_DTYPE)
_STEP.setflags(write=False)
#: the random draw ops (each reads a state and has a ``stream``)
DRAW_OPS = ("random_uniform", "random_normal", "random_bernoulli", "random_permutation")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# -------------------------------------------------------------------------- kernels
# The reference compute and the generated code call the same functions, so gc.evaluate and
# gc.compile draw the same numbers.


def generator(state: Any, stream: int) -> np.random.Generator:
    """The numpy Generator of draw ``stream`` at ``state`` ([key, counter])."""
    key, call = int(state[0]), int(state[1])
    counter = np.array([0, stream, call, 0], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key, counter=counter))


def _writable(out: Any) -> bool:
    return out is not None and out.flags.c_contiguous and out.flags.writeable


def draw_uniform(state, stream, shape, low, high, dtype, out=None):
    """Uniform on [low, high) (up to rounding): ``low + (high - low) * U``, U numpy's
    ``Generator.random`` in ``dtype`` (float32 or float64)."""
    gen = generator(state, stream)
    if _writable(out):
        u = gen.random(dtype=dtype, out=out)
    else:
        u = gen.random(shape, dtype)
    if high - low != 1.0:
        u *= high - low
    if low != 0.0:
        u += low
    if out is not None and u is not out:
        np.copyto(out, u)
        return out
    return u


def draw_normal(state, stream, shape, loc, scale, dtype, out=None):
    """Normal: ``loc + scale * Z``, Z numpy's ``Generator.standard_normal`` in ``dtype``."""
    gen = generator(state, stream)
    if _writable(out):
        z = gen.standard_normal(dtype=dtype, out=out)
    else:
        z = gen.standard_normal(shape, dtype)
    if scale != 1.0:
        z *= scale
    if loc != 0.0:
        z += loc
    if out is not None and z is not out:
        np.copyto(out, z)
        return out
    return z


def draw_bernoulli(state, stream, shape, p, dtype, out=None):
    """True (1) with probability ``p``: ``U < p``, U numpy's float64 ``Generator.random``
    (whatever ``dtype``, so a mask does not depend on the dtype it is stored in)."""
    u = generator(state, stream).random(shape)
    if out is not None:
        return np.less(u, p, out=out)
    return np.asarray(np.less(u, p)).astype(dtype, copy=False)


def draw_permutation(state, stream, n):
    """A random permutation of ``range(n)`` (numpy's ``Generator.permutation``), int64."""
    return np.asarray(generator(state, stream).permutation(n), dtype=np.int64)


def advance(state, out=None):
    """The next state: the counter + 1 (wrapping at 2**64), the key unchanged."""
    return np.add(state, _STEP, out=out)


# -------------------------------------------------------------------------- the state


def _graph_of(g: Any, fn: str) -> Graph:
    if isinstance(g, Graph):
        return g
    if isinstance(g, Tensor):
        return g.graph
    raise TypeError(f"gc.random.{fn}: expected a graphc Graph or Tensor (its graph), got "
                    f"{type(g).__name__}")


def _key_of(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not hasattr(seed, "__index__"):
        raise TypeError(f"gc.random.seed: the seed must be an int >= 0, got {seed!r}")
    s = int(seed.__index__())
    if s < 0:
        raise ValueError(f"gc.random.seed: the seed must be an int >= 0, got {s}")
    return int(np.random.SeedSequence(s).generate_state(1, np.uint64)[0])


def initial_state(seed: int = 0) -> np.ndarray:
    """The state ``[key, 0]`` of ``seed`` (an int >= 0): the key is made from the seed by
    numpy's ``SeedSequence``, so near seeds give unrelated keys."""
    return np.array([_key_of(seed), 0], dtype=_STATE_DTYPE)


def _existing_state(graph: Graph) -> Tensor | None:
    """The graph's state param, None when it has none; a TypeError when the name is taken by
    something that is not a state."""
    if STATE_NAME not in graph:
        return None
    t = graph[STATE_NAME]
    n = t.node
    if STATE_NAME not in graph.param_tensors or n.dtype != _STATE_DTYPE \
            or tuple(n.shape) != (2,):
        what = "a param" if STATE_NAME in graph.param_tensors else (
            "an input" if STATE_NAME in graph.inputs else "an output")
        raise TypeError(f"graph {graph.name!r} has {what} {STATE_NAME!r} of shape {n.shape} "
                        f"{n.dtype}, which is not a generator state (a uint64 param of shape "
                        "(2,)); gc.random needs that name")
    return t


def _make_state(graph: Graph, value: np.ndarray) -> Tensor:
    """The state param, named without the current name scope (one per graph)."""
    scope, graph._scope = graph._scope, []
    try:
        return graph.param(STATE_NAME, value, dtype=_STATE_DTYPE, trainable=False)
    finally:
        graph._scope = scope


def state(g: Any) -> Tensor:
    """The generator state of ``g``'s graph (``g`` a Graph or a Tensor): the non-trainable
    uint64 param ``rng/state`` of shape (2,), ``[key, counter]``, made with seed 0 on first
    use. Its value is ``graph.params["rng/state"]``."""
    graph = _graph_of(g, "state")
    t = _existing_state(graph)
    return _make_state(graph, initial_state(0)) if t is None else t


def seed(g: Any, seed: int) -> Tensor:
    """Set the generator state of ``g``'s graph (a Graph or a Tensor) from ``seed``, an int
    >= 0: the key made from the seed, the counter 0 (the state is made if the graph has none).
    The same seed then gives the same draws, call after call; compiled functions see the new
    state (it is written in place). Returns the state param."""
    graph = _graph_of(g, "seed")
    value = initial_state(seed)
    t = _existing_state(graph)
    if t is None:
        return _make_state(graph, value)
    held = graph.params.get(STATE_NAME)
    if isinstance(held, np.ndarray) and held.shape == (2,) and held.dtype == _STATE_DTYPE \
            and held.flags.writeable:
        held[...] = value
    else:
        graph.params[STATE_NAME] = value
    return t


def _next_stream(graph: Graph) -> int:
    """One more than the largest stream of the graph's draws (0 for the first)."""
    return 1 + max((n.attr["stream"] for n in graph._nodes if n.op in DRAW_OPS), default=-1)


def _draw(g: Any, op: str, fn: str, attrs: dict[str, Any]) -> Tensor:
    """A draw node of ``op`` on ``g``'s graph, reading its state, with a fresh stream. A
    failure leaves the graph as it was (a state made for this draw is dropped too)."""
    graph = _graph_of(g, fn)
    made = _existing_state(graph) is None
    try:
        with graph.atomic():
            st = state(graph)
            return graph.apply(op, [st], {**attrs, "stream": _next_stream(graph)})
    except BaseException:
        if made:  # the node is gone (atomic); its registration too
            graph._params.pop(STATE_NAME, None)
            graph.params.pop(STATE_NAME, None)
        raise


# ---------------------------------------------------------------------- normalizing


def _real(v: Any, what: str) -> float:
    """A finite Python float from an int or a float (numpy scalars of those kinds too)."""
    if isinstance(v, np.generic) and v.dtype.kind in "iuf":
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{what} {v!r} of type {type(v).__name__} is not a float")
    try:
        f = float(v)
    except OverflowError:
        raise TypeError(f"{what} {v!r} is too large for a float") from None
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite, got {f!r}")
    return f


def _float_dtype(dt: Any, what: str) -> str:
    d = check_dtype(dt, what)
    if d not in _FLOATS:
        raise TypeError(f"{what}: dtype {d} is not supported (float32 or float64)")
    return d.name


def _stream(attrs: dict) -> int:
    s = attrs["stream"]
    if isinstance(s, (bool, np.bool_)) or not hasattr(s, "__index__"):
        raise TypeError(f"stream {s!r} is not an int")
    s = int(s.__index__())
    if not 0 <= s < 2**64:
        raise ValueError(f"stream {s} is not in [0, 2**64)")
    return s


def _shape(attrs: dict) -> tuple:
    return tuple(Shape(attrs["shape"]))


def _fits(v: float, dt: str, what: str) -> None:
    with np.errstate(all="ignore"):
        if not np.isfinite(np.array(v, dtype=dt)):
            raise ValueError(f"{what} {v!r} does not fit dtype {dt}")


def _normalize_uniform(nodes, attrs):
    low, high = _real(attrs["low"], "low"), _real(attrs["high"], "high")
    dt = _float_dtype(attrs.get("dtype", np.float64), "uniform")
    if not math.isfinite(high - low):
        raise ValueError(f"high - low = {high} - {low} is not finite")
    for v, what in ((low, "low"), (high, "high"), (high - low, "high - low")):
        _fits(v, dt, what)
    return {"shape": _shape(attrs), "low": low, "high": high, "dtype": dt,
            "stream": _stream(attrs)}


def _normalize_normal(nodes, attrs):
    loc, scale = _real(attrs["loc"], "loc"), _real(attrs["scale"], "scale")
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale!r}")
    dt = _float_dtype(attrs.get("dtype", np.float64), "normal")
    for v, what in ((loc, "loc"), (scale, "scale")):
        _fits(v, dt, what)
    return {"shape": _shape(attrs), "loc": loc, "scale": scale, "dtype": dt,
            "stream": _stream(attrs)}


def _probability(p: Any) -> float:
    if isinstance(p, Tensor):
        raise TypeError("p is a Tensor; a probability is a float in [0, 1] fixed when the "
                        "graph is built")
    p = _real(p, "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return p


def _normalize_bernoulli(nodes, attrs):
    dt = check_dtype(attrs.get("dtype", bool), "bernoulli")
    return {"shape": _shape(attrs), "p": _probability(attrs["p"]), "dtype": dt.name,
            "stream": _stream(attrs)}


def _normalize_permutation(nodes, attrs):
    n = attrs["n"]
    if isinstance(n, Tensor):
        raise TypeError("n is a Tensor, whose value is not known when the graph is built; n "
                        "is an int or a dim (x.shape[0])")
    return {"n": check_dim(n, "n"), "stream": _stream(attrs)}


def _check_state(nodes) -> None:
    s = nodes[0]
    if s.dtype != _STATE_DTYPE:
        raise TypeError(f"the generator state must be uint64 ([key, counter]), got {s.dtype}")
    if not (len(s.shape) == 1 and definitely_equal(s.shape[0], 2)):
        raise ShapeError(f"the generator state must have shape (2,) ([key, counter]), got "
                         f"{s.shape}")


def _infer(nodes, attrs):
    _check_state(nodes)
    return Shape(attrs["shape"]), np.dtype(attrs["dtype"])


def _permutation_infer(nodes, attrs):
    _check_state(nodes)
    return Shape((attrs["n"],)), np.dtype(np.int64)


def _advance_infer(nodes, attrs):
    _check_state(nodes)
    return nodes[0].shape, _STATE_DTYPE


# ----------------------------------------------------------------------------- emits


def _out(ctx) -> str:
    return f", out={ctx.out}" if ctx.out is not None else ""


def _emit_two(fn, a: str, b: str):
    def emit(args, attrs, ctx):
        k, dt = ctx.ref(fn, "k"), ctx.ref(np.dtype(attrs["dtype"]), "dt")
        return (f"{k}({args[0]}, {int(attrs['stream'])}, {ctx.shape}, {float(attrs[a])!r}, "
                f"{float(attrs[b])!r}, {dt}{_out(ctx)})")

    return emit


def _bernoulli_emit(args, attrs, ctx):
    k, dt = ctx.ref(draw_bernoulli, "k"), ctx.ref(np.dtype(attrs["dtype"]), "dt")
    return (f"{k}({args[0]}, {int(attrs['stream'])}, {ctx.shape}, {float(attrs['p'])!r}, "
            f"{dt}{_out(ctx)})")


def _permutation_emit(args, attrs, ctx):
    k = ctx.ref(draw_permutation, "k")
    return f"{k}({args[0]}, {int(attrs['stream'])}, {ctx.dim(attrs['n'])})"


def _advance_emit(args, attrs, ctx):
    return f"{ctx.ref(advance, 'k')}({args[0]}{_out(ctx)})"


def _written(node, src, axis):
    """A size-1 axis of a draw is one the user wrote."""
    return True


# -------------------------------------------------------------------------- builders


def uniform(g: Any, shape: Any, low: float = 0.0, high: float = 1.0,
            dtype: Any = np.float64) -> Tensor:
    """Uniform draws on [low, high) of ``shape`` (ints, dims, dim strings: ``("B", 4)``,
    ``x.shape``) from the generator state of ``g`` (a Graph, or a Tensor: its graph).
    ``dtype``: float32 or float64. Each call of a compiled function draws afresh;
    ``gc.evaluate`` draws with the current state (see ``gc.random.seed``)."""
    return _draw(g, "random_uniform", "uniform",
                 {"shape": shape, "low": low, "high": high, "dtype": dtype})


def normal(g: Any, shape: Any, loc: float = 0.0, scale: float = 1.0,
           dtype: Any = np.float64) -> Tensor:
    """Normal draws of mean ``loc`` and standard deviation ``scale`` (>= 0) of ``shape``
    (ints, dims, dim strings) from the generator state of ``g`` (a Graph or a Tensor).
    ``dtype``: float32 or float64."""
    return _draw(g, "random_normal", "normal",
                 {"shape": shape, "loc": loc, "scale": scale, "dtype": dtype})


def bernoulli(g: Any, p: float, shape: Any, dtype: Any = bool) -> Tensor:
    """Coin flips of ``shape`` (ints, dims, dim strings): True (1) with probability ``p``, a
    float in [0, 1] (0 gives all False, 1 all True), from the generator state of ``g`` (a
    Graph or a Tensor). ``dtype``: bool, or any int or float dtype (0 and 1)."""
    return _draw(g, "random_bernoulli", "bernoulli", {"shape": shape, "p": p, "dtype": dtype})


def permutation(g: Any, n: Any) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64, shape (n,)); ``n`` an int or a dim
    (``x.shape[0]``, ``"B"``), from the generator state of ``g`` (a Graph or a Tensor).
    ``x[gc.random.permutation(x, x.shape[0])]`` shuffles the rows of x."""
    return _draw(g, "random_permutation", "permutation", {"n": n})


def advance_updates(graph: Graph, roots: list[int], updated: set[int]) -> list[tuple[int, int]]:
    """For ``gc.compile``: ``(state param id, advanced state id)`` for each param state that
    a draw under ``roots`` reads and ``updated`` (the params the caller updates) does not
    hold. The ``random_advance`` node of a param is made once and reused."""
    order = needed(graph, roots)
    states: list[int] = []
    for i in order:
        n = graph.node(i)
        if n.op in DRAW_OPS:
            s = n.inputs[0]
            if graph.node(s).role == "param" and s not in updated and s not in states:
                states.append(s)
    pairs = []
    for s in states:
        v = next((n.id for n in graph._nodes
                  if n.op == "random_advance" and n.inputs == (s,)), None)
        if v is None:
            v = graph.apply("random_advance", [graph.tensor(s)]).id
        pairs.append((s, v))
    return pairs


register(OpDef(
    name="random_uniform", kind="creation", infer=_infer,
    compute=lambda args, attrs, shape: draw_uniform(
        args[0], attrs["stream"], shape, attrs["low"], attrs["high"], np.dtype(attrs["dtype"])),
    emit=_emit_two(draw_uniform, "low", "high"), normalize=_normalize_uniform, out=True,
    axis_source=_written, doc=uniform.__doc__,
    attrs=("shape", "low", "high", "dtype", "stream"),
))

register(OpDef(
    name="random_normal", kind="creation", infer=_infer,
    compute=lambda args, attrs, shape: draw_normal(
        args[0], attrs["stream"], shape, attrs["loc"], attrs["scale"], np.dtype(attrs["dtype"])),
    emit=_emit_two(draw_normal, "loc", "scale"), normalize=_normalize_normal, out=True,
    axis_source=_written, doc=normal.__doc__,
    attrs=("shape", "loc", "scale", "dtype", "stream"),
))

register(OpDef(
    name="random_bernoulli", kind="creation", infer=_infer,
    compute=lambda args, attrs, shape: draw_bernoulli(
        args[0], attrs["stream"], shape, attrs["p"], np.dtype(attrs["dtype"])),
    emit=_bernoulli_emit, normalize=_normalize_bernoulli, out=True,
    axis_source=_written, doc=bernoulli.__doc__, attrs=("shape", "p", "dtype", "stream"),
))

register(OpDef(
    name="random_permutation", kind="creation", infer=_permutation_infer,
    compute=lambda args, attrs, shape: draw_permutation(args[0], attrs["stream"], attrs["n"]),
    emit=_permutation_emit, normalize=_normalize_permutation,
    axis_source=_written, doc=permutation.__doc__, attrs=("n", "stream"),
))

register(OpDef(
    name="random_advance", kind="elementwise", infer=_advance_infer,
    compute=lambda args, attrs, shape: advance(args[0]),
    emit=_advance_emit, out=True, inplace=True,
    axis_source=lambda node, src, axis: [(0, axis)],
    doc="The generator state with its counter advanced by one (the update gc.compile adds "
        "for a program that draws).",
))

#: the public builders (re-exported by graphc.random as gc.random.<name>)
__all__ = ["bernoulli", "normal", "permutation", "seed", "state", "uniform"]
