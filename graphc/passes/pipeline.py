"""The optimisation pipeline: fold -> simplify -> cse -> dce, to a fixed point, each switchable,
with a debug mode that verifies the graph after every pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, fields, replace
from typing import Any

import networkx as nx
import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import same_shape
from graphc.ir.graph import Graph
from graphc.ir.nxgraph import needed, to_digraph
from graphc.ir.opdef import check_node
from graphc.ir.program import Program
from graphc.passes._rebuild import Mapping
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold import fold_constants
from graphc.passes.simplify import simplify

PassFn = Callable[..., "tuple[Graph, Mapping]"]

#: the graph passes, in pipeline order
GRAPH_PASSES: dict[str, PassFn] = {
    "fold": fold_constants, "simplify": simplify, "cse": cse, "dce": dce,
}
#: every switch: the graph passes and the memory plan (out=, buffer reuse, in-place)
PASS_NAMES = (*GRAPH_PASSES, "memory")
MAX_ROUNDS = 6


@dataclass(frozen=True)
class Options:
    """Which passes run (all by default) and whether each one is verified (``debug``)."""

    fold: bool = True
    simplify: bool = True
    cse: bool = True
    dce: bool = True
    memory: bool = True
    debug: bool = False
    #: stop at the first node whose value is not finite (see gc.compile's check_finite);
    #: "outputs": check only the outputs, before the commit
    check_finite: bool | str = False

    @classmethod
    def make(cls, passes: Any = None, debug: bool = False) -> Options:
        """From ``compile``'s arguments: ``passes`` is None (all), an Options, a collection of
        the pass names to run, or a dict ``{name: bool}`` (unnamed passes stay on)."""
        if passes is None:
            opts = cls()
        elif isinstance(passes, Options):
            opts = passes
        elif isinstance(passes, AbcMapping):
            _check_names(passes)
            opts = cls(**{k: bool(v) for k, v in passes.items()})
        elif isinstance(passes, Iterable) and not isinstance(passes, (str, bytes)):
            names = list(passes)
            _check_names(names)
            opts = cls(**{k: k in names for k in PASS_NAMES})
        else:
            raise TypeError(f"passes must be None, a list of pass names or a dict; got "
                            f"{passes!r} (names: {', '.join(PASS_NAMES)})")
        return replace(opts, debug=bool(debug) or opts.debug)

    def enabled(self) -> list[str]:
        """The names of the passes switched on."""
        return [f.name for f in fields(self) if f.name != "debug" and getattr(self, f.name)]


def _check_names(names: Iterable[str]) -> None:
    bad = [n for n in names if n not in PASS_NAMES]
    if bad:
        raise ValueError(f"unknown pass(es) {', '.join(map(repr, bad))}; the passes are "
                         f"{', '.join(PASS_NAMES)}")


def roots_of(prog: Program) -> list[int]:
    """The nodes a program must keep: outputs, updated params and their new values, inputs."""
    return [*prog.outputs, *(p for p, _ in prog.updates), *(v for _, v in prog.updates),
            *prog.inputs]


def remap(prog: Program, graph: Graph, m: Mapping, schedule: bool = True) -> Program:
    """``prog`` with every id sent through ``m``, on ``graph``, rescheduled (``schedule=False``:
    left unscheduled, for a program that only feeds the next pass)."""
    outputs = [m[i] for i in prog.outputs]
    updates = [(m[p], m[v]) for p, v in prog.updates]
    new = Program(graph=graph, inputs=[m[i] for i in prog.inputs], outputs=outputs,
                  updates=updates, single=prog.single)
    if schedule:
        new.schedule = needed(graph, [*outputs, *(i for pair in updates for i in pair)])
    return new


def unchanged(before: Graph, after: Graph, m: Mapping) -> bool:
    """True when a pass gave back ``before`` as it was: every node kept at its id (the
    Rebuilder shares the very node object when it copies one unchanged), the same outputs."""
    return (len(after._nodes) == len(before._nodes)
            and all(a is b for a, b in zip(after._nodes, before._nodes))
            and after._outputs == before._outputs and all(k == v for k, v in m.items()))


def optimize(prog: Program, options: Options | None = None) -> Program:
    """Run the switched-on graph passes in order, round after round, to a fixed point: until
    every pass in a row has changed nothing (at most MAX_ROUNDS rounds); with
    ``options.debug``, verify the program after every pass.

    Passes are deterministic, so once each of them has given back its graph unchanged in a
    row, another round would change nothing either: the pipeline stops there, mid-round.
    """
    options = options or Options()
    active = [(k, fn) for k, fn in GRAPH_PASSES.items() if getattr(options, k)]
    if not active:
        return prog
    quiet = 0  # passes in a row that changed nothing
    for _ in range(MAX_ROUNDS):
        for name, fn in active:
            g, m = fn(prog.graph, roots_of(prog))
            quiet = quiet + 1 if unchanged(prog.graph, g, m) else 0
            new = remap(prog, g, m, schedule=False)
            if options.debug:
                verify(new, before=prog, what=f"after pass {name!r}")
            prog = new
            if quiet == len(active):
                break
        if quiet == len(active):
            break
    return remap(prog, prog.graph, {i: i for i in range(len(prog.graph))})


# ------------------------------------------------------------------------------ verifier


class VerifyError(AssertionError):
    """A pass produced a graph that is malformed or computes something else (a graphc bug)."""


def verify(prog: Program, before: Program | None = None, what: str = "",
           seed: int = 0, size: int = 3) -> None:
    """Check a program: ids in topological order and acyclic, every op node's shape and dtype
    re-inferred by its op's rule, and (given ``before``) outputs and update values equal to
    ``before``'s on random inputs with every symbol bound to ``size``."""
    g = prog.graph
    where = f" ({what})" if what else ""
    for n in g.nodes:
        if any(i >= n.id for i in n.inputs):
            raise VerifyError(f"node %{n.id} uses a later node{where}")
        if n.role == "op":
            try:
                _, _, shape, dtype = check_node(n.op, [g.node(i) for i in n.inputs], n.attr,
                                                canonical=True)
            except (TypeError, ValueError) as e:  # ShapeError is a ValueError
                raise VerifyError(f"{n.op} %{n.id} is not a valid node: {e}{where}") from None
            if not same_shape(shape, n.shape) or dtype != n.dtype:
                raise VerifyError(f"{n.op} %{n.id} records {n.shape} {n.dtype}, its rule gives "
                                  f"{shape} {dtype}{where}")
    if not nx.is_directed_acyclic_graph(to_digraph(g)):
        raise VerifyError(f"the graph has a cycle{where}")
    for i in roots_of(prog):
        if not 0 <= i < len(g):
            raise VerifyError(f"the program refers to a missing node %{i}{where}")
    if before is None:
        return
    from graphc.ops.evaluate import evaluate

    old_ids = [*before.outputs, *(v for _, v in before.updates)]
    new_ids = [*prog.outputs, *(v for _, v in prog.updates)]
    for every in (size, 2 * size + 1, 4 * size + 5):  # the first size the shape rules accept
        feed_old, feed_new = _random_feed(before, prog, seed, every)
        if feed_old is None:
            continue
        try:
            with np.errstate(all="ignore"):
                want = evaluate([before.graph.tensor(i) for i in old_ids], feed_old)
        except ShapeError:  # a condition of a shape rule (a slice needs T >= 5): larger
            continue
        except Exception:  # noqa: BLE001 - random values outside an op's domain (an index)
            return
        break
    else:
        return
    with np.errstate(all="ignore"):
        got = evaluate([g.tensor(i) for i in new_ids], feed_new)
    for k, (a, b) in enumerate(zip(want, got)):
        if a.shape != b.shape or a.dtype != b.dtype or not np.allclose(
                a, b, rtol=1e-6, atol=1e-9, equal_nan=True):
            raise VerifyError(f"result {k} changed{where}: {a!r} became {b!r}")


class _Every(dict):
    """A binding of every symbol to one size."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __missing__(self, key: str) -> int:
        return self.size


def _random_feed(before: Program, prog: Program, seed: int, size: int):
    rng = np.random.default_rng(seed)
    feed_old: dict[Any, Any] = {}
    feed_new: dict[Any, Any] = {}
    new_names = {prog.graph.node(i).name: i for i in prog.inputs}
    for i in before.inputs:
        n = before.graph.node(i)
        shape = n.shape.bind(_Every(size))
        if min(shape, default=0) < 0:  # an expression dim too small for this size
            return None, None
        if n.dtype.kind == "f":
            v = rng.standard_normal(shape).astype(n.dtype)
        elif n.dtype.kind == "b":
            v = rng.random(shape) < 0.5
        else:
            v = rng.integers(0, 2, shape).astype(n.dtype)
        feed_old[before.graph.tensor(i)] = v
        if n.name in new_names:
            feed_new[prog.graph.tensor(new_names[n.name])] = v
    return feed_old, feed_new
