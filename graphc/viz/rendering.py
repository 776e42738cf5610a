"""``render``: DOT through the graphviz package and the system ``dot`` binary to svg/png/pdf."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "install the system package graphviz (Debian/Ubuntu: sudo apt-get install graphviz; "
    "Fedora: sudo dnf install graphviz; macOS: brew install graphviz; conda: conda install "
    "graphviz); gc.to_dot(...) needs no binary"
)


class GraphvizNotFoundError(RuntimeError):
    """The graphviz ``dot`` binary is not installed (the message says how to install it)."""


def dot_binary() -> str | None:
    """The path of the ``dot`` binary, or None."""
    return shutil.which("dot")


def output_format(path: str | os.PathLike, dpi: int | None = None) -> str:
    """The format ``render`` writes to ``path`` (its suffix: svg, png or pdf), after checking
    that ``dpi`` suits it; a ValueError says what is wrong."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"render: cannot tell the format from {path.name!r}; use a .svg, .png or "
                         ".pdf file name")
    if dpi is not None:
        if fmt != "png":
            raise ValueError(f"render: dpi applies to .png files, not .{fmt} (which scale)")
        if isinstance(dpi, bool) or not isinstance(dpi, int) or not 24 <= dpi <= 1200:
            raise ValueError(f"render: dpi must be an int in [24, 1200], got {dpi!r}")
    return fmt


def render(target: Any, path: str | os.PathLike, *, dpi: int | None = None,
           **options: Any) -> Path:
    """Draw ``target`` (Graph, Tensor(s), Function) to ``path``; the suffix picks svg/png/pdf.

    ``options`` are those of ``to_dot``. ``dpi``: pixels per inch of a .png (graphviz's
    default is 96; 192 gives a sharp image on high-density screens); svg and pdf scale and
    take none. Needs the graphviz ``dot`` binary: without it, a ``GraphvizNotFoundError``
    (a RuntimeError) says how to install the system package.
    """
    from graphc.viz.dot import to_dot

    path = Path(path)
    fmt = output_format(path, dpi)
    text = to_dot(target, **options)
    if dpi is not None:
        # a graph attribute statement right after the opening line applies to the whole graph
        head, rest = text.split("\n", 1)
        text = f"{head}\n  graph [dpi=\"{dpi}\"];\n{rest}"
    path.write_bytes(_pipe(text, fmt))
    return path


def to_svg(target: Any, **options: Any) -> str | None:
    """The SVG text of ``target``'s diagram (``options`` are those of ``to_dot``), or None when
    the graphviz ``dot`` binary is not installed. ``graphc.viz`` installs it as what
    ``_repr_svg_`` calls, so Jupyter draws a Graph, Tensor or Function inline."""
    from graphc.viz.dot import to_dot

    text = to_dot(target, **options)
    try:
        return _pipe(text, "svg").decode("utf-8")
    except GraphvizNotFoundError:
        return None


def _pipe(text: str, fmt: str) -> bytes:
    """``text`` (DOT) laid out and drawn by the ``dot`` binary as ``fmt``."""
    import graphviz

    if dot_binary() is None:
        raise GraphvizNotFoundError(f"render: the graphviz 'dot' binary was not found on PATH: "
                                    f"{INSTALL_HINT}")
    try:
        return graphviz.pipe("dot", fmt, text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(f"render: the graphviz 'dot' binary could not be run: "
                                    f"{INSTALL_HINT}") from None
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode("utf-8", "replace").strip()
        raise RuntimeError(f"render: dot failed on the generated DOT: {err}") from None
