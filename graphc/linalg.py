"""``gc.linalg``: numpy.linalg's namespace for the graph ops that live there (``norm``)."""

from graphc.ops.reduction import linalg as _ns

norm = _ns.norm

__all__ = ["norm"]
