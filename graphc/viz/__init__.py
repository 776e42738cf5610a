"""Diagrams and exports: DOT text, rendered svg/png/pdf (graphviz), networkx graphs; and the
inline diagrams of Jupyter (``_repr_svg_`` of a Graph, Tensor or Function draws through
``to_svg``, installed here into ``graphc.ir.display``)."""

from graphc.ir.display import install_svg
from graphc.viz.dot import to_dot
from graphc.viz.export import to_networkx
from graphc.viz.rendering import (
    DiagramSizeWarning,
    GraphvizNotFoundError,
    RenderTimeoutError,
    render,
    to_svg,
)

install_svg(to_svg)

__all__ = ["DiagramSizeWarning", "GraphvizNotFoundError", "RenderTimeoutError", "render",
           "to_dot", "to_svg", "to_networkx"]
