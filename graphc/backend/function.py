"""``gc.compile`` and ``Function``: prune, optimise, schedule, hand the program to a backend
(lower, plan, emit), exec its source once."""

from __future__ import annotations

import builtins
import itertools
import linecache
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from graphc.backend.base import Backend, get_backend
from graphc.errors import ShapeError
from graphc.ir.binding import solve_steps
from graphc.ir.dims import same_shape, symbol_of, symbols_of
from graphc.ir.display import svg_of
from graphc.ir.graph import Graph
from graphc.ir.node import Node, at_user, runtime_error
from graphc.ir.nxgraph import needed
from graphc.ir.program import Program
from graphc.ir.tensor import Tensor
from graphc.ops._common import wrap
from graphc.ops.evaluate import as_tensor_list
from graphc.ops.random import advance_updates
from graphc.passes.pipeline import Options, VerifyError, optimize, verify


def _state_pairs(g: Graph, roots: list[int], updated: set[int]) -> list[tuple[int, int]]:
    """For ``gc.compile``: ``(param id, new value id)`` of the registered state updates
    (``Graph.add_state_updates``) whose trigger ``roots`` need (or the values of those
    already taken need), leaving out the params in ``updated``. Records apply in
    registration order: a record whose value reads a param that an earlier record taken
    here updates reads that record's new value instead (its nodes are rebuilt on it, or
    found again when an earlier compile built them)."""
    records = g.state_updates
    if not records:
        return []
    current: dict[int, int] = {}   # param id -> its value after the records taken so far
    taken: set[int] = set()        # indices of the records taken
    while True:
        live = set(needed(g, [*roots, *current.values()]))
        new = [k for k, (trigger, _) in enumerate(records) if k not in taken and trigger in live]
        if not new:
            break
        taken.update(new)
        # replay every taken record in order (one taken now may come before earlier ones)
        current = {}
        for k in sorted(taken):
            step = {p: _substitute(g, v, current) for p, v in records[k][1] if p not in updated}
            current.update(step)
    return list(current.items())


def _substitute(g: Graph, value: int, mapping: dict[int, int]) -> int:
    """``value`` computed with the nodes in ``mapping`` (old id -> new id) replaced: the nodes
    between them are applied again on the new operands (an identical node already in the
    graph is reused, so compiling again adds nothing)."""
    if not mapping:
        return value
    new: dict[int, int] = {}
    for i in needed(g, [value]):
        if i in mapping:
            new[i] = mapping[i]
            continue
        n = g.node(i)
        if n.role != "op" or not any(j in new for j in n.inputs):
            continue
        ins = tuple(new.get(j, j) for j in n.inputs)
        same = next((m.id for m in g._nodes if m.op == n.op and m.inputs == ins
                     and m.attrs == n.attrs), None)
        new[i] = same if same is not None else g.apply(
            n.op, [g.tensor(j) for j in ins], n.attr, meta=n.info, loc=n.loc).id
    return new.get(value, value)


def _size_inputs(g: Graph, schedule: list[int], used: list[int]) -> list[int]:
    """Inputs that no output reads but whose dims bind a symbol the program needs (``x`` of
    ``gc.zeros_like(x)`` or ``g.arange(x.shape[1])``), in declaration order: the inputs a
    compiled function takes by default after those its outputs read."""
    want = {s for i in schedule for s in symbols_of(g.node(i).shape, g.node(i).attr)}
    chosen = list(used)
    extra: list[int] = []
    for t in g.inputs.values():
        nodes = [g.node(i) for i in chosen]
        bound = {symbol_of(d) for n in nodes for d in n.shape} - {None}
        bound |= {step[2] for step in solve_steps(nodes)}
        if not want - bound:
            break
        if t.id not in chosen and any(symbol_of(d) in want - bound for d in t.shape):
            chosen.append(t.id)
            extra.append(t.id)
    return extra


def _program(outputs: Any, inputs: Sequence[Tensor] | None,
             updates: Mapping[Tensor, Any] | None,
             state_updates: bool = True) -> tuple[bool, Program]:
    single, outs = as_tensor_list(outputs)
    g = outs[0].graph
    # ------------------------------------------------------------------------ updates
    pairs: list[tuple[int, int]] = []
    for p, v in (updates or {}).items():
        g.own(p, "updates key")
        if p.node.role != "param":
            raise TypeError(f"updates key {p!r} is not a param (only params can be updated)")
        if not isinstance(v, Tensor):
            v = wrap([v, p], "update")[0]
        g.own(v, f"update of {p.name!r}")
        if not same_shape(v.shape, p.shape):
            raise ShapeError(at_user(
                f"update of param {p.name!r}: the new value has shape {v.shape}, the param "
                f"{p.shape}", v.node.loc))
        if not np.can_cast(v.dtype, p.dtype, "same_kind"):
            raise TypeError(f"update of param {p.name!r}: a {v.dtype} value cannot be stored in "
                            f"a {p.dtype} param")
        pairs.append((p.id, v.id))
    # the state updates that layers registered (BatchNorm's running statistics), for the
    # layer calls that the outputs and updates need, unless the caller updates the param
    if state_updates:
        pairs += _state_pairs(g, [t.id for t in outs] + [i for pair in pairs for i in pair],
                              {p for p, _ in pairs})
    # a generator state that a draw reads advances with each call (its counter + 1), committed
    # with the other updates, unless the caller updates it (graphc.ops.random)
    pairs += advance_updates(g, [t.id for t in outs] + [i for pair in pairs for i in pair],
                             {p for p, _ in pairs})
    # -------------------------------------------------------------------------- inputs
    # the updated params too: the commit writes into them even when no value reads them
    schedule = needed(g, [t.id for t in outs] + [i for pair in pairs for i in pair])
    used = [i for i in schedule if g.node(i).role == "input"]
    if inputs is None:
        in_ids = used + _size_inputs(g, schedule, used)
    else:
        if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
            raise TypeError("inputs must be a list of input Tensors")
        in_ids = []
        for k, t in enumerate(inputs):
            g.own(t, f"inputs[{k}]")
            if t.node.role != "input":
                raise TypeError(f"inputs[{k}] ({t!r}) is not a graph input")
            if t.id in in_ids:
                raise ValueError(f"inputs[{k}] ({t.name!r}) is listed twice")
            in_ids.append(t.id)
        missing = [g.node(i).name for i in used if i not in in_ids]
        if missing:
            raise TypeError(
                f"the outputs need input(s) {', '.join(map(repr, missing))}, which are not in "
                "inputs"
            )
    return single, Program(graph=g, inputs=in_ids, outputs=[t.id for t in outs],
                           updates=pairs, schedule=schedule, single=single)


def compile(outputs: Any, inputs: Sequence[Tensor] | None = None,  # noqa: A001 - public name
            updates: Mapping[Tensor, Any] | None = None, *, passes: Any = None,
            debug: bool = False, check_finite: bool | str = False,
            backend: str | Backend = "numpy", state_updates: bool = True) -> Function:
    """Compile ``outputs`` (and ``updates`` {param: new value}) to one numpy function.

    ``inputs`` fixes the positional order (default: the graph's inputs that are needed, in
    declaration order, then those needed only for a size their dims bind, such as ``x`` of
    ``gc.zeros_like(x)``). One Tensor in gives one array out; a list gives a list.
    ``passes``: None runs every pass; a list of names runs only those, a dict
    ``{name: False}`` switches some off (names: fold, simplify, cse, dce, memory).
    ``debug=True`` (or the environment variable GRAPHC_DEBUG=1) verifies the graph after
    every pass: shapes re-inferred, acyclic, results unchanged on random inputs.
    ``check_finite=True`` is a debugging mode, like torch's anomaly detection but pointing at
    source: every input, param and float node is checked as it is computed, and the first
    NaN or inf raises ``gc.NonFiniteError`` naming the node's op, shape and the user's
    file:line (for a gradient node, also the forward node's). It turns the memory plan off,
    so the updates are committed only after every value passed the check.
    ``check_finite="outputs"`` is the cheap guard for training loops: only the float outputs
    (a loss) are checked, after everything is computed and before the updates are committed,
    so a step whose loss is NaN or inf raises ``gc.NonFiniteError`` and changes no param.
    ``backend`` names what compiles the optimised program: ``"numpy"`` (the default) emits
    one Python function over numpy (see ``graphc.backend.base`` for the interface);
    ``"numba"`` and ``"dask"`` are the optional backends (``pip install graphc[numba]``,
    ``graphc[dask]``); a ``Backend`` instance selects a backend with options.
    A program that draws (``gc.random``) gets the update that advances its generator state
    (unless ``updates`` sets it): each call draws afresh, and a call that raises does not
    advance it.
    The state updates that layers register (``Graph.add_state_updates``: BatchNorm's running
    statistics in training mode) are added for every layer call the outputs or updates
    need, unless ``updates`` sets the param or ``state_updates=False`` (for instance, to
    evaluate a training-mode loss without touching the running statistics); they are
    committed with the other updates, all or nothing.
    """
    get_backend(backend)  # an unknown backend raises before the graph changes
    if not isinstance(state_updates, (bool, np.bool_)):
        raise TypeError(f"state_updates must be True or False, got {state_updates!r}")
    options = Options.make(passes, False)  # bad pass names raise before the graph changes
    single, outs = as_tensor_list(outputs)
    with outs[0].graph.atomic():  # an update value wrapped as a constant, then a raise
        single, prog = _program(outputs, inputs, updates, bool(state_updates))
    options = Options.make(passes, debug or os.environ.get("GRAPHC_DEBUG", "") not in ("", "0"))
    if check_finite not in (False, True, "outputs"):
        raise ValueError(f"check_finite must be True, False or 'outputs', got {check_finite!r}")
    if check_finite == "outputs":
        options = replace(options, check_finite="outputs")
    elif check_finite:
        options = replace(options, check_finite=True, memory=False)
    return Function(prog, single, options, backend=backend)


class Function:
    """A compiled graph: call it with arrays (positional or keyword); ``.source`` is its code.

    ``.graph`` and ``.program`` are the optimised graph and program it runs (the graph
    shares the user's ``params`` dict); ``.source`` is the optimised code.
    """

    def __init__(self, program: Program, single: bool, options: Any = None,
                 optimized: bool = False, backend: str | Backend = "numpy"):

        options = options or Options()
        program.single = single
        if not optimized:
            program = optimize(program, options)
            if options.debug:
                verify(program, what="the optimised program")
        self._program = program
        self._single = single
        self._options = options
        g = program.graph
        self.graph = g
        self.input_names = [g.node(i).name for i in program.inputs]
        self._update_names = [g.node(p).name for p, _ in program.updates]
        self.backend = backend
        compiled = get_backend(backend).compile(program, memory=options.memory,
                                                check_finite=options.check_finite)
        #: the backend's plan (numpy: the MemoryPlan, with the lowering it was made for)
        self.plan = compiled.plan
        self.source, ns = compiled.source, compiled.namespace
        self._filename = _register_source(self, self.source)
        code = compile_source(self.source, self._filename)
        exec(code, ns)  # noqa: S102 - source is generated from validated op definitions only
        self._fn = ns["graphc_fn"]
        self._line_nodes = ns["LINE_NODES"]
        self._n_inputs = len(self.input_names)

    @property
    def program(self) -> Program:
        """What this function runs: graph, input order, outputs, updates, schedule."""
        return self._program

    # -------------------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run with arrays: positional (in ``input_names`` order), by keyword, or as one feed
        dict ``{input Tensor or name: array}`` as ``gc.evaluate`` takes."""
        if kwargs or len(args) != self._n_inputs or (
                self._n_inputs == 1 and isinstance(args[0], Mapping)):
            args = self._arrange(args, kwargs)
        # the generated function commits the updates itself, after computing everything
        try:
            return self._fn(self.graph.params, *args)
        except (IndexError, KeyError, ValueError, TypeError, ArithmeticError, Warning) as e:
            # numpy's errors, and its floating-point warnings where the user made them errors
            # (np.errstate(all="raise"), warnings.simplefilter("error"))
            node = self._failed_node(e)
            if node is None:
                raise  # an input check (already the contract's error) or not a node's line
            raise runtime_error(node, e) from e

    def _failed_node(self, e: BaseException):
        """The node whose line in the generated code raised ``e`` (None if none did)."""
        tb, node = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                node = self._line_nodes.get(tb.tb_lineno)
            tb = tb.tb_next
        return node

    def _arrange(self, args: tuple, kwargs: dict) -> list:
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
            args, kwargs = (), self._feed_names(args[0])
        names = self.input_names
        if len(args) > len(names):
            raise TypeError(f"this function takes {len(names)} input(s) ({', '.join(names)}), "
                            f"got {len(args)} positional arguments")
        if not kwargs and len(args) == len(names):
            return list(args)
        values: dict[str, Any] = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"unexpected input {k!r}; this function takes "
                                f"{', '.join(map(repr, names)) or 'no inputs'}")
            if k in values:
                raise TypeError(f"input {k!r} given twice (positionally and by keyword)")
            values[k] = v
        missing = [n for n in names if n not in values]
        if missing:
            raise TypeError(f"missing input(s) {', '.join(map(repr, missing))}")
        return [values[n] for n in names]

    def _feed_names(self, feed: Mapping) -> dict[str, Any]:
        """A feed dict's keys (input Tensors or names) as input names."""
        out: dict[str, Any] = {}
        for key, value in feed.items():
            if isinstance(key, Tensor):
                if key.node.role != "input" or key.name not in self.input_names:
                    raise TypeError(f"feed key {key!r} is not an input of this function; it "
                                    f"takes {', '.join(map(repr, self.input_names))}")
                key = key.name
            elif not isinstance(key, str):
                raise TypeError(f"feed keys must be input Tensors or names, got {key!r}")
            if key in out:
                raise TypeError(f"input {key!r} is fed twice")
            out[key] = value
        return out

    # ------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        return {"program": self._program, "single": self._single, "options": self._options,
                "backend": self.backend}

    def __setstate__(self, state: dict) -> None:
        """Recompile from a pickled program, validated as ``gc.load`` validates a file: a
        pickle is outside data, and its node attributes become generated code."""
        if not isinstance(state, dict):
            raise ValueError("a pickled gc.Function holds a dict state")
        prog, options = state.get("program"), state.get("options") or Options()
        backend = state.get("backend", "numpy")
        if not isinstance(options, Options) or not isinstance(state.get("single"), bool):
            raise ValueError("a pickled gc.Function has malformed options")
        get_backend(backend)
        _validate_program(prog)
        self.__init__(prog, state["single"], options, optimized=True, backend=backend)

    def _repr_svg_(self) -> str | None:
        """The diagram of the optimised program this function runs, for Jupyter."""
        return svg_of(self)

    def __repr__(self) -> str:
        p = self._program
        return (f"<gc.Function inputs={self.input_names} outputs={len(p.outputs)} "
                f"updates={self._update_names} nodes={len(p.schedule)}>")


def _validate_program(prog: Any) -> None:
    """A Program from outside (a pickle) is well formed, or a ValueError says what is not:
    nodes of the right types in topological order, every op node valid for its op with
    canonical attributes and the shape and dtype its rule gives (``verify``), constants and
    params that are what their nodes say, inputs, outputs and updates that are such nodes."""
    if not isinstance(prog, Program) or not isinstance(prog.graph, Graph):
        raise ValueError("a pickled gc.Function holds no graphc Program")
    g = prog.graph
    for k, n in enumerate(g._nodes):
        if not isinstance(n, Node) or n.id != k or not isinstance(n.op, str) or not all(
                type(i) is int for i in n.inputs) or not isinstance(n.dtype, np.dtype):
            raise ValueError(f"pickled program: node {k} is malformed")
        if n.role == "constant" and not (isinstance(n.value, np.ndarray) and n.value.dtype
                                       == n.dtype and n.value.shape == tuple(n.shape)):
            raise ValueError(f"pickled program: constant node {k} does not hold its value")
    ids = range(len(g._nodes))
    roles = [(prog.inputs, "input"), ([p for p, _ in prog.updates], "param")]
    if not all(i in ids and g.node(i).role == role for seq, role in roles for i in seq) or \
            not all(i in ids for i in [*prog.outputs, *(v for _, v in prog.updates)]):
        raise ValueError("pickled program: its inputs, outputs or updates are not its nodes")
    try:
        verify(prog, what="a pickled gc.Function")
    except (VerifyError, ShapeError, TypeError, ValueError) as e:
        raise ValueError(f"pickled program does not validate: {e}") from None
    prog.schedule = needed(g, [*prog.outputs, *(i for pair in prog.updates for i in pair)])


_FUNCTIONS = itertools.count()


def compile_source(source: str, filename: str = "<graphc>"):
    """Python code object for generated source (``filename`` in tracebacks and warnings)."""
    return builtins.compile(source, filename, "exec")


def _register_source(owner: object, source: str) -> str:
    """A file name of its own for ``owner``'s generated source, with the source in linecache
    (dropped with ``owner``), so that a traceback or a numpy warning raised in it shows the
    line, whose comment names the op, its shape and the user's file:line."""
    filename = f"<graphc {next(_FUNCTIONS)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(owner, linecache.cache.pop, filename, None)
    return filename
