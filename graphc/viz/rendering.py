"""``render``: DOT through the system ``dot`` binary to svg/png/pdf, within a budget.

dot's time grows much faster than the diagram. Measured with dot 2.43 on chains of one-param
modules with their gradients, each module a cluster: stacked (``stack=True``), 1.3 s at 320
nodes and clusters and 6 s at 400; mirrored, 1.7 s at 540, 7.6 s at 800 and 52 s at 1300;
forward only, 0.5 s at 1000. Past ``MAX_NODES`` nodes and clusters (about where the slowest
layouts pass a few seconds), ``render`` therefore collapses modules (the deepest ``depth``
that fits) and warns; and dot gets ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

FORMATS = ("svg", "png", "pdf")
#: the nodes and clusters drawn before ``render`` collapses modules (``max_nodes=``)
MAX_NODES = 300
#: the seconds ``dot`` may take (``timeout=``)
TIMEOUT = 60.0
INSTALL_HINT = (
    "install the system package graphviz (Debian/Ubuntu: sudo apt-get install graphviz; "
    "Fedora: sudo dnf install graphviz; macOS: brew install graphviz; conda: conda install "
    "graphviz); gc.to_dot(...) needs no binary"
)


class GraphvizNotFoundError(RuntimeError):
    """The graphviz ``dot`` binary is not installed (the message says how to install it)."""


class RenderTimeoutError(RuntimeError):
    """The ``dot`` binary took longer than ``timeout`` seconds (and was stopped)."""


class DiagramSizeWarning(UserWarning):
    """``render`` found the diagram over ``max_nodes`` nodes and clusters: it drew it with
    modules collapsed to ``depth`` (``drawn`` nodes and clusters), or, with no module to
    collapse (``depth`` None), as it is."""

    def __init__(self, message: str, size: int, max_nodes: int, depth: int | None,
                 drawn: int, fold: bool = False):
        super().__init__(message)
        self.size, self.max_nodes, self.depth, self.drawn = size, max_nodes, depth, drawn
        #: whether the diagram was folded (``fold=True``) already
        self.fold = fold


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


def check_budget(max_nodes: Any, timeout: Any) -> None:
    """``max_nodes``: an int >= 0 or None (0 and None: no budget); ``timeout``: seconds > 0 or
    None (no limit). A ValueError says what is wrong."""
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 0):
        raise ValueError(f"render: max_nodes must be an int >= 0 or None, got {max_nodes!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ValueError(f"render: timeout must be a number of seconds > 0 or None, got "
                         f"{timeout!r}")


def render(target: Any, path: str | os.PathLike, *, dpi: int | None = None,
           max_nodes: int | None = MAX_NODES, timeout: float | None = TIMEOUT,
           **options: Any) -> Path:
    """Draw ``target`` (Graph, Tensor(s), Function) to ``path``; the suffix picks svg/png/pdf.

    ``options`` are those of ``to_dot``. ``dpi``: pixels per inch of a .png (graphviz's
    default is 96; 192 gives a sharp image on high-density screens); svg and pdf scale and
    take none. ``max_nodes`` (default 300): when the diagram has more nodes and clusters and
    no ``depth`` is given, modules are collapsed to the deepest ``depth`` that fits, with a
    ``DiagramSizeWarning`` (a UserWarning) saying so; None or 0 draws everything.
    ``timeout`` (default 60 s; None: none): dot is stopped past it, a ``RenderTimeoutError``
    (a RuntimeError). Needs the graphviz ``dot`` binary: without it, a
    ``GraphvizNotFoundError`` (a RuntimeError) says how to install the system package.
    """
    path = Path(path)
    fmt = output_format(path, dpi)
    text, drawn = _fitted(target, max_nodes, timeout, options)
    if dpi is not None:
        # a graph attribute statement right after the opening line applies to the whole graph
        head, rest = text.split("\n", 1)
        text = f"{head}\n  graph [dpi=\"{dpi}\"];\n{rest}"
    path.write_bytes(_pipe(text, fmt, timeout, drawn))
    return path


def to_svg(target: Any, *, max_nodes: int | None = MAX_NODES, timeout: float | None = TIMEOUT,
           **options: Any) -> str | None:
    """The SVG text of ``target``'s diagram (``max_nodes``, ``timeout`` and ``options`` as for
    ``render``), or None when the graphviz ``dot`` binary is not installed. ``graphc.viz``
    installs it as what ``_repr_svg_`` calls, so Jupyter draws a Graph, Tensor or Function
    inline."""
    if dot_binary() is None:  # nothing to draw with: no DOT to build, nothing to warn about
        check_budget(max_nodes, timeout)
        return None
    text, drawn = _fitted(target, max_nodes, timeout, options)
    try:
        return _pipe(text, "svg", timeout, drawn).decode("utf-8")
    except GraphvizNotFoundError:
        return None


def _fitted(target: Any, max_nodes: Any, timeout: Any, options: dict[str, Any]
            ) -> tuple[str, int]:
    """The DOT text within ``max_nodes`` (``fit_dot``) and what it draws; a warning when the
    diagram was over it."""
    from graphc.viz.dot import fit_dot

    check_budget(max_nodes, timeout)
    fit = fit_dot(target, max_nodes, **options)
    fold = bool(options.get("fold"))
    if max_nodes and fit.size > max_nodes and options.get("depth") is None:
        if fit.depth is not None:
            msg = (f"render: the diagram has {fit.size} nodes and clusters, more than "
                   f"max_nodes={max_nodes}: drawn with depth={fit.depth} ({fit.drawn}"
                   + (", still over it: fold=True may draw fewer"
                      if fit.drawn > max_nodes and not fold else "")
                   + "); pass depth= or max_nodes= to choose")
        else:
            msg = (f"render: the diagram has {fit.size} nodes and clusters, more than "
                   f"max_nodes={max_nodes}, and no module scopes to collapse: dot may take "
                   f"long (timeout={timeout})")
        warnings.warn(DiagramSizeWarning(msg, fit.size, max_nodes, fit.depth, fit.drawn, fold),
                      stacklevel=3)
    return fit.text, fit.drawn


def _pipe(text: str, fmt: str, timeout: float | None, drawn: int) -> bytes:
    """``text`` (DOT, ``drawn`` nodes and clusters) laid out and drawn by the ``dot`` binary
    as ``fmt``, stopped past ``timeout`` seconds."""
    dot = dot_binary()
    if dot is None:
        raise GraphvizNotFoundError(f"render: the graphviz 'dot' binary was not found on PATH: "
                                    f"{INSTALL_HINT}")
    try:
        r = subprocess.run([dot, f"-T{fmt}"], input=text.encode("utf-8"), capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"render: dot did not finish within {timeout:g} s on a diagram of {drawn} nodes and "
            "clusters; draw less of it: collapse modules with --depth N (depth=N), fold "
            "repeated blocks with --fold (fold=True), or allow more time with --timeout "
            "SECONDS (timeout=)") from None
    except OSError as e:
        raise GraphvizNotFoundError(f"render: the graphviz 'dot' binary could not be run "
                                    f"({e.strerror}): {INSTALL_HINT}") from None
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"render: dot failed on the generated DOT: {err}")
    return r.stdout
