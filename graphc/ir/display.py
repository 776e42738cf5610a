"""Inline diagrams in Jupyter: ``Graph``, ``Tensor`` and ``Function`` have ``_repr_svg_``,
which draws through the renderer ``graphc.viz`` installs here (the IR does not import the
layers above it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_svg: Callable[[Any], str | None] | None = None


def install_svg(render: Callable[[Any], str | None]) -> None:
    """Make ``render(target) -> SVG text or None`` what ``_repr_svg_`` calls."""
    global _svg
    _svg = render


def svg_of(target: Any) -> str | None:
    """The SVG of ``target``'s diagram, or None (no renderer, or no ``dot`` binary)."""
    return None if _svg is None else _svg(target)
