"""Diagrams and exports: DOT text, rendered svg/png/pdf (graphviz), networkx graphs."""

from graphc.viz.dot import to_dot
from graphc.viz.export import to_networkx
from graphc.viz.rendering import GraphvizNotFoundError, render

__all__ = ["GraphvizNotFoundError", "render", "to_dot", "to_networkx"]
