"""The ``graphc`` command: draw, export and describe saved model files (``gc.save``).

    graphc render model.json -o model.svg [--grad] [--loss NAME] [--depth N] [--fold] [--legend]
                 [--stack] [--dpi N]
    graphc dot model.json [-o model.dot] [same drawing options]
    graphc info model.json

``--grad`` draws forward and backward: it differentiates the loss with ``gc.grad`` with respect
to every trainable param and marks each gradient as an output ``∂loss/∂<param>``. The loss is
the output named by ``--loss`` (default ``loss``); a model with exactly one output uses that
one when it has no output called ``loss``. Bad input gives a one-line message on stderr and
exit status 1 (2 for bad command-line usage).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="graphc",
        description="Draw, export and describe graphc model files (JSON written by gc.save).",
        epilog="--grad differentiates the output named by --loss (default: 'loss', or the only "
               "output) with respect to every trainable param.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{render,dot,info}")

    def drawing(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("model", help="model file written by gc.save")
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
    d = sub.add_parser("dot", help="print the DOT text of a model file",
                       description="Print (or write with -o) the DOT text of a model file.")
    drawing(d)
    d.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write the DOT text here instead of stdout")
    i = sub.add_parser("info", help="summarise a model file: inputs, outputs, params, ops",
                       description="Summarise a model file: inputs, outputs, params, op counts.")
    i.add_argument("model", help="model file written by gc.save")
    return p


def pick_loss(g: Any, name: str | None) -> Any:
    """The output to differentiate: ``name``, else ``loss``, else the only output."""
    outs = g.outputs
    if name is not None:
        if name not in outs:
            raise ValueError(f"--loss {name!r}: the model has no output {name!r} "
                             f"(outputs: {', '.join(map(repr, outs)) or 'none'})")
        return name, outs[name]
    if "loss" in outs:
        return "loss", outs["loss"]
    if len(outs) == 1:
        return next(iter(outs.items()))
    raise ValueError("--grad needs a loss: the model has no output named 'loss' "
                     f"(outputs: {', '.join(map(repr, outs)) or 'none'}); pass --loss NAME")


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
    """The ``graphc info`` report."""
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
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; raises on bad input (``main`` turns that into a message)."""
    from graphc.io import load
    from graphc.viz import render, to_dot

    args = _parser().parse_args(argv)
    g = load(args.model)
    if args.command == "info":
        print(info_text(g, args.model))
        return 0
    if args.depth is not None and args.depth < 0:
        raise ValueError(f"--depth must be >= 0, got {args.depth}")
    if args.grad:
        add_gradients(g, args.loss)
    elif args.loss is not None:
        raise ValueError("--loss only makes sense with --grad")
    opts = dict(depth=args.depth, fold=args.fold, legend=args.legend, stack=args.stack)
    if args.command == "render":
        render(g, args.output, dpi=args.dpi, **opts)
        print(f"wrote {args.output}")
    else:
        text = to_dot(g, **opts)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: exit status 0, or 1 with a one-line message on stderr."""
    try:
        return run(argv)
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, OSError) and e.filename is not None and e.strerror:
            msg = f"{e.filename}: {e.strerror}"
        print(f"graphc: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
