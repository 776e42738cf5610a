"""Source nodes: inputs, params and constants. ``Graph.input/param/constant`` create them;
they are registered so that every node's op is known to the passes, codegen and drawing."""

from __future__ import annotations

from graphc.ir.opdef import OpDef, register


def _made_by_graph(kind: str):
    def infer(nodes, attrs):
        raise TypeError(f"a {kind} node is created by Graph.{kind}(), not applied as an op")

    return infer


def _no_compute(args, attrs, shape):
    raise TypeError("source nodes are fed, not computed")


for _kind, _doc in (("input", "A named value fed at call time."),
                    ("param", "A named parameter; its value lives in graph.params."),
                    ("constant", "A constant array baked into the graph.")):
    register(OpDef(name=_kind, kind="source", infer=_made_by_graph(_kind),
                   compute=_no_compute, emit=lambda args, attrs, ctx: "", doc=_doc,
                   arity=0))
