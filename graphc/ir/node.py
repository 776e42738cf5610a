"""Immutable IR nodes and the user-source locations they record."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

#: roles of source nodes; every other node is an "op"
SOURCE_ROLES = {"input": "input", "param": "param", "constant": "constant"}


def user_location() -> str:
    """The ``file:line`` of the first stack frame outside the graphc package.

    Python's own frozen modules (``<frozen runpy>`` when graphc runs as ``python -m``) are
    not user code either; with no user frame at all the location is ``<graphc>:0``.
    """
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if (not fn.startswith(("<frozen", "<graphc"))
                and not os.path.abspath(fn).startswith(_PKG_DIR)):
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return "<graphc>:0"


def short_loc(loc: str) -> str:
    """``model.py:12`` from ``/path/to/model.py:12`` (diagrams, generated comments)."""
    file, sep, line = loc.rpartition(":")
    return f"{os.path.basename(file)}:{line}" if sep else os.path.basename(loc)


def at_user(message: str, loc: str | None = None) -> str:
    """``message`` ended by the line every build-time error ends with: ``at file:line`` of the
    user's code (``loc``, or the first frame outside graphc)."""
    return f"{message}\n  at {loc or user_location()}"


def freeze_attrs(attrs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Attributes as a sorted tuple of (key, value), so nodes hash and print deterministically."""
    return tuple(sorted(attrs.items()))


@dataclass(frozen=True)
class Node:
    """One value in the graph: an op applied to earlier nodes, with its inferred shape and dtype.

    ``id`` is the node's position in its graph (creation order, which is a topological
    order). ``loc`` is the user's ``file:line`` that built it. ``meta`` carries provenance
    (for example, which forward node an inserted gradient ``sum`` unbroadcasts). A constant
    keeps its (read-only) array in ``value``.
    """

    id: int
    op: str
    inputs: tuple[int, ...]
    attrs: tuple[tuple[str, Any], ...]
    shape: Shape
    dtype: np.dtype
    name: str | None = None
    loc: str = "<graphc>:0"
    meta: tuple[tuple[str, Any], ...] = ()
    value: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def attr(self) -> dict[str, Any]:
        """The attributes as a dict."""
        return dict(self.attrs)

    @property
    def info(self) -> dict[str, Any]:
        """The provenance/metadata as a dict."""
        return dict(self.meta)

    @property
    def role(self) -> str:
        """``input``, ``param``, ``constant`` or ``op``."""
        return SOURCE_ROLES.get(self.op, "op")

    @property
    def ndim(self) -> int:
        return len(self.shape)


def describe(node: Node) -> str:
    """``divide node %8 (B,)``, and ``from mean`` when an optimisation pass rewrote the op the
    user wrote (``gc.mean`` runs as a sum and a divide)."""
    origin = node.info.get("origin")
    came = f" from {origin}" if origin and origin != node.op else ""
    return f"{node.op} node %{node.id} {node.shape}{came}"


def where_built(node: Node) -> str:
    """``  at file:line`` of a node, and for a gradient node the forward node's line."""
    info = node.info
    lines = [f"  at {node.loc}"]
    if "grad_of" in info:
        fwd = info.get("forward_op", "the forward node")
        lines.append(f"  in the gradient of {fwd} built at {info.get('forward_loc', '?')}")
    return "\n".join(lines)


def runtime_error(node: Node, e: Exception) -> Exception:
    """A numpy error raised while computing ``node`` (an integer label out of range, ...),
    as the contract's ValueError/TypeError naming the op, its shape and the user's line."""
    keep = (ShapeError, TypeError, FloatingPointError, Warning)  # (a warning made an error)
    kind = type(e) if isinstance(e, keep) else ValueError
    hint = node.info.get("hint")
    hint = f" ({hint})" if isinstance(hint, str) else ""
    return kind(f"{describe(node)} failed at run time: "
                f"{type(e).__name__}: {e}{hint}\n{where_built(node)}")
