"""A deterministic text form of the IR, one line per node (for debugging and golden tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphc.ir.graph import Graph


def _attr(v) -> str:
    return repr(v)


def format_graph(g: Graph) -> str:
    """``%3 = add(%1, %2) {..}  : (B, 16) float64`` lines, in id order."""
    lines = [f"graph {g.name!r}"]
    for n in g.nodes:
        args = ", ".join(f"%{i}" for i in n.inputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in n.attrs)
        attrs = f" {{{attrs}}}" if attrs else ""
        lines.append(f"  %{n.id} = {n.op}({args}){attrs} : {n.shape} {n.dtype}")
    for name, t in g.outputs.items():
        lines.append(f"  output {name!r} = %{t.id}")
    return "\n".join(lines)
