"""Graph passes: the broadcast diagnostics (run as nodes are built) and the optimising passes."""

from graphc.passes import lint as _lint  # noqa: F401  (registers the broadcast diagnostics)
