"""The ``graphc`` command: draw, export and describe saved model files (``gc.save``) and ONNX
models.

    graphc render model.json -o model.svg [--grad] [--loss NAME] [--depth N] [--fold] [--legend]
                 [--stack] [--dpi N] [--max-nodes N] [--timeout SECONDS]
    graphc dot model.json [-o model.dot] [same drawing options]
    graphc info model.json

A file whose name ends in ``.onnx`` is read with ``gc.onnx.load`` (``pip install
graphc[onnx]``): its nodes are drawn in clusters from the exporter's name scopes (torch's
``/encoder/layers.0/self_attn/...``), so ``--depth`` and ``--fold`` work as for graphc's own
files, and ``info`` also counts the ONNX op types.

``--grad`` draws forward and backward: it differentiates the loss with ``gc.grad`` with respect
to every trainable param and marks each gradient as an output ``∂loss/∂<param>``. The loss is
the output named by ``--loss`` (default ``loss``); a model with exactly one output uses that
one when it has no output called ``loss``. ``python -m graphc`` runs the same command.

``render`` draws within a budget: a diagram of more than ``--max-nodes`` nodes and clusters
(default 300) is drawn with modules collapsed to the deepest ``--depth`` that fits, and a
note on stderr says so; ``dot`` is stopped after ``--timeout`` seconds (default 60).

Errors are one line on stderr, ``graphc: error: ...`` (warnings ``graphc: warning: ...``),
with the control characters of names and paths escaped, as everywhere in graphc's output
(``shown``): exit status 2 for bad command-line usage
(an option out of range, ``--loss`` naming no scalar output, an output file graphc cannot
write), 1 for a model file that cannot be read or drawn. Output cut short by the reader
(``graphc info m.json | head``) ends quietly, with status 141 as for a process killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.viz.rendering import MAX_NODES, TIMEOUT

#: the exit status of a run whose reader went away (128 + SIGPIPE, as the shell reports it)
EXIT_BROKEN_PIPE = 141


#: C0 controls, DEL and C1 controls: what a terminal may act on (colours, titles, bells, a
#: carriage return that overwrites the line)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def shown(text: object, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal: each control character (C0, DEL, C1) written as Python
    writes it in a string literal (``\\x1b``, ``\\r``, ``\\n``). A model file's names reach the
    output only through here, so a file cannot colour, retitle or rewrite the terminal, nor
    forge a line of ``graphc info``; ``keep_newlines`` keeps the line breaks of a message."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(lambda m: _NAMED.get(m.group()) or f"\\x{ord(m.group()):02x}", str(text))


class UsageError(ValueError):
    """A bad command line (exit status 2): an option value or combination graphc cannot use."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with the control characters of its messages (which quote the command line)
    escaped."""

    def error(self, message: str) -> Any:
        return super().error(shown(message))


def _parser() -> argparse.ArgumentParser:
    p = _ArgumentParser(
        prog="graphc",
        description="Draw, export and describe graphc model files (JSON written by gc.save) "
                    "and ONNX models (.onnx).",
        epilog="--grad differentiates the output named by --loss (default: 'loss', or the only "
               "output) with respect to every trainable param.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{render,dot,info}")

    def drawing(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("model", help="model file written by gc.save, or an .onnx model")
        sp.add_argument("--grad", action="store_true",
                        help="add the backward half: gradients of the loss w.r.t. every "
                             "trainable param")
        sp.add_argument("--loss", metavar="NAME", default=None,
                        help="the output to differentiate with --grad (default: 'loss', or the "
                             "only output)")
        sp.add_argument("--depth", type=int, metavar="N", default=None,
                        help="collapse modules nested deeper than N into one box each")
        sp.add_argument("--fold", action="store_true",
                        help="fold runs of identical sibling blocks into one box marked ×N")
        sp.add_argument("--legend", action="store_true", help="add a key to the diagram")
        sp.add_argument("--stack", action="store_true",
                        help="draw the backward half below the forward one (gradients flowing "
                             "down; a narrower picture) instead of beside it")

    r = sub.add_parser("render", help="draw a model file to .svg, .png or .pdf (needs dot)",
                       description="Draw a model file; the format comes from the -o suffix.")
    drawing(r)
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file: .svg, .png or .pdf")
    r.add_argument("--dpi", type=int, metavar="N", default=None,
                   help="pixels per inch of a .png (default 96)")
    r.add_argument("--max-nodes", type=int, metavar="N", default=MAX_NODES,
                   help="past N nodes and clusters, collapse modules to the deepest --depth "
                        f"that fits, and say so (default {MAX_NODES}; 0: no limit)")
    r.add_argument("--timeout", type=float, metavar="SECONDS", default=TIMEOUT,
                   help=f"stop dot after SECONDS (default {TIMEOUT:g})")
    d = sub.add_parser("dot", help="print the DOT text of a model file",
                       description="Print (or write with -o) the DOT text of a model file.")
    drawing(d)
    d.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write the DOT text here instead of stdout")
    i = sub.add_parser("info", help="summarise a model file: inputs, outputs, params, ops",
                       description="Summarise a model file: inputs, outputs, params, op counts.")
    i.add_argument("model", help="model file written by gc.save, or an .onnx model")
    return p


def is_onnx(path: str) -> bool:
    """An ONNX model file, by its name."""
    return str(path).lower().endswith(".onnx")


def load_model(path: str) -> Any:
    """The Graph in ``path``: graphc's JSON (``gc.load``), or an ONNX model (``gc.onnx.load``,
    imported only here; a clear error when the ``onnx`` package is missing)."""
    if not is_onnx(path):
        from graphc.io import load

        return load(path)
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise ValueError(f"{path}: reading .onnx files needs the onnx package "
                         "(pip install graphc[onnx])")
    from graphc.onnx import load

    return load(path)


def pick_loss(g: Any, name: str | None) -> Any:
    """The output to differentiate: ``name``, else ``loss``, else the only output."""
    outs = g.outputs
    listed = ", ".join(map(repr, outs)) or "none"
    if name is not None:
        if name not in outs:
            raise UsageError(f"--loss {name!r}: the model has no output {name!r} "
                             f"(outputs: {listed})")
    elif "loss" in outs:
        name = "loss"
    elif len(outs) == 1:
        name = next(iter(outs))
    else:
        raise UsageError("--grad needs a loss: the model has no output named 'loss' "
                         f"(outputs: {listed}); pass --loss NAME")
    loss = outs[name]
    if loss.ndim != 0:
        scalars = ", ".join(repr(k) for k, t in outs.items() if t.ndim == 0) or "none"
        raise UsageError(f"--grad differentiates a scalar loss; the output {name!r} has shape "
                         f"{loss.shape} (scalar outputs: {scalars}); pass --loss NAME")
    return name, loss


def add_gradients(g: Any, loss_name: str | None = None) -> list[str]:
    """Differentiate the loss w.r.t. every trainable param; mark each gradient as an output
    ``∂<loss>/∂<param>``. Returns the new output names."""
    from graphc.autodiff import grad

    name, loss = pick_loss(g, loss_name)
    params = g.trainable
    if not params:
        raise ValueError("--grad: the model has no trainable params")
    grads = grad(loss, params)
    names = []
    for p, gt in zip(params, grads, strict=True):
        oname = f"∂{name}/∂{p.name}"
        g.output(oname, gt)
        names.append(oname)
    return names


def info_text(g: Any, source: str) -> str:
    """The ``graphc info`` report; every line passes through ``shown`` (names and the path are
    the file's and the user's: their control characters are escaped)."""
    nodes = g.nodes
    lines = [f"model {g.name!r} ({source}): {len(nodes)} nodes"]
    lines.append(f"inputs ({len(g.inputs)}):")
    lines += [f"  {k}  {t.shape} {t.dtype}" for k, t in g.inputs.items()]
    lines.append(f"outputs ({len(g.outputs)}):")
    lines += [f"  {k}  {t.shape} {t.dtype}  (node %{t.id})" for k, t in g.outputs.items()]
    sizes = {k: int(np.asarray(g.params[k]).size) for k in g.param_tensors}
    lines.append(f"params ({len(sizes)} tensors, {sum(sizes.values())} values):")
    for k, t in g.param_tensors.items():
        kind = "" if t.node.attr.get("trainable", True) else "  (state, not trainable)"
        lines.append(f"  {k}  {t.shape} {t.dtype}  {sizes[k]}{kind}")
    ops = Counter(n.op for n in nodes if n.role == "op")
    lines.append(f"ops ({sum(ops.values())}):")
    lines += [f"  {op:<16}{c}" for op, c in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))]
    consts = sum(1 for n in nodes if n.role == "constant")
    lines.append(f"constants: {consts}")
    if is_onnx(source):
        lines += _onnx_lines(g)
    return "\n".join(map(shown, lines))


def _onnx_lines(g: Any) -> list[str]:
    """What ``info`` adds for an ONNX model: its symbols, the params' bytes, and the ONNX op
    types it was imported from."""
    ends = [*g.inputs.values(), *g.outputs.values()]
    symbols = sorted({s for t in ends for s in t.shape.symbols})
    nbytes = sum(int(np.asarray(g.params[k]).nbytes) for k in g.param_tensors)
    lines = [f"symbols: {', '.join(symbols) or 'none'}", f"param bytes: {nbytes}"]
    onnx_ops = _onnx_op_counts(g.nodes)
    lines.append(f"onnx ops ({sum(onnx_ops.values())} nodes):")
    width = max([16, *(len(op) + 2 for op in onnx_ops)])
    lines += [f"  {op:<{width}}{c}"
              for op, c in sorted(onnx_ops.items(), key=lambda kv: (-kv[1], kv[0]))]
    return lines


def _onnx_op_counts(nodes: Sequence[Any]) -> Counter:
    """ONNX op type -> how many ONNX nodes of it a graph imported by ``gc.onnx.load`` holds
    (its nodes' ``onnx_op`` / ``onnx_node`` meta); empty for graphc's own graphs."""
    seen: dict[tuple, str] = {}
    for n in nodes:
        info = n.info
        op = info.get("onnx_op")
        if isinstance(op, str):
            seen.setdefault((info.get("onnx_node"), op, n.id if not info.get("onnx_node")
                             else None), op)
    return Counter(seen.values())


def check_args(args: argparse.Namespace) -> None:
    """The option values and combinations, checked before the model file is read."""
    from graphc.viz.rendering import output_format

    if args.command == "info":
        return
    if args.depth is not None and args.depth < 0:
        raise UsageError(f"--depth must be >= 0, got {args.depth}")
    if args.loss is not None and not args.grad:
        raise UsageError("--loss only makes sense with --grad")
    if args.command == "render":
        if args.max_nodes < 0:
            raise UsageError(f"--max-nodes must be >= 0 (0: no limit), got {args.max_nodes}")
        if not args.timeout > 0 or args.timeout == float("inf"):
            raise UsageError(f"--timeout must be a number of seconds > 0, got {args.timeout:g}")
        try:
            output_format(args.output, args.dpi)
        except ValueError as e:
            raise UsageError(str(e).removeprefix("render: ")) from None


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; raises on bad input (``main`` turns that into a message)."""
    from graphc.viz import render, to_dot

    args = _parser().parse_args(argv)
    check_args(args)
    g = load_model(args.model)
    if args.command == "info":
        print(info_text(g, args.model))
        return 0
    if args.grad:
        add_gradients(g, args.loss)
    opts = dict(depth=args.depth, fold=args.fold, legend=args.legend, stack=args.stack)
    if args.command == "render":
        render(g, args.output, dpi=args.dpi, max_nodes=args.max_nodes, timeout=args.timeout,
               **opts)
        print(f"wrote {shown(args.output)}")
    else:
        text = to_dot(g, **opts)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
    return 0


def error_message(e: BaseException) -> str:
    """``e`` as one line, its control characters escaped (``shown``). The ``at file:line`` that
    graphc's errors end with names the user's code that called graphc; here that is graphc's
    own entry point (the console script, runpy), so it is left out."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return shown(f"{e.filename}: {e.strerror}")
    first, *rest = shown(e, keep_newlines=True).split("\n")
    kept = [first] + [ln for ln in rest if not ln.strip().startswith("at ")]
    return " ".join(" ".join(kept).split()) or type(e).__name__


def warning_line(message: Warning | str) -> str:
    """A warning as the one line graphc prints: ``render``'s size warning as a note in the
    command line's terms, any other as ``graphc: warning: ...`` (escaped, as errors are)."""
    from graphc.viz.rendering import DiagramSizeWarning

    if isinstance(message, DiagramSizeWarning):
        if message.depth is None:
            return (f"graphc: note: {message.size} nodes and no modules to collapse; dot may "
                    "be slow (pass --timeout to choose how long it may take)")
        still = (f"; still {message.drawn}: --fold may draw fewer"
                 if message.drawn > message.max_nodes and not message.fold else "")
        return (f"graphc: note: {message.size} nodes; drawn with --depth {message.depth} "
                f"(pass --depth/--max-nodes to choose){still}")
    return f"graphc: warning: {error_message(Warning(str(message)))}"


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    print(warning_line(message), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: exit status 0; 2 for bad usage and 1 for bad input, with a
    one-line message on stderr; 141 when the reader of stdout went away."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # the reader stopped (| head): say nothing, and let nothing more reach the pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        print(f"graphc: error: {error_message(e)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
