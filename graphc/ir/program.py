"""Program: what a backend compiles, a graph with its input order, outputs, updates and
schedule (built by ``gc.compile``, rewritten by the optimisation passes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir.graph import Graph


@dataclass
class Program:
    """What to compile: a graph, the input order, outputs, updates and the schedule."""

    graph: Graph
    inputs: list[int]
    outputs: list[int]
    #: (param node id, new-value node id), applied after everything is computed
    updates: list[tuple[int, int]]
    #: node ids in execution order (every node the outputs and updates need, updated params
    #: included)
    schedule: list[int] = field(default_factory=list)
    #: one Tensor compiled (one array returned) rather than a list
    single: bool = False
